//! The rest of sealer's image commands, with the real binary and Debian's
//! `docker-registry`: manifest lists (create, add, remove, inspect, push,
//! delete; a list read with `--platform` and pulled by another store),
//! `merge` (layer order, shared layers once, collisions, `--strict`, the
//! image extension merged, missing images pulled), `search` (tags newest
//! first, `_catalog`), `inspect --remote` (no layer fetched) and `version`.

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

use crate::mount::mount_with;
use crate::registry::jsonv;
use crate::util::http::HttpServer;
use crate::util::push::layer_tar;
use crate::util::registry::Registry;
use crate::util::{fails_cleanly, Env};

/// Stores an image of `arch` whose layers are `tars` (bottom first), with
/// config labels and env and manifest annotations; returns its layer digests.
fn image(
    env: &Env,
    name: &str,
    arch: &str,
    tars: &[Vec<u8>],
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
) -> Vec<String> {
    use sealer::image::oci::{Config, RootFs};
    let store = sealer::store::Store::open(&env.root()).expect("opening the store");
    let mut layers = Vec::new();
    for tar in tars {
        let i = store
            .ingest_layer(&tar[..], None)
            .expect("ingesting a layer");
        layers.push((i.digest, i.size));
    }
    let mut config = Config {
        architecture: arch.into(),
        os: "linux".into(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.0).collect(),
        },
        ..Config::default()
    };
    for (k, v) in labels {
        config.config.labels.insert(k.to_string(), v.to_string());
    }
    config.config.env.push(format!("FROM={name}"));
    let annotations: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    store
        .commit_image_annotated(&config, &layers, annotations, name)
        .unwrap_or_else(|e| panic!("committing {name}: {e}"));
    layers.iter().map(|l| l.0.to_string()).collect()
}

/// One image per architecture, `bin/tool` saying which.
fn per_arch_images(env: &Env) {
    for arch in ["amd64", "arm64"] {
        let tar = layer_tar(&[("bin/", ""), ("bin/tool", &format!("tool for {arch}\n"))]);
        image(env, &format!("app:{arch}"), arch, &[tar], &[], &[]);
    }
}

/// The manifest digest of a stored single-platform image.
fn digest_of(env: &Env, name: &str) -> String {
    env.inspect(name)["spec"]["digest"]
        .as_str()
        .expect("spec.digest")
        .to_string()
}

fn list(env: &Env, name: &str) -> Value {
    jsonv(&env.run(&["manifest", "inspect", name]), "manifest inspect")
}

fn platforms(index: &Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn manifest_lists_are_multi_platform_names() {
    let env = Env::new();
    per_arch_images(&env);
    env.run(&["manifest", "create", "mylist:v1"]);
    assert_eq!(list(&env, "mylist:v1")["manifests"], serde_json::json!([]));
    env.run(&["manifest", "add", "mylist:v1", "app:amd64", "app:arm64"]);
    let index = list(&env, "mylist:v1");
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        index["manifests"][1]["digest"],
        digest_of(&env, "app:arm64")
    );

    // Every reading command chooses from it.
    for arch in ["amd64", "arm64"] {
        let p = format!("linux/{arch}");
        let out = env.run(&["cat", "--platform", &p, "mylist:v1", "bin/tool"]);
        assert_eq!(out, format!("tool for {arch}\n"));
        assert!(env
            .run(&["ls", "--platform", &p, "mylist:v1", "bin"])
            .contains("tool"));
    }
    {
        let m = mount_with(&env, &["--platform", "linux/arm64", "mylist:v1"], "mnt");
        let got = fs::read_to_string(m.dir.join("bin/tool")).expect("bin/tool in the mount");
        assert_eq!(got, "tool for arm64\n");
    }

    // Bad input: one error line, the store unchanged.
    let arm = digest_of(&env, "app:arm64");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["manifest", "create", "mylist:v1"],
            &["mylist:v1", "already exists"],
        ),
        (
            &["manifest", "create", "app:amd64"],
            &["app:amd64", "an image"],
        ),
        (
            &["manifest", "add", "mylist:v1", "app:amd64"],
            &["already in manifest list"],
        ),
        (
            &["manifest", "add", "app:amd64", "app:arm64"],
            &["app:amd64", "is an image, not a manifest list"],
        ),
        (
            &["manifest", "add", "nolist:v1", "app:arm64"],
            &["nolist:v1", "not found"],
        ),
        (
            &["manifest", "add", "mylist:v1", "nothere:v9"],
            &["nothere:v9"],
        ),
        (
            &[
                "manifest",
                "remove",
                "mylist:v1",
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
            &["not in manifest list mylist:v1"],
        ),
        (
            &["manifest", "remove", "mylist:v1", "sha256:zz"],
            &["invalid instance"],
        ),
        (&["manifest", "inspect", "app:amd64"], &["is an image"]),
        (&["manifest", "delete", "app:amd64"], &["is an image"]),
    ];
    for (args, parts) in cases {
        fails_cleanly(&env, env.sealer().args(*args), parts);
    }

    // remove, then add back; -t creates a list.
    env.run(&["manifest", "remove", "mylist:v1", &arm]);
    assert_eq!(platforms(&list(&env, "mylist:v1")), ["linux/amd64"]);
    env.run(&["manifest", "add", "mylist:v1", "app:arm64"]);
    env.run(&["manifest", "add", "-t", "other:v1", "app:arm64"]);
    assert_eq!(platforms(&list(&env, "other:v1")), ["linux/arm64"]);
    // --all adds every image of a multi-platform name.
    env.run(&["manifest", "create", "copy:v1"]);
    env.run(&["manifest", "add", "--all", "copy:v1", "mylist:v1"]);
    assert_eq!(
        platforms(&list(&env, "copy:v1")),
        ["linux/amd64", "linux/arm64"]
    );

    // push: images by digest, then the index; another store pulls it.
    let reg = Registry::start();
    let dest = reg.image("library/mylist:v1");
    env.run(&["manifest", "push", "-q", "mylist:v1", &dest]);
    let other = Env::new();
    other.run(&["pull", "-q", "--platform", "linux/arm64", &dest]);
    assert_eq!(other.run(&["cat", &dest, "bin/tool"]), "tool for arm64\n");
    let all = Env::new();
    all.run(&["pull", "-q", "--all-platforms", &dest]);
    assert_eq!(
        all.run(&["cat", "--platform", "linux/amd64", &dest, "bin/tool"]),
        "tool for amd64\n"
    );
    env.run(&[
        "manifest",
        "push",
        "-q",
        "--format",
        "docker",
        "mylist:v1",
        &reg.image("library/mylist:docker"),
    ]);
    let docker = Env::new();
    docker.run(&[
        "pull",
        "-q",
        "--platform",
        "linux/arm64",
        &reg.image("library/mylist:docker"),
    ]);

    // delete: the list, not its images.
    env.run(&["manifest", "delete", "mylist:v1", "other:v1", "copy:v1"]);
    fails_cleanly(
        &env,
        env.sealer().args(["manifest", "inspect", "mylist:v1"]),
        &["not found"],
    );
    assert_eq!(
        env.run(&["cat", "app:arm64", "bin/tool"]),
        "tool for arm64\n"
    );
    env.run(&["manifest", "create", "empty:v1"]);
    fails_cleanly(
        &env,
        env.sealer().args([
            "manifest",
            "push",
            "empty:v1",
            &reg.image("library/empty:v1"),
        ]),
        &["empty"],
    );
}

const EXT_A: &str = r#"{"buildClient":{"sealerVersion":"v0.11.0","buildahVersion":""},"schemaVersion":"v1alpha1","type":"kube-installer","applications":[{"name":"calico","type":"helm","version":"v1"}],"env":{"A":"1","SHARED":"a"},"launch":{"app_names":["calico"]}}"#;
const EXT_B: &str = r#"{"buildClient":{"sealerVersion":"v0.11.0","buildahVersion":""},"schemaVersion":"v1alpha1","type":"app-installer","applications":[{"name":"mysql","type":"kube","files":["mysql.yaml"],"version":"v1"}],"env":{"B":"2","SHARED":"b"},"launch":{"app_names":["mysql"]}}"#;

/// Images a and b on one shared base layer; both have `etc/conf` (other
/// content: a collision) and `etc/same` (same content: none).
fn merge_images(env: &Env) -> (Vec<String>, Vec<String>) {
    let base = layer_tar(&[("etc/", ""), ("etc/base", "base\n")]);
    let la = layer_tar(&[
        ("etc/conf", "from a\n"),
        ("etc/same", "same\n"),
        ("a.txt", "a\n"),
    ]);
    let lb = layer_tar(&[
        ("etc/conf", "from b\n"),
        ("etc/same", "same\n"),
        ("b.txt", "b\n"),
    ]);
    let arch = sealer::image::oci::host_arch();
    let a = image(
        env,
        "a:v1",
        arch,
        &[base.clone(), la],
        &[("owner", "a"), ("only.a", "1")],
        &[
            ("sealer.image.extension", EXT_A),
            (
                "sealer.image.container.images",
                r#"[{"image":"docker.io/calico/node:v3","appName":"calico"}]"#,
            ),
        ],
    );
    let b = image(
        env,
        "b:v1",
        arch,
        &[base, lb],
        &[("owner", "b")],
        &[
            ("sealer.image.extension", EXT_B),
            (
                "sealer.image.container.images",
                r#"[{"image":"docker.io/library/mysql:8","appName":"mysql"}]"#,
            ),
        ],
    );
    (a, b)
}

#[test]
fn merge_joins_images_in_order() {
    let env = Env::new();
    let (a, b) = merge_images(&env);
    let run = env
        .sealer()
        .args(["merge", "a:v1", "b:v1", "-t", "ab:v1"])
        .ok();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(
        warnings,
        ["warning: etc/conf: b:v1 overrides a:v1"],
        "{}",
        run.stderr
    );
    assert_eq!(
        env.layer_ids("ab:v1"),
        [a[0].clone(), a[1].clone(), b[1].clone()]
    );
    assert_eq!(env.run(&["cat", "ab:v1", "etc/conf"]), "from b\n");
    assert_eq!(env.run(&["cat", "ab:v1", "a.txt"]), "a\n");
    let spec = env.inspect("ab:v1");
    let cfg = &spec["spec"]["image_config"];
    let labels = cfg["labels"].clone();
    assert_eq!(labels["owner"], "b", "{spec}");
    assert_eq!(labels["only.a"], "1", "{spec}");
    let ext = &spec["spec"]["imageExtension"];
    let apps: Vec<&str> = ext["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["calico", "mysql"], "{ext}");
    assert_eq!(
        ext["launch"]["app_names"],
        serde_json::json!(["calico", "mysql"])
    );
    assert_eq!(ext["type"], "kube-installer");
    assert_eq!(ext["env"]["SHARED"], "b");
    assert_eq!(ext["env"]["A"], "1");
    let images: Vec<&str> = spec["spec"]["containerImageList"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        ["docker.io/calico/node:v3", "docker.io/library/mysql:8"]
    );

    // Bad input.
    fails_cleanly(
        &env,
        env.sealer()
            .args(["merge", "a:v1", "b:v1", "-t", "strict:v1", "--strict"]),
        &["etc/conf", "collide"],
    );
    fails_cleanly(
        &env,
        env.sealer().args(["merge", "a:v1", "-t", "one:v1"]),
        &["at least two images"],
    );
    let other = if sealer::image::oci::host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    image(
        &env,
        "foreign:v1",
        other,
        &[layer_tar(&[("x", "x\n")])],
        &[],
        &[],
    );
    fails_cleanly(
        &env,
        env.sealer()
            .args(["merge", "a:v1", "foreign:v1", "-t", "mixed:v1"]),
        &["different platforms", "foreign:v1"],
    );

    // Missing images are pulled first.
    let reg = Registry::start();
    for n in ["a:v1", "b:v1"] {
        env.run(&["push", "-q", n, &reg.image(&format!("library/{n}"))]);
    }
    let fresh = Env::new();
    let (ra, rb) = (reg.image("library/a:v1"), reg.image("library/b:v1"));
    fresh
        .sealer()
        .args(["merge", "-q", &ra, &rb, "-t", "ab:v1"])
        .ok();
    assert_eq!(fresh.layer_ids("ab:v1"), env.layer_ids("ab:v1"));
}

#[test]
fn search_lists_tags_newest_first_and_the_catalog() {
    let env = Env::new();
    image(
        &env,
        "k8s:v1",
        sealer::image::oci::host_arch(),
        &[layer_tar(&[("f", "f\n")])],
        &[],
        &[],
    );
    let reg = Registry::start();
    for tag in ["v1.19.8", "latest", "v1.22.15", "v1.9.0", "v1.22.15-rc.1"] {
        env.run(&[
            "push",
            "-q",
            "k8s:v1",
            &reg.image(&format!("library/k8s:{tag}")),
        ]);
    }
    env.run(&["push", "-q", "k8s:v1", &reg.image("sealerio/calico:v3")]);
    let repo = reg.image("library/k8s");
    let out = env.run(&["search", &repo]);
    let tags: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        tags,
        ["v1.22.15", "v1.22.15-rc.1", "v1.19.8", "v1.9.0", "latest"],
        "{out}"
    );
    assert!(out.starts_with("IMAGE NAME"), "{out}");
    let json = jsonv(&env.run(&["search", "--format", "json", &repo]), "search");
    assert_eq!(json[0]["name"], repo);
    assert_eq!(json[0]["tags"][0], "v1.22.15");

    let catalog = jsonv(
        &env.run(&["search", "--format", "json", &format!("{}/", reg.addr)]),
        "catalog",
    );
    assert_eq!(
        catalog[0]["repositories"],
        serde_json::json!(["library/k8s", "sealerio/calico"])
    );
    assert!(env
        .run(&["search", &format!("{}/", reg.addr)])
        .contains(&format!("{}/sealerio/calico", reg.addr)));

    // A server without `_catalog`, a tagged name, a repository that is not there.
    let dir = env.path("static");
    fs::create_dir_all(dir.join("v2")).expect("static dir");
    let http = HttpServer::serve(&dir);
    let host = http.base.trim_start_matches("http://").to_string();
    fails_cleanly(
        &env,
        env.sealer().args(["search", &format!("{host}/")]),
        &["_catalog", "does not list"],
    );
    fails_cleanly(
        &env,
        env.sealer().args(["search", &format!("{repo}:v1")]),
        &["without tag"],
    );
    fails_cleanly(
        &env,
        env.sealer().args(["search", &reg.image("library/nothere")]),
        &["library/nothere"],
    );
}

#[test]
fn inspect_remote_fetches_manifest_and_config_only() {
    let env = Env::new();
    let big = "x".repeat(1 << 20);
    let tars = [
        layer_tar(&[("big", &big)]),
        layer_tar(&[("Metadata", "{}\n")]),
    ];
    image(
        &env,
        "k8s:v1",
        sealer::image::oci::host_arch(),
        &tars,
        &[("owner", "me")],
        &[("sealer.image.extension", EXT_A)],
    );
    let reg = Registry::start();
    let remote = reg.image("library/k8s:v1");
    env.run(&["push", "-q", "--compression", "none", "k8s:v1", &remote]);
    let before = reg.requests("GET", "/blobs/");
    let got = jsonv(
        &env.run(&["inspect", "--remote", "--format", "json", &remote]),
        "inspect --remote",
    );
    assert_eq!(
        reg.requests("GET", "/blobs/") - before,
        1,
        "only the config:\n{}",
        reg.log()
    );
    let local = env.inspect("k8s:v1");
    assert_eq!(got["spec"]["id"], local["spec"]["id"]);
    assert_eq!(got["spec"]["layers"].as_array().map(Vec::len), Some(2));
    for i in 0..2 {
        assert_eq!(
            got["spec"]["layers"][i]["id"],
            local["spec"]["layers"][i]["id"]
        );
    }
    assert_eq!(got["spec"]["image_config"]["labels"]["owner"], "me");
    assert_eq!(
        got["spec"]["imageExtension"]["applications"][0]["name"],
        "calico"
    );

    // An index: the asked platform's image, still no layer.
    per_arch_images(&env);
    env.run(&["manifest", "create", "l:v1"]);
    env.run(&["manifest", "add", "l:v1", "app:amd64", "app:arm64"]);
    let list = reg.image("library/l:v1");
    env.run(&["manifest", "push", "-q", "l:v1", &list]);
    let before = reg.requests("GET", "/blobs/");
    let arm = jsonv(
        &env.run(&[
            "inspect",
            "--remote",
            "--platform",
            "linux/arm64",
            "--format",
            "json",
            &list,
        ]),
        "arm64",
    );
    assert_eq!(arm["spec"]["platform"]["architecture"], "arm64");
    assert_eq!(arm["spec"]["id"], env.inspect("app:arm64")["spec"]["id"]);
    assert_eq!(reg.requests("GET", "/blobs/") - before, 1);
    fails_cleanly(
        &env,
        env.sealer()
            .args(["inspect", "--remote", "--platform", "linux/s390x", &list]),
        &["linux/s390x", "linux/amd64, linux/arm64"],
    );
    fails_cleanly(
        &env,
        env.sealer()
            .args(["inspect", "--remote", &reg.image("library/nothere:v1")]),
        &["nothere"],
    );
}

#[test]
fn version_prints_sealers_fields() {
    let env = Env::new();
    let v = jsonv(&env.run(&["version"]), "version");
    for field in [
        "gitVersion",
        "buildDate",
        "rustVersion",
        "compiler",
        "platform",
    ] {
        assert!(
            v[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} in {v}"
        );
    }
    assert_eq!(v["compiler"], "rustc");
    assert!(
        v["rustVersion"].as_str().unwrap().starts_with("rustc 1."),
        "{v}"
    );
    assert_eq!(
        v["platform"],
        format!("linux/{}", sealer::image::oci::host_arch())
    );
    let date = v["buildDate"].as_str().unwrap();
    assert!(
        date.len() == 20 && date.ends_with('Z') && &date[10..11] == "T",
        "{date}"
    );
    // Built from a git checkout (CI's is one): the commit it was built from.
    if let Some(commit) = v["gitCommit"].as_str() {
        assert!(
            commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
            "{v}"
        );
    }
    assert_eq!(env.run(&["version", "--short"]).trim(), v["gitVersion"]);
}
