//! Plans what a COPY or ADD step puts in its layer: sources found in the
//! context (globs, directories' contents, single files), local archives
//! unpacked for ADD, destinations relative to the rootfs root, and parent
//! directories with the attributes the image below already gives them.
//! Source names and destination paths are bytes, as the context has them.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sealer_fs::index::build_index;
use sealer_fs::merge::{self, Merged};
use sealer_fs::tar::SeekSource;
use sealer_fs::{Kind, Layer, LayerIndex, ROOT};

use super::context::{find_sources, inside_context, join_rel as join, Ignore};
use super::layer::{Content, Item, Items};
use crate::error::{Error, IoContext, Result};

/// One COPY/ADD after variable expansion.
pub struct CopyRequest {
    /// Context-relative sources (globs allowed).
    pub sources: Vec<String>,
    /// Destination, relative to the rootfs root.
    pub dest: String,
    /// `--chown=UID:GID` (numeric).
    pub chown: Option<(u32, u32)>,
    /// `--chmod=MODE` (octal).
    pub chmod: Option<u32>,
    /// ADD: unpack local tar archives.
    pub add: bool,
    /// Downloaded `http(s)://` sources (remote.rs), never unpacked.
    pub remote: Vec<super::remote::Downloaded>,
}

/// The build context, opened once per build.
pub struct Context {
    /// The context directory's real path.
    pub real: PathBuf,
    /// Its ignore rules.
    pub ignore: Ignore,
}

/// The image below the step, for what exists at the destination.
pub struct Below<'a> {
    /// Layers, top first.
    pub layers: Vec<&'a Layer>,
}

impl Below<'_> {
    fn resolve(&self, path: &[u8]) -> Option<(Merged, &LayerIndex)> {
        let stack: Vec<&LayerIndex> = self.layers.iter().map(|l| &l.index).collect();
        let m = merge::resolve(&stack, path)?;
        let idx = &self.layers[m.top().layer].index;
        Some((m, idx))
    }

    fn is_dir(&self, path: &[u8]) -> bool {
        matches!(self.resolve(path), Some((Merged::Dir(_), _)))
    }

    /// A directory item carrying the attributes the image below has at `path`.
    fn dir_item(&self, path: &[u8]) -> Item {
        match self.resolve(path) {
            Some((m @ Merged::Dir(_), idx)) => {
                let meta = idx.meta(m.top().id);
                let mut it = Item::dir(meta.mode, meta.uid, meta.gid, meta.mtime);
                it.mtime_nsec = meta.mtime_nsec;
                it.xattrs = idx
                    .xattrs(m.top().id)
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                it
            }
            _ => Item::dir(0o755, 0, 0, 0),
        }
    }
}

/// Plans the entries of one COPY/ADD layer.
pub fn plan_copy(ctx: &Context, req: &CopyRequest, below: &Below<'_>, tmp: &Path) -> Result<Items> {
    let dest_parts = normalize_dest(&req.dest)?;
    let dest = dest_parts.join("/").into_bytes();
    let mut sources = Vec::new();
    for s in &req.sources {
        sources.extend(find_sources(&ctx.real, &ctx.ignore, s)?);
    }
    let slash = req.dest.ends_with('/') || dest.is_empty();
    let count = sources.len() + req.remote.len();
    if count > 1 && !slash && !below.is_dir(&dest) {
        return Err(Error::Source(format!(
            "COPY of {count} sources needs a destination ending in '/' (got {:?})",
            req.dest
        )));
    }
    let dest_is_dir = slash || count > 1 || below.is_dir(&dest);
    let mut items = Items::new();
    for rel in &sources {
        let real = inside_context(&ctx.real, rel)?;
        let md = fs::metadata(&real).at(&real)?;
        if md.is_dir() {
            add_tree(ctx, &real, rel, &dest, req, &mut items)?;
            continue;
        }
        if req.add {
            if let Some(archive) = open_archive(&real, tmp)? {
                add_archive(archive, &real, &dest, &mut items)?;
                continue;
            }
        }
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        let target = if dest_is_dir {
            join(&dest, name)
        } else {
            dest.clone()
        };
        if target.is_empty() {
            return Err(Error::Source(format!(
                "COPY destination for {:?} is the rootfs root itself",
                String::from_utf8_lossy(rel)
            )));
        }
        let item = Item::from_disk(real.clone(), &md).map_err(|e| Error::Source(e.to_string()))?;
        items.insert(target, owned(item, req));
    }
    for r in &req.remote {
        let target = if dest_is_dir {
            join(&dest, r.name.as_bytes())
        } else {
            dest.clone()
        };
        let md = fs::metadata(&r.path).at(&r.path)?;
        let mut item =
            Item::from_disk(r.path.clone(), &md).map_err(|e| Error::Source(e.to_string()))?;
        // Dockerfile semantics: mode 0600, the server's Last-Modified; the
        // cache knows the file by its URL's content, not the download.
        item.mode = 0o600;
        item.mtime = r.mtime.unwrap_or(0);
        item.mtime_nsec = 0;
        item.stamp = stamp_of(&r.digest);
        items.insert(target, owned(item, req));
    }
    add_parents(&mut items, below);
    Ok(items)
}

/// A content digest as an item's cache stamp.
fn stamp_of(d: &crate::digest::Digest) -> [i64; 4] {
    let mut out = [0i64; 4];
    for (i, chunk) in d.0.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out[i] = i64::from_le_bytes(b);
    }
    out
}

/// Destination components; `..` may not climb above the rootfs root.
fn normalize_dest(dest: &str) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    for p in dest.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                return Err(Error::Source(format!(
                    "COPY destination {dest:?} leaves the rootfs"
                )))
            }
            p => parts.push(p),
        }
    }
    Ok(parts)
}

fn owned(mut it: Item, req: &CopyRequest) -> Item {
    if let Some((u, g)) = req.chown {
        it.uid = u;
        it.gid = g;
    }
    if let Some(m) = req.chmod {
        it.mode = m;
    }
    it
}

/// Adds a directory's contents (not the directory itself) under `dest`.
fn add_tree(
    ctx: &Context,
    dir: &Path,
    rel: &[u8],
    dest: &[u8],
    req: &CopyRequest,
    items: &mut Items,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .at(dir)?
        .collect::<io::Result<_>>()
        .at(dir)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.as_bytes();
        let crel = join(rel, name);
        if ctx.ignore.ignored(&crel) {
            continue;
        }
        let path = e.path();
        let md = fs::symlink_metadata(&path).at(&path)?;
        let target = join(dest, name);
        let item =
            Item::from_disk(path.clone(), &md).map_err(|e| Error::Source(format!("COPY: {e}")))?;
        items.insert(target.clone(), owned(item, req));
        if md.is_dir() {
            add_tree(ctx, &path, &crel, &target, req, items)?;
        }
    }
    Ok(())
}

/// Gives every entry its parent directories, with the attributes the image
/// below has for them (so the merged view of those directories is unchanged).
fn add_parents(items: &mut Items, below: &Below<'_>) {
    let mut missing = Vec::new();
    for path in items.keys() {
        let mut p = &path[..];
        while let Some(slash) = p.iter().rposition(|&b| b == b'/') {
            let parent = &p[..slash];
            if !items.contains_key(parent) {
                missing.push(parent.to_vec());
            }
            p = parent;
        }
    }
    for parent in missing {
        if let std::collections::btree_map::Entry::Vacant(slot) = items.entry(parent) {
            let it = below.dir_item(slot.key());
            slot.insert(it);
        }
    }
}

/// A local tar (plain or gzip) for ADD to unpack; `None` if `path` is not one.
fn open_archive(path: &Path, tmp: &Path) -> Result<Option<(File, LayerIndex)>> {
    let mut f = File::open(path).at(path)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).at(path)?;
    let f = if n == 2 && magic == [0x1f, 0x8b] {
        let out_path = tmp.to_path_buf();
        let mut out = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&out_path)
            .at(&out_path)?;
        let _ = fs::remove_file(&out_path); // keep the open file, drop the name
        let mut gz = flate2::read::MultiGzDecoder::new(File::open(path).at(path)?);
        if io::copy(&mut gz, &mut out).is_err() {
            return Ok(None);
        }
        // Index the unpacked tar from its first byte, not from where the copy ended.
        out.seek(SeekFrom::Start(0)).at(path)?;
        out
    } else {
        File::open(path).at(path)?
    };
    if f.metadata().at(path)?.len() < 512 {
        return Ok(None);
    }
    let src = SeekSource::new(&f).at(path)?;
    let Ok((builder, _)) = build_index(src) else {
        return Ok(None);
    };
    let bytes = builder
        .finish(&[0; 32], 0)
        .map_err(|e| Error::Source(e.to_string()))?;
    let index = LayerIndex::from_bytes(bytes).map_err(|e| Error::Source(e.to_string()))?;
    Ok(Some((f, index)))
}

/// Adds an archive's entries under `dest` (whiteouts are not copied).
fn add_archive(
    (file, index): (File, LayerIndex),
    path: &Path,
    dest: &[u8],
    items: &mut Items,
) -> Result<()> {
    let file = Arc::new(file);
    let md = fs::metadata(path).at(path)?;
    let stamp = [
        std::os::unix::fs::MetadataExt::dev(&md) as i64,
        std::os::unix::fs::MetadataExt::ino(&md) as i64,
        std::os::unix::fs::MetadataExt::ctime(&md),
        0,
    ];
    let mut stack = vec![(ROOT, dest.to_vec())];
    while let Some((dir, prefix)) = stack.pop() {
        for id in index.children(dir) {
            let m = index.meta(id);
            let target = join(&prefix, index.name(id));
            let content = match m.kind {
                Kind::Dir => {
                    stack.push((id, target.clone()));
                    Content::Dir
                }
                Kind::File => Content::Range(file.clone(), m.data),
                Kind::Symlink => Content::Symlink(index.link_target(id).to_vec()),
                Kind::Whiteout => continue,
                _ => {
                    return Err(Error::Source(format!(
                    "ADD {}: entry {:?} is a device or fifo, which layers built here cannot hold",
                    path.display(),
                    String::from_utf8_lossy(&target)
                )))
                }
            };
            let mut it = Item::dir(m.mode, m.uid, m.gid, m.mtime);
            it.mtime_nsec = m.mtime_nsec;
            it.size = if m.kind == Kind::File { m.size } else { 0 };
            it.content = content;
            it.link_group = (m.nlink > 1).then_some((u64::MAX, m.inode as u64));
            it.xattrs = index
                .xattrs(id)
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            it.stamp = [stamp[0], stamp[1], stamp[2], id as i64];
            items.insert(target, it);
        }
    }
    Ok(())
}
