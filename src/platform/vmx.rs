//! VMware `.vmx` files: the lexer, the canonical XML form that mappings read
//! (book: Platforms › VMware), and the writer from that form back to `.vmx`.
//!
//! ```text
//! .encoding = "UTF-8"                    <vmx xmlns="urn:hvxform:vmx:1" encoding="UTF-8">
//! displayName = "web"              →       <displayname key="displayName">web</displayname>
//! ethernet0.virtualDev = "vmxnet3"         <device kind="ethernet" index="0">
//!                                            <virtualdev key="virtualDev">vmxnet3</virtualdev>
//!                                          </device>
//! ```

use std::collections::HashMap;

use super::text::{is_ncname, plain_run_end, unrepresentable, Charset, TextError};
use crate::tree::{Document as Tree, Node as TreeNode};
use crate::xmlout::XmlOut;

/// Namespace of the canonical form.
pub const NS: &str = "urn:hvxform:vmx:1";

/// One `key = "value"` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as spelt in the file.
    pub key: String,
    /// The value with `|XX` escapes resolved.
    pub value: String,
    pub line: usize,
    pub col: usize,
    /// Whether the value was in double quotes (VMware always writes them).
    pub quoted: bool,
}

/// Lexes `.vmx` text into its entries, in file order. The text is already
/// decoded with the charset `.encoding` names; that charset also says which
/// characters the `|XX` escapes after it stand for.
pub fn lex(text: &str) -> Result<Vec<Entry>, TextError> {
    let mut out = Vec::new();
    let mut charset = None;
    for (n, raw) in super::text::split_lf(text).enumerate() {
        let line = n + 1;
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        // Positions are byte offsets in `l`; columns count characters.
        let col = |i: usize| l[..i].chars().count() + 1;
        let at = |i: usize| l[i..].chars().next().expect("inside the line");
        let mut i = skip_ws(l, 0);
        if i == l.len() || l.as_bytes()[i] == b'#' {
            continue;
        }
        let key_start = i;
        for (k, c) in l[key_start..].char_indices() {
            if c.is_whitespace() || c == '=' {
                break;
            }
            if c == '"' || c == '#' || c == '\'' || !c.is_ascii() || c.is_control() {
                let i = key_start + k;
                return Err(TextError::new(
                    line,
                    col(i),
                    format!("unexpected {} in a key", describe(c)),
                ));
            }
            i = key_start + k + c.len_utf8();
        }
        if i == key_start {
            return Err(TextError::new(line, col(i), "expected a key before `=`"));
        }
        let key = &l[key_start..i];
        i = skip_ws(l, i);
        if i == l.len() || l.as_bytes()[i] != b'=' {
            return Err(TextError::new(
                line,
                col(i),
                format!("expected `=` after the key `{key}`"),
            ));
        }
        i = skip_ws(l, i + 1);
        let quoted = l.as_bytes().get(i) == Some(&b'"');
        let (raw_value, next) = if quoted {
            let Some(end) = memchr::memchr(b'"', &l.as_bytes()[i + 1..]) else {
                return Err(TextError::new(
                    line,
                    col(i),
                    format!("unterminated string in the value of `{key}`"),
                ));
            };
            (&l[i + 1..i + 1 + end], i + end + 2)
        } else if i == l.len() || l.as_bytes()[i] == b'#' {
            return Err(TextError::new(
                line,
                col(i),
                format!("expected a value after `{key} =`"),
            ));
        } else {
            // VMware writes every value in quotes; a bare word is accepted.
            let start = i;
            for (k, c) in l[start..].char_indices() {
                if c.is_whitespace() || c == '#' {
                    break;
                }
                if c == '"' {
                    return Err(TextError::new(
                        line,
                        col(start + k),
                        "unexpected `\"` inside an unquoted value",
                    ));
                }
                i = start + k + c.len_utf8();
            }
            (&l[start..i], i)
        };
        let after = skip_ws(l, next);
        if after < l.len() && l.as_bytes()[after] != b'#' {
            return Err(TextError::new(
                line,
                col(after),
                format!(
                    "unexpected {} after the value of `{key}`",
                    describe(at(after))
                ),
            ));
        }
        if key.eq_ignore_ascii_case(".encoding") {
            // A character set hvxform cannot decode (or write back) is
            // refused here, not when the file is written again.
            charset = Some(Charset::from_label(raw_value).ok_or_else(|| {
                TextError::new(
                    line,
                    col(key_start),
                    format!(
                        "`.encoding = \"{}\"`: hvxform reads UTF-8, ISO-8859-1 and windows-1252 .vmx files; convert the file to UTF-8 and say so in .encoding",
                        raw_value.escape_debug()
                    ),
                )
            })?);
        }
        if out.len() == super::text::MAX_SETTINGS {
            return Err(TextError::new(
                line,
                col(key_start),
                format!(
                    "more than {} settings; refusing the file (a VM's .vmx has a few hundred)",
                    super::text::MAX_SETTINGS
                ),
            ));
        }
        out.push(Entry {
            value: unescape(raw_value, charset.unwrap_or(Charset::Utf8)),
            key: key.to_string(),
            line,
            col: col(key_start),
            quoted,
        });
    }
    Ok(out)
}

/// Past the blanks (spaces, tabs, byte order marks) at byte `i` of `l`.
fn skip_ws(l: &str, mut i: usize) -> usize {
    loop {
        match l.as_bytes().get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(0xEF) if l[i..].starts_with('\u{feff}') => i += '\u{feff}'.len_utf8(),
            _ => return i,
        }
    }
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("character U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

/// Resolves `|XX` escapes (bytes in the file's charset). A `|` not followed
/// by two hex digits is literal; when the bytes do not decode, the value is
/// kept as written.
pub fn unescape(v: &str, charset: Charset) -> String {
    if !v.contains('|') {
        return v.to_string();
    }
    let chars: Vec<char> = v.chars().collect();
    let mut bytes = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '|' && i + 2 < chars.len() {
            let h = |c: char| c.to_digit(16);
            if let (Some(a), Some(b)) = (h(chars[i + 1]), h(chars[i + 2])) {
                bytes.push((a * 16 + b) as u8);
                i += 3;
                continue;
            }
        }
        if !charset.encode_char(c, &mut bytes) {
            return v.to_string();
        }
        i += 1;
    }
    charset.decode(&bytes).unwrap_or_else(|| v.to_string())
}

/// Escapes a value for writing: `"`, `|` and control characters become
/// `|XX`; outside UTF-8, every non-ASCII character becomes the `|XX` bytes
/// of its encoding, so that the file itself is ASCII.
/// The bytes [`escape`] writes as they are whatever the charset: ASCII
/// but the controls, DEL, `"` and `|`.
static PLAIN: [bool; 256] = plain_table(false);
/// The same in a UTF-8 file, where every byte of a character beyond ASCII
/// is written as it is too.
static PLAIN_UTF8: [bool; 256] = plain_table(true);

const fn plain_table(utf8: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x100 {
        t[b] = if b < 0x7F {
            b != b'"' as usize && b != b'|' as usize
        } else {
            utf8 && b >= 0x80
        };
        b += 1;
    }
    t
}

pub fn escape(v: &str, charset: Option<Charset>, label: &str) -> Result<String, String> {
    fn hex(out: &mut String, x: u8) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        out.push('|');
        out.push(HEX[usize::from(x >> 4)] as char);
        out.push(HEX[usize::from(x & 15)] as char);
    }
    let plain = if charset == Some(Charset::Utf8) {
        &PLAIN_UTF8
    } else {
        &PLAIN
    };
    let bytes = v.as_bytes();
    let run = |i: usize| plain_run_end(bytes, i, plain);
    let mut i = run(0);
    if i == bytes.len() {
        return Ok(v.to_string());
    }
    let mut out = String::with_capacity(v.len() + v.len() / 8);
    // Runs of characters written as they are are copied whole; bytes are
    // looked at, characters decoded only to encode them in another charset.
    let mut start = 0;
    while i < bytes.len() {
        let b = bytes[i];
        out.push_str(&v[start..i]);
        if b < 0x80 {
            hex(&mut out, b);
            i += 1;
        } else {
            let c = v[i..].chars().next().expect("a character starts here");
            i += c.len_utf8();
            let mut b = Vec::new();
            let cs = charset.ok_or_else(|| {
                format!("cannot write `{c}`: hvxform has no table for the encoding `{label}`")
            })?;
            if !cs.encode_char(c, &mut b) {
                return Err(format!("`{c}` has no encoding in `{label}`"));
            }
            for x in b {
                hex(&mut out, x);
            }
        }
        start = i;
        i = run(i);
    }
    out.push_str(&v[start..]);
    Ok(out)
}

/// A `.vmx` file's text (decoded) as it is written back unchanged: where
/// `.encoding` names a charset other than UTF-8, each character beyond
/// ASCII becomes the `|XX` escapes of its bytes in that charset (what
/// [`escape`] writes), so that the file is ASCII and means what its
/// `.encoding` says, instead of UTF-8 bytes a reader decodes as that
/// charset. Comments, which VMware ignores, are escaped alike.
pub fn in_declared_charset(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    use std::fmt::Write as _;
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let charset = lex(text).ok().and_then(|es| {
        es.iter()
            .find(|e| e.key.eq_ignore_ascii_case(".encoding"))
            .and_then(|e| Charset::from_label(&e.value))
    });
    let Some(cs) = charset.filter(|c| *c != Charset::Utf8) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    let mut b = Vec::new();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        b.clear();
        if !cs.encode_char(c, &mut b) {
            // Read from this charset, so not expected: kept as it is.
            out.push(c);
            continue;
        }
        for x in &b {
            let _ = write!(out, "|{x:02X}");
        }
    }
    Cow::Owned(out)
}

/// `ethernet0` → (`ethernet`, `0`, none); `scsi0:1` → (`scsi`, `0`, `1`);
/// `usb:0` → (`usb`, none, `0`). Other prefixes are not devices.
pub fn device_prefix(p: &str) -> Option<(String, Option<&str>, Option<&str>)> {
    let kind_end = p
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
        .unwrap_or(p.len());
    if kind_end == 0 || kind_end == p.len() {
        return None;
    }
    let rest = &p[kind_end..];
    let (index, unit) = match rest.split_once(':') {
        Some((i, u)) => (i, Some(u)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(index.is_empty() || digits(index)) || !unit.is_none_or(digits) {
        return None;
    }
    if index.is_empty() && unit.is_none() {
        return None;
    }
    Some((
        p[..kind_end].to_ascii_lowercase(),
        (!index.is_empty()).then_some(index),
        unit,
    ))
}

/// The element name of a (relative) key, written into `buf`: lower case,
/// or `entry` when that is no XML name or is a name the form itself uses.
fn element_name<'b>(key: &str, buf: &'b mut String) -> &'b str {
    buf.clear();
    buf.push_str(key);
    buf.make_ascii_lowercase();
    if !(is_ncname(buf) && buf != "entry" && buf != "device") {
        buf.clear();
        buf.push_str("entry");
    }
    buf
}

/// A key compared and hashed without regard to ASCII case (keys are
/// ASCII: the lexer refuses others), so that grouping and checking keys
/// needs no lower-case copy of each.
#[derive(Clone, Copy)]
struct Caseless<'k>(&'k str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Caseless<'_> {}

impl std::hash::Hash for Caseless<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // Lower-cased a chunk at a time on the stack: one write per chunk.
        let mut buf = [0u8; 64];
        for chunk in self.0.as_bytes().chunks(buf.len()) {
            let low = &mut buf[..chunk.len()];
            low.copy_from_slice(chunk);
            low.make_ascii_lowercase();
            h.write(low);
        }
        h.write_u8(0xff);
    }
}

enum Item {
    Key(usize),
    Device(usize),
}

struct Device {
    kind: String,
    index: Option<String>,
    unit: Option<String>,
    /// (entry, where its key relative to the device starts)
    keys: Vec<(usize, usize)>,
}

/// The entries of `.vmx` text, checked for duplicates and grouped by
/// device (see [`read`]).
fn entries(text: &str) -> Result<Read, TextError> {
    let entries = lex(text)?;
    let mut keep = vec![true; entries.len()];
    {
        let mut first: HashMap<Caseless, usize> = HashMap::with_capacity(entries.len());
        for (k, e) in entries.iter().enumerate() {
            match first.entry(Caseless(&e.key)) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    let j = *o.get();
                    if entries[j].value != e.value {
                        return Err(TextError::new(
                            e.line,
                            e.col,
                            format!(
                                "duplicate key `{}` with a different value (`{}` at line {}, `{}` here)",
                                e.key, entries[j].value, entries[j].line, e.value
                            ),
                        ));
                    }
                    keep[k] = false;
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(k);
                }
            }
        }
    }
    let mut encoding = None;
    let mut items = Vec::with_capacity(entries.len());
    let mut devices: Vec<Device> = Vec::new();
    // Device prefixes seen (`ethernet0`, any case) and their device.
    let mut by_prefix: HashMap<Caseless, usize> = HashMap::new();
    for (k, e) in entries.iter().enumerate() {
        if !keep[k] {
            continue;
        }
        if e.key.eq_ignore_ascii_case(".encoding") {
            encoding = Some(k);
            continue;
        }
        let dot = memchr::memchr(b'.', e.key.as_bytes()).filter(|&d| d + 1 < e.key.len());
        let Some(p) = dot.map(|d| &e.key[..d]) else {
            items.push(Item::Key(k));
            continue;
        };
        let rel = p.len() + 1;
        if let Some(&d) = by_prefix.get(&Caseless(p)) {
            devices[d].keys.push((k, rel));
            continue;
        }
        match device_prefix(p) {
            Some((kind, index, unit)) => {
                devices.push(Device {
                    kind,
                    index: index.map(str::to_string),
                    unit: unit.map(str::to_string),
                    keys: vec![(k, rel)],
                });
                by_prefix.insert(Caseless(p), devices.len() - 1);
                items.push(Item::Device(devices.len() - 1));
            }
            None => items.push(Item::Key(k)),
        }
    }
    Ok(Read {
        entries,
        encoding,
        items,
        devices,
    })
}

/// A `.vmx` file read: its entries, grouped as the canonical form holds them.
struct Read {
    entries: Vec<Entry>,
    /// The `.encoding` entry.
    encoding: Option<usize>,
    items: Vec<Item>,
    devices: Vec<Device>,
}

/// Reads `.vmx` text into the canonical XML form. Duplicate keys (compared
/// case-insensitively) with the same value are kept once; with different
/// values they are an error at the second one.
pub fn read(text: &str) -> Result<String, TextError> {
    let r = entries(text)?;
    let mut w = XmlOut::new();
    r.write(&mut w, None)
        .and_then(|()| w.finish())
        .map_err(|e| unrepresentable(text, e))
}

/// [`read`] as the tree a mapping reads, built without writing the text
/// and parsing it again; each element's position is its key's line (the
/// first key's, for a device) in `text`.
pub fn read_tree(text: &str) -> Result<Tree, TextError> {
    let r = entries(text)?;
    let lines = crate::diag::LineIndex::new(text);
    let at = |e: &Entry| Some(lines.offset(text, e.line, e.col));
    let mut w = XmlOut::building_from(text);
    r.write(&mut w, Some(&at))
        .and_then(|()| w.finish_tree())
        .map_err(|e| unrepresentable(text, e))
}

/// Where an entry is in the text, for a writer that keeps positions.
type At<'f> = Option<&'f dyn Fn(&Entry) -> Option<usize>>;

impl Read {
    fn write(&self, w: &mut XmlOut, at: At) -> Result<(), crate::xmlout::WriteError> {
        let pos = |k: usize| at.and_then(|f| f(&self.entries[k]));
        let mut name = String::with_capacity(32);
        // The root: the file itself, from its start.
        w.origin(at.map(|_| 0));
        w.start_ns("vmx", Some(NS), None)?;
        if let Some(k) = self.encoding {
            w.attr("encoding", &self.entries[k].value)?;
        }
        for it in &self.items {
            match it {
                Item::Key(k) => {
                    w.origin(pos(*k));
                    key_element(w, &self.entries[*k].key, &self.entries[*k].value, &mut name)?
                }
                Item::Device(d) => {
                    let d = &self.devices[*d];
                    w.origin(d.keys.first().and_then(|(k, _)| pos(*k)));
                    w.start("device")?;
                    w.attr("kind", &d.kind)?;
                    if let Some(i) = &d.index {
                        w.attr("index", i)?;
                    }
                    if let Some(u) = &d.unit {
                        w.attr("unit", u)?;
                    }
                    for &(k, rel) in &d.keys {
                        w.origin(pos(k));
                        let e = &self.entries[k];
                        key_element(w, &e.key[rel..], &e.value, &mut name)?;
                    }
                    w.end();
                }
            }
        }
        w.end();
        Ok(())
    }
}

fn key_element(
    w: &mut XmlOut,
    key: &str,
    value: &str,
    name: &mut String,
) -> Result<(), crate::xmlout::WriteError> {
    w.start(element_name(key, name))?;
    w.attr("key", key)?;
    if !value.is_empty() {
        w.text(value)?;
    }
    w.end();
    Ok(())
}

/// Writes the canonical form back to `.vmx` text: one `key = "value"` line
/// per key element, in document order (the keys of a `device` together),
/// `.encoding` first when the root has an `encoding` attribute.
pub fn write(xml: &str) -> Result<String, String> {
    let doc = Tree::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    write_tree(&doc)
}

/// [`write`] from the canonical form as a tree: what a mapping's last
/// stage builds, so its text is never written to be parsed again.
pub fn write_tree(doc: &Tree) -> Result<String, String> {
    let root = doc
        .root_element()
        .ok_or("the document has no root element")?;
    if root.tag_name().name() != "vmx" {
        return Err(format!(
            "the document is not the .vmx canonical form (root <{}>, expected <vmx xmlns=\"{NS}\">)",
            root.tag_name().name()
        ));
    }
    let label = root.attribute("encoding");
    let charset = label.map_or(Some(Charset::Utf8), Charset::from_label);
    let label = label.unwrap_or("UTF-8");
    let mut out = String::with_capacity(doc.input_text().len().max(1024));
    // Each key (lower case, as VMware compares them) and where its value
    // is in `out`.
    let mut seen: HashMap<String, std::ops::Range<usize>> = HashMap::new();
    let mut put = |key: &str, key_rest: Option<&str>, value: &str| -> Result<(), String> {
        let full = match key_rest {
            Some(rest) => std::borrow::Cow::Owned(format!("{key}.{rest}")),
            None => std::borrow::Cow::Borrowed(key),
        };
        let key = full.as_ref();
        if key.is_empty()
            || key
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '=' | '"' | '#') || !c.is_ascii())
        {
            return Err(format!("`{key}` cannot be a .vmx key"));
        }
        let lk = key.to_ascii_lowercase();
        if let Some(old) = seen.get(&lk) {
            // The value as it was written, unescaped (escaping is one to one).
            let old = unescape(&out[old.clone()], charset.unwrap_or(Charset::Utf8));
            if old != value {
                return Err(format!(
                    "the key `{key}` is written twice, with `{old}` and `{value}`"
                ));
            }
            return Ok(());
        }
        let escaped = escape(value, charset, label)?;
        out.push_str(key);
        out.push_str(" = \"");
        let at = out.len();
        out.push_str(&escaped);
        seen.insert(lk, at..out.len());
        out.push_str("\"\n");
        Ok(())
    };
    if let Some(enc) = root.attribute("encoding") {
        put(".encoding", None, enc)?;
    }
    for n in root.children() {
        if n.is_text() {
            if n.text().is_some_and(|t| !t.trim().is_empty()) {
                return Err("text directly inside <vmx> is not a key".into());
            }
            continue;
        }
        if !n.is_element() {
            continue;
        }
        if n.tag_name().name() == "device" {
            let prefix = device_id(n)?;
            for c in n.children().filter(|c| c.is_element()) {
                put(&prefix, Some(key_of(c)?), &value_of(c)?)?;
            }
        } else {
            put(key_of(n)?, None, &value_of(n)?)?;
        }
    }
    if out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

fn device_id(n: TreeNode) -> Result<String, String> {
    let kind = n
        .attribute("kind")
        .filter(|k| !k.is_empty())
        .ok_or("a <device> needs a `kind`")?;
    let (i, u) = (n.attribute("index"), n.attribute("unit"));
    if i.is_none() && u.is_none() {
        return Err(format!(
            "<device kind=\"{kind}\"> needs an `index` or a `unit`"
        ));
    }
    let mut s = format!("{kind}{}", i.unwrap_or(""));
    if let Some(u) = u {
        s.push(':');
        s.push_str(u);
    }
    Ok(s)
}

fn key_of<'a>(n: TreeNode<'a, '_>) -> Result<&'a str, String> {
    match n.attribute("key") {
        Some(k) => Ok(k),
        None if n.tag_name().name() == "entry" => Err("an <entry> needs a `key`".into()),
        None => Ok(n.tag_name().name()),
    }
}

/// The key's text: borrowed when it is one text node (as built), joined
/// otherwise.
fn value_of<'a>(n: TreeNode<'a, '_>) -> Result<std::borrow::Cow<'a, str>, String> {
    if let Some(c) = n.children().find(|c| c.is_element()) {
        return Err(format!(
            "the key element <{}> contains an element <{}>; keys hold text",
            n.tag_name().name(),
            c.tag_name().name()
        ));
    }
    let mut texts = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text());
    let first = texts.next().unwrap_or("");
    Ok(match texts.next() {
        None => first.into(),
        Some(second) => {
            let mut s = String::from(first);
            s.push_str(second);
            texts.for_each(|t| s.push_str(t));
            s.into()
        }
    })
}

/// Keys whose presence says a text is a `.vmx` file.
const KNOWN: &[&str] = &[
    "config.version",
    "virtualhw.version",
    "displayname",
    "guestos",
    "memsize",
    "numvcpus",
    "uuid.bios",
    "vc.uuid",
    "annotation",
    "firmware",
    "nvram",
];

/// Does this text look like a `.vmx` file (every value quoted, and keys
/// only `.vmx` files have)? Returns how many such keys there are, and the
/// evidence.
pub fn sniff(text: &str) -> Option<(usize, String)> {
    let entries = lex(text).ok()?;
    if entries.iter().any(|e| !e.quoted) {
        return None;
    }
    let known: Vec<&str> = entries
        .iter()
        .filter(|e| {
            let k = e.key.to_ascii_lowercase();
            KNOWN.contains(&k.as_str())
                || k == ".encoding"
                || e.key
                    .split_once('.')
                    .is_some_and(|(p, _)| device_prefix(p).is_some())
        })
        .map(|e| e.key.as_str())
        .collect();
    (!known.is_empty()).then(|| {
        let shown: Vec<&str> = known.iter().take(3).copied().collect();
        (
            known.len(),
            format!("content: .vmx keys {}", shown.join(", ")),
        )
    })
}

/// A `.vmx` hvxform wrote (`written`) for a VM that came home changed, laid
/// out as its original (`original`, the file it left as): each key where the
/// original has it and spelt as the original spells it (keys are
/// case-insensitive), a line whose value did not change exactly as it was,
/// the original's comments and blank lines kept, keys the original does
/// not have after it in the order written, and keys no longer written gone.
/// So the file differs from the one the VM left as only where the VM
/// changed. Either text failing to lex, or a key written twice, leaves
/// `written` as it is.
pub fn rebase(original: &str, written: &str) -> String {
    let (Ok(old), Ok(new)) = (lex(original), lex(written)) else {
        return written.to_string();
    };
    let mut by_key: HashMap<String, usize> = HashMap::with_capacity(new.len());
    for (i, e) in new.iter().enumerate() {
        if by_key.insert(e.key.to_ascii_lowercase(), i).is_some() {
            return written.to_string();
        }
    }
    let lines: Vec<&str> = super::text::split_lf(written).collect();
    // The value part of a written line (`= "…"` onwards), as written.
    let rhs = |e: &Entry| {
        let l = lines[e.line - 1];
        l.find('=').map_or("", |i| l[i + 1..].trim_start())
    };
    let old_at: HashMap<usize, &Entry> = old.iter().map(|e| (e.line, e)).collect();
    let crlf = original.contains("\r\n");
    let mut used = vec![false; new.len()];
    let mut out: Vec<String> = Vec::with_capacity(new.len() + 8);
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (n, raw) in super::text::split_lf(original).enumerate() {
        let Some(e) = old_at.get(&(n + 1)) else {
            // A comment or a blank line.
            out.push(raw.to_string());
            continue;
        };
        let key = e.key.to_ascii_lowercase();
        // A key given twice counts once, where it first is.
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Some(&i) = by_key.get(&key) {
            used[i] = true;
            if new[i].value == e.value {
                out.push(raw.to_string());
            } else {
                let cr = if raw.ends_with('\r') { "\r" } else { "" };
                out.push(format!("{} = {}{cr}", e.key, rhs(&new[i])));
            }
        }
    }
    // The original's last line break (an empty last piece) goes after the
    // keys it did not have.
    let ends_open = out.last().is_some_and(|l| l.is_empty());
    if ends_open {
        out.pop();
    }
    for (i, e) in new.iter().enumerate() {
        if !used[i] {
            let l = lines[e.line - 1];
            out.push(if crlf {
                format!("{l}\r")
            } else {
                l.to_string()
            });
        }
    }
    let mut text = out.join("\n");
    if ends_open || original.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.vmx` written anew for a VM that came home changed keeps the
    /// layout of the file it left as: order, key spelling, comments, line
    /// ends; only changed values are the written ones, removed keys go and
    /// new keys come last.
    #[test]
    fn a_rewritten_vmx_keeps_the_layout_it_left_with() {
        let original = "# edited by hand\r\n.encoding = \"UTF-8\"\r\nmemSize = \"2048\"\r\n\r\ndisplayName=\"web\"\r\nfloppy0.present = \"FALSE\"\r\n";
        let written =
            ".encoding = \"UTF-8\"\ndisplayname = \"web\"\nmemsize = \"4096\"\nnumvcpus = \"2\"\n";
        assert_eq!(
            rebase(original, written),
            "# edited by hand\r\n.encoding = \"UTF-8\"\r\nmemSize = \"4096\"\r\n\r\ndisplayName=\"web\"\r\nnumvcpus = \"2\"\r\n"
        );
        // No line break at the end stays so; a key given twice counts where
        // it first is.
        assert_eq!(
            rebase("a = \"1\"\nb = \"2\"\na = \"1\"", "b = \"3\"\na = \"1\"\n"),
            "a = \"1\"\nb = \"3\""
        );
        // What does not lex, or writes a key twice, is left as written.
        let twice = "a = \"1\"\nA = \"2\"\n";
        assert_eq!(rebase("a = \"1\"\n", twice), twice);
        assert_eq!(rebase("a = \"1\n", "a = \"2\"\n"), "a = \"2\"\n");
        assert_eq!(rebase("", "a = \"2\"\n"), "a = \"2\"\n");
    }

    #[test]
    fn a_control_character_is_refused_where_it_is() {
        let text = "config.version = \"8\"\ndisplayName = \"é\u{2}\"\n";
        let e = read(text).unwrap_err();
        assert_eq!((e.line, e.col), (2, 17), "{}", e.message);
        assert!(e.message.contains("U+0002"), "{}", e.message);
        assert_eq!(read_tree(text).unwrap_err().line, 2);
    }

    /// Found by fuzzing: an `.encoding` hvxform has no table for was read
    /// as UTF-8, and writing the file back failed. It is refused, located.
    #[test]
    fn a_file_in_another_charset_is_written_back_in_it() {
        // Read from windows-1252 bytes: é and € as characters.
        let text = ".encoding = \"windows-1252\"\ndisplayName = \"caf\u{e9} \u{20ac}\"\n# R\u{e9}sum\u{e9}\n";
        let out = in_declared_charset(text);
        assert_eq!(
            out,
            ".encoding = \"windows-1252\"\ndisplayName = \"caf|E9 |80\"\n# R|E9sum|E9\n"
        );
        // Read again: the same value.
        let xml = read(&out).unwrap();
        assert!(xml.contains("caf\u{e9} \u{20ac}"), "{xml}");
        // UTF-8 files, and ASCII ones, stay as they are.
        let utf8 = ".encoding = \"UTF-8\"\ndisplayName = \"caf\u{e9}\"\n";
        assert!(matches!(
            in_declared_charset(utf8),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(
            in_declared_charset("displayName = \"caf\u{e9}\"\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn an_unknown_encoding_is_refused_where_it_is_declared() {
        let e = read("displayName = \"x\"\n.encoding = \"UTF-8\u{feff}\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(
            e.message
                .contains("hvxform reads UTF-8, ISO-8859-1 and windows-1252"),
            "{}",
            e.message
        );
        assert!(read(".encoding = \"windows-1252\"\ndisplayName = \"x\"\n").is_ok());
    }

    #[test]
    fn devices_and_keys() {
        let xml = read(
            ".encoding = \"UTF-8\"\nDISPLAYNAME = \"a|22b\"\nethernet0.virtualDev = \"vmxnet3\"\nscsi0:1.fileName = \"x.vmdk\"\nsched.scsi0:1.shares = \"normal\"\nethernet0.present = \"TRUE\"\n",
        )
        .unwrap();
        assert!(
            xml.contains(r#"<displayname key="DISPLAYNAME">a"b</displayname>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<device kind="ethernet" index="0">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<device kind="scsi" index="0" unit="1">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<entry key="sched.scsi0:1.shares">normal</entry>"#),
            "{xml}"
        );
        let back = write(&xml).unwrap();
        assert_eq!(
            back,
            ".encoding = \"UTF-8\"\nDISPLAYNAME = \"a|22b\"\nethernet0.virtualDev = \"vmxnet3\"\nethernet0.present = \"TRUE\"\nscsi0:1.fileName = \"x.vmdk\"\nsched.scsi0:1.shares = \"normal\"\n"
        );
    }

    /// Keys are one key whatever their case: a device's keys in any case
    /// are one device (the first spelling names it), a key given twice with
    /// the same value is read once, with another value refused at the
    /// second; a prefix longer than a chunk of the hash is compared whole.
    #[test]
    fn keys_and_devices_are_grouped_without_regard_to_case() {
        let long = "a".repeat(70);
        let xml = read(&format!(
            "Ethernet0.present = \"TRUE\"\nETHERNET0.virtualDev = \"e1000\"\nethernet0.address = \"x\"\nmemSize = \"4\"\nMEMSIZE = \"4\"\nscsi0.present = \"TRUE\"\n{long}B.x = \"1\"\n{long}b.y = \"2\"\n"
        ))
        .unwrap();
        assert_eq!(
            xml.matches("<device kind=\"ethernet\" index=\"0\">")
                .count(),
            1,
            "{xml}"
        );
        assert_eq!(xml.matches("<device ").count(), 2, "{xml}");
        for k in ["present", "virtualDev", "address"] {
            assert!(xml.contains(&format!("key=\"{k}\"")), "{k}: {xml}");
        }
        assert_eq!(xml.matches("key=\"memSize\"").count(), 1, "{xml}");
        assert!(!xml.contains("MEMSIZE"), "{xml}");
        // Not device prefixes: each key its own, whatever the case.
        assert!(xml.contains(&format!("key=\"{long}B.x\"")), "{xml}");
        assert!(xml.contains(&format!("key=\"{long}b.y\"")), "{xml}");
        let e = read("memsize = \"4\"\nMemSize = \"8\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1), "{}", e.message);
        let e = read(&format!("{long}X = \"1\"\n{long}x = \"2\"\n")).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1), "{}", e.message);
        assert!(read(&format!("{long}X = \"1\"\n{long}Y = \"2\"\n")).is_ok());
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            device_prefix("usb:0"),
            Some(("usb".into(), None, Some("0")))
        );
        assert_eq!(
            device_prefix("usb_xhci:4"),
            Some(("usb_xhci".into(), None, Some("4")))
        );
        assert_eq!(
            device_prefix("ide1:0"),
            Some(("ide".into(), Some("1"), Some("0")))
        );
        assert_eq!(
            device_prefix("pciBridge4"),
            Some(("pcibridge".into(), Some("4"), None))
        );
        assert_eq!(device_prefix("hostCPUID"), None);
        assert_eq!(device_prefix("sched"), None);
        assert_eq!(device_prefix("a0:"), None);
    }

    #[test]
    fn errors_have_positions() {
        let e = read("a = \"1\"\nb = \"x\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 5));
        assert!(e.message.contains("unterminated"), "{}", e.message);
        let e = read("a = \"1\"\nA = \"2\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.contains("duplicate key"), "{}", e.message);
        let e = read("foo bar\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 5));
        let e = read("a = \"1\" x\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 9));
        assert!(read("a = \"1\"\na = \"1\"\n# c\n\n").is_ok());
        // Columns count characters, not bytes: after a two-byte `é`, and
        // after a byte order mark (three bytes, one column).
        let e = read("name = \"\u{e9}\" x\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 12), "{}", e.message);
        assert!(e.message.contains("`x`"), "{}", e.message);
        let e = read("\u{feff}k\u{e9}y = \"1\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 3), "{}", e.message);
        let entries = lex("\u{feff}key = v\u{e9} # c\n").unwrap();
        assert_eq!((entries[0].col, entries[0].value.as_str()), (2, "v\u{e9}"));
        assert!(!entries[0].quoted);
        let e = read("k = ab\"c\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 7), "{}", e.message);
    }

    #[test]
    fn a_key_written_twice_is_written_once_or_refused() {
        let doc = |enc: &str, a: &str, b: &str| {
            format!(
                "<vmx xmlns=\"{NS}\" encoding=\"{enc}\"><displayname key=\"displayName\">{a}</displayname><entry key=\"DISPLAYNAME\">{b}</entry></vmx>"
            )
        };
        // The same value (in a file of another charset too): once.
        let w = write(&doc("windows-1252", "caf\u{e9} \"x\"", "caf\u{e9} \"x\"")).unwrap();
        assert_eq!(
            w,
            ".encoding = \"windows-1252\"\ndisplayName = \"caf|E9 |22x|22\"\n"
        );
        // Another value: refused, naming both, even one the file's charset
        // cannot hold.
        for second in ["cafe", "\u{141}"] {
            let e = write(&doc("windows-1252", "caf\u{e9}", second)).unwrap_err();
            assert_eq!(
                e,
                format!("the key `DISPLAYNAME` is written twice, with `caf\u{e9}` and `{second}`")
            );
        }
    }

    #[test]
    fn escape_agrees_with_a_character_by_character_escape() {
        // The reference: each character on its own, as the format says.
        fn one_by_one(v: &str, cs: Option<Charset>) -> Option<String> {
            let mut out = String::new();
            for c in v.chars() {
                let ascii_special = c < ' ' || c == '"' || c == '|' || c == '\u{7f}';
                if ascii_special {
                    out.push_str(&format!("|{:02X}", c as u32));
                } else if c.is_ascii() || cs == Some(Charset::Utf8) {
                    out.push(c);
                } else {
                    let mut b = Vec::new();
                    if !cs?.encode_char(c, &mut b) {
                        return None;
                    }
                    b.iter().for_each(|x| out.push_str(&format!("|{x:02X}")));
                }
            }
            Some(out)
        }
        let pieces = [
            "a",
            "plain text ",
            "\"",
            "|",
            "\n",
            "\t",
            "\u{7f}",
            "\u{1}",
            "é",
            "€",
            "\u{c2}",
            "\u{85}",
            "日本",
            "x|7C",
            "||",
            "\"\"",
            "",
        ];
        let mut pick = crate::testing::picker(0x5eed_7e57);
        for label in ["UTF-8", "windows-1252"] {
            let cs = Charset::from_label(label);
            for _ in 0..20_000 {
                let v: String = (0..pick(8)).map(|_| pieces[pick(pieces.len())]).collect();
                let want = one_by_one(&v, cs);
                let got = escape(&v, cs, label).ok();
                assert_eq!(got, want, "{label}: {v:?}");
            }
        }
    }

    #[test]
    fn escape_writes_specials_as_hex_and_copies_the_rest() {
        let u = Some(Charset::Utf8);
        assert_eq!(escape("", u, "UTF-8").unwrap(), "");
        assert_eq!(escape("plain café", u, "UTF-8").unwrap(), "plain café");
        assert_eq!(
            escape("a\"b|c\nd\u{7f}é\t", u, "UTF-8").unwrap(),
            "a|22b|7Cc|0Ad|7Fé|09"
        );
        assert_eq!(escape("\"\"", u, "UTF-8").unwrap(), "|22|22");
        let w = Charset::from_label("windows-1252");
        assert_eq!(escape("plain", w, "windows-1252").unwrap(), "plain");
        assert_eq!(escape("x|", w, "windows-1252").unwrap(), "x|7C");
        assert_eq!(escape("é\"€x", w, "windows-1252").unwrap(), "|E9|22|80x");
        assert!(escape("é", None, "x-unknown")
            .unwrap_err()
            .contains("no table for the encoding `x-unknown`"));
    }

    #[test]
    fn escapes_in_other_charsets() {
        let xml = read(".encoding = \"windows-1252\"\nannotation = \"caf|E9 |80\"\n").unwrap();
        assert!(xml.contains(">café €<"), "{xml}");
        let back = write(&xml).unwrap();
        assert!(back.contains("annotation = \"caf|E9 |80\""), "{back}");
        let utf = read("annotation = \"caf|C3|A9 |7C|0A\"\n").unwrap();
        assert!(utf.contains(">café |\n<"), "{utf}");
        assert_eq!(write(&utf).unwrap(), "annotation = \"café |7C|0A\"\n");
        // Not hex: literal.
        assert!(read("a = \"x|zz\"\n").unwrap().contains(">x|zz<"));
    }
}
