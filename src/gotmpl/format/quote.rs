//! Go's strconv quoting (`Quote`, `QuoteToASCII`, `QuoteRune`,
//! `CanBackquote`) and an approximation of `unicode.IsPrint`.

/// Go's unicode.IsPrint, approximated without Unicode category tables:
/// controls, spaces other than U+0020, format characters, private use and
/// noncharacters are not printable; unassigned code points are taken as
/// printable (Go says they are not).
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x13438
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFDD0..=0xFDEF);
    !format_or_private && (u & 0xFFFE) != 0xFFFE
}

/// Appends `c` escaped as Go's appendEscapedRune does.
fn escape_rune(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// strconv.Quote: a double-quoted Go string literal.
pub fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// strconv.QuoteToASCII: as [`quote`], with every non-ASCII rune escaped.
pub fn quote_ascii(s: &str) -> String {
    quote_with(s, '"', true)
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    quote_bytes(s.as_bytes(), q, ascii_only)
}

/// Quotes bytes that may not be UTF-8: invalid bytes become `\xhh`.
pub fn quote_bytes(b: &[u8], q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push(q);
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            escape_rune(&mut out, c, q, ascii_only);
        }
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out.push(q);
    out
}

/// strconv.QuoteRune (or QuoteRuneToASCII): a single-quoted rune literal.
pub fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    escape_rune(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// strconv.CanBackquote: whether `s` fits in a raw string literal.
pub fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '\u{feff}' && c != '`' && c != '\x7f' && (c >= ' ' || c == '\t'))
}
