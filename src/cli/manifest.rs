//! `sealer manifest create|add|remove|inspect|push|delete`: manifest lists
//! as sealer v0.11 (`sealer alpha manifest`, buildah's) offers them.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context as _;
use serde::Serialize;

use crate::compress::Compression;
use crate::digest::Digest;
use crate::image::Reference;
use crate::progress::Progress;
use crate::registry::{push_all, Format, PushOptions};
use crate::store::{EntryOverrides, Store};

/// Subcommands of `sealer manifest`.
#[derive(clap::Subcommand)]
pub enum Args {
    /// Create an empty manifest list
    Create {
        /// Name of the list, e.g. mylist:v1.11
        list: String,
    },
    /// Add images to a manifest list (each with the platform its config names)
    Add(AddArgs),
    /// Remove an image from a manifest list by its manifest digest
    Remove {
        /// The list
        list: String,
        /// Manifest digest of the entry (sha256:...)
        digest: String,
    },
    /// Print a manifest list (its OCI index) as JSON
    Inspect {
        /// The list
        list: String,
    },
    /// Push a manifest list: every image by digest, then the index
    Push(PushArgs),
    /// Delete manifest lists (not their images)
    Delete {
        /// The lists
        #[arg(required = true)]
        lists: Vec<String>,
    },
}

/// Flags of `sealer manifest add`.
#[derive(clap::Args)]
pub struct AddArgs {
    /// The list, then the images to add (with -t: only images)
    #[arg(required = true, value_name = "LIST|IMAGE")]
    args: Vec<String>,
    /// The list to add to, created if missing; then every argument is an image
    #[arg(short = 't', long = "target", value_name = "LIST")]
    target: Option<String>,
    /// Add every image of a multi-platform image, not only this machine's
    #[arg(long)]
    all: bool,
    /// The image of this platform from a multi-platform image
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all")]
    platform: Option<String>,
    /// Override the OS of the entry
    #[arg(long, value_name = "OS")]
    os: Option<String>,
    /// Override the architecture of the entry
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Override the variant of the entry
    #[arg(long, value_name = "VARIANT")]
    variant: Option<String>,
    /// An annotation of the entry
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
}

/// Flags of `sealer manifest push`.
#[derive(clap::Args)]
pub struct PushArgs {
    /// The list
    list: String,
    /// Where to push it [default: the list's own name]
    dest: Option<String>,
    /// Manifest types: OCI index and manifests, or Docker's manifest list and schema 2
    #[arg(short, long, value_enum, default_value_t = ListFormat::Oci)]
    format: ListFormat,
    /// Delete the list from the store once pushed
    #[arg(long)]
    rm: bool,
    /// Allow plain HTTP and unverified TLS for this registry (as `push`)
    #[arg(long)]
    insecure: bool,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Oci,
    /// Docker (`v2s2` in buildah's words)
    #[value(alias = "v2s2")]
    Docker,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    match a {
        Args::Create { list } => {
            let d = store.create_list(&list)?;
            println!("{d}");
        }
        Args::Add(a) => add(store, a)?,
        Args::Remove { list, digest } => {
            let d: Digest = digest
                .parse()
                .map_err(|e| anyhow::anyhow!("invalid instance {digest:?}: {e}"))?;
            store.remove_from_list(&list, &d)?;
            println!("{d}");
        }
        Args::Inspect { list } => {
            let (_, index) = store.read_list(&list)?;
            let mut out = std::io::stdout().lock();
            print_indented(&mut out, &index)?;
        }
        Args::Push(a) => push(store, a)?,
        Args::Delete { lists } => {
            // Every name is checked before any is deleted.
            for l in &lists {
                store.read_list(l)?;
            }
            for l in &lists {
                let name = store.delete_list(l)?;
                println!("{name}");
            }
        }
    }
    Ok(())
}

fn add(store: &Store, a: AddArgs) -> anyhow::Result<()> {
    let (list, images) = match &a.target {
        Some(t) => (t.clone(), &a.args[..]),
        None => (a.args[0].clone(), &a.args[1..]),
    };
    if images.is_empty() {
        anyhow::bail!("no image to add to {list}");
    }
    let mut annotations = BTreeMap::new();
    for kv in &a.annotations {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("annotation {kv:?} is not KEY=VALUE"))?;
        annotations.insert(k.to_string(), v.to_string());
    }
    let overrides = EntryOverrides {
        os: a.os.clone(),
        arch: a.arch.clone(),
        variant: a.variant.clone(),
        annotations,
    };
    // Without -t the list must exist (and be a list) before anything else.
    if a.target.is_none() {
        store.read_list(&list)?;
    }
    let want = crate::image::platform::Want::parse(a.platform.as_deref())?;
    let mut entries = Vec::new();
    for image in images {
        let e = store
            .list_entries(image, a.all, &want, &overrides)
            .with_context(|| format!("adding {image} to {list}"))?;
        entries.extend(e);
    }
    let index = store.add_to_list(&list, &entries, a.target.is_some())?;
    for e in &entries {
        let p = e
            .platform
            .as_ref()
            .map(crate::image::platform::PlatformSpec::of);
        eprintln!(
            "added {} ({})",
            e.digest,
            p.map(|p| p.to_string()).unwrap_or_default()
        );
    }
    println!("{index}");
    Ok(())
}

fn push(store: &Store, a: PushArgs) -> anyhow::Result<()> {
    let lock = store.lock()?;
    let (name, index) = store.read_list(&a.list)?;
    if index.manifests.is_empty() {
        anyhow::bail!("manifest list {name} is empty: nothing to push");
    }
    let mut images = Vec::new();
    for m in &index.manifests {
        let img = store.load_image(&m.digest, Some(name.clone()))?;
        store.pin_image(&img, &lock)?;
        images.push(img);
    }
    drop(lock);
    let target = Reference::parse(a.dest.as_deref().unwrap_or(&name))?;
    let progress = Progress::new(a.quiet);
    let opts = PushOptions {
        compression: Compression::Gzip,
        format: match a.format {
            ListFormat::Oci => Format::Oci,
            ListFormat::Docker => Format::Docker,
        },
        insecure: a.insecure,
        jobs: 3,
        progress: &progress,
        keep_digest: false,
    };
    let pushed = push_all(store, &images, true, &target, &opts)
        .with_context(|| format!("pushing {}", target.full_name()))?;
    progress.line(&super::push::summary(&pushed));
    if a.rm {
        store.delete_list(&name)?;
    }
    println!("{}@{}", target.repo, pushed.manifest_digest);
    Ok(())
}

/// JSON indented by four spaces, as sealer's `json.MarshalIndent(.., "", "    ")`.
fn print_indented(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, fmt);
    value.serialize(&mut ser)?;
    writeln!(out)?;
    Ok(())
}
