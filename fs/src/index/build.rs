//! Builds a layer index from tar entries: a tree in memory, then the
//! breadth-first records of the format drawn in `index/mod.rs`.

use std::collections::{BTreeMap, HashMap};

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

/// An entry of the tree; its name is the key its parent's `children` hold it by.
struct Node {
    kind: Kind,
    flags: u8,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: u32,
    size: u64,
    data: u64,
    link: Vec<u8>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    children: BTreeMap<Vec<u8>, usize>,
    /// Hard-link group; nodes sharing it are one inode.
    group: usize,
}

impl Node {
    fn implicit_dir(group: usize) -> Node {
        Node {
            kind: Kind::Dir,
            flags: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
            size: 0,
            data: 0,
            link: Vec::new(),
            xattrs: Vec::new(),
            children: BTreeMap::new(),
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
    nodes: Vec<Node>,
    groups: usize,
    /// Hard-link group -> the node holding the group's attributes as its
    /// last link entry left them (written for every name of the group).
    link_attrs: HashMap<usize, usize>,
    /// The directory the last entry went into: its components joined by
    /// `/` and its node. Tars list a directory's entries together, so most
    /// entries skip the walk from the root. Cleared whenever an entry
    /// replaces another, which is the only way a directory leaves the tree.
    last_dir: Option<(Vec<u8>, usize)>,
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
            groups: 1,
            link_attrs: HashMap::new(),
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
        let Some((name, dirs)) = parts.split_last() else {
            if e.kind != Some(EntryType::Dir) {
                return Err(refuse("names the root but is not a directory"));
            }
            let root = &mut self.nodes[0];
            set_attrs(root, e);
            return Ok(());
        };
        if dirs.iter().any(|d| d.starts_with(WHITEOUT_PREFIX)) {
            return Err(refuse("a whiteout name (.wh.) is used as a directory"));
        }
        let parent = self.ensure_dirs(dirs).map_err(refuse)?;
        if *name == OPAQUE_MARKER {
            self.nodes[parent].flags |= FLAG_OPAQUE;
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                return Ok(());
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(refuse("whiteout of an invalid name"));
            }
            if self.nodes[parent].children.contains_key(hidden) {
                return Ok(());
            }
            let mut node = self.new_node(Kind::Whiteout, e);
            node.mode = e.mode;
            self.insert(parent, hidden, node);
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
        let existing = self.nodes[parent].children.get(*name).copied();
        match existing {
            Some(id) if kind == Kind::Dir && self.nodes[id].kind == Kind::Dir => {
                set_attrs(&mut self.nodes[id], e)
            }
            Some(id) if kind == Kind::Dir && self.nodes[id].kind == Kind::Whiteout => {
                let mut node = self.new_node(kind, e);
                node.flags |= FLAG_OPAQUE;
                self.insert(parent, name, node);
            }
            _ => {
                let node = self.new_node(kind, e);
                self.insert(parent, name, node);
            }
        }
        Ok(())
    }

    fn new_node(&mut self, kind: Kind, e: &RawEntry) -> Node {
        self.groups += 1;
        let mut n = Node::implicit_dir(self.groups - 1);
        n.kind = kind;
        set_attrs(&mut n, e);
        match kind {
            Kind::File => {
                n.size = e.size;
                n.data = e.data_offset;
            }
            Kind::Symlink => {
                n.size = e.link.len() as u64;
                n.link = e.link.clone();
            }
            Kind::CharDev | Kind::BlockDev => {
                n.data = (e.dev_major as u64) << 32 | e.dev_minor as u64
            }
            _ => {}
        }
        n
    }

    fn insert(&mut self, parent: usize, name: &[u8], node: Node) {
        let id = self.nodes.len();
        self.nodes.push(node);
        // A replaced node stays in `nodes` but is unreachable, so it is not written.
        if self.nodes[parent]
            .children
            .insert(name.to_vec(), id)
            .is_some()
        {
            self.last_dir = None;
        }
    }

    fn add_hard_link(
        &mut self,
        parent: usize,
        name: &[u8],
        e: &RawEntry,
    ) -> Result<(), &'static str> {
        let target = components(&e.link).map_err(|_| "hard link target escapes the rootfs")?;
        let mut id = 0;
        for part in &target {
            id = *self.nodes[id]
                .children
                .get(*part)
                .ok_or("hard link to a missing or later entry")?;
        }
        let t = &self.nodes[id];
        if matches!(t.kind, Kind::Dir | Kind::Whiteout) || target.is_empty() {
            return Err("hard link to a directory or whiteout");
        }
        // The inode's attributes as the group's last link entry left them.
        let attrs = &self.nodes[self.link_attrs.get(&t.group).copied().unwrap_or(id)];
        let mut node = Node {
            kind: t.kind,
            flags: 0,
            mode: attrs.mode,
            uid: attrs.uid,
            gid: attrs.gid,
            mtime: attrs.mtime,
            mtime_nsec: attrs.mtime_nsec,
            size: t.size,
            data: t.data,
            link: t.link.clone(),
            xattrs: attrs.xattrs.clone(),
            children: BTreeMap::new(),
            group: t.group,
        };
        apply_link_attrs(&mut node, e);
        let group = node.group;
        self.insert(parent, name, node);
        self.link_attrs.insert(group, self.nodes.len() - 1);
        Ok(())
    }

    /// Walks `dirs` from the root, creating missing directories.
    fn ensure_dirs(&mut self, dirs: &[&[u8]]) -> Result<usize, &'static str> {
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

    fn walk_dirs(&mut self, dirs: &[&[u8]]) -> Result<usize, &'static str> {
        let mut cur = 0;
        for part in dirs {
            cur = match self.nodes[cur].children.get(*part).copied() {
                Some(id) if self.nodes[id].kind == Kind::Dir => id,
                Some(id) if self.nodes[id].kind == Kind::Whiteout => {
                    self.groups += 1;
                    let mut d = Node::implicit_dir(self.groups - 1);
                    d.flags |= FLAG_OPAQUE;
                    self.insert(cur, part, d);
                    self.nodes.len() - 1
                }
                Some(_) => return Err("a parent directory is not a directory in this layer"),
                None => {
                    self.groups += 1;
                    let d = Node::implicit_dir(self.groups - 1);
                    self.insert(cur, part, d);
                    self.nodes.len() - 1
                }
            };
        }
        Ok(cur)
    }

    /// Writes the index file bytes for the blob `digest` of `blob_size` bytes.
    pub fn finish(self, digest: &[u8; 32], blob_size: u64) -> Result<Vec<u8>, IndexError> {
        // Breadth-first order: every directory's children become contiguous.
        let mut order = vec![0usize];
        let mut names: Vec<&[u8]> = vec![&[]];
        let mut first_child = vec![0u32];
        let mut i = 0;
        while i < order.len() {
            let node = &self.nodes[order[i]];
            first_child[i] = order.len() as u32;
            for (name, &id) in &node.children {
                order.push(id);
                names.push(name);
            }
            first_child.resize(order.len(), 0);
            i += 1;
        }
        if order.len() > u32::MAX as usize {
            return Err(IndexError::Corrupt("too many entries"));
        }
        let mut parent = vec![0u32; order.len()];
        for (pos, &n) in order.iter().enumerate() {
            let (first, count) = (first_child[pos] as usize, self.nodes[n].children.len());
            for slot in parent.iter_mut().skip(first).take(count) {
                *slot = pos as u32;
            }
        }
        // Hard-link groups: the first record of a group stands for the inode.
        // (A vector indexed by group: a million entries must stay cheap.)
        let mut group_first: Vec<(u32, u32)> = vec![(u32::MAX, 0); self.groups];
        for (pos, &n) in order.iter().enumerate() {
            let g = &mut group_first[self.nodes[n].group];
            if g.0 == u32::MAX {
                g.0 = pos as u32;
            }
            g.1 += 1;
        }
        // Records go straight into the output after the header; strings
        // follow them. Nothing of the size of the index is held twice.
        let mut strings: Vec<u8> = Vec::new();
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
        for (pos, &n) in order.iter().enumerate() {
            let node = &self.nodes[n];
            // Every name of a hard-linked inode shows the inode's attributes.
            let attrs = match self.link_attrs.get(&node.group) {
                Some(&a) if node.kind != Kind::Dir => &self.nodes[a],
                _ => node,
            };
            let (name_off, name_len) = put(&mut strings, names[pos])?;
            let (link_off, link_len) = put(&mut strings, &node.link)?;
            let mut xb = Vec::new();
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
                group_first[node.group]
            };
            let children = if node.children.is_empty() {
                0
            } else {
                first_child[pos]
            };
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
                first_child: U32::new(children),
                child_count: U32::new(node.children.len() as u32),
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
        drop((order, names, first_child, parent, group_first));
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
