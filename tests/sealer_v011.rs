//! ClusterImages as sealer v0.9-v0.11 pushes them (buildah OCI images with
//! the `sealer.image.extension` and `sealer.image.container.images`
//! manifest annotations and buildah's history), written byte for byte into
//! Debian's docker-registry: pull keeps the annotations, inspect shows the
//! extension and the layer types read from the history, ls, cat, a FUSE
//! mount and skopeo read it; an unreadable extension is left out of inspect
//! with a warning.

use serde_json::{json, Value};

use crate::mount::mount;
use crate::registry::{jsonv, skopeo};
use crate::util::host_arch;
use crate::util::push::{descriptor, digest, gzip, layer_tar, put_blob, put_under_list};
use crate::util::registry::Registry;
use crate::util::{assert_mentions, Env};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One history entry: buildah's `created_by` and the layer it made.
struct Step {
    created_by: String,
    tar: Option<Vec<u8>>,
}

/// The steps buildah records for this Kubefile, as sealer v0.11.0 turns it
/// into a Dockerfile (`build/kubefile/parser/kubefile.go`: APP and CNI
/// become a COPY into `application/apps/<name>/`
/// (`app_handler.go`, `pkg/rootfs/v1/manager.go`), CNI adds a LABEL) and
/// buildah names them (`imagebuildah/stage_executor.go` getCreatedBy,
/// `pkg/imageengine/buildah/copy.go`); the last layer is the working
/// container committed after the container images were saved into
/// `registry/` (`cmd/sealer/cmd/image/build.go`), which buildah records
/// as `/bin/sh`:
///
/// ```text
/// FROM scratch
/// COPY . .
/// APP nginx local://nginx.yaml
/// CNI calico local://calico.yaml
/// RUN echo ok > etc/ok          (with ARCH as a build arg)
/// LAUNCH ["nginx"]
/// ```
fn steps() -> Vec<Step> {
    let nop = |s: &str| format!("/bin/sh -c #(nop) {s}");
    vec![
        Step {
            created_by: nop("COPY dir:2127a0f14734aff8fb3128a35824dcbb01dd2d0f8295e55e3ea0ab299daef971 in . "),
            tar: Some(layer_tar(&[
                ("Kubefile", "FROM scratch\nCOPY . .\nAPP nginx local://nginx.yaml\n"),
                ("Metadata", "{\"version\":\"v1.22.15\",\"arch\":\"amd64\"}\n"),
                ("etc/", ""),
                ("etc/kubeadm.yml", "kind: ClusterConfiguration\n"),
            ])),
        },
        Step {
            created_by: nop("COPY file:b48c5033638953a52b8c36a41734d2e862787520a3b372e4ef1161d491c7221f in application/apps/nginx/ "),
            tar: Some(layer_tar(&[
                ("application/", ""),
                ("application/apps/", ""),
                ("application/apps/nginx/", ""),
                ("application/apps/nginx/nginx.yaml", "kind: Deployment\nimage: nginx:1.25\n"),
            ])),
        },
        Step {
            created_by: nop("COPY file:0c3f4b6d2a7e8f9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182 in application/apps/calico/ "),
            tar: Some(layer_tar(&[
                ("application/", ""),
                ("application/apps/", ""),
                ("application/apps/calico/", ""),
                ("application/apps/calico/calico.yaml", "kind: DaemonSet\n"),
            ])),
        },
        Step {
            created_by: nop("LABEL cluster.alpha.sealer.io/kube-cni-calico=\"true\""),
            tar: None,
        },
        Step {
            created_by: format!("|1 ARCH={} /bin/sh -c echo ok > etc/ok", host_arch()),
            tar: Some(layer_tar(&[("etc/", ""), ("etc/ok", "ok\n")])),
        },
        Step {
            created_by: "/bin/sh".into(),
            tar: Some(layer_tar(&[
                ("registry/", ""),
                ("registry/docker/", ""),
                ("registry/docker/registry/", ""),
                ("registry/docker/registry/v2/", ""),
                ("registry/docker/registry/v2/README", "nginx:1.25\n"),
            ])),
        },
    ]
}

/// The annotation `sealer.image.extension` as sealer v0.11.0 marshals its
/// `ImageExtension` (`pkg/define/image/v1/sealer_image.go`).
fn extension() -> String {
    json!({
        "buildClient": {"sealerVersion": "v0.11.0", "buildahVersion": "1.27.1"},
        "schemaVersion": "v1alpha1",
        "type": "kube-installer",
        "applications": [
            {"name": "nginx", "type": "kube", "files": ["nginx.yaml"], "version": "v1"},
            {"name": "calico", "type": "kube", "files": ["calico.yaml"], "version": "v1",
             "cmds": ["kubectl apply -f application/apps/calico/calico.yaml"]}
        ],
        "env": {"PodCIDR": "100.64.0.0/10"},
        "launch": {"app_names": ["nginx"]}
    })
    .to_string()
}

/// `sealer.image.container.images` (`ContainerImage` of the same file).
fn container_images() -> String {
    json!([{"image": "docker.io/library/nginx:1.25", "appName": "nginx",
            "platform": {"architecture": host_arch(), "os": "linux"}}])
    .to_string()
}

/// Pushes the image as `sealer push` of v0.11 leaves it in a registry: gzip
/// OCI layers, buildah's OCI config, an OCI manifest carrying the
/// annotations, an index with this machine's platform under `repo:v1`.
/// Returns `addr/repo:v1` and the layers' diff_ids.
fn push_v011(reg: &Registry, repo: &str, annotations: &Value) -> (String, Vec<String>) {
    let steps = steps();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for tar in steps.iter().filter_map(|s| s.tar.as_ref()) {
        let gz = gzip(tar);
        put_blob(&reg.addr, repo, &gz);
        layers.push(descriptor(LAYER, &gz));
        diff_ids.push(digest(tar));
    }
    let created = "2023-03-01T08:00:00.123456789Z";
    let history: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut h = json!({"created": created, "created_by": s.created_by});
            if s.tar.is_none() {
                h["empty_layer"] = json!(true);
            }
            h
        })
        .collect();
    let config = serde_json::to_vec(&json!({
        "created": created,
        "architecture": host_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": {
                "cluster.alpha.sealer.io/kube-cni-calico": "true",
                "io.buildah.version": "1.27.1",
                "io.sealer.version": "v0.11.0"
            }
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .expect("config JSON");
    put_blob(&reg.addr, repo, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, &config),
        "layers": layers,
        "annotations": annotations,
    }))
    .expect("manifest JSON");
    put_under_list(&reg.addr, repo, "v1", (MANIFEST, &manifest), INDEX);
    (reg.image(&format!("{repo}:v1")), diff_ids)
}

fn annotations() -> Value {
    json!({
        "org.opencontainers.image.base.digest": "",
        "sealer.image.extension": extension(),
        "sealer.image.container.images": container_images(),
    })
}

#[test]
fn a_sealer_v011_image_shows_its_extension_and_layer_types_and_keeps_its_annotations() {
    let reg = Registry::start();
    let env = Env::new();
    let (name, diff_ids) = push_v011(&reg, "sealer/v011", &annotations());
    env.sealer().args(["pull", &name]).ok();

    let spec = env.inspect(&name);
    let layers: Vec<(String, String, String)> = spec["spec"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            let f = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (f("id"), f("type"), f("value"))
        })
        .collect();
    let want = [
        (
            "COPY",
            "dir:2127a0f14734aff8fb3128a35824dcbb01dd2d0f8295e55e3ea0ab299daef971 .",
        ),
        (
            "APP",
            "nginx file:b48c5033638953a52b8c36a41734d2e862787520a3b372e4ef1161d491c7221f",
        ),
        (
            "CNI",
            "calico file:0c3f4b6d2a7e8f9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182",
        ),
        ("RUN", "echo ok > etc/ok"),
        ("COMMIT", "/bin/sh"),
    ];
    let want: Vec<(String, String, String)> = diff_ids
        .iter()
        .zip(want)
        .map(|(id, (k, v))| (id.clone(), k.to_string(), v.to_string()))
        .collect();
    assert_eq!(layers, want);
    let ext = &spec["spec"]["imageExtension"];
    let pushed: Value = serde_json::from_str(&extension()).expect("extension JSON");
    assert_eq!(ext, &pushed, "the extension as sealer wrote it");
    assert_eq!(
        spec["spec"]["containerImageList"][0]["image"],
        "docker.io/library/nginx:1.25"
    );
    assert_eq!(spec["spec"]["rootfs_metadata"]["version"], "v1.22.15");
    let yaml = env.run(&["inspect", &name]);
    assert_mentions(
        &yaml,
        &[
            "imageExtension:",
            "type: kube-installer",
            "app_names:",
            "PodCIDR: 100.64.0.0/10",
            "type: CNI",
        ],
    );

    // The stored manifest keeps the source's annotations.
    let oci = format!("oci:{}:{}", env.root().display(), name);
    let raw = jsonv(&skopeo(&["inspect", "--raw", &oci]), "stored manifest");
    for (k, v) in annotations().as_object().expect("annotations") {
        assert_eq!(&raw["annotations"][k], v, "annotation {k}");
    }
    let seen = jsonv(&skopeo(&["inspect", &oci]), "skopeo inspect");
    assert_eq!(seen["Layers"], json!(diff_ids));

    assert_eq!(
        env.run(&["cat", &name, "application/apps/nginx/nginx.yaml"]),
        "kind: Deployment\nimage: nginx:1.25\n"
    );
    let apps = env.run(&["ls", &name, "application/apps"]);
    assert!(
        apps.lines().any(|l| l == "calico") && apps.lines().any(|l| l == "nginx"),
        "{apps}"
    );
    let m = mount(&env, &name, "mnt");
    assert_eq!(
        std::fs::read_to_string(m.dir.join("etc/ok")).expect("etc/ok"),
        "ok\n"
    );
}

#[test]
fn an_unreadable_extension_is_left_out_of_inspect_with_a_warning() {
    let reg = Registry::start();
    let env = Env::new();
    let mut bad = annotations();
    bad["sealer.image.extension"] = json!("{\"type\": [not json");
    let (name, _) = push_v011(&reg, "sealer/badext", &bad);
    env.sealer().args(["pull", &name]).ok();
    let run = env
        .sealer()
        .args(["inspect", "--format", "json", &name])
        .ok();
    let spec = jsonv(&run.stdout, "inspect");
    assert!(spec["spec"].get("imageExtension").is_none(), "{spec}");
    assert_eq!(spec["spec"]["layers"][1]["type"], "APP");
    assert_mentions(&run.stderr, &["sealer.image.extension"]);
}
