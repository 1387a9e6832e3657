//! Image references of a Helm chart, found two ways and merged:
//!
//! 1. `image:` lines of `templates/*.yaml` rendered with the chart's values
//!    where that is faithful: an action made only of `.Values` / `.Chart` /
//!    `.Release` fields, string literals and the functions `default`,
//!    `quote`, `squote`, `toString`, `trim`, `lower`, `upper`, `required`
//!    and `printf` (`%s`, `%v`, `%d`). Anything else (`include`, `with`
//!    scopes, variables, `toYaml`) cannot be rendered here: the chart gets
//!    a warning and its images come from its values alone. Conditions are
//!    not evaluated: an `image:` line inside `{{ if }}` counts.
//! 2. `values.yaml` by the common conventions: a string under a key ending
//!    in `image` (`image: nginx:1.25`, paired with a sibling `tag` or
//!    `<key>Tag`), and a mapping under such a key, or any mapping with
//!    `repository` and `tag`, read as `{registry, repository | image, tag,
//!    digest}`; a missing tag is the chart's `appVersion`, as charts default
//!    it; `global.imageRegistry` overrides the registry (Bitnami's
//!    convention).
//!
//! Subcharts (`charts/NAME/` of a chart) use their own values with the
//! parent's `NAME:` section and `global:` merged over them, as Helm does.
//! Pure: a [`Chart`] read by the walker in, references and warnings out.

use serde_yaml::{Mapping, Value};

use super::refs::{normalize, Found, Source};
use super::yaml::{is_image_key, is_templated, line_pairs, unquote, Lines};

/// A chart as read from the rootfs.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// Its directory in the rootfs (`charts/mychart`).
    pub dir: String,
    /// `name` of Chart.yaml (else the directory's name).
    pub name: String,
    /// `appVersion` of Chart.yaml.
    pub app_version: Option<String>,
    /// `version` of Chart.yaml.
    pub version: Option<String>,
    /// values.yaml as text (empty if missing).
    pub values_text: String,
    /// `templates/**.yaml|yml`: (path in the rootfs, text).
    pub templates: Vec<(String, String)>,
    /// Subcharts under its `charts/`.
    pub subcharts: Vec<Chart>,
}

/// The image references of a chart and its subcharts; warnings go to `warn`.
pub fn chart_images(chart: &Chart, app: Option<&str>, warn: &mut Vec<String>) -> Vec<Found> {
    let values = parse_values(chart, warn);
    let mut out = Vec::new();
    images_with(chart, &values, app, warn, &mut out);
    out
}

fn parse_values(chart: &Chart, warn: &mut Vec<String>) -> Value {
    if chart.values_text.trim().is_empty() {
        return Value::Mapping(Mapping::new());
    }
    match serde_yaml::from_str::<Value>(&chart.values_text) {
        Ok(v @ Value::Mapping(_)) => v,
        Ok(Value::Null) => Value::Mapping(Mapping::new()),
        Ok(_) | Err(_) => {
            warn.push(format!(
                "chart {}: values.yaml is not a YAML mapping; its values are not scanned",
                chart.dir
            ));
            Value::Mapping(Mapping::new())
        }
    }
}

fn images_with(
    chart: &Chart,
    values: &Value,
    app: Option<&str>,
    warn: &mut Vec<String>,
    out: &mut Vec<Found>,
) {
    let ctx = Ctx { chart, values };
    out.extend(template_images(&ctx, app, warn));
    let values_file = format!("{}/values.yaml", chart.dir);
    let lines = Lines::new(&chart.values_text);
    let mut cursor = 0;
    let mut found = Vec::new();
    walk_values(&ctx, values, &mut Vec::new(), None, &mut found);
    for (text, path, key, raw) in found {
        let mut source = Source::line(&values_file, lines.find(&key, &raw, &mut cursor));
        source.detail = Some(format!("values: {path}"));
        source.app = app.map(String::from);
        out.push(Found { text, source });
    }
    for sub in &chart.subcharts {
        let mut sub_values = parse_values(sub, warn);
        if let Some(section) = values.get(sub.name.as_str()) {
            merge(&mut sub_values, section);
        }
        if let Some(global) = values.get("global") {
            let mut g = Value::Mapping(Mapping::new());
            merge(&mut g, global);
            if let Value::Mapping(m) = &mut sub_values {
                let mut merged = m.get("global").cloned().unwrap_or(Value::Null);
                merge(&mut merged, &g);
                m.insert("global".into(), merged);
            }
        }
        images_with(sub, &sub_values, app, warn, out);
    }
}

/// Helm's coalescing: `over` wins, mappings merge key by key.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

struct Ctx<'a> {
    chart: &'a Chart,
    values: &'a Value,
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
                if let Some(v) = &ctx.chart.app_version {
                    text = format!("{text}:{v}");
                }
            }
        }
    }
    Some(Some((text, leaf.to_string(), repo.to_string())))
}

/// References from the `image:` lines of the chart's templates.
fn template_images(ctx: &Ctx, app: Option<&str>, warn: &mut Vec<String>) -> Vec<Found> {
    let mut out = Vec::new();
    let mut refused: Option<String> = None;
    for (file, text) in &ctx.chart.templates {
        for (line, _key, value) in line_pairs(text) {
            let rendered = if value.contains("{{") {
                match render(ctx, &value) {
                    Ok(r) => unquote(&r),
                    Err(why) => {
                        refused.get_or_insert_with(|| format!("{file}:{line}: {why}"));
                        continue;
                    }
                }
            } else {
                value.clone()
            };
            if rendered.is_empty() {
                continue;
            }
            if let Err(e) = normalize(&rendered) {
                refused
                    .get_or_insert_with(|| format!("{file}:{line}: renders as {rendered:?}: {e}"));
                continue;
            }
            let mut source = Source::line(file, line);
            source.app = app.map(String::from);
            out.push(Found {
                text: rendered,
                source,
            });
        }
    }
    if let Some(why) = refused {
        warn.push(format!(
            "chart {} cannot be rendered ({why}); its images come from values.yaml",
            ctx.chart.dir
        ));
    }
    out
}

/// Renders the `{{ }}` actions of one line.
fn render(ctx: &Ctx, text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("an action without }}")?;
        let action = after[..end].trim();
        let action = action.strip_prefix('-').unwrap_or(action);
        let action = action.strip_suffix('-').unwrap_or(action).trim();
        if action.starts_with("/*") {
            rest = &after[end + 2..];
            continue;
        }
        out.push_str(&pipeline(ctx, action)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Debug, PartialEq)]
enum Tok {
    Field(String),
    Str(String),
    Word(String),
    Pipe,
}

fn tokens(action: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b = action.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'|' {
            out.push(Tok::Pipe);
            i += 1;
        } else if c == b'"' || c == b'`' {
            let close = action[i + 1..]
                .find(c as char)
                .ok_or("an unterminated string")?;
            out.push(Tok::Str(action[i + 1..i + 1 + close].to_string()));
            i += close + 2;
        } else if c == b'(' || c == b')' || c == b'$' {
            return Err(format!("{:?} is not supported", c as char));
        } else {
            let end = action[i..]
                .find(|ch: char| ch.is_ascii_whitespace() || ch == '|' || ch == ')')
                .map_or(b.len(), |n| i + n);
            let word = &action[i..end];
            if word.starts_with('.') {
                out.push(Tok::Field(word.to_string()));
            } else {
                out.push(Tok::Word(word.to_string()));
            }
            i = end;
        }
    }
    Ok(out)
}

fn field(ctx: &Ctx, path: &str) -> Result<String, String> {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let value = match parts.as_slice() {
        ["Values", rest @ ..] => {
            let mut v = ctx.values;
            for p in rest {
                match v.get(*p) {
                    Some(x) => v = x,
                    None => return Ok(String::new()),
                }
            }
            return scalar(v).ok_or_else(|| format!("{path} is not a scalar"));
        }
        ["Chart", "AppVersion"] => ctx.chart.app_version.clone().unwrap_or_default(),
        ["Chart", "Version"] => ctx.chart.version.clone().unwrap_or_default(),
        ["Chart", "Name"] => ctx.chart.name.clone(),
        ["Release", "Name"] => "release-name".to_string(),
        ["Release", "Namespace"] => "default".to_string(),
        _ => return Err(format!("{path} is not supported")),
    };
    Ok(value)
}

fn pipeline(ctx: &Ctx, action: &str) -> Result<String, String> {
    let toks = tokens(action)?;
    let mut piped: Option<String> = None;
    for cmd in toks.split(|t| *t == Tok::Pipe) {
        let mut args = Vec::new();
        let (head, rest) = cmd.split_first().ok_or("an empty command")?;
        for t in rest {
            args.push(match t {
                Tok::Field(f) => field(ctx, f)?,
                Tok::Str(s) => s.clone(),
                Tok::Word(w) if w.parse::<f64>().is_ok() => w.clone(),
                Tok::Word(w) => return Err(format!("{w} is not supported")),
                Tok::Pipe => unreachable!("split at pipes"),
            });
        }
        if let Some(p) = piped.take() {
            args.push(p);
        }
        piped = Some(match head {
            Tok::Field(f) if args.is_empty() => field(ctx, f)?,
            Tok::Str(s) if args.is_empty() => s.clone(),
            Tok::Word(w) => call(w, &args)?,
            _ => return Err("arguments after a value".into()),
        });
    }
    piped.ok_or_else(|| "an empty action".into())
}

fn call(name: &str, args: &[String]) -> Result<String, String> {
    let one = || match args {
        [a] => Ok(a.clone()),
        _ => Err(format!("{name} takes one argument")),
    };
    Ok(match name {
        "default" => match args {
            [d, v] => {
                if v.is_empty() {
                    d.clone()
                } else {
                    v.clone()
                }
            }
            _ => return Err("default takes two arguments".into()),
        },
        "required" => match args {
            [msg, v] if v.is_empty() => return Err(format!("required value missing: {msg}")),
            [_, v] => v.clone(),
            _ => return Err("required takes two arguments".into()),
        },
        "quote" => format!("\"{}\"", one()?),
        "squote" => format!("'{}'", one()?),
        "toString" => one()?,
        "trim" => one()?.trim().to_string(),
        "lower" => one()?.to_lowercase(),
        "upper" => one()?.to_uppercase(),
        "printf" => {
            let (fmt, rest) = args.split_first().ok_or("printf needs a format")?;
            let mut out = String::new();
            let mut it = rest.iter();
            let mut chars = fmt.chars();
            while let Some(c) = chars.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('s' | 'v' | 'd') => {
                        out.push_str(it.next().ok_or("printf: too few arguments")?)
                    }
                    Some('%') => out.push('%'),
                    other => {
                        return Err(format!(
                            "printf verb %{} is not supported",
                            other.unwrap_or(' ')
                        ))
                    }
                }
            }
            out
        }
        other => return Err(format!("{other} is not supported")),
    })
}

#[cfg(test)]
mod tests;
