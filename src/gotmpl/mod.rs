//! Go's `text/template`, complete enough to render Helm charts exactly as
//! Helm does: its own lexer, parser and evaluator over [`Value`]s, with Go's
//! builtins and Go's printing of values. Imports nothing else of sealer.
//!
//! ```text
//! text --lex--> items --parse--> Tree (one per template and `define`)
//!   Templates { trees, funcs } --execute(name, data)--> String
//! ```
//!
//! Options are Helm's: a missing map key is Go's zero value (`missingkey=zero`),
//! which prints as `<no value>`; Helm removes those from its output, and so
//! does [`Templates::execute`] when [`Templates::no_value_empty`] is set.

mod builtins;
mod exec;
pub mod format;
mod lex;
mod parse;
mod value;

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

pub use value::{Map, Object, Struct, Value};

/// What a function can reach besides its arguments: the engine, for Helm's
/// `include` and `tpl`.
pub trait Host {
    /// Executes the template `name` with `data` and returns its output.
    fn include(&mut self, name: &str, data: Value) -> Result<String, String>;
    /// Parses `text` as the template `name` (seeing every defined template;
    /// Helm names it after the file being rendered, so errors do too) and
    /// executes it with `data`.
    fn tpl(&mut self, name: &str, text: &str, data: Value) -> Result<String, String>;
}

/// A template function: Go's `func(args...) (Value, error)`; an `Err` stops
/// the execution with `error calling NAME: MSG`.
pub type Func = fn(&mut dyn Host, &[Value]) -> Result<Value, String>;

/// Functions by name (Go's `template.FuncMap`).
pub type FuncMap = HashMap<&'static str, Func>;

/// A template error, with Go's text (`template: NAME:LINE:COL: ...`).
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    /// The template the error is in.
    pub template: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 0-based byte column of an execution error, as Go counts it.
    pub col: usize,
    /// Go's message after the location (`executing "x" at <.Values.a>: ...`).
    pub msg: String,
    /// Whether it happened while executing (Go's `ExecError`), not parsing.
    pub exec: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: {}:{}", self.template, self.line)?;
        if self.exec {
            write!(f, ":{}", self.col)?;
        }
        write!(f, ": {}", self.msg)
    }
}

impl std::error::Error for Error {}

/// Limits that keep a hostile template from hanging or exhausting memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of template calls (`template`, `include`, `tpl`);
    /// Go stops at 100000, Helm's `include` at 1000.
    pub max_depth: usize,
    /// Largest output of one execution, in bytes.
    pub max_output: usize,
    /// Most evaluation steps of one execution.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 1000,
            max_output: 64 << 20,
            max_steps: 50_000_000,
        }
    }
}

/// A set of parsed templates that can call each other, with their functions.
#[derive(Clone)]
pub struct Templates {
    trees: HashMap<String, Rc<parse::Tree>>,
    funcs: Rc<FuncMap>,
    /// Removes `<no value>` from outputs, as Helm does.
    pub no_value_empty: bool,
    /// Bounds on each execution.
    pub limits: Limits,
}

impl Templates {
    /// An empty set whose templates may call Go's builtins and `funcs`.
    pub fn new(funcs: FuncMap) -> Templates {
        let mut all = builtins::builtins();
        all.extend(funcs);
        Templates {
            trees: HashMap::new(),
            funcs: Rc::new(all),
            no_value_empty: false,
            limits: Limits::default(),
        }
    }

    /// Parses `text` as the template `name`; its `define`s and `block`s are
    /// added too (replacing templates of the same name, as Go's
    /// `AddParseTree` does when the new one is not empty).
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let known = |f: &str| matches!(f, "and" | "or" | "call") || self.funcs.contains_key(f);
        let trees = parse::parse(name, text, &known)?;
        for (n, tree) in trees {
            if n != name && tree.is_empty() && self.trees.contains_key(&n) {
                continue;
            }
            self.trees.insert(n, Rc::new(tree));
        }
        Ok(())
    }

    /// Whether a template of that name is defined.
    pub fn has(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Executes the template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: Value) -> Result<String, Error> {
        let out = exec::execute(self, name, data)?;
        Ok(if self.no_value_empty {
            out.replace("<no value>", "")
        } else {
            out
        })
    }
}

/// A host without an engine, for tests of single functions: `include`
/// and `tpl` fail.
#[cfg(test)]
pub(crate) struct NoHost;

#[cfg(test)]
impl Host for NoHost {
    fn include(&mut self, name: &str, _: Value) -> Result<String, String> {
        Err(format!("no template {name}"))
    }

    fn tpl(&mut self, _: &str, _: &str, _: Value) -> Result<String, String> {
        Err("no engine".into())
    }
}

#[cfg(test)]
mod tests;
