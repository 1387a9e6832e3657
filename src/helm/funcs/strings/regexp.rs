//! sprig's regex functions over Go's RE2 semantics: patterns translated to
//! the regex crate's syntax (Go's `\d \w \s \b` are ASCII-only, `[` inside a
//! class is literal, `\Q..\E` quotes), Go's match iteration (empty matches
//! abutting a match are skipped), Go's `$1`/`${name}` expansion and Go's
//! error texts where the failure is a common one.

use regex::{Captures, Regex};

/// Translates a Go (RE2) pattern to the regex crate's syntax.
fn translate(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len() + 8);
    let mut chars = pat.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if e == 'Q' {
                    quote_until_e(&mut chars, &mut out);
                    continue;
                }
                out.push_str(&perl_class(e, in_class));
            }
            '[' if in_class => {
                if chars.peek() == Some(&':') {
                    // [:alpha:] inside a class: copy through its closing ':]'.
                    out.push('[');
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            ']' if in_class && !at_start => {
                in_class = false;
                out.push(']');
            }
            ']' if in_class => out.push_str("\\]"),
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Copies `\Q...\E` as escaped literal text.
fn quote_until_e(chars: &mut std::iter::Peekable<std::str::Chars>, out: &mut String) {
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'E') {
            chars.next();
            return;
        }
        out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
    }
}

/// An escape `\e`, with Go's ASCII-only Perl classes.
fn perl_class(e: char, in_class: bool) -> String {
    let (set, neg) = match e {
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        's' => ("\\t\\n\\x0C\\r ", false),
        'S' => ("\\t\\n\\x0C\\r ", true),
        'b' if !in_class => return "(?-u:\\b)".into(),
        'B' if !in_class => return "(?-u:\\B)".into(),
        e => return format!("\\{e}"),
    };
    match (neg, in_class) {
        (false, true) => set.into(),
        (false, false) => format!("[{set}]"),
        (true, _) => format!("[^{set}]"),
    }
}

/// Go's regexp.Compile, with Go's error text for the common failures.
pub fn compile(pat: &str) -> Result<Regex, String> {
    Regex::new(&translate(pat)).map_err(|e| go_error(pat, &e.to_string()))
}

/// The regex crate's message as Go's `error parsing regexp: CODE: `ARG``.
fn go_error(pat: &str, msg: &str) -> String {
    let code = if msg.contains("unclosed group") {
        "missing closing )".to_string()
    } else if msg.contains("unopened group") {
        "unexpected )".to_string()
    } else if msg.contains("unclosed character class") {
        let class = pat.rfind('[').map_or(pat, |i| &pat[i..]);
        return format!("error parsing regexp: missing closing ]: `{class}`");
    } else if msg.contains("repetition operator missing expression") {
        let op = pat.chars().find(|c| "*+?{".contains(*c)).unwrap_or('*');
        return format!("error parsing regexp: missing argument to repetition operator: `{op}`");
    } else if msg.contains("escape") {
        "invalid escape sequence".to_string()
    } else {
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or(msg);
        last.trim().trim_start_matches("error: ").to_string()
    };
    format!("error parsing regexp: {code}: `{pat}`")
}

/// The panic text of Go's regexp.MustCompile.
pub fn must_compile_error(pat: &str, err: &str) -> String {
    let q = if crate::gotmpl::format::can_backquote(pat) {
        format!("`{pat}`")
    } else {
        crate::gotmpl::format::quote(pat)
    };
    format!("regexp: Compile({q}): {err}")
}

/// Go's allMatches: up to `n` (all if n < 0) non-overlapping matches, an
/// empty match right after a match skipped.
pub fn all_matches(re: &Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut pos, mut prev_end) = (0usize, None);
    let n = if n < 0 { usize::MAX } else { n as usize };
    while out.len() < n && pos <= s.len() {
        let Some(m) = re.find_at(s, pos) else { break };
        let mut accept = true;
        if m.end() == pos {
            if Some(m.start()) == prev_end {
                accept = false;
            }
            pos += s[pos..].chars().next().map_or(1, char::len_utf8);
        } else {
            pos = m.end();
        }
        prev_end = Some(m.end());
        if accept {
            out.push((m.start(), m.end()));
        }
    }
    out
}

/// Go's Regexp.Split.
pub fn split(re: &Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in all_matches(re, s, n) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = b;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// Go's replaceAll loop; `literal` skips `$` expansion.
pub fn replace_all(re: &Regex, src: &str, repl: &str, literal: bool) -> String {
    let mut out = String::new();
    let (mut last_end, mut search) = (0usize, 0usize);
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        out.push_str(&src[last_end..m.start()]);
        if m.end() > last_end || m.start() == 0 {
            if literal {
                out.push_str(repl);
            } else {
                expand(&mut out, repl, re, &caps);
            }
        }
        last_end = m.end();
        let width = src[search..].chars().next().map_or(0, char::len_utf8);
        if search + width > m.end() {
            search += width;
        } else if search + 1 > m.end() {
            search += 1;
        } else {
            search = m.end();
        }
    }
    out.push_str(&src[last_end..]);
    out
}

/// Go's Regexp.expand: `$name`/`${name}`, names as long as letters, digits
/// and `_` go (`$1x` is the group named `1x`), `$$` a dollar.
fn expand(out: &mut String, template: &str, re: &Regex, caps: &Captures) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let num = if name.len() > 1 && name.starts_with('0') {
            None
        } else {
            name.parse::<usize>().ok()
        };
        let group = match num {
            Some(n) => caps.get(n),
            None if re.capture_names().flatten().any(|g| g == name) => caps.name(name),
            None => None,
        };
        if let Some(g) = group {
            out.push_str(g.as_str());
        }
    }
    out.push_str(rest);
}

/// Go's extract: a name after `$`, braced or not, and what follows.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if brace {
        let after = body[end..].strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, &body[end..]))
}
