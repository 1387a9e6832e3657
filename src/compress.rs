//! Layer compression as registries and archives carry it: gzip, zstd or none.
//! Media types name it, magic bytes confirm it; decoders turn a compressed
//! stream back into the uncompressed tar the store keeps, encoders make the
//! compressed form a push sends.

use std::io::{self, BufRead, BufReader, Read, Write};

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

/// A writer compressing into `out`; call [`Encoder::finish`] to end the stream.
pub enum Encoder<W: Write> {
    /// Plain copy.
    None(W),
    /// gzip at the default level.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd at level 3 (zstd's default).
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Starts compressing into `out`.
    pub fn new(out: W, c: Compression) -> io::Result<Encoder<W>> {
        Ok(match c {
            Compression::None => Encoder::None(out),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(out, 3)?),
        })
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
