//! `sealer version [--short]`: sealer's version JSON (`gitVersion`,
//! `gitCommit`, `buildDate`, `compiler`, `platform`), with `rustVersion`
//! where Go's sealer prints `goVersion`. The facts come from `build.rs`.

use serde::Serialize;

/// Flags of `sealer version`.
#[derive(clap::Args)]
pub struct Args {
    /// Print only sealer's own version (gitVersion)
    #[arg(long)]
    short: bool,
}

/// What `sealer version` prints, in sealer's field order.
#[derive(Serialize)]
pub struct Info {
    /// `git describe --tags` of the checkout built (else the crate version).
    #[serde(rename = "gitVersion")]
    pub git_version: &'static str,
    /// The commit built, empty without git.
    #[serde(rename = "gitCommit", skip_serializing_if = "str::is_empty")]
    pub git_commit: &'static str,
    /// When it was built (ISO 8601, UTC; `SOURCE_DATE_EPOCH` honoured).
    #[serde(rename = "buildDate")]
    pub build_date: &'static str,
    /// `rustc --version` of the compiler that built it.
    #[serde(rename = "rustVersion")]
    pub rust_version: &'static str,
    /// Always `rustc`.
    pub compiler: &'static str,
    /// `os/arch` it runs on, in Go's spelling.
    pub platform: String,
}

/// This binary's version facts.
pub fn info() -> Info {
    Info {
        git_version: env!("SEALER_GIT_VERSION"),
        git_commit: env!("SEALER_GIT_COMMIT"),
        build_date: env!("SEALER_BUILD_DATE"),
        rust_version: env!("SEALER_RUST_VERSION"),
        compiler: "rustc",
        platform: format!(
            "{}/{}",
            std::env::consts::OS,
            crate::image::oci::host_arch()
        ),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let info = info();
    if a.short {
        println!("{}", info.git_version);
    } else {
        println!("{}", serde_json::to_string(&info)?);
    }
    Ok(())
}
