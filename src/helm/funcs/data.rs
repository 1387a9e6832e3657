//! Helm's data functions (`toYaml`, `fromYaml`, `fromYamlArray`, `toJson`,
//! `fromJson`, `fromJsonArray`, `toToml`) and sprig's JSON ones
//! (`toPrettyJson`, `toRawJson`, `mustToJson`, `mustFromJson`, ...).
//!
//! Helm's versions swallow errors: `toYaml` and `toJson` give "", `toToml`
//! the error text, `fromYaml`/`fromJson` a map whose "Error" key holds the
//! message, the `*Array` forms a one-item list of it. The writers are ours
//! (Go's output, byte for byte); YAML is read by [`crate::helm::yaml`]
//! (yaml.v2's YAML 1.1), JSON by serde_json.

mod json;
mod resolve;
mod scan;
mod toml;
mod yaml;

use super::convert::{arity, want_str};
use crate::gotmpl::{FuncMap, Host, Map, Value};

pub(super) fn register(m: &mut FuncMap) {
    m.insert("toYaml", to_yaml_fn);
    m.insert("fromYaml", from_yaml_fn);
    m.insert("fromYamlArray", from_yaml_array);
    m.insert("toJson", to_json_fn);
    m.insert("mustToJson", must_to_json);
    m.insert("toPrettyJson", to_pretty_json);
    m.insert("mustToPrettyJson", must_to_pretty_json);
    m.insert("toRawJson", to_raw_json);
    m.insert("mustToRawJson", to_raw_json);
    m.insert("fromJson", from_json_fn);
    m.insert("mustFromJson", must_from_json);
    m.insert("fromJsonArray", from_json_array);
    m.insert("toToml", to_toml);
}

/// Helm's `toYaml`: sigs.k8s.io/yaml's output without its final newline
/// ("" if the value cannot be written, e.g. NaN).
pub fn to_yaml(v: &Value) -> String {
    match yaml::marshal(v) {
        Ok(s) => s.strip_suffix('\n').map(str::to_string).unwrap_or(s),
        Err(_) => String::new(),
    }
}

/// Helm's `toJson`: encoding/json's Marshal ("" on error).
pub fn to_json(v: &Value) -> String {
    json::encode(v, MARSHAL).unwrap_or_default()
}

const MARSHAL: json::Style = json::Style {
    escape_html: true,
    pretty: false,
};

fn one<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, String> {
    arity(name, args, 1)?;
    Ok(&args[0])
}

fn to_yaml_fn(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(to_yaml(one("toYaml", args)?)))
}

fn to_json_fn(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(to_json(one("toJson", args)?)))
}

fn must_to_json(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    json::encode(one("mustToJson", args)?, MARSHAL).map(Value::from)
}

const PRETTY: json::Style = json::Style {
    escape_html: true,
    pretty: true,
};

fn to_pretty_json(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let v = one("toPrettyJson", args)?;
    Ok(Value::from(json::encode(v, PRETTY).unwrap_or_default()))
}

fn must_to_pretty_json(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    json::encode(one("mustToPrettyJson", args)?, PRETTY).map(Value::from)
}

/// `toRawJson`: no HTML escaping; its error stops the template.
fn to_raw_json(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let raw = json::Style {
        escape_html: false,
        pretty: false,
    };
    json::encode(one("toRawJson", args)?, raw).map(Value::from)
}

fn to_toml(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let v = one("toToml", args)?;
    match toml::encode(v) {
        Ok(s) => Ok(Value::from(s)),
        Err(e) if e.starts_with("reflect:") => Err(e),
        Err(e) => Ok(Value::from(e)),
    }
}

/// Go's JSON name of a decoded value's type, for "cannot unmarshal".
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::Str(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

/// sigs.k8s.io/yaml's Unmarshal of the first document into `interface{}`
/// (YAML 1.1 as yaml.v2 resolves it, through JSON).
fn parse_yaml(text: &str) -> Result<Value, String> {
    crate::helm::yaml::decode(text)
}

/// The decoded value if it is a map (nil counts as an empty one), or Go's
/// error for decoding it into map[string]interface{}.
fn expect_map(v: Value, prefix: &str) -> Result<Value, String> {
    match v {
        Value::Nil => Ok(Value::new_map()),
        v @ Value::Map(_) => Ok(v),
        v => Err(format!(
            "{prefix}json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&v)
        )),
    }
}

fn expect_list(v: Value, prefix: &str) -> Result<Value, String> {
    match v {
        Value::Nil => Ok(Value::from(Vec::new())),
        v @ Value::List(_) => Ok(v),
        v => Err(format!(
            "{prefix}json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&v)
        )),
    }
}

const YAML_JSON: &str = "error unmarshaling JSON: while decoding JSON: ";

fn error_map(msg: String) -> Value {
    let mut m = Map::new();
    m.insert("Error".into(), Value::from(msg));
    Value::from(m)
}

fn from_yaml_fn(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let text = want_str(one("fromYaml", args)?)?;
    let parsed = parse_yaml(text).and_then(|v| expect_map(v, YAML_JSON));
    Ok(parsed.unwrap_or_else(error_map))
}

fn from_yaml_array(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let text = want_str(one("fromYamlArray", args)?)?;
    let parsed = parse_yaml(text).and_then(|v| expect_list(v, YAML_JSON));
    Ok(parsed.unwrap_or_else(|e| Value::from(vec![Value::from(e)])))
}

/// encoding/json's Unmarshal into interface{} (numbers as float64).
/// Syntax errors are Go's (its scanner runs first); serde_json decodes.
fn parse_json(text: &str) -> Result<Value, String> {
    scan::check_valid(text)?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(j) => Ok(Value::from_json(&j)),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn from_json_fn(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let text = want_str(one("fromJson", args)?)?;
    let parsed = parse_json(text).and_then(|v| expect_map(v, ""));
    Ok(parsed.unwrap_or_else(error_map))
}

fn from_json_array(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let text = want_str(one("fromJsonArray", args)?)?;
    let parsed = parse_json(text).and_then(|v| expect_list(v, ""));
    Ok(parsed.unwrap_or_else(|e| Value::from(vec![Value::from(e)])))
}

/// sprig's `mustFromJson`: any JSON value, or the error.
fn must_from_json(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    parse_json(want_str(one("mustFromJson", args)?)?)
}

#[cfg(test)]
mod tests;
