//! The FUSE operations of [`RwFs`]: reads fall through to the lower layers
//! until an entry is copied up; every change lands in the upper directory.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
    WriteFlags,
};
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;

use super::{errno, in_upper, lock, Handle, RwFs, TTL};
use crate::fuse::{init_kernel, is_private_xattr, reply_xattr_list, reply_xattr_value, DirEntry};
use crate::merge::Merged;
use crate::{sys, upper};

fn timespec(t: TimeOrNow) -> TimeSpec {
    let st = match t {
        TimeOrNow::SpecificTime(st) => st,
        TimeOrNow::Now => SystemTime::now(),
    };
    match st.duration_since(UNIX_EPOCH) {
        Ok(d) => TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64),
        Err(e) => {
            let d = e.duration();
            TimeSpec::new(
                -(d.as_secs() as i64) - 1,
                1_000_000_000 - d.subsec_nanos() as i64,
            )
        }
    }
}

const OMIT: TimeSpec = TimeSpec::new(0, libc::UTIME_OMIT);

impl RwFs {
    /// Replies with the entry just created at `path` as `name` in `parent`.
    fn created_entry(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        path: &Path,
        reply: ReplyEntry,
    ) {
        if let Err(e) = std::os::unix::fs::lchown(path, Some(req.uid()), Some(req.gid())) {
            return reply.error(errno(&e));
        }
        let mut t = lock(&self.table);
        let ino = Self::inode_for(&mut t, parent.0, name.as_bytes(), None);
        match self.getattr_ino(&t, ino) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn new_fh(&self, h: Handle) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, h);
        FileHandle(fh)
    }

    /// Removes `name` from `parent`: the upper entry, plus a whiteout when a
    /// lower entry would show through.
    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let mut t = lock(&self.table);
        let (upper_md, lower) = self.resolve(&t, parent.0, name.as_bytes())?;
        let is_dir = upper_md
            .as_ref()
            .map_or(matches!(lower, Some(Merged::Dir(_))), |m| m.is_dir());
        if dir != is_dir {
            return Err(Errno::from_i32(if dir {
                libc::ENOTDIR
            } else {
                libc::EISDIR
            }));
        }
        let ino = Self::inode_for(&mut t, parent.0, name.as_bytes(), lower.clone());
        if dir && !self.children(&t, ino)?.is_empty() {
            return Err(Errno::from_i32(libc::ENOTEMPTY));
        }
        let below = self.lower_exists(&t, parent.0, name.as_bytes());
        let dir_path = self.copy_up(&t, parent.0)?;
        let path = dir_path.join(name);
        if upper_md.is_some() {
            let r = if dir {
                // Only whiteouts can remain in a directory that looks empty.
                fs::read_dir(&path)
                    .and_then(|rd| rd.flatten().try_for_each(|e| fs::remove_file(e.path())))
                    .and_then(|_| fs::remove_dir(&path))
            } else {
                fs::remove_file(&path)
            };
            r.map_err(|e| errno(&e))?;
        }
        if below {
            upper::make_whiteout(&path).map_err(|e| errno(&e))?;
        }
        Self::unbind(&mut t, parent.0, name.as_bytes());
        Ok(())
    }

    /// Whether the lower layers have something at `name` in `parent` that the
    /// upper directory does not already hide by an opaque parent.
    fn lower_exists(&self, t: &super::Table, parent: u64, name: &[u8]) -> bool {
        let Some(dir) = t.inodes.get(&parent) else {
            return false;
        };
        let Ok(parent_upper) = self.upper_path(t, parent) else {
            return false;
        };
        match &dir.lower {
            Some(Merged::Dir(parts)) if !parts.is_empty() && !upper::is_opaque(&parent_upper) => {
                crate::merge::lookup(&self.stack(), parts, name).is_some()
            }
            _ => false,
        }
    }

    fn do_rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        let mut t = lock(&self.table);
        let (src_md, src_lower) = self.resolve(&t, parent.0, name.as_bytes())?;
        let src_is_dir = src_md
            .as_ref()
            .map_or(matches!(src_lower, Some(Merged::Dir(_))), |m| m.is_dir());
        if src_is_dir && src_lower.is_some() {
            return Err(Errno::from_i32(libc::EXDEV));
        }
        let target = self.resolve(&t, newparent.0, newname.as_bytes());
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            match &target {
                Ok((Some(_), None)) if src_lower.is_none() => {}
                _ => return Err(Errno::from_i32(libc::EXDEV)),
            }
        } else if let Ok((t_md, t_lower)) = &target {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::from_i32(libc::EEXIST));
            }
            let t_is_dir = t_md
                .as_ref()
                .map_or(matches!(t_lower, Some(Merged::Dir(_))), |m| m.is_dir());
            match (src_is_dir, t_is_dir) {
                (false, true) => return Err(Errno::from_i32(libc::EISDIR)),
                (true, false) => return Err(Errno::from_i32(libc::ENOTDIR)),
                (true, true) => {
                    let tino =
                        Self::inode_for(&mut t, newparent.0, newname.as_bytes(), t_lower.clone());
                    if !self.children(&t, tino)?.is_empty() {
                        return Err(Errno::from_i32(libc::ENOTEMPTY));
                    }
                }
                _ => {}
            }
        } else if let Err(e) = &target {
            if *e != Errno::ENOENT {
                return Err(*e);
            }
        }
        let src_ino = Self::inode_for(&mut t, parent.0, name.as_bytes(), src_lower.clone());
        let src_path = self.copy_up(&t, src_ino)?;
        let new_dir = self.copy_up(&t, newparent.0)?;
        let dst_path = new_dir.join(newname);
        let target_below = self.lower_exists(&t, newparent.0, newname.as_bytes());
        let src_below = self.lower_exists(&t, parent.0, name.as_bytes());
        if let Ok(md) = fs::symlink_metadata(&dst_path) {
            if md.is_dir() && !flags.contains(RenameFlags::RENAME_EXCHANGE) {
                // An empty-looking target directory may still hold whiteouts.
                let _ = fs::read_dir(&dst_path)
                    .map(|rd| rd.flatten().for_each(|e| drop(fs::remove_file(e.path()))));
            }
        }
        let how = if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            nix::fcntl::RenameFlags::RENAME_EXCHANGE
        } else {
            nix::fcntl::RenameFlags::empty()
        };
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &src_path,
            nix::fcntl::AT_FDCWD,
            &dst_path,
            how,
        )
        .map_err(|e| Errno::from_i32(e as i32))?;
        if src_is_dir && target_below {
            upper::set_opaque(&dst_path).map_err(|e| errno(&e))?;
        }
        if src_below && !flags.contains(RenameFlags::RENAME_EXCHANGE) {
            upper::make_whiteout(&src_path).map_err(|e| errno(&e))?;
        }
        // Move the inode record; the replaced target is forgotten.
        let moved = t.by_name.remove(&(parent.0, name.as_bytes().to_vec()));
        let replaced = t
            .by_name
            .remove(&(newparent.0, newname.as_bytes().to_vec()));
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            if let Some(r) = replaced {
                t.by_name.insert((parent.0, name.as_bytes().to_vec()), r);
                if let Some(i) = t.inodes.get_mut(&r) {
                    (i.parent, i.name) = (parent.0, name.as_bytes().to_vec());
                }
            }
        } else if let Some(r) = replaced {
            t.inodes.remove(&r);
        }
        if let Some(m) = moved {
            t.by_name
                .insert((newparent.0, newname.as_bytes().to_vec()), m);
            if let Some(i) = t.inodes.get_mut(&m) {
                (i.parent, i.name, i.lower) = (newparent.0, newname.as_bytes().to_vec(), None);
            }
        }
        Ok(())
    }

    fn do_setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        times: (Option<TimeOrNow>, Option<TimeOrNow>),
        fh: Option<FileHandle>,
    ) -> Result<fuser::FileAttr, Errno> {
        let t = lock(&self.table);
        let path = self.copy_up(&t, ino)?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(&path, uid, gid).map_err(|e| errno(&e))?;
        }
        if let Some(m) = mode {
            fs::set_permissions(
                &path,
                std::os::unix::fs::PermissionsExt::from_mode(m & 0o7777),
            )
            .map_err(|e| errno(&e))?;
        }
        if let Some(len) = size {
            let files = lock(&self.files);
            match fh.and_then(|f| files.get(&f.0)) {
                Some(Handle::Upper(f)) => f.set_len(len),
                _ => OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(len)),
            }
            .map_err(|e| errno(&e))?;
        }
        if times.0.is_some() || times.1.is_some() {
            let (a, m) = (
                times.0.map_or(OMIT, timespec),
                times.1.map_or(OMIT, timespec),
            );
            upper::set_times(&path, a, m).map_err(|e| errno(&e))?;
        }
        self.getattr_ino(&t, ino)
    }
}

impl Filesystem for RwFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        init_kernel(config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut t = lock(&self.table);
        let r = self
            .resolve(&t, parent.0, name.as_bytes())
            .and_then(|(md, lower)| {
                let ino = Self::inode_for(&mut t, parent.0, name.as_bytes(), lower.clone());
                self.attr_from(ino, md.as_ref(), lower.as_ref())
            });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.getattr_ino(&lock(&self.table), ino.0) {
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
        match self.do_setattr(ino.0, mode, uid, gid, size, (atime, mtime), fh) {
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
            return match fs::read_link(&path) {
                Ok(target) => reply.data(target.as_os_str().as_bytes()),
                Err(e) => reply.error(errno(&e)),
            };
        }
        match t
            .inodes
            .get(&ino.0)
            .and_then(|i| i.lower.as_ref())
            .map(Merged::top)
        {
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
        let prepared = self.prepare_create(&lock(&self.table), parent.0, name.as_bytes());
        let (path, _) = match prepared {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
        if let Err(e) = mknod(
            &path,
            kind,
            Mode::from_bits_truncate(mode & !umask & 0o7777),
            rdev as u64,
        ) {
            return reply.error(Errno::from_i32(e as i32));
        }
        self.created_entry(req, parent, name, &path, reply);
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
        let prepared = self.prepare_create(&lock(&self.table), parent.0, name.as_bytes());
        let (path, hid_lower) = match prepared {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let made = fs::DirBuilder::new()
            .mode(mode & !umask & 0o7777)
            .create(&path)
            .and_then(|_| {
                if hid_lower {
                    upper::set_opaque(&path)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = made {
            return reply.error(errno(&e));
        }
        self.created_entry(req, parent, name, &path, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let prepared = self.prepare_create(&lock(&self.table), parent.0, link_name.as_bytes());
        let (path, _) = match prepared {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        if let Err(e) = std::os::unix::fs::symlink(target, &path) {
            return reply.error(errno(&e));
        }
        self.created_entry(req, parent, link_name, &path, reply);
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
        match self.do_rename(parent, name, newparent, newname, flags) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = {
            let t = lock(&self.table);
            self.copy_up(&t, ino.0).and_then(|src| {
                let (dst, _) = self.prepare_create(&t, newparent.0, newname.as_bytes())?;
                fs::hard_link(&src, &dst).map_err(|e| errno(&e))
            })
        };
        if let Err(e) = r {
            return reply.error(e);
        }
        let mut t = lock(&self.table);
        let new = Self::inode_for(&mut t, newparent.0, newname.as_bytes(), None);
        match self.getattr_ino(&t, new) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let writes = flags.0 & libc::O_ACCMODE != libc::O_RDONLY || flags.0 & libc::O_TRUNC != 0;
        let t = lock(&self.table);
        let handle = (|| {
            let path = if writes {
                self.copy_up(&t, ino.0)?
            } else {
                self.upper_path(&t, ino.0)?
            };
            if in_upper(&path) {
                return upper::open_upper(&path, flags.0)
                    .map(Handle::Upper)
                    .map_err(|e| errno(&e));
            }
            let i = t.inodes.get(&ino.0).ok_or(Errno::ENOENT)?;
            i.lower
                .as_ref()
                .map(|m| Handle::Lower(m.top()))
                .ok_or(Errno::ENOENT)
        })();
        drop(t);
        match handle {
            Ok(h) => reply.opened(self.new_fh(h), FopenFlags::empty()),
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
        let prepared = self.prepare_create(&lock(&self.table), parent.0, name.as_bytes());
        let (path, _) = match prepared {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let acc = flags & libc::O_ACCMODE;
        let file = OpenOptions::new()
            .read(acc != libc::O_WRONLY)
            .write(true)
            .create_new(true)
            .mode(mode & !umask & 0o7777)
            .custom_flags(flags & libc::O_APPEND)
            .open(&path)
            .and_then(|f| {
                std::os::unix::fs::fchown(&f, Some(req.uid()), Some(req.gid())).map(|_| f)
            });
        let file = match file {
            Ok(f) => f,
            Err(e) => return reply.error(errno(&e)),
        };
        let mut t = lock(&self.table);
        let ino = Self::inode_for(&mut t, parent.0, name.as_bytes(), None);
        match self.getattr_ino(&t, ino) {
            Ok(a) => {
                drop(t);
                reply.created(
                    &TTL,
                    &a,
                    Generation(0),
                    self.new_fh(Handle::Upper(file)),
                    FopenFlags::empty(),
                )
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let files = lock(&self.files);
        let mut buf = vec![0u8; size as usize];
        let r = match files.get(&fh.0) {
            Some(Handle::Upper(f)) => read_full_at(f, &mut buf, offset),
            Some(Handle::Lower(n)) => self.layers[n.layer].read_at(n.id, offset, &mut buf),
            None => return reply.error(Errno::EBADF),
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
        let files = lock(&self.files);
        match files.get(&fh.0) {
            Some(Handle::Upper(f)) => match f.write_all_at(data, offset) {
                Ok(()) => reply.written(data.len() as u32),
                Err(e) => reply.error(errno(&e)),
            },
            Some(Handle::Lower(_)) => reply.error(Errno::EBADF),
            None => reply.error(Errno::EBADF),
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
        let files = lock(&self.files);
        let r = match files.get(&fh.0) {
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
            let parent = t.inodes.get(&ino.0).ok_or(Errno::ENOENT)?.parent;
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
            for (name, md, lower) in self.children(&t, ino.0)? {
                let child = Self::inode_for(&mut t, ino.0, &name, lower.clone());
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
        let Some(n) = t
            .inodes
            .get(&ino.0)
            .and_then(|i| i.lower.as_ref())
            .map(Merged::top)
        else {
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
        let Some(n) = t
            .inodes
            .get(&ino.0)
            .and_then(|i| i.lower.as_ref())
            .map(Merged::top)
        else {
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
        let t = lock(&self.table);
        let r = self
            .copy_up(&t, ino.0)
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
        let t = lock(&self.table);
        let r = self
            .copy_up(&t, ino.0)
            .and_then(|p| sys::remove_xattr(&p, name.as_bytes()).map_err(|e| errno(&e)));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full_at(f: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
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
