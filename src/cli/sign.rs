//! `sealer sign --key FILE [--remote] [--insecure] IMAGE` and
//! `sealer verify --key FILE [--remote] [--insecure] IMAGE`.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::sign::{image, passphrase, PrivateKey, PublicKey};
use crate::store::Store;

/// Flags of `sealer sign`.
///
/// An image in the store is signed there (over its manifest or index
/// digest and its repository): `push`, `save` and `load` carry the
/// signature. Any other reference is signed in its registry, as cosign
/// does (tag sha256-<hex>.sig).
#[derive(clap::Args)]
pub struct Args {
    /// The private key (ENCRYPTED COSIGN PRIVATE KEY PEM); passphrase from
    /// SEALER_PASSWORD or COSIGN_PASSWORD, else asked on the terminal
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Sign the image in its registry even if the store has it
    #[arg(long)]
    remote: bool,
    /// Allow plain HTTP and unverified TLS for this registry
    #[arg(long)]
    insecure: bool,
    /// Image: a name in the store, or a registry reference
    image: String,
}

/// Flags of `sealer verify`.
///
/// Exit status 0 only if a signature by the key covers exactly the image's
/// digest and repository; else 1 and the reason. An image in the store is
/// verified offline.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The public key (PUBLIC KEY PEM)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Verify the image in its registry even if the store has it
    #[arg(long)]
    remote: bool,
    /// Allow plain HTTP and unverified TLS for this registry
    #[arg(long)]
    insecure: bool,
    /// Image: a name in the store, or a registry reference
    image: String,
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<()> {
    let pem = std::fs::read(&a.key).with_context(|| format!("reading {}", a.key.display()))?;
    let pass = passphrase::passphrase("Enter password for private key: ", false)?;
    let key = PrivateKey::from_pem(&pem, &pass).with_context(|| a.key.display().to_string())?;
    let done = image::sign(store, &a.image, &key, a.remote, a.insecure)
        .with_context(|| format!("signing {}", a.image))?;
    println!("Signed {}@{}", done.image, done.digest);
    Ok(())
}

pub fn run_verify(store: &Store, a: VerifyArgs) -> anyhow::Result<()> {
    let pem = std::fs::read(&a.key).with_context(|| format!("reading {}", a.key.display()))?;
    let key = PublicKey::from_pem(&pem).with_context(|| a.key.display().to_string())?;
    let done = image::verify(store, &a.image, &key, a.remote, a.insecure)
        .with_context(|| format!("verifying {}", a.image))?;
    println!("Verified {}@{}", done.image, done.digest);
    Ok(())
}
