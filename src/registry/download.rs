//! The download of one layer blob into the store, on every core:
//!
//! ```text
//!  receiver thread        decompression                 store ingest (pipeline)
//!  body -> sha256 of  --> members inflated on rayon,  --> sha256 | index | write
//!  the compressed blob    in order (our pushes: a         of the tar, each on
//!  [RECEIVED pieces]      member table), or one           its own thread
//!                         stream decoder (others)
//! ```
//!
//! A layer we pushed is gzip in independent members listed by its member
//! table (`lazy::table`): each member is inflated on its own, [`WINDOW`] at
//! once, and handed on in order. Any other layer (one gzip stream, zstd,
//! none) is decoded on the caller's thread while the receiver reads ahead
//! and the ingest's stages hash, index and write. Several layers are
//! downloaded at once by the caller (`pull --jobs`).
//!
//! Memory per layer, in pieces of at most one member (1 MiB uncompressed in
//! our pushes; a table may declare up to `MAX_MEMBER`, 16 MiB) or 1 MiB
//! (streams): [`RECEIVED`] + 1 received, [`WINDOW`] being inflated and
//! their outputs, and the ingest's `DEPTH + 3` chunks: about 36 MiB for our
//! pushes, 21 MiB for a single gzip stream (its decoder's 1 MiB buffer
//! instead of the window).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use super::Repo;
use crate::compress::{self, Compression};
use crate::digest::Digest;
use crate::error::Error;
use crate::image::oci::Descriptor;
use crate::lazy::table::{Table, TABLE_ANNOTATION};
use crate::progress::Task;
use crate::store::pipeline::{self, Chunk};
use crate::store::{Ingested, Store};

/// Compressed pieces the receiver may read ahead of decompression.
const RECEIVED: usize = 8;
/// Members inflated at once.
const WINDOW: usize = 8;
/// The largest member table fetched before a download.
const MAX_TABLE: u64 = 64 << 20;

/// Why a download failed.
pub(super) enum Failed {
    /// The member table does not describe the blob as it arrived (its
    /// members do not inflate to what it says): the blob may still be good.
    Table(String),
    /// Anything else.
    Other(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Failed {
        Failed::Other(e)
    }
}

/// The member table of a gzip layer we pushed, if its descriptor names one
/// that describes it (else `None`: the layer is decoded as one stream).
pub(super) fn member_table(repo: &Repo, desc: &Descriptor, diff_id: &Digest) -> Option<Table> {
    let td: Digest = desc.annotations.get(TABLE_ANNOTATION)?.parse().ok()?;
    let bytes = repo.get_small_blob(&td, MAX_TABLE).ok()?;
    let table: Table = serde_json::from_slice(&bytes).ok()?;
    match table.check(&desc.digest, desc.size, diff_id) {
        Ok(()) if table.gzip() => Some(table),
        Ok(()) => None,
        Err(why) => {
            log::debug!("layer {}: member table {td} unused: {why}", desc.digest);
            None
        }
    }
}

/// Downloads blob `desc` (compressed as `compression`, split as `table`
/// says when given) into the store, checking the blob's digest and size
/// and, with `diff_id`, the tar's digest.
pub(super) fn download(
    store: &Store,
    repo: &Repo,
    desc: &Descriptor,
    diff_id: Option<&Digest>,
    compression: Compression,
    table: Option<&Table>,
    task: &Task,
) -> std::result::Result<Ingested, Failed> {
    let (body, _) = repo.blob_reader(&desc.digest)?;
    let blob_error = |why: String| Error::Blob {
        digest: desc.digest,
        why,
    };
    // The first error seen by the receiver or the decompression: it
    // explains whatever the ingest saw after it.
    let first: Mutex<Option<Failed>> = Mutex::new(None);
    let note = |f: Failed| {
        let mut slot = first.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(f);
        }
    };
    let ingested = std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(RECEIVED);
        let sizes: Vec<u64> = match table {
            Some(t) => (0..t.members.len()).map(|i| t.span(i).c_len).collect(),
            None => Vec::new(),
        };
        let receiver = s.spawn(move || receive(body, &sizes, desc, task, tx));
        let ingested = match table {
            Some(t) => {
                let members = Members::new(t, rx, &note);
                store.ingest_chunks_checked(members, diff_id, || Ok(()))
            }
            None => {
                let rx = Arc::new(Mutex::new(rx));
                let received = Received::new(rx.clone());
                // With a diff_id to check, the gzip CRC is redundant.
                let decoded = match diff_id {
                    Some(_) => compress::decoder_unchecked(received, compression),
                    None => compress::decoder(received, compression),
                };
                let decoded = decoded.map(|d| Decoding {
                    inner: d,
                    rest: rx,
                    what: compression,
                    note: &note,
                });
                match decoded {
                    Ok(d) => store.ingest_layer_checked(d, diff_id, || Ok(())),
                    Err(e) => Err(blob_error(format!(
                        "{} data is corrupt: {e}",
                        compression.name()
                    ))),
                }
            }
        };
        let received = receiver
            .join()
            .unwrap_or_else(|_| Err("the receiver panicked".into()));
        (received, ingested)
    });
    let (received, ingested) = ingested;
    // The blob's own fault explains whatever the decompression saw.
    if let Err(why) = received {
        return Err(Failed::Other(blob_error(why)));
    }
    match first.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(Failed::Other(Error::Invalid(why))) => return Err(Failed::Other(blob_error(why))),
        Some(f) => return Err(f),
        None => {}
    }
    ingested.map_err(|e| {
        Failed::Other(match e {
            Error::Blob { digest, why } if Some(&digest) == diff_id => blob_error(format!(
                "its uncompressed content does not match diff_id {digest}: {why}"
            )),
            Error::Invalid(why) => blob_error(why),
            other => other,
        })
    })
}

/// Reads the blob in pieces (`sizes`, the members; else 1 MiB pieces to its
/// end), hashing it and counting it on `task`, then checks its size and
/// digest against `desc`. `Err`: why the blob is bad (also sent on, so the
/// decompression stops).
fn receive(
    mut body: impl Read,
    sizes: &[u64],
    desc: &Descriptor,
    task: &Task,
    tx: SyncSender<io::Result<Vec<u8>>>,
) -> std::result::Result<(), String> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let fail = |why: String| {
        let _ = tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())));
        Err(why)
    };
    let mut piece = 0;
    loop {
        let want = match sizes.get(piece) {
            Some(&n) => n as usize,
            None if sizes.is_empty() => pipeline::CHUNK,
            // Past the last member: anything more makes the blob too long.
            None => 1,
        };
        piece += 1;
        let mut buf = vec![0u8; want];
        let n = match read_full(&mut body, &mut buf) {
            Ok(n) => n,
            Err(e) => return fail(format!("download failed: {e}")),
        };
        total += n as u64;
        if total > desc.size {
            return fail(format!(
                "larger than the {} bytes its descriptor says",
                desc.size
            ));
        }
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        task.add(n as u64);
        buf.truncate(n);
        if tx.send(Ok(buf)).is_err() {
            // The decompression stopped: its error is the one to report.
            return Ok(());
        }
        if n < want {
            break;
        }
    }
    if total != desc.size {
        return fail(format!("truncated: {total} of {} bytes", desc.size));
    }
    let got = Digest(hasher.finalize().into());
    if got != desc.digest {
        return fail(format!("content hashes to {got}"));
    }
    Ok(())
}

/// Fills `buf` unless the stream ends first; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What the receiver sends: pieces of the blob, or why it is bad.
type Pieces = Receiver<io::Result<Vec<u8>>>;

/// The received pieces as one stream.
struct Received {
    rx: Arc<Mutex<Pieces>>,
    piece: io::Cursor<Vec<u8>>,
}

impl Received {
    fn new(rx: Arc<Mutex<Pieces>>) -> Received {
        Received {
            rx,
            piece: io::Cursor::new(Vec::new()),
        }
    }
}

impl Read for Received {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.piece.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let next = self.rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
            match next {
                Ok(piece) => self.piece = io::Cursor::new(piece?),
                Err(_) => return Ok(0),
            }
        }
    }
}

/// Records the first decompression error (so it is reported rather than the
/// ingest's view of it); at the decoder's end, takes what the receiver still
/// sends until it is done: more data is an error, and the stream ends only
/// once the receiver has checked the blob.
struct Decoding<'a, R, F: Fn(Failed)> {
    inner: R,
    rest: Arc<Mutex<Pieces>>,
    what: Compression,
    note: &'a F,
}

impl<R: Read, F: Fn(Failed)> Read for Decoding<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            (self.note)(Failed::Other(Error::Invalid(format!(
                "{} data is corrupt: {e}",
                self.what.name()
            ))));
        })?;
        if n == 0 && !buf.is_empty() {
            let rest = self.rest.lock().unwrap_or_else(|p| p.into_inner());
            for piece in rest.iter() {
                if !piece?.is_empty() {
                    let why = "data follows the end of the compressed stream";
                    (self.note)(Failed::Other(Error::Invalid(why.into())));
                    return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                }
            }
        }
        Ok(n)
    }
}

/// The tar of a member-table layer: members inflated [`WINDOW`] at once on
/// rayon's pool, yielded in order.
struct Members<'a, F: Fn(Failed)> {
    table: &'a Table,
    rx: Pieces,
    next: usize,
    pending: VecDeque<(usize, Receiver<io::Result<Vec<u8>>>)>,
    note: &'a F,
    done: bool,
}

impl<'a, F: Fn(Failed)> Members<'a, F> {
    fn new(table: &'a Table, rx: Pieces, note: &'a F) -> Self {
        Members {
            table,
            rx,
            next: 0,
            pending: VecDeque::new(),
            note,
            done: false,
        }
    }

    /// Starts inflating received members until the window is full.
    fn start(&mut self) -> io::Result<()> {
        while self.pending.len() < WINDOW && self.next < self.table.members.len() {
            let piece = match self.rx.recv() {
                Ok(p) => p?,
                Err(_) => return Err(io::Error::other("the download stopped")),
            };
            let u_len = self.table.span(self.next).u_len as usize;
            let (tx, rx) = sync_channel(1);
            rayon::spawn(move || {
                let _ = tx.send(inflate_member(&piece, u_len));
            });
            self.pending.push_back((self.next, rx));
            self.next += 1;
        }
        Ok(())
    }
}

impl<F: Fn(Failed)> Iterator for Members<'_, F> {
    type Item = io::Result<Chunk>;

    fn next(&mut self) -> Option<io::Result<Chunk>> {
        if self.done {
            return None;
        }
        let got = self.start().and_then(|()| {
            let Some((i, rx)) = self.pending.pop_front() else {
                // Every member is in: the receiver ends after checking the
                // blob, and says so if it is bad.
                for piece in self.rx.iter() {
                    piece?;
                }
                return Ok(None);
            };
            let out = rx
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("an inflate task panicked")));
            out.map(|o| Some(Arc::new(o))).map_err(|e| {
                let why = format!("member {i} of its member table: {e}");
                (self.note)(Failed::Table(why.clone()));
                io::Error::new(io::ErrorKind::InvalidData, why)
            })
        });
        match got {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Inflates one member, which must give exactly `u_len` bytes (its CRC is
/// left to the diff_id check of the whole tar).
fn inflate_member(piece: &[u8], u_len: usize) -> io::Result<Vec<u8>> {
    compress::gunzip_exact(piece, u_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Encoder;
    use crate::lazy::table::BlobRef;
    use std::io::Write;

    /// `data` as our push writes it, its pieces as the receiver sends them,
    /// and its member table.
    fn pushed(data: &[u8]) -> (Vec<Vec<u8>>, Table) {
        let mut enc = Encoder::new(Vec::new(), Compression::Gzip).unwrap();
        enc.write_all(data).unwrap();
        let (blob, members) = enc.finish_members().unwrap();
        let members = members.unwrap();
        let mut pieces = Vec::new();
        let mut at = 0;
        for m in &members {
            pieces.push(blob[at..at + m.compressed as usize].to_vec());
            at += m.compressed as usize;
        }
        let blob_ref = BlobRef {
            digest: Digest::of(&blob),
            size: blob.len() as u64,
        };
        let index = BlobRef {
            digest: Digest::of(b"index"),
            size: 5,
        };
        let table = Table::of_gzip(blob_ref, Digest::of(data), index, &members);
        (pieces, table)
    }

    fn run(pieces: Vec<Vec<u8>>, table: &Table) -> (io::Result<Vec<u8>>, Vec<String>) {
        let (tx, rx) = sync_channel(pieces.len() + 1);
        for p in pieces {
            tx.send(Ok(p)).unwrap();
        }
        drop(tx);
        let noted = Mutex::new(Vec::new());
        let note = |f: Failed| {
            let why = match f {
                Failed::Table(why) => format!("table: {why}"),
                Failed::Other(e) => format!("other: {e}"),
            };
            noted.lock().unwrap().push(why);
        };
        let out: io::Result<Vec<u8>> = Members::new(table, rx, &note)
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<io::Result<Vec<_>>>()
            .map(|v| v.concat());
        (out, noted.into_inner().unwrap())
    }

    #[test]
    fn members_come_out_in_order_and_a_wrong_table_is_the_tables_fault() {
        let text = b"kubeadm init --config kubeadm.yaml\n".repeat(400_000);
        let (pieces, table) = pushed(&text);
        assert!(table.members.len() > WINDOW, "more members than the window");
        let (out, noted) = run(pieces.clone(), &table);
        assert_eq!(out.unwrap(), text);
        assert!(noted.is_empty());
        // A table whose uncompressed offsets are off by one byte.
        let mut wrong = table.clone();
        wrong.members[3].1 += 1;
        let (out, noted) = run(pieces, &wrong);
        assert!(out.is_err());
        assert_eq!(noted.len(), 1, "{noted:?}");
        assert!(noted[0].starts_with("table: member 2"), "{noted:?}");
    }

    #[test]
    fn a_failed_download_ends_the_members_with_its_error() {
        let text = vec![7u8; 3 << 20];
        let (pieces, table) = pushed(&text);
        let (tx, rx) = sync_channel(8);
        tx.send(Ok(pieces[0].clone())).unwrap();
        tx.send(Err(io::Error::other("download failed: reset")))
            .unwrap();
        drop(tx);
        let note = |_: Failed| panic!("not the table's fault");
        let got: io::Result<Vec<Chunk>> = Members::new(&table, rx, &note).collect();
        let err = got.unwrap_err().to_string();
        assert!(err.contains("download failed"), "{err}");
    }
}
