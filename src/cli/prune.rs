//! `sealer prune`: remove blobs, indexes, cache entries, temporary files and
//! dead mounts that nothing needs.

use crate::human;
use crate::store::Store;

/// Flags of `sealer prune`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(store: &Store, _a: Args) -> anyhow::Result<()> {
    let r = store.prune()?;
    println!(
        "Freed {}: {} blobs, {} indexes, {} cache entries, {} temporary files, {} dead mounts, {} signatures",
        human::bytes(r.bytes),
        r.blobs,
        r.indexes,
        r.cache,
        r.tmp,
        r.mounts,
        r.signatures
    );
    Ok(())
}
