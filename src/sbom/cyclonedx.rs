//! CycloneDX 1.5 JSON of an [`Inventory`]: the ClusterImage as
//! `metadata.component` (type `container`), then files (`file`, SHA-256),
//! container images of `registry/` (`container`), charts (`application`)
//! and Go modules (`library`) as components; `dependencies` say which
//! component holds which. The serial number is derived from the manifest
//! digest, the timestamp is the image's created time.

use serde_json::{json, Value};

use super::{go_modules, hex, purl, Inventory};

/// The document as JSON.
pub fn document(inv: &Inventory) -> Value {
    let s = &inv.subject;
    let root = purl::subject(s);
    let mut components = Vec::new();
    let mut contains: Vec<String> = Vec::new();
    let mut file_deps: Vec<(String, Vec<String>)> = Vec::new();
    for (i, f) in inv.files.iter().enumerate() {
        let r = format!("file-{i}");
        components.push(json!({
            "type": "file",
            "bom-ref": r,
            "name": f.path,
            "hashes": [
                {"alg": "SHA-1", "content": hex(&f.sha1)},
                {"alg": "SHA-256", "content": hex(&f.sha256)},
            ],
        }));
        contains.push(r);
        if f.go.is_some() {
            file_deps.push((format!("file-{i}"), Vec::new()));
        }
    }
    for (i, img) in inv.images.iter().enumerate() {
        let r = format!("oci-{i}");
        components.push(json!({
            "type": "container",
            "bom-ref": r,
            "name": img.source,
            "version": img.tag,
            "purl": purl::image(img),
            "hashes": [{"alg": "SHA-256", "content": img.digest.hex()}],
        }));
        contains.push(r);
    }
    for (i, c) in inv.charts.iter().enumerate() {
        let r = format!("helm-{i}");
        components.push(json!({
            "type": "application",
            "bom-ref": r,
            "name": c.name,
            "version": c.version,
            "purl": purl::helm(c),
            "description": format!("Helm chart in {}", c.dir),
        }));
        contains.push(r);
    }
    for (i, (m, users)) in go_modules(inv).into_iter().enumerate() {
        let r = format!("go-{i}");
        components.push(json!({
            "type": "library",
            "bom-ref": r,
            "name": m.path,
            "version": m.version,
            "purl": purl::golang(&m.path, &m.version),
        }));
        for f in users {
            let key = format!("file-{f}");
            if let Some((_, d)) = file_deps.iter_mut().find(|(k, _)| *k == key) {
                d.push(r.clone());
            }
        }
    }
    let mut dependencies = vec![json!({"ref": root, "dependsOn": contains})];
    dependencies.extend(
        file_deps
            .into_iter()
            .map(|(r, d)| json!({"ref": r, "dependsOn": d})),
    );
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(&s.manifest.hex()),
        "version": 1,
        "metadata": {
            "timestamp": s.created,
            "tools": {"components": [{
                "type": "application",
                "name": "sealer-rs",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": root,
                "name": s.name,
                "version": s.tag,
                "purl": root,
                "hashes": [{"alg": "SHA-256", "content": s.manifest.hex()}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// `urn:uuid:` of a version-4-shaped UUID made of the manifest digest's
/// first 16 bytes, so one image has one serial number.
fn serial(hex: &str) -> String {
    let h = hex.as_bytes();
    let s = |a: usize, b: usize| String::from_utf8_lossy(&h[a..b]).into_owned();
    // Version nibble 4, variant bits 10.
    let variant = match h[16] {
        b'0'..=b'3' => '8',
        b'4'..=b'7' => '9',
        b'8' | b'9' | b'a' | b'b' => 'a',
        _ => 'b',
    };
    format!(
        "urn:uuid:{}-{}-4{}-{variant}{}-{}",
        s(0, 8),
        s(8, 12),
        s(13, 16),
        s(17, 20),
        s(20, 32)
    )
}
