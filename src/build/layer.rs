//! Layer contents of a COPY/ADD step: the planned entries, sorted by path,
//! and the deterministic tar written from them (parents included, symlinks
//! kept as symlinks, hard links as links to the first path of their group).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::error::{invalid, Result};
use crate::human;
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
            Content::Symlink(
                std::os::unix::ffi::OsStrExt::as_bytes(std::fs::read_link(&path)?.as_os_str())
                    .to_vec(),
            )
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

fn ft_is(md: &std::fs::Metadata, kind: u32) -> bool {
    md.mode() & libc::S_IFMT == kind
}

/// A layer's entries by path (no leading slash), in tar order.
pub type Items = BTreeMap<String, Item>;

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
        hasher.update(path.as_bytes());
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
    items: impl IntoIterator<Item = (&'a String, &'a Item)>,
    out: impl Write,
    progress: &AtomicU64,
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let mut first_of_group: BTreeMap<(u64, u64), &str> = BTreeMap::new();
    for (path, it) in items {
        let mut h = tar::Header::new_gnu();
        h.set_mode(it.mode);
        h.set_uid(it.uid as u64);
        h.set_gid(it.gid as u64);
        h.set_mtime(it.mtime.max(0) as u64);
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if it.mtime_nsec != 0 && it.mtime >= 0 {
            pax.push((
                "mtime".into(),
                format!("{}.{:09}", it.mtime, it.mtime_nsec).into_bytes(),
            ));
        }
        for (k, v) in &it.xattrs {
            pax.push((
                format!("SCHILY.xattr.{}", String::from_utf8_lossy(k)),
                v.clone(),
            ));
        }
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        if let Some(g) = it.link_group {
            if let Some(target) = first_of_group.get(&g) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, path, target)?;
                continue;
            }
            first_of_group.insert(g, path);
        }
        match &it.content {
            Content::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), io::empty())?;
            }
            Content::Empty => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                b.append_data(&mut h, path, io::empty())?;
            }
            Content::Special(kind, major, minor) => {
                h.set_entry_type(*kind);
                h.set_size(0);
                h.set_device_major(*major)?;
                h.set_device_minor(*minor)?;
                b.append_data(&mut h, path, io::empty())?;
            }
            Content::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(
                    &mut h,
                    path,
                    std::ffi::OsStr::new(&String::from_utf8_lossy(target).into_owned()),
                )?;
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
                b.append_data(&mut h, path, r)?;
            }
            Content::Bytes(bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, path, &bytes[..])?;
            }
            Content::Stream(s) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(it.size);
                let mut src = s.source.open(s.key)?;
                let r = Exact {
                    read: |buf: &mut [u8], _off: u64| src.read(buf),
                    off: 0,
                    size: it.size,
                    what: path.clone(),
                    progress,
                };
                b.append_data(&mut h, path, r)?;
                // Read to the end: the source reports a bad blob there.
                if io::copy(&mut src, &mut io::sink())? != 0 {
                    return Err(io::Error::other(format!("{path}: longer than announced")));
                }
            }
            Content::Range(f, start) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(it.size);
                let r = Exact {
                    read: |buf: &mut [u8], off: u64| f.read_at(buf, start + off),
                    off: 0,
                    size: it.size,
                    what: path.clone(),
                    progress,
                };
                b.append_data(&mut h, path, r)?;
            }
        }
    }
    b.into_inner()?.flush()
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
    I: IntoIterator<Item = (&'a String, &'a Item)> + Clone + Send,
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
                while !done.load(Ordering::Relaxed) {
                    let n = written.load(Ordering::Relaxed);
                    eprint!(
                        "\r     copying {} / {} ({}%)  ",
                        human::bytes(n),
                        human::bytes(total),
                        n * 100 / total.max(1)
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                eprint!("\r{:60}\r", "");
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
