//! `sealer mount [IMAGE DIR | --layers] [--foreground] [--allow-other] [--suid] [--dev]`,
//! `sealer mount` (list) and `sealer umount DIR | --layers`.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::{SigSet, Signal};
use sealer_fs::fuse::layers::{LayerDirFs, LayerSource};
use sealer_fs::fuse::merged::MergedFs;
use sealer_fs::fuse::rw::RwFs;
use sealer_fs::fuse::MountConfig;
use sealer_fs::Layer;

use crate::digest::Digest;
use crate::mount::{self, MountRecord};
use crate::store::Store;

/// How long `sealer mount` waits for the server to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags of `sealer mount`.
#[derive(clap::Args)]
pub struct Args {
    /// Image (name or id); none lists the mounts
    image: Option<String>,
    /// Directory to mount on (must exist and be empty)
    dir: Option<PathBuf>,
    /// Serve every layer of the store at <root>/data/overlay2/<layer-id>
    #[arg(long, conflicts_with_all = ["image", "dir"])]
    layers: bool,
    /// Writable: changes go to an upper directory (see `sealer commit`, `sealer diff`)
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

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let (target, dir) = match (&a.image, &a.dir, a.layers) {
        (None, None, false) => return list(store),
        (Some(_), None, _) => bail!("sealer mount IMAGE DIR: the mountpoint is missing"),
        (Some(image), Some(dir), false) => (Some(image.clone()), dir.clone()),
        (None, _, true) => {
            let dir = layers_dir(store);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            (None, dir)
        }
        _ => bail!("sealer mount takes IMAGE DIR, or --layers"),
    };
    let dir = mount::check_mountpoint(&dir)?;
    let cfg = MountConfig {
        fs_name: format!("sealer:{}", target.as_deref().unwrap_or("layers")),
        allow_other: a.allow_other,
        suid: a.suid,
        dev: a.dev,
        threads: 4,
        rw: a.rw,
    };
    // Open everything before detaching, so bad input fails here, not in a log.
    let layers = match &target {
        Some(image) => Some(open_image(store, image)?),
        None => None,
    };
    if a.rw && target.is_none() {
        bail!("--rw needs an image: the layer view is read-only");
    }
    let upper = if a.rw {
        Some(prepare_upper(store, &dir, a.upper.as_deref())?)
    } else {
        None
    };
    if a.foreground {
        return serve(store, target.as_deref(), layers, &dir, &cfg, upper);
    }
    spawn_server(store, &a, &dir)
}

fn layers_dir(store: &Store) -> PathBuf {
    store.root().join("data/overlay2")
}

fn open_image(store: &Store, image: &str) -> anyhow::Result<(String, Vec<Layer>)> {
    let img = store.resolve_pinned(image)?;
    let mut layers = Vec::new();
    for d in img.layers().iter().rev() {
        layers.push(store.open_layer(d)?);
    }
    Ok((img.id.to_string(), layers))
}

/// Starts `sealer mount --foreground` detached; returns once it serves.
fn spawn_server(store: &Store, a: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let (record_path, log) = store.mount_paths(dir);
    std::fs::create_dir_all(log.parent().unwrap_or(store.root()))?;
    let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(std::env::current_exe().context("finding the sealer binary")?);
    cmd.arg("--root")
        .arg(store.root())
        .arg("mount")
        .arg("--foreground");
    for (on, flag) in [
        (a.allow_other, "--allow-other"),
        (a.suid, "--suid"),
        (a.dev, "--dev"),
        (a.layers, "--layers"),
        (a.rw, "--rw"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    if let Some(u) = &a.upper {
        cmd.arg("--upper").arg(u);
    }
    if let Some(image) = &a.image {
        cmd.arg(image).arg(dir);
    }
    cmd.stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("starting the mount server")?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            bail!(
                "the mount server exited ({status}): {}",
                last.trim_start_matches("error: ")
            );
        }
        let recorded = std::fs::read(&record_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<MountRecord>(&b).ok())
            .is_some_and(|r| r.pid == child.id());
        if recorded && mount::mounted_at(dir).is_some_and(|m| m.is_ours()) {
            println!(
                "Mounted {} at {} (pid {}, log {})",
                a.image.as_deref().unwrap_or("the layer view"),
                dir.display(),
                child.id(),
                log.display()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "the mount server did not answer within {}s (log: {})",
                READY_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Serves a mount in this process until it is unmounted or signalled.
fn serve(
    store: &Store,
    image: Option<&str>,
    layers: Option<(String, Vec<Layer>)>,
    dir: &std::path::Path,
    cfg: &MountConfig,
    upper: Option<(PathBuf, bool)>,
) -> anyhow::Result<()> {
    // Block the stop signals in every thread; one thread waits for them.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block()?;
    let log = store.mount_paths(dir).1;
    let (image_id, session) = match layers {
        Some((id, layers)) => match &upper {
            Some((u, _)) => (
                id,
                Session::Rw(sealer_fs::fuse::Session::new(
                    RwFs::new(layers, u.clone()),
                    dir,
                    &cfg.fuser_config(),
                )?),
            ),
            None => (
                id,
                Session::Image(sealer_fs::fuse::Session::new(
                    MergedFs::new(layers),
                    dir,
                    &cfg.fuser_config(),
                )?),
            ),
        },
        None => {
            let src = StoreLayers {
                store: Store::open(store.root())?,
            };
            (
                String::new(),
                Session::Layers(sealer_fs::fuse::Session::new(
                    LayerDirFs::new(src),
                    dir,
                    &cfg.fuser_config(),
                )?),
            )
        }
    };
    let rec = MountRecord {
        image: image.unwrap_or_default().to_string(),
        image_id,
        mountpoint: dir.to_path_buf(),
        pid: std::process::id(),
        start: crate::process::ProcessId::current().start,
        log,
        layers: image.is_none(),
        upper: upper.as_ref().map(|(u, _)| u.clone()),
        upper_owned: upper.as_ref().is_some_and(|(_, owned)| *owned),
    };
    store.add_mount(&rec)?;
    let mp = dir.to_path_buf();
    std::thread::spawn(move || {
        match sealer_fs::fuse::raise_readahead(&mp, sealer_fs::fuse::READAHEAD_KB) {
            Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
                eprintln!("note: readahead left at the kernel's default: {e}")
            }
            _ => {}
        }
    });
    let mp = dir.to_path_buf();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            // Detach: the server stops once the last user lets go.
            let _ = nix::mount::umount2(&mp, nix::mount::MntFlags::MNT_DETACH);
        }
    });
    let result = match session {
        Session::Image(s) => s.run(),
        Session::Layers(s) => s.run(),
        Session::Rw(s) => s.run(),
    };
    store.remove_mount(dir);
    result.with_context(|| format!("serving {}", dir.display()))
}

enum Session {
    Image(sealer_fs::fuse::Session<MergedFs>),
    Layers(sealer_fs::fuse::Session<LayerDirFs<StoreLayers>>),
    Rw(sealer_fs::fuse::Session<RwFs>),
}

/// The upper directory of a `--rw` mount: the given one (created if
/// missing), or a fresh one under the store. Returns it and whether we made it.
fn prepare_upper(
    store: &Store,
    mountpoint: &std::path::Path,
    given: Option<&std::path::Path>,
) -> anyhow::Result<(PathBuf, bool)> {
    let (dir, owned) = match given {
        Some(d) => (d.to_path_buf(), false),
        None => (store.default_upper(mountpoint), true),
    };
    if owned && dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("clearing the old upper directory {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the upper directory {}", dir.display()))?;
    if owned {
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    Ok((std::fs::canonicalize(&dir)?, owned))
}

/// The store as the layer view's source of layers.
struct StoreLayers {
    store: Store,
}

impl LayerSource for StoreLayers {
    fn list(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Ok(tags) = self.store.tags() {
            for (name, desc) in tags {
                if let Ok(img) = self.store.load_image(&desc.digest, Some(name)) {
                    out.extend(img.layers().iter().map(Digest::hex));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.store.root().join("index/sha256")) {
            for e in rd.flatten() {
                if let Some(d) = e.file_name().to_str().and_then(Digest::from_hex) {
                    if self.store.has_blob(&d) {
                        out.push(d.hex());
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn open(&self, hex: &str) -> Option<Layer> {
        let d = Digest::from_hex(hex)?;
        match self.store.open_layer(&d) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: {e}");
                None
            }
        }
    }
}

fn list(store: &Store) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let rows: Vec<[String; 5]> = store
        .mounts()?
        .into_iter()
        .map(|r| {
            let image = match (r.layers, &r.upper) {
                (true, _) => "(all layers)".to_string(),
                (false, Some(_)) => format!("{} (rw)", r.image),
                (false, None) => r.image.clone(),
            };
            let state = if r.alive() { "serving" } else { "dead" };
            [
                image,
                r.mountpoint.display().to_string(),
                r.pid.to_string(),
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
        None => layers_dir(store),
    };
    // A live mount's path may go through symlinks; a dead one cannot be resolved.
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    mount::unmount(store, &dir)?;
    println!("Unmounted {}", dir.display());
    Ok(())
}
