//! Signatures in a registry, where cosign keeps them: the manifest tagged
//! `sha256-<hex>.sig` in the image's repository (see `payload`).

use ureq::http::Method;

use super::payload::{signature_image, signature_layers, signature_tag, Signature};
use super::SignError;
use crate::digest::Digest;
use crate::error::Result;
use crate::image::oci::MEDIA_MANIFEST;
use crate::registry::client::Body;
use crate::registry::Repo;
use crate::registry::{put_manifest, upload_bytes};

/// The largest payload we read (cosign's are a few hundred bytes).
const MAX_PAYLOAD: u64 = 1 << 20;

/// The signatures stored for `digest` (none if there is no `.sig` tag).
/// A `.sig` tag that is not a signature image is an error.
pub fn fetch(repo: &Repo, digest: &Digest) -> Result<Vec<Signature>> {
    let tag = signature_tag(digest);
    let url = repo.url(&format!("manifests/{tag}"));
    let accept = [("Accept", MEDIA_MANIFEST)];
    let mut resp = repo
        .client
        .send(Method::GET, &url, &accept, Body::Empty, &repo.scope)?;
    let code = resp.status().as_u16();
    if code == 404 {
        return Ok(Vec::new());
    }
    if code != 200 {
        return Err(repo.client.status_error(
            &mut resp,
            code,
            &format!("signatures {}:{tag}", repo.path),
        ));
    }
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_PAYLOAD)
        .read_to_vec()
        .map_err(|e| repo.client.error(format!("signatures {tag}: {e}")))?;
    let garbage = |e: SignError| crate::Error::from(e_about(e, &repo.name()));
    let layers = signature_layers(&bytes).map_err(garbage)?;
    let mut out = Vec::new();
    for (desc, signature) in layers {
        if desc.size > MAX_PAYLOAD {
            return Err(garbage(super::garbage(format!(
                "payload {} is {} bytes",
                desc.digest, desc.size
            ))));
        }
        let payload = repo.get_small_blob(&desc.digest, MAX_PAYLOAD)?;
        out.push(Signature { payload, signature });
    }
    Ok(out)
}

fn e_about(e: SignError, image: &str) -> SignError {
    e.about(image)
}

/// Adds `sig` to the signatures of `digest` (keeping those there, as
/// cosign appends), uploading the payload and config first.
pub fn append(repo: &Repo, digest: &Digest, sig: Signature) -> Result<()> {
    let mut sigs = fetch(repo, digest).unwrap_or_default();
    if !sigs.contains(&sig) {
        sigs.push(sig);
    }
    put(repo, digest, &sigs)
}

/// Writes the signature image of `digest` holding `sigs`.
pub fn put(repo: &Repo, digest: &Digest, sigs: &[Signature]) -> Result<()> {
    let img = signature_image(sigs);
    for blob in &img.blobs {
        let d = Digest::of(blob);
        if !repo.has_blob(&d)? {
            upload_bytes(repo, &d, blob)?;
        }
    }
    put_manifest(repo, &signature_tag(digest), MEDIA_MANIFEST, &img.manifest)?;
    Ok(())
}
