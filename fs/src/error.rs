//! Errors of the filesystem crate: reading tars, building and opening indexes.
//! Each says everything itself: an OS error is part of the message and not
//! chained as a source, so no cause is printed twice.

use std::io;

/// A tar could not be read. Offsets are byte offsets of the header concerned.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// Reading the underlying bytes failed.
    #[error("reading tar at byte {offset}: {err}")]
    Io {
        /// Where.
        offset: u64,
        /// Why (part of the message, not chained).
        err: io::Error,
    },
    /// The archive ends inside a header or inside file data.
    #[error("tar is truncated: {what} at byte {offset} is cut short")]
    Truncated {
        /// Where.
        offset: u64,
        /// Which part.
        what: &'static str,
    },
    /// A header's checksum does not match (not a tar, or corrupt).
    #[error("not a valid tar: bad header checksum at byte {offset}")]
    Checksum {
        /// Where.
        offset: u64,
    },
    /// A numeric header field is malformed or out of range.
    #[error("not a valid tar: bad {field} field in header at byte {offset}")]
    Field {
        /// Where.
        offset: u64,
        /// Which field.
        field: &'static str,
    },
    /// A PAX extended header is malformed.
    #[error("bad PAX header at byte {offset}: {why}")]
    Pax {
        /// Where.
        offset: u64,
        /// Why.
        why: &'static str,
    },
    /// A GNU long name or PAX header larger than we accept.
    #[error("extended header at byte {offset} claims {size} bytes (limit 1 MiB)")]
    MetaTooLarge {
        /// Where.
        offset: u64,
        /// Claimed size.
        size: u64,
    },
    /// An entry type we do not serve (sparse files, multi-volume parts, ...).
    #[error("unsupported tar entry type {:?} at byte {offset}", *typeflag as char)]
    UnsupportedType {
        /// Where.
        offset: u64,
        /// The typeflag byte.
        typeflag: u8,
    },
}

/// A layer could not be indexed, or an index file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The tar itself is unreadable.
    #[error(transparent)]
    Tar(#[from] TarError),
    /// An entry is refused (escapes the rootfs, links to nothing, ...).
    #[error("tar entry {path:?}: {why}")]
    Entry {
        /// The entry's path as written in the tar.
        path: String,
        /// Why it is refused.
        why: String,
    },
    /// The index file does not match the format or its checksum.
    #[error("index is corrupt: {0}")]
    Corrupt(&'static str),
    /// The index was built for another blob, or by another format version.
    #[error("index is stale: {0}")]
    Stale(&'static str),
    /// Reading or writing the index file failed (the OS error is part of
    /// the message, not chained).
    #[error("index file: {0}")]
    Io(io::Error),
}

impl From<io::Error> for IndexError {
    fn from(e: io::Error) -> IndexError {
        IndexError::Io(e)
    }
}
