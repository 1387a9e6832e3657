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
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use sealer_fs::index::build_index;
use sealer_fs::tar::SeekSource;

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

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(1_700_000_000);
    h
}

/// The `index_tar` workload of `benches/index.rs` (keep the two alike).
fn mixed_tar(path: &Path) -> io::Result<()> {
    use tar::EntryType as T;
    let data = vec![b'x'; 1024];
    let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    for d in 0..200 {
        let dir = format!("usr/share/d{d:03}");
        b.append_data(&mut header(T::Directory, 0, 0o755), &dir, io::empty())?;
        for i in 0..600usize {
            let p = format!("{dir}/e{i:04}");
            match i % 10 {
                7 => b.append_link(
                    &mut header(T::Symlink, 0, 0o777),
                    &p,
                    format!("e{:04}", i - 1),
                )?,
                8 => b.append_link(
                    &mut header(T::Link, 0, 0o777),
                    &p,
                    format!("{dir}/e{:04}", i - 2),
                )?,
                9 => b.append_data(&mut header(T::Directory, 0, 0o755), &p, io::empty())?,
                _ => {
                    let d = &data[..(i * 37) % 1024];
                    b.append_data(&mut header(T::Regular, d.len() as u64, 0o644), &p, d)?
                }
            }
        }
    }
    b.into_inner()?;
    Ok(())
}
