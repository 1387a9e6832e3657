//! `sealer sbom IMAGE [--format spdx-json|cyclonedx-json] [-o FILE] [--platform P]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::sbom::{cyclonedx, inventory, spdx};
use crate::store::Store;

/// Flags of `sealer sbom`.
///
/// The SBOM lists the ClusterImage, every regular file of its rootfs with
/// its SHA-256, the Go modules of Go binaries (from their embedded build
/// info; nothing is executed), the container images of `registry/` and the
/// Helm charts, read through the layer indexes without unpacking.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id)
    image: String,
    /// Document format
    #[arg(long, value_enum, default_value_t = Format::SpdxJson)]
    format: Format,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    platform: super::PlatformArg,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Format {
    SpdxJson,
    CyclonedxJson,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let want = a.platform.want(&a.image)?;
    let img = store.resolve_pinned_for(&a.image, &want)?;
    let inv = inventory(store, &img).with_context(|| format!("image {}", a.image))?;
    let doc = match a.format {
        Format::SpdxJson => spdx::document(&inv),
        Format::CyclonedxJson => cyclonedx::document(&inv),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    match &a.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(())
}
