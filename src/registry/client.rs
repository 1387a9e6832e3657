//! The HTTP side of the distribution API: connecting to one registry (scheme
//! choice, TLS), authenticating (anonymous, basic, bearer tokens per scope)
//! and turning transport failures and error bodies into one clear message.
//!
//! Scheme choice: HTTPS with verified certificates, except for registries on
//! 127.0.0.0/8, ::1 and `localhost` and registries given `--insecure`, which
//! (as docker's daemon does for insecure registries) try HTTPS without
//! verification first and fall back to plain HTTP.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Method, Request, Response};

use super::auth::{self, Challenge, Credentials};
use crate::error::{Error, Result};

/// A request body.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A whole file (rewound before each attempt).
    File(&'a File),
}

/// A connection to one registry, shared by the transfer threads.
pub struct Client {
    agent: ureq::Agent,
    /// The host as the user wrote it (`127.0.0.1:5000`, `docker.io`).
    host: String,
    /// `scheme://api-host`.
    base: String,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// `Authorization` values by scope.
    headers: HashMap<String, String>,
}

/// Whether a host (with optional port) is this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The schemes to try, in order, with whether TLS is verified.
pub fn schemes(host: &str, insecure: bool) -> Vec<(&'static str, bool)> {
    if insecure || is_loopback(host) {
        vec![("https", false), ("http", false)]
    } else {
        vec![("https", true)]
    }
}

fn agent(verify: bool, bound: Option<Duration>) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(!verify)
        .build();
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .user_agent(concat!("sealer/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(bound.unwrap_or(Duration::from_secs(30))))
            .timeout_recv_response(Some(bound.unwrap_or(Duration::from_secs(600))))
            .timeout_per_read(Some(bound.unwrap_or(Duration::from_secs(300))))
            .max_idle_connections_per_host(8)
            .build(),
    )
}

/// Says what a transport error means for a user.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::ConnectionReset => "connection reset by the registry".into(),
            std::io::ErrorKind::TimedOut => "timed out".into(),
            _ => io.to_string(),
        },
        ureq::Error::HostNotFound => "unknown host (name lookup failed)".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => format!(
            "TLS: {e} (for a registry without a valid certificate or without TLS, use --insecure)"
        ),
        other => other.to_string(),
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Connects to `host` (checking `/v2/`), with the stored credentials.
    pub fn connect(host: &str, insecure: bool) -> Result<Client> {
        let creds = auth::lookup(host)?;
        Client::connect_with(host, insecure, creds)
    }

    /// [`connect`](Self::connect) with every wait (connect, answer, each
    /// read) bounded by `bound`: for reads a filesystem is waiting on.
    pub fn connect_bounded(host: &str, insecure: bool, bound: Duration) -> Result<Client> {
        let creds = auth::lookup(host)?;
        Client::connect_inner(host, insecure, creds, Some(bound))
    }

    /// Connects to `host` with the given credentials (for `login`).
    pub fn connect_with(host: &str, insecure: bool, creds: Option<Credentials>) -> Result<Client> {
        Client::connect_inner(host, insecure, creds, None)
    }

    fn connect_inner(
        host: &str,
        insecure: bool,
        creds: Option<Credentials>,
        bound: Option<Duration>,
    ) -> Result<Client> {
        let api_host = match host {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            h => h,
        };
        let mut first_err = None;
        for (scheme, verify) in schemes(host, insecure) {
            let agent = agent(verify, bound);
            let base = format!("{scheme}://{api_host}");
            match agent.get(format!("{base}/v2/")).call() {
                Ok(resp) => {
                    let client = Client {
                        agent,
                        host: host.to_string(),
                        base,
                        creds,
                        auth: Mutex::new(AuthState::default()),
                    };
                    return client.ping_answer(resp);
                }
                Err(e) => {
                    first_err.get_or_insert_with(|| describe(&e));
                    // Only a TLS failure says "try plain HTTP"; a refused
                    // connection would be refused there too.
                    if matches!(e, ureq::Error::HostNotFound) {
                        break;
                    }
                }
            }
        }
        Err(Error::Registry {
            registry: host.to_string(),
            why: first_err.unwrap_or_else(|| "cannot connect".into()),
        })
    }

    fn ping_answer(self, mut resp: Response<ureq::Body>) -> Result<Client> {
        match resp.status().as_u16() {
            200 => Ok(self),
            401 => {
                self.lock().challenge = challenge_of(&resp);
                Ok(self)
            }
            code => {
                let _ = resp.body_mut().with_config().limit(1 << 16).read_to_vec();
                Err(self.error(format!(
                    "not a registry: /v2/ answered HTTP {code} (is {} an OCI registry?)",
                    self.host
                )))
            }
        }
    }

    /// The host as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `scheme://host`, the base of every URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// An error about this registry.
    pub fn error(&self, why: impl Into<String>) -> Error {
        Error::Registry {
            registry: self.host.clone(),
            why: why.into(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the credentials: obtains a token (bearer) or passes `/v2/`
    /// (basic). For `login`.
    pub fn check_login(&self) -> Result<()> {
        let challenge = self.lock().challenge.clone();
        match challenge {
            None => Ok(()),
            Some(_) => {
                let url = format!("{}/v2/", self.base);
                let mut resp = self.send(Method::GET, &url, &[], Body::Empty, "")?;
                match resp.status().as_u16() {
                    200 => Ok(()),
                    code => Err(self.status_error(&mut resp, code, "logging in")),
                }
            }
        }
    }

    /// Sends a request, authenticating for `scope`
    /// (`repository:NAME:pull[,push]`, space-separated for several) on a 401
    /// and retrying once. Responses of any status are returned.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        scope: &str,
    ) -> Result<Response<ureq::Body>> {
        let mut header = self.lock().headers.get(scope).cloned();
        if header.is_none() && self.lock().challenge.is_some() {
            header = Some(self.authorize(scope)?);
        }
        let resp = self.send_once(&method, url, headers, body, header.as_deref())?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        let fresh = challenge_of(&resp);
        drop(resp);
        {
            let mut st = self.lock();
            st.headers.remove(scope);
            if fresh.is_some() {
                st.challenge = fresh;
            }
        }
        let retry = self.authorize(scope)?;
        self.send_once(&method, url, headers, body, Some(&retry))
    }

    /// Sends a body of unknown length (chunked transfer encoding) with the
    /// authorization already obtained for `scope`; not retried, since a
    /// stream cannot be sent twice (the POST opening an upload authorizes).
    pub fn send_stream(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &mut dyn std::io::Read,
        scope: &str,
    ) -> Result<Response<ureq::Body>> {
        let auth = self.lock().headers.get(scope).cloned();
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let req = req
            .body(ureq::SendBody::from_reader(body))
            .map_err(|e| self.error(format!("bad request to {url}: {e}")))?;
        self.agent.run(req).map_err(|e| self.error(describe(&e)))
    }

    fn send_once(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>> {
        let mut req = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let bad = |e: ureq::http::Error| self.error(format!("bad request to {url}: {e}"));
        let result = match body {
            Body::Empty => self.agent.run(req.body(()).map_err(bad)?),
            Body::Bytes(b) => self.agent.run(req.body(b).map_err(bad)?),
            Body::File(mut f) => {
                f.seek(SeekFrom::Start(0))
                    .map_err(|e| self.error(format!("rewinding an upload: {e}")))?;
                self.agent.run(req.body(f).map_err(bad)?)
            }
        };
        match &result {
            Ok(resp) => log::debug!("{method} {url}: {}", resp.status()),
            Err(e) => log::debug!("{method} {url}: {e}"),
        }
        result.map_err(|e| self.error(describe(&e)))
    }

    /// Works out the `Authorization` value for `scope` from the last
    /// challenge, fetching a bearer token if needed, and caches it.
    fn authorize(&self, scope: &str) -> Result<String> {
        let challenge = self.lock().challenge.clone();
        let header = match challenge {
            None => return Err(self.error("the registry refused the request (HTTP 401)")),
            Some(Challenge::Basic) => match &self.creds {
                Some(c) => c.basic_header(),
                None => {
                    return Err(self.error(format!(
                        "authentication required: run `sealer login {}`",
                        self.host
                    )))
                }
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => self.fetch_token(&realm, service.as_deref(), scope, asked.as_deref())?,
        };
        self.lock()
            .headers
            .insert(scope.to_string(), header.clone());
        Ok(header)
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        asked: Option<&str>,
    ) -> Result<String> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        let mut scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        for a in asked.into_iter().flat_map(|a| a.split(' ')) {
            if !a.is_empty() && !scopes.contains(&a) {
                scopes.push(a);
            }
        }
        query.extend(scopes.iter().map(|s| format!("scope={}", encode(s))));
        if let Some(c) = &self.creds {
            query.push(format!("account={}", encode(&c.username)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        // The token service may live elsewhere: its own agent, verified
        // unless this registry is insecure.
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.creds {
            req = req.header("Authorization", &c.basic_header());
        }
        let mut resp = req
            .call()
            .map_err(|e| self.error(format!("token service {realm}: {}", describe(&e))))?;
        let code = resp.status().as_u16();
        if code != 200 {
            let what = if self.creds.is_some() {
                "wrong user name or password".to_string()
            } else {
                format!("authentication required: run `sealer login {}`", self.host)
            };
            let _ = resp.body_mut().with_config().limit(1 << 16).read_to_vec();
            return Err(self.error(format!("token service answered HTTP {code}: {what}")));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| self.error(format!("token service {realm}: {}", describe(&e))))?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| self.error(format!("token service {realm} answered no JSON")))?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.error(format!("token service {realm} answered no token")))?;
        Ok(format!("Bearer {token}"))
    }

    /// The error for an unexpected status, with the registry's own error
    /// code and message when it sent them (never a header or a token).
    pub fn status_error(&self, resp: &mut Response<ureq::Body>, code: u16, doing: &str) -> Error {
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 16)
            .read_to_vec()
            .unwrap_or_default();
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let e = v.get("errors")?.get(0)?;
                let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
                Some(format!("{code}: {msg}"))
            });
        let hint = match code {
            401 if self.creds.is_none() => {
                format!(" (run `sealer login {}`)", self.host)
            }
            401 => " (wrong user name or password?)".to_string(),
            403 => " (access denied)".to_string(),
            _ => String::new(),
        };
        self.error(format!(
            "{doing}: HTTP {code}{hint}{}",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        ))
    }
}

fn challenge_of(resp: &Response<ureq::Body>) -> Option<Challenge> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(auth::parse_challenge)
        // Prefer bearer when both are offered.
        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
            assert_eq!(schemes(h, false), vec![("https", false), ("http", false)]);
        }
        for h in ["registry.example.com", "10.0.0.1:5000", "docker.io"] {
            assert!(!is_loopback(h), "{h}");
            assert_eq!(schemes(h, false), vec![("https", true)]);
            assert_eq!(schemes(h, true), vec![("https", false), ("http", false)]);
        }
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
