//! Input positions and the unmapped-input report.

use crate::tree::{Document, Node};

use super::value::Item;
use super::Run;

/// Where an input node is: 1-based line and column, and a readable path such
/// as `/domain/devices/disk[2]/@type`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputPos {
    /// 0 (and `col` 0) for a node of a document the stage before built,
    /// which has no text to point into: then `path` is the place.
    pub line: u32,
    #[serde(rename = "column")]
    pub col: u32,
    pub path: String,
}

/// `line:col ` of a node, or nothing for a node of a built document.
pub fn at(line: u32, col: u32) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("{line}:{col} ")
    }
}

/// An input node that no rule matched, read, copied or dropped.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unmapped {
    pub line: u32,
    pub col: u32,
    pub path: String,
    pub kind: &'static str,
    pub reason: String,
}

/// An input node a mapping dropped on purpose, with its reason.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dropped {
    pub line: u32,
    pub col: u32,
    pub path: String,
    pub reason: String,
    pub mapping: String,
}

pub fn pos(doc: &Document, lines: &crate::diag::LineIndex, item: Item) -> InputPos {
    pos_with(doc, lines, item, None)
}

/// [`pos`], with sibling positions from a [`SiblingIndex`] when there is one.
pub fn pos_with(
    doc: &Document,
    lines: &crate::diag::LineIndex,
    item: Item,
    sib: Option<&SiblingIndex>,
) -> InputPos {
    let (offset, path) = match item {
        Item::Node(n) => (n.position(), node_path_with(n, sib)),
        Item::Attr(n, i) => match n.attributes().nth(i as usize) {
            Some(a) => (
                a.position(),
                format!(
                    "{}/@{}",
                    node_path_with(n, sib),
                    attr_qualified(a.name(), a.namespace(), n)
                ),
            ),
            None => (n.position(), node_path_with(n, sib)),
        },
    };
    // A document built by the stage before has no text to point into.
    let (line, col) = match offset {
        Some(o) => lines.line_col(doc.input_text(), o),
        None => (0, 0),
    };
    InputPos {
        line: line as u32,
        col: col as u32,
        path,
    }
}

fn qualified(local: &str, ns: Option<&str>, scope: Node) -> String {
    match ns.and_then(|u| scope.lookup_prefix(u)) {
        Some(p) if !p.is_empty() => format!("{p}:{local}"),
        _ => local.to_string(),
    }
}

/// Attributes never take the default namespace: find a real prefix.
fn attr_qualified(local: &str, ns: Option<&str>, scope: Node) -> String {
    match ns {
        None => local.to_string(),
        Some(u) => match scope
            .namespaces()
            .find(|n| n.uri() == u && n.name().is_some())
        {
            Some(n) => format!("{}:{local}", n.name().unwrap_or_default()),
            None => local.to_string(),
        },
    }
}

/// `/a/b[2]/text()`: element names with their index among same-named
/// siblings when there is more than one.
/// For each element: its 1-based position among same-named siblings and
/// how many there are, computed in one pass (paths of many nodes stay linear).
pub struct SiblingIndex(Vec<(u32, u32)>);

impl SiblingIndex {
    pub fn new(doc: &Document) -> Self {
        let mut v = vec![(0u32, 0u32); doc.descendants().len()];
        let mut counts: std::collections::HashMap<(Option<&str>, &str), u32> =
            std::collections::HashMap::new();
        for p in doc.descendants().filter(|n| n.is_element() || n.is_root()) {
            counts.clear();
            for c in p.children().filter(|c| c.is_element()) {
                let k = counts
                    .entry((c.tag_name().namespace(), c.tag_name().name()))
                    .or_insert(0);
                *k += 1;
                v[c.id().get_usize()].0 = *k;
            }
            for c in p.children().filter(|c| c.is_element()) {
                v[c.id().get_usize()].1 = counts[&(c.tag_name().namespace(), c.tag_name().name())];
            }
        }
        SiblingIndex(v)
    }
}

fn node_path_with(n: Node, sib: Option<&SiblingIndex>) -> String {
    let mut parts = Vec::new();
    let mut cur = Some(n);
    while let Some(c) = cur {
        if c.is_root() {
            break;
        }
        if c.is_element() {
            let name = c.tag_name();
            let q = qualified(name.name(), name.namespace(), c);
            let (idx, total) = match sib {
                Some(SiblingIndex(v)) => {
                    let (i, t) = v[c.id().get_usize()];
                    (i as usize - 1, t as usize)
                }
                None => {
                    let same = |s: &Node| s.is_element() && s.tag_name() == name;
                    let idx = c.prev_siblings().skip(1).filter(same).count();
                    (idx, idx + c.next_siblings().filter(same).count())
                }
            };
            if total > 1 {
                parts.push(format!("{q}[{}]", idx + 1));
            } else {
                parts.push(q);
            }
        } else if c.is_text() {
            parts.push("text()".to_string());
        }
        cur = c.parent();
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

/// Every element, attribute and non-blank text the run never touched. An
/// untouched element is reported once, not with each descendant.
pub(super) fn unmapped(r: &Run, detail: bool) -> (usize, Vec<Unmapped>) {
    if !detail {
        return (walk(r, None), Vec::new());
    }
    let mut found = Vec::new();
    let count = walk(r, Some(&mut found));
    let sib = SiblingIndex::new(r.doc);
    let out = found
        .into_iter()
        .map(|(item, kind, inside)| {
            let p = pos_with(r.doc, r.lines(), item, Some(&sib));
            let reason = match kind {
                "element" if inside == 1 => {
                    "no rule matched this element (1 node inside it)".to_string()
                }
                "element" if inside > 0 => {
                    format!("no rule matched this element ({inside} nodes inside it)")
                }
                "element" => "no rule matched this element".to_string(),
                "attribute" => "no rule read this attribute".to_string(),
                _ => "no rule read this text".to_string(),
            };
            Unmapped {
                line: p.line,
                col: p.col,
                path: p.path,
                kind,
                reason,
            }
        })
        .collect();
    (count, out)
}

/// The first node (in document order) the run never touched.
pub(super) fn first_unmapped<'a, 'i>(r: &Run<'_, 'a, 'i>) -> Option<Item<'a, 'i>> {
    all_unmapped(r).first().copied()
}

/// Every node the run never touched (an element once, not with what is
/// inside it), in document order.
pub(super) fn all_unmapped<'a, 'i>(r: &Run<'_, 'a, 'i>) -> Vec<Item<'a, 'i>> {
    let mut found = Vec::new();
    walk(r, Some(&mut found));
    found.into_iter().map(|f| f.0).collect()
}

/// `element `name``, `attribute `name``, `text`: what an item is, for messages.
pub(super) fn describe(item: Item) -> String {
    match item {
        Item::Node(n) if n.is_element() => format!("element `{}`", n.tag_name().name()),
        Item::Node(_) => "text".to_string(),
        Item::Attr(n, i) => format!(
            "attribute `{}`",
            n.attributes()
                .nth(i as usize)
                .map(|a| a.name())
                .unwrap_or("?")
        ),
    }
}

type Found<'a, 'i> = Vec<(Item<'a, 'i>, &'static str, usize)>;

/// Counts the untouched nodes and, given `out`, lists each with the number
/// of nodes inside it (for an element's reason).
///
/// One pass over the nodes in document order (roxmltree keeps them in one
/// array), skipping the inside of each untouched element.
fn walk<'a, 'i>(r: &Run<'_, 'a, 'i>, mut out: Option<&mut Found<'a, 'i>>) -> usize {
    let detail = out.is_some();
    let mut count = 0;
    let mut push = |it: Item<'a, 'i>, kind: &'static str, inside: usize| {
        count += 1;
        if let Some(o) = out.as_deref_mut() {
            o.push((it, kind, inside));
        }
    };
    let mut skip_until = 0;
    for c in r.doc.descendants() {
        let id = c.id().get_usize();
        if id < skip_until {
            continue;
        }
        if c.is_element() {
            if !r.touched[id] {
                let len = c.descendants().len();
                let inside = if detail {
                    len - 1 + c.attributes().len()
                } else {
                    0
                };
                push(Item::Node(c), "element", inside);
                skip_until = id + len;
                continue;
            }
            let n = c.attributes().len();
            if n > 0 && (n > 64 || r.touched_attr[id] != super::all_attrs(n)) {
                for k in 0..n {
                    if !r.attr_touched(id, k) {
                        push(Item::Attr(c, k as u32), "attribute", 0);
                    }
                }
            }
        } else if c.is_text() && !r.touched[id] && c.text().is_some_and(|t| !is_blank(t)) {
            push(Item::Node(c), "text", 0);
        }
    }
    count
}

/// Whitespace only (formatting, not data).
pub(super) fn is_blank(t: &str) -> bool {
    t.bytes().all(|b| b.is_ascii_whitespace()) || t.trim().is_empty()
}
