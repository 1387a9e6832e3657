//! Tags that name an OCI image index, one image per platform: choosing the
//! image of a platform, listing every image a tag reaches, and writing an
//! index for the images of a multi-platform build or pull.

use std::collections::BTreeMap;

use super::{Store, StoreLock};
use crate::digest::Digest;
use crate::error::{Error, JsonContext, Result};
use crate::image::oci::{Descriptor, Index, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::image::platform::{self, PlatformSpec, Want};
use crate::image::Image;

/// Annotation of an index entry: sealer's own platform string, for tools
/// that show annotations only.
pub(super) const PLATFORM_ANNOTATION: &str = "io.sealer.platform";

impl Store {
    /// Whether a tag (or index entry) descriptor names an index.
    pub fn is_index(&self, desc: &Descriptor) -> bool {
        desc.media_type == MEDIA_INDEX || desc.media_type == crate::registry::manifest::DOCKER_LIST
    }

    /// Reads an image index blob.
    pub fn read_image_index(&self, d: &Digest) -> Result<Index> {
        let bytes = self.read_blob(d)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Blob {
            digest: *d,
            why: format!("not an image index: {e}"),
        })
    }

    /// The image manifests a tag reaches: the tag's own manifest, or every
    /// entry of its index (with their platforms).
    pub fn manifests_of(&self, desc: &Descriptor) -> Result<Vec<Descriptor>> {
        if !self.is_index(desc) {
            return Ok(vec![desc.clone()]);
        }
        Ok(self
            .read_image_index(&desc.digest)?
            .manifests
            .into_iter()
            .filter(|d| !self.is_index(d))
            .collect())
    }

    /// The image of `want` that the tag `name` (pointing at `desc`) names.
    /// A single-platform image is taken as it is unless a platform is asked
    /// exactly and it is another one.
    pub fn load_tagged(&self, name: &str, desc: &Descriptor, want: &Want) -> Result<Image> {
        if self.is_index(desc) {
            let index = self.read_image_index(&desc.digest)?;
            let chosen = platform::select(&index, want).map_err(|_| {
                Error::Platform(format!(
                    "image {name} has no {} image (it has: {})",
                    want.platform(),
                    platform::offered(&index)
                ))
            })?;
            let mut img = self.load_image(&chosen.digest, Some(name.to_string()))?;
            img.index = Some(desc.digest);
            return Ok(img);
        }
        let img = self.load_image(&desc.digest, Some(name.to_string()))?;
        check_platform(&img, want)?;
        Ok(img)
    }

    /// Writes an index of `images` (one per platform, each platform taken
    /// from its config) and points `name` at it. The images' blobs must be
    /// in the store (written and pinned by the caller).
    pub fn commit_index(&self, name: &str, images: &[Image], lock: &StoreLock) -> Result<Digest> {
        let mut manifests = Vec::new();
        for img in images {
            let size = self.read_blob(&img.manifest_digest)?.len() as u64;
            let mut desc = Descriptor::new(MEDIA_MANIFEST, img.manifest_digest, size);
            let p = img.platform();
            desc.annotations
                .insert(PLATFORM_ANNOTATION.into(), p.to_string());
            desc.platform = Some(p.to_platform());
            manifests.push(desc);
        }
        let index = Index {
            schema_version: 2,
            media_type: MEDIA_INDEX.into(),
            manifests,
        };
        let bytes = serde_json::to_vec(&index).json("the image index")?;
        let digest = self.write_blob(&bytes, lock)?;
        let desc = Descriptor::new(MEDIA_INDEX, digest, bytes.len() as u64);
        self.set_tag(name, desc, lock)?;
        Ok(digest)
    }

    /// Points `name` at the single-platform image `img` (written by
    /// [`write_image`](Self::write_image)).
    pub fn tag_image(&self, name: &str, img: &Image, lock: &StoreLock) -> Result<()> {
        let size = self.read_blob(&img.manifest_digest)?.len() as u64;
        let desc = Descriptor::new(MEDIA_MANIFEST, img.manifest_digest, size);
        self.set_tag(name, desc, lock)
    }

    /// Names of the tags that reach `manifest` (directly or through their
    /// index).
    pub fn tags_reaching(&self, manifest: &Digest) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (name, desc) in self.tags()? {
            let reaches = desc.digest == *manifest
                || self
                    .manifests_of(&desc)
                    .is_ok_and(|ms| ms.iter().any(|m| m.digest == *manifest));
            if reaches {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Every (tag, image) the store holds: one per platform of an index.
    pub fn all_images(&self) -> Result<Vec<(String, Image)>> {
        let mut out = Vec::new();
        for (name, desc) in self.tags()? {
            for m in self.manifests_of(&desc)? {
                let mut img = self.load_image(&m.digest, Some(name.clone()))?;
                if self.is_index(&desc) {
                    img.index = Some(desc.digest);
                }
                out.push((name.clone(), img));
            }
        }
        Ok(out)
    }

    /// The platforms of what `name` names, e.g. for an error message.
    pub fn platforms_of_tag(&self, desc: &Descriptor) -> Result<BTreeMap<PlatformSpec, Digest>> {
        let mut out = BTreeMap::new();
        for m in self.manifests_of(desc)? {
            let p = match &m.platform {
                Some(p) => PlatformSpec::of(p),
                None => self.load_image(&m.digest, None)?.platform(),
            };
            out.insert(p, m.digest);
        }
        Ok(out)
    }
}

/// A single-platform image asked for exactly another platform is an error.
pub(super) fn check_platform(img: &Image, want: &Want) -> Result<()> {
    if let Want::Exactly(p) = want {
        let c = &img.config;
        if !p.matches(&c.os, &c.architecture, c.variant.as_deref()) {
            return Err(Error::Platform(format!(
                "image {} is for {}, not {p}",
                img.name.as_deref().unwrap_or("(unnamed)"),
                img.platform()
            )));
        }
    }
    Ok(())
}
