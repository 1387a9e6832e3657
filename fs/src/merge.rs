//! Overlay rules over a stack of layer indexes, pure and without I/O.
//!
//! The stack is ordered top layer first. The rules are the kernel overlayfs
//! rules for the same layers unpacked:
//! - a whiteout hides the name in every layer below it;
//! - a non-directory hides everything below it at that path;
//! - directories merge until an opaque one, which hides those below;
//! - a directory's attributes come from the topmost layer that has it;
//! - whiteouts themselves are never visible.

use std::collections::BTreeSet;

use crate::index::{EntryId, Kind, LayerIndex, ROOT};

/// One entry of one layer: the layer's position in the stack (0 = top).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    /// Position of the layer in the stack, 0 being the top.
    pub layer: usize,
    /// Entry within that layer's index.
    pub id: EntryId,
}

/// A visible entry of the merged tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merged {
    /// A directory, with every layer's part of it, top first. The first part
    /// gives the attributes.
    Dir(Vec<Node>),
    /// Anything else: the topmost layer's entry.
    Leaf(Node),
}

impl Merged {
    /// The entry whose attributes the merged entry shows.
    pub fn top(&self) -> Node {
        match self {
            Merged::Dir(parts) => parts[0],
            Merged::Leaf(n) => *n,
        }
    }
}

/// The merged root: the root directory of every layer until an opaque one.
pub fn root(stack: &[&LayerIndex]) -> Merged {
    let mut parts = Vec::new();
    for (layer, idx) in stack.iter().enumerate() {
        parts.push(Node { layer, id: ROOT });
        if idx.meta(ROOT).opaque {
            break;
        }
    }
    if parts.is_empty() {
        // An image without layers still has an (empty) root; callers pass at
        // least one layer, but be total rather than panic.
        return Merged::Dir(Vec::new());
    }
    Merged::Dir(parts)
}

/// Looks up `name` in the merged directory `parts`.
pub fn lookup(stack: &[&LayerIndex], parts: &[Node], name: &[u8]) -> Option<Merged> {
    let mut dirs = Vec::new();
    for part in parts {
        let idx = stack[part.layer];
        let Some(id) = idx.lookup(part.id, name) else {
            continue;
        };
        let node = Node {
            layer: part.layer,
            id,
        };
        match idx.kind(id) {
            Kind::Whiteout => break,
            Kind::Dir => {
                dirs.push(node);
                if idx.meta(id).opaque {
                    break;
                }
            }
            _ if dirs.is_empty() => return Some(Merged::Leaf(node)),
            _ => break,
        }
    }
    if dirs.is_empty() {
        None
    } else {
        Some(Merged::Dir(dirs))
    }
}

/// The visible children of the merged directory `parts`, sorted by name.
pub fn read_dir<'a>(stack: &[&'a LayerIndex], parts: &[Node]) -> Vec<(&'a [u8], Merged)> {
    let mut names: BTreeSet<&'a [u8]> = BTreeSet::new();
    for part in parts {
        let idx = stack[part.layer];
        names.extend(idx.children(part.id).map(|c| idx.name(c)));
    }
    names
        .into_iter()
        .filter_map(|name| lookup(stack, parts, name).map(|m| (name, m)))
        .collect()
}

/// Resolves a slash-separated path from the root without following symlinks.
pub fn resolve(stack: &[&LayerIndex], path: &[u8]) -> Option<Merged> {
    let mut cur = root(stack);
    for part in path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
    {
        let Merged::Dir(parts) = &cur else {
            return None;
        };
        cur = lookup(stack, parts, part)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests;
