//! `sealer build` caching container images into `registry/`, against real
//! parts: images written as OCI layouts (one a multi-platform index) and
//! pushed with `skopeo` to Debian's `docker-registry`; the built image is
//! mounted through FUSE and a second, read-only `docker-registry` serves its
//! `registry/`, from which `skopeo` must get every image with the source's
//! manifest digest. Also: what `--list-images` prints, a rebuild that adds
//! one image downloads only that image, lite mode, and bad input (missing
//! tag, unreachable registry, conflicting sources, corrupt blob, invalid
//! reference) failing with one line that names the image and where it was
//! asked for, the store unchanged.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::mount::mount;
use crate::registry::{jsonv, skopeo, World};
use crate::util::host_arch;
use crate::util::registry::Registry;
use crate::util::{assert_mentions, sha256_hex, Env};

/// A layer tar of `files` (path, content), uncompressed.
pub(crate) fn layer_tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &content[..])
            .expect("tar entry");
    }
    b.into_inner().expect("tar")
}

/// Deterministic pseudo-random bytes (incompressible enough).
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An OCI layout being filled with images.
pub(crate) struct Layout {
    dir: PathBuf,
    refs: Vec<Value>,
}

impl Layout {
    pub(crate) fn new(dir: PathBuf) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dirs");
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        Layout {
            dir,
            refs: Vec::new(),
        }
    }

    fn blob(&self, media: &str, bytes: &[u8]) -> Value {
        let hex = sha256_hex(bytes);
        fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).expect("blob");
        json!({"mediaType": media, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// An image manifest of `layers` for `arch`; its descriptor.
    pub(crate) fn image(&self, arch: &str, layers: &[Vec<u8>]) -> Value {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", sha256_hex(l)))
            .collect();
        let config = json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {}
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&config).expect("json"),
        );
        let layers: Vec<Value> = layers
            .iter()
            .map(|l| self.blob("application/vnd.oci.image.layer.v1.tar", l))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": layers
        });
        self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).expect("json"),
        )
    }

    /// An index of (descriptor, arch) pairs; its descriptor.
    pub(crate) fn index(&self, images: &[(Value, &str)]) -> Value {
        let manifests: Vec<Value> = images
            .iter()
            .map(|(d, arch)| {
                let mut d = d.clone();
                d["platform"] = json!({"os": "linux", "architecture": arch});
                d
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).expect("json"),
        )
    }

    pub(crate) fn tag(&mut self, desc: &Value, name: &str) {
        let mut d = desc.clone();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        self.refs.push(d);
        let index = json!({"schemaVersion": 2, "manifests": self.refs});
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).expect("json"),
        )
        .expect("index.json");
    }

    /// `skopeo copy --all` of tag `name` to `dest` (host/path:tag).
    pub(crate) fn push(&self, name: &str, dest: &str) {
        self.push_with(name, dest, &[]);
    }

    /// [`push`](Self::push) with more skopeo flags (credentials).
    fn push_with(&self, name: &str, dest: &str, extra: &[&str]) {
        let (src, dest) = (
            format!("oci:{}:{name}", self.dir.display()),
            format!("docker://{dest}"),
        );
        let mut args = vec!["copy", "--all", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        args.extend([src.as_str(), dest.as_str()]);
        skopeo(&args);
    }
}

/// The digest a registry serves for `image` (`skopeo inspect --raw`).
pub(crate) fn served_digest(image: &str) -> String {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    format!("sha256:{}", sha256_hex(raw.as_bytes()))
}

/// Mounts `image` and serves its `registry/` read-only: each `(source
/// image, repo:tag)` must be served there with the source's manifest digest.
fn assert_served(env: &Env, image: &str, pairs: &[(&String, &str)]) {
    let mnt = mount(env, image, &format!("mnt-{}", image.replace(':', "-")));
    let served = Registry::serving(&mnt.dir.join("registry"));
    for (source, path) in pairs {
        assert_eq!(
            served_digest(&served.image(path)),
            served_digest(source),
            "{image}: {path}"
        );
    }
}

/// The source registry with four images: nginx and busybox (sharing a
/// layer), an operator as an index of this machine's and another platform,
/// and an extra tool.
struct Source {
    reg: Registry,
    _env: Env,
}

impl Source {
    fn start() -> Source {
        let reg = Registry::start();
        let env = Env::new();
        let mut l = Layout::new(env.path("layout"));
        let common = layer_tar(&[("lib/common.so", noise(1, 300_000))]);
        let nginx = l.image(
            host_arch(),
            &[
                common.clone(),
                layer_tar(&[("usr/sbin/nginx", noise(2, 200_000))]),
            ],
        );
        l.tag(&nginx, "nginx");
        let busybox = l.image(
            host_arch(),
            &[common, layer_tar(&[("bin/busybox", noise(3, 100_000))])],
        );
        l.tag(&busybox, "busybox");
        let other = if host_arch() == "arm64" {
            "amd64"
        } else {
            "arm64"
        };
        let op_host = l.image(host_arch(), &[layer_tar(&[("operator", noise(4, 50_000))])]);
        let op_other = l.image(other, &[layer_tar(&[("operator", noise(5, 50_000))])]);
        let index = l.index(&[(op_host, host_arch()), (op_other, other)]);
        l.tag(&index, "operator");
        let tool = l.image(host_arch(), &[layer_tar(&[("tool", noise(6, 80_000))])]);
        l.tag(&tool, "tool");
        l.push("nginx", &reg.image("library/nginx:1.25"));
        l.push("busybox", &reg.image("library/busybox:1"));
        l.push("operator", &reg.image("tigera/operator:v1"));
        l.push("tool", &reg.image("extra/tool:2"));
        Source { reg, _env: env }
    }

    fn image(&self, path: &str) -> String {
        self.reg.image(path)
    }
}

/// A build context naming the source's images in a manifest, the
/// imageList and a chart.
fn context(env: &Env, src: &Source) -> PathBuf {
    let deploy = format!(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: {busybox}\n      containers:\n      - name: web\n        image: \"{nginx}\"\n",
        busybox = src.image("library/busybox:1"),
        nginx = src.image("library/nginx:1.25"),
    );
    let list = format!("# cached too\n{}\n", src.image("library/busybox:1"));
    let values = format!(
        "image:\n  registry: {}\n  repository: tigera/operator\n  tag: v1\n",
        src.reg.addr
    );
    let template = "spec:\n  containers:\n  - name: op\n    image: \"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n";
    env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/deploy.yaml", &deploy),
            ("manifests/imageList", &list),
            (
                "charts/operator/Chart.yaml",
                "apiVersion: v2\nname: operator\nversion: 0.1.0\nappVersion: v1\n",
            ),
            ("charts/operator/values.yaml", &values),
            ("charts/operator/templates/deployment.yaml", template),
        ],
    )
}

#[test]
fn cached_images_are_served_from_the_mounted_rootfs_with_the_source_digests() {
    let src = Source::start();
    let env = Env::new();
    let ctx = context(&env, &src);
    let (nginx, busybox, operator) = (
        src.image("library/nginx:1.25"),
        src.image("library/busybox:1"),
        src.image("tigera/operator:v1"),
    );

    // What would be cached, and from where; nothing fetched, nothing tagged.
    env.run(&["images"]);
    let before = env.snapshot();
    let gets = src.reg.requests("GET", "/blobs/");
    let listed = env.sealer().args(["build", "--list-images"]).arg(&ctx).ok();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{busybox}\tmanifests/imageList:2"),
            format!("{nginx}\tmanifests/deploy.yaml:11"),
            format!("{operator}\tcharts/operator/templates/deployment.yaml:4 (spec.containers[0].image)"),
        ],
        "{}",
        listed.stderr
    );
    assert_eq!(
        src.reg.requests("GET", "/blobs/"),
        gets,
        "--list-images fetched blobs"
    );
    before.assert_same(&env.snapshot(), "the store after --list-images");

    let built = env.build("k8s:v1", &ctx);
    assert_mentions(&built.stderr, &["CACHE 3 container images"]);
    let spec = env.inspect("k8s:v1");
    let layers = spec["spec"]["layers"].as_array().expect("layers");
    let last = layers.last().expect("a layer");
    assert_eq!(
        (last["type"].as_str(), last["value"].as_str()),
        (Some("BASE"), Some("container images"))
    );
    let cached: Vec<&str> = spec["spec"]["containerImageList"]
        .as_array()
        .expect("containerImageList")
        .iter()
        .map(|c| c["image"].as_str().expect("image"))
        .collect();
    assert_eq!(
        cached,
        [busybox.as_str(), nginx.as_str(), operator.as_str()]
    );
    let manifest = jsonv(
        &fs::read_to_string(env.blob(spec["spec"]["digest"].as_str().expect("digest")))
            .expect("manifest"),
        "manifest",
    );
    let annotation: Value = serde_json::from_str(
        manifest["annotations"]["sealer.image.container.images"]
            .as_str()
            .expect("the sealer.image.container.images annotation"),
    )
    .expect("annotation JSON");
    assert_eq!(
        annotation[0]["platform"],
        json!({"architecture": host_arch(), "os": "linux"})
    );

    let mnt = mount(&env, "k8s:v1", "mnt");
    let served = Registry::serving(&mnt.dir.join("registry"));
    for (image, path) in [
        (&nginx, "library/nginx:1.25"),
        (&busybox, "library/busybox:1"),
        (&operator, "tigera/operator:v1"),
    ] {
        let from_cache = served.image(path);
        assert_eq!(served_digest(&from_cache), served_digest(image), "{path}");
        let out = env.path(&format!("pulled-{}", path.replace(['/', ':'], "-")));
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{from_cache}"),
            &format!("dir:{}", out.display()),
        ]);
        assert!(
            out.join("manifest.json").is_file(),
            "{path}: nothing pulled"
        );
    }
    // The operator's index is served as the source has it; only this
    // machine's image of it is cached.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}", served.image("tigera/operator:v1")),
    ]);
    assert_eq!(
        jsonv(&raw, "index")["manifests"].as_array().map(Vec::len),
        Some(2)
    );
    drop(served);
    drop(mnt);

    // A rebuild that adds one image downloads only that image's blobs.
    let tool = src.image("extra/tool:2");
    let extra = env.write("extra.txt", format!("{tool}\n"));
    let gets = src.reg.requests("GET", "/blobs/");
    let rebuilt = env
        .sealer()
        .args(["build", "-t", "k8s:v2", "--image-list"])
        .arg(&extra)
        .arg(&ctx)
        .ok();
    assert_mentions(&rebuilt.stderr, &["CACHE 4 container images"]);
    assert_eq!(
        src.reg.requests("GET", "/blobs/") - gets,
        2,
        "the rebuild must fetch the tool's config and layer only:\n{}",
        rebuilt.stderr
    );
    assert_served(
        &env,
        "k8s:v2",
        &[(&tool, "extra/tool:2"), (&nginx, "library/nginx:1.25")],
    );

    // The same build again reuses its cache layer, fetching no blob.
    let gets = src.reg.requests("GET", "/blobs/");
    let again = env
        .sealer()
        .args(["build", "-t", "k8s:v3", "--image-list"])
        .arg(&extra)
        .arg(&ctx)
        .ok();
    assert_mentions(&again.stderr, &["Using cache"]);
    assert_eq!(src.reg.requests("GET", "/blobs/"), gets);
    assert_eq!(env.layer_ids("k8s:v3"), env.layer_ids("k8s:v2"));

    // Over a base that holds three of them: only the new one is written,
    // copied from the store (an earlier build's layer), nothing downloaded.
    let over = env.context(
        "over",
        &[
            (
                "Kubefile",
                "FROM k8s:v1\nCOPY imageList manifests/imageList\n",
            ),
            ("imageList", &format!("{busybox}\n{tool}\n")),
        ],
    );
    let gets = src.reg.requests("GET", "/blobs/");
    let built = env.build("k8s:over", &over);
    assert_mentions(
        &built.stderr,
        &[
            "CACHE 4 container images",
            "11 already in lower layers",
            "0 B to download",
        ],
    );
    assert_eq!(src.reg.requests("GET", "/blobs/"), gets);
    assert_served(
        &env,
        "k8s:over",
        &[(&tool, "extra/tool:2"), (&operator, "tigera/operator:v1")],
    );

    // Lite mode and the ignore list.
    let skip = env.write("skip.txt", format!("{busybox}\n{nginx}\n{operator}\n"));
    for args in [
        vec!["--build-mode", "lite"],
        vec!["--ignored-image-list", skip.to_str().expect("utf-8 path")],
    ] {
        env.sealer()
            .args(["build", "-t", "k8s:lite"])
            .args(&args)
            .arg(&ctx)
            .ok();
        let spec = env.inspect("k8s:lite");
        assert_eq!(
            spec["spec"]["layers"].as_array().map(Vec::len),
            Some(1),
            "{args:?}"
        );
        assert!(spec["spec"]["containerImageList"].is_null(), "{args:?}");
    }
}

/// Runs a failing build of `ctx` and checks the store did not change.
fn fails_unchanged(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    let before = env.snapshot();
    let err = env
        .sealer()
        .args(["build", "-t", "bad:1"])
        .args(extra)
        .arg(ctx)
        .fails();
    before.assert_same(&env.snapshot(), "the store after a failed build");
    err
}

#[test]
fn bad_images_fail_the_build_naming_the_image_and_where_it_was_asked() {
    let src = Source::start();
    let env = Env::new();
    env.build(
        "base:1",
        &env.context(
            "base",
            &[("Kubefile", "FROM scratch\nCOPY . .\n"), ("etc/x", "x\n")],
        ),
    );
    let with_list = |name: &str, list: &str| {
        env.context(
            name,
            &[
                ("Kubefile", "FROM base:1\nCOPY . .\n"),
                ("manifests/imageList", list),
            ],
        )
    };

    let missing = src.image("library/nginx:nope");
    let err = fails_unchanged(&env, &with_list("c1", &format!("\n{missing}\n")), &[]);
    assert_mentions(&err, &[&missing, "manifests/imageList:2"]);

    let unreachable = "127.0.0.1:1/nobody/home:1";
    let err = fails_unchanged(&env, &with_list("c2", &format!("{unreachable}\n")), &[]);
    assert_mentions(
        &err,
        &["127.0.0.1:1/nobody/home:1", "manifests/imageList:1"],
    );

    let ctx = env.context(
        "c3",
        &[
            ("Kubefile", "FROM base:1\nCOPY . .\n"),
            (
                "manifests/bad.yaml",
                "kind: Pod\nspec:\n  image: Not/A:Ref\n",
            ),
        ],
    );
    let err = fails_unchanged(&env, &ctx, &[]);
    assert_mentions(&err, &["manifests/bad.yaml:3", "Not/A:Ref"]);

    // Two sources cached as library/nginx:1.25 with different content.
    let other = Registry::start();
    let l = Layout::new(env.path("other-layout"));
    let mut l = l;
    let img = l.image(host_arch(), &[layer_tar(&[("other", noise(9, 1000))])]);
    l.tag(&img, "n");
    l.push("n", &other.image("library/nginx:1.25"));
    let (a, b) = (
        src.image("library/nginx:1.25"),
        other.image("library/nginx:1.25"),
    );
    let err = fails_unchanged(&env, &with_list("c4", &format!("{a}\n{b}\n")), &[]);
    assert_mentions(&err, &[&a, &b, "library/nginx:1.25"]);

    // A corrupt blob in the source registry.
    let manifest = jsonv(
        &skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{b}"),
        ]),
        "manifest",
    );
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest");
    let data = other.blob_data(layer);
    let mut bytes = fs::read(&data).expect("blob data");
    bytes[10] ^= 0xff;
    fs::File::create(&data)
        .and_then(|mut f| f.write_all(&bytes))
        .expect("corrupting the blob");
    let err = fails_unchanged(&env, &with_list("c5", &format!("{b}\n")), &[]);
    assert_mentions(&err, &[&b, "manifests/imageList:1", layer, "corrupt"]);

    // A platform the operator's index lacks (the image is for s390x).
    let operator = src.image("tigera/operator:v1");
    let ctx = env.context(
        "c7",
        &[
            (
                "Kubefile",
                "FROM --platform=linux/s390x scratch\nCOPY . .\n",
            ),
            ("manifests/imageList", &format!("{operator}\n")),
        ],
    );
    let err = fails_unchanged(&env, &ctx, &[]);
    assert_mentions(&err, &[&operator, "manifests/imageList:1", "linux/s390x"]);

    // An image list given on the command line names its own file and line.
    let list = env.write("more.txt", format!("# x\n{missing}\n"));
    let ctx = with_list("c6", "");
    let err = fails_unchanged(&env, &ctx, &["--image-list", list.to_str().expect("utf-8")]);
    assert_mentions(&err, &[&missing, "more.txt:2"]);
    assert!(env.sealer().args(["inspect", "bad:1"]).output().code != Some(0));
}

#[test]
fn images_behind_bearer_auth_need_a_login_and_then_cache() {
    let reg = Registry::with_token_auth("bob", "t0ken-pass");
    let w = World::new();
    let mut l = Layout::new(w.env.path("layout"));
    let img = l.image(host_arch(), &[layer_tar(&[("app", vec![b'a'; 20_000])])]);
    l.tag(&img, "app");
    let private = reg.image("team/app:1");
    l.push_with("app", &private, &["--dest-creds", "bob:t0ken-pass"]);
    let ctx = w.env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", &format!("{private}\n")),
        ],
    );
    w.sealer().args(["images"]).ok();
    let before = w.env.snapshot();
    let err = w.sealer().args(["build", "-t", "app:1"]).arg(&ctx).fails();
    assert_mentions(&err, &[&private, "manifests/imageList:1", "sealer login"]);
    before.assert_same(&w.env.snapshot(), "the store after a refused build");
    let pw = w.env.write("pw", "t0ken-pass\n");
    w.sealer()
        .args(["login", &reg.addr, "-u", "bob", "--password-stdin"])
        .stdin_file(&pw)
        .ok();
    w.sealer().args(["build", "-t", "app:1"]).arg(&ctx).ok();
    let mnt = mount(&w.env, "app:1", "mnt");
    let served = Registry::serving(&mnt.dir.join("registry"));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}", served.image("team/app:1")),
    ]);
    let pushed = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "bob:t0ken-pass",
        &format!("docker://{private}"),
    ]);
    assert_eq!(
        raw, pushed,
        "the cached manifest is the one the registry serves"
    );
    // skopeo gzipped the layer on its way up: the cache holds it as served.
    assert_mentions(&raw, &["tar+gzip"]);
}

#[test]
fn a_download_cut_midway_resumes_with_a_range_request() {
    let src = Source::start();
    let nginx = src.image("library/nginx:1.25");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{nginx}"),
    ]);
    let manifest = jsonv(&raw, "manifest");
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .expect("layer digest");
    let size = manifest["layers"][1]["size"].as_u64().expect("layer size");
    assert!(
        size > 2 * crate::util::flaky::CUT_AFTER as u64,
        "the layer ({size} bytes) must outlast the cut"
    );
    let proxy = crate::util::flaky::FlakyProxy::start(&src.reg.addr, layer);
    let via_proxy = format!("{}/library/nginx:1.25", proxy.addr);
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", &format!("{via_proxy}\n")),
        ],
    );
    env.build("cut:1", &ctx);
    let seen = proxy.seen.lock().expect("requests").clone();
    let for_layer: Vec<&Option<String>> = seen
        .iter()
        .filter(|(r, _)| r.starts_with("GET ") && r.contains(layer))
        .map(|(_, range)| range)
        .collect();
    assert_eq!(for_layer.len(), 2, "one cut GET and one resumed: {seen:?}");
    let resumed_at: u64 = for_layer[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .expect("the second GET asks for a range");
    assert!(
        resumed_at > 0 && resumed_at < size,
        "resumed at {resumed_at}"
    );
    let mnt = mount(&env, "cut:1", "mnt");
    let served = Registry::serving(&mnt.dir.join("registry"));
    assert_eq!(
        served_digest(&served.image("library/nginx:1.25")),
        served_digest(&nginx)
    );
}
