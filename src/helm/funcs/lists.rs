//! sprig's list functions (`list`, `append`, `first`, `uniq`, `slice`,
//! `chunk`, `sortAlpha`, `until`, `seq`, ... and their `must*` forms).
//!
//! sprig takes any Go slice through reflection: here a list, or []byte
//! (whose items are numbers). Anything else is refused with sprig's text
//! (`Cannot find first on type string`); nil makes Go's reflection panic,
//! which text/template reports as the runtime error below. The plain and
//! `must*` forms differ only in panicking or returning the error, and Go's
//! template turns both into the same error.

use std::rc::Rc;

use super::cast::to_i64;
use super::convert::{arity, arity_min, empty, strslice, want_int};
use crate::gotmpl::{FuncMap, Host, Value};

/// What Go reports when reflection is asked for the kind of a nil.
const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

pub(super) fn register(m: &mut FuncMap) {
    m.insert("list", list);
    m.insert("tuple", list);
    for name in ["append", "push", "mustAppend", "mustPush"] {
        m.insert(name, push);
    }
    m.insert("prepend", prepend);
    m.insert("mustPrepend", prepend);
    m.insert("first", first);
    m.insert("mustFirst", first);
    m.insert("last", last);
    m.insert("mustLast", last);
    m.insert("rest", rest);
    m.insert("mustRest", rest);
    m.insert("initial", initial);
    m.insert("mustInitial", initial);
    m.insert("reverse", reverse);
    m.insert("mustReverse", reverse);
    m.insert("compact", compact);
    m.insert("mustCompact", compact);
    m.insert("uniq", uniq);
    m.insert("mustUniq", uniq);
    m.insert("without", without);
    m.insert("mustWithout", without);
    m.insert("has", has);
    m.insert("mustHas", has);
    m.insert("slice", slice);
    m.insert("mustSlice", slice);
    m.insert("chunk", chunk);
    m.insert("mustChunk", chunk);
    m.insert("concat", concat);
    m.insert("sortAlpha", sort_alpha);
    m.insert("until", until);
    m.insert("untilStep", until_step);
    m.insert("seq", seq);
}

/// The items of a Go slice value, or sprig's error `{what} {kind}`
/// (`what` is e.g. "Cannot find first on type").
fn items(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Bytes(b) => Ok(b.iter().map(|x| Value::Int(i64::from(*x))).collect()),
        Value::Nil => Err(NIL_DEREF.into()),
        v => Err(format!("{what} {}", v.kind_name())),
    }
}

fn list(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(args.to_vec()))
}

fn push(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("append", args, 2)?;
    let mut l = items(&args[0], "Cannot push on type")?;
    l.push(args[1].clone());
    Ok(Value::from(l))
}

fn prepend(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("prepend", args, 2)?;
    let mut l = items(&args[0], "Cannot prepend on type")?;
    l.insert(0, args[1].clone());
    Ok(Value::from(l))
}

fn first(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("first", args, 1)?;
    let l = items(&args[0], "Cannot find first on type")?;
    Ok(l.into_iter().next().unwrap_or(Value::Nil))
}

fn last(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("last", args, 1)?;
    let l = items(&args[0], "Cannot find last on type")?;
    Ok(l.into_iter().last().unwrap_or(Value::Nil))
}

/// `rest`: all but the first (a nil []interface{} for an empty list, shown
/// here as an empty list: both print `[]`).
fn rest(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("rest", args, 1)?;
    let l = items(&args[0], "Cannot find rest on type")?;
    // sprig returns nil for an empty list (`toJson` prints `null`).
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    Ok(Value::from(l.into_iter().skip(1).collect::<Vec<_>>()))
}

fn initial(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("initial", args, 1)?;
    let mut l = items(&args[0], "Cannot find initial on type")?;
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    l.pop();
    Ok(Value::from(l))
}

fn reverse(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("reverse", args, 1)?;
    let mut l = items(&args[0], "Cannot find reverse on type")?;
    l.reverse();
    Ok(Value::from(l))
}

fn compact(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("compact", args, 1)?;
    let l = items(&args[0], "Cannot compact on type")?;
    Ok(Value::from(
        l.into_iter().filter(|v| !empty(v)).collect::<Vec<_>>(),
    ))
}

fn uniq(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("uniq", args, 1)?;
    let l = items(&args[0], "Cannot find uniq on type")?;
    let mut out: Vec<Value> = Vec::new();
    for v in l {
        if !out.iter().any(|o| o.deep_eq(&v)) {
            out.push(v);
        }
    }
    Ok(Value::from(out))
}

/// `without LIST ITEMS...`.
fn without(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("without", args, 1)?;
    let l = items(&args[0], "Cannot find without on type")?;
    let omit = &args[1..];
    Ok(Value::from(
        l.into_iter()
            .filter(|v| !omit.iter().any(|o| o.deep_eq(v)))
            .collect::<Vec<_>>(),
    ))
}

/// `has NEEDLE HAYSTACK` (false for a nil haystack).
fn has(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("has", args, 2)?;
    if args[1].is_nil() {
        return Ok(Value::Bool(false));
    }
    let l = items(&args[1], "Cannot find has on type")?;
    Ok(Value::Bool(l.iter().any(|v| args[0].deep_eq(v))))
}

/// `slice LIST [START [END]]`: Go's `list[start:end]` (nil for an empty
/// list; []byte stays []byte).
fn slice(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("slice", args, 1)?;
    let len = match &args[0] {
        Value::List(l) => l.len(),
        Value::Bytes(b) => b.len(),
        Value::Nil => return Err(NIL_DEREF.into()),
        v => {
            return Err(format!(
                "list should be type of slice or array but {}",
                v.kind_name()
            ))
        }
    };
    if len == 0 {
        return Ok(Value::Nil);
    }
    let start = args.get(1).map(to_i64).unwrap_or(0);
    let end = args.get(2).map(to_i64).unwrap_or(len as i64);
    if start < 0 || end < start || end > len as i64 {
        return Err("reflect.Value.Slice: slice index out of range".into());
    }
    let (start, end) = (start as usize, end as usize);
    Ok(match &args[0] {
        Value::Bytes(b) => Value::Bytes(Rc::from(&b[start..end])),
        Value::List(l) => Value::from(l[start..end].to_vec()),
        _ => Value::Nil,
    })
}

/// `chunk SIZE LIST`: lists of SIZE items, the last one shorter.
fn chunk(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("chunk", args, 2)?;
    let size = want_int(&args[0])?;
    let l = items(&args[1], "Cannot chunk type")?;
    if l.is_empty() && size > 0 {
        return Ok(Value::from(Vec::new()));
    }
    if size <= 0 {
        return Err("runtime error: makeslice: len out of range".into());
    }
    let chunks = l
        .chunks(size as usize)
        .map(|c| Value::from(c.to_vec()))
        .collect::<Vec<_>>();
    Ok(Value::from(chunks))
}

/// `concat LISTS...`: one list of all items.
fn concat(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args {
        if !a.is_nil() && !matches!(a, Value::List(_) | Value::Bytes(_)) {
            return Err(format!("Cannot concat type {} as list", a.kind_name()));
        }
        out.extend(items(a, "Cannot concat type")?);
    }
    Ok(Value::from(out))
}

/// `sortAlpha LIST`: the items as strings, sorted; a non-list is one string.
fn sort_alpha(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("sortAlpha", args, 1)?;
    let mut strs = match &args[0] {
        v @ (Value::List(_) | Value::Bytes(_)) => strslice(v),
        v => vec![super::cast::strval(v)],
    };
    strs.sort();
    Ok(Value::from(
        strs.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// Most numbers `until`, `untilStep` and `seq` will make (Go would try to
/// allocate them all; a template asking for more is broken or hostile).
const MAX_RANGE: usize = 10_000_000;

/// sprig's `untilStep`: start, start+step, ... before stop.
fn range_ints(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    let mut i = start;
    let going = |i: i64| if stop < start { i > stop } else { i < stop };
    if (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(v);
    }
    while going(i) {
        if v.len() >= MAX_RANGE {
            return Err(format!("range of more than {MAX_RANGE} numbers"));
        }
        v.push(i);
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    Ok(v)
}

fn ints(v: Vec<i64>) -> Value {
    Value::from(v.into_iter().map(Value::Int).collect::<Vec<_>>())
}

/// `until N`: 0..N (counting down for a negative N).
fn until(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("until", args, 1)?;
    let count = want_int(&args[0])?;
    let step = if count < 0 { -1 } else { 1 };
    Ok(ints(range_ints(0, count, step)?))
}

fn until_step(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("untilStep", args, 3)?;
    let (start, stop, step) = (
        want_int(&args[0])?,
        want_int(&args[1])?,
        want_int(&args[2])?,
    );
    Ok(ints(range_ints(start, stop, step)?))
}

/// `seq [START [STEP]] END`: the numbers as one space-separated string,
/// END included (as GNU seq).
fn seq(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let p = args.iter().map(want_int).collect::<Result<Vec<_>, _>>()?;
    let nums = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            range_ints(1, end + inc, inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            range_ints(*start, end + step, step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return Ok(Value::from(""));
                }
            }
            range_ints(*start, end + inc, *step)?
        }
        _ => return Ok(Value::from("")),
    };
    let text: Vec<String> = nums.iter().map(|n| n.to_string()).collect();
    Ok(Value::from(text.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::super::convert::tests::{check, list, map, s, Case};
    use super::*;

    fn il(v: &[i64]) -> Value {
        ints(v.to_vec())
    }

    #[test]
    fn list_functions() {
        let abc = list(vec![s("a"), s("b"), s("c")]);
        let i = Value::Int;
        let cases: Vec<Case> = vec![
            ("list", vec![s("a"), i(1)], Ok(list(vec![s("a"), i(1)]))),
            ("tuple", vec![], Ok(list(vec![]))),
            (
                "append",
                vec![abc.clone(), s("d")],
                Ok(list(vec![s("a"), s("b"), s("c"), s("d")])),
            ),
            (
                "mustPush",
                vec![s("x"), s("d")],
                Err("Cannot push on type string".into()),
            ),
            (
                "prepend",
                vec![list(vec![s("b")]), s("a")],
                Ok(list(vec![s("a"), s("b")])),
            ),
            (
                "prepend",
                vec![map(&[]), s("a")],
                Err("Cannot prepend on type map".into()),
            ),
            ("first", vec![abc.clone()], Ok(s("a"))),
            ("first", vec![list(vec![])], Ok(Value::Nil)),
            (
                "first",
                vec![s("abc")],
                Err("Cannot find first on type string".into()),
            ),
            ("first", vec![Value::Nil], Err(NIL_DEREF.into())),
            (
                "mustFirst",
                vec![Value::Float(1.0)],
                Err("Cannot find first on type float64".into()),
            ),
            ("last", vec![abc.clone()], Ok(s("c"))),
            ("rest", vec![abc.clone()], Ok(list(vec![s("b"), s("c")]))),
            ("initial", vec![abc.clone()], Ok(list(vec![s("a"), s("b")]))),
            (
                "reverse",
                vec![abc.clone()],
                Ok(list(vec![s("c"), s("b"), s("a")])),
            ),
            (
                "compact",
                vec![list(vec![s("a"), s(""), Value::Nil, i(0), i(1)])],
                Ok(list(vec![s("a"), i(1)])),
            ),
            (
                "uniq",
                vec![list(vec![i(1), i(1), Value::Float(1.0), i(2)])],
                Ok(list(vec![i(1), Value::Float(1.0), i(2)])),
            ),
            (
                "without",
                vec![abc.clone(), s("b"), s("x")],
                Ok(list(vec![s("a"), s("c")])),
            ),
            ("has", vec![s("b"), abc.clone()], Ok(Value::Bool(true))),
            ("has", vec![s("b"), Value::Nil], Ok(Value::Bool(false))),
            (
                "has",
                vec![i(1), list(vec![Value::Float(1.0)])],
                Ok(Value::Bool(false)),
            ),
            (
                "mustHas",
                vec![s("b"), s("abc")],
                Err("Cannot find has on type string".into()),
            ),
            (
                "slice",
                vec![abc.clone(), i(1)],
                Ok(list(vec![s("b"), s("c")])),
            ),
            (
                "slice",
                vec![abc.clone(), i(0), i(2)],
                Ok(list(vec![s("a"), s("b")])),
            ),
            (
                "slice",
                vec![abc.clone(), s("1"), Value::Float(2.0)],
                Ok(list(vec![s("b")])),
            ),
            ("slice", vec![list(vec![])], Ok(Value::Nil)),
            (
                "slice",
                vec![abc.clone(), i(2), i(5)],
                Err("reflect.Value.Slice: slice index out of range".into()),
            ),
            (
                "slice",
                vec![s("abc")],
                Err("list should be type of slice or array but string".into()),
            ),
            (
                "chunk",
                vec![i(2), abc.clone()],
                Ok(list(vec![list(vec![s("a"), s("b")]), list(vec![s("c")])])),
            ),
            ("chunk", vec![i(2), list(vec![])], Ok(list(vec![]))),
            (
                "chunk",
                vec![Value::Float(2.0), abc.clone()],
                Err("wrong type for value; expected int; got float64".into()),
            ),
            (
                "chunk",
                vec![i(2), s("x")],
                Err("Cannot chunk type string".into()),
            ),
            (
                "concat",
                vec![list(vec![s("a")]), list(vec![]), list(vec![s("b")])],
                Ok(list(vec![s("a"), s("b")])),
            ),
            (
                "concat",
                vec![list(vec![s("a")]), s("b")],
                Err("Cannot concat type string as list".into()),
            ),
            (
                "sortAlpha",
                vec![list(vec![s("b"), s("B"), s("a")])],
                Ok(list(vec![s("B"), s("a"), s("b")])),
            ),
            ("sortAlpha", vec![s("x")], Ok(list(vec![s("x")]))),
            ("until", vec![i(3)], Ok(il(&[0, 1, 2]))),
            ("until", vec![i(-2)], Ok(il(&[0, -1]))),
            ("until", vec![i(0)], Ok(il(&[]))),
            ("untilStep", vec![i(0), i(10), i(4)], Ok(il(&[0, 4, 8]))),
            ("untilStep", vec![i(10), i(0), i(-4)], Ok(il(&[10, 6, 2]))),
            ("untilStep", vec![i(0), i(10), i(0)], Ok(il(&[]))),
            ("seq", vec![i(3)], Ok(s("1 2 3"))),
            ("seq", vec![i(0)], Ok(s("1 0"))),
            ("seq", vec![i(-2)], Ok(s("1 0 -1 -2"))),
            ("seq", vec![i(2), i(5)], Ok(s("2 3 4 5"))),
            ("seq", vec![i(5), i(2)], Ok(s("5 4 3 2"))),
            ("seq", vec![i(0), i(2), i(6)], Ok(s("0 2 4 6"))),
            ("seq", vec![i(6), i(-2), i(0)], Ok(s("6 4 2 0"))),
            ("seq", vec![i(6), i(2), i(0)], Ok(s(""))),
            ("seq", vec![], Ok(s(""))),
        ];
        check(register, cases);
    }
}
