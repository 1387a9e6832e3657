//! A signed ClusterImage with its SBOM crossing an air gap (issue 22):
//! `save` carries the image's signatures and referrers in the OCI archive,
//! `load` judges the image by policy.json before tagging anything and keeps
//! them, so `verify` holds offline on the other store; `pull` brings SBOM
//! referrers along; `rmi` takes signatures with the image.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::registry::Registry;
use crate::util::{fails_cleanly, Env};

use crate::sign::{data, keys, PASS};

fn build(env: &Env, name: &str, content: &str, extra: &[&str]) {
    let dir = format!("ctx-{content}");
    let ctx = env.context(
        &dir,
        &[("Kubefile", "FROM scratch\nCOPY . .\n"), ("a.txt", content)],
    );
    env.sealer()
        .args(["build", "-t", name])
        .args(extra)
        .arg(ctx)
        .ok();
}

fn sign(env: &Env, key: &Path, image: &str) {
    env.sealer()
        .env("SEALER_PASSWORD", PASS)
        .arg("sign")
        .arg("--key")
        .arg(key)
        .arg(image)
        .ok();
}

fn verify(env: &Env, key: &Path, image: &str) -> crate::util::Sealer {
    env.sealer().arg("verify").arg("--key").arg(key).arg(image)
}

/// A fresh store (created, with nothing in it).
fn fresh() -> Env {
    let env = Env::new();
    env.run(&["images"]);
    env
}

fn load(env: &Env, archive: &Path) -> crate::util::Sealer {
    env.sealer().arg("load").arg("-q").arg("-i").arg(archive)
}

fn index(env: &Env) -> Value {
    let text = fs::read_to_string(env.root().join("index.json")).expect("index.json");
    serde_json::from_str(&text).expect("index.json is JSON")
}

/// The number of signature entries of the store.
fn signature_entries(env: &Env) -> usize {
    index(env)["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|d| d["annotations"]["io.sealer.signature.of"].is_string())
        .count()
}

fn manifest_digest(env: &Env, name: &str) -> String {
    index(env)["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
        .and_then(|d| d["digest"].as_str())
        .unwrap_or_else(|| panic!("{name} is not tagged"))
        .to_string()
}

/// The SBOM a store keeps for manifest `digest`: (artifact manifest, document).
fn attached_sbom(env: &Env, digest: &str) -> (Value, String) {
    let hex = digest.trim_start_matches("sha256:");
    let list = env.root().join(format!("referrers/{hex}.json"));
    let list: Value = serde_json::from_str(
        &fs::read_to_string(&list).unwrap_or_else(|e| panic!("{}: {e}", list.display())),
    )
    .expect("a referrers list");
    let art = &list["manifests"][0];
    assert_eq!(art["artifactType"], "application/spdx+json", "{list}");
    let art = art["digest"].as_str().expect("digest");
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(env.blob(art)).expect("artifact manifest"))
            .expect("JSON");
    let doc = manifest["layers"][0]["digest"].as_str().expect("layer");
    let doc = fs::read_to_string(env.blob(doc)).expect("the SBOM blob");
    (manifest, doc)
}

/// A policy file accepting only `key`'s signatures for every image.
fn sigstore_policy(env: &Env, file: &str, key: &Path) -> PathBuf {
    env.write(
        file,
        format!(
            r#"{{"default":[{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"matchRepository"}}}}]}}"#,
            key.display()
        ),
    )
}

#[test]
fn signed_archive_verifies_offline_after_load() {
    let env = Env::new();
    let (private, public) = keys(&env);
    build(&env, "signed:v1", "one", &[]);
    sign(&env, &private, "signed:v1");
    let archive = env.path("signed.tar");
    env.sealer()
        .args(["save", "-q", "-o"])
        .arg(&archive)
        .arg("signed:v1")
        .ok();

    // The other side of the air gap: no registry, a fresh store.
    let other = fresh();
    load(&other, &archive).ok();
    assert_eq!(
        manifest_digest(&other, "signed:v1"),
        manifest_digest(&env, "signed:v1"),
        "the loaded manifest is the saved one"
    );
    verify(&other, &public, "signed:v1").ok();
    fails_cleanly(
        &other,
        verify(&other, &data("cosignkey.pub"), "signed:v1"),
        &["wrong key"],
    );

    // A tampered payload no longer matches its digest: nothing is loaded.
    let bytes = fs::read(&archive).expect("the archive");
    let at = find(&bytes, b"docker.io/library/signed").expect("the payload in the archive");
    let mut tampered = bytes.clone();
    tampered[at + "docker.io/library/signe".len()] = b'x';
    let tampered_path = env.path("tampered.tar");
    fs::write(&tampered_path, tampered).expect("writing");
    let third = fresh();
    fails_cleanly(&third, load(&third, &tampered_path), &["hashes to"]);

    // rmi takes the signature entry with the image.
    assert_eq!(signature_entries(&other), 1);
    other.run(&["rmi", "signed:v1"]);
    assert_eq!(signature_entries(&other), 0);
}

#[test]
fn signed_archive_load_honours_the_policy() {
    let env = Env::new();
    let (private, public) = keys(&env);
    build(&env, "signed:v1", "two", &[]);
    build(&env, "plain:v1", "three", &[]);
    sign(&env, &private, "signed:v1");
    let save = |name: &str| {
        let out = env.path(&format!("{name}.tar"));
        env.sealer()
            .args(["save", "-q", "-o"])
            .arg(&out)
            .arg(format!("{name}:v1"))
            .ok();
        out
    };
    let (signed, plain) = (save("signed"), save("plain"));
    let reject = env.write("reject.json", r#"{"default":[{"type":"reject"}]}"#);
    let right = sigstore_policy(&env, "right.json", &public);
    let wrong = sigstore_policy(&env, "wrong.json", &data("cosignkey.pub"));
    let unknown = env.write("unknown.json", r#"{"default":[{"type":"frobnicate"}]}"#);
    let other = fresh();
    let with =
        |archive: &Path, policy: &Path| load(&other, archive).arg("--signature-policy").arg(policy);
    fails_cleanly(&other, with(&signed, &reject), &["rejected", "reject"]);
    fails_cleanly(
        &other,
        with(&signed, &wrong),
        &["rejected by the signature policy", "wrong key"],
    );
    fails_cleanly(
        &other,
        with(&plain, &right),
        &["rejected by the signature policy", "no signature"],
    );
    fails_cleanly(
        &other,
        with(&signed, &unknown),
        &["unknown requirement type \"frobnicate\""],
    );
    // A docker-archive has no signatures: the policy refuses it.
    let docker = env.path("signed-docker.tar");
    env.sealer()
        .args(["save", "-q", "--format", "docker-archive", "-o"])
        .arg(&docker)
        .arg("signed:v1")
        .ok();
    fails_cleanly(&other, with(&docker, &right), &["no signature"]);
    with(&signed, &right).ok();
    verify(&other, &public, "signed:v1").ok();
}

#[test]
fn sbom_referrer_survives_save_and_load() {
    let env = Env::new();
    build(&env, "k8s:v1", "four", &["--sbom"]);
    let digest = manifest_digest(&env, "k8s:v1");
    let (_, doc) = attached_sbom(&env, &digest);
    let archive = env.path("k8s.tar");
    env.sealer()
        .args(["save", "-q", "-o"])
        .arg(&archive)
        .arg("k8s:v1")
        .ok();
    let other = fresh();
    load(&other, &archive).ok();
    assert_eq!(manifest_digest(&other, "k8s:v1"), digest);
    let (manifest, loaded) = attached_sbom(&other, &digest);
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    assert_eq!(loaded, doc);
    assert_eq!(loaded, other.run(&["sbom", "k8s:v1"]));
    // It lives as long as the image.
    other.run(&["prune"]);
    attached_sbom(&other, &digest);
    other.run(&["rmi", "k8s:v1"]);
    let hex = digest.trim_start_matches("sha256:");
    assert!(!other.root().join(format!("referrers/{hex}.json")).exists());
}

#[test]
fn sbom_referrer_and_signature_come_with_pull_and_cross_an_archive() {
    let reg = Registry::start();
    let env = Env::new();
    let (private, public) = keys(&env);
    let name = reg.image("library/k8s:v1");
    build(&env, &name, "five", &["--sbom"]);
    sign(&env, &private, &name);
    let (_, doc) = attached_sbom(&env, &manifest_digest(&env, &name));
    env.run(&["push", "-q", &name]);
    let other = fresh();
    let out = other.sealer().args(["pull", &name]).ok();
    assert!(
        out.stderr.contains("1 SBOM(s) brought along"),
        "{}",
        out.stderr
    );
    let (_, pulled) = attached_sbom(&other, &manifest_digest(&other, &name));
    assert_eq!(pulled, doc);
    // And on to a store without a registry, through an archive: the
    // signature is over the registry's manifest, which the archive carries.
    let archive = other.path("pulled.tar");
    other
        .sealer()
        .args(["save", "-q", "-o"])
        .arg(&archive)
        .arg(&name)
        .ok();
    let third = fresh();
    let policy = sigstore_policy(&third, "policy.json", &public);
    load(&third, &archive)
        .arg("--signature-policy")
        .arg(&policy)
        .ok();
    let (_, loaded) = attached_sbom(&third, &manifest_digest(&third, &name));
    assert_eq!(loaded, doc);
    verify(&third, &public, &name).ok();
}

#[test]
fn rmi_takes_signature_entries_with_the_last_name() {
    let env = Env::new();
    let (private, _) = keys(&env);
    build(&env, "one:v1", "six", &[]);
    sign(&env, &private, "one:v1");
    env.run(&["tag", "one:v1", "two:v1"]);
    env.run(&["rmi", "one:v1"]);
    assert_eq!(signature_entries(&env), 1, "two:v1 still names it");
    env.run(&["rmi", "two:v1"]);
    assert_eq!(signature_entries(&env), 0);
    // A rebuilt tag leaves the old image's signature for prune.
    build(&env, "three:v1", "seven", &[]);
    sign(&env, &private, "three:v1");
    build(&env, "three:v1", "eight", &[]);
    assert_eq!(signature_entries(&env), 1);
    let out = env.run(&["prune"]);
    assert!(out.contains("1 signatures"), "{out}");
    assert_eq!(signature_entries(&env), 0);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
