//! What Helm 3.9 (Go 1.19, yaml.v2 2.4.0, BurntSushi/toml 1.2.0) prints
//! for each value, case by case.

use super::super::convert::tests::{call, check, list, map, s, Case};
use super::*;

fn f(x: f64) -> Value {
    Value::Float(x)
}

fn i(x: i64) -> Value {
    Value::Int(x)
}

#[test]
fn to_yaml_structure() {
    let cases: Vec<(Value, &str)> = vec![
        (map(&[("b", f(1.0)), ("a", s("x"))]), "a: x\nb: 1"),
        (
            map(&[("a", map(&[("b", list(vec![i(1), i(2)]))]))]),
            "a:\n  b:\n  - 1\n  - 2",
        ),
        (list(vec![s("a"), map(&[("b", i(1))])]), "- a\n- b: 1"),
        (
            list(vec![list(vec![i(1), i(2)]), list(vec![i(3)])]),
            "- - 1\n  - 2\n- - 3",
        ),
        (
            list(vec![map(&[("a", i(1)), ("b", i(2))])]),
            "- a: 1\n  b: 2",
        ),
        (
            map(&[("l", list(vec![map(&[("a", i(1)), ("b", i(2))])]))]),
            "l:\n- a: 1\n  b: 2",
        ),
        (map(&[]), "{}"),
        (list(vec![]), "[]"),
        (Value::Nil, "null"),
        (
            map(&[("a", map(&[])), ("b", list(vec![])), ("c", Value::Nil)]),
            "a: {}\nb: []\nc: null",
        ),
        (list(vec![list(vec![]), map(&[])]), "- []\n- {}"),
        (
            map(&[("a10", i(1)), ("a2", i(1)), ("B", i(1))]),
            "B: 1\na2: 1\na10: 1",
        ),
        (
            map(&[("yes", i(1)), ("", i(2)), ("a b", i(3)), ("1", i(4))]),
            "\"\": 2\n\"1\": 4\na b: 3\n\"yes\": 1",
        ),
        (s("foo"), "foo"),
        (i(5), "5"),
        (Value::Bool(true), "true"),
        (Value::Bytes(std::rc::Rc::from(&b"hi"[..])), "aGk="),
        (f(f64::NAN), ""),
        (map(&[("a", f(f64::INFINITY))]), ""),
    ];
    for (v, want) in cases {
        assert_eq!(to_yaml(&v), want, "{v:?}");
    }
}

#[test]
fn to_yaml_scalars() {
    let cases: Vec<(Value, &str)> = vec![
        (s("yes"), "\"yes\""),
        (s("on"), "\"on\""),
        (s("Off"), "\"Off\""),
        (s("1.0"), "\"1.0\""),
        (s("123"), "\"123\""),
        (s(""), "\"\""),
        (s("null"), "\"null\""),
        (s("~"), "\"~\""),
        (s("12:30"), "\"12:30\""),
        (s("0x1F"), "\"0x1F\""),
        (s("1e3"), "\"1e3\""),
        (s("2020-01-01"), "\"2020-01-01\""),
        (s("1.2.3"), "1.2.3"),
        (s("a: b"), "'a: b'"),
        (s("a:b"), "a:b"),
        (s("- x"), "'- x'"),
        (s("-x"), "-x"),
        (s("*x"), "'*x'"),
        (s("x#y"), "x#y"),
        (s("x #y"), "'x #y'"),
        (s("it's"), "it's"),
        (s("'q"), "'''q'"),
        (s(" lead"), "' lead'"),
        (s("trail "), "'trail '"),
        (s("tab\tx"), "\"tab\\tx\""),
        (s("café"), "café"),
        (s("😀"), "\"\\U0001F600\""),
        (s("bell\u{7}"), "\"bell\\a\""),
        (s("---"), "'---'"),
        (s("{x}"), "'{x}'"),
        (s("@x"), "'@x'"),
        (s("a,b"), "a,b"),
        (f(1e6), "1000000"),
        (f(1.5), "1.5"),
        (f(3.0), "3"),
        (f(-0.0), "0"),
        (f(12345678.5), "1.23456785e+07"),
        (f(1e21), "1e+21"),
        (f(1e20), "1e+20"),
        (f(1e19), "10000000000000000000"),
        (f(1e-7), "1e-07"),
        (f(0.0001), "0.0001"),
        (f(0.00001), "1e-05"),
        (i(-3), "-3"),
    ];
    for (v, want) in cases {
        assert_eq!(to_yaml(&v), want, "{v:?}");
    }
}

#[test]
fn to_yaml_multiline() {
    let cases: Vec<(Value, &str)> = vec![
        (map(&[("s", s("a\nb"))]), "s: |-\n  a\n  b"),
        (map(&[("s", s("a\nb\n"))]), "s: |\n  a\n  b"),
        (map(&[("s", s("a\nb\n\n"))]), "s: |+\n  a\n  b\n"),
        (map(&[("s", s("a\n\nb"))]), "s: |-\n  a\n\n  b"),
        (map(&[("s", s(" lead\nx"))]), "s: |2-\n   lead\n  x"),
        (map(&[("s", s("trailing \nx"))]), "s: \"trailing \\nx\""),
        (map(&[("s", s("x\nend "))]), "s: \"x\\nend \""),
        (map(&[("s", s("a\tb\nc"))]), "s: \"a\\tb\\nc\""),
        (list(vec![s("a\nb")]), "- |-\n  a\n  b"),
        (s("a\nb"), "|-\n  a\n  b"),
        (
            map(&[("m", map(&[("s", s("x\ny\n")), ("t", i(1))]))]),
            "m:\n  s: |\n    x\n    y\n  t: 1",
        ),
        (map(&[("a\nb", i(1))]), "? |-\n  a\n  b\n: 1"),
    ];
    for (v, want) in cases {
        assert_eq!(to_yaml(&v), want, "{v:?}");
    }
}

#[test]
fn to_yaml_folds_long_lines() {
    let words: Vec<&str> = vec!["word"; 30];
    let text = words.join(" ");
    let got = to_yaml(&map(&[("k", s(&text))]));
    let want = format!("k: {}\n  {}", words[..16].join(" "), words[16..].join(" "));
    assert_eq!(got, want);
    // A key longer than 128 bytes is a complex key.
    let long = "k".repeat(130);
    assert_eq!(to_yaml(&map(&[(&long, s("v"))])), format!("? {long}\n: v"));
    // Double-quoted strings fold too, escaping a leading space.
    let quoted = format!("{}  x: y", "w ".repeat(45));
    let got = to_yaml(&s(&quoted));
    assert!(got.starts_with('\'') || got.starts_with('"'), "{got}");
}

#[test]
fn json_functions() {
    let v = map(&[
        ("a", s("<x>&")),
        ("b", list(vec![i(1), f(1.5), Value::Nil, Value::Bool(true)])),
        ("c", map(&[])),
    ]);
    let cases: Vec<Case> = vec![
        (
            "toJson",
            vec![v.clone()],
            Ok(s(
                r#"{"a":"\u003cx\u003e\u0026","b":[1,1.5,null,true],"c":{}}"#,
            )),
        ),
        (
            "toRawJson",
            vec![v.clone()],
            Ok(s(r#"{"a":"<x>&","b":[1,1.5,null,true],"c":{}}"#)),
        ),
        (
            "toPrettyJson",
            vec![map(&[("a", list(vec![i(1)])), ("b", map(&[]))])],
            Ok(s("{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}")),
        ),
        (
            "toJson",
            vec![list(vec![f(1e21), f(1e-7), f(100.0), f(0.000001), f(-2.5)])],
            Ok(s("[1e+21,1e-7,100,0.000001,-2.5]")),
        ),
        (
            "toJson",
            vec![s("a\"\\\n\t\u{1}\u{2028}")],
            Ok(s(r#""a\"\\\n\t\u0001\u2028""#)),
        ),
        ("toJson", vec![f(f64::NAN)], Ok(s(""))),
        (
            "mustToJson",
            vec![f(f64::NAN)],
            Err("json: unsupported value: NaN".into()),
        ),
        (
            "toRawJson",
            vec![f(f64::INFINITY)],
            Err("json: unsupported value: +Inf".into()),
        ),
        (
            "fromJson",
            vec![s(r#"{"a": 1, "b": [true, "x"]}"#)],
            Ok(map(&[
                ("a", f(1.0)),
                ("b", list(vec![Value::Bool(true), s("x")])),
            ])),
        ),
        (
            "fromJson",
            vec![s("")],
            Ok(map(&[("Error", s("unexpected end of JSON input"))])),
        ),
        (
            "fromJson",
            vec![s("[1]")],
            Ok(map(&[(
                "Error",
                s("json: cannot unmarshal array into Go value of type map[string]interface {}"),
            )])),
        ),
        ("fromJson", vec![s("null")], Ok(map(&[]))),
        (
            "fromJsonArray",
            vec![s(r#"[1, "a"]"#)],
            Ok(list(vec![f(1.0), s("a")])),
        ),
        ("mustFromJson", vec![s("\"x\"")], Ok(s("x"))),
    ];
    check(register, cases);
}

#[test]
fn yaml_readers() {
    let cases: Vec<Case> = vec![
        (
            "fromYaml",
            vec![s("a: 1\nb: [x, y]\nc:\n  d: true\n")],
            Ok(map(&[("a", f(1.0)), ("b", list(vec![s("x"), s("y")])), ("c", map(&[("d", Value::Bool(true))]))])),
        ),
        ("fromYaml", vec![s("")], Ok(map(&[]))),
        ("fromYaml", vec![s("a: 1\n---\nb: 2\n")], Ok(map(&[("a", f(1.0))]))),
        (
            "fromYaml",
            vec![s("- 1")],
            Ok(map(&[("Error", s("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"))])),
        ),
        ("fromYaml", vec![s("base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n")], Ok(map(&[("base", map(&[("x", f(1.0))])), ("d", map(&[("x", f(1.0)), ("y", f(2.0))]))]))),
        ("fromYamlArray", vec![s("- a\n- 2\n")], Ok(list(vec![s("a"), f(2.0)]))),
        (
            "fromYamlArray",
            vec![s("a: 1")],
            Ok(list(vec![s("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}")])),
        ),
    ];
    check(register, cases);
    let bad = call(register, "fromYaml", &[s("a: [")]).unwrap_or_default();
    assert!(bad
        .get("Error")
        .as_str()
        .is_some_and(|e| e.starts_with("error converting YAML to JSON: yaml: ")));
}

#[test]
fn to_toml() {
    let v = map(&[
        ("a", i(1)),
        ("b", map(&[("c", s("x")), ("n", map(&[("z", f(2.0))]))])),
        ("d", list(vec![map(&[("e", f(1.5))])])),
        ("f", list(vec![i(1), i(2)])),
        ("g", Value::Nil),
        ("key with space", s("q\"")),
    ]);
    let want = "a = 1\nf = [1, 2]\n\"key with space\" = \"q\\\"\"\n\n[b]\n  c = \"x\"\n  [b.n]\n    z = 2.0\n\n[[d]]\n  e = 1.5\n";
    let cases: Vec<Case> = vec![
        ("toToml", vec![v], Ok(s(want))),
        ("toToml", vec![s("x")], Ok(s(toml::NO_KEY))),
        (
            "toToml",
            vec![map(&[("l", list(vec![map(&[("a", f(1e21))]), i(1)]))])],
            Ok(s("l = [{a = 1000000000000000000000.0}, 1]\n")),
        ),
        ("toToml", vec![map(&[])], Ok(s(""))),
    ];
    check(register, cases);
}
