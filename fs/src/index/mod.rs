//! The layer index: one file per layer blob that lets us look up, list and
//! read the tar's entries without scanning it. Built once by [`build`] in a
//! single pass over the tar, opened with mmap, bound to the blob's digest.
//!
//! ```text
//! file = header | record[count] | strings          (all little-endian)
//!
//! header (128 bytes)
//!    0  8  magic "SEALIDX\0"
//!    8  4  version (2)               12  4  record size (88)
//!   16 32  sha256 of the layer blob  48  8  blob size
//!   56  8  record count              64  8  strings offset
//!   72  8  strings length            80 32  sha256 of bytes 128..end
//!  112 16  zero
//!
//! record (88 bytes), one per entry, in breadth-first order: the root is 0,
//! the children of a directory are contiguous and sorted by name bytes, so a
//! lookup is a binary search within the parent's child range.
//!    0  4  parent                     4  4  name offset   8  4  name length
//!   12  1  kind                      13  1  flags (1 = opaque dir)   14 2 zero
//!   16  4  mode (07777)              20  4  uid          24  4  gid
//!   28  4  mtime nanoseconds         32  8  mtime seconds (i64)
//!   40  4  nlink                     44  4  inode (first record of its hard-link group)
//!   48  4  first child               52  4  child count
//!   56  8  size                      64  8  data offset in blob | major<<32|minor
//!   72  4  link target offset        76  4  link target length
//!   80  4  xattrs offset             84  4  xattrs length
//!
//! xattrs = (u32 name length, name, u32 value length, value)*
//! ```
//!
//! The header and the record are the structs [`Header`] and `Record`, which
//! the reader and [`build`] share; their offsets are checked against this
//! drawing at compile time.
//!
//! Whiteouts (`.wh.NAME`) are records of kind [`Kind::Whiteout`] named NAME;
//! `.wh..wh..opq` is the opaque flag on its directory. What a hostile tar
//! gets is documented on [`build::IndexBuilder`].

pub mod build;
#[cfg(test)]
mod build_equivalence_tests;
#[cfg(test)]
mod build_reference;
#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::mem::{offset_of, size_of};
use std::ops::Range;
use std::path::Path;

use sha2::{Digest, Sha256};
use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use self::build::{build_index, IndexBuilder};
use crate::error::IndexError;

/// Magic bytes at the start of every index file.
pub const MAGIC: &[u8; 8] = b"SEALIDX\0";
/// Format version; a different version is stale and gets rebuilt. Also
/// bumped when the same tar indexes differently: 2 = a hard link entry's
/// attributes apply to its inode (see [`build::IndexBuilder`]).
pub const VERSION: u32 = 2;
/// Size of the header.
pub const HEADER_LEN: usize = 128;
/// Size of one entry record.
pub const RECORD_LEN: usize = 88;

/// The header of an index file, as drawn above. Every field is
/// little-endian with alignment 1, so the struct has no padding and any 128
/// bytes cast to it.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    magic: [u8; 8],
    version: U32,
    record_len: U32,
    blob_digest: [u8; 32],
    blob_size: U64,
    count: U64,
    strings_offset: U64,
    strings_len: U64,
    /// sha256 of every byte after the header.
    checksum: [u8; 32],
    zero: [u8; 16],
}

/// One entry, as drawn above.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Record {
    parent: U32,
    name_offset: U32,
    name_len: U32,
    kind: u8,
    flags: u8,
    zero: U16,
    mode: U32,
    uid: U32,
    gid: U32,
    mtime_nsec: U32,
    mtime: I64,
    nlink: U32,
    inode: U32,
    first_child: U32,
    child_count: U32,
    size: U64,
    data: U64,
    link_offset: U32,
    link_len: U32,
    xattrs_offset: U32,
    xattrs_len: U32,
}

// The structs are the drawing: sizes and offsets checked at compile time.
const _: () = {
    assert!(size_of::<Header>() == HEADER_LEN);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, record_len) == 12);
    assert!(offset_of!(Header, blob_digest) == 16);
    assert!(offset_of!(Header, blob_size) == 48);
    assert!(offset_of!(Header, count) == 56);
    assert!(offset_of!(Header, strings_offset) == 64);
    assert!(offset_of!(Header, strings_len) == 72);
    assert!(offset_of!(Header, checksum) == 80);
    assert!(offset_of!(Header, zero) == 112);
    assert!(size_of::<Record>() == RECORD_LEN);
    assert!(offset_of!(Record, name_offset) == 4);
    assert!(offset_of!(Record, name_len) == 8);
    assert!(offset_of!(Record, kind) == 12);
    assert!(offset_of!(Record, flags) == 13);
    assert!(offset_of!(Record, mode) == 16);
    assert!(offset_of!(Record, uid) == 20);
    assert!(offset_of!(Record, gid) == 24);
    assert!(offset_of!(Record, mtime_nsec) == 28);
    assert!(offset_of!(Record, mtime) == 32);
    assert!(offset_of!(Record, nlink) == 40);
    assert!(offset_of!(Record, inode) == 44);
    assert!(offset_of!(Record, first_child) == 48);
    assert!(offset_of!(Record, child_count) == 52);
    assert!(offset_of!(Record, size) == 56);
    assert!(offset_of!(Record, data) == 64);
    assert!(offset_of!(Record, link_offset) == 72);
    assert!(offset_of!(Record, link_len) == 76);
    assert!(offset_of!(Record, xattrs_offset) == 80);
    assert!(offset_of!(Record, xattrs_len) == 84);
};

impl Header {
    /// The header at the start of index file bytes (only the magic is
    /// checked; [`LayerIndex::from_bytes`] checks everything).
    pub fn read(bytes: &[u8]) -> Result<&Header, IndexError> {
        match Header::ref_from_prefix(bytes) {
            Ok((h, _)) if &h.magic == MAGIC => Ok(h),
            _ => Err(IndexError::Corrupt("bad magic")),
        }
    }

    /// Number of entries, the root included.
    pub fn entries(&self) -> u64 {
        self.count.get()
    }
}

/// Index of an entry within one layer's index; the root is [`ROOT`].
pub type EntryId = u32;
/// The root directory of every layer.
pub const ROOT: EntryId = 0;
/// Record flag: the directory is opaque (`.wh..wh..opq`).
pub const FLAG_OPAQUE: u8 = 1;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Regular file; its data lies in the blob.
    File = 1,
    /// Directory.
    Dir = 2,
    /// Symbolic link.
    Symlink = 3,
    /// Character device.
    CharDev = 4,
    /// Block device.
    BlockDev = 5,
    /// Named pipe.
    Fifo = 6,
    /// A whiteout: hides this name in the layers below.
    Whiteout = 7,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::File,
            2 => Kind::Dir,
            3 => Kind::Symlink,
            4 => Kind::CharDev,
            5 => Kind::BlockDev,
            6 => Kind::Fifo,
            7 => Kind::Whiteout,
            _ => return None,
        })
    }
}

/// The fixed-size attributes of one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Kind of entry.
    pub kind: Kind,
    /// Opaque directory.
    pub opaque: bool,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Modification time (nanoseconds).
    pub mtime_nsec: u32,
    /// Number of names of this inode within the layer (1 for dirs).
    pub nlink: u32,
    /// The entry that stands for this inode (first of its hard-link group).
    pub inode: EntryId,
    /// Size in bytes (files: data length; symlinks: target length).
    pub size: u64,
    /// Files: offset of the data in the blob. Devices: major << 32 | minor.
    pub data: u64,
}

impl Meta {
    /// Permission bits as a filesystem shows them: 0777 for a symlink (Linux
    /// ignores a symlink's mode, and every filesystem, the kernel's overlayfs
    /// over unpacked layers included, reports 0777 whatever the tar said),
    /// else the bits of the entry.
    pub fn perm(&self) -> u32 {
        if self.kind == Kind::Symlink {
            0o777
        } else {
            self.mode
        }
    }

    /// Device number for `st_rdev` (devices only).
    pub fn rdev(&self) -> u64 {
        let (major, minor) = ((self.data >> 32) as u32, self.data as u32);
        libc::makedev(major, minor)
    }
}

enum Backing {
    Map(memmap2::Mmap),
    Heap(Vec<u8>),
}

/// An opened, validated layer index.
pub struct LayerIndex {
    bytes: Backing,
    count: u32,
    strings: Range<usize>,
    digest: [u8; 32],
    blob_size: u64,
}

impl LayerIndex {
    /// Opens an index file and checks it belongs to the blob `digest` of
    /// `blob_size` bytes. Stale and corrupt files are errors (the caller
    /// rebuilds them).
    pub fn open(path: &Path, digest: &[u8; 32], blob_size: u64) -> Result<LayerIndex, IndexError> {
        let file = File::open(path)?;
        // SAFETY: index files are written to a temporary name and renamed into
        // place, never modified afterwards, so the mapping does not change.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let idx = LayerIndex::parse(Backing::Map(map))?;
        if &idx.digest != digest {
            return Err(IndexError::Stale("built for another blob"));
        }
        if idx.blob_size != blob_size {
            return Err(IndexError::Stale("blob size differs"));
        }
        Ok(idx)
    }

    /// Takes an index held in memory (as [`IndexBuilder::finish`] returns it).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<LayerIndex, IndexError> {
        LayerIndex::parse(Backing::Heap(bytes))
    }

    fn parse(bytes: Backing) -> Result<LayerIndex, IndexError> {
        let b: &[u8] = match &bytes {
            Backing::Map(m) => m,
            Backing::Heap(v) => v,
        };
        let h = Header::read(b)?;
        if h.version.get() != VERSION || h.record_len.get() as usize != RECORD_LEN {
            return Err(IndexError::Stale("other format version"));
        }
        if Sha256::digest(&b[HEADER_LEN..]).as_slice() != h.checksum {
            return Err(IndexError::Corrupt("checksum mismatch"));
        }
        let count = h.count.get();
        let (s_off, s_len) = (h.strings_offset.get(), h.strings_len.get());
        let records_end = (HEADER_LEN as u64).checked_add(count.saturating_mul(RECORD_LEN as u64));
        if count == 0
            || count > u32::MAX as u64
            || records_end != Some(s_off)
            || s_off.checked_add(s_len) != Some(b.len() as u64)
        {
            return Err(IndexError::Corrupt("bad section sizes"));
        }
        let idx = LayerIndex {
            count: count as u32,
            strings: s_off as usize..(s_off + s_len) as usize,
            digest: h.blob_digest,
            blob_size: h.blob_size.get(),
            bytes,
        };
        idx.validate()?;
        Ok(idx)
    }

    /// Checks every record's references once, so later accessors cannot go
    /// out of bounds even on a crafted file whose checksum matches.
    fn validate(&self) -> Result<(), IndexError> {
        let slen = self.strings.len() as u64;
        let in_strings = |off: U32, len: U32| off.get() as u64 + len.get() as u64 <= slen;
        let records = self.records();
        if records.len() != self.count as usize {
            return Err(IndexError::Corrupt("bad section sizes"));
        }
        for (id, r) in (0..self.count).zip(records) {
            let (parent, kind) = (r.parent.get(), Kind::from_u8(r.kind));
            let (first, n) = (r.first_child.get(), r.child_count.get());
            let ok = kind.is_some()
                && (if id == ROOT {
                    parent == ROOT && kind == Some(Kind::Dir)
                } else {
                    parent < id
                })
                && in_strings(r.name_offset, r.name_len)
                && in_strings(r.link_offset, r.link_len)
                && in_strings(r.xattrs_offset, r.xattrs_len)
                && r.inode.get() < self.count
                && (n == 0 || (first > id && first as u64 + n as u64 <= self.count as u64));
            if !ok {
                return Err(IndexError::Corrupt("record out of bounds"));
            }
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Backing::Map(m) => m,
            Backing::Heap(v) => v,
        }
    }

    /// The records section as typed records. Its length is a multiple of
    /// [`RECORD_LEN`] (checked on open) and records have alignment 1, so
    /// the cast cannot fail; an empty slice stands for the impossible.
    fn records(&self) -> &[Record] {
        let section = &self.bytes()[HEADER_LEN..self.strings.start];
        <[Record]>::ref_from_bytes(section).unwrap_or(&[])
    }

    fn record(&self, id: EntryId) -> &Record {
        &self.records()[id as usize]
    }

    fn string(&self, off: U32, len: U32) -> &[u8] {
        let s = &self.bytes()[self.strings.clone()];
        let start = off.get() as usize;
        &s[start..start + len.get() as usize]
    }

    /// The digest of the blob this index describes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Size of the blob this index describes.
    pub fn blob_size(&self) -> u64 {
        self.blob_size
    }

    /// Number of entries, the root included.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Always false: every index has a root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes of the index file (header, records, strings).
    pub fn file_size(&self) -> usize {
        self.bytes().len()
    }

    /// Attributes of an entry. `id` must be below [`len`](Self::len).
    pub fn meta(&self, id: EntryId) -> Meta {
        let r = self.record(id);
        Meta {
            kind: Kind::from_u8(r.kind).unwrap_or(Kind::File),
            opaque: r.flags & FLAG_OPAQUE != 0,
            mode: r.mode.get(),
            uid: r.uid.get(),
            gid: r.gid.get(),
            mtime_nsec: r.mtime_nsec.get(),
            mtime: r.mtime.get(),
            nlink: r.nlink.get(),
            inode: r.inode.get(),
            size: r.size.get(),
            data: r.data.get(),
        }
    }

    /// The entry's kind (cheaper than [`meta`](Self::meta)).
    pub fn kind(&self, id: EntryId) -> Kind {
        Kind::from_u8(self.record(id).kind).unwrap_or(Kind::File)
    }

    /// The entry's parent directory (the root is its own parent).
    pub fn parent(&self, id: EntryId) -> EntryId {
        self.record(id).parent.get()
    }

    /// The entry's name within its directory (empty for the root).
    pub fn name(&self, id: EntryId) -> &[u8] {
        let r = self.record(id);
        self.string(r.name_offset, r.name_len)
    }

    /// A symlink's target.
    pub fn link_target(&self, id: EntryId) -> &[u8] {
        let r = self.record(id);
        self.string(r.link_offset, r.link_len)
    }

    /// The entry's extended attributes, in stored order.
    pub fn xattrs(&self, id: EntryId) -> Xattrs<'_> {
        let r = self.record(id);
        Xattrs {
            rest: self.string(r.xattrs_offset, r.xattrs_len),
        }
    }

    /// The ids of a directory's children, sorted by name.
    pub fn children(&self, dir: EntryId) -> Range<EntryId> {
        let r = self.record(dir);
        let first = r.first_child.get();
        first..first + r.child_count.get()
    }

    /// Finds `name` among the children of `dir` by binary search.
    pub fn lookup(&self, dir: EntryId, name: &[u8]) -> Option<EntryId> {
        let range = self.children(dir);
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The full path of an entry, without a leading slash ("" for the root).
    pub fn path(&self, mut id: EntryId) -> Vec<u8> {
        let mut parts = Vec::new();
        while id != ROOT {
            parts.push(self.name(id));
            id = self.parent(id);
        }
        parts.reverse();
        parts.join(&b'/')
    }
}

/// Iterator over an entry's `(name, value)` extended attributes.
pub struct Xattrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Xattrs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, rest) = take_sized(self.rest)?;
        let (value, rest) = take_sized(rest)?;
        self.rest = rest;
        Some((name, value))
    }
}

fn take_sized(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let body = b.get(4..4 + len)?;
    Some((body, &b[4 + len..]))
}
