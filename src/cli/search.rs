//! `sealer search REPOSITORY... | REGISTRY/ [--format table|json]`: the
//! tags of repositories, newest version first, or the repositories of a
//! registry (`_catalog`).

use std::io::Write;

use serde::Serialize;

use crate::image::Reference;
use crate::registry::search::{catalog, tags};

/// Flags of `sealer search`.
#[derive(clap::Args)]
pub struct Args {
    /// Repositories (e.g. 127.0.0.1:5000/library/kubernetes, sealerio/kubernetes),
    /// or a registry with a trailing slash (127.0.0.1:5000/) for its repositories
    #[arg(required = true, value_name = "REPOSITORY|REGISTRY/")]
    names: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Allow plain HTTP and unverified TLS for this registry (as `pull`)
    #[arg(long)]
    insecure: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One result: a repository and its tags, or a registry and its repositories.
#[derive(Serialize)]
#[serde(untagged)]
enum Found {
    Repository {
        name: String,
        tags: Vec<String>,
    },
    Registry {
        registry: String,
        repositories: Vec<String>,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for n in &a.names {
        if let Some(host) = n.strip_suffix('/').filter(|h| !h.contains('/')) {
            let repositories = catalog(host, a.insecure)?;
            found.push(Found::Registry {
                registry: host.to_string(),
                repositories,
            });
        } else {
            let last = n.rsplit('/').next().unwrap_or(n);
            if last.contains(':') || n.contains('@') {
                anyhow::bail!("search takes a repository, without tag or digest: {n}");
            }
            let r = Reference::parse(n)?;
            found.push(Found::Repository {
                name: r.repo.clone(),
                tags: tags(&r, a.insecure)?,
            });
        }
    }
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &found)?;
            writeln!(out)?;
        }
        Format::Table => {
            let mut rows: Vec<(String, String)> = Vec::new();
            for f in &found {
                match f {
                    Found::Repository { name, tags } => {
                        rows.extend(tags.iter().map(|t| (name.clone(), t.clone())));
                    }
                    Found::Registry {
                        registry,
                        repositories,
                    } => {
                        rows.extend(
                            repositories
                                .iter()
                                .map(|r| (format!("{registry}/{r}"), String::new())),
                        );
                    }
                }
            }
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(10);
            writeln!(out, "{:width$}  VERSION", "IMAGE NAME")?;
            for (name, tag) in rows {
                writeln!(out, "{name:width$}  {tag}")?;
            }
        }
    }
    Ok(())
}
