//! The member table of a lazily readable layer: where each independent
//! compressed member of a pushed layer blob starts, where its bytes land in
//! the uncompressed tar, and the hash of those uncompressed bytes. One type
//! for the writer (push) and the readers (pull --lazy, on-demand reads, fsck).
//!
//! ```text
//! {"version":2, "compression":"gzip",
//!  "blob":"sha256:<compressed digest>", "blobSize":N,     the layer descriptor
//!  "diffId":"sha256:<tar digest>", "size":M,               the uncompressed tar
//!  "index":{"digest":"sha256:..","size":K},                our layer index blob
//!  "members":[[c0,u0,"<hash hex>"],[c1,u1,".."],..]}      c: compressed offset,
//!                                                          u: uncompressed offset
//! member i = blob[c_i .. c_i+1) -> tar[u_i .. u_i+1), with c_n = blobSize, u_n = size
//! ```
//!
//! The member hash is BLAKE3 in version 2 (what push writes: every member a
//! lazy read fetches is hashed before it is served, and BLAKE3 costs a
//! quarter of sha256 here, less than receiving the bytes) and sha256 in
//! version 1 (tables pushed before; still read).
//!
//! A table is bound to its image: its digest is the annotation
//! [`TABLE_ANNOTATION`] of the layer's descriptor in the manifest we push, so
//! the manifest digest covers it. [`Table::check`] refuses a table that does
//! not describe the layer it is used for.

use serde::{Deserialize, Serialize};

use crate::compress::Member;
use crate::digest::Digest;

/// Annotation of a layer descriptor: the digest of its member table.
pub const TABLE_ANNOTATION: &str = "io.sealer.lazy.table";
/// Media type of a member table blob.
pub const MEDIA_TABLE: &str = "application/vnd.sealer.lazy.table.v1+json";
/// Media type of a layer index blob (`sealer_fs::index` format).
pub const MEDIA_INDEX: &str = "application/vnd.sealer.layer.index.v1";
/// `artifactType` of the referrer that keeps the tables alive.
pub const ARTIFACT_TYPE: &str = "application/vnd.sealer.lazy.v1";
/// The largest member (compressed or not) a table may declare: bounds what
/// one member's fetch and decompression may cost.
pub const MAX_MEMBER: u64 = 16 << 20;
/// Uncompressed bytes per member of an uncompressed layer's table.
pub const PLAIN_MEMBER: u64 = 1 << 20;
/// The table version push writes: members hashed with [`member_hash`].
pub const VERSION: u32 = 2;

/// The hash a version-2 table records for a member's uncompressed bytes.
pub fn member_hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// A blob named by digest and size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRef {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// One member: (compressed offset, uncompressed offset, hex of the hash of
/// the uncompressed bytes: BLAKE3 in version 2, sha256 in version 1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry(pub u64, pub u64, pub String);

/// The member table of one layer blob.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Format version: [`VERSION`] (BLAKE3 member hashes) or 1 (sha256).
    pub version: u32,
    /// `gzip` (independent members) or `none` (slices of the tar itself).
    pub compression: String,
    /// Digest of the layer blob as the registry has it.
    pub blob: Digest,
    /// Its size.
    pub blob_size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
    /// Our index of the tar.
    pub index: BlobRef,
    /// The members, in order.
    pub members: Vec<Entry>,
}

/// Where one member lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Compressed offset in the blob.
    pub c: u64,
    /// Compressed length.
    pub c_len: u64,
    /// Offset in the tar.
    pub u: u64,
    /// Uncompressed length.
    pub u_len: u64,
}

impl Table {
    /// The table of a gzip blob written as `members`.
    pub fn of_gzip(blob: BlobRef, diff_id: Digest, index: BlobRef, members: &[Member]) -> Table {
        let (mut c, mut u) = (0, 0);
        let mut entries = Vec::with_capacity(members.len());
        for m in members {
            entries.push(Entry(c, u, hex(&m.hash)));
            c += m.compressed;
            u += m.uncompressed;
        }
        Table {
            version: VERSION,
            compression: "gzip".into(),
            blob: blob.digest,
            blob_size: blob.size,
            diff_id,
            size: u,
            index,
            members: entries,
        }
    }

    /// The table of an uncompressed blob, given the [`member_hash`] of each
    /// [`PLAIN_MEMBER`] slice.
    pub fn of_plain(diff_id: Digest, size: u64, index: BlobRef, slices: &[[u8; 32]]) -> Table {
        let members = slices
            .iter()
            .enumerate()
            .map(|(i, h)| Entry(i as u64 * PLAIN_MEMBER, i as u64 * PLAIN_MEMBER, hex(h)))
            .collect();
        Table {
            version: VERSION,
            compression: "none".into(),
            blob: diff_id,
            blob_size: size,
            diff_id,
            size,
            index,
            members,
        }
    }

    /// Whether members are gzip (else plain slices).
    pub fn gzip(&self) -> bool {
        self.compression == "gzip"
    }

    /// Checks that this table describes the layer blob `blob` (of `size`)
    /// whose tar is `diff_id`, and that its members tile both the blob and
    /// the tar; says what is wrong.
    pub fn check(&self, blob: &Digest, size: u64, diff_id: &Digest) -> Result<(), String> {
        if self.version != 1 && self.version != VERSION {
            return Err(format!("unknown table version {}", self.version));
        }
        if self.compression != "gzip" && self.compression != "none" {
            return Err(format!("unknown compression {:?}", self.compression));
        }
        if self.blob != *blob || self.blob_size != size {
            return Err(format!(
                "it describes blob {} ({} bytes), not {blob} ({size} bytes)",
                self.blob, self.blob_size
            ));
        }
        if self.diff_id != *diff_id {
            return Err(format!(
                "it describes tar {}, not the config's diff_id {diff_id}",
                self.diff_id
            ));
        }
        let Some(first) = self.members.first() else {
            return Err("it lists no members".into());
        };
        if first.0 != 0 || first.1 != 0 {
            return Err("its first member does not start at 0".into());
        }
        for i in 0..self.members.len() {
            let s = self.span(i);
            let e = &self.members[i];
            let bad_len = s.c_len == 0 && self.gzip()
                || s.c_len > MAX_MEMBER
                || s.u_len > MAX_MEMBER
                || e.0 + s.c_len > self.blob_size
                || e.1 + s.u_len > self.size;
            if bad_len
                || self
                    .members
                    .get(i + 1)
                    .is_some_and(|n| n.0 <= e.0 || n.1 < e.1)
            {
                return Err(format!("member {i} is out of order or out of bounds"));
            }
            if !self.gzip() && (e.0 != e.1 || s.c_len != s.u_len) {
                return Err(format!("member {i} of an uncompressed blob moves bytes"));
            }
            if e.2.len() != 64 || !e.2.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("member {i} has no hash"));
            }
        }
        Ok(())
    }

    /// Where member `i` lies (`i` < number of members).
    pub fn span(&self, i: usize) -> Span {
        let e = &self.members[i];
        let (c_end, u_end) = match self.members.get(i + 1) {
            Some(n) => (n.0, n.1),
            None => (self.blob_size, self.size),
        };
        Span {
            c: e.0,
            c_len: c_end.saturating_sub(e.0),
            u: e.1,
            u_len: u_end.saturating_sub(e.1),
        }
    }

    /// The member holding tar offset `offset` (< size).
    pub fn member_at(&self, offset: u64) -> usize {
        self.members
            .partition_point(|e| e.1 <= offset)
            .saturating_sub(1)
    }

    /// Whether `bytes` are the uncompressed bytes of member `i`.
    pub fn verify(&self, i: usize, bytes: &[u8]) -> bool {
        use sha2::Digest as _;
        if bytes.len() as u64 != self.span(i).u_len {
            return false;
        }
        let hash = match self.version {
            1 => sha2::Sha256::digest(bytes).into(),
            _ => member_hash(bytes),
        };
        hex(&hash) == self.members[i].2
    }
}

/// Lower-case hex of a 32-byte hash.
pub fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    fn table(parts: &[&[u8]]) -> Table {
        let members: Vec<Member> = parts
            .iter()
            .map(|p| Member {
                compressed: p.len() as u64 / 2 + 20,
                uncompressed: p.len() as u64,
                hash: member_hash(p),
            })
            .collect();
        let blob_size = members.iter().map(|m| m.compressed).sum();
        let blob = BlobRef {
            digest: Digest::of(b"blob"),
            size: blob_size,
        };
        let index = BlobRef {
            digest: Digest::of(b"index"),
            size: 3,
        };
        Table::of_gzip(blob, Digest::of(b"tar"), index, &members)
    }

    #[test]
    fn spans_and_lookup() {
        let t = table(&[&[1; 100], &[2; 50], &[3; 10]]);
        assert_eq!(t.size, 160);
        t.check(&Digest::of(b"blob"), t.blob_size, &Digest::of(b"tar"))
            .unwrap();
        assert_eq!(
            t.span(1),
            Span {
                c: 70,
                c_len: 45,
                u: 100,
                u_len: 50
            }
        );
        for (off, want) in [(0, 0), (99, 0), (100, 1), (149, 1), (150, 2), (159, 2)] {
            assert_eq!(t.member_at(off), want, "{off}");
        }
        assert!(t.verify(1, &[2; 50]));
        assert!(!t.verify(1, &[2; 49]));
        assert!(!t.verify(1, &[3; 50]));
    }

    #[test]
    fn version_1_tables_hash_members_with_sha256() {
        let mut t = table(&[&[1; 100], &[2; 50]]);
        assert_eq!(t.version, VERSION);
        t.version = 1;
        t.check(&Digest::of(b"blob"), t.blob_size, &Digest::of(b"tar"))
            .unwrap();
        assert!(!t.verify(1, &[2; 50]), "a BLAKE3 entry read as sha256");
        t.members[1].2 = hex(&sha2::Sha256::digest([2u8; 50]).into());
        assert!(t.verify(1, &[2; 50]));
        assert!(!t.verify(1, &[3; 50]));
    }

    #[test]
    fn a_table_not_of_this_layer_is_refused() {
        let t = table(&[&[1; 100], &[2; 50]]);
        let (blob, tar) = (Digest::of(b"blob"), Digest::of(b"tar"));
        let cases: Vec<(Table, &str)> = vec![
            (t.clone(), "not"),
            (
                Table {
                    version: 3,
                    ..t.clone()
                },
                "version",
            ),
            (
                Table {
                    members: vec![],
                    ..t.clone()
                },
                "no members",
            ),
            (
                Table {
                    members: vec![t.members[1].clone(), t.members[0].clone()],
                    ..t.clone()
                },
                "start at 0",
            ),
            (
                Table {
                    members: vec![t.members[0].clone(), Entry(0, 100, t.members[1].2.clone())],
                    ..t.clone()
                },
                "out of order",
            ),
            (
                Table {
                    members: vec![t.members[0].clone(), Entry(70, 100, "zz".into())],
                    ..t.clone()
                },
                "hash",
            ),
        ];
        for (i, (bad, why)) in cases.into_iter().enumerate() {
            let err = if i == 0 {
                bad.check(&Digest::of(b"other"), bad.blob_size, &tar)
            } else {
                bad.check(&blob, bad.blob_size, &tar)
            }
            .unwrap_err();
            assert!(err.contains(why), "case {i}: {err}");
        }
        assert!(t.check(&blob, t.blob_size, &Digest::of(b"x")).is_err());
        assert!(t.check(&blob, t.blob_size + 1, &tar).is_err());
    }
}
