//! SPDX 2.3 JSON of an [`Inventory`].
//!
//! ```text
//! DOCUMENT  DESCRIBES  Package-image (the ClusterImage: purl pkg:oci, manifest sha256,
//!                      filesAnalyzed with the verification code of its files)
//! Package-image CONTAINS File-<n>        every regular file: SHA1 + SHA256
//! Package-image CONTAINS Package-oci-<n>  every container image of registry/
//! Package-image CONTAINS Package-helm-<n> every chart
//! File-<n>      CONTAINS Package-go-<n>   the Go modules a binary's build info states
//! ```
//!
//! Identifiers are numbered in sorted order, object keys are sorted, the
//! name space is derived from the manifest digest: the same image always
//! gives the same document.

use serde_json::{json, Value};
use sha2::Digest as _;

use super::{go_modules, hex, purl, Inventory};

/// The media type of the document (an OCI artifactType).
pub const MEDIA_TYPE: &str = "application/spdx+json";
/// The tool named in `creationInfo`.
pub const CREATOR: &str = concat!("Tool: sealer-rs-", env!("CARGO_PKG_VERSION"));

const ROOT: &str = "SPDXRef-Package-image";
const NOASSERTION: &str = "NOASSERTION";

/// The document as JSON.
pub fn document(inv: &Inventory) -> Value {
    let s = &inv.subject;
    let mut rels = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", ROOT)];
    let mut files = Vec::new();
    let mut sha1s: Vec<String> = Vec::new();
    for (i, f) in inv.files.iter().enumerate() {
        let id = format!("SPDXRef-File-{i}");
        sha1s.push(hex(&f.sha1));
        files.push(json!({
            "SPDXID": id,
            "fileName": format!("./{}", f.path),
            "checksums": [
                {"algorithm": "SHA1", "checksumValue": hex(&f.sha1)},
                {"algorithm": "SHA256", "checksumValue": hex(&f.sha256)},
            ],
            "licenseConcluded": NOASSERTION,
            "copyrightText": NOASSERTION,
        }));
        rels.push(rel(ROOT, "CONTAINS", &id));
    }
    sha1s.sort();
    let code = hex(&sha1::Sha1::digest(sha1s.concat().as_bytes()));
    let mut packages = vec![json!({
        "SPDXID": ROOT,
        "name": s.name,
        "versionInfo": s.tag,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": true,
        "packageVerificationCode": {"packageVerificationCodeValue": code},
        "checksums": [{"algorithm": "SHA256", "checksumValue": s.manifest.hex()}],
        "externalRefs": [purl_ref(&purl::subject(s))],
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "comment": format!("ClusterImage {}:{}, image id {}", s.name, s.tag, s.id),
    })];
    for (i, img) in inv.images.iter().enumerate() {
        let id = format!("SPDXRef-Package-oci-{i}");
        let mut p = package(&id, &img.source, &img.tag, &purl::image(img), "CONTAINER");
        p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": img.digest.hex()}]);
        p["sourceInfo"] = json!(format!(
            "registry/docker/registry/v2/repositories/{}/_manifests/tags/{}",
            img.repo, img.tag
        ));
        packages.push(p);
        rels.push(rel(ROOT, "CONTAINS", &id));
    }
    for (i, c) in inv.charts.iter().enumerate() {
        let id = format!("SPDXRef-Package-helm-{i}");
        let mut p = package(&id, &c.name, &c.version, &purl::helm(c), "APPLICATION");
        p["sourceInfo"] = json!(format!("chart directory {}", c.dir));
        packages.push(p);
        rels.push(rel(ROOT, "CONTAINS", &id));
    }
    for (i, (m, users)) in go_modules(inv).into_iter().enumerate() {
        let id = format!("SPDXRef-Package-go-{i}");
        packages.push(package(
            &id,
            &m.path,
            &m.version,
            &purl::golang(&m.path, &m.version),
            "LIBRARY",
        ));
        for f in users {
            rels.push(rel(&format!("SPDXRef-File-{f}"), "CONTAINS", &id));
        }
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}:{}", s.name, s.tag),
        "documentNamespace": format!(
            "https://sealer.io/spdx/{}-{}",
            super::purl_encode(&s.name, true),
            s.manifest.hex()
        ),
        "creationInfo": {"created": s.created, "creators": [CREATOR]},
        "documentDescribes": [ROOT],
        "packages": packages,
        "files": files,
        "relationships": rels,
    })
}

fn package(id: &str, name: &str, version: &str, purl: &str, purpose: &str) -> Value {
    let mut p = json!({
        "SPDXID": id,
        "name": name,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "externalRefs": [purl_ref(purl)],
        "primaryPackagePurpose": purpose,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
    });
    if !version.is_empty() {
        p["versionInfo"] = json!(version);
    }
    p
}

fn purl_ref(purl: &str) -> Value {
    json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl})
}

fn rel(from: &str, kind: &str, to: &str) -> Value {
    json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to})
}
