//! Finds the image references of a rootfs being built (the base image's
//! layers included), read through the merged view without unpacking:
//!
//! ```text
//! manifests/imageList              one reference a line
//! manifests/**.{yaml,yml,tmpl}     keys ending in `image` (yaml.rs)
//! charts/**/<chart>/               Chart.yaml + values.yaml + templates/: rendered (chart.rs)
//! application/apps/<app>/**        charts as above, other yaml/yml/tmpl as manifests
//! ```

use sealer_fs::Kind;

use super::chart::{chart_images, ChartFiles, RenderWith};
use super::refs::{parse_list, Found};
use super::yaml::manifest_images;
use crate::error::{invalid, Result};
use crate::image::view::RootView;

/// Files larger than this are not scanned (said in a warning).
const MAX_SCANNED: u64 = 64 << 20;
/// Directory depth walked below a scanned root.
const MAX_DEPTH: usize = 32;
/// Largest chart (all its files) rendered.
const MAX_CHART: u64 = 256 << 20;

/// How charts are rendered: the image's KUBEVERSION and the site's values.
#[derive(Clone, Debug, Default)]
pub struct ChartSettings {
    /// `.Capabilities.KubeVersion`.
    pub kube_version: Option<String>,
    /// `--chart-values CHART=FILE`: (CHART, shown file name, text), in order.
    pub values: Vec<(String, String, String)>,
}

/// What a scan found.
#[derive(Default)]
pub struct Scan {
    /// References with where they came from, in scan order.
    pub found: Vec<Found>,
    /// Things the user should know (unreadable charts, skipped files).
    pub warnings: Vec<String>,
}

/// Scans the rootfs for image references; a chart Helm cannot render, or
/// `--chart-values` for a chart the rootfs lacks, is an error.
pub fn scan_rootfs(view: &RootView, charts: &ChartSettings) -> Result<Scan> {
    let mut scan = Scan::default();
    let mut used = vec![false; charts.values.len()];
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
    scan_tree(view, "charts", None, false, charts, &mut used, &mut scan)?;
    if let Some(apps) = view.resolve("application/apps") {
        for e in view.read_dir(&apps) {
            if e.meta.kind != Kind::Dir {
                continue;
            }
            let Ok(name) = std::str::from_utf8(e.name) else {
                continue;
            };
            let dir = format!("application/apps/{name}");
            scan_tree(view, &dir, Some(name), true, charts, &mut used, &mut scan)?;
        }
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let (chart, file, _) = &charts.values[i];
        return Err(invalid(format!(
            "--chart-values {chart}={file}: the rootfs has no chart {chart:?} (a chart's name or its directory, e.g. charts/{chart})"
        )));
    }
    Ok(scan)
}

/// Charts under `root`; with `manifests`, other YAML files count too.
fn scan_tree(
    view: &RootView,
    root: &str,
    app: Option<&str>,
    manifests: bool,
    charts: &ChartSettings,
    used: &mut [bool],
    scan: &mut Scan,
) -> Result<()> {
    let mut files = Vec::new();
    let mut failed = None;
    walk(
        view,
        root,
        &mut |dir| {
            if failed.is_some() || !is_chart(view, dir) {
                return failed.is_none();
            }
            let r = read_chart(view, dir).and_then(|(chart, name)| {
                let with = render_with(dir, &name, charts, used);
                chart_images(chart, app, &with)
            });
            match r {
                Ok(found) => scan.found.extend(found),
                Err(e) => failed = Some(e),
            }
            false
        },
        &mut files,
    );
    if let Some(e) = failed {
        return Err(e);
    }
    for path in files {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if manifests && has_manifest_ext(name) {
            if let Some(text) = read_text(view, &path, &mut scan.warnings) {
                scan.found.extend(manifest_images(&text, &path, app));
            }
        }
    }
    Ok(())
}

/// The values and kube version the chart at `dir` (named `name`) renders with.
fn render_with(dir: &str, name: &str, charts: &ChartSettings, used: &mut [bool]) -> RenderWith {
    let mut with = RenderWith {
        kube_version: charts.kube_version.clone(),
        values: Vec::new(),
    };
    for (i, (chart, file, text)) in charts.values.iter().enumerate() {
        if chart == name || chart.trim_end_matches('/') == dir {
            used[i] = true;
            with.values.push((file.clone(), text.clone()));
        }
    }
    with
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

/// A chart Helm would install: Chart.yaml with templates/ or charts/
/// (sealer asks for values.yaml too, but Helm does not, and a chart without
/// one still runs images).
fn is_chart(view: &RootView, dir: &str) -> bool {
    kind_of(view, &format!("{dir}/Chart.yaml")).is_some()
        && (kind_of(view, &format!("{dir}/templates")) == Some(Kind::Dir)
            || kind_of(view, &format!("{dir}/charts")) == Some(Kind::Dir))
}

/// Every file of the chart at `dir` (paths relative to it) and its name.
fn read_chart(view: &RootView, dir: &str) -> Result<(ChartFiles, String)> {
    let mut files = Vec::new();
    let mut total = 0;
    for path in files_under(view, dir) {
        let Some(m) = view.resolve(&path) else {
            continue;
        };
        total += view.meta(&m).size;
        if total > MAX_CHART {
            return Err(invalid(format!(
                "chart {dir}: larger than {} MiB, not rendered",
                MAX_CHART >> 20
            )));
        }
        if let Some(bytes) = view.read_file(&path)? {
            let rel = path[dir.len() + 1..].to_string();
            files.push((rel, bytes));
        }
    }
    let name = files
        .iter()
        .find(|(p, _)| p == "Chart.yaml")
        .and_then(|(_, b)| serde_yaml::from_slice::<serde_yaml::Value>(b).ok())
        .and_then(|m| m.get("name").and_then(|n| n.as_str().map(String::from)))
        .unwrap_or_else(|| dir.rsplit('/').next().unwrap_or(dir).to_string());
    let chart = ChartFiles {
        dir: dir.to_string(),
        files,
    };
    Ok((chart, name))
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
