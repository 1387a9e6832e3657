//! The HTTP/1.1 a registry needs, and no more: reading a request head
//! (bounded in size and header count), writing a response head, and
//! single byte ranges as Go's `http.ServeContent` (behind docker-registry)
//! answers them. Request bodies are never read: every request that has
//! one is a write, refused, and its connection closed.

use std::io::{self, BufRead, Read, Write};

/// The longest request head accepted (Go's default is 1 MiB; a registry
/// client sends well under 8 KiB).
const MAX_HEAD: usize = 64 << 10;
/// Most headers accepted in one request.
const MAX_HEADERS: usize = 100;

/// A request head.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target as sent.
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request carries a body (which is never read).
    pub fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self
                .header("content-length")
                .is_some_and(|l| l.trim() != "0")
    }

    /// Whether the client wants the connection kept after the response.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase);
        let says = |w: &str| {
            conn.as_deref()
                .is_some_and(|c| c.split(',').any(|t| t.trim() == w))
        };
        if self.version == "HTTP/1.0" {
            says("keep-alive")
        } else {
            !says("close")
        }
    }
}

/// Why a request head could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed (or timed out) before a request began: no answer.
    Closed,
    /// Not HTTP, or beyond the limits: answer 400 (or 431) and close.
    Bad(u16, &'static str),
    /// The connection failed.
    Io(io::Error),
}

/// Reads one request head; [`HeadError::Closed`] when the peer is done.
pub fn read_head(r: &mut impl BufRead) -> Result<Request, HeadError> {
    let mut total = 0;
    let mut line = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    loop {
        line.clear();
        let n = Read::by_ref(r)
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    if lines.is_empty() && total == 0 =>
                {
                    HeadError::Closed
                }
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                    if lines.is_empty() =>
                {
                    HeadError::Closed
                }
                _ => HeadError::Io(e),
            })?;
        if n == 0 {
            return Err(if lines.is_empty() && total == 0 {
                HeadError::Closed
            } else {
                HeadError::Bad(400, "incomplete request")
            });
        }
        total += n;
        if total > MAX_HEAD {
            return Err(HeadError::Bad(431, "request head too large"));
        }
        if !line.ends_with(b"\n") {
            return Err(HeadError::Bad(400, "incomplete request"));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| HeadError::Bad(400, "request head is not text"))?
            .trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                // Blank lines before a request are allowed (RFC 9112 2.2).
                continue;
            }
            break;
        }
        if lines.len() > MAX_HEADERS {
            return Err(HeadError::Bad(431, "too many headers"));
        }
        lines.push(text.to_string());
    }
    parse_head(&lines)
}

fn parse_head(lines: &[String]) -> Result<Request, HeadError> {
    let bad = |why| HeadError::Bad(400, why);
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("malformed method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Bad(505, "HTTP version not supported"));
    }
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("malformed request target"));
    }
    let mut headers = Vec::with_capacity(lines.len() - 1);
    for l in &lines[1..] {
        let (name, value) = l.split_once(':').ok_or_else(|| bad("malformed header"))?;
        if name.is_empty() || name.bytes().any(|b| b <= b' ') {
            return Err(bad("malformed header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
    })
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Requested Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes a response head: status line, `headers`, `Content-Length` and,
/// when the connection ends after it, `Connection: close`.
pub fn write_head(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    length: u64,
    close: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {length}\r\n"));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())
}

/// What a `Range` header asks of a body of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Range {
    /// The whole body (no header, or one the server may ignore: several
    /// ranges, another unit).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing the body has: 416.
    Unsatisfiable,
}

/// Parses a `Range` header for a body of `size` bytes, as Go's
/// `http.ServeContent` does for one range; several ranges get the whole
/// body (a server may ignore `Range`), malformed ones 416 as Go answers.
pub fn range(header: Option<&str>, size: u64) -> Range {
    let Some(h) = header else {
        return Range::Whole;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Range::Unsatisfiable;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if a.is_empty() {
        // The last `b` bytes.
        return match num(b) {
            Some(n) if n > 0 && size > 0 => Range::Part(size.saturating_sub(n), size - 1),
            _ => Range::Unsatisfiable,
        };
    }
    let Some(start) = num(a) else {
        return Range::Unsatisfiable;
    };
    if start >= size {
        return Range::Unsatisfiable;
    }
    let end = if b.is_empty() {
        size - 1
    } else {
        match num(b) {
            Some(e) if e >= start => e.min(size - 1),
            _ => return Range::Unsatisfiable,
        }
    };
    Range::Part(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_go_serves_them() {
        let cases = [
            (None, Range::Whole),
            (Some("bytes=0-0"), Range::Part(0, 0)),
            (Some("bytes=10-19"), Range::Part(10, 19)),
            (Some("bytes=90-200"), Range::Part(90, 99)),
            (Some("bytes=90-"), Range::Part(90, 99)),
            (Some("bytes=-10"), Range::Part(90, 99)),
            (Some("bytes=-500"), Range::Part(0, 99)),
            (Some("bytes=100-"), Range::Unsatisfiable),
            (Some("bytes=20-10"), Range::Unsatisfiable),
            (Some("bytes=-0"), Range::Unsatisfiable),
            (Some("bytes=x-1"), Range::Unsatisfiable),
            (Some("bytes=+1-2"), Range::Unsatisfiable),
            (Some("items=0-1"), Range::Unsatisfiable),
            (Some("bytes=0-1,5-6"), Range::Whole),
        ];
        for (h, want) in cases {
            assert_eq!(range(h, 100), want, "{h:?}");
        }
        assert_eq!(range(Some("bytes=0-"), 0), Range::Unsatisfiable);
        assert_eq!(range(Some("bytes=-1"), 0), Range::Unsatisfiable);
    }

    #[test]
    fn heads() {
        let mut r = &b"\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET"[..];
        let req = read_head(&mut r).expect("a request");
        assert_eq!((req.method.as_str(), req.target.as_str()), ("GET", "/v2/"));
        assert_eq!(req.header("host"), Some("x"));
        assert!(!req.keep_alive());
        assert!(matches!(read_head(&mut r), Err(HeadError::Bad(400, _))));
        let mut empty = &b""[..];
        assert!(matches!(read_head(&mut empty), Err(HeadError::Closed)));
        for bad in [
            &b"GET /v2/\r\n\r\n"[..],
            b"get /v2/ HTTP/1.1\r\n\r\n",
            b"GET /v2/ HTTP/1.1\r\nNoColon\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ] {
            let mut r = bad;
            assert!(
                matches!(read_head(&mut r), Err(HeadError::Bad(..))),
                "{bad:?}"
            );
        }
        let mut r = &b"GET /v2/ HTTP/2.0\r\n\r\n"[..];
        assert!(matches!(read_head(&mut r), Err(HeadError::Bad(505, _))));
        let huge = format!("GET /v2/ HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let mut r = huge.as_bytes();
        assert!(matches!(read_head(&mut r), Err(HeadError::Bad(431, _))));
        let mut r = &b"HEAD /v2/ HTTP/1.0\r\nContent-Length: 3\r\n\r\n"[..];
        let req = read_head(&mut r).expect("a request");
        assert!(req.has_body() && !req.keep_alive());
    }
}
