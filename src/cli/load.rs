//! `sealer load -i FILE`: OCI archives and docker-archives (plain, gzip or
//! zstd layers; the whole archive may be compressed too).

use anyhow::Context as _;

use crate::archive::load;
use crate::progress::Progress;
use crate::store::Store;

/// Flags of `sealer load`.
///
/// Every blob is verified against its digest and every layer against the
/// config's diff_id; a malformed, truncated or unsafe archive fails with the
/// store left as it was.
#[derive(clap::Args)]
pub struct Args {
    /// The archive to read
    #[arg(short, long, value_name = "FILE")]
    input: std::path::PathBuf,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let progress = Progress::new(a.quiet);
    let images = load(store, &a.input, &progress)
        .with_context(|| format!("loading {}", a.input.display()))?;
    for (names, _) in images {
        for n in names {
            println!("Loaded image: {n}");
        }
    }
    Ok(())
}
