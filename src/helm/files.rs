//! `.Files`: the chart's non-template files by path (Helm's `engine.files`,
//! a Go map, so templates may `range` and `index` it), with Get, GetBytes,
//! Glob (gobwas/glob with `/` as separator), Lines, AsConfig and AsSecrets.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use regex::Regex;

use super::chart::File;
use super::funcs::to_yaml;
use crate::gotmpl::{Map, Object, Value};

/// A chart's files, by path.
#[derive(Clone, Default)]
pub struct Files(pub BTreeMap<String, Rc<[u8]>>);

impl Files {
    /// The files of a chart (`newFiles`).
    pub fn new(files: &[File]) -> Files {
        Files(
            files
                .iter()
                .map(|f| (f.name.clone(), f.data.clone()))
                .collect(),
        )
    }

    /// `Glob`: the files whose path matches a gobwas pattern (every file
    /// when the pattern does not compile, as Helm falls back to `**`).
    pub fn glob(&self, pattern: &str) -> Files {
        let re = glob_regex(pattern);
        Files(
            self.0
                .iter()
                .filter(|(name, _)| re.as_ref().is_none_or(|r| r.is_match(name)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    fn as_yaml_map(&self, f: impl Fn(&[u8]) -> String) -> String {
        let mut m = Map::new();
        for (k, v) in &self.0 {
            let base = k.rsplit('/').next().unwrap_or(k);
            m.insert(base.to_string(), Value::from(f(v)));
        }
        to_yaml(&Value::from(m))
    }

    /// `AsConfig`: base names to contents, as YAML.
    pub fn as_config(&self) -> String {
        self.as_yaml_map(|d| String::from_utf8_lossy(d).into_owned())
    }

    /// `AsSecrets`: base names to base64 of contents, as YAML.
    pub fn as_secrets(&self) -> String {
        self.as_yaml_map(|d| base64::engine::general_purpose::STANDARD.encode(d))
    }

    fn bytes(&self, name: &str) -> Option<&Rc<[u8]>> {
        self.0.get(name)
    }
}

fn one_string<'a>(method: &str, args: &'a [Value]) -> Result<&'a str, String> {
    match args {
        [Value::Str(s)] => Ok(s),
        [other] => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        _ => Err(format!(
            "wrong number of args for {method}: want 1 got {}",
            args.len()
        )),
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }

    fn kind(&self) -> &str {
        "map"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let none = |args: &[Value]| {
            if args.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "wrong number of args for {name}: want 0 got {}",
                    args.len()
                ))
            }
        };
        Some(match name {
            "Get" => one_string(name, args).map(|p| {
                let data = self
                    .bytes(p)
                    .map(|d| String::from_utf8_lossy(d).into_owned());
                Value::from(data.unwrap_or_default())
            }),
            "GetBytes" => one_string(name, args).map(|p| {
                Value::Bytes(
                    self.bytes(p)
                        .cloned()
                        .unwrap_or_else(|| Rc::from(Vec::new())),
                )
            }),
            "Glob" => one_string(name, args).map(|p| Value::Object(Rc::new(self.glob(p)))),
            "Lines" => one_string(name, args).map(|p| {
                let lines = match self.bytes(p) {
                    None => Vec::new(),
                    Some(d) => String::from_utf8_lossy(d)
                        .split('\n')
                        .map(Value::from)
                        .collect(),
                };
                Value::from(lines)
            }),
            "AsConfig" => none(args).map(|_| Value::from(self.as_config())),
            "AsSecrets" => none(args).map(|_| Value::from(self.as_secrets())),
            _ => return None,
        })
    }

    fn to_data(&self) -> Value {
        Value::from(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::Bytes(v.clone())))
                .collect::<Map>(),
        )
    }

    fn truth(&self) -> bool {
        !self.0.is_empty()
    }
}

/// A gobwas/glob pattern (separator `/`) as an anchored regex: `*` within
/// a path segment, `**` across, `?` one character, `[a-z]`/`[!a-z]`,
/// `{a,b}`, `\` escapes. `None` when it does not compile (match all).
pub fn glob_regex(pattern: &str) -> Option<Regex> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("(?s)^");
    let (mut i, mut depth) = (0, 0usize);
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let close = chars[i + 1..].iter().position(|c| *c == ']')? + i + 1;
                let mut body: String = chars[i + 1..close].iter().collect();
                if body.is_empty() {
                    return None;
                }
                if let Some(rest) = body.strip_prefix('!') {
                    body = format!("^{rest}");
                }
                let escaped: String = body
                    .chars()
                    .enumerate()
                    .map(|(j, c)| match c {
                        '\\' | '[' | ']' | '&' | '~' => format!("\\{c}"),
                        '^' if j > 0 => "\\^".to_string(),
                        c => c.to_string(),
                    })
                    .collect();
                re.push('[');
                re.push_str(&escaped);
                re.push(']');
                i = close;
            }
            '{' => {
                depth += 1;
                re.push_str("(?:");
            }
            ',' if depth > 0 => re.push('|'),
            '}' if depth > 0 => {
                depth -= 1;
                re.push(')');
            }
            '\\' => {
                i += 1;
                re.push_str(&regex::escape(&chars.get(i)?.to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if depth > 0 {
        return None;
    }
    re.push('$');
    Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let cases = [
            ("files/*", "files/a.txt", true),
            ("files/*", "files/x/a.txt", false),
            ("files/**", "files/x/a.txt", true),
            ("**.yaml", "a/b.yaml", true),
            ("*.{yaml,json}", "a.json", true),
            ("file?.txt", "file1.txt", true),
            ("[!a]*", "abc", false),
            ("[a-c]x", "bx", true),
            ("a.b", "axb", false),
        ];
        for (p, name, want) in cases {
            assert_eq!(glob_regex(p).unwrap().is_match(name), want, "{p} {name}");
        }
        assert!(glob_regex("{a,b").is_none());
    }

    #[test]
    fn files_methods() {
        let mut m = BTreeMap::new();
        m.insert("conf/a.txt".to_string(), Rc::from(b"x\ny".to_vec()));
        m.insert("conf/b.txt".to_string(), Rc::from(b"z".to_vec()));
        let f = Files(m);
        let get = |name: &str, args: Vec<Value>| f.member(name, &args).unwrap().unwrap();
        assert_eq!(
            format!("{:?}", get("Get", vec!["conf/a.txt".into()])),
            "\"x\\ny\""
        );
        assert_eq!(format!("{:?}", get("Get", vec!["nope".into()])), "\"\"");
        assert_eq!(
            format!("{:?}", get("Lines", vec!["conf/a.txt".into()])),
            "[\"x\", \"y\"]"
        );
        assert_eq!(f.glob("conf/b*").0.len(), 1);
        assert!(f.member("Get", &[]).unwrap().is_err());
    }
}
