//! `prune`: frees what nothing needs any more.
//!
//! - `tmp/` entries of dead processes (see `pins.rs`);
//! - signature entries of images no tag names any more (see signatures.rs);
//! - blobs no tag reaches and no live process pinned, with their indexes;
//! - index files whose blob is gone, build-cache entries and compressed-form
//!   memos naming a layer that is gone;
//! - mounts whose server is gone: the kernel's dead mount is detached, the
//!   record, log and store-owned upper directory removed (uncommitted changes
//!   of a dead `--rw` mount go with it: its server is gone);
//! - files under `mounts/` that no record names, once older than a minute
//!   (a `sealer mount` starting right now writes its log before its record).
//!
//! Everything but `tmp/` is done under the writers' lock.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::pins::{disk_usage, TmpCleaned};
use super::Store;
use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// How old a file under `mounts/` without a record must be to be removed.
const ORPHAN_AGE: Duration = Duration::from_secs(60);

/// What `prune` removed.
#[derive(Clone, Copy, Debug, Default)]
pub struct PruneReport {
    /// Blobs removed.
    pub blobs: u64,
    /// Layer index files removed.
    pub indexes: u64,
    /// Build cache entries and compressed-form memos removed.
    pub cache: u64,
    /// Stale `tmp/` entries removed.
    pub tmp: u64,
    /// Dead mounts cleaned (records, logs, upper directories).
    pub mounts: u64,
    /// Signature entries whose image is gone.
    pub signatures: u64,
    /// Bytes freed in all.
    pub bytes: u64,
}

impl Store {
    /// Removes what nothing references (see the module docs).
    pub fn prune(&self) -> Result<PruneReport> {
        let TmpCleaned { entries, bytes } = self.clean_tmp()?;
        let mut r = PruneReport {
            tmp: entries,
            bytes,
            ..PruneReport::default()
        };
        let lock = self.lock()?;
        let mut index = self.read_index()?;
        let dropped = self.drop_orphan_signatures(&mut index);
        if dropped > 0 {
            self.write_index(&index, &lock)?;
            r.signatures = dropped as u64;
        }
        let roots = self.gc_roots(&index);
        let dir = self.root.join("blobs/sha256");
        for e in fs::read_dir(&dir).at(&dir)?.flatten() {
            let Some(d) = e.file_name().to_str().and_then(Digest::from_hex) else {
                continue;
            };
            if roots.contains(&d) {
                continue;
            }
            let size = e.metadata().map_or(0, |m| m.len());
            if gone(&e.path())? {
                r.blobs += 1;
                r.bytes += size;
            }
        }
        r.cache += self.prune_referrers(&roots);
        let (lazy, bytes) = self.prune_lazy(&roots);
        r.cache += lazy;
        r.bytes += bytes;
        // Indexes, cache entries and memos of blobs that are gone.
        let dir = self.root.join("index/sha256");
        for e in fs::read_dir(&dir).at(&dir)?.flatten() {
            let keep = e
                .file_name()
                .to_str()
                .and_then(Digest::from_hex)
                .is_some_and(|d| self.has_layer(&d));
            if !keep {
                let size = e.metadata().map_or(0, |m| m.len());
                if gone(&e.path())? {
                    r.indexes += 1;
                    r.bytes += size;
                }
            }
        }
        for (sub, layer_of) in [
            ("cache", cache_layer as fn(&Path) -> Option<Digest>),
            ("compressed", memo_layer),
        ] {
            let Ok(rd) = fs::read_dir(self.root.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                if !layer_of(&e.path()).is_some_and(|d| self.has_blob(&d)) {
                    let size = e.metadata().map_or(0, |m| m.len());
                    if gone(&e.path())? {
                        r.cache += 1;
                        r.bytes += size;
                    }
                }
            }
        }
        drop(lock);
        self.prune_mounts(&mut r)?;
        Ok(r)
    }

    fn prune_mounts(&self, r: &mut PruneReport) -> Result<()> {
        let records = self.mounts()?;
        let mut named = Vec::new();
        for rec in &records {
            if rec.alive() {
                let (json, log) = self.mount_paths(&rec.mountpoint);
                named.extend([json, log]);
                named.extend(rec.owned_dir());
                continue;
            }
            r.bytes += crate::mount::teardown_dead(self, rec, false);
            r.mounts += 1;
        }
        // Files no record names: only when old (a mount may be starting).
        let dir = self.root.join("mounts");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let now = SystemTime::now();
        for e in rd.flatten() {
            let p = e.path();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > ORPHAN_AGE);
            if !old || named.contains(&p) {
                continue;
            }
            let size = disk_usage(&p);
            if gone(&p)? {
                r.bytes += size;
                r.mounts += 1;
            }
        }
        Ok(())
    }
}

/// Removes a file or directory tree; `false` if it was already gone.
fn gone(path: &Path) -> Result<bool> {
    let removed = if path.is_dir() && !path.is_symlink() {
        crate::rootless::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match removed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at(path),
    }
}

/// The layer a build-cache entry names.
fn cache_layer(path: &Path) -> Option<Digest> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The layer a compressed-form memo (`<layer-hex>.<alg>`) is about.
fn memo_layer(path: &Path) -> Option<Digest> {
    let name = path.file_name()?.to_str()?;
    Digest::from_hex(name.split_once('.')?.0)
}
