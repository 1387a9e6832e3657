//! Go's fmt output, case by case (expected values as Go 1.19 prints them).

use super::{sprint, sprint_value, sprintf, sprintln};
use crate::gotmpl::{Map, Value};

fn s(x: &str) -> Value {
    Value::from(x)
}

fn list(v: Vec<Value>) -> Value {
    Value::from(v)
}

#[test]
fn sprint_value_cases() {
    let mut m = Map::new();
    m.insert("b".into(), Value::Int(2));
    m.insert("a".into(), s("x"));
    let cases: Vec<(Value, &str)> = vec![
        (Value::Nil, "<nil>"),
        (Value::Bool(true), "true"),
        (Value::Int(-42), "-42"),
        (Value::Float(100000.0), "100000"),
        (Value::Float(1000000.0), "1e+06"),
        (Value::Float(123456789.0), "1.23456789e+08"),
        (Value::Float(0.0001), "0.0001"),
        (Value::Float(0.00001), "1e-05"),
        (Value::Float(1.5), "1.5"),
        (Value::Float(0.0), "0"),
        (Value::Float(-0.0), "-0"),
        (Value::Float(3.0), "3"),
        (Value::Float(1e21), "1e+21"),
        (Value::Float(1e100), "1e+100"),
        (Value::Float(5e-324), "5e-324"),
        (Value::Float(0.1 + 0.2), "0.30000000000000004"),
        (Value::Float(f64::NAN), "NaN"),
        (Value::Float(f64::INFINITY), "+Inf"),
        (Value::Float(f64::NEG_INFINITY), "-Inf"),
        (s("hi"), "hi"),
        (Value::Bytes(b"hi".to_vec().into()), "[104 105]"),
        (
            list(vec![s("a"), Value::Int(1), Value::Nil, Value::Float(2.5)]),
            "[a 1 <nil> 2.5]",
        ),
        (Value::from(m), "map[a:x b:2]"),
        (list(vec![]), "[]"),
        (Value::new_map(), "map[]"),
    ];
    for (v, want) in cases {
        assert_eq!(sprint_value(&v), want, "{v:?}");
    }
}

#[test]
fn sprint_spacing() {
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (vec![s("a"), s("b")], "ab"),
        (vec![Value::Int(1), Value::Int(2)], "1 2"),
        (vec![s("a"), Value::Int(1), s("b")], "a1b"),
        (vec![Value::Int(1), s("a"), Value::Int(2)], "1a2"),
        (vec![Value::Nil, Value::Nil], "<nil> <nil>"),
        (vec![Value::Float(1.0), Value::Bool(true)], "1 true"),
        (vec![], ""),
    ];
    for (args, want) in cases {
        assert_eq!(sprint(&args), want, "{args:?}");
    }
    assert_eq!(sprintln(&[s("a"), s("b"), Value::Int(3)]), "a b 3\n");
    assert_eq!(sprintln(&[]), "\n");
}

#[test]
fn sprintf_cases() {
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        ("%5.2f", vec![Value::Float(3.14158)], " 3.14"),
        ("%q", vec![s("a\"b")], r#""a\"b""#),
        ("%d", vec![Value::Int(42)], "42"),
        (
            "%5d|%-5d|%05d",
            vec![Value::Int(42), Value::Int(42), Value::Int(-42)],
            "   42|42   |-0042",
        ),
        ("%+d % d", vec![Value::Int(5), Value::Int(5)], "+5  5"),
        (
            "%x %X %#x %o %#o %O %b",
            vec![
                Value::Int(255),
                Value::Int(255),
                Value::Int(255),
                Value::Int(8),
                Value::Int(8),
                Value::Int(8),
                Value::Int(5),
            ],
            "ff FF 0xff 10 010 0o10 101",
        ),
        ("%x", vec![Value::Int(-255)], "-ff"),
        ("%#08x", vec![Value::Int(255)], "0x000000ff"),
        ("%.3d", vec![Value::Int(7)], "007"),
        ("%.0d|", vec![Value::Int(0)], "|"),
        (
            "%c%c",
            vec![Value::Int(72), Value::Int(0x4E16)],
            "H\u{4E16}",
        ),
        ("%q", vec![Value::Int(65)], "'A'"),
        (
            "%U %#U",
            vec![Value::Int(0x1F600), Value::Int(65)],
            "U+1F600 U+0041 'A'",
        ),
        ("%s", vec![Value::Int(5)], "%!s(int=5)"),
        ("%d", vec![s("foo")], "%!d(string=foo)"),
        ("%d", vec![Value::Nil], "%!d(<nil>)"),
        ("%v %s", vec![Value::Nil, Value::Nil], "<nil> %!s(<nil>)"),
        ("%s", vec![], "%!s(MISSING)"),
        ("x", vec![s("x")], "x%!(EXTRA string=x)"),
        (
            "%d",
            vec![Value::Int(1), Value::Int(2), Value::Nil],
            "1%!(EXTRA int=2, <nil>)",
        ),
        ("%%|%5%|%", vec![], "%|%|%!(NOVERB)"),
        ("%[2]d %[1]d", vec![Value::Int(1), Value::Int(2)], "2 1"),
        ("%[3]d", vec![Value::Int(1)], "%!d(BADINDEX)"),
        (
            "%[2]d %d",
            vec![Value::Int(1), Value::Int(2), Value::Int(3)],
            "2 3",
        ),
        (
            "%*d|%-*d",
            vec![Value::Int(4), Value::Int(7), Value::Int(3), Value::Int(7)],
            "   7|7  ",
        ),
        ("%.*f", vec![Value::Int(1), Value::Float(2.25)], "2.2"),
        (
            "%*d",
            vec![Value::Float(4.0), Value::Int(7)],
            "%!(BADWIDTH)7",
        ),
        (
            "%e %E",
            vec![Value::Float(123456.789), Value::Float(0.0)],
            "1.234568e+05 0.000000E+00",
        ),
        (
            "%f %.0f %.1f",
            vec![Value::Float(1.0), Value::Float(2.5), Value::Float(0.25)],
            "1.000000 2 0.2",
        ),
        (
            "%g %g %.3g %.3g",
            vec![
                Value::Float(1e6),
                Value::Float(1e-7),
                Value::Float(1234.0),
                Value::Float(1.0),
            ],
            "1e+06 1e-07 1.23e+03 1",
        ),
        ("%G", vec![Value::Float(1e-7)], "1E-07"),
        (
            "%#g %#.3g %#v",
            vec![Value::Float(1.0), Value::Float(2.0), Value::Float(1.0)],
            "1.00000 2.00 1",
        ),
        (
            "%+.2f|% .2f|%08.3f|%-8.2f|",
            vec![
                Value::Float(1.5),
                Value::Float(1.5),
                Value::Float(-3.14158),
                Value::Float(2.0),
            ],
            "+1.50| 1.50|-003.142|2.00    |",
        ),
        (
            "%5.1f|%05v",
            vec![Value::Float(f64::NAN), Value::Float(f64::INFINITY)],
            "  NaN| +Inf",
        ),
        ("%b", vec![Value::Float(1.0)], "4503599627370496p-52"),
        (
            "%x %X",
            vec![Value::Float(1.0), Value::Float(-3.0)],
            "0x1p+00 -0X1.8P+01",
        ),
        ("%d", vec![Value::Float(1.0)], "%!d(float64=1)"),
        (
            "%t %t",
            vec![Value::Bool(true), s("x")],
            "true %!t(string=x)",
        ),
        (
            "%5s|%-5s|%.2s|%05s",
            vec![s("ab"), s("ab"), s("abc"), s("ab")],
            "   ab|ab   |ab|000ab",
        ),
        (
            "%x % x %#x %X",
            vec![s("hi"), s("hi"), s("hi"), s("\u{ff}")],
            "6869 68 69 0x6869 C3BF",
        ),
        (
            "%q %+q %#q %#q",
            vec![s("é\n"), s("é"), s("a`b"), s("ab")],
            "\"é\\n\" \"\\u00e9\" \"a`b\" `ab`",
        ),
        (
            "%v %s %x",
            vec![
                Value::Bytes(b"hi".to_vec().into()),
                Value::Bytes(b"hi".to_vec().into()),
                Value::Bytes(b"hi".to_vec().into()),
            ],
            "[104 105] hi 6869",
        ),
        (
            "%#v",
            vec![Value::Bytes(b"hi".to_vec().into())],
            "[]byte{0x68, 0x69}",
        ),
        (
            "%d",
            vec![list(vec![Value::Int(1), s("a")])],
            "[1 %!d(string=a)]",
        ),
        (
            "%5v",
            vec![list(vec![Value::Int(1), Value::Int(2)])],
            "[    1     2]",
        ),
        (
            "%#v",
            vec![list(vec![Value::Int(1), s("a"), Value::Nil])],
            "[]interface {}{1, \"a\", interface {}(nil)}",
        ),
        (
            "%T %T %T %T %T",
            vec![
                Value::Int(1),
                s("a"),
                Value::Float(1.0),
                Value::Nil,
                list(vec![]),
            ],
            "int string float64 <nil> []interface {}",
        ),
        ("%v|%6.2v", vec![s("héllo"), s("héllo")], "héllo|    hé"),
        ("%s", vec![Value::Bool(false)], "%!s(bool=false)"),
        ("%5d", vec![s("ab")], "%!d(string=   ab)"),
        ("%.2f", vec![Value::Float(1.005)], "1.00"),
        ("%.1f", vec![Value::Float(0.05)], "0.1"),
        ("%6.3v", vec![Value::Float(3.14158)], "  3.14"),
        ("%-+5d|", vec![Value::Int(3)], "+3   |"),
        ("%!", vec![], "%!!(MISSING)"),
    ];
    for (format, args, want) in cases {
        assert_eq!(
            sprintf(format, &args),
            want,
            "format {format:?} args {args:?}"
        );
    }
}
