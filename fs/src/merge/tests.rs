//! Unit tests of the overlay rules on in-memory layers.

use super::*;
use crate::index::IndexBuilder;
use crate::tar::{EntryType, RawEntry};

/// A layer from lines `"d path"`, `"f path"`, `"l path target"`, `"h path target"`;
/// whiteouts and opaque markers are plain files named as in a tar.
fn layer(lines: &[&str]) -> LayerIndex {
    let mut b = IndexBuilder::new();
    for (i, line) in lines.iter().enumerate() {
        let mut it = line.split(' ');
        let (kind, path) = (it.next().unwrap(), it.next().unwrap());
        let kind = match kind {
            "d" => EntryType::Dir,
            "f" => EntryType::File,
            "l" => EntryType::Symlink,
            "h" => EntryType::HardLink,
            other => panic!("bad kind {other}"),
        };
        let e = RawEntry {
            path: path.as_bytes().to_vec(),
            kind: Some(kind),
            mode: 0o644,
            mtime: i as i64,
            link: it.next().unwrap_or("").as_bytes().to_vec(),
            size: 1,
            ..RawEntry::default()
        };
        b.add(&e).unwrap();
    }
    LayerIndex::from_bytes(b.finish(&[0; 32], 0).unwrap()).unwrap()
}

/// The merged tree as sorted "path kind layer" lines.
fn tree(stack: &[&LayerIndex]) -> Vec<String> {
    fn walk(stack: &[&LayerIndex], parts: &[Node], prefix: &str, out: &mut Vec<String>) {
        for (name, m) in read_dir(stack, parts) {
            let path = format!("{prefix}{}", String::from_utf8_lossy(name));
            let top = m.top();
            let kind = match stack[top.layer].kind(top.id) {
                Kind::Dir => "d",
                Kind::Symlink => "l",
                _ => "f",
            };
            out.push(format!("{path} {kind}{}", top.layer));
            if let Merged::Dir(p) = &m {
                walk(stack, p, &format!("{path}/"), out);
            }
        }
    }
    let mut out = Vec::new();
    let Merged::Dir(parts) = root(stack) else {
        unreachable!()
    };
    walk(stack, &parts, "", &mut out);
    out
}

/// (name, top layer, lower layer, expected merged tree)
type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

#[test]
fn table() {
    // (name, top layer, lower layer, expected merged tree)
    let cases: &[Case] = &[
        ("union", &["f a"], &["f b"], &["a f0", "b f1"]),
        ("upper file wins", &["f a"], &["f a"], &["a f0"]),
        ("file whiteout", &["f .wh.a"], &["f a", "f b"], &["b f1"]),
        ("dir whiteout", &["f .wh.d"], &["d d", "f d/x"], &[]),
        (
            "whiteout hides only below",
            &["f .wh.a", "f a"],
            &["d a", "f a/x"],
            &["a f0"],
        ),
        (
            "dirs merge",
            &["d d", "f d/x"],
            &["d d", "f d/y"],
            &["d d0", "d/x f0", "d/y f1"],
        ),
        (
            "opaque dir",
            &["d d", "f d/.wh..wh..opq", "f d/x"],
            &["d d", "f d/y"],
            &["d d0", "d/x f0"],
        ),
        ("file over dir", &["f d"], &["d d", "f d/x"], &["d f0"]),
        (
            "dir over file",
            &["d d", "f d/x"],
            &["f d"],
            &["d d0", "d/x f0"],
        ),
        (
            "symlink over dir",
            &["l d /etc"],
            &["d d", "f d/x"],
            &["d l0"],
        ),
        (
            "deep whiteout",
            &["d a", "d a/b", "f a/b/.wh.c"],
            &["d a", "d a/b", "f a/b/c", "f a/b/k"],
            &["a d0", "a/b d0", "a/b/k f1"],
        ),
        (
            "implicit parents",
            &["f x/y/z"],
            &[],
            &["x d0", "x/y d0", "x/y/z f0"],
        ),
        (
            "dir after whiteout is opaque",
            &["f .wh.d", "d d", "f d/n"],
            &["d d", "f d/o"],
            &["d d0", "d/n f0"],
        ),
        (
            "aufs metadata dropped",
            &["f .wh..wh.plnk"],
            &["f a"],
            &["a f1"],
        ),
    ];
    for (name, top, lower, want) in cases {
        let (t, l) = (layer(top), layer(lower));
        assert_eq!(tree(&[&t, &l]), *want, "case {name}");
    }
}

#[test]
fn three_layers_opaque_in_middle() {
    let (a, b, c) = (
        layer(&["d d", "f d/a"]),
        layer(&["d d", "f d/.wh..wh..opq", "f d/b"]),
        layer(&["d d", "f d/c"]),
    );
    assert_eq!(tree(&[&a, &b, &c]), ["d d0", "d/a f0", "d/b f1"]);
}

#[test]
fn dir_attributes_from_top() {
    let (t, l) = (layer(&["f z", "d d"]), layer(&["d d"]));
    let m = resolve(&[&t, &l], b"d").unwrap();
    assert_eq!(
        m.top(),
        Node {
            layer: 0,
            id: t.lookup(ROOT, b"d").unwrap()
        }
    );
    assert_eq!(t.meta(m.top().id).mtime, 1);
}

#[test]
fn hostile_names() {
    let refused = ["../etc/passwd", "a/../../b", "a/\0b", ".wh.", "d/.wh..."];
    for p in refused {
        let mut b = IndexBuilder::new();
        let e = RawEntry {
            path: p.as_bytes().to_vec(),
            kind: Some(EntryType::File),
            ..RawEntry::default()
        };
        assert!(b.add(&e).is_err(), "{p:?} must be refused");
    }
    // Absolute and dotted paths are normalized, never outside the root.
    let l = layer(&["f /etc/passwd", "f ./a//b/"]);
    assert_eq!(tree(&[&l]), ["a d0", "a/b f0", "etc d0", "etc/passwd f0"]);
    assert!(resolve(&[&l], b"../etc/passwd").is_none());
    // A path under a symlink is refused: it would land wherever the link points.
    let mut b = IndexBuilder::new();
    b.add(&RawEntry {
        path: b"s".to_vec(),
        kind: Some(EntryType::Symlink),
        link: b"/etc".to_vec(),
        ..Default::default()
    })
    .unwrap();
    let under = RawEntry {
        path: b"s/passwd".to_vec(),
        kind: Some(EntryType::File),
        ..Default::default()
    };
    assert!(b.add(&under).is_err());
}

#[test]
fn duplicates_and_hard_links() {
    let l = layer(&["f a", "d a", "f a/x", "f a"]);
    assert_eq!(tree(&[&l]), ["a f0"]);
    let l = layer(&["f t", "h u t", "h v t"]);
    let (t, u) = (l.lookup(ROOT, b"t").unwrap(), l.lookup(ROOT, b"u").unwrap());
    assert_eq!(l.meta(t).inode, l.meta(u).inode);
    assert_eq!(l.meta(u).nlink, 3);
    let mut b = IndexBuilder::new();
    let missing = RawEntry {
        path: b"h".to_vec(),
        kind: Some(EntryType::HardLink),
        link: b"later".to_vec(),
        ..Default::default()
    };
    assert!(b.add(&missing).is_err());
}

#[test]
fn big_directory_lookup() {
    let names: Vec<String> = (0..10_000).map(|i| format!("f d/n{i:05}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let l = layer(&refs);
    let d = l.lookup(ROOT, b"d").unwrap();
    assert_eq!(l.children(d).len(), 10_000);
    assert!(l.lookup(d, b"n09999").is_some());
    assert!(l.lookup(d, b"n10000").is_none());
}
