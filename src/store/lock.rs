//! The writers' lock: an exclusive `flock` on `<root>/lock`, released on drop
//! (also when the process dies).

use std::fs::OpenOptions;

use nix::fcntl::{Flock, FlockArg};

use super::Store;
use crate::error::{Error, IoContext, Result};

/// Proof that the holder may write `index.json` and delete blobs.
pub struct StoreLock {
    _lock: Flock<std::fs::File>,
}

impl Store {
    /// Takes the writers' lock, waiting for other writers.
    pub fn lock(&self) -> Result<StoreLock> {
        let path = self.root.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        let lock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            path: path.clone(),
            err: std::io::Error::from(e),
        })?;
        Ok(StoreLock { _lock: lock })
    }
}
