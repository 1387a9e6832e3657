//! The push side of lazy layers: each pushed layer gets a member table (made
//! while compressing, remembered in the store beside the compressed-form
//! memo, or made again from the stored tar), named by an annotation of its
//! descriptor in the manifest; after the manifest, the tables and our layer
//! indexes go up as one OCI 1.1 artifact whose `subject` is that manifest.
//!
//! ```text
//! <root>/compressed/<layer-hex>.gzip-table   the table of a layer's gzip form
//!
//! artifact manifest (PUT by digest):
//!   {mediaType: oci manifest, artifactType: application/vnd.sealer.lazy.v1,
//!    config: the empty descriptor ({}), layers: [tables.., indexes..],
//!    subject: the image manifest}
//! a registry without the referrers API (no OCI-Subject header in the answer):
//!   tag sha256-<manifest hex> = an OCI index listing the referrers (merged)
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};

use serde_json::json;

use super::table::{
    BlobRef, Table, ARTIFACT_TYPE, MEDIA_INDEX, MEDIA_TABLE, PLAIN_MEMBER, VERSION,
};
use crate::compress::{Compression, Encoder, Member};
use crate::digest::Digest;
use crate::error::{IoContext, JsonContext, Result};
use crate::image::oci::{Descriptor, MEDIA_MANIFEST};
use crate::registry::Repo;
use crate::store::Store;

/// The empty JSON config of artifacts (`{}`).
const EMPTY: &[u8] = b"{}";
/// Its media type.
const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A table ready to publish, with the index blob it names.
pub struct Published {
    /// The table's bytes.
    pub table: Vec<u8>,
    /// The layer index's bytes.
    pub index: Vec<u8>,
}

fn table_path(store: &Store, layer: &Digest) -> std::path::PathBuf {
    store
        .root()
        .join("compressed")
        .join(format!("{}.gzip-table", layer.hex()))
}

/// The index blob of a layer as we publish it.
fn index_blob(store: &Store, layer: &Digest) -> Result<(Vec<u8>, BlobRef)> {
    store.open_layer(layer)?;
    let path = store.index_path(layer);
    let bytes = fs::read(&path).at(&path)?;
    let r = BlobRef {
        digest: Digest::of(&bytes),
        size: bytes.len() as u64,
    };
    Ok((bytes, r))
}

/// Remembers the members of a layer's gzip form, as a push compressed it.
pub fn remember(store: &Store, layer: &Digest, blob: BlobRef, members: &[Member]) -> Result<()> {
    let (_, index) = index_blob(store, layer)?;
    let table = Table::of_gzip(blob, *layer, index, members);
    let bytes = serde_json::to_vec(&table).json("a member table")?;
    let dir = store.root().join("compressed");
    fs::create_dir_all(&dir).at(&dir)?;
    store.write_atomic(&table_path(store, layer), &bytes)
}

/// The table of layer `layer` pushed as `desc` (gzip or uncompressed): the
/// remembered one, else made again from the stored tar; `None` for other
/// compressions or if the blob pushed is not what compressing gives.
pub fn table_for(store: &Store, layer: &Digest, desc: &Descriptor) -> Result<Option<Published>> {
    let (index, iref) = index_blob(store, layer)?;
    let table = match Compression::from_media_type(&desc.media_type) {
        Some(Compression::Gzip) => {
            let remembered = fs::read(table_path(store, layer))
                .ok()
                .and_then(|b| serde_json::from_slice::<Table>(&b).ok())
                // A table of an older version is made again (member hashes).
                .filter(|t| t.version == VERSION && t.blob == desc.digest && t.index == iref);
            match remembered {
                Some(t) => t,
                None => match gzip_table(store, layer, iref)? {
                    Some(t) if t.blob == desc.digest => t,
                    _ => return Ok(None),
                },
            }
        }
        Some(Compression::None) => plain_table(store, layer, iref)?,
        _ => return Ok(None),
    };
    if table.check(&desc.digest, desc.size, layer).is_err() {
        log::warn!(
            "layer {layer}: its member table does not match the pushed blob; none published"
        );
        return Ok(None);
    }
    let table = serde_json::to_vec(&table).json("a member table")?;
    Ok(Some(Published { table, index }))
}

/// Compresses the stored tar again (the output depends only on the input)
/// to learn its members.
fn gzip_table(store: &Store, layer: &Digest, index: BlobRef) -> Result<Option<Table>> {
    let path = store.blob_path(layer);
    let mut src = io::BufReader::with_capacity(1 << 20, File::open(&path).at(&path)?);
    let mut out = Counted::default();
    let mut enc = Encoder::new(&mut out, Compression::Gzip).at(&path)?;
    io::copy(&mut src, &mut enc).at(&path)?;
    let (_, members) = enc.finish_members().at(&path)?;
    let Some(members) = members else {
        return Ok(None);
    };
    let blob = BlobRef {
        digest: Digest(sha2::Digest::finalize(out.hasher).into()),
        size: out.size,
    };
    Ok(Some(Table::of_gzip(blob, *layer, index, &members)))
}

/// The table of an uncompressed blob: the member hash of each 1 MiB slice.
fn plain_table(store: &Store, layer: &Digest, index: BlobRef) -> Result<Table> {
    let path = store.blob_path(layer);
    let mut f = io::BufReader::with_capacity(1 << 20, File::open(&path).at(&path)?);
    let mut slices = Vec::new();
    let mut size = 0;
    let mut buf = vec![0u8; PLAIN_MEMBER as usize];
    loop {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..]).at(&path)? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 && !slices.is_empty() {
            break;
        }
        slices.push(super::table::member_hash(&buf[..n]));
        size += n as u64;
        if n < buf.len() {
            break;
        }
    }
    Ok(Table::of_plain(*layer, size, index, &slices))
}

#[derive(Default)]
struct Counted {
    hasher: sha2::Sha256,
    size: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Uploads a blob unless the registry has it.
fn ensure_blob(repo: &Repo, bytes: &[u8]) -> Result<Digest> {
    let d = Digest::of(bytes);
    if !repo.has_blob(&d)? {
        crate::registry::upload_bytes(repo, &d, bytes)?;
    }
    Ok(d)
}

/// Uploads the tables and indexes (before the manifest that names them).
pub fn upload(repo: &Repo, tables: &[Published]) -> Result<()> {
    for t in tables {
        ensure_blob(repo, &t.table)?;
        ensure_blob(repo, &t.index)?;
    }
    Ok(())
}

/// Publishes the tables and indexes of an image's layers as a referrer of
/// its manifest (`subject`); returns the artifact's digest.
pub fn publish(repo: &Repo, subject: &Descriptor, tables: &[Published]) -> Result<Digest> {
    ensure_blob(repo, EMPTY)?;
    let mut layers = Vec::new();
    for (media, blob) in tables
        .iter()
        .map(|t| (MEDIA_TABLE, &t.table))
        .chain(tables.iter().map(|t| (MEDIA_INDEX, &t.index)))
    {
        let d = ensure_blob(repo, blob)?;
        layers.push(json!({"mediaType": media, "digest": d, "size": blob.len()}));
    }
    let artifact = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": MEDIA_EMPTY, "digest": Digest::of(EMPTY), "size": EMPTY.len()},
        "layers": layers,
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    });
    let bytes = serde_json::to_vec(&artifact).json("the lazy artifact")?;
    crate::registry::referrers::put_referrer(repo, subject, ARTIFACT_TYPE, &bytes)
}

/// Annotations that bind tables to the manifest's layer descriptors.
pub fn annotate(desc: &mut Descriptor, table: &Published) {
    let d = Digest::of(&table.table);
    desc.annotations
        .insert(super::table::TABLE_ANNOTATION.to_string(), d.to_string());
}
