//! `sealer merge IMAGE... -t NAME [--platform P] [--strict]`: one image of
//! several (see `crate::image::merge`); images missing from the store are
//! pulled first.

use anyhow::Context as _;

use crate::error::Error;
use crate::image::merge::plan;
use crate::image::platform::Want;
use crate::image::Reference;
use crate::progress::Progress;
use crate::registry::{pull, PullOptions};
use crate::store::Store;

/// Collisions named in a `--strict` error.
const NAMED: usize = 5;

/// Flags of `sealer merge`.
#[derive(clap::Args)]
pub struct Args {
    /// Images to merge, bottom first (at least two)
    #[arg(required = true)]
    images: Vec<String>,
    /// Name of the merged image
    #[arg(short = 't', long = "target-image", value_name = "NAME")]
    target: String,
    /// Platform of the images (each must have it) [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Fail when a path of one image is overridden by a later one
    #[arg(long)]
    strict: bool,
    /// Allow plain HTTP and unverified TLS when pulling (as `pull`)
    #[arg(long)]
    insecure: bool,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    if a.images.len() < 2 {
        anyhow::bail!(
            "merge needs at least two images (got {})",
            a.images.join(" ")
        );
    }
    let target = Reference::parse(&a.target)?.full_name();
    let want = Want::parse(a.platform.as_deref()).context("--platform")?;
    let progress = Progress::new(a.quiet);
    let mut images = Vec::new();
    for name in &a.images {
        let img = match store.resolve_pinned_for(name, &want) {
            Err(Error::ImageNotFound(_)) => {
                let r = Reference::parse(name)?;
                progress.line(&format!("{name} is not in the store: pulling it"));
                let opts = PullOptions {
                    platform: want.clone(),
                    all_platforms: false,
                    insecure: a.insecure,
                    jobs: 3,
                    progress: &progress,
                    lazy: false,
                    gate: None,
                };
                pull(store, &r, &opts).with_context(|| format!("pulling {}", r.full_name()))?;
                store.resolve_pinned_for(&r.full_name(), &want)?
            }
            other => other?,
        };
        images.push((name.clone(), img));
    }
    let p = plan(store, &images).with_context(|| format!("merging into {target}"))?;
    if a.strict && !p.collisions.is_empty() {
        let named: Vec<String> = p
            .collisions
            .iter()
            .take(NAMED)
            .map(|c| c.to_string())
            .collect();
        let more = p.collisions.len().saturating_sub(NAMED);
        anyhow::bail!(
            "merging into {target}: {} path(s) collide (--strict): {}{}",
            p.collisions.len(),
            named.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        );
    }
    for c in &p.collisions {
        eprintln!("warning: {c}");
    }
    let img = store.commit_image_annotated(&p.config, &p.layers, p.annotations, &target)?;
    progress.line(&format!(
        "{} layers from {} images ({} collisions)",
        p.layers.len(),
        images.len(),
        p.collisions.len()
    ));
    println!("{target} {}", img.id);
    Ok(())
}
