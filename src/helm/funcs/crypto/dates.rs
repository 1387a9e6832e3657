//! sprig's date functions over a Go `time.Time` look-alike: `now`, `date`,
//! `dateInZone`, `htmlDate`, `toDate`, `dateModify`, `ago`, `duration`,
//! `durationRound`, `unixEpoch`, with Go's layout strings ("2006-01-02")
//! and Go's Duration printing. The local zone is UTC, and so is every
//! named zone (no tz database is read).

use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::super::strings::{arity, int_arg, str_arg};
use super::text;
use crate::gotmpl::{Func, FuncMap, Object, Value};

mod layout;

/// A Go time.Time: an instant, in UTC (offset 0), with the monotonic
/// reading `time.Now` attaches.
#[derive(Clone, Copy, PartialEq)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second.
    pub nsec: u32,
    /// Seconds since this process first asked for the time (Go's `m=`).
    pub mono: Option<f64>,
}

impl Time {
    /// The current time.
    pub fn now() -> Time {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let start = START.get_or_init(Instant::now);
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Time {
            unix: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
            mono: Some(start.elapsed().as_secs_f64()),
        }
    }

    /// Go's zero time, January 1, year 1, 00:00:00 UTC.
    pub fn zero() -> Time {
        Time {
            unix: -62135596800,
            nsec: 0,
            mono: None,
        }
    }

    fn unix_nanos(&self) -> i128 {
        i128::from(self.unix) * 1_000_000_000 + i128::from(self.nsec)
    }

    fn from_nanos(n: i128) -> Time {
        Time {
            unix: n.div_euclid(1_000_000_000) as i64,
            nsec: n.rem_euclid(1_000_000_000) as u32,
            mono: None,
        }
    }

    /// Adds a Go Duration (nanoseconds).
    pub fn add(&self, d: i64) -> Time {
        let mut t = Time::from_nanos(self.unix_nanos() + i128::from(d));
        t.mono = self.mono.map(|m| m + d as f64 / 1e9);
        t
    }

    /// Nanoseconds from `self` to now.
    fn since(&self) -> i64 {
        (Time::now().unix_nanos() - self.unix_nanos()).clamp(i64::MIN.into(), i64::MAX.into())
            as i64
    }

    /// Go's Time.String.
    pub fn string(&self) -> String {
        let mut s = layout::format(self, "2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            s.push_str(&format!(" m=+{m:.9}"));
        }
        s
    }
}

fn time_value(t: Time) -> Value {
    Value::Object(Rc::new(t))
}

/// The time inside a value, if it is one (read through its `Unix` and
/// `Nanosecond` methods, as objects cannot be downcast).
fn as_time(v: &Value) -> Option<Time> {
    let Value::Object(o) = v else { return None };
    if o.type_name() != "time.Time" {
        return None;
    }
    let int = |name| match o.member(name, &[]) {
        Some(Ok(Value::Int(i))) => Some(i),
        _ => None,
    };
    Some(Time {
        unix: int("Unix")?,
        nsec: u32::try_from(int("Nanosecond")?).ok()?,
        mono: None,
    })
}

/// A `time.Time` parameter, with Go's error for anything else.
fn time_arg(v: &Value) -> Result<Time, String> {
    as_time(v).ok_or_else(|| {
        format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        )
    })
}

impl Object for Time {
    fn type_name(&self) -> &str {
        "time.Time"
    }
    fn kind(&self) -> &str {
        "struct"
    }
    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let civil = layout::Civil::of(self);
        let int = |i: i64| Some(Ok(Value::Int(i)));
        match name {
            "Unix" => int(self.unix),
            "UnixNano" => int(self.unix_nanos() as i64),
            "UnixMilli" => int((self.unix_nanos() / 1_000_000) as i64),
            "Year" => int(civil.year),
            "Month" => Some(Ok(Value::from(layout::MONTHS[civil.month as usize - 1]))),
            "Day" => int(civil.day),
            "Hour" => int(civil.hour),
            "Minute" => int(civil.min),
            "Second" => int(civil.sec),
            "Nanosecond" => int(i64::from(self.nsec)),
            "YearDay" => int(civil.yday),
            "Weekday" => Some(Ok(Value::from(layout::DAYS[civil.wday as usize]))),
            "IsZero" => Some(Ok(Value::Bool(*self == Time::zero()))),
            "String" => Some(Ok(Value::from(self.string()))),
            "UTC" | "Local" => Some(Ok(time_value(Time {
                mono: None,
                ..*self
            }))),
            "Format" => Some(match args {
                [layout] => Ok(Value::from(layout::format(self, &str_arg(layout)))),
                _ => Err(format!(
                    "wrong number of args for Format: want 1 got {}",
                    args.len()
                )),
            }),
            "Add" => Some(match args {
                [d] => Ok(time_value(self.add(int_arg(d)))),
                _ => Err(format!(
                    "wrong number of args for Add: want 1 got {}",
                    args.len()
                )),
            }),
            _ => None,
        }
    }
    fn to_data(&self) -> Value {
        Value::from(layout::format(self, "2006-01-02T15:04:05.999999999Z07:00"))
    }
    fn print(&self) -> String {
        self.string()
    }
}

/// sprig's dateInZone: times, and ints as Unix seconds; anything else is
/// now. Every zone is UTC here.
fn date_in_zone(fmt: &str, date: &Value) -> String {
    let t = match date {
        Value::Int(i) => Time {
            unix: *i,
            nsec: 0,
            mono: None,
        },
        v => as_time(v).unwrap_or_else(Time::now),
    };
    layout::format(&t, fmt)
}

/// Go's Duration.String: "1h2m3.5s", "1.5ms", "0s".
pub fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        out.push_str(&frac_int(u, prec));
        out.push_str(unit);
    } else {
        let secs = frac_int(u % 60_000_000_000, 9);
        u /= 60_000_000_000;
        let mut s = String::new();
        if u > 0 {
            if u / 60 > 0 {
                s.push_str(&format!("{}h", u / 60));
            }
            s.push_str(&format!("{}m", u % 60));
        }
        out = format!("{s}{secs}s");
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// v / 10^prec with the fraction's trailing zeros (and a bare dot) dropped.
fn frac_int(v: u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let (int, frac) = (v / p, v % p);
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:0width$}", width = prec as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// sprig's durationRound: the largest whole unit (y, mo, d, h, m, s).
fn duration_round(v: &Value) -> String {
    let d: i64 = match v {
        Value::Str(s) => layout::parse_duration(s).unwrap_or(0),
        Value::Int(i) => *i,
        v => as_time(v).map_or(0, |t| t.since()),
    };
    let u = d.unsigned_abs();
    let (hour, minute, second) = (3_600_000_000_000u64, 60_000_000_000u64, 1_000_000_000u64);
    let units = [
        (hour * 24 * 365, "y"),
        (hour * 24 * 30, "mo"),
        (hour * 24, "d"),
        (hour, "h"),
        (minute, "m"),
        (second, "s"),
    ];
    for (size, name) in units {
        if u > size {
            return format!("{}{name}", u / size);
        }
    }
    "0s".into()
}

/// Go's Duration.Round(time.Second): halves away from zero.
fn round_second(d: i64) -> i64 {
    let m = 1_000_000_000i64;
    let r = d % m;
    if d < 0 {
        let r = -r;
        if r + r < m {
            d + r
        } else {
            d - (m - r)
        }
    } else if r + r < m {
        d - r
    } else {
        d.saturating_add(m - r)
    }
}

pub(super) fn register(m: &mut FuncMap) {
    let table: &[(&'static str, Func)] = &[
        ("now", |_, a| {
            arity("now", a, 0)?;
            Ok(time_value(Time::now()))
        }),
        ("date", |_, a| {
            arity("date", a, 2)?;
            text(date_in_zone(&str_arg(&a[0]), &a[1]))
        }),
        ("dateInZone", |_, a| {
            arity("dateInZone", a, 3)?;
            text(date_in_zone(&str_arg(&a[0]), &a[1]))
        }),
        ("date_in_zone", |_, a| {
            arity("date_in_zone", a, 3)?;
            text(date_in_zone(&str_arg(&a[0]), &a[1]))
        }),
        ("htmlDate", |_, a| {
            arity("htmlDate", a, 1)?;
            text(date_in_zone("2006-01-02", &a[0]))
        }),
        ("htmlDateInZone", |_, a| {
            arity("htmlDateInZone", a, 2)?;
            text(date_in_zone("2006-01-02", &a[0]))
        }),
        ("dateModify", |_, a| date_modify("dateModify", a, false)),
        ("date_modify", |_, a| date_modify("date_modify", a, false)),
        ("mustDateModify", |_, a| {
            date_modify("mustDateModify", a, true)
        }),
        ("must_date_modify", |_, a| {
            date_modify("must_date_modify", a, true)
        }),
        ("toDate", |_, a| {
            arity("toDate", a, 2)?;
            let t =
                layout::parse(&str_arg(&a[0]), &str_arg(&a[1])).unwrap_or_else(|_| Time::zero());
            Ok(time_value(t))
        }),
        ("mustToDate", |_, a| {
            arity("mustToDate", a, 2)?;
            layout::parse(&str_arg(&a[0]), &str_arg(&a[1])).map(time_value)
        }),
        ("unixEpoch", |_, a| {
            arity("unixEpoch", a, 1)?;
            text(time_arg(&a[0])?.unix.to_string())
        }),
        ("ago", |_, a| {
            arity("ago", a, 1)?;
            let t = match &a[0] {
                Value::Int(i) => Time {
                    unix: *i,
                    nsec: 0,
                    mono: None,
                },
                v => as_time(v).unwrap_or_else(Time::now),
            };
            text(duration_string(round_second(t.since())))
        }),
        ("duration", |_, a| {
            arity("duration", a, 1)?;
            let n = match &a[0] {
                Value::Str(s) => s.parse::<i64>().unwrap_or(0),
                Value::Int(i) => *i,
                _ => 0,
            };
            text(duration_string(n.saturating_mul(1_000_000_000)))
        }),
        ("durationRound", |_, a| {
            arity("durationRound", a, 1)?;
            text(duration_round(&a[0]))
        }),
    ];
    m.extend(table.iter().copied());
}

/// dateModify: the date moved by a Go duration ("-1.5h"); a bad duration
/// leaves it (or, for the must form, is Go's error).
fn date_modify(name: &str, a: &[Value], must: bool) -> Result<Value, String> {
    arity(name, a, 2)?;
    let t = time_arg(&a[1])?;
    match layout::parse_duration(&str_arg(&a[0])) {
        Ok(d) => Ok(time_value(t.add(d))),
        Err(e) if must => Err(e),
        Err(_) => Ok(time_value(t)),
    }
}
