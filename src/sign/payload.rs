//! The simple-signing payload and the signature image, as cosign writes them
//! (and containers/image's `sigstoreSigned` reads them).
//!
//! ```text
//! payload (the layer blob; these exact bytes are signed):
//!   {"critical":{"identity":{"docker-reference":"HOST/REPO"},
//!                "image":{"docker-manifest-digest":"sha256:..."},
//!                "type":"cosign container image signature"},"optional":null}
//!
//! signature image, tag sha256-<hex>.sig of the signed digest, in the same repository:
//!   manifest  application/vnd.oci.image.manifest.v1+json
//!     config  application/vnd.oci.image.config.v1+json  {"architecture":"","os":"",
//!             "config":{},"rootfs":{"type":"layers","diff_ids":[<payload digests>]}}
//!     layers  one per signature: application/vnd.dev.cosign.simplesigning.v1+json,
//!             annotation dev.cosignproject.cosign/signature = base64(ASN.1 ECDSA sig)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SignError;

use crate::digest::Digest;
use crate::image::oci::{Descriptor, Manifest, MEDIA_CONFIG, MEDIA_MANIFEST};

/// Media type of a payload layer.
pub const MEDIA_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation of a payload layer holding the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type`.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// What a payload states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `critical.identity.docker-reference`: the repository (`host/path`).
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub digest: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    critical: Critical,
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: ImageField,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageField {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// The payload bytes cosign writes for `digest` in repository `docker_reference`.
pub fn payload(docker_reference: &str, digest: &Digest) -> Vec<u8> {
    let p = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.into(),
            },
            image: ImageField {
                digest: digest.to_string(),
            },
            kind: PAYLOAD_TYPE.into(),
        },
        optional: None,
    };
    serde_json::to_vec(&p).unwrap_or_default()
}

/// Reads a payload strictly (exact fields, as containers/image does).
pub fn parse_payload(bytes: &[u8]) -> Result<Claim, SignError> {
    let p: Payload = serde_json::from_slice(bytes)
        .map_err(|e| super::garbage(format!("payload is not a simple-signing payload: {e}")))?;
    if p.critical.kind != PAYLOAD_TYPE {
        return Err(super::garbage(format!(
            "payload of unknown type {:?}",
            p.critical.kind
        )));
    }
    Ok(Claim {
        docker_reference: p.critical.identity.docker_reference,
        digest: p.critical.image.digest,
    })
}

/// One signature: the payload bytes and the base64 signature over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The exact payload bytes.
    pub payload: Vec<u8>,
    /// Base64 of the ECDSA signature.
    pub signature: String,
}

/// A signature image: its manifest bytes and blobs (config, payloads).
pub struct SignatureImage {
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// Blobs the manifest names (config first).
    pub blobs: Vec<Vec<u8>>,
}

/// The signature image holding `sigs` (one layer each, in order).
pub fn signature_image(sigs: &[Signature]) -> SignatureImage {
    let layers: Vec<Descriptor> = sigs
        .iter()
        .map(|s| {
            let mut d = Descriptor::new(
                MEDIA_SIMPLESIGNING,
                Digest::of(&s.payload),
                s.payload.len() as u64,
            );
            d.annotations
                .insert(SIGNATURE_ANNOTATION.into(), s.signature.clone());
            d
        })
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST.into(),
        config: Descriptor::new(MEDIA_CONFIG, Digest::of(&config), config.len() as u64),
        layers,
        annotations: BTreeMap::new(),
    };
    let mut blobs = vec![config];
    blobs.extend(sigs.iter().map(|s| s.payload.clone()));
    SignatureImage {
        manifest: serde_json::to_vec(&manifest).unwrap_or_default(),
        blobs,
    }
}

/// The payload layers of a signature manifest: (descriptor, signature).
/// A manifest that is not one is garbage.
pub fn signature_layers(manifest: &[u8]) -> Result<Vec<(Descriptor, String)>, SignError> {
    let m: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| super::garbage(format!("not a signature manifest: {e}")))?;
    let mut out = Vec::new();
    for l in m.layers {
        if l.media_type != MEDIA_SIMPLESIGNING {
            continue;
        }
        let Some(sig) = l.annotations.get(SIGNATURE_ANNOTATION).cloned() else {
            continue;
        };
        out.push((l, sig));
    }
    if out.is_empty() {
        return Err(super::garbage(
            "the signature manifest holds no signed simple-signing payload".into(),
        ));
    }
    Ok(out)
}

/// The tag cosign gives the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cosigns_bytes() {
        let d = Digest::of(b"");
        let p = payload("127.0.0.1:5000/library/k8s", &d);
        assert_eq!(
            String::from_utf8(p.clone()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/library/k8s"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let c = parse_payload(&p).unwrap();
        assert_eq!(c.digest, d.to_string());
        // containers/image writes optional.creator/timestamp: accepted.
        let theirs = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"a/b"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":{{"creator":"x","timestamp":1}}}}"#
        );
        assert_eq!(
            parse_payload(theirs.as_bytes()).unwrap().docker_reference,
            "a/b"
        );
        for bad in [
            "{}",
            "garbage",
            r#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"x"},"type":"other"},"optional":null}"#,
        ] {
            assert!(parse_payload(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn signature_image_round_trip() {
        let s = Signature {
            payload: b"p".to_vec(),
            signature: "c2ln".into(),
        };
        let img = signature_image(std::slice::from_ref(&s));
        let layers = signature_layers(&img.manifest).unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].1, "c2ln");
        assert_eq!(layers[0].0.digest, Digest::of(b"p"));
        assert!(signature_layers(b"{}").is_err());
    }
}
