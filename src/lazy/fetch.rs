//! Fetching members of a layer blob with HTTP Range requests: one request
//! per run of neighbouring members, each member checked against its table
//! entry before anyone sees it. A registry that ignores the range (`200`
//! and the whole blob) is read to the end, every member checked and handed
//! over: the whole-layer fallback, logged. The connection to the registry
//! is made when first needed and made again after a failure, so reads
//! succeed again once a registry that went away is back.
//!
//! A run of several members is received by the calling thread and
//! decompressed, checked and handed over by [`WORKERS`] threads at once, so
//! the download, gunzip and hash of neighbouring members overlap.

use std::io::Read;
use std::sync::{Arc, Mutex};

use ureq::http::Method;

use super::table::Table;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::Reference;
use crate::registry::client::Body;
use crate::registry::Repo;

/// The longest a filesystem read waits on the registry for one step
/// (connect, answer, each read of the body).
const BOUND: std::time::Duration = std::time::Duration::from_secs(20);

/// Attempts of one range request (a fresh connection each).
const ATTEMPTS: usize = 2;

/// Threads that decompress and check the members of one run.
const WORKERS: usize = 2;

/// Buffers kept for reuse: a fresh member-sized buffer costs a page fault
/// and the kernel's zeroing of every page, as much as the inflate itself.
static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Buffers the pool keeps at most.
const POOL_MAX: usize = 48;

/// A buffer of `len` bytes to overwrite, reused if one is free: only what
/// a reused buffer never held is zeroed (members are mostly the same size,
/// so mostly nothing). Capacities are rounded up to 256 KiB, so a member's
/// compressed and uncompressed bytes fit the same buffers.
fn filled(len: usize) -> Vec<u8> {
    let want = len.div_ceil(256 << 10) * (256 << 10);
    let reused = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut v = match reused {
        Some(v) if v.capacity() >= want => v,
        _ => Vec::with_capacity(want),
    };
    v.resize(len, 0);
    v
}

/// Gives a buffer back for reuse.
pub fn recycle(v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() as u64 > 2 * super::table::MAX_MEMBER {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < POOL_MAX {
        pool.push(v);
    }
}

/// What receives each checked member: (member number, uncompressed bytes).
pub type Got<'a> = &'a (dyn Fn(usize, Vec<u8>) -> Result<()> + Sync);

/// The registry a lazy layer's blob lives in.
pub struct Remote {
    reference: Reference,
    blob: Digest,
    insecure: bool,
    repo: Mutex<Option<Arc<Repo>>>,
}

impl Remote {
    /// The registry and repository of `reference` (connected on first use).
    pub fn new(reference: &str, insecure: bool, blob: Digest) -> Result<Remote> {
        Ok(Remote {
            reference: Reference::parse(reference)?,
            blob,
            insecure,
            repo: Mutex::new(None),
        })
    }

    /// A remote over an open repository.
    pub fn with_repo(
        reference: &Reference,
        insecure: bool,
        blob: Digest,
        repo: Arc<Repo>,
    ) -> Remote {
        Remote {
            reference: reference.clone(),
            blob,
            insecure,
            repo: Mutex::new(Some(repo)),
        }
    }

    fn repo(&self) -> Result<Arc<Repo>> {
        let mut slot = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = &*slot {
            return Ok(r.clone());
        }
        let blob = self.blob;
        let r = Repo::open_for_blob(&self.reference, self.insecure, &blob, Some(BOUND))?;
        let r = Arc::new(r);
        *slot = Some(r.clone());
        Ok(r)
    }

    fn reset(&self) {
        *self.repo.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Fetches members `a..b` of `table`'s blob, handing each verified member
    /// to `got` (member number, uncompressed bytes). A registry that ignores
    /// the range hands over every member of the blob.
    pub fn fetch(&self, table: &Table, a: usize, b: usize, got: Got) -> Result<()> {
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            match self.fetch_once(table, a, b, got) {
                Ok(()) => return Ok(()),
                Err((e, retry)) => {
                    self.reset();
                    last = Some(e);
                    if !retry {
                        break;
                    }
                    if attempt + 1 < ATTEMPTS {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| crate::error::invalid("no attempt made")))
    }

    fn fetch_once(
        &self,
        table: &Table,
        a: usize,
        b: usize,
        got: Got,
    ) -> std::result::Result<(), (Error, bool)> {
        let repo = self.repo().map_err(|e| (e, false))?;
        let start = table.span(a).c;
        let last = table.span(b - 1);
        let end = last.c + last.c_len;
        let url = repo.url(&format!("blobs/{}", table.blob));
        let range = format!("bytes={start}-{}", end.saturating_sub(1));
        let mut resp = repo
            .client
            .send(
                Method::GET,
                &url,
                &[("Range", &range)],
                Body::Empty,
                &repo.scope,
            )
            .map_err(|e| (e, true))?;
        let code = resp.status().as_u16();
        let whole = match code {
            206 => false,
            200 => {
                log::warn!(
                    "layer blob {}: the registry ignored a Range request; \
                     fetching the whole blob instead",
                    table.blob
                );
                true
            }
            _ => {
                let doing = format!("blob {} bytes {start}-{}", table.blob, end - 1);
                // A token that expired during a long read: 401 or 403; the
                // retry connects afresh (a new token).
                let retry = matches!(code, 401 | 403 | 408 | 429) || code >= 500;
                return Err((repo.client.status_error(&mut resp, code, &doing), retry));
            }
        };
        if !whole {
            let want = format!("bytes {start}-{}/", end - 1);
            let ok = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(&want));
            if !ok {
                let why = format!("blob {}: a 206 answer for another range", table.blob);
                return Err((repo.client.error(why), false));
            }
        }
        let mut body = resp.into_body().into_reader();
        let members = if whole { 0..table.members.len() } else { a..b };
        let mut receive = |n: usize| {
            let len = table.span(n).c_len;
            // Read into initialized bytes: `read_to_end` would zero the
            // spare capacity before every read of a reader like ureq's.
            let mut packed = filled(len as usize);
            match body.read_exact(&mut packed) {
                Ok(()) => Ok(packed),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    Err("the answer ended early".to_string())
                }
                Err(e) => Err(e.to_string()),
            }
            .map_err(|e| {
                let why = format!("blob {} member {n}: download failed: {e}", table.blob);
                (repo.client.error(why), true)
            })
        };
        let process = |n: usize, packed: Vec<u8>| {
            let bytes = unpack(table, n, packed).map_err(|why| {
                let why = format!("blob {} member {n}: {why}", table.blob);
                (repo.client.error(why), false)
            })?;
            got(n, bytes).map_err(|e| (e, false))
        };
        if members.len() < 2 * WORKERS {
            for n in members {
                process(n, receive(n)?)?;
            }
            return Ok(());
        }
        pipeline(members, &mut receive, &process)
    }
}

type Step = std::result::Result<(), (Error, bool)>;

/// Receives members `members` in order on this thread and processes them on
/// [`WORKERS`] threads; the first error stops both sides.
fn pipeline(
    members: std::ops::Range<usize>,
    receive: &mut dyn FnMut(usize) -> std::result::Result<Vec<u8>, (Error, bool)>,
    process: &(dyn Fn(usize, Vec<u8>) -> Step + Sync),
) -> Step {
    let failed: Mutex<Option<(Error, bool)>> = Mutex::new(None);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(WORKERS * 2);
    let rx = Mutex::new(rx);
    let fail = |e: (Error, bool)| {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut slot = failed.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    };
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((n, packed)) = next else { return };
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                if let Err(e) = process(n, packed) {
                    fail(e);
                }
            });
        }
        for n in members {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            match receive(n) {
                Ok(packed) => {
                    if tx.send((n, packed)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    fail(e);
                    break;
                }
            }
        }
        drop(tx);
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The checked uncompressed bytes of member `n`, from its compressed bytes
/// (whose buffer is recycled).
pub fn unpack(table: &Table, n: usize, packed: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let span = table.span(n);
    let bytes = if table.gzip() {
        let bytes = gunzip(&packed, span.u_len);
        recycle(packed);
        bytes?
    } else {
        packed
    };
    if !table.verify(n, &bytes) {
        recycle(bytes);
        return Err("its bytes do not match the layer's table (member hash)".into());
    }
    Ok(bytes)
}

/// The `len` bytes of one gzip member (RFC 1952). The trailer's CRC-32 is
/// not computed: the caller checks the bytes against their member hash,
/// which the table binds, and the CRC cost as much again as the inflate.
fn gunzip(packed: &[u8], len: u64) -> std::result::Result<Vec<u8>, String> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let corrupt = |why: &str| format!("gzip data is corrupt: {why}");
    if packed.len() < 18 || packed[..3] != [0x1f, 0x8b, 8] || packed[3] & 0xe0 != 0 {
        return Err(corrupt("not a gzip member"));
    }
    let flags = packed[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let x = packed
            .get(at..at + 2)
            .ok_or_else(|| corrupt("short header"))?;
        at += 2 + u16::from_le_bytes([x[0], x[1]]) as usize;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = packed.get(at..).ok_or_else(|| corrupt("short header"))?;
            let nul = rest.iter().position(|&c| c == 0);
            at += nul.ok_or_else(|| corrupt("short header"))? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    let body = packed.get(at..).ok_or_else(|| corrupt("short header"))?;
    // One byte more than the table says, to tell a longer member; written
    // in place (`decompress_vec` would zero the whole spare capacity first).
    let mut out = filled(len as usize + 1);
    let mut inflate = flate2::Decompress::new(false);
    let status = inflate.decompress(body, &mut out, flate2::FlushDecompress::Finish);
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            recycle(out);
            return Err(corrupt(&e.to_string()));
        }
    };
    if status != flate2::Status::StreamEnd || inflate.total_out() != len {
        recycle(out);
        return Err(corrupt("its length is not the table's"));
    }
    out.truncate(len as usize);
    let trailer = &body[inflate.total_in() as usize..];
    let size = trailer
        .get(4..8)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    if trailer.len() != 8 || size != Some(len as u32) {
        return Err(corrupt("bad trailer"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::gunzip;

    fn gz(data: &[u8], name: bool) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if name {
            b = b.filename("member").comment("c").extra(vec![1, 2, 3]);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn members_inflate_and_bad_ones_are_refused() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for name in [false, true] {
            let m = gz(&data, name);
            assert_eq!(gunzip(&m, data.len() as u64).unwrap(), data);
            // wrong length, truncated, trailing garbage, bad magic
            assert!(gunzip(&m, data.len() as u64 - 1).is_err());
            assert!(gunzip(&m, data.len() as u64 + 1).is_err());
            assert!(gunzip(&m[..m.len() - 1], data.len() as u64).is_err());
            assert!(gunzip(&m[..m.len() / 2], data.len() as u64).is_err());
            let mut longer = m.clone();
            longer.push(0);
            assert!(gunzip(&longer, data.len() as u64).is_err());
            let mut bad = m.clone();
            bad[0] = 0;
            assert!(gunzip(&bad, data.len() as u64).is_err());
        }
        assert_eq!(gunzip(&gz(b"", false), 0).unwrap(), b"");
    }
}
