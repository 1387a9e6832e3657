//! Micro benchmarks of the layer index (issue 2), on data generated in a temp
//! dir at start (nothing is committed):
//!
//! - `index_tar`: index a tar already on disk (120k entries: dirs, small
//!   files, symlinks, hard links) through `build_index(SeekSource)` and
//!   `finish`, reported as entries/s and bytes/s of tar;
//! - `lookup`: names in a 100k-entry directory, and deep paths (64 levels),
//!   through a `LayerIndex` mmap'd from its file;
//! - `merge_read_dir`: `merge::read_dir` of a directory holding 10k entries
//!   in each of 3 layers (overrides, whiteouts, new names).
//!
//! ```text
//! cargo bench --bench index                 # all
//! cargo bench --bench index -- index_tar    # one group
//! ```

use std::fs::File;
use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sealer_fs::index::build_index;
use sealer_fs::merge::{self, Merged};
use sealer_fs::tar::SeekSource;
use sealer_fs::{EntryId, LayerIndex, ROOT};
use tempfile::TempDir;

#[path = "workload/tar_gen.rs"]
mod tar_gen;
use tar_gen::{mixed_tar, TarGen};

/// Entries of the big directory of the lookup workload.
const BIG_DIR: usize = 100_000;
/// Depth of the deep path of the lookup workload.
const DEPTH: usize = 64;
/// Entries per layer in the merged directory.
const MERGE_DIR: usize = 10_000;

/// The lookup workload: `big/` with BIG_DIR empty files and a DEPTH-deep file.
fn lookup_tar(path: &Path) -> io::Result<(u64, u64)> {
    let mut t = TarGen::create(path)?;
    t.dir("big")?;
    for i in 0..BIG_DIR {
        t.file(&format!("big/file-{i:06}"), b"")?;
    }
    t.file(&deep_path(), b"leaf")?;
    t.finish()
}

fn deep_path() -> String {
    let mut p: String = (0..DEPTH).map(|i| format!("level{i:02}/")).collect();
    p.push_str("leaf");
    p
}

/// One of the three merge layers (0 = bottom), each with MERGE_DIR entries
/// in `big/`: the bottom has f*, the middle overrides half of them, whites
/// out a tenth and adds g*, the top overrides a third and adds h*.
fn merge_tar(path: &Path, layer: usize) -> io::Result<(u64, u64)> {
    let mut t = TarGen::create(path)?;
    t.dir("big")?;
    let mut n = 0;
    for i in 0..MERGE_DIR {
        let (keep, name) = match layer {
            0 => (true, format!("big/f{i:05}")),
            1 if i % 2 == 0 => (true, format!("big/f{i:05}")),
            1 if i % 10 == 1 => (true, format!("big/.wh.f{i:05}")),
            2 if i % 3 == 0 => (true, format!("big/f{i:05}")),
            _ => (false, String::new()),
        };
        if keep {
            t.file(&name, b"data")?;
            n += 1;
        }
    }
    let prefix = if layer == 1 { "g" } else { "h" };
    for i in 0..MERGE_DIR - n {
        t.file(&format!("big/{prefix}{i:05}"), b"data")?;
    }
    t.finish()
}

/// Indexes `tar` (on disk), writes the index next to it and maps it back.
fn open_index(tar: &Path) -> io::Result<LayerIndex> {
    let size = tar.metadata()?.len();
    let digest = [7u8; 32];
    let (builder, _) = build_index(SeekSource::new(File::open(tar)?)?).map_err(io::Error::other)?;
    let bytes = builder.finish(&digest, size).map_err(io::Error::other)?;
    let path = tar.with_extension("idx");
    std::fs::write(&path, bytes)?;
    LayerIndex::open(&path, &digest, size).map_err(io::Error::other)
}

fn bench_index_tar(c: &mut Criterion) {
    let tmp = TempDir::new().expect("temp dir");
    let tar = tmp.path().join("mixed.tar");
    let (entries, bytes) = mixed_tar(&tar).expect("generating the tar");
    eprintln!(
        "index_tar: {entries} entries, {:.1} MB of tar at {}",
        bytes as f64 / 1e6,
        tar.display()
    );
    let mut g = c.benchmark_group("index_tar");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::ElementsAndBytes {
        elements: entries,
        bytes,
    });
    g.bench_function("seek_source", |b| {
        b.iter(|| {
            let file = File::open(&tar).expect("open tar");
            let (builder, _) =
                build_index(SeekSource::new(file).expect("seekable")).expect("index");
            black_box(builder.finish(&[0; 32], bytes).expect("finish"))
        })
    });
    g.finish();
}

fn resolve_in(idx: &LayerIndex, path: &str) -> Option<EntryId> {
    path.split('/')
        .try_fold(ROOT, |dir, name| idx.lookup(dir, name.as_bytes()))
}

fn bench_lookup(c: &mut Criterion) {
    let tmp = TempDir::new().expect("temp dir");
    let tar = tmp.path().join("lookup.tar");
    lookup_tar(&tar).expect("generating the tar");
    let idx = open_index(&tar).expect("indexing");
    let big = idx.lookup(ROOT, b"big").expect("big/ is indexed");
    // 1000 names spread over the directory, one in ten missing.
    let names: Vec<String> = (0..1000)
        .map(|k| {
            let i = (k * 7919) % BIG_DIR;
            if k % 10 == 0 {
                format!("file-{i:06}x")
            } else {
                format!("file-{i:06}")
            }
        })
        .collect();
    let deep = deep_path();
    let stack = [&idx];
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("big_dir_100k/1000_names", |b| {
        b.iter(|| {
            names
                .iter()
                .filter(|n| idx.lookup(big, n.as_bytes()).is_some())
                .count()
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("deep_path_64/layer_index", |b| {
        b.iter(|| resolve_in(&idx, black_box(&deep)))
    });
    g.bench_function("deep_path_64/merge_resolve", |b| {
        b.iter(|| merge::resolve(&stack, black_box(deep.as_bytes())))
    });
    g.finish();
}

fn bench_merge_read_dir(c: &mut Criterion) {
    let tmp = TempDir::new().expect("temp dir");
    let layers: Vec<LayerIndex> = (0..3)
        .map(|l| {
            let tar: PathBuf = tmp.path().join(format!("layer{l}.tar"));
            merge_tar(&tar, l).expect("generating the tar");
            open_index(&tar).expect("indexing")
        })
        .collect();
    let stack: Vec<&LayerIndex> = layers.iter().rev().collect(); // top first
    let Some(Merged::Dir(parts)) = merge::resolve(&stack, b"big") else {
        panic!("big/ is not a merged dir")
    };
    let visible = merge::read_dir(&stack, &parts).len();
    eprintln!("merge_read_dir: 3 layers x {MERGE_DIR} entries in big/, {visible} visible");
    let mut g = c.benchmark_group("merge_read_dir");
    g.throughput(Throughput::Elements(visible as u64));
    g.bench_function("3_layers_x_10k", |b| {
        b.iter(|| merge::read_dir(&stack, black_box(&parts)))
    });
    g.finish();
}

criterion_group!(benches, bench_index_tar, bench_lookup, bench_merge_read_dir);
criterion_main!(benches);
