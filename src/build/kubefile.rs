//! The Kubefile parser: `&str` in, instructions with line numbers out. No I/O.
//!
//! Dockerfile syntax: case-insensitive keywords, `#` comment lines, `\` at the
//! end of a line continues it, JSON-array forms (`["a", "b"]`). Words are
//! split like Docker's shell lexer: quotes group, `\` escapes, and `$VAR`,
//! `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` expand outside single quotes.

use std::collections::HashMap;

/// One instruction of a Kubefile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// Keyword, uppercased.
    pub keyword: String,
    /// Everything after the keyword, continuation lines joined.
    pub rest: String,
    /// The JSON-array form, when `rest` is one.
    pub json: Option<Vec<String>>,
}

/// A parse error: (1-based line, message).
pub type ParseError = (usize, String);

/// Splits a Kubefile into instructions.
pub fn parse(text: &str) -> Result<Vec<Instruction>, ParseError> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_none()) {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        let (start, mut acc) = pending.take().unwrap_or((lineno, String::new()));
        if !acc.is_empty() && !body.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body.trim());
        if continues {
            pending = Some((start, acc));
        } else if !acc.is_empty() {
            out.push(instruction(start, &acc)?);
        }
    }
    if let Some((start, acc)) = pending {
        if !acc.is_empty() {
            out.push(instruction(start, &acc)?);
        }
    }
    Ok(out)
}

fn instruction(line: usize, text: &str) -> Result<Instruction, ParseError> {
    let (kw, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    if !kw.bytes().all(|c| c.is_ascii_alphabetic()) {
        return Err((line, format!("expected an instruction, found {kw:?}")));
    }
    let rest = rest.trim().to_string();
    let json = if rest.starts_with('[') {
        serde_json::from_str::<Vec<String>>(&rest).ok()
    } else {
        None
    };
    Ok(Instruction {
        line,
        keyword: kw.to_ascii_uppercase(),
        rest,
        json,
    })
}

/// Splits `s` into words, expanding variables from `vars` (unknown: empty).
pub fn words(s: &str, vars: &HashMap<String, String>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    // A word is kept when it has characters or quotes; `$EMPTY` alone vanishes.
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some('$') => cur.push_str(&variable(&mut chars, vars)?),
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            '$' => {
                cur.push_str(&variable(&mut chars, vars)?);
                in_word |= !cur.is_empty();
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Expands variables in `s` without splitting it (for JSON-form arguments).
pub fn expand(s: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                chars.next();
                out.push('$');
            }
            '$' => out.push_str(&variable(&mut chars, vars)?),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Reads a variable reference after `$`.
fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    vars: &HashMap<String, String>,
) -> Result<String, String> {
    let is_name = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    if chars.peek() == Some(&'{') {
        chars.next();
        let mut name = String::new();
        while let Some(c) = chars.next_if(is_name) {
            name.push(c);
        }
        let value = vars.get(&name).cloned().unwrap_or_default();
        match chars.next() {
            Some('}') => Ok(value),
            Some(':') => {
                let op = chars.next().ok_or("unterminated ${...}")?;
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ${{{name}:...}}")),
                    }
                }
                match op {
                    '-' => Ok(if value.is_empty() { word } else { value }),
                    '+' => Ok(if value.is_empty() {
                        String::new()
                    } else {
                        word
                    }),
                    other => Err(format!("unsupported modifier ':{other}' in ${{{name}}}")),
                }
            }
            _ => Err(format!("bad variable reference ${{{name}")),
        }
    } else {
        let mut name = String::new();
        while let Some(c) = chars.next_if(is_name) {
            name.push(c);
        }
        if name.is_empty() {
            return Ok("$".into());
        }
        Ok(vars.get(&name).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_table() {
        let text = "# comment\nFROM scratch\n\ncopy . . \nLABEL a=b \\\n  # inner comment\n  c=d\nCMD [\"kubectl\", \"apply\"]\nrun x \\";
        let got = parse(text).unwrap();
        let summary: Vec<(usize, &str, &str)> = got
            .iter()
            .map(|i| (i.line, i.keyword.as_str(), i.rest.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, "FROM", "scratch"),
                (4, "COPY", ". ."),
                (5, "LABEL", "a=b c=d"),
                (8, "CMD", r#"["kubectl", "apply"]"#),
                (9, "RUN", "x")
            ]
        );
        assert_eq!(
            got[3].json,
            Some(vec!["kubectl".to_string(), "apply".to_string()])
        );
        assert_eq!(parse("FROM x\n!!! y").unwrap_err().0, 2);
    }

    #[test]
    fn words_and_variables() {
        let vars: HashMap<String, String> = [
            ("A".to_string(), "one".to_string()),
            ("ARCH".into(), "amd64".into()),
        ]
        .into();
        let cases = [
            ("a b  c", vec!["a", "b", "c"]),
            ("$A ${A}x", vec!["one", "onex"]),
            ("'$A' \"$A b\"", vec!["$A", "one b"]),
            ("k=\"v w\" x\\ y", vec!["k=v w", "x y"]),
            ("${B:-def} ${A:+alt} ${B:+alt}", vec!["def", "alt"]),
            ("bin/kubectl-${ARCH}", vec!["bin/kubectl-amd64"]),
        ];
        for (input, want) in cases {
            assert_eq!(words(input, &vars).unwrap(), want, "{input}");
        }
        assert!(words("'open", &vars).is_err());
        assert!(words("${A", &vars).is_err());
        assert_eq!(expand("x/${A}/\\$A", &vars).unwrap(), "x/one/$A");
    }
}
