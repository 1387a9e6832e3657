//! Extended attributes of paths, not following symlinks: the syscalls std and
//! nix lack. The only unsafe code of the crate besides the index mmap; every
//! call passes a NUL-terminated path and a buffer with its true length.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_str(b: &[u8]) -> io::Result<CString> {
    CString::new(b)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a path or name"))
}

/// Calls `f(buf, len)` with a growing buffer until the answer fits.
fn sized(mut f: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let need = f(std::ptr::null_mut(), 0);
        if need < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; need as usize];
        let got = f(buf.as_mut_ptr().cast(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

/// Names of `path`'s extended attributes, in the file system's order.
pub fn list_xattrs(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let p = c_str(path.as_os_str().as_bytes())?;
    // SAFETY: `p` is NUL-terminated; `buf` is null with len 0 or points to `len` writable bytes.
    let raw = sized(|buf, len| unsafe { libc::llistxattr(p.as_ptr(), buf.cast(), len) })?;
    Ok(raw
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The value of one extended attribute; `Ok(None)` if it is not set.
pub fn get_xattr(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let (p, n) = (c_str(path.as_os_str().as_bytes())?, c_str(name)?);
    // SAFETY: `p` and `n` are NUL-terminated; `buf` is null with len 0 or `len` writable bytes.
    match sized(|buf, len| unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf, len) }) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets an extended attribute (`flags`: 0, XATTR_CREATE or XATTR_REPLACE).
pub fn set_xattr(path: &Path, name: &[u8], value: &[u8], flags: i32) -> io::Result<()> {
    let (p, n) = (c_str(path.as_os_str().as_bytes())?, c_str(name)?);
    // SAFETY: `p` and `n` are NUL-terminated; `value` is valid for `value.len()` bytes.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Copies up to `len` bytes from `src` at `*src_off` to `dst` at `*dst_off`
/// in the kernel (`copy_file_range(2)`), advancing both offsets; returns the
/// bytes copied (0 at the end of `src`).
pub fn copy_file_range(
    src: BorrowedFd<'_>,
    src_off: &mut i64,
    dst: BorrowedFd<'_>,
    dst_off: &mut i64,
    len: usize,
) -> io::Result<usize> {
    // SAFETY: both fds are open for the call; the offsets point to live i64s.
    let r = unsafe {
        libc::copy_file_range(src.as_raw_fd(), src_off, dst.as_raw_fd(), dst_off, len, 0)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// Starts writing back `len` bytes of `fd` from `offset`, without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so a later fsync has less to do.
pub fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: `fd` is open for the call; the call takes no pointers.
    let r = unsafe {
        libc::sync_file_range(
            fd.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets an extended attribute of an open file.
pub fn fset_xattr(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> io::Result<()> {
    let n = c_str(name)?;
    // SAFETY: `fd` is open for the call; `n` is NUL-terminated; `value` is valid
    // for `value.len()` bytes.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes an extended attribute.
pub fn remove_xattr(path: &Path, name: &[u8]) -> io::Result<()> {
    let (p, n) = (c_str(path.as_os_str().as_bytes())?, c_str(name)?);
    // SAFETY: `p` and `n` are NUL-terminated.
    let r = unsafe { libc::lremovexattr(p.as_ptr(), n.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
