//! Manifest lists (`sealer manifest`, as buildah's): a tag naming an OCI
//! image index that a user fills image by image. Once written it is an
//! ordinary multi-platform name, so every reading command chooses from it.
//!
//! ```text
//! index.json  {"mediaType": MEDIA_INDEX, "digest": <list>, annotations: {ref.name: LIST}}
//! <list>      {"schemaVersion":2, "mediaType": MEDIA_INDEX,
//!              "manifests":[{MEDIA_MANIFEST, digest, size, platform, annotations}...]}
//! ```
//!
//! Every change writes a new index blob and moves the tag under the lock;
//! every check happens before anything is written, so a refused change
//! leaves the store as it was.

use std::collections::BTreeMap;

use super::{Store, StoreLock};
use crate::digest::Digest;
use crate::error::{invalid, Error, JsonContext, Result};
use crate::image::oci::{Descriptor, Index, Platform, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::image::platform::{PlatformSpec, Want};
use crate::image::Reference;

/// How an added image's index entry differs from what its config says
/// (buildah's `manifest add --os/--arch/--variant/--annotation`).
#[derive(Clone, Debug, Default)]
pub struct EntryOverrides {
    /// Operating system.
    pub os: Option<String>,
    /// Architecture.
    pub arch: Option<String>,
    /// Variant.
    pub variant: Option<String>,
    /// Annotations of the entry.
    pub annotations: BTreeMap<String, String>,
}

impl Store {
    /// Tags `name` with a new empty index; a name already in use is refused.
    pub fn create_list(&self, name: &str) -> Result<Digest> {
        let name = Reference::parse(name)?.full_name();
        let lock = self.lock()?;
        if let Some((existing, desc)) = self.find_tag(&name)? {
            let what = if self.is_index(&desc) {
                "a manifest list"
            } else {
                "an image"
            };
            return Err(invalid(format!(
                "{existing} already exists ({what}): choose another name or `sealer manifest delete` it"
            )));
        }
        self.write_list(&name, Vec::new(), &lock)
    }

    /// The index `list` names: (its full name, the index). A name of an
    /// image, or no name at all, is an error saying so.
    pub fn read_list(&self, list: &str) -> Result<(String, Index)> {
        match self.find_tag(list)? {
            Some((name, desc)) if self.is_index(&desc) => {
                Ok((name, self.read_image_index(&desc.digest)?))
            }
            Some((name, _)) => Err(invalid(format!("{name} is an image, not a manifest list"))),
            None => Err(invalid(format!(
                "manifest list {list} not found (create it with `sealer manifest create`)"
            ))),
        }
    }

    /// The index entries that adding `image` makes: its image of `want`
    /// (its platform from its config), or with `all` every image of a
    /// multi-platform name.
    pub fn list_entries(
        &self,
        image: &str,
        all: bool,
        want: &Want,
        overrides: &EntryOverrides,
    ) -> Result<Vec<Descriptor>> {
        let mut out = Vec::new();
        match self.find_tag(image)? {
            Some((_, desc)) if all && self.is_index(&desc) => {
                for m in self.manifests_of(&desc)? {
                    let img = self.load_image(&m.digest, None)?;
                    let mut d = m.clone();
                    d.platform = Some(m.platform.unwrap_or_else(|| img.platform().to_platform()));
                    out.push(d);
                }
            }
            _ => {
                let img = self.resolve_for(image, want)?;
                let size = self.read_blob(&img.manifest_digest)?.len() as u64;
                let mut d = Descriptor::new(MEDIA_MANIFEST, img.manifest_digest, size);
                d.platform = Some(img.platform().to_platform());
                out.push(d);
            }
        }
        for d in &mut out {
            let p = d
                .platform
                .get_or_insert_with(|| PlatformSpec::host().to_platform());
            apply_overrides(p, overrides);
            d.annotations.extend(overrides.annotations.clone());
            d.annotations.insert(
                super::platforms::PLATFORM_ANNOTATION.into(),
                PlatformSpec::of(p).to_string(),
            );
        }
        Ok(out)
    }

    /// Adds `entries` to `list` (created first when `create` and missing).
    /// An image already in the list, or a second image of one platform, is
    /// refused. Returns the new index digest.
    pub fn add_to_list(&self, list: &str, entries: &[Descriptor], create: bool) -> Result<Digest> {
        let lock = self.lock()?;
        let (name, mut index) = match self.read_list(list) {
            Err(_) if create && self.find_tag(list)?.is_none() => (
                Reference::parse(list)?.full_name(),
                super::refs::empty_index(),
            ),
            other => other?,
        };
        for e in entries {
            if !self.has_blob(&e.digest) {
                return Err(Error::ImageNotFound(e.digest.to_string()));
            }
            if index.manifests.iter().any(|m| m.digest == e.digest) {
                return Err(invalid(format!(
                    "{} is already in manifest list {name}",
                    e.digest
                )));
            }
            let platform = e.platform.as_ref().map(PlatformSpec::of);
            let same = index
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().map(PlatformSpec::of) == platform);
            if let (Some(m), Some(p)) = (same, &platform) {
                return Err(invalid(format!(
                    "manifest list {name} has a {p} image already ({}): remove it first",
                    m.digest
                )));
            }
            index.manifests.push(e.clone());
        }
        self.write_list(&name, index.manifests, &lock)
    }

    /// Removes the image `digest` from `list`; a digest not in it is an
    /// error. Returns the new index digest.
    pub fn remove_from_list(&self, list: &str, digest: &Digest) -> Result<Digest> {
        let lock = self.lock()?;
        let (name, mut index) = self.read_list(list)?;
        let before = index.manifests.len();
        index.manifests.retain(|m| m.digest != *digest);
        if index.manifests.len() == before {
            return Err(invalid(format!("{digest} is not in manifest list {name}")));
        }
        let d = self.write_list(&name, index.manifests, &lock)?;
        self.collect_garbage(&self.read_index()?, &lock)?;
        Ok(d)
    }

    /// Removes the list `list` (its images stay while other names reach
    /// them); the name of an image is refused.
    pub fn delete_list(&self, list: &str) -> Result<String> {
        let lock = self.lock()?;
        let (name, _) = self.read_list(list)?;
        self.untag(std::slice::from_ref(&name), &lock)?;
        Ok(name)
    }

    fn write_list(
        &self,
        name: &str,
        manifests: Vec<Descriptor>,
        lock: &StoreLock,
    ) -> Result<Digest> {
        let index = Index {
            schema_version: 2,
            media_type: MEDIA_INDEX.into(),
            manifests,
        };
        let bytes = serde_json::to_vec(&index).json("the manifest list")?;
        let digest = self.write_blob(&bytes, lock)?;
        self.set_tag(
            name,
            Descriptor::new(MEDIA_INDEX, digest, bytes.len() as u64),
            lock,
        )?;
        Ok(digest)
    }
}

fn apply_overrides(p: &mut Platform, o: &EntryOverrides) {
    if let Some(os) = &o.os {
        p.os = os.clone();
    }
    if let Some(arch) = &o.arch {
        p.architecture = arch.clone();
    }
    if let Some(v) = &o.variant {
        p.variant = Some(v.clone()).filter(|v| !v.is_empty());
    }
}
