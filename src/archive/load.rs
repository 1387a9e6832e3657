//! `load`: an OCI archive or a docker-archive -> images in the store.
//!
//! Pass 1 reads the tar's headers only (seeking over the data), checks every
//! member path stays inside the archive and that no member is cut short,
//! and notes where each file's bytes are. Then the manifests and configs
//! are read and checked, and each layer not in the store is streamed from
//! its offset through digest check -> decompression (by magic) -> ingest
//! (checked against the config's diff_id). Only when every image is
//! complete are names tagged; on any failure the blobs this load added are
//! removed, leaving the store as it was. The signature policy judges every
//! image by the name it carries and the signatures the archive holds for it
//! (see `carried.rs`) before anything is stored.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::carried::{self, Carried};
use super::split::{self, Concat, Segment};
use super::{archive_error, link_target, member_path};
use crate::compress;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::oci::{Config, REF_NAME};
use crate::image::{Image, Reference};
use crate::progress::{Counting, Progress};
use crate::registry::manifest::{self as rmanifest, Fetched};
use crate::sign::Policy;
use crate::store::Store;

/// Docker >= 25 and containerd name an image with this annotation.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The largest manifest, index or config read into memory.
const MAX_JSON: u64 = 16 << 20;

/// Where a member's bytes are in the archive file.
#[derive(Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

/// The archive, opened and mapped.
pub(super) struct Archive {
    path: PathBuf,
    /// The tar itself: `path`, the spool of its decompressed copy, or the
    /// parts of a split archive.
    data: Data,
    members: BTreeMap<PathBuf, Member>,
    /// A decompressed copy of a compressed archive, removed on drop.
    _spool: Option<Spool>,
}

struct Spool(PathBuf);

/// Where an archive's tar stream is.
enum Data {
    File(PathBuf),
    Parts(Arc<Vec<Segment>>),
}

/// A reader of the tar stream.
enum DataReader {
    File(File),
    Parts(Concat),
}

impl Read for DataReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DataReader::File(f) => f.read(buf),
            DataReader::Parts(c) => c.read(buf),
        }
    }
}

impl Seek for DataReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            DataReader::File(f) => f.seek(to),
            DataReader::Parts(c) => c.seek(to),
        }
    }
}

impl Data {
    fn open(&self) -> io::Result<DataReader> {
        Ok(match self {
            Data::File(p) => DataReader::File(File::open(p)?),
            Data::Parts(segs) => DataReader::Parts(Concat::new(segs.clone())),
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One layer to bring in.
struct LayerSource {
    member: PathBuf,
    /// Digest of the member's bytes, when the archive states it.
    digest: Option<Digest>,
    diff_id: Digest,
}

/// One image found in the archive.
pub(super) struct Found {
    pub(super) names: Vec<String>,
    pub(super) config_bytes: Vec<u8>,
    layers: Vec<LayerSource>,
    /// Manifest annotations, kept so the stored manifest is the archived one.
    annotations: BTreeMap<String, String>,
    /// Part of the multi-platform index `index.json` names at this
    /// position: tagged as that index, not alone.
    of_index: Option<usize>,
    /// The archive's digests that are this image: its manifest's, then
    /// its index's (signatures over them hold for it).
    pub(super) subjects: Vec<Digest>,
}

/// The images a load stored, each with every name it was tagged with.
pub type Loaded = Vec<(Vec<String>, Image)>;

/// Loads every image of the archive at `path`, if `policy` (when given)
/// accepts each; returns each with all the names it was tagged with. The
/// signatures and referrers (SBOMs) the archive carries for them are stored
/// with them.
pub fn load(
    store: &Store,
    path: &Path,
    policy: Option<&Policy>,
    progress: &Progress,
) -> Result<Loaded> {
    let archive = Archive::open(store, path)?;
    let found = if archive.members.contains_key(Path::new("manifest.json")) {
        archive.docker_images()?
    } else if archive.members.contains_key(Path::new("index.json")) {
        archive.oci_images()?
    } else {
        return Err(archive_error(
            path,
            "holds neither manifest.json nor index.json: not a docker or OCI archive",
        ));
    };
    if found.is_empty() {
        return Err(archive_error(path, "holds no image"));
    }
    if let Some((name, digest)) = archive.delta_base()? {
        check_base(store, &archive, &found, &name, &digest)?;
    }
    let carried = Carried::read(&archive)?;
    if let Some(policy) = policy {
        carried::judge(policy, &found, &carried)?;
    }
    let mut added: Vec<Digest> = Vec::new();
    let result =
        ingest_all(store, &archive, &found, progress, &mut added).and_then(|(loaded, stored)| {
            carried.store(store, &found, &stored, &mut added)?;
            Ok(loaded)
        });
    if result.is_err() && !added.is_empty() {
        if let Ok(lock) = store.lock() {
            let _ = store.remove_unreferenced(&added, &lock);
        }
    }
    result
}

/// A delta archive loads only into a store holding every layer it leaves
/// out: its base's (however that base came: loaded, pulled, built, so its
/// manifest digest there may differ from the one recorded).
fn check_base(
    store: &Store,
    archive: &Archive,
    found: &[Found],
    name: &str,
    digest: &Digest,
) -> Result<()> {
    let lacking = found
        .iter()
        .flat_map(|f| &f.layers)
        .any(|l| !archive.has_member(&l.member) && !store.has_blob(&l.diff_id));
    if !lacking {
        return Ok(());
    }
    let theirs = match store.find_tag(name)? {
        Some((_, d)) if d.digest != *digest => format!(" (this store's {name} is {})", d.digest),
        _ => String::new(),
    };
    Err(archive_error(
        archive.path(),
        format!(
            "is a delta on top of {name} ({digest}), which this store does not hold{theirs}: load {name} first"
        ),
    ))
}

/// The stored manifest digest of each image found, in the same order.
type Stored = Vec<Digest>;

fn ingest_all(
    store: &Store,
    archive: &Archive,
    found: &[Found],
    progress: &Progress,
    added: &mut Vec<Digest>,
) -> Result<(Loaded, Stored)> {
    let mut all_layers: Vec<Vec<(Digest, u64)>> = Vec::new();
    for img in found {
        let mut layers = Vec::new();
        for l in &img.layers {
            layers.push(archive.ingest(store, l, progress, added)?);
        }
        all_layers.push(layers);
    }
    let mut images = Vec::new();
    let mut stored = Vec::new();
    let mut indexes: BTreeMap<usize, (Vec<String>, Vec<Image>)> = BTreeMap::new();
    for (img, layers) in found.iter().zip(&all_layers) {
        let config_digest = Digest::of(&img.config_bytes);
        if !store.has_blob(&config_digest) {
            added.push(config_digest);
        }
        let names: &[String] = if img.of_index.is_some() {
            &[]
        } else {
            &img.names
        };
        let image =
            store.commit_image_raw(&img.config_bytes, layers, img.annotations.clone(), names)?;
        added.push(image.manifest_digest);
        stored.push(image.manifest_digest);
        match img.of_index {
            Some(i) => {
                let entry = indexes.entry(i).or_insert((img.names.clone(), Vec::new()));
                entry.1.push(image);
            }
            None => images.push((img.names.clone(), image)),
        }
    }
    // A multi-platform index is tagged once every image of it is in.
    let lock = store.lock()?;
    for (names, platform_images) in indexes.into_values() {
        for n in &names {
            let index = store.commit_index(n, &platform_images, &lock)?;
            added.push(index);
        }
        let first = platform_images.into_iter().next().expect("an image");
        images.push((names, first));
    }
    Ok((images, stored))
}

impl Archive {
    fn open(store: &Store, path: &Path) -> Result<Archive> {
        let first = split::find_first(path);
        let path = first.as_path();
        if let Some(segs) = split::open_parts(path)? {
            let segs = Arc::new(segs);
            let data = Data::Parts(segs.clone());
            let reader = data.open().at(path)?;
            let len = Concat::new(segs).len();
            let members = scan(reader, len, path)?;
            return Ok(Archive {
                path: path.to_path_buf(),
                data,
                members,
                _spool: None,
            });
        }
        let mut file = File::open(path).at(path)?;
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head).at(path)?;
        file.seek(SeekFrom::Start(0)).at(path)?;
        let mut spool = None;
        if compress::Compression::sniff(&head[..n]) != compress::Compression::None {
            // A compressed archive: decompress it once into tmp/ to seek in it.
            let tmp = store.tmp_path("load");
            let guard = Spool(tmp.clone());
            let mut out = File::create(&tmp).at(&tmp)?;
            let mut dec = compress::sniffing_decoder(BufReader::new(file))
                .map_err(|e| archive_error(path, format!("cannot decompress: {e}")))?;
            io::copy(&mut dec, &mut out)
                .map_err(|e| archive_error(path, format!("cannot decompress: {e}")))?;
            file = File::open(&tmp).at(&tmp)?;
            spool = Some(guard);
        }
        let data = spool.as_ref().map_or(path, |s: &Spool| s.0.as_path());
        let len = file.metadata().at(path)?.len();
        let members = scan(DataReader::File(file), len, path)?;
        Ok(Archive {
            path: path.to_path_buf(),
            data: Data::File(data.to_path_buf()),
            members,
            _spool: spool,
        })
    }

    fn member(&self, p: &Path) -> Result<Member> {
        self.members
            .get(p)
            .copied()
            .ok_or_else(|| archive_error(&self.path, format!("member {} is missing", p.display())))
    }

    /// A reader of a member's bytes.
    fn open_member(&self, p: &Path) -> Result<(io::Take<DataReader>, u64)> {
        let m = self.member(p)?;
        // A handle of its own: handles share no file position.
        let mut f = self.data.open().at(&self.path)?;
        f.seek(SeekFrom::Start(m.offset)).at(&self.path)?;
        Ok((f.take(m.size), m.size))
    }

    /// A small member (JSON), whole.
    fn read_small(&self, p: &Path) -> Result<Vec<u8>> {
        self.read_member(p, MAX_JSON)
    }

    /// A member of at most `max` bytes, whole.
    pub(super) fn read_member(&self, p: &Path, max: u64) -> Result<Vec<u8>> {
        let (mut r, size) = self.open_member(p)?;
        if size > max {
            return Err(archive_error(
                &self.path,
                format!("{} is too large ({size} bytes)", p.display()),
            ));
        }
        let mut out = Vec::with_capacity(size as usize);
        r.read_to_end(&mut out).at(&self.path)?;
        Ok(out)
    }

    /// Whether the archive has a member at `p`.
    pub(super) fn has_member(&self, p: &Path) -> bool {
        self.members.contains_key(p)
    }

    /// Whether the archive holds blob `d`.
    pub(super) fn has_blob(&self, d: &Digest) -> bool {
        self.members.contains_key(&blob_member(d))
    }

    /// The archive's path, as errors name it.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// A blob of the OCI layout by digest, verified.
    pub(super) fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let bytes = self.read_small(&blob_member(d))?;
        rmanifest::verify(&bytes, d, "the archived blob's")?;
        Ok(bytes)
    }

    pub(super) fn json<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        what: &str,
    ) -> Result<T> {
        serde_json::from_slice(bytes)
            .map_err(|e| archive_error(&self.path, format!("{what} is not valid: {e}")))
    }

    /// The base a delta archive records in index.json: (name, digest).
    fn delta_base(&self) -> Result<Option<(String, Digest)>> {
        if !self.has_member(Path::new("index.json")) {
            return Ok(None);
        }
        #[derive(serde::Deserialize)]
        struct Annotated {
            #[serde(default)]
            annotations: BTreeMap<String, String>,
        }
        let bytes = self.read_small(Path::new("index.json"))?;
        let index: Annotated = self.json(&bytes, "index.json")?;
        let Some(name) = index.annotations.get(super::SINCE_NAME) else {
            return Ok(None);
        };
        let digest = index
            .annotations
            .get(super::SINCE_DIGEST)
            .and_then(|d| d.parse::<Digest>().ok())
            .ok_or_else(|| {
                archive_error(
                    &self.path,
                    format!("names the base {name} without its digest"),
                )
            })?;
        Ok(Some((name.clone(), digest)))
    }

    /// The images a docker-archive's `manifest.json` lists.
    fn docker_images(&self) -> Result<Vec<Found>> {
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers")]
            layers: Vec<String>,
        }
        let bytes = self.read_small(Path::new("manifest.json"))?;
        let entries: Vec<Entry> = self.json(&bytes, "manifest.json")?;
        let mut out = Vec::new();
        for e in entries {
            let config_path = self.resolve(&e.config)?;
            let config_bytes = self.read_small(&config_path)?;
            if let Some(d) = digest_in_name(&config_path) {
                rmanifest::verify(&config_bytes, &d, "the archived config's")?;
            }
            let config: Config = self.json(&config_bytes, &e.config)?;
            if config.rootfs.diff_ids.len() != e.layers.len() {
                return Err(archive_error(
                    &self.path,
                    format!(
                        "{} lists {} diff_ids for {} layers",
                        e.config,
                        config.rootfs.diff_ids.len(),
                        e.layers.len()
                    ),
                ));
            }
            let mut layers = Vec::new();
            for (l, diff_id) in e.layers.iter().zip(&config.rootfs.diff_ids) {
                let member = self.resolve(l)?;
                layers.push(LayerSource {
                    digest: digest_of_blob_member(&member),
                    member,
                    diff_id: *diff_id,
                });
            }
            let names = self.names(e.repo_tags.unwrap_or_default(), &config_bytes)?;
            out.push(Found {
                names,
                config_bytes,
                layers,
                annotations: BTreeMap::new(),
                of_index: None,
                subjects: Vec::new(),
            });
        }
        Ok(out)
    }

    /// The images of an OCI layout's `index.json`.
    fn oci_images(&self) -> Result<Vec<Found>> {
        let bytes = self.read_small(Path::new("index.json"))?;
        let index: crate::image::oci::Index = self.json(&bytes, "index.json")?;
        let mut out = Vec::new();
        for (position, desc) in index.manifests.iter().enumerate() {
            if carried::is_carried(desc) {
                continue;
            }
            let mut wanted: Vec<String> = Vec::new();
            if let Some(n) = desc.annotations.get(CONTAINERD_NAME) {
                wanted.push(n.clone());
            } else if let Some(n) = desc.annotations.get(REF_NAME) {
                wanted.push(n.clone());
            }
            let named =
                |at: Digest, e: Error| archive_error(&self.path, format!("manifest {at}: {e}"));
            let bytes = self.read_blob(&desc.digest)?;
            // An index keeps every platform it lists (attestations aside).
            let (manifests, of_index) = match rmanifest::parse(&bytes, Some(&desc.media_type))
                .map_err(|e| named(desc.digest, e))?
            {
                Fetched::Image(m) => (vec![(m, desc.digest)], None),
                Fetched::Index(i) => (self.index_images(&i, desc.digest)?, Some(position)),
            };
            for (manifest, digest) in manifests {
                let mut img = self.oci_image(&manifest, wanted.clone(), of_index)?;
                img.subjects.push(digest);
                if of_index.is_some() {
                    img.subjects.push(desc.digest);
                }
                out.push(img);
            }
        }
        Ok(out)
    }

    /// The image manifests of an index in the archive, one per platform.
    fn index_images(
        &self,
        index: &crate::image::oci::Index,
        at: Digest,
    ) -> Result<Vec<(crate::image::oci::Manifest, Digest)>> {
        let named = |at: Digest, e: Error| archive_error(&self.path, format!("manifest {at}: {e}"));
        let mut ms = Vec::new();
        for d in &index.manifests {
            if d.platform.as_ref().is_none_or(|p| p.os == "unknown") {
                continue;
            }
            let bytes = self.read_blob(&d.digest)?;
            match rmanifest::parse(&bytes, Some(&d.media_type)).map_err(|e| named(d.digest, e))? {
                Fetched::Image(m) => ms.push((m, d.digest)),
                Fetched::Index(_) => {
                    let why = "an index inside an index is not supported";
                    return Err(named(d.digest, Error::Manifest(why.into())));
                }
            }
        }
        if ms.is_empty() {
            let why = "the index lists no platform";
            return Err(named(at, Error::Manifest(why.into())));
        }
        Ok(ms)
    }

    /// One image of an OCI layout, from its manifest.
    fn oci_image(
        &self,
        manifest: &crate::image::oci::Manifest,
        wanted: Vec<String>,
        of_index: Option<usize>,
    ) -> Result<Found> {
        let config_bytes = self.read_blob(&manifest.config.digest)?;
        let config: Config = self.json(&config_bytes, "an image config")?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(archive_error(
                &self.path,
                format!(
                    "config {} lists {} diff_ids for {} layers",
                    manifest.config.digest,
                    config.rootfs.diff_ids.len(),
                    manifest.layers.len()
                ),
            ));
        }
        let layers = manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(l, diff_id)| LayerSource {
                member: blob_member(&l.digest),
                digest: Some(l.digest),
                diff_id: *diff_id,
            })
            .collect();
        let names = self.names(wanted, &config_bytes)?;
        Ok(Found {
            names,
            config_bytes,
            layers,
            annotations: manifest.annotations.clone(),
            of_index,
            subjects: Vec::new(),
        })
    }

    /// Valid store names for an image (docker.io/library/ dropped), or an
    /// error naming the image if it has none.
    fn names(&self, given: Vec<String>, config_bytes: &[u8]) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for g in given {
            let short = g
                .strip_prefix("docker.io/library/")
                .unwrap_or(&g)
                .to_string();
            let r =
                Reference::parse(&short).map_err(|e| archive_error(&self.path, e.to_string()))?;
            names.push(r.full_name());
        }
        if names.is_empty() {
            return Err(archive_error(
                &self.path,
                format!(
                    "image {} has no name to load it under",
                    Digest::of(config_bytes)
                ),
            ));
        }
        Ok(names)
    }

    /// A path named inside the archive (manifest.json's Config, Layers).
    fn resolve(&self, p: &str) -> Result<PathBuf> {
        member_path(Path::new(p))
            .ok_or_else(|| archive_error(&self.path, format!("{p:?} points outside the archive")))
    }

    /// Brings one layer into the store; returns (diff_id, size).
    fn ingest(
        &self,
        store: &Store,
        l: &LayerSource,
        progress: &Progress,
        added: &mut Vec<Digest>,
    ) -> Result<(Digest, u64)> {
        if let Some(size) = crate::registry::pin_existing(store, &l.diff_id)? {
            return Ok((l.diff_id, size));
        }
        let (member, size) = self.open_member(&l.member)?;
        let task = progress.start(&l.diff_id.short(), "Loading", Some(size));
        let mut hashing = Hashing {
            inner: Counting {
                inner: BufReader::with_capacity(1 << 20, member),
                task: &task,
            },
            hasher: Sha256::new(),
        };
        let layer_error =
            |why: String| archive_error(&self.path, format!("layer {}: {why}", l.member.display()));
        let ingested = {
            let dec = compress::sniffing_decoder(&mut hashing)
                .map_err(|e| layer_error(format!("cannot read: {e}")))?;
            store.ingest_layer(dec, Some(&l.diff_id))
        };
        let ingested = ingested.map_err(|e| match e {
            Error::Blob { why, .. } => {
                layer_error(format!("does not match diff_id {}: {why}", l.diff_id))
            }
            Error::Io { err, .. } => layer_error(err.to_string()),
            other => layer_error(other.to_string()),
        })?;
        if !ingested.existed {
            added.push(ingested.digest);
        }
        // Whatever the decompressor left unread still counts for the digest.
        io::copy(&mut hashing, &mut io::sink()).at(&self.path)?;
        if let Some(want) = l.digest {
            let got = Digest(hashing.hasher.finalize().into());
            if got != want {
                return Err(Error::Blob {
                    digest: want,
                    why: format!("the archived layer's content hashes to {got}"),
                });
            }
        }
        task.finish("Loaded");
        Ok((ingested.digest, ingested.size))
    }
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

pub(super) fn blob_member(d: &Digest) -> PathBuf {
    PathBuf::from(format!("blobs/sha256/{}", d.hex()))
}

/// `blobs/sha256/<hex>` -> the digest it names.
fn digest_of_blob_member(p: &Path) -> Option<Digest> {
    let s = p.to_str()?;
    Digest::from_hex(s.strip_prefix("blobs/sha256/")?)
}

/// `<hex>.json` or `blobs/sha256/<hex>` -> the digest the name states.
fn digest_in_name(p: &Path) -> Option<Digest> {
    digest_of_blob_member(p).or_else(|| {
        let s = p.to_str()?;
        Digest::from_hex(s.strip_suffix(".json")?)
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads the tar's headers: member path -> where its bytes are. Refuses
/// paths and links leaving the archive and members cut short.
fn scan(file: DataReader, len: u64, path: &Path) -> Result<BTreeMap<PathBuf, Member>> {
    if len == 0 {
        return Err(archive_error(path, "is empty"));
    }
    let mut tar = tar::Archive::new(file);
    let entries = tar
        .entries_with_seek()
        .map_err(|e| archive_error(path, format!("not a tar: {e}")))?;
    let mut members = BTreeMap::new();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| archive_error(path, format!("truncated or not a tar: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| archive_error(path, format!("bad member name: {e}")))?
            .into_owned();
        let name = member_path(&raw).ok_or_else(|| {
            archive_error(
                path,
                format!("member {} escapes the archive root", raw.display()),
            )
        })?;
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let m = Member {
                offset: entry.raw_file_position(),
                size: entry.size(),
            };
            if m.offset.saturating_add(m.size) > len {
                return Err(archive_error(
                    path,
                    format!("truncated: member {} is cut short", name.display()),
                ));
            }
            members.insert(name, m);
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name().ok().flatten().ok_or_else(|| {
                archive_error(path, format!("link {} has no target", name.display()))
            })?;
            let resolved = if kind.is_symlink() {
                link_target(&name, &target)
            } else {
                member_path(&target)
            };
            let resolved = resolved.ok_or_else(|| {
                archive_error(
                    path,
                    format!("link {} escapes the archive root", name.display()),
                )
            })?;
            links.push((name, resolved));
        }
    }
    for (name, target) in links {
        if let Some(m) = members.get(&target).copied() {
            members.insert(name, m);
        }
    }
    Ok(members)
}
