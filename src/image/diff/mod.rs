//! `sealer diff A B`: the differences between the merged rootfs of two
//! images, found without unpacking either. Entries that are the same layer
//! entry in both images (same layer digest and entry id) are equal without
//! reading them, and a directory whose merged parts are the same layer
//! entries in both is skipped whole; other files compare sizes first, then
//! their bytes, streamed.

pub mod tags;
pub mod unified;

use std::collections::BTreeMap;

use sealer_fs::merge::{Merged, Node};
use sealer_fs::{Kind, Meta};

use super::view::RootView;
use crate::error::{Error, Result};

/// How a path differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only in the second image.
    Added,
    /// In both, with different attributes or content.
    Changed,
    /// Only in the first image.
    Deleted,
}

impl ChangeKind {
    /// The letter `docker diff` prints: `A`, `C` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One attribute in which a changed path differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aspect {
    /// File type (a file became a directory, ...).
    Type,
    /// The bytes of a regular file (or a device's number).
    Content,
    /// Symlink target.
    Target,
    /// Permission bits.
    Mode,
    /// uid or gid.
    Owner,
    /// Modification time.
    Mtime,
    /// Extended attributes.
    Xattrs,
}

impl Aspect {
    /// The word printed in `C /path (content, mode)`.
    pub fn word(self) -> &'static str {
        match self {
            Aspect::Type => "type",
            Aspect::Content => "content",
            Aspect::Mode => "mode",
            Aspect::Owner => "owner",
            Aspect::Mtime => "mtime",
            Aspect::Target => "target",
            Aspect::Xattrs => "xattrs",
        }
    }
}

/// One path that differs.
#[derive(Clone, Debug)]
pub struct Change {
    /// Path in the rootfs, without a leading slash.
    pub path: Vec<u8>,
    /// Added, changed or deleted.
    pub kind: ChangeKind,
    /// For a change: what differs, in [`Aspect`] order.
    pub aspects: Vec<Aspect>,
    /// Attributes in the first image (None when added).
    pub old: Option<Meta>,
    /// Attributes in the second image (None when deleted).
    pub new: Option<Meta>,
}

impl Change {
    /// A regular file whose bytes differ (a candidate for `diff -u`).
    pub fn is_file_content(&self) -> bool {
        self.kind == ChangeKind::Changed
            && self.aspects.contains(&Aspect::Content)
            && self.old.is_some_and(|m| m.kind == Kind::File)
            && self.new.is_some_and(|m| m.kind == Kind::File)
    }

    /// What `diff -uN` shows a patch for: a regular file whose bytes
    /// changed, or one added or deleted (the missing side an empty file).
    pub fn has_patch(&self) -> bool {
        let file = |m: Option<Meta>| m.is_some_and(|m| m.kind == Kind::File);
        match self.kind {
            ChangeKind::Changed => self.is_file_content(),
            ChangeKind::Added => file(self.new),
            ChangeKind::Deleted => file(self.old),
        }
    }
}

/// What was walked, for the curious (and the tests of the skipping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Pairs of entries compared.
    pub compared: u64,
    /// Directories skipped whole: the same layer entries in both images.
    pub skipped_dirs: u64,
    /// File content bytes read to compare (both sides).
    pub bytes_read: u64,
}

/// The trees of two images, compared.
pub struct Comparison<'v> {
    /// The first image's view.
    pub old: &'v RootView,
    /// The second image's view.
    pub new: &'v RootView,
    /// The differences, sorted by path.
    pub changes: Vec<Change>,
    /// What the walk did.
    pub stats: WalkStats,
}

/// Compares `old` and `new` below each of `paths` (the whole rootfs when
/// none). A path must exist in at least one of the images.
pub fn compare<'v>(
    old: &'v RootView,
    new: &'v RootView,
    paths: &[Vec<u8>],
) -> Result<Comparison<'v>> {
    let mut w = Walker {
        old,
        new,
        found: BTreeMap::new(),
        stats: WalkStats::default(),
    };
    let roots: Vec<Vec<u8>> = if paths.is_empty() {
        vec![Vec::new()]
    } else {
        paths.iter().map(|p| normalise(p)).collect()
    };
    for path in roots {
        let (a, b) = (old.resolve(&path), new.resolve(&path));
        if a.is_none() && b.is_none() {
            return Err(Error::InImage {
                path: format!("/{}", String::from_utf8_lossy(&path)),
                why: "no such file or directory in either image".into(),
            });
        }
        w.entry(&path, a.as_ref(), b.as_ref())?;
    }
    Ok(Comparison {
        old,
        new,
        changes: w.found.into_values().collect(),
        stats: w.stats,
    })
}

/// `a//b/./c/` -> `a/b/c`.
fn normalise(p: &[u8]) -> Vec<u8> {
    p.split(|&b| b == b'/')
        .filter(|s| !s.is_empty() && *s != b".")
        .collect::<Vec<_>>()
        .join(&b'/')
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

struct Walker<'v> {
    old: &'v RootView,
    new: &'v RootView,
    found: BTreeMap<Vec<u8>, Change>,
    stats: WalkStats,
}

impl<'v> Walker<'v> {
    /// Compares one path present in at least one image, and what is below.
    fn entry(&mut self, path: &[u8], a: Option<&Merged>, b: Option<&Merged>) -> Result<()> {
        match (a, b) {
            (None, None) => Ok(()),
            (Some(a), None) => {
                self.one_side(path, a, ChangeKind::Deleted);
                Ok(())
            }
            (None, Some(b)) => {
                self.one_side(path, b, ChangeKind::Added);
                Ok(())
            }
            (Some(a), Some(b)) => self.both(path, a, b),
        }
    }

    fn both(&mut self, path: &[u8], a: &Merged, b: &Merged) -> Result<()> {
        self.stats.compared += 1;
        if self.same_nodes(a, b) {
            if matches!(a, Merged::Dir(_)) {
                self.stats.skipped_dirs += 1;
            }
            return Ok(());
        }
        let (ma, mb) = (self.old.meta(a), self.new.meta(b));
        let aspects = self.aspects(a.top(), &ma, b.top(), &mb)?;
        if !aspects.is_empty() {
            self.record(path, ChangeKind::Changed, aspects, Some(ma), Some(mb));
        }
        match (a, b) {
            (Merged::Dir(_), Merged::Dir(_)) => self.dirs(path, a, b),
            (Merged::Dir(_), _) => {
                self.children(path, a, ChangeKind::Deleted);
                Ok(())
            }
            (_, Merged::Dir(_)) => {
                self.children(path, b, ChangeKind::Added);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The two merged entries are the same layer entries (a directory: the
    /// same parts in the same order), so equal, subtree and all.
    fn same_nodes(&self, a: &Merged, b: &Merged) -> bool {
        let same = |x: &Node, y: &Node| {
            x.id == y.id && self.old.layer_digest(*x) == self.new.layer_digest(*y)
        };
        match (a, b) {
            (Merged::Leaf(x), Merged::Leaf(y)) => same(x, y),
            (Merged::Dir(xs), Merged::Dir(ys)) => {
                xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
            }
            _ => false,
        }
    }

    fn dirs(&mut self, path: &[u8], a: &Merged, b: &Merged) -> Result<()> {
        let (olds, news) = (self.old.read_dir(a), self.new.read_dir(b));
        let mut olds = olds.into_iter().peekable();
        let mut news = news.into_iter().peekable();
        loop {
            let order = match (olds.peek(), news.peek()) {
                (None, None) => return Ok(()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => x.name.cmp(y.name),
            };
            match order {
                std::cmp::Ordering::Less => {
                    if let Some(x) = olds.next() {
                        self.one_side(&join(path, x.name), &x.merged, ChangeKind::Deleted);
                    }
                }
                std::cmp::Ordering::Greater => {
                    if let Some(y) = news.next() {
                        self.one_side(&join(path, y.name), &y.merged, ChangeKind::Added);
                    }
                }
                std::cmp::Ordering::Equal => {
                    if let (Some(x), Some(y)) = (olds.next(), news.next()) {
                        self.both(&join(path, x.name), &x.merged, &y.merged)?;
                    }
                }
            }
        }
    }

    /// A path and everything below it, in one image only.
    fn one_side(&mut self, path: &[u8], m: &Merged, kind: ChangeKind) {
        let view = self.view(kind);
        let meta = view.meta(m);
        let (old, new) = match kind {
            ChangeKind::Deleted => (Some(meta), None),
            _ => (None, Some(meta)),
        };
        self.record(path, kind, Vec::new(), old, new);
        self.children(path, m, kind);
    }

    fn children(&mut self, path: &[u8], m: &Merged, kind: ChangeKind) {
        let view = self.view(kind);
        for e in view.read_dir(m) {
            self.one_side(&join(path, e.name), &e.merged, kind);
        }
    }

    fn view(&self, kind: ChangeKind) -> &'v RootView {
        match kind {
            ChangeKind::Deleted => self.old,
            _ => self.new,
        }
    }

    fn record(
        &mut self,
        path: &[u8],
        kind: ChangeKind,
        aspects: Vec<Aspect>,
        old: Option<Meta>,
        new: Option<Meta>,
    ) {
        self.found.insert(
            path.to_vec(),
            Change {
                path: path.to_vec(),
                kind,
                aspects,
                old,
                new,
            },
        );
    }

    /// What differs between two entries (not their children).
    fn aspects(&mut self, a: Node, ma: &Meta, b: Node, mb: &Meta) -> Result<Vec<Aspect>> {
        let mut out = Vec::new();
        if ma.kind != mb.kind {
            out.push(Aspect::Type);
        } else if self.content_differs(a, ma, b, mb)? {
            out.push(Aspect::Content);
        }
        let (ia, ib) = (self.old.layer_index(a), self.new.layer_index(b));
        if ma.kind == Kind::Symlink
            && mb.kind == Kind::Symlink
            && ia.link_target(a.id) != ib.link_target(b.id)
        {
            out.push(Aspect::Target);
        }
        if ma.perm() != mb.perm() {
            out.push(Aspect::Mode);
        }
        if (ma.uid, ma.gid) != (mb.uid, mb.gid) {
            out.push(Aspect::Owner);
        }
        if (ma.mtime, ma.mtime_nsec) != (mb.mtime, mb.mtime_nsec) {
            out.push(Aspect::Mtime);
        }
        let mut xa: Vec<_> = ia.xattrs(a.id).collect();
        let mut xb: Vec<_> = ib.xattrs(b.id).collect();
        xa.sort_unstable();
        xb.sort_unstable();
        if xa != xb {
            out.push(Aspect::Xattrs);
        }
        Ok(out)
    }

    fn content_differs(&mut self, a: Node, ma: &Meta, b: Node, mb: &Meta) -> Result<bool> {
        match ma.kind {
            Kind::File => {
                if ma.size != mb.size {
                    return Ok(true);
                }
                if a.id == b.id && self.old.layer_digest(a) == self.new.layer_digest(b) {
                    return Ok(false);
                }
                self.bytes_differ(a, b, ma.size)
            }
            Kind::CharDev | Kind::BlockDev => Ok(ma.data != mb.data),
            _ => Ok(false),
        }
    }

    /// Streams both files in chunks; stops at the first difference.
    fn bytes_differ(&mut self, a: Node, b: Node, size: u64) -> Result<bool> {
        const CHUNK: usize = 256 * 1024;
        let (mut ba, mut bb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
        let mut off = 0u64;
        while off < size {
            let na = self
                .old
                .read_at(a, off, &mut ba)
                .map_err(|e| read_error(self.old, a, e))?;
            let nb = self
                .new
                .read_at(b, off, &mut bb)
                .map_err(|e| read_error(self.new, b, e))?;
            self.stats.bytes_read += (na + nb) as u64;
            // `read_at` fails on a short blob, so 0 here only means a bug.
            if na == 0 || na != nb || ba[..na] != bb[..nb] {
                return Ok(true);
            }
            off += na as u64;
        }
        Ok(false)
    }
}

fn read_error(view: &RootView, n: Node, err: std::io::Error) -> Error {
    let path = view.layer_index(n).path(n.id);
    Error::InImage {
        path: format!("/{}", String::from_utf8_lossy(&path)),
        why: format!("cannot be read: {err}"),
    }
}

/// Files larger than this are not diffed by lines.
const PATCH_MAX: u64 = 32 << 20;

/// A changed, added or deleted regular file as `diff -uN` shows it:
/// `--- a/PATH`, `+++ b/PATH` (without `diff`'s timestamps, as git) and the
/// hunks, or `Binary files a/PATH and b/PATH differ` when either side holds
/// a NUL byte or is not UTF-8. The side without the file is an empty file
/// named as the other (`diff -N`, not git's `/dev/null`): an added file is
/// `@@ -0,0 +1,N @@`, a deleted one `@@ -1,N +0,0 @@`, and an empty file
/// added or deleted has no patch (empty output), as with `diff -uN`.
pub fn patch(cmp: &Comparison, change: &Change) -> Result<Vec<u8>> {
    let p = &change.path;
    let sizes = (
        change.old.map_or(0, |m| m.size),
        change.new.map_or(0, |m| m.size),
    );
    if sizes.0 > PATCH_MAX || sizes.1 > PATCH_MAX {
        return Ok([
            b"Files a/",
            &p[..],
            b" and b/",
            p,
            b" differ (too large to diff by lines)\n",
        ]
        .concat());
    }
    let side = |view: &RootView, m: Option<Meta>| match m {
        Some(_) => content(view, p),
        None => Ok(Vec::new()),
    };
    let (old, new) = (side(cmp.old, change.old)?, side(cmp.new, change.new)?);
    if old == new {
        return Ok(Vec::new());
    }
    if !unified::is_text(&old) || !unified::is_text(&new) {
        return Ok([b"Binary files a/", &p[..], b" and b/", p, b" differ\n"].concat());
    }
    let mut out = [b"--- a/", &p[..], b"\n+++ b/", p, b"\n"].concat();
    out.extend(unified::hunks(&old, &new));
    Ok(out)
}

/// The bytes of the regular file at `path` (not following symlinks).
fn content(view: &RootView, path: &[u8]) -> Result<Vec<u8>> {
    let missing = || Error::InImage {
        path: format!("/{}", String::from_utf8_lossy(path)),
        why: "no such file in the image".into(),
    };
    let node = view.resolve(path).ok_or_else(missing)?.top();
    let mut out = vec![0u8; view.layer_index(node).meta(node.id).size as usize];
    let mut at = 0;
    while at < out.len() {
        let n = view
            .read_at(node, at as u64, &mut out[at..])
            .map_err(|e| read_error(view, node, e))?;
        if n == 0 {
            break;
        }
        at += n;
    }
    out.truncate(at);
    Ok(out)
}

/// Counts and bytes of one top-level directory, for `--stat`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirStat {
    /// Paths added, and the bytes of the regular files among them.
    pub added: (u64, u64),
    /// Paths changed, and the bytes of the regular files among them (new size).
    pub changed: (u64, u64),
    /// Paths deleted, and the bytes of the regular files among them.
    pub deleted: (u64, u64),
}

/// The changes grouped by their top-level directory (`etc`, `bin`, or the
/// name of a file at the root), sorted by name.
pub fn stat(changes: &[Change]) -> BTreeMap<Vec<u8>, DirStat> {
    let mut out: BTreeMap<Vec<u8>, DirStat> = BTreeMap::new();
    let file_size = |m: Option<Meta>| m.filter(|m| m.kind == Kind::File).map_or(0, |m| m.size);
    for c in changes {
        let top = c.path.split(|&b| b == b'/').next().unwrap_or_default();
        let s = out.entry(top.to_vec()).or_default();
        let (slot, bytes) = match c.kind {
            ChangeKind::Added => (&mut s.added, file_size(c.new)),
            ChangeKind::Changed => (&mut s.changed, file_size(c.new)),
            ChangeKind::Deleted => (&mut s.deleted, file_size(c.old)),
        };
        slot.0 += 1;
        slot.1 += bytes;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn paths_are_normalised() {
        for (given, want) in [("/", ""), ("", ""), ("/etc/", "etc"), ("a//b/./c", "a/b/c")] {
            assert_eq!(normalise(given.as_bytes()), want.as_bytes(), "{given}");
        }
    }
}
