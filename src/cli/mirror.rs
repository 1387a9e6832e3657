//! `sealer mirror IMAGE REGISTRY[/PREFIX] [--platform P] [--insecure] [--dry-run] [-q]`

use anyhow::Context as _;

use crate::image::platform::Want;
use crate::image::view::RootView;
use crate::image::Image;
use crate::progress::Progress;
use crate::registry::mirror::{mirror, plan_lines, source_repos};
use crate::store::Store;

/// Flags of `sealer mirror`.
///
/// Pushes every container image cached in IMAGE's `registry/` (every
/// platform of an index, signatures and referrers there) to REGISTRY under
/// PREFIX, with the same digests: manifests as stored, blobs streamed from
/// the image's layers. Blobs, manifests and tags the registry has are
/// skipped, so a second run uploads nothing.
#[derive(clap::Args)]
pub struct Args {
    /// The ClusterImage whose registry/ to mirror (name or id)
    image: String,
    /// Target registry, with an optional path prefix (harbor.example.com/k8s)
    registry: String,
    /// Mirror the registry/ of only this platform of a multi-platform image
    /// [default: every platform]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Allow plain HTTP and unverified TLS for this registry (loopback
    /// registries are treated so without the flag)
    #[arg(long)]
    insecure: bool,
    /// List every blob, manifest and tag that would be pushed (without
    /// contacting the registry), push nothing
    #[arg(long)]
    dry_run: bool,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let images = images(store, &a)?;
    let progress = Progress::new(a.quiet || a.dry_run);
    let layers: Vec<_> = images.iter().flat_map(Image::layers).collect();
    crate::lazy::pull::complete_layers(store, &layers, &progress)?;
    let views = images
        .iter()
        .map(|img| RootView::open(store, img))
        .collect::<crate::Result<Vec<_>>>()?;
    let repos = source_repos(&views).with_context(|| format!("reading {}'s registry/", a.image))?;
    if repos.is_empty() {
        anyhow::bail!(
            "{} caches no container image (its registry/ is empty)",
            a.image
        );
    }
    if a.dry_run {
        for line in plan_lines(&repos, &a.registry) {
            println!("{line}");
        }
        return Ok(());
    }
    let m = mirror(&views, &repos, &a.registry, a.insecure, &progress)
        .with_context(|| format!("mirroring {} to {}", a.image, a.registry))?;
    for s in &m.skipped {
        log::warn!("left out {s}");
    }
    println!(
        "Mirrored {} repositories to {}: {} blobs uploaded ({}), {} mounted, {} already there; {} manifests and tags pushed, {} already there, {} indexes left out",
        repos.len(),
        a.registry,
        m.uploaded,
        crate::human::bytes(m.uploaded_bytes),
        m.mounted,
        m.existed,
        m.manifests,
        m.manifests_existed,
        m.skipped.len()
    );
    Ok(())
}

/// The image, or every platform's image of a multi-platform name.
fn images(store: &Store, a: &Args) -> anyhow::Result<Vec<Image>> {
    if let Some((name, desc)) = store
        .find_tag(&a.image)?
        .filter(|(_, d)| a.platform.is_none() && store.is_index(d))
    {
        let lock = store.lock()?;
        let mut out = Vec::new();
        for m in store.manifests_of(&desc)? {
            let img = store.load_image(&m.digest, Some(name.clone()))?;
            store.pin_image(&img, &lock)?;
            out.push(img);
        }
        return Ok(out);
    }
    let want = Want::parse(a.platform.as_deref()).with_context(|| format!("image {}", a.image))?;
    Ok(vec![store.resolve_pinned_for(&a.image, &want)?])
}
