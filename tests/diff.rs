//! `sealer diff IMAGE IMAGE [PATH...]`: a base and an override built by
//! `sealer build`, compared without unpacking: A/C/D lines, `--stat`, `-u`,
//! `--images`, JSON, exit statuses (0 equal, 1 different, 2 errors), paths
//! limiting the walk, and directories of shared layers skipped unread.

use serde_json::Value;

use crate::util::{Env, Run};

const REPOS: &str = "registry/docker/registry/v2/repositories";
const BIG: usize = 1 << 20;

fn link(repo: &str, tag: &str) -> String {
    format!("{REPOS}/{repo}/_manifests/tags/{tag}/current/link")
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// Builds `base:1` and `over:1` (FROM base:1) in `env`.
fn build_pair(env: &Env) {
    let big = "x".repeat(BIG);
    let (nginx, redis, busybox) = (
        link("library/nginx", "1.25"),
        link("library/redis", "7"),
        link("busybox", "1"),
    );
    let (da, db, dc) = (digest('a'), digest('b'), digest('c'));
    let base = env.context(
        "base",
        &[
            (
                "Kubefile",
                "FROM scratch\nCOPY . .\nRUN ln -s etc/keep.conf current\n",
            ),
            ("etc/daemon.json", "{\n  \"a\": 1,\n  \"b\": 2\n}\n"),
            ("etc/keep.conf", "keep\n"),
            ("scripts/clean.sh", "#!/bin/sh\necho clean\n"),
            ("bin/tool", "#!/bin/sh\necho tool\n"),
            ("bin/blob", "a\0b"),
            ("statics/big.bin", &big),
            ("statics/deep/er/file.yaml", "kind: Deep\n"),
            (&nginx, &da),
            (&redis, &db),
            (&busybox, &dc),
        ],
    );
    env.build("base:1", &base);
    let kubefile = format!(
        "FROM base:1\n\
         COPY daemon.json etc/\n\
         COPY new.conf etc/\n\
         COPY --chmod=0700 tool bin/\n\
         COPY blob bin/\n\
         RUN rm scripts/clean.sh && rm -r {REPOS}/library/redis && ln -sfn etc/new.conf current \
         && mkdir -p {REPOS}/library/alpine/_manifests/tags/3/current \
         && printf {} > {} && printf {} > {}\n",
        digest('e'),
        link("library/alpine", "3"),
        digest('d'),
        nginx,
    );
    let over = env.context(
        "over",
        &[
            ("Kubefile", &kubefile),
            ("daemon.json", "{\n  \"a\": 1,\n  \"b\": 3\n}\n"),
            ("new.conf", "new\n"),
            ("tool", "#!/bin/sh\necho tool\n"),
            ("blob", "a\0c"),
        ],
    );
    env.build("over:1", &over);
}

fn diff(env: &Env, args: &[&str]) -> Run {
    env.sealer().arg("diff").args(args).output()
}

/// The line of `out` for `path` (`X /path ...`).
fn line_of<'a>(out: &'a str, path: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.get(2..)
                .is_some_and(|rest| rest.split(' ').next() == Some(path))
        })
        .unwrap_or_else(|| panic!("no line for {path} in:\n{out}"))
}

#[test]
fn diff_of_two_images_lists_changes_stat_patches_and_images() {
    let env = Env::new();
    build_pair(&env);

    let run = diff(&env, &["base:1", "over:1"]);
    assert_eq!(run.code, Some(1), "images differ: exit 1\n{}", run.stderr);
    let out = &run.stdout;
    let paths: Vec<&str> = out.lines().map(|l| &l[2..]).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "sorted by path");
    assert!(
        line_of(out, "/etc/daemon.json").starts_with("C /etc/daemon.json (content"),
        "{out}"
    );
    assert!(
        line_of(out, "/etc/daemon.json").ends_with("; 23 B)"),
        "{out}"
    );
    assert_eq!(line_of(out, "/etc/new.conf"), "A /etc/new.conf (4 B)");
    assert_eq!(
        line_of(out, "/scripts/clean.sh"),
        "D /scripts/clean.sh (21 B)"
    );
    let tool = line_of(out, "/bin/tool");
    assert!(
        tool.starts_with("C /bin/tool (mode") && !tool.contains("content"),
        "{tool}"
    );
    let current = line_of(out, "/current");
    assert!(current.starts_with("C /current (target"), "{current}");
    assert!(
        current.ends_with("; etc/keep.conf -> etc/new.conf)"),
        "{current}"
    );
    assert!(line_of(out, &format!("/{REPOS}/library/redis")).starts_with('D'));
    assert!(line_of(out, &format!("/{}", link("library/alpine", "3"))).starts_with('A'));
    for same in ["/statics", "/etc/keep.conf", "/busybox"] {
        assert!(
            !out.lines().any(|l| l[2..].starts_with(same)),
            "{same} listed:\n{out}"
        );
    }
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );

    // --stat: per top-level directory.
    let stat = diff(&env, &["--stat", "base:1", "over:1"]).stdout;
    let etc = stat
        .lines()
        .find(|l| l.starts_with("/etc "))
        .unwrap_or_else(|| panic!("{stat}"));
    assert!(
        etc.contains("1 added (4 B)") && etc.contains("0 deleted (0 B)"),
        "{etc}"
    );
    let scripts = stat
        .lines()
        .find(|l| l.starts_with("/scripts "))
        .unwrap_or_else(|| panic!("{stat}"));
    assert!(scripts.contains("1 deleted (21 B)"), "{scripts}");
    assert!(
        stat.lines().last().is_some_and(|l| l.contains(" paths: ")),
        "{stat}"
    );

    // -u: the text file's hunks, the binary file's one line.
    let patch = diff(&env, &["-u", "base:1", "over:1"]).stdout;
    assert!(
        patch.contains(
            "--- a/etc/daemon.json\n+++ b/etc/daemon.json\n@@ -1,4 +1,4 @@\n {\n   \"a\": 1,\n-  \"b\": 2\n+  \"b\": 3\n }\n"
        ),
        "{patch}"
    );
    assert!(
        patch.contains("Binary files a/bin/blob and b/bin/blob differ\n"),
        "{patch}"
    );
    assert!(
        !patch.contains("bin/tool"),
        "same content, no patch: {patch}"
    );

    // --images: the tags of registry/.
    let images = diff(&env, &["--images", "base:1", "over:1"]).stdout;
    assert_eq!(
        images,
        format!(
            "A library/alpine:3 {}\nC library/nginx:1.25 {} -> {}\nD library/redis:7 {}\n",
            digest('e'),
            digest('a'),
            digest('d'),
            digest('b')
        )
    );

    // --color always: git's colours.
    let coloured = diff(&env, &["--color", "always", "base:1", "over:1"]).stdout;
    assert!(
        coloured.contains("\x1b[32mA /etc/new.conf\x1b[m"),
        "{coloured}"
    );
    assert!(
        coloured.contains("\x1b[31mD /scripts/clean.sh\x1b[m"),
        "{coloured}"
    );
    assert!(
        coloured.contains("\x1b[33mC /etc/daemon.json\x1b[m"),
        "{coloured}"
    );
}

#[test]
fn diff_json_paths_and_exit_statuses() {
    let env = Env::new();
    build_pair(&env);

    let run = diff(
        &env,
        &[
            "--format", "json", "--stat", "-u", "--images", "base:1", "over:1",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let v: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(v["equal"], false);
    let changes = v["changes"].as_array().expect("changes");
    let daemon = changes
        .iter()
        .find(|c| c["path"] == "/etc/daemon.json")
        .expect("daemon.json changed");
    assert_eq!(daemon["change"], "C");
    assert!(daemon["what"]
        .as_array()
        .expect("what")
        .contains(&"content".into()));
    assert_eq!(
        (
            daemon["old"]["size"].as_u64(),
            daemon["new"]["size"].as_u64()
        ),
        (Some(23), Some(23))
    );
    let tool = changes
        .iter()
        .find(|c| c["path"] == "/bin/tool")
        .expect("tool");
    assert_eq!(
        (tool["old"]["mode"].as_str(), tool["new"]["mode"].as_str()),
        (Some("0644"), Some("0700"))
    );
    let current = changes
        .iter()
        .find(|c| c["path"] == "/current")
        .expect("current");
    assert_eq!(current["new"]["target"], "etc/new.conf");
    assert!(v["stat"].as_array().is_some_and(|s| s
        .iter()
        .any(|d| d["dir"] == "/scripts" && d["deleted"]["paths"] == 1)));
    let patches = v["patches"].as_array().expect("patches");
    assert!(patches
        .iter()
        .any(|p| p["path"] == "/bin/blob" && p["binary"] == true));
    assert!(patches.iter().any(|p| p["path"] == "/etc/daemon.json"
        && p["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+  \"b\": 3\n"))));
    let images = v["images"].as_array().expect("images");
    assert!(images
        .iter()
        .any(|i| i["image"] == "library/nginx:1.25" && i["change"] == "retagged"));

    // Paths limit the walk; a path in only one image is fine.
    let etc = diff(&env, &["base:1", "over:1", "/etc", "scripts/clean.sh"]);
    assert_eq!(etc.code, Some(1));
    assert!(
        etc.stdout
            .lines()
            .all(|l| l[2..].starts_with("/etc/") || l[2..].starts_with("/scripts/clean.sh ")),
        "{}",
        etc.stdout
    );
    assert!(etc.stdout.contains("D /scripts/clean.sh"), "{}", etc.stdout);
    let statics = diff(&env, &["base:1", "over:1", "/statics"]);
    assert_eq!(
        (statics.code, statics.stdout.as_str()),
        (Some(0), ""),
        "{}",
        statics.stderr
    );

    // Identical images: no output, exit 0.
    env.run(&["tag", "base:1", "copy:1"]);
    let same = diff(&env, &["base:1", "copy:1"]);
    assert_eq!(
        (same.code, same.stdout.as_str()),
        (Some(0), ""),
        "{}",
        same.stderr
    );
    let same = diff(&env, &["--format", "json", "over:1", "over:1"]);
    assert_eq!(same.code, Some(0));
    assert!(same.stdout.contains("\"equal\": true"), "{}", same.stdout);

    // Errors: exit 2 and one `error:` line.
    for (args, says) in [
        (&["base:1", "nope:1"][..], "nope:1"),
        (&["base:1", "over:1", "/no/such"][..], "/no/such"),
        (
            &["--platform", "plan9/amd64", "base:1", "over:1"][..],
            "plan9/amd64",
        ),
    ] {
        let run = diff(&env, args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(errors[0].contains(says), "{}", errors[0]);
    }
    // Other commands still fail with 1.
    let rmi = env.sealer().args(["rmi", "nope:1"]).output();
    assert_eq!(rmi.code, Some(1));
}

#[test]
fn shared_directories_are_skipped_and_big_files_unread() {
    use sealer::image::diff::compare;
    use sealer::image::view::RootView;
    use sealer::store::Store;

    let env = Env::new();
    build_pair(&env);
    let store = Store::open(&env.root()).expect("store");
    let view = |name: &str| RootView::open(&store, &store.resolve(name).expect(name)).expect(name);
    let (base, over) = (view("base:1"), view("over:1"));
    let cmp = compare(&base, &over, &[]).expect("compare");
    assert!(cmp.stats.skipped_dirs >= 1, "{:?}", cmp.stats);
    // Only daemon.json (23 + 23), blob (3 + 3) and the one changed link
    // (71 + 71) differ from base's entries with equal sizes, and tool (20 + 20).
    assert!(cmp.stats.bytes_read < 1024, "{:?}", cmp.stats);
    assert!(cmp.stats.bytes_read < BIG as u64);
    let same = compare(&over, &over, &[]).expect("compare");
    assert!(same.changes.is_empty());
    assert_eq!(
        (same.stats.compared, same.stats.skipped_dirs),
        (1, 1),
        "the root, skipped whole"
    );
}

/// GNU `diff -ruN a b` of the contexts `old` and `new` in `dir` (reached
/// as `a` and `b` through symlinks, the names our headers use), as `sealer
/// diff -u` prints it: without the `diff -ruN` lines and the timestamps of
/// the `---`/`+++` headers.
fn gnu_diff_un(dir: &std::path::Path, old: &str, new: &str) -> String {
    let pair = dir.join(format!("pair-{old}-{new}"));
    std::fs::create_dir_all(&pair).expect("creating the pair");
    std::os::unix::fs::symlink(dir.join(old), pair.join("a")).expect("symlink a");
    std::os::unix::fs::symlink(dir.join(new), pair.join("b")).expect("symlink b");
    let out = std::process::Command::new("diff")
        .args(["-ruN", "a", "b"])
        .current_dir(&pair)
        .env("LC_ALL", "C")
        .output()
        .expect("running GNU diff");
    assert_eq!(out.status.code(), Some(1), "diff -ruN: the trees differ");
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .filter(|l| !l.starts_with("diff -ruN "))
        .map(|l| match l.split_once('\t') {
            Some((head, _)) if l.starts_with("--- ") || l.starts_with("+++ ") => head,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn diff_u_shows_added_and_deleted_files_as_diff_un_does() {
    let env = Env::new();
    let kubefile = ("Kubefile", "FROM scratch\nCOPY . .\n");
    let a = env.context(
        "a",
        &[
            kubefile,
            ("etc/changed.conf", "one\ntwo\nthree\n"),
            ("etc/gone.conf", "old\nlines\n"),
            ("etc/gone-nonl", "no newline"),
            ("etc/gone-empty", ""),
            ("scripts/old/run.sh", "#!/bin/sh\necho old\n"),
        ],
    );
    let b = env.context(
        "b",
        &[
            kubefile,
            ("etc/changed.conf", "one\nTWO\nthree\n"),
            ("etc/new.conf", "x\ny\n"),
            ("etc/new-nonl", "z"),
            ("etc/new-empty", ""),
            ("etc/new.bin", "a\0b"),
            ("manifests/new/deploy.yaml", "kind: Deployment\n"),
        ],
    );
    env.build("a:1", &a);
    env.build("b:1", &b);
    let run = diff(&env, &["-u", "a:1", "b:1"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stdout, gnu_diff_un(env.dir(), "a", "b"));
    assert!(
        run.stdout
            .contains("--- a/etc/new.conf\n+++ b/etc/new.conf\n@@ -0,0 +1,2 @@\n+x\n+y\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("--- a/etc/gone.conf\n+++ b/etc/gone.conf\n@@ -1,2 +0,0 @@\n-old\n-lines\n"),
        "{}",
        run.stdout
    );
    // The other way round, and in JSON: added and deleted files have patches.
    let back = diff(&env, &["-u", "b:1", "a:1"]);
    assert_eq!(back.stdout, gnu_diff_un(env.dir(), "b", "a"));
    let json = diff(&env, &["-u", "--format", "json", "a:1", "b:1"]);
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let patched: Vec<&str> = v["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(
        patched,
        [
            "/etc/changed.conf",
            "/etc/gone-nonl",
            "/etc/gone.conf",
            "/etc/new-nonl",
            "/etc/new.bin",
            "/etc/new.conf",
            "/manifests/new/deploy.yaml",
            "/scripts/old/run.sh",
        ],
        "empty files added or deleted have no patch"
    );
}
