//! Signatures in cosign's format: keys (`key`), the simple-signing payload
//! and signature image (`payload`), policy.json (`policy`), and where
//! signatures live: a registry's `sha256-<hex>.sig` tag (`remote`) or the
//! store (`crate::store` keeps them beside the images, see `signatures.rs`
//! there).
//!
//! What a signature binds: a manifest (or index) digest and a repository.
//! A local image is known by its store manifest digest and, when it came
//! from a registry or an archive, by the digest of the manifest it came as
//! (kept in the store): a signature over that one holds for the local image
//! when that manifest names the same config (whose `rootfs.diff_ids` are the
//! image's layers), so a signed pull or load verifies offline later.

pub mod image;
pub mod key;
pub mod passphrase;
pub mod payload;
pub mod policy;
pub mod remote;

use crate::digest::Digest;
use crate::image::Reference;

pub use self::key::{PrivateKey, PublicKey};
pub use self::payload::Signature;
pub use self::policy::{Policy, Requirement, SignedIdentity};

/// Why signing or verifying failed. Each is one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key file is not a cosign key (foreign, corrupt, unsupported).
    #[error("{0}")]
    Key(String),
    /// The passphrase does not open the private key.
    #[error("wrong passphrase for the private key (decryption failed)")]
    Passphrase,
    /// No passphrase could be had.
    #[error("no passphrase: set SEALER_PASSWORD (or COSIGN_PASSWORD), or run on a terminal")]
    NoPassphrase,
    /// The image has no signature.
    #[error("no signature found for {0}")]
    NoSignature(String),
    /// A signature exists but none verifies with the key.
    #[error("no signature of {0} verifies with the given key (wrong key or corrupt signature)")]
    WrongKey(String),
    /// A valid signature is over another digest.
    #[error("signature is for digest {signed}, not {image}'s {actual} (digest mismatch)")]
    DigestMismatch {
        /// What the payload names.
        signed: String,
        /// The image.
        image: String,
        /// Its digest.
        actual: String,
    },
    /// A valid signature names another repository.
    #[error("signature is for repository {signed}, not {expected} (repository mismatch)")]
    RepositoryMismatch {
        /// What the payload names.
        signed: String,
        /// What the image is.
        expected: String,
    },
    /// Stored signature data that is not a signature.
    #[error("signature of {image} is garbage: {why}")]
    Garbage {
        /// The image.
        image: String,
        /// What is wrong.
        why: String,
    },
    /// A policy file that cannot be used.
    #[error("signature policy {0}")]
    Policy(String),
    /// The policy refuses the image.
    #[error("{image} is rejected by the signature policy: {why}")]
    Rejected {
        /// The image.
        image: String,
        /// Why.
        why: String,
    },
}

impl SignError {
    fn garbage(why: String) -> SignError {
        SignError::Garbage {
            image: String::new(),
            why,
        }
    }

    fn about(self, image: &str) -> SignError {
        match self {
            SignError::Garbage { why, .. } => SignError::Garbage {
                image: image.into(),
                why,
            },
            other => other,
        }
    }
}

impl From<SignError> for crate::Error {
    fn from(e: SignError) -> crate::Error {
        crate::Error::Invalid(e.to_string())
    }
}

/// The repository a signature names for `r`: `host/path` as docker
/// normalises it (`k8s:v1` -> `docker.io/library/k8s`).
pub fn identity_of(r: &Reference) -> String {
    let (host, path) = crate::registry::locate(r);
    format!("{host}/{path}")
}

/// `:tag` or `@digest` of `r`.
pub fn tag_or_digest(r: &Reference) -> String {
    match (&r.digest, &r.tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => String::new(),
    }
}

/// Signatures found for one image, each with the digest it is stored
/// under (which stands for the image).
pub struct Candidates {
    /// The image, as errors name it.
    pub image: String,
    /// The image's own digest, as errors name it.
    pub digest: Digest,
    /// (digest the signatures are stored for, the signatures).
    pub found: Vec<(Digest, Vec<Signature>)>,
}

/// Checks that one of `c`'s signatures is `key`'s, over the digest it is
/// stored for, with an identity `accepts` takes; else the most telling
/// reason (mismatch before wrong key before garbage).
pub fn check(
    c: &Candidates,
    key: &PublicKey,
    accepts: &dyn Fn(&str) -> Result<(), String>,
) -> Result<(), SignError> {
    if c.found.iter().all(|(_, s)| s.is_empty()) {
        return Err(SignError::NoSignature(c.image.clone()));
    }
    let mut best: Option<(u8, SignError)> = None;
    let mut keep = |rank: u8, e: SignError| {
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, e));
        }
    };
    for (subject, sigs) in &c.found {
        for s in sigs {
            if !key.verifies(&s.payload, &s.signature) {
                keep(1, SignError::WrongKey(c.image.clone()));
                continue;
            }
            let claim = match payload::parse_payload(&s.payload) {
                Ok(claim) => claim,
                Err(e) => {
                    keep(0, e.about(&c.image));
                    continue;
                }
            };
            if claim.digest != subject.to_string() {
                keep(
                    3,
                    SignError::DigestMismatch {
                        signed: claim.digest,
                        image: c.image.clone(),
                        actual: c.digest.to_string(),
                    },
                );
                continue;
            }
            match accepts(&claim.docker_reference) {
                Ok(()) => return Ok(()),
                Err(expected) => keep(
                    2,
                    SignError::RepositoryMismatch {
                        signed: claim.docker_reference,
                        expected,
                    },
                ),
            }
        }
    }
    Err(best.map_or_else(|| SignError::NoSignature(c.image.clone()), |(_, e)| e))
}

/// Evaluates `policy` for the image `r` (its scope) whose signatures are
/// `c`: every requirement of the scope must accept.
pub fn evaluate(policy: &Policy, r: &Reference, c: &Candidates) -> Result<(), SignError> {
    let identity = identity_of(r);
    let rest = tag_or_digest(r);
    for req in policy.requirements_for(&identity, &rest) {
        match req {
            Requirement::InsecureAcceptAnything => {}
            Requirement::Reject => {
                return Err(SignError::Rejected {
                    image: r.full_name(),
                    why: "its scope says \"reject\"".into(),
                })
            }
            Requirement::SigstoreSigned {
                key,
                identity: rule,
            } => {
                let accepts = |signed: &str| {
                    if rule.accepts(signed, &identity, &rest) {
                        Ok(())
                    } else {
                        Err(format!("{identity}{rest} (signedIdentity {rule:?})"))
                    }
                };
                check(c, key, &accepts).map_err(|e| SignError::Rejected {
                    image: r.full_name(),
                    why: e.to_string(),
                })?;
            }
        }
    }
    Ok(())
}

/// Whether any requirement of the scope of `r` asks for signatures (so
/// they must be fetched).
pub fn wants_signatures(policy: &Policy, r: &Reference) -> bool {
    policy
        .requirements_for(&identity_of(r), &tag_or_digest(r))
        .iter()
        .any(|q| matches!(q, Requirement::SigstoreSigned { .. }))
}

/// The signature of `digest` in repository `identity` by `key`.
pub fn sign_digest(key: &PrivateKey, identity: &str, digest: &Digest) -> Signature {
    let payload = payload::payload(identity, digest);
    let signature = key.sign(&payload);
    Signature { payload, signature }
}

/// Whether `manifest` (the bytes of a manifest an image came as) names the
/// config `id`: a signature over it holds for the image whose id is `id`.
pub fn stands_for(manifest: &[u8], id: &Digest) -> bool {
    serde_json::from_slice::<crate::image::oci::Manifest>(manifest)
        .is_ok_and(|m| m.config.digest == *id)
}

/// `SignError::garbage` for other modules of this one.
pub(crate) fn garbage(why: String) -> SignError {
    SignError::garbage(why)
}
