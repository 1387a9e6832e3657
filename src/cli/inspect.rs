//! `sealer inspect NAME|ID [--format yaml|json]`, or `--remote REF`: the
//! same view of an image in its registry, from its manifest and config only.

use std::io::Write;

use anyhow::Context as _;

use crate::image::spec::image_spec;
use crate::image::view::RootView;
use crate::store::Store;

/// Flags of `sealer inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id; with --remote a registry reference)
    image: String,
    /// Read the image from its registry: the manifest (or index) and the
    /// config only, never a layer (so no rootfs Metadata)
    #[arg(long)]
    remote: bool,
    /// With --remote: allow plain HTTP and unverified TLS (as `pull`)
    #[arg(long, requires = "remote")]
    insecure: bool,
    #[command(flatten)]
    platform: super::PlatformArg,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Yaml,
    Json,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    if a.remote {
        let r = crate::image::Reference::parse(&a.image)?;
        let img =
            crate::registry::remote::remote_image(&r, &a.platform.want(&a.image)?, a.insecure)
                .with_context(|| format!("inspecting {}", r.full_name()))?;
        return print(&image_spec(&img, None), a.format);
    }
    let img = store.resolve_for(&a.image, &a.platform.want(&a.image)?)?;
    let view = RootView::open(store, &img)?;
    let metadata = view.read_file("Metadata").unwrap_or(None);
    let mut spec = image_spec(&img, metadata);
    for l in &mut spec.spec.layers {
        let presence = l.id.parse().ok().and_then(|d| store.layer_presence(&d));
        l.lazy = presence.map(|p| {
            format!(
                "partly present: {} of {} members cached ({})",
                p.members,
                p.total,
                crate::human::bytes(p.bytes)
            )
        });
    }
    print(&spec, a.format)
}

fn print(spec: &crate::image::spec::ImageSpec, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Yaml => out.write_all(serde_yaml::to_string(spec)?.as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, spec)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
