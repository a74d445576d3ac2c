//! The writer's fast path. A mapping's output reaches the writer as text
//! written by [`XmlOut`](crate::xmlout::XmlOut): elements, attributes in
//! double quotes, text escaped with the predefined entities and nothing else
//! (no comments, CDATA or DOCTYPE). In that text every value is already
//! escaped exactly as an embedded instance needs it, so this scanner copies
//! values as they are instead of parsing the document into a tree, unescaping
//! every value and escaping it again.
//!
//! It takes the canonical form only when everything in it is what the
//! general path would accept: anything else (another shape, a value that
//! fails its type, a second VSSD, text outside the subset) returns `None`,
//! and the general path ([`super::write`]'s tree walk) writes the request or
//! says, with the instance and property, what is wrong. `tests.rs` checks
//! that both paths write the same bytes.

use memchr::memchr;

use super::{check_value, CARRIED_NOTE, NS, SECURITY, TYPES, VSSD};
use crate::xmlout::{escape_into, escape_text_twice_into};

/// The instances of a canonical form, each as CIM-XML text (`<INSTANCE>…`)
/// escaped as the text of the request's `<VALUE>`.
pub(super) struct Packed {
    pub system: String,
    pub resources: Vec<String>,
    pub security: Option<String>,
}

/// At most this many attributes on one element (the canonical form's
/// elements have three at most); more goes to the general path.
const MAX_ATTRS: usize = 4;

struct Attrs<'a> {
    list: [(&'a str, &'a str); MAX_ATTRS],
    len: usize,
    /// More than [`MAX_ATTRS`]: only [`Scan::content`] takes such an element.
    overflow: bool,
}

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.list[..self.len]
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

enum Tok<'a> {
    Start {
        name: &'a str,
        attrs: Attrs<'a>,
        empty: bool,
    },
    End(&'a str),
    Text(&'a str),
    Eof,
}

struct Scan<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    /// The next token, or `None` for anything outside the subset.
    fn next(&mut self) -> Option<Tok<'a>> {
        let s = self.s;
        let b = s.as_bytes();
        let Some(&first) = b.get(self.pos) else {
            return Some(Tok::Eof);
        };
        if first != b'<' {
            let end = memchr(b'<', &b[self.pos..]).map_or(s.len(), |i| self.pos + i);
            let t = &s[self.pos..end];
            self.pos = end;
            return entities_ok(t).then_some(Tok::Text(t));
        }
        match b.get(self.pos + 1)? {
            b'/' => {
                let end = self.pos + 2 + memchr(b'>', &b[self.pos + 2..])?;
                let name = &s[self.pos + 2..end];
                self.pos = end + 1;
                name_ok(name).then_some(Tok::End(name))
            }
            b'!' | b'?' => None,
            _ => {
                let mut attrs = Attrs {
                    list: [("", ""); MAX_ATTRS],
                    len: 0,
                    overflow: false,
                };
                let (name, end, empty) = start_tag(s, self.pos, |an, av| {
                    if attrs.len == MAX_ATTRS {
                        attrs.overflow = true;
                    } else {
                        attrs.list[attrs.len] = (an, av);
                        attrs.len += 1;
                    }
                })?;
                self.pos = end;
                Some(Tok::Start { name, attrs, empty })
            }
        }
    }

    /// Skips the rest of the element `name` whose start tag was just read;
    /// returns the text of its content. Comments and the like, and tags
    /// that do not match, return `None`. Walks the content as [`Self::next`]
    /// would, with the same checks, without making a token of each tag (a
    /// carried hub is most of a canonical form's markup).
    fn content(&mut self, name: &str) -> Option<&'a str> {
        let s = self.s;
        let b = s.as_bytes();
        let from = self.pos;
        let mut open: Vec<&str> = Vec::new();
        let mut i = self.pos;
        loop {
            let lt = i + find(&b[i..], b'<')?;
            // Between tags: whitespace mostly, a value now and then.
            if find(&b[i..lt], b'&').is_some() && !entities_ok(&s[i..lt]) {
                return None;
            }
            match *b.get(lt + 1)? {
                b'/' => {
                    let gt = lt + 2 + find(&b[lt + 2..], b'>')?;
                    let n = &s[lt + 2..gt];
                    if !name_ok(n) {
                        return None;
                    }
                    match open.pop() {
                        Some(o) if o == n => {}
                        None if n == name => {
                            self.pos = gt + 1;
                            return Some(&s[from..lt]);
                        }
                        _ => return None,
                    }
                    i = gt + 1;
                }
                b'!' | b'?' => return None,
                _ => {
                    let (n, end, empty) = start_tag(s, lt, |_, _| {})?;
                    if !empty {
                        open.push(n);
                    }
                    i = end;
                }
            }
        }
    }
}

/// The start tag at `lt` (its `<`): its name, where it ends and whether it
/// is empty (`/>`), each attribute given to `attr` as it is read; `None`
/// for anything outside the subset (a name's bytes, a value's `<`, an
/// entity XmlOut does not write).
fn start_tag<'a>(
    s: &'a str,
    lt: usize,
    mut attr: impl FnMut(&'a str, &'a str),
) -> Option<(&'a str, usize, bool)> {
    let b = s.as_bytes();
    let start = lt + 1;
    let mut i = start;
    while !matches!(*b.get(i)?, b' ' | b'/' | b'>') {
        if NOT_NAME[b[i] as usize] {
            return None;
        }
        i += 1;
    }
    let name = &s[start..i];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    loop {
        match *b.get(i)? {
            b' ' => i += 1,
            b'>' => return Some((name, i + 1, false)),
            b'/' => {
                return (b.get(i + 1) == Some(&b'>')).then_some((name, i + 2, true));
            }
            first => {
                // One pass over `name="value"`: the name's bytes and the
                // value's `<` and `&` checked on the way.
                if first.is_ascii_digit() {
                    return None;
                }
                let from = i;
                while *b.get(i)? != b'=' {
                    if NOT_NAME[b[i] as usize] {
                        return None;
                    }
                    i += 1;
                }
                let eq = i;
                if b.get(eq + 1) != Some(&b'"') {
                    return None;
                }
                i = eq + 2;
                let mut amp = false;
                loop {
                    match *b.get(i)? {
                        b'"' => break,
                        b'<' => return None,
                        b'&' => amp = true,
                        _ => {}
                    }
                    i += 1;
                }
                let value = &s[eq + 2..i];
                if amp && !entities_ok(value) {
                    return None;
                }
                attr(&s[from..eq], value);
                i += 1;
            }
        }
    }
}

/// Where `c` first is in `b`: a plain loop, for the short spans between
/// and inside tags (memchr's setup costs more than it saves there).
#[inline]
fn find(b: &[u8], c: u8) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

/// Bytes that end or break a tag, and cannot be in a name.
static NOT_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let bad = b"<>&\"'=/ \t\n\r";
    let mut i = 0;
    while i < bad.len() {
        t[bad[i] as usize] = true;
        i += 1;
    }
    t
};

/// A name as XmlOut writes them (the characters that end or break a tag
/// excluded; the rest was checked when it was written).
fn name_ok(n: &str) -> bool {
    match n.as_bytes() {
        [first, ..] if !first.is_ascii_digit() => !n.bytes().any(|b| NOT_NAME[b as usize]),
        _ => false,
    }
}

/// Every `&` starts an entity XML predefines or a character reference
/// XmlOut writes.
fn entities_ok(t: &str) -> bool {
    let mut rest = t;
    while let Some(i) = memchr(b'&', rest.as_bytes()) {
        rest = &rest[i + 1..];
        let Some(end) = memchr(b';', rest.as_bytes()) else {
            return false;
        };
        // XmlOut's own references only; the general path judges the rest.
        let ok = matches!(
            &rest[..end],
            "amp" | "lt" | "gt" | "quot" | "apos" | "#9" | "#10" | "#13"
        );
        if !ok {
            return false;
        }
        rest = &rest[end + 1..];
    }
    true
}

fn blank(t: &str) -> bool {
    t.bytes().all(|c| matches!(c, b' ' | b'\n' | b'\t' | b'\r'))
}

/// The canonical form's instances as CIM-XML texts, or `None` when the
/// general path must look (see the module's documentation).
pub(super) fn pack(xml: &str) -> Option<Packed> {
    let mut sc = Scan { s: xml, pos: 0 };
    // XmlOut's declaration, and nothing else, may come first.
    if xml.starts_with("<?xml ") {
        sc.pos = xml.find("?>")? + 2;
    }
    let (root_attrs, root_empty) = loop {
        match sc.next()? {
            Tok::Text(t) if blank(t) => continue,
            Tok::Start { name, attrs, empty } if name == "hyperv" && !attrs.overflow => {
                break (attrs, empty)
            }
            _ => return None,
        }
    };
    // The carried hub content is copied as it is into a `<hub>` that declares
    // the canonical form's default namespace and the hub's `hvx` prefix: the
    // same bindings as the root, so the root must declare both and nothing
    // else. (XmlOut then wrote the content's own declarations exactly as the
    // general path's copy writes them inside `<hub>`.)
    for (n, v) in &root_attrs.list[..root_attrs.len] {
        let ok = match *n {
            "xmlns" => *v == NS,
            "xmlns:hvx" => *v == crate::platform::HVX_NS,
            n => !n.starts_with("xmlns"),
        };
        if !ok {
            return None;
        }
    }
    if root_attrs.get("xmlns").is_none() || root_empty {
        return None;
    }
    let mut note = None;
    let mut instances: Vec<(&str, Vec<Prop>)> = Vec::new();
    loop {
        match sc.next()? {
            Tok::Text(t) if blank(t) => {}
            Tok::End("hyperv") => break,
            Tok::Start {
                name: "carried",
                attrs,
                empty,
            } => {
                if attrs.len > 0 || attrs.overflow || note.is_some() {
                    return None;
                }
                if !empty {
                    let inner = sc.content("carried")?;
                    // The hub's prefix declared again inside (the general
                    // path's copy leaves it out) is for the general path.
                    if inner.contains(" xmlns:hvx=") {
                        return None;
                    }
                    if inner.contains('<') {
                        note = Some(inner);
                    } else if !blank(inner) {
                        return None;
                    }
                }
            }
            Tok::Start {
                name: "instance",
                attrs,
                empty,
            } if !attrs.overflow => {
                let class = attrs.get("class")?;
                if !crate::platform::text::is_ncname(class) {
                    return None;
                }
                let props = if empty { Vec::new() } else { props(&mut sc)? };
                instances.push((class, props));
            }
            _ => return None,
        }
    }
    loop {
        match sc.next()? {
            Tok::Eof => break,
            Tok::Text(t) if blank(t) => {}
            _ => return None,
        }
    }
    if note.is_some() && root_attrs.get("xmlns:hvx").is_none() {
        return None;
    }
    let note = note.map(|inner| {
        let mut n = String::with_capacity(inner.len() + 96);
        n.push_str(CARRIED_NOTE);
        n.push_str("<hub xmlns=\"");
        n.push_str(NS);
        n.push_str("\" xmlns:hvx=\"");
        n.push_str(crate::platform::HVX_NS);
        n.push_str("\">");
        n.push_str(inner);
        n.push_str("</hub>");
        n
    });
    let mut system = None;
    let mut security = None;
    let mut resources = Vec::with_capacity(instances.len());
    for (class, props) in &instances {
        let note = note.as_deref().filter(|_| *class == VSSD);
        let text = instance_text(class, props, note)?;
        match *class {
            VSSD if system.is_none() => system = Some(text),
            SECURITY if security.is_none() => security = Some(text),
            VSSD | SECURITY => return None,
            _ if props.iter().any(|p| p.name == "ResourceType") => resources.push(text),
            _ => return None,
        }
    }
    Some(Packed {
        system: system?,
        resources,
        security,
    })
}

/// One property: its values as escaped text (`None`: `VALUE.NULL`).
struct Prop<'a> {
    name: &'a str,
    ty: &'a str,
    array: bool,
    embedded: Option<&'a str>,
    values: Vec<Option<&'a str>>,
}

/// The properties of an instance whose start tag was just read.
fn props<'a>(sc: &mut Scan<'a>) -> Option<Vec<Prop<'a>>> {
    let mut out: Vec<Prop> = Vec::with_capacity(16);
    loop {
        let (name, attrs, empty) = match sc.next()? {
            Tok::Text(t) if blank(t) => continue,
            Tok::End("instance") => return Some(out),
            Tok::Start { name, attrs, empty } if !attrs.overflow => (name, attrs, empty),
            _ => return None,
        };
        if name.contains(':') || out.iter().any(|p| p.name == name) {
            return None;
        }
        if name.starts_with("__") {
            // WMI's system properties are never sent (see the general path).
            if !empty {
                sc.content(name)?;
            }
            out.push(Prop {
                name,
                ty: "",
                array: false,
                embedded: None,
                values: Vec::new(),
            });
            continue;
        }
        let ty = attrs.get("type").filter(|t| TYPES.contains(t))?;
        let array = attrs.get("array") == Some("true");
        let mut values = Vec::new();
        if array {
            if !empty {
                loop {
                    match sc.next()? {
                        Tok::Text(t) if blank(t) => {}
                        Tok::End(n) if n == name => break,
                        Tok::Start {
                            name: "value",
                            attrs,
                            empty,
                        } if !attrs.overflow => {
                            if attrs.get("null") == Some("true") {
                                if !empty {
                                    return None;
                                }
                                values.push(None);
                            } else {
                                values.push(Some(text_of(sc, "value", empty)?));
                            }
                        }
                        _ => return None,
                    }
                }
            }
        } else {
            values.push(Some(text_of(sc, name, empty)?));
        }
        for v in values.iter().flatten() {
            // Escaped text equals the value unless it holds an entity: those
            // are checked by the general path (strings need no check).
            if ty != "string" && (v.contains('&') || check_value(ty, v).is_err()) {
                return None;
            }
        }
        out.push(Prop {
            name,
            ty,
            array,
            embedded: attrs.get("embedded"),
            values,
        });
    }
}

/// The text of an element of text only, whose start tag was just read.
fn text_of<'a>(sc: &mut Scan<'a>, name: &str, empty: bool) -> Option<&'a str> {
    if empty {
        return Some("");
    }
    match sc.next()? {
        Tok::End(n) if n == name => Some(""),
        Tok::Text(t) => match sc.next()? {
            Tok::End(n) if n == name => Some(t),
            _ => None,
        },
        _ => None,
    }
}

// The instances are written escaped once more, as the text of the request's
// `<VALUE>`s: markup as `&lt;…&gt;` (text needs no `&quot;`), and each value,
// already escaped in the canonical form, escaped again.

fn value(out: &mut String, escaped: &str) -> Option<()> {
    if escaped.is_empty() {
        out.push_str("&lt;VALUE/&gt;");
    } else {
        out.push_str("&lt;VALUE&gt;");
        escape_into(out, escaped, false).ok()?;
        out.push_str("&lt;/VALUE&gt;");
    }
    Some(())
}

/// One instance as CIM-XML text, as the general path writes it, escaped as
/// the text of an element.
fn instance_text(class: &str, props: &[Prop], note: Option<&str>) -> Option<String> {
    let mut w = String::with_capacity(256 + 128 * props.len() + note.map_or(0, |n| n.len() * 3));
    w.push_str("&lt;INSTANCE CLASSNAME=\"");
    w.push_str(class);
    w.push_str("\"&gt;");
    let note_value = |w: &mut String, n: &str| -> Option<()> {
        w.push_str("&lt;VALUE&gt;");
        escape_text_twice_into(w, n).ok()?;
        w.push_str("&lt;/VALUE&gt;");
        Some(())
    };
    let mut has_notes = false;
    for p in props.iter().filter(|p| !p.name.starts_with("__")) {
        has_notes |= p.name == "Notes";
        w.push_str(if p.array {
            "&lt;PROPERTY.ARRAY NAME=\""
        } else {
            "&lt;PROPERTY NAME=\""
        });
        w.push_str(p.name);
        w.push_str("\" TYPE=\"");
        w.push_str(p.ty);
        if let Some(eo) = p.embedded {
            w.push_str("\" EmbeddedObject=\"");
            escape_into(&mut w, eo, false).ok()?;
        }
        w.push_str("\"&gt;");
        if p.array {
            let notes = note.filter(|_| p.name == "Notes");
            if p.values.is_empty() && notes.is_none() {
                w.push_str("&lt;VALUE.ARRAY/&gt;");
            } else {
                w.push_str("&lt;VALUE.ARRAY&gt;");
                if let Some(n) = notes {
                    note_value(&mut w, n)?;
                }
                for v in &p.values {
                    match v {
                        Some(v) => value(&mut w, v)?,
                        None => w.push_str("&lt;VALUE.NULL/&gt;"),
                    }
                }
                w.push_str("&lt;/VALUE.ARRAY&gt;");
            }
            w.push_str("&lt;/PROPERTY.ARRAY&gt;");
        } else {
            if p.name == "Notes" && note.is_some() {
                // The general path refuses a single-valued Notes.
                return None;
            }
            value(&mut w, p.values.first().copied().flatten().unwrap_or(""))?;
            w.push_str("&lt;/PROPERTY&gt;");
        }
    }
    if let (Some(n), false) = (note, has_notes) {
        w.push_str("&lt;PROPERTY.ARRAY NAME=\"Notes\" TYPE=\"string\"&gt;&lt;VALUE.ARRAY&gt;");
        note_value(&mut w, n)?;
        w.push_str("&lt;/VALUE.ARRAY&gt;&lt;/PROPERTY.ARRAY&gt;");
    }
    w.push_str("&lt;/INSTANCE&gt;");
    Some(w)
}
