//! `sealer mount` / `umount` through real FUSE mounts (/dev/fuse): reading an
//! image as a directory, stable inodes, concurrent readers, the layer view
//! stacked by the kernel's overlayfs, the lifecycle (listing, dead servers,
//! busy mounts, rmi of a mounted image) and bad mountpoints. Every mount is
//! undone by a guard, also when a test fails.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{assert_mentions, build_examples, example, sha256_hex, tool, Env};

/// Whether anything is mounted at `dir` (per the kernel's mount table).
pub fn is_mounted(dir: &Path) -> bool {
    let table = fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
    let want = dir.to_string_lossy();
    table.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

/// A mount that is undone when dropped: `sealer umount`, then a lazy
/// `umount -l` if that did not do it. A failure to unmount is reported.
pub struct Mounted<'a> {
    env: &'a Env,
    /// The mountpoint.
    pub dir: PathBuf,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if !is_mounted(&self.dir) {
            return;
        }
        let _ = self.env.sealer().arg("umount").arg(&self.dir).output();
        if is_mounted(&self.dir) {
            let st = Command::new("umount").arg("-l").arg(&self.dir).status();
            if !matches!(st, Ok(s) if s.success()) || is_mounted(&self.dir) {
                eprintln!("warning: could not unmount {}", self.dir.display());
            }
        }
    }
}

/// Checks FUSE is usable here; a machine without it fails the test loudly.
fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: these tests need FUSE (modprobe fuse)"
    );
}

/// `sealer mount IMAGE <tmp>/NAME`, guarded.
pub fn mount<'a>(env: &'a Env, image: &str, name: &str) -> Mounted<'a> {
    mount_with(env, &[image], name)
}

/// `sealer mount ARGS... <tmp>/NAME`, guarded.
pub fn mount_with<'a>(env: &'a Env, args: &[&str], name: &str) -> Mounted<'a> {
    require_fuse();
    let dir = env.path(name);
    fs::create_dir_all(&dir).expect("creating the mountpoint");
    let guard = Mounted {
        env,
        dir: fs::canonicalize(&dir).expect("canonical mountpoint"),
    };
    env.sealer().arg("mount").args(args).arg(&guard.dir).ok();
    assert!(
        is_mounted(&guard.dir),
        "sealer mount returned but {} is not mounted",
        guard.dir.display()
    );
    guard
}

/// `sealer mount --layers`, guarded: every layer of the store at
/// `<root>/data/overlay2/<hex>`.
pub fn mount_layers(env: &Env) -> Mounted<'_> {
    require_fuse();
    env.sealer().args(["mount", "--layers"]).ok();
    let guard = Mounted {
        env,
        dir: env.root().join("data/overlay2"),
    };
    assert!(is_mounted(&guard.dir), "the layer view is not mounted");
    guard
}

/// `find`-like listing: path -> "type mode uid gid size mtime target nlink".
/// The root is left out: it is the mountpoint's own directory in an unpack.
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    let out = tool(
        "find",
        &[
            &root.to_string_lossy(),
            "-mindepth",
            "1",
            "-printf",
            "%P\\t%y %m %U %G %s %T@ %l %n\\n",
        ],
        "findutils",
    );
    out.lines()
        .map(|l| {
            let (p, rest) = l.split_once('\t').expect("find line");
            (p.to_string(), rest.to_string())
        })
        .collect()
}

fn inodes(root: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let md = fs::symlink_metadata(e.path()).expect("stat");
            out.insert(
                e.path()
                    .strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string(),
                md.ino(),
            );
            if md.is_dir() {
                todo.push(e.path());
            }
        }
    }
    out
}

#[test]
fn mounted_image_reads_like_the_image() {
    let env = Env::new();
    build_examples(&env);
    let m = mount(&env, "my-k8s:v1.19.8", "rootfs");
    let daemon =
        fs::read_to_string(m.dir.join("etc/daemon.json")).expect("reading through the mount");
    assert_eq!(
        daemon,
        fs::read_to_string(example("override/daemon.json")).unwrap(),
        "the override wins"
    );
    assert_eq!(
        fs::read(m.dir.join("etc/kubeadm-config.yaml")).unwrap(),
        fs::read(example("cluster-rootfs/etc/kubeadm-config.yaml")).unwrap(),
        "other files come from the base"
    );
    let mut names: Vec<String> = fs::read_dir(m.dir.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    names.sort();
    let ls: Vec<String> = env
        .run(&["ls", "my-k8s:v1.19.8", "etc"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(names, ls, "the mount lists what `sealer ls` lists");
    let md = fs::metadata(m.dir.join("bin/kubectl")).unwrap();
    let src = fs::metadata(example("cluster-rootfs/bin/kubectl")).unwrap();
    assert_eq!(
        md.mode() & 0o7777,
        src.mode() & 0o7777,
        "modes come from the build context"
    );
    assert_eq!((md.uid(), md.gid()), (0, 0));
    let err = fs::write(m.dir.join("etc/new"), b"x").expect_err("the mount is read-only");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");

    let table = env.run(&["mount"]);
    assert!(
        table.lines().next().unwrap().starts_with("IMAGE"),
        "{table}"
    );
    assert_mentions(
        &table,
        &["my-k8s:v1.19.8", &m.dir.to_string_lossy(), "serving"],
    );
    env.sealer().arg("umount").arg(&m.dir).ok();
    assert!(!is_mounted(&m.dir));
    assert_eq!(
        fs::read_dir(&m.dir).unwrap().count(),
        0,
        "nothing left in the mountpoint"
    );
    assert!(
        !env.run(&["mount"]).contains("my-k8s"),
        "the record is gone"
    );
}

#[test]
fn inodes_are_stable_across_mounts_and_hard_links_share_one() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("a/f", "one"),
            ("b/g", "two"),
        ],
    );
    fs::hard_link(ctx.join("a/f"), ctx.join("b/link")).unwrap();
    env.build("links:v1", &ctx);
    let (m1, m2) = (mount(&env, "links:v1", "m1"), mount(&env, "links:v1", "m2"));
    let (i1, i2) = (inodes(&m1.dir), inodes(&m2.dir));
    assert_eq!(i1, i2, "the same file has the same st_ino in every mount");
    assert_eq!(i1["a/f"], i1["b/link"], "hard links are one inode");
    assert_eq!(fs::metadata(m1.dir.join("a/f")).unwrap().nlink(), 2);
    let distinct: std::collections::HashSet<u64> = i1.values().copied().collect();
    assert_eq!(
        distinct.len(),
        i1.len() - 1,
        "only the hard link shares an inode"
    );
}

#[test]
fn eight_concurrent_readers_get_correct_bytes() {
    let env = Env::new();
    let mut big = vec![0u8; 32 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in big.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let ctx = env.context("ctx", &[("Kubefile", "FROM scratch\nCOPY . .\n")]);
    fs::write(ctx.join("big1"), &big).unwrap();
    big.reverse();
    fs::write(ctx.join("big2"), &big).unwrap();
    env.build("big:v1", &ctx);
    let want = [
        sha256_hex(&fs::read(ctx.join("big1")).unwrap()),
        sha256_hex(&big),
    ];
    let m = mount(&env, "big:v1", "m");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = m.dir.join(if i % 2 == 0 { "big1" } else { "big2" });
                s.spawn(move || {
                    let mut f = fs::File::open(&path).unwrap();
                    let mut buf = Vec::new();
                    // Odd readers use small reads, to interleave with the others.
                    if i % 4 < 2 {
                        f.read_to_end(&mut buf).unwrap();
                    } else {
                        let mut chunk = vec![0u8; 4096 + i];
                        loop {
                            let n = f.read(&mut chunk).unwrap();
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                    }
                    (i, sha256_hex(&buf))
                })
            })
            .collect();
        for h in handles {
            let (i, got) = h.join().unwrap();
            assert_eq!(got, want[i % 2], "reader {i} got wrong bytes");
        }
    });
}

#[test]
fn layer_view_stacks_under_the_kernel_overlayfs() {
    let env = Env::new();
    build_examples(&env);
    require_fuse();
    let layers_dir = env.root().join("data/overlay2");
    let _view = {
        env.sealer().args(["mount", "--layers"]).ok();
        Mounted {
            env: &env,
            dir: layers_dir.clone(),
        }
    };
    let ids: Vec<String> = env
        .layer_ids("my-k8s:v1.19.8")
        .iter()
        .map(|d| d[7..].to_string())
        .collect();
    for id in &ids {
        assert!(
            layers_dir.join(id).is_dir(),
            "layer {id} is a directory of the view"
        );
    }
    let top = layers_dir.join(&ids[1]);
    let names: Vec<_> = fs::read_dir(top.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["daemon.json"], "a layer shows only what it holds");

    // The kernel stacks the layer directories as the old tools stacked unpacked layers.
    let ovl = env.path("ovl");
    fs::create_dir_all(&ovl).unwrap();
    let lower = format!(
        "lowerdir={}:{}",
        top.display(),
        layers_dir.join(&ids[0]).display()
    );
    tool(
        "mount",
        &[
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!("ro,{lower}"),
            &ovl.to_string_lossy(),
        ],
        "mount",
    );
    let kernel = Mounted {
        env: &env,
        dir: fs::canonicalize(&ovl).unwrap(),
    };
    let ours = mount(&env, "my-k8s:v1.19.8", "ours");
    assert_eq!(
        listing(&kernel.dir),
        listing(&ours.dir),
        "overlayfs over the layer view == sealer mount"
    );
    assert_eq!(
        fs::read(kernel.dir.join("etc/daemon.json")).unwrap(),
        fs::read(ours.dir.join("etc/daemon.json")).unwrap()
    );
    drop(kernel);

    // A layer built after the view was mounted appears without remounting.
    let ctx = env.context(
        "late",
        &[
            ("Kubefile", "FROM my-k8s:v1.19.8\nCOPY late.txt etc/\n"),
            ("late.txt", "late"),
        ],
    );
    env.build("late:v1", &ctx);
    let late = env.layer_ids("late:v1").pop().unwrap();
    assert!(
        layers_dir.join(&late[7..]).join("etc/late.txt").is_file(),
        "the new layer shows up"
    );
}

#[test]
fn dead_server_is_cleaned_by_umount() {
    let env = Env::new();
    build_examples(&env);
    let m = mount(&env, "kubernetes:v1.19.8", "m");
    let table = env.run(&["mount"]);
    let pid: i32 = table
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|p| p.parse().ok())
        .expect("a pid in the table");
    tool("kill", &["-9", &pid.to_string()], "procps");
    for _ in 0..200 {
        if !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = fs::metadata(m.dir.join("etc")).expect_err("a dead server's mount does not answer");
    // ECONNABORTED while the kernel tears the connection down, then ENOTCONN.
    assert!(
        matches!(
            err.raw_os_error(),
            Some(libc::ENOTCONN | libc::ECONNABORTED)
        ),
        "{err}"
    );
    assert!(
        env.run(&["mount"]).contains("dead"),
        "the listing says the server died"
    );
    env.sealer().arg("umount").arg(&m.dir).ok();
    assert!(!is_mounted(&m.dir), "umount cleaned the dead mount");
    assert!(!env.run(&["mount"]).contains("kubernetes"));
}

/// Kills a mount's server, then points its record at an unrelated live
/// process (`sleep`), as when the kernel reuses the dead server's pid.
fn record_names_another_process(env: &Env, legacy: bool) -> std::process::Child {
    let mounts = env.root().join("mounts");
    let record = fs::read_dir(&mounts)
        .expect("mounts/")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a mount record");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&fs::read(&record).expect("record")).expect("record JSON");
    let pid = rec["pid"].as_u64().expect("pid");
    assert!(
        rec["start"].is_u64(),
        "the record names the server's start time: {rec}"
    );
    tool("kill", &["-9", &pid.to_string()], "procps");
    // Bounded, and generous: on a loaded machine a killed server can take
    // seconds to die. Dead is gone or a zombie: the server's parent (init,
    // which may never reap it in a container) owns it.
    let gone = (0..3000).any(|_| {
        let gone = !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"));
        if !gone {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        gone
    });
    assert!(gone, "the killed server {pid} still runs after 30 s");
    // Start times count clock ticks (10 ms): a process started in the same
    // tick as the server would look like it. A reused pid never is (the pid
    // space must wrap first); this test makes one at once, so it waits.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let other = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("running sleep");
    rec["pid"] = serde_json::json!(other.id());
    if legacy {
        rec.as_object_mut().expect("object").remove("start");
    }
    fs::write(&record, serde_json::to_vec(&rec).expect("json")).expect("writing the record");
    other
}

#[test]
fn umount_never_signals_a_process_that_took_a_dead_servers_pid() {
    let env = Env::new();
    build_examples(&env);
    for legacy in [false, true] {
        let m = mount(&env, "kubernetes:v1.19.8", "m");
        let mut other = record_names_another_process(&env, legacy);
        let listing = env.run(&["mount"]);
        if !legacy {
            assert!(listing.contains("dead"), "the server is dead: {listing}");
        }
        env.sealer().arg("umount").arg(&m.dir).ok();
        assert!(!is_mounted(&m.dir), "umount cleaned the dead mount");
        let still = other.try_wait().expect("waiting on sleep");
        let _ = other.kill();
        let _ = other.wait();
        assert!(
            still.is_none(),
            "umount killed an unrelated process (legacy record: {legacy}): {still:?}"
        );
        assert!(!env.run(&["mount"]).contains("kubernetes"));
        drop(m);
    }
}

#[test]
fn busy_mount_is_a_clear_error_and_keeps_serving() {
    let env = Env::new();
    build_examples(&env);
    let m = mount(&env, "kubernetes:v1.19.8", "m");
    let open = fs::File::open(m.dir.join("etc/daemon.json")).unwrap();
    let line = env.sealer().arg("umount").arg(&m.dir).fails();
    assert_mentions(&line, &["busy", &m.dir.to_string_lossy()]);
    assert!(is_mounted(&m.dir));
    assert!(fs::read(m.dir.join("Metadata")).is_ok(), "still serving");
    drop(open);
    env.sealer().arg("umount").arg(&m.dir).ok();
    assert!(!is_mounted(&m.dir));
}

#[test]
fn rmi_refuses_a_mounted_image() {
    let env = Env::new();
    build_examples(&env);
    let m = mount(&env, "my-k8s:v1.19.8", "m");
    let line = env.sealer().args(["rmi", "my-k8s:v1.19.8"]).fails();
    assert_mentions(
        &line,
        &["my-k8s:v1.19.8", "mounted", &m.dir.to_string_lossy()],
    );
    assert!(env.run(&["images"]).contains("my-k8s"));
    drop(m);
    env.run(&["rmi", "my-k8s:v1.19.8"]);
}

#[test]
fn bad_mountpoints_and_images() {
    let env = Env::new();
    build_examples(&env);
    require_fuse();
    let line = env
        .sealer()
        .args(["mount", "kubernetes:v1.19.8"])
        .arg(env.path("missing"))
        .fails();
    assert_mentions(&line, &["missing"]);
    env.write("full/file", "x");
    let line = env
        .sealer()
        .args(["mount", "kubernetes:v1.19.8"])
        .arg(env.path("full"))
        .fails();
    assert_mentions(&line, &["not empty"]);
    fs::create_dir_all(env.path("empty")).unwrap();
    let line = env
        .sealer()
        .args(["mount", "nosuch:v1"])
        .arg(env.path("empty"))
        .fails();
    assert_mentions(&line, &["nosuch:v1"]);
    let m = mount(&env, "kubernetes:v1.19.8", "twice");
    let line = env
        .sealer()
        .args(["mount", "kubernetes:v1.19.8"])
        .arg(&m.dir)
        .fails();
    assert_mentions(&line, &["already a mount"]);
    let line = env.sealer().arg("umount").arg(env.path("empty")).fails();
    assert_mentions(&line, &["not mounted"]);
    let line = env.sealer().args(["umount", "/proc"]).fails();
    assert_mentions(&line, &["not a sealer mount"]);
    assert!(
        fs::read(m.dir.join("Metadata")).is_ok(),
        "the live mount kept serving"
    );
    let err = fs::metadata(m.dir.join("no/such/path")).expect_err("missing path");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn a_truncated_blob_under_a_live_mount_gives_eio_for_that_file_only() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("a-first", "kept"),
            ("z-last", &"z".repeat(100_000)),
        ],
    );
    env.build("t:v1", &ctx);
    let layer = env.layer_ids("t:v1").pop().unwrap();
    let m = mount(&env, "t:v1", "m");
    let blob = fs::OpenOptions::new()
        .write(true)
        .open(env.blob(&layer))
        .unwrap();
    let len = blob.metadata().unwrap().len();
    blob.set_len(len - 60_000).unwrap();
    let err = fs::read(m.dir.join("z-last")).expect_err("data past the cut");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert_eq!(
        fs::read_to_string(m.dir.join("a-first")).unwrap(),
        "kept",
        "the rest is still served"
    );
    let table = env.run(&["mount"]);
    let log = table
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().last())
        .expect("a log path");
    assert_mentions(&fs::read_to_string(log).unwrap(), &["z-last", &layer[7..]]);
}
