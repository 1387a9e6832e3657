//! Layers that are partly present: pulled with `pull --lazy`, their bytes
//! fetched from the registry on demand into a per-layer chunk cache.
//!
//! ```text
//! <root>/index/sha256/<diff-hex>        the layer index, as for any layer
//! <root>/lazy/<diff-hex>/record.json    where the blob is and its member table:
//!     {"reference":"host/repo:tag","insecure":false,"tableDigest":"sha256:..","table":{..}}
//! <root>/lazy/<diff-hex>/chunks/<n>     member n, uncompressed, written tmp + rename
//! <root>/lazy/cache-size                the chunk cache's cap in bytes (absent: none)
//! ```
//!
//! The record is written last, so a layer is "partly present" exactly when
//! its record exists (and no blob does). Chunks are renamed into place
//! without fsync: a chunk a crash left short or empty fails its member hash
//! when first read by a process, is removed and fetched again. A layer whose
//! blob is complete has no `lazy/` directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, JsonContext, Result};
use crate::lazy::table::Table;

/// How a partly present layer is fetched.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LazyRecord {
    /// The image reference it was pulled by (registry and repository).
    pub reference: String,
    /// Whether plain HTTP and unverified TLS are allowed.
    #[serde(default)]
    pub insecure: bool,
    /// Digest of the table as published (bound by the manifest).
    pub table_digest: Digest,
    /// The member table.
    pub table: Table,
}

/// How much of a partly present layer is here.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Presence {
    /// Members in the cache.
    pub members: usize,
    /// Members in all.
    pub total: usize,
    /// Uncompressed bytes in the cache.
    pub bytes: u64,
}

impl Store {
    /// The directory of a partly present layer.
    pub fn lazy_dir(&self, layer: &Digest) -> PathBuf {
        self.root.join("lazy").join(layer.hex())
    }

    /// Path of member `n` of a partly present layer.
    pub fn chunk_path(&self, layer: &Digest, n: usize) -> PathBuf {
        self.chunks().path(layer, n)
    }

    /// The record of a partly present layer (`None`: not one).
    pub fn lazy_record(&self, layer: &Digest) -> Result<Option<LazyRecord>> {
        let path = self.lazy_dir(layer).join("record.json");
        match fs::read(&path) {
            Ok(bytes) => {
                let rec: LazyRecord =
                    serde_json::from_slice(&bytes).json(path.display().to_string())?;
                Ok(Some(rec))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                path: path.clone(),
                err: e,
            }),
        }
    }

    /// Whether the layer is here, whole or in part.
    pub fn has_layer(&self, layer: &Digest) -> bool {
        self.has_blob(layer) || self.lazy_dir(layer).join("record.json").is_file()
    }

    /// Whether the layer is partly present (a record, no blob).
    pub fn is_lazy(&self, layer: &Digest) -> bool {
        !self.has_blob(layer) && self.lazy_dir(layer).join("record.json").is_file()
    }

    /// Records a partly present layer: its index (already validated against
    /// the layer) and its record, pinned like an ingested blob.
    pub fn lazy_put(&self, layer: &Digest, index: &[u8], rec: &LazyRecord) -> Result<()> {
        let dir = self.lazy_dir(layer);
        fs::create_dir_all(dir.join("chunks")).at(&dir)?;
        let lock = self.lock()?;
        self.pin(&[*layer], &lock)?;
        drop(lock);
        self.write_atomic(&self.index_path(layer), index)?;
        let bytes = serde_json::to_vec(rec).json("a lazy layer record")?;
        self.write_atomic(&dir.join("record.json"), &bytes)
    }

    /// The chunk cache, as a handle that outlives this `Store` value.
    pub fn chunks(&self) -> Chunks {
        Chunks {
            root: self.root.clone(),
        }
    }

    /// How much of a partly present layer is cached.
    pub fn lazy_presence(&self, layer: &Digest, table: &Table) -> Presence {
        let mut p = Presence {
            total: table.members.len(),
            ..Presence::default()
        };
        let Ok(rd) = fs::read_dir(self.lazy_dir(layer).join("chunks")) else {
            return p;
        };
        for e in rd.flatten() {
            let n: Option<usize> = e.file_name().to_str().and_then(|s| s.parse().ok());
            if n.is_some_and(|n| n < p.total) {
                p.members += 1;
                p.bytes += e.metadata().map_or(0, |m| m.len());
            }
        }
        p
    }

    /// How much of `layer` is here if it is partly present (`None`: whole).
    pub fn layer_presence(&self, layer: &Digest) -> Option<Presence> {
        if self.has_blob(layer) {
            return None;
        }
        let rec = self.lazy_record(layer).ok()??;
        Some(self.lazy_presence(layer, &rec.table))
    }

    /// Drops a layer's record and chunks (its blob is complete, or nothing
    /// needs it); returns the bytes freed.
    pub fn lazy_remove(&self, layer: &Digest) -> u64 {
        let dir = self.lazy_dir(layer);
        let bytes = super::disk_usage(&dir);
        // The record goes first: a half-removed directory is no layer.
        let _ = fs::remove_file(dir.join("record.json"));
        match fs::remove_dir_all(&dir) {
            Ok(()) => bytes,
            Err(_) => 0,
        }
    }

    /// Every partly present layer of the store.
    pub fn lazy_layers(&self) -> Vec<Digest> {
        lazy_layers(&self.root)
    }

    /// Sets the chunk cache's cap.
    pub fn set_cache_size(&self, bytes: u64) -> Result<()> {
        fs::create_dir_all(self.root.join("lazy")).at(self.root.join("lazy"))?;
        self.write_atomic(
            &self.root.join("lazy/cache-size"),
            bytes.to_string().as_bytes(),
        )
    }

    /// Removes the `lazy/` directories of layers `roots` does not hold
    /// (prune's part): (layers, bytes) freed.
    pub(super) fn prune_lazy(&self, roots: &std::collections::HashSet<Digest>) -> (u64, u64) {
        let (mut n, mut bytes) = (0, 0);
        for layer in self.lazy_layers() {
            let whole = self.has_blob(&layer);
            if !roots.contains(&layer) || whole {
                bytes += self.lazy_remove(&layer);
                if !whole {
                    let _ = fs::remove_file(self.index_path(&layer));
                }
                n += 1;
            }
        }
        (n, bytes)
    }

    /// fsck's part: checks every partly present layer's record and cached
    /// members; with `repair`, removes bad chunks (they are fetched again).
    /// Returns (problem, repaired?) pairs.
    pub(super) fn fsck_lazy(&self, repair: bool) -> Vec<(String, Option<String>)> {
        let mut problems = Vec::new();
        for layer in self.lazy_layers() {
            if self.has_blob(&layer) {
                continue;
            }
            let rec = match self.lazy_record(&layer) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    problems.push((format!("partly present layer {layer}: {e}"), None));
                    continue;
                }
            };
            let t = &rec.table;
            if let Err(why) = t.check(&t.blob, t.blob_size, &layer) {
                problems.push((format!("partly present layer {layer}: table: {why}"), None));
                continue;
            }
            if !self.index_path(&layer).is_file() {
                problems.push((
                    format!("partly present layer {layer}: its index is missing"),
                    None,
                ));
            }
            for n in 0..t.members.len() {
                let path = self.chunk_path(&layer, n);
                let Ok(bytes) = fs::read(&path) else { continue };
                if !t.verify(n, &bytes) {
                    let fixed = (repair && fs::remove_file(&path).is_ok())
                        .then(|| format!("removed {} (it is fetched again)", path.display()));
                    problems.push((
                        format!(
                            "partly present layer {layer}: member {n} does not match its table"
                        ),
                        fixed,
                    ));
                }
            }
        }
        problems
    }
}

/// The layers with a `lazy/` directory under `root`.
fn lazy_layers(root: &Path) -> Vec<Digest> {
    let Ok(rd) = fs::read_dir(root.join("lazy")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| Digest::from_hex(e.file_name().to_str()?))
        .collect()
}

/// The chunk cache of a store's partly present layers; what a lazy layer's
/// reader (in a mount server, for its whole life) keeps of the store.
#[derive(Clone, Debug)]
pub struct Chunks {
    root: PathBuf,
}

impl Chunks {
    /// Path of member `n` of `layer`.
    pub fn path(&self, layer: &Digest, n: usize) -> PathBuf {
        self.root
            .join("lazy")
            .join(layer.hex())
            .join("chunks")
            .join(n.to_string())
    }

    /// Path of the complete blob of `layer` (once a full pull made it).
    pub fn blob_path(&self, layer: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(layer.hex())
    }

    /// Puts member `n` of `layer` into the cache (verified by the caller):
    /// written to `tmp/`, renamed into place.
    pub fn put(&self, layer: &Digest, n: usize, bytes: &[u8]) -> Result<()> {
        let path = self.path(layer, n);
        let tmp = super::tmp_path_in(&self.root, "chunk");
        let r = fs::write(&tmp, bytes)
            .at(&tmp)
            .and_then(|_| fs::rename(&tmp, &path).at(&path));
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// The chunk cache's cap in bytes, if one was set.
    pub fn cap(&self) -> Option<u64> {
        let text = fs::read_to_string(self.root.join("lazy/cache-size")).ok()?;
        text.trim().parse().ok()
    }

    /// Removes the oldest chunks of every lazy layer until the cache holds
    /// at most `cap` bytes, sparing `keep` (layer, member) the caller is
    /// using; returns the bytes freed.
    pub fn evict_chunks(&self, cap: u64, keep: &[(Digest, usize)]) -> u64 {
        let mut chunks: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let mut total = 0;
        for layer in lazy_layers(&self.root) {
            let Ok(rd) = fs::read_dir(self.root.join("lazy").join(layer.hex()).join("chunks"))
            else {
                continue;
            };
            for e in rd.flatten() {
                let Ok(md) = e.metadata() else { continue };
                total += md.len();
                let n: Option<usize> = e.file_name().to_str().and_then(|s| s.parse().ok());
                if n.is_some_and(|n| keep.contains(&(layer, n))) {
                    continue;
                }
                let t = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                chunks.push((t, md.len(), e.path()));
            }
        }
        chunks.sort();
        let mut freed = 0;
        for (_, len, path) in chunks {
            if total <= cap {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
                freed += len;
            }
        }
        if freed > 0 {
            log::info!("chunk cache over {cap} bytes: evicted {freed} bytes");
        }
        freed
    }
}
