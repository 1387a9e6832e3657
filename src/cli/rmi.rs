//! `sealer rmi [-f] NAME|ID...`: untag, then delete blobs nothing references
//! (the blobs of a mounted image stay while its server lives: see store pins).

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
    let mounts: Vec<_> = store.mounts()?.into_iter().filter(|m| m.alive()).collect();
    let mut names = Vec::new();
    // (what, manifest, mount) of each mounted image a name given reaches.
    let mut mounted = Vec::new();
    for what in &a.images {
        // A name goes (with every platform of its index); an id takes
        // every name that reaches its image.
        let (reached, manifests) = match store.find_tag(what)? {
            Some((name, desc)) => {
                let manifests: Vec<_> = store.manifests_of(&desc)?;
                (
                    vec![name],
                    manifests.into_iter().map(|m| m.digest).collect(),
                )
            }
            None => {
                let img = store.resolve(what)?;
                let all = store.tags_reaching(&img.manifest_digest)?;
                if all.len() > 1 && !a.force {
                    anyhow::bail!(
                        "image {what} has several names ({}); remove them by name or use -f",
                        all.join(", ")
                    );
                }
                (all, vec![img.manifest_digest])
            }
        };
        for manifest in manifests {
            let id = store.load_image(&manifest, None)?.id.to_string();
            if let Some(m) = mounts.iter().find(|m| m.image_id() == Some(id.as_str())) {
                mounted.push((what, manifest, m));
            }
        }
        names.extend(reached);
    }
    // A mounted image may lose names, but not its last one (without -f).
    for (what, manifest, m) in &mounted {
        let keeps_a_name = store
            .tags_reaching(manifest)?
            .iter()
            .any(|n| !names.contains(n));
        if !keeps_a_name && !a.force {
            anyhow::bail!(
                "image {what} is mounted at {} (pid {}); umount it first or use -f",
                m.mountpoint.display(),
                m.server.pid
            );
        }
    }
    names.sort();
    names.dedup();
    let removed = store.untag(&names, &lock)?;
    for n in &names {
        println!("Untagged: {n}");
    }
    for d in removed {
        println!("Deleted: {d}");
    }
    Ok(())
}
