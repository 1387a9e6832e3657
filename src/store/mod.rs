//! The store: an OCI image layout on disk plus our derived layer indexes.
//!
//! ```text
//! <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json            one manifest descriptor per tag (ref.name annotation)
//! <root>/blobs/sha256/<hex>    manifests, configs, uncompressed layer tars
//! <root>/index/sha256/<hex>    layer index of blob <hex> (derived, rebuilt when bad)
//! <root>/cache/<hex>           build cache: key -> layer digest
//! <root>/compressed/<hex>.<alg> a pushed layer's compressed digest (see imported.rs)
//! <root>/lazy/<hex>/          a partly present layer: record and chunk cache (see lazy.rs)
//! <root>/referrers/<hex>.json  artifacts (SBOMs) whose subject is manifest <hex> (see referrers.rs)
//! <root>/tmp/                  in-flight writes, renamed into place when complete
//! <root>/mounts/ data/overlay2/ lock
//! ```
//!
//! Every file is written to `tmp/`, fsynced and renamed, so a crash leaves the
//! old state or the new one. Writers of `index.json` and deleters of blobs
//! hold the exclusive lock on `<root>/lock`.
//!
//! Concurrency (several `sealer` processes on one store):
//! - `index.json` is only read-modified-written under the lock, and always
//!   replaced by rename, so readers never see half of it and no tag is lost;
//! - a blob is published (renamed into `blobs/`) under the lock, and in the
//!   same critical section *pinned* by its process (`tmp/pin-<pid>.<start>-<n>`, see
//!   `pins.rs`); a process also pins cached layers it reuses and the base
//!   image it builds on or mounts. Garbage collection (`rmi`, `prune`, the
//!   cleanup of a failed build or load) runs under the lock and keeps every
//!   blob a tag reaches or a live process pinned. So a concurrent build's
//!   layers, ingested but not yet tagged, survive an `rmi`, and so do the
//!   blobs of a mounted image removed with `rmi -f`;
//! - a tag is only ever written for an image whose blobs are checked present
//!   under the lock (`commit_image`, `tag`);
//! - a killed process leaves at most files under `tmp/` (and blobs nothing
//!   references, which `prune` removes): `Store::open` removes the `tmp/`
//!   entries of dead processes, so the next command starts clean.

mod fsck;
mod imported;
mod ingest;
mod lazy;
mod lists;
mod lock;
mod pins;
pub mod pipeline;
mod platforms;
mod prune;
mod referrers;
mod refs;
mod signatures;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub use self::fsck::FsckReport;
pub use self::imported::CompressedForm;
pub use self::ingest::Ingested;
pub use self::lazy::{Chunks, LazyRecord, Presence};
pub use self::lists::EntryOverrides;
pub use self::lock::StoreLock;
pub(crate) use self::pins::disk_usage;
pub use self::pins::TmpCleaned;
pub use self::prune::PruneReport;
pub use self::referrers::Referrer;
pub use self::signatures::{is_signature_entry, SIGNATURE_OF};
use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// An open store.
pub struct Store {
    root: PathBuf,
    pins: Mutex<pins::Pins>,
}

impl Drop for Store {
    fn drop(&mut self) {
        let pins = self.pins.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = pins.take_file() {
            let _ = fs::remove_file(f);
        }
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new unique path under `<root>/tmp/`, named so that `Store::open`
/// removes it once this process is dead.
fn tmp_path_in(root: &Path, what: &str) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    root.join("tmp").join(format!(
        "{what}-{}-{n}",
        crate::process::ProcessId::current()
    ))
}

impl Store {
    /// Opens the store at `root`, creating the layout if missing.
    pub fn open(root: &Path) -> Result<Store> {
        for d in ["blobs/sha256", "index/sha256", "tmp", "cache"] {
            fs::create_dir_all(root.join(d)).at(root.join(d))?;
        }
        let store = Store {
            root: root.to_path_buf(),
            pins: Mutex::default(),
        };
        store.clean_tmp()?;
        let layout = root.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !root.join("index.json").exists() {
            let _lock = store.lock()?;
            if !root.join("index.json").exists() {
                store.write_index(&refs::empty_index(), &_lock)?;
            }
        }
        Ok(store)
    }

    /// `/var/lib/sealer` for root, else `$XDG_DATA_HOME/sealer` (or
    /// `~/.local/share/sealer`).
    pub fn default_root() -> PathBuf {
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/sealer");
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("sealer");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(".local/share/sealer")
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a blob.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Path of a layer's index.
    pub fn index_path(&self, d: &Digest) -> PathBuf {
        self.root.join("index/sha256").join(d.hex())
    }

    /// Every layer the store holds an index of (layers of images, of the
    /// build cache, and of pulls), newest first.
    pub fn layer_digests(&self) -> Vec<Digest> {
        let Ok(dir) = std::fs::read_dir(self.root.join("index/sha256")) else {
            return Vec::new();
        };
        let mut found: Vec<(std::time::SystemTime, Digest)> = dir
            .flatten()
            .filter_map(|e| {
                let d = Digest::from_hex(e.file_name().to_str()?)?;
                let t = e.metadata().and_then(|m| m.modified()).ok()?;
                Some((t, d))
            })
            .filter(|(_, d)| self.has_blob(d))
            .collect();
        found.sort_by(|a, b| b.cmp(a));
        found.into_iter().map(|(_, d)| d).collect()
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A new unique path under `tmp/`.
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        tmp_path_in(&self.root, what)
    }

    /// Reads a small blob (manifest, config) and checks its digest.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let bytes = fs::read(&path).map_err(|e| crate::error::Error::Blob {
            digest: *d,
            why: if e.kind() == std::io::ErrorKind::NotFound {
                "missing from the store".into()
            } else {
                e.to_string()
            },
        })?;
        if Digest::of(&bytes) != *d {
            return Err(crate::error::Error::Blob {
                digest: *d,
                why: "content does not match its digest".into(),
            });
        }
        Ok(bytes)
    }

    /// Stores a small blob (pinned), returning its digest.
    pub fn write_blob(&self, bytes: &[u8], lock: &StoreLock) -> Result<Digest> {
        let d = Digest::of(bytes);
        self.pin(&[d], lock)?;
        let path = self.blob_path(&d);
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(d)
    }

    /// The layer a build step made before under the same cache key, if its
    /// blob is still here: (digest, size). The layer is pinned.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<(Digest, u64)>> {
        let Ok(text) = fs::read_to_string(self.root.join("cache").join(key.hex())) else {
            return Ok(None);
        };
        let Ok(d) = text.trim().parse::<Digest>() else {
            return Ok(None);
        };
        let lock = self.lock()?;
        let Ok(md) = fs::metadata(self.blob_path(&d)) else {
            return Ok(None);
        };
        self.pin(&[d], &lock)?;
        Ok(Some((d, md.len())))
    }

    /// Remembers the layer a build step made under `key`.
    pub fn cache_put(&self, key: &Digest, layer: &Digest) -> Result<()> {
        self.write_atomic(
            &self.root.join("cache").join(key.hex()),
            layer.to_string().as_bytes(),
        )
    }

    /// Writes `bytes` to `path` through `tmp/`: write, fsync, rename, fsync dir.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = self.tmp_path("write");
        let result = (|| {
            let mut f = File::create(&tmp).at(&tmp)?;
            f.write_all(bytes).at(&tmp)?;
            f.sync_all().at(&tmp)?;
            self.publish(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Renames a complete, synced file from `tmp/` into place durably.
    fn publish(&self, tmp: &Path, path: &Path) -> Result<()> {
        fs::rename(tmp, path).at(path)?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
        }
        Ok(())
    }
}
