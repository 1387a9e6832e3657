//! Extended attributes of a path, not following symlinks, for the tests:
//! thin wrappers over `sealer_fs::sys`, the crate's one module of xattr
//! syscalls, so the tests need no unsafe code of their own.

use std::io;
use std::path::Path;

use sealer_fs::sys;

/// The names of `path`'s extended attributes, sorted.
pub fn list(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut names = sys::list_xattrs(path)?;
    names.sort();
    Ok(names)
}

/// The value of one extended attribute (ENODATA if it is not set).
pub fn get(path: &Path, name: &[u8]) -> io::Result<Vec<u8>> {
    sys::get_xattr(path, name)?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODATA))
}

/// Sets an extended attribute (the name is bytes; `&str` does).
pub fn set(path: &Path, name: impl AsRef<[u8]>, value: &[u8]) -> io::Result<()> {
    sys::set_xattr(path, name.as_ref(), value, 0)
}
