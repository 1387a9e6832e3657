//! Go's time layouts ("Mon Jan 2 15:04:05 MST 2006" by example): the chunks
//! of a layout, formatting a [`Time`] with them, parsing with them (UTC
//! only; a zone offset in the text is applied), and Go's ParseDuration.

use super::Time;

pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The calendar fields of a time in UTC.
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub min: i64,
    pub sec: i64,
    pub yday: i64,
    pub wday: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

impl Civil {
    pub fn of(t: &Time) -> Civil {
        let days = t.unix.div_euclid(86400);
        let secs = t.unix.rem_euclid(86400);
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            yday: days - days_from_civil(year, 1, 1) + 1,
            wday: (days + 4).rem_euclid(7),
        }
    }
}

/// One element of a layout (Go's std* constants).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    /// A numeric zone: (`Z` for zero, colons, minutes, seconds).
    NumTZ(bool, bool, bool, bool),
    /// Fractional seconds: separator, digits, whether trailing zeros go.
    Frac(u8, usize, bool),
}

/// Go's nextStdChunk: the literal prefix, the element and the rest.
fn next_chunk(layout: &str) -> (&str, Option<(Std, &str)>) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout[i..].starts_with(s);
    let lower_after = |i: usize| b.get(i).is_some_and(u8::is_ascii_lowercase);
    for i in 0..b.len() {
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if at(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if at(i, "Jan") && !lower_after(i + 3) => Some((Std::Month, 3)),
            b'M' if at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !lower_after(i + 3) => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::TZ, 3)),
            b'0' if b.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => {
                let s = [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ];
                Some((s[usize::from(b[i + 1] - b'1')], 2))
            }
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if at(i, "_2006") => {
                return (&layout[..i + 1], Some((Std::LongYear, &layout[i + 5..])))
            }
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => numeric_zone(&layout[i..]),
            b'.' | b',' => fraction(b, i),
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some((std, &layout[i + len..])));
        }
    }
    (layout, None)
}

fn numeric_zone(s: &str) -> Option<(Std, usize)> {
    let z = s.starts_with('Z');
    let body = &s[1..];
    let forms: [(&str, bool, bool, bool); 5] = [
        ("070000", false, true, true),
        ("07:00:00", true, true, true),
        ("0700", false, true, false),
        ("07:00", true, true, false),
        ("07", false, false, false),
    ];
    forms
        .iter()
        .find(|(f, ..)| body.starts_with(f))
        .map(|(f, colon, min, sec)| (Std::NumTZ(z, *colon, *min, *sec), f.len() + 1))
}

fn fraction(b: &[u8], i: usize) -> Option<(Std, usize)> {
    let ch = *b.get(i + 1)?;
    if ch != b'0' && ch != b'9' {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && b[j] == ch {
        j += 1;
    }
    if b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((Std::Frac(b[i], j - i - 1, ch == b'9'), j - i))
}

/// Go's Time.Format in UTC.
pub fn format(t: &Time, layout: &str) -> String {
    let c = Civil::of(t);
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (lit, next) = next_chunk(rest);
        out.push_str(lit);
        let Some((std, after)) = next else { break };
        rest = after;
        let h12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
        let s = match std {
            Std::LongMonth => MONTHS[c.month as usize - 1].to_string(),
            Std::Month => MONTHS[c.month as usize - 1][..3].to_string(),
            Std::NumMonth => c.month.to_string(),
            Std::ZeroMonth => format!("{:02}", c.month),
            Std::LongWeekDay => DAYS[c.wday as usize].to_string(),
            Std::WeekDay => DAYS[c.wday as usize][..3].to_string(),
            Std::Day => c.day.to_string(),
            Std::UnderDay => format!("{:>2}", c.day),
            Std::ZeroDay => format!("{:02}", c.day),
            Std::UnderYearDay => format!("{:>3}", c.yday),
            Std::ZeroYearDay => format!("{:03}", c.yday),
            Std::Hour => format!("{:02}", c.hour),
            Std::Hour12 => h12.to_string(),
            Std::ZeroHour12 => format!("{h12:02}"),
            Std::Minute => c.min.to_string(),
            Std::ZeroMinute => format!("{:02}", c.min),
            Std::Second => c.sec.to_string(),
            Std::ZeroSecond => format!("{:02}", c.sec),
            Std::LongYear => format!("{:04}", c.year),
            Std::Year => format!("{:02}", c.year.rem_euclid(100)),
            Std::PM => if c.hour >= 12 { "PM" } else { "AM" }.into(),
            Std::Pm => if c.hour >= 12 { "pm" } else { "am" }.into(),
            Std::TZ => "UTC".into(),
            Std::NumTZ(true, ..) => "Z".into(),
            Std::NumTZ(false, colon, min, sec) => {
                let sep = if colon { ":" } else { "" };
                let mut z = "+00".to_string();
                if min {
                    z.push_str(&format!("{sep}00"));
                }
                if sec {
                    z.push_str(&format!("{sep}00"));
                }
                z
            }
            Std::Frac(sep, n, trim) => {
                let digits = format!("{:09}", t.nsec);
                let mut d = digits[..n.min(9)].to_string();
                if trim {
                    d = d.trim_end_matches('0').to_string();
                    if d.is_empty() {
                        continue;
                    }
                }
                format!("{}{d}", sep as char)
            }
        };
        out.push_str(&s);
    }
    out
}

/// Fields read by [`parse`].
#[derive(Default)]
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    pm: Option<bool>,
    offset: i64,
}

/// Reads up to `max` (at least `min`) digits.
fn digits(s: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// Reads one of `names` (case-insensitively, as Go's lookup does).
fn name<'a>(s: &'a str, names: &[&str], len: Option<usize>) -> Option<(i64, &'a str)> {
    names.iter().enumerate().find_map(|(i, n)| {
        let n = len.map_or(*n, |l| &n[..l]);
        let head = s.get(..n.len())?;
        head.eq_ignore_ascii_case(n)
            .then(|| (i as i64, &s[n.len()..]))
    })
}

/// Reads one element; `None` is Go's "cannot parse".
fn parse_std<'a>(std: Std, s: &'a str, f: &mut Fields) -> Option<&'a str> {
    let (v, rest) = match std {
        Std::LongMonth => name(s, &MONTHS, None).map(|(m, r)| (m + 1, r))?,
        Std::Month => name(s, &MONTHS, Some(3)).map(|(m, r)| (m + 1, r))?,
        Std::LongWeekDay => return name(s, &DAYS, None).map(|(_, r)| r),
        Std::WeekDay => return name(s, &DAYS, Some(3)).map(|(_, r)| r),
        Std::NumMonth | Std::Day | Std::Hour12 | Std::Minute | Std::Second => digits(s, 1, 2)?,
        Std::UnderDay => digits(s.strip_prefix(' ').unwrap_or(s), 1, 2)?,
        Std::UnderYearDay | Std::ZeroYearDay => {
            return digits(s.trim_start_matches(' '), 3, 3).map(|(_, r)| r)
        }
        Std::ZeroMonth
        | Std::ZeroDay
        | Std::Hour
        | Std::ZeroHour12
        | Std::ZeroMinute
        | Std::ZeroSecond
        | Std::Year => digits(s, 2, 2)?,
        Std::LongYear => digits(s, 4, 4)?,
        Std::PM | Std::Pm => {
            let head = s.get(..2)?;
            f.pm = Some(match head {
                "PM" | "pm" => true,
                "AM" | "am" => false,
                _ => return None,
            });
            return Some(&s[2..]);
        }
        Std::TZ => {
            let n = s.bytes().take_while(u8::is_ascii_uppercase).count();
            return (n >= 3).then(|| &s[n..]);
        }
        Std::NumTZ(z, colon, min, sec) => return parse_zone(s, z, colon, min, sec, f),
        Std::Frac(_, n, _) => {
            let sep = s.bytes().next().filter(|c| *c == b'.' || *c == b',')?;
            let _ = sep;
            let (v, rest) = digits(&s[1..], if n > 0 { n } else { 1 }, 9)?;
            let len = s.len() - 1 - rest.len();
            f.nsec = v * 10i64.pow(9 - len as u32);
            return Some(rest);
        }
    };
    match std {
        Std::LongMonth | Std::Month | Std::NumMonth | Std::ZeroMonth => f.month = v,
        Std::Day | Std::UnderDay | Std::ZeroDay => f.day = v,
        Std::Hour | Std::Hour12 | Std::ZeroHour12 => f.hour = v,
        Std::Minute | Std::ZeroMinute => f.min = v,
        Std::Second | Std::ZeroSecond => f.sec = v,
        Std::LongYear => f.year = v,
        Std::Year => f.year = if v >= 69 { v + 1900 } else { v + 2000 },
        _ => {}
    }
    Some(rest)
}

fn parse_zone<'a>(
    s: &'a str,
    z: bool,
    colon: bool,
    min: bool,
    sec: bool,
    f: &mut Fields,
) -> Option<&'a str> {
    if z {
        if let Some(rest) = s.strip_prefix('Z') {
            return Some(rest);
        }
    }
    let sign = match s.bytes().next()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, mut rest) = digits(&s[1..], 2, 2)?;
    let mut total = h * 3600;
    for (wanted, unit) in [(min, 60), (sec, 1)] {
        if !wanted {
            continue;
        }
        if colon {
            rest = rest.strip_prefix(':')?;
        }
        let (v, r) = digits(rest, 2, 2)?;
        total += v * unit;
        rest = r;
    }
    f.offset = sign * total;
    Some(rest)
}

/// Go's time.Parse in UTC, with Go's error texts.
pub fn parse(layout: &str, value: &str) -> Result<Time, String> {
    let err = |elem: &str, rest: &str| {
        format!(
            "parsing time {:?} as {:?}: cannot parse {:?} as {:?}",
            value, layout, rest, elem
        )
    };
    let mut f = Fields {
        month: 1,
        day: 1,
        ..Fields::default()
    };
    let (mut lay, mut val) = (layout, value);
    loop {
        let (lit, next) = next_chunk(lay);
        val = val.strip_prefix(lit).ok_or_else(|| err(lit, val))?;
        let Some((std, after)) = next else { break };
        let elem = &lay[lit.len()..lay.len() - after.len()];
        val = parse_std(std, val, &mut f).ok_or_else(|| err(elem, val))?;
        lay = after;
    }
    if !val.is_empty() {
        return Err(format!("parsing time {value:?}: extra text: {val:?}"));
    }
    match f.pm {
        Some(true) if f.hour < 12 => f.hour += 12,
        Some(false) if f.hour == 12 => f.hour = 0,
        _ => {}
    }
    let out_of_range = |what: &str| format!("parsing time {value:?}: {what} out of range");
    if !(1..=12).contains(&f.month) {
        return Err(out_of_range("month"));
    }
    let next_month = if f.month == 12 {
        days_from_civil(f.year + 1, 1, 1)
    } else {
        days_from_civil(f.year, f.month + 1, 1)
    };
    if f.day < 1 || f.day > next_month - days_from_civil(f.year, f.month, 1) {
        return Err(out_of_range("day"));
    }
    if f.hour > 23 {
        return Err(out_of_range("hour"));
    }
    if f.min > 59 {
        return Err(out_of_range("minute"));
    }
    if f.sec > 59 {
        return Err(out_of_range("second"));
    }
    let days = days_from_civil(f.year, f.month, f.day);
    Ok(Time {
        unix: days * 86400 + f.hour * 3600 + f.min * 60 + f.sec - f.offset,
        nsec: f.nsec as u32,
        mono: None,
    })
}

/// Go's time.ParseDuration, in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let num = &rest[..n];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += num.parse::<f64>().map_err(|_| invalid())? * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}
