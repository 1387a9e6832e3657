//! Logging: the libraries report through `log`; `-v` shows debug lines,
//! `RUST_LOG` sets the level, and the default shows what the command line
//! always showed.

use crate::util::Env;

#[test]
fn verbose_and_rust_log_set_the_level() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[("Kubefile", "FROM scratch\nCOPY . .\n"), ("etc/x", "x\n")],
    );
    let plain = env.sealer().args(["build", "-t", "a:1"]).arg(&ctx).ok();
    assert!(
        plain.stderr.contains("STEP 2/2: COPY . ."),
        "{}",
        plain.stderr
    );
    assert!(!plain.stderr.contains("debug:"), "{}", plain.stderr);
    let verbose = env
        .sealer()
        .args(["-v", "build", "--no-cache", "-t", "b:1"])
        .arg(&ctx)
        .ok();
    assert!(
        verbose
            .stderr
            .lines()
            .any(|l| l.starts_with("debug: ") && l.contains("ingested layer")),
        "{}",
        verbose.stderr
    );
    let quiet = env
        .sealer()
        .env("RUST_LOG", "warn")
        .args(["build", "-t", "c:1"])
        .arg(&ctx)
        .ok();
    assert!(!quiet.stderr.contains("STEP"), "{}", quiet.stderr);
    let warned = env
        .sealer()
        .env("RUST_LOG", "warn")
        .args(["build", "-t", "d:1", "--build-arg", "UNUSED=1"])
        .arg(&ctx)
        .ok();
    assert!(
        warned
            .stderr
            .contains("warning: build arg UNUSED was given but no ARG declares it"),
        "{}",
        warned.stderr
    );
}
