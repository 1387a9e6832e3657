//! Pull and push against Debian's real `docker-registry` on
//! 127.0.0.1 (plain HTTP there without `--insecure`: our decision for
//! loopback registries), checked with Debian's `skopeo` and `umoci`: what we
//! push skopeo reads with the same config digest and diff_ids; what skopeo
//! pushes (an umoci-made image, our own store, gzip or zstd, OCI or Docker
//! schema 2, a multi-platform index) we pull with the same files.
//! Authentication is in `registry_auth`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::util::host_arch;
use crate::util::registry::Registry;
use crate::util::{assert_mentions, example, sha256_hex, tool, Env};

pub(crate) const BASE: &str = "kubernetes:v1.19.8";
const MINE: &str = "my-k8s:v1.19.8";

pub(crate) fn jsonv(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}):\n{text}"))
}

/// `skopeo ARGS` against the plain-HTTP test registry.
pub(crate) fn skopeo(args: &[&str]) -> String {
    tool("skopeo", args, "skopeo")
}

/// The manifest (or index) a registry serves for `image`, as served.
pub(crate) fn raw_manifest(image: &str) -> Value {
    let reference = format!("docker://{image}");
    jsonv(
        &skopeo(&["inspect", "--raw", "--tls-verify=false", &reference]),
        image,
    )
}

fn skopeo_inspect(image: &str, config: bool) -> Value {
    let reference = format!("docker://{image}");
    let mut args = vec!["inspect", "--tls-verify=false"];
    if config {
        args.push("--config");
    }
    args.push(&reference);
    jsonv(&skopeo(&args), "skopeo inspect")
}

/// The image id and layer ids `sealer inspect` shows.
pub(crate) fn ids(env: &Env, image: &str) -> (String, Vec<String>) {
    let spec = env.inspect(image);
    (
        spec["spec"]["id"].as_str().expect("id").to_string(),
        env.layer_ids(image),
    )
}

/// Every path of an image (`sealer ls -R`) with the content of regular files
/// (`sealer cat`), as `path -> sha256` (directories and others: "").
fn tree(env: &Env, image: &str) -> BTreeMap<String, String> {
    let listing = env.run(&["ls", "-R", image]);
    let long = env.run(&["ls", "-lR", image]);
    let mut out = BTreeMap::new();
    let mut dir = String::new();
    for (line, long_line) in listing.lines().zip(long.lines()) {
        if let Some(d) = line.strip_suffix(':') {
            dir = d
                .trim_start_matches("./")
                .trim_start_matches('.')
                .to_string();
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let path = if dir.is_empty() {
            line.to_string()
        } else {
            format!("{dir}/{line}")
        };
        let content = if long_line.starts_with('-') {
            let out = env.sealer().args(["cat", image, &path]).ok();
            sha256_hex(out.stdout.as_bytes())
        } else {
            String::new()
        };
        out.insert(path, content);
    }
    out
}

/// Every path under a directory, as [`tree`] shows an image.
fn tree_on_disk(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p.strip_prefix(root).expect("prefix").display().to_string();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                out.insert(rel, String::new());
                walk(root, &p, out);
            } else if ft.is_file() {
                out.insert(rel, sha256_hex(&fs::read(&p).expect("read")));
            } else {
                out.insert(rel, String::new());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A test world whose docker config lives in its temporary directory.
pub(crate) struct World {
    pub(crate) env: Env,
    pub(crate) docker_config: PathBuf,
}

impl World {
    pub(crate) fn new() -> World {
        let env = Env::new();
        let docker_config = env.path("docker-config");
        World { env, docker_config }
    }

    pub(crate) fn sealer(&self) -> crate::util::Sealer {
        self.env.sealer().env("DOCKER_CONFIG", &self.docker_config)
    }

    pub(crate) fn build_base(&self) {
        self.env.build(BASE, &example("cluster-rootfs"));
    }
}

#[test]
fn push_is_read_by_skopeo_with_our_digests_and_a_second_push_uploads_nothing() {
    let reg = Registry::start();
    let w = World::new();
    w.build_base();
    w.env.build(MINE, &example("override"));
    let target = reg.image("library/my-k8s:v1.19.8");
    let first = w.sealer().args(["push", MINE, &target]).ok();
    let (id, layers) = ids(&w.env, MINE);
    let seen = skopeo_inspect(&target, false);
    let digest = first.stdout.trim().rsplit('@').next().expect("a digest");
    assert_eq!(
        seen["Digest"],
        json!(digest),
        "the manifest digest we print"
    );
    let config = skopeo_inspect(&target, true);
    assert_eq!(config["rootfs"]["diff_ids"], json!(layers), "diff_ids");
    let raw = raw_manifest(&target);
    assert_eq!(
        raw["config"]["digest"],
        json!(id),
        "config digest = image id"
    );
    assert_eq!(
        raw["mediaType"],
        json!("application/vnd.oci.image.manifest.v1+json")
    );
    for l in raw["layers"].as_array().expect("layers") {
        assert_eq!(
            l["mediaType"],
            json!("application/vnd.oci.image.layer.v1.tar+gzip")
        );
    }
    // skopeo copies it out, checking every blob against its digest.
    let out = w.env.path("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{target}"),
        &format!("oci:{}:x", out.display()),
    ]);

    let uploads = |r: &Registry| {
        r.requests("POST", "/blobs/uploads/")
            + r.requests("PUT", "/blobs/uploads/")
            + r.requests("PATCH", "/blobs/uploads/")
    };
    // Uploads of the image's own blobs (not of the lazy member tables and
    // indexes published beside it, see tests/lazy.rs).
    let mut hexes: Vec<String> = vec![raw["config"]["digest"].as_str().unwrap_or_default().into()];
    for l in raw["layers"].as_array().expect("layers") {
        hexes.push(l["digest"].as_str().unwrap_or_default().into());
    }
    let image_puts = |r: &Registry| {
        r.log()
            .lines()
            .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/"))
            .filter(|l| {
                hexes
                    .iter()
                    .any(|h| l.contains(h.trim_start_matches("sha256:")))
            })
            .count()
    };
    let before = uploads(&reg);
    let puts = image_puts(&reg);
    assert_eq!(puts, layers.len() + 1, "first push: one upload per blob");
    let second = w.sealer().args(["push", MINE, &target]).ok();
    assert_eq!(uploads(&reg), before, "the second push uploaded something");
    assert_mentions(&second.stderr, &["0 blobs uploaded"]);
    assert_eq!(second.stdout, first.stdout, "same manifest digest");

    // Another repository of the same registry: blobs are mounted, not sent.
    let other = reg.image("team/my-k8s:v1.19.8");
    let third = w.sealer().args(["push", "-q", MINE, &other]).ok();
    // Layers are mounted; only the config is sent again.
    assert_eq!(
        image_puts(&reg),
        puts + 1,
        "pushing to another repository re-uploaded a layer: {}",
        third.stderr
    );
    assert!(
        reg.requests("POST", "mount=") >= layers.len(),
        "no mount was tried"
    );
    assert_eq!(
        skopeo_inspect(&other, true)["rootfs"]["diff_ids"],
        json!(layers)
    );
}

#[test]
fn zstd_uncompressed_and_docker_format_pushes_are_read_by_skopeo() {
    let reg = Registry::start();
    let w = World::new();
    w.build_base();
    let (id, layers) = ids(&w.env, BASE);
    let cases = [
        ("zstd", "oci", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("none", "oci", "application/vnd.oci.image.layer.v1.tar"),
        (
            "gzip",
            "docker",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    ];
    for (compression, format, media) in cases {
        let target = reg.image(&format!("k8s/{compression}-{format}:v1"));
        w.sealer()
            .args([
                "push",
                "-q",
                "--compression",
                compression,
                "--format",
                format,
                BASE,
            ])
            .arg(&target)
            .ok();
        let raw = jsonv(
            &skopeo(&[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{target}"),
            ]),
            "manifest",
        );
        assert_eq!(raw["config"]["digest"], json!(id), "{compression}/{format}");
        for l in raw["layers"].as_array().expect("layers") {
            assert_eq!(l["mediaType"], json!(media), "{compression}/{format}");
        }
        assert_eq!(
            skopeo_inspect(&target, true)["rootfs"]["diff_ids"],
            json!(layers)
        );
        // And back: a fresh store pulls it to the same image id and files.
        let back = World::new();
        back.sealer().args(["pull", "-q"]).arg(&target).ok();
        assert_eq!(ids(&back.env, &target), (id.clone(), layers.clone()));
    }
    let err = w
        .sealer()
        .args(["push", "--compression", "zstd", "--format", "docker", BASE])
        .arg(reg.image("k8s/bad:v1"))
        .fails();
    assert_mentions(&err, &["zstd"]);
}

/// An image made by umoci (init, new, unpack, add files, repack).
fn umoci_image(env: &Env) -> (PathBuf, BTreeMap<String, String>) {
    let layout = env.path("umoci-layout");
    let l = layout.display().to_string();
    tool("umoci", &["init", "--layout", &l], "umoci");
    tool("umoci", &["new", "--image", &format!("{l}:t")], "umoci");
    let bundle = env.path("bundle");
    let b = bundle.display().to_string();
    tool(
        "umoci",
        &["unpack", "--rootless", "--image", &format!("{l}:t"), &b],
        "umoci",
    );
    let rootfs = bundle.join("rootfs");
    crate::util::copy_tree(&example("cluster-rootfs"), &rootfs);
    fs::write(rootfs.join("etc/umoci-made"), "by umoci\n").expect("writing");
    tool(
        "umoci",
        &["repack", "--image", &format!("{l}:t"), &b],
        "umoci",
    );
    (layout, tree_on_disk(&rootfs))
}

#[test]
fn what_skopeo_pushes_we_pull_with_the_same_files_oci_and_docker_gzip_and_zstd() {
    let reg = Registry::start();
    let maker = Env::new();
    let (layout, files) = umoci_image(&maker);
    let src = format!("oci:{}:t", layout.display());
    let cases: [(&str, &[&str]); 3] = [
        ("umoci/oci-gzip:t", &[]),
        ("umoci/docker:t", &["--format", "v2s2"]),
        ("umoci/oci-zstd:t", &["--dest-compress-format", "zstd"]),
    ];
    for (path, extra) in cases {
        let dest = format!("docker://{}", reg.image(path));
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        args.extend([src.as_str(), dest.as_str()]);
        skopeo(&args);
        let name = reg.image(path);
        let w = World::new();
        let pulled = w.sealer().args(["pull", &name]).ok();
        assert_mentions(&pulled.stderr, &["Pull complete"]);
        assert_eq!(
            tree(&w.env, &name),
            files,
            "{path}: files differ from umoci's rootfs"
        );
        let config = skopeo_inspect(&name, true);
        let (id, layers) = ids(&w.env, &name);
        assert_eq!(config["rootfs"]["diff_ids"], json!(layers), "{path}");
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{name}"),
        ]);
        assert_eq!(
            jsonv(&raw, "manifest")["config"]["digest"],
            json!(id),
            "{path}"
        );
    }
}

#[test]
fn our_store_copied_by_skopeo_is_pulled_back_and_a_second_pull_downloads_nothing() {
    let reg = Registry::start();
    let w = World::new();
    w.build_base();
    w.env.build(MINE, &example("override"));
    let want = tree(&w.env, MINE);
    let (id, layers) = ids(&w.env, MINE);
    let name = reg.image("copied/my-k8s:v1.19.8");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:{MINE}", w.env.root().display()),
        &format!("docker://{name}"),
    ]);
    let other = World::new();
    // localhost is a loopback name too: plain HTTP without --insecure.
    let via_localhost = name.replace("127.0.0.1", "localhost");
    let out = other.sealer().args(["pull", &via_localhost]).ok();
    assert_eq!(out.stdout.trim(), via_localhost);
    assert_eq!(
        ids(&other.env, &via_localhost),
        (id.clone(), layers.clone())
    );
    assert_eq!(tree(&other.env, &via_localhost), want);
    let again = other.sealer().args(["pull", &name]).ok();
    assert_mentions(&again.stderr, &["0 layers downloaded", "Already exists"]);
    let manifest = jsonv(
        &fs::read_to_string(
            other.env.blob(
                other.env.inspect(&name)["spec"]["digest"]
                    .as_str()
                    .expect("digest"),
            ),
        )
        .expect("manifest"),
        "manifest",
    );
    let source = skopeo_inspect(&name, false)["Digest"].clone();
    assert_eq!(manifest["annotations"]["io.sealer.source.digest"], source);

    // By digest: the same image, named repo@digest.
    let repo = name.rsplit_once(':').expect("a tag").0;
    let by_digest = format!("{repo}@{}", source.as_str().expect("a digest"));
    let third = World::new();
    third.sealer().args(["pull", "-q", &by_digest]).ok();
    assert_eq!(ids(&third.env, &by_digest), (id, layers));
    // A single-platform image is refused for another platform asked for.
    let err = third
        .sealer()
        .args(["pull", "--platform", "linux/s390x", &name])
        .fails();
    assert_mentions(&err, &[&name, "linux/s390x"]);
}

/// Writes a blob into an OCI layout; returns its descriptor.
fn put_blob(layout: &Path, media: &str, bytes: &[u8]) -> Value {
    let hex = sha256_hex(bytes);
    fs::write(layout.join("blobs/sha256").join(&hex), bytes).expect("writing a blob");
    json!({"mediaType": media, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

/// Copies the store's layout and adds `name` as an index of two platforms:
/// the image as built (this machine) and the same layers as linux/arm/v7.
fn multi_platform_layout(env: &Env, image: &str) -> PathBuf {
    let layout = env.path("multi");
    crate::util::copy_tree(&env.root(), &layout);
    let spec = env.inspect(image);
    let manifest_digest = spec["spec"]["digest"].as_str().expect("digest");
    let manifest_bytes = fs::read(env.blob(manifest_digest)).expect("manifest");
    let manifest = jsonv(&String::from_utf8_lossy(&manifest_bytes), "manifest");
    let config_digest = manifest["config"]["digest"].as_str().expect("config");
    let mut config = jsonv(
        &fs::read_to_string(env.blob(config_digest)).expect("config"),
        "config",
    );
    config["architecture"] = json!("arm");
    config["variant"] = json!("v7");
    let config_desc = put_blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).expect("json"),
    );
    let mut arm = manifest.clone();
    arm["config"] = config_desc;
    let arm_desc = put_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&arm).expect("json"),
    );
    let host = host_arch();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
             "size": manifest_bytes.len(), "platform": {"os": "linux", "architecture": host}},
            {"mediaType": arm_desc["mediaType"], "digest": arm_desc["digest"], "size": arm_desc["size"],
             "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        ],
    });
    let index_desc = put_blob(
        &layout,
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).expect("json"),
    );
    let mut top = jsonv(
        &fs::read_to_string(layout.join("index.json")).expect("index.json"),
        "index.json",
    );
    let mut entry = index_desc;
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": "multi:v1"});
    top["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(entry);
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("write");
    layout
}

#[test]
fn a_multi_platform_index_yields_this_machine_or_the_asked_platform() {
    let reg = Registry::start();
    let w = World::new();
    w.build_base();
    let layout = multi_platform_layout(&w.env, BASE);
    let name = reg.image("multi/k8s:v1");
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi:v1", layout.display()),
        &format!("docker://{name}"),
    ]);
    let (id, layers) = ids(&w.env, BASE);
    let host = World::new();
    host.sealer().args(["pull", "-q", &name]).ok();
    assert_eq!(ids(&host.env, &name), (id.clone(), layers.clone()));
    let arm = World::new();
    arm.sealer()
        .args(["pull", "-q", "--platform", "linux/arm/v7", &name])
        .ok();
    let spec = arm.env.inspect(&name);
    assert_ne!(spec["spec"]["id"], json!(id));
    assert_eq!(arm.env.layer_ids(&name), layers);
    let none = World::new();
    none.env.run(&["images"]);
    let before = none.env.snapshot();
    let err = none
        .sealer()
        .args(["pull", "--platform", "linux/s390x", &name])
        .fails();
    assert_mentions(&err, &[&name, "linux/s390x", "linux/arm/v7"]);
    none.env
        .snapshot()
        .assert_same(&before, "a pull of a missing platform");
}

#[test]
fn bad_registries_and_references_fail_with_one_line_naming_them() {
    let reg = Registry::start();
    let w = World::new();
    w.env.run(&["images"]);
    let before = w.env.snapshot();
    // Nothing listens on a port we just closed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let cases = [
        (
            format!("127.0.0.1:{free}/a/b:v1"),
            vec!["connection refused"],
        ),
        (reg.image("nothing/here:v1"), vec!["nothing/here", "404"]),
        (
            reg.image(&format!("nothing/here@sha256:{}", "0".repeat(64))),
            vec!["nothing/here", "404"],
        ),
    ];
    for (name, words) in &cases {
        let err = w.sealer().args(["pull", name]).fails();
        let mut all = vec![name.as_str()];
        all.extend(words.iter().copied());
        assert_mentions(&err, &all);
    }
    for bad in ["UPPER/case:v1", "a:b:c:d"] {
        w.sealer().args(["pull", bad]).fails();
    }
    let err = w
        .sealer()
        .args(["pull", "--platform", "linux", &reg.image("a:v1")])
        .fails();
    assert_mentions(&err, &["linux"]);
    w.env.snapshot().assert_same(&before, "failed pulls");
}

#[test]
fn corrupt_blobs_and_wrong_diff_ids_tag_nothing_and_a_retry_resumes() {
    let reg = Registry::start();
    let w = World::new();
    w.build_base();
    w.env.build(MINE, &example("override"));
    let name = reg.image("corrupt/my-k8s:v1");
    w.sealer()
        .args(["push", "-q", "--compression", "none", MINE, &name])
        .ok();
    let layers = w.env.layer_ids(MINE);
    let top = layers.last().expect("a top layer").clone();
    let data = reg.blob_data(&top);
    let good = fs::read(&data).expect("the registry's blob");
    // Flip a byte of file content (not of a tar header): the tar stays
    // valid, only the digest tells.
    let mut bad = good.clone();
    let at = 512
        + good[512..]
            .iter()
            .position(|&b| b == b'{')
            .expect("daemon.json's brace");
    bad[at] = b'[';
    fs::write(&data, &bad).expect("corrupting the blob");

    let other = World::new();
    let err = other.sealer().args(["pull", &name]).fails();
    assert_mentions(&err, &[&name, &top[..19], "hashes to"]);
    let images = other.env.run(&["images", "-q"]);
    assert!(images.trim().is_empty(), "a failed pull tagged: {images}");
    // The verified bottom layer stays for the retry; the corrupt one does not.
    assert!(other.env.blob(&layers[0]).exists());
    assert!(!other.env.blob(&top).exists());
    fs::write(&data, &good).expect("repairing the blob");
    let again = other.sealer().args(["pull", &name]).ok();
    assert_mentions(&again.stderr, &["Already exists", "1 layers downloaded"]);

    // A config whose diff_id does not match the layer: pushed by skopeo
    // from a layout we edit.
    let layout = w.env.path("wrong-diff-id");
    crate::util::copy_tree(&w.env.root(), &layout);
    let spec = w.env.inspect(MINE);
    let manifest_digest = spec["spec"]["digest"].as_str().expect("digest");
    let mut manifest = jsonv(
        &fs::read_to_string(w.env.blob(manifest_digest)).expect("manifest"),
        "manifest",
    );
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_string();
    let mut config = jsonv(
        &fs::read_to_string(w.env.blob(&config_digest)).expect("config"),
        "config",
    );
    let wrong = format!("sha256:{}", "1".repeat(64));
    config["rootfs"]["diff_ids"][0] = json!(wrong);
    manifest["config"] = put_blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).expect("json"),
    );
    let desc = put_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    let mut top_index = jsonv(
        &fs::read_to_string(layout.join("index.json")).expect("index"),
        "index.json",
    );
    let mut entry = desc;
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": "wrong:v1"});
    top_index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(entry);
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top_index).expect("json"),
    )
    .expect("write");
    let wrong_name = reg.image("corrupt/wrong:v1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:wrong:v1", layout.display()),
        &format!("docker://{wrong_name}"),
    ]);
    let fresh = World::new();
    let err = fresh.sealer().args(["pull", &wrong_name]).fails();
    assert_mentions(&err, &[&wrong_name, "diff_id", &wrong[..19]]);
    let images = fresh.env.run(&["images", "-q"]);
    assert!(images.trim().is_empty(), "a failed pull tagged: {images}");
    // Only complete, verified layers may have stayed.
    assert!(!fresh.env.blob(&layers[0]).exists());
}

#[test]
fn a_layer_over_64_mib_goes_up_in_chunks_or_one_compressed_stream_and_comes_back() {
    let reg = Registry::start();
    let w = World::new();
    // 70 MiB that do not compress: above the 64 MiB chunk size as gzip too.
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let mut data = Vec::with_capacity(70 << 20);
    while data.len() < 70 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    let ctx = w
        .env
        .context("big", &[("Kubefile", "FROM scratch\nCOPY . .\n")]);
    fs::write(ctx.join("blob.bin"), &data).expect("writing");
    w.env.build("big:v1", &ctx);
    let (id, layers) = ids(&w.env, "big:v1");
    let name = reg.image("big/layer:v1");
    w.sealer()
        .args(["push", "-q", "--compression", "none", "big:v1", &name])
        .ok();
    assert!(
        reg.requests("PATCH", "/blobs/uploads/") >= 2,
        "no chunked upload"
    );
    // Compressed: one streamed PATCH per layer, no temporary file.
    let gz = reg.image("big/gzip:v1");
    w.sealer().args(["push", "-q", "big:v1", &gz]).ok();
    let from_gz = World::new();
    from_gz.sealer().args(["pull", "-q", &gz]).ok();
    assert_eq!(ids(&from_gz.env, &gz), (id.clone(), layers.clone()));
    let copied = w.env.path("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:x", copied.display()),
    ]);
    let back = World::new();
    back.sealer().args(["pull", "-q", &name]).ok();
    // Same config and diff_ids: the layer came back byte for byte.
    assert_eq!(ids(&back.env, &name), (id, layers));
}
