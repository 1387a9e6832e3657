//! Lazy ClusterImages: mount an image straight from a registry, fetching
//! only what is read.
//!
//! - [`table`]: the member table of a pushed layer (one type for writer and
//!   readers);
//! - [`publish`]: at `push`, the tables and our layer indexes go up as an
//!   OCI 1.1 artifact whose `subject` is the image manifest (with the
//!   `sha256-<hex>` tag fallback), each table bound to its layer by an
//!   annotation of the manifest's layer descriptor;
//! - [`pull`]: `pull --lazy` records a layer as partly present (index and
//!   table, no blob); a later full `pull` completes it from the chunk cache
//!   plus what is missing;
//! - [`source`] and [`fetch`]: on-demand reads through the filesystem's
//!   `LayerBytes` seam, with Range requests into the store's chunk cache
//!   (`store::lazy`).

pub mod fetch;
pub mod publish;
pub mod pull;
pub mod source;
pub mod table;

use sealer_fs::{Layer, LayerIndex};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::{LazyRecord, Store};

/// Opens a partly present layer: its index, and its bytes read on demand.
pub fn open_layer(store: &Store, digest: &Digest, rec: LazyRecord) -> Result<Layer> {
    let path = store.index_path(digest);
    let index = LayerIndex::open(&path, &digest.0, rec.table.size).map_err(|err| {
        log::error!(
            "index of partly present layer {digest}: {err}; `sealer pull` of its image completes it"
        );
        Error::Layer {
            digest: *digest,
            err,
        }
    })?;
    let remote = fetch::Remote::new(&rec.reference, rec.insecure, rec.table.blob)?;
    let bytes = source::LazyBytes::new(*digest, rec.table, store.chunks(), remote);
    Ok(Layer::with_bytes(Box::new(bytes), index))
}
