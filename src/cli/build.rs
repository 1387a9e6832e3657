//! `sealer build -t NAME[:TAG] [-f FILE] [--build-arg K=V]... [--no-cache]
//! [--build-mode full|lite] [--image-list FILE]... [--ignored-image-list FILE]...
//! [--insecure] [--platform OS/ARCH[/VARIANT],...] [--chart-values CHART=FILE]...
//! [--timestamp SECONDS] [--sbom] [--list-images [--format text|json]] CONTEXT`

use std::io::{IsTerminal, Write};

use anyhow::Context as _;
use std::path::PathBuf;

use crate::build::images::CacheOptions;
use crate::build::{build, list_images, BuildOptions};
use crate::image::platform::PlatformSpec;
use crate::store::Store;

/// Flags of `sealer build`.
#[derive(clap::Args)]
pub struct Args {
    /// Name of the image, NAME[:TAG]
    #[arg(
        short,
        long,
        value_name = "NAME[:TAG]",
        required_unless_present = "list_images"
    )]
    tag: Option<String>,
    /// Kubefile [default: CONTEXT/Kubefile]
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set an ARG: KEY=VALUE (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Do not reuse layers from earlier builds
    #[arg(long)]
    no_cache: bool,
    /// full: cache every container image the rootfs names into registry/; lite: cache none
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    build_mode: Mode,
    /// More container images to cache: one reference a line, `#` comments (repeatable)
    #[arg(long = "image-list", value_name = "FILE")]
    image_lists: Vec<PathBuf>,
    /// Container images not to cache, one reference a line (repeatable)
    #[arg(long = "ignored-image-list", value_name = "FILE")]
    ignored_lists: Vec<PathBuf>,
    /// Allow plain HTTP and unverified TLS when fetching container images
    #[arg(long)]
    insecure: bool,
    /// Image type in sealer's image extension
    #[arg(long = "type", value_enum, default_value_t = ImageType::KubeInstaller)]
    image_type: ImageType,
    /// Platforms to build, os/arch[/variant], comma-separated or repeated;
    /// several make the name an image index [default: the base's, else this machine's]
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT],...")]
    platforms: Vec<String>,
    /// Values a Helm chart of the rootfs installs with, merged over the chart's
    /// own as `helm install -f FILE` does: CHART is the chart's name or its
    /// directory in the rootfs (repeatable; later files win)
    #[arg(long = "chart-values", value_name = "CHART=FILE")]
    chart_values: Vec<String>,
    /// Print the container images the build would cache (REFERENCE<TAB>SOURCE,
    /// and <TAB>PLATFORM with several --platform), fetch none, tag nothing
    #[arg(long)]
    list_images: bool,
    /// Output of --list-images: text (REFERENCE<TAB>SOURCE[<TAB>PLATFORM]) or
    /// json (each image's platform and every source)
    #[arg(long, value_enum, default_value_t = Format::Text, requires = "list_images")]
    format: Format,
    /// Reproducible build: every created time is this instant (seconds since
    /// the epoch) and file mtimes in the layers written are clamped to it
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH",
          value_parser = clap::value_parser!(i64).range(0..))]
    timestamp: Option<i64>,
    /// Attach an SPDX 2.3 SBOM of the image as an OCI referrer (artifactType
    /// application/spdx+json), which `push` uploads with the image
    #[arg(long)]
    sbom: bool,
    /// Build context directory
    #[arg(default_value = ".")]
    context: PathBuf,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum ImageType {
    KubeInstaller,
    AppInstaller,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Mode {
    Full,
    Lite,
}

impl Args {
    /// Whether the Kubefile has RUN steps (an ordinary user runs them in a
    /// user namespace).
    pub fn has_run_steps(&self) -> bool {
        crate::build::has_run_steps(self.file.as_deref(), &self.context)
    }
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let mut build_args = Vec::new();
    for kv in &a.build_args {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--build-arg {kv:?}: expected KEY=VALUE"))?;
        build_args.push((k.to_string(), v.to_string()));
    }
    let mut chart_values = Vec::new();
    for cv in &a.chart_values {
        match cv.split_once('=') {
            Some((chart, file)) if !chart.is_empty() && !file.is_empty() => {
                chart_values.push((chart.to_string(), PathBuf::from(file)))
            }
            _ => anyhow::bail!("--chart-values {cv:?}: expected CHART=FILE"),
        }
    }
    let mut platforms: Vec<PlatformSpec> = Vec::new();
    for list in &a.platforms {
        let tag = a.tag.as_deref().unwrap_or("the image");
        for p in PlatformSpec::parse_list(list).with_context(|| format!("building {tag}"))? {
            if platforms.contains(&p) {
                anyhow::bail!("building {tag}: --platform {p} is given twice");
            }
            platforms.push(p);
        }
    }
    let opts = BuildOptions {
        tag: a.tag.unwrap_or_default(),
        file: a.file,
        context: a.context,
        build_args,
        no_cache: a.no_cache,
        progress: std::io::stderr().is_terminal(),
        images: CacheOptions {
            lite: a.build_mode == Mode::Lite,
            image_lists: a.image_lists,
            ignored_lists: a.ignored_lists,
            insecure: a.insecure,
            platform: None,
            chart_values,
        },
        image_type: match a.image_type {
            ImageType::KubeInstaller => crate::image::extension::KUBE_INSTALLER.into(),
            ImageType::AppInstaller => crate::image::extension::APP_INSTALLER.into(),
        },
        platforms,
        timestamp: a.timestamp,
        sbom: a.sbom,
    };
    if a.list_images {
        let listed = list_images(store, &opts)?;
        let mut out = std::io::stdout().lock();
        if a.format == Format::Json {
            let json: Vec<serde_json::Value> = listed
                .iter()
                .flat_map(|l| l.images.iter().map(|w| image_json(w, &l.platform)))
                .collect();
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
            return Ok(());
        }
        // Several platforms: a third column says whose image each line is.
        let several = listed.len() > 1;
        for l in &listed {
            for w in &l.images {
                write!(out, "{}\t{}", w.name, w.source())?;
                if several {
                    write!(out, "\t{}", l.platform)?;
                }
                writeln!(out)?;
            }
        }
        return Ok(());
    }
    build(store, &opts)?;
    Ok(())
}

/// One image of `--list-images --format json` with every place naming it,
/// and the platform whose build names it.
fn image_json(w: &crate::build::images::Wanted, platform: &PlatformSpec) -> serde_json::Value {
    let sources: Vec<serde_json::Value> = w
        .sources
        .iter()
        .map(|s| {
            serde_json::json!({
                "file": s.file,
                "line": s.line,
                "chart": s.chart,
                "resource": s.resource,
                "field": s.field,
                "app": s.app,
                "detail": s.detail,
            })
        })
        .collect();
    serde_json::json!({
        "image": w.name,
        "platform": platform.to_string(),
        "sources": sources,
    })
}
