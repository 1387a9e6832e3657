//! `sealer save -o FILE [--format oci-archive|docker-archive] IMAGE...`

use anyhow::Context as _;

use crate::archive::{save, ArchiveFormat};
use crate::progress::Progress;
use crate::store::Store;

/// Flags of `sealer save`.
#[derive(clap::Args)]
pub struct Args {
    /// Images to save (names or ids)
    #[arg(required = true)]
    images: Vec<String>,
    /// The archive to write
    #[arg(short, long, value_name = "FILE")]
    output: std::path::PathBuf,
    /// oci-archive: a tar of an OCI layout (`skopeo copy oci-archive:FILE:NAME`, umoci);
    /// docker-archive: what `docker load` reads
    #[arg(long, value_enum, default_value_t = Kind::OciArchive)]
    format: Kind,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    OciArchive,
    DockerArchive,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let mut images = Vec::new();
    for what in &a.images {
        let img = store.resolve_pinned(what)?;
        let name = img.name.clone().unwrap_or_else(|| what.clone());
        images.push((name, img));
    }
    let format = match a.format {
        Kind::OciArchive => ArchiveFormat::Oci,
        Kind::DockerArchive => ArchiveFormat::Docker,
    };
    let progress = Progress::new(a.quiet);
    save(store, &images, &a.output, format, &progress)
        .with_context(|| format!("saving to {}", a.output.display()))?;
    Ok(())
}
