//! Bad input: every failure exits 1 with one `error:` line naming what and
//! where (the Kubefile and its line when there is one) and leaves the store
//! byte-for-byte as it was; damaged blobs are reported by digest, damaged or
//! missing layer indexes are rebuilt.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::util::{assert_mentions, fails_cleanly, Env};

/// A store holding `base:v1` (one layer: etc/a.conf, bin/tool).
fn store_with_base() -> Env {
    let env = Env::new();
    let ctx = env.context(
        "base",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("etc/a.conf", "a=1\n"),
            ("bin/tool", "#!/bin/sh\n"),
        ],
    );
    env.build("base:v1", &ctx);
    env
}

/// Writes a context `name` with `kubefile` and a few files; returns the
/// Kubefile's path as the error messages show it.
fn kubefile_context(env: &Env, name: &str, kubefile: &str) -> (PathBuf, String) {
    let ctx = env.context(
        name,
        &[
            ("Kubefile", kubefile),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("dir/c.txt", "c\n"),
        ],
    );
    let shown = ctx.join("Kubefile").display().to_string();
    (ctx, shown)
}

#[test]
fn kubefile_errors_name_the_file_and_line_and_change_nothing() {
    let env = store_with_base();
    env.write("outside.txt", "not in the context\n");
    // (Kubefile, line of the error, words the error must contain)
    let cases: &[(&str, usize, &[&str])] = &[
        ("FROM base:v1\nCOPY a.txt etc/\n!!! nonsense\n", 3, &["!!!"]),
        (
            "FROM base:v1\n\n# a comment\nFROBNICATE a.txt\n",
            4,
            &["unknown instruction", "FROBNICATE"],
        ),
        (
            "FROM base:v1\nCOPY a.txt etc/\nRUN echo hi > etc/x && exit 4\n",
            3,
            &["RUN", "exit status: 4"],
        ),
        (
            "FROM base:v1\nCOPY a.txt \\\n  b.txt etc/\nRUN false\n",
            4,
            &["RUN", "false"],
        ),
        (
            "FROM base:v1\nCOPY nothere.txt etc/\n",
            2,
            &["nothere.txt", "no such file"],
        ),
        ("FROM base:v1\nCOPY dir/*.yaml etc/\n", 2, &["dir/*.yaml"]),
        (
            "FROM base:v1\nCOPY ../outside.txt etc/\n",
            2,
            &["../outside.txt", "outside the build context"],
        ),
        (
            "FROM base:v1\nCOPY a.txt ../../etc/\n",
            2,
            &["leaves the rootfs"],
        ),
        (
            "FROM base:v1\nCOPY a.txt b.txt etc/x\n",
            2,
            &["destination"],
        ),
        ("FROM base:v1\nLABEL a=\"unterminated\n", 2, &["quote"]),
        ("FROM base:v1\nCOPY a.txt\n", 2, &["destination"]),
        (
            "FROM nothere:v1\nCOPY a.txt etc/\n",
            1,
            &["nothere:v1", "not in the store"],
        ),
        ("COPY a.txt etc/\n", 1, &["FROM"]),
        ("FROM base:v1\nFROM base:v1\n", 2, &["FROM"]),
        (
            "FROM base:v1\nAPP myapp ftp://example.com/app.yaml\n",
            2,
            &[
                "ftp://example.com/app.yaml",
                "local://PATH or http(s)://URL",
            ],
        ),
        ("FROM base:v1\nKUBEVERSION\n", 2, &["KUBEVERSION"]),
    ];
    for (i, (kubefile, line, words)) in cases.iter().enumerate() {
        let (ctx, shown) = kubefile_context(&env, &format!("case{i}"), kubefile);
        let at = format!("{shown}:{line}");
        let mut want = vec![at.as_str()];
        want.extend_from_slice(words);
        fails_cleanly(
            &env,
            env.sealer().args(["build", "-t", "bad:v1"]).arg(&ctx),
            &want,
        );
    }
    assert_eq!(
        env.run(&["images", "-q"]).lines().count(),
        1,
        "no image was tagged"
    );
}

#[test]
fn missing_context_or_kubefile_is_named() {
    let env = store_with_base();
    let nowhere = env.path("nowhere");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "x:v1"]).arg(&nowhere),
        &["build context", &nowhere.display().to_string()],
    );
    let file = env.write("plain-file", "x");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "x:v1"]).arg(&file),
        &["not a directory", &file.display().to_string()],
    );
    let empty = env.context("empty", &[("a.txt", "a\n")]);
    let kubefile = empty.join("Kubefile").display().to_string();
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "x:v1"]).arg(&empty),
        &["Kubefile", &kubefile, "No such file"],
    );
    let other = env.path("missing.kubefile").display().to_string();
    fails_cleanly(
        &env,
        env.sealer()
            .args(["build", "-t", "x:v1", "-f", &other])
            .arg(&empty),
        &[&other],
    );
    fs::write(empty.join("Kubefile"), "# only a comment\n").expect("Kubefile");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "x:v1"]).arg(&empty),
        &[&kubefile, "no instructions"],
    );
    fs::write(empty.join("Kubefile"), [0xff, 0xfe, b'\n']).expect("Kubefile");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "x:v1"]).arg(&empty),
        &[&kubefile, "UTF-8"],
    );
    fs::write(empty.join("Kubefile"), "FROM scratch\nCOPY a.txt etc/\n").expect("Kubefile");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "Bad:Name"]).arg(&empty),
        &["Bad:Name"],
    );
    fails_cleanly(
        &env,
        env.sealer()
            .args(["build", "-t", "x:v1", "--build-arg", "NOEQUALS"])
            .arg(&empty),
        &["NOEQUALS"],
    );
}

#[test]
fn copy_never_follows_a_symlink_out_of_the_context() {
    let env = store_with_base();
    env.write("outside/secret.txt", "host secret\n");
    let (ctx, shown) = kubefile_context(&env, "abs", "FROM base:v1\nCOPY leak/secret.txt etc/\n");
    std::os::unix::fs::symlink(env.path("outside"), ctx.join("leak")).expect("symlink");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "bad:v1"]).arg(&ctx),
        &[
            &format!("{shown}:2"),
            "leak/secret.txt",
            "outside the build context",
        ],
    );

    let (ctx, shown) = kubefile_context(&env, "rel", "FROM base:v1\nCOPY [\"leak\", \"etc/\"]\n");
    std::os::unix::fs::symlink("../outside/secret.txt", ctx.join("leak")).expect("symlink");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "bad:v1"]).arg(&ctx),
        &[&format!("{shown}:2"), "leak", "outside the build context"],
    );

    // Copied as part of a directory, the same symlink is kept as a symlink.
    let (ctx, _) = kubefile_context(&env, "kept", "FROM base:v1\nCOPY dir etc/\n");
    std::os::unix::fs::symlink("../../outside/secret.txt", ctx.join("dir/leak")).expect("symlink");
    env.build("kept:v1", &ctx);
    let long = env.run(&["ls", "-l", "kept:v1", "etc/leak"]);
    assert!(
        long.starts_with('l')
            && long
                .trim_end()
                .ends_with("leak -> ../../outside/secret.txt"),
        "{long}"
    );
    let line = env.sealer().args(["cat", "kept:v1", "etc/leak"]).fails();
    assert!(
        !line.contains("host secret"),
        "cat resolves inside the image only: {line}"
    );
}

#[test]
fn a_fifo_in_the_context_is_refused() {
    let env = store_with_base();
    let (ctx, shown) = kubefile_context(
        &env,
        "fifo",
        "FROM base:v1\nCOPY a.txt etc/\nCOPY . stuff/\n",
    );
    nix::unistd::mkfifo(
        &ctx.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "bad:v1"]).arg(&ctx),
        &[&format!("{shown}:3"), "pipe", "named pipe"],
    );
}

#[test]
fn unknown_images_and_paths_are_named_in_every_command() {
    let env = store_with_base();
    let cases: &[(&[&str], &[&str])] = &[
        (&["ls", "nothere"], &["nothere"]),
        (&["ls", "nothere:v1", "etc"], &["nothere:v1"]),
        (&["cat", "nothere", "etc/a.conf"], &["nothere"]),
        (&["inspect", "nothere:v1"], &["nothere:v1"]),
        (
            &["inspect", "--format", "json", "0123456789ab"],
            &["0123456789ab"],
        ),
        (&["tag", "nothere:v1", "other:v1"], &["nothere:v1"]),
        (&["tag", "base:v1", "Not/Valid:ref"], &["Not/Valid:ref"]),
        (&["rmi", "nothere:v1"], &["nothere:v1"]),
        (&["rmi", "base:v1", "nothere:v1"], &["nothere:v1"]),
        (
            &["cat", "base:v1", "etc/nope.conf"],
            &["etc/nope.conf", "base:v1"],
        ),
        (&["cat", "base:v1", "etc"], &["etc", "directory"]),
        (&["ls", "base:v1", "nope"], &["nope", "base:v1"]),
    ];
    for (args, words) in cases {
        fails_cleanly(&env, env.sealer().args(*args), words);
    }
    assert_eq!(
        env.run(&["cat", "base:v1", "etc/a.conf"]),
        "a=1\n",
        "the failed rmi removed nothing"
    );
}

/// The digest (`sha256:...`) of base:v1's only layer, and its blob path.
fn base_layer(env: &Env) -> (String, PathBuf) {
    let d = env.layer_ids("base:v1").remove(0);
    let p = env.blob(&d);
    (d, p)
}

/// Damages happen long after the blob was stored; make sure its mtime moves.
fn later() {
    std::thread::sleep(Duration::from_millis(20));
}

fn flip(path: &PathBuf, at: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut b = [0u8; 2];
    f.seek(SeekFrom::Start(at)).expect("seek");
    std::io::Read::read_exact(&mut f, &mut b).expect("read");
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&[b[0] ^ 0xff, b[1] ^ 0x55]).expect("write");
}

#[test]
fn damaged_layer_blobs_are_reported_by_digest() {
    // (what, damage) applied to a fresh copy of the store each time.
    type Damage = fn(&PathBuf, &[u8]);
    let cases: &[(&str, Damage)] = &[
        ("flipped file bytes", |p, blob| {
            let at = blob
                .windows(4)
                .position(|w| w == b"a=1\n")
                .expect("file data in the blob");
            flip(p, at as u64);
        }),
        ("flipped header bytes", |p, _| flip(p, 0)),
        ("truncated", |p, blob| {
            OpenOptions::new()
                .write(true)
                .open(p)
                .expect("open")
                .set_len(blob.len() as u64 / 2)
                .expect("truncate")
        }),
        ("cut at a header", |p, _| {
            OpenOptions::new()
                .write(true)
                .open(p)
                .expect("open")
                .set_len(700)
                .expect("truncate")
        }),
        ("not a tar, same size", |p, blob| {
            fs::write(p, vec![b'x'; blob.len()]).expect("write")
        }),
        ("not a tar", |p, _| {
            fs::write(p, b"this is not a tar\n").expect("write")
        }),
        ("empty", |p, _| fs::write(p, b"").expect("write")),
        ("missing", |p, _| fs::remove_file(p).expect("remove")),
    ];
    for (what, damage) in cases {
        let env = store_with_base();
        let (digest, blob) = base_layer(&env);
        let bytes = fs::read(&blob).expect("blob");
        later();
        damage(&blob, &bytes);
        let line = fails_cleanly(
            &env,
            env.sealer().args(["cat", "base:v1", "etc/a.conf"]),
            &[&digest],
        );
        assert!(
            !line.contains("a=1"),
            "{what}: no content from a damaged blob: {line}"
        );
        fails_cleanly(&env, env.sealer().args(["ls", "-R", "base:v1"]), &[&digest]);
    }
}

#[test]
fn damaged_or_missing_layer_indexes_are_rebuilt() {
    type Damage = fn(&PathBuf, &PathBuf);
    let cases: &[(&str, Damage)] = &[
        ("deleted", |p, _| fs::remove_file(p).expect("remove")),
        ("flipped bytes", |p, _| flip(p, 200)),
        ("flipped header", |p, _| flip(p, 10)),
        ("truncated", |p, _| {
            OpenOptions::new()
                .write(true)
                .open(p)
                .expect("open")
                .set_len(100)
                .expect("truncate")
        }),
        ("empty", |p, _| fs::write(p, b"").expect("write")),
        ("another layer's index", |p, other| {
            fs::copy(other, p).map(drop).expect("copy")
        }),
    ];
    for (what, damage) in cases {
        let env = store_with_base();
        let ctx = env.context(
            "other",
            &[
                ("Kubefile", "FROM scratch\nCOPY x.txt x/\n"),
                ("x.txt", "x\n"),
            ],
        );
        env.build("other:v1", &ctx);
        let (digest, _) = base_layer(&env);
        let index = env.index(&digest);
        let other = env.index(&env.layer_ids("other:v1")[0]);
        let good = fs::read(&index).expect("index");
        damage(&index, &other);
        let out = env.sealer().args(["cat", "base:v1", "etc/a.conf"]).output();
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(0), "a=1\n"),
            "{what}: cat still works; stderr:\n{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("error"),
            "{what}: at most a warning:\n{}",
            out.stderr
        );
        assert_eq!(
            fs::read(&index).expect("rebuilt index"),
            good,
            "{what}: the index is rebuilt as it was"
        );
        assert_eq!(env.run(&["ls", "base:v1", "etc"]), "a.conf\n");
    }
}

#[test]
fn a_full_disk_mid_build_leaves_the_store_as_it_was() {
    let env = Env::new();
    let small = env.path("small");
    fs::create_dir_all(&small).unwrap();
    crate::util::tool(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=3m",
            "tmpfs",
            &small.to_string_lossy(),
        ],
        "mount",
    );
    /// Unmounts the small disk, also when the test fails.
    struct Tmpfs(PathBuf);
    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _tmpfs = Tmpfs(small.clone());
    let root = small.join("store");
    let run = |args: &[&str], ctx: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sealer"))
            .arg("--root")
            .arg(&root)
            .args(args)
            .arg(ctx)
            .output()
            .unwrap()
    };
    let base = env.context(
        "base",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("etc/a.conf", "a\n"),
        ],
    );
    assert!(run(&["build", "-t", "base:v1"], &base).status.success());
    let big = env.context("big", &[("Kubefile", "FROM base:v1\nCOPY blob.bin bin/\n")]);
    let data: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    fs::write(big.join("blob.bin"), data).unwrap();
    let before = crate::util::Snapshot::of(&root);
    let out = run(&["build", "-t", "big:v1"], &big);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_mentions(errors[0], &["Kubefile:2", "No space left"]);
    before.assert_same(
        &crate::util::Snapshot::of(&root),
        "a build that filled the disk",
    );
}
