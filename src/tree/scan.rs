//! Reading plain XML straight into a [`Document`], without a parser's tree
//! in between.
//!
//! A route's first stage parsed its input with roxmltree and copied the
//! result ([`Document::from_roxml`]): two passes and two trees per
//! document, nearly half of a kvm → vsphere conversion. [`parse`] reads
//! the subset of XML that VM metadata is written in (elements, ASCII
//! names, attributes, namespace declarations, text with the five
//! predefined entities, comments, an XML declaration, CR LF or LF line
//! ends) and builds the same document in one pass. Anything outside that
//! subset, and anything it would have to refuse, makes it answer `None`: a
//! DOCTYPE, CDATA, a processing instruction, a character reference (and a
//! carriage return next to any reference, which roxmltree keeps), a
//! non-ASCII name, a control character, a malformed or mismatched tag, an
//! unbound prefix, a duplicate attribute or namespace, a document nested
//! deeper than [`MAX_OPEN`] or an element with more than [`MAX_ATTRS`]
//! attributes. The caller then parses with roxmltree, which reads what
//! this does not and gives the located error for what is wrong: every
//! document this accepts, roxmltree accepts, and both build the same tree
//! (tests compare them field by field on every corpus file and on
//! thousands of mutations of them).

use std::borrow::Cow;

use super::{AttrData, Binding, Document, Kind, NodeData, Span, NONE, XML_NS};

/// Deepest nesting read here; deeper documents go to the parser (which
/// refuses them past [`crate::platform::input::MAX_DEPTH`]).
const MAX_OPEN: usize = 256;

/// Most attributes on one element read here (they are checked for
/// duplicates pairwise).
const MAX_ATTRS: usize = 32;

/// Most distinct namespace bindings read here (each new one is compared
/// with those before).
const MAX_NAMESPACES: usize = 64;

/// The namespace namespace, which no document may bind.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A namespace binding as written: prefix (None: the default namespace)
/// and URI, both borrowed from the text.
type Decl<'t> = (Option<&'t str>, &'t str);

/// An attribute of the tag being read.
struct RawAttr<'t> {
    prefix: &'t str,
    local: &'t str,
    value: Cow<'t, str>,
    pos: usize,
    /// Its namespace, once resolved.
    uri: Option<&'t str>,
}

/// Byte classes: names, and the bytes that end a run of plain text or of
/// a plain attribute value.
const NAME_START: u8 = 1;
const NAME: u8 = 2;
const TEXT_STOP: u8 = 4;
const ATTR_STOP: u8 = 8;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphabetic() || b == b'_' {
            c |= NAME_START | NAME;
        }
        if b.is_ascii_digit() || b == b'.' || b == b'-' {
            c |= NAME;
        }
        // Controls (tab and newline need a look: text keeps them, an
        // attribute value turns them into spaces), the start of U+FFFE and
        // U+FFFF (not XML characters), markup and references.
        if (b < 0x20 && b != b'\t' && b != b'\n') || b == 0xEF || b == b'<' || b == b'&' {
            c |= TEXT_STOP | ATTR_STOP;
        }
        if b == b']' {
            c |= TEXT_STOP;
        }
        if b == b'\t' || b == b'\n' || b == b'"' || b == b'\'' {
            c |= ATTR_STOP;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// `document`'s tree when it is plain XML this reads, `None` otherwise
/// (the caller parses it with roxmltree).
pub(crate) fn parse(text: &str) -> Option<Document> {
    if text.len() >= (NONE as usize) / 2 {
        return None;
    }
    let mut doc = Document {
        // Room for the strings a reference or a line end changes (and the
        // namespace URIs not in the text) without copying the text again.
        text: String::with_capacity(text.len() + text.len() / 16 + 64),
        source_len: text.len(),
        nodes: Vec::with_capacity(text.len() / 24 + 4),
        attrs: Vec::with_capacity(text.len() / 40 + 4),
        ..Document::default()
    };
    doc.text.push_str(text);
    doc.nodes
        .push(NodeData::new(Kind::Root, NONE, Span::default(), (0, 0), 0));
    let mut s = Scan {
        b: text.as_bytes(),
        text,
        pos: 0,
        doc,
        open: Vec::with_capacity(16),
        bound: Vec::new(),
        attrs: Vec::with_capacity(8),
        decls: Vec::new(),
        scope: Vec::new(),
        uniq: Vec::new(),
    };
    s.prolog()?;
    s.element()?;
    s.misc()?;
    let total = s.doc.nodes.len() as u32;
    s.doc.nodes[0].end = total;
    Some(s.doc)
}

struct Scan<'t> {
    b: &'t [u8],
    text: &'t str,
    pos: usize,
    doc: Document,
    /// Open elements: node id and where its qualified name is in the text.
    open: Vec<(u32, usize, usize)>,
    /// The prefix and URI of each of `doc.bindings`, as written.
    bound: Vec<Decl<'t>>,
    /// The attributes and namespace declarations of the tag being read.
    attrs: Vec<RawAttr<'t>>,
    decls: Vec<Decl<'t>>,
    /// The bindings in scope on the tag being read, when it declares some.
    scope: Vec<Decl<'t>>,
    /// Every distinct binding, as first written.
    uniq: Vec<Decl<'t>>,
}

impl<'t> Scan<'t> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.b[self.pos..].starts_with(s)
    }

    /// Skips XML white space; whether there was any.
    #[inline]
    fn ws(&mut self) -> bool {
        let start = self.pos;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        self.pos > start
    }

    fn expect(&mut self, s: &[u8]) -> Option<()> {
        if self.starts_with(s) {
            self.pos += s.len();
            Some(())
        } else {
            None
        }
    }

    /// A name of ASCII letters, digits, `_`, `-` and `.`, with at most one
    /// colon: (prefix, local), prefix empty when there is none.
    #[inline]
    fn qname(&mut self) -> Option<(&'t str, &'t str)> {
        let b = self.b;
        let start = self.pos;
        // One name part from `i`: its end, or None when `i` starts none.
        let part = |mut i: usize| -> Option<usize> {
            if CLASS[*b.get(i)? as usize] & NAME_START == 0 {
                return None;
            }
            i += 1;
            while i < b.len() && CLASS[b[i] as usize] & NAME != 0 {
                i += 1;
            }
            Some(i)
        };
        let end = part(start)?;
        let (colon, end) = match b.get(end) {
            Some(b':') => (Some(end), part(end + 1)?),
            Some(_) => (None, end),
            // A name at the end of the text: no tag ends there.
            None => return None,
        };
        if end == b.len() {
            return None;
        }
        self.pos = end;
        let t = self.text;
        Some(match colon {
            Some(c) => (&t[start..c], &t[c + 1..end]),
            None => ("", &t[start..end]),
        })
    }

    /// `<!--` … `-->` at the position, skipped (no program reads comments).
    fn comment(&mut self) -> Option<()> {
        self.pos += 4;
        let end = memchr::memmem::find(&self.b[self.pos..], b"--")? + self.pos;
        if self.b.get(end + 2) != Some(&b'>') {
            return None;
        }
        check_chars(&self.b[self.pos..end])?;
        self.pos = end + 3;
        Some(())
    }

    /// An optional XML declaration, then white space and comments.
    fn prolog(&mut self) -> Option<()> {
        if self.starts_with(b"<?xml") && matches!(self.b.get(5), Some(b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos = 5;
            self.ws();
            self.expect(b"version")?;
            let v = self.decl_value()?;
            if v != "1.0" {
                return None;
            }
            let mut ws = self.ws();
            if ws && self.starts_with(b"encoding") {
                self.pos += 8;
                let e = self.decl_value()?;
                let ok = e.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                    && e.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
                if !ok {
                    return None;
                }
                ws = self.ws();
            }
            if ws && self.starts_with(b"standalone") {
                self.pos += 10;
                if !matches!(self.decl_value()?, "yes" | "no") {
                    return None;
                }
                self.ws();
            }
            self.expect(b"?>")?;
        }
        self.misc_before()
    }

    /// `= "value"` in the XML declaration.
    fn decl_value(&mut self) -> Option<&'t str> {
        self.ws();
        self.expect(b"=")?;
        self.ws();
        let q = self.peek().filter(|q| matches!(q, b'"' | b'\''))?;
        self.pos += 1;
        let start = self.pos;
        let len = memchr::memchr(q, &self.b[start..])?;
        self.pos = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// White space and comments up to the root element's `<`.
    fn misc_before(&mut self) -> Option<()> {
        loop {
            self.ws();
            if self.starts_with(b"<!--") {
                self.comment()?;
            } else if self.peek() == Some(b'<')
                && self
                    .b
                    .get(self.pos + 1)
                    .is_some_and(|&c| CLASS[c as usize] & NAME_START != 0)
            {
                return Some(());
            } else {
                return None;
            }
        }
    }

    /// White space and comments after the root element, to the end.
    fn misc(&mut self) -> Option<()> {
        loop {
            self.ws();
            if self.pos == self.b.len() {
                return Some(());
            }
            if !self.starts_with(b"<!--") {
                return None;
            }
            self.comment()?;
        }
    }

    /// The root element and everything in it.
    fn element(&mut self) -> Option<()> {
        if !self.start_tag()? {
            return Some(());
        }
        loop {
            self.text_run()?;
            // At `<` (the text ends only there, or at the end: refused).
            match self.b.get(self.pos + 1)? {
                b'/' => {
                    let (id, qs, qe) = self.open.pop()?;
                    self.pos += 2;
                    let q = &self.b[qs..qe];
                    if !self.starts_with(q) {
                        return None;
                    }
                    self.pos += q.len();
                    if CLASS[*self.b.get(self.pos)? as usize] & NAME != 0
                        || self.b[self.pos] == b':'
                    {
                        return None;
                    }
                    self.ws();
                    self.expect(b">")?;
                    self.doc.nodes[id as usize].end = self.doc.nodes.len() as u32;
                    if self.open.is_empty() {
                        return Some(());
                    }
                }
                b'!' => {
                    if !self.starts_with(b"<!--") {
                        return None;
                    }
                    self.comment()?;
                }
                _ => {
                    self.start_tag()?;
                }
            }
        }
    }

    /// Text up to the next `<`, as a text node of the open element.
    fn text_run(&mut self) -> Option<()> {
        let start = self.pos;
        let b = self.b;
        let mut owned: Option<String> = None;
        let mut plain = start;
        loop {
            let mut i = self.pos;
            while i < b.len() && CLASS[b[i] as usize] & TEXT_STOP == 0 {
                i += 1;
            }
            self.pos = i;
            match b.get(i)? {
                b'<' => break,
                b'&' => {
                    let (c, len) = entity(&b[i..])?;
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.text[plain..i]);
                    o.push(c);
                    self.pos = i + len;
                    plain = self.pos;
                }
                b']' => {
                    if b[i..].starts_with(b"]]>") {
                        return None;
                    }
                    self.pos = i + 1;
                }
                0xEF => {
                    not_ffff(&b[i..])?;
                    self.pos = i + 1;
                }
                b'\r' => {
                    // A line end: CR LF and a lone CR read as LF. (Next to
                    // a reference, roxmltree keeps the CR: the parser's.)
                    let lf = b.get(i + 1) == Some(&b'\n');
                    let next = i + 1 + lf as usize;
                    if b.get(next) == Some(&b'&') || (i > start && b[i - 1] == b';') {
                        return None;
                    }
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.text[plain..i]);
                    o.push('\n');
                    self.pos = next;
                    plain = next;
                }
                _ => return None,
            }
        }
        if self.pos == start {
            return Some(());
        }
        let &(parent, _, _) = self.open.last()?;
        let t: Cow<str> = match owned {
            Some(mut o) => {
                o.push_str(&self.text[plain..self.pos]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&self.text[start..self.pos]),
        };
        let d = &mut self.doc;
        let name = d.span_of(&t, self.text);
        let id = d.nodes.len() as u32;
        let scope = d.nodes[parent as usize].scope;
        let mut n = NodeData::new(Kind::Text, parent, name, scope, start as u32);
        n.end = id + 1;
        d.append_child(parent, n);
        Some(())
    }

    /// A start tag at `<`: its element appended to the open one (or the
    /// root). Whether it is open (not `<…/>`).
    fn start_tag(&mut self) -> Option<bool> {
        if self.open.len() >= MAX_OPEN {
            return None;
        }
        let lt = self.pos;
        self.pos += 1;
        let qs = self.pos;
        let (prefix, local) = self.qname()?;
        let qe = self.pos;
        self.attrs.clear();
        self.decls.clear();
        let open = loop {
            let space = self.ws();
            match self.peek()? {
                b'>' => {
                    self.pos += 1;
                    break true;
                }
                b'/' => {
                    self.pos += 1;
                    self.expect(b">")?;
                    break false;
                }
                _ if space => self.attribute()?,
                _ => return None,
            }
        };
        let parent = self.open.last().map_or(0, |o| o.0);
        let id = self.add_element(parent, lt, prefix, local)?;
        if open {
            self.open.push((id, qs, qe));
        } else {
            self.doc.nodes[id as usize].end = self.doc.nodes.len() as u32;
        }
        Some(open)
    }

    /// One attribute or namespace declaration of the tag being read.
    fn attribute(&mut self) -> Option<()> {
        let pos = self.pos;
        let (prefix, local) = self.qname()?;
        self.ws();
        self.expect(b"=")?;
        self.ws();
        let q = self.peek().filter(|q| matches!(q, b'"' | b'\''))?;
        self.pos += 1;
        let value = self.attr_value(q)?;
        if prefix == "xmlns" || (prefix.is_empty() && local == "xmlns") {
            // A binding: to a URI written plainly, not the reserved ones,
            // of no reserved prefix; the empty URI only for the default
            // namespace (`xmlns=""`: none from here down).
            let Cow::Borrowed(uri) = value else {
                return None;
            };
            let p = (!prefix.is_empty()).then_some(local);
            if (uri.is_empty() && p.is_some())
                || uri == XML_NS
                || uri == XMLNS_NS
                || matches!(p, Some("xml" | "xmlns"))
                || self.decls.iter().any(|d| d.0 == p)
            {
                return None;
            }
            // A binding made before with the same prefix and URI is the one
            // roxmltree keeps (its strings are that first one's).
            let d = match self.uniq.iter().find(|u| u.0 == p && u.1 == uri) {
                Some(&u) => u,
                None if self.uniq.len() < MAX_NAMESPACES => {
                    self.uniq.push((p, uri));
                    (p, uri)
                }
                None => return None,
            };
            self.decls.push(d);
        } else {
            if local == "xmlns" || self.attrs.len() >= MAX_ATTRS {
                return None;
            }
            self.attrs.push(RawAttr {
                prefix,
                local,
                value,
                pos,
                uri: None,
            });
        }
        Some(())
    }

    /// An attribute's value after its opening quote `q`, normalised as
    /// XML says (tab and newline become spaces, entities are replaced).
    fn attr_value(&mut self, q: u8) -> Option<Cow<'t, str>> {
        let b = self.b;
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut plain = start;
        loop {
            let mut i = self.pos;
            while i < b.len() && CLASS[b[i] as usize] & ATTR_STOP == 0 {
                i += 1;
            }
            let c = *b.get(i)?;
            self.pos = i + 1;
            match c {
                _ if c == q => break,
                b'"' | b'\'' => {}
                b'&' | b'\t' | b'\n' | b'\r' => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.text[plain..i]);
                    if c == b'&' {
                        let (ch, len) = entity(&b[i..])?;
                        o.push(ch);
                        self.pos = i + len;
                    } else if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
                        // CR LF is one line end: one space (for the LF).
                    } else {
                        o.push(' ');
                    }
                    plain = self.pos;
                }
                0xEF => not_ffff(&b[i..])?,
                _ => return None,
            }
        }
        let end = self.pos - 1;
        Some(match owned {
            Some(mut o) => {
                o.push_str(&self.text[plain..end]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&self.text[start..end]),
        })
    }

    /// Appends the element just read, as [`Document::from_roxml`] copies
    /// one: its namespace, name, attributes and bindings, in that order.
    fn add_element(
        &mut self,
        parent: u32,
        lt: usize,
        prefix: &'t str,
        local: &'t str,
    ) -> Option<u32> {
        let inherited = self.doc.nodes[parent as usize].scope;
        let declared = !self.decls.is_empty();
        // What is in scope: the tag's own bindings, then its parent's that
        // they do not shadow (the order roxmltree lists them in).
        if declared {
            self.scope.clear();
            self.scope.extend_from_slice(&self.decls);
            for k in inherited.0..inherited.1 {
                let b = self.bound[k as usize];
                if !self.decls.iter().any(|d| d.0 == b.0) {
                    self.scope.push(b);
                }
            }
        }
        let scope: &[Decl<'t>] = if declared {
            &self.scope
        } else {
            &self.bound[inherited.0 as usize..inherited.1 as usize]
        };
        let lookup = |p: Option<&str>| scope.iter().find(|d| d.0 == p).map(|d| d.1);
        let el_ns = if prefix.is_empty() {
            lookup(None)
        } else if prefix == "xml" || prefix == "xmlns" {
            return None;
        } else {
            Some(lookup(Some(prefix))?)
        };
        for k in 0..self.attrs.len() {
            let uri = match self.attrs[k].prefix {
                "" => None,
                "xml" => Some(XML_NS),
                "xmlns" => return None,
                p => Some(lookup(Some(p))?),
            };
            let a = &self.attrs[k];
            if self.attrs[..k]
                .iter()
                .any(|b| b.uri == uri && b.local == a.local)
            {
                return None;
            }
            self.attrs[k].uri = uri;
        }
        let src = self.text;
        let d = &mut self.doc;
        let ns = match el_ns {
            Some(u) => d.intern_uri(u, src),
            None => 0,
        };
        let name = d.span_of(local, src);
        let a0 = d.attrs.len() as u32;
        for a in &self.attrs {
            let ns = match a.uri {
                Some(u) => d.intern_uri(u, src),
                None => 0,
            };
            let name = d.span_of(a.local, src);
            let value = d.span_of(&a.value, src);
            d.attrs.push(AttrData {
                ns,
                name,
                value,
                pos: a.pos as u32,
            });
        }
        let a1 = d.attrs.len() as u32;
        // The bindings: the parent's range when they are the same.
        let same = scope.len() as u32 == inherited.1 - inherited.0
            && scope
                .iter()
                .zip(&self.bound[inherited.0 as usize..inherited.1 as usize])
                .all(|(x, y)| x == y);
        let range = if same {
            inherited
        } else {
            let b0 = d.bindings.len() as u32;
            for &(p, u) in scope {
                let prefix = p.map(|p| d.span_of(p, src));
                let uri = d.span_of(u, src);
                let id = if u.is_empty() { 0 } else { d.intern_span(uri) };
                d.bindings.push(Binding { prefix, uri, id });
            }
            // (Only a tag that declares bindings has a scope of its own.)
            self.bound.extend_from_slice(&self.scope);
            (b0, d.bindings.len() as u32)
        };
        let mut e = NodeData::new(Kind::Element, parent, name, range, 0);
        (e.ns, e.attrs, e.pos) = (ns, (a0, a1), lt as u32);
        Some(d.append_child(parent, e))
    }
}

/// A predefined entity at `&`: its character and length. Character
/// references and other entities are left to the parser.
#[inline]
fn entity(b: &[u8]) -> Option<(char, usize)> {
    let (c, n) = match b.get(1..4)? {
        b"lt;" => ('<', 4),
        b"gt;" => ('>', 4),
        b"amp" if b.get(4) == Some(&b';') => ('&', 5),
        b"quo" if b.get(4..6) == Some(b"t;") => ('"', 6),
        b"apo" if b.get(4..6) == Some(b"s;") => ('\'', 6),
        _ => return None,
    };
    Some((c, n))
}

/// `None` when `b` starts with U+FFFE or U+FFFF (not XML characters).
#[inline]
fn not_ffff(b: &[u8]) -> Option<()> {
    match b.get(1..3) {
        Some([0xBF, 0xBE | 0xBF]) => None,
        _ => Some(()),
    }
}

/// `None` when a comment holds a character XML does not allow.
fn check_chars(b: &[u8]) -> Option<()> {
    for (i, &c) in b.iter().enumerate() {
        if (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'))
            || (c == 0xEF && not_ffff(&b[i..]).is_none())
        {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scan reads must be what roxmltree's parse, copied, gives;
    /// what roxmltree refuses, the scan must leave to it. Answers whether
    /// the scan read it.
    fn agree(text: &str) -> bool {
        let parsed = roxmltree::Document::parse(text);
        match (Document::scan(text), parsed) {
            (Some(d), Ok(p)) => {
                let copied = Document::from_roxml(&p).unwrap();
                if d != copied {
                    let first = |a: String, b: String| {
                        let i = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                        format!(
                            "scan: {}\nparser: {}",
                            &a[i.saturating_sub(200)..(i + 200).min(a.len())],
                            &b[i.saturating_sub(200)..(i + 200).min(b.len())]
                        )
                    };
                    panic!(
                        "the scan and the parser differ on:\n{text}\n{}",
                        first(format!("{d:?}"), format!("{copied:?}"))
                    );
                }
                true
            }
            (Some(_), Err(e)) => panic!("the scan read what the parser refuses ({e}):\n{text}"),
            (None, _) => false,
        }
    }

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_corpus_and_sample_file_reads_as_the_parser_reads_it() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("tests/corpus"), &mut paths);
        files(&root.join("samples"), &mut paths);
        let (mut xml, mut scanned) = (0, 0);
        for p in paths {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            if !text.trim_start().starts_with('<') {
                continue;
            }
            xml += 1;
            if agree(&text) {
                scanned += 1;
            }
        }
        // Nearly all real documents are in the subset (the rest: CRLF line ends,
        // character references, CDATA, DOCTYPEs).
        assert!(xml > 150, "{xml} XML files");
        assert!(scanned * 10 > xml * 9, "{scanned} of {xml} scanned");
        eprintln!("{scanned} of {xml} corpus and sample files scanned");
    }

    #[test]
    fn damaged_documents_read_as_the_parser_reads_them_or_go_to_it() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut bases: Vec<String> = [
            "samples/kvm/web.xml",
            "samples/vsphere/web.xml",
            "samples/ovf/web.ovf",
            "samples/ec2/web.xml",
        ]
        .iter()
        .map(|p| std::fs::read_to_string(root.join(p)).unwrap())
        .collect();
        // Windows line ends, as in OVFs exported there.
        bases.push(bases[2].replace('\n', "\r\n"));
        bases.push(bases[0].replace('\n', "\r\n"));
        for b in &bases {
            assert!(agree(b), "an undamaged sample is scanned");
        }
        let pieces = [
            "<",
            ">",
            "&",
            "&amp;",
            "&lt;",
            "&gt;",
            "&quot;",
            "&apos;",
            "&#10;",
            "&#x41;",
            "&bogus;",
            "&am;",
            "\"",
            "'",
            "=",
            " ",
            "\t",
            "\n",
            "\r",
            "\r\n",
            "/",
            ":",
            "x",
            "é",
            "]]>",
            "]]",
            "\u{FFFE}",
            "\u{FFFF}",
            "\u{FEFF}",
            "\u{1}",
            "\0",
            "<!--",
            "-->",
            "<!-- c -->",
            "<!-- a -- b -->",
            "<!--->",
            "<![CDATA[c]]>",
            "<?pi?>",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE a>",
            " xmlns=\"u\"",
            " xmlns:a=\"u\"",
            " xmlns:a=\"\"",
            " xmlns=\"\"",
            " xmlns:xml=\"u\"",
            " xmlns:b=\"http://www.w3.org/XML/1998/namespace\"",
            " a:b=\"c\"",
            " b:a=\"c\"",
            " xml:lang=\"en\"",
            " x=\"1\"",
            " x='1'",
            " x=\"a&amp;b\"",
            " x=\"a\tb\"",
            "</a>",
            "<a>",
            "<a/>",
            "<b:a/>",
            "<a:b/>",
            "<xml:a/>",
            "<xmlns:a/>",
            " xmlns:b=\"v\"",
            "a:",
            ":a",
        ];
        let mut next = crate::testing::picker(0x2545_F491_4F6C_DD1D);
        let (mut scanned, mut left) = (0, 0);
        for round in 0..20000 {
            let mut text = bases[round % bases.len()].clone();
            // One or two changes.
            for _ in 0..1 + next(2) {
                let mut i = next(text.len() + 1);
                while !text.is_char_boundary(i) {
                    i += 1;
                }
                let mut j = (i + 1 + next(8)).min(text.len());
                while !text.is_char_boundary(j) {
                    j += 1;
                }
                match next(4) {
                    0 | 1 => text.insert_str(i, pieces[next(pieces.len())]),
                    2 => text.replace_range(i..j, ""),
                    _ => {
                        let chunk = text[i..j].to_string();
                        text.insert_str(i, &chunk);
                    }
                }
            }
            if agree(&text) {
                scanned += 1;
            } else {
                left += 1;
            }
        }
        // Both ways are exercised: damage the scan reads (and must read
        // right) and damage it leaves to the parser.
        eprintln!("{scanned} scanned, {left} left to the parser");
        assert!(
            scanned > 3000 && left > 8000,
            "{scanned} scanned, {left} left"
        );
    }

    #[test]
    fn namespaces_entities_and_comments_read_as_the_parser_reads_them() {
        for text in [
            "<a/>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<!-- c -->\n<a>x</a>\n<!-- d -->\n",
            "<?xml version='1.0'?><a x='1' y=\"2\"/>",
            "<a>one<!-- c -->two<b/>three &amp; &lt;four&gt; &quot;&apos;</a>",
            "<a x=\"tab\there\nline &amp; &lt;\" y=\"'\" z='\"'/>",
            "<a xmlns=\"urn:d\" xmlns:p=\"urn:p\"><p:b p:c=\"1\" c=\"2\"><c xmlns=\"urn:e\"/><d xmlns:p=\"urn:p\"/><e xmlns:q=\"urn:q\" xmlns:p=\"urn:r\"/></p:b></a>",
            "<p:a xmlns:p=\"urn:p\" xmlns:q=\"urn:p\" p:x=\"1\" xml:lang=\"en\"><q:b/></p:a>",
            "<a>\n  <b>\n    <c>é ü ✓ 𝄞</c>\n  </b>\n</a>",
            "<a></a >",
            "<a\n  x = \"1\"\n/>",
            "<?xml version=\"1.0\"?>\r\n<a\r\n x=\"1\r\n2\r3\"\r\n>one\r\ntwo\rthree\r\r\n<b/>\r</a>\r\n",
            "<a>\r\n  <!-- c\r\n -->\r\n  <b x='\r'/>\r\n</a>",
            "<a xmlns=\"urn:d\"><b xmlns=\"\"><c/></b><d/></a>",
            "<a><b xmlns=\"\"/></a>",
        ] {
            assert!(agree(text), "{text}");
        }
        for text in [
            "<a x=\"1\" x=\"2\"/>",
            "<p:a xmlns:p=\"u\" xmlns:q=\"u\" p:x=\"1\" q:x=\"2\"/>",
            "<a><b></a></b>",
            "<a>",
            "<a/><b/>",
            "text",
            "",
            "<a>]]></a>",
            "<a>&#10;</a>",
            "<a>\r&amp;</a>",
            "<a>&amp;\r\n</a>",
            "<a x=\"<\"/>",
            "<a x=\"1\"y=\"2\"/>",
            "<a:b/>",
            "<a xmlns:a=\"\"/>",
            "<!DOCTYPE a><a/>",
            "<a><![CDATA[x]]></a>",
            " <?xml version=\"1.0\"?><a/>",
            "<a><!-- a -- b --></a>",
            "<é/>",
        ] {
            assert!(
                !agree(text),
                "the scan should leave this to the parser: {text}"
            );
        }
    }

    #[test]
    fn deep_and_crowded_documents_go_to_the_parser() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_OPEN + 1),
            "</a>".repeat(MAX_OPEN + 1)
        );
        assert!(Document::scan(&deep).is_none());
        let ok = format!("{}{}", "<a>".repeat(MAX_OPEN), "</a>".repeat(MAX_OPEN));
        assert!(agree(&ok));
        let attrs: String = (0..=MAX_ATTRS).map(|i| format!(" a{i}=\"v\"")).collect();
        assert!(Document::scan(&format!("<a{attrs}/>")).is_none());
        let decl = |n: usize| -> String {
            (0..n)
                .map(|i| format!("<e xmlns:p=\"urn:{i}\">"))
                .chain((0..n).map(|_| "</e>".to_string()))
                .collect()
        };
        assert!(agree(&decl(MAX_NAMESPACES)));
        assert!(Document::scan(&decl(MAX_NAMESPACES + 1)).is_none());
    }
}
