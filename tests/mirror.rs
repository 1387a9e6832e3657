//! `sealer mirror`: a ClusterImage whose `registry/` holds container images
//! (cached by `sealer build` from one docker-registry, plus a cosign-style
//! `sha256-<hex>.sig` tag copied in from another registry's storage) is
//! mirrored to a third docker-registry under a prefix; `skopeo inspect
//! --raw` there gives the source's digests (index and every platform,
//! signature tag); a second run uploads nothing (no PUT or POST in the
//! target's access log); `--dry-run` lists and sends nothing.

use crate::image_cache::{layer_tar, noise, served_digest, Layout};
use crate::util::registry::Registry;
use crate::util::{assert_mentions, copy_tree, host_arch, Env};

/// PUT and POST requests a registry has answered.
fn writes(reg: &Registry) -> usize {
    reg.requests("PUT", "/v2/") + reg.requests("POST", "/v2/")
}

#[test]
fn mirror_pushes_every_cached_image_with_the_same_digests_once() {
    // Source registry: nginx, and an operator index of two platforms.
    let src = Registry::start();
    let sigs = Registry::start();
    let env = Env::new();
    let mut l = Layout::new(env.path("layout"));
    let common = layer_tar(&[("lib/common.so", noise(20, 100_000))]);
    let nginx = l.image(
        host_arch(),
        &[
            common.clone(),
            layer_tar(&[("usr/sbin/nginx", noise(21, 400_000))]),
        ],
    );
    l.tag(&nginx, "nginx");
    let busybox = l.image(
        host_arch(),
        &[common, layer_tar(&[("bin/busybox", noise(25, 50_000))])],
    );
    l.tag(&busybox, "busybox");
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let op_host = l.image(host_arch(), &[layer_tar(&[("op", noise(22, 60_000))])]);
    let op_other = l.image(other, &[layer_tar(&[("op", noise(23, 60_000))])]);
    let index = l.index(&[(op_host, host_arch()), (op_other, other)]);
    l.tag(&index, "operator");
    let sig = l.image(host_arch(), &[layer_tar(&[("sig", noise(24, 500))])]);
    l.tag(&sig, "sig");
    l.push("nginx", &src.image("library/nginx:1.25"));
    l.push("operator", &src.image("tigera/operator:v1"));
    l.push("busybox", &src.image("library/busybox:1"));
    let nginx_digest = served_digest(&src.image("library/nginx:1.25"));
    let sig_tag = format!("{}.sig", nginx_digest.replace(':', "-"));
    // The signature sits in another registry's storage, copied into the
    // ClusterImage's registry/ by the Kubefile.
    l.push("sig", &sigs.image(&format!("library/nginx:{sig_tag}")));

    let deploy = format!(
        "spec:\n  containers:\n  - image: {}\n  - image: {}\n  - image: {}\n",
        src.image("library/nginx:1.25"),
        src.image("tigera/operator:v1"),
        src.image("library/busybox:1")
    );
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("manifests/deploy.yaml", &deploy),
        ],
    );
    copy_tree(&sigs.dir().join("data"), &ctx.join("registry"));
    env.build("k8s:v1", &ctx);

    // --dry-run: lists, sends nothing.
    let target = Registry::start();
    let to = target.image("mirror");
    let listed = env.run(&["mirror", "--dry-run", "k8s:v1", &to]);
    assert_mentions(
        &listed,
        &[
            &format!("tag\t{to}/library/nginx:1.25\t{nginx_digest}"),
            &format!("tag\t{to}/library/nginx:{sig_tag}"),
            &format!("{to}/tigera/operator:v1"),
            "blob\t",
            "manifest\t",
        ],
    );
    assert_eq!(
        target.log().matches("\"GET ").count(),
        0,
        "{}",
        target.log()
    );
    assert_eq!(writes(&target), 0);

    let first = env.sealer().args(["mirror", "-q", "k8s:v1", &to]).ok();
    // The layer busybox shares with nginx is mounted, not uploaded twice.
    assert_mentions(
        &first.stdout,
        &["Mirrored 3 repositories", "blobs uploaded", " 1 mounted"],
    );
    assert_eq!(target.requests("POST", "mount="), 1, "{}", first.stdout);
    let pairs = [
        (
            src.image("library/nginx:1.25"),
            "library/nginx:1.25".to_string(),
        ),
        (
            src.image("library/busybox:1"),
            "library/busybox:1".to_string(),
        ),
        (
            sigs.image(&format!("library/nginx:{sig_tag}")),
            format!("library/nginx:{sig_tag}"),
        ),
    ];
    for (source, path) in &pairs {
        assert_eq!(
            served_digest(&target.image(&format!("mirror/{path}"))),
            served_digest(source),
            "{path}"
        );
    }
    // This machine's platform of the operator is there by digest; its
    // index lists a platform the single-platform build did not cache, so
    // a checking registry cannot take it: left out, said so.
    let (host_entry, index_digest) = (
        op_entries(&src)[0].clone(),
        served_digest(&src.image("tigera/operator:v1")),
    );
    let by_digest = target.image(&format!("mirror/tigera/operator@{host_entry}"));
    assert_eq!(served_digest(&by_digest), host_entry);
    assert_mentions(
        &first.stderr,
        &[
            "left out",
            &format!("tigera/operator@{index_digest} (tags: v1)"),
        ],
    );

    // A second run only asks.
    let before = writes(&target);
    let second = env.run(&["mirror", "-q", "k8s:v1", &to]);
    assert_eq!(writes(&target), before, "{second}");
    assert_mentions(
        &second,
        &["0 blobs uploaded", "0 manifests and tags pushed"],
    );

    // Built for both platforms, every platform's registry/ together holds
    // the whole index: it is mirrored with the source's digest.
    env.sealer()
        .args([
            "build",
            "--platform",
            &format!("linux/{},linux/{other}", host_arch()),
            "-t",
            "k8s:multi",
        ])
        .arg(&ctx)
        .ok();
    let whole = Registry::start();
    let run = env
        .sealer()
        .args(["mirror", "-q", "k8s:multi", &whole.addr])
        .ok();
    assert!(!run.stderr.contains("left out"), "{}", run.stderr);
    assert_eq!(
        served_digest(&whole.image("tigera/operator:v1")),
        index_digest
    );
    assert_eq!(
        served_digest(&whole.image("library/nginx:1.25")),
        nginx_digest
    );
}

/// Digests of the operator index's entries, as the source serves it.
fn op_entries(src: &Registry) -> Vec<String> {
    let raw = crate::registry::raw_manifest(&src.image("tigera/operator:v1"));
    raw["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| m["digest"].as_str().expect("digest").to_string())
        .collect()
}

#[test]
fn mirror_of_an_image_without_cached_images_fails_in_one_line() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[("Kubefile", "FROM scratch\nCOPY . .\n"), ("a", "b")],
    );
    env.build("plain:v1", &ctx);
    let line = env
        .sealer()
        .args(["mirror", "plain:v1", "127.0.0.1:9/x"])
        .fails();
    assert_mentions(&line, &["plain:v1", "registry/"]);
}
