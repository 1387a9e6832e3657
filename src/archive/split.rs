//! Split archives (`save --split SIZE`): the archive's tar stream cut into
//! parts `FILE.000`, `FILE.001`... of at most SIZE bytes each, cut between
//! tar members where the next member fits in a part of its own, else
//! through it (a blob larger than a part spans several).
//!
//! ```text
//! FILE.NNN
//!   header   512 bytes: "sealer-archive-part v1\n" + JSON + space padding + "\n"
//!            {"archive":"<32 hex, the same in every part of one save>",
//!             "part":N,"last":bool,"size":<payload bytes>,"sha256":"<payload hex>"}
//!   payload  the next `size` bytes of the tar stream
//! ```
//!
//! `load -i FILE.000` follows the parts until one says `last`, checking each
//! header (same archive id, its own number, its length) and hashing every
//! payload before anything is read as a tar, so a missing, truncated,
//! reordered, corrupt or foreign part fails naming it with the store
//! untouched. The payloads are then read in place as one stream
//! ([`Concat`]), never copied or held in memory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::archive_error;
use crate::error::{IoContext, Result};

/// The first line of every part.
const MAGIC: &[u8] = b"sealer-archive-part v1\n";

/// Bytes of a part's header.
pub(super) const HEADER: u64 = 512;

/// The smallest part size `--split` takes.
pub const MIN_PART: u64 = 64 << 10;

/// A part's header.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct PartHeader {
    /// Names one save: every part of it carries the same.
    archive: String,
    /// Its position, from 0.
    part: u32,
    /// Whether it is the final part.
    last: bool,
    /// Payload bytes after the header.
    size: u64,
    /// sha256 (hex) of the payload.
    sha256: String,
}

impl PartHeader {
    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        // Serializing a struct of strings and numbers cannot fail.
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out.resize(HEADER as usize - 1, b' ');
        out.push(b'\n');
        out
    }

    /// `None` if `bytes` does not start as a part does.
    fn decode(bytes: &[u8]) -> Option<PartHeader> {
        let rest = bytes.strip_prefix(MAGIC)?;
        serde_json::from_slice(rest.trim_ascii()).ok()
    }
}

/// The path of part `n` of `base`.
pub(super) fn part_path(base: &Path, n: u32) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n:03}"));
    PathBuf::from(s)
}

/// Where the tar writer's bytes go: one file, or parts.
pub(super) trait Sink: Write {
    /// Called before a tar member of `len` bytes (header and padded data):
    /// a part that cannot hold it, though an empty one could, ends here.
    fn boundary(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for BufWriter<File> {}

/// One part being written.
struct Open {
    out: BufWriter<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

/// Writes the parts of a split archive to temporary names beside `base`;
/// [`PartWriter::finish`] seals them and renames them into place.
pub(super) struct PartWriter {
    base: PathBuf,
    /// Most payload bytes per part.
    room: u64,
    archive: String,
    cur: Option<Open>,
    /// Sealed parts (temporary paths), in order.
    done: Vec<PathBuf>,
}

impl PartWriter {
    /// Parts of at most `limit` bytes each (header included).
    pub(super) fn new(base: &Path, limit: u64) -> Result<PartWriter> {
        if limit < MIN_PART {
            return Err(crate::error::invalid(format!(
                "--split {limit}: a part must hold at least {}",
                crate::human::bytes(MIN_PART)
            )));
        }
        let mut h = Sha256::new();
        h.update(base.as_os_str().as_encoded_bytes());
        h.update(std::process::id().to_le_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        h.update(now.as_nanos().to_le_bytes());
        let archive = hex(&h.finalize()[..16]);
        Ok(PartWriter {
            base: base.to_path_buf(),
            room: limit - HEADER,
            archive,
            cur: None,
            done: Vec::new(),
        })
    }

    fn tmp_path(&self, n: u32) -> PathBuf {
        let final_path = part_path(&self.base, n);
        let name = final_path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        final_path.with_file_name(format!(".{name}.sealer-{}.tmp", std::process::id()))
    }

    fn open_next(&mut self) -> io::Result<&mut Open> {
        if self.cur.is_some() {
            self.seal(false)?;
        }
        let n = self.done.len() as u32;
        let path = self.tmp_path(n);
        let mut f = File::create(&path)?;
        f.write_all(&[0u8; HEADER as usize])?;
        Ok(self.cur.insert(Open {
            out: BufWriter::with_capacity(1 << 20, f),
            path,
            hasher: Sha256::new(),
            size: 0,
        }))
    }

    /// Writes the current part's header and closes it.
    fn seal(&mut self, last: bool) -> io::Result<()> {
        let Some(open) = self.cur.take() else {
            return Ok(());
        };
        let header = PartHeader {
            archive: self.archive.clone(),
            part: self.done.len() as u32,
            last,
            size: open.size,
            sha256: hex(&open.hasher.finalize()),
        };
        let mut f = open.out.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header.encode())?;
        f.sync_all()?;
        self.done.push(open.path);
        Ok(())
    }

    /// Seals the last part and renames every part into place; returns
    /// their paths.
    pub(super) fn finish(mut self) -> Result<Vec<PathBuf>> {
        let base = self.base.clone();
        if self.cur.is_none() {
            self.open_next().at(&base)?;
        }
        self.seal(true).at(&base)?;
        let mut out = Vec::new();
        for (n, tmp) in self.done.iter().enumerate() {
            let to = part_path(&self.base, n as u32);
            fs::rename(tmp, &to).at(&to)?;
            out.push(to);
        }
        self.done.clear();
        // Parts an earlier, longer save left would be copied along with
        // these by `FILE.*`: remove them (only files that are parts).
        let mut n = out.len() as u32;
        loop {
            let stale = part_path(&self.base, n);
            if !matches!(read_header(&stale), Ok(Some(_))) {
                break;
            }
            fs::remove_file(&stale).at(&stale)?;
            n += 1;
        }
        Ok(out)
    }
}

impl Drop for PartWriter {
    /// An unfinished save leaves no part behind.
    fn drop(&mut self) {
        if let Some(open) = self.cur.take() {
            let _ = fs::remove_file(&open.path);
        }
        for p in &self.done {
            let _ = fs::remove_file(p);
        }
    }
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.room;
        let open = match &mut self.cur {
            Some(o) if o.size < room => o,
            _ => self.open_next()?,
        };
        let n = (room - open.size).min(buf.len() as u64) as usize;
        let n = open.out.write(&buf[..n])?;
        open.hasher.update(&buf[..n]);
        open.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.cur {
            Some(o) => o.out.flush(),
            None => Ok(()),
        }
    }
}

impl Sink for PartWriter {
    fn boundary(&mut self, len: u64) -> io::Result<()> {
        if let Some(o) = &self.cur {
            if o.size > 0 && o.size + len > self.room && len <= self.room {
                self.open_next()?;
            }
        }
        Ok(())
    }
}

/// One part's payload, where the logical stream has it.
#[derive(Debug)]
pub(super) struct Segment {
    path: PathBuf,
    /// Offset of the payload in the stream.
    start: u64,
    size: u64,
}

/// `FILE` itself, or `FILE.000` when only that exists.
pub(super) fn find_first(path: &Path) -> PathBuf {
    let first = part_path(path, 0);
    if !path.exists() && first.is_file() {
        first
    } else {
        path.to_path_buf()
    }
}

/// If `path` is a part of a split archive: its parts, every one checked.
/// A part other than `.000` is refused (the parts are found from the first).
pub(super) fn open_parts(path: &Path) -> Result<Option<Vec<Segment>>> {
    let Some(first) = read_header(path)? else {
        return Ok(None);
    };
    if first.part != 0 {
        return Err(archive_error(
            path,
            format!(
                "is part {} of a split archive: load its part .000",
                first.part
            ),
        ));
    }
    let base = strip_part(path).ok_or_else(|| {
        archive_error(
            path,
            "is the first part of a split archive but not named FILE.000",
        )
    })?;
    let mut segs = Vec::new();
    let mut start = 0u64;
    let mut header = first;
    let mut n = 0u32;
    loop {
        let p = part_path(&base, n);
        check_part(&p, &header)?;
        segs.push(Segment {
            path: p,
            start,
            size: header.size,
        });
        start += header.size;
        if header.last {
            break;
        }
        n += 1;
        let next = part_path(&base, n);
        if !next.exists() {
            return Err(archive_error(
                &next,
                format!(
                    "is missing: part {n} of the split archive {}",
                    base.display()
                ),
            ));
        }
        let archive = header.archive.clone();
        header = read_header(&next)?.ok_or_else(|| {
            archive_error(&next, "is not a part of a split archive (no part header)")
        })?;
        if header.archive != archive {
            return Err(archive_error(
                &next,
                format!(
                    "is a part of another archive (id {}, not {archive}): a foreign part",
                    header.archive
                ),
            ));
        }
    }
    Ok(Some(segs))
}

/// Checks a part's number, length and checksum against its header.
fn check_part(p: &Path, h: &PartHeader) -> Result<()> {
    let want = part_number(p);
    if want != Some(h.part) {
        return Err(archive_error(
            p,
            format!(
                "holds part {} of its archive: parts renamed or out of order",
                h.part
            ),
        ));
    }
    let mut f = File::open(p).at(p)?;
    let len = f.metadata().at(p)?.len();
    if len != HEADER + h.size {
        return Err(archive_error(
            p,
            format!(
                "is truncated or damaged: {len} bytes, its header says {}",
                HEADER + h.size
            ),
        ));
    }
    f.seek(SeekFrom::Start(HEADER)).at(p)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at(p)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got = hex(&hasher.finalize());
    if got != h.sha256 {
        return Err(archive_error(
            p,
            format!(
                "is corrupt: its payload hashes to sha256:{got}, its header says sha256:{}",
                h.sha256
            ),
        ));
    }
    Ok(())
}

fn read_header(p: &Path) -> Result<Option<PartHeader>> {
    let mut f = File::open(p).at(p)?;
    let mut buf = vec![0u8; HEADER as usize];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).at(p)? {
            0 => break,
            k => n += k,
        }
    }
    if !buf[..n].starts_with(MAGIC) {
        return Ok(None);
    }
    if n < HEADER as usize {
        return Err(archive_error(
            p,
            "is truncated: its part header is cut short",
        ));
    }
    PartHeader::decode(&buf)
        .map(Some)
        .ok_or_else(|| archive_error(p, "has a damaged part header"))
}

/// `FILE.007` -> 7.
fn part_number(p: &Path) -> Option<u32> {
    let ext = p.extension()?.to_str()?;
    if ext.len() < 3 || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ext.parse().ok()
}

/// `FILE.000` -> `FILE`.
fn strip_part(p: &Path) -> Option<PathBuf> {
    part_number(p)?;
    Some(p.with_extension(""))
}

/// The parts' payloads read as one stream.
pub(super) struct Concat {
    segs: Arc<Vec<Segment>>,
    pos: u64,
    total: u64,
    /// The open part: its index and handle.
    cur: Option<(usize, File)>,
}

impl Concat {
    pub(super) fn new(segs: Arc<Vec<Segment>>) -> Concat {
        let total = segs.last().map_or(0, |s| s.start + s.size);
        Concat {
            segs,
            pos: 0,
            total,
            cur: None,
        }
    }

    /// Bytes of the whole stream.
    pub(super) fn len(&self) -> u64 {
        self.total
    }
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.total || buf.is_empty() {
            return Ok(0);
        }
        let i = self.segs.partition_point(|s| s.start + s.size <= self.pos);
        let seg = &self.segs[i];
        let within = self.pos - seg.start;
        let f = match &mut self.cur {
            Some((j, f)) if *j == i => f,
            _ => &mut self.cur.insert((i, File::open(&seg.path)?)).1,
        };
        f.seek(SeekFrom::Start(HEADER + within))?;
        let want = (seg.size - within).min(buf.len() as u64) as usize;
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} ended early", seg.path.display()),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Concat {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.total.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_strangers_are_not_parts() {
        let h = PartHeader {
            archive: "ab".repeat(16),
            part: 3,
            last: true,
            size: 12345,
            sha256: "00".repeat(32),
        };
        let bytes = h.encode();
        assert_eq!(bytes.len(), HEADER as usize);
        assert_eq!(PartHeader::decode(&bytes), Some(h));
        assert_eq!(PartHeader::decode(b"ustar\0 and more"), None);
    }

    #[test]
    fn part_names() {
        let cases = [
            ("a/f.tar.000", Some(0)),
            ("f.012", Some(12)),
            ("f.tar", None),
            ("f.1", None),
        ];
        for (p, want) in cases {
            assert_eq!(part_number(Path::new(p)), want, "{p}");
        }
        assert_eq!(
            strip_part(Path::new("a/f.tar.000")),
            Some(PathBuf::from("a/f.tar"))
        );
        assert_eq!(
            part_path(Path::new("x/f.tar"), 2),
            PathBuf::from("x/f.tar.002")
        );
    }

    #[test]
    fn parts_cut_on_member_boundaries_and_read_back_as_one_stream() {
        let dir = tempfile::tempdir().expect("tmp");
        let base = dir.path().join("f.tar");
        let mut w = PartWriter::new(&base, MIN_PART).expect("writer");
        let room = MIN_PART - HEADER;
        let data: Vec<u8> = (0..(room * 3) as usize).map(|i| (i % 251) as u8).collect();
        w.boundary(100).expect("b");
        w.write_all(&data[..100]).expect("w");
        // Fits in a part of its own: starts one.
        w.boundary(room).expect("b");
        w.write_all(&data[100..100 + room as usize]).expect("w");
        // Larger than a part: spans the next ones.
        w.boundary(room + 5).expect("b");
        w.write_all(&data[100 + room as usize..]).expect("w");
        let parts = w.finish().expect("finish");
        assert_eq!(parts.len(), 4);
        assert_eq!(fs::metadata(&parts[0]).expect("m").len(), HEADER + 100);
        let segs = open_parts(&parts[0]).expect("open").expect("parts");
        let mut c = Concat::new(Arc::new(segs));
        let mut back = Vec::new();
        c.read_to_end(&mut back).expect("read");
        assert_eq!(back, data);
        c.seek(SeekFrom::Start(room + 50)).expect("seek");
        let mut b = [0u8; 200];
        c.read_exact(&mut b).expect("read");
        assert_eq!(&b[..], &data[(room + 50) as usize..(room + 250) as usize]);
    }
}
