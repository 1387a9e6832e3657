//! `sealer fsck [--repair]` and `sealer prune`: damage of every kind is
//! found, exits 1 with one error line, and `--repair` fixes what it can
//! while keeping every good image; prune frees unreferenced blobs, indexes,
//! cache entries, temporary files of dead processes and dead mounts, and
//! nothing an image needs.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::mount::{is_mounted, mount_with};
use crate::util::{assert_mentions, example, Env};

fn two_images() -> Env {
    let env = Env::new();
    env.build("base:1", &example("cluster-rootfs"));
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM base:1\nCOPY extra.txt etc/\n"),
            ("extra.txt", "extra\n"),
        ],
    );
    env.build("top:1", &ctx);
    env
}

fn hex(d: &str) -> &str {
    d.trim_start_matches("sha256:")
}

#[test]
fn a_sound_store_passes_and_fsck_changes_nothing() {
    let env = two_images();
    let before = env.snapshot();
    let out = env.run(&["fsck"]);
    assert_mentions(&out, &["checked", "2 refs", "no problems found"]);
    before.assert_same(&env.snapshot(), "fsck");
}

#[test]
fn every_kind_of_damage_is_found_and_repaired() {
    let env = two_images();
    let layers = env.layer_ids("top:1");
    let (base_layer, top_layer) = (&layers[0], &layers[1]);
    let base_ls = env.run(&["ls", "-lR", "base:1"]);
    // A corrupt layer of top:1 only, a bad index of base:1's layer, a stray
    // file, a dangling ref, a wrong oci-layout.
    let blob = env.blob(top_layer);
    let mut bytes = fs::read(&blob).expect("blob");
    bytes[600] ^= 0x55;
    fs::write(&blob, bytes).expect("corrupting");
    fs::write(env.index(base_layer), b"not an index").expect("index");
    fs::write(env.root().join("blobs/sha256/stray"), "x").expect("stray");
    let index_path = env.root().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).expect("index.json")).expect("json");
    let mut dangling = index["manifests"][0].clone();
    dangling["digest"] = format!("sha256:{}", "ab".repeat(32)).into();
    dangling["annotations"]["org.opencontainers.image.ref.name"] = "ghost:1".into();
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(dangling);
    fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("index.json");
    fs::write(env.root().join("oci-layout"), "{}").expect("layout");

    let before = env.snapshot();
    let line = env.sealer().arg("fsck").fails();
    assert_mentions(&line, &["fsck found 6 problem(s)", "--repair"]);
    before.assert_same(&env.snapshot(), "fsck without --repair");
    let out = env.sealer().arg("fsck").output().stdout;
    for part in [
        &format!("blob {top_layer} is corrupt"),
        "ref top:1: its layer",
        "ref ghost:1: its manifest",
        &format!("index of layer {base_layer}"),
        "stray entry",
        "oci-layout",
    ] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }

    let out = env.run(&["fsck", "--repair"]);
    assert_mentions(
        &out,
        &[
            "dropped the ref top:1",
            "dropped the ref ghost:1",
            "rewrote oci-layout",
            "repaired 6 problem(s)",
        ],
    );
    let out = env.run(&["fsck"]);
    assert!(out.contains("no problems found"), "{out}");
    // The good image is whole and reads as before; the broken one is gone
    // and can be built again (its corrupt blob was removed, not reused).
    assert_eq!(env.run(&["ls", "-lR", "base:1"]), base_ls);
    env.sealer().args(["ls", "top:1"]).fails();
    assert!(!env.blob(top_layer).exists());
    env.build("top:1", &env.path("ctx"));
    assert_eq!(env.run(&["cat", "top:1", "etc/extra.txt"]), "extra\n");
    assert!(env.run(&["fsck"]).contains("no problems found"));
}

#[test]
fn a_missing_index_is_a_note_and_built_by_repair() {
    let env = two_images();
    let layer = env.layer_ids("base:1")[0].clone();
    fs::remove_file(env.index(&layer)).expect("rm index");
    let out = env.run(&["fsck"]);
    assert_mentions(&out, &["no index yet", "no problems found"]);
    assert!(!env.index(&layer).exists());
    let out = env.run(&["fsck", "--repair"]);
    assert_mentions(&out, &["built the index of layer", hex(&layer)]);
    assert!(env.index(&layer).exists());
}

#[test]
fn prune_frees_what_nothing_needs_and_keeps_every_image() {
    let env = two_images();
    let top_ls = env.run(&["ls", "-lR", "top:1"]);
    let root = env.root();
    // Unreferenced: a blob (left behind by a killed build), an orphan index,
    // a cache entry of a gone layer, a temporary file of a dead process (which
    // every command's store opening already removes).
    let loose = "cd".repeat(32);
    fs::write(root.join("blobs/sha256").join(&loose), "orphan blob").expect("blob");
    fs::write(root.join("index/sha256").join("ef".repeat(32)), "orphan").expect("index");
    fs::write(
        root.join("cache").join("12".repeat(32)),
        format!("sha256:{}", "34".repeat(32)),
    )
    .expect("cache");
    fs::write(root.join("tmp/layer-999999999-0"), vec![0u8; 4096]).expect("tmp");
    let out = env.run(&["prune"]);
    assert_mentions(&out, &["Freed", "1 blobs", "1 indexes", "1 cache entries"]);
    assert!(!root.join("blobs/sha256").join(&loose).exists());
    assert!(!root.join("tmp/layer-999999999-0").exists());
    assert_eq!(env.run(&["ls", "-lR", "top:1"]), top_ls);
    let out = env.run(&["fsck"]);
    assert!(
        out.contains("no problems found") && !out.contains("note:"),
        "{out}"
    );
    // A second prune has nothing to do.
    assert_mentions(&env.run(&["prune"]), &["Freed 0 B", "0 blobs"]);
}

#[test]
fn prune_cleans_a_dead_rw_mount_and_keeps_a_live_one() {
    let env = two_images();
    let solo = env.context(
        "solo",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("only-here.txt", "solo\n"),
        ],
    );
    env.build("solo:1", &solo);
    let live = mount_with(&env, &["--rw", "solo:1"], "live");
    let dead = mount_with(&env, &["--rw", "top:1"], "dead");
    fs::write(dead.dir.join("scratch.txt"), "lost with the server\n").expect("write");
    let records = |env: &Env| -> Vec<String> {
        fs::read_dir(env.root().join("mounts"))
            .expect("mounts/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect()
    };
    assert_eq!(records(&env).len(), 2);
    let rec: serde_json::Value = {
        let key = records(&env)
            .into_iter()
            .find(|n| {
                fs::read_to_string(env.root().join("mounts").join(n))
                    .is_ok_and(|t| t.contains("/dead"))
            })
            .expect("the dead mount's record");
        serde_json::from_slice(&fs::read(env.root().join("mounts").join(key)).expect("record"))
            .expect("json")
    };
    let pid = rec["pid"].as_i64().expect("pid") as i32;
    let upper = rec["upper"].as_str().expect("upper").to_string();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // rmi -f of the live mount's image: its blobs stay while it serves.
    let base_blobs: Vec<_> = env
        .layer_ids("solo:1")
        .iter()
        .map(|l| env.blob(l))
        .collect();
    env.run(&["rmi", "-f", "solo:1"]);
    let out = env.run(&["prune"]);
    assert_mentions(&out, &["1 dead mounts"]);
    assert!(!is_mounted(&dead.dir), "the dead mount is detached");
    assert!(
        !Path::new(&upper).exists(),
        "the dead mount's upper dir is removed"
    );
    assert_eq!(records(&env).len(), 1, "the live mount's record stays");
    assert!(
        live.dir.join("Kubefile").exists(),
        "the live mount still serves"
    );
    for b in &base_blobs {
        assert!(
            b.exists(),
            "{} of the mounted image was collected",
            b.display()
        );
    }
    assert!(env.run(&["fsck"]).contains("no problems found"));
    // Once unmounted, nothing holds them: prune frees them.
    drop(live);
    env.run(&["prune"]);
    for b in &base_blobs {
        assert!(!b.exists(), "{} outlived its last user", b.display());
    }
    assert!(env.run(&["fsck"]).contains("no problems found"));
}
