//! Platforms: parsing what a user types (`os/arch[/variant]`, normalised as
//! containerd normalises), matching an image's platform, and choosing one
//! manifest of an index: exactly the asked platform, or for the default (this
//! machine) containerd's ordered list of platforms the host can run.

use crate::error::{Error, Result};
use crate::image::oci::{Descriptor, Index, Platform};

/// Operating systems Go knows (`GOOS`), the only ones an image may name.
const KNOWN_OS: [&str; 14] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
];
/// Architectures Go knows (`GOARCH`).
const KNOWN_ARCH: [&str; 16] = [
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64",
    "ppc64le", "riscv64", "s390x", "wasm", "sparc64", "ppc",
];

/// A platform: `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlatformSpec {
    /// Operating system.
    pub os: String,
    /// Architecture (GOARCH spelling).
    pub arch: String,
    /// Variant, if any.
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// This machine: `linux/<host arch>`.
    pub fn host() -> PlatformSpec {
        PlatformSpec {
            os: "linux".into(),
            arch: crate::image::oci::host_arch().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`, accepting the aliases containerd accepts
    /// (`x86_64`, `aarch64`, `armhf`, ...), refusing an OS or architecture
    /// Go does not know.
    pub fn parse(s: &str) -> Result<PlatformSpec> {
        let bad = |why: &str| {
            Error::Platform(format!(
                "invalid platform {s:?}: {why} (expected os/arch[/variant], e.g. linux/amd64)"
            ))
        };
        let parts: Vec<String> = s.split('/').map(str::to_ascii_lowercase).collect();
        let ok = |p: &String| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(bad("malformed"));
        }
        let os = match parts[0].as_str() {
            "macos" => "darwin".to_string(),
            o => o.to_string(),
        };
        if !KNOWN_OS.contains(&os.as_str()) {
            return Err(bad(&format!("unknown operating system {os:?}")));
        }
        let (arch, variant) = normalize_arch(&parts[1], parts.get(2).map(String::as_str));
        if !KNOWN_ARCH.contains(&arch.as_str()) {
            return Err(bad(&format!("unknown architecture {:?}", parts[1])));
        }
        if let Some(v) = &variant {
            let known = match arch.as_str() {
                "arm" => ["v5", "v6", "v7", "v8"].contains(&v.as_str()),
                "amd64" => ["v2", "v3", "v4"].contains(&v.as_str()),
                "arm64" => v.starts_with("v8.") || v == "v9" || v.starts_with("v9.") || v == "v8",
                _ => true,
            };
            if !known {
                return Err(bad(&format!("unknown variant {v:?} of {arch}")));
            }
        }
        Ok(PlatformSpec { os, arch, variant })
    }

    /// Parses a comma-separated list, refusing duplicates.
    pub fn parse_list(s: &str) -> Result<Vec<PlatformSpec>> {
        let mut out: Vec<PlatformSpec> = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let spec = PlatformSpec::parse(p)?;
            if out.contains(&spec) {
                return Err(Error::Platform(format!("platform {spec} is listed twice")));
            }
            out.push(spec);
        }
        if out.is_empty() {
            return Err(Error::Platform(format!("no platform in {s:?}")));
        }
        Ok(out)
    }

    /// The platform an image config or index entry names.
    pub fn of(p: &Platform) -> PlatformSpec {
        let (arch, variant) = normalize_arch(
            &p.architecture.to_ascii_lowercase(),
            p.variant.as_deref().filter(|v| !v.is_empty()),
        );
        PlatformSpec {
            os: p.os.to_ascii_lowercase(),
            arch,
            variant,
        }
    }

    /// The platform an image config names (`linux/<host>` when it names
    /// no architecture).
    pub fn of_config(c: &crate::image::oci::Config) -> PlatformSpec {
        if c.architecture.is_empty() {
            return PlatformSpec::host();
        }
        PlatformSpec::of(&Platform {
            architecture: c.architecture.clone(),
            os: if c.os.is_empty() {
                "linux".into()
            } else {
                c.os.clone()
            },
            variant: c.variant.clone(),
        })
    }

    /// As an OCI platform.
    pub fn to_platform(&self) -> Platform {
        Platform {
            architecture: self.arch.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
        }
    }

    /// Whether an image of `os`/`arch`/`variant` is what is asked: same OS
    /// and architecture, and the asked variant if one is asked.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let got = PlatformSpec::of(&Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(String::from),
        });
        if self.os != got.os || self.arch != got.arch {
            return false;
        }
        match (&self.variant, &got.variant) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
        }
    }

    /// Whether an index entry or config platform is this one.
    pub fn matches_platform(&self, p: &Platform) -> bool {
        self.matches(&p.os, &p.architecture, p.variant.as_deref())
    }

    /// What this machine runs, best first, as containerd's `platforms.Only`
    /// orders it: amd64 also runs 386; arm64 also runs arm v8 to v5; arm vN
    /// also runs the lower variants.
    pub fn host_order(&self) -> Vec<PlatformSpec> {
        let with = |arch: &str, variant: Option<&str>| PlatformSpec {
            os: self.os.clone(),
            arch: arch.into(),
            variant: variant.map(String::from),
        };
        let mut out = vec![self.clone()];
        match self.arch.as_str() {
            "amd64" => out.push(with("386", None)),
            "arm64" => {
                for v in ["v8", "v7", "v6", "v5"] {
                    out.push(with("arm", Some(v)));
                }
            }
            "arm" => {
                let n: u32 = self
                    .variant
                    .as_deref()
                    .and_then(|v| v.strip_prefix('v'))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(7);
                out[0].variant = Some(format!("v{n}"));
                for lower in (5..n).rev() {
                    out.push(with("arm", Some(&format!("v{lower}"))));
                }
            }
            _ => {}
        }
        out
    }
}

/// containerd's normalisation of an architecture and its variant.
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let v = |s: &str| {
        Some(if s.starts_with('v') {
            s.to_string()
        } else {
            format!("v{s}")
        })
    };
    match (arch, variant) {
        ("i386", _) => ("386".into(), None),
        ("x86_64" | "x86-64" | "amd64", Some("v1" | "1")) => ("amd64".into(), None),
        ("x86_64" | "x86-64" | "amd64", var) => ("amd64".into(), var.and_then(v)),
        ("aarch64" | "arm64", Some("8" | "v8")) => ("arm64".into(), None),
        ("aarch64" | "arm64", var) => ("arm64".into(), var.and_then(v)),
        ("armhf", _) => ("arm".into(), Some("v7".into())),
        ("armel", _) => ("arm".into(), Some("v6".into())),
        ("arm", var) => ("arm".into(), var.and_then(v)),
        (other, var) => (other.into(), var.map(String::from)),
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Which platform of an index to take.
#[derive(Clone, Debug, Default)]
pub enum Want {
    /// This machine's, by containerd's rules; a single-platform image of
    /// another platform is taken as it is.
    #[default]
    Host,
    /// Exactly this one; anything else is an error.
    Exactly(PlatformSpec),
}

impl Want {
    /// `Exactly` the parsed platform, or `Host` when none is given.
    pub fn parse(given: Option<&str>) -> Result<Want> {
        Ok(match given {
            Some(s) => Want::Exactly(PlatformSpec::parse(s)?),
            None => Want::Host,
        })
    }

    /// The platforms acceptable, best first.
    pub fn candidates(&self) -> Vec<PlatformSpec> {
        match self {
            Want::Host => PlatformSpec::host().host_order(),
            Want::Exactly(p) => vec![p.clone()],
        }
    }

    /// The asked platform (or this machine's).
    pub fn platform(&self) -> PlatformSpec {
        match self {
            Want::Host => PlatformSpec::host(),
            Want::Exactly(p) => p.clone(),
        }
    }
}

/// The platforms an index offers, as `os/arch[/variant]` joined by `, `.
pub fn offered(index: &Index) -> String {
    let all: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| PlatformSpec::of(p).to_string())
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// Chooses the manifest for `want` from an index: the first entry of the
/// best acceptable platform; with no variant asked, the highest variant.
pub fn select(index: &Index, want: &Want) -> Result<Descriptor> {
    for candidate in want.candidates() {
        let mut found: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| candidate.matches_platform(p))
            })
            .filter(|d| d.media_type != "application/vnd.in-toto+json")
            .collect();
        if candidate.variant.is_none() {
            // Stable: among equal variants the first entry stays first.
            found.sort_by(|a, b| {
                let v = |d: &Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
                v(b).cmp(&v(a))
            });
        }
        if let Some(d) = found.first() {
            return Ok((*d).clone());
        }
    }
    Err(Error::Platform(format!(
        "no image for platform {} (offered: {})",
        want.platform(),
        offered(index)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::image::oci::{MEDIA_INDEX, MEDIA_MANIFEST};

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        Index {
            schema_version: 2,
            media_type: MEDIA_INDEX.into(),
            manifests: platforms
                .iter()
                .enumerate()
                .map(|(i, (os, arch, variant))| Descriptor {
                    media_type: MEDIA_MANIFEST.into(),
                    digest: Digest::of(&[i as u8]),
                    size: 1,
                    annotations: Default::default(),
                    platform: Some(Platform {
                        architecture: arch.to_string(),
                        os: os.to_string(),
                        variant: variant.map(String::from),
                    }),
                })
                .collect(),
        }
    }

    fn exactly(s: &str) -> Want {
        Want::Exactly(PlatformSpec::parse(s).unwrap())
    }

    #[test]
    fn selection() {
        let idx = index(&[
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", Some("v8")),
        ]);
        let pick = |s: &str| select(&idx, &exactly(s)).map(|d| d.digest);
        assert_eq!(pick("linux/amd64").unwrap(), idx.manifests[0].digest);
        assert_eq!(pick("linux/x86_64").unwrap(), idx.manifests[0].digest);
        assert_eq!(pick("linux/arm").unwrap(), idx.manifests[2].digest);
        assert_eq!(pick("linux/arm/v6").unwrap(), idx.manifests[1].digest);
        assert_eq!(pick("linux/arm64/v8").unwrap(), idx.manifests[3].digest);
        assert_eq!(pick("linux/aarch64").unwrap(), idx.manifests[3].digest);
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm/v7"),
            "{err}"
        );
    }

    #[test]
    fn host_order_as_containerd() {
        let arm64 = PlatformSpec::parse("linux/arm64").unwrap();
        let order: Vec<String> = arm64.host_order().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            order,
            [
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
        let amd64 = PlatformSpec::parse("linux/amd64").unwrap();
        assert_eq!(amd64.host_order().len(), 2);
        let armv6 = PlatformSpec::parse("linux/arm/v6").unwrap();
        let order: Vec<String> = armv6.host_order().iter().map(|p| p.to_string()).collect();
        assert_eq!(order, ["linux/arm/v6", "linux/arm/v5"]);
    }

    #[test]
    fn parsing() {
        for bad in [
            "linux",
            "a/b/c/d",
            "linux/",
            "li nux/amd64",
            "linux/amd65",
            "plan10/amd64",
            "linux/arm/v3",
        ] {
            assert!(PlatformSpec::parse(bad).is_err(), "{bad}");
        }
        let p = PlatformSpec::parse("Linux/armhf").unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
        let l = PlatformSpec::parse_list("linux/amd64, linux/arm64").unwrap();
        assert_eq!(l.len(), 2);
        assert!(PlatformSpec::parse_list("linux/amd64,linux/x86_64").is_err());
        assert!(PlatformSpec::parse_list(",").is_err());
    }
}
