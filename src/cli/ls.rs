//! `sealer ls IMAGE [PATH] [-l] [-R]`: list an image's files from its indexes.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use sealer_fs::merge::Merged;
use sealer_fs::{Kind, Meta};

use crate::build::format_time;
use crate::image::view::RootView;
use crate::store::Store;

/// Flags of `sealer ls`.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id)
    image: String,
    #[command(flatten)]
    platform: super::PlatformArg,
    /// Path inside the rootfs, any bytes [default: the root]
    #[arg(default_value = "")]
    path: OsString,
    /// Long listing: mode, links, owner, size, time
    #[arg(short = 'l')]
    long: bool,
    /// Recurse into directories
    #[arg(short = 'R')]
    recursive: bool,
}

/// Names and symlink targets are printed as the bytes they are (as GNU ls
/// does when its output is not a terminal), so two names differing in a
/// non-UTF-8 byte print differently.
pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let img = store.resolve_for(&a.image, &a.platform.want(&a.image)?)?;
    let view = RootView::open(store, &img)?;
    let path = a.path.as_bytes();
    let m = view.resolve(path).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no such file or directory in image {}",
            a.path.to_string_lossy(),
            a.image
        )
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !matches!(m, Merged::Dir(_)) {
        let trimmed = trim_slashes(path);
        let name = trimmed.rsplit(|&b| b == b'/').next().unwrap_or_default();
        line(&mut out, &view, &m, name, a.long)?;
        return Ok(out.flush()?);
    }
    let mut todo = vec![(trim_slashes(path).to_vec(), m)];
    let mut first = true;
    while let Some((path, dir)) = todo.pop() {
        if a.recursive {
            if !first {
                writeln!(out)?;
            }
            out.write_all(if path.is_empty() { b"." } else { &path })?;
            writeln!(out, ":")?;
        }
        first = false;
        let entries = view.read_dir(&dir);
        let mut subdirs = Vec::new();
        for e in &entries {
            line(&mut out, &view, &e.merged, e.name, a.long)?;
            if a.recursive && matches!(e.merged, Merged::Dir(_)) {
                let sub = if path.is_empty() {
                    e.name.to_vec()
                } else {
                    [&path[..], b"/", e.name].concat()
                };
                subdirs.push((sub, e.merged.clone()));
            }
        }
        todo.extend(subdirs.into_iter().rev());
    }
    Ok(out.flush()?)
}

fn trim_slashes(p: &[u8]) -> &[u8] {
    let start = p.iter().position(|&b| b != b'/').unwrap_or(p.len());
    let end = p.iter().rposition(|&b| b != b'/').map_or(start, |i| i + 1);
    &p[start..end.max(start)]
}

fn line(
    out: &mut impl Write,
    view: &RootView,
    m: &Merged,
    name: &[u8],
    long: bool,
) -> std::io::Result<()> {
    if long {
        let meta = view.meta(m);
        let size = match meta.kind {
            Kind::CharDev | Kind::BlockDev => {
                format!("{}, {}", meta.data >> 32, meta.data as u32)
            }
            _ => meta.size.to_string(),
        };
        let time = format_time(meta.mtime, ' ', "");
        write!(
            out,
            "{} {:>3} {:>5} {:>5} {:>10} {} ",
            mode_string(&meta),
            meta.nlink,
            meta.uid,
            meta.gid,
            size,
            &time[..16]
        )?;
        out.write_all(name)?;
        if meta.kind == Kind::Symlink {
            let top = m.top();
            out.write_all(b" -> ")?;
            out.write_all(view.layer_index(top).link_target(top.id))?;
        }
        return out.write_all(b"\n");
    }
    out.write_all(name)?;
    out.write_all(b"\n")
}

/// `drwxr-xr-x` as ls prints it.
pub fn mode_string(m: &Meta) -> String {
    let t = match m.kind {
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::CharDev | Kind::Whiteout => 'c',
        Kind::BlockDev => 'b',
        Kind::Fifo => 'p',
        Kind::File => '-',
    };
    let mode = m.perm();
    let mut s = String::from(t);
    for (shift, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => lower,
            (true, false) => upper,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}
