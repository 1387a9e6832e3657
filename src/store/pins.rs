//! In-flight blobs and stale temporary files.
//!
//! A process that stores a blob, reuses a cached layer or builds on a base
//! image *pins* those blobs until it exits, so garbage collection (`rmi`,
//! `prune`, a failed build's cleanup) running meanwhile in another process
//! never deletes a blob that is about to be tagged or that a live mount
//! serves:
//!
//! ```text
//! <root>/tmp/pin-<pid>.<start>-<n>    one digest ("sha256:<hex>") per line, rewritten
//!                             (tmp + rename) whenever the process pins more;
//!                             removed when the Store is dropped
//! ```
//!
//! Pins are added, and blobs published, only under the writers' lock; the
//! collector reads the pins under the same lock. So whatever the collector
//! sees in `blobs/` is either reachable from a tag, pinned by a live
//! process, or garbage. A pin of a dead process counts for nothing.
//!
//! Every name under `tmp/` ends in `-<pid>.<start>-<n>` (the owner as
//! process.rs identifies it: a reused pid is not the owner). [`Store::clean_tmp`] removes
//! the entries of processes that are gone (a killed build's half-written
//! layer, its pins, a RUN step's upper directory and dead FUSE mount), which
//! `Store::open` does for every command. Processes sharing a store must
//! share a pid namespace: a process of another namespace looks dead.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Store, StoreLock};
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::image::Image;
use crate::process::ProcessId;

/// The blobs this process pinned and the file that says so.
#[derive(Default)]
pub(super) struct Pins {
    file: Option<PathBuf>,
    digests: BTreeSet<Digest>,
}

impl Pins {
    /// The pin file, forgotten (to remove it).
    pub(super) fn take_file(&mut self) -> Option<PathBuf> {
        self.file.take()
    }
}

/// What [`Store::clean_tmp`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TmpCleaned {
    /// Entries (files or directories) removed.
    pub entries: u64,
    /// Bytes they held.
    pub bytes: u64,
}

impl Store {
    /// Pins `digests` for the life of this process (see the module docs).
    pub fn pin(&self, digests: &[Digest], _lock: &StoreLock) -> Result<()> {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        let before = pins.digests.len();
        pins.digests.extend(digests.iter().copied());
        if pins.digests.len() == before && pins.file.is_some() {
            return Ok(());
        }
        let file = match &pins.file {
            Some(f) => f.clone(),
            None => {
                let f = self.tmp_path("pin");
                pins.file = Some(f.clone());
                f
            }
        };
        let text: String = pins.digests.iter().map(|d| format!("{d}\n")).collect();
        // No fsync: a pin only matters while its process lives.
        let tmp = self.tmp_path("pinning");
        fs::write(&tmp, text).at(&tmp)?;
        fs::rename(&tmp, &file).at(&file)
    }

    /// Pins an image's manifest, config and layers.
    pub fn pin_image(&self, img: &Image, lock: &StoreLock) -> Result<()> {
        let mut all = vec![img.manifest_digest, img.id];
        all.extend(img.manifest.layers.iter().map(|l| l.digest));
        self.pin(&all, lock)
    }

    /// Resolves an image and pins it, so it stays while this process uses it
    /// even if its tags are removed meanwhile.
    pub fn resolve_pinned(&self, what: &str) -> Result<Image> {
        self.resolve_pinned_for(what, &crate::image::platform::Want::Host)
    }

    /// [`resolve_pinned`](Self::resolve_pinned) for a platform.
    pub fn resolve_pinned_for(
        &self,
        what: &str,
        want: &crate::image::platform::Want,
    ) -> Result<Image> {
        let lock = self.lock()?;
        let img = self.resolve_for(what, want)?;
        self.pin_image(&img, &lock)?;
        Ok(img)
    }

    /// Blobs pinned by live processes other than this one.
    pub(super) fn pinned_by_others(&self) -> HashSet<Digest> {
        let own = self
            .pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .file
            .clone();
        let mut out = HashSet::new();
        let Ok(rd) = fs::read_dir(self.root.join("tmp")) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(("pin", owner)) = tmp_owner(name) else {
                continue;
            };
            if own.as_deref() == Some(e.path().as_path()) || !owner.is_alive() {
                continue;
            }
            if let Ok(text) = fs::read_to_string(e.path()) {
                out.extend(text.lines().filter_map(|l| l.parse::<Digest>().ok()));
            }
        }
        out
    }

    /// Removes what dead processes left under `tmp/`: files, directories and
    /// the FUSE mounts a killed RUN step left inside them.
    pub fn clean_tmp(&self) -> Result<TmpCleaned> {
        let dir = self.root.join("tmp");
        let mut cleaned = TmpCleaned::default();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(cleaned),
            Err(e) => return Err(e).at(&dir),
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let owner = name.to_str().and_then(tmp_owner);
            if owner.is_some_and(|(_, process)| process.is_alive()) {
                continue;
            }
            // A name without an owner was not made by us: leave it to fsck.
            if owner.is_none() {
                continue;
            }
            let path = e.path();
            crate::mount::detach_under(&path);
            let bytes = disk_usage(&path);
            let removed = if path.is_dir() && !path.is_symlink() {
                // A killed rootless RUN step's files of subordinate ids too.
                crate::rootless::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {
                    cleaned.entries += 1;
                    cleaned.bytes += bytes;
                }
                // Another process cleaned it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&path),
            }
        }
        Ok(cleaned)
    }
}

/// `("what", owner)` of a `tmp/` name `<what>-<pid>[.<start>]-<n>`.
pub(super) fn tmp_owner(name: &str) -> Option<(&str, ProcessId)> {
    let mut it = name.rsplitn(3, '-');
    let n = it.next()?;
    let owner = it.next()?;
    let what = it.next()?;
    if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((what, ProcessId::parse(owner)?))
}

/// Bytes of a file, or of everything under a directory (not following links).
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    let Ok(rd) = fs::read_dir(path) else { return 0 };
    rd.flatten().map(|e| disk_usage(&e.path())).sum()
}

/// Lazily unmounts every mount at or below `path` (deepest first).
#[cfg(test)]
mod tests {
    use super::tmp_owner;
    use crate::process::ProcessId;

    #[test]
    fn owners_of_tmp_names() {
        let pid = |p: u32, start: Option<u64>| ProcessId { pid: p, start };
        assert_eq!(tmp_owner("layer-123-0"), Some(("layer", pid(123, None))));
        assert_eq!(tmp_owner("pin-7.99-12"), Some(("pin", pid(7, Some(99)))));
        assert_eq!(tmp_owner("a-b-9-1"), Some(("a-b", pid(9, None))));
        assert_eq!(tmp_owner("layer-1.x-0"), None);
        assert_eq!(tmp_owner("layer-x-0"), None);
        assert_eq!(tmp_owner("stray"), None);
        assert_eq!(tmp_owner("a-1-"), None);
    }
}
