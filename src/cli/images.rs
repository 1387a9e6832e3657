//! `sealer images [-q] [--format table|json]`: one row per image, so one
//! per platform of a multi-platform name.

use std::io::Write;

use serde::Serialize;

use crate::build::format_time;
use crate::human;
use crate::store::Store;

/// Flags of `sealer images`.
#[derive(clap::Args)]
pub struct Args {
    /// Only image ids
    #[arg(short, long)]
    quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Serialize)]
struct Row {
    name: String,
    id: String,
    arch: String,
    variant: String,
    created: String,
    size: u64,
    /// Partly present (`pull --lazy`): the bytes of its layers cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    lazy_cached: Option<u64>,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for (name, img) in store.all_images()? {
        let c = &img.config;
        let platform = img.platform();
        rows.push(Row {
            name,
            id: img.id.to_string(),
            arch: platform.arch,
            variant: platform.variant.unwrap_or_default(),
            created: c.created.clone().unwrap_or_default(),
            size: img.size(),
            lazy_cached: lazy_cached(store, &img),
        });
    }
    rows.sort_by(|a, b| (&a.name, &a.arch, &a.variant).cmp(&(&b.name, &b.arch, &b.variant)));
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", &r.id["sha256:".len()..][..12])?;
        }
        return Ok(());
    }
    if let Format::Json = a.format {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let created = r
                .created
                .get(..19)
                .map(|s| s.replace('T', " "))
                .unwrap_or_else(|| format_time(0, ' ', ""));
            [
                r.name.clone(),
                r.id["sha256:".len()..][..12].to_string(),
                r.arch.clone(),
                r.variant.clone(),
                created,
                match r.lazy_cached {
                    None => human::bytes(r.size),
                    Some(here) => format!(
                        "{} (lazy: {} here)",
                        human::bytes(r.size),
                        human::bytes(here)
                    ),
                },
            ]
        })
        .collect();
    let head = [
        "IMAGE NAME",
        "IMAGE ID",
        "ARCH",
        "VARIANT",
        "CREATE",
        "SIZE",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            table
                .iter()
                .chain([&head])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&head].into_iter().chain(table.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        writeln!(out, "{}", line.join("   ").trim_end())?;
    }
    Ok(())
}

/// The cached bytes of an image with partly present layers (`None`: every
/// layer is whole).
fn lazy_cached(store: &Store, img: &crate::image::Image) -> Option<u64> {
    let mut lazy = false;
    let mut here = 0;
    for l in img.layers() {
        if let Some(p) = store.layer_presence(&l) {
            lazy = true;
            here += p.bytes;
        }
    }
    lazy.then_some(here)
}
