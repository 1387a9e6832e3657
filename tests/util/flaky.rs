//! A TCP proxy in front of a test registry that drops one download midway:
//! the first GET whose request line contains a given string gets only the
//! first bytes of its answer, then the connection is closed, as a flaky
//! network does. One request per connection; every request line and its
//! `Range` header are recorded.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Request lines seen, each with its `Range` header if any.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// The proxy; stopped on drop.
pub struct FlakyProxy {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Request lines seen, each with its `Range` header if any.
    pub seen: Seen,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FlakyProxy {
    /// Proxies to `upstream`; cuts the first GET containing `cut` after
    /// [`CUT_AFTER`] bytes of its answer.
    pub fn start(upstream: &str, cut: &str) -> FlakyProxy {
        FlakyProxy::spawn(upstream, cut, false)
    }

    /// Proxies to `upstream`, dropping every `Range` header: a server that
    /// answers range requests with the whole blob.
    pub fn without_ranges(upstream: &str) -> FlakyProxy {
        FlakyProxy::spawn(upstream, "\0never", true)
    }

    fn spawn(upstream: &str, cut: &str, strip_ranges: bool) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let cut_done = Arc::new(AtomicBool::new(false));
        let (upstream, cut) = (upstream.to_string(), cut.to_string());
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (up, cut, seen, done) = (
                            upstream.clone(),
                            cut.clone(),
                            seen2.clone(),
                            cut_done.clone(),
                        );
                        std::thread::spawn(move || {
                            serve(client, &up, &cut, &seen, &done, strip_ranges)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FlakyProxy {
            addr,
            seen,
            stop,
            accept: Some(accept),
        }
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    cut: &str,
    seen: &Mutex<Vec<(String, Option<String>)>>,
    cut_done: &AtomicBool,
    strip_ranges: bool,
) {
    let _ = client.set_nonblocking(false);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            // Plain HTTP only: a TLS hello (0x16) is refused at once.
            Ok(1) if !head.is_empty() || byte[0].is_ascii_uppercase() => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or("").to_string();
    let mut range = None;
    let mut forwarded = format!("{request}\r\n");
    for l in lines.filter(|l| !l.is_empty()) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if lower.starts_with("range:") {
            range = Some(l[6..].trim().to_string());
            if strip_ranges {
                continue;
            }
        }
        forwarded.push_str(l);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let cut_this = request.starts_with("GET ")
        && request.contains(cut)
        && range.is_none()
        && !cut_done.swap(true, Ordering::SeqCst);
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((request, range));
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    if up.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 << 10];
    let mut sent = 0usize;
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) if cut_this => n.min(CUT_AFTER - sent),
            Ok(n) => n,
        };
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
        if cut_this && sent >= CUT_AFTER {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Bytes of the cut answer (headers included) passed before the cut.
pub const CUT_AFTER: usize = 64 << 10;

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}
