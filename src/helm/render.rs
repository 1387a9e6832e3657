//! Rendering a chart as `helm template` does (Helm 3.9.4's action.Install
//! up to `engine.Render`): dependencies checked and processed, user values
//! coalesced over the charts' defaults, then every template of the chart
//! tree parsed into one set and each non-partial one executed with the
//! values of its chart's scope.
//!
//! ```text
//! parent/templates/a.yaml            .Values = all values
//! parent/charts/sub/templates/b.yaml .Values = values.sub (globals copied in)
//! parse order: deepest paths first, so a parent's `define` wins
//! ```
//!
//! `include`, `tpl`, `required`, `fail` and `lookup` are Helm's own
//! functions; the engine's [`Host`] does the nesting (Helm's 1000 nested
//! includes per name) and `tpl`'s parse, error wrapping and `<no value>`.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::archive::clean_path;
use super::chart::Chart;
use super::deps::{check_missing, missing_dependencies, process_dependencies, DepError};
use super::files::Files;
use super::objects::{capabilities, chart_object, release, KubeVersion};
use super::schema::validate_chart;
use super::values::{as_map, coalesce_tables, coalesce_values, path_value, table, CoalesceError};
use crate::gotmpl::{Host, Map, Templates, Value};

/// How to render: what `helm template NAME CHART -n NS -f ...` is given.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Capabilities.KubeVersion` (`v1.22.15`); Helm's default v1.20.0 if none.
    pub kube_version: Option<String>,
    /// Values files in order (`-f a.yaml -f b.yaml`: later wins).
    pub user_values: Vec<Value>,
    /// `.Release.Revision`: 1 for `helm template` (our oracle passes 0).
    pub revision: i64,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            kube_version: None,
            user_values: Vec::new(),
            revision: 1,
        }
    }
}

/// The output of one template.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Its name: `chart/templates/x.yaml`, `chart/charts/sub/templates/y.yaml`.
    pub template: String,
    /// What it printed (`<no value>` removed).
    pub text: String,
}

/// Why a chart cannot be rendered, with Helm's message.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Dependencies are missing or cannot be processed.
    #[error(transparent)]
    Dependencies(#[from] DepError),
    /// Values of charts cannot be coalesced.
    #[error(transparent)]
    Values(#[from] CoalesceError),
    /// The values fail a chart's values.schema.json (Helm's list of violations).
    #[error("{0}")]
    Schema(String),
    /// The kube version given is not a version.
    #[error("invalid kube version {0:?}")]
    KubeVersion(String),
    /// A template does not parse (`parse error at (x.yaml:3): ...`).
    #[error("{message}")]
    Parse {
        /// The template.
        template: String,
        /// The line, when known.
        line: usize,
        /// Helm's text.
        message: String,
    },
    /// A template fails while executing (`execution error at (...): ...`).
    #[error("{message}")]
    Exec {
        /// The template executed.
        template: String,
        /// The line of the failing action, when known.
        line: usize,
        /// Helm's text.
        message: String,
    },
}

/// One template with its scope (Helm's `renderable`).
struct Renderable {
    text: String,
    vals: Value,
    base_path: String,
}

/// Renders every template of `chart` (NOTES.txt executed but not returned),
/// sorted by template name.
pub fn render(chart: &Chart, opts: &RenderOptions) -> Result<Release, RenderError> {
    let missing = missing_dependencies(chart);
    let mut vals = Value::new_map();
    for v in &opts.user_values {
        vals = coalesce_tables(&v.deep_copy(), &vals);
    }
    let mut c = deep_clone(chart);
    process_dependencies(&mut c, &vals)?;
    check_missing(&c, &missing)?;
    let kube = match &opts.kube_version {
        None => KubeVersion::default_version(),
        Some(k) => KubeVersion::parse(k).ok_or_else(|| RenderError::KubeVersion(k.clone()))?,
    };
    let mut top = Map::new();
    top.insert("Capabilities".into(), capabilities(kube));
    top.insert(
        "Release".into(),
        release(&opts.release_name, &opts.namespace, opts.revision),
    );
    let values = coalesce_values(&c, &vals)?;
    if let Some(e) = validate_chart(&c, &values) {
        return Err(RenderError::Schema(e));
    }
    top.insert("Values".into(), values.clone());
    let mut tpls = BTreeMap::new();
    all_templates(&c, None, &Value::from(top), &mut tpls);
    let manifests = execute_all(&tpls)?;
    Ok(Release { manifests, values })
}

/// Splits a rendered template into YAML documents as Helm's
/// releaseutil.SplitManifests does (at `---` after a line break, whatever
/// follows it: `---# comment` splits too), with the 1-based line each
/// document starts on.
pub fn split_manifests(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    let mut start = 0;
    // `(?:^|\s*\n)---\s*`: a separator at the very start, or after a newline.
    loop {
        let at = if offset == 0 && rest.starts_with("---") {
            Some((0, 0))
        } else {
            rest.find("\n---").map(|i| {
                let ws = rest[..i].len() - rest[..i].trim_end().len();
                (i - ws, i + 1)
            })
        };
        let Some((doc_end, dashes)) = at else {
            docs.push((start, text[start..].to_string()));
            break;
        };
        docs.push((start, text[start..offset + doc_end].to_string()));
        let after = &rest[dashes + 3..];
        let ws = after.len() - after.trim_start().len();
        let next = offset + dashes + 3 + ws;
        start = next;
        rest = &text[next..];
        offset = next;
    }
    docs.into_iter()
        .filter(|(_, d)| !d.trim().is_empty())
        .map(|(at, d)| (1 + text[..at].matches('\n').count(), d))
        .collect()
}

/// What a chart renders to.
pub struct Release {
    /// Every rendered template but NOTES.txt, by name.
    pub manifests: Vec<Rendered>,
    /// The values it rendered with (`.Values` of the top chart).
    pub values: Value,
}

/// A copy whose value maps are the copy's own (processing mutates them).
fn deep_clone(c: &Chart) -> Chart {
    Chart {
        metadata: c.metadata.clone(),
        values: c.values.deep_copy(),
        templates: c.templates.clone(),
        files: c.files.clone(),
        dependencies: c.dependencies.iter().map(deep_clone).collect(),
        schema: c.schema.clone(),
    }
}

/// recAllTpls: the chart's scope (`next`), its templates, then its subcharts'.
fn all_templates(
    c: &Chart,
    parent: Option<&str>,
    vals: &Value,
    out: &mut BTreeMap<String, Renderable>,
) -> Value {
    let full = match parent {
        None => c.name().to_string(),
        Some(p) => format!("{p}/charts/{}", c.name()),
    };
    let subcharts = Value::new_map();
    let values = match parent {
        None => vals.get("Values"),
        Some(_) => table(vals, &format!("Values.{}", c.name())).unwrap_or_else(Value::new_map),
    };
    let mut next = Map::new();
    next.insert("Chart".into(), chart_object(&c.metadata, parent.is_none()));
    next.insert("Files".into(), Value::Object(Rc::new(Files::new(&c.files))));
    next.insert("Release".into(), vals.get("Release"));
    next.insert("Capabilities".into(), vals.get("Capabilities"));
    next.insert("Values".into(), values);
    next.insert("Subcharts".into(), subcharts.clone());
    let next = Value::from(next);
    for child in &c.dependencies {
        let scope = all_templates(child, Some(&full), &next, out);
        if let Some(m) = as_map(&subcharts) {
            m.borrow_mut().insert(child.name().to_string(), scope);
        }
    }
    let library = c.metadata.is_library();
    for t in &c.templates {
        if library && !base_name(&t.name).starts_with('_') {
            continue;
        }
        out.insert(
            clean_path(&format!("{full}/{}", t.name)),
            Renderable {
                text: String::from_utf8_lossy(&t.data).into_owned(),
                vals: next.clone(),
                base_path: clean_path(&format!("{full}/templates")),
            },
        );
    }
    next
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Helm's parse order: more `/` first, then names in reverse.
fn sort_templates<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut keys: Vec<&String> = names.collect();
    keys.sort_by(|a, b| (b.matches('/').count(), *b).cmp(&(a.matches('/').count(), *a)));
    keys
}

fn execute_all(tpls: &BTreeMap<String, Renderable>) -> Result<Vec<Rendered>, RenderError> {
    let mut t = Templates::new(helm_funcs());
    t.no_value_empty = true;
    let keys = sort_templates(tpls.keys());
    for name in &keys {
        t.parse(name, &tpls[*name].text)
            .map_err(|e| RenderError::Parse {
                template: name.to_string(),
                line: e.line,
                message: cleanup_parse_error(name, &e.to_string()),
            })?;
    }
    let mut out = Vec::new();
    for name in keys {
        if base_name(name).starts_with('_') {
            continue;
        }
        let r = &tpls[name];
        let mut tmeta = Map::new();
        tmeta.insert("Name".into(), Value::from(name.as_str()));
        tmeta.insert("BasePath".into(), Value::from(r.base_path.as_str()));
        if let Some(m) = as_map(&r.vals) {
            m.borrow_mut().insert("Template".into(), Value::from(tmeta));
        }
        let text = t
            .execute(name, r.vals.clone())
            .map_err(|e| RenderError::Exec {
                template: name.to_string(),
                line: e.line,
                message: cleanup_exec_error(name, &e.to_string(), e.exec),
            })?;
        if !name.ends_with("NOTES.txt") {
            out.push(Rendered {
                template: name.to_string(),
                text,
            });
        }
    }
    out.sort_by(|a, b| a.template.cmp(&b.template));
    Ok(out)
}

/// cleanupParseError: `parse error at (LOCATION): LAST MESSAGE`.
fn cleanup_parse_error(name: &str, err: &str) -> String {
    let tokens: Vec<&str> = err.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({name}): {err}");
    }
    format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    )
}

/// cleanupExecError: `execution error at (LOCATION): MSG` for `required`
/// and `fail`; any other error as Go prints it.
fn cleanup_exec_error(name: &str, err: &str, exec: bool) -> String {
    if !exec {
        return err.to_string();
    }
    let tokens: Vec<&str> = err.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({name}): {err}");
    }
    if let Some(start) = tokens[2].find(WARN_START) {
        let rest = &tokens[2][start + WARN_START.len()..];
        if let Some(end) = rest.rfind(WARN_END) {
            return format!("execution error at ({}): {}", tokens[1], &rest[..end]);
        }
    }
    err.to_string()
}

const WARN_START: &str = "HELM_ERR_START";
const WARN_END: &str = "HELM_ERR_END";

/// sprig's and Helm's functions, with Helm's engine-bound ones.
fn helm_funcs() -> crate::gotmpl::FuncMap {
    let mut f = super::funcs::funcs();
    f.insert("include", include);
    f.insert("tpl", tpl);
    f.insert("required", required);
    f.insert("fail", fail);
    f.insert("lookup", lookup);
    f
}

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn string_arg(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| {
        format!(
            "wrong type for value; expected string; got {}",
            v.type_name()
        )
    })
}

fn include(host: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("include", args, 2)?;
    let name = string_arg(&args[0])?;
    host.include(name, args[1].clone()).map(Value::from)
}

fn tpl(host: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("tpl", args, 2)?;
    let text = string_arg(&args[0])?;
    let vals = &args[1];
    if !matches!(vals, Value::Map(_)) {
        return Err(format!(
            "wrong type for value; expected chartutil.Values; got {}",
            vals.type_name()
        ));
    }
    for (key, field) in [("Template.BasePath", "Basepath"), ("Template.Name", "Name")] {
        if path_value(vals, key)
            .and_then(|v| v.as_str().map(str::to_string))
            .is_none()
        {
            let last = key.rsplit('.').next().unwrap_or(key);
            return Err(format!(
                "cannot retrieve Template.{field} from values inside tpl function: {text}: {last:?} is not a value"
            ));
        }
    }
    let name = path_value(vals, "Template.Name")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    // Helm renders tpl's text as a template of its own, so its errors are
    // worded as a render's, then wrapped.
    host.tpl(&name, text, vals.clone())
        .map(Value::from)
        .map_err(|e| {
            let why = if e.exec {
                cleanup_exec_error(&name, &e.to_string(), true)
            } else {
                cleanup_parse_error(&name, &e.to_string())
            };
            format!("error during tpl function execution for {text:?}: {why}")
        })
}

fn required(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("required", args, 2)?;
    let warn = string_arg(&args[0])?;
    match &args[1] {
        Value::Nil => Err(format!("{WARN_START}{warn}{WARN_END}")),
        Value::Str(s) if s.is_empty() => Err(format!("{WARN_START}{warn}{WARN_END}")),
        v => Ok(v.clone()),
    }
}

fn fail(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("fail", args, 1)?;
    Err(format!("{WARN_START}{}{WARN_END}", string_arg(&args[0])?))
}

fn lookup(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("lookup", args, 4)?;
    for a in args {
        string_arg(a)?;
    }
    Ok(Value::new_map())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_order_puts_parents_last() {
        let names: Vec<String> = [
            "p/templates/a.yaml",
            "p/charts/s/templates/b.yaml",
            "p/templates/_h.tpl",
            "p/templates/z.yaml",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got: Vec<&str> = sort_templates(names.iter())
            .into_iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            got,
            [
                "p/charts/s/templates/b.yaml",
                "p/templates/z.yaml",
                "p/templates/a.yaml",
                "p/templates/_h.tpl"
            ]
        );
    }

    #[test]
    fn error_cleanup() {
        let cases = [
            (
                "template: c/templates/a.yaml:3:4: executing \"c/templates/a.yaml\" at <required \"x\" .y>: error calling required: HELM_ERR_STARTx is requiredHELM_ERR_END",
                true,
                "execution error at (c/templates/a.yaml:3:4): x is required",
            ),
            (
                "template: c/templates/a.yaml:3:4: executing \"c/templates/a.yaml\" at <.a.b>: nil pointer evaluating interface {}.b",
                true,
                "template: c/templates/a.yaml:3:4: executing \"c/templates/a.yaml\" at <.a.b>: nil pointer evaluating interface {}.b",
            ),
        ];
        for (err, exec, want) in cases {
            assert_eq!(cleanup_exec_error("c/templates/a.yaml", err, exec), want);
        }
        assert_eq!(
            cleanup_parse_error(
                "c/t.yaml",
                "template: c/t.yaml:3: function \"nope\" not defined"
            ),
            "parse error at (c/t.yaml:3): function \"nope\" not defined"
        );
    }
}
