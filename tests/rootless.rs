//! Sealer as an ordinary user (the test user `sealer-rootless`, through
//! setpriv, with /dev/fuse 0666 as on a stock Debian system): the seed
//! workflow (build FROM scratch and FROM the base, COPY override, ls, cat,
//! mount, umount), a RUN build whose layer records the owners the command
//! meant, a `--rw` mount with diff, commit and umount, and one `error:`
//! line, with the store unchanged, where the machine lacks what is needed
//! (simulated in a private mount namespace: a file bound over /dev/fuse,
//! fusermount3, /etc/fuse.conf or the sysctl; and the kernel's own refusal
//! of a user namespace). Killed builds and servers leave nothing a later
//! command cannot clean. Every mount is undone by a guard, also when a
//! test fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mount::is_mounted;
use crate::util::user::UserEnv;
use crate::util::{assert_mentions, copy_tree, example, Snapshot, BASE, MINE};

/// Undoes whatever the test user mounted, when dropped: `sealer umount`
/// as the user, then `umount -l` of a mount left in the table, then SIGKILL
/// to any server still recorded (which ends the user namespace of a `--rw`
/// mount and its mount with it).
struct Unmounted<'a> {
    ue: &'a UserEnv,
    dirs: Vec<PathBuf>,
}

impl Drop for Unmounted<'_> {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = self.ue.sealer().arg("umount").arg(dir).output();
            if is_mounted(dir) {
                let st = Command::new("umount").arg("-l").arg(dir).status();
                if !matches!(st, Ok(s) if s.success()) {
                    eprintln!("warning: could not unmount {}", dir.display());
                }
            }
        }
        for pid in server_pids(&self.ue.store()) {
            eprintln!("warning: killing the mount server {pid} a test left");
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Pids of the servers recorded under `<store>/mounts/` that still run.
fn server_pids(store: &Path) -> Vec<u32> {
    let Ok(rd) = fs::read_dir(store.join("mounts")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|v| v["pid"].as_u64().map(|p| p as u32))
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect()
}

/// The examples copied into the user's directory (as the user owns a
/// checkout), and both images built from them as the user.
fn build_examples_as_user(ue: &UserEnv) {
    let (base, mine) = (ue.env.path("cluster-rootfs"), ue.env.path("override"));
    copy_tree(&example("cluster-rootfs"), &base);
    copy_tree(&example("override"), &mine);
    fs::rename(mine.join("Kubefile"), mine.join("Kubefile.override")).expect("renaming");
    hand_over(ue, ue.env.dir());
    let out = ue.sealer().args(["build", "-t", BASE]).arg(&base).ok();
    assert!(
        out.stderr.contains(&format!("Successfully built {BASE}")),
        "{}",
        out.stderr
    );
    ue.sealer()
        .args(["build", "-t", MINE, "-f", "Kubefile.override", "."])
        .current_dir(&mine)
        .ok();
}

/// Gives everything under `dir` to the test user.
fn hand_over(ue: &UserEnv, dir: &Path) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", ue.user.uid, ue.user.gid))
        .arg(dir)
        .status()
        .expect("chown");
    assert!(st.success());
}

/// `sealer ls -l IMAGE PATH` as the user: (uid, gid) of the entry `name`.
fn owner(ue: &UserEnv, image: &str, dir: &str, name: &str) -> (u32, u32) {
    let out = ue.sealer().args(["ls", "-l", image, dir]).ok().stdout;
    let line = out
        .lines()
        .find(|l| l.split_whitespace().last() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in `sealer ls -l {image} {dir}`:\n{out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[2].parse().expect("uid"), f[3].parse().expect("gid"))
}

/// A mountpoint made by the user in its directory.
fn mountpoint(ue: &UserEnv, name: &str) -> PathBuf {
    ue.sh(ue.env.dir(), &format!("mkdir -p {name}"));
    fs::canonicalize(ue.env.path(name)).expect("canonical mountpoint")
}

#[test]
fn seed_workflow_as_an_ordinary_user() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    assert!(
        ue.store().join("index.json").is_file(),
        "the store is $XDG_DATA_HOME/sealer"
    );
    let images = ue.sealer().arg("images").ok().stdout;
    assert_mentions(&images, &["kubernetes", "my-k8s"]);
    let json = ue
        .sealer()
        .args(["cat", MINE, "etc/daemon.json"])
        .ok()
        .stdout;
    assert_eq!(
        json,
        fs::read_to_string(example("override/daemon.json")).unwrap()
    );
    // COPY ran as root of the user's namespace: the user's files are root's.
    assert_eq!(owner(&ue, MINE, "etc", "daemon.json"), (0, 0));
    assert_eq!(owner(&ue, BASE, "etc", "kubelet.service"), (0, 0));

    let dir = mountpoint(&ue, "rootfs");
    let guard = Unmounted {
        ue: &ue,
        dirs: vec![dir.clone()],
    };
    ue.sealer().arg("mount").arg(MINE).arg(&dir).ok();
    assert!(
        is_mounted(&dir),
        "the read-only mount is in the host's table"
    );
    let seen = ue.sh(&dir, "cat etc/daemon.json && ls bin");
    assert!(
        seen.starts_with(&json) && seen.contains("kubectl"),
        "{seen}"
    );
    let listed = ue.sealer().arg("mount").ok().stdout;
    assert_mentions(&listed, &[MINE, &dir.display().to_string(), "serving"]);
    let out = ue.sealer().arg("umount").arg(&dir).ok().stdout;
    assert_mentions(&out, &["Unmounted"]);
    assert!(!is_mounted(&dir), "umount unmounted it");
    assert!(server_pids(&ue.store()).is_empty(), "the server stopped");

    // The layer view, at <store>/data/overlay2/<id>.
    let layers = ue.store().join("data/overlay2");
    let guard2 = Unmounted {
        ue: &ue,
        dirs: vec![layers.clone()],
    };
    ue.sealer().args(["mount", "--layers"]).ok();
    let ids = ue.sh(&layers, "ls");
    assert_eq!(ids.lines().count(), 2, "{ids}");
    ue.sealer().args(["umount", "--layers"]).ok();
    assert!(!is_mounted(&layers));
    drop((guard, guard2));
}

#[test]
fn run_build_as_an_ordinary_user_records_the_owners_meant() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    let ctx = ue.env.path("run");
    ue.write(
        "run/Kubefile",
        "FROM kubernetes:v1.19.8\n\
         RUN id -u > etc/uid-seen && echo hi > etc/x && echo more >> etc/daemon.json \
         && mkdir -p opt/data && chown 33:44 opt/data && rm -rf scripts && mkdir scripts \
         && touch scripts/new\n",
    );
    let out = ue.sealer().args(["build", "-t", "ran:1"]).arg(&ctx).ok();
    assert!(
        out.stderr.contains("Successfully built ran:1"),
        "{}",
        out.stderr
    );
    let cat = |p: &str| ue.sealer().args(["cat", "ran:1", p]).ok().stdout;
    assert_eq!(cat("etc/uid-seen"), "0\n", "RUN sees itself as root");
    assert_eq!(cat("etc/x"), "hi\n");
    assert!(cat("etc/daemon.json").ends_with("more\n"));
    assert_eq!(
        owner(&ue, "ran:1", "etc", "x"),
        (0, 0),
        "a new file is root's"
    );
    assert_eq!(
        owner(&ue, "ran:1", "etc", "daemon.json"),
        (0, 0),
        "a root file stays root's"
    );
    assert_eq!(
        owner(&ue, "ran:1", "opt", "data"),
        (33, 44),
        "chown through /etc/subuid"
    );
    // The directory deleted and made again hides what was below it.
    let scripts = ue.sealer().args(["ls", "ran:1", "scripts"]).ok().stdout;
    assert_eq!(scripts.trim(), "new", "an opaque directory: {scripts}");
    assert!(server_pids(&ue.store()).is_empty());
    assert!(
        fs::read_dir(ue.store().join("tmp")).map_or(true, |mut d| d.next().is_none()),
        "the RUN step left nothing in tmp/"
    );
}

#[test]
fn rw_mount_diff_commit_and_umount_as_an_ordinary_user() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    let dir = mountpoint(&ue, "rootfs");
    let guard = Unmounted {
        ue: &ue,
        dirs: vec![dir.clone()],
    };
    let out = ue
        .sealer()
        .args(["mount", "--rw", BASE])
        .arg(&dir)
        .ok()
        .stdout;
    let pid = server_pids(&ue.store());
    assert_eq!(pid.len(), 1, "one server: {out}");
    let inside = PathBuf::from(format!("/proc/{}/root{}", pid[0], dir.display()));
    assert_mentions(&out, &["Mounted", &inside.display().to_string()]);
    // Seen from the user's own namespace through the server's root: the
    // image's root files are the user's, so the user edits them.
    ue.sh(
        &inside,
        "echo '{}' > etc/daemon.json && echo new > etc/added && rm etc/Clusterfile",
    );
    let diff = ue.sealer().arg("diff").arg(&dir).ok().stdout;
    assert_mentions(
        &diff,
        &["C /etc/daemon.json", "A /etc/added", "D /etc/Clusterfile"],
    );
    ue.sealer().arg("commit").arg(&dir).arg("custom:1").ok();
    let cat = ue
        .sealer()
        .args(["cat", "custom:1", "etc/daemon.json"])
        .ok()
        .stdout;
    assert_eq!(cat, "{}\n");
    assert_eq!(owner(&ue, "custom:1", "etc", "daemon.json"), (0, 0));
    assert_eq!(owner(&ue, "custom:1", "etc", "added"), (0, 0));
    ue.sealer()
        .args(["ls", "custom:1", "etc/Clusterfile"])
        .fails();
    ue.sealer().arg("umount").arg(&dir).ok();
    assert!(
        server_pids(&ue.store()).is_empty(),
        "umount stopped the server"
    );
    let left: Vec<_> = fs::read_dir(ue.store().join("mounts"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n.to_string_lossy().ends_with(".log")),
        "umount removed the record and the upper directory: {left:?}"
    );
    drop(guard);
}

#[test]
fn what_the_machine_forbids_is_one_error_line_and_changes_nothing() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    ue.write("run/Kubefile", "FROM kubernetes:v1.19.8\nRUN touch etc/x\n");
    let ctx = ue.env.path("run");
    let dir = mountpoint(&ue, "rootfs");
    let guard = Unmounted {
        ue: &ue,
        dirs: vec![dir.clone()],
    };
    let fake = ue.env.path("fake");
    fs::create_dir_all(&fake).unwrap();
    let zero = fake.join("zero");
    fs::write(&zero, "0\n").unwrap();
    let conf = fake.join("fuse.conf");
    fs::write(&conf, "# user_allow_other\nmount_max = 1000\n").unwrap();
    // A FUSE device only root may open, as the CI machine's is.
    let dev = fake.join("fuse");
    let st = Command::new("mknod")
        .arg(&dev)
        .args(["c", "10", "229"])
        .status()
        .unwrap();
    assert!(st.success(), "mknod");
    fs::set_permissions(&dev, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let not_a_program = Path::new("/dev/null");

    // (files bound over the system's, the command, what the error names)
    type Case<'a> = (Vec<(&'a Path, &'a str)>, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec![(&dev, "/dev/fuse")],
            vec!["build", "-t", "x:1", ctx.to_str().unwrap()],
            vec!["/dev/fuse", "chmod 0666 /dev/fuse"],
        ),
        (
            vec![(&dev, "/dev/fuse")],
            vec!["mount", "--rw", BASE, dir.to_str().unwrap()],
            vec!["/dev/fuse", "chmod 0666 /dev/fuse"],
        ),
        (
            vec![(&zero, "/proc/sys/user/max_user_namespaces")],
            vec!["build", "-t", "x:1", ctx.to_str().unwrap()],
            vec!["user.max_user_namespaces", "sysctl -w"],
        ),
        (
            vec![(&zero, "/proc/sys/user/max_user_namespaces")],
            vec!["mount", "--rw", BASE, dir.to_str().unwrap()],
            vec!["user namespaces are disabled"],
        ),
        (
            vec![(not_a_program, "/usr/bin/fusermount3")],
            vec!["mount", BASE, dir.to_str().unwrap()],
            vec!["fusermount3", "apt-get install fuse3"],
        ),
        (
            vec![(not_a_program, "/usr/bin/fusermount3")],
            vec!["mount", "--layers"],
            vec!["fusermount3"],
        ),
        (
            vec![(&conf, "/etc/fuse.conf")],
            vec!["mount", "--allow-other", BASE, dir.to_str().unwrap()],
            vec!["--allow-other", "user_allow_other", "/etc/fuse.conf"],
        ),
    ];
    // Unmounting without fusermount3: refused, named, still mounted.
    ue.sealer().arg("mount").arg(BASE).arg(&dir).ok();
    let before = Snapshot::of(&ue.store());
    let line = ue
        .sealer_where(&[(not_a_program, "/usr/bin/fusermount3")])
        .arg("umount")
        .arg(&dir)
        .fails();
    assert_mentions(&line, &["fusermount3", "apt-get install fuse3"]);
    before.assert_same(&Snapshot::of(&ue.store()), &line);
    assert!(is_mounted(&dir), "a refused umount leaves the mount");
    ue.sealer().arg("umount").arg(&dir).ok();
    for (binds, args, parts) in cases {
        let before = Snapshot::of(&ue.store());
        let line = ue.sealer_where(&binds).args(&args).fails();
        assert_mentions(&line, &parts);
        before.assert_same(&Snapshot::of(&ue.store()), &line);
        assert!(!is_mounted(&dir), "{args:?} left a mount");
        assert!(
            server_pids(&ue.store()).is_empty(),
            "{args:?} left a server"
        );
    }
    drop(guard);
}

/// A child killed when dropped (a test that fails leaves no build behind).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Live (not zombie) processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
        let mut cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        for b in cmdline.iter_mut().filter(|b| **b == 0) {
            *b = b' ';
        }
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_killed_rootless_run_leaves_nothing_and_the_next_command_cleans_up() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    // A sleep no other test runs: this test finds it by its arguments.
    let sleep = format!("sleep 1200.{}", std::process::id());
    ue.write(
        "slow/Kubefile",
        &format!(
            "FROM kubernetes:v1.19.8\n\
         RUN mkdir -p opt/deep/er && touch opt/deep/er/f && chown -R 33:33 opt/deep && {sleep}\n"
        ),
    );
    let ctx = ue.env.path("slow");
    let mut build = Killed(
        ue.command(crate::util::user::sealer_bin())
            .args(["build", "-t", "slow:1"])
            .arg(&ctx)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting the build"),
    );
    let build = &mut build.0;
    let store = ue.store().display().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The chown has run once the command sleeps.
    while !processes_mentioning(&sleep)
        .iter()
        .any(|p| fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0")))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN command never slept"
        );
        assert!(build.try_wait().unwrap().is_none(), "the build ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let guards = processes_mentioning("__run-guard");
    assert!(
        processes_mentioning(&format!("{store}/tmp/run-"))
            .iter()
            .any(|p| guards.contains(p)),
        "the RUN guard runs in the store's tmp/"
    );
    build.kill().expect("killing the build");
    let _ = build.wait();
    let ctx_name = ctx.display().to_string();
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = [
            processes_mentioning(&store),
            processes_mentioning(&ctx_name),
        ]
        .concat();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < gone,
            "processes outlived the killed build: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tmp = ue.store().join("tmp");
    assert!(
        fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_some()),
        "the killed RUN step left its upper directory"
    );
    ue.sealer().arg("images").ok();
    let left: Vec<_> = fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the next command cleaned tmp/: {left:?}");
}

#[test]
fn dead_servers_of_an_ordinary_user_are_cleaned_by_umount() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    let dir = mountpoint(&ue, "rootfs");
    let guard = Unmounted {
        ue: &ue,
        dirs: vec![dir.clone()],
    };
    let kill = |pid: u32| {
        let st = Command::new("kill").args(["-9", &pid.to_string()]).status();
        assert!(st.is_ok_and(|s| s.success()), "kill -9 {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !server_pids(&ue.store()).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not die"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    // Read-only, in the host's table: left ENOTCONN, unmounted by fusermount3.
    ue.sealer().arg("mount").arg(BASE).arg(&dir).ok();
    kill(server_pids(&ue.store())[0]);
    assert!(is_mounted(&dir), "a dead server's mount stays in the table");
    assert_mentions(&ue.sealer().arg("mount").ok().stdout, &["dead"]);
    ue.sealer().arg("umount").arg(&dir).ok();
    assert!(!is_mounted(&dir), "umount cleaned the dead mount");

    // Writable, in its user namespace: the mount dies with the server, the
    // upper directory holds a tree of a subordinate id, which umount removes.
    ue.sealer().args(["mount", "--rw", BASE]).arg(&dir).ok();
    let pid = server_pids(&ue.store())[0];
    ue.command("nsenter")
        .args([
            "-U",
            "-m",
            "-t",
            &pid.to_string(),
            "--preserve-credentials",
            "sh",
            "-c",
        ])
        .arg(format!(
            "cd {} && mkdir -p a/b/c && touch a/b/c/f && chown -R 33:33 a",
            dir.display()
        ))
        .status()
        .map(|s| assert!(s.success(), "making a tree of uid 33 in the mount"))
        .expect("nsenter");
    kill(pid);
    ue.sealer().arg("umount").arg(&dir).ok();
    let left: Vec<_> = fs::read_dir(ue.store().join("mounts"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n.to_string_lossy().ends_with(".log")),
        "umount removed the dead mount's record and upper directory: {left:?}"
    );
    drop(guard);
}

#[test]
fn a_kernel_refusing_user_namespaces_is_one_error_line() {
    let ue = UserEnv::new();
    build_examples_as_user(&ue);
    ue.write("run/Kubefile", "FROM kubernetes:v1.19.8\nRUN touch etc/x\n");
    let ctx = ue.env.path("run").display().to_string();
    let before = Snapshot::of(&ue.store());
    let run = ue.sealer_where_the_kernel_refuses_userns(&["build", "-t", "x:1", &ctx]);
    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", run.stderr);
    assert_mentions(
        errors[0],
        &[
            "cannot make a user namespace",
            "user.max_user_namespaces",
            "sysctl -w",
        ],
    );
    before.assert_same(&Snapshot::of(&ue.store()), errors[0]);
    assert!(server_pids(&ue.store()).is_empty());
}
