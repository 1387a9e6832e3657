//! Packaged charts (`NAME-VERSION.tgz`): a gzipped tar whose members all sit
//! under one top directory, `NAME/...`. Read as Helm's
//! `loader.LoadArchiveFiles`: directories and PAX headers skipped, the top
//! directory stripped from each name, absolute or escaping paths refused, a
//! UTF-8 BOM dropped from each file.

use std::io::Read;

use flate2::read::GzDecoder;

/// A tgz that is not a chart archive (Helm's wording).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not gzip, or a broken tar.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A member path is absolute.
    #[error("chart illegally contains absolute paths")]
    Absolute,
    /// A member is the top directory itself.
    #[error("chart illegally contains content outside the base directory: {0:?}")]
    Outside(String),
    /// A member path climbs out with `..`.
    #[error("chart illegally references parent directory")]
    Parent,
    /// `Chart.yaml` at the archive's root instead of under `NAME/`.
    #[error("chart yaml not in base directory")]
    ChartYamlAtRoot,
    /// The archive holds no file.
    #[error("no files in chart archive")]
    Empty,
    /// The archive expands past the size bound.
    #[error("chart archive expands past {0} bytes")]
    TooBig(u64),
}

/// Largest total size of the files of one archive (a gzip bomb stops here).
pub const MAX_EXPANDED: u64 = 256 << 20;

/// The files of a chart archive, named relative to the chart's root.
pub fn archive_files(tgz: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let mut tar = tar::Archive::new(GzDecoder::new(tgz));
    let mut files = Vec::new();
    let mut total = 0u64;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let delim = if raw.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = raw.split(delim).collect();
        let rel = parts[1..].join("/");
        if rel.starts_with('/') {
            return Err(ArchiveError::Absolute);
        }
        let rel = clean_path(&rel);
        if rel == "." {
            return Err(ArchiveError::Outside(raw));
        }
        if rel.starts_with("..") {
            return Err(ArchiveError::Parent);
        }
        if parts[0] == "Chart.yaml" {
            return Err(ArchiveError::ChartYamlAtRoot);
        }
        let mut data = Vec::new();
        let left = MAX_EXPANDED.saturating_sub(total) + 1;
        (&mut entry).take(left).read_to_end(&mut data)?;
        total += data.len() as u64;
        if total > MAX_EXPANDED {
            return Err(ArchiveError::TooBig(MAX_EXPANDED));
        }
        if data.starts_with(b"\xEF\xBB\xBF") {
            data.drain(..3);
        }
        files.push((rel, data));
    }
    if files.is_empty() {
        return Err(ArchiveError::Empty);
    }
    Ok(files)
}

/// Go's `path.Clean` for a relative path.
pub fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let s = out.join("/");
    match (rooted, s.is_empty()) {
        (true, _) => format!("/{s}"),
        (false, true) => ".".into(),
        (false, false) => s,
    }
}

/// Builds chart archives for tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// A tgz of `(name, data)` members, as `helm package` writes them.
    pub(crate) fn tgz(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Raw name bytes: the builder refuses the `..` some tests need.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::tgz;
    use super::*;

    #[test]
    fn strips_top_dir() {
        let data = tgz(&[
            ("sub/Chart.yaml", b"name: sub"),
            ("sub/templates/a.yaml", b"\xEF\xBB\xBFx"),
        ]);
        let files = archive_files(&data).unwrap();
        assert_eq!(files[0].0, "Chart.yaml");
        assert_eq!(files[1], ("templates/a.yaml".to_string(), b"x".to_vec()));
    }

    #[test]
    fn refuses_bad_members() {
        let cases: &[(&str, &str)] = &[
            (
                "Chart.yaml",
                "chart illegally contains content outside the base directory: \"Chart.yaml\"",
            ),
            ("sub/../../x", "chart illegally references parent directory"),
        ];
        for (name, want) in cases {
            let err = archive_files(&tgz(&[(name, b"x")])).unwrap_err();
            assert_eq!(err.to_string(), *want, "{name}");
        }
        assert!(archive_files(b"not gzip").is_err());
    }

    #[test]
    fn clean() {
        for (p, want) in [
            ("a/./b", "a/b"),
            ("", "."),
            ("a/..", "."),
            ("../a", "../a"),
            ("a//b/", "a/b"),
        ] {
            assert_eq!(clean_path(p), want, "{p}");
        }
    }
}
