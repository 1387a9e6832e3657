//! `sealer build`'s image cache: after the Kubefile's steps, every container
//! image the rootfs names (manifests/, charts/, application/apps/, imageList,
//! `--image-list`) is fetched from its registry and written into `registry/`
//! as one more layer (history `BASE container images`), so the ClusterImage
//! installs a cluster offline.
//!
//! ```text
//! walk (rootfs -> Found) -> refs::collect (normalise, dedupe, ignore)
//!   -> resolve (manifests, platform) -> layout::plan (what is new, from where)
//!   -> fetch::Pool (parallel downloads) -> layer tar -> store ingest
//! ```

mod chart;
mod fetch;
pub mod layout;
mod refs;
mod resolve;
mod walk;
mod yaml;

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use sha2::{Digest as _, Sha256};

pub use refs::{collect, Found, Source, Wanted};

use super::layer::stream_layer;
use super::State;
use crate::digest::Digest;
use crate::error::{invalid, Error, JsonContext, Result};
use crate::human::bytes as human_bytes;
use crate::image::oci::Platform;
use crate::image::platform::PlatformSpec;
use crate::image::spec::{ContainerImage, ANNOTATION_CONTAINER_IMAGES};
use crate::image::view::RootView;

/// History of the image cache layer.
pub const CREATED_BY: &str = "BASE container images";
/// Blobs fetched at once.
const WORKERS: usize = 4;
/// Largest image list file read.
const MAX_LIST: u64 = 16 << 20;

/// How `sealer build` caches container images.
#[derive(Clone, Debug, Default)]
pub struct CacheOptions {
    /// Skip the image cache (`--build-mode lite`).
    pub lite: bool,
    /// `--image-list FILE`: more references.
    pub image_lists: Vec<PathBuf>,
    /// `--ignored-image-list FILE`: references not to cache.
    pub ignored_lists: Vec<PathBuf>,
    /// Allow plain HTTP and unverified TLS for every registry.
    pub insecure: bool,
    /// The platform to cache (default: this machine's).
    pub platform: Option<PlatformSpec>,
    /// `--chart-values CHART=FILE`: values a chart installs with, over its own.
    pub chart_values: Vec<(String, PathBuf)>,
}

/// The settings charts render with: the values files read (errors name
/// them) and the image's KUBEVERSION.
fn chart_settings(opts: &CacheOptions, kube_version: Option<&str>) -> Result<walk::ChartSettings> {
    let mut values = Vec::new();
    for (chart, path) in &opts.chart_values {
        let shown = path.display().to_string();
        let bad = |why: String| Error::Input {
            path: path.clone(),
            why,
        };
        let bytes =
            std::fs::read(path).map_err(|e| bad(format!("--chart-values {chart}={shown}: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| bad(format!("--chart-values {chart}={shown}: not UTF-8 text")))?;
        values.push((chart.clone(), shown, text));
    }
    Ok(walk::ChartSettings {
        kube_version: kube_version.map(String::from),
        values,
    })
}

fn read_list(path: &PathBuf) -> Result<Vec<refs::Found>> {
    use std::io::Read as _;
    let shown = path.display().to_string();
    let bad = |why: String| Error::Input {
        path: path.clone(),
        why,
    };
    let f = std::fs::File::open(path).map_err(|e| bad(format!("image list {shown}: {e}")))?;
    let mut bytes = Vec::new();
    f.take(MAX_LIST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("image list {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_LIST {
        return Err(bad(format!("image list {shown} is larger than 16 MiB")));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| bad(format!("image list {shown} is not UTF-8 text")))?;
    Ok(refs::parse_list(&text, &shown))
}

/// Every image the rootfs and the lists ask for, normalised, in order of
/// first appearance, without the ignored ones; warnings go to stderr.
pub fn wanted_images(
    view: &RootView,
    opts: &CacheOptions,
    kube_version: Option<&str>,
) -> Result<Vec<Wanted>> {
    let charts = chart_settings(opts, kube_version)?;
    let scan = walk::scan_rootfs(view, &charts)?;
    for w in &scan.warnings {
        log::warn!("{w}");
    }
    let mut found = scan.found;
    for list in &opts.image_lists {
        found.extend(read_list(list)?);
    }
    let mut ignored = Vec::new();
    for list in &opts.ignored_lists {
        ignored.extend(read_list(list)?);
    }
    refs::collect(found, &ignored)
}

impl State<'_> {
    /// The image's KUBEVERSION, if it has one.
    pub(super) fn kube_version(&self) -> Option<&str> {
        let labels = &self.config.config.labels;
        labels
            .get(super::apps::LABEL_KUBE_VERSION)
            .or_else(|| labels.get(super::apps::LABEL_KUBE_VERSION_OLD))
            .map(String::as_str)
    }

    /// The rootfs built so far, read without mounting.
    pub(super) fn view(&self) -> Result<RootView> {
        let digests: Vec<Digest> = self.layers.iter().map(|(d, _, _)| *d).collect();
        RootView::of_layers(self.store, &digests)
    }

    /// Fetches the images the rootfs names into one `registry/` layer.
    pub(super) fn cache_images(&mut self) -> Result<()> {
        let opts = &self.opts.images;
        let view = self.view()?;
        let wanted = wanted_images(&view, opts, self.kube_version())?;
        if wanted.is_empty() {
            log::info!("CACHE container images: none named in the rootfs");
            return Ok(());
        }
        // The image's platform (FROM's base, or FROM --platform), else this
        // machine's.
        let platform = opts
            .platform
            .clone()
            .unwrap_or_else(|| PlatformSpec::of_config(&self.config));
        log::info!("CACHE {} container images for {platform}", wanted.len());
        let resolved = resolve::resolve_all(&wanted, &platform, opts.insecure)?;
        let mut key = Sha256::new();
        key.update(self.chain.0);
        key.update(CREATED_BY.as_bytes());
        key.update(platform.to_string().as_bytes());
        let mut list = Vec::new();
        for r in &resolved {
            log::info!(" ---> {} {}", r.wanted.name, r.top.digest);
            for part in [
                &r.wanted.name,
                &r.wanted.path,
                &r.top.digest.to_string(),
                &r.image.digest.to_string(),
            ] {
                key.update(part.as_bytes());
                key.update([0]);
            }
            list.push(ContainerImage {
                image: r.wanted.name.clone(),
                app_name: r.wanted.app().unwrap_or_default().to_string(),
                platform: Some(r.platform.clone().unwrap_or_else(|| Platform {
                    architecture: platform.arch.clone(),
                    os: platform.os.clone(),
                    variant: platform.variant.clone(),
                })),
            });
        }
        let key = Digest(key.finalize().into());
        let progress = self.opts.progress;
        self.cached_layer(key, CREATED_BY.to_string(), |st| {
            write_cache(st, &resolved, &view, progress).map(Some)
        })?;
        let json = serde_json::to_string(&list).json("the container image list")?;
        self.annotations
            .insert(ANNOTATION_CONTAINER_IMAGES.to_string(), json);
        Ok(())
    }
}

/// Plans the layer, then streams it into the store while the pool fetches.
fn write_cache(
    st: &State,
    resolved: &[resolve::Resolved],
    view: &RootView,
    progress: bool,
) -> Result<crate::store::Ingested> {
    let plan = layout::plan(resolved, view, st.store)?;
    let jobs = plan.pool.jobs().len();
    log::info!(
        " ---> {} blobs to write: {} to download, {} from the store; {} already in lower layers",
        jobs,
        human_bytes(plan.to_download),
        human_bytes(plan.to_copy),
        plan.in_lower
    );
    let pool = &plan.pool;
    let written = std::thread::scope(|s| {
        for _ in 0..WORKERS.min(jobs) {
            s.spawn(|| pool.work());
        }
        let r = stream_layer(st.store, &plan.items, progress);
        pool.close();
        r
    });
    if let Some(e) = pool.take_error() {
        if let Ok(i) = &written {
            if !i.existed {
                let _ = st
                    .store
                    .lock()
                    .and_then(|l| st.store.remove_unreferenced(&[i.digest], &l));
            }
        }
        return Err(e);
    }
    let ingested = written.map_err(|e| match e {
        Error::Invalid(why) => invalid(format!("writing the image cache layer: {why}")),
        other => other,
    })?;
    log::info!(
        " ---> downloaded {}, copied {} from the store",
        human_bytes(pool.downloaded.load(Ordering::Relaxed)),
        human_bytes(pool.copied.load(Ordering::Relaxed))
    );
    Ok(ingested)
}
