//! An ordinary user for the rootless tests: `sealer-rootless`, made with
//! `useradd` when missing (Debian's useradd gives it /etc/subuid and
//! /etc/subgid ranges), and `sealer` commands run as that user through
//! `setpriv`, with a HOME and XDG_DATA_HOME of the test's own (so the store
//! is the default one, `$XDG_DATA_HOME/sealer`). What the machine lacks
//! fails the test naming it: nothing is skipped.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Env, Sealer};

/// The test user's name.
pub const USER: &str = "sealer-rootless";

/// The unprivileged test user.
pub struct User {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

/// Fails the test with what this machine lacks for the rootless tests, and
/// how `scripts/test.sh` provides it.
pub fn require_rootless_prerequisites() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the rootless tests start as root (to become the test user with setpriv)"
    );
    let fuse = fs::metadata("/dev/fuse")
        .unwrap_or_else(|e| panic!("/dev/fuse: {e}: the rootless tests need FUSE (modprobe fuse)"));
    assert_eq!(
        fuse.mode() & 0o666,
        0o666,
        "/dev/fuse is mode {:o}: the rootless tests need it usable by everyone as a stock \
         Debian system has it (scripts/test.sh runs `chmod 0666 /dev/fuse`)",
        fuse.mode() & 0o7777
    );
    for (tool, package) in [
        ("fusermount3", "fuse3"),
        ("newuidmap", "uidmap"),
        ("newgidmap", "uidmap"),
        ("setpriv", "util-linux"),
        ("useradd", "passwd"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: the rootless tests need it; install it with \
             `apt-get install {package}` (scripts/test.sh does)"
        );
    }
    let max = fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    assert_ne!(
        max.trim(),
        "0",
        "user namespaces are disabled (user.max_user_namespaces = 0): the rootless tests need them"
    );
}

/// The sealer binary as the test user can run it: the build's own, or,
/// when a parent of the build directory is closed to other users (a
/// checkout under /root), a copy under /tmp shared by the tests of this
/// build (named by its size and mtime, written then renamed).
pub fn sealer_bin() -> PathBuf {
    let u = test_user();
    sealer_bin_for(u.uid, u.gid)
}

fn sealer_bin_for(uid: u32, gid: u32) -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| find_sealer_bin(uid, gid)).clone()
}

fn find_sealer_bin(uid: u32, gid: u32) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sealer"));
    let runs = |p: &Path| {
        Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args(["--init-groups", "--", "test", "-x"])
            .arg(p)
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs(&bin) {
        return bin;
    }
    let md = fs::metadata(&bin).expect("stat of the sealer binary");
    let dir = PathBuf::from("/tmp/sealer-rootless-bin");
    fs::create_dir_all(&dir).expect("creating the binary's directory");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    let copy = dir.join(format!(
        "sealer-{}-{}",
        md.len(),
        md.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    ));
    if !copy.exists() {
        let tmp = dir.join(format!(".sealer-{}", std::process::id()));
        fs::copy(&bin, &tmp).expect("copying the sealer binary");
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::rename(&tmp, &copy).expect("publishing the copy");
    }
    copy
}

/// The test user, made if missing. Concurrent tests serialise on a lock
/// file, so one `useradd` runs.
pub fn test_user() -> User {
    require_rootless_prerequisites();
    let lock = fs::File::create("/tmp/sealer-rootless-user.lock").expect("creating the user lock");
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("locking the user lock: {e}"));
    if nix::unistd::User::from_name(USER).ok().flatten().is_none() {
        let out = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", USER])
            .output()
            .expect("running useradd");
        assert!(
            out.status.success(),
            "useradd {USER} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let u = nix::unistd::User::from_name(USER)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the user {USER} does not exist after useradd"));
    let bin = sealer_bin_for(u.uid.as_raw(), u.gid.as_raw());
    let runs = Command::new("setpriv")
        .arg(format!("--reuid={}", u.uid))
        .arg(format!("--regid={}", u.gid))
        .args(["--init-groups", "--", "test", "-x"])
        .arg(&bin)
        .status()
        .is_ok_and(|s| s.success());
    assert!(runs, "the test user {USER} cannot run {}", bin.display());
    User {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }
}

/// One test's world as the test user sees it: the test's temporary
/// directory handed to the user, its HOME inside.
pub struct UserEnv {
    /// The test's temporary directory (owned by the user).
    pub env: Env,
    /// The user.
    pub user: User,
}

impl UserEnv {
    /// A fresh temporary directory owned by the test user.
    pub fn new() -> UserEnv {
        let user = test_user();
        let env = Env::new();
        fs::create_dir_all(env.path("home/.local/share")).expect("creating the user's home");
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", user.uid, user.gid))
            .arg(env.dir())
            .status()
            .expect("running chown");
        assert!(status.success(), "chown of {} failed", env.dir().display());
        fs::set_permissions(env.dir(), fs::Permissions::from_mode(0o755))
            .expect("opening the test directory");
        UserEnv { env, user }
    }

    /// The user's HOME.
    pub fn home(&self) -> PathBuf {
        self.env.path("home")
    }

    /// The user's store: the default one, `$XDG_DATA_HOME/sealer`.
    pub fn store(&self) -> PathBuf {
        self.env.path("home/.local/share/sealer")
    }

    /// A program run as the test user (setpriv: its uid, gid and groups),
    /// from the test directory, with a clean environment of its own.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("setpriv");
        self.as_user(&mut cmd, program);
        cmd
    }

    /// Appends setpriv's arguments and the environment of the test user to
    /// `cmd`, then `program`.
    fn as_user(&self, cmd: &mut Command, program: impl AsRef<std::ffi::OsStr>) {
        cmd.arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .current_dir(self.env.dir())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", self.home())
            .env("XDG_DATA_HOME", self.env.path("home/.local/share"))
            .env("USER", USER)
            .env("LOGNAME", USER);
    }

    /// `sealer ARGS` as the test user where the kernel itself refuses it
    /// user namespaces: in a user namespace of root's (ids 0-65535 mapped
    /// as they are) whose `user.max_user_namespaces` is 0, with a file
    /// saying 100 bound over that sysctl, so that sealer's own check passes
    /// and the refusal comes from unshare(2). Returns what it printed.
    pub fn sealer_where_the_kernel_refuses_userns(&self, args: &[&str]) -> super::Run {
        use std::io::Write as _;
        let hundred = self.env.path("hundred");
        fs::write(&hundred, "100\n").expect("writing the fake sysctl");
        // The second sh is executed as root of the mapped namespace, so it
        // has the capabilities the first, executed before the map, lost.
        let script = "read go && exec sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && \
                      mount --bind \"$1\" /proc/sys/user/max_user_namespaces && shift && \
                      exec setpriv \"$@\" </dev/null' sh \"$@\"";
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--user",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
        ])
        .arg(script)
        .arg("sh")
        .arg(&hundred);
        self.as_user(&mut cmd, sealer_bin_for(self.user.uid, self.user.gid));
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("running unshare");
        for map in ["uid_map", "gid_map"] {
            let path = format!("/proc/{}/{map}", child.id());
            // unshare(1) execs sh once the namespace exists: wait for it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while fs::read_to_string(format!("/proc/{}/comm", child.id()))
                .is_ok_and(|c| c.trim() == "unshare")
            {
                assert!(std::time::Instant::now() < deadline, "unshare never ran sh");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            fs::write(&path, "0 0 65536\n").unwrap_or_else(|e| panic!("writing {path}: {e}"));
        }
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("starting the command");
        drop(stdin);
        let out = child.wait_with_output().expect("waiting for unshare");
        super::Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stdout_bytes: out.stdout.clone(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        }
    }

    /// `sealer ARGS` as the test user in a private mount namespace where
    /// each (source, target) of `binds` is bound over the system's file: a
    /// machine that lacks something, made without changing this one.
    pub fn sealer_where(&self, binds: &[(&Path, &str)]) -> Sealer {
        let mut script = String::from("set -e\n");
        for i in 0..binds.len() {
            script += &format!("mount --bind \"${}\" \"${}\"\n", 2 * i + 1, 2 * i + 2);
        }
        script += &format!("shift {}\nexec setpriv \"$@\"\n", 2 * binds.len());
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &script,
            "sh",
        ]);
        for (src, dst) in binds {
            cmd.arg(src).arg(dst);
        }
        self.as_user(&mut cmd, sealer_bin_for(self.user.uid, self.user.gid));
        Sealer {
            cmd,
            shown: vec![format!("(as {USER}, {binds:?} bound) sealer")],
        }
    }

    /// `sealer ARGS` as the test user, on its default store (no `--root`).
    pub fn sealer(&self) -> Sealer {
        Sealer {
            cmd: self.command(sealer_bin_for(self.user.uid, self.user.gid)),
            shown: vec![format!("(as {USER}) sealer")],
        }
    }

    /// A shell script run as the test user in `dir`, which must succeed;
    /// returns its stdout.
    pub fn sh(&self, dir: &Path, script: &str) -> String {
        // The shell changes directory itself: root, running setpriv, may
        // not enter the user's FUSE mounts (no allow_other).
        let out = self
            .command("/bin/sh")
            .args(["-c", "cd \"$1\" && eval \"$2\"", "sh"])
            .arg(dir)
            .arg(script)
            .output()
            .expect("running sh as the test user");
        assert!(
            out.status.success(),
            "`{script}` as {USER} in {} failed ({})\nstdout:\n{}\nstderr:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a file as the test user would have it (owned by the user).
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.env.write(rel, content);
        let mut at = p.as_path();
        while at != self.env.dir() {
            std::os::unix::fs::chown(at, Some(self.user.uid), Some(self.user.gid))
                .expect("handing a file to the test user");
            at = at.parent().expect("a parent inside the test directory");
        }
        p
    }
}
