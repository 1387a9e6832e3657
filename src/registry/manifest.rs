//! Manifests as registries serve them: OCI and Docker schema 2 image
//! manifests, OCI indexes and Docker manifest lists, and choosing one
//! platform from an index. Pure: bytes in, decisions out.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::oci::{Descriptor, Index, Manifest, Platform, MEDIA_INDEX, MEDIA_MANIFEST};

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

/// A platform a user asks for: `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    /// Operating system.
    pub os: String,
    /// Architecture (GOARCH spelling).
    pub arch: String,
    /// Variant, if asked.
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// This machine: `linux/<host arch>`.
    pub fn host() -> PlatformSpec {
        PlatformSpec {
            os: "linux".into(),
            arch: crate::image::oci::host_arch().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<PlatformSpec> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(Error::Manifest(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
            )));
        }
        Ok(PlatformSpec {
            os: parts[0].to_ascii_lowercase(),
            arch: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// Whether an image of `os`/`arch`/`variant` is what is asked.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.arch != arch {
            return false;
        }
        match (&self.variant, variant) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            // arm64 images often omit their (only) variant v8.
            (Some(want), None) => arch == "arm64" && want == "v8",
        }
    }

    fn matches_platform(&self, p: &Platform) -> bool {
        self.matches(&p.os, &p.architecture, p.variant.as_deref())
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Chooses the manifest for `want` from an index: the first match, or for
/// `arm` without a variant asked, the highest variant offered.
pub fn select(index: &Index, want: &PlatformSpec) -> Result<Descriptor> {
    let mut found: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| want.matches_platform(p))
        })
        .filter(|d| d.media_type != "application/vnd.in-toto+json")
        .collect();
    if want.variant.is_none() {
        found.sort_by(|a, b| {
            let v = |d: &Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
            v(b).cmp(&v(a))
        });
    }
    match found.first() {
        Some(d) => Ok((*d).clone()),
        None => {
            let offered: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| {
                    let mut s = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = &p.variant {
                        s.push('/');
                        s.push_str(v);
                    }
                    s
                })
                .collect();
            Err(Error::Manifest(format!(
                "no image for platform {want} (offered: {})",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            )))
        }
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

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        Index {
            schema_version: 2,
            media_type: MEDIA_INDEX.into(),
            manifests: platforms
                .iter()
                .enumerate()
                .map(|(i, (os, arch, variant))| Descriptor {
                    media_type: MEDIA_MANIFEST.into(),
                    digest: Digest::of(&[i as u8]),
                    size: 1,
                    annotations: Default::default(),
                    platform: Some(Platform {
                        architecture: arch.to_string(),
                        os: os.to_string(),
                        variant: variant.map(String::from),
                    }),
                })
                .collect(),
        }
    }

    #[test]
    fn platform_selection() {
        let idx = index(&[
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", None),
        ]);
        let pick = |s: &str| select(&idx, &PlatformSpec::parse(s).unwrap()).map(|d| d.digest);
        assert_eq!(pick("linux/amd64").unwrap(), idx.manifests[0].digest);
        assert_eq!(pick("linux/arm").unwrap(), idx.manifests[2].digest);
        assert_eq!(pick("linux/arm/v6").unwrap(), idx.manifests[1].digest);
        assert_eq!(pick("linux/arm64/v8").unwrap(), idx.manifests[3].digest);
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm/v7"),
            "{err}"
        );
        for bad in ["linux", "a/b/c/d", "linux/", "li nux/amd64"] {
            assert!(PlatformSpec::parse(bad).is_err(), "{bad}");
        }
    }

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
