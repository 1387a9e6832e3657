//! The integration tests, one binary (as ripgrep does): this file only
//! declares the modules. They run the built `sealer` binary and the library
//! against temporary stores, and compare merged layers with the kernel's
//! overlayfs.

mod air_gap;
mod archive;
mod bad_input;
mod byte_names;
mod charts;
mod check;
mod cli;
mod concurrency;
mod crash;
mod delta_split;
mod diff;
mod entry_attrs;
mod fsck;
mod fuzz;
mod hostile;
mod hostile_build;
mod image_cache;
mod image_cmds;
mod kubefile;
mod kubefile_v011;
mod lazy;
mod logging;
mod mirror;
mod mount;
mod mount_security;
mod multi_arch;
mod overlay_oracle;
mod registry;
mod registry_auth;
mod rootless;
mod rw;
mod sbom;
mod sealer_v011;
mod sealer_v08;
mod serve;
mod sign;
mod skopeo;
mod util;
