//! Interop: Debian's `skopeo` and `umoci` read our store as the OCI image
//! layout it claims to be (digest, layers, labels, diff_ids, tags, and a
//! full unpack that matches `sealer cat`). A missing tool fails the test
//! with what to install.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{build_examples, example, tool, Env, BASE, MINE};

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}):\n{text}"))
}

#[test]
fn skopeo_inspects_our_images() {
    let env = Env::new();
    build_examples(&env);
    let root = env.root().display().to_string();
    for name in [BASE, MINE] {
        let spec = env.inspect(name);
        let config: Value = json(
            &fs::read_to_string(env.blob(spec["spec"]["id"].as_str().expect("id")))
                .expect("config"),
            "config",
        );
        let oci = format!("oci:{root}:{name}");

        let seen = json(
            &tool("skopeo", &["inspect", &oci], "skopeo"),
            "skopeo inspect",
        );
        assert_eq!(
            seen["Digest"], spec["spec"]["digest"],
            "{name}: manifest digest"
        );
        let layers: Vec<&Value> = spec["spec"]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| &l["id"])
            .collect();
        assert_eq!(
            seen["Layers"]
                .as_array()
                .expect("Layers")
                .iter()
                .collect::<Vec<_>>(),
            layers,
            "{name}: layers"
        );
        assert_eq!(seen["Labels"], config["config"]["Labels"], "{name}: labels");
        assert_eq!(
            seen["Labels"]["app.alpha.sealer.io/supported-kube-version"],
            "v1.19.8"
        );
        assert_eq!(seen["Architecture"], config["architecture"]);
        assert_eq!(seen["Os"], "linux");

        let raw = json(
            &tool("skopeo", &["inspect", "--config", &oci], "skopeo"),
            "skopeo inspect --config",
        );
        assert_eq!(
            raw["rootfs"]["diff_ids"], config["rootfs"]["diff_ids"],
            "{name}: diff_ids"
        );
    }
}

#[test]
fn umoci_lists_and_unpacks_our_images() {
    let env = Env::new();
    build_examples(&env);
    let root = env.root().display().to_string();
    let tags: BTreeSet<String> = tool("umoci", &["ls", "--layout", &root], "umoci")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(tags, BTreeSet::from([BASE.to_string(), MINE.to_string()]));

    let bundle = env.path("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{root}:{MINE}"),
            &bundle.display().to_string(),
        ],
        "umoci",
    );
    let rootfs = bundle.join("rootfs");
    let mut files = Vec::new();
    walk_files(&rootfs, &rootfs, &mut files);
    let mut want = Vec::new();
    walk_files(
        &example("cluster-rootfs"),
        &example("cluster-rootfs"),
        &mut want,
    );
    files.sort();
    want.sort();
    assert_eq!(files, want, "umoci unpacks every file of the ClusterRootfs");
    for rel in &files {
        let unpacked = fs::read(rootfs.join(rel)).expect("unpacked file");
        let ours = env.sealer().args(["cat", MINE, rel]).ok().stdout;
        assert_eq!(
            ours.as_bytes(),
            &unpacked[..],
            "{rel}: sealer cat == umoci unpack"
        );
    }
    let daemon = fs::read_to_string(rootfs.join("etc/daemon.json")).expect("daemon.json");
    assert_eq!(
        daemon,
        fs::read_to_string(example("override/daemon.json")).expect("read"),
        "umoci applies the override layer"
    );
}

fn walk_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let ft = e.file_type().expect("type");
        if ft.is_dir() {
            walk_files(root, &e.path(), out);
        } else if ft.is_file() {
            out.push(
                e.path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
