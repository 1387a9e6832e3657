//! Builds a layer index from tar entries: a flat table of nodes with one
//! hash table of (parent, name) for lookups while entries arrive, then the
//! breadth-first records of the format drawn in `index/mod.rs`, each
//! directory's children sorted once.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use sha2::{Digest, Sha256};

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::IntoBytes;

use super::{Header, Kind, Record, FLAG_OPAQUE, HEADER_LEN, MAGIC, RECORD_LEN, VERSION};
use crate::error::IndexError;
use crate::tar::{EntryType, RawEntry, Source, TarReader};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// aufs metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): never part of the tree.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
/// No group, no node.
const NONE: u32 = u32::MAX;

/// Bytes in the builder's arena of names and link targets.
#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    len: usize,
}

/// A name's place in [`IndexBuilder::children`]: the hash of (parent,
/// name) and the node holding it now, if any.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    found: Option<u32>,
}

/// An entry of the tree. It is in the tree while no later entry replaced
/// it and its parent is in the tree.
struct Node {
    kind: Kind,
    flags: u8,
    /// A later entry took this name (the node stays, unreachable).
    replaced: bool,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: u32,
    size: u64,
    data: u64,
    /// The directory holding it; always a lower id than the node's own.
    parent: u32,
    name: Span,
    link: Span,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Hard-link group; nodes sharing it are one inode.
    group: u32,
}

impl Node {
    fn implicit_dir(group: u32) -> Node {
        Node {
            kind: Kind::Dir,
            flags: 0,
            replaced: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
            size: 0,
            data: 0,
            parent: 0,
            name: Span::default(),
            link: Span::default(),
            xattrs: Vec::new(),
            group,
        }
    }
}

/// Builds an index from entries in archive order.
///
/// How odd and hostile entries are treated (nothing ever names a path outside
/// the layer's root, because paths are stored as components and never
/// resolved through symlinks):
/// - leading `/` and `./`, repeated and trailing slashes: stripped;
/// - a `..` component, or a NUL byte in a name: the layer is refused;
/// - an entry naming the root (`./`, `/`, empty): sets the root's attributes
///   when it is a directory, refused otherwise;
/// - a path whose parent is a file or symlink in this layer: refused;
/// - missing parent directories: created as 0755 root:root, mtime 0;
/// - duplicate paths: the later entry wins, as when extracting; a directory
///   replaced by a non-directory loses its subtree; a directory over a
///   directory keeps the children and takes the new attributes;
/// - a hard link to a missing, later or directory entry: refused;
/// - a hard link entry's own mode, owner, mtime and xattrs apply to the inode
///   it joins, so to every name of that inode, the last link entry winning (a
///   symlink's mode is never changed). This follows containerd's unpacker
///   (`createTarFile` in `pkg/archive/tar.go`: after `os.Link` it does
///   `Lchown`, `setxattr` of each `SCHILY.xattr.*` record, `lchmod` (skipped
///   for symlinks) and `chtimes` on the new name, which is the shared inode).
///   GNU tar (1.34) differs: it only calls `link(2)` and leaves the inode as
///   the target's entry made it. Archivers write a link's header from the
///   same inode as its target, so the two agree on every real layer;
/// - `.wh.NAME` hides NAME below unless this layer has NAME itself (then the
///   entry already hides it); `.wh.` and `.wh..`/`.wh...` are refused; other
///   `.wh..wh.*` names (aufs metadata) are dropped, with everything under
///   them (`.wh..wh.plnk/`); a `.wh.NAME` used as a directory is refused;
/// - a directory placed where this layer whited out the name is opaque, as
///   applying the layer would have removed what lies below.
pub struct IndexBuilder {
    /// Every node ever made, the root first; ids are `u32` as in the format.
    nodes: Vec<Node>,
    /// Names and symlink targets of `nodes`.
    arena: Vec<u8>,
    /// The nodes in the tree by (parent, name): what a directory holds.
    /// Each with its hash, so growing the table hashes no name again.
    children: HashTable<(u64, u32)>,
    /// Keyed (SipHash, random keys): names come from untrusted tars.
    hasher: RandomState,
    /// Hard-link group -> the node holding the group's attributes as its
    /// last link entry left them (written for every name of the group), or
    /// [`NONE`]. One slot per group.
    link_attrs: Vec<u32>,
    /// The directory the last entry went into: its components joined by
    /// `/` and its node. Tars list a directory's entries together, so most
    /// entries skip the walk from the root. Cleared whenever an entry
    /// replaces another, which is the only way a directory leaves the tree.
    last_dir: Option<(Vec<u8>, u32)>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    /// An empty layer: a root directory only.
    pub fn new() -> Self {
        IndexBuilder {
            nodes: vec![Node::implicit_dir(0)],
            arena: Vec::new(),
            children: HashTable::new(),
            hasher: RandomState::new(),
            link_attrs: vec![NONE],
            last_dir: None,
        }
    }

    /// Adds one entry in archive order.
    pub fn add(&mut self, e: &RawEntry) -> Result<(), IndexError> {
        let refuse = |why: &str| IndexError::Entry {
            path: String::from_utf8_lossy(&e.path).into(),
            why: why.into(),
        };
        let parts = components(&e.path).map_err(refuse)?;
        if parts
            .iter()
            .any(|p| p.starts_with(AUFS_META_PREFIX) && *p != OPAQUE_MARKER)
        {
            return Ok(());
        }
        // Ids are u32; an entry makes at most one node per component.
        if self.nodes.len() + parts.len() >= NONE as usize {
            return Err(refuse("too many entries"));
        }
        let Some((name, dirs)) = parts.split_last() else {
            if e.kind != Some(EntryType::Dir) {
                return Err(refuse("names the root but is not a directory"));
            }
            set_attrs(&mut self.nodes[0], e);
            return Ok(());
        };
        if dirs.iter().any(|d| d.starts_with(WHITEOUT_PREFIX)) {
            return Err(refuse("a whiteout name (.wh.) is used as a directory"));
        }
        let parent = self.ensure_dirs(dirs).map_err(refuse)?;
        if *name == OPAQUE_MARKER {
            self.nodes[parent as usize].flags |= FLAG_OPAQUE;
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                return Ok(());
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(refuse("whiteout of an invalid name"));
            }
            let at = self.slot(parent, hidden);
            if at.found.is_some() {
                return Ok(());
            }
            let mut node = self.new_node(Kind::Whiteout, e);
            node.mode = e.mode;
            self.insert(parent, hidden, at, node);
            return Ok(());
        }
        let kind = match e.kind {
            Some(EntryType::File) => Kind::File,
            Some(EntryType::Dir) => Kind::Dir,
            Some(EntryType::Symlink) => Kind::Symlink,
            Some(EntryType::CharDev) => Kind::CharDev,
            Some(EntryType::BlockDev) => Kind::BlockDev,
            Some(EntryType::Fifo) => Kind::Fifo,
            Some(EntryType::HardLink) => {
                return self.add_hard_link(parent, name, e).map_err(refuse)
            }
            None => return Err(refuse("entry without a type")),
        };
        let at = self.slot(parent, name);
        match at.found.map(|id| (id, self.nodes[id as usize].kind)) {
            Some((id, Kind::Dir)) if kind == Kind::Dir => {
                set_attrs(&mut self.nodes[id as usize], e)
            }
            Some((_, Kind::Whiteout)) if kind == Kind::Dir => {
                let mut node = self.new_node(kind, e);
                node.flags |= FLAG_OPAQUE;
                self.insert(parent, name, at, node);
            }
            _ => {
                let node = self.new_node(kind, e);
                self.insert(parent, name, at, node);
            }
        }
        Ok(())
    }

    fn hash(&self, parent: u32, name: &[u8]) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    fn name_of(&self, id: u32) -> &[u8] {
        let s = self.nodes[id as usize].name;
        &self.arena[s.start..s.start + s.len]
    }

    /// The node named `name` in the directory `parent`.
    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        self.slot(parent, name).found
    }

    /// Where `name` in `parent` is or goes: for [`insert`](Self::insert).
    fn slot(&self, parent: u32, name: &[u8]) -> Slot {
        let hash = self.hash(parent, name);
        let found = self
            .children
            .find(hash, |&(h, id)| {
                h == hash && self.nodes[id as usize].parent == parent && self.name_of(id) == name
            })
            .map(|&(_, id)| id);
        Slot { hash, found }
    }

    fn push_bytes(&mut self, b: &[u8]) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(b);
        Span {
            start,
            len: b.len(),
        }
    }

    /// A node of a new hard-link group with the attributes of `e`.
    fn new_node(&mut self, kind: Kind, e: &RawEntry) -> Node {
        let mut n = self.implicit_dir();
        n.kind = kind;
        set_attrs(&mut n, e);
        match kind {
            Kind::File => {
                n.size = e.size;
                n.data = e.data_offset;
            }
            Kind::Symlink => {
                n.size = e.link.len() as u64;
                n.link = self.push_bytes(&e.link);
            }
            Kind::CharDev | Kind::BlockDev => {
                n.data = (e.dev_major as u64) << 32 | e.dev_minor as u64
            }
            _ => {}
        }
        n
    }

    fn implicit_dir(&mut self) -> Node {
        let group = self.link_attrs.len() as u32;
        self.link_attrs.push(NONE);
        Node::implicit_dir(group)
    }

    /// Puts `node` into `parent` as `name`, in place of what was found
    /// there (`at`, from [`slot`](Self::slot)). Returns its id.
    fn insert(&mut self, parent: u32, name: &[u8], at: Slot, mut node: Node) -> u32 {
        let id = self.nodes.len() as u32;
        node.parent = parent;
        match at.found {
            Some(old) => {
                // A replaced node stays in `nodes` but is out of the tree,
                // and so is all that lies below it: it is not written.
                node.name = self.nodes[old as usize].name;
                self.nodes[old as usize].replaced = true;
                if let Some(slot) = self.children.find_mut(at.hash, |&(_, c)| c == old) {
                    slot.1 = id;
                }
                self.last_dir = None;
            }
            None => {
                node.name = self.push_bytes(name);
                self.children
                    .insert_unique(at.hash, (at.hash, id), |&(h, _)| h);
            }
        }
        self.nodes.push(node);
        id
    }

    fn add_hard_link(
        &mut self,
        parent: u32,
        name: &[u8],
        e: &RawEntry,
    ) -> Result<(), &'static str> {
        let target = components(&e.link).map_err(|_| "hard link target escapes the rootfs")?;
        let mut id = 0;
        for part in &target {
            id = self
                .child(id, part)
                .ok_or("hard link to a missing or later entry")?;
        }
        let t = &self.nodes[id as usize];
        if matches!(t.kind, Kind::Dir | Kind::Whiteout) || target.is_empty() {
            return Err("hard link to a directory or whiteout");
        }
        // The inode's attributes as the group's last link entry left them.
        let attrs = match self.link_attrs[t.group as usize] {
            NONE => t,
            a => &self.nodes[a as usize],
        };
        let mut node = Node {
            kind: t.kind,
            flags: 0,
            replaced: false,
            mode: attrs.mode,
            uid: attrs.uid,
            gid: attrs.gid,
            mtime: attrs.mtime,
            mtime_nsec: attrs.mtime_nsec,
            size: t.size,
            data: t.data,
            parent,
            name: Span::default(),
            link: t.link,
            xattrs: attrs.xattrs.clone(),
            group: t.group,
        };
        apply_link_attrs(&mut node, e);
        let group = node.group;
        let at = self.slot(parent, name);
        let id = self.insert(parent, name, at, node);
        self.link_attrs[group as usize] = id;
        Ok(())
    }

    /// Walks `dirs` from the root, creating missing directories.
    fn ensure_dirs(&mut self, dirs: &[&[u8]]) -> Result<u32, &'static str> {
        if let Some((path, id)) = &self.last_dir {
            if is_joined(path, dirs) {
                return Ok(*id);
            }
        }
        let cur = self.walk_dirs(dirs)?;
        let mut path = self.last_dir.take().map(|(p, _)| p).unwrap_or_default();
        path.clear();
        for (i, d) in dirs.iter().enumerate() {
            if i > 0 {
                path.push(b'/');
            }
            path.extend_from_slice(d);
        }
        self.last_dir = Some((path, cur));
        Ok(cur)
    }

    fn walk_dirs(&mut self, dirs: &[&[u8]]) -> Result<u32, &'static str> {
        let mut cur = 0;
        for part in dirs {
            let at = self.slot(cur, part);
            cur = match at.found.map(|id| (id, self.nodes[id as usize].kind)) {
                Some((id, Kind::Dir)) => id,
                Some((_, Kind::Whiteout)) => {
                    let mut d = self.implicit_dir();
                    d.flags |= FLAG_OPAQUE;
                    self.insert(cur, part, at, d)
                }
                Some(_) => return Err("a parent directory is not a directory in this layer"),
                None => {
                    let d = self.implicit_dir();
                    self.insert(cur, part, at, d)
                }
            };
        }
        Ok(cur)
    }

    /// The tree as lists of children: the nodes in the tree, grouped by
    /// parent (`kids[start[p]..start[p + 1]]`), each group sorted by name.
    fn sorted_children(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.nodes.len();
        // Parents come before their children, so one pass finds the tree.
        let mut in_tree = vec![false; n];
        in_tree[0] = true;
        let mut start = vec![0u32; n + 1];
        for (id, node) in self.nodes.iter().enumerate().skip(1) {
            if !node.replaced && in_tree[node.parent as usize] {
                in_tree[id] = true;
                start[node.parent as usize + 1] += 1;
            }
        }
        for p in 0..n {
            start[p + 1] += start[p];
        }
        let mut kids = vec![0u32; start[n] as usize];
        let mut fill = start.clone();
        for (id, node) in self.nodes.iter().enumerate().skip(1) {
            if in_tree[id] {
                let slot = &mut fill[node.parent as usize];
                kids[*slot as usize] = id as u32;
                *slot += 1;
            }
        }
        for p in 0..n {
            let group = &mut kids[start[p] as usize..start[p + 1] as usize];
            if group.len() > 1 {
                group.sort_unstable_by(|&a, &b| self.name_of(a).cmp(self.name_of(b)));
            }
        }
        (kids, start)
    }

    /// Writes the index file bytes for the blob `digest` of `blob_size` bytes.
    pub fn finish(self, digest: &[u8; 32], blob_size: u64) -> Result<Vec<u8>, IndexError> {
        let (kids, start) = self.sorted_children();
        let children_of =
            |id: u32| &kids[start[id as usize] as usize..start[id as usize + 1] as usize];
        // Breadth-first order: every directory's children become contiguous.
        // `order[pos]` is the node written at record `pos`, `parent[pos]`
        // the record of its directory, `first_child[pos]` its first child's.
        let mut order = Vec::with_capacity(kids.len() + 1);
        let mut parent = Vec::with_capacity(kids.len() + 1);
        let mut first_child = Vec::with_capacity(kids.len() + 1);
        order.push(0u32);
        parent.push(0u32);
        let mut i = 0;
        while i < order.len() {
            first_child.push(order.len() as u32);
            let c = children_of(order[i]);
            order.extend_from_slice(c);
            parent.resize(order.len(), i as u32);
            i += 1;
        }
        // Hard-link groups: the first record of a group stands for the inode.
        let mut group_first: Vec<(u32, u32)> = vec![(u32::MAX, 0); self.link_attrs.len()];
        for (pos, &n) in order.iter().enumerate() {
            let g = &mut group_first[self.nodes[n as usize].group as usize];
            if g.0 == u32::MAX {
                g.0 = pos as u32;
            }
            g.1 += 1;
        }
        // Records go straight into the output after the header; strings
        // follow them. Nothing of the size of the index is held twice.
        let mut strings: Vec<u8> = Vec::with_capacity(self.arena.len());
        let mut out = Vec::with_capacity(HEADER_LEN + order.len() * RECORD_LEN);
        out.resize(HEADER_LEN, 0);
        let put = |strings: &mut Vec<u8>, b: &[u8]| -> Result<(u32, u32), IndexError> {
            let off = u32::try_from(strings.len())
                .map_err(|_| IndexError::Corrupt("string table over 4 GiB"))?;
            let len =
                u32::try_from(b.len()).map_err(|_| IndexError::Corrupt("string over 4 GiB"))?;
            strings.extend_from_slice(b);
            Ok((off, len))
        };
        let bytes = |s: Span| &self.arena[s.start..s.start + s.len];
        let mut xb = Vec::new();
        for (pos, &n) in order.iter().enumerate() {
            let node = &self.nodes[n as usize];
            // Every name of a hard-linked inode shows the inode's attributes.
            let attrs = match self.link_attrs[node.group as usize] {
                a if a != NONE && node.kind != Kind::Dir => &self.nodes[a as usize],
                _ => node,
            };
            let name: &[u8] = if pos == 0 { &[] } else { bytes(node.name) };
            let (name_off, name_len) = put(&mut strings, name)?;
            let (link_off, link_len) = put(&mut strings, bytes(node.link))?;
            xb.clear();
            for (k, v) in &attrs.xattrs {
                xb.extend_from_slice(&(k.len() as u32).to_le_bytes());
                xb.extend_from_slice(k);
                xb.extend_from_slice(&(v.len() as u32).to_le_bytes());
                xb.extend_from_slice(v);
            }
            let (x_off, x_len) = put(&mut strings, &xb)?;
            let (inode, nlink) = if node.kind == Kind::Dir {
                (pos as u32, 1)
            } else {
                group_first[node.group as usize]
            };
            let count = children_of(n).len() as u32;
            let record = Record {
                parent: U32::new(parent[pos]),
                name_offset: U32::new(name_off),
                name_len: U32::new(name_len),
                kind: node.kind as u8,
                flags: node.flags,
                zero: U16::ZERO,
                mode: U32::new(attrs.mode),
                uid: U32::new(attrs.uid),
                gid: U32::new(attrs.gid),
                mtime_nsec: U32::new(attrs.mtime_nsec),
                mtime: I64::new(attrs.mtime),
                nlink: U32::new(nlink),
                inode: U32::new(inode),
                first_child: U32::new(if count == 0 { 0 } else { first_child[pos] }),
                child_count: U32::new(count),
                size: U64::new(node.size),
                data: U64::new(node.data),
                link_offset: U32::new(link_off),
                link_len: U32::new(link_len),
                xattrs_offset: U32::new(x_off),
                xattrs_len: U32::new(x_len),
            };
            out.extend_from_slice(record.as_bytes());
        }
        let strings_offset = out.len() as u64;
        let mut header = Header {
            magic: *MAGIC,
            version: U32::new(VERSION),
            record_len: U32::new(RECORD_LEN as u32),
            blob_digest: *digest,
            blob_size: U64::new(blob_size),
            count: U64::new(order.len() as u64),
            strings_offset: U64::new(strings_offset),
            strings_len: U64::new(strings.len() as u64),
            checksum: [0; 32],
            zero: [0; 16],
        };
        drop((order, parent, first_child, group_first, kids, start));
        drop(self);
        out.reserve_exact(strings.len());
        out.extend_from_slice(&strings);
        header.checksum = Sha256::digest(&out[HEADER_LEN..]).into();
        out[..HEADER_LEN].copy_from_slice(header.as_bytes());
        Ok(out)
    }
}

fn set_attrs(n: &mut Node, e: &RawEntry) {
    n.mode = e.mode & 0o7777;
    n.uid = e.uid;
    n.gid = e.gid;
    n.mtime = e.mtime;
    n.mtime_nsec = e.mtime_nsec;
    n.xattrs = e.xattrs.clone();
}

/// What a hard link entry's header does to the inode it joins, as
/// containerd's unpacker: owner, xattrs (set one by one, none removed),
/// mode (not of a symlink), mtime.
fn apply_link_attrs(n: &mut Node, e: &RawEntry) {
    n.uid = e.uid;
    n.gid = e.gid;
    for (k, v) in &e.xattrs {
        match n.xattrs.iter_mut().find(|(have, _)| have == k) {
            Some(slot) => slot.1 = v.clone(),
            None => n.xattrs.push((k.clone(), v.clone())),
        }
    }
    if n.kind != Kind::Symlink {
        n.mode = e.mode & 0o7777;
    }
    n.mtime = e.mtime;
    n.mtime_nsec = e.mtime_nsec;
}

/// Whether `path` is `dirs` joined by `/`.
fn is_joined(path: &[u8], dirs: &[&[u8]]) -> bool {
    let mut rest = path;
    for (i, d) in dirs.iter().enumerate() {
        if i > 0 {
            match rest.split_first() {
                Some((b'/', r)) => rest = r,
                _ => return false,
            }
        }
        match rest.strip_prefix(*d) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Splits a tar path into its components; see [`IndexBuilder`] for the rules.
pub fn components(path: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut out = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("path escapes the rootfs through '..'"),
            p if p.contains(&0) => return Err("path contains a NUL byte"),
            p => out.push(p),
        }
    }
    Ok(out)
}

/// Scans a whole tar from `src` and returns the builder holding its tree.
/// Reads headers only; data is skipped through [`Source::skip`].
pub fn build_index<S: Source>(src: S) -> Result<(IndexBuilder, S), IndexError> {
    let mut reader = TarReader::new(src);
    let mut b = IndexBuilder::new();
    while let Some(e) = reader.next_entry()? {
        b.add(&e)?;
    }
    Ok((b, reader.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{LayerIndex, ROOT};

    fn entry(kind: EntryType, path: &str, link: &str) -> RawEntry {
        RawEntry {
            path: path.as_bytes().to_vec(),
            kind: Some(kind),
            link: link.as_bytes().to_vec(),
            ..RawEntry::default()
        }
    }

    fn attrs(
        mode: u32,
        uid: u32,
        mtime: i64,
        xattrs: &[(&str, &str)],
    ) -> impl Fn(RawEntry) -> RawEntry {
        let xattrs: Vec<(Vec<u8>, Vec<u8>)> = xattrs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        move |e| RawEntry {
            mode,
            uid,
            gid: uid + 1,
            mtime,
            mtime_nsec: 7,
            xattrs: xattrs.clone(),
            ..e
        }
    }

    /// (mode, uid, gid, mtime, xattrs) of an entry.
    type Shown = (u32, u32, u32, i64, Vec<(Vec<u8>, Vec<u8>)>);

    /// What `name` in the root shows.
    fn shown(l: &LayerIndex, name: &str) -> Shown {
        let id = l.lookup(ROOT, name.as_bytes()).expect("entry");
        let m = l.meta(id);
        let x = l
            .xattrs(id)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        (m.mode, m.uid, m.gid, m.mtime, x)
    }

    #[test]
    fn a_hard_link_entry_sets_the_attributes_of_the_inode_it_joins() {
        let mut b = IndexBuilder::new();
        let add = |b: &mut IndexBuilder, e: RawEntry| b.add(&e).expect("entry accepted");
        add(
            &mut b,
            attrs(0o644, 1, 100, &[("user.a", "1")])(entry(EntryType::File, "t", "")),
        );
        add(
            &mut b,
            attrs(0o600, 3, 200, &[("user.b", "2")])(entry(EntryType::HardLink, "u", "t")),
        );
        add(
            &mut b,
            attrs(0o640, 5, 300, &[("user.a", "9")])(entry(EntryType::HardLink, "v", "u")),
        );
        add(
            &mut b,
            attrs(0o755, 9, 900, &[])(entry(EntryType::File, "lonely", "")),
        );
        add(
            &mut b,
            attrs(0o600, 7, 400, &[])(entry(EntryType::Symlink, "s", "t")),
        );
        add(
            &mut b,
            attrs(0o644, 8, 500, &[])(entry(EntryType::HardLink, "s2", "s")),
        );
        let l = LayerIndex::from_bytes(b.finish(&[0; 32], 0).expect("finish")).expect("index");
        let want_x = vec![
            (b"user.a".to_vec(), b"9".to_vec()),
            (b"user.b".to_vec(), b"2".to_vec()),
        ];
        for name in ["t", "u", "v"] {
            assert_eq!(
                shown(&l, name),
                (0o640, 5, 6, 300, want_x.clone()),
                "{name}: the last link entry's attributes, xattrs merged"
            );
            let m = l.meta(l.lookup(ROOT, name.as_bytes()).expect("entry"));
            assert_eq!((m.nlink, m.mtime_nsec), (3, 7), "{name}");
        }
        assert_eq!(shown(&l, "lonely"), (0o755, 9, 10, 900, vec![]));
        for name in ["s", "s2"] {
            assert_eq!(
                shown(&l, name),
                (0o600, 8, 9, 500, vec![]),
                "{name}: a linked symlink takes owner and mtime, not a mode"
            );
        }
    }

    #[test]
    fn replacing_a_link_target_leaves_the_other_names_as_linked() {
        let mut b = IndexBuilder::new();
        let add = |b: &mut IndexBuilder, e: RawEntry| b.add(&e).expect("entry accepted");
        add(
            &mut b,
            attrs(0o644, 1, 100, &[])(entry(EntryType::File, "t", "")),
        );
        add(
            &mut b,
            attrs(0o600, 3, 200, &[])(entry(EntryType::HardLink, "u", "t")),
        );
        add(
            &mut b,
            attrs(0o444, 4, 300, &[])(entry(EntryType::File, "t", "")),
        );
        let l = LayerIndex::from_bytes(b.finish(&[0; 32], 0).expect("finish")).expect("index");
        assert_eq!(shown(&l, "u"), (0o600, 3, 4, 200, vec![]));
        assert_eq!(shown(&l, "t"), (0o444, 4, 5, 300, vec![]));
    }
}
