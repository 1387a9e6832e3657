//! The merge rules against the kernel: tricky layer stacks (file and
//! directory whiteouts, opaque directories, files, directories and symlinks
//! replacing each other, hard links, deep paths and long names, a 10k-entry
//! directory, xattrs, modes (a symlink's shows 0777), owners and mtimes) are
//! ingested into a store and read through `RootView`; the same tars are
//! unpacked by GNU tar (whiteouts as 0/0 character devices, opaque
//! directories as `trusted.overlay.opaque=y`) and stacked by the kernel's
//! overlayfs. Both trees must list the same entries, attribute for attribute.
//! Beside the crafted stacks, 40 random ones (fixed seed) of files,
//! directories, symlinks, hard links, whiteouts and opaque directories.

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

/// Random attributes: modes (setuid among them), owners, mtimes.
fn random_attr(rng: &mut crate::crash::Rng, base: harness::Attr, modes: &[u32]) -> harness::Attr {
    let owners = [(0, 0), (1000, 1000), (5, 7)];
    let (uid, gid) = owners[rng.below(owners.len() as u64) as usize];
    base.mode(modes[rng.below(modes.len() as u64) as usize])
        .owner(uid, gid)
        .at(T + rng.below(1000))
}

/// What the layers so far show at a top-level name.
#[derive(Clone, Copy, PartialEq)]
enum Below {
    Absent,
    Dir,
    NonDir,
}

/// One random non-directory entry (or none) at `path` in `dir`: a file, a
/// symlink, a whiteout (only where `dir` merges with a directory below: in
/// an opaque directory or one with nothing under it nothing below shows,
/// overlayfs never writes whiteouts there, and the kernel lists one in
/// readdir but fails its lookup), or a hard link to an earlier file of the
/// layer. Returns what it wrote.
fn random_entry(
    l: LayerTar,
    (dir, name): (&str, &str),
    merged: bool,
    rng: &mut crate::crash::Rng,
    files: &mut Vec<(String, harness::Attr)>,
) -> (LayerTar, Option<Below>) {
    const FILE_MODES: &[u32] = &[0o644, 0o600, 0o755, 0o640, 0o4755];
    let path = if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    match rng.below(5) {
        1 => {
            let a = random_attr(rng, FILE, FILE_MODES);
            let len = rng.below(64) as usize;
            let content = rng.bytes(len);
            files.push((path.clone(), a));
            (l.file(&path, &content, a), Some(Below::NonDir))
        }
        2 => {
            let target = ["x", "../a", "/etc/passwd", "nowhere/deep"][rng.below(4) as usize];
            let a = random_attr(rng, FILE, &[0o644, 0o777]);
            (l.symlink_with(&path, target, a), Some(Below::NonDir))
        }
        3 if merged => (l.whiteout(dir, name), Some(Below::Absent)),
        4 => match files.last().cloned() {
            Some((target, a)) => (l.hardlink(&path, &target, a), Some(Below::NonDir)),
            None => (l, None),
        },
        _ => (l, None),
    }
}

/// One random layer over the names a..d (each a file, a symlink, a
/// whiteout, a hard link, or a directory, possibly opaque, of x..z being
/// any of those but directories); `below` tracks what the stack shows.
fn random_layer(rng: &mut crate::crash::Rng, below: &mut [Below; 4]) -> Vec<u8> {
    const DIR_MODES: &[u32] = &[0o755, 0o700, 0o775, 0o1777];
    let mut l = LayerTar::new(random_attr(rng, DIR, DIR_MODES));
    // Regular files of this layer, for hard links: (path, attributes).
    let mut files: Vec<(String, harness::Attr)> = Vec::new();
    for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
        if rng.below(3) == 0 {
            l = l.dir(name, random_attr(rng, DIR, DIR_MODES));
            let opaque = rng.below(4) == 0;
            if opaque {
                l = l.opaque(name);
            }
            let merged = !opaque && below[i] == Below::Dir;
            for child in ["x", "y", "z"] {
                l = random_entry(l, (name, child), merged, rng, &mut files).0;
            }
            below[i] = Below::Dir;
        } else {
            // The root always merges (every layer has it).
            let (next, wrote) = random_entry(l, ("", name), true, rng, &mut files);
            l = next;
            if let Some(w) = wrote {
                below[i] = w;
            }
        }
    }
    l.finish()
}

/// The differential test of the figures: random stacks of 1-4
/// layers of files, directories, symlinks, hard links, whiteouts and opaque
/// directories, each compared with the kernel's overlayfs in names, types,
/// modes (symlinks included), owners, sizes, mtimes, targets, content and
/// hard-link groups, through `RootView`, `sealer mount` and `find`. A fixed
/// number of stacks from a fixed seed (`SEALER_CRASH_SEED` chooses another).
#[test]
fn random_stacks_read_as_the_kernel_overlayfs_reads_them() {
    let mut rng = crate::crash::Rng::from_env("random overlay stacks");
    for i in 0..40 {
        let depth = 1 + rng.below(4) as usize;
        let mut below = [Below::Absent; 4];
        let layers: Vec<Vec<u8>> = (0..depth)
            .map(|_| random_layer(&mut rng, &mut below))
            .collect();
        let listing = std::panic::catch_unwind(|| compare(layers));
        match listing {
            Ok(l) => assert!(l.contains_key("/"), "stack {i}: an empty listing"),
            Err(panic) => {
                eprintln!("stack {i} of {depth} layers differs from overlayfs");
                std::panic::resume_unwind(panic);
            }
        }
    }
}
