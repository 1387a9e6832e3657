//! `save --since BASE` (delta archives) and `save --split SIZE` (parts):
//! a delta holds none of BASE's layers and loads only where BASE is; parts
//! are at most SIZE, a layer larger than a part spans several, `load -i
//! FILE.000` brings the image back fsck-clean with the same digests; a
//! missing, truncated, reordered, corrupt or foreign part, and a delta
//! of another base, fail in one `error:` line naming it, the store unchanged.

use std::fs;
use std::path::{Path, PathBuf};

use crate::image_cache::{layer_tar, noise};
use crate::util::{fails_cleanly, store_image, Env};

const BASE: &str = "base:v1";
const APP: &str = "app:v1";

/// A store with BASE (two layers) and APP (BASE's layers and one more).
fn store() -> (Env, Vec<String>) {
    let env = Env::new();
    let l1 = layer_tar(&[("bin/kubelet", noise(11, 300_000))]);
    let l2 = layer_tar(&[("images/pause.tar", noise(12, 200_000))]);
    let l3 = layer_tar(&[("manifests/app.yaml", noise(13, 150_000))]);
    store_image(&env, BASE, &[l1.clone(), l2.clone()]);
    let layers = store_image(&env, APP, &[l1, l2, l3]);
    (env, layers)
}

/// Member names and sizes of a tar.
fn members(path: &Path) -> Vec<(String, u64)> {
    let mut a = tar::Archive::new(fs::File::open(path).expect("archive"));
    a.entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            (e.path().expect("path").display().to_string(), e.size())
        })
        .collect()
}

fn blob_member(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// (image id, layer ids) of an image.
fn ids(env: &Env, image: &str) -> (String, Vec<String>) {
    let spec = env.inspect(image);
    let id = spec["spec"]["id"].as_str().expect("id").to_string();
    (id, env.layer_ids(image))
}

fn assert_fsck_clean(env: &Env) {
    let out = env.run(&["fsck"]);
    assert!(out.contains("no problems found"), "{out}");
}

fn load(env: &Env, file: &Path) -> crate::util::Sealer {
    env.sealer().args(["load", "-q", "-i"]).arg(file)
}

#[test]
fn delta_holds_only_what_base_lacks_and_loads_only_onto_base() {
    let (src, layers) = store();
    let full = src.path("base.tar");
    let delta = src.path("app-delta.tar");
    src.run(&["save", "-q", "-o", full.to_str().expect("utf-8"), BASE]);
    src.sealer()
        .args(["save", "-q", "--since", BASE, "-o"])
        .arg(&delta)
        .arg(APP)
        .ok();
    let names: Vec<String> = members(&delta).into_iter().map(|(n, _)| n).collect();
    for base_layer in &layers[..2] {
        assert!(!names.contains(&blob_member(base_layer)), "{names:?}");
    }
    assert!(names.contains(&blob_member(&layers[2])), "{names:?}");
    let size = fs::metadata(&delta).expect("delta").len();
    assert!(
        size < 200_000,
        "the delta is {size} bytes, more than the one new layer"
    );
    let index: serde_json::Value = serde_json::from_slice(
        &std::process::Command::new("tar")
            .args(["-xOf"])
            .arg(&delta)
            .arg("index.json")
            .output()
            .expect("tar")
            .stdout,
    )
    .expect("index.json");
    assert_eq!(index["annotations"]["io.sealer.archive.since"], BASE);

    // Where BASE is, the delta completes APP.
    let site = Env::new();
    load(&site, &full).ok();
    load(&site, &delta).ok();
    assert_eq!(ids(&site, APP), ids(&src, APP));
    assert_fsck_clean(&site);

    // Without BASE: refused, naming it, nothing stored.
    let empty = Env::new();
    empty.run(&["images"]);
    fails_cleanly(
        &empty,
        load(&empty, &delta),
        &[BASE, "delta", "app-delta.tar"],
    );

    // With another image under BASE's name: refused too.
    let other = Env::new();
    store_image(&other, BASE, &[layer_tar(&[("x", noise(99, 1000))])]);
    fails_cleanly(&other, load(&other, &delta), &[BASE, "delta"]);
}

/// Saves APP in parts of `size` bytes; returns the parts.
fn split(env: &Env, file: &str, size: &str, image: &str) -> Vec<PathBuf> {
    let out = env.path(file);
    let run = env
        .sealer()
        .args(["save", "-q", "--split", size, "-o"])
        .arg(&out)
        .arg(image)
        .ok();
    run.stdout.lines().map(PathBuf::from).collect()
}

#[test]
fn split_parts_load_from_the_first_with_the_same_digests() {
    let (src, _) = store();
    let parts = split(&src, "app.tar", "64K", APP);
    assert!(parts.len() >= 10, "{parts:?}");
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p, &src.path(&format!("app.tar.{i:03}")));
        let len = fs::metadata(p).expect("part").len();
        assert!(len <= 64 << 10, "{} is {len} bytes", p.display());
    }
    assert!(!src.path("app.tar").exists());
    // A shorter save over it leaves none of the old parts behind.
    let fewer = split(&src, "app.tar", "1M", APP);
    assert!(fewer.len() < parts.len(), "{fewer:?}");
    assert!(!src.path(&format!("app.tar.{:03}", fewer.len())).exists());
    let parts = split(&src, "app.tar", "64K", APP);
    let site = Env::new();
    load(&site, &parts[0]).ok();
    assert_eq!(ids(&site, APP), ids(&src, APP));
    assert_fsck_clean(&site);
    // `load -i FILE` finds FILE.000 too.
    let again = Env::new();
    load(&again, &src.path("app.tar")).ok();
    assert_eq!(ids(&again, APP), ids(&src, APP));

    // Small blobs are not cut: a part that ends early ends on a boundary,
    // and a delta can be split as well.
    let parts = src
        .sealer()
        .args(["save", "-q", "--since", BASE, "--split", "1.5M", "-o"])
        .arg(src.path("delta.tar"))
        .arg(APP)
        .ok();
    assert_eq!(parts.stdout.lines().count(), 1, "{}", parts.stdout);
}

#[test]
fn bad_parts_fail_naming_the_part_and_load_nothing() {
    let (src, _) = store();
    let parts = split(&src, "app.tar", "64K", APP);
    let foreign = split(&src, "base.tar", "64K", BASE);
    let site = Env::new();
    site.run(&["images"]);
    let stash = src.path("stash");
    fs::create_dir(&stash).expect("stash");
    let keep = |p: &Path| {
        let to = stash.join(p.file_name().expect("name"));
        fs::copy(p, &to).expect("copy");
        to
    };
    let restore = |p: &Path| {
        fs::copy(stash.join(p.file_name().expect("name")), p).expect("restore");
    };
    let saved: Vec<PathBuf> = parts.iter().map(|p| keep(p)).collect();
    assert_eq!(saved.len(), parts.len());

    // Missing.
    fs::remove_file(&parts[2]).expect("rm");
    fails_cleanly(&site, load(&site, &parts[0]), &["app.tar.002", "missing"]);
    restore(&parts[2]);

    // Missing last part.
    let last = parts.last().expect("parts");
    fs::remove_file(last).expect("rm");
    let name = last
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    fails_cleanly(&site, load(&site, &parts[0]), &[&name, "missing"]);
    restore(last);

    // Truncated.
    let len = fs::metadata(&parts[1]).expect("m").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&parts[1])
        .expect("open")
        .set_len(len - 1000)
        .expect("truncate");
    fails_cleanly(&site, load(&site, &parts[0]), &["app.tar.001", "truncated"]);
    restore(&parts[1]);

    // Reordered.
    fs::copy(&saved[2], &parts[1]).expect("swap");
    fs::copy(&saved[1], &parts[2]).expect("swap");
    fails_cleanly(
        &site,
        load(&site, &parts[0]),
        &["app.tar.001", "out of order"],
    );
    restore(&parts[1]);
    restore(&parts[2]);

    // Corrupt: one byte of the payload flipped.
    let mut bytes = fs::read(&parts[3]).expect("read");
    bytes[4000] ^= 0x55;
    fs::write(&parts[3], bytes).expect("write");
    fails_cleanly(&site, load(&site, &parts[0]), &["app.tar.003", "corrupt"]);
    restore(&parts[3]);

    // Foreign: a part of another save in its place.
    fs::copy(&foreign[1], &parts[1]).expect("foreign");
    fails_cleanly(
        &site,
        load(&site, &parts[0]),
        &["app.tar.001", "another archive"],
    );
    restore(&parts[1]);

    // Not the first part.
    fails_cleanly(&site, load(&site, &parts[1]), &["app.tar.001", ".000"]);

    // All restored: it loads.
    load(&site, &parts[0]).ok();
    assert_eq!(ids(&site, APP), ids(&src, APP));
}
