//! Build-time facts for `sealer version`: the git description and commit of
//! the checkout (when there is a `.git`; a source tarball has none), the
//! build date (`SOURCE_DATE_EPOCH` if set, for reproducible builds) and the
//! compiler's `rustc --version`. Every fact has a fallback, so a build never
//! fails for want of git. Also: release binaries get their debug sections
//! (line tables) zlib-compressed by the linker, which std's backtraces read.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Line tables compressed: RUST_BACKTRACE=1 still names files and lines,
    // the binary is ~22 MB instead of ~45 MB (issue 26: <= 30 MB).
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the ref it
    // names (a commit). Paths come from git, so worktrees work too; a path
    // that does not exist (a packed ref) is not watched, or cargo would
    // rerun this script, and rebuild the crate, on every build.
    let mut watch = vec!["HEAD".to_string()];
    watch.extend(
        git(&["rev-parse", "--symbolic-full-name", "HEAD"]).filter(|r| r.starts_with("refs/")),
    );
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            if std::path::Path::new(&dir).join(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    let version = git(&["describe", "--tags", "--always"])
        .map(|d| {
            if d.starts_with('v') || d.contains('.') {
                d
            } else {
                format!("v{}-{d}", env!("CARGO_PKG_VERSION"))
            }
        })
        .unwrap_or_else(|| format!("v{}", env!("CARGO_PKG_VERSION")));
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rust_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SEALER_GIT_VERSION={version}");
    println!("cargo:rustc-env=SEALER_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=SEALER_BUILD_DATE={}", iso8601(epoch));
    println!("cargo:rustc-env=SEALER_RUST_VERSION={rust_version}");
}

/// `git ARGS` in the package directory: its trimmed output, or `None`
/// when git or the repository is missing.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (civil-from-days, Howard Hinnant's).
fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
