//! Records of live mounts under `<root>/mounts/`: what each serves, which
//! process serves it, and where it logs.
//!
//! ```text
//! <root>/mounts/<key>.json   {"image","image_id","mountpoint","pid","start","log","layers",
//!                             "upper","upper_owned"}   (the format of every version so far)
//! <root>/mounts/<key>.log    the server's stderr after it detached
//! <root>/mounts/<key>/upper  the upper directory of a --rw mount made by sealer
//! key = first 16 hex digits of sha256(mountpoint)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{IoContext, JsonContext, Result};
use crate::process::ProcessId;
use crate::store::Store;

/// What a mount serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// An image, read-only.
    Image {
        /// The name the user gave.
        name: String,
        /// Its image id.
        id: String,
    },
    /// An image, writable: changes go to `upper`.
    Writable {
        /// The name the user gave.
        name: String,
        /// Its image id.
        id: String,
        /// The upper directory.
        upper: PathBuf,
        /// `sealer mount` made `upper` (and `umount` removes it).
        owned: bool,
    },
    /// Every layer of the store (`mount --layers`).
    Layers,
}

/// A mount we started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountRecord {
    /// Absolute mountpoint.
    pub mountpoint: PathBuf,
    /// The serving process.
    pub server: ProcessId,
    /// Where the server logs.
    pub log: PathBuf,
    /// What it serves.
    pub served: Served,
}

impl MountRecord {
    /// Whether the serving process is still alive (the same process, not
    /// another one that got its pid).
    pub fn alive(&self) -> bool {
        self.server.is_alive()
    }

    /// The image's name as the user gave it (none for the layer view).
    pub fn image_name(&self) -> Option<&str> {
        match &self.served {
            Served::Image { name, .. } | Served::Writable { name, .. } => Some(name),
            Served::Layers => None,
        }
    }

    /// The image id (none for the layer view).
    pub fn image_id(&self) -> Option<&str> {
        match &self.served {
            Served::Image { id, .. } | Served::Writable { id, .. } => Some(id),
            Served::Layers => None,
        }
    }

    /// The upper directory of a writable mount.
    pub fn upper(&self) -> Option<&Path> {
        match &self.served {
            Served::Writable { upper, .. } => Some(upper),
            _ => None,
        }
    }

    /// The directory sealer made for the upper (removed with the mount).
    pub fn owned_dir(&self) -> Option<PathBuf> {
        match &self.served {
            Served::Writable {
                upper, owned: true, ..
            } => Some(upper.parent().unwrap_or(upper).to_path_buf()),
            _ => None,
        }
    }
}

/// The record as stored, field for field.
#[derive(Serialize, Deserialize)]
struct RecordFile {
    image: String,
    image_id: String,
    mountpoint: PathBuf,
    pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<u64>,
    log: PathBuf,
    layers: bool,
    #[serde(default)]
    upper: Option<PathBuf>,
    #[serde(default)]
    upper_owned: bool,
}

impl From<&MountRecord> for RecordFile {
    fn from(r: &MountRecord) -> RecordFile {
        let (image, image_id, layers, upper, upper_owned) = match &r.served {
            Served::Image { name, id } => (name.clone(), id.clone(), false, None, false),
            Served::Writable {
                name,
                id,
                upper,
                owned,
            } => (name.clone(), id.clone(), false, Some(upper.clone()), *owned),
            Served::Layers => (String::new(), String::new(), true, None, false),
        };
        RecordFile {
            image,
            image_id,
            mountpoint: r.mountpoint.clone(),
            pid: r.server.pid,
            start: r.server.start,
            log: r.log.clone(),
            layers,
            upper,
            upper_owned,
        }
    }
}

impl From<RecordFile> for MountRecord {
    fn from(f: RecordFile) -> MountRecord {
        let served = match (f.layers, f.upper) {
            (true, _) => Served::Layers,
            (false, Some(upper)) => Served::Writable {
                name: f.image,
                id: f.image_id,
                upper,
                owned: f.upper_owned,
            },
            (false, None) => Served::Image {
                name: f.image,
                id: f.image_id,
            },
        };
        MountRecord {
            mountpoint: f.mountpoint,
            server: ProcessId {
                pid: f.pid,
                start: f.start,
            },
            log: f.log,
            served,
        }
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
                let parsed = fs::read(e.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice::<RecordFile>(&b).ok());
                out.extend(parsed.map(MountRecord::from));
            }
        }
        out.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
        Ok(out)
    }

    /// The record of the mount at `mountpoint`, if any.
    pub fn mount_at(&self, mountpoint: &Path) -> Result<Option<MountRecord>> {
        Ok(self
            .mounts()?
            .into_iter()
            .find(|r| r.mountpoint == mountpoint))
    }

    /// Records a live mount: written whole and renamed into place, but not
    /// synced, since a mount does not outlive a reboot and `sealer mount`
    /// waits for its server to say it is ready, which it does after this.
    pub fn add_mount(&self, rec: &MountRecord) -> Result<()> {
        fs::create_dir_all(self.mounts_dir()).at(self.mounts_dir())?;
        let bytes = serde_json::to_vec_pretty(&RecordFile::from(rec)).json("a mount record")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_the_format_of_earlier_versions() {
        let old = br#"{"image":"k8s:v1","image_id":"sha256:ab","mountpoint":"/mnt/a","pid":42,
            "log":"/r/mounts/x.log","layers":false,"upper":"/r/mounts/x/upper","upper_owned":true}"#;
        let rec = MountRecord::from(serde_json::from_slice::<RecordFile>(old).unwrap());
        assert_eq!(
            rec.server,
            ProcessId {
                pid: 42,
                start: None
            }
        );
        assert_eq!(rec.image_id(), Some("sha256:ab"));
        assert_eq!(rec.owned_dir(), Some(PathBuf::from("/r/mounts/x")));
        let layers = MountRecord {
            served: Served::Layers,
            ..rec.clone()
        };
        for r in [rec, layers] {
            let text = serde_json::to_vec(&RecordFile::from(&r)).unwrap();
            let back = MountRecord::from(serde_json::from_slice::<RecordFile>(&text).unwrap());
            assert_eq!(back, r);
        }
    }
}
