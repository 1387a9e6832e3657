//! The changes of [`RwFs`], each a function returning `Result` for the thin
//! FUSE replies in `ops`: making entries (owner and mode set explicitly, as
//! the caller asked), removing (whiteouts), renaming, linking, setattr.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use fuser::{Errno, FileAttr, FileHandle, RenameFlags, Request, TimeOrNow};
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;

use super::table::Table;
use super::{errno, lock, Handle, RwFs};
use crate::merge::Merged;
use crate::upper::{self, UpperPath};

/// What to make at a new name.
pub(super) enum NewNode<'a> {
    Dir,
    Symlink(&'a Path),
    /// mknod: file type bits and device number.
    Special(u32, u64),
}

fn err(code: i32) -> Errno {
    Errno::from_i32(code)
}

fn timespec(t: TimeOrNow) -> TimeSpec {
    let st = match t {
        TimeOrNow::SpecificTime(st) => st,
        TimeOrNow::Now => return TimeSpec::new(0, libc::UTIME_NOW),
    };
    match st.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos() as i64);
            if n == 0 {
                TimeSpec::new(-s, 0)
            } else {
                TimeSpec::new(-s - 1, 1_000_000_000 - n)
            }
        }
    }
}

const OMIT: TimeSpec = TimeSpec::new(0, libc::UTIME_OMIT);

/// Owner of a new entry: the caller, with the group of a setgid parent.
fn new_owner(req: &Request, dir: &Path) -> Result<(u32, u32, bool), Errno> {
    let md = fs::metadata(dir).map_err(|e| errno(&e))?;
    let sgid = md.mode() & libc::S_ISGID != 0;
    Ok((req.uid(), if sgid { md.gid() } else { req.gid() }, sgid))
}

impl RwFs {
    /// Binds a new entry at `name` in `parent` and returns its attributes.
    fn bind_new(&self, parent: u64, name: &[u8]) -> Result<FileAttr, Errno> {
        let mut t = lock(&self.table);
        t.unbind(parent, name);
        let ino = t.bind(parent, name, None);
        self.getattr_ino(&t, ino)
    }

    /// mkdir, symlink, mknod: makes the entry, owned by the caller, with
    /// `mode & !umask` (a directory in a setgid directory is setgid too).
    pub(super) fn make_node(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        node: NewNode,
        mode: u32,
    ) -> Result<FileAttr, Errno> {
        if let NewNode::Special(kind, 0) = node {
            if kind & libc::S_IFMT == libc::S_IFCHR {
                // A 0/0 character device is a whiteout; overlayfs refuses it too.
                return Err(Errno::EPERM);
            }
        }
        let (dir, path, hid_lower) =
            self.prepare_create(&lock(&self.table), parent, name.as_bytes())?;
        let (uid, gid, sgid_dir) = new_owner(req, &dir)?;
        let mut perm = mode & 0o7777;
        let made = match node {
            NewNode::Dir => {
                perm |= if sgid_dir { libc::S_ISGID } else { 0 };
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&*path)
                    .and_then(|_| {
                        if hid_lower {
                            upper::set_opaque(&path)
                        } else {
                            Ok(())
                        }
                    })
            }
            NewNode::Symlink(target) => std::os::unix::fs::symlink(target, &*path),
            NewNode::Special(kind, rdev) => mknod(
                &*path,
                SFlag::from_bits_truncate(kind & libc::S_IFMT),
                Mode::from_bits_truncate(0o600),
                rdev,
            )
            .map_err(std::io::Error::from),
        };
        made.and_then(|_| std::os::unix::fs::lchown(&*path, Some(uid), Some(gid)))
            .and_then(|_| match node {
                NewNode::Symlink(_) => Ok(()),
                _ => fs::set_permissions(&*path, fs::Permissions::from_mode(perm)),
            })
            .map_err(|e| errno(&e))?;
        self.bind_new(parent, name.as_bytes())
    }

    /// create: a new regular file, open, owned by the caller; with its path.
    pub(super) fn create_file(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> Result<(FileAttr, File, UpperPath), Errno> {
        let (dir, path, _) = self.prepare_create(&lock(&self.table), parent, name.as_bytes())?;
        let (uid, gid, _) = new_owner(req, &dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(flags & libc::O_APPEND)
            .open(&*path)
            .and_then(|f| {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
                f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
                Ok(f)
            })
            .map_err(|e| errno(&e))?;
        Ok((self.bind_new(parent, name.as_bytes())?, file, path))
    }

    /// link: the new name is one more name of the same inode.
    pub(super) fn make_link(
        &self,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
    ) -> Result<FileAttr, Errno> {
        self.copy_up_unlocked(ino)?;
        let mut t = lock(&self.table);
        let src = self.copy_up(&t, ino, true)?;
        let (_, dst, _) = self.prepare_create(&t, newparent, newname.as_bytes())?;
        fs::hard_link(&*src, &*dst).map_err(|e| errno(&e))?;
        let md = fs::symlink_metadata(&*dst).map_err(|e| errno(&e))?;
        t.add_name(ino, newparent, newname.as_bytes());
        t.set_upper_ino(ino, md.ino());
        self.getattr_ino(&t, ino)
    }

    /// Removes `name` from `parent`: the upper entry, plus a whiteout when a
    /// lower entry would show through.
    pub(super) fn remove(&self, parent: u64, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let mut t = lock(&self.table);
        let (upper_md, lower) = self.resolve(&t, parent, name.as_bytes())?;
        let is_dir = upper_md
            .as_ref()
            .map_or(matches!(lower, Some(Merged::Dir(_))), |m| m.is_dir());
        if dir != is_dir {
            return Err(err(if dir { libc::ENOTDIR } else { libc::EISDIR }));
        }
        let ino = self.bind(&mut t, parent, name.as_bytes(), upper_md.as_ref(), lower);
        if dir && !self.children(&t, ino)?.is_empty() {
            return Err(err(libc::ENOTEMPTY));
        }
        let below = self.lower_exists(&t, parent, name.as_bytes());
        let path = self
            .copy_up(&t, parent, true)?
            .join(name)
            .map_err(|e| errno(&e))?;
        if upper_md.is_some() {
            let r = if dir {
                // Only whiteouts can remain in a directory that looks empty.
                fs::read_dir(&*path)
                    .and_then(|rd| rd.flatten().try_for_each(|e| fs::remove_file(e.path())))
                    .and_then(|_| fs::remove_dir(&*path))
            } else {
                fs::remove_file(&*path)
            };
            r.map_err(|e| errno(&e))?;
        }
        if below {
            upper::make_whiteout(&path).map_err(|e| errno(&e))?;
        }
        t.unbind(parent, name.as_bytes());
        Ok(())
    }

    /// Whether the lower layers have something at `name` in `parent` that the
    /// upper directory does not already hide by an opaque parent.
    fn lower_exists(&self, t: &Table, parent: u64, name: &[u8]) -> bool {
        let Some(dir) = t.get(parent) else {
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

    /// rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE (the latter only
    /// between entries that are wholly in the upper directory).
    pub(super) fn rename_entry(
        &self,
        (parent, name): (u64, &OsStr),
        (newparent, newname): (u64, &OsStr),
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        let exchange = flags.contains(RenameFlags::RENAME_EXCHANGE);
        if flags.contains(RenameFlags::RENAME_WHITEOUT) {
            return Err(err(libc::EINVAL));
        }
        let known = lock(&self.table).find(parent, name.as_bytes());
        if let Some(ino) = known {
            self.copy_up_unlocked(ino)?;
        }
        let mut t = lock(&self.table);
        let (src_md, src_lower) = self.resolve(&t, parent, name.as_bytes())?;
        let src_is_dir = src_md
            .as_ref()
            .map_or(matches!(src_lower, Some(Merged::Dir(_))), |m| m.is_dir());
        if src_is_dir && src_lower.is_some() {
            return Err(err(libc::EXDEV));
        }
        let target = self.resolve(&t, newparent, newname.as_bytes());
        if exchange {
            match &target {
                Ok((Some(_), None)) if src_lower.is_none() => {}
                _ => return Err(err(libc::EXDEV)),
            }
        } else if let Ok((t_md, t_lower)) = &target {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(err(libc::EEXIST));
            }
            let t_is_dir = t_md
                .as_ref()
                .map_or(matches!(t_lower, Some(Merged::Dir(_))), |m| m.is_dir());
            match (src_is_dir, t_is_dir) {
                (false, true) => return Err(err(libc::EISDIR)),
                (true, false) => return Err(err(libc::ENOTDIR)),
                (true, true) => {
                    let tino = t.bind(newparent, newname.as_bytes(), t_lower.clone());
                    if !self.children(&t, tino)?.is_empty() {
                        return Err(err(libc::ENOTEMPTY));
                    }
                }
                _ => {}
            }
        } else if let Err(e) = &target {
            if *e != Errno::ENOENT {
                return Err(*e);
            }
        }
        let src_ino = self.bind(&mut t, parent, name.as_bytes(), src_md.as_ref(), src_lower);
        let src_path = self.copy_up(&t, src_ino, true)?;
        let dst_path = self
            .copy_up(&t, newparent, true)?
            .join(newname)
            .map_err(|e| errno(&e))?;
        let target_below = self.lower_exists(&t, newparent, newname.as_bytes());
        let src_below = self.lower_exists(&t, parent, name.as_bytes());
        if !exchange {
            clear_whiteouts(&dst_path)?;
        }
        let how = if exchange {
            nix::fcntl::RenameFlags::RENAME_EXCHANGE
        } else {
            nix::fcntl::RenameFlags::empty()
        };
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &*src_path,
            nix::fcntl::AT_FDCWD,
            &*dst_path,
            how,
        )
        .map_err(|e| err(e as i32))?;
        if src_is_dir && target_below {
            upper::set_opaque(&dst_path).map_err(|e| errno(&e))?;
        }
        if src_below && !exchange {
            upper::make_whiteout(&src_path).map_err(|e| errno(&e))?;
        }
        t.rename(
            (parent, name.as_bytes()),
            (newparent, newname.as_bytes()),
            exchange,
        );
        Ok(())
    }

    /// setattr: chown, chmod, truncate, utimens, in that order.
    pub(super) fn set_attr(
        &self,
        ino: u64,
        (mode, uid, gid): (Option<u32>, Option<u32>, Option<u32>),
        size: Option<u64>,
        (atime, mtime): (Option<TimeOrNow>, Option<TimeOrNow>),
        fh: Option<FileHandle>,
    ) -> Result<FileAttr, Errno> {
        if size != Some(0) {
            self.copy_up_unlocked(ino)?;
        }
        let t = lock(&self.table);
        let path = self.copy_up(&t, ino, size != Some(0))?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(&*path, uid, gid).map_err(|e| errno(&e))?;
        }
        if let Some(m) = mode {
            fs::set_permissions(&*path, fs::Permissions::from_mode(m & 0o7777))
                .map_err(|e| errno(&e))?;
        }
        if let Some(len) = size {
            match fh.and_then(|f| self.handle(f)).as_deref() {
                Some(Handle::Upper(f)) => f.set_len(len),
                _ => OpenOptions::new()
                    .write(true)
                    .open(&*path)
                    .and_then(|f| f.set_len(len)),
            }
            .map_err(|e| errno(&e))?;
        }
        if atime.is_some() || mtime.is_some() {
            let (a, m) = (atime.map_or(OMIT, timespec), mtime.map_or(OMIT, timespec));
            upper::set_times(&path, a, m).map_err(|e| errno(&e))?;
        }
        self.getattr_ino(&t, ino)
    }
}

/// Removes the whiteouts left in an empty-looking directory about to be
/// replaced by a rename (nothing if `path` is not a directory).
fn clear_whiteouts(path: &UpperPath) -> Result<(), Errno> {
    match fs::symlink_metadata(&**path) {
        Ok(md) if md.is_dir() => fs::read_dir(&**path)
            .and_then(|rd| rd.flatten().try_for_each(|e| fs::remove_file(e.path())))
            .map_err(|e| errno(&e)),
        _ => Ok(()),
    }
}
