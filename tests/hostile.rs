//! Hostile layers: every tar of `tests/data/hostile/` (made by its
//! `generate.py`) is loaded through `sealer load` of a docker-archive and must
//! get its expected outcome: one clear error with the store unchanged, or a
//! normalized tree that `ls`, `cat` and a FUSE mount read without trouble.
//! Each corpus file is its own test (`hostile::corpus::<file>`), in its own
//! store. Nothing may be written outside the store (canary directories, host
//! paths the tars aim at). A generated layer with a directory of a million
//! entries checks that ingest memory stays bounded (peak RSS of the sealer
//! process).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use nix::sys::stat::{major, minor};
use sealer::digest::Digest;
use sealer::store::Store;
use sealer_fs::{Kind, LayerIndex, ROOT};

use crate::mount::mount;
use crate::util::{docker_archive, fails_cleanly, Env, Snapshot};

/// What a hostile layer must get.
enum Expect {
    /// `sealer load` fails with one error line holding these parts.
    Refused(&'static [&'static str]),
    /// The layer loads; its index is exactly this tree (see [`tree`]).
    Tree(&'static [&'static str]),
    /// The layer loads; a custom check of its index.
    Check(fn(&LayerIndex)),
}

use Expect::{Check, Refused, Tree};

const ESCAPE: &str = "path escapes the rootfs through '..'";
const NOT_DIR: &str = "a parent directory is not a directory in this layer";
const LATER: &str = "hard link to a missing or later entry";
const CUT: &str = "is cut short";

/// Declares the corpus: `file: outcome [=> extra check of the loaded store],`
/// gives one test per file in `mod corpus` and the list [`CASES`].
macro_rules! corpus {
    ($($name:ident: $expect:expr $(=> $after:path)?,)*) => {
        /// Every corpus file that has an expected outcome.
        const CASES: &[&str] = &[$(stringify!($name)),*];

        mod corpus {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let after: Option<fn(&Env)> = None $(.or(Some($after)))?;
                    check_layer(stringify!($name), $expect, after);
                }
            )*
        }
    };
}

// Every corpus file and its outcome; `every_corpus_file_has_a_case` fails on
// a file not listed.
corpus! {
    dotdot_file: Refused(&["../canary/pwned", ESCAPE]),
    dotdot_nested: Refused(&["a/b/../../../canary/pwned", ESCAPE]),
    dotdot_in_prefix: Refused(&["../../canary/pwned", ESCAPE]),
    dotdot_in_pax_path: Refused(&["ok/../../canary/pwned", ESCAPE]),
    absolute_dotdot: Refused(&["sealer-hostile-canary", ESCAPE]),
    nul_in_pax_path: Refused(&["NUL byte"]),
    absolute_names: Tree(&[
        "etc d 755 0:0",
        "etc/passwd f 644 0:0 11b",
        "usr d 755 0:0",
        "usr/bin d 755 0:0",
        "usr/bin/tool f 644 0:0 3b",
    ]),
    symlink_dir_escape: Refused(&["etc/pwned", NOT_DIR]),
    symlink_relative_escape: Refused(&["up/canary/pwned", NOT_DIR]),
    symlink_targets_kept: Tree(&[
        "abs l 644 0:0 -> /etc/shadow",
        "loop1 l 644 0:0 -> loop2",
        "loop2 l 644 0:0 -> loop1",
        "rel l 644 0:0 -> ../../../../etc/shadow",
    ]) => symlinks_stay_inside,
    hardlink_dotdot: Refused(&["\"h\"", "hard link target escapes the rootfs"]),
    hardlink_absolute_host: Refused(&["\"h\"", LATER]),
    hardlink_later_entry: Refused(&["\"h\"", LATER]),
    hardlink_missing: Refused(&["\"h\"", LATER]),
    hardlink_to_dir: Refused(&["hard link to a directory"]),
    hardlink_through_symlink: Refused(&["\"h\"", LATER]),
    hardlink_absolute_inside: Tree(&["f f 644 0:0 7b nlink=2", "g f 644 0:0 7b nlink=2"]),
    size_8g_no_data: Refused(&["file data", CUT]),
    size_base256_max: Refused(&["file data", CUT]),
    size_negative: Refused(&["bad size field"]),
    size_not_octal: Refused(&["bad size field"]),
    uid_overflow: Refused(&["bad uid field"]),
    mtime_overflow: Refused(&["bad mtime field"]),
    mode_high_bits: Tree(&["m f 7777 0:0 1b"]),
    bad_checksum: Refused(&["bad header checksum"]),
    truncated_header: Refused(&["header at byte 1024", CUT]),
    truncated_data: Refused(&["file data", CUT]),
    truncated_pax: Refused(&["extended header", CUT]),
    pax_size_gigabytes: Refused(&["file data", CUT]),
    pax_size_u64_max: Refused(&["bad size field"]),
    pax_header_claims_gigabytes: Refused(&["claims 3221225472 bytes", "limit 1 MiB"]),
    pax_bad_length: Refused(&["bad PAX header", "record length"]),
    pax_uid_overflow: Refused(&["uid out of range"]),
    pax_mtime_extreme: Refused(&["mtime is not a number"]),
    pax_mtime_double_minus: Refused(&["mtime is not a number"]),
    pax_xattrs_and_long_link: Check(long_link_and_xattr),
    pax_sparse: Refused(&["sparse files are not supported"]),
    gnu_longname_huge: Refused(&["claims 104857600 bytes"]),
    unsupported_type: Refused(&["unsupported tar entry type 'S'"]),
    deep_path_10k: Check(deep_path) => deep_file_reads,
    duplicate_files: Tree(&["f f 600 0:0 7b"]),
    duplicate_dir_then_file: Tree(&["d f 644 0:0 11b"]),
    file_under_file: Refused(&["f/child", NOT_DIR]),
    root_as_file: Refused(&["names the root but is not a directory"]),
    root_attrs: Tree(&["/ d 700 5:6", "f f 644 0:0 1b"]),
    whiteout_of_root: Refused(&["whiteout of an invalid name"]),
    whiteout_of_dotdot: Refused(&["a/.wh...", "whiteout of an invalid name"]),
    whiteout_of_dot: Refused(&["whiteout of an invalid name"]),
    whiteout_as_directory: Refused(&[".wh.dir/inside", "used as a directory"]),
    whiteout_names_odd: Tree(&[
        "a d 755 0:0 opaque",
        "b d 755 0:0",
        "b/gone w 644 0:0",
        "b/x.wh.y f 644 0:0 5b",
    ]),
    aufs_meta_dirs: Tree(&["kept f 644 0:0 1b"]),
    whiteout_then_same_name: Tree(&["d d 755 0:0 opaque", "d/x f 644 0:0 1b", "f f 644 0:0 5b"]),
    device_nodes: Tree(&[
        "dev d 755 0:0",
        "dev/fifo p 644 0:0",
        "dev/null c 666 0:0 1:3",
        "dev/sda b 660 0:0 8:0",
    ]),
    setuid_files: Tree(&[
        "bin d 755 0:0",
        "bin/su f 4755 0:0 10b",
        "bin/wall f 2755 0:5 10b",
        "tmp d 1777 0:0",
    ]),
    empty_archive: Tree(&[]),
    trailing_garbage: Tree(&["f f 644 0:0 1b"]),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile")
}

/// Host paths the corpus aims at; none may ever exist.
const HOST_TARGETS: &[&str] = &["/tmp/sealer-hostile-canary", "/etc/pwned", "/canary"];

/// One line per entry below the root (the root only when not 755 0:0):
/// `path kind mode uid:gid [size | -> target | major:minor] [opaque] [nlink=N] [xattrs=N]`.
fn tree(index: &LayerIndex) -> Vec<String> {
    let mut out = Vec::new();
    let root = index.meta(ROOT);
    if (root.mode, root.uid, root.gid) != (0o755, 0, 0) {
        out.push(format!("/ d {:o} {}:{}", root.mode, root.uid, root.gid));
    }
    let mut stack = vec![ROOT];
    while let Some(dir) = stack.pop() {
        for id in index.children(dir).rev() {
            let m = index.meta(id);
            let path = String::from_utf8_lossy(&index.path(id)).into_owned();
            let path = path.trim_start_matches('/').to_string();
            let (k, extra) = match m.kind {
                Kind::File => ('f', format!(" {}b", m.size)),
                Kind::Dir => {
                    stack.push(id);
                    ('d', String::new())
                }
                Kind::Symlink => {
                    let t = index.link_target(id);
                    let shown = if t.len() > 64 {
                        format!("<{} bytes>", t.len())
                    } else {
                        String::from_utf8_lossy(t).into_owned()
                    };
                    ('l', format!(" -> {shown}"))
                }
                Kind::CharDev => ('c', format!(" {}:{}", major(m.rdev()), minor(m.rdev()))),
                Kind::BlockDev => ('b', format!(" {}:{}", major(m.rdev()), minor(m.rdev()))),
                Kind::Fifo => ('p', String::new()),
                Kind::Whiteout => ('w', String::new()),
            };
            let mut line = format!("{path} {k} {:o} {}:{}{extra}", m.mode, m.uid, m.gid);
            if m.opaque {
                line.push_str(" opaque");
            }
            if m.nlink > 1 {
                line.push_str(&format!(" nlink={}", m.nlink));
            }
            let x = index.xattrs(id).count();
            if x > 0 {
                line.push_str(&format!(" xattrs={x}"));
            }
            out.push(line);
        }
    }
    out.sort();
    out
}

fn long_link_and_xattr(index: &LayerIndex) {
    assert_eq!(tree(index), ["l l 644 0:0 -> <70000 bytes> xattrs=1"]);
}

fn deep_path(index: &LayerIndex) {
    let mut id = ROOT;
    for depth in 0..10_000 {
        id = index
            .lookup(id, b"d")
            .unwrap_or_else(|| panic!("directory missing at depth {depth}"));
    }
    let leaf = index.lookup(id, b"leaf").expect("the leaf at depth 10000");
    assert_eq!(index.meta(leaf).size, 5);
    assert_eq!(index.len(), 10_002, "root, 10000 dirs, the leaf");
}

/// Reads every file under a mounted image (not following symlinks).
fn read_all(dir: &Path) -> usize {
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.expect("dir entry");
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            n += read_all(&e.path());
        } else if ft.is_file() {
            fs::read(e.path()).unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
            n += 1;
        }
    }
    n
}

/// Loads the corpus file `name` into a fresh store and checks its outcome:
/// refused in one line with the store unchanged, or loaded as the expected
/// tree, listed, checked by `after`, mounted and read (every regular file of
/// its index), `fsck` clean. Nothing is written outside the store.
fn check_layer(name: &str, expect: Expect, after: Option<fn(&Env)>) {
    let env = Env::new();
    let canary = env.write("canary/keep", "the canary\n");
    let canary_dir = canary.parent().expect("canary dir").to_path_buf();
    let before_canary = Snapshot::of(&canary_dir);
    env.run(&["images"]);
    let layer = fs::read(corpus_dir().join(format!("{name}.tar"))).expect("corpus file");
    let (archive, diff_id) = docker_archive(&env, name, &layer);
    let load = env.sealer().args(["load", "-q", "-i"]).arg(&archive);
    match expect {
        Refused(parts) => {
            fails_cleanly(&env, load, parts);
        }
        Tree(_) | Check(_) => {
            load.ok();
            let store = Store::open(&env.root()).expect("opening the store");
            let d: Digest = diff_id.parse().expect("a digest");
            let layer = store.open_layer(&d).expect("opening the layer");
            match expect {
                Tree(want) => assert_eq!(tree(&layer.index), want, "tree of {name}"),
                Check(check) => check(&layer.index),
                Refused(_) => unreachable!(),
            }
            let files = (0..layer.index.len())
                .filter(|&id| layer.index.kind(id) == Kind::File)
                .count();
            drop((layer, store));
            let image = format!("hostile/{name}:1");
            env.run(&["ls", "-lR", &image]);
            if let Some(after) = after {
                after(&env);
            }
            if !UNMOUNTABLE.contains(&name) {
                let m = mount(&env, &image, "mnt");
                assert_eq!(
                    read_all(&m.dir),
                    files,
                    "files read through the mount of {name}"
                );
            }
            let fsck = env.run(&["fsck"]);
            assert!(fsck.contains("no problems found"), "{fsck}");
        }
    }
    before_canary.assert_same(&Snapshot::of(&canary_dir), name);
    let outside: Vec<String> = fs::read_dir(env.dir())
        .expect("reading the test dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !["store", "archives", "canary", "mnt"].contains(&n.as_str()))
        .collect();
    assert!(outside.is_empty(), "written outside the store: {outside:?}");
    for p in HOST_TARGETS {
        assert!(!Path::new(p).exists(), "{p} was created");
    }
}

/// Accepted layers a mount cannot walk: the deep one exceeds PATH_MAX.
const UNMOUNTABLE: &[&str] = &["deep_path_10k"];

/// The symlinks of an accepted image resolve inside it, never on the host.
fn symlinks_stay_inside(env: &Env) {
    let line = env
        .sealer()
        .args(["cat", "hostile/symlink_targets_kept:1", "rel"])
        .fails();
    assert!(!line.contains("root:"), "{line}");
    env.sealer()
        .args(["cat", "hostile/symlink_targets_kept:1", "loop1"])
        .fails();
}

/// The leaf 10,000 directories down reads through `sealer cat`.
fn deep_file_reads(env: &Env) {
    let deep = format!("{}/leaf", vec!["d"; 10_000].join("/"));
    let out = env.run(&["cat", "hostile/deep_path_10k:1", &deep]);
    assert_eq!(out, "deep\n");
}

#[test]
fn every_corpus_file_has_a_case() {
    let listed: BTreeSet<&str> = CASES.iter().copied().collect();
    let on_disk: BTreeSet<String> = fs::read_dir(corpus_dir())
        .expect("reading tests/data/hostile")
        .filter_map(|e| {
            let name = e.expect("dir entry").file_name().into_string().ok()?;
            name.strip_suffix(".tar").map(str::to_string)
        })
        .collect();
    let on_disk_ref: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        listed, on_disk_ref,
        "every corpus file has an expected outcome"
    );
    assert_eq!(listed.len(), CASES.len(), "no corpus file is listed twice");
    assert!(CASES.len() >= 50, "the corpus has {} layers", CASES.len());
}

/// Streams a tar of one directory holding `n` empty files (512 bytes each);
/// returns its digest.
fn write_wide_layer(path: &Path, n: u32) -> String {
    use sha2::Digest as _;
    let file = fs::File::create(path).expect("creating the wide layer");
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut hash = sha2::Sha256::new();
    let mut put = |bytes: &[u8]| {
        hash.update(bytes);
        w.write_all(bytes).expect("writing the wide layer");
    };
    let mut h = tar::Header::new_ustar();
    h.set_path("wide/").expect("path");
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_cksum();
    put(h.as_bytes());
    for i in 0..n {
        let mut h = tar::Header::new_ustar();
        h.set_path(format!("wide/f{i:07}")).expect("path");
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_cksum();
        put(h.as_bytes());
    }
    put(&[0u8; 1024]);
    w.flush().expect("flushing");
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Runs `sealer ARGS` and returns (exit code, peak RSS in KiB, stderr) from
/// the kernel's own accounting of that one child (wait4's rusage).
#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn run_measured(env: &Env, args: &[&str]) -> (i32, u64, String) {
    use std::os::unix::process::ExitStatusExt;
    let stderr = env.path("measured.stderr");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sealer"))
        .arg("--root")
        .arg(env.root())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawning sealer");
    let (status, rss) = wait4(child.id());
    let text = fs::read_to_string(&stderr).unwrap_or_default();
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    (code, rss, text)
}

/// `wait4(2)`: the child's wait status and its peak RSS (KiB).
#[allow(unsafe_code)]
fn wait4(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as i32, "wait4: {}", std::io::Error::last_os_error());
    (status, usage.ru_maxrss as u64)
}

#[test]
fn a_directory_of_a_million_entries_loads_in_bounded_memory() {
    const N: u32 = 1_000_000;
    let env = Env::new();
    let layer = env.path("wide.tar");
    let diff_id = write_wide_layer(&layer, N);
    let bytes = fs::metadata(&layer).expect("layer size").len();
    let archive = env.path("wide-archive.tar");
    {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": sealer::image::oci::host_arch(), "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .expect("config");
        let manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": "config.json", "RepoTags": ["wide:1"], "Layers": ["layer.tar"],
        }]))
        .expect("manifest");
        let mut b = tar::Builder::new(BufWriter::new(fs::File::create(&archive).expect("archive")));
        b.append_path_with_name(&layer, "layer.tar")
            .expect("layer member");
        for (member, data) in [("config.json", config), ("manifest.json", manifest)] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, member, &data[..]).expect("member");
        }
        b.into_inner().and_then(|mut w| w.flush()).expect("archive");
    }
    fs::remove_file(&layer).expect("removing the loose layer");
    let (code, peak_kib, stderr) = run_measured(
        &env,
        &["load", "-q", "-i", archive.to_str().expect("utf-8")],
    );
    assert_eq!(code, 0, "loading the wide layer failed:\n{stderr}");
    fs::remove_file(&archive).expect("removing the archive");
    // The index holds ~100 bytes per entry; the builder's tree ~300 (394 MiB
    // measured for this layer).
    // Memory must follow the entries, never the layer's bytes (here 512 MB).
    let limit_kib = 512 * 1024;
    eprintln!(
        "wide layer: {N} entries, {} MB, peak RSS of `sealer load` {} MiB",
        bytes >> 20,
        peak_kib / 1024
    );
    assert!(
        peak_kib < limit_kib,
        "sealer load peaked at {peak_kib} KiB for {N} entries (limit {limit_kib} KiB)"
    );
    // The first and the last of the million are there (a lookup each).
    for f in ["wide/f0000000", "wide/f0999999"] {
        env.run(&["ls", "wide:1", f]);
    }
    env.sealer().args(["ls", "wide:1", "wide/f1000000"]).fails();
}
