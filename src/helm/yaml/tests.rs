//! Each case: YAML text → the JSON of what Helm (sigs.k8s.io/yaml over
//! yaml.v2) decodes from it, or its error.

use super::*;

/// The decoded value as JSON text: numbers print as Go's encoding/json
/// prints a float64 (integral ones without a fraction); an Int would be a
/// bug, so it prints as `int:N`.
fn json(v: &Value) -> String {
    match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => format!("int:{i}"),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Value::Float(f) => format!("{f}"),
        Value::Str(s) => format!("{s:?}"),
        Value::List(l) => {
            let items: Vec<String> = l.iter().map(json).collect();
            format!("[{}]", items.join(","))
        }
        Value::Map(m) => {
            let items: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, v)| format!("{k:?}:{}", json(v)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        other => format!("{other:?}"),
    }
}

fn check(cases: &[(&str, &str)]) {
    for (text, want) in cases {
        let got = match decode(text) {
            Ok(v) => json(&v),
            Err(e) => format!("ERR {e}"),
        };
        assert_eq!(got, *want, "decoding {text:?}");
    }
}

#[test]
fn yaml11_bools_and_nulls() {
    check(&[
        ("a: yes", r#"{"a":true}"#),
        (
            "[y, Y, yes, Yes, YES, on, On, ON, true, True, TRUE]",
            "[true,true,true,true,true,true,true,true,true,true,true]",
        ),
        (
            "[n, N, no, No, NO, off, Off, OFF, false, False, FALSE]",
            "[false,false,false,false,false,false,false,false,false,false,false]",
        ),
        ("[yEs, oN, tRue, nO]", r#"["yEs","oN","tRue","nO"]"#),
        (
            "[~, null, Null, NULL, nUll]",
            r#"[null,null,null,null,"nUll"]"#,
        ),
        ("a:\nb: ~", r#"{"a":null,"b":null}"#),
        (
            "['yes', \"no\", 'null', \"~\"]",
            r#"["yes","no","null","~"]"#,
        ),
        ("n: 7\nnum: 7", r#"{"false":7,"num":7}"#),
        ("y: 1\nyes: 2", r#"{"true":2}"#),
        ("on: a\n'on': b", r#"{"on":"b","true":"a"}"#),
    ]);
}

#[test]
fn yaml11_numbers() {
    check(&[
        (
            "[0755, 0o17, 0x1F, 0X1f, 0b101, -0b101, 1_000, +12, -7]",
            "[493,15,31,31,5,-5,1000,12,-7]",
        ),
        (
            "[08, 09.5, 0.1, .5, 1e3, 1E-7, 6.02e+23, -0, 1.]",
            "[8,9.5,0.1,0.5,1000,0.0000001,602000000000000000000000,0,1]",
        ),
        (
            "[9223372036854775807, 9223372036854775808, 18446744073709551616]",
            "[9223372036854775808,9223372036854775808,18446744073709551616]",
        ),
        (
            "[0x, 1_0_, 1e, .e3, ., +, 1.2.3, 0x1p3, inf, nan]",
            r#"["0x",10,"1e",".e3",".","+","1.2.3","0x1p3","inf","nan"]"#,
        ),
        ("[1e400, .1e400, 12:30]", r#"["1e400",".1e400","12:30"]"#),
        (
            "- '0755'\n- \"0x1F\"\n- |\n  42\n- >-\n  1e3",
            r#"["0755","0x1F","42\n","1e3"]"#,
        ),
    ]);
}

#[test]
fn timestamps_stay_text() {
    check(&[
        ("d: 2001-12-14", r#"{"d":"2001-12-14"}"#),
        (
            "d: 2001-12-14T21:59:43.10Z",
            r#"{"d":"2001-12-14T21:59:43.10Z"}"#,
        ),
        (
            "d: !!timestamp 2001-12-14 21:59:43",
            r#"{"d":"2001-12-14 21:59:43"}"#,
        ),
        ("2001-12-14: x", r#"{"2001-12-14":"x"}"#),
        (
            "d: !!timestamp nope",
            "ERR error converting YAML to JSON: yaml: cannot decode !!str `nope` as a !!timestamp",
        ),
    ]);
}

#[test]
fn special_floats_fail_the_json_conversion() {
    check(&[
        (
            "a: .inf",
            "ERR error converting YAML to JSON: json: unsupported value: +Inf",
        ),
        (
            "a: [-.Inf]",
            "ERR error converting YAML to JSON: json: unsupported value: -Inf",
        ),
        (
            "a: .NaN",
            "ERR error converting YAML to JSON: json: unsupported value: NaN",
        ),
        ("a: '.inf'", r#"{"a":".inf"}"#),
        (".inf: a", r#"{".inf":"a"}"#),
    ]);
}

#[test]
fn keys_become_go_text() {
    check(&[
        ("1: a\n1.5: b\n1.0: c\n0x10: d\ntrue: e\nno: f", r#"{"1":"c","1.5":"b","16":"d","false":"f","true":"e"}"#),
        ("1000000: a\n1e6: b\n0.1: c\n123456789: d", r#"{"0.1":"c","1000000":"a","123456789":"d","1e+06":"b"}"#),
        ("? ~\n: a", "ERR error converting YAML to JSON: Unsupported map key of type: %!s(<nil>), key: <nil>, value: \"a\""),
        ("18446744073709551615: a", "ERR error converting YAML to JSON: Unsupported map key of type: uint64, key: 0xffffffffffffffff, value: \"a\""),
        ("? [a]\n: b", "ERR error converting YAML to JSON: yaml: invalid map key: []interface {}{\"a\"}"),
        ("a: 1\na: 2", r#"{"a":2}"#),
    ]);
}

#[test]
fn merge_keys_and_aliases() {
    check(&[
        ("b: &x {k: 1, j: 1}\nc:\n  <<: *x\n  k: 2", r#"{"b":{"j":1,"k":1},"c":{"j":1,"k":2}}"#),
        // yaml.v2 merges in place: keys before `<<` are overwritten.
        ("b: &x {k: 1}\nc:\n  k: 2\n  <<: *x", r#"{"b":{"k":1},"c":{"k":1}}"#),
        ("a: &a {k: a}\nb: &b {k: b, j: b}\nc:\n  <<: [*a, *b]", r#"{"a":{"k":"a"},"b":{"j":"b","k":"b"},"c":{"j":"b","k":"a"}}"#),
        ("c:\n  <<: {k: 1}\n  j: 2", r#"{"c":{"j":2,"k":1}}"#),
        ("c:\n  '<<': {k: 1}", r#"{"c":{"<<":{"k":1}}}"#),
        ("a: &s str\nc:\n  <<: *s", "ERR error converting YAML to JSON: yaml: map merge requires map or sequence of maps as the value"),
        ("a: &l [1, &n 2]\nb: *l\nc: *n", r#"{"a":[1,2],"b":[1,2],"c":2}"#),
        ("a: &x [*x]", "ERR error converting YAML to JSON: yaml: anchor 'x' value contains itself"),
        ("a: *nope", "ERR error converting YAML to JSON: yaml: unknown anchor 'nope' referenced"),
    ]);
}

#[test]
fn tags() {
    check(&[
        (
            "[!!str 123, !!int '12', !!float 1, !!bool yes, !!null '']",
            r#"["123",12,1,true,null]"#,
        ),
        ("[!custom 12, !!binary aGVsbG8=]", r#"["12","hello"]"#),
        (
            "a: !!int abc",
            "ERR error converting YAML to JSON: yaml: cannot decode !!str `abc` as a !!int",
        ),
        (
            "a: !!binary '***'",
            "ERR error converting YAML to JSON: yaml: !!binary value contains invalid base64 data",
        ),
    ]);
}

#[test]
fn documents_and_errors() {
    check(&[
        ("", "null"),
        ("# only a comment\n", "null"),
        ("---\na: 1\n---\nb: 2", r#"{"a":1}"#),
        ("a: 1\n---\n: [ bad", r#"{"a":1}"#),
        ("just text", r#""just text""#),
        ("a: b: c", "ERR error converting YAML to JSON: yaml: line 1: mapping values are not allowed in this context"),
        ("a:\n  b: 1\n c: 2", "ERR error converting YAML to JSON: yaml: line 2: did not find expected key"),
    ]);
}
