//! Login, logout and authentication against Debian's real `docker-registry`:
//! htpasswd basic auth, and bearer tokens from a token service (the registry's
//! `auth: token`), with credentials in `$DOCKER_CONFIG/config.json` that
//! skopeo reads too; secrets are never printed.

use std::fs;

use crate::registry::{ids, jsonv, skopeo, World, BASE};
use crate::util::registry::Registry;
use crate::util::{assert_mentions, Env};

#[test]
fn login_logout_and_basic_auth_never_print_the_password() {
    let password = "s3cret-Pa55";
    let reg = Registry::with_basic_auth("alice", password);
    let w = World::new();
    w.build_base();
    let target = reg.image("private/k8s:v1");
    let err = w.sealer().args(["push", BASE, &target]).fails();
    assert_mentions(&err, &[&reg.addr, "sealer login"]);
    let err = w
        .sealer()
        .args(["login", &reg.addr, "-u", "alice", "-p", "wrong"])
        .fails();
    assert_mentions(&err, &[&reg.addr, "401"]);
    assert!(
        !w.docker_config.join("config.json").exists(),
        "a failed login wrote credentials"
    );
    let pw_file = w.env.write("pw", format!("{password}\n"));
    let ok = w
        .sealer()
        .args(["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .stdin_file(&pw_file)
        .ok();
    assert_mentions(&ok.stdout, &["Login Succeeded"]);
    let config = jsonv(
        &fs::read_to_string(w.docker_config.join("config.json")).expect("config.json"),
        "config.json",
    );
    let auth = config["auths"][reg.addr.as_str()]["auth"]
        .as_str()
        .expect("auth");
    assert_eq!(
        auth, "YWxpY2U6czNjcmV0LVBhNTU=",
        "base64 of alice:{password}"
    );
    let pushed = w.sealer().args(["push", BASE, &target]).ok();
    let other = World {
        env: Env::new(),
        docker_config: w.docker_config.clone(),
    };
    let pulled = other.sealer().args(["pull", &target]).ok();
    // skopeo reads the same credentials file.
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        &w.docker_config.join("config.json").display().to_string(),
        &format!("docker://{target}"),
    ]);
    let out = w.sealer().args(["logout", &reg.addr]).ok();
    assert_mentions(&out.stdout, &["Removing login credentials"]);
    let config = fs::read_to_string(w.docker_config.join("config.json")).expect("config.json");
    assert!(!config.contains(&reg.addr), "logout left {config}");
    let err = other.sealer().args(["pull", &target]).fails();
    assert_mentions(&err, &["sealer login"]);
    for text in [
        &pushed.stdout,
        &pushed.stderr,
        &pulled.stdout,
        &pulled.stderr,
        &err,
        &ok.stderr,
    ] {
        assert!(!text.contains(password), "the password was printed: {text}");
        assert!(!text.contains(auth), "the auth token was printed: {text}");
    }
}

#[test]
fn bearer_tokens_from_a_token_service_carry_login_push_and_pull() {
    let password = "t0ken-Pa55";
    let reg = Registry::with_token_auth("bob", password);
    let w = World::new();
    w.build_base();
    let target = reg.image("tok/k8s:v1");
    let err = w.sealer().args(["push", BASE, &target]).fails();
    assert_mentions(&err, &[&reg.addr, "sealer login"]);
    let err = w
        .sealer()
        .args(["login", &reg.addr, "-u", "bob", "-p", "wrong"])
        .fails();
    assert_mentions(&err, &[&reg.addr, "wrong user name or password"]);
    w.sealer()
        .args(["login", &reg.addr, "-u", "bob", "-p", password])
        .ok();
    let pushed = w.sealer().args(["push", BASE, &target]).ok();
    let other = World {
        env: Env::new(),
        docker_config: w.docker_config.clone(),
    };
    let pulled = other.sealer().args(["pull", &target]).ok();
    assert_eq!(ids(&other.env, &target), ids(&w.env, BASE));
    let issued = reg
        .token
        .as_ref()
        .expect("a token service")
        .issued
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(issued >= 3, "tokens issued: {issued}");
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        &w.docker_config.join("config.json").display().to_string(),
        &format!("docker://{target}"),
    ]);
    for text in [
        &pushed.stderr,
        &pushed.stdout,
        &pulled.stderr,
        &pulled.stdout,
        &err,
    ] {
        assert!(!text.contains(password), "the password was printed: {text}");
    }
}
