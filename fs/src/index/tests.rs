//! Unit tests of the layer index: built from in-memory tars (made with the
//! `tar` crate, or entry by entry for what that crate refuses to write),
//! looked up, listed and checked; corrupted index files are refused.

use std::io::Cursor;

use sha2::{Digest, Sha256};

use super::*;
use crate::tar::{EntryType, RawEntry, SeekSource, StreamSource};

/// Appends one entry to a tar being built.
fn entry(
    b: &mut ::tar::Builder<Vec<u8>>,
    path: &str,
    kind: ::tar::EntryType,
    mode: u32,
    data: &[u8],
) {
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(100);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

/// Appends a symlink or hard link.
/// A hard link's header carries its target's attributes, as archivers
/// write it (they apply to the shared inode, as containerd applies them).
fn link(b: &mut ::tar::Builder<Vec<u8>>, path: &str, kind: ::tar::EntryType, target: &str) {
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(kind);
    if kind == ::tar::EntryType::Link {
        h.set_mode(0o644);
        h.set_uid(1000);
        h.set_gid(100);
        h.set_mtime(1_700_000_000);
    } else {
        h.set_mode(0o777);
    }
    h.set_size(0);
    b.append_link(&mut h, path, target).unwrap();
}

/// A layer exercising every kind of entry the index keeps.
fn sample_tar() -> Vec<u8> {
    use ::tar::EntryType as T;
    let mut b = ::tar::Builder::new(Vec::new());
    entry(&mut b, "etc/", T::Directory, 0o750, b"");
    entry(&mut b, "etc/b.conf", T::Regular, 0o600, b"b=2\n");
    entry(&mut b, "etc/a.conf", T::Regular, 0o644, b"a=1\n");
    link(&mut b, "etc/hard", T::Link, "etc/a.conf");
    link(&mut b, "current", T::Symlink, "etc/a.conf");
    // Parents never named in the tar are made 0755 root:root, mtime 0.
    entry(
        &mut b,
        "usr/share/doc/README",
        T::Regular,
        0o644,
        b"hello\n",
    );
    b.append_pax_extensions([("SCHILY.xattr.user.origin", &b"sealer"[..])])
        .unwrap();
    entry(&mut b, "with-xattr", T::Regular, 0o644, b"x");
    // Whiteouts: a file hidden below, a directory made opaque, aufs metadata.
    entry(&mut b, "etc/.wh.old.conf", T::Regular, 0o644, b"");
    entry(&mut b, "var/", T::Directory, 0o755, b"");
    entry(&mut b, "var/.wh..wh..opq", T::Regular, 0o644, b"");
    entry(&mut b, "var/new", T::Regular, 0o644, b"n");
    entry(&mut b, ".wh..wh.plnk/123.456", T::Regular, 0o644, b"");
    b.into_inner().unwrap()
}

/// Indexes `tar` read as a stream, as ingest does.
fn index_of(tar: &[u8]) -> LayerIndex {
    let (builder, _) = build_index(StreamSource(Cursor::new(tar))).unwrap();
    let digest: [u8; 32] = Sha256::digest(tar).into();
    LayerIndex::from_bytes(builder.finish(&digest, tar.len() as u64).unwrap()).unwrap()
}

/// Index file bytes of `tar`.
fn index_bytes(tar: &[u8]) -> Vec<u8> {
    let (builder, _) = build_index(StreamSource(Cursor::new(tar))).unwrap();
    builder.finish(&[7; 32], tar.len() as u64).unwrap()
}

/// Follows `path` from the root.
fn find(index: &LayerIndex, path: &str) -> Option<EntryId> {
    path.split('/')
        .try_fold(ROOT, |dir, name| index.lookup(dir, name.as_bytes()))
}

fn names(index: &LayerIndex, dir: EntryId) -> Vec<String> {
    index
        .children(dir)
        .map(|id| String::from_utf8_lossy(index.name(id)).into_owned())
        .collect()
}

#[test]
fn lookup_finds_every_entry_and_nothing_else() {
    let tar = sample_tar();
    let index = index_of(&tar);
    for path in [
        "etc",
        "etc/a.conf",
        "etc/b.conf",
        "etc/hard",
        "etc/old.conf",
        "current",
        "usr/share/doc/README",
        "with-xattr",
        "var/new",
    ] {
        let id = find(&index, path).unwrap_or_else(|| panic!("{path} not found"));
        assert_eq!(index.path(id), path.as_bytes());
    }
    for missing in [
        "etc/c.conf",
        "etc/.wh.old.conf",
        "var/.wh..wh..opq",
        ".wh..wh.plnk",
        "nope",
    ] {
        assert_eq!(find(&index, missing), None, "{missing}");
    }
    assert_eq!(index.lookup(ROOT, b""), None);
    assert_eq!(index.path(ROOT), b"");
    assert_eq!(index.parent(ROOT), ROOT);
    assert_eq!(index.digest(), &<[u8; 32]>::from(Sha256::digest(&tar)));
    assert_eq!(index.blob_size(), tar.len() as u64);
    assert!(!index.is_empty());
    assert_eq!(index.len(), 14, "root + 13 entries");
}

#[test]
fn readdir_lists_children_sorted_and_contiguous() {
    let index = index_of(&sample_tar());
    assert_eq!(
        names(&index, ROOT),
        ["current", "etc", "usr", "var", "with-xattr"]
    );
    let etc = find(&index, "etc").unwrap();
    assert_eq!(names(&index, etc), ["a.conf", "b.conf", "hard", "old.conf"]);
    assert_eq!(names(&index, find(&index, "var").unwrap()), ["new"]);
    // Breadth-first: every directory's children follow it, each names its parent.
    for dir in 0..index.len() {
        for child in index.children(dir) {
            assert!(child > dir);
            assert_eq!(index.parent(child), dir);
        }
        if index.kind(dir) != Kind::Dir {
            assert!(index.children(dir).is_empty());
        }
    }
}

#[test]
fn meta_keeps_modes_owners_times_sizes_and_data_offsets() {
    let tar = sample_tar();
    let index = index_of(&tar);
    let etc = index.meta(find(&index, "etc").unwrap());
    assert_eq!(
        (etc.kind, etc.mode, etc.uid, etc.gid),
        (Kind::Dir, 0o750, 1000, 100)
    );
    assert_eq!(
        (etc.mtime, etc.nlink, etc.opaque),
        (1_700_000_000, 1, false)
    );
    let a = index.meta(find(&index, "etc/a.conf").unwrap());
    assert_eq!((a.kind, a.mode, a.size), (Kind::File, 0o644, 4));
    let at = a.data as usize;
    assert_eq!(
        &tar[at..at + 4],
        b"a=1\n",
        "data offset points into the tar"
    );
    let b = index.meta(find(&index, "etc/b.conf").unwrap());
    assert_eq!(
        (b.mode, &tar[b.data as usize..b.data as usize + 4]),
        (0o600, &b"b=2\n"[..])
    );
    let implicit = index.meta(find(&index, "usr/share").unwrap());
    assert_eq!(
        (
            implicit.kind,
            implicit.mode,
            implicit.uid,
            implicit.gid,
            implicit.mtime
        ),
        (Kind::Dir, 0o755, 0, 0, 0)
    );
    let root = index.meta(ROOT);
    assert_eq!((root.kind, root.mode), (Kind::Dir, 0o755));
    let current = find(&index, "current").unwrap();
    assert_eq!(index.kind(current), Kind::Symlink);
    assert_eq!(index.link_target(current), b"etc/a.conf");
    assert_eq!(
        index.meta(current).size,
        10,
        "a symlink's size is its target's length"
    );
    let x = find(&index, "with-xattr").unwrap();
    let xattrs: Vec<_> = index.xattrs(x).collect();
    assert_eq!(xattrs, [(&b"user.origin"[..], &b"sealer"[..])]);
    assert_eq!(index.xattrs(find(&index, "etc/a.conf").unwrap()).count(), 0);
}

#[test]
fn hard_links_are_one_inode() {
    let tar = sample_tar();
    let index = index_of(&tar);
    let (a, hard) = (
        find(&index, "etc/a.conf").unwrap(),
        find(&index, "etc/hard").unwrap(),
    );
    let (ma, mh) = (index.meta(a), index.meta(hard));
    assert_eq!(ma.inode, mh.inode, "one inode");
    assert_eq!(
        ma.inode,
        a.min(hard),
        "the first record stands for the group"
    );
    assert_eq!((ma.nlink, mh.nlink), (2, 2));
    assert_eq!((mh.kind, mh.size, mh.data), (Kind::File, ma.size, ma.data));
    let b = index.meta(find(&index, "etc/b.conf").unwrap());
    assert_eq!(b.nlink, 1);
    assert_ne!(b.inode, ma.inode);
}

#[test]
fn whiteouts_and_opaque_directories() {
    let index = index_of(&sample_tar());
    let old = find(&index, "etc/old.conf").unwrap();
    assert_eq!(
        index.kind(old),
        Kind::Whiteout,
        ".wh.old.conf hides old.conf"
    );
    let var = index.meta(find(&index, "var").unwrap());
    assert!(var.opaque, ".wh..wh..opq makes var opaque");
    assert!(!index.meta(find(&index, "etc").unwrap()).opaque);
    // A directory where the same layer whited out the name is opaque.
    let mut b = IndexBuilder::new();
    b.add(&raw(".wh.d", EntryType::File)).unwrap();
    b.add(&raw("d/", EntryType::Dir)).unwrap();
    b.add(&raw("d/x", EntryType::File)).unwrap();
    // A whiteout of a name this layer has is dropped: the entry hides it.
    b.add(&raw("f", EntryType::File)).unwrap();
    b.add(&raw(".wh.f", EntryType::File)).unwrap();
    let index = LayerIndex::from_bytes(b.finish(&[0; 32], 0).unwrap()).unwrap();
    let d = find(&index, "d").unwrap();
    assert!(index.meta(d).opaque);
    assert_eq!(names(&index, d), ["x"]);
    assert_eq!(index.kind(find(&index, "f").unwrap()), Kind::File);
}

/// An entry as the tar reader hands it over.
fn raw(path: &str, kind: EntryType) -> RawEntry {
    RawEntry {
        path: path.as_bytes().to_vec(),
        kind: Some(kind),
        mode: 0o644,
        ..RawEntry::default()
    }
}

#[test]
fn hostile_entries_are_refused() {
    let refused = |entries: &[RawEntry], why: &str| {
        let mut b = IndexBuilder::new();
        let err = entries
            .iter()
            .try_for_each(|e| b.add(e))
            .expect_err("refused");
        assert!(err.to_string().contains(why), "{err} lacks {why:?}");
    };
    refused(&[raw("../x", EntryType::File)], "escapes the rootfs");
    refused(
        &[raw("a/b/../../../x", EntryType::File)],
        "escapes the rootfs",
    );
    refused(&[raw("a\0b", EntryType::File)], "NUL byte");
    refused(&[raw("./", EntryType::File)], "names the root");
    refused(
        &[raw("f", EntryType::File), raw("f/x", EntryType::File)],
        "not a directory",
    );
    let hard = |target: &str| RawEntry {
        link: target.as_bytes().to_vec(),
        ..raw("h", EntryType::HardLink)
    };
    refused(&[hard("missing")], "missing or later entry");
    refused(&[hard("../etc/passwd")], "escapes the rootfs");
    refused(&[raw("d/", EntryType::Dir), hard("d")], "directory");
    refused(
        &[raw(".wh.", EntryType::File)],
        "whiteout of an invalid name",
    );
    refused(&[raw(".wh.x/y", EntryType::File)], "used as a directory");
}

#[test]
fn stream_and_seek_sources_give_the_same_index() {
    let tar = sample_tar();
    let (seek, _) = build_index(SeekSource::new(Cursor::new(&tar[..])).unwrap()).unwrap();
    assert_eq!(
        seek.finish(&[7; 32], tar.len() as u64).unwrap(),
        index_bytes(&tar)
    );
}

#[test]
fn an_empty_tar_is_a_root_alone() {
    let index = index_of(&[0u8; 1024]);
    assert_eq!(index.len(), 1);
    assert!(index.children(ROOT).is_empty());
}

/// Rewrites the body checksum after a deliberate change.
fn reseal(bytes: &mut [u8]) {
    let sum = Sha256::digest(&bytes[HEADER_LEN..]);
    bytes[80..112].copy_from_slice(&sum);
}

fn corrupt(bytes: Vec<u8>) -> String {
    match LayerIndex::from_bytes(bytes) {
        Ok(_) => panic!("a damaged index was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_damaged_index_is_refused() {
    let good = index_bytes(&sample_tar());
    assert!(LayerIndex::from_bytes(good.clone()).is_ok());

    let mut flipped = good.clone();
    flipped[HEADER_LEN + 20] ^= 1;
    assert!(corrupt(flipped).contains("checksum mismatch"));

    let mut magic = good.clone();
    magic[0] = b'X';
    assert!(corrupt(magic).contains("bad magic"));
    assert!(corrupt(good[..HEADER_LEN - 1].to_vec()).contains("bad magic"));

    let mut version = good.clone();
    version[8] = 9;
    assert!(corrupt(version).contains("stale"));

    let mut cut = good[..good.len() - 1].to_vec();
    reseal(&mut cut);
    assert!(corrupt(cut).contains("bad section sizes"));

    // A record pointing past the strings, checksum recomputed (a crafted file).
    let mut crafted = good.clone();
    let name_len = HEADER_LEN + RECORD_LEN + 8;
    crafted[name_len..name_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut crafted);
    assert!(corrupt(crafted).contains("record out of bounds"));

    // A child range past the last record.
    let mut children = good.clone();
    let count = HEADER_LEN + 52;
    children[count..count + 4].copy_from_slice(&1000u32.to_le_bytes());
    reseal(&mut children);
    assert!(corrupt(children).contains("record out of bounds"));

    // An unknown kind.
    let mut kind = good;
    kind[HEADER_LEN + RECORD_LEN + 12] = 99;
    reseal(&mut kind);
    assert!(corrupt(kind).contains("record out of bounds"));
}

#[test]
fn an_index_file_is_bound_to_its_blob() {
    let tar = sample_tar();
    let digest: [u8; 32] = Sha256::digest(&tar).into();
    let (builder, _) = build_index(StreamSource(Cursor::new(&tar[..]))).unwrap();
    let bytes = builder.finish(&digest, tar.len() as u64).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    std::fs::write(&path, &bytes).unwrap();
    let size = tar.len() as u64;
    let index = LayerIndex::open(&path, &digest, size).unwrap();
    assert_eq!(index.file_size(), bytes.len());
    assert!(find(&index, "etc/a.conf").is_some());
    let other = LayerIndex::open(&path, &[0; 32], size).err().unwrap();
    assert!(matches!(other, IndexError::Stale(_)), "{other}");
    let resized = LayerIndex::open(&path, &digest, size + 1).err().unwrap();
    assert!(matches!(resized, IndexError::Stale(_)), "{resized}");
    let missing = LayerIndex::open(&dir.path().join("none"), &digest, size)
        .err()
        .unwrap();
    assert!(matches!(missing, IndexError::Io(_)), "{missing}");
}
