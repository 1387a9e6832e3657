//! The parser of Go's text/template: tokens -> one [`Tree`] per template
//! (the text itself and each `define`/`block` in it), with Go's checks at
//! parse time (undefined functions and variables, `break` outside `range`,
//! non-executable pipeline stages) and Go's error texts.

use std::fmt;

use super::lex::{self, parse_number, Kind, Num, Token};
use super::Error;

/// A parsed template.
#[derive(Debug)]
pub struct Tree {
    /// Its name (`define "x"` gives `x`).
    pub name: String,
    /// The template text it was parsed from (errors name it).
    pub parse_name: String,
    /// Its nodes.
    pub root: Vec<Node>,
}

impl Tree {
    /// Go's IsEmptyTree: only whitespace text, no actions.
    pub fn is_empty(&self) -> bool {
        self.root
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
    }
}

/// Where a node is, for errors: `parse_name:line:col` and its text.
#[derive(Clone, Debug)]
pub struct At {
    /// 1-based line.
    pub line: usize,
    /// 0-based byte column, as Go's ErrorContext counts it.
    pub col: usize,
}

/// A node of a template's list.
#[derive(Debug)]
pub enum Node {
    /// Text, printed as is.
    Text(String),
    /// `{{ pipeline }}`.
    Action(Pipe),
    /// `{{if}}`.
    If(Branch),
    /// `{{with}}`.
    With(Branch),
    /// `{{range}}`.
    Range(Branch),
    /// `{{template "name" pipeline}}`.
    Template(String, Option<Pipe>, At),
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
}

/// The parts of if/with/range.
#[derive(Debug)]
pub struct Branch {
    /// The condition or the ranged value, with its declarations.
    pub pipe: Pipe,
    /// The body.
    pub list: Vec<Node>,
    /// The `else` part.
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline: optional declarations, then commands joined by `|`.
#[derive(Debug)]
pub struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`).
    pub decl: Vec<String>,
    /// Whether `=` (assign) rather than `:=`.
    pub assign: bool,
    /// The commands.
    pub cmds: Vec<Cmd>,
    /// Where.
    pub at: At,
}

/// One command: an operand and its arguments.
#[derive(Debug)]
pub struct Cmd {
    /// The operands.
    pub args: Vec<Arg>,
    /// Where.
    pub at: At,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.`.
    Dot,
    /// `nil`.
    Nil,
    /// `true`/`false`.
    Bool(bool),
    /// A number, with its text.
    Num(Num, String),
    /// A string constant.
    Str(String),
    /// `.A.B`.
    Field(Vec<String>, At),
    /// `$x.A.B`.
    Var(String, Vec<String>, At),
    /// `(pipeline).A.B`.
    Chain(Box<Arg>, Vec<String>, At),
    /// A function name.
    Ident(String, At),
    /// `(pipeline)`.
    Pipe(Box<Pipe>),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Dot => write!(f, "."),
            Arg::Nil => write!(f, "nil"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Num(_, text) => write!(f, "{text}"),
            Arg::Str(s) => write!(f, "{s:?}"),
            Arg::Field(parts, _) => parts.iter().try_for_each(|p| write!(f, ".{p}")),
            Arg::Var(v, parts, _) => {
                write!(f, "{v}")?;
                parts.iter().try_for_each(|p| write!(f, ".{p}"))
            }
            Arg::Chain(base, parts, _) => {
                match **base {
                    Arg::Pipe(_) => write!(f, "{base}")?,
                    _ => write!(f, "({base})")?,
                }
                parts.iter().try_for_each(|p| write!(f, ".{p}"))
            }
            Arg::Ident(name, _) => write!(f, "{name}"),
            Arg::Pipe(p) => write!(f, "({p})"),
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{}", self.decl.join(", "))?;
            write!(f, "{}", if self.assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Parses `text` (the template `name`) into its trees: `name`'s own first,
/// then each `define`/`block`.
pub fn parse(
    name: &str,
    text: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, Tree)>, Error> {
    let toks = lex::lex(name, text);
    let mut p = Parser {
        name,
        text,
        toks,
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        is_func,
        trees: Vec::new(),
    };
    let root = p.top()?;
    let mut out = vec![(
        name.to_string(),
        Tree {
            name: name.to_string(),
            parse_name: name.to_string(),
            root,
        },
    )];
    out.append(&mut p.trees);
    Ok(out)
}

/// How an item list ended.
enum End {
    End,
    Else,
}

struct Parser<'a> {
    name: &'a str,
    text: &'a str,
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    trees: Vec<(String, Tree)>,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn skip_space(&mut self) {
        while self.peek().kind == Kind::Space {
            self.i += 1;
        }
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn at(&self, tok: &Token) -> At {
        let before = &self.text[..tok.pos.min(self.text.len())];
        let col = match before.rfind('\n') {
            Some(nl) => tok.pos - nl - 1,
            None => tok.pos,
        };
        At {
            line: tok.line,
            col,
        }
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, Error> {
        let line = self.toks[self.i.saturating_sub(1).min(self.toks.len() - 1)].line;
        self.err_at(line, msg)
    }

    fn err_at<T>(&self, line: usize, msg: impl Into<String>) -> Result<T, Error> {
        Err(Error {
            template: self.name.to_string(),
            line,
            col: 0,
            msg: msg.into(),
            exec: false,
        })
    }

    fn describe(kind: &Kind) -> String {
        match kind {
            Kind::Text(_) => "text".into(),
            Kind::Left => "\"{{\"".into(),
            Kind::Right => "<right delim>".into(),
            Kind::Space => "space".into(),
            Kind::Field(f) => format!("<.{f}>"),
            Kind::Dot => "<.>".into(),
            Kind::Var(v) => format!("<{v}>"),
            Kind::Ident(i) => format!("<{i}>"),
            Kind::Str(s) => format!("{s:?}"),
            Kind::Number(n) => format!("{n:?}"),
            Kind::Char(c) => format!("{c}"),
            Kind::Bool(b) => format!("{b:?}"),
            Kind::Nil => "nil".into(),
            Kind::Pipe => "\"|\"".into(),
            Kind::LParen => "\"(\"".into(),
            Kind::RParen => "\")\"".into(),
            Kind::Assign => "\"=\"".into(),
            Kind::Declare => "\":=\"".into(),
            Kind::Comma => "\",\"".into(),
            Kind::Punct(c) => format!("{:?}", c.to_string()),
            Kind::Error(e) => e.clone(),
            Kind::Eof => "EOF".into(),
        }
    }

    fn unexpected<T>(&self, tok: &Token, context: &str) -> Result<T, Error> {
        if let Kind::Error(e) = &tok.kind {
            return self.err_at(tok.line, e.clone());
        }
        self.err(format!(
            "unexpected {} in {context}",
            Self::describe(&tok.kind)
        ))
    }

    /// The top level: text and actions, with `define`s split off.
    fn top(&mut self) -> Result<Vec<Node>, Error> {
        let mut root = Vec::new();
        loop {
            if self.peek().kind == Kind::Eof {
                return Ok(root);
            }
            if self.peek().kind == Kind::Left {
                let save = self.i;
                self.next();
                if matches!(&self.peek_non_space().kind, Kind::Ident(w) if w == "define") {
                    self.next();
                    self.definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                Item::End => return self.err("unexpected {{end}}"),
                Item::Else => return self.err("unexpected {{else}}"),
            }
        }
    }

    /// `{{define "name"}} ... {{end}}`, after `define`.
    fn definition(&mut self) -> Result<(), Error> {
        let tok = self.next_non_space();
        let Kind::Str(name) = tok.kind else {
            return self.unexpected(&tok, "define clause");
        };
        let close = self.next_non_space();
        if close.kind != Kind::Right {
            return self.unexpected(&close, "define clause");
        }
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, End::End) {
            return self.err(format!("unexpected {} in define clause", end_word(&end)));
        }
        self.add_tree(name, list);
        Ok(())
    }

    fn add_tree(&mut self, name: String, root: Vec<Node>) {
        let tree = Tree {
            name: name.clone(),
            parse_name: self.name.to_string(),
            root,
        };
        // A later definition of the same name replaces an earlier one
        // unless it is empty (Go's AddParseTree / IsEmptyTree).
        if let Some(i) = self.trees.iter().position(|(n, _)| *n == name) {
            if tree.is_empty() {
                return;
            }
            self.trees.remove(i);
        }
        self.trees.push((name, tree));
    }

    /// Nodes until `{{end}}`, `{{else}}` or the end of input.
    fn item_list(&mut self) -> Result<(Vec<Node>, End), Error> {
        let mut list = Vec::new();
        loop {
            match &self.peek().kind {
                Kind::Eof => return self.err_at(self.peek().line, "unexpected EOF"),
                Kind::Error(e) => return self.err_at(self.peek().line, e.clone()),
                _ => {}
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End => return Ok((list, End::End)),
                Item::Else => return Ok((list, End::Else)),
            }
        }
    }

    fn text_or_action(&mut self) -> Result<Item, Error> {
        let tok = self.next_non_space();
        match tok.kind {
            Kind::Text(t) => Ok(Item::Node(Node::Text(t))),
            Kind::Left => self.action(),
            _ => self.unexpected(&tok, "input"),
        }
    }

    fn action(&mut self) -> Result<Item, Error> {
        let tok = self.next_non_space();
        if let Kind::Ident(word) = &tok.kind {
            match word.as_str() {
                "block" => return self.block().map(Item::Node),
                "break" | "continue" => {
                    let close = self.next_non_space();
                    if close.kind != Kind::Right {
                        return self.unexpected(&close, &format!("{{{{{word}}}}}"));
                    }
                    if self.range_depth == 0 {
                        return self.err(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                    }
                    return Ok(Item::Node(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    }));
                }
                "else" => {
                    // `{{else if ...}}` / `{{else with ...}}`: leave the keyword.
                    let next = self.peek_non_space().clone();
                    match &next.kind {
                        Kind::Ident(w) if w == "if" || w == "with" => {}
                        Kind::Right => {
                            self.next();
                        }
                        _ => return self.unexpected(&next, "else"),
                    }
                    return Ok(Item::Else);
                }
                "end" => {
                    let close = self.next_non_space();
                    if close.kind != Kind::Right {
                        return self.unexpected(&close, "end");
                    }
                    return Ok(Item::End);
                }
                "if" => return self.control("if", true).map(|b| Item::Node(Node::If(b))),
                "range" => {
                    return self
                        .control("range", false)
                        .map(|b| Item::Node(Node::Range(b)))
                }
                "with" => {
                    return self
                        .control("with", true)
                        .map(|b| Item::Node(Node::With(b)))
                }
                "template" => return self.template("template").map(Item::Node),
                "define" => return self.err("unexpected <define> in command"),
                _ => {}
            }
        }
        self.i -= 1;
        let pipe = self.pipeline("command", &Kind::Right)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    /// if/with/range after the keyword; `else if`/`else with` chain.
    fn control(&mut self, context: &str, else_chain: bool) -> Result<Branch, Error> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, &Kind::Right)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = listed?;
        let else_list = match end {
            End::End => None,
            End::Else => {
                let chained = match &self.peek_non_space().kind {
                    Kind::Ident(w) if else_chain && (w == "if" || w == context) => Some(w.clone()),
                    _ => None,
                };
                if let Some(word) = chained {
                    self.next();
                    let inner = self.control(&word, true)?;
                    Some(vec![if word == "if" {
                        Node::If(inner)
                    } else {
                        Node::With(inner)
                    }])
                } else {
                    let (l, e) = self.item_list()?;
                    if !matches!(e, End::End) {
                        return self.err(format!("expected end; found {}", end_word(&e)));
                    }
                    Some(l)
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    /// `{{template "name" pipeline}}` after the keyword.
    fn template(&mut self, context: &str) -> Result<Node, Error> {
        let tok = self.next_non_space();
        let Kind::Str(name) = tok.kind.clone() else {
            return self.unexpected(&tok, &format!("{context} clause"));
        };
        let at = self.at(&tok);
        let pipe = if self.peek_non_space().kind != Kind::Right {
            Some(self.pipeline(context, &Kind::Right)?)
        } else {
            self.next();
            None
        };
        Ok(Node::Template(name, pipe, at))
    }

    /// `{{block "name" pipeline}} ... {{end}}`: a define and a call.
    fn block(&mut self) -> Result<Node, Error> {
        let tok = self.next_non_space();
        let Kind::Str(name) = tok.kind.clone() else {
            return self.unexpected(&tok, "block clause");
        };
        let at = self.at(&tok);
        let pipe = self.pipeline("block", &Kind::Right)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, End::End) {
            return self.err(format!("unexpected {} in block clause", end_word(&end)));
        }
        self.add_tree(name.clone(), list);
        Ok(Node::Template(name, Some(pipe), at))
    }

    fn pipeline(&mut self, context: &str, end: &Kind) -> Result<Pipe, Error> {
        let first = self.peek_non_space().clone();
        let mut pipe = Pipe {
            decl: Vec::new(),
            assign: false,
            cmds: Vec::new(),
            at: self.at(&first),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let tok = self.next_non_space();
            if &tok.kind == end {
                break;
            }
            match tok.kind {
                Kind::Bool(_)
                | Kind::Char(_)
                | Kind::Dot
                | Kind::Field(_)
                | Kind::Ident(_)
                | Kind::Number(_)
                | Kind::Nil
                | Kind::Str(_)
                | Kind::Var(_)
                | Kind::LParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&tok, context),
            }
        }
        if pipe.cmds.is_empty() {
            return self.err(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Num(..) | Arg::Str(_)
            ) {
                return self.err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(pipe)
    }

    /// `$x :=`, `$x =`, `$i, $v :=` at the start of a pipeline.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<(), Error> {
        loop {
            let save = self.i;
            let Kind::Var(v) = self.peek_non_space().kind.clone() else {
                return Ok(());
            };
            self.next();
            let next = self.peek_non_space().kind.clone();
            match next {
                Kind::Assign | Kind::Declare => {
                    self.next();
                    pipe.assign = next == Kind::Assign;
                    if pipe.assign && !self.vars.contains(&v) {
                        return self.err(format!("undefined variable {v:?}"));
                    }
                    pipe.decl.push(v.clone());
                    self.vars.push(v);
                    return Ok(());
                }
                Kind::Comma => {
                    self.next();
                    pipe.decl.push(v.clone());
                    self.vars.push(v);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Var(_) | Kind::Right | Kind::RParen => continue,
                            _ => return self.err("range can only initialize variables"),
                        }
                    }
                    return self.err(format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = save;
                    return Ok(());
                }
            }
        }
    }

    fn command(&mut self) -> Result<Cmd, Error> {
        let first = self.peek_non_space().clone();
        let mut cmd = Cmd {
            args: Vec::new(),
            at: self.at(&first),
        };
        loop {
            self.skip_space();
            let operand = self.operand()?;
            cmd.args.push(operand);
            let tok = self.next();
            match tok.kind {
                Kind::Space => {
                    let k = &self.peek().kind;
                    if matches!(k, Kind::Right | Kind::RParen) {
                        break;
                    }
                    if *k == Kind::Pipe {
                        self.next();
                        break;
                    }
                    continue;
                }
                Kind::Right | Kind::RParen => {
                    self.i -= 1;
                    break;
                }
                Kind::Pipe => break,
                _ => return self.unexpected(&tok, "operand"),
            }
        }
        if cmd.args.is_empty() {
            return self.err("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Arg, Error> {
        let term = self.term()?;
        if !matches!(self.peek().kind, Kind::Field(_)) {
            return Ok(term);
        }
        // Go places a chain (and a field or variable it lengthens) at its
        // first chained field.
        let at = self.at(&self.peek().clone());
        let mut fields = Vec::new();
        while let Kind::Field(f) = &self.peek().kind {
            fields.push(f.clone());
            self.next();
        }
        Ok(match term {
            Arg::Field(mut parts, _) => {
                parts.extend(fields);
                Arg::Field(parts, at)
            }
            Arg::Var(v, mut parts, _) => {
                parts.extend(fields);
                Arg::Var(v, parts, at)
            }
            Arg::Bool(_) | Arg::Str(_) | Arg::Num(..) | Arg::Nil | Arg::Dot => {
                return self.err(format!("unexpected . after term {:?}", term.to_string()))
            }
            other => Arg::Chain(Box::new(other), fields, at),
        })
    }

    fn term(&mut self) -> Result<Arg, Error> {
        let tok = self.next_non_space();
        let at = self.at(&tok);
        Ok(match tok.kind {
            Kind::Ident(name) => {
                if !(self.is_func)(&name) {
                    return self.err(format!("function {name:?} not defined"));
                }
                Arg::Ident(name, at)
            }
            Kind::Dot => Arg::Dot,
            Kind::Nil => Arg::Nil,
            Kind::Var(v) => {
                if !self.vars.contains(&v) {
                    return self.err(format!("undefined variable {v:?}"));
                }
                Arg::Var(v, Vec::new(), at)
            }
            Kind::Field(f) => Arg::Field(vec![f], at),
            Kind::Bool(b) => Arg::Bool(b),
            Kind::Char(c) => Arg::Num(Num::Int(c), format!("{c}")),
            Kind::Number(text) => match parse_number(&text) {
                Some(n) => Arg::Num(n, text),
                None => return self.err(format!("illegal number syntax: {text:?}")),
            },
            Kind::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Kind::RParen)?;
                Arg::Pipe(Box::new(pipe))
            }
            Kind::Str(s) => Arg::Str(s),
            _ => {
                self.i -= 1;
                return self.unexpected(&tok, "operand");
            }
        })
    }
}

enum Item {
    Node(Node),
    End,
    Else,
}

fn end_word(e: &End) -> &'static str {
    match e {
        End::End => "{{end}}",
        End::Else => "{{else}}",
    }
}
