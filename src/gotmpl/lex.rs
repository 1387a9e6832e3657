//! The lexer of Go's text/template: text and `{{ }}` actions with their
//! trim markers (`{{- ` and ` -}}`), comments, and the tokens inside actions.
//! Spaces inside an action are tokens too: `.a .b` is two operands,
//! `.a.b` one field chain, `(x).a` a chain on a parenthesised pipeline.

use super::Error;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Plain text outside actions (already trimmed by markers).
    Text(String),
    /// `{{` (with or without its trim marker).
    Left,
    /// `}}`.
    Right,
    /// A run of spaces inside an action.
    Space,
    /// `.Name`: one field step.
    Field(String),
    /// `.` alone.
    Dot,
    /// `$` or `$name`.
    Var(String),
    /// A function name or keyword.
    Ident(String),
    /// A quoted or raw string, unquoted.
    Str(String),
    /// A number as written.
    Number(String),
    /// A character constant: its code point.
    Char(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `|`.
    Pipe,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `=`.
    Assign,
    /// `:=`.
    Declare,
    /// `,`.
    Comma,
    /// Another printable ASCII character (Go's itemChar): the parser says
    /// it is unexpected where it stands.
    Punct(char),
    /// A lexical error, met by the parser where it stands (as Go's lexer
    /// runs ahead of its parser only as far as the parser reads).
    Error(String),
    /// End of input.
    Eof,
}

/// A token with its byte offset and 1-based line.
#[derive(Clone, Debug)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Byte offset in the template text.
    pub pos: usize,
    /// 1-based line of its start.
    pub line: usize,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Lexes a whole template; a lexical error ends the tokens with an
/// [`Kind::Error`] token where it happened.
pub fn lex(name: &str, text: &str) -> Vec<Token> {
    let mut lx = Lexer {
        name,
        src: text,
        pos: 0,
        out: Vec::new(),
        paren: 0,
    };
    if let Err(e) = lx.run() {
        let pos = lx.pos.min(text.len());
        lx.out.push(Token {
            kind: Kind::Error(e.msg),
            pos,
            line: e.line,
        });
        lx.push(Kind::Eof, text.len());
    }
    lx.out
}

struct Lexer<'a> {
    name: &'a str,
    src: &'a str,
    pos: usize,
    out: Vec<Token>,
    paren: usize,
}

impl Lexer<'_> {
    fn line_at(&self, pos: usize) -> usize {
        1 + self.src.as_bytes()[..pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn err(&self, pos: usize, msg: String) -> Error {
        Error {
            template: self.name.to_string(),
            line: self.line_at(pos.min(self.src.len())),
            col: 0,
            msg,
            exec: false,
        }
    }

    fn push(&mut self, kind: Kind, pos: usize) {
        let line = match self.out.last() {
            Some(t) if t.pos <= pos => {
                t.line
                    + self.src.as_bytes()[t.pos..pos]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
            }
            _ => self.line_at(pos),
        };
        self.out.push(Token { kind, pos, line });
    }

    fn run(&mut self) -> Result<(), Error> {
        let bytes = self.src.as_bytes();
        let mut trim_next = false;
        loop {
            let start = self.pos;
            let found = self.src[start..].find(LEFT).map(|i| start + i);
            let end = found.unwrap_or(self.src.len());
            let mut text = &self.src[start..end];
            let mut text_pos = start;
            if trim_next {
                let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
                text_pos += text.len() - trimmed.len();
                text = trimmed;
            }
            let Some(at) = found else {
                if !text.is_empty() {
                    self.push(Kind::Text(text.to_string()), text_pos);
                }
                self.push(Kind::Eof, self.src.len());
                return Ok(());
            };
            let after = at + LEFT.len();
            let left_trim = bytes.get(after) == Some(&b'-')
                && bytes.get(after + 1).is_some_and(|&c| is_space(c));
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.push(Kind::Text(text.to_string()), text_pos);
            }
            self.pos = if left_trim { after + 2 } else { after };
            trim_next = self.action(at)?;
        }
    }

    /// Lexes one action from after `{{`; returns whether it ended with a
    /// right trim marker.
    fn action(&mut self, left_at: usize) -> Result<bool, Error> {
        let bytes = self.src.as_bytes();
        // A comment: `{{/* ... */}}`, spaces only allowed with trim markers.
        let mut p = self.pos;
        while p < bytes.len() && is_space(bytes[p]) && p > left_at + 2 {
            p += 1;
        }
        if self.src[p..].starts_with("/*") {
            let close = self.src[p + 2..]
                .find("*/")
                .ok_or_else(|| self.err(left_at, "unclosed comment".into()))?;
            let mut q = p + 2 + close + 2;
            let mut trim = false;
            if bytes.get(q).is_some_and(|&c| is_space(c)) && bytes.get(q + 1) == Some(&b'-') {
                trim = true;
                q += 2;
            }
            if !self.src[q..].starts_with(RIGHT) {
                return Err(self.err(q, "comment ends before closing delimiter".into()));
            }
            self.pos = q + RIGHT.len();
            return Ok(trim);
        }
        self.push(Kind::Left, left_at);
        self.paren = 0;
        loop {
            let rest = &self.src[self.pos..];
            if rest.starts_with(RIGHT) {
                if self.paren > 0 {
                    return Err(self.err(self.pos, "unclosed left paren".into()));
                }
                self.push(Kind::Right, self.pos);
                self.pos += RIGHT.len();
                return Ok(false);
            }
            let Some(c) = rest.chars().next() else {
                return Err(self.err(left_at, "unclosed action".into()));
            };
            let start = self.pos;
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    let n = rest.bytes().take_while(|&b| is_space(b)).count();
                    // ` -}}`: the last space and a dash before `}}` trim
                    // the text after the action.
                    if rest[n..].starts_with("-}}") {
                        if self.paren > 0 {
                            return Err(self.err(self.pos, "unclosed left paren".into()));
                        }
                        if n > 1 {
                            self.push(Kind::Space, start);
                        }
                        self.push(Kind::Right, start + n);
                        self.pos = start + n + 1 + RIGHT.len();
                        return Ok(true);
                    }
                    self.push(Kind::Space, start);
                    self.pos += n;
                }
                '=' => self.one(Kind::Assign),
                ':' => {
                    if !rest.starts_with(":=") {
                        return Err(self.err(start, "expected :=".into()));
                    }
                    self.push(Kind::Declare, start);
                    self.pos += 2;
                }
                '|' => self.one(Kind::Pipe),
                ',' => self.one(Kind::Comma),
                '(' => {
                    self.paren += 1;
                    self.one(Kind::LParen)
                }
                ')' => {
                    if self.paren == 0 {
                        return Err(self.err(start, "unexpected right paren U+0029 ')'".into()));
                    }
                    self.paren -= 1;
                    self.one(Kind::RParen)
                }
                '"' => self.quoted()?,
                '`' => {
                    let close = rest[1..]
                        .find('`')
                        .ok_or_else(|| self.err(start, "unterminated raw quoted string".into()))?;
                    self.push(Kind::Str(rest[1..1 + close].replace('\r', "")), start);
                    self.pos += close + 2;
                }
                '\'' => self.char_constant()?,
                '$' => {
                    let n = 1 + rest[1..]
                        .chars()
                        .take_while(|&c| is_alnum(c))
                        .map(char::len_utf8)
                        .sum::<usize>();
                    self.push(Kind::Var(rest[..n].to_string()), start);
                    self.pos += n;
                    self.check_terminator()?;
                }
                '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    let n: usize = rest[1..]
                        .chars()
                        .take_while(|&c| is_alnum(c))
                        .map(char::len_utf8)
                        .sum();
                    if n == 0 {
                        self.push(Kind::Dot, start);
                        self.pos += 1;
                    } else {
                        self.push(Kind::Field(rest[1..1 + n].to_string()), start);
                        self.pos += 1 + n;
                    }
                    self.check_terminator()?;
                }
                '+' | '-' | '.' | '0'..='9' => self.number()?,
                c if is_alnum(c) => {
                    let n: usize = rest
                        .chars()
                        .take_while(|&c| is_alnum(c))
                        .map(char::len_utf8)
                        .sum();
                    let word = &rest[..n];
                    let kind = match word {
                        "true" => Kind::Bool(true),
                        "false" => Kind::Bool(false),
                        "nil" => Kind::Nil,
                        _ => Kind::Ident(word.to_string()),
                    };
                    self.push(kind, start);
                    self.pos += n;
                    self.check_terminator()?;
                }
                c if c.is_ascii_graphic() => self.one(Kind::Punct(c)),
                c => {
                    return Err(self.err(
                        start,
                        format!("unrecognized character in action: {}", go_char(c)),
                    ));
                }
            }
        }
    }

    fn one(&mut self, kind: Kind) {
        self.push(kind, self.pos);
        self.pos += 1;
    }

    /// After a word: space, end, or punctuation (Go's atTerminator).
    fn check_terminator(&self) -> Result<(), Error> {
        let rest = &self.src[self.pos..];
        match rest.chars().next() {
            None => Ok(()),
            Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(') => Ok(()),
            Some(_) if rest.starts_with(RIGHT) => Ok(()),
            Some(c) => Err(self.err(self.pos, format!("bad character {}", go_char(c)))),
        }
    }

    /// The end (offset of the closing quote) of a quoted string or
    /// character constant starting at `start`, backslash escapes skipped.
    fn closing(&self, start: usize, quote: u8, what: &str) -> Result<usize, Error> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None | Some(b'\n') => return Err(self.err(start, format!("unterminated {what}"))),
                Some(b'\\') => i += 2,
                Some(&c) if c == quote => return Ok(i),
                Some(_) => i += 1,
            }
        }
    }

    fn quoted(&mut self) -> Result<(), Error> {
        let start = self.pos;
        let i = self.closing(start, b'"', "quoted string")?;
        let s = unquote(&self.src[start + 1..i]).map_err(|e| self.err(start, e))?;
        self.push(Kind::Str(s), start);
        self.pos = i + 1;
        Ok(())
    }

    fn char_constant(&mut self) -> Result<(), Error> {
        let start = self.pos;
        let i = self.closing(start, b'\'', "character constant")?;
        let s = unquote(&self.src[start + 1..i]).map_err(|e| self.err(start, e))?;
        let mut cs = s.chars();
        let (Some(c), None) = (cs.next(), cs.next()) else {
            return Err(self.err(
                start,
                format!("malformed character constant: {}", &self.src[start..=i]),
            ));
        };
        self.push(Kind::Char(c as i64), start);
        self.pos = i + 1;
        Ok(())
    }

    fn number(&mut self) -> Result<(), Error> {
        let start = self.pos;
        let rest = &self.src[start..];
        let n = scan_number(rest);
        let text = &rest[..n];
        if parse_number(text).is_none() {
            return Err(self.err(start, format!("bad number syntax: {text:?}")));
        }
        self.push(Kind::Number(text.to_string()), start);
        self.pos += n;
        self.check_terminator()
    }
}

/// The length of the number at the start of `s` (Go's scanNumber).
fn scan_number(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let hex = b.len() > i + 1 && b[i] == b'0' && matches!(b[i + 1], b'x' | b'X');
    let exp: &[u8] = if hex { b"pP" } else { b"eE" };
    while i < b.len() {
        let c = b[i];
        if exp.contains(&c) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
        } else if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// A number constant: an int where Go's template takes one, else a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// An integer constant.
    Int(i64),
    /// A floating-point constant.
    Float(f64),
}

/// Parses a Go number literal as a template constant (Go's idealConstant:
/// a float when it has `.`, `e` or `p` and is not a hex integer).
pub fn parse_number(text: &str) -> Option<Num> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') {
            let f = hex_float(h)?;
            return Some(Num::Float(if neg { -f } else { f }));
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Num::Int(if neg { -i } else { i }));
    }
    if lower.starts_with("0x") || !lower.bytes().next()?.is_ascii_digit() && !lower.starts_with('.')
    {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        // An integer too large for int64: Go takes it as a float constant
        // only when written as one.
        return None;
    }
    Some(Num::Float(if neg { -f } else { f }))
}

/// A hexadecimal float's value after `0x` (`1p60`, `1.8p1`): the mantissa
/// in hex, the binary exponent after `p` (required, as in Go).
fn hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = h.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's strconv.Unquote of a double-quoted string's inside.
pub fn unquote(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or("invalid syntax")?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| "invalid syntax")?;
                if e == 'x' {
                    // A byte; text/template strings are UTF-8 in practice.
                    out.push(char::from_u32(v).ok_or("invalid syntax")?);
                } else {
                    out.push(char::from_u32(v).ok_or("invalid syntax")?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or("invalid syntax")?;
                    v = v * 8 + d;
                }
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(out)
}

/// Go's `%#U` of a character, as its lexer errors print it.
fn go_char(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c)
}
