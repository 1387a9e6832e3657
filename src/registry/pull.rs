//! `pull`: resolve a reference to one image manifest (choosing a platform
//! from an index; or every platform, stored as an index), fetch and verify its config, then stream each missing
//! layer through digest check -> decompression -> store ingest (which hashes
//! and indexes the uncompressed tar and checks it against the diff_id), a
//! few layers at a time. Only when every layer is in the store is the image
//! tagged: a failed pull tags nothing, and the complete, verified layers it
//! stored make the next attempt skip them.
//!
//! A sealer v0.8 image's config (sealer's `v1.Image`, no diff_ids) is
//! checked against the manifest before any layer is fetched, and stored
//! with the diff_ids the pull computed (`image::sealer_v08`). The source
//! manifest's annotations (sealer v0.11's extension and container image
//! list) are kept on the stored manifest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::Repo;
use super::{download, manifest};
use crate::compress::Compression;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::oci::{Config, Descriptor, Manifest};
use crate::image::platform::{self, PlatformSpec, Want as Platforms};
use crate::image::{sealer_v08, Image, Reference};
use crate::progress::Progress;
use crate::store::Store;

/// Annotation of our manifest: the registry manifest it was pulled from.
pub const SOURCE_DIGEST: &str = "io.sealer.source.digest";
/// Annotation of our manifest: the reference it was pulled by.
pub const SOURCE_NAME: &str = "io.sealer.source.name";

/// The largest image config we accept.
pub(super) const MAX_CONFIG: u64 = 16 << 20;

/// A check of the fetched manifest (digest, bytes) before anything is stored.
pub type ManifestGate<'a> = dyn Fn(&Repo, &Digest, &[u8]) -> Result<()> + Sync + 'a;

/// How to pull.
pub struct PullOptions<'a> {
    /// The platform to choose from an index (`Host`: this machine's, and a
    /// single-platform image of another platform is accepted).
    pub platform: Platforms,
    /// Every platform of an index, stored under the tag as an index.
    pub all_platforms: bool,
    /// Allow plain HTTP and unverified TLS.
    pub insecure: bool,
    /// Layers transferred at once.
    pub jobs: usize,
    /// Where progress goes.
    pub progress: &'a Progress,
    /// `pull --lazy`: layers with a member table are recorded as partly
    /// present, their bytes fetched on demand (see `crate::lazy`).
    pub lazy: bool,
    /// Judges the manifest (or index) the reference names before anything
    /// is stored (the signature policy): an error ends the pull.
    pub gate: Option<&'a ManifestGate<'a>>,
}

/// What a pull did.
pub struct Pulled {
    /// The images as stored, one per platform pulled.
    pub images: Vec<Image>,
    /// Digest of the registry's manifest (or index) the tag named.
    pub source_digest: Digest,
    /// Layers downloaded.
    pub downloaded: usize,
    /// Layers already in the store.
    pub skipped: usize,
    /// Referrers (SBOMs) brought along.
    pub referrers: usize,
}

/// Pulls `r` into the store and tags it with its full name: one image, or
/// with `all_platforms` an index of every platform the registry's index
/// lists. Nothing is tagged unless every image is complete.
pub fn pull(store: &Store, r: &Reference, opts: &PullOptions) -> Result<Pulled> {
    let repo = Repo::open(r, opts.insecure, false)?;
    let name = r.full_name();
    let named = |e: Error| repo.error(format!("manifest of {name}: {e}"));
    let (bytes, content_type, top_digest) = fetch_top(&repo, r)?;
    if let Some(gate) = opts.gate {
        gate(&repo, &top_digest, &bytes)?;
    }
    let chosen: Vec<(Manifest, Digest)> =
        match manifest::parse(&bytes, content_type.as_deref()).map_err(named)? {
            manifest::Fetched::Image(m) => vec![(m, top_digest)],
            manifest::Fetched::Index(index) => {
                let entries: Vec<Descriptor> = if opts.all_platforms {
                    index
                        .manifests
                        .iter()
                        .filter(|d| d.platform.as_ref().is_some_and(|p| p.os != "unknown"))
                        .cloned()
                        .collect()
                } else {
                    let d = platform::select(&index, &opts.platform).map_err(|_| {
                        Error::Platform(format!(
                            "{name} has no {} image (it has: {})",
                            opts.platform.platform(),
                            platform::offered(&index)
                        ))
                    })?;
                    vec![d]
                };
                if entries.is_empty() {
                    return Err(named(Error::Manifest("the index lists no platform".into())));
                }
                entries
                    .iter()
                    .map(|d| fetch_child(&repo, d).map_err(named))
                    .collect::<Result<_>>()?
            }
        };
    let mut out = Pulled {
        images: Vec::new(),
        source_digest: top_digest,
        downloaded: 0,
        skipped: 0,
        referrers: 0,
    };
    let mut sources = Vec::new();
    for (manifest, digest) in chosen {
        sources.push(digest);
        let (img, downloaded) = pull_image(store, &repo, r, manifest, digest, opts)?;
        out.downloaded += downloaded;
        out.skipped += img.manifest.layers.len() - downloaded;
        out.images.push(img);
    }
    let lock = store.lock()?;
    if opts.all_platforms && out.images.len() > 1 {
        store.commit_index(&name, &out.images, &lock)?;
    } else {
        store.tag_image(&name, &out.images[0], &lock)?;
    }
    drop(lock);
    for img in &mut out.images {
        img.name = Some(name.clone());
    }
    // SBOMs are the image's companions: one that cannot be had does not
    // undo the pull.
    for (img, source) in out.images.iter().zip(&sources) {
        match super::referrers::pull_stored(store, &repo, source, &img.manifest_digest) {
            Ok(n) => out.referrers += n,
            Err(e) => log::warn!("{name}: the referrers of {source} not brought along: {e}"),
        }
    }
    Ok(out)
}

/// Fetches one image's config and layers into the store (not tagged).
fn pull_image(
    store: &Store,
    repo: &Repo,
    r: &Reference,
    manifest: Manifest,
    source_digest: Digest,
    opts: &PullOptions,
) -> Result<(Image, usize)> {
    let config_digest = manifest.config.digest;
    let config_bytes = repo.get_small_blob(&config_digest, MAX_CONFIG)?;
    let not_config = |e: serde_json::Error| Error::Blob {
        digest: config_digest,
        why: format!("not an image config: {e}"),
    };
    let raw: serde_json::Value = serde_json::from_slice(&config_bytes).map_err(not_config)?;
    let source = if sealer_v08::is_v1_image(&raw) {
        let v1 = sealer_v08::parse(&config_bytes, manifest.layers.len(), &config_digest)?;
        Source::SealerV08(v1)
    } else {
        Source::Oci(serde_json::from_value(raw).map_err(not_config)?)
    };
    if let Platforms::Exactly(want) = &opts.platform {
        let (os, arch, variant) = source.platform();
        if !opts.all_platforms && !want.matches(&os, &arch, variant.as_deref()) {
            let got = PlatformSpec::of(&crate::image::oci::Platform {
                architecture: arch,
                os,
                variant,
            });
            return Err(Error::Platform(format!(
                "{} is for {got}, not {want}",
                r.full_name()
            )));
        }
    }
    check_layers(&manifest, &source)?;
    let wanted: Vec<Want> = match &source {
        Source::Oci(config) => config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Want::DiffId(*d))
            .collect(),
        Source::SealerV08(v1) => v1
            .real_layers()
            .iter()
            .map(|l| Want::Unknown {
                hint: l.id.parse().ok(),
            })
            .collect(),
    };
    let (layers, downloaded) = transfer(store, repo, &manifest, &wanted, opts)?;
    let stored_config = match &source {
        Source::Oci(_) => config_bytes,
        Source::SealerV08(v1) => {
            let diff_ids: Vec<Digest> = layers.iter().map(|l| l.0).collect();
            sealer_v08::to_oci_config(&config_bytes, v1, &diff_ids, &config_digest)?
        }
    };
    // The source's annotations (sealer v0.11's extension and container
    // image list among them) stay; ours say where the image came from.
    let mut annotations = manifest.annotations.clone();
    annotations.insert(SOURCE_DIGEST.to_string(), source_digest.to_string());
    annotations.insert(SOURCE_NAME.to_string(), r.full_name());
    let image = store.commit_image_raw(&stored_config, &layers, annotations, &[])?;
    Ok((image, downloaded))
}

/// The config as the registry serves it.
enum Source {
    /// An OCI or Docker image config, stored as it is.
    Oci(Config),
    /// sealer v0.8's `v1.Image`, stored with diff_ids added.
    SealerV08(sealer_v08::V1Image),
}

impl Source {
    /// (os, architecture, variant) the config says.
    fn platform(&self) -> (String, String, Option<String>) {
        match self {
            Source::Oci(c) => (c.os.clone(), c.architecture.clone(), c.variant.clone()),
            Source::SealerV08(v1) => v1.platform(),
        }
    }
}

/// What a layer must uncompress to.
#[derive(Clone, Copy)]
enum Want {
    /// The config's diff_id: checked while ingesting.
    DiffId(Digest),
    /// Not known before it is read (sealer v0.8); `hint` is sealer's layer
    /// id, which is the tar's digest when sealer pushed the tar it hashed:
    /// a blob of that digest in the store is that layer, and is not fetched.
    Unknown { hint: Option<Digest> },
}

/// The manifest (or index) the reference names, as served, and its digest.
pub(super) fn fetch_top(repo: &Repo, r: &Reference) -> Result<(Vec<u8>, Option<String>, Digest)> {
    let tag_or_digest = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let (bytes, content_type) = repo.get_manifest(&tag_or_digest)?;
    if let Some(d) = &r.digest {
        let d: Digest = d.parse().map_err(crate::error::invalid)?;
        manifest::verify(&bytes, &d, "the manifest's")?;
    }
    let digest = Digest::of(&bytes);
    Ok((bytes, content_type, digest))
}

/// One image manifest an index entry names, verified.
pub(super) fn fetch_child(repo: &Repo, desc: &Descriptor) -> Result<(Manifest, Digest)> {
    let (bytes, content_type) = repo.get_manifest(&desc.digest.to_string())?;
    manifest::verify(&bytes, &desc.digest, "the manifest's")?;
    match manifest::parse(&bytes, content_type.as_deref())? {
        manifest::Fetched::Image(m) => Ok((m, desc.digest)),
        manifest::Fetched::Index(_) => Err(Error::Manifest(
            "an index inside an index is not supported".into(),
        )),
    }
}

/// Refuses layer media types we cannot decompress and a config whose
/// diff_ids do not pair with the layers (a v0.8 config was checked when
/// parsed).
fn check_layers(m: &Manifest, source: &Source) -> Result<()> {
    for l in &m.layers {
        if Compression::from_media_type(&l.media_type).is_none() {
            return Err(Error::Blob {
                digest: l.digest,
                why: format!("unsupported layer media type {:?}", l.media_type),
            });
        }
    }
    let Source::Oci(config) = source else {
        return Ok(());
    };
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::Blob {
            digest: m.config.digest,
            why: format!(
                "the config lists {} diff_ids for {} layers",
                config.rootfs.diff_ids.len(),
                m.layers.len()
            ),
        });
    }
    Ok(())
}

/// Brings every layer into the store, `opts.jobs` at a time; returns the
/// uncompressed (digest, size) per layer and how many were downloaded.
fn transfer(
    store: &Store,
    repo: &Repo,
    m: &Manifest,
    wanted: &[Want],
    opts: &PullOptions,
) -> Result<(Vec<(Digest, u64)>, usize)> {
    let pairs: Vec<(&Descriptor, Want)> = m.layers.iter().zip(wanted.iter().copied()).collect();
    // The same layer twice in one image is fetched once: the same diff_id,
    // or where that is unknown, the same blob.
    let key = |(desc, want): &(&Descriptor, Want)| match want {
        Want::DiffId(d) => *d,
        Want::Unknown { .. } => desc.digest,
    };
    let mut unique: Vec<usize> = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        if !unique.iter().any(|&j| key(&pairs[j]) == key(pair)) {
            unique.push(i);
        }
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<BTreeMap<usize, Result<Fetched>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, unique.len().max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= unique.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let i = unique[k];
                let (desc, want) = pairs[i];
                let r = fetch_layer(store, repo, desc, want, opts);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(i, r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut got: BTreeMap<Digest, (Digest, u64)> = BTreeMap::new();
    let mut downloaded = 0;
    for (i, r) in results {
        let fetched = r?;
        got.insert(key(&pairs[i]), (fetched.digest, fetched.size));
        downloaded += usize::from(fetched.downloaded);
    }
    let mut layers = Vec::new();
    for pair in &pairs {
        let layer = got.get(&key(pair)).copied().ok_or_else(|| Error::Blob {
            digest: pair.0.digest,
            why: "was not transferred".into(),
        })?;
        layers.push(layer);
    }
    Ok((layers, downloaded))
}

/// One layer in the store.
struct Fetched {
    /// Its uncompressed digest.
    digest: Digest,
    /// Its uncompressed size.
    size: u64,
    /// Whether it was downloaded (not found in the store).
    downloaded: bool,
}

/// Brings one layer into the store unless it is there.
fn fetch_layer(
    store: &Store,
    repo: &Repo,
    desc: &Descriptor,
    want: Want,
    opts: &PullOptions,
) -> Result<Fetched> {
    let progress = opts.progress;
    let short = desc.digest.short();
    let (diff_id, known) = match want {
        Want::DiffId(d) => (Some(d), Some(d)),
        Want::Unknown { hint } => (None, hint),
    };
    if let Some(known) = known {
        if let Some(size) = pin_existing(store, &known)? {
            progress.note(&short, "Already exists");
            return Ok(Fetched {
                digest: known,
                size,
                downloaded: false,
            });
        }
    }
    if let Some(d) = &diff_id {
        let (lazy, insecure) = (opts.lazy, opts.insecure);
        if let Some(size) = crate::lazy::pull::step(store, repo, desc, d, lazy, insecure, progress)?
        {
            return Ok(Fetched {
                digest: *d,
                size,
                downloaded: true,
            });
        }
    }
    let diff_id = diff_id.as_ref();
    let compression =
        Compression::from_media_type(&desc.media_type).ok_or_else(|| Error::Blob {
            digest: desc.digest,
            why: format!("unsupported layer media type {:?}", desc.media_type),
        })?;
    let table = match (compression, diff_id) {
        (Compression::Gzip, Some(d)) => download::member_table(repo, desc, d),
        _ => None,
    };
    let task = progress.start(&short, "Downloading", Some(desc.size));
    let got = download::download(
        store,
        repo,
        desc,
        diff_id,
        compression,
        table.as_ref(),
        &task,
    );
    let ingested = match got {
        Ok(i) => i,
        Err(download::Failed::Table(why)) => {
            // Not the blob's fault, maybe: once more, as one gzip stream.
            log::warn!(
                "layer {}: {why}; downloading it again as one stream",
                desc.digest
            );
            let task = progress.start(&short, "Downloading", Some(desc.size));
            match download::download(store, repo, desc, diff_id, compression, None, &task) {
                Ok(i) => i,
                Err(download::Failed::Table(why)) => {
                    return Err(Error::Blob {
                        digest: desc.digest,
                        why,
                    })
                }
                Err(download::Failed::Other(e)) => return Err(e),
            }
        }
        Err(download::Failed::Other(e)) => return Err(e),
    };
    task.finish("Pull complete");
    Ok(Fetched {
        digest: ingested.digest,
        size: ingested.size,
        downloaded: true,
    })
}

/// If the store has the blob, pins it (so a concurrent `rmi` or `prune`
/// keeps it until this process tags it or exits) and returns its size.
pub(crate) fn pin_existing(store: &Store, digest: &Digest) -> Result<Option<u64>> {
    if !store.has_blob(digest) {
        return Ok(None);
    }
    let lock = store.lock()?;
    match std::fs::metadata(store.blob_path(digest)) {
        Ok(md) => {
            store.pin(&[*digest], &lock)?;
            Ok(Some(md.len()))
        }
        Err(_) => Ok(None),
    }
}
