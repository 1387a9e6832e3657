//! An upper directory (of a `--rw` mount or a RUN step) as layer entries:
//! new and changed entries whole, `.wh.NAME` for whiteouts, `.wh..wh..opq`
//! inside opaque directories. Within every directory the opaque marker comes
//! first, then whiteouts, then the other entries, each group sorted by name;
//! a directory comes before its contents. So the same changes always make the
//! same layer.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sealer_fs::{sys, upper};

use super::layer::{Content, Item};
use crate::error::{IoContext, Result};

/// The layer entries of `upper`, in tar order. Empty when nothing changed.
/// Paths are the directory's names as bytes.
pub fn upper_items(upper: &Path) -> Result<Vec<(Vec<u8>, Item)>> {
    let mut out = Vec::new();
    walk(upper, b"", &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, prefix: &[u8], out: &mut Vec<(Vec<u8>, Item)>) -> Result<()> {
    let join = |name: &[u8]| {
        if prefix.is_empty() {
            name.to_vec()
        } else {
            [prefix, b"/", name].concat()
        }
    };
    if !prefix.is_empty() && upper::is_opaque(dir) {
        out.push((join(b".wh..wh..opq"), marker()));
    }
    let mut entries: Vec<(u8, Vec<u8>, fs::Metadata, std::path::PathBuf)> = Vec::new();
    for e in fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let md = fs::symlink_metadata(e.path()).at(e.path())?;
        let name = e.file_name().as_bytes().to_vec();
        let rank = if upper::is_whiteout(&md) { 0 } else { 1 };
        entries.push((rank, name, md, e.path()));
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (rank, name, md, path) in entries {
        if rank == 0 {
            out.push((join(&[&b".wh."[..], &name].concat()), marker()));
            continue;
        }
        let item = item(&path, &md)?;
        let is_dir = md.is_dir();
        let full = join(&name);
        if is_dir {
            out.push((full.clone(), item));
            walk(&path, &full, out)?;
        } else {
            out.push((full, item));
        }
    }
    Ok(())
}

fn marker() -> Item {
    let mut it = Item::dir(0o644, 0, 0, 0);
    it.content = Content::Empty;
    it
}

fn item(path: &Path, md: &fs::Metadata) -> Result<Item> {
    let ft = md.file_type();
    let content = if ft.is_dir() {
        Content::Dir
    } else if ft.is_symlink() {
        Content::Symlink(
            fs::read_link(path)
                .at(path)?
                .as_os_str()
                .as_bytes()
                .to_vec(),
        )
    } else if ft.is_file() {
        Content::File(path.to_path_buf())
    } else {
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            return Err(crate::error::Error::Io {
                path: path.to_path_buf(),
                err: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a socket cannot be stored in a layer",
                ),
            });
        };
        let rdev = md.rdev();
        Content::Special(kind, libc::major(rdev), libc::minor(rdev))
    };
    let mut it = Item::dir(md.mode() & 0o7777, md.uid(), md.gid(), md.mtime());
    it.mtime_nsec = md.mtime_nsec() as u32;
    it.size = if ft.is_file() { md.len() } else { 0 };
    it.content = content;
    it.link_group = (ft.is_file() && md.nlink() > 1).then(|| (md.dev(), md.ino()));
    for name in sys::list_xattrs(path).at(path)? {
        if name.starts_with(b"trusted.overlay.") || name == sealer_fs::upper::USER_OPAQUE_XATTR {
            continue;
        }
        if let Some(v) = sys::get_xattr(path, &name).at(path)? {
            it.xattrs.push((name, v));
        }
    }
    Ok(it)
}
