//! The `sealer.image.extension` manifest annotation of sealer v0.9-v0.11
//! images (`pkg/define/image/v1/sealer_image.go` and
//! `pkg/define/application/v1/application.go` at v0.11.0): the image type,
//! its applications, what to launch and the global env, as a JSON string.
//! One type for reading it (and for writing it, with sealer's field names).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Manifest annotation holding the [`ImageExtension`] as JSON.
pub const ANNOTATION_EXTENSION: &str = "sealer.image.extension";

/// sealer's `ImageExtension`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageExtension {
    /// The sealer and buildah versions that built the image.
    #[serde(rename = "buildClient", default)]
    pub build_client: BuildClient,
    /// Schema version of this extension (`v1alpha1`).
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: String,
    /// `kube-installer` or `app-installer`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The applications (`APP` instructions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<Application>,
    /// Labels of the sealer image.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Global env (`ENV`), overridable by the Clusterfile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// What `sealer run` launches.
    #[serde(default, skip_serializing_if = "Launch::is_empty")]
    pub launch: Launch,
}

/// `buildClient` of the extension.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildClient {
    /// sealer's version.
    #[serde(rename = "sealerVersion", default)]
    pub sealer_version: String,
    /// buildah's version.
    #[serde(rename = "buildahVersion", default)]
    pub buildah_version: String,
}

/// One application (sealer's `v1.Application`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Its name (`application/apps/<name>`).
    pub name: String,
    /// `helm`, `kube`, `shell`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The files it launches (`launchfiles` in images of sealer v0.9).
    #[serde(default, alias = "launchfiles", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Application schema version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Its env (`APPENV`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Its commands (`APPCMDS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmds: Vec<String>,
}

/// `launch` of the extension.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// `CMDS` commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmds: Vec<String>,
    /// `LAUNCH` application names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_names: Vec<String>,
}

impl Launch {
    /// Nothing to launch.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty() && self.app_names.is_empty()
    }
}

impl ImageExtension {
    /// Parses the annotation's value.
    pub fn parse(json: &str) -> serde_json::Result<ImageExtension> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_sealer_writes() {
        // From sealer v0.11.0 pkg/define/image/v1/sealer_image_test.go.
        let v09 = r#"{"type":"app-installer","applications":[{"name":"cnstack","type":"shell","launchfiles":["install.sh"],"version":"v1"}],"launch":{"cmds":["bash application/apps/cnstack/install.sh"]}}"#;
        let e = ImageExtension::parse(v09).unwrap();
        assert_eq!(e.kind, "app-installer");
        assert_eq!(e.applications[0].files, ["install.sh"]);
        assert_eq!(e.launch.cmds.len(), 1);
        let v11 = r#"{"buildClient":{"sealerVersion":"v0.11.0","buildahVersion":"1.27.1"},"schemaVersion":"v1alpha1","type":"kube-installer","applications":[{"name":"nginx","type":"kube","files":["nginx.yaml"],"version":"v1","env":{"a":"b"},"cmds":["kubectl apply -f nginx.yaml"]}],"env":{"PodCIDR":"10.0.0.0/16"},"launch":{"app_names":["nginx"]}}"#;
        let e = ImageExtension::parse(v11).unwrap();
        assert_eq!(e.build_client.sealer_version, "v0.11.0");
        assert_eq!(e.env["PodCIDR"], "10.0.0.0/16");
        assert_eq!(e.launch.app_names, ["nginx"]);
        let again: ImageExtension =
            serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(again, e);
        assert!(ImageExtension::parse("[1]").is_err());
    }
}
