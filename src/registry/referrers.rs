//! OCI 1.1 referrers in a registry: an artifact manifest PUT by digest with
//! a `subject`; on a registry without the referrers API (no `OCI-Subject`
//! in the answer, e.g. Debian's docker-registry 2.8), also listed in the
//! index tagged `sha256-<subject hex>` (the tag schema of distribution 1.1),
//! which keeps it from garbage collection and lets clients find it.
//! `pull` reads them back the same two ways (the referrers API, else the
//! fallback tag) and keeps the SBOMs beside the image it stored.

use serde_json::{json, Value};

use super::{manifest, put_manifest, read_limited, upload_bytes, Repo};
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

/// The artifact types `pull` brings along: SBOMs. (Lazy tables belong to
/// the compressed layers as the registry has them, not to the store.)
pub const PULLED_TYPES: &[&str] = &[crate::sbom::attach::ARTIFACT_TYPE];

/// The largest artifact blob (an SBOM) `pull` fetches.
const MAX_ARTIFACT: u64 = 256 << 20;

/// The artifacts referring to `subject` in the registry, (digest,
/// artifactType): the referrers API's answer, else the fallback tag's
/// index, else none.
pub fn list(repo: &Repo, subject: &Digest) -> Result<Vec<(Digest, String)>> {
    let url = repo.url(&format!("referrers/{subject}"));
    let mut resp = repo.get_retrying(&url, &[("Accept", MEDIA_INDEX)])?;
    let index: Value = if resp.status().as_u16() == 200 {
        let bytes = read_limited(resp.body_mut().as_reader(), manifest::MAX_MANIFEST)
            .map_err(|e| repo.error(format!("referrers of {subject}: {e}")))?;
        serde_json::from_slice(&bytes).json("a referrers index")?
    } else {
        // No referrers API (404 on distribution 2.8): the fallback tag.
        match repo.get_manifest(&format!("sha256-{}", subject.hex())) {
            Ok((bytes, _)) => serde_json::from_slice(&bytes).json("a referrers index")?,
            Err(e) => {
                log::debug!("no referrers of {subject}: {e}");
                return Ok(Vec::new());
            }
        }
    };
    let Some(list) = index.get("manifests").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    Ok(list
        .iter()
        .filter_map(|m| {
            let d = m.get("digest")?.as_str()?.parse().ok()?;
            Some((d, m.get("artifactType")?.as_str()?.to_string()))
        })
        .collect())
}

/// Brings the referrers of the registry's manifest `source` whose type is
/// one of [`PULLED_TYPES`] into the store, beside `stored` (the manifest the
/// image was stored as; at most one per type). Returns how many.
pub fn pull_stored(store: &Store, repo: &Repo, source: &Digest, stored: &Digest) -> Result<usize> {
    let mut fetched = Vec::new();
    for (digest, artifact_type) in list(repo, source)? {
        if !PULLED_TYPES.contains(&artifact_type.as_str())
            || fetched.iter().any(|(t, _, _)| t == &artifact_type)
        {
            continue;
        }
        let (bytes, _) = repo.get_manifest(&digest.to_string())?;
        manifest::verify(&bytes, &digest, "the referrer's")?;
        let m: Manifest = serde_json::from_slice(&bytes).json("an artifact manifest")?;
        let mut blobs = Vec::new();
        for d in std::iter::once(&m.config.digest).chain(m.layers.iter().map(|l| &l.digest)) {
            if !store.has_blob(d) {
                blobs.push(repo.get_small_blob(d, MAX_ARTIFACT)?);
            }
        }
        fetched.push((artifact_type, bytes, blobs));
    }
    let lock = store.lock()?;
    for (artifact_type, bytes, blobs) in &fetched {
        for b in blobs {
            store.write_blob(b, &lock)?;
        }
        store.add_referrer(stored, artifact_type, bytes, &lock)?;
    }
    Ok(fetched.len())
}
