//! sprig's dict functions (`dict`, `set`, `get`, `pick`, `merge`,
//! `mergeOverwrite`, `dig`, `deepCopy`, ...).
//!
//! Maps are shared as Go's are: `set` and `unset` change the map every
//! holder sees, and `merge` fills its first argument in place. `merge` and
//! `mergeOverwrite` follow mergo v0.3.13 (what sprig 3.2.2 calls) for
//! map[string]interface{} values, quirks included:
//!
//! ```text
//! key in src, value S      dst value D         merge      mergeOverwrite
//! S nil                    any                 keep D     D = nil
//! S map                    D map               merge S into D (in place)
//! S map                    D missing/empty     D = S      D = S
//! S map                    D non-empty other   keep D     keep D
//! S anything else          D missing/empty*    D = S      D = S
//! S anything else          D non-empty         keep D     D = S (even "", 0, false)
//! ```
//! (*) empty is Go's zero: nil, "", 0, false, empty list or map.

use std::cell::RefCell;
use std::rc::Rc;

use super::cast::strval;
use super::convert::{arity, arity_min, empty, want_map, want_str};
use crate::gotmpl::{FuncMap, Host, Map, Value};

pub(super) fn register(m: &mut FuncMap) {
    m.insert("dict", dict);
    m.insert("get", get);
    m.insert("set", set);
    m.insert("unset", unset);
    m.insert("hasKey", has_key);
    m.insert("pluck", pluck);
    m.insert("keys", keys);
    m.insert("values", values);
    m.insert("pick", pick);
    m.insert("omit", omit);
    m.insert("merge", merge);
    m.insert("mustMerge", merge);
    m.insert("mergeOverwrite", merge_overwrite);
    m.insert("mustMergeOverwrite", merge_overwrite);
    m.insert("deepCopy", deep_copy);
    m.insert("mustDeepCopy", deep_copy);
    m.insert("dig", dig);
}

/// `dict K1 V1 K2 V2 ...`: keys as strings; a key without value gets "".
fn dict(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let mut m = Map::new();
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_else(|| Value::from(""));
        m.insert(strval(&pair[0]), v);
    }
    Ok(Value::from(m))
}

/// `get MAP KEY`: the value, or "" when the key is missing.
fn get(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("get", args, 2)?;
    let m = want_map(&args[0])?;
    let key = want_str(&args[1])?;
    let v = m.borrow().get(key).cloned();
    Ok(v.unwrap_or_else(|| Value::from("")))
}

/// `set MAP KEY VALUE`: sets in place and returns the map.
fn set(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("set", args, 3)?;
    let m = want_map(&args[0])?;
    let key = want_str(&args[1])?;
    m.borrow_mut().insert(key.to_string(), args[2].clone());
    Ok(Value::Map(m))
}

fn unset(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("unset", args, 2)?;
    let m = want_map(&args[0])?;
    let key = want_str(&args[1])?;
    m.borrow_mut().remove(key);
    Ok(Value::Map(m))
}

fn has_key(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("hasKey", args, 2)?;
    let m = want_map(&args[0])?;
    let key = want_str(&args[1])?;
    let has = m.borrow().contains_key(key);
    Ok(Value::Bool(has))
}

/// `pluck KEY MAPS...`: the value of KEY in each map that has it.
fn pluck(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("pluck", args, 1)?;
    let key = want_str(&args[0])?;
    let mut out = Vec::new();
    for d in &args[1..] {
        if let Some(v) = want_map(d)?.borrow().get(key) {
            out.push(v.clone());
        }
    }
    Ok(Value::from(out))
}

/// `keys MAPS...`: every key (Go's order is random; here each map's keys
/// are sorted).
fn keys(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for d in args {
        let m = want_map(d)?;
        out.extend(m.borrow().keys().map(|k| Value::from(k.as_str())));
    }
    Ok(Value::from(out))
}

/// `values MAP` (Go's order is random; here by key).
fn values(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("values", args, 1)?;
    let m = want_map(&args[0])?;
    let out: Vec<Value> = m.borrow().values().cloned().collect();
    Ok(Value::from(out))
}

/// `pick MAP KEYS...`: a new map of those keys.
fn pick(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("pick", args, 1)?;
    let m = want_map(&args[0])?;
    let m = m.borrow();
    let mut out = Map::new();
    for k in &args[1..] {
        let k = want_str(k)?;
        if let Some(v) = m.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Ok(Value::from(out))
}

/// `omit MAP KEYS...`: a new map without those keys.
fn omit(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("omit", args, 1)?;
    let m = want_map(&args[0])?;
    let drop = args[1..]
        .iter()
        .map(want_str)
        .collect::<Result<Vec<_>, _>>()?;
    let out: Map = m
        .borrow()
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Value::from(out))
}

fn merge(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    merge_all("merge", args, false)
}

fn merge_overwrite(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    merge_all("mergeOverwrite", args, true)
}

/// `merge DST SRCS...`: each source merged into DST in turn; DST returned.
fn merge_all(name: &str, args: &[Value], overwrite: bool) -> Result<Value, String> {
    arity_min(name, args, 1)?;
    let dst = want_map(&args[0])?;
    let srcs = args[1..]
        .iter()
        .map(want_map)
        .collect::<Result<Vec<_>, _>>()?;
    for src in srcs {
        merge_into(&dst, &src, overwrite, 0);
    }
    Ok(Value::Map(dst))
}

/// Deepest nesting merged (mergo recurses without bound; a map that
/// contains itself would never end).
const MAX_MERGE_DEPTH: usize = 10_000;

/// mergo's deepMerge of two map[string]interface{} (see the table above).
pub(crate) fn merge_into(
    dst: &Rc<RefCell<Map>>,
    src: &Rc<RefCell<Map>>,
    overwrite: bool,
    depth: usize,
) {
    if Rc::ptr_eq(dst, src) || depth > MAX_MERGE_DEPTH {
        return;
    }
    let entries: Vec<(String, Value)> = src
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, s) in entries {
        let d = dst.borrow().get(&key).cloned();
        if s.is_nil() {
            if overwrite {
                dst.borrow_mut().insert(key, Value::Nil);
            }
            continue;
        }
        if let (Value::Map(sm), Some(Value::Map(dm))) = (&s, &d) {
            merge_into(dm, sm, overwrite, depth + 1);
        }
        // Emptiness after the recursive merge, which fills D in place.
        let d_empty = d.as_ref().map(empty).unwrap_or(true);
        let replace = match s {
            Value::Map(_) => d_empty,
            _ => overwrite || d_empty,
        };
        if replace {
            dst.borrow_mut().insert(key, s);
        }
    }
}

fn deep_copy(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("deepCopy", args, 1)?;
    Ok(args[0].deep_copy())
}

/// `dig KEYS... DEFAULT MAP`: the value at the path of keys, or DEFAULT
/// when a key is missing.
fn dig(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    if args.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let n = args.len();
    let mut cur = as_map(&args[n - 1])?;
    let default = &args[n - 2];
    let keys = args[..n - 2]
        .iter()
        .map(|k| {
            k.as_str().ok_or_else(|| {
                format!(
                    "interface conversion: interface {{}} is {}, not string",
                    go_type(k)
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, k) in keys.iter().enumerate() {
        let step = match cur.borrow().get(*k) {
            None => return Ok(default.clone()),
            Some(v) => v.clone(),
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        cur = as_map(&step)?;
    }
    Ok(default.clone())
}

/// Go's `%T` in a failed type assertion (`nil` for a nil interface).
fn go_type(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        v => v.type_name(),
    }
}

/// Go's `x.(map[string]interface{})`.
fn as_map(v: &Value) -> Result<Rc<RefCell<Map>>, String> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        v => Err(format!(
            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
            go_type(v)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::convert::tests::{call, check, list, map, s, Case};
    use super::*;

    #[test]
    fn dict_functions() {
        let i = Value::Int;
        let ab = map(&[("a", i(1)), ("b", s("x"))]);
        let nested = map(&[("a", map(&[("b", map(&[("c", s("deep"))]))]))]);
        let cases: Vec<Case> = vec![
            (
                "dict",
                vec![s("a"), i(1), i(2), s("b")],
                Ok(map(&[("a", i(1)), ("2", s("b"))])),
            ),
            ("dict", vec![s("a")], Ok(map(&[("a", s(""))]))),
            ("get", vec![ab.clone(), s("a")], Ok(i(1))),
            ("get", vec![ab.clone(), s("z")], Ok(s(""))),
            (
                "get",
                vec![s("x"), s("a")],
                Err("wrong type for value; expected map[string]interface {}; got string".into()),
            ),
            ("get", vec![Value::Nil, s("a")], Ok(s(""))),
            ("hasKey", vec![ab.clone(), s("b")], Ok(Value::Bool(true))),
            ("hasKey", vec![ab.clone(), s("c")], Ok(Value::Bool(false))),
            (
                "pluck",
                vec![s("a"), ab.clone(), map(&[]), map(&[("a", i(2))])],
                Ok(list(vec![i(1), i(2)])),
            ),
            (
                "keys",
                vec![ab.clone(), map(&[("c", i(1))])],
                Ok(list(vec![s("a"), s("b"), s("c")])),
            ),
            ("values", vec![ab.clone()], Ok(list(vec![i(1), s("x")]))),
            (
                "pick",
                vec![ab.clone(), s("b"), s("z")],
                Ok(map(&[("b", s("x"))])),
            ),
            ("omit", vec![ab.clone(), s("b")], Ok(map(&[("a", i(1))]))),
            (
                "dig",
                vec![s("a"), s("b"), s("c"), s("d"), nested.clone()],
                Ok(s("deep")),
            ),
            (
                "dig",
                vec![s("a"), s("x"), s("c"), s("d"), nested.clone()],
                Ok(s("d")),
            ),
            (
                "dig",
                vec![s("a"), s("b"), s("c"), s("x"), s("d"), nested.clone()],
                Err(
                    "interface conversion: interface {} is string, not map[string]interface {}"
                        .into(),
                ),
            ),
            (
                "dig",
                vec![s("a"), map(&[])],
                Err("dig needs at least three arguments".into()),
            ),
            ("deepCopy", vec![nested.clone()], Ok(nested.clone())),
        ];
        check(register, cases);
    }

    #[test]
    fn set_and_unset_share_the_map() {
        let m = map(&[("a", Value::Int(1))]);
        let r = call(register, "set", &[m.clone(), s("b"), s("x")]).unwrap_or_default();
        assert!(m.deep_eq(&map(&[("a", Value::Int(1)), ("b", s("x"))])));
        assert!(r.deep_eq(&m));
        call(register, "unset", &[m.clone(), s("a")]).unwrap_or_default();
        assert!(m.deep_eq(&map(&[("b", s("x"))])));
    }

    #[test]
    fn merge_follows_mergo() {
        let i = Value::Int;
        let b = Value::Bool;
        // (dst, src, merge result, mergeOverwrite result)
        let cases: Vec<(Value, Value, Value, Value)> = vec![
            (
                map(&[("a", i(1)), ("k", b(true))]),
                map(&[("a", i(2)), ("c", i(3)), ("k", b(false))]),
                map(&[("a", i(1)), ("c", i(3)), ("k", b(true))]),
                map(&[("a", i(2)), ("c", i(3)), ("k", b(false))]),
            ),
            // empty dst values are filled even by merge
            (
                map(&[("a", s("")), ("b", i(0)), ("c", b(false))]),
                map(&[("a", s("x")), ("b", i(5)), ("c", b(true))]),
                map(&[("a", s("x")), ("b", i(5)), ("c", b(true))]),
                map(&[("a", s("x")), ("b", i(5)), ("c", b(true))]),
            ),
            // nil in src: skipped by merge, set by mergeOverwrite
            (
                map(&[("a", i(1))]),
                map(&[("a", Value::Nil)]),
                map(&[("a", i(1))]),
                map(&[("a", Value::Nil)]),
            ),
            // nested maps merge recursively
            (
                map(&[("m", map(&[("x", i(1)), ("y", i(1))]))]),
                map(&[("m", map(&[("y", i(2)), ("z", i(2))]))]),
                map(&[("m", map(&[("x", i(1)), ("y", i(1)), ("z", i(2))]))]),
                map(&[("m", map(&[("x", i(1)), ("y", i(2)), ("z", i(2))]))]),
            ),
            // a map never replaces a non-empty non-map; a list does, overwriting
            (
                map(&[("m", s("str")), ("l", s("str"))]),
                map(&[("m", map(&[("y", i(2))])), ("l", list(vec![i(1)]))]),
                map(&[("m", s("str")), ("l", s("str"))]),
                map(&[("m", s("str")), ("l", list(vec![i(1)]))]),
            ),
            // lists replace only with mergeOverwrite (or an empty dst)
            (
                map(&[("l", list(vec![i(1)])), ("e", list(vec![]))]),
                map(&[("l", list(vec![i(2)])), ("e", list(vec![i(3)]))]),
                map(&[("l", list(vec![i(1)])), ("e", list(vec![i(3)]))]),
                map(&[("l", list(vec![i(2)])), ("e", list(vec![i(3)]))]),
            ),
            // a scalar replaces a map only with mergeOverwrite
            (
                map(&[("m", map(&[("x", i(1))]))]),
                map(&[("m", s("s"))]),
                map(&[("m", map(&[("x", i(1))]))]),
                map(&[("m", s("s"))]),
            ),
        ];
        for (dst, src, want_merge, want_over) in cases {
            for (name, want) in [("merge", want_merge), ("mergeOverwrite", want_over)] {
                let d = dst.deep_copy();
                let got = call(register, name, &[d.clone(), src.deep_copy()]).unwrap_or_default();
                assert!(got.deep_eq(&want), "{name} {dst:?} {src:?}: {got:?}");
                assert!(d.deep_eq(&want), "{name} changes its first argument");
            }
        }
    }
}
