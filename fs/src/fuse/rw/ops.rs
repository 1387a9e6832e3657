//! The FUSE operations of [`RwFs`]: reads fall through to the lower layers
//! until an entry is copied up; every change lands in the upper directory.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::change::NewNode;
use super::{errno, in_upper, lock, Handle, RwFs, TTL};
use crate::fuse::{init_kernel, is_private_xattr, reply_xattr_list, reply_xattr_value, DirEntry};
use crate::merge::Merged;
use crate::{sys, upper};

impl RwFs {
    /// An open file; the table lock is not held while it is used.
    pub(super) fn handle(&self, fh: FileHandle) -> Option<Arc<Handle>> {
        lock(&self.files).get(&fh.0).map(|f| f.handle.clone())
    }

    /// Attributes of an inode that lost its last name while still open
    /// (unlinked, or replaced by a rename): from one of its open files.
    fn getattr_open(&self, ino: u64) -> Result<FileAttr, Errno> {
        let open = lock(&self.files)
            .values()
            .find(|f| f.ino == ino)
            .map(|f| f.handle.clone());
        match open.as_deref() {
            Some(Handle::Upper(f)) => f
                .metadata()
                .map(|md| super::attr_of_metadata(ino, &md))
                .map_err(|e| errno(&e)),
            Some(Handle::Lower(n, _)) => {
                let mut a = crate::fuse::attr(ino, &self.layers[n.layer].index.meta(n.id));
                a.nlink = 0;
                Ok(a)
            }
            None => Err(Errno::ENOENT),
        }
    }
}

fn reply_entry(reply: ReplyEntry, r: Result<FileAttr, Errno>) {
    match r {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, r: Result<(), Errno>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for RwFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        init_kernel(config);
        // Backing files on a plain file system (depth 1); the mount itself
        // can still be a lower layer of an overlayfs.
        let pt = InitFlags::FUSE_PASSTHROUGH;
        let agreed = config.capabilities().contains(pt)
            && config.set_max_stack_depth(1).is_ok()
            && config.add_capabilities(pt).is_ok();
        self.passthrough.store(agreed, Ordering::Relaxed);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut t = lock(&self.table);
        let r = self
            .resolve(&t, parent.0, name.as_bytes())
            .and_then(|(md, lower)| {
                let ino = self.bind(
                    &mut t,
                    parent.0,
                    name.as_bytes(),
                    md.as_ref(),
                    lower.clone(),
                );
                self.attr_from(ino, md.as_ref(), lower.as_ref())
            });
        reply_entry(reply, r);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let r = self.getattr_ino(&lock(&self.table), ino.0);
        match r.or_else(|e| self.getattr_open(ino.0).map_err(|_| e)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.set_attr(ino.0, (mode, uid, gid), size, (atime, mtime), fh) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let t = lock(&self.table);
        let Ok(path) = self.upper_path(&t, ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if in_upper(&path) {
            return match fs::read_link(&*path) {
                Ok(target) => reply.data(target.as_os_str().as_bytes()),
                Err(e) => reply.error(errno(&e)),
            };
        }
        match t.get(ino.0).and_then(|i| i.lower.as_ref()).map(Merged::top) {
            Some(n) if self.layers[n.layer].index.kind(n.id) == crate::index::Kind::Symlink => {
                reply.data(self.layers[n.layer].index.link_target(n.id))
            }
            Some(_) => reply.error(Errno::from_i32(libc::EINVAL)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let node = NewNode::Special(mode, rdev as u64);
        let r = self.make_node(req, parent.0, name, node, mode & !umask);
        reply_entry(reply, r);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.make_node(req, parent.0, name, NewNode::Dir, mode & !umask);
        reply_entry(reply, r);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove(parent.0, name, true));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = self.make_node(req, parent.0, link_name, NewNode::Symlink(target), 0o777);
        reply_entry(reply, r);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.rename_entry((parent.0, name), (newparent.0, newname), flags);
        reply_empty(reply, r);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.make_link(ino.0, newparent.0, newname));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let truncates = flags.0 & libc::O_TRUNC != 0;
        let writes = flags.0 & libc::O_ACCMODE != libc::O_RDONLY || truncates;
        if writes && !truncates {
            if let Err(e) = self.copy_up_unlocked(ino.0) {
                return reply.error(e);
            }
        }
        let t = lock(&self.table);
        let opened = (|| {
            let path = if writes {
                self.copy_up(&t, ino.0, !truncates)?
            } else {
                self.upper_path(&t, ino.0)?
            };
            if in_upper(&path) {
                let f = upper::open_upper(&path, flags.0).map_err(|e| errno(&e))?;
                // Recorded under the table lock: no open of this inode as a
                // lower file can slip in before it (`passthrough.rs`).
                return Ok(self.open_file(ino.0, Handle::Upper(f), Some(&path), |f| {
                    reply.open_backing(f)
                }));
            }
            let i = t.get(ino.0).ok_or(Errno::ENOENT)?;
            let h = i
                .lower
                .as_ref()
                .map(|m| Handle::Lower(m.top(), Default::default()))
                .ok_or(Errno::ENOENT)?;
            Ok(self.open_file(ino.0, h, None, |_| unreachable_backing()))
        })();
        drop(t);
        match opened {
            Ok((fh, Some(b))) => reply.opened_passthrough(fh, FopenFlags::empty(), &b),
            Ok((fh, None)) => reply.opened(fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (a, file, path) = match self.create_file(req, parent.0, name, mode & !umask, flags) {
            Ok(created) => created,
            Err(e) => return reply.error(e),
        };
        let (fh, backing) = self.open_file(a.ino.0, Handle::Upper(file), Some(&path), |f| {
            reply.open_backing(f)
        });
        let no = FopenFlags::empty();
        match backing {
            Some(b) => reply.created_passthrough(&TTL, &a, Generation(0), fh, no, &b),
            None => reply.created(&TTL, &a, Generation(0), fh, no),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(h) = self.handle(fh) else {
            return reply.error(Errno::EBADF);
        };
        let mut buf = vec![0u8; size as usize];
        let r = match &*h {
            Handle::Upper(f) => read_full_at(f, &mut buf, offset),
            Handle::Lower(n, upper) => self.read_lower(ino.0, (n, upper), offset, &mut buf),
        };
        match r {
            Ok(n) => reply.data(&buf[..n]),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _wf: WriteFlags,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.handle(fh).as_deref() {
            Some(Handle::Upper(f)) => match f.write_all_at(data, offset) {
                Ok(()) => reply.written(data.len() as u32),
                Err(e) => reply.error(errno(&e)),
            },
            Some(Handle::Lower(..)) | None => reply.error(Errno::EBADF),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = match self.handle(fh).as_deref() {
            Some(Handle::Upper(f)) if datasync => f.sync_data(),
            Some(Handle::Upper(f)) => f.sync_all(),
            _ => Ok(()),
        };
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.files).remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut t = lock(&self.table);
        let listing = (|| {
            let parent = t.parent(ino.0).ok_or(Errno::ENOENT)?;
            let mut list = vec![
                DirEntry {
                    name: (*b".").into(),
                    attr: self.getattr_ino(&t, ino.0)?,
                },
                DirEntry {
                    name: (*b"..").into(),
                    attr: self.getattr_ino(&t, parent)?,
                },
            ];
            for (name, (md, lower)) in self.children(&t, ino.0)? {
                let child = self.bind(&mut t, ino.0, &name, md.as_ref(), lower.clone());
                list.push(DirEntry {
                    attr: self.attr_from(child, md.as_ref(), lower.as_ref())?,
                    name: name.into(),
                });
            }
            Ok(list)
        })();
        match listing {
            Ok(list) => reply.opened(self.open_dirs.open(list), FopenFlags::empty()),
            Err(e) => reply.error(e),
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

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match nix::sys::statvfs::statvfs(&self.upper) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                s.block_size() as u32,
                255,
                s.fragment_size() as u32,
            ),
            Err(e) => reply.error(Errno::from_i32(e as i32)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let t = lock(&self.table);
        let Ok(path) = self.upper_path(&t, ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if is_private_xattr(name.as_bytes()) {
            return reply_xattr_value(None, size, reply);
        }
        if in_upper(&path) {
            return match sys::get_xattr(&path, name.as_bytes()) {
                Ok(v) => reply_xattr_value(v.as_deref(), size, reply),
                Err(e) => reply.error(errno(&e)),
            };
        }
        let Some(n) = t.get(ino.0).and_then(|i| i.lower.as_ref()).map(Merged::top) else {
            return reply.error(Errno::ENOENT);
        };
        let value = self.layers[n.layer]
            .index
            .xattrs(n.id)
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v);
        reply_xattr_value(value, size, reply);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let t = lock(&self.table);
        let Ok(path) = self.upper_path(&t, ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if in_upper(&path) {
            return match sys::list_xattrs(&path) {
                Ok(names) => reply_xattr_list(
                    names
                        .iter()
                        .map(Vec::as_slice)
                        .filter(|n| !is_private_xattr(n)),
                    size,
                    reply,
                ),
                Err(e) => reply.error(errno(&e)),
            };
        }
        let Some(n) = t.get(ino.0).and_then(|i| i.lower.as_ref()).map(Merged::top) else {
            return reply.error(Errno::ENOENT);
        };
        reply_xattr_list(
            self.layers[n.layer]
                .index
                .xattrs(n.id)
                .map(|(k, _)| k)
                .filter(|k| !is_private_xattr(k)),
            size,
            reply,
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if is_private_xattr(name.as_bytes()) {
            return reply.error(Errno::EPERM);
        }
        if let Err(e) = self.copy_up_unlocked(ino.0) {
            return reply.error(e);
        }
        let t = lock(&self.table);
        let r = self
            .copy_up(&t, ino.0, true)
            .and_then(|p| sys::set_xattr(&p, name.as_bytes(), value, flags).map_err(|e| errno(&e)));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if is_private_xattr(name.as_bytes()) {
            return reply.error(Errno::EPERM);
        }
        if let Err(e) = self.copy_up_unlocked(ino.0) {
            return reply.error(e);
        }
        let t = lock(&self.table);
        let r = self
            .copy_up(&t, ino.0, true)
            .and_then(|p| sys::remove_xattr(&p, name.as_bytes()).map_err(|e| errno(&e)));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// The backing file of a lower file: never asked for (only upper files have
/// one).
fn unreachable_backing() -> io::Result<fuser::BackingId> {
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// Reads until `buf` is full or the file ends.
pub(super) fn read_full_at(f: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
