//! The index builder's treatment of hard link entries: the attributes they
//! give the inode they join, and what replacing a link target leaves.

use super::IndexBuilder;
use crate::index::{LayerIndex, ROOT};
use crate::tar::{EntryType, RawEntry};

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
