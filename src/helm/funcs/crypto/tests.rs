//! sprig's crypto, encoding, date, path and URL functions, case by case
//! (exact values where Helm's are deterministic, shapes where random).

use crate::gotmpl::format::sprint_value;
use crate::gotmpl::{Map, Value};

use crate::helm::funcs::convert::tests::{i, s, PrintedCase as Case};

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    crate::helm::funcs::convert::tests::call(super::register, name, args)
}

fn check(cases: Vec<Case>) {
    crate::helm::funcs::convert::tests::check_printed(super::register, cases)
}

#[test]
fn hashes_and_encodings() {
    check(vec![
        ("hello", vec![], Ok("Hello!")),
        (
            "sha1sum",
            vec![s("abc")],
            Ok("a9993e364706816aba3e25717850c26c9cd0d89d"),
        ),
        (
            "sha1sum",
            vec![s("")],
            Ok("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ),
        (
            "sha256sum",
            vec![s("abc")],
            Ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ),
        ("adler32sum", vec![s("Wikipedia")], Ok("300286872")),
        ("b64enc", vec![s("hello")], Ok("aGVsbG8=")),
        ("b64dec", vec![s("aGVsbG8=")], Ok("hello")),
        ("b64dec", vec![s("aGVs\nbG8=")], Ok("hello")),
        (
            "b64dec",
            vec![s("aGVsbG8")],
            Ok("illegal base64 data at input byte 4"),
        ),
        (
            "b64dec",
            vec![s("a!")],
            Ok("illegal base64 data at input byte 1"),
        ),
        (
            "b64dec",
            vec![s("aGVsbA==x")],
            Ok("illegal base64 data at input byte 8"),
        ),
        ("b32enc", vec![s("hello")], Ok("NBSWY3DP")),
        ("b32enc", vec![s("hi")], Ok("NBUQ====")),
        ("b32dec", vec![s("NBSWY3DP")], Ok("hello")),
        ("b32dec", vec![s("NBUQ====")], Ok("hi")),
        (
            "b32dec",
            vec![s("NBU1")],
            Ok("illegal base32 data at input byte 3"),
        ),
        ("genPrivateKey", vec![s("foo")], Ok("Unknown type foo")),
        (
            "decryptAES",
            vec![s("k"), s("x")],
            Err("decryptAES is not supported by sealer's Helm renderer"),
        ),
    ]);
}

#[test]
fn random_values_have_the_right_shape() {
    let uuid = call("uuidv4", &[])
        .map(|v| sprint_value(&v))
        .unwrap_or_default();
    let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "{uuid}");
    assert_eq!(uuid.as_bytes()[14], b'4', "{uuid}");
    assert!(
        matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
        "{uuid}"
    );
    let key = call("genPrivateKey", &[s("ecdsa")])
        .map(|v| sprint_value(&v))
        .unwrap_or_default();
    assert!(
        key.starts_with("-----BEGIN EC PRIVATE KEY-----\n")
            && key.ends_with("-----END EC PRIVATE KEY-----\n")
    );
    let ca = call("genCA", &[s("x"), i(365)]).unwrap_or_default();
    let cert = ca.get("Cert");
    let Value::Object(o) = &ca else {
        panic!("genCA gave {ca:?}")
    };
    let cert_field = o
        .member("Cert", &[])
        .and_then(Result::ok)
        .map(|v| sprint_value(&v));
    assert!(cert_field
        .unwrap_or_default()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(cert.is_nil());
    let bytes = call("randBytes", &[i(12)])
        .map(|v| sprint_value(&v))
        .unwrap_or_default();
    assert_eq!(bytes.len(), 16);
}

#[test]
fn dates() {
    let t = call("toDate", &[s("2006-01-02 15:04"), s("2024-02-29 13:05")]).unwrap_or_default();
    check(vec![
        ("date", vec![s("2006-01-02"), i(0)], Ok("1970-01-01")),
        (
            "date",
            vec![s("Mon Jan _2 15:04:05 MST 2006"), i(1700000000)],
            Ok("Tue Nov 14 22:13:20 UTC 2023"),
        ),
        (
            "date",
            vec![s("3:04PM 01/02/06 .000 Z07:00 -0700"), i(1700000000)],
            Ok("10:13PM 11/14/23 .000 Z +0000"),
        ),
        (
            "date",
            vec![s("January 2, 2006 002 Monday"), t.clone()],
            Ok("February 29, 2024 060 Thursday"),
        ),
        ("htmlDate", vec![i(86400)], Ok("1970-01-02")),
        ("unixEpoch", vec![t.clone()], Ok("1709211900")),
        (
            "unixEpoch",
            vec![s("x")],
            Err("wrong type for value; expected time.Time; got string"),
        ),
        (
            "dateModify",
            vec![s("-1.5h"), t.clone()],
            Ok("2024-02-29 11:35:00 +0000 UTC"),
        ),
        (
            "dateModify",
            vec![s("bad"), t.clone()],
            Ok("2024-02-29 13:05:00 +0000 UTC"),
        ),
        (
            "mustDateModify",
            vec![s("bad"), t.clone()],
            Err("time: invalid duration \"bad\""),
        ),
        (
            "mustDateModify",
            vec![s("1"), t.clone()],
            Err("time: missing unit in duration \"1\""),
        ),
        (
            "toDate",
            vec![s("2006-01-02"), s("nope")],
            Ok("0001-01-01 00:00:00 +0000 UTC"),
        ),
        (
            "mustToDate",
            vec![s("2006-01-02"), s("2024-13-01")],
            Err("parsing time \"2024-13-01\": month out of range"),
        ),
        (
            "mustToDate",
            vec![s("2006-01-02"), s("x")],
            Err("parsing time \"x\" as \"2006-01-02\": cannot parse \"x\" as \"2006\""),
        ),
        (
            "mustToDate",
            vec![
                s("2006-01-02T15:04:05Z07:00"),
                s("2024-01-01T10:00:00+02:00"),
            ],
            Ok("2024-01-01 08:00:00 +0000 UTC"),
        ),
        ("duration", vec![s("95")], Ok("1m35s")),
        ("duration", vec![i(3600)], Ok("1h0m0s")),
        ("duration", vec![Value::Float(5.0)], Ok("0s")),
        ("durationRound", vec![s("2h10m")], Ok("2h")),
        ("durationRound", vec![s("-50h")], Ok("2d")),
        ("durationRound", vec![i(1)], Ok("0s")),
    ]);
    assert_eq!(super::dates::duration_string(1_500_000), "1.5ms");
    assert_eq!(super::dates::duration_string(-1_500_000_000), "-1.5s");
    assert_eq!(super::dates::duration_string(999), "999ns");
    let now = call("now", &[])
        .map(|v| sprint_value(&v))
        .unwrap_or_default();
    assert!(now.contains(" +0000 UTC m=+"), "{now}");
}

#[test]
fn paths_and_urls() {
    check(vec![
        ("base", vec![s("/a/b/")], Ok("b")),
        ("base", vec![s("")], Ok(".")),
        ("osBase", vec![s("///")], Ok("/")),
        ("dir", vec![s("/a/b/c")], Ok("/a/b")),
        ("osDir", vec![s("c")], Ok(".")),
        ("clean", vec![s("a//b/../c/.")], Ok("a/c")),
        ("osClean", vec![s("/../a")], Ok("/a")),
        ("clean", vec![s("../../a/..")], Ok("../..")),
        ("ext", vec![s("a/b.tar.gz")], Ok(".gz")),
        ("osExt", vec![s("a.b/c")], Ok("")),
        ("isAbs", vec![s("/x")], Ok("true")),
        ("osIsAbs", vec![s("x")], Ok("false")),
        ("urlParse", vec![s("https://u:p@host.io:8080/a%20b?x=1#frag")], Ok("map[fragment:frag host:host.io:8080 hostname:host.io opaque: path:/a b query:x=1 scheme:https userinfo:u:p]")),
        ("urlParse", vec![s("mailto:a@b.c")], Ok("map[fragment: host: hostname: opaque:a@b.c path: query: scheme:mailto userinfo:]")),
    ]);
    let mut m = Map::new();
    for (k, v) in [
        ("scheme", "https"),
        ("host", "h.io"),
        ("path", "/a b"),
        ("query", "x=1"),
        ("userinfo", "u:p"),
    ] {
        m.insert(k.into(), s(v));
    }
    check(vec![(
        "urlJoin",
        vec![Value::from(m)],
        Ok("https://u:p@h.io/a%20b?x=1"),
    )]);
}
