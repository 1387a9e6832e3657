//! The merge rules against the kernel: tricky layer stacks (file and
//! directory whiteouts, opaque directories, files, directories and symlinks
//! replacing each other, hard links, deep paths and long names, a 10k-entry
//! directory, xattrs, modes (a symlink's shows 0777), owners and mtimes) are
//! ingested into a store and read through `RootView`; the same tars are
//! unpacked by GNU tar (whiteouts as 0/0 character devices, opaque
//! directories as `trusted.overlay.opaque=y`) and stacked by the kernel's
//! overlayfs. Both trees must list the same entries, attribute for attribute.

mod harness;

use harness::{compare, LayerTar, Listing, DIR, FILE, T};

/// Asserts what a stack must show, so an empty or broken listing on both
/// sides cannot pass: `(path, Some(text in its line))` or `(path, None)` for
/// a path that must not be visible.
fn expect(listing: &Listing, checks: &[(&str, Option<&str>)]) {
    for (path, want) in checks {
        match (listing.get(*path), want) {
            (Some(line), Some(text)) => {
                assert!(line.contains(text), "{path}: want {text:?} in {line}")
            }
            (None, Some(_)) => panic!("{path} is missing from the merged tree"),
            (Some(line), None) => panic!("{path} must be hidden, but is {line}"),
            (None, None) => {}
        }
    }
}

#[test]
fn whiteouts_of_files_and_directories() {
    let l0 = LayerTar::new(DIR)
        .dir("etc", DIR)
        .file("etc/a", b"a0", FILE)
        .file("etc/b", b"b0", FILE)
        .whiteout("etc", "nothing-below")
        .dir("etc/sub", DIR)
        .file("etc/sub/x", b"x0", FILE)
        .dir("var", DIR)
        .dir("var/log", DIR)
        .file("var/log/l1", b"log", FILE)
        .finish();
    let l1 = LayerTar::new(DIR)
        .dir("etc", DIR.at(T + 10))
        .whiteout("etc", "a")
        .whiteout("etc", "sub")
        .file("etc/c", b"c1", FILE)
        .whiteout("etc", "never-existed")
        .whiteout("", "var")
        .finish();
    let l2 = LayerTar::new(DIR.mode(0o700).at(T + 20))
        .dir("etc", DIR.at(T + 20))
        .whiteout("etc", "c")
        .dir("var", DIR.mode(0o750))
        .file("var/new", b"new after a whiteout below", FILE)
        .finish();
    let merged = compare(vec![l0, l1, l2]);
    expect(
        &merged,
        &[
            ("/", Some("d 700")),
            ("/etc", Some(&format!("mtime={}", T + 20))),
            ("/etc/a", None),
            ("/etc/b", Some("f 644")),
            ("/etc/c", None),
            ("/etc/sub", None),
            ("/etc/nothing-below", None),
            ("/var", Some("d 750")),
            ("/var/log", None),
            ("/var/new", Some("f 644")),
        ],
    );
}

#[test]
fn opaque_directories() {
    let l0 = LayerTar::new(DIR)
        .dir("d", DIR)
        .file("d/a", b"a", FILE)
        .dir("d/sub", DIR)
        .file("d/sub/b", b"b", FILE)
        .dir("e", DIR)
        .file("e/keep", b"keep", FILE)
        .dir("bottom-opaque", DIR)
        .opaque("bottom-opaque")
        .file("bottom-opaque/f", b"f", FILE)
        .finish();
    let l1 = LayerTar::new(DIR)
        .dir("d", DIR.mode(0o711).at(T + 5))
        .opaque("d")
        .file("d/new", b"new", FILE)
        .dir("e", DIR)
        .file("e/added", b"added", FILE)
        .finish();
    let l2 = LayerTar::new(DIR)
        .dir("d", DIR.at(T + 9))
        .file("d/top", b"top", FILE)
        .finish();
    let merged = compare(vec![l0, l1, l2]);
    expect(
        &merged,
        &[
            ("/d", Some(&format!("d 755 0:0 size=- mtime={}", T + 9))),
            ("/d/a", None),
            ("/d/sub", None),
            ("/d/new", Some("f")),
            ("/d/top", Some("f")),
            ("/e/keep", Some("f")),
            ("/e/added", Some("f")),
            ("/bottom-opaque/f", Some("f")),
        ],
    );
}

#[test]
fn files_dirs_and_symlinks_replacing_each_other() {
    let l0 = LayerTar::new(DIR)
        .file("x", b"x as a file", FILE)
        .dir("q", DIR)
        .file("q/old", b"old", FILE)
        .dir("s", DIR)
        .file("s/f", b"under a dir that becomes a symlink", FILE)
        .symlink("t", "q")
        .dir("z", DIR)
        .dir("z/deep", DIR)
        .file("z/deep/f", b"deep", FILE)
        .finish();
    let l1 = LayerTar::new(DIR)
        .dir("x", DIR)
        .file("x/child", b"child of x", FILE)
        .file("q", b"q as a file", FILE)
        .symlink("s", "z/deep")
        .dir("t", DIR)
        .file("t/g", b"t is a dir now", FILE)
        .finish();
    let l2 = LayerTar::new(DIR)
        .file("x", b"x is a file again", FILE.mode(0o600))
        .dir("q", DIR.at(T + 1))
        .file("q/new", b"q is a dir again, without old", FILE)
        .finish();
    let merged = compare(vec![l0, l1, l2]);
    expect(
        &merged,
        &[
            ("/x", Some("f 600")),
            ("/x/child", None),
            ("/q", Some("d")),
            ("/q/old", None),
            ("/q/new", Some("f")),
            ("/s", Some("l 777 0:0 size=6 ")),
            ("/s/f", None),
            ("/t", Some("d")),
            ("/t/g", Some("f")),
        ],
    );
}

#[test]
fn hard_links_are_one_inode() {
    let owned = FILE.mode(0o640).owner(1000, 1000).at(T + 3);
    let l0 = LayerTar::new(DIR)
        .dir("h", DIR)
        .file("h/a", b"shared content", owned)
        .hardlink("h/b", "h/a", owned)
        .hardlink("h/c", "h/a", owned)
        .file("h/lonely", b"one name", FILE)
        .dir("h/sub", DIR)
        .hardlink("h/sub/d", "h/a", owned)
        .finish();
    let l1 = LayerTar::new(DIR)
        .dir("h", DIR)
        .whiteout("h", "b")
        .file("h/c", b"c replaced: no longer linked", FILE)
        .file("h/e", b"e", FILE)
        .dir("k", DIR)
        .file("k/one", b"pair in the top layer", FILE)
        .hardlink("k/two", "k/one", FILE)
        .finish();
    let merged = compare(vec![l0, l1]);
    expect(
        &merged,
        &[
            ("/h/a", Some("f 640 1000:1000 size=14 ")),
            ("/h/a", Some("links=/h/a,/h/sub/d")),
            ("/h/sub/d", Some("links=/h/a,/h/sub/d")),
            ("/h/b", None),
            ("/k/two", Some("links=/k/one,/k/two")),
        ],
    );
    assert!(!merged["/h/c"].contains("links="), "{}", merged["/h/c"]);
}

#[test]
fn deep_paths_and_long_names() {
    let parts: Vec<String> = (0..50).map(|i| format!("level-{i:02}")).collect();
    let deepest = parts.join("/");
    let at30 = parts[..30].join("/");
    let long_name = "n".repeat(200);
    let long_target = format!("../../{}", "t".repeat(150));
    let mut l0 = LayerTar::new(DIR);
    for depth in 1..=50 {
        l0 = l0.dir(&parts[..depth].join("/"), DIR.at(T + depth as u64));
    }
    let l0 = l0
        .file(&format!("{deepest}/file.txt"), b"at the bottom", FILE)
        .file(&format!("{deepest}/{long_name}"), b"long name", FILE)
        .symlink(&format!("{deepest}/long-target"), &long_target);
    let mut l1 = LayerTar::new(DIR);
    for depth in 1..=30 {
        l1 = l1.dir(&parts[..depth].join("/"), DIR);
    }
    let pax_path = format!("{at30}/{}", "p".repeat(120));
    let l1 = l1
        .whiteout(&at30, &parts[30])
        .file(&format!("{at30}/other"), b"beside the whiteout", FILE)
        .pax(&[("path", pax_path.as_bytes())])
        .file("pax-placeholder", b"named by a PAX path", FILE);
    let merged = compare(vec![l0.finish(), l1.finish()]);
    let below30 = format!("/{at30}/{}", parts[30]);
    expect(
        &merged,
        &[
            (&format!("/{at30}/other"), Some("f")),
            (&format!("/{pax_path}"), Some("size=19 ")),
            (&below30, None),
            ("/pax-placeholder", None),
            (
                &format!("/{}", parts[..29].join("/")),
                Some(&format!("mtime={T} ")),
            ),
        ],
    );
}

#[test]
fn directory_of_ten_thousand_entries() {
    let mut l0 = LayerTar::new(DIR).dir("big", DIR);
    for i in 0..10_000 {
        l0 = l0.file(
            &format!("big/f{i:05}"),
            format!("file {i}").as_bytes(),
            FILE,
        );
    }
    let mut l1 = LayerTar::new(DIR).dir("big", DIR.at(T + 7));
    for i in 0..10_000 {
        if i % 7 == 0 {
            l1 = l1.whiteout("big", &format!("f{i:05}"));
        } else if i % 11 == 5 {
            l1 = l1.file(
                &format!("big/f{i:05}"),
                format!("changed {i}").as_bytes(),
                FILE,
            );
        }
    }
    for i in 0..1000 {
        l1 = l1.file(&format!("big/g{i:04}"), b"added", FILE);
    }
    let merged = compare(vec![l0.finish(), l1.finish()]);
    let visible = merged.keys().filter(|k| k.starts_with("/big/")).count();
    assert_eq!(visible, 10_000 - 10_000usize.div_ceil(7) + 1000);
    expect(
        &merged,
        &[
            ("/big/f00000", None),
            ("/big/f00005", Some("size=9 ")),
            ("/big/g0999", Some("f")),
        ],
    );
}

#[test]
fn xattrs_modes_owners_and_mtimes() {
    let l0 = LayerTar::new(DIR)
        .pax(&[("SCHILY.xattr.user.dir", b"lower dir")])
        .dir("conf", DIR.owner(1, 2))
        .pax(&[
            ("SCHILY.xattr.user.note", b"lower"),
            ("SCHILY.xattr.user.bin", &[0, 1, 2, 255]),
        ])
        .file("conf/x.conf", b"x", FILE)
        .file(
            "conf/only-lower",
            b"stays",
            FILE.mode(0o400).owner(7, 8).at(1),
        )
        .dir("tmp", DIR.mode(0o1777))
        .pax(&[(
            "SCHILY.xattr.user.kept",
            b"dir xattr seen through the merge",
        )])
        .dir("attrs", DIR)
        .finish();
    let l1 = LayerTar::new(DIR)
        .dir("conf", DIR.mode(0o2750).owner(1000, 100).at(T + 100))
        .pax(&[
            ("SCHILY.xattr.user.note", b"upper"),
            ("SCHILY.xattr.user.empty", b""),
        ])
        .file("conf/x.conf", b"x2", FILE.mode(0o4755).at(T + 200))
        .file(
            "conf/setgid",
            b"g",
            FILE.mode(0o2711).owner(65534, 65534).at(T + 300),
        )
        .file(
            "conf/nomode",
            b"",
            FILE.mode(0).owner(3_000_000, 3_000_001).at(4_000_000_000),
        )
        .pax(&[("mtime", b"1700000000.123456789"), ("uid", b"4242")])
        .file("conf/pax-times", b"pax", FILE)
        .symlink_with("conf/link-0644", "x.conf", FILE.owner(5, 6))
        .finish();
    let merged = compare(vec![l0, l1]);
    expect(
        &merged,
        &[
            ("/conf", Some("d 2750 1000:100 ")),
            ("/conf", Some("xattrs=[]")),
            ("/conf/x.conf", Some("f 4755 ")),
            ("/conf/x.conf", Some("xattrs=[user.empty=")),
            ("/conf/x.conf", Some(",user.note=")),
            ("/conf/setgid", Some("f 2711 65534:65534 ")),
            (
                "/conf/nomode",
                Some("f 0 3000000:3000001 size=0 mtime=4000000000 "),
            ),
            ("/conf/pax-times", Some("4242:0 size=3 mtime=1700000000 ")),
            ("/conf/only-lower", Some("f 400 7:8 size=5 mtime=1 ")),
            ("/tmp", Some("d 1777 ")),
            ("/attrs", Some("xattrs=[user.kept=")),
            ("/conf/link-0644", Some("l 777 5:6 ")),
        ],
    );
}
