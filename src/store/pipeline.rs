//! The stages of a layer ingest, each on its own thread: the producer
//! (decompression, on the caller's thread or rayon's) hands ordered chunks of
//! the tar to three consumers through bounded channels: sha256 of the tar,
//! the index of its headers, and the write to `tmp/` (with writeback started
//! as it goes, so the final fsync finds little left to write). A chunk is
//! shared (`Arc`), never copied between stages.
//!
//! ```text
//!   producer --chunk--> [DEPTH] --> sha256 ------------> digest, size
//!            --chunk--> [DEPTH] --> build_index -------> index builder
//!            --chunk--> [DEPTH] --> write + writeback --> tmp file
//! ```
//!
//! Memory: the three channels carry the same chunks, and the producer waits
//! on the fullest, so at most `DEPTH + 3` chunks are alive per ingest (the
//! slowest stage's queue, one in its hands, the index stage's current one,
//! one being produced): 11 MiB for 1 MiB chunks.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use sealer_fs::index::{build_index, IndexBuilder};
use sealer_fs::tar::Source;
use sealer_fs::IndexError;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, IoContext, Result};

/// A piece of the tar, in order.
pub type Chunk = Arc<Vec<u8>>;

/// Chunks a channel between two stages holds.
pub const DEPTH: usize = 8;
/// Bytes a reader-fed ingest reads at a time.
pub const CHUNK: usize = 1 << 20;
/// Bytes written between two starts of writeback.
const WRITEBACK: u64 = 8 << 20;

/// What the stages made of a complete stream.
pub struct Staged {
    /// sha256 of the tar.
    pub digest: [u8; 32],
    /// Its size.
    pub size: u64,
    /// Its index, to be finished with the digest.
    pub builder: IndexBuilder,
    /// The tmp file holding it, written (not yet synced).
    pub file: File,
}

/// Runs the stages over `chunks` into a new file at `tmp`. An error of the
/// producer (an `Err` chunk) ends the ingest as soon as it is seen; so does
/// a tar the index refuses.
pub fn run(tmp: &Path, chunks: impl Iterator<Item = io::Result<Chunk>>) -> Result<Staged> {
    let file = File::create(tmp).at(tmp)?;
    std::thread::scope(|s| {
        let (htx, hrx) = sync_channel::<Chunk>(DEPTH);
        let (itx, irx) = sync_channel::<Chunk>(DEPTH);
        let (wtx, wrx) = sync_channel::<Chunk>(DEPTH);
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            let mut size = 0u64;
            for c in hrx {
                h.update(&c[..]);
                size += c.len() as u64;
            }
            (<[u8; 32]>::from(h.finalize()), size)
        });
        let indexer = s.spawn(move || index_stage(irx));
        let writer = s.spawn(move || write_stage(file, wrx));
        let produced = feed(chunks, [htx, itx, wtx]);
        let (digest, size) = hasher.join().map_err(|_| panicked("hash"))?;
        let indexed = indexer.join().map_err(|_| panicked("index"))?;
        let written = writer.join().map_err(|_| panicked("write"))?;
        // The producer's error first (a broken download explains a short
        // tar), then the index's (a refused tar stops the producer), then
        // the disk's.
        produced.at(tmp)?;
        let builder = indexed.map_err(|e| match e {
            IndexError::Tar(sealer_fs::TarError::Io { err, .. }) => Error::Io {
                path: tmp.into(),
                err,
            },
            e => {
                let why = e.to_string();
                let why = why.strip_prefix("not a valid tar: ").unwrap_or(&why);
                Error::Invalid(format!("layer is not a valid tar: {why}"))
            }
        })?;
        let file = written.at(tmp)?;
        Ok(Staged {
            digest,
            size,
            builder,
            file,
        })
    })
}

fn panicked(stage: &str) -> Error {
    Error::Invalid(format!("the {stage} stage of an ingest panicked"))
}

/// Sends every chunk to every stage; stops at the first error or when a
/// stage has quit (it failed: its error is reported by its join).
fn feed(
    chunks: impl Iterator<Item = io::Result<Chunk>>,
    stages: [SyncSender<Chunk>; 3],
) -> io::Result<()> {
    for c in chunks {
        let c = c?;
        if c.is_empty() {
            continue;
        }
        for tx in &stages {
            if tx.send(c.clone()).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Indexes the tar, then drains what follows its end (part of the blob,
/// not of the index), so the producer never sees this stage gone unless the
/// tar was refused.
fn index_stage(rx: Receiver<Chunk>) -> std::result::Result<IndexBuilder, IndexError> {
    let (builder, src) = build_index(ChunkSource::new(&rx))?;
    drop(src);
    for _ in rx.iter() {}
    Ok(builder)
}

/// Writes every chunk, starting writeback every [`WRITEBACK`] bytes.
fn write_stage(mut file: File, rx: Receiver<Chunk>) -> io::Result<File> {
    let mut since = 0u64;
    let mut at = 0u64;
    let result = (|| {
        for c in rx.iter() {
            file.write_all(&c)?;
            since += c.len() as u64;
            if since >= WRITEBACK {
                start_writeback(&file, at, since);
                at += since;
                since = 0;
            }
        }
        Ok(())
    })();
    // On a write error, drain so the producer sees a full stage rather than a
    // closed one; the error is reported by the join.
    for _ in rx.iter() {}
    result.map(|()| file)
}

/// Asks the kernel to start writing `len` bytes at `offset` back to disk
/// (no wait): the fsync at the end then finds them written or under way.
fn start_writeback(file: &File, offset: u64, len: u64) {
    // SAFETY: a valid fd; the call only schedules I/O on its pages.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// The tar as the index stage sees it: chunks from a channel, skipped over
/// without copying.
struct ChunkSource<'a> {
    rx: &'a Receiver<Chunk>,
    chunk: Chunk,
    pos: usize,
}

impl<'a> ChunkSource<'a> {
    fn new(rx: &'a Receiver<Chunk>) -> ChunkSource<'a> {
        ChunkSource {
            rx,
            chunk: Arc::new(Vec::new()),
            pos: 0,
        }
    }

    /// Makes the current chunk non-empty; false at the end of the stream.
    fn fill(&mut self) -> bool {
        while self.pos >= self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Err(_) => return false,
            }
        }
        true
    }
}

impl Read for ChunkSource<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || !self.fill() {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Source for ChunkSource<'_> {
    fn skip(&mut self, mut n: u64) -> io::Result<u64> {
        let want = n;
        while n > 0 && self.fill() {
            let step = n.min((self.chunk.len() - self.pos) as u64);
            self.pos += step as usize;
            n -= step;
        }
        Ok(want - n)
    }

    fn block_buffered(&mut self) -> io::Result<bool> {
        Ok(self.fill() && self.chunk.len() - self.pos >= 512)
    }

    fn take_block(&mut self) -> Option<&[u8; 512]> {
        let block = self.chunk.get(self.pos..self.pos + 512)?;
        self.pos += 512;
        block.try_into().ok()
    }
}

/// Chunks of what `src` reads, [`CHUNK`] bytes at a time (fewer at its end).
pub fn read_chunks<R: Read>(mut src: R) -> impl Iterator<Item = io::Result<Chunk>> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0;
        while n < CHUNK {
            match src.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }
        if n < CHUNK {
            done = true;
            if n == 0 {
                return None;
            }
        }
        buf.truncate(n);
        Some(Ok(Arc::new(buf)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_source_reads_skips_and_takes_blocks_across_chunks() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let (tx, rx) = sync_channel(16);
        for piece in [
            &data[..700],
            &data[700..701],
            &data[701..3000],
            &data[3000..],
        ] {
            tx.send(Arc::new(piece.to_vec())).unwrap();
        }
        drop(tx);
        let mut s = ChunkSource::new(&rx);
        let mut buf = [0u8; 100];
        assert_eq!(s.read(&mut buf).unwrap(), 100);
        assert_eq!(&buf[..], &data[..100]);
        assert_eq!(s.skip(650).unwrap(), 650);
        // 750: inside the third chunk, which has room for a block
        assert!(s.block_buffered().unwrap());
        assert_eq!(&s.take_block().unwrap()[..], &data[750..1262]);
        assert_eq!(s.skip(10_000).unwrap(), 5000 - 1262);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
}
