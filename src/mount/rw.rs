//! What a `--rw` mount changed: listed (`sealer diff DIR`) or made into a
//! new image of the mounted image's layers plus one layer of the changes
//! (`sealer commit DIR NAME`).

use std::path::{Path, PathBuf};

use sealer_fs::upper::{changes, Change};
use sealer_fs::LayerIndex;

use super::lifecycle::{absolute, unmount};
use super::record::MountRecord;
use crate::build::layer::stream_layer;
use crate::build::now_rfc3339;
use crate::build::upper_layer::upper_items;
use crate::error::{IoContext, Result};
use crate::image::oci::History;
use crate::image::{Image, Reference};
use crate::store::{Ingested, Store};

/// The record of the `--rw` mount at `dir`, and its upper directory.
pub fn writable_at(store: &Store, dir: &Path) -> Result<(MountRecord, PathBuf)> {
    let abs = absolute(dir)?;
    let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
    let Some(rec) = store.mount_at(&abs)? else {
        return Err(super::error(
            dir,
            format!(
                "{} is not a sealer mount (see `sealer mount`)",
                dir.display()
            ),
        ));
    };
    let Some(upper) = rec.upper().map(Path::to_path_buf) else {
        return Err(super::error(
            dir,
            format!(
                "{} is a read-only mount: use `sealer mount --rw`",
                dir.display()
            ),
        ));
    };
    Ok((rec, upper))
}

/// The changes of the `--rw` mount at `dir` (A/C/D), sorted by path.
pub fn mount_changes(store: &Store, dir: &Path) -> Result<Vec<(Vec<u8>, Change)>> {
    let (rec, upper) = writable_at(store, dir)?;
    let base = store.resolve(rec.image_id().unwrap_or_default())?;
    let layers = store.open_image_layers(&base)?;
    let stack: Vec<&LayerIndex> = layers.iter().map(|l| &l.index).collect();
    changes(&upper, &stack).at(&upper)
}

/// What a commit made.
pub struct Committed {
    /// The new image.
    pub image: Image,
    /// The layer of the changes (none if nothing changed).
    pub layer: Option<Ingested>,
    /// The image that was mounted (as the user named it).
    pub base: String,
}

/// Makes the changes of the `--rw` mount at `dir` an image named `name`;
/// with `then_unmount`, unmounts it afterwards.
pub fn commit(store: &Store, dir: &Path, name: &str, then_unmount: bool) -> Result<Committed> {
    let name = Reference::parse(name)?.full_name();
    let (rec, upper) = writable_at(store, dir)?;
    let base = store
        .resolve_pinned(rec.image_id().unwrap_or_default())
        .map_err(|e| super::error(dir, format!("the image mounted at {}: {e}", dir.display())))?;
    let items = upper_items(&upper)?;
    let mut config = base.config.clone();
    let mut layers: Vec<_> = base
        .manifest
        .layers
        .iter()
        .map(|l| (l.digest, l.size))
        .collect();
    let layer = if items.is_empty() {
        None
    } else {
        let ingested = stream_layer(store, items.iter().map(|(p, i)| (p, i)), false)?;
        layers.push((ingested.digest, ingested.size));
        config.rootfs.diff_ids.push(ingested.digest);
        Some(ingested)
    };
    config.history.push(History {
        created: Some(now_rfc3339()),
        created_by: Some(format!("COMMIT {}", rec.mountpoint.display())),
        comment: None,
        empty_layer: layer.is_none(),
    });
    config.created = Some(now_rfc3339());
    let image = store.commit_image(&config, &layers, &name)?;
    if then_unmount {
        unmount(store, &rec.mountpoint)?;
    }
    Ok(Committed {
        image,
        layer,
        base: rec.image_name().unwrap_or_default().to_string(),
    })
}
