//! Mounts, with one owner for their whole life: this module starts a
//! server (detached, handed its whole spec, ready when it says so), records
//! the mount, finds it in the kernel's mount table, tells a live server
//! from a dead one, and tears it down; `umount`, `prune`, the cleanup of
//! `tmp/` and RUN steps all ask it. The CLI only parses and prints.
//!
//! ```text
//! table.rs      /proc/self/mountinfo, parsed once
//! record.rs     <root>/mounts/<key>.json: what is served, by which process
//! server.rs     serving in this process, or starting a detached server
//! lifecycle.rs  unmount, tear down a dead mount, detach, mountpoint checks
//! rw.rs         the changes of a --rw mount: diff and commit
//! ```

mod lifecycle;
mod record;
mod rw;
mod server;
mod table;

pub use lifecycle::{
    absolute, check_mountpoint, detach, detach_if_ours, detach_under, namespace_for, teardown_dead,
    unmount,
};
pub use record::{MountRecord, Served};
pub use rw::{commit, mount_changes, writable_at, Committed};
pub use server::{layers_dir, prepare, serve, serve_detached, start, ServerSpec, SERVE_ARG};
pub use table::{mounted_at, MountEntry, SOURCE_PREFIX};

/// An error about the mount at `path`; `why` names it as the user gave it.
fn error(path: &std::path::Path, why: impl Into<String>) -> crate::error::Error {
    crate::error::Error::Mount {
        path: path.to_path_buf(),
        why: why.into(),
    }
}
