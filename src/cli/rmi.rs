//! `sealer rmi [-f] NAME|ID...`: untag, then delete blobs nothing references
//! (the blobs of a mounted image stay while its server lives: see store pins).

use crate::image::oci::REF_NAME;
use crate::store::Store;

/// Flags of `sealer rmi`.
#[derive(clap::Args)]
pub struct Args {
    /// Images (names or ids)
    #[arg(required = true)]
    images: Vec<String>,
    /// Remove every name of an image given by id, and images in use by mounts
    #[arg(short, long)]
    force: bool,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let lock = store.lock()?;
    let index = store.read_index()?;
    let mut names = Vec::new();
    let mut mounted = Vec::new();
    for what in &a.images {
        let img = store.resolve(what)?;
        if let Some(m) = store
            .mounts()?
            .into_iter()
            .find(|m| m.image_id() == Some(img.id.to_string().as_str()) && m.alive())
        {
            mounted.push((what, img.manifest_digest, m));
        }
        let by_name = img.name.as_deref().is_some_and(|n| {
            crate::image::Reference::parse(what)
                .is_ok_and(|r| r.full_name() == n || r.docker_alias().as_deref() == Some(n))
        });
        if by_name {
            names.extend(img.name.clone());
            continue;
        }
        let all: Vec<String> = index
            .manifests
            .iter()
            .filter(|d| d.digest == img.manifest_digest)
            .filter_map(|d| d.annotations.get(REF_NAME).cloned())
            .collect();
        if all.len() > 1 && !a.force {
            anyhow::bail!(
                "image {what} has several names ({}); remove them by name or use -f",
                all.join(", ")
            );
        }
        names.extend(all);
    }
    // A mounted image may lose names, but not its last one (without -f).
    for (what, manifest, m) in &mounted {
        let keeps_a_name = index.manifests.iter().any(|d| {
            d.digest == *manifest
                && d.annotations
                    .get(REF_NAME)
                    .is_some_and(|n| !names.contains(n))
        });
        if !keeps_a_name && !a.force {
            anyhow::bail!(
                "image {what} is mounted at {} (pid {}); umount it first or use -f",
                m.mountpoint.display(),
                m.server.pid
            );
        }
    }
    let removed = store.untag(&names, &lock)?;
    for n in &names {
        println!("Untagged: {n}");
    }
    for d in removed {
        println!("Deleted: {d}");
    }
    Ok(())
}
