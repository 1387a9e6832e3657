//! Configs of ClusterImages pushed by sealer v0.8: sealer's own `v1.Image`
//! wrapped with the few Docker fields registries display, and how a pull
//! turns one into a valid OCI config that keeps every sealer field.
//!
//! What sealer v0.8.6 pushes (`pkg/image/distributionutil/push.go`,
//! `types/api/v1/image_types.go`):
//!
//! ```text
//! manifest list (application/vnd.docker.distribution.manifest.list.v2+json)
//!  └ schema2 manifest per platform
//!     ├ config  application/vnd.docker.container.image.v1+json
//!     │   { "kind": "Image", "apiVersion": "sealer.aliyun.com/v1",
//!     │     "metadata": {"name", "annotations", ...},
//!     │     "spec": { "id", "sealer_version", "platform",
//!     │               "layers": [ {"id", "type", "value"}, ... ],   bottom first
//!     │               "image_config": { "image_type", "labels",
//!     │                  "cmd":  {"current": [..], "parent": [..]},
//!     │                  "args": {"current": {..}, "parent": {..}} } },
//!     │     "status": {},
//!     │     "architecture", "os",                     <- spec.platform
//!     │     "history": [ {"created_by": "TYPE VALUE", "empty_layer"}, ... ] }
//!     │   no "rootfs": sealer's layer ids are its own (a digest of a
//!     │   canonical tar of the layer directory), not diff_ids
//!     └ layers  application/vnd.docker.image.rootfs.diff.tar.gzip
//! ```
//!
//! The layer rule: an entry of `spec.layers` without an `id` (CMD, or a COPY
//! or RUN that changed nothing) has no blob; the manifest lists one blob per
//! entry *with* an id, in the same order. So the n-th manifest layer is the
//! n-th entry with an id, and the history sealer writes (one entry per
//! `spec.layers` entry, `empty_layer` where the id is empty) pairs the same
//! way. Counts that disagree make the image unusable (sealer v0.8's own pull
//! refuses it too).
//!
//! What we store: the same JSON object plus `rootfs.diff_ids` (the digests of
//! the uncompressed layers, computed while pulling them), `config.Cmd` and
//! `config.Labels` carrying `image_config` in the form our builds use (CMD,
//! the `sealer.io/` labels for parent CMD and ARGs), and `variant` from
//! `spec.platform`. Fields we do not model (`kind`, `metadata`, `spec`,
//! `status`) stay as sealer wrote them, for whoever reads the blob.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// `kind` of sealer's `v1.Image`.
const KIND: &str = "Image";

/// sealer's `v1.Image`, the fields a pull needs.
#[derive(Debug, Deserialize)]
pub struct V1Image {
    /// The image spec.
    #[serde(default)]
    pub spec: V1Spec,
    /// The Docker wrapper's copy of `spec.platform.architecture`.
    #[serde(default)]
    pub architecture: String,
    /// The Docker wrapper's copy of `spec.platform.os`.
    #[serde(default)]
    pub os: String,
}

/// `spec` of a `v1.Image`.
#[derive(Debug, Default, Deserialize)]
pub struct V1Spec {
    /// Layers, bottom first, with and without content.
    #[serde(default)]
    pub layers: Vec<V1Layer>,
    /// The platform it was built for.
    #[serde(default)]
    pub platform: V1Platform,
    /// CMD, ARG and labels.
    #[serde(default)]
    pub image_config: V1ImageConfig,
}

/// One entry of `spec.layers`.
#[derive(Debug, Default, Deserialize)]
pub struct V1Layer {
    /// sealer's layer id; empty for an instruction that made no layer.
    #[serde(default)]
    pub id: String,
    /// COPY, RUN, CMD, BASE, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The instruction's arguments (`rootfs cache` for BASE).
    #[serde(default)]
    pub value: String,
}

/// `spec.platform` of a `v1.Image`.
#[derive(Debug, Default, Deserialize)]
pub struct V1Platform {
    /// GOARCH.
    #[serde(default)]
    pub architecture: String,
    /// GOOS.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default)]
    pub variant: String,
}

/// `spec.image_config` of a `v1.Image`.
#[derive(Debug, Default, Deserialize)]
pub struct V1ImageConfig {
    /// CMD of this image and its base.
    #[serde(default)]
    pub cmd: V1CurrentParent<Vec<String>>,
    /// ARG values of this image and its base.
    #[serde(default)]
    pub args: V1CurrentParent<BTreeMap<String, String>>,
    /// LABEL.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A value of this image and of its base.
#[derive(Debug, Default, Deserialize)]
pub struct V1CurrentParent<T> {
    /// This image's.
    #[serde(default)]
    pub current: Option<T>,
    /// The base image's.
    #[serde(default)]
    pub parent: Option<T>,
}

impl V1Image {
    /// (os, architecture, variant): `spec.platform`, or the wrapper's fields
    /// where it is empty.
    pub fn platform(&self) -> (String, String, Option<String>) {
        let p = &self.spec.platform;
        let or = |a: &String, b: &String| if a.is_empty() { b.clone() } else { a.clone() };
        let variant = Some(p.variant.clone()).filter(|v| !v.is_empty());
        (
            or(&p.os, &self.os),
            or(&p.architecture, &self.architecture),
            variant,
        )
    }

    /// The entries of `spec.layers` that have a blob, bottom first.
    pub fn real_layers(&self) -> Vec<&V1Layer> {
        self.spec
            .layers
            .iter()
            .filter(|l| !l.id.is_empty())
            .collect()
    }
}

/// Whether a config (parsed as JSON) is a sealer v0.8 `v1.Image`: kind
/// Image, a `spec` object and no `rootfs`.
pub fn is_v1_image(config: &Value) -> bool {
    config.get("kind").and_then(Value::as_str) == Some(KIND)
        && config.get("spec").is_some_and(Value::is_object)
        && config.get("rootfs").is_none()
}

/// Reads a v0.8 config (blob `digest`) and checks its layers against the
/// `manifest_layers` blobs of the manifest.
pub fn parse(bytes: &[u8], manifest_layers: usize, digest: &Digest) -> Result<V1Image> {
    let image: V1Image = serde_json::from_slice(bytes).map_err(|e| Error::Blob {
        digest: *digest,
        why: format!("not a sealer v0.8 image config (v1.Image): {e}"),
    })?;
    let real = image.real_layers().len();
    if real != manifest_layers {
        return Err(Error::Blob {
            digest: *digest,
            why: format!(
                "the sealer v0.8 image config lists {real} layers with content \
                 (spec.layers with an id) but the manifest has {manifest_layers} layer blobs"
            ),
        });
    }
    Ok(image)
}

/// The config we store for a v0.8 image whose layers uncompress to
/// `diff_ids` (see the module doc).
pub fn to_oci_config(
    bytes: &[u8],
    image: &V1Image,
    diff_ids: &[Digest],
    digest: &Digest,
) -> Result<Vec<u8>> {
    let not_object = || Error::Blob {
        digest: *digest,
        why: "the sealer v0.8 config is not a JSON object".into(),
    };
    let mut obj: Map<String, Value> = match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => m,
        _ => return Err(not_object()),
    };
    let platform = &image.spec.platform;
    for (key, value) in [
        ("architecture", &platform.architecture),
        ("os", &platform.os),
        ("variant", &platform.variant),
    ] {
        let missing = obj
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing && !value.is_empty() {
            obj.insert(key.into(), Value::String(value.clone()));
        }
    }
    obj.insert(
        "rootfs".into(),
        serde_json::json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    obj.insert("config".into(), run_config(image));
    if !history_pairs(&obj, diff_ids.len()) {
        obj.insert("history".into(), history(image));
    }
    serde_json::to_vec(&Value::Object(obj)).map_err(|e| Error::Json {
        what: "the converted sealer v0.8 config".into(),
        err: e,
    })
}

/// `config` of the stored config: CMD, labels and the `sealer.io/` labels
/// our inspect and builds read for the parent's CMD and the ARGs.
fn run_config(image: &V1Image) -> Value {
    use crate::image::spec::{LABEL_ARGS, LABEL_ARGS_PARENT, LABEL_CMD_PARENT};
    let ic = &image.spec.image_config;
    let mut labels: Map<String, Value> = ic
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut json_label = |key: &str, value: Value| {
        labels.insert(key.into(), Value::String(value.to_string()));
    };
    if let Some(parent) = ic.cmd.parent.as_ref().filter(|p| !p.is_empty()) {
        json_label(LABEL_CMD_PARENT, serde_json::json!(parent));
    }
    if let Some(args) = ic.args.current.as_ref().filter(|a| !a.is_empty()) {
        json_label(LABEL_ARGS, serde_json::json!(args));
    }
    if let Some(args) = ic.args.parent.as_ref().filter(|a| !a.is_empty()) {
        json_label(LABEL_ARGS_PARENT, serde_json::json!(args));
    }
    let mut config = Map::new();
    if let Some(cmd) = ic.cmd.current.as_ref().filter(|c| !c.is_empty()) {
        config.insert("Cmd".into(), serde_json::json!(cmd));
    }
    if !labels.is_empty() {
        config.insert("Labels".into(), Value::Object(labels));
    }
    Value::Object(config)
}

/// Whether the config's own history has one non-empty entry per layer.
fn history_pairs(obj: &Map<String, Value>, layers: usize) -> bool {
    let Some(Value::Array(entries)) = obj.get("history") else {
        return false;
    };
    let made = entries
        .iter()
        .filter(|h| h.get("empty_layer").and_then(Value::as_bool) != Some(true))
        .count();
    made == layers
}

/// The history sealer v0.8 writes: `TYPE VALUE` per `spec.layers` entry.
fn history(image: &V1Image) -> Value {
    let entries: Vec<Value> = image
        .spec
        .layers
        .iter()
        .map(|l| {
            let mut h = Map::new();
            h.insert(
                "created_by".into(),
                Value::String(format!("{} {}", l.kind, l.value)),
            );
            if l.id.is_empty() {
                h.insert("empty_layer".into(), Value::Bool(true));
            }
            Value::Object(h)
        })
        .collect();
    Value::Array(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::oci::Config;

    /// A config as sealer v0.8.6's `addDockerManifestConfig` marshals it.
    const V08: &str = r#"{"kind":"Image","apiVersion":"sealer.aliyun.com/v1","metadata":{"name":"k8s:v1","creationTimestamp":null},"spec":{"id":"abc","layers":[{"id":"sha256:1111111111111111111111111111111111111111111111111111111111111111","type":"COPY","value":". ."},{"type":"CMD","value":"kubectl apply -f x.yaml"},{"id":"sha256:2222222222222222222222222222222222222222222222222222222222222222","type":"BASE","value":"rootfs cache"}],"platform":{"architecture":"arm64","os":"linux","variant":"v8"},"image_config":{"cmd":{"parent":["a"],"current":["kubectl apply -f x.yaml"]},"args":{"current":{"K":"v"}},"labels":{"l":"1"}}},"status":{},"architecture":"arm64","os":"linux","history":[{"created_by":"COPY . ."},{"created_by":"CMD kubectl apply -f x.yaml","empty_layer":true},{"created_by":"BASE rootfs cache"}]}"#;

    #[test]
    fn recognises_and_converts() {
        let value: Value = serde_json::from_str(V08).unwrap();
        assert!(is_v1_image(&value));
        let d = Digest::of(V08.as_bytes());
        let img = parse(V08.as_bytes(), 2, &d).unwrap();
        let ids = [Digest::of(b"a"), Digest::of(b"b")];
        let out = to_oci_config(V08.as_bytes(), &img, &ids, &d).unwrap();
        let converted: Value = serde_json::from_slice(&out).unwrap();
        assert!(!is_v1_image(&converted), "it now has rootfs");
        assert_eq!(converted["spec"], value["spec"], "sealer's fields kept");
        assert_eq!(converted["history"], value["history"]);
        let config: Config = serde_json::from_slice(&out).unwrap();
        assert_eq!(config.rootfs.diff_ids, ids);
        assert_eq!(config.variant.as_deref(), Some("v8"));
        assert_eq!(
            config.config.cmd,
            Some(vec!["kubectl apply -f x.yaml".to_string()])
        );
        assert_eq!(config.config.labels["l"], "1");
        assert_eq!(config.config.labels["sealer.io/cmd.parent"], r#"["a"]"#);
        assert_eq!(config.config.labels["sealer.io/args"], r#"{"K":"v"}"#);
    }

    #[test]
    fn counts_must_agree() {
        let d = Digest::of(V08.as_bytes());
        for n in [0, 1, 3] {
            let err = parse(V08.as_bytes(), n, &d).unwrap_err().to_string();
            assert!(
                err.contains(&d.to_string())
                    && err.contains(&format!("but the manifest has {n} layer blobs")),
                "{err}"
            );
        }
        let plain: Value = serde_json::json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}});
        assert!(!is_v1_image(&plain));
    }

    #[test]
    fn history_is_rebuilt_when_missing() {
        let mut value: Value = serde_json::from_str(V08).unwrap();
        value.as_object_mut().unwrap().remove("history");
        let bytes = serde_json::to_vec(&value).unwrap();
        let d = Digest::of(&bytes);
        let img = parse(&bytes, 2, &d).unwrap();
        let out = to_oci_config(&bytes, &img, &[Digest::of(b"a"), Digest::of(b"b")], &d).unwrap();
        let config: Config = serde_json::from_slice(&out).unwrap();
        let by: Vec<_> = config
            .history
            .iter()
            .map(|h| (h.created_by.clone().unwrap(), h.empty_layer))
            .collect();
        assert_eq!(
            by,
            [
                ("COPY . .".to_string(), false),
                ("CMD kubectl apply -f x.yaml".to_string(), true),
                ("BASE rootfs cache".to_string(), false)
            ]
        );
    }
}
