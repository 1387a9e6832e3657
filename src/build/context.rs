//! The build context: the ignore file (`.sealerignore`, else `.dockerignore`),
//! glob patterns, and finding COPY sources without leaving the context.
//! Context paths are bytes (a name need not be UTF-8); patterns are text.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::error::{Error, IoContext, Result};

/// Ignore rules, Docker's semantics: the last matching pattern wins, `!`
/// re-includes, `**` matches any number of directories, and a pattern that
/// matches a directory matches everything below it.
#[derive(Default)]
pub struct Ignore {
    /// Two globs per rule: the pattern, and everything below what it matches.
    set: GlobSet,
    /// Per rule: whether it re-includes (`!`).
    negate: Vec<bool>,
}

impl Ignore {
    /// Reads the context's ignore file, if any.
    pub fn load(context: &Path) -> Result<Ignore> {
        for name in [".sealerignore", ".dockerignore"] {
            let path = context.join(name);
            if path.is_file() {
                let text = fs::read_to_string(&path).at(&path)?;
                return Ignore::parse(&text)
                    .map_err(|e| Error::Source(format!("{}: {e}", path.display())));
            }
        }
        Ok(Ignore::default())
    }

    /// Parses ignore file text.
    pub fn parse(text: &str) -> Result<Ignore> {
        let mut set = GlobSetBuilder::new();
        let mut negate = Vec::new();
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        for line in lines {
            let (neg, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let mut parts: Vec<&str> = pat
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            // A trailing `**` may match no directory, and what lies below a
            // match is matched anyway: it changes nothing.
            while parts.last() == Some(&"**") {
                parts.pop();
            }
            let glob = if parts.is_empty() && pat.split('/').any(|p| p == "**") {
                "**".to_string()
            } else if parts.is_empty() {
                // Names the context itself ("/", "."): matches no path.
                "[/]".to_string()
            } else {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| {
                        if *p == "**" {
                            p.to_string()
                        } else {
                            glob_text(p)
                        }
                    })
                    .collect();
                parts.join("/")
            };
            set.add(compile(&glob, line)?);
            set.add(compile(&format!("{glob}/**"), line)?);
            negate.push(neg);
        }
        let set = set
            .build()
            .map_err(|e| Error::Source(format!("ignore patterns: {e}")))?;
        Ok(Ignore { set, negate })
    }

    /// Whether the context-relative path `rel` (slash-separated) is excluded.
    pub fn ignored(&self, rel: &[u8]) -> bool {
        let parts: Vec<&[u8]> = rel
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() || self.negate.is_empty() {
            return false;
        }
        let path = parts.join(&b'/');
        let last = self.set.matches(Path::new(OsStr::from_bytes(&path)));
        match last.iter().max() {
            Some(glob) => !self.negate[glob / 2],
            None => false,
        }
    }
}

/// A glob over one path component (a COPY source's `*`, `?`, `[a-z]`,
/// `[!x]`, `\` escapes), matched by [`Pattern::matches`] on bytes.
pub struct Pattern(GlobMatcher);

impl Pattern {
    /// Compiles one component's pattern.
    pub fn new(pat: &str) -> Result<Pattern> {
        Ok(Pattern(compile(&glob_text(pat), pat)?.compile_matcher()))
    }

    /// Whether the name `name` (one component, any bytes) matches.
    pub fn matches(&self, name: &[u8]) -> bool {
        self.0.is_match(Path::new(OsStr::from_bytes(name)))
    }
}

/// A glob as Dockerfiles mean it (Go's `filepath.Match`): `*` and `?` never
/// match `/`. globset matches by automaton, so no pattern backtracks.
fn compile(glob: &str, written: &str) -> Result<Glob> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| Error::Source(format!("bad pattern {written:?}: {e}")))
}

/// One component of our glob syntax in globset's: `*` (a run of them is
/// one), `?`, `\x`; `[...]` closes at the first `]` after its first
/// character, `!`/`^` negates, `a-z` is a range (a reversed one matches
/// nothing), a `[` that does not close is literal, and so is a trailing `\`.
/// globset's own syntax (`{a,b}`, `[[:alpha:]]`, `]`/`-` rules) never shows
/// through: literals are escaped and a class is rewritten from its members.
fn glob_text(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                out.push('*');
                while chars.get(i + 1) == Some(&'*') {
                    i += 1;
                }
            }
            '?' => out.push('?'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                push_literal(&mut out, chars[i]);
            }
            '[' => match chars[i + 1..].iter().skip(1).position(|&c| c == ']') {
                Some(end) => {
                    let class = &chars[i + 1..i + 2 + end];
                    push_class(&mut out, class);
                    i += 2 + end;
                }
                None => push_literal(&mut out, '['),
            },
            c => push_literal(&mut out, c),
        }
        i += 1;
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() {
        out.push('\\');
    }
    out.push(c);
}

/// Writes the class whose text (between `[` and `]`) is `class`.
fn push_class(out: &mut String, class: &[char]) {
    let (negated, class) = match class.first() {
        Some('!' | '^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            if class[i] <= class[i + 2] {
                ranges.push((class[i], class[i + 2]));
            }
            i += 3;
        } else {
            ranges.push((class[i], class[i]));
            i += 1;
        }
    }
    if ranges.is_empty() {
        // Nothing to match ("[/]" never matches, `/` being a separator), or
        // anything but nothing.
        out.push_str(if negated { "?" } else { "[/]" });
        return;
    }
    // globset reads `]` and `-` literally only first in a class, so every
    // member is written as its own class (or escaped literal) of one
    // alternation; a negated class cannot be split, and never holds `]`
    // (the first `]` after `!` closes it): only `-` needs placing first.
    if negated {
        // One member starting at `-` (the widest), first; then `lo-hi` each.
        let dash = ranges.iter().filter(|r| r.0 == '-').map(|r| r.1).max();
        out.push_str("[!");
        if let Some(hi) = dash {
            out.push('-');
            if hi != '-' {
                out.extend(['-', hi]);
            }
        }
        for &(lo, hi) in ranges.iter().filter(|r| r.0 != '-') {
            out.extend([lo, '-', hi]);
        }
        out.push(']');
        return;
    }
    out.push('{');
    for (n, &(lo, hi)) in ranges.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        if lo == hi {
            push_literal(out, lo);
        } else if lo == '!' || lo == '^' {
            // `[!-x]` would read as negated: the first member apart.
            push_literal(out, lo);
            out.push(',');
            out.extend(['[', char_after(lo), '-', hi, ']']);
        } else {
            out.extend(['[', lo, '-', hi, ']']);
        }
    }
    out.push('}');
}

fn char_after(c: char) -> char {
    char::from_u32(c as u32 + 1).unwrap_or(c)
}

/// Expands a COPY source (maybe a glob) to context-relative paths that
/// exist and are not ignored. `..` may not leave the context.
pub fn find_sources(context: &Path, ignore: &Ignore, source: &str) -> Result<Vec<Vec<u8>>> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(source).components() {
        match c {
            // A component of a `&str` is UTF-8.
            Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
            Component::ParentDir if parts.pop().is_some() => {}
            Component::ParentDir => {
                return Err(Error::Source(format!(
                    "COPY source {source:?} is outside the build context"
                )))
            }
            _ => {}
        }
    }
    let mut found: Vec<Vec<u8>> = vec![Vec::new()];
    for part in &parts {
        let pattern = has_glob(part.as_bytes())
            .then(|| Pattern::new(part))
            .transpose()?;
        let part = part.as_bytes();
        let mut next = Vec::new();
        for base in &found {
            let dir = context.join(OsStr::from_bytes(base));
            if let Some(pattern) = &pattern {
                let Ok(rd) = fs::read_dir(&dir) else { continue };
                let mut names: Vec<Vec<u8>> = rd
                    .flatten()
                    .map(|e| e.file_name().as_bytes().to_vec())
                    .collect();
                names.sort();
                for n in names.into_iter().filter(|n| pattern.matches(n)) {
                    next.push(join_rel(base, &n));
                }
            } else if fs::symlink_metadata(dir.join(OsStr::from_bytes(part))).is_ok() {
                next.push(join_rel(base, part));
            }
        }
        found = next;
    }
    found.retain(|rel| !ignore.ignored(rel));
    if found.is_empty() {
        return Err(Error::Source(format!(
            "COPY source {source:?}: no such file or directory in the build context"
        )));
    }
    Ok(found)
}

fn has_glob(s: &[u8]) -> bool {
    s.iter().any(|b| b"*?[".contains(b))
}

/// `base/name`, or `name` at the top.
pub fn join_rel(base: &[u8], name: &[u8]) -> Vec<u8> {
    if base.is_empty() {
        name.to_vec()
    } else {
        [base, b"/", name].concat()
    }
}

/// The real path of a context-relative source, refusing one that a symlink
/// takes outside the context.
pub fn inside_context(context_real: &Path, rel: &[u8]) -> Result<PathBuf> {
    let path = context_real.join(OsStr::from_bytes(rel));
    let real = fs::canonicalize(&path).at(&path)?;
    if !real.starts_with(context_real) {
        return Err(Error::Source(format!(
            "COPY source {:?} leads outside the build context (to {})",
            String::from_utf8_lossy(rel),
            real.display()
        )));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_table() {
        let cases = [
            ("*.json", "daemon.json", true),
            ("*.json", "a.yaml", false),
            ("k?be*", "kubeadm", true),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("\\*", "*", true),
            ("*", "", true),
            ("a*b*c", "aXXbYc", true),
            // What the matcher did before globset, kept.
            ("a**b", "aXb", true),
            ("**", "x", true),
            ("[!a-c]x", "dx", true),
            ("[^a]", "b", true),
            ("[]a]", "]", true),
            ("[]a]", "a", true),
            ("[]-a]", "^", true),
            ("[a-]", "-", true),
            ("[-a]", "-", true),
            ("[!-a]", "-", false),
            ("[!-a]", "b", true),
            ("[!+--]", ",", false),
            ("[!+--]", "x", true),
            ("[!!]", "!", false),
            ("[!-]", "x", true),
            ("[!!-#]", "\"", false),
            ("[!-#]", "\"", true),
            ("[!-#]", "a", true),
            ("[c-a]", "b", false),
            ("[!]", "x", true),
            ("[[:alpha:]]", "a:]", false),
            ("[[:alpha:]]", "[]", true),
            ("a[b", "a[b", true),
            ("{a,b}", "{a,b}", true),
            ("{a,b}", "a", false),
            ("a\\", "a\\", true),
            ("\\[x]", "[x]", true),
            ("?", "\u{e9}", false),
            ("??", "\u{e9}", true),
        ];
        for (p, n, want) in cases {
            let pattern = Pattern::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(pattern.matches(n.as_bytes()), want, "{p} vs {n}");
        }
        let pattern = Pattern::new("a*?").expect("compiles");
        assert!(pattern.matches(b"a\x80\xff"), "names are bytes, not UTF-8");
    }

    #[test]
    fn a_pattern_that_backtracked_matches_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = "a".repeat(39) + "b";
        assert_eq!(name.len(), 40);
        fs::write(dir.path().join(&name), b"").expect("write");
        fs::write(dir.path().join("a".repeat(40)), b"").expect("write");
        let pattern = "*a*a*a*a*a*a*a*a*a*a*b";
        let found = find_sources(dir.path(), &Ignore::default(), pattern).expect("matches");
        assert_eq!(found, vec![name.as_bytes().to_vec()]);
        let ignore = Ignore::parse(pattern).expect("parses");
        assert!(ignore.ignored(name.as_bytes()));
        assert!(!ignore.ignored("a".repeat(40).as_bytes()));
    }

    #[test]
    fn ignore_rules() {
        let ig =
            Ignore::parse("# c\n*.log\nbuild/\n!build/keep\n**/tmp\nx/**\n/\n").expect("parses");
        let cases = [
            ("a.log", true),
            ("sub/a.log", false),
            ("build/x", true),
            ("build/keep", false),
            ("a/b/tmp/c", true),
            ("etc/x", false),
            ("x", true),
            ("x/y/z", true),
            ("xy", false),
            ("", false),
        ];
        for (p, want) in cases {
            assert_eq!(ig.ignored(p.as_bytes()), want, "{p}");
        }
    }
}
