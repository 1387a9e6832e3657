//! The builder as it was before issue 16 part 4 (a `BTreeMap` per
//! directory), kept for tests only: the builder in `build.rs` must write the
//! same bytes for the same entries, which `build_equivalence_tests.rs`
//! checks on randomized layers.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::IntoBytes;

use super::build::components;
use super::{Header, Kind, Record, FLAG_OPAQUE, HEADER_LEN, MAGIC, RECORD_LEN, VERSION};
use crate::error::IndexError;
use crate::tar::{EntryType, RawEntry};

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

/// Builds an index from entries in archive order, by the rules documented
/// on [`super::IndexBuilder`].
pub struct ReferenceBuilder {
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

impl Default for ReferenceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceBuilder {
    /// An empty layer: a root directory only.
    pub fn new() -> Self {
        ReferenceBuilder {
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
