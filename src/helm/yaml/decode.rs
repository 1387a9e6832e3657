//! gopkg.in/yaml.v2's decoder into `interface{}` over a parsed [`Doc`]:
//! scalars resolved (YAML 1.1), mappings as `map[interface{}]interface{}`
//! where a later key overwrites an earlier one, `<<` merge keys merged in
//! place (so keys after `<<` win and keys before it lose, as in yaml.v2),
//! aliases decoded again at each use, with yaml.v2's guards against an
//! alias inside itself and against excessive aliasing.

use std::collections::{HashMap, HashSet};

use base64::Engine;

use super::node::{Doc, Node, NodeId};
use super::resolve::{self, BINARY, MERGE};
use super::Go;

/// Decodes the node `id` of `doc`; errors are yaml.v2's failf texts
/// without the `yaml: ` prefix.
pub fn decode(doc: &Doc, id: NodeId) -> Result<Go, String> {
    Decoder {
        doc,
        active: HashSet::new(),
        decode_count: 0,
        alias_count: 0,
        alias_depth: 0,
    }
    .value(id)
}

struct Decoder<'a> {
    doc: &'a Doc,
    /// Alias nodes being decoded (an alias met again is inside itself).
    active: HashSet<NodeId>,
    decode_count: usize,
    alias_count: usize,
    alias_depth: usize,
}

/// A map under construction, with Go's key equality.
#[derive(Default)]
struct MapBuilder {
    entries: Vec<(Go, Go)>,
    index: HashMap<KeyId, usize>,
}

/// A key as Go's map compares it: by dynamic type and value.
#[derive(Hash, PartialEq, Eq)]
enum KeyId {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(u64),
    Str(String),
}

impl MapBuilder {
    fn set(&mut self, k: Go, v: Go) {
        let id = match &k {
            Go::Nil => KeyId::Nil,
            Go::Bool(b) => KeyId::Bool(*b),
            Go::Int(i) => KeyId::Int(*i),
            Go::Uint(u) => KeyId::Uint(*u),
            Go::Float(f) => KeyId::Float(f.to_bits()),
            Go::Str(s) => KeyId::Str(s.clone()),
            // Rejected before they get here.
            Go::List(_) | Go::Map(_) => return,
        };
        match self.index.get(&id) {
            Some(&i) => self.entries[i].1 = v,
            None => {
                self.index.insert(id, self.entries.len());
                self.entries.push((k, v));
            }
        }
    }
}

/// yaml.v2's allowedAliasRatio.
fn allowed_alias_ratio(decode_count: usize) -> f64 {
    const LOW: usize = 400_000;
    const HIGH: usize = 4_000_000;
    match decode_count {
        n if n <= LOW => 0.99,
        n if n >= HIGH => 0.10,
        n => 0.99 - 0.89 * ((n - LOW) as f64 / (HIGH - LOW) as f64),
    }
}

impl Decoder<'_> {
    /// The bookkeeping at the top of yaml.v2's `unmarshal`.
    fn count(&mut self) -> Result<(), String> {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100
            && self.decode_count > 1000
            && self.alias_count as f64 / self.decode_count as f64
                > allowed_alias_ratio(self.decode_count)
        {
            return Err("document contains excessive aliasing".into());
        }
        Ok(())
    }

    fn value(&mut self, id: NodeId) -> Result<Go, String> {
        self.count()?;
        match &self.doc.nodes[id] {
            Node::Scalar {
                value,
                tag,
                implicit,
            } => scalar(value, tag, *implicit),
            Node::Sequence(kids) => kids
                .iter()
                .map(|&k| self.value(k))
                .collect::<Result<_, _>>()
                .map(Go::List),
            Node::Mapping(kids) => {
                let mut b = MapBuilder::default();
                self.mapping_into(kids, &mut b)?;
                Ok(Go::Map(b.entries))
            }
            Node::Alias { name, target } => {
                let target = *target;
                self.in_alias(id, name, |d| d.value(target))
            }
        }
    }

    /// Runs `f` as the decoding of alias node `id`.
    fn in_alias<T>(
        &mut self,
        id: NodeId,
        name: &str,
        f: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<T, String> {
        if !self.active.insert(id) {
            return Err(format!("anchor '{name}' value contains itself"));
        }
        self.alias_depth += 1;
        let r = f(self);
        self.alias_depth -= 1;
        self.active.remove(&id);
        r
    }

    fn mapping_into(&mut self, kids: &[NodeId], b: &mut MapBuilder) -> Result<(), String> {
        for pair in kids.chunks(2) {
            let (k, v) = match pair {
                [k, v] => (*k, *v),
                _ => return Err("mapping key without a value".into()),
            };
            if self.is_merge(k) {
                self.merge(v, b)?;
                continue;
            }
            let key = self.value(k)?;
            if matches!(key, Go::List(_) | Go::Map(_)) {
                return Err(format!("invalid map key: {}", go_syntax(&key)));
            }
            let val = self.value(v)?;
            b.set(key, val);
        }
        Ok(())
    }

    fn is_merge(&self, id: NodeId) -> bool {
        matches!(&self.doc.nodes[id],
            Node::Scalar { value, tag, implicit } if value == "<<" && (*implicit || tag == MERGE))
    }

    fn is_mapping(&self, id: NodeId) -> bool {
        matches!(self.doc.nodes[id], Node::Mapping(_))
    }

    /// yaml.v2's `merge`: a mapping, an alias of one, or a sequence of
    /// them (the earlier ones win, so they are merged last).
    fn merge(&mut self, id: NodeId, b: &mut MapBuilder) -> Result<(), String> {
        const WANT_MAP: &str = "map merge requires map or sequence of maps as the value";
        match &self.doc.nodes[id] {
            Node::Mapping(_) | Node::Alias { .. } => self.merge_one(id, b, WANT_MAP),
            Node::Sequence(kids) => {
                for &k in kids.iter().rev() {
                    self.merge_one(k, b, WANT_MAP)?;
                }
                Ok(())
            }
            Node::Scalar { .. } => Err(WANT_MAP.into()),
        }
    }

    /// Decodes mapping (or alias of a mapping) `id` into `b`.
    fn merge_one(&mut self, id: NodeId, b: &mut MapBuilder, want: &str) -> Result<(), String> {
        match &self.doc.nodes[id] {
            Node::Mapping(kids) => {
                self.count()?;
                self.mapping_into(kids, b)
            }
            Node::Alias { name, target } if self.is_mapping(*target) => {
                let target = *target;
                self.count()?;
                self.in_alias(id, name, |d| d.merge_one(target, b, want))
            }
            _ => Err(want.into()),
        }
    }
}

/// yaml.v2's `scalar` into interface{}: quoted and block scalars are
/// strings unless tagged; `!!binary` is base64-decoded.
fn scalar(value: &str, tag: &str, implicit: bool) -> Result<Go, String> {
    if tag.is_empty() && !implicit {
        return Ok(Go::Str(value.to_string()));
    }
    let (rtag, out) = resolve::resolve(tag, value)?;
    if rtag == BINARY {
        let clean: String = value
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect();
        let data = base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map_err(|_| "!!binary value contains invalid base64 data".to_string())?;
        return Ok(Go::Str(String::from_utf8_lossy(&data).into_owned()));
    }
    Ok(out)
}

/// Go's `%#v` of a decoded value, for "invalid map key" (close enough).
fn go_syntax(v: &Go) -> String {
    match v {
        Go::Nil => "interface {}(nil)".into(),
        Go::Bool(b) => b.to_string(),
        Go::Int(i) => i.to_string(),
        Go::Uint(u) => format!("0x{u:x}"),
        Go::Float(f) => format!("{f}"),
        Go::Str(s) => format!("{s:?}"),
        Go::List(l) => {
            let items: Vec<String> = l.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Go::Map(m) => {
            let mut items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_syntax(k), go_syntax(v)))
                .collect();
            items.sort();
            format!("map[interface {{}}]interface {{}}{{{}}}", items.join(", "))
        }
    }
}
