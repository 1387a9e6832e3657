//! `sealer sbom` and `build --sbom` (SPDX 2.3 checked by `pyspdxtools`,
//! which `scripts/test.sh` installs; CycloneDX 1.5 checked structurally),
//! the SBOM referrer pushed to Debian's docker-registry (no referrers API:
//! the `sha256-<hex>` tag), and reproducible builds (`SOURCE_DATE_EPOCH`,
//! `build --timestamp`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::registry::{jsonv, raw_manifest};
use crate::util::registry::Registry;
use crate::util::{sha256_hex, Env};

const LINK: &str =
    "registry/docker/registry/v2/repositories/library/nginx/_manifests/tags/1.25/current/link";
const NGINX: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A program on PATH (a Go binary of Debian's that the tests use anyway).
fn on_path(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} is not on PATH: apt-get install docker-registry (scripts/test.sh does)"
            )
        })
}

/// A context with a text file, a Go binary, two charts, a cached image's tag.
fn context(env: &Env) -> PathBuf {
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("etc/hello.txt", "hello\n"),
            (
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.3.1\n",
            ),
            ("charts/web/values.yaml", "image: nginx\n"),
            (
                "application/apps/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 12.0.0\n",
            ),
            (LINK, NGINX),
        ],
    );
    fs::create_dir_all(ctx.join("bin")).expect("bin/");
    fs::copy(on_path("docker-registry"), ctx.join("bin/registry")).expect("copying a Go binary");
    ctx
}

fn build(env: &Env, tag: &str, ctx: &Path, extra: &[&str]) {
    env.sealer()
        .args(["build", "--build-mode", "lite", "-t", tag])
        .args(extra)
        .arg(ctx)
        .ok();
}

/// `pyspdxtools -i FILE` must exist and accept the document.
fn pyspdxtools(file: &Path) {
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run pyspdxtools ({e}): pip install spdx-tools (scripts/test.sh does)")
        });
    assert!(
        out.status.success(),
        "pyspdxtools rejects {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn purls(doc: &Value) -> Vec<String> {
    doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(String::from))
        .collect()
}

#[test]
fn sbom_spdx_lists_files_go_modules_images_and_charts() {
    let env = Env::new();
    let ctx = context(&env);
    build(&env, "k8s:v1", &ctx, &["--timestamp", "1700000000"]);
    let out = env.path("k8s.spdx.json");
    env.run(&["sbom", "k8s:v1", "-o", out.to_str().expect("utf-8")]);
    pyspdxtools(&out);
    let text = fs::read_to_string(&out).expect("the SBOM");
    // Deterministic: stdout gives the same bytes.
    assert_eq!(env.run(&["sbom", "k8s:v1"]), text);
    let doc = jsonv(&text, "the SBOM");
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let manifest = fs::read_to_string(env.root().join("index.json")).expect("index.json");
    let digest = jsonv(&manifest, "index.json")["manifests"][0]["digest"]
        .as_str()
        .expect("a digest")
        .to_string();
    let hex = digest.trim_start_matches("sha256:");
    assert!(doc["documentNamespace"]
        .as_str()
        .expect("ns")
        .ends_with(hex));
    let purls = purls(&doc);
    let want = [
        format!("pkg:oci/k8s@sha256%3A{hex}?repository_url=k8s&tag=v1"),
        format!(
            "pkg:oci/nginx@sha256%3A{}?repository_url=library/nginx&tag=1.25",
            &NGINX[7..]
        ),
        "pkg:helm/web@0.3.1".to_string(),
        "pkg:helm/db@12.0.0".to_string(),
        "pkg:golang/github.com/docker/distribution/cmd/registry".to_string(),
    ];
    for w in &want {
        assert!(purls.contains(w), "{w} missing from {purls:#?}");
    }
    assert!(
        purls.iter().any(|p| p.starts_with("pkg:golang/stdlib@1.")),
        "no stdlib in {purls:#?}"
    );
    let files = doc["files"].as_array().expect("files");
    let hello = files
        .iter()
        .find(|f| f["fileName"] == "./etc/hello.txt")
        .expect("etc/hello.txt listed");
    let sums = hello["checksums"].as_array().expect("checksums");
    assert!(sums
        .iter()
        .any(|c| c["algorithm"] == "SHA256" && c["checksumValue"] == sha256_hex(b"hello\n")));
    let names: Vec<&str> = files
        .iter()
        .filter_map(|f| f["fileName"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "files are sorted");
    assert_eq!(names.len(), 7, "{names:?}");
    // The Go binary CONTAINS its modules.
    let bin = files
        .iter()
        .find(|f| f["fileName"] == "./bin/registry")
        .expect("bin/registry");
    let contains = doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .filter(|r| r["spdxElementId"] == bin["SPDXID"] && r["relationshipType"] == "CONTAINS")
        .count();
    assert_eq!(contains, 2, "main package and stdlib");
}

#[test]
fn sbom_cyclonedx_is_cyclonedx_1_5() {
    let env = Env::new();
    let ctx = context(&env);
    build(&env, "k8s:v1", &ctx, &[]);
    let doc = jsonv(
        &env.run(&["sbom", "--format", "cyclonedx-json", "k8s:v1"]),
        "the CycloneDX SBOM",
    );
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.5");
    assert!(doc["serialNumber"]
        .as_str()
        .expect("serial")
        .starts_with("urn:uuid:"));
    assert_eq!(doc["metadata"]["component"]["type"], "container");
    let comps = doc["components"].as_array().expect("components");
    let mut refs = std::collections::HashSet::new();
    for c in comps {
        assert!(c["type"].is_string() && c["name"].is_string(), "{c}");
        assert!(
            refs.insert(c["bom-ref"].as_str().expect("bom-ref")),
            "bom-refs unique"
        );
        if c["type"] == "file" {
            let h = c["hashes"].as_array().expect("hashes");
            assert!(h
                .iter()
                .any(|h| h["alg"] == "SHA-256"
                    && h["content"].as_str().is_some_and(|s| s.len() == 64)));
        } else {
            assert!(c["purl"].as_str().expect("purl").starts_with("pkg:"), "{c}");
        }
    }
    for dep in doc["dependencies"].as_array().expect("dependencies") {
        for d in dep["dependsOn"].as_array().expect("dependsOn") {
            assert!(
                refs.contains(d.as_str().expect("a ref")),
                "{d} is a component"
            );
        }
    }
    let hello = comps
        .iter()
        .find(|c| c["name"] == "etc/hello.txt")
        .expect("hello");
    assert_eq!(hello["hashes"][1]["content"], sha256_hex(b"hello\n"));
    assert!(comps.iter().any(|c| c["purl"] == "pkg:helm/web@0.3.1"));
}

#[test]
fn sbom_build_attaches_a_referrer_that_push_uploads() {
    let env = Env::new();
    let ctx = context(&env);
    build(&env, "k8s:v1", &ctx, &["--sbom"]);
    let index = jsonv(
        &fs::read_to_string(env.root().join("index.json")).expect("index.json"),
        "index.json",
    );
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let hex = digest.trim_start_matches("sha256:").to_string();
    let list = env.root().join(format!("referrers/{hex}.json"));
    let list = jsonv(
        &fs::read_to_string(&list).expect("the referrers list"),
        "referrers",
    );
    let art = list["manifests"][0].clone();
    assert_eq!(art["artifactType"], "application/spdx+json");
    let art_digest = art["digest"].as_str().expect("digest");
    let manifest = jsonv(
        &fs::read_to_string(env.blob(art_digest)).expect("artifact manifest"),
        "artifact",
    );
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let sbom = manifest["layers"][0]["digest"]
        .as_str()
        .expect("sbom digest");
    // The attached SBOM is what `sealer sbom` prints.
    let attached = fs::read_to_string(env.blob(sbom)).expect("the SBOM blob");
    assert_eq!(attached, env.run(&["sbom", "k8s:v1"]));
    // prune keeps it while the image lives.
    env.run(&["prune"]);
    assert!(env.blob(sbom).exists(), "prune kept the SBOM");

    let reg = Registry::start();
    let dest = reg.image("library/k8s:v1");
    env.run(&["push", "-q", "k8s:v1", &dest]);
    // docker-registry 2.8 has no referrers API: the fallback tag lists it.
    let tags = crate::util::tool(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}", reg.image("library/k8s")),
        ],
        "skopeo",
    );
    let tags = jsonv(&tags, "tags");
    let fallback = tags["Tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .find(|t| t.starts_with("sha256-"))
        .unwrap_or_else(|| panic!("no sha256-<hex> tag in {tags}"))
        .to_string();
    let idx = raw_manifest(&reg.image(&format!("library/k8s:{fallback}")));
    let entry = idx["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["artifactType"] == "application/spdx+json")
        .unwrap_or_else(|| panic!("no SBOM in {idx}"))
        .clone();
    let art = raw_manifest(&reg.image(&format!(
        "library/k8s@{}",
        entry["digest"].as_str().expect("digest")
    )));
    assert_eq!(art["artifactType"], "application/spdx+json");
    // The subject is the manifest as the registry has it (gzip layers).
    let served = crate::util::tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{dest}"),
        ],
        "skopeo",
    );
    assert_eq!(
        art["subject"]["digest"],
        format!("sha256:{}", sha256_hex(served.as_bytes()))
    );
    assert_eq!(
        fallback,
        format!("sha256-{}", &sha256_hex(served.as_bytes()))
    );
    let blob = fs::read_to_string(reg.blob_data(art["layers"][0]["digest"].as_str().expect("d")))
        .expect("the SBOM in the registry");
    assert_eq!(blob, attached);

    // rmi drops the image and its SBOM.
    env.run(&["rmi", "k8s:v1"]);
    assert!(!env.blob(sbom).exists(), "the SBOM went with its image");
    assert!(!env.root().join(format!("referrers/{hex}.json")).exists());
}

fn manifest_digest(env: &Env, tag: &str) -> String {
    let index = jsonv(
        &fs::read_to_string(env.root().join("index.json")).expect("index.json"),
        "index.json",
    );
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|n| n.ends_with(tag))
        })
        .and_then(|m| m["digest"].as_str())
        .expect("the tag")
        .to_string()
}

fn config(env: &Env, tag: &str) -> Value {
    let m = jsonv(
        &fs::read_to_string(env.blob(&manifest_digest(env, tag))).expect("manifest"),
        "manifest",
    );
    jsonv(
        &fs::read_to_string(env.blob(m["config"]["digest"].as_str().expect("config")))
            .expect("config"),
        "config",
    )
}

#[test]
fn reproducible_build_same_digest_whatever_the_mtimes() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            (
                "Kubefile",
                "FROM scratch\nCOPY . .\nRUN echo made > etc/by-run.txt\nLABEL a=b\n",
            ),
            ("etc/a.txt", "a\n"),
            ("bin/tool", "#!/bin/sh\n"),
        ],
    );
    let touch = |secs: &str| {
        for f in ["etc/a.txt", "bin/tool", "etc", "Kubefile"] {
            crate::util::tool(
                "touch",
                &["-d", secs, ctx.join(f).to_str().expect("utf-8")],
                "coreutils",
            );
        }
    };
    touch("@1800000000");
    env.sealer()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--build-mode", "lite", "--no-cache", "-t", "r:1"])
        .arg(&ctx)
        .ok();
    touch("@1900000000");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.sealer()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--build-mode", "lite", "--no-cache", "-t", "r:2"])
        .arg(&ctx)
        .ok();
    assert_eq!(manifest_digest(&env, "r:1"), manifest_digest(&env, "r:2"));
    let c = config(&env, "r:1");
    assert_eq!(c["created"], "2023-11-14T22:13:20Z");
    for h in c["history"].as_array().expect("history") {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{h}");
    }
    // Every mtime in the layers is clamped (the RUN's file included).
    let out = env.run(&["ls", "-l", "-R", "r:1"]);
    assert!(out.contains("by-run.txt"), "{out}");
    for d in c["rootfs"]["diff_ids"].as_array().expect("diff_ids") {
        let tar = fs::read(env.blob(d.as_str().expect("digest"))).expect("layer");
        let mut a = tar::Archive::new(&tar[..]);
        for e in a.entries().expect("entries") {
            let e = e.expect("entry");
            let m = e.header().mtime().expect("mtime");
            assert!(m <= 1_700_000_000, "{:?} has mtime {m}", e.path());
        }
    }
    // --timestamp wins over the environment.
    env.sealer()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "build",
            "--build-mode",
            "lite",
            "--timestamp",
            "1600000000",
            "-t",
            "r:3",
        ])
        .arg(&ctx)
        .ok();
    assert_eq!(config(&env, "r:3")["created"], "2020-09-13T12:26:40Z");
    assert_ne!(manifest_digest(&env, "r:3"), manifest_digest(&env, "r:1"));
    // Without either, created is now.
    build(&env, "r:4", &ctx, &[]);
    let created = config(&env, "r:4")["created"]
        .as_str()
        .expect("created")
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let year: u64 = created[..4].parse().expect("a year");
    assert!(year + 1 >= 1970 + now / 31_556_952, "created {created}");
}
