//! `sealer pull [--platform os/arch[/variant] | --all-platforms] [--insecure] [-q] IMAGE`

use anyhow::Context as _;

use crate::image::platform::Want;
use crate::image::Reference;
use crate::progress::Progress;
use crate::registry::{pull, PullOptions};
use crate::sign::image::PullGate;
use crate::sign::Policy;
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
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        conflicts_with = "all_platforms"
    )]
    platform: Option<String>,
    /// Pull every platform of a multi-platform image (stored as an index)
    #[arg(long)]
    all_platforms: bool,
    /// Allow plain HTTP and unverified TLS for this registry. Registries on
    /// 127.0.0.0/8, ::1 and localhost are treated so without the flag (as
    /// docker's daemon does): HTTPS without verification, else plain HTTP
    #[arg(long)]
    insecure: bool,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
    /// Fetch only the manifest, config and each layer's member table and
    /// index; layer bytes are fetched on demand by ls, cat and mounts (a
    /// layer without a table is fetched whole). A later pull without
    /// --lazy completes the layers, fetching only what is missing
    #[arg(long)]
    lazy: bool,
    /// Cap of the store's chunk cache of lazily pulled layers (e.g. 2G);
    /// the oldest chunks are evicted past it
    #[arg(long, value_name = "SIZE")]
    cache_size: Option<String>,
    /// Signature policy (containers-policy.json(5)) instead of
    /// /etc/containers/policy.json; a rejected image leaves the store as it was
    #[arg(long, value_name = "FILE")]
    signature_policy: Option<std::path::PathBuf>,
    /// Layers transferred at once
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    jobs: u16,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let r = Reference::parse(&a.image)?;
    let platform =
        Want::parse(a.platform.as_deref()).with_context(|| format!("pulling {}", r.full_name()))?;
    let policy = Policy::load_default(a.signature_policy.as_deref())?;
    let gate = PullGate::new(policy.as_ref(), &r);
    let check =
        |repo: &crate::registry::Repo, d: &crate::digest::Digest, b: &[u8]| gate.check(repo, d, b);
    let progress = Progress::new(a.quiet);
    let opts = PullOptions {
        platform,
        all_platforms: a.all_platforms,
        insecure: a.insecure,
        jobs: a.jobs.into(),
        progress: &progress,
        lazy: a.lazy,
        gate: Some(&check),
    };
    if let Some(size) = a.cache_size.as_deref() {
        store.set_cache_size(crate::human::parse_bytes(size)?)?;
    }
    let pulled = pull(store, &r, &opts).with_context(|| format!("pulling {}", r.full_name()))?;
    let kept = gate
        .keep(store)
        .with_context(|| format!("storing the signatures of {}", r.full_name()))?;
    if kept > 0 {
        progress.line(&format!("{kept} signature(s) brought along"));
    }
    if pulled.referrers > 0 {
        progress.line(&format!("{} SBOM(s) brought along", pulled.referrers));
    }
    progress.line(&format!(
        "{} layers downloaded, {} already present",
        pulled.downloaded, pulled.skipped
    ));
    progress.line(&format!("Digest: {}", pulled.source_digest));
    println!("{}", r.full_name());
    Ok(())
}
