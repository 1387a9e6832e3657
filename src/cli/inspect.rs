//! `sealer inspect NAME|ID [--format yaml|json]`

use std::io::Write;

use crate::image::spec::image_spec;
use crate::image::view::RootView;
use crate::store::Store;

/// Flags of `sealer inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id)
    image: String,
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
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Yaml => out.write_all(serde_yaml::to_string(&spec)?.as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &spec)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
