//! Values as Helm 3.9's chartutil handles them: decoded from YAML through
//! JSON (numbers are float64), coalesced parent-over-subchart with `global`
//! copied down (`CoalesceValues`), merged table-over-table
//! (`CoalesceTables`), and looked up by dotted path (`Table`, `PathValue`).
//!
//! Maps are shared as Go's are: a chart's default table placed into the
//! coalesced values is the same map, so later merges into it are seen
//! through the chart, exactly as in Helm. Each merge walks a snapshot of
//! its source, so merging a map into itself cannot alias a borrow.

use std::cell::RefCell;
use std::rc::Rc;

use super::chart::Chart;
use crate::gotmpl::{Map, Value};

/// The key whose table every subchart inherits.
pub const GLOBAL_KEY: &str = "global";

type MapRef = Rc<RefCell<Map>>;

/// Decodes a values file (`values.yaml`, `-f FILE`) as Helm's
/// `ReadValues` does: the first YAML document (YAML 1.1, through JSON), a
/// mapping or nothing (an empty map).
pub fn parse_values(text: &str) -> Result<Value, String> {
    match super::yaml::decode(text)? {
        Value::Nil => Ok(Value::new_map()),
        v @ Value::Map(_) => Ok(v),
        other => Err(format!(
            "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
    }
}

/// encoding/json's name of a decoded value's JSON type.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Bool(_) => "bool",
        Value::Float(_) | Value::Int(_) => "number",
        _ => "string",
    }
}

/// The map inside a value, if it is one.
pub fn as_map(v: &Value) -> Option<&MapRef> {
    match v {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn entries(m: &MapRef) -> Vec<(String, Value)> {
    m.borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn lookup(m: &MapRef, key: &str) -> Option<Value> {
    m.borrow().get(key).cloned()
}

/// `CoalesceTables(dst, src)`: `dst` wins; tables merge recursively; a
/// nil in `dst` deletes the key. Returns `dst` (or `src` when `dst` is nil).
pub fn coalesce_tables(dst: &Value, src: &Value) -> Value {
    match (as_map(dst), as_map(src)) {
        (Some(d), Some(s)) => {
            merge_tables(d, s);
            dst.clone()
        }
        (_, None) => dst.clone(),
        (None, Some(_)) => src.clone(),
    }
}

fn merge_tables(dst: &MapRef, src: &MapRef) {
    for (key, val) in entries(src) {
        let dv = lookup(dst, &key);
        match dv {
            Some(Value::Nil) => {
                dst.borrow_mut().remove(&key);
            }
            None => {
                dst.borrow_mut().insert(key, val);
            }
            Some(Value::Map(dm)) => {
                if let Value::Map(sm) = &val {
                    merge_tables(&dm, sm);
                }
            }
            Some(_) => {}
        }
    }
}

/// Why values cannot be coalesced (Helm's `type mismatch on NAME: %t`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("type mismatch on {name}: %!t({kind}={value})")]
pub struct CoalesceError {
    /// The subchart whose key holds a non-table.
    pub name: String,
    /// Go's type of the value.
    pub kind: String,
    /// The value as `%v` prints it.
    pub value: String,
}

/// `CoalesceValues(chart, vals)`: a deep copy of `vals` with the chart's
/// defaults and its subcharts' (under their names) filled in.
pub fn coalesce_values(chart: &Chart, vals: &Value) -> Result<Value, CoalesceError> {
    let copy = match vals {
        Value::Map(_) => vals.deep_copy(),
        _ => Value::new_map(),
    };
    let Value::Map(dest) = &copy else {
        return Ok(copy);
    };
    coalesce(chart, dest)?;
    Ok(copy)
}

fn coalesce(chart: &Chart, dest: &MapRef) -> Result<(), CoalesceError> {
    coalesce_chart_values(chart, dest);
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        let dv = match lookup(dest, &name) {
            None => {
                let m = Value::new_map();
                dest.borrow_mut().insert(name.clone(), m.clone());
                m
            }
            Some(v @ Value::Map(_)) => v,
            Some(other) => {
                return Err(CoalesceError {
                    name,
                    kind: other.type_name(),
                    value: format!("{other:?}"),
                })
            }
        };
        if let Value::Map(dvmap) = &dv {
            coalesce_globals(dvmap, dest);
            coalesce(sub, dvmap)?;
        }
    }
    Ok(())
}

/// Copies the parent's `global` table into a subchart's values, merged
/// over what the subchart's table already holds.
fn coalesce_globals(dest: &MapRef, src: &MapRef) {
    let dg = match lookup(dest, GLOBAL_KEY) {
        None => Rc::new(RefCell::new(Map::new())),
        Some(Value::Map(m)) => m,
        Some(_) => return,
    };
    let sg = match lookup(src, GLOBAL_KEY) {
        None => Rc::new(RefCell::new(Map::new())),
        Some(Value::Map(m)) => m,
        Some(_) => return,
    };
    for (key, val) in entries(&sg) {
        if let Value::Map(vm) = &val {
            let vv: MapRef = Rc::new(RefCell::new(vm.borrow().clone()));
            match lookup(&dg, &key) {
                None => {
                    dg.borrow_mut().insert(key, Value::Map(vv));
                }
                Some(Value::Map(destv)) => {
                    merge_tables(&vv, &destv);
                    dg.borrow_mut().insert(key, Value::Map(vv));
                }
                Some(_) => {}
            }
        } else if lookup(&dg, &key).is_some_and(|d| is_table(&d)) {
            // Helm skips a scalar over a table.
        } else {
            dg.borrow_mut().insert(key, val);
        }
    }
    dest.borrow_mut().insert(GLOBAL_KEY.into(), Value::Map(dg));
}

/// `coalesceValues`: the chart's defaults under `v` (which wins); a nil in
/// `v` deletes the key.
fn coalesce_chart_values(chart: &Chart, v: &MapRef) {
    let Value::Map(defaults) = &chart.values else {
        return;
    };
    for (key, val) in entries(defaults) {
        match lookup(v, &key) {
            Some(Value::Nil) => {
                v.borrow_mut().remove(&key);
            }
            Some(Value::Map(dest)) => {
                if let Value::Map(src) = &val {
                    merge_tables(&dest, src);
                }
            }
            Some(_) => {}
            None => {
                v.borrow_mut().insert(key, val);
            }
        }
    }
}

/// `Values.Table(path)`: the table at a dotted path.
pub fn table(v: &Value, path: &str) -> Option<Value> {
    let mut cur = v.clone();
    for part in path.split('.') {
        let next = as_map(&cur)?.borrow().get(part).cloned()?;
        if !is_table(&next) {
            return None;
        }
        cur = next;
    }
    Some(cur)
}

/// `Values.PathValue(path)`: the non-table value at a dotted path (which
/// may be nil); `None` when there is none.
pub fn path_value(v: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (table(v, p)?, k),
        None => (v.clone(), path),
    };
    let found = as_map(&parent)?.borrow().get(key).cloned()?;
    (!is_table(&found)).then_some(found)
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
