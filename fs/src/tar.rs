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

use std::io::{self, Read, Seek, SeekFrom};

use crate::error::TarError;

/// Longest GNU long name or PAX header we accept; bounds memory on hostile input.
pub const MAX_META_SIZE: u64 = 1 << 20;

const BLOCK: u64 = 512;

/// A byte source a tar is read from: reads headers, skips data.
pub trait Source: Read {
    /// Skips `n` bytes. Returns how many were skipped (fewer only at EOF).
    fn skip(&mut self, n: u64) -> io::Result<u64>;
}

/// Bytes [`SeekSource`] reads at a time: about a hundred headers of small
/// files per `read`, where reading header by header took two syscalls per
/// entry (a 512-byte `read` and an `lseek` over the data).
const SEEK_BUF: usize = 64 << 10;

/// A tar on disk (or anything seekable), read through a buffer: data that
/// lies in the buffer is skipped there, longer data with one seek, made
/// only when the next header is needed.
pub struct SeekSource<R> {
    inner: R,
    len: u64,
    /// Position of the next byte handed out.
    pos: u64,
    /// Position of `inner`; differs from `pos` + unread buffer only after a
    /// skip past the buffer, until the next fill seeks.
    inner_pos: u64,
    buf: Box<[u8]>,
    /// Unread bytes of `buf`: `buf[start..end]`, which begin at `pos`.
    start: usize,
    end: usize,
}

impl<R: Read + Seek> SeekSource<R> {
    /// Wraps a seekable reader positioned at the tar's first byte.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let pos = inner.stream_position()?;
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(pos))?;
        Ok(Self {
            inner,
            len,
            pos,
            inner_pos: pos,
            buf: vec![0u8; SEEK_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
        })
    }

    /// Moves `inner` to `pos` if a skip left it behind.
    fn sync_inner(&mut self) -> io::Result<()> {
        if self.inner_pos != self.pos {
            self.inner.seek(SeekFrom::Start(self.pos))?;
            self.inner_pos = self.pos;
        }
        Ok(())
    }
}

impl<R: Read + Seek> Read for SeekSource<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            self.sync_inner()?;
            if out.len() >= self.buf.len() {
                let n = self.inner.read(out)?;
                self.inner_pos += n as u64;
                self.pos += n as u64;
                return Ok(n);
            }
            let n = self.inner.read(&mut self.buf)?;
            self.inner_pos += n as u64;
            (self.start, self.end) = (0, n);
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Source for SeekSource<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let n = n.min(self.len.saturating_sub(self.pos));
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.start += n as usize;
            self.pos += n;
            return Ok(n);
        }
        // Past the buffer: drop it. A short way past it, read on (the next
        // header is near); further, the next read seeks.
        (self.start, self.end) = (0, 0);
        self.pos += buffered;
        let rest = n - buffered;
        if rest < (SEEK_BUF / 2) as u64 && self.inner_pos == self.pos {
            let got = self.inner.read(&mut self.buf)?;
            self.inner_pos += got as u64;
            self.end = got;
            let step = (rest as usize).min(got);
            self.start = step;
            self.pos += step as u64;
            if step < rest as usize {
                (self.start, self.end) = (0, 0);
                self.pos += rest - step as u64;
            }
            return Ok(n);
        }
        self.pos += rest;
        Ok(n)
    }
}

/// A tar arriving as a stream: data is skipped by reading it.
pub struct StreamSource<R>(pub R);

impl<R: Read> Read for StreamSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }
}

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
        if self.done {
            return Ok(None);
        }
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax = Pax::default();
        loop {
            let header_at = self.pos;
            if !self.read_header()? {
                self.done = true;
                return Ok(None);
            }
            let h = &self.header;
            let size = parse_number(&h[124..136], header_at, "size")?;
            let size = u64::try_from(size).map_err(|_| TarError::Field {
                offset: header_at,
                field: "size",
            })?;
            let typeflag = h[156];
            match typeflag {
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
                _ => {}
            }
            let kind = match typeflag {
                b'0' | 0 | b'7' => EntryType::File,
                b'1' => EntryType::HardLink,
                b'2' => EntryType::Symlink,
                b'3' => EntryType::CharDev,
                b'4' => EntryType::BlockDev,
                b'5' => EntryType::Dir,
                b'6' => EntryType::Fifo,
                other => {
                    return Err(TarError::UnsupportedType {
                        offset: header_at,
                        typeflag: other,
                    })
                }
            };
            let ustar = &h[257..263] == b"ustar\0";
            let mut path = match long_name.take() {
                Some(p) => p,
                None => {
                    let name = trim_nul(&h[0..100]);
                    let prefix = if ustar {
                        trim_nul(&h[345..500])
                    } else {
                        &[][..]
                    };
                    if prefix.is_empty() {
                        name.to_vec()
                    } else {
                        [prefix, b"/", name].concat()
                    }
                }
            };
            let mut link = long_link
                .take()
                .unwrap_or_else(|| trim_nul(&h[157..257]).to_vec());
            let mut e = RawEntry {
                kind: Some(kind),
                mode: (parse_number(&h[100..108], header_at, "mode")? & 0o7777) as u32,
                uid: to_u32(
                    parse_number(&h[108..116], header_at, "uid")?,
                    header_at,
                    "uid",
                )?,
                gid: to_u32(
                    parse_number(&h[116..124], header_at, "gid")?,
                    header_at,
                    "gid",
                )?,
                mtime: parse_number(&h[136..148], header_at, "mtime")?,
                dev_major: to_u32(
                    parse_number(&h[329..337], header_at, "devmajor")?,
                    header_at,
                    "devmajor",
                )?,
                dev_minor: to_u32(
                    parse_number(&h[337..345], header_at, "devminor")?,
                    header_at,
                    "devminor",
                )?,
                size,
                ..RawEntry::default()
            };
            for p in [&self.global, &pax] {
                if let Some(v) = &p.path {
                    path = v.clone();
                }
                if let Some(v) = &p.link {
                    link = v.clone();
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
            e.path = path;
            e.link = link;
            // Only regular files carry data; for the others the size field is
            // informational (hard links may repeat the target's size).
            let data_len = if kind == EntryType::File { e.size } else { 0 };
            if kind != EntryType::File {
                e.size = 0;
            }
            e.data_offset = self.pos;
            self.skip_data(data_len, header_at)?;
            return Ok(Some(e));
        }
    }

    /// Reads one header block into `self.header`; false at a clean end
    /// (zero block or EOF).
    fn read_header(&mut self) -> Result<bool, TarError> {
        let h = &mut self.header;
        let n = read_full(&mut self.src, h).map_err(|e| TarError::Io {
            offset: self.pos,
            err: e,
        })?;
        if n == 0 {
            return Ok(false);
        }
        if n < 512 {
            return Err(TarError::Truncated {
                offset: self.pos,
                what: "header",
            });
        }
        if h.iter().all(|&b| b == 0) {
            self.pos += BLOCK;
            return Ok(false);
        }
        let stored = parse_number(&h[148..156], self.pos, "checksum")?;
        // The signed sum only when the unsigned one (all but old tars) fails.
        if stored != header_sum(h) && stored != header_sums(h).1 {
            return Err(TarError::Checksum { offset: self.pos });
        }
        self.pos += BLOCK;
        Ok(true)
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

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

/// The header checksum read both ways (bytes unsigned, as POSIX says, and
/// signed, as old tars wrote it), the checksum field counted as spaces.
/// Plain sums over the whole block, which the compiler vectorizes.
fn header_sums(h: &[u8; 512]) -> (i64, i64) {
    // A byte's signed value is its unsigned one less 256 when its top bit
    // is set. Two separate sums: each one vectorizes.
    let high = |b: &[u8]| b.iter().map(|&c| (c >> 7) as u32).sum::<u32>();
    let unsigned = header_sum(h);
    let signed = unsigned - 256 * (high(h) - high(&h[148..156])) as i64;
    (unsigned, signed)
}

/// The unsigned half of [`header_sums`], eight bytes at a time: each
/// 64-bit word adds its bytes into four 16-bit lanes (64 words add at most
/// 64 * 2 * 255 = 32640 to a lane, so none overflows).
fn header_sum(h: &[u8; 512]) -> i64 {
    const LANES: u64 = 0x00ff_00ff_00ff_00ff;
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
    let mut acc = 0u64;
    for w in h.chunks_exact(8) {
        let w = word(w);
        acc += (w & LANES) + ((w >> 8) & LANES);
    }
    let sum = (acc & 0xffff) + (acc >> 16 & 0xffff) + (acc >> 32 & 0xffff) + (acc >> 48);
    // The checksum field (bytes 148..156) counts as eight spaces.
    let field: u64 = h[148..156].iter().map(|&c| c as u64).sum();
    (sum - field) as i64 + 8 * 32
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

/// Parses a numeric header field: octal ASCII, or GNU base-256 when the high
/// bit of the first byte is set (0xff marks a negative number).
fn parse_number(f: &[u8], offset: u64, field: &'static str) -> Result<i64, TarError> {
    let bad = || TarError::Field { offset, field };
    if f[0] & 0x80 != 0 {
        let negative = f[0] == 0xff;
        let mut v: i128 = if negative { -1 } else { 0 };
        for (i, &b) in f.iter().enumerate() {
            let b = if i == 0 && !negative { b & 0x7f } else { b };
            v = (v << 8) | b as i128;
            if v > i64::MAX as i128 || v < i64::MIN as i128 {
                return Err(bad());
            }
        }
        return Ok(v as i64);
    }
    // Leading spaces, then octal digits up to a space, a NUL or the end;
    // what follows a space is ignored. One pass.
    let from = f.iter().position(|&c| c != b' ').unwrap_or(f.len());
    let mut v: i64 = 0;
    for &c in &f[from..] {
        if c == 0 || c == b' ' {
            break;
        }
        if !(b'0'..=b'7').contains(&c) {
            return Err(bad());
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add((c - b'0') as i64))
            .ok_or_else(bad)?;
    }
    Ok(v)
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
    fn numbers() {
        assert_eq!(parse_number(b"0000644\0", 0, "m").unwrap(), 0o644);
        assert_eq!(parse_number(b"  755 \0\0", 0, "m").unwrap(), 0o755);
        assert_eq!(parse_number(b"\0\0\0\0\0\0\0\0", 0, "m").unwrap(), 0);
        assert_eq!(
            parse_number(&[0x80, 0, 0, 0, 0, 0, 1, 0], 0, "m").unwrap(),
            256
        );
        assert_eq!(parse_number(&[0xff; 8], 0, "m").unwrap(), -1);
        assert!(parse_number(b"0009\0", 0, "m").is_err());
        assert!(parse_number(
            &[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            0,
            "m"
        )
        .is_err());
    }

    #[test]
    fn seek_source_reads_and_skips_like_the_bytes_it_wraps() {
        let data: Vec<u8> = (0..3 * SEEK_BUF + 777)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut src = SeekSource::new(std::io::Cursor::new(&data[..])).unwrap();
        let mut pos = 0usize;
        // (read, then skip): within the buffer, to its end, past it, larger
        // than it, and past the end of the data.
        let steps = [
            (512, 100),
            (512, SEEK_BUF - 1124),
            (512, SEEK_BUF),
            (SEEK_BUF + 5, 3),
            (512, 10 * SEEK_BUF),
        ];
        for (read, skip) in steps {
            let mut got = vec![0u8; read];
            let n = read_full(&mut src, &mut got).unwrap();
            let want = &data[pos.min(data.len())..(pos + read).min(data.len())];
            assert_eq!(&got[..n], want, "read of {read} at {pos}");
            pos += n;
            let skipped = src.skip(skip as u64).unwrap() as usize;
            assert_eq!(
                skipped,
                skip.min(data.len() - pos),
                "skip of {skip} at {pos}"
            );
            pos += skipped;
        }
        assert_eq!(pos, data.len());
        assert_eq!(src.read(&mut [0u8; 16]).unwrap(), 0);
    }

    #[test]
    fn header_sums_count_the_checksum_field_as_spaces() {
        // A pattern, and every byte at its largest (the most a lane holds).
        for fill in [|i: usize| (i * 97 % 256) as u8, |_| 0xff] {
            let mut h = [0u8; 512];
            for (i, b) in h.iter_mut().enumerate() {
                *b = fill(i);
            }
            let naive = |signed: bool| -> i64 {
                h.iter()
                    .enumerate()
                    .map(|(i, &b)| match (i, signed) {
                        (148..=155, _) => 32,
                        (_, true) => b as i8 as i64,
                        _ => b as i64,
                    })
                    .sum()
            };
            assert_eq!(header_sums(&h), (naive(false), naive(true)));
        }
    }

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
