//! Software bills of materials of ClusterImages, read through the layer
//! indexes (nothing unpacked, nothing executed):
//!
//! - [`inventory`] walks the merged rootfs once: every regular file with its
//!   SHA-256 (and SHA-1, which SPDX asks of files), streamed in 1 MiB reads;
//!   the build info of Go binaries ([`gobuild`]); the container images of
//!   `registry/` (distribution's tags, each `current/link` naming the
//!   manifest); the Helm charts under `charts/` and `application/apps/`;
//! - [`spdx`] and [`cyclonedx`] write it as SPDX 2.3 JSON and CycloneDX 1.5
//!   JSON, deterministically: sorted, the document's name space and serial
//!   number derived from the manifest digest, its time the image's created
//!   time, so the same image always gives the same bytes;
//! - [`attach`] keeps an SPDX SBOM as an OCI 1.1 referrer of the image
//!   manifest in the store (`build --sbom`), which `push` uploads.

pub mod attach;
pub mod cyclonedx;
pub mod gobuild;
pub mod spdx;

use std::collections::BTreeMap;

use sealer_fs::merge::{Merged, Node};
use sealer_fs::Kind;
use sha2::Digest as _;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::spec::{ContainerImage, ANNOTATION_CONTAINER_IMAGES};
use crate::image::view::RootView;
use crate::image::{Image, Reference};
use crate::store::Store;

/// Where distribution's repositories start in the rootfs.
const REPOSITORIES: &str = "registry/docker/registry/v2/repositories";
/// Chart directories are looked for under these.
const CHART_ROOTS: [&str; 2] = ["charts/", "application/apps/"];

/// Everything an SBOM of one image states.
#[derive(Debug)]
pub struct Inventory {
    /// The image itself.
    pub subject: Subject,
    /// Regular files of the merged rootfs, sorted by path.
    pub files: Vec<FileEntry>,
    /// Container images of `registry/`, sorted by repository and tag.
    pub images: Vec<CachedImage>,
    /// Helm charts, sorted by directory.
    pub charts: Vec<Chart>,
}

/// The ClusterImage: its name, tag and digests.
#[derive(Debug)]
pub struct Subject {
    /// Repository (`docker.io/library/k8s`), or the image id when unnamed.
    pub name: String,
    /// Tag (`latest` when unnamed or named by digest).
    pub tag: String,
    /// Manifest digest.
    pub manifest: Digest,
    /// Image id (config digest).
    pub id: Digest,
    /// The config's created time as `YYYY-MM-DDThh:mm:ssZ` (the epoch if
    /// it has none).
    pub created: String,
}

/// One regular file.
#[derive(Debug)]
pub struct FileEntry {
    /// Path in the rootfs, without a leading `/` (lossy UTF-8: read by people).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// SHA-1 of the content.
    pub sha1: [u8; 20],
    /// The build info, for a Go binary.
    pub go: Option<gobuild::BuildInfo>,
}

/// A container image cached in `registry/`.
#[derive(Debug)]
pub struct CachedImage {
    /// Repository in the cache (`library/nginx`).
    pub repo: String,
    /// Tag.
    pub tag: String,
    /// The manifest (or index) digest the tag names.
    pub digest: Digest,
    /// The repository it came from (`docker.io/library/nginx`), when the
    /// image's annotation names it; else `repo`.
    pub source: String,
}

/// A Helm chart of the rootfs.
#[derive(Debug)]
pub struct Chart {
    /// Its directory in the rootfs.
    pub dir: String,
    /// `name` of Chart.yaml.
    pub name: String,
    /// `version` of Chart.yaml.
    pub version: String,
}

/// Walks the merged rootfs of `img` (see the module docs).
pub fn inventory(store: &Store, img: &Image) -> Result<Inventory> {
    let view = RootView::open(store, img)?;
    let mut walk = Walk {
        view: &view,
        files: Vec::new(),
        chart_dirs: Vec::new(),
        repos: Vec::new(),
        buf: vec![0u8; 1 << 20],
    };
    let root = view.resolve("").unwrap_or(Merged::Dir(Vec::new()));
    walk.dir(&root, "")?;
    let Walk {
        mut files,
        chart_dirs,
        repos,
        ..
    } = walk;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut charts = Vec::new();
    for dir in chart_dirs {
        let meta = view
            .read_file(format!("{dir}/Chart.yaml"))?
            .unwrap_or_default();
        let meta: serde_yaml::Value = serde_yaml::from_slice(&meta).unwrap_or_default();
        let field = |k: &str| match meta.get(k) {
            Some(serde_yaml::Value::String(s)) => s.clone(),
            Some(serde_yaml::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let name = field("name");
        if name.is_empty() {
            log::warn!("{dir}/Chart.yaml names no chart; not in the SBOM");
            continue;
        }
        charts.push(Chart {
            name,
            version: field("version"),
            dir,
        });
    }
    let images = cached_images(&view, &repos, img)?;
    Ok(Inventory {
        subject: subject(img),
        files,
        images,
        charts,
    })
}

fn subject(img: &Image) -> Subject {
    let (name, tag) = match img.name.as_deref().map(Reference::parse) {
        Some(Ok(r)) => (r.repo, r.tag.unwrap_or_else(|| "latest".into())),
        _ => (img.id.hex().to_string(), "latest".into()),
    };
    Subject {
        name,
        tag,
        manifest: img.manifest_digest,
        id: img.id,
        created: spdx_time(img.config.created.as_deref()),
    }
}

/// `YYYY-MM-DDThh:mm:ssZ` of an RFC 3339 time (fractions and offsets
/// dropped: SPDX wants that form), the epoch when missing or malformed.
fn spdx_time(t: Option<&str>) -> String {
    let ok = t.filter(|t| {
        let b = t.as_bytes();
        b.len() >= 19
            && b[..19].iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b'T',
                13 | 16 => *c == b':',
                _ => c.is_ascii_digit(),
            })
    });
    match ok {
        Some(t) => format!("{}Z", &t[..19]),
        None => "1970-01-01T00:00:00Z".into(),
    }
}

struct Walk<'v> {
    view: &'v RootView,
    files: Vec<FileEntry>,
    chart_dirs: Vec<String>,
    /// Repositories of `registry/`: their paths relative to REPOSITORIES.
    repos: Vec<String>,
    buf: Vec<u8>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Merged, path: &str) -> Result<()> {
        let children = self.view.read_dir(dir);
        let mut has_chart_yaml = false;
        let mut has_manifests = false;
        for e in &children {
            let name = String::from_utf8_lossy(e.name);
            let child = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            };
            match e.meta.kind {
                Kind::Dir => {
                    has_manifests |= e.name == b"_manifests";
                    self.dir(&e.merged, &child)?;
                }
                Kind::File => {
                    has_chart_yaml |= e.name == b"Chart.yaml";
                    let entry = self.file(e.merged.top(), child, e.meta.size)?;
                    self.files.push(entry);
                }
                _ => {}
            }
        }
        let under = |root: &str| path.starts_with(root);
        if has_chart_yaml && CHART_ROOTS.iter().any(|r| under(r)) {
            self.chart_dirs.push(path.to_string());
        }
        if has_manifests {
            if let Some(repo) = path
                .strip_prefix(REPOSITORIES)
                .and_then(|r| r.strip_prefix('/'))
            {
                self.repos.push(repo.to_string());
            }
        }
        Ok(())
    }

    /// Hashes a file in 1 MiB reads; reads the build info of an ELF file.
    fn file(&mut self, node: Node, path: String, size: u64) -> Result<FileEntry> {
        let mut sha256 = sha2::Sha256::new();
        let mut sha1 = sha1::Sha1::new();
        let mut off = 0u64;
        let mut elf = false;
        while off < size {
            let want = self.buf.len().min((size - off) as usize);
            let n = self
                .view
                .read_at(node, off, &mut self.buf[..want])
                .map_err(|e| Error::InImage {
                    path: path.clone(),
                    why: format!("reading it: {e}"),
                })?;
            if n == 0 {
                return Err(Error::InImage {
                    path,
                    why: "shorter than its size".into(),
                });
            }
            if off == 0 {
                elf = self.buf[..n].starts_with(b"\x7fELF");
            }
            sha256.update(&self.buf[..n]);
            sha1.update(&self.buf[..n]);
            off += n as u64;
        }
        let go = if elf {
            gobuild::read(&NodeBytes(self.view, node), size)
        } else {
            None
        };
        Ok(FileEntry {
            path,
            size,
            sha256: sha256.finalize().into(),
            sha1: sha1.finalize().into(),
            go,
        })
    }
}

struct NodeBytes<'v>(&'v RootView, Node);

impl gobuild::ReadAt for NodeBytes<'_> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read_at(self.1, offset, buf)
    }
}

/// The tags of each repository of `registry/`, with the digests their
/// `current/link` name.
fn cached_images(view: &RootView, repos: &[String], img: &Image) -> Result<Vec<CachedImage>> {
    let sources: Vec<ContainerImage> = img
        .manifest
        .annotations
        .get(ANNOTATION_CONTAINER_IMAGES)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let mut out = Vec::new();
    for repo in repos {
        let tags = format!("{REPOSITORIES}/{repo}/_manifests/tags");
        let Some(dir) = view.resolve(&tags) else {
            continue;
        };
        for e in view.read_dir(&dir) {
            let tag = String::from_utf8_lossy(e.name).into_owned();
            let link = format!("{tags}/{tag}/current/link");
            let Some(text) = view.read_file(&link)? else {
                continue;
            };
            let Ok(digest) = String::from_utf8_lossy(&text).trim().parse::<Digest>() else {
                log::warn!("{link} names no digest; not in the SBOM");
                continue;
            };
            let source = sources
                .iter()
                .filter_map(|s| Reference::parse(&s.image).ok())
                .find(|r| r.tag.as_deref() == Some(tag.as_str()) && without_host(&r.repo) == *repo)
                .map_or_else(|| repo.clone(), |r| r.repo);
            out.push(CachedImage {
                repo: repo.clone(),
                tag,
                digest,
                source,
            });
        }
    }
    out.sort_by(|a, b| (&a.repo, &a.tag).cmp(&(&b.repo, &b.tag)));
    Ok(out)
}

/// A repository without its registry host, as the image cache stores it.
fn without_host(repo: &str) -> &str {
    match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    }
}

/// Percent-encodes a purl component (`/` kept where `keep_slash`).
pub fn purl_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Package URLs of what an inventory holds.
pub mod purl {
    use super::{purl_encode, CachedImage, Chart, Subject};

    /// `pkg:oci/NAME@sha256:...?repository_url=...&tag=...` of the image.
    pub fn subject(s: &Subject) -> String {
        oci(&s.name, &s.manifest.to_string(), &s.tag)
    }

    /// `pkg:oci/...` of a cached container image.
    pub fn image(i: &CachedImage) -> String {
        oci(&i.source, &i.digest.to_string(), &i.tag)
    }

    fn oci(repo: &str, digest: &str, tag: &str) -> String {
        let name = repo.rsplit('/').next().unwrap_or(repo).to_lowercase();
        format!(
            "pkg:oci/{}@{}?repository_url={}&tag={}",
            purl_encode(&name, false),
            purl_encode(digest, false),
            purl_encode(repo, true),
            purl_encode(tag, false)
        )
    }

    /// `pkg:golang/MODULE@VERSION`.
    pub fn golang(path: &str, version: &str) -> String {
        let base = format!("pkg:golang/{}", purl_encode(path, true));
        if version.is_empty() {
            base
        } else {
            format!("{base}@{}", purl_encode(version, false))
        }
    }

    /// `pkg:helm/NAME@VERSION`.
    pub fn helm(c: &Chart) -> String {
        let base = format!("pkg:helm/{}", purl_encode(&c.name, false));
        if c.version.is_empty() {
            base
        } else {
            format!("{base}@{}", purl_encode(&c.version, false))
        }
    }
}

/// The Go modules of the inventory's binaries, each once (by path and
/// version), with the binaries that state it: the main module (for a
/// binary built outside module mode, its main package's path without a
/// version), the dependencies, and the standard library as `stdlib` at the
/// Go version (as syft names it).
pub fn go_modules(inv: &Inventory) -> BTreeMap<gobuild::Module, Vec<usize>> {
    let mut out: BTreeMap<gobuild::Module, Vec<usize>> = BTreeMap::new();
    for (i, f) in inv.files.iter().enumerate() {
        let Some(go) = &f.go else { continue };
        let main = go.main.clone().or_else(|| {
            (!go.path.is_empty()).then(|| gobuild::Module {
                path: go.path.clone(),
                version: String::new(),
            })
        });
        let stdlib = gobuild::Module {
            path: "stdlib".into(),
            version: go.go_version.trim_start_matches("go").to_string(),
        };
        for m in main.iter().chain(&go.deps).chain([&stdlib]) {
            let users = out.entry(m.clone()).or_default();
            if users.last() != Some(&i) {
                users.push(i);
            }
        }
    }
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn spdx_times() {
        for (given, want) in [
            (Some("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z"),
            (
                Some("2024-01-02T03:04:05.123456789Z"),
                "2024-01-02T03:04:05Z",
            ),
            (Some("2024-01-02T03:04:05+02:00"), "2024-01-02T03:04:05Z"),
            (Some("yesterday"), "1970-01-01T00:00:00Z"),
            (None, "1970-01-01T00:00:00Z"),
        ] {
            assert_eq!(super::spdx_time(given), want, "{given:?}");
        }
    }

    #[test]
    fn purls() {
        assert_eq!(
            super::purl::golang("github.com/Foo/bar", "v1.0.0+incompatible"),
            "pkg:golang/github.com/Foo/bar@v1.0.0%2Bincompatible"
        );
        assert_eq!(
            super::without_host("quay.io/tigera/operator"),
            "tigera/operator"
        );
        assert_eq!(super::without_host("library/nginx"), "library/nginx");
        assert_eq!(super::without_host("localhost:5000/a"), "a");
    }
}
