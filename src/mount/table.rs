//! The kernel's mount table (`/proc/self/mountinfo`), parsed in one place:
//! which file system is mounted where, and what is mounted below a path.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The source our mounts have in the table (`sealer:<image>`).
pub const SOURCE_PREFIX: &str = "sealer:";

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// File system type (`fuse` for ours).
    pub fstype: String,
    /// Source (`sealer:<image>` for ours).
    pub source: String,
}

impl MountEntry {
    /// Whether `sealer` made it.
    pub fn is_ours(&self) -> bool {
        self.fstype.starts_with("fuse") && self.source.starts_with(SOURCE_PREFIX)
    }
}

/// Parses mountinfo text: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPER`.
pub fn parse(table: &str) -> Vec<MountEntry> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some(MountEntry {
                mountpoint: PathBuf::from(OsStr::from_bytes(&unescape(fields.get(4)?))),
                fstype: unescape_lossy(fields.get(dash + 1)?),
                source: unescape_lossy(fields.get(dash + 2)?),
            })
        })
        .collect()
}

/// This process's mount table, in mount order (empty if unreadable).
pub fn entries() -> Vec<MountEntry> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// The entry at `path`, the topmost if mounts stack there.
pub fn mounted_at(path: &Path) -> Option<MountEntry> {
    entries().into_iter().rev().find(|e| e.mountpoint == path)
}

/// Mountpoints at or below `dir`, deepest first (the order to detach them).
pub fn mounted_under(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = entries()
        .into_iter()
        .map(|e| e.mountpoint)
        .filter(|mp| mp.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    found.dedup();
    found
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let octal = |c: u8| (b'0'..=b'7').contains(&c);
    while i < b.len() {
        // `\ooo` up to `\377`: one byte.
        if b[i] == b'\\'
            && i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && octal(b[i + 2])
            && octal(b[i + 3])
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

fn unescape_lossy(s: &str) -> String {
    String::from_utf8_lossy(&unescape(s)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_optional_fields() {
        let table = "\
36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw
37 35 0:50 / /tmp/caf\\351\\134x rw shared:2 shared:3 - fuse sealer:my-k8s:v1 rw,user_id=0
38 35 0:51 / /tmp/caf\\351\\134x/inner rw - fuse.other a\\011b rw
";
        let e = parse(table);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].mountpoint, PathBuf::from("/mnt/with space"));
        assert!(!e[0].is_ours());
        assert_eq!(
            e[1].mountpoint.as_os_str().as_bytes(),
            b"/tmp/caf\xe9\\x",
            "a Latin-1 name and a backslash"
        );
        assert!(e[1].is_ours());
        assert_eq!(e[1].source, "sealer:my-k8s:v1");
        assert_eq!(e[2].source, "a\tb");
        assert!(!e[2].is_ours());
    }

    #[test]
    fn a_backslash_not_followed_by_an_octal_escape_stays() {
        assert_eq!(unescape("a\\b\\12"), b"a\\b\\12");
        assert_eq!(unescape("\\400"), b"\\400", "above \\377 is not an escape");
    }
}
