//! A static HTTP server for a test: `python3 -m http.server` on 127.0.0.1
//! and a free port, serving a directory; killed when the guard drops.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; stopped on drop.
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl HttpServer {
    /// Serves `dir`.
    pub fn serve(dir: &Path) -> HttpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 -m http.server ({e}): install python3"));
        let server = HttpServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python3 -m http.server did not listen in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("stopping python3 -m http.server: {e}");
        }
        let _ = self.child.wait();
    }
}
