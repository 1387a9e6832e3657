//! `fsck`: checks every blob's digest, every ref of `index.json` and every
//! layer index, under the writers' lock. With `repair` it fixes what can be
//! fixed without losing a good image:
//!
//! - a corrupt blob (content does not hash to its name) is removed, so a later
//!   pull or load can bring the right bytes (ingest skips blobs it has);
//! - a ref whose index, manifest, config or layers (of any of its platforms)
//!   are missing or corrupt is dropped
//!   from `index.json` (the image cannot be read; pull or load it again);
//! - a bad layer index is rebuilt from its blob, a missing one built;
//! - a stray file in `blobs/sha256/` or an index without its blob is removed;
//! - a wrong `oci-layout` is rewritten.
//!
//! Blobs no ref reaches are not problems (`prune` frees them); they are noted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;
use sealer_fs::{IndexError, LayerIndex};
use sha2::{Digest as _, Sha256};

use super::Store;
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::image::oci::{Config, Descriptor, Manifest, REF_NAME};
use crate::image::platform::PlatformSpec;

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// One thing fsck found wrong.
#[derive(Clone, Debug)]
pub struct Problem {
    /// What is wrong.
    pub what: String,
    /// What `--repair` did about it (`None`: it is still there).
    pub repaired: Option<String>,
}

/// What fsck checked and found.
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    /// Blobs hashed.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Refs (tags) checked.
    pub refs: u64,
    /// Layer indexes checked (or built).
    pub indexes: u64,
    /// Problems, repaired or not.
    pub problems: Vec<Problem>,
    /// Harmless findings (unreferenced blobs, indexes built on first use).
    pub notes: Vec<String>,
}

impl FsckReport {
    /// Problems that are still there.
    pub fn remaining(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.repaired.is_none())
            .count()
    }

    fn problem(&mut self, what: String, repaired: Option<String>) {
        self.problems.push(Problem { what, repaired });
    }
}

/// A blob's state after hashing.
enum BlobState {
    Good(u64),
    Corrupt(Digest),
    Unreadable(String),
}

impl Store {
    /// Checks the whole store; with `repair`, fixes what it can (see the
    /// module docs). Holds the writers' lock throughout.
    pub fn fsck(&self, repair: bool) -> Result<FsckReport> {
        let lock = self.lock()?;
        let mut report = FsckReport::default();
        self.check_layout(repair, &mut report)?;
        let mut blobs = self.check_blobs(repair, &mut report)?;
        let mut index = match self.read_index() {
            Ok(i) => i,
            Err(e) => {
                report.problem(format!("{e}; no ref can be checked"), None);
                return Ok(report);
            }
        };
        // Refs: every blob an image needs must be present and good.
        let mut layers: BTreeSet<Digest> = BTreeSet::new();
        let mut dropped = Vec::new();
        for desc in &index.manifests {
            if super::is_signature_entry(desc) {
                // Signature images: their blobs are checked with every blob.
                continue;
            }
            report.refs += 1;
            let name = desc
                .annotations
                .get(REF_NAME)
                .cloned()
                .unwrap_or_else(|| format!("(untagged {})", desc.digest));
            match self.check_tag(desc, &blobs) {
                Ok(l) => layers.extend(l),
                Err(why) => {
                    let fix = repair.then(|| format!("dropped the ref {name}"));
                    report.problem(format!("ref {name}: {why}"), fix);
                    dropped.push(desc.digest);
                }
            }
        }
        if repair && !dropped.is_empty() {
            index.manifests.retain(|d| !dropped.contains(&d.digest));
            self.write_index(&index, &lock)?;
        }
        // Layer indexes: of every layer a ref needs, and every index file.
        let index_dir = self.root.join("index/sha256");
        let mut with_index: BTreeSet<Digest> = BTreeSet::new();
        for e in fs::read_dir(&index_dir).at(&index_dir)?.flatten() {
            match e.file_name().to_str().and_then(Digest::from_hex) {
                Some(d) => {
                    with_index.insert(d);
                }
                None => {
                    let fix = repair.then(|| remove(&e.path())).flatten();
                    let what = format!("stray file {} in index/sha256", e.path().display());
                    report.problem(what, fix);
                }
            }
        }
        for d in layers
            .iter()
            .chain(with_index.iter())
            .collect::<BTreeSet<_>>()
        {
            match blobs.get(d) {
                Some(BlobState::Good(size)) => self.check_index(d, *size, repair, &mut report)?,
                None if self.is_lazy(d) => {}
                None if with_index.contains(d) => {
                    let path = self.index_path(d);
                    if repair {
                        report
                            .notes
                            .push(format!("removed the index of missing blob {d}"));
                        let _ = fs::remove_file(&path);
                    } else {
                        report
                            .notes
                            .push(format!("index of missing blob {d} (prune removes it)"));
                    }
                }
                _ => {}
            }
        }
        for (what, fix) in self.fsck_lazy(repair) {
            report.problem(what, fix);
        }
        let live = self.live_blobs(&index);
        blobs.retain(|d, _| !live.contains(d));
        let pinned = self.pinned_by_others();
        let loose: Vec<&Digest> = blobs.keys().filter(|d| !pinned.contains(d)).collect();
        if !loose.is_empty() {
            let bytes: u64 = loose
                .iter()
                .filter_map(|d| fs::metadata(self.blob_path(d)).ok())
                .map(|m| m.len())
                .sum();
            report.notes.push(format!(
                "{} blobs ({}) no image references: `sealer prune` frees them",
                loose.len(),
                crate::human::bytes(bytes)
            ));
        }
        Ok(report)
    }

    fn check_layout(&self, repair: bool, report: &mut FsckReport) -> Result<()> {
        let path = self.root.join("oci-layout");
        let ok = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["imageLayoutVersion"] == "1.0.0");
        if !ok {
            let fix = if repair {
                self.write_atomic(&path, LAYOUT)?;
                Some("rewrote oci-layout".to_string())
            } else {
                None
            };
            report.problem("oci-layout is missing or wrong".into(), fix);
        }
        Ok(())
    }

    /// Hashes every blob (in parallel); removes corrupt and stray ones when
    /// repairing. Returns the state of each blob left.
    fn check_blobs(
        &self,
        repair: bool,
        report: &mut FsckReport,
    ) -> Result<BTreeMap<Digest, BlobState>> {
        let dir = self.root.join("blobs/sha256");
        let mut names = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)?.flatten() {
            let d = e.file_name().to_str().and_then(Digest::from_hex);
            match d {
                Some(d) if e.file_type().is_ok_and(|t| t.is_file()) => names.push(d),
                _ => {
                    let fix = repair.then(|| remove(&e.path())).flatten();
                    let what = format!("stray entry {} in blobs/sha256", e.path().display());
                    report.problem(what, fix);
                }
            }
        }
        let states: Vec<(Digest, BlobState)> = names
            .into_par_iter()
            .map(|d| {
                let state = match hash_file(&self.blob_path(&d)) {
                    Ok((got, size)) if got == d => BlobState::Good(size),
                    Ok((got, _)) => BlobState::Corrupt(got),
                    Err(e) => BlobState::Unreadable(e.to_string()),
                };
                (d, state)
            })
            .collect();
        let mut out = BTreeMap::new();
        for (d, state) in states {
            report.blobs += 1;
            match &state {
                BlobState::Good(size) => report.bytes += size,
                BlobState::Corrupt(got) => {
                    let fix = repair
                        .then(|| {
                            let _ = fs::remove_file(self.index_path(&d));
                            remove(&self.blob_path(&d))
                        })
                        .flatten();
                    report.problem(
                        format!("blob {d} is corrupt: its content hashes to {got}"),
                        fix,
                    );
                    if repair {
                        continue;
                    }
                }
                BlobState::Unreadable(e) => {
                    report.problem(format!("blob {d} cannot be read: {e}"), None);
                }
            }
            out.insert(d, state);
        }
        Ok(out)
    }

    /// Checks what one ref names: an image, or every image of its index;
    /// returns their layers.
    fn check_tag(
        &self,
        desc: &Descriptor,
        blobs: &BTreeMap<Digest, BlobState>,
    ) -> std::result::Result<Vec<Digest>, String> {
        if !self.is_index(desc) {
            return self.check_ref(&desc.digest, blobs);
        }
        match blobs.get(&desc.digest) {
            Some(BlobState::Good(_)) => {}
            Some(_) => return Err(format!("its index {} is corrupt", desc.digest)),
            None => return Err(format!("its index {} is missing", desc.digest)),
        }
        let index = self
            .read_image_index(&desc.digest)
            .map_err(|e| e.to_string())?;
        if index.manifests.is_empty() {
            return Err(format!("its index {} lists no image", desc.digest));
        }
        let mut layers = Vec::new();
        for m in &index.manifests {
            let platform = m.platform.as_ref().map_or_else(
                || "(no platform)".to_string(),
                |p| PlatformSpec::of(p).to_string(),
            );
            let l = self
                .check_ref(&m.digest, blobs)
                .map_err(|why| format!("its {platform} image: {why}"))?;
            layers.extend(l);
        }
        Ok(layers)
    }

    /// Checks one ref's manifest, config and layers; returns its layers.
    fn check_ref(
        &self,
        manifest: &Digest,
        blobs: &BTreeMap<Digest, BlobState>,
    ) -> std::result::Result<Vec<Digest>, String> {
        let need = |d: &Digest, what: &str| match blobs.get(d) {
            Some(BlobState::Good(_)) => Ok(()),
            Some(BlobState::Corrupt(_)) => Err(format!("its {what} {d} is corrupt")),
            Some(BlobState::Unreadable(e)) => Err(format!("its {what} {d} cannot be read: {e}")),
            None => Err(format!("its {what} {d} is missing")),
        };
        need(manifest, "manifest")?;
        let bytes = self.read_blob(manifest).map_err(|e| e.to_string())?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| format!("its manifest {manifest} is not an image manifest: {e}"))?;
        need(&m.config.digest, "config")?;
        let config = self
            .read_blob(&m.config.digest)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice::<Config>(&config)
            .map_err(|e| format!("its config {} is not an image config: {e}", m.config.digest))?;
        for l in &m.layers {
            // A partly present layer (pull --lazy) is checked by fsck_lazy.
            if !(blobs.get(&l.digest).is_none() && self.is_lazy(&l.digest)) {
                need(&l.digest, "layer")?;
            }
        }
        self.load_image(manifest, None).map_err(|e| e.to_string())?;
        Ok(m.layers.iter().map(|l| l.digest).collect())
    }

    fn check_index(&self, d: &Digest, size: u64, repair: bool, r: &mut FsckReport) -> Result<()> {
        r.indexes += 1;
        let path = self.index_path(d);
        let err = match LayerIndex::open(&path, &d.0, size) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let missing = matches!(&err, IndexError::Io(io) if io.kind() == io::ErrorKind::NotFound);
        let rebuilt = if repair {
            let blob = File::open(self.blob_path(d)).at(self.blob_path(d))?;
            match self.rebuild_index(d, &blob) {
                Ok(_) => Some(format!("built the index of layer {d}")),
                Err(e) => {
                    r.problem(format!("layer {d} cannot be indexed: {e}"), None);
                    return Ok(());
                }
            }
        } else {
            None
        };
        if missing {
            r.notes.push(match rebuilt {
                Some(done) => done,
                None => format!("layer {d} has no index yet (built on first use)"),
            });
        } else {
            r.problem(format!("index of layer {d}: {err}"), rebuilt);
        }
        Ok(())
    }
}

/// Removes a file or directory; says what it did (`None`: it could not).
fn remove(path: &Path) -> Option<String> {
    let removed = if path.is_dir() && !path.is_symlink() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match removed {
        Ok(()) => Some(format!("removed {}", path.display())),
        Err(e) => {
            log::warn!("could not remove {}: {e}", path.display());
            None
        }
    }
}

/// sha256 and size of a file's content.
fn hash_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((Digest(h.finalize().into()), size))
}
