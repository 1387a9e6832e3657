//! `/etc/containers/policy.json` (containers-policy.json(5)): which images
//! `pull` and `load` accept. We evaluate the `docker` transport's scopes for
//! both (a loaded image is judged by the name it carries) and the
//! requirements `insecureAcceptAnything`, `reject` and `sigstoreSigned`
//! (`keyPath` or `keyData`, with `signedIdentity`); anything else is an
//! error naming it, never a silent accept.
//!
//! ```text
//! {"default":[REQ...],
//!  "transports":{"docker":{"SCOPE":[REQ...], ...}, ...}}
//! SCOPE: "host/repo:tag" | "host/repo@digest" | "host/repo" | "host/ns" | "host" | "*.domain" | ""
//! REQ:   {"type":"insecureAcceptAnything"} | {"type":"reject"}
//!      | {"type":"sigstoreSigned","keyPath":FILE | "keyData":BASE64(PEM),
//!         "signedIdentity":{"type":"matchRepository"|"matchRepoDigestOrExact"|"matchExact"
//!                          |"exactRepository","dockerRepository":R|"exactReference","dockerReference":R}}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::key::PublicKey;
use super::SignError;

/// Where podman, skopeo and CRI-O read the policy.
pub const DEFAULT_POLICY: &str = "/etc/containers/policy.json";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    default: Vec<serde_json::Value>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<serde_json::Value>>>,
}

/// A parsed policy: the default and the `docker` transport's scopes.
pub struct Policy {
    default: Vec<Requirement>,
    docker: BTreeMap<String, Vec<Requirement>>,
}

/// One requirement an image must meet.
#[derive(Clone)]
pub enum Requirement {
    /// Accept without checking.
    InsecureAcceptAnything,
    /// Refuse.
    Reject,
    /// A valid cosign signature by `key` whose identity `identity` accepts.
    SigstoreSigned {
        /// The public key.
        key: PublicKey,
        /// How the signed reference must relate to the image's.
        identity: SignedIdentity,
    },
}

/// `signedIdentity` of `sigstoreSigned`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedIdentity {
    /// Same repository, any tag.
    MatchRepository,
    /// Same repository if the image is named by digest, else the same reference.
    MatchRepoDigestOrExact,
    /// The same reference.
    MatchExact,
    /// The signed reference is this repository.
    ExactRepository(String),
    /// The signed reference is this reference.
    ExactReference(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigstoreSignedRaw {
    #[serde(rename = "type")]
    _kind: String,
    #[serde(rename = "keyPath")]
    key_path: Option<PathBuf>,
    #[serde(rename = "keyData")]
    key_data: Option<String>,
    #[serde(rename = "signedIdentity")]
    signed_identity: Option<serde_json::Value>,
}

impl Policy {
    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, SignError> {
        let bytes = std::fs::read(path)
            .map_err(|e| SignError::Policy(format!("{}: {e}", path.display())))?;
        Policy::parse(&bytes).map_err(|e| match e {
            SignError::Policy(why) => SignError::Policy(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// The policy at `given`, else `/etc/containers/policy.json` if it
    /// exists, else none (everything accepted, as without a policy file).
    pub fn load_default(given: Option<&Path>) -> Result<Option<Policy>, SignError> {
        match given {
            Some(p) => Policy::load(p).map(Some),
            None if Path::new(DEFAULT_POLICY).exists() => {
                Policy::load(Path::new(DEFAULT_POLICY)).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Parses policy JSON.
    pub fn parse(bytes: &[u8]) -> Result<Policy, SignError> {
        let raw: PolicyFile = serde_json::from_slice(bytes)
            .map_err(|e| SignError::Policy(format!("not a policy.json: {e}")))?;
        let reqs =
            |list: &[serde_json::Value], scope: &str| -> Result<Vec<Requirement>, SignError> {
                if list.is_empty() {
                    return Err(SignError::Policy(format!(
                        "scope {scope:?} has no requirements"
                    )));
                }
                list.iter()
                    .map(|r| {
                        Requirement::parse(r)
                            .map_err(|e| SignError::Policy(format!("scope {scope:?}: {e}")))
                    })
                    .collect()
            };
        let default = reqs(&raw.default, "default")?;
        let mut docker = BTreeMap::new();
        if let Some(scopes) = raw.transports.get("docker") {
            for (scope, list) in scopes {
                docker.insert(scope.clone(), reqs(list, scope)?);
            }
        }
        Ok(Policy { default, docker })
    }

    /// The requirements for an image named `identity` (`host/path`) with
    /// `tag_or_digest` (`:tag` or `@sha256:..`), from the most specific
    /// matching scope of the docker transport, else the default.
    pub fn requirements_for(&self, identity: &str, tag_or_digest: &str) -> &[Requirement] {
        let full = format!("{identity}{tag_or_digest}");
        let mut candidates = vec![full, identity.to_string()];
        let mut ns = identity;
        while let Some(i) = ns.rfind('/') {
            ns = &ns[..i];
            candidates.push(ns.to_string());
        }
        // Wildcard domains: *.example.com matches a.example.com (host only).
        let host = identity.split('/').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or(host);
        let mut domain = host;
        while let Some(i) = domain.find('.') {
            domain = &domain[i + 1..];
            candidates.push(format!("*.{domain}"));
        }
        candidates.push(String::new());
        for c in candidates {
            if let Some(r) = self.docker.get(&c) {
                return r;
            }
        }
        &self.default
    }
}

impl Requirement {
    fn parse(v: &serde_json::Value) -> Result<Requirement, String> {
        let kind = v
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or_else(|| "a requirement without \"type\"".to_string())?;
        let only_type = || match v.as_object() {
            Some(o) if o.len() == 1 => Ok(()),
            _ => Err(format!("requirement {kind:?} takes no other fields")),
        };
        match kind {
            "insecureAcceptAnything" => only_type().map(|()| Requirement::InsecureAcceptAnything),
            "reject" => only_type().map(|()| Requirement::Reject),
            "sigstoreSigned" => {
                let raw: SigstoreSignedRaw = serde_json::from_value(v.clone()).map_err(|e| {
                    format!("sigstoreSigned: {e} (supported: keyPath, keyData, signedIdentity)")
                })?;
                let pem = match (&raw.key_path, &raw.key_data) {
                    (Some(p), None) => std::fs::read(p)
                        .map_err(|e| format!("sigstoreSigned keyPath {}: {e}", p.display()))?,
                    (None, Some(d)) => base64::engine::general_purpose::STANDARD
                        .decode(d)
                        .map_err(|e| format!("sigstoreSigned keyData is not base64: {e}"))?,
                    (Some(_), Some(_)) => {
                        return Err("sigstoreSigned has both keyPath and keyData".into())
                    }
                    (None, None) => return Err("sigstoreSigned needs keyPath or keyData".into()),
                };
                let key =
                    PublicKey::from_pem(&pem).map_err(|e| format!("sigstoreSigned key: {e}"))?;
                let identity = match &raw.signed_identity {
                    None => SignedIdentity::MatchRepoDigestOrExact,
                    Some(i) => SignedIdentity::parse(i)?,
                };
                Ok(Requirement::SigstoreSigned { key, identity })
            }
            "signedBy" | "signedBaseLayer" => Err(format!(
                "requirement type {kind:?} is not supported (use sigstoreSigned)"
            )),
            other => Err(format!("unknown requirement type {other:?}")),
        }
    }
}

impl SignedIdentity {
    fn parse(v: &serde_json::Value) -> Result<SignedIdentity, String> {
        let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let field = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(String::from)
                .ok_or_else(|| format!("signedIdentity {kind:?} needs {name:?}"))
        };
        Ok(match kind {
            "matchRepository" => SignedIdentity::MatchRepository,
            "matchRepoDigestOrExact" => SignedIdentity::MatchRepoDigestOrExact,
            "matchExact" => SignedIdentity::MatchExact,
            "exactRepository" => SignedIdentity::ExactRepository(field("dockerRepository")?),
            "exactReference" => SignedIdentity::ExactReference(field("dockerReference")?),
            other => {
                return Err(format!(
                    "unknown or unsupported signedIdentity type {other:?}"
                ))
            }
        })
    }

    /// Whether a signature naming `signed` (a docker reference as in the
    /// payload) is accepted for the image `identity` + `tag_or_digest`.
    pub fn accepts(&self, signed: &str, identity: &str, tag_or_digest: &str) -> bool {
        let (signed_repo, signed_rest) = split_reference(signed);
        let full = format!("{identity}{tag_or_digest}");
        let signed_full = format!("{signed_repo}{signed_rest}");
        match self {
            SignedIdentity::MatchRepository => signed_repo == identity,
            SignedIdentity::MatchExact => !tag_or_digest.is_empty() && signed_full == full,
            SignedIdentity::MatchRepoDigestOrExact => {
                if tag_or_digest.starts_with('@') {
                    signed_repo == identity
                } else {
                    !tag_or_digest.is_empty() && signed_full == full
                }
            }
            SignedIdentity::ExactRepository(r) => signed_repo == split_reference(r).0,
            SignedIdentity::ExactReference(r) => {
                let (rr, rest) = split_reference(r);
                signed_full == format!("{rr}{rest}")
            }
        }
    }
}

/// `host/path` (normalised as docker does) and the `:tag`/`@digest` part,
/// empty if none.
pub fn split_reference(s: &str) -> (String, String) {
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, format!("@{d}")),
        None => (s, String::new()),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], format!(":{}", &name[slash + i + 1..])),
        None => (name, String::new()),
    };
    let repo = match crate::image::Reference::parse(repo) {
        Ok(r) => super::identity_of(&r),
        Err(_) => repo.to_string(),
    };
    (repo, if digest.is_empty() { tag } else { digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = include_str!("../../tests/data/sign/cosignkey.pub");

    fn policy(json: &str) -> Result<Policy, SignError> {
        Policy::parse(json.as_bytes())
    }

    #[test]
    fn scopes_most_specific_first() {
        let data = base64::engine::general_purpose::STANDARD.encode(PUB);
        let p = policy(&format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"docker":{{
                "reg.example.com/team":[{{"type":"insecureAcceptAnything"}}],
                "reg.example.com/team/signed":[{{"type":"sigstoreSigned","keyData":"{data}","signedIdentity":{{"type":"matchRepository"}}}}],
                "*.example.org":[{{"type":"insecureAcceptAnything"}}]}}}}}}"#
        ))
        .unwrap();
        let kind = |id: &str, t: &str| match p.requirements_for(id, t)[0] {
            Requirement::InsecureAcceptAnything => "accept",
            Requirement::Reject => "reject",
            Requirement::SigstoreSigned { .. } => "sigstore",
        };
        assert_eq!(kind("reg.example.com/team/signed", ":v1"), "sigstore");
        assert_eq!(kind("reg.example.com/team/other", ":v1"), "accept");
        assert_eq!(kind("reg.example.com/else", ":v1"), "reject");
        assert_eq!(kind("a.example.org/x", ":v1"), "accept");
        assert_eq!(kind("docker.io/library/x", ":v1"), "reject");
    }

    #[test]
    fn bad_policies_are_errors() {
        for (json, want) in [
            (
                r#"{"default":[{"type":"frobnicate"}]}"#,
                "unknown requirement type \"frobnicate\"",
            ),
            (r#"{"default":[]}"#, "no requirements"),
            (
                r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k"}]}"#,
                "not supported",
            ),
            (
                r#"{"default":[{"type":"sigstoreSigned"}]}"#,
                "needs keyPath or keyData",
            ),
            (
                r#"{"default":[{"type":"reject","x":1}]}"#,
                "takes no other fields",
            ),
            ("garbage", "not a policy.json"),
        ] {
            let e = policy(json).err().expect(json).to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn identities() {
        use SignedIdentity::*;
        let id = "127.0.0.1:5000/library/k8s";
        assert!(MatchRepository.accepts(id, id, ":v1"));
        assert!(!MatchRepository.accepts("127.0.0.1:5000/library/other", id, ":v1"));
        assert!(!MatchRepoDigestOrExact.accepts(id, id, ":v1"));
        assert!(MatchRepoDigestOrExact.accepts(&format!("{id}:v1"), id, ":v1"));
        assert!(MatchRepoDigestOrExact.accepts(id, id, "@sha256:00"));
        assert!(MatchRepository.accepts("k8s", "docker.io/library/k8s", ":v1"));
        assert!(ExactRepository(id.into()).accepts(id, "other/x", ":v1"));
    }
}
