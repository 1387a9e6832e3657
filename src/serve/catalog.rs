//! What `sealer serve` serves, opened once at start (images are immutable):
//!
//! - the ClusterImages named on the command line, each under its name
//!   without registry host (`k8s:v1` as `k8s`, `reg.example.com/a/b:v1` as
//!   `a/b`): the tag's manifest or index, the manifests it names, configs
//!   and layers, straight from the store's blobs (layers uncompressed,
//!   `application/vnd.oci.image.layer.v1.tar`);
//! - the container images in each one's `registry/docker/registry/v2/`
//!   (distribution's filesystem layout, see `crate::build::images::layout`),
//!   read through the layers' indexes, whose file bytes are ranges of the
//!   layer blobs: nothing is unpacked or copied.
//!
//! Lookups follow docker-registry: a tag is `_manifests/tags/<tag>/current/link`,
//! a manifest by digest needs `_manifests/revisions/sha256/<hex>/link` (or
//! a `_layers` link), a blob needs `_layers/sha256/<hex>/link`; data is
//! `blobs/sha256/<2 hex>/<hex>/data`. Paths are built from names, tags and
//! digests that `route` validated, and symlinks in the tree are not
//! followed, so no lookup leaves the tree.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;

use sealer_fs::merge::{Merged, Node};
use sealer_fs::Kind;

use crate::build::images::layout::ROOT;
use crate::digest::Digest;
use crate::error::{invalid, Error, Result};
use crate::image::oci::MEDIA_MANIFEST;
use crate::image::view::RootView;
use crate::image::Reference;
use crate::store::Store;

/// Manifests larger than this are not served (distribution's limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;
/// Deepest repository name walked in `repositories/`.
const MAX_DEPTH: usize = 16;

/// A ClusterImage served under its name.
#[derive(Default)]
struct ClusterRepo {
    /// Tag -> (digest, media type) of what it names.
    tags: BTreeMap<String, (Digest, String)>,
    /// Every manifest and index reachable from the tags, with media type.
    manifests: HashMap<Digest, String>,
    /// Configs and layers.
    blobs: HashSet<Digest>,
}

/// A manifest ready to send.
pub struct ManifestBody {
    /// Its bytes, as stored.
    pub bytes: Vec<u8>,
    /// `Content-Type`: the manifest's own media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
}

/// Where a blob's bytes are.
pub enum BlobBody<'a> {
    /// A whole file (a store blob).
    File(File, u64),
    /// A range of a layer blob: file, offset, length.
    Extent(&'a File, u64, u64),
    /// A file of a partly present (lazily pulled) layer, read through it.
    Entry(&'a RootView, Node, u64),
}

impl BlobBody<'_> {
    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            BlobBody::File(_, n) | BlobBody::Extent(_, _, n) | BlobBody::Entry(_, _, n) => *n,
        }
    }
}

/// Everything served.
pub struct Catalog {
    blobs_dir: std::path::PathBuf,
    cluster: BTreeMap<String, ClusterRepo>,
    trees: Vec<RootView>,
    /// Every repository, sorted.
    repositories: Vec<String>,
    /// Tags of the container images' repositories, sorted.
    tree_tags: BTreeMap<String, Vec<String>>,
}

/// The repository a ClusterImage name is served as: its path without the
/// registry host (`k8s` for `k8s:v1`, `a/b` for `reg.example.com/a/b:v1`,
/// `library/x` for `docker.io/library/x`).
pub fn repository_of(name: &str) -> Result<(String, String)> {
    let r = Reference::parse(name)?;
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let path = match r.repo.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest.to_string()
        }
        _ => r.repo.clone(),
    };
    Ok((path, tag))
}

impl Catalog {
    /// Opens `images` (names as `sealer images` shows them, or ids) and pins
    /// their blobs for the life of the process.
    pub fn open(store: &Store, images: &[String]) -> Result<Catalog> {
        let mut cat = Catalog {
            blobs_dir: store.root().join("blobs/sha256"),
            cluster: BTreeMap::new(),
            trees: Vec::new(),
            repositories: Vec::new(),
            tree_tags: BTreeMap::new(),
        };
        let lock = store.lock()?;
        for what in images {
            let (name, desc) = match store.find_tag(what)? {
                Some(t) => t,
                None => {
                    // An id or name@digest: that one image.
                    let img = store.resolve(what)?;
                    let name = img.name.clone().unwrap_or_else(|| what.clone());
                    let desc = crate::image::oci::Descriptor::new(
                        MEDIA_MANIFEST,
                        img.manifest_digest,
                        std::fs::metadata(store.blob_path(&img.manifest_digest))
                            .map(|m| m.len())
                            .unwrap_or(0),
                    );
                    (name, desc)
                }
            };
            let (repo, tag) = repository_of(&name)?;
            let entry = cat.cluster.entry(repo.clone()).or_default();
            if let Some((other, _)) = entry.tags.get(&tag) {
                if *other != desc.digest {
                    return Err(invalid(format!(
                        "{what} and another image would both be served as {repo}:{tag}"
                    )));
                }
            }
            entry
                .tags
                .insert(tag, (desc.digest, desc.media_type.clone()));
            entry.manifests.insert(desc.digest, desc.media_type.clone());
            let mut pinned = vec![desc.digest];
            for m in store.manifests_of(&desc)? {
                let img = store.load_image(&m.digest, Some(name.clone()))?;
                for l in &img.manifest.layers {
                    if !store.has_blob(&l.digest) {
                        return Err(Error::Blob {
                            digest: l.digest,
                            why: format!(
                                "a layer of {name} is only partly here (pulled --lazy): `sealer pull {name}` completes it"
                            ),
                        });
                    }
                }
                entry.manifests.insert(m.digest, m.media_type.clone());
                entry.blobs.insert(img.id);
                entry.blobs.extend(img.layers());
                pinned.extend([m.digest, img.id]);
                pinned.extend(img.layers());
                cat.trees.push(RootView::open(store, &img)?);
            }
            store.pin(&pinned, &lock)?;
        }
        drop(lock);
        cat.index_trees();
        let mut all: BTreeSet<String> = cat.cluster.keys().cloned().collect();
        all.extend(cat.tree_tags.keys().cloned());
        cat.repositories = all.into_iter().collect();
        Ok(cat)
    }

    /// Walks every tree's `repositories/` once: repositories and their tags.
    fn index_trees(&mut self) {
        let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for view in &self.trees {
            let base = format!("{ROOT}/repositories");
            let Some(dir) = view.resolve(&base) else {
                continue;
            };
            walk_repos(view, &dir, &mut Vec::new(), &mut found);
        }
        self.tree_tags = found
            .into_iter()
            .map(|(repo, tags)| (repo, tags.into_iter().collect()))
            .collect();
    }

    /// Every repository, sorted.
    pub fn repositories(&self) -> &[String] {
        &self.repositories
    }

    /// The tags of `repo`, sorted; `None` if it is not served.
    pub fn tags(&self, repo: &str) -> Option<Vec<String>> {
        let mut tags: BTreeSet<String> = BTreeSet::new();
        let cluster = self.cluster.get(repo);
        if let Some(c) = cluster {
            tags.extend(c.tags.keys().cloned());
        }
        let tree = self.tree_tags.get(repo);
        if let Some(t) = tree {
            tags.extend(t.iter().cloned());
        }
        (cluster.is_some() || tree.is_some()).then(|| tags.into_iter().collect())
    }

    /// Whether `repo` is served.
    pub fn has_repository(&self, repo: &str) -> bool {
        self.cluster.contains_key(repo) || self.tree_tags.contains_key(repo)
    }

    /// The manifest `repo` has under `tag`.
    pub fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestBody>> {
        if let Some((d, media)) = self.cluster.get(repo).and_then(|c| c.tags.get(tag)) {
            return self.store_manifest(d, media).map(Some);
        }
        let link = format!("{ROOT}/repositories/{repo}/_manifests/tags/{tag}/current/link");
        for view in &self.trees {
            if let Some(d) = read_link(view, &link) {
                return self.tree_manifest(repo, &d);
            }
        }
        Ok(None)
    }

    /// The manifest `repo` has with digest `d`.
    pub fn manifest_by_digest(&self, repo: &str, d: &Digest) -> Result<Option<ManifestBody>> {
        if let Some(media) = self.cluster.get(repo).and_then(|c| c.manifests.get(d)) {
            return self.store_manifest(d, media).map(Some);
        }
        self.tree_manifest(repo, d)
    }

    fn store_manifest(&self, d: &Digest, media: &str) -> Result<ManifestBody> {
        let path = self.blobs_dir.join(d.hex());
        let bytes = std::fs::read(&path).map_err(|e| Error::Blob {
            digest: *d,
            why: e.to_string(),
        })?;
        Ok(ManifestBody {
            bytes,
            media_type: media.to_string(),
            digest: *d,
        })
    }

    fn tree_manifest(&self, repo: &str, d: &Digest) -> Result<Option<ManifestBody>> {
        let hex = d.hex();
        let links = [
            format!("{ROOT}/repositories/{repo}/_manifests/revisions/sha256/{hex}/link"),
            format!("{ROOT}/repositories/{repo}/_layers/sha256/{hex}/link"),
        ];
        if !self.linked(&links, d) {
            return Ok(None);
        }
        let Some((view, node, size)) = self.tree_data(d) else {
            return Ok(None);
        };
        if size > MAX_MANIFEST {
            return Err(invalid(format!("manifest {d} is larger than 4 MiB")));
        }
        let mut bytes = vec![0u8; size as usize];
        let mut off = 0;
        while off < bytes.len() {
            let n = view
                .read_at(node, off as u64, &mut bytes[off..])
                .map_err(|e| Error::Blob {
                    digest: *d,
                    why: e.to_string(),
                })?;
            if n == 0 {
                break;
            }
            off += n;
        }
        bytes.truncate(off);
        let media_type = media_type_of(&bytes);
        Ok(Some(ManifestBody {
            bytes,
            media_type,
            digest: *d,
        }))
    }

    /// Blob `d` of `repo`, if `repo` has it.
    pub fn blob(&self, repo: &str, d: &Digest) -> Result<Option<BlobBody<'_>>> {
        if self.cluster.get(repo).is_some_and(|c| c.blobs.contains(d)) {
            let path = self.blobs_dir.join(d.hex());
            let file = File::open(&path).map_err(|e| Error::Blob {
                digest: *d,
                why: e.to_string(),
            })?;
            let len = file
                .metadata()
                .map_err(|e| Error::Blob {
                    digest: *d,
                    why: e.to_string(),
                })?
                .len();
            return Ok(Some(BlobBody::File(file, len)));
        }
        let link = [format!(
            "{ROOT}/repositories/{repo}/_layers/sha256/{}/link",
            d.hex()
        )];
        if !self.linked(&link, d) {
            return Ok(None);
        }
        Ok(self
            .tree_data(d)
            .map(|(view, node, size)| match view.extent(node) {
                Some((file, offset, len)) => BlobBody::Extent(file, offset, len),
                None => BlobBody::Entry(view, node, size),
            }))
    }

    /// Whether any tree has one of `links` naming `d`.
    fn linked(&self, links: &[String], d: &Digest) -> bool {
        self.trees
            .iter()
            .any(|v| links.iter().any(|l| read_link(v, l) == Some(*d)))
    }

    /// The `data` file of blob `d` in the first tree that has it.
    fn tree_data(&self, d: &Digest) -> Option<(&RootView, Node, u64)> {
        let hex = d.hex();
        let path = format!("{ROOT}/blobs/sha256/{}/{hex}/data", &hex[..2]);
        self.trees.iter().find_map(|v| {
            let (node, size) = regular_file(v, &path)?;
            Some((v, node, size))
        })
    }
}

/// A regular file at `path` (a symlink is not followed): node and size.
fn regular_file(view: &RootView, path: &str) -> Option<(Node, u64)> {
    let m = view.resolve(path)?;
    let meta = view.meta(&m);
    (meta.kind == Kind::File).then(|| (m.top(), meta.size))
}

/// The digest a distribution `link` file holds.
fn read_link(view: &RootView, path: &str) -> Option<Digest> {
    let (node, size) = regular_file(view, path)?;
    if size > 256 {
        return None;
    }
    let mut buf = vec![0u8; size as usize];
    let n = view.read_at(node, 0, &mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// Collects repositories (directories with `_manifests`) and their tags.
fn walk_repos(
    view: &RootView,
    dir: &Merged,
    path: &mut Vec<String>,
    found: &mut BTreeMap<String, BTreeSet<String>>,
) {
    if path.len() > MAX_DEPTH {
        return;
    }
    for e in view.read_dir(dir) {
        if e.meta.kind != Kind::Dir {
            continue;
        }
        let Ok(name) = std::str::from_utf8(e.name) else {
            continue;
        };
        if name == "_manifests" && !path.is_empty() {
            let repo = path.join("/");
            if !super::route::is_name(&repo) {
                continue;
            }
            let tags = found.entry(repo).or_default();
            let Some(t) = view
                .read_dir(&e.merged)
                .into_iter()
                .find(|t| t.name == b"tags")
            else {
                continue;
            };
            for tag in view.read_dir(&t.merged) {
                let Ok(tag_name) = std::str::from_utf8(tag.name) else {
                    continue;
                };
                let has_current = view
                    .read_dir(&tag.merged)
                    .iter()
                    .any(|c| c.name == b"current");
                if has_current && super::route::is_tag(tag_name) {
                    tags.insert(tag_name.to_string());
                }
            }
        } else if !name.starts_with('_') {
            path.push(name.to_string());
            walk_repos(view, &e.merged, path, found);
            path.pop();
        }
    }
}

/// The media type a manifest declares, as distribution serves it when the
/// stored JSON has none: schema 1, an index, or an image manifest.
pub fn media_type_of(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(rename = "schemaVersion", default)]
        schema_version: Option<u32>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        signatures: Option<serde_json::Value>,
    }
    let Ok(p) = serde_json::from_slice::<Probe>(bytes) else {
        return MEDIA_MANIFEST.to_string();
    };
    match p {
        Probe {
            media_type: Some(m),
            ..
        } if !m.is_empty() => m,
        Probe {
            schema_version: Some(1),
            signatures,
            ..
        } => if signatures.is_some() {
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        } else {
            "application/vnd.docker.distribution.manifest.v1+json"
        }
        .to_string(),
        Probe {
            manifests: Some(_), ..
        } => crate::image::oci::MEDIA_INDEX.to_string(),
        _ => MEDIA_MANIFEST.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_names_and_media_types() {
        let cases = [
            ("k8s:v1", ("k8s", "v1")),
            ("k8s", ("k8s", "latest")),
            ("reg.example.com/a/b:v1", ("a/b", "v1")),
            ("127.0.0.1:5000/x:2", ("x", "2")),
            ("localhost/y:3", ("y", "3")),
            (
                "sealer-io/kubernetes:v1.19.8",
                ("sealer-io/kubernetes", "v1.19.8"),
            ),
        ];
        for (name, (repo, tag)) in cases {
            assert_eq!(
                repository_of(name).expect(name),
                (repo.to_string(), tag.to_string())
            );
        }
        let types = [
            (
                r#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
                "application/vnd.docker.distribution.manifest.v2+json",
            ),
            (
                r#"{"schemaVersion":2,"manifests":[]}"#,
                crate::image::oci::MEDIA_INDEX,
            ),
            (r#"{"schemaVersion":2,"config":{}}"#, MEDIA_MANIFEST),
            (
                r#"{"schemaVersion":1,"signatures":[]}"#,
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
            ),
            ("not json", MEDIA_MANIFEST),
        ];
        for (json, want) in types {
            assert_eq!(media_type_of(json.as_bytes()), want, "{json}");
        }
    }
}
