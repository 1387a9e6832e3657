//! Registry credentials and challenges: the `auths` map of docker's
//! `config.json` (what docker, skopeo and sealer v0.x share), and parsing of
//! `WWW-Authenticate` headers.
//!
//! ```text
//! $DOCKER_CONFIG/config.json   (default ~/.docker/config.json)
//! { "auths": { "<host>": { "auth": base64("user:password") } }, ...other keys kept }
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::error::{invalid, Error, IoContext, JsonContext, Result};

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password; never printed.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.username)
    }
}

impl Credentials {
    /// The `Authorization: Basic ...` value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker/config.json")
}

/// The keys under which docker may have stored a host's credentials.
fn keys_for(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if matches!(
        host,
        "docker.io" | "registry-1.docker.io" | "index.docker.io"
    ) {
        keys.insert(0, "https://index.docker.io/v1/".into());
    }
    keys
}

fn read_config() -> Result<serde_json::Value> {
    let path = config_path();
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("{}: not valid JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(err) => Err(Error::Io { path, err }),
    }
}

/// The credentials stored for `host`, if any.
pub fn lookup(host: &str) -> Result<Option<Credentials>> {
    let config = read_config()?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    for key in keys_for(host) {
        let Some(entry) = auths.get(&key) else {
            continue;
        };
        if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
            let bad = || {
                invalid(format!(
                    "{}: the auth entry of {key} is not base64 of user:password",
                    config_path().display()
                ))
            };
            let decoded = BASE64.decode(auth.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, pass) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credentials {
                username: user.to_string(),
                password: pass.to_string(),
            }));
        }
        let user = entry.get("username").and_then(|u| u.as_str());
        let pass = entry.get("password").and_then(|p| p.as_str());
        if let (Some(u), Some(p)) = (user, pass) {
            return Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
            }));
        }
    }
    Ok(None)
}

/// Stores credentials for `host`, keeping everything else in the file.
pub fn save(host: &str, creds: &Credentials) -> Result<()> {
    let mut config = read_config()?;
    let obj = config
        .as_object_mut()
        .ok_or_else(|| invalid(format!("{}: not a JSON object", config_path().display())))?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| {
            invalid(format!(
                "{}: auths is not an object",
                config_path().display()
            ))
        })?;
    let auth = BASE64.encode(format!("{}:{}", creds.username, creds.password));
    auths.insert(host.to_string(), serde_json::json!({ "auth": auth }));
    write_config(&config)
}

/// Removes every entry for `host`; returns whether there was one.
pub fn remove(host: &str) -> Result<bool> {
    let mut config = read_config()?;
    let Some(auths) = config.get_mut("auths").and_then(|a| a.as_object_mut()) else {
        return Ok(false);
    };
    let mut found = false;
    for key in keys_for(host) {
        found |= auths.remove(&key).is_some();
    }
    if found {
        write_config(&config)?;
    }
    Ok(found)
}

/// Writes the config file (mode 0600) through a temporary file and rename.
fn write_config(config: &serde_json::Value) -> Result<()> {
    let path = config_path();
    let dir = path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    fs::create_dir_all(&dir).at(&dir)?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(config).json("docker's config.json")?;
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.at(&path)
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=..,service=..,scope=..`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// The `service` parameter, if given.
        service: Option<String>,
        /// The `scope` parameter, if given.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value; `None` for schemes we do not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `k="v", k2=v2` -> map (keys lowercased; quoted values may hold commas).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let cases = [
            (
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
                Some(Challenge::Bearer {
                    realm: "https://auth.example.com/token".into(),
                    service: Some("registry.example.com".into()),
                    scope: Some("repository:a/b:pull,push".into()),
                }),
            ),
            (
                r#"bearer realm=https://t.example/token, service="svc""#,
                Some(Challenge::Bearer {
                    realm: "https://t.example/token".into(),
                    service: Some("svc".into()),
                    scope: None,
                }),
            ),
            (r#"Basic realm="Registry Realm""#, Some(Challenge::Basic)),
            (r#"Bearer service="no-realm""#, None),
            ("Negotiate abc", None),
        ];
        for (header, want) in cases {
            assert_eq!(parse_challenge(header), want, "{header}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials {
            username: "me".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.basic_header(), "Basic bWU6czNjcmV0");
    }
}
