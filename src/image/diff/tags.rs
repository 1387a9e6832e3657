//! The container images cached in a ClusterImage's `registry/` (a docker
//! registry's storage), as `repository:tag -> digest`, and how two images'
//! sets differ (`sealer diff --images`).
//!
//! ```text
//! registry/docker/registry/v2/repositories/
//!   library/nginx/                      <- repository `library/nginx`
//!     _manifests/tags/1.25/current/link <- "sha256:<hex>" (tag 1.25)
//!     _layers/ _uploads/                (not read)
//! ```

use std::collections::BTreeMap;

use sealer_fs::merge::Merged;
use sealer_fs::Kind;

use crate::error::{Error, Result};
use crate::image::view::RootView;

/// Where the repositories lie in the rootfs.
pub const REPOSITORIES: &str = "registry/docker/registry/v2/repositories";

/// Directory nesting of repository names followed before giving up.
const MAX_DEPTH: usize = 16;

/// Bytes of a `link` file read (`sha256:` + 64 hex digits and some room).
const LINK_MAX: u64 = 256;

/// `repository:tag` -> manifest digest, sorted.
pub type Tags = BTreeMap<String, String>;

/// How one `repository:tag` differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagChange {
    /// Only in the second image, at this digest.
    Added(String),
    /// Only in the first image, at this digest.
    Removed(String),
    /// In both, pointing at another digest: (old, new).
    Retagged(String, String),
}

/// The tags of the registry storage in `view` (none without `registry/`).
pub fn tags(view: &RootView) -> Result<Tags> {
    let mut out = Tags::new();
    if let Some(dir @ Merged::Dir(_)) = view.resolve(REPOSITORIES) {
        walk(view, &dir, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

fn walk(view: &RootView, dir: &Merged, repo: &mut Vec<String>, out: &mut Tags) -> Result<()> {
    if repo.len() > MAX_DEPTH {
        return Ok(());
    }
    for e in view.read_dir(dir) {
        if e.meta.kind != Kind::Dir {
            continue;
        }
        let name = String::from_utf8_lossy(e.name).into_owned();
        if name == "_manifests" {
            let repository = repo.join("/");
            manifests(view, &e.merged, &repository, out)?;
        } else if !name.starts_with('_') {
            repo.push(name);
            walk(view, &e.merged, repo, out)?;
            repo.pop();
        }
    }
    Ok(())
}

/// `_manifests/tags/<tag>/current/link` of one repository.
fn manifests(view: &RootView, dir: &Merged, repository: &str, out: &mut Tags) -> Result<()> {
    let Merged::Dir(_) = dir else {
        return Ok(());
    };
    let Some(tags) = view.read_dir(dir).into_iter().find(|e| e.name == b"tags") else {
        return Ok(());
    };
    for tag in view.read_dir(&tags.merged) {
        let Some(current) = view
            .read_dir(&tag.merged)
            .into_iter()
            .find(|e| e.name == b"current")
        else {
            continue;
        };
        let Some(link) = view
            .read_dir(&current.merged)
            .into_iter()
            .find(|e| e.name == b"link" && e.meta.kind == Kind::File)
        else {
            continue;
        };
        // A link holds `sha256:<hex>`; read no more than a digest's worth.
        let mut digest = vec![0u8; link.meta.size.min(LINK_MAX) as usize];
        let n = view
            .read_at(link.merged.top(), 0, &mut digest)
            .map_err(|err| Error::InImage {
                path: format!(
                    "/{REPOSITORIES}/{repository}/_manifests/tags/{}/current/link",
                    String::from_utf8_lossy(tag.name)
                ),
                why: format!("cannot be read: {err}"),
            })?;
        digest.truncate(n);
        out.insert(
            format!("{repository}:{}", String::from_utf8_lossy(tag.name)),
            String::from_utf8_lossy(&digest).trim().to_string(),
        );
    }
    Ok(())
}

/// What changed from `old` to `new`, by `repository:tag`.
pub fn compare(old: &Tags, new: &Tags) -> Vec<(String, TagChange)> {
    let mut out = Vec::new();
    for (name, d) in old {
        match new.get(name) {
            None => out.push((name.clone(), TagChange::Removed(d.clone()))),
            Some(n) if n != d => {
                out.push((name.clone(), TagChange::Retagged(d.clone(), n.clone())))
            }
            Some(_) => {}
        }
    }
    for (name, d) in new {
        if !old.contains_key(name) {
            out.push((name.clone(), TagChange::Added(d.clone())));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
