//! `sealer`: ClusterImages for Kubernetes without unpacking. The store (an
//! OCI image layout), images, the Kubefile build, and the command line, on top
//! of `sealer-fs`, which serves tar layers as one filesystem.

#![warn(missing_docs)]

pub mod archive;
pub mod build;
pub mod check;
pub mod cli;
pub mod compress;
pub mod digest;
pub mod error;
pub mod gotmpl;
pub mod helm;
pub mod human;
pub mod image;
pub mod lazy;
pub mod mount;
pub mod process;
pub mod progress;
pub mod registry;
pub mod rootless;
pub mod sbom;
pub mod serve;
pub mod sign;
pub mod store;

pub use error::{Error, Result};
