//! OCI 1.1 referrers in a registry: an artifact manifest PUT by digest with
//! a `subject`; on a registry without the referrers API (no `OCI-Subject`
//! in the answer, e.g. Debian's docker-registry 2.8), also listed in the
//! index tagged `sha256-<subject hex>` (the tag schema of distribution 1.1),
//! which keeps it from garbage collection and lets clients find it.

use serde_json::{json, Value};

use super::{put_manifest, upload_bytes, Repo};
use crate::digest::Digest;
use crate::error::{JsonContext, Result};
use crate::image::oci::{Descriptor, Manifest, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::store::Store;

/// PUTs an artifact manifest (whose blobs are uploaded) referring to
/// `subject`; on a registry without the referrers API, merges it into the
/// fallback tag's index, replacing earlier artifacts of `artifact_type`.
pub fn put_referrer(
    repo: &Repo,
    subject: &Descriptor,
    artifact_type: &str,
    bytes: &[u8],
) -> Result<Digest> {
    let digest = Digest::of(bytes);
    if put_manifest(repo, &digest.to_string(), MEDIA_MANIFEST, bytes)? {
        return Ok(digest);
    }
    let tag = format!("sha256-{}", subject.digest.hex());
    let mut index = match repo.get_manifest(&tag) {
        Ok((b, _)) => serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    if !index.get("manifests").is_some_and(Value::is_array) {
        index = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []});
    }
    let desc = json!({"mediaType": MEDIA_MANIFEST, "digest": digest, "size": bytes.len(),
        "artifactType": artifact_type});
    if let Some(list) = index.get_mut("manifests").and_then(Value::as_array_mut) {
        list.retain(|m| m.get("artifactType").and_then(Value::as_str) != Some(artifact_type));
        list.push(desc);
    }
    let ib = serde_json::to_vec(&index).json("the referrers index")?;
    put_manifest(repo, &tag, MEDIA_INDEX, &ib)?;
    Ok(digest)
}

/// Uploads the referrers the store keeps for the image manifest `stored`
/// (an SBOM of `build --sbom`), each pointed at `pushed`, the manifest as
/// the registry has it. Returns how many.
pub fn push_stored(
    store: &Store,
    repo: &Repo,
    stored: &Digest,
    pushed: &Descriptor,
) -> Result<usize> {
    let referrers = store.referrers(stored)?;
    for r in &referrers {
        let bytes = store.read_blob(&r.digest)?;
        let m: Manifest = serde_json::from_slice(&bytes).json("an artifact manifest")?;
        for d in std::iter::once(&m.config.digest).chain(m.layers.iter().map(|l| &l.digest)) {
            if !repo.has_blob(d)? {
                upload_bytes(repo, d, &store.read_blob(d)?)?;
            }
        }
        let mut v: Value = serde_json::from_slice(&bytes).json("an artifact manifest")?;
        v["subject"] =
            json!({"mediaType": pushed.media_type, "digest": pushed.digest, "size": pushed.size});
        let out = serde_json::to_vec(&v).json("an artifact manifest")?;
        let d = put_referrer(repo, pushed, &r.artifact_type, &out)?;
        log::info!(
            "referrer {d} ({}) of {} pushed",
            r.artifact_type,
            pushed.digest
        );
    }
    Ok(referrers.len())
}
