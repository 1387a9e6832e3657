//! Dependency tests: conditions, tags, aliases, import-values, missing charts.

use super::*;
use crate::helm::chart::load_files;
use crate::helm::values::parse_values;

const SUB: &str = "apiVersion: v2\nname: sub\nversion: 1.2.3\n";

fn umbrella(deps: &str, values: &str) -> Chart {
    let chart = format!("apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n{deps}");
    let files = [
        ("Chart.yaml", chart.as_str()),
        ("values.yaml", values),
        ("charts/sub/Chart.yaml", SUB),
        (
            "charts/sub/values.yaml",
            "enabled: true\nexports: {data: {ex: 1}}\nchildtab: {c: 2}\n",
        ),
    ];
    load_files(
        "top",
        files
            .iter()
            .map(|(n, d)| (n.to_string(), d.as_bytes().to_vec()))
            .collect(),
    )
    .unwrap()
}

fn process(deps: &str, values: &str, user: &str) -> Result<Chart, DepError> {
    let mut c = umbrella(deps, values);
    process_dependencies(&mut c, &parse_values(user).unwrap())?;
    Ok(c)
}

fn dep_names(c: &Chart) -> Vec<String> {
    c.dependencies
        .iter()
        .map(|d| d.name().to_string())
        .collect()
}

#[test]
fn enabled_table() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("- name: sub\n  version: 1.x\n", "", "", &["sub"]),
        ("- name: sub\n  version: 1.x\n  condition: sub.enabled\n", "sub: {enabled: false}", "", &[]),
        ("- name: sub\n  version: 1.x\n  condition: sub.enabled\n", "", "sub: {enabled: false}", &[]),
        ("- name: sub\n  version: 1.x\n  condition: nope.x,sub.enabled\n", "sub: {enabled: false}", "", &[]),
        ("- name: sub\n  version: 1.x\n  condition: a.ok,sub.enabled\n", "a: {ok: true}\nsub: {enabled: false}", "", &["sub"]),
        // YAML 1.1: the key `on` is "true", so the path a.on is not found.
        ("- name: sub\n  version: 1.x\n  condition: a.on,sub.enabled\n", "a: {on: true}\nsub: {enabled: false}", "", &[]),
        ("- name: sub\n  version: 1.x\n  condition: sub.enabled\n", "sub: {enabled: notabool}", "", &["sub"]),
        ("- name: sub\n  version: 1.x\n  tags: [t]\n", "tags: {t: false}", "", &[]),
        ("- name: sub\n  version: 1.x\n  tags: [t, u]\n", "tags: {t: false, u: true}", "", &["sub"]),
        ("- name: sub\n  version: 1.x\n  tags: [t]\n  condition: sub.enabled\n", "tags: {t: false}", "", &["sub"]),
        ("- name: sub\n  version: 1.x\n  alias: other\n", "", "", &["other"]),
        ("- name: sub\n  version: 2.x\n  alias: other\n", "", "", &["sub"]),
        ("- name: sub\n  version: 1.x\n  alias: a1\n- name: sub\n  version: 1.x\n  alias: a2\n  condition: a2.enabled\n", "a2: {enabled: false}", "", &["a1"]),
    ];
    for (deps, values, user, want) in cases {
        let c = process(deps, values, user).unwrap();
        assert_eq!(dep_names(&c), *want, "{deps} {values} {user}");
    }
}

#[test]
fn import_values_both_forms() {
    let deps = "- name: sub\n  version: 1.x\n  import-values:\n  - data\n  - child: childtab\n    parent: fromchild\n";
    let c = process(deps, "ex: 9\n", "").unwrap();
    let show = |p: &str| {
        format!(
            "{:?}",
            crate::helm::values::path_value(&c.values, p).unwrap_or_default()
        )
    };
    assert_eq!(show("ex"), "9.0", "the parent's own value wins");
    assert_eq!(show("fromchild.c"), "2.0");
    let d = &c.metadata.dependencies.as_ref().unwrap()[0];
    assert_eq!(
        format!("{:?}", d.import_values[0]),
        "{\"child\": \"exports.data\", \"parent\": \".\"}"
    );
}

#[test]
fn missing_chart() {
    let cases = [
        (
            "gone: {ok: true}",
            Some("found in Chart.yaml, but missing in charts/ directory: gone"),
        ),
        ("gone: {ok: false}", None),
    ];
    for (values, want) in cases {
        let mut c = umbrella(
            "- name: sub\n  version: 1.x\n- name: gone\n  version: 1.x\n  condition: gone.ok\n",
            values,
        );
        let missing = missing_dependencies(&c);
        process_dependencies(&mut c, &Value::new_map()).unwrap();
        let got = check_missing(&c, &missing).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), want, "{values}");
    }
    let bad = "- name: sub\n  version: 1.x\n  import-values:\n  - child: x\n";
    assert!(matches!(
        process(bad, "", ""),
        Err(DepError::ImportValues { .. })
    ));
}
