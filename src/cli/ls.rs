//! `sealer ls IMAGE [PATH] [-l] [-R]`: list an image's files from its indexes.

use std::io::Write;

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
    /// Path inside the rootfs [default: the root]
    #[arg(default_value = "")]
    path: String,
    /// Long listing: mode, links, owner, size, time
    #[arg(short = 'l')]
    long: bool,
    /// Recurse into directories
    #[arg(short = 'R')]
    recursive: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let img = store.resolve(&a.image)?;
    let view = RootView::open(store, &img)?;
    let m = view.resolve(&a.path).ok_or_else(|| {
        anyhow::anyhow!("{}: no such file or directory in image {}", a.path, a.image)
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !matches!(m, Merged::Dir(_)) {
        let name = a
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        line(&mut out, &view, &m, name.as_bytes(), a.long)?;
        return Ok(out.flush()?);
    }
    let mut todo = vec![(a.path.trim_matches('/').to_string(), m)];
    let mut first = true;
    while let Some((path, dir)) = todo.pop() {
        if a.recursive {
            if !first {
                writeln!(out)?;
            }
            writeln!(out, "{}:", if path.is_empty() { "." } else { &path })?;
        }
        first = false;
        let entries = view.read_dir(&dir);
        let mut subdirs = Vec::new();
        for e in &entries {
            line(&mut out, &view, &e.merged, e.name, a.long)?;
            if a.recursive && matches!(e.merged, Merged::Dir(_)) {
                let name = String::from_utf8_lossy(e.name);
                subdirs.push((
                    if path.is_empty() {
                        name.into_owned()
                    } else {
                        format!("{path}/{name}")
                    },
                    e.merged.clone(),
                ));
            }
        }
        todo.extend(subdirs.into_iter().rev());
    }
    Ok(out.flush()?)
}

fn line(
    out: &mut impl Write,
    view: &RootView,
    m: &Merged,
    name: &[u8],
    long: bool,
) -> std::io::Result<()> {
    let name = String::from_utf8_lossy(name);
    if !long {
        return writeln!(out, "{name}");
    }
    let meta = view.meta(m);
    let top = m.top();
    let target = if meta.kind == Kind::Symlink {
        format!(
            " -> {}",
            String::from_utf8_lossy(view.layer_index(top).link_target(top.id))
        )
    } else {
        String::new()
    };
    let size = match meta.kind {
        Kind::CharDev | Kind::BlockDev => format!("{}, {}", meta.data >> 32, meta.data as u32),
        _ => meta.size.to_string(),
    };
    let time = format_time(meta.mtime, ' ', "");
    writeln!(
        out,
        "{} {:>3} {:>5} {:>5} {:>10} {} {name}{target}",
        mode_string(&meta),
        meta.nlink,
        meta.uid,
        meta.gid,
        size,
        &time[..16]
    )
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
