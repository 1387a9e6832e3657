//! The errors of the `sealer` library: each says what failed and where.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// Everything the store, image and build code can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// No image matches the reference.
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// A Kubefile is wrong at a line.
    #[error("{file}:{line}: {msg}")]
    Kubefile {
        /// The Kubefile's path.
        file: String,
        /// 1-based line of the instruction.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A layer blob cannot be read as a layer.
    #[error("layer {digest}: {source}")]
    Layer {
        /// The layer.
        digest: Digest,
        /// Why.
        source: sealer_fs::IndexError,
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
    /// A container image the build caches into `registry/` cannot be had.
    #[error("container image {image} (from {asked_by}): {why}")]
    ContainerImage {
        /// The normalised reference.
        image: String,
        /// The file and line (or chart and values path) that asked for it.
        asked_by: String,
        /// What went wrong.
        why: String,
    },
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
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

/// Shorthand for [`Error::Invalid`].
pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}
