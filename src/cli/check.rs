//! `sealer check IMAGE [--format json] [--platform P] [--chart-values CHART=FILE]...
//! [--all-platforms]`: prints the library's completeness report (one line
//! per problem and a summary, or JSON) and says the exit status: 0
//! complete, 1 not (errors are 1 too, with an `error:` line).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::build::images::CacheOptions;
use crate::check::{check, CheckOptions, Report};
use crate::image::view::RootView;
use crate::store::Store;

/// Flags of `sealer check`.
///
/// Offline completeness of a ClusterImage, read without unpacking: every
/// container image its rootfs refers to (as `sealer build` finds them, plus
/// the images kubeadm of its KUBEVERSION pulls) must be in `registry/` for
/// the image's platform, every blob there must hash to its digest, and
/// every manifest's blobs must be there.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id)
    image: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    platform: super::PlatformArg,
    /// Values a Helm chart of the rootfs installs with, as for `sealer build`
    /// (repeatable; later files win)
    #[arg(long = "chart-values", value_name = "CHART=FILE")]
    chart_values: Vec<String>,
    /// Every platform an index in registry/ names must be cached, not only the image's
    #[arg(long)]
    all_platforms: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Runs `sealer check`; returns the exit status.
pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let mut chart_values = Vec::new();
    for cv in &a.chart_values {
        match cv.split_once('=') {
            Some((chart, file)) if !chart.is_empty() && !file.is_empty() => {
                chart_values.push((chart.to_string(), PathBuf::from(file)))
            }
            _ => anyhow::bail!("--chart-values {cv:?}: expected CHART=FILE"),
        }
    }
    let want = a.platform.want(&a.image)?;
    let img = store.resolve_for(&a.image, &want)?;
    let view = RootView::open(store, &img)?;
    let opts = CheckOptions {
        cache: CacheOptions {
            chart_values,
            ..CacheOptions::default()
        },
        platform: None,
        all_platforms: a.all_platforms,
    };
    let report = check(&view, &img, &opts).with_context(|| format!("checking {}", a.image))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &to_json(&report))?;
            writeln!(out)?;
        }
        Format::Text => print_text(&mut out, &a.image, &report)?,
    }
    out.flush()?;
    Ok(if report.complete() { 0 } else { 1 })
}

fn print_text(out: &mut impl Write, image: &str, r: &Report) -> std::io::Result<()> {
    for m in &r.missing {
        let from = m.from.first().map(String::as_str).unwrap_or("?");
        write!(out, "missing {} (from {from})", m.image)?;
        if let Some(why) = &m.why {
            write!(out, ": {why}")?;
        }
        writeln!(out)?;
    }
    for c in &r.corrupt {
        writeln!(out, "corrupt {} ({}): {}", c.digest, c.path, c.why)?;
    }
    for i in &r.incomplete {
        write!(
            out,
            "incomplete {} of {}: missing {}",
            i.manifest, i.of, i.missing
        )?;
        if let Some(d) = &i.detail {
            write!(out, " ({d})")?;
        }
        writeln!(out)?;
    }
    let checked = format!("{} container images, {} blobs checked", r.images, r.blobs);
    if r.complete() {
        writeln!(out, "{image} is complete: {checked}")
    } else {
        writeln!(
            out,
            "{image} is not complete: {} missing, {} corrupt, {} incomplete ({checked})",
            r.missing.len(),
            r.corrupt.len(),
            r.incomplete.len()
        )
    }
}

fn to_json(r: &Report) -> serde_json::Value {
    json!({
        "complete": r.complete(),
        "missing": r.missing.iter().map(|m| json!({
            "image": m.image,
            "cachedAs": m.cached_as,
            "from": m.from,
            "why": m.why,
        })).collect::<Vec<_>>(),
        "corrupt": r.corrupt.iter().map(|c| json!({
            "digest": c.digest,
            "path": c.path,
            "why": c.why,
        })).collect::<Vec<_>>(),
        "incomplete": r.incomplete.iter().map(|i| json!({
            "manifest": i.manifest.to_string(),
            "of": i.of,
            "missing": i.missing.to_string(),
            "detail": i.detail,
        })).collect::<Vec<_>>(),
        "checked": {"images": r.images, "blobs": r.blobs},
    })
}
