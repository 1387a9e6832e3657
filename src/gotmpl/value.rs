//! The values a template works on, shaped as Go's `interface{}` values are
//! after Helm decodes YAML through JSON: nil, bool, int, float64, string,
//! []byte, []interface{}, map[string]interface{}, and objects with fields and
//! methods (`.Chart`, `.Capabilities`, `.Files`).
//!
//! Maps are shared and mutable as Go's maps are: `set $d "k" 1` is seen
//! through every copy of `$d`. Lists are immutable once made (sprig's list
//! functions return new lists).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A Go map[string]interface{}: keys in Go's sort order (bytewise).
pub type Map = BTreeMap<String, Value>;

/// One template value.
#[derive(Clone, Default)]
pub enum Value {
    /// A nil interface (a missing key, `null`).
    #[default]
    Nil,
    /// bool.
    Bool(bool),
    /// int / int64 (template constants, `len`, sprig's math).
    Int(i64),
    /// float64 (every number of values decoded through JSON).
    Float(f64),
    /// string.
    Str(Rc<str>),
    /// []byte (`.Files.GetBytes`, `b64dec` inputs).
    Bytes(Rc<[u8]>),
    /// []interface{}.
    List(Rc<Vec<Value>>),
    /// map[string]interface{}, shared and mutable.
    Map(Rc<RefCell<Map>>),
    /// A struct or named type with fields and methods.
    Object(Rc<dyn Object>),
}

/// A Go struct (or named type) seen by templates: fields and methods by
/// name, as `.Capabilities.KubeVersion.Version` or `.Files.Get "x"` reach them.
pub trait Object {
    /// Go's type name, as `%T` and `typeOf` print it (`*chart.Metadata`).
    fn type_name(&self) -> &str;
    /// Go's `reflect.Kind` name (`struct`, `ptr`, `map`, `slice`).
    fn kind(&self) -> &str {
        "ptr"
    }
    /// The field or method `name` called with `args`; `None` if the type
    /// has no such member. A field called with arguments is an error.
    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// The value as `toJson`/`toYaml` see it (a struct's exported fields by
    /// their JSON names), and as `%v` prints it.
    fn to_data(&self) -> Value;
    /// How `%v` prints it (Go prints structs as `{a b}`).
    fn print(&self) -> String {
        crate::gotmpl::format::sprint_value(&self.to_data())
    }
    /// Whether `if` takes it as true (structs always are).
    fn truth(&self) -> bool {
        true
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "bytes{b:?}"),
            Value::List(l) => f.debug_list().entries(l.iter()).finish(),
            Value::Map(m) => f.debug_map().entries(m.borrow().iter()).finish(),
            Value::Object(o) => write!(f, "<{}>", o.type_name()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Rc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }
}

impl Value {
    /// An empty map.
    pub fn new_map() -> Value {
        Value::from(Map::new())
    }

    /// Go's truth for `if`, `with`, `and`, `or`, `not`: false, 0, nil and
    /// empty strings, lists and maps are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(x) => *x != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Object(o) => o.truth(),
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is nil.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Go's type name, as `%T` and sprig's `typeOf` print it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// Go's `reflect.Kind` name, as sprig's `kindOf` prints it.
    pub fn kind_name(&self) -> String {
        match self {
            Value::Nil => "invalid".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::Bytes(_) | Value::List(_) => "slice".into(),
            Value::Map(_) => "map".into(),
            Value::Object(o) => o.kind().into(),
        }
    }

    /// A map's value at `key` (nil when missing or not a map).
    pub fn get(&self, key: &str) -> Value {
        match self {
            Value::Map(m) => m.borrow().get(key).cloned().unwrap_or(Value::Nil),
            _ => Value::Nil,
        }
    }

    /// A deep copy: maps are new maps (sprig's `deepCopy`).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::from(l.iter().map(Value::deep_copy).collect::<Vec<_>>()),
            Value::Map(m) => Value::from(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect::<Map>(),
            ),
            v => v.clone(),
        }
    }

    /// Structural equality of data (maps by content), as reflect.DeepEqual.
    pub fn deep_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.deep_eq(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                let (a, b) = (a.borrow(), b.borrow());
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.deep_eq(vb))
            }
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Converts YAML decoded by serde_yaml as Helm's values are decoded
    /// (through JSON: every number a float64, non-string keys as strings).
    pub fn from_yaml(v: &serde_yaml::Value) -> Value {
        use serde_yaml::Value as Y;
        match v {
            Y::Null => Value::Nil,
            Y::Bool(b) => Value::Bool(*b),
            Y::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            Y::String(s) => Value::from(s.as_str()),
            Y::Sequence(s) => Value::from(s.iter().map(Value::from_yaml).collect::<Vec<_>>()),
            Y::Mapping(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(yaml_key(k), Value::from_yaml(v));
                }
                Value::from(out)
            }
            Y::Tagged(t) => Value::from_yaml(&t.value),
        }
    }

    /// Converts JSON as Go's encoding/json decodes into interface{}.
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            J::String(s) => Value::from(s.as_str()),
            J::Array(a) => Value::from(a.iter().map(Value::from_json).collect::<Vec<_>>()),
            J::Object(o) => Value::from(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect::<Map>(),
            ),
        }
    }
}

/// A YAML mapping key as a string key (sigs.k8s.io/yaml prints non-string
/// keys with %v).
fn yaml_key(k: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Y;
    match k {
        Y::String(s) => s.clone(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::Null => "null".into(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// A plain struct: named fields in order, no methods (`.HelmVersion`).
pub struct Struct {
    /// Go's type name.
    pub name: String,
    /// Fields by Go name, with their JSON names for `to_data`.
    pub fields: Vec<(String, String, Value)>,
}

impl Object for Struct {
    fn type_name(&self) -> &str {
        &self.name
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let (_, _, v) = self.fields.iter().find(|(n, _, _)| n == name)?;
        if !args.is_empty() {
            return Some(Err(format!(
                "{name} has arguments but cannot be invoked as function"
            )));
        }
        Some(Ok(v.clone()))
    }

    fn to_data(&self) -> Value {
        let mut m = Map::new();
        for (_, json, v) in &self.fields {
            if json.is_empty() {
                continue;
            }
            let data = match v {
                Value::Object(o) => o.to_data(),
                v => v.clone(),
            };
            m.insert(json.clone(), data);
        }
        Value::from(m)
    }

    fn print(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .map(|(_, _, v)| crate::gotmpl::format::sprint_value(v))
            .collect();
        format!("{{{}}}", parts.join(" "))
    }
}
