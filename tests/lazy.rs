//! Lazy ClusterImages (issue 13) against Debian's real `docker-registry`:
//! `push` publishes member tables as a referrer (the `sha256-<hex>` tag on
//! a registry without the referrers API) and skopeo still copies the image
//! with the same digests; `pull --lazy` fetches tables and indexes only;
//! `cat`, `ls` and FUSE mounts fetch members on demand with Range requests;
//! a full `pull` completes the layers fetching only what is missing; a
//! registry that goes away gives EIO and reads recover when it is back;
//! bad tables and bad members never give wrong bytes; fsck, prune, the
//! cache cap, and a pull-through mirror from registries.conf.

use std::fs;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::mount::{mount, mount_layers};
use crate::registry::{jsonv, skopeo};
use crate::util::flaky::FlakyProxy;
use crate::util::registry::Registry;
use crate::util::{sha256_hex, store_image, Env};

/// A deterministic pseudo-random (incompressible) byte string.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A layer tar of (path, bytes) files (0644, root, mtime 1).
fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, path, &content[..])
            .expect("a tar file");
    }
    b.into_inner().expect("finishing the tar")
}

/// The files of the test image: a big incompressible file, a big text file,
/// many small ones; and a second layer overriding one.
fn image_files() -> Vec<Vec<(String, Vec<u8>)>> {
    let mut base = vec![
        ("bin/big".to_string(), noise(6 << 20, 7)),
        (
            "data/text".to_string(),
            b"kubeadm init --config kubeadm.yaml\n".repeat(90_000),
        ),
        ("etc/small.txt".to_string(), b"hello lazy\n".to_vec()),
    ];
    for i in 0..150 {
        base.push((
            format!("manifests/f{i}.yaml"),
            format!("image: x/{i}\n").into_bytes(),
        ));
    }
    let top = vec![("etc/small.txt".to_string(), b"overridden\n".to_vec())];
    vec![base, top]
}

/// Pushes the test image to `reg` as `lazy/k8s:v1`; returns its name.
fn push_image(env: &Env, reg: &Registry) -> String {
    let name = reg.image("lazy/k8s:v1");
    let tars: Vec<Vec<u8>> = image_files().iter().map(|l| tar_of(l)).collect();
    store_image(env, &name, &tars);
    env.run(&["push", &name]);
    name
}

/// Bytes the registry sent for blob GETs so far (access log sizes).
fn blob_bytes_sent(reg: &Registry) -> u64 {
    reg.log()
        .lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
        .filter_map(|l| {
            let after = l.split("HTTP/1.1\" ").nth(1)?;
            after.split(' ').nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

fn chunk_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(root.join("lazy")) else {
        return out;
    };
    for layer in rd.flatten() {
        if let Ok(chunks) = fs::read_dir(layer.path().join("chunks")) {
            out.extend(chunks.flatten().map(|e| e.path()));
        }
    }
    out
}

/// The manifest a registry serves for `name`, and its digest.
fn manifest_of(name: &str) -> (Value, String) {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]);
    let digest = format!("sha256:{}", sha256_hex(raw.as_bytes()));
    (jsonv(&raw, "manifest"), digest)
}

#[test]
fn push_publishes_tables_as_a_referrer_and_skopeo_copies_the_same_digests() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let (m, digest) = manifest_of(&name);
    for l in m["layers"].as_array().expect("layers") {
        let t = l["annotations"]["io.sealer.lazy.table"].as_str();
        assert!(t.is_some_and(|t| t.starts_with("sha256:")), "{l}");
    }
    // No referrers API in docker-registry 2.8: the tag fallback.
    let tag = reg.image(&format!("lazy/k8s:sha256-{}", &digest["sha256:".len()..]));
    let index = jsonv(
        &skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{tag}"),
        ]),
        "referrers index",
    );
    let refs = index["manifests"].as_array().expect("manifests");
    assert_eq!(refs.len(), 1, "{index}");
    assert_eq!(refs[0]["artifactType"], "application/vnd.sealer.lazy.v1");
    let art_ref = reg.image(&format!("lazy/k8s@{}", refs[0]["digest"].as_str().unwrap()));
    let art = jsonv(
        &skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{art_ref}"),
        ]),
        "artifact",
    );
    assert_eq!(art["subject"]["digest"], digest.as_str());
    assert_eq!(
        art["layers"].as_array().unwrap().len(),
        4,
        "2 tables, 2 indexes"
    );
    // A second push of the same image republishes, with one referrer.
    env.run(&["push", &name]);
    let index = jsonv(
        &skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{tag}"),
        ]),
        "referrers index",
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    // skopeo copies the image as it is.
    let copy = reg.image("lazy/copy:v1");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{name}"),
        &format!("docker://{copy}"),
    ]);
    assert_eq!(manifest_of(&copy).1, digest, "same manifest digest");
    // And an ordinary pull ignores the tables.
    let other = Env::new();
    other.run(&["pull", &name]);
    assert_eq!(other.run(&["cat", &name, "etc/small.txt"]), "overridden\n");
    other.sealer().arg("fsck").ok();
}

#[test]
fn pull_lazy_reads_on_demand_and_a_full_pull_completes() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let total: u64 = env
        .layer_ids(&name)
        .iter()
        .map(|d| fs::metadata(env.blob(d)).unwrap().len())
        .sum();
    let node = Env::new();
    let before = blob_bytes_sent(&reg);
    let out = node.sealer().args(["pull", "--lazy", &name]).ok();
    assert!(out.stderr.contains("Partly present"), "{}", out.stderr);
    for d in node.layer_ids(&name) {
        assert!(!node.blob(&d).exists(), "layer {d} was not fetched");
    }
    let images = node.run(&["images"]);
    assert!(images.contains("lazy:"), "{images}");
    let spec = node.run(&["inspect", &name]);
    assert!(spec.contains("partly present"), "{spec}");
    // ls -R and one small file: a small part of the image.
    node.run(&["ls", "-R", &name]);
    assert_eq!(node.run(&["cat", &name, "etc/small.txt"]), "overridden\n");
    let meta = blob_bytes_sent(&reg) - before;
    assert!(reg.requests("GET", "/blobs/") > 0);
    eprintln!("pull --lazy + ls -R + cat: {meta} bytes of {total}");
    assert!(meta < total / 4, "{meta} bytes fetched of {total}");
    // A mount reads the big files right.
    {
        let m = mount(&node, &name, "mnt");
        let big = fs::read(m.dir.join("bin/big")).expect("reading bin/big");
        assert_eq!(big, noise(6 << 20, 7));
        let mut text = String::new();
        fs::File::open(m.dir.join("data/text"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.len(), 35 * 90_000);
    }
    // The layer view serves partly present layers too.
    {
        let _layers = mount_layers(&node);
        let top = node.layer_ids(&name)[1].clone();
        let hex = top.trim_start_matches("sha256:");
        let view = node.root().join("data/overlay2").join(hex);
        assert_eq!(
            fs::read(view.join("etc/small.txt")).unwrap(),
            b"overridden\n"
        );
    }
    let json = node.run(&["images", "--format", "json"]);
    assert!(json.contains("lazy_cached"), "{json}");
    let ranged = reg.log().lines().filter(|l| l.contains("\" 206 ")).count();
    assert!(ranged > 0, "Range requests were answered 206");
    // The full pull fetches only what is missing and ends with normal blobs.
    let before = blob_bytes_sent(&reg);
    let out = node.sealer().args(["pull", &name]).ok();
    assert!(
        out.stderr.contains("Completed from the chunk cache"),
        "{}",
        out.stderr
    );
    let rest = blob_bytes_sent(&reg) - before;
    assert!(rest < total / 2, "completing fetched {rest} of {total}");
    for d in node.layer_ids(&name) {
        assert!(node.blob(&d).exists(), "layer {d} is whole");
    }
    assert!(chunk_files(&node.root()).is_empty(), "chunks are dropped");
    assert!(!node.run(&["images"]).contains("lazy:"));
    node.sealer().arg("fsck").ok();
    assert_eq!(node.run(&["cat", &name, "etc/small.txt"]), "overridden\n");
}

#[test]
fn push_and_save_of_a_lazy_image_complete_it_first() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let layers = env.layer_ids(&name);
    for (cmd, pushing) in [("push", true), ("save", false)] {
        let node = Env::new();
        node.run(&["pull", "--lazy", &name]);
        assert_eq!(node.run(&["cat", &name, "etc/small.txt"]), "overridden\n");
        assert!(
            !chunk_files(&node.root()).is_empty(),
            "one member is cached"
        );
        let copy = reg.image("lazy/copy-of-lazy:v1");
        let archive = node.path("image.tar");
        let out = if pushing {
            node.sealer().args(["push", &name, &copy]).ok()
        } else {
            let archive = archive.to_str().expect("a UTF-8 temp path");
            node.sealer().args(["save", "-o", archive, &name]).ok()
        };
        assert!(
            out.stderr.contains("completed from the chunk cache"),
            "{cmd}: {}",
            out.stderr
        );
        for d in &layers {
            assert!(node.blob(d).exists(), "{cmd}: layer {d} is whole");
        }
        assert!(
            chunk_files(&node.root()).is_empty(),
            "{cmd}: chunks dropped"
        );
        node.sealer().arg("fsck").ok();
        // What went out is the whole image, byte for byte (same digests).
        let other = Env::new();
        let got = if pushing {
            other.run(&["pull", &copy]);
            copy.clone()
        } else {
            other.sealer().args(["load", "-i"]).arg(&archive).ok();
            name.clone()
        };
        assert_eq!(other.layer_ids(&got), layers, "{cmd}");
        let big = other.sealer().args(["cat", &got, "bin/big"]).ok();
        assert_eq!(
            sha256_hex(&big.stdout_bytes),
            sha256_hex(&noise(6 << 20, 7))
        );
    }
}

#[test]
fn a_registry_that_goes_away_gives_eio_and_reads_recover() {
    let mut reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let node = Env::new();
    node.run(&["pull", "--lazy", &name]);
    let m = mount(&node, &name, "mnt");
    assert_eq!(
        fs::read(m.dir.join("etc/small.txt")).unwrap(),
        b"overridden\n"
    );
    reg.stop();
    // Fetched data stays readable; unfetched data is EIO, the mount stays.
    assert_eq!(
        fs::read(m.dir.join("etc/small.txt")).unwrap(),
        b"overridden\n"
    );
    let err = fs::read(m.dir.join("bin/big")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert!(fs::read_dir(&m.dir).is_ok(), "the mount is up");
    let log = node.run(&["mount"]);
    let log_path = log
        .split_whitespace()
        .find(|w| w.ends_with(".log"))
        .map(std::path::PathBuf::from);
    let log_path = log_path.unwrap_or_else(|| panic!("no mount log in:\n{log}"));
    let text = fs::read_to_string(log_path).unwrap_or_default();
    assert!(
        text.contains("fetching bytes"),
        "the failure is logged:\n{text}"
    );
    assert!(
        text.contains("blob sha256:"),
        "naming the blob and range:\n{text}"
    );
    reg.restart();
    assert_eq!(fs::read(m.dir.join("bin/big")).unwrap(), noise(6 << 20, 7));
    // A full pull while mounted: the live mount then reads the whole blob,
    // and needs the registry no more.
    node.run(&["pull", &name]);
    reg.stop();
    let text = fs::read(m.dir.join("data/text")).expect("read from the completed blob");
    assert_eq!(text.len(), 35 * 90_000);
}

#[test]
fn bad_tables_fall_back_and_bad_members_never_give_wrong_bytes() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let (m, _) = manifest_of(&name);
    // Another tool's image: the same layers, no tables.
    let bare = reg.image("lazy/k8s:bare");
    let mut plain = m.clone();
    for l in plain["layers"].as_array_mut().unwrap() {
        l.as_object_mut().unwrap().remove("annotations");
    }
    let bytes = serde_json::to_vec(&plain).unwrap();
    crate::util::push::put_manifest(
        &reg.addr,
        "lazy/k8s",
        "bare",
        "application/vnd.oci.image.manifest.v1+json",
        &bytes,
    );
    let node = Env::new();
    let out = node.sealer().args(["pull", "--lazy", &bare]).ok();
    assert!(out.stderr.contains("no lazy table"), "{}", out.stderr);
    assert_eq!(node.run(&["cat", &bare, "etc/small.txt"]), "overridden\n");
    // A table of the other layer: refused, the layer is fetched whole.
    let swapped = reg.image("lazy/k8s:swapped");
    let mut bad = m.clone();
    let layers = bad["layers"].as_array_mut().unwrap();
    let t0 = layers[0]["annotations"]["io.sealer.lazy.table"].clone();
    layers[1]["annotations"]["io.sealer.lazy.table"] = t0;
    let bytes = serde_json::to_vec(&bad).unwrap();
    crate::util::push::put_manifest(
        &reg.addr,
        "lazy/k8s",
        "swapped",
        "application/vnd.oci.image.manifest.v1+json",
        &bytes,
    );
    let node = Env::new();
    let out = node.sealer().args(["pull", "--lazy", &swapped]).ok();
    assert!(out.stderr.contains("unusable lazy table"), "{}", out.stderr);
    assert_eq!(
        node.run(&["cat", &swapped, "etc/small.txt"]),
        "overridden\n"
    );
    // A member whose bytes changed in the registry: an error, not its bytes.
    let node = Env::new();
    node.run(&["pull", "--lazy", &name]);
    let big_layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let data = reg.blob_data(&big_layer);
    let mut blob = fs::read(&data).unwrap();
    let at = blob.len() / 2;
    blob[at] ^= 0xff;
    fs::write(&data, &blob).unwrap();
    let out = node.sealer().args(["cat", &name, "bin/big"]).output();
    assert_ne!(out.code, Some(0), "a corrupt member is an error");
    assert!(out.stderr.contains("error:"), "{}", out.stderr);
    let truth = noise(6 << 20, 7);
    assert!(
        out.stdout_bytes.len() < truth.len() && truth.starts_with(&out.stdout_bytes),
        "only bytes that match were printed"
    );
}

#[test]
fn fsck_checks_partial_layers_prune_frees_chunks_and_the_cache_is_capped() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let node = Env::new();
    node.run(&["pull", "--lazy", "--cache-size", "3M", &name]);
    let got = node
        .sealer()
        .args(["cat", &name, "bin/big"])
        .ok()
        .stdout_bytes;
    assert_eq!(got, noise(6 << 20, 7));
    let cached: u64 = chunk_files(&node.root())
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(cached <= (3 << 20) + (9 << 20), "capped: {cached}");
    node.sealer().arg("fsck").ok();
    // A chunk that no longer matches its member is found and removed.
    let chunk = chunk_files(&node.root())
        .into_iter()
        .next()
        .expect("a chunk");
    fs::write(&chunk, b"garbage").unwrap();
    let out = node.sealer().arg("fsck").output();
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(format!("{}{}", out.stdout, out.stderr).contains("does not match its table"));
    node.sealer().args(["fsck", "--repair"]).ok();
    assert!(!chunk.exists());
    assert_eq!(
        node.sealer()
            .args(["cat", &name, "bin/big"])
            .ok()
            .stdout_bytes,
        noise(6 << 20, 7)
    );
    // rmi frees the partial layers (chunks, records, indexes).
    node.run(&["rmi", &name]);
    assert!(chunk_files(&node.root()).is_empty());
    let indexes = fs::read_dir(node.root().join("index/sha256"))
        .unwrap()
        .count();
    assert_eq!(indexes, 0, "their indexes are gone");
    // `mount --cache-size` caps the cache as well; a bad size changes nothing.
    node.run(&["pull", "--lazy", &name]);
    fs::remove_file(node.root().join("lazy/cache-size")).unwrap();
    fs::create_dir_all(node.path("bad")).unwrap();
    let out = node
        .sealer()
        .args(["mount", "--cache-size", "lots", &name])
        .arg(node.path("bad"))
        .output();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.starts_with("error:") && out.stderr.contains("\"lots\""));
    assert!(!node.root().join("lazy/cache-size").exists());
    let m = crate::mount::mount_with(&node, &["--cache-size", "2M", &name], "capped");
    assert_eq!(fs::read(m.dir.join("bin/big")).unwrap(), noise(6 << 20, 7));
    assert_eq!(
        fs::read(m.dir.join("data/text")).unwrap().len(),
        35 * 90_000
    );
    drop(m);
    let cached: u64 = chunk_files(&node.root())
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    // Read: 6 MiB + 3 MiB; kept: at most the cap plus the last fetch's
    // members (never evicted as they land), so bin/big's went.
    assert!(cached <= (2 << 20) + (4 << 20), "capped at 2M: {cached}");
    node.run(&["rmi", &name]);
    node.run(&["prune"]);
    assert!(fs::read_dir(node.root().join("lazy"))
        .map_or(true, |d| d.flatten().all(|e| !e.path().is_dir())));
}

#[test]
fn a_pull_through_mirror_from_registries_conf_carries_pulls_and_lazy_reads() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let mirror = Registry::proxy_of(&reg);
    let node = Env::new();
    let conf = node.write(
        "registries.conf",
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.addr, mirror.addr
        ),
    );
    let conf = conf.to_str().unwrap();
    node.run(&["--registries-conf", conf, "pull", "--lazy", &name]);
    assert_eq!(
        node.run(&["--registries-conf", conf, "cat", &name, "etc/small.txt"]),
        "overridden\n"
    );
    assert!(
        mirror.requests("GET", "/manifests/") > 0,
        "the mirror served the manifest"
    );
    assert!(
        mirror.requests("GET", "/blobs/") > 0,
        "the mirror served blobs"
    );
    let got = node
        .sealer()
        .args(["--registries-conf", conf, "cat", &name, "bin/big"])
        .ok()
        .stdout_bytes;
    assert_eq!(got, noise(6 << 20, 7));
}

#[test]
fn a_registry_refusing_ranges_gets_the_whole_layer_fetched_saying_so() {
    let reg = Registry::start();
    let env = Env::new();
    push_image(&env, &reg);
    let proxy = FlakyProxy::without_ranges(&reg.addr);
    let name = format!("{}/lazy/k8s:v1", proxy.addr);
    let node = Env::new();
    node.run(&["pull", "--lazy", &name]);
    let out = node.sealer().args(["cat", &name, "etc/small.txt"]).ok();
    assert_eq!(out.stdout, "overridden\n");
    assert!(
        out.stderr.contains("ignored a Range request"),
        "{}",
        out.stderr
    );
    let ranges = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.is_some())
        .count();
    assert!(ranges > 0, "ranges were asked for");
    // The whole blob was fetched, every member checked and kept.
    let got = node
        .sealer()
        .args(["cat", &name, "bin/big"])
        .ok()
        .stdout_bytes;
    assert_eq!(got, noise(6 << 20, 7));
}

#[test]
fn concurrent_reads_of_one_member_fetch_it_once() {
    let reg = Registry::start();
    let env = Env::new();
    push_image(&env, &reg);
    // A pass-through proxy that records each request's Range.
    let proxy = FlakyProxy::start(&reg.addr, "\0never");
    let name = format!("{}/lazy/k8s:v1", proxy.addr);
    let node = Env::new();
    node.run(&["pull", "--lazy", &name]);
    let m = mount(&node, &name, "mnt");
    let dir = m.dir.join("manifests");
    std::thread::scope(|s| {
        for t in 0..8 {
            let dir = &dir;
            s.spawn(move || {
                for i in (t..150).step_by(8) {
                    let got = fs::read(dir.join(format!("f{i}.yaml"))).expect("a manifest");
                    assert_eq!(got, format!("image: x/{i}\n").into_bytes());
                }
            });
        }
    });
    let ranges: Vec<String> = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, r)| r.clone())
        .collect();
    assert!(!ranges.is_empty());
    let mut unique = ranges.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ranges.len(),
        "a range was fetched twice: {ranges:?}"
    );
}

#[test]
fn the_image_cache_of_build_goes_through_the_mirror() {
    let reg = Registry::start();
    let env = Env::new();
    let name = push_image(&env, &reg);
    let mirror = Registry::proxy_of(&reg);
    let node = Env::new();
    let conf = node.write(
        "registries.conf",
        format!(
            "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
            reg.addr, mirror.addr
        ),
    );
    let ctx = node.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", &format!("{name}\n")),
        ],
    );
    node.sealer()
        .arg("--registries-conf")
        .arg(&conf)
        .args(["build", "-t", "cached:1"])
        .arg(&ctx)
        .ok();
    assert!(
        mirror.requests("GET", "/manifests/v1") > 0,
        "manifest via the mirror"
    );
    assert!(
        mirror.requests("GET", "/blobs/") > 0,
        "blobs via the mirror"
    );
    let listing = node.run(&["ls", "-R", "cached:1", "registry"]);
    assert!(listing.contains("lazy"), "{listing}");
}
