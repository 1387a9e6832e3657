//! One client connection: requests read one after the other (keep-alive),
//! each answered as docker-registry answers it, bodies sent from where the
//! bytes are: `sendfile(2)` from the layer blob's range over plain TCP,
//! `pread` through a buffer under TLS or for partly present layers. A client
//! that goes away mid-body ends the write with an error and frees the
//! thread; nothing else is affected.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::auth::Htpasswd;
use super::catalog::{BlobBody, Catalog};
use super::http::{self, HeadError, Range, Request};
use super::route::{self, ApiError, Reference, Route};

/// Bytes per `pread` when a body cannot go through `sendfile`.
const CHUNK: usize = 256 << 10;
/// Largest `sendfile` call (the kernel caps one call near 2 GiB anyway).
const SENDFILE_MAX: usize = 8 << 20;

/// What every connection shares.
pub struct Shared {
    /// What is served.
    pub catalog: Catalog,
    /// Users, when basic auth is on.
    pub auth: Option<Htpasswd>,
    /// One log line per request.
    pub log_requests: bool,
    /// Set when the server is stopping: connections end after the
    /// request in flight.
    pub stop: AtomicBool,
}

/// A client's byte stream.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// What was answered, for the log line.
struct Answer {
    status: u16,
    bytes: u64,
    user: Option<String>,
    /// The connection must end after this answer.
    close: bool,
}

/// Serves the requests of one connection until it ends.
pub fn serve(shared: &Shared, stream: Stream, peer: SocketAddr) {
    let mut r = BufReader::with_capacity(16 << 10, stream);
    // A TLS handshake on the plain port (a client trying HTTPS first, as
    // skopeo and docker do on insecure registries) need not end in a line
    // break: answer it at once, so the client falls back to HTTP.
    if matches!(r.get_ref(), Stream::Plain(_))
        && r.fill_buf().is_ok_and(|b| b.first() == Some(&0x16))
    {
        let _ = r.get_mut().write_all(
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
        if shared.log_requests {
            log::info!("{peer} - \"TLS handshake on the plain HTTP port\" 400 0");
        }
        if let Stream::Plain(t) = r.get_mut() {
            let _ = t.shutdown(Shutdown::Both);
        }
        return;
    }
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let req = match http::read_head(&mut r) {
            Ok(req) => req,
            Err(HeadError::Closed) => break,
            Err(HeadError::Io(e)) => {
                log::debug!("{peer}: {e}");
                break;
            }
            Err(HeadError::Bad(status, why)) => {
                let body = format!("{why}\n");
                let head = [("Content-Type", "text/plain; charset=utf-8".to_string())];
                if http::write_head(r.get_mut(), status, &head, body.len() as u64, true)
                    .and_then(|()| r.get_mut().write_all(body.as_bytes()))
                    .is_ok()
                {
                    let _ = r.get_mut().flush();
                }
                if shared.log_requests {
                    log::info!("{peer} - \"?\" {status} {} ({why})", body.len());
                }
                break;
            }
        };
        let started = Instant::now();
        let close = !req.keep_alive() || req.has_body();
        let answer = answer(shared, &req, r.get_mut(), close);
        let ok = answer.is_ok();
        let a = answer.unwrap_or_else(|e| Answer {
            status: 0,
            bytes: 0,
            user: None,
            close: {
                log::debug!("{peer}: {} {}: {e}", req.method, req.target);
                true
            },
        });
        if shared.log_requests {
            log::info!(
                "{peer} {} \"{} {} {}\" {} {} {:.1}ms{}",
                a.user.as_deref().unwrap_or("-"),
                req.method,
                req.target,
                req.version,
                a.status,
                a.bytes,
                started.elapsed().as_secs_f64() * 1000.0,
                if ok { "" } else { " (client gone)" }
            );
        }
        if a.close || close || r.get_mut().flush().is_err() {
            break;
        }
    }
    let s = r.get_mut();
    if let Stream::Tls(t) = s {
        t.conn.send_close_notify();
        let _ = t.flush();
    }
    let tcp = match s {
        Stream::Plain(t) => &*t,
        Stream::Tls(t) => &t.sock,
    };
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Answers one request; an error means the connection failed.
fn answer(shared: &Shared, req: &Request, w: &mut Stream, close: bool) -> io::Result<Answer> {
    let (path, query) = route::split_target(&req.target);
    let head_only = req.method == "HEAD";
    let mut user = None;
    if let Some(auth) = &shared.auth {
        match auth.check(req.header("authorization")) {
            Some(u) => user = Some(u),
            None => {
                let e = ApiError::new(401, "UNAUTHORIZED", "authentication required");
                let extra = [("WWW-Authenticate", "Basic realm=\"sealer\"".to_string())];
                return send_error(w, &e, &extra, head_only, close);
            }
        }
    }
    let mut a = if !matches!(req.method.as_str(), "GET" | "HEAD") {
        // Every write, to any path: the body is not read, the connection ends.
        refuse_write(w, head_only, true)?
    } else {
        match route::parse(path) {
            Err(e) => send_error(w, &e, &[], head_only, close)?,
            Ok(Route::Upload(_)) => {
                let e = ApiError::new(
                    404,
                    "BLOB_UPLOAD_UNKNOWN",
                    "blob upload unknown to registry",
                );
                send_error(w, &e, &[], head_only, close)?
            }
            Ok(r) => route_read(shared, r, query, req, w, close)?,
        }
    };
    a.user = user;
    Ok(a)
}

fn refuse_write(w: &mut Stream, head_only: bool, close: bool) -> io::Result<Answer> {
    let e = ApiError::new(
        405,
        "UNSUPPORTED",
        "the registry is read-only: sealer serve refuses writes",
    );
    let extra = [("Allow", "GET, HEAD".to_string())];
    send_error(w, &e, &extra, head_only, close)
}

fn route_read(
    shared: &Shared,
    r: Route,
    query: &str,
    req: &Request,
    w: &mut Stream,
    close: bool,
) -> io::Result<Answer> {
    let head_only = req.method == "HEAD";
    let cat = &shared.catalog;
    let json = |v: serde_json::Value| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        b
    };
    let result: Result<Answer, ApiError> = match r {
        Route::Base => {
            return send_bytes(w, 200, &[json_type()], b"{}", head_only, close);
        }
        Route::Catalog => match route::pagination(query) {
            Ok((n, last)) => {
                let (repos, more) = route::page(cat.repositories(), n, last.as_deref());
                let mut h = vec![json_type()];
                if let (true, Some(last)) = (more, repos.last()) {
                    h.push((
                        "Link",
                        format!(
                            "</v2/_catalog?last={last}&n={}>; rel=\"next\"",
                            n.unwrap_or(0)
                        ),
                    ));
                }
                let body = json(serde_json::json!({ "repositories": repos }));
                return send_bytes(w, 200, &h, &body, head_only, close);
            }
            Err(e) => Err(e),
        },
        Route::Tags(name) => match (cat.tags(&name), route::pagination(query)) {
            (None, _) => Err(ApiError::name_unknown(&name)),
            (_, Err(e)) => Err(e),
            (Some(tags), Ok((n, last))) => {
                let (tags, more) = route::page(&tags, n, last.as_deref());
                let mut h = vec![json_type()];
                if let (true, Some(last)) = (more, tags.last()) {
                    h.push((
                        "Link",
                        format!(
                            "</v2/{name}/tags/list?last={last}&n={}>; rel=\"next\"",
                            n.unwrap_or(0)
                        ),
                    ));
                }
                let body = json(serde_json::json!({ "name": name, "tags": tags }));
                return send_bytes(w, 200, &h, &body, head_only, close);
            }
        },
        Route::Manifest(name, reference) => {
            let found = match &reference {
                Reference::Tag(t) => cat.manifest_by_tag(&name, t),
                Reference::Digest(d) => cat.manifest_by_digest(&name, d),
            };
            match found {
                Ok(Some(m)) => {
                    let d = m.digest.to_string();
                    let h = [
                        ("Content-Type", m.media_type.clone()),
                        ("Docker-Content-Digest", d.clone()),
                        ("ETag", format!("\"{d}\"")),
                    ];
                    return send_bytes(w, 200, &h, &m.bytes, head_only, close);
                }
                Ok(None) if !cat.has_repository(&name) => Err(ApiError::name_unknown(&name)),
                Ok(None) => Err(ApiError::new(404, "MANIFEST_UNKNOWN", "manifest unknown")),
                Err(e) => Err(internal(&e)),
            }
        }
        Route::Blob(name, d) => match cat.blob(&name, &d) {
            Ok(Some(body)) => return send_blob(w, &d, &body, req, close),
            Ok(None) if !cat.has_repository(&name) => Err(ApiError::name_unknown(&name)),
            Ok(None) => Err(ApiError::new(
                404,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
            )),
            Err(e) => Err(internal(&e)),
        },
        Route::Upload(_) => Err(ApiError::new(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )),
    };
    match result {
        Ok(a) => Ok(a),
        Err(e) => send_error(w, &e, &[], head_only, close),
    }
}

fn internal(e: &crate::Error) -> ApiError {
    log::warn!("{e}");
    ApiError::new(500, "UNKNOWN", "unknown error")
}

fn json_type() -> (&'static str, String) {
    ("Content-Type", "application/json".to_string())
}

fn api_version() -> (&'static str, String) {
    (
        "Docker-Distribution-API-Version",
        "registry/2.0".to_string(),
    )
}

fn send_error(
    w: &mut Stream,
    e: &ApiError,
    extra: &[(&'static str, String)],
    head_only: bool,
    close: bool,
) -> io::Result<Answer> {
    let mut h = vec![(
        "Content-Type",
        "application/json; charset=utf-8".to_string(),
    )];
    h.extend(extra.iter().cloned());
    send_bytes(w, e.status, &h, &e.body(), head_only, close)
}

fn send_bytes(
    w: &mut Stream,
    status: u16,
    headers: &[(&'static str, String)],
    body: &[u8],
    head_only: bool,
    close: bool,
) -> io::Result<Answer> {
    let mut h = vec![api_version()];
    h.extend(headers.iter().cloned());
    http::write_head(w, status, &h, body.len() as u64, close)?;
    if !head_only {
        w.write_all(body)?;
    }
    Ok(Answer {
        status,
        bytes: if head_only { 0 } else { body.len() as u64 },
        user: None,
        close,
    })
}

/// A blob, whole or one range of it, as `http.ServeContent` sends it.
fn send_blob(
    w: &mut Stream,
    d: &crate::digest::Digest,
    body: &BlobBody<'_>,
    req: &Request,
    close: bool,
) -> io::Result<Answer> {
    let size = body.size();
    let head_only = req.method == "HEAD";
    let mut h = vec![
        api_version(),
        ("Content-Type", "application/octet-stream".to_string()),
        ("Docker-Content-Digest", d.to_string()),
        ("ETag", format!("\"{d}\"")),
        ("Accept-Ranges", "bytes".to_string()),
        ("Cache-Control", "max-age=31536000".to_string()),
    ];
    let (status, start, len) = match http::range(req.header("range"), size) {
        Range::Whole => (200, 0, size),
        Range::Part(a, b) => {
            h.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
            (206, a, b - a + 1)
        }
        Range::Unsatisfiable => {
            let h = [
                ("Content-Range", format!("bytes */{size}")),
                ("Content-Type", "text/plain; charset=utf-8".to_string()),
            ];
            return send_bytes(w, 416, &h, b"invalid range\n", head_only, close);
        }
    };
    http::write_head(w, status, &h, len, close)?;
    if !head_only {
        w.flush()?;
        send_range(w, body, start, len)?;
    }
    Ok(Answer {
        status,
        bytes: if head_only { 0 } else { len },
        user: None,
        close,
    })
}

/// Sends `len` bytes of `body` from `start`.
fn send_range(w: &mut Stream, body: &BlobBody<'_>, start: u64, len: u64) -> io::Result<()> {
    let (file, base) = match body {
        BlobBody::File(f, _) => (f, 0),
        BlobBody::Extent(f, off, _) => (*f, *off),
        BlobBody::Entry(view, node, _) => {
            return copy_with(w, len, |buf, at| view.read_at(*node, start + at, buf));
        }
    };
    if let Stream::Plain(sock) = w {
        return sendfile_all(sock, file, base + start, len);
    }
    copy_with(w, len, |buf, at| file.read_at(buf, base + start + at))
}

/// Copies `len` bytes that `read(buf, offset)` gives to `w`.
fn copy_with(
    w: &mut Stream,
    len: u64,
    mut read: impl FnMut(&mut [u8], u64) -> io::Result<usize>,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = read(&mut buf[..want], done)?;
        if n == 0 {
            return Err(short_blob());
        }
        w.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// `sendfile(2)` of `len` bytes at `offset` of `file` to `sock`.
fn sendfile_all(sock: &TcpStream, file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
    let mut off = i64::try_from(offset).map_err(|_| short_blob())?;
    let mut left = len;
    while left > 0 {
        let count = SENDFILE_MAX.min(left as usize);
        match nix::sys::sendfile::sendfile64(sock.as_fd(), file.as_fd(), Some(&mut off), count) {
            Ok(0) => return Err(short_blob()),
            Ok(n) => left -= n as u64,
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn short_blob() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "layer blob is shorter than its index says",
    )
}
