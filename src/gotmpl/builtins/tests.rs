//! The builtins' results and errors as Go 1.19 gives them.

use super::builtins;
use crate::gotmpl::{Map, Value};

/// A host for functions that never call back into the engine.
use crate::gotmpl::NoHost;

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let m = builtins();
    let f = m.get(name).ok_or("no such function")?;
    f(&mut NoHost, args)
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn i(x: i64) -> Value {
    Value::Int(x)
}

fn f(x: f64) -> Value {
    Value::Float(x)
}

fn list(v: Vec<Value>) -> Value {
    Value::from(v)
}

fn map(kv: &[(&str, Value)]) -> Value {
    Value::from(
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<Map>(),
    )
}

/// `Ok(text)` compares `%v` of the result; `Err(text)` the error.
type Case = (&'static str, Vec<Value>, Result<&'static str, &'static str>);

#[test]
fn builtin_cases() {
    let cases: Vec<Case> = vec![
        ("not", vec![i(0)], Ok("true")),
        ("not", vec![s("x")], Ok("false")),
        (
            "not",
            vec![],
            Err("wrong number of args for not: want 1 got 0"),
        ),
        ("eq", vec![i(1), i(2), i(1)], Ok("true")),
        ("eq", vec![s("a"), s("a")], Ok("true")),
        (
            "eq",
            vec![i(1), f(1.0)],
            Err("incompatible types for comparison"),
        ),
        ("eq", vec![Value::Nil, i(1)], Ok("false")),
        ("eq", vec![s("a"), Value::Nil], Ok("false")),
        ("eq", vec![Value::Nil, Value::Nil], Ok("true")),
        ("eq", vec![i(1)], Err("missing argument for comparison")),
        // Go formats the value with %s, so an int inside shows as %!s(int=1).
        (
            "eq",
            vec![map(&[("a", i(1))]), map(&[("a", i(1))])],
            Err("non-comparable type map[a:%!s(int=1)]: map[string]interface {}"),
        ),
        (
            "eq",
            vec![list(vec![i(1)]), map(&[])],
            Err(
                "non-comparable types [%!s(int=1)]: []interface {}, map[string]interface {}: map[]",
            ),
        ),
        (
            "eq",
            vec![list(vec![i(1)]), s("x")],
            Err("incompatible types for comparison"),
        ),
        ("eq", vec![map(&[]), Value::Nil], Ok("false")),
        ("ne", vec![i(1), i(2)], Ok("true")),
        (
            "ne",
            vec![i(1), i(2), i(3)],
            Err("wrong number of args for ne: want 2 got 3"),
        ),
        ("lt", vec![i(1), i(2)], Ok("true")),
        ("lt", vec![s("b"), s("a")], Ok("false")),
        (
            "lt",
            vec![i(1), f(2.0)],
            Err("incompatible types for comparison"),
        ),
        (
            "lt",
            vec![Value::Nil, i(1)],
            Err("invalid type for comparison"),
        ),
        (
            "lt",
            vec![Value::Bool(true), Value::Bool(false)],
            Err("invalid type for comparison"),
        ),
        ("le", vec![f(2.0), f(2.0)], Ok("true")),
        ("gt", vec![f(2.5), f(2.0)], Ok("true")),
        ("ge", vec![s("a"), s("a")], Ok("true")),
        (
            "gt",
            vec![list(vec![]), i(1)],
            Err("invalid type for comparison"),
        ),
        ("len", vec![s("héllo")], Ok("6")),
        ("len", vec![list(vec![i(1), i(2)])], Ok("2")),
        ("len", vec![map(&[("a", i(1))])], Ok("1")),
        ("len", vec![i(3)], Err("len of type int")),
        ("len", vec![f(3.0)], Err("len of type float64")),
        ("len", vec![Value::Nil], Err("len of nil pointer")),
        ("index", vec![list(vec![i(10), i(20)]), i(1)], Ok("20")),
        (
            "index",
            vec![list(vec![i(10)]), i(5)],
            Err("index out of range: 5"),
        ),
        (
            "index",
            vec![list(vec![i(10)]), i(1)],
            Err("reflect: slice index out of range"),
        ),
        (
            "index",
            vec![list(vec![i(10)]), i(-1)],
            Err("index out of range: -1"),
        ),
        (
            "index",
            vec![list(vec![i(10)]), f(0.0)],
            Err("cannot index slice/array with type float64"),
        ),
        (
            "index",
            vec![map(&[("a", map(&[("b", s("x"))]))]), s("a"), s("b")],
            Ok("x"),
        ),
        ("index", vec![map(&[("a", i(1))]), s("zz")], Ok("<nil>")),
        (
            "index",
            vec![map(&[("a", i(1))]), s("zz"), s("y")],
            Err("index of nil pointer"),
        ),
        (
            "index",
            vec![map(&[("a", i(1))]), i(0)],
            Err("value has type int; should be string"),
        ),
        ("index", vec![Value::Nil, i(0)], Err("index of untyped nil")),
        (
            "index",
            vec![i(3), i(0)],
            Err("can't index item of type int"),
        ),
        ("index", vec![s("abc"), i(1)], Ok("98")),
        ("index", vec![s("abc")], Ok("abc")),
        ("slice", vec![s("abcdef"), i(1), i(3)], Ok("bc")),
        ("slice", vec![s("abcdef"), i(2)], Ok("cdef")),
        ("slice", vec![s("abc")], Ok("abc")),
        (
            "slice",
            vec![list(vec![i(1), i(2), i(3)]), i(1), i(2), i(3)],
            Ok("[2]"),
        ),
        (
            "slice",
            vec![s("abc"), i(1), i(2), i(3)],
            Err("cannot 3-index slice a string"),
        ),
        (
            "slice",
            vec![s("abc"), i(2), i(1)],
            Err("invalid slice index: 2 > 1"),
        ),
        ("slice", vec![s("abc"), i(4)], Err("index out of range: 4")),
        (
            "slice",
            vec![i(1), i(0)],
            Err("can't slice item of type int"),
        ),
        ("slice", vec![Value::Nil], Err("slice of untyped nil")),
        ("print", vec![s("a"), i(1), i(2), s("b")], Ok("a1 2b")),
        ("println", vec![s("a"), i(1)], Ok("a 1\n")),
        ("printf", vec![s("%d-%s"), i(1), s("x")], Ok("1-x")),
        (
            "printf",
            vec![i(1)],
            Err("wrong type for value; expected string; got int"),
        ),
        (
            "html",
            vec![s("<a href='x'>\"&\"</a>\0")],
            Ok("&lt;a href=&#39;x&#39;&gt;&#34;&amp;&#34;&lt;/a&gt;\u{FFFD}"),
        ),
        ("html", vec![Value::Nil], Ok("&lt;no value&gt;")),
        ("html", vec![s("a"), i(1)], Ok("a1")),
        (
            "js",
            vec![s("a'b\"c\\d<e>&=\n\u{2028}é")],
            Ok("a\\'b\\\"c\\\\d\\u003Ce\\u003E\\u0026\\u003D\\u000A\\u2028é"),
        ),
        (
            "urlquery",
            vec![s("a b&c=d/é~")],
            Ok("a+b%26c%3Dd%2F%C3%A9~"),
        ),
        ("urlquery", vec![i(1), i(2)], Ok("1+2")),
    ];
    for (name, args, want) in cases {
        let got = call(name, &args).map(|v| crate::gotmpl::format::sprint_value(&v));
        let want = want.map(str::to_string).map_err(str::to_string);
        assert_eq!(got, want, "{name} {args:?}");
    }
}
