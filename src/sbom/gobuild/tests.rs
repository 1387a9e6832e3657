//! Build info of synthetic ELF files in both layouts Go has written.

use super::{parse_modinfo, read, Module};

const START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

const MODINFO: &str = "path\texample.com/cmd/tool\n\
mod\texample.com\tv1.2.3\th1:abc=\n\
dep\tgolang.org/x/sys\tv0.1.0\th1:def=\n\
dep\tk8s.io/api\tv0.28.0\n\
=>\tk8s.io/api\tv0.28.1\th1:ghi=\n\
build\t-compiler=gc\n";

fn wrapped() -> Vec<u8> {
    [START, MODINFO.as_bytes(), END].concat()
}

/// An ELF64 little-endian file: header, then the sections' data, then the
/// section headers (null, .shstrtab, .go.buildinfo, .data at `DATA_ADDR`).
fn elf(buildinfo: &[u8], data: &[u8]) -> Vec<u8> {
    let names = b"\0.shstrtab\0.go.buildinfo\0.data\0".to_vec();
    let mut out = vec![0u8; 64];
    let place = |bytes: &[u8], out: &mut Vec<u8>| {
        while !out.len().is_multiple_of(16) {
            out.push(0);
        }
        let off = out.len() as u64;
        out.extend_from_slice(bytes);
        (off, bytes.len() as u64)
    };
    let s_names = place(&names, &mut out);
    let s_info = place(buildinfo, &mut out);
    let s_data = place(data, &mut out);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    let sh = |name: u32, kind: u32, addr: u64, (off, len): (u64, u64), out: &mut Vec<u8>| {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name.to_le_bytes());
        h[4..8].copy_from_slice(&kind.to_le_bytes());
        h[16..24].copy_from_slice(&addr.to_le_bytes());
        h[24..32].copy_from_slice(&off.to_le_bytes());
        h[32..40].copy_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&h);
    };
    sh(0, 0, 0, (0, 0), &mut out);
    sh(1, 3, 0, s_names, &mut out);
    sh(11, 1, 0x40_0000, s_info, &mut out);
    sh(25, 1, DATA_ADDR, s_data, &mut out);
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[40..48].copy_from_slice(&shoff.to_le_bytes());
    out[58..60].copy_from_slice(&64u16.to_le_bytes());
    out[60..62].copy_from_slice(&4u16.to_le_bytes());
    out[62..64].copy_from_slice(&1u16.to_le_bytes());
    out
}

const DATA_ADDR: u64 = 0x50_0000;

fn header(flags: u8) -> Vec<u8> {
    let mut h = b"\xff Go buildinf:".to_vec();
    h.push(8);
    h.push(flags);
    h
}

fn uvarint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn expect(info: &super::BuildInfo, go: &str) {
    assert_eq!(info.go_version, go);
    assert_eq!(info.path, "example.com/cmd/tool");
    let m = |p: &str, v: &str| Module {
        path: p.into(),
        version: v.into(),
    };
    assert_eq!(info.main, Some(m("example.com", "v1.2.3")));
    assert_eq!(
        info.deps,
        vec![m("golang.org/x/sys", "v0.1.0"), m("k8s.io/api", "v0.28.1")]
    );
}

#[test]
fn inline_strings_of_go_1_18_and_later() {
    let mut info = header(2);
    info.resize(32, 0);
    uvarint(8, &mut info);
    info.extend_from_slice(b"go1.21.5");
    let m = wrapped();
    uvarint(m.len(), &mut info);
    info.extend_from_slice(&m);
    let file = elf(&info, b"");
    let got = read(&file, file.len() as u64).expect("build info");
    expect(&got, "go1.21.5");
}

#[test]
fn pointers_of_older_go() {
    // .data: the two string headers, then the strings they point at.
    let version = b"go1.16.15";
    let m = wrapped();
    let mut data = Vec::new();
    let strings = DATA_ADDR + 32;
    for (addr, len) in [
        (strings, version.len()),
        (strings + version.len() as u64, m.len()),
    ] {
        data.extend_from_slice(&addr.to_le_bytes());
        data.extend_from_slice(&(len as u64).to_le_bytes());
    }
    data.extend_from_slice(version);
    data.extend_from_slice(&m);
    let mut info = header(0);
    info.extend_from_slice(&DATA_ADDR.to_le_bytes());
    info.extend_from_slice(&(DATA_ADDR + 16).to_le_bytes());
    let file = elf(&info, &data);
    let got = read(&file, file.len() as u64).expect("build info");
    expect(&got, "go1.16.15");
}

#[test]
fn not_go_or_damaged_gives_none() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("text", b"#!/bin/sh\necho hi\n".to_vec()),
        ("elf without the section", {
            let mut f = elf(b"", b"");
            // Rename .go.buildinfo to .go.buildinfX.
            let at = f
                .windows(13)
                .position(|w| w == b".go.buildinfo")
                .expect("name");
            f[at + 12] = b'X';
            f
        }),
        ("bad magic", elf(b"\xff Go buildinX:\x08\x02", b"")),
        ("string past the end", {
            let mut info = header(2);
            info.resize(32, 0);
            uvarint(1000, &mut info);
            elf(&info, b"")
        }),
        ("pointer nowhere", {
            let mut info = header(0);
            info.extend_from_slice(&0xdead_0000u64.to_le_bytes());
            info.extend_from_slice(&0xdead_0000u64.to_le_bytes());
            elf(&info, b"")
        }),
    ];
    for (what, file) in cases {
        assert_eq!(read(&file, file.len() as u64), None, "{what}");
    }
}

#[test]
fn modinfo_without_module_mode() {
    let info = parse_modinfo("path\tcommand-line-arguments\nbuild\tCGO_ENABLED=1\n");
    assert_eq!(info.path, "command-line-arguments");
    assert_eq!(info.main, None);
    assert!(info.deps.is_empty());
}
