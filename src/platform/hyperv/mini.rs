//! Embedded instances read without a parser. A `DefineSystem` request holds
//! each setting as an `<INSTANCE>` written as the text of a `<VALUE>`; the
//! reader used to parse every one of them as a document of its own, which
//! cost more than reading the rest of the request. Such an instance is a
//! small subset of XML: the elements of CIM-XML's instance (`INSTANCE`,
//! `PROPERTY`, `PROPERTY.ARRAY`, `VALUE`, `VALUE.ARRAY`, `VALUE.NULL`),
//! attributes in double quotes, text with the predefined entities and
//! character references, whitespace between elements.
//!
//! [`scan`] takes an instance only when everything in it is in that subset
//! and well-formed; anything else (a comment, a qualifier, a namespace, an
//! attribute value a parser would normalise, a carriage return, a character
//! XML refuses, a tag that does not match) returns `None`, and the parser
//! reads it as before, with its errors. Whatever `scan` takes, the reader
//! reads exactly as it reads the parsed instance: `tests.rs` reads every
//! request both ways, and thousands of damaged ones.

use std::borrow::Cow;

/// The elements an embedded instance may have here.
const NAMES: &[&str] = &[
    "INSTANCE",
    "PROPERTY",
    "PROPERTY.ARRAY",
    "VALUE",
    "VALUE.ARRAY",
    "VALUE.NULL",
];

/// The deepest an instance goes (`INSTANCE`, `PROPERTY.ARRAY`,
/// `VALUE.ARRAY`, `VALUE`).
const MAX_DEPTH: usize = 4;

/// At most this many attributes on an element (an instance's have three at
/// most: NAME, TYPE, EmbeddedObject).
const MAX_ATTRS: usize = 4;

/// An instance as a list of elements in document order.
pub(super) struct Mini<'t> {
    els: Vec<El<'t>>,
}

struct El<'t> {
    name: &'t str,
    attrs: [(&'t str, &'t str); MAX_ATTRS],
    n_attrs: usize,
    /// The element's text, decoded (`None` when it has none).
    text: Option<Cow<'t, str>>,
    /// Index of the first child element and of the next sibling (0: none;
    /// the root, at 0, is nobody's child or sibling).
    first: usize,
    next: usize,
}

/// An element of a [`Mini`].
#[derive(Clone, Copy)]
pub(super) struct MiniEl<'m, 't> {
    doc: &'m Mini<'t>,
    at: usize,
}

impl<'t> Mini<'t> {
    pub(super) fn root(&self) -> MiniEl<'_, 't> {
        MiniEl { doc: self, at: 0 }
    }
}

impl<'m, 't> MiniEl<'m, 't> {
    fn el(&self) -> &'m El<'t> {
        &self.doc.els[self.at]
    }

    pub(super) fn name(self) -> &'m str {
        self.el().name
    }

    pub(super) fn attribute(self, name: &str) -> Option<&'m str> {
        let el = self.el();
        el.attrs[..el.n_attrs]
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The element's text, or `None` when it has none.
    pub(super) fn text(self) -> Option<&'m str> {
        self.el().text.as_deref()
    }

    pub(super) fn children(self) -> impl Iterator<Item = MiniEl<'m, 't>> {
        let doc = self.doc;
        let mut at = self.el().first;
        std::iter::from_fn(move || {
            if at == 0 {
                return None;
            }
            let here = at;
            at = doc.els[at].next;
            Some(MiniEl { doc, at: here })
        })
    }
}

/// Whether the reader takes the element's text (a value's; elsewhere only
/// whitespace is taken, and left out).
fn holds_text(name: &str) -> bool {
    matches!(name, "VALUE" | "VALUE.NULL")
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// What one pass over text (up to `stop`, or the end) finds: where it
/// stops, whether the text has a reference (`&`), and whether it has only
/// characters XML allows and a parser takes as they are (no control
/// character but tab and line feed, where `tabs` allows them: a carriage
/// return would be normalised; no U+FFFE or U+FFFF; no `]]>`).
fn run(b: &[u8], from: usize, stop: u8, tabs: bool) -> (usize, bool, bool) {
    let mut amp = false;
    let mut i = from;
    while i < b.len() {
        // Most bytes are none of those below: passed over by a table.
        // (The bytes it looks at are those XML text may need escaped.)
        if !crate::xmlout::SPECIAL[b[i] as usize] {
            i += 1;
            continue;
        }
        let c = b[i];
        if c == stop {
            return (i, amp, true);
        }
        match c {
            b'&' => amp = true,
            b'\t' | b'\n' if tabs => {}
            0x00..=0x1F => return (i, amp, false),
            b'>' if i >= from + 2 && b[i - 2] == b']' && b[i - 1] == b']' => {
                return (i, amp, false)
            }
            0xEF if b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)) => {
                return (i, amp, false)
            }
            _ => {}
        }
        i += 1;
    }
    (i, amp, true)
}

/// Whether `text` (without markup) has only characters a parser takes in
/// text as it is: no control character but tab and line feed (a carriage
/// return would be normalised), no U+FFFE or U+FFFF, no `]]>`.
#[cfg(test)]
pub(super) fn text_ok(text: &str) -> bool {
    matches!(run(text.as_bytes(), 0, b'<', true), (end, _, true) if end == text.len())
}

/// An attribute name as the subset writes it: ASCII letters, digits, `_`,
/// `-` and `.`, not starting with a digit, `-` or `.`; no prefix.
fn attr_name_ok(n: &str) -> bool {
    n.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !n.starts_with("xml")
}

/// Reads `text` (an embedded instance, decoded) when it is in the subset;
/// `None` for anything else.
pub(super) fn scan(text: &str) -> Option<Mini<'_>> {
    let b = text.as_bytes();
    let mut els: Vec<El> = Vec::with_capacity(32);
    // The open elements: their index, and their last child so far.
    let mut open: Vec<(usize, usize)> = Vec::with_capacity(MAX_DEPTH);
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    loop {
        // Text up to the next tag.
        let (lt, amp, ok) = run(b, i, b'<', true);
        if !ok {
            return None;
        }
        let t = &text[i..lt];
        match open.last() {
            // Outside the root: whitespace only, and nothing after it.
            None if !els.is_empty() => {
                return (lt == b.len() && t.bytes().all(is_space)).then_some(Mini { els });
            }
            None => {
                if !t.is_empty() {
                    return None;
                }
            }
            Some(&(parent, _)) => {
                if holds_text(els[parent].name) {
                    if !t.is_empty() {
                        let decoded = if amp {
                            Cow::Owned(super::read::decode_text(t)?)
                        } else {
                            Cow::Borrowed(t)
                        };
                        els[parent].text = Some(decoded);
                    }
                } else if !t.bytes().all(is_space) {
                    return None;
                }
            }
        }
        if lt == b.len() {
            return None;
        }
        i = lt + 1;
        if b.get(i) == Some(&b'/') {
            // An end tag: the open element's name, then `>`.
            let (idx, _) = open.pop()?;
            let name = els[idx].name;
            let end = i + 1 + name.len();
            if text.get(i + 1..end) != Some(name) || b.get(end) != Some(&b'>') {
                return None;
            }
            i = end + 1;
            continue;
        }
        // A start tag: a known name, attributes, `>` or `/>`.
        let name_end = i + b[i..]
            .iter()
            .position(|&c| is_space(c) || c == b'>' || c == b'/')?;
        let name = *NAMES.iter().find(|n| **n == &text[i..name_end])?;
        // A value holds text, not elements.
        if let Some(&(parent, _)) = open.last() {
            if holds_text(els[parent].name) {
                return None;
            }
        }
        let mut el = El {
            name,
            attrs: [("", ""); MAX_ATTRS],
            n_attrs: 0,
            text: None,
            first: 0,
            next: 0,
        };
        i = name_end;
        let empty = loop {
            let spaced = i < b.len() && is_space(b[i]);
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            match *b.get(i)? {
                b'>' => {
                    i += 1;
                    break false;
                }
                b'/' => {
                    if b.get(i + 1) != Some(&b'>') {
                        return None;
                    }
                    i += 2;
                    break true;
                }
                _ => {}
            }
            // An attribute: after whitespace, `name="value"`.
            if !spaced || el.n_attrs == MAX_ATTRS {
                return None;
            }
            let eq = i + text[i..].find('=')?;
            let an = &text[i..eq];
            if !attr_name_ok(an) || b.get(eq + 1) != Some(&b'"') {
                return None;
            }
            let vstart = eq + 2;
            // No reference to decode, nothing a parser would refuse or
            // normalise (tab and line feed become spaces).
            let (vend, amp, ok) = run(b, vstart, b'"', false);
            let v = &text[vstart..vend];
            if vend == b.len() || amp || !ok || v.contains('<') {
                return None;
            }
            if el.attrs[..el.n_attrs].iter().any(|(n, _)| *n == an) {
                return None;
            }
            el.attrs[el.n_attrs] = (an, v);
            el.n_attrs += 1;
            i = vend + 1;
        };
        let idx = els.len();
        match open.last_mut() {
            Some((parent, last)) => {
                if *last == 0 {
                    els[*parent].first = idx;
                } else {
                    els[*last].next = idx;
                }
                *last = idx;
            }
            // A second root.
            None if idx > 0 => return None,
            None => {}
        }
        els.push(el);
        if empty {
            if idx == 0 {
                return b[i..].iter().all(|&c| is_space(c)).then_some(Mini { els });
            }
        } else {
            if open.len() == MAX_DEPTH {
                return None;
            }
            open.push((idx, 0));
        }
    }
}
