//! One method per Kubefile instruction; layer steps stream their tar into ingest.

use sha2::{Digest as _, Sha256};

use super::copy::{plan_copy, Below, CopyRequest};
use super::kubefile::{expand, words, Instruction};
use super::layer::{clamp_mtimes, fingerprint, stream_layer};
use super::State;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::human::bytes as human_bytes;
use crate::image::platform::Want;

impl State<'_> {
    pub(super) fn step(&mut self, ins: &Instruction) -> Result<()> {
        let kw = ins.keyword.as_str();
        if !self.from_seen && kw != "FROM" && kw != "ARG" {
            return Err(self.kubefile_error(
                ins.line,
                format!("{kw} before FROM: a Kubefile starts with FROM"),
            ));
        }
        match kw {
            "FROM" => self.from(ins),
            "ARG" => self.arg(ins),
            "ENV" => self.env(ins),
            "LABEL" => {
                for (k, v) in self.pairs(ins)? {
                    self.config.config.labels.insert(k, v);
                }
                self.history(format!("LABEL {}", ins.rest), true);
                Ok(())
            }
            "MAINTAINER" => {
                self.config.author =
                    Some(expand(&ins.rest, &self.vars).map_err(Error::Instruction)?);
                self.history(format!("MAINTAINER {}", ins.rest), true);
                Ok(())
            }
            "CMD" => {
                let cmd = match &ins.json {
                    Some(v) => v.clone(),
                    None => vec!["/bin/sh".into(), "-c".into(), ins.rest.clone()],
                };
                self.config.config.cmd = Some(cmd);
                self.cmds(ins)?;
                self.history(format!("CMD {}", ins.rest), true);
                Ok(())
            }
            "CMDS" => {
                self.cmds(ins)?;
                self.history(format!("CMDS {}", ins.rest), true);
                Ok(())
            }
            "LAUNCH" => self.launch(ins),
            "APPCMDS" => self.appcmds(ins),
            "APPENV" => self.appenv(ins),
            "KUBEVERSION" => {
                let w = self.words(ins)?;
                let [v] = w.as_slice() else {
                    return Err(Error::Instruction(
                        "KUBEVERSION takes one version, e.g. v1.22.15".into(),
                    ));
                };
                self.config
                    .config
                    .labels
                    .insert(super::apps::LABEL_KUBE_VERSION.into(), v.clone());
                self.history(format!("KUBEVERSION {v}"), true);
                Ok(())
            }
            "COPY" | "ADD" => self.copy(ins, kw == "ADD"),
            "APP" | "CNI" | "CSI" => self.app(ins, kw),
            "RUN" => self.run_step(ins),
            other => Err(Error::Instruction(format!("unknown instruction {other}"))),
        }
    }

    pub(super) fn words(&self, ins: &Instruction) -> Result<Vec<String>> {
        words(&ins.rest, &self.vars).map_err(Error::Instruction)
    }

    /// JSON array (expanded) or shell words.
    pub(super) fn list(&self, ins: &Instruction) -> Result<Vec<String>> {
        match &ins.json {
            Some(v) => v
                .iter()
                .map(|s| expand(s, &self.vars).map_err(Error::Instruction))
                .collect(),
            None => self.words(ins),
        }
    }

    /// `K=V` words.
    fn pairs(&self, ins: &Instruction) -> Result<Vec<(String, String)>> {
        self.words(ins)?
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(Error::Instruction(format!(
                    "{} expects KEY=VALUE, got {w:?}",
                    ins.keyword
                ))),
            })
            .collect()
    }

    fn from(&mut self, ins: &Instruction) -> Result<()> {
        if self.from_seen {
            return Err(Error::Instruction(
                "a second FROM: multi-stage Kubefiles are not supported".into(),
            ));
        }
        self.from_seen = true;
        let mut w = self.words(ins)?;
        let mut platform = None;
        while w.first().is_some_and(|a| a.starts_with("--")) {
            let flag = w.remove(0);
            match flag.strip_prefix("--platform=") {
                Some(p) => {
                    platform = Some(
                        crate::image::platform::PlatformSpec::parse(p)
                            .map_err(|e| Error::Instruction(format!("FROM {flag}: {e}")))?,
                    )
                }
                None => {
                    return Err(Error::Instruction(format!(
                        "FROM: unsupported flag {flag} (only --platform=os/arch[/variant])"
                    )))
                }
            }
        }
        let image = match w.as_slice() {
            [image] => image,
            [image, as_, _] if as_.eq_ignore_ascii_case("as") => image,
            _ => {
                return Err(Error::Instruction(
                    "FROM takes one image (scratch or a local image)".into(),
                ))
            }
        };
        if image != "scratch" {
            // FROM --platform wins; else the platform being built; else this
            // machine's (a single-platform base of another one is taken).
            let want = match platform.clone().or_else(|| self.target.clone()) {
                Some(p) => Want::Exactly(p),
                None => Want::Host,
            };
            let base = self
                .store
                .resolve_pinned_for(image, &want)
                .map_err(|e| match e {
                    Error::ImageNotFound(n) => Error::Instruction(format!(
                        "base image {n} is not in the store (build, pull or load it first)"
                    )),
                    Error::Platform(why) => Error::Instruction(format!("base {why}")),
                    other => other,
                })?;
            log::info!(
                " ---> base {} ({} layers, {})",
                base.id.short(),
                base.manifest.layers.len(),
                base.platform()
            );
            self.start_from(base)?;
        }
        if let Some(p) = platform {
            // The image is for that platform; `${ARCH}` names it.
            self.vars.insert("ARCH".into(), p.arch.clone());
            self.vars.insert("TARGETARCH".into(), p.arch.clone());
            self.vars.insert("TARGETOS".into(), p.os.clone());
            self.vars.insert("TARGETPLATFORM".into(), p.to_string());
            self.vars.insert(
                "TARGETVARIANT".into(),
                p.variant.clone().unwrap_or_default(),
            );
            self.config.os = p.os;
            self.config.architecture = p.arch;
            self.config.variant = p.variant;
        }
        Ok(())
    }

    fn arg(&mut self, ins: &Instruction) -> Result<()> {
        for w in self.words(ins)? {
            let (k, default) = match w.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (w.clone(), None),
            };
            let given = self
                .opts
                .build_args
                .iter()
                .rev()
                .find(|(bk, _)| *bk == k)
                .map(|(_, v)| v.clone());
            if given.is_some() {
                self.used_args.push(k.clone());
            }
            if let Some(v) = given.or(default) {
                self.vars.insert(k.clone(), v.clone());
                self.args.insert(k, v);
            }
        }
        Ok(())
    }

    fn env(&mut self, ins: &Instruction) -> Result<()> {
        let w = self.words(ins)?;
        let pairs = if w.first().is_some_and(|f| f.contains('=')) {
            self.pairs(ins)?
        } else {
            // Legacy form: ENV KEY value with spaces
            let (k, v) = ins
                .rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| Error::Instruction("ENV expects KEY=VALUE".into()))?;
            vec![(
                k.to_string(),
                expand(v.trim(), &self.vars).map_err(Error::Instruction)?,
            )]
        };
        for (k, v) in pairs {
            self.config
                .config
                .env
                .retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(&k));
            self.config.config.env.push(format!("{k}={v}"));
            self.extension.env.insert(k.clone(), v.clone());
            self.vars.insert(k, v);
        }
        self.history(format!("ENV {}", ins.rest), true);
        Ok(())
    }

    fn copy(&mut self, ins: &Instruction, add: bool) -> Result<()> {
        let mut args = self.list(ins)?;
        let mut req = CopyRequest {
            sources: Vec::new(),
            dest: String::new(),
            chown: None,
            chmod: None,
            add,
            remote: Vec::new(),
        };
        let mut checksum = None;
        while args.first().is_some_and(|a| a.starts_with("--")) {
            let flag = args.remove(0);
            let (name, value) = flag.split_once('=').unwrap_or((&flag, ""));
            match name {
                "--chown" => {
                    let (u, g) = value.split_once(':').unwrap_or((value, value));
                    let (u, g) = (u.parse(), g.parse());
                    let (Ok(u), Ok(g)) = (u, g) else {
                        return Err(Error::Instruction(format!(
                            "--chown={value}: use numeric UID[:GID]"
                        )));
                    };
                    req.chown = Some((u, g));
                }
                "--chmod" => {
                    req.chmod = Some(u32::from_str_radix(value, 8).map_err(|_| {
                        Error::Instruction(format!("--chmod={value}: use an octal mode"))
                    })?);
                }
                "--checksum" if add => {
                    let d: crate::digest::Digest = value.parse().map_err(|_| {
                        Error::Instruction(format!(
                            "--checksum={value}: use sha256:<64 hex digits>"
                        ))
                    })?;
                    checksum = Some(d);
                }
                _ => {
                    return Err(Error::Instruction(format!(
                        "unsupported {} flag {name}",
                        ins.keyword
                    )))
                }
            }
        }
        if args.len() < 2 {
            return Err(Error::Instruction(format!(
                "{} needs at least one source and a destination",
                ins.keyword
            )));
        }
        req.dest = args.pop().unwrap_or_default();
        let (urls, local): (Vec<String>, Vec<String>) =
            args.into_iter().partition(|a| super::remote::is_remote(a));
        if let Some(bad) = local.iter().find(|a| a.contains("://")) {
            return Err(Error::Instruction(format!(
                "{bad}: sources are paths in the build context or http(s):// URLs"
            )));
        }
        if checksum.is_some() && (urls.len() != 1 || !local.is_empty()) {
            return Err(Error::Instruction(
                "--checksum needs exactly one source, an http(s):// URL".into(),
            ));
        }
        req.sources = local;
        req.remote = self.download_all(&urls, checksum.as_ref())?;
        let made = self.layer_step(&req, format!("{} {}", ins.keyword, ins.rest));
        super::remote::remove(&req.remote);
        made
    }

    /// Downloads the `http(s)://` sources of a step into `tmp/`.
    pub(super) fn download_all(
        &mut self,
        urls: &[String],
        checksum: Option<&crate::digest::Digest>,
    ) -> Result<Vec<super::remote::Downloaded>> {
        let mut out = Vec::new();
        for url in urls {
            let dir = self.store.tmp_path("remote");
            log::info!(" ---> downloading {url}");
            match super::remote::download(url, &dir, checksum) {
                Ok(d) => out.push(d),
                Err(e) => {
                    // Nothing of a failed step stays in the store.
                    let _ = std::fs::remove_dir_all(&dir);
                    super::remote::remove(&out);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Plans, caches and writes one layer.
    pub(super) fn layer_step(&mut self, req: &CopyRequest, created_by: String) -> Result<()> {
        let below = Below {
            layers: self.layers.iter().rev().map(|(_, _, l)| l).collect(),
        };
        let mut items = plan_copy(&self.context, req, &below, &self.store.tmp_path("add"))?;
        if let Some(epoch) = self.opts.timestamp {
            clamp_mtimes(items.values_mut(), epoch);
        }
        let mut h = Sha256::new();
        h.update(self.chain.0);
        h.update(created_by.as_bytes());
        fingerprint(&items, &mut h);
        let mut content = Sha256::new();
        fingerprint(&items, &mut content);
        let content = Digest(content.finalize().into());
        let key = Digest(h.finalize().into());
        let progress = self.opts.progress;
        let before = self.layers.len();
        self.cached_layer(key, created_by, |st| {
            // Another platform of this build made the same layer.
            if let Some(made) = st.memo.get(&content) {
                log::info!(" ---> same as another platform's layer {}", made.digest);
                return Ok(Some(*made));
            }
            stream_layer(st.store, &items, progress).map(Some)
        })?;
        if let Some((digest, size, layer)) = self.layers.get(before) {
            self.memo.entry(content).or_insert(crate::store::Ingested {
                digest: *digest,
                size: *size,
                existed: true,
                entries: layer.index.len(),
            });
        }
        Ok(())
    }

    /// Reuses the layer an earlier build made under `key`, else makes it with
    /// `make` (`None`: the step changed nothing, so it adds no layer).
    pub(super) fn cached_layer(
        &mut self,
        key: Digest,
        created_by: String,
        make: impl FnOnce(&Self) -> Result<Option<crate::store::Ingested>>,
    ) -> Result<()> {
        self.chain = key;
        if !self.opts.no_cache {
            if let Some((digest, size)) = self.store.cache_get(&key)? {
                let layer = self.store.open_layer(&digest)?;
                log::info!(" ---> Using cache {digest}");
                self.layers.push((digest, size, layer));
                self.history(created_by, false);
                return Ok(());
            }
        }
        let Some(ingested) = make(self)? else {
            log::info!(" ---> no changes: no layer");
            self.history(created_by, true);
            return Ok(());
        };
        if !ingested.existed {
            self.new_blobs.push(ingested.digest);
        }
        self.cache_entries.push((key, ingested.digest));
        let layer = self.store.open_layer(&ingested.digest)?;
        log::info!(
            " ---> layer {} ({} entries, {})",
            ingested.digest,
            ingested.entries,
            human_bytes(ingested.size)
        );
        self.layers.push((ingested.digest, ingested.size, layer));
        self.history(created_by, false);
        Ok(())
    }
}
