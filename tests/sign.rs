//! Signatures in cosign's format (issue 22, part 1): keys, `sign`,
//! `verify`, signatures carried by push and pull, policy.json on pull.
//! Interop with the reference implementation is checked through fixtures
//! it made (tests/data/sign/README.md): its key opens here, its signature
//! verifies here.

use std::fs;
use std::path::PathBuf;

use crate::util::registry::Registry;
use crate::util::{fails_cleanly, Env};

/// The passphrase of the test keys.
pub(crate) const PASS: &str = "correct horse";

/// A file of tests/data/sign (the peers' fixtures).
pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sign")
        .join(name)
}

/// A key pair `k.key`/`k.pub` in the test directory.
pub(crate) fn keys(env: &Env) -> (PathBuf, PathBuf) {
    env.sealer()
        .env("SEALER_PASSWORD", PASS)
        .args(["generate-key-pair", "--output-key-prefix", "k"])
        .ok();
    (env.path("k.key"), env.path("k.pub"))
}

fn build(env: &Env, name: &str, content: &str) {
    let ctx = env.context(&format!("ctx-{content}"), &[("a.txt", content)]);
    env.write(
        &format!("ctx-{content}/Kubefile"),
        "FROM scratch\nCOPY . .\n",
    );
    env.build(name, &ctx);
}

fn sign(env: &Env, key: &PathBuf, image: &str, extra: &[&str]) {
    env.sealer()
        .env("SEALER_PASSWORD", PASS)
        .arg("sign")
        .args(extra)
        .arg("--key")
        .arg(key)
        .arg(image)
        .ok();
}

fn verify(env: &Env, key: &PathBuf, image: &str) -> crate::util::Sealer {
    env.sealer().arg("verify").arg("--key").arg(key).arg(image)
}

#[test]
fn key_pair_round_trip_and_bad_keys() {
    let env = Env::new();
    let (private, public) = keys(&env);
    let text = fs::read_to_string(&private).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"));
    assert!(fs::read_to_string(&public)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    build(&env, "signed:v1", "one");
    sign(&env, &private, "signed:v1", &[]);
    verify(&env, &public, "signed:v1").ok();
    // Wrong passphrase, no passphrase, corrupt and foreign keys: one line, store unchanged.
    let cmd = |pass: Option<&str>, key: &PathBuf| {
        let mut c = env
            .sealer()
            .arg("sign")
            .arg("--key")
            .arg(key)
            .arg("signed:v1");
        c = c.env("SEALER_PASSWORD", "").env("COSIGN_PASSWORD", "");
        match pass {
            Some(p) => c.env("SEALER_PASSWORD", p),
            None => c,
        }
    };
    fails_cleanly(&env, cmd(Some("wrong"), &private), &["wrong passphrase"]);
    let corrupt = env.write("corrupt.key", text.replace("eyJ", "AAA"));
    fails_cleanly(&env, cmd(Some(PASS), &corrupt), &["corrupt.key"]);
    fails_cleanly(
        &env,
        cmd(Some(PASS), &public),
        &["not an \"ENCRYPTED COSIGN PRIVATE KEY\""],
    );
    let garbage = env.write("garbage.pub", "hello");
    fails_cleanly(
        &env,
        verify(&env, &garbage, "signed:v1"),
        &["garbage.pub", "not a PEM public key"],
    );
}

#[test]
fn reference_key_and_signature_interop() {
    // cosignkey's key (go-tuf + x509) opens with its passphrase and signs
    // what our verify accepts.
    let env = Env::new();
    build(&env, "peer:v1", "two");
    env.sealer()
        .env("COSIGN_PASSWORD", "peer-pass")
        .arg("sign")
        .arg("--key")
        .arg(data("cosignkey.key"))
        .arg("peer:v1")
        .ok();
    verify(&env, &data("cosignkey.pub"), "peer:v1").ok();
    let (_, ours) = keys(&env);
    let line = verify(&env, &ours, "peer:v1").fails();
    assert!(line.contains("wrong key"), "{line}");
}

#[test]
fn unsigned_wrong_key_and_repository_mismatch() {
    let env = Env::new();
    let (private, public) = keys(&env);
    build(&env, "a/one:v1", "three");
    let line = fails_cleanly(
        &env,
        verify(&env, &public, "a/one:v1"),
        &["no signature found"],
    );
    assert!(line.starts_with("error: verifying a/one:v1"), "{line}");
    sign(&env, &private, "a/one:v1", &[]);
    fails_cleanly(
        &env,
        verify(&env, &data("cosignkey.pub"), "a/one:v1"),
        &["wrong key"],
    );
    // Another name for the same image is another repository.
    env.run(&["tag", "a/one:v1", "b/other:v1"]);
    fails_cleanly(
        &env,
        verify(&env, &public, "b/other:v1"),
        &["repository mismatch", "docker.io/a/one"],
    );
}

#[test]
fn registry_sign_verify_push_pull_and_policy() {
    let reg = Registry::start();
    let env = Env::new();
    let (private, public) = keys(&env);
    let signed = format!("{}/demo/signed:v1", reg.addr);
    let plain = format!("{}/demo/plain:v1", reg.addr);
    build(&env, &signed, "four");
    build(&env, &plain, "five");
    // A signed local image is pushed as stored, its signature with it.
    sign(&env, &private, &signed, &[]);
    let out = env.sealer().args(["push", &signed]).ok();
    assert!(
        out.stderr.contains("1 signature(s) pushed"),
        "{}",
        out.stderr
    );
    verify(&env, &public, &signed).arg("--remote").ok();
    env.run(&["push", "-q", &plain]);
    let line = verify(&env, &public, &plain).arg("--remote").fails();
    assert!(line.contains("no signature found"), "{line}");
    // Signing a registry reference writes its sha256-<hex>.sig tag.
    sign(&env, &private, &plain, &["--remote"]);
    verify(&env, &public, &plain).arg("--remote").ok();

    // Pull with a policy: signed accepted and verifiable offline; others rejected, store untouched.
    let policy = env.write(
        "policy.json",
        format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"docker":{{"{}/demo":[{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"matchRepository"}}}}]}}}}}}"#,
            reg.addr,
            public.display()
        ),
    );
    let other = Env::new();
    let pull = |image: &str, policy: &PathBuf| {
        other
            .sealer()
            .args(["pull", "-q", "--signature-policy"])
            .arg(policy)
            .arg(image)
    };
    pull(&signed, &policy).ok();
    verify(&other, &public, &signed).ok();
    let wrong_key = env.write(
        "policy-wrong.json",
        fs::read_to_string(&policy).unwrap().replace(
            public.to_str().unwrap(),
            data("cosignkey.pub").to_str().unwrap(),
        ),
    );
    fails_cleanly(
        &other,
        pull(&plain, &wrong_key),
        &["rejected by the signature policy", "wrong key"],
    );
    let elsewhere = format!("{}/else/x:v1", reg.addr);
    env.run(&["tag", &plain, &elsewhere]);
    env.run(&["push", "-q", &elsewhere]);
    fails_cleanly(&other, pull(&elsewhere, &policy), &["rejected", "reject"]);
    let unknown = env.write(
        "policy-unknown.json",
        r#"{"default":[{"type":"frobnicate"}]}"#,
    );
    fails_cleanly(
        &other,
        pull(&plain, &unknown),
        &["unknown requirement type \"frobnicate\""],
    );

    // A .sig tag holding garbage: an image manifest, no signed payload.
    let digest = verify(&env, &public, &plain).arg("--remote").ok().stdout;
    let hex = digest.trim().rsplit("sha256:").next().unwrap().to_string();
    let url = |tag: &str| format!("http://{}/v2/demo/plain/manifests/{tag}", reg.addr);
    let manifest = curl(&[
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &url("v1"),
    ]);
    let body = env.write("garbage.json", &manifest);
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &format!("@{}", body.display()),
        &url(&format!("sha256-{hex}.sig")),
    ]);
    let line = verify(&env, &public, &plain).arg("--remote").fails();
    assert!(line.contains("garbage"), "{line}");
}

#[test]
fn tampered_signature_entry_is_a_digest_mismatch() {
    let env = Env::new();
    let (private, public) = keys(&env);
    build(&env, "one:v1", "six");
    build(&env, "two:v1", "seven");
    sign(&env, &private, "one:v1", &[]);
    let index = fs::read_to_string(env.root().join("index.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&index).unwrap();
    let digest_of = |name: &str| {
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (one, two) = (digest_of("one:v1"), digest_of("two:v1"));
    let tampered = index.replace(
        &format!("\"io.sealer.signature.of\": \"{one}\""),
        &format!("\"io.sealer.signature.of\": \"{two}\""),
    );
    assert_ne!(tampered, index);
    fs::write(env.root().join("index.json"), tampered).unwrap();
    fails_cleanly(
        &env,
        verify(&env, &public, "two:v1"),
        &["digest mismatch", &one],
    );
}

fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sSf"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sigtool_signature_verifies() {
    // containers/image's own signature (payload with optional.creator and
    // a tagged docker-reference), as sigtool wrote it.
    use sealer::sign::{payload, PublicKey};
    let key = PublicKey::from_pem(&fs::read(data("cosignkey.pub")).unwrap()).unwrap();
    let body = fs::read(data("sigtool.payload.json")).unwrap();
    let sig = fs::read_to_string(data("sigtool.sig.b64")).unwrap();
    assert!(key.verifies(&body, &sig));
    assert!(!key.verifies(&body[1..], &sig));
    let claim = payload::parse_payload(&body).unwrap();
    assert_eq!(
        claim.digest,
        "sha256:9505a96422115356668e2cd820cb304020c0e2325e7801b28cdb52f0d2c84ad0"
    );
    assert_eq!(claim.docker_reference, "127.0.0.1:5123/demo/peer:v1");
    let manifest = fs::read(data("sigtool.sig-manifest.json")).unwrap();
    let layers = payload::signature_layers(&manifest).unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[1].1, sig.trim());
}
