//! `sealer serve IMAGE... --addr HOST:PORT [--tls-cert F --tls-key F] [--htpasswd F]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::serve::{Options, Server};
use crate::store::Store;

/// Flags of `sealer serve`.
///
/// A read-only registry (OCI distribution API) for the ClusterImages named,
/// under their names without registry host, and for every container image
/// in their `registry/`, read from the layer blobs through their indexes:
/// nothing is unpacked. Stops on SIGTERM or Ctrl-C once the answers in
/// flight are sent.
#[derive(clap::Args)]
pub struct Args {
    /// ClusterImages to serve (names or ids)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    /// Address to listen on (`:PORT`: every address; port 0: any free port, printed)
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// PEM certificate chain: serve HTTPS
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// htpasswd file with bcrypt hashes (htpasswd -B): require basic auth
    #[arg(long, value_name = "FILE")]
    htpasswd: Option<PathBuf>,
}

pub fn run(store: &Store, a: Args, verbose: u8) -> anyhow::Result<()> {
    let opts = Options {
        addr: a.addr.clone(),
        tls: a.tls_cert.zip(a.tls_key),
        htpasswd: a.htpasswd,
        log_requests: verbose > 0,
    };
    let server = Server::bind(store, &a.images, &opts).context("sealer serve")?;
    let addr = server.local_addr()?;
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    let repos = server.catalog().repositories();
    log::info!("{} repositories: {}", repos.len(), repos.join(", "));
    let mut out = std::io::stdout().lock();
    writeln!(out, "serving {scheme}://{addr}")?;
    out.flush()?;
    drop(out);
    server.run()?;
    Ok(())
}
