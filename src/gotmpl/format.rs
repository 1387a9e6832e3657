//! Go's fmt for template values: `%v` of one value ([`sprint_value`]),
//! fmt.Sprint, fmt.Sprintln and fmt.Sprintf with Go's verbs, flags, widths,
//! precisions, argument indexes and error forms (`%!d(string=x)`,
//! `%!(EXTRA int=1)`, `%!s(MISSING)`). Floats are laid out by
//! [`float`] as strconv does, quoting by [`quote`] as strconv does.

mod float;
mod printf;
mod quote;
#[cfg(test)]
mod tests;

pub use float::format_float;
pub use quote::{can_backquote, is_print, quote, quote_ascii, quote_rune};

use super::Value;

/// `%v` of one value, as fmt.Sprint prints it.
pub fn sprint_value(v: &Value) -> String {
    let mut p = Printer::default();
    p.print_arg(v, 'v');
    p.buf
}

/// fmt.Sprint: operands printed with `%v`, a space between two operands
/// when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// fmt.Sprintln: operands printed with `%v`, always separated by a space,
/// and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// fmt.Sprintf.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.buf
}

/// Go's fmt flags of one verb.
#[derive(Clone, Copy, Default)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: usize,
    wid_present: bool,
    prec: usize,
    prec_present: bool,
}

/// Go's fmt.pp: the output and the flags of the verb being printed.
#[derive(Default)]
struct Printer {
    buf: String,
    f: Flags,
    /// Whether the format used an explicit argument index.
    reordered: bool,
    /// Whether the last argument index was valid.
    good_arg_num: bool,
}

const LDIGITS: &[u8] = b"0123456789abcdefx";
const UDIGITS: &[u8] = b"0123456789ABCDEFX";

impl Printer {
    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Writes `s` padded to the width (Go's fmt.pad).
    fn pad(&mut self, s: &str) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.push_str(s);
            return;
        }
        let width = self.f.wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(width);
        } else {
            self.write_padding(width);
            self.buf.push_str(s);
        }
    }

    /// Go's printArg: one operand of a verb.
    fn print_arg(&mut self, v: &Value, verb: char) {
        if v.is_nil() {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, None),
            }
            return;
        }
        match verb {
            'T' => self.fmt_s(&v.type_name()),
            'p' => self.fmt_pointer(v),
            _ => self.print_value(v, verb, 0),
        }
    }

    /// Go's printValue: a value at `depth` inside lists and maps.
    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        match v {
            Value::Nil if self.f.sharp_v => self.buf.push_str("interface {}(nil)"),
            Value::Nil => self.buf.push_str("<nil>"),
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, Some(v)),
            },
            Value::Int(i) => self.fmt_int(*i, verb, v),
            Value::Float(x) => self.fmt_float(*x, verb, v),
            Value::Str(s) => self.fmt_string(s, verb, v),
            Value::Bytes(b) => self.fmt_bytes(b, verb, depth),
            Value::List(l) => {
                let (open, sep, close) = if self.f.sharp_v {
                    ("[]interface {}{", ", ", "}")
                } else {
                    ("[", " ", "]")
                };
                self.buf.push_str(open);
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(sep);
                    }
                    self.print_value(e, verb, depth + 1);
                }
                self.buf.push_str(close);
            }
            Value::Map(m) => {
                let (open, sep, close) = if self.f.sharp_v {
                    ("map[string]interface {}{", ", ", "}")
                } else {
                    ("map[", " ", "]")
                };
                self.buf.push_str(open);
                for (i, (k, e)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(sep);
                    }
                    self.fmt_string(k, verb, &Value::from(k.as_str()));
                    self.buf.push(':');
                    self.print_value(e, verb, depth + 1);
                }
                self.buf.push_str(close);
            }
            Value::Object(o) => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => {
                    let text = o.print();
                    self.fmt_string(&text, verb, v);
                }
                _ => self.bad_verb(verb, Some(v)),
            },
        }
    }

    /// Go's badVerb: `%!d(string=foo)`, `%!d(<nil>)`.
    fn bad_verb(&mut self, verb: char, v: Option<&Value>) {
        self.bad_verb_typed(verb, v.map(|v| (v.type_name(), v)));
    }

    fn bad_verb_typed(&mut self, verb: char, v: Option<(String, &Value)>) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match v {
            Some((ty, v)) if !v.is_nil() => {
                self.buf.push_str(&ty);
                self.buf.push('=');
                self.print_arg(v, 'v');
            }
            _ => self.buf.push_str("<nil>"),
        }
        self.buf.push(')');
    }

    /// %p: maps, lists and objects have addresses; other values do not.
    fn fmt_pointer(&mut self, v: &Value) {
        let addr = match v {
            Value::List(l) => std::rc::Rc::as_ptr(l) as *const u8 as usize,
            Value::Map(m) => std::rc::Rc::as_ptr(m) as *const u8 as usize,
            Value::Object(o) => std::rc::Rc::as_ptr(o) as *const u8 as usize,
            _ => return self.bad_verb('p', Some(v)),
        };
        let text = if self.f.sharp {
            format!("{addr:x}")
        } else {
            format!("0x{addr:x}")
        };
        self.pad(&text);
    }

    fn fmt_int(&mut self, i: i64, verb: char, v: &Value) {
        let (u, neg) = (i.unsigned_abs(), i < 0);
        match verb {
            'v' | 'd' => self.fmt_integer(u, neg, 10, verb, LDIGITS),
            'b' => self.fmt_integer(u, neg, 2, verb, LDIGITS),
            'o' | 'O' => self.fmt_integer(u, neg, 8, verb, LDIGITS),
            'x' => self.fmt_integer(u, neg, 16, verb, LDIGITS),
            'X' => self.fmt_integer(u, neg, 16, verb, UDIGITS),
            'c' => self.fmt_c(i as u64),
            'q' => self.fmt_qc(i as u64),
            'U' => self.fmt_unicode(i as u64),
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    /// One byte of a []byte printed with an integer verb (unsigned).
    fn fmt_uint8(&mut self, b: u8, verb: char) {
        let u = u64::from(b);
        match verb {
            'v' if self.f.sharp_v => {
                let saved = self.f.sharp;
                self.f.sharp = true;
                self.fmt_integer(u, false, 16, 'v', LDIGITS);
                self.f.sharp = saved;
            }
            'v' | 'd' => self.fmt_integer(u, false, 10, verb, LDIGITS),
            'b' => self.fmt_integer(u, false, 2, verb, LDIGITS),
            'o' | 'O' => self.fmt_integer(u, false, 8, verb, LDIGITS),
            'x' => self.fmt_integer(u, false, 16, verb, LDIGITS),
            'X' => self.fmt_integer(u, false, 16, verb, UDIGITS),
            'c' => self.fmt_c(u),
            'q' => self.fmt_qc(u),
            'U' => self.fmt_unicode(u),
            _ => self.bad_verb_typed(verb, Some(("uint8".into(), &Value::Int(i64::from(b))))),
        }
    }

    /// Go's fmt.fmtInteger.
    fn fmt_integer(&mut self, mut u: u64, neg: bool, base: u64, verb: char, digits: &[u8]) {
        let f = self.f;
        let mut prec = 0;
        if f.prec_present {
            prec = f.prec;
            if prec == 0 && u == 0 {
                let saved = self.f.zero;
                self.f.zero = false;
                self.write_padding(f.wid);
                self.f.zero = saved;
                return;
            }
        } else if f.zero && f.wid_present {
            prec = f.wid;
            if neg || f.plus || f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut rev: Vec<u8> = Vec::new();
        loop {
            rev.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while rev.len() < prec {
            rev.push(b'0');
        }
        if f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => rev.extend_from_slice(&[digits[16], b'0']),
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if neg {
            rev.push(b'-');
        } else if f.plus {
            rev.push(b'+');
        } else if f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let text = String::from_utf8_lossy(&rev).into_owned();
        let saved = self.f.zero;
        self.f.zero = false;
        self.pad(&text);
        self.f.zero = saved;
    }

    fn rune_of(u: u64) -> char {
        u32::try_from(u)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or('\u{FFFD}')
    }

    fn fmt_c(&mut self, u: u64) {
        let c = Self::rune_of(u);
        self.pad(c.encode_utf8(&mut [0; 4]));
    }

    fn fmt_qc(&mut self, u: u64) {
        let text = quote_rune(Self::rune_of(u), self.f.plus);
        self.pad(&text);
    }

    /// Go's fmt.fmtUnicode: U+0041, with `#` U+0041 'A'.
    fn fmt_unicode(&mut self, u: u64) {
        let prec = if self.f.prec_present && self.f.prec > 4 {
            self.f.prec
        } else {
            4
        };
        let mut text = format!("U+{u:0prec$X}");
        if self.f.sharp {
            if let Some(c) = u32::try_from(u).ok().and_then(char::from_u32) {
                if is_print(c) {
                    text.push_str(&format!(" '{c}'"));
                }
            }
        }
        let saved = self.f.zero;
        self.f.zero = false;
        self.pad(&text);
        self.f.zero = saved;
    }

    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
        match verb {
            'v' => self.fmt_float_prec(x, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float_prec(x, verb, -1),
            'f' | 'e' | 'E' => self.fmt_float_prec(x, verb, 6),
            'F' => self.fmt_float_prec(x, 'f', 6),
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    /// Go's fmt.fmtFloat: signs, `#`, zero padding after the sign.
    fn fmt_float_prec(&mut self, x: f64, verb: char, prec: i32) {
        let f = self.f;
        let prec = if f.prec_present { f.prec as i32 } else { prec };
        let mut num = format_float(x, verb, prec);
        if !num.starts_with(['-', '+']) {
            num.insert(0, '+');
        }
        if f.space && num.starts_with('+') && !f.plus {
            num.replace_range(0..1, " ");
        }
        if num[1..].starts_with(['I', 'N']) {
            if num[1..].starts_with('N') && !f.space && !f.plus {
                num.remove(0);
            }
            self.f.zero = false;
            self.pad(&num);
            self.f.zero = f.zero;
            return;
        }
        if f.sharp && verb != 'b' {
            num = float::sharp_float(&num, verb, prec);
        }
        if f.plus || !num.starts_with('+') {
            let len = num.chars().count();
            if f.zero && f.wid_present && f.wid > len {
                self.buf.push_str(&num[..1]);
                self.write_padding(f.wid - len);
                self.buf.push_str(&num[1..]);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s.as_bytes()),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sbx(s.as_bytes(), LDIGITS),
            'X' => self.fmt_sbx(s.as_bytes(), UDIGITS),
            'q' => self.fmt_q(s.as_bytes()),
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    /// Truncates to the precision, in runes.
    fn truncate<'a>(&self, s: &'a str) -> &'a str {
        if self.f.prec_present {
            if let Some((i, _)) = s.char_indices().nth(self.f.prec) {
                return &s[..i];
            }
        }
        s
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    /// Go's fmt.fmtQ: `%q`, `%+q` (ASCII only), `%#q` (backquoted if it can).
    fn fmt_q(&mut self, b: &[u8]) {
        let lossy = String::from_utf8_lossy(b);
        let valid = std::str::from_utf8(b).is_ok();
        let s = self.truncate(&lossy);
        let text = if self.f.sharp && valid && can_backquote(s) {
            format!("`{s}`")
        } else if valid {
            quote::quote_bytes(s.as_bytes(), '"', self.f.plus)
        } else {
            quote::quote_bytes(b, '"', self.f.plus)
        };
        self.pad(&text);
    }

    /// Go's fmt.fmtSbx: hex of a string or bytes, `% x` spaced, `#` 0x.
    fn fmt_sbx(&mut self, b: &[u8], digits: &[u8]) {
        let f = self.f;
        let length = if f.prec_present {
            b.len().min(f.prec)
        } else {
            b.len()
        };
        let mut width = 2 * length;
        if width == 0 {
            if f.wid_present {
                self.write_padding(f.wid);
            }
            return;
        }
        if f.space {
            if f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if f.sharp {
            width += 2;
        }
        if f.wid_present && f.wid > width && !f.minus {
            self.write_padding(f.wid - width);
        }
        let prefix = [b'0' as char, digits[16] as char];
        if f.sharp {
            self.buf.extend(prefix);
        }
        for (i, c) in b[..length].iter().enumerate() {
            if f.space && i > 0 {
                self.buf.push(' ');
                if f.sharp {
                    self.buf.extend(prefix);
                }
            }
            self.buf.push(digits[(c >> 4) as usize] as char);
            self.buf.push(digits[(c & 0xF) as usize] as char);
        }
        if f.wid_present && f.wid > width && f.minus {
            self.write_padding(f.wid - width);
        }
    }

    /// Go's fmtBytes: `[104 105]` for %v and %d, text for %s.
    fn fmt_bytes(&mut self, b: &[u8], verb: char, depth: usize) {
        match verb {
            's' => {
                let s = String::from_utf8_lossy(b);
                self.fmt_s(&s);
            }
            'x' => self.fmt_sbx(b, LDIGITS),
            'X' => self.fmt_sbx(b, UDIGITS),
            'q' => self.fmt_q(b),
            'v' if self.f.sharp_v => {
                self.buf
                    .push_str(if depth == 0 { "[]byte{" } else { "[]uint8{" });
                for (i, c) in b.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(", ");
                    }
                    self.fmt_uint8(*c, 'v');
                }
                self.buf.push('}');
            }
            _ => {
                self.buf.push('[');
                for (i, c) in b.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.fmt_uint8(*c, verb);
                }
                self.buf.push(']');
            }
        }
    }
}
