//! The bytes of a partly present layer, for the filesystem: a
//! [`LayerBytes`] that reads members from the chunk cache and fetches the
//! missing ones from the registry.
//!
//! - A read needing members that are not cached fetches them in one Range
//!   request; a read entering a new member right after the previous one (a
//!   sequential reader) keeps up to [`PREFETCH`] members ahead of it fetched
//!   by background fetches of half that each (at most [`BACKGROUND`] at
//!   once), so fetching overlaps reading in large ranges; never past the
//!   end of the file it reads.
//! - Concurrent reads of the same members wait for the one fetch already
//!   running (an in-flight set), at most [`WAIT`]; then EIO.
//! - A fetched member, checked against its hash and written to the cache,
//!   is also kept in memory (the last [`MEMORY`] bytes of members fetched),
//!   so readers take it without opening its chunk; waiting readers are
//!   woken per member, not per fetch.
//! - Each chunk is checked against its member hash the first time this
//!   process reads it (a chunk a crash left short is fetched again).
//! - A failed fetch is EIO for that read, logged with the layer and the
//!   range; fetched data stays readable, and the next read tries again.
//! - With a cap on the cache (`--cache-size`), the oldest chunks of any
//!   layer are evicted after fetches, never those just fetched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sealer_fs::LayerBytes;

use super::fetch::Remote;
use super::table::Table;
use crate::digest::Digest;
use crate::store::Chunks;

/// Members kept fetched (or in flight) ahead of a sequential reader; a
/// background fetch starts when fewer than half are, for the next half.
pub const PREFETCH: usize = 64;
/// Background fetches of one layer at once.
const BACKGROUND: usize = 2;
/// Bytes of the members fetched last kept in memory for readers.
const MEMORY: usize = 8 << 20;
/// How long a read waits for another thread's fetch of its member.
const WAIT: Duration = Duration::from_secs(90);
/// Bytes written between two checks of the cache's cap (at most; half the
/// cap when that is less, so a small cap holds too).
const EVICT_EVERY: u64 = 16 << 20;

/// A partly present layer's bytes.
pub struct LazyBytes(Arc<Inner>);

/// The state the readers and the background fetches share.
struct Inner {
    layer: Digest,
    table: Table,
    chunks: Chunks,
    remote: Remote,
    inflight: Mutex<HashSet<usize>>,
    done: Condvar,
    verified: Vec<AtomicBool>,
    /// The last member a read ended in, plus one (0: none yet).
    last: AtomicUsize,
    written: AtomicU64,
    /// The complete blob, once a full pull made it (then chunks are gone).
    whole: OnceLock<File>,
    /// Background fetches running.
    background: AtomicUsize,
    /// Members fetched last, checked: what readers take first.
    recent: Mutex<Recent>,
}

/// The members fetched last, in memory, at most [`MEMORY`] bytes.
#[derive(Default)]
struct Recent {
    members: HashMap<usize, Arc<Vec<u8>>>,
    order: VecDeque<usize>,
    bytes: usize,
}

impl Recent {
    fn put(&mut self, n: usize, data: Arc<Vec<u8>>) {
        self.bytes += data.len();
        if let Some(old) = self.members.insert(n, data) {
            self.bytes -= old.len();
        } else {
            self.order.push_back(n);
        }
        while self.bytes > MEMORY {
            let Some(m) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.members.remove(&m) {
                self.bytes -= old.len();
                if let Ok(v) = Arc::try_unwrap(old) {
                    super::fetch::recycle(v);
                }
            }
        }
    }
}

impl LazyBytes {
    /// Reads `layer` (whose member table is `table`) from `chunks`, fetching
    /// from `remote`.
    pub fn new(layer: Digest, table: Table, chunks: Chunks, remote: Remote) -> LazyBytes {
        let verified = (0..table.members.len())
            .map(|_| AtomicBool::new(false))
            .collect();
        LazyBytes(Arc::new(Inner {
            layer,
            table,
            chunks,
            remote,
            inflight: Mutex::new(HashSet::new()),
            done: Condvar::new(),
            verified,
            last: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            whole: OnceLock::new(),
            background: AtomicUsize::new(0),
            recent: Mutex::new(Recent::default()),
        }))
    }
}

impl Inner {
    /// Reads `out.len()` bytes at `within` of member `n`, fetching it (and
    /// up to member `upto`, and ahead) if it is not cached.
    fn read_member(&self, n: usize, within: u64, out: &mut [u8], upto: usize) -> io::Result<()> {
        for _ in 0..3 {
            if let Some(data) = self.in_memory(n) {
                out.copy_from_slice(&data[within as usize..within as usize + out.len()]);
                return Ok(());
            }
            if let Some(f) = self.open_checked(n)? {
                return FileExt::read_exact_at(&f, out, within);
            }
            if let Err(e) = self.ensure(n, upto) {
                // A failed run may have kept this member before failing.
                if let Some(f) = self.open_checked(n)? {
                    return FileExt::read_exact_at(&f, out, within);
                }
                return Err(e);
            }
        }
        Err(eio(format!(
            "layer {}: member {n} vanished from the cache as soon as it was fetched",
            self.layer
        )))
    }

    /// Member `n` if it was fetched lately (checked).
    fn in_memory(&self, n: usize) -> Option<Arc<Vec<u8>>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.members.get(&n).cloned()
    }

    /// Whether member `n` is here: in memory or in the cache.
    fn present(&self, n: usize) -> bool {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .members
            .contains_key(&n)
            || self.chunks.path(&self.layer, n).is_file()
    }

    /// The chunk file of member `n`, checked once per process; `None` if it
    /// is not cached (or was bad, and is removed).
    fn open_checked(&self, n: usize) -> io::Result<Option<File>> {
        let path = self.chunks.path(&self.layer, n);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if self.verified[n].load(Ordering::Acquire) {
            return Ok(Some(f));
        }
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut &f, &mut bytes)?;
        if self.table.verify(n, &bytes) {
            self.verified[n].store(true, Ordering::Release);
            return Ok(Some(f));
        }
        log::warn!(
            "layer {}: cached member {n} does not match its table; fetching it again",
            self.layer
        );
        let _ = std::fs::remove_file(&path);
        Ok(None)
    }

    /// Makes member `n` cached: waits for a fetch of it in flight, else
    /// fetches it with its missing neighbours up to `upto` in one request.
    fn ensure(&self, n: usize, upto: usize) -> io::Result<()> {
        let end = (upto + 1).min(self.table.members.len());
        let deadline = Instant::now() + WAIT;
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        while inflight.contains(&n) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(eio(format!(
                    "layer {}: member {n}: gave up waiting for its fetch",
                    self.layer
                )));
            }
            inflight = self
                .done
                .wait_timeout(inflight, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if self.present(n) {
            return Ok(());
        }
        let mut b = n + 1;
        while b < end && !inflight.contains(&b) && !self.present(b) {
            b += 1;
        }
        inflight.extend(n..b);
        drop(inflight);
        let result = self.fetch(n, b);
        self.release(n, b);
        result
    }

    /// Keeps the members from `from` on (up to `limit`, the end of the
    /// reader's file) fetched ahead of a sequential reader: when fewer than
    /// half of the next [`PREFETCH`] are cached or in flight, starts a
    /// background fetch of the next missing run (at most half of
    /// [`PREFETCH`] members).
    fn prefetch(self: &Arc<Self>, from: usize, limit: usize) {
        let total = self.table.members.len().min(limit);
        if from >= total || self.background.load(Ordering::Relaxed) >= BACKGROUND {
            return;
        }
        let end = (from + PREFETCH).min(total);
        let present: Vec<bool> = (from..end).map(|m| self.present(m)).collect();
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        let ready = |m: usize| present[m - from] || inflight.contains(&m);
        let Some(a) = (from..end).find(|&m| !ready(m)) else {
            return;
        };
        if a - from >= PREFETCH / 2 && end - from == PREFETCH {
            return;
        }
        let mut b = a + 1;
        while b < end && b - a < PREFETCH / 2 && !ready(b) {
            b += 1;
        }
        inflight.extend(a..b);
        drop(inflight);
        self.background.fetch_add(1, Ordering::Relaxed);
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("sealer-prefetch".into())
            .spawn(move || {
                // Failures are logged; a reader that needs them tries again.
                let _ = me.fetch(a, b);
                me.release(a, b);
                me.background.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            self.release(a, b);
            self.background.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Ends a fetch of members `a..b`: wakes who waits for them.
    fn release(&self, a: usize, b: usize) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for m in a..b {
            inflight.remove(&m);
        }
        drop(inflight);
        self.done.notify_all();
    }

    /// Fetches members `a..b` into the cache.
    fn fetch(&self, a: usize, b: usize) -> io::Result<()> {
        let (start, last) = (self.table.span(a), self.table.span(b - 1));
        let bytes = AtomicU64::new(0);
        let r = self.remote.fetch(&self.table, a, b, &|m, data| {
            bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            self.chunks.put(&self.layer, m, &data)?;
            self.verified[m].store(true, Ordering::Release);
            self.recent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(m, Arc::new(data));
            self.release(m, m + 1);
            Ok(())
        });
        let bytes = bytes.into_inner();
        if let Err(e) = r {
            let why = format!(
                "layer {}: fetching bytes {}-{} of the tar (blob {} bytes {}-{}): {e}",
                self.layer,
                start.u,
                last.u + last.u_len,
                self.table.blob,
                start.c,
                last.c + last.c_len
            );
            log::error!("{why}");
            return Err(eio(why));
        }
        log::debug!("layer {}: fetched members {a}..{b}", self.layer);
        let written = self.written.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(cap) = self.chunks.cap() {
            let every = EVICT_EVERY.min(cap / 2).max(1);
            if written / every != (written - bytes) / every || bytes >= every {
                let keep: Vec<(Digest, usize)> = (a..b).map(|m| (self.layer, m)).collect();
                self.chunks.evict_chunks(cap, &keep);
            }
        }
        Ok(())
    }
}

impl Inner {
    /// The layer's complete blob, if a full pull has made it since: its
    /// digest was checked by that pull's ingest.
    fn whole_blob(&self) -> Option<&File> {
        if let Some(f) = self.whole.get() {
            return Some(f);
        }
        let f = File::open(self.chunks.blob_path(&self.layer)).ok()?;
        if f.metadata().ok()?.len() != self.table.size {
            return None;
        }
        Some(self.whole.get_or_init(|| f))
    }
}

fn eio(why: String) -> io::Error {
    io::Error::other(why)
}

impl LayerBytes for LazyBytes {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_file_at(buf, offset, self.0.table.size)
    }

    /// A sequential reader's prefetch stops at the member holding `end`, the
    /// end of the file it reads.
    fn read_file_at(&self, buf: &mut [u8], offset: u64, end: u64) -> io::Result<()> {
        let inner = &self.0;
        if offset + buf.len() as u64 > inner.table.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the layer",
            ));
        }
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(f) = inner.whole_blob() {
            return FileExt::read_exact_at(f, buf, offset);
        }
        let upto = inner.table.member_at(offset + buf.len() as u64 - 1);
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let n = inner.table.member_at(pos);
            let span = inner.table.span(n);
            let within = pos - span.u;
            let len = (buf.len() - done).min((span.u_len - within) as usize);
            inner.read_member(n, within, &mut buf[done..done + len], upto)?;
            done += len;
        }
        let before = inner.last.swap(upto + 1, Ordering::Relaxed);
        let first = inner.table.member_at(offset);
        // Sequential: this read began where the last one ended, and entered
        // a new member.
        if (before == first || before == first + 1) && before != upto + 1 {
            let limit = inner.table.member_at(end.clamp(1, inner.table.size) - 1) + 1;
            inner.prefetch(upto + 1, limit);
        }
        Ok(())
    }
}
