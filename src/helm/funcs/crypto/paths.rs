//! sprig's path functions (Go's path and, on Linux the same, path/filepath:
//! base, dir, clean, ext, isAbs and their `os` forms), its URL functions
//! (urlParse, urlJoin, over a subset of Go's net/url) and getHostByName.

use super::super::strings::{arity, str_arg};
use super::text;
use crate::gotmpl::{Func, FuncMap, Map, Value};

/// Go's path.Clean: the shortest lexically equal path.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's path.Base: the last element, trailing slashes dropped.
pub fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's path.Dir: all but the last element, cleaned.
pub fn dir(path: &str) -> String {
    let i = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..i])
}

/// Go's path.Ext: the suffix from the final dot of the last element.
pub fn ext(path: &str) -> String {
    for (i, c) in path.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return path[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

fn path_fn(name: &str, a: &[Value], f: fn(&str) -> String) -> Result<Value, String> {
    arity(name, a, 1)?;
    text(f(&str_arg(&a[0])))
}

/// Go's url.shouldEscape modes used here.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    UserPassword,
    Fragment,
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Mode::Host && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => false,
            Mode::Host => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Mode::Fragment => false,
        _ => true,
    }
}

fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if should_escape(b, mode) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Go's url.unescape (`%XX`), with Go's error for a bad escape.
fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                let bad: String = s[i..].chars().take(3).collect();
                return Err(format!("invalid URL escape {bad:?}"));
            };
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The parts of a URL as sprig's urlParse returns them.
fn parse_url(raw: &str) -> Result<Map, String> {
    let fail = |e: String| format!("unable to parse url: parse {raw:?}: {e}");
    let (rest, fragment) = match raw.split_once('#') {
        Some((r, f)) => (r, unescape(f).map_err(fail)?),
        None => (raw, String::new()),
    };
    let mut scheme = String::new();
    let mut rest = rest;
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        let valid = cand.starts_with(|c: char| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if i == 0 {
            return Err(fail("missing protocol scheme".into()));
        }
        if valid {
            scheme = cand.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut opaque, mut user, mut host, mut path) = (
        String::new(),
        String::new(),
        String::new(),
        rest.to_string(),
    );
    if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
        path.clear();
    } else if let Some(auth_rest) = rest.strip_prefix("//") {
        let end = auth_rest.find('/').unwrap_or(auth_rest.len());
        let authority = &auth_rest[..end];
        path = unescape(&auth_rest[end..]).map_err(fail)?;
        match authority.rsplit_once('@') {
            Some((u, h)) => {
                let (name, pass) = u.split_once(':').map_or((u, None), |(n, p)| (n, Some(p)));
                user = escape(&unescape(name).map_err(fail)?, Mode::UserPassword);
                if let Some(p) = pass {
                    user.push(':');
                    user.push_str(&escape(&unescape(p).map_err(fail)?, Mode::UserPassword));
                }
                host = h.to_string();
            }
            None => host = authority.to_string(),
        }
    } else {
        path = unescape(rest).map_err(fail)?;
    }
    let hostname = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("").to_string()
    } else {
        host.rsplit_once(':')
            .map_or(host.as_str(), |(h, _)| h)
            .to_string()
    };
    let mut m = Map::new();
    for (k, v) in [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query.to_string()),
        ("opaque", opaque),
        ("fragment", fragment),
        ("userinfo", user),
    ] {
        m.insert(k.into(), Value::from(v));
    }
    Ok(m)
}

/// sprig's urlJoin: Go's URL.String of the map's parts.
fn join_url(d: &Value) -> Result<String, String> {
    let get = |k: &str| match d.get(k) {
        Value::Nil => Ok(String::new()),
        Value::Str(s) => Ok(s.to_string()),
        v => Err(format!(
            "unable to parse {k} key, must be of type string, but {} found",
            v.kind_name()
        )),
    };
    let (scheme, host, path) = (get("scheme")?, get("host")?, get("path")?);
    let (query, opaque, fragment, userinfo) = (
        get("query")?,
        get("opaque")?,
        get("fragment")?,
        get("userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        let has_user = !userinfo.is_empty();
        if !scheme.is_empty() || !host.is_empty() || has_user {
            if !host.is_empty() || !path.is_empty() || has_user {
                out.push_str("//");
            }
            if has_user {
                out.push_str(&userinfo);
                out.push('@');
            }
            out.push_str(&escape(&host, Mode::Host));
        }
        let epath = if path == "*" {
            path.clone()
        } else {
            escape(&path, Mode::Path)
        };
        if !epath.is_empty() && !epath.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        if out.is_empty() && epath.split('/').next().is_some_and(|s| s.contains(':')) {
            out.push_str("./");
        }
        out.push_str(&epath);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape(&fragment, Mode::Fragment));
    }
    Ok(out)
}

pub(super) fn register(m: &mut FuncMap) {
    let table: &[(&'static str, Func)] = &[
        ("base", |_, a| path_fn("base", a, base)),
        ("dir", |_, a| path_fn("dir", a, dir)),
        ("clean", |_, a| path_fn("clean", a, clean)),
        ("ext", |_, a| path_fn("ext", a, ext)),
        ("isAbs", |_, a| {
            arity("isAbs", a, 1)?;
            Ok(Value::Bool(str_arg(&a[0]).starts_with('/')))
        }),
        ("osBase", |_, a| path_fn("osBase", a, base)),
        ("osDir", |_, a| path_fn("osDir", a, dir)),
        ("osClean", |_, a| path_fn("osClean", a, clean)),
        ("osExt", |_, a| path_fn("osExt", a, ext)),
        ("osIsAbs", |_, a| {
            arity("osIsAbs", a, 1)?;
            Ok(Value::Bool(str_arg(&a[0]).starts_with('/')))
        }),
        ("urlParse", |_, a| {
            arity("urlParse", a, 1)?;
            parse_url(&str_arg(&a[0])).map(Value::from)
        }),
        ("urlJoin", |_, a| {
            arity("urlJoin", a, 1)?;
            if !matches!(a[0], Value::Map(_)) {
                return Err(format!(
                    "wrong type for value; expected map[string]interface {{}}; got {}",
                    a[0].type_name()
                ));
            }
            join_url(&a[0]).map(Value::from)
        }),
        // Rendering does not resolve names: Helm's answer would depend on
        // the machine's DNS. Go's sprig panics on a name that does not resolve.
        ("getHostByName", |_, a| {
            arity("getHostByName", a, 1)?;
            text("")
        }),
    ];
    m.extend(table.iter().copied());
}
