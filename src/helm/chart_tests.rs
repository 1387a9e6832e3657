//! Loader tests: which file goes where, helmignore, subcharts, errors.

use super::*;

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, d)| (n.to_string(), d.as_bytes().to_vec()))
        .collect()
}

const CHART: &str = "apiVersion: v2\nname: top\nversion: 1.0.0\n";
const SUB: &str = "apiVersion: v2\nname: sub\nversion: 0.1.0\n";

fn names(v: &[File]) -> Vec<&str> {
    v.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn sorts_files_into_parts() {
    let c = load_files(
        "top",
        files(&[
            ("Chart.yaml", CHART),
            ("values.yaml", "a: 1\n"),
            ("templates/a.yaml", "x"),
            ("templates/.hidden", "x"),
            ("config/x.conf", "c"),
            ("values.schema.json", "{}"),
            ("Chart.lock", "x"),
            ("charts/sub/Chart.yaml", SUB),
            ("charts/sub/templates/b.yaml", "y"),
            ("charts/_skip/Chart.yaml", SUB),
            ("charts/sub-0.1.0.tgz.prov", "sig"),
        ]),
    )
    .unwrap();
    assert_eq!(names(&c.templates), ["templates/a.yaml"]);
    assert_eq!(
        names(&c.files),
        ["charts/sub-0.1.0.tgz.prov", "config/x.conf"]
    );
    assert_eq!(c.dependencies.len(), 1);
    assert_eq!(names(&c.dependencies[0].templates), ["templates/b.yaml"]);
    assert_eq!(format!("{:?}", c.values), "{\"a\": 1.0}");
}

#[test]
fn helmignore_filters_paths_and_dirs() {
    let c = load_files(
        "top",
        files(&[
            ("Chart.yaml", CHART),
            (".helmignore", "*.md\nci/\ntemplates/skip.yaml\n"),
            ("README.md", "x"),
            ("ci/values.yaml", "x"),
            ("templates/skip.yaml", "x"),
            ("templates/keep.yaml", "x"),
            ("charts/sub/Chart.yaml", SUB),
            ("charts/sub/NOTES.md", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(names(&c.templates), ["templates/keep.yaml"]);
    assert_eq!(names(&c.files), [".helmignore"]);
    assert!(c.dependencies[0].files.is_empty());
}

#[test]
fn v1_requirements_are_dependencies_and_files() {
    let c = load_files(
        "old",
        files(&[
            ("Chart.yaml", "name: old\nversion: 1.0.0\n"),
            (
                "requirements.yaml",
                "dependencies:\n- name: sub\n  version: 0.1.x\n  alias: s2\n",
            ),
            ("charts/sub/Chart.yaml", SUB),
        ]),
    )
    .unwrap();
    assert_eq!(c.metadata.api_version, "v1");
    let deps = c.metadata.dependencies.as_ref().unwrap();
    assert_eq!(
        (deps[0].name.as_str(), deps[0].alias.as_str()),
        ("sub", "s2")
    );
    assert_eq!(names(&c.files), ["requirements.yaml"]);
}

#[test]
fn packaged_subchart() {
    let tgz = crate::helm::archive::tests_support::tgz(&[
        ("sub/Chart.yaml", SUB.as_bytes()),
        ("sub/templates/x.yaml", b"x"),
    ]);
    let mut list = files(&[("Chart.yaml", CHART)]);
    list.push(("charts/sub-0.1.0.tgz".into(), tgz));
    let c = load_files("top", list).unwrap();
    assert_eq!(c.dependencies[0].name(), "sub");
    assert_eq!(names(&c.dependencies[0].templates), ["templates/x.yaml"]);
}

#[test]
fn errors_name_chart_and_file() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("values.yaml", "a: 1")], "chart \"top\": Chart.yaml file is missing"),
        (&[("Chart.yaml", "apiVersion: v2\nversion: 1.0.0")], "chart \"top\": validation: chart.metadata.name is required"),
        (
            &[("Chart.yaml", CHART), ("values.yaml", "- a\n")],
            "chart \"top\": cannot load values.yaml: error unmarshaling JSON: json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (&[("Chart.yaml", CHART), ("charts/sub/values.yaml", "a: 1")], "error unpacking sub in top: chart \"top/charts/sub\": Chart.yaml file is missing"),
        (&[("Chart.yaml", CHART), (".helmignore", "a/**/b")], "chart \"top\": .helmignore: double-star (**) syntax is not supported"),
    ];
    for (list, want) in cases {
        let err = load_files("top", files(list)).unwrap_err();
        assert_eq!(err.to_string(), *want);
    }
}

#[test]
fn strips_bom() {
    let c = load_files(
        "top",
        files(&[
            ("Chart.yaml", &format!("\u{feff}{CHART}")),
            ("a.txt", "\u{feff}x"),
        ]),
    )
    .unwrap();
    assert_eq!(&*c.files[0].data, b"x");
}
