//! End-to-end: every chart of tests/data/helm/charts rendered and compared,
//! template by template, with what Helm 3.9.4 rendered (helmrender: release
//! `release-name`, namespace `default`, revision 0; tests/ and NOTES.txt
//! left out, as are empty outputs). Documents are compared as YAML data,
//! the values nondeterministic.txt marks as random masked on both sides.

use std::collections::BTreeMap;
use std::path::Path;

use super::{load_dir, parse_values, render, split_manifests, RenderOptions};

/// Fixtures (`DIR GOLDEN`) we know to render differently from Helm, and why.
/// Every other fixture must match; one of these that starts to match must
/// leave the list (the test says so), so the list stays true.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "math rendered.yaml",
        "typeOf of sprig's int64 results says int",
    ),
    (
        "printf-verbs rendered.yaml",
        "%T of sprig's int64 results says int",
    ),
];

/// Fixtures where we follow `helm template`, not helmrender (which skips
/// `action.CheckDependencies`): an enabled dependency missing from charts/.
const EXPECTED_ERRORS: &[(&str, &str)] = &[(
    "rook-ceph",
    "found in Chart.yaml, but missing in charts/ directory: ceph-csi-operator",
)];

/// The templates of a golden file (`---\n# Source: NAME\n<text>\n` each).
fn golden_templates(text: &str) -> BTreeMap<String, String> {
    text.split("---\n# Source: ")
        .filter(|c| !c.is_empty())
        .filter_map(|c| c.split_once('\n'))
        .map(|(name, body)| (name.to_string(), body.to_string()))
        .collect()
}

/// The YAML documents of a template's output, split as Helm splits them.
fn docs(text: &str) -> Result<Vec<serde_yaml::Value>, String> {
    let mut out = Vec::new();
    for (line, d) in split_manifests(text) {
        let v: serde_yaml::Value =
            serde_yaml::from_str(&d).map_err(|e| format!("line {line}: {e}"))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// What helmrender prints of a render: manifests but tests and empties.
fn ours(chart: &Path, values: Option<&Path>) -> Result<BTreeMap<String, String>, String> {
    let c = load_dir(chart).map_err(|e| e.to_string())?;
    let mut opts = RenderOptions {
        revision: 0,
        ..RenderOptions::default()
    };
    if let Some(v) = values {
        let text = std::fs::read_to_string(v).map_err(|e| e.to_string())?;
        opts.user_values.push(parse_values(&text)?);
    }
    let out = render(&c, &opts).map_err(|e| e.to_string())?;
    Ok(out
        .manifests
        .into_iter()
        .filter(|r| !r.template.contains("/tests/") && !r.text.trim().is_empty())
        .map(|r| (r.template, r.text))
        .collect())
}

/// Keys whose values Helm draws at random, per template: from
/// nondeterministic.txt (`LINE: KEY`, lines of the golden file).
fn random_keys(golden: &str, list: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let lines: Vec<&str> = golden.lines().collect();
    for entry in list.lines().filter(|l| !l.starts_with('#')) {
        let Some((n, key)) = entry.split_once(": ") else {
            continue;
        };
        let Ok(n) = n.trim().parse::<usize>() else {
            continue;
        };
        let source = lines[..n.min(lines.len())]
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("# Source: "));
        if let Some(t) = source {
            out.entry(t.to_string())
                .or_default()
                .push(key.trim().to_string());
        }
    }
    out
}

/// Replaces the values of `keys` anywhere in a document.
fn mask(v: &mut serde_yaml::Value, keys: &[String]) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                if k.as_str().is_some_and(|k| keys.iter().any(|r| r == k)) {
                    *x = serde_yaml::Value::String("<random>".into());
                } else {
                    mask(x, keys);
                }
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter_mut().for_each(|x| mask(x, keys)),
        _ => {}
    }
}

fn masked_docs(text: &str, keys: &[String]) -> Result<Vec<serde_yaml::Value>, String> {
    let mut d = docs(text)?;
    d.iter_mut().for_each(|x| mask(x, keys));
    Ok(d)
}

/// The templates whose documents differ (empty when all match).
fn compare(
    golden: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
    random: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, want) in golden {
        let keys = random.get(name).map_or(&[][..], |k| k.as_slice());
        match got.get(name) {
            None => bad.push(format!("{name} (missing)")),
            // helmrender prints a newline after each template.
            Some(text) if keys.is_empty() && want.strip_suffix('\n') == Some(text.as_str()) => {}
            Some(text) => match (masked_docs(want, keys), masked_docs(text, keys)) {
                (Ok(a), Ok(b)) if a == b => {}
                (Ok(_), Err(e)) => bad.push(format!("{name} (not YAML: {e})")),
                _ => bad.push(name.clone()),
            },
        }
    }
    bad.extend(
        got.keys()
            .filter(|k| !golden.contains_key(*k))
            .map(|k| format!("{k} (extra)")),
    );
    bad
}

#[test]
fn fixtures_render_as_helm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm");
    let mut dirs: Vec<_> = ["charts", "features"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(root.join(sub)).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .collect();
    dirs.sort();
    let (mut pass, mut total) = (0, 0);
    let mut failed = Vec::new();
    for dir in dirs {
        for (golden, values) in [
            ("rendered.yaml", None),
            ("rendered-site.yaml", Some("values-site.yaml")),
        ] {
            let label = format!(
                "{} {golden}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            );
            let Ok(want) = std::fs::read_to_string(dir.join(golden)) else {
                if values.is_none() && dir.join("exit.txt").exists() {
                    total += 1;
                    match refused_as_helm(&dir, None) {
                        Ok(()) => {
                            pass += 1;
                            eprintln!("ok   {label}: refused as Helm refuses it");
                        }
                        Err(e) => {
                            eprintln!("FAIL {label}: {e}");
                            failed.push(label.clone());
                        }
                    }
                }
                continue;
            };
            total += 1;
            let values = values.map(|v| dir.join(v));
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match ours(&dir.join("chart"), values.as_deref()) {
                Err(e) if EXPECTED_ERRORS.contains(&(name.as_str(), e.as_str())) => {
                    pass += 1;
                    eprintln!("ok   {label}: fails as helm template does: {e}");
                }
                Err(e) => {
                    eprintln!("FAIL {label}: {e}");
                    failed.push(label.clone());
                }
                Ok(got) => {
                    let random = if values.is_some() {
                        "nondeterministic-site.txt"
                    } else {
                        "nondeterministic.txt"
                    };
                    let list = std::fs::read_to_string(dir.join(random)).unwrap_or_default();
                    let bad = compare(&golden_templates(&want), &got, &random_keys(&want, &list));
                    if bad.is_empty() {
                        pass += 1;
                        eprintln!("ok   {label}");
                    } else {
                        eprintln!(
                            "FAIL {label}: {} templates differ: {}",
                            bad.len(),
                            bad.join(", ")
                        );
                        failed.push(label.clone());
                    }
                }
            }
        }
    }
    eprintln!("fixtures: {pass}/{total} render as Helm does");
    let known: Vec<String> = KNOWN_DIFFERENCES
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    let unexpected: Vec<&String> = failed.iter().filter(|f| !known.contains(f)).collect();
    let fixed: Vec<&String> = known.iter().filter(|k| !failed.contains(k)).collect();
    assert!(total >= 60, "only {total} fixtures");
    assert!(
        unexpected.is_empty(),
        "render differently from Helm: {unexpected:?}"
    );
    assert!(
        fixed.is_empty(),
        "now render as Helm: remove from KNOWN_DIFFERENCES: {fixed:?}"
    );
}

/// Checks that we refuse the chart of `dir` as helmrender did: our error
/// ends with its stderr.txt (less the stage prefix, `render: `, `values: `).
fn refused_as_helm(dir: &Path, values: Option<&Path>) -> Result<(), String> {
    let stderr = std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
    let want = stderr
        .trim_end()
        .split_once(": ")
        .map_or("", |(_, m)| m)
        .to_string();
    match ours(&dir.join("chart"), values) {
        Ok(_) => Err(format!("rendered; Helm says {want:?}")),
        Err(e) if !want.is_empty() && e.trim_end().ends_with(&want) => Ok(()),
        Err(e) => Err(format!("\n  ours {e}\n  helm {want}")),
    }
}

/// Charts Helm refuses that we render (or refuse otherwise), and why.
const KNOWN_BAD_DIFFERENCES: &[(&str, &str)] = &[
    (
        "missing-dependency",
        "helmrender renders it; `helm install` and we refuse an enabled dependency missing from charts/",
    ),
];

#[test]
fn refused_charts_fail_with_helms_message() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/bad");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/data/helm/bad")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut bad = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if KNOWN_BAD_DIFFERENCES.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let values = dir.join("values-site.yaml");
        if let Err(e) = refused_as_helm(dir, values.exists().then_some(values.as_path())) {
            bad.push(format!("{name}: {e}"));
        }
    }
    assert!(dirs.len() >= 10, "only {} refused charts", dirs.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
