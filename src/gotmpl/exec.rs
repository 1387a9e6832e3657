//! The evaluator of Go's text/template over [`Value`]s, with Helm's options
//! (`missingkey=zero`): walks a [`Tree`], evaluates pipelines, fields,
//! variables and function calls, and prints values as Go's template does.
//! Errors carry Go's text (`executing "NAME" at <CONTEXT>: ...`); depth,
//! steps and output are bounded by [`Limits`].

use std::collections::HashMap;
use std::rc::Rc;

use super::format::sprint_value;
use super::lex::Num;
use super::parse::{Arg, At, Branch, Cmd, Node, Pipe, Tree};
use super::{Error, Host, Limits, Templates, Value};

/// Executes the template `name` of `set` with `data` as dot.
pub fn execute(set: &Templates, name: &str, data: Value) -> Result<String, Error> {
    let tree = set.trees.get(name).cloned().ok_or_else(|| Error {
        template: name.to_string(),
        line: 0,
        col: 0,
        msg: format!("no template {name:?} associated with template {name:?}"),
        exec: true,
    })?;
    let mut budget = Budget {
        limits: set.limits,
        steps: 0,
        depth: 0,
        nested: HashMap::new(),
    };
    let mut out = String::new();
    let mut st = State {
        set,
        tree: tree.clone(),
        vars: vec![("$".into(), data.clone())],
        out: &mut out,
        budget: &mut budget,
    };
    st.walk(&data, &tree.root).map_err(Fail::into_error)?;
    Ok(out)
}

/// Counters shared by every nested execution of one `execute`.
struct Budget {
    limits: Limits,
    steps: u64,
    depth: usize,
    /// Helm's `include` nesting per template name.
    nested: HashMap<String, usize>,
}

/// Why a walk stopped early.
enum Fail {
    Error(Error),
    Break,
    Continue,
}

impl Fail {
    fn into_error(self) -> Error {
        match self {
            Fail::Error(e) => e,
            Fail::Break | Fail::Continue => Error {
                template: String::new(),
                line: 0,
                col: 0,
                msg: "break or continue outside range".into(),
                exec: true,
            },
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Error(e)
    }
}

type Res<T> = Result<T, Fail>;

struct State<'s> {
    set: &'s Templates,
    tree: Rc<Tree>,
    vars: Vec<(String, Value)>,
    out: &'s mut String,
    budget: &'s mut Budget,
}

impl State<'_> {
    fn error(&self, at: Option<&At>, context: &str, msg: String) -> Fail {
        let (line, col) = at.map_or((0, 0), |a| (a.line, a.col));
        Fail::Error(Error {
            template: self.tree.parse_name.clone(),
            line,
            col,
            msg: format!(
                "executing {:?} at <{}>: {msg}",
                self.tree.name,
                context.replace('%', "%%")
            ),
            exec: true,
        })
    }

    fn step(&mut self, at: Option<&At>, context: &dyn Fn() -> String) -> Res<()> {
        self.budget.steps += 1;
        if self.budget.steps > self.budget.limits.max_steps {
            let max = self.budget.limits.max_steps;
            return Err(self.error(at, &context(), format!("more than {max} evaluation steps")));
        }
        Ok(())
    }

    fn write(&mut self, s: &str, at: Option<&At>, context: &dyn Fn() -> String) -> Res<()> {
        if self.out.len() + s.len() > self.budget.limits.max_output {
            let max = self.budget.limits.max_output;
            return Err(self.error(at, &context(), format!("output larger than {max} bytes")));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Res<()> {
        for node in nodes {
            match node {
                Node::Text(t) => self.write(t, None, &|| String::new())?,
                Node::Action(pipe) => {
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let s = print_value(&v);
                        self.write(&s, Some(&pipe.at), &|| pipe.to_string())?;
                    }
                }
                Node::If(b) => self.branch(dot, b, false)?,
                Node::With(b) => self.branch(dot, b, true)?,
                Node::Range(b) => self.range(dot, b)?,
                Node::Template(name, pipe, at) => self.template(dot, name, pipe.as_ref(), at)?,
                Node::Break => return Err(Fail::Break),
                Node::Continue => return Err(Fail::Continue),
            }
        }
        Ok(())
    }

    fn branch(&mut self, dot: &Value, b: &Branch, with: bool) -> Res<()> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let r = if v.truth() {
            if with {
                self.walk(&v, &b.list)
            } else {
                self.walk(dot, &b.list)
            }
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e)
        } else {
            Ok(())
        };
        self.vars.truncate(mark);
        r
    }

    fn range(&mut self, dot: &Value, b: &Branch) -> Res<()> {
        let mark = self.vars.len();
        let mut v = self.pipeline(dot, &b.pipe)?;
        if let Value::Object(o) = &v {
            if matches!(o.kind(), "map" | "slice") {
                v = o.to_data();
            }
        }
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, x)| (Value::from(k.as_str()), x.clone()))
                .collect(),
            Value::Bytes(bs) => bs
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), Value::Int(i64::from(*x))))
                .collect(),
            Value::Int(n) if *n >= 0 => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil => Vec::new(),
            other => {
                let shown = print_value(other);
                return Err(self.error(
                    Some(&b.pipe.at),
                    &b.pipe.to_string(),
                    format!("range can't iterate over {shown}"),
                ));
            }
        };
        let body_mark = self.vars.len();
        let mut result = Ok(());
        for (index, elem) in &items {
            let n = self.vars.len();
            if !b.pipe.decl.is_empty() {
                self.vars[n - 1].1 = elem.clone();
            }
            if b.pipe.decl.len() > 1 {
                self.vars[n - 2].1 = index.clone();
            }
            let r = self.walk(elem, &b.list);
            self.vars.truncate(body_mark);
            match r {
                Ok(()) | Err(Fail::Continue) => {}
                Err(Fail::Break) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if items.is_empty() && result.is_ok() {
            if let Some(e) = &b.else_list {
                result = self.walk(dot, e);
            }
        }
        self.vars.truncate(mark);
        result
    }

    fn template(&mut self, dot: &Value, name: &str, pipe: Option<&Pipe>, at: &At) -> Res<()> {
        let context = || match pipe {
            Some(p) => format!("{{{{template {name:?} {p}}}}}"),
            None => format!("{{{{template {name:?}}}}}"),
        };
        let Some(tree) = self.set.trees.get(name).cloned() else {
            return Err(self.error(
                Some(at),
                &context(),
                format!("template {name:?} not defined"),
            ));
        };
        let data = match pipe {
            Some(p) => self.pipeline(dot, p)?,
            None => Value::Nil,
        };
        if self.budget.depth >= self.budget.limits.max_depth {
            let max = self.budget.limits.max_depth;
            return Err(self.error(
                Some(at),
                &context(),
                format!("exceeded maximum template depth ({max})"),
            ));
        }
        self.budget.depth += 1;
        let mut sub = State {
            set: self.set,
            tree: tree.clone(),
            vars: vec![("$".into(), data.clone())],
            out: &mut *self.out,
            budget: &mut *self.budget,
        };
        let r = sub.walk(&data, &tree.root);
        self.budget.depth -= 1;
        match r {
            Err(Fail::Break | Fail::Continue) => Ok(()),
            r => r,
        }
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Res<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => {
                        return Err(self.error(
                            Some(&pipe.at),
                            &pipe.to_string(),
                            format!("undefined variable: {name}"),
                        ))
                    }
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, last: Option<Value>) -> Res<Value> {
        self.step(Some(&cmd.at), &|| cmd.to_string())?;
        let (first, args) = cmd
            .args
            .split_first()
            .ok_or_else(|| self.error(Some(&cmd.at), "", "empty command".into()))?;
        match first {
            Arg::Field(parts, at) => {
                self.field_chain(dot, dot.clone(), parts, args, last, at, first)
            }
            Arg::Chain(base, parts, at) => {
                let receiver = self.arg(dot, base)?;
                self.field_chain(dot, receiver, parts, args, last, at, first)
            }
            Arg::Var(name, parts, at) => {
                let v = self.var(name, at)?;
                if parts.is_empty() {
                    self.not_a_function(cmd, args, &last)?;
                    return Ok(v);
                }
                self.field_chain(dot, v, parts, args, last, at, first)
            }
            Arg::Ident(name, at) => self.function(dot, name, at, cmd, args, last),
            Arg::Pipe(p) => {
                self.not_a_function(cmd, args, &last)?;
                self.pipeline(dot, p)
            }
            Arg::Nil => Err(self.error(
                Some(&cmd.at),
                &cmd.to_string(),
                "nil is not a command".into(),
            )),
            other => {
                self.not_a_function(cmd, args, &last)?;
                self.arg(dot, other)
            }
        }
    }

    fn not_a_function(&self, cmd: &Cmd, args: &[Arg], last: &Option<Value>) -> Res<()> {
        if !args.is_empty() || last.is_some() {
            return Err(self.error(
                Some(&cmd.at),
                &cmd.to_string(),
                format!("can't give argument to non-function {}", cmd.args[0]),
            ));
        }
        Ok(())
    }

    fn var(&self, name: &str, at: &At) -> Res<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.error(Some(at), name, format!("undefined variable: {name}"))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        parts: &[String],
        args: &[Arg],
        last: Option<Value>,
        at: &At,
        node: &Arg,
    ) -> Res<Value> {
        // An untyped nil (a missing value out of a pipeline or a variable)
        // has no fields, and Go gives nil for them without an error: the
        // `(.Values.a).b` idiom. A nil met inside the chain (`.a.b` with `a`
        // missing) is an error below.
        if receiver.is_nil() {
            return Ok(Value::Nil);
        }
        let n = parts.len();
        for (i, name) in parts.iter().enumerate() {
            if i + 1 < n {
                receiver = self.field(dot, &receiver, name, &[], None, at, node)?;
            } else {
                return self.field(dot, &receiver, name, args, last, at, node);
            }
        }
        Ok(receiver)
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        dot: &Value,
        receiver: &Value,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
        at: &At,
        node: &Arg,
    ) -> Res<Value> {
        let has_args = !args.is_empty() || last.is_some();
        match receiver {
            Value::Object(o) => {
                let mut vals = Vec::with_capacity(args.len() + 1);
                for a in args {
                    vals.push(self.arg(dot, a)?);
                }
                vals.extend(last);
                match o.member(name, &vals) {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(e)) => Err(self.error(
                        Some(at),
                        &node.to_string(),
                        format!("error calling {name}: {e}"),
                    )),
                    None => Err(self.error(
                        Some(at),
                        &node.to_string(),
                        format!("can't evaluate field {name} in type {}", o.type_name()),
                    )),
                }
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.error(
                        Some(at),
                        &node.to_string(),
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                Ok(m.borrow().get(name).cloned().unwrap_or(Value::Nil))
            }
            Value::Nil => Err(self.error(
                Some(at),
                &node.to_string(),
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            _ => Err(self.error(
                Some(at),
                &node.to_string(),
                format!("can't evaluate field {name} in type interface {{}}"),
            )),
        }
    }

    fn function(
        &mut self,
        dot: &Value,
        name: &str,
        at: &At,
        cmd: &Cmd,
        args: &[Arg],
        last: Option<Value>,
    ) -> Res<Value> {
        match name {
            "and" | "or" => {
                let or = name == "or";
                if args.is_empty() && last.is_none() {
                    return Err(self.error(
                        Some(&cmd.at),
                        &cmd.to_string(),
                        format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                let mut v = Value::Nil;
                for a in args {
                    v = self.arg(dot, a)?;
                    if v.truth() == or {
                        return Ok(v);
                    }
                }
                if let Some(l) = last {
                    v = l;
                }
                return Ok(v);
            }
            "call" => {
                return Err(self.error(
                    Some(&cmd.at),
                    &cmd.to_string(),
                    "error calling call: non-function of type <nil>".into(),
                ))
            }
            _ => {}
        }
        let Some(f) = self.set.funcs.get(name).copied() else {
            return Err(self.error(
                Some(at),
                name,
                format!("{name:?} is not a defined function"),
            ));
        };
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(last);
        f(self, &vals).map_err(|e| {
            self.error(
                Some(&cmd.at),
                &cmd.to_string(),
                format!("error calling {name}: {e}"),
            )
        })
    }

    fn arg(&mut self, dot: &Value, arg: &Arg) -> Res<Value> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Num(Num::Int(i), _) => Value::Int(*i),
            Arg::Num(Num::Float(f), _) => Value::Float(*f),
            Arg::Str(s) => Value::from(s.as_str()),
            Arg::Field(parts, at) => {
                self.field_chain(dot, dot.clone(), parts, &[], None, at, arg)?
            }
            Arg::Var(name, parts, at) => {
                let v = self.var(name, at)?;
                self.field_chain(dot, v, parts, &[], None, at, arg)?
            }
            Arg::Chain(base, parts, at) => {
                let v = self.arg(dot, base)?;
                self.field_chain(dot, v, parts, &[], None, at, arg)?
            }
            Arg::Ident(name, at) => {
                let cmd = Cmd {
                    args: Vec::new(),
                    at: at.clone(),
                };
                self.function(dot, name, at, &cmd, &[], None)?
            }
            Arg::Pipe(p) => self.pipeline(dot, p)?,
        })
    }

    /// Runs `tree` with `data` into a fresh buffer, one level deeper.
    fn run_nested(
        &mut self,
        set: &Templates,
        tree: Rc<Tree>,
        data: Value,
    ) -> Result<String, String> {
        if self.budget.depth >= self.budget.limits.max_depth {
            return Err(format!(
                "exceeded maximum template depth ({})",
                self.budget.limits.max_depth
            ));
        }
        self.budget.depth += 1;
        let mut out = String::new();
        let r = {
            let mut sub = State {
                set,
                tree: tree.clone(),
                vars: vec![("$".into(), data.clone())],
                out: &mut out,
                budget: &mut *self.budget,
            };
            sub.walk(&data, &tree.root)
        };
        self.budget.depth -= 1;
        match r {
            Ok(()) | Err(Fail::Break | Fail::Continue) => Ok(out),
            Err(Fail::Error(e)) => Err(e.to_string()),
        }
    }
}

impl Host for State<'_> {
    fn include(&mut self, name: &str, data: Value) -> Result<String, String> {
        let Some(tree) = self.set.trees.get(name).cloned() else {
            return Err(format!(
                "template: no template {name:?} associated with template \"gotpl\""
            ));
        };
        let count = self.budget.nested.entry(name.to_string()).or_insert(0);
        if *count > self.budget.limits.max_depth {
            return Err(format!(
                "rendering template has a nested reference name: {name}: unable to execute template"
            ));
        }
        *count += 1;
        let r = self.run_nested(self.set, tree, data);
        if let Some(c) = self.budget.nested.get_mut(name) {
            *c -= 1;
        }
        r
    }

    fn tpl(&mut self, name: &str, text: &str, data: Value) -> Result<String, String> {
        let mut set = self.set.clone();
        set.parse(name, text)
            .map_err(|e| format!("error during tpl function execution for {text:?}: {e}"))?;
        let tree = set
            .trees
            .get(name)
            .cloned()
            .ok_or_else(|| format!("cannot parse template {text:?}"))?;
        let out = self
            .run_nested(&set, tree, data)
            .map_err(|e| format!("error during tpl function execution for {text:?}: {e}"))?;
        Ok(out.replace("<no value>", ""))
    }
}

/// How an action prints a value: nil as `<no value>`, the rest as `%v`.
fn print_value(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".into(),
        Value::Str(s) => s.to_string(),
        Value::Object(o) => o.print(),
        v => sprint_value(v),
    }
}
