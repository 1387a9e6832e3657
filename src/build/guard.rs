//! The guard of a RUN command: a small `sealer __run-guard` process between
//! the build and the command, so that a build killed at any point leaves no
//! process behind. The guard leads a new process group holding the command
//! and everything it starts; it gets SIGTERM when the build dies
//! (`PR_SET_PDEATHSIG`: code can run on that signal, not on the build's
//! SIGKILL) and then kills the whole group. The command itself gets SIGKILL
//! should the guard die, and changes into the mounted rootfs only once it
//! knows its parent is alive (see `process::die_with_parent`).
//!
//! The build serves the rootfs mount the command runs in: killed, it leaves
//! that mount dead in the table (`ENOTCONN`). The guard, told of the death
//! by the same signal, detaches it before it ends the group, so a killed
//! build leaves no mount behind either (the next command's cleanup of
//! `tmp/` stays the fallback for a build killed outside RUN).
//!
//! ```text
//! sealer build ──> sealer __run-guard <build pid> <cwd> -- ARGV...   (group leader)
//!                      └──> ARGV... (cwd = the mounted rootfs) ──> its children
//! ```

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, SigSet, Signal};
use nix::unistd::{getpgrp, getppid, Pid};

use crate::process::die_with_parent;

/// The first argument that makes `sealer` a guard rather than a command.
pub const GUARD_ARG: &str = "__run-guard";

/// A command running `argv` in `cwd` under a guard.
pub fn guarded(argv: &[String], cwd: &Path) -> std::io::Result<Command> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg(GUARD_ARG)
        .arg(std::process::id().to_string())
        .arg(cwd)
        .arg("--")
        .args(argv)
        .process_group(0);
    die_with_parent(&mut cmd, libc::SIGTERM, None)?;
    Ok(cmd)
}

/// The guard's main (`args` after [`GUARD_ARG`]); returns the exit status:
/// the command's, or 128 + the signal that ended it.
pub fn main(args: &[OsString]) -> i32 {
    let (parent, cwd, argv) = match args {
        [parent, cwd, dashes, argv @ ..] if dashes == "--" && !argv.is_empty() => {
            (parent, PathBuf::from(cwd), argv)
        }
        _ => {
            log::error!("{GUARD_ARG} is internal to `sealer build`");
            return 2;
        }
    };
    // Every thread started from here on has these blocked: the waiter
    // thread takes them with sigwait.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        log::error!("blocking signals in the RUN guard: {e}");
        return 2;
    }
    let parent = parent.to_str().and_then(|p| p.parse::<i32>().ok());
    // The build died before the guard was ready.
    if parent != Some(getppid().as_raw()) {
        detach_if_orphaned(parent, &cwd);
        return 2;
    }
    let mountpoint = cwd.clone();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            // Held to the end: the command killed here makes the main
            // thread's wait return, and it must not end the guard first.
            let _ending = ENDING.lock();
            let _ = killpg_others();
            detach_if_orphaned(parent, &mountpoint);
            // Ends what is left of the group, and this guard.
            let _ = killpg(getpgrp(), Signal::SIGKILL);
        }
    });
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if let Err(e) = die_with_parent(&mut cmd, libc::SIGKILL, Some(&cwd)) {
        log::error!("preparing {:?}: {e}", argv[0]);
        return 2;
    }
    // std resets the signal mask of the child: the command sees default
    // signal handling, not the guard's blocked set.
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot run {:?}: {e}", argv[0]);
            return 127;
        }
    };
    // A signal being handled ends the guard there (see above).
    let _ending = ENDING.lock();
    // Leftovers of the command (background jobs) end with it, as in a
    // container: the layer is taken once the guard returns.
    let _ = killpg_others();
    // Killed just now, the build is not there to unmount.
    if parent.is_some_and(|p| p != getppid().as_raw()) {
        crate::mount::detach_if_ours(&cwd, "the RUN mount of a killed build");
    }
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Taken by whichever thread ends the guard: the signal thread, or the main
/// thread once the command is over.
static ENDING: Mutex<()> = Mutex::new(());

/// How long the guard waits, once signalled, to see whether the build dies.
const ORPHAN_WAIT: Duration = Duration::from_secs(1);

/// Detaches the RUN mount at `mountpoint` once the build (`parent`) is
/// gone, which the guard sees as being handed to another parent. The death
/// signal comes when the build's spawning thread exits, possibly before its
/// other threads: a build being killed orphans the guard a moment later,
/// so this waits for it (bounded). A signal while the build lives (someone
/// signalled the guard) leaves the mount to the build, which unmounts it
/// when the command ends.
fn detach_if_orphaned(parent: Option<i32>, mountpoint: &Path) {
    let Some(parent) = parent else {
        return;
    };
    let deadline = Instant::now() + ORPHAN_WAIT;
    while parent == getppid().as_raw() {
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::mount::detach_if_ours(mountpoint, "the RUN mount of a killed build");
}

/// Kills the other members of this process group (not the guard itself),
/// scanning again until a scan finds none left: a member may fork while
/// it is being killed.
fn killpg_others() -> nix::Result<()> {
    let me = std::process::id() as i32;
    let group = getpgrp();
    for _ in 0..100 {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Ok(());
        };
        let mut found = false;
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            let pid = Pid::from_raw(pid);
            if pid.as_raw() != me && nix::unistd::getpgid(Some(pid)) == Ok(group) && !is_zombie(pid)
            {
                found = true;
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
        }
        if !found {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// A process that has exited but was not reaped yet (no longer a threat).
fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}
