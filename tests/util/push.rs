//! Writing images into the test registry byte for byte, as another tool
//! pushed them: blobs by monolithic upload (POST, then PUT with the digest)
//! and manifests by PUT with their media type, over the distribution API.
//! Also the small builders fixtures need: layer tars and gzip.

use std::io::Write;

use serde_json::{json, Value};

use super::sha256_hex;

/// A file of a layer tar: path and content; a path ending in `/` is a
/// directory.
pub type Entry<'a> = (&'a str, &'a str);

/// An uncompressed layer tar holding `entries` (mode 0644 files, 0755
/// directories, owned by root, mtime 1).
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, path, std::io::empty())
                .expect("a tar directory");
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(content.len() as u64);
            b.append_data(&mut h, path, content.as_bytes())
                .expect("a tar file");
        }
    }
    b.into_inner().expect("finishing the tar")
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A descriptor (`mediaType`, `size`, `digest`, as Go's distribution
/// marshals it) of `bytes`.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "size": bytes.len(), "digest": digest(bytes)})
}

/// Uploads `bytes` as a blob of `repo` on the registry at `addr`.
pub fn put_blob(addr: &str, repo: &str, bytes: &[u8]) -> String {
    let d = digest(bytes);
    let start = format!("http://{addr}/v2/{repo}/blobs/uploads/");
    let resp = ureq::post(&start)
        .send_empty()
        .unwrap_or_else(|e| panic!("POST {start}: {e}"));
    let location = resp
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .expect("an upload location")
        .to_string();
    let mut url = if location.starts_with('/') {
        format!("http://{addr}{location}")
    } else {
        location
    };
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={d}"));
    ureq::put(&url)
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .unwrap_or_else(|e| panic!("PUT blob {d}: {e}"));
    d
}

/// Puts manifest `bytes` of `media_type` as `repo:reference`.
pub fn put_manifest(addr: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let url = format!("http://{addr}/v2/{repo}/manifests/{reference}");
    ureq::put(&url)
        .header("Content-Type", media_type)
        .send(bytes)
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
}

/// Puts image manifest `manifest` (of `manifest_type`) by digest and, as
/// `repo:tag`, a list of `list_type` (OCI index or Docker manifest list)
/// naming it for this machine's platform.
pub fn put_under_list(
    addr: &str,
    repo: &str,
    tag: &str,
    (manifest_type, manifest): (&str, &[u8]),
    list_type: &str,
) {
    put_manifest(addr, repo, &digest(manifest), manifest_type, manifest);
    let mut entry = descriptor(manifest_type, manifest);
    entry["platform"] = json!({"architecture": super::host_arch(), "os": "linux"});
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": list_type,
        "manifests": [entry],
    }))
    .expect("list JSON");
    put_manifest(addr, repo, tag, list_type, &list);
}
