//! Names are bytes: file names, symlink targets and xattr names that are not
//! UTF-8 (Latin-1 `caf\xe9` beside `caf\xe8`) survive COPY, RUN, `mount
//! --rw` + `commit`, whiteouts, `sealer ls`, `sealer cat`, `sealer diff` and
//! mounts byte for byte; a lossy step would merge the two names into one.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::mount::{mount, mount_with};
use crate::util::{xattr, Env};

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// The names in `dir`, as bytes.
fn names(dir: &Path) -> BTreeSet<Vec<u8>> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().as_bytes().to_vec())
        .collect()
}

fn set(names: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    names.iter().map(|n| n.to_vec()).collect()
}

/// `sealer ARGS...` (arguments may be any bytes), its stdout as bytes.
fn sealer_bytes(env: &Env, args: &[&[u8]]) -> Vec<u8> {
    env.sealer()
        .args(args.iter().map(|a| os(a)))
        .ok()
        .stdout_bytes
}

/// The lines of `sealer ls IMAGE PATH`, as bytes.
fn ls(env: &Env, image: &str, path: &[u8]) -> BTreeSet<Vec<u8>> {
    sealer_bytes(env, &[b"ls", image.as_bytes(), path])
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// A long name starting with a byte that is not UTF-8 (the tar needs a GNU
/// long-name entry for it).
fn long_name() -> Vec<u8> {
    [&b"\xe9"[..], &[b'x'; 150][..]].concat()
}

/// `bytes:v1`: `COPY . data/` of a context holding `caf\xe9` and `caf\xe8`,
/// symlinks with non-UTF-8 targets, a non-UTF-8 directory and a long name.
fn build_base(env: &Env) {
    let ctx = env.context("ctx", &[("Kubefile", "FROM scratch\nCOPY . data/\n")]);
    fs::write(ctx.join(os(b"caf\xe9")), "acute").unwrap();
    fs::write(ctx.join(os(b"caf\xe8")), "grave").unwrap();
    symlink(os(b"caf\xe9"), ctx.join("link")).unwrap();
    symlink(os(b"./x//caf\xe8"), ctx.join("dangling")).unwrap();
    fs::create_dir(ctx.join(os(b"d\xff"))).unwrap();
    fs::write(ctx.join(os(b"d\xff/in\xfe")), "inside").unwrap();
    fs::write(ctx.join(os(&long_name())), "long").unwrap();
    env.build("bytes:v1", &ctx);
}

#[test]
fn copy_keeps_non_utf8_names_and_symlink_targets_as_bytes() {
    let env = Env::new();
    build_base(&env);
    let long = long_name();
    let want = set(&[
        b"Kubefile",
        b"caf\xe8",
        b"caf\xe9",
        b"d\xff",
        b"dangling",
        b"link",
        &long,
    ]);
    assert_eq!(ls(&env, "bytes:v1", b"data"), want, "sealer ls");
    for (path, content) in [
        (&b"data/caf\xe9"[..], &b"acute"[..]),
        (b"data/caf\xe8", b"grave"),
        (b"data/d\xff/in\xfe", b"inside"),
        (b"data/link", b"acute"),
        (&[&b"data/"[..], &long].concat(), b"long"),
    ] {
        assert_eq!(
            sealer_bytes(&env, &[b"cat", b"bytes:v1", path]),
            content,
            "sealer cat {}",
            String::from_utf8_lossy(path)
        );
    }
    let long_ls = sealer_bytes(&env, &[b"ls", b"-l", b"bytes:v1", b"data"]);
    for tail in [&b" link -> caf\xe9\n"[..], b" dangling -> ./x//caf\xe8\n"] {
        assert!(
            long_ls.windows(tail.len()).any(|w| w == tail),
            "sealer ls -l prints the target's bytes {:?}:\n{}",
            String::from_utf8_lossy(tail),
            String::from_utf8_lossy(&long_ls)
        );
    }

    let m = mount(&env, "bytes:v1", "mnt");
    let data = m.dir.join("data");
    assert_eq!(names(&data), want, "readdir of the mount");
    assert_eq!(fs::read(data.join(os(b"caf\xe9"))).unwrap(), b"acute");
    assert_eq!(fs::read(data.join(os(b"caf\xe8"))).unwrap(), b"grave");
    assert_eq!(fs::read(data.join(os(b"d\xff/in\xfe"))).unwrap(), b"inside");
    assert_eq!(fs::read(data.join(os(&long))).unwrap(), b"long");
    for (link, target) in [("link", &b"caf\xe9"[..]), ("dangling", b"./x//caf\xe8")] {
        let got = fs::read_link(data.join(link)).unwrap();
        assert_eq!(got.as_os_str().as_bytes(), target, "{link}");
    }
}

/// `bytes:run`: FROM bytes:v1, a RUN that creates `caf\xe9` (empty) and
/// `caf\xe8` ("new") at the root, deletes `data/caf\xe9`, links `lnk` to
/// `caf\xff` and writes `d\xfe/f\xfd`.
fn build_run(env: &Env) {
    let kubefile = "FROM bytes:v1\n\
        RUN touch \"$(printf 'caf\\351')\" && printf new > \"$(printf 'caf\\350')\" \
        && rm \"data/$(printf 'caf\\351')\" && ln -s \"$(printf 'caf\\377')\" lnk \
        && mkdir \"$(printf 'd\\376')\" && echo x > \"$(printf 'd\\376/f\\375')\"\n";
    let ctx = env.context("ctx2", &[("Kubefile", kubefile)]);
    env.build("bytes:run", &ctx);
}

#[test]
fn run_creates_and_deletes_non_utf8_names() {
    let env = Env::new();
    build_base(&env);
    build_run(&env);
    assert_eq!(
        ls(&env, "bytes:run", b""),
        set(&[b"caf\xe8", b"caf\xe9", b"d\xfe", b"data", b"lnk"])
    );
    let data = ls(&env, "bytes:run", b"data");
    assert!(
        data.contains(&b"caf\xe8"[..]) && !data.contains(&b"caf\xe9"[..]),
        "the RUN's whiteout hides caf\\xe9 only: {data:?}"
    );
    assert_eq!(
        sealer_bytes(&env, &[b"cat", b"bytes:run", b"caf\xe8"]),
        b"new"
    );

    let m = mount(&env, "bytes:run", "mnt");
    assert_eq!(fs::read(m.dir.join(os(b"caf\xe9"))).unwrap(), b"");
    assert_eq!(fs::read(m.dir.join(os(b"caf\xe8"))).unwrap(), b"new");
    assert_eq!(fs::read(m.dir.join(os(b"d\xfe/f\xfd"))).unwrap(), b"x\n");
    assert_eq!(
        fs::read_link(m.dir.join("lnk"))
            .unwrap()
            .as_os_str()
            .as_bytes(),
        b"caf\xff"
    );
    assert_eq!(
        fs::read(m.dir.join(os(b"data/caf\xe8"))).unwrap(),
        b"grave",
        "the sibling of the deleted name is untouched"
    );
    assert!(!m.dir.join(os(b"data/caf\xe9")).exists());
}

#[test]
fn rw_mount_diff_and_commit_keep_non_utf8_names_and_xattr_names() {
    let env = Env::new();
    build_base(&env);
    let rw = mount_with(&env, &["--rw", "bytes:v1"], "rw");
    let d = &rw.dir;
    fs::write(d.join(os(b"caf\xe7")), "cedilla").unwrap();
    xattr::set(&d.join(os(b"caf\xe7")), b"user.caf\xe9", b"v").unwrap();
    fs::remove_file(d.join(os(b"data/caf\xe8"))).unwrap();
    symlink(os(b"\xfe\xff"), d.join(os(b"l\xe9"))).unwrap();

    let diff = sealer_bytes(&env, &[b"diff", d.as_os_str().as_bytes()]);
    let diff: BTreeSet<&[u8]> = diff.split(|&b| b == b'\n').collect();
    for line in [&b"A /caf\xe7"[..], b"D /data/caf\xe8", b"A /l\xe9"] {
        assert!(
            diff.contains(line),
            "sealer diff lists {:?}: {diff:?}",
            String::from_utf8_lossy(line)
        );
    }
    sealer_bytes(
        &env,
        &[
            b"commit",
            d.as_os_str().as_bytes(),
            b"bytes:v2",
            b"--umount",
        ],
    );

    let m = mount(&env, "bytes:v2", "committed");
    assert_eq!(fs::read(m.dir.join(os(b"caf\xe7"))).unwrap(), b"cedilla");
    assert_eq!(
        xattr::get(&m.dir.join(os(b"caf\xe7")), b"user.caf\xe9").unwrap(),
        b"v"
    );
    assert_eq!(
        fs::read_link(m.dir.join(os(b"l\xe9")))
            .unwrap()
            .as_os_str()
            .as_bytes(),
        b"\xfe\xff"
    );
    let data = names(&m.dir.join("data"));
    assert!(
        data.contains(&b"caf\xe9"[..]) && !data.contains(&b"caf\xe8"[..]),
        "the whiteout of caf\\xe8 hides it alone: {data:?}"
    );
    assert_eq!(ls(&env, "bytes:v2", b"data"), data, "sealer ls agrees");
}

/// The exact bytes a JSON object names in `field`: `<field>_bytes` (base64)
/// when present, else the string, which is then UTF-8.
fn json_bytes(v: &serde_json::Value, field: &str) -> Vec<u8> {
    use base64::Engine as _;
    match v[format!("{field}_bytes")].as_str() {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_else(|e| panic!("{field}_bytes {b:?}: {e}")),
        None => v[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {v}"))
            .as_bytes()
            .to_vec(),
    }
}

#[test]
fn diff_json_keeps_non_utf8_paths_and_targets_exact() {
    let env = Env::new();
    build_base(&env);
    build_run(&env);
    let run = env
        .sealer()
        .args(["diff", "--format", "json", "--stat", "-u"])
        .args(["bytes:v1", "bytes:run"])
        .output();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    let changes = v["changes"].as_array().expect("changes");
    let by_path: std::collections::BTreeMap<Vec<u8>, &serde_json::Value> =
        changes.iter().map(|c| (json_bytes(c, "path"), c)).collect();
    assert_eq!(by_path.len(), changes.len(), "two changes read as one path");
    // (path, change) as the RUN made them: caf\xe9 and caf\xe8 stay apart.
    for (path, letter) in [
        (&b"/caf\xe9"[..], "A"),
        (b"/caf\xe8", "A"),
        (b"/data/caf\xe9", "D"),
        (b"/d\xfe", "A"),
        (b"/d\xfe/f\xfd", "A"),
        (b"/lnk", "A"),
    ] {
        let c = by_path
            .get(path)
            .unwrap_or_else(|| panic!("no change at {path:?}: {}", run.stdout));
        assert_eq!(c["change"], letter, "{path:?}");
        assert_eq!(
            c.get("path_bytes").is_some(),
            std::str::from_utf8(path).is_err(),
            "path_bytes only beside a path that is not UTF-8: {c}"
        );
        assert!(c["path"].as_str().is_some(), "a lossy path too: {c}");
    }
    let lnk = by_path[&b"/lnk"[..]];
    assert_eq!(json_bytes(&lnk["new"], "target"), b"caf\xff");
    let dirs: Vec<Vec<u8>> = v["stat"]
        .as_array()
        .expect("stat")
        .iter()
        .map(|d| json_bytes(d, "dir"))
        .collect();
    assert!(dirs.contains(&b"/d\xfe".to_vec()), "{dirs:?}");
    let patches = v["patches"].as_array().expect("patches");
    let grave = patches
        .iter()
        .find(|p| json_bytes(p, "path") == b"/caf\xe8")
        .unwrap_or_else(|| panic!("no patch of the added caf\\xe8: {patches:?}"));
    assert_eq!(
        json_bytes(grave, "diff"),
        b"--- a/caf\xe8\n+++ b/caf\xe8\n@@ -0,0 +1 @@\n+new\n\\ No newline at end of file\n"
    );
}
