//! The command line: clap types, one thin file per command, and the one place
//! that turns errors into `error: ...` and an exit status: 1, or 2 for
//! `sealer diff IMAGE IMAGE` (whose 1 means "the images differ", as `diff`'s).

mod build;
mod check;
mod commit;
mod diff;
mod fsck;
mod generate_key_pair;
mod images;
mod inspect;
mod json;
mod load;
mod logger;
mod login;
mod ls;
mod man;
mod manifest;
mod merge;
mod mirror;
mod mount;
mod prune;
mod pull;
mod push;
mod rmi;
mod save;
mod sbom;
mod search;
mod serve;
mod sign;
mod version;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{CommandFactory, Parser, Subcommand};

use crate::store::Store;

/// ClusterImages for Kubernetes, without unpacking.
#[derive(Parser)]
#[command(name = "sealer", version, about, propagate_version = true)]
pub struct Cli {
    /// Store directory [default: /var/lib/sealer as root, else $XDG_DATA_HOME/sealer]
    #[arg(long, global = true, env = "SEALER_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// registries.conf (v2 TOML: mirrors, locations) for pulls and lazy reads
    /// [default: /etc/containers/registries.conf if it exists]
    #[arg(
        long,
        global = true,
        env = "CONTAINERS_REGISTRIES_CONF",
        value_name = "FILE"
    )]
    registries_conf: Option<PathBuf>,
    /// More output: -v debug, -vv trace (or RUST_LOG=LEVEL)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a ClusterImage from a Kubefile and a build context
    Build(build::Args),
    /// List images
    Images(images::Args),
    /// Show an image's spec, layers and rootfs Metadata
    Inspect(inspect::Args),
    /// Give an image another name
    Tag {
        /// Existing image (name or id)
        source: String,
        /// New name
        target: String,
    },
    /// Remove images (by name or id)
    Rmi(rmi::Args),
    /// List files of an image without unpacking it
    Ls(ls::Args),
    /// Print a file of an image without unpacking it
    Cat {
        /// Image (name or id)
        image: String,
        /// Path inside the image's rootfs (any bytes)
        path: std::ffi::OsString,
        #[command(flatten)]
        platform: PlatformArg,
    },
    /// Mount an image's rootfs (or every layer) without unpacking; no arguments lists mounts
    Mount(mount::Args),
    /// Unmount what `sealer mount` mounted and stop its server
    Umount(mount::UmountArgs),
    /// Make the changes of a `--rw` mount a new image (base layers + one layer)
    Commit(commit::Args),
    /// What changed from one image to another, or in a `--rw` mount (A added, C changed, D deleted)
    Diff(diff::Args),
    /// Pull an image from a registry
    Pull(pull::Args),
    /// Create, fill, inspect, push and delete manifest lists (multi-platform names)
    #[command(subcommand)]
    Manifest(manifest::Args),
    /// Merge images into one: their layers in order, shared layers once, later images winning
    Merge(merge::Args),
    /// List the tags of a repository (newest version first) or the repositories of a registry
    Search(search::Args),
    /// Push the container images cached in an image's registry/ to another registry, same digests
    Mirror(mirror::Args),
    /// Push an image to a registry
    Push(push::Args),
    /// Log in to a registry (credentials go to docker's config.json)
    Login(login::Args),
    /// Log out of a registry
    Logout(login::LogoutArgs),
    /// Save images to an archive (OCI or docker)
    Save(save::Args),
    /// Software bill of materials of an image (SPDX 2.3 or CycloneDX 1.5 JSON), without unpacking
    Sbom(sbom::Args),
    /// Load images from an archive (OCI or docker)
    Load(load::Args),
    /// Write a key pair as cosign does (NAME.key sealed with a passphrase, NAME.pub)
    GenerateKeyPair(generate_key_pair::Args),
    /// Sign an image (in the store, or in its registry) in cosign's format
    Sign(sign::Args),
    /// Verify an image's cosign signature with a public key (exit 1 if none holds)
    Verify(sign::VerifyArgs),
    /// Serve ClusterImages and their container images as a read-only registry
    #[command(name = "serve")]
    Registry(serve::Args),
    /// Will an image install offline? Container images its rootfs needs that registry/ lacks, corrupt or missing blobs (exit 1 if any)
    Check(check::Args),
    /// Check every blob, ref and layer index of the store (--repair fixes)
    Fsck(fsck::Args),
    /// Remove blobs, indexes, cache entries, temporary files and dead mounts nothing needs
    Prune(prune::Args),
    /// Show sealer's version (JSON: gitVersion, gitCommit, buildDate, rustVersion, compiler, platform)
    Version(version::Args),
    /// The detached mount server (started by `sealer mount`, spec on stdin)
    #[command(name = "__serve", hide = true)]
    Serve,
    /// Print shell completions
    Completion {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == crate::build::guard::GUARD_ARG)
    {
        logger::init(0);
        return crate::build::guard::main(&args[2..]);
    }
    if args
        .get(1)
        .is_some_and(|a| a == crate::rootless::REMOVE_TREE_ARG)
    {
        logger::init(0);
        return crate::rootless::remove_tree_main(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == man::MAN_ARG) {
        return man::main(&args[2..]);
    }
    let cli = Cli::parse();
    logger::init(cli.verbose);
    let failed = match &cli.command {
        Command::Diff(a) if a.compares_images() => 2,
        _ => 1,
    };
    match run(cli) {
        Ok(status) => status,
        Err(e) if e.chain().any(is_broken_pipe) => 0,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            failed
        }
    }
}

/// The error and its causes on one line, joined with `: ` (no error prints
/// its source and chains it too: see `crate::error::Error`).
fn message(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        || matches!(e.downcast_ref::<crate::Error>(), Some(crate::Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Where an ordinary user's command runs (see `crate::rootless`): RUN
/// steps and `--rw` mounts in a user namespace, commands about such a mount
/// in its server's.
fn namespace(store: &Store, command: &Command) -> anyhow::Result<crate::rootless::Namespace> {
    use crate::rootless::{self, Namespace};
    if rootless::is_root() || rootless::in_user_namespace() {
        return Ok(Namespace::Here);
    }
    let about = |dir: Option<&std::path::Path>| match dir {
        Some(d) => crate::mount::namespace_for(store, d),
        None => Ok(Namespace::Here),
    };
    Ok(match command {
        // Every build, so that COPY records the user's files as root's
        // whether or not the Kubefile has RUN steps (which need it).
        Command::Build(a) => {
            let run = a.has_run_steps();
            Namespace::New {
                fuse: run,
                required: run,
            }
        }
        Command::Mount(a) => a.namespace()?,
        Command::Umount(a) => about(a.dir())?,
        Command::Commit(a) => about(Some(a.dir()))?,
        Command::Diff(a) => about(a.mount_dir())?,
        _ => Namespace::Here,
    })
}

/// `--platform` of a command that reads one image.
#[derive(clap::Args)]
pub struct PlatformArg {
    /// Platform of a multi-platform image [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
}

impl PlatformArg {
    /// What to choose from a multi-platform image; a bad platform is an
    /// error naming `image` too.
    pub fn want(&self, image: &str) -> anyhow::Result<crate::image::platform::Want> {
        crate::image::platform::Want::parse(self.platform.as_deref())
            .with_context(|| format!("image {image}"))
    }

    /// As given.
    pub fn given(&self) -> Option<&str> {
        self.platform.as_deref()
    }
}

/// Runs a command; returns its exit status (0 but for `sealer diff`).
fn run(cli: Cli) -> anyhow::Result<i32> {
    let root = cli.root.clone().unwrap_or_else(Store::default_root);
    let verbose = cli.verbose;
    if let Some(conf) = &cli.registries_conf {
        // Read by the registry client of this process and of the mount
        // servers it starts (lazy reads).
        std::env::set_var(crate::registry::mirrors::ENV, conf);
    }
    if let Command::Completion { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "sealer", &mut std::io::stdout());
        return Ok(0);
    }
    let command = match cli.command {
        Command::Login(a) => return login::run(a).map(|()| 0),
        Command::Logout(a) => return login::run_logout(a).map(|()| 0),
        Command::GenerateKeyPair(a) => return generate_key_pair::run(a).map(|()| 0),
        Command::Search(a) => return search::run(a).map(|()| 0),
        Command::Version(a) => return version::run(a).map(|()| 0),
        other => other,
    };
    let store =
        Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))?;
    if let Some(status) = namespace(&store, &command)?.rerun(store.root())? {
        return Ok(status);
    }
    if let Command::Diff(a) = command {
        return diff::run(&store, a);
    }
    if let Command::Check(a) = command {
        return check::run(&store, a);
    }
    let done = match command {
        Command::Build(a) => build::run(&store, a),
        Command::Images(a) => images::run(&store, a),
        Command::Inspect(a) => inspect::run(&store, a),
        Command::Tag { source, target } => {
            store.tag(&source, &target)?;
            Ok(())
        }
        Command::Rmi(a) => rmi::run(&store, a),
        Command::Ls(a) => ls::run(&store, a),
        Command::Cat {
            image,
            path,
            platform,
        } => {
            let img = store.resolve_for(&image, &platform.want(&image)?)?;
            let view = crate::image::view::RootView::open(&store, &img)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            view.copy_file(
                std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()),
                &mut out,
            )
            .with_context(|| format!("image {image}"))?;
            out.flush()?;
            Ok(())
        }
        Command::Mount(a) => mount::run(&store, a),
        Command::Umount(a) => mount::run_umount(&store, a),
        Command::Serve => Ok(crate::mount::serve_detached(&store)?),
        Command::Commit(a) => commit::run(&store, a),
        Command::Pull(a) => pull::run(&store, a),
        Command::Mirror(a) => mirror::run(&store, a),
        Command::Push(a) => push::run(&store, a),
        Command::Manifest(a) => manifest::run(&store, a),
        Command::Merge(a) => merge::run(&store, a),
        Command::Save(a) => save::run(&store, a),
        Command::Sbom(a) => sbom::run(&store, a),
        Command::Load(a) => load::run(&store, a),
        Command::Fsck(a) => fsck::run(&store, a),
        Command::Registry(a) => serve::run(&store, a, verbose),
        Command::Sign(a) => sign::run(&store, a),
        Command::Verify(a) => sign::run_verify(&store, a),
        Command::Prune(a) => prune::run(&store, a),
        Command::Completion { .. }
        | Command::Login(_)
        | Command::Logout(_)
        | Command::GenerateKeyPair(_)
        | Command::Search(_)
        | Command::Version(_)
        | Command::Diff(_)
        | Command::Check(_) => Ok(()),
    };
    done.map(|()| 0)
}
