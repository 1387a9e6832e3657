//! Kubefiles as sealer v0.11 reads them (its `build/kubefile/parser/` and
//! docs): APP with type detection, APPCMDS, APPENV, CNI, LAUNCH, CMDS,
//! KUBEVERSION, ENV, `${ARCH}`, FROM --platform, and http(s) sources served
//! by `python3 -m http.server`; the image extension annotation sealer's
//! `sealer run` reads; the rules it enforces, each failing with one line.

use std::fs;
use std::net::TcpListener;

use serde_json::{json, Value};

use crate::util::host_arch;
use crate::util::http::HttpServer;
use crate::util::{fails_cleanly, sha256_hex, Env};

/// The stored manifest of `image`.
fn manifest(env: &Env, image: &str) -> Value {
    let spec = env.inspect(image);
    let digest = spec["spec"]["digest"].as_str().expect("digest");
    serde_json::from_slice(&fs::read(env.blob(digest)).expect("manifest")).expect("manifest JSON")
}

/// The `sealer.image.extension` annotation of `image`.
fn extension(env: &Env, image: &str) -> Value {
    let m = manifest(env, image);
    let text = m["annotations"]["sealer.image.extension"]
        .as_str()
        .expect("the sealer.image.extension annotation");
    serde_json::from_str(text).expect("extension JSON")
}

fn app<'a>(ext: &'a Value, name: &str) -> &'a Value {
    ext["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no application {name} in {ext}"))
}

/// The Kubefile of sealer's docs for an app image, with every kind of APP.
const KUBEFILE: &str = r#"FROM scratch
KUBEVERSION v1.22.15
ENV PodCIDR=100.64.0.0/10 SvcCIDR=10.96.0.0/16
COPY ${ARCH}/bin bin
APP nginx local://nginx.yaml
APP dashboard local://dashboard/
APP chart local://mychart
APP install local://install.sh
APP tool local://tool.bin
APPCMDS tool ["./tool.bin", "--install"]
APPENV nginx replicas=3 port=80
CNI calico local://calico.yaml
LAUNCH ["calico", "nginx", "chart"]
"#;

fn app_context(env: &Env) -> std::path::PathBuf {
    let arch_bin = format!("{}/bin/kubectl", host_arch());
    env.context(
        "apps",
        &[
            ("Kubefile", KUBEFILE),
            (&arch_bin, "kubectl\n"),
            ("nginx.yaml", "kind: Deployment\n"),
            ("dashboard/a.yaml", "kind: Service\n"),
            ("dashboard/sub/b.yml", "kind: Deployment\n"),
            (
                "mychart/Chart.yaml",
                "apiVersion: v2\nname: mychart\nversion: 0.1.0\n",
            ),
            ("mychart/values.yaml", "replicas: 1\n"),
            ("mychart/templates/d.yaml", "kind: Deployment\n"),
            ("install.sh", "echo install\n"),
            ("tool.bin", "binary\n"),
            ("calico.yaml", "kind: DaemonSet\n"),
        ],
    )
}

#[test]
fn applications_launch_env_and_labels_become_the_image_extension() {
    let env = Env::new();
    env.build("apps:v1", &app_context(&env));
    let ext = extension(&env, "apps:v1");
    assert_eq!(ext["schemaVersion"], "v1alpha1");
    assert_eq!(ext["type"], "kube-installer");
    assert!(ext["buildClient"]["sealerVersion"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(app(&ext, "nginx")["type"], "kube");
    assert_eq!(app(&ext, "nginx")["files"], json!(["nginx.yaml"]));
    assert_eq!(
        app(&ext, "nginx")["env"],
        json!({"port": "80", "replicas": "3"})
    );
    assert_eq!(app(&ext, "nginx")["version"], "v1");
    assert_eq!(app(&ext, "dashboard")["type"], "kube");
    assert_eq!(
        app(&ext, "dashboard")["files"],
        json!(["/a.yaml", "/sub/b.yml"])
    );
    assert_eq!(app(&ext, "chart")["type"], "helm");
    assert_eq!(app(&ext, "chart")["files"], json!(["chart"]));
    assert_eq!(app(&ext, "install")["type"], "shell");
    assert!(app(&ext, "tool").get("type").is_none(), "untyped: {ext}");
    assert_eq!(
        app(&ext, "tool")["cmds"],
        json!(["./tool.bin", "--install"])
    );
    assert_eq!(app(&ext, "calico")["type"], "kube");
    assert_eq!(
        ext["launch"]["app_names"],
        json!(["calico", "nginx", "chart"])
    );
    assert_eq!(
        ext["env"],
        json!({"PodCIDR": "100.64.0.0/10", "SvcCIDR": "10.96.0.0/16"})
    );
    let spec = env.inspect("apps:v1");
    let labels = &spec["spec"]["image_config"]["labels"];
    assert_eq!(
        labels["app.alpha.sealer.io/supported-kube-version"],
        "v1.22.15"
    );
    assert_eq!(labels["cluster.alpha.sealer.io/kube-cni-calico"], "true");
    assert!(labels["io.sealer.version"].as_str().is_some(), "{labels}");
    assert_eq!(spec["spec"]["kubeVersion"], "v1.22.15");
    let launch = &spec["spec"]["appLaunchCommands"];
    assert_eq!(
        launch["nginx"],
        "kubectl apply -f application/apps/nginx/nginx.yaml"
    );
    assert_eq!(launch["chart"], "helm install chart application/apps/chart");
    assert_eq!(
        launch["install"],
        "bash application/apps/install/install.sh"
    );
    assert_eq!(
        launch["tool"],
        "cd application/apps/tool && ./tool.bin --install"
    );
    assert_eq!(
        spec["spec"]["imageExtension"]["launch"]["app_names"],
        json!(["calico", "nginx", "chart"])
    );
    // ${ARCH} picked this machine's directory; apps live under application/apps.
    assert_eq!(env.run(&["cat", "apps:v1", "bin/kubectl"]), "kubectl\n");
    assert_eq!(
        env.run(&["cat", "apps:v1", "application/apps/dashboard/sub/b.yml"]),
        "kind: Deployment\n"
    );
    assert_eq!(
        env.run(&["cat", "apps:v1", "application/apps/chart/Chart.yaml"]),
        "apiVersion: v2\nname: mychart\nversion: 0.1.0\n"
    );

    // FROM it: the applications are inherited, LAUNCH is the new image's.
    let over = env.context(
        "over",
        &[
            ("Kubefile", "FROM apps:v1\nAPP extra local://extra.yaml\nAPPENV dashboard x=1\nCMDS [\"kubectl get nodes\", \"kubectl get pods\"]\n"),
            ("extra.yaml", "kind: ConfigMap\n"),
        ],
    );
    env.sealer()
        .args(["build", "--type", "app-installer", "-t", "over:v1"])
        .arg(&over)
        .ok();
    let ext = extension(&env, "over:v1");
    assert_eq!(ext["type"], "app-installer");
    for name in [
        "nginx",
        "dashboard",
        "chart",
        "install",
        "tool",
        "calico",
        "extra",
    ] {
        app(&ext, name);
    }
    assert_eq!(app(&ext, "dashboard")["env"], json!({"x": "1"}));
    assert_eq!(
        ext["launch"],
        json!({"cmds": ["kubectl get nodes", "kubectl get pods"]})
    );
}

#[test]
fn sealer_v011_rules_fail_at_their_line() {
    let env = Env::new();
    env.build("apps:v1", &app_context(&env));
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "two-launch",
            "FROM apps:v1\nLAUNCH [\"nginx\"]\nLAUNCH [\"chart\"]\n",
            &["Kubefile:2", "LAUNCH must be the last"],
        ),
        (
            "launch-not-last",
            "FROM apps:v1\nLAUNCH [\"nginx\"]\nCOPY x.yaml .\n",
            &["Kubefile:2", "last"],
        ),
        (
            "cmds-and-launch",
            "FROM apps:v1\nCMDS [\"a\"]\nLAUNCH [\"nginx\"]\n",
            &["Kubefile:2", "CMDS must be the last"],
        ),
        (
            "cmd-and-launch",
            "FROM apps:v1\nCMD echo hi\nLAUNCH [\"nginx\"]\n",
            &["Kubefile:3", "CMD and LAUNCH"],
        ),
        (
            "unknown-launch",
            "FROM apps:v1\nLAUNCH [\"nginx\", \"nope\"]\n",
            &["Kubefile:2", "nope"],
        ),
        (
            "unknown-appcmds",
            "FROM apps:v1\nAPPCMDS nope [\"x\"]\n",
            &["Kubefile:2", "nope"],
        ),
        (
            "unknown-appenv",
            "FROM apps:v1\nAPPENV nope a=b\n",
            &["Kubefile:2", "nope"],
        ),
        (
            "untyped",
            "FROM scratch\nAPP mixed local://x.yaml local://run.sh\nCOPY x.yaml .\n",
            &["Kubefile:2", "mixed", "APPCMDS"],
        ),
    ];
    for (name, kubefile, parts) in cases {
        let ctx = env.context(
            name,
            &[
                ("Kubefile", kubefile),
                ("x.yaml", "a: 1\n"),
                ("run.sh", "echo\n"),
            ],
        );
        fails_cleanly(
            &env,
            env.sealer().args(["build", "-t", "bad:1"]).arg(&ctx),
            parts,
        );
    }
}

#[test]
fn http_sources_are_downloaded_verified_and_cached() {
    let env = Env::new();
    let served = env.path("served");
    fs::create_dir_all(&served).expect("mkdir");
    fs::write(served.join("tool.sh"), "echo tool\n").expect("write");
    fs::write(served.join("app.yaml"), "kind: Pod\n").expect("write");
    let http = HttpServer::serve(&served);
    let sum = format!("sha256:{}", sha256_hex(b"echo tool\n"));
    let kubefile = format!(
        "FROM scratch\nCOPY {tool} bin/\nADD --checksum={sum} {tool} opt/tool-checked.sh\nAPP web {app}\nLAUNCH [\"web\"]\n",
        tool = http.url("tool.sh"),
        app = http.url("app.yaml"),
    );
    let ctx = env.context("ctx", &[("Kubefile", &kubefile)]);
    env.build("remote:v1", &ctx);
    assert_eq!(env.run(&["cat", "remote:v1", "bin/tool.sh"]), "echo tool\n");
    assert_eq!(
        env.run(&["cat", "remote:v1", "opt/tool-checked.sh"]),
        "echo tool\n"
    );
    assert_eq!(
        env.run(&["cat", "remote:v1", "application/apps/web/app.yaml"]),
        "kind: Pod\n"
    );
    let listing = env.run(&["ls", "-l", "remote:v1", "bin"]);
    assert!(
        listing.contains("-rw-------"),
        "a download is mode 0600: {listing}"
    );
    let ext = extension(&env, "remote:v1");
    assert_eq!(app(&ext, "web")["type"], "kube");
    assert_eq!(app(&ext, "web")["files"], json!(["app.yaml"]));
    // The same content again: every layer from the cache.
    let again = env.build("remote:v2", &ctx);
    assert_eq!(
        again.stderr.matches("Using cache").count(),
        3,
        "{}",
        again.stderr
    );
    assert_eq!(env.layer_ids("remote:v1"), env.layer_ids("remote:v2"));
    // Changed content: a new layer.
    fs::write(served.join("app.yaml"), "kind: Service\n").expect("write");
    env.build("remote:v3", &ctx);
    assert_ne!(env.layer_ids("remote:v1"), env.layer_ids("remote:v3"));

    // Bad: a 404, a checksum mismatch, a server that never answers.
    let missing = env.context(
        "missing",
        &[(
            "Kubefile",
            &format!("FROM scratch\nCOPY {} .\n", http.url("nope.txt")),
        )],
    );
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "bad:1"]).arg(&missing),
        &["Kubefile:2", "nope.txt", "404"],
    );
    let wrong = format!("sha256:{}", "0".repeat(64));
    let mismatch = env.context(
        "mismatch",
        &[(
            "Kubefile",
            &format!(
                "FROM scratch\nADD --checksum={wrong} {} .\n",
                http.url("tool.sh")
            ),
        )],
    );
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "bad:1"]).arg(&mismatch),
        &["Kubefile:2", "tool.sh", &wrong],
    );
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = silent.local_addr().expect("addr").port();
    let stuck = env.context(
        "stuck",
        &[(
            "Kubefile",
            &format!("FROM scratch\nCOPY http://127.0.0.1:{port}/slow.bin .\n"),
        )],
    );
    fails_cleanly(
        &env,
        env.sealer()
            .env("SEALER_DOWNLOAD_TIMEOUT", "2")
            .args(["build", "-t", "bad:1"])
            .arg(&stuck),
        &["Kubefile:2", "slow.bin"],
    );
    drop(silent);
}

#[test]
fn from_platform_names_the_image_platform() {
    let env = Env::new();
    let ctx = env.context(
        "arm",
        &[
            (
                "Kubefile",
                "FROM --platform=linux/arm64 scratch\nCOPY ${ARCH}/f .\n",
            ),
            ("arm64/f", "arm\n"),
        ],
    );
    env.build("arm:v1", &ctx);
    let spec = env.inspect("arm:v1");
    assert_eq!(spec["spec"]["platform"]["architecture"], "arm64");
    assert_eq!(env.run(&["cat", "arm:v1", "f"]), "arm\n");
    let other = if host_arch() == "s390x" {
        "amd64"
    } else {
        "s390x"
    };
    let bad = env.context(
        "bad",
        &[
            (
                "Kubefile",
                &format!("FROM --platform=linux/{other} arm:v1\nCOPY arm64/f g\n"),
            ),
            ("arm64/f", "x"),
        ],
    );
    fails_cleanly(
        &env,
        env.sealer().args(["build", "-t", "bad:1"]).arg(&bad),
        &["Kubefile:1", "arm64", other],
    );
}
