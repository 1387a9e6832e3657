//! The writable view (`sealer mount --rw`, Kubefile RUN): the merged lower
//! layers read-only, an upper directory on disk taking every change, in the
//! conventions of [`crate::upper`]. Lookups look in the upper directory first
//! (a whiteout hides, an opaque directory stops), then in the lower layers.
//! The first change to a lower entry copies it up (data and metadata; its
//! parents first): a file appears whole or not at all, synced unless the
//! mount is [`RwFs::volatile`], and big files are copied without holding the
//! inode table lock. Deleting a lower entry leaves a whiteout; a directory
//! made where a lower one was deleted is opaque. Hard links within a lower
//! layer are separate inodes here, and a copy-up breaks them, as on
//! overlayfs without `index=on`.
//!
//! Inodes are allocated per path as they are looked up (`table.rs`); hard
//! links made in the upper directory share one inode. Renaming a directory
//! that has lower contents returns EXDEV, like overlayfs without
//! `redirect_dir`; `mv` then copies it. Inode numbers are not stable across
//! `--rw` mounts. New entries belong to the caller (the group of a setgid
//! parent directory), with the mode asked for, whatever the server's umask.
//! Where the kernel and our privilege allow, the kernel reads and writes
//! open upper files itself (FUSE passthrough, `passthrough.rs`).

mod change;
mod ops;
mod passthrough;
mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};

use super::{attr, dir_nlink, OpenDirs};
use crate::index::{Kind, LayerIndex};
use crate::layer::Layer;
use crate::merge::{self, Merged, Node};
use crate::upper::{self, UpperPath};
use table::Table;

/// Attribute and entry timeout: short, the tree changes under us.
const TTL: Duration = Duration::from_secs(1);

/// Files from this size up are copied up without holding the table lock.
const BIG_COPY_UP: u64 = 1 << 20;

/// An open file: in the upper directory, or still only in a lower layer.
enum Handle {
    Upper(File),
    /// Opened for reading before any copy-up; once the file is copied up,
    /// reads go to the upper copy (opened on the first such read), as on
    /// overlayfs since Linux 4.19.
    Lower(Node, OnceLock<File>),
}

/// What is visible at one name: the upper entry's metadata (None if only
/// lower) and the lower entry (None if hidden or absent).
type Visible = (Option<fs::Metadata>, Option<Merged>);

/// Lower layers plus a writable upper directory, served as one tree.
pub struct RwFs {
    layers: Vec<Layer>,
    upper: PathBuf,
    table: Mutex<Table>,
    /// Open files by handle (`passthrough.rs`).
    files: Mutex<HashMap<u64, passthrough::OpenFile>>,
    /// The kernel agreed to FUSE passthrough and has not refused a backing
    /// file for want of privilege (`passthrough.rs`).
    passthrough: AtomicBool,
    next_fh: AtomicU64,
    open_dirs: OpenDirs,
    /// Copy-ups reach the disk before they appear (not when volatile).
    sync_copy_up: bool,
    /// Inodes whose file was copied up while this mount served them.
    copied_up: Mutex<HashSet<u64>>,
}

/// The errno of an I/O error (EIO when it has none).
fn errno(e: &io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RwFs {
    /// Serves `layers` (top first) with changes going to `upper`, an existing
    /// directory (empty, or the upper directory of an earlier mount).
    pub fn new(layers: Vec<Layer>, upper: PathBuf) -> RwFs {
        let root_lower = if layers.is_empty() {
            None
        } else {
            let stack: Vec<&LayerIndex> = layers.iter().map(|l| &l.index).collect();
            Some(merge::root(&stack))
        };
        RwFs {
            layers,
            upper,
            table: Mutex::new(Table::new(root_lower)),
            files: Mutex::new(HashMap::new()),
            passthrough: AtomicBool::new(false),
            next_fh: AtomicU64::new(1),
            open_dirs: OpenDirs::default(),
            sync_copy_up: true,
            copied_up: Mutex::new(HashSet::new()),
        }
    }

    /// For an upper directory that is thrown away after a crash (a RUN
    /// step's, whose result is synced when it becomes a layer): copy-ups
    /// are not synced to disk, like overlayfs's `volatile` option.
    pub fn volatile(mut self) -> RwFs {
        self.sync_copy_up = false;
        self
    }

    fn stack(&self) -> Vec<&LayerIndex> {
        self.layers.iter().map(|l| &l.index).collect()
    }

    fn upper_path(&self, t: &Table, ino: u64) -> Result<UpperPath, Errno> {
        let rel = t.rel_path(ino).ok_or(Errno::ENOENT)?;
        UpperPath::new(&self.upper, &rel).map_err(|e| errno(&e))
    }

    /// Finds what is visible at `name` in directory `parent`; ENOENT if
    /// nothing is.
    fn resolve(&self, t: &Table, parent: u64, name: &[u8]) -> Result<Visible, Errno> {
        let dir = t.get(parent).ok_or(Errno::ENOENT)?;
        let parent_upper = self.upper_path(t, parent)?;
        let path = parent_upper
            .join(OsStr::from_bytes(name))
            .map_err(|e| errno(&e))?;
        let lower_below = || match &dir.lower {
            Some(Merged::Dir(parts)) if !parts.is_empty() && !upper::is_opaque(&parent_upper) => {
                merge::lookup(&self.stack(), parts, name)
            }
            _ => None,
        };
        match fs::symlink_metadata(&*path) {
            Ok(md) if upper::is_whiteout(&md) => Err(Errno::ENOENT),
            Ok(md) if md.is_dir() => {
                let lower = if upper::is_opaque(&path) {
                    None
                } else {
                    lower_below().filter(|m| matches!(m, Merged::Dir(_)))
                };
                Ok((Some(md), lower))
            }
            Ok(md) => Ok((Some(md), None)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match lower_below() {
                Some(m) => Ok((None, Some(m))),
                None => Err(Errno::ENOENT),
            },
            Err(e) => Err(errno(&e)),
        }
    }

    /// The inode for `name` in `parent` that `resolve` found: a new name of
    /// an upper file with hard links joins the inode it already has.
    fn bind(
        &self,
        t: &mut Table,
        parent: u64,
        name: &[u8],
        md: Option<&fs::Metadata>,
        lower: Option<Merged>,
    ) -> u64 {
        let Some(md) = md.filter(|m| !m.is_dir() && m.nlink() > 1) else {
            return t.bind(parent, name, lower);
        };
        if t.find(parent, name).is_none() {
            if let Some(other) = t.find_upper(md.ino()) {
                let same = self
                    .upper_path(t, other)
                    .ok()
                    .and_then(|p| fs::symlink_metadata(&*p).ok())
                    .is_some_and(|o| (o.dev(), o.ino()) == (md.dev(), md.ino()));
                if same {
                    t.add_name(other, parent, name);
                    return other;
                }
            }
        }
        let ino = t.bind(parent, name, lower);
        t.set_upper_ino(ino, md.ino());
        ino
    }

    /// Attributes of an inode whose state `resolve` returned.
    fn attr_from(
        &self,
        ino: u64,
        upper_md: Option<&fs::Metadata>,
        lower: Option<&Merged>,
    ) -> Result<FileAttr, Errno> {
        if let Some(md) = upper_md {
            return Ok(attr_of_metadata(ino, md));
        }
        let m = lower.ok_or(Errno::ENOENT)?;
        let top = m.top();
        let index = &self.layers[top.layer].index;
        let mut a = attr(ino, &index.meta(top.id));
        if let Merged::Dir(parts) = m {
            a.nlink = if parts.len() > 1 {
                1
            } else {
                dir_nlink(index, top.id)
            };
        }
        Ok(a)
    }

    /// Current attributes of a known inode.
    fn getattr_ino(&self, t: &Table, ino: u64) -> Result<FileAttr, Errno> {
        let i = t.get(ino).ok_or(Errno::ENOENT)?;
        let path = self.upper_path(t, ino)?;
        match fs::symlink_metadata(&*path) {
            Ok(md) if !upper::is_whiteout(&md) => Ok(attr_of_metadata(ino, &md)),
            _ if ino == INodeNo::ROOT.0 && i.lower.is_none() => Ok(empty_root_attr()),
            _ => self.attr_from(ino, None, i.lower.as_ref()),
        }
    }

    /// Makes sure inode `ino` exists in the upper directory, copying it (and
    /// its parents) up from the lower layers if needed; without `with_data`
    /// a file's content is left behind (it is about to be truncated).
    /// Returns its upper path.
    fn copy_up(&self, t: &Table, ino: u64, with_data: bool) -> Result<UpperPath, Errno> {
        let path = self.upper_path(t, ino)?;
        match fs::symlink_metadata(&*path) {
            Ok(md) if !upper::is_whiteout(&md) => return Ok(path),
            Ok(_) => return Err(Errno::ENOENT),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(errno(&e)),
            Err(_) => {}
        }
        let i = t.get(ino).ok_or(Errno::ENOENT)?;
        if ino != INodeNo::ROOT.0 {
            self.copy_up(t, t.parent(ino).ok_or(Errno::ENOENT)?, true)?;
        }
        let top = i.lower.as_ref().ok_or(Errno::ENOENT)?.top();
        let layer = &self.layers[top.layer];
        upper::copy_up(layer, top.id, &path, with_data, self.sync_copy_up).map_err(|e| {
            log::error!("copying up {}: {e}", path.display());
            errno(&e)
        })?;
        if layer.index.kind(top.id) == Kind::File {
            lock(&self.copied_up).insert(ino);
        }
        Ok(path)
    }

    /// Copies a big lower file up before the caller takes the table lock for
    /// its change, so that other requests go on during the copy: the copy is
    /// staged unlocked ([`upper::Staged`]) and linked under the lock unless
    /// the entry changed meanwhile. Anything else is left to `copy_up`.
    fn copy_up_unlocked(&self, ino: u64) -> Result<(), Errno> {
        let (node, dir) = {
            let t = lock(&self.table);
            let Some(node) = t.get(ino).and_then(|i| i.lower.as_ref()).map(Merged::top) else {
                return Ok(());
            };
            let meta = self.layers[node.layer].index.meta(node.id);
            if meta.kind != Kind::File || meta.size < BIG_COPY_UP {
                return Ok(());
            }
            let path = self.upper_path(&t, ino)?;
            if fs::symlink_metadata(&*path).is_ok() {
                return Ok(());
            }
            let parent = t.parent(ino).ok_or(Errno::ENOENT)?;
            (node, self.copy_up(&t, parent, true)?)
        };
        let layer = &self.layers[node.layer];
        let staged = upper::stage_file(layer, node.id, &dir, true, self.sync_copy_up)
            .map_err(|e| errno(&e))?;
        let Some(staged) = staged else {
            return Ok(());
        };
        let t = lock(&self.table);
        if t.get(ino).and_then(|i| i.lower.as_ref()).map(Merged::top) != Some(node) {
            return Ok(());
        }
        match staged.link(&self.upper_path(&t, ino)?) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => Err(errno(&e)),
            Err(_) => Ok(()),
            Ok(()) => {
                lock(&self.copied_up).insert(ino);
                Ok(())
            }
        }
    }

    /// Reads a file opened before its copy-up: from the upper copy once
    /// there is one, else from the lower layer.
    fn read_lower(
        &self,
        ino: u64,
        (node, upper): (&Node, &OnceLock<File>),
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        if upper.get().is_none() && lock(&self.copied_up).contains(&ino) {
            let path = self.upper_path(&lock(&self.table), ino).ok();
            if let Some(f) = path.and_then(|p| File::open(&*p).ok()) {
                let _ = upper.set(f);
            }
        }
        match upper.get() {
            Some(f) => ops::read_full_at(f, buf, offset),
            None => self.layers[node.layer].read_at(node.id, offset, buf),
        }
    }

    /// Gets `name` in `parent` ready to be created: the parent is copied up
    /// and a whiteout there is removed. Returns the parent's upper path, the
    /// new path and whether a lower entry was hidden (a directory made there
    /// must be opaque).
    fn prepare_create(
        &self,
        t: &Table,
        parent: u64,
        name: &[u8],
    ) -> Result<(UpperPath, UpperPath, bool), Errno> {
        match self.resolve(t, parent, name) {
            Ok(_) => return Err(Errno::from_i32(libc::EEXIST)),
            Err(e) if e != Errno::ENOENT => return Err(e),
            Err(_) => {}
        }
        let dir = self.copy_up(t, parent, true)?;
        let path = dir.join(OsStr::from_bytes(name)).map_err(|e| errno(&e))?;
        let mut hid_lower = false;
        if let Ok(md) = fs::symlink_metadata(&*path) {
            if upper::is_whiteout(&md) {
                fs::remove_file(&*path).map_err(|e| errno(&e))?;
                hid_lower = true;
            }
        }
        Ok((dir, path, hid_lower))
    }

    /// The visible children of a directory: name -> (upper metadata, lower).
    fn children(&self, t: &Table, ino: u64) -> Result<Vec<(Vec<u8>, Visible)>, Errno> {
        let i = t.get(ino).ok_or(Errno::ENOENT)?;
        let path = self.upper_path(t, ino)?;
        let mut out: BTreeMap<Vec<u8>, Visible> = BTreeMap::new();
        let mut hidden = HashSet::new();
        let mut opaque = false;
        match fs::read_dir(&*path) {
            Ok(rd) => {
                opaque = upper::is_opaque(&path);
                for e in rd.flatten() {
                    let Ok(md) = e.metadata() else { continue };
                    let name = e.file_name().as_bytes().to_vec();
                    if upper::is_whiteout(&md) {
                        hidden.insert(name);
                    } else {
                        out.insert(name, (Some(md), None));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(errno(&e)),
        }
        if let (false, Some(Merged::Dir(parts))) = (opaque, &i.lower) {
            if !parts.is_empty() {
                for (name, m) in merge::read_dir(&self.stack(), parts) {
                    if hidden.contains(name) {
                        continue;
                    }
                    match out.get_mut(name) {
                        Some((Some(md), lower)) if md.is_dir() && matches!(m, Merged::Dir(_)) => {
                            let opaque_child = path
                                .join(OsStr::from_bytes(name))
                                .is_ok_and(|c| upper::is_opaque(&c));
                            if !opaque_child {
                                *lower = Some(m);
                            }
                        }
                        Some(_) => {}
                        None => {
                            out.insert(name.to_vec(), (None, Some(m)));
                        }
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

fn system_time(secs: i64, nsec: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

/// Attributes of an upper entry, from `lstat`.
fn attr_of_metadata(ino: u64, md: &fs::Metadata) -> FileAttr {
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_char_device() {
        FileType::CharDevice
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else if ft.is_fifo() {
        FileType::NamedPipe
    } else if ft.is_socket() {
        FileType::Socket
    } else {
        FileType::RegularFile
    };
    FileAttr {
        ino: INodeNo(ino),
        size: md.size(),
        blocks: md.blocks(),
        atime: system_time(md.atime(), md.atime_nsec()),
        mtime: system_time(md.mtime(), md.mtime_nsec()),
        ctime: system_time(md.ctime(), md.ctime_nsec()),
        crtime: system_time(md.mtime(), md.mtime_nsec()),
        kind,
        perm: (md.mode() & 0o7777) as u16,
        nlink: md.nlink() as u32,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        blksize: md.blksize() as u32,
        flags: 0,
    }
}

fn empty_root_attr() -> FileAttr {
    let m = crate::index::Meta {
        kind: Kind::Dir,
        opaque: false,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        mtime_nsec: 0,
        nlink: 2,
        inode: 0,
        size: 0,
        data: 0,
    };
    attr(INodeNo::ROOT.0, &m)
}

/// Whether a path is in the upper directory (not only lower).
fn in_upper(path: &std::path::Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|md| !upper::is_whiteout(&md))
}
