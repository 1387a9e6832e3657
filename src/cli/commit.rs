//! `sealer commit DIR NAME[:TAG] [--umount]` and `sealer diff DIR`: the
//! changes of a `--rw` mount, listed or made into one new layer.

use std::io::Write;
use std::path::PathBuf;

use crate::mount;
use crate::store::Store;

/// Flags of `sealer commit`.
#[derive(clap::Args)]
pub struct Args {
    /// A mountpoint of `sealer mount --rw`
    dir: PathBuf,
    /// Name of the new image, NAME[:TAG]
    image: String,
    /// Unmount once committed
    #[arg(long)]
    umount: bool,
}

impl Args {
    /// The `--rw` mount committed.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let done = mount::commit(store, &a.dir, &a.image, a.umount)?;
    let name = done.image.name.clone().unwrap_or_default();
    match &done.layer {
        Some(l) => eprintln!("layer {} ({} entries)", l.digest, l.entries),
        None => eprintln!(
            "no changes under {}: {name} gets the same layers as {}",
            a.dir.display(),
            done.base
        ),
    }
    println!("Committed {name} (id {})", done.image.id.short());
    Ok(())
}

/// `sealer diff DIR`: lists the changes of the `--rw` mount at `dir`.
pub fn run_diff(store: &Store, dir: &std::path::Path) -> anyhow::Result<()> {
    let list = mount::mount_changes(store, dir)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Paths as the bytes they are, as `sealer ls` prints names.
    for (path, c) in list {
        write!(out, "{} /", c.letter())?;
        out.write_all(&path)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
