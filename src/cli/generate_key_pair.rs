//! `sealer generate-key-pair [--output-key-prefix NAME]`: NAME.key and NAME.pub as cosign writes them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::sign::{key, passphrase};

/// Flags of `sealer generate-key-pair`.
///
/// The private key is sealed with the passphrase from SEALER_PASSWORD (or
/// COSIGN_PASSWORD), else asked on the terminal. Existing files are not
/// overwritten.
#[derive(clap::Args)]
pub struct Args {
    /// Write NAME.key and NAME.pub
    #[arg(long, value_name = "NAME", default_value = "cosign")]
    output_key_prefix: String,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let private_path = PathBuf::from(format!("{}.key", a.output_key_prefix));
    let public_path = PathBuf::from(format!("{}.pub", a.output_key_prefix));
    for p in [&private_path, &public_path] {
        if p.exists() {
            anyhow::bail!("{} exists: not overwriting it", p.display());
        }
    }
    let pass = passphrase::passphrase("Enter password for private key: ", true)?;
    let (private, public) = key::generate(&pass)?;
    write_new(&private_path, private.as_bytes(), 0o600)?;
    write_new(&public_path, public.as_bytes(), 0o644)?;
    eprintln!("Private key written to {}", private_path.display());
    eprintln!("Public key written to {}", public_path.display());
    Ok(())
}

fn write_new(path: &std::path::Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
