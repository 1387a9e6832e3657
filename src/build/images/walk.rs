//! Finds the image references of a rootfs being built (the base image's
//! layers included), read through the merged view without unpacking:
//!
//! ```text
//! manifests/imageList              one reference a line
//! manifests/**.{yaml,yml,tmpl}     keys ending in `image` (yaml.rs)
//! charts/**/<chart>/               Chart.yaml + values.yaml + templates/ (chart.rs)
//! application/apps/<app>/**        charts as above, other yaml/yml/tmpl as manifests
//! ```

use sealer_fs::Kind;

use super::chart::{chart_images, Chart};
use super::refs::{parse_list, Found};
use super::yaml::manifest_images;
use crate::error::Result;
use crate::image::view::RootView;

/// Files larger than this are not scanned (said in a warning).
const MAX_SCANNED: u64 = 64 << 20;
/// Directory depth walked below a scanned root.
const MAX_DEPTH: usize = 32;

/// What a scan found.
#[derive(Default)]
pub struct Scan {
    /// References with where they came from, in scan order.
    pub found: Vec<Found>,
    /// Things the user should know (unreadable charts, skipped files).
    pub warnings: Vec<String>,
}

/// Scans the rootfs for image references.
pub fn scan_rootfs(view: &RootView) -> Result<Scan> {
    let mut scan = Scan::default();
    if let Some(text) = read_text(view, "manifests/imageList", &mut scan.warnings) {
        scan.found.extend(parse_list(&text, "manifests/imageList"));
    }
    for file in files_under(view, "manifests") {
        if has_manifest_ext(&file) {
            if let Some(text) = read_text(view, &file, &mut scan.warnings) {
                scan.found.extend(manifest_images(&text, &file, None));
            }
        }
    }
    scan_tree(view, "charts", None, false, &mut scan);
    if let Some(apps) = view.resolve("application/apps") {
        for e in view.read_dir(&apps) {
            if e.meta.kind != Kind::Dir {
                continue;
            }
            let Ok(name) = std::str::from_utf8(e.name) else {
                continue;
            };
            let dir = format!("application/apps/{name}");
            scan_tree(view, &dir, Some(name), true, &mut scan);
        }
    }
    Ok(scan)
}

/// Charts under `root`; with `manifests`, other YAML files count too.
fn scan_tree(view: &RootView, root: &str, app: Option<&str>, manifests: bool, scan: &mut Scan) {
    let mut files = Vec::new();
    walk(
        view,
        root,
        &mut |dir| {
            if !is_chart(view, dir) {
                return true;
            }
            let chart = read_chart(view, dir, scan);
            scan.found
                .extend(chart_images(&chart, app, &mut scan.warnings));
            false
        },
        &mut files,
    );
    for path in files {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if manifests && has_manifest_ext(name) {
            if let Some(text) = read_text(view, &path, &mut scan.warnings) {
                scan.found.extend(manifest_images(&text, &path, app));
            }
        }
    }
}

fn has_manifest_ext(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".tmpl"]
        .iter()
        .any(|e| lower.ends_with(e))
}

fn kind_of(view: &RootView, path: &str) -> Option<Kind> {
    let m = view.resolve(path)?;
    Some(view.meta(&m).kind)
}

/// Sealer's test: Chart.yaml, values.yaml and templates/.
fn is_chart(view: &RootView, dir: &str) -> bool {
    kind_of(view, &format!("{dir}/Chart.yaml")).is_some()
        && kind_of(view, &format!("{dir}/values.yaml")).is_some()
        && kind_of(view, &format!("{dir}/templates")) == Some(Kind::Dir)
}

fn read_chart(view: &RootView, dir: &str, scan: &mut Scan) -> Chart {
    let meta_text = read_text(view, &format!("{dir}/Chart.yaml"), &mut scan.warnings);
    let meta: serde_yaml::Value = meta_text
        .as_deref()
        .and_then(|t| serde_yaml::from_str(t).ok())
        .unwrap_or_default();
    let field = |k: &str| {
        meta.get(k).and_then(|v| match v {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let dir_name = dir.rsplit('/').next().unwrap_or(dir).to_string();
    let mut chart = Chart {
        dir: dir.to_string(),
        name: field("name").unwrap_or(dir_name),
        app_version: field("appVersion"),
        version: field("version"),
        values_text: read_text(view, &format!("{dir}/values.yaml"), &mut scan.warnings)
            .unwrap_or_default(),
        templates: Vec::new(),
        subcharts: Vec::new(),
    };
    for file in files_under(view, &format!("{dir}/templates")) {
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            if let Some(text) = read_text(view, &file, &mut scan.warnings) {
                chart.templates.push((file, text));
            }
        }
    }
    let subs = format!("{dir}/charts");
    if let Some(m) = view.resolve(&subs) {
        for e in view.read_dir(&m) {
            let Ok(name) = std::str::from_utf8(e.name) else {
                continue;
            };
            let path = format!("{subs}/{name}");
            if e.meta.kind == Kind::Dir && kind_of(view, &format!("{path}/Chart.yaml")).is_some() {
                chart.subcharts.push(read_chart(view, &path, scan));
            } else if name.ends_with(".tgz") {
                scan.warnings.push(format!(
                    "chart {dir}: packaged subchart {name} is not scanned; unpack it or list its images in manifests/imageList"
                ));
            }
        }
    }
    chart
}

/// Every regular file (or symlink) below `root`, depth first, sorted.
fn files_under(view: &RootView, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    walk(view, root, &mut |_| true, &mut out);
    out
}

/// Walks the directories below `root` depth first in name order (to
/// [`MAX_DEPTH`]), entering those `enter` accepts, and collects the paths
/// of regular files and symlinks into `files`.
fn walk(view: &RootView, root: &str, enter: &mut dyn FnMut(&str) -> bool, files: &mut Vec<String>) {
    let mut stack = vec![(root.to_string(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        if !enter(&dir) {
            continue;
        }
        let Some(m) = view.resolve(&dir) else {
            continue;
        };
        let mut subdirs = Vec::new();
        for e in view.read_dir(&m) {
            let Ok(name) = std::str::from_utf8(e.name) else {
                continue;
            };
            let path = format!("{dir}/{name}");
            match e.meta.kind {
                Kind::Dir if depth < MAX_DEPTH => subdirs.push((path, depth + 1)),
                Kind::File | Kind::Symlink => files.push(path),
                _ => {}
            }
        }
        // Depth first in name order: pushed in reverse.
        stack.extend(subdirs.into_iter().rev());
    }
}

/// A text file's content; a missing file is `None`, an unreadable,
/// oversized or binary one a warning and `None`.
fn read_text(view: &RootView, path: &str, warnings: &mut Vec<String>) -> Option<String> {
    let m = view.resolve(path)?;
    let meta = view.meta(&m);
    if meta.kind == Kind::File && meta.size > MAX_SCANNED {
        warnings.push(format!(
            "{path}: larger than {} MiB, not scanned for images",
            MAX_SCANNED >> 20
        ));
        return None;
    }
    match view.read_file(path) {
        Ok(Some(bytes)) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                warnings.push(format!("{path}: not UTF-8 text, not scanned for images"));
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            warnings.push(format!("{path}: not scanned for images: {e}"));
            None
        }
    }
}
