//! Dependencies as `helm template` processes them before rendering:
//! every enabled `dependencies:` entry of the top chart must have its chart
//! in charts/ (`action.CheckDependencies`, which Helm applies to disabled
//! ones too), and
//! `chartutil.ProcessDependencies`: aliases applied, `tags` and `condition`
//! evaluated against the coalesced values (a condition's first path that
//! holds a bool wins), disabled charts removed, and `import-values` copied
//! from children into parents (children first; the parent's own values win).

use std::collections::BTreeSet;

use super::chart::Chart;
use super::semver::is_compatible_range;
use super::values::{coalesce_tables, coalesce_values, path_value, table, CoalesceError};
use crate::gotmpl::{Map, Value};

/// Why dependencies cannot be processed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DepError {
    /// Chart.yaml names charts that charts/ does not hold.
    #[error("found in Chart.yaml, but missing in charts/ directory: {}", .0.join(", "))]
    Missing(Vec<String>),
    /// Values of a chart and a subchart cannot be coalesced.
    #[error(transparent)]
    Coalesce(#[from] CoalesceError),
    /// An `import-values` entry lacks a string `child` or `parent`.
    #[error(
        "chart {chart:?}: dependency {dep:?}: import-values entry needs string child and parent"
    )]
    ImportValues {
        /// The parent chart.
        chart: String,
        /// The dependency.
        dep: String,
    },
}

/// Dependencies of the top chart whose chart is not in charts/, by the
/// name they take (alias or name), as `action.CheckDependencies` finds them.
pub fn missing_dependencies(c: &Chart) -> Vec<String> {
    let Some(reqs) = &c.metadata.dependencies else {
        return Vec::new();
    };
    reqs.iter()
        .filter(|r| !c.dependencies.iter().any(|d| d.name() == r.name))
        .map(|r| {
            if r.alias.is_empty() {
                r.name.clone()
            } else {
                r.alias.clone()
            }
        })
        .collect()
}

/// After processing: a missing dependency is an error unless it was
/// disabled (Helm errs even then; charts often leave disabled ones out).
pub fn check_missing(c: &Chart, missing: &[String]) -> Result<(), DepError> {
    let enabled = c.metadata.dependencies.iter().flatten();
    let still: Vec<String> = enabled
        .filter(|r| missing.contains(&r.name))
        .map(|r| r.name.clone())
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(DepError::Missing(still))
    }
}

/// `chartutil.ProcessDependencies(chart, vals)`.
pub fn process_dependencies(c: &mut Chart, vals: &Value) -> Result<(), DepError> {
    process_enabled(c, vals, "")?;
    process_import_values(c)
}

fn matches(req_name: &str, req_version: &str, c: &Chart) -> bool {
    c.name() == req_name && is_compatible_range(req_version, &c.metadata.version)
}

fn process_enabled(c: &mut Chart, v: &Value, path: &str) -> Result<(), DepError> {
    let Some(mut reqs) = c.metadata.dependencies.take() else {
        return Ok(());
    };
    let existing = std::mem::take(&mut c.dependencies);
    let mut deps: Vec<Chart> = existing
        .iter()
        .filter(|e| !reqs.iter().any(|r| matches(&r.name, &r.version, e)))
        .cloned()
        .collect();
    for r in reqs.iter_mut() {
        if let Some(found) = existing.iter().find(|e| matches(&r.name, &r.version, e)) {
            let mut d = found.clone();
            if !r.alias.is_empty() {
                d.metadata.name = r.alias.clone();
            }
            deps.push(d);
        }
        if !r.alias.is_empty() {
            r.name = r.alias.clone();
        }
        r.enabled = true;
    }
    c.dependencies = deps;
    c.metadata.dependencies = Some(reqs.clone());
    let cvals = coalesce_values(c, v)?;
    for r in reqs.iter_mut() {
        if let Some(on) = tags_enable(&r.tags, &cvals) {
            r.enabled = on;
        }
        if let Some(on) = condition_enable(&r.condition, &cvals, path) {
            r.enabled = on;
        }
    }
    let rm: BTreeSet<String> = reqs
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    c.dependencies.retain(|d| !rm.contains(d.name()));
    reqs.retain(|r| !rm.contains(&r.name));
    for t in c.dependencies.iter_mut() {
        let sub = format!("{path}{}.", t.name());
        process_enabled(t, &cvals, &sub)?;
    }
    c.metadata.dependencies = (!reqs.is_empty()).then_some(reqs);
    Ok(())
}

/// processDependencyTags for one dependency: `Some(enabled)` when the
/// values hold a `tags` table.
fn tags_enable(tags: &[String], cvals: &Value) -> Option<bool> {
    let vt = table(cvals, "tags")?;
    let (mut has_true, mut has_false) = (false, false);
    for k in tags {
        match vt.get(k) {
            Value::Bool(true) => has_true = true,
            Value::Bool(false) => has_false = true,
            _ => {}
        }
    }
    Some(has_true || !has_false)
}

/// processDependencyConditions for one dependency: the first path of the
/// comma list that holds a bool.
fn condition_enable(condition: &str, cvals: &Value, path: &str) -> Option<bool> {
    for c in condition.trim().split(',') {
        if c.is_empty() {
            continue;
        }
        if let Some(Value::Bool(b)) = path_value(cvals, &format!("{path}{c}")) {
            return Some(b);
        }
    }
    None
}

fn process_import_values(c: &mut Chart) -> Result<(), DepError> {
    for d in c.dependencies.iter_mut() {
        process_import_values(d)?;
    }
    let Some(mut reqs) = c.metadata.dependencies.take() else {
        return Ok(());
    };
    let cvals = coalesce_values(c, &Value::Nil)?;
    let mut b = Value::new_map();
    for r in reqs.iter_mut() {
        let mut out = Vec::new();
        for iv in &r.import_values {
            let (child, parent) = match iv {
                Value::Map(m) => {
                    let m = m.borrow();
                    match (m.get("child"), m.get("parent")) {
                        (Some(Value::Str(ch)), Some(Value::Str(p))) => {
                            (ch.to_string(), p.to_string())
                        }
                        _ => {
                            return Err(DepError::ImportValues {
                                chart: c.name().to_string(),
                                dep: r.name.clone(),
                            })
                        }
                    }
                }
                Value::Str(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            let mut pair = Map::new();
            pair.insert("child".into(), Value::from(child.as_str()));
            pair.insert("parent".into(), Value::from(parent.as_str()));
            out.push(Value::from(pair));
            let Some(vv) = table(&cvals, &format!("{}.{child}", r.name)) else {
                continue;
            };
            b = if matches!(iv, Value::Map(_)) {
                coalesce_tables(&cvals, &path_to_map(&parent, vv))
            } else {
                coalesce_tables(&b, &vv)
            };
        }
        r.import_values = out;
    }
    c.metadata.dependencies = Some(reqs);
    c.values = coalesce_tables(&cvals, &b);
    Ok(())
}

/// pathToMap: `data` nested under the dotted `path` (`.` is `data` itself).
fn path_to_map(path: &str, data: Value) -> Value {
    if path == "." {
        return data;
    }
    path.split('.').rev().fold(data, |cur, key| {
        let mut m = Map::new();
        m.insert(key.to_string(), cur);
        Value::from(m)
    })
}

#[cfg(test)]
#[path = "deps_tests.rs"]
mod tests;
