//! Numbers for people: sizes and times as the CLI prints them.

/// `1536` -> `"1.5 KiB"`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
/// `"2G"`, `"512M"`, `"1.5G"`, `"64KiB"`, `"1000"` -> bytes (powers of 1024).
pub fn parse_bytes(text: &str) -> crate::Result<u64> {
    let bad = || crate::error::invalid(format!("not a size: {text:?} (e.g. 2G, 512M, 1.5G)"));
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    if let Some((whole, frac)) = num.split_once('.') {
        // Exact in integers: whole * 2^shift + frac * 2^shift / 10^digits.
        if frac.is_empty() || frac.len() > 9 || (whole.is_empty() && frac.is_empty()) {
            return Err(bad());
        }
        let w: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let f: u128 = frac.parse().map_err(|_| bad())?;
        let part = (f << shift) / 10u128.pow(frac.len() as u32);
        return w
            .checked_mul(1 << shift)
            .and_then(|v| v.checked_add(u64::try_from(part).ok()?))
            .ok_or_else(bad);
    }
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        let ok = [
            ("4G", 4u64 << 30),
            ("700M", 700 << 20),
            ("1.5G", 3 << 29),
            ("0.5k", 512),
            ("64KiB", 64 << 10),
            ("1000", 1000),
        ];
        for (t, want) in ok {
            assert_eq!(super::parse_bytes(t).ok(), Some(want), "{t}");
        }
        for bad in ["", "G", "1.G", "1..5G", "x", "-1M", "99999999999T"] {
            assert!(super::parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
