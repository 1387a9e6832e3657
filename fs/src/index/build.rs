//! Builds a layer index from tar entries: a flat table of nodes with one
//! hash table of (parent, name) for lookups while entries arrive, then the
//! breadth-first records of the format drawn in `index/mod.rs`, each
//! directory's children sorted once.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

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

/// Bytes in the builder's arena of names and link targets (under 4 GiB:
/// [`IndexBuilder::add`] refuses an entry that would grow it past).
#[derive(Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// Extended attributes of a node, in archive order.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// A name's place in [`IndexBuilder::children`]: the hash of (parent,
/// name) and the node holding it now, if any.
#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
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
    /// Its list in [`IndexBuilder::xattrs`]; 0, the empty list, for most.
    xattrs: u32,
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
            xattrs: 0,
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
    /// Lists of extended attributes, the empty one first; a list never
    /// changes once pushed, so nodes share them (hard links).
    xattrs: Vec<Xattrs>,
    /// The nodes in the tree by (parent, name): what a directory holds.
    /// Each with its hash, so growing the table hashes no name again.
    children: HashTable<(u32, u32)>,
    /// Keyed (SipHash, random keys): names come from untrusted tars.
    hasher: RandomState,
    /// Hard-link group -> the node holding the group's attributes as its
    /// last link entry left them (written for every name of the group), or
    /// [`NONE`]. One slot per group.
    link_attrs: Vec<u32>,
    /// The directory an earlier entry went into: its path as that entry
    /// wrote it (up to the last `/`), its node and its depth. Tars list a
    /// directory's entries together, so most entries skip splitting their
    /// path and the walk from the root. Cleared whenever an entry replaces
    /// another, which is the only way a directory leaves the tree.
    last_dir: Option<LastDir>,
}

/// See [`IndexBuilder::last_dir`].
struct LastDir {
    raw: Vec<u8>,
    id: u32,
    depth: usize,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    /// An empty layer: a root directory only.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty layer with room for about `entries` entries.
    pub fn with_capacity(entries: usize) -> Self {
        let mut nodes = Vec::with_capacity(entries + 1);
        nodes.push(Node::implicit_dir(0));
        let mut link_attrs = Vec::with_capacity(entries + 1);
        link_attrs.push(NONE);
        IndexBuilder {
            nodes,
            arena: Vec::new(),
            xattrs: vec![Vec::new()],
            children: HashTable::new(),
            hasher: RandomState::new(),
            link_attrs,
            last_dir: None,
        }
    }

    /// Adds one entry in archive order.
    pub fn add(&mut self, e: &RawEntry) -> Result<(), IndexError> {
        let refuse = |why: &str| IndexError::Entry {
            path: String::from_utf8_lossy(&e.path).into(),
            why: why.into(),
        };
        // An entry adds at most its path and its link target to the arena.
        if self.arena.len() + e.path.len() + e.link.len() > u32::MAX as usize {
            return Err(refuse("names and link targets over 4 GiB"));
        }
        let (parent, name) = match self.in_last_dir(&e.path) {
            Some(place) => place,
            None => match self.place(e).map_err(refuse)? {
                Some(place) => place,
                None => return Ok(()),
            },
        };
        if name == OPAQUE_MARKER {
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
                set_attrs(&mut self.nodes[id as usize], e, &mut self.xattrs)
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

    /// The directory and name of `path` when it lies right in
    /// [`last_dir`](Self::last_dir) and its name is a plain one: what
    /// [`place`](Self::place) would find, without splitting the path.
    fn in_last_dir<'p>(&self, path: &'p [u8]) -> Option<(u32, &'p [u8])> {
        let last = self.last_dir.as_ref()?;
        let name = path.strip_prefix(&last.raw[..])?.strip_prefix(b"/")?;
        let plain = !matches!(name, b"" | b"." | b"..")
            && !name.contains(&b'/')
            && !name.contains(&0)
            && !name.starts_with(AUFS_META_PREFIX);
        // The count of `place`'s check, which it makes when it fails.
        let room = self.nodes.len() + last.depth + 1 < NONE as usize;
        (plain && room).then_some((last.id, name))
    }

    /// The directory (made if missing) and name of `e`'s path, checked;
    /// `None` when the entry is done (the root, aufs metadata).
    fn place<'p>(&mut self, e: &'p RawEntry) -> Result<Option<(u32, &'p [u8])>, &'static str> {
        let parts = components(&e.path)?;
        if parts
            .iter()
            .any(|p| p.starts_with(AUFS_META_PREFIX) && *p != OPAQUE_MARKER)
        {
            return Ok(None);
        }
        // Ids are u32; an entry makes at most one node per component.
        if self.nodes.len() + parts.len() >= NONE as usize {
            return Err("too many entries");
        }
        let Some((&name, dirs)) = parts.split_last() else {
            if e.kind != Some(EntryType::Dir) {
                return Err("names the root but is not a directory");
            }
            set_attrs(&mut self.nodes[0], e, &mut self.xattrs);
            return Ok(None);
        };
        if dirs.iter().any(|d| d.starts_with(WHITEOUT_PREFIX)) {
            return Err("a whiteout name (.wh.) is used as a directory");
        }
        let parent = self.walk_dirs(dirs)?;
        // Entries to come in the same directory, written the same way, can
        // skip all of the above: their directory's part passed the checks.
        if let Some(slash) = e.path.iter().rposition(|&b| b == b'/') {
            if e.path[slash + 1..] == *name {
                let mut raw = self.last_dir.take().map(|l| l.raw).unwrap_or_default();
                raw.clear();
                raw.extend_from_slice(&e.path[..slash]);
                let (id, depth) = (parent, dirs.len());
                self.last_dir = Some(LastDir { raw, id, depth });
            }
        }
        Ok(Some((parent, name)))
    }

    /// Keyed hash of (parent, name): the name's bytes then the parent's,
    /// fixed in width, so distinct pairs feed distinct inputs. 32 bits are
    /// kept: the table's entries are half the size (fewer pages to fault
    /// in), and 32 bits place up to 2^25 entries (see [`wide`]).
    fn hash(&self, parent: u32, name: &[u8]) -> u32 {
        let mut h = self.hasher.build_hasher();
        h.write(name);
        h.write_u32(parent);
        h.finish() as u32
    }

    fn name_of(&self, id: u32) -> &[u8] {
        let s = self.nodes[id as usize].name;
        &self.arena[s.start as usize..(s.start + s.len) as usize]
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
            .find(wide(hash), |&(h, id)| {
                h == hash && self.nodes[id as usize].parent == parent && self.name_of(id) == name
            })
            .map(|&(_, id)| id);
        Slot { hash, found }
    }

    fn push_bytes(&mut self, b: &[u8]) -> Span {
        // Below 4 GiB: checked by `add` for all an entry pushes.
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(b);
        Span {
            start,
            len: b.len() as u32,
        }
    }

    /// A node of a new hard-link group with the attributes of `e`.
    fn new_node(&mut self, kind: Kind, e: &RawEntry) -> Node {
        let mut n = self.implicit_dir();
        n.kind = kind;
        set_attrs(&mut n, e, &mut self.xattrs);
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
                if let Some(slot) = self.children.find_mut(wide(at.hash), |&(_, c)| c == old) {
                    slot.1 = id;
                }
                self.last_dir = None;
            }
            None => {
                node.name = self.push_bytes(name);
                self.children
                    .insert_unique(wide(at.hash), (at.hash, id), |&(h, _)| wide(h));
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
        check_components(&e.link).map_err(|_| "hard link target escapes the rootfs")?;
        let mut id = 0;
        for part in e.link.split(|&b| b == b'/') {
            if !matches!(part, b"" | b".") {
                id = self
                    .child(id, part)
                    .ok_or("hard link to a missing or later entry")?;
            }
        }
        let t = &self.nodes[id as usize];
        // The root (an empty target) is a directory too.
        if matches!(t.kind, Kind::Dir | Kind::Whiteout) {
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
            xattrs: attrs.xattrs,
            group: t.group,
        };
        apply_link_attrs(&mut node, e, &mut self.xattrs);
        let group = node.group;
        let at = self.slot(parent, name);
        let id = self.insert(parent, name, at, node);
        self.link_attrs[group as usize] = id;
        Ok(())
    }

    /// Walks `dirs` from the root, creating missing directories.
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

    /// The node whose attributes `node` shows: every name of a
    /// hard-linked inode shows the inode's.
    fn attrs_of<'a>(&'a self, node: &'a Node) -> &'a Node {
        match self.link_attrs[node.group as usize] {
            a if a != NONE && node.kind != Kind::Dir => &self.nodes[a as usize],
            _ => node,
        }
    }

    /// Bytes of the string table of the records of `order` (the root's
    /// name is empty): names, link targets, encoded xattrs.
    fn strings_len(&self, order: &[u32]) -> usize {
        let xattrs_len =
            |x: &Xattrs| -> usize { x.iter().map(|(k, v)| 8 + k.len() + v.len()).sum() };
        order
            .iter()
            .enumerate()
            .map(|(pos, &n)| {
                let node = &self.nodes[n as usize];
                let name_len = if pos == 0 { 0 } else { node.name.len as usize };
                let x = &self.xattrs[self.attrs_of(node).xattrs as usize];
                name_len + node.link.len as usize + xattrs_len(x)
            })
            .sum()
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
        // follow them, sized first so that neither buffer grows (a copy).
        let strings_len = self.strings_len(&order);
        let mut strings: Vec<u8> = Vec::with_capacity(strings_len);
        let mut out = Vec::with_capacity(HEADER_LEN + order.len() * RECORD_LEN + strings_len);
        out.resize(HEADER_LEN, 0);
        let put = |strings: &mut Vec<u8>, b: &[u8]| -> Result<(u32, u32), IndexError> {
            let off = u32::try_from(strings.len())
                .map_err(|_| IndexError::Corrupt("string table over 4 GiB"))?;
            let len =
                u32::try_from(b.len()).map_err(|_| IndexError::Corrupt("string over 4 GiB"))?;
            strings.extend_from_slice(b);
            Ok((off, len))
        };
        let bytes = |s: Span| &self.arena[s.start as usize..(s.start + s.len) as usize];
        let mut xb = Vec::new();
        for (pos, &n) in order.iter().enumerate() {
            let node = &self.nodes[n as usize];
            let attrs = self.attrs_of(node);
            let name: &[u8] = if pos == 0 { &[] } else { bytes(node.name) };
            let (name_off, name_len) = put(&mut strings, name)?;
            let (link_off, link_len) = put(&mut strings, bytes(node.link))?;
            xb.clear();
            for (k, v) in &self.xattrs[attrs.xattrs as usize] {
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
        out.extend_from_slice(&strings);
        header.checksum = Sha256::digest(&out[HEADER_LEN..]).into();
        out[..HEADER_LEN].copy_from_slice(header.as_bytes());
        Ok(out)
    }
}

/// The table's 64-bit hash of a 32-bit one: the table takes a bucket from
/// the low bits and a tag from the top 7, which are the hash's own top bits
/// (independent of the bucket bits while the table has under 2^25 buckets).
fn wide(h: u32) -> u64 {
    (h as u64) << 32 | h as u64
}

/// Gives `n` the attributes of `e`; its xattrs as a new list of `lists`.
fn set_attrs(n: &mut Node, e: &RawEntry, lists: &mut Vec<Xattrs>) {
    n.mode = e.mode & 0o7777;
    n.uid = e.uid;
    n.gid = e.gid;
    n.mtime = e.mtime;
    n.mtime_nsec = e.mtime_nsec;
    n.xattrs = push_list(lists, e.xattrs.clone());
}

/// Its index in `lists`; 0 (the empty list) for an empty one.
fn push_list(lists: &mut Vec<Xattrs>, list: Xattrs) -> u32 {
    if list.is_empty() {
        return 0;
    }
    lists.push(list);
    // Lists number at most the entries, whose ids fit in u32.
    (lists.len() - 1) as u32
}

/// What a hard link entry's header does to the inode it joins, as
/// containerd's unpacker: owner, xattrs (set one by one, none removed),
/// mode (not of a symlink), mtime.
fn apply_link_attrs(n: &mut Node, e: &RawEntry, lists: &mut Vec<Xattrs>) {
    n.uid = e.uid;
    n.gid = e.gid;
    if !e.xattrs.is_empty() {
        // The joined inode's list is shared: change a copy.
        let mut list = lists[n.xattrs as usize].clone();
        for (k, v) in &e.xattrs {
            match list.iter_mut().find(|(have, _)| have == k) {
                Some(slot) => slot.1 = v.clone(),
                None => list.push((k.clone(), v.clone())),
            }
        }
        n.xattrs = push_list(lists, list);
    }
    if n.kind != Kind::Symlink {
        n.mode = e.mode & 0o7777;
    }
    n.mtime = e.mtime;
    n.mtime_nsec = e.mtime_nsec;
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

/// Checks a tar path as [`components`] does, without collecting them.
fn check_components(path: &[u8]) -> Result<(), &'static str> {
    for part in path.split(|&b| b == b'/') {
        match part {
            b".." => return Err("path escapes the rootfs through '..'"),
            p if p.contains(&0) => return Err("path contains a NUL byte"),
            _ => {}
        }
    }
    Ok(())
}

/// Scans a whole tar from `src` and returns the builder holding its tree.
/// Reads headers only; data is skipped through [`Source::skip`].
pub fn build_index<S: Source>(src: S) -> Result<(IndexBuilder, S), IndexError> {
    // Every entry takes a header block: room for a tar of small files,
    // capped (the room is reserved, not touched, until entries fill it).
    let entries = src
        .remaining()
        .map_or(0, |n| (n / 512).min(1 << 20) as usize);
    let mut reader = TarReader::new(src);
    let mut b = IndexBuilder::with_capacity(entries);
    let mut e = RawEntry::default();
    while reader.read_entry(&mut e)? {
        b.add(&e)?;
    }
    Ok((b, reader.into_inner()))
}
