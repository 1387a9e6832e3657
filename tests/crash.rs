//! Crash safety: `sealer build` (COPY and RUN), `load`, `pull`, `commit`,
//! `tag` and `rmi` are killed with SIGKILL at random points, ten runs of
//! each (a fixed count, never a quota of kills per second). After each kill
//! the next command must find a sound store: `fsck` finds no problem (every
//! ref resolves, every referenced blob exists and hashes to its name, every
//! index is valid), `tmp/` holds nothing of a dead process, no process of
//! the killed command is left (a RUN child waiting on a dead mount was), and
//! every image that existed before reads the same (`ls -lR`, `cat`) and
//! still mounts.
//! The seed is fixed and printed; `SEALER_CRASH_SEED` chooses another.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::mount::{mount, mount_with};
use crate::util::registry::Registry;
use crate::util::{docker_archive, example, Env};

/// The seed when `SEALER_CRASH_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5EA1_E12C_4A54_0001;

/// Runs of the kill loop: ten of each command (every run rereads every
/// image, so the work grows with the square of this).
const ROUNDS: usize = 60;

/// A small deterministic PRNG (xorshift64*): no dependency, replayable.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `SEALER_CRASH_SEED`, else a fixed seed (every run the
    /// same choices, so a failure replays); prints the seed.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("SEALER_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_SEED);
        eprintln!("{what}: seed {seed} (SEALER_CRASH_SEED={seed} replays it)");
        Rng(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// What each image read like: `ls -lR` and the bytes of one file.
fn reading(env: &Env, image: &str) -> String {
    let ls = env.run(&["ls", "-lR", image]);
    let kubefile = env
        .sealer()
        .args(["cat", image, "Kubefile"])
        .output()
        .stdout;
    format!("{ls}\n--- Kubefile\n{kubefile}")
}

/// The tags of the store, from `sealer images` (first column NAME:TAG form).
fn tags(env: &Env) -> Vec<String> {
    let out = env.run(&["images"]);
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// `tmp/` holds only entries of live processes (the `--rw` mount server's pins).
fn assert_tmp_clean(env: &Env, after: &str) {
    let dir = env.root().join("tmp");
    for e in fs::read_dir(&dir).expect("reading tmp/") {
        let name = e
            .expect("dir entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        // `<what>-<pid>.<start>-<n>`: the pid is before the dot.
        let pid: Option<u32> = name
            .rsplit('-')
            .nth(1)
            .and_then(|p| p.split('.').next())
            .and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        assert!(alive, "tmp/{name} is left over after {after}");
    }
}

/// The store after a kill: sound, clean, and every earlier image the same.
fn check_store(env: &Env, before: &BTreeMap<String, String>, may_go: &[String], after: &str) {
    // The next command cleans what the dead one left in tmp/.
    let now = tags(env);
    assert_tmp_clean(env, after);
    let fsck = env.sealer().arg("fsck").output();
    assert_eq!(
        fsck.code,
        Some(0),
        "fsck after {after}:\n{}{}",
        fsck.stdout,
        fsck.stderr
    );
    assert!(
        fsck.stdout.contains("no problems found"),
        "fsck after {after}:\n{}",
        fsck.stdout
    );
    for (image, was) in before {
        if may_go.contains(image) && !now.contains(image) {
            continue;
        }
        assert_eq!(
            &reading(env, image),
            was,
            "{image} reads differently after {after}"
        );
    }
}

/// Pids of the live mount servers of the store (from their records).
fn mount_servers(env: &Env) -> Vec<u32> {
    let Ok(rd) = fs::read_dir(env.root().join("mounts")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let rec: serde_json::Value = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
            Some(rec["pid"].as_u64()? as u32)
        })
        .collect()
}

/// No process of the killed command is left (a RUN child, a server): within
/// a few seconds nothing but the store's live mount servers has the store on
/// its command line or as its working directory.
fn assert_no_process_left(env: &Env, after: &str) {
    let root = env.root();
    let root_s = root.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let servers = mount_servers(env);
        let me = std::process::id();
        let left: Vec<String> = fs::read_dir("/proc")
            .expect("reading /proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != me && !servers.contains(pid))
            .filter_map(|pid| {
                let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok();
                let ours = cmd.contains(&root_s) || cwd.is_some_and(|c| c.starts_with(&root));
                ours.then(|| format!("{pid}: {cmd}"))
            })
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left 5 s after {after}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills `sealer ARGS` after a random delay below `max_ms`; returns whether it
/// was still running when killed.
fn kill_randomly(env: &Env, rng: &mut Rng, args: &[&str], max_ms: u64) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealer"))
        .arg("--root")
        .arg(env.root())
        .args(args)
        .current_dir(env.dir())
        .env_remove("SEALER_ROOT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning sealer");
    std::thread::sleep(Duration::from_millis(rng.below(max_ms)));
    let running = child.try_wait().expect("try_wait").is_none();
    child.kill().expect("SIGKILL");
    child.wait().expect("reaping sealer");
    running
}

/// How long one uninterrupted run of `sealer ARGS` takes.
fn timed(env: &Env, args: &[&str]) -> u64 {
    let t = Instant::now();
    env.sealer().args(args).ok();
    (t.elapsed().as_millis() as u64).max(5)
}

#[test]
fn sigkill_at_random_points_never_loses_or_corrupts_an_image() {
    let env = Env::new();
    let mut rng = Rng::from_env("crash");
    let reg = Registry::start();
    env.build("base:1", &example("cluster-rootfs"));
    // A build context with a big file, rewritten for each build.
    let ctx = env.context(
        "ctx",
        &[(
            "Kubefile",
            "FROM base:1\nCOPY big.bin data/\nRUN echo ran > etc/run.txt\nCOPY small etc/\n",
        )],
    );
    let write_ctx = |rng: &mut Rng| {
        fs::write(ctx.join("big.bin"), rng.bytes(6 << 20)).expect("big.bin");
        fs::write(ctx.join("small"), rng.bytes(64)).expect("small");
    };
    // Archives to load: one big random layer each.
    let mut archives = Vec::new();
    for i in 0..3 {
        let mut layer = tar::Builder::new(Vec::new());
        let data = rng.bytes(6 << 20);
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        layer
            .append_data(&mut h, "blob.bin", &data[..])
            .expect("layer member");
        let layer = layer.into_inner().expect("layer tar");
        archives.push(docker_archive(&env, &format!("crash{i}"), &layer).0);
    }
    // An image in the registry to pull.
    write_ctx(&mut rng);
    env.sealer()
        .args(["build", "-t", "pushed:1"])
        .arg(&ctx)
        .ok();
    let remote = format!("{}/crash/pushed:1", reg.addr);
    env.run(&["push", "-q", "pushed:1", &remote]);
    // A --rw mount with a change to commit.
    let rw = mount_with(&env, &["--rw", "base:1"], "rw");
    fs::write(rw.dir.join("committed.txt"), "from the rw mount\n").expect("writing into the mount");
    let ro = mount(&env, "base:1", "ro");
    let ro_before = fs::read(ro.dir.join("Kubefile")).expect("reading the ro mount");

    let archive = |i: usize| archives[i % archives.len()].to_string_lossy().into_owned();
    let ctx_s = ctx.to_string_lossy().into_owned();
    let rw_s = rw.dir.to_string_lossy().into_owned();
    // One unkilled run of each, for the kill window.
    write_ctx(&mut rng);
    let t_build = timed(&env, &["build", "--no-cache", "-t", "built:0", &ctx_s]);
    let t_load = timed(&env, &["load", "-q", "-i", &archive(0)]);
    let t_pull = timed(&env, &["pull", &remote]);
    let t_commit = timed(&env, &["commit", &rw_s, "committed:0"]);
    let t_tag = timed(&env, &["tag", "base:1", "tagged:0"]);
    let t_rmi = timed(&env, &["rmi", "tagged:0"]);
    eprintln!(
        "uninterrupted: build {t_build} ms, load {t_load}, pull {t_pull}, commit {t_commit}, tag {t_tag}, rmi {t_rmi}"
    );

    let mut before: BTreeMap<String, String> = BTreeMap::new();
    let mut kills: BTreeMap<&str, u32> = BTreeMap::new();
    let started = Instant::now();
    for i in 1..=ROUNDS {
        for t in tags(&env) {
            if let std::collections::btree_map::Entry::Vacant(v) = before.entry(t) {
                let r = reading(&env, v.key());
                v.insert(r);
            }
        }
        let name = format!("v{i}:1");
        let (op, args, window, may_go): (&str, Vec<String>, u64, Vec<String>) = match i % 6 {
            0 => {
                write_ctx(&mut rng);
                let args = ["build", "--no-cache", "-t", &name, &ctx_s];
                ("build", args.map(String::from).to_vec(), t_build, vec![])
            }
            1 => (
                "load",
                vec!["load".into(), "-q".into(), "-i".into(), archive(i)],
                t_load,
                vec![],
            ),
            2 => {
                if tags(&env).iter().any(|t| t.contains("crash/pushed")) {
                    env.run(&["rmi", &remote]);
                    before.retain(|k, _| !k.contains("crash/pushed"));
                }
                ("pull", vec!["pull".into(), remote.clone()], t_pull, vec![])
            }
            3 => (
                "commit",
                vec!["commit".into(), rw_s.clone(), name.clone()],
                t_commit,
                vec![],
            ),
            4 => (
                "tag",
                vec!["tag".into(), "base:1".into(), name.clone()],
                t_tag,
                vec![],
            ),
            _ => {
                // Remove an image this loop made (never base:1, which is mounted).
                let victim = before
                    .keys()
                    .find(|k| {
                        k.starts_with("v") || k.starts_with("committed") || k.starts_with("built")
                    })
                    .cloned();
                match victim {
                    Some(v) => ("rmi", vec!["rmi".into(), v.clone()], t_rmi, vec![v]),
                    None => continue,
                }
            }
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        if kill_randomly(&env, &mut rng, &refs, window) {
            *kills.entry(op).or_default() += 1;
        }
        assert_no_process_left(&env, &format!("killing `sealer {}`", args.join(" ")));
        check_store(
            &env,
            &before,
            &may_go,
            &format!("killing `sealer {}`", args.join(" ")),
        );
        for g in &may_go {
            before.remove(g);
        }
        assert_eq!(
            fs::read(ro.dir.join("Kubefile")).expect("the ro mount still serves"),
            ro_before
        );
    }
    let total: u32 = kills.values().sum();
    eprintln!(
        "crash: {total} kills in {ROUNDS} runs ({kills:?}) in {:.1} s, store sound after each",
        started.elapsed().as_secs_f64()
    );
    // Each command ran ten times, killed at a random point within its
    // uninterrupted time: one that was never caught running was not tested.
    for op in ["build", "load", "pull", "commit", "tag", "rmi"] {
        assert!(
            kills.get(op).copied().unwrap_or(0) >= 1,
            "{op} was never killed while running in {ROUNDS} rounds: {kills:?}"
        );
    }
    // Every image ever seen still mounts and reads like its listing says.
    let survivors = tags(&env);
    let m = mount(&env, &survivors[0], "final");
    assert!(m.dir.join("Kubefile").exists());
    drop(m);
    // prune then leaves a store with nothing unreferenced, still sound.
    env.run(&["prune"]);
    let fsck = env.run(&["fsck"]);
    assert!(!fsck.contains("no image references"), "{fsck}");
    for (image, was) in &before {
        assert_eq!(&reading(&env, image), was, "{image} after prune");
    }
}

/// Mountpoints of the store's RUN steps (`<root>/tmp/run-*`) in /proc/mounts.
fn run_mounts(env: &Env) -> Vec<String> {
    let root = fs::canonicalize(env.root()).expect("canonical root");
    let prefix = format!("{}/tmp/run-", root.display());
    fs::read_to_string("/proc/mounts")
        .expect("reading /proc/mounts")
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|mp| mp.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Detaches the store's RUN mounts still there when dropped: a failing test
/// leaves no dead mount behind.
struct DetachRunMounts<'e>(&'e Env);

impl Drop for DetachRunMounts<'_> {
    fn drop(&mut self) {
        for mp in run_mounts(self.0) {
            match Command::new("umount").arg("-l").arg(&mp).status() {
                Ok(s) if s.success() => {}
                other => eprintln!("umount -l {mp}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_build_killed_during_run_leaves_no_process_and_no_mount_behind() {
    let env = Env::new();
    let _detach = DetachRunMounts(&env);
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\nRUN sleep 120\n"),
            ("etc/x", "x\n"),
        ],
    );
    let mut build = Command::new(env!("CARGO_BIN_EXE_sealer"))
        .arg("--root")
        .arg(env.root())
        .args(["build", "-t", "slow:1"])
        .arg(&ctx)
        .current_dir(env.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning sealer build");
    // Wait until the RUN command runs inside the mounted rootfs.
    let root = env.root();
    let deadline = Instant::now() + Duration::from_secs(30);
    let sleeper = loop {
        let found = fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .find_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
                (cmd.starts_with(b"sleep\x00120") && cwd.starts_with(&root)).then_some(pid)
            });
        if let Some(pid) = found {
            break pid;
        }
        if Instant::now() > deadline {
            let _ = build.kill();
            panic!("the RUN step did not start in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !run_mounts(&env).is_empty(),
        "the RUN mount is not in /proc/mounts while RUN runs"
    );
    build.kill().expect("SIGKILL");
    build.wait().expect("reaping sealer");
    // The guard detaches the dead build's mount on its own, before any
    // other sealer command runs: within a few seconds, polled.
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(5);
    loop {
        let left = run_mounts(&env);
        if left.is_empty() {
            eprintln!("RUN mount gone {:?} after the kill", killed.elapsed());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "5 s after the kill the RUN mount is still there: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_no_process_left(&env, "killing `sealer build` during RUN");
    assert!(
        !Path::new(&format!("/proc/{sleeper}/cmdline")).exists()
            || fs::read(format!("/proc/{sleeper}/cmdline")).is_ok_and(|c| c.is_empty()),
        "the RUN command outlived the build"
    );
    // The next command cleans the dead build's mount and files.
    env.run(&["images"]);
    assert_tmp_clean(&env, "killing `sealer build` during RUN");
}
