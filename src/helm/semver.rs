//! Masterminds/semver v3.1.1 as Helm 3.9.4 uses it: a chart's `version`
//! must parse (semver.NewVersion), a dependency's `version` is a range its
//! chart must satisfy (`chartutil.IsCompatibleRange`), a kube version string
//! becomes `.Capabilities.KubeVersion`, and sprig's `semver`/`semverCompare`
//! (in [`super::funcs`]) parse and compare with the same rules: `v`
//! prefixes, partial versions (`1.20` is 1.20.0), operators
//! `= != > < >= => <= =< ~ ~> ^`, wildcards (`1.2.x`, `*`), `A - B` ranges,
//! `,` (and) and `||` (or). A version with a prerelease matches only
//! constraints that have one (`>=1.21-0`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

/// Go's `\s` (RE2: ASCII whitespace only).
const WS: &str = r"[\t\n\f\r ]";
const VERSION: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
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
        let re = |s: String| Regex::new(&s).unwrap_or_else(|e| panic!("semver regex: {e}"));
        Regexes {
            version: re(format!("^{VERSION}$")),
            constraint: re(format!("^{WS}*({OPS}){WS}*({CV}){WS}*$")),
            range: re(format!("{WS}*({CV}){WS}+-{WS}+({CV}){WS}*")),
            find: re(format!("({OPS}){WS}*({CV})")),
            valid: re(format!("^({WS}*({OPS}){WS}*({CV}){WS}*,?)+$")),
        }
    })
}

/// A parsed version (semver.Version).
#[derive(Clone, Debug, PartialEq)]
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
    pub metadata: String,
    /// The text parsed (`v1.2`).
    pub original: String,
}

const ALLOWED: fn(char) -> bool = |c| c.is_ascii_alphanumeric() || c == '-';

impl Version {
    /// semver.NewVersion, with its error texts.
    pub fn parse(v: &str) -> Result<Version, String> {
        let m = regexes()
            .version
            .captures(v)
            .ok_or("Invalid Semantic Version")?;
        let group = |i: usize| m.get(i).map(|g| g.as_str()).unwrap_or("");
        let seg = |i: usize| -> Result<u64, String> {
            let s = group(i).trim_start_matches('.');
            if s.is_empty() {
                return Ok(0);
            }
            s.parse().map_err(|_| {
                format!("Error parsing version segment: strconv.ParseUint: parsing {s:?}: value out of range")
            })
        };
        let pre = group(5).to_string();
        let metadata = group(8).to_string();
        let version = Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre,
            metadata,
            original: v.to_string(),
        };
        for p in version.pre.split('.').filter(|_| !version.pre.is_empty()) {
            if p.chars().all(|c| c.is_ascii_digit()) {
                if p.len() > 1 && p.starts_with('0') {
                    return Err("Version segment starts with 0".into());
                }
            } else if !p.chars().all(ALLOWED) {
                return Err("Invalid Prerelease string".into());
            }
        }
        Ok(version)
    }

    /// Version.Compare (metadata ignored).
    pub fn compare(&self, o: &Version) -> Ordering {
        let nums = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        if nums != Ordering::Equal {
            return nums;
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_prerelease(&self.pre, &o.pre),
        }
    }

    /// Version.String: `1.2.3-pre+meta`, no `v`.
    pub fn to_plain(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s += &format!("-{}", self.pre);
        }
        if !self.metadata.is_empty() {
            s += &format!("+{}", self.metadata);
        }
        s
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (ap, bp): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..ap.len().max(bp.len()) {
        let d = compare_pre_part(ap.get(i).unwrap_or(&""), bp.get(i).unwrap_or(&""));
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => s.cmp(o),
        (_, Err(_)) => Ordering::Less,
        (Err(_), _) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

/// One `OP VERSION` of a constraint.
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, String> {
        let m = regexes()
            .constraint
            .captures(c)
            .ok_or_else(|| format!("improper constraint: {c}"))?;
        let g = |i: usize| m.get(i).map(|x| x.as_str()).unwrap_or("");
        let (minor, patch) = (g(4).trim_start_matches('.'), g(5).trim_start_matches('.'));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let ver = if is_x(g(3)) || g(3).is_empty() {
            dirty = true;
            "0.0.0".to_string()
        } else if is_x(minor) || g(4).is_empty() {
            (dirty, minor_dirty) = (true, true);
            format!("{}.0.0{}", g(3), g(6))
        } else if is_x(patch) || g(5).is_empty() {
            (dirty, patch_dirty) = (true, true);
            format!("{}{}.0{}", g(3), g(4), g(6))
        } else {
            g(2).to_string()
        };
        let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
        Ok(Constraint {
            op: g(1).to_string(),
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        if !v.pre.is_empty() && c.pre.is_empty() {
            // Every operator refuses a prerelease against a release constraint
            // (`!=` only when dirty; otherwise it compares).
            if self.op != "!=" || self.dirty {
                return false;
            }
        }
        let cmp = v.compare(c);
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => cmp == Ordering::Equal,
            "!=" => self.not_equal(v),
            ">" => self.greater(v),
            "<" => cmp == Ordering::Less,
            ">=" | "=>" => cmp != Ordering::Less,
            "<=" | "=<" => self.less_equal(v),
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) == Ordering::Greater;
        }
        if v.major != c.major {
            return v.major > c.major;
        }
        if self.minor_dirty {
            return false;
        }
        if self.patch_dirty {
            return v.minor > c.minor;
        }
        v.compare(c) == Ordering::Greater
    }

    fn less_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) != Ordering::Greater;
        }
        if v.major > c.major {
            return false;
        }
        !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
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

/// semver.NewConstraint: `||`-separated groups of `,`/space-separated
/// constraints.
pub fn parse_constraints(text: &str) -> Result<Constraints, String> {
    let r = regexes();
    let mut rewritten = text.to_string();
    for m in r.range.captures_iter(text) {
        let (Some(all), Some(a), Some(b)) = (m.get(0), m.get(1), m.get(11)) else {
            continue;
        };
        let with = format!(">= {}, <= {}", a.as_str(), b.as_str());
        rewritten = rewritten.replacen(all.as_str(), &with, 1);
    }
    let mut ors = Vec::new();
    for part in rewritten.split("||") {
        if !r.valid.is_match(part) {
            return Err(format!("improper constraint: {part}"));
        }
        let found: Vec<&str> = r.find.find_iter(part).map(|m| m.as_str()).collect();
        let found = if found.is_empty() { vec![part] } else { found };
        ors.push(
            found
                .into_iter()
                .map(Constraint::parse)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(Constraints(ors))
}

/// A parsed range: alternatives (`||`) of comparisons that must all hold.
pub struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    /// Constraints.Check: whether `v` satisfies the range.
    pub fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|group| group.iter().all(|c| c.check(v)))
    }
}

/// chartutil.IsCompatibleRange: whether `version` parses and satisfies the
/// range `constraint` (false when either does not parse).
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    match (parse_constraints(constraint), Version::parse(version)) {
        (Ok(cs), Ok(v)) => cs.check(&v),
        _ => false,
    }
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
                Version::parse(s).ok().map(|v| v.to_plain()).as_deref(),
                want,
                "{s}"
            );
        }
    }
}
