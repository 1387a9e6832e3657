//! Conversions sprig applies to its arguments: `strval` (a value as a
//! string, as sprig's `toString`), and spf13/cast's `ToInt64`/`ToFloat64`
//! (strings parsed, nil and junk as 0).

use crate::gotmpl::format::sprint_value;
use crate::gotmpl::Value;

/// A value as sprig's `strval` gives it: strings as they are, []byte as
/// text, anything else as `%v` prints it (nil is `<nil>`).
pub fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Nil => "<nil>".into(),
        v => sprint_value(v),
    }
}

/// spf13/cast's `ToInt64`: numbers truncated, strings parsed (base 0, as
/// strconv.ParseInt(s, 0, 0)), booleans 1/0, anything else 0.
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => float_to_int(*f),
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_int(s).unwrap_or(0),
        _ => 0,
    }
}

/// Go's `int64(f)` on amd64: truncation, and the "integer indefinite"
/// value (the smallest int64) for NaN and values out of range.
pub fn float_to_int(f: f64) -> i64 {
    // 2^63: the first float above every int64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// spf13/cast's `ToFloat64`: numbers as they are, strings parsed, else 0.
pub fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// strconv.ParseInt(s, 0, 64): an optional sign, then `0x`, `0o`, `0b` or
/// a leading `0` (octal) prefix, `_` between digits.
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower)
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') {
        return None;
    }
    let body: String = body.chars().filter(|c| *c != '_').collect();
    let n = i64::from_str_radix(&body, radix).ok()?;
    Some(if neg { -n } else { n })
}
