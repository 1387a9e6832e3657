//! Names and images: `index.json` (one descriptor per tag), resolving what a
//! user typed (name, name:tag, full registry name, image id or its prefix),
//! writing new images, untagging and collecting unreferenced blobs.

use std::collections::{BTreeMap, HashSet};
use std::fs;

use super::{Store, StoreLock};
use crate::digest::Digest;
use crate::error::{invalid, Error, JsonContext, Result};
use crate::image::oci::{
    Config, Descriptor, Index, Manifest, MEDIA_CONFIG, MEDIA_INDEX, MEDIA_LAYER, MEDIA_MANIFEST,
    REF_NAME,
};
use crate::image::platform::Want;
use crate::image::{Image, Reference};

/// Layer media types we can read straight from the store (uncompressed tars).
const READABLE_LAYERS: [&str; 2] = [MEDIA_LAYER, "application/vnd.docker.image.rootfs.diff.tar"];

pub(super) fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: MEDIA_INDEX.into(),
        manifests: Vec::new(),
    }
}

impl Store {
    /// Reads `index.json`.
    pub fn read_index(&self) -> Result<Index> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).map_err(|e| Error::Io {
            path: path.clone(),
            err: e,
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("{}: not a valid OCI index: {e}", path.display())))
    }

    /// Replaces `index.json` atomically; the caller holds the lock.
    pub fn write_index(&self, index: &Index, _lock: &StoreLock) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(index).json("index.json")?;
        self.write_atomic(&self.root.join("index.json"), &bytes)
    }

    /// Every tagged image: (name, manifest descriptor), in index order.
    pub fn tags(&self) -> Result<Vec<(String, Descriptor)>> {
        let index = self.read_index()?;
        Ok(index
            .manifests
            .into_iter()
            .filter(|d| !super::is_signature_entry(d))
            .filter_map(|d| d.annotations.get(REF_NAME).cloned().map(|n| (n, d)))
            .collect())
    }

    /// Loads an image by manifest digest, checking it is one we can serve.
    pub fn load_image(&self, manifest_digest: &Digest, name: Option<String>) -> Result<Image> {
        let bytes = self.read_blob(manifest_digest)?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Blob {
            digest: *manifest_digest,
            why: format!("not an image manifest: {e}"),
        })?;
        let config_bytes = self.read_blob(&manifest.config.digest)?;
        let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| Error::Blob {
            digest: manifest.config.digest,
            why: format!("not an image config: {e}"),
        })?;
        for l in &manifest.layers {
            if !READABLE_LAYERS.contains(&l.media_type.as_str()) {
                return Err(Error::Blob {
                    digest: l.digest,
                    why: format!("unsupported layer media type {}", l.media_type),
                });
            }
        }
        if config.rootfs.diff_ids != manifest.layers.iter().map(|l| l.digest).collect::<Vec<_>>() {
            return Err(Error::Blob {
                digest: manifest.config.digest,
                why: "rootfs.diff_ids do not match the manifest's layers".into(),
            });
        }
        Ok(Image {
            name,
            manifest_digest: *manifest_digest,
            id: manifest.config.digest,
            manifest,
            config,
            index: None,
        })
    }

    /// Finds the image a user means, for this machine's platform: see
    /// [`resolve_for`](Self::resolve_for).
    pub fn resolve(&self, what: &str) -> Result<Image> {
        self.resolve_for(what, &Want::Host)
    }

    /// Finds the image a user means: a name (with or without tag or
    /// `docker.io/library/`), `name@digest`, or an image id or unique
    /// prefix; from a multi-platform tag, the image of `want`.
    pub fn resolve_for(&self, what: &str, want: &Want) -> Result<Image> {
        if let Some((name, desc)) = self.find_tag(what)? {
            return self.load_tagged(&name, &desc, want);
        }
        let tags = self.tags()?;
        if let Ok(r) = Reference::parse(what) {
            if let (Some(d), None) = (&r.digest, &r.tag) {
                let d: Digest = d.parse().map_err(invalid)?;
                for (name, desc) in tags.iter().filter(|(n, _)| n.starts_with(&r.repo)) {
                    if desc.digest == d {
                        return self.load_tagged(name, desc, want);
                    }
                    if let Some(m) = self.manifests_of(desc)?.iter().find(|m| m.digest == d) {
                        let img = self.load_image(&m.digest, Some(name.clone()))?;
                        super::platforms::check_platform(&img, want)?;
                        return Ok(img);
                    }
                }
            }
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.len() >= 3 && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            let mut found: BTreeMap<Digest, Image> = BTreeMap::new();
            for (_, img) in self.all_images()? {
                if img.id.hex().starts_with(hex) {
                    found.entry(img.id).or_insert(img);
                }
            }
            match found.len() {
                1 => {
                    let img = found.into_values().next().expect("one image");
                    super::platforms::check_platform(&img, want)?;
                    return Ok(img);
                }
                0 => {}
                _ => return Err(invalid(format!("image id prefix {what:?} is ambiguous"))),
            }
        }
        Err(Error::ImageNotFound(what.to_string()))
    }

    /// The tag `what` names (a name, with or without tag or
    /// `docker.io/library/`), if any.
    pub fn find_tag(&self, what: &str) -> Result<Option<(String, Descriptor)>> {
        let Ok(r) = Reference::parse(what) else {
            return Ok(None);
        };
        let names = [Some(r.full_name()), r.docker_alias()];
        Ok(self
            .tags()?
            .into_iter()
            .find(|(name, _)| names.iter().flatten().any(|n| n == name)))
    }

    /// Writes config and manifest for `layers` and tags the result `name`.
    /// Every layer must already be in the store.
    pub fn commit_image(
        &self,
        config: &Config,
        layers: &[(Digest, u64)],
        name: &str,
    ) -> Result<Image> {
        self.commit_image_annotated(config, layers, BTreeMap::new(), name)
    }

    /// [`commit_image`](Self::commit_image) with manifest annotations.
    pub fn commit_image_annotated(
        &self,
        config: &Config,
        layers: &[(Digest, u64)],
        annotations: BTreeMap<String, String>,
        name: &str,
    ) -> Result<Image> {
        let lock = self.lock()?;
        let config_bytes = serde_json::to_vec(config).json("the image config")?;
        let img = self.write_image(&config_bytes, layers, annotations, &lock)?;
        self.tag_image(name, &img, &lock)?;
        Ok(Image {
            name: Some(name.into()),
            ..img
        })
    }

    /// Writes config and manifest for `layers` without tagging them, and
    /// pins them so they stay until this process tags or drops them.
    pub fn write_image(
        &self,
        config_bytes: &[u8],
        layers: &[(Digest, u64)],
        annotations: BTreeMap<String, String>,
        lock: &StoreLock,
    ) -> Result<Image> {
        let config: Config = serde_json::from_slice(config_bytes).map_err(|e| Error::Blob {
            digest: Digest::of(config_bytes),
            why: format!("not an image config: {e}"),
        })?;
        for (d, _) in layers {
            // Whole, or partly present (pull --lazy).
            if !self.has_layer(d) {
                return Err(Error::Blob {
                    digest: *d,
                    why: "layer vanished from the store before tagging".into(),
                });
            }
        }
        let id = self.write_blob(config_bytes, lock)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: MEDIA_MANIFEST.into(),
            config: Descriptor::new(MEDIA_CONFIG, id, config_bytes.len() as u64),
            layers: layers
                .iter()
                .map(|(d, size)| Descriptor::new(MEDIA_LAYER, *d, *size))
                .collect(),
            annotations,
        };
        let manifest_bytes = serde_json::to_vec(&manifest).json("the image manifest")?;
        let manifest_digest = self.write_blob(&manifest_bytes, lock)?;
        let img = Image {
            name: None,
            manifest_digest,
            manifest,
            id,
            config,
            index: None,
        };
        self.pin_image(&img, lock)?;
        Ok(img)
    }

    /// Gives the image `source` (name or id) the name `target`, resolving it
    /// under the lock so it cannot vanish before it is tagged.
    pub fn tag(&self, source: &str, target: &str) -> Result<Image> {
        let name = Reference::parse(target)?.full_name();
        let lock = self.lock()?;
        if let Some((_, desc)) = self.find_tag(source)? {
            // A multi-platform tag is tagged whole: the new name names the index.
            let img = self.load_tagged(&name, &desc, &Want::Host).or_else(|_| {
                let first = self.manifests_of(&desc)?.into_iter().next();
                let first = first.ok_or_else(|| invalid(format!("{source}: an empty index")))?;
                self.load_image(&first.digest, Some(name.clone()))
            })?;
            let desc = Descriptor::new(&desc.media_type, desc.digest, desc.size);
            self.set_tag(&name, desc, &lock)?;
            return Ok(img);
        }
        let img = self.resolve(source)?;
        let size = fs::metadata(self.blob_path(&img.manifest_digest))
            .map_err(|e| Error::Io {
                path: self.blob_path(&img.manifest_digest),
                err: e,
            })?
            .len();
        let desc = Descriptor::new(MEDIA_MANIFEST, img.manifest_digest, size);
        self.set_tag(&name, desc, &lock)?;
        Ok(img)
    }

    /// Points `name` at a manifest, replacing an existing tag of that name.
    pub fn set_tag(&self, name: &str, mut desc: Descriptor, lock: &StoreLock) -> Result<()> {
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(name));
        desc.annotations.insert(REF_NAME.into(), name.into());
        index.manifests.push(desc);
        self.write_index(&index, lock)
    }

    /// Removes tags; then deletes every blob and index no tag reaches.
    /// Returns the digests of the deleted blobs.
    pub fn untag(&self, names: &[String], lock: &StoreLock) -> Result<Vec<Digest>> {
        let mut index = self.read_index()?;
        index.manifests.retain(|d| {
            d.annotations
                .get(REF_NAME)
                .is_none_or(|n| !names.contains(n))
        });
        // Signatures go with the last name of what they sign.
        self.drop_orphan_signatures(&mut index);
        self.write_index(&index, lock)?;
        self.collect_garbage(&index, lock)
    }

    /// Deletes those of `blobs` (and their indexes) that no tag reaches, e.g.
    /// the layers a failed build stored.
    pub fn remove_unreferenced(&self, blobs: &[Digest], _lock: &StoreLock) -> Result<()> {
        let live = self.gc_roots(&self.read_index()?);
        for d in blobs.iter().filter(|d| !live.contains(d)) {
            let _ = fs::remove_file(self.index_path(d));
            let path = self.blob_path(d);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Io { path, err: e })
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn collect_garbage(&self, index: &Index, _lock: &StoreLock) -> Result<Vec<Digest>> {
        let live = self.gc_roots(index);
        let mut removed = Vec::new();
        let dir = self.root.join("blobs/sha256");
        let entries = fs::read_dir(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            err: e,
        })?;
        for entry in entries.flatten() {
            let Some(d) = entry.file_name().to_str().and_then(Digest::from_hex) else {
                continue;
            };
            if !live.contains(&d) {
                let _ = fs::remove_file(self.index_path(&d));
                fs::remove_file(entry.path()).map_err(|e| Error::Io {
                    path: entry.path(),
                    err: e,
                })?;
                removed.push(d);
            }
        }
        // Partly present layers (pull --lazy) nothing needs: chunks, record.
        self.prune_lazy(&live);
        self.prune_referrers(&live);
        Ok(removed)
    }

    /// What garbage collection keeps: every blob a tag in `index` reaches
    /// and every blob another live process pinned.
    pub(super) fn gc_roots(&self, index: &Index) -> HashSet<Digest> {
        let mut live = self.live_blobs(index);
        live.extend(self.pinned_by_others());
        live
    }

    /// Every blob a tag in `index` reaches: manifests, configs, layers.
    pub(super) fn live_blobs(&self, index: &Index) -> HashSet<Digest> {
        let mut live: HashSet<Digest> = HashSet::new();
        for desc in &index.manifests {
            live.insert(desc.digest);
            // A signature entry keeps the manifest it signs (see signatures.rs).
            if let Some(d) = desc.annotations.get(super::SIGNATURE_OF) {
                live.extend(d.parse::<Digest>().ok());
            }
            let Ok(bytes) = self.read_blob(&desc.digest) else {
                continue;
            };
            if let Ok(i) = serde_json::from_slice::<Index>(&bytes) {
                // A multi-platform index: keep every image it names.
                for m in &i.manifests {
                    live.insert(m.digest);
                    if let Ok(m) = self.read_blob(&m.digest) {
                        if let Ok(m) = serde_json::from_slice::<Manifest>(&m) {
                            live.insert(m.config.digest);
                            live.extend(m.layers.iter().map(|l| l.digest));
                        }
                    }
                }
            } else if let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) {
                live.insert(m.config.digest);
                live.extend(m.layers.iter().map(|l| l.digest));
            }
        }
        self.referrer_blobs(&mut live);
        live
    }
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}
