//! `sealer commit DIR NAME[:TAG] [--umount]` and `sealer diff DIR`: the
//! changes of a `--rw` mount, listed or made into one new layer.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use sealer_fs::upper::changes;
use sealer_fs::LayerIndex;

use crate::build::layer::stream_layer;
use crate::build::now_rfc3339;
use crate::build::upper_layer::upper_items;
use crate::image::oci::History;
use crate::image::Reference;
use crate::mount::{self, MountRecord};
use crate::store::Store;

/// Flags of `sealer commit`.
#[derive(clap::Args)]
pub struct Args {
    /// A mountpoint of `sealer mount --rw`
    dir: PathBuf,
    /// Name of the new image, NAME[:TAG]
    image: String,
    /// Unmount once committed
    #[arg(long)]
    umount: bool,
}

/// Flags of `sealer diff`.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// A mountpoint of `sealer mount --rw`
    dir: PathBuf,
}

/// The record of the `--rw` mount at `dir`, and its upper directory.
fn rw_mount(store: &Store, dir: &Path) -> anyhow::Result<(MountRecord, PathBuf)> {
    let abs = mount::absolute(dir)?;
    let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
    let Some(rec) = store.mounts()?.into_iter().find(|r| r.mountpoint == abs) else {
        bail!(
            "{} is not a sealer mount (see `sealer mount`)",
            dir.display()
        );
    };
    let Some(upper) = rec.upper.clone() else {
        bail!(
            "{} is a read-only mount: use `sealer mount --rw`",
            dir.display()
        );
    };
    Ok((rec, upper))
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let name = Reference::parse(&a.image)?.full_name();
    let (rec, upper) = rw_mount(store, &a.dir)?;
    let base = store
        .resolve_pinned(&rec.image_id)
        .with_context(|| format!("the image mounted at {}", a.dir.display()))?;
    let items = upper_items(&upper)?;
    let mut config = base.config.clone();
    let mut layers: Vec<_> = base
        .manifest
        .layers
        .iter()
        .map(|l| (l.digest, l.size))
        .collect();
    let by = format!("COMMIT {}", rec.mountpoint.display());
    if items.is_empty() {
        config.history.push(History {
            created: Some(now_rfc3339()),
            created_by: Some(by),
            comment: None,
            empty_layer: true,
        });
        eprintln!(
            "no changes under {}: {name} gets the same layers as {}",
            a.dir.display(),
            rec.image
        );
    } else {
        let ingested = stream_layer(store, items.iter().map(|(p, i)| (p, i)), false)?;
        eprintln!("layer {} ({} entries)", ingested.digest, ingested.entries);
        layers.push((ingested.digest, ingested.size));
        config.rootfs.diff_ids.push(ingested.digest);
        config.history.push(History {
            created: Some(now_rfc3339()),
            created_by: Some(by),
            comment: None,
            empty_layer: false,
        });
    }
    config.created = Some(now_rfc3339());
    let img = store.commit_image(&config, &layers, &name)?;
    println!("Committed {name} (id {})", img.id.short());
    if a.umount {
        mount::unmount(store, &rec.mountpoint)?;
    }
    Ok(())
}

pub fn run_diff(store: &Store, a: DiffArgs) -> anyhow::Result<()> {
    let (rec, upper) = rw_mount(store, &a.dir)?;
    let base = store.resolve(&rec.image_id)?;
    let mut layers = Vec::new();
    for d in base.layers().iter().rev() {
        layers.push(store.open_layer(d)?);
    }
    let stack: Vec<&LayerIndex> = layers.iter().map(|l| &l.index).collect();
    let list = changes(&upper, &stack).with_context(|| format!("reading {}", upper.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Paths as the bytes they are, as `sealer ls` prints names.
    for (path, c) in list {
        std::io::Write::write_fmt(&mut out, format_args!("{} /", c.letter()))?;
        std::io::Write::write_all(&mut out, &path)?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}
