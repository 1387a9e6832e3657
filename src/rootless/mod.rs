//! Sealer as an ordinary user: what the machine must allow, checked before
//! anything is done, and the user namespace that RUN steps and `--rw`
//! mounts run in (see `userns.rs`).
//!
//! ```text
//! root                    mounts with mount(2), unmounts with umount2(2)
//! ordinary user           read-only mounts through fusermount3 (setuid, Debian's fuse3),
//!                         unmounts with `fusermount3 -u` (`-uz` to detach)
//! ordinary user, RUN and  the command line runs again in a new user + mount namespace
//!   mount --rw            where the user is root (and /etc/subuid|subgid ranges are
//!                         uids 1..N, through newuidmap/newgidmap of Debian's uidmap);
//!                         the FUSE mount is made in there with mount(2), so the rootfs is
//!                         root's, and the upper directory holds the owners meant
//! umount|diff|commit of   the command line runs again in the namespaces of the mount's
//!   such a mount          server (as `nsenter -U -m` would), where the mount is
//! ```
//!
//! Every refusal is one sentence naming what is missing and how to enable it.

mod userns;

use std::fs::OpenOptions;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use userns::{
    in_user_namespace, rerun_in_namespaces_of, rerun_in_new_userns, run_in_new_userns, IdMap,
};

use crate::error::{Error, Result};

/// Where FUSE's kernel device is.
pub const DEV_FUSE: &str = "/dev/fuse";
/// Debian's FUSE configuration.
pub const FUSE_CONF: &str = "/etc/fuse.conf";

/// Whether this process mounts and unmounts with the system calls (root,
/// also root of a user namespace of ours); else through fusermount3.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// An error saying what the machine lacks for an ordinary user.
fn missing(why: String) -> Error {
    Error::Rootless(why)
}

/// `fusermount3`, found in PATH (or /usr/bin, /bin).
pub fn fusermount() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join("fusermount3"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            missing(
                "fusermount3 was not found: an ordinary user mounts FUSE file systems through it; \
                 install Debian's fuse3 (`apt-get install fuse3`) or run as root"
                    .into(),
            )
        })
}

/// Checks what a mount by an ordinary user (through fusermount3) needs:
/// `/dev/fuse`, fusermount3, and for `--allow-other`, `user_allow_other` in
/// /etc/fuse.conf. Root needs none of it.
pub fn check_fusermount(allow_other: bool) -> Result<()> {
    if is_root() {
        return Ok(());
    }
    check_dev_fuse_exists()?;
    fusermount()?;
    if allow_other {
        check_allow_other()?;
    }
    Ok(())
}

/// `--allow-other` as an ordinary user needs `user_allow_other` in /etc/fuse.conf.
pub fn check_allow_other() -> Result<()> {
    let text = std::fs::read_to_string(FUSE_CONF).unwrap_or_default();
    if fuse_conf_allows_other(&text) {
        return Ok(());
    }
    Err(missing(format!(
        "--allow-other as an ordinary user needs `user_allow_other` in {FUSE_CONF}: \
         add that line as root, or mount without --allow-other"
    )))
}

/// Whether fuse.conf text has a `user_allow_other` line (not commented out).
pub fn fuse_conf_allows_other(text: &str) -> bool {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .any(|l| l == "user_allow_other")
}

fn check_dev_fuse_exists() -> Result<()> {
    match std::fs::metadata(DEV_FUSE) {
        Ok(m) if m.file_type().is_char_device() => Ok(()),
        _ => Err(missing(format!(
            "{DEV_FUSE} is missing: load the fuse module as root (`modprobe fuse`), \
             or start the container with `--device /dev/fuse`"
        ))),
    }
}

/// A user namespace serves FUSE only if the user can open `/dev/fuse`
/// itself (fusermount3 cannot help in there).
pub fn check_dev_fuse_usable() -> Result<()> {
    check_dev_fuse_exists()?;
    match OpenOptions::new().read(true).write(true).open(DEV_FUSE) {
        Ok(_) => Ok(()),
        Err(e) => {
            let mode = std::fs::metadata(DEV_FUSE)
                .map(|m| format!("mode {:04o}, owner uid {}", m.mode() & 0o7777, m.uid()))
                .unwrap_or_default();
            Err(missing(format!(
                "{DEV_FUSE} cannot be opened by uid {} ({e}; {mode}): RUN steps and --rw mounts of \
                 an ordinary user serve FUSE in a user namespace; make it usable as a stock Debian \
                 system has it, as root: `chmod 0666 {DEV_FUSE}`",
                nix::unistd::getuid()
            )))
        }
    }
}

/// Checks the kernel lets an ordinary user make user namespaces.
pub fn check_userns() -> Result<()> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    match userns_sysctl_problem(
        read("/proc/sys/user/max_user_namespaces").as_deref(),
        read("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
    ) {
        Some(why) => Err(missing(why)),
        None => Ok(()),
    }
}

/// What the sysctls `user.max_user_namespaces` and
/// `kernel.unprivileged_userns_clone` (Debian's, absent upstream) say
/// against user namespaces, if anything.
pub fn userns_sysctl_problem(max: Option<&str>, unprivileged: Option<&str>) -> Option<String> {
    const HOW: &str = "RUN steps and --rw mounts of an ordinary user need user namespaces";
    if max.map(str::trim) == Some("0") {
        return Some(format!(
            "user namespaces are disabled (user.max_user_namespaces = 0): {HOW}; \
             enable them as root with `sysctl -w user.max_user_namespaces=15000`, or run as root"
        ));
    }
    if unprivileged.map(str::trim) == Some("0") {
        return Some(format!(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): \
             {HOW}; enable them as root with `sysctl -w kernel.unprivileged_userns_clone=1`, \
             or run as root"
        ));
    }
    None
}

/// The argument that makes `sealer` remove a directory tree (as root of a
/// new user namespace: see [`remove_tree_in_userns`]).
pub const REMOVE_TREE_ARG: &str = "__remove-tree";

/// Removes the directory tree at `path`, which this ordinary user cannot
/// remove itself: it holds directories of the user's subordinate ids that
/// a RUN step or a `--rw` mount made in their namespace before being
/// killed. Root of a new namespace with the same ids can.
pub fn remove_tree_in_userns(path: &Path) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Rootless(format!("finding the sealer binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(REMOVE_TREE_ARG)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    match run_in_new_userns(cmd, false)? {
        0 => Ok(()),
        n => Err(Error::Rootless(format!(
            "removing {} in a user namespace failed (exit status {n})",
            path.display()
        ))),
    }
}

/// Removes the directory tree at `path` like `std::fs::remove_dir_all`; an
/// ordinary user refused (`EACCES`: directories of its subordinate ids, left
/// by a RUN step or a `--rw` mount killed in their namespace) removes it as
/// root of a new user namespace. The error is the first refusal's.
pub fn remove_dir_all(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied
                && !is_root()
                && !in_user_namespace() =>
        {
            match remove_tree_in_userns(path) {
                Ok(()) => Ok(()),
                Err(why) => {
                    log::debug!("{why}");
                    Err(e)
                }
            }
        }
        other => other,
    }
}

/// `sealer __remove-tree PATH`: removes the tree; returns the exit status.
pub fn remove_tree_main(args: &[std::ffi::OsString]) -> i32 {
    let [path] = args else {
        log::error!("{REMOVE_TREE_ARG} is internal to sealer");
        return 2;
    };
    match std::fs::remove_dir_all(path) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => {
            log::error!("removing {}: {e}", Path::new(path).display());
            1
        }
    }
}

/// Where a command of an ordinary user runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// Here, as it is.
    Here,
    /// In a new user namespace where the user is root (RUN steps, `--rw`
    /// mounts; `fuse`: it serves FUSE in there).
    New {
        /// It needs `/dev/fuse`.
        fuse: bool,
        /// Without it the command cannot work; else, where no user
        /// namespace can be made, it runs here.
        required: bool,
    },
    /// In the namespaces of this process (the server of a `--rw` mount).
    Of(u32),
}

impl Namespace {
    /// Runs this command line again where it must run, for an ordinary user
    /// outside any user namespace; returns its exit status, or `None` when
    /// it runs here.
    pub fn rerun(self, root: &Path) -> Result<Option<i32>> {
        if is_root() || in_user_namespace() {
            return Ok(None);
        }
        match self {
            Namespace::Here => Ok(None),
            Namespace::New { fuse, required } => match rerun_in_new_userns(root, fuse) {
                Err(e) if !required => {
                    log::debug!("running without a user namespace: {e}");
                    Ok(None)
                }
                other => other.map(Some),
            },
            Namespace::Of(pid) => rerun_in_namespaces_of(pid, root).map(Some),
        }
    }
}

/// Whether `pid` lives in another user namespace than this process (the
/// server of a `--rw` mount an ordinary user made: its mount is in there).
pub fn in_other_user_namespace(pid: u32) -> bool {
    let ns = |p: &Path| std::fs::read_link(p).ok();
    match (
        ns(Path::new("/proc/self/ns/user")),
        ns(&Path::new("/proc").join(pid.to_string()).join("ns/user")),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_conf() {
        for (text, allows) in [
            ("", false),
            ("# user_allow_other\n", false),
            ("#user_allow_other", false),
            ("mount_max = 1000\nuser_allow_other\n", true),
            ("  user_allow_other  # yes\n", true),
            ("user_allow_others\n", false),
        ] {
            assert_eq!(fuse_conf_allows_other(text), allows, "{text:?}");
        }
    }

    #[test]
    fn userns_sysctls() {
        assert_eq!(userns_sysctl_problem(Some("15000\n"), None), None);
        assert_eq!(userns_sysctl_problem(Some("15000\n"), Some("1\n")), None);
        let max = userns_sysctl_problem(Some("0\n"), Some("1")).unwrap();
        assert!(max.contains("user.max_user_namespaces"), "{max}");
        let clone = userns_sysctl_problem(Some("100"), Some("0\n")).unwrap();
        assert!(
            clone.contains("sysctl -w kernel.unprivileged_userns_clone=1"),
            "{clone}"
        );
        assert_eq!(userns_sysctl_problem(None, None), None);
    }
}
