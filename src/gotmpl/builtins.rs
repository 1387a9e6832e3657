//! Go's text/template builtins that evaluate all their arguments (Go 1.19's
//! funcs.go): `not`, the comparisons, `len`, `index`, `slice`, the printers
//! and the escapers. `and`, `or` and `call` are the evaluator's. Errors
//! carry Go's texts; the evaluator prefixes `error calling NAME: `.

use super::format::{is_print, sprint, sprintf, sprintln};
use super::{Func, FuncMap, Host, Value};

/// The builtins that evaluate all their arguments.
pub fn builtins() -> FuncMap {
    let table: [(&'static str, Func); 16] = [
        ("not", not),
        ("eq", eq),
        ("ne", ne),
        ("lt", lt),
        ("le", le),
        ("gt", gt),
        ("ge", ge),
        ("len", len),
        ("index", index),
        ("slice", slice),
        ("print", print),
        ("printf", printf),
        ("println", println),
        ("html", html),
        ("js", js),
        ("urlquery", urlquery),
    ];
    table.into_iter().collect()
}

/// Go's check of a call's arity: `wrong number of args for eq: want 2 got 3`.
pub(crate) fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want {n} got {}",
        args.len()
    ))
}

/// The variadic form: `want at least 1 got 0`.
pub(crate) fn want_at_least(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() >= n {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want at least {n} got {}",
        args.len()
    ))
}

fn not(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("not", args, 1)?;
    Ok(Value::Bool(!args[0].truth()))
}

/// Go's basicKind classes; `None` for kinds eq/lt cannot order.
#[derive(Clone, Copy, PartialEq)]
enum Basic {
    Bool,
    Int,
    Float,
    Str,
}

fn basic_kind(v: &Value) -> Option<Basic> {
    match v {
        Value::Bool(_) => Some(Basic::Bool),
        Value::Int(_) => Some(Basic::Int),
        Value::Float(_) => Some(Basic::Float),
        Value::Str(_) => Some(Basic::Str),
        _ => None,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's reflect.Kind, for what eq does with non-basic values.
fn reflect_kind(v: &Value) -> String {
    match v {
        Value::Bytes(_) => "slice".into(),
        other => other.kind_name(),
    }
}

/// One comparison of Go's eq.
fn eq_one(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 != k2 {
        if !a.is_nil() && !b.is_nil() {
            return Err(BAD_COMPARISON.into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => return eq_non_basic(a, b),
    })
}

/// eq of nil, maps, lists and objects: same kinds or nil compare, maps and
/// slices never do.
fn eq_non_basic(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (reflect_kind(a), reflect_kind(b));
    if ka != kb && !a.is_nil() && !b.is_nil() {
        return Err(format!(
            "non-comparable types {}: {}, {}: {}",
            sprintf("%s", std::slice::from_ref(a)),
            a.type_name(),
            b.type_name(),
            sprintf("%v", std::slice::from_ref(b)),
        ));
    }
    if a.is_nil() || b.is_nil() {
        return Ok(a.is_nil() == b.is_nil());
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => Ok(std::rc::Rc::ptr_eq(x, y)),
        _ => Err(format!(
            "non-comparable type {}: {}",
            sprintf("%s", std::slice::from_ref(b)),
            b.type_name()
        )),
    }
}

fn eq_values(args: &[Value]) -> Result<bool, String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("wrong number of args for eq: want at least 1 got 0".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for b in rest {
        if eq_one(first, b)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eq(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    eq_values(args).map(Value::Bool)
}

fn ne(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("ne", args, 2)?;
    eq_values(args).map(|t| Value::Bool(!t))
}

/// Go's lt.
fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a).ok_or(BAD_COMPARISON_TYPE)?;
    let k2 = basic_kind(b).ok_or(BAD_COMPARISON_TYPE)?;
    if k1 != k2 {
        return Err(BAD_COMPARISON.into());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x.as_bytes() < y.as_bytes()),
        _ => Err(BAD_COMPARISON_TYPE.into()),
    }
}

fn less_eq(a: &Value, b: &Value) -> Result<bool, String> {
    if less(a, b)? {
        return Ok(true);
    }
    eq_one(a, b)
}

fn lt(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("lt", args, 2)?;
    less(&args[0], &args[1]).map(Value::Bool)
}

fn le(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("le", args, 2)?;
    less_eq(&args[0], &args[1]).map(Value::Bool)
}

fn gt(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("gt", args, 2)?;
    less_eq(&args[0], &args[1]).map(|t| Value::Bool(!t))
}

fn ge(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("ge", args, 2)?;
    less(&args[0], &args[1]).map(|t| Value::Bool(!t))
}

/// A map- or slice-like object (`.Files`, `.Capabilities.APIVersions`) as
/// its data; anything else as it is.
fn data_of(v: &Value) -> Value {
    match v {
        Value::Object(o) if matches!(o.kind(), "map" | "slice") => o.to_data(),
        v => v.clone(),
    }
}

fn len(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_args("len", args, 1)?;
    let n = match &data_of(&args[0]) {
        Value::Nil => return Err("len of nil pointer".into()),
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.borrow().len(),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

/// Go's indexArg: an int index into something of length `cap` (cap itself
/// allowed, as slice bounds are).
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

/// One step of Go's index.
fn index_one(item: &Value, index: &Value) -> Result<Value, String> {
    match item {
        Value::Nil => Err("index of nil pointer".into()),
        Value::List(l) => {
            let x = index_arg(index, l.len())?;
            l.get(x)
                .cloned()
                .ok_or_else(|| "reflect: slice index out of range".into())
        }
        Value::Bytes(b) => {
            let x = index_arg(index, b.len())?;
            b.get(x)
                .map(|c| Value::Int(i64::from(*c)))
                .ok_or_else(|| "reflect: slice index out of range".into())
        }
        Value::Str(s) => {
            let x = index_arg(index, s.len())?;
            s.as_bytes()
                .get(x)
                .map(|c| Value::Int(i64::from(*c)))
                .ok_or_else(|| "reflect: string index out of range".into())
        }
        Value::Map(m) => match index {
            Value::Str(k) => Ok(m.borrow().get(&**k).cloned().unwrap_or(Value::Nil)),
            Value::Nil => Err("value is nil; should be of type string".into()),
            other => Err(format!(
                "value has type {}; should be string",
                other.type_name()
            )),
        },
        other => Err(format!("can't index item of type {}", other.type_name())),
    }
}

fn index(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_at_least("index", args, 1)?;
    let mut item = data_of(&args[0]);
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for i in &args[1..] {
        item = index_one(&data_of(&item), i)?;
    }
    Ok(item)
}

fn slice(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_at_least("slice", args, 1)?;
    let (item, indexes) = (&args[0], &args[1..]);
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Str(_) if indexes.len() == 3 => {
            return Err("cannot 3-index slice a string".into());
        }
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Bytes(b) => b.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    let (i, j) = (idx[0], idx[1]);
    Ok(match item {
        Value::Str(s) => Value::from(String::from_utf8_lossy(&s.as_bytes()[i..j]).into_owned()),
        Value::List(l) => Value::from(l[i..j].to_vec()),
        Value::Bytes(b) => Value::Bytes(b[i..j].into()),
        _ => Value::Nil,
    })
}

fn print(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(sprint(args)))
}

fn println(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(sprintln(args)))
}

fn printf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    want_at_least("printf", args, 1)?;
    match &args[0] {
        Value::Str(f) => Ok(Value::from(sprintf(f, &args[1..]))),
        Value::Nil => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// Go's evalArgs: one string as it is, else fmt.Sprint with nil printed
/// as `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::from("<no value>"),
            other => other.clone(),
        })
        .collect();
    sprint(&printable)
}

/// Go's template.HTMLEscapeString.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's template.JSEscapeString.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's url.QueryEscape.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn html(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(html_escape(&eval_args(args))))
}

fn js(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(js_escape(&eval_args(args))))
}

fn urlquery(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(query_escape(&eval_args(args))))
}

#[cfg(test)]
mod tests;
