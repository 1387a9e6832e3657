//! Bench-only helper for `benches/ingest_vs_sha256sum.sh`: ingests one layer
//! tar into a store (hash + index in one pass, then fsync and rename), the way
//! `sealer build` and pull do, and prints what was stored.
//!
//! ```text
//! cargo run --release --example ingest_layer -- STORE_ROOT LAYER.tar
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sealer::error::IoContext;
use sealer::store::Store;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [root, tar] = args.as_slice() else {
        eprintln!("usage: ingest_layer STORE_ROOT LAYER.tar");
        return ExitCode::from(2);
    };
    match run(root, tar) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(root: &Path, tar: &Path) -> sealer::Result<()> {
    let file = File::open(tar).at(tar)?;
    let got = Store::open(root)?.ingest_layer(file, None)?;
    println!(
        "digest {} size {} entries {} existed {}",
        got.digest, got.size, got.entries, got.existed
    );
    Ok(())
}
