//! `mirror`: every container image a ClusterImage caches in `registry/`
//! (distribution's filesystem layout, see `build::images::layout`) pushed
//! to another registry with the same digests: manifests and indexes as the
//! bytes stored there, blobs by digest, streamed from the layer blobs
//! through the image's index (nothing unpacked, no blob held in memory).
//!
//! Per repository: each blob is asked for first (HEAD) and skipped if
//! there, mounted from a repository this run already pushed it to, else
//! uploaded; then the image manifests by digest, then the indexes (after
//! what they list), then the tags (cosign's `sha256-<hex>.sig` and the
//! referrers fallback `sha256-<hex>` are tags like any other), each skipped
//! if the registry already has it. A second run only asks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use sealer_fs::merge::Node;
use sealer_fs::Kind;
use ureq::http::Method;

use super::client::Body;
use super::manifest::{self as rmanifest, ACCEPT, DOCKER_LIST, DOCKER_MANIFEST};
use super::push::{try_mount, upload_stream, Mount};
use super::Repo;
use crate::build::images::layout::{blob_path, ROOT};
use crate::digest::Digest;
use crate::error::{invalid, Error, Result};
use crate::image::oci::{MEDIA_INDEX, MEDIA_MANIFEST};
use crate::image::view::RootView;
use crate::image::Reference;
use crate::progress::{Counting, Progress};

/// The largest manifest read from `registry/`.
const MAX_MANIFEST: u64 = 4 << 20;

/// One manifest or index of a repository.
pub struct SourceManifest {
    /// Its digest (the name of its blob).
    pub digest: Digest,
    /// Its media type (stated, or inferred for an OCI manifest without one).
    pub media_type: String,
    /// The bytes, exactly as stored.
    pub bytes: Vec<u8>,
    /// Manifests an index lists.
    pub children: Vec<Digest>,
}

/// One repository of an image's `registry/`.
pub struct SourceRepo {
    /// Path without a registry host (`library/nginx`).
    pub path: String,
    /// Configs and layers its manifests name: size, and which of the
    /// views read holds it.
    pub blobs: BTreeMap<Digest, (u64, usize)>,
    /// Its manifests in pushing order: images, then indexes after what
    /// they list.
    pub manifests: Vec<SourceManifest>,
    /// Tag -> the digest it names.
    pub tags: BTreeMap<String, Digest>,
}

/// What a mirror did.
#[derive(Debug, Default)]
pub struct Mirrored {
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs mounted from another repository of the target.
    pub mounted: usize,
    /// Blobs the target had.
    pub existed: usize,
    /// Manifests and tags written.
    pub manifests: usize,
    /// Manifests and tags the target had.
    pub manifests_existed: usize,
    /// Indexes left out (with their tags), and why.
    pub skipped: Vec<String>,
}

/// Reads every repository of the `registry/` the views show (one per
/// platform of a ClusterImage), merged.
pub fn source_repos(views: &[RootView]) -> Result<Vec<SourceRepo>> {
    let root = format!("{ROOT}/repositories");
    let mut merged: BTreeMap<String, SourceRepo> = BTreeMap::new();
    for (i, view) in views.iter().enumerate() {
        let mut paths = Vec::new();
        if let Some(dir) = view.resolve(&root) {
            find_repos(view, &dir, String::new(), &mut paths);
        }
        for p in paths {
            let r = read_repo(view, i, &format!("{root}/{p}"), p.clone())?;
            let Some(have) = merged.get_mut(&p) else {
                merged.insert(p, r);
                continue;
            };
            for (d, b) in r.blobs {
                have.blobs.entry(d).or_insert(b);
            }
            for (t, d) in r.tags {
                have.tags.entry(t).or_insert(d);
            }
            for m in r.manifests {
                if !have.manifests.iter().any(|h| h.digest == m.digest) {
                    have.manifests.push(m);
                }
            }
        }
    }
    Ok(merged
        .into_values()
        .map(|mut r| {
            r.manifests = push_order(std::mem::take(&mut r.manifests));
            r
        })
        .collect())
}

impl SourceRepo {
    /// What an index lists that this repository does not hold.
    fn lacking(&self, m: &SourceManifest) -> Vec<Digest> {
        m.children
            .iter()
            .filter(|c| !self.manifests.iter().any(|h| h.digest == **c))
            .copied()
            .collect()
    }
}

/// Directories holding `_manifests` are repositories; others are path
/// components above them.
fn find_repos(view: &RootView, dir: &sealer_fs::merge::Merged, at: String, out: &mut Vec<String>) {
    let entries = view.read_dir(dir);
    if entries.iter().any(|e| e.name == b"_manifests") {
        out.push(at.clone());
    }
    for e in entries {
        if e.meta.kind != Kind::Dir || e.name.starts_with(b"_") {
            continue;
        }
        let name = String::from_utf8_lossy(e.name);
        let path = if at.is_empty() {
            name.into_owned()
        } else {
            format!("{at}/{name}")
        };
        find_repos(view, &e.merged, path, out);
    }
}

/// Names of a directory's children (empty if it is not there).
fn children(view: &RootView, path: &str) -> Vec<String> {
    view.resolve(path)
        .map(|d| {
            view.read_dir(&d)
                .iter()
                .map(|e| String::from_utf8_lossy(e.name).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn read_link(view: &RootView, path: &str) -> Result<Digest> {
    let bytes = view
        .read_file(path)?
        .ok_or_else(|| invalid(format!("{path}: missing")))?;
    String::from_utf8_lossy(&bytes)
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{path}: not a digest")))
}

fn read_repo(view: &RootView, at: usize, dir: &str, path: String) -> Result<SourceRepo> {
    let mut tags = BTreeMap::new();
    for tag in children(view, &format!("{dir}/_manifests/tags")) {
        let link = format!("{dir}/_manifests/tags/{tag}/current/link");
        if view.resolve(&link).is_some() {
            tags.insert(tag, read_link(view, &link)?);
        }
    }
    let mut digests: BTreeSet<Digest> =
        children(view, &format!("{dir}/_manifests/revisions/sha256"))
            .iter()
            .filter_map(|h| Digest::from_hex(h))
            .collect();
    digests.extend(tags.values().copied());
    let mut blobs = BTreeMap::new();
    let mut manifests = Vec::new();
    for d in digests {
        let m = read_manifest(view, &d, &path)?;
        let v: serde_json::Value = serde_json::from_slice(&m.bytes)
            .map_err(|e| invalid(format!("manifest {d} of {path}: {e}")))?;
        let described =
            std::iter::once(&v["config"]).chain(v["layers"].as_array().into_iter().flatten());
        for desc in described {
            if let (Some(bd), Some(size)) = (desc["digest"].as_str(), desc["size"].as_u64()) {
                let bd: Digest = bd
                    .parse()
                    .map_err(|_| invalid(format!("manifest {d} of {path}: bad digest {bd}")))?;
                blobs.insert(bd, (size, at));
            }
        }
        manifests.push(m);
    }
    Ok(SourceRepo {
        path,
        blobs,
        manifests,
        tags,
    })
}

fn read_manifest(view: &RootView, d: &Digest, repo: &str) -> Result<SourceManifest> {
    let at = blob_path(d);
    let missing = || {
        invalid(format!(
            "manifest {d} of {repo} is named but {at} is not in the image"
        ))
    };
    let m = view.resolve(&at).ok_or_else(missing)?;
    if view.meta(&m).size > MAX_MANIFEST {
        return Err(invalid(format!("manifest {d} of {repo} is too large")));
    }
    let bytes = view.read_file(&at)?.ok_or_else(missing)?;
    rmanifest::verify(&bytes, d, &format!("{repo}'s manifest"))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("manifest {d} of {repo}: {e}")))?;
    let children: Vec<Digest> = v["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["digest"].as_str()?.parse().ok())
        .collect();
    let media_type = match v["mediaType"].as_str() {
        Some(t) => t.to_string(),
        None if v.get("manifests").is_some() => MEDIA_INDEX.to_string(),
        None => MEDIA_MANIFEST.to_string(),
    };
    Ok(SourceManifest {
        digest: *d,
        media_type,
        bytes,
        children,
    })
}

/// Image manifests first, then each index once everything it lists that
/// this repository has is placed.
fn push_order(mut todo: Vec<SourceManifest>) -> Vec<SourceManifest> {
    let here: BTreeSet<Digest> = todo.iter().map(|m| m.digest).collect();
    let mut placed: BTreeSet<Digest> = BTreeSet::new();
    let mut out = Vec::new();
    while !todo.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = todo.into_iter().partition(|m| {
            m.children
                .iter()
                .all(|c| placed.contains(c) || !here.contains(c))
        });
        if ready.is_empty() {
            // A cycle cannot be pushed in any order: keep them as they are.
            out.extend(rest);
            break;
        }
        placed.extend(ready.iter().map(|m| m.digest));
        out.extend(ready);
        todo = rest;
    }
    out
}

/// Where to mirror to: `host[/prefix]`, with the repository appended.
fn target_repo(target: &str, path: &str, insecure: bool) -> Result<Repo> {
    let name = format!("{}/{path}:latest", target.trim_end_matches('/'));
    let r = Reference::parse(&name)?;
    Repo::open(&r, insecure, true)
}

/// What `--dry-run` prints: one line per blob, manifest and tag.
pub fn plan_lines(repos: &[SourceRepo], target: &str) -> Vec<String> {
    let target = target.trim_end_matches('/');
    let mut out = Vec::new();
    for r in repos {
        let to = format!("{target}/{}", r.path);
        for (d, (size, _)) in &r.blobs {
            out.push(format!("blob\t{to}@{d}\t{}", crate::human::bytes(*size)));
        }
        for m in &r.manifests {
            let lacking = r.lacking(m);
            let note = if lacking.is_empty() {
                String::new()
            } else {
                format!(
                    "\tlists {} of {} manifests registry/ lacks: pushed only if the target has them",
                    lacking.len(),
                    m.children.len()
                )
            };
            out.push(format!(
                "manifest\t{to}@{}\t{}{note}",
                m.digest, m.media_type
            ));
        }
        for (tag, d) in &r.tags {
            out.push(format!("tag\t{to}:{tag}\t{d}"));
        }
    }
    out
}

/// Pushes `repos` (read from `views`) under `target` (`host[/prefix]`).
/// An index listing manifests that neither `registry/` nor the target
/// holds cannot be stored by a registry that checks indexes: it and its
/// tags are left out, each named in [`Mirrored::skipped`].
pub fn mirror(
    views: &[RootView],
    repos: &[SourceRepo],
    target: &str,
    insecure: bool,
    progress: &Progress,
) -> Result<Mirrored> {
    let mut done = Mirrored::default();
    // Blob -> a repository of the target that has it (for mounts).
    let mut holders: BTreeMap<Digest, String> = BTreeMap::new();
    for r in repos {
        let repo = target_repo(target, &r.path, insecure)?;
        for (d, (size, at)) in &r.blobs {
            if repo.has_blob(d)? {
                done.existed += 1;
            } else {
                let from: Vec<String> = holders.get(d).cloned().into_iter().collect();
                match try_mount(&repo, d, &from)? {
                    Mount::Done => done.mounted += 1,
                    Mount::Session(session) => {
                        upload_blob(&views[*at], &repo, d, *size, session, progress)?;
                        done.uploaded += 1;
                        done.uploaded_bytes += size;
                    }
                }
            }
            holders.entry(*d).or_insert_with(|| repo.name());
        }
        let mut left_out: BTreeSet<Digest> = BTreeSet::new();
        for m in &r.manifests {
            let mut absent = Vec::new();
            for c in r.lacking(m) {
                if left_out.contains(&c) || manifest_digest(&repo, &c.to_string())? != Some(c) {
                    absent.push(c);
                }
            }
            if let Some(c) = absent.first() {
                left_out.insert(m.digest);
                let tags: Vec<&str> = r
                    .tags
                    .iter()
                    .filter(|(_, d)| **d == m.digest)
                    .map(|(t, _)| t.as_str())
                    .collect();
                done.skipped.push(format!(
                    "{}@{} (tags: {}): lists {c}, which neither registry/ nor the target holds",
                    repo.name(),
                    m.digest,
                    if tags.is_empty() {
                        "none".to_string()
                    } else {
                        tags.join(", ")
                    }
                ));
                continue;
            }
            put_if_missing(&repo, &m.digest.to_string(), m, &mut done)?;
        }
        for (tag, d) in &r.tags {
            let Some(m) = r.manifests.iter().find(|m| m.digest == *d) else {
                continue;
            };
            if !left_out.contains(d) {
                put_if_missing(&repo, tag, m, &mut done)?;
            }
        }
    }
    Ok(done)
}

fn put_if_missing(
    repo: &Repo,
    reference: &str,
    m: &SourceManifest,
    done: &mut Mirrored,
) -> Result<()> {
    if manifest_digest(repo, reference)? == Some(m.digest) {
        done.manifests_existed += 1;
        return Ok(());
    }
    super::push::put_manifest(repo, reference, &m.media_type, &m.bytes)?;
    done.manifests += 1;
    Ok(())
}

/// The digest the target serves for a tag or digest (HEAD), if any.
fn manifest_digest(repo: &Repo, reference: &str) -> Result<Option<Digest>> {
    let url = repo.url(&format!("manifests/{reference}"));
    let accept = format!("{ACCEPT}, {DOCKER_MANIFEST}, {DOCKER_LIST}");
    let mut resp = repo.client.send(
        Method::HEAD,
        &url,
        &[("Accept", &accept)],
        Body::Empty,
        &repo.scope,
    )?;
    match resp.status().as_u16() {
        200 => Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())),
        404 => Ok(None),
        code => Err(repo.client.status_error(
            &mut resp,
            code,
            &format!("checking manifest {reference}"),
        )),
    }
}

/// Streams blob `d` from the view's `registry/` to the target.
fn upload_blob(
    view: &RootView,
    repo: &Repo,
    d: &Digest,
    size: u64,
    session: Option<String>,
    progress: &Progress,
) -> Result<()> {
    let at = blob_path(d);
    let missing = |why: &str| Error::Blob {
        digest: *d,
        why: format!("{at} {why}"),
    };
    let m = view
        .resolve_follow(&at)
        .map_err(|_| missing("is not in the image's registry/"))?;
    let meta = view.meta(&m);
    if meta.kind != Kind::File || meta.size != size {
        return Err(missing(&format!(
            "is not a file of the {size} bytes its manifest says"
        )));
    }
    let task = progress.start(&d.short(), "Pushing", Some(size));
    let mut reader = Counting {
        inner: ViewBlob {
            view,
            node: m.top(),
            pos: 0,
            size,
        },
        task: &task,
    };
    upload_stream(repo, d, &mut reader, session)?;
    task.finish("Pushed");
    Ok(())
}

/// A file of the view, read in order.
struct ViewBlob<'a> {
    view: &'a RootView,
    node: Node,
    pos: u64,
    size: u64,
}

impl Read for ViewBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.size - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.view.read_at(self.node, self.pos, &mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(d: u8, children: &[u8]) -> SourceManifest {
        let digest = |b: u8| Digest::of(&[b]);
        SourceManifest {
            digest: digest(d),
            media_type: String::new(),
            bytes: Vec::new(),
            children: children.iter().map(|&c| digest(c)).collect(),
        }
    }

    #[test]
    fn indexes_come_after_what_they_list() {
        // 3 lists 1 and 4 (an index); 4 lists 2; 5 lists something absent.
        let order = push_order(vec![
            m(3, &[1, 4]),
            m(4, &[2]),
            m(1, &[]),
            m(2, &[]),
            m(5, &[9]),
        ]);
        let pos = |b: u8| {
            order
                .iter()
                .position(|x| x.digest == Digest::of(&[b]))
                .expect("placed")
        };
        assert!(pos(1) < pos(3) && pos(4) < pos(3) && pos(2) < pos(4));
        assert_eq!(order.len(), 5);
    }
}
