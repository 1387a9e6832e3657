//! Kubefile features end to end (ARG and `--build-arg`, `${ARCH}`, ENV,
//! LABEL, continuation lines, JSON-array COPY, globs, ignore files, ADD of
//! local archives, file and directory destinations, symlinks, APP/CNI/CSI,
//! KUBEVERSION) and the layer cache (reuse, `--no-cache`, deterministic
//! layers, invalidation by a changed source).

use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::util::host_arch;
use crate::util::{copy_tree, example, Env};

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// The layer ids a build printed (` ---> layer ID` or ` ---> Using cache ID`).
fn printed_layers(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix(" ---> layer ")
                .or_else(|| l.strip_prefix(" ---> Using cache "))
        })
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .expect("a layer id")
                .to_string()
        })
        .collect()
}

#[test]
fn identical_build_uses_the_cache_and_no_cache_rebuilds_the_same_layer() {
    let env = Env::new();
    let ctx = env.path("rootfs");
    copy_tree(&example("cluster-rootfs"), &ctx);

    let first = env.build("base:v1", &ctx);
    assert!(
        !first.stderr.contains("Using cache"),
        "nothing to reuse yet:\n{}",
        first.stderr
    );
    let layers = env.layer_ids("base:v1");
    assert_eq!(
        printed_layers(&first.stderr),
        layers,
        "build prints each layer id"
    );
    assert!(
        first.stderr.contains("STEP 4/5: COPY . ."),
        "build prints each step:\n{}",
        first.stderr
    );

    let second = env.build("base:v2", &ctx);
    assert!(
        second
            .stderr
            .contains(&format!("Using cache {}", layers[0])),
        "{}",
        second.stderr
    );
    assert_eq!(env.layer_ids("base:v2"), layers);

    let third = env
        .sealer()
        .args(["build", "--no-cache", "-t", "base:v3"])
        .arg(&ctx)
        .ok();
    assert!(
        !third.stderr.contains("Using cache"),
        "--no-cache must not reuse:\n{}",
        third.stderr
    );
    assert_eq!(
        env.layer_ids("base:v3"),
        layers,
        "layers are deterministic: the rebuilt tar is byte-identical"
    );

    fs::write(ctx.join("etc/daemon.json"), "{\"changed\": true}\n").expect("changing a source");
    let fourth = env.build("base:v4", &ctx);
    assert!(
        !fourth.stderr.contains("Using cache"),
        "a changed source must not reuse the layer:\n{}",
        fourth.stderr
    );
    let changed = env.layer_ids("base:v4");
    assert_ne!(changed, layers);
    assert_eq!(
        env.run(&["cat", "base:v4", "etc/daemon.json"]),
        "{\"changed\": true}\n"
    );
    assert_eq!(
        env.run(&["cat", "base:v1", "etc/daemon.json"]),
        fs::read_to_string(example("cluster-rootfs/etc/daemon.json")).expect("read")
    );
}

#[test]
fn cache_is_per_parent_so_the_same_step_on_another_base_is_rebuilt() {
    let env = Env::new();
    let one = env.context(
        "one",
        &[
            ("Kubefile", "FROM scratch\nCOPY a.txt etc/\n"),
            ("a.txt", "one\n"),
        ],
    );
    let two = env.context(
        "two",
        &[
            ("Kubefile", "FROM scratch\nCOPY a.txt etc/\n"),
            ("a.txt", "two\n"),
        ],
    );
    env.build("one:v1", &one);
    env.build("two:v1", &two);
    let ctx = env.context("top", &[("b.txt", "b\n")]);
    fs::write(ctx.join("Kubefile"), "FROM one:v1\nCOPY b.txt etc/\n").expect("Kubefile");
    env.build("top:one", &ctx);
    fs::write(ctx.join("Kubefile"), "FROM two:v1\nCOPY b.txt etc/\n").expect("Kubefile");
    let out = env.build("top:two", &ctx);
    assert!(
        !out.stderr.contains("Using cache"),
        "another base is another cache chain:\n{}",
        out.stderr
    );
    assert_eq!(env.run(&["cat", "top:two", "etc/a.txt"]), "two\n");
    assert_eq!(env.run(&["cat", "top:one", "etc/a.txt"]), "one\n");
}

/// A tar holding `a/`, `a/f.txt` (`content`) and `a/link -> f.txt`.
fn archive(content: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_mtime(1_600_000_000);
    h.set_size(0);
    b.append_data(&mut h, "a/", std::io::empty()).expect("dir");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o640);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(1_600_000_000);
    h.set_size(content.len() as u64);
    b.append_data(&mut h, "a/f.txt", content.as_bytes())
        .expect("file");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    b.append_link(&mut h, "a/link", "f.txt").expect("symlink");
    b.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

const FEATURES: &str = r#"# Every instruction a ClusterImage build uses today.
ARG VERSION=v1.0
arg UNSET_DEFAULT=kept
FROM scratch
ENV APP_HOME=/opt/app LOG_LEVEL=debug
LABEL vendor="sealer tests" \
      version=${VERSION} \
      arch=$ARCH
maintainer tester@example.com
COPY ["files/with space.txt", "etc/"]
copy bin/tool-${ARCH} bin/tool
COPY conf/*.yaml etc/conf/
COPY one.txt etc/renamed.txt
COPY one.txt two.txt multi/
COPY links/ links/
ADD archive.tar unpacked/
ADD archive.tar.gz unpacked-gz/
APP myapp local://apps/myapp
CNI calico local://cni/calico.yaml
CSI openebs local://csi/openebs
KUBEVERSION v1.22.15
CMD ["kubectl", "version"]
"#;

fn features_context(env: &Env) -> std::path::PathBuf {
    let tool = format!("bin/tool-{}", host_arch());
    let ctx = env.context(
        "features",
        &[
            ("Kubefile", FEATURES),
            ("files/with space.txt", "spaced\n"),
            (&tool, "the host's tool\n"),
            ("bin/tool-other", "another arch\n"),
            ("conf/a.yaml", "a: 1\n"),
            ("conf/b.yaml", "b: 2\n"),
            ("conf/c.json", "{}\n"),
            ("one.txt", "one\n"),
            ("two.txt", "two\n"),
            ("links/real.txt", "real\n"),
            ("apps/myapp/manifest.yaml", "kind: Deployment\n"),
            ("cni/calico.yaml", "kind: DaemonSet\n"),
            ("csi/openebs/operator.yaml", "kind: StorageClass\n"),
        ],
    );
    std::os::unix::fs::symlink("real.txt", ctx.join("links/rel")).expect("symlink");
    std::os::unix::fs::symlink("/etc/hostname", ctx.join("links/abs")).expect("symlink");
    std::os::unix::fs::symlink("../conf", ctx.join("links/dir")).expect("symlink");
    fs::write(ctx.join("archive.tar"), archive("in tar\n")).expect("archive");
    fs::write(ctx.join("archive.tar.gz"), gzip(&archive("in gzip\n"))).expect("archive");
    ctx
}

#[test]
fn kubefile_instructions_shape_config_and_layers() {
    let env = Env::new();
    let ctx = features_context(&env);
    env.sealer()
        .args(["build", "-t", "features:v1", "--build-arg", "VERSION=v2.0"])
        .arg(&ctx)
        .ok();
    let spec = env.inspect("features:v1");
    let cfg = &spec["spec"]["image_config"];
    let labels = &cfg["labels"];
    assert_eq!(labels["vendor"], "sealer tests", "quoted LABEL value");
    assert_eq!(
        labels["version"], "v2.0",
        "--build-arg overrides the ARG default, through a continuation line"
    );
    assert_eq!(
        labels["arch"],
        host_arch(),
        "$ARCH is the host's architecture"
    );
    assert_eq!(
        labels["app.alpha.sealer.io/supported-kube-version"], "v1.22.15",
        "KUBEVERSION"
    );
    assert_eq!(labels["app.alpha.sealer.io/myapp"], "local://apps/myapp");
    assert_eq!(labels["cluster.alpha.sealer.io/kube-cni-calico"], "true");
    assert_eq!(labels["cluster.alpha.sealer.io/kube-csi-openebs"], "true");
    assert_eq!(
        cfg["args"]["current"],
        json!({"VERSION": "v2.0", "UNSET_DEFAULT": "kept"})
    );
    assert_eq!(cfg["cmd"]["current"], json!(["kubectl", "version"]));
    assert_eq!(cfg["env"], json!(["APP_HOME=/opt/app", "LOG_LEVEL=debug"]));

    let kinds: Vec<&str> = spec["spec"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        ["COPY", "COPY", "COPY", "COPY", "COPY", "COPY", "ADD", "ADD", "APP", "CNI", "CSI"],
        "one layer per COPY/ADD/APP/CNI/CSI"
    );
    let values: Vec<&str> = spec["spec"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["value"].as_str().expect("value"))
        .collect();
    assert_eq!(values[8], "myapp local://apps/myapp");

    let config: Value = serde_json::from_slice(
        &fs::read(env.blob(spec["spec"]["id"].as_str().expect("id"))).expect("config"),
    )
    .expect("JSON");
    assert_eq!(
        config["author"], "tester@example.com",
        "MAINTAINER, keyword in lowercase"
    );
}

#[test]
fn copy_and_add_put_files_where_dockerfile_semantics_say() {
    let env = Env::new();
    let ctx = features_context(&env);
    env.build("features:v1", &ctx);
    let img = "features:v1";
    let cat = |p: &str| env.run(&["cat", img, p]);
    let ls = |p: &str| env.run(&["ls", img, p]);

    assert_eq!(
        cat("etc/with space.txt"),
        "spaced\n",
        "JSON-array COPY keeps the space"
    );
    assert_eq!(
        cat("bin/tool"),
        "the host's tool\n",
        "${{ARCH}} picks the host's file; a dest without slash is the file"
    );
    assert_eq!(lines(&ls("bin")), ["tool"]);
    assert_eq!(
        lines(&ls("etc/conf")),
        ["a.yaml", "b.yaml"],
        "the glob takes only *.yaml"
    );
    assert_eq!(cat("etc/renamed.txt"), "one\n");
    assert!(
        env.run(&["ls", "-l", img, "etc/renamed.txt"])
            .starts_with("-rw"),
        "a single file to a name without slash is a file"
    );
    assert_eq!(
        lines(&ls("multi")),
        ["one.txt", "two.txt"],
        "several sources into a directory"
    );

    let links = env.run(&["ls", "-l", img, "links"]);
    let find = |name: &str| {
        links
            .lines()
            .find(|l| l.contains(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} in:\n{links}"))
            .to_string()
    };
    assert!(
        find("abs").starts_with('l') && find("abs").ends_with("abs -> /etc/hostname"),
        "an absolute symlink is kept, not followed:\n{links}"
    );
    assert!(find("rel").ends_with("rel -> real.txt"), "{links}");
    assert!(
        find("dir").starts_with('l') && find("dir").ends_with("dir -> ../conf"),
        "a symlink to a directory stays a symlink:\n{links}"
    );
    assert_eq!(
        cat("links/rel"),
        "real\n",
        "cat follows a symlink inside the image"
    );

    for (dir, content) in [("unpacked", "in tar\n"), ("unpacked-gz", "in gzip\n")] {
        assert_eq!(lines(&ls(dir)), ["a"], "ADD unpacks the archive into {dir}");
        assert_eq!(cat(&format!("{dir}/a/f.txt")), content);
        let long = env.run(&["ls", "-l", img, &format!("{dir}/a")]);
        assert!(
            long.lines().any(|l| l.starts_with("-rw-r-----")
                && l.contains(" 1000  1000 ")
                && l.ends_with(" f.txt")),
            "owner and mode from the archive:\n{long}"
        );
        assert!(
            long.lines()
                .any(|l| l.starts_with('l') && l.ends_with("link -> f.txt")),
            "{long}"
        );
        let dir_line = env.run(&["ls", "-l", img, dir]);
        assert!(
            dir_line.starts_with("drwxr-x---"),
            "directory mode from the archive: {dir_line}"
        );
    }

    assert_eq!(
        lines(&ls("application/apps")),
        ["calico", "myapp", "openebs"]
    );
    assert_eq!(
        cat("application/apps/myapp/manifest.yaml"),
        "kind: Deployment\n",
        "APP copies the directory's contents"
    );
    assert_eq!(
        cat("application/apps/calico/calico.yaml"),
        "kind: DaemonSet\n",
        "CNI copies the file"
    );
    assert_eq!(lines(&ls("application/apps/openebs")), ["operator.yaml"]);
    assert!(
        !ls("").contains("archive.tar"),
        "only what was copied is in the image"
    );
}

/// Builds `COPY . .` from a context with the given ignore files and returns
/// `ls -R` of the image.
fn copy_all_with(env: &Env, name: &str, ignore_files: &[(&str, &str)]) -> String {
    let mut files: Vec<(&str, &str)> = vec![
        ("Kubefile", "FROM scratch\nCOPY . .\n"),
        ("keep.txt", "k\n"),
        ("debug.log", "noise\n"),
        ("important.log", "kept by !\n"),
        ("sub/deep.log", "not matched by a top-level *.log\n"),
        ("secret/key", "s3cr3t\n"),
        ("build/out.o", "obj\n"),
    ];
    files.extend_from_slice(ignore_files);
    let ctx = env.context(name, &files);
    let tag = format!("{name}:v1");
    env.build(&tag, &ctx);
    env.run(&["ls", "-R", &tag])
}

fn listed(ls_r: &str, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = None;
    for l in ls_r.lines() {
        if let Some(d) = l.strip_suffix(':') {
            cur = Some(d.to_string());
        } else if !l.is_empty() && cur.as_deref() == Some(dir) {
            out.push(l.to_string());
        }
    }
    out
}

#[test]
fn sealerignore_wins_over_dockerignore_and_excludes_from_copy() {
    let env = Env::new();
    let rules = "# comment\n*.log\n!important.log\nsecret/\n";
    let sealer = copy_all_with(
        &env,
        "sealerignore",
        &[(".sealerignore", rules), (".dockerignore", "keep.txt\n")],
    );
    let root = listed(&sealer, ".");
    assert!(
        root.contains(&"keep.txt".to_string()),
        ".dockerignore is not read when .sealerignore exists:\n{sealer}"
    );
    assert!(
        root.contains(&"important.log".to_string()),
        "! re-includes:\n{sealer}"
    );
    assert!(
        !root.contains(&"debug.log".to_string()) && !root.contains(&"secret".to_string()),
        "{sealer}"
    );
    assert_eq!(
        listed(&sealer, "sub"),
        ["deep.log"],
        "*.log matches the top level only, as in Docker"
    );

    let docker = copy_all_with(
        &env,
        "dockerignore",
        &[(".dockerignore", "keep.txt\nbuild\n**/*.log\n")],
    );
    let root = listed(&docker, ".");
    assert!(
        !root.contains(&"keep.txt".to_string()) && !root.contains(&"build".to_string()),
        ".dockerignore is used:\n{docker}"
    );
    assert!(
        root.contains(&"secret".to_string()) && root.contains(&"Kubefile".to_string()),
        "{docker}"
    );
    assert!(
        !docker.contains(".log"),
        "**/*.log excludes at every depth:\n{docker}"
    );

    let none = copy_all_with(&env, "noignore", &[]);
    assert!(
        listed(&none, ".").contains(&"debug.log".to_string()),
        "without an ignore file everything is copied:\n{none}"
    );
}

#[test]
fn build_with_f_reads_another_kubefile_and_context_relative_sources() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("daemon.json", "{\"from\": \"ctx\"}\n"),
            ("Kubefile", "FROM scratch\nCOPY daemon.json etc/a.json\n"),
        ],
    );
    let other: &Path = &env.write(
        "elsewhere/Kubefile.override",
        "FROM scratch\nCOPY daemon.json etc/b.json\n",
    );
    env.sealer()
        .args(["build", "-t", "f:v1", "-f"])
        .arg(other)
        .arg(&ctx)
        .ok();
    assert_eq!(
        lines(&env.run(&["ls", "f:v1", "etc"])),
        ["b.json"],
        "-f wins over CONTEXT/Kubefile"
    );
    assert_eq!(
        env.run(&["cat", "f:v1", "etc/b.json"]),
        "{\"from\": \"ctx\"}\n",
        "sources come from the context, not the Kubefile's directory"
    );
}

#[test]
fn a_run_step_that_leaves_the_mount_busy_warns_and_detaches_it() {
    let env = Env::new();
    // A process that left the RUN guard's process group (setsid) keeps its
    // working directory in the RUN mount, so the clean unmount fails with
    // EBUSY. (Background jobs that stay in the group end with the RUN.)
    let kubefile = "FROM scratch\n\
        RUN echo made > made.txt && setsid -f sleep 20 </dev/null >/dev/null 2>&1 && sleep 1\n";
    let ctx = env.context("ctx", &[("Kubefile", kubefile)]);
    let run = env.build("busy:v1", &ctx);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("warning: unmounting") && l.contains("detaching it lazily")),
        "the failed unmount is reported:\n{}",
        run.stderr
    );
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    assert!(
        !mounts.contains(&*env.root().to_string_lossy()),
        "the busy RUN mount is detached at once:\n{mounts}"
    );
    assert_eq!(env.run(&["cat", "busy:v1", "made.txt"]), "made\n");
}

#[test]
fn background_jobs_of_a_run_step_end_with_it() {
    let env = Env::new();
    // A duration no other test (or other checkout) uses, to find it by.
    let secs = format!("31.{}", std::process::id());
    let kubefile = format!(
        "FROM scratch\nRUN (sleep {secs} </dev/null >/dev/null 2>&1 &) && echo started > s.txt\n"
    );
    let ctx = env.context("ctx", &[("Kubefile", &kubefile)]);
    let run = env.build("bg:v1", &ctx);
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
    // SIGKILL lands at once but is seen a moment later: poll briefly.
    let sleepers = || -> Vec<String> {
        fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
                let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                (cmd == format!("sleep\0{secs}\0").as_bytes()).then(|| pid.to_string())
            })
            .collect()
    };
    let gone = (0..200).any(|_| {
        let none = sleepers().is_empty();
        if !none {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        none
    });
    assert!(
        gone,
        "the RUN's background job outlived it: {:?}",
        sleepers()
    );
    assert_eq!(env.run(&["cat", "bg:v1", "s.txt"]), "started\n");
}
