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

use crate::index::{EntryId, Kind, LayerIndex};

/// The bytes of a layer's uncompressed tar, read by offset. Called from
/// several FUSE threads at once.
pub trait LayerBytes: Send + Sync {
    /// Fills `buf` with the bytes at `offset`; an offset past the end is an
    /// `UnexpectedEof` error, unavailable bytes are an error (EIO to a reader).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

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
        self.blob.read_exact_at(buf, m.data + offset).map_err(|e| {
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
