//! The OCI distribution client: which registry and repository a reference
//! names, and the requests pull and push share (manifests, blobs).
//!
//! ```text
//! GET/HEAD /v2/<name>/manifests/<tag|digest>     Accept: OCI + Docker types
//! GET/HEAD /v2/<name>/blobs/<digest>
//! POST     /v2/<name>/blobs/uploads/[?mount=<digest>&from=<other>]
//! PATCH    <location>  (chunks)     PUT <location>?digest=<digest>
//! PUT      /v2/<name>/manifests/<tag>
//! ```

pub mod auth;
pub mod client;
mod download;
pub mod manifest;
pub mod mirror;
pub mod mirrors;
mod pull;
mod push;
pub mod referrers;
pub mod remote;
pub mod search;

pub(crate) use pull::pin_existing;
pub use pull::{pull, PullOptions, Pulled};
pub(crate) use push::put_manifest;
pub(crate) use push::upload_bytes;
pub use push::{push, push_all, Format, PushOptions, Pushed};

use std::io::Read;

use ureq::http::Method;

use self::client::{Body, Client};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::Reference;

/// Docker Hub's name in references.
const DOCKER_HUB: &str = "docker.io";

/// The registry host and repository path a reference names
/// (`kubernetes:v1` -> `docker.io`, `library/kubernetes`).
pub fn locate(r: &Reference) -> (String, String) {
    let parts: Vec<&str> = r.repo.splitn(2, '/').collect();
    if parts.len() == 2
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        let host = match parts[0] {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
            h => h,
        };
        // Docker Hub's official images live under `library/`, however named.
        let path = if host == DOCKER_HUB && !parts[1].contains('/') {
            format!("library/{}", parts[1])
        } else {
            parts[1].to_string()
        };
        return (host.to_string(), path);
    }
    let path = if r.repo.contains('/') {
        r.repo.clone()
    } else {
        format!("library/{}", r.repo)
    };
    (DOCKER_HUB.to_string(), path)
}

/// One repository of one registry.
pub struct Repo {
    /// The connection.
    pub client: Client,
    /// The repository path (`library/kubernetes`).
    pub path: String,
    /// The token scope for this repository's requests.
    pub scope: String,
    /// `host/path` the reference names (before registries.conf rewrote it).
    pub origin: String,
}

impl Repo {
    /// Connects to the registry of `r` for pulling (`push`: also pushing).
    /// A pull goes to the first mirror of registries.conf that has the
    /// manifest, else to the registry's location (see [`mirrors`]).
    pub fn open(r: &Reference, insecure: bool, push: bool) -> Result<Repo> {
        let (host, path) = locate(r);
        if push {
            let origin = format!("{host}/{path}");
            return Repo::at(&host, &path, insecure, true, origin, None);
        }
        let probe = r.digest.clone().or_else(|| r.tag.clone());
        let probe = format!("manifests/{}", probe.as_deref().unwrap_or("latest"));
        Repo::open_pulling(r, insecure, &probe, None)
    }

    /// Connects for reading blob `blob` of `r`'s repository: the first
    /// mirror that has it, else the registry's location; every wait bounded
    /// by `bound` (reads a filesystem waits on).
    pub fn open_for_blob(
        r: &Reference,
        insecure: bool,
        blob: &Digest,
        bound: Option<std::time::Duration>,
    ) -> Result<Repo> {
        Repo::open_pulling(r, insecure, &format!("blobs/{blob}"), bound)
    }

    fn open_pulling(
        r: &Reference,
        insecure: bool,
        probe: &str,
        bound: Option<std::time::Duration>,
    ) -> Result<Repo> {
        let (host, path) = locate(r);
        let origin = format!("{host}/{path}");
        let conf = mirrors::RegistriesConf::load()?;
        let endpoints = conf.endpoints(&origin, r.digest.is_some(), insecure)?;
        let last = endpoints.len().saturating_sub(1);
        for (i, ep) in endpoints.iter().enumerate() {
            let (h, p) = ep.name.split_once('/').unwrap_or((&ep.name, ""));
            if i == last {
                return Repo::at(h, p, ep.insecure, false, origin, bound);
            }
            match Repo::at(h, p, ep.insecure, false, origin.clone(), bound) {
                Ok(repo) if repo.answers(probe) => {
                    log::debug!("pulling {origin} through mirror {}", ep.name);
                    return Ok(repo);
                }
                Ok(_) => log::debug!("mirror {} has no {probe}", ep.name),
                Err(e) => log::debug!("mirror {}: {e}", ep.name),
            }
        }
        Repo::at(&host, &path, insecure, false, origin, bound)
    }

    fn at(
        host: &str,
        path: &str,
        insecure: bool,
        push: bool,
        origin: String,
        bound: Option<std::time::Duration>,
    ) -> Result<Repo> {
        let client = match bound {
            Some(b) => Client::connect_bounded(host, insecure, b)?,
            None => Client::connect(host, insecure)?,
        };
        let actions = if push { "pull,push" } else { "pull" };
        Ok(Repo {
            client,
            scope: format!("repository:{path}:{actions}"),
            path: path.to_string(),
            origin,
        })
    }

    /// Whether `HEAD <tail>` answers 200.
    fn answers(&self, tail: &str) -> bool {
        let url = self.url(tail);
        let accept = [("Accept", manifest::ACCEPT)];
        self.client
            .send(Method::HEAD, &url, &accept, Body::Empty, &self.scope)
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// `scheme://host/v2/<path>/<tail>`.
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.client.base(), self.path)
    }

    /// `host/path`, as errors name the repository.
    pub fn name(&self) -> String {
        format!("{}/{}", self.client.host(), self.path)
    }

    fn error(&self, why: impl Into<String>) -> Error {
        Error::Registry {
            registry: self.name(),
            why: why.into(),
        }
    }

    /// One GET, with the failures worth retrying marked so.
    fn get_once(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, Attempt> {
        match self
            .client
            .send(Method::GET, url, headers, Body::Empty, &self.scope)
        {
            Ok(resp) if is_transient(resp.status().as_u16()) => {
                let code = resp.status().as_u16();
                Err(Attempt {
                    error: self.error(format!("GET {url} answered HTTP {code}")),
                    retryable: true,
                })
            }
            Ok(resp) => Ok(resp),
            // Refused connections, resets, timeouts: the transport's.
            Err(error) => Err(Attempt {
                error,
                retryable: true,
            }),
        }
    }

    /// A GET retried (with backoff) while its failures are transient.
    fn get_retrying(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut tries = 0;
        loop {
            match self.get_once(url, headers) {
                Ok(resp) => return Ok(resp),
                Err(a) if a.retryable && tries + 1 < ATTEMPTS => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(250 << tries));
                }
                Err(a) => return Err(a.error),
            }
        }
    }

    /// Starts downloading a blob at `offset` (a resumed download): its body
    /// and whether the server honoured the range (`206`); a `200` carries
    /// the whole blob.
    pub fn blob_from(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> std::result::Result<(ureq::BodyReader<'static>, bool), Attempt> {
        let url = self.url(&format!("blobs/{digest}"));
        let range = format!("bytes={offset}-");
        let headers: &[(&str, &str)] = if offset > 0 {
            &[("Range", &range)]
        } else {
            &[]
        };
        let mut resp = self.get_once(&url, headers)?;
        match resp.status().as_u16() {
            200 => Ok((resp.into_body().into_reader(), false)),
            206 if offset > 0 => Ok((resp.into_body().into_reader(), true)),
            code => Err(Attempt {
                error: self
                    .client
                    .status_error(&mut resp, code, &format!("blob {digest}")),
                retryable: false,
            }),
        }
    }

    /// Fetches a manifest by tag or digest: (bytes, content type). A
    /// manifest over [`manifest::MAX_MANIFEST`] is refused.
    pub fn get_manifest(&self, reference: &str) -> Result<(Vec<u8>, Option<String>)> {
        let url = self.url(&format!("manifests/{reference}"));
        let mut resp = self.get_retrying(&url, &[("Accept", manifest::ACCEPT)])?;
        let code = resp.status().as_u16();
        if code != 200 {
            let doing = format!("manifest {}:{reference}", self.path);
            let doing = doing.replace(":sha256:", "@sha256:");
            return Err(self.client.status_error(&mut resp, code, &doing));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = read_limited(resp.body_mut().as_reader(), manifest::MAX_MANIFEST)
            .map_err(|e| self.error(format!("manifest {reference}: {e}")))?;
        Ok((bytes, content_type))
    }

    /// Fetches a small blob (a config) whole and verifies it.
    pub fn get_small_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>> {
        let (reader, _) = self.blob_reader(digest)?;
        let bytes =
            read_limited(reader, max).map_err(|e| self.error(format!("blob {digest}: {e}")))?;
        manifest::verify(&bytes, digest, "the blob's")?;
        Ok(bytes)
    }

    /// Starts downloading a blob: its body and announced length.
    pub fn blob_reader(&self, digest: &Digest) -> Result<(ureq::BodyReader<'static>, Option<u64>)> {
        let url = self.url(&format!("blobs/{digest}"));
        let mut resp = self.get_retrying(&url, &[])?;
        let code = resp.status().as_u16();
        if code != 200 {
            return Err(self
                .client
                .status_error(&mut resp, code, &format!("blob {digest}")));
        }
        let len = resp.body().content_length();
        Ok((resp.into_body().into_reader(), len))
    }

    /// Whether the registry has a blob in this repository.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let mut resp = self
            .client
            .send(Method::HEAD, &url, &[], Body::Empty, &self.scope)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            code => {
                Err(self
                    .client
                    .status_error(&mut resp, code, &format!("checking blob {digest}")))
            }
        }
    }
}

/// Attempts of a request whose failures are transient.
const ATTEMPTS: u32 = 4;

/// A failed request, and whether trying it again may succeed.
pub struct Attempt {
    /// What went wrong.
    pub error: Error,
    /// A dropped connection, a timeout, `429` or `5xx`: worth another try.
    pub retryable: bool,
}

/// Statuses a registry answers while overloaded or restarting.
fn is_transient(code: u16) -> bool {
    code == 429 || code == 408 || (500..=599).contains(&code) && code != 501
}

/// Reads at most `max` bytes; more is an error ("larger than").
fn read_limited(r: impl Read, max: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} bytes, refused", max),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_body_is_refused() {
        let big = [b'{'; 100];
        assert_eq!(read_limited(&big[..], 100).unwrap().len(), 100);
        let err = read_limited(&big[..], 99).unwrap_err().to_string();
        assert!(err.contains("larger than 99 bytes"), "{err}");
    }

    #[test]
    fn locate_table() {
        let cases = [
            ("kubernetes:v1", "docker.io", "library/kubernetes"),
            ("sealerio/kubernetes:v1", "docker.io", "sealerio/kubernetes"),
            (
                "127.0.0.1:5000/library/k8s:v1",
                "127.0.0.1:5000",
                "library/k8s",
            ),
            ("localhost/a/b", "localhost", "a/b"),
            ("registry.example.com/a", "registry.example.com", "a"),
            ("docker.io/nginx:1", "docker.io", "library/nginx"),
            ("index.docker.io/calico/node", "docker.io", "calico/node"),
        ];
        for (r, host, path) in cases {
            let got = locate(&Reference::parse(r).unwrap());
            assert_eq!(got, (host.to_string(), path.to_string()), "{r}");
        }
    }
}
