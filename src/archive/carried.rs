//! What an OCI archive carries beside its images, so that a signed image
//! with its SBOM crosses an air gap whole: the store's signature entries
//! (see `store/signatures.rs`) and referrers (see `store/referrers.rs`),
//! as extra `index.json` entries that tools reading by name skip.
//!
//! ```text
//! index.json  manifests: [ ...images (ref.name)...,
//!   {mediaType: oci manifest, digest: <signature manifest>, size,
//!    annotations: {"io.sealer.signature.of": "sha256:<signed digest>"}},
//!   {mediaType: oci manifest, digest: <artifact manifest>, size,
//!    annotations: {"io.sealer.referrer.of": "sha256:<subject manifest>",
//!                  "io.sealer.artifact-type": "application/spdx+json"}} ]
//! blobs/sha256/<hex>  the signature manifest, its config and payloads; the
//!                     signed manifest (also when it is not the image's own:
//!                     the registry's manifest a pulled image was signed as);
//!                     the artifact manifest, its config and layers
//! ```
//!
//! `load` judges each image by the policy with the signatures over one of
//! its archived digests (its manifest, its index) or over a manifest naming
//! its config, before anything is stored; once the images are in, it keeps
//! those signatures and re-attaches each referrer to the manifest its
//! subject was loaded as.

use std::collections::BTreeSet;

use super::archive_error;
use super::load::{blob_member, Archive, Found};
use crate::digest::Digest;
use crate::error::{Error, JsonContext, Result};
use crate::image::oci::{Descriptor, Manifest};
use crate::image::{Image, Reference};
use crate::sign::payload::signature_layers;
use crate::sign::{evaluate, stands_for, Candidates, Policy, Signature};
use crate::store::{Store, SIGNATURE_OF};

/// Annotation of an archive's `index.json` entry: the artifact manifest
/// whose subject is this manifest digest.
pub const REFERRER_OF: &str = "io.sealer.referrer.of";
/// Annotation beside [`REFERRER_OF`]: the artifact's type.
pub const ARTIFACT_TYPE: &str = "io.sealer.artifact-type";

/// The largest artifact blob (an SBOM) read into memory.
const MAX_ARTIFACT: u64 = 256 << 20;

/// Whether an archive's `index.json` entry is carried along, not an image.
pub fn is_carried(d: &Descriptor) -> bool {
    d.annotations.contains_key(SIGNATURE_OF) || d.annotations.contains_key(REFERRER_OF)
}

/// What `save` adds for its images: `index.json` entries and their blobs.
#[derive(Default)]
pub struct Extras {
    /// Entries to list after the images.
    pub entries: Vec<Descriptor>,
    /// Blobs those entries need, in order, without repeats.
    pub blobs: Vec<Digest>,
}

impl Extras {
    fn blob(&mut self, d: Digest) {
        if !self.blobs.contains(&d) {
            self.blobs.push(d);
        }
    }

    /// An artifact or signature manifest and every blob it names.
    fn manifest_and_blobs(&mut self, store: &Store, d: Digest) -> Result<()> {
        self.blob(d);
        let m: Manifest = serde_json::from_slice(&store.read_blob(&d)?).json("a manifest")?;
        self.blob(m.config.digest);
        for l in &m.layers {
            self.blob(l.digest);
        }
        Ok(())
    }

    /// Whether there is anything to carry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The signature entries and referrers the store keeps for `images`.
pub fn saved_extras(store: &Store, images: &[(String, Image)]) -> Result<Extras> {
    let entries = store.signature_entries()?;
    let mut out = Extras::default();
    let mut subjects: BTreeSet<Digest> = BTreeSet::new();
    for (_, img) in images {
        subjects.extend(store.signed_subjects(&img.manifest_digest, Some(&img.id))?);
        if let Some(index) = img.index {
            subjects.extend(store.signed_subjects(&index, None)?);
        }
    }
    for (subject, desc) in entries.iter().filter(|(s, _)| subjects.contains(s)) {
        if out.entries.iter().any(|e| e.digest == desc.digest) {
            continue;
        }
        out.entries.push(desc.clone());
        out.manifest_and_blobs(store, desc.digest)?;
        if store.has_blob(subject) {
            out.blob(*subject);
        }
    }
    let mut seen: BTreeSet<Digest> = BTreeSet::new();
    for (_, img) in images {
        if !seen.insert(img.manifest_digest) {
            continue;
        }
        for r in store.referrers(&img.manifest_digest)? {
            let mut desc = Descriptor::new(&r.media_type, r.digest, r.size);
            desc.annotations
                .insert(REFERRER_OF.into(), img.manifest_digest.to_string());
            desc.annotations
                .insert(ARTIFACT_TYPE.into(), r.artifact_type.clone());
            out.entries.push(desc);
            out.manifest_and_blobs(store, r.digest)?;
        }
    }
    Ok(out)
}

/// Signatures an archive holds over one digest.
struct Signed {
    subject: Digest,
    /// The signed manifest, when the archive has it.
    subject_bytes: Option<Vec<u8>>,
    sigs: Vec<Signature>,
}

/// A referrer an archive holds.
struct Artifact {
    subject: Digest,
    artifact_type: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

/// What an archive carries beside its images, read and verified.
#[derive(Default)]
pub struct Carried {
    signed: Vec<Signed>,
    artifacts: Vec<Artifact>,
}

impl Carried {
    /// Reads the carried entries of an OCI archive (none for others).
    pub fn read(archive: &Archive) -> Result<Carried> {
        let mut out = Carried::default();
        let index_path = std::path::Path::new("index.json");
        if archive.has_member(std::path::Path::new("manifest.json"))
            || !archive.has_member(index_path)
        {
            return Ok(out);
        }
        let bytes = archive.read_member(index_path, 16 << 20)?;
        let index: crate::image::oci::Index = archive.json(&bytes, "index.json")?;
        let bad = |d: &Digest, why: String| archive_error(archive.path(), format!("{d}: {why}"));
        for desc in &index.manifests {
            if let Some(of) = desc.annotations.get(SIGNATURE_OF) {
                let subject: Digest = of
                    .parse()
                    .map_err(|_| bad(&desc.digest, format!("signature of {of:?}: not a digest")))?;
                let manifest = archive.read_blob(&desc.digest)?;
                let layers = signature_layers(&manifest)
                    .map_err(|e| bad(&desc.digest, format!("signature of {subject}: {e}")))?;
                let mut sigs = Vec::new();
                for (d, signature) in layers {
                    sigs.push(Signature {
                        payload: archive.read_blob(&d.digest)?,
                        signature,
                    });
                }
                let subject_bytes = if archive.has_blob(&subject) {
                    Some(archive.read_blob(&subject)?)
                } else {
                    None
                };
                out.signed.push(Signed {
                    subject,
                    subject_bytes,
                    sigs,
                });
            } else if let Some(of) = desc.annotations.get(REFERRER_OF) {
                let subject: Digest = of
                    .parse()
                    .map_err(|_| bad(&desc.digest, format!("referrer of {of:?}: not a digest")))?;
                let manifest = archive.read_blob(&desc.digest)?;
                let m: Manifest = archive.json(&manifest, "an artifact manifest")?;
                let artifact_type = desc
                    .annotations
                    .get(ARTIFACT_TYPE)
                    .cloned()
                    .or_else(|| artifact_type_of(&manifest))
                    .ok_or_else(|| bad(&desc.digest, "an artifact without a type".into()))?;
                let mut blobs = Vec::new();
                for d in std::iter::once(&m.config.digest).chain(m.layers.iter().map(|l| &l.digest))
                {
                    let b = archive.read_member(&blob_member(d), MAX_ARTIFACT)?;
                    crate::registry::manifest::verify(&b, d, "the archived artifact blob's")?;
                    blobs.push(b);
                }
                out.artifacts.push(Artifact {
                    subject,
                    artifact_type,
                    manifest,
                    blobs,
                });
            }
        }
        Ok(out)
    }

    /// The signatures that hold for `img`: over one of its archived digests,
    /// or over a manifest naming its config.
    fn candidates(&self, img: &Found, name: &str) -> Candidates {
        let config = Digest::of(&img.config_bytes);
        let found = self
            .signed
            .iter()
            .filter(|s| holds_for(s, img, &config))
            .map(|s| (s.subject, s.sigs.clone()))
            .collect();
        Candidates {
            image: name.to_string(),
            digest: img.subjects.first().copied().unwrap_or(config),
            found,
        }
    }

    /// Stores the signatures and referrers of the images just loaded
    /// (`stored[i]` is the manifest `found[i]` was stored as).
    pub fn store(
        &self,
        store: &Store,
        found: &[Found],
        stored: &[Digest],
        added: &mut Vec<Digest>,
    ) -> Result<()> {
        for s in &self.signed {
            let keep = found
                .iter()
                .any(|img| holds_for(s, img, &Digest::of(&img.config_bytes)));
            if !keep || s.sigs.is_empty() {
                continue;
            }
            if let Some(b) = &s.subject_bytes {
                if !store.has_blob(&s.subject) {
                    added.push(Digest::of(b));
                }
            }
            store.add_signatures(&s.subject, &s.sigs, s.subject_bytes.as_deref())?;
        }
        let lock = store.lock()?;
        for a in &self.artifacts {
            // The manifest the subject was stored as.
            let Some(subject) = found
                .iter()
                .zip(stored)
                .find(|(img, _)| img.subjects.first() == Some(&a.subject))
                .map(|(_, d)| *d)
            else {
                log::warn!(
                    "referrer of {}: no image of the archive is its subject",
                    a.subject
                );
                continue;
            };
            for b in &a.blobs {
                let d = store.write_blob(b, &lock)?;
                added.push(d);
            }
            store.add_referrer(&subject, &a.artifact_type, &a.manifest, &lock)?;
        }
        Ok(())
    }
}

fn holds_for(s: &Signed, img: &Found, config: &Digest) -> bool {
    img.subjects.contains(&s.subject)
        || s.subject_bytes
            .as_deref()
            .is_some_and(|b| stands_for(b, config))
}

/// `artifactType` of an artifact manifest.
fn artifact_type_of(manifest: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    v.get("artifactType")?.as_str().map(String::from)
}

/// Refuses the load unless `policy` accepts every image of the archive by
/// each name it carries, with the signatures the archive holds for it.
pub fn judge(policy: &Policy, found: &[Found], carried: &Carried) -> Result<()> {
    for img in found {
        for name in &img.names {
            let r = Reference::parse(name)?;
            let c = carried.candidates(img, name);
            evaluate(policy, &r, &c).map_err(Error::from)?;
        }
    }
    Ok(())
}
