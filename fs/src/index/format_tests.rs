//! Unit tests of the index file format: a tar built in memory, indexed, written,
//! reopened and read back; the exact bytes of the format; corrupted files.

use sha2::{Digest, Sha256};

use super::*;
use crate::tar::StreamSource;

const DIGEST: [u8; 32] = [7; 32];

fn header(kind: tar::EntryType, mode: u32, uid: u64, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid + 1);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// A small layer with every kind of entry the index distinguishes.
fn sample_tar() -> Vec<u8> {
    use tar::EntryType::{Char, Directory, Link, Regular, Symlink};
    let mut b = tar::Builder::new(Vec::new());
    let files: [(tar::Header, &str, &[u8]); 5] = [
        (header(Directory, 0o750, 1, 100, 0), "etc/", b""),
        (
            header(Regular, 0o644, 2, 200, 10),
            "etc/hosts",
            b"127.0.0.1\n",
        ),
        (header(Regular, 0o600, 3, 300, 3), "etc/zz", b"zzz"),
        (header(Regular, 0, 0, 0, 0), "etc/.wh.old", b""),
        (header(Regular, 0, 0, 0, 0), "var/.wh..wh..opq", b""),
    ];
    for (mut h, path, data) in files {
        b.append_data(&mut h, path, data).expect("append to a Vec");
    }
    let links = [
        (header(Link, 0o644, 2, 200, 0), "etc/hosts.bak", "etc/hosts"),
        (header(Symlink, 0o777, 0, 400, 0), "bin", "usr/bin"),
    ];
    for (mut h, path, target) in links {
        b.append_link(&mut h, path, target)
            .expect("append to a Vec");
    }
    let mut dev = header(Char, 0o666, 0, 500, 0);
    dev.set_device_major(1).expect("ustar device");
    dev.set_device_minor(3).expect("ustar device");
    b.append_data(&mut dev, "dev/null", &b""[..])
        .expect("append to a Vec");
    b.append_pax_extensions([("SCHILY.xattr.user.k", b"v".as_slice())])
        .expect("append to a Vec");
    let mut x = header(Regular, 0o755, 0, 600, 2);
    b.append_data(&mut x, "x", &b"hi"[..])
        .expect("append to a Vec");
    b.into_inner().expect("finish a Vec")
}

fn sample_index(tar: &[u8]) -> Vec<u8> {
    let (builder, _) = build_index(StreamSource(tar)).expect("the sample indexes");
    builder
        .finish(&DIGEST, tar.len() as u64)
        .expect("the sample indexes")
}

fn find(idx: &LayerIndex, path: &str) -> EntryId {
    path.split('/').fold(ROOT, |dir, name| {
        idx.lookup(dir, name.as_bytes())
            .unwrap_or_else(|| panic!("{path} not found"))
    })
}

#[test]
fn an_index_reopens_to_what_the_tar_holds() {
    let tar = sample_tar();
    let bytes = sample_index(&tar);
    let entries = Header::read(&bytes).expect("header").entries();
    let idx = LayerIndex::from_bytes(bytes).expect("the built index opens");
    assert_eq!(entries, idx.len() as u64);
    assert_eq!((idx.digest(), idx.blob_size()), (&DIGEST, tar.len() as u64));
    // root, bin, dev, etc, var, x, dev/null, etc/{hosts,hosts.bak,old,zz}
    assert_eq!(idx.len(), 11);

    let names = |dir| -> Vec<&[u8]> { idx.children(dir).map(|c| idx.name(c)).collect() };
    let root: Vec<&[u8]> = vec![b"bin", b"dev", b"etc", b"var", b"x"];
    assert_eq!(names(ROOT), root);
    let etc: Vec<&[u8]> = vec![b"hosts", b"hosts.bak", b"old", b"zz"];
    assert_eq!(names(find(&idx, "etc")), etc);
    assert_eq!(idx.lookup(ROOT, b"nothing"), None);
    assert_eq!(idx.lookup(find(&idx, "etc"), b".wh.old"), None);

    let hosts = find(&idx, "etc/hosts");
    assert_eq!(idx.path(hosts), b"etc/hosts");
    assert_eq!(idx.parent(hosts), find(&idx, "etc"));
    let m = idx.meta(hosts);
    assert_eq!(
        (m.kind, m.mode, m.uid, m.gid, m.mtime, m.size),
        (Kind::File, 0o644, 2, 3, 200, 10)
    );
    let data = m.data as usize..m.data as usize + m.size as usize;
    assert_eq!(&tar[data], b"127.0.0.1\n");

    let bak = idx.meta(find(&idx, "etc/hosts.bak"));
    assert_eq!(
        (bak.inode, bak.nlink, m.inode, m.nlink),
        (hosts, 2, hosts, 2)
    );
    assert_eq!((bak.data, bak.size), (m.data, m.size));
    assert_eq!(idx.meta(find(&idx, "etc/zz")).nlink, 1);

    let etc = idx.meta(find(&idx, "etc"));
    assert_eq!(
        (etc.kind, etc.mode, etc.uid, etc.opaque),
        (Kind::Dir, 0o750, 1, false)
    );
    assert_eq!(idx.kind(find(&idx, "etc/old")), Kind::Whiteout);
    assert!(idx.meta(find(&idx, "var")).opaque);
    assert_eq!(idx.children(find(&idx, "var")).len(), 0);

    let bin = find(&idx, "bin");
    assert_eq!(idx.kind(bin), Kind::Symlink);
    assert_eq!(idx.link_target(bin), b"usr/bin");
    assert_eq!(idx.meta(bin).size, 7);

    let null = idx.meta(find(&idx, "dev/null"));
    assert_eq!(
        (null.kind, null.rdev()),
        (Kind::CharDev, libc::makedev(1, 3))
    );

    let x = find(&idx, "x");
    let xattrs: Vec<_> = idx.xattrs(x).collect();
    assert_eq!(xattrs, vec![(b"user.k".as_slice(), b"v".as_slice())]);
    assert_eq!(idx.xattrs(hosts).count(), 0);
}

/// The bytes of the format, pinned: a change here is a format change and
/// needs a new [`VERSION`].
#[test]
fn the_format_is_unchanged() {
    let bytes = sample_index(&sample_tar());
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(bytes[8..12], VERSION.to_le_bytes());
    assert_eq!(bytes[12..16], (RECORD_LEN as u32).to_le_bytes());
    assert_eq!(bytes[56..64], 11u64.to_le_bytes());
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!((hex.as_str(), bytes.len()), (GOLDEN_SHA256, 1154));
}

const GOLDEN_SHA256: &str = "40b4881558d61879ddc2a93a308c1928c3fdef9d970980ec0a508108eda1b4e8";

#[test]
fn an_index_file_opens_and_is_bound_to_its_blob() {
    let tar = sample_tar();
    let path = std::env::temp_dir().join(format!("sealer-index-test-{}", std::process::id()));
    std::fs::write(&path, sample_index(&tar)).expect("write a temp file");
    let size = tar.len() as u64;
    let opened = LayerIndex::open(&path, &DIGEST, size).map(|i| i.len());
    let other_blob = LayerIndex::open(&path, &[8; 32], size).map(|i| i.len());
    let other_size = LayerIndex::open(&path, &DIGEST, size + 1).map(|i| i.len());
    std::fs::remove_file(&path).expect("remove the temp file");
    assert_eq!(opened.expect("opens"), 11);
    assert!(matches!(other_blob, Err(IndexError::Stale(_))));
    assert!(matches!(other_size, Err(IndexError::Stale(_))));
}

#[test]
fn a_flipped_byte_or_a_truncated_file_is_refused() {
    let good = sample_index(&sample_tar());
    let records_end = HEADER_LEN + 11 * RECORD_LEN;
    // magic, version, record size, count, strings offset, checksum,
    // a record's kind, a record's name offset, a string byte, the last byte.
    for at in [0, 8, 12, 56, 64, 90, HEADER_LEN + 12, HEADER_LEN + 4]
        .into_iter()
        .chain([records_end + 1, good.len() - 1])
    {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        let opened = LayerIndex::from_bytes(bad);
        assert!(
            matches!(
                opened,
                Err(IndexError::Corrupt(_)) | Err(IndexError::Stale(_))
            ),
            "flipped byte {at} accepted"
        );
    }
    for len in [
        0,
        8,
        HEADER_LEN - 1,
        HEADER_LEN,
        records_end,
        good.len() - 1,
    ] {
        let opened = LayerIndex::from_bytes(good[..len].to_vec());
        assert!(
            matches!(opened, Err(IndexError::Corrupt(_))),
            "truncated to {len} accepted"
        );
    }
}

/// Rewrites the checksum, as a crafted file would.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    let sum = Sha256::digest(&b[HEADER_LEN..]);
    b[80..112].copy_from_slice(&sum);
    b
}

#[test]
fn a_crafted_index_with_a_valid_checksum_cannot_reach_out_of_bounds() {
    let good = sample_index(&sample_tar());
    assert!(LayerIndex::from_bytes(reseal(good.clone())).is_ok());
    let record = |id: usize, field: usize| HEADER_LEN + id * RECORD_LEN + field;
    let cases: &[(&str, usize, u32)] = &[
        ("name past the strings", record(1, 8), u32::MAX),
        ("link past the strings", record(1, 72), 1 << 30),
        ("xattrs past the strings", record(1, 84), 1 << 30),
        ("inode past the records", record(2, 44), 11),
        ("children past the records", record(0, 52), 12),
        ("children before their parent", record(3, 48), 1),
        ("parent after the child", record(2, 0), 5),
        ("root not a directory", record(0, 12), 1),
        ("unknown kind", record(4, 12), 9),
        ("record count too large", 56, 12),
        ("strings offset off", 64, 1),
    ];
    for &(what, at, value) in cases {
        let mut b = good.clone();
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let opened = LayerIndex::from_bytes(reseal(b));
        assert!(
            matches!(opened, Err(IndexError::Corrupt(_))),
            "{what}: accepted"
        );
    }
}
