//! `push`: for each layer, find its compressed form (remembered from an
//! earlier push), skip it if the registry has it (HEAD), mount it from
//! another repository of the same registry that we pushed it to before, else
//! upload it: compressed on the fly into one streamed PATCH (hashing on the
//! way, no temporary file), or for `--compression none` the stored blob in
//! one PUT or 64 MiB PATCH chunks. Then the config, exactly as stored (so the
//! image id is the same there), and a manifest in OCI or Docker form, PUT as
//! the exact bytes whose digest we report. A multi-platform tag: every
//! image's manifest by digest, then the index by tag.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};
use ureq::http::Method;

use super::client::{encode, Body};
use super::manifest::{DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST};
use super::Repo;
use crate::compress::{Compression, Encoder};
use crate::digest::Digest;
use crate::error::{invalid, Error, IoContext, JsonContext, Result};
use crate::image::oci::{Descriptor, Index, Manifest, MEDIA_CONFIG, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::image::{Image, Reference};
use crate::progress::{Counting, Progress};
use crate::store::{CompressedForm, Store};

/// Uncompressed layers larger than this are uploaded in PATCH chunks of
/// this size.
pub const CHUNK: u64 = 64 << 20;

/// Manifest and config media types to push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OCI image manifest and config.
    Oci,
    /// Docker schema 2 manifest and config.
    Docker,
}

/// How to push.
pub struct PushOptions<'a> {
    /// Layer compression.
    pub compression: Compression,
    /// Manifest format.
    pub format: Format,
    /// Allow plain HTTP and unverified TLS.
    pub insecure: bool,
    /// Layers transferred at once.
    pub jobs: usize,
    /// Where progress goes.
    pub progress: &'a Progress,
    /// No lazy member tables (their annotations change the manifest): with
    /// `Compression::None` the pushed manifest is then the stored one, so
    /// signatures over its digest hold in the registry.
    pub keep_digest: bool,
}

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    /// Digest of the manifest as the registry stores it.
    pub manifest_digest: Digest,
    /// Blobs uploaded (layers and config).
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs the registry had already.
    pub existed: usize,
    /// Layers mounted from another repository.
    pub mounted: usize,
}

/// How one blob got there.
enum Outcome {
    Existed,
    Mounted,
    Uploaded(u64),
}

/// Pushes `image` as `target` (which needs a tag).
pub fn push(
    store: &Store,
    image: &Image,
    target: &Reference,
    opts: &PushOptions,
) -> Result<Pushed> {
    push_all(store, std::slice::from_ref(image), false, target, opts)
}

/// Pushes `images` as `target` (which needs a tag): one image as its
/// manifest, or with `as_index` every image by digest and then an index
/// (OCI index, or Docker manifest list) of them, each with its platform.
pub fn push_all(
    store: &Store,
    images: &[Image],
    as_index: bool,
    target: &Reference,
    opts: &PushOptions,
) -> Result<Pushed> {
    let Some(tag) = target.tag.clone() else {
        return Err(invalid(format!(
            "cannot push to {}: a push needs a tag",
            target.full_name()
        )));
    };
    if opts.format == Format::Docker && opts.compression.docker_media_type().is_none() {
        return Err(invalid(
            "Docker manifests cannot carry zstd layers: use --format oci or --compression gzip",
        ));
    }
    let repo = Repo::open(target, opts.insecure, true)?;
    // A lazily pulled image is completed first: a push needs whole blobs.
    let layers: Vec<Digest> = images.iter().flat_map(|i| i.layers()).collect();
    crate::lazy::pull::complete_layers(store, &layers, opts.progress)?;
    let mut pushed = Pushed {
        manifest_digest: Digest::of(b""),
        uploaded: 0,
        uploaded_bytes: 0,
        existed: 0,
        mounted: 0,
    };
    let (manifest_type, index_type) = match opts.format {
        Format::Oci => (MEDIA_MANIFEST, MEDIA_INDEX),
        Format::Docker => (DOCKER_MANIFEST, DOCKER_LIST),
    };
    let mut entries = Vec::new();
    for image in images {
        let (bytes, tables) = push_image(store, &repo, image, opts, &mut pushed)?;
        let digest = Digest::of(&bytes);
        if !as_index {
            pushed.manifest_digest = digest;
            put_manifest(&repo, &tag, manifest_type, &bytes)?;
            publish_tables(&repo, manifest_type, &bytes, &tables)?;
            push_referrers(store, &repo, image, manifest_type, &bytes)?;
            return Ok(pushed);
        }
        put_manifest(&repo, &digest.to_string(), manifest_type, &bytes)?;
        publish_tables(&repo, manifest_type, &bytes, &tables)?;
        push_referrers(store, &repo, image, manifest_type, &bytes)?;
        let mut desc = Descriptor::new(manifest_type, digest, bytes.len() as u64);
        desc.platform = Some(image.platform().to_platform());
        entries.push(desc);
    }
    let index = Index {
        schema_version: 2,
        media_type: index_type.into(),
        manifests: entries,
    };
    let bytes = serde_json::to_vec(&index).json("the pushed index")?;
    pushed.manifest_digest = Digest::of(&bytes);
    put_manifest(&repo, &tag, index_type, &bytes)?;
    Ok(pushed)
}

/// After its manifest, an image's member tables as its referrer.
fn publish_tables(
    repo: &Repo,
    manifest_type: &str,
    manifest: &[u8],
    tables: &[crate::lazy::publish::Published],
) -> Result<()> {
    if !tables.is_empty() {
        let subject = Descriptor::new(manifest_type, Digest::of(manifest), manifest.len() as u64);
        crate::lazy::publish::publish(repo, &subject, tables)?;
    }
    Ok(())
}

/// After its manifest, the referrers the store keeps for an image (its SBOM).
fn push_referrers(
    store: &Store,
    repo: &Repo,
    image: &Image,
    manifest_type: &str,
    manifest: &[u8],
) -> Result<()> {
    let subject = Descriptor::new(manifest_type, Digest::of(manifest), manifest.len() as u64);
    super::referrers::push_stored(store, repo, &image.manifest_digest, &subject)?;
    Ok(())
}

/// Pushes one image's layers and config (and the member tables of its
/// layers); returns its manifest's bytes (not yet PUT) and the tables to
/// publish once it is.
fn push_image(
    store: &Store,
    repo: &Repo,
    image: &Image,
    opts: &PushOptions,
    pushed: &mut Pushed,
) -> Result<(Vec<u8>, Vec<crate::lazy::publish::Published>)> {
    let layers: Vec<(Digest, u64)> = image
        .manifest
        .layers
        .iter()
        .map(|l| (l.digest, l.size))
        .collect();
    let results = push_layers(store, repo, &layers, opts)?;
    let mut descs = Vec::new();
    for (desc, outcome) in results {
        count(pushed, &outcome);
        descs.push(desc);
    }
    // Member tables for lazy pulls, bound to the layers by annotations.
    let mut tables = Vec::new();
    if opts.format == Format::Oci && !opts.keep_digest {
        for (desc, (layer, _)) in descs.iter_mut().zip(&layers) {
            if let Some(t) = crate::lazy::publish::table_for(store, layer, desc)? {
                crate::lazy::publish::annotate(desc, &t);
                tables.push(t);
            }
        }
        crate::lazy::publish::upload(repo, &tables)?;
    }
    let config_bytes = store.read_blob(&image.id)?;
    let outcome = if repo.has_blob(&image.id)? {
        Outcome::Existed
    } else {
        upload(
            repo,
            &image.id,
            Body::Bytes(&config_bytes),
            config_bytes.len() as u64,
            None,
        )?;
        Outcome::Uploaded(config_bytes.len() as u64)
    };
    count(pushed, &outcome);
    let (manifest_type, config_type) = match opts.format {
        Format::Oci => (MEDIA_MANIFEST, MEDIA_CONFIG),
        Format::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: manifest_type.into(),
        config: Descriptor::new(config_type, image.id, config_bytes.len() as u64),
        layers: descs,
        annotations: pushed_annotations(&image.manifest.annotations),
    };
    let bytes = serde_json::to_vec(&manifest).json("the pushed manifest")?;
    Ok((bytes, tables))
}

/// The manifest annotations a push carries: sealer's (the image extension,
/// the container image list), as sealer v0.11 pushes them; not where this
/// store pulled the image from.
fn pushed_annotations(ours: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    ours.iter()
        .filter(|(k, _)| !k.starts_with("io.sealer.source."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// PUTs the exact manifest bytes whose digest we report, under a tag or
/// digest; returns whether the registry answered `OCI-Subject` (it has the
/// referrers API).
pub(crate) fn put_manifest(repo: &Repo, tag: &str, media_type: &str, bytes: &[u8]) -> Result<bool> {
    let url = repo.url(&format!("manifests/{tag}"));
    let mut resp = repo.client.send(
        Method::PUT,
        &url,
        &[("Content-Type", media_type)],
        Body::Bytes(bytes),
        &repo.scope,
    )?;
    let code = resp.status().as_u16();
    if code != 201 && code != 200 {
        return Err(repo.client.status_error(
            &mut resp,
            code,
            &format!("manifest {}:{tag}", repo.name()),
        ));
    }
    Ok(resp.headers().contains_key("oci-subject"))
}

fn count(p: &mut Pushed, o: &Outcome) {
    match o {
        Outcome::Existed => p.existed += 1,
        Outcome::Mounted => p.mounted += 1,
        Outcome::Uploaded(n) => {
            p.uploaded += 1;
            p.uploaded_bytes += n;
        }
    }
}

/// Pushes every layer, `opts.jobs` at a time, returning their descriptors in
/// order.
fn push_layers(
    store: &Store,
    repo: &Repo,
    layers: &[(Digest, u64)],
    opts: &PushOptions,
) -> Result<Vec<(Descriptor, Outcome)>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<BTreeMap<usize, Result<(Descriptor, Outcome)>>> =
        Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, layers.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= layers.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                // A layer listed twice is pushed by whoever comes first; the
                // second finds it with HEAD.
                let r = push_layer(store, repo, &layers[i].0, layers[i].1, opts);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(i, r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    if results.len() != layers.len() {
        if let Some(Err(e)) = results.into_values().find(|r| r.is_err()) {
            return Err(e);
        }
        return Err(repo.error("some layers were not pushed"));
    }
    results.into_values().collect()
}

/// Pushes one layer in the chosen compression.
fn push_layer(
    store: &Store,
    repo: &Repo,
    layer: &Digest,
    size: u64,
    opts: &PushOptions,
) -> Result<(Descriptor, Outcome)> {
    let media_type = match opts.format {
        Format::Oci => opts.compression.oci_media_type(),
        Format::Docker => opts.compression.docker_media_type().unwrap_or_default(),
    };
    let short = layer.short();
    let algo = opts.compression.name();
    let memo = if opts.compression == Compression::None {
        Some(CompressedForm {
            digest: *layer,
            size,
            repos: Vec::new(),
        })
    } else {
        store.compressed_get(layer, algo)
    };
    let mut session = None;
    if let Some(m) = &memo {
        let desc = Descriptor::new(media_type, m.digest, m.size);
        if repo.has_blob(&m.digest)? {
            opts.progress.note(&short, "Layer already exists");
            return Ok((desc, Outcome::Existed));
        }
        match try_mount(repo, &m.digest, &m.repos)? {
            Mount::Done => {
                opts.progress
                    .note(&short, "Mounted from another repository");
                remember(store, layer, algo, m, repo)?;
                return Ok((desc, Outcome::Mounted));
            }
            Mount::Session(location) => session = location,
        }
    }
    let task = opts.progress.start(&short, "Pushing", Some(size));
    let form = if opts.compression == Compression::None {
        let path = store.blob_path(layer);
        let file = File::open(&path).at(&path)?;
        upload(repo, layer, Body::File(&file), size, session)?;
        CompressedForm {
            digest: *layer,
            size,
            repos: Vec::new(),
        }
    } else {
        let mut form = stream_compressed(store, repo, layer, opts.compression, session, &task)?;
        if let Some(m) = memo.filter(|m| m.digest == form.digest) {
            form.repos = m.repos;
        }
        remember(store, layer, algo, &form, repo)?;
        form
    };
    task.finish("Pushed");
    let desc = Descriptor::new(media_type, form.digest, form.size);
    Ok((desc, Outcome::Uploaded(form.size)))
}

/// Adds this repository to the memo of a compressed form.
fn remember(
    store: &Store,
    layer: &Digest,
    algo: &str,
    form: &CompressedForm,
    repo: &Repo,
) -> Result<()> {
    let mut form = form.clone();
    let here = repo.name();
    if !form.repos.contains(&here) {
        form.repos.push(here);
    }
    store.compressed_put(layer, algo, &form)
}

/// Hashes and counts what is written through it.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compresses a stored layer into `out` (an upload's pipe), hashing what
/// it writes: (digest, size) of the compressed bytes.
fn compress_into(
    store: &Store,
    layer: &Digest,
    c: Compression,
    out: impl Write,
    task: &crate::progress::Task,
) -> Result<(Digest, u64)> {
    let src_path = store.blob_path(layer);
    let src = File::open(&src_path).map_err(|e| Error::Blob {
        digest: *layer,
        why: format!("cannot read it from the store: {e}"),
    })?;
    let hw = HashWriter {
        inner: BufWriter::with_capacity(1 << 20, out),
        hasher: Sha256::new(),
        size: 0,
    };
    let sending = |e: io::Error| Error::Blob {
        digest: *layer,
        why: format!("sending it compressed: {e}"),
    };
    let mut enc = Encoder::new(hw, c).map_err(sending)?;
    let mut reader = Counting {
        inner: io::BufReader::with_capacity(1 << 20, src),
        task,
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).at(&src_path)?;
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n]).map_err(sending)?;
    }
    let (mut hw, members) = enc.finish_members().map_err(sending)?;
    hw.flush().map_err(sending)?;
    let (digest, size) = (Digest(hw.hasher.finalize().into()), hw.size);
    if let Some(members) = members {
        let blob = crate::lazy::table::BlobRef { digest, size };
        crate::lazy::publish::remember(store, layer, blob, &members)?;
    }
    Ok((digest, size))
}

/// Compresses a layer straight into one streamed PATCH of an upload
/// (chunked transfer encoding, no temporary file), then closes the upload
/// with the digest worked out on the way.
fn stream_compressed(
    store: &Store,
    repo: &Repo,
    layer: &Digest,
    c: Compression,
    session: Option<String>,
    task: &crate::progress::Task,
) -> Result<CompressedForm> {
    let loc = match session {
        Some(l) => l,
        None => start_upload(repo, layer)?,
    };
    let (mut rx, tx) = io::pipe().map_err(|e| repo.error(format!("creating a pipe: {e}")))?;
    let (patched, made) = std::thread::scope(|s| {
        let worker = s.spawn(move || compress_into(store, layer, c, tx, task));
        let patched = repo.client.send_stream(
            Method::PATCH,
            &loc,
            &[("Content-Type", "application/octet-stream")],
            &mut rx,
            &repo.scope,
        );
        // A failed PATCH stops the compressor (its writes fail).
        drop(rx);
        (patched, worker.join())
    });
    let (digest, size) =
        made.map_err(|_| repo.error(format!("compressing layer {layer} failed")))??;
    let mut resp = patched?;
    let doing = format!("uploading layer {layer} as {digest}");
    let code = resp.status().as_u16();
    if code != 202 {
        return Err(repo.client.status_error(&mut resp, code, &doing));
    }
    let loc = location(repo, &mut resp)?;
    finish_upload(repo, &loc, &digest, Body::Empty)?;
    Ok(CompressedForm {
        digest,
        size,
        repos: Vec::new(),
    })
}

pub(crate) enum Mount {
    Done,
    /// Not mounted; an upload session the registry opened, if any.
    Session(Option<String>),
}

/// Tries to mount `digest` from repositories of the same registry.
pub(crate) fn try_mount(repo: &Repo, digest: &Digest, repos: &[String]) -> Result<Mount> {
    let host = format!("{}/", repo.client.host());
    let here = repo.name();
    for from in repos.iter().filter(|r| r.starts_with(&host) && **r != here) {
        let from_path = &from[host.len()..];
        let url = repo.url(&format!(
            "blobs/uploads/?mount={}&from={}",
            encode(&digest.to_string()),
            encode(from_path)
        ));
        let scope = format!("{} repository:{from_path}:pull", repo.scope);
        let mut resp = repo
            .client
            .send(Method::POST, &url, &[], Body::Empty, &scope)?;
        match resp.status().as_u16() {
            201 => return Ok(Mount::Done),
            202 => return Ok(Mount::Session(Some(location(repo, &mut resp)?))),
            _ => {
                let _ = resp.body_mut().with_config().limit(1 << 16).read_to_vec();
            }
        }
    }
    Ok(Mount::Session(None))
}

/// The absolute URL of a response's `Location`.
fn location(repo: &Repo, resp: &mut ureq::http::Response<ureq::Body>) -> Result<String> {
    let _ = resp.body_mut().with_config().limit(1 << 16).read_to_vec();
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| repo.error("upload answer without a Location"))?;
    Ok(
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else {
            format!("{}{loc}", repo.client.base())
        },
    )
}

fn with_query(url: &str, kv: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{kv}")
}

/// Uploads a blob: POST (unless a session is given), then one PUT, or PATCH
/// chunks and a closing PUT for a file over [`CHUNK`].
fn upload(
    repo: &Repo,
    digest: &Digest,
    body: Body,
    size: u64,
    session: Option<String>,
) -> Result<()> {
    let doing = format!("uploading blob {digest}");
    let mut loc = match session {
        Some(l) => l,
        None => start_upload(repo, digest)?,
    };
    let octet = ("Content-Type", "application/octet-stream");
    let final_body = match body {
        Body::File(f) if size > CHUNK => {
            let mut reader = f;
            io::Seek::seek(&mut reader, io::SeekFrom::Start(0))
                .map_err(|e| repo.error(format!("{doing}: {e}")))?;
            let mut buf = vec![0u8; CHUNK as usize];
            let mut offset = 0u64;
            while offset < size {
                let want = CHUNK.min(size - offset) as usize;
                reader.read_exact(&mut buf[..want]).map_err(|e| {
                    repo.error(format!("{doing}: reading the compressed layer: {e}"))
                })?;
                let range = format!("{}-{}", offset, offset + want as u64 - 1);
                let mut resp = repo.client.send(
                    Method::PATCH,
                    &loc,
                    &[octet, ("Content-Range", &range)],
                    Body::Bytes(&buf[..want]),
                    &repo.scope,
                )?;
                let code = resp.status().as_u16();
                if code != 202 {
                    return Err(repo.client.status_error(&mut resp, code, &doing));
                }
                loc = location(repo, &mut resp)?;
                offset += want as u64;
            }
            Body::Empty
        }
        b => b,
    };
    finish_upload(repo, &loc, digest, final_body)
}

/// Uploads a small blob in one request (POST, PUT).
pub(crate) fn upload_bytes(repo: &Repo, digest: &Digest, bytes: &[u8]) -> Result<()> {
    upload(repo, digest, Body::Bytes(bytes), bytes.len() as u64, None)
}

/// Uploads a blob streamed from `body` (never held whole): POST (unless a
/// session is given), one PATCH in chunked transfer encoding, and the PUT
/// closing it with the digest, which the registry checks.
pub(crate) fn upload_stream(
    repo: &Repo,
    digest: &Digest,
    body: &mut dyn Read,
    session: Option<String>,
) -> Result<()> {
    let loc = match session {
        Some(l) => l,
        None => start_upload(repo, digest)?,
    };
    let mut resp = repo.client.send_stream(
        Method::PATCH,
        &loc,
        &[("Content-Type", "application/octet-stream")],
        body,
        &repo.scope,
    )?;
    let code = resp.status().as_u16();
    if code != 202 {
        let doing = format!("uploading blob {digest}");
        return Err(repo.client.status_error(&mut resp, code, &doing));
    }
    let loc = location(repo, &mut resp)?;
    finish_upload(repo, &loc, digest, Body::Empty)
}

/// Opens an upload session (POST): its location.
fn start_upload(repo: &Repo, digest: &Digest) -> Result<String> {
    let url = repo.url("blobs/uploads/");
    let mut resp = repo
        .client
        .send(Method::POST, &url, &[], Body::Empty, &repo.scope)?;
    let code = resp.status().as_u16();
    if code != 202 {
        let doing = format!("uploading blob {digest}");
        return Err(repo.client.status_error(&mut resp, code, &doing));
    }
    location(repo, &mut resp)
}

/// Closes an upload (PUT ?digest=, with the last bytes if any).
fn finish_upload(repo: &Repo, loc: &str, digest: &Digest, body: Body) -> Result<()> {
    let digest_q = format!("digest={}", encode(&digest.to_string()));
    let mut resp = repo.client.send(
        Method::PUT,
        &with_query(loc, &digest_q),
        &[("Content-Type", "application/octet-stream")],
        body,
        &repo.scope,
    )?;
    let code = resp.status().as_u16();
    if code != 201 {
        let doing = format!("uploading blob {digest}");
        return Err(repo.client.status_error(&mut resp, code, &doing));
    }
    let _ = resp.body_mut().with_config().limit(1 << 16).read_to_vec();
    Ok(())
}
