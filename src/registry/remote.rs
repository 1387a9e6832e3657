//! An image as a registry has it, read without pulling it (`sealer inspect
//! --remote`): the manifest (or the index, then the chosen platform's
//! manifest) and the config. No layer is ever requested.

use super::manifest::{self, Fetched};
use super::pull::{fetch_child, fetch_top, MAX_CONFIG};
use super::Repo;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::oci::Config;
use crate::image::platform::{self, Want};
use crate::image::{sealer_v08, Image, Reference};

/// The image `r` names in its registry, for platform `want`. Its layers are
/// described by their diff_ids (as `inspect` shows a stored image) with the
/// sizes the registry serves (compressed).
pub fn remote_image(r: &Reference, want: &Want, insecure: bool) -> Result<Image> {
    let repo = Repo::open(r, insecure, false)?;
    let name = r.full_name();
    let named = |e: Error| repo.error(format!("manifest of {name}: {e}"));
    let (bytes, content_type, top) = fetch_top(&repo, r)?;
    let (mut manifest, digest, index) =
        match manifest::parse(&bytes, content_type.as_deref()).map_err(named)? {
            Fetched::Image(m) => (m, top, None),
            Fetched::Index(i) => {
                let d = platform::select(&i, want).map_err(|_| {
                    Error::Platform(format!(
                        "{name} has no {} image (it has: {})",
                        want.platform(),
                        platform::offered(&i)
                    ))
                })?;
                let (m, d) = fetch_child(&repo, &d).map_err(named)?;
                (m, d, Some(top))
            }
        };
    let config_digest = manifest.config.digest;
    let config_bytes = repo.get_small_blob(&config_digest, MAX_CONFIG)?;
    let raw: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|e| Error::Blob {
            digest: config_digest,
            why: format!("not an image config: {e}"),
        })?;
    let config: Config = if sealer_v08::is_v1_image(&raw) {
        // sealer v0.8 names no diff_ids; its layer ids (the tars' digests
        // when sealer pushed the tars it hashed) stand in for them, else
        // the blobs' digests.
        let v1 = sealer_v08::parse(&config_bytes, manifest.layers.len(), &config_digest)?;
        let ids: Vec<Digest> = v1
            .real_layers()
            .iter()
            .zip(&manifest.layers)
            .map(|(l, m)| l.id.parse().unwrap_or(m.digest))
            .collect();
        let oci = sealer_v08::to_oci_config(&config_bytes, &v1, &ids, &config_digest)?;
        serde_json::from_slice(&oci).map_err(|e| Error::Blob {
            digest: config_digest,
            why: format!("not an image config: {e}"),
        })?
    } else {
        serde_json::from_value(raw).map_err(|e| Error::Blob {
            digest: config_digest,
            why: format!("not an image config: {e}"),
        })?
    };
    if let Want::Exactly(p) = want {
        if index.is_none()
            && !p.matches(&config.os, &config.architecture, config.variant.as_deref())
        {
            return Err(Error::Platform(format!(
                "{name} is for {}, not {p}",
                platform::PlatformSpec::of_config(&config)
            )));
        }
    }
    if config.rootfs.diff_ids.len() == manifest.layers.len() {
        for (l, d) in manifest.layers.iter_mut().zip(&config.rootfs.diff_ids) {
            l.digest = *d;
        }
    }
    Ok(Image {
        name: Some(name),
        manifest_digest: digest,
        manifest,
        id: config_digest,
        config,
        index,
    })
}
