//! The mount server: serving an image (read-only or writable) or the layer
//! view in this process, or starting that as a detached process which is
//! handed its whole [`ServerSpec`] and says when it serves:
//!
//! ```text
//! sealer mount ...  --spawn-->  sealer --root R __serve
//!      | stdin:  the ServerSpec as JSON, then EOF
//!      | stdout: "ready\n" once mounted and recorded (then stdout goes to the log)
//!      | stderr: <root>/mounts/<key>.log
//!      '-- waits for "ready" (or EOF: the server failed; its log says why)
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use sealer_fs::fuse::layers::{LayerDirFs, LayerSource};
use sealer_fs::fuse::merged::MergedFs;
use sealer_fs::fuse::rw::RwFs;
use sealer_fs::fuse::MountConfig;
use sealer_fs::Layer;
use serde::{Deserialize, Serialize};

use super::lifecycle::{check_mountpoint, detach};
use super::record::{MountRecord, Served};
use crate::digest::Digest;
use crate::error::{invalid, IoContext, JsonContext, Result};
use crate::image::platform::Want;
use crate::process::ProcessId;
use crate::store::Store;

/// The argument that makes `sealer` a detached mount server.
pub const SERVE_ARG: &str = "__serve";
/// How long `sealer mount` waits for its server to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// What a ready server writes on its stdout.
const READY: &str = "ready";

/// Everything a server needs to know.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerSpec {
    /// The image (name or id); `None`: the layer view.
    pub image: Option<String>,
    /// The platform of a multi-platform image (`None`: this machine's).
    #[serde(default)]
    pub platform: Option<String>,
    /// The canonical mountpoint.
    pub mountpoint: PathBuf,
    /// Writable, with this upper directory and whether sealer made it.
    pub upper: Option<(PathBuf, bool)>,
    /// `--allow-other`.
    pub allow_other: bool,
    /// `--suid`.
    pub suid: bool,
    /// `--dev`.
    pub dev: bool,
}

impl ServerSpec {
    fn config(&self) -> MountConfig {
        MountConfig {
            fs_name: format!("sealer:{}", self.image.as_deref().unwrap_or("layers")),
            allow_other: self.allow_other,
            suid: self.suid,
            dev: self.dev,
            threads: 4,
            rw: self.upper.is_some(),
        }
    }
}

/// The layer view's mountpoint.
pub fn layers_dir(store: &Store) -> PathBuf {
    store.root().join("data/overlay2")
}

/// Checks a mount can start and prepares it (mountpoint, image, upper):
/// bad input fails here, in the user's terminal, not in a log.
pub fn prepare(
    store: &Store,
    image: Option<&str>,
    platform: Option<&str>,
    dir: &Path,
    rw: bool,
    upper: Option<&Path>,
) -> Result<ServerSpec> {
    let want = Want::parse(platform)?;
    if image.is_none() {
        std::fs::create_dir_all(dir).at(dir)?;
        if rw {
            return Err(super::error(
                dir,
                "--rw needs an image: the layer view is read-only",
            ));
        }
    }
    let mountpoint = check_mountpoint(dir)?;
    if let Some(i) = image {
        store.open_image_layers(&store.resolve_pinned_for(i, &want)?)?;
    }
    let upper = if rw {
        Some(prepare_upper(store, &mountpoint, upper)?)
    } else {
        None
    };
    Ok(ServerSpec {
        image: image.map(String::from),
        platform: platform.map(String::from),
        mountpoint,
        upper,
        allow_other: false,
        suid: false,
        dev: false,
    })
}

/// The upper directory of a `--rw` mount: the given one (created if
/// missing), or a fresh one under the store. Returns it and whether we made it.
fn prepare_upper(
    store: &Store,
    mountpoint: &Path,
    given: Option<&Path>,
) -> Result<(PathBuf, bool)> {
    let (dir, owned) = match given {
        Some(d) => (d.to_path_buf(), false),
        None => (store.default_upper(mountpoint), true),
    };
    if owned && dir.exists() {
        std::fs::remove_dir_all(&dir).at(&dir)?;
    }
    std::fs::create_dir_all(&dir).at(&dir)?;
    if owned {
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .at(&dir)?;
    }
    Ok((std::fs::canonicalize(&dir).at(&dir)?, owned))
}

/// Starts a detached server for `spec`; returns its pid and log once it
/// serves.
pub fn start(store: &Store, spec: &ServerSpec) -> Result<(u32, PathBuf)> {
    let log = store.mount_paths(&spec.mountpoint).1;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let log_file = File::create(&log).at(&log)?;
    let exe = std::env::current_exe()
        .map_err(|e| super::error(&spec.mountpoint, format!("finding the sealer binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(store.root())
        .arg(SERVE_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file);
    // Its own process group: a Ctrl-C meant for the terminal spares it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| super::error(&spec.mountpoint, format!("starting the mount server: {e}")))?;
    let json = serde_json::to_vec(spec).json("the mount spec")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A server that died at once shows in its log, read below.
        let _ = stdin.write_all(&json);
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| super::error(&spec.mountpoint, "the mount server has no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) if line.trim_end() == READY => Ok((child.id(), log)),
        Ok(_) => {
            let status = child
                .wait()
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            Err(super::error(
                &spec.mountpoint,
                format!(
                    "the mount server exited ({status}): {}",
                    last.trim_start_matches("error: ")
                ),
            ))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            if super::table::mounted_at(&spec.mountpoint).is_some_and(|m| m.is_ours()) {
                detach(&spec.mountpoint, "the unready mount");
            }
            Err(super::error(
                &spec.mountpoint,
                format!(
                    "the mount server did not answer within {}s (log: {})",
                    READY_TIMEOUT.as_secs(),
                    log.display()
                ),
            ))
        }
    }
}

/// The detached server's main: reads its spec from stdin and serves.
pub fn serve_detached(store: &Store) -> Result<()> {
    let mut json = Vec::new();
    std::io::stdin()
        .take(1 << 20)
        .read_to_end(&mut json)
        .map_err(|e| invalid(format!("reading the mount spec: {e}")))?;
    let spec: ServerSpec = serde_json::from_slice(&json).json("the mount spec")?;
    serve(store, &spec, true)
}

enum Session {
    Image(sealer_fs::fuse::Session<MergedFs>),
    Layers(sealer_fs::fuse::Session<LayerDirFs<StoreLayers>>),
    Rw(sealer_fs::fuse::Session<RwFs>),
}

/// Serves `spec` in this process until it is unmounted or signalled; with
/// `detached`, says "ready" on stdout once serving.
pub fn serve(store: &Store, spec: &ServerSpec, detached: bool) -> Result<()> {
    // Block the stop signals in every thread; one thread waits for them.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals
        .thread_block()
        .map_err(|e| super::error(&spec.mountpoint, format!("blocking signals: {e}")))?;
    let dir = spec.mountpoint.as_path();
    let cfg = spec.config().fuser_config();
    let mounting =
        |e: std::io::Error| super::error(dir, format!("mounting {}: {e}", dir.display()));
    let (served, session) = match &spec.image {
        Some(image) => {
            let want = Want::parse(spec.platform.as_deref())?;
            let img = store.resolve_pinned_for(image, &want)?;
            let layers = store.open_image_layers(&img)?;
            let (name, id) = (image.clone(), img.id.to_string());
            match &spec.upper {
                Some((upper, owned)) => (
                    Served::Writable {
                        name,
                        id,
                        upper: upper.clone(),
                        owned: *owned,
                    },
                    Session::Rw(
                        sealer_fs::fuse::Session::new(RwFs::new(layers, upper.clone()), dir, &cfg)
                            .map_err(mounting)?,
                    ),
                ),
                None => (
                    Served::Image { name, id },
                    Session::Image(
                        sealer_fs::fuse::Session::new(MergedFs::new(layers), dir, &cfg)
                            .map_err(mounting)?,
                    ),
                ),
            }
        }
        None => {
            let src = StoreLayers {
                store: Store::open(store.root())?,
            };
            (
                Served::Layers,
                Session::Layers(
                    sealer_fs::fuse::Session::new(LayerDirFs::new(src), dir, &cfg)
                        .map_err(mounting)?,
                ),
            )
        }
    };
    store.add_mount(&MountRecord {
        mountpoint: dir.to_path_buf(),
        server: ProcessId::current(),
        log: store.mount_paths(dir).1,
        served,
    })?;
    let mp = dir.to_path_buf();
    std::thread::spawn(move || raise_readahead(&mp));
    let mp = dir.to_path_buf();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            // The server stops once the last user lets go.
            detach(&mp, "the mount");
        }
    });
    if detached {
        let mut out = std::io::stdout();
        let said = writeln!(out, "{READY}").and_then(|()| out.flush());
        // From now on stdout goes to the log too.
        let to_log = nix::unistd::dup2_stdout(std::io::stderr());
        if let Err(e) = said {
            log::warn!("telling `sealer mount` the server is ready: {e}");
        }
        if let Err(e) = to_log {
            log::warn!("sending stdout to the log: {e}");
        }
    }
    let result = match session {
        Session::Image(s) => s.run(),
        Session::Layers(s) => s.run(),
        Session::Rw(s) => s.run(),
    };
    store.remove_mount(dir);
    result.map_err(|e| super::error(dir, format!("serving {}: {e}", dir.display())))
}

/// Raises the mount's readahead once its FUSE handshake is over. The device
/// number comes from `stat` run as a child process, which waits for the
/// handshake like any client: a thread of this process asking its own
/// mount could wait for ever if the process were killed while a (dying)
/// server thread held its request.
fn raise_readahead(mountpoint: &Path) {
    let out = Command::new("stat")
        .args(["-c", "%d"])
        .arg(mountpoint)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let dev = out
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let ours = super::table::mounted_at(mountpoint).is_some_and(|m| m.is_ours());
    let (Some(dev), true) = (dev, ours) else {
        return;
    };
    match sealer_fs::fuse::raise_readahead(dev, sealer_fs::fuse::READAHEAD_KB) {
        Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
            log::info!("note: readahead left at the kernel's default: {e}")
        }
        _ => {}
    }
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
        out.extend(self.store.layer_digests().iter().map(Digest::hex));
        out.sort();
        out.dedup();
        out
    }

    fn open(&self, hex: &str) -> Option<Layer> {
        let d = Digest::from_hex(hex)?;
        match self.store.open_layer(&d) {
            Ok(l) => Some(l),
            Err(e) => {
                log::error!("{e}");
                None
            }
        }
    }
}
