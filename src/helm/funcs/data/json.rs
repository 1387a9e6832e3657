//! Go's encoding/json for template values (`toJson`, `toPrettyJson`,
//! `toRawJson`) and strconv's float formats that JSON and YAML output use.
//!
//! ```text
//! nil -> null   1.0 -> 1   1e21 -> 1e+21   1e-7 -> 1e-7   []byte -> "base64"
//! maps: keys sorted bytewise; "<>&" -> \u003c \u003e \u0026 unless raw
//! ```

use std::fmt::Write;

use base64::Engine;

use crate::gotmpl::Value;

/// How to write JSON: Go's Marshal, MarshalIndent(v, "", "  ") or an
/// Encoder with SetEscapeHTML(false).
#[derive(Clone, Copy)]
pub struct Style {
    /// Escape `<`, `>` and `&` (Marshal does; toRawJson does not).
    pub escape_html: bool,
    /// Two-space indentation, `": "` after keys.
    pub pretty: bool,
}

/// The shortest decimal digits of |f| and the decimal point position:
/// |f| = 0.DIGITS × 10^dp (no digits for zero).
fn shortest(f: f64) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let text = format!("{:e}", f.abs());
    let (mant, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp + 1)
}

/// strconv's %e with all shortest digits (`1.5e+06`, `1e-07`).
fn fmt_e(neg: bool, digits: &[u8], dp: i32) -> String {
    let mut s = String::from(if neg { "-" } else { "" });
    s.push(char::from(*digits.first().unwrap_or(&b'0')));
    if digits.len() > 1 {
        s.push('.');
        s.extend(digits[1..].iter().map(|&d| char::from(d)));
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(s, "e{sign}{:02}", exp.abs());
    s
}

/// strconv's %f with all shortest digits (`1500000`, `0.000123`).
fn fmt_f(neg: bool, digits: &[u8], dp: i32) -> String {
    let mut s = String::from(if neg { "-" } else { "" });
    let digit = |i: i32| -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |&d| char::from(d))
    };
    if dp > 0 {
        (0..dp).for_each(|i| s.push(digit(i)));
    } else {
        s.push('0');
    }
    let frac = digits.len() as i32 - dp;
    if frac > 0 {
        s.push('.');
        (0..frac).for_each(|i| s.push(digit(dp + i)));
    }
    s
}

/// strconv.FormatFloat(f, 'g', -1, 64) (Inf/NaN as Go: `+Inf`, `NaN`).
pub fn format_g(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s.into();
    }
    let (digits, dp) = shortest(f);
    let exp = dp - 1;
    let neg = f.is_sign_negative();
    // Shortest %g: exponent form below 1e-4 or from 1e6 (strconv's
    // precision 6 for the decision; fmt's %v would use 21).
    if !digits.is_empty() && !(-4..6).contains(&exp) {
        fmt_e(neg, &digits, dp)
    } else {
        fmt_f(neg, &digits, dp)
    }
}

fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// A float64 as encoding/json writes it.
pub fn json_float(f: f64) -> Result<String, String> {
    if let Some(s) = non_finite(f) {
        return Err(format!("json: unsupported value: {s}"));
    }
    let (digits, dp) = shortest(f);
    let neg = f.is_sign_negative();
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = fmt_e(neg, &digits, dp);
        // e-07 -> e-7, as encoding/json cleans it.
        Ok(match s.rsplit_once("e-0") {
            Some((m, d)) if d.len() == 1 => format!("{m}e-{d}"),
            _ => s,
        })
    } else {
        Ok(fmt_f(neg, &digits, dp))
    }
}

/// A JSON string literal as encoding/json writes it.
pub fn json_string(s: &str, escape_html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u00{:02x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u00{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Most nesting written (Go stops at cycles; our maps can hold themselves).
const MAX_DEPTH: usize = 10_000;

/// `v` as JSON, or Go's error text.
pub fn encode(v: &Value, style: Style) -> Result<String, String> {
    let mut out = String::new();
    write_value(v, style, 0, &mut out)?;
    Ok(out)
}

fn newline(style: Style, level: usize, out: &mut String) {
    if style.pretty {
        out.push('\n');
        (0..level).for_each(|_| out.push_str("  "));
    }
}

fn write_value(v: &Value, style: Style, level: usize, out: &mut String) -> Result<(), String> {
    if level > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::Str(s) => json_string(s, style.escape_html, out),
        Value::Bytes(b) => {
            let text = base64::engine::general_purpose::STANDARD.encode(b);
            json_string(&text, style.escape_html, out);
        }
        Value::List(l) if l.is_empty() => out.push_str("[]"),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(style, level + 1, out);
                write_value(item, style, level + 1, out)?;
            }
            newline(style, level, out);
            out.push(']');
        }
        Value::Map(m) if m.borrow().is_empty() => out.push_str("{}"),
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(style, level + 1, out);
                json_string(k, style.escape_html, out);
                out.push_str(if style.pretty { ": " } else { ":" });
                write_value(item, style, level + 1, out)?;
            }
            newline(style, level, out);
            out.push('}');
        }
        Value::Object(o) => write_value(&o.to_data(), style, level, out)?,
    }
    Ok(())
}
