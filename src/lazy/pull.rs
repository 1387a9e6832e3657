//! The pull side of lazy layers: `pull --lazy` records a layer as partly
//! present from its member table and index (fetching no layer bytes); the
//! full `pull` of a partly present layer fetches only the members missing
//! from the chunk cache and ingests the whole tar as any pulled layer
//! (checked against the diff_id), then drops the chunks.

use std::io::{self, Read};
use std::sync::Arc;

use sealer_fs::LayerIndex;

use super::fetch::Remote;
use super::table::{Table, TABLE_ANNOTATION};
use crate::digest::Digest;
use crate::error::Result;
use crate::image::oci::Descriptor;
use crate::image::Reference;
use crate::registry::Repo;
use crate::store::{LazyRecord, Store};

/// The largest table and index we fetch.
const MAX_TABLE: u64 = 64 << 20;
const MAX_INDEX: u64 = 1 << 30;
/// Members fetched in one request while completing a layer.
const RUN: usize = 32;

/// Why a layer is fetched whole at `pull --lazy`.
pub enum Whole {
    /// The pusher published no table (another tool, or zstd).
    NoTable,
    /// A table is named but unusable: why.
    BadTable(String),
}

/// Records layer `diff_id` (blob `desc`) as partly present: fetches and
/// checks its table and index. `Ok(Err(..))`: it has no usable table and
/// must be fetched whole.
pub fn record_layer(
    store: &Store,
    repo: &Repo,
    r: &Reference,
    insecure: bool,
    desc: &Descriptor,
    diff_id: &Digest,
) -> Result<std::result::Result<u64, Whole>> {
    let Some(td) = desc.annotations.get(TABLE_ANNOTATION) else {
        return Ok(Err(Whole::NoTable));
    };
    let bad = |why: String| Ok(Err(Whole::BadTable(why)));
    let Ok(td) = td.parse::<Digest>() else {
        return bad(format!("{TABLE_ANNOTATION} is not a digest: {td:?}"));
    };
    let table_bytes = match repo.get_small_blob(&td, MAX_TABLE) {
        Ok(b) => b,
        Err(e) => return bad(format!("table {td}: {e}")),
    };
    let table: Table = match serde_json::from_slice(&table_bytes) {
        Ok(t) => t,
        Err(e) => return bad(format!("table {td} is not a member table: {e}")),
    };
    if let Err(why) = table.check(&desc.digest, desc.size, diff_id) {
        return bad(format!("table {td} does not match the layer: {why}"));
    }
    let index = match repo.get_small_blob(&table.index.digest, MAX_INDEX) {
        Ok(b) => b,
        Err(e) => return bad(format!("index {}: {e}", table.index.digest)),
    };
    match LayerIndex::from_bytes(index.clone()) {
        Ok(i) if i.digest() == &diff_id.0 && i.blob_size() == table.size => {}
        Ok(_) => return bad(format!("index {} is of another layer", table.index.digest)),
        Err(e) => return bad(format!("index {}: {e}", table.index.digest)),
    }
    let rec = LazyRecord {
        reference: r.full_name(),
        insecure,
        table_digest: td,
        table,
    };
    let size = rec.table.size;
    store.lazy_put(diff_id, &index, &rec)?;
    Ok(Ok(size))
}

/// Completes a partly present layer into a normal, verified blob: fetches
/// the members the cache lacks (from `repo`), ingests the tar, drops the
/// chunks. Returns the bytes fetched.
pub fn complete(
    store: &Store,
    repo: Arc<Repo>,
    r: &Reference,
    diff_id: &Digest,
    rec: &LazyRecord,
) -> Result<u64> {
    let table = &rec.table;
    let chunks = store.chunks();
    let remote = Remote::with_repo(r, rec.insecure, table.blob, repo);
    let n = table.members.len();
    let fetched = std::sync::atomic::AtomicU64::new(0);
    let mut i = 0;
    while i < n {
        if cached(store, diff_id, table, i) {
            i += 1;
            continue;
        }
        let mut b = i + 1;
        while b < n && b - i < RUN && !cached(store, diff_id, table, b) {
            b += 1;
        }
        remote.fetch(table, i, b, &|m, data| {
            fetched.fetch_add(table.span(m).c_len, std::sync::atomic::Ordering::Relaxed);
            chunks.put(diff_id, m, &data)?;
            super::fetch::recycle(data);
            Ok(())
        })?;
        i = b;
    }
    let reader = Members {
        store,
        layer: *diff_id,
        table,
        next: 0,
        buf: io::Cursor::new(Vec::new()),
    };
    store.ingest_layer(reader, Some(diff_id))?;
    store.lazy_remove(diff_id);
    Ok(fetched.into_inner())
}

/// Completes the partly present layers among `layers` (what `push` and
/// `save` need: whole blobs), fetching only their missing members from the
/// registry each was pulled from, saying so; layers already whole are left
/// as they are.
pub fn complete_layers(
    store: &Store,
    layers: &[Digest],
    progress: &crate::progress::Progress,
) -> Result<()> {
    for diff_id in layers {
        let Some(rec) = store
            .lazy_record(diff_id)?
            .filter(|_| !store.has_blob(diff_id))
        else {
            continue;
        };
        let reference = Reference::parse(&rec.reference)?;
        let repo = Repo::open_for_blob(&reference, rec.insecure, &rec.table.blob, None)?;
        let fetched = complete(store, Arc::new(repo), &reference, diff_id, &rec)?;
        progress.note(
            &diff_id.short(),
            &format!(
                "Partly present: completed from the chunk cache and {} ({} fetched)",
                reference.full_name(),
                crate::human::bytes(fetched)
            ),
        );
    }
    Ok(())
}

/// Whether member `n` is cached and good.
fn cached(store: &Store, layer: &Digest, table: &Table, n: usize) -> bool {
    std::fs::read(store.chunk_path(layer, n)).is_ok_and(|b| table.verify(n, &b))
}

/// The tar of a layer, read member after member from the cache.
struct Members<'a> {
    store: &'a Store,
    layer: Digest,
    table: &'a Table,
    next: usize,
    buf: io::Cursor<Vec<u8>>,
}

impl Read for Members<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.buf.read(out)?;
            if n > 0 || out.is_empty() || self.next >= self.table.members.len() {
                return Ok(n);
            }
            let path = self.store.chunk_path(&self.layer, self.next);
            let bytes = std::fs::read(&path)?;
            if !self.table.verify(self.next, &bytes) {
                return Err(io::Error::other(format!(
                    "member {} of layer {} changed in the cache",
                    self.next, self.layer
                )));
            }
            self.buf = io::Cursor::new(bytes);
            self.next += 1;
        }
    }
}

/// The lazy part of pulling one layer (`diff_id`, blob `desc`): with
/// `lazy`, records it as partly present (or keeps it so); without, completes
/// a partly present layer from its chunks and what is missing. `None`: the
/// layer is for the ordinary download (no usable table, or not lazy).
pub fn step(
    store: &Store,
    repo: &Repo,
    desc: &Descriptor,
    diff_id: &Digest,
    lazy: bool,
    insecure: bool,
    progress: &crate::progress::Progress,
) -> Result<Option<u64>> {
    let short = desc.digest.short();
    let reference = Reference::parse(&repo.origin)?;
    if let Some(rec) = store
        .lazy_record(diff_id)?
        .filter(|_| !store.has_blob(diff_id))
    {
        if lazy {
            let lock = store.lock()?;
            store.pin(&[*diff_id], &lock)?;
            progress.note(&short, "Already partly present");
            return Ok(Some(rec.table.size));
        }
        if rec.table.blob != desc.digest {
            return Ok(None);
        }
        let remote = Arc::new(Repo::open_for_blob(
            &reference,
            insecure,
            &desc.digest,
            None,
        )?);
        let fetched = complete(store, remote, &reference, diff_id, &rec)?;
        progress.note(
            &short,
            &format!(
                "Completed from the chunk cache ({} fetched)",
                crate::human::bytes(fetched)
            ),
        );
        return Ok(Some(rec.table.size));
    }
    if !lazy {
        return Ok(None);
    }
    match record_layer(store, repo, &reference, insecure, desc, diff_id)? {
        Ok(size) => {
            progress.note(&short, "Partly present (lazy: fetched on demand)");
            Ok(Some(size))
        }
        Err(Whole::NoTable) => {
            progress.line(&format!(
                "{short}: no lazy table (pushed by another tool): fetching the whole layer"
            ));
            Ok(None)
        }
        Err(Whole::BadTable(why)) => {
            progress.line(&format!(
                "{short}: unusable lazy table ({why}): fetching the whole layer"
            ));
            Ok(None)
        }
    }
}
