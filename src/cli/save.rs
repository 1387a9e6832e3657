//! `sealer save -o FILE [--format oci-archive|docker-archive] [--platform P]
//! [--since BASE] [--split SIZE] IMAGE...`

use anyhow::Context as _;

use crate::archive::{save_with, ArchiveFormat, Base, SaveOptions};
use crate::image::platform::Want;
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
    /// Save only this platform of a multi-platform image [default: every
    /// platform in an OCI archive; this machine's in a docker-archive]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// A delta: leave out every layer of BASE (loads only into a store that
    /// holds BASE, which the archive names)
    #[arg(long, value_name = "BASE")]
    since: Option<String>,
    /// Write parts FILE.000, FILE.001... of at most SIZE each (4G, 700M,
    /// 1.5G); `load -i FILE.000` reads them all
    #[arg(long, value_name = "SIZE")]
    split: Option<String>,
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
    let format = match a.format {
        Kind::OciArchive => ArchiveFormat::Oci,
        Kind::DockerArchive => ArchiveFormat::Docker,
    };
    let want = Want::parse(a.platform.as_deref())
        .with_context(|| format!("images {}", a.images.join(", ")))?;
    let mut images = Vec::new();
    for what in &a.images {
        // An OCI archive keeps a multi-platform name whole (its index and
        // every image); a docker-archive, or --platform, holds one image.
        let whole = matches!(format, ArchiveFormat::Oci) && a.platform.is_none();
        if let Some((name, desc)) = store
            .find_tag(what)?
            .filter(|(_, d)| whole && store.is_index(d))
        {
            let lock = store.lock()?;
            for m in store.manifests_of(&desc)? {
                let mut img = store.load_image(&m.digest, Some(name.clone()))?;
                img.index = Some(desc.digest);
                store.pin_image(&img, &lock)?;
                images.push((name.clone(), img));
            }
            continue;
        }
        let mut img = store.resolve_pinned_for(what, &want)?;
        img.index = None;
        let name = img.name.clone().unwrap_or_else(|| what.clone());
        images.push((name, img));
    }
    let split = a
        .split
        .as_deref()
        .map(crate::human::parse_bytes)
        .transpose()
        .context("--split")?;
    let since = match &a.since {
        Some(b) => Some(base(store, b, &want).with_context(|| format!("--since {b}"))?),
        None => None,
    };
    let opts = SaveOptions { since, split };
    let progress = Progress::new(a.quiet);
    let files = save_with(store, &images, &a.output, format, &opts, &progress)
        .with_context(|| format!("saving to {}", a.output.display()))?;
    if opts.split.is_some() {
        for f in files {
            println!("{}", f.display());
        }
    }
    Ok(())
}

/// The base of a delta: every platform of a multi-platform name.
fn base(store: &Store, what: &str, want: &Want) -> anyhow::Result<Base> {
    if let Some((name, desc)) = store.find_tag(what)?.filter(|(_, d)| store.is_index(d)) {
        let mut layers = std::collections::BTreeSet::new();
        for m in store.manifests_of(&desc)? {
            layers.extend(store.load_image(&m.digest, None)?.layers());
        }
        return Ok(Base {
            name,
            digest: desc.digest,
            layers,
        });
    }
    let img = store.resolve_pinned_for(what, want)?;
    Ok(Base {
        name: img.name.clone().unwrap_or_else(|| what.to_string()),
        digest: img.manifest_digest,
        layers: img.layers().into_iter().collect(),
    })
}
