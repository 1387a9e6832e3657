//! `sealer check`: will a ClusterImage install offline? Read through the
//! layer view (nothing unpacked), it lists
//!
//! - every container image the rootfs refers to that `registry/` lacks: the
//!   build's own scan (`build::images::wanted_images`: imageList,
//!   manifests, rendered charts, applications) and, for a kube-installer
//!   image with a KUBEVERSION, the images kubeadm of that version pulls
//!   ([`kubeadm`]), compared by repository path as the cache stores them;
//! - every blob of `registry/` that does not hash to its digest;
//! - every manifest (each tag's, and the image its index names for the
//!   image's platform; every platform's with `all_platforms`) whose blobs
//!   or links are missing.
//!
//! ```text
//! rootfs scan + kubeadm images -> Wanted (path, tag|digest)
//!   -> tag/revision link -> manifest -> index: platform's manifest -> config, layers
//! every tag of registry/ -> same walk          every blob -> SHA-256
//! ```

pub mod kubeadm;
pub mod storage;

use std::collections::BTreeSet;

use crate::build::apps::{LABEL_KUBE_VERSION, LABEL_KUBE_VERSION_OLD};
use crate::build::images::layout::blob_path;
use crate::build::images::{collect, wanted_images, CacheOptions, Found, Source, Wanted};
use crate::digest::Digest;
use crate::error::Result;
use crate::image::extension::{self, ImageExtension};
use crate::image::oci::{Descriptor, Manifest};
use crate::image::platform::{self, PlatformSpec, Want};
use crate::image::view::RootView;
use crate::image::Image;
use crate::registry::manifest::{self as mf, Fetched};
use storage::{Link, Storage};

/// How to check.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// `--chart-values` (the rest of the build's options are unused).
    pub cache: CacheOptions,
    /// The platform the container images must be cached for (the image's).
    pub platform: Option<PlatformSpec>,
    /// Every platform an index of `registry/` names must be cached too.
    pub all_platforms: bool,
}

/// An image the rootfs refers to that `registry/` cannot serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The reference, normalised (`docker.io/library/nginx:1.25`).
    pub image: String,
    /// What `registry/` would serve it as (`library/nginx:1.25`).
    pub cached_as: String,
    /// Every place that asks for it, first first.
    pub from: Vec<String>,
    /// Why, when more than "not there" (no manifest for the platform).
    pub why: Option<String>,
}

/// A blob whose content is not its digest's, or a manifest that is not one.
pub type Corrupt = storage::BadBlob;

/// A manifest one of whose blobs (or links) is missing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Incomplete {
    /// The manifest (or index).
    pub manifest: Digest,
    /// The tag (or digest) naming it: `library/nginx:1.25`.
    pub of: String,
    /// The blob missing.
    pub missing: Digest,
    /// More (`platform linux/arm64`, `no _layers link in library/nginx`).
    pub detail: Option<String>,
}

/// What `sealer check` found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Images asked for and not served.
    pub missing: Vec<Missing>,
    /// Blobs that do not hash to their digest.
    pub corrupt: Vec<Corrupt>,
    /// Manifests with missing blobs.
    pub incomplete: Vec<Incomplete>,
    /// Images the rootfs refers to (all checked).
    pub images: usize,
    /// Blobs hashed.
    pub blobs: usize,
}

impl Report {
    /// Nothing is missing, corrupt or incomplete.
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty() && self.incomplete.is_empty()
    }
}

/// The image's KUBEVERSION label, if any.
pub fn kube_version(img: &Image) -> Option<&str> {
    let labels = &img.config.config.labels;
    labels
        .get(LABEL_KUBE_VERSION)
        .or_else(|| labels.get(LABEL_KUBE_VERSION_OLD))
        .map(String::as_str)
}

/// Whether `img` installs a cluster: its extension says so, or it has none
/// (images of sealer before v0.11 are all cluster images).
pub fn is_kube_installer(img: &Image) -> bool {
    img.manifest
        .annotations
        .get(extension::ANNOTATION)
        .and_then(|a| ImageExtension::from_annotation(a))
        .is_none_or(|e| e.kind.is_empty() || e.kind == extension::KUBE_INSTALLER)
}

/// Checks the image `img` whose rootfs is `view` (see the module docs).
pub fn check(view: &RootView, img: &Image, opts: &CheckOptions) -> Result<Report> {
    let kube = kube_version(img);
    let mut wanted = wanted_images(view, &opts.cache, kube)?;
    if let Some(k) = kube.filter(|_| is_kube_installer(img)) {
        let found = kubeadm_found(view, k)?;
        merge(&mut wanted, collect(found, &[])?);
    }
    let platform = opts.platform.clone().unwrap_or_else(|| img.platform());
    let mut c = Checker {
        st: Storage::new(view),
        platform,
        all_platforms: opts.all_platforms,
        report: Report {
            images: wanted.len(),
            ..Report::default()
        },
        walked: BTreeSet::new(),
        incomplete: BTreeSet::new(),
    };
    for w in &wanted {
        c.wanted(w)?;
    }
    for (name, digest) in crate::image::diff::tags::tags(view)? {
        let Some((repo, _)) = name.rsplit_once(':') else {
            continue;
        };
        if let Ok(d) = digest.parse::<Digest>() {
            c.tree(repo, &d, &name)?;
        }
    }
    let (blobs, corrupt) = c.st.hash_blobs()?;
    let mut report = c.report;
    report.blobs = blobs;
    report.corrupt.extend(corrupt);
    report.incomplete = c.incomplete.into_iter().collect();
    Ok(report)
}

/// Adds `more` to `wanted`, merging the sources of one name.
fn merge(wanted: &mut Vec<Wanted>, more: Vec<Wanted>) {
    for m in more {
        match wanted.iter_mut().find(|w| w.name == m.name) {
            Some(w) => w.sources.extend(m.sources),
            None => wanted.push(m),
        }
    }
}

/// The kubeadm configs looked at: these first, then any other
/// `etc/*kubeadm*` YAML file, by name.
const KUBEADM_CONFIGS: [&str; 2] = ["etc/kubeadm.yml", "etc/kubeadm.yaml"];

/// The images kubeadm of `version` pulls, as references found in the
/// rootfs's kubeadm config (or the KUBEVERSION when it has none).
fn kubeadm_found(view: &RootView, version: &str) -> Result<Vec<Found>> {
    let Some(v) = kubeadm::KubeVersion::parse(version) else {
        log::warn!(
            "KUBEVERSION {version} is not a Kubernetes version; kubeadm's images are not checked"
        );
        return Ok(Vec::new());
    };
    if !kubeadm::known(&v) {
        log::warn!(
            "kubeadm {} is newer than sealer's table of kubeadm images; assuming the newest known versions of pause, etcd and coredns",
            v.tag
        );
    }
    let (file, cfg) = kubeadm_config(view)?;
    let Some(images) = kubeadm::images(&v, &cfg) else {
        log::warn!(
            "kubeadm {} is older than sealer's table of kubeadm images (1.16); its images are not checked",
            v.tag
        );
        return Ok(Vec::new());
    };
    Ok(images
        .into_iter()
        .map(|i| Found {
            text: i.reference,
            source: Source {
                detail: Some(format!("kubeadm {} {}", v.tag, i.component)),
                ..Source::line(file.as_deref().unwrap_or("KUBEVERSION"), 0)
            },
        })
        .collect())
}

/// The first `ClusterConfiguration` of the rootfs's kubeadm configs, and
/// the file it is in; the default config when there is none.
fn kubeadm_config(view: &RootView) -> Result<(Option<String>, kubeadm::ClusterConfig)> {
    let mut files: Vec<String> = KUBEADM_CONFIGS.iter().map(|f| f.to_string()).collect();
    if let Some(etc) = view.resolve("etc") {
        let mut more: Vec<String> = view
            .read_dir(&etc)
            .into_iter()
            .filter(|e| e.meta.kind == sealer_fs::Kind::File)
            .map(|e| String::from_utf8_lossy(e.name).into_owned())
            .filter(|n| n.contains("kubeadm") && (n.ends_with(".yml") || n.ends_with(".yaml")))
            .map(|n| format!("etc/{n}"))
            .filter(|f| !files.contains(f))
            .collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Some(bytes) = view.read_file(&file)? else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        match kubeadm::cluster_config(&text) {
            Ok(Some(cfg)) => return Ok((Some(file), cfg)),
            Ok(None) => {}
            Err(e) => log::warn!("{file} is not YAML ({e}); not read as a kubeadm config"),
        }
    }
    Ok((None, kubeadm::ClusterConfig::default()))
}

struct Checker<'v> {
    st: Storage<'v>,
    platform: PlatformSpec,
    all_platforms: bool,
    report: Report,
    /// (repo, manifest) pairs walked already.
    walked: BTreeSet<(String, Digest)>,
    incomplete: BTreeSet<Incomplete>,
}

impl Checker<'_> {
    /// Whether `registry/` serves `w`; walks what it serves.
    fn wanted(&mut self, w: &Wanted) -> Result<()> {
        let missing = |why: Option<String>, cached_as: String| Missing {
            image: w.name.clone(),
            cached_as,
            from: w.sources.iter().map(ToString::to_string).collect(),
            why,
        };
        let (link, cached_as) = match (&w.digest, &w.tag) {
            (Some(d), _) => {
                let cached_as = format!("{}@{d}", w.path);
                match d.parse::<Digest>() {
                    Ok(d) => (self.st.revision(&w.path, &d)?, cached_as),
                    Err(_) => (Link::Garbage(d.clone()), cached_as),
                }
            }
            (None, tag) => {
                let tag = tag.as_deref().unwrap_or("latest");
                (self.st.tag(&w.path, tag)?, format!("{}:{tag}", w.path))
            }
        };
        let top = match link {
            Link::To(d) => d,
            Link::Absent => {
                self.report.missing.push(missing(None, cached_as));
                return Ok(());
            }
            Link::Garbage(text) => {
                let why = format!("its link holds {text:?}, not a digest");
                self.report.missing.push(missing(Some(why), cached_as));
                return Ok(());
            }
        };
        if let Some(why) = self.tree(&w.path, &top, &cached_as)? {
            self.report.missing.push(missing(Some(why), cached_as));
        }
        Ok(())
    }

    /// Walks the manifest `top` of `repo` (named `of`), noting what is
    /// incomplete; returns why the image's platform has no manifest, if so.
    fn tree(&mut self, repo: &str, top: &Digest, of: &str) -> Result<Option<String>> {
        let Some(m) = self.manifest(repo, top, of, None)? else {
            return Ok(None);
        };
        let index = match m {
            Fetched::Image(m) => {
                self.image_blobs(repo, top, &m, of, None)?;
                return Ok(None);
            }
            Fetched::Index(index) => index,
        };
        let chosen = platform::select(&index, &Want::Exactly(self.platform.clone())).ok();
        for d in &index.manifests {
            let is_chosen = chosen.as_ref().is_some_and(|c| c.digest == d.digest);
            let shown = d.platform.as_ref().map(PlatformSpec::of);
            let other_platform = shown.as_ref().is_some_and(|p| p.os != "unknown");
            if !(is_chosen || self.all_platforms && other_platform) {
                continue;
            }
            let detail = match (&shown, is_chosen) {
                (Some(p), false) => Some(format!("platform {p}")),
                _ => None,
            };
            self.child(repo, top, d, of, detail)?;
        }
        Ok(chosen.is_none().then(|| {
            format!(
                "its index has no manifest for {} (offered: {})",
                self.platform,
                platform::offered(&index)
            )
        }))
    }

    /// A platform's manifest inside the index `index`.
    fn child(
        &mut self,
        repo: &str,
        index: &Digest,
        d: &Descriptor,
        of: &str,
        detail: Option<String>,
    ) -> Result<()> {
        if !self.st.has_blob(&d.digest) {
            self.incomplete.insert(Incomplete {
                manifest: *index,
                of: of.to_string(),
                missing: d.digest,
                detail: Some(match &detail {
                    Some(p) => format!("not cached ({p})"),
                    None => format!("the manifest for {}", self.platform),
                }),
            });
            return Ok(());
        }
        match self.manifest(repo, &d.digest, of, detail.as_deref())? {
            Some(Fetched::Image(m)) => self.image_blobs(repo, &d.digest, &m, of, detail),
            Some(Fetched::Index(_)) => {
                self.report.corrupt.push(Corrupt {
                    digest: d.digest.to_string(),
                    path: blob_path(&d.digest),
                    why: "an index inside an index".into(),
                });
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The manifest `d` of `repo`, once per (repo, digest): its revision
    /// link and blob must be there and parse.
    fn manifest(
        &mut self,
        repo: &str,
        d: &Digest,
        of: &str,
        detail: Option<&str>,
    ) -> Result<Option<Fetched>> {
        if !self.walked.insert((repo.to_string(), *d)) {
            return Ok(None);
        }
        let note = |what: String| Incomplete {
            manifest: *d,
            of: of.to_string(),
            missing: *d,
            detail: Some(match detail {
                Some(p) => format!("{what}; {p}"),
                None => what,
            }),
        };
        if self.st.revision(repo, d)? != Link::To(*d) {
            let i = note(format!("no _manifests/revisions link in {repo}"));
            self.incomplete.insert(i);
        }
        let Some(bytes) = self.st.manifest(d)? else {
            let i = note("the manifest's own blob".into());
            self.incomplete.insert(i);
            return Ok(None);
        };
        match mf::parse(&bytes, None) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                self.report.corrupt.push(Corrupt {
                    digest: d.to_string(),
                    path: blob_path(d),
                    why: format!("not a manifest {repo} can serve: {e}"),
                });
                Ok(None)
            }
        }
    }

    /// The config and layers of an image manifest.
    fn image_blobs(
        &mut self,
        repo: &str,
        manifest: &Digest,
        m: &Manifest,
        of: &str,
        detail: Option<String>,
    ) -> Result<()> {
        for b in std::iter::once(&m.config).chain(&m.layers) {
            let why = if !self.st.has_blob(&b.digest) {
                Some(detail.clone())
            } else if self.st.layer_link(repo, &b.digest)? != Link::To(b.digest) {
                Some(Some(match &detail {
                    Some(p) => format!("no _layers link in {repo}; {p}"),
                    None => format!("no _layers link in {repo}"),
                }))
            } else {
                None
            };
            if let Some(detail) = why {
                self.incomplete.insert(Incomplete {
                    manifest: *manifest,
                    of: of.to_string(),
                    missing: b.digest,
                    detail,
                });
            }
        }
        Ok(())
    }
}
