//! `Chart.yaml` (and a v1 chart's `requirements.yaml`) decoded as Helm 3.9
//! decodes them: sigs.k8s.io/yaml into `chart.Metadata`, so a number or bool
//! where a string is expected becomes its text (`version: 1.0` is "1"),
//! field names match case-insensitively, unknown fields are ignored, and
//! strings are sanitized (`Metadata.Validate`).

use super::yaml::{go_float32_g, key_text, to_value, Go};
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
fn type_err(field: &str, v: &Go, want: &str) -> String {
    let got = match v {
        Go::List(_) => "array",
        Go::Map(_) => "object",
        Go::Bool(_) => "bool",
        Go::Int(_) | Go::Uint(_) | Go::Float(_) => "number",
        Go::Nil | Go::Str(_) => "string",
    };
    format!("error unmarshaling JSON: json: cannot unmarshal {got} into Go struct field {field} of type {want}")
}

/// A scalar as sigs.k8s.io/yaml turns it into a string field's text: an
/// int in decimal, a float as float32 `%g`, a bool as `true`/`false`.
pub fn yaml_string(v: &Go, field: &str) -> Result<String, String> {
    match v {
        Go::Nil => Ok(String::new()),
        Go::Str(s) => Ok(s.clone()),
        Go::Bool(b) => Ok(b.to_string()),
        Go::Int(i) => Ok(i.to_string()),
        Go::Uint(u) => Ok(u.to_string()),
        Go::Float(f) => Ok(go_float32_g(*f)),
        other => Err(type_err(field, other, "string")),
    }
}

fn string_list(v: &Go, field: &str) -> Result<Option<Vec<String>>, String> {
    match v {
        Go::Nil => Ok(None),
        Go::List(s) => s
            .iter()
            .map(|x| yaml_string(x, field).map(|s| sanitize(&s)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(type_err(field, other, "[]string")),
    }
}

fn yaml_bool(v: &Go, field: &str) -> Result<bool, String> {
    match v {
        Go::Nil => Ok(false),
        Go::Bool(b) => Ok(*b),
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

fn mapping(v: &Go) -> Option<&[(Go, Go)]> {
    match v {
        Go::Map(m) => Some(m),
        _ => None,
    }
}

/// The fields of a mapping as (lower-cased key, value), for Go's
/// case-insensitive field matching (keys as their JSON text: `n` is "false").
fn fields(m: &[(Go, Go)]) -> impl Iterator<Item = (String, &Go)> {
    m.iter()
        .filter_map(|(k, v)| key_text(k).ok().map(|k| (k.to_ascii_lowercase(), v)))
}

fn maintainers(v: &Go) -> Result<Option<Vec<Maintainer>>, String> {
    let Go::List(s) = v else {
        return match v {
            Go::Nil => Ok(None),
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

fn dependency(item: &Go) -> Result<Dependency, String> {
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
                    Go::List(s) => s.iter().map(to_value).collect::<Result<_, _>>()?,
                    Go::Nil => Vec::new(),
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

fn annotations(v: &Go) -> Result<Option<Vec<(String, String)>>, String> {
    match v {
        Go::Nil => Ok(None),
        Go::Map(m) => {
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
    pub fn update(&mut self, doc: &Go) -> Result<(), String> {
        let Some(map) = mapping(doc) else {
            return match doc {
                Go::Nil => Ok(()),
                other => Err(type_err("Metadata", other, "chart.Metadata")
                    .replace(" struct field Metadata", " value")),
            };
        };
        for (k, v) in fields(map) {
            let f = format!("Metadata.{k}");
            let s = |v: &Go| yaml_string(v, &f);
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
                        Go::Nil => None,
                        Go::List(items) => {
                            Some(items.iter().map(dependency).collect::<Result<_, _>>()?)
                        }
                        other => return Err(type_err(&f, other, "[]*chart.Dependency")),
                    }
                }
                // Unknown fields still go through the JSON conversion.
                _ => {
                    to_value(v)?;
                }
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
        if super::semver::Version::parse(&self.version).is_err() {
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
        let doc = crate::helm::yaml::decode_go(text)?;
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
    fn yaml11_scalars_as_go_texts() {
        // Chart.yaml → (version, appVersion, deprecated, annotations, import-values as JSON).
        let cases = [
            ("version: 1.0.0\nappVersion: 0755", "1.0.0", "493"),
            ("version: 1.0.0\nappVersion: 1234567", "1.0.0", "1234567"),
            (
                "version: 1.0.0\nappVersion: 1234567.0",
                "1.0.0",
                "1.234567e+06",
            ),
            ("version: 1.0.0\nappVersion: yes", "1.0.0", "true"),
            ("version: 1.0.0\nappVersion: '0x1F'", "1.0.0", "0x1F"),
            (
                "version: 1.0.0\nappVersion: 2001-12-14",
                "1.0.0",
                "2001-12-14",
            ),
        ];
        for (text, version, app) in cases {
            let m = meta(&format!("apiVersion: v2\nname: x\n{text}")).unwrap();
            assert_eq!(
                (m.version.as_str(), m.app_version.as_str()),
                (version, app),
                "{text}"
            );
        }
        let m = meta(
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndeprecated: on\n\
             annotations: {n: 1, a: yes, 1.5: 0x10}\n\
             dependencies:\n- name: d\n  condition: off\n  import-values: [{child: y, parent: 010}]",
        )
        .unwrap();
        assert!(m.deprecated);
        let ann = m.annotations.unwrap_or_default();
        let want = [("1.5", "16"), ("a", "true"), ("false", "1")];
        assert_eq!(
            ann,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        let dep = &m.dependencies.unwrap_or_default()[0];
        assert_eq!(dep.condition, "false");
        let iv = dep.import_values[0].clone();
        assert!(matches!(iv.get("child"), Value::Bool(true)));
        assert!(matches!(iv.get("parent"), Value::Float(f) if f == 8.0));
        let err = meta("apiVersion: v2\nname: x\nversion: 1.0.0\nextra: .inf").unwrap_err();
        assert_eq!(
            err,
            "error converting YAML to JSON: json: unsupported value: +Inf"
        );
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
