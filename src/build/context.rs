//! The build context: the ignore file (`.sealerignore`, else `.dockerignore`),
//! glob patterns, and finding COPY sources without leaving the context.
//! Context paths are bytes (a name need not be UTF-8); patterns are text.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{invalid, IoContext, Result};

/// Ignore rules, Docker's semantics: the last matching pattern wins, `!`
/// re-includes, `**` matches any number of directories, and a pattern that
/// matches a directory matches everything below it.
#[derive(Default)]
pub struct Ignore {
    rules: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    /// Reads the context's ignore file, if any.
    pub fn load(context: &Path) -> Result<Ignore> {
        for name in [".sealerignore", ".dockerignore"] {
            let path = context.join(name);
            if path.is_file() {
                let text = fs::read_to_string(&path).at(&path)?;
                return Ok(Ignore::parse(&text));
            }
        }
        Ok(Ignore::default())
    }

    /// Parses ignore file text.
    pub fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (negate, pat) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let parts = pat
                    .split('/')
                    .filter(|p| !p.is_empty() && *p != ".")
                    .map(String::from)
                    .collect();
                (negate, parts)
            })
            .collect();
        Ignore { rules }
    }

    /// Whether the context-relative path `rel` (slash-separated) is excluded.
    pub fn ignored(&self, rel: &[u8]) -> bool {
        let parts: Vec<&[u8]> = rel
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        let mut excluded = false;
        for (negate, pat) in &self.rules {
            let hit = (1..=parts.len()).any(|n| match_parts(pat, &parts[..n]));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

fn match_parts(pat: &[String], path: &[&[u8]]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => {
            (0..=path.len()).any(|skip| match_parts(rest, &path[skip..]))
        }
        Some((p, rest)) => {
            !path.is_empty() && fnmatch(p.as_bytes(), path[0]) && match_parts(rest, &path[1..])
        }
    }
}

/// Shell-style match of one path component: `*`, `?`, `[a-z]`, `[!x]`, `\`.
pub fn fnmatch(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| fnmatch(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && fnmatch(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = name.split_first() else {
                return false;
            };
            let Some(end) = rest.iter().skip(1).position(|&b| b == b']').map(|i| i + 1) else {
                return c == b'[' && fnmatch(rest, tail);
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let (negate, class) = match class.first() {
                Some(b'!' | b'^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && fnmatch(after, tail)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && fnmatch(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && fnmatch(rest, &name[1..]),
    }
}

/// Expands a COPY source (maybe a glob) to context-relative paths that
/// exist and are not ignored. `..` may not leave the context.
pub fn find_sources(context: &Path, ignore: &Ignore, source: &str) -> Result<Vec<Vec<u8>>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in Path::new(source).components() {
        match c {
            Component::Normal(p) => parts.push(p.as_bytes()),
            Component::ParentDir if parts.pop().is_some() => {}
            Component::ParentDir => {
                return Err(invalid(format!(
                    "COPY source {source:?} is outside the build context"
                )))
            }
            _ => {}
        }
    }
    let mut found: Vec<Vec<u8>> = vec![Vec::new()];
    for part in &parts {
        let mut next = Vec::new();
        for base in &found {
            let dir = context.join(OsStr::from_bytes(base));
            if has_glob(part) {
                let Ok(rd) = fs::read_dir(&dir) else { continue };
                let mut names: Vec<Vec<u8>> = rd
                    .flatten()
                    .map(|e| e.file_name().as_bytes().to_vec())
                    .collect();
                names.sort();
                for n in names.into_iter().filter(|n| fnmatch(part, n)) {
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
        return Err(invalid(format!(
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
        return Err(invalid(format!(
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
    fn fnmatch_table() {
        let cases = [
            ("*.json", "daemon.json", true),
            ("*.json", "a.yaml", false),
            ("k?be*", "kubeadm", true),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("\\*", "*", true),
            ("*", "", true),
            ("a*b*c", "aXXbYc", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(fnmatch(p.as_bytes(), n.as_bytes()), want, "{p} vs {n}");
        }
    }

    #[test]
    fn ignore_rules() {
        let ig = Ignore::parse("# c\n*.log\nbuild/\n!build/keep\n**/tmp\n");
        let cases = [
            ("a.log", true),
            ("sub/a.log", false),
            ("build/x", true),
            ("build/keep", false),
            ("a/b/tmp/c", true),
            ("etc/x", false),
        ];
        for (p, want) in cases {
            assert_eq!(ig.ignored(p.as_bytes()), want, "{p}");
        }
    }
}
