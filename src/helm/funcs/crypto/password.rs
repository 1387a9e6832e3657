//! sprig's `derivePassword`: the Master Password algorithm (Lyndir's,
//! v3 templates) as sprig v3.2 computes it.
//!
//! ```text
//! key  = scrypt(password, SEED ‖ be32(len user) ‖ user, N=32768 r=8 p=2, 64 bytes)
//! seed = HMAC-SHA256(key, SEED ‖ be32(len site) ‖ site ‖ be32(counter))
//! template = TEMPLATES[type][seed[0] % n];  char i = CLASS[template[i]][seed[i+1] % len]
//! ```

use sha2::{Digest, Sha256};

use super::super::convert::{arity, want_str, wrong_type};
use crate::gotmpl::{Host, Value};

const SEED: &[u8] = b"com.lyndir.masterpassword";

/// The templates of each password type.
fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// The characters a template letter stands for.
fn class(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| k.map(|b| b ^ x);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `SEED ‖ be32(len s) ‖ s`.
fn scoped(s: &str) -> Vec<u8> {
    let mut out = SEED.to_vec();
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

/// The password, or sprig's text when the type is unknown.
pub fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(temps) = templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut key = [0u8; 64];
    let derived = scrypt::Params::new(15, 8, 2, 64)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            scrypt::scrypt(password.as_bytes(), &scoped(user), &p, &mut key)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let mut msg = scoped(site);
    msg.extend_from_slice(&counter.to_be_bytes());
    let seed = hmac_sha256(&key, &msg);
    let temp = temps[usize::from(seed[0]) % temps.len()];
    temp.bytes()
        .zip(&seed[1..])
        .map(|(c, s)| {
            let chars = class(c);
            char::from(chars[usize::from(*s) % chars.len()])
        })
        .collect()
}

/// `derivePassword COUNTER TYPE PASSWORD USER SITE` (COUNTER a uint32).
pub(super) fn derive_password_fn(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("derivePassword", args, 5)?;
    let counter = match &args[0] {
        Value::Int(i) => u32::try_from(*i).map_err(|_| format!("{i} overflows uint32"))?,
        v => return Err(wrong_type("uint32", v)),
    };
    let s = |i: usize| want_str(&args[i]);
    Ok(Value::from(derive_password(
        counter,
        s(1)?,
        s(2)?,
        s(3)?,
        s(4)?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn passwords_as_sprig_derives_them() {
        // features/lookup-random, rendered by Helm 3.9.4.
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
        assert_eq!(
            derive_password(1, "nope", "p", "u", "s"),
            "cannot find password template nope"
        );
    }
}
