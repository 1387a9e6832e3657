//! gopkg.in/yaml.v2's reading of plain scalars (its `resolve`): which
//! strings would read back as something else (`yes`, `1.0`, `~`,
//! `2020-01-01`, `0x1F`, `12:30`) and so must be quoted, how a number that
//! encoding/json wrote reads back (int or float), and yaml.v2's order of
//! map keys (digits compared as numbers: `a2` before `a10`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

/// What a plain scalar reads as.
#[derive(Debug, PartialEq)]
pub enum Resolved {
    /// A string (needs no quotes).
    Str,
    /// An int, as yaml.v2 prints it back.
    Int(String),
    /// A float.
    Float(f64),
    /// null, a bool, a timestamp or a special float.
    Other,
}

const SPECIAL: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No",
    "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan",
    ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
];

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("yaml regex: {e}")))
}

fn yaml_style_float(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    regex(&R, r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").is_match(s)
}

/// yaml.v2 quotes these too (YAML 1.1 sexagesimal numbers like `12:30`).
pub fn is_base60_float(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    let first = s.as_bytes().first().copied().unwrap_or(b'x');
    if !(first == b'+' || first == b'-' || first.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    regex(&R, r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").is_match(s)
}

/// strconv.ParseInt / ParseUint with base 0 (sign only when `signed`).
fn parse_base0(s: &str, signed: bool) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') if signed => (true, &s[1..]),
        Some(b'+') if signed => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = u128::from_str_radix(digits, radix).ok()?;
    let n = i128::try_from(n).ok()?;
    Some(if neg { -n } else { n })
}

/// yaml.v2's resolve("", s) for a plain scalar.
pub fn resolve(s: &str) -> Resolved {
    let hint = match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => return Resolved::Str,
    };
    if SPECIAL.contains(&s) {
        return Resolved::Other;
    }
    match hint {
        b'.' => match go_parse_float(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'D' | b'S' => resolve_number(s),
        _ => Resolved::Str,
    }
}

fn resolve_number(s: &str) -> Resolved {
    if is_timestamp(s) {
        return Resolved::Other;
    }
    let plain = s.replace('_', "");
    if let Some(i) = parse_base0(&plain, true) {
        if i64::try_from(i).is_ok() {
            return Resolved::Int(i.to_string());
        }
    }
    if let Some(u) = parse_base0(&plain, false) {
        if u64::try_from(u).is_ok() {
            return Resolved::Int(u.to_string());
        }
    }
    if yaml_style_float(&plain) {
        if let Some(f) = go_parse_float(&plain) {
            return Resolved::Float(f);
        }
    }
    Resolved::Str
}

/// strconv.ParseFloat for the decimal forms YAML scalars take (out of
/// range is an error in Go).
fn go_parse_float(s: &str) -> Option<f64> {
    let ok = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let f: f64 = s.parse().ok().filter(|_| ok)?;
    f.is_finite().then_some(f)
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
pub fn is_timestamp(s: &str) -> bool {
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

/// yaml.v2's order of string map keys (its keyList.Less).
pub fn key_order(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let digit = |c: char| c.is_ascii_digit();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            for j in (0..i).rev() {
                if !digit(ar[j]) {
                    break;
                }
                if ar[j] != '0' {
                    (an, bn) = (1, 1);
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ar[ai]) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(br[bi]) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_as_yaml_v2() {
        let cases: Vec<(&str, Resolved)> = vec![
            ("abc", Resolved::Str),
            ("", Resolved::Other),
            ("yes", Resolved::Other),
            ("On", Resolved::Other),
            ("oN", Resolved::Str),
            ("~", Resolved::Other),
            ("1", Resolved::Int("1".into())),
            ("-0", Resolved::Int("0".into())),
            ("1_000", Resolved::Int("1000".into())),
            ("0x1F", Resolved::Int("31".into())),
            ("010", Resolved::Int("8".into())),
            (
                "18446744073709551615",
                Resolved::Int("18446744073709551615".into()),
            ),
            (
                "18446744073709551616",
                Resolved::Float(18446744073709551616.0),
            ),
            ("1.0", Resolved::Float(1.0)),
            ("1e3", Resolved::Float(1000.0)),
            ("08", Resolved::Float(8.0)),
            (".5", Resolved::Float(0.5)),
            ("1.2.3", Resolved::Str),
            ("2020-01-02", Resolved::Other),
            ("2020-1-2", Resolved::Other),
            ("2020-02-30", Resolved::Str),
            ("2020-01-02T10:00:00Z", Resolved::Other),
            ("2020-01-02T10:00:00.5+01:00", Resolved::Other),
            ("2020-01-02 10:00:00", Resolved::Other),
            ("2020-01-02x", Resolved::Str),
            ("-", Resolved::Str),
            ("+1", Resolved::Int("1".into())),
            ("1e400", Resolved::Str),
        ];
        for (s, want) in cases {
            assert_eq!(resolve(s), want, "{s:?}");
        }
        assert!(is_base60_float("12:30"));
        assert!(is_base60_float("-1:20:59.5"));
        assert!(!is_base60_float("12:60"));
        assert!(!is_base60_float("a:1"));
    }

    #[test]
    fn key_order_is_natural() {
        let mut keys = vec![
            "b", "a10", "a2", "A", "a", "_x", "1", "10", "9", "a02", "a1",
        ];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(
            keys,
            vec!["_x", "1", "9", "10", "A", "a", "a1", "a2", "a02", "a10", "b"]
        );
    }
}
