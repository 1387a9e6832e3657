//! sprig's crypto, encoding, UUID and random functions, and (in the
//! submodules) its date, path and URL functions. Keys and certificates are
//! random in Helm, so only their shape is kept: PEM blocks of random bytes
//! that never fail. What needs bcrypt or AES decryption is refused with an
//! error instead of giving a wrong value; `derivePassword` is exact.

mod dates;
mod password;
mod paths;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::rc::Rc;

use base64::Engine;
use sha2::Digest;

use super::strings::{arity, int_arg, str_arg};
use crate::gotmpl::{Func, FuncMap, Host, Map, Object, Value};

/// `n` random bytes from the kernel (`/dev/urandom`), or from std's
/// randomly keyed hasher if that cannot be read.
pub(super) fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_err() {
        use std::hash::{BuildHasher, Hasher};
        let state = std::collections::hash_map::RandomState::new();
        for (i, chunk) in buf.chunks_mut(8).enumerate() {
            let mut h = state.build_hasher();
            h.write_usize(i);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            h.write_u128(nanos);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    buf
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-1 (FIPS 180-4), for `sha1sum`.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Adler-32 (RFC 1950).
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for x in chunk {
            a += u32::from(*x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// Go's base64.StdEncoding.DecodeString (newlines skipped, padding
/// required), with Go's `illegal base64 data at input byte N`.
fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let bad = |n: usize| format!("illegal base64 data at input byte {n}");
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let mut si = 0;
    while si < src.len() {
        let (mut q, mut j) = ([0u8; 4], 0usize);
        let mut dlen = 4;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(bad(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = val(c) {
                q[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(bad(si - 1));
            }
            if j == 2 {
                while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                    si += 1;
                }
                if si == src.len() {
                    return Err(bad(src.len()));
                }
                if src[si] != b'=' {
                    return Err(bad(si - 1));
                }
                si += 1;
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                return Err(bad(si));
            }
            dlen = j;
            break;
        }
        let v =
            u32::from(q[0]) << 18 | u32::from(q[1]) << 12 | u32::from(q[2]) << 6 | u32::from(q[3]);
        out.extend_from_slice(&v.to_be_bytes()[1..dlen]);
    }
    Ok(out)
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's base32.StdEncoding.EncodeToString.
fn b32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let v = block.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((v >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's base32.StdEncoding.DecodeString, with Go's error offsets.
fn b32_decode(s: &str) -> Result<Vec<u8>, String> {
    let src: Vec<u8> = s.bytes().filter(|c| *c != b'\n' && *c != b'\r').collect();
    let bad = |n: usize| format!("illegal base32 data at input byte {n}");
    let olen = src.len();
    let mut rest = &src[..];
    let mut out = Vec::new();
    let mut end = false;
    while !rest.is_empty() && !end {
        let (mut q, mut dlen, mut j) = ([0u8; 8], 8usize, 0usize);
        while j < 8 {
            let Some((&c, tail)) = rest.split_first() else {
                return Err(bad(olen - rest.len() - j));
            };
            rest = tail;
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(bad(olen));
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(bad(olen - rest.len() + k - 1));
                    }
                }
                (dlen, end) = (j, true);
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(bad(olen - rest.len() - 1));
                }
                break;
            }
            q[j] = B32
                .iter()
                .position(|x| *x == c)
                .ok_or_else(|| bad(olen - rest.len() - 1))? as u8;
            j += 1;
        }
        let v = q.iter().fold(0u64, |acc, x| acc << 5 | u64::from(*x));
        let n = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&v.to_be_bytes()[3..3 + n]);
    }
    Ok(out)
}

/// A Go `string(bytes)` as text.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn one_str(name: &str, a: &[Value]) -> Result<String, String> {
    arity(name, a, 1)?;
    Ok(str_arg(&a[0]))
}

fn text(s: impl Into<String>) -> Result<Value, String> {
    Ok(Value::from(s.into()))
}

/// A PEM block of `len` random bytes, as encoding/pem writes it.
fn pem_block(kind: &str, len: usize) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(random_bytes(len));
    let mut out = format!("-----BEGIN {kind}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// sprig's `certificate{Cert, Key}`.
struct Certificate {
    cert: String,
    key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }
    fn kind(&self) -> &str {
        "struct"
    }
    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = match name {
            "Cert" => &self.cert,
            "Key" => &self.key,
            _ => return None,
        };
        if !args.is_empty() {
            return Some(Err(format!(
                "{name} has arguments but cannot be invoked as function"
            )));
        }
        Some(Ok(Value::from(v.as_str())))
    }
    fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("Cert".into(), Value::from(self.cert.as_str()));
        m.insert("Key".into(), Value::from(self.key.as_str()));
        Value::from(m)
    }
    fn print(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }
}

/// A certificate of the right shape; `key` is the given PEM key, if any.
fn certificate(key: Option<String>) -> Value {
    let key = key.unwrap_or_else(|| pem_block("RSA PRIVATE KEY", 1192));
    Value::Object(Rc::new(Certificate {
        cert: pem_block("CERTIFICATE", 1100),
        key,
    }))
}

/// genCA, genSelfSignedCert, genSignedCert and their WithKey forms: the
/// arity, then a random certificate (with the given key for WithKey).
fn gen_cert(name: &str, a: &[Value], n: usize, with_key: bool) -> Result<Value, String> {
    arity(name, a, n)?;
    let key = with_key.then(|| str_arg(&a[n - 1]));
    Ok(certificate(key))
}

fn gen_private_key(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    let typ = one_str("genPrivateKey", a)?;
    text(match typ.as_str() {
        "" | "rsa" => pem_block("RSA PRIVATE KEY", 2349),
        "dsa" => pem_block("DSA PRIVATE KEY", 862),
        "ecdsa" => pem_block("EC PRIVATE KEY", 121),
        "ed25519" => pem_block("PRIVATE KEY", 48),
        other => format!("Unknown type {other}"),
    })
}

/// buildCustomCert: the base64 inputs decoded and checked to hold PEM
/// blocks (Go also parses the certificate and the PKCS#1 key; not done).
fn build_custom_cert(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("buildCustomCert", a, 2)?;
    let cert = b64_decode(&str_arg(&a[0])).map_err(|_| "unable to decode base64 certificate")?;
    let key = b64_decode(&str_arg(&a[1])).map_err(|_| "unable to decode base64 private key")?;
    let (cert, key) = (lossy(&cert), lossy(&key));
    if !cert.contains("-----BEGIN ") {
        return Err("unable to decode certificate".into());
    }
    if !key.contains("-----BEGIN ") {
        return Err("unable to decode key".into());
    }
    Ok(Value::Object(Rc::new(Certificate { cert, key })))
}

/// encryptAES: Helm's output is random (a random IV), so a random
/// ciphertext of the right length is given.
fn encrypt_aes(_: &mut dyn Host, a: &[Value]) -> Result<Value, String> {
    arity("encryptAES", a, 2)?;
    let plain = str_arg(&a[1]);
    if plain.is_empty() {
        return text("");
    }
    let padded = (plain.len() / 16 + 1) * 16;
    text(base64::engine::general_purpose::STANDARD.encode(random_bytes(16 + padded)))
}

/// A v4 UUID in Go's (google/uuid) layout.
fn uuidv4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A bcrypt hash's shape (`$2a$10$` + 53 characters of bcrypt's base64):
/// bcrypt salts at random, so Helm's output differs on every render anyway,
/// and only images are read from what we render.
fn bcrypt_shaped() -> String {
    const ALPHABET: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let body: String = random_bytes(53)
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("$2a$10${body}")
}

fn unsupported(name: &str) -> String {
    format!("{name} is not supported by sealer's Helm renderer")
}

pub(super) fn register(m: &mut FuncMap) {
    let table: &[(&'static str, Func)] = &[
        ("hello", |_, a| {
            arity("hello", a, 0)?;
            text("Hello!")
        }),
        ("sha1sum", |_, a| {
            text(hex(&sha1(one_str("sha1sum", a)?.as_bytes())))
        }),
        ("sha256sum", |_, a| {
            text(hex(&sha2::Sha256::digest(
                one_str("sha256sum", a)?.as_bytes(),
            )))
        }),
        ("adler32sum", |_, a| {
            text(adler32(one_str("adler32sum", a)?.as_bytes()).to_string())
        }),
        ("b64enc", |_, a| {
            text(base64::engine::general_purpose::STANDARD.encode(one_str("b64enc", a)?))
        }),
        ("b64dec", |_, a| {
            text(b64_decode(&one_str("b64dec", a)?).map_or_else(|e| e, |b| lossy(&b)))
        }),
        ("b32enc", |_, a| {
            text(b32_encode(one_str("b32enc", a)?.as_bytes()))
        }),
        ("b32dec", |_, a| {
            text(b32_decode(&one_str("b32dec", a)?).map_or_else(|e| e, |b| lossy(&b)))
        }),
        ("uuidv4", |_, a| {
            arity("uuidv4", a, 0)?;
            text(uuidv4())
        }),
        ("randBytes", |_, a| {
            arity("randBytes", a, 1)?;
            let n = int_arg(&a[0]);
            if !(0..=64 << 20).contains(&n) {
                return Err("runtime error: makeslice: len out of range".into());
            }
            text(base64::engine::general_purpose::STANDARD.encode(random_bytes(n as usize)))
        }),
        ("genPrivateKey", gen_private_key),
        ("genCA", |_, a| gen_cert("genCA", a, 2, false)),
        ("genCAWithKey", |_, a| gen_cert("genCAWithKey", a, 3, true)),
        ("genSelfSignedCert", |_, a| {
            gen_cert("genSelfSignedCert", a, 4, false)
        }),
        ("genSelfSignedCertWithKey", |_, a| {
            gen_cert("genSelfSignedCertWithKey", a, 5, true)
        }),
        ("genSignedCert", |_, a| {
            gen_cert("genSignedCert", a, 5, false)
        }),
        ("genSignedCertWithKey", |_, a| {
            gen_cert("genSignedCertWithKey", a, 6, true)
        }),
        ("buildCustomCert", build_custom_cert),
        ("encryptAES", encrypt_aes),
        ("decryptAES", |_, _| Err(unsupported("decryptAES"))),
        ("bcrypt", |_, a| {
            super::convert::arity("bcrypt", a, 1)?;
            Ok(Value::from(bcrypt_shaped()))
        }),
        ("htpasswd", |_, a| {
            super::convert::arity("htpasswd", a, 2)?;
            let user = super::cast::strval(&a[0]);
            Ok(Value::from(format!("{user}:{}", bcrypt_shaped())))
        }),
        ("derivePassword", password::derive_password_fn),
    ];
    m.extend(table.iter().copied());
    dates::register(m);
    paths::register(m);
}
