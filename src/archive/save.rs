//! `save`: images of the store -> one tar (OCI layout or docker-archive),
//! written to a temporary file beside the output and renamed when complete.
//! Layers are copied as stored (uncompressed) and hashed on the way, so a
//! corrupt blob fails the save instead of landing in the archive. An OCI
//! archive also carries the images' signatures and referrers (see
//! `carried.rs`); a docker-archive has no place for them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::carried::saved_extras;
use super::split::{PartWriter, Sink};
use super::{archive_error, ArchiveFormat, SINCE_DIGEST, SINCE_NAME};
use crate::digest::Digest;
use crate::error::{invalid, Error, IoContext, JsonContext, Result};
use crate::image::oci::{Descriptor, Index, MEDIA_INDEX, MEDIA_MANIFEST, REF_NAME};
use crate::image::Image;
use crate::progress::{Counting, Progress};
use crate::store::Store;

/// One entry of a docker-archive's `manifest.json`.
#[derive(Serialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Writes `images` (each with the name to record) to `out`. Images chosen
/// from a multi-platform index (`Image::index`) are saved under that index
/// in an OCI archive; give each of its images for a complete index.
pub fn save(
    store: &Store,
    images: &[(String, Image)],
    out: &Path,
    format: ArchiveFormat,
    progress: &Progress,
) -> Result<()> {
    save_with(
        store,
        images,
        out,
        format,
        &SaveOptions::default(),
        progress,
    )
    .map(|_| ())
}

/// The image a delta archive builds on: the archive leaves out its layers.
pub struct Base {
    /// Its name, as the archive records it.
    pub name: String,
    /// Its manifest's (or multi-platform index's) digest.
    pub digest: Digest,
    /// Every layer of it (of every platform).
    pub layers: BTreeSet<Digest>,
}

/// What else `save` does.
#[derive(Default)]
pub struct SaveOptions {
    /// Leave out the layers of this image (`--since`).
    pub since: Option<Base>,
    /// Write parts of at most this many bytes (`--split`).
    pub split: Option<u64>,
}

/// [`save`], as a delta and/or in parts; returns the files written.
pub fn save_with(
    store: &Store,
    images: &[(String, Image)],
    out: &Path,
    format: ArchiveFormat,
    opts: &SaveOptions,
    progress: &Progress,
) -> Result<Vec<std::path::PathBuf>> {
    if opts.since.is_some() && format == ArchiveFormat::Docker {
        return Err(invalid(
            "--since writes an OCI archive (a docker-archive cannot name its base)",
        ));
    }
    if let Some(limit) = opts.split {
        let skipped = skip_layers(images, opts);
        let layers: Vec<_> = images
            .iter()
            .flat_map(|(_, i)| i.layers())
            .filter(|l| !skipped.contains(l))
            .collect();
        crate::lazy::pull::complete_layers(store, &layers, progress)?;
        let parts = PartWriter::new(out, limit)?;
        let mut tar = tar::Builder::new(parts);
        match format {
            ArchiveFormat::Oci => write_oci(store, images, &mut tar, opts, progress, out)?,
            ArchiveFormat::Docker => write_docker(store, images, &mut tar, progress, out)?,
        }
        let parts = tar.into_inner().at(out)?;
        return parts.finish();
    }
    let file_name = out
        .file_name()
        .ok_or_else(|| invalid(format!("{}: not a file name", out.display())))?;
    let tmp = out.with_file_name(format!(
        ".{}.sealer-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    // A lazily pulled image is completed first: an archive holds whole blobs.
    let skipped = skip_layers(images, opts);
    let layers: Vec<_> = images
        .iter()
        .flat_map(|(_, i)| i.layers())
        .filter(|l| !skipped.contains(l))
        .collect();
    crate::lazy::pull::complete_layers(store, &layers, progress)?;
    if format == ArchiveFormat::Docker && !saved_extras(store, images)?.is_empty() {
        log::warn!(
            "a docker-archive carries no signatures or SBOMs: save as oci-archive to keep them"
        );
    }
    let result = (|| {
        let f = File::create(&tmp).at(&tmp)?;
        let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, f));
        match format {
            ArchiveFormat::Oci => write_oci(store, images, &mut tar, opts, progress, out)?,
            ArchiveFormat::Docker => write_docker(store, images, &mut tar, progress, out)?,
        }
        let w = tar.into_inner().at(&tmp)?;
        let f = w.into_inner().map_err(|e| e.into_error()).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        fs::rename(&tmp, out).at(out)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| vec![out.to_path_buf()])
}

/// The layers a delta leaves out (those of its base), if it is one.
fn skip_layers(images: &[(String, Image)], opts: &SaveOptions) -> BTreeSet<Digest> {
    let Some(base) = &opts.since else {
        return BTreeSet::new();
    };
    images
        .iter()
        .flat_map(|(_, i)| i.layers())
        .filter(|l| base.layers.contains(l))
        .collect()
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h
}

fn add_bytes<W: Sink>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
    out: &Path,
) -> Result<()> {
    tar.get_mut()
        .boundary(member_len(bytes.len() as u64))
        .at(out)?;
    let mut h = header(bytes.len() as u64, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, path, bytes).at(out)
}

fn add_dir<W: Sink>(tar: &mut tar::Builder<W>, path: &str, out: &Path) -> Result<()> {
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    tar.append_data(&mut h, path, io::empty()).at(out)
}

/// The archive's `index.json`: an OCI index, with a delta's base in its
/// annotations.
#[derive(Serialize)]
struct ArchiveIndex {
    #[serde(flatten)]
    index: Index,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// Bytes a tar member of `size` data bytes takes (header, padded data).
fn member_len(size: u64) -> u64 {
    512 + size.div_ceil(512) * 512
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Copies a layer blob into the archive, checking its digest.
fn add_layer<W: Sink>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    path: &str,
    digest: &Digest,
    progress: &Progress,
    out: &Path,
) -> Result<()> {
    let blob_path = store.blob_path(digest);
    let file = File::open(&blob_path).map_err(|e| Error::Blob {
        digest: *digest,
        why: format!("cannot read it from the store: {e}"),
    })?;
    let size = file.metadata().at(&blob_path)?.len();
    let task = progress.start(&digest.short(), "Saving", Some(size));
    let mut reader = Hashing {
        inner: Counting {
            inner: file,
            task: &task,
        },
        hasher: Sha256::new(),
    };
    tar.get_mut().boundary(member_len(size)).at(out)?;
    let mut h = header(size, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, path, &mut reader).at(out)?;
    let got = Digest(reader.hasher.finalize().into());
    if got != *digest {
        return Err(Error::Blob {
            digest: *digest,
            why: format!("corrupt in the store: content hashes to {got}"),
        });
    }
    task.finish("Saved");
    Ok(())
}

fn write_oci<W: Sink>(
    store: &Store,
    images: &[(String, Image)],
    tar: &mut tar::Builder<W>,
    opts: &SaveOptions,
    progress: &Progress,
    out: &Path,
) -> Result<()> {
    add_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, out)?;
    let mut index = Index {
        schema_version: 2,
        media_type: MEDIA_INDEX.into(),
        manifests: Vec::new(),
    };
    let mut indexes = Vec::new();
    for (name, img) in images {
        // The images of a multi-platform name share its index: one entry.
        let (media_type, digest) = match img.index {
            Some(d) => (MEDIA_INDEX, d),
            None => (MEDIA_MANIFEST, img.manifest_digest),
        };
        let named = |d: &Descriptor| d.annotations.get(REF_NAME) == Some(name);
        if index
            .manifests
            .iter()
            .any(|d| d.digest == digest && named(d))
        {
            continue;
        }
        let size = store.read_blob(&digest)?.len() as u64;
        let mut desc = Descriptor::new(media_type, digest, size);
        desc.annotations.insert(REF_NAME.into(), name.clone());
        index.manifests.push(desc);
        indexes.extend(img.index);
    }
    let extras = saved_extras(store, images)?;
    index.manifests.extend(extras.entries.iter().cloned());
    let mut annotations = BTreeMap::new();
    if let Some(base) = &opts.since {
        annotations.insert(SINCE_NAME.to_string(), base.name.clone());
        annotations.insert(SINCE_DIGEST.to_string(), base.digest.to_string());
    }
    let index = ArchiveIndex { index, annotations };
    let index_bytes = serde_json::to_vec(&index).json("the archive's index.json")?;
    add_bytes(tar, "index.json", &index_bytes, out)?;
    add_dir(tar, "blobs/", out)?;
    add_dir(tar, "blobs/sha256/", out)?;
    let mut done: BTreeSet<Digest> = BTreeSet::new();
    for d in indexes {
        if done.insert(d) {
            let bytes = store.read_blob(&d)?;
            add_bytes(tar, &format!("blobs/sha256/{}", d.hex()), &bytes, out)?;
        }
    }
    for (_, img) in images {
        for d in [img.manifest_digest, img.id] {
            if done.insert(d) {
                let bytes = store.read_blob(&d)?;
                add_bytes(tar, &format!("blobs/sha256/{}", d.hex()), &bytes, out)?;
            }
        }
        for l in img.layers() {
            if opts.since.as_ref().is_some_and(|b| b.layers.contains(&l)) {
                continue;
            }
            if done.insert(l) {
                add_layer(
                    store,
                    tar,
                    &format!("blobs/sha256/{}", l.hex()),
                    &l,
                    progress,
                    out,
                )?;
            }
        }
    }
    for d in extras.blobs {
        if done.insert(d) {
            let bytes = store.read_blob(&d)?;
            add_bytes(tar, &format!("blobs/sha256/{}", d.hex()), &bytes, out)?;
        }
    }
    Ok(())
}

fn write_docker<W: Sink>(
    store: &Store,
    images: &[(String, Image)],
    tar: &mut tar::Builder<W>,
    progress: &Progress,
    out: &Path,
) -> Result<()> {
    // One entry per image id, with every name given for it.
    let mut entries: BTreeMap<Digest, (usize, DockerEntry)> = BTreeMap::new();
    let mut done: BTreeSet<Digest> = BTreeSet::new();
    for (i, (name, img)) in images.iter().enumerate() {
        let tag = if name.contains('@') {
            None
        } else {
            Some(name.clone())
        };
        if let Some((_, e)) = entries.get_mut(&img.id) {
            e.repo_tags.extend(tag.filter(|t| !e.repo_tags.contains(t)));
            continue;
        }
        if done.insert(img.id) {
            let bytes = store.read_blob(&img.id)?;
            add_bytes(tar, &format!("{}.json", img.id.hex()), &bytes, out)?;
        }
        let mut layers = Vec::new();
        for l in img.layers() {
            let path = format!("{}.tar", l.hex());
            if done.insert(l) {
                add_layer(store, tar, &path, &l, progress, out)?;
            }
            layers.push(path);
        }
        let entry = DockerEntry {
            config: format!("{}.json", img.id.hex()),
            repo_tags: tag.into_iter().collect(),
            layers,
        };
        entries.insert(img.id, (i, entry));
    }
    let mut list: Vec<(usize, DockerEntry)> = entries.into_values().collect();
    list.sort_by_key(|(i, _)| *i);
    let list: Vec<DockerEntry> = list.into_iter().map(|(_, e)| e).collect();
    let bytes = serde_json::to_vec(&list).json("the archive's manifest.json")?;
    add_bytes(tar, "manifest.json", &bytes, out)?;
    if list.is_empty() {
        return Err(archive_error(out, "nothing to save"));
    }
    Ok(())
}
