//! The view `sealer inspect` prints: an image in the shape of sealer's
//! ImageSpec (kind Image, metadata.name, spec.id, spec.layers, spec.platform,
//! spec.image_config), plus sealer v0.11's image extension and container
//! image list (manifest annotations) and the rootfs `Metadata` file.
//!
//! Layer types come from the config's history, whichever tool wrote it:
//! our builds and sealer v0.8 (`TYPE VALUE`), buildah as sealer v0.9-v0.11
//! drives it (`/bin/sh -c #(nop) COPY dir:<hex> in <dest> `, `/bin/sh -c
//! <command>` for RUN, `/bin/sh` for a committed working container).

use std::collections::BTreeMap;

use serde::Serialize;

use super::extension::{ImageExtension, ANNOTATION as ANNOTATION_EXTENSION};
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
    /// sealer v0.9-v0.11's image extension (the manifest annotation), ours
    /// included.
    #[serde(rename = "imageExtension", skip_serializing_if = "Option::is_none")]
    pub extension: Option<ImageExtension>,
    /// What `sealer run` starts each application with (its APPCMDS, else
    /// the default of its type), from the rootfs root.
    #[serde(
        rename = "appLaunchCommands",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub app_launch: BTreeMap<String, String>,
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
    /// A partly present layer (`pull --lazy`): how much is cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazy: Option<String>,
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
            let (kind, value) = split_instruction(&by, labels);
            SpecLayer {
                id: l.digest.to_string(),
                kind,
                value,
                size: l.size,
                lazy: None,
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
            app_launch: extension(img)
                .map(|e| {
                    e.applications
                        .iter()
                        .map(|a| {
                            let root = format!("{}/{}/", crate::build::apps::APP_ROOT, a.name);
                            (a.name.clone(), a.launch_command(&root))
                        })
                        .filter(|(_, cmd)| !cmd.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            extension: extension(img),
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

/// The image extension annotation, if the image has a readable one.
fn extension(img: &Image) -> Option<ImageExtension> {
    let json = img.manifest.annotations.get(ANNOTATION_EXTENSION)?;
    match serde_json::from_str(json) {
        Ok(e) => Some(e),
        Err(e) => {
            log::warn!(
                "{}: unreadable {ANNOTATION_EXTENSION} annotation: {e}",
                img.id.short()
            );
            None
        }
    }
}

/// Where sealer v0.9-v0.11 puts an application's files (`APP` becomes a
/// COPY there: `build/kubefile/parser/app_handler.go`).
const APPS_DIR: &str = "application/apps/";

/// A history entry as (type, value): `"COPY daemon.json etc/"` ->
/// ("COPY", "daemon.json etc/"); buildah's forms as the module doc says; an
/// instruction we cannot read is a BASE layer.
fn split_instruction(by: &str, labels: &BTreeMap<String, String>) -> (String, String) {
    if let Some(parsed) = split_buildah(by, labels) {
        return parsed;
    }
    let (word, rest) = by.split_once(' ').unwrap_or((by, ""));
    match word {
        "COPY" | "ADD" | "RUN" | "APP" | "CNI" | "CSI" | "COMMIT" | "BASE" => {
            (word.to_string(), rest.to_string())
        }
        _ => ("BASE".to_string(), by.to_string()),
    }
}

/// buildah's `created_by` (`imagebuildah/stage_executor.go` getCreatedBy,
/// sealer v0.11 `pkg/imageengine/buildah/copy.go`), or None.
fn split_buildah(by: &str, labels: &BTreeMap<String, String>) -> Option<(String, String)> {
    const SHELL: &str = "/bin/sh -c ";
    if by == "/bin/sh" {
        return Some(("COMMIT".into(), by.into()));
    }
    // RUN with build args: `|2 A=1 B=2 /bin/sh -c <command>`.
    let by = match by.strip_prefix('|') {
        Some(args) => &args[args.find(&format!(" {SHELL}"))? + 1..],
        None => by,
    };
    let rest = by.strip_prefix(SHELL)?;
    let Some(nop) = rest.strip_prefix("#(nop)") else {
        return Some(("RUN".into(), rest.to_string()));
    };
    let nop = nop.trim();
    let (word, args) = nop.split_once(' ').unwrap_or((nop, ""));
    let word = word.to_ascii_uppercase();
    if word != "COPY" && word != "ADD" {
        return Some((word, args.to_string()));
    }
    // `<summary> in <dest> `: summary is `file:<hex>`, `dir:<hex>`, `multi:<hex>`.
    let Some((summary, dest)) = args.rsplit_once(" in ") else {
        return Some((word, args.to_string()));
    };
    let app = dest.trim_start_matches('/').strip_prefix(APPS_DIR);
    match app
        .and_then(|a| a.split('/').next())
        .filter(|n| !n.is_empty())
    {
        Some(name) => {
            let kind = ["cni", "csi"]
                .into_iter()
                .find(|k| labels.contains_key(&format!("cluster.alpha.sealer.io/kube-{k}-{name}")))
                .map_or("APP".to_string(), str::to_ascii_uppercase);
            Some((kind, format!("{name} {summary}")))
        }
        None => Some((word, format!("{summary} {dest}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_forms() {
        let labels: BTreeMap<String, String> = [(
            "cluster.alpha.sealer.io/kube-cni-calico".to_string(),
            "true".to_string(),
        )]
        .into();
        let table = [
            // Ours and sealer v0.8's.
            ("COPY daemon.json etc/", "COPY", "daemon.json etc/"),
            ("BASE rootfs cache", "BASE", "rootfs cache"),
            ("RUN echo hi", "RUN", "echo hi"),
            ("FROM somewhere", "BASE", "FROM somewhere"),
            // buildah's, as sealer v0.9-v0.11 images carry them.
            (
                "/bin/sh -c #(nop) COPY dir:2127a0f1 in . ",
                "COPY",
                "dir:2127a0f1 .",
            ),
            (
                "/bin/sh -c #(nop) ADD file:ab in etc/ ",
                "ADD",
                "file:ab etc/",
            ),
            (
                "/bin/sh -c #(nop) COPY file:b48c in application/apps/cnstack-acos/ ",
                "APP",
                "cnstack-acos file:b48c",
            ),
            (
                "/bin/sh -c #(nop) COPY multi:9f in application/apps/calico ",
                "CNI",
                "calico multi:9f",
            ),
            ("/bin/sh -c echo hello > a", "RUN", "echo hello > a"),
            (
                "|1 ARCH=amd64 /bin/sh -c cp bin/${ARCH} x",
                "RUN",
                "cp bin/${ARCH} x",
            ),
            (
                "/bin/sh -c #(nop) LABEL \"a\"=\"b\"",
                "LABEL",
                "\"a\"=\"b\"",
            ),
            ("/bin/sh", "COMMIT", "/bin/sh"),
            ("|x", "BASE", "|x"),
        ];
        for (by, kind, value) in table {
            assert_eq!(
                split_instruction(by, &labels),
                (kind.to_string(), value.to_string()),
                "{by}"
            );
        }
    }
}
