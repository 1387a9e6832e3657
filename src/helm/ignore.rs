//! `.helmignore` rules as Helm 3.9's `internal/ignore` applies them when it
//! loads a chart directory: one shell glob per line (Go's `filepath.Match`),
//! `#` comments, a leading `!` negates, a trailing `/` matches directories
//! only, a leading `/` or any inner `/` matches the whole relative path,
//! otherwise only the base name; `**` is an error. Rules are tried in order
//! and the first that decides wins; a negated rule that does *not* match
//! ignores the path (Helm's behaviour, not git's). `templates/.?*` is always
//! added last (dotfiles in templates/).

/// The name of the file holding the rules, at the top of a chart.
pub const HELM_IGNORE: &str = ".helmignore";

/// Go's `filepath.ErrBadPattern`, for a rule that cannot compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A rule uses `**`.
    #[error("double-star (**) syntax is not supported")]
    DoubleStar,
    /// A rule is not a valid glob.
    #[error("syntax error in pattern")]
    BadPattern,
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: String,
    negate: bool,
    must_dir: bool,
    /// Matched against the base name only (the rule has no `/`).
    base_only: bool,
}

/// A parsed `.helmignore`.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

impl Rules {
    /// Parses the text of a `.helmignore` (a leading UTF-8 BOM is dropped).
    pub fn parse(text: &str) -> Result<Rules, IgnoreError> {
        let mut r = Rules::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for line in text.lines() {
            r.add(line)?;
        }
        Ok(r)
    }

    /// Adds Helm's default rule (`templates/.?*`).
    pub fn add_defaults(&mut self) {
        // A constant that always parses.
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, rule: &str) -> Result<(), IgnoreError> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(IgnoreError::DoubleStar);
        }
        go_match(rule, "abc")?;
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (must_dir, rule) = match rule.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (base_only, glob) = if let Some(r) = rule.strip_prefix('/') {
            (false, r)
        } else {
            (!rule.contains('/'), rule)
        };
        self.patterns.push(Pattern {
            glob: glob.to_string(),
            negate,
            must_dir,
            base_only,
        });
        Ok(())
    }

    /// Whether the chart-relative `path` (a directory when `is_dir`) is ignored.
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let name = if p.base_only {
                path.rsplit('/').next().unwrap_or(path)
            } else {
                path
            };
            let matched = go_match(&p.glob, name).unwrap_or(false);
            if p.negate {
                if (p.must_dir && !is_dir) || !matched {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Match` on Unix: `*` (not across `/`), `?`, `[...]` with
/// `^` negation and ranges, `\` escapes. Errors as Go does on bad patterns.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, IgnoreError> {
    let mut pat: Vec<char> = pattern.chars().collect();
    let mut name: Vec<char> = name.chars().collect();
    'pattern: while !pat.is_empty() {
        let (star, chunk, rest) = scan_chunk(&pat);
        pat = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&'/'));
        }
        let (t, ok, err) = match_chunk(&chunk, &name);
        if ok && (t.is_empty() || !pat.is_empty()) {
            name = t;
            continue;
        }
        if let Some(e) = err {
            return Err(e);
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                let (t, ok, err) = match_chunk(&chunk, &name[i + 1..]);
                if ok {
                    if pat.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if let Some(e) = err {
                    return Err(e);
                }
                i += 1;
            }
        }
        while !pat.is_empty() {
            let (_, chunk, rest) = scan_chunk(&pat);
            pat = rest;
            if let (_, _, Some(e)) = match_chunk(&chunk, &[]) {
                return Err(e);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(pat: &[char]) -> (bool, Vec<char>, Vec<char>) {
    let mut p = pat;
    let mut star = false;
    while let Some('*') = p.first() {
        p = &p[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, p[..i].to_vec(), p[i..].to_vec())
}

/// Go's matchChunk: the rest of `s` after `chunk`, whether it matched, and
/// a pattern error (found even after a failed match).
fn match_chunk(chunk: &[char], s: &[char]) -> (Vec<char>, bool, Option<IgnoreError>) {
    let (mut c, mut s) = (chunk, s);
    let mut failed = false;
    while !c.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c[0] {
            '[' => {
                let r = if failed { '\0' } else { s[0] };
                if !failed {
                    s = &s[1..];
                }
                c = &c[1..];
                let negated = c.first() == Some(&'^');
                if negated {
                    c = &c[1..];
                }
                let (mut matched, mut nrange) = (false, 0);
                loop {
                    if c.first() == Some(&']') && nrange > 0 {
                        c = &c[1..];
                        break;
                    }
                    let Some((lo, rest)) = get_esc(c) else {
                        return (Vec::new(), false, Some(IgnoreError::BadPattern));
                    };
                    c = rest;
                    let mut hi = lo;
                    if c.first() == Some(&'-') {
                        let Some((h, rest)) = get_esc(&c[1..]) else {
                            return (Vec::new(), false, Some(IgnoreError::BadPattern));
                        };
                        hi = h;
                        c = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                c = &c[1..];
            }
            ch => {
                let lit = if ch == '\\' {
                    c = &c[1..];
                    match c.first() {
                        Some(l) => *l,
                        None => return (Vec::new(), false, Some(IgnoreError::BadPattern)),
                    }
                } else {
                    ch
                };
                if !failed {
                    if lit != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                c = &c[1..];
            }
        }
    }
    if failed {
        return (Vec::new(), false, None);
    }
    (s.to_vec(), true, None)
}

/// One possibly escaped character of a class; `None` for Go's ErrBadPattern.
fn get_esc(c: &[char]) -> Option<(char, &[char])> {
    let first = *c.first()?;
    if first == '-' || first == ']' {
        return None;
    }
    let c = if first == '\\' { &c[1..] } else { c };
    let r = *c.first()?;
    let rest = &c[1..];
    if rest.is_empty() {
        return None;
    }
    Some((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_table() {
        let cases: &[(&str, &str, Result<bool, IgnoreError>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a/b", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[^c]", "abc", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a\\*b", "a*b", Ok(true)),
            ("[", "a", Err(IgnoreError::BadPattern)),
            ("[^", "a", Err(IgnoreError::BadPattern)),
            ("a[", "x", Err(IgnoreError::BadPattern)),
            ("*x", "xxx", Ok(true)),
            ("templates/.?*", "templates/.keep", Ok(true)),
            ("templates/.?*", "templates/a.yaml", Ok(false)),
        ];
        for (p, n, want) in cases {
            assert_eq!(&go_match(p, n), want, "{p} {n}");
        }
    }

    #[test]
    fn rules_table() {
        let text = "# comment\n\n*.tgz\n.git/\n/top.txt\nci/*.yaml\n";
        let r = Rules::parse(text).unwrap();
        let cases = [
            ("x.tgz", false, true),
            ("charts/x.tgz", false, true),
            (".git", true, true),
            (".git", false, false),
            ("top.txt", false, true),
            ("sub/top.txt", false, false),
            ("ci/a.yaml", false, true),
            ("ci/x/a.yaml", false, false),
            ("values.yaml", false, false),
        ];
        for (p, dir, want) in cases {
            assert_eq!(r.ignore(p, dir), want, "{p}");
        }
    }

    #[test]
    fn negation_ignores_non_matches() {
        let r = Rules::parse("!keep.txt\n").unwrap();
        assert!(!r.ignore("keep.txt", false));
        assert!(r.ignore("other.txt", false));
    }

    #[test]
    fn bad_rules() {
        assert_eq!(Rules::parse("a/**/b").unwrap_err(), IgnoreError::DoubleStar);
        assert_eq!(Rules::parse("[").unwrap_err(), IgnoreError::BadPattern);
    }
}
