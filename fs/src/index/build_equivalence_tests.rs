//! The index builder against the one it replaced (`build_reference.rs`, a
//! `BTreeMap` per directory): on randomized layers of replacements, hard
//! links, whiteouts, opaque markers and hostile names, both accept and
//! refuse the same entries and write the same bytes.

use super::build_reference::ReferenceBuilder;
use super::IndexBuilder;
use crate::tar::{EntryType, RawEntry};

/// xorshift64*: reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Few names, so paths collide often; with the whiteout and aufs forms
/// and a few hostile ones.
const NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "dd",
    "a.b",
    ".wh.a",
    ".wh.b",
    ".wh.dd",
    ".wh..wh..opq",
    ".wh..wh.plnk",
    ".wh.",
    ".wh..",
    "..",
    ".",
    "",
    "x\0y",
    "\u{e9}",
];
const COMMON: &[&str] = &["a", "b", "c", "dd"];

fn random_path(r: &mut Rng) -> String {
    let depth = 1 + r.below(3);
    let mut parts: Vec<&str> = (0..depth)
        .map(|_| {
            if r.below(4) == 0 {
                r.pick(NAMES)
            } else {
                r.pick(COMMON)
            }
        })
        .collect();
    if r.below(20) == 0 {
        parts.clear();
    }
    let mut p = match r.below(8) {
        0 => "/".to_string(),
        1 => "./".to_string(),
        _ => String::new(),
    };
    p.push_str(&parts.join(if r.below(10) == 0 { "//" } else { "/" }));
    if r.below(6) == 0 {
        p.push('/');
    }
    p
}

fn random_entry(r: &mut Rng, n: usize) -> RawEntry {
    let kind = match r.below(20) {
        0..=5 => EntryType::File,
        6..=10 => EntryType::Dir,
        11..=12 => EntryType::Symlink,
        13..=16 => EntryType::HardLink,
        17 => EntryType::CharDev,
        18 => EntryType::BlockDev,
        _ => EntryType::Fifo,
    };
    let link = match kind {
        EntryType::Symlink | EntryType::HardLink => random_path(r),
        _ => String::new(),
    };
    let xattrs = (0..r.below(3))
        .map(|_| {
            let k = format!("user.{}", r.below(3));
            (k.into_bytes(), r.below(100).to_string().into_bytes())
        })
        .collect();
    RawEntry {
        path: random_path(r).into_bytes(),
        kind: Some(kind),
        mode: r.next() as u32 & 0o17777,
        uid: r.below(4) as u32,
        gid: r.below(4) as u32,
        mtime: r.below(1000) as i64 - 10,
        mtime_nsec: r.below(1000) as u32,
        size: if kind == EntryType::File {
            r.below(5000) as u64
        } else {
            0
        },
        data_offset: 512 * n as u64,
        link: link.into_bytes(),
        dev_major: r.below(300) as u32,
        dev_minor: r.below(300) as u32,
        xattrs,
    }
}

#[test]
fn the_builder_writes_what_the_btreemap_builder_wrote() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused, mut records) = (0, 0, 0u64);
    for case in 0..3000 {
        let entries = 1 + r.below(60);
        let (mut new, mut old) = (IndexBuilder::new(), ReferenceBuilder::new());
        for n in 0..entries {
            let e = random_entry(&mut r, n);
            let (a, b) = (new.add(&e), old.add(&e));
            assert_eq!(
                a.as_ref().map_err(|e| e.to_string()),
                b.as_ref().map_err(|e| e.to_string()),
                "case {case}, entry {n}: {e:?}"
            );
            match a {
                Ok(()) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        let digest = [case as u8; 32];
        let (a, b) = (new.finish(&digest, 9), old.finish(&digest, 9));
        let (a, b) = (a.expect("new finish"), b.expect("old finish"));
        assert!(a == b, "case {case}: index bytes differ");
        records += super::Header::read(&a).expect("header").entries();
    }
    // The cases reach both outcomes and trees of some size.
    assert!(accepted > 20_000 && refused > 5_000, "{accepted} {refused}");
    assert!(records > 20_000, "{records}");
}
