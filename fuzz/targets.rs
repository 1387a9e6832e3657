//! The fuzz targets' bodies, shared by the cargo-fuzz binaries in
//! `fuzz/fuzz_targets/` (nightly, coverage-guided) and the stable smoke run
//! in `tests/fuzz.rs`, which includes this file with `#[path]`. Each target
//! must never panic, whatever the bytes; errors are fine.

use std::collections::HashMap;
use std::io::Cursor;

use sealer_fs::index::build_index;
use sealer_fs::tar::{SeekSource, StreamSource};
use sealer_fs::{LayerIndex, ROOT};

/// Tar bytes -> layer index (streamed and seeked), then every record read
/// back through the index API.
pub fn tar_index(data: &[u8]) {
    let streamed = build_index(StreamSource(data));
    let seeked = SeekSource::new(Cursor::new(data)).map(build_index);
    // Both sources must agree on whether the tar is acceptable.
    let seeked_ok = matches!(&seeked, Ok(Ok(_)));
    assert_eq!(
        streamed.is_ok(),
        seeked_ok,
        "stream and seek sources disagree"
    );
    let Ok((builder, _)) = streamed else { return };
    let Ok(bytes) = builder.finish(&[7; 32], data.len() as u64) else {
        return;
    };
    let index = LayerIndex::from_bytes(bytes).expect("a built index parses");
    let mut stack = vec![ROOT];
    let mut seen = 0u64;
    while let Some(dir) = stack.pop() {
        for id in index.children(dir) {
            seen += 1;
            let meta = index.meta(id);
            let name = index.name(id).to_vec();
            assert!(
                !name.is_empty() && !name.contains(&b'/'),
                "bad name {name:?}"
            );
            assert!(name != b"." && name != b"..", "dot name in the index");
            assert_eq!(index.lookup(dir, &name), Some(id), "lookup of {name:?}");
            assert_eq!(index.parent(id), dir);
            let _ = (
                index.link_target(id),
                index.xattrs(id).count(),
                index.path(id),
            );
            if meta.kind == sealer_fs::Kind::Dir {
                stack.push(id);
            }
        }
    }
    assert_eq!(
        seen + 1,
        u64::from(index.len()),
        "every record is reachable"
    );
}

/// Kubefile text -> instructions, then every instruction's words expanded.
pub fn kubefile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(instructions) = sealer::build::kubefile::parse(text) else {
        return;
    };
    let vars = HashMap::from([
        ("ARCH".to_string(), "amd64".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]);
    for ins in instructions {
        assert!(ins.line >= 1, "line numbers are 1-based");
        assert_eq!(ins.keyword, ins.keyword.to_ascii_uppercase());
        let _ = sealer::build::kubefile::words(&ins.rest, &vars);
        let _ = sealer::build::kubefile::expand(&ins.rest, &vars);
    }
}

/// Manifest, index, config and reference parsing, as a registry or an
/// archive hands them to us.
pub fn oci_json(data: &[u8]) {
    use sealer::image::oci::{Config, Index, Manifest};
    for ct in [
        None,
        Some("application/vnd.oci.image.manifest.v1+json"),
        Some("application/vnd.oci.image.index.v1+json"),
        Some("application/vnd.docker.distribution.manifest.v2+json"),
        Some("application/vnd.docker.distribution.manifest.list.v2+json"),
    ] {
        if let Ok(sealer::registry::manifest::Fetched::Index(i)) =
            sealer::registry::manifest::parse(data, ct)
        {
            let _ = sealer::image::platform::select(&i, &sealer::image::platform::Want::Host);
        }
    }
    let _ = serde_json::from_slice::<Manifest>(data);
    let _ = serde_json::from_slice::<Index>(data);
    if let Ok(c) = serde_json::from_slice::<Config>(data) {
        let _ = serde_json::to_vec(&c).expect("a parsed config serializes");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = sealer::image::Reference::parse(s) {
            let _ = (r.full_name(), r.docker_alias());
        }
        let _ = sealer::image::platform::PlatformSpec::parse(s);
        let _ = sealer::image::platform::PlatformSpec::parse_list(s);
    }
}
