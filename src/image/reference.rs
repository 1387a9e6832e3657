//! Image references: `NAME`, `NAME:TAG`, `registry:port/path/name:tag`,
//! `NAME@sha256:...`. The stored name is the reference with its tag made
//! explicit (`base` -> `base:latest`), so `skopeo inspect oci:<root>:base:latest`
//! finds it.

use crate::error::{Error, Result};

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Repository, with registry host if given (`registry.example.com/a/b`).
    pub repo: String,
    /// Tag (`latest` when not given and no digest is given).
    pub tag: Option<String>,
    /// Manifest digest (`sha256:...`).
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and validates a reference the way docker does (lowercase path
    /// components of `[a-z0-9._-]`, tags of `[A-Za-z0-9_.-]` up to 128).
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &'static str| Error::Reference {
            text: s.to_string(),
            why,
        };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                d.parse::<crate::digest::Digest>()
                    .map_err(|_| bad("bad digest"))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if repo.is_empty() {
            return Err(bad("empty name"));
        }
        let mut parts: Vec<&str> = repo.split('/').collect();
        let first = parts[0];
        let has_host =
            parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost");
        if has_host {
            let ok = first
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c));
            if !ok {
                return Err(bad("bad registry host"));
            }
            parts.remove(0);
        }
        for p in parts {
            let ok = !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
                && p.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(bad(
                    "name components must be lowercase letters, digits, '.', '_' or '-'",
                ));
            }
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("bad tag"));
            }
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            repo: repo.to_string(),
            tag,
            digest,
        })
    }

    /// The name stored in `index.json`: `repo:tag`, or `repo@digest`.
    pub fn full_name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{t}", self.repo),
            (None, Some(d)) => format!("{}@{d}", self.repo),
            (None, None) => self.repo.clone(),
        }
    }

    /// The same reference spelled the other way docker allows: with or
    /// without `docker.io/library/`.
    pub fn docker_alias(&self) -> Option<String> {
        let name = self.full_name();
        if let Some(short) = name.strip_prefix("docker.io/library/") {
            Some(short.to_string())
        } else if let Some(short) = name.strip_prefix("docker.io/") {
            Some(short.to_string())
        } else if !self.repo.contains('/') {
            Some(format!("docker.io/library/{name}"))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases = [
            ("base", "base:latest"),
            ("base:v1", "base:v1"),
            (
                "registry.example.com/sealer-io/kubernetes:v1.19.8",
                "registry.example.com/sealer-io/kubernetes:v1.19.8",
            ),
            (
                "127.0.0.1:5000/library/my-k8s:v1.19.8",
                "127.0.0.1:5000/library/my-k8s:v1.19.8",
            ),
            ("localhost:5000/a", "localhost:5000/a:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Reference::parse(input).unwrap().full_name(),
                want,
                "{input}"
            );
        }
        for bad in ["", "UPPER:v1", "a:", "a:-x", "a//b", ":v1", "a@sha256:12"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
