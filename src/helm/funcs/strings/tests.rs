//! sprig's string functions, case by case, with the values sprig v3.2.2
//! (goutils 1.1.1, xstrings 1.3.2) gives under Go 1.19.

use crate::gotmpl::format::sprint_value;
use crate::gotmpl::Value;

use crate::helm::funcs::convert::tests::{i, s, PrintedCase as Case};

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    crate::helm::funcs::convert::tests::call(super::register, name, args)
}

fn check(cases: Vec<Case>) {
    crate::helm::funcs::convert::tests::check_printed(super::register, cases)
}

#[test]
fn string_functions() {
    check(vec![
        ("abbrev", vec![i(5), s("hello world")], Ok("he...")),
        ("abbrev", vec![i(3), s("hello world")], Ok("hello world")),
        ("abbrev", vec![i(20), s("hello")], Ok("hello")),
        (
            "abbrevboth",
            vec![i(5), i(10), s("1234 5678 9123")],
            Ok("...5678..."),
        ),
        (
            "abbrevboth",
            vec![i(0), i(6), s("abcdefghij")],
            Ok("abc..."),
        ),
        ("trunc", vec![i(5), s("hello world")], Ok("hello")),
        ("trunc", vec![i(-5), s("hello world")], Ok("world")),
        ("trunc", vec![i(-50), s("hello")], Ok("hello")),
        ("trunc", vec![i(50), s("hello")], Ok("hello")),
        ("trim", vec![s("  a b \n")], Ok("a b")),
        ("trim", vec![Value::Nil], Ok("")),
        ("upper", vec![s("aBcß")], Ok("ABCß")),
        ("lower", vec![s("ABC")], Ok("abc")),
        ("upper", vec![i(5)], Ok("5")),
        (
            "title",
            vec![s("hello world-foo_bar")],
            Ok("Hello World-Foo_bar"),
        ),
        ("untitle", vec![s("Hello World")], Ok("hello world")),
        ("substr", vec![i(0), i(5), s("hello world")], Ok("hello")),
        ("substr", vec![i(-1), i(5), s("hello world")], Ok("hello")),
        ("substr", vec![i(6), i(-1), s("hello world")], Ok("world")),
        ("substr", vec![i(6), i(100), s("hello world")], Ok("world")),
        (
            "substr",
            vec![i(-1), i(50), s("abc")],
            Err("runtime error: slice bounds out of range [:50] with length 3"),
        ),
        (
            "substr",
            vec![i(5), i(-1), s("abc")],
            Err("runtime error: slice bounds out of range [5:3]"),
        ),
        (
            "substr",
            vec![i(2), i(1), s("abc")],
            Err("runtime error: slice bounds out of range [2:1]"),
        ),
        ("repeat", vec![i(3), s("ab")], Ok("ababab")),
        (
            "repeat",
            vec![i(-1), s("ab")],
            Err("strings: negative Repeat count"),
        ),
        ("trimAll", vec![s("$"), s("$$5.00$")], Ok("5.00")),
        ("trimall", vec![s("ab"), s("abcba")], Ok("c")),
        ("trimSuffix", vec![s("-"), s("hello-")], Ok("hello")),
        ("trimPrefix", vec![s("-"), s("-hello")], Ok("hello")),
        ("nospace", vec![s("hello w o r l d")], Ok("helloworld")),
        ("initials", vec![s("First Try")], Ok("FT")),
        ("swapcase", vec![s("This Is A.Test")], Ok("tHIS iS a.tEST")),
        ("swapcase", vec![s("hello world")], Ok("HELLO WORLD")),
        ("snakecase", vec![s("FirstName")], Ok("first_name")),
        ("snakecase", vec![s("HTTPServer")], Ok("http_server")),
        ("snakecase", vec![s("NoHTTPS")], Ok("no_https")),
        ("snakecase", vec![s("GO_PATH")], Ok("go_path")),
        ("snakecase", vec![s("GO PATH")], Ok("go_path")),
        ("snakecase", vec![s("GO-PATH")], Ok("go_path")),
        ("snakecase", vec![s("http2xx")], Ok("http_2xx")),
        ("snakecase", vec![s("HTTP20xOK")], Ok("http_20x_ok")),
        ("snakecase", vec![s("Duration2m3s")], Ok("duration_2m3s")),
        ("snakecase", vec![s("Bld4Floor3rd")], Ok("bld4_floor_3rd")),
        ("kebabcase", vec![s("FirstName")], Ok("first-name")),
        ("kebabcase", vec![s("HTTPServer")], Ok("http-server")),
        ("camelcase", vec![s("some_words")], Ok("SomeWords")),
        ("camelcase", vec![s("http_server")], Ok("HttpServer")),
        (
            "camelcase",
            vec![s("_complex__case_")],
            Ok("_Complex_Case_"),
        ),
        ("camelcase", vec![s("some words")], Ok("SomeWords")),
        ("wrap", vec![i(5), s("Hello World")], Ok("Hello\nWorld")),
        ("wrap", vec![i(3), s("abcdefg hi")], Ok("abcdefg\nhi")),
        (
            "wrapWith",
            vec![i(5), s("\t"), s("Hello World")],
            Ok("Hello\tWorld"),
        ),
        (
            "wrapWith",
            vec![i(3), s("|"), s("abcdefg")],
            Ok("abc|def|g"),
        ),
        ("contains", vec![s("cat"), s("catch")], Ok("true")),
        ("hasPrefix", vec![s("cat"), s("catch")], Ok("true")),
        ("hasSuffix", vec![s("cat"), s("catch")], Ok("false")),
        (
            "quote",
            vec![s("a\"b"), Value::Nil, i(1)],
            Ok(r#""a\"b" "1""#),
        ),
        ("quote", vec![Value::Nil], Ok("")),
        ("quote", vec![], Ok("")),
        (
            "squote",
            vec![s("a"), Value::Nil, Value::Float(1.5)],
            Ok("'a' '1.5'"),
        ),
        ("cat", vec![s("a"), Value::Nil, i(1), s("b")], Ok("a 1 b")),
        ("indent", vec![i(2), s("a\nb\n")], Ok("  a\n  b\n  ")),
        ("nindent", vec![i(2), s("a\nb")], Ok("\n  a\n  b")),
        ("replace", vec![s(" "), s("-"), s("a b c")], Ok("a-b-c")),
        ("replace", vec![s(""), s("-"), s("ab")], Ok("-a-b-")),
        ("plural", vec![s("one"), s("many"), i(1)], Ok("one")),
        ("plural", vec![s("one"), s("many"), i(2)], Ok("many")),
        (
            "split",
            vec![s("$"), s("foo$bar$baz")],
            Ok("map[_0:foo _1:bar _2:baz]"),
        ),
        ("splitList", vec![s(","), s("a,b,,c")], Ok("[a b  c]")),
        ("splitList", vec![s(""), s("abc")], Ok("[a b c]")),
        (
            "splitn",
            vec![s("$"), i(2), s("foo$bar$baz")],
            Ok("map[_0:foo _1:bar$baz]"),
        ),
        ("splitn", vec![s("$"), i(0), s("foo$bar")], Ok("map[]")),
        (
            "join",
            vec![
                s("-"),
                Value::from(vec![s("a"), Value::Nil, i(1), Value::Float(2.5)]),
            ],
            Ok("a-1-2.5"),
        ),
        ("join", vec![s(","), s("abc")], Ok("abc")),
        (
            "join",
            vec![s(","), Value::Bytes(b"hi".to_vec().into())],
            Ok("104,105"),
        ),
        (
            "trunc",
            vec![i(5)],
            Err("wrong number of args for trunc: want 2 got 1"),
        ),
    ]);
}

#[test]
fn regex_functions() {
    check(vec![
        (
            "regexMatch",
            vec![s("^[a-z]+@[a-z]+\\.com$"), s("test@acme.com")],
            Ok("true"),
        ),
        ("regexMatch", vec![s("("), s("x")], Ok("false")),
        (
            "mustRegexMatch",
            vec![s("("), s("x")],
            Err("error parsing regexp: missing closing ): `(`"),
        ),
        (
            "regexMatch",
            vec![s("^\\d+$"), s("\u{661}\u{662}")],
            Ok("false"),
        ),
        ("regexMatch", vec![s("^\\w+$"), s("é")], Ok("false")),
        (
            "regexFindAll",
            vec![s("[2,4,6,8]"), s("123456789"), i(-1)],
            Ok("[2 4 6 8]"),
        ),
        (
            "regexFindAll",
            vec![s("[2,4,6,8]"), s("123456789"), i(2)],
            Ok("[2 4]"),
        ),
        (
            "regexFindAll",
            vec![s("a*"), s("baaac"), i(-1)],
            Ok("[ aaa ]"),
        ),
        ("regexFindAll", vec![s("x"), s("abc"), i(0)], Ok("[]")),
        (
            "regexFind",
            vec![s("[a-zA-Z][1-9]"), s("abcd1234")],
            Ok("d1"),
        ),
        (
            "regexFind",
            vec![s("("), s("x")],
            Err("regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"),
        ),
        (
            "regexReplaceAll",
            vec![s("a(x*)b"), s("-ab-axxb-"), s("${1}W")],
            Ok("-W-xxW-"),
        ),
        (
            "regexReplaceAll",
            vec![s("a(x*)b"), s("-ab-axxb-"), s("$1W")],
            Ok("---"),
        ),
        (
            "regexReplaceAll",
            vec![s("a(?P<n>x*)b"), s("-axb-"), s("[$n]")],
            Ok("-[x]-"),
        ),
        (
            "regexReplaceAll",
            vec![s("a"), s("aaa"), s("$$")],
            Ok("$$$"),
        ),
        (
            "regexReplaceAll",
            vec![s("x*"), s("abc"), s("-")],
            Ok("-a-b-c-"),
        ),
        (
            "regexReplaceAllLiteral",
            vec![s("a(x*)b"), s("-ab-axxb-"), s("${1}")],
            Ok("-${1}-${1}-"),
        ),
        ("regexSplit", vec![s("z+"), s("pizza"), i(-1)], Ok("[pi a]")),
        ("regexSplit", vec![s("z+"), s("pizza"), i(1)], Ok("[pizza]")),
        ("regexSplit", vec![s(""), s("abc"), i(-1)], Ok("[a b c]")),
        ("regexSplit", vec![s("a"), s(""), i(-1)], Ok("[]")),
        (
            "regexQuoteMeta",
            vec![s("1.2+3[x]")],
            Ok("1\\.2\\+3\\[x\\]"),
        ),
        ("regexMatch", vec![s("[[]x"), s("[x")], Ok("true")),
        ("regexMatch", vec![s("\\Qa.b\\E"), s("a.b")], Ok("true")),
        ("regexMatch", vec![s("\\Qa.b\\E"), s("axb")], Ok("false")),
    ]);
}

#[test]
fn random_strings_have_the_right_shape() {
    type Shape = (&'static str, fn(char) -> bool);
    let shapes: [Shape; 4] = [
        ("randAlphaNum", |c| c.is_ascii_alphanumeric()),
        ("randAlpha", |c| c.is_ascii_alphabetic()),
        ("randNumeric", |c| c.is_ascii_digit()),
        ("randAscii", |c| (' '..='~').contains(&c)),
    ];
    for (name, ok) in shapes {
        let v = call(name, &[i(64)]).map(|v| sprint_value(&v));
        let v = v.unwrap_or_default();
        assert_eq!(v.len(), 64, "{name}");
        assert!(v.chars().all(ok), "{name}: {v}");
    }
    let shuffled = call("shuffle", &[s("abcdef")]).map(|v| sprint_value(&v));
    let mut chars: Vec<char> = shuffled.unwrap_or_default().chars().collect();
    chars.sort();
    assert_eq!(chars.into_iter().collect::<String>(), "abcdef");
}
