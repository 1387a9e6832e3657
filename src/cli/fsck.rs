//! `sealer fsck [--repair]`: check every blob, ref and layer index.

use crate::human;
use crate::store::Store;

/// Flags of `sealer fsck`.
#[derive(clap::Args)]
pub struct Args {
    /// Rebuild bad indexes, remove corrupt blobs, drop refs that cannot be read
    #[arg(long)]
    repair: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let report = store.fsck(a.repair)?;
    println!(
        "checked {} blobs ({}), {} refs, {} layer indexes",
        report.blobs,
        human::bytes(report.bytes),
        report.refs,
        report.indexes
    );
    for p in &report.problems {
        match &p.repaired {
            Some(done) => println!("repaired: {}: {done}", p.what),
            None => println!("problem: {}", p.what),
        }
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    let remaining = report.remaining();
    if remaining > 0 {
        let hint = if a.repair {
            "they need the images pulled or loaded again"
        } else {
            "`sealer fsck --repair` fixes what it can"
        };
        anyhow::bail!("fsck found {remaining} problem(s) in the store; {hint}");
    }
    if report.problems.is_empty() {
        println!("no problems found");
    } else {
        println!("repaired {} problem(s)", report.problems.len());
    }
    Ok(())
}
