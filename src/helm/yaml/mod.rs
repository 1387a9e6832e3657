//! YAML decoded exactly as Helm 3.9 decodes values files, `-f` files,
//! `Chart.yaml`, `requirements.yaml` and `fromYaml` input: sigs.k8s.io/yaml
//! (v1.3) runs gopkg.in/yaml.v2 (v2.4, YAML 1.1 resolution) into
//! `interface{}`, converts that to JSON and decodes the JSON again.
//!
//! ```text
//! text --node::parse_first--> Doc --decode::decode--> Go --to_value--> Value
//!       (first document)           (yaml.v2 interface{})   (JSON round trip)
//! ```
//!
//! So `yes`/`on`/`y` are bools, as values and as keys (`n: 1` is the key
//! "false"); `0755` is 493; a timestamp stays its text; every number ends
//! a float64; a key that is not a string becomes its Go text (`1`, `true`,
//! floats as `FormatFloat(f, 'g', -1, 32)`); a null key, or a NaN or
//! infinity anywhere, fails as the JSON conversion fails. Quoted scalars
//! are strings.

mod decode;
mod node;
mod resolve;

pub use resolve::{resolve_untagged, STR as STR_TAG};

use crate::gotmpl::{Map, Value};

/// A value as yaml.v2 decodes it into `interface{}`, before the JSON
/// conversion: Go's dynamic types are kept (`Chart.yaml`'s string fields
/// print an int and a float differently).
#[derive(Clone, Debug, PartialEq)]
pub enum Go {
    /// nil.
    Nil,
    /// bool.
    Bool(bool),
    /// int (every integer that fits int64).
    Int(i64),
    /// uint64 (integers past int64).
    Uint(u64),
    /// float64.
    Float(f64),
    /// string (timestamps included).
    Str(String),
    /// []interface{}.
    List(Vec<Go>),
    /// map[interface{}]interface{}: unique keys, in document order.
    Map(Vec<(Go, Go)>),
}

/// sigs.k8s.io/yaml's prefix of every YAML-side error.
const TO_JSON: &str = "error converting YAML to JSON: ";

/// yaml.v2's Unmarshal of the first document into `interface{}` (nil for
/// an empty stream). Errors read `error converting YAML to JSON: yaml: …`.
pub fn decode_go(text: &str) -> Result<Go, String> {
    let fail = |e: String| format!("{TO_JSON}yaml: {e}");
    let doc = node::parse_first(text).map_err(fail)?;
    match doc.root {
        None => Ok(Go::Nil),
        Some(root) => decode::decode(&doc, root).map_err(fail),
    }
}

/// sigs.k8s.io/yaml's Unmarshal of the first document of `text` into
/// `interface{}`: nil for an empty stream.
pub fn decode(text: &str) -> Result<Value, String> {
    to_value(&decode_go(text)?)
}

/// sigs.k8s.io/yaml's conversion of a decoded value to JSON and back:
/// keys become strings, numbers float64. Fails on a key with no JSON
/// text (null, uint64) and on NaN or an infinity.
pub fn to_value(v: &Go) -> Result<Value, String> {
    let mut bad_float = None;
    let out = json_value(v, &mut bad_float).map_err(|e| format!("{TO_JSON}{e}"))?;
    match bad_float {
        Some(f) => Err(format!(
            "{TO_JSON}json: unsupported value: {}",
            go_float_text(f)
        )),
        None => Ok(out),
    }
}

fn json_value(v: &Go, bad_float: &mut Option<f64>) -> Result<Value, String> {
    Ok(match v {
        Go::Nil => Value::Nil,
        Go::Bool(b) => Value::Bool(*b),
        Go::Int(i) => Value::Float(*i as f64),
        Go::Uint(u) => Value::Float(*u as f64),
        Go::Float(f) => {
            if !f.is_finite() && bad_float.is_none() {
                *bad_float = Some(*f);
            }
            Value::Float(*f)
        }
        Go::Str(s) => Value::from(s.as_str()),
        Go::List(l) => Value::from(
            l.iter()
                .map(|x| json_value(x, bad_float))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Go::Map(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let key = key_text(k).map_err(|ty| {
                    format!(
                        "Unsupported map key of type: {ty}, key: {}, value: {}",
                        key_syntax(k),
                        value_syntax(x)
                    )
                })?;
                out.insert(key, json_value(x, bad_float)?);
            }
            Value::from(out)
        }
    })
}

/// A map key as sigs.k8s.io/yaml turns it into a JSON key, or the Go type
/// it refuses.
pub fn key_text(k: &Go) -> Result<String, &'static str> {
    match k {
        Go::Str(s) => Ok(s.clone()),
        Go::Int(i) => Ok(i.to_string()),
        Go::Bool(b) => Ok(b.to_string()),
        Go::Float(f) => Ok(match go_float32_g(*f).as_str() {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            s => s.to_string(),
        }),
        Go::Nil => Err("%!s(<nil>)"),
        Go::Uint(_) => Err("uint64"),
        Go::List(_) => Err("[]interface {}"),
        Go::Map(_) => Err("map[interface {}]interface {}"),
    }
}

fn key_syntax(k: &Go) -> String {
    match k {
        Go::Nil => "<nil>".into(),
        Go::Uint(u) => format!("0x{u:x}"),
        other => value_syntax(other),
    }
}

/// Go's `%+#v` of a scalar value (collections shortened).
fn value_syntax(v: &Go) -> String {
    match v {
        Go::Nil => "<nil>".into(),
        Go::Bool(b) => b.to_string(),
        Go::Int(i) => i.to_string(),
        Go::Uint(u) => format!("0x{u:x}"),
        Go::Float(f) => go_float_text(*f),
        Go::Str(s) => format!("{s:?}"),
        Go::List(_) => "[]interface {}{…}".into(),
        Go::Map(_) => "map[interface {}]interface {}{…}".into(),
    }
}

/// strconv.FormatFloat(f, 'g', -1, 64) for the special values and plain
/// numbers (what encoding/json's "unsupported value" prints).
fn go_float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f}")
    }
}

/// strconv.FormatFloat(f, 'g', -1, 32): the shortest float32 text, in
/// exponent form when the exponent is below -4 or at least 6.
pub fn go_float32_g(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
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

#[cfg(test)]
mod tests;
