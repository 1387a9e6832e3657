//! Signing and verifying images where they are: a local image in the store
//! (offline), or a reference in a registry; and the gate `pull` and `load`
//! pass an image through before anything is tagged.

use std::sync::Mutex;

use super::{
    check, evaluate, identity_of, sign_digest, Candidates, Policy, PrivateKey, PublicKey, Signature,
};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::Reference;
use crate::registry::Repo;
use crate::store::Store;

/// Where an image named on the command line is.
pub enum Location {
    /// Tagged in the store: (name, digest of what the tag points at, config id
    /// for a single image).
    Local(String, Digest, Option<Digest>),
    /// Not in the store: a registry reference.
    Remote(Reference),
}

/// The store's image `what` if it has one (unless `remote`), else the
/// registry reference.
pub fn locate(store: &Store, what: &str, remote: bool) -> Result<Location> {
    if !remote {
        if let Some((name, desc)) = store.find_tag(what)? {
            let id = if store.is_index(&desc) {
                None
            } else {
                Some(store.load_image(&desc.digest, None)?.id)
            };
            return Ok(Location::Local(name, desc.digest, id));
        }
    }
    Ok(Location::Remote(Reference::parse(what)?))
}

/// What was signed or verified: the image and the digest.
pub struct Done {
    /// The image's full name.
    pub image: String,
    /// The signed digest.
    pub digest: Digest,
}

/// Signs `what` (local: stored in the store; remote: the `.sig` tag).
pub fn sign(
    store: &Store,
    what: &str,
    key: &PrivateKey,
    remote: bool,
    insecure: bool,
) -> Result<Done> {
    match locate(store, what, remote)? {
        Location::Local(name, digest, _) => {
            let r = Reference::parse(&name)?;
            let sig = sign_digest(key, &identity_of(&r), &digest);
            store.add_signatures(&digest, &[sig], None)?;
            Ok(Done {
                image: name,
                digest,
            })
        }
        Location::Remote(r) => {
            let repo = Repo::open(&r, insecure, true)?;
            let digest = remote_digest(&repo, &r)?;
            let sig = sign_digest(key, &identity_of(&r), &digest);
            super::remote::append(&repo, &digest, sig)?;
            Ok(Done {
                image: r.full_name(),
                digest,
            })
        }
    }
}

/// Verifies that `what` carries `key`'s signature over exactly its digest
/// and repository.
pub fn verify(
    store: &Store,
    what: &str,
    key: &PublicKey,
    remote: bool,
    insecure: bool,
) -> Result<Done> {
    let (r, c) = match locate(store, what, remote)? {
        Location::Local(name, digest, id) => {
            let r = Reference::parse(&name)?;
            (r, local_candidates(store, &name, &digest, id.as_ref())?)
        }
        Location::Remote(r) => {
            let repo = Repo::open(&r, insecure, false)?;
            let digest = remote_digest(&repo, &r)?;
            let found = vec![(digest, super::remote::fetch(&repo, &digest)?)];
            let c = Candidates {
                image: r.full_name(),
                digest,
                found,
            };
            (r, c)
        }
    };
    let identity = identity_of(&r);
    let accepts = |signed: &str| {
        if super::policy::split_reference(signed).0 == identity {
            Ok(())
        } else {
            Err(identity.clone())
        }
    };
    check(&c, key, &accepts)?;
    Ok(Done {
        image: c.image,
        digest: c.digest,
    })
}

/// The signatures the store holds for the local image `name`.
pub fn local_candidates(
    store: &Store,
    name: &str,
    digest: &Digest,
    id: Option<&Digest>,
) -> Result<Candidates> {
    let mut found = Vec::new();
    for subject in store.signed_subjects(digest, id)? {
        let sigs = store
            .signatures_of(&subject)
            .map_err(|e| Error::Invalid(format!("signature of {name} is garbage: {e}")))?;
        found.push((subject, sigs));
    }
    Ok(Candidates {
        image: name.to_string(),
        digest: *digest,
        found,
    })
}

/// The digest of the manifest `r` names in its registry.
fn remote_digest(repo: &Repo, r: &Reference) -> Result<Digest> {
    let at = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let (bytes, _) = repo.get_manifest(&at)?;
    let d = Digest::of(&bytes);
    if let Some(want) = &r.digest {
        if want != &d.to_string() {
            return Err(Error::Manifest(format!(
                "{} answered a manifest of digest {d}",
                r.full_name()
            )));
        }
    }
    Ok(d)
}

/// What a pull's gate found: the digest, the manifest bytes, the signatures.
type Found = (Digest, Vec<u8>, Vec<Signature>);

/// The check `pull` runs on the manifest it fetched before storing
/// anything: the policy (if any) must accept, and the signatures found are
/// kept to be stored with the image once it is in.
pub struct PullGate<'a> {
    policy: Option<&'a Policy>,
    reference: Reference,
    found: Mutex<Option<Found>>,
}

impl<'a> PullGate<'a> {
    /// A gate for pulling `reference`.
    pub fn new(policy: Option<&'a Policy>, reference: &Reference) -> PullGate<'a> {
        PullGate {
            policy,
            reference: reference.clone(),
            found: Mutex::new(None),
        }
    }

    /// Judges the manifest `bytes` (digest `digest`) fetched from `repo`.
    pub fn check(&self, repo: &Repo, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let sigs = match super::remote::fetch(repo, digest) {
            Ok(s) => s,
            // Without a policy asking for signatures, bad ones do not stop a pull.
            Err(e) if !self.needs_signatures() => {
                log::warn!(
                    "{}: signatures not brought along: {e}",
                    self.reference.full_name()
                );
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if let Some(p) = self.policy {
            let c = Candidates {
                image: self.reference.full_name(),
                digest: *digest,
                found: vec![(*digest, sigs.clone())],
            };
            evaluate(p, &self.reference, &c)?;
        }
        *self.found.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((*digest, bytes.to_vec(), sigs));
        Ok(())
    }

    fn needs_signatures(&self) -> bool {
        self.policy
            .is_some_and(|p| super::wants_signatures(p, &self.reference))
    }

    /// Stores the signatures found (with the manifest they sign), after the
    /// pull succeeded. Returns how many.
    pub fn keep(&self, store: &Store) -> Result<usize> {
        match self
            .found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some((d, bytes, sigs)) if !sigs.is_empty() => {
                store.add_signatures(d, sigs, Some(bytes))?;
                Ok(sigs.len())
            }
            _ => Ok(0),
        }
    }
}

/// The signatures the store holds for the tagged image `what`, by the
/// digest they sign (empty if it is not tagged or not signed).
pub fn local_signatures(store: &Store, what: &str) -> Result<Vec<(Digest, Vec<Signature>)>> {
    let Location::Local(name, digest, id) = locate(store, what, false)? else {
        return Ok(Vec::new());
    };
    let c = local_candidates(store, &name, &digest, id.as_ref())?;
    Ok(c.found.into_iter().filter(|(_, s)| !s.is_empty()).collect())
}

/// Uploads those of `signed` that are over `pushed` (the manifest the push
/// wrote) to `target`'s repository; returns how many.
pub fn push_signatures(
    signed: &[(Digest, Vec<Signature>)],
    target: &Reference,
    pushed: &Digest,
    insecure: bool,
) -> Result<usize> {
    let sigs: Vec<Signature> = signed
        .iter()
        .filter(|(d, _)| d == pushed)
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    if sigs.is_empty() {
        return Ok(0);
    }
    let repo = Repo::open(target, insecure, true)?;
    let mut all = super::remote::fetch(&repo, pushed).unwrap_or_default();
    for s in &sigs {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    super::remote::put(&repo, pushed, &all)?;
    Ok(sigs.len())
}
