//! sprig's arithmetic: integer math over spf13/cast's `ToInt64` (`add`,
//! `sub`, `mul`, `div`, `mod`, `max`, `min`, ...) returning int64; float
//! math (`addf`, `subf`, `mulf`, `divf`) done in decimal as shopspring's
//! `decimal` does, so `addf 0.1 0.2` is 0.3; `floor`, `ceil`, `round`; and
//! the conversions `int`, `int64`, `float64`, `atoi`.

use super::cast::{to_f64, to_i64};
use super::convert::{arity, arity_min, want_float, want_int, want_str};
use crate::gotmpl::{FuncMap, Host, Value};

pub(super) fn register(m: &mut FuncMap) {
    m.insert("add", add);
    m.insert("add1", add1);
    m.insert("sub", sub);
    m.insert("mul", mul);
    m.insert("div", div);
    m.insert("mod", modulo);
    m.insert("max", max);
    m.insert("biggest", max);
    m.insert("min", min);
    m.insert("maxf", maxf);
    m.insert("minf", minf);
    m.insert("addf", addf);
    m.insert("add1f", add1f);
    m.insert("subf", subf);
    m.insert("mulf", mulf);
    m.insert("divf", divf);
    m.insert("floor", floor);
    m.insert("ceil", ceil);
    m.insert("round", round);
    m.insert("int", int);
    m.insert("int64", int);
    m.insert("float64", float64);
    m.insert("atoi", atoi);
    m.insert("randInt", rand_int);
}

fn add(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    let sum = args.iter().fold(0i64, |a, b| a.wrapping_add(to_i64(b)));
    Ok(Value::Int(sum))
}

fn add1(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("add1", args, 1)?;
    Ok(Value::Int(to_i64(&args[0]).wrapping_add(1)))
}

fn sub(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("sub", args, 2)?;
    Ok(Value::Int(to_i64(&args[0]).wrapping_sub(to_i64(&args[1]))))
}

fn mul(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("mul", args, 1)?;
    let p = args[1..]
        .iter()
        .fold(to_i64(&args[0]), |a, b| a.wrapping_mul(to_i64(b)));
    Ok(Value::Int(p))
}

const DIV_ZERO: &str = "runtime error: integer divide by zero";

fn div(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("div", args, 2)?;
    let (a, b) = (to_i64(&args[0]), to_i64(&args[1]));
    if b == 0 {
        return Err(DIV_ZERO.into());
    }
    Ok(Value::Int(a.wrapping_div(b)))
}

fn modulo(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("mod", args, 2)?;
    let (a, b) = (to_i64(&args[0]), to_i64(&args[1]));
    if b == 0 {
        return Err(DIV_ZERO.into());
    }
    Ok(Value::Int(a.wrapping_rem(b)))
}

fn max(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("max", args, 1)?;
    Ok(Value::Int(args.iter().map(to_i64).max().unwrap_or(0)))
}

fn min(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("min", args, 1)?;
    Ok(Value::Int(args.iter().map(to_i64).min().unwrap_or(0)))
}

/// Go's math.Max (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn maxf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("maxf", args, 1)?;
    let m = args[1..]
        .iter()
        .fold(to_f64(&args[0]), |a, b| go_max(a, to_f64(b)));
    Ok(Value::Float(m))
}

fn minf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("minf", args, 1)?;
    let m = args[1..]
        .iter()
        .fold(to_f64(&args[0]), |a, b| go_min(a, to_f64(b)));
    Ok(Value::Float(m))
}

/// A decimal `mant * 10^exp`, as shopspring's Decimal holds a float64's
/// shortest decimal form.
#[derive(Clone, Copy, Debug)]
struct Dec {
    mant: i128,
    exp: i32,
}

impl Dec {
    /// decimal.NewFromFloat: the shortest decimal that reads back as `f`.
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        let text = format!("{f:e}");
        let (m, e) = text.split_once('e')?;
        let exp: i32 = e.parse().ok()?;
        let (int, frac) = m.split_once('.').unwrap_or((m, ""));
        let mant: i128 = format!("{int}{frac}").parse().ok()?;
        Some(Dec {
            mant,
            exp: exp - frac.len() as i32,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.mant, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// Both at the smaller exponent (None on overflow).
    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let e = a.exp.min(b.exp);
        let scale = |d: Dec| -> Option<i128> {
            let shift = u32::try_from(d.exp - e).ok()?;
            d.mant.checked_mul(10i128.checked_pow(shift)?)
        };
        Some((scale(a)?, scale(b)?, e))
    }

    fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, exp) = Dec::align(a, b)?;
        Some(Dec {
            mant: x.checked_add(y)?,
            exp,
        })
    }

    fn sub(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, exp) = Dec::align(a, b)?;
        Some(Dec {
            mant: x.checked_sub(y)?,
            exp,
        })
    }

    fn mul(a: Dec, b: Dec) -> Option<Dec> {
        Some(Dec {
            mant: a.mant.checked_mul(b.mant)?,
            exp: a.exp.checked_add(b.exp)?,
        })
    }

    /// decimal.Div: the quotient rounded half away from zero to 16 places.
    fn div(a: Dec, b: Dec) -> Option<Dec> {
        const PLACES: i32 = 16;
        let k = a.exp - b.exp + PLACES;
        let (num, den) = if k >= 0 {
            let p = 10i128.checked_pow(u32::try_from(k).ok()?)?;
            (a.mant.checked_mul(p)?, b.mant)
        } else {
            let p = 10i128.checked_pow(u32::try_from(-k).ok()?)?;
            (a.mant, b.mant.checked_mul(p)?)
        };
        let (mut q, r) = (num / den, num % den);
        if r.checked_mul(2)?.abs() >= den.abs() {
            q += if (num < 0) != (den < 0) { -1 } else { 1 };
        }
        Some(Dec {
            mant: q,
            exp: -PLACES,
        })
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// sprig's execDecimalOp: `a op b1 op b2 ...` in decimal, as a float64.
fn decimal_op(a: f64, rest: &[f64], op: Op) -> Result<f64, String> {
    let mut acc = a;
    for &b in rest {
        if matches!(op, Op::Div) && b == 0.0 {
            return Err("decimal division by zero".into());
        }
        let exact = Dec::from_f64(acc)
            .zip(Dec::from_f64(b))
            .and_then(|(x, y)| match op {
                Op::Add => Dec::add(x, y),
                Op::Sub => Dec::sub(x, y),
                Op::Mul => Dec::mul(x, y),
                Op::Div => Dec::div(x, y),
            });
        acc = match exact {
            Some(d) => d.to_f64(),
            None => match op {
                Op::Add => acc + b,
                Op::Sub => acc - b,
                Op::Mul => acc * b,
                Op::Div => acc / b,
            },
        };
    }
    Ok(acc)
}

fn floats(args: &[Value]) -> Vec<f64> {
    args.iter().map(to_f64).collect()
}

fn addf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Float(decimal_op(0.0, &floats(args), Op::Add)?))
}

fn add1f(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("add1f", args, 1)?;
    Ok(Value::Float(decimal_op(to_f64(&args[0]), &[1.0], Op::Add)?))
}

fn float_op(name: &str, args: &[Value], op: Op) -> Result<Value, String> {
    arity_min(name, args, 1)?;
    let v = decimal_op(to_f64(&args[0]), &floats(&args[1..]), op)?;
    Ok(Value::Float(v))
}

fn subf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    float_op("subf", args, Op::Sub)
}

fn mulf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    float_op("mulf", args, Op::Mul)
}

fn divf(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    float_op("divf", args, Op::Div)
}

fn floor(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("floor", args, 1)?;
    Ok(Value::Float(to_f64(&args[0]).floor()))
}

fn ceil(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("ceil", args, 1)?;
    Ok(Value::Float(to_f64(&args[0]).ceil()))
}

/// Go's math.Pow(10, p) for an integer p: exact products by squaring,
/// inverted for a negative p.
fn pow10(p: i64) -> f64 {
    let mut result = 1.0f64;
    let mut base = 10.0f64;
    let mut n = p.unsigned_abs();
    while n > 0 {
        if n & 1 == 1 {
            result *= base;
        }
        base *= base;
        n >>= 1;
    }
    if p < 0 {
        1.0 / result
    } else {
        result
    }
}

/// `round X PLACES [ROUND_ON]`: X rounded to PLACES decimals, up when the
/// dropped fraction is at least ROUND_ON (0.5).
fn round(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity_min("round", args, 2)?;
    let val = to_f64(&args[0]);
    let places = want_int(&args[1])?;
    let round_on = match args.get(2) {
        Some(r) => want_float(r)?,
        None => 0.5,
    };
    let pow = pow10(places);
    let digit = pow * val;
    let frac = digit - digit.trunc();
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(r / pow))
}

/// `int` and `int64`: cast.ToInt64.
fn int(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("int", args, 1)?;
    Ok(Value::Int(to_i64(&args[0])))
}

fn float64(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("float64", args, 1)?;
    Ok(Value::Float(to_f64(&args[0])))
}

/// `atoi S`: strconv.Atoi, 0 on error.
fn atoi(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    arity("atoi", args, 1)?;
    let s = want_str(&args[0])?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    Ok(Value::Int(if ok { s.parse().unwrap_or(0) } else { 0 }))
}

/// `randInt MIN MAX`: a number in [MIN, MAX).
fn rand_int(_: &mut dyn Host, args: &[Value]) -> Result<Value, String> {
    use std::hash::{BuildHasher, Hasher};
    arity("randInt", args, 2)?;
    let (lo, hi) = (want_int(&args[0])?, want_int(&args[1])?);
    let n = hi.wrapping_sub(lo);
    if n <= 0 {
        return Err("invalid argument to Intn".into());
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    let r = (h.finish() % n as u64) as i64;
    Ok(Value::Int(lo + r))
}

#[cfg(test)]
mod tests {
    use super::super::convert::tests::{call, check, s, Case};
    use super::*;

    #[test]
    fn math_functions() {
        let i = Value::Int;
        let f = Value::Float;
        let cases: Vec<Case> = vec![
            ("add", vec![i(1), f(2.9), s("3")], Ok(i(6))),
            ("add", vec![], Ok(i(0))),
            ("add1", vec![s("0x10")], Ok(i(17))),
            ("sub", vec![i(5), s("junk")], Ok(i(5))),
            ("mul", vec![i(2), i(3), f(4.5)], Ok(i(24))),
            ("div", vec![i(7), i(2)], Ok(i(3))),
            ("div", vec![i(-7), i(2)], Ok(i(-3))),
            ("div", vec![i(1), i(0)], Err(DIV_ZERO.into())),
            ("mod", vec![i(-7), i(3)], Ok(i(-1))),
            ("max", vec![i(1), f(5.5), i(3)], Ok(i(5))),
            ("biggest", vec![i(1)], Ok(i(1))),
            ("min", vec![i(1), i(-5), i(3)], Ok(i(-5))),
            ("maxf", vec![i(1), f(5.5), i(3)], Ok(f(5.5))),
            ("minf", vec![f(1.5), s("0.5")], Ok(f(0.5))),
            ("addf", vec![f(0.1), f(0.2)], Ok(f(0.3))),
            ("addf", vec![i(1), s("2.5")], Ok(f(3.5))),
            ("add1f", vec![f(0.1)], Ok(f(1.1))),
            ("subf", vec![f(0.3), f(0.1)], Ok(f(0.2))),
            ("mulf", vec![f(0.1), i(3)], Ok(f(0.3))),
            ("divf", vec![i(1), i(3)], Ok(f(0.3333333333333333))),
            ("divf", vec![i(2), i(3)], Ok(f(0.6666666666666667))),
            (
                "divf",
                vec![i(1), i(0)],
                Err("decimal division by zero".into()),
            ),
            ("floor", vec![f(-1.5)], Ok(f(-2.0))),
            ("ceil", vec![s("1.2")], Ok(f(2.0))),
            ("round", vec![f(123.555555), i(3)], Ok(f(123.556))),
            ("round", vec![f(2.5), i(0)], Ok(f(3.0))),
            ("round", vec![f(-2.5), i(0)], Ok(f(-3.0))),
            ("round", vec![f(1.35), i(1), f(0.6)], Ok(f(1.3))),
            ("int", vec![f(3.99)], Ok(i(3))),
            ("int64", vec![s("42")], Ok(i(42))),
            ("int", vec![s("4.2")], Ok(i(0))),
            ("float64", vec![s("1.5")], Ok(f(1.5))),
            ("atoi", vec![s("-12")], Ok(i(-12))),
            ("atoi", vec![s("0x1")], Ok(i(0))),
            ("atoi", vec![s(" 1")], Ok(i(0))),
            (
                "atoi",
                vec![i(1)],
                Err("wrong type for value; expected string; got int".into()),
            ),
            (
                "randInt",
                vec![i(5), i(5)],
                Err("invalid argument to Intn".into()),
            ),
        ];
        check(register, cases);
        for _ in 0..20 {
            let r = call(register, "randInt", &[i(3), i(6)]);
            assert!(matches!(r, Ok(Value::Int(3..=5))), "{r:?}");
        }
    }
}
