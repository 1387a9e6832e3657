//! `sealer build`: runs a Kubefile's instructions against the store. Each
//! COPY/ADD/APP/CNI/CSI streams one deterministic layer tar straight into
//! ingest; config-only instructions add history; the tag is written only
//! after every step succeeded.

pub mod apps;
pub mod context;
pub mod copy;
pub mod guard;
pub mod images;
pub mod kubefile;
pub mod layer;
pub mod remote;
mod run;
mod steps;
pub mod upper_layer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sealer_fs::Layer;

use crate::digest::Digest;
use crate::error::{Error, IoContext, JsonContext, Result};
use crate::image::extension::{self as ext, ImageExtension};
use crate::image::oci::{host_arch, Config, History, RootFs};
use crate::image::platform::PlatformSpec;
use crate::image::{Image, Reference};
use crate::store::Store;

/// Largest Kubefile we read: far beyond any real one, small enough to hold.
const MAX_KUBEFILE: u64 = 16 << 20;

/// What `sealer build` was asked to do.
pub struct BuildOptions {
    /// `-t NAME[:TAG]`.
    pub tag: String,
    /// `-f FILE`, default `CONTEXT/Kubefile`.
    pub file: Option<PathBuf>,
    /// The build context directory.
    pub context: PathBuf,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// Show a progress bar for big copies (stderr is a terminal).
    pub progress: bool,
    /// How container images are cached into `registry/`.
    pub images: images::CacheOptions,
    /// `--type`: `kube-installer` (default) or `app-installer`.
    pub image_type: String,
    /// `--platform`: the platforms to build, each with its `${ARCH}`; more
    /// than one makes the tag name an image index. Empty: the base's (or
    /// FROM --platform's, or this machine's) platform, as one image.
    pub platforms: Vec<PlatformSpec>,
    /// Reproducible builds (`--timestamp`, else `SOURCE_DATE_EPOCH`):
    /// seconds since the epoch that every created time is, and that file
    /// mtimes in the layers this build writes are clamped to.
    pub timestamp: Option<i64>,
    /// `--sbom`: attach an SPDX SBOM of the image as an OCI referrer.
    pub sbom: bool,
}

/// The image being built, step by step.
struct State<'s> {
    store: &'s Store,
    file: String,
    context: copy::Context,
    opts: &'s BuildOptions,
    vars: HashMap<String, String>,
    args: BTreeMap<String, String>,
    used_args: Vec<String>,
    config: Config,
    /// Layers, bottom first, with their sizes and opened for lookups.
    layers: Vec<(Digest, u64, Layer)>,
    /// Cache chain: the parent image id, then each instruction.
    chain: Digest,
    from_seen: bool,
    /// Layer blobs this build added to the store, removed again if it fails.
    new_blobs: Vec<Digest>,
    /// Cache entries (key, layer) to record once the image is tagged.
    cache_entries: Vec<(Digest, Digest)>,
    /// Annotations of the manifest (the cached container images).
    annotations: BTreeMap<String, String>,
    /// Sealer v0.11's image extension (applications, launch, env).
    extension: ImageExtension,
    /// The apps this Kubefile adds, with their APP lines.
    app_lines: Vec<(String, usize)>,
    /// The platform asked with `--platform`, if any.
    target: Option<PlatformSpec>,
    /// Layers of COPY/ADD/APP steps by the fingerprint of their contents,
    /// shared by the platforms of one build: a step whose inputs are the
    /// same for every platform is written once.
    memo: HashMap<Digest, crate::store::Ingested>,
    /// A RUN for a foreign platform was announced.
    warned_foreign: bool,
}

/// Builds and tags an image (one per platform asked, under an index when
/// there are several); on any error nothing is tagged.
pub fn build(store: &Store, opts: &BuildOptions) -> Result<Image> {
    let name = Reference::parse(&opts.tag)?.full_name();
    let targets: Vec<Option<PlatformSpec>> = if opts.platforms.is_empty() {
        vec![None]
    } else {
        opts.platforms.iter().cloned().map(Some).collect()
    };
    let mut states: Vec<State> = Vec::new();
    let mut images = Vec::new();
    let mut memo = HashMap::new();
    let mut failed = None;
    for target in targets {
        if opts.platforms.len() > 1 {
            log::info!("PLATFORM {}", target.as_ref().expect("a platform"));
        }
        let (mut st, instructions) = match prepare(store, opts, target, memo) {
            Ok(prepared) => prepared,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let built = st.run(&instructions).and_then(|()| {
            st.check_apps()?;
            if !opts.images.lite {
                st.cache_images()?;
            }
            let img = st.finish_image()?;
            if opts.sbom {
                let named = Image {
                    name: Some(name.clone()),
                    ..img.clone()
                };
                crate::sbom::attach::attach(store, &named)?;
            }
            Ok(img)
        });
        memo = std::mem::take(&mut st.memo);
        states.push(st);
        match built {
            Ok(img) => images.push(img),
            Err(e) => {
                failed = Some(match &states.last().and_then(|s| s.target.clone()) {
                    Some(p) if opts.platforms.len() > 1 => Error::ForPlatform {
                        platform: p.to_string(),
                        source: Box::new(e),
                    },
                    _ => e,
                });
                break;
            }
        }
    }
    let tagged = match failed {
        Some(e) => Err(e),
        None => tag_built(store, &name, &images),
    };
    match tagged {
        Ok(img) => {
            for st in &states {
                st.record_cache();
            }
            log::info!("Successfully built {name} (id {})", img.id.short());
            Ok(img)
        }
        Err(e) => {
            discard(store, &states, &images);
            Err(e)
        }
    }
}

/// Tags the built image, or an index of the images of several platforms.
fn tag_built(store: &Store, name: &str, images: &[Image]) -> Result<Image> {
    let lock = store.lock()?;
    if let [img] = images {
        store.tag_image(name, img, &lock)?;
        return Ok(Image {
            name: Some(name.into()),
            ..img.clone()
        });
    }
    let index = store.commit_index(name, images, &lock)?;
    log::info!("index {index}: {} platforms", images.len());
    let first = images.first().expect("one image per platform");
    Ok(Image {
        name: Some(name.into()),
        index: Some(index),
        ..first.clone()
    })
}

/// After a failed build: removes the layers its platforms stored, so the
/// store is as before (a layer a tag reaches meanwhile stays).
fn discard(store: &Store, states: &[State], images: &[Image]) {
    let mut blobs: Vec<Digest> = states.iter().flat_map(|s| s.new_blobs.clone()).collect();
    // The configs and manifests of the platforms that were finished.
    blobs.extend(images.iter().flat_map(|i| [i.manifest_digest, i.id]));
    if blobs.is_empty() {
        return;
    }
    let removed = store
        .lock()
        .and_then(|lock| store.remove_unreferenced(&blobs, &lock));
    if let Err(e) = removed {
        log::warn!("removing the layers of the failed build: {e}");
    }
}

/// The container images one platform of a build would cache.
pub struct PlatformImages {
    /// The platform (the one asked, else the base's or this machine's).
    pub platform: PlatformSpec,
    /// Its images, as the build would cache them.
    pub images: Vec<images::Wanted>,
}

/// Runs the Kubefile's steps for each platform asked (one when none is) and
/// lists the container images the build would cache for each, in the order
/// the platforms were given, fetching none; tags nothing and leaves the
/// store as before.
pub fn list_images(store: &Store, opts: &BuildOptions) -> Result<Vec<PlatformImages>> {
    let targets: Vec<Option<PlatformSpec>> = if opts.platforms.is_empty() {
        vec![None]
    } else {
        opts.platforms.iter().cloned().map(Some).collect()
    };
    let mut states: Vec<State> = Vec::new();
    let mut listed = Vec::new();
    let mut memo = HashMap::new();
    let mut failed = None;
    for target in targets {
        let (mut st, instructions) = match prepare(store, opts, target.clone(), memo) {
            Ok(prepared) => prepared,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let images = st
            .run(&instructions)
            .and_then(|()| images::wanted_images(&st.view()?, &opts.images, st.kube_version()));
        memo = std::mem::take(&mut st.memo);
        let platform = target.unwrap_or_else(|| PlatformSpec::of_config(&st.config));
        states.push(st);
        match images {
            Ok(images) => listed.push(PlatformImages { platform, images }),
            Err(e) => {
                failed = Some(if opts.platforms.len() > 1 {
                    Error::ForPlatform {
                        platform: platform.to_string(),
                        source: Box::new(e),
                    }
                } else {
                    e
                });
                break;
            }
        }
    }
    discard(store, &states, &[]);
    match failed {
        Some(e) => Err(e),
        None => Ok(listed),
    }
}

/// Whether the Kubefile `file` (default `CONTEXT/Kubefile`) has RUN steps,
/// which an ordinary user runs in a user namespace. A Kubefile that cannot
/// be read or parsed says no: the build itself reports it.
pub fn has_run_steps(file: Option<&Path>, context: &Path) -> bool {
    let file = file.map_or_else(|| context.join("Kubefile"), Path::to_path_buf);
    read_kubefile(&file)
        .ok()
        .and_then(|text| kubefile::parse(&text).ok())
        .is_some_and(|ins| ins.iter().any(|i| i.keyword == "RUN"))
}

fn prepare<'s>(
    store: &'s Store,
    opts: &'s BuildOptions,
    target: Option<PlatformSpec>,
    memo: HashMap<Digest, crate::store::Ingested>,
) -> Result<(State<'s>, Vec<kubefile::Instruction>)> {
    let bad_context = |why: String| Error::Input {
        path: opts.context.clone(),
        why,
    };
    let ctx_md = std::fs::metadata(&opts.context)
        .map_err(|e| bad_context(format!("build context {}: {e}", opts.context.display())))?;
    if !ctx_md.is_dir() {
        return Err(bad_context(format!(
            "build context {} is not a directory",
            opts.context.display()
        )));
    }
    let file = opts
        .file
        .clone()
        .unwrap_or_else(|| opts.context.join("Kubefile"));
    let text = read_kubefile(&file)?;
    let shown = file.display().to_string();
    let instructions = kubefile::parse(&text).map_err(|(line, msg)| Error::Kubefile {
        file: shown.clone(),
        line,
        msg,
    })?;
    if instructions.is_empty() {
        return Err(Error::Kubefile {
            file: shown,
            line: 1,
            msg: "no instructions".into(),
        });
    }
    apps::check_order(&instructions).map_err(|(line, msg)| Error::Kubefile {
        file: shown.clone(),
        line,
        msg,
    })?;
    let real = std::fs::canonicalize(&opts.context).at(&opts.context)?;
    let mut config = Config::default();
    if let Some(p) = &target {
        config.os = p.os.clone();
        config.architecture = p.arch.clone();
        config.variant = p.variant.clone();
    }
    let st = State {
        store,
        file: shown,
        context: copy::Context {
            ignore: context::Ignore::load(&real)?,
            real,
        },
        opts,
        vars: platform_vars(target.as_ref()),
        args: BTreeMap::new(),
        used_args: Vec::new(),
        config,
        layers: Vec::new(),
        chain: Digest::of(b"sealer-build-cache-v1"),
        from_seen: false,
        new_blobs: Vec::new(),
        cache_entries: Vec::new(),
        annotations: BTreeMap::new(),
        extension: ImageExtension::default(),
        app_lines: Vec::new(),
        target,
        memo,
        warned_foreign: false,
    };
    Ok((st, instructions))
}

/// The variables every step sees: sealer's `${ARCH}`, and buildah's
/// `TARGET*`/`BUILD*` platform arguments.
fn platform_vars(target: Option<&PlatformSpec>) -> HashMap<String, String> {
    let build = PlatformSpec::host();
    let target = target.cloned().unwrap_or_else(|| build.clone());
    HashMap::from([
        ("ARCH".to_string(), target.arch.clone()),
        ("TARGETPLATFORM".to_string(), target.to_string()),
        ("TARGETOS".to_string(), target.os.clone()),
        ("TARGETARCH".to_string(), target.arch.clone()),
        (
            "TARGETVARIANT".to_string(),
            target.variant.clone().unwrap_or_default(),
        ),
        ("BUILDPLATFORM".to_string(), build.to_string()),
        ("BUILDOS".to_string(), build.os.clone()),
        ("BUILDARCH".to_string(), build.arch.clone()),
    ])
}

fn read_kubefile(file: &Path) -> Result<String> {
    use std::io::Read as _;
    let bad = |why: String| Error::Input {
        path: file.to_path_buf(),
        why,
    };
    let too_big = |len: Option<u64>| {
        let size = len.map_or(String::new(), |n| format!(" ({n} bytes)"));
        bad(format!(
            "Kubefile {} is larger than the 16 MiB limit{size}",
            file.display()
        ))
    };
    let md =
        std::fs::metadata(file).map_err(|e| bad(format!("Kubefile {}: {e}", file.display())))?;
    if md.is_dir() {
        return Err(bad(format!("Kubefile {} is a directory", file.display())));
    }
    if md.len() > MAX_KUBEFILE {
        return Err(too_big(Some(md.len())));
    }
    // A pipe or a device (`-f /dev/zero`) says nothing of its size: read at
    // most one byte past the limit.
    let f = std::fs::File::open(file).at(file)?;
    let mut bytes = Vec::new();
    f.take(MAX_KUBEFILE + 1).read_to_end(&mut bytes).at(file)?;
    if bytes.len() as u64 > MAX_KUBEFILE {
        return Err(too_big(None));
    }
    String::from_utf8(bytes)
        .map_err(|_| bad(format!("Kubefile {} is not UTF-8 text", file.display())))
}

impl State<'_> {
    fn run(&mut self, instructions: &[kubefile::Instruction]) -> Result<()> {
        let total = instructions.len();
        for (i, ins) in instructions.iter().enumerate() {
            log::info!("STEP {}/{total}: {} {}", i + 1, ins.keyword, ins.rest);
            self.step(ins).map_err(|e| match e {
                Error::Kubefile { .. } | Error::Step { .. } => e,
                other => Error::Step {
                    file: self.file.clone(),
                    line: ins.line,
                    source: Box::new(other),
                },
            })?;
        }
        for (k, _) in &self.opts.build_args {
            if !self.used_args.contains(k) {
                log::warn!("build arg {k} was given but no ARG declares it");
            }
        }
        Ok(())
    }

    /// Writes the image's config and manifest (pinned, not tagged).
    fn finish_image(&mut self) -> Result<Image> {
        if !self.args.is_empty() {
            let args = serde_json::to_string(&self.args).json("the build's ARG values")?;
            self.config
                .config
                .labels
                .insert(crate::image::spec::LABEL_ARGS.into(), args);
        }
        self.config.created = Some(self.created());
        if self.config.architecture.is_empty() {
            self.config.architecture = host_arch().into();
        }
        if self.config.os.is_empty() {
            self.config.os = "linux".into();
        }
        let version = concat!("sealer-rs/", env!("CARGO_PKG_VERSION"));
        self.config
            .config
            .labels
            .insert(ext::LABEL_VERSION.into(), version.into());
        self.extension.build_client.sealer_version = version.into();
        self.extension.schema_version = ext::SCHEMA_VERSION.into();
        self.extension.kind = if self.opts.image_type.is_empty() {
            ext::KUBE_INSTALLER.into()
        } else {
            self.opts.image_type.clone()
        };
        self.annotations
            .insert(ext::ANNOTATION.into(), self.extension.to_annotation());
        let layers: Vec<(Digest, u64)> = self.layers.iter().map(|(d, s, _)| (*d, *s)).collect();
        self.config.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.0).collect(),
        };
        let config = serde_json::to_vec(&self.config).json("the image config")?;
        let lock = self.store.lock()?;
        self.store
            .write_image(&config, &layers, self.annotations.clone(), &lock)
    }

    /// Records the build cache entries of the steps (once tagged).
    fn record_cache(&self) {
        for (key, layer) in &self.cache_entries {
            if let Err(e) = self.store.cache_put(key, layer) {
                log::warn!("recording the build cache: {e}");
            }
        }
    }

    fn history(&mut self, created_by: String, empty_layer: bool) {
        self.config.history.push(History {
            created: Some(self.created()),
            created_by: Some(created_by),
            comment: None,
            empty_layer,
        });
    }

    /// The created time of the config and of history entries: the build's
    /// timestamp, else now.
    fn created(&self) -> String {
        match self.opts.timestamp {
            Some(secs) => format_time(secs, 'T', "Z"),
            None => now_rfc3339(),
        }
    }

    fn kubefile_error(&self, line: usize, msg: impl Into<String>) -> Error {
        Error::Kubefile {
            file: self.file.clone(),
            line,
            msg: msg.into(),
        }
    }

    /// Starts from a base image's layers and config.
    fn start_from(&mut self, base: Image) -> Result<()> {
        // Applications are inherited (sealer v0.11's processFrom); LAUNCH,
        // CMDS and the global env are the new image's own.
        if let Some(e) = base
            .manifest
            .annotations
            .get(ext::ANNOTATION)
            .and_then(|a| ImageExtension::from_annotation(a))
        {
            self.extension.applications = e.applications;
        }
        for l in &base.manifest.layers {
            let layer = self.store.open_layer(&l.digest)?;
            self.layers.push((l.digest, l.size, layer));
        }
        let mut config = base.config.clone();
        let labels = &mut config.config.labels;
        if let Some(args) = labels.remove(crate::image::spec::LABEL_ARGS) {
            labels.insert(crate::image::spec::LABEL_ARGS_PARENT.into(), args);
        }
        if let Some(cmd) = &config.config.cmd {
            let cmd = serde_json::to_string(cmd).json("the base image's CMD")?;
            labels.insert(crate::image::spec::LABEL_CMD_PARENT.into(), cmd);
        }
        config.config.cmd = None;
        self.chain = Digest::of(format!("{}\n{}", self.chain, base.id).as_bytes());
        self.config = config;
        Ok(())
    }
}

/// The current time as RFC 3339 UTC (`SOURCE_DATE_EPOCH` wins when set).
pub fn now_rfc3339() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    format_time(secs, 'T', "Z")
}

/// Formats seconds since the epoch as `YYYY-MM-DD<sep>hh:mm:ss<suffix>` (UTC).
pub fn format_time(secs: i64, sep: char, suffix: &str) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}{suffix}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_format() {
        assert_eq!(super::format_time(0, 'T', "Z"), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::format_time(1_700_000_000, ' ', ""),
            "2023-11-14 22:13:20"
        );
    }
}
