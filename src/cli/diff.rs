//! `sealer diff DIR` (the changes of a `--rw` mount) and `sealer diff A B
//! [PATH...]` (what changed from image A to image B): parses, prints the
//! library's comparison as text or JSON, and says the exit status (0 equal,
//! 1 different; errors are 2, set by `cli::main`).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Context as _;
use sealer_fs::{Kind, Meta};
use serde_json::{json, Value};

use super::json;
use crate::human;
use crate::image::diff::{self, tags, Change, ChangeKind, Comparison};
use crate::image::platform::Want;
use crate::image::view::RootView;
use crate::store::Store;

/// Flags of `sealer diff`.
#[derive(clap::Args)]
pub struct Args {
    /// DIR, a mountpoint of `sealer mount --rw` (its changes); or IMAGE IMAGE
    /// [PATH...]: what changed from the first image to the second, below the
    /// PATHs [default: the whole rootfs]
    #[arg(required = true, value_name = "DIR | IMAGE IMAGE [PATH]")]
    targets: Vec<OsString>,
    /// Per top-level directory: paths added, changed, deleted and their bytes
    #[arg(long)]
    stat: bool,
    /// Unified diff (3 lines of context) of the text files changed, added or
    /// deleted, as `diff -uN` (a missing file is an empty one)
    #[arg(short = 'u', long = "unified")]
    unified: bool,
    /// Container images in registry/: added, removed, retagged
    #[arg(long)]
    images: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Colour: auto (on a terminal), always, never
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    /// Compare the images of this platform (os/arch[/variant]); an image
    /// that is not of it is an error
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl Args {
    /// Two images are compared (rather than a mount's changes listed): errors
    /// exit with 2, as `diff`'s do.
    pub fn compares_images(&self) -> bool {
        self.targets.len() >= 2
    }

    /// The `--rw` mount whose changes are listed (`sealer diff DIR`).
    pub fn mount_dir(&self) -> Option<&Path> {
        match &self.targets[..] {
            [dir] => Some(Path::new(dir)),
            _ => None,
        }
    }
}

/// Runs `sealer diff`; returns the exit status.
pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    if let [dir] = &a.targets[..] {
        super::commit::run_diff(store, Path::new(dir))?;
        return Ok(0);
    }
    let name = |s: &OsString| {
        s.to_str()
            .map(str::to_string)
            .with_context(|| format!("image name {s:?} is not UTF-8"))
    };
    let (old_name, new_name) = (name(&a.targets[0])?, name(&a.targets[1])?);
    let want = Want::parse(a.platform.as_deref())
        .with_context(|| format!("images {old_name} and {new_name}"))?;
    let old_img = store.resolve_for(&old_name, &want)?;
    let new_img = store.resolve_for(&new_name, &want)?;
    let old = RootView::open(store, &old_img)?;
    let new = RootView::open(store, &new_img)?;
    let paths: Vec<Vec<u8>> = a.targets[2..]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    let cmp = diff::compare(&old, &new, &paths)?;
    log::debug!(
        "diff: {} entries compared, {} shared directories skipped, {} content bytes read",
        cmp.stats.compared,
        cmp.stats.skipped_dirs,
        cmp.stats.bytes_read
    );
    let tag_changes = if a.images {
        Some(tags::compare(&tags::tags(&old)?, &tags::tags(&new)?))
    } else {
        None
    };
    let color = match a.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => std::io::stdout().is_terminal() && a.format == Format::Text,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            let v = to_json(&a, &old_name, &new_name, &cmp, tag_changes.as_deref())?;
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        Format::Text => {
            let p = Printer {
                out: &mut out,
                color,
            };
            p.all(&a, &cmp, tag_changes.as_deref())?;
        }
    }
    out.flush()?;
    Ok(if cmp.changes.is_empty() { 0 } else { 1 })
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[m";

struct Printer<'o, W: Write> {
    out: &'o mut W,
    color: bool,
}

impl<W: Write> Printer<'_, W> {
    fn paint(&mut self, color: &str, bytes: &[u8]) -> std::io::Result<()> {
        if self.color {
            self.out.write_all(color.as_bytes())?;
            self.out.write_all(bytes)?;
            self.out.write_all(RESET.as_bytes())
        } else {
            self.out.write_all(bytes)
        }
    }

    fn all(
        mut self,
        a: &Args,
        cmp: &Comparison,
        tag_changes: Option<&[(String, tags::TagChange)]>,
    ) -> anyhow::Result<()> {
        if !a.stat && !a.unified && !a.images {
            for c in &cmp.changes {
                self.change(cmp, c)?;
            }
        }
        if a.stat {
            self.stat(cmp)?;
        }
        if a.unified {
            for c in cmp.changes.iter().filter(|c| c.has_patch()) {
                self.patch(&diff::patch(cmp, c)?)?;
            }
        }
        if let Some(tag_changes) = tag_changes {
            for (name, t) in tag_changes {
                match t {
                    tags::TagChange::Added(d) => {
                        self.paint(GREEN, format!("A {name} {d}").as_bytes())?
                    }
                    tags::TagChange::Removed(d) => {
                        self.paint(RED, format!("D {name} {d}").as_bytes())?
                    }
                    tags::TagChange::Retagged(o, n) => {
                        self.paint(YELLOW, format!("C {name} {o} -> {n}").as_bytes())?
                    }
                }
                writeln!(self.out)?;
            }
        }
        Ok(())
    }

    /// `C /etc/daemon.json (content, mtime; 17 B -> 23 B)`: path bytes as
    /// they are, as `sealer ls` prints names.
    fn change(&mut self, cmp: &Comparison, c: &Change) -> std::io::Result<()> {
        let (color, letter) = match c.kind {
            ChangeKind::Added => (GREEN, "A /"),
            ChangeKind::Changed => (YELLOW, "C /"),
            ChangeKind::Deleted => (RED, "D /"),
        };
        let line = [letter.as_bytes(), &c.path].concat();
        self.paint(color, &line)?;
        let notes = c
            .aspects
            .iter()
            .map(|a| a.word())
            .collect::<Vec<_>>()
            .join(", ");
        let old = c.old.and_then(|m| describe(cmp.old, c, m));
        let new = c.new.and_then(|m| describe(cmp.new, c, m));
        let sides = match (old, new) {
            (Some(o), Some(n)) if o != n => {
                // Two symlinks: `old-target -> new-target`.
                let (o, n) = match (o.strip_prefix("-> "), n.strip_prefix("-> ")) {
                    (Some(o), Some(n)) => (o.to_string(), n.to_string()),
                    _ => (o, n),
                };
                Some(format!("{o} -> {n}"))
            }
            (Some(o), _) => Some(o),
            (None, n) => n,
        };
        let inner = match sides {
            Some(s) if notes.is_empty() => s,
            Some(s) => format!("{notes}; {s}"),
            None => notes,
        };
        if !inner.is_empty() {
            write!(self.out, " ({inner})")?;
        }
        writeln!(self.out)
    }

    fn stat(&mut self, cmp: &Comparison) -> std::io::Result<()> {
        let groups = diff::stat(&cmp.changes);
        let width = groups.keys().map(|k| k.len() + 1).max().unwrap_or(0);
        let mut total = diff::DirStat::default();
        let part = |(n, b): (u64, u64), what: &str| format!("{n} {what} ({})", human::bytes(b));
        for (dir, s) in &groups {
            let name = [b"/", &dir[..]].concat();
            self.out.write_all(&name)?;
            let pad = width.saturating_sub(name.len());
            writeln!(
                self.out,
                "{:pad$}  {}, {}, {}",
                "",
                part(s.added, "added"),
                part(s.changed, "changed"),
                part(s.deleted, "deleted")
            )?;
            for (t, x) in [
                (&mut total.added, s.added),
                (&mut total.changed, s.changed),
                (&mut total.deleted, s.deleted),
            ] {
                t.0 += x.0;
                t.1 += x.1;
            }
        }
        writeln!(
            self.out,
            "{} paths: {}, {}, {}",
            cmp.changes.len(),
            part(total.added, "added"),
            part(total.changed, "changed"),
            part(total.deleted, "deleted")
        )
    }

    fn patch(&mut self, patch: &[u8]) -> std::io::Result<()> {
        for line in patch.split_inclusive(|&b| b == b'\n') {
            let color = if line.starts_with(b"--- ") || line.starts_with(b"+++ ") {
                BOLD
            } else if line.starts_with(b"@@") {
                CYAN
            } else if line.starts_with(b"-") {
                RED
            } else if line.starts_with(b"+") {
                GREEN
            } else {
                ""
            };
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if color.is_empty() {
                self.out.write_all(body)?;
            } else {
                self.paint(color, body)?;
            }
            if line.ends_with(b"\n") {
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

/// What a side is, for a person: a file's size, a symlink's target.
fn describe(view: &RootView, c: &Change, m: Meta) -> Option<String> {
    match m.kind {
        Kind::File => Some(human::bytes(m.size)),
        Kind::Symlink => {
            let node = view.resolve(&c.path)?.top();
            Some(format!(
                "-> {}",
                String::from_utf8_lossy(view.layer_index(node).link_target(node.id))
            ))
        }
        _ => None,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Dir => "dir",
        Kind::Symlink => "symlink",
        Kind::CharDev => "char",
        Kind::BlockDev => "block",
        Kind::Fifo => "fifo",
        Kind::Whiteout => "whiteout",
    }
}

fn side(view: &RootView, c: &Change, m: Option<Meta>) -> Value {
    let Some(m) = m else {
        return Value::Null;
    };
    let v = json!({
        "type": kind_name(m.kind),
        "size": m.size,
        "mode": format!("{:04o}", m.perm()),
        "uid": m.uid,
        "gid": m.gid,
        "mtime": m.mtime,
        "target": null,
    });
    let node = (m.kind == Kind::Symlink)
        .then(|| view.resolve(&c.path))
        .flatten();
    match node {
        Some(n) => {
            let n = n.top();
            json::with_bytes(v, "target", view.layer_index(n).link_target(n.id))
        }
        None => v,
    }
}

/// `/PATH` of a change: the bytes as they are, for JSON's `path` and,
/// when not UTF-8, `path_bytes`.
fn slash_path(p: &[u8]) -> Vec<u8> {
    [b"/", p].concat()
}

fn to_json(
    a: &Args,
    old_name: &str,
    new_name: &str,
    cmp: &Comparison,
    tag_changes: Option<&[(String, tags::TagChange)]>,
) -> anyhow::Result<Value> {
    let changes: Vec<Value> = cmp
        .changes
        .iter()
        .map(|c| {
            json::with_bytes(
                json!({
                    "change": c.kind.letter().to_string(),
                    "what": c.aspects.iter().map(|x| x.word()).collect::<Vec<_>>(),
                    "old": side(cmp.old, c, c.old),
                    "new": side(cmp.new, c, c.new),
                }),
                "path",
                &slash_path(&c.path),
            )
        })
        .collect();
    let mut v = json!({
        "old": old_name,
        "new": new_name,
        "equal": cmp.changes.is_empty(),
        "changes": changes,
    });
    if a.stat {
        let count = |(n, b): (u64, u64)| json!({"paths": n, "bytes": b});
        let stat: Vec<Value> = diff::stat(&cmp.changes)
            .iter()
            .map(|(dir, s)| {
                json::with_bytes(
                    json!({
                        "added": count(s.added),
                        "changed": count(s.changed),
                        "deleted": count(s.deleted),
                    }),
                    "dir",
                    &slash_path(dir),
                )
            })
            .collect();
        v["stat"] = Value::Array(stat);
    }
    if a.unified {
        let mut patches = Vec::new();
        for c in cmp.changes.iter().filter(|c| c.has_patch()) {
            let p = diff::patch(cmp, c)?;
            if p.is_empty() {
                continue;
            }
            let v = json!({ "binary": p.starts_with(b"Binary files ") });
            let v = json::with_bytes(v, "path", &slash_path(&c.path));
            patches.push(json::with_bytes(v, "diff", &p));
        }
        v["patches"] = Value::Array(patches);
    }
    if let Some(tag_changes) = tag_changes {
        let images: Vec<Value> = tag_changes
            .iter()
            .map(|(name, t)| {
                let (change, old, new) = match t {
                    tags::TagChange::Added(d) => ("added", None, Some(d)),
                    tags::TagChange::Removed(d) => ("removed", Some(d), None),
                    tags::TagChange::Retagged(o, n) => ("retagged", Some(o), Some(n)),
                };
                json!({"image": name, "change": change, "old": old, "new": new})
            })
            .collect();
        v["images"] = Value::Array(images);
    }
    Ok(v)
}
