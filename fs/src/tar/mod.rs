//! A streaming reader of tar headers: ustar, GNU long names and base-256
//! numbers, PAX local and global records (path, linkpath, size, uid, gid,
//! mtime with nanoseconds, SCHILY.xattr.*). It never buffers file data: the
//! [`Source`] skips it, by seeking when the tar is a file on disk and by
//! reading through when it is a stream (so a hashing tee still sees it).
//!
//! Tars that end without the two zero blocks are accepted when they stop at a
//! header boundary; a tar cut inside a header or inside file data is an error.
//!
//! Hand-written rather than the `tar` crate's `Archive` (which the build
//! uses to write layers) for speed and for hostile input: indexing is one
//! pass at disk speed that seeks over file data instead of reading it, keeps
//! the byte offset of every entry's data for the layer index, reads names as
//! bytes, and bounds what a crafted header can make it allocate.

use std::io::{self, Read};

use crate::error::TarError;

/// Longest GNU long name or PAX header we accept; bounds memory on hostile input.
pub const MAX_META_SIZE: u64 = 1 << 20;

const BLOCK: u64 = 512;

mod fields;
mod source;

use fields::{header_sum, header_sums, parse_number};
pub use source::{SeekSource, Source, StreamSource};

/// The type of a tar entry, after GNU and PAX meta entries are consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// Regular file (also `7`, contiguous).
    File,
    /// Hard link to an earlier entry (`linkname`).
    HardLink,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDev,
    /// Block device.
    BlockDev,
    /// Directory.
    Dir,
    /// Named pipe.
    Fifo,
}

/// One tar entry as written in the archive: raw path bytes, unnormalized.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// Path as stored (PAX or GNU long name applied).
    pub path: Vec<u8>,
    /// Entry type; `None` only for a default value.
    pub kind: Option<EntryType>,
    /// Permission bits (07777).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time (from PAX).
    pub mtime_nsec: u32,
    /// Size of the data that follows (regular files).
    pub size: u64,
    /// Offset of the entry's data from the start of the tar.
    pub data_offset: u64,
    /// Symlink target or hard link target path.
    pub link: Vec<u8>,
    /// Device numbers.
    pub dev_major: u32,
    /// Device numbers.
    pub dev_minor: u32,
    /// Extended attributes from `SCHILY.xattr.*`, in archive order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Reads entries one by one from a [`Source`].
pub struct TarReader<S> {
    src: S,
    pos: u64,
    /// The header block being read, reused (not zeroed) for every entry.
    header: [u8; 512],
    global: Pax,
    done: bool,
}

#[derive(Clone, Default)]
struct Pax {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<(i64, u32)>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<S: Source> TarReader<S> {
    /// Starts reading at the tar's first byte.
    pub fn new(src: S) -> Self {
        Self {
            src,
            pos: 0,
            header: [0; 512],
            global: Pax::default(),
            done: false,
        }
    }

    /// Gives the source back, e.g. to drain what follows the archive.
    pub fn into_inner(self) -> S {
        self.src
    }

    /// The next entry, `Ok(None)` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<RawEntry>, TarError> {
        let mut e = RawEntry::default();
        Ok(self.read_entry(&mut e)?.then_some(e))
    }

    /// Reads the next entry into `e`, every field overwritten and its
    /// buffers reused (an index reads a tar without allocating per
    /// entry); false at the end of the archive.
    pub fn read_entry(&mut self, e: &mut RawEntry) -> Result<bool, TarError> {
        if self.done {
            return Ok(false);
        }
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax = Pax::default();
        loop {
            let header_at = self.pos;
            let Some(h) = next_header(&mut self.src, &mut self.header, &mut self.pos)? else {
                self.done = true;
                return Ok(false);
            };
            let size = parse_number(&h[124..136], header_at, "size")?;
            let size = u64::try_from(size).map_err(|_| TarError::Field {
                offset: header_at,
                field: "size",
            })?;
            let typeflag = h[156];
            let kind = match typeflag {
                b'0' | 0 | b'7' => EntryType::File,
                b'1' => EntryType::HardLink,
                b'2' => EntryType::Symlink,
                b'3' => EntryType::CharDev,
                b'4' => EntryType::BlockDev,
                b'5' => EntryType::Dir,
                b'6' => EntryType::Fifo,
                b'L' | b'K' | b'x' | b'g' => {
                    let data = self.read_meta(size, header_at)?;
                    match typeflag {
                        b'L' => long_name = Some(trim_nul(&data).to_vec()),
                        b'K' => long_link = Some(trim_nul(&data).to_vec()),
                        b'x' => parse_pax(&data, &mut pax, header_at)?,
                        _ => parse_pax(&data, &mut self.global, header_at)?,
                    }
                    continue;
                }
                b'V' => {
                    self.skip_data(size, header_at)?;
                    continue;
                }
                other => {
                    return Err(TarError::UnsupportedType {
                        offset: header_at,
                        typeflag: other,
                    })
                }
            };
            read_fields(e, h, header_at, long_name.take(), long_link.take())?;
            e.kind = Some(kind);
            e.size = size;
            apply_pax(e, [&self.global, &pax]);
            // Only regular files carry data; for the others the size field is
            // informational (hard links may repeat the target's size).
            let data_len = if kind == EntryType::File { e.size } else { 0 };
            if kind != EntryType::File {
                e.size = 0;
            }
            e.data_offset = self.pos;
            self.skip_data(data_len, header_at)?;
            return Ok(true);
        }
    }

    fn read_meta(&mut self, size: u64, header_at: u64) -> Result<Vec<u8>, TarError> {
        if size > MAX_META_SIZE {
            return Err(TarError::MetaTooLarge {
                offset: header_at,
                size,
            });
        }
        let mut data = vec![0u8; size as usize];
        let n = read_full(&mut self.src, &mut data).map_err(|e| TarError::Io {
            offset: self.pos,
            err: e,
        })?;
        if n < data.len() {
            return Err(TarError::Truncated {
                offset: header_at,
                what: "extended header",
            });
        }
        self.pos += size;
        self.skip_padding(size, header_at)?;
        Ok(data)
    }

    fn skip_data(&mut self, size: u64, header_at: u64) -> Result<(), TarError> {
        // A PAX size may claim up to u64::MAX: no padded length, no archive.
        let padded = size
            .div_ceil(BLOCK)
            .checked_mul(BLOCK)
            .ok_or(TarError::Field {
                offset: header_at,
                field: "size",
            })?;
        let n = self.src.skip(padded).map_err(|e| TarError::Io {
            offset: self.pos,
            err: e,
        })?;
        self.pos += n;
        // The last block's padding may be missing in a cut tar; its data may not.
        if n < size {
            return Err(TarError::Truncated {
                offset: header_at,
                what: "file data",
            });
        }
        if n < padded {
            self.done = true;
        }
        Ok(())
    }

    fn skip_padding(&mut self, size: u64, header_at: u64) -> Result<(), TarError> {
        let pad = size.div_ceil(BLOCK) * BLOCK - size;
        let n = self.src.skip(pad).map_err(|e| TarError::Io {
            offset: self.pos,
            err: e,
        })?;
        self.pos += n;
        if n < pad {
            return Err(TarError::Truncated {
                offset: header_at,
                what: "extended header",
            });
        }
        Ok(())
    }
}

/// What PAX records set in place of the header's fields: the global ones,
/// then the entry's own (the later wins; xattrs add up).
fn apply_pax(e: &mut RawEntry, records: [&Pax; 2]) {
    e.xattrs.clear();
    for p in records {
        if let Some(v) = &p.path {
            e.path.clear();
            e.path.extend_from_slice(v);
        }
        if let Some(v) = &p.link {
            e.link.clear();
            e.link.extend_from_slice(v);
        }
        if let Some(v) = p.size {
            e.size = v;
        }
        if let Some(v) = p.uid {
            e.uid = v;
        }
        if let Some(v) = p.gid {
            e.gid = v;
        }
        if let Some((s, ns)) = p.mtime {
            e.mtime = s;
            e.mtime_nsec = ns;
        }
        e.xattrs.extend(p.xattrs.iter().cloned());
    }
}

/// The next header block, checked, and `pos` past it: in `src`'s buffer
/// when it holds a whole block, else read into `spare`. `None` at a clean
/// end (a zero block or EOF).
fn next_header<'a, S: Source>(
    src: &'a mut S,
    spare: &'a mut [u8; 512],
    pos: &mut u64,
) -> Result<Option<&'a [u8; 512]>, TarError> {
    let io_err = |err| TarError::Io { offset: *pos, err };
    let h: &[u8; 512] = if src.block_buffered().map_err(io_err)? {
        src.take_block().ok_or(TarError::Truncated {
            offset: *pos,
            what: "header",
        })?
    } else {
        let n = read_full(src, spare).map_err(io_err)?;
        if n == 0 {
            return Ok(None);
        }
        if n < 512 {
            return Err(TarError::Truncated {
                offset: *pos,
                what: "header",
            });
        }
        spare
    };
    // A zero block reads as checksum 0, which no block sums to (its
    // field counts as spaces), so it is looked for only on a mismatch.
    let stored = parse_number(&h[148..156], *pos, "checksum")?;
    // The signed sum only when the unsigned one (all but old tars) fails.
    if stored != header_sum(h) && stored != header_sums(h).1 {
        if h.iter().all(|&b| b == 0) {
            *pos += BLOCK;
            return Ok(None);
        }
        return Err(TarError::Checksum { offset: *pos });
    }
    *pos += BLOCK;
    Ok(Some(h))
}

/// Fills `e`'s header fields but its type, size and xattrs from `h`, the
/// header at `at`; a GNU long name or link in place of the header's.
fn read_fields(
    e: &mut RawEntry,
    h: &[u8; 512],
    at: u64,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
) -> Result<(), TarError> {
    let number = |range: std::ops::Range<usize>, field| {
        let v = parse_number(&h[range], at, field)?;
        to_u32(v, at, field)
    };
    e.mode = (parse_number(&h[100..108], at, "mode")? & 0o7777) as u32;
    e.uid = number(108..116, "uid")?;
    e.gid = number(116..124, "gid")?;
    e.mtime = parse_number(&h[136..148], at, "mtime")?;
    e.mtime_nsec = 0;
    e.dev_major = number(329..337, "devmajor")?;
    e.dev_minor = number(337..345, "devminor")?;
    e.path.clear();
    match long_name {
        Some(p) => e.path.extend_from_slice(&p),
        None => {
            if &h[257..263] == b"ustar\0" {
                let prefix = trim_nul(&h[345..500]);
                if !prefix.is_empty() {
                    e.path.extend_from_slice(prefix);
                    e.path.push(b'/');
                }
            }
            e.path.extend_from_slice(trim_nul(&h[0..100]));
        }
    }
    e.link.clear();
    match long_link {
        Some(l) => e.link.extend_from_slice(&l),
        None => e.link.extend_from_slice(trim_nul(&h[157..257])),
    }
    Ok(())
}

pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn trim_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn to_u32(v: i64, offset: u64, field: &'static str) -> Result<u32, TarError> {
    u32::try_from(v).map_err(|_| TarError::Field { offset, field })
}

/// Parses PAX records `"<len> <key>=<value>\n"` into `pax`.
fn parse_pax(data: &[u8], pax: &mut Pax, offset: u64) -> Result<(), TarError> {
    let bad = |why: &'static str| TarError::Pax { offset, why };
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(bad("record without a length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(bad("record length is not a number"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad("record length does not match"));
        }
        let record = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or(bad("record without '='"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let num = |v: &[u8]| -> Result<u64, TarError> {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(bad("numeric record is not a number"))
        };
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.link = Some(value.to_vec()),
            b"size" => pax.size = Some(num(value)?),
            b"uid" => {
                pax.uid = Some(u32::try_from(num(value)?).map_err(|_| bad("uid out of range"))?)
            }
            b"gid" => {
                pax.gid = Some(u32::try_from(num(value)?).map_err(|_| bad("gid out of range"))?)
            }
            b"mtime" => {
                pax.mtime = Some(parse_pax_time(value).ok_or(bad("mtime is not a number"))?)
            }
            _ if key.starts_with(b"SCHILY.xattr.") => {
                let name = key[b"SCHILY.xattr.".len()..].to_vec();
                pax.xattrs.retain(|(k, _)| *k != name);
                pax.xattrs.push((name, value.to_vec()));
            }
            _ if key.starts_with(b"GNU.sparse.") => {
                return Err(bad("sparse files are not supported"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `"1700000000.123456789"` or `"-1.5"` -> (seconds, nanoseconds), flooring.
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nsec: u32 = digits.parse().ok()?;
    if !neg {
        return Some((secs, nsec));
    }
    // "--9223372036854775808" parses to i64::MIN, which has no negation.
    let secs = secs.checked_neg()?;
    if nsec == 0 {
        Some((secs, 0))
    } else {
        Some((secs.checked_sub(1)?, 1_000_000_000 - nsec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"12"), Some((12, 0)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b"x"), None);
        assert_eq!(parse_pax_time(b"--9223372036854775808"), None);
        assert_eq!(parse_pax_time(b"-9223372036854775808.5"), None);
    }

    #[test]
    fn pax_records() {
        let mut p = Pax::default();
        let rec =
            b"30 mtime=1700000000.123456789\n20 path=a/very/long\n26 SCHILY.xattr.user.k=v1\n";
        parse_pax(rec, &mut p, 0).unwrap();
        assert_eq!(p.path.as_deref(), Some(&b"a/very/long"[..]));
        assert_eq!(p.mtime, Some((1_700_000_000, 123_456_789)));
        assert_eq!(p.xattrs, vec![(b"user.k".to_vec(), b"v1".to_vec())]);
        assert!(parse_pax(b"99 path=x\n", &mut p, 0).is_err());
        assert!(parse_pax(b"5 x\n", &mut p, 0).is_err());
    }
}
