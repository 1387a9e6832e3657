//! Kubefile RUN: the image so far is mounted read-write (our userspace
//! overlay, no kernel overlayfs needed) in a temporary directory; the command
//! runs on the host with its working directory there and `<mount>/bin` first
//! on PATH; what it changed becomes the step's layer.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sealer_fs::fuse::rw::RwFs;
use sealer_fs::fuse::{spawn_mount, BackgroundSession, MountConfig};
use sha2::{Digest as _, Sha256};

use super::kubefile::Instruction;
use super::layer::{clamp_mtimes, stream_layer};
use super::upper_layer::upper_items;
use super::State;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// A temporary read-write mount of the image being built; always undone.
struct RunMount {
    session: Option<BackgroundSession>,
    dir: PathBuf,
    mountpoint: PathBuf,
}

impl RunMount {
    /// Unmounts the image. A failed clean unmount (a process the command left
    /// behind still using the mount: `EBUSY`) is reported on stderr and the
    /// mount detached lazily, so it leaves the mount table now and goes away
    /// once its last user does. Whether the step succeeds is not decided here.
    fn unmount(&mut self) {
        let Some(s) = self.session.take() else {
            return;
        };
        let Err(e) = s.umount_and_join() else {
            return;
        };
        log::warn!(
            "unmounting {}: {e}; detaching it lazily",
            self.mountpoint.display()
        );
        crate::mount::detach(&self.mountpoint, "the RUN mount");
    }
}

impl Drop for RunMount {
    fn drop(&mut self) {
        self.unmount();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            log::warn!("removing {}: {e}", self.dir.display());
        }
    }
}

impl State<'_> {
    pub(super) fn run_step(&mut self, ins: &Instruction) -> Result<()> {
        let argv = match &ins.json {
            Some(v) if !v.is_empty() => v.clone(),
            Some(_) => return Err(Error::Instruction("RUN with an empty command".into())),
            None if ins.rest.is_empty() => {
                return Err(Error::Instruction("RUN with an empty command".into()))
            }
            None => vec!["/bin/sh".into(), "-c".into(), ins.rest.clone()],
        };
        let env = self.run_env();
        let mut h = Sha256::new();
        h.update(self.chain.0);
        h.update(b"RUN\0");
        for a in argv.iter().chain(env.iter().flat_map(|(k, v)| [k, v])) {
            h.update(a.as_bytes());
            h.update([0]);
        }
        let key = Digest(h.finalize().into());
        let created_by = format!("RUN {}", ins.rest);
        let target = crate::image::platform::PlatformSpec::of_config(&self.config);
        let host = crate::image::platform::PlatformSpec::host();
        if !self.warned_foreign && !host.host_order().contains(&target) {
            self.warned_foreign = true;
            log::warn!(
                "RUN runs on this machine ({host}), not emulated: commands of this {target} image run as {host} programs"
            );
        }
        let progress = self.opts.progress;
        self.cached_layer(key, created_by, |st| {
            let tmp = st.store.tmp_path("run");
            let (upper, mountpoint) = (tmp.join("upper"), tmp.join("rootfs"));
            for d in [&upper, &mountpoint] {
                std::fs::create_dir_all(d).at(d)?;
            }
            std::fs::set_permissions(&upper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .at(&upper)?;
            let mut layers = Vec::new();
            for (d, _, _) in st.layers.iter().rev() {
                layers.push(st.store.open_layer(d)?);
            }
            let had_files = !layers.is_empty();
            let cfg = MountConfig {
                fs_name: "sealer:build".into(),
                threads: 2,
                rw: true,
                ..MountConfig::default()
            };
            let mut mount = RunMount {
                session: None,
                dir: tmp.clone(),
                mountpoint: mountpoint.clone(),
            };
            let session = spawn_mount(
                RwFs::new(layers, upper.clone()).volatile(),
                &mountpoint,
                &cfg.fuser_config(),
            )
            .map_err(|e| Error::Mount {
                path: mountpoint.clone(),
                why: format!(
                    "mounting the image read-write at {}: {e}",
                    mountpoint.display()
                ),
            })?;
            mount.session = Some(session);
            run_command(&argv, &mountpoint, &env)?;
            mount.unmount();
            // Never through the mount: this process serves it (see
            // `merged_root_is_empty`).
            let lower: Vec<&sealer_fs::LayerIndex> =
                st.layers.iter().rev().map(|(_, _, l)| &l.index).collect();
            if had_files && sealer_fs::upper::merged_root_is_empty(&upper, &lower).at(&upper)? {
                return Err(Error::Run {
                    command: argv.join(" "),
                    why: "deleted the whole rootfs; refusing to make an empty ClusterImage".into(),
                });
            }
            let mut items = upper_items(&upper)?;
            if items.is_empty() {
                return Ok(None);
            }
            if let Some(epoch) = st.opts.timestamp {
                clamp_mtimes(items.iter_mut().map(|(_, i)| i), epoch);
            }
            stream_layer(st.store, items.iter().map(|(p, i)| (p, i)), progress).map(Some)
        })
    }

    /// ENV and ARG values, as RUN sees them.
    fn run_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for e in &self.config.config.env {
            if let Some((k, v)) = e.split_once('=') {
                env.retain(|(ek, _)| ek != k);
                env.push((k.to_string(), v.to_string()));
            }
        }
        env.sort();
        env
    }
}

/// Runs the command in `cwd`, streaming its output with a prefix.
fn run_command(argv: &[String], cwd: &Path, env: &[(String, String)]) -> Result<()> {
    let host_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    // Under a guard (guard.rs): a build killed mid-RUN leaves no process
    // behind, none waiting on a mount whose server is gone.
    let failed = |why: String| Error::Run {
        command: argv.join(" "),
        why,
    };
    let mut cmd =
        super::guard::guarded(argv, cwd).map_err(|e| failed(format!("cannot be started: {e}")))?;
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", format!("{}:{host_path}", cwd.join("bin").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("cannot be started: {e}")))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    std::thread::scope(|s| {
        for stream in [
            out.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            err.map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            s.spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    log::info!("  | {line}");
                }
            });
        }
    });
    let status = child
        .wait()
        .map_err(|e| failed(format!("could not be waited for: {e}")))?;
    if !status.success() {
        return Err(failed(format!("exited with {status}")));
    }
    Ok(())
}
