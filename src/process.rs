//! Processes identified beyond their pid: the pid together with the start
//! time the kernel gave it (field 22 of `/proc/PID/stat`, clock ticks since
//! boot). A pid the kernel has reused for an unrelated process has another
//! start time, so it is never taken for ours, never signalled, and never
//! keeps a dead process's pins or temporary files alive. (Start times count
//! clock ticks of 10 ms: only a pid reused within the same tick would pass
//! for the old process, which needs the pid space to wrap that fast.)
//!
//! ```text
//! written as  <pid>.<start>    (mount records, names under tmp/)
//! read also   <pid>            (written by earlier versions: pid only)
//! ```
//!
//! Also the other side: children that must not outlive us (RUN commands).

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// A process: its pid and, when known, its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// Start time in clock ticks since boot; `None` for identities written
    /// by earlier versions, which only a live pid can vouch for.
    pub start: Option<u64>,
}

/// State letter and start time of a live pid (`None`: no such process).
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from the last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

impl ProcessId {
    /// This process.
    pub fn current() -> ProcessId {
        static ME: OnceLock<ProcessId> = OnceLock::new();
        *ME.get_or_init(|| {
            let pid = std::process::id();
            ProcessId {
                pid,
                start: stat(pid).map(|(_, s)| s),
            }
        })
    }

    /// The process that has `pid` now, if any.
    pub fn of(pid: u32) -> Option<ProcessId> {
        stat(pid).map(|(_, start)| ProcessId {
            pid,
            start: Some(start),
        })
    }

    /// Whether this very process still runs (not a zombie, and the pid not
    /// reused by another process since).
    pub fn is_alive(&self) -> bool {
        match stat(self.pid) {
            None | Some(('Z', _)) => false,
            Some((_, start)) => self.start.is_none_or(|s| s == start),
        }
    }

    /// Parses `<pid>.<start>` or `<pid>`.
    pub fn parse(s: &str) -> Option<ProcessId> {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        match s.split_once('.') {
            Some((p, t)) if digits(p) && digits(t) => Some(ProcessId {
                pid: p.parse().ok()?,
                start: Some(t.parse().ok()?),
            }),
            None if digits(s) => Some(ProcessId {
                pid: s.parse().ok()?,
                start: None,
            }),
            _ => None,
        }
    }
}

/// Makes the child of `cmd` get `signal` when this process dies
/// (`PR_SET_PDEATHSIG`), checking that this process is still there, and
/// only then change into `cwd` (if given). For a `cwd` on a FUSE mount this
/// process serves: a child changing into it after the server was killed
/// would wait forever, and since the child holds the inherited `/dev/fuse`
/// descriptor until its `exec`, the kernel would never abort the
/// connection. The kernel sends the signal when the thread that spawned the
/// child ends: spawn from a thread that lives as long as the child should.
pub fn die_with_parent(cmd: &mut Command, signal: i32, cwd: Option<&Path>) -> io::Result<()> {
    let dir = cwd
        .map(|c| CString::new(c.as_os_str().as_bytes()))
        .transpose()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
    let parent = std::process::id() as libc::pid_t;
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the child between fork and exec. It calls
    // only async-signal-safe functions (prctl, getppid, chdir) on memory
    // prepared before the fork (`dir`, `parent`, `signal`), and allocates
    // nothing: `io::Error::last_os_error` and `from_raw_os_error` build an
    // error code without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the request: nobody serves `cwd`.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            if let Some(d) = &dir {
                if libc::chdir(d.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(())
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.start {
            Some(s) => write!(f, "{}.{s}", self.pid),
            None => write!(f, "{}", self.pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_it() {
        let me = ProcessId::current();
        assert!(me.start.is_some());
        assert!(me.is_alive());
        assert_eq!(ProcessId::of(me.pid), Some(me));
        let impostor = ProcessId {
            start: me.start.map(|s| s + 1),
            ..me
        };
        assert!(
            !impostor.is_alive(),
            "another start time is another process"
        );
        let legacy = ProcessId { start: None, ..me };
        assert!(legacy.is_alive());
    }

    #[test]
    fn parse_and_print() {
        let id = ProcessId::parse("123.456").unwrap();
        assert_eq!((id.pid, id.start), (123, Some(456)));
        assert_eq!(id.to_string(), "123.456");
        assert_eq!(ProcessId::parse("77").map(|p| p.start), Some(None));
        for bad in ["", "a", "1.", ".2", "1.2.3", "-1"] {
            assert_eq!(ProcessId::parse(bad), None, "{bad:?}");
        }
    }
}
