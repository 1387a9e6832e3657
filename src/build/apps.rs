//! Sealer v0.11's application instructions (`build/kubefile/parser/` of
//! v0.11.0): `APP`/`CNI`/`CSI` copy sources into `application/apps/NAME/`
//! and register the app with the type sealer detects; `APPCMDS`, `APPENV`
//! amend an app of this image or its base; `LAUNCH`, `CMDS` and the
//! deprecated `CMD` say what `sealer run` starts. All of it lands in the
//! image extension (`image/extension.rs`).
//!
//! Type detection (sealer's `getApplicationType`), over the sources:
//! ```text
//! helm   a source directory holding Chart.yaml, values.yaml and templates/,
//!        or sources naming all three           files: [NAME]
//! kube   every file (directories walked) ends in .yaml/.yml
//! shell  every file ends in .sh                 files: of the first source only
//! ""     anything else: the app needs APPCMDS
//! files  a directory's files as "/rel/path", a file's as its base name
//! ```

use std::path::{Path, PathBuf};

use super::copy::CopyRequest;
use super::kubefile::Instruction;
use super::State;
use crate::error::{Error, Result};
use crate::image::extension::Application;

/// The label sealer v0.11 gives `KUBEVERSION`.
pub const LABEL_KUBE_VERSION: &str = "app.alpha.sealer.io/supported-kube-version";
/// The label earlier versions of ours gave it (still read).
pub const LABEL_KUBE_VERSION_OLD: &str = "cluster.alpha.sealer.io/kube-version";

/// Where applications live in the rootfs.
pub const APP_ROOT: &str = "application/apps";

/// Checks the rules that span instructions before anything is built:
/// `LAUNCH` and `CMDS` at most once and last, `CMD` not with `LAUNCH`.
pub fn check_order(instructions: &[Instruction]) -> std::result::Result<(), (usize, String)> {
    let last = instructions.len().saturating_sub(1);
    let mut seen_launch = None;
    let mut seen_cmd = None;
    for (i, ins) in instructions.iter().enumerate() {
        match ins.keyword.as_str() {
            kw @ ("LAUNCH" | "CMDS") => {
                if instructions[..i].iter().any(|p| p.keyword == kw) {
                    return Err((ins.line, format!("only one {kw} may be given")));
                }
                if i != last {
                    return Err((ins.line, format!("{kw} must be the last instruction")));
                }
                if kw == "LAUNCH" {
                    seen_launch = Some(ins.line);
                }
            }
            "CMD" => {
                seen_cmd.get_or_insert(ins.line);
            }
            _ => {}
        }
    }
    if let (Some(launch), Some(_)) = (seen_launch, seen_cmd) {
        return Err((launch, "CMD and LAUNCH cannot be used together".into()));
    }
    Ok(())
}

fn is_yaml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}

fn is_chart_dir(dir: &Path) -> bool {
    dir.join("Chart.yaml").exists()
        && dir.join("values.yaml").exists()
        && dir.join("templates").exists()
}

/// Files under `dir`, walked in name order, as paths relative to it.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = format!("{rel}/{name}");
        if e.file_type()?.is_dir() {
            walk(&e.path(), &path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The type and launch files of an app made of `sources` (paths on disk).
pub fn detect(name: &str, sources: &[PathBuf]) -> std::io::Result<(String, Vec<String>)> {
    // Helm: a chart directory, or the three parts given one by one.
    let mut parts = 0u8;
    for s in sources {
        if s.is_dir() {
            if is_chart_dir(s) {
                return Ok(("helm".into(), vec![name.to_string()]));
            }
            for e in std::fs::read_dir(s)? {
                let e = e?;
                if !e.file_type()?.is_dir() {
                    parts |= chart_part(&e.file_name().to_string_lossy());
                }
            }
        } else {
            parts |= chart_part(&s.to_string_lossy());
        }
    }
    if parts == 7 {
        return Ok(("helm".into(), vec![name.to_string()]));
    }
    let mut per_source: Vec<Vec<String>> = Vec::new();
    for s in sources {
        let mut files = Vec::new();
        if s.is_dir() {
            walk(s, "", &mut files)?;
        } else {
            let base = s.file_name().map(|f| f.to_string_lossy().into_owned());
            files.extend(base);
        }
        per_source.push(files);
    }
    let all = || per_source.iter().flatten();
    let (kube, shell) = (
        all().all(|f| is_yaml(f)),
        all().all(|f| f.to_ascii_lowercase().ends_with(".sh")),
    );
    Ok(match (all().next().is_some(), kube, shell) {
        (true, true, false) => ("kube".into(), all().cloned().collect()),
        (true, false, true) => ("shell".into(), per_source[0].clone()),
        _ => (String::new(), Vec::new()),
    })
}

fn chart_part(name: &str) -> u8 {
    if name.ends_with("Chart.yaml") {
        1
    } else if name.ends_with("values.yaml") {
        2
    } else if name.ends_with("templates") {
        4
    } else {
        0
    }
}

impl State<'_> {
    /// `APP NAME local://PATH...` (and `CNI`, `CSI`).
    pub(super) fn app(&mut self, ins: &Instruction, kw: &str) -> Result<()> {
        let w = self.list(ins)?;
        let [name, sources @ ..] = w.as_slice() else {
            return Err(Error::Instruction(format!("{kw} NAME local://PATH...")));
        };
        if sources.is_empty() {
            return Err(Error::Instruction(format!(
                "{kw} {name}: no sources (use local://PATH or http(s)://URL)"
            )));
        }
        if !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
            || name.starts_with('.')
        {
            return Err(Error::Instruction(format!(
                "{kw}: bad application name {name:?}"
            )));
        }
        let mut paths = Vec::new();
        let mut urls = Vec::new();
        for s in sources {
            if super::remote::is_remote(s) {
                urls.push(s.clone());
                continue;
            }
            let p = s.strip_prefix("local://").ok_or_else(|| {
                Error::Instruction(format!(
                    "{s}: a source of {kw} is local://PATH or http(s)://URL"
                ))
            })?;
            paths.push(p.to_string());
        }
        let remote = self.download_all(&urls, None)?;
        let mut on_disk: Vec<PathBuf> = paths
            .iter()
            .map(|p| self.context.real.join(p.trim_start_matches('/')))
            .collect();
        on_disk.extend(remote.iter().map(|r| r.path.clone()));
        let (kind, files) = detect(name, &on_disk)
            .map_err(|e| Error::Instruction(format!("{kw} {name}: reading its sources: {e}")))?;
        let req = CopyRequest {
            sources: paths,
            dest: format!("{APP_ROOT}/{name}/"),
            chown: None,
            chmod: None,
            add: false,
            remote,
        };
        let made = self.layer_step(&req, format!("{kw} {}", ins.rest));
        super::remote::remove(&req.remote);
        made?;
        let labels = &mut self.config.config.labels;
        labels.insert(format!("app.alpha.sealer.io/{name}"), sources.join(","));
        if kw != "APP" {
            labels.insert(
                format!(
                    "cluster.alpha.sealer.io/kube-{}-{name}",
                    kw.to_ascii_lowercase()
                ),
                "true".into(),
            );
        }
        let app = Application {
            name: name.clone(),
            kind,
            files,
            version: "v1".into(),
            ..Application::default()
        };
        let apps = &mut self.extension.applications;
        match apps.iter_mut().find(|a| a.name == *name) {
            Some(old) => *old = app,
            None => apps.push(app),
        }
        self.app_lines.push((name.clone(), ins.line));
        Ok(())
    }

    /// `APPCMDS NAME ["cmd", ...]`.
    pub(super) fn appcmds(&mut self, ins: &Instruction) -> Result<()> {
        let usage = || Error::Instruction("APPCMDS NAME [\"executable\", \"param\", ...]".into());
        let (name, rest) = ins.rest.split_once(char::is_whitespace).ok_or_else(usage)?;
        let cmds: Vec<String> = serde_json::from_str(rest.trim()).map_err(|_| usage())?;
        let app = self.known_app(name, "APPCMDS")?;
        app.cmds = cmds;
        self.history(format!("APPCMDS {}", ins.rest), true);
        Ok(())
    }

    /// `APPENV NAME K=V...`.
    pub(super) fn appenv(&mut self, ins: &Instruction) -> Result<()> {
        let w = self.words(ins)?;
        let [name, pairs @ ..] = w.as_slice() else {
            return Err(Error::Instruction("APPENV NAME KEY=VALUE...".into()));
        };
        let mut env = Vec::new();
        for p in pairs {
            match p.split_once('=') {
                Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
                _ => {
                    return Err(Error::Instruction(format!(
                        "APPENV expects KEY=VALUE, got {p:?}"
                    )))
                }
            }
        }
        let app = self.known_app(name, "APPENV")?;
        app.env.extend(env);
        self.history(format!("APPENV {}", ins.rest), true);
        Ok(())
    }

    /// `LAUNCH ["app", ...]`.
    pub(super) fn launch(&mut self, ins: &Instruction) -> Result<()> {
        let names = self.list(ins)?;
        if names.is_empty() {
            return Err(Error::Instruction(
                "LAUNCH [\"app\", ...]: no application".into(),
            ));
        }
        for n in &names {
            self.known_app(n, "LAUNCH")?;
        }
        self.extension.launch.app_names = names;
        self.history(format!("LAUNCH {}", ins.rest), true);
        Ok(())
    }

    /// `CMDS ["cmd", ...]`, and the deprecated `CMD` (one command).
    pub(super) fn cmds(&mut self, ins: &Instruction) -> Result<()> {
        if ins.keyword == "CMD" {
            log::warn!("line {}: CMD is deprecated: use CMDS or LAUNCH", ins.line);
            self.extension.launch.cmds.push(ins.rest.clone());
        } else {
            self.extension.launch.cmds = self.list(ins)?;
        }
        Ok(())
    }

    /// An app of this image or its base, for `what` to amend.
    fn known_app(&mut self, name: &str, what: &str) -> Result<&mut Application> {
        self.extension.app_mut(name).ok_or_else(|| {
            Error::Instruction(format!(
                "{what}: no application {name:?} in this image or its base (APP {name} local://... first)"
            ))
        })
    }

    /// Every app without a type must have APPCMDS (sealer's rule), named
    /// at the line of its APP.
    pub(super) fn check_apps(&self) -> Result<()> {
        for (name, line) in &self.app_lines {
            let untyped = self
                .extension
                .applications
                .iter()
                .any(|a| a.name == *name && a.kind.is_empty() && a.cmds.is_empty());
            if untyped {
                return Err(Error::Kubefile {
                    file: self.file.clone(),
                    line: *line,
                    msg: format!(
                        "application {name} is neither helm, kube (.yaml) nor shell (.sh): give it APPCMDS {name} [...]"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if !f.ends_with('/') {
                std::fs::write(&p, "x").unwrap();
            }
        }
        dir
    }

    #[test]
    fn types_as_sealer_detects_them() {
        let t = tree(&[
            "chart/Chart.yaml",
            "chart/values.yaml",
            "chart/templates/d.yaml",
            "kube/a.yaml",
            "kube/sub/b.yml",
            "sh/install.sh",
            "sh/lib.sh",
            "mixed/a.yaml",
            "mixed/run.sh",
            "bin/tool",
            "one.yaml",
            "two.sh",
        ]);
        let p = |s: &str| t.path().join(s);
        let case =
            |srcs: &[&str]| detect("app", &srcs.iter().map(|s| p(s)).collect::<Vec<_>>()).unwrap();
        assert_eq!(case(&["chart"]), ("helm".into(), vec!["app".into()]));
        assert_eq!(
            case(&["kube", "one.yaml"]),
            (
                "kube".into(),
                vec!["/a.yaml".into(), "/sub/b.yml".into(), "one.yaml".into()]
            )
        );
        assert_eq!(
            case(&["sh", "two.sh"]),
            ("shell".into(), vec!["/install.sh".into(), "/lib.sh".into()])
        );
        assert_eq!(case(&["mixed"]), (String::new(), vec![]));
        assert_eq!(case(&["bin"]), (String::new(), vec![]));
        // As in sealer, `templates` given as a directory source does not
        // count as a chart's part: these three are plain YAML to it.
        assert_eq!(
            case(&["chart/Chart.yaml", "chart/values.yaml", "chart/templates"]),
            (
                "kube".into(),
                vec!["Chart.yaml".into(), "values.yaml".into(), "/d.yaml".into()]
            )
        );
    }

    #[test]
    fn launch_and_cmds_come_last_and_once() {
        let parse = |t: &str| check_order(&super::super::kubefile::parse(t).unwrap());
        assert!(parse("FROM scratch\nAPP a local://x\nLAUNCH [\"a\"]\n").is_ok());
        assert_eq!(
            parse("FROM scratch\nLAUNCH [\"a\"]\nCOPY . .\n")
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(
            parse("FROM scratch\nCMDS [\"a\"]\nCMDS [\"b\"]\n")
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(
            parse("FROM scratch\nCMD x\nLAUNCH [\"a\"]\n")
                .unwrap_err()
                .0,
            3
        );
    }
}
