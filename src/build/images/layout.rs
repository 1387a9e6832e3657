//! The image cache as one layer in docker distribution's filesystem layout,
//! which `docker-registry` (and sealer's registry at install time) serves
//! from `registry/` as its storage root:
//!
//! ```text
//! registry/docker/registry/v2/
//!   blobs/sha256/<2 hex>/<hex>/data                      every manifest, index, config, layer
//!   repositories/<repo>/                                 repo without the registry host
//!     _manifests/tags/<tag>/current/link                 "sha256:<hex>" of what the tag names
//!     _manifests/tags/<tag>/index/sha256/<hex>/link      every digest the tag has named
//!     _manifests/revisions/sha256/<hex>/link             each manifest and index of the repo
//!     _layers/sha256/<hex>/link                          each config and layer of the repo
//! ```
//!
//! A blob the lower layers' `registry/` already holds is not written again
//! (the merged rootfs shows it); one found in any layer of the store is
//! copied from there; the rest are downloaded. Each blob is written once,
//! however many images share it.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

use sealer_fs::{Kind, LayerIndex};

use super::fetch::{Job, Origin, Pool};
use super::resolve::Resolved;
use crate::build::layer::{Content, Item, Items, StreamRef};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::view::RootView;
use crate::store::Store;

/// Where distribution's storage starts inside the rootfs.
pub const ROOT: &str = "registry/docker/registry/v2";

/// Path of a blob's data file in the rootfs.
pub fn blob_path(d: &Digest) -> String {
    let hex = d.hex();
    format!("{ROOT}/blobs/sha256/{}/{hex}/data", &hex[..2])
}

fn link(d: &Digest) -> Content {
    Content::Bytes(d.to_string().into_bytes().into())
}

/// What the layer will hold, and what it takes to write it.
pub struct Plan {
    /// The layer's entries (blob data as streams from `pool`).
    pub items: Items,
    /// The blobs to download or copy, in tar order.
    pub pool: Arc<Pool>,
    /// Blobs the lower layers already hold.
    pub in_lower: usize,
    /// Bytes to download.
    pub to_download: u64,
    /// Bytes to copy from the store.
    pub to_copy: u64,
}

/// Plans the layer for `images` over the rootfs `lower`.
pub fn plan(images: &[Resolved], lower: &RootView, store: &Store) -> Result<Plan> {
    check_conflicts(images)?;
    let mut files: BTreeMap<String, Content> = BTreeMap::new();
    // Blob data to bring: path -> (digest, size, image index).
    let mut wanted: BTreeMap<String, (Digest, u64, usize)> = BTreeMap::new();
    for (i, r) in images.iter().enumerate() {
        let repo = format!("{ROOT}/repositories/{}", r.wanted.path);
        for m in r.manifests() {
            files.insert(
                format!("{repo}/_manifests/revisions/sha256/{}/link", m.digest.hex()),
                link(&m.digest),
            );
            files.insert(blob_path(&m.digest), Content::Bytes(m.bytes.clone()));
        }
        if let Some(tag) = &r.wanted.tag {
            let tags = format!("{repo}/_manifests/tags/{tag}");
            files.insert(format!("{tags}/current/link"), link(&r.top.digest));
            files.insert(
                format!("{tags}/index/sha256/{}/link", r.top.digest.hex()),
                link(&r.top.digest),
            );
        }
        for b in &r.blobs {
            files.insert(
                format!("{repo}/_layers/sha256/{}/link", b.digest.hex()),
                link(&b.digest),
            );
            wanted
                .entry(blob_path(&b.digest))
                .or_insert((b.digest, b.size, i));
        }
    }
    let mut in_lower = 0;
    files.retain(|path, content| {
        let keep = !matches!(content, Content::Bytes(b) if path.ends_with("/data") && in_view(lower, path, b.len() as u64));
        in_lower += usize::from(!keep);
        keep
    });
    let mut finder = StoreBlobs::new(store);
    let mut jobs = Vec::new();
    // Paths of the blobs the pool brings, in job order.
    let mut streamed = Vec::new();
    let (mut to_download, mut to_copy) = (0, 0);
    for (path, (digest, size, i)) in wanted {
        if files.contains_key(&path) {
            continue;
        }
        if in_view(lower, &path, size) {
            in_lower += 1;
            continue;
        }
        let r = &images[i];
        log::debug!("{} of {}: {path}", digest, r.wanted.name);
        let origin = match finder.find(&path, size)? {
            Some((file, offset)) => {
                to_copy += size;
                Origin::Local(file, offset)
            }
            None => {
                to_download += size;
                Origin::Remote(r.repo.clone())
            }
        };
        jobs.push(Job {
            digest,
            size,
            origin,
            image: r.wanted.name.clone(),
            asked_by: r.wanted.source().to_string(),
        });
        streamed.push(path);
    }
    let pool = Arc::new(Pool::new(jobs));
    let mut items = Items::new();
    for (path, content) in files {
        let size = match &content {
            Content::Bytes(b) => b.len() as u64,
            _ => 0,
        };
        items.insert(path.into_bytes(), file_item(content, size));
    }
    for (key, path) in streamed.into_iter().enumerate() {
        let size = pool.jobs()[key].size;
        let stream = StreamRef {
            source: pool.clone(),
            key,
        };
        items.insert(path.into_bytes(), file_item(Content::Stream(stream), size));
    }
    let dirs: Vec<Vec<u8>> = items
        .keys()
        .flat_map(|p| {
            p.iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'/')
                .map(|(i, _)| p[..i].to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    for d in dirs {
        items.entry(d).or_insert_with(|| Item::dir(0o755, 0, 0, 0));
    }
    Ok(Plan {
        items,
        pool,
        in_lower,
        to_download,
        to_copy,
    })
}

fn file_item(content: Content, size: u64) -> Item {
    let mut it = Item::dir(0o644, 0, 0, 0);
    it.content = content;
    it.size = size;
    it
}

/// Whether the merged rootfs has a regular file of `size` at `path`.
fn in_view(view: &RootView, path: &str, size: u64) -> bool {
    view.resolve(path).is_some_and(|m| {
        let meta = view.meta(&m);
        meta.kind == Kind::File && meta.size == size
    })
}

/// Two sources for one repository and tag must agree on what it names.
fn check_conflicts(images: &[Resolved]) -> Result<()> {
    let mut seen: BTreeMap<(&str, &str), &Resolved> = BTreeMap::new();
    for r in images {
        let Some(tag) = &r.wanted.tag else { continue };
        if let Some(other) = seen.insert((&r.wanted.path, tag), r) {
            if other.top.digest != r.top.digest {
                return Err(Error::ContainerImage {
                    image: r.wanted.name.clone(),
                    asked_by: r.wanted.source().to_string(),
                    source: Box::new(crate::error::invalid(format!(
                        "it would be cached as {}:{tag}, which {} (from {}) also names: {} there, {} here",
                        r.wanted.path,
                        other.wanted.name,
                        other.wanted.source(),
                        other.top.digest,
                        r.top.digest
                    ))),
                });
            }
        }
    }
    Ok(())
}

/// Finds registry blobs inside the store's layers (an earlier build's cache).
struct StoreBlobs<'s> {
    store: &'s Store,
    layers: Option<Vec<(Digest, LayerIndex)>>,
}

impl<'s> StoreBlobs<'s> {
    fn new(store: &'s Store) -> StoreBlobs<'s> {
        StoreBlobs {
            store,
            layers: None,
        }
    }

    /// The layer file and offset of `path` with `size` bytes, pinned.
    fn find(&mut self, path: &str, size: u64) -> Result<Option<(Arc<File>, u64)>> {
        let store = self.store;
        let layers = self.layers.get_or_insert_with(|| {
            store
                .layer_digests()
                .into_iter()
                .filter_map(|d| store.open_layer(&d).ok().map(|l| (d, l.index)))
                .collect()
        });
        for (digest, index) in layers.iter() {
            let Some(m) = sealer_fs::merge::resolve(&[index], path.as_bytes()) else {
                continue;
            };
            let meta = index.meta(m.top().id);
            if meta.kind != Kind::File || meta.size != size {
                continue;
            }
            if crate::registry::pin_existing(store, digest)?.is_none() {
                continue;
            }
            let file = File::open(store.blob_path(digest)).map_err(|e| Error::Blob {
                digest: *digest,
                why: e.to_string(),
            })?;
            return Ok(Some((Arc::new(file), meta.data)));
        }
        Ok(None)
    }
}
