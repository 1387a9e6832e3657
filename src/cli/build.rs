//! `sealer build -t NAME[:TAG] [-f FILE] [--build-arg K=V]... [--no-cache] CONTEXT`

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::build::{build, BuildOptions};
use crate::store::Store;

/// Flags of `sealer build`.
#[derive(clap::Args)]
pub struct Args {
    /// Name of the image, NAME[:TAG]
    #[arg(short, long, value_name = "NAME[:TAG]")]
    tag: String,
    /// Kubefile [default: CONTEXT/Kubefile]
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set an ARG: KEY=VALUE (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Do not reuse layers from earlier builds
    #[arg(long)]
    no_cache: bool,
    /// Build context directory
    #[arg(default_value = ".")]
    context: PathBuf,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let mut build_args = Vec::new();
    for kv in &a.build_args {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--build-arg {kv:?}: expected KEY=VALUE"))?;
        build_args.push((k.to_string(), v.to_string()));
    }
    let opts = BuildOptions {
        tag: a.tag,
        file: a.file,
        context: a.context,
        build_args,
        no_cache: a.no_cache,
        progress: std::io::stderr().is_terminal(),
    };
    build(store, &opts)?;
    Ok(())
}
