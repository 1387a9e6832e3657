//! `sealer login REGISTRY -u USER (--password-stdin | -p PASSWORD)` and
//! `sealer logout REGISTRY`: credentials in docker's `config.json`
//! (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`).

use std::io::Read;

use anyhow::Context as _;

use crate::registry::auth::{self, Credentials};
use crate::registry::client::Client;

/// Flags of `sealer login`.
#[derive(clap::Args)]
pub struct Args {
    /// Registry host, e.g. registry.example.com or 127.0.0.1:5000
    registry: String,
    /// User name
    #[arg(short, long)]
    username: String,
    /// Password (prefer --password-stdin: a password on the command line is
    /// visible to other users)
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    password_stdin: bool,
    /// Allow plain HTTP and unverified TLS for this registry
    #[arg(long)]
    insecure: bool,
}

/// Flags of `sealer logout`.
#[derive(clap::Args)]
pub struct LogoutArgs {
    /// Registry host
    registry: String,
}

/// The registry host of what a user typed (`https://host/v2/` -> `host`).
fn host_of(s: &str) -> String {
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    s.split('/').next().unwrap_or(s).to_string()
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let host = host_of(&a.registry);
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from standard input")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => anyhow::bail!("give the password with --password-stdin or -p"),
    };
    if password.is_empty() {
        anyhow::bail!("the password is empty");
    }
    let creds = Credentials {
        username: a.username,
        password,
    };
    let client = Client::connect_with(&host, a.insecure, Some(creds.clone()))
        .with_context(|| format!("logging in to {host}"))?;
    client
        .check_login()
        .with_context(|| format!("logging in to {host}"))?;
    auth::save(&host, &creds)?;
    println!("Login Succeeded");
    Ok(())
}

pub fn run_logout(a: LogoutArgs) -> anyhow::Result<()> {
    let host = host_of(&a.registry);
    if auth::remove(&host)? {
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(())
}
