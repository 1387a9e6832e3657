//! Layer contents of a COPY/ADD step: the planned entries, sorted by path,
//! and the deterministic tar written from them (parents included, symlinks
//! kept as symlinks, hard links as links to the first path of their group).
//! Paths, symlink targets and xattr names are bytes from end to end, as the
//! kernel hands them over: two names differing in a non-UTF-8 byte stay two.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::BufWriter;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::error::{invalid, Result};
use crate::store::{Ingested, Store};

/// What an entry is and where its bytes come from.
#[derive(Clone, Debug)]
pub enum Content {
    /// A directory.
    Dir,
    /// A file read from disk.
    File(PathBuf),
    /// A byte range of a file (an entry of an ADDed tar).
    Range(Arc<File>, u64),
    /// A symlink with this target.
    Symlink(Vec<u8>),
    /// An empty regular file (whiteout markers).
    Empty,
    /// A device node or named pipe: tar entry type and device numbers.
    Special(tar::EntryType, u32, u32),
    /// Bytes in memory (small generated files: manifests, links).
    Bytes(Arc<[u8]>),
    /// Bytes produced while the tar is written (downloads), read once.
    Stream(StreamRef),
}

/// Produces the bytes of [`Content::Stream`] items, in the order the tar
/// asks for them.
pub trait Streams: Send + Sync {
    /// The bytes of stream `key`: exactly the item's size, or an error.
    fn open(&self, key: usize) -> io::Result<Box<dyn Read + Send + '_>>;
}

/// One stream of a [`Streams`] source.
#[derive(Clone)]
pub struct StreamRef {
    /// The source.
    pub source: Arc<dyn Streams>,
    /// Which of its streams.
    pub key: usize,
}

impl std::fmt::Debug for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamRef({})", self.key)
    }
}

/// One entry of the layer to write.
#[derive(Clone, Debug)]
pub struct Item {
    /// What it is.
    pub content: Content,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Modification time (nanoseconds), kept through a PAX record.
    pub mtime_nsec: u32,
    /// Data size (files).
    pub size: u64,
    /// Items with the same group are one inode (hard links).
    pub link_group: Option<(u64, u64)>,
    /// Extended attributes.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// What identifies this version of the source (dev, ino, ctime) for the cache.
    pub stamp: [i64; 4],
}

impl Item {
    /// A directory with the given attributes.
    pub fn dir(mode: u32, uid: u32, gid: u32, mtime: i64) -> Item {
        Item {
            content: Content::Dir,
            mode,
            uid,
            gid,
            mtime,
            mtime_nsec: 0,
            size: 0,
            link_group: None,
            xattrs: Vec::new(),
            stamp: [0; 4],
        }
    }

    /// An item from a file, directory or symlink on disk (owner root).
    pub fn from_disk(path: PathBuf, md: &std::fs::Metadata) -> io::Result<Item> {
        let ft = md.file_type();
        let content = if ft.is_dir() {
            Content::Dir
        } else if ft.is_symlink() {
            Content::Symlink(std::fs::read_link(&path)?.as_os_str().as_bytes().to_vec())
        } else if ft.is_file() {
            Content::File(path)
        } else {
            let what = if ft_is(md, libc::S_IFIFO) {
                "a named pipe"
            } else if ft_is(md, libc::S_IFSOCK) {
                "a socket"
            } else {
                "a device"
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is {what}; only files, directories and symlinks can be copied",
                    path.display()
                ),
            ));
        };
        let size = if matches!(content, Content::File(_)) {
            md.len()
        } else {
            0
        };
        let link_group = (ft.is_file() && md.nlink() > 1).then(|| (md.dev(), md.ino()));
        Ok(Item {
            content,
            mode: md.mode() & 0o7777,
            uid: 0,
            gid: 0,
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec() as u32,
            size,
            link_group,
            xattrs: Vec::new(),
            stamp: [
                md.dev() as i64,
                md.ino() as i64,
                md.ctime(),
                md.ctime_nsec(),
            ],
        })
    }
}

/// Clamps every item's mtime to `epoch` (`min(mtime, epoch)`, as buildkit's
/// `rewrite-timestamp` does): a reproducible build's layers do not depend on
/// when the sources were touched.
pub fn clamp_mtimes<'a>(items: impl IntoIterator<Item = &'a mut Item>, epoch: i64) {
    for it in items {
        if it.mtime > epoch || (it.mtime == epoch && it.mtime_nsec != 0) {
            it.mtime = epoch;
            it.mtime_nsec = 0;
        }
    }
}

fn ft_is(md: &std::fs::Metadata, kind: u32) -> bool {
    md.mode() & libc::S_IFMT == kind
}

/// A layer's entries by path (bytes, no leading slash), in tar order.
pub type Items = BTreeMap<Vec<u8>, Item>;

/// Hashes what decides the layer's bytes, so an unchanged source reuses it.
pub fn fingerprint(items: &Items, hasher: &mut Sha256) {
    for (path, it) in items {
        let kind: &[u8] = match &it.content {
            Content::Dir => b"d",
            Content::File(_) => b"f",
            Content::Range(_, off) => &off.to_le_bytes()[..],
            Content::Symlink(t) => t,
            Content::Empty => b"e",
            Content::Special(..) => b"s",
            Content::Bytes(b) => b,
            Content::Stream(_) => b"S",
        };
        hasher.update(path);
        hasher.update([0]);
        hasher.update(kind);
        for v in [
            it.mode as i64,
            it.uid as i64,
            it.gid as i64,
            it.mtime,
            it.size as i64,
        ] {
            hasher.update(v.to_le_bytes());
        }
        for v in it.stamp {
            hasher.update(v.to_le_bytes());
        }
        for (k, v) in &it.xattrs {
            hasher.update(k);
            hasher.update(v);
        }
    }
}

/// Writes `items` as a tar to `out`; `progress` counts file bytes written.
pub fn write_tar<'a>(
    items: impl IntoIterator<Item = (&'a Vec<u8>, &'a Item)>,
    out: impl Write,
    progress: &AtomicU64,
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let mut first_of_group: BTreeMap<(u64, u64), &[u8]> = BTreeMap::new();
    for (path, it) in items {
        let shown = || String::from_utf8_lossy(path).into_owned();
        let mut h = tar::Header::new_gnu();
        h.set_mode(it.mode);
        h.set_uid(it.uid as u64);
        h.set_gid(it.gid as u64);
        h.set_mtime(it.mtime.max(0) as u64);
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if it.mtime_nsec != 0 && it.mtime >= 0 {
            pax.push((
                b"mtime".to_vec(),
                format!("{}.{:09}", it.mtime, it.mtime_nsec).into_bytes(),
            ));
        }
        for (k, v) in &it.xattrs {
            pax.push(([&b"SCHILY.xattr."[..], k].concat(), v.clone()));
        }
        append_pax(&mut b, &pax)?;
        if let Some(g) = it.link_group {
            if let Some(target) = first_of_group.get(&g) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                append_entry(&mut b, &mut h, path, Some(target), io::empty())?;
                continue;
            }
            first_of_group.insert(g, path);
        }
        match &it.content {
            Content::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                let dir = [&path[..], b"/"].concat();
                append_entry(&mut b, &mut h, &dir, None, io::empty())?;
            }
            Content::Empty => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                append_entry(&mut b, &mut h, path, None, io::empty())?;
            }
            Content::Special(kind, major, minor) => {
                h.set_entry_type(*kind);
                h.set_size(0);
                h.set_device_major(*major)?;
                h.set_device_minor(*minor)?;
                append_entry(&mut b, &mut h, path, None, io::empty())?;
            }
            Content::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                append_entry(&mut b, &mut h, path, Some(target), io::empty())?;
            }
            Content::File(src) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(it.size);
                let f = File::open(src)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", src.display())))?;
                let r = Exact {
                    read: |buf: &mut [u8], off: u64| f.read_at(buf, off),
                    off: 0,
                    size: it.size,
                    what: src.display().to_string(),
                    progress,
                };
                append_entry(&mut b, &mut h, path, None, r)?;
            }
            Content::Bytes(bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(bytes.len() as u64);
                append_entry(&mut b, &mut h, path, None, &bytes[..])?;
            }
            Content::Stream(s) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(it.size);
                let mut src = s.source.open(s.key)?;
                let r = Exact {
                    read: |buf: &mut [u8], _off: u64| src.read(buf),
                    off: 0,
                    size: it.size,
                    what: shown(),
                    progress,
                };
                append_entry(&mut b, &mut h, path, None, r)?;
                // Read to the end: the source reports a bad blob there.
                if io::copy(&mut src, &mut io::sink())? != 0 {
                    return Err(io::Error::other(format!(
                        "{}: longer than announced",
                        shown()
                    )));
                }
            }
            Content::Range(f, start) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(it.size);
                let r = Exact {
                    read: |buf: &mut [u8], off: u64| f.read_at(buf, start + off),
                    off: 0,
                    size: it.size,
                    what: shown(),
                    progress,
                };
                append_entry(&mut b, &mut h, path, None, r)?;
            }
        }
    }
    b.into_inner()?.flush()
}

/// Appends one entry named `path` (and linking to `link`), both raw bytes.
/// A name that does not fit the header goes in a GNU long-name entry before
/// it (`L`, `K` for the link), as `tar::Builder` does; but the header keeps
/// the name's first 100 bytes as they are (the builder keeps their longest
/// UTF-8 prefix, and fails when that is empty), and a link target is stored
/// unchanged (the builder's `set_link_name` folds `a//b` and `a/./b`).
fn append_entry(
    b: &mut tar::Builder<impl Write>,
    h: &mut tar::Header,
    path: &[u8],
    link: Option<&[u8]>,
    data: impl Read,
) -> io::Result<()> {
    let shown = || String::from_utf8_lossy(path).into_owned();
    if path.contains(&0) {
        return Err(io::Error::other(format!(
            "{}: a NUL byte in the name",
            shown()
        )));
    }
    if let Err(e) = h.set_path(Path::new(OsStr::from_bytes(path))) {
        let name = &mut h.as_old_mut().name;
        if path.len() < name.len() {
            return Err(io::Error::new(e.kind(), format!("{}: {e}", shown())));
        }
        let len = name.len();
        name.copy_from_slice(&path[..len]);
        append_long_name(b, b'L', path)?;
    }
    if let Some(target) = link {
        if target.contains(&0) {
            return Err(io::Error::other(format!(
                "{}: link target with a NUL byte",
                shown()
            )));
        }
        let slot = &mut h.as_old_mut().linkname;
        slot.fill(0);
        if target.len() <= slot.len() {
            slot[..target.len()].copy_from_slice(target);
        } else {
            // The field keeps what `tar::Builder` leaves there (the leading
            // components that fit), so layers keep their bytes; readers
            // take the target from the `K` entry, whatever this returns.
            let _partial = h.set_link_name(Path::new(OsStr::from_bytes(target)));
            append_long_name(b, b'K', target)?;
        }
    }
    h.set_cksum();
    b.append(h, data)
}

/// A GNU long-name (`L`) or long-link (`K`) entry holding `name`, NUL
/// terminated, byte for byte what `tar::Builder` writes.
fn append_long_name(b: &mut tar::Builder<impl Write>, kind: u8, name: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    let stub = b"././@LongLink";
    h.as_old_mut().name[..stub.len()].copy_from_slice(stub);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(name.len() as u64 + 1);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_cksum();
    b.append(&h, name.chain(&[0u8][..]))
}

/// One PAX extended header holding `records` (nothing when empty), byte for
/// byte what `tar::Builder::append_pax_extensions` writes, but with byte
/// keys: an xattr name (`SCHILY.xattr.NAME`) is bytes, like a file name.
fn append_pax(b: &mut tar::Builder<impl Write>, records: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut data = Vec::new();
    for (key, value) in records {
        // "LEN KEY=VALUE\n", LEN counting its own digits.
        let rest = 3 + key.len() + value.len();
        let (mut digits, mut limit) = (1, 10);
        while rest + digits >= limit {
            digits += 1;
            limit *= 10;
        }
        data.extend_from_slice(format!("{} ", rest + digits).as_bytes());
        data.extend_from_slice(key);
        data.push(b'=');
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_cksum();
    b.append(&h, &data[..])
}

/// Yields exactly `size` bytes, or fails if the source changed size.
struct Exact<'a, F> {
    read: F,
    off: u64,
    size: u64,
    what: String,
    progress: &'a AtomicU64,
}

impl<F: FnMut(&mut [u8], u64) -> io::Result<usize>> Read for Exact<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.size - self.off) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = (self.read)(&mut buf[..want], self.off)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while it was being copied", self.what),
            ));
        }
        self.off += n as u64;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Copies bigger than this get a progress line on a terminal.
const PROGRESS_MIN: u64 = 64 << 20;

/// Writes `items` as a tar on one thread and ingests it into `store` on this
/// one, through a pipe: one pass, nothing staged. Nothing is stored unless
/// the whole tar was written.
pub fn stream_layer<'a, I>(store: &Store, items: I, progress: bool) -> Result<Ingested>
where
    I: IntoIterator<Item = (&'a Vec<u8>, &'a Item)> + Clone + Send,
{
    let (reader, writer) = std::io::pipe().map_err(|e| invalid(format!("creating a pipe: {e}")))?;
    let written = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let total: u64 = items.clone().into_iter().map(|(_, i)| i.size).sum();
    std::thread::scope(|s| {
        let tar = s.spawn(|| {
            let r = write_tar(items, BufWriter::with_capacity(1 << 20, writer), &written);
            done.store(true, Ordering::Relaxed);
            r
        });
        if progress && total >= PROGRESS_MIN {
            s.spawn(|| {
                let bar = crate::progress::Copying::new(total);
                while !done.load(Ordering::Relaxed) {
                    bar.set(written.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
        let mut tar = Some(tar);
        store.ingest_layer_checked(reader, None, || match tar.take().map(|t| t.join()) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(invalid(format!("writing the layer: {e}"))),
            _ => Err(invalid("the layer writer stopped unexpectedly")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(content: Content, size: u64) -> Item {
        let mut it = Item::dir(0o644, 1, 2, 1_600_000_000);
        it.content = content;
        it.size = size;
        it
    }

    /// For UTF-8 names our writer keeps the bytes `tar::Builder` wrote
    /// before names became bytes, so layers (and their digests) built from
    /// the same sources do not change.
    #[test]
    fn utf8_names_give_the_bytes_tar_builder_gives() {
        let long = format!("dir/{}", "n".repeat(150));
        let target = format!("../{}", "t".repeat(120));
        let mut items = Items::new();
        items.insert(b"dir".to_vec(), Item::dir(0o755, 0, 0, 5));
        let mut x = item(Content::Bytes(b"data"[..].into()), 4);
        x.mtime_nsec = 42;
        x.xattrs.push((b"user.k".to_vec(), b"v".to_vec()));
        items.insert(long.clone().into_bytes(), x);
        items.insert(
            b"dir/s".to_vec(),
            item(Content::Symlink(target.clone().into_bytes()), 0),
        );
        let mut got = Vec::new();
        write_tar(&items, &mut got, &AtomicU64::new(0)).expect("writing");

        let mut b = tar::Builder::new(Vec::new());
        let header = |kind, mode, uid, gid, mtime, size| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_uid(uid);
            h.set_gid(gid);
            h.set_mtime(mtime);
            h.set_entry_type(kind);
            h.set_size(size);
            h
        };
        let mut h = header(tar::EntryType::Directory, 0o755, 0, 0, 5, 0);
        b.append_data(&mut h, "dir/", io::empty()).expect("dir");
        b.append_pax_extensions([
            ("mtime", &b"1600000000.000000042"[..]),
            ("SCHILY.xattr.user.k", &b"v"[..]),
        ])
        .expect("pax");
        let mut h = header(tar::EntryType::Regular, 0o644, 1, 2, 1_600_000_000, 4);
        b.append_data(&mut h, &long, &b"data"[..]).expect("file");
        let mut h = header(tar::EntryType::Symlink, 0o644, 1, 2, 1_600_000_000, 0);
        b.append_link(&mut h, "dir/s", &target).expect("symlink");
        let want = b.into_inner().expect("finishing");
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        assert!(
            got == want,
            "the tar bytes differ at {first:?} (lengths {} and {})",
            got.len(),
            want.len()
        );
    }
}
