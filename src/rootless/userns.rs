//! Running this command line again inside a user namespace: a new one
//! where the ordinary user is root (RUN steps, `--rw` mounts), or the one
//! of a running mount server (to unmount, diff or commit its mount). The
//! caller waits and exits with the status of the command run in there.
//!
//! ```text
//! sealer (uid U)                        child (fork)
//!   thread: waits for "unshared"  <---  unshare(NEWUSER|NEWNS); write(pid)
//!           newuidmap PID 0 U 1 1 S N   (or /proc/PID/uid_map "0 U 1" without uidmap)
//!           newgidmap PID 0 G 1 1 S N
//!           write("mapped")       --->  read; PDEATHSIG; exec sealer ARGS (uid 0 inside)
//!   waits for the child; exits with its status
//! ```

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

use nix::fcntl::OFlag;

use crate::error::{Error, Result};

/// One line of a uid or gid map: `count` ids from `inside` are `outside`
/// ids of the parent namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id outside.
    pub outside: u32,
    /// How many.
    pub count: u32,
}

/// The map of a user whose own id is `id` and whose subordinate ids (from
/// /etc/subuid or /etc/subgid) are `sub`: the user is root, the
/// subordinate ids are 1 and up, as rootless buildah and podman map them.
pub fn id_maps(id: u32, sub: Option<(u32, u32)>) -> Vec<IdMap> {
    let mut maps = vec![IdMap {
        inside: 0,
        outside: id,
        count: 1,
    }];
    if let Some((start, count)) = sub.filter(|&(_, n)| n > 0) {
        maps.push(IdMap {
            inside: 1,
            outside: start,
            count,
        });
    }
    maps
}

/// The first subordinate range of the user `name` (or numeric `id`) in
/// /etc/subuid or /etc/subgid text (`NAME:START:COUNT` lines).
pub fn sub_range(text: &str, name: Option<&str>, id: u32) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut f = line.trim().split(':');
        let (who, start, count) = (f.next()?, f.next()?, f.next()?);
        let ours = Some(who) == name || who.parse::<u32>().ok() == Some(id);
        ours.then_some((start.parse().ok()?, count.parse().ok()?))
    })
}

/// Set in the environment of a command sealer runs in a user namespace.
const MARK: &str = "_SEALER_USERNS";

/// Whether this process is sealer run again in a user namespace by sealer
/// (which never does it twice). A process in some other user namespace (a
/// rootless container) is not: its user gets one of its own, nested.
pub fn in_user_namespace() -> bool {
    std::env::var_os(MARK).is_some()
}

/// This command line again, with the store it uses now (inside, uid 0 would
/// otherwise pick root's store).
fn this_command(root: &Path) -> Result<Command> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Rootless(format!("finding the sealer binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env("SEALER_ROOT", root);
    Ok(cmd)
}

/// Waits for the command run in the namespace; its status is ours.
fn status_of(mut child: std::process::Child) -> Result<i32> {
    let status = child
        .wait()
        .map_err(|e| Error::Rootless(format!("waiting for sealer in the user namespace: {e}")))?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Runs this command line again in a new user and mount namespace where
/// this user is root; returns its exit status. Checks first what the
/// machine must allow (user namespaces, and with `fuse`, `/dev/fuse`).
pub fn rerun_in_new_userns(root: &Path, fuse: bool) -> Result<i32> {
    run_in_new_userns(this_command(root)?, fuse)
}

/// Runs `cmd` in a new user and mount namespace where this user is root
/// (see [`rerun_in_new_userns`]); returns its exit status.
pub fn run_in_new_userns(mut cmd: Command, fuse: bool) -> Result<i32> {
    if fuse {
        super::check_dev_fuse_usable()?;
    }
    super::check_userns()?;
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    let group = nix::unistd::Group::from_gid(gid)
        .ok()
        .flatten()
        .map(|g| g.name);
    let sub = |file: &str, who: Option<&str>, id: u32| {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|t| sub_range(&t, who, id))
    };
    let uids = id_maps(
        uid.as_raw(),
        sub("/etc/subuid", name.as_deref(), uid.as_raw()),
    );
    // newgidmap looks the user up by name too, not the group.
    let gids = id_maps(
        gid.as_raw(),
        sub("/etc/subgid", name.as_deref(), uid.as_raw())
            .or_else(|| sub("/etc/subgid", group.as_deref(), gid.as_raw())),
    );
    let pipe = || {
        nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|e| Error::Rootless(format!("making a pipe: {e}")))
    };
    let ((ready_r, ready_w), (go_r, go_w)) = (pipe()?, pipe()?);
    let raw = (
        ready_r.as_raw_fd(),
        ready_w.as_raw_fd(),
        go_r.as_raw_fd(),
        go_w.as_raw_fd(),
    );
    let parent = std::process::id() as libc::pid_t;
    cmd.env(MARK, "1");
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes system calls (close, unshare, getpid, write, read, prctl,
    // getppid) on file descriptors and values copied before the fork; it
    // allocates nothing (`io::Error` from an errno does not allocate).
    unsafe {
        cmd.pre_exec(move || {
            let (ready_r, ready_w, go_r, go_w) = raw;
            // Our copies of the parent's ends: an end the parent drops must
            // read as EOF here.
            libc::close(ready_r);
            libc::close(go_w);
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            let pid = libc::getpid().to_ne_bytes();
            if libc::write(ready_w, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
                return Err(io::Error::last_os_error());
            }
            let mut go = [0u8; 1];
            if libc::read(go_r, go.as_mut_ptr().cast(), 1) != 1 {
                // The parent could not write the maps; it says why.
                return Err(io::Error::from_raw_os_error(libc::ECANCELED));
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mapper = std::thread::spawn(move || -> std::result::Result<(), String> {
        let mut pid = [0u8; 4];
        File::from(ready_r)
            .read_exact(&mut pid)
            .map_err(|_| String::new())?;
        write_maps(i32::from_ne_bytes(pid), &uids, &gids)?;
        File::from(go_w)
            .write_all(&[1])
            .map_err(|e| format!("starting sealer in the user namespace: {e}"))
    });
    let spawned = cmd.spawn();
    drop((ready_w, go_r));
    let mapped = mapper
        .join()
        .unwrap_or_else(|_| Err("the id mapper failed".into()));
    match (spawned, mapped) {
        (Ok(child), _) => status_of(child),
        (Err(_), Err(why)) if !why.is_empty() => Err(Error::Rootless(why)),
        (Err(e), _) => Err(Error::Rootless(unshare_failed(&e))),
    }
}

/// Why a user namespace could not be made, and what to do about it.
fn unshare_failed(e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::ENOSPC) => {
            "the limit user.max_user_namespaces is reached or 0; raise it as \
             root with `sysctl -w user.max_user_namespaces=15000`"
        }
        Some(libc::EPERM | libc::EACCES) => {
            "the kernel or a security module forbids them to \
             ordinary users; allow them as root (`sysctl -w kernel.unprivileged_userns_clone=1`, \
             or on Ubuntu `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`)"
        }
        _ => "RUN steps and --rw mounts of an ordinary user need one",
    };
    format!("cannot make a user namespace ({e}): {hint}; or run as root")
}

/// Writes the child's uid and gid maps: through newuidmap/newgidmap when
/// there are subordinate ids and the tools, else the user alone (which
/// needs no helper, but leaves every other id unmapped).
fn write_maps(pid: i32, uids: &[IdMap], gids: &[IdMap]) -> std::result::Result<(), String> {
    for (tool, file, maps) in [
        ("newuidmap", "uid_map", uids),
        ("newgidmap", "gid_map", gids),
    ] {
        if maps.len() > 1 {
            let mut cmd = Command::new(tool);
            cmd.arg(pid.to_string());
            for m in maps {
                cmd.args([m.inside, m.outside, m.count].map(|n| n.to_string()));
            }
            match cmd.output() {
                Ok(out) if out.status.success() => continue,
                Ok(out) => log::warn!(
                    "{tool} failed ({}): {}; only this user is mapped",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => log::info!(
                    "note: {tool} cannot run ({e}): only this user is mapped in the user \
                     namespace; Debian's uidmap maps /etc/subuid and /etc/subgid too"
                ),
            }
        }
        let proc = Path::new("/proc").join(pid.to_string());
        let write = |name: &str, text: &str| {
            std::fs::write(proc.join(name), text)
                .map_err(|e| format!("writing /proc/{pid}/{name} of the user namespace: {e}"))
        };
        if file == "gid_map" {
            write("setgroups", "deny")?;
        }
        write(file, &format!("0 {} 1\n", maps[0].outside))?;
    }
    Ok(())
}

/// Runs this command line again in the user and mount namespaces of the
/// process `pid` (a mount server an ordinary user started), from the same
/// directory; returns its exit status.
pub fn rerun_in_namespaces_of(pid: u32, root: &Path) -> Result<i32> {
    let open = |ns: &str| {
        let p = format!("/proc/{pid}/ns/{ns}");
        File::open(&p).map_err(|e| Error::Rootless(format!("entering the namespace {p}: {e}")))
    };
    let (user, mnt) = (open("user")?, open("mnt")?);
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| CString::new(d.as_os_str().as_bytes()).ok())
        .unwrap_or_else(|| c"/".to_owned());
    let (user_fd, mnt_fd) = (user.as_raw_fd(), mnt.as_raw_fd());
    let mut cmd = this_command(root)?;
    cmd.env(MARK, "1");
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes system calls (setns, chdir) on descriptors and a C string made
    // before the fork, which stay open until the child execs.
    unsafe {
        cmd.pre_exec(move || {
            for (fd, kind) in [(user_fd, libc::CLONE_NEWUSER), (mnt_fd, libc::CLONE_NEWNS)] {
                if libc::setns(fd, kind) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::chdir(cwd.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        Error::Rootless(format!(
            "entering the namespaces of the mount server (pid {pid}): {e}"
        ))
    })?;
    drop((user, mnt));
    status_of(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:10\n";
        assert_eq!(sub_range(text, Some("alice"), 5), Some((100000, 65536)));
        assert_eq!(sub_range(text, Some("carol"), 1001), Some((200000, 1000)));
        assert_eq!(sub_range(text, Some("dave"), 7), None);
        assert_eq!(sub_range("garbage\nx:y:z\n", Some("x"), 0), None);
    }

    #[test]
    fn maps() {
        assert_eq!(
            id_maps(1000, Some((100000, 65536))),
            [
                IdMap {
                    inside: 0,
                    outside: 1000,
                    count: 1
                },
                IdMap {
                    inside: 1,
                    outside: 100000,
                    count: 65536
                }
            ]
        );
        assert_eq!(id_maps(1000, Some((100000, 0))).len(), 1);
        assert_eq!(id_maps(1000, None).len(), 1);
    }
}
