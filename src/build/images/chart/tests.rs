//! The image lists of the chart corpus (tests/data/helm/charts: real public
//! charts) against what Helm 3.9.4 itself renders (`images.txt`, made by
//! helmrender + helm-images.py; see tests/data/helm/README.md), exactly.

use std::path::Path;

use super::super::refs::normalize;
use super::*;

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if e.file_type().unwrap().is_dir() {
            read_tree(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(&path).unwrap()));
        }
    }
}

fn corpus() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/charts");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

/// (image-field references normalised and sorted, every reference) of a chart.
fn images(case: &Path, values: Option<&str>) -> Result<(Vec<String>, Vec<Found>), String> {
    let chart_dir = case.join("chart");
    let mut files = Vec::new();
    read_tree(&chart_dir, &chart_dir, &mut files);
    let chart = ChartFiles {
        dir: "charts/x".into(),
        files,
    };
    let mut with = RenderWith::default();
    if let Some(v) = values {
        let text = std::fs::read_to_string(case.join(v)).unwrap();
        with.values.push((v.to_string(), text));
    }
    let found = chart_images(chart, None, &with).map_err(|e| e.to_string())?;
    let mut fields: Vec<String> = found
        .iter()
        .filter(|f| f.source.field.is_some())
        .map(|f| {
            normalize(&f.text)
                .map(|w| w.name)
                .unwrap_or_else(|e| format!("{}: {e}", f.text))
        })
        .collect();
    fields.sort();
    fields.dedup();
    Ok((fields, found))
}

fn normalized(refs: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = refs
        .map(|r| {
            normalize(&r)
                .map(|w| w.name)
                .unwrap_or_else(|e| format!("{r}: {e}"))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The `image:` fields of test-hook documents of Helm's rendering.
fn hook_images(rendered: &str) -> Vec<String> {
    fn walk(v: &serde_yaml::Value, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                for (k, val) in m {
                    match (k.as_str(), val) {
                        (Some("image"), serde_yaml::Value::String(s)) => out.push(s.clone()),
                        _ => walk(val, out),
                    }
                }
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, doc) in manifest::documents(rendered) {
        let v: serde_yaml::Value = serde_yaml::from_str(&doc).unwrap_or_default();
        if manifest::is_test_hook(&v) {
            walk(&v, &mut out);
        }
    }
    normalized(out.into_iter())
}

/// The images a cluster pulls for Helm's own rendering: the `image:`
/// fields of `rendered` (Helm's) outside test hooks. Checked against
/// helm-images.py's list of every `image:` field (`images`), which may hold
/// test hooks' images besides and nothing else.
fn expected(case: &Path, rendered: &str, images: &str) -> Result<Vec<String>, String> {
    let golden = std::fs::read_to_string(case.join(rendered)).unwrap();
    let fields = manifest::image_fields(&golden).map_err(|e| format!("golden {rendered}: {e}"))?;
    let want = normalized(fields.into_iter().map(|f| f.text));
    let listed = normalized(
        std::fs::read_to_string(case.join(images))
            .unwrap()
            .lines()
            .map(String::from),
    );
    let hooks = hook_images(&golden);
    for w in &want {
        if !listed.contains(w) {
            return Err(format!("{w} is not in {images}"));
        }
    }
    for l in &listed {
        if !want.contains(l) && !hooks.contains(l) {
            return Err(format!(
                "{l} of {images} is neither installed nor a test hook's"
            ));
        }
    }
    Ok(want)
}

#[test]
fn every_chart_lists_exactly_the_images_helm_renders() {
    let mut bad = Vec::new();
    let mut checked = 0;
    let cases = [
        (None, "rendered.yaml", "images.txt"),
        (
            Some("values-site.yaml"),
            "rendered-site.yaml",
            "images-site.txt",
        ),
    ];
    for case in corpus() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        for (values, rendered, listed) in cases {
            if !case.join(rendered).exists() {
                // Helm refuses the chart with these values (exit.txt):
                // so must we, and list nothing (external-dns's schema).
                if values.is_none() && case.join("exit.txt").exists() {
                    checked += 1;
                    if let Ok((got, _)) = images(&case, None) {
                        bad.push(format!("{name}: Helm refuses it; we list {got:?}"));
                    }
                }
                continue;
            }
            checked += 1;
            let want = match expected(&case, rendered, listed) {
                Ok(w) => w,
                Err(e) => {
                    bad.push(format!("{name}: {e}"));
                    continue;
                }
            };
            match images(&case, values) {
                Ok((got, _)) if got == want => {}
                Ok((got, _)) => {
                    let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
                    let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
                    bad.push(format!(
                        "{name} ({values:?}): missing {missing:?}, extra {extra:?}"
                    ));
                }
                // Helm 3.9's `helm install` refuses an enabled dependency
                // missing from charts/ (the oracle, engine.Render, does not
                // check): we refuse it too.
                Err(e) if e.contains("but missing in charts/ directory") => {}
                Err(e) => bad.push(format!("{name} ({values:?}): {e}")),
            }
        }
    }
    assert!(checked >= 40, "only {checked} image lists in the corpus");
    assert!(
        bad.is_empty(),
        "{} of {checked} image lists differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn longhorn_csi_sidecars_come_from_values_found_in_env() {
    let case = corpus()
        .into_iter()
        .find(|c| c.ends_with("longhorn"))
        .unwrap();
    let (_, found) = images(&case, None).unwrap();
    let declared: Vec<&str> = found
        .iter()
        .filter(|f| f.source.field.is_none())
        .map(|f| f.text.as_str())
        .collect();
    for sidecar in [
        "longhornio/csi-attacher:",
        "longhornio/csi-provisioner:",
        "longhornio/csi-node-driver-registrar:",
    ] {
        assert!(
            declared.iter().any(|d| d.contains(sidecar)),
            "{sidecar} missing from {declared:?}"
        );
    }
}

#[test]
fn sources_name_template_line_resource_and_field() {
    let case = corpus()
        .into_iter()
        .find(|c| c.ends_with("cert-manager"))
        .unwrap();
    let (_, found) = images(&case, None).unwrap();
    let controller = found
        .iter()
        .find(|f| f.text.contains("cert-manager-controller"))
        .expect("the controller image");
    let s = &controller.source;
    assert_eq!(s.file, "charts/x/templates/deployment.yaml");
    assert_eq!(
        s.resource.as_deref(),
        Some("Deployment/release-name-cert-manager")
    );
    assert_eq!(
        s.field.as_deref(),
        Some("spec.template.spec.containers[0].image")
    );
    assert!(s.line.is_some_and(|l| l > 1), "{s:?}");
}

#[test]
fn a_chart_helm_refuses_fails_with_helms_message() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/bad/required-missing");
    let err = images(&root, None).unwrap_err();
    assert!(err.contains("charts/x"), "{err}");
    assert!(
        err.contains("required-missing/templates/cm.yaml:7:10"),
        "{err}"
    );
    assert!(err.contains("image.tag is required"), "{err}");
}
