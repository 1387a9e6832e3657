//! Remote sources of `COPY`, `ADD` and `APP` (`http://`, `https://`),
//! with Dockerfile semantics: the file is downloaded (never unpacked), named
//! after the last segment of the URL path, mode 0600, its mtime the
//! server's `Last-Modified` when it sends one; `ADD --checksum=sha256:...`
//! is verified. The layer cache keys the file by its URL and content
//! digest, so an unchanged download reuses the layer.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{invalid, Error, IoContext, Result};

/// Seconds to wait for a server's answer (`SEALER_DOWNLOAD_TIMEOUT` overrides).
const TIMEOUT_SECS: u64 = 60;
/// The largest download accepted.
const MAX_SIZE: u64 = 64 << 30;

/// A downloaded source.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The URL.
    pub url: String,
    /// Where it was saved.
    pub path: PathBuf,
    /// Its name in the layer (the URL path's last segment).
    pub name: String,
    /// The digest of its content.
    pub digest: Digest,
    /// `Last-Modified`, as seconds since the epoch.
    pub mtime: Option<i64>,
}

/// Whether a source is a URL we download.
pub fn is_remote(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name a URL gives (its path's last segment).
pub fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let (_, path) = path.split_once('/')?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

fn timeout() -> Duration {
    let secs = std::env::var("SEALER_DOWNLOAD_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(TIMEOUT_SECS);
    Duration::from_secs(secs)
}

/// Downloads `url` into `dir`, checking `checksum` if given.
pub fn download(url: &str, dir: &Path, checksum: Option<&Digest>) -> Result<Downloaded> {
    let name = file_name(url).ok_or_else(|| {
        invalid(format!(
            "{url}: the URL names no file (its path ends in '/')"
        ))
    })?;
    let fail = |why: String| invalid(format!("{url}: {why}"));
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("sealer/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(timeout()))
            .timeout_recv_response(Some(timeout()))
            .timeout_per_read(Some(timeout()))
            .build(),
    );
    let mut resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let code = resp.status().as_u16();
    if code != 200 {
        return Err(fail(format!("the server answered HTTP {code}")));
    }
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(http_date);
    std::fs::create_dir_all(dir).at(dir)?;
    let path = dir.join(&name);
    let mut out = File::create(&path).at(&path)?;
    let mut body = resp.body_mut().with_config().limit(MAX_SIZE).reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| fail(format!("download failed: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).at(&path)?;
    }
    let digest = Digest(hasher.finalize().into());
    if let Some(want) = checksum {
        if *want != digest {
            return Err(Error::Blob {
                digest: *want,
                why: format!("{url} has content {digest}, not the --checksum given"),
            });
        }
    }
    Ok(Downloaded {
        url: url.to_string(),
        path,
        name,
        digest,
        mtime,
    })
}

/// Removes the downloads once their layer is written (or failed).
pub fn remove(done: &[Downloaded]) {
    for d in done {
        if let Some(dir) = d.path.parent() {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                log::warn!("removing the download {}: {e}", dir.display());
            }
        }
    }
}

/// Seconds since the epoch of an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| x == month)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let [hh, mm, ss] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dates() {
        assert_eq!(
            file_name("http://h:8000/a/b/tool.tgz?x=1").as_deref(),
            Some("tool.tgz")
        );
        assert_eq!(file_name("https://h/dir/"), None);
        assert_eq!(file_name("https://h"), None);
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("yesterday"), None);
    }
}
