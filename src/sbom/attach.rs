//! `build --sbom`: the SPDX document of an image, stored as an OCI 1.1
//! artifact whose subject is the image manifest (see `store::referrers`),
//! which `push` uploads with the image.
//!
//! ```text
//! {schemaVersion: 2, mediaType: application/vnd.oci.image.manifest.v1+json,
//!  artifactType: application/spdx+json,
//!  config: {mediaType: application/vnd.oci.empty.v1+json, digest of {}, size 2},
//!  layers: [{mediaType: application/spdx+json, digest, size,
//!            annotations: {org.opencontainers.image.title: sbom.spdx.json}}],
//!  subject: {mediaType: oci manifest, digest, size},
//!  annotations: {org.opencontainers.image.created: the image's created time}}
//! ```

use serde_json::json;

use super::{inventory, spdx};
use crate::digest::Digest;
use crate::error::{IoContext, JsonContext, Result};
use crate::image::oci::MEDIA_MANIFEST;
use crate::image::Image;
use crate::store::{Referrer, Store};

/// The artifactType of SBOM referrers.
pub const ARTIFACT_TYPE: &str = spdx::MEDIA_TYPE;
/// The empty config of artifacts and its media type.
pub const EMPTY: &[u8] = b"{}";
/// Media type of [`EMPTY`].
pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The SPDX JSON of `img`, as `sealer sbom` prints it.
pub fn spdx_bytes(store: &Store, img: &Image) -> Result<Vec<u8>> {
    let inv = inventory(store, img)?;
    let mut out = serde_json::to_vec_pretty(&spdx::document(&inv)).json("the SBOM")?;
    out.push(b'\n');
    Ok(out)
}

/// Makes the SBOM of `img` and keeps it as its referrer (replacing an
/// earlier SBOM of it).
pub fn attach(store: &Store, img: &Image) -> Result<Referrer> {
    let doc = spdx_bytes(store, img)?;
    let subject_path = store.blob_path(&img.manifest_digest);
    let subject_size = std::fs::metadata(&subject_path).at(&subject_path)?.len();
    let lock = store.lock()?;
    let sbom = store.write_blob(&doc, &lock)?;
    let empty = store.write_blob(EMPTY, &lock)?;
    let created = super::spdx_time(img.config.created.as_deref());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": MEDIA_EMPTY, "digest": empty, "size": EMPTY.len()},
        "layers": [{
            "mediaType": ARTIFACT_TYPE,
            "digest": sbom,
            "size": doc.len(),
            "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"},
        }],
        "subject": {"mediaType": MEDIA_MANIFEST, "digest": img.manifest_digest, "size": subject_size},
        "annotations": {"org.opencontainers.image.created": created},
    });
    let bytes = serde_json::to_vec(&manifest).json("the SBOM artifact")?;
    let r = store.add_referrer(&img.manifest_digest, ARTIFACT_TYPE, &bytes, &lock)?;
    log::info!(
        "SBOM {} ({} bytes) attached to {} as {}",
        sbom,
        doc.len(),
        img.manifest_digest,
        r.digest
    );
    Ok(r)
}

/// The SBOM blob of the image whose manifest is `subject`, if one is attached.
pub fn attached(store: &Store, subject: &Digest) -> Result<Option<Vec<u8>>> {
    let Some(r) = store
        .referrers(subject)?
        .into_iter()
        .find(|r| r.artifact_type == ARTIFACT_TYPE)
    else {
        return Ok(None);
    };
    let m: crate::image::oci::Manifest =
        serde_json::from_slice(&store.read_blob(&r.digest)?).json("the SBOM artifact")?;
    match m.layers.first() {
        Some(l) => Ok(Some(store.read_blob(&l.digest)?)),
        None => Ok(None),
    }
}
