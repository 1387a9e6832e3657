//! sprig's `semver` and `semverCompare`, as Masterminds/semver v3.1.1
//! parses versions and checks constraints: `v` prefixes, partial versions
//! (`1.20` is 1.20.0), operators `= != > < >= => <= =< ~ ~> ^`, wildcards
//! (`1.2.x`, `*`), `A - B` ranges, `,` (and) and `||` (or). A version with
//! a prerelease matches only constraints that have one (`>=1.21-0`).

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::OnceLock;

use regex::Regex;

use super::convert::{arity, want_str};
use crate::gotmpl::{FuncMap, Host, Object, Value};

pub(super) fn register(m: &mut FuncMap) {
    m.insert("semver", semver);
    m.insert("semverCompare", semver_compare);
}

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
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
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

    fn string(&self) -> String {
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
fn parse_constraints(text: &str) -> Result<Vec<Vec<Constraint>>, String> {
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
    Ok(ors)
}

/// `semverCompare CONSTRAINT VERSION`.
fn semver_compare(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("semverCompare", args, 2)?;
    let constraints = parse_constraints(want_str(&args[0])?)?;
    let v = Version::parse(want_str(&args[1])?)?;
    let ok = constraints
        .iter()
        .any(|group| group.iter().all(|c| c.check(&v)));
    Ok(Value::Bool(ok))
}

/// `semver VERSION`: a *semver.Version with Major, Minor, ... methods.
fn semver(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("semver", args, 1)?;
    let v = Version::parse(want_str(&args[0])?)?;
    Ok(Value::Object(Rc::new(VersionObject { v, ptr: true })))
}

/// A Version in a template (`*semver.Version`, or `semver.Version` as the
/// `Inc*` methods return it).
struct VersionObject {
    v: Version,
    ptr: bool,
}

impl VersionObject {
    fn value(v: Version) -> Value {
        Value::Object(Rc::new(VersionObject { v, ptr: false }))
    }

    /// The version an argument stands for (another Version, printed).
    fn other(arg: &Value) -> Result<Version, String> {
        match arg {
            Value::Object(o) if o.type_name().ends_with("semver.Version") => {
                Version::parse(&o.print())
            }
            v => Err(super::convert::wrong_type("*semver.Version", v)),
        }
    }

    fn inc(&self, part: u8) -> Version {
        let mut n = self.v.clone();
        match part {
            0 => (n.major, n.minor, n.patch) = (n.major + 1, 0, 0),
            1 => (n.minor, n.patch) = (n.minor + 1, 0),
            _ if n.pre.is_empty() => n.patch += 1,
            _ => {}
        }
        n.pre.clear();
        n.metadata.clear();
        let prefix = if self.v.original.starts_with('v') {
            "v"
        } else {
            ""
        };
        n.original = format!("{prefix}{}", n.string());
        n
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let want = match name {
            "LessThan" | "GreaterThan" | "Equal" | "Compare" => 1,
            _ => 0,
        };
        arity(name, args, want)?;
        let v = &self.v;
        Ok(match name {
            "Major" => Value::Int(v.major as i64),
            "Minor" => Value::Int(v.minor as i64),
            "Patch" => Value::Int(v.patch as i64),
            "Prerelease" => Value::from(v.pre.as_str()),
            "Metadata" => Value::from(v.metadata.as_str()),
            "Original" => Value::from(v.original.as_str()),
            "String" => Value::from(v.string()),
            "IncMajor" => VersionObject::value(self.inc(0)),
            "IncMinor" => VersionObject::value(self.inc(1)),
            "IncPatch" => VersionObject::value(self.inc(2)),
            _ => {
                let o = VersionObject::other(&args[0])?;
                let c = v.compare(&o);
                match name {
                    "LessThan" => Value::Bool(c == Ordering::Less),
                    "GreaterThan" => Value::Bool(c == Ordering::Greater),
                    "Equal" => Value::Bool(c == Ordering::Equal),
                    _ => Value::Int(c as i64),
                }
            }
        })
    }
}

impl Object for VersionObject {
    fn type_name(&self) -> &str {
        if self.ptr {
            "*semver.Version"
        } else {
            "semver.Version"
        }
    }

    fn kind(&self) -> &str {
        if self.ptr {
            "ptr"
        } else {
            "struct"
        }
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        const METHODS: [&str; 14] = [
            "Major",
            "Minor",
            "Patch",
            "Prerelease",
            "Metadata",
            "Original",
            "String",
            "IncMajor",
            "IncMinor",
            "IncPatch",
            "LessThan",
            "GreaterThan",
            "Equal",
            "Compare",
        ];
        METHODS.contains(&name).then(|| self.call(name, args))
    }

    /// Version.MarshalJSON: its String().
    fn to_data(&self) -> Value {
        Value::from(self.v.string())
    }

    fn print(&self) -> String {
        self.v.string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::convert::tests::{call, check, s, Case};
    use super::*;

    fn cmp(c: &str, v: &str, want: Result<bool, &str>) -> Case {
        (
            "semverCompare",
            vec![s(c), s(v)],
            want.map(Value::Bool).map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn semver_compare_cases() {
        let cases: Vec<Case> = vec![
            cmp(">=1.21-0", "v1.20.0", Ok(false)),
            cmp(">=1.21-0", "v1.21.0", Ok(true)),
            cmp(">=1.21-0", "v1.21.3-gke.100", Ok(true)),
            cmp(">=1.21", "v1.21.3-gke.100", Ok(false)),
            cmp(">=1.19-0", "1.25.0+k3s1", Ok(true)),
            cmp("<1.25-0", "v1.24.9", Ok(true)),
            cmp("<1.25-0", "v1.25.0", Ok(false)),
            cmp("<1.25-0", "v1.25.0-rc.1", Ok(false)),
            cmp("<1.25", "v1.24.0-rc.1", Ok(false)),
            cmp("^1.2", "1.9.0", Ok(true)),
            cmp("^1.2", "2.0.0", Ok(false)),
            cmp("^0.2.3", "0.2.9", Ok(true)),
            cmp("^0.2.3", "0.3.0", Ok(false)),
            cmp("~1.2.3", "1.2.9", Ok(true)),
            cmp("~1.2.3", "1.3.0", Ok(false)),
            cmp("~1", "1.9.0", Ok(true)),
            cmp("1.2.x", "1.2.7", Ok(true)),
            cmp("1.2.x", "1.3.0", Ok(false)),
            cmp("*", "5.0.0", Ok(true)),
            cmp("*", "5.0.0-beta", Ok(false)),
            cmp(">= 1.2, < 3.0", "2.9.9", Ok(true)),
            cmp(">= 1.2, < 3.0", "3.0.0", Ok(false)),
            cmp(">= 1.2 < 3.0", "1.1.0", Ok(false)),
            cmp("<1.0 || >=2.0", "2.1.0", Ok(true)),
            cmp("<1.0 || >=2.0", "1.5.0", Ok(false)),
            cmp("1.2 - 1.4", "1.4.5", Ok(true)),
            cmp("1.2 - 1.4.0", "1.4.5", Ok(false)),
            cmp("!=1.2.3", "1.2.4", Ok(true)),
            cmp("!=1.2.3", "1.2.3", Ok(false)),
            cmp("> 1.2", "1.3.0", Ok(true)),
            cmp("> 1.2", "1.2.5", Ok(false)),
            cmp("<=1.2", "1.2.9", Ok(true)),
            cmp("=v1.2.3", "1.2.3", Ok(true)),
            cmp("1.2.3", "1.2.3+meta", Ok(true)),
            cmp(">=1.2.3-beta.2", "1.2.3-beta.10", Ok(true)),
            cmp(">=1.2.3-beta.2", "1.2.3-alpha", Ok(false)),
            cmp("foo", "1.2.3", Err("improper constraint: foo")),
            cmp("", "1.2.3", Err("improper constraint: ")),
            cmp(">=1.2", "1.2.3.4", Err("Invalid Semantic Version")),
            cmp(">=1.2", "", Err("Invalid Semantic Version")),
            cmp(">=1.2", "1.2.3-01", Err("Version segment starts with 0")),
        ];
        check(register, cases);
    }

    #[test]
    fn semver_object() {
        let v = call(register, "semver", &[s("v1.2.3-rc.1+b5")]).unwrap_or_default();
        let Value::Object(o) = &v else {
            panic!("not an object: {v:?}")
        };
        let get = |name: &str| o.member(name, &[]).unwrap_or(Err("none".into()));
        let cases: Vec<(&str, Value)> = vec![
            ("Major", Value::Int(1)),
            ("Minor", Value::Int(2)),
            ("Patch", Value::Int(3)),
            ("Prerelease", s("rc.1")),
            ("Metadata", s("b5")),
            ("Original", s("v1.2.3-rc.1+b5")),
            ("String", s("1.2.3-rc.1+b5")),
        ];
        for (name, want) in cases {
            let got = get(name).unwrap_or_default();
            assert!(got.deep_eq(&want), "{name}: {got:?}");
        }
        assert_eq!(o.type_name(), "*semver.Version");
        assert_eq!(o.print(), "1.2.3-rc.1+b5");
        let inc = get("IncPatch").unwrap_or_default();
        let Value::Object(inc) = inc else {
            panic!("IncPatch")
        };
        assert_eq!(inc.print(), "1.2.3");
        let inc = inc.member("Original", &[]).and_then(Result::ok);
        assert!(inc.is_some_and(|x| x.deep_eq(&s("v1.2.3"))));
        let lt = o.member("LessThan", std::slice::from_ref(&v)).and_then(Result::ok);
        assert!(lt.is_some_and(|x| x.deep_eq(&Value::Bool(false))));
    }
}
