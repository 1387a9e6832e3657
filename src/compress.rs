//! Layer compression as registries and archives carry it: gzip, zstd or none.
//! Media types name it, magic bytes confirm it; decoders turn a compressed
//! stream back into the uncompressed tar the store keeps, encoders make the
//! compressed form a push sends.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::lazy::table::member_hash;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// zstd, possibly several frames.
    Zstd,
}

/// OCI layer media types.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker schema 2 uncompressed layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

impl Compression {
    /// The compression a layer media type names; `None` for types that are
    /// not layers we can read (foreign or non-distributable layers, ...).
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            crate::image::oci::MEDIA_LAYER | DOCKER_LAYER => Some(Compression::None),
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(Compression::Gzip),
            OCI_LAYER_ZSTD => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// What the first bytes of a blob say it is.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The name used in flags and in the store's memo of compressed digests.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The OCI layer media type of this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => crate::image::oci::MEDIA_LAYER,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }

    /// The Docker schema 2 layer media type, if Docker has one.
    pub fn docker_media_type(self) -> Option<&'static str> {
        match self {
            Compression::None => Some(DOCKER_LAYER),
            Compression::Gzip => Some(DOCKER_LAYER_GZIP),
            Compression::Zstd => None,
        }
    }
}

/// A reader of the uncompressed bytes of `src`, compressed as `c` says.
pub fn decoder<'a>(src: impl Read + 'a, c: Compression) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(src),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 20,
            src,
        ))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(src)?),
    })
}

/// A reader of the uncompressed bytes of `src`, whose compression is found
/// from its first bytes (for archives, whose entries carry no media type).
pub fn sniffing_decoder<'a>(src: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(1 << 20, src);
    let head = buf.fill_buf()?;
    let c = Compression::sniff(head);
    decoder(buf, c)
}

/// Inflates `data`, one or more whole gzip members, into exactly `len`
/// bytes. Each member's length field is checked, its CRC-32 is not: for a
/// caller that checks a digest of the output (pull checks the diff_id),
/// the CRC costs a tenth of the pull's CPU for nothing. Inflates straight
/// from `data` into the output (no intermediate buffer, no zeroing).
pub fn gunzip_exact(data: &[u8], len: usize) -> io::Result<Vec<u8>> {
    use flate2::{Decompress, FlushDecompress, Status};
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let mut out = Vec::with_capacity(len);
    let mut rest = data;
    while !rest.is_empty() {
        let body = &rest[gzip_header_len(rest)?..];
        let start = out.len();
        let mut d = Decompress::new(false);
        loop {
            let used = d.total_in() as usize;
            let before = (used, out.len());
            let status = d
                .decompress_vec(&body[used..], &mut out, FlushDecompress::Finish)
                .map_err(|e| bad(format!("corrupt deflate data: {e}")))?;
            if status == Status::StreamEnd {
                break;
            }
            if out.len() == out.capacity() {
                return Err(bad(format!("inflates to more than {len} bytes")));
            }
            if (d.total_in() as usize, out.len()) == before {
                return Err(bad("truncated gzip member".into()));
            }
        }
        let end = d.total_in() as usize;
        let Some(trailer) = body.get(end..end + 8) else {
            return Err(bad("truncated gzip trailer".into()));
        };
        let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if isize != (out.len() - start) as u32 {
            return Err(bad(
                "a gzip member's length field disagrees with its data".into()
            ));
        }
        rest = &body[end + 8..];
    }
    if out.len() != len {
        return Err(bad(format!("inflates to {} bytes, not {len}", out.len())));
    }
    Ok(out)
}

/// The length of the gzip member header at the start of `b` (RFC 1952 2.3).
fn gzip_header_len(b: &[u8]) -> io::Result<usize> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a gzip member header");
    if b.len() < 10 || b[..3] != [0x1f, 0x8b, 8] {
        return Err(bad());
    }
    let flags = b[3];
    let mut p = 10;
    if flags & 4 != 0 {
        let x = b.get(p..p + 2).ok_or_else(bad)?;
        p += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            let field = b.get(p..).ok_or_else(bad)?;
            p += field.iter().position(|&c| c == 0).ok_or_else(bad)? + 1;
        }
    }
    if flags & 2 != 0 {
        p += 2;
    }
    if p > b.len() {
        return Err(bad());
    }
    Ok(p)
}

/// A writer compressing into `out`; call [`Encoder::finish`] to end the stream.
pub enum Encoder<W: Write> {
    /// Plain copy.
    None(W),
    /// gzip in independent members (see [`BlockGzip`]).
    Gzip(BlockGzip<W>),
    /// zstd at level 3 (zstd's default).
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Starts compressing into `out`.
    pub fn new(out: W, c: Compression) -> io::Result<Encoder<W>> {
        Ok(match c {
            Compression::None => Encoder::None(out),
            Compression::Gzip => Encoder::Gzip(BlockGzip::new(out)),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(out, 3)?),
        })
    }

    /// Ends the stream; also returns the gzip members written (gzip only).
    pub fn finish_members(self) -> io::Result<(W, Option<Vec<Member>>)> {
        match self {
            Encoder::Gzip(g) => g.finish_members().map(|(w, m)| (w, Some(m))),
            other => other.finish().map(|w| (w, None)),
        }
    }

    /// Ends the stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(g) => g.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}

/// Input bytes per gzip member.
const BLOCK: usize = 1 << 20;
/// Members compressed at once (in parallel, on rayon's pool).
const GROUP: usize = 8;

/// gzip written as a series of independent members of [`BLOCK`] input bytes
/// (RFC 1952 allows several; gzip, Go's and zlib's readers take them), so
/// members are compressed in parallel and a member whose samples do not
/// compress (the gzip blobs of container images inside a ClusterRootfs) is
/// stored instead of deflated at great cost for nothing. The output depends
/// only on the input, so a layer always gets the same compressed digest.
pub struct BlockGzip<W: Write> {
    out: W,
    pending: Vec<u8>,
    wrote: bool,
    members: Vec<Member>,
}

/// One gzip member a [`BlockGzip`] wrote: what a lazy reader needs to find
/// and check it (see `lazy::table`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its compressed length.
    pub compressed: u64,
    /// The length of what it uncompresses to.
    pub uncompressed: u64,
    /// The [`member_hash`] of what it uncompresses to.
    pub hash: [u8; 32],
}

impl<W: Write> BlockGzip<W> {
    /// Starts a stream into `out`.
    pub fn new(out: W) -> BlockGzip<W> {
        BlockGzip {
            out,
            pending: Vec::with_capacity(BLOCK * GROUP),
            wrote: false,
            members: Vec::new(),
        }
    }

    /// Compresses and writes every whole block pending (all if `all`).
    fn drain(&mut self, all: bool) -> io::Result<()> {
        use rayon::prelude::*;
        let whole = if all {
            self.pending.len()
        } else {
            self.pending.len() / BLOCK * BLOCK
        };
        if whole == 0 {
            return Ok(());
        }
        let members: Vec<(io::Result<Vec<u8>>, usize, [u8; 32])> = self.pending[..whole]
            .par_chunks(BLOCK)
            .map(|b| (gzip_member(b), b.len(), member_hash(b)))
            .collect();
        for (m, len, hash) in members {
            let m = m?;
            self.out.write_all(&m)?;
            self.wrote = true;
            self.members.push(Member {
                compressed: m.len() as u64,
                uncompressed: len as u64,
                hash,
            });
        }
        self.pending.drain(..whole);
        Ok(())
    }

    /// Ends the stream (an empty input still makes one valid member).
    pub fn finish(self) -> io::Result<W> {
        self.finish_members().map(|(w, _)| w)
    }

    /// Ends the stream; also returns the members written, in order.
    pub fn finish_members(mut self) -> io::Result<(W, Vec<Member>)> {
        self.drain(true)?;
        if !self.wrote {
            let m = gzip_member(&[])?;
            self.out.write_all(&m)?;
            self.members.push(Member {
                compressed: m.len() as u64,
                uncompressed: 0,
                hash: member_hash(&[]),
            });
        }
        self.out.flush()?;
        Ok((self.out, self.members))
    }
}

impl<W: Write> Write for BlockGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= BLOCK * GROUP {
            self.drain(false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One gzip member of `block`: deflated at the default level, or stored if
/// samples of it do not compress.
fn gzip_member(block: &[u8]) -> io::Result<Vec<u8>> {
    let level = if compressible(block) {
        flate2::Compression::default()
    } else {
        flate2::Compression::none()
    };
    let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(block.len() / 2 + 64), level);
    e.write_all(block)?;
    e.finish()
}

/// Whether 16 KiB samples from the start and the middle of `block` shrink
/// by at least 5% under fast deflate.
fn compressible(block: &[u8]) -> bool {
    const SAMPLE: usize = 16 << 10;
    if block.len() < 2 * SAMPLE {
        return true;
    }
    let mid = block.len() / 2;
    [&block[..SAMPLE], &block[mid..mid + SAMPLE]]
        .iter()
        .any(|sample| {
            let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
            let mut out = Vec::with_capacity(SAMPLE + 1024);
            match c.compress_vec(sample, &mut out, flate2::FlushCompress::Finish) {
                Ok(_) => out.len() < SAMPLE * 95 / 100,
                Err(_) => true,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sniffs() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut enc = Encoder::new(Vec::new(), c).unwrap();
            enc.write_all(&data).unwrap();
            let packed = enc.finish().unwrap();
            assert_eq!(Compression::sniff(&packed), c, "{c:?}");
            let mut back = Vec::new();
            sniffing_decoder(&packed[..])
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{c:?}");
            let media = c.oci_media_type();
            assert_eq!(Compression::from_media_type(media), Some(c));
        }
        assert_eq!(Compression::from_media_type("application/json"), None);
    }

    #[test]
    fn block_gzip_is_deterministic_multi_member_and_stores_random_blocks() {
        let mut random = Vec::with_capacity(3 * BLOCK);
        let mut x: u64 = 0x9e3779b97f4a7c15;
        while random.len() < 3 * BLOCK + 12345 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            random.extend_from_slice(&x.to_le_bytes());
        }
        let text = b"kubeadm init --config kubeadm.yaml\n".repeat(100_000);
        for data in [&random[..], &text[..], &[][..]] {
            let pack = |d: &[u8]| {
                let mut e = Encoder::new(Vec::new(), Compression::Gzip).unwrap();
                for chunk in d.chunks(77_777) {
                    e.write_all(chunk).unwrap();
                }
                e.finish().unwrap()
            };
            let packed = pack(data);
            assert_eq!(packed, pack(data), "deterministic");
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&packed[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);
            if data.len() == text.len() {
                assert!(packed.len() < data.len() / 10, "text compresses");
            } else if !data.is_empty() {
                assert!(packed.len() < data.len() + 1000, "random is stored");
            }
        }
    }

    #[test]
    fn gunzip_exact_inflates_members_and_refuses_wrong_lengths() {
        let text = b"kubeadm init --config kubeadm.yaml\n".repeat(50_000);
        let mut enc = Encoder::new(Vec::new(), Compression::Gzip).unwrap();
        enc.write_all(&text).unwrap();
        let packed = enc.finish().unwrap();
        assert_eq!(gunzip_exact(&packed, text.len()).unwrap(), text);
        assert!(gunzip_exact(&packed, text.len() - 1).is_err());
        assert!(gunzip_exact(&packed, text.len() + 1).is_err());
        assert!(gunzip_exact(&packed[..packed.len() - 3], text.len()).is_err());
        // a header with a name and a comment, as gzip(1) writes
        let mut named = flate2::GzBuilder::new()
            .filename("kubelet")
            .comment("c")
            .write(Vec::new(), flate2::Compression::fast());
        named.write_all(b"abc").unwrap();
        let named = named.finish().unwrap();
        assert_eq!(gunzip_exact(&named, 3).unwrap(), b"abc");
        assert!(gunzip_exact(b"not gzip at all", 3).is_err());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut enc = Encoder::new(Vec::new(), Compression::Gzip).unwrap();
        enc.write_all(&[7u8; 10_000]).unwrap();
        let mut packed = enc.finish().unwrap();
        let n = packed.len();
        packed[n / 2] ^= 0xff;
        packed[n - 6] ^= 0xff;
        let mut out = Vec::new();
        assert!(decoder(&packed[..], Compression::Gzip)
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
    }
}
