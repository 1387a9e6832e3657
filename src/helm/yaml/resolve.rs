//! gopkg.in/yaml.v2's `resolve` (YAML 1.1 as yaml.v2 reads it): what a
//! plain or tagged scalar's text means. `yes`/`on`/`y` and friends are
//! bools, `0755` is octal, `0x1F` hex, `0b101` binary, `1_000` is 1000,
//! `.inf`/`.nan` floats, `~`/`null`/empty null, `<<` the merge key; an
//! integer past int64 is a uint64 and past that a float. Numbers are read
//! as Go's `strconv.ParseInt(s, 0, 64)` and `ParseFloat` read them.

use super::Go;

/// `!!str`.
pub const STR: &str = "tag:yaml.org,2002:str";
/// `!!bool`.
pub const BOOL: &str = "tag:yaml.org,2002:bool";
/// `!!int`.
pub const INT: &str = "tag:yaml.org,2002:int";
/// `!!float`.
pub const FLOAT: &str = "tag:yaml.org,2002:float";
/// `!!null`.
pub const NULL: &str = "tag:yaml.org,2002:null";
/// `!!timestamp`.
pub const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
/// `!!binary` (base64 text decoded to a string).
pub const BINARY: &str = "tag:yaml.org,2002:binary";
/// `!!merge`, the explicit tag of a merge key.
pub const MERGE: &str = "tag:yaml.org,2002:merge";

/// `!!int` for `tag:yaml.org,2002:int`, as yaml.v2's errors print tags.
pub fn short_tag(tag: &str) -> String {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(t) => format!("!!{t}"),
        None => tag.to_string(),
    }
}

/// The resolved tag and value of a scalar with `tag` (`""` for none).
/// A timestamp resolves to its text: yaml.v2 gives interface{} targets
/// the original string.
pub fn resolve(tag: &str, text: &str) -> Result<(&'static str, Go), String> {
    if !matches!(tag, "" | STR | BOOL | INT | FLOAT | NULL | TIMESTAMP) {
        let rtag = if tag == BINARY { BINARY } else { "" };
        return Ok((rtag, Go::Str(text.to_string())));
    }
    let (rtag, out) = resolve_plain(tag, text);
    if tag.is_empty() || tag == rtag || tag == STR {
        return Ok((rtag, out));
    }
    if tag == FLOAT && rtag == INT {
        let f = match out {
            Go::Int(i) => i as f64,
            Go::Uint(u) => u as f64,
            _ => 0.0,
        };
        return Ok((FLOAT, Go::Float(f)));
    }
    Err(format!(
        "cannot decode {} `{text}` as a {}",
        short_tag(rtag),
        short_tag(tag)
    ))
}

/// yaml.v2's `resolve("", text)`: what an untagged plain scalar reads as
/// (its tag and value); toYaml quotes every string that reads otherwise.
pub fn resolve_untagged(text: &str) -> (&'static str, Go) {
    resolve_plain("", text)
}

fn resolve_plain(tag: &str, text: &str) -> (&'static str, Go) {
    let str_out = (STR, Go::Str(text.to_string()));
    if tag == STR {
        return str_out;
    }
    if let Some(hit) = lookup(text) {
        return hit;
    }
    match text.as_bytes().first() {
        Some(b'.') => match parse_float(text) {
            Some(f) => (FLOAT, Go::Float(f)),
            None => str_out,
        },
        Some(b'0'..=b'9' | b'+' | b'-') => {
            if (tag.is_empty() || tag == TIMESTAMP) && is_timestamp(text) {
                return (TIMESTAMP, Go::Str(text.to_string()));
            }
            number(text).unwrap_or(str_out)
        }
        _ => str_out,
    }
}

/// yaml.v2's resolve table of fixed words.
fn lookup(text: &str) -> Option<(&'static str, Go)> {
    let hit = match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            (BOOL, Go::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            (BOOL, Go::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => (NULL, Go::Nil),
        ".nan" | ".NaN" | ".NAN" => (FLOAT, Go::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => (FLOAT, Go::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => (FLOAT, Go::Float(f64::NEG_INFINITY)),
        _ => return None,
    };
    Some(hit)
}

/// An int, uint or float as yaml.v2 tries them, underscores dropped.
fn number(text: &str) -> Option<(&'static str, Go)> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_int(&plain) {
        return Some((INT, Go::Int(i)));
    }
    if let Some(u) = parse_uint(&plain) {
        return Some((INT, Go::Uint(u)));
    }
    if yaml_style_float(&plain) {
        if let Some(f) = parse_float(&plain) {
            return Some((FLOAT, Go::Float(f)));
        }
    }
    // ParseInt already reads 0b and -0b; yaml.v2's own fallback for them
    // finds nothing more.
    None
}

/// The base and digits of `s` (no sign) as ParseUint(s, 0, 64) reads them.
fn base_digits(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => return (16, &s[2..]),
            b'o' | b'O' => return (8, &s[2..]),
            b'b' | b'B' => return (2, &s[2..]),
            _ => return (8, &s[1..]),
        }
    }
    (10, s)
}

/// strconv.ParseUint(s, 0, 64): no sign.
pub fn parse_uint(s: &str) -> Option<u64> {
    let (base, digits) = base_digits(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    u64::from_str_radix(digits, base).ok()
}

/// strconv.ParseInt(s, 0, 64).
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(rest)?;
    if neg {
        if u <= 1 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    } else {
        if !digits(&mut i) {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// strconv.ParseFloat(s, 64) for decimal text: out of range is an error.
fn parse_float(s: &str) -> Option<f64> {
    let lower = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if lower.starts_with("inf") || lower.starts_with("nan") || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Reads 1 or 2 digits (Go's time.Parse for `1`, `2`, `15`, `4`, `5`).
fn num12(s: &mut &[u8]) -> Option<u32> {
    let n = s.iter().take(2).take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = s[..n].iter().fold(0, |a, b| a * 10 + u32::from(b - b'0'));
    *s = &s[n..];
    Some(v)
}

fn eat(s: &mut &[u8], c: u8) -> Option<()> {
    (s.first() == Some(&c)).then(|| *s = &s[1..])
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Whether yaml.v2 reads `s` as a timestamp: `2006-1-2`, or with
/// `T`/`t` and a `Z`/`±07:00` zone, or with a space and no zone.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    timestamp(b).is_some()
}

fn timestamp(b: &[u8]) -> Option<()> {
    let year = b[..4].iter().fold(0, |a, d| a * 10 + u32::from(d - b'0'));
    let mut s = &b[5..];
    let month = num12(&mut s)?;
    eat(&mut s, b'-')?;
    let day = num12(&mut s)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let sep = match s.first() {
        None => return Some(()),
        Some(c @ (b'T' | b't' | b' ')) => *c,
        Some(_) => return None,
    };
    s = &s[1..];
    let hour = num12(&mut s)?;
    eat(&mut s, b':')?;
    let min = num12(&mut s)?;
    eat(&mut s, b':')?;
    let sec = num12(&mut s)?;
    if hour >= 24 || min >= 60 || sec >= 60 {
        return None;
    }
    if s.len() >= 2 && s[0] == b'.' && s[1].is_ascii_digit() {
        s = &s[1..];
        let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
        s = &s[n..];
    }
    if sep == b' ' {
        return s.is_empty().then_some(());
    }
    match s {
        [b'Z'] => Some(()),
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2]
            .iter()
            .all(|d| d.is_ascii_digit())
            .then_some(()),
        _ => None,
    }
}
