//! Test helpers: a unique temporary directory and store per test, a command
//! builder that runs the built `sealer` binary with `--root`, build contexts
//! written from tables, the bundled examples built as a user builds them,
//! docker-archives of one layer, and snapshots of a whole store to prove it
//! unchanged after a refused command.

// Helpers serve every test module; not each module uses all of them.
#![allow(dead_code)]

pub mod flaky;
pub mod http;
pub mod push;
pub mod registry;
pub mod user;
pub mod xattr;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// One test's world: a temporary directory holding the store and contexts.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A fresh temporary directory; the store lives in `<dir>/store`.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("sealer-test-")
            .tempdir()
            .expect("creating a temporary directory");
        Env { dir }
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store root passed as `--root`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A path inside the temporary directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("a parent")).expect("creating parents");
        fs::write(&p, content).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        p
    }

    /// Creates a build context `name` holding `files` (path, content); a
    /// path ending in `/` is an empty directory.
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.path(name);
        fs::create_dir_all(&ctx).expect("creating the context");
        for (rel, content) in files {
            if rel.ends_with('/') {
                fs::create_dir_all(ctx.join(rel)).expect("creating a directory");
            } else {
                self.write(&format!("{name}/{rel}"), content);
            }
        }
        ctx
    }

    /// `sealer --root <store>` run from the temporary directory.
    pub fn sealer(&self) -> Sealer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealer"));
        cmd.arg("--root")
            .arg(self.root())
            .current_dir(self.dir.path());
        cmd.env_remove("SEALER_ROOT")
            .env_remove("RUST_BACKTRACE")
            .env_remove("SOURCE_DATE_EPOCH");
        Sealer {
            cmd,
            shown: vec!["sealer".into()],
        }
    }

    /// Runs `sealer ARGS...`, which must succeed; returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        self.sealer().args(args).ok().stdout
    }

    /// `sealer build -t TAG CONTEXT`, which must succeed.
    pub fn build(&self, tag: &str, context: &Path) -> Run {
        self.sealer().args(["build", "-t", tag]).arg(context).ok()
    }

    /// `sealer inspect --format json IMAGE`, parsed.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = self.run(&["inspect", "--format", "json", image]);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}):\n{out}"))
    }

    /// The layer ids (`sha256:...`) of an image, bottom first.
    pub fn layer_ids(&self, image: &str) -> Vec<String> {
        let spec = self.inspect(image);
        let layers = spec["spec"]["layers"]
            .as_array()
            .expect("spec.layers is an array");
        layers
            .iter()
            .map(|l| l["id"].as_str().expect("layer id").to_string())
            .collect()
    }

    /// Path of a blob given as `sha256:<hex>`.
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.root().join("blobs/sha256").join(hex(digest))
    }

    /// Path of a layer's index given as `sha256:<hex>`.
    pub fn index(&self, digest: &str) -> PathBuf {
        self.root().join("index/sha256").join(hex(digest))
    }

    /// Every file under the store root with its type, mode and content hash.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.root())
    }
}

fn hex(digest: &str) -> &str {
    digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{digest:?} is not a sha256 digest"))
}

/// Stores `tars` (bottom first) as the layers of image `name`, through the
/// library, and returns the layer digests (`sha256:<hex>`).
pub fn store_image(env: &Env, name: &str, tars: &[Vec<u8>]) -> Vec<String> {
    use sealer::image::oci::{Config, RootFs};
    let store = sealer::store::Store::open(&env.root()).expect("opening the store");
    let mut layers = Vec::new();
    for (i, tar) in tars.iter().enumerate() {
        let ingested = store
            .ingest_layer(&tar[..], None)
            .unwrap_or_else(|e| panic!("ingesting layer {i}: {e}"));
        layers.push((ingested.digest, ingested.size));
    }
    let config = Config {
        architecture: sealer::image::oci::host_arch().into(),
        os: "linux".into(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.0).collect(),
        },
        ..Config::default()
    };
    store
        .commit_image(&config, &layers, name)
        .unwrap_or_else(|e| panic!("committing {name}: {e}"));
    layers.iter().map(|l| l.0.to_string()).collect()
}

/// A `sealer` command being assembled.
pub struct Sealer {
    cmd: Command,
    shown: Vec<String>,
}

/// What a finished command printed.
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard output as the bytes printed (names need not be UTF-8).
    pub stdout_bytes: Vec<u8>,
    /// Standard error.
    pub stderr: String,
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
}

impl Sealer {
    /// Adds an argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Sealer {
        self.shown.push(a.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(a);
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Sealer {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Sets an environment variable of the command.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Sealer {
        self.cmd.env(key, value);
        self
    }

    /// Feeds the file at `path` to the command's standard input.
    pub fn stdin_file(mut self, path: &Path) -> Sealer {
        let f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.cmd.stdin(f);
        self
    }

    /// Runs from `dir` instead of the temporary directory.
    pub fn current_dir(mut self, dir: &Path) -> Sealer {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs the command, whatever its outcome.
    pub fn output(mut self) -> Run {
        let out: Output = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.shown.join(" ")));
        let run = Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stdout_bytes: out.stdout.clone(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "`{}` panicked:\n{}",
            self.shown.join(" "),
            run.stderr
        );
        run
    }

    /// Runs the command, which must exit 0.
    pub fn ok(self) -> Run {
        let shown = self.shown.join(" ");
        let run = self.output();
        assert_eq!(
            run.code,
            Some(0),
            "`{shown}` failed\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        run
    }

    /// Runs the command, which must fail the way every failure does: exit
    /// status 1 and exactly one stderr line starting with `error:`, which is
    /// returned.
    pub fn fails(self) -> String {
        let shown = self.shown.join(" ");
        let run = self.output();
        assert_eq!(
            run.code,
            Some(1),
            "`{shown}` must exit 1\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "`{shown}` must print exactly one error line; stderr:\n{}",
            run.stderr
        );
        let line = errors[0].to_string();
        assert_no_repeated_cause(&line);
        line
    }
}

/// Fails if a message says the same cause twice (`a: b: c: b: c`).
fn assert_no_repeated_cause(line: &str) {
    for (i, _) in line.match_indices(": ") {
        let (head, tail) = (&line[..i], &line[i + 2..]);
        assert!(
            tail.len() < 8 || !head.ends_with(tail),
            "the error repeats its cause {tail:?}: {line}"
        );
    }
}

/// Runs `cmd`, which must fail cleanly (see [`Sealer::fails`]), mention
/// every one of `parts`, and leave the store byte-for-byte as it was.
/// Returns the error line.
pub fn fails_cleanly(env: &Env, cmd: Sealer, parts: &[&str]) -> String {
    let before = env.snapshot();
    let line = cmd.fails();
    assert_mentions(&line, parts);
    before.assert_same(&env.snapshot(), &line);
    line
}

/// Asserts that `line` mentions every one of `parts`.
pub fn assert_mentions(line: &str, parts: &[&str]) {
    for p in parts {
        assert!(line.contains(p), "expected {p:?} in: {line}");
    }
}

/// Every path under a store root: type, permissions and content (sha256).
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<String, String>);

impl Snapshot {
    /// Walks `root`, ignoring nothing.
    pub fn of(root: &Path) -> Snapshot {
        let mut map = BTreeMap::new();
        walk(root, root, &mut map);
        Snapshot(map)
    }

    /// Asserts `self` (before) equals `after`, listing what differs.
    pub fn assert_same(&self, after: &Snapshot, what: &str) {
        if self == after {
            return;
        }
        let mut diff = Vec::new();
        for (k, v) in &self.0 {
            match after.0.get(k) {
                None => diff.push(format!("- {k} {v}")),
                Some(w) if w != v => diff.push(format!("~ {k} {v} -> {w}")),
                _ => {}
            }
        }
        for (k, v) in &after.0 {
            if !self.0.contains_key(k) {
                diff.push(format!("+ {k} {v}"));
            }
        }
        panic!("{what} changed the store:\n{}", diff.join("\n"));
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        let md = fs::symlink_metadata(&path).expect("stat");
        let mode = md.permissions().mode() & 0o7777;
        let desc = if md.is_dir() {
            walk(root, &path, out);
            format!("dir {mode:o}")
        } else if md.is_file() {
            format!(
                "file {mode:o} {}",
                sha256_hex(&fs::read(&path).expect("read"))
            )
        } else if md.file_type().is_symlink() {
            format!(
                "symlink {}",
                fs::read_link(&path).expect("readlink").display()
            )
        } else {
            format!("other {:o} rdev {}", md.mode(), md.rdev())
        };
        out.insert(rel, desc);
    }
}

/// sha256 of `bytes` as 64 hex characters.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A directory of this repository's `examples/`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// The image `examples/cluster-rootfs` is built as.
pub const BASE: &str = "kubernetes:v1.19.8";
/// The image `examples/override` (`FROM kubernetes:v1.19.8`) is built as.
pub const MINE: &str = "my-k8s:v1.19.8";

/// Builds `examples/cluster-rootfs` as [`BASE`] and `examples/override` as
/// [`MINE`] the way a user does: the override with its own Kubefile name
/// (`-f Kubefile.override .`), from inside its context.
pub fn build_examples(env: &Env) {
    let base = env.build(BASE, &example("cluster-rootfs"));
    assert!(
        base.stderr.contains(&format!("Successfully built {BASE}")),
        "{}",
        base.stderr
    );
    let ctx = env.path("override");
    copy_tree(&example("override"), &ctx);
    fs::rename(ctx.join("Kubefile"), ctx.join("Kubefile.override")).expect("renaming the Kubefile");
    env.sealer()
        .args(["build", "-t", MINE, "-f", "Kubefile.override", "."])
        .current_dir(&ctx)
        .ok();
}

/// Writes a docker-archive holding one image `hostile/<name>:1` with `layer`
/// as its only layer; returns the archive's path and the layer's digest.
pub fn docker_archive(env: &Env, name: &str, layer: &[u8]) -> (PathBuf, String) {
    let diff_id = format!("sha256:{}", sha256_hex(layer));
    let config = serde_json::json!({
        "architecture": sealer::image::oci::host_arch(),
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config = serde_json::to_vec(&config).expect("config JSON");
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [format!("hostile/{name}:1")],
        "Layers": ["layer.tar"],
    }]);
    let manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
    let path = env.path(&format!("archives/{name}.tar"));
    fs::create_dir_all(path.parent().expect("a parent")).expect("archives dir");
    let file = fs::File::create(&path).expect("creating the archive");
    let mut b = tar::Builder::new(BufWriter::new(file));
    for (member, bytes) in [
        ("layer.tar", layer),
        ("config.json", &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, member, bytes)
            .expect("archive member");
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .expect("finishing the archive");
    (path, diff_id)
}

/// Copies a directory tree (files, directories, symlinks).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("creating the copy");
    for e in fs::read_dir(from).expect("reading the source") {
        let e = e.expect("dir entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            copy_tree(&src, &dst);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).expect("readlink"), &dst)
                .expect("symlink");
        } else {
            fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
        }
    }
}

/// Runs an external program, which must succeed; returns its stdout. A
/// missing program fails the test with what to install.
pub fn tool(program: &str, args: &[&str], install: &str) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); this test needs it: install it with `apt-get install {install}` (.ci/run does)")
    });
    assert!(
        out.status.success(),
        "`{program} {}` failed ({})\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This machine's architecture as OCI names it (`amd64`, `arm64`, ...).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
