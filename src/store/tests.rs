//! Unit tests of the store in a temporary directory, through its public API:
//! ingest and open layers, commit images, tag, untag, resolve names and id
//! prefixes, and garbage collection (`remove_unreferenced`, `prune`) keeping
//! what a tag reaches or another live `Store` pinned. No root, no FUSE.

use std::fs;
use std::io::Cursor;

use super::Store;
use crate::digest::Digest;
use crate::error::Error;
use crate::image::oci::{host_arch, Config, RootFs};

/// A layer tar holding `files` (path, content), parents made by the index.
fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// An image config over `layers`; `created` makes configs (and ids) differ.
fn config(layers: &[Digest], created: &str) -> Config {
    Config {
        created: Some(created.into()),
        architecture: host_arch().into(),
        os: "linux".into(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: layers.to_vec(),
        },
        ..Config::default()
    }
}

/// Names of the blobs in the store.
fn blobs(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A store with one image `base:v1` of one layer; returns the layer digest.
fn store_with_image(dir: &tempfile::TempDir) -> (Store, Digest) {
    let store = Store::open(dir.path()).unwrap();
    let tar = layer_tar(&[("etc/a.conf", "a=1\n"), ("bin/tool", "#!/bin/sh\n")]);
    let layer = store.ingest_layer(Cursor::new(&tar), None).unwrap();
    store
        .commit_image(
            &config(&[layer.digest], "base"),
            &[(layer.digest, layer.size)],
            "base:v1",
        )
        .unwrap();
    (store, layer.digest)
}

#[test]
fn open_creates_an_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let layout = fs::read_to_string(dir.path().join("oci-layout")).unwrap();
    assert_eq!(layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
    assert!(store.read_index().unwrap().manifests.is_empty());
    assert!(store.tags().unwrap().is_empty());
    drop(store);
    // Opening again keeps what is there.
    let again = Store::open(dir.path()).unwrap();
    assert!(again.read_index().unwrap().manifests.is_empty());
}

#[test]
fn ingest_stores_the_blob_and_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tar = layer_tar(&[("etc/a.conf", "a=1\n"), ("etc/b.conf", "b=2\n")]);
    let got = store.ingest_layer(Cursor::new(&tar), None).unwrap();
    assert_eq!(got.digest, Digest::of(&tar), "digest = sha256 of the tar");
    assert_eq!(got.size, tar.len() as u64);
    assert!(!got.existed);
    assert_eq!(got.entries, 4, "root, etc, a.conf, b.conf");
    assert_eq!(fs::read(store.blob_path(&got.digest)).unwrap(), tar);
    assert!(store.index_path(&got.digest).is_file());
    assert!(store.has_blob(&got.digest));
    assert_eq!(store.layer_digests(), [got.digest]);

    let layer = store.open_layer(&got.digest).unwrap();
    let etc = layer.index.lookup(sealer_fs::ROOT, b"etc").unwrap();
    let a = layer.index.lookup(etc, b"a.conf").unwrap();
    let mut buf = [0u8; 16];
    let n = layer.read_at(a, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"a=1\n");

    let again = store
        .ingest_layer(Cursor::new(&tar), Some(&got.digest))
        .unwrap();
    assert!(again.existed);
    assert_eq!(again.digest, got.digest);
}

#[test]
fn a_bad_layer_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tar = layer_tar(&[("f", "x")]);
    let wrong = Digest::of(b"something else");
    let err = store
        .ingest_layer(Cursor::new(&tar), Some(&wrong))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Blob { digest, .. } if *digest == wrong),
        "{err}"
    );
    let err = store
        .ingest_layer(Cursor::new(vec![1u8; 1024]), None)
        .unwrap_err();
    assert!(err.to_string().contains("not a valid tar"), "{err}");
    assert!(blobs(&store).is_empty());
    assert!(store.layer_digests().is_empty());
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().starts_with("pin-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_missing_or_damaged_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, layer) = store_with_image(&dir);
    let index = store.index_path(&layer);
    let good = fs::read(&index).unwrap();
    fs::remove_file(&index).unwrap();
    assert!(store.open_layer(&layer).unwrap().index.len() > 1);
    assert_eq!(fs::read(&index).unwrap(), good, "rebuilt the same");
    fs::write(&index, b"not an index").unwrap();
    assert!(store.open_layer(&layer).unwrap().index.len() > 1);
    assert_eq!(fs::read(&index).unwrap(), good);
    // A damaged blob is not indexed: its digest no longer matches.
    fs::remove_file(&index).unwrap();
    let blob = store.blob_path(&layer);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[600] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let err = store.open_layer(&layer).err().unwrap();
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn commit_then_resolve_by_name_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let (store, layer) = store_with_image(&dir);
    let img = store.resolve("base:v1").unwrap();
    assert_eq!(img.name.as_deref(), Some("base:v1"));
    assert_eq!(img.layers(), [layer]);
    assert_eq!(img.config.rootfs.diff_ids, [layer]);
    assert_eq!(img.id, Digest::of(&store.read_blob(&img.id).unwrap()));
    for what in [
        "docker.io/library/base:v1".to_string(),
        img.id.hex(),
        img.id.hex()[..12].to_string(),
        format!("sha256:{}", &img.id.hex()[..5]),
        format!("base@{}", img.manifest_digest),
    ] {
        let found = store
            .resolve(&what)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(found.id, img.id, "{what}");
    }
    for missing in ["base:v2", "other", &img.id.hex()[..2], "fffffffffff"] {
        let err = store.resolve(missing).unwrap_err();
        assert!(matches!(err, Error::ImageNotFound(_)), "{missing}: {err}");
    }
    // A commit whose layer is not in the store tags nothing.
    let ghost = Digest::of(b"no such layer");
    let err = store
        .commit_image(&config(&[ghost], "ghost"), &[(ghost, 1)], "ghost:v1")
        .unwrap_err();
    assert!(err.to_string().contains("vanished"), "{err}");
    assert_eq!(store.tags().unwrap().len(), 1);
}

#[test]
fn an_ambiguous_id_prefix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (store, layer) = store_with_image(&dir);
    // Two configs whose ids (sha256 of the JSON commit_image writes) share
    // their first three hex digits.
    let mut seen: std::collections::HashMap<String, Config> = Default::default();
    let (a, b) = (0..)
        .find_map(|i| {
            let c = config(&[layer], &i.to_string());
            let id = Digest::of(&serde_json::to_vec(&c).unwrap()).hex();
            seen.insert(id[..3].to_string(), c.clone())
                .map(|first| (first, c))
        })
        .unwrap();
    let size = fs::metadata(store.blob_path(&layer)).unwrap().len();
    let one = store.commit_image(&a, &[(layer, size)], "one:v1").unwrap();
    let two = store.commit_image(&b, &[(layer, size)], "two:v1").unwrap();
    let prefix = &one.id.hex()[..3];
    assert_eq!(prefix, &two.id.hex()[..3]);
    let err = store.resolve(prefix).unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");
    assert_eq!(store.resolve(&one.id.hex()).unwrap().id, one.id);
}

#[test]
fn tag_and_untag() {
    let dir = tempfile::tempdir().unwrap();
    let (store, layer) = store_with_image(&dir);
    let base = store.resolve("base:v1").unwrap();
    let tagged = store.tag("base:v1", "registry.example.com/k8s:v2").unwrap();
    assert_eq!(tagged.id, base.id);
    let names: Vec<String> = store.tags().unwrap().into_iter().map(|t| t.0).collect();
    assert_eq!(names, ["base:v1", "registry.example.com/k8s:v2"]);
    assert_eq!(
        store.resolve("registry.example.com/k8s:v2").unwrap().id,
        base.id
    );
    assert!(store.tag("nothere:v1", "x:v1").is_err());
    assert!(store.tag("base:v1", "Bad Name").is_err());

    // Removing one of two names deletes nothing.
    let lock = store.lock().unwrap();
    let removed = store
        .untag(&["registry.example.com/k8s:v2".into()], &lock)
        .unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    assert!(store.resolve("registry.example.com/k8s:v2").is_err());
    assert_eq!(store.resolve("base:v1").unwrap().id, base.id);

    // Removing the last name deletes manifest, config, layer and its index.
    let mut removed = store.untag(&["base:v1".into()], &lock).unwrap();
    removed.sort();
    let mut want = vec![base.manifest_digest, base.id, layer];
    want.sort();
    assert_eq!(removed, want);
    assert!(blobs(&store).is_empty());
    assert!(!store.index_path(&layer).exists());
    assert!(store.tags().unwrap().is_empty());
}

#[test]
fn gc_removes_unreferenced_blobs_and_keeps_referenced_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (store, used) = store_with_image(&dir);
    let loose = store
        .ingest_layer(Cursor::new(layer_tar(&[("loose", "1")])), None)
        .unwrap()
        .digest;
    let lock = store.lock().unwrap();
    // This process's own pins do not keep a blob from its own cleanup.
    store.remove_unreferenced(&[used, loose], &lock).unwrap();
    assert!(store.has_blob(&used), "a tagged image's layer stays");
    assert!(store.index_path(&used).is_file());
    assert!(!store.has_blob(&loose), "the loose layer is gone");
    assert!(!store.index_path(&loose).exists());
    assert_eq!(store.layer_digests(), [used]);
    // A digest that is not there is no error.
    store.remove_unreferenced(&[loose], &lock).unwrap();
}

#[test]
fn gc_keeps_what_another_live_store_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (builder, _) = store_with_image(&dir);
    // `builder` stored a layer it has not tagged yet: it is pinned.
    let pending = builder
        .ingest_layer(Cursor::new(layer_tar(&[("pending", "2")])), None)
        .unwrap()
        .digest;
    let collector = Store::open(dir.path()).unwrap();
    let lock = collector.lock().unwrap();
    collector.remove_unreferenced(&[pending], &lock).unwrap();
    assert!(collector.has_blob(&pending), "pinned by a live store");
    drop(lock);
    let report = collector.prune().unwrap();
    assert_eq!(report.blobs, 0, "prune keeps it too");
    assert!(collector.has_blob(&pending));

    // Once the pinning store is gone, prune frees the layer and its index.
    drop(builder);
    let report = collector.prune().unwrap();
    assert_eq!((report.blobs, report.indexes), (1, 1));
    assert!(report.bytes > 0);
    assert!(!collector.has_blob(&pending));
    assert!(!collector.index_path(&pending).exists());
    assert_eq!(collector.resolve("base:v1").unwrap().layers().len(), 1);
    assert_eq!(collector.prune().unwrap().blobs, 0, "nothing left to free");
}

#[test]
fn prune_drops_indexes_and_cache_entries_of_gone_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, used) = store_with_image(&dir);
    let gone = Digest::of(b"a layer that is gone");
    fs::write(store.index_path(&gone), b"stale").unwrap();
    let key = Digest::of(b"a build step");
    store.cache_put(&key, &gone).unwrap();
    let live_key = Digest::of(b"another build step");
    store.cache_put(&live_key, &used).unwrap();
    let report = store.prune().unwrap();
    assert_eq!((report.blobs, report.indexes, report.cache), (0, 1, 1));
    assert!(!store.index_path(&gone).exists());
    assert!(store.cache_get(&key).unwrap().is_none());
    let size = fs::metadata(store.blob_path(&used)).unwrap().len();
    assert_eq!(store.cache_get(&live_key).unwrap(), Some((used, size)));
}
