//! `sealer load -i FILE [--signature-policy FILE]`: OCI archives and
//! docker-archives (plain, gzip or zstd layers; the whole archive may be
//! compressed too), with the signatures and SBOMs an OCI archive carries.

use anyhow::Context as _;

use crate::archive::load;
use crate::progress::Progress;
use crate::sign::Policy;
use crate::store::Store;

/// Flags of `sealer load`.
///
/// Every blob is verified against its digest and every layer against the
/// config's diff_id; a malformed, truncated or unsafe archive fails with the
/// store left as it was. Each image is judged by the signature policy for
/// the name it carries, with the signatures the archive holds for it, before
/// anything is stored.
#[derive(clap::Args)]
pub struct Args {
    /// The archive to read
    #[arg(short, long, value_name = "FILE")]
    input: std::path::PathBuf,
    /// No progress output
    #[arg(short, long)]
    quiet: bool,
    /// Signature policy (containers-policy.json(5)) instead of
    /// /etc/containers/policy.json; a rejected image leaves the store as it was
    #[arg(long, value_name = "FILE")]
    signature_policy: Option<std::path::PathBuf>,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let progress = Progress::new(a.quiet);
    let policy = Policy::load_default(a.signature_policy.as_deref())?;
    let images = load(store, &a.input, policy.as_ref(), &progress)
        .with_context(|| format!("loading {}", a.input.display()))?;
    for (names, _) in images {
        for n in names {
            println!("Loaded image: {n}");
        }
    }
    Ok(())
}
