//! `sealer serve`: a read-only OCI distribution endpoint for ClusterImages
//! and the container images in their `registry/`, served from the store
//! as it is (layer blobs and their indexes; nothing unpacked or copied).
//!
//! ```text
//! accept loop (main thread) --> one thread per connection, at most
//!   MAX_CONNECTIONS at once --> conn::serve: read request head, auth,
//!   route::parse, catalog lookup, answer (sendfile from the blob)
//! signal thread: SIGTERM/SIGINT/SIGHUP --> stop flag, shut the listener
//!   and every connection's read side: in-flight answers finish, idle
//!   connections end, the process exits 0 once they are gone (or after
//!   GRACE)
//! ```
//!
//! - `route`: paths, names, tags, digests (distribution's grammar) and
//!   error bodies; `http`: request heads, response heads, ranges;
//!   `catalog`: what is served and where its bytes are; `auth`: htpasswd
//!   with bcrypt; `tls`: rustls from PEM files.

pub mod auth;
pub mod catalog;
pub mod conn;
pub mod http;
pub mod route;
mod tls;

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use crate::error::{invalid, Error, Result};
use crate::store::Store;

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// A client silent this long (mid-request or idle between requests) or
/// not reading its answer is dropped.
const IDLE: Duration = Duration::from_secs(60);
/// How long a stopping server waits for answers in flight.
const GRACE: Duration = Duration::from_secs(10);

/// How to serve.
pub struct Options {
    /// `HOST:PORT` to listen on.
    pub addr: String,
    /// PEM certificate chain and private key, for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// htpasswd file (bcrypt) for basic auth.
    pub htpasswd: Option<PathBuf>,
    /// One log line per request.
    pub log_requests: bool,
}

/// A server bound and ready to run.
pub struct Server {
    listener: TcpListener,
    shared: Arc<conn::Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The signals that stop it, blocked in every thread.
    signals: SigSet,
}

impl Server {
    /// Opens what `images` name, reads the TLS and auth files and binds
    /// the address: every error comes before anything is served.
    pub fn bind(store: &Store, images: &[String], opts: &Options) -> Result<Server> {
        // Blocked before any thread starts, so every thread inherits it and
        // only the signal thread takes them.
        let mut signals = SigSet::empty();
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            signals.add(s);
        }
        signals
            .thread_block()
            .map_err(|e| invalid(format!("blocking signals: {e}")))?;
        let catalog = catalog::Catalog::open(store, images)?;
        let auth = opts
            .htpasswd
            .as_deref()
            .map(auth::Htpasswd::load)
            .transpose()?;
        let tls = opts
            .tls
            .as_ref()
            .map(|(cert, key)| tls::config(cert, key))
            .transpose()?;
        // `:PORT` is every address, as docker-registry's `http.addr` has it.
        let addr = match opts.addr.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => opts.addr.clone(),
        };
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| invalid(format!("--addr {}: {e}", opts.addr)))?
            .collect();
        let listener = TcpListener::bind(&addrs[..]).map_err(|e| Error::Io {
            path: PathBuf::from(&opts.addr),
            err: e,
        })?;
        Ok(Server {
            listener,
            shared: Arc::new(conn::Shared {
                catalog,
                auth,
                log_requests: opts.log_requests,
                stop: AtomicBool::new(false),
            }),
            tls,
            signals,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::Io {
            path: PathBuf::from("listening socket"),
            err: e,
        })
    }

    /// What it serves.
    pub fn catalog(&self) -> &catalog::Catalog {
        &self.shared.catalog
    }

    /// Serves until SIGTERM, SIGINT or SIGHUP; returns once the answers in
    /// flight are done (or after [`GRACE`]).
    pub fn run(self) -> Result<()> {
        let conns = Arc::new(Connections::default());
        let waker = self.listener.try_clone().map_err(|e| Error::Io {
            path: PathBuf::from("listening socket"),
            err: e,
        })?;
        {
            let (shared, conns, signals) = (self.shared.clone(), conns.clone(), self.signals);
            std::thread::Builder::new()
                .name("serve-signals".into())
                .spawn(move || {
                    if let Ok(sig) = signals.wait() {
                        log::info!("{sig}: stopping");
                    }
                    shared.stop.store(true, Ordering::SeqCst);
                    // Wakes the accept below (EINVAL on Linux).
                    let _ = nix::sys::socket::shutdown(
                        waker.as_raw_fd(),
                        nix::sys::socket::Shutdown::Both,
                    );
                    conns.shut_reads();
                })
                .map_err(|e| invalid(format!("starting the signal thread: {e}")))?;
        }
        let mut next_id = 0u64;
        loop {
            conns.wait_for_room(&self.shared.stop);
            if self.shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let (sock, peer) = match self.listener.accept() {
                Ok(a) => a,
                Err(_) if self.shared.stop.load(Ordering::SeqCst) => break,
                Err(e) => {
                    // Out of descriptors, a connection reset before accept:
                    // the server goes on.
                    log::warn!("accepting a connection: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            next_id += 1;
            self.start_connection(next_id, sock, peer, &conns);
        }
        conns.shut_reads();
        conns.wait_empty(GRACE);
        Ok(())
    }

    fn start_connection(
        &self,
        id: u64,
        sock: TcpStream,
        peer: SocketAddr,
        conns: &Arc<Connections>,
    ) {
        let setup = sock
            .set_nodelay(true)
            .and_then(|()| sock.set_read_timeout(Some(IDLE)))
            .and_then(|()| sock.set_write_timeout(Some(IDLE)))
            .and_then(|()| sock.try_clone());
        let handle = match setup {
            Ok(h) => h,
            Err(e) => {
                log::warn!("{peer}: {e}");
                return;
            }
        };
        let stream = match &self.tls {
            None => conn::Stream::Plain(sock),
            Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                Ok(c) => conn::Stream::Tls(Box::new(rustls::StreamOwned::new(c, sock))),
                Err(e) => {
                    log::warn!("{peer}: TLS: {e}");
                    return;
                }
            },
        };
        conns.add(id, handle);
        let (shared, conns2) = (self.shared.clone(), conns.clone());
        let spawned = std::thread::Builder::new()
            .name("serve-conn".into())
            .spawn(move || {
                conn::serve(&shared, stream, peer);
                conns2.remove(id);
            });
        if let Err(e) = spawned {
            log::warn!("{peer}: starting a thread: {e}");
            conns.remove(id);
        }
    }
}

/// The live connections: their sockets (to end them when stopping) and a
/// count to wait on.
#[derive(Default)]
struct Connections {
    live: Mutex<HashMap<u64, TcpStream>>,
    changed: Condvar,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, id: u64, s: TcpStream) {
        self.lock().insert(id, s);
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.notify_all();
    }

    /// Waits while [`MAX_CONNECTIONS`] are live (or until stopping).
    fn wait_for_room(&self, stop: &AtomicBool) {
        let mut live = self.lock();
        while live.len() >= MAX_CONNECTIONS && !stop.load(Ordering::SeqCst) {
            live = self
                .changed
                .wait_timeout(live, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Ends every connection's reading side: a connection waiting for a
    /// request ends, one answering finishes its answer.
    fn shut_reads(&self) {
        for s in self.lock().values() {
            let _ = s.shutdown(Shutdown::Read);
        }
    }

    /// Waits until no connection is live, at most `limit`.
    fn wait_empty(&self, limit: Duration) {
        let end = Instant::now() + limit;
        let mut live = self.lock();
        while !live.is_empty() {
            let now = Instant::now();
            if now >= end {
                log::warn!("stopping with {} answers unfinished", live.len());
                return;
            }
            live = self
                .changed
                .wait_timeout(live, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
