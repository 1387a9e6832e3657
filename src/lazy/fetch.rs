//! Fetching members of a layer blob with HTTP Range requests: one request
//! per run of neighbouring members, each member checked against its table
//! entry before anyone sees it. A registry that ignores the range (`200`
//! and the whole blob) is read to the end, every member checked and handed
//! over: the whole-layer fallback, logged. The connection to the registry
//! is made when first needed and made again after a failure, so reads
//! succeed again once a registry that went away is back.

use std::io::{self, Read};
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
    pub fn fetch(
        &self,
        table: &Table,
        a: usize,
        b: usize,
        got: &mut dyn FnMut(usize, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
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
        got: &mut dyn FnMut(usize, Vec<u8>) -> Result<()>,
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
        for n in members {
            let span = table.span(n);
            let mut packed = vec![0u8; span.c_len as usize];
            body.read_exact(&mut packed).map_err(|e| {
                let why = format!("blob {} member {n}: download failed: {e}", table.blob);
                (repo.client.error(why), true)
            })?;
            let bytes = unpack(table, n, &packed).map_err(|why| {
                let why = format!("blob {} member {n}: {why}", table.blob);
                (repo.client.error(why), false)
            })?;
            got(n, bytes).map_err(|e| (e, false))?;
        }
        Ok(())
    }
}

/// The checked uncompressed bytes of member `n`, from its compressed bytes.
pub fn unpack(table: &Table, n: usize, packed: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let span = table.span(n);
    let bytes = if table.gzip() {
        let mut out = Vec::with_capacity(span.u_len as usize);
        flate2::read::GzDecoder::new(packed)
            .take(span.u_len + 1)
            .read_to_end(&mut out)
            .map_err(|e: io::Error| format!("gzip data is corrupt: {e}"))?;
        out
    } else {
        packed.to_vec()
    };
    if !table.verify(n, &bytes) {
        return Err("its bytes do not match the layer's table (sha256)".into());
    }
    Ok(bytes)
}
