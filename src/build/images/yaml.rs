//! Image references in Kubernetes manifests: every mapping key ending in
//! `image` (any case: `image`, `initImage`) whose value is a string, in every
//! document of a YAML file, with the line it stands on. A file that is not
//! valid YAML (a `.tmpl` with Go template actions) is read line by line
//! instead. Pure: text in, references out.

use serde_yaml::Value;

use super::refs::{Found, Source};

/// Whether a mapping key names an image.
pub fn is_image_key(key: &str) -> bool {
    key.len() >= 5 && key[key.len() - 5..].eq_ignore_ascii_case("image")
}

/// Whether a value is a template or variable rather than a reference.
pub fn is_templated(value: &str) -> bool {
    value.contains("{{") || value.contains("${") || value.contains("$(")
}

/// The image references of a manifest file.
pub fn manifest_images(text: &str, file: &str, app: Option<&str>) -> Vec<Found> {
    let mut pairs = Vec::new();
    let parsed: Result<Vec<Value>, _> = serde_yaml::Deserializer::from_str(text)
        .map(serde::Deserialize::deserialize)
        .collect();
    match parsed {
        Ok(docs) => {
            for doc in &docs {
                image_pairs(doc, &mut pairs);
            }
        }
        Err(_) => {
            pairs = line_pairs(text)
                .into_iter()
                .map(|(_, k, v)| (k, v))
                .collect();
        }
    }
    let lines = Lines::new(text);
    let mut cursor = 0;
    pairs
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty() && !is_templated(v))
        .map(|(key, value)| {
            let line = lines.find(&key, &value, &mut cursor);
            let mut source = Source::line(file, line);
            source.app = app.map(String::from);
            Found {
                text: value.trim().to_string(),
                source,
            }
        })
        .collect()
}

/// `(key, value)` of every string under an image key, in document order.
fn image_pairs(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                match (k.as_str(), val) {
                    (Some(key), Value::String(s)) if is_image_key(key) => {
                        out.push((key.to_string(), s.clone()));
                    }
                    _ => image_pairs(val, out),
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| image_pairs(x, out)),
        Value::Tagged(t) => image_pairs(&t.value, out),
        _ => {}
    }
}

/// `(line, key, value)` of every `KEY: VALUE` line whose key names an
/// image (a list item's `- image: x` too), value unquoted, comment dropped.
pub fn line_pairs(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        let line = line.strip_prefix("- ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if !is_image_key(key)
            || !key
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c))
        {
            continue;
        }
        let value = unquote(value);
        if !value.is_empty() {
            out.push((i + 1, key.to_string(), value));
        }
    }
    out
}

/// A scalar as written on a line: quotes removed, a trailing comment dropped.
pub fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(rest) = v.strip_prefix(q) {
            if let Some(end) = rest.find(q) {
                return rest[..end].to_string();
            }
        }
    }
    let v = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    };
    v.trim().to_string()
}

/// The lines of a file, to find where a parsed value stands.
pub struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    /// Splits `text` into lines.
    pub fn new(text: &'a str) -> Lines<'a> {
        Lines {
            lines: text.lines().collect(),
        }
    }

    /// The 1-based line holding `key` and `value`, searching from `cursor`
    /// (values come in document order) and then from the top; 0 if none.
    pub fn find(&self, key: &str, value: &str, cursor: &mut usize) -> usize {
        let value = value.trim();
        let hit = |l: &&str| l.contains(key) && l.contains(value);
        let found = self.lines[(*cursor).min(self.lines.len())..]
            .iter()
            .position(hit)
            .map(|p| p + *cursor)
            .or_else(|| self.lines.iter().position(hit));
        match found {
            Some(i) => {
                *cursor = i + 1;
                i + 1
            }
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(found: &[Found]) -> Vec<(String, Option<usize>)> {
        found
            .iter()
            .map(|f| (f.text.clone(), f.source.line))
            .collect()
    }

    #[test]
    fn every_image_key_of_every_document() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: \"busybox:1.36\"
      containers:
      - name: web
        image: nginx:1.25 # the server
        imagePullPolicy: IfNotPresent
        env:
        - {name: SIDECAR, value: x}
---
kind: ConfigMap
data:
  sidecarImage: 'quay.io/a/b:v1'
  image: \"\"
  templated: x
  agentImage: \"{{ .Values.agent }}\"
";
        let found = manifest_images(text, "manifests/app.yaml", None);
        assert_eq!(
            texts(&found),
            [
                ("busybox:1.36".into(), Some(8)),
                ("nginx:1.25".into(), Some(11)),
                ("quay.io/a/b:v1".into(), Some(18)),
            ]
        );
        assert_eq!(found[1].source.to_string(), "manifests/app.yaml:11");
    }

    #[test]
    fn a_template_is_read_line_by_line() {
        let text = "{{ if .Values.x }}\nspec:\n  - image: {{ .Values.img }}\n  - image: \"redis:7\"\n    initImage: alpine # c\n{{ end }}\n";
        let found = manifest_images(text, "manifests/x.tmpl", Some("app"));
        assert_eq!(
            texts(&found),
            [("redis:7".into(), Some(4)), ("alpine".into(), Some(5))]
        );
        assert_eq!(found[0].source.app.as_deref(), Some("app"));
    }

    #[test]
    fn image_keys() {
        for k in ["image", "Image", "initImage", "sidecar_image", "IMAGE"] {
            assert!(is_image_key(k), "{k}");
        }
        for k in ["images", "imagePullPolicy", "img", "mage"] {
            assert!(!is_image_key(k), "{k}");
        }
    }
}
