//! The writable upper directory of a `--rw` mount, in the kernel overlayfs's
//! own conventions so it reads the same to both: a deleted lower entry is a
//! 0/0 character device (whiteout), a directory that hides everything below
//! it carries `trusted.overlay.opaque=y`. Copy-up brings a lower entry into
//! the upper directory with its data and metadata (mode, owner, xattrs,
//! times); [`changes`] lists what differs from the lower layers.
//! [`UpperPath`] reaches entries whose full path is longer than `PATH_MAX`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{open, openat, OFlag};

use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::index::{EntryId, Kind, LayerIndex};
use crate::layer::Layer;
use crate::merge::{self, Merged};
use crate::sys;

/// The xattr marking an opaque directory.
pub const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";
/// The same mark where `trusted.*` cannot be set (only root of the initial
/// user namespace may: an ordinary user's RUN step and `--rw` mount run in
/// a user namespace of their own), as the kernel's overlayfs reads it with
/// `userxattr`.
pub const USER_OPAQUE_XATTR: &[u8] = b"user.overlay.opaque";

/// Whether `md` is a whiteout (a 0/0 character device).
pub fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// Creates a whiteout at `path`.
pub fn make_whiteout(path: &Path) -> io::Result<()> {
    mknod(path, SFlag::S_IFCHR, Mode::empty(), 0).map_err(io::Error::from)
}

/// Whether the directory at `path` is opaque.
pub fn is_opaque(path: &Path) -> bool {
    [OPAQUE_XATTR, USER_OPAQUE_XATTR]
        .iter()
        .any(|x| matches!(sys::get_xattr(path, x), Ok(Some(v)) if v == b"y"))
}

/// Whether the merged root of `upper` over `lower` (top first) is empty,
/// read from the upper directory on disk and the lower indexes: no FUSE
/// round trip, so a process serving the mount may ask (asking through its
/// own mount could wait for ever on a request its dying threads took).
pub fn merged_root_is_empty(upper: &Path, lower: &[&LayerIndex]) -> io::Result<bool> {
    let mut hidden: Vec<Vec<u8>> = Vec::new();
    for e in fs::read_dir(upper)? {
        let e = e?;
        if !is_whiteout(&fs::symlink_metadata(e.path())?) {
            return Ok(false);
        }
        hidden.push(e.file_name().as_bytes().to_vec());
    }
    if lower.is_empty() || is_opaque(upper) {
        return Ok(true);
    }
    let Merged::Dir(parts) = merge::root(lower) else {
        return Ok(true);
    };
    Ok(merge::read_dir(lower, &parts)
        .iter()
        .all(|(name, _)| hidden.iter().any(|h| h == name)))
}

/// Marks the directory at `path` opaque.
pub fn set_opaque(path: &Path) -> io::Result<()> {
    match sys::set_xattr(path, OPAQUE_XATTR, b"y", 0) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            sys::set_xattr(path, USER_OPAQUE_XATTR, b"y", 0)
        }
        other => other,
    }
}

/// Sets a path's times without following a symlink.
pub fn set_times(path: &Path, atime: TimeSpec, mtime: TimeSpec) -> io::Result<()> {
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

/// The longest path handed to a path-based syscall as it is.
const MAX_DIRECT: usize = libc::PATH_MAX as usize - 1;

/// A path in an upper directory that path-based calls accept even when the
/// whole path is longer than `PATH_MAX` (a tree as deep as the mountpoint
/// allows, under a longer upper directory): such a path is taken relative to
/// an open descriptor of its parent, as `/proc/self/fd/N/NAME`, and the
/// descriptor lives as long as the `UpperPath` (and the paths joined to it).
#[derive(Clone, Debug)]
pub struct UpperPath {
    path: PathBuf,
    _dir: Option<Arc<OwnedFd>>,
}

impl UpperPath {
    /// The entry at `rel` (relative, empty for the root) in the upper
    /// directory `root`.
    pub fn new(root: &Path, rel: &Path) -> io::Result<UpperPath> {
        let path = root.join(rel);
        if path.as_os_str().len() <= MAX_DIRECT {
            return Ok(UpperPath { path, _dir: None });
        }
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root_fd = open(root, flags, nix::sys::stat::Mode::empty())?;
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let dir = openat(&root_fd, parent, flags, nix::sys::stat::Mode::empty())?;
        Ok(Self::under(Arc::new(dir), name))
    }

    fn under(dir: Arc<OwnedFd>, name: &OsStr) -> UpperPath {
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        path.push(name);
        UpperPath {
            path,
            _dir: Some(dir),
        }
    }

    /// The entry `name` in this directory.
    pub fn join(&self, name: impl AsRef<OsStr>) -> io::Result<UpperPath> {
        let name = name.as_ref();
        let path = self.path.join(name);
        if self._dir.is_some() || path.as_os_str().len() <= MAX_DIRECT {
            return Ok(UpperPath {
                path,
                _dir: self._dir.clone(),
            });
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir = open(&self.path, flags, nix::sys::stat::Mode::empty())?;
        Ok(Self::under(Arc::new(dir), name))
    }
}

impl Deref for UpperPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for UpperPath {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Copies the lower entry `id` of `layer` to `dest` (which must not exist):
/// a directory is created empty; data (unless `with_data` is false: the file
/// is about to be truncated), link target, device number, owner, mode,
/// xattrs and times are copied. A file appears whole or not at all (see
/// [`stage_file`]) where the file system has `O_TMPFILE`; with `sync` its
/// data is on disk first, as the kernel's overlayfs does.
pub fn copy_up(
    layer: &Layer,
    id: EntryId,
    dest: &Path,
    with_data: bool,
    sync: bool,
) -> io::Result<()> {
    let m = layer.index.meta(id);
    match m.kind {
        Kind::Dir => fs::create_dir(dest)?,
        Kind::File => {
            let dir = dest.parent().unwrap_or(Path::new("."));
            if let Some(staged) = stage_file(layer, id, dir, with_data, sync)? {
                return staged.link(dest);
            }
            let out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dest)?;
            let copied = if with_data {
                copy_data(layer, id, &out, sync)
            } else {
                Ok(())
            };
            if let Err(e) = copied {
                let _ = fs::remove_file(dest);
                return Err(e);
            }
        }
        Kind::Symlink => {
            let target = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                layer.index.link_target(id),
            );
            std::os::unix::fs::symlink(target, dest)?
        }
        Kind::CharDev | Kind::BlockDev | Kind::Fifo => {
            let kind = match m.kind {
                Kind::CharDev => SFlag::S_IFCHR,
                Kind::BlockDev => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            mknod(dest, kind, Mode::from_bits_truncate(0o600), m.rdev()).map_err(io::Error::from)?
        }
        Kind::Whiteout => return Err(io::Error::from_raw_os_error(libc::ENOENT)),
    }
    std::os::unix::fs::lchown(dest, Some(m.uid), Some(m.gid))?;
    if m.kind != Kind::Symlink {
        fs::set_permissions(dest, std::os::unix::fs::PermissionsExt::from_mode(m.mode))?;
    }
    for (k, v) in layer.index.xattrs(id) {
        sys::set_xattr(dest, k, v, 0)?;
    }
    let t = TimeSpec::new(m.mtime, m.mtime_nsec as i64);
    set_times(dest, t, t)
}

/// A copy of a lower file in the upper directory that has no name yet: an
/// `O_TMPFILE` holding the data and metadata, so that [`link`]ing it makes
/// the whole file appear at once (synced, a crash never leaves a half copy
/// hiding the lower file), and the copy can be made without holding locks.
///
/// [`link`]: Staged::link
pub struct Staged(File);

/// Stages a copy of the lower file `id` in the upper directory `dir` (its
/// data synced with `sync`); `Ok(None)` when that file system has no
/// `O_TMPFILE`.
pub fn stage_file(
    layer: &Layer,
    id: EntryId,
    dir: &Path,
    with_data: bool,
    sync: bool,
) -> io::Result<Option<Staged>> {
    let f = match OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let m = layer.index.meta(id);
    if with_data {
        copy_data(layer, id, &f, sync)?;
    }
    std::os::unix::fs::fchown(&f, Some(m.uid), Some(m.gid))?;
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(m.mode))?;
    for (k, v) in layer.index.xattrs(id) {
        sys::fset_xattr(std::os::fd::AsFd::as_fd(&f), k, v)?;
    }
    let t = TimeSpec::new(m.mtime, m.mtime_nsec as i64);
    nix::sys::stat::futimens(&f, &t, &t)?;
    Ok(Some(Staged(f)))
}

/// Copies the data of lower file `id` into `out`; with `sync`, writeback
/// starts behind the copy chunk by chunk and the data is on disk at the end.
fn copy_data(layer: &Layer, id: EntryId, out: &File, sync: bool) -> io::Result<()> {
    let fd = std::os::fd::AsFd::as_fd(out);
    layer.copy_to_file(id, out, |off, len| {
        if sync {
            // Only a head start for the fsync below; its failure is not one.
            let _ = sys::start_writeback(fd, off, len);
        }
        Ok(())
    })?;
    if sync {
        out.sync_data()?;
    }
    Ok(())
}

impl Staged {
    /// Gives the staged file its name `dest` (EEXIST if that is taken).
    pub fn link(self, dest: &Path) -> io::Result<()> {
        let fd = PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()));
        nix::unistd::linkat(
            nix::fcntl::AT_FDCWD,
            &fd,
            nix::fcntl::AT_FDCWD,
            dest,
            nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
        )
        .map_err(io::Error::from)
    }
}

/// A difference between the upper directory and the lower layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// New path.
    Added,
    /// Path present below, changed or copied up.
    Changed,
    /// Path present below, deleted.
    Deleted,
}

impl Change {
    /// `A`, `C` or `D`, as `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            Change::Added => 'A',
            Change::Changed => 'C',
            Change::Deleted => 'D',
        }
    }
}

/// Every change of `upper` against the lower stack (top first), sorted by
/// path; paths are the names' bytes.
pub fn changes(upper: &Path, lower: &[&LayerIndex]) -> io::Result<Vec<(Vec<u8>, Change)>> {
    let mut out = Vec::new();
    walk_changes(&UpperPath::new(upper, Path::new(""))?, b"", lower, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk_changes(
    dir: &UpperPath,
    prefix: &[u8],
    lower: &[&LayerIndex],
    out: &mut Vec<(Vec<u8>, Change)>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(&**dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let entry = dir.join(&name)?;
        let name = name.as_bytes();
        let path = if prefix.is_empty() {
            name.to_vec()
        } else {
            [prefix, b"/", name].concat()
        };
        let md = fs::symlink_metadata(&*entry)?;
        let below = if lower.is_empty() {
            None
        } else {
            merge::resolve(lower, &path)
        };
        if is_whiteout(&md) {
            if below.is_some() {
                out.push((path, Change::Deleted));
            }
            continue;
        }
        let change = if below.is_some() {
            Change::Changed
        } else {
            Change::Added
        };
        out.push((path.clone(), change));
        if md.is_dir() {
            if let (true, Some(Merged::Dir(parts))) = (is_opaque(&entry), &below) {
                for (n, _) in merge::read_dir(lower, parts) {
                    let n_os = OsStr::from_bytes(n);
                    if fs::symlink_metadata(&*entry.join(n_os)?).is_err() {
                        out.push(([&path[..], b"/", n].concat(), Change::Deleted));
                    }
                }
            }
            walk_changes(&entry, &path, lower, out)?;
        }
    }
    Ok(())
}

/// Opens an upper file for the given `open(2)` flags (creation flags
/// dropped). The access mode 3 (`O_WRONLY|O_RDWR`), which Linux lets through
/// after checking both permissions, opens for reading and writing.
pub fn open_upper(path: &Path, flags: i32) -> io::Result<File> {
    let acc = flags & libc::O_ACCMODE;
    let mut o = OpenOptions::new();
    o.read(acc != libc::O_WRONLY);
    o.write(acc != libc::O_RDONLY);
    o.custom_flags(
        flags & (libc::O_APPEND | libc::O_TRUNC | libc::O_SYNC | libc::O_DSYNC | libc::O_NOATIME),
    );
    o.open(path)
}
