//! The reader: CIM-XML (a `DefineSystem` METHODCALL, instances as WMI's
//! `GetText(1)` prints them, an enumeration response) → the canonical form.

use roxmltree::{Document, Node};

use super::{check_value, copy_node, is_rasd, CARRIED_NOTE, CLASSES, NS, SECURITY, TYPES, VSSD};
use crate::platform::input;
use crate::platform::text::{first_element, first_element_offset, is_ncname};
use crate::xmlout::{WriteError, XmlOut};

/// Is this XML text a Hyper-V CIM-XML document (`<CIM>`, or one or more
/// `<INSTANCE>` elements as WMI prints them)? A cheap look at the first
/// element; [`read`] checks the rest.
pub fn looks_like_cim(text: &str) -> bool {
    matches!(first_element(text), Some("CIM" | "INSTANCE"))
}

/// A pre-2016 Hyper-V configuration file (`<configuration>` with the VM's
/// `properties` and `settings`) put into the canonical namespace, so the
/// mappings read it beside the CIM forms. Only the root's start tag changes:
/// every line after it keeps its line and column.
pub fn read_config(text: &str) -> Option<String> {
    if first_element(text) != Some("configuration") {
        return None;
    }
    // The root's start tag, where `first_element` found it (not a
    // `<configuration` inside an earlier comment).
    let start = first_element_offset(text)?;
    let after = start + "<configuration".len();
    let tag_end = start + text[start..].find('>')?;
    // A root with a namespace of its own is not a Hyper-V file.
    if text[after..tag_end].contains("xmlns") {
        return None;
    }
    let mut out = String::with_capacity(text.len() + NS.len() + 10);
    out.push_str(&text[..after]);
    out.push_str(" xmlns=\"");
    out.push_str(NS);
    out.push('"');
    out.push_str(&text[after..]);
    Some(out)
}

/// An error at a node: `name:line:col: message`.
fn at(name: &str, n: Node, msg: impl std::fmt::Display) -> String {
    let p = n.document().text_pos_at(n.range().start);
    format!("{name}:{}:{}: {msg}", p.row, p.col)
}

/// Element children of a node (CIM-XML has no meaningful text between them).
fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// The one child element `tag` of `n`, or an error naming what was expected.
fn child<'a, 'i>(name: &str, n: Node<'a, 'i>, tag: &str) -> Result<Node<'a, 'i>, String> {
    elements(n)
        .find(|c| c.has_tag_name(tag))
        .ok_or_else(|| at(name, n, format!("<{}> has no <{tag}>", n.tag_name().name())))
}

/// Reads a Hyper-V CIM-XML document into the canonical form. Errors are
/// `name:line:col: message`, the line and column of the input file.
pub fn read(name: &str, text: &str) -> Result<String, String> {
    read_with(name, text, true)
}

/// [`read`] with its fast paths or without them (tests check both read
/// every document alike): embedded instances decoded before parsing
/// ([`Embedded`]) and read without a parser where they can be
/// ([`super::mini`]).
pub(super) fn read_with(name: &str, text: &str, fast: bool) -> Result<String, String> {
    read_into(name, text, fast, XmlOut::new())?
        .finish()
        .map_err(werr(name))
}

/// [`read`] as the tree a mapping reads, built without writing the text and
/// parsing it again; each instance points at where it is in `text` (an
/// embedded one at the `<VALUE>` that holds it).
pub fn read_tree(name: &str, text: &str) -> Result<crate::tree::Document, String> {
    read_into(name, text, true, XmlOut::building_from(text))?
        .finish_tree()
        .map_err(werr(name))
}

/// [`read_with`] into `out`, a text or a tree writer.
fn read_into(name: &str, text: &str, fast: bool, out: XmlOut) -> Result<XmlOut, String> {
    // WMI prints one instance after another: several root elements, which
    // XML does not allow. Read them inside a wrapper.
    let wrapped;
    let (mut shift, mut delta) = (0, 0);
    // A request's embedded instances, decoded here (see [`Embedded`]).
    let embedded = if fast && first_element(text) == Some("CIM") {
        Embedded::find(text)
    } else {
        None
    };
    let (parsed, decoded, cuts) = match &embedded {
        Some(e) => (e.text.as_str(), &e.values[..], &e.cuts[..]),
        None => (text, &[][..], &[][..]),
    };
    let doc = match input::parse_xml(name, parsed) {
        Ok(d) => d,
        // Positions in the text with values cut out are not the file's:
        // the file itself says where it is not XML.
        Err(_) if embedded.is_some() => return read_into(name, text, false, out),
        Err(_) if first_element(text) == Some("INSTANCE") => {
            (wrapped, shift, delta) = wrap(text);
            match input::parse_xml(name, &wrapped) {
                Ok(d) => d,
                // The wrapped text's error, in the file's columns.
                Err(we) => {
                    let m = we
                        .message
                        .replace("not 'hvx-wrapper'", "found the end of the file");
                    return Err(unshift(&m, name, shift));
                }
            }
        }
        Err(e) => return Err(e.message),
    };
    let root = doc.root_element();
    let mut r = Reader {
        name,
        out,
        seen_vssd: false,
        fast,
        shift,
        delta,
        carried: None,
        decoded: Decoded {
            parsed,
            values: decoded,
            cuts,
            file: text,
        },
    };
    let res = match root.tag_name().name() {
        "CIM" => r.cim(root),
        "INSTANCE" => r.instances("instances", std::iter::once(root)),
        _ if root.has_tag_name("hvx-wrapper") => {
            if let Some(other) = elements(root).find(|c| !c.has_tag_name("INSTANCE")) {
                return Err(at(
                    name,
                    other,
                    format!(
                        "expected <INSTANCE>, found <{}> (a list of instances holds only instances)",
                        other.tag_name().name()
                    ),
                ));
            }
            r.instances("instances", elements(root))
        }
        other => Err(at(
            name,
            root,
            format!("<{other}> is not a Hyper-V CIM-XML document (expected <CIM> or <INSTANCE>)"),
        )),
    };
    res?;
    Ok(r.out)
}

/// The WMI methods a Hyper-V command request calls (`hvxform command`), with
/// the class each belongs to.
pub const COMMAND_METHODS: &[(&str, &str)] = &[
    ("RequestStateChange", "Msvm_ComputerSystem"),
    (
        "ModifyResourceSettings",
        "Msvm_VirtualSystemManagementService",
    ),
    (
        "RemoveResourceSettings",
        "Msvm_VirtualSystemManagementService",
    ),
    ("AddResourceSettings", "Msvm_VirtualSystemManagementService"),
    (
        "ModifySystemSettings",
        "Msvm_VirtualSystemManagementService",
    ),
];

/// Whether a CIM-XML document is a request of command methods (not a VM).
pub fn command_method<'a>(root: Node<'a, '_>) -> Option<&'a str> {
    if !root.has_tag_name("CIM") {
        return None;
    }
    root.descendants()
        .filter(|d| d.has_tag_name("METHODCALL"))
        .filter_map(|m| m.attribute("NAME"))
        .find(|m| COMMAND_METHODS.iter().any(|(c, _)| c == m))
}

/// Reads a CIM-XML request of command methods ([`COMMAND_METHODS`]) into the canonical form
/// of calls that `write_calls` writes: `<hyperv form="calls">` with one
/// `<call>` per METHODCALL, embedded instances unpacked into `<instance>`s
/// and references into `<ref class InstanceID>`.
pub fn read_calls(name: &str, text: &str) -> Result<String, String> {
    let doc = input::parse_xml(name, text).map_err(|e| e.message)?;
    let root = doc.root_element();
    let mut r = Reader {
        name,
        out: XmlOut::new(),
        seen_vssd: false,
        // Commands are read as they were (the tests of the fast path read
        // VM documents).
        fast: false,
        shift: 0,
        delta: 0,
        carried: None,
        decoded: Decoded {
            parsed: "",
            values: &[],
            cuts: &[],
            file: text,
        },
    };
    if !root.has_tag_name("CIM") {
        return Err(at(
            name,
            root,
            "a Hyper-V command is a CIM-XML request (<CIM>)",
        ));
    }
    let msg = child(name, root, "MESSAGE")?;
    let body = elements(msg)
        .next()
        .ok_or_else(|| at(name, msg, "<MESSAGE> is empty"))?;
    let reqs: Vec<Node> = match body.tag_name().name() {
        "SIMPLEREQ" => vec![body],
        "MULTIREQ" => elements(body).collect(),
        other => return Err(at(name, body, format!("<{other}> is not a request"))),
    };
    r.start_root("calls")?;
    let w = werr(name);
    for req in reqs {
        let call = elements(req)
            .next()
            .filter(|c| c.has_tag_name("METHODCALL"))
            .ok_or_else(|| at(name, req, "a request without a <METHODCALL>"))?;
        let method = call.attribute("NAME").unwrap_or("");
        let Some((_, class)) = COMMAND_METHODS.iter().find(|(m, _)| *m == method) else {
            return Err(at(
                name,
                call,
                format!(
                    "method `{method}` is not a command hvxform translates (known: {})",
                    COMMAND_METHODS
                        .iter()
                        .map(|(m, _)| *m)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let target = call
            .descendants()
            .find(|d| d.has_tag_name("INSTANCENAME"))
            .ok_or_else(|| at(name, call, format!("{method} names no object to call")))?;
        let called = target.attribute("CLASSNAME").unwrap_or("");
        if called != *class {
            return Err(at(
                name,
                target,
                format!("{method} is a method of {class}, called here on `{called}`"),
            ));
        }
        r.out.start("call").map_err(&w)?;
        r.out.attr("method", method).map_err(&w)?;
        if *class == "Msvm_ComputerSystem" {
            let vm = elements(target)
                .find(|k| k.attribute("NAME") == Some("Name"))
                .and_then(|k| k.descendants().find(|v| v.has_tag_name("KEYVALUE")))
                .and_then(|v| v.text())
                .ok_or_else(|| {
                    at(
                        name,
                        target,
                        "Msvm_ComputerSystem without its Name key (the VM's GUID)",
                    )
                })?;
            r.out.attr("class", class).map_err(&w)?;
            r.out.attr("name", vm.trim()).map_err(&w)?;
        }
        for p in elements(call).filter(|p| p.has_tag_name("PARAMVALUE")) {
            let pname = p.attribute("NAME").unwrap_or("");
            r.out.start("param").map_err(&w)?;
            r.out.attr("name", pname).map_err(&w)?;
            if p.attribute("EmbeddedObject") == Some("instance") {
                for v in p.descendants().filter(|d| d.has_tag_name("VALUE")) {
                    r.embedded(pname, v)?;
                }
            } else if p.descendants().any(|d| d.has_tag_name("VALUE.REFERENCE")) {
                for inst in p.descendants().filter(|d| d.has_tag_name("INSTANCENAME")) {
                    let id = elements(inst)
                        .find(|k| k.attribute("NAME") == Some("InstanceID"))
                        .and_then(|k| k.descendants().find(|v| v.has_tag_name("KEYVALUE")))
                        .and_then(|v| v.text())
                        .ok_or_else(|| at(name, inst, "a reference without an InstanceID key"))?;
                    r.out.start("ref").map_err(&w)?;
                    r.out
                        .attr("class", inst.attribute("CLASSNAME").unwrap_or(""))
                        .map_err(&w)?;
                    r.out.attr("InstanceID", id.trim()).map_err(&w)?;
                    r.out.end();
                }
            } else {
                let v = p
                    .descendants()
                    .find(|d| d.has_tag_name("VALUE"))
                    .ok_or_else(|| at(name, p, format!("parameter {pname} has no value")))?;
                let ty = p.attribute("PARAMTYPE").unwrap_or("string");
                let t = value_text(v).map_err(|m| at(name, v, m))?;
                check_value(ty, &t).map_err(|m| at(name, v, format!("{pname}: {m}")))?;
                r.out.attr("type", ty).map_err(&w)?;
                r.out.text(&t).map_err(&w)?;
            }
            r.out.end();
        }
        r.out.end();
    }
    r.out.end();
    r.out
        .finish()
        .map_err(|e| format!("{name}: cannot represent the document as XML: {e}"))
}

/// The whole text of a `<VALUE>`: text and CDATA, comments left out; an
/// element inside is an error (CIM values are text).
fn value_text(v: Node) -> Result<String, String> {
    let mut out = String::new();
    for c in v.children() {
        if c.is_text() {
            out.push_str(c.text().unwrap_or(""));
        } else if c.is_element() {
            return Err(format!(
                "unexpected <{}> inside a <{}>",
                c.tag_name().name(),
                v.tag_name().name()
            ));
        }
    }
    Ok(out)
}

/// The hub content of a VSSD's `hvxform:hub=` Notes value, checked: XML
/// nested no deeper than any input, a `<hub>` of the canonical namespace.
fn carried_doc(text: &str) -> Result<Document<'_>, String> {
    let doc = input::parse_xml("", text).map_err(|e| {
        format!(
            "the `{CARRIED_NOTE}` Notes value is not the XML hvxform writes (at its {})",
            e.message.trim_start_matches(':')
        )
    })?;
    let root = doc.root_element();
    if !root.has_tag_name((NS, "hub")) {
        return Err(format!(
            "the `{CARRIED_NOTE}` Notes value holds <{}>, not hvxform's <hub>",
            root.tag_name().name()
        ));
    }
    Ok(doc)
}

/// A network adapter's static MAC: 12 hexadecimal digits, no separators.
fn check_mac(v: &str) -> Result<(), String> {
    if v.is_empty() || (v.len() == 12 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
        Ok(())
    } else {
        Err(format!(
            "`{v}` is not a MAC address as Hyper-V writes it (12 hexadecimal digits, found {} characters)",
            v.chars().count()
        ))
    }
}

/// A `name:line:col: message` of the wrapped text with the column of line 1
/// moved back by what the wrapper added.
fn unshift(message: &str, name: &str, shift: usize) -> String {
    let rest = message.strip_prefix(name).and_then(|r| r.strip_prefix(':'));
    let mut parts = rest.map(|r| r.splitn(3, ':'));
    let (row, col, msg) = match parts.as_mut().map(|p| (p.next(), p.next(), p.next())) {
        Some((Some(r), Some(c), Some(m))) => (r, c, m),
        _ => return message.to_string(),
    };
    match (row.parse::<usize>(), col.parse::<usize>()) {
        (Ok(1), Ok(c)) => format!("{name}:1:{}:{msg}", c.saturating_sub(shift).max(1)),
        (Ok(_), Ok(_)) => message.to_string(),
        _ => message.to_string(),
    }
}

/// `text` inside `<hvx-wrapper>`, how many columns that moved the first
/// line by (none when the XML declaration was long enough to make room for
/// the wrapper's start tag), and what to add to a position in the wrapped
/// text for the same place in `text`.
fn wrap(text: &str) -> (String, usize, isize) {
    const START: &str = "<hvx-wrapper>";
    let body = text.trim_start_matches('\u{feff}');
    let bom = (text.len() - body.len()) as isize;
    let start = START.len() as isize;
    match body.strip_prefix("<?xml").and_then(|r| r.find("?>")) {
        Some(end) if end + 7 >= START.len() => {
            let pad = " ".repeat(end + 7 - START.len());
            (
                format!("{START}{pad}{}</hvx-wrapper>", &body[end + 7..]),
                0,
                bom,
            )
        }
        Some(end) => (
            format!("{START}{}</hvx-wrapper>", &body[end + 7..]),
            0,
            bom + end as isize + 7 - start,
        ),
        None => (
            format!("{START}{body}</hvx-wrapper>"),
            START.len(),
            bom - start,
        ),
    }
}

/// The embedded instances of a request, decoded without the XML parser.
///
/// An embedded instance is the escaped text of a `<VALUE>`: kilobytes of
/// `&lt;` and `&quot;`, which roxmltree reads one character at a time
/// (most of the time it took to parse a request). Each
/// `<VALUE>&lt;INSTANCE…</VALUE>` whose text is only that is decoded here,
/// and the parser is given the document with those values' texts cut out
/// (`<VALUE></VALUE>`). The reader takes such a value's text from
/// [`Embedded::values`], never from the parsed tree, and maps every
/// position in the parsed text back to the file's through
/// [`Embedded::cuts`], so what it reports names the file's lines and
/// columns. Anything unusual (a DOCTYPE, a comment or CDATA section not
/// closed, a carriage return, a character XML refuses or an entity this
/// does not decode in a value) leaves the document to the parser as it is.
pub(super) struct Embedded {
    /// The document as the parser reads it.
    text: String,
    /// Where each decoded value's text was (in the parsed text), and the
    /// value.
    values: Vec<(usize, String)>,
    /// Where each value was cut (in the parsed text), and how many bytes
    /// were cut up to there, that one included.
    cuts: Vec<(usize, usize)>,
}

impl Embedded {
    pub(super) fn find(text: &str) -> Option<Embedded> {
        const OPEN: &str = "<VALUE>";
        let mut values = Vec::new();
        let mut cuts = Vec::new();
        let mut parsed = String::new();
        let (mut copied, mut removed) = (0, 0);
        let mut at = 0;
        // From markup to markup: comments, CDATA sections and processing
        // instructions are stepped over whole, so only a real `<VALUE>`'s
        // text is taken.
        while let Some(i) = text[at..].find('<') {
            let tag = at + i;
            let rest = &text[tag..];
            let skip = |open: &str, close: &str| {
                rest.strip_prefix(open)
                    .map(|r| r.find(close).map(|e| tag + open.len() + e + close.len()))
            };
            if let Some(end) = skip("<!--", "-->")
                .or_else(|| skip("<![CDATA[", "]]>"))
                .or_else(|| skip("<?", "?>"))
            {
                at = end?;
                continue;
            }
            if rest.starts_with("<!") {
                // A DOCTYPE: the parser's to refuse.
                return None;
            }
            at = tag + 1;
            if !rest.starts_with(OPEN) {
                continue;
            }
            let start = tag + OPEN.len();
            let Some(len) = text[start..].find('<') else {
                break;
            };
            let end = start + len;
            at = end;
            let value = &text[start..end];
            if !text[end..].starts_with("</VALUE>")
                || !value.trim_start().starts_with("&lt;INSTANCE")
            {
                continue;
            }
            // What the parser would refuse in the text stays for it to refuse.
            let decoded = decode_text(value)?;
            parsed.push_str(&text[copied..start]);
            copied = end;
            let here = start - removed;
            removed += len;
            values.push((here, decoded));
            cuts.push((here, removed));
        }
        if values.is_empty() {
            return None;
        }
        parsed.push_str(&text[copied..]);
        Some(Embedded {
            text: parsed,
            values,
            cuts,
        })
    }
}

/// [`decode`] of text (without markup) that [`super::mini::text_ok`]
/// takes, in one pass: `None` for what either refuses (a control character
/// but tab and line feed, U+FFFE or U+FFFF, `]]>`, a reference a parser
/// would refuse). Bytes that are none of those nor `&` are passed over by a
/// table.
pub(super) fn decode_text(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut run, mut i) = (0, 0);
    while i < b.len() {
        let c = b[i];
        // Text's special bytes: `"`, tab and line feed are not among them.
        if !crate::xmlout::TEXT_SPECIAL[c as usize] {
            i += 1;
            continue;
        }
        match c {
            b'&' => {}
            0x00..=0x1F => return None,
            b'>' if i >= 2 && b[i - 2] == b']' && b[i - 1] == b']' => return None,
            0xEF if b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)) => {
                return None
            }
            _ => {
                i += 1;
                continue;
            }
        }
        out.push_str(&s[run..i]);
        let (ch, len) = reference(&b[i + 1..])?;
        out.push(ch);
        i += 1 + len;
        run = i;
    }
    out.push_str(&s[run..]);
    Some(out)
}

/// The character of the reference after a `&` (`r` starts after it), and
/// how many bytes of `r` it takes, `;` included; `None` for a reference a
/// parser would refuse.
fn reference(r: &[u8]) -> Option<(char, usize)> {
    Some(if r.starts_with(b"lt;") {
        ('<', 3)
    } else if r.starts_with(b"gt;") {
        ('>', 3)
    } else if r.starts_with(b"quot;") {
        ('"', 5)
    } else if r.starts_with(b"amp;") {
        ('&', 4)
    } else if r.starts_with(b"apos;") {
        ('\'', 5)
    } else {
        let semi = r.iter().take(11).position(|&x| x == b';')?;
        let e = std::str::from_utf8(&r[..semi]).ok()?;
        // Digits only: Rust's parsers would take a sign (`&#+49;`),
        // which XML refuses.
        let n = match e.strip_prefix("#x") {
            Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(h, 16).ok()?
            }
            Some(_) => return None,
            None => {
                let d = e.strip_prefix('#')?;
                if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                d.parse().ok()?
            }
        };
        let c = char::from_u32(n).filter(|&c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        })?;
        (c, semi + 1)
    })
}

/// XML text with the predefined entities and character references
/// decoded, as a parser reads it; `None` for anything else (a carriage
/// return, which a parser would normalise, or a reference it would refuse).
/// The tests' reference for [`decode_text`], which the reader uses.
#[cfg(test)]
pub(super) fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    // Runs between references are copied whole.
    let (mut run, mut i) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'&' => {}
            b'\r' => return None,
            _ => {
                i += 1;
                continue;
            }
        }
        out.push_str(&s[run..i]);
        let (c, len) = reference(&b[i + 1..])?;
        out.push(c);
        i += 1 + len;
        run = i;
    }
    out.push_str(&s[run..]);
    Some(out)
}

/// The values [`Embedded`] decoded, and the text the parser was given
/// (their positions are in it; nodes of other documents, such as an
/// embedded instance's own, have none of them).
#[derive(Clone, Copy)]
struct Decoded<'n> {
    parsed: &'n str,
    values: &'n [(usize, String)],
    /// See [`Embedded::cuts`].
    cuts: &'n [(usize, usize)],
    /// The file's text.
    file: &'n str,
}

impl<'n> Decoded<'n> {
    /// Whether `n` is a node of the parsed text (not of an embedded
    /// instance's, nor of another document).
    fn outer(&self, n: Node) -> bool {
        !self.values.is_empty()
            && std::ptr::eq(n.document().input_text().as_ptr(), self.parsed.as_ptr())
    }

    /// Where `n` starts in the file: its place in the parsed text, with
    /// what was cut before it added back.
    fn pos(&self, n: Node) -> usize {
        let at = n.range().start;
        if !self.outer(n) {
            return at;
        }
        match self.cuts.partition_point(|(c, _)| *c <= at) {
            0 => at,
            k => at + self.cuts[k - 1].1,
        }
    }

    /// `name:line:col: message` at `n`, in the file's lines and columns.
    fn at(&self, name: &str, n: Node, msg: impl std::fmt::Display) -> String {
        if !self.outer(n) {
            return at(name, n, msg);
        }
        // As roxmltree counts: lines by `\n`, columns in characters.
        let off = self.pos(n);
        let before = &self.file[..off];
        let row = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let col = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
        format!("{name}:{row}:{col}: {msg}")
    }

    /// The whole text of a `<VALUE>` (see [`value_text`]): decoded before
    /// parsing when it is one of [`Embedded`]'s.
    fn text(&self, v: Node) -> Result<std::borrow::Cow<'n, str>, String> {
        let found = (self.outer(v) && !v.has_children())
            .then(|| v.range().start + "<VALUE>".len())
            .and_then(|at| self.values.binary_search_by_key(&at, |(a, _)| *a).ok());
        match found {
            Some(k) => Ok(std::borrow::Cow::Borrowed(&self.values[k].1)),
            None => value_text(v).map(std::borrow::Cow::Owned),
        }
    }
}

/// What [`Reader::instance`] reads of an element: a parsed one, or one of
/// an instance read without a parser ([`super::mini`]).
trait CimEl<'x>: Copy {
    /// The local name.
    fn name(self) -> &'x str;
    fn is(self, name: &str) -> bool {
        self.name() == name
    }
    fn attribute(self, name: &str) -> Option<&'x str>;
    /// The child elements.
    fn elements(self) -> impl Iterator<Item = Self>;
    /// The first child's text, if it is text.
    fn first_text(self) -> Option<&'x str>;
    /// The whole text of a `<VALUE>` (see [`Decoded::text`]).
    fn value_text(self, d: &Decoded<'x>) -> Result<std::borrow::Cow<'x, str>, String>;
}

impl<'x, 'i: 'x> CimEl<'x> for Node<'x, 'i> {
    fn name(self) -> &'x str {
        self.tag_name().name()
    }
    fn is(self, name: &str) -> bool {
        self.has_tag_name(name)
    }
    fn attribute(self, name: &str) -> Option<&'x str> {
        Node::attribute(&self, name)
    }
    fn elements(self) -> impl Iterator<Item = Self> {
        elements(self)
    }
    fn first_text(self) -> Option<&'x str> {
        self.text()
    }
    fn value_text(self, d: &Decoded<'x>) -> Result<std::borrow::Cow<'x, str>, String> {
        d.text(self)
    }
}

impl<'x, 't: 'x> CimEl<'x> for super::mini::MiniEl<'x, 't> {
    fn name(self) -> &'x str {
        super::mini::MiniEl::name(self)
    }
    fn attribute(self, name: &str) -> Option<&'x str> {
        super::mini::MiniEl::attribute(self, name)
    }
    fn elements(self) -> impl Iterator<Item = Self> {
        self.children()
    }
    fn first_text(self) -> Option<&'x str> {
        self.text()
    }
    fn value_text(self, _: &Decoded<'x>) -> Result<std::borrow::Cow<'x, str>, String> {
        Ok(std::borrow::Cow::Borrowed(self.text().unwrap_or("")))
    }
}

struct Reader<'n> {
    name: &'n str,
    /// Embedded instances decoded before parsing (see [`Embedded`]).
    decoded: Decoded<'n>,
    out: XmlOut,
    seen_vssd: bool,
    /// Embedded instances read without a parser where they can be.
    fast: bool,
    /// Columns the wrapper added to the first line of a list of instances.
    shift: usize,
    /// What to add to a position in the parsed text for the file's.
    delta: isize,
    /// The VSSD's `hvxform:hub=` Notes value, written as `<carried>`.
    carried: Option<String>,
}

fn werr(name: &str) -> impl Fn(WriteError) -> String + '_ {
    move |e| format!("{name}: cannot represent the document as XML: {e}")
}

impl<'n> Reader<'n> {
    fn start_root(&mut self, form: &str) -> Result<(), String> {
        let name = self.name;
        // The root: the file itself, from its start.
        self.out.origin(Some(0));
        self.out
            .start_ns("hyperv", Some(NS), None)
            .map_err(werr(name))?;
        self.out.attr("form", form).map_err(werr(name))
    }

    /// `<CIM><MESSAGE>`: a request of method calls, or a response of instances.
    fn cim(&mut self, root: Node) -> Result<(), String> {
        let name = self.name;
        let msg = child(name, root, "MESSAGE")?;
        let body = elements(msg)
            .next()
            .ok_or_else(|| self.decoded.at(name, msg, "<MESSAGE> is empty"))?;
        match body.tag_name().name() {
            "SIMPLEREQ" => self.requests(body, std::iter::once(body)),
            "MULTIREQ" => self.requests(body, elements(body)),
            "SIMPLERSP" | "MULTIRSP" => {
                if let Some(e) = body.descendants().find(|d| d.has_tag_name("ERROR")) {
                    return Err(self.decoded.at(
                        name,
                        e,
                        format!(
                            "the response is a CIM error {}: {}",
                            e.attribute("CODE").unwrap_or("?"),
                            e.attribute("DESCRIPTION").unwrap_or("(no description)")
                        ),
                    ));
                }
                let insts: Vec<Node> = body
                    .descendants()
                    .filter(|d| {
                        d.has_tag_name("INSTANCE")
                            && d.ancestors().skip(1).all(|a| !a.has_tag_name("INSTANCE"))
                    })
                    .collect();
                if insts.is_empty() {
                    return Err(self
                        .decoded
                        .at(name, body, "the response holds no instances"));
                }
                self.instances("enumeration", insts.into_iter())
            }
            other => Err(self.decoded.at(
                name,
                body,
                format!("<{other}> is neither a request nor a response"),
            )),
        }
    }

    /// The method calls of a request: one `DefineSystem`, and the TPM's
    /// `ModifySecuritySettings` when there is one.
    fn requests<'a, 'i: 'a>(
        &mut self,
        body: Node<'a, 'i>,
        reqs: impl Iterator<Item = Node<'a, 'i>>,
    ) -> Result<(), String> {
        let name = self.name;
        let mut calls = Vec::new();
        for req in reqs {
            let call = elements(req)
                .next()
                .ok_or_else(|| self.decoded.at(name, req, "an empty request"))?;
            let method = call.attribute("NAME").unwrap_or("");
            let (class, ok) = match (call.tag_name().name(), method) {
                ("METHODCALL", "DefineSystem") => ("Msvm_VirtualSystemManagementService", true),
                ("METHODCALL", "ModifySecuritySettings") => ("Msvm_SecurityService", true),
                _ => ("", false),
            };
            if !ok {
                return Err(self.decoded.at(name,
                    call,
                    format!(
                        "<{} NAME=\"{method}\"> is not a VM definition: a Hyper-V document is a DefineSystem call \
                         (with ModifySecuritySettings for a TPM), or the VM's instances",
                        call.tag_name().name()
                    ),
                ));
            }
            let target = call
                .descendants()
                .find(|d| d.has_tag_name("INSTANCENAME") || d.has_tag_name("CLASSNAME"))
                .ok_or_else(|| {
                    self.decoded
                        .at(name, call, format!("{method} names no object to call"))
                })?;
            let called = target
                .attribute("CLASSNAME")
                .or_else(|| target.attribute("NAME"))
                .unwrap_or("");
            if called != class {
                return Err(self.decoded.at(
                    name,
                    target,
                    format!("{method} is a method of {class}, called here on `{called}`"),
                ));
            }
            calls.push((method, call));
        }
        let defines = calls.iter().filter(|(m, _)| *m == "DefineSystem").count();
        if defines != 1 {
            return Err(self.decoded.at(
                name,
                body,
                format!("a Hyper-V request needs exactly one DefineSystem call, found {defines}"),
            ));
        }
        self.start_root("DefineSystem")?;
        // DefineSystem first, whatever order the request had.
        calls.sort_by_key(|(m, _)| *m != "DefineSystem");
        for (method, call) in calls {
            for p in elements(call) {
                if !p.has_tag_name("PARAMVALUE") {
                    continue;
                }
                let pname = p.attribute("NAME").unwrap_or("");
                let expected: &[&str] = match method {
                    "DefineSystem" => &[
                        "SystemSettings",
                        "ResourceSettings",
                        "ReferenceConfiguration",
                    ],
                    _ => &["SecuritySettingData"],
                };
                if !expected.contains(&pname) {
                    return Err(self.decoded.at(
                        name,
                        p,
                        format!(
                            "{method} has no parameter `{pname}` (it takes {})",
                            expected.join(", ")
                        ),
                    ));
                }
                let values: Vec<Node> = p
                    .descendants()
                    .filter(|d| d.has_tag_name("VALUE"))
                    .collect();
                if pname == "ReferenceConfiguration" {
                    if p.has_children() {
                        return Err(self.decoded.at(name,
                            p,
                            "DefineSystem from a ReferenceConfiguration (a copy of another VM's snapshot) \
                             cannot be converted: the configuration is not in the document",
                        ));
                    }
                    continue;
                }
                // An instance written as XML in the call (not as text): its
                // properties' VALUEs are not instances (they were counted as
                // such, "found 12").
                if let Some(x) = p
                    .descendants()
                    .find(|d| d.has_tag_name("INSTANCE") || d.has_tag_name("VALUE.OBJECT"))
                {
                    return Err(self.decoded.at(
                        name,
                        x,
                        format!(
                            "{pname}: an instance written as XML; {method} takes each instance embedded, as escaped text in a <VALUE> (EmbeddedObject=\"instance\"), as WMI sends it"
                        ),
                    ));
                }
                if pname != "ResourceSettings" && values.len() != 1 {
                    return Err(self.decoded.at(
                        name,
                        p,
                        format!(
                            "{pname} needs one embedded instance, found {}",
                            values.len()
                        ),
                    ));
                }
                for v in values {
                    self.embedded(pname, v)?;
                }
            }
        }
        if !self.seen_vssd {
            return Err(self.decoded.at(
                name,
                body,
                format!("DefineSystem has no SystemSettings ({VSSD} instance)"),
            ));
        }
        self.write_carried()?;
        self.out.end();
        Ok(())
    }

    /// A `<VALUE>` holding an escaped `<INSTANCE>`.
    fn embedded(&mut self, param: &str, v: Node) -> Result<(), String> {
        let name = self.name;
        let text = self
            .decoded
            .text(v)
            .map_err(|m| self.decoded.at(name, v, m))?;
        let mini = if self.fast {
            super::mini::scan(&text)
        } else {
            None
        };
        if let Some(m) = mini.as_ref().filter(|m| m.root().name() == "INSTANCE") {
            let inst = m.root();
            self.fits(param, v, inst.attribute("CLASSNAME").unwrap_or(""))?;
            self.out
                .origin(usize::try_from(self.decoded.pos(v) as isize + self.delta).ok());
            return self.instance(inst).map_err(|m| {
                self.decoded
                    .at(name, v, format!("in the embedded instance of {param}: {m}"))
            });
        }
        // Nesting limited as in any input; positions are the embedded text's.
        let doc = input::parse_xml("", &text).map_err(|e| {
            self.decoded.at(
                name,
                v,
                format!(
                    "the embedded instance of {param} is not usable XML (at its {})",
                    e.message.trim_start_matches(':')
                ),
            )
        })?;
        let inst = doc.root_element();
        if !inst.has_tag_name("INSTANCE") {
            return Err(self.decoded.at(
                name,
                v,
                format!(
                    "{param} holds <{}>, not an embedded <INSTANCE>",
                    inst.tag_name().name()
                ),
            ));
        }
        self.fits(param, v, inst.attribute("CLASSNAME").unwrap_or(""))?;
        // Errors inside the instance are placed at the VALUE that holds it,
        // and so is what it becomes.
        self.out
            .origin(usize::try_from(self.decoded.pos(v) as isize + self.delta).ok());
        self.instance(inst).map_err(|m| {
            self.decoded
                .at(name, v, format!("in the embedded instance of {param}: {m}"))
        })
    }

    /// Whether parameter `param` (its `<VALUE>` `v`) may hold an instance
    /// of `class`.
    fn fits(&self, param: &str, v: Node, class: &str) -> Result<(), String> {
        let fits = match param {
            "SystemSettings" => class == VSSD,
            "SecuritySettingData" => class == SECURITY,
            _ => class != VSSD && class != SECURITY,
        };
        if fits {
            Ok(())
        } else {
            Err(self.decoded.at(
                self.name,
                v,
                format!("{param} cannot hold an instance of `{class}`"),
            ))
        }
    }

    fn instances<'a, 'i: 'a>(
        &mut self,
        form: &str,
        insts: impl Iterator<Item = Node<'a, 'i>>,
    ) -> Result<(), String> {
        let name = self.name;
        self.start_root(form)?;
        let shift = self.shift;
        for inst in insts {
            let at = self.decoded.pos(inst) as isize + self.delta;
            self.out.origin(usize::try_from(at).ok());
            let decoded = self.decoded;
            self.instance(inst).map_err(|m| {
                if shift == 0 {
                    return decoded.at(name, inst, m);
                }
                let p = inst.document().text_pos_at(inst.range().start);
                let col = if p.row == 1 {
                    p.col as usize - shift
                } else {
                    p.col as usize
                };
                format!("{name}:{}:{col}: {m}", p.row)
            })?;
        }
        self.write_carried()?;
        self.out.end();
        Ok(())
    }

    /// One `<INSTANCE>` → `<instance class>` with one element per non-null
    /// property. Errors are messages without a position (the caller knows
    /// where the instance is).
    fn instance<'x, E: CimEl<'x>>(&mut self, inst: E) -> Result<(), String>
    where
        'n: 'x,
    {
        let name = self.name;
        let class = inst
            .attribute("CLASSNAME")
            .filter(|c| !c.is_empty())
            .ok_or("<INSTANCE> without a CLASSNAME")?;
        if !CLASSES.contains(&class) {
            return Err(format!(
                "`{class}` is not a class of a Hyper-V VM's settings (known: {})",
                CLASSES.join(", ")
            ));
        }
        if is_rasd(class)
            && !inst.elements().any(|p| {
                p.attribute("NAME") == Some("ResourceType") && p.elements().any(|v| v.is("VALUE"))
            })
        {
            return Err(format!(
                "{class} without a ResourceType: a resource allocation must say what it allocates"
            ));
        }
        self.seen_vssd |= class == VSSD;
        self.out.start("instance").map_err(werr(name))?;
        self.out.attr("class", class).map_err(werr(name))?;
        let decoded = self.decoded;
        let mut seen: Vec<&str> = Vec::new();
        for p in inst.elements() {
            let tag = p.name();
            let array = match tag {
                "PROPERTY" => false,
                "PROPERTY.ARRAY" => true,
                "QUALIFIER" => continue,
                "PROPERTY.REFERENCE" => {
                    return Err(format!(
                        "{class}: reference property `{}` is not supported in a VM's settings",
                        p.attribute("NAME").unwrap_or("")
                    ))
                }
                _ => return Err(format!("{class}: unexpected <{tag}> in an instance")),
            };
            let pname = p.attribute("NAME").unwrap_or("");
            if !is_ncname(pname) || pname == "instance" {
                return Err(format!("{class}: `{pname}` is not a property name"));
            }
            if seen.contains(&pname) {
                return Err(format!("{class}: property `{pname}` is given twice"));
            }
            seen.push(pname);
            let ty = p
                .attribute("TYPE")
                .ok_or_else(|| format!("{class}.{pname}: no TYPE"))?;
            if !TYPES.contains(&ty) {
                return Err(format!("{class}.{pname}: unknown CIM type `{ty}`"));
            }
            // A property without a value is NULL: it says nothing, and is left out.
            let mut values: Vec<E> = if array {
                match p.elements().find(|c| c.is("VALUE.ARRAY")) {
                    Some(a) => a.elements().collect(),
                    None => continue,
                }
            } else {
                let mut vs = p.elements().filter(|c| c.is("VALUE"));
                match (vs.next(), vs.next()) {
                    (Some(v), None) => vec![v],
                    (None, _) => continue,
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "{class}.{pname}: more than one <VALUE> in a single-valued property"
                        ))
                    }
                }
            };
            // What hvx-to-hyperv carried for the hub (see `<carried>`).
            if class == VSSD && pname == "Notes" {
                if let Some(i) = values
                    .iter()
                    .position(|v| v.first_text().is_some_and(|t| t.starts_with(CARRIED_NOTE)))
                {
                    let t = values.remove(i).value_text(&self.decoded)?;
                    let hub = t[CARRIED_NOTE.len()..].to_string();
                    carried_doc(&hub)?;
                    self.carried = Some(hub);
                }
                if values.is_empty() {
                    continue;
                }
            }
            let w = &mut self.out;
            w.start(pname).map_err(werr(name))?;
            w.attr("type", ty).map_err(werr(name))?;
            if array {
                w.attr("array", "true").map_err(werr(name))?;
            }
            if let Some(e) = p.attribute("EmbeddedObject") {
                w.attr("embedded", e).map_err(werr(name))?;
            }
            for v in values {
                let null = v.is("VALUE.NULL");
                if !null && !v.is("VALUE") {
                    return Err(format!(
                        "{class}.{pname}: unexpected <{}> in a value",
                        v.name()
                    ));
                }
                let text = v
                    .value_text(&decoded)
                    .map_err(|m| format!("{class}.{pname}: {m}"))?;
                let text = text.as_ref();
                if !null {
                    check_value(ty, text).map_err(|m| format!("{class}.{pname}: {m}"))?;
                    if pname == "Address" && class.ends_with("EthernetPortSettingData") {
                        check_mac(text).map_err(|m| format!("{class}.{pname}: {m}"))?;
                    }
                }
                if array {
                    w.start("value").map_err(werr(name))?;
                    if null {
                        w.attr("null", "true").map_err(werr(name))?;
                    }
                }
                w.text(text).map_err(werr(name))?;
                if array {
                    w.end();
                }
            }
            w.end();
        }
        self.out.end();
        Ok(())
    }

    /// `<carried>`: the hub content hvx-to-hyperv kept in the VSSD's Notes.
    fn write_carried(&mut self) -> Result<(), String> {
        let name = self.name;
        let Some(text) = self.carried.take() else {
            return Ok(());
        };
        let doc = carried_doc(&text).map_err(|m| format!("{name}: {m}"))?;
        let hub = doc.root_element();
        self.out.start("carried").map_err(werr(name))?;
        for c in elements(hub) {
            copy_node(&mut self.out, c).map_err(werr(name))?;
        }
        self.out.end();
        Ok(())
    }
}
