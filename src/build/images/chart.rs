//! The container images of a Helm chart, as the cluster will pull them: the
//! chart (with its subcharts, directories or `.tgz`) is loaded and rendered
//! as `helm install` renders it ([`crate::helm`]: Helm 3.9's engine, the
//! image's KUBEVERSION as `.Capabilities.KubeVersion`, the site's values
//! from `--chart-values` over the chart's), and the images are
//!
//! 1. every string `image:` field of every rendered manifest, test hooks
//!    excepted ([`manifest`]), named by template, line, resource and field;
//! 2. images the values declare whose full reference the rendered output
//!    contains elsewhere (args, env, ConfigMaps) ([`declared`]).
//!
//! A chart Helm cannot render fails with Helm's message, naming the chart,
//! template and line. Rendering runs on a thread of its own with a large
//! stack, so a deeply recursive chart stops at the engine's limits.

mod declared;
mod manifest;

use super::refs::{Found, Source};
use crate::error::{invalid, Result};
use crate::helm;

/// Release name and namespace charts are rendered with (`helm template`'s).
const RELEASE: &str = "release-name";
const NAMESPACE: &str = "default";
/// Stack of the rendering thread: deep `include` recursion stops at the
/// engine's depth limit, long before this.
const STACK: usize = 512 << 20;

/// What a chart is rendered with.
#[derive(Clone, Debug, Default)]
pub struct RenderWith {
    /// `.Capabilities.KubeVersion` (the image's KUBEVERSION), else Helm's default.
    pub kube_version: Option<String>,
    /// Values files given for this chart, in order: (shown name, text).
    pub values: Vec<(String, String)>,
}

/// A chart's files as read from the rootfs: paths relative to its directory.
pub struct ChartFiles {
    /// Its directory in the rootfs (`charts/cert-manager`).
    pub dir: String,
    /// Every file under it.
    pub files: Vec<(String, Vec<u8>)>,
}

/// The image references of a chart, rendered as Helm renders it.
pub fn chart_images(chart: ChartFiles, app: Option<&str>, with: &RenderWith) -> Result<Vec<Found>> {
    let dir = chart.dir.clone();
    let with = with.clone();
    let app = app.map(String::from);
    let worker = std::thread::Builder::new()
        .name("helm-render".into())
        .stack_size(STACK)
        .spawn(move || images_of(chart, app.as_deref(), &with))
        .map_err(|e| invalid(format!("chart {dir}: cannot start rendering: {e}")))?;
    worker
        .join()
        .map_err(|_| invalid(format!("chart {dir}: rendering failed unexpectedly")))?
        .map_err(|why| invalid(format!("chart {dir}: {why}")))
}

fn images_of(
    chart: ChartFiles,
    app: Option<&str>,
    with: &RenderWith,
) -> Result<Vec<Found>, String> {
    let dir = chart.dir;
    let loaded = helm::load_files(&dir, chart.files).map_err(|e| {
        // The caller names the chart; the loader does too.
        let msg = e.to_string();
        let ours = format!("chart {dir:?}: ");
        msg.strip_prefix(&ours).map_or(msg.clone(), String::from)
    })?;
    let mut user_values = Vec::new();
    for (name, text) in &with.values {
        user_values.push(helm::parse_values(text).map_err(|e| format!("values file {name}: {e}"))?);
    }
    let opts = helm::RenderOptions {
        release_name: RELEASE.into(),
        namespace: NAMESPACE.into(),
        kube_version: with.kube_version.clone(),
        user_values,
        revision: 1,
    };
    let release = helm::render(&loaded, &opts).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut all_text = String::new();
    for r in &release.manifests {
        let file = rootfs_path(&dir, &r.template);
        let fields = manifest::image_fields(&r.text).map_err(|e| format!("{}: {e}", r.template))?;
        for f in fields {
            let mut source = Source::line(&file, f.line);
            source.detail = Some(format!("{} {}", f.resource, f.field).trim().to_string());
            source.app = app.map(String::from);
            source.chart = Some(dir.clone());
            source.resource = (!f.resource.is_empty()).then_some(f.resource);
            source.field = Some(f.field);
            out.push(Found {
                text: f.text,
                source,
            });
        }
        for (_, doc) in manifest::documents(&r.text) {
            let installed = serde_yaml::from_str::<serde_yaml::Value>(&doc)
                .map(|d| !manifest::is_test_hook(&d))
                .unwrap_or(true);
            if installed {
                all_text.push_str(&doc);
                all_text.push('\n');
            }
        }
    }
    let values = declared::to_yaml_value(&release.values);
    let app_version =
        (!loaded.metadata.app_version.is_empty()).then_some(loaded.metadata.app_version.as_str());
    let ctx = declared::Ctx {
        app_version,
        values: &values,
    };
    for (text, path) in declared::declared_images(&ctx, &all_text) {
        if out.iter().any(|f| f.text == text) {
            continue;
        }
        let mut source = Source::line(&format!("{dir}/values.yaml"), 0);
        source.detail = Some(format!("values: {path}, in the rendered manifests"));
        source.app = app.map(String::from);
        source.chart = Some(dir.clone());
        out.push(Found { text, source });
    }
    Ok(out)
}

/// The rootfs path of a rendered template: Helm names it `CHART/templates/x`
/// (`CHART/charts/SUB/templates/x` for a subchart); the chart is at `dir`.
fn rootfs_path(dir: &str, template: &str) -> String {
    match template.split_once('/') {
        Some((_, rest)) => format!("{dir}/{rest}"),
        None => format!("{dir}/{template}"),
    }
}

#[cfg(test)]
mod tests;
