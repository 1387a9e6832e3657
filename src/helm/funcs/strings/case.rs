//! Go's rune case mapping and the word functions sprig takes from
//! Masterminds/goutils (Abbreviate, Initials, SwapCase, Uncapitalize,
//! DeleteWhiteSpace, WrapCustom) and huandu/xstrings (ToSnakeCase,
//! ToCamelCase, ToKebabCase), with their byte-wise quirks kept.

/// unicode.ToUpper: the simple (one rune) mapping.
pub fn upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// unicode.ToLower: the simple (one rune) mapping.
pub fn lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// unicode.ToTitle: upper case, except the four digraphs' title forms.
pub fn title(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => upper(c),
    }
}

/// unicode.IsTitle (category Lt).
fn is_title(c: char) -> bool {
    matches!(c as u32, 0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F
        | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// unicode.IsPunct: exact for ASCII (`$+<=>^`|~` are symbols, not
/// punctuation), approximated by the common punctuation blocks beyond.
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c);
    }
    matches!(c as u32, 0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF
        | 0x2010..=0x2027 | 0x2030..=0x205E | 0x3001..=0x3003 | 0x3008..=0x3011
        | 0xFF01..=0xFF0F)
}

/// strings.Title (deprecated in Go, sprig's `title`).
pub fn go_title(s: &str) -> String {
    let separator = |r: char| {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphabetic() || r.is_numeric() {
            return false;
        }
        r.is_whitespace()
    };
    let mut prev = ' ';
    s.chars()
        .map(|r| {
            let out = if separator(prev) { title(r) } else { r };
            prev = r;
            out
        })
        .collect()
}

/// goutils.Uncapitalize: lower-cases the first rune of each word.
pub fn uncapitalize(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c
            } else if next {
                next = false;
                lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils.SwapCase: upper to lower, lower to title after a space, else upper.
pub fn swap_case(s: &str) -> String {
    let mut space = true;
    s.chars()
        .map(|c| {
            if c.is_uppercase() || is_title(c) {
                space = false;
                lower(c)
            } else if c.is_lowercase() {
                if space {
                    space = false;
                    title(c)
                } else {
                    upper(c)
                }
            } else {
                space = c.is_whitespace();
                c
            }
        })
        .collect()
}

/// A byte taken as a rune (Latin-1), as goutils' byte loops do.
fn byte_rune(b: u8) -> char {
    char::from(b)
}

/// goutils.Initials: byte-wise, so a multi-byte initial comes out as its
/// first byte read as Latin-1 (Go's quirk).
pub fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for b in s.bytes() {
        let c = byte_rune(b);
        if c.is_whitespace() {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils.DeleteWhiteSpace: byte-wise; unchanged when nothing is removed,
/// else every kept byte is re-encoded as a Latin-1 rune (Go's quirk).
pub fn delete_white_space(s: &str) -> String {
    if !s.bytes().any(|b| byte_rune(b).is_whitespace()) {
        return s.to_string();
    }
    s.bytes()
        .map(byte_rune)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// goutils.AbbreviateFull; errors become "" as sprig ignores them.
pub fn abbreviate_full(s: &str, offset: i64, max: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() || max < 4 {
        return String::new();
    }
    if len <= max {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    let bytes = s.as_bytes();
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if offset <= 4 {
        return lossy(&bytes[..(max - 3) as usize]) + "...";
    }
    if max < 7 {
        return String::new();
    }
    if offset + max - 3 < len {
        let rest = lossy(&bytes[offset as usize..]);
        return format!("...{}", abbreviate_full(&rest, 0, max - 3));
    }
    format!("...{}", lossy(&bytes[(len - (max - 3)) as usize..]))
}

/// goutils.WrapCustom (byte offsets, as Go's).
pub fn wrap_custom(s: &str, width: i64, newline: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut offset = 0;
    let mut out: Vec<u8> = Vec::new();
    while len - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = width + offset + 1;
        let space = b[offset..end].iter().rposition(|c| *c == b' ');
        if let Some(sp) = space {
            out.extend_from_slice(&b[offset..offset + sp]);
            out.extend_from_slice(newline.as_bytes());
            offset += sp + 1;
        } else if long_words {
            out.extend_from_slice(&b[offset..offset + width]);
            out.extend_from_slice(newline.as_bytes());
            offset += width;
        } else {
            let end = width + offset;
            match b[end..].iter().position(|c| *c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = len;
                }
                Some(i) => {
                    out.extend_from_slice(&b[offset..end + i]);
                    out.extend_from_slice(newline.as_bytes());
                    offset = end + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// xstrings' isAlphabet: letters that are not CJK ideographs.
fn is_alphabet(c: char) -> bool {
    c.is_alphabetic() && !matches!(c as u32, 0x4E00..=0x9FCC | 0x3400..=0x4D85 | 0x20000..=0x2B81D)
}

/// xstrings.ToCamelCase.
pub fn to_camel_case(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    let mut r0 = '\0';
    let mut found = false;
    for c in chars.by_ref() {
        if !is_connector(c) {
            r0 = upper(c);
            found = true;
            break;
        }
        out.push(c);
    }
    if !found {
        return out;
    }
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = upper(r0);
        } else {
            r0 = lower(r0);
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// Offset after the run of runes in `s[from..]` that satisfy `keep`, and
/// the first rune that does not (or the last one seen).
fn run_end(s: &str, from: usize, last: char, keep: impl Fn(char) -> bool) -> (usize, char) {
    let mut end = from;
    let mut r = last;
    for c in s[from..].chars() {
        r = c;
        if !keep(c) {
            break;
        }
        end += c.len_utf8();
    }
    (end, r)
}

/// xstrings' nextWord: the type and extent of the word at the start of `s`.
fn next_word(s: &str) -> (Word, &str, &str) {
    let Some(r) = s.chars().next() else {
        return (Word::Invalid, "", "");
    };
    let size = r.len_utf8();
    let (wt, offset) = if is_connector(r) {
        (Word::Connector, run_end(s, size, r, is_connector).0)
    } else if is_punct(r) {
        (Word::Punct, run_end(s, size, r, is_punct).0)
    } else if r.is_uppercase() {
        (Word::Upper, upper_word_end(s, size))
    } else if is_alphabet(r) {
        (
            Word::Alphabet,
            run_end(s, size, r, |c| is_alphabet(c) && !c.is_uppercase()).0,
        )
    } else if r.is_numeric() {
        (Word::Number, run_end(s, size, r, char::is_numeric).0)
    } else {
        let other = |c: char| !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c));
        (Word::Other, run_end(s, size, r, other).0)
    };
    (wt, &s[..offset], &s[offset..])
}

/// The end of an upper-case word starting at 0 (first rune `size` long):
/// "HTTPStatus" splits as "HTTP" + "Status", "Status" stays whole.
fn upper_word_end(s: &str, size: usize) -> usize {
    let Some(r) = s[size..].chars().next() else {
        return size;
    };
    if r.is_uppercase() {
        let mut offset = size;
        let mut prev = 0;
        let mut stop = r;
        let mut rest_nonempty = false;
        for c in s[size..].chars() {
            stop = c;
            if !c.is_uppercase() {
                rest_nonempty = true;
                break;
            }
            prev = c.len_utf8();
            offset += prev;
        }
        if rest_nonempty && is_alphabet(stop) {
            offset -= prev;
        }
        offset
    } else if is_alphabet(r) {
        run_end(s, size, r, |c| is_alphabet(c) && !c.is_uppercase()).0
    } else {
        size
    }
}

/// xstrings' toLower of one word.
fn word_lower(out: &mut String, wt: Word, word: &str, connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else if c.is_uppercase() {
            out.push(lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' camelCaseToLowerCase (ToSnakeCase with '_', ToKebabCase with '-').
pub fn camel_to_lower(s: &str, connector: char) -> String {
    let mut out = String::new();
    let (mut wt, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if wt != Word::Connector {
            word_lower(&mut out, wt, word, connector);
        }
        let (prev, last) = (wt, word);
        (wt, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    word_lower(&mut out, wt, word, connector);
                    (wt, word, rest) = next_word(rest);
                }
                if wt != Word::Invalid && wt != Word::Punct {
                    out.push(connector);
                }
            }
            Word::Connector => word_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if rest.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, rest) = next_word(rest);
                if wt != Word::Alphabet {
                    word_lower(&mut out, Word::Number, last, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                out.push(connector);
                word_lower(&mut out, Word::Number, last, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    word_lower(&mut out, wt, word, connector);
                    (wt, word, rest) = next_word(rest);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    out.push(connector);
                }
            }
        }
    }
    word_lower(&mut out, wt, word, connector);
    out
}
