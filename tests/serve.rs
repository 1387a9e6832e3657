//! `sealer serve` against real clients: a ClusterImage whose `registry/`
//! docker-registry itself wrote (images pushed with `skopeo`, one a
//! multi-platform index) is served on 127.0.0.1; Debian's `skopeo` copies
//! from it (also `--all`, also over TLS with htpasswd basic auth) with the
//! source's digests, `curl` checks ranges, HEAD, hostile paths and refused
//! writes, `sealer pull` gets the ClusterImage itself, and Debian's
//! `containerd` (on a private socket and root) pulls with `ctr`.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::image_cache::{layer_tar, noise, Layout};
use crate::registry::skopeo;
use crate::util::registry::Registry;
use crate::util::{host_arch, sha256_hex, store_image, tool, Env};

/// The served ClusterImage and the digests its container images had at
/// their source.
struct Fixture {
    env: Env,
    /// Manifest digest of `library/x:v1`.
    x: String,
    /// Index digest of `tigera/multi:v2`.
    multi: String,
    /// The biggest layer of `library/x:v1` and its digest.
    big: (Vec<u8>, String),
}

fn fixture() -> Fixture {
    let env = Env::new();
    let src = Registry::start();
    let mut l = Layout::new(env.path("layout"));
    let x = l.image(
        host_arch(),
        &[
            layer_tar(&[("etc/x", noise(1, 1000))]),
            layer_tar(&[("usr/lib/big", noise(7, 3 << 20))]),
        ],
    );
    l.tag(&x, "x");
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let a = l.image(host_arch(), &[layer_tar(&[("m", noise(2, 50_000))])]);
    let b = l.image(other, &[layer_tar(&[("m", noise(3, 50_000))])]);
    let index = l.index(&[(a, host_arch()), (b, other)]);
    l.tag(&index, "multi");
    l.push("x", &src.image("library/x:v1"));
    l.push("multi", &src.image("tigera/multi:v2"));
    // docker-registry's own storage, as the `registry/` of one layer.
    let mut t = tar::Builder::new(Vec::new());
    t.append_dir_all(
        "registry/docker/registry/v2",
        src.dir().join("data/docker/registry/v2"),
    )
    .expect("taring the registry storage");
    let registry_layer = t.into_inner().expect("tar");
    let rootfs = layer_tar(&[("Kubefile", b"FROM scratch\nCOPY . .\n".to_vec())]);
    store_image(&env, "k8s:v1", &[rootfs, registry_layer]);
    // skopeo gzipped the layers on their way up: the source's digests are
    // what the source registry serves.
    let plain = ["--tls-verify=false"];
    let x = served_digest(&src.image("library/x:v1"), &plain);
    let manifest: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}", src.image("library/x:v1")),
    ]))
    .expect("manifest JSON");
    let big_digest = manifest["layers"][1]["digest"]
        .as_str()
        .expect("a layer digest")
        .to_string();
    let big = fs::read(src.blob_data(&big_digest)).expect("the layer's bytes");
    Fixture {
        multi: served_digest(&src.image("tigera/multi:v2"), &plain),
        env,
        x,
        big: (big, big_digest),
    }
}

/// A running `sealer serve`, killed on drop (also when the test fails).
struct Serve {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Serve {
    fn start(env: &Env, extra: &[&str]) -> Serve {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = env.path(&format!("serve-{port}.log"));
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sealer"))
            .arg("--root")
            .arg(env.root())
            .args(["-v", "serve", "k8s:v1", "--addr", &addr])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("starting sealer serve");
        let mut s = Serve { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("sealer serve exited ({status}):\n{}", s.log());
            }
            if TcpStream::connect(&s.addr).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sealer serve not ready in 20 s:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn image(&self, path: &str) -> String {
        format!("{}/{path}", self.addr)
    }

    /// SIGTERM; the server must exit 0 within 15 s.
    fn stop(mut self) {
        tool("kill", &["-TERM", &self.child.id().to_string()], "procps");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting") {
                assert!(status.success(), "serve exited {status}:\n{}", self.log());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve still running 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Err(e) = self.child.kill() {
                eprintln!("killing sealer serve (pid {}): {e}", self.child.id());
            }
            let _ = self.child.wait();
        }
    }
}

/// The digest a registry serves for `image`.
fn served_digest(image: &str, extra: &[&str]) -> String {
    let reference = format!("docker://{image}");
    let mut args = vec!["inspect", "--raw"];
    args.extend_from_slice(extra);
    args.push(&reference);
    format!("sha256:{}", sha256_hex(skopeo(&args).as_bytes()))
}

/// `curl` of `url`: status, headers (lowercased names), body.
fn curl(args: &[&str], url: &str) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tmp");
    let (h, b) = (dir.path().join("h"), dir.path().join("b"));
    let out = Command::new("curl")
        .args(["-s", "--path-as-is", "-o"])
        .arg(&b)
        .arg("-D")
        .arg(&h)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl (apt-get install curl)");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let headers = fs::read_to_string(&h)
        .unwrap_or_default()
        .to_ascii_lowercase();
    (code, headers, fs::read(&b).unwrap_or_default())
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    v["errors"][0]["code"]
        .as_str()
        .expect("an error code")
        .to_string()
}

#[test]
fn skopeo_copies_container_images_with_the_source_digests() {
    let f = fixture();
    let s = Serve::start(&f.env, &[]);
    let plain = ["--tls-verify=false"];
    assert_eq!(served_digest(&s.image("library/x:v1"), &plain), f.x);
    assert_eq!(served_digest(&s.image("tigera/multi:v2"), &plain), f.multi);
    let dir = f.env.path("x-dir");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}", s.image("library/x:v1")),
        &format!("dir:{}", dir.display()),
    ]);
    let manifest = fs::read(dir.join("manifest.json")).expect("copied manifest");
    assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), f.x);
    let big = fs::read(dir.join(f.big.1.trim_start_matches("sha256:"))).expect("copied layer");
    assert!(big == f.big.0, "the big layer's bytes");
    let all = f.env.path("multi-oci");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}", s.image("tigera/multi:v2")),
        &format!("oci:{}:multi", all.display()),
    ]);
    let index: Value =
        serde_json::from_slice(&fs::read(all.join("index.json")).expect("index.json"))
            .expect("json");
    assert_eq!(
        index["manifests"][0]["digest"].as_str(),
        Some(f.multi.as_str())
    );

    let (code, _, body) = curl(&[], &format!("http://{}/v2/_catalog", s.addr));
    let v: Value = serde_json::from_slice(&body).expect("catalog JSON");
    assert_eq!(code, 200);
    assert_eq!(
        v["repositories"],
        serde_json::json!(["k8s", "library/x", "tigera/multi"])
    );
    let (_, _, body) = curl(&[], &format!("http://{}/v2/library/x/tags/list", s.addr));
    let v: Value = serde_json::from_slice(&body).expect("tags JSON");
    assert_eq!(v, serde_json::json!({"name": "library/x", "tags": ["v1"]}));
    let log = s.log();
    assert!(
        log.contains("\"GET /v2/library/x/manifests/v1 HTTP/1.1\" 200"),
        "{log}"
    );
    s.stop();
}

#[test]
fn tls_and_htpasswd_as_docker_registry_has_them() {
    let f = fixture();
    let certs = f.env.path("certs");
    fs::create_dir_all(&certs).expect("certs dir");
    let (cert, key) = (certs.join("ca.crt"), f.env.path("key.pem"));
    tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key.to_str().expect("utf-8"),
            "-out",
            cert.to_str().expect("utf-8"),
        ],
        "openssl",
    );
    let htpasswd = f.env.write(
        "htpasswd",
        tool("htpasswd", &["-Bbn", "alice", "s3cret"], "apache2-utils"),
    );
    let s = Serve::start(
        &f.env,
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
            "--htpasswd",
            htpasswd.to_str().expect("utf-8"),
        ],
    );
    let cert_dir = format!("--cert-dir={}", certs.display());
    assert_eq!(
        served_digest(
            &s.image("library/x:v1"),
            &[&cert_dir, "--creds=alice:s3cret"]
        ),
        f.x
    );
    let dir = f.env.path("x-tls");
    skopeo(&[
        "copy",
        &format!("--src-cert-dir={}", certs.display()),
        "--src-creds=alice:s3cret",
        &format!("docker://{}", s.image("library/x:v1")),
        &format!("dir:{}", dir.display()),
    ]);
    assert_eq!(
        format!(
            "sha256:{}",
            sha256_hex(&fs::read(dir.join("manifest.json")).expect("manifest"))
        ),
        f.x
    );
    for creds in ["--creds=alice:wrong", "--creds=bob:s3cret"] {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", &cert_dir, creds])
            .arg(format!("docker://{}", s.image("library/x:v1")))
            .output()
            .expect("skopeo");
        assert!(!out.status.success(), "{creds} was let in");
    }
    let url = format!("https://{}/v2/", s.addr);
    let (code, headers, body) = curl(&["--cacert", cert.to_str().expect("utf-8")], &url);
    assert_eq!((code, error_code(&body).as_str()), (401, "UNAUTHORIZED"));
    assert!(
        headers.contains("www-authenticate: basic realm="),
        "{headers}"
    );
    let (code, headers, _) = curl(
        &[
            "--cacert",
            cert.to_str().expect("utf-8"),
            "-u",
            "alice:s3cret",
        ],
        &url,
    );
    assert_eq!(code, 200);
    assert!(
        headers.contains("docker-distribution-api-version: registry/2.0"),
        "{headers}"
    );
    // Writes need auth first, then are refused.
    let (code, _, _) = curl(
        &["--cacert", cert.to_str().expect("utf-8"), "-X", "DELETE"],
        &format!("{url}library/x/manifests/v1"),
    );
    assert_eq!(code, 401);
    let (code, _, _) = curl(
        &[
            "--cacert",
            cert.to_str().expect("utf-8"),
            "-u",
            "alice:s3cret",
            "-X",
            "DELETE",
        ],
        &format!("{url}library/x/manifests/v1"),
    );
    assert_eq!(code, 405);
    s.stop();
}

#[test]
fn ranges_heads_hostile_paths_writes_and_dropped_clients() {
    let f = fixture();
    let s = Serve::start(&f.env, &[]);
    let base = format!("http://{}", s.addr);
    let blob = format!("{base}/v2/library/x/blobs/{}", f.big.1);
    let size = f.big.0.len();

    let (code, headers, body) = curl(&["-H", "Range: bytes=100-199"], &blob);
    assert_eq!(code, 206);
    assert_eq!(body, &f.big.0[100..200]);
    assert!(
        headers.contains(&format!("content-range: bytes 100-199/{size}")),
        "{headers}"
    );
    let (code, _, body) = curl(&["-H", "Range: bytes=-10"], &blob);
    assert_eq!((code, body.as_slice()), (206, &f.big.0[size - 10..]));
    let (code, headers, _) = curl(&["-H", &format!("Range: bytes={size}-")], &blob);
    assert_eq!(code, 416);
    assert!(
        headers.contains(&format!("content-range: bytes */{size}")),
        "{headers}"
    );
    let (code, headers, body) = curl(&["-I"], &blob);
    assert_eq!(code, 200);
    let _ = body;
    // HEAD has no body: the next answer on the connection follows the head.
    let mut c = TcpStream::connect(&s.addr).expect("connect");
    let two = format!(
        "HEAD /v2/library/x/blobs/{} HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        f.big.1
    );
    c.write_all(two.as_bytes()).expect("two requests");
    let mut answers = String::new();
    c.read_to_string(&mut answers).expect("two answers");
    assert_eq!(
        answers.matches("HTTP/1.1 200 OK\r\n").count(),
        2,
        "{answers}"
    );
    assert!(answers.ends_with("\r\n\r\n{}"), "{answers}");
    for h in [
        format!("content-length: {size}"),
        format!("docker-content-digest: {}", f.big.1),
        "docker-distribution-api-version: registry/2.0".to_string(),
        "accept-ranges: bytes".to_string(),
    ] {
        assert!(headers.contains(&h), "{h} in {headers}");
    }
    let (code, headers, body) = curl(&[], &blob);
    assert_eq!(code, 200);
    assert!(body == f.big.0, "the whole blob");
    assert!(headers.contains(&format!("content-length: {size}")));
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json";
    let (code, headers, _) = curl(
        &["-I", "-H", accept],
        &format!("{base}/v2/library/x/manifests/v1"),
    );
    assert_eq!(code, 200);
    assert!(
        headers.contains(&format!("docker-content-digest: {}", f.x)),
        "{headers}"
    );
    assert!(
        headers.contains("content-type: application/vnd.oci.image.manifest.v1+json"),
        "{headers}"
    );
    let (code, headers, _) = curl(
        &["-I"],
        &format!("{base}/v2/tigera/multi/manifests/{}", f.multi),
    );
    assert_eq!(code, 200);
    assert!(
        headers.contains("content-type: application/vnd.oci.image.index.v1+json"),
        "{headers}"
    );

    // Hostile and malformed requests: distribution's JSON errors, nothing else.
    let hostile = [
        ("/v2/../../etc/passwd", 404),
        ("/v2/library/x/../../../etc/manifests/v1", 404),
        ("/v2/library%2Fx/manifests/v1", 404),
        ("/v2/library/x/manifests/%2e%2e%2fv1", 404),
        ("/v2//etc/passwd/manifests/v1", 404),
        ("/v2/library/x/manifests/..", 400),
        ("/v2/library/x/blobs/sha256:1234", 400),
        ("/v2/library/x/blobs/../../../../etc/passwd", 400),
        ("/v2/nobody/here/manifests/v1", 404),
        ("/v2/library/x/manifests/v9", 404),
        ("/v2/library/x/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", 404),
        ("/etc/passwd", 404),
    ];
    for (path, status) in hostile {
        let (code, _, body) = curl(&[], &format!("{base}{path}"));
        assert_eq!(code, status, "{path}: {}", String::from_utf8_lossy(&body));
        error_code(&body);
    }
    let (_, _, body) = curl(&[], &format!("{base}/v2/nobody/manifests/v1"));
    assert_eq!(error_code(&body), "NAME_UNKNOWN");
    // A blob of the store that library/x does not link is not its blob.
    let (code, _, _) = curl(&[], &format!("{base}/v2/tigera/multi/blobs/{}", f.big.1));
    assert_eq!(code, 404);
    for method in ["DELETE", "PUT", "POST", "PATCH"] {
        for path in [
            "/v2/library/x/manifests/v1",
            "/v2/library/x/blobs/uploads/",
            "/v2/../x",
        ] {
            let (code, _, body) = curl(&["-X", method, "--data", "x"], &format!("{base}{path}"));
            assert_eq!(code, 405, "{method} {path}");
            assert_eq!(error_code(&body), "UNSUPPORTED");
        }
    }
    // Garbage and a client gone mid-blob cost nothing.
    let mut g = TcpStream::connect(&s.addr).expect("connect");
    g.write_all(b"\x16\x03\x01garbage\r\n\r\n").expect("write");
    let mut answer = String::new();
    let _ = g.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    for _ in 0..20 {
        let mut c = TcpStream::connect(&s.addr).expect("connect");
        let req = format!(
            "GET /v2/library/x/blobs/{} HTTP/1.1\r\nHost: x\r\n\r\n",
            f.big.1
        );
        c.write_all(req.as_bytes()).expect("request");
        let mut some = [0u8; 4096];
        c.read_exact(&mut some).expect("the start of the answer");
    }
    let (code, _, body) = curl(&[], &blob);
    assert!(code == 200 && body == f.big.0, "still serving");
    s.stop();
}

#[test]
fn sealer_pull_of_the_cluster_image_from_serve_equals_the_original() {
    let f = fixture();
    let s = Serve::start(&f.env, &[]);
    let original = f.env.inspect("k8s:v1");
    let other = Env::new();
    let name = s.image("k8s:v1");
    other.run(&["pull", &name]);
    let pulled = other.inspect(&name);
    assert_eq!(pulled["spec"]["id"], original["spec"]["id"]);
    assert_eq!(other.layer_ids(&name), f.env.layer_ids("k8s:v1"));
    other.run(&["fsck"]);
    s.stop();
}

/// Debian's containerd on a private root, state and socket; killed on drop.
struct Containerd {
    child: Child,
    sock: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let sock = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{root}/opt\"\n",
                root = dir.join("root").display(),
                state = dir.join("state").display(),
                sock = sock.display()
            ),
        )
        .expect("containerd config");
        let log = fs::File::create(dir.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run containerd ({e}): apt-get install containerd"));
        let c = Containerd { child, sock };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !c.sock.exists() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start:\n{}",
                fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("stopping containerd (pid {}): {e}", self.child.id());
        }
        let _ = self.child.wait();
    }
}

#[test]
fn containerd_pulls_from_serve_with_ctr() {
    let f = fixture();
    let s = Serve::start(&f.env, &[]);
    let dir = f.env.path("containerd");
    fs::create_dir_all(&dir).expect("containerd dir");
    let c = Containerd::start(&dir);
    let sock = c.sock.to_str().expect("utf-8");
    let image = s.image("library/x:v1");
    let out = tool(
        "ctr",
        &[
            "--address",
            sock,
            "images",
            "pull",
            "--plain-http",
            "--snapshotter",
            "native",
            &image,
        ],
        "containerd",
    );
    assert!(out.contains("done"), "{out}");
    let listed = tool("ctr", &["--address", sock, "images", "ls"], "containerd");
    let line = listed
        .lines()
        .find(|l| l.starts_with(&image))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains(&f.x), "{line}");
    drop(c);
    s.stop();
}
