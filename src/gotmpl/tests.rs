//! Table tests of the engine: Go's text/template behaviour case by case
//! (parsing, trimming, control flow, variables, templates, errors).

use super::*;

fn upper(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    Ok(Value::from(
        a.iter()
            .map(|v| v.as_str().unwrap_or("").to_uppercase())
            .collect::<String>(),
    ))
}

fn fail(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    Err(a
        .first()
        .and_then(Value::as_str)
        .unwrap_or("failed")
        .to_string())
}

fn include(h: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let name = a.first().and_then(Value::as_str).unwrap_or("").to_string();
    h.include(&name, a.get(1).cloned().unwrap_or_default())
        .map(Value::from)
}

fn tpl(h: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let text = a.first().and_then(Value::as_str).unwrap_or("").to_string();
    h.tpl("t", &text, a.get(1).cloned().unwrap_or_default())
        .map(Value::from)
        .map_err(|e| e.to_string())
}

fn data() -> Value {
    let yaml = "
name: web
empty: ''
list: [a, b, c]
map: {z: 1, a: x, m: y}
nested: {inner: {deep: found}}
flag: false
";
    let y: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let mut top = Map::new();
    top.insert("Values".into(), Value::from_yaml(&y));
    Value::from(top)
}

fn run(text: &str) -> Result<String, String> {
    let mut funcs = FuncMap::new();
    funcs.insert("upper", upper);
    funcs.insert("fail", fail);
    funcs.insert("include", include);
    funcs.insert("tpl", tpl);
    let mut t = Templates::new(funcs);
    t.parse("t", text).map_err(|e| e.to_string())?;
    t.execute("t", data()).map_err(|e| e.to_string())
}

#[test]
fn renders_as_go_does() {
    let cases: &[(&str, &str)] = &[
        ("plain", "plain"),
        ("{{ .Values.name }}", "web"),
        ("{{.Values.nested.inner.deep}}", "found"),
        ("a {{- \" b \" -}} c", "a b c"),
        ("a\n  {{- .Values.name }}\n  x", "aweb\n  x"),
        ("{{ .Values.name -}}\n\n  end", "webend"),
        ("{{/* a comment */}}x", "x"),
        ("a {{- /* c */ -}} b", "ab"),
        ("{{ .Values.missing }}", "<no value>"),
        ("{{ if .Values.flag }}y{{ else }}n{{ end }}", "n"),
        (
            "{{ if .Values.empty }}1{{ else if .Values.name }}2{{ else }}3{{ end }}",
            "2",
        ),
        (
            "{{ with .Values.nested.inner }}{{ .deep }}{{ end }}",
            "found",
        ),
        ("{{ with .Values.missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ range .Values.list }}[{{ . }}]{{ end }}", "[a][b][c]"),
        (
            "{{ range $k, $v := .Values.map }}{{ $k }}={{ $v | upper }};{{ end }}",
            "a=X;m=Y;z=;",
        ),
        (
            "{{ range .Values.missing }}x{{ else }}empty{{ end }}",
            "empty",
        ),
        (
            "{{ range $v := .Values.list }}{{ if eq_s }}{{ end }}{{ end }}",
            "ERR",
        ),
        (
            "{{ range .Values.list }}{{ if false }}{{ else }}{{ . }}{{ break }}{{ end }}{{ end }}",
            "a",
        ),
        (
            "{{ $x := \"a\" }}{{ range .Values.list }}{{ $x = . }}{{ end }}{{ $x }}",
            "c",
        ),
        (
            "{{ $x := .Values.name }}{{ with .Values.nested }}{{ $x }}{{ $.Values.name }}{{ end }}",
            "webweb",
        ),
        (
            "{{ define \"t2\" }}<{{ . }}>{{ end }}{{ template \"t2\" .Values.name }}",
            "<web>",
        ),
        ("{{ block \"b\" .Values.name }}[{{ . }}]{{ end }}", "[web]"),
        (
            "{{ define \"h\" }}{{ .Values.name | upper }}{{ end }}{{ include \"h\" . }}",
            "WEB",
        ),
        ("{{ tpl \"{{ .Values.name }}!\" . }}", "web!"),
        ("{{ (.Values.nested).inner.deep }}", "found"),
        ("{{ \"x\" | upper }}{{ `raw\\n` }}", "Xraw\\n"),
        (
            "{{ and .Values.name .Values.empty }}|{{ or .Values.empty \"d\" }}",
            "|d",
        ),
        ("{{ or .Values.name (fail \"not evaluated\") }}", "web"),
        ("{{ .Values.list }}", "[a b c]"),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = run(text).unwrap_or_else(|_| "ERR".into());
        if got != *want {
            bad.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn errors_as_go_words_them() {
    let cases: &[(&str, &str)] = &[
        ("{{ nosuch }}", "template: t:1: function \"nosuch\" not defined"),
        ("{{ $x }}", "template: t:1: undefined variable \"$x\""),
        ("{{ if .x }}", "template: t:1: unexpected EOF"),
        ("{{ end }}", "template: t:1: unexpected {{end}}"),
        ("{{ break }}", "template: t:1: {{break}} outside {{range}}"),
        (
            "\n  {{ .Values.missing.deeper }}",
            "template: t:2:12: executing \"t\" at <.Values.missing.deeper>: nil pointer evaluating interface {}.deeper",
        ),
        (
            "{{ fail \"boom\" }}",
            "template: t:1:3: executing \"t\" at <fail \"boom\">: error calling fail: boom",
        ),
        (
            "{{ template \"none\" }}",
            "template: t:1:12: executing \"t\" at <{{template \"none\"}}>: template \"none\" not defined",
        ),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = match run(text) {
            Ok(out) => format!("OK {out:?}"),
            Err(e) => e,
        };
        if got != *want {
            bad.push(format!("{text:?}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn recursion_and_output_are_bounded() {
    let mut t = Templates::new({
        let mut f = FuncMap::new();
        f.insert("include", include as Func);
        f
    });
    t.limits.max_depth = 50;
    t.parse(
        "t",
        "{{ define \"r\" }}{{ include \"r\" . }}{{ end }}{{ include \"r\" . }}",
    )
    .unwrap();
    let e = t.execute("t", Value::Nil).unwrap_err().to_string();
    assert!(e.contains("exceeded maximum template depth (50)"), "{e}");
    t.limits.max_output = 1000;
    t.parse(
        "u",
        "{{ define \"x\" }}0123456789{{ end }}{{ range .L }}{{ template \"x\" }}{{ end }}",
    )
    .unwrap();
    let list: Vec<Value> = (0..200).map(Value::Int).collect();
    let mut m = Map::new();
    m.insert("L".into(), Value::from(list));
    let e = t.execute("u", Value::from(m)).unwrap_err().to_string();
    assert!(e.contains("output larger than 1000 bytes"), "{e}");
}
