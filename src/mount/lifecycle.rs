//! The end of a mount's life, decided here and nowhere else: unmounting a
//! live mount and stopping its server, tearing down a mount whose server
//! died (for `umount`, `prune`, the cleanup of a dead build's `tmp/` and a
//! RUN step), and detaching what cannot be unmounted cleanly. Also the
//! checks before a mount starts.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::record::MountRecord;
use super::table::{mounted_at, mounted_under};
use crate::error::{IoContext, Result};
use crate::process::ProcessId;
use crate::rootless::Namespace;
use crate::store::Store;

/// An absolute path without touching the file system beyond the current
/// directory (a dead FUSE mount cannot be stat'ed).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path).at(path)?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Checks a directory can be mounted on: exists, is a directory, is empty,
/// is not already a mount. Returns its canonical path.
pub fn check_mountpoint(dir: &Path) -> Result<PathBuf> {
    let real = fs::canonicalize(dir)
        .map_err(|e| super::error(dir, format!("mountpoint {}: {e}", dir.display())))?;
    if !real.is_dir() {
        return Err(super::error(
            dir,
            format!("mountpoint {} is not a directory", dir.display()),
        ));
    }
    if let Some(m) = mounted_at(&real) {
        return Err(super::error(
            dir,
            format!(
                "mountpoint {} is already a mount ({} {}); umount it first",
                dir.display(),
                m.fstype,
                m.source
            ),
        ));
    }
    if fs::read_dir(&real).at(&real)?.next().is_some() {
        return Err(super::error(
            dir,
            format!("mountpoint {} is not empty", dir.display()),
        ));
    }
    Ok(real)
}

/// Detaches the mount at `path` lazily (the kernel finishes once the last
/// user lets go); a failure is a warning naming `what`. A path that is no
/// longer a mountpoint (`EINVAL`: a clean unmount got that far) is fine.
pub fn detach(path: &Path, what: &str) {
    match umount(path, true) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => log::warn!("detaching {what} {}: {e}", path.display()),
    }
}

/// Detaches the mount at `path` if it is one of ours (a `sealer:` FUSE
/// mount; nothing else there is touched), for a process that outlives the
/// server of that mount: the RUN guard of a killed build. `path` need not be
/// canonical; only its parent is resolved, since a dead FUSE mount cannot be
/// stat'ed. Returns whether a mount of ours was there.
pub fn detach_if_ours(path: &Path, what: &str) -> bool {
    let real = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    };
    if !mounted_at(&real).is_some_and(|m| m.is_ours()) {
        return false;
    }
    detach(&real, what);
    true
}

/// Unmounts `path` (lazily with `lazy`): umount2(2) as root; an ordinary
/// user, whom the kernel refuses (`EPERM`), goes through `fusermount3 -u`
/// (`-uz`), which unmounts what this user mounted. Errors keep their errno
/// (`EBUSY`, `EINVAL` for what is no longer mounted) for the callers.
fn umount(path: &Path, lazy: bool) -> nix::Result<()> {
    let flags = if lazy {
        nix::mount::MntFlags::MNT_DETACH
    } else {
        nix::mount::MntFlags::empty()
    };
    match nix::mount::umount2(path, flags) {
        Err(nix::errno::Errno::EPERM) if !crate::rootless::is_root() => fusermount_u(path, lazy),
        other => other,
    }
}

/// `fusermount3 -u [-z] -- PATH`, its complaint turned back into an errno.
fn fusermount_u(path: &Path, lazy: bool) -> nix::Result<()> {
    use nix::errno::Errno;
    let Ok(bin) = crate::rootless::fusermount() else {
        return Err(Errno::EPERM);
    };
    let mut cmd = std::process::Command::new(bin);
    cmd.arg(if lazy { "-uz" } else { "-u" }).arg("--").arg(path);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    log::debug!("fusermount3 on {}: {}", path.display(), said.trim());
    Err(fusermount_errno(&said))
}

/// The errno behind fusermount3's complaint (`fusermount3: failed to
/// unmount /x: Device or resource busy`, `entry for /x not found in
/// /etc/mtab` for what is not mounted).
fn fusermount_errno(said: &str) -> nix::errno::Errno {
    use nix::errno::Errno;
    if said.contains("busy") {
        Errno::EBUSY
    } else if said.contains("not found") || said.contains("Invalid argument") {
        Errno::EINVAL
    } else if said.contains("Permission denied") || said.contains("not permitted") {
        Errno::EPERM
    } else {
        Errno::EIO
    }
}

/// Detaches every mount at or below `dir` (a dead build's RUN mount under
/// `tmp/`), deepest first.
pub fn detach_under(dir: &Path) {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for mp in mounted_under(&dir) {
        detach(&mp, "the stale mount");
    }
}

/// Where a command about the mount at `dir` (umount, diff, commit) runs for
/// an ordinary user: in the namespaces of its server when the server
/// serves it in a user namespace (a `--rw` mount: there is the mount, and
/// the upper directory shows the owners meant); else here (where a dead
/// server's mount in the host's table can be unmounted with fusermount3).
pub fn namespace_for(store: &Store, dir: &Path) -> Result<Namespace> {
    let abs = absolute(dir)?;
    let abs = fs::canonicalize(&abs).unwrap_or(abs);
    let Some(rec) = store.mount_at(&abs)? else {
        return Ok(Namespace::Here);
    };
    Ok(
        if rec.alive() && crate::rootless::in_other_user_namespace(rec.server.pid) {
            Namespace::Of(rec.server.pid)
        } else {
            Namespace::Here
        },
    )
}

/// Unmounts `mountpoint` (ours) and stops its server. A mount whose server
/// died is torn down; a busy one is an error and stays mounted.
pub fn unmount(store: &Store, mountpoint: &Path) -> Result<()> {
    let rec = store.mount_at(mountpoint)?;
    let entry = mounted_at(mountpoint);
    match (&entry, &rec) {
        (None, None) => {
            return Err(super::error(
                mountpoint,
                format!("{} is not mounted", mountpoint.display()),
            ))
        }
        (Some(m), _) if !m.is_ours() => {
            return Err(super::error(
                mountpoint,
                format!(
                    "{} is not a sealer mount (it is {} {}); use umount(8)",
                    mountpoint.display(),
                    m.fstype,
                    m.source
                ),
            ))
        }
        _ => {}
    }
    match &rec {
        Some(r) if r.alive() => {
            let unmounted = match entry {
                Some(_) => umount_patiently(mountpoint),
                None => Ok(()),
            };
            match unmounted {
                Ok(()) => {}
                Err(nix::errno::Errno::EBUSY) => {
                    return Err(super::error(
                        mountpoint,
                        format!(
                            "{} is busy: a process still uses it; nothing was unmounted",
                            mountpoint.display()
                        ),
                    ))
                }
                Err(e) => {
                    // An ordinary user without fusermount3: say so.
                    if !crate::rootless::is_root() {
                        crate::rootless::fusermount()?;
                    }
                    return Err(super::error(
                        mountpoint,
                        format!("unmounting {}: {e}", mountpoint.display()),
                    ));
                }
            }
            stop_server(r.server);
            forget(store, r, true);
        }
        Some(r) => {
            teardown_dead(store, r, true);
        }
        // Ours in the table, but no record (its server died before writing it).
        None => detach(mountpoint, "the dead mount"),
    }
    Ok(())
}

/// Unmounts, retrying for a moment while the mount is busy: a reference
/// the kernel or the server itself holds for an instant (a `stat` of the
/// mountpoint in flight) is not a user's shell sitting in it.
fn umount_patiently(mountpoint: &Path) -> nix::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match umount(mountpoint, false) {
            Err(nix::errno::Errno::EBUSY) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Tears down a mount whose server is gone: detaches it if the table still
/// has it, removes the upper directory sealer made for it and the record
/// (and the log unless `keep_log`). Returns the bytes freed.
pub fn teardown_dead(store: &Store, rec: &MountRecord, keep_log: bool) -> u64 {
    if mounted_at(&rec.mountpoint).is_some_and(|m| m.is_ours()) {
        detach(&rec.mountpoint, "the dead mount");
    }
    forget(store, rec, keep_log)
}

/// Removes what a finished mount leaves: its owned upper directory, its
/// record, its log unless `keep_log`. Returns the bytes freed.
fn forget(store: &Store, rec: &MountRecord, keep_log: bool) -> u64 {
    let (json, log) = store.mount_paths(&rec.mountpoint);
    let mut paths = vec![json];
    paths.extend(rec.owned_dir());
    if !keep_log {
        paths.push(log);
    }
    let mut freed = 0;
    for p in paths {
        let bytes = crate::store::disk_usage(&p);
        let removed = if p.is_dir() && !p.is_symlink() {
            // The upper directory of an ordinary user's --rw mount may hold
            // files of its subordinate ids.
            crate::rootless::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        match removed {
            Ok(()) => freed += bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("removing {}: {e}", p.display()),
        }
    }
    freed
}

/// Waits for a server to exit after its unmount; kills it if it lingers.
/// Only a server known by its start time is ever signalled: a record of an
/// earlier version (pid only) might name a process that is not ours.
fn stop_server(server: ProcessId) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.is_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if server.start.is_some() && server.is_alive() {
        if let Err(e) = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        ) {
            log::warn!("stopping the server (pid {}): {e}", server.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    #[test]
    fn fusermount_complaints_keep_their_errno() {
        for (said, errno) in [
            (
                "fusermount3: failed to unmount /m: Device or resource busy",
                Errno::EBUSY,
            ),
            (
                "fusermount3: entry for /m not found in /etc/mtab",
                Errno::EINVAL,
            ),
            (
                "fusermount3: failed to unmount /m: Invalid argument",
                Errno::EINVAL,
            ),
            ("fusermount3: /m: Permission denied", Errno::EPERM),
            ("fusermount3: something else", Errno::EIO),
        ] {
            assert_eq!(super::fusermount_errno(said), errno, "{said}");
        }
    }
}
