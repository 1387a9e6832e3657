//! The FUSE side: the merged image view ([`merged::MergedFs`]) and the
//! per-layer view ([`layers::LayerDirFs`]), read-only, on fuser 0.18. This
//! module holds what both share: attributes, xattr replies, mount options.

pub mod layers;
pub mod merged;
pub mod rw;

pub use fuser::{spawn_mount, BackgroundSession, Session};

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Generation, INodeNo, InitFlags, KernelConfig,
    MountOption, ReplyDirectory, ReplyDirectoryPlus, ReplyXattr, SessionACL,
};

use crate::index::{Kind, Meta};

/// Entry and attribute timeout: images never change under a mount.
pub const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How to mount.
#[derive(Clone, Debug, Default)]
pub struct MountConfig {
    /// Name shown as the mount's source (`sealer:<image>`).
    pub fs_name: String,
    /// Let other users (not only the mounting one) use the mount.
    pub allow_other: bool,
    /// Honour setuid/setgid bits.
    pub suid: bool,
    /// Honour device nodes.
    pub dev: bool,
    /// Worker threads.
    pub threads: usize,
    /// Writable (`--rw`): the kernel lets writes through to the server.
    pub rw: bool,
}

impl MountConfig {
    /// The fuser configuration: read-only, `default_permissions`, `nosuid` and
    /// `nodev` unless asked, several threads with cloned fds.
    pub fn fuser_config(&self) -> Config {
        let mut opts = vec![
            MountOption::FSName(self.fs_name.clone()),
            MountOption::Subtype("sealer".into()),
            if self.rw {
                MountOption::RW
            } else {
                MountOption::RO
            },
            MountOption::DefaultPermissions,
            MountOption::NoAtime,
            if self.suid {
                MountOption::Suid
            } else {
                MountOption::NoSuid
            },
            if self.dev {
                MountOption::Dev
            } else {
                MountOption::NoDev
            },
        ];
        opts.dedup();
        let mut c = Config::default();
        c.mount_options = opts;
        c.acl = if self.allow_other {
            SessionACL::All
        } else {
            SessionACL::Owner
        };
        c.n_threads = Some(self.threads.max(1));
        c.clone_fd = true;
        c
    }
}

/// Readahead for our mounts, in KiB: what one read request carries at the
/// kernel's default max_pages (256 pages).
pub const READAHEAD_KB: u32 = 1024;

/// Raises the kernel's readahead of the FUSE mount whose device number is
/// `dev` to `kb` KiB. The FUSE handshake can only lower it from the
/// kernel's default of 128 KiB, which cuts a sequential read into 128 KiB
/// requests; the bdi's sysfs knob lifts that (root only). Call it once the
/// handshake is over (a `stat` of the mountpoint has been answered), or the
/// handshake undoes it.
pub fn raise_readahead(dev: u64, kb: u32) -> io::Result<()> {
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    std::fs::write(
        format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb"),
        kb.to_string(),
    )
}

/// Asks the kernel for what serves an immutable tree fastest. Listings
/// always come with attributes (readdirplus, not the kernel's adaptive
/// choice, which lists a big directory's later chunks without them and then
/// looks every entry up): a cold `find -printf` of /usr/share took 0.47 s
/// instead of 0.80 s (benches/README.md).
pub(crate) fn init_kernel(config: &mut KernelConfig) {
    let want = InitFlags::FUSE_DO_READDIRPLUS
        | InitFlags::FUSE_PARALLEL_DIROPS
        | InitFlags::FUSE_CACHE_SYMLINKS
        | InitFlags::FUSE_ASYNC_READ
        | InitFlags::FUSE_SPLICE_READ
        | InitFlags::FUSE_MAX_PAGES;
    let supported = config.capabilities() & want;
    let _ = config.add_capabilities(supported);
    let _ = config.set_max_readahead(1 << 20);
}

/// The FUSE file type of an index kind (whiteouts show as char devices).
pub fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::CharDev | Kind::Whiteout => FileType::CharDevice,
        Kind::BlockDev => FileType::BlockDevice,
        Kind::Fifo => FileType::NamedPipe,
    }
}

fn time(secs: i64, nsec: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

/// Attributes of an entry as the kernel gets them.
pub fn attr(ino: u64, m: &Meta) -> FileAttr {
    let t = time(m.mtime, m.mtime_nsec);
    let (perm, rdev) = match m.kind {
        Kind::Whiteout => (0, 0),
        Kind::CharDev | Kind::BlockDev => (m.perm() as u16, m.rdev() as u32),
        _ => (m.perm() as u16, 0),
    };
    FileAttr {
        ino: INodeNo(ino),
        size: match m.kind {
            Kind::Whiteout => 0,
            // What ext4 shows for a small directory, and so the kernel's
            // overlayfs over unpacked layers; no tool relies on more.
            Kind::Dir => 4096,
            _ => m.size,
        },
        blocks: if m.kind == Kind::Dir {
            8
        } else {
            m.size.div_ceil(512)
        },
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind: file_type(m.kind),
        perm,
        nlink: if m.kind == Kind::Dir {
            2
        } else {
            m.nlink.max(1)
        },
        uid: m.uid,
        gid: m.gid,
        rdev,
        blksize: 4096,
        flags: 0,
    }
}

/// A directory's link count in one layer, as the kernel shows an unpacked
/// directory: 2 + its subdirectories.
pub fn dir_nlink(index: &crate::index::LayerIndex, id: crate::index::EntryId) -> u32 {
    2 + index
        .children(id)
        .filter(|&c| index.kind(c) == Kind::Dir)
        .count() as u32
}

/// Replies to getxattr with `value` (`size` 0 asks for the length).
pub(crate) fn reply_xattr_value(value: Option<&[u8]>, size: u32, reply: ReplyXattr) {
    match value {
        None => reply.error(Errno::from_i32(libc::ENODATA)),
        Some(v) if size == 0 => reply.size(v.len() as u32),
        Some(v) if v.len() > size as usize => reply.error(Errno::from_i32(libc::ERANGE)),
        Some(v) => reply.data(v),
    }
}

/// Replies to listxattr with NUL-terminated `names`.
pub(crate) fn reply_xattr_list<'a>(
    names: impl Iterator<Item = &'a [u8]>,
    size: u32,
    reply: ReplyXattr,
) {
    let mut buf = Vec::new();
    for n in names {
        buf.extend_from_slice(n);
        buf.push(0);
    }
    if size == 0 {
        reply.size(buf.len() as u32);
    } else if buf.len() > size as usize {
        reply.error(Errno::from_i32(libc::ERANGE));
    } else {
        reply.data(&buf);
    }
}

/// Xattrs overlayfs keeps to itself; the merged view hides them like the kernel.
pub(crate) fn is_private_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.")
}

/// One entry of an open directory's listing (`.` and `..` included).
pub(crate) struct DirEntry {
    pub name: Box<[u8]>,
    pub attr: FileAttr,
}

/// Listings of open directories, taken at opendir and kept until releasedir,
/// so a big directory is merged once, not once per readdir call.
#[derive(Default)]
pub(crate) struct OpenDirs {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
}

impl OpenDirs {
    pub fn open(&self, list: Vec<DirEntry>) -> FileHandle {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fh, Arc::new(list));
        FileHandle(fh)
    }

    pub fn get(&self, fh: FileHandle) -> Option<Arc<Vec<DirEntry>>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fh.0)
            .cloned()
    }

    pub fn release(&self, fh: FileHandle) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&fh.0);
    }

    pub fn readdir(&self, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let Some(list) = self.get(fh) else {
            return reply.error(Errno::EBADF);
        };
        for (i, e) in list.iter().enumerate().skip(offset as usize) {
            if reply.add(
                e.attr.ino,
                i as u64 + 1,
                e.attr.kind,
                OsStr::from_bytes(&e.name),
            ) {
                break;
            }
        }
        reply.ok();
    }

    pub fn readdirplus(&self, fh: FileHandle, offset: u64, mut reply: ReplyDirectoryPlus) {
        let Some(list) = self.get(fh) else {
            return reply.error(Errno::EBADF);
        };
        for (i, e) in list.iter().enumerate().skip(offset as usize) {
            if reply.add(
                e.attr.ino,
                i as u64 + 1,
                OsStr::from_bytes(&e.name),
                &TTL,
                &e.attr,
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
