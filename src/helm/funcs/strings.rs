//! sprig's string functions (strings.go, regex.go and the goutils and
//! xstrings helpers it wraps), with Go's semantics: byte offsets where Go
//! slices bytes, `string` parameters taking nil as "" and other values as
//! sprig's `toString` prints them, `int` parameters as cast.ToInt64 reads
//! them (Go itself refuses a float64 there; see [`int_arg`]).

mod case;
mod regexp;
#[cfg(test)]
mod tests;

use super::cast::{strval, to_i64};
use super::crypto::random_bytes;
use crate::gotmpl::format::{quote as go_quote, sprint_value};
use crate::gotmpl::{Func, FuncMap, Host, Map, Value};

/// Go's arity check: `wrong number of args for trunc: want 2 got 1`.
pub(super) fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want {n} got {}",
        args.len()
    ))
}

/// A `string` parameter: nil is "", other values print as `toString`.
pub(super) fn str_arg(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        v => strval(v),
    }
}

/// An `int` parameter. Go's template engine would refuse a float64 (every
/// number of values.yaml) with `wrong type for value; expected int; got
/// float64`; this reads it as cast.ToInt64 does instead.
pub(super) fn int_arg(v: &Value) -> i64 {
    to_i64(v)
}

/// Checks the arity, then gives the string parameters.
fn strs<const N: usize>(name: &str, args: &[Value]) -> Result<[String; N], String> {
    arity(name, args, N)?;
    Ok(std::array::from_fn(|i| str_arg(&args[i])))
}

fn text(s: impl Into<String>) -> Result<Value, String> {
    Ok(Value::from(s.into()))
}

fn str_list(v: Vec<String>) -> Value {
    Value::from(v.into_iter().map(Value::from).collect::<Vec<_>>())
}

/// Bytes that Go would keep as they are (possibly cut inside a rune) as text.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn register(m: &mut FuncMap) {
    register_words(m);
    register_text(m);
    register_regex(m);
}

/// Case, trimming, slicing and random strings.
fn register_words(m: &mut FuncMap) {
    let table: &[(&'static str, Func)] = &[
        ("abbrev", abbrev),
        ("abbrevboth", abbrevboth),
        ("trunc", trunc),
        ("trim", |_, a| text(strs::<1>("trim", a)?[0].trim())),
        ("upper", |_, a| {
            text(
                strs::<1>("upper", a)?[0]
                    .chars()
                    .map(case::upper)
                    .collect::<String>(),
            )
        }),
        ("lower", |_, a| {
            text(
                strs::<1>("lower", a)?[0]
                    .chars()
                    .map(case::lower)
                    .collect::<String>(),
            )
        }),
        ("title", |_, a| {
            text(case::go_title(&strs::<1>("title", a)?[0]))
        }),
        ("untitle", |_, a| {
            text(case::uncapitalize(&strs::<1>("untitle", a)?[0]))
        }),
        ("substr", substr),
        ("repeat", repeat),
        ("trimall", |_, a| trim_all("trimall", a)),
        ("trimAll", |_, a| trim_all("trimAll", a)),
        ("trimSuffix", |_, a| {
            let [suffix, s] = strs::<2>("trimSuffix", a)?;
            text(s.strip_suffix(suffix.as_str()).unwrap_or(&s))
        }),
        ("trimPrefix", |_, a| {
            let [prefix, s] = strs::<2>("trimPrefix", a)?;
            text(s.strip_prefix(prefix.as_str()).unwrap_or(&s))
        }),
        ("nospace", |_, a| {
            text(case::delete_white_space(&strs::<1>("nospace", a)?[0]))
        }),
        ("initials", |_, a| {
            text(case::initials(&strs::<1>("initials", a)?[0]))
        }),
        ("randAlphaNum", |_, a| {
            random_string("randAlphaNum", a, 91, |c| c.is_ascii_alphanumeric())
        }),
        ("randAlpha", |_, a| {
            random_string("randAlpha", a, 91, |c| c.is_ascii_alphabetic())
        }),
        ("randNumeric", |_, a| {
            random_string("randNumeric", a, 91, |c| c.is_ascii_digit())
        }),
        ("randAscii", |_, a| {
            random_string("randAscii", a, 95, |_| true)
        }),
        ("swapcase", |_, a| {
            text(case::swap_case(&strs::<1>("swapcase", a)?[0]))
        }),
        ("shuffle", shuffle),
        ("snakecase", |_, a| {
            text(case::camel_to_lower(&strs::<1>("snakecase", a)?[0], '_'))
        }),
        ("kebabcase", |_, a| {
            text(case::camel_to_lower(&strs::<1>("kebabcase", a)?[0], '-'))
        }),
        ("camelcase", |_, a| {
            text(case::to_camel_case(&strs::<1>("camelcase", a)?[0]))
        }),
        ("wrap", |_, a| {
            arity("wrap", a, 2)?;
            text(case::wrap_custom(
                &str_arg(&a[1]),
                int_arg(&a[0]),
                "",
                false,
            ))
        }),
        ("wrapWith", |_, a| {
            arity("wrapWith", a, 3)?;
            let (sep, s) = (str_arg(&a[1]), str_arg(&a[2]));
            text(case::wrap_custom(&s, int_arg(&a[0]), &sep, true))
        }),
        ("contains", |_, a| {
            let [sub, s] = strs::<2>("contains", a)?;
            Ok(Value::Bool(s.contains(sub.as_str())))
        }),
        ("hasPrefix", |_, a| {
            let [p, s] = strs::<2>("hasPrefix", a)?;
            Ok(Value::Bool(s.starts_with(p.as_str())))
        }),
        ("hasSuffix", |_, a| {
            let [p, s] = strs::<2>("hasSuffix", a)?;
            Ok(Value::Bool(s.ends_with(p.as_str())))
        }),
    ];
    m.extend(table.iter().copied());
}

/// Quoting, joining, splitting, indenting and replacing.
fn register_text(m: &mut FuncMap) {
    let table: &[(&'static str, Func)] = &[
        ("quote", quote),
        ("squote", squote),
        ("cat", cat),
        ("indent", |_, a| {
            arity("indent", a, 2)?;
            text(indent(int_arg(&a[0]), &str_arg(&a[1])))
        }),
        ("nindent", |_, a| {
            arity("nindent", a, 2)?;
            text(format!("\n{}", indent(int_arg(&a[0]), &str_arg(&a[1]))))
        }),
        ("replace", |_, a| {
            let [old, new, src] = strs::<3>("replace", a)?;
            text(src.replace(old.as_str(), &new))
        }),
        ("plural", |_, a| {
            arity("plural", a, 3)?;
            let pick = if int_arg(&a[2]) == 1 { &a[0] } else { &a[1] };
            text(str_arg(pick))
        }),
        ("split", |_, a| split_map("split", a, -1)),
        ("splitList", |_, a| {
            let [sep, s] = strs::<2>("splitList", a)?;
            Ok(str_list(go_split(&s, &sep, -1)))
        }),
        ("splitn", |_, a| {
            arity("splitn", a, 3)?;
            let n = int_arg(&a[1]);
            split_map("splitn", &[a[0].clone(), a[2].clone()], n)
        }),
        ("join", join),
    ];
    m.extend(table.iter().copied());
}

/// The regex functions.
fn register_regex(m: &mut FuncMap) {
    let table: &[(&'static str, Func)] = &[
        ("regexMatch", |_, a| regex_match(a, false)),
        ("mustRegexMatch", |_, a| regex_match(a, true)),
        ("regexFindAll", |_, a| regex_find_all(a, false)),
        ("mustRegexFindAll", |_, a| regex_find_all(a, true)),
        ("regexFind", |_, a| regex_find(a, false)),
        ("mustRegexFind", |_, a| regex_find(a, true)),
        ("regexReplaceAll", |_, a| regex_replace(a, false, false)),
        ("mustRegexReplaceAll", |_, a| regex_replace(a, true, false)),
        ("regexReplaceAllLiteral", |_, a| {
            regex_replace(a, false, true)
        }),
        ("mustRegexReplaceAllLiteral", |_, a| {
            regex_replace(a, true, true)
        }),
        ("regexSplit", |_, a| regex_split(a, false)),
        ("mustRegexSplit", |_, a| regex_split(a, true)),
        ("regexQuoteMeta", |_, a| {
            text(quote_meta(&strs::<1>("regexQuoteMeta", a)?[0]))
        }),
    ];
    m.extend(table.iter().copied());
}

fn abbrev(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("abbrev", a, 2)?;
    let (width, s) = (int_arg(&a[0]), str_arg(&a[1]));
    if width < 4 {
        return text(s);
    }
    text(case::abbreviate_full(&s, 0, width))
}

fn abbrevboth(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("abbrevboth", a, 3)?;
    let (left, right, s) = (int_arg(&a[0]), int_arg(&a[1]), str_arg(&a[2]));
    if right < 4 || left > 0 && right < 7 {
        return text(s);
    }
    text(case::abbreviate_full(&s, left, right))
}

fn trunc(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("trunc", a, 2)?;
    let (c, s) = (int_arg(&a[0]), str_arg(&a[1]));
    let len = s.len() as i64;
    if c < 0 && len + c > 0 {
        return text(lossy(&s.as_bytes()[(len + c) as usize..]));
    }
    if c >= 0 && len > c {
        return text(lossy(&s.as_bytes()[..c as usize]));
    }
    text(s)
}

/// sprig's substring: Go's byte slicing, whose out-of-range panics the
/// engine reports as errors.
fn substr(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("substr", a, 3)?;
    let (start, end, s) = (int_arg(&a[0]), int_arg(&a[1]), str_arg(&a[2]));
    let (b, len) = (s.as_bytes(), s.len() as i64);
    let oob = |m: String| format!("runtime error: slice bounds out of range {m}");
    if start < 0 {
        if end < 0 {
            return Err(oob(format!("[:{end}]")));
        }
        if end > len {
            return Err(oob(format!("[:{end}] with length {len}")));
        }
        return text(lossy(&b[..end as usize]));
    }
    if end < 0 || end > len {
        if start > len {
            return Err(oob(format!("[{start}:{len}]")));
        }
        return text(lossy(&b[start as usize..]));
    }
    if start > end {
        return Err(oob(format!("[{start}:{end}]")));
    }
    text(lossy(&b[start as usize..end as usize]))
}

/// Outputs past this many bytes are refused (Go would try to allocate).
const MAX_REPEAT: i64 = 64 << 20;

fn repeat(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("repeat", a, 2)?;
    let (count, s) = (int_arg(&a[0]), str_arg(&a[1]));
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    if count.saturating_mul(s.len() as i64) > MAX_REPEAT {
        return Err("strings: Repeat count causes overflow".into());
    }
    text(s.repeat(count as usize))
}

/// strings.Trim(b, a): `a` is a set of runes.
fn trim_all(name: &str, a: &[Value]) -> Result<Value, String> {
    let [cutset, s] = strs::<2>(name, a)?;
    text(s.trim_matches(|c| cutset.contains(c)))
}

/// goutils' CryptoRandom: runes drawn uniformly from the `span` runes
/// from ' ' (' '..='z' for letters and digits, ' '..='~' for randAscii),
/// those `keep` refuses drawn again (count < 0 is "": sprig drops the error).
fn random_string(
    name: &str,
    a: &[Value],
    span: u8,
    keep: fn(char) -> bool,
) -> Result<Value, String> {
    arity(name, a, 1)?;
    let count = int_arg(&a[0]).max(0) as usize;
    if count > MAX_REPEAT as usize {
        return Err(format!("{name}: count {count} is too large"));
    }
    let mut out = String::with_capacity(count);
    while out.len() < count {
        for b in random_bytes(count * 2) {
            if b >= span * 2 {
                continue;
            }
            let c = char::from(b' ' + b % span);
            if keep(c) && out.len() < count {
                out.push(c);
            }
        }
    }
    text(out)
}

/// xstrings.Shuffle: the runes in random order.
fn shuffle(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let [s] = strs::<1>("shuffle", a)?;
    let mut runes: Vec<char> = s.chars().collect();
    let rand = random_bytes(runes.len() * 8);
    for i in (1..runes.len()).rev() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&rand[i * 8..i * 8 + 8]);
        let j = (u64::from_le_bytes(word) % (i as u64 + 1)) as usize;
        runes.swap(i, j);
    }
    text(runes.into_iter().collect::<String>())
}

/// sprig's quote: `%q` of each non-nil argument's toString, space-joined.
fn quote(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a
        .iter()
        .filter(|v| !v.is_nil())
        .map(|v| go_quote(&strval(v)))
        .collect();
    text(parts.join(" "))
}

/// sprig's squote: `'%v'` of each non-nil argument (not toString: bytes
/// print as `[104 105]`).
fn squote(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a
        .iter()
        .filter(|v| !v.is_nil())
        .map(|v| format!("'{}'", sprint_value(v)))
        .collect();
    text(parts.join(" "))
}

/// sprig's cat: `%v` of each non-nil argument, space-joined.
fn cat(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let parts: Vec<String> = a.iter().filter(|v| !v.is_nil()).map(sprint_value).collect();
    text(parts.join(" "))
}

fn indent(spaces: i64, s: &str) -> String {
    let pad = " ".repeat(spaces.clamp(0, MAX_REPEAT) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// strings.SplitN (n < 0: all; n == 0: none; an empty separator splits
/// into runes).
fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let runes: Vec<String> = s.chars().map(String::from).collect();
        if n < 0 || runes.len() as i64 <= n {
            return runes;
        }
        let keep = (n - 1) as usize;
        let head_len: usize = runes[..keep].iter().map(String::len).sum();
        let mut out = runes[..keep].to_vec();
        out.push(s[head_len..].to_string());
        return out;
    }
    if n < 0 {
        return s.split(sep).map(str::to_string).collect();
    }
    s.splitn(n as usize, sep).map(str::to_string).collect()
}

/// sprig's split/splitn: a map `_0`, `_1`, ... of the parts.
fn split_map(name: &str, a: &[Value], n: i64) -> Result<Value, String> {
    let [sep, s] = strs::<2>(name, a)?;
    let map: Map = go_split(&s, &sep, n)
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::from(p)))
        .collect();
    Ok(Value::from(map))
}

/// sprig's strslice: lists without their nils, bytes as numbers, nil as
/// nothing, anything else as one string.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|e| !e.is_nil()).map(strval).collect(),
        Value::Bytes(b) => b.iter().map(|c| c.to_string()).collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

fn join(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("join", a, 2)?;
    text(strslice(&a[1]).join(&str_arg(&a[0])))
}

/// Compiles for a `must` function (Go's error) or a plain one (Go's
/// MustCompile panic text).
fn compile(pat: &str, must: bool) -> Result<regex::Regex, String> {
    regexp::compile(pat).map_err(|e| {
        if must {
            e
        } else {
            regexp::must_compile_error(pat, &e)
        }
    })
}

fn regex_match(a: &[Value], must: bool) -> Result<Value, String> {
    let [pat, s] = strs::<2>(if must { "mustRegexMatch" } else { "regexMatch" }, a)?;
    match regexp::compile(&pat) {
        Ok(re) => Ok(Value::Bool(re.is_match(&s))),
        Err(e) if must => Err(e),
        Err(_) => Ok(Value::Bool(false)),
    }
}

fn regex_find_all(a: &[Value], must: bool) -> Result<Value, String> {
    arity(
        if must {
            "mustRegexFindAll"
        } else {
            "regexFindAll"
        },
        a,
        3,
    )?;
    let (pat, s, n) = (str_arg(&a[0]), str_arg(&a[1]), int_arg(&a[2]));
    let re = compile(&pat, must)?;
    let found = regexp::all_matches(&re, &s, n);
    Ok(str_list(
        found
            .into_iter()
            .map(|(i, j)| s[i..j].to_string())
            .collect(),
    ))
}

fn regex_find(a: &[Value], must: bool) -> Result<Value, String> {
    let [pat, s] = strs::<2>(if must { "mustRegexFind" } else { "regexFind" }, a)?;
    let re = compile(&pat, must)?;
    text(re.find(&s).map_or("", |m| m.as_str()))
}

fn regex_replace(a: &[Value], must: bool, literal: bool) -> Result<Value, String> {
    let name = match (must, literal) {
        (false, false) => "regexReplaceAll",
        (true, false) => "mustRegexReplaceAll",
        (false, true) => "regexReplaceAllLiteral",
        (true, true) => "mustRegexReplaceAllLiteral",
    };
    let [pat, s, repl] = strs::<3>(name, a)?;
    let re = compile(&pat, must)?;
    text(regexp::replace_all(&re, &s, &repl, literal))
}

fn regex_split(a: &[Value], must: bool) -> Result<Value, String> {
    arity(if must { "mustRegexSplit" } else { "regexSplit" }, a, 3)?;
    let (pat, s, n) = (str_arg(&a[0]), str_arg(&a[1]), int_arg(&a[2]));
    let re = compile(&pat, must)?;
    Ok(str_list(regexp::split(&re, &s, n)))
}

/// regexp.QuoteMeta: a backslash before each of `\.+*?()|[]{}^$`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
