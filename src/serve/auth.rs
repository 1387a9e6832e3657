//! Basic auth against an htpasswd file, as docker-registry's `htpasswd`
//! access controller does it: `user:hash` lines whose hashes are bcrypt
//! (`$2y$`, `$2a$`, `$2b$`, as `htpasswd -B` writes them; other lines are
//! skipped with a warning), checked with the `bcrypt` crate. A bcrypt check
//! costs milliseconds by design and clients send credentials on every
//! request, so a successful check is remembered (by a sha256 of user and
//! password, never the password itself).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;

use crate::digest::Digest;
use crate::error::{invalid, IoContext, Result};

/// Credentials remembered at most (then the memory starts over).
const MAX_REMEMBERED: usize = 1024;

/// The users of an htpasswd file.
pub struct Htpasswd {
    users: HashMap<String, String>,
    passed: Mutex<HashSet<Digest>>,
}

impl Htpasswd {
    /// Reads an htpasswd file.
    pub fn load(path: &Path) -> Result<Htpasswd> {
        let text = std::fs::read_to_string(path).at(path)?;
        let users = parse(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        Ok(Htpasswd {
            users,
            passed: Mutex::new(HashSet::new()),
        })
    }

    /// The user an `Authorization` header authenticates, if it does.
    pub fn check(&self, authorization: Option<&str>) -> Option<String> {
        let (user, password) = basic(authorization?)?;
        let hash = self.users.get(&user)?;
        let key = Digest::of(format!("{}\0{user}\0{password}", hash).as_bytes());
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        if passed.contains(&key) {
            return Some(user);
        }
        drop(passed);
        if !bcrypt::verify(&password, hash).unwrap_or(false) {
            return None;
        }
        passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        if passed.len() >= MAX_REMEMBERED {
            passed.clear();
        }
        passed.insert(key);
        Some(user)
    }
}

/// `user:hash` lines; blank lines and `#` comments are skipped, as are
/// hashes other than bcrypt (with a warning). No user at all is an error.
fn parse(text: &str) -> std::result::Result<HashMap<String, String>, String> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("line {}: not `user:hash`", i + 1));
        };
        if !["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
            log::warn!(
                "htpasswd line {}: user {user:?} skipped: only bcrypt hashes are supported (htpasswd -B)",
                i + 1
            );
            continue;
        }
        users.insert(user.to_string(), hash.to_string());
    }
    if users.is_empty() {
        return Err(
            "no user with a bcrypt hash (make one with `htpasswd -Bbn USER PASSWORD`)".into(),
        );
    }
    Ok(users)
}

/// User and password of a `Basic` authorization header.
fn basic(header: &str) -> Option<(String, String)> {
    let (scheme, b64) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn bcrypt_variants_and_bad_credentials() {
        let hash = bcrypt::hash_with_result("s3cret", 4).expect("a hash");
        let y = hash.format_for_version(bcrypt::Version::TwoY);
        let a = hash.format_for_version(bcrypt::Version::TwoA);
        let b = hash.format_for_version(bcrypt::Version::TwoB);
        let text = format!("# users\nyv:{y}\nav:{a}\n\nbv:{b}\nmd5:$apr1$x$y\n");
        let users = parse(&text).expect("parsed");
        assert_eq!(users.len(), 3);
        let h = Htpasswd {
            users,
            passed: Mutex::new(HashSet::new()),
        };
        for u in ["yv", "av", "bv"] {
            assert_eq!(h.check(Some(&header(u, "s3cret"))), Some(u.to_string()));
            // Remembered the second time.
            assert_eq!(h.check(Some(&header(u, "s3cret"))), Some(u.to_string()));
            assert_eq!(h.check(Some(&header(u, "wrong"))), None);
        }
        for bad in [
            None,
            Some("Bearer x"),
            Some("Basic !!!"),
            Some(header("md5", "x").as_str()),
            Some(header("nobody", "s3cret").as_str()),
        ] {
            assert_eq!(h.check(bad), None, "{bad:?}");
        }
        assert!(parse("md5:$apr1$x$y\n").is_err());
        assert!(parse("no colon\n").is_err());
    }
}
