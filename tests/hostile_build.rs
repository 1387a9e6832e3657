//! Hostile Kubefiles and build contexts, beyond `bad_input.rs` (which covers
//! symlinks out of the context, `..` in COPY sources and destinations and a
//! FIFO in the context): a socket in the context, `..` hidden in JSON forms,
//! absolute destinations and ADD, a 1 GB Kubefile line (from a file and from
//! a pipe), `-f /dev/zero`, a Kubefile that is a directory, a context that is
//! a symlink to `/`. Each case is its own test: one clear error naming what is
//! wrong, and the store is left as it was; nothing is written outside the
//! store.

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use crate::util::{example, fails_cleanly, Env, Sealer};

fn base() -> Env {
    let env = Env::new();
    env.build("base:v1", &example("cluster-rootfs"));
    env
}

fn context(env: &Env, name: &str, kubefile: &str) -> PathBuf {
    env.context(
        name,
        &[
            ("Kubefile", kubefile),
            ("a.txt", "a\n"),
            ("dir/b.txt", "b\n"),
        ],
    )
}

fn build(env: &Env, ctx: &std::path::Path) -> Sealer {
    env.sealer().args(["build", "-t", "bad:v1"]).arg(ctx)
}

#[test]
fn a_socket_in_the_context_is_fails_cleanly() {
    let env = base();
    let ctx = context(&env, "sock", "FROM base:v1\nCOPY . stuff/\n");
    let _listener = UnixListener::bind(ctx.join("control.sock")).expect("binding a socket");
    fails_cleanly(
        &env,
        build(&env, &ctx),
        &["Kubefile:2", "control.sock", "socket"],
    );
}

/// Builds `kubefile` (in a context beside a host file `outside.txt`), which
/// must be refused naming a Kubefile line and `parts`; nothing lands outside.
fn dot_dot_refused(kubefile: &str, parts: &[&str]) {
    let env = base();
    env.write("outside.txt", "host file\n");
    let ctx = context(&env, "dd", kubefile);
    let mut want = vec!["Kubefile:"];
    want.extend_from_slice(parts);
    fails_cleanly(&env, build(&env, &ctx), &want);
    assert!(!env.path("x").exists() && !PathBuf::from("/tmp/x.sealer").exists());
}

#[test]
fn dot_dot_in_a_json_copy_source_is_refused() {
    dot_dot_refused(
        "FROM base:v1\nCOPY [\"../outside.txt\", \"etc/\"]\n",
        &["../outside.txt", "outside the build context"],
    );
}

#[test]
fn dot_dot_through_a_context_directory_is_refused() {
    dot_dot_refused(
        "FROM base:v1\nCOPY dir/../../outside.txt etc/\n",
        &["outside the build context"],
    );
}

#[test]
fn dot_dot_in_an_add_source_is_refused() {
    dot_dot_refused(
        "FROM base:v1\nADD ../outside.txt etc/\n",
        &["../outside.txt", "outside the build context"],
    );
}

#[test]
fn dot_dot_in_a_json_copy_destination_is_refused() {
    dot_dot_refused(
        "FROM base:v1\nCOPY [\"a.txt\", \"/etc/../../../x\"]\n",
        &["leaves the rootfs"],
    );
}

#[test]
fn dot_dot_in_a_copy_destination_is_refused() {
    dot_dot_refused(
        "FROM base:v1\nCOPY a.txt etc/../../../tmp/x\n",
        &["leaves the rootfs"],
    );
}

#[test]
fn dot_dot_through_an_arg_is_refused() {
    dot_dot_refused(
        "FROM base:v1\nARG UP=..\nCOPY a.txt ${UP}/${UP}/x\n",
        &["leaves the rootfs"],
    );
}

#[test]
fn a_gigabyte_kubefile_is_refused_by_its_size() {
    let env = base();
    // Sparse, so the test writes nothing big.
    let ctx = context(&env, "big", "");
    let f = fs::File::create(ctx.join("Kubefile")).expect("Kubefile");
    f.set_len(0).expect("truncate");
    let mut w = std::io::BufWriter::new(&f);
    w.write_all(b"FROM base:v1\nRUN echo ").expect("head");
    w.flush().expect("flush");
    drop(w);
    f.set_len(1 << 30).expect("a 1 GiB Kubefile");
    fails_cleanly(
        &env,
        build(&env, &ctx),
        &[
            "Kubefile",
            "larger than the 16 MiB limit",
            "1073741824 bytes",
        ],
    );
}

#[test]
fn a_gigabyte_kubefile_line_from_a_pipe_is_cut_at_the_limit() {
    let env = base();
    let ctx = context(&env, "big", "FROM base:v1\n");
    // A pipe streaming a 1 GB line: sealer stops after 16 MiB.
    let fifo = env.path("kubefile.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("opening the fifo");
            let chunk = vec![b'a'; 1 << 20];
            let mut sent: u64 = 0;
            let _ = f.write_all(b"FROM base:v1\nRUN echo ");
            while sent < 1 << 30 {
                if f.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
            sent
        })
    };
    let line = fails_cleanly(
        &env,
        env.sealer()
            .args(["build", "-t", "bad:v1", "-f"])
            .arg(&fifo)
            .arg(&ctx),
        &["kubefile.fifo", "larger than the 16 MiB limit"],
    );
    let sent = writer.join().expect("the fifo writer");
    assert!(
        sent < 1 << 30,
        "sealer read the whole gigabyte ({sent} bytes): {line}"
    );
}

#[test]
fn a_kubefile_that_never_ends_is_refused() {
    let env = base();
    let ctx = context(&env, "zero", "FROM base:v1\n");
    fails_cleanly(
        &env,
        env.sealer()
            .args(["build", "-t", "bad:v1", "-f", "/dev/zero"])
            .arg(&ctx),
        &["/dev/zero", "larger than the 16 MiB limit"],
    );
}

#[test]
fn a_directory_as_kubefile_is_named() {
    let env = base();
    let ctx = context(&env, "dirkf", "");
    fs::remove_file(ctx.join("Kubefile")).expect("rm");
    fs::create_dir(ctx.join("Kubefile")).expect("a directory named Kubefile");
    fails_cleanly(&env, build(&env, &ctx), &["Kubefile", "is a directory"]);
}

#[test]
fn a_kubefile_not_in_utf8_is_named() {
    let env = base();
    let ctx = context(&env, "binary", "");
    fs::write(ctx.join("Kubefile"), b"FROM base:v1\nCOPY \xff\xfe etc/\n").expect("write");
    fails_cleanly(&env, build(&env, &ctx), &["Kubefile", "not UTF-8"]);
}

#[test]
fn a_nul_byte_in_a_kubefile_names_its_line() {
    let env = base();
    let ctx = context(&env, "nul", "FROM base:v1\nCOPY a\0b etc/\n");
    fails_cleanly(&env, build(&env, &ctx), &["Kubefile:2"]);
}

#[test]
fn a_context_symlinked_to_the_root_cannot_copy_outside() {
    let env = base();
    // The whole host as a context: COPY of a path outside is still refused.
    let root_link = env.path("hostroot");
    std::os::unix::fs::symlink("/", &root_link).expect("symlink to /");
    let kubefile = env.write(
        "rootctx.Kubefile",
        "FROM base:v1\nCOPY ../../etc/shadow etc/\n",
    );
    fails_cleanly(
        &env,
        env.sealer()
            .args(["build", "-t", "bad:v1", "-f"])
            .arg(&kubefile)
            .arg(&root_link),
        &["Kubefile:2", "outside the build context"],
    );
}
