//! Bench-only helper: the CPU time of indexing a tar on disk, per
//! iteration, read from `/proc/thread-self/schedstat` around
//! `build_index(SeekSource)` + `finish`, so a figure holds on a machine whose
//! other processes stretch the wall time. Without a TAR it writes the
//! `index_tar` workload of `benches/index.rs` (120,200 entries) to
//! `$TMPDIR/index_tar.tar` first and indexes that.
//!
//! ```text
//! cargo run --release --example index_cpu -- [ITERATIONS [TAR]]
//! ```

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use sealer_fs::index::build_index;
use sealer_fs::tar::SeekSource;

#[path = "../workload/tar_gen.rs"]
mod tar_gen;
use tar_gen::mixed_tar;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let iterations: usize = match args.next().map(|s| s.parse()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: index_cpu [ITERATIONS [TAR]]");
            return ExitCode::from(2);
        }
    };
    match run(iterations, args.next().map(PathBuf::from)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(iterations: usize, tar: Option<PathBuf>) -> io::Result<()> {
    let tar = match tar {
        Some(t) => t,
        None => {
            let t = std::env::temp_dir().join("index_tar.tar");
            mixed_tar(&t)?;
            t
        }
    };
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    let mut entries = 0;
    for _ in 0..iterations {
        let (c, w) = (cpu_ns()?, Instant::now());
        let (builder, _) =
            build_index(SeekSource::new(File::open(&tar)?)?).map_err(io::Error::other)?;
        let index = builder.finish(&[0; 32], 0).map_err(io::Error::other)?;
        cpu.push((cpu_ns()? - c) as f64 / 1e6);
        wall.push(w.elapsed().as_secs_f64() * 1e3);
        entries = sealer_fs::index::Header::read(&index)
            .map_err(io::Error::other)?
            .entries();
    }
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "{}: {entries} entries, {iterations} iterations; CPU ms min {:.1} median {:.1} \
         ({:.2} M entries/s); wall ms min {:.1} median {:.1}",
        tar.display(),
        cpu[0],
        median(&cpu),
        entries as f64 / median(&cpu) / 1e3,
        wall[0],
        median(&wall),
    );
    Ok(())
}

/// Nanoseconds this thread has run on a CPU (first field of schedstat).
fn cpu_ns() -> io::Result<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    s.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("unreadable schedstat"))
}
