//! Multi-platform ClusterImages: `build --platform a,b` makes one OCI index
//! whose images carry each platform's `${ARCH}` files and share the layers
//! that are the same; every reading command chooses a platform; the index is
//! read by skopeo and umoci, pushed and pulled (one platform or all) through
//! Debian's `docker-registry`, copied by `skopeo copy --all` with the same
//! digests, saved and loaded; `rmi`/`fsck` handle it; a base's platforms
//! and container images are chosen per platform; bad platforms fail with
//! one line naming the platform and the image, nothing tagged.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::image_cache::{layer_tar, noise, served_digest, Layout};
use crate::mount::mount_with;
use crate::registry::{jsonv, raw_manifest, skopeo};
use crate::util::registry::Registry;
use crate::util::{assert_mentions, fails_cleanly, host_arch, sha256_hex, tool, Env};

const BOTH: &str = "linux/amd64,linux/arm64";

/// The platform that is not this machine's, of amd64 and arm64.
fn other_arch() -> &'static str {
    if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    }
}

/// A context whose `bin/tool` differs per `${ARCH}`, with a shared `etc/`
/// and a RUN that records `$TARGETARCH`.
fn context(env: &Env) -> PathBuf {
    let common = String::from_utf8(noise(7, 200_000).iter().map(|b| b'a' + b % 26).collect())
        .expect("ascii");
    env.context(
        "ctx",
        &[
            (
                "Kubefile",
                "FROM scratch\nCOPY etc etc\nCOPY ${ARCH}/bin bin\nRUN echo $TARGETARCH > etc/arch\n",
            ),
            ("etc/common.conf", &common),
            ("amd64/bin/tool", "tool for amd64\n"),
            ("arm64/bin/tool", "tool for arm64\n"),
        ],
    )
}

/// The index `index.json` tags `name` with, read from the store.
fn stored_index(env: &Env, name: &str) -> Value {
    let top = jsonv(
        &fs::read_to_string(env.root().join("index.json")).expect("index.json"),
        "index.json",
    );
    let desc = top["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in index.json: {top}"))
        .clone();
    assert_eq!(
        desc["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{name} must name an index"
    );
    jsonv(
        &fs::read_to_string(env.blob(desc["digest"].as_str().expect("digest"))).expect("index"),
        "the index blob",
    )
}

/// (architecture, image id) of every row of `sealer images --format json`.
fn image_rows(env: &Env) -> Vec<(String, String, String)> {
    let rows = jsonv(&env.run(&["images", "--format", "json"]), "images");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["arch"].as_str().expect("arch").to_string(),
                r["id"].as_str().expect("id").to_string(),
            )
        })
        .collect()
}

/// The layer ids of an `inspect` spec, bottom first.
fn layer_ids(spec: &Value) -> Vec<String> {
    spec["spec"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["id"].as_str().map(String::from))
        .collect()
}

/// `sealer inspect --platform PLATFORM IMAGE`, parsed.
fn inspect_platform(env: &Env, image: &str, platform: &str) -> Value {
    let out = env.run(&["inspect", "--format", "json", "--platform", platform, image]);
    jsonv(&out, "inspect")
}

#[test]
fn a_two_platform_build_is_one_index_with_each_platforms_files_and_shared_layers_stored_once() {
    let env = Env::new();
    let ctx = context(&env);
    let built = env
        .sealer()
        .args(["build", "--platform", BOTH, "-t", "k8s:v1"])
        .arg(&ctx)
        .ok();
    // RUN for the foreign platform is announced once, and runs.
    assert_eq!(
        built.stderr.matches("not emulated").count(),
        1,
        "{}",
        built.stderr
    );
    assert_mentions(&built.stderr, &["same as another platform's layer"]);

    let index = stored_index(&env, "k8s:v1");
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            assert_eq!(m["platform"]["os"], "linux");
            m["platform"]["architecture"].as_str().expect("arch").into()
        })
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    let rows = image_rows(&env);
    let archs: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(archs, ["amd64", "arm64"], "one row per platform");

    // Each platform reads its own files; the default is this machine's.
    for arch in ["amd64", "arm64"] {
        let p = format!("linux/{arch}");
        let tool_file = env.run(&["cat", "--platform", &p, "k8s:v1", "bin/tool"]);
        assert_eq!(tool_file, format!("tool for {arch}\n"));
        let recorded = env.run(&["cat", "--platform", &p, "k8s:v1", "etc/arch"]);
        assert_eq!(recorded.trim(), arch, "RUN saw $TARGETARCH");
        let spec = inspect_platform(&env, "k8s:v1", &p);
        assert_eq!(spec["spec"]["platform"]["architecture"], arch);
        let ls = env.run(&["ls", "--platform", &p, "k8s:v1", "bin"]);
        assert_eq!(ls.trim(), "tool");
    }
    let host_tool = env.run(&["cat", "k8s:v1", "bin/tool"]);
    assert_eq!(host_tool, format!("tool for {}\n", host_arch()));

    // The shared `etc` layer is one blob, the arch layers two.
    let amd = inspect_platform(&env, "k8s:v1", "linux/amd64");
    let arm = inspect_platform(&env, "k8s:v1", "linux/arm64");
    let (amd_layers, arm_layers) = (layer_ids(&amd), layer_ids(&arm));
    assert_eq!(amd_layers[0], arm_layers[0], "COPY etc is the same layer");
    assert_ne!(amd_layers[1], arm_layers[1], "COPY ${{ARCH}}/bin differs");
    assert_ne!(amd["spec"]["id"], arm["spec"]["id"]);

    // skopeo reads the index and chooses each platform's config.
    let oci = format!("oci:{}:k8s:v1", env.root().display());
    let raw = jsonv(&skopeo(&["inspect", "--raw", &oci]), "skopeo inspect --raw");
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    for (arch, spec) in [("amd64", &amd), ("arm64", &arm)] {
        let config = skopeo(&[
            "--override-arch",
            arch,
            "inspect",
            "--config",
            "--raw",
            &oci,
        ]);
        assert_eq!(
            jsonv(&config, "skopeo inspect --config")["architecture"],
            arch
        );
        assert_eq!(
            format!("sha256:{}", sha256_hex(config.as_bytes())),
            spec["spec"]["id"].as_str().expect("id")
        );
    }
    let listed = tool(
        "umoci",
        &["ls", "--layout", &env.root().to_string_lossy()],
        "umoci",
    );
    assert_mentions(&listed, &["k8s:v1"]);

    // A mount of the other platform serves its files.
    let other = format!("linux/{}", other_arch());
    let mnt = mount_with(&env, &["--platform", &other, "k8s:v1"], "mnt");
    assert_eq!(
        fs::read_to_string(mnt.dir.join("bin/tool")).expect("bin/tool"),
        format!("tool for {}\n", other_arch())
    );
    drop(mnt);

    // A platform the index lacks fails naming it, the image and what it has.
    fails_cleanly(
        &env,
        env.sealer()
            .args(["ls", "--platform", "linux/s390x", "k8s:v1"]),
        &["linux/s390x", "k8s:v1", "linux/amd64, linux/arm64"],
    );
}

#[test]
fn bad_platforms_fail_with_one_line_naming_platform_and_image_and_tag_nothing() {
    let env = Env::new();
    let ctx = context(&env);
    env.run(&["images"]);
    for (bad, named) in [
        ("linux/amd65", "linux/amd65"),
        ("linux", "linux"),
        ("linux/amd64,linux/x86_64", "linux/amd64"),
    ] {
        fails_cleanly(
            &env,
            env.sealer()
                .args(["build", "--platform", bad, "-t", "k8s:v1"])
                .arg(&ctx),
            &[named, "k8s:v1"],
        );
    }
    // A single-platform base asked for another platform: the other
    // platform is refused after this machine's was built, and nothing of
    // either stays.
    env.sealer().args(["build", "-t", "base:v1"]).arg(&ctx).ok();
    let over = env.context(
        "over",
        &[("Kubefile", "FROM base:v1\nCOPY x etc/\n"), ("x", "x\n")],
    );
    let other = format!("linux/{}", other_arch());
    let line = fails_cleanly(
        &env,
        env.sealer()
            .args(["build", "--platform", BOTH, "-t", "mine:v1"])
            .arg(&over),
        &[&other, "base:v1"],
    );
    assert!(!line.contains("panicked"), "{line}");
    fails_cleanly(
        &env,
        env.sealer()
            .args(["inspect", "--platform", &other, "base:v1"]),
        &[&other, "base:v1", &format!("linux/{}", host_arch())],
    );
    fails_cleanly(
        &env,
        env.sealer()
            .args(["cat", "--platform", "linux/arm/v3", "base:v1", "etc/arch"]),
        &["linux/arm/v3"],
    );
}

/// A two-platform `k8s:v1` built in a fresh world.
fn two_platform_world() -> Env {
    let env = Env::new();
    let ctx = context(&env);
    env.sealer()
        .args(["build", "--platform", BOTH, "-t", "k8s:v1"])
        .arg(&ctx)
        .ok();
    env
}

#[test]
fn an_index_round_trips_through_a_registry_skopeo_copy_all_and_an_archive() {
    let reg = Registry::start();
    let env = two_platform_world();
    let ours = image_rows(&env);
    let target = reg.image("library/k8s:v1");
    let pushed = env.run(&["push", "k8s:v1", &target]);
    let digest = pushed
        .trim()
        .rsplit('@')
        .next()
        .expect("digest")
        .to_string();
    assert_eq!(served_digest(&target), digest, "the index digest we print");
    let raw = raw_manifest(&target);
    assert_eq!(raw["manifests"].as_array().expect("manifests").len(), 2);
    // Each image carries sealer's extension, as sealer v0.11 pushes it.
    let child = raw["manifests"][0]["digest"].as_str().expect("digest");
    let child = raw_manifest(&format!("{}@{child}", reg.image("library/k8s")));
    assert!(
        child["annotations"]["sealer.image.extension"].is_string(),
        "{child}"
    );
    // A second push uploads nothing.
    let again = env.sealer().args(["push", "k8s:v1", &target]).ok();
    assert_mentions(&again.stderr, &["0 blobs uploaded"]);

    // skopeo copy --all keeps every digest.
    let copy = reg.image("library/k8s:copy");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{target}"),
        &format!("docker://{copy}"),
    ]);
    assert_eq!(served_digest(&copy), digest);

    // Pull every platform: the same image ids, under an index.
    let all = Env::new();
    all.run(&["pull", "--all-platforms", &target]);
    let pulled: Vec<(String, String)> = image_rows(&all)
        .into_iter()
        .map(|(_, arch, id)| (arch, id))
        .collect();
    let built: Vec<(String, String)> = ours
        .iter()
        .map(|(_, a, i)| (a.clone(), i.clone()))
        .collect();
    assert_eq!(pulled, built);
    stored_index(&all, &target);
    // Pull one platform: that image alone.
    let one = Env::new();
    one.run(&["pull", "--platform", "linux/arm64", &target]);
    let rows = image_rows(&one);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].1.as_str(), &rows[0].2), ("arm64", &built[1].1));
    fails_cleanly(
        &one,
        one.sealer()
            .args(["pull", "--platform", "linux/s390x", &target]),
        &["linux/s390x", "linux/amd64, linux/arm64"],
    );

    // save/load keep the index.
    let tar = env.path("k8s.tar");
    env.run(&["save", "-o", &tar.to_string_lossy(), "k8s:v1"]);
    let archived = jsonv(
        &skopeo(&[
            "inspect",
            "--raw",
            &format!("oci-archive:{}:k8s:v1", tar.display()),
        ]),
        "archived",
    );
    assert_eq!(
        archived["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let loaded = Env::new();
    loaded.run(&["load", "-i", &tar.to_string_lossy()]);
    let rows: Vec<(String, String)> = image_rows(&loaded)
        .into_iter()
        .map(|(_, a, i)| (a, i))
        .collect();
    assert_eq!(rows, built);
    stored_index(&loaded, "k8s:v1");
    assert_mentions(&loaded.run(&["fsck"]), &["no problems"]);

    // A tag names the whole index; removing one name keeps the other's.
    loaded.run(&["tag", "k8s:v1", "k8s:v2"]);
    stored_index(&loaded, "k8s:v2");
    loaded.run(&["rmi", "k8s:v1"]);
    assert_eq!(
        loaded.run(&["cat", "--platform", "linux/arm64", "k8s:v2", "bin/tool"]),
        "tool for arm64\n"
    );

    // fsck names the platform whose layer is gone; rmi frees everything.
    let arm = inspect_platform(&loaded, "k8s:v2", "linux/arm64");
    let arm_bin = arm["spec"]["layers"][1]["id"]
        .as_str()
        .expect("layer")
        .to_string();
    fs::remove_file(loaded.blob(&arm_bin)).expect("removing a layer");
    let checked = loaded.sealer().arg("fsck").output();
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    assert_mentions(
        &format!("{}{}", checked.stdout, checked.stderr),
        &["k8s:v2", "linux/arm64", &arm_bin],
    );
    loaded.run(&["rmi", "k8s:v2"]);
    let left: Vec<_> = fs::read_dir(loaded.root().join("blobs/sha256"))
        .expect("blobs")
        .collect();
    assert!(left.is_empty(), "rmi of an index left {} blobs", left.len());
}

#[test]
fn from_a_multi_platform_base_each_platform_takes_its_base_and_its_container_images() {
    // Container images: an operator index of both platforms.
    let src_reg = Registry::start();
    let src = Env::new();
    let mut l = Layout::new(src.path("layout"));
    let amd = l.image("amd64", &[layer_tar(&[("operator", noise(11, 40_000))])]);
    let arm = l.image("arm64", &[layer_tar(&[("operator", noise(12, 40_000))])]);
    let index = l.index(&[(amd, "amd64"), (arm, "arm64")]);
    l.tag(&index, "operator");
    let operator = src_reg.image("tigera/operator:v1");
    l.push("operator", &operator);

    let env = two_platform_world();
    let list = format!("{operator}\n");
    let over = env.context(
        "over",
        &[
            (
                "Kubefile",
                "FROM k8s:v1\nCOPY daemon.json etc/\nCOPY manifests manifests\n",
            ),
            ("daemon.json", "{}\n"),
            ("manifests/imageList", &list),
        ],
    );
    let built = env
        .sealer()
        .args(["build", "--platform", BOTH, "-t", "mine:v1"])
        .arg(&over)
        .ok();
    assert_mentions(&built.stderr, &["CACHE 1 container images for linux/arm64"]);
    // What the source registry serves per platform: (manifest, layer).
    let mut served = std::collections::BTreeMap::new();
    for m in raw_manifest(&operator)["manifests"]
        .as_array()
        .expect("an index")
    {
        let digest = m["digest"].as_str().expect("digest").to_string();
        let child = raw_manifest(&format!("{}@{digest}", src_reg.image("tigera/operator")));
        let layer = child["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_string();
        let arch = m["platform"]["architecture"]
            .as_str()
            .expect("arch")
            .to_string();
        served.insert(arch, (digest, layer));
    }
    for arch in ["amd64", "arm64"] {
        let p = format!("linux/{arch}");
        let base = inspect_platform(&env, "k8s:v1", &p);
        let mine = inspect_platform(&env, "mine:v1", &p);
        let (base_layers, my_layers) = (layer_ids(&base), layer_ids(&mine));
        assert_eq!(
            &my_layers[..base_layers.len()],
            &base_layers[..],
            "{p}: built on its own base"
        );
        assert_eq!(
            env.run(&["cat", "--platform", &p, "mine:v1", "etc/daemon.json"]),
            "{}\n"
        );
        // registry/ holds the operator's manifest and layer of this
        // platform, not the other's.
        let blob = |digest: &str| {
            let hex = digest.trim_start_matches("sha256:");
            format!(
                "registry/docker/registry/v2/blobs/sha256/{}/{hex}/data",
                &hex[..2]
            )
        };
        let has = |path: &str| {
            env.sealer()
                .args(["cat", "--platform", &p, "mine:v1", path])
                .output()
                .code
                == Some(0)
        };
        let other = if arch == "amd64" { "arm64" } else { "amd64" };
        let (mine, theirs) = (&served[arch], &served[other]);
        assert!(has(&blob(&mine.0)), "{p}: its manifest");
        assert!(has(&blob(&mine.1)), "{p}: its layer");
        assert!(!has(&blob(&theirs.0)), "{p}: not the other's manifest");
        assert!(!has(&blob(&theirs.1)), "{p}: not the other's layer");
    }
}

#[test]
fn list_images_lists_each_platforms_images_with_its_platform() {
    let env = Env::new();
    let ctx = env.context(
        "lists",
        &[
            (
                "Kubefile",
                "FROM scratch\nCOPY ${ARCH}/imageList manifests/\n",
            ),
            ("amd64/imageList", "busybox:1\nnginx:1.25-amd64\n"),
            ("arm64/imageList", "busybox:1\nredis:7-arm64\n"),
        ],
    );
    let list = |args: &[&str]| {
        env.sealer()
            .args(["build", "--list-images"])
            .args(args)
            .arg(&ctx)
            .ok()
            .stdout
    };
    env.run(&["images"]);
    let before = env.snapshot();
    let lines: Vec<String> = list(&["--platform", BOTH])
        .lines()
        .map(str::to_string)
        .collect();
    let row = |image: &str, line: usize, platform: &str| {
        format!("docker.io/library/{image}\tmanifests/imageList:{line}\t{platform}")
    };
    assert_eq!(
        lines,
        [
            row("busybox:1", 1, "linux/amd64"),
            row("nginx:1.25-amd64", 2, "linux/amd64"),
            row("busybox:1", 1, "linux/arm64"),
            row("redis:7-arm64", 2, "linux/arm64"),
        ]
    );
    // One platform: two columns, as before.
    let arm = format!("linux/{}", other_arch());
    let one = list(&["--platform", &arm]);
    let wanted_arch = if other_arch() == "arm64" {
        "redis:7-arm64"
    } else {
        "nginx:1.25-amd64"
    };
    assert_eq!(
        one,
        format!(
            "docker.io/library/busybox:1\tmanifests/imageList:1\n\
             docker.io/library/{wanted_arch}\tmanifests/imageList:2\n"
        )
    );
    // JSON: every image with its platform, the platforms in the order given.
    let json: Value = serde_json::from_str(&list(&["--platform", BOTH, "--format", "json"]))
        .expect("JSON of --list-images");
    let got: Vec<(&str, &str)> = json
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| {
            (
                i["platform"].as_str().expect("platform"),
                i["image"].as_str().expect("image"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("linux/amd64", "docker.io/library/busybox:1"),
            ("linux/amd64", "docker.io/library/nginx:1.25-amd64"),
            ("linux/arm64", "docker.io/library/busybox:1"),
            ("linux/arm64", "docker.io/library/redis:7-arm64"),
        ]
    );
    // Without --platform: this machine's, named in JSON.
    let host: Value =
        serde_json::from_str(&list(&["--format", "json"])).expect("JSON of --list-images");
    assert_eq!(host[0]["platform"], format!("linux/{}", host_arch()));
    before.assert_same(&env.snapshot(), "the store after --list-images");
}
