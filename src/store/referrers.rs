//! Referrers kept beside an image: OCI 1.1 artifacts (an SBOM of
//! `build --sbom`) whose `subject` is an image manifest of the store, which
//! `push` uploads after the image. A referrer lives as long as its subject.
//!
//! ```text
//! <root>/referrers/<subject-hex>.json   an OCI index of the artifacts:
//!   {schemaVersion: 2, mediaType: oci index,
//!    manifests: [{mediaType: oci manifest, digest, size, artifactType}]}
//! blobs/sha256/<hex>                     each artifact manifest, its config
//!                                        ({}) and layers, as any blob
//! ```
//!
//! At most one artifact per artifactType: a new one replaces the old.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Store, StoreLock};
use crate::digest::Digest;
use crate::error::{invalid, IoContext, JsonContext, Result};
use crate::image::oci::{Manifest, MEDIA_INDEX, MEDIA_MANIFEST};

/// One artifact of a subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Referrer {
    /// Media type of the artifact manifest.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// What it is (`application/spdx+json`).
    #[serde(rename = "artifactType")]
    pub artifact_type: String,
}

#[derive(Serialize, Deserialize)]
struct List {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: String,
    manifests: Vec<Referrer>,
}

impl Store {
    fn referrers_path(&self, subject: &Digest) -> PathBuf {
        self.root
            .join("referrers")
            .join(format!("{}.json", subject.hex()))
    }

    /// The artifacts referring to `subject`, in the order they were added.
    pub fn referrers(&self, subject: &Digest) -> Result<Vec<Referrer>> {
        let path = self.referrers_path(subject);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&path),
        };
        let list: List = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("{}: not a referrers index: {e}", path.display())))?;
        Ok(list.manifests)
    }

    /// Stores `manifest` (an artifact manifest whose blobs are stored
    /// already) as the referrer of `subject` for `artifact_type`, replacing
    /// an earlier one of that type. The caller holds the lock.
    pub fn add_referrer(
        &self,
        subject: &Digest,
        artifact_type: &str,
        manifest: &[u8],
        lock: &StoreLock,
    ) -> Result<Referrer> {
        let m: Manifest = serde_json::from_slice(manifest).json("an artifact manifest")?;
        for d in std::iter::once(&m.config.digest).chain(m.layers.iter().map(|l| &l.digest)) {
            if !self.has_blob(d) {
                return Err(invalid(format!("artifact blob {d} is not in the store")));
            }
        }
        let digest = self.write_blob(manifest, lock)?;
        let r = Referrer {
            media_type: MEDIA_MANIFEST.into(),
            digest,
            size: manifest.len() as u64,
            artifact_type: artifact_type.into(),
        };
        let mut manifests = self.referrers(subject)?;
        manifests.retain(|x| x.artifact_type != artifact_type);
        manifests.push(r.clone());
        let list = List {
            schema_version: 2,
            media_type: MEDIA_INDEX.into(),
            manifests,
        };
        let dir = self.root.join("referrers");
        fs::create_dir_all(&dir).at(&dir)?;
        let bytes = serde_json::to_vec_pretty(&list).json("a referrers index")?;
        self.write_atomic(&self.referrers_path(subject), &bytes)?;
        Ok(r)
    }

    /// Adds to `live` the blobs of the referrers of every live subject.
    pub(super) fn referrer_blobs(&self, live: &mut HashSet<Digest>) {
        for subject in self.referrer_subjects() {
            if !live.contains(&subject) {
                continue;
            }
            for r in self.referrers(&subject).unwrap_or_default() {
                live.insert(r.digest);
                let Ok(bytes) = self.read_blob(&r.digest) else {
                    continue;
                };
                if let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) {
                    live.insert(m.config.digest);
                    live.extend(m.layers.iter().map(|l| l.digest));
                }
            }
        }
    }

    /// Removes the referrer lists of subjects that are not `live`; returns
    /// how many.
    pub(super) fn prune_referrers(&self, live: &HashSet<Digest>) -> u64 {
        let mut n = 0;
        for subject in self.referrer_subjects() {
            if !live.contains(&subject) && fs::remove_file(self.referrers_path(&subject)).is_ok() {
                n += 1;
            }
        }
        n
    }

    fn referrer_subjects(&self) -> Vec<Digest> {
        let Ok(rd) = fs::read_dir(self.root.join("referrers")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let name = e.file_name();
                Digest::from_hex(name.to_str()?.strip_suffix(".json")?)
            })
            .collect()
    }
}
