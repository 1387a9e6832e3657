//! Open files of a `--rw` mount, and FUSE passthrough of upper files: where
//! the kernel offers `FUSE_PASSTHROUGH` (Linux 6.9 and up) and lets us
//! register backing files (`CAP_SYS_ADMIN`: root, not a rootless mount), an
//! open upper file is answered with a backing file, the same upper file, and
//! the kernel then reads, writes and maps it itself, without a round trip
//! here: buffered writes at the speed of the upper directory's file system,
//! straight into the upper file (what `sealer commit` reads), with no cache
//! of ours to keep in step.
//!
//! The kernel's rules, which this module keeps: all passthrough opens of an
//! inode share one backing file (one [`BackingId`] per inode, opened
//! read-write so that every opener can use it), and an inode is never open
//! in passthrough and in cached mode at once (the kernel fails such an open
//! with EIO). So an open is cached while the inode has a cached open (a file
//! opened for reading before its copy-up, or when no backing file could be
//! registered), and passthrough otherwise. The decision and the record are
//! made under one lock, and a record is dropped only on `release`, after the
//! kernel has let go of the file: the records are always a superset of the
//! kernel's open files.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuser::{BackingId, FileHandle};

use super::{lock, Handle, RwFs};

/// One open file: its inode, what serves it, and its backing file when the
/// kernel does its I/O (passthrough).
pub(super) struct OpenFile {
    pub ino: u64,
    pub handle: Arc<Handle>,
    pub backing: Option<Arc<BackingId>>,
}

impl RwFs {
    /// Records an open file of inode `ino` and decides how the kernel does its
    /// I/O: through a backing file (returned; made by `register` from the
    /// upper file at `path`, or shared with the inode's other opens) or
    /// through requests to us (None).
    pub(super) fn open_file(
        &self,
        ino: u64,
        handle: Handle,
        path: Option<&Path>,
        register: impl FnOnce(&File) -> io::Result<BackingId>,
    ) -> (FileHandle, Option<Arc<BackingId>>) {
        let mut files = lock(&self.files);
        let backing = match (&handle, path) {
            (Handle::Upper(_), Some(path)) if self.passthrough.load(Ordering::Relaxed) => {
                let others = files.values().filter(|f| f.ino == ino);
                let mut cached = false;
                let mut shared = None;
                for f in others {
                    match &f.backing {
                        Some(b) => shared = Some(b.clone()),
                        None => cached = true,
                    }
                }
                match (cached, shared) {
                    (true, _) => None,
                    (false, Some(b)) => Some(b),
                    (false, None) => self.register_backing(path, register).map(Arc::new),
                }
            }
            _ => None,
        };
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        files.insert(
            fh,
            OpenFile {
                ino,
                handle: Arc::new(handle),
                backing: backing.clone(),
            },
        );
        (FileHandle(fh), backing)
    }

    /// A backing file for the upper file at `path`, opened read-write; None
    /// (the open is cached) if it cannot be. Passthrough is given up for the
    /// mount when the kernel refuses it for want of privilege.
    fn register_backing(
        &self,
        path: &Path,
        register: impl FnOnce(&File) -> io::Result<BackingId>,
    ) -> Option<BackingId> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOATIME)
            .open(path)
            .or_else(|_| OpenOptions::new().read(true).write(true).open(path));
        let r = file.and_then(|f| register(&f));
        match r {
            Ok(id) => Some(id),
            Err(e) => {
                if e.raw_os_error() == Some(libc::EPERM) {
                    log::info!("no FUSE passthrough ({e}): writes go through the server");
                    self.passthrough.store(false, Ordering::Relaxed);
                } else {
                    log::debug!("no passthrough for {}: {e}", path.display());
                }
                None
            }
        }
    }
}
