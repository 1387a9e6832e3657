//! `sealer pull [--platform os/arch[/variant]] [--insecure] [-q] IMAGE`

use anyhow::Context as _;

use crate::image::Reference;
use crate::progress::Progress;
use crate::registry::manifest::PlatformSpec;
use crate::registry::{pull, PullOptions};
use crate::store::Store;

/// Flags of `sealer pull`.
///
/// Layers are decompressed (gzip, zstd or none) straight into the store and
/// verified against their digests and the config's diff_ids. The image is
/// tagged only when every layer is in; layers a failed pull completed and
/// verified stay in the store (untagged, removed by the next `rmi`) so that
/// pulling again skips them.
#[derive(clap::Args)]
pub struct Args {
    /// Image to pull, e.g. registry.example.com/sealer-io/kubernetes:v1.19.8
    image: String,
    /// Platform to choose from a multi-platform image [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Allow plain HTTP and unverified TLS for this registry. Registries on
    /// 127.0.0.0/8, ::1 and localhost are treated so without the flag (as
    /// docker's daemon does): HTTPS without verification, else plain HTTP
    #[arg(long)]
    insecure: bool,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
    /// Layers transferred at once
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    jobs: u16,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let r = Reference::parse(&a.image)?;
    let platform = a.platform.as_deref().map(PlatformSpec::parse).transpose()?;
    let progress = Progress::new(a.quiet);
    let opts = PullOptions {
        platform,
        insecure: a.insecure,
        jobs: a.jobs.into(),
        progress: &progress,
    };
    let pulled = pull(store, &r, &opts).with_context(|| format!("pulling {}", r.full_name()))?;
    progress.line(&format!(
        "{} layers downloaded, {} already present",
        pulled.downloaded, pulled.skipped
    ));
    progress.line(&format!("Digest: {}", pulled.source_digest));
    println!("{}", r.full_name());
    Ok(())
}
