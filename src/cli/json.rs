//! Bytes in JSON output. A path or symlink target the kernel or a tar hands
//! us is bytes, and JSON strings are Unicode: such a field is printed as a
//! string (lossy: U+FFFD for what is not UTF-8, for a person to read) and,
//! only when the bytes are not UTF-8, beside it a `<name>_bytes` field with
//! the exact bytes in standard base64, for a program to name the file.
//!
//! ```text
//! {"path": "/data/caf\u{fffd}", "path_bytes": "L2RhdGEvY2Fm6Q=="}   (/data/caf\xe9)
//! {"path": "/etc/new.conf"}                                        (UTF-8: no _bytes)
//! ```

use base64::Engine as _;
use serde_json::{Map, Value};

/// Sets `name` to `bytes` as a string and, when they are not UTF-8,
/// `<name>_bytes` to their base64.
pub fn put_bytes(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            obj.insert(name.into(), s.into());
        }
        Err(_) => {
            obj.insert(name.into(), String::from_utf8_lossy(bytes).into());
            obj.insert(
                format!("{name}_bytes"),
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            );
        }
    }
}

/// `value` (an object) with [`put_bytes`] applied: the fields first, as
/// `json!` builds them, then `name` and maybe `<name>_bytes`.
pub fn with_bytes(mut value: Value, name: &str, bytes: &[u8]) -> Value {
    if let Value::Object(obj) = &mut value {
        put_bytes(obj, name, bytes);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::with_bytes;
    use serde_json::json;

    #[test]
    fn bytes_fields_only_for_what_is_not_utf8() {
        // (bytes, the string, the base64 field)
        let cases: &[(&[u8], &str, Option<&str>)] = &[
            (b"/etc/new.conf", "/etc/new.conf", None),
            (b"/caf\xc3\xa9", "/caf\u{e9}", None),
            (
                b"/data/caf\xe9",
                "/data/caf\u{fffd}",
                Some("L2RhdGEvY2Fm6Q=="),
            ),
            (
                b"/d\xff/in\xfe",
                "/d\u{fffd}/in\u{fffd}",
                Some("L2T/L2lu/g=="),
            ),
        ];
        for (bytes, text, b64) in cases {
            let v = with_bytes(json!({"change": "A"}), "path", bytes);
            assert_eq!(v["path"], *text, "{bytes:?}");
            assert_eq!(v["path_bytes"].as_str(), *b64, "{bytes:?}");
            assert_eq!(v["change"], "A");
        }
    }
}
