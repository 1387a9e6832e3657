//! `sealer mount [IMAGE DIR | --layers] [--foreground] [--allow-other] [--suid] [--dev]`,
//! `sealer mount` (list) and `sealer umount DIR | --layers`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;

use crate::mount::{self, Served};
use crate::rootless::{self, Namespace};
use crate::store::Store;

/// Flags of `sealer mount`.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id); none lists the mounts
    image: Option<String>,
    /// Directory to mount on (must exist and be empty)
    dir: Option<PathBuf>,
    #[command(flatten)]
    platform: super::PlatformArg,
    /// Serve every layer of the store at <root>/data/overlay2/<layer-id>
    #[arg(long, conflicts_with_all = ["image", "dir"])]
    layers: bool,
    /// Writable: changes go to an upper directory (see `sealer commit`, `sealer diff`); an
    /// ordinary user's is served in a user namespace, reached at /proc/<pid>/root<DIR>
    #[arg(long)]
    rw: bool,
    /// Upper directory of a --rw mount [default: <root>/mounts/<id>/upper, removed by umount]
    #[arg(long, requires = "rw", value_name = "DIR")]
    upper: Option<PathBuf>,
    /// Keep the server attached to this terminal
    #[arg(long)]
    foreground: bool,
    /// Let other users see the mount (they still need the files' permissions)
    #[arg(long)]
    allow_other: bool,
    /// Honour setuid/setgid bits
    #[arg(long)]
    suid: bool,
    /// Honour device nodes
    #[arg(long)]
    dev: bool,
    /// Cap of the store's chunk cache of lazily pulled layers (e.g. 2G), as
    /// `pull --lazy --cache-size` sets it; the oldest chunks are evicted past it
    #[arg(long, value_name = "SIZE")]
    cache_size: Option<String>,
}

/// Flags of `sealer umount`.
#[derive(clap::Args)]
pub struct UmountArgs {
    /// The mountpoint
    #[arg(required_unless_present = "layers")]
    dir: Option<PathBuf>,
    /// Unmount the layer view at <root>/data/overlay2
    #[arg(long, conflicts_with = "dir")]
    layers: bool,
}

impl Args {
    /// Where an ordinary user's mount runs: `--rw` in a user namespace of
    /// its own (checked first: `--allow-other` needs fuse.conf's consent).
    pub fn namespace(&self) -> anyhow::Result<Namespace> {
        if !self.rw {
            return Ok(Namespace::Here);
        }
        if self.allow_other && !rootless::is_root() {
            rootless::check_allow_other()?;
        }
        Ok(Namespace::New {
            fuse: true,
            required: true,
        })
    }
}

impl UmountArgs {
    /// The mountpoint given (none for --layers).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let dir = match (&a.image, &a.dir, a.layers) {
        (None, None, false) => return list(store),
        (Some(_), None, _) => bail!("sealer mount IMAGE DIR: the mountpoint is missing"),
        (Some(_), Some(dir), false) => dir.clone(),
        (None, _, true) => mount::layers_dir(store),
        _ => bail!("sealer mount takes IMAGE DIR, or --layers"),
    };
    if let Some(image) = &a.image {
        a.platform.want(image)?;
    }
    let cap = match a.cache_size.as_deref() {
        Some(size) => Some(crate::human::parse_bytes(size)?),
        None => None,
    };
    // What an ordinary user's mount needs, before anything is made.
    if !a.rw {
        rootless::check_fusermount(a.allow_other)?;
    }
    let mut spec = mount::prepare(
        store,
        a.image.as_deref(),
        a.platform.given(),
        &dir,
        a.rw,
        a.upper.as_deref(),
    )?;
    spec.allow_other = a.allow_other;
    spec.suid = a.suid;
    spec.dev = a.dev;
    // The cap is read by the server when it evicts, so it is set once the
    // mount is up (a mount that fails leaves the store as it was).
    let set_cap = || match cap {
        Some(cap) => store.set_cache_size(cap),
        None => Ok(()),
    };
    if a.foreground {
        set_cap()?;
        return Ok(mount::serve(store, &spec, false)?);
    }
    let (pid, log) = mount::start(store, &spec)?;
    set_cap()?;
    println!(
        "Mounted {} at {} (pid {pid}, log {})",
        a.image.as_deref().unwrap_or("the layer view"),
        spec.mountpoint.display(),
        log.display()
    );
    if rootless::in_user_namespace() {
        println!(
            "The mount is in sealer's user namespace: reach it as /proc/{pid}/root{}, or with \
             `nsenter -U -m -t {pid} --preserve-credentials`; sealer diff, commit and umount \
             find it by its path",
            spec.mountpoint.display()
        );
    }
    Ok(())
}

fn list(store: &Store) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let rows: Vec<[String; 5]> = store
        .mounts()?
        .into_iter()
        .map(|r| {
            let image = match &r.served {
                Served::Layers => "(all layers)".to_string(),
                Served::Writable { name, .. } => format!("{name} (rw)"),
                Served::Image { name, .. } => name.clone(),
            };
            let state = if r.alive() { "serving" } else { "dead" };
            [
                image,
                r.mountpoint.display().to_string(),
                r.server.pid.to_string(),
                state.to_string(),
                r.log.display().to_string(),
            ]
        })
        .collect();
    let head = ["IMAGE", "MOUNT PATH", "PID", "STATE", "LOG"].map(String::from);
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .chain([&head])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&head].into_iter().chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        writeln!(out, "{}", cells.join("   ").trim_end())?;
    }
    Ok(())
}

pub fn run_umount(store: &Store, a: UmountArgs) -> anyhow::Result<()> {
    let dir = match a.dir {
        Some(d) => mount::absolute(&d)?,
        None => mount::layers_dir(store),
    };
    // A live mount's path may go through symlinks; a dead one cannot be resolved.
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    mount::unmount(store, &dir)?;
    println!("Unmounted {}", dir.display());
    Ok(())
}
