//! Reading the docker registry storage of a rootfs's `registry/` through
//! the layer view (see `build::images::layout` for the layout): links,
//! blob presence, manifest bytes, and every blob hashed.
//!
//! ```text
//! registry/docker/registry/v2/
//!   blobs/sha256/<2 hex>/<hex>/data                  hashed: must be sha256:<hex>
//!   repositories/<repo>/_manifests/tags/<tag>/current/link
//!   repositories/<repo>/_manifests/revisions/sha256/<hex>/link
//!   repositories/<repo>/_layers/sha256/<hex>/link
//! ```

use rayon::prelude::*;
use sealer_fs::merge::Merged;
use sealer_fs::Kind;
use sha2::Digest as _;

use crate::build::images::layout::{blob_path, ROOT};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::view::RootView;

/// Bytes of a `link` file read (`sha256:` + 64 hex digits and some room).
const LINK_MAX: u64 = 256;
/// Largest manifest or index read.
const MANIFEST_MAX: u64 = 16 << 20;

/// The registry storage of one rootfs.
pub struct Storage<'v> {
    view: &'v RootView,
}

/// What a link file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Link {
    /// No such file.
    Absent,
    /// A digest.
    To(Digest),
    /// Something else (shown as read).
    Garbage(String),
}

/// A blob whose content is not what its path says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBlob {
    /// The digest its path names (`sha256:<dir name>`, as written).
    pub digest: String,
    /// Its path in the rootfs.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

impl<'v> Storage<'v> {
    /// The storage of `view`.
    pub fn new(view: &'v RootView) -> Storage<'v> {
        Storage { view }
    }

    fn repo_dir(repo: &str) -> String {
        format!("{ROOT}/repositories/{repo}")
    }

    /// `_manifests/tags/<tag>/current/link` of `repo`.
    pub fn tag(&self, repo: &str, tag: &str) -> Result<Link> {
        self.link(&format!(
            "{}/_manifests/tags/{tag}/current/link",
            Self::repo_dir(repo)
        ))
    }

    /// `_manifests/revisions/sha256/<hex>/link` of `repo`.
    pub fn revision(&self, repo: &str, d: &Digest) -> Result<Link> {
        self.link(&format!(
            "{}/_manifests/revisions/sha256/{}/link",
            Self::repo_dir(repo),
            d.hex()
        ))
    }

    /// `_layers/sha256/<hex>/link` of `repo`.
    pub fn layer_link(&self, repo: &str, d: &Digest) -> Result<Link> {
        self.link(&format!(
            "{}/_layers/sha256/{}/link",
            Self::repo_dir(repo),
            d.hex()
        ))
    }

    fn link(&self, path: &str) -> Result<Link> {
        let Some(m) = self.view.resolve(path) else {
            return Ok(Link::Absent);
        };
        let meta = self.view.meta(&m);
        if meta.kind != Kind::File {
            return Ok(Link::Garbage(format!("{path} is not a regular file")));
        }
        let mut buf = vec![0u8; meta.size.min(LINK_MAX) as usize];
        let n = self
            .view
            .read_at(m.top(), 0, &mut buf)
            .map_err(|e| Error::InImage {
                path: format!("/{path}"),
                why: format!("cannot be read: {e}"),
            })?;
        buf.truncate(n);
        let text = String::from_utf8_lossy(&buf).trim().to_string();
        Ok(match text.parse::<Digest>() {
            Ok(d) => Link::To(d),
            Err(_) => Link::Garbage(text),
        })
    }

    /// Whether the blob's data file is a regular file.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.view
            .resolve(blob_path(d))
            .is_some_and(|m| self.view.meta(&m).kind == Kind::File)
    }

    /// A manifest's bytes (`None` if absent); too large is an error.
    pub fn manifest(&self, d: &Digest) -> Result<Option<Vec<u8>>> {
        let path = blob_path(d);
        let Some(m) = self.view.resolve(&path) else {
            return Ok(None);
        };
        let meta = self.view.meta(&m);
        if meta.kind != Kind::File {
            return Ok(None);
        }
        if meta.size > MANIFEST_MAX {
            return Err(Error::InImage {
                path: format!("/{path}"),
                why: format!("is {} bytes, too large for a manifest", meta.size),
            });
        }
        self.view.read_file(&path)
    }

    /// Hashes every `blobs/sha256/*/*/data`, in parallel; returns how many
    /// were hashed and those that are not what their path says.
    pub fn hash_blobs(&self) -> Result<(usize, Vec<BadBlob>)> {
        let root = format!("{ROOT}/blobs/sha256");
        let mut bad = Vec::new();
        let mut todo: Vec<(String, String)> = Vec::new();
        let Some(dir @ Merged::Dir(_)) = self.view.resolve(&root) else {
            return Ok((0, bad));
        };
        for prefix in self.view.read_dir(&dir) {
            let prefix_name = String::from_utf8_lossy(prefix.name).into_owned();
            for blob in self.view.read_dir(&prefix.merged) {
                let hex = String::from_utf8_lossy(blob.name).into_owned();
                let path = format!("{root}/{prefix_name}/{hex}/data");
                let digest = format!("sha256:{hex}");
                if Digest::from_hex(&hex).is_none() {
                    bad.push(BadBlob {
                        digest,
                        path,
                        why: "its directory is not a sha256 digest".into(),
                    });
                } else if !hex.starts_with(&prefix_name) {
                    bad.push(BadBlob {
                        digest,
                        path,
                        why: format!("stored under {prefix_name}/, not {}/", &hex[..2]),
                    });
                } else {
                    todo.push((hex, path));
                }
            }
        }
        let hashed = todo.len();
        let results: Vec<Option<BadBlob>> = todo
            .into_par_iter()
            .map(|(hex, path)| self.hash_one(&hex, path))
            .collect::<Result<_>>()?;
        bad.extend(results.into_iter().flatten());
        bad.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((hashed, bad))
    }

    fn hash_one(&self, hex: &str, path: String) -> Result<Option<BadBlob>> {
        let digest = format!("sha256:{hex}");
        let kind = self.view.resolve(&path).map(|m| self.view.meta(&m).kind);
        if kind != Some(Kind::File) {
            let why = match kind {
                None => "its data file is missing",
                Some(_) => "its data is not a regular file",
            };
            return Ok(Some(BadBlob {
                digest,
                path,
                why: why.into(),
            }));
        }
        let mut hasher = Hasher(sha2::Sha256::new());
        self.view.copy_file(&path, &mut hasher)?;
        let got = Digest(hasher.0.finalize().into());
        Ok((got.hex() != hex).then(|| BadBlob {
            digest,
            path,
            why: format!("content hashes to {got}"),
        }))
    }
}

/// Streams written bytes into SHA-256.
struct Hasher(sha2::Sha256);

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
