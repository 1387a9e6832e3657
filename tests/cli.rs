//! The user workflow of the README on the bundled examples: build the
//! ClusterRootfs and its override, then `images`, `inspect`, `ls`, `cat`,
//! `tag`, `rmi`, image references, shell completions and man pages.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::util::host_arch;
use crate::util::{build_examples, example, sha256_hex, Env, BASE, MINE};

/// Names in a directory of the example tree, sorted as `ls` sorts (bytes).
fn names_on_disk(rel: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(example("cluster-rootfs").join(rel))
        .expect("reading the example")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn images_lists_both_builds_as_table_ids_and_json() {
    let env = Env::new();
    build_examples(&env);

    let json: Value = serde_json::from_str(&env.run(&["images", "--format", "json"]))
        .expect("images --format json");
    let rows = json.as_array().expect("an array");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, [BASE, MINE]);
    for r in rows {
        let id = r["id"].as_str().expect("id");
        assert!(id.starts_with("sha256:") && id.len() == 71, "image id {id}");
        assert_eq!(r["arch"], host_arch());
        let spec = env.inspect(r["name"].as_str().expect("name"));
        assert_eq!(
            r["id"], spec["spec"]["id"],
            "images and inspect agree on the id"
        );
        let layer_sum: u64 = spec["spec"]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["size"].as_u64().expect("size"))
            .sum();
        assert_eq!(
            r["size"].as_u64(),
            Some(layer_sum),
            "SIZE is the sum of the layers"
        );
    }
    let short: Vec<String> = rows
        .iter()
        .map(|r| r["id"].as_str().expect("id")["sha256:".len()..][..12].to_string())
        .collect();

    assert_eq!(lines(&env.run(&["images", "-q"])), short);

    let table = env.run(&["images"]);
    let t = lines(&table);
    assert_eq!(t.len(), 3, "a header and two rows:\n{table}");
    let header: Vec<&str> = t[0]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "IMAGE NAME",
            "IMAGE ID",
            "ARCH",
            "VARIANT",
            "CREATE",
            "SIZE"
        ]
    );
    for (row, (name, id)) in t[1..].iter().zip(names.iter().zip(&short)) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[..3], [*name, id.as_str(), host_arch()], "row {row:?}");
        assert!(row.ends_with("KiB"), "SIZE is human-readable: {row:?}");
    }
}

/// The checks `inspect` must pass in either format.
fn check_spec(env: &Env, spec: &Value) {
    assert_eq!(spec["kind"], "Image");
    assert_eq!(spec["metadata"]["name"], MINE);
    let id = spec["spec"]["id"].as_str().expect("spec.id");
    let config_blob = fs::read(env.blob(id)).expect("the config blob named by spec.id");
    assert_eq!(
        format!("sha256:{}", sha256_hex(&config_blob)),
        id,
        "spec.id is the config digest"
    );
    let config: Value = serde_json::from_slice(&config_blob).expect("config JSON");

    let layers = spec["spec"]["layers"].as_array().expect("spec.layers");
    let kinds: Vec<(&str, &str)> = layers
        .iter()
        .map(|l| {
            (
                l["type"].as_str().expect("type"),
                l["value"].as_str().expect("value"),
            )
        })
        .collect();
    assert_eq!(kinds, [("COPY", ". ."), ("COPY", "daemon.json etc/")]);
    let ids: Vec<&Value> = layers.iter().map(|l| &l["id"]).collect();
    let diff_ids: Vec<&Value> = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .iter()
        .collect();
    assert_eq!(ids, diff_ids, "layer ids are the diff_ids");
    for l in layers {
        let d = l["id"].as_str().expect("layer id");
        let blob = fs::read(env.blob(d)).expect("layer blob");
        assert_eq!(
            format!("sha256:{}", sha256_hex(&blob)),
            d,
            "a layer id is its uncompressed digest"
        );
        assert_eq!(l["size"].as_u64(), Some(blob.len() as u64));
    }
    assert_eq!(spec["spec"]["platform"]["architecture"], host_arch());
    assert_eq!(spec["spec"]["platform"]["os"], "linux");

    let cfg = &spec["spec"]["image_config"];
    assert_eq!(
        cfg["labels"]["app.alpha.sealer.io/supported-kube-version"], "v1.19.8",
        "KUBEVERSION of the base"
    );
    assert_eq!(cfg["labels"]["io.sealer.example"], "cluster-rootfs");
    assert_eq!(
        cfg["cmd"]["parent"],
        json!(["kubectl", "get", "nodes"]),
        "the base's CMD"
    );
    assert_eq!(cfg["cmd"]["current"], json!([]));

    let metadata: Value =
        serde_json::from_slice(&fs::read(example("cluster-rootfs/Metadata")).expect("Metadata"))
            .expect("JSON");
    assert_eq!(
        spec["spec"]["rootfs_metadata"], metadata,
        "the rootfs Metadata file, parsed"
    );
}

#[test]
fn inspect_shows_the_image_spec_as_yaml_and_json() {
    let env = Env::new();
    build_examples(&env);
    let yaml = env.run(&["inspect", MINE]);
    let from_yaml: Value = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| panic!("inspect prints YAML ({e}):\n{yaml}"));
    check_spec(&env, &from_yaml);
    let from_json = env.inspect(MINE);
    check_spec(&env, &from_json);
    assert_eq!(from_yaml, from_json, "both formats say the same");
    assert!(yaml.starts_with("kind: Image\n"), "{yaml}");
}

#[test]
fn ls_lists_merged_directories_long_recursive_and_single_files() {
    let env = Env::new();
    build_examples(&env);
    assert_eq!(lines(&env.run(&["ls", MINE])), names_on_disk(""));
    assert_eq!(lines(&env.run(&["ls", MINE, "etc"])), names_on_disk("etc"));
    assert_eq!(
        lines(&env.run(&["ls", MINE, "etc/"])),
        names_on_disk("etc"),
        "a trailing slash is the same directory"
    );

    let recursive = env.run(&["ls", "-R", MINE, "registry"]);
    assert_eq!(
        recursive,
        "registry:\ndocker\n\nregistry/docker:\nregistry\n\nregistry/docker/registry:\nREADME\n"
    );

    let new = fs::read(example("override/daemon.json")).expect("override daemon.json");
    let one = env.run(&["ls", "-l", MINE, "etc/daemon.json"]);
    let cols: Vec<&str> = one.split_whitespace().collect();
    assert_eq!(lines(&one).len(), 1, "one line for one file: {one}");
    let want = mode_string('-', &example("override/daemon.json"));
    assert_eq!(cols[0], want, "mode of the copied file: {one}");
    assert_eq!(
        cols[2..5],
        ["0", "0", &new.len().to_string()],
        "owner root and the override's size: {one}"
    );
    assert_eq!(cols.last(), Some(&"daemon.json"));

    let long = env.run(&["ls", "-l", MINE, "bin"]);
    assert_eq!(lines(&long).len(), names_on_disk("bin").len());
    for (line, name) in long.lines().zip(names_on_disk("bin")) {
        let want = mode_string('-', &example("cluster-rootfs/bin").join(&name));
        assert!(
            line.starts_with(&want) && line.ends_with(&format!(" {name}")),
            "{line:?} for {name}, want {want}"
        );
    }
    let dirs = env.run(&["ls", "-l", MINE]);
    let etc = mode_string('d', &example("cluster-rootfs/etc"));
    assert!(
        dirs.lines()
            .any(|l| l.starts_with(&etc) && l.ends_with(" etc")),
        "want {etc} etc in:\n{dirs}"
    );
}

/// `-rw-r--r--` for the file at `path`, as `ls -l` shows it.
fn mode_string(kind: char, path: &Path) -> String {
    let mode = fs::metadata(path).expect("stat").permissions().mode();
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
            s.push(if (mode >> shift) & bit != 0 { c } else { '-' });
        }
    }
    s
}

#[test]
fn cat_reads_the_override_and_the_base_through_the_layers() {
    let env = Env::new();
    build_examples(&env);
    let read = |rel: &str| fs::read_to_string(example(rel)).expect("example file");
    assert_eq!(
        env.run(&["cat", MINE, "etc/daemon.json"]),
        read("override/daemon.json")
    );
    assert_eq!(
        env.run(&["cat", BASE, "etc/daemon.json"]),
        read("cluster-rootfs/etc/daemon.json")
    );
    for f in [
        "etc/Clusterfile",
        "scripts/init.sh",
        "Metadata",
        "registry/docker/registry/README",
    ] {
        assert_eq!(
            env.run(&["cat", MINE, f]),
            read(&format!("cluster-rootfs/{f}")),
            "{f} comes from the base"
        );
    }
    assert_eq!(
        env.run(&["cat", MINE, "/etc//./daemon.json"]),
        read("override/daemon.json"),
        "path spelled loosely"
    );
}

fn blob_names(env: &Env) -> BTreeSet<String> {
    fs::read_dir(env.root().join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn hex(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_string()
}

#[test]
fn tag_then_rmi_keeps_shared_blobs_and_deletes_unshared_ones() {
    let env = Env::new();
    build_examples(&env);
    let base_layer = env.layer_ids(BASE)[0].clone();
    let mine_spec = env.inspect(MINE);
    let mine_id = mine_spec["spec"]["id"].as_str().expect("id").to_string();
    let mine_manifest = mine_spec["spec"]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let top_layer = env.layer_ids(MINE)[1].clone();
    let blobs = blob_names(&env);

    env.run(&["tag", MINE, "my-k8s:latest"]);
    let names = env.run(&["images", "--format", "json"]);
    assert!(names.contains("\"my-k8s:latest\""), "{names}");
    assert_eq!(
        env.inspect("my-k8s:latest")["spec"]["id"],
        mine_spec["spec"]["id"],
        "a tag names the same image"
    );
    assert_eq!(
        env.run(&["cat", "my-k8s", "etc/daemon.json"]),
        fs::read_to_string(example("override/daemon.json")).expect("read")
    );

    let out = env.run(&["rmi", "my-k8s:latest"]);
    assert_eq!(
        out, "Untagged: my-k8s:latest\n",
        "the image keeps another name, so nothing is deleted"
    );
    assert_eq!(blob_names(&env), blobs);

    let out = env.run(&["rmi", MINE]);
    let deleted: BTreeSet<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Deleted: "))
        .map(hex)
        .collect();
    assert!(out.starts_with(&format!("Untagged: {MINE}\n")), "{out}");
    let want: BTreeSet<String> = [&mine_id, &mine_manifest, &top_layer]
        .iter()
        .map(|d| hex(d))
        .collect();
    assert_eq!(
        deleted, want,
        "config, manifest and the override layer go; the shared base layer stays"
    );
    assert!(
        !env.blob(&top_layer).exists() && !env.index(&top_layer).exists(),
        "the layer's blob and index are gone"
    );
    assert!(env.blob(&base_layer).exists() && env.index(&base_layer).exists());
    assert_eq!(
        env.run(&["cat", BASE, "etc/daemon.json"]),
        fs::read_to_string(example("cluster-rootfs/etc/daemon.json")).expect("read")
    );
    assert_eq!(lines(&env.run(&["images", "-q"])).len(), 1);

    env.run(&["rmi", BASE]);
    assert!(
        blob_names(&env).is_empty(),
        "the last name gone, every blob goes"
    );
    assert_eq!(
        fs::read_dir(env.root().join("index/sha256"))
            .expect("index dir")
            .count(),
        0,
        "and every layer index"
    );
    assert_eq!(env.run(&["images", "-q"]), "");
}

#[test]
fn rmi_by_id_of_an_image_with_two_names_needs_force() {
    let env = Env::new();
    build_examples(&env);
    env.run(&[
        "tag",
        BASE,
        "registry.example.com/sealer-io/kubernetes:v1.19.8",
    ]);
    let id =
        env.inspect(BASE)["spec"]["id"].as_str().expect("id")["sha256:".len()..][..12].to_string();
    let line = env.sealer().args(["rmi", &id]).fails();
    assert!(
        line.contains("several names") && line.contains(BASE),
        "{line}"
    );
    let out = env.run(&["rmi", "-f", &id]);
    assert!(
        out.contains(&format!("Untagged: {BASE}"))
            && out.contains("Untagged: registry.example.com/sealer-io/kubernetes:v1.19.8"),
        "{out}"
    );
    assert_eq!(
        lines(&env.run(&["images", "--format", "json"]))
            .iter()
            .filter(|l| l.contains("\"name\""))
            .count(),
        1,
        "only my-k8s remains"
    );
    assert_eq!(
        env.run(&["cat", MINE, "etc/Clusterfile"]),
        fs::read_to_string(example("cluster-rootfs/etc/Clusterfile")).expect("read")
    );
}

#[test]
fn images_are_found_by_id_prefix_full_id_and_registry_names() {
    let env = Env::new();
    build_examples(&env);
    let id = env.inspect(MINE)["spec"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let override_json = fs::read_to_string(example("override/daemon.json")).expect("read");
    for r in [&id[7..19], &id[7..], &id, &format!("sha256:{}", &id[7..17])] {
        let spec = env.inspect(r);
        assert_eq!(spec["spec"]["id"], id.as_str(), "reference {r}");
        assert_eq!(spec["metadata"]["name"], MINE);
        assert_eq!(
            env.run(&["cat", r, "etc/daemon.json"]),
            override_json,
            "cat by {r}"
        );
    }
    assert_eq!(
        env.inspect("docker.io/library/my-k8s:v1.19.8")["spec"]["id"],
        id.as_str(),
        "docker's long spelling"
    );
    env.run(&["tag", &id[7..19], "registry.example.com:5000/team/my-k8s"]);
    let spec = env.inspect("registry.example.com:5000/team/my-k8s:latest");
    assert_eq!(spec["spec"]["id"], id.as_str());
    assert_eq!(
        env.inspect("registry.example.com:5000/team/my-k8s")["metadata"]["name"],
        "registry.example.com:5000/team/my-k8s:latest",
        "no tag means latest"
    );
}

#[test]
fn completion_prints_scripts_the_shells_accept() {
    let env = Env::new();
    let bash = env.run(&["completion", "bash"]);
    for word in ["_sealer", "complete", "inspect", "rmi", "build"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let script = env.write("sealer.bash", &bash);
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("running bash -n");
    assert!(
        check.status.success(),
        "bash rejects the script: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(env
        .run(&["completion", "zsh"])
        .starts_with("#compdef sealer"));
    assert!(env
        .run(&["completion", "fish"])
        .contains("complete -c sealer"));
    assert!(
        !env.root().exists(),
        "printing completions does not create a store"
    );
}

/// The commands of the README's table, each of which gets a man page.
const COMMANDS: &[&str] = &[
    "build",
    "images",
    "inspect",
    "tag",
    "rmi",
    "ls",
    "cat",
    "mount",
    "umount",
    "commit",
    "diff",
    "pull",
    "push",
    "mirror",
    "manifest",
    "merge",
    "search",
    "login",
    "logout",
    "save",
    "load",
    "sbom",
    "generate-key-pair",
    "check",
    "sign",
    "verify",
    "serve",
    "fsck",
    "prune",
    "version",
    "completion",
];

/// Commands with subcommands of their own: each has a page too.
const SUBCOMMANDS: &[(&str, &[&str])] = &[(
    "manifest",
    &["create", "add", "remove", "inspect", "push", "delete"],
)];

#[test]
fn man_pages_are_generated_for_every_command() {
    use clap::CommandFactory;
    let visible: BTreeSet<String> = sealer::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    let listed: BTreeSet<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        visible, listed,
        "a new command needs its man page and README row"
    );

    let env = Env::new();
    let dir = env.path("man/man1");
    // `__man` is the first argument (as for `__run-guard`), never after --root.
    let man = |args: &[&Path]| {
        Command::new(env!("CARGO_BIN_EXE_sealer"))
            .arg("__man")
            .args(args)
            .output()
            .expect("running sealer __man")
    };
    let run = man(&[&dir]);
    assert!(run.status.success(), "{run:?}");
    let out = String::from_utf8(run.stdout).expect("UTF-8 paths");
    let mut want: BTreeSet<String> = COMMANDS.iter().map(|c| format!("sealer-{c}.1")).collect();
    want.insert("sealer.1".into());
    for (c, subs) in SUBCOMMANDS {
        want.extend(subs.iter().map(|s| format!("sealer-{c}-{s}.1")));
    }
    let written: BTreeSet<String> = fs::read_dir(&dir)
        .expect("the man directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, want);
    let printed: BTreeSet<String> = out.lines().map(str::to_string).collect();
    let paths: BTreeSet<String> = want
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    assert_eq!(printed, paths, "prints every page it wrote");

    // roff escapes hyphens; read the pages as a reader sees them.
    let read = |f: &str| {
        fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .replace("\\-", "-")
    };
    let main = read("sealer.1");
    assert!(main.contains(".TH sealer 1"), "{main}");
    assert!(main.contains("--root"), "{main}");
    for c in COMMANDS {
        assert!(
            main.contains(&format!("sealer-{c}(1)")),
            "sealer.1 names {c}"
        );
        let page = read(&format!("sealer-{c}.1"));
        assert!(page.contains(&format!(".TH sealer-{c} 1")), "{page}");
        assert!(
            page.contains(&format!("sealer {c}")),
            "synopsis of {c}: {page}"
        );
        assert!(page.contains(".SH DESCRIPTION"), "{page}");
    }
    assert!(!main.contains("__"), "hidden commands stay hidden: {main}");
    assert!(read("sealer-build.1").contains("--build-arg"));
    assert!(read("sealer-mount.1").contains("--rw"));

    // Wrong use: exit 1 and one error line.
    let run = man(&[]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr, "error: usage: sealer __man DIR\n");
}
