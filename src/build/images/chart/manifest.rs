//! The container images of a chart's rendered manifests: every string
//! `image:` field of every YAML document (any kind, custom resources too),
//! with the resource and field it is in (`Deployment/web
//! spec.template.spec.containers[0].image`) and its line in the rendered
//! template. Documents of helm test hooks are not installed: skipped. Pure.

use serde_yaml::Value;

/// One `image:` field of a rendered manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The reference as written.
    pub text: String,
    /// 1-based line in the rendered template.
    pub line: usize,
    /// `Kind/name` of the resource (empty when the document has neither).
    pub resource: String,
    /// Path of the field inside the resource.
    pub field: String,
}

/// The YAML documents of a rendered template, with the line each starts on.
pub fn documents(text: &str) -> Vec<(usize, String)> {
    crate::helm::split_manifests(text)
}

/// Whether a document is a helm test hook (`helm.sh/hook: test`,
/// `test-success`, `test-failure`), which `helm install` does not run.
pub fn is_test_hook(doc: &Value) -> bool {
    let Some(hooks) = doc
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("helm.sh/hook"))
        .and_then(Value::as_str)
    else {
        return false;
    };
    hooks
        .split(',')
        .any(|h| matches!(h.trim(), "test" | "test-success" | "test-failure"))
}

/// The `image:` fields of one rendered template; a document that is not
/// YAML is an error naming its line.
pub fn image_fields(text: &str) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for (start, doc_text) in documents(text) {
        let doc: Value = serde_yaml::from_str(&doc_text)
            .map_err(|e| format!("line {start}: the rendered document is not YAML: {e}"))?;
        if !doc.is_mapping() || is_test_hook(&doc) {
            continue;
        }
        let kind = doc.get("kind").and_then(Value::as_str);
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str);
        let resource = match (kind, name) {
            (Some(k), Some(n)) => format!("{k}/{n}"),
            (Some(k), None) => k.to_string(),
            (None, Some(n)) => format!("?/{n}"),
            (None, None) => String::new(),
        };
        let mut found = Vec::new();
        walk(&doc, &mut String::new(), &mut found);
        let mut cursor = 0;
        let lines: Vec<&str> = doc_text.lines().collect();
        for (field, image) in found {
            let at = (cursor..lines.len())
                .find(|&i| lines[i].contains("image") && lines[i].contains(image.trim()))
                .or_else(|| (0..lines.len()).find(|&i| lines[i].contains(image.trim())));
            if let Some(i) = at {
                cursor = i + 1;
            }
            out.push(Field {
                text: image.trim().to_string(),
                line: start + at.unwrap_or(0),
                resource: resource.clone(),
                field,
            });
        }
    }
    Ok(out)
}

fn walk(v: &Value, path: &mut String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                let Some(k) = k.as_str() else { continue };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match val {
                    Value::String(s) if k == "image" => {
                        if !s.trim().is_empty() {
                            out.push((path.clone(), s.clone()));
                        }
                    }
                    _ => walk(val, path, out),
                }
                path.truncate(len);
            }
        }
        Value::Sequence(s) => {
            for (i, x) in s.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(x, path, out);
                path.truncate(len);
            }
        }
        Value::Tagged(t) => walk(&t.value, path, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resources_lines_and_test_hooks() {
        let text = "\
---
# Source: web/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: \"busybox:1.36\"
      containers:
        - name: web
          image: nginx:1.25
---
apiVersion: v1
kind: Pod
metadata:
  name: web-test
  annotations:
    helm.sh/hook: test-success
spec:
  containers:
    - image: curl:8
---
kind: Custom
metadata: {name: c}
spec: {image: {repository: x}, sidecar: {image: quay.io/a/b:1}}
";
        let got = image_fields(text).unwrap();
        let want = [
            (
                "busybox:1.36",
                12,
                "Deployment/web",
                "spec.template.spec.initContainers[0].image",
            ),
            (
                "nginx:1.25",
                15,
                "Deployment/web",
                "spec.template.spec.containers[0].image",
            ),
            ("quay.io/a/b:1", 29, "Custom/c", "spec.sidecar.image"),
        ];
        let got: Vec<(&str, usize, &str, &str)> = got
            .iter()
            .map(|f| {
                (
                    f.text.as_str(),
                    f.line,
                    f.resource.as_str(),
                    f.field.as_str(),
                )
            })
            .collect();
        assert_eq!(got, want);
        assert!(image_fields("a: [b\n").unwrap_err().starts_with("line 1: "));
    }
}
