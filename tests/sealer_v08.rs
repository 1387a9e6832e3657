//! ClusterImages as sealer v0.8 pushes them (Docker schema 2 manifests under
//! a manifest list, gzip layers, a config that is sealer's own `v1.Image`
//! without diff_ids), written byte for byte into Debian's docker-registry:
//! pull, inspect (YAML and JSON), ls, cat, a FUSE mount and skopeo reading
//! the stored OCI image; a config whose layers disagree with the manifest
//! (or whose spec.layers is not a list of layers)
//! fails with one line and tags nothing.

use serde_json::{json, Value};

use crate::mount::mount;
use crate::registry::{jsonv, skopeo};
use crate::util::host_arch;
use crate::util::push::{descriptor, gzip, layer_tar, put_blob, put_under_list};
use crate::util::registry::Registry;
use crate::util::{assert_mentions, Env};

/// Docker schema 2 media types (distribution's `schema2` and
/// `manifestlist` packages, as vendored by sealer v0.8.6).
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// One entry of `spec.layers`: type, value and its tar (None: the
/// instruction made no layer, so sealer leaves its `id` empty).
struct Step {
    kind: &'static str,
    value: &'static str,
    tar: Option<Vec<u8>>,
}

/// A ClusterImage built by sealer v0.8: COPY of the rootfs, a RUN, a RUN
/// that changed nothing, CMD, and the BASE `rootfs cache` layer sealer adds
/// last (`build/buildimage/executor.go`, `common/common.go` at v0.8.6).
fn steps() -> Vec<Step> {
    vec![
        Step {
            kind: "COPY",
            value: ". .",
            tar: Some(layer_tar(&[
                (
                    "Kubefile",
                    "FROM scratch\nCOPY . .\nCMD kubectl apply -f manifests/dashboard.yaml\n",
                ),
                ("Metadata", "{\"version\":\"v1.19.8\",\"arch\":\"amd64\"}\n"),
                ("bin/", ""),
                ("bin/kubeadm", "#!/bin/sh\necho kubeadm\n"),
                ("etc/", ""),
                ("etc/daemon.json", "{\"max-concurrent-downloads\": 20}\n"),
                ("scripts/", ""),
                ("scripts/init.sh", "#!/bin/bash\necho init\n"),
            ])),
        },
        Step {
            kind: "RUN",
            value: "mkdir -p manifests && echo 'kind: Deployment' > manifests/dashboard.yaml",
            tar: Some(layer_tar(&[
                ("manifests/", ""),
                ("manifests/dashboard.yaml", "kind: Deployment\n"),
            ])),
        },
        Step {
            kind: "RUN",
            value: "echo nothing changes",
            tar: None,
        },
        Step {
            kind: "CMD",
            value: "kubectl apply -f manifests/dashboard.yaml",
            tar: None,
        },
        Step {
            kind: "BASE",
            value: "rootfs cache",
            tar: Some(layer_tar(&[
                ("registry/", ""),
                ("registry/docker/", ""),
                ("registry/docker/registry/", ""),
                ("registry/docker/registry/v2/", ""),
                ("registry/docker/registry/v2/README", "pause:3.2\n"),
            ])),
        },
    ]
}

fn s(v: &str) -> String {
    serde_json::to_string(v).expect("a JSON string")
}

/// The config sealer v0.8.6 pushes: `v1.Image` (`types/api/v1/image_types.go`)
/// wrapped by `addDockerManifestConfig` (`pkg/image/distributionutil/push.go`)
/// with architecture, os and one history entry per `spec.layers` entry;
/// fields in the order Go's encoding/json writes them.
fn v08_config(name: &str, steps: &[Step]) -> Vec<u8> {
    let layers: Vec<String> = steps
        .iter()
        .map(|st| match &st.tar {
            Some(t) => format!(
                r#"{{"id":"{}","type":"{}","value":{}}}"#,
                crate::util::push::digest(t),
                st.kind,
                s(st.value)
            ),
            None => format!(r#"{{"type":"{}","value":{}}}"#, st.kind, s(st.value)),
        })
        .collect();
    let history: Vec<String> = steps
        .iter()
        .map(|st| {
            let by = s(&format!("{} {}", st.kind, st.value));
            if st.tar.is_some() {
                format!(r#"{{"created_by":{by}}}"#)
            } else {
                format!(r#"{{"created_by":{by},"empty_layer":true}}"#)
            }
        })
        .collect();
    let arch = host_arch();
    let clusterfile =
        s("apiVersion: sealer.cloud/v2\nkind: Cluster\nmetadata:\n  name: my-cluster\n");
    format!(
        concat!(
            r#"{{"kind":"Image","apiVersion":"sealer.aliyun.com/v1","metadata":{{"name":{name},"creationTimestamp":null,"#,
            r#""annotations":{{"sea.aliyun.com/ClusterFile":{cf}}}}},"spec":{{"id":"52c3b10849c852649e66c2f7ed531f05bd97586ab61fa2cc82b4e79d80484b82","#,
            r#""layers":[{layers}],"sealer_version":"v0.8.6","platform":{{"architecture":"{arch}","os":"linux"}},"#,
            r#""image_config":{{"cmd":{{"parent":["kubectl apply -f etc/tigera-operator.yaml"],"current":["kubectl apply -f manifests/dashboard.yaml"]}},"#,
            r#""args":{{"current":{{"Version":"v1.19.8"}}}},"labels":{{"maintainer":"sealer"}}}}}},"status":{{}},"#,
            r#""architecture":"{arch}","os":"linux","history":[{history}]}}"#
        ),
        name = s(name),
        cf = clusterfile,
        layers = layers.join(","),
        arch = arch,
        history = history.join(",")
    )
    .into_bytes()
}

/// What a fixture push produced.
struct Pushed {
    /// `addr/repo:tag`.
    name: String,
    /// Digest of the config blob.
    config: String,
}

/// Pushes `steps` as sealer v0.8.6 does (`ImagePusher.Push`): gzip layer
/// blobs, the config, a schema 2 manifest listing `manifest_tars` (the
/// steps' tars, unless a test wants them to disagree), then a manifest
/// list with this machine's platform under the tag.
fn push_v08(reg: &Registry, repo: &str, steps: &[Step], manifest_tars: &[&Vec<u8>]) -> Pushed {
    let name = reg.image(&format!("{repo}:v1"));
    let config = v08_config(&name, steps);
    push_v08_config(reg, repo, &config, manifest_tars)
}

/// [`push_v08`] with the config given as bytes.
fn push_v08_config(
    reg: &Registry,
    repo: &str,
    config: &[u8],
    manifest_tars: &[&Vec<u8>],
) -> Pushed {
    let name = reg.image(&format!("{repo}:v1"));
    let mut layers = Vec::new();
    for tar in manifest_tars {
        let gz = gzip(tar);
        put_blob(&reg.addr, repo, &gz);
        layers.push(descriptor(LAYER, &gz));
    }
    let config_digest = put_blob(&reg.addr, repo, config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, config),
        "layers": layers,
    }))
    .expect("manifest JSON");
    put_under_list(&reg.addr, repo, "v1", (MANIFEST, &manifest), LIST);
    Pushed {
        name,
        config: config_digest,
    }
}

fn real_tars(steps: &[Step]) -> Vec<&Vec<u8>> {
    steps.iter().filter_map(|st| st.tar.as_ref()).collect()
}

#[test]
fn a_sealer_v08_image_pulls_inspects_lists_mounts_and_is_a_valid_oci_image() {
    let reg = Registry::start();
    let env = Env::new();
    let steps = steps();
    let tars = real_tars(&steps);
    let pushed = push_v08(&reg, "sealer/v08", &steps, &tars);
    env.sealer().args(["pull", &pushed.name]).ok();

    // inspect: sealer's layer types and values, our layer ids, CMD and ARGs
    // of the v1.Image.
    let spec = env.inspect(&pushed.name);
    let layers: Vec<(String, String, String)> = spec["spec"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            let f = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (f("id"), f("type"), f("value"))
        })
        .collect();
    let want: Vec<(String, String, String)> = steps
        .iter()
        .filter(|st| st.tar.is_some())
        .map(|st| {
            let tar = st.tar.as_ref().expect("a tar");
            (
                crate::util::push::digest(tar),
                st.kind.to_string(),
                st.value.to_string(),
            )
        })
        .collect();
    assert_eq!(layers, want);
    // inspect --remote: the same layers and config, read from the registry.
    let remote = jsonv(
        &env.run(&["inspect", "--remote", "--format", "json", &pushed.name]),
        "inspect --remote",
    );
    assert_eq!(
        remote["spec"]["layers"].as_array().map(Vec::len),
        Some(want.len())
    );
    for (i, (id, kind, value)) in want.iter().enumerate() {
        let l = &remote["spec"]["layers"][i];
        assert_eq!(
            (&l["id"], &l["type"], &l["value"]),
            (&json!(id), &json!(kind), &json!(value))
        );
    }
    assert_eq!(
        remote["spec"]["image_config"]["cmd"],
        spec["spec"]["image_config"]["cmd"]
    );
    let ic = &spec["spec"]["image_config"];
    assert_eq!(
        ic["cmd"],
        json!({"current": ["kubectl apply -f manifests/dashboard.yaml"], "parent": ["kubectl apply -f etc/tigera-operator.yaml"]})
    );
    assert_eq!(ic["args"]["current"], json!({"Version": "v1.19.8"}));
    assert_eq!(ic["labels"], json!({"maintainer": "sealer"}));
    assert_eq!(spec["spec"]["platform"]["architecture"], host_arch());
    assert_eq!(spec["spec"]["rootfs_metadata"]["version"], "v1.19.8");
    let yaml = env.run(&["inspect", &pushed.name]);
    assert_mentions(
        &yaml,
        &[
            "type: BASE",
            "value: rootfs cache",
            "type: RUN",
            "kind: Image",
        ],
    );

    // The stored config: sealer's fields kept, diff_ids added.
    let id = spec["spec"]["id"].as_str().expect("id");
    assert_ne!(id, pushed.config, "the stored config has diff_ids added");
    let stored: Value = jsonv(
        &std::fs::read_to_string(env.blob(id)).expect("the stored config"),
        "stored config",
    );
    assert_eq!(stored["kind"], "Image");
    assert_eq!(stored["spec"]["layers"].as_array().map(Vec::len), Some(5));
    let ids: Vec<&str> = want.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(stored["rootfs"]["diff_ids"], json!(ids));

    // ls, cat, mount.
    let top = env.run(&["ls", &pushed.name]);
    for entry in [
        "Kubefile",
        "Metadata",
        "bin",
        "etc",
        "manifests",
        "registry",
        "scripts",
    ] {
        assert!(top.lines().any(|l| l == entry), "{entry} in:\n{top}");
    }
    assert_eq!(
        env.run(&["cat", &pushed.name, "manifests/dashboard.yaml"]),
        "kind: Deployment\n"
    );
    {
        let m = mount(&env, &pushed.name, "mnt");
        assert_eq!(
            std::fs::read_to_string(m.dir.join("etc/daemon.json")).expect("daemon.json"),
            "{\"max-concurrent-downloads\": 20}\n"
        );
        assert_eq!(
            std::fs::read_to_string(m.dir.join("registry/docker/registry/v2/README"))
                .expect("README"),
            "pause:3.2\n"
        );
    }

    // skopeo reads the stored image as OCI: layers and diff_ids.
    let oci = format!("oci:{}:{}", env.root().display(), pushed.name);
    let seen = jsonv(&skopeo(&["inspect", &oci]), "skopeo inspect");
    assert_eq!(seen["Layers"], json!(ids));
    let config = jsonv(&skopeo(&["inspect", "--config", &oci]), "skopeo config");
    assert_eq!(config["rootfs"]["diff_ids"], json!(ids));

    // A second pull finds every layer by sealer's layer id and fetches none.
    let gets = reg.requests("GET", "/blobs/");
    env.sealer().args(["pull", &pushed.name]).ok();
    assert_eq!(
        reg.requests("GET", "/blobs/"),
        gets + 1,
        "only the config is fetched again"
    );
}

#[test]
fn a_sealer_v08_config_that_disagrees_with_its_manifest_or_is_garbled_fails_and_tags_nothing() {
    let reg = Registry::start();
    let env = Env::new();
    let steps = steps();
    let tars = real_tars(&steps);
    // More layers with content in spec.layers than blobs in the manifest.
    let fewer = push_v08(&reg, "sealer/fewer", &steps, &tars[..2]);
    // More blobs in the manifest than layers with content in spec.layers.
    let extra = layer_tar(&[("extra", "x\n")]);
    let mut more_tars = tars.clone();
    more_tars.push(&extra);
    let more = push_v08(&reg, "sealer/more", &steps, &more_tars);
    // spec.layers that is not a list of layers.
    let mut config: Value =
        serde_json::from_slice(&v08_config("x", &steps)).expect("the fixture config");
    config["spec"]["layers"] = json!("COPY . .");
    let config = serde_json::to_vec(&config).expect("config JSON");
    let garbled = push_v08_config(&reg, "sealer/garbled", &config, &tars);
    env.sealer().args(["images"]).ok();
    for (pushed, says) in [
        (&fewer, ["lists 3 layers with content", "has 2 layer blobs"]),
        (&more, ["lists 3 layers with content", "has 4 layer blobs"]),
        (&garbled, ["not a sealer v0.8 image config", "invalid type"]),
    ] {
        let before = env.snapshot();
        let line = env.sealer().args(["pull", &pushed.name]).fails();
        assert_mentions(&line, &[&pushed.name, &pushed.config, says[0], says[1]]);
        before.assert_same(&env.snapshot(), &line);
        let images = env.run(&["images"]);
        assert!(!images.contains("sealer/"), "nothing tagged:\n{images}");
    }
}
