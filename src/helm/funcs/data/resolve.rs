//! What yaml.v2's encoder needs of its reading of plain scalars (the one
//! table, [`crate::helm::yaml`]'s `resolve`): which strings would read back
//! as something else (`yes`, `1.0`, `~`, `2020-01-01`, `0x1F`, `12:30`) and
//! so must be quoted, how a number that encoding/json wrote reads back (int
//! or float), and yaml.v2's order of map keys (digits compared as numbers:
//! `a2` before `a10`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

use crate::helm::yaml::{resolve_untagged, Go, STR_TAG};

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

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("yaml regex: {e}")))
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

/// yaml.v2's resolve("", s) for a plain scalar, as the encoder sees it.
pub fn resolve(s: &str) -> Resolved {
    match resolve_untagged(s) {
        (STR_TAG, _) => Resolved::Str,
        (_, Go::Int(i)) => Resolved::Int(i.to_string()),
        (_, Go::Uint(u)) => Resolved::Int(u.to_string()),
        (_, Go::Float(f)) if f.is_finite() => Resolved::Float(f),
        _ => Resolved::Other,
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
