//! `sealer push [--compression gzip|zstd|none] [--format oci|docker] [--platform P] [--insecure] [-q] IMAGE [DEST]`

use anyhow::Context as _;

use crate::compress::Compression;
use crate::image::platform::Want;
use crate::image::Reference;
use crate::progress::Progress;
use crate::registry::{push_all, Format, PushOptions};
use crate::store::Store;

/// Flags of `sealer push`.
///
/// Layers are compressed on the way (their compressed digests are
/// remembered in the store, so a second push only asks the registry and
/// uploads nothing it has); the config is pushed as stored, so the image id
/// is the same in the registry.
#[derive(clap::Args)]
pub struct Args {
    /// Image to push (name or id)
    image: String,
    /// Where to push it [default: IMAGE's own name], e.g. 127.0.0.1:5000/library/my-k8s:v1.19.8
    dest: Option<String>,
    /// Push only this platform of a multi-platform image [default: every platform, with the index]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Layer compression [default: gzip; none for a signed image, so that
    /// the pushed manifest is the signed one and its signatures go along]
    #[arg(long, value_enum)]
    compression: Option<Algo>,
    /// Manifest and config media types
    #[arg(long, value_enum, default_value_t = ManifestFormat::Oci)]
    format: ManifestFormat,
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum Algo {
    Gzip,
    Zstd,
    None,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ManifestFormat {
    Oci,
    Docker,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    // A multi-platform name is pushed whole (every image, then the index)
    // unless one platform is asked.
    let tagged = store.find_tag(&a.image)?;
    let (images, as_index) = match tagged {
        Some((name, desc)) if a.platform.is_none() && store.is_index(&desc) => {
            let lock = store.lock()?;
            let mut images = Vec::new();
            for m in store.manifests_of(&desc)? {
                let img = store.load_image(&m.digest, Some(name.clone()))?;
                store.pin_image(&img, &lock)?;
                images.push(img);
            }
            (images, true)
        }
        _ => {
            let want =
                Want::parse(a.platform.as_deref()).with_context(|| format!("image {}", a.image))?;
            (vec![store.resolve_pinned_for(&a.image, &want)?], false)
        }
    };
    let image = &images[0];
    let dest = match &a.dest {
        Some(d) => d.clone(),
        None => image.name.clone().unwrap_or_else(|| a.image.clone()),
    };
    let target = Reference::parse(&dest)?;
    let progress = Progress::new(a.quiet);
    let signed = crate::sign::image::local_signatures(store, &a.image)?;
    let compression = match a.compression {
        Some(c) => c,
        None if !signed.is_empty() => Algo::None,
        None => Algo::Gzip,
    };
    let opts = PushOptions {
        compression: match compression {
            Algo::Gzip => Compression::Gzip,
            Algo::Zstd => Compression::Zstd,
            Algo::None => Compression::None,
        },
        format: match a.format {
            ManifestFormat::Oci => Format::Oci,
            ManifestFormat::Docker => Format::Docker,
        },
        insecure: a.insecure,
        jobs: a.jobs.into(),
        progress: &progress,
        keep_digest: !signed.is_empty() && matches!(compression, Algo::None),
    };
    let pushed = push_all(store, &images, as_index, &target, &opts)
        .with_context(|| format!("pushing {}", target.full_name()))?;
    progress.line(&summary(&pushed));
    if !signed.is_empty() {
        let carried = crate::sign::image::push_signatures(
            &signed,
            &target,
            &pushed.manifest_digest,
            a.insecure,
        )
        .with_context(|| format!("pushing the signatures of {}", target.full_name()))?;
        if carried == 0 {
            eprintln!(
                "warning: {}'s signatures are for another manifest than the one pushed (compressed layers): sign {} again",
                a.image,
                target.full_name()
            );
        } else {
            progress.line(&format!("{carried} signature(s) pushed"));
        }
    }
    println!("{}@{}", target.repo, pushed.manifest_digest);
    Ok(())
}

/// What a push did, as `push` and `manifest push` report it.
pub(super) fn summary(pushed: &crate::registry::Pushed) -> String {
    format!(
        "{} blobs uploaded ({}), {} already present, {} mounted",
        pushed.uploaded,
        crate::human::bytes(pushed.uploaded_bytes),
        pushed.existed,
        pushed.mounted
    )
}
