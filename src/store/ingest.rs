//! Layer ingest and layer opening. Ingest makes one pass over the incoming
//! tar: every byte is hashed and written to `tmp/` while the tar's headers are
//! indexed, each on its own thread (`pipeline`); then the digest is checked, the blob and its index are synced and
//! renamed into place. Opening a layer rebuilds a missing, stale or corrupt
//! index from the blob (verifying the blob's digest on the way).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use sealer_fs::index::{build_index, Header};
use sealer_fs::tar::StreamSource;
use sealer_fs::{IndexError, Layer, LayerIndex};
use sha2::{Digest as _, Sha256};

use super::{pipeline, Store};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// What an ingest stored.
#[derive(Clone, Copy, Debug)]
pub struct Ingested {
    /// The layer's digest (= diff_id = layer id).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The blob was already in the store.
    pub existed: bool,
    /// Entries in its index (root included).
    pub entries: u32,
}

/// Hashes and copies everything read through it.
struct Tee<R, W> {
    inner: R,
    out: W,
    hasher: Sha256,
    size: u64,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.out.write_all(&buf[..n])?;
        self.size += n as u64;
        Ok(n)
    }
}

impl Store {
    /// Ingests a layer tar from a stream. With `expected`, a digest mismatch is
    /// an error and nothing is stored.
    pub fn ingest_layer(&self, src: impl Read, expected: Option<&Digest>) -> Result<Ingested> {
        self.ingest_layer_checked(src, expected, || Ok(()))
    }

    /// [`ingest_layer`](Self::ingest_layer), asking `before_publish` (e.g. the
    /// producer of the stream: did it finish well?) before anything is stored.
    pub fn ingest_layer_checked(
        &self,
        src: impl Read,
        expected: Option<&Digest>,
        before_publish: impl FnOnce() -> Result<()>,
    ) -> Result<Ingested> {
        self.ingest_chunks_checked(pipeline::read_chunks(src), expected, before_publish)
    }

    /// [`ingest_layer_checked`](Self::ingest_layer_checked) of a tar given
    /// as ordered chunks (a parallel decompressor's output, uncopied); an
    /// `Err` chunk ends the ingest with that error.
    pub fn ingest_chunks_checked(
        &self,
        chunks: impl Iterator<Item = io::Result<pipeline::Chunk>>,
        expected: Option<&Digest>,
        before_publish: impl FnOnce() -> Result<()>,
    ) -> Result<Ingested> {
        let tmp = self.tmp_path("layer");
        let result = self.ingest_to(&tmp, chunks, expected, before_publish);
        let _ = fs::remove_file(&tmp);
        result
    }

    /// Hashes, indexes and writes the tar on three threads (see
    /// `pipeline`), then checks, syncs and publishes it.
    fn ingest_to(
        &self,
        tmp: &Path,
        chunks: impl Iterator<Item = io::Result<pipeline::Chunk>>,
        expected: Option<&Digest>,
        before_publish: impl FnOnce() -> Result<()>,
    ) -> Result<Ingested> {
        let staged = pipeline::run(tmp, chunks)?;
        before_publish()?;
        let digest = Digest(staged.digest);
        if let Some(want) = expected {
            if *want != digest {
                return Err(Error::Blob {
                    digest: *want,
                    why: format!("content hashes to {digest}"),
                });
            }
        }
        let (size, builder, file) = (staged.size, staged.builder, staged.file);
        let blob = self.blob_path(&digest);
        let index = builder
            .finish(&digest.0, size)
            .map_err(|err| Error::Layer { digest, err })?;
        let entries = Header::read(&index)
            .map(Header::entries)
            .and_then(|n| u32::try_from(n).map_err(|_| IndexError::Corrupt("too many entries")))
            .map_err(|err| Error::Layer { digest, err })?;
        let mut synced = false;
        if !blob.is_file() {
            file.sync_all().at(tmp)?;
            synced = true;
        }
        // Pin and publish in one critical section: a collector never sees
        // the blob unpinned before it is tagged (see store/mod.rs).
        let lock = self.lock()?;
        self.pin(&[digest], &lock)?;
        let existed = blob.is_file();
        if !existed {
            if !synced {
                file.sync_all().at(tmp)?;
            }
            self.publish(tmp, &blob)?;
        }
        drop(lock);
        if !existed || !self.index_path(&digest).is_file() {
            self.write_atomic(&self.index_path(&digest), &index)?;
        }
        log::debug!(
            "ingested layer {digest}: {size} bytes, {entries} entries, new: {}",
            !existed
        );
        Ok(Ingested {
            digest,
            size,
            existed,
            entries,
        })
    }

    /// Opens every layer of `img`, top first (the order of a merged view).
    pub fn open_image_layers(&self, img: &crate::image::Image) -> Result<Vec<Layer>> {
        img.layers()
            .iter()
            .rev()
            .map(|d| self.open_layer(d))
            .collect()
    }

    /// Opens a layer: its blob and its index, rebuilding the index if it is
    /// missing, stale or corrupt.
    pub fn open_layer(&self, digest: &Digest) -> Result<Layer> {
        let path = self.blob_path(digest);
        let blob = File::open(&path);
        if blob
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
        {
            // A partly present layer (pull --lazy): read on demand.
            if let Some(rec) = self.lazy_record(digest)? {
                return crate::lazy::open_layer(self, digest, rec);
            }
        }
        let blob = blob.map_err(|e| Error::Blob {
            digest: *digest,
            why: if e.kind() == io::ErrorKind::NotFound {
                "missing from the store".into()
            } else {
                e.to_string()
            },
        })?;
        let blob_md = blob.metadata().at(&path)?;
        let index_path = self.index_path(digest);
        // An index is written after its blob; a blob modified later (flipped
        // bytes, replaced content of the same size) is caught by the rebuild,
        // which checks the digest.
        let modified_since = match (
            blob_md.modified(),
            fs::metadata(&index_path).and_then(|m| m.modified()),
        ) {
            (Ok(blob_time), Ok(index_time)) => blob_time > index_time,
            _ => false,
        };
        let opened = if modified_since {
            Err(IndexError::Stale(
                "the blob was modified after its index was written",
            ))
        } else {
            LayerIndex::open(&index_path, &digest.0, blob_md.len())
        };
        let index = match opened {
            Ok(i) => i,
            Err(e) => {
                if !matches!(&e, IndexError::Io(io) if io.kind() == io::ErrorKind::NotFound) {
                    log::warn!("index of layer {digest}: {e}; rebuilding it");
                }
                self.rebuild_index(digest, &blob)?
            }
        };
        Ok(Layer::new(blob, index))
    }

    /// Rebuilds a layer's index from its blob, checking the blob's digest.
    pub fn rebuild_index(&self, digest: &Digest, blob: &File) -> Result<LayerIndex> {
        let path = self.blob_path(digest);
        let tee = Tee {
            inner: io::BufReader::with_capacity(1 << 20, blob),
            out: io::sink(),
            hasher: Sha256::new(),
            size: 0,
        };
        let (builder, StreamSource(mut tee)) =
            build_index(StreamSource(tee)).map_err(|err| Error::Layer {
                digest: *digest,
                err,
            })?;
        io::copy(&mut tee, &mut io::sink()).at(&path)?;
        let got = Digest(tee.hasher.finalize().into());
        if got != *digest {
            return Err(Error::Blob {
                digest: *digest,
                why: format!("corrupt: content hashes to {got}"),
            });
        }
        let bytes = builder
            .finish(&digest.0, tee.size)
            .map_err(|err| Error::Layer {
                digest: *digest,
                err,
            })?;
        self.write_atomic(&self.index_path(digest), &bytes)?;
        LayerIndex::from_bytes(bytes).map_err(|err| Error::Layer {
            digest: *digest,
            err,
        })
    }
}
