//! Manifests as registries serve them: OCI and Docker schema 2 image
//! manifests, OCI indexes and Docker manifest lists (choosing a platform
//! is `image::platform`'s). Pure: bytes in, decisions out.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::oci::{Index, Manifest, MEDIA_INDEX, MEDIA_MANIFEST};

/// Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker schema 1 (signed) manifests: refused.
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The `Accept` header of a manifest request.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest we accept (docker's limit too).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// A manifest as fetched.
#[derive(Debug)]
pub enum Fetched {
    /// One image.
    Image(Manifest),
    /// Several, one per platform.
    Index(Index),
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// Parses manifest bytes served with `content_type` (which may be missing
/// or generic; the `mediaType` field and the shape decide then).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Fetched> {
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| Error::Manifest(format!("the manifest is not valid JSON: {e}")))?;
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| c.starts_with("application/vnd."));
    let media = probe.media_type.as_deref().or(header).unwrap_or("");
    if DOCKER_SCHEMA1.contains(&media) || probe.schema_version == 1 {
        return Err(Error::Manifest("Docker schema 1 manifests are not supported (push the image again with a current docker)".into()));
    }
    let is_index = match media {
        MEDIA_INDEX | DOCKER_LIST => true,
        MEDIA_MANIFEST | DOCKER_MANIFEST => false,
        "" => probe.manifests.is_some() && probe.config.is_none(),
        other => {
            return Err(Error::Manifest(format!(
                "unsupported manifest media type {other:?}"
            )))
        }
    };
    if is_index {
        let index: Index = serde_json::from_slice(bytes)
            .map_err(|e| Error::Manifest(format!("not a valid image index: {e}")))?;
        Ok(Fetched::Index(index))
    } else {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::Manifest(format!("not a valid image manifest: {e}")))?;
        Ok(Fetched::Image(manifest))
    }
}

/// Checks fetched bytes against a digest we were promised.
pub fn verify(bytes: &[u8], want: &Digest, what: &str) -> Result<()> {
    let got = Digest::of(bytes);
    if got != *want {
        return Err(crate::error::Error::Blob {
            digest: *want,
            why: format!("{what} content hashes to {got}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_kinds() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(parse(m, None).unwrap(), Fetched::Image(_)));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(i, Some(MEDIA_INDEX)).unwrap(),
            Fetched::Index(_)
        ));
        assert!(parse(b"<html>", None).is_err());
        assert!(parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        let odd = br#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#;
        assert!(parse(odd, None)
            .unwrap_err()
            .to_string()
            .contains("unsupported"));
    }
}
