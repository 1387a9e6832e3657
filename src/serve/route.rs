//! The distribution API's routes, parsed from a request target with
//! distribution's grammar (pure: `&str` in, [`Route`] or [`ApiError`] out),
//! and its JSON error bodies.
//!
//! Names, tags and digests are checked before anything is looked up, so
//! what reaches the catalog can only name a path under a repository of the
//! served images: `..`, `.`, empty components, percent-encoding (`%2F`,
//! `%2e`), backslashes and NUL never pass.

use crate::digest::Digest;

/// Longest repository name distribution accepts.
const MAX_NAME: usize = 255;
/// Longest tag (distribution: `[\w][\w.-]{0,127}`).
const MAX_TAG: usize = 128;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags(String),
    /// `/v2/<name>/manifests/<tag or digest>`.
    Manifest(String, Reference),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(String, Digest),
    /// `/v2/<name>/blobs/uploads/...`: writes, which are refused.
    Upload(String),
}

/// A manifest reference.
#[derive(Debug, PartialEq, Eq)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

/// An error as distribution reports it: status, code, message.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Distribution's error code (`NAME_UNKNOWN`, ...).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error of `status` and `code`.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The repository is not served.
    pub fn name_unknown(name: &str) -> ApiError {
        ApiError::new(
            404,
            "NAME_UNKNOWN",
            format!("repository name not known to registry: {name}"),
        )
    }

    /// Distribution's body: `{"errors":[{"code":..,"message":..,"detail":..}]}`.
    pub fn body(&self) -> Vec<u8> {
        let v = serde_json::json!({"errors": [{
            "code": self.code,
            "message": self.message,
            "detail": serde_json::Value::Null,
        }]});
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        b
    }
}

fn not_found() -> ApiError {
    ApiError::new(404, "NOT_FOUND", "page not found")
}

/// Splits a request target into path and query; an absolute-form target
/// (`http://host/v2/...`) is taken by its path.
pub fn split_target(target: &str) -> (&str, &str) {
    let path = match target.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        _ => target,
    };
    match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path, ""),
    }
}

/// Parses the path of a request target (no query).
pub fn parse(path: &str) -> Result<Route, ApiError> {
    if path.contains('%') || path.contains('\\') || path.contains('\0') {
        // Names never need encoding: an encoded byte is a trick.
        return Err(not_found());
    }
    let Some(rest) = path.strip_prefix("/v2") else {
        return Err(not_found());
    };
    if rest.is_empty() || rest == "/" {
        return Ok(Route::Base);
    }
    let rest = rest.strip_prefix('/').ok_or_else(not_found)?;
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags(name_of(name)?));
    }
    if let Some((name, what)) = rest.rsplit_once("/manifests/") {
        let name = name_of(name)?;
        let reference = if what.contains(':') {
            Reference::Digest(digest_of(what)?)
        } else if is_tag(what) {
            Reference::Tag(what.to_string())
        } else {
            return Err(ApiError::new(
                400,
                "TAG_INVALID",
                format!("manifest tag did not match URI: {what:?}"),
            ));
        };
        return Ok(Route::Manifest(name, reference));
    }
    if let Some(i) = rest.find("/blobs/uploads") {
        let after = &rest[i + "/blobs/uploads".len()..];
        if after.is_empty() || after.starts_with('/') {
            return Ok(Route::Upload(name_of(&rest[..i])?));
        }
    }
    if let Some((name, what)) = rest.rsplit_once("/blobs/") {
        return Ok(Route::Blob(name_of(name)?, digest_of(what)?));
    }
    Err(not_found())
}

/// A repository name as distribution's grammar has it: components of
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`, at most 255 bytes.
pub fn is_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name.split('/').all(is_component)
}

fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn name_of(name: &str) -> Result<String, ApiError> {
    if is_name(name) {
        Ok(name.to_string())
    } else {
        Err(ApiError::new(
            404,
            "NAME_INVALID",
            format!("invalid repository name: {name:?}"),
        ))
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= MAX_TAG
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

fn digest_of(d: &str) -> Result<Digest, ApiError> {
    d.parse().map_err(|_| {
        ApiError::new(
            400,
            "DIGEST_INVALID",
            format!("provided digest did not match uploaded content: {d:?} is not a sha256 digest"),
        )
    })
}

/// The `n` and `last` parameters of a paginated list (`_catalog`,
/// `tags/list`); unknown parameters are ignored, a bad `n` is an error.
pub fn pagination(query: &str) -> Result<(Option<usize>, Option<String>), ApiError> {
    let (mut n, mut last) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    ApiError::new(
                        400,
                        "PAGINATION_NUMBER_INVALID",
                        format!("invalid number of results requested: {v:?}"),
                    )
                })?)
            }
            "last" => last = Some(v.to_string()),
            _ => {}
        }
    }
    Ok((n, last))
}

/// One page of sorted `items` after `last`, at most `n` of them; and
/// whether more follow.
pub fn page(items: &[String], n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
    let start = last.map_or(0, |l| items.partition_point(|i| i.as_str() <= l));
    let rest = &items[start..];
    match n {
        Some(n) if n < rest.len() => (rest[..n].to_vec(), true),
        _ => (rest.to_vec(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn routes() {
        let d: Digest = D.parse().unwrap();
        let ok = [
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            (
                "/v2/library/nginx/tags/list",
                Route::Tags("library/nginx".into()),
            ),
            (
                "/v2/library/nginx/manifests/1.25",
                Route::Manifest("library/nginx".into(), Reference::Tag("1.25".into())),
            ),
            (
                &format!("/v2/a/b/c/manifests/{D}"),
                Route::Manifest("a/b/c".into(), Reference::Digest(d)),
            ),
            (&format!("/v2/k8s/blobs/{D}"), Route::Blob("k8s".into(), d)),
            ("/v2/k8s/blobs/uploads/", Route::Upload("k8s".into())),
            ("/v2/k8s/blobs/uploads/abc", Route::Upload("k8s".into())),
            // A repository may be called `manifests` or `blobs`.
            (
                "/v2/blobs/manifests/manifests/v1",
                Route::Manifest("blobs/manifests".into(), Reference::Tag("v1".into())),
            ),
        ];
        for (path, want) in ok {
            assert_eq!(parse(path), Ok(want), "{path}");
        }
        let bad = [
            ("/v2/../etc/manifests/v1", 404),
            ("/v2/library/../../manifests/v1", 404),
            ("/v2/library%2Fnginx/manifests/v1", 404),
            ("/v2/library/nginx/manifests/%2e%2e", 404),
            ("/v2//etc/passwd/manifests/v1", 404),
            ("/v2/library/nginx/manifests/..", 400),
            ("/v2/library/nginx/manifests/a/b", 400),
            ("/v2/Library/manifests/v1", 404),
            ("/v2/a\\b/manifests/v1", 404),
            ("/etc/passwd", 404),
            ("/v2/library/nginx/blobs/sha256:abc", 400),
            ("/v2/library/nginx/blobs/sha512:abc", 400),
            (&format!("/v2/library/nginx/blobs/{D}/../x"), 400),
            ("/v2/library/nginx", 404),
            ("/v2x", 404),
        ];
        for (path, status) in bad {
            let e = parse(path).expect_err(path);
            assert_eq!(e.status, status, "{path}: {e:?}");
        }
    }

    #[test]
    fn names_and_tags() {
        for n in ["a", "library/nginx", "a.b_c__d---e/f-1", "0/1/2"] {
            assert!(is_name(n), "{n}");
        }
        for n in [
            "", "A", "a/", "/a", "a//b", "a/./b", "a/../b", "-a", "a-", "a..b", "a___b", "a._b",
        ] {
            assert!(!is_name(n), "{n}");
        }
        assert!(!is_name(&"a".repeat(256)));
        for t in ["v1", "1.25", "_x", "latest-alpine.3"] {
            assert!(is_tag(t), "{t}");
        }
        for t in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(!is_tag(t), "{t}");
        }
    }

    #[test]
    fn targets_and_pages() {
        assert_eq!(split_target("/v2/_catalog?n=2"), ("/v2/_catalog", "n=2"));
        assert_eq!(split_target("http://h:5000/v2/?x"), ("/v2/", "x"));
        assert_eq!(split_target("http://h:5000"), ("/", ""));
        assert_eq!(pagination("n=2&last=b"), Ok((Some(2), Some("b".into()))));
        assert!(pagination("n=x").is_err());
        let items: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            page(&items, Some(2), None),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(page(&items, Some(2), Some("b")), (vec!["c".into()], false));
        assert_eq!(page(&items, None, Some("c")), (vec![], false));
    }
}
