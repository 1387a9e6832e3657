//! The view `sealer inspect` prints: an image in the shape of sealer's
//! ImageSpec (kind Image, metadata.name, spec.id, spec.layers, spec.platform,
//! spec.image_config), plus the rootfs `Metadata` file.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Image;

/// Label holding the ARG values a build used (JSON object).
pub const LABEL_ARGS: &str = "sealer.io/args";
/// Label holding the base image's ARG values (JSON object).
pub const LABEL_ARGS_PARENT: &str = "sealer.io/args.parent";
/// Label holding the base image's CMD (JSON array).
pub const LABEL_CMD_PARENT: &str = "sealer.io/cmd.parent";

/// Manifest annotation listing the container images cached in `registry/`
/// (sealer v0.11's `SealerImageContainerImageList`).
pub const ANNOTATION_CONTAINER_IMAGES: &str = "sealer.image.container.images";

/// One entry of [`ANNOTATION_CONTAINER_IMAGES`], as sealer v0.11 writes it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ContainerImage {
    /// The normalised reference (`docker.io/library/nginx:1.25`).
    pub image: String,
    /// The application (`application/apps/NAME`) it belongs to.
    #[serde(rename = "appName", default, skip_serializing_if = "String::is_empty")]
    pub app_name: String,
    /// The platform it was cached for.
    #[serde(default)]
    pub platform: Option<super::oci::Platform>,
}

/// Top level of `sealer inspect`.
#[derive(Serialize)]
pub struct ImageSpec {
    /// Always "Image".
    pub kind: &'static str,
    /// API version of this view.
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    /// Name.
    pub metadata: SpecMetadata,
    /// The image.
    pub spec: Spec,
}

/// `metadata` of the view.
#[derive(Serialize)]
pub struct SpecMetadata {
    /// The name the image was found by.
    pub name: String,
}

/// `spec` of the view.
#[derive(Serialize)]
pub struct Spec {
    /// Image id (config digest).
    pub id: String,
    /// Manifest digest.
    pub digest: String,
    /// Layers, bottom first.
    pub layers: Vec<SpecLayer>,
    /// Platform.
    pub platform: super::oci::Platform,
    /// Sealer's image config.
    pub image_config: SpecConfig,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The Kubernetes version it supports (`KUBEVERSION`: sealer v0.11's
    /// label, or the one earlier versions of ours wrote).
    #[serde(rename = "kubeVersion", skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Container images cached in `registry/` (the manifest annotation).
    #[serde(rename = "containerImageList", skip_serializing_if = "Vec::is_empty")]
    pub container_images: Vec<ContainerImage>,
    /// The `Metadata` file at the rootfs root, parsed as JSON or YAML when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs_metadata: Option<serde_yaml::Value>,
}

/// One layer of the view.
#[derive(Serialize)]
pub struct SpecLayer {
    /// Layer id (`sha256:...`): digest = diff_id.
    pub id: String,
    /// COPY, ADD, RUN, APP, CNI, CSI, COMMIT or BASE (made elsewhere).
    #[serde(rename = "type")]
    pub kind: String,
    /// The instruction's arguments.
    pub value: String,
    /// Size in bytes.
    pub size: u64,
}

/// `image_config` of the view.
#[derive(Serialize)]
pub struct SpecConfig {
    /// CMD of this image and of its base.
    pub cmd: CurrentParent<Vec<String>>,
    /// ARG values of this build and of its base.
    pub args: CurrentParent<BTreeMap<String, String>>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// ENV.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// A value for this image and for its base image.
#[derive(Serialize)]
pub struct CurrentParent<T> {
    /// Set by this image's build.
    pub current: T,
    /// Inherited from the base image.
    pub parent: T,
}

/// Builds the view of `img`; `metadata` is the rootfs `Metadata` file.
pub fn image_spec(img: &Image, metadata: Option<Vec<u8>>) -> ImageSpec {
    let c = &img.config;
    let labels = &c.config.labels;
    fn json_label<T: serde::de::DeserializeOwned + Default>(
        labels: &BTreeMap<String, String>,
        k: &str,
    ) -> T {
        labels
            .get(k)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    }
    let made: Vec<&super::oci::History> = c.history.iter().filter(|h| !h.empty_layer).collect();
    let aligned = made.len() == img.manifest.layers.len();
    let layers = img
        .manifest
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let by = if aligned {
                made[i].created_by.clone().unwrap_or_default()
            } else {
                String::new()
            };
            let (kind, value) = split_instruction(&by);
            SpecLayer {
                id: l.digest.to_string(),
                kind,
                value,
                size: l.size,
            }
        })
        .collect();
    ImageSpec {
        kind: "Image",
        api_version: "sealer.io/v1",
        metadata: SpecMetadata {
            name: img.name.clone().unwrap_or_else(|| img.id.to_string()),
        },
        spec: Spec {
            id: img.id.to_string(),
            digest: img.manifest_digest.to_string(),
            layers,
            platform: super::oci::Platform {
                architecture: c.architecture.clone(),
                os: c.os.clone(),
                variant: c.variant.clone(),
            },
            image_config: SpecConfig {
                cmd: CurrentParent {
                    current: c.config.cmd.clone().unwrap_or_default(),
                    parent: json_label(labels, LABEL_CMD_PARENT),
                },
                args: CurrentParent {
                    current: json_label(labels, LABEL_ARGS),
                    parent: json_label(labels, LABEL_ARGS_PARENT),
                },
                labels: labels
                    .iter()
                    .filter(|(k, _)| !k.starts_with("sealer.io/"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                env: c.config.env.clone(),
            },
            created: c.created.clone(),
            kube_version: labels
                .get(crate::build::apps::LABEL_KUBE_VERSION)
                .or_else(|| labels.get(crate::build::apps::LABEL_KUBE_VERSION_OLD))
                .cloned(),
            container_images: img
                .manifest
                .annotations
                .get(ANNOTATION_CONTAINER_IMAGES)
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default(),
            rootfs_metadata: metadata.map(|m| match serde_yaml::from_slice(&m) {
                Ok(v) => v,
                Err(_) => serde_yaml::Value::String(String::from_utf8_lossy(&m).into_owned()),
            }),
        },
    }
}

/// `"COPY daemon.json etc/"` -> ("COPY", "daemon.json etc/"); an instruction
/// we did not write (another tool's history) is a BASE layer.
fn split_instruction(by: &str) -> (String, String) {
    let (word, rest) = by.split_once(' ').unwrap_or((by, ""));
    match word {
        "COPY" | "ADD" | "RUN" | "APP" | "CNI" | "CSI" | "COMMIT" | "BASE" => {
            (word.to_string(), rest.to_string())
        }
        _ => ("BASE".to_string(), by.to_string()),
    }
}
