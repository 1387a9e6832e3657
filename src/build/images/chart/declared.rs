//! Images a chart declares in its values that its manifests name outside
//! `image:` fields (args, env, ConfigMaps: longhorn's CSI sidecars): a
//! reference built from the values by the common conventions counts only
//! when the rendered output contains it verbatim. The conventions: a string
//! under a key ending in `image` (paired with a sibling `tag` or
//! `<key>Tag`), and a mapping under such a key, or any mapping with
//! `repository` and `tag`, read as `{registry, repository | image, tag,
//! digest}`; a missing tag is the chart's `appVersion`;
//! `global.imageRegistry` overrides the registry (Bitnami's convention). Pure.

use serde_yaml::{Mapping, Value};

use super::super::yaml::{is_image_key, is_templated};

/// The chart's values and `appVersion`, as the conventions read them.
pub struct Ctx<'a> {
    /// `appVersion` of Chart.yaml.
    pub app_version: Option<&'a str>,
    /// The values the chart renders with.
    pub values: &'a Value,
}

/// (reference, values path) of every image the values declare that
/// `rendered` contains: the reference as the output has it, with the
/// registry a template put in front (`docker.io/` + `longhornio/csi-attacher:v4`).
pub fn declared_images(ctx: &Ctx, rendered: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    walk_values(ctx, ctx.values, &mut Vec::new(), None, &mut found);
    let mut out: Vec<(String, String)> = Vec::new();
    for (text, path, _, _) in found {
        for token in references_in(rendered, &text) {
            if !out.iter().any(|(t, _)| *t == token) {
                out.push((token, path.clone()));
            }
        }
    }
    out
}

fn is_ref_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-/:@".contains(c)
}

/// The whole references of `hay` that are `text` or end in `/` + `text`
/// (`nginx:1.2` is not in `nginx:1.25`, `xnginx:1.2` or `a:nginx:1.2`).
fn references_in(hay: &str, text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in hay.match_indices(text) {
        let end = i + text.len();
        if hay[end..].chars().next().is_some_and(is_ref_char) {
            continue;
        }
        let start = hay[..i]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_ref_char(c))
            .last()
            .map_or(i, |(j, _)| j);
        let token = &hay[start..end];
        if (start == i || hay[..i].ends_with('/')) && !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    out
}

/// Converts a template value to YAML data for the conventions.
pub fn to_yaml_value(v: &crate::gotmpl::Value) -> Value {
    use crate::gotmpl::Value as G;
    match v {
        G::Nil | G::Object(_) => Value::Null,
        G::Bool(b) => Value::Bool(*b),
        G::Int(i) => Value::Number((*i).into()),
        G::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::Number((*f as i64).into()),
        G::Float(f) => Value::Number((*f).into()),
        G::Str(s) => Value::String(s.to_string()),
        G::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        G::List(l) => Value::Sequence(l.iter().map(to_yaml_value).collect()),
        G::Map(m) => Value::Mapping(
            m.borrow()
                .iter()
                .map(|(k, v)| (Value::String(k.clone()), to_yaml_value(v)))
                .collect(),
        ),
    }
}

/// A scalar as a template prints it (`None`: a mapping or list).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Tagged(t) => scalar(&t.value),
        _ => None,
    }
}

fn str_at<'v>(m: &'v Mapping, key: &str) -> Option<&'v str> {
    m.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Collects (reference, values path, key, raw value) by the conventions.
fn walk_values(
    ctx: &Ctx,
    v: &Value,
    path: &mut Vec<String>,
    key: Option<&str>,
    out: &mut Vec<(String, String, String, String)>,
) {
    match v {
        Value::Mapping(m) => {
            if let Some(found) = composite(ctx, m, key) {
                if let Some((text, leaf, raw)) = found {
                    out.push((text, path.join("."), leaf, raw));
                }
                return;
            }
            for (k, val) in m {
                let Some(k) = k.as_str() else { continue };
                path.push(k.to_string());
                match val {
                    Value::String(s) if is_image_key(k) => {
                        if !s.trim().is_empty() && !is_templated(s) {
                            let text = with_sibling_tag(m, k, s.trim());
                            out.push((text, path.join("."), k.to_string(), s.clone()));
                        }
                    }
                    _ => walk_values(ctx, val, path, Some(k), out),
                }
                path.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, x) in s.iter().enumerate() {
                path.push(i.to_string());
                walk_values(ctx, x, path, key, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Whether a reference already names a tag or digest.
fn has_tag_or_digest(r: &str) -> bool {
    r.contains('@') || r.rsplit('/').next().is_some_and(|last| last.contains(':'))
}

/// `image: nginx` with a sibling `tag: 1.25` (or `imageTag`) -> `nginx:1.25`.
fn with_sibling_tag(m: &Mapping, key: &str, value: &str) -> String {
    if has_tag_or_digest(value) {
        return value.to_string();
    }
    let mut names = vec![format!("{key}Tag"), format!("{key}_tag")];
    if key == "image" {
        names.push("tag".into());
    }
    for n in names {
        if let Some(t) = m.get(n.as_str()).and_then(scalar) {
            if !t.is_empty() && !is_templated(&t) {
                return format!("{value}:{t}");
            }
        }
    }
    value.to_string()
}

/// A `{registry, repository | image, tag, digest}` mapping: `None` if `m`
/// is not one, `Some(None)` if it is one without a usable reference.
#[allow(clippy::type_complexity)]
fn composite(
    ctx: &Ctx,
    m: &Mapping,
    key: Option<&str>,
) -> Option<Option<(String, String, String)>> {
    let image_key = key.is_some_and(is_image_key);
    let (repo, leaf) = if let Some(r) = str_at(m, "repository") {
        if !image_key && !m.contains_key("tag") {
            return None;
        }
        (r, "repository")
    } else if let (true, Some(i)) = (image_key || m.contains_key("registry"), str_at(m, "image")) {
        if !m.contains_key("registry") && !m.contains_key("tag") && !m.contains_key("digest") {
            return None;
        }
        (i, "image")
    } else {
        return None;
    };
    if is_templated(repo) {
        return Some(None);
    }
    let global = ctx
        .values
        .get("global")
        .and_then(Value::as_mapping)
        .and_then(|g| str_at(g, "imageRegistry"));
    let registry = global.or_else(|| str_at(m, "registry"));
    let mut text = match registry {
        Some(r) if !is_templated(r) => format!("{}/{}", r.trim_end_matches('/'), repo.trim()),
        _ => repo.trim().to_string(),
    };
    if !has_tag_or_digest(&text) {
        let tag = m.get("tag").and_then(scalar).filter(|t| !t.is_empty());
        let digest = str_at(m, "digest");
        match (tag, digest) {
            (Some(t), _) if is_templated(&t) => return Some(None),
            (Some(t), d) => {
                text = format!("{text}:{t}");
                if let Some(d) = d {
                    text = format!("{text}@{d}");
                }
            }
            (None, Some(d)) => text = format!("{text}@{d}"),
            (None, None) => {
                if let Some(v) = ctx.app_version {
                    text = format!("{text}:{v}");
                }
            }
        }
    }
    Some(Some((text, leaf.to_string(), repo.to_string())))
}
