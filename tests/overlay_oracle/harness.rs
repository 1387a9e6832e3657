//! The harness of the overlayfs oracle: layer tars crafted entry by entry,
//! sealer's merged view listed through `RootView`, the same tars unpacked by
//! GNU tar into overlayfs lower directories and mounted read-only, and the
//! two listings compared.

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use sealer::image::oci::{Config, RootFs};
use sealer::image::view::RootView;
use sealer::store::Store;
use sealer_fs::merge::Merged;
use sealer_fs::Kind;
use sha2::{Digest, Sha256};

use crate::util::{sha256_hex, xattr, Env};

/// The mtime most entries get.
pub const T: u64 = 1_600_000_000;

/// Attributes of a crafted entry.
#[derive(Clone, Copy)]
pub struct Attr {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

impl Attr {
    /// With permission bits `mode`.
    pub const fn mode(self, mode: u32) -> Attr {
        Attr { mode, ..self }
    }

    /// Owned by `uid:gid`.
    pub const fn owner(self, uid: u64, gid: u64) -> Attr {
        Attr { uid, gid, ..self }
    }

    /// Modified at `mtime` (seconds).
    pub const fn at(self, mtime: u64) -> Attr {
        Attr { mtime, ..self }
    }
}

/// A directory: 0755 root:root at [`T`].
pub const DIR: Attr = Attr {
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: T,
};
/// A file: 0644 root:root at [`T`].
pub const FILE: Attr = Attr {
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: T,
};
const LINK: Attr = Attr {
    mode: 0o777,
    uid: 0,
    gid: 0,
    mtime: T,
};

/// A layer tar being written. Every directory is written explicitly (the
/// root as `./`), as `docker save` and our builds do, so the attributes of
/// directories are defined in both trees. A directory's entries must follow
/// it without interruption, as in real layers: GNU tar sets a directory's
/// mtime once it leaves it, and a later entry inside would change it.
pub struct LayerTar {
    b: tar::Builder<Vec<u8>>,
}

impl LayerTar {
    /// A layer whose root (`./`) has `root`.
    pub fn new(root: Attr) -> LayerTar {
        LayerTar {
            b: tar::Builder::new(Vec::new()),
        }
        .dir("./", root)
    }

    fn header(kind: tar::EntryType, a: Attr, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(a.mode);
        h.set_uid(a.uid);
        h.set_gid(a.gid);
        h.set_mtime(a.mtime);
        h.set_size(size);
        h
    }

    /// A directory entry.
    pub fn dir(mut self, path: &str, a: Attr) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Directory, a, 0);
        self.b
            .append_data(&mut h, path, std::io::empty())
            .expect("dir entry");
        self
    }

    /// A regular file with `content`.
    pub fn file(mut self, path: &str, content: &[u8], a: Attr) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Regular, a, content.len() as u64);
        self.b
            .append_data(&mut h, path, content)
            .expect("file entry");
        self
    }

    /// A symlink (mode 0777, as every symlink shows).
    pub fn symlink(self, path: &str, target: &str) -> LayerTar {
        self.symlink_with(path, target, LINK)
    }

    /// A symlink entry with attributes `a` (its mode shows as 0777 anyway).
    pub fn symlink_with(mut self, path: &str, target: &str, a: Attr) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Symlink, a, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("symlink entry");
        self
    }

    /// A hard link to an earlier entry of this layer, its header carrying
    /// `a`. GNU tar ignores a link entry's attributes, sealer (as containerd)
    /// gives them to the inode: give the target's attributes, as archivers
    /// do, for the two to be comparable.
    pub fn hardlink(mut self, path: &str, target: &str, a: Attr) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Link, a, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("hard link entry");
        self
    }

    /// `.wh.NAME` in `dir`: hides NAME of the layers below.
    pub fn whiteout(self, dir: &str, name: &str) -> LayerTar {
        let path = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&path, b"", FILE)
    }

    /// `.wh..wh..opq` in `dir`: hides what the layers below have in it.
    pub fn opaque(self, dir: &str) -> LayerTar {
        self.file(&format!("{dir}/.wh..wh..opq"), b"", FILE)
    }

    /// PAX records (`SCHILY.xattr.*`, `path`, ...) for the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> LayerTar {
        self.b
            .append_pax_extensions(records.iter().copied())
            .expect("pax header");
        self
    }

    /// The tar bytes.
    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("finishing the tar")
    }
}

/// A tree as a sorted listing: path -> one line of everything compared.
pub type Listing = BTreeMap<String, String>;

/// What is known of one entry before hard-link groups are added.
struct Entry {
    line: String,
    /// Identity of the inode for non-directories.
    inode: Option<(u64, u64)>,
}

fn finish_listing(entries: BTreeMap<String, Entry>) -> Listing {
    let mut groups: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    for (path, e) in &entries {
        if let Some(ino) = e.inode {
            groups.entry(ino).or_default().push(path.clone());
        }
    }
    entries
        .into_iter()
        .map(|(path, e)| {
            let group = e
                .inode
                .map(|i| &groups[&i])
                .filter(|g| g.len() > 1)
                .map(|g| format!(" links={}", g.join(",")))
                .unwrap_or_default();
            (path, format!("{}{group}", e.line))
        })
        .collect()
}

fn xattr_text(mut pairs: Vec<(Vec<u8>, Vec<u8>)>) -> String {
    pairs.sort();
    let shown: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), sha256_hex(v)))
        .collect();
    shown.join(",")
}

/// `kind mode uid gid size mtime target xattrs sha256` of one entry.
#[allow(clippy::too_many_arguments)]
fn line(
    kind: char,
    mode: u32,
    uid: u32,
    gid: u32,
    size: Option<u64>,
    mtime: i64,
    target: &str,
    xattrs: String,
    sha: &str,
) -> String {
    let size = size.map_or("-".to_string(), |s| s.to_string());
    format!("{kind} {mode:o} {uid}:{gid} size={size} mtime={mtime} target={target} xattrs=[{xattrs}] sha={sha}")
}

/// Lists the merged tree as sealer sees it, through the layer indexes.
fn list_ours(view: &RootView) -> Listing {
    let mut out = BTreeMap::new();
    let root = view.resolve("").expect("the root");
    let m = view.meta(&root);
    let top = root.top();
    let x = xattr_text(
        view.layer_index(top)
            .xattrs(top.id)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect(),
    );
    out.insert(
        "/".to_string(),
        Entry {
            line: line('d', m.mode, m.uid, m.gid, None, m.mtime, "", x, ""),
            inode: None,
        },
    );
    walk_ours(view, &root, "", &mut out);
    finish_listing(out)
}

fn walk_ours(view: &RootView, dir: &Merged, prefix: &str, out: &mut BTreeMap<String, Entry>) {
    for e in view.read_dir(dir) {
        let path = format!("{prefix}/{}", String::from_utf8_lossy(e.name));
        let top = e.merged.top();
        let idx = view.layer_index(top);
        let x = xattr_text(
            idx.xattrs(top.id)
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
        );
        let m = e.meta;
        let (kind, size, target, sha) = match m.kind {
            Kind::Dir => ('d', None, String::new(), String::new()),
            Kind::File => {
                let mut h = HashWriter(Sha256::new());
                view.copy_file(&path, &mut h)
                    .unwrap_or_else(|err| panic!("reading {path}: {err}"));
                (
                    'f',
                    Some(m.size),
                    String::new(),
                    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect(),
                )
            }
            Kind::Symlink => (
                'l',
                Some(m.size),
                String::from_utf8_lossy(idx.link_target(top.id)).into_owned(),
                String::new(),
            ),
            Kind::CharDev => ('c', Some(0), String::new(), String::new()),
            Kind::BlockDev => ('b', Some(0), String::new(), String::new()),
            Kind::Fifo => ('p', Some(0), String::new(), String::new()),
            Kind::Whiteout => panic!("{path}: a whiteout is visible in the merged view"),
        };
        let inode = (m.kind != Kind::Dir).then_some((top.layer as u64, m.inode as u64));
        out.insert(
            path.clone(),
            Entry {
                line: line(
                    kind,
                    m.perm(),
                    m.uid,
                    m.gid,
                    size,
                    m.mtime,
                    &target,
                    x,
                    &sha,
                ),
                inode,
            },
        );
        if m.kind == Kind::Dir {
            walk_ours(view, &e.merged, &path, out);
        }
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lists a directory tree as the kernel shows it.
fn list_kernel(root: &Path) -> Listing {
    let mut out = BTreeMap::new();
    out.insert("/".to_string(), kernel_entry(root));
    walk_kernel(root, "", &mut out);
    finish_listing(out)
}

fn kernel_entry(path: &Path) -> Entry {
    let md = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names = xattr::list(path).unwrap_or_else(|e| panic!("listxattr {}: {e}", path.display()));
    let pairs = names
        .into_iter()
        .map(|n| (n.clone(), xattr::get(path, &n).expect("getxattr")))
        .collect();
    let ft = md.file_type();
    let (kind, target, sha) = if ft.is_dir() {
        ('d', String::new(), String::new())
    } else if ft.is_file() {
        (
            'f',
            String::new(),
            sha256_hex(&fs::read(path).expect("reading a file")),
        )
    } else if ft.is_symlink() {
        (
            'l',
            fs::read_link(path)
                .expect("readlink")
                .to_string_lossy()
                .into_owned(),
            String::new(),
        )
    } else if ft.is_char_device() {
        ('c', String::new(), String::new())
    } else if ft.is_block_device() {
        ('b', String::new(), String::new())
    } else {
        ('p', String::new(), String::new())
    };
    let size = (kind != 'd').then_some(if matches!(kind, 'f' | 'l') {
        md.size()
    } else {
        0
    });
    let line = line(
        kind,
        md.mode() & 0o7777,
        md.uid(),
        md.gid(),
        size,
        md.mtime(),
        &target,
        xattr_text(pairs),
        &sha,
    );
    Entry {
        line,
        inode: (kind != 'd').then_some((md.dev(), md.ino())),
    }
}

fn walk_kernel(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Entry>) {
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.expect("dir entry");
        let path = format!("{prefix}/{}", e.file_name().to_string_lossy());
        let entry = kernel_entry(&e.path());
        let is_dir = entry.line.starts_with('d');
        out.insert(path.clone(), entry);
        if is_dir {
            walk_kernel(&e.path(), &path, out);
        }
    }
}

/// An overlayfs mount, lazily unmounted when dropped (also on panic).
struct OverlayMount {
    dir: PathBuf,
}

impl OverlayMount {
    /// Mounts `lowers` (top first) read-only at `dir`; fails loudly.
    fn new(lowers: &[PathBuf], dir: PathBuf) -> OverlayMount {
        fs::create_dir_all(&dir).expect("creating the mountpoint");
        let lowerdir: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let opts = format!("ro,lowerdir={}", lowerdir.join(":"));
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting overlayfs failed ({}): {}\nthis test runs as root on a kernel with overlayfs",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let guard = OverlayMount { dir };
        let table = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let want = guard.dir.display().to_string();
        assert!(
            table
                .lines()
                .any(|l| l.split(' ').nth(4) == Some(&want) && l.contains(" - overlay ")),
            "no overlay mounted at {want}"
        );
        guard
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        match Command::new("umount").arg("-l").arg(&self.dir).status() {
            Ok(s) if s.success() => {}
            other => eprintln!(
                "warning: umount -l {} failed: {other:?}",
                self.dir.display()
            ),
        }
    }
}

/// Unpacks a layer with GNU tar and converts whiteouts to overlayfs form.
fn unpack_for_overlay(tar_path: &Path, dir: &Path) {
    fs::create_dir_all(dir).expect("creating the layer dir");
    let out = Command::new("tar")
        .args([
            "-x",
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-p",
            "-f",
        ])
        .arg(tar_path)
        .arg("-C")
        .arg(dir)
        .output()
        .expect("running GNU tar");
    assert!(
        out.status.success(),
        "tar -x {}: {}",
        tar_path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let md = fs::symlink_metadata(&d).expect("stat");
        let mut changed = false;
        let mut entries: Vec<_> = fs::read_dir(&d)
            .expect("read_dir")
            .map(|e| e.expect("entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".wh..wh..opq" {
                xattr::set(&d, "trusted.overlay.opaque", b"y")
                    .expect("setting trusted.overlay.opaque");
                fs::remove_file(e.path()).expect("removing the opaque marker");
                changed = true;
            } else if let Some(hidden) = name.strip_prefix(".wh.") {
                fs::remove_file(e.path()).expect("removing a whiteout file");
                let dev = d.join(hidden);
                nix::sys::stat::mknod(
                    &dev,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::empty(),
                    0,
                )
                .expect("mknod 0/0");
                changed = true;
            } else if e.file_type().expect("type").is_dir() {
                dirs.push(e.path());
            }
        }
        if changed {
            let mtime = UNIX_EPOCH + Duration::new(md.mtime() as u64, md.mtime_nsec() as u32);
            File::open(&d)
                .and_then(|f| f.set_times(FileTimes::new().set_modified(mtime)))
                .expect("restoring a directory's mtime");
        }
    }
}

/// Compares sealer's merged view of `layers` (bottom first) with overlayfs
/// and returns the (equal) listing.
pub fn compare(layers: Vec<Vec<u8>>) -> Listing {
    let env = Env::new();
    let store = Store::open(&env.root()).expect("opening the store");
    let mut stored = Vec::new();
    let mut lowers = Vec::new();
    for (i, tar) in layers.iter().enumerate() {
        let ingested = store
            .ingest_layer(&tar[..], None)
            .unwrap_or_else(|e| panic!("ingesting layer {i}: {e}"));
        stored.push((ingested.digest, ingested.size));
        let tar_path = env.write(&format!("tars/{i}.tar"), tar);
        let dir = env.path(&format!("l{i}"));
        unpack_for_overlay(&tar_path, &dir);
        lowers.insert(0, dir);
    }
    if lowers.len() == 1 {
        // overlayfs wants two lower layers when there is no upper one.
        fs::create_dir_all(env.path("empty")).expect("mkdir");
        lowers.push(env.path("empty"));
    }
    let config = Config {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: stored.iter().map(|l| l.0).collect(),
        },
        ..Config::default()
    };
    let img = store
        .commit_image(&config, &stored, "oracle:v1")
        .expect("committing the image");
    let view = RootView::open(&store, &img).expect("opening the view");
    let ours = list_ours(&view);

    let mount = OverlayMount::new(&lowers, env.path("merged"));
    let kernel = list_kernel(&mount.dir);
    assert_same_listing(&kernel, &ours, "sealer's merged view (RootView)");

    // The same image through a real FUSE mount must read the same, and
    // `find` must print the same lines (directory sizes aside: ext4's grow
    // with the entry count, ours are always 4096).
    let fuse = crate::mount::mount(&env, "oracle:v1", "fuse");
    assert_same_listing(&kernel, &list_kernel(&fuse.dir), "`sealer mount`");
    assert_eq!(
        find_lines(&mount.dir),
        find_lines(&fuse.dir),
        "find -printf over overlayfs and over `sealer mount`"
    );
    drop(fuse);
    drop(mount);
    ours
}

/// Panics with the differences when `got` is not `kernel`.
fn assert_same_listing(kernel: &Listing, got: &Listing, what: &str) {
    if got == kernel {
        return;
    }
    let mut diff = Vec::new();
    for (k, v) in kernel {
        match got.get(k) {
            None => diff.push(format!("only in overlayfs: {k} {v}")),
            Some(o) if o != v => diff.push(format!("{k}\n  overlayfs: {v}\n  {what}: {o}")),
            _ => {}
        }
    }
    diff.extend(
        got.iter()
            .filter(|(k, _)| !kernel.contains_key(*k))
            .map(|(k, v)| format!("only in {what}: {k} {v}")),
    );
    panic!(
        "{what} differs from overlayfs in {} entries:\n{}",
        diff.len(),
        diff.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// `find -printf '%y %m %U %G %s %T@ %l %n %P'` under `root`, sorted, with
/// directory sizes blanked.
fn find_lines(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(root)
        .args([
            "-mindepth",
            "1",
            "-printf",
            "%y %m %U %G %s %T@ %l %n %P\\n",
        ])
        .output()
        .expect("running find");
    assert!(
        out.status.success(),
        "find failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.splitn(6, ' ').collect();
            if f[0] == "d" {
                f[4] = "-";
            }
            f.join(" ")
        })
        .collect();
    lines.sort();
    lines
}
