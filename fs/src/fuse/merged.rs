//! The merged, read-only view of an image's layers as a FUSE filesystem.
//!
//! Inode numbers are stable across mounts of the same image:
//! `ino = (layer position from the top << 32 | inode entry) + 1`, where the
//! inode entry is the first record of the entry's hard-link group, so hard
//! links share one inode and the root is 1. Files need no state: the inode
//! number says where their bytes are. Directories remember their merged parts
//! and parent (one small vector per directory looked up); open directories
//! keep their listing until released.

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
    attr, dir_nlink, hex, init_kernel, is_private_xattr, reply_xattr_list, reply_xattr_value,
    DirEntry, OpenDirs, TTL,
};
use crate::index::{Kind, LayerIndex};
use crate::layer::Layer;
use crate::merge::{self, Merged, Node};

/// A directory looked up so far: its parts in every layer and its parent.
struct Dir {
    parts: Arc<[Node]>,
    parent: u64,
}

/// An image's layers served as one read-only tree.
pub struct MergedFs {
    layers: Vec<Layer>,
    dirs: RwLock<HashMap<u64, Dir>>,
    open_dirs: OpenDirs,
    total_size: u64,
    total_entries: u64,
}

impl MergedFs {
    /// Serves `layers`, top layer first.
    pub fn new(layers: Vec<Layer>) -> MergedFs {
        let total_size = layers.iter().map(|l| l.index.blob_size()).sum();
        let total_entries = layers.iter().map(|l| l.index.len() as u64).sum();
        let fs = MergedFs {
            layers,
            dirs: RwLock::new(HashMap::new()),
            open_dirs: OpenDirs::default(),
            total_size,
            total_entries,
        };
        let parts: Arc<[Node]> = match merge::root(&fs.stack()) {
            Merged::Dir(parts) => parts.into(),
            Merged::Leaf(n) => Arc::new([n]),
        };
        fs.dirs.write().unwrap_or_else(|e| e.into_inner()).insert(
            INodeNo::ROOT.0,
            Dir {
                parts,
                parent: INodeNo::ROOT.0,
            },
        );
        fs
    }

    fn stack(&self) -> Vec<&LayerIndex> {
        self.layers.iter().map(|l| &l.index).collect()
    }

    fn ino_of(&self, n: Node) -> u64 {
        let inode = self.layers[n.layer].index.meta(n.id).inode;
        ((n.layer as u64) << 32 | inode as u64) + 1
    }

    /// The entry an inode number stands for, if it is valid.
    fn node_of(&self, ino: u64) -> Option<Node> {
        let v = ino.checked_sub(1)?;
        let (layer, id) = ((v >> 32) as usize, v as u32);
        (layer < self.layers.len() && id < self.layers[layer].index.len())
            .then_some(Node { layer, id })
    }

    /// Attributes of a merged entry. Directories get the kernel overlayfs's
    /// link count: 1 when merged from several layers (it cannot be known
    /// cheaply), else 2 + the subdirectories of the one layer holding it.
    fn merged_attr(&self, ino: u64, top: Node, parts: Option<&[Node]>) -> FileAttr {
        let index = &self.layers[top.layer].index;
        let mut a = attr(ino, &index.meta(top.id));
        if let Some(parts) = parts {
            a.nlink = if parts.len() > 1 {
                1
            } else {
                dir_nlink(index, top.id)
            };
        }
        a
    }

    fn attr_of(&self, ino: u64) -> Option<FileAttr> {
        if self.layers.is_empty() && ino == INodeNo::ROOT.0 {
            let root = crate::index::Meta {
                kind: Kind::Dir,
                opaque: false,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: 0,
                mtime_nsec: 0,
                nlink: 1,
                inode: 0,
                size: 0,
                data: 0,
            };
            return Some(attr(ino, &root));
        }
        let n = self.node_of(ino)?;
        let dir = self.dir(ino);
        Some(self.merged_attr(ino, n, dir.as_ref().map(|(p, _)| &p[..])))
    }

    fn dir(&self, ino: u64) -> Option<(Arc<[Node]>, u64)> {
        self.dirs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ino)
            .map(|d| (d.parts.clone(), d.parent))
    }

    /// Registers a merged entry found in directory `parent`; returns its inode.
    fn remember(&self, m: &Merged, parent: u64) -> u64 {
        let ino = self.ino_of(m.top());
        if let Merged::Dir(parts) = m {
            let mut dirs = self.dirs.write().unwrap_or_else(|e| e.into_inner());
            dirs.entry(ino).or_insert_with(|| Dir {
                parts: parts.as_slice().into(),
                parent,
            });
        }
        ino
    }

    fn listing(&self, ino: u64) -> Option<Vec<DirEntry>> {
        let (parts, parent) = self.dir(ino)?;
        let mut list = vec![
            DirEntry {
                name: (*b".").into(),
                attr: self.attr_of(ino)?,
            },
            DirEntry {
                name: (*b"..").into(),
                attr: self.attr_of(parent)?,
            },
        ];
        if self.layers.is_empty() {
            return Some(list);
        }
        for (name, m) in merge::read_dir(&self.stack(), &parts) {
            let child = self.remember(&m, ino);
            let attr = self.merged_attr(child, m.top(), dir_parts(&m));
            list.push(DirEntry {
                name: name.into(),
                attr,
            });
        }
        Some(list)
    }
}

fn dir_parts(m: &Merged) -> Option<&[Node]> {
    match m {
        Merged::Dir(parts) => Some(parts),
        Merged::Leaf(_) => None,
    }
}

impl Filesystem for MergedFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        init_kernel(config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some((parts, _)) = self.dir(parent.0) else {
            return reply.error(if self.node_of(parent.0).is_some() {
                Errno::from_i32(libc::ENOTDIR)
            } else {
                Errno::ENOENT
            });
        };
        if self.layers.is_empty() {
            return reply.error(Errno::ENOENT);
        }
        match merge::lookup(&self.stack(), &parts, name.as_bytes()) {
            Some(m) => {
                let ino = self.remember(&m, parent.0);
                reply.entry(
                    &TTL,
                    &self.merged_attr(ino, m.top(), dir_parts(&m)),
                    Generation(0),
                );
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
        match self.node_of(ino.0) {
            Some(n) if self.layers[n.layer].index.kind(n.id) == Kind::Symlink => {
                reply.data(self.layers[n.layer].index.link_target(n.id))
            }
            Some(_) => reply.error(Errno::from_i32(libc::EINVAL)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::from_i32(libc::EROFS));
        }
        match self.node_of(ino.0) {
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
        let Some(n) = self.node_of(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let layer = &self.layers[n.layer];
        let mut buf = vec![0u8; size as usize];
        match layer.read_at(n.id, offset, &mut buf) {
            Ok(got) => reply.data(&buf[..got]),
            Err(e) => {
                let path = String::from_utf8_lossy(&layer.index.path(n.id)).into_owned();
                eprintln!(
                    "error: reading {path} of layer sha256:{}: {e}",
                    hex(layer.index.digest())
                );
                reply.error(Errno::EIO)
            }
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.listing(ino.0) {
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
        reply.statfs(
            self.total_size.div_ceil(4096),
            0,
            0,
            self.total_entries,
            0,
            4096,
            255,
            4096,
        );
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let Some(n) = self.node_of(ino.0) else {
            return reply_xattr_value(None, size, reply);
        };
        let name = name.as_bytes();
        let value = if is_private_xattr(name) {
            None
        } else {
            self.layers[n.layer]
                .index
                .xattrs(n.id)
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v)
        };
        reply_xattr_value(value, size, reply);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let Some(n) = self.node_of(ino.0) else {
            return reply_xattr_list(std::iter::empty(), size, reply);
        };
        let names = self.layers[n.layer]
            .index
            .xattrs(n.id)
            .map(|(k, _)| k)
            .filter(|k| !is_private_xattr(k));
        reply_xattr_list(names, size, reply);
    }
}
