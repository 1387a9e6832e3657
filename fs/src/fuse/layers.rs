//! The layer view: one directory per layer of the store, each showing that
//! layer as it is, whiteouts in overlayfs form (0/0 character devices, opaque
//! directories with `trusted.overlay.opaque=y`), so the directories can be
//! stacked as lowerdirs by the kernel's overlayfs.
//!
//! Inodes: 1 is the root listing the layers; layer slot `s` (assigned when
//! the layer is first opened) uses `(s + 1) << 32 | inode entry`. The list
//! of layers is asked from the [`LayerSource`] at every root lookup and
//! listing, so layers ingested after the mount appear without remounting.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, RwLock};

use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig,
    LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};

use super::{
    attr, dir_nlink, hex, init_kernel, reply_xattr_list, reply_xattr_value, DirEntry, OpenDirs, TTL,
};
use crate::index::{EntryId, Kind, Meta, ROOT};
use crate::layer::Layer;

/// Where the layer view finds layers (the store, for `sealer`).
pub trait LayerSource: Send + Sync + 'static {
    /// Hex digests of the layers to show now.
    fn list(&self) -> Vec<String>;
    /// Opens a layer by hex digest; `None` (after logging why) if it cannot.
    fn open(&self, hex: &str) -> Option<Layer>;
}

/// An entry's attributes; directories count their subdirectories as links,
/// as the kernel's overlayfs expects of a lower directory.
fn entry_attr(ino: u64, layer: &Layer, id: EntryId) -> FileAttr {
    let mut a = attr(ino, &layer.index.meta(id));
    if layer.index.kind(id) == Kind::Dir {
        a.nlink = dir_nlink(&layer.index, id);
    }
    a
}

const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

#[derive(Default)]
struct Slots {
    layers: Vec<Arc<Layer>>,
    by_hex: HashMap<String, usize>,
}

/// Every layer of a store, one directory each.
pub struct LayerDirFs<S> {
    source: S,
    slots: RwLock<Slots>,
    open_dirs: OpenDirs,
}

impl<S: LayerSource> LayerDirFs<S> {
    /// Serves the layers `source` lists.
    pub fn new(source: S) -> Self {
        LayerDirFs {
            source,
            slots: RwLock::new(Slots::default()),
            open_dirs: OpenDirs::default(),
        }
    }

    /// The slot of a layer, opening it on first use.
    fn slot(&self, hex: &str) -> Option<usize> {
        if let Some(&s) = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_hex
            .get(hex)
        {
            return Some(s);
        }
        let layer = self.source.open(hex)?;
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&s) = slots.by_hex.get(hex) {
            return Some(s);
        }
        slots.layers.push(Arc::new(layer));
        let s = slots.layers.len() - 1;
        slots.by_hex.insert(hex.to_string(), s);
        Some(s)
    }

    fn node(&self, ino: u64) -> Option<(Arc<Layer>, EntryId)> {
        let slot = (ino >> 32).checked_sub(1)? as usize;
        let layer = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .layers
            .get(slot)?
            .clone();
        let id = ino as u32;
        (id < layer.index.len()).then_some((layer, id))
    }

    fn ino(slot: usize, layer: &Layer, id: EntryId) -> u64 {
        let m = layer.index.meta(id);
        (slot as u64 + 1) << 32 | m.inode as u64
    }

    /// The root: the directory of the layers, private to the user who
    /// serves it (root, or the ordinary user who mounted it), as
    /// `/var/lib/docker/overlay2` is root's.
    fn root_attr() -> FileAttr {
        let m = Meta {
            kind: Kind::Dir,
            opaque: false,
            mode: 0o700,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            mtime: 0,
            mtime_nsec: 0,
            nlink: 2,
            inode: 0,
            size: 0,
            data: 0,
        };
        attr(INodeNo::ROOT.0, &m)
    }

    fn attr_of(&self, ino: u64) -> Option<FileAttr> {
        if ino == INodeNo::ROOT.0 {
            return Some(Self::root_attr());
        }
        let (layer, id) = self.node(ino)?;
        Some(entry_attr(ino, &layer, id))
    }

    fn listing(&self, ino: u64) -> Option<Vec<DirEntry>> {
        let mut list = vec![DirEntry {
            name: (*b".").into(),
            attr: self.attr_of(ino)?,
        }];
        if ino == INodeNo::ROOT.0 {
            list.push(DirEntry {
                name: (*b"..").into(),
                attr: Self::root_attr(),
            });
            for h in self.source.list() {
                let Some(slot) = self.slot(&h) else { continue };
                let Some((layer, _)) = self.node((slot as u64 + 1) << 32) else {
                    continue;
                };
                list.push(DirEntry {
                    name: h.as_bytes().into(),
                    attr: entry_attr(Self::ino(slot, &layer, ROOT), &layer, ROOT),
                });
            }
            return Some(list);
        }
        let (layer, id) = self.node(ino)?;
        if layer.index.kind(id) != Kind::Dir {
            return None;
        }
        let slot = (ino >> 32) as usize - 1;
        let parent = if id == ROOT {
            INodeNo::ROOT.0
        } else {
            Self::ino(slot, &layer, layer.index.parent(id))
        };
        list.push(DirEntry {
            name: (*b"..").into(),
            attr: self.attr_of(parent)?,
        });
        for c in layer.index.children(id) {
            list.push(DirEntry {
                name: layer.index.name(c).into(),
                attr: entry_attr(Self::ino(slot, &layer, c), &layer, c),
            });
        }
        Some(list)
    }

    fn xattr_names(layer: &Layer, id: EntryId) -> Vec<&[u8]> {
        let mut names: Vec<&[u8]> = layer.index.xattrs(id).map(|(k, _)| k).collect();
        if layer.index.meta(id).opaque {
            names.push(OPAQUE_XATTR);
        }
        names
    }
}

impl<S: LayerSource> Filesystem for LayerDirFs<S> {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        init_kernel(config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == INodeNo::ROOT {
            let Some(h) = name
                .to_str()
                .filter(|h| self.source.list().iter().any(|l| l == h))
            else {
                return reply.error(Errno::ENOENT);
            };
            let Some(slot) = self.slot(h) else {
                return reply.error(Errno::EIO);
            };
            let Some((layer, _)) = self.node((slot as u64 + 1) << 32) else {
                return reply.error(Errno::EIO);
            };
            return reply.entry(
                &TTL,
                &entry_attr(Self::ino(slot, &layer, ROOT), &layer, ROOT),
                Generation(0),
            );
        }
        let Some((layer, id)) = self.node(parent.0) else {
            return reply.error(Errno::ENOENT);
        };
        match layer.index.lookup(id, name.as_bytes()) {
            Some(c) => {
                let ino = Self::ino((parent.0 >> 32) as usize - 1, &layer, c);
                reply.entry(&TTL, &entry_attr(ino, &layer, c), Generation(0));
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino.0) {
            Some((l, id)) if l.index.kind(id) == Kind::Symlink => {
                reply.data(l.index.link_target(id))
            }
            Some(_) => reply.error(Errno::from_i32(libc::EINVAL)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::from_i32(libc::EROFS));
        }
        match self.node(ino.0) {
            Some(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some((layer, id)) = self.node(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let mut buf = vec![0u8; size as usize];
        match layer.read_at(id, offset, &mut buf) {
            Ok(got) => reply.data(&buf[..got]),
            Err(e) => {
                let path = String::from_utf8_lossy(&layer.index.path(id)).into_owned();
                log::error!(
                    "reading {path} of layer sha256:{}: {e}",
                    hex(layer.index.digest())
                );
                reply.error(Errno::EIO)
            }
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.listing(ino.0) {
            // The root changes as layers arrive: do not let the kernel cache it.
            Some(list) if ino == INodeNo::ROOT => {
                reply.opened(self.open_dirs.open(list), FopenFlags::empty())
            }
            Some(list) => reply.opened(
                self.open_dirs.open(list),
                FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
            ),
            None => reply.error(Errno::from_i32(libc::ENOTDIR)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.open_dirs.readdir(fh, offset, reply);
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.open_dirs.readdirplus(fh, offset, reply);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.open_dirs.release(fh);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(0, 0, 0, 0, 0, 4096, 255, 4096);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let Some((layer, id)) = self.node(ino.0) else {
            return reply_xattr_value(None, size, reply);
        };
        let name = name.as_bytes();
        if name == OPAQUE_XATTR {
            let v: Option<&[u8]> = layer.index.meta(id).opaque.then_some(b"y");
            return reply_xattr_value(v, size, reply);
        }
        let value = layer
            .index
            .xattrs(id)
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v);
        reply_xattr_value(value, size, reply);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let Some((layer, id)) = self.node(ino.0) else {
            return reply_xattr_list(std::iter::empty(), size, reply);
        };
        reply_xattr_list(Self::xattr_names(&layer, id).into_iter(), size, reply);
    }
}
