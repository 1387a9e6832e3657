//! Container image references as the image cache handles them: normalised
//! the way docker does (`nginx` -> `docker.io/library/nginx:latest`), each
//! with the place that asked for it, collapsed and filtered. Pure.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{invalid, Result};
use crate::image::Reference;
use crate::registry::locate;

/// Where a reference was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file, relative to the rootfs (or as given on the command line).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What inside the file (`values: image.repository`), when it helps.
    pub detail: Option<String>,
    /// The application (`application/apps/NAME`) it belongs to.
    pub app: Option<String>,
    /// The chart (its directory) whose rendering names it.
    pub chart: Option<String>,
    /// The rendered resource (`Deployment/web`).
    pub resource: Option<String>,
    /// The field in that resource (`spec.template.spec.containers[0].image`).
    pub field: Option<String>,
}

impl Source {
    /// A line of a file.
    pub fn line(file: &str, line: usize) -> Source {
        Source {
            file: file.to_string(),
            line: (line > 0).then_some(line),
            detail: None,
            app: None,
            chart: None,
            resource: None,
            field: None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// One container image to cache.
#[derive(Clone, Debug)]
pub struct Wanted {
    /// Normalised: `docker.io/library/nginx:latest`, `quay.io/a/b@sha256:..`.
    pub name: String,
    /// Registry host (`docker.io`).
    pub host: String,
    /// Repository path on that registry, also its path in `registry/`
    /// (`library/nginx`; sealer drops the host: `quay.io/tigera/operator`
    /// is cached as `tigera/operator`).
    pub path: String,
    /// Tag, if the reference has one.
    pub tag: Option<String>,
    /// Manifest digest, if the reference pins one.
    pub digest: Option<String>,
    /// Everywhere it was asked for, first first.
    pub sources: Vec<Source>,
}

impl Wanted {
    /// The first place that asked for it.
    pub fn source(&self) -> &Source {
        &self.sources[0]
    }

    /// The application it belongs to, if any source is an application's.
    pub fn app(&self) -> Option<&str> {
        self.sources.iter().find_map(|s| s.app.as_deref())
    }

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

/// Normalises a reference as docker does; the error says what is wrong.
pub fn normalize(text: &str) -> Result<Wanted> {
    let r = Reference::parse(text)?;
    let (host, path) = locate(&r);
    let mut name = format!("{host}/{path}");
    if let Some(t) = &r.tag {
        name.push(':');
        name.push_str(t);
    }
    if let Some(d) = &r.digest {
        name.push('@');
        name.push_str(d);
    }
    Ok(Wanted {
        name,
        host,
        path,
        tag: r.tag,
        digest: r.digest,
        sources: Vec::new(),
    })
}

/// A reference as found in a file, before normalising.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The text of the reference.
    pub text: String,
    /// Where.
    pub source: Source,
}

/// Normalises every found reference (an invalid one fails, naming where it
/// came from), collapses duplicates in order of first appearance and drops
/// those on the ignore list.
pub fn collect(found: Vec<Found>, ignored: &[Found]) -> Result<Vec<Wanted>> {
    let mut skip = Vec::new();
    for f in ignored {
        let w = normalize(&f.text).map_err(|e| invalid(format!("{}: {e}", f.source)))?;
        skip.push(w.name);
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Wanted> = BTreeMap::new();
    for f in found {
        let w = normalize(&f.text).map_err(|e| invalid(format!("{}: {e}", f.source)))?;
        if skip.contains(&w.name) {
            continue;
        }
        match by_name.get_mut(&w.name) {
            Some(seen) => {
                if !seen.sources.contains(&f.source) {
                    seen.sources.push(f.source);
                }
            }
            None => {
                order.push(w.name.clone());
                let mut w = w;
                w.sources.push(f.source);
                by_name.insert(w.name.clone(), w);
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect())
}

/// The references of an image list: one a line, `#` starts a comment,
/// blank lines are ignored.
pub fn parse_list(text: &str, file: &str) -> Vec<Found> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let text = line.split('#').next().unwrap_or("").trim();
            (!text.is_empty()).then(|| Found {
                text: text.to_string(),
                source: Source::line(file, i + 1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let cases = [
            ("nginx", "docker.io/library/nginx:latest", "library/nginx"),
            (
                "nginx:1.25",
                "docker.io/library/nginx:1.25",
                "library/nginx",
            ),
            (
                "docker.io/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "library/nginx",
            ),
            ("calico/node:v3", "docker.io/calico/node:v3", "calico/node"),
            (
                "quay.io/tigera/operator:v1.17.4",
                "quay.io/tigera/operator:v1.17.4",
                "tigera/operator",
            ),
            ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1", "a/b"),
            ("localhost/pause", "localhost/pause:latest", "pause"),
        ];
        for (input, name, path) in cases {
            let w = normalize(input).unwrap();
            assert_eq!((w.name.as_str(), w.path.as_str()), (name, path), "{input}");
        }
        let w = normalize(&format!("nginx@{d}")).unwrap();
        assert_eq!(w.name, format!("docker.io/library/nginx@{d}"));
        assert_eq!((w.tag, w.digest.as_deref()), (None, Some(d)));
        let w = normalize(&format!("nginx:1@{d}")).unwrap();
        assert_eq!(w.name, format!("docker.io/library/nginx:1@{d}"));
        assert_eq!(w.tag_or_digest(), d);
        for bad in ["Nginx", "nginx:", "a b", "nginx@sha256:12"] {
            assert!(normalize(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn list_comments_blanks_duplicates_and_ignores() {
        let text =
            "# images\nnginx\n\n  docker.io/library/nginx:latest  # same\nbusybox:1 \nredis\n";
        let found = parse_list(text, "manifests/imageList");
        assert_eq!(found.len(), 4);
        assert_eq!(found[1].source, Source::line("manifests/imageList", 4));
        let ignored = parse_list("redis:latest\n", "skip.txt");
        let wanted = collect(found, &ignored).unwrap();
        let names: Vec<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "docker.io/library/nginx:latest",
                "docker.io/library/busybox:1"
            ]
        );
        assert_eq!(wanted[0].sources.len(), 2);
    }

    #[test]
    fn an_invalid_reference_names_its_line() {
        let found = parse_list("nginx\nNot A Ref\n", "extra.txt");
        let err = collect(found, &[]).unwrap_err().to_string();
        assert!(err.starts_with("extra.txt:2: "), "{err}");
    }
}
