//! Signatures of local images, kept as cosign keeps them in an OCI layout:
//! one signature image per signed digest, named in `index.json` by an
//! annotation (not a tag, so `images` and name lookups never see it).
//!
//! ```text
//! index.json  {"mediaType":"application/vnd.oci.image.manifest.v1+json",
//!              "digest":<signature manifest>,"size":N,
//!              "annotations":{"io.sealer.signature.of":"sha256:<signed digest>"}}
//! blobs/      the signature manifest, its config and payloads (see sign::payload),
//!             and the signed manifest itself when it is not the image's own
//!             (the registry's or archive's manifest the image came as)
//! ```
//!
//! Garbage collection keeps these blobs while the entry is there; an entry
//! goes when no tagged image is its subject any more (`rmi`, `prune`: see
//! [`Store::drop_orphan_signatures`]).

use std::collections::HashSet;

use super::{Store, StoreLock};
use crate::digest::Digest;
use crate::error::{invalid, Result};
use crate::image::oci::{Descriptor, Index, Manifest, MEDIA_MANIFEST, REF_NAME};
use crate::sign::payload::{signature_image, signature_layers, Signature};

/// Annotation of an `index.json` entry: the digest its signatures are of.
pub const SIGNATURE_OF: &str = "io.sealer.signature.of";

/// Whether an `index.json` entry is a signature image, not a tag.
pub fn is_signature_entry(d: &Descriptor) -> bool {
    d.annotations.contains_key(SIGNATURE_OF)
}

impl Store {
    /// Every signed digest with its signature entry.
    pub fn signature_entries(&self) -> Result<Vec<(Digest, Descriptor)>> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                let of = d.annotations.get(SIGNATURE_OF)?.parse().ok()?;
                Some((of, d))
            })
            .collect())
    }

    /// The signatures stored for `subject` (none if there are none); stored
    /// data that is not a signature image is an error.
    pub fn signatures_of(&self, subject: &Digest) -> Result<Vec<Signature>> {
        let Some((_, desc)) = self
            .signature_entries()?
            .into_iter()
            .find(|(s, _)| s == subject)
        else {
            return Ok(Vec::new());
        };
        self.read_signature_image(&desc.digest)
    }

    /// The signatures of the signature manifest `manifest`.
    pub fn read_signature_image(&self, manifest: &Digest) -> Result<Vec<Signature>> {
        let bytes = self.read_blob(manifest)?;
        let layers = signature_layers(&bytes).map_err(|e| invalid(e.to_string()))?;
        layers
            .into_iter()
            .map(|(d, signature)| {
                Ok(Signature {
                    payload: self.read_blob(&d.digest)?,
                    signature,
                })
            })
            .collect()
    }

    /// Adds `sigs` to those of `subject` (the signed digest); `subject_bytes`
    /// is the signed manifest when the store may not hold it (a registry's
    /// or archive's). Returns the signature manifest's digest.
    pub fn add_signatures(
        &self,
        subject: &Digest,
        sigs: &[Signature],
        subject_bytes: Option<&[u8]>,
    ) -> Result<Digest> {
        let lock = self.lock()?;
        self.add_signatures_locked(subject, sigs, subject_bytes, &lock)
    }

    fn add_signatures_locked(
        &self,
        subject: &Digest,
        sigs: &[Signature],
        subject_bytes: Option<&[u8]>,
        lock: &StoreLock,
    ) -> Result<Digest> {
        if let Some(b) = subject_bytes {
            if Digest::of(b) != *subject {
                return Err(invalid(format!("signed manifest is not {subject}")));
            }
            self.write_blob(b, lock)?;
        }
        let mut all = self.signatures_of(subject).unwrap_or_default();
        for s in sigs {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        let img = signature_image(&all);
        for b in &img.blobs {
            self.write_blob(b, lock)?;
        }
        let digest = self.write_blob(&img.manifest, lock)?;
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(SIGNATURE_OF) != Some(&subject.to_string()));
        let mut desc = Descriptor::new(MEDIA_MANIFEST, digest, img.manifest.len() as u64);
        desc.annotations
            .insert(SIGNATURE_OF.into(), subject.to_string());
        index.manifests.push(desc);
        self.write_index(&index, lock)?;
        Ok(digest)
    }

    /// The digests whose signatures hold for the image tagged by `desc`
    /// (config `id`): its own manifest or index digest, and each signed
    /// manifest the store keeps that names the same config.
    pub fn signed_subjects(
        &self,
        desc_digest: &Digest,
        id: Option<&Digest>,
    ) -> Result<Vec<Digest>> {
        let mut out = vec![*desc_digest];
        for (subject, _) in self.signature_entries()? {
            if subject == *desc_digest {
                continue;
            }
            let Some(id) = id else { continue };
            if let Ok(bytes) = self.read_blob(&subject) {
                if crate::sign::stands_for(&bytes, id) {
                    out.push(subject);
                }
            }
        }
        Ok(out)
    }

    /// Removes from `index` the signature entries no tag of it stands for
    /// any more: the subject is neither a tagged manifest or index (or a
    /// manifest of a tagged index) nor a kept manifest naming the config of
    /// a tagged image. Returns how many went.
    pub fn drop_orphan_signatures(&self, index: &mut Index) -> usize {
        let mut tagged: HashSet<Digest> = HashSet::new();
        let mut configs: HashSet<Digest> = HashSet::new();
        for desc in index
            .manifests
            .iter()
            .filter(|d| d.annotations.contains_key(REF_NAME))
        {
            tagged.insert(desc.digest);
            let Ok(bytes) = self.read_blob(&desc.digest) else {
                continue;
            };
            let manifests = match serde_json::from_slice::<Index>(&bytes) {
                Ok(i) => i.manifests.iter().map(|m| m.digest).collect(),
                Err(_) => vec![desc.digest],
            };
            for m in manifests {
                tagged.insert(m);
                let Ok(b) = self.read_blob(&m) else { continue };
                if let Ok(m) = serde_json::from_slice::<Manifest>(&b) {
                    configs.insert(m.config.digest);
                }
            }
        }
        let stands = |subject: &Digest| {
            tagged.contains(subject)
                || self.read_blob(subject).is_ok_and(|b| {
                    serde_json::from_slice::<Manifest>(&b)
                        .is_ok_and(|m| configs.contains(&m.config.digest))
                })
        };
        let before = index.manifests.len();
        index.manifests.retain(|d| {
            match d.annotations.get(SIGNATURE_OF).map(|s| s.parse::<Digest>()) {
                None => true,
                Some(Ok(subject)) => stands(&subject),
                Some(Err(_)) => false,
            }
        });
        before - index.manifests.len()
    }
}
