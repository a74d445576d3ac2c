//! The document tree programs read: an arena of nodes in document order,
//! every string in one buffer.
//!
//! A route's first stage reads the input, parsed by roxmltree and copied in
//! ([`Document::from_roxml`]: one pass, the source text copied once, so
//! positions still point into it). Later stages read the document the stage
//! before built directly ([`Builder`], fed by [`crate::xmlout::XmlOut`]), so
//! the hub is never written as text and parsed again.
//!
//! The API mirrors the part of roxmltree's that programs use. Comments and
//! processing instructions are not kept: no program can select them.

use std::marker::PhantomData;

mod scan;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Element,
    Text,
}

/// A range of [`Document::text`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeData {
    kind: Kind,
    parent: u32,
    prev: u32,
    next: u32,
    first: u32,
    last: u32,
    /// One past the last node of the subtree (nodes are in document order).
    end: u32,
    /// Namespace: index into `uris` + 1 (0: none).
    ns: u32,
    /// Local name of an element; the text of a text node.
    name: Span,
    attrs: (u32, u32),
    /// Namespace bindings in scope: a range of `bindings`.
    scope: (u32, u32),
    /// Byte offset in the source text ([`NONE`]: built, no source).
    pos: u32,
}

impl NodeData {
    /// A node with no links yet ([`Document::append_child`] makes them).
    fn new(kind: Kind, parent: u32, name: Span, scope: (u32, u32), pos: u32) -> Self {
        NodeData {
            kind,
            parent,
            prev: NONE,
            next: NONE,
            first: NONE,
            last: NONE,
            end: NONE,
            ns: 0,
            name,
            attrs: (0, 0),
            scope,
            pos,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AttrData {
    ns: u32,
    name: Span,
    value: Span,
    pos: u32,
}

/// A prefix binding: `prefix` empty for the default namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Binding {
    prefix: Option<Span>,
    uri: Span,
    /// The URI's index in `uris` + 1 (0: the empty URI, no namespace).
    id: u32,
}

/// A document: nodes, attributes and namespace bindings in arenas.
/// Equal documents have the same nodes, strings and spans (the reader
/// tests compare their trees this way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    text: String,
    /// Length of the source text at the start of `text` (0: built).
    source_len: usize,
    nodes: Vec<NodeData>,
    attrs: Vec<AttrData>,
    bindings: Vec<Binding>,
    uris: Vec<Span>,
}

/// A node's id: its index in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    pub fn new(i: u32) -> Self {
        NodeId(i)
    }
    pub fn get_usize(self) -> usize {
        self.0 as usize
    }
}

impl From<u32> for NodeId {
    fn from(i: u32) -> Self {
        NodeId(i)
    }
}

/// A node of a [`Document`]. The second lifetime has no meaning of its own:
/// it keeps the signatures of code written for roxmltree's nodes.
#[derive(Clone, Copy)]
pub struct Node<'a, 'i> {
    doc: &'a Document,
    id: u32,
    _input: PhantomData<&'i ()>,
}

impl PartialEq for Node<'_, '_> {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id && std::ptr::eq(self.doc, o.doc)
    }
}

impl Eq for Node<'_, '_> {}

impl std::fmt::Debug for Node<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.d().kind {
            Kind::Root => write!(f, "Root"),
            Kind::Element => write!(f, "Element({})", self.tag_name().name()),
            Kind::Text => write!(f, "Text({:?})", self.text().unwrap_or("")),
        }
    }
}

/// An element's expanded name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpandedName<'a> {
    ns: Option<&'a str>,
    name: &'a str,
}

impl<'a> ExpandedName<'a> {
    pub fn namespace(&self) -> Option<&'a str> {
        self.ns
    }
    pub fn name(&self) -> &'a str {
        self.name
    }
}

/// An attribute of an element.
#[derive(Clone, Copy)]
pub struct Attribute<'a> {
    doc: &'a Document,
    a: &'a AttrData,
}

impl<'a> Attribute<'a> {
    pub fn name(&self) -> &'a str {
        self.doc.str(self.a.name)
    }
    pub fn namespace(&self) -> Option<&'a str> {
        self.doc.uri(self.a.ns)
    }
    pub fn value(&self) -> &'a str {
        self.doc.str(self.a.value)
    }
    /// Byte offset in the source text (None in a built document).
    pub fn position(&self) -> Option<usize> {
        (self.a.pos != NONE).then_some(self.a.pos as usize)
    }
}

/// A namespace binding in scope.
#[derive(Clone, Copy)]
pub struct Namespace<'a> {
    name: Option<&'a str>,
    uri: &'a str,
}

impl<'a> Namespace<'a> {
    /// The prefix; None for the default namespace.
    pub fn name(&self) -> Option<&'a str> {
        self.name
    }
    pub fn uri(&self) -> &'a str {
        self.uri
    }
}

impl Document {
    fn str(&self, s: Span) -> &str {
        &self.text[s.start as usize..s.end as usize]
    }

    fn uri(&self, ns: u32) -> Option<&str> {
        (ns != 0).then(|| self.str(self.uris[ns as usize - 1]))
    }

    pub fn root<'i>(&self) -> Node<'_, 'i> {
        self.node(0)
    }

    fn node<'i>(&self, id: u32) -> Node<'_, 'i> {
        Node {
            doc: self,
            id,
            _input: PhantomData,
        }
    }

    pub fn get_node<'i>(&self, id: NodeId) -> Option<Node<'_, 'i>> {
        ((id.0 as usize) < self.nodes.len()).then(|| self.node(id.0))
    }

    /// Every node, the root first, in document order.
    pub fn descendants<'i>(&self) -> Descendants<'_, 'i> {
        self.root().descendants()
    }

    /// The source text node positions refer to (empty for a built document).
    pub fn input_text(&self) -> &str {
        &self.text[..self.source_len]
    }

    pub fn root_element<'i>(&self) -> Option<Node<'_, 'i>> {
        self.root().children().find(|c| c.is_element())
    }

    fn intern_uri(&mut self, uri: &str, source: &str) -> u32 {
        if let Some(id) = self.uri_id(uri) {
            return id;
        }
        let s = self.span_of(uri, source);
        self.uris.push(s);
        self.uris.len() as u32
    }

    /// The id (index + 1) of `uri` when it is interned.
    fn uri_id(&self, uri: &str) -> Option<u32> {
        self.uris
            .iter()
            .position(|s| self.str(*s) == uri)
            .map(|i| i as u32 + 1)
    }

    /// The span of `s`: in the copied source when it borrows from it,
    /// otherwise appended.
    fn span_of(&mut self, s: &str, source: &str) -> Span {
        let base = source.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p >= base && p + s.len() <= base + source.len() {
            let start = (p - base) as u32;
            return Span {
                start,
                end: start + s.len() as u32,
            };
        }
        self.push_str(s)
    }

    fn push_str(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Span {
            start,
            end: self.text.len() as u32,
        }
    }

    /// Parses `text` (plain XML, no DTD): read directly when it is in the
    /// subset [`Document::scan`] reads, otherwise by roxmltree and copied.
    pub fn parse(text: &str) -> Result<Document, String> {
        if let Some(d) = Document::scan(text) {
            return Ok(d);
        }
        let d = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
        Document::from_roxml(&d)
    }

    /// `text` read directly into a document when it is plain XML of the
    /// subset VM metadata is written in, with no parser's tree in between;
    /// `None` for anything else, valid or not, which the caller parses
    /// (see the module `scan`). What this reads, [`Document::from_roxml`]
    /// of roxmltree's parse gives exactly.
    pub fn scan(text: &str) -> Option<Document> {
        scan::parse(text)
    }

    /// Copies a document roxmltree parsed. Documents larger than 4 GiB are
    /// refused (positions and spans are 32-bit).
    pub fn from_roxml(doc: &roxmltree::Document) -> Result<Document, String> {
        let source = doc.input_text();
        if source.len() >= (NONE as usize) / 2 {
            return Err("the document is larger than 2 GiB".into());
        }
        let mut d = Document {
            text: String::with_capacity(source.len() + 64),
            source_len: source.len(),
            nodes: Vec::with_capacity(doc.descendants().len()),
            ..Document::default()
        };
        d.text.push_str(source);
        d.nodes
            .push(NodeData::new(Kind::Root, NONE, Span::default(), (0, 0), 0));
        d.copy_children(doc.root(), 0, source);
        Ok(d)
    }

    fn append_child(&mut self, parent: u32, mut data: NodeData) -> u32 {
        let id = self.nodes.len() as u32;
        let p = &mut self.nodes[parent as usize];
        let prev = p.last;
        data.prev = prev;
        if prev == NONE {
            p.first = id;
        }
        p.last = id;
        if prev != NONE {
            self.nodes[prev as usize].next = id;
        }
        self.nodes.push(data);
        id
    }

    /// Copies `from`'s element and text children under `parent`, iteratively
    /// (input nesting is bounded by the parser, not by this stack).
    fn copy_children(&mut self, from: roxmltree::Node, parent: u32, source: &str) {
        let mut stack: Vec<(roxmltree::Node, u32)> = Vec::new();
        let mut cur = from.first_child();
        let mut cur_parent = parent;
        loop {
            let Some(c) = cur else {
                // Subtree of cur_parent done.
                let end = self.nodes.len() as u32;
                self.nodes[cur_parent as usize].end = end;
                match stack.pop() {
                    Some((n, p)) => {
                        cur = n.next_sibling();
                        cur_parent = p;
                        continue;
                    }
                    None => break,
                }
            };
            if c.is_text() {
                let t = c.text().unwrap_or("");
                let name = self.span_of(t, source);
                let id = self.nodes.len() as u32;
                let scope = self.nodes[cur_parent as usize].scope;
                let pos = c.range().start as u32;
                let mut t = NodeData::new(Kind::Text, cur_parent, name, scope, pos);
                t.end = id + 1;
                self.append_child(cur_parent, t);
                cur = c.next_sibling();
                continue;
            }
            if !c.is_element() {
                cur = c.next_sibling();
                continue;
            }
            let tn = c.tag_name();
            let ns = match tn.namespace() {
                Some(u) => self.intern_uri(u, source),
                None => 0,
            };
            let name = self.span_of(tn.name(), source);
            let a0 = self.attrs.len() as u32;
            for a in c.attributes() {
                let ns = match a.namespace() {
                    Some(u) => self.intern_uri(u, source),
                    None => 0,
                };
                let name = self.span_of(a.name(), source);
                let value = self.span_of(a.value(), source);
                self.attrs.push(AttrData {
                    ns,
                    name,
                    value,
                    pos: a.range().start as u32,
                });
            }
            let a1 = self.attrs.len() as u32;
            let scope = self.scope_of(c, cur_parent, source);
            let mut e = NodeData::new(Kind::Element, cur_parent, name, scope, 0);
            (e.ns, e.attrs, e.pos) = (ns, (a0, a1), c.range().start as u32);
            let id = self.append_child(cur_parent, e);
            stack.push((c, cur_parent));
            cur_parent = id;
            cur = c.first_child();
        }
    }

    /// The bindings in scope on `c`: its parent's range when they are the
    /// same (the common case), otherwise a new range.
    fn scope_of(&mut self, c: roxmltree::Node, parent: u32, source: &str) -> (u32, u32) {
        let inherited = self.nodes[parent as usize].scope;
        let n = c.namespaces().len();
        if n as u32 == inherited.1 - inherited.0 {
            let same = c.namespaces().zip(inherited.0..inherited.1).all(|(ns, b)| {
                let b = self.bindings[b as usize];
                self.str(b.uri) == ns.uri() && b.prefix.map(|p| self.str(p)) == ns.name()
            });
            if same {
                return inherited;
            }
        }
        let b0 = self.bindings.len() as u32;
        for ns in c.namespaces() {
            let prefix = ns.name().map(|p| self.span_of(p, source));
            let uri = self.span_of(ns.uri(), source);
            let id = if ns.uri().is_empty() {
                0
            } else {
                self.intern_span(uri)
            };
            self.bindings.push(Binding { prefix, uri, id });
        }
        (b0, self.bindings.len() as u32)
    }
}

impl<'a, 'i> Node<'a, 'i> {
    fn d(&self) -> &'a NodeData {
        &self.doc.nodes[self.id as usize]
    }

    fn at(&self, id: u32) -> Option<Node<'a, 'i>> {
        (id != NONE).then_some(Node {
            doc: self.doc,
            id,
            _input: PhantomData,
        })
    }

    pub fn id(&self) -> NodeId {
        NodeId(self.id)
    }

    pub fn document(&self) -> &'a Document {
        self.doc
    }

    pub fn is_root(&self) -> bool {
        self.d().kind == Kind::Root
    }

    pub fn is_element(&self) -> bool {
        self.d().kind == Kind::Element
    }

    pub fn is_text(&self) -> bool {
        self.d().kind == Kind::Text
    }

    pub fn root(&self) -> Node<'a, 'i> {
        Node {
            doc: self.doc,
            id: 0,
            _input: PhantomData,
        }
    }

    pub fn parent(&self) -> Option<Node<'a, 'i>> {
        self.at(self.d().parent)
    }

    pub fn parent_element(&self) -> Option<Node<'a, 'i>> {
        self.parent().filter(|p| p.is_element())
    }

    /// This node and its ancestors, nearest first.
    pub fn ancestors(&self) -> impl Iterator<Item = Node<'a, 'i>> {
        std::iter::successors(Some(*self), |n| n.parent())
    }

    pub fn first_child(&self) -> Option<Node<'a, 'i>> {
        self.at(self.d().first)
    }

    pub fn next_sibling(&self) -> Option<Node<'a, 'i>> {
        self.at(self.d().next)
    }

    pub fn prev_sibling(&self) -> Option<Node<'a, 'i>> {
        self.at(self.d().prev)
    }

    /// This node and the siblings before it, nearest first.
    pub fn prev_siblings(&self) -> impl Iterator<Item = Node<'a, 'i>> {
        std::iter::successors(Some(*self), |n| n.prev_sibling())
    }

    /// This node and the siblings after it.
    pub fn next_siblings(&self) -> impl Iterator<Item = Node<'a, 'i>> {
        std::iter::successors(Some(*self), |n| n.next_sibling())
    }

    pub fn has_children(&self) -> bool {
        self.d().first != NONE
    }

    /// The element's name (empty for other nodes).
    pub fn tag_name(&self) -> ExpandedName<'a> {
        let d = self.d();
        if d.kind != Kind::Element {
            return ExpandedName { ns: None, name: "" };
        }
        ExpandedName {
            ns: self.doc.uri(d.ns),
            name: self.doc.str(d.name),
        }
    }

    /// A text node's text, or an element's first child's when it is text.
    pub fn text(&self) -> Option<&'a str> {
        let d = self.d();
        match d.kind {
            Kind::Text => Some(self.doc.str(d.name)),
            Kind::Element => self
                .first_child()
                .filter(|c| c.is_text())
                .map(|c| self.doc.str(c.d().name)),
            Kind::Root => None,
        }
    }

    pub fn attributes(&self) -> Attributes<'a> {
        let (a, b) = self.d().attrs;
        Attributes {
            doc: self.doc,
            it: self.doc.attrs[a as usize..b as usize].iter(),
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attributes()
            .find(|a| a.namespace().is_none() && a.name() == name)
            .map(|a| a.value())
    }

    pub fn children(&self) -> Children<'a, 'i> {
        Children {
            next: self.first_child(),
        }
    }

    /// The node and every node under it, in document order.
    pub fn descendants(&self) -> Descendants<'a, 'i> {
        Descendants {
            doc: self.doc,
            next: self.id,
            end: self.d().end.max(self.id + 1),
            _input: PhantomData,
        }
    }

    /// The namespace bindings in scope.
    pub fn namespaces(&self) -> impl Iterator<Item = Namespace<'a>> + 'a {
        let (a, b) = self.d().scope;
        let doc = self.doc;
        doc.bindings[a as usize..b as usize]
            .iter()
            .map(move |b| Namespace {
                name: b.prefix.map(|p| doc.str(p)),
                uri: doc.str(b.uri),
            })
    }

    /// The prefix bound to `uri` in scope (`""` for the default namespace).
    pub fn lookup_prefix(&self, uri: &str) -> Option<&'a str> {
        self.namespaces()
            .find(|n| n.uri() == uri)
            .map(|n| n.name().unwrap_or(""))
    }

    /// Byte offset in the source text (None in a built document).
    pub fn position(&self) -> Option<usize> {
        let p = self.d().pos;
        (p != NONE).then_some(p as usize)
    }
}

/// The attributes of an element.
pub struct Attributes<'a> {
    doc: &'a Document,
    it: std::slice::Iter<'a, AttrData>,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;
    fn next(&mut self) -> Option<Attribute<'a>> {
        self.it.next().map(|a| Attribute { doc: self.doc, a })
    }
    fn nth(&mut self, n: usize) -> Option<Attribute<'a>> {
        self.it.nth(n).map(|a| Attribute { doc: self.doc, a })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.it.size_hint()
    }
}

impl ExactSizeIterator for Attributes<'_> {}

/// The children of a node.
pub struct Children<'a, 'i> {
    next: Option<Node<'a, 'i>>,
}

impl<'a, 'i> Iterator for Children<'a, 'i> {
    type Item = Node<'a, 'i>;
    fn next(&mut self) -> Option<Node<'a, 'i>> {
        let n = self.next?;
        self.next = n.next_sibling();
        Some(n)
    }
}

/// A subtree in document order.
pub struct Descendants<'a, 'i> {
    doc: &'a Document,
    next: u32,
    end: u32,
    _input: PhantomData<&'i ()>,
}

impl<'a, 'i> Iterator for Descendants<'a, 'i> {
    type Item = Node<'a, 'i>;
    fn next(&mut self) -> Option<Node<'a, 'i>> {
        (self.next < self.end).then(|| {
            self.next += 1;
            Node {
                doc: self.doc,
                id: self.next - 1,
                _input: PhantomData,
            }
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Descendants<'_, '_> {}

/// Builds a [`Document`] from writer events: what a stage writes for the
/// next stage to read. Names arrive as written (`prefix:local`) and are
/// resolved as they arrive against the bindings in scope; a namespace
/// declaration (which a writer sends after its element's start) resolves
/// the element's name and attributes again.
#[derive(Debug)]
pub struct Builder {
    doc: Document,
    /// Position given to the nodes created next ([`Builder::origin`]).
    origin: u32,
    /// Open elements (the root node first): id, default namespace, and
    /// whether the element's name has a prefix.
    open: Vec<(u32, u32, bool)>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        let mut doc = Document::default();
        doc.nodes.push(NodeData::new(
            Kind::Root,
            NONE,
            Span::default(),
            (0, 0),
            NONE,
        ));
        // The `xml` prefix is bound in every document, to URI number 1.
        let xml = doc.push_str(XML_NS);
        doc.uris.push(xml);
        Builder {
            doc,
            origin: NONE,
            open: vec![(0, 0, false)],
        }
    }

    /// A builder whose nodes point into `source`, the text of the document
    /// the writing program reads: [`Builder::origin`] positions are byte
    /// offsets in it, and the built document's `input_text` is it.
    pub fn with_source(source: &str) -> Self {
        let mut b = Builder::new();
        let d = &mut b.doc;
        let xml = d.uris[0];
        let mut text = String::with_capacity(source.len() + 4096);
        text.push_str(source);
        text.push_str(&d.text);
        d.text = text;
        d.uris[0] = Span {
            start: xml.start + source.len() as u32,
            end: xml.end + source.len() as u32,
        };
        d.source_len = source.len();
        b
    }

    /// The source position of the nodes written next (None: no position):
    /// the input node a program was at when it wrote them.
    #[inline]
    pub fn origin(&mut self, pos: Option<usize>) {
        self.origin = pos.map_or(NONE, |p| p.min(self.doc.source_len) as u32);
    }

    fn current(&self) -> (u32, u32) {
        let &(id, ns, _) = self.open.last().unwrap_or(&(0, 0, false));
        (id, ns)
    }

    pub fn start(&mut self, qname: &str) {
        let (parent, default_ns) = self.current();
        let name = self.doc.push_str(qname);
        let n = self.doc.attrs.len() as u32;
        let scope = self.doc.nodes[parent as usize].scope;
        let mut e = NodeData::new(Kind::Element, parent, name, scope, self.origin);
        (e.ns, e.attrs) = (default_ns, (n, n));
        let id = self.doc.append_child(parent, e);
        let prefixed = qname.as_bytes().contains(&b':');
        self.open.push((id, default_ns, prefixed));
        if prefixed {
            self.doc.nodes[id as usize].ns = NONE;
            self.resolve_element(id);
        }
    }

    /// Resolves the name of element `id` (its `name` still the qualified one
    /// when prefixed) against its scope; unresolved prefixes stay, and are
    /// reported by [`Builder::finish`].
    fn resolve_element(&mut self, id: u32) {
        let d = &self.doc;
        let q = d.nodes[id as usize].name;
        if let Some((ns, local)) = d.resolve_prefixed(id, q) {
            let n = &mut self.doc.nodes[id as usize];
            n.ns = ns;
            n.name = local;
        }
    }

    /// An attribute (or a namespace declaration) of the element just started.
    pub fn attr(&mut self, qname: &str, value: &str) {
        let (id, _) = self.current();
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            self.declare(id, qname.strip_prefix("xmlns:"), value);
            return;
        }
        let q = self.doc.push_str(qname);
        let value = self.doc.push_str(value);
        let (ns, name) = if qname.as_bytes().contains(&b':') {
            self.doc.resolve_prefixed(id, q).unwrap_or((NONE, q))
        } else {
            (0, q)
        };
        self.doc.attrs.push(AttrData {
            ns,
            name,
            value,
            pos: self.origin,
        });
        self.doc.nodes[id as usize].attrs.1 = self.doc.attrs.len() as u32;
    }

    /// A namespace binding made on element `id`: its scope becomes its
    /// parent's with the binding added, and its name and the attributes
    /// written so far are resolved again.
    fn declare(&mut self, id: u32, prefix: Option<&str>, uri: &str) {
        let d = &mut self.doc;
        let prefix = prefix.map(|p| d.push_str(p));
        let uri_span = d.push_str(uri);
        let ns = if uri.is_empty() {
            0
        } else {
            d.intern_span(uri_span)
        };
        let new = Binding {
            prefix,
            uri: uri_span,
            id: ns,
        };
        let (a, b) = d.nodes[id as usize].scope;
        let b0 = d.bindings.len() as u32;
        for k in a..b {
            let old = d.bindings[k as usize];
            let shadowed = match (old.prefix, new.prefix) {
                (None, None) => true,
                (Some(x), Some(y)) => d.str(x) == d.str(y),
                _ => false,
            };
            if !shadowed {
                d.bindings.push(old);
            }
        }
        d.bindings.push(new);
        d.nodes[id as usize].scope = (b0, d.bindings.len() as u32);
        let prefixed = self.open.last().is_some_and(|t| t.2);
        if prefix.is_none() {
            if let Some(top) = self.open.last_mut() {
                top.1 = ns;
            }
            if !prefixed {
                self.doc.nodes[id as usize].ns = ns;
            }
        }
        // A prefixed name written before the declaration.
        if prefixed && self.doc.nodes[id as usize].ns == NONE {
            self.resolve_element(id);
        }
        let (a0, a1) = self.doc.nodes[id as usize].attrs;
        for k in a0..a1 {
            let at = &self.doc.attrs[k as usize];
            if at.ns == NONE {
                if let Some((ns, local)) = self.doc.resolve_prefixed(id, at.name) {
                    let at = &mut self.doc.attrs[k as usize];
                    at.ns = ns;
                    at.name = local;
                }
            }
        }
    }

    /// Text content; adjacent texts join into one node.
    pub fn text(&mut self, value: &str) {
        let (parent, _) = self.current();
        let last = self.doc.nodes[parent as usize].last;
        if last != NONE && self.doc.nodes[last as usize].kind == Kind::Text {
            let span = self.doc.nodes[last as usize].name;
            if span.end as usize == self.doc.text.len() {
                self.doc.text.push_str(value);
                self.doc.nodes[last as usize].name.end = self.doc.text.len() as u32;
                return;
            }
            let mut joined = self.doc.str(span).to_string();
            joined.push_str(value);
            let s = self.doc.push_str(&joined);
            self.doc.nodes[last as usize].name = s;
            return;
        }
        let name = self.doc.push_str(value);
        let id = self.doc.nodes.len() as u32;
        let scope = self.doc.nodes[parent as usize].scope;
        let mut t = NodeData::new(Kind::Text, parent, name, scope, self.origin);
        t.end = id + 1;
        self.doc.append_child(parent, t);
    }

    pub fn end(&mut self) {
        if self.open.len() > 1 {
            let (id, _, _) = self.open.pop().unwrap_or((0, 0, false));
            self.doc.nodes[id as usize].end = self.doc.nodes.len() as u32;
        }
    }

    /// Closes what is open and returns the document. A prefix never bound
    /// is an error (the writer declares every prefix it writes).
    pub fn finish(mut self) -> Result<Document, String> {
        while self.open.len() > 1 {
            self.end();
        }
        let total = self.doc.nodes.len() as u32;
        self.doc.nodes[0].end = total;
        let d = &self.doc;
        let unbound = d
            .nodes
            .iter()
            .filter(|n| n.kind == Kind::Element)
            .map(|n| (n.ns, n.name))
            .chain(d.attrs.iter().map(|a| (a.ns, a.name)))
            .find(|(ns, _)| *ns == NONE);
        if let Some((_, q)) = unbound {
            return Err(format!(
                "internal: the prefix of `{}` is not declared",
                d.str(q)
            ));
        }
        Ok(self.doc)
    }
}

impl Document {
    /// The namespace and local name of a prefixed name written on `id`
    /// (`q`: `prefix:local`), or None when the prefix is not bound.
    fn resolve_prefixed(&self, id: u32, q: Span) -> Option<(u32, Span)> {
        let qname = self.str(q);
        let colon = qname.bytes().position(|b| b == b':')? as u32;
        let prefix = &qname[..colon as usize];
        let local = Span {
            start: q.start + colon + 1,
            end: q.end,
        };
        if prefix == "xml" {
            // Bound to URI number 1 by `Builder::new`.
            return Some((1, local));
        }
        let (a, b) = self.nodes[id as usize].scope;
        (a..b)
            .rev()
            .map(|k| self.bindings[k as usize])
            .find(|bd| bd.prefix.is_some_and(|p| self.str(p) == prefix))
            .map(|bd| (bd.id, local))
    }

    /// [`Document::intern_uri`] for a URI already in `text`.
    fn intern_span(&mut self, s: Span) -> u32 {
        if let Some(id) = self.uri_id(self.str(s)) {
            return id;
        }
        self.uris.push(s);
        self.uris.len() as u32
    }
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

#[cfg(test)]
mod tests {
    use super::*;

    fn both(xml: &str) -> (Document, Document) {
        let rox = roxmltree::Document::parse(xml).unwrap();
        let copied = Document::from_roxml(&rox).unwrap();
        // The same document through the builder, as a writer would send it.
        let mut b = Builder::new();
        fn feed(n: roxmltree::Node, b: &mut Builder) {
            for c in n.children() {
                if c.is_text() {
                    b.text(c.text().unwrap());
                } else if c.is_element() {
                    let q =
                        |ns: Option<&str>, local: &str| match ns.and_then(|u| c.lookup_prefix(u)) {
                            Some(p) if !p.is_empty() => format!("{p}:{local}"),
                            _ => local.to_string(),
                        };
                    b.start(&q(c.tag_name().namespace(), c.tag_name().name()));
                    let parent = c.parent_element();
                    for ns in c.namespaces() {
                        if parent.is_some_and(|p| p.namespaces().any(|o| o == ns)) {
                            continue;
                        }
                        match ns.name() {
                            Some(p) => b.attr(&format!("xmlns:{p}"), ns.uri()),
                            None => b.attr("xmlns", ns.uri()),
                        }
                    }
                    for a in c.attributes() {
                        b.attr(&q(a.namespace(), a.name()), a.value());
                    }
                    feed(c, b);
                    b.end();
                }
            }
        }
        feed(rox.root(), &mut b);
        (copied, b.finish().unwrap())
    }

    /// A readable dump: names with namespaces, attributes, texts, nesting.
    fn dump(d: &Document) -> String {
        let mut s = String::new();
        for n in d.descendants() {
            let depth = std::iter::successors(n.parent(), |p| p.parent()).count();
            s.push_str(&"  ".repeat(depth));
            if n.is_element() {
                let t = n.tag_name();
                s.push_str(&format!("{{{}}}{}", t.namespace().unwrap_or(""), t.name()));
                for a in n.attributes() {
                    s.push_str(&format!(
                        " {{{}}}{}={:?}",
                        a.namespace().unwrap_or(""),
                        a.name(),
                        a.value()
                    ));
                }
                s.push_str(&format!(" [{} in subtree]", n.descendants().len()));
            } else if n.is_text() {
                s.push_str(&format!("{:?}", n.text().unwrap()));
            } else {
                s.push_str("root");
            }
            s.push('\n');
        }
        s
    }

    #[test]
    fn copied_and_built_trees_agree_with_the_parser() {
        let xml = r#"<?xml version="1.0"?>
<!-- a comment -->
<a:vm xmlns:a="urn:a" xmlns="urn:d" a:id="1" plain="x &amp; y">
  <name>web &lt;1&gt;</name>
  <b:disk xmlns:b="urn:b" b:bus="virtio" xml:lang="en"><target dev="vda"/></b:disk>
  <raw xmlns="">text<!-- c -->more</raw>
</a:vm>"#;
        let (copied, built) = both(xml);
        let expected = "root
  {urn:a}vm {urn:a}id=\"1\" {}plain=\"x & y\" [12 in subtree]
    \"\\n  \"
    {urn:d}name [2 in subtree]
      \"web <1>\"
    \"\\n  \"
    {urn:b}disk {urn:b}bus=\"virtio\" {http://www.w3.org/XML/1998/namespace}lang=\"en\" [2 in subtree]
      {urn:d}target {}dev=\"vda\" [1 in subtree]
    \"\\n  \"
    {}raw [3 in subtree]
      \"text\"
      \"more\"
    \"\\n\"
";
        assert_eq!(dump(&copied), expected);
        // The builder joins adjacent texts, as a parser of written text would.
        assert_eq!(
            dump(&built),
            expected
                .replace("\"text\"\n      \"more\"", "\"textmore\"")
                .replace("[3 in subtree]", "[2 in subtree]")
                .replace("[12 in subtree]", "[11 in subtree]")
        );
        let root = copied.root_element().unwrap();
        assert_eq!(root.lookup_prefix("urn:a"), Some("a"));
        assert_eq!(root.lookup_prefix("urn:d"), Some(""));
        assert_eq!(root.lookup_prefix("urn:b"), None);
        // Positions point into the source; built nodes have none.
        let name = root.children().find(|c| c.is_element()).unwrap();
        assert_eq!(
            &copied.input_text()[name.position().unwrap()..][..6],
            "<name>"
        );
        assert_eq!(built.root_element().unwrap().position(), None);
        assert_eq!(built.input_text(), "");
    }

    #[test]
    fn a_declaration_after_the_names_it_binds_still_binds_them() {
        let mut b = Builder::new();
        b.start("p:a");
        b.attr("p:x", "1");
        b.attr("xmlns:p", "urn:p");
        b.attr("xmlns", "urn:d");
        b.attr("p:y", "2");
        b.start("c");
        b.attr("xml:lang", "en");
        b.start("p:e");
        b.attr("xmlns", "");
        b.start("f");
        b.end();
        let d = b.finish().unwrap();
        let a = d.root_element().unwrap();
        assert_eq!(
            (a.tag_name().namespace(), a.tag_name().name()),
            (Some("urn:p"), "a")
        );
        let attrs: Vec<_> = a
            .attributes()
            .map(|x| (x.namespace(), x.name(), x.value()))
            .collect();
        assert_eq!(
            attrs,
            [(Some("urn:p"), "x", "1"), (Some("urn:p"), "y", "2")]
        );
        let c = a.first_child().unwrap();
        assert_eq!(c.tag_name().namespace(), Some("urn:d"));
        assert_eq!(c.attributes().next().unwrap().namespace(), Some(XML_NS));
        let e = c.first_child().unwrap();
        assert_eq!(e.tag_name().namespace(), Some("urn:p"));
        // `xmlns=""` undeclares the default for the children.
        assert_eq!(e.first_child().unwrap().tag_name().namespace(), None);
        assert_eq!(a.descendants().len(), 4);
    }

    #[test]
    fn builder_refuses_an_undeclared_prefix() {
        let mut b = Builder::new();
        b.start("p:vm");
        b.end();
        assert!(b.finish().unwrap_err().contains("`p:vm`"));
    }
}
