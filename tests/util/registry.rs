//! A real registry for a test: Debian's `docker-registry` on 127.0.0.1 and a
//! free port, with storage in a temporary directory, optionally behind
//! htpasswd basic auth; killed by PID when the guard drops. Its access log
//! counts what clients sent.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tool;

pub mod token;

/// A running registry; stopped on drop.
pub struct Registry {
    child: Child,
    /// The token service of a registry with bearer auth.
    pub token: Option<token::TokenServer>,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    dir: tempfile::TempDir,
    /// Directories that must outlive the registry (auth files).
    keep: Vec<tempfile::TempDir>,
}

impl Registry {
    /// An open registry.
    pub fn start() -> Registry {
        Registry::spawn(None)
    }

    /// A registry with bearer-token auth: its token service gives tokens
    /// to `user`/`password` (basic auth on the token request).
    pub fn with_token_auth(user: &str, password: &str) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("sealer-token-")
            .tempdir()
            .expect("a temporary directory for the token service");
        let server = token::TokenServer::start(dir.path(), user, password);
        let auth = format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            server.realm,
            token::SERVICE,
            token::ISSUER,
            server.cert.display()
        );
        let mut reg = Registry::spawn_with(auth);
        reg.token = Some(server);
        reg.keep.push(dir);
        reg
    }

    /// A registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Registry {
        let line = tool("htpasswd", &["-Bbn", user, password], "apache2-utils");
        Registry::spawn(Some(line))
    }

    fn spawn(htpasswd: Option<String>) -> Registry {
        match htpasswd {
            None => Registry::spawn_with(String::new()),
            Some(line) => {
                let dir = tempfile::Builder::new()
                    .prefix("sealer-htpasswd-")
                    .tempdir()
                    .expect("a temporary directory");
                let path = dir.path().join("htpasswd");
                fs::write(&path, line).expect("writing htpasswd");
                let auth = format!(
                    "auth:\n  htpasswd:\n    realm: sealer-test\n    path: {}\n",
                    path.display()
                );
                let mut reg = Registry::spawn_with(auth);
                reg.keep.push(dir);
                reg
            }
        }
    }

    /// A read-only registry serving an existing storage directory (a
    /// ClusterImage's `registry/`, as sealer runs it at install time).
    pub fn serving(rootdirectory: &Path) -> Registry {
        let storage = format!(
            "storage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\n    readonly:\n      enabled: true\n",
            rootdirectory.display()
        );
        Registry::spawn_config(storage, String::new())
    }

    fn spawn_with(auth: String) -> Registry {
        Registry::spawn_config(String::new(), auth)
    }

    fn spawn_config(storage: String, auth: String) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("sealer-registry-")
            .tempdir()
            .expect("a temporary directory for the registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = if storage.is_empty() {
            format!(
                "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n",
                dir.path().join("data").display()
            )
        } else {
            storage
        };
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             {storage}http:\n  addr: {addr}\n"
        );
        config.push_str(&auth);
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("writing the registry config");
        let log = File::create(dir.path().join("registry.log")).expect("the registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run docker-registry ({e}); install it with `apt-get install docker-registry` (.ci/run does)")
            });
        let mut reg = Registry {
            child,
            token: None,
            addr,
            dir,
            keep: Vec::new(),
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {} in 20 s:\n{}",
            self.addr,
            self.log()
        );
    }

    /// `127.0.0.1:<port>/<path>`.
    pub fn image(&self, path: &str) -> String {
        format!("{}/{path}", self.addr)
    }

    /// Everything the registry logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Requests in the access log so far whose request line starts with
    /// `method` and contains `part` (e.g. "PUT", "/blobs/uploads/").
    pub fn requests(&self, method: &str, part: &str) -> usize {
        self.log()
            .lines()
            .filter_map(|l| l.split_once(&format!("\"{method} ")).map(|(_, r)| r))
            .filter(|r| r.split(' ').next().is_some_and(|uri| uri.contains(part)))
            .count()
    }

    /// Where the registry keeps the bytes of blob `sha256:<hex>`.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A pull-through cache of `upstream` (docker-registry's `proxy`
    /// mode), with storage of its own.
    pub fn proxy_of(upstream: &Registry) -> Registry {
        let proxy = format!("proxy:\n  remoteurl: http://{}\n", upstream.addr);
        Registry::spawn_config(String::new(), proxy)
    }

    /// Stops the registry (its storage stays), as a registry that goes away.
    pub fn stop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("stopping docker-registry (pid {}): {e}", self.child.id());
        }
        let _ = self.child.wait();
    }

    /// Starts a stopped registry again, same address, same storage.
    pub fn restart(&mut self) {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .expect("the registry log");
        self.child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("restarting docker-registry");
        self.wait_ready();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Killed by its own PID; a failure to kill is reported, not hidden.
        if let Err(e) = self.child.kill() {
            eprintln!("stopping docker-registry (pid {}): {e}", self.child.id());
        }
        let _ = self.child.wait();
    }
}
