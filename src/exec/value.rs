//! Run-time values: node lists borrowed from the input, strings, integers,
//! booleans.

use std::borrow::Cow;

use crate::tree::Node;

/// One selected input node: an element/text/root node, or an attribute
/// (element + index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a, 'i> {
    Node(Node<'a, 'i>),
    Attr(Node<'a, 'i>, u32),
}

impl<'a, 'i> Item<'a, 'i> {
    /// Document-order key.
    pub fn key(&self) -> (usize, u32) {
        match self {
            Item::Node(n) => (n.id().get_usize(), 0),
            Item::Attr(n, i) => (n.id().get_usize(), *i + 1),
        }
    }
    /// Where the item is in the source text (None in a built document
    /// whose writer gave it no position).
    pub fn position(&self) -> Option<usize> {
        match self {
            Item::Node(n) => n.position(),
            Item::Attr(n, i) => n
                .attributes()
                .nth(*i as usize)
                .and_then(|a| a.position())
                .or_else(|| n.position()),
        }
    }

    pub fn node(&self) -> Node<'a, 'i> {
        match self {
            Item::Node(n) | Item::Attr(n, _) => *n,
        }
    }
    /// String value (XPath): text of all descendant text nodes, or the
    /// attribute value. Borrows when it can.
    pub fn string(&self) -> Cow<'a, str> {
        match self {
            Item::Attr(n, i) => match n.attributes().nth(*i as usize) {
                Some(a) => Cow::Borrowed(a.value()),
                None => Cow::Borrowed(""),
            },
            Item::Node(n) if n.is_text() => Cow::Borrowed(n.text().unwrap_or("")),
            Item::Node(n) => {
                let mut texts = n.descendants().filter(|d| d.is_text());
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(t), None) => Cow::Borrowed(t.text().unwrap_or("")),
                    (Some(a), Some(b)) => {
                        let mut s = String::new();
                        s.push_str(a.text().unwrap_or(""));
                        s.push_str(b.text().unwrap_or(""));
                        for t in texts {
                            s.push_str(t.text().unwrap_or(""));
                        }
                        Cow::Owned(s)
                    }
                }
            }
        }
    }
}

/// A node list. Most paths select one node, which is kept inline: no
/// allocation for it, or for a variable bound to it.
#[derive(Debug, Clone)]
pub enum Nodes<'a, 'i> {
    One(Item<'a, 'i>),
    /// Any other number of nodes, in document order.
    Many(Vec<Item<'a, 'i>>),
}

impl<'a, 'i> Nodes<'a, 'i> {
    pub fn into_vec(self) -> Vec<Item<'a, 'i>> {
        match self {
            Nodes::One(it) => vec![it],
            Nodes::Many(v) => v,
        }
    }
}

impl<'a, 'i> std::ops::Deref for Nodes<'a, 'i> {
    type Target = [Item<'a, 'i>];
    fn deref(&self) -> &[Item<'a, 'i>] {
        match self {
            Nodes::One(it) => std::slice::from_ref(it),
            Nodes::Many(v) => v,
        }
    }
}

impl<'a, 'i> From<Vec<Item<'a, 'i>>> for Nodes<'a, 'i> {
    fn from(v: Vec<Item<'a, 'i>>) -> Self {
        Nodes::Many(v)
    }
}

impl<'a, 'i> IntoIterator for Nodes<'a, 'i> {
    type Item = Item<'a, 'i>;
    type IntoIter = NodesIter<'a, 'i>;
    fn into_iter(self) -> NodesIter<'a, 'i> {
        match self {
            Nodes::One(it) => NodesIter::One(Some(it)),
            Nodes::Many(v) => NodesIter::Many(v.into_iter()),
        }
    }
}

pub enum NodesIter<'a, 'i> {
    One(Option<Item<'a, 'i>>),
    Many(std::vec::IntoIter<Item<'a, 'i>>),
}

impl<'a, 'i> Iterator for NodesIter<'a, 'i> {
    type Item = Item<'a, 'i>;
    fn next(&mut self) -> Option<Item<'a, 'i>> {
        match self {
            NodesIter::One(it) => it.take(),
            NodesIter::Many(v) => v.next(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Val<'a, 'i> {
    Nodes(Nodes<'a, 'i>),
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
}

impl<'a, 'i> Val<'a, 'i> {
    pub fn empty_str() -> Self {
        Val::Str(Cow::Borrowed(""))
    }
    /// String value; a node list gives its first node's value.
    pub fn string(&self) -> Cow<'a, str> {
        match self {
            Val::Nodes(v) => v.first().map(|i| i.string()).unwrap_or(Cow::Borrowed("")),
            Val::Str(s) => s.clone(),
            Val::Int(i) => Cow::Owned(i.to_string()),
            Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
    /// Effective boolean value.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Nodes(v) => !v.is_empty(),
            Val::Str(s) => !s.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Bool(b) => *b,
        }
    }
    /// True for an empty node list or an empty string.
    pub fn is_empty(&self) -> bool {
        match self {
            Val::Nodes(v) => v.is_empty(),
            Val::Str(s) => s.is_empty(),
            _ => false,
        }
    }
    /// True for an empty node list (not for an empty string).
    pub fn is_empty_nodes(&self) -> bool {
        matches!(self, Val::Nodes(v) if v.is_empty())
    }

    /// The same value: equal strings, numbers or booleans, or the same nodes.
    pub fn same(&self, other: &Val<'a, 'i>) -> bool {
        match (self, other) {
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Nodes(a), Val::Nodes(b)) => a[..] == b[..],
            _ => false,
        }
    }

    /// The first input node this value came from, for error locations.
    pub fn origin(&self) -> Option<Item<'a, 'i>> {
        match self {
            Val::Nodes(v) => v.first().copied(),
            _ => None,
        }
    }
}
