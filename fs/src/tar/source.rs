//! Where [`TarReader`](super::TarReader) reads a tar from: a file on disk through a
//! buffer (data skipped inside it or by one seek), or a stream (data skipped by
//! reading it, so a hashing tee still sees every byte).

use std::io::{self, Read, Seek, SeekFrom};

/// A byte source a tar is read from: reads headers, skips data.
pub trait Source: Read {
    /// Skips `n` bytes. Returns how many were skipped (fewer only at EOF).
    fn skip(&mut self, n: u64) -> io::Result<u64>;

    /// Bytes left to read, when known: lets a reader size its tables.
    fn remaining(&self) -> Option<u64> {
        None
    }

    /// Whether the next 512 bytes can be taken in place, read ahead into
    /// a buffer (filled here when empty); false sends the reader to
    /// [`Read::read`] for them. Saves copying every header.
    fn block_buffered(&mut self) -> io::Result<bool> {
        Ok(false)
    }

    /// Takes the next 512 bytes in place once
    /// [`block_buffered`](Self::block_buffered) said so; `None` otherwise.
    fn take_block(&mut self) -> Option<&[u8; 512]> {
        None
    }
}

/// Bytes [`SeekSource`] reads at a time: about a hundred headers of small
/// files per `read`, where reading header by header took two syscalls per
/// entry (a 512-byte `read` and an `lseek` over the data).
const SEEK_BUF: usize = 64 << 10;

/// A tar on disk (or anything seekable), read through a buffer: data that
/// lies in the buffer is skipped there, longer data with one seek, made
/// only when the next header is needed.
pub struct SeekSource<R> {
    inner: R,
    len: u64,
    /// Position of the next byte handed out.
    pos: u64,
    /// Position of `inner`; differs from `pos` + unread buffer only after a
    /// skip past the buffer, until the next fill seeks.
    inner_pos: u64,
    buf: Box<[u8]>,
    /// Unread bytes of `buf`: `buf[start..end]`, which begin at `pos`.
    start: usize,
    end: usize,
}

impl<R: Read + Seek> SeekSource<R> {
    /// Wraps a seekable reader positioned at the tar's first byte.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let pos = inner.stream_position()?;
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(pos))?;
        Ok(Self {
            inner,
            len,
            pos,
            inner_pos: pos,
            buf: vec![0u8; SEEK_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
        })
    }

    /// Reads into the empty buffer, from `pos`.
    fn fill(&mut self) -> io::Result<()> {
        self.sync_inner()?;
        let n = self.inner.read(&mut self.buf)?;
        self.inner_pos += n as u64;
        (self.start, self.end) = (0, n);
        Ok(())
    }

    /// Moves `inner` to `pos` if a skip left it behind.
    fn sync_inner(&mut self) -> io::Result<()> {
        if self.inner_pos != self.pos {
            self.inner.seek(SeekFrom::Start(self.pos))?;
            self.inner_pos = self.pos;
        }
        Ok(())
    }
}

impl<R: Read + Seek> Read for SeekSource<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            self.sync_inner()?;
            if out.len() >= self.buf.len() {
                let n = self.inner.read(out)?;
                self.inner_pos += n as u64;
                self.pos += n as u64;
                return Ok(n);
            }
            self.fill()?;
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Source for SeekSource<R> {
    fn remaining(&self) -> Option<u64> {
        Some(self.len.saturating_sub(self.pos))
    }

    fn block_buffered(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            self.fill()?;
        }
        Ok(self.end - self.start >= 512)
    }

    fn take_block(&mut self) -> Option<&[u8; 512]> {
        let at = self.start;
        let block = self.buf.get(at..at + 512)?;
        if at + 512 > self.end {
            return None;
        }
        self.start += 512;
        self.pos += 512;
        block.try_into().ok()
    }

    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let n = n.min(self.len.saturating_sub(self.pos));
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.start += n as usize;
            self.pos += n;
            return Ok(n);
        }
        // Past the buffer: drop it. A short way past it, read on (the next
        // header is near); further, the next read seeks.
        (self.start, self.end) = (0, 0);
        self.pos += buffered;
        let rest = n - buffered;
        if rest < (SEEK_BUF / 2) as u64 && self.inner_pos == self.pos {
            let got = self.inner.read(&mut self.buf)?;
            self.inner_pos += got as u64;
            self.end = got;
            let step = (rest as usize).min(got);
            self.start = step;
            self.pos += step as u64;
            if step < rest as usize {
                (self.start, self.end) = (0, 0);
                self.pos += rest - step as u64;
            }
            return Ok(n);
        }
        self.pos += rest;
        Ok(n)
    }
}

/// A tar arriving as a stream: data is skipped by reading it.
pub struct StreamSource<R>(pub R);

impl<R: Read> Read for StreamSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::read_full;

    #[test]
    fn seek_source_reads_and_skips_like_the_bytes_it_wraps() {
        let data: Vec<u8> = (0..3 * SEEK_BUF + 777)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut src = SeekSource::new(std::io::Cursor::new(&data[..])).unwrap();
        let mut pos = 0usize;
        // (read, then skip): within the buffer, to its end, past it, larger
        // than it, and past the end of the data.
        let steps = [
            (512, 100),
            (512, SEEK_BUF - 1124),
            (512, SEEK_BUF),
            (SEEK_BUF + 5, 3),
            (512, 10 * SEEK_BUF),
        ];
        for (read, skip) in steps {
            let mut got = vec![0u8; read];
            let n = read_full(&mut src, &mut got).unwrap();
            let want = &data[pos.min(data.len())..(pos + read).min(data.len())];
            assert_eq!(&got[..n], want, "read of {read} at {pos}");
            pos += n;
            let skipped = src.skip(skip as u64).unwrap() as usize;
            assert_eq!(
                skipped,
                skip.min(data.len() - pos),
                "skip of {skip} at {pos}"
            );
            pos += skipped;
        }
        assert_eq!(pos, data.len());
        assert_eq!(src.read(&mut [0u8; 16]).unwrap(), 0);
    }
}
