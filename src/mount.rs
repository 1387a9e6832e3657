//! Mounts: records of live mounts under `<root>/mounts/`, the kernel's mount
//! table, starting a detached server and stopping it.
//!
//! ```text
//! <root>/mounts/<key>.json   {"image","image_id","mountpoint","pid","start","log","layers",...}
//!                            pid + start time identify the server (process.rs)
//! <root>/mounts/<key>.log    the server's stderr after it detached
//! key = first 16 hex digits of sha256(mountpoint)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{invalid, IoContext, Result};
use crate::process::ProcessId;
use crate::store::Store;

/// The source our mounts have in the kernel's mount table (`sealer:<image>`).
pub const SOURCE_PREFIX: &str = "sealer:";

/// A mount we started.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountRecord {
    /// Image name as the user gave it ("" for the layer view).
    pub image: String,
    /// Image id ("" for the layer view).
    pub image_id: String,
    /// Absolute mountpoint.
    pub mountpoint: PathBuf,
    /// The serving process.
    pub pid: u32,
    /// Its start time (clock ticks since boot), so a reused pid is not
    /// taken for it; missing in records of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    /// Where the server logs.
    pub log: PathBuf,
    /// The layer view (`mount --layers`) rather than an image.
    pub layers: bool,
    /// The upper directory of a `--rw` mount.
    #[serde(default)]
    pub upper: Option<PathBuf>,
    /// The upper directory was made by `sealer mount` (removed by umount).
    #[serde(default)]
    pub upper_owned: bool,
}

impl MountRecord {
    /// The serving process.
    pub fn server(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start: self.start,
        }
    }

    /// Whether the serving process is still alive (the same process, not
    /// another one that got its pid).
    pub fn alive(&self) -> bool {
        self.server().is_alive()
    }
}

fn key(mountpoint: &Path) -> String {
    Digest::of(mountpoint.as_os_str().as_encoded_bytes()).hex()[..16].to_string()
}

impl Store {
    fn mounts_dir(&self) -> PathBuf {
        self.root().join("mounts")
    }

    /// The default upper directory of a `--rw` mount at `mountpoint`.
    pub fn default_upper(&self, mountpoint: &Path) -> PathBuf {
        self.mounts_dir().join(key(mountpoint)).join("upper")
    }

    /// Where a mount's record and log live.
    pub fn mount_paths(&self, mountpoint: &Path) -> (PathBuf, PathBuf) {
        let k = key(mountpoint);
        (
            self.mounts_dir().join(format!("{k}.json")),
            self.mounts_dir().join(format!("{k}.log")),
        )
    }

    /// Every mount record, sorted by mountpoint.
    pub fn mounts(&self) -> Result<Vec<MountRecord>> {
        let dir = self.mounts_dir();
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                if let Ok(r) = fs::read(e.path()).map(|b| serde_json::from_slice::<MountRecord>(&b))
                {
                    out.extend(r.ok());
                }
            }
        }
        out.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
        Ok(out)
    }

    /// Records a live mount: written whole and renamed into place, but not
    /// synced, since a mount does not outlive a reboot and `sealer mount`
    /// waits for this record before it returns.
    pub fn add_mount(&self, rec: &MountRecord) -> Result<()> {
        fs::create_dir_all(self.mounts_dir()).at(self.mounts_dir())?;
        let bytes = serde_json::to_vec_pretty(rec).map_err(|e| invalid(e.to_string()))?;
        let path = self.mount_paths(&rec.mountpoint).0;
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, &bytes).at(&tmp)?;
        fs::rename(&tmp, &path).at(&path)
    }

    /// Forgets a mount (its log stays for reading).
    pub fn remove_mount(&self, mountpoint: &Path) {
        let _ = fs::remove_file(self.mount_paths(mountpoint).0);
    }
}

/// A mount in the kernel's mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// File system type (`fuse` for ours).
    pub fstype: String,
    /// Source (`sealer:<image>` for ours).
    pub source: String,
}

impl MountEntry {
    /// Whether `sealer mount` made it.
    pub fn is_ours(&self) -> bool {
        self.fstype.starts_with("fuse") && self.source.starts_with(SOURCE_PREFIX)
    }
}

/// The kernel's mount table entry at `path`, the topmost if mounts stack.
pub fn mounted_at(path: &Path) -> Option<MountEntry> {
    let table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.as_os_str().as_encoded_bytes();
    // The last entry wins: mounts stack.
    table.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mp = unescape(fields.get(4)?);
        let dash = fields.iter().position(|f| *f == "-")?;
        let (fstype, source) = (fields.get(dash + 1)?, fields.get(dash + 2)?);
        (mp == want).then(|| MountEntry {
            fstype: fstype.to_string(),
            source: String::from_utf8_lossy(&unescape(source)).into_owned(),
        })
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

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
    let real =
        fs::canonicalize(dir).map_err(|e| invalid(format!("mountpoint {}: {e}", dir.display())))?;
    if !real.is_dir() {
        return Err(invalid(format!(
            "mountpoint {} is not a directory",
            dir.display()
        )));
    }
    if let Some(m) = mounted_at(&real) {
        return Err(invalid(format!(
            "mountpoint {} is already a mount ({} {}); umount it first",
            dir.display(),
            m.fstype,
            m.source
        )));
    }
    if fs::read_dir(&real).at(&real)?.next().is_some() {
        return Err(invalid(format!(
            "mountpoint {} is not empty",
            dir.display()
        )));
    }
    Ok(real)
}

/// Unmounts `mountpoint` (ours) and stops its server. A mount whose server
/// died is detached; a busy one is an error and stays mounted.
pub fn unmount(store: &Store, mountpoint: &Path) -> Result<()> {
    let rec = store
        .mounts()?
        .into_iter()
        .find(|r| r.mountpoint == mountpoint);
    let entry = mounted_at(mountpoint);
    match (&entry, &rec) {
        (None, None) => return Err(invalid(format!("{} is not mounted", mountpoint.display()))),
        (Some(m), _) if !m.is_ours() => {
            return Err(invalid(format!(
                "{} is not a sealer mount (it is {} {}); use umount(8)",
                mountpoint.display(),
                m.fstype,
                m.source
            )))
        }
        _ => {}
    }
    if entry.is_some() {
        let alive = rec.as_ref().is_some_and(MountRecord::alive);
        let flags = if alive {
            nix::mount::MntFlags::empty()
        } else {
            nix::mount::MntFlags::MNT_DETACH
        };
        match nix::mount::umount2(mountpoint, flags) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => {
                return Err(invalid(format!(
                    "{} is busy: a process still uses it; nothing was unmounted",
                    mountpoint.display()
                )))
            }
            Err(e) => return Err(invalid(format!("unmounting {}: {e}", mountpoint.display()))),
        }
    }
    if let Some(r) = &rec {
        stop_server(r.server());
        if let (Some(upper), true) = (&r.upper, r.upper_owned) {
            let _ = fs::remove_dir_all(upper.parent().unwrap_or(upper));
        }
    }
    store.remove_mount(mountpoint);
    Ok(())
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
            eprintln!("warning: stopping the server (pid {}): {e}", server.pid);
        }
    }
}
