//! `Chart.yaml` (and a v1 chart's `requirements.yaml`) decoded as Helm 3.9
//! decodes them: sigs.k8s.io/yaml into `chart.Metadata`, so a number or bool
//! where a string is expected becomes its text (`version: 1.0` is "1"),
//! field names match case-insensitively, unknown fields are ignored, and
//! strings are sanitized (`Metadata.Validate`).

use serde_yaml::Value as Y;

use crate::gotmpl::Value;

/// A chart maintainer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Maintainer {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// URL.
    pub url: String,
}

/// One entry of `dependencies:`.
#[derive(Clone, Debug, Default)]
pub struct Dependency {
    /// The chart's name (the alias once dependencies are processed).
    pub name: String,
    /// A version range the chart must satisfy.
    pub version: String,
    /// Where the chart comes from (unused here).
    pub repository: String,
    /// Comma-separated value paths enabling the chart.
    pub condition: String,
    /// Tags enabling the chart.
    pub tags: Vec<String>,
    /// Set while processing dependencies.
    pub enabled: bool,
    /// `import-values`: strings or `{child, parent}` maps.
    pub import_values: Vec<Value>,
    /// The name the chart takes in this parent.
    pub alias: String,
}

/// `chart.Metadata`.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// name
    pub name: String,
    /// home
    pub home: String,
    /// sources
    pub sources: Option<Vec<String>>,
    /// version
    pub version: String,
    /// description
    pub description: String,
    /// keywords
    pub keywords: Option<Vec<String>>,
    /// maintainers
    pub maintainers: Option<Vec<Maintainer>>,
    /// icon
    pub icon: String,
    /// apiVersion
    pub api_version: String,
    /// condition
    pub condition: String,
    /// tags
    pub tags: String,
    /// appVersion
    pub app_version: String,
    /// deprecated
    pub deprecated: bool,
    /// annotations
    pub annotations: Option<Vec<(String, String)>>,
    /// kubeVersion
    pub kube_version: String,
    /// dependencies
    pub dependencies: Option<Vec<Dependency>>,
    /// type
    pub chart_type: String,
}

/// Go's encoding/json error for a value of the wrong type.
fn type_err(field: &str, v: &Y, want: &str) -> String {
    let got = match v {
        Y::Sequence(_) => "array",
        Y::Mapping(_) => "object",
        Y::Bool(_) => "bool",
        Y::Number(_) => "number",
        _ => "string",
    };
    format!("error unmarshaling JSON: json: cannot unmarshal {got} into Go struct field {field} of type {want}")
}

/// A scalar as sigs.k8s.io/yaml turns it into a string field's text.
pub fn yaml_string(v: &Y, field: &str) -> Result<String, String> {
    match v {
        Y::Null => Ok(String::new()),
        Y::String(s) => Ok(s.clone()),
        Y::Bool(b) => Ok(b.to_string()),
        Y::Number(n) if n.is_f64() => Ok(go_float32_g(n.as_f64().unwrap_or(0.0))),
        Y::Number(n) => Ok(n.to_string()),
        Y::Tagged(t) => yaml_string(&t.value, field),
        other => Err(type_err(field, other, "string")),
    }
}

/// strconv.FormatFloat(f, 'g', -1, 32): the shortest float32 text, in
/// exponent form when the exponent is below -4 or at least 6.
fn go_float32_g(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let e = format!("{x:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{x}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

fn string_list(v: &Y, field: &str) -> Result<Option<Vec<String>>, String> {
    match v {
        Y::Null => Ok(None),
        Y::Sequence(s) => s
            .iter()
            .map(|x| yaml_string(x, field).map(|s| sanitize(&s)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(type_err(field, other, "[]string")),
    }
}

fn yaml_bool(v: &Y, field: &str) -> Result<bool, String> {
    match v {
        Y::Null => Ok(false),
        Y::Bool(b) => Ok(*b),
        other => Err(type_err(field, other, "bool")),
    }
}

/// Go's sanitizeString: white space becomes ' ', unprintables are dropped.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{feff}') {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

fn mapping(v: &Y) -> Option<&serde_yaml::Mapping> {
    match v {
        Y::Mapping(m) => Some(m),
        Y::Tagged(t) => mapping(&t.value),
        _ => None,
    }
}

/// The fields of a mapping as (lower-cased key, value), for Go's
/// case-insensitive field matching.
fn fields(m: &serde_yaml::Mapping) -> impl Iterator<Item = (String, &Y)> {
    m.iter()
        .filter_map(|(k, v)| k.as_str().map(|k| (k.to_ascii_lowercase(), v)))
}

fn maintainers(v: &Y) -> Result<Option<Vec<Maintainer>>, String> {
    let Y::Sequence(s) = v else {
        return match v {
            Y::Null => Ok(None),
            other => Err(type_err(
                "Metadata.maintainers",
                other,
                "[]*chart.Maintainer",
            )),
        };
    };
    let mut out = Vec::new();
    for item in s {
        let mut m = Maintainer::default();
        if let Some(map) = mapping(item) {
            for (k, v) in fields(map) {
                let f = format!("Maintainer.{k}");
                match k.as_str() {
                    "name" => m.name = sanitize(&yaml_string(v, &f)?),
                    "email" => m.email = sanitize(&yaml_string(v, &f)?),
                    "url" => m.url = sanitize(&yaml_string(v, &f)?),
                    _ => {}
                }
            }
        }
        out.push(m);
    }
    Ok(Some(out))
}

fn dependency(item: &Y) -> Result<Dependency, String> {
    let mut d = Dependency::default();
    let Some(map) = mapping(item) else {
        return Ok(d);
    };
    for (k, v) in fields(map) {
        let f = format!("Dependency.{k}");
        match k.as_str() {
            "name" => d.name = sanitize(&yaml_string(v, &f)?),
            "version" => d.version = sanitize(&yaml_string(v, &f)?),
            "repository" => d.repository = sanitize(&yaml_string(v, &f)?),
            "condition" => d.condition = sanitize(&yaml_string(v, &f)?),
            "tags" => d.tags = string_list(v, &f)?.unwrap_or_default(),
            "enabled" => d.enabled = yaml_bool(v, &f)?,
            "alias" => d.alias = yaml_string(v, &f)?,
            "import-values" => {
                d.import_values = match v {
                    Y::Sequence(s) => s.iter().map(Value::from_yaml).collect(),
                    Y::Null => Vec::new(),
                    other => return Err(type_err(&f, other, "[]interface {}")),
                }
            }
            _ => {}
        }
    }
    if !d.alias.is_empty()
        && !d
            .alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "validation: dependency {:?} has disallowed characters in the alias",
            d.name
        ));
    }
    Ok(d)
}

fn annotations(v: &Y) -> Result<Option<Vec<(String, String)>>, String> {
    match v {
        Y::Null => Ok(None),
        Y::Mapping(m) => {
            let mut out: Vec<(String, String)> = Vec::new();
            for (k, v) in m {
                let key = yaml_string(k, "Metadata.annotations")?;
                let val = yaml_string(v, "Metadata.annotations")?;
                out.retain(|(k, _)| *k != key);
                out.push((key, val));
            }
            out.sort();
            Ok(Some(out))
        }
        other => Err(type_err("Metadata.annotations", other, "map[string]string")),
    }
}

impl Metadata {
    /// Sets the fields present in a decoded `Chart.yaml` or
    /// `requirements.yaml` (the others keep their value, as json.Unmarshal).
    pub fn update(&mut self, doc: &Y) -> Result<(), String> {
        let Some(map) = mapping(doc) else {
            return match doc {
                Y::Null => Ok(()),
                other => Err(type_err("Metadata", other, "chart.Metadata")
                    .replace(" struct field Metadata", " value")),
            };
        };
        for (k, v) in fields(map) {
            let f = format!("Metadata.{k}");
            let s = |v: &Y| yaml_string(v, &f);
            match k.as_str() {
                "name" => self.name = s(v)?,
                "home" => self.home = s(v)?,
                "sources" => self.sources = string_list(v, &f)?,
                "version" => self.version = s(v)?,
                "description" => self.description = s(v)?,
                "keywords" => self.keywords = string_list(v, &f)?,
                "maintainers" => self.maintainers = maintainers(v)?,
                "icon" => self.icon = s(v)?,
                "apiversion" => self.api_version = s(v)?,
                "condition" => self.condition = s(v)?,
                "tags" => self.tags = s(v)?,
                "appversion" => self.app_version = s(v)?,
                "deprecated" => self.deprecated = yaml_bool(v, &f)?,
                "annotations" => self.annotations = annotations(v)?,
                "kubeversion" => self.kube_version = s(v)?,
                "type" => self.chart_type = s(v)?,
                "dependencies" => {
                    self.dependencies = match v {
                        Y::Null => None,
                        Y::Sequence(items) => {
                            Some(items.iter().map(dependency).collect::<Result<_, _>>()?)
                        }
                        other => return Err(type_err(&f, other, "[]*chart.Dependency")),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `Metadata.Validate`: sanitizes strings and checks required fields.
    pub fn validate(&mut self) -> Result<(), String> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        let v = |m: &str| Err(format!("validation: {m}"));
        if self.api_version.is_empty() {
            return v("chart.metadata.apiVersion is required");
        }
        if self.name.is_empty() {
            return v("chart.metadata.name is required");
        }
        if self.version.is_empty() {
            return v("chart.metadata.version is required");
        }
        if super::semver::Version::parse(&self.version).is_none() {
            return v(&format!(
                "chart.metadata.version {:?} is invalid",
                self.version
            ));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return v("chart.metadata.type must be application or library");
        }
        Ok(())
    }

    /// Whether this is a library chart (`type: library`, any case).
    pub fn is_library(&self) -> bool {
        self.chart_type.eq_ignore_ascii_case("library")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> Result<Metadata, String> {
        let doc: Y = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut m = Metadata::default();
        m.update(&doc)?;
        m.validate()?;
        Ok(m)
    }

    #[test]
    fn decodes_as_sigs_yaml() {
        let m = meta("apiVersion: v2\nName: x\nversion: 1.10\nappVersion: 2\nkeywords: [a, 1]\n")
            .unwrap();
        assert_eq!(
            (m.name.as_str(), m.version.as_str(), m.app_version.as_str()),
            ("x", "1.1", "2")
        );
        assert_eq!(m.keywords, Some(vec!["a".to_string(), "1".to_string()]));
    }

    #[test]
    fn validation_errors() {
        let cases = [
            ("name: x\nversion: 1.0.0", "validation: chart.metadata.apiVersion is required"),
            ("apiVersion: v2\nversion: 1.0.0", "validation: chart.metadata.name is required"),
            ("apiVersion: v2\nname: x", "validation: chart.metadata.version is required"),
            ("apiVersion: v2\nname: x\nversion: abc", "validation: chart.metadata.version \"abc\" is invalid"),
            ("apiVersion: v2\nname: x\nversion: 1.0.0\ntype: app", "validation: chart.metadata.type must be application or library"),
            ("apiVersion: v2\nname: [x]\nversion: 1.0.0", "error unmarshaling JSON: json: cannot unmarshal array into Go struct field Metadata.name of type string"),
            (
                "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: a\n  alias: a.b",
                "validation: dependency \"a\" has disallowed characters in the alias",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(meta(text).unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn floats_as_go_prints_float32() {
        for (f, want) in [
            (1.5, "1.5"),
            (1.0, "1"),
            (0.1, "0.1"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1e-5, "1e-05"),
        ] {
            assert_eq!(go_float32_g(f), want);
        }
    }
}
