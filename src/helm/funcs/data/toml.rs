//! Helm's `toToml`: BurntSushi/toml v1.2.0's encoder for template values.
//!
//! ```text
//! name = "x"          <- a map's plain values first, keys sorted
//!                     <- blank line before each top-level table
//! [server]
//!   port = 80         <- nested keys indented two spaces per level
//!   [server.tls]
//!     on = true
//!
//! [[items]]           <- a list of maps is an array of tables
//!   a = 1.0           <- floats always have a point
//! ```

use std::fmt::Write;

use super::json::json_float;
use crate::gotmpl::Value;

/// The encoder's error (Helm's `toToml` prints it as the output).
pub const NO_KEY: &str = "toml: top-level values must be Go maps or structs";
const NIL_ELEMENT: &str = "toml: cannot encode array with nil element";

#[derive(Default)]
struct Encoder {
    out: String,
}

/// Objects as their data; everything else as it is.
fn data(v: &Value) -> Value {
    match v {
        Value::Object(o) => o.to_data(),
        v => v.clone(),
    }
}

/// Whether a value is written as a table (`[k]` or `[[k]]`).
fn is_table(v: &Value) -> Result<bool, String> {
    match data(v) {
        Value::Map(_) => Ok(true),
        Value::List(l) if !l.is_empty() => {
            let mut all = true;
            for item in l.iter() {
                match data(item) {
                    Value::Nil => return Err(NIL_ELEMENT.into()),
                    Value::Map(_) => {}
                    _ => all = false,
                }
            }
            Ok(all)
        }
        _ => Ok(false),
    }
}

fn bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn key_part(k: &str) -> String {
    if !k.is_empty() && k.chars().all(bare) {
        k.to_string()
    } else {
        quoted(k)
    }
}

fn key_path(key: &[String]) -> String {
    key.iter()
        .map(|k| key_part(k))
        .collect::<Vec<_>>()
        .join(".")
}

fn indent(key: &[String]) -> String {
    "  ".repeat(key.len().saturating_sub(1))
}

impl Encoder {
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn element(&mut self, v: &Value) -> Result<(), String> {
        match data(v) {
            Value::Nil => return Err(NIL_ELEMENT.into()),
            Value::Bool(b) => self.out.push_str(&b.to_string()),
            Value::Int(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) if f.is_nan() => self.out.push_str("nan"),
            Value::Float(f) if f.is_infinite() => {
                self.out.push_str(if f < 0.0 { "-inf" } else { "+inf" })
            }
            Value::Float(f) => {
                let text = float_f(f);
                self.out.push_str(&text);
                if !text.contains('.') {
                    self.out.push_str(".0");
                }
            }
            Value::Str(s) => self.out.push_str(&quoted(&s)),
            Value::Bytes(b) => {
                let items: Vec<String> = b.iter().map(|x| x.to_string()).collect();
                let _ = write!(self.out, "[{}]", items.join(", "));
            }
            Value::List(l) => {
                self.out.push('[');
                for (i, item) in l.iter().enumerate() {
                    self.element(item)?;
                    if i + 1 != l.len() {
                        self.out.push_str(", ");
                    }
                }
                self.out.push(']');
            }
            Value::Map(_) => self.map(&[], &data(v), true)?,
            Value::Object(_) => {}
        }
        Ok(())
    }

    fn key_value(&mut self, key: &[String], v: &Value, inline: bool) -> Result<(), String> {
        let Some(last) = key.last() else {
            return Err(NO_KEY.into());
        };
        let _ = write!(self.out, "{}{} = ", indent(key), key_part(last));
        self.element(v)?;
        if !inline {
            self.newline();
        }
        Ok(())
    }

    fn encode(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        let v = data(v);
        match &v {
            Value::Nil => Ok(()),
            Value::Map(_) => self.table(key, &v),
            Value::List(l) if is_table(&v)? => {
                if key.is_empty() {
                    return Err(NO_KEY.into());
                }
                for item in l.iter() {
                    self.newline();
                    let _ = write!(self.out, "{}[[{}]]", indent(key), key_path(key));
                    self.newline();
                    self.map(key, &data(item), false)?;
                }
                Ok(())
            }
            _ => self.key_value(key, &v, false),
        }
    }

    fn table(&mut self, key: &[String], v: &Value) -> Result<(), String> {
        if key.len() == 1 {
            self.newline();
        }
        if !key.is_empty() {
            let _ = write!(self.out, "{}[{}]", indent(key), key_path(key));
            self.newline();
        }
        self.map(key, v, false)
    }

    fn map(&mut self, key: &[String], v: &Value, inline: bool) -> Result<(), String> {
        let Value::Map(m) = v else { return Ok(()) };
        let m = m.borrow();
        let (mut direct, mut sub) = (Vec::new(), Vec::new());
        for (k, item) in m.iter() {
            if is_table(item)? {
                sub.push((k, item));
            } else {
                direct.push((k, item));
            }
        }
        if inline {
            self.out.push('{');
        }
        let has_sub = !sub.is_empty();
        for (group, trail) in [(direct, has_sub), (sub, false)] {
            let n = group.len();
            for (i, (k, item)) in group.into_iter().enumerate() {
                if item.is_nil() {
                    continue;
                }
                let mut path = key.to_vec();
                path.push(k.clone());
                if inline {
                    self.key_value(std::slice::from_ref(k), item, true)?;
                    if trail || i + 1 != n {
                        self.out.push_str(", ");
                    }
                } else {
                    self.encode(&path, item)?;
                }
            }
        }
        if inline {
            self.out.push('}');
        }
        Ok(())
    }
}

/// strconv.FormatFloat(f, 'f', -1, 64).
fn float_f(f: f64) -> String {
    let json = json_float(f).unwrap_or_default();
    if !json.contains('e') {
        return json;
    }
    // encoding/json switched to exponent form; spell the digits out.
    let (mant, exp) = json.split_once('e').unwrap_or((&json, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let dp = exp + 1;
    let mut s = String::from(if neg { "-" } else { "" });
    if dp <= 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat(dp.unsigned_abs() as usize));
        s.push_str(&digits);
    } else {
        let dp = dp as usize;
        if digits.len() <= dp {
            s.push_str(&digits);
            s.push_str(&"0".repeat(dp - digits.len()));
        } else {
            s.push_str(&digits[..dp]);
            s.push('.');
            s.push_str(&digits[dp..]);
        }
    }
    s
}

/// `v` encoded as TOML, or the encoder's error text.
pub fn encode(v: &Value) -> Result<String, String> {
    let v = data(v);
    if v.is_nil() {
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    let mut e = Encoder::default();
    e.encode(&[], &v)?;
    Ok(e.out)
}
