//! Reading an image's merged rootfs without unpacking or mounting: resolve a
//! path through the layers' indexes, list directories, read files. Paths are
//! bytes (`&str` and `&[u8]` both do); only messages convert them to text.

use std::os::unix::ffi::OsStrExt;

use sealer_fs::merge::{self, Merged, Node};
use sealer_fs::{Kind, Layer, LayerIndex, Meta};

use super::Image;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// Symlink hops followed before giving up (as the kernel's ELOOP).
const MAX_HOPS: usize = 40;

/// An image's layers opened for reading, top first.
pub struct RootView {
    layers: Vec<Layer>,
}

/// One visible entry.
pub struct ViewEntry<'a> {
    /// Name in its directory.
    pub name: &'a [u8],
    /// The merged entry.
    pub merged: Merged,
    /// Its attributes (from the topmost layer having it).
    pub meta: Meta,
}

impl RootView {
    /// Opens every layer of `img` (rebuilding indexes where needed).
    pub fn open(store: &Store, img: &Image) -> Result<RootView> {
        Ok(RootView {
            layers: store.open_image_layers(img)?,
        })
    }

    /// Opens the layers `digests` (bottom first), as a build has them so far.
    pub fn of_layers(store: &Store, digests: &[crate::digest::Digest]) -> Result<RootView> {
        let mut layers = Vec::new();
        for d in digests.iter().rev() {
            layers.push(store.open_layer(d)?);
        }
        Ok(RootView { layers })
    }

    /// The layers' indexes, top first.
    pub fn stack(&self) -> Vec<&LayerIndex> {
        self.layers.iter().map(|l| &l.index).collect()
    }

    /// The index holding a node.
    pub fn layer_index(&self, n: Node) -> &LayerIndex {
        &self.layers[n.layer].index
    }

    /// Reads file data of the entry `n` at `offset` (see [`Layer::read_at`]).
    pub fn read_at(&self, n: Node, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.layers[n.layer].read_at(n.id, offset, buf)
    }

    /// Where a regular file's bytes lie in its layer's local blob (see
    /// [`Layer::extent`]).
    pub fn extent(&self, n: Node) -> Option<(&std::fs::File, u64, u64)> {
        self.layers[n.layer].extent(n.id)
    }

    /// The digest of the layer holding a node, which with the node's entry
    /// id names the entry across images.
    pub fn layer_digest(&self, n: Node) -> &[u8; 32] {
        self.layer_index(n).digest()
    }

    /// Attributes of a merged entry.
    pub fn meta(&self, m: &Merged) -> Meta {
        let top = m.top();
        self.layer_index(top).meta(top.id)
    }

    /// Resolves `path` without following a final symlink.
    pub fn resolve(&self, path: impl AsRef<[u8]>) -> Option<Merged> {
        let path = path.as_ref();
        if self.layers.is_empty() {
            return path
                .split(|&b| b == b'/')
                .all(|p| p.is_empty() || p == b".")
                .then(|| Merged::Dir(Vec::new()));
        }
        merge::resolve(&self.stack(), path)
    }

    /// Resolves `path`, following symlinks (inside the image, never outside:
    /// `..` at the root stays at the root, as in a chroot).
    pub fn resolve_follow(&self, path: impl AsRef<[u8]>) -> Result<Merged> {
        let path = path.as_ref();
        let mut todo: Vec<Vec<u8>> = split(path).into_iter().rev().collect();
        let mut done: Vec<Vec<u8>> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            if part == b".." {
                done.pop();
                continue;
            }
            done.push(part);
            let m = self
                .resolve(done.join(&b'/'))
                .ok_or_else(|| not_found(path))?;
            let top = m.top();
            if self.layer_index(top).kind(top.id) == Kind::Symlink {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(in_image(path, "too many levels of symbolic links"));
                }
                let target = self.layer_index(top).link_target(top.id).to_vec();
                done.pop();
                if target.starts_with(b"/") {
                    done.clear();
                }
                todo.extend(split(&target).into_iter().rev());
            }
        }
        self.resolve(done.join(&b'/'))
            .ok_or_else(|| not_found(path))
    }

    /// The visible children of a merged directory, sorted by name.
    pub fn read_dir(&self, dir: &Merged) -> Vec<ViewEntry<'_>> {
        let Merged::Dir(parts) = dir else {
            return Vec::new();
        };
        if parts.is_empty() {
            return Vec::new();
        }
        merge::read_dir(&self.stack(), parts)
            .into_iter()
            .map(|(name, merged)| {
                let meta = self.meta(&merged);
                ViewEntry { name, merged, meta }
            })
            .collect()
    }

    /// Copies a regular file's content (following symlinks) to `out`.
    pub fn copy_file(&self, path: impl AsRef<[u8]>, out: &mut impl std::io::Write) -> Result<u64> {
        let path = path.as_ref();
        let m = self.resolve_follow(path)?;
        let top = m.top();
        match self.layer_index(top).kind(top.id) {
            Kind::File => self.layers[top.layer]
                .copy_to(top.id, out)
                .at(std::ffi::OsStr::from_bytes(path)),
            Kind::Dir => Err(in_image(path, "is a directory")),
            _ => Err(in_image(path, "not a regular file")),
        }
    }

    /// A regular file's content, if it exists.
    pub fn read_file(&self, path: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let path = path.as_ref();
        if self.resolve(path).is_none() {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.copy_file(path, &mut out)?;
        Ok(Some(out))
    }
}

fn split(p: &[u8]) -> Vec<Vec<u8>> {
    p.split(|&b| b == b'/')
        .filter(|s| !s.is_empty() && *s != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

fn in_image(path: &[u8], why: &str) -> Error {
    Error::InImage {
        path: String::from_utf8_lossy(path).into_owned(),
        why: why.to_string(),
    }
}

fn not_found(path: &[u8]) -> Error {
    in_image(path, "no such file or directory in the image")
}
