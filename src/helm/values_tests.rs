//! Coalescing tests: Helm's precedence, nulls, globals, paths.

use super::*;
use crate::helm::chart::load_files;

fn v(text: &str) -> Value {
    parse_values(text).unwrap()
}

fn show(v: &Value) -> String {
    format!("{v:?}")
}

#[test]
fn coalesce_tables_table() {
    let cases = [
        ("a: 1", "a: 2\nb: 3", "{\"a\": 1.0, \"b\": 3.0}"),
        (
            "a: {x: 1}",
            "a: {x: 2, z: 2}",
            "{\"a\": {\"x\": 1.0, \"z\": 2.0}}",
        ),
        ("a: null", "a: 2\nb: 3", "{\"b\": 3.0}"),
        ("a: {x: null}", "a: {x: 2, z: 2}", "{\"a\": {\"z\": 2.0}}"),
        ("a: 1", "a: {x: 2}", "{\"a\": 1.0}"),
        ("a: {x: 1}", "a: 5", "{\"a\": {\"x\": 1.0}}"),
        ("a: [1]", "a: [2, 3]", "{\"a\": [1.0]}"),
    ];
    for (dst, src, want) in cases {
        assert_eq!(
            show(&coalesce_tables(&v(dst), &v(src))),
            want,
            "{dst} over {src}"
        );
    }
}

fn two_level() -> Chart {
    let files = [
        ("Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\n"),
        (
            "values.yaml",
            "global: {g: top, t: {a: 1}}\nsub: {x: from-parent}\nown: 1\n",
        ),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        ),
        (
            "charts/sub/values.yaml",
            "x: default\nz: default\nglobal: {g: sub, s: 1, t: {b: 2}}\n",
        ),
    ];
    let list = files
        .iter()
        .map(|(n, d)| (n.to_string(), d.as_bytes().to_vec()))
        .collect();
    load_files("top", list).unwrap()
}

#[test]
fn coalesce_values_parent_wins_globals_copied() {
    // A fresh chart per case: coalescing shares (and so mutates) the
    // chart's own tables, as Helm's does.
    let cases = [
        ("", "sub.x", "\"from-parent\""),
        ("", "sub.z", "\"default\""),
        ("", "sub.global.g", "\"top\""),
        ("", "sub.global.s", "1.0"),
        ("", "own", "1.0"),
        ("sub: {z: user}", "sub.z", "\"user\""),
        ("own: null", "own", "nil"),
        ("sub: {z: null}", "sub.z", "nil"),
    ];
    for (user, path, want) in cases {
        let out = coalesce_values(&two_level(), &v(user)).unwrap();
        let got = path_value(&out, path).map_or("nil".to_string(), |x| show(&x));
        assert_eq!(got, want, "{user} -> {path}");
    }
    let out = coalesce_values(&two_level(), &Value::Nil).unwrap();
    assert_eq!(
        show(&table(&out, "sub.global.t").unwrap()),
        "{\"a\": 1.0, \"b\": 2.0}"
    );
}

#[test]
fn type_mismatch_on_subchart_key() {
    let c = two_level();
    let err = coalesce_values(&c, &v("sub: [1]")).unwrap_err();
    assert_eq!(err.name, "sub");
}

#[test]
fn paths() {
    let data = v("a: {b: {c: 1}, m: null}\nx: 2");
    let cases = [
        ("a.b.c", Some("1.0")),
        ("a.b", None),
        ("x", Some("2.0")),
        ("a.m", Some("nil")),
        ("a.q", None),
        ("", None),
    ];
    for (p, want) in cases {
        assert_eq!(
            path_value(&data, p).map(|x| show(&x)).as_deref(),
            want,
            "{p}"
        );
    }
    assert!(table(&data, "a.b").is_some());
    assert!(table(&data, "x").is_none());
}
