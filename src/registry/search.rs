//! `sealer search`: the tags of a repository (`GET /v2/<name>/tags/list`)
//! and the repositories of a registry (`GET /v2/_catalog`), following the
//! `Link: <...>; rel="next"` pages of both; and the order tags are shown in,
//! newest version first.

use std::cmp::Ordering;

use ureq::http::Method;

use super::client::{Body, Client};
use super::{locate, Repo};
use crate::error::{Error, Result};
use crate::image::Reference;

/// Entries asked per page.
const PAGE: usize = 1000;
/// Pages followed at most (a registry that links in a loop ends here).
const MAX_PAGES: usize = 1000;

/// The tags of `r`'s repository, newest version first, without the tags
/// that hold artifacts of an image rather than an image (see
/// [`is_artifact_tag`]).
pub fn tags(r: &Reference, insecure: bool) -> Result<Vec<String>> {
    let (host, path) = locate(r);
    let origin = format!("{host}/{path}");
    let repo = Repo::at(&host, &path, insecure, false, origin, None)?;
    let first = repo.url(&format!("tags/list?n={PAGE}"));
    let mut tags: Vec<String> = pages(
        &repo.client,
        &first,
        &repo.scope,
        "tags",
        &format!("tags of {path}"),
    )?;
    tags.retain(|t| !is_artifact_tag(t));
    sort_newest_first(&mut tags);
    Ok(tags)
}

/// The repositories of registry `host` (`_catalog`), sorted; a registry
/// that does not list them is an error saying so.
pub fn catalog(host: &str, insecure: bool) -> Result<Vec<String>> {
    let client = Client::connect(host, insecure)?;
    let first = format!("{}/v2/_catalog?n={PAGE}", client.base());
    let mut repos = pages(
        &client,
        &first,
        "registry:catalog:*",
        "repositories",
        "the catalog (_catalog)",
    )
    .map_err(|e| match e {
        Error::Registry { registry, why } => Error::Registry {
            registry,
            why: format!("{why} (the registry does not list its repositories: search REGISTRY/REPOSITORY instead)"),
        },
        other => other,
    })?;
    repos.sort();
    Ok(repos)
}

/// Every page of a listing: the string array `field` of each JSON page.
fn pages(
    client: &Client,
    first: &str,
    scope: &str,
    field: &str,
    what: &str,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut url = first.to_string();
    for _ in 0..MAX_PAGES {
        let mut resp = client.send(Method::GET, &url, &[], Body::Empty, scope)?;
        let code = resp.status().as_u16();
        if code != 200 {
            return Err(client.status_error(&mut resp, code, what));
        }
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
            .map(|l| absolute(client.base(), &l));
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| client.error(format!("{what}: {e}")))?;
        let page: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| client.error(format!("{what}: not JSON: {e}")))?;
        // `"tags": null` is how distribution says a repository has none.
        if let Some(items) = page.get(field).and_then(|v| v.as_array()) {
            out.extend(items.iter().filter_map(|t| t.as_str().map(String::from)));
        }
        match next {
            Some(n) if n != url => url = n,
            _ => return Ok(out),
        }
    }
    Err(client.error(format!("{what}: more than {MAX_PAGES} pages")))
}

/// The target of `rel="next"` in a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// A link target made absolute against `scheme://host`.
fn absolute(base: &str, link: &str) -> String {
    if link.starts_with("http://") || link.starts_with("https://") {
        link.to_string()
    } else {
        format!("{base}/{}", link.trim_start_matches('/'))
    }
}

/// `sha256-<hex>` and `sha256-<hex>.sig|.att|.sbom`: the referrers
/// fallback tag (lazy member tables, SBOMs) and cosign's tags, which name
/// artifacts about a manifest, not images to search for.
pub fn is_artifact_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let (hex, suffix) = rest.split_at(rest.len().min(64));
    hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && ["", ".sig", ".att", ".sbom"].contains(&suffix)
}

/// A tag read as a version: `[v]N(.N)*[-pre][+build]`.
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    numbers: Vec<u64>,
    pre: Option<&'a str>,
}

fn parse_version(tag: &str) -> Option<Version<'_>> {
    let t = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let t = t.split('+').next().unwrap_or(t);
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (t, None),
    };
    let numbers = core
        .split('.')
        .map(|n| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
        .collect::<Option<Vec<u64>>>()?;
    Some(Version { numbers, pre })
}

/// Newer first: numbers compared part by part (missing parts are 0), a
/// release before its pre-releases, pre-releases by semver's identifier rules.
fn compare_versions(a: &Version, b: &Version) -> Ordering {
    let len = a.numbers.len().max(b.numbers.len());
    for i in 0..len {
        let (x, y) = (
            a.numbers.get(i).copied().unwrap_or(0),
            b.numbers.get(i).copied().unwrap_or(0),
        );
        match y.cmp(&x) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (a.pre, b.pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(p), Some(q)) => compare_pre(q, p),
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Sorts tags newest version first; tags that are not versions (`latest`,
/// `dev`) follow, by name.
pub fn sort_newest_first(tags: &mut [String]) {
    tags.sort_by(|a, b| match (parse_version(a), parse_version(b)) {
        (Some(x), Some(y)) => compare_versions(&x, &y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_newest_version_first() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["v1.19.8", "v1.22.15", "v1.9.0", "v1.22.4"],
                &["v1.22.15", "v1.22.4", "v1.19.8", "v1.9.0"],
            ),
            (
                &[
                    "latest",
                    "v1.0.0-rc.1",
                    "v1.0.0",
                    "v1.0.0-alpha",
                    "v1.0.0-rc.10",
                    "dev",
                ],
                &[
                    "v1.0.0",
                    "v1.0.0-rc.10",
                    "v1.0.0-rc.1",
                    "v1.0.0-alpha",
                    "dev",
                    "latest",
                ],
            ),
            (
                &["1.2", "1.10", "v1.2.1", "2"],
                &["2", "1.10", "v1.2.1", "1.2"],
            ),
            (
                &["v1.22.15-alpine", "v1.22.15"],
                &["v1.22.15", "v1.22.15-alpine"],
            ),
        ];
        for (given, want) in cases {
            let mut tags: Vec<String> = given.iter().map(|s| s.to_string()).collect();
            sort_newest_first(&mut tags);
            assert_eq!(tags, *want, "{given:?}");
        }
    }

    #[test]
    fn artifact_tags() {
        let hex = "ab".repeat(32);
        for (t, want) in [
            (format!("sha256-{hex}"), true),
            (format!("sha256-{hex}.sig"), true),
            (format!("sha256-{hex}.other"), false),
            ("sha256-abc".to_string(), false),
            ("v1.0.0".to_string(), false),
        ] {
            assert_eq!(is_artifact_tag(&t), want, "{t}");
        }
    }

    #[test]
    fn link_headers() {
        let cases = [
            (
                r#"</v2/_catalog?last=b&n=2>; rel="next""#,
                Some("/v2/_catalog?last=b&n=2"),
            ),
            (
                r#"<https://r/v2/x/tags/list?last=1>; rel=next"#,
                Some("https://r/v2/x/tags/list?last=1"),
            ),
            (r#"</a>; rel="prev""#, None),
            ("garbage", None),
        ];
        for (h, want) in cases {
            assert_eq!(next_link(h).as_deref(), want, "{h}");
        }
        assert_eq!(absolute("http://h:5000", "/v2/x"), "http://h:5000/v2/x");
    }
}
