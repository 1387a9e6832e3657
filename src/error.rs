//! The errors of the `sealer` library: each says what failed and where.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// Everything the store, image and build code can fail with.
///
/// An error either says everything itself (its cause, if any, is part of
/// its message and not chained), or wraps another error as its `source`
/// and says only what it adds (`Kubefile:3`, `container image X (from Y)`):
/// never both, so the command line prints the chain joined with `: ` and
/// no cause twice.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed on `path`.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error (part of the message, not chained).
        err: io::Error,
    },
    /// No image matches the reference.
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// A Kubefile cannot be parsed at a line.
    #[error("{file}:{line}: {msg}")]
    Kubefile {
        /// The Kubefile's path.
        file: String,
        /// 1-based line of the instruction.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The step of a Kubefile line failed; `source` says why.
    #[error("{file}:{line}")]
    Step {
        /// The Kubefile's path.
        file: String,
        /// 1-based line of the instruction.
        line: usize,
        /// Why the step failed.
        #[source]
        source: Box<Error>,
    },
    /// Building one platform of a multi-platform image failed.
    #[error("platform {platform}")]
    ForPlatform {
        /// The platform.
        platform: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// An instruction is used wrongly (arguments, flags, order).
    #[error("{0}")]
    Instruction(String),
    /// A RUN command failed to start or exited unsuccessfully.
    #[error("RUN failed: {command} {why}")]
    Run {
        /// The command line.
        command: String,
        /// What happened (`exited with exit status: 1`, `cannot be started: ...`).
        why: String,
    },
    /// An image reference is not valid.
    #[error("invalid image reference {text:?}: {why}")]
    Reference {
        /// The reference as given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// JSON that cannot be read or written.
    #[error("{what}: {err}")]
    Json {
        /// What was being read or written.
        what: String,
        /// The parser's error (part of the message, not chained).
        err: serde_json::Error,
    },
    /// A path of an image's rootfs cannot be read as asked.
    #[error("{path}: {why}")]
    InImage {
        /// The path inside the image.
        path: String,
        /// What is wrong (no such file, a directory, a symlink loop).
        why: String,
    },
    /// A file or directory the command was given (build context,
    /// Kubefile, image list) cannot be used.
    #[error("{why}")]
    Input {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong, naming it.
        why: String,
    },
    /// A COPY/ADD source, destination or ignore rule of the build context
    /// cannot be used.
    #[error("{0}")]
    Source(String),
    /// A manifest or index (from a registry or an archive) cannot be used.
    #[error("{0}")]
    Manifest(String),
    /// A platform is malformed, unknown, or not one an image has.
    #[error("{0}")]
    Platform(String),
    /// A mount cannot be made, found or undone.
    #[error("{why}")]
    Mount {
        /// The mountpoint.
        path: PathBuf,
        /// What is wrong, naming the mountpoint.
        why: String,
    },
    /// A layer blob cannot be read as a layer.
    #[error("layer {digest}: {err}")]
    Layer {
        /// The layer.
        digest: Digest,
        /// Why (part of the message, not chained).
        err: sealer_fs::IndexError,
    },
    /// A blob is missing, corrupt or not what it claims.
    #[error("blob {digest}: {why}")]
    Blob {
        /// The blob.
        digest: Digest,
        /// Why.
        why: String,
    },
    /// A registry could not be reached, refused a request or answered
    /// something we cannot use.
    #[error("{registry}: {why}")]
    Registry {
        /// The registry host (and the repository or reference concerned).
        registry: String,
        /// What happened.
        why: String,
    },
    /// An archive (save/load) is malformed, truncated or unsafe.
    #[error("archive {}: {why}", path.display())]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A container image the build caches into `registry/` cannot be had;
    /// `source` says why.
    #[error("container image {image} (from {asked_by})")]
    ContainerImage {
        /// The normalised reference.
        image: String,
        /// The file and line (or chart and values path) that asked for it.
        asked_by: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// What this machine lacks for an ordinary user (rootless sealer), and
    /// how to enable it.
    #[error("{0}")]
    Rootless(String),
    /// Anything else the user can act on.
    #[error("{0}")]
    Invalid(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an `io::Error`.
pub trait IoContext<T> {
    /// Names the path the failed operation worked on.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|err| Error::Io {
            path: path.into(),
            err,
        })
    }
}

/// JSON (de)serialisation errors, saying what was being read or written.
pub trait JsonContext<T> {
    /// Names what the JSON was.
    fn json(self, what: impl Into<String>) -> Result<T>;
}

impl<T> JsonContext<T> for serde_json::Result<T> {
    fn json(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|err| Error::Json {
            what: what.into(),
            err,
        })
    }
}

/// An error and its chain of sources on one line, joined with `: `.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Shorthand for [`Error::Invalid`].
pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}
