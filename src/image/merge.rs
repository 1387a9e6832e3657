//! `sealer merge` (sealer v0.8's command, for v0.11 images): one image made
//! of several. Its layers are the images' layers in order, a layer several
//! share once (where it first appears); later images win where paths
//! collide. Config and sealer's annotations are merged: env and labels
//! (later wins), applications and launch app names of all in order, the
//! container image list of all.
//!
//! A collision is a path one image shows that the merged image shows
//! otherwise (another file, or none: a later whiteout), with other content
//! (same bytes from different layers are no collision). It is found by
//! walking each image's merged tree and the result's, through the layer
//! indexes; contents are read only where two entries of one path differ.

use std::collections::{BTreeMap, HashMap, HashSet};

use sealer_fs::merge::Merged;
use sealer_fs::Kind;

use super::extension::{
    ImageExtension, ANNOTATION as ANNOTATION_EXTENSION, APP_INSTALLER, KUBE_INSTALLER,
    SCHEMA_VERSION,
};
use super::oci::{Config, History};
use super::spec::{ContainerImage, ANNOTATION_CONTAINER_IMAGES};
use super::view::RootView;
use super::Image;
use crate::digest::Digest;
use crate::error::{invalid, Result};
use crate::store::Store;

/// A path an earlier image loses in the merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collision {
    /// Path inside the rootfs (bytes, as in the tar).
    pub path: Vec<u8>,
    /// The image whose entry is lost.
    pub lost: String,
    /// The image whose entry wins, or `None` when a later whiteout hides it.
    pub winner: Option<String>,
}

impl std::fmt::Display for Collision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = String::from_utf8_lossy(&self.path);
        match &self.winner {
            Some(w) => write!(f, "{path}: {w} overrides {}", self.lost),
            None => write!(f, "{path}: of {} is deleted by a later image", self.lost),
        }
    }
}

/// What merging makes, before it is written.
pub struct Plan {
    /// Layers, bottom first, each once.
    pub layers: Vec<(Digest, u64)>,
    /// The merged config.
    pub config: Config,
    /// The merged manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Paths earlier images lose.
    pub collisions: Vec<Collision>,
}

/// Plans the merge of `images` (name, image), in order. Fewer than two
/// images, or images of different platforms, are refused.
pub fn plan(store: &Store, images: &[(String, Image)]) -> Result<Plan> {
    if images.len() < 2 {
        return Err(invalid("merge needs at least two images"));
    }
    let first = &images[0];
    for (name, img) in &images[1..] {
        if img.platform() != first.1.platform() {
            return Err(invalid(format!(
                "cannot merge images of different platforms: {} is {}, {name} is {}",
                first.0,
                first.1.platform(),
                img.platform()
            )));
        }
    }
    let mut seen = HashSet::new();
    let mut layers = Vec::new();
    let mut history = Vec::new();
    for (name, img) in images {
        let made: Vec<&History> = img
            .config
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .collect();
        let aligned = made.len() == img.manifest.layers.len();
        let mut k = 0;
        for h in &img.config.history {
            if h.empty_layer {
                history.push(h.clone());
                continue;
            }
            if aligned && seen.contains(&img.manifest.layers[k].digest) {
                k += 1;
                continue;
            }
            if aligned {
                history.push(h.clone());
            }
            k += 1;
        }
        for l in &img.manifest.layers {
            if seen.insert(l.digest) {
                layers.push((l.digest, l.size));
                if !aligned {
                    history.push(History {
                        created_by: Some(format!("merge: a layer of {name}")),
                        ..History::default()
                    });
                }
            }
        }
    }
    let names: Vec<&str> = images.iter().map(|(n, _)| n.as_str()).collect();
    history.push(History {
        created: Some(crate::build::now_rfc3339()),
        created_by: Some(format!("sealer merge {}", names.join(" "))),
        empty_layer: true,
        ..History::default()
    });
    let config = merge_configs(images, &layers, history);
    let annotations = merge_annotations(images);
    let collisions = collisions(store, images, &layers)?;
    Ok(Plan {
        layers,
        config,
        annotations,
        collisions,
    })
}

fn merge_configs(
    images: &[(String, Image)],
    layers: &[(Digest, u64)],
    history: Vec<History>,
) -> Config {
    let mut config = images[0].1.config.clone();
    let mut env: Vec<String> = Vec::new();
    for (_, img) in images {
        let c = &img.config.config;
        for kv in &c.env {
            let key = kv.split('=').next().unwrap_or(kv);
            match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
                Some(e) => *e = kv.clone(),
                None => env.push(kv.clone()),
            }
        }
        config.config.labels.extend(c.labels.clone());
        if c.cmd.is_some() {
            config.config.cmd = c.cmd.clone();
        }
        if img.config.author.is_some() {
            config.author = img.config.author.clone();
        }
    }
    config.config.env = env;
    config.created = Some(crate::build::now_rfc3339());
    config.rootfs.kind = "layers".into();
    config.rootfs.diff_ids = layers.iter().map(|l| l.0).collect();
    config.history = history;
    config
}

/// The extension and container image list of all the images.
fn merge_annotations(images: &[(String, Image)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut ext: Option<ImageExtension> = None;
    let mut listed: Vec<ContainerImage> = Vec::new();
    for (_, img) in images {
        let ann = &img.manifest.annotations;
        if let Some(e) = ann
            .get(ANNOTATION_EXTENSION)
            .and_then(|t| ImageExtension::from_annotation(t))
        {
            let m = ext.get_or_insert_with(|| ImageExtension {
                schema_version: SCHEMA_VERSION.into(),
                kind: APP_INSTALLER.into(),
                ..ImageExtension::default()
            });
            if e.kind == KUBE_INSTALLER {
                m.kind = KUBE_INSTALLER.into();
            }
            for app in e.applications {
                match m.app_mut(&app.name) {
                    Some(a) => *a = app,
                    None => m.applications.push(app),
                }
            }
            m.labels.extend(e.labels);
            m.env.extend(e.env);
            m.launch.cmds.extend(e.launch.cmds);
            for n in e.launch.app_names {
                if !m.launch.app_names.contains(&n) {
                    m.launch.app_names.push(n);
                }
            }
        }
        if let Some(list) = ann
            .get(ANNOTATION_CONTAINER_IMAGES)
            .and_then(|t| serde_json::from_str::<Vec<ContainerImage>>(t).ok())
        {
            for c in list {
                if !listed.contains(&c) {
                    listed.push(c);
                }
            }
        }
    }
    if let Some(mut e) = ext {
        e.build_client.sealer_version = env!("SEALER_GIT_VERSION").into();
        out.insert(ANNOTATION_EXTENSION.into(), e.to_annotation());
    }
    if !listed.is_empty() {
        if let Ok(json) = serde_json::to_string(&listed) {
            out.insert(ANNOTATION_CONTAINER_IMAGES.into(), json);
        }
    }
    out
}

/// An entry as a tree shows it: which layer and entry, of what kind.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Shown {
    layer: [u8; 32],
    id: u64,
    kind: Kind,
}

/// Every path of a view (directories included) and the entry it shows.
fn walk(view: &RootView) -> HashMap<Vec<u8>, Shown> {
    let mut out = HashMap::new();
    let Some(root) = view.resolve("") else {
        return out;
    };
    let mut todo: Vec<(Vec<u8>, Merged)> = vec![(Vec::new(), root)];
    while let Some((path, dir)) = todo.pop() {
        for e in view.read_dir(&dir) {
            let mut p = path.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(e.name);
            let top = e.merged.top();
            out.insert(
                p.clone(),
                Shown {
                    layer: *view.layer_digest(top),
                    id: u64::from(top.id),
                    kind: e.meta.kind,
                },
            );
            if matches!(e.merged, Merged::Dir(_)) {
                todo.push((p, e.merged));
            }
        }
    }
    out
}

fn collisions(
    store: &Store,
    images: &[(String, Image)],
    layers: &[(Digest, u64)],
) -> Result<Vec<Collision>> {
    let digests: Vec<Digest> = layers.iter().map(|l| l.0).collect();
    let merged_view = RootView::of_layers(store, &digests)?;
    let merged = walk(&merged_view);
    let mut views = Vec::new();
    let mut trees = Vec::new();
    for (_, img) in images {
        let v = RootView::open(store, img)?;
        trees.push(walk(&v));
        views.push(v);
    }
    let mut out = Vec::new();
    for (i, tree) in trees.iter().enumerate() {
        let mut paths: Vec<&Vec<u8>> = tree.keys().collect();
        paths.sort();
        for p in paths {
            let mine = tree[p];
            let shown = merged.get(p);
            if shown == Some(&mine)
                || (mine.kind == Kind::Dir && shown.is_some_and(|s| s.kind == Kind::Dir))
            {
                continue;
            }
            // A whiteout above hides the whole subtree: name its top only.
            if shown.is_none() && parent_missing(&merged, p) {
                continue;
            }
            let winner = shown.and_then(|s| {
                (i + 1..images.len())
                    .rev()
                    .find(|&j| trees[j].get(p) == Some(s))
            });
            if let (Some(s), Some(j)) = (shown, winner) {
                if same_content(&views[i], p, mine, &views[j], *s) {
                    continue;
                }
            }
            out.push(Collision {
                path: p.clone(),
                lost: images[i].0.clone(),
                winner: winner.map(|j| images[j].0.clone()),
            });
        }
    }
    Ok(out)
}

fn parent_missing(tree: &HashMap<Vec<u8>, Shown>, path: &[u8]) -> bool {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => !tree.contains_key(&path[..i]),
        None => false,
    }
}

/// Whether two entries of one path hold the same thing (kind, link target
/// or bytes); their attributes are not compared.
fn same_content(a: &RootView, path: &[u8], x: Shown, b: &RootView, y: Shown) -> bool {
    if x.kind != y.kind || x.kind == Kind::Dir {
        return x.kind == y.kind;
    }
    let (Some(ma), Some(mb)) = (a.resolve(path), b.resolve(path)) else {
        return false;
    };
    let (na, nb) = (ma.top(), mb.top());
    let (ia, ib) = (a.layer_index(na), b.layer_index(nb));
    match x.kind {
        Kind::Symlink => ia.link_target(na.id) == ib.link_target(nb.id),
        Kind::File => {
            let (sa, sb) = (ia.meta(na.id).size, ib.meta(nb.id).size);
            if sa != sb {
                return false;
            }
            let mut off = 0u64;
            let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
            while off < sa {
                let want = ((sa - off) as usize).min(ba.len());
                let (Ok(ra), Ok(rb)) = (
                    a.read_at(na, off, &mut ba[..want]),
                    b.read_at(nb, off, &mut bb[..want]),
                ) else {
                    return false;
                };
                if ra == 0 || ra != rb || ba[..ra] != bb[..rb] {
                    return false;
                }
                off += ra as u64;
            }
            true
        }
        _ => ia.meta(na.id).data == ib.meta(nb.id).data,
    }
}
