//! Keys in cosign's format: ECDSA P-256, the private key as PKCS#8 sealed
//! by go-tuf's `encrypted` package (what `cosign generate-key-pair` writes),
//! the public key as PKIX.
//!
//! ```text
//! NAME.key  -----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----   (or ENCRYPTED SIGSTORE PRIVATE KEY)
//!           base64 of the JSON envelope:
//!           {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":B64(32 bytes)},
//!            "cipher":{"name":"nacl/secretbox","nonce":B64(24 bytes)},
//!            "ciphertext":B64(secretbox(PKCS#8 DER, key = scrypt(passphrase, salt)))}
//! NAME.pub  -----BEGIN PUBLIC KEY-----  PKIX SubjectPublicKeyInfo DER
//! ```
//!
//! Base64 is the standard alphabet with padding, as Go encodes `[]byte`.

use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::{self, LineEnding};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};

use super::SignError;

/// PEM label of a private key written by `cosign generate-key-pair` (and by us).
pub const COSIGN_PRIVATE: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// PEM label of newer sigstore tools' private keys (same envelope).
pub const SIGSTORE_PRIVATE: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label of the public key.
pub const PUBLIC: &str = "PUBLIC KEY";

const SCRYPT_LOG_N: u8 = 15; // N = 32768, as go-tuf's encrypted.Encrypt
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The sealed private key (go-tuf `encrypted` JSON).
#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// A private key, able to sign.
pub struct PrivateKey(SigningKey);

/// A public key, able to verify.
#[derive(Clone)]
pub struct PublicKey(VerifyingKey);

/// A new key pair as the two PEM files: (private sealed with `passphrase`, public).
pub fn generate(passphrase: &[u8]) -> Result<(String, String), SignError> {
    let mut seed = [0u8; 32];
    // Rejection sampling: a random 32-byte string is a valid scalar but for
    // a negligible fraction of values.
    let key = loop {
        random(&mut seed)?;
        if let Ok(k) = SigningKey::from_slice(&seed) {
            break k;
        }
    };
    let private = PrivateKey(key);
    let public = private.public();
    Ok((private.to_pem(passphrase)?, public.to_pem()?))
}

fn random(buf: &mut [u8]) -> Result<(), SignError> {
    getrandom::getrandom(buf).map_err(|e| SignError::Key(format!("no randomness: {e}")))
}

fn scrypt_key(
    passphrase: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<[u8; 32], SignError> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| SignError::Key(format!("bad scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, salt, &params, &mut key)
        .map_err(|e| SignError::Key(format!("scrypt: {e}")))?;
    Ok(key)
}

impl PrivateKey {
    /// Opens a sealed private key PEM (`ENCRYPTED COSIGN PRIVATE KEY` or
    /// `ENCRYPTED SIGSTORE PRIVATE KEY`) with `passphrase`.
    pub fn from_pem(text: &[u8], passphrase: &[u8]) -> Result<PrivateKey, SignError> {
        let (label, der) = pem::decode_vec(text)
            .map_err(|e| SignError::Key(format!("not a PEM private key ({e})")))?;
        if label != COSIGN_PRIVATE && label != SIGSTORE_PRIVATE {
            return Err(SignError::Key(format!(
                "a PEM {label:?}, not an {COSIGN_PRIVATE:?} (make one with `sealer generate-key-pair`)"
            )));
        }
        let env: Envelope = serde_json::from_slice(&der)
            .map_err(|e| SignError::Key(format!("not a cosign key envelope: {e}")))?;
        if env.kdf.name != "scrypt" || env.cipher.name != "nacl/secretbox" {
            return Err(SignError::Key(format!(
                "unsupported key sealing {} + {}",
                env.kdf.name, env.cipher.name
            )));
        }
        let p = &env.kdf.params;
        if !p.n.is_power_of_two()
            || p.n < 2
            || p.n > 1 << 20
            || p.r == 0
            || p.r > 32
            || p.p == 0
            || p.p > 16
        {
            return Err(SignError::Key("unsupported scrypt parameters".into()));
        }
        if env.cipher.nonce.len() != NONCE_LEN {
            return Err(SignError::Key("bad secretbox nonce".into()));
        }
        let key = scrypt_key(
            passphrase,
            &env.kdf.salt,
            p.n.trailing_zeros() as u8,
            p.r,
            p.p,
        )?;
        let plain = XSalsa20Poly1305::new(&key.into())
            .decrypt(
                env.cipher.nonce.as_slice().into(),
                env.ciphertext.as_slice(),
            )
            .map_err(|_| SignError::Passphrase)?;
        let key = SigningKey::from_pkcs8_der(&plain)
            .map_err(|e| SignError::Key(format!("not an ECDSA P-256 PKCS#8 key: {e}")))?;
        Ok(PrivateKey(key))
    }

    /// The sealed PEM of this key.
    pub fn to_pem(&self, passphrase: &[u8]) -> Result<String, SignError> {
        let der = self
            .0
            .to_pkcs8_der()
            .map_err(|e| SignError::Key(format!("encoding PKCS#8: {e}")))?;
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut salt)?;
        random(&mut nonce)?;
        let key = scrypt_key(passphrase, &salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)?;
        let ciphertext = XSalsa20Poly1305::new(&key.into())
            .encrypt(&nonce.into(), der.as_bytes())
            .map_err(|_| SignError::Key("sealing the key failed".into()))?;
        let env = Envelope {
            kdf: Kdf {
                name: "scrypt".into(),
                params: KdfParams {
                    n: 1 << SCRYPT_LOG_N,
                    r: SCRYPT_R,
                    p: SCRYPT_P,
                },
                salt: salt.to_vec(),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: nonce.to_vec(),
            },
            ciphertext,
        };
        let json = serde_json::to_vec(&env).map_err(|e| SignError::Key(e.to_string()))?;
        pem::encode_string(COSIGN_PRIVATE, LineEnding::LF, &json)
            .map_err(|e| SignError::Key(format!("encoding PEM: {e}")))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }

    /// The base64 of the ASN.1 DER ECDSA signature over SHA-256 of `payload`,
    /// as cosign puts it in `dev.cosignproject.cosign/signature`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let sig: Signature = self.0.sign(payload);
        let der: DerSignature = sig.to_der();
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
    }
}

impl PublicKey {
    /// Reads a PKIX `PUBLIC KEY` PEM holding an ECDSA P-256 key.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, SignError> {
        let text = std::str::from_utf8(text)
            .map_err(|_| SignError::Key("not a PEM public key (not text)".into()))?;
        let (label, _) = pem::decode_vec(text.as_bytes())
            .map_err(|e| SignError::Key(format!("not a PEM public key ({e})")))?;
        if label != PUBLIC {
            return Err(SignError::Key(format!(
                "a PEM {label:?}, not a {PUBLIC:?} (give the .pub file)"
            )));
        }
        VerifyingKey::from_public_key_pem(text)
            .map(PublicKey)
            .map_err(|e| SignError::Key(format!("not an ECDSA P-256 public key: {e}")))
    }

    /// The PEM.
    pub fn to_pem(&self) -> Result<String, SignError> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SignError::Key(format!("encoding the public key: {e}")))
    }

    /// Whether `b64_sig` (base64 of an ASN.1 DER, or raw r||s, ECDSA
    /// signature) is this key's signature of `payload`.
    pub fn verifies(&self, payload: &[u8], b64_sig: &str) -> bool {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64_sig.trim()) else {
            return false;
        };
        let sig = match Signature::from_der(&raw) {
            Ok(s) => s,
            Err(_) => match Signature::from_slice(&raw) {
                Ok(s) => s,
                Err(_) => return false,
            },
        };
        self.0.verify(payload, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let (private, public) = generate(b"secret").unwrap();
        assert!(private.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        let key = PrivateKey::from_pem(private.as_bytes(), b"secret").unwrap();
        let public = PublicKey::from_pem(public.as_bytes()).unwrap();
        let sig = key.sign(b"payload");
        assert!(public.verifies(b"payload", &sig));
        assert!(!public.verifies(b"payloaD", &sig));
        assert!(matches!(
            PrivateKey::from_pem(private.as_bytes(), b"wrong"),
            Err(SignError::Passphrase)
        ));
    }

    #[test]
    fn cosign_key_opens() {
        // Made by cosignkey (go-tuf encrypted + x509), see tests/data/sign/README.md.
        let private = include_bytes!("../../tests/data/sign/cosignkey.key");
        let public = include_bytes!("../../tests/data/sign/cosignkey.pub");
        let key = PrivateKey::from_pem(private, b"peer-pass").unwrap();
        let public = PublicKey::from_pem(public).unwrap();
        assert_eq!(key.public().to_pem().unwrap(), public.to_pem().unwrap());
    }

    #[test]
    fn foreign_pem_is_refused() {
        let e = PrivateKey::from_pem(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            b"",
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("not an"), "{e}");
        assert!(PublicKey::from_pem(b"garbage").is_err());
    }
}
