//! The merged, read-only view of an image's layers as a FUSE filesystem.
//!
//! Inode numbers are stable across mounts of the same image:
//! `ino = (layer position from the top << 32 | inode entry) + 1`, where the
//! inode entry is the first record of the entry's hard-link group, so hard
//! links share one inode and the root is 1. Files need no state: the inode
//! number says where their bytes are. Directories remember their merged parts
//! and parent (inline for a directory of one layer, else a shared slice).
//!
//! Open and opendir answer ENOSYS, which the kernel takes as "no open needed"
//! for the rest of the mount (zero-message open): files then keep their page
//! cache and directories their listing cache, and neither costs a round trip
//! per open and release. A listing is read by offset, so the merged listing
//! is built at offset 0 and kept in [`Listings`] until the kernel asks past
//! its end.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, RwLock};

use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, Generation, INodeNo, KernelConfig, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyXattr, Request,
};

use super::{
    attr, dir_nlink, hex, init_kernel, is_private_xattr, reply_xattr_list, reply_xattr_value, TTL,
};
use crate::index::{Kind, LayerIndex};
use crate::layer::Layer;
use crate::merge::{self, Merged, Node};

/// A directory looked up so far: its parts in every layer and its parent.
struct Dir {
    parts: Parts,
    parent: u64,
}

/// A directory's parts, top first. Most directories live in one layer and
/// need no allocation; merged ones share a slice.
#[derive(Clone)]
enum Parts {
    One(Node),
    Many(Arc<[Node]>),
}

impl Parts {
    fn new(parts: &[Node]) -> Parts {
        match parts {
            [one] => Parts::One(*one),
            many => Parts::Many(many.into()),
        }
    }
}

impl std::ops::Deref for Parts {
    type Target = [Node];

    fn deref(&self) -> &[Node] {
        match self {
            Parts::One(n) => std::slice::from_ref(n),
            Parts::Many(p) => p,
        }
    }
}

/// One entry of a merged directory's listing; names stay in the indexes.
#[derive(Clone, Copy)]
enum Listed {
    /// `.` (`parent` false) or `..`, standing for inode `ino`.
    Dot { ino: u64, parent: bool },
    /// A visible child: its inode, the entry giving its attributes and, for a
    /// directory, how many layers it is merged from.
    Child {
        ino: u64,
        top: Node,
        parts: Option<usize>,
    },
}

/// Listings being read, by directory inode: built when a directory is read
/// from offset 0, dropped at the kernel's last call, which asks past the end
/// (or replaced by the next read from offset 0, if a reader stops early).
#[derive(Default)]
struct Listings(Mutex<HashMap<u64, Arc<[Listed]>>>);

impl Listings {
    fn get(&self, ino: u64) -> Option<Arc<[Listed]>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ino)
            .cloned()
    }

    fn put(&self, ino: u64, list: Arc<[Listed]>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(ino, list);
    }

    /// Forgets `list` once read past its end (unless a newer one replaced it).
    fn done(&self, ino: u64, list: &Arc<[Listed]>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&ino).is_some_and(|l| Arc::ptr_eq(l, list)) {
            map.remove(&ino);
        }
    }
}

thread_local! {
    /// Each server thread's read buffer, reused across reads (up to the
    /// kernel's max_pages per read): no allocation and zeroing per read.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// An image's layers served as one read-only tree.
pub struct MergedFs {
    layers: Vec<Layer>,
    dirs: RwLock<HashMap<u64, Dir>>,
    listings: Listings,
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
            listings: Listings::default(),
            total_size,
            total_entries,
        };
        let parts = match merge::root(&fs.stack()) {
            Merged::Dir(parts) => Parts::new(&parts),
            Merged::Leaf(n) => Parts::One(n),
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
    fn merged_attr(&self, ino: u64, top: Node, parts: Option<usize>) -> FileAttr {
        let index = &self.layers[top.layer].index;
        let mut a = attr(ino, &index.meta(top.id));
        if let Some(parts) = parts {
            a.nlink = if parts > 1 {
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
        Some(self.merged_attr(ino, n, dir.as_ref().map(|(p, _)| p.len())))
    }

    fn dir(&self, ino: u64) -> Option<(Parts, u64)> {
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
                parts: Parts::new(parts),
                parent,
            });
        }
        ino
    }

    /// The merged listing of directory `ino`, `.` and `..` first.
    fn listing(&self, ino: u64) -> Option<Arc<[Listed]>> {
        let (parts, parent) = self.dir(ino)?;
        let dots = [
            Listed::Dot { ino, parent: false },
            Listed::Dot {
                ino: parent,
                parent: true,
            },
        ];
        let list = match &*parts {
            [] => dots.to_vec(),
            // One layer: its children as indexed (sorted, unique), less the
            // whiteouts; what merge::read_dir gives, without merging.
            [one] => {
                let index = &self.layers[one.layer].index;
                let ids = index.children(one.id);
                let mut list = Vec::with_capacity(ids.len() + 2);
                list.extend(dots);
                for id in ids {
                    let top = Node {
                        layer: one.layer,
                        id,
                    };
                    let m = match index.kind(id) {
                        Kind::Whiteout => continue,
                        Kind::Dir => Merged::Dir(vec![top]),
                        _ => Merged::Leaf(top),
                    };
                    list.push(self.listed_child(&m, ino));
                }
                list
            }
            many => {
                let children = merge::read_dir(&self.stack(), many);
                let mut list = Vec::with_capacity(children.len() + 2);
                list.extend(dots);
                list.extend(children.iter().map(|(_, m)| self.listed_child(m, ino)));
                list
            }
        };
        Some(list.into())
    }

    fn listed_child(&self, m: &Merged, dir: u64) -> Listed {
        Listed::Child {
            ino: self.remember(m, dir),
            top: m.top(),
            parts: dir_parts(m).map(<[Node]>::len),
        }
    }

    /// The listing to send from `offset`: a fresh one at 0, else the one
    /// being read (rebuilt if it was dropped; listings never change).
    fn listing_at(&self, ino: u64, offset: u64) -> Option<Arc<[Listed]>> {
        if offset > 0 {
            if let Some(list) = self.listings.get(ino) {
                return Some(list);
            }
        }
        let list = self.listing(ino)?;
        self.listings.put(ino, list.clone());
        Some(list)
    }

    /// Name and attributes of a listed entry.
    fn listed(&self, e: &Listed) -> Option<(&[u8], FileAttr)> {
        match *e {
            Listed::Dot { ino, parent } => {
                Some((if parent { &b".."[..] } else { b"." }, self.attr_of(ino)?))
            }
            Listed::Child { ino, top, parts } => Some((
                self.layers[top.layer].index.name(top.id),
                self.merged_attr(ino, top, parts),
            )),
        }
    }

    /// Adds the entries of directory `ino` from `offset` with `add` (which
    /// says when the reply is full); false if `ino` is not a directory.
    fn fill_dir(
        &self,
        ino: u64,
        offset: u64,
        mut add: impl FnMut(u64, &[u8], &FileAttr) -> bool,
    ) -> bool {
        let Some(list) = self.listing_at(ino, offset) else {
            return false;
        };
        if offset as usize >= list.len() {
            self.listings.done(ino, &list);
        }
        for (i, e) in list.iter().enumerate().skip(offset as usize) {
            let Some((name, attr)) = self.listed(e) else {
                continue;
            };
            if add(i as u64 + 1, name, &attr) {
                break;
            }
        }
        true
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
                let parts = dir_parts(&m).map(<[Node]>::len);
                reply.entry(&TTL, &self.merged_attr(ino, m.top(), parts), Generation(0));
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

    /// ENOSYS: no open needed, for this and every later file (the kernel
    /// then keeps the page cache, as FOPEN_KEEP_CACHE would). The mount is
    /// read-only, so the kernel refuses writes before they get here.
    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.error(Errno::ENOSYS);
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
        READ_BUF.with_borrow_mut(|buf| {
            let size = size as usize;
            if buf.len() < size {
                buf.resize(size, 0);
            }
            match layer.read_at(n.id, offset, &mut buf[..size]) {
                Ok(got) => {
                    reply.data(&buf[..got]);
                    layer.served_stream(n.id, offset, got);
                }
                Err(e) => {
                    let path = String::from_utf8_lossy(&layer.index.path(n.id)).into_owned();
                    log::error!(
                        "reading {path} of layer sha256:{}: {e}",
                        hex(layer.index.digest())
                    );
                    reply.error(Errno::EIO)
                }
            }
        })
    }

    /// ENOSYS: no opendir needed, for this and every later directory (the
    /// kernel then caches listings, as FOPEN_CACHE_DIR would).
    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.error(Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let found = self.fill_dir(ino.0, offset, |off, name, a| {
            reply.add(a.ino, off, a.kind, OsStr::from_bytes(name))
        });
        if found {
            reply.ok();
        } else {
            reply.error(Errno::from_i32(libc::ENOTDIR));
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let found = self.fill_dir(ino.0, offset, |off, name, a| {
            reply.add(a.ino, off, OsStr::from_bytes(name), &TTL, a, Generation(0))
        });
        if found {
            reply.ok();
        } else {
            reply.error(Errno::from_i32(libc::ENOTDIR));
        }
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
