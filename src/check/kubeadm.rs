//! The container images `kubeadm init` of a Kubernetes version pulls, as
//! `kubeadm config images list` prints them: kube-apiserver,
//! kube-controller-manager, kube-scheduler and kube-proxy tagged with the
//! version; pause, etcd and coredns at the versions kubeadm's constants
//! (`cmd/kubeadm/app/constants/constants.go`) give; all under the
//! `imageRepository` of the rootfs's kubeadm `ClusterConfiguration`. Pure:
//! text in, references out.
//!
//! ```text
//! ClusterConfiguration field        image
//! imageRepository (default below)   <repo>/kube-{apiserver,controller-manager,scheduler,proxy}:v<version>
//!                                   <repo>/pause:<PauseVersion>
//! etcd.local.imageRepository|Tag    <repo>/etcd:<SupportedEtcdVersion[minor]>  (none with etcd.external)
//! dns.imageRepository|imageTag      <repo>/coredns:<CoreDNSVersion>, <repo>/coredns/coredns from
//!                                   1.21 when <repo> is the default repository
//! default repository                k8s.gcr.io before 1.25, registry.k8s.io from 1.25
//! ```

use serde_yaml::Value;

/// The repository kubeadm pulls from before 1.25.
pub const OLD_DEFAULT_REPOSITORY: &str = "k8s.gcr.io";
/// The repository kubeadm pulls from since 1.25.
pub const DEFAULT_REPOSITORY: &str = "registry.k8s.io";

/// A Kubernetes version: `v1.19.8`, `1.22.17`, `v1.30.0-rc.1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeVersion {
    /// Major (1).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
    /// The version as kubeadm tags images with it: `v` first, `+` as `_`.
    pub tag: String,
}

impl KubeVersion {
    /// Parses `[v]MAJOR.MINOR.PATCH[-PRE][+BUILD]`; anything else is `None`
    /// (a constraint such as `>=1.20` is not a version).
    pub fn parse(text: &str) -> Option<KubeVersion> {
        let text = text.trim();
        let bare = text.strip_prefix('v').unwrap_or(text);
        let core = bare.split(['-', '+']).next().unwrap_or(bare);
        let mut parts = core.split('.');
        let mut num = || -> Option<u32> {
            let p = parts.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let (major, minor, patch) = (num()?, num()?, num()?);
        if parts.next().is_some() || major != 1 {
            return None;
        }
        Some(KubeVersion {
            major,
            minor,
            patch,
            tag: format!("v{}", bare.replace('+', "_")),
        })
    }
}

/// The versions of the images kubeadm adds to the control plane's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addons {
    /// `PauseVersion`.
    pub pause: &'static str,
    /// `SupportedEtcdVersion[minor]`.
    pub etcd: &'static str,
    /// `CoreDNSVersion`.
    pub coredns: &'static str,
}

/// (minor, first patch, versions): the row of the highest first patch at
/// or below a release applies. Taken from what `kubeadm config images list`
/// prints for every release v1.16.0 .. v1.31.2 (minikube's
/// `constants_kubeadm_images.go` records each), which is kubeadm's
/// constants as each patch release shipped them: etcd moved within a minor
/// when a newer etcd was backported (1.22.17 pulls 3.5.6-0, 1.22.0-16
/// 3.5.0-0). Releases after the last row of their minor use that row.
const TABLE: &[(u32, u32, Addons)] = &[
    (16, 0, a("3.1", "3.3.15-0", "1.6.2")),
    (17, 0, a("3.1", "3.4.3-0", "1.6.5")),
    (18, 0, a("3.2", "3.4.3-0", "1.6.7")),
    (19, 0, a("3.2", "3.4.9-1", "1.7.0")),
    (19, 1, a("3.2", "3.4.13-0", "1.7.0")),
    (20, 0, a("3.2", "3.4.13-0", "1.7.0")),
    (21, 0, a("3.4.1", "3.4.13-0", "v1.8.0")),
    (22, 0, a("3.5", "3.5.0-0", "v1.8.4")),
    (22, 17, a("3.5", "3.5.6-0", "v1.8.4")),
    (23, 0, a("3.6", "3.5.1-0", "v1.8.6")),
    (23, 14, a("3.6", "3.5.5-0", "v1.8.6")),
    (23, 15, a("3.6", "3.5.6-0", "v1.8.6")),
    (24, 0, a("3.7", "3.5.3-0", "v1.8.6")),
    (24, 8, a("3.7", "3.5.5-0", "v1.8.6")),
    (24, 9, a("3.7", "3.5.6-0", "v1.8.6")),
    (25, 0, a("3.8", "3.5.4-0", "v1.9.3")),
    (25, 4, a("3.8", "3.5.5-0", "v1.9.3")),
    (25, 5, a("3.8", "3.5.6-0", "v1.9.3")),
    (25, 15, a("3.8", "3.5.9-0", "v1.9.3")),
    (26, 0, a("3.9", "3.5.6-0", "v1.9.3")),
    (26, 10, a("3.9", "3.5.9-0", "v1.9.3")),
    (26, 13, a("3.9", "3.5.10-0", "v1.9.3")),
    (27, 0, a("3.9", "3.5.7-0", "v1.10.1")),
    (27, 7, a("3.9", "3.5.9-0", "v1.10.1")),
    (27, 10, a("3.9", "3.5.10-0", "v1.10.1")),
    (27, 12, a("3.9", "3.5.12-0", "v1.10.1")),
    (28, 0, a("3.9", "3.5.9-0", "v1.10.1")),
    (28, 6, a("3.9", "3.5.10-0", "v1.10.1")),
    (28, 8, a("3.9", "3.5.12-0", "v1.10.1")),
    (28, 14, a("3.9", "3.5.15-0", "v1.10.1")),
    (29, 0, a("3.9", "3.5.10-0", "v1.11.1")),
    (29, 3, a("3.9", "3.5.12-0", "v1.11.1")),
    (29, 9, a("3.9", "3.5.15-0", "v1.11.1")),
    (30, 0, a("3.9", "3.5.12-0", "v1.11.1")),
    (30, 5, a("3.9", "3.5.15-0", "v1.11.3")),
    (31, 0, a("3.10", "3.5.15-0", "v1.11.1")),
    (31, 1, a("3.10", "3.5.15-0", "v1.11.3")),
];

const fn a(pause: &'static str, etcd: &'static str, coredns: &'static str) -> Addons {
    Addons {
        pause,
        etcd,
        coredns,
    }
}

/// The add-on versions kubeadm of `v` uses; `None` before 1.16. A minor
/// newer than the table gets the newest row (kubeadm too falls back to its
/// nearest etcd), which the caller should say.
pub fn addons(v: &KubeVersion) -> Option<Addons> {
    let (first, _, _) = TABLE[0];
    if v.minor < first {
        return None;
    }
    let minor = v.minor.min(TABLE[TABLE.len() - 1].0);
    let patch = if minor < v.minor { u32::MAX } else { v.patch };
    TABLE
        .iter()
        .rev()
        .find(|(m, from, _)| *m == minor && *from <= patch)
        .map(|(_, _, row)| *row)
}

/// Whether the table knows the minor of `v` (rather than assuming the newest).
pub fn known(v: &KubeVersion) -> bool {
    TABLE.iter().any(|(m, _, _)| *m == v.minor)
}

/// What a kubeadm `ClusterConfiguration` says about images.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `imageRepository`.
    pub image_repository: Option<String>,
    /// `etcd.local.imageRepository`.
    pub etcd_repository: Option<String>,
    /// `etcd.local.imageTag`.
    pub etcd_tag: Option<String>,
    /// `etcd.external` is set: kubeadm runs no etcd.
    pub external_etcd: bool,
    /// `dns.imageRepository`.
    pub dns_repository: Option<String>,
    /// `dns.imageTag`.
    pub dns_tag: Option<String>,
}

/// The first document of `kind: ClusterConfiguration` in a (multi-document)
/// YAML text; `Ok(None)` if there is none, `Err` if the text is not YAML.
pub fn cluster_config(text: &str) -> Result<Option<ClusterConfig>, String> {
    use serde::Deserialize as _;
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if str_at(&v, &["kind"]).as_deref() != Some("ClusterConfiguration") {
            continue;
        }
        return Ok(Some(ClusterConfig {
            image_repository: str_at(&v, &["imageRepository"]),
            etcd_repository: str_at(&v, &["etcd", "local", "imageRepository"]),
            etcd_tag: str_at(&v, &["etcd", "local", "imageTag"]),
            external_etcd: at(&v, &["etcd", "external"]).is_some_and(|e| !e.is_null()),
            dns_repository: str_at(&v, &["dns", "imageRepository"]),
            dns_tag: str_at(&v, &["dns", "imageTag"]),
        }));
    }
    Ok(None)
}

fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// A non-empty string (or number, as YAML may read a tag) at `path`.
fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let s = match at(v, path)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// One image kubeadm pulls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeadmImage {
    /// Its component (`kube-apiserver`, `pause`, `etcd`, `coredns`).
    pub component: &'static str,
    /// The full reference.
    pub reference: String,
}

/// The images `kubeadm config images list` prints for `v` under `cfg`;
/// `None` for a version the table does not reach back to.
pub fn images(v: &KubeVersion, cfg: &ClusterConfig) -> Option<Vec<KubeadmImage>> {
    let addons = addons(v)?;
    let default = if v.minor >= 25 {
        DEFAULT_REPOSITORY
    } else {
        OLD_DEFAULT_REPOSITORY
    };
    let repo = cfg
        .image_repository
        .as_deref()
        .unwrap_or(default)
        .trim_end_matches('/');
    let mut out = Vec::new();
    let mut push = |component: &'static str, reference: String| {
        out.push(KubeadmImage {
            component,
            reference,
        })
    };
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ] {
        push(c, format!("{repo}/{c}:{}", v.tag));
    }
    push("pause", format!("{repo}/pause:{}", addons.pause));
    if !cfg.external_etcd {
        let etcd_repo = cfg.etcd_repository.as_deref().unwrap_or(repo);
        let tag = cfg.etcd_tag.as_deref().unwrap_or(addons.etcd);
        push("etcd", format!("{etcd_repo}/etcd:{tag}"));
    }
    // kubeadm's GetDNSImage: coredns/coredns only under the default
    // repository (the image moved there upstream in 1.21).
    let mut dns_repo = cfg.dns_repository.as_deref().unwrap_or(repo).to_string();
    if v.minor >= 21 && (dns_repo == DEFAULT_REPOSITORY || dns_repo == OLD_DEFAULT_REPOSITORY) {
        dns_repo.push_str("/coredns");
    }
    let tag = cfg.dns_tag.as_deref().unwrap_or(addons.coredns);
    push("coredns", format!("{dns_repo}/coredns:{tag}"));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_parse_as_kubeadm_tags_them() {
        let k = v("v1.19.8");
        assert_eq!((k.minor, k.patch, k.tag.as_str()), (19, 8, "v1.19.8"));
        assert_eq!(v("1.22.17").tag, "v1.22.17");
        assert_eq!(v("v1.30.0-rc.1").tag, "v1.30.0-rc.1");
        assert_eq!(v("v1.28.2+k3s1").tag, "v1.28.2_k3s1");
        for bad in [
            ">=1.20",
            "1.20",
            "v2.0.0",
            "v1.x.0",
            "",
            "v1.20.0.1",
            "1..2",
        ] {
            assert_eq!(KubeVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn addon_table() {
        // (release, pause, etcd, coredns) as `kubeadm config images list` prints them.
        let cases = [
            ("v1.16.15", "3.1", "3.3.15-0", "1.6.2"),
            ("v1.17.17", "3.1", "3.4.3-0", "1.6.5"),
            ("v1.18.20", "3.2", "3.4.3-0", "1.6.7"),
            ("v1.19.0", "3.2", "3.4.9-1", "1.7.0"),
            ("v1.19.8", "3.2", "3.4.13-0", "1.7.0"),
            ("v1.20.15", "3.2", "3.4.13-0", "1.7.0"),
            ("v1.21.14", "3.4.1", "3.4.13-0", "v1.8.0"),
            ("v1.22.15", "3.5", "3.5.0-0", "v1.8.4"),
            ("v1.22.17", "3.5", "3.5.6-0", "v1.8.4"),
            ("v1.23.13", "3.6", "3.5.1-0", "v1.8.6"),
            ("v1.23.17", "3.6", "3.5.6-0", "v1.8.6"),
            ("v1.24.8", "3.7", "3.5.5-0", "v1.8.6"),
            ("v1.25.0", "3.8", "3.5.4-0", "v1.9.3"),
            ("v1.25.16", "3.8", "3.5.9-0", "v1.9.3"),
            ("v1.26.15", "3.9", "3.5.10-0", "v1.9.3"),
            ("v1.27.16", "3.9", "3.5.12-0", "v1.10.1"),
            ("v1.28.15", "3.9", "3.5.15-0", "v1.10.1"),
            ("v1.29.7", "3.9", "3.5.12-0", "v1.11.1"),
            ("v1.30.6", "3.9", "3.5.15-0", "v1.11.3"),
            ("v1.31.0", "3.10", "3.5.15-0", "v1.11.1"),
            ("v1.31.2", "3.10", "3.5.15-0", "v1.11.3"),
            ("v1.33.1", "3.10", "3.5.15-0", "v1.11.3"),
        ];
        for (ver, pause, etcd, coredns) in cases {
            assert_eq!(
                addons(&v(ver)),
                Some(Addons {
                    pause,
                    etcd,
                    coredns
                }),
                "{ver}"
            );
        }
        assert_eq!(addons(&v("v1.15.12")), None);
        assert!(known(&v("v1.31.14")) && !known(&v("v1.33.1")));
        // Every minor of the table starts at patch 0, rows in order.
        for w in TABLE.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
            if w[0].0 != w[1].0 {
                assert_eq!(w[1].1, 0, "minor {}", w[1].0);
            }
        }
    }

    fn refs(ver: &str, cfg: &ClusterConfig) -> Vec<String> {
        images(&v(ver), cfg)
            .unwrap()
            .into_iter()
            .map(|i| i.reference)
            .collect()
    }

    #[test]
    fn images_under_the_default_and_a_custom_repository() {
        let none = ClusterConfig::default();
        assert_eq!(
            refs("v1.19.8", &none),
            [
                "k8s.gcr.io/kube-apiserver:v1.19.8",
                "k8s.gcr.io/kube-controller-manager:v1.19.8",
                "k8s.gcr.io/kube-scheduler:v1.19.8",
                "k8s.gcr.io/kube-proxy:v1.19.8",
                "k8s.gcr.io/pause:3.2",
                "k8s.gcr.io/etcd:3.4.13-0",
                "k8s.gcr.io/coredns:1.7.0",
            ]
        );
        let r = refs("v1.22.17", &none);
        assert_eq!(r[6], "k8s.gcr.io/coredns/coredns:v1.8.4");
        let r = refs("v1.25.16", &none);
        assert_eq!(r[0], "registry.k8s.io/kube-apiserver:v1.25.16");
        assert_eq!(r[6], "registry.k8s.io/coredns/coredns:v1.9.3");
        let hub = ClusterConfig {
            image_repository: Some("sea.hub:5000".into()),
            ..ClusterConfig::default()
        };
        let r = refs("v1.22.17", &hub);
        assert_eq!(r[4], "sea.hub:5000/pause:3.5");
        assert_eq!(r[6], "sea.hub:5000/coredns:v1.8.4");
        let own = ClusterConfig {
            image_repository: Some("sea.hub:5000/".into()),
            etcd_repository: Some("quay.io/coreos".into()),
            etcd_tag: Some("v3.5.9".into()),
            dns_repository: Some("registry.k8s.io".into()),
            dns_tag: Some("v1.9.4".into()),
            ..ClusterConfig::default()
        };
        let r = refs("v1.24.3", &own);
        assert_eq!(r[0], "sea.hub:5000/kube-apiserver:v1.24.3");
        assert_eq!(r[5], "quay.io/coreos/etcd:v3.5.9");
        assert_eq!(r[6], "registry.k8s.io/coredns/coredns:v1.9.4");
        let external = ClusterConfig {
            external_etcd: true,
            ..ClusterConfig::default()
        };
        assert!(!refs("v1.24.3", &external)
            .iter()
            .any(|r| r.contains("etcd")));
        assert_eq!(images(&v("v1.14.0"), &none), None);
    }

    #[test]
    fn cluster_configuration_is_found_among_documents() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n\
            localAPIEndpoint:\n  bindPort: 6443\n---\n\
            apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n\
            kubernetesVersion: v1.19.8\nimageRepository: sea.hub:5000\n\
            etcd:\n  local:\n    imageTag: 3.4.13-0\n    dataDir: /var/lib/etcd\n\
            dns:\n  type: CoreDNS\n  imageTag: 1.7.0\n---\n\
            kind: KubeProxyConfiguration\nmode: ipvs\n";
        let c = cluster_config(text).unwrap().unwrap();
        assert_eq!(c.image_repository.as_deref(), Some("sea.hub:5000"));
        assert_eq!(c.etcd_tag.as_deref(), Some("3.4.13-0"));
        assert_eq!(c.dns_tag.as_deref(), Some("1.7.0"));
        assert!(!c.external_etcd && c.etcd_repository.is_none());
        let ext = "kind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [a]\n";
        assert!(cluster_config(ext).unwrap().unwrap().external_etcd);
        assert_eq!(cluster_config("kind: InitConfiguration\n").unwrap(), None);
        assert!(cluster_config("kind: [unclosed\n").is_err());
    }
}
