//! Images that come from elsewhere (a registry, an archive) and what a push
//! remembers about our layers' compressed forms.
//!
//! ```text
//! <root>/compressed/<layer-hex>.<gzip|zstd>   JSON memo of one compressed form:
//!     {"digest":"sha256:..","size":N,"repos":["host/repo",..]}
//! ```
//!
//! The memo lets a second push HEAD the registry for the compressed digest
//! without compressing again, and names repositories to mount the blob from.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, IoContext, JsonContext, Result};
use crate::image::oci::Config;
use crate::image::Image;

/// One remembered compressed form of a layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CompressedForm {
    /// Digest of the compressed bytes.
    pub digest: Digest,
    /// Their size.
    pub size: u64,
    /// `host/repository` names known to hold the blob.
    #[serde(default)]
    pub repos: Vec<String>,
}

impl Store {
    /// Tags `names` on an image whose config bytes are kept exactly as given
    /// (so its id matches the source's); our manifest lists the uncompressed
    /// `layers` (digest, size), which must be in the store and equal the
    /// config's `rootfs.diff_ids`.
    pub fn commit_image_raw(
        &self,
        config_bytes: &[u8],
        layers: &[(Digest, u64)],
        annotations: BTreeMap<String, String>,
        names: &[String],
    ) -> Result<Image> {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.0).collect();
        let config: Config = serde_json::from_slice(config_bytes).map_err(|e| Error::Blob {
            digest: Digest::of(config_bytes),
            why: format!("not an image config: {e}"),
        })?;
        if config.rootfs.diff_ids != diff_ids {
            return Err(Error::Blob {
                digest: Digest::of(config_bytes),
                why: "rootfs.diff_ids do not match the layers".into(),
            });
        }
        let lock = self.lock()?;
        let img = self.write_image(config_bytes, layers, annotations, &lock)?;
        for name in names {
            self.tag_image(name, &img, &lock)?;
        }
        Ok(Image {
            name: names.first().cloned(),
            ..img
        })
    }

    /// The remembered `algo` ("gzip", "zstd") form of a layer, if any.
    pub fn compressed_get(&self, layer: &Digest, algo: &str) -> Option<CompressedForm> {
        let path = self
            .root
            .join("compressed")
            .join(format!("{}.{algo}", layer.hex()));
        let bytes = fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Remembers the `algo` form of a layer.
    pub fn compressed_put(&self, layer: &Digest, algo: &str, form: &CompressedForm) -> Result<()> {
        let dir = self.root.join("compressed");
        fs::create_dir_all(&dir).at(&dir)?;
        let bytes = serde_json::to_vec(form).json("the compressed-form memo")?;
        self.write_atomic(&dir.join(format!("{}.{algo}", layer.hex())), &bytes)
    }
}
