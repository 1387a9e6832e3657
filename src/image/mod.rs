//! Images: OCI types, references, loading an image from the store, the
//! ImageSpec view that `sealer inspect` prints, and sealer's own formats
//! (v0.8's `v1.Image` config, v0.9-v0.11's image extension annotation).

pub mod diff;
pub mod extension;
pub mod merge;
pub mod oci;
pub mod platform;
pub mod reference;
pub mod sealer_v08;
pub mod spec;
pub mod view;

pub use reference::Reference;

use crate::digest::Digest;
use oci::{Config, Manifest};

/// An image in the store: its manifest and config.
#[derive(Clone, Debug)]
pub struct Image {
    /// The name it was found by (`repo:tag`), if any.
    pub name: Option<String>,
    /// Digest of the manifest blob.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// Digest of the config blob: the image id.
    pub id: Digest,
    /// The config.
    pub config: Config,
    /// The image index it was chosen from (a multi-platform tag), if any.
    pub index: Option<Digest>,
}

impl Image {
    /// Layer digests, bottom first.
    pub fn layers(&self) -> Vec<Digest> {
        self.manifest.layers.iter().map(|l| l.digest).collect()
    }

    /// The platform its config names (`linux/<host>` when it names none).
    pub fn platform(&self) -> platform::PlatformSpec {
        platform::PlatformSpec::of_config(&self.config)
    }

    /// Sum of the layers' sizes.
    pub fn size(&self) -> u64 {
        self.manifest.layers.iter().map(|l| l.size).sum()
    }
}
