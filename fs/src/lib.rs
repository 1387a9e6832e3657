//! `sealer-fs`: a stack of tar layers served as one filesystem, without
//! unpacking. Reads tars ([`tar`]), indexes them ([`index`]), opens layers
//! ([`layer`]) and merges them with the overlay rules ([`merge`]). Knows
//! nothing of images, tags, registries or the command line.

#![warn(missing_docs)]

pub mod error;
pub mod fuse;
pub mod index;
pub mod layer;
pub mod merge;
pub mod sys;
pub mod tar;
pub mod upper;

pub use error::{IndexError, TarError};
pub use index::{EntryId, Kind, LayerIndex, Meta, ROOT};
pub use layer::{Layer, LayerBytes};
