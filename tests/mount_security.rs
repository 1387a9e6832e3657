//! Mount security: a default mount is `nosuid,nodev` with
//! `default_permissions` and without `allow_other` (read from the kernel's
//! mountinfo); an unprivileged user (`nobody`, through `setpriv`) cannot see
//! a default mount at all, and through an `--allow-other` mount can read a
//! 0644 file but not a 0600 root file. `--suid --dev` are the positive
//! control for the options.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::mount::mount_with;
use crate::util::Env;

/// (mount options, super options) of the mount at `dir`, from mountinfo.
fn options(dir: &Path) -> (Vec<String>, Vec<String>) {
    let table = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    let want = dir.to_string_lossy();
    let line = table
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(&want))
        .unwrap_or_else(|| panic!("{} is not in mountinfo", dir.display()));
    let fields: Vec<&str> = line.split(' ').collect();
    let dash = fields.iter().position(|f| *f == "-").expect("a separator");
    let split = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    (split(fields[5]), split(fields[dash + 3]))
}

/// Runs `cat FILE` as nobody (uid/gid 65534, no groups); returns
/// (success, stderr).
fn cat_as_nobody(file: &Path) -> (bool, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run setpriv ({e}): install util-linux (.ci/run does)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn secured_image(env: &Env) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "mount security tests need root: they switch to nobody with setpriv"
    );
    // nobody must be able to walk to the mountpoints.
    fs::set_permissions(env.dir(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let ctx = env.context(
        "ctx",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("public.txt", "anyone may read this\n"),
            ("secret.txt", "root only\n"),
            ("bin/tool", "#!/bin/sh\necho tool\n"),
        ],
    );
    fs::set_permissions(ctx.join("secret.txt"), fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::set_permissions(ctx.join("bin/tool"), fs::Permissions::from_mode(0o4755)).expect("chmod");
    env.build("secured:1", &ctx);
    let long = env.run(&["ls", "-l", "secured:1"]);
    assert!(
        long.lines()
            .any(|l| l.starts_with("-rw-------") && l.ends_with("secret.txt")),
        "the image keeps the 0600 mode:\n{long}"
    );
}

#[test]
fn default_mounts_are_nosuid_nodev_private_and_checked_by_the_kernel() {
    let env = Env::new();
    secured_image(&env);
    let m = mount_with(&env, &["secured:1"], "default");
    let (opts, sup) = options(&m.dir);
    for o in ["nosuid", "nodev"] {
        assert!(opts.iter().any(|x| x == o), "{o} missing: {opts:?}");
    }
    assert!(sup.iter().any(|x| x == "default_permissions"), "{sup:?}");
    assert!(!sup.iter().any(|x| x == "allow_other"), "{sup:?}");
    // Root (who mounted it) reads everything.
    assert_eq!(
        fs::read_to_string(m.dir.join("secret.txt")).expect("root reads"),
        "root only\n"
    );
    // nobody cannot even see it: not the public file, not the directory.
    let (ok, err) = cat_as_nobody(&m.dir.join("public.txt"));
    assert!(!ok && err.contains("Permission denied"), "{err}");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "ls"])
        .arg(&m.dir)
        .output()
        .expect("setpriv ls");
    assert!(!out.status.success(), "nobody listed a private mount");
}

#[test]
fn allow_other_lets_others_in_but_file_modes_still_hold() {
    let env = Env::new();
    secured_image(&env);
    let m = mount_with(&env, &["--allow-other", "secured:1"], "shared");
    let (opts, sup) = options(&m.dir);
    assert!(sup.iter().any(|x| x == "allow_other"), "{sup:?}");
    assert!(sup.iter().any(|x| x == "default_permissions"), "{sup:?}");
    assert!(opts.iter().any(|x| x == "nosuid") && opts.iter().any(|x| x == "nodev"));
    let (ok, err) = cat_as_nobody(&m.dir.join("public.txt"));
    assert!(
        ok,
        "nobody cannot read a 0644 file through --allow-other: {err}"
    );
    let (ok, err) = cat_as_nobody(&m.dir.join("secret.txt"));
    assert!(
        !ok && err.contains("Permission denied"),
        "nobody read a 0600 root file: {err}"
    );
    // The setuid bit is shown but not honoured: the mount is nosuid.
    let md = fs::metadata(m.dir.join("bin/tool")).expect("stat");
    assert_eq!(md.permissions().mode() & 0o7777, 0o4755);
}

#[test]
fn suid_and_dev_are_only_there_when_asked() {
    let env = Env::new();
    secured_image(&env);
    let m = mount_with(&env, &["--suid", "--dev", "secured:1"], "asked");
    let (opts, _) = options(&m.dir);
    assert!(
        !opts.iter().any(|x| x == "nosuid" || x == "nodev"),
        "--suid --dev ignored: {opts:?}"
    );
}
