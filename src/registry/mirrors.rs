//! `registries.conf` (containers-registries.conf(5), version 2 TOML): where
//! to pull an image from. Each `[[registry]]` has a `prefix` (default: its
//! `location`; `*.example.com` matches subdomains), a `location` that
//! replaces the prefix, `insecure`, `blocked`, and `[[registry.mirror]]`
//! entries (`location`, `insecure`, `pull-from-mirror` = `all`,
//! `digest-only` or `tag-only`) tried in order before the location. The
//! longest matching prefix wins. Pushes never go to mirrors.
//!
//! Read from `--registries-conf`, else `$CONTAINERS_REGISTRIES_CONF`, else
//! `/etc/containers/registries.conf` if it exists. The parser takes `&str`.

use serde::Deserialize;

use crate::error::{invalid, Result};

/// The default configuration file.
pub const DEFAULT_PATH: &str = "/etc/containers/registries.conf";
/// The environment variable naming another file (as containers/image reads it).
pub const ENV: &str = "CONTAINERS_REGISTRIES_CONF";

/// A parsed `registries.conf`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegistriesConf {
    /// The `[[registry]]` tables.
    #[serde(default)]
    pub registry: Vec<RegistryEntry>,
}

/// One `[[registry]]`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegistryEntry {
    /// References this entry applies to.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Where they are pulled from (replaces the prefix).
    #[serde(default)]
    pub location: Option<String>,
    /// Plain HTTP and unverified TLS allowed.
    #[serde(default)]
    pub insecure: bool,
    /// Pulling from it is refused.
    #[serde(default)]
    pub blocked: bool,
    /// Mirrors, tried in order before the location.
    #[serde(default)]
    pub mirror: Vec<Mirror>,
}

/// One `[[registry.mirror]]`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Mirror {
    /// `host[:port][/path]`.
    pub location: String,
    /// Plain HTTP and unverified TLS allowed.
    #[serde(default)]
    pub insecure: bool,
    /// `all` (default), `digest-only` or `tag-only`.
    #[serde(default, rename = "pull-from-mirror")]
    pub pull_from_mirror: Option<String>,
}

/// Where to try pulling one repository: `host/path` and whether it is
/// insecure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]/path` of the repository there.
    pub name: String,
    /// Plain HTTP and unverified TLS allowed.
    pub insecure: bool,
}

impl RegistriesConf {
    /// Parses the TOML text of a `registries.conf`.
    pub fn parse(text: &str) -> std::result::Result<RegistriesConf, String> {
        let conf: RegistriesConf = toml::from_str(text).map_err(|e| e.to_string())?;
        for r in &conf.registry {
            if r.prefix.is_none() && r.location.is_none() {
                return Err("a [[registry]] has neither prefix nor location".into());
            }
            for m in &r.mirror {
                match m.pull_from_mirror.as_deref() {
                    None | Some("all" | "digest-only" | "tag-only") => {}
                    Some(other) => return Err(format!("unknown pull-from-mirror {other:?}")),
                }
            }
        }
        Ok(conf)
    }

    /// The configuration in force: `--registries-conf` (recorded in
    /// [`ENV`]), else the default file; none if neither exists.
    pub fn load() -> Result<RegistriesConf> {
        let (path, must) = match std::env::var_os(ENV) {
            Some(p) => (std::path::PathBuf::from(p), true),
            None => (std::path::PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => RegistriesConf::parse(&text)
                .map_err(|why| invalid(format!("{}: {why}", path.display()))),
            Err(e) if !must && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(RegistriesConf::default())
            }
            Err(e) => Err(invalid(format!("{}: {e}", path.display()))),
        }
    }

    /// Where to pull `name` (`host/path`) from, in order: the matching
    /// entry's mirrors (those allowed for a pull by digest or by tag), then
    /// its location. An error if the entry blocks it.
    pub fn endpoints(&self, name: &str, by_digest: bool, insecure: bool) -> Result<Vec<Endpoint>> {
        let best = self
            .registry
            .iter()
            .filter_map(|r| {
                let prefix = r.prefix.as_deref().or(r.location.as_deref())?;
                matched(prefix, name).map(|len| (len, r))
            })
            .max_by_key(|(len, _)| *len);
        let Some((len, entry)) = best else {
            return Ok(vec![Endpoint {
                name: name.to_string(),
                insecure,
            }]);
        };
        if entry.blocked {
            return Err(invalid(format!("{name} is blocked by registries.conf")));
        }
        let rest = &name[len..];
        let mut out: Vec<Endpoint> = entry
            .mirror
            .iter()
            .filter(|m| match m.pull_from_mirror.as_deref() {
                Some("digest-only") => by_digest,
                Some("tag-only") => !by_digest,
                _ => true,
            })
            .map(|m| Endpoint {
                name: format!("{}{rest}", m.location.trim_end_matches('/')),
                insecure: insecure || m.insecure,
            })
            .collect();
        let location = entry.location.as_deref().unwrap_or(&name[..len]);
        out.push(Endpoint {
            name: format!("{}{rest}", location.trim_end_matches('/')),
            insecure: insecure || entry.insecure,
        });
        Ok(out)
    }
}

/// The length of `name`'s part that `prefix` matches (at a `/` boundary or
/// the end), if it does. `*.example.com` matches any subdomain's host.
fn matched(prefix: &str, name: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next()?;
        let bare = host.split(':').next()?;
        return (bare.ends_with(&format!(".{domain}"))).then_some(host.len());
    }
    let prefix = prefix.trim_end_matches('/');
    let tail = name.strip_prefix(prefix)?;
    (tail.is_empty() || tail.starts_with('/')).then_some(prefix.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "example.com"
location = "internal.example.com:5000"

[[registry.mirror]]
location = "127.0.0.1:6000"
insecure = true

[[registry.mirror]]
location = "mirror.local/by-digest"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com/blocked"
blocked = true

[[registry]]
location = "plain.example.org"
insecure = true

[[registry]]
prefix = "*.corp.net"
[[registry.mirror]]
location = "cache.corp.net"
"#;

    #[test]
    fn endpoints_table() {
        let conf = RegistriesConf::parse(CONF).unwrap();
        let names = |name: &str, by_digest: bool| -> Vec<(String, bool)> {
            conf.endpoints(name, by_digest, false)
                .unwrap()
                .into_iter()
                .map(|e| (e.name, e.insecure))
                .collect()
        };
        let s = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(n, i)| (n.to_string(), *i)).collect()
        };
        assert_eq!(
            names("example.com/k8s", false),
            s(&[
                ("127.0.0.1:6000/k8s", true),
                ("internal.example.com:5000/k8s", false)
            ])
        );
        assert_eq!(
            names("example.com/k8s", true),
            s(&[
                ("127.0.0.1:6000/k8s", true),
                ("mirror.local/by-digest/k8s", false),
                ("internal.example.com:5000/k8s", false)
            ])
        );
        assert_eq!(
            names("example.community/x", false),
            s(&[("example.community/x", false)])
        );
        assert_eq!(
            names("plain.example.org/a/b", false),
            s(&[("plain.example.org/a/b", true)])
        );
        assert_eq!(
            names("reg.corp.net:5000/a", false),
            s(&[("cache.corp.net/a", false), ("reg.corp.net:5000/a", false)])
        );
        let err = conf
            .endpoints("example.com/blocked/x", false, false)
            .unwrap_err();
        assert!(err.to_string().contains("blocked"), "{err}");
    }

    #[test]
    fn bad_files_are_refused() {
        for (text, why) in [
            ("[[registry]]\ninsecure = true\n", "neither prefix nor location"),
            ("[[registry]]\nlocation = 3\n", "invalid type"),
            (
                "[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"b\"\npull-from-mirror = \"x\"\n",
                "pull-from-mirror",
            ),
        ] {
            let err = RegistriesConf::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
