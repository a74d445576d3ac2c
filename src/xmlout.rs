//! The one place XML is written: a thin layer over xmlwriter that escapes
//! every value itself (xmlwriter 0.1 leaves `&` and `>` raw), tracks namespace
//! scopes, refuses characters XML cannot carry, and reports misuse as errors
//! instead of panicking.

use std::borrow::Cow;
use std::ops::Range;

use xmlwriter::{Indent, Options, XmlWriter};

/// The XML declaration every document starts with.
const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>"#;
const DECL_LINE: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>"#,
    "\n"
);

/// Misuse of the writer by a mapping, or a value XML cannot represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    AttributeAfterContent(String),
    TextOutsideRoot,
    SecondRoot(String),
    NoRoot,
    InvalidChar(u32),
    /// A document built as a tree names a prefix it never declared.
    Unbound(String),
    /// An attribute (or namespace declaration) written twice on one element.
    Duplicate(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::AttributeAfterContent(a) => write!(
                f,
                "attribute `{a}` is written after the element's content; write attributes first"
            ),
            WriteError::TextOutsideRoot => write!(
                f,
                "text cannot be written outside the document's root element"
            ),
            WriteError::SecondRoot(n) => write!(
                f,
                "element `{n}` would be a second root element; a document has exactly one"
            ),
            WriteError::NoRoot => write!(f, "the document has no root element"),
            WriteError::InvalidChar(c) => write!(f, "character U+{c:04X} cannot appear in XML 1.0"),
            WriteError::Unbound(m) => f.write_str(m),
            WriteError::Duplicate(a) => write!(
                f,
                "attribute `{a}` is written twice on one element; an element has each attribute once"
            ),
        }
    }
}

struct Open {
    ns_mark: usize,
    has_text: bool,
    has_content: bool,
}

/// Writes one XML document.
pub struct XmlOut {
    w: XmlWriter,
    /// Building a tree instead of writing text ([`XmlOut::building`]).
    tree: Option<crate::tree::Builder>,
    open: Vec<Open>,
    /// (prefix, uri) bindings in scope, as ranges of `scope_text`; `None`
    /// prefix is the default namespace.
    scope: Vec<(Option<Range<usize>>, Range<usize>)>,
    scope_text: String,
    indent: bool,
    roots: usize,
    text_depth: usize,
    buf: String,
    /// A qualified name being put together (no allocation per name).
    qbuf: String,
    /// The names of the attributes written on the element just started
    /// (namespace declarations too), one after the other, and where each
    /// ends: an attribute written twice is an error, not malformed XML.
    here: String,
    here_ends: Vec<usize>,
}

impl Default for XmlOut {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlOut {
    /// An indented document (what users read).
    pub fn new() -> Self {
        Self::with_indent(true)
    }

    /// `indent: false` writes no formatting whitespace: for documents only a
    /// program reads (the hub between two stages of a route).
    pub fn with_indent(indent: bool) -> Self {
        Self::with_capacity(indent, 4096)
    }

    /// [`Self::with_indent`], with room for `capacity` bytes of output.
    pub fn with_capacity(indent: bool, capacity: usize) -> Self {
        let opt = Options {
            indent: if indent {
                Indent::Spaces(2)
            } else {
                Indent::None
            },
            ..Options::default()
        };
        // The declaration is added by `finish` (xmlwriter formats it slowly).
        let w = XmlWriter::with_capacity(capacity, opt);
        // A writer that will write something starts with room for typical
        // nesting and escaped values.
        let room = |n: usize| if capacity > 0 { n } else { 0 };
        XmlOut {
            w,
            tree: None,
            open: Vec::with_capacity(room(16)),
            scope: Vec::new(),
            scope_text: String::new(),
            indent,
            roots: 0,
            text_depth: 0,
            buf: String::with_capacity(room(256)),
            qbuf: String::new(),
            here: String::new(),
            here_ends: Vec::new(),
        }
    }

    /// A writer that builds a [`crate::tree::Document`] instead of text:
    /// for a document the next stage of a route reads. It checks what the
    /// text writer checks (characters, attribute order, one root).
    pub fn building() -> Self {
        let mut o = Self::with_capacity(false, 0);
        o.tree = Some(crate::tree::Builder::new());
        o
    }

    /// [`XmlOut::building`], for a program reading `source`: the nodes can
    /// be given the position of the input node they were written from
    /// ([`XmlOut::origin`]).
    pub fn building_from(source: &str) -> Self {
        let mut o = Self::with_capacity(false, 0);
        o.tree = Some(crate::tree::Builder::with_source(source));
        o
    }

    /// The position in the source of what is written next (a tree only).
    #[inline]
    pub fn origin(&mut self, pos: Option<usize>) {
        if let Some(b) = &mut self.tree {
            b.origin(pos);
        }
    }

    /// Whether this writer builds a tree.
    pub fn is_building(&self) -> bool {
        self.tree.is_some()
    }

    /// Depth of open elements.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    fn mark_content(&mut self) {
        if let Some(o) = self.open.last_mut() {
            o.has_content = true;
        }
    }

    /// Starts an element with a name as written (`prefix:local` or `local`).
    #[inline]
    pub fn start(&mut self, qname: &str) -> Result<(), WriteError> {
        if self.open.is_empty() {
            if self.roots > 0 {
                return Err(WriteError::SecondRoot(qname.to_string()));
            }
            self.roots += 1;
        }
        self.mark_content();
        match &mut self.tree {
            Some(b) => b.start(qname),
            None => self.w.start_element(qname),
        }
        self.open.push(Open {
            ns_mark: self.scope.len(),
            has_text: false,
            has_content: false,
        });
        self.here.clear();
        self.here_ends.clear();
        Ok(())
    }

    fn text_of(&self, r: &Range<usize>) -> &str {
        &self.scope_text[r.clone()]
    }

    /// The prefix bound to `uri` in scope (`Some(None)` for the default).
    pub fn prefix_for(&self, uri: &str) -> Option<Option<&str>> {
        // Innermost binding wins; a prefix rebound later shadows earlier ones.
        for (i, (p, u)) in self.scope.iter().enumerate().rev() {
            if self.text_of(u) == uri {
                let p = p.as_ref().map(|r| self.text_of(r));
                let shadowed = self.scope[i + 1..]
                    .iter()
                    .any(|(q, _)| q.as_ref().map(|r| self.text_of(r)) == p);
                if !shadowed {
                    return Some(p);
                }
            }
        }
        None
    }

    /// The default namespace in scope.
    pub fn default_ns(&self) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p.is_none())
            .map(|(_, u)| self.text_of(u))
            .filter(|u| !u.is_empty())
    }

    /// Declares a namespace on the element just started.
    pub fn declare(&mut self, prefix: Option<&str>, uri: &str) -> Result<(), WriteError> {
        // Names and URIs are kept in one string: no allocation per binding.
        if self.scope_text.capacity() == 0 {
            self.scope_text.reserve(256);
            self.scope.reserve(8);
        }
        let start = self.scope_text.len();
        self.scope_text.push_str("xmlns");
        if let Some(p) = prefix {
            self.scope_text.push(':');
            self.scope_text.push_str(p);
        }
        let name_end = self.scope_text.len();
        self.scope_text.push_str(uri);
        let end = self.scope_text.len();
        let name = std::mem::take(&mut self.scope_text);
        let r = self.attr(&name[start..name_end], &name[name_end..end]);
        self.scope_text = name;
        if let Err(e) = r {
            self.scope_text.truncate(start);
            return Err(e);
        }
        let p = prefix.map(|_| start + "xmlns:".len()..name_end);
        self.scope.push((p, name_end..end));
        Ok(())
    }

    /// Starts an element in namespace `ns` (None: no namespace), choosing a
    /// prefix in scope or declaring one (`preferred`, else the default).
    pub fn start_ns(
        &mut self,
        local: &str,
        ns: Option<&str>,
        preferred: Option<&str>,
    ) -> Result<(), WriteError> {
        let uri = ns.unwrap_or("");
        if uri.is_empty() {
            self.start(local)?;
            if self.default_ns().is_some() {
                self.declare(None, "")?;
            }
            return Ok(());
        }
        if self.default_ns() == Some(uri) {
            return self.start(local);
        }
        if let Some(q) = self.in_scope_name(uri, local) {
            let r = self.start(&q);
            self.qbuf = q;
            return r;
        }
        match preferred {
            Some(p) if !p.is_empty() => {
                let p = self.free_prefix(p);
                let q = self.qualified(&p, local);
                let r = self.start(&q);
                self.qbuf = q;
                r?;
                self.declare(Some(&p), uri)
            }
            _ => {
                self.start(local)?;
                self.declare(None, uri)
            }
        }
    }

    /// Writes an attribute in namespace `ns`, declaring its prefix if needed.
    pub fn attr_ns(
        &mut self,
        local: &str,
        ns: Option<&str>,
        preferred: Option<&str>,
        value: &str,
    ) -> Result<(), WriteError> {
        match ns {
            None | Some("") => self.attr(local, value),
            Some("http://www.w3.org/XML/1998/namespace") => {
                let q = self.qualified("xml", local);
                let r = self.attr(&q, value);
                self.qbuf = q;
                r
            }
            Some(uri) => {
                if let Some(q) = self.in_scope_name(uri, local) {
                    let r = self.attr(&q, value);
                    self.qbuf = q;
                    return r;
                }
                let p = self.free_prefix(preferred.filter(|p| !p.is_empty()).unwrap_or("ns0"));
                self.declare(Some(&p), uri)?;
                let q = self.qualified(&p, local);
                let r = self.attr(&q, value);
                self.qbuf = q;
                r
            }
        }
    }

    /// `preferred`, unless it is bound in scope already (to another URI:
    /// binding it again would change what the names written with it mean),
    /// else the first of `ns0`, `ns1`, … that is not.
    fn free_prefix(&self, preferred: &str) -> String {
        let bound = |p: &str| {
            self.scope
                .iter()
                .any(|(q, _)| q.as_ref().is_some_and(|r| self.text_of(r) == p))
        };
        if !bound(preferred) {
            return preferred.to_string();
        }
        (0..)
            .map(|k| format!("ns{k}"))
            .find(|p| !bound(p))
            .expect("a free prefix")
    }

    /// `prefix:local` in the reused name buffer, taken out of `self` (put
    /// it back when done with it).
    fn qualified(&mut self, prefix: &str, local: &str) -> String {
        let mut q = std::mem::take(&mut self.qbuf);
        q.clear();
        q.push_str(prefix);
        q.push(':');
        q.push_str(local);
        q
    }

    /// `prefix:local` with the prefix bound to `uri` in scope, in the reused
    /// name buffer (None when `uri` has no prefix in scope).
    fn in_scope_name(&mut self, uri: &str, local: &str) -> Option<String> {
        let mut q = std::mem::take(&mut self.qbuf);
        match self.prefix_for(uri) {
            Some(Some(p)) => {
                q.clear();
                q.push_str(p);
                q.push(':');
                q.push_str(local);
                Some(q)
            }
            _ => {
                self.qbuf = q;
                None
            }
        }
    }

    /// Writes an attribute on the element just started.
    #[inline]
    pub fn attr(&mut self, qname: &str, value: &str) -> Result<(), WriteError> {
        match self.open.last() {
            Some(o) if !o.has_content => {}
            _ => return Err(WriteError::AttributeAfterContent(qname.to_string())),
        }
        let mut from = 0;
        for &end in &self.here_ends {
            if &self.here[from..end] == qname {
                return Err(WriteError::Duplicate(qname.to_string()));
            }
            from = end;
        }
        self.here.push_str(qname);
        self.here_ends.push(self.here.len());
        self.buf.clear();
        if let Some(t) = &mut self.tree {
            // Checked as the text writer would, kept as it is.
            if needs_escape(value, true) {
                escape_into(&mut self.buf, value, true)?;
            }
            t.attr(qname, value);
            return Ok(());
        }
        if !needs_escape(value, true) {
            self.w
                .write_attribute_raw(qname, |out| out.extend_from_slice(value.as_bytes()));
            return Ok(());
        }
        escape_into(&mut self.buf, value, true)?;
        let b = &self.buf;
        self.w
            .write_attribute_raw(qname, |out| out.extend_from_slice(b.as_bytes()));
        Ok(())
    }

    /// Writes text content.
    #[inline]
    pub fn text(&mut self, value: &str) -> Result<(), WriteError> {
        if value.is_empty() {
            return Ok(());
        }
        if self.open.is_empty() {
            return Err(WriteError::TextOutsideRoot);
        }
        let plain = !needs_escape(value, false);
        if !plain {
            self.buf.clear();
            escape_into(&mut self.buf, value, false)?;
        }
        let o = self.open.last_mut().expect("checked above");
        o.has_content = true;
        if let Some(t) = &mut self.tree {
            t.text(value);
            return Ok(());
        }
        if !o.has_text {
            o.has_text = true;
            self.text_depth += 1;
        }
        self.w.set_preserve_whitespaces(true);
        // Everything is escaped already: `<` became `&lt;`, so xmlwriter's own
        // `<` escaping finds nothing to do.
        self.w.write_text(if plain { value } else { &self.buf });
        Ok(())
    }

    /// Ends the innermost open element.
    #[inline]
    pub fn end(&mut self) {
        if let Some(o) = self.open.pop() {
            match &mut self.tree {
                Some(b) => b.end(),
                None => self.w.end_element(),
            }
            if o.ns_mark < self.scope.len() {
                let from = self.scope[o.ns_mark].0.as_ref().map_or_else(
                    || self.scope[o.ns_mark].1.start - "xmlns".len(),
                    |p| p.start - "xmlns:".len(),
                );
                self.scope.truncate(o.ns_mark);
                self.scope_text.truncate(from);
            }
            if o.has_text {
                self.text_depth -= 1;
            }
            if self.text_depth == 0 {
                self.w.set_preserve_whitespaces(false);
            }
        }
    }

    /// Closes a document made by [`XmlOut::building`] and returns its tree.
    pub fn finish_tree(mut self) -> Result<crate::tree::Document, WriteError> {
        while !self.open.is_empty() {
            self.end();
        }
        if self.roots == 0 {
            return Err(WriteError::NoRoot);
        }
        match self.tree.take() {
            Some(b) => b.finish().map_err(WriteError::Unbound),
            None => Err(WriteError::Unbound(
                "internal: this writer writes text, not a tree".into(),
            )),
        }
    }

    /// Closes the document and returns its text.
    pub fn finish(self) -> Result<String, WriteError> {
        let indent = self.indent;
        let mut doc = self.finish_fragment()?;
        // In place when the buffer has room (see `with_capacity`).
        doc.insert_str(0, if indent { DECL_LINE } else { DECLARATION });
        Ok(doc)
    }

    /// Closes the document and returns its text without an XML declaration:
    /// an element that travels inside another document (a CIM embedded
    /// instance).
    pub fn finish_fragment(mut self) -> Result<String, WriteError> {
        while !self.open.is_empty() {
            self.end();
        }
        if self.roots == 0 {
            return Err(WriteError::NoRoot);
        }
        Ok(self.w.end_document())
    }
}

/// Bytes that may need escaping or checking: controls, `&`, `<`, `>`,
/// `"`, and 0xEF (the first byte of U+FFFE and U+FFFF).
pub(crate) static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[0xEF] = true;
    t
};

/// [`SPECIAL`] for text: `"`, tab and line feed stay as they are there.
pub(crate) static TEXT_SPECIAL: [bool; 256] = {
    let mut t = SPECIAL;
    t[b'"' as usize] = false;
    t[b'\t' as usize] = false;
    t[b'\n' as usize] = false;
    t
};

/// The bytes [`escape_into`] looks at, for an attribute value or text.
#[inline]
fn special(attr: bool) -> &'static [bool; 256] {
    if attr {
        &SPECIAL
    } else {
        &TEXT_SPECIAL
    }
}

/// Whether [`escape_into`] would change or refuse `s` as an attribute
/// value (`attr`) or as text. Eight bytes at a time without a branch per
/// byte (most values need nothing).
#[inline]
fn needs_escape(s: &str, attr: bool) -> bool {
    let table = special(attr);
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        if c.iter().fold(false, |acc, &b| acc | table[b as usize]) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| table[b as usize])
}

/// Escapes `s` for XML text (or an attribute value when `attr`), rejecting
/// characters XML 1.0 cannot carry.
pub fn escape_into(out: &mut String, s: &str, attr: bool) -> Result<(), WriteError> {
    escape_impl::<false>(out, s, attr)
}

/// `s` with every character XML 1.0 cannot hold written as `\u{XXXX}`:
/// for reports about data (a test's output in JUnit), where showing the
/// character beats refusing the whole report.
pub fn printable(s: &str) -> Cow<'_, str> {
    if check_chars(s).is_ok() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        let bad =
            (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}';
        if bad {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether XML 1.0 can hold every character of `s`: what [`escape_into`]
/// refuses, found without keeping an escaped copy.
pub fn check_chars(s: &str) -> Result<(), WriteError> {
    // The bytes that may start what XML cannot hold: controls but tab, line
    // feed and carriage return, and 0xEF (U+FFFE and U+FFFF start with it).
    static SUSPECT: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            t[b] = !matches!(b as u8, b'\t' | b'\n' | b'\r');
            b += 1;
        }
        t[0xEF] = true;
        t
    };
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(n) = bytes[from..].iter().position(|&b| SUSPECT[usize::from(b)]) {
        let i = from + n;
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (0xEF, Some(0xBF), Some(0xBE)) => return Err(WriteError::InvalidChar(0xFFFE)),
            (0xEF, Some(0xBF), Some(0xBF)) => return Err(WriteError::InvalidChar(0xFFFF)),
            (0xEF, ..) => {}
            (b, ..) => return Err(WriteError::InvalidChar(u32::from(b))),
        }
        from = i + 1;
    }
    Ok(())
}

/// Whether byte `b` is in [`SPECIAL`] and in [`NOT_IN_CDATA`], computed
/// (a test checks every byte against the tables).
#[inline(always)]
fn classify(b: u8) -> (bool, bool) {
    let control = b < 0x20;
    let special = control | (b == b'&') | (b == b'<') | (b == b'>') | (b == b'"') | (b == 0xEF);
    let awkward = (control & (b != b'\t') & (b != b'\n')) | (b == 0xEF);
    (special, awkward)
}

/// Bytes a CDATA section cannot hold as they are: controls other than tab
/// and line feed (a carriage return would be read back as a line feed), and
/// 0xEF (the first byte of U+FFFE and U+FFFF, which XML refuses).
#[cfg(test)]
static NOT_IN_CDATA: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    t[0xEF] = true;
    t
};

/// Appends `s` as element text: as it is when nothing in it needs escaping,
/// else in a CDATA section (`]]>` split across two), which keeps a carried
/// document readable and costs a scan instead of an escape per `<` and `>`;
/// escaped as [`escape_into`] does when it holds what a CDATA section
/// cannot (a carriage return, a control, U+FFFE/U+FFFF; the last two are
/// refused there).
pub fn text_block_into(out: &mut String, s: &str) -> Result<(), WriteError> {
    // One pass: does anything need escaping (SPECIAL), and can a CDATA
    // section hold it all (NOT_IN_CDATA)? Comparisons without a branch or
    // a table, so the compiler checks many bytes at a time.
    let (mut special, mut awkward) = (false, false);
    for &b in s.as_bytes() {
        let (s, a) = classify(b);
        special |= s;
        awkward |= a;
    }
    if awkward {
        return escape_into(out, s, false);
    }
    if !special {
        out.push_str(s);
        return Ok(());
    }
    out.reserve(s.len() + 12);
    out.push_str("<![CDATA[");
    // `]` is rare: found with memchr, then `]]>` looked for at it.
    let (mut from, mut at) = (0, 0);
    while let Some(i) = memchr::memchr(b']', &s.as_bytes()[at..]) {
        let i = at + i;
        if s[i..].starts_with("]]>") {
            // `]]` ends this section, `>` starts the next.
            out.push_str(&s[from..i + 2]);
            out.push_str("]]><![CDATA[");
            from = i + 2;
        }
        at = i + 1;
    }
    out.push_str(&s[from..]);
    out.push_str("]]>");
    Ok(())
}

/// Escapes `s` for XML text twice in one pass: the text of an element whose
/// text is itself XML text (`&` becomes `&amp;amp;`), as CIM-XML's embedded
/// instances hold their values.
pub fn escape_text_twice_into(out: &mut String, s: &str) -> Result<(), WriteError> {
    escape_impl::<true>(out, s, false)
}

#[inline]
fn escape_impl<const TWICE: bool>(out: &mut String, s: &str, attr: bool) -> Result<(), WriteError> {
    // Most values need no escaping at all: copy them in one go.
    let table = special(attr);
    if !needs_escape(s, attr) {
        out.push_str(s);
        return Ok(());
    }
    out.reserve(s.len() + s.len() / if TWICE { 2 } else { 4 });
    // Every byte that needs a look is ASCII, or 0xEF (the first byte of
    // U+FFFE and U+FFFF): runs between them are copied whole, and cuts fall
    // on character boundaries.
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if !table[b as usize] {
            i += 1;
            continue;
        }
        let rep = match b {
            b'&' if TWICE => "&amp;amp;",
            b'<' if TWICE => "&amp;lt;",
            b'>' if TWICE => "&amp;gt;",
            b'\r' if TWICE => "&amp;#13;",
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' if attr => "&quot;",
            b'\n' if attr => "&#10;",
            b'\t' if attr => "&#9;",
            b'\r' => "&#13;",
            b'"' | b'\n' | b'\t' => {
                i += 1;
                continue;
            }
            0xEF => {
                match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(0xBF), Some(0xBE)) => return Err(WriteError::InvalidChar(0xFFFE)),
                    (Some(0xBF), Some(0xBF)) => return Err(WriteError::InvalidChar(0xFFFF)),
                    _ => {}
                }
                i += 1;
                continue;
            }
            _ => return Err(WriteError::InvalidChar(b as u32)),
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reparse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
    }

    #[test]
    fn an_attribute_written_twice_is_an_error_not_malformed_xml() {
        for building in [false, true] {
            let mut o = XmlOut::new();
            if building {
                o = XmlOut::building();
            }
            o.start("r").unwrap();
            o.declare(None, "urn:a").unwrap();
            o.attr("id", "1").unwrap();
            assert_eq!(o.attr("id", "2"), Err(WriteError::Duplicate("id".into())));
            assert_eq!(
                o.attr("xmlns", "urn:b"),
                Err(WriteError::Duplicate("xmlns".into()))
            );
            // Another element starts a new set.
            o.start("c").unwrap();
            o.attr("id", "3").unwrap();
        }
    }

    #[test]
    fn a_prefix_bound_to_another_namespace_is_not_bound_again() {
        let mut o = XmlOut::new();
        o.start("r").unwrap();
        o.declare(Some("p"), "urn:B").unwrap();
        o.start("s").unwrap();
        o.attr("p:own", "mine").unwrap();
        // An input attribute of urn:A whose input prefix is p.
        o.attr_ns("id", Some("urn:A"), Some("p"), "fromA").unwrap();
        o.attr_ns("x", Some("urn:C"), Some("ns0"), "c").unwrap();
        o.end();
        o.end();
        let xml = o.finish().unwrap();
        let d = roxmltree::Document::parse(&xml).unwrap();
        let s = d.root_element().first_element_child().unwrap();
        assert_eq!(s.attribute(("urn:B", "own")), Some("mine"), "{xml}");
        assert_eq!(s.attribute(("urn:A", "id")), Some("fromA"), "{xml}");
        assert_eq!(s.attribute(("urn:C", "x")), Some("c"), "{xml}");
    }

    #[test]
    fn classify_agrees_with_the_tables() {
        for b in 0..=255u8 {
            assert_eq!(
                classify(b),
                (SPECIAL[b as usize], NOT_IN_CDATA[b as usize]),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn text_blocks_read_back_as_written() {
        let cases = [
            "plain",
            "<domain type='kvm'>\n  <name>a &amp; b</name>\n</domain>",
            "]]>",
            "a]]>b]]>c",
            "]]]>>",
            "]]",
            "x]]",
            "]]>]]>",
            "é<ü>ß\t\n",
            "<![CDATA[inner]]>",
            "line\r\nbreak <x>",
            "tab\tand <lt>",
        ];
        for s in cases {
            let mut out = String::from("<v>");
            text_block_into(&mut out, s).unwrap();
            out.push_str("</v>");
            let doc = reparse(&out);
            let text: String = doc
                .root_element()
                .children()
                .filter_map(|n| n.text())
                .collect();
            assert_eq!(text, s, "{out}");
            // One text node, as a reader taking the element's text sees it.
            assert_eq!(doc.root_element().text().unwrap_or(""), s, "{out}");
        }
        // What XML cannot hold is refused, as escaping refuses it.
        for bad in ["a\u{1}b <x>", "<x>\u{FFFE}", "\u{FFFF}]]>"] {
            let mut out = String::new();
            assert!(text_block_into(&mut out, bad).is_err(), "{bad:?}");
        }
        // A carriage return cannot be kept in CDATA: escaped instead.
        let mut out = String::new();
        text_block_into(&mut out, "a\r\n<b>").unwrap();
        assert_eq!(out, "a&#13;\n&lt;b&gt;");
    }

    #[test]
    fn check_chars_refuses_what_escaping_refuses() {
        let mut cases: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .map(|c| format!("ab{c}cd"))
            .collect();
        for c in [
            '\u{FFFD}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{EFFF}',
            '\u{FEFF}',
            '\u{10FFFF}',
        ] {
            cases.push(format!("x{c}"));
            cases.push(format!("{c}<&>\"\r\n"));
        }
        cases.push("a & b < c".to_string());
        cases.push(String::new());
        for s in &cases {
            assert_eq!(
                check_chars(s).map_err(|e| e.to_string()),
                escape_into(&mut String::new(), s, false).map_err(|e| e.to_string()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn needs_escape_sees_a_special_byte_anywhere() {
        for len in 0..20 {
            let plain = "a".repeat(len);
            assert!(!needs_escape(&plain, true), "{plain:?}");
            assert!(!needs_escape(&plain, false), "{plain:?}");
            for at in 0..len {
                let with = |c: &str| format!("{}{c}{}", &plain[..at], &plain[at + 1..]);
                for special in ["&", "<", ">", "\r", "\u{1}", "\u{FFFE}"] {
                    assert!(needs_escape(&with(special), true), "{special:?}");
                    assert!(needs_escape(&with(special), false), "{special:?}");
                }
                // What an attribute value escapes and text keeps.
                for kept in ["\"", "\n", "\t"] {
                    assert!(needs_escape(&with(kept), true), "{kept:?}");
                    assert!(!needs_escape(&with(kept), false), "{kept:?}");
                }
            }
        }
    }

    #[test]
    fn escaping_twice_is_escaping_the_escaped() {
        let hostile = "a & b < c > d \" e ' f ]]> g\nh\ti\r\u{e9}\u{FFFD}";
        let (mut once, mut twice, mut both) = (String::new(), String::new(), String::new());
        escape_into(&mut once, hostile, false).unwrap();
        escape_into(&mut twice, &once, false).unwrap();
        escape_text_twice_into(&mut both, hostile).unwrap();
        assert_eq!(both, twice);
        assert!(
            both.contains("a &amp;amp; b &amp;lt; c &amp;gt; d"),
            "{both}"
        );
        let mut out = String::new();
        assert_eq!(
            escape_text_twice_into(&mut out, "x\u{FFFE}"),
            Err(WriteError::InvalidChar(0xFFFE))
        );
        assert_eq!(
            escape_text_twice_into(&mut out, "x\u{1}"),
            Err(WriteError::InvalidChar(1))
        );
    }

    #[test]
    fn hostile_values_round_trip() {
        let hostile = "a & b < c > d \" e ' f ]]> g\nh\ti\r";
        let mut w = XmlOut::new();
        w.start("root").unwrap();
        w.attr("v", hostile).unwrap();
        w.start("t").unwrap();
        w.text(hostile).unwrap();
        w.end();
        let xml = w.finish().unwrap();
        let doc = reparse(&xml);
        let root = doc.root_element();
        assert_eq!(root.attribute("v"), Some(hostile));
        assert_eq!(root.first_element_child().unwrap().text(), Some(hostile));
    }

    #[test]
    fn control_characters_are_refused() {
        let mut w = XmlOut::new();
        w.start("r").unwrap();
        assert_eq!(w.text("a\u{1}b"), Err(WriteError::InvalidChar(1)));
        assert_eq!(w.attr("x", "\u{0}"), Err(WriteError::InvalidChar(0)));
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        let mut w = XmlOut::new();
        assert_eq!(w.text("x"), Err(WriteError::TextOutsideRoot));
        w.start("r").unwrap();
        w.start("c").unwrap();
        w.end();
        assert!(matches!(
            w.attr("late", "1"),
            Err(WriteError::AttributeAfterContent(_))
        ));
        w.end();
        assert!(matches!(w.start("r2"), Err(WriteError::SecondRoot(_))));
        assert_eq!(XmlOut::new().finish(), Err(WriteError::NoRoot));
    }

    #[test]
    fn namespaces_are_declared_once_and_reset_for_foreign_content() {
        let mut w = XmlOut::new();
        w.start("vm").unwrap();
        w.declare(None, "urn:hvx").unwrap();
        w.start_ns("ext", Some("urn:hvx"), None).unwrap();
        w.start_ns("seclabel", None, None).unwrap();
        w.attr_ns("type", Some("urn:x"), Some("x"), "1").unwrap();
        w.end();
        w.end();
        let xml = w.finish().unwrap();
        let doc = reparse(&xml);
        let sec = doc
            .descendants()
            .find(|n| n.has_tag_name("seclabel"))
            .unwrap();
        // roxmltree reports `xmlns=""` as the empty namespace: no namespace.
        assert!(matches!(sec.tag_name().namespace(), None | Some("")));
        assert_eq!(sec.attribute(("urn:x", "type")), Some("1"));
        let ext = doc.descendants().find(|n| n.has_tag_name("ext")).unwrap();
        assert_eq!(ext.tag_name().namespace(), Some("urn:hvx"));
    }
}
