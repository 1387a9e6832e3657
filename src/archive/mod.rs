//! Image archives: `save` writes, `load` reads.
//!
//! ```text
//! oci-archive (tar of an OCI image layout; what `skopeo copy oci-archive:F:NAME` reads)
//!   oci-layout                 {"imageLayoutVersion":"1.0.0"}
//!   index.json                 one manifest descriptor per name (ref.name annotation)
//!   blobs/sha256/<hex>         manifests, configs, uncompressed layer tars, as stored
//!   (and the images' signatures and referrers: see carried.rs)
//!
//! docker-archive (what `docker load` reads; `docker save` before 25, skopeo)
//!   manifest.json              [{"Config":"<hex>.json","RepoTags":[..],"Layers":["<hex>.tar",..]}]
//!   <config-hex>.json          the config
//!   <layer-hex>.tar            layers (docker >= 25 instead points into blobs/sha256/)
//! ```
//!
//! A delta (`save --since BASE`) leaves out BASE's layers and names BASE in
//! index.json's annotations ([`SINCE_NAME`], [`SINCE_DIGEST`]); `load`
//! refuses it, naming BASE, unless the store holds every layer it leaves out. A split archive
//! (`save --split SIZE`) is the same tar cut into checked parts (split.rs).
//!
//! `load` takes either (and docker >= 25's OCI layout with a manifest.json),
//! with plain, gzip or zstd layers, optionally the whole archive gzip- or
//! zstd-compressed; every blob is verified against its digest or diff_id.

mod carried;
mod load;
mod save;
mod split;

pub use load::{load, Loaded};
pub use save::{save, save_with, Base, SaveOptions};
pub use split::MIN_PART;

/// `index.json` annotation of a delta archive (`save --since`): the name of
/// the image it builds on, whose layers it leaves out.
pub const SINCE_NAME: &str = "io.sealer.archive.since";
/// `index.json` annotation of a delta archive: the manifest (or index)
/// digest of that image, named when a store lacks the layers it leaves out.
pub const SINCE_DIGEST: &str = "io.sealer.archive.since.digest";

use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// The archive formats `save` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A tar of an OCI image layout.
    Oci,
    /// Docker's `docker save` format.
    Docker,
}

/// An archive error about `path`.
fn archive_error(path: &Path, why: impl Into<String>) -> Error {
    Error::Archive {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// The normalized relative path of an archive member (`./a//b` -> `a/b`);
/// `None` if it is absolute or climbs out with `..`.
fn member_path(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Resolves a link target found at `at` (relative to its directory, or
/// absolute from the archive root); `None` if it leaves the archive.
fn link_target(at: &Path, target: &Path) -> Option<PathBuf> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    if target.is_relative() {
        if let Some(dir) = at.parent() {
            out.extend(dir.components().map(|c| c.as_os_str().to_owned()));
        }
    }
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(n.to_owned()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths() {
        let ok = [
            ("a/b", "a/b"),
            ("./a//b", "a/b"),
            ("blobs/sha256/x", "blobs/sha256/x"),
        ];
        for (p, want) in ok {
            assert_eq!(member_path(Path::new(p)), Some(PathBuf::from(want)), "{p}");
        }
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/../b"] {
            assert_eq!(member_path(Path::new(bad)), None, "{bad}");
        }
        assert_eq!(
            link_target(Path::new("a/layer.tar"), Path::new("../b/layer.tar")),
            Some(PathBuf::from("b/layer.tar"))
        );
        assert_eq!(link_target(Path::new("a/x"), Path::new("../../etc")), None);
    }
}
