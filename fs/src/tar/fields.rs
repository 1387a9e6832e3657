//! The numeric fields of a tar header: octal ASCII or GNU base-256 numbers,
//! and the header checksum.

use crate::error::TarError;

/// The header checksum read both ways (bytes unsigned, as POSIX says, and
/// signed, as old tars wrote it), the checksum field counted as spaces.
/// Plain sums over the whole block, which the compiler vectorizes.
pub(super) fn header_sums(h: &[u8; 512]) -> (i64, i64) {
    // A byte's signed value is its unsigned one less 256 when its top bit
    // is set. Two separate sums: each one vectorizes.
    let high = |b: &[u8]| b.iter().map(|&c| (c >> 7) as u32).sum::<u32>();
    let unsigned = header_sum(h);
    let signed = unsigned - 256 * (high(h) - high(&h[148..156])) as i64;
    (unsigned, signed)
}

/// The unsigned half of [`header_sums`], eight bytes at a time: each
/// 64-bit word adds its bytes into four 16-bit lanes (64 words add at most
/// 64 * 2 * 255 = 32640 to a lane, so none overflows).
pub(super) fn header_sum(h: &[u8; 512]) -> i64 {
    const LANES: u64 = 0x00ff_00ff_00ff_00ff;
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
    let mut acc = 0u64;
    for w in h.chunks_exact(8) {
        let w = word(w);
        acc += (w & LANES) + ((w >> 8) & LANES);
    }
    let sum = (acc & 0xffff) + (acc >> 16 & 0xffff) + (acc >> 32 & 0xffff) + (acc >> 48);
    // The checksum field (bytes 148..156) counts as eight spaces.
    let field: u64 = h[148..156].iter().map(|&c| c as u64).sum();
    (sum - field) as i64 + 8 * 32
}

/// Parses a numeric header field: octal ASCII, or GNU base-256 when the high
/// bit of the first byte is set (0xff marks a negative number).
#[inline]
pub(super) fn parse_number(f: &[u8], offset: u64, field: &'static str) -> Result<i64, TarError> {
    match f.first() {
        Some(b) if b & 0x80 == 0 => match octal_fast(f) {
            Some(v) => Ok(v),
            None => parse_number_slow(f, offset, field),
        },
        _ => parse_number_slow(f, offset, field),
    }
}

/// [`parse_number`] of the forms [`octal_fast`] leaves: base-256, leading
/// spaces, bad digits.
#[cold]
#[inline(never)]
fn parse_number_slow(f: &[u8], offset: u64, field: &'static str) -> Result<i64, TarError> {
    let bad = || TarError::Field { offset, field };
    if f[0] & 0x80 != 0 {
        let negative = f[0] == 0xff;
        let mut v: i128 = if negative { -1 } else { 0 };
        for (i, &b) in f.iter().enumerate() {
            let b = if i == 0 && !negative { b & 0x7f } else { b };
            v = (v << 8) | b as i128;
            if v > i64::MAX as i128 || v < i64::MIN as i128 {
                return Err(bad());
            }
        }
        return Ok(v as i64);
    }
    // Leading spaces, then octal digits up to a space, a NUL or the end;
    // what follows a space is ignored. One pass.
    let from = f.iter().position(|&c| c != b' ').unwrap_or(f.len());
    let mut v: i64 = 0;
    for &c in &f[from..] {
        if c == 0 || c == b' ' {
            break;
        }
        if !(b'0'..=b'7').contains(&c) {
            return Err(bad());
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add((c - b'0') as i64))
            .ok_or_else(bad)?;
    }
    Ok(v)
}

/// The octal field forms archivers write (digits from the first byte up to
/// a NUL, a space or the end; a 12-byte field's digits may run into its last
/// four bytes), read a word at a time; `None` for anything else (leading
/// spaces, a bad digit), which [`parse_number`] reads byte by byte.
#[inline]
fn octal_fast(f: &[u8]) -> Option<i64> {
    let ends_at = |i: usize| matches!(f.get(i), None | Some(0 | b' '));
    let (n, v) = octal_word(u64::from_le_bytes(f.get(..8)?.try_into().ok()?));
    match (n, f.len()) {
        (0, _) => (f[0] == 0).then_some(0),
        (1..=7, _) | (8, 8) => ends_at(n as usize).then_some(v as i64),
        (8, 12) => {
            let tail = u32::from_le_bytes(f[8..12].try_into().ok()?);
            let (m, low) = octal_word(tail as u64);
            ends_at(8 + m as usize).then_some((v << (3 * m) | low) as i64)
        }
        _ => None,
    }
}

/// The leading octal digits of eight field bytes (the first in the low
/// byte of `w`): how many (0 to 8) and their value (below 2^24).
#[inline]
fn octal_word(w: u64) -> (u32, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const BYTES: u64 = 0x00ff_00ff_00ff_00ff;
    const PAIRS: u64 = 0x0000_ffff_0000_ffff;
    // Zero in exactly the bytes that are '0'..='7'; then the top bit of
    // every nonzero byte (no carry crosses a byte).
    let x = (w & (0xf8 * ONES)) ^ (0x30 * ONES);
    let nonzero = (((x & (0x7f * ONES)) + 0x7f * ONES) | x) & (0x80 * ONES);
    let n = nonzero.trailing_zeros() / 8;
    if n == 0 {
        return (0, 0);
    }
    // Digits as 0..=7, the last one moved to the top byte (the digits
    // before it are the more significant, in lower bytes); then adjacent
    // bytes, 16-bit and 32-bit lanes merge: 3, 6 and 12 bits at a time.
    let d = (w ^ (0x30 * ONES)) << (64 - 8 * n);
    let d = ((d & BYTES) << 3) + ((d >> 8) & BYTES);
    let d = ((d & PAIRS) << 6) + ((d >> 16) & PAIRS);
    (n, ((d & 0xffff_ffff) << 12) + (d >> 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0000644\0", 0, "m").unwrap(), 0o644);
        assert_eq!(parse_number(b"  755 \0\0", 0, "m").unwrap(), 0o755);
        assert_eq!(parse_number(b"\0\0\0\0\0\0\0\0", 0, "m").unwrap(), 0);
        assert_eq!(
            parse_number(&[0x80, 0, 0, 0, 0, 0, 1, 0], 0, "m").unwrap(),
            256
        );
        assert_eq!(parse_number(&[0xff; 8], 0, "m").unwrap(), -1);
        assert!(parse_number(b"0009\0", 0, "m").is_err());
        assert!(parse_number(
            &[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            0,
            "m"
        )
        .is_err());
    }

    /// The byte-by-byte reading `parse_number` had before its fast path.
    fn octal_naive(f: &[u8]) -> Option<i64> {
        let from = f.iter().position(|&c| c != b' ').unwrap_or(f.len());
        let mut v: i64 = 0;
        for &c in &f[from..] {
            match c {
                0 | b' ' => break,
                b'0'..=b'7' => v = v * 8 + (c - b'0') as i64,
                _ => return None,
            }
        }
        Some(v)
    }

    #[test]
    fn octal_fields_read_as_byte_by_byte() {
        let table: &[&[u8]] = &[
            b"0000644\0",
            b"000644 \0",
            b"00000644",
            b"7777777\0",
            b"0000000\0",
            b"\0\0\0\0\0\0\0\0",
            b" 644 \0\0\0",
            b"00000001750\0",
            b"14520263200 ",
            b"777777777777",
            b"0000000017\0x",
            b"1234 9\0\0",
            b"00008000",
            b"000000000008",
            b"0000000a\0\0\0\0",
            b"12345678901\x01",
            b"7\0",
        ];
        for f in table {
            assert_eq!(
                parse_number(f, 0, "f").ok(),
                octal_naive(f),
                "{:?}",
                String::from_utf8_lossy(f)
            );
        }
        // Every mix of digits, ends and bad bytes, in both field widths.
        let alphabet = b"0157 \x008/";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in [8, 12] {
            for _ in 0..200_000 {
                let f: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Mostly digits, so long runs occur.
                        match x % 16 {
                            0..=9 => b"01234567"[(x >> 8) as usize % 8],
                            _ => alphabet[(x >> 8) as usize % alphabet.len()],
                        }
                    })
                    .collect();
                assert_eq!(parse_number(&f, 0, "f").ok(), octal_naive(&f), "{f:?}");
            }
        }
    }

    #[test]
    fn header_sums_count_the_checksum_field_as_spaces() {
        // A pattern, and every byte at its largest (the most a lane holds).
        for fill in [|i: usize| (i * 97 % 256) as u8, |_| 0xff] {
            let mut h = [0u8; 512];
            for (i, b) in h.iter_mut().enumerate() {
                *b = fill(i);
            }
            let naive = |signed: bool| -> i64 {
                h.iter()
                    .enumerate()
                    .map(|(i, &b)| match (i, signed) {
                        (148..=155, _) => 32,
                        (_, true) => b as i8 as i64,
                        _ => b as i64,
                    })
                    .sum()
            };
            assert_eq!(header_sums(&h), (naive(false), naive(true)));
        }
    }
}
