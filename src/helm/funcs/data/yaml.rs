//! Helm's `toYaml`: sigs.k8s.io/yaml's Marshal, which writes the value as
//! JSON, reads the JSON back with gopkg.in/yaml.v2 (so integral numbers
//! become ints and keys sort naturally) and writes that with yaml.v2's
//! emitter (a port of libyaml's): block style, two-space indentation,
//! sequences in mappings not indented, lines folded past column 80.
//!
//! ```text
//! a:                 <- keys in yaml.v2 order
//! - x                <- "- " at the key's column
//! b: "yes"           <- strings that read back as non-strings: "double"
//! c: '- x'           <- strings that cannot be plain: 'single'
//! d: |-              <- multi-line strings: literal, chomping hint
//!   line 1
//!   line 2
//! e: {}              <- empty mappings and sequences in flow style
//! ```

use base64::Engine;

use super::json::{format_g, json_float};
use super::resolve::{is_base60_float, key_order, resolve, Resolved};
use crate::gotmpl::Value;

/// The value as yaml.v2 holds it after reading JSON.
enum Node {
    /// A scalar's text, and whether it is a string (which may need quotes).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// Deepest nesting converted (our maps can contain themselves).
const MAX_DEPTH: usize = 10_000;

fn to_node(v: &Value, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    Ok(match v {
        Value::Nil => Node::Scalar("null".into(), false),
        Value::Bool(b) => Node::Scalar(b.to_string(), false),
        Value::Int(i) => Node::Scalar(i.to_string(), false),
        Value::Float(f) => {
            let json = json_float(*f)?;
            let text = match resolve(&json) {
                Resolved::Int(i) => i,
                Resolved::Float(f) => format_g(f),
                _ => json,
            };
            Node::Scalar(text, false)
        }
        Value::Str(s) => Node::Scalar(s.to_string(), true),
        Value::Bytes(b) => Node::Scalar(base64::engine::general_purpose::STANDARD.encode(b), true),
        Value::List(l) => Node::Seq(
            l.iter()
                .map(|x| to_node(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            let mut entries = m
                .borrow()
                .iter()
                .map(|(k, x)| Ok((k.clone(), to_node(x, depth + 1)?)))
                .collect::<Result<Vec<_>, String>>()?;
            entries.sort_by(|(a, _), (b, _)| key_order(a, b));
            Node::Map(entries)
        }
        Value::Object(o) => to_node(&o.to_data(), depth + 1)?,
    })
}

/// sigs.k8s.io/yaml's Marshal of `v` (with its final newline), or the error.
pub fn marshal(v: &Value) -> Result<String, String> {
    let node = to_node(v, 0).map_err(|e| format!("error marshaling into JSON: {e}"))?;
    let mut e = Emitter::default();
    e.node(&node, Ctx::default());
    e.write_indent();
    Ok(e.out)
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    sequence: bool,
    mapping: bool,
    simple_key: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// libyaml's analysis of a scalar: which styles can show it.
#[derive(Default)]
struct Analysis {
    multiline: bool,
    block_plain: bool,
    single_quoted: bool,
    block: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain: true,
            single_quoted: true,
            block: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_ind = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break, mut preceded_by_ws) = (false, false, true);
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = i + 1 >= n || is_blank(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_by_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_ind = true,
                '#' if preceded_by_ws => block_ind = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i + 1 == n;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i + 1 == n;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain: true,
        single_quoted: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single_quoted = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single_quoted = false;
        a.block = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

/// The style yaml.v2 asks for (its stringv), then libyaml's choice.
fn select_style(text: &str, is_str: bool, a: &Analysis, simple_key: bool) -> Style {
    let mut style = if !is_str {
        Style::Plain
    } else if text.contains('\n') {
        Style::Literal
    } else if resolve(text) == Resolved::Str && !is_base60_float(text) {
        Style::Plain
    } else {
        Style::Double
    };
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain || (text.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block || simple_key) {
        style = Style::Double;
    }
    style
}

const BEST_INDENT: i32 = 2;
const BEST_WIDTH: usize = 80;

/// libyaml's emitter state, for block output of one document.
struct Emitter {
    out: String,
    column: usize,
    indent: i32,
    indents: Vec<i32>,
    whitespace: bool,
    indention: bool,
}

impl Default for Emitter {
    fn default() -> Emitter {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            indents: Vec::new(),
            whitespace: true,
            indention: true,
        }
    }
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.put(c);
            self.column = 0;
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        ind.chars().for_each(|c| self.put(c));
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, node: &Node, ctx: Ctx) {
        match node {
            Node::Scalar(text, is_str) => self.scalar(text, *is_str, ctx),
            Node::Seq(items) if items.is_empty() => self.empty_flow("[", "]"),
            Node::Map(entries) if entries.is_empty() => self.empty_flow("{", "}"),
            Node::Seq(items) => {
                self.increase_indent(false, ctx.mapping && !self.indention);
                for item in items {
                    self.write_indent();
                    self.indicator("-", true, false, true);
                    let item_ctx = Ctx {
                        sequence: true,
                        ..Ctx::default()
                    };
                    self.node(item, item_ctx);
                }
                self.pop_indent();
            }
            Node::Map(entries) => {
                self.increase_indent(false, false);
                for (key, value) in entries {
                    self.write_indent();
                    self.map_entry(key, value);
                }
                self.pop_indent();
            }
        }
    }

    fn map_entry(&mut self, key: &str, value: &Node) {
        let mapping = Ctx {
            mapping: true,
            ..Ctx::default()
        };
        let simple = !analyze(key).multiline && key.len() <= 128;
        if simple {
            let key_ctx = Ctx {
                simple_key: true,
                ..mapping
            };
            self.scalar(key, true, key_ctx);
            self.indicator(":", false, false, false);
        } else {
            self.indicator("?", true, false, true);
            self.scalar(key, true, mapping);
            self.write_indent();
            self.indicator(":", true, false, true);
        }
        self.node(value, mapping);
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.pop_indent();
        self.indicator(close, false, false, false);
    }

    fn scalar(&mut self, text: &str, is_str: bool, ctx: Ctx) {
        let _ = ctx.sequence;
        let a = analyze(text);
        let style = select_style(text, is_str, &a, ctx.simple_key);
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.plain(text, allow_breaks),
            Style::Single => self.single_quoted(text, allow_breaks),
            Style::Double => self.double_quoted(text, allow_breaks),
            Style::Literal => self.literal(text),
        }
        self.pop_indent();
    }

    fn plain(&mut self, text: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn single_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        let mut spaces = false;
        let last = text.len().saturating_sub(1);
        let bytes = text.as_bytes();
        for (i, c) in text.char_indices() {
            if c == ' ' {
                let next_space = bytes.get(i + 1) == Some(&b' ');
                let fold = allow_breaks && !spaces && self.column > BEST_WIDTH;
                if fold && i > 0 && i < last && !next_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn escape(&mut self, c: char) {
        self.put('\\');
        let short = match c {
            '\0' => Some('0'),
            '\u{7}' => Some('a'),
            '\u{8}' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\u{b}' => Some('v'),
            '\u{c}' => Some('f'),
            '\r' => Some('r'),
            '\u{1b}' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{a0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        if let Some(s) = short {
            self.put(s);
            return;
        }
        let v = c as u32;
        let (letter, width) = match v {
            0..=0xff => ('x', 2),
            0x100..=0xffff => ('u', 4),
            _ => ('U', 8),
        };
        self.put(letter);
        for d in format!("{v:0width$X}").chars() {
            self.put(d);
        }
    }

    fn double_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let mut spaces = false;
        let last = text.len().saturating_sub(1);
        let bytes = text.as_bytes();
        for (i, c) in text.char_indices() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.escape(c);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i < last {
                    self.write_indent();
                    if bytes.get(i + 1) == Some(&b' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// The `|` header: an indentation hint when the text starts with a
    /// space or break, `-` without a final break, `+` with several.
    fn block_hints(&mut self, text: &str) {
        let first = text.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let mut rev = text.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (None, _) => Some("-"),
            (Some(l), _) if !is_break(l) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(p)) if is_break(p) => Some("+"),
            _ => None,
        };
        if let Some(c) = chomp {
            self.indicator(c, false, false, false);
        }
    }

    fn literal(&mut self, text: &str) {
        self.indicator("|", true, false, false);
        self.block_hints(text);
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in text.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}
