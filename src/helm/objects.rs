//! The Go values Helm puts beside `.Values`: `.Chart` (chart.Metadata with
//! `IsRoot`), `.Capabilities` (KubeVersion, APIVersions, HelmVersion) and
//! the `.Release` map, each with its Go field names, methods, JSON names
//! (for `toYaml`/`toJson`) and `%v` printing. `.Files` is in [`super::files`].

use std::rc::Rc;

use super::api_versions::DEFAULT_API_VERSIONS;
use super::metadata::{Dependency, Maintainer, Metadata};
use super::semver::Version;
use crate::gotmpl::format::sprint_value;
use crate::gotmpl::{Map, Object, Value};

/// A Go struct whose JSON fields may be `omitempty`.
pub struct GoStruct {
    name: String,
    /// (Go name, JSON name, omitempty, value).
    fields: Vec<(&'static str, &'static str, bool, Value)>,
}

/// Go's omitempty: the values `if` takes as false.
fn is_empty(v: &Value) -> bool {
    !v.truth()
}

/// A value as JSON sees it (objects by their fields).
fn data_of(v: &Value) -> Value {
    match v {
        Value::Object(o) => o.to_data(),
        Value::List(l) => Value::from(l.iter().map(data_of).collect::<Vec<_>>()),
        v => v.clone(),
    }
}

impl Object for GoStruct {
    fn type_name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        if self.name.starts_with('*') {
            "ptr"
        } else {
            "struct"
        }
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let (_, _, _, v) = self.fields.iter().find(|(n, ..)| *n == name)?;
        if !args.is_empty() {
            return Some(Err(format!(
                "{name} has arguments but cannot be invoked as function"
            )));
        }
        Some(Ok(v.clone()))
    }

    fn to_data(&self) -> Value {
        let mut m = Map::new();
        for (_, json, omit, v) in &self.fields {
            if *omit && is_empty(v) {
                continue;
            }
            m.insert((*json).to_string(), data_of(v));
        }
        Value::from(m)
    }

    fn print(&self) -> String {
        let parts: Vec<String> = self.fields.iter().map(|(.., v)| print_nested(v)).collect();
        let amp = if self.name.starts_with('*') { "&" } else { "" };
        format!("{amp}{{{}}}", parts.join(" "))
    }
}

/// `%v` of a struct field: no Stringer there (a field reached through a
/// struct value is not addressable), so KubeVersion prints as `{v 1 20}`.
fn print_nested(v: &Value) -> String {
    match v {
        Value::Object(o) if o.kind() == "slice" => sprint_value(&o.to_data()),
        Value::Object(o) if o.type_name() == "chartutil.KubeVersion" => {
            let d = o.to_data();
            let f = |k: &str| d.get(k).as_str().unwrap_or("").to_string();
            format!("{{{} {} {}}}", f("Version"), f("Major"), f("Minor"))
        }
        Value::Object(o) => o.print(),
        v => sprint_value(v),
    }
}

fn strs(v: &Option<Vec<String>>) -> Value {
    Value::from(
        v.iter()
            .flatten()
            .map(|s| Value::from(s.as_str()))
            .collect::<Vec<_>>(),
    )
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn maintainer(m: &Maintainer) -> Value {
    Value::Object(Rc::new(GoStruct {
        name: "*chart.Maintainer".into(),
        fields: vec![
            ("Name", "name", true, s(&m.name)),
            ("Email", "email", true, s(&m.email)),
            ("URL", "url", true, s(&m.url)),
        ],
    }))
}

fn dependency(d: &Dependency) -> Value {
    Value::Object(Rc::new(GoStruct {
        name: "*chart.Dependency".into(),
        fields: vec![
            ("Name", "name", false, s(&d.name)),
            ("Version", "version", true, s(&d.version)),
            ("Repository", "repository", false, s(&d.repository)),
            ("Condition", "condition", true, s(&d.condition)),
            ("Tags", "tags", true, strs(&Some(d.tags.clone()))),
            ("Enabled", "enabled", true, Value::Bool(d.enabled)),
            (
                "ImportValues",
                "import-values",
                true,
                Value::from(d.import_values.clone()),
            ),
            ("Alias", "alias", true, s(&d.alias)),
        ],
    }))
}

/// `.Chart`: `struct { chart.Metadata; IsRoot bool }`.
pub fn chart_object(m: &Metadata, is_root: bool) -> Value {
    let annotations: Map = m
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), s(v)))
        .collect();
    let list = |v: Vec<Value>| Value::from(v);
    Value::Object(Rc::new(GoStruct {
        name: "struct { chart.Metadata; IsRoot bool }".into(),
        fields: vec![
            ("Name", "name", true, s(&m.name)),
            ("Home", "home", true, s(&m.home)),
            ("Sources", "sources", true, strs(&m.sources)),
            ("Version", "version", true, s(&m.version)),
            ("Description", "description", true, s(&m.description)),
            ("Keywords", "keywords", true, strs(&m.keywords)),
            (
                "Maintainers",
                "maintainers",
                true,
                list(m.maintainers.iter().flatten().map(maintainer).collect()),
            ),
            ("Icon", "icon", true, s(&m.icon)),
            ("APIVersion", "apiVersion", true, s(&m.api_version)),
            ("Condition", "condition", true, s(&m.condition)),
            ("Tags", "tags", true, s(&m.tags)),
            ("AppVersion", "appVersion", true, s(&m.app_version)),
            ("Deprecated", "deprecated", true, Value::Bool(m.deprecated)),
            ("Annotations", "annotations", true, Value::from(annotations)),
            ("KubeVersion", "kubeVersion", true, s(&m.kube_version)),
            (
                "Dependencies",
                "dependencies",
                true,
                list(m.dependencies.iter().flatten().map(dependency).collect()),
            ),
            ("Type", "type", true, s(&m.chart_type)),
            ("IsRoot", "IsRoot", false, Value::Bool(is_root)),
        ],
    }))
}

/// `.Release` as `helm template` builds it.
pub fn release(name: &str, namespace: &str, revision: i64) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), s(name));
    m.insert("Namespace".into(), s(namespace));
    m.insert("IsUpgrade".into(), Value::Bool(false));
    m.insert("IsInstall".into(), Value::Bool(true));
    m.insert("Revision".into(), Value::Int(revision));
    m.insert("Service".into(), s("Helm"));
    Value::from(m)
}

/// `chartutil.KubeVersion`: fields and the String/GitVersion methods.
pub struct KubeVersion {
    /// `v1.20.0`.
    pub version: String,
    /// `1`.
    pub major: String,
    /// `20`.
    pub minor: String,
}

impl KubeVersion {
    /// Helm 3.9.4's default (`v1.20.0`).
    pub fn default_version() -> KubeVersion {
        KubeVersion {
            version: "v1.20.0".into(),
            major: "1".into(),
            minor: "20".into(),
        }
    }

    /// `chartutil.ParseKubeVersion` (`v1.22.15`, `1.22`): `None` if not semver.
    pub fn parse(text: &str) -> Option<KubeVersion> {
        let v = Version::parse(text).ok()?;
        Some(KubeVersion {
            version: format!("v{}", v.to_plain()),
            major: v.major.to_string(),
            minor: v.minor.to_string(),
        })
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "chartutil.KubeVersion"
    }

    fn kind(&self) -> &str {
        "struct"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = match name {
            "Version" | "String" | "GitVersion" => &self.version,
            "Major" => &self.major,
            "Minor" => &self.minor,
            _ => return None,
        };
        if !args.is_empty() {
            return Some(Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )));
        }
        Some(Ok(s(v)))
    }

    fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("Version".into(), s(&self.version));
        m.insert("Major".into(), s(&self.major));
        m.insert("Minor".into(), s(&self.minor));
        Value::from(m)
    }

    fn print(&self) -> String {
        self.version.clone()
    }
}

/// `chartutil.VersionSet`: a list of API versions with `Has`.
pub struct VersionSet(pub Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }

    fn kind(&self) -> &str {
        "slice"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Has" {
            return None;
        }
        Some(match args {
            [Value::Str(a)] => Ok(Value::Bool(self.0.iter().any(|x| **x == **a))),
            [other] => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
            _ => Err(format!(
                "wrong number of args for Has: want 1 got {}",
                args.len()
            )),
        })
    }

    fn to_data(&self) -> Value {
        Value::from(self.0.iter().map(|x| s(x)).collect::<Vec<_>>())
    }

    fn truth(&self) -> bool {
        !self.0.is_empty()
    }
}

/// `.Capabilities`: Helm 3.9.4's defaults (as our oracle, helmrender, was
/// built: Helm version `v3.9`, go1.19.8), with the kube version given.
pub fn capabilities(kube: KubeVersion) -> Value {
    let helm = GoStruct {
        name: "version.BuildInfo".into(),
        fields: vec![
            ("Version", "version", true, s("v3.9")),
            ("GitCommit", "git_commit", true, s("")),
            ("GitTreeState", "git_tree_state", true, s("")),
            ("GoVersion", "go_version", true, s("go1.19.8")),
        ],
    };
    let apis = VersionSet(DEFAULT_API_VERSIONS.iter().map(|x| x.to_string()).collect());
    Value::Object(Rc::new(GoStruct {
        name: "*chartutil.Capabilities".into(),
        fields: vec![
            (
                "KubeVersion",
                "KubeVersion",
                false,
                Value::Object(Rc::new(kube)),
            ),
            (
                "APIVersions",
                "APIVersions",
                false,
                Value::Object(Rc::new(apis)),
            ),
            (
                "HelmVersion",
                "HelmVersion",
                false,
                Value::Object(Rc::new(helm)),
            ),
        ],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(v: &Value, path: &[(&str, Vec<Value>)]) -> Value {
        let mut cur = v.clone();
        for (name, args) in path {
            cur = match &cur {
                Value::Object(o) => o.member(name, args).unwrap().unwrap(),
                other => other.get(name),
            };
        }
        cur
    }

    #[test]
    fn capabilities_members() {
        let caps = capabilities(KubeVersion::parse("v1.22.15").unwrap());
        type Path<'a> = Vec<(&'a str, Vec<Value>)>;
        let cases: Vec<(Path, &str)> = vec![
            (
                vec![("KubeVersion", vec![]), ("Version", vec![])],
                "\"v1.22.15\"",
            ),
            (vec![("KubeVersion", vec![]), ("Minor", vec![])], "\"22\""),
            (
                vec![("KubeVersion", vec![]), ("GitVersion", vec![])],
                "\"v1.22.15\"",
            ),
            (
                vec![("APIVersions", vec![]), ("Has", vec![s("apps/v1")])],
                "true",
            ),
            (
                vec![("APIVersions", vec![]), ("Has", vec![s("apps/v9")])],
                "false",
            ),
            (
                vec![("HelmVersion", vec![]), ("Version", vec![])],
                "\"v3.9\"",
            ),
        ];
        for (path, want) in cases {
            assert_eq!(format!("{:?}", call(&caps, &path)), want, "{path:?}");
        }
    }

    #[test]
    fn kube_versions() {
        for (text, want) in [
            ("v1.22.15", Some("v1.22.15")),
            ("1.22", Some("v1.22.0")),
            ("x", None),
        ] {
            assert_eq!(KubeVersion::parse(text).map(|k| k.version).as_deref(), want);
        }
    }

    #[test]
    fn chart_json_omits_empty() {
        let m = Metadata {
            name: "x".into(),
            version: "1.0.0".into(),
            api_version: "v2".into(),
            ..Metadata::default()
        };
        let data = match chart_object(&m, true) {
            Value::Object(o) => o.to_data(),
            _ => unreachable!(),
        };
        let keys: Vec<String> = match &data {
            Value::Map(m) => m.borrow().keys().cloned().collect(),
            _ => vec![],
        };
        assert_eq!(keys, ["IsRoot", "apiVersion", "name", "version"]);
    }
}
