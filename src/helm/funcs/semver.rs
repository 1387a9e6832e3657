//! sprig's `semver` and `semverCompare` over [`crate::helm`]'s
//! Masterminds/semver v3.1.1 port.

use std::cmp::Ordering;
use std::rc::Rc;

use super::super::semver::{parse_constraints, Version};
use super::convert::{arity, want_str};
use crate::gotmpl::{FuncMap, Host, Object, Value};

pub(super) fn register(m: &mut FuncMap) {
    m.insert("semver", semver);
    m.insert("semverCompare", semver_compare);
}

/// `semverCompare CONSTRAINT VERSION`.
fn semver_compare(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("semverCompare", args, 2)?;
    let constraints = parse_constraints(want_str(&args[0])?)?;
    let v = Version::parse(want_str(&args[1])?)?;
    Ok(Value::Bool(constraints.check(&v)))
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
        n.original = format!("{prefix}{}", n.to_plain());
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
            "String" => Value::from(v.to_plain()),
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
        Value::from(self.v.to_plain())
    }

    fn print(&self) -> String {
        self.v.to_plain()
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
        let lt = o
            .member("LessThan", std::slice::from_ref(&v))
            .and_then(Result::ok);
        assert!(lt.is_some_and(|x| x.deep_eq(&Value::Bool(false))));
    }
}
