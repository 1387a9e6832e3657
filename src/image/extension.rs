//! Sealer v0.11's image extension, the manifest annotation
//! `sealer.image.extension` its `sealer run` reads to install a cluster or
//! an app (sealer v0.11.0 `pkg/define/image/v1/sealer_image.go`,
//! `pkg/define/application/v1/application.go`): one type, written by our
//! builds and read back from any image that has it.
//!
//! ```text
//! {"buildClient":{"sealerVersion":..,"buildahVersion":..},"schemaVersion":"v1alpha1",
//!  "type":"kube-installer"|"app-installer",
//!  "applications":[{"name","type":"kube"|"helm"|"shell","files":[..],"version":"v1",
//!                   "env":{..},"cmds":[..]}],
//!  "labels":{..},"env":{..},"launch":{"cmds":[..],"app_names":[..]}}
//! ```
//! Fields in Go's declaration order, maps sorted, `<`, `>` and `&` escaped
//! as Go's encoder escapes them, so the bytes match what sealer writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The annotation holding the extension.
pub const ANNOTATION: &str = "sealer.image.extension";
/// The config label naming the sealer that built the image.
pub const LABEL_VERSION: &str = "io.sealer.version";
/// `schemaVersion` sealer v0.11 writes.
pub const SCHEMA_VERSION: &str = "v1alpha1";
/// Image type: installs a cluster.
pub const KUBE_INSTALLER: &str = "kube-installer";
/// Image type: installs apps on a cluster.
pub const APP_INSTALLER: &str = "app-installer";

/// Who built the image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildClient {
    /// Our version (sealer writes its git version).
    #[serde(rename = "sealerVersion", default)]
    pub sealer_version: String,
    /// buildah's version (empty: we do not use buildah).
    #[serde(rename = "buildahVersion", default)]
    pub buildah_version: String,
}

/// One application (`APP`, `CNI`, `CSI`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Its name (`application/apps/NAME/`).
    pub name: String,
    /// `kube`, `helm`, `shell`, or empty when none could be told.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The files its default launch command uses (`launchfiles` in images
    /// of sealer v0.9).
    #[serde(default, alias = "launchfiles", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Always `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `APPENV`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `APPCMDS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmds: Vec<String>,
}

impl Application {
    /// The command `sealer run` starts it with (sealer's
    /// `GetAppLaunchCmd`): its APPCMDS in its directory, else by type.
    pub fn launch_command(&self, app_root: &str) -> String {
        let root = app_root.trim_end_matches('/');
        let join = |f: &str| format!("{root}/{}", f.trim_start_matches('/'));
        if !self.cmds.is_empty() {
            return format!("cd {root} && {}", self.cmds.join(" "));
        }
        match self.kind.as_str() {
            "kube" => self
                .files
                .iter()
                .map(|f| format!("kubectl apply -f {}", join(f)))
                .collect::<Vec<_>>()
                .join(" && "),
            "helm" => format!("helm install {} {root}", self.name),
            "shell" => self
                .files
                .iter()
                .map(|f| format!("bash {}", join(f)))
                .collect::<Vec<_>>()
                .join(" && "),
            _ => String::new(),
        }
    }
}

/// What `sealer run` launches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// `CMDS` (and the deprecated `CMD`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmds: Vec<String>,
    /// `LAUNCH`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_names: Vec<String>,
}

/// The extension.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageExtension {
    /// Who built it.
    #[serde(rename = "buildClient", default)]
    pub build_client: BuildClient,
    /// `v1alpha1`.
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: String,
    /// `kube-installer` or `app-installer`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its applications, its base image's included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<Application>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `ENV` of the Kubefile: the cluster-wide defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `LAUNCH` / `CMDS`.
    #[serde(default)]
    pub launch: Launch,
}

impl ImageExtension {
    /// The annotation value, as sealer's Go encoder writes it.
    pub fn to_annotation(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        json.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    }

    /// Reads an annotation value.
    pub fn from_annotation(text: &str) -> Option<ImageExtension> {
        serde_json::from_str(text).ok()
    }

    /// The application named `name`.
    pub fn app_mut(&mut self, name: &str) -> Option<&mut Application> {
        self.applications.iter_mut().find(|a| a.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_sealer_writes_it() {
        let mut ext = ImageExtension {
            build_client: BuildClient {
                sealer_version: "v0.1.0".into(),
                buildah_version: String::new(),
            },
            schema_version: SCHEMA_VERSION.into(),
            kind: KUBE_INSTALLER.into(),
            ..ImageExtension::default()
        };
        ext.applications.push(Application {
            name: "nginx".into(),
            kind: "kube".into(),
            files: vec!["/nginx.yaml".into()],
            version: "v1".into(),
            ..Application::default()
        });
        ext.launch
            .cmds
            .push("kubectl get pods && echo <done>".into());
        let text = ext.to_annotation();
        assert_eq!(
            text,
            r#"{"buildClient":{"sealerVersion":"v0.1.0","buildahVersion":""},"schemaVersion":"v1alpha1","type":"kube-installer","applications":[{"name":"nginx","type":"kube","files":["/nginx.yaml"],"version":"v1"}],"launch":{"cmds":["kubectl get pods \u0026\u0026 echo \u003cdone\u003e"]}}"#
        );
        assert_eq!(ImageExtension::from_annotation(&text), Some(ext));
    }

    #[test]
    fn reads_what_sealer_v09_and_v011_wrote() {
        // sealer v0.11.0 pkg/define/image/v1/sealer_image_test.go (a v0.9 image).
        let v09 = r#"{"type":"app-installer","applications":[{"name":"cnstack","type":"shell","launchfiles":["install.sh"],"version":"v1"}],"launch":{"cmds":["bash application/apps/cnstack/install.sh"]}}"#;
        let e = ImageExtension::from_annotation(v09).expect("a v0.9 extension");
        assert_eq!(e.kind, APP_INSTALLER);
        assert_eq!(e.applications[0].files, ["install.sh"]);
        assert_eq!(e.launch.cmds.len(), 1);
        let v11 = r#"{"buildClient":{"sealerVersion":"v0.11.0","buildahVersion":"1.27.1"},"schemaVersion":"v1alpha1","type":"kube-installer","applications":[{"name":"nginx","type":"kube","files":["nginx.yaml"],"version":"v1","env":{"a":"b"},"cmds":["kubectl apply -f nginx.yaml"]}],"env":{"PodCIDR":"10.0.0.0/16"},"launch":{"app_names":["nginx"]}}"#;
        let e = ImageExtension::from_annotation(v11).expect("a v0.11 extension");
        assert_eq!(e.build_client.buildah_version, "1.27.1");
        assert_eq!(e.env["PodCIDR"], "10.0.0.0/16");
        assert_eq!(e.launch.app_names, ["nginx"]);
        assert_eq!(ImageExtension::from_annotation(&e.to_annotation()), Some(e));
        assert_eq!(ImageExtension::from_annotation("[1]"), None);
    }

    #[test]
    fn launch_commands_by_type() {
        let app = |kind: &str, files: &[&str], cmds: &[&str]| Application {
            name: "a".into(),
            kind: kind.into(),
            files: files.iter().map(|s| s.to_string()).collect(),
            cmds: cmds.iter().map(|s| s.to_string()).collect(),
            ..Application::default()
        };
        let root = "/var/lib/sealer/data/my-cluster/rootfs/application/apps/a/";
        assert_eq!(
            app("kube", &["/x.yaml", "y.yaml"], &[]).launch_command(root),
            format!("kubectl apply -f {root}x.yaml && kubectl apply -f {root}y.yaml")
        );
        assert_eq!(
            app("helm", &["a"], &[]).launch_command(root),
            format!("helm install a {}", root.trim_end_matches('/'))
        );
        assert_eq!(
            app("shell", &["i.sh"], &[]).launch_command(root),
            format!("bash {root}i.sh")
        );
        assert_eq!(
            app("", &[], &["./run.sh", "--now"]).launch_command(root),
            format!("cd {} && ./run.sh --now", root.trim_end_matches('/'))
        );
    }
}
