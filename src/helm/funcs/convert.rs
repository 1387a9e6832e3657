//! sprig's defaults and reflection functions (`default`, `empty`,
//! `coalesce`, `ternary`, `typeOf`, `kindIs`, `deepEqual`, `toString`,
//! `toStrings`, `toDecimal`, `fail`), and the argument checks every sprig
//! function here shares: Go's text/template converts each argument to the
//! Go function's parameter type and refuses what does not fit, with the
//! texts below (`wrong type for value; expected string; got float64`).

use std::rc::Rc;

use super::cast::strval;
use crate::gotmpl::{FuncMap, Host, Map, Value};
use std::cell::RefCell;

pub(super) fn register(m: &mut FuncMap) {
    m.insert("toString", to_string);
    m.insert("toStrings", to_strings);
    m.insert("toDecimal", to_decimal);
    m.insert("typeOf", type_of);
    m.insert("typeIs", type_is);
    m.insert("typeIsLike", type_is_like);
    m.insert("kindOf", kind_of);
    m.insert("kindIs", kind_is);
    m.insert("deepEqual", deep_equal);
    m.insert("default", default);
    m.insert("empty", empty_fn);
    m.insert("coalesce", coalesce);
    m.insert("all", all);
    m.insert("any", any);
    m.insert("ternary", ternary);
    m.insert("fail", fail);
}

/// Go's type name of a value reaching a typed parameter (`interface {}`
/// for nil: the zero value of a missing key keeps its static type).
fn arg_type(v: &Value) -> String {
    match v {
        Value::Nil => "interface {}".into(),
        v => v.type_name(),
    }
}

/// Go's refusal of an argument that does not fit the parameter type `want`.
pub(super) fn wrong_type(want: &str, v: &Value) -> String {
    format!("wrong type for value; expected {want}; got {}", arg_type(v))
}

/// Checks a fixed argument count as Go's evaluator does.
pub(super) fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// Checks a variadic function's fixed arguments.
pub(super) fn arity_min(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() < n {
        return Err(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// A `string` parameter.
pub(super) fn want_str(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// An `int` parameter (template integer constants and int results).
pub(super) fn want_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        v => Err(wrong_type("int", v)),
    }
}

/// A `float64` parameter (Go converts integer constants too).
pub(super) fn want_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        v => Err(wrong_type("float64", v)),
    }
}

/// A `bool` parameter.
pub(super) fn want_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        v => Err(wrong_type("bool", v)),
    }
}

/// A `map[string]interface{}` parameter. Nil is an empty map: Go accepts an
/// untyped nil (a missing value reached through a variable or a
/// parenthesised pipeline) for a map parameter, and charts rely on it
/// (`hasKey (lookup ...).data "x"`).
pub(super) fn want_map(v: &Value) -> Result<Rc<RefCell<Map>>, String> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        Value::Nil => Ok(Rc::new(RefCell::new(Map::new()))),
        v => Err(wrong_type("map[string]interface {}", v)),
    }
}

/// sprig's `empty`: nil, false, 0, and empty strings, lists and maps are
/// empty; structs and pointers never are.
pub fn empty(v: &Value) -> bool {
    !v.truth()
}

/// sprig's `strslice`: a list's non-nil items as strings, a non-list as a
/// one-string list, nil as an empty list.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Bytes(b) => b.iter().map(|x| x.to_string()).collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

fn one<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, String> {
    arity(name, args, 1)?;
    Ok(&args[0])
}

fn to_string(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(strval(one("toString", args)?)))
}

fn to_strings(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let v = one("toStrings", args)?;
    Ok(Value::from(
        strslice(v).into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// `toDecimal`: the value printed, read as an octal number (0 if it is not).
fn to_decimal(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let text = strval(one("toDecimal", args)?);
    Ok(Value::Int(parse_octal(&text).unwrap_or(0)))
}

/// strconv.ParseInt(s, 8, 64).
fn parse_octal(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let n = i128::from_str_radix(digits, 8).ok()?;
    let n = if neg { -n } else { n };
    i64::try_from(n).ok()
}

fn type_of(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(one("typeOf", args)?.type_name()))
}

fn type_is(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("typeIs", args, 2)?;
    let target = want_str(&args[0])?;
    Ok(Value::Bool(target == args[1].type_name()))
}

fn type_is_like(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("typeIsLike", args, 2)?;
    let target = want_str(&args[0])?;
    let t = args[1].type_name();
    Ok(Value::Bool(target == t || format!("*{target}") == t))
}

fn kind_of(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(one("kindOf", args)?.kind_name()))
}

fn kind_is(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("kindIs", args, 2)?;
    let target = want_str(&args[0])?;
    Ok(Value::Bool(target == args[1].kind_name()))
}

fn deep_equal(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("deepEqual", args, 2)?;
    Ok(Value::Bool(args[0].deep_eq(&args[1])))
}

/// `default D [GIVEN]`: GIVEN unless it is empty (or absent), else D.
fn default(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("default", args, 1)?;
    match args.get(1) {
        Some(given) if !empty(given) => Ok(given.clone()),
        _ => Ok(args[0].clone()),
    }
}

fn empty_fn(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(empty(one("empty", args)?)))
}

fn coalesce(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(args
        .iter()
        .find(|v| !empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

fn all(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(args.iter().all(|v| !empty(v))))
}

fn any(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(args.iter().any(|v| !empty(v))))
}

/// `ternary T F COND`.
fn ternary(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("ternary", args, 3)?;
    let cond = want_bool(&args[2])?;
    Ok(if cond {
        args[0].clone()
    } else {
        args[1].clone()
    })
}

/// `fail MSG`: stops the rendering with MSG.
fn fail(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let msg = want_str(one("fail", args)?)?;
    Err(msg.to_string())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A host for calling functions directly: no templates.
    pub(crate) use crate::gotmpl::NoHost;

    /// Calls the registered function `name` of `reg` with `args`.
    pub fn call(reg: fn(&mut FuncMap), name: &str, args: &[Value]) -> Result<Value, String> {
        let mut m = FuncMap::new();
        reg(&mut m);
        let f = m.get(name).ok_or_else(|| format!("no function {name}"))?;
        f(&mut NoHost, args)
    }

    pub fn s(x: &str) -> Value {
        Value::from(x)
    }

    pub fn i(x: i64) -> Value {
        Value::Int(x)
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::from(items)
    }

    pub fn map(pairs: &[(&str, Value)]) -> Value {
        Value::from(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Map>(),
        )
    }

    /// One case: function, arguments, what Go gives.
    pub type Case = (&'static str, Vec<Value>, Result<Value, String>);

    /// One case checked by how Go prints the result (`%v`).
    pub type PrintedCase = (&'static str, Vec<Value>, Result<&'static str, &'static str>);

    /// Runs each case against the functions `reg` registers, comparing the
    /// printed result.
    pub fn check_printed(reg: fn(&mut FuncMap), cases: Vec<PrintedCase>) {
        for (name, args, want) in cases {
            let got = call(reg, name, &args).map(|v| crate::gotmpl::format::sprint_value(&v));
            let want = want.map(str::to_string).map_err(str::to_string);
            assert_eq!(got, want, "{name} {args:?}");
        }
    }

    /// Runs each case against the functions `reg` registers.
    pub fn check(reg: fn(&mut FuncMap), cases: Vec<Case>) {
        for (name, args, want) in cases {
            let got = call(reg, name, &args);
            match (&got, &want) {
                (Ok(g), Ok(w)) => assert!(g.deep_eq(w), "{name} {args:?}: {g:?} != {w:?}"),
                (Err(g), Err(w)) => assert_eq!(g, w, "{name} {args:?}"),
                _ => panic!("{name} {args:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn defaults_and_reflection() {
        let cases: Vec<Case> = vec![
            ("default", vec![s("d")], Ok(s("d"))),
            ("default", vec![s("d"), Value::Nil], Ok(s("d"))),
            ("default", vec![s("d"), s("")], Ok(s("d"))),
            ("default", vec![s("d"), Value::Int(0)], Ok(s("d"))),
            ("default", vec![s("d"), Value::Float(0.0)], Ok(s("d"))),
            ("default", vec![s("d"), Value::Bool(false)], Ok(s("d"))),
            ("default", vec![s("d"), list(vec![])], Ok(s("d"))),
            ("default", vec![s("d"), map(&[])], Ok(s("d"))),
            ("default", vec![s("d"), s("x")], Ok(s("x"))),
            (
                "default",
                vec![s("d"), Value::Float(1.5)],
                Ok(Value::Float(1.5)),
            ),
            ("empty", vec![Value::Nil], Ok(Value::Bool(true))),
            ("empty", vec![s(" ")], Ok(Value::Bool(false))),
            ("coalesce", vec![Value::Nil, s(""), s("a")], Ok(s("a"))),
            ("coalesce", vec![Value::Nil], Ok(Value::Nil)),
            ("all", vec![], Ok(Value::Bool(true))),
            ("all", vec![s("a"), Value::Int(0)], Ok(Value::Bool(false))),
            ("any", vec![], Ok(Value::Bool(false))),
            ("any", vec![s(""), Value::Int(1)], Ok(Value::Bool(true))),
            (
                "ternary",
                vec![s("a"), s("b"), Value::Bool(true)],
                Ok(s("a")),
            ),
            (
                "ternary",
                vec![s("a"), s("b"), Value::Bool(false)],
                Ok(s("b")),
            ),
            (
                "ternary",
                vec![s("a"), s("b"), s("true")],
                Err("wrong type for value; expected bool; got string".into()),
            ),
            ("fail", vec![s("boom")], Err("boom".into())),
            ("typeOf", vec![Value::Nil], Ok(s("<nil>"))),
            ("typeOf", vec![Value::Float(1.0)], Ok(s("float64"))),
            ("typeIs", vec![s("string"), s("x")], Ok(Value::Bool(true))),
            (
                "typeIsLike",
                vec![s("int"), Value::Int(1)],
                Ok(Value::Bool(true)),
            ),
            ("kindOf", vec![list(vec![])], Ok(s("slice"))),
            ("kindOf", vec![Value::Nil], Ok(s("invalid"))),
            ("kindIs", vec![s("map"), map(&[])], Ok(Value::Bool(true))),
            (
                "deepEqual",
                vec![Value::Int(1), Value::Float(1.0)],
                Ok(Value::Bool(false)),
            ),
            (
                "deepEqual",
                vec![map(&[("a", s("b"))]), map(&[("a", s("b"))])],
                Ok(Value::Bool(true)),
            ),
            ("toDecimal", vec![s("0777")], Ok(Value::Int(511))),
            ("toDecimal", vec![Value::Int(777)], Ok(Value::Int(511))),
            ("toDecimal", vec![s("8")], Ok(Value::Int(0))),
            ("toString", vec![s("x")], Ok(s("x"))),
            (
                "toStrings",
                vec![list(vec![s("a"), Value::Nil, s("b")])],
                Ok(list(vec![s("a"), s("b")])),
            ),
            ("toStrings", vec![Value::Nil], Ok(list(vec![]))),
        ];
        check(register, cases);
    }
}
