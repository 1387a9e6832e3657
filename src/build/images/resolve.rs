//! Asks registries what each wanted image is: its manifest (or index, with
//! the build's platform chosen as containerd chooses), verified against a
//! pinned digest, and the config and layer blobs it needs. Several images
//! at a time; only manifests are fetched here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::refs::Wanted;
use crate::digest::Digest;
use crate::error::{invalid, Error, Result};
use crate::image::oci::Descriptor;
use crate::image::platform::{self, PlatformSpec, Want};
use crate::image::Reference;
use crate::registry::manifest::{self, Fetched};
use crate::registry::Repo;

/// Images resolved at once.
const PARALLEL: usize = 8;

/// A manifest or index as the registry served it.
#[derive(Clone)]
pub struct Served {
    /// Its digest.
    pub digest: Digest,
    /// Its bytes, stored as they are.
    pub bytes: Arc<[u8]>,
}

/// A wanted image, resolved.
pub struct Resolved {
    /// What was asked.
    pub wanted: Wanted,
    /// The repository it comes from.
    pub repo: Arc<Repo>,
    /// What the tag or digest names: an image manifest or an index.
    pub top: Served,
    /// The image manifest used (the top itself, or the index's choice).
    pub image: Served,
    /// The platform of the chosen manifest, when an index said it.
    pub platform: Option<crate::image::oci::Platform>,
    /// Config and layers of the chosen manifest.
    pub blobs: Vec<Descriptor>,
}

impl Resolved {
    /// The manifests to store: the top, and the chosen one if different.
    pub fn manifests(&self) -> Vec<&Served> {
        if self.top.digest == self.image.digest {
            vec![&self.top]
        } else {
            vec![&self.top, &self.image]
        }
    }
}

/// Resolves every image, `PARALLEL` at a time; the first failure wins.
pub fn resolve_all(
    wanted: &[Wanted],
    want: &PlatformSpec,
    insecure: bool,
) -> Result<Vec<Resolved>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Resolved>>>> =
        Mutex::new((0..wanted.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(wanted.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(w) = wanted.get(i) else { return };
                let r = resolve(w, want, insecure).map_err(|e| Error::ContainerImage {
                    image: w.name.clone(),
                    asked_by: w.source().to_string(),
                    source: Box::new(e),
                });
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(invalid("an image was not resolved"))))
        .collect()
}

fn resolve(w: &Wanted, want: &PlatformSpec, insecure: bool) -> Result<Resolved> {
    let r = Reference {
        repo: format!("{}/{}", w.host, w.path),
        tag: w.tag.clone(),
        digest: w.digest.clone(),
    };
    let repo = Arc::new(Repo::open(&r, insecure, false)?);
    let (bytes, content_type) = repo.get_manifest(w.tag_or_digest())?;
    let top = Served {
        digest: Digest::of(&bytes),
        bytes: bytes.clone().into(),
    };
    if let Some(d) = &w.digest {
        let d: Digest = d.parse().map_err(invalid)?;
        manifest::verify(&bytes, &d, "the manifest's")?;
    }
    let (image, platform, m) = match manifest::parse(&bytes, content_type.as_deref())? {
        Fetched::Image(m) => (top.clone(), None, m),
        Fetched::Index(index) => {
            let desc = platform::select(&index, &Want::Exactly(want.clone()))?;
            let (bytes, content_type) = repo.get_manifest(&desc.digest.to_string())?;
            manifest::verify(&bytes, &desc.digest, "the manifest's")?;
            let m = match manifest::parse(&bytes, content_type.as_deref())? {
                Fetched::Image(m) => m,
                Fetched::Index(_) => {
                    return Err(invalid("an index inside an index is not supported"))
                }
            };
            let served = Served {
                digest: desc.digest,
                bytes: bytes.into(),
            };
            (served, desc.platform.clone(), m)
        }
    };
    let mut blobs = vec![m.config.clone()];
    blobs.extend(m.layers.iter().cloned());
    Ok(Resolved {
        wanted: w.clone(),
        repo,
        top,
        image,
        platform,
        blobs,
    })
}
