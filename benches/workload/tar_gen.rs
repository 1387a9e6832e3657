//! The tar generator of the index benchmarks, shared by `benches/index.rs`
//! and `benches/bin/index_cpu.rs` so both measure the same `index_tar`
//! workload.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

/// Directories of the `index_tar` workload, each holding `PER_DIR` entries.
pub const DIRS: usize = 200;
/// Entries of each directory of the `index_tar` workload.
pub const PER_DIR: usize = 600;

/// Writes a tar entry by entry and counts the entries.
pub struct TarGen {
    builder: tar::Builder<BufWriter<File>>,
    entries: u64,
}

impl TarGen {
    pub fn create(path: &Path) -> io::Result<TarGen> {
        let out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        Ok(TarGen {
            builder: tar::Builder::new(out),
            entries: 0,
        })
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        self.entries += 1;
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder.append_data(&mut h, path, io::empty())
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.entries += 1;
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644);
        self.builder.append_data(&mut h, path, data)
    }

    pub fn link(&mut self, kind: tar::EntryType, path: &str, target: &str) -> io::Result<()> {
        self.entries += 1;
        let mut h = Self::header(kind, 0, 0o777);
        self.builder.append_link(&mut h, path, target)
    }

    /// Finishes the archive: (entries, bytes).
    pub fn finish(self) -> io::Result<(u64, u64)> {
        let file = self
            .builder
            .into_inner()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        Ok((self.entries, file.metadata()?.len()))
    }
}

/// The `index_tar` workload: DIRS directories of PER_DIR entries each, 70%
/// files of 0..1 KiB, 10% symlinks, 10% hard links, 10% subdirectories.
pub fn mixed_tar(path: &Path) -> io::Result<(u64, u64)> {
    let data = vec![b'x'; 1024];
    let mut t = TarGen::create(path)?;
    for d in 0..DIRS {
        let dir = format!("usr/share/d{d:03}");
        t.dir(&dir)?;
        for i in 0..PER_DIR {
            let p = format!("{dir}/e{i:04}");
            match i % 10 {
                7 => t.link(tar::EntryType::Symlink, &p, &format!("e{:04}", i - 1))?,
                8 => t.link(tar::EntryType::Link, &p, &format!("{dir}/e{:04}", i - 2))?,
                9 => t.dir(&p)?,
                _ => t.file(&p, &data[..(i * 37) % 1024])?,
            }
        }
    }
    t.finish()
}
