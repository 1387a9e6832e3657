//! The first document of a YAML stream as gopkg.in/yaml.v2's parser builds
//! it (`parser.parse`): a tree of scalar, sequence, mapping and alias nodes
//! in an arena, from yaml-rust2's events. Later documents are never read,
//! so errors in them go unseen, as in yaml.v2.
//!
//! Parse errors are worded as yaml.v2 words them: `line N: PROBLEM`, where
//! a scanner error gives the 1-based line and a parser error libyaml's
//! 0-based one (yaml.v2 adds 1 only to scanner errors).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Index of a node in [`Doc::nodes`].
pub type NodeId = usize;

/// One node of the document.
#[derive(Debug)]
pub enum Node {
    /// A scalar: its text, its long tag (`""` when none), and whether it is
    /// plain and untagged (libyaml's `plain_implicit`).
    Scalar {
        value: String,
        tag: String,
        implicit: bool,
    },
    /// A sequence of nodes.
    Sequence(Vec<NodeId>),
    /// A mapping: keys and values alternating.
    Mapping(Vec<NodeId>),
    /// An alias: the anchor's name and the node it names.
    Alias { name: String, target: NodeId },
}

/// A parsed document.
#[derive(Debug, Default)]
pub struct Doc {
    /// Every node; the root is `root`.
    pub nodes: Vec<Node>,
    /// The root node, `None` for an empty stream.
    pub root: Option<NodeId>,
}

/// Parses the first document of `text`.
pub fn parse_first(text: &str) -> Result<Doc, String> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        text,
        doc: Doc::default(),
        anchors: HashMap::new(),
    };
    loop {
        match b.next()? {
            (Event::StreamStart | Event::DocumentStart, _) => {}
            (Event::StreamEnd, _) => return Ok(b.doc),
            (ev, mark) => {
                let root = b.node(ev, mark)?;
                b.doc.root = Some(root);
                return Ok(b.doc);
            }
        }
    }
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    text: &'a str,
    doc: Doc,
    /// yaml-rust2's anchor ids to the nodes they were set on.
    anchors: HashMap<usize, NodeId>,
}

impl Builder<'_> {
    fn next(&mut self) -> Result<(Event, Marker), String> {
        self.parser
            .next_token()
            .map_err(|e| scan_error(&e, self.text))
    }

    fn push(&mut self, n: Node, anchor: usize) -> NodeId {
        self.doc.nodes.push(n);
        let id = self.doc.nodes.len() - 1;
        if anchor != 0 {
            self.anchors.insert(anchor, id);
        }
        id
    }

    /// Builds the node that starts with `ev` (iteratively over collections,
    /// so deep nesting cannot overflow the stack).
    fn node(&mut self, ev: Event, mark: Marker) -> Result<NodeId, String> {
        // Open collections: (node id, children so far).
        let mut open: Vec<(NodeId, Vec<NodeId>)> = Vec::new();
        let (mut ev, mut mark) = (ev, mark);
        loop {
            let done = match ev {
                Event::Scalar(value, style, anchor, tag) => {
                    let implicit = style == TScalarStyle::Plain && tag.is_none();
                    let tag = long_tag(tag);
                    Some(self.push(
                        Node::Scalar {
                            value,
                            tag,
                            implicit,
                        },
                        anchor,
                    ))
                }
                Event::Alias(id) => {
                    let name = anchor_name(self.text, mark);
                    let Some(&target) = self.anchors.get(&id) else {
                        return Err(format!("unknown anchor '{name}' referenced"));
                    };
                    Some(self.push(Node::Alias { name, target }, 0))
                }
                Event::SequenceStart(anchor, _) => {
                    open.push((self.push(Node::Sequence(Vec::new()), anchor), Vec::new()));
                    None
                }
                Event::MappingStart(anchor, _) => {
                    open.push((self.push(Node::Mapping(Vec::new()), anchor), Vec::new()));
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (id, kids) = open.pop().ok_or("unbalanced YAML events")?;
                    match &mut self.doc.nodes[id] {
                        Node::Sequence(k) | Node::Mapping(k) => *k = kids,
                        _ => {}
                    }
                    Some(id)
                }
                other => return Err(format!("unexpected YAML event {other:?}")),
            };
            if let Some(id) = done {
                match open.last_mut() {
                    Some((_, kids)) => kids.push(id),
                    None => return Ok(id),
                }
            }
            (ev, mark) = self.next()?;
        }
    }
}

/// A tag as libyaml resolves it: `!!int` is `tag:yaml.org,2002:int`.
fn long_tag(tag: Option<Tag>) -> String {
    match tag {
        None => String::new(),
        Some(t) if t.handle.is_empty() => t.suffix,
        Some(t) => format!("{}{}", t.handle, t.suffix),
    }
}

/// The name of the alias or anchor at `mark` (`*name`), read from the text:
/// yaml-rust2 reports anchors by number only.
fn anchor_name(text: &str, mark: Marker) -> String {
    text.chars()
        .skip(mark.index() + 1)
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .collect()
}

/// A yaml-rust2 error worded as yaml.v2's `parser.fail` words libyaml's.
fn scan_error(e: &ScanError, text: &str) -> String {
    let info = e.info();
    let line = e.marker().line();
    if info == "while parsing node, found unknown anchor" {
        return format!(
            "unknown anchor '{}' referenced",
            anchor_name(text, *e.marker())
        );
    }
    // libyaml's problem only: drop the context ("while parsing a block
    // mapping, ").
    let problem = match info.split_once(", ") {
        Some((ctx, p)) if ctx.starts_with("while ") => p,
        _ => info,
    };
    let parser_error = info.starts_with("while parsing a block")
        || info.starts_with("while parsing a flow")
        || info.starts_with("while parsing a node")
        || info.starts_with("did not find expected <");
    let line = if parser_error {
        line.saturating_sub(1)
    } else {
        line
    };
    if line == 0 {
        problem.to_string()
    } else {
        format!("line {line}: {problem}")
    }
}
