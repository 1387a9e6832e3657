//! Helm charts rendered as Helm 3.9 renders them (`helm template`): charts
//! loaded with their dependencies, values coalesced, every template executed
//! by [`crate::gotmpl`] with sprig's and Helm's functions. Imports nothing of
//! sealer but `gotmpl`.
//!
//! ```text
//! (path, bytes)* --load_files--> Chart --render(opts)--> [Rendered { template, text }]
//!   chart, metadata, archive, ignore   values, deps, objects, files, render
//! ```

mod api_versions;
mod archive;
mod chart;
mod deps;
mod files;
pub mod funcs;
mod ignore;
mod metadata;
mod objects;
mod render;
mod schema;
mod semver;
mod values;
pub mod yaml;

pub use archive::ArchiveError;
pub use chart::{load_dir, load_files, Chart, File, LoadError};
pub use deps::DepError;
pub use ignore::IgnoreError;
pub use metadata::{Dependency, Maintainer, Metadata};
pub use render::{render, split_manifests, Release, RenderError, RenderOptions, Rendered};
pub use values::{coalesce_tables, parse_values, CoalesceError};

#[cfg(test)]
mod tests;
