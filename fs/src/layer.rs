//! An open layer: its index and where its bytes come from, and reads of
//! file data by offset.
//!
//! The bytes of a layer are the uncompressed tar the index was made of. They
//! are read through one seam, [`LayerBytes`]: a local blob file
//! ([`Layer::new`]), or anything else that can fill a buffer at an offset of
//! that tar (the product's lazily fetched layers, [`Layer::with_bytes`]).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};

use crate::index::{EntryId, Kind, LayerIndex};

/// The bytes of a layer's uncompressed tar, read by offset. Called from
/// several FUSE threads at once.
pub trait LayerBytes: Send + Sync {
    /// Fills `buf` with the bytes at `offset`; an offset past the end is an
    /// `UnexpectedEof` error, unavailable bytes are an error (EIO to a reader).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// Fills `buf` with the bytes at `offset` for a reader of a file whose
    /// bytes end at `end`: a source that fetches ahead of a sequential
    /// reader stops at the file's end. By default [`Self::read_exact_at`].
    fn read_file_at(&self, buf: &mut [u8], offset: u64, _end: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }

    /// The local file holding every byte at the same offsets, if there is
    /// one (lets copies happen in the kernel).
    fn local_file(&self) -> Option<&File> {
        None
    }
}

impl LayerBytes for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn local_file(&self) -> Option<&File> {
        Some(self)
    }
}

/// [`Layer::served_stream`] lets go of a big file's blob pages in windows of
/// this size, one window behind the reader. Measured on 150 MB files
/// (benches/README.md): 8 MiB windows left a quarter of the bytes cached
/// (pages dropped before the requests still in flight had read them, then
/// read again), 32 MiB left 6 %.
const DROP_WINDOW: u64 = 32 << 20;
/// Files smaller than this keep their blob pages (a binary that every
/// `RUN` of a build starts stays cached for the next mount).
const STREAM_MIN: u64 = 16 << 20;
const PAGE: u64 = 4096;

/// A layer opened together with its index.
pub struct Layer {
    /// The layer's index.
    pub index: LayerIndex,
    blob: Box<dyn LayerBytes>,
}

impl Layer {
    /// Pairs a blob with its (already validated) index.
    pub fn new(blob: File, index: LayerIndex) -> Layer {
        Layer::with_bytes(Box::new(blob), index)
    }

    /// Pairs any source of the layer's bytes with its (already validated)
    /// index.
    pub fn with_bytes(blob: Box<dyn LayerBytes>, index: LayerIndex) -> Layer {
        Layer { index, blob }
    }

    /// Reads file data of `id` at `offset` into `buf`; returns the bytes read
    /// (0 at the end of the file). Errors if the blob is shorter than the
    /// index says (a truncated or replaced blob).
    pub fn read_at(&self, id: EntryId, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let m = self.index.meta(id);
        if m.kind != Kind::File || offset >= m.size {
            return Ok(0);
        }
        let want = buf.len().min((m.size - offset) as usize);
        let buf = &mut buf[..want];
        let end = m.data + m.size;
        self.blob
            .read_file_at(buf, m.data + offset, end)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "layer blob is shorter than its index says",
                    )
                } else {
                    e
                }
            })?;
        Ok(want)
    }

    /// Where the bytes of regular file `id` lie in the local blob: the blob
    /// file, the offset of the data and its length; `None` for other kinds
    /// and for layers whose bytes are not all in one local file (lets a
    /// server hand the range to the kernel, `sendfile`).
    pub fn extent(&self, id: EntryId) -> Option<(&File, u64, u64)> {
        let m = self.index.meta(id);
        if m.kind != Kind::File {
            return None;
        }
        self.blob.local_file().map(|f| (f, m.data, m.size))
    }

    /// Tells the layer that a reader going through file `id` was just
    /// served `len` bytes at `offset` by a FUSE mount, which keeps what it
    /// got in its own page cache: the local blob's copy of those bytes is
    /// then let go, so a file read through the mount is cached once, not
    /// twice. Done for big files only, a window behind the reader (so the
    /// requests still in flight, which the kernel sends out of order, are
    /// served first), and at the file's end; call it after replying.
    pub fn served_stream(&self, id: EntryId, offset: u64, len: usize) {
        let m = self.index.meta(id);
        if len == 0 || m.size < STREAM_MIN || m.kind != Kind::File {
            return;
        }
        let Some(blob) = self.blob.local_file() else {
            return;
        };
        let end = offset + len as u64;
        for w in offset.div_ceil(DROP_WINDOW).max(1)..end.div_ceil(DROP_WINDOW) {
            drop_pages(
                blob,
                m.data + (w - 1) * DROP_WINDOW,
                m.data + w * DROP_WINDOW,
            );
        }
        if end == m.size {
            let last = (m.size - 1) / DROP_WINDOW * DROP_WINDOW;
            drop_pages(blob, m.data + last, m.data + m.size);
        }
    }

    /// Copies the whole content of file `id` into `out`, from its start, in
    /// the kernel (`copy_file_range`) where the file systems allow it;
    /// `written(offset, len)` is called after every chunk so copied.
    pub fn copy_to_file(
        &self,
        id: EntryId,
        out: &File,
        mut written: impl FnMut(u64, u64) -> io::Result<()>,
    ) -> io::Result<u64> {
        const CHUNK: usize = 8 << 20;
        let m = self.index.meta(id);
        if m.kind != Kind::File {
            return Ok(0);
        }
        let Some(blob) = self.blob.local_file() else {
            let mut w = out;
            return self.copy_to(id, &mut w);
        };
        let (mut src, mut dst) = (m.data as i64, 0i64);
        let mut left = m.size as usize;
        while left > 0 {
            let (from, to) = (blob.as_fd(), out.as_fd());
            let at = dst as u64;
            match crate::sys::copy_file_range(from, &mut src, to, &mut dst, left.min(CHUNK)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "layer blob is shorter than its index says",
                    ))
                }
                Ok(n) => {
                    left -= n;
                    written(at, n as u64)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if dst == 0
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP)
                        ) =>
                {
                    let mut w = out;
                    return self.copy_to(id, &mut w);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(m.size)
    }

    /// Copies the whole content of file `id` to `out`.
    pub fn copy_to(&self, id: EntryId, out: &mut impl io::Write) -> io::Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut off = 0u64;
        loop {
            let n = self.read_at(id, off, &mut buf)?;
            if n == 0 {
                return Ok(off);
            }
            out.write_all(&buf[..n])?;
            off += n as u64;
        }
    }
}

/// Lets go of the cached pages of `file` wholly inside `[from, to)`; the
/// pages at the edges may hold bytes of a neighbour and stay. A hint: a
/// failure changes nothing but the cache.
fn drop_pages(file: &File, from: u64, to: u64) {
    let (lo, hi) = (from.next_multiple_of(PAGE), to / PAGE * PAGE);
    let (Ok(at), Ok(len)) = (i64::try_from(lo), i64::try_from(hi.saturating_sub(lo))) else {
        return;
    };
    if len == 0 {
        return;
    }
    if let Err(e) = posix_fadvise(
        file.as_fd(),
        at,
        len,
        PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    ) {
        log::debug!("posix_fadvise(DONTNEED) on a layer blob: {e}");
    }
}
