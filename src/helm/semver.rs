//! Masterminds/semver v3 as Helm uses it outside templates: a chart's
//! `version` must parse as a version, a dependency's `version` is a range
//! its chart must satisfy (`chartutil.IsCompatibleRange`), and a kube version
//! string becomes `.Capabilities.KubeVersion`.

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

/// A parsed version (loose: an optional `v`, minor and patch optional).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Patch number.
    pub patch: u64,
    /// Prerelease, without its `-`.
    pub pre: String,
    /// Build metadata, without its `+`.
    pub meta: String,
}

const VERSION: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CONSTRAINT_VERSION: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Regexes {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn regexes() -> &'static Regexes {
    static R: OnceLock<Regexes> = OnceLock::new();
    R.get_or_init(|| {
        let cv = CONSTRAINT_VERSION;
        let build = |s: String| Regex::new(&s).unwrap_or_else(|_| unreachable!("constant regex"));
        Regexes {
            version: build(format!("^{VERSION}$")),
            constraint: build(format!(r"^\s*({OPS})\s*({cv})\s*$")),
            range: build(format!(r"\s*({cv})\s+-\s+({cv})\s*")),
            find: build(format!(r"({OPS})\s*({cv})")),
            valid: build(format!(r"^(\s*({OPS})\s*({cv})\s*\,?)+$")),
        }
    })
}

impl Version {
    /// semver.NewVersion: `None` when `s` is not a version.
    pub fn parse(s: &str) -> Option<Version> {
        let m = regexes().version.captures(s)?;
        let num = |i: usize| -> Option<u64> {
            match m.get(i) {
                Some(g) => g.as_str().trim_start_matches('.').parse().ok(),
                None => Some(0),
            }
        };
        Some(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre: m.get(5).map_or("", |g| g.as_str()).to_string(),
            meta: m.get(8).map_or("", |g| g.as_str()).to_string(),
        })
    }

    /// The version as Masterminds prints it (`1.2.3-pre+meta`, no `v`).
    pub fn to_plain(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            s.push('+');
            s.push_str(&self.meta);
        }
        s
    }

    /// Precedence order (build metadata ignored).
    pub fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| compare_pre(&self.pre, &o.pre))
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(i), Ok(j)) => i.cmp(&j),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// One comparison of a range, with which parts were wildcards.
struct Constraint {
    op: String,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Option<Constraint> {
    let m = regexes().constraint.captures(c)?;
    let g = |i: usize| m.get(i).map_or("", |g| g.as_str());
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let (mut ver, mut minor_dirty, mut patch_dirty, mut dirty) =
        (g(2).to_string(), false, false, false);
    if is_x(major) || major.is_empty() {
        ver = "0.0.0".into();
        dirty = true;
    } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
        (minor_dirty, dirty) = (true, true);
        ver = format!("{major}.0.0{pre}");
    } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
        (patch_dirty, dirty) = (true, true);
        ver = format!("{major}{minor}.0{pre}");
    }
    Some(Constraint {
        op: g(1).to_string(),
        con: Version::parse(&ver)?,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

impl Constraint {
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        let cmp = v.compare(c);
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => cmp == Ordering::Equal,
            "!=" => !self.not_equal_fails(v),
            ">" if !self.dirty => cmp == Ordering::Greater,
            ">" => {
                if v.major != c.major {
                    v.major > c.major
                } else if self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    cmp == Ordering::Greater
                }
            }
            "<" => cmp == Ordering::Less,
            ">=" | "=>" => cmp != Ordering::Less,
            "<=" | "=<" if !self.dirty => cmp != Ordering::Greater,
            "<=" | "=<" => {
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn not_equal_fails(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return false;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return false;
            } else if self.minor_dirty {
                return true;
            } else if c.patch != v.patch && !self.patch_dirty {
                return false;
            } else if self.patch_dirty {
                return compare_pre(&v.pre, &c.pre) == Ordering::Equal;
            }
        }
        v.compare(c) == Ordering::Equal
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        c.patch == v.patch
    }
}

/// A range: alternatives (`||`) of comparisons that must all hold.
struct Constraints(Vec<Vec<Constraint>>);

fn parse_constraints(c: &str) -> Option<Constraints> {
    let r = regexes();
    let mut text = c.to_string();
    for m in r.range.captures_iter(c) {
        let (all, lo, hi) = (m.get(0)?.as_str(), m.get(1)?.as_str(), m.get(11)?.as_str());
        text = text.replacen(all, &format!(">= {lo}, <= {hi}"), 1);
    }
    let mut ors = Vec::new();
    for part in text.split("||") {
        if !r.valid.is_match(part) {
            return None;
        }
        let found: Vec<&str> = r.find.find_iter(part).map(|m| m.as_str()).collect();
        let found = if found.is_empty() { vec![part] } else { found };
        let ands = found
            .into_iter()
            .map(parse_constraint)
            .collect::<Option<Vec<_>>>()?;
        ors.push(ands);
    }
    Some(Constraints(ors))
}

/// chartutil.IsCompatibleRange: whether `version` parses and satisfies the
/// range `constraint` (false when either does not parse).
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let (Some(v), Some(cs)) = (Version::parse(version), parse_constraints(constraint)) else {
        return false;
    };
    cs.0.iter().any(|ands| ands.iter().all(|c| c.check(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let cases = [
            ("2.x.x", "2.31.10", true),
            ("2.x.x", "3.0.0", false),
            ("~3.13.1", "3.13.5", true),
            ("~3.13.1", "3.14.0", false),
            (">=4.0.0", "4.56.1", true),
            ("8.4.*", "8.4.2", true),
            ("8.4.*", "8.5.0", false),
            ("v1.16.2", "v1.16.2", true),
            ("0.0.25", "0.0.25", true),
            ("^1.2.0", "1.9.0", true),
            ("^1.2.0", "2.0.0", false),
            ("^0.2.0", "0.2.5", true),
            ("^0.2.0", "0.3.0", false),
            ("1.0.0 - 2.0.0", "1.5.0", true),
            (">1.0, <2", "1.5.0", true),
            ("<1.0.0 || >=3", "3.1.0", true),
            ("*", "1.0.0", true),
            ("1.2.3", "1.2.3-beta", false),
            ("", "1.2.3", false),
            ("junk", "1.2.3", false),
            ("1.2.3", "notaversion", false),
        ];
        for (c, v, want) in cases {
            assert_eq!(is_compatible_range(c, v), want, "{c} vs {v}");
        }
    }

    #[test]
    fn versions() {
        let cases = [
            ("v1.22.15", Some("1.22.15")),
            ("1.22", Some("1.22.0")),
            ("1", Some("1.0.0")),
            ("1.2.3-rc.1+b", Some("1.2.3-rc.1+b")),
            ("1.2.3.4", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(
                Version::parse(s).map(|v| v.to_plain()).as_deref(),
                want,
                "{s}"
            );
        }
    }
}
