//! Attributes of odd tar entries as every view shows them (`sealer ls -l`,
//! `sealer mount`, the layer view of `sealer mount --layers`): a symlink's
//! mode is 0777 whatever its entry says, and a hard link entry's own mode,
//! owner and mtime belong to the inode it joins (as containerd unpacks it).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::mount::{mount, mount_layers};
use crate::util::{store_image, Env};

const T: u64 = 1_600_000_000;

/// A tar header of `kind` with mode, owner and mtime.
fn header(kind: tar::EntryType, mode: u32, owner: (u64, u64), mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner.0);
    h.set_gid(owner.1);
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

/// The line of `name` in `sealer ls -l` output.
fn ls_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(7) == Some(name))
        .unwrap_or_else(|| panic!("{name} missing from sealer ls -l:\n{out}"))
}

/// (mode bits, uid, gid, mtime, nlink, inode) of `path`, not following it.
fn stat(path: &Path) -> (u32, u32, u32, i64, u64, u64) {
    let md = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (
        md.mode() & 0o7777,
        md.uid(),
        md.gid(),
        md.mtime(),
        md.nlink(),
        md.ino(),
    )
}

#[test]
fn symlink_entries_show_mode_0777_in_every_view() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Directory, 0o755, (0, 0), T);
    b.append_data(&mut h, "./", std::io::empty()).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o644, (0, 0), T);
    h.set_size(1);
    b.append_data(&mut h, "f", &b"x"[..]).unwrap();
    for (name, mode) in [("s644", 0o644), ("s000", 0), ("s4755", 0o4755)] {
        let mut h = header(tar::EntryType::Symlink, mode, (0, 0), T);
        b.append_link(&mut h, name, "f").unwrap();
    }
    let layers = store_image(&env, "links:v1", &[b.into_inner().unwrap()]);

    let ls = env.run(&["ls", "-l", "links:v1"]);
    for name in ["s644", "s000", "s4755"] {
        assert!(
            ls_line(&ls, name).starts_with("lrwxrwxrwx "),
            "sealer ls -l:\n{ls}"
        );
    }
    assert!(ls_line(&ls, "f").starts_with("-rw-r--r-- "), "{ls}");

    let merged = mount(&env, "links:v1", "merged");
    let view = mount_layers(&env);
    let layer = view.dir.join(&layers[0]["sha256:".len()..]);
    for root in [&merged.dir, &layer] {
        for name in ["s644", "s000", "s4755"] {
            let p = root.join(name);
            assert_eq!(stat(&p).0, 0o777, "{}", p.display());
            assert_eq!(
                fs::read(&p).unwrap(),
                b"x",
                "{} still leads to f",
                p.display()
            );
        }
        assert_eq!(stat(&root.join("f")).0, 0o644);
    }
}

#[test]
fn a_hard_link_entry_sets_mode_owner_and_mtime_of_its_inode() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Directory, 0o755, (0, 0), T);
    b.append_data(&mut h, "./", std::io::empty()).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o644, (1, 2), T);
    h.set_size(7);
    b.append_data(&mut h, "a", &b"content"[..]).unwrap();
    let mut h = header(tar::EntryType::Link, 0o600, (3, 4), T + 100);
    b.append_link(&mut h, "b", "a").unwrap();
    let layers = store_image(&env, "hard:v1", &[b.into_inner().unwrap()]);

    let ls = env.run(&["ls", "-l", "hard:v1"]);
    for name in ["a", "b"] {
        let fields: Vec<&str> = ls_line(&ls, name).split_whitespace().collect();
        assert_eq!(
            fields[..5],
            ["-rw-------", "2", "3", "4", "7"],
            "{name}: the link entry's mode and owner, two names:\n{ls}"
        );
    }

    let merged = mount(&env, "hard:v1", "merged");
    let view = mount_layers(&env);
    let layer = view.dir.join(&layers[0]["sha256:".len()..]);
    for root in [&merged.dir, &layer] {
        let (a, b) = (stat(&root.join("a")), stat(&root.join("b")));
        assert_eq!(a, b, "one inode under {}", root.display());
        assert_eq!(
            (a.0, a.1, a.2, a.3, a.4),
            (0o600, 3, 4, (T + 100) as i64, 2),
            "{}: the link entry's mode, owner and mtime; two names",
            root.display()
        );
        assert_eq!(fs::read(root.join("b")).unwrap(), b"content");
    }
}
