//! Writable mounts, `sealer diff`, `sealer commit` and Kubefile RUN, through
//! real FUSE mounts: edits land in the upper directory, a committed image
//! reads exactly like the edited mount, random operations agree byte for byte
//! with the same operations on a plain directory, and failures leave the
//! store as it was.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mount::{is_mounted, listing, mount, mount_with, Mounted};
use crate::util::{assert_mentions, build_examples, example, sha256_hex, tool, Env, Snapshot};

/// Content digests of every regular file under `root`, plus symlink targets.
fn contents(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                todo.push(p);
            } else if md.file_type().is_symlink() {
                out.push((rel, format!("-> {}", fs::read_link(&p).unwrap().display())));
            } else {
                out.push((rel, sha256_hex(&fs::read(&p).unwrap())));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn edits_diff_and_commit_become_one_layer() {
    let env = Env::new();
    build_examples(&env);
    let m = mount_with(&env, &["--rw", "my-k8s:v1.19.8"], "rw");
    let d = &m.dir;
    fs::write(d.join("etc/daemon.json"), b"{\"edited\": true}\n").unwrap();
    fs::remove_file(d.join("scripts/clean.sh")).unwrap();
    fs::create_dir(d.join("charts")).unwrap();
    fs::write(d.join("charts/app.yaml"), b"kind: App\n").unwrap();
    std::os::unix::fs::symlink("../etc/kubelet.service", d.join("charts/link")).unwrap();
    fs::set_permissions(d.join("bin/kubectl"), fs::Permissions::from_mode(0o700)).unwrap();
    // A lower directory removed and made again is opaque: nothing below shows.
    fs::remove_dir_all(d.join("statics")).unwrap();
    fs::create_dir(d.join("statics")).unwrap();
    fs::write(d.join("statics/new.yml"), b"new\n").unwrap();
    // Renaming a lower directory is EXDEV, as on overlayfs; mv copies instead.
    let err =
        fs::rename(d.join("registry"), d.join("reg2")).expect_err("rename of a lower directory");
    assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{err}");
    tool(
        "mv",
        &[
            &d.join("registry").to_string_lossy(),
            &d.join("reg2").to_string_lossy(),
        ],
        "coreutils",
    );
    assert!(d.join("reg2/docker/registry/README").is_file() && !d.join("registry").exists());
    assert_eq!(
        fs::read(d.join("etc/Clusterfile")).unwrap(),
        fs::read(example("cluster-rootfs/etc/Clusterfile")).unwrap()
    );

    let diff = env.run(&["diff", &d.to_string_lossy()]);
    for line in [
        "C /etc/daemon.json",
        "D /scripts/clean.sh",
        "A /charts/app.yaml",
        "C /bin/kubectl",
        "D /registry",
        "A /reg2",
        "D /statics/audit-policy.yml",
        "A /statics/new.yml",
    ] {
        assert!(
            diff.lines().any(|l| l == line),
            "missing {line:?} in diff:\n{diff}"
        );
    }
    assert!(
        !diff.contains("Clusterfile"),
        "untouched files are not listed:\n{diff}"
    );

    let edited_listing = listing(d);
    let edited_contents = contents(d);
    env.sealer()
        .args(["commit", &d.to_string_lossy(), "edited:v1", "--umount"])
        .ok();
    assert!(!is_mounted(d), "--umount unmounted it");
    let base_layers = env.layer_ids("my-k8s:v1.19.8");
    let layers = env.layer_ids("edited:v1");
    assert_eq!(layers.len(), base_layers.len() + 1, "base layers + one");
    assert_eq!(layers[..base_layers.len()], base_layers[..]);
    let spec = env.inspect("edited:v1");
    assert_eq!(spec["spec"]["layers"][2]["type"], "COMMIT");

    let c = mount(&env, "edited:v1", "committed");
    let mut committed = listing(&c.dir);
    let mut edited = edited_listing;
    // Directory link counts differ by nature (merged vs single layer); the rest must not.
    for l in [&mut committed, &mut edited] {
        for v in l.values_mut() {
            if v.starts_with('d') {
                *v = v.rsplit_once(' ').unwrap().0.to_string();
            }
        }
    }
    assert_eq!(
        committed, edited,
        "the committed image reads like the edited mount"
    );
    assert_eq!(contents(&c.dir), edited_contents);
    assert_eq!(
        fs::read_to_string(c.dir.join("statics/new.yml")).unwrap(),
        "new\n"
    );
    assert!(
        !c.dir.join("statics/audit-policy.yml").exists(),
        "opaque directory hides the lower files"
    );
}

#[test]
fn copy_up_keeps_metadata_and_upper_dir_is_given_or_removed() {
    let env = Env::new();
    build_examples(&env);
    let upper = env.path("my-upper");
    let m = mount_with(
        &env,
        &[
            "--rw",
            "--upper",
            &upper.to_string_lossy(),
            "kubernetes:v1.19.8",
        ],
        "rw",
    );
    let before = fs::metadata(m.dir.join("bin/kubeadm")).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(m.dir.join("bin/kubeadm"))
        .unwrap()
        .write_all(b"# more\n")
        .unwrap();
    let up = fs::metadata(upper.join("bin/kubeadm")).expect("copied up into --upper");
    assert_eq!(
        (up.mode() & 0o7777, up.uid(), up.gid()),
        (before.mode() & 0o7777, before.uid(), before.gid())
    );
    let dir = fs::metadata(upper.join("bin")).unwrap();
    assert_eq!(
        dir.mode() & 0o7777,
        0o755,
        "parents are copied up with their mode"
    );
    assert!(fs::read_to_string(m.dir.join("bin/kubeadm"))
        .unwrap()
        .ends_with("# more\n"));
    env.sealer().arg("umount").arg(&m.dir).ok();
    assert!(
        upper.join("bin/kubeadm").is_file(),
        "a given upper directory is kept"
    );

    let m = mount_with(&env, &["--rw", "kubernetes:v1.19.8"], "rw2");
    fs::write(m.dir.join("x"), b"x").unwrap();
    let table = env.run(&["mount"]);
    assert_mentions(&table, &["(rw)"]);
    env.sealer().arg("umount").arg(&m.dir).ok();
    let leftovers: Vec<_> = fs::read_dir(env.root().join("mounts"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(
        leftovers.is_empty(),
        "the default upper directory is removed by umount: {leftovers:?}"
    );
}

/// A tiny deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Applies `ops` random operations under `root`; the same seed gives the same operations.
fn random_ops(root: &Path, seed: u64, ops: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut log = Vec::new();
    let names = [
        "etc/daemon.json",
        "etc/kubeadm-config.yaml",
        "bin/kubectl",
        "scripts/init.sh",
        "new-a",
        "new-b",
        "etc/new-c",
    ];
    for _ in 0..ops {
        let path = root.join(names[rng.below(names.len() as u64) as usize]);
        match rng.below(6) {
            0 | 1 => {
                let off = rng.below(300_000);
                let len = 1 + rng.below(70_000) as usize;
                let byte = rng.below(256) as u8;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .unwrap();
                f.seek(SeekFrom::Start(off)).unwrap();
                f.write_all(&vec![byte; len]).unwrap();
                log.push(format!("write {} @{off} x{len}", path.display()));
            }
            2 => {
                let len = rng.below(200_000);
                if path.exists() {
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_len(len)
                        .unwrap();
                    log.push(format!("truncate {} {len}", path.display()));
                }
            }
            3 => {
                let to = root.join(names[rng.below(names.len() as u64) as usize]);
                if path.exists() && path != to {
                    fs::rename(&path, &to).unwrap();
                    log.push(format!("rename {} {}", path.display(), to.display()));
                }
            }
            4 => {
                if path.exists() {
                    fs::remove_file(&path).unwrap();
                    log.push(format!("unlink {}", path.display()));
                }
            }
            _ => {
                // Reopen and read back the whole file.
                if path.exists() {
                    let _ = fs::read(&path).unwrap();
                }
            }
        }
    }
    log
}

#[test]
fn random_writes_agree_with_a_plain_directory() {
    let env = Env::new();
    build_examples(&env);
    let plain = env.path("plain");
    {
        let ro = mount(&env, "kubernetes:v1.19.8", "ro");
        tool(
            "cp",
            &[
                "-a",
                &format!("{}/.", ro.dir.display()),
                &plain.to_string_lossy(),
            ],
            "coreutils",
        );
    }
    let m = mount_with(&env, &["--rw", "kubernetes:v1.19.8"], "rw");
    for seed in [1u64, 7, 42] {
        let a = random_ops(&plain, seed, 150);
        let b = random_ops(&m.dir, seed, 150);
        assert_eq!(a.len(), b.len(), "the same operations ran (seed {seed})");
        assert_eq!(
            contents(&m.dir),
            contents(&plain),
            "seed {seed}: the mount differs from the plain directory after:\n{}",
            b.join("\n")
        );
    }
    env.sealer()
        .args(["commit", &m.dir.to_string_lossy(), "random:v1"])
        .ok();
    let c = mount(&env, "random:v1", "committed");
    assert_eq!(
        contents(&c.dir),
        contents(&plain),
        "the committed image has the same bytes"
    );
}

#[test]
fn run_steps_make_layers_and_failures_change_nothing() {
    let env = Env::new();
    build_examples(&env);
    let kubefile = "FROM kubernetes:v1.19.8\nARG VER=1.2\nENV MODE=prod\n\
        RUN echo \"hello $VER $MODE\" > etc/hello.txt && sed -i 's/warn/debug/' etc/daemon.json && rm scripts/clean.sh && kubectl > etc/kubectl.out\n\
        RUN true\nRUN [\"sh\", \"-c\", \"mkdir -p charts && echo json > charts/j\"]\n";
    let ctx = env.context("ctx", &[("Kubefile", kubefile)]);
    let run = env.build("run:v1", &ctx);
    assert_mentions(&run.stderr, &["no changes"]);
    assert_eq!(
        env.run(&["cat", "run:v1", "etc/hello.txt"]),
        "hello 1.2 prod\n"
    );
    assert!(env
        .run(&["cat", "run:v1", "etc/daemon.json"])
        .contains("\"log-level\": \"debug\""));
    assert!(
        env.run(&["cat", "run:v1", "etc/kubectl.out"])
            .contains("kubectl"),
        "<rootfs>/bin is first on PATH"
    );
    assert!(!env.run(&["ls", "run:v1", "scripts"]).contains("clean.sh"));
    assert_eq!(env.run(&["cat", "run:v1", "charts/j"]), "json\n");
    let spec = env.inspect("run:v1");
    let types: Vec<&str> = spec["spec"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["COPY", "RUN", "RUN"], "RUN true adds no layer");
    let again = env.build("run:v2", &ctx);
    assert_mentions(&again.stderr, &["Using cache"]);
    assert_eq!(env.layer_ids("run:v1"), env.layer_ids("run:v2"));

    let before = env.snapshot();
    for (kubefile, want) in [
        (
            "FROM kubernetes:v1.19.8\nCOPY Kubefile k\nRUN exit 3\n",
            "exit status: 3",
        ),
        ("FROM kubernetes:v1.19.8\nRUN no-such-command-xyz\n", "127"),
        (
            "FROM kubernetes:v1.19.8\nRUN rm -rf ./*\n",
            "deleted the whole rootfs",
        ),
    ] {
        let ctx = env.context("bad", &[("Kubefile", kubefile)]);
        let line = env
            .sealer()
            .args(["build", "-t", "bad:v1"])
            .arg(&ctx)
            .fails();
        let lineno = kubefile.lines().count();
        assert_mentions(&line, &[&format!("Kubefile:{lineno}"), want]);
        env.snapshot().assert_same(&before, "a failed RUN");
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&env.root().to_string_lossy().into_owned()),
        "RUN mounts are undone:\n{mounts}"
    );
}

#[test]
fn commit_and_diff_refuse_what_is_not_a_rw_mount() {
    let env = Env::new();
    build_examples(&env);
    let ro = mount(&env, "kubernetes:v1.19.8", "ro");
    let line = env
        .sealer()
        .args(["commit", &ro.dir.to_string_lossy(), "x:v1"])
        .fails();
    assert_mentions(&line, &["read-only", "--rw"]);
    let line = env
        .sealer()
        .args(["diff", &env.dir().to_string_lossy()])
        .fails();
    assert_mentions(&line, &["not a sealer mount"]);
    let line = env.sealer().args(["mount", "--rw", "--layers"]).fails();
    assert!(line.starts_with("error:"), "{line}");
    assert!(!env.run(&["images"]).contains("x:v1"));
}

#[test]
fn a_full_store_disk_commits_nothing() {
    let env = Env::new();
    let small = env.path("small");
    fs::create_dir_all(&small).unwrap();
    tool(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=4m",
            "tmpfs",
            &small.to_string_lossy(),
        ],
        "mount",
    );
    let root = small.join("store");
    let (m, upper) = (env.path("rw"), env.path("upper"));
    fs::create_dir_all(&m).unwrap();
    let m = fs::canonicalize(&m).unwrap();
    /// Undoes the rw mount, then the tmpfs, also on failure.
    struct Cleanup(PathBuf, PathBuf, PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new(env!("CARGO_BIN_EXE_sealer"))
                .arg("--root")
                .arg(&self.1)
                .arg("umount")
                .arg(&self.0)
                .output();
            for dir in [&self.0, &self.2] {
                if is_mounted(dir) {
                    let _ = Command::new("umount").arg("-l").arg(dir).status();
                }
            }
        }
    }
    let _cleanup = Cleanup(m.clone(), root.clone(), fs::canonicalize(&small).unwrap());
    let sealer = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sealer"))
            .arg("--root")
            .arg(&root)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cluster = example("cluster-rootfs");
    let (code, err) = sealer(&["build", "-t", "base:v1", &cluster.to_string_lossy()]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = sealer(&[
        "mount",
        "--rw",
        "--upper",
        &upper.to_string_lossy(),
        "base:v1",
        &m.to_string_lossy(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let big: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(m.join("big.bin"), &big).unwrap();
    let before = Snapshot::of(&root);
    let (code, stderr) = sealer(&["commit", &m.to_string_lossy(), "full:v1"]);
    assert_eq!(code, Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_mentions(errors[0], &["No space left"]);
    before.assert_same(&Snapshot::of(&root), "a commit on a full disk");
}

/// The example image mounted `--rw --allow-other` (other users get in).
fn example_rw<'a>(env: &'a Env, extra: &[&str]) -> Mounted<'a> {
    env.build("base:v1", &example("cluster-rootfs"));
    let mut args = vec!["--rw", "--allow-other"];
    args.extend_from_slice(extra);
    args.push("base:v1");
    mount_with(env, &args, "rw")
}

/// Runs `sh -c SCRIPT` in `dir` as root, or as nobody with `as_nobody`.
fn sh(dir: &Path, script: &str, as_nobody: bool) {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
        c
    } else {
        Command::new("sh")
    };
    let st = cmd.args(["-c", script]).current_dir(dir).status().unwrap();
    assert!(st.success(), "`{script}` failed: {st}");
}

fn mode_owner(p: &Path) -> (u32, u32, u32) {
    let md = fs::symlink_metadata(p).unwrap();
    (md.mode() & 0o7777, md.uid(), md.gid())
}

#[test]
fn new_entries_get_the_asked_mode_and_the_setgid_group() {
    let env = Env::new();
    let m = example_rw(&env, &[]);
    // The server's own umask must not strip what the caller asked for.
    sh(&m.dir, "umask 0; mkdir d e; : > f; mkfifo p", false);
    assert_eq!(mode_owner(&m.dir.join("d")), (0o777, 0, 0));
    assert_eq!(mode_owner(&m.dir.join("f")), (0o666, 0, 0));
    assert_eq!(mode_owner(&m.dir.join("p")), (0o666, 0, 0));
    // Entries belong to the caller; in a setgid directory, to its group.
    sh(&m.dir, "chown 0:1 d && chmod 2777 d", false);
    sh(
        &m.dir,
        "umask 022; mkdir d/sub && : > d/file && : > e/mine",
        true,
    );
    assert_eq!(mode_owner(&m.dir.join("d/sub")), (0o2755, 65534, 1));
    assert_eq!(mode_owner(&m.dir.join("d/file")), (0o644, 65534, 1));
    assert_eq!(mode_owner(&m.dir.join("e/mine")), (0o644, 65534, 65534));
}

#[test]
fn hard_links_are_one_file_under_every_name() {
    let env = Env::new();
    let m = example_rw(&env, &[]);
    let (a, b) = (m.dir.join("a"), m.dir.join("etc/b"));
    fs::write(&a, b"one").unwrap();
    let before = fs::metadata(&a).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::hard_link(&a, &b).unwrap();
    let (ma, mb) = (fs::metadata(&a).unwrap(), fs::metadata(&b).unwrap());
    assert_eq!((ma.nlink(), mb.nlink(), ma.ino()), (2, 2, mb.ino()));
    assert!(ma.ctime_nsec() != before.ctime_nsec() || ma.ctime() != before.ctime());
    fs::set_permissions(&b, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(fs::metadata(&a).unwrap().mode() & 0o7777, 0o600);
    fs::remove_file(&a).unwrap();
    assert_eq!(fs::metadata(&b).unwrap().nlink(), 1);
    // A lower file is copied up first, then linked.
    let lower = m.dir.join("etc/daemon.json");
    let link = m.dir.join("daemon-link");
    fs::hard_link(&lower, &link).unwrap();
    fs::write(&link, b"{}\n").unwrap();
    assert_eq!(fs::read(&lower).unwrap(), b"{}\n");
    assert_eq!(fs::metadata(&lower).unwrap().nlink(), 2);
    // Renaming over one name leaves the other.
    fs::rename(&b, &link).unwrap();
    assert_eq!(fs::read(&link).unwrap(), b"one");
    assert_eq!(fs::metadata(&lower).unwrap().nlink(), 1);
}

#[test]
fn odd_opens_nodes_and_times_behave_as_on_a_local_disk() {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let env = Env::new();
    let m = example_rw(&env, &[]);
    // An unlinked file stays usable through its descriptor.
    let p = m.dir.join("tmp-file");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    fs::remove_file(&p).unwrap();
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    std::os::unix::fs::FileExt::write_all_at(&f, b"still here", 0).unwrap();
    let mut buf = [0u8; 10];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"still here");
    // O_WRONLY|O_RDWR: Linux lets it through; never EIO.
    let r = open(
        &m.dir.join("etc/daemon.json"),
        OFlag::O_WRONLY | OFlag::O_RDWR,
        Mode::empty(),
    );
    assert!(matches!(r, Ok(_) | Err(nix::Error::EINVAL)), "{r:?}");
    // A 0/0 character device is what a whiteout is: refused, as on overlayfs.
    let wh = mknod(
        &m.dir.join("c00"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o644),
        0,
    );
    assert_eq!(wh, Err(nix::Error::EPERM));
    mknod(
        &m.dir.join("c12"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o644),
        0x102,
    )
    .unwrap();
    assert_eq!(fs::metadata(m.dir.join("c12")).unwrap().rdev(), 0x102);
    // O_TRUNC on a lower file: empty, metadata kept.
    let kubectl = m.dir.join("bin/kubectl");
    let before = mode_owner(&kubectl);
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&kubectl)
        .unwrap();
    assert_eq!(fs::metadata(&kubectl).unwrap().len(), 0);
    assert_eq!(mode_owner(&kubectl), before);
    // utimensat: a given time, UTIME_OMIT and UTIME_NOW.
    let t = m.dir.join("etc/daemon.json");
    let omit = TimeSpec::new(0, libc::UTIME_OMIT);
    let at = TimeSpec::new(1_000_000, 5);
    utimensat(
        nix::fcntl::AT_FDCWD,
        &t,
        &at,
        &at,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    let now = TimeSpec::new(0, libc::UTIME_NOW);
    utimensat(
        nix::fcntl::AT_FDCWD,
        &t,
        &omit,
        &now,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    let md = fs::metadata(&t).unwrap();
    assert_eq!(
        (md.atime(), md.atime_nsec()),
        (1_000_000, 5),
        "atime omitted"
    );
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (md.mtime() - wall).abs() < 5,
        "mtime is now: {}",
        md.mtime()
    );
}

#[test]
fn paths_longer_than_path_max_in_the_upper_dir_work() {
    let env = Env::new();
    // The upper directory's path is longer than the mountpoint's, so a path
    // that fits under the mountpoint does not fit under the upper directory.
    let upper = env.path(&"u".repeat(250));
    let m = example_rw(&env, &["--upper", &upper.to_string_lossy()]);
    let mut deep = m.dir.join("etc");
    while deep.as_os_str().len() < 3900 {
        deep.push("d".repeat(200));
    }
    assert!(
        upper
            .join(deep.strip_prefix(&m.dir).unwrap())
            .as_os_str()
            .len()
            > 4096
    );
    fs::create_dir_all(&deep).unwrap();
    let file = deep.join("file");
    fs::write(&file, b"deep").unwrap();
    fs::rename(&file, deep.join("moved")).unwrap();
    std::os::unix::fs::symlink("moved", deep.join("link")).unwrap();
    fs::hard_link(deep.join("moved"), deep.join("hard")).unwrap();
    fs::set_permissions(deep.join("moved"), fs::Permissions::from_mode(0o640)).unwrap();
    crate::util::xattr::set(&deep.join("moved"), "user.k", b"v").unwrap();
    fs::create_dir(deep.join("gone")).unwrap();
    fs::remove_dir(deep.join("gone")).unwrap();
    let names: Vec<String> = fs::read_dir(&deep)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(fs::read(deep.join("link")).unwrap(), b"deep");
    assert_eq!(fs::metadata(deep.join("hard")).unwrap().nlink(), 2);
    let diff = env.run(&["diff", &m.dir.to_string_lossy()]);
    assert!(
        diff.lines()
            .any(|l| l.starts_with("A /etc/") && l.ends_with("/moved")),
        "sealer diff walks the deep tree:\n{diff}"
    );
    // The changes are in the upper directory: a new mount over it sees them.
    let rel = deep.strip_prefix(&m.dir).unwrap().to_path_buf();
    env.sealer().arg("umount").arg(&m.dir).ok();
    let again = mount_with(
        &env,
        &["--rw", "--upper", &upper.to_string_lossy(), "base:v1"],
        "again",
    );
    let moved = again.dir.join(&rel).join("moved");
    assert_eq!(fs::read(&moved).unwrap(), b"deep");
    assert_eq!(fs::metadata(&moved).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(crate::util::xattr::get(&moved, b"user.k").unwrap(), b"v");
}

#[test]
fn concurrent_copy_ups_of_a_big_file_keep_every_write() {
    let env = Env::new();
    let data: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let ctx = env.context("big", &[("Kubefile", "FROM scratch\nCOPY . .\n")]);
    fs::write(ctx.join("data.bin"), &data).unwrap();
    env.build("big:v1", &ctx);
    let m = mount_with(&env, &["--rw", "big:v1"], "rw");
    let file = m.dir.join("data.bin");
    // Every thread's first write copies the 8 MiB file up (unlocked, then
    // linked): one copy wins, no append is lost, nothing else waits for it.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
                f.write_all(b"X").unwrap();
            });
        }
        s.spawn(|| fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap());
        s.spawn(|| assert!(fs::read(m.dir.join("Kubefile")).is_ok()));
    });
    let got = fs::read(&file).unwrap();
    assert_eq!(got.len(), data.len() + 4);
    assert!(
        got[..data.len()] == data[..],
        "the copied-up data is intact"
    );
    assert_eq!(&got[data.len()..], b"XXXX");
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn a_file_open_before_its_copy_up_reads_the_new_bytes() {
    use std::os::unix::fs::FileExt;
    let env = Env::new();
    let ctx = env.context("ctx", &[("Kubefile", "FROM scratch\nCOPY . .\n")]);
    fs::write(ctx.join("data.bin"), vec![b'a'; 64 << 10]).unwrap();
    env.build("data:v1", &ctx);
    let m = mount_with(&env, &["--rw", "data:v1"], "rw");
    let path = m.dir.join("data.bin");
    let reader = fs::File::open(&path).unwrap();
    let mut buf = [0u8; 3];
    reader.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"aaa");
    // A partial page written elsewhere is not in the page cache: the
    // reader's next read of it reaches the server, which must answer from
    // the copied-up file, not from the lower layer the reader opened.
    let writer = fs::OpenOptions::new().write(true).open(&path).unwrap();
    writer.write_all_at(b"XYZ", 40_000).unwrap();
    reader.read_exact_at(&mut buf, 40_000).unwrap();
    assert_eq!(&buf, b"XYZ");
}

#[test]
fn writes_to_open_upper_files_are_in_the_upper_dir_at_once() {
    use std::os::unix::fs::FileExt;
    let env = Env::new();
    let ctx = env.context("ctx", &[("Kubefile", "FROM scratch\nCOPY . .\n")]);
    fs::write(ctx.join("data.bin"), vec![b'a'; 64 << 10]).unwrap();
    env.build("data:v1", &ctx);
    let upper = env.path("upper");
    fs::create_dir(&upper).unwrap();
    let up = upper.to_string_lossy();
    let m = mount_with(&env, &["--rw", "--upper", &up, "data:v1"], "rw");
    // Two opens of one copied-up file at once (one backing file where the
    // kernel reads and writes itself), an append and a new file: each write
    // is in the upper directory before any close, as `commit` reads it.
    let path = m.dir.join("data.bin");
    let writer = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let reader = fs::File::open(&path).unwrap();
    writer.write_all_at(b"XYZ", 40_000).unwrap();
    let mut buf = [0u8; 3];
    reader.read_exact_at(&mut buf, 40_000).unwrap();
    assert_eq!(&buf, b"XYZ");
    let mut appender = fs::OpenOptions::new().append(true).open(&path).unwrap();
    appender.write_all(b"END").unwrap();
    let mut new = fs::File::create(m.dir.join("new.txt")).unwrap();
    new.write_all(b"fresh").unwrap();
    let on_disk = fs::read(upper.join("data.bin")).unwrap();
    assert_eq!(on_disk.len(), (64 << 10) + 3);
    assert_eq!(&on_disk[40_000..40_003], b"XYZ");
    assert_eq!(&on_disk[64 << 10..], b"END");
    assert_eq!(fs::read(upper.join("new.txt")).unwrap(), b"fresh");
    assert_eq!(fs::metadata(&path).unwrap().len(), (64 << 10) + 3);
    drop((writer, reader, appender, new));
}
