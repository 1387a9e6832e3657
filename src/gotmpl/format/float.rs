//! Go's strconv.AppendFloat for float64 (formats `e E f g G b x X`, shortest
//! or with a precision), built on Rust's exact decimal conversions: Rust
//! gives the digits (shortest round-trip, or correctly rounded), this lays
//! them out as Go does.

/// Decimal digits of |x| without leading or trailing zeros, and the decimal
/// point position: x = 0.DIGITS * 10^dp (Go's decimalSlice). Zero has no
/// digits and dp 0.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// From Rust's `{:e}` output of a non-negative finite number.
    fn from_exp(s: &str) -> Digits {
        let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        if d.is_empty() {
            return Digits { d, dp: 0 };
        }
        Digits { d, dp: exp + 1 }
    }

    /// The shortest digits that read back as x.
    fn shortest(x: f64) -> Digits {
        Digits::from_exp(&format!("{:e}", x.abs()))
    }

    /// x rounded to n significant digits (n >= 1).
    fn significant(x: f64, n: usize) -> Digits {
        Digits::from_exp(&format!("{:.*e}", n.saturating_sub(1), x.abs()))
    }

    fn nd(&self) -> i32 {
        self.d.len() as i32
    }
}

/// strconv.FormatFloat(x, verb, prec, 64); `prec < 0` means shortest.
pub fn format_float(x: f64, verb: char, prec: i32) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let neg = x.is_sign_negative();
    let mut out = String::new();
    if neg && !matches!(verb, 'b' | 'x' | 'X') {
        out.push('-');
    }
    match verb {
        'b' => return fmt_b(x),
        'x' | 'X' => return fmt_x(x, prec, verb),
        'f' | 'F' if prec >= 0 => {
            // Rust's fixed notation rounds exactly, as Go's does.
            out.push_str(&format!("{:.*}", prec as usize, x.abs()));
            return out;
        }
        _ => {}
    }
    let shortest = prec < 0;
    let mut prec = prec;
    if matches!(verb, 'g' | 'G') && prec == 0 {
        prec = 1;
    }
    let digs = match (verb, shortest) {
        (_, true) => Digits::shortest(x),
        ('e' | 'E', false) => Digits::significant(x, prec as usize + 1),
        (_, false) => Digits::significant(x, prec.max(1) as usize),
    };
    if shortest {
        prec = match verb {
            'e' | 'E' => digs.nd() - 1,
            'f' | 'F' => (digs.nd() - digs.dp).max(0),
            _ => digs.nd(),
        };
    }
    match verb {
        'e' | 'E' => fmt_e(&mut out, &digs, prec, verb),
        'f' | 'F' => fmt_f(&mut out, &digs, prec),
        'g' | 'G' => {
            let mut eprec = prec;
            if eprec > digs.nd() && digs.nd() >= digs.dp {
                eprec = digs.nd();
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                let p = prec.min(digs.nd()).max(1);
                let e = if verb == 'g' { 'e' } else { 'E' };
                fmt_e(&mut out, &digs, p - 1, e);
            } else {
                let p = if prec > digs.dp { digs.nd() } else { prec };
                fmt_f(&mut out, &digs, (p - digs.dp).max(0));
            }
        }
        _ => {
            out.push('%');
            out.push(verb);
        }
    }
    out
}

/// Go's fmtE: d.ddddde±dd.
fn fmt_e(out: &mut String, d: &Digits, prec: i32, e: char) {
    out.push(d.d.first().map_or('0', |c| *c as char));
    if prec > 0 {
        out.push('.');
        let mut i = 1;
        let m = (d.nd()).min(prec + 1);
        while i < m {
            out.push(d.d[i as usize] as char);
            i += 1;
        }
        while i <= prec {
            out.push('0');
            i += 1;
        }
    }
    out.push(e);
    let mut exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// Go's fmtF: ddd.ddd.
fn fmt_f(out: &mut String, d: &Digits, prec: i32) {
    if d.dp > 0 {
        let m = d.nd().min(d.dp);
        out.extend(d.d[..m as usize].iter().map(|c| *c as char));
        for _ in m..d.dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = d.dp + i;
            let c = if 0 <= j && j < d.nd() {
                d.d[j as usize] as char
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// Mantissa and binary exponent of a finite float: x = mant * 2^exp.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (mant, 1 - 1023 - 52)
    } else {
        (mant | (1u64 << 52), exp - 1023 - 52)
    }
}

/// Go's %b: decimal mantissa, 'p', binary exponent (-ddddp±ddd).
fn fmt_b(x: f64) -> String {
    let (mant, exp) = decompose(x);
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let esign = if exp >= 0 { "+" } else { "" };
    format!("{sign}{mant}p{esign}{exp}")
}

/// Go's %x: -0x1.hhhhp±dd, rounded to `prec` hex digits when prec >= 0.
fn fmt_x(x: f64, prec: i32, verb: char) -> String {
    let (mut mant, exp) = decompose(x);
    // Go's exponent is that of the leading bit of the 53-bit mantissa.
    let mut exp = if mant == 0 { 0 } else { exp + 52 };
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8] = if verb == 'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    out.push('0');
    out.push(verb);
    out.push((b'0' + ((mant >> 60) & 1) as u8) as char);
    mant <<= 4;
    if prec < 0 && mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    } else if prec > 0 {
        out.push('.');
        for _ in 0..prec {
            out.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    }
    out.push(if verb == 'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

/// What fmt adds for the `#` flag: a decimal point always, and for %g/%v
/// trailing zeros up to the precision (Go's fmt.fmtFloat).
pub fn sharp_float(num: &str, verb: char, prec: i32) -> String {
    let (sign, body) = match num.as_bytes().first() {
        Some(b'-' | b'+') => num.split_at(1),
        _ => ("", num),
    };
    let mut digits = 0;
    if matches!(verb, 'v' | 'g' | 'G' | 'x') {
        digits = if prec == -1 { 6 } else { prec };
    }
    let mut tail = String::new();
    let mut head = String::new();
    let mut has_point = false;
    let mut saw_nonzero = false;
    for (i, c) in body.char_indices() {
        match c {
            '.' => has_point = true,
            'p' | 'P' => {
                tail = body[i..].to_string();
                break;
            }
            'e' | 'E' if verb != 'x' && verb != 'X' => {
                tail = body[i..].to_string();
                break;
            }
            _ => {
                if c != '0' {
                    saw_nonzero = true;
                }
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
        head.push(c);
    }
    if !has_point {
        if head == "0" {
            digits -= 1;
        }
        head.push('.');
    }
    while digits > 0 {
        head.push('0');
        digits -= 1;
    }
    format!("{sign}{head}{tail}")
}
