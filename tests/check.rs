//! `sealer check`: offline completeness of a ClusterImage's `registry/`.
//! Images cached by real builds from Debian's `docker-registry` (pushed
//! there with `skopeo`) make a complete image (exit 0); a kube-installer
//! image with a KUBEVERSION whose registry/ holds every image kubeadm pulls
//! but kube-apiserver is reported; an image named in imageList but not
//! cached (lite build), a blob whose content is not its digest and a
//! manifest whose layer blob is absent (a crafted `registry/` tree COPYed
//! into the rootfs) each exit 1 and name the problem.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::image_cache::{layer_tar, noise, Layout};
use crate::util::registry::Registry;
use crate::util::{assert_mentions, host_arch, sha256_hex, Env, Run};

/// `sealer check ARGS...`, whatever its outcome.
fn check(env: &Env, args: &[&str]) -> Run {
    env.sealer().arg("check").args(args).output()
}

/// `sealer check --format json IMAGE`, which must exit `code`; parsed.
fn check_json(env: &Env, image: &str, code: i32) -> Value {
    let run = check(env, &["--format", "json", image]);
    assert_eq!(run.code, Some(code), "{}\n{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// A registry holding `app:1` and, under its own address as kubeadm's
/// imageRepository, every image kubeadm v1.19.8 pulls but kube-apiserver.
struct Source {
    reg: Registry,
    _env: Env,
}

/// kubeadm v1.19.8's images but kube-apiserver (repository:tag).
const KUBEADM_BUT_APISERVER: [&str; 6] = [
    "kube-controller-manager:v1.19.8",
    "kube-scheduler:v1.19.8",
    "kube-proxy:v1.19.8",
    "pause:3.2",
    "etcd:3.4.13-0",
    "coredns:1.7.0",
];

impl Source {
    fn start() -> Source {
        let reg = Registry::start();
        let env = Env::new();
        let mut l = Layout::new(env.path("layout"));
        let app = l.image(host_arch(), &[layer_tar(&[("app", noise(11, 40_000))])]);
        l.tag(&app, "app");
        let tiny = l.image(host_arch(), &[layer_tar(&[("bin", noise(12, 1_000))])]);
        l.tag(&tiny, "tiny");
        l.push("app", &reg.image("demo/app:1"));
        for image in KUBEADM_BUT_APISERVER {
            l.push("tiny", &reg.image(image));
        }
        Source { reg, _env: env }
    }
}

#[test]
fn a_complete_image_passes_and_kubeadms_missing_apiserver_is_named() {
    let src = Source::start();
    let env = Env::new();
    let app = src.reg.image("demo/app:1");
    let ctx = env.context(
        "ok",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", &format!("{app}\n")),
        ],
    );
    env.build("ok:1", &ctx);
    let run = check(&env, &["ok:1"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_mentions(
        &run.stdout,
        &["ok:1 is complete: 1 container images, 3 blobs checked"],
    );
    let report = check_json(&env, "ok:1", 0);
    assert_eq!(
        report,
        json!({"complete": true, "missing": [], "corrupt": [], "incomplete": [],
               "checked": {"images": 1, "blobs": 3}})
    );

    // A kube-installer of v1.19.8 whose kubeadm config points at the
    // registry: all of kubeadm's images are cached but kube-apiserver.
    let list: String = KUBEADM_BUT_APISERVER
        .iter()
        .map(|i| format!("{}\n", src.reg.image(i)))
        .collect();
    let kubeadm = format!(
        "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n---\n\
         apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n\
         kubernetesVersion: v1.19.8\nimageRepository: {}\n",
        src.reg.addr
    );
    let ctx = env.context(
        "k8s",
        &[
            ("Kubefile", "FROM scratch\nKUBEVERSION v1.19.8\nCOPY . .\n"),
            ("manifests/imageList", &list),
            ("etc/kubeadm.yml", &kubeadm),
        ],
    );
    env.build("k8s:v1.19.8", &ctx);
    let run = check(&env, &["k8s:v1.19.8"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let apiserver = src.reg.image("kube-apiserver:v1.19.8");
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            format!("missing {apiserver} (from etc/kubeadm.yml (kubeadm v1.19.8 kube-apiserver))"),
            "k8s:v1.19.8 is not complete: 1 missing, 0 corrupt, 0 incomplete (7 container images, 3 blobs checked)".to_string(),
        ],
        "{}",
        run.stderr
    );
    let report = check_json(&env, "k8s:v1.19.8", 1);
    assert_eq!(report["complete"], json!(false));
    assert_eq!(report["missing"][0]["image"], json!(apiserver));
    assert_eq!(
        report["missing"][0]["cachedAs"],
        json!("kube-apiserver:v1.19.8")
    );
}

#[test]
fn an_image_not_cached_is_missing() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", "# one\nnginx:1.25\n"),
        ],
    );
    env.sealer()
        .args(["build", "--build-mode", "lite", "-t", "lite:1"])
        .arg(&ctx)
        .ok();
    let run = check(&env, &["lite:1"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.lines().next(),
        Some("missing docker.io/library/nginx:1.25 (from manifests/imageList:2)")
    );
    let report = check_json(&env, "lite:1", 1);
    assert_eq!(
        report["missing"],
        json!([{"image": "docker.io/library/nginx:1.25", "cachedAs": "library/nginx:1.25",
                "from": ["manifests/imageList:2"], "why": null}])
    );
    assert_eq!(report["checked"], json!({"images": 1, "blobs": 0}));
}

/// A distribution storage tree under `ctx`, written by hand.
struct Tree {
    ctx: PathBuf,
}

const V2: &str = "registry/docker/registry/v2";

impl Tree {
    fn blob(&self, bytes: &[u8]) -> String {
        self.blob_as(&sha256_hex(bytes), bytes)
    }

    /// Writes `bytes` at the data path of `hex` (whatever they hash to).
    fn blob_as(&self, hex: &str, bytes: &[u8]) -> String {
        let dir = self
            .ctx
            .join(format!("{V2}/blobs/sha256/{}/{hex}", &hex[..2]));
        std::fs::create_dir_all(&dir).expect("blob dir");
        std::fs::write(dir.join("data"), bytes).expect("blob");
        hex.to_string()
    }

    fn link(&self, rel: &str, hex: &str) {
        let p = self.ctx.join(format!("{V2}/repositories/{rel}/link"));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("link dir");
        std::fs::write(p, format!("sha256:{hex}")).expect("link");
    }

    /// An image `repo:tag` of one layer; its layer blob holds `layer_data`
    /// (None: absent). Returns (manifest hex, layer hex).
    fn image(
        &self,
        repo: &str,
        tag: &str,
        layer: &[u8],
        layer_data: Option<&[u8]>,
    ) -> (String, String) {
        let layer_hex = sha256_hex(layer);
        if let Some(data) = layer_data {
            self.blob_as(&layer_hex, data);
        }
        let config = serde_json::to_vec(&json!({
            "architecture": host_arch(), "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]}
        }))
        .expect("json");
        let config_hex = self.blob(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": format!("sha256:{config_hex}"), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": format!("sha256:{layer_hex}"), "size": layer.len()}]
        }))
        .expect("json");
        let m = self.blob(&manifest);
        self.link(&format!("{repo}/_manifests/tags/{tag}/current"), &m);
        self.link(&format!("{repo}/_manifests/revisions/sha256/{m}"), &m);
        for b in [&config_hex, &layer_hex] {
            self.link(&format!("{repo}/_layers/sha256/{b}"), b);
        }
        (m, layer_hex)
    }
}

#[test]
fn a_corrupt_blob_and_a_missing_layer_blob_are_named() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", "demo/ok:1\ndemo/broken:1\n"),
        ],
    );
    let tree = Tree { ctx: ctx.clone() };
    let layer = layer_tar(&[("f", noise(21, 5_000))]);
    let (_, bad) = tree.image("demo/ok", "1", &layer, Some(b"not the layer"));
    let other = layer_tar(&[("g", noise(22, 5_000))]);
    let (m, absent) = tree.image("demo/broken", "1", &other, None);
    env.sealer()
        .args(["build", "--build-mode", "lite", "-t", "crafted:1"])
        .arg(&ctx)
        .ok();
    let run = check(&env, &["crafted:1"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let bad_path = format!("{V2}/blobs/sha256/{}/{bad}/data", &bad[..2]);
    assert!(
        lines[0].starts_with(&format!(
            "corrupt sha256:{bad} ({bad_path}): content hashes to sha256:"
        )),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        format!("incomplete sha256:{m} of demo/broken:1: missing sha256:{absent}")
    );
    assert_eq!(
        lines[2],
        "crafted:1 is not complete: 0 missing, 1 corrupt, 1 incomplete (2 container images, 5 blobs checked)"
    );
    let report = check_json(&env, "crafted:1", 1);
    assert_eq!(
        report["corrupt"][0]["digest"],
        json!(format!("sha256:{bad}"))
    );
    assert_eq!(report["corrupt"][0]["path"], json!(bad_path));
    assert_eq!(
        report["incomplete"],
        json!([{"manifest": format!("sha256:{m}"), "of": "demo/broken:1",
                "missing": format!("sha256:{absent}"), "detail": null}])
    );
}

#[test]
fn an_unknown_image_is_one_error_line() {
    let env = Env::new();
    let line = env.sealer().args(["check", "nosuch:1"]).fails();
    assert_mentions(&line, &["nosuch:1"]);
}

#[test]
fn an_index_needs_the_images_platform_and_all_of_them_with_all_platforms() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/imageList", "demo/multi:1\ndemo/foreign:1\n"),
        ],
    );
    let tree = Tree { ctx: ctx.clone() };
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    // Child manifests under throwaway tags, then indexes naming them.
    let layer = layer_tar(&[("f", noise(31, 2_000))]);
    let (here, _) = tree.image("demo/multi", "child", &layer, Some(&layer));
    let absent = sha256_hex(b"the other platform's manifest, never cached");
    let index = |entries: &[(&str, &str)]| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries.iter().map(|(hex, arch)| json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{hex}"), "size": 100,
                "platform": {"os": "linux", "architecture": arch}
            })).collect::<Vec<_>>()
        }))
        .expect("json")
    };
    let multi = tree.blob(&index(&[(&here, host_arch()), (&absent, other)]));
    tree.link("demo/multi/_manifests/tags/1/current", &multi);
    tree.link(
        &format!("demo/multi/_manifests/revisions/sha256/{multi}"),
        &multi,
    );
    let foreign = tree.blob(&index(&[(&absent, other)]));
    tree.link("demo/foreign/_manifests/tags/1/current", &foreign);
    tree.link(
        &format!("demo/foreign/_manifests/revisions/sha256/{foreign}"),
        &foreign,
    );
    env.sealer()
        .args(["build", "--build-mode", "lite", "-t", "multi:1"])
        .arg(&ctx)
        .ok();

    let run = check(&env, &["multi:1"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(
        lines[0],
        format!(
            "missing docker.io/demo/foreign:1 (from manifests/imageList:2): its index has no manifest for linux/{} (offered: linux/{other})",
            host_arch()
        )
    );

    let run = check(&env, &["--all-platforms", "multi:1"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_mentions(
        &run.stdout,
        &[&format!(
            "incomplete sha256:{multi} of demo/multi:1: missing sha256:{absent} (not cached (platform linux/{other}))"
        )],
    );
}
