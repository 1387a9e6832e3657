//! A bounded fuzz smoke run on stable Rust: the cargo-fuzz targets of
//! `fuzz/targets.rs` (tar index builder, Kubefile parser, manifest / index /
//! config parsing) replay their committed corpus (`fuzz/corpus/<target>/`),
//! then get deterministic mutations of it for a short time budget. Tar
//! mutations re-seal header checksums so they reach past the first check.
//!
//! `SEALER_FUZZ_SECONDS=N` runs each target N seconds instead of 2;
//! `SEALER_CRASH_SEED` fixes the seed. The long coverage-guided runs are
//! `cargo +nightly fuzz run TARGET` in `fuzz/`.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::crash::Rng;

#[path = "../fuzz/targets.rs"]
mod targets;

/// Values that make parsers take odd branches.
const INTERESTING: &[&[u8]] = &[
    b"0",
    b"7",
    b"8",
    b" ",
    b"\0",
    b"\xff",
    b"\x80",
    b"-",
    b".",
    b"..",
    b"/",
    b"\\",
    b"\n",
    b"=",
    b"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b"$",
    b"${",
    b":-",
    b".wh.",
    b".wh..wh..opq",
    b"18446744073709551615",
    b"-9223372036854775808",
    b"99999999999",
    b"77777777777",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the fuzz corpus {} is missing: {e}", dir.display()))
        .map(|e| fs::read(e.expect("corpus entry").path()).expect("reading a corpus file"))
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "the {target} corpus has {} inputs",
        out.len()
    );
    out
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len() as u64) as usize].clone();
    for _ in 0..=rng.below(4) {
        let len = d.len().max(1) as u64;
        let at = rng.below(len) as usize;
        match rng.below(7) {
            0 if !d.is_empty() => d[at] ^= 1 << rng.below(8),
            1 if !d.is_empty() => d[at] = rng.next() as u8,
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len() as u64) as usize];
                let end = (at + v.len()).min(d.len());
                d.splice(at.min(d.len())..end, v.iter().copied());
            }
            3 => {
                let n = rng.below(64) as usize;
                let end = (at + n).min(d.len());
                d.drain(at.min(d.len())..end);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                let from = rng.below(other.len().max(1) as u64) as usize;
                let n = (rng.below(512) as usize).min(other.len().saturating_sub(from));
                let at = at.min(d.len());
                d.splice(at..at, other[from..from + n].iter().copied());
            }
            5 => d.truncate(at),
            _ => {
                let n = rng.below(16) as usize;
                let at = at.min(d.len());
                let bytes = rng.bytes(n);
                d.splice(at..at, bytes);
            }
        }
    }
    d
}

/// Recomputes the checksum of every block that looks like a ustar header.
fn seal_tar_headers(d: &mut [u8]) {
    for block in d.chunks_exact_mut(512) {
        if &block[257..262] != b"ustar" {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
    }
}

/// Runs `target` over its corpus, then over mutations for `budget`;
/// returns the number of executions. A panic fails with the input saved.
fn run(name: &str, target: fn(&[u8]), tar: bool, rng: &mut Rng, budget: Duration) -> u64 {
    let seeds = corpus(name);
    let mut execs = 0u64;
    let started = Instant::now();
    let check = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let out = std::env::temp_dir().join(format!("sealer-fuzz-crash-{name}"));
            let _ = fs::write(&out, input);
            panic!(
                "fuzz target {name} panicked; input saved to {}",
                out.display()
            );
        }
    };
    for s in &seeds {
        check(s);
        execs += 1;
    }
    while started.elapsed() < budget {
        for _ in 0..64 {
            let mut d = mutate(rng, &seeds);
            if tar {
                seal_tar_headers(&mut d);
            }
            check(&d);
            execs += 1;
        }
    }
    execs
}

#[test]
fn fuzz_targets_survive_their_corpus_and_mutations() {
    let secs: u64 = std::env::var("SEALER_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let budget = Duration::from_secs(secs);
    let mut rng = Rng::from_env("fuzz");
    let mut total = 0;
    for (name, target, tar) in [
        ("tar_index", targets::tar_index as fn(&[u8]), true),
        ("kubefile", targets::kubefile, false),
        ("oci_json", targets::oci_json, false),
    ] {
        let n = run(name, target, tar, &mut rng, budget);
        eprintln!("fuzz {name}: {n} executions in {secs} s, no panic");
        assert!(n > 100, "{name} ran only {n} inputs");
        total += n;
    }
    eprintln!("fuzz: {total} executions in all");
}
