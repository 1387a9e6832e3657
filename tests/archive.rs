//! `sealer save` and `sealer load` with Debian's `skopeo` and `umoci` as the
//! other side: our OCI archive is copied by skopeo and unpacked by umoci
//! into the tree `sealer ls`/`cat` show; our docker-archive is read by
//! skopeo; skopeo's archives (docker-archive, OCI with gzip or zstd layers)
//! and docker >= 25's layout-plus-manifest.json load back to the same
//! image; bad archives fail in one line and leave the store unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::util::{assert_mentions, build_examples, sha256_hex, tool, Env, BASE, MINE};

fn jsonv(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}):\n{text}"))
}

/// Image id and layer ids.
fn ids(env: &Env, image: &str) -> (String, Vec<String>) {
    let spec = env.inspect(image);
    let id = spec["spec"]["id"].as_str().expect("id").to_string();
    (id, env.layer_ids(image))
}

/// Regular files of an image (path -> sha256 of `sealer cat`) and every
/// path `sealer ls -R` shows.
fn image_tree(env: &Env, image: &str) -> BTreeMap<String, String> {
    let long = env.run(&["ls", "-lR", image]);
    let short = env.run(&["ls", "-R", image]);
    let mut out = BTreeMap::new();
    let mut dir = String::new();
    for (l, s) in long.lines().zip(short.lines()) {
        if let Some(d) = s.strip_suffix(':') {
            dir = d
                .trim_start_matches("./")
                .trim_start_matches('.')
                .to_string();
            continue;
        }
        if s.is_empty() {
            continue;
        }
        let path = if dir.is_empty() {
            s.to_string()
        } else {
            format!("{dir}/{s}")
        };
        let content = if l.starts_with('-') {
            sha256_hex(
                env.sealer()
                    .args(["cat", image, &path])
                    .ok()
                    .stdout
                    .as_bytes(),
            )
        } else {
            String::new()
        };
        out.insert(path, content);
    }
    out
}

fn disk_tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p.strip_prefix(root).expect("prefix").display().to_string();
            let ft = e.file_type().expect("type");
            let content = if ft.is_file() {
                sha256_hex(&fs::read(&p).expect("read"))
            } else {
                String::new()
            };
            out.insert(rel, content);
            if ft.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn oci_archive_is_read_by_skopeo_and_unpacked_by_umoci_to_our_tree() {
    let env = Env::new();
    build_examples(&env);
    let file = env.path("images.tar");
    env.sealer()
        .args(["save", "-q", "-o"])
        .arg(&file)
        .args([BASE, MINE])
        .ok();
    let (id, layers) = ids(&env, MINE);
    let src = format!("oci-archive:{}:{MINE}", file.display());
    let config = jsonv(
        &tool("skopeo", &["inspect", "--config", &src], "skopeo"),
        "config",
    );
    assert_eq!(config["rootfs"]["diff_ids"], json!(layers));
    let raw = jsonv(
        &tool("skopeo", &["inspect", "--raw", &src], "skopeo"),
        "manifest",
    );
    assert_eq!(raw["config"]["digest"], json!(id));
    let copied = env.path("copied");
    tool(
        "skopeo",
        &["copy", &src, &format!("oci:{}:x", copied.display())],
        "skopeo",
    );

    let layout = env.path("layout");
    fs::create_dir_all(&layout).expect("mkdir");
    tool(
        "tar",
        &[
            "-xf",
            &file.display().to_string(),
            "-C",
            &layout.display().to_string(),
        ],
        "tar",
    );
    for image in [BASE, MINE] {
        let bundle = env.path(&format!("bundle-{}", image.replace(':', "-")));
        tool(
            "umoci",
            &[
                "unpack",
                "--rootless",
                "--image",
                &format!("{}:{image}", layout.display()),
                &bundle.display().to_string(),
            ],
            "umoci",
        );
        assert_eq!(
            disk_tree(&bundle.join("rootfs")),
            image_tree(&env, image),
            "umoci's unpack of {image} differs from sealer ls/cat"
        );
    }
    // And load gives the same images to a new store.
    let other = Env::new();
    let out = other.sealer().args(["load", "-q", "-i"]).arg(&file).ok();
    assert_mentions(&out.stdout, &[BASE, MINE]);
    assert_eq!(ids(&other, MINE), (id, layers));
}

#[test]
fn docker_archive_is_read_by_skopeo_and_loads_back() {
    let env = Env::new();
    build_examples(&env);
    let file = env.path("docker.tar");
    env.sealer()
        .args(["save", "-q", "--format", "docker-archive", "-o"])
        .arg(&file)
        .arg(MINE)
        .ok();
    let (id, layers) = ids(&env, MINE);
    let src = format!("docker-archive:{}", file.display());
    let config = jsonv(
        &tool("skopeo", &["inspect", "--config", &src], "skopeo"),
        "config",
    );
    assert_eq!(config["rootfs"]["diff_ids"], json!(layers));
    // skopeo finds the image by the name in RepoTags.
    let by_name = format!("docker-archive:{}:{MINE}", file.display());
    let inspect = jsonv(&tool("skopeo", &["inspect", &by_name], "skopeo"), "inspect");
    assert_eq!(inspect["Layers"], json!(layers));
    let other = Env::new();
    other.sealer().args(["load", "-i"]).arg(&file).ok();
    assert_eq!(ids(&other, MINE), (id, layers));
}

#[test]
fn archives_skopeo_writes_load_with_plain_gzip_and_zstd_layers() {
    let env = Env::new();
    build_examples(&env);
    let (id, layers) = ids(&env, MINE);
    let want = image_tree(&env, MINE);
    let src = format!("oci:{}:{MINE}", env.root().display());
    let cases: [(&str, &[&str]); 4] = [
        ("docker-archive", &[]),
        ("oci-archive", &[]),
        (
            "oci-archive",
            &["--dest-compress", "--dest-compress-format", "gzip"],
        ),
        (
            "oci-archive",
            &["--dest-compress", "--dest-compress-format", "zstd"],
        ),
    ];
    for (i, (kind, extra)) in cases.iter().enumerate() {
        let file = env.path(&format!("skopeo-{i}.tar"));
        let dest = format!("{kind}:{}:{MINE}", file.display());
        let mut args = vec!["copy"];
        args.extend_from_slice(extra);
        args.extend([src.as_str(), dest.as_str()]);
        tool("skopeo", &args, "skopeo");
        let other = Env::new();
        let out = other.sealer().args(["load", "-i"]).arg(&file).ok();
        assert_mentions(&out.stdout, &[MINE]);
        assert_eq!(
            ids(&other, MINE),
            (id.clone(), layers.clone()),
            "{kind} {extra:?}"
        );
        assert_eq!(image_tree(&other, MINE), want, "{kind} {extra:?}");
    }
}

#[test]
fn docker_25_layout_with_manifest_json_and_a_gzipped_archive_load() {
    let env = Env::new();
    build_examples(&env);
    let (id, layers) = ids(&env, MINE);
    let oci = env.path("ours.tar");
    env.sealer()
        .args(["save", "-q", "-o"])
        .arg(&oci)
        .arg(MINE)
        .ok();
    // docker >= 25: an OCI layout whose index names the image by containerd's
    // annotation, plus a manifest.json pointing into blobs/.
    let dir = env.path("d25");
    fs::create_dir_all(&dir).expect("mkdir");
    let d = dir.display().to_string();
    tool("tar", &["-xf", &oci.display().to_string(), "-C", &d], "tar");
    let mut index = jsonv(
        &fs::read_to_string(dir.join("index.json")).expect("index"),
        "index",
    );
    index["manifests"][0]["annotations"] = json!({
        "io.containerd.image.name": format!("docker.io/library/{MINE}"),
        "org.opencontainers.image.ref.name": "v1.19.8",
    });
    fs::write(dir.join("index.json"), index.to_string()).expect("write");
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", &id[7..]),
        "RepoTags": [MINE],
        "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", &l[7..])).collect::<Vec<_>>(),
    }]);
    fs::write(dir.join("manifest.json"), manifest.to_string()).expect("write");
    let file = env.path("d25.tar.gz");
    tool(
        "tar",
        &["-czf", &file.display().to_string(), "-C", &d, "."],
        "tar",
    );
    let other = Env::new();
    other.sealer().args(["load", "-i"]).arg(&file).ok();
    assert_eq!(ids(&other, MINE), (id, layers));
}

/// A tar holding `entries` (raw names, so `../` can be written as is).
fn raw_tar(path: &Path, entries: &[(&str, &[u8])]) {
    let mut out = Vec::new();
    for (name, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    fs::write(path, out).expect("writing the tar");
}

#[test]
fn bad_archives_fail_in_one_line_and_leave_the_store_unchanged() {
    let env = Env::new();
    build_examples(&env);
    let good = env.path("good.tar");
    env.sealer()
        .args(["save", "-q", "-o"])
        .arg(&good)
        .arg(MINE)
        .ok();
    let bytes = fs::read(&good).expect("archive");
    let (_, layers) = ids(&env, MINE);
    let top = layers.last().expect("top").clone();

    let truncated = env.write("truncated.tar", &bytes[..bytes.len() / 2]);
    let mut flipped = bytes.clone();
    // A byte of the top layer's file content inside the archive.
    let name = format!("blobs/sha256/{}", &top[7..]);
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .expect("the layer's member");
    let data = at - at % 512 + 512;
    let brace = data
        + bytes[data..]
            .iter()
            .position(|&b| b == b'{')
            .expect("a brace");
    flipped[brace] = b'[';
    let flipped = env.write("flipped.tar", &flipped);
    let escaping = env.path("escaping.tar");
    raw_tar(&escaping, &[("../evil", b"x"), ("index.json", b"{}")]);
    let not_tar = env.write("not.tar", "this is not an archive\n");
    let empty = env.write("empty.tar", "");
    let no_index = env.path("no-index.tar");
    raw_tar(&no_index, &[("hello", b"hi")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes[..bytes.len() / 3]).expect("gzip");
    let truncated_gz = env.write("truncated.tar.gz", gz.finish().expect("gzip"));

    let fresh = Env::new();
    fresh.run(&["images"]);
    let cases: [(&Path, &[&str]); 7] = [
        (&truncated, &["truncated"]),
        (&flipped, &[&top[..19]]),
        (&escaping, &["../evil", "escapes"]),
        (&not_tar, &["not.tar"]),
        (&empty, &["empty"]),
        (&no_index, &["index.json"]),
        (&truncated_gz, &["truncated.tar.gz"]),
    ];
    for (store, what) in [
        (&fresh, "an empty store"),
        (&env, "a store holding the images"),
    ] {
        let before = store.snapshot();
        for (file, words) in &cases {
            // Layers already in a store are not read again from an archive.
            if std::ptr::eq(store, &env) && *file == flipped.as_path() {
                continue;
            }
            let err = store.sealer().args(["load", "-i"]).arg(file).fails();
            let name = file
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let mut all = vec![name.as_str()];
            all.extend(words.iter().copied());
            assert_mentions(&err, &all);
            store
                .snapshot()
                .assert_same(&before, &format!("loading {name} into {what}"));
        }
    }
    let err = env
        .sealer()
        .args(["save", "-o"])
        .arg(env.path("x.tar"))
        .arg("nope:v1")
        .fails();
    assert_mentions(&err, &["nope:v1"]);
    assert!(!env.path("x.tar").exists());
}
