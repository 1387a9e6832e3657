//! encoding/json's syntax check (its `checkValid` scanner) with Go's error
//! texts, run before decoding so that `fromJson` reports what Helm does:
//! `invalid character 'b' looking for beginning of object key string`,
//! `unexpected end of JSON input`.

const EOF: &str = "unexpected end of JSON input";

/// Go's `quoteChar`: `'x'`, `'\n'`, `'\''`, `'"'`.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        _ => {
            let ch = char::from(c);
            let q = match ch {
                '\n' => r"\n".to_string(),
                '\r' => r"\r".to_string(),
                '\t' => r"\t".to_string(),
                '\\' => r"\\".to_string(),
                '\x07' => r"\a".to_string(),
                '\x08' => r"\b".to_string(),
                '\x0c' => r"\f".to_string(),
                '\x0b' => r"\v".to_string(),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => format!(r"\x{:02x}", c as u32),
                c if (0x80..0xa0).contains(&(c as u32)) => format!(r"\u{:04x}", c as u32),
                c => c.to_string(),
            };
            format!("'{q}'")
        }
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Result<u8, String> {
        let c = self.peek().ok_or(EOF)?;
        self.i += 1;
        Ok(c)
    }

    /// The next byte, or the space Go's `scan.eof` feeds at the end (which
    /// a literal, number or escape in progress refuses: `'tru'` gives
    /// ``invalid character ' ' in literal true (expecting 'e')``).
    fn next_or_space(&mut self) -> u8 {
        self.next().unwrap_or(b' ')
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn bad(c: u8, context: &str) -> String {
        format!("invalid character {} {context}", quote_char(c))
    }

    fn value(&mut self) -> Result<(), String> {
        self.ws();
        match self.next()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b'-' => match self.next_or_space() {
                c @ b'0'..=b'9' => self.number(c),
                c => Err(Self::bad(c, "in numeric literal")),
            },
            c @ b'0'..=b'9' => self.number(c),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(Self::bad(c, "looking for beginning of value")),
        }
    }

    fn object(&mut self) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            match self.next()? {
                b'"' => self.string()?,
                c => return Err(Self::bad(c, "looking for beginning of object key string")),
            }
            self.ws();
            match self.next()? {
                b':' => {}
                c => return Err(Self::bad(c, "after object key")),
            }
            self.value()?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Ok(()),
                c => return Err(Self::bad(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.ws();
            match self.next()? {
                b',' => {}
                b']' => return Ok(()),
                c => return Err(Self::bad(c, "after array element")),
            }
        }
    }

    fn string(&mut self) -> Result<(), String> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next_or_space() {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let c = self.next_or_space();
                            if !c.is_ascii_hexdigit() {
                                return Err(Self::bad(c, r"in \u hexadecimal character escape"));
                            }
                        }
                    }
                    c => return Err(Self::bad(c, "in string escape code")),
                },
                c if c < 0x20 => return Err(Self::bad(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    /// The rest of a number whose first digit was `first`; what follows it
    /// is the enclosing value's business.
    fn number(&mut self, first: u8) -> Result<(), String> {
        if first != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            match self.next_or_space() {
                b'0'..=b'9' => self.digits(),
                c => return Err(Self::bad(c, "after decimal point in numeric literal")),
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let mut c = self.next_or_space();
            if c == b'+' || c == b'-' {
                c = self.next_or_space();
            }
            if !c.is_ascii_digit() {
                return Err(Self::bad(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        for want in word.bytes().skip(1) {
            let c = self.next_or_space();
            if c != want {
                let context = format!("in literal {word} (expecting {})", quote_char(want));
                return Err(Self::bad(c, &context));
            }
        }
        Ok(())
    }
}

/// encoding/json's `checkValid`: `Ok` when `text` is one JSON value.
pub fn check_valid(text: &str) -> Result<(), String> {
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    s.value()?;
    s.ws();
    match s.peek() {
        None => Ok(()),
        Some(c) => Err(Scanner::bad(c, "after top-level value")),
    }
}

#[cfg(test)]
mod tests {
    use super::check_valid;

    #[test]
    fn syntax_errors_in_gos_words() {
        let cases = [
            (
                "{bad",
                "invalid character 'b' looking for beginning of object key string",
            ),
            ("{", "unexpected end of JSON input"),
            ("", "unexpected end of JSON input"),
            ("  ", "unexpected end of JSON input"),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 \"b\"}",
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("1 2", "invalid character '2' after top-level value"),
            (
                "tru",
                "invalid character ' ' in literal true (expecting 'e')",
            ),
            ("-", "invalid character ' ' in numeric literal"),
            ("\"\\", "invalid character ' ' in string escape code"),
            ("\"abc", "unexpected end of JSON input"),
            (
                "\u{e9}",
                "invalid character 'Ã' looking for beginning of value",
            ),
            (
                "trx",
                "invalid character 'x' in literal true (expecting 'u')",
            ),
            (
                "nul1",
                "invalid character '1' in literal null (expecting 'l')",
            ),
            ("-x", "invalid character 'x' in numeric literal"),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                "1e+",
                "invalid character ' ' in exponent of numeric literal",
            ),
            (
                "1ex",
                "invalid character 'x' in exponent of numeric literal",
            ),
            ("01", "invalid character '1' after top-level value"),
            ("\"a\nb\"", "invalid character '\\n' in string literal"),
            ("\"\\x\"", "invalid character 'x' in string escape code"),
            (
                "\"\\u12g4\"",
                "invalid character 'g' in \\u hexadecimal character escape",
            ),
            (
                "'a'",
                "invalid character '\\'' looking for beginning of value",
            ),
            ("{\"a\":[1,{\"b\":null}],\"c\":-0.5e-3}", ""),
        ];
        for (text, want) in cases {
            let got = check_valid(text).err().unwrap_or_default();
            assert_eq!(got, want, "{text:?}");
        }
    }
}
