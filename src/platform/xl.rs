//! Xen `xl.cfg` files: the parser (xl's Python-like syntax: strings,
//! numbers, nested lists), the canonical XML form mappings read (book:
//! Platforms › Xen), and the writer back to xl.cfg text.
//!
//! ```text
//! name = "web"                              <xl xmlns="urn:hvxform:xl:1">
//! memory = 2048                               <name>web</name>
//! vif = [ 'mac=00:16:3e:1a:2b:3c,bridge=br0' ] <memory>2048</memory>
//!                                              <vif><spec><mac>00:16:3e:1a:2b:3c</mac><bridge>br0</bridge></spec></vif>
//! ```

use std::collections::HashMap;

use super::text::{is_ncname, plain_run_end, unrepresentable, TextError};
use super::xl_spec::{self, Param, SPEC_KEYS};
use crate::xmlout::{WriteError, XmlOut};

/// Namespace of the canonical form.
pub const NS: &str = "urn:hvxform:xl:1";

/// A value: a string or number (xl keeps both as text), or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Atom(String),
    List(Vec<Value>),
}

/// One `key = value` (or `key += value`) setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: Value,
    pub append: bool,
    pub line: usize,
    pub col: usize,
    /// The line the value ends on (a list may span several).
    pub end_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Atom(String),
    Open,
    Close,
    Comma,
    Eq,
    PlusEq,
    Semi,
    Newline,
    Eof,
}

struct Lexer<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
    line: usize,
    col: usize,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Result<(Tok, usize, usize), TextError> {
        while matches!(self.chars.peek(), Some(' ' | '\t' | '\r' | '\u{feff}')) {
            self.bump();
        }
        let (line, col) = (self.line, self.col);
        let Some(c) = self.bump() else {
            return Ok((Tok::Eof, line, col));
        };
        let tok = match c {
            '\n' => Tok::Newline,
            '#' => {
                while self.chars.peek().is_some_and(|&c| c != '\n') {
                    self.bump();
                }
                Tok::Newline
            }
            '[' => Tok::Open,
            ']' => Tok::Close,
            ',' => Tok::Comma,
            '=' => Tok::Eq,
            ';' => Tok::Semi,
            '+' if self.chars.peek() == Some(&'=') => {
                self.bump();
                Tok::PlusEq
            }
            '\'' | '"' => Tok::Atom(self.string(c, line, col)?),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = c.to_string();
                while let Some(&n) = self.chars.peek() {
                    if !(n.is_ascii_alphanumeric() || n == '_') {
                        break;
                    }
                    s.push(n);
                    self.bump();
                }
                Tok::Ident(s)
            }
            c if c.is_ascii_digit() => {
                let mut s = c.to_string();
                while let Some(&n) = self.chars.peek() {
                    if !(n.is_ascii_hexdigit() || n == 'x' || n == 'X') {
                        break;
                    }
                    s.push(n);
                    self.bump();
                }
                Tok::Atom(s)
            }
            c => {
                let hint = if matches!(c, '(' | ')' | '.' | '-' | ':' | '+') {
                    " (xl.cfg is not Python: quote the value)"
                } else {
                    ""
                };
                return Err(TextError::new(
                    line,
                    col,
                    format!("unexpected `{}`{hint}", c.escape_debug()),
                ));
            }
        };
        Ok((tok, line, col))
    }

    /// A quoted string (on one line), escapes resolved as xl does.
    fn string(&mut self, quote: char, line: usize, col: usize) -> Result<String, TextError> {
        let mut s = String::new();
        let unterminated = || TextError::new(line, col, "unterminated string");
        loop {
            match self.chars.peek().copied() {
                None | Some('\n') => return Err(unterminated()),
                Some(c) if c == quote => {
                    self.bump();
                    return Ok(s);
                }
                Some('\\') => {
                    let (el, ec) = (self.line, self.col);
                    self.bump();
                    let bad = |m: &str| TextError::new(el, ec, m.to_string());
                    let Some(e) = self.chars.peek().copied().filter(|&c| c != '\n') else {
                        return Err(unterminated());
                    };
                    self.bump();
                    match e {
                        '"' | '\'' | '\\' => s.push(e),
                        'a' => s.push('\u{7}'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'v' => s.push('\u{b}'),
                        'x' => {
                            let mut v = 0u32;
                            for _ in 0..2 {
                                let d = self
                                    .chars
                                    .peek()
                                    .and_then(|c| c.to_digit(16))
                                    .ok_or_else(|| bad("`\\x` needs two hex digits"))?;
                                v = v * 16 + d;
                                self.bump();
                            }
                            s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match self.chars.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        v = v * 8 + d;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(bad("invalid escape after `\\` in a string")),
                    }
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }
}

/// Parses xl.cfg text into its settings, in file order.
pub fn parse(text: &str) -> Result<Vec<Setting>, TextError> {
    let mut lx = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let (t, line, col) = lx.next()?;
        let key = match t {
            Tok::Eof => break,
            Tok::Newline | Tok::Semi => continue,
            Tok::Ident(k) => k,
            other => {
                return Err(TextError::new(
                    line,
                    col,
                    format!("expected a setting name, found {}", show(&other)),
                ))
            }
        };
        let (op, ol, oc) = lx.next()?;
        let append = match op {
            Tok::Eq => false,
            Tok::PlusEq => true,
            other => {
                return Err(TextError::new(
                    ol,
                    oc,
                    format!("expected `=` after `{key}`, found {}", show(&other)),
                ))
            }
        };
        let (t, vl, vc) = lx.next()?;
        let value = value(&mut lx, t, vl, vc)?;
        let (end, el, ec) = lx.next()?;
        if !matches!(end, Tok::Newline | Tok::Semi | Tok::Eof) {
            return Err(TextError::new(
                el,
                ec,
                format!(
                    "expected the end of the line after the value of `{key}`, found {}",
                    show(&end)
                ),
            ));
        }
        if out.len() == super::text::MAX_SETTINGS {
            return Err(TextError::new(
                line,
                col,
                format!(
                    "more than {} settings; refusing the file (an xl.cfg has a few dozen)",
                    super::text::MAX_SETTINGS
                ),
            ));
        }
        out.push(Setting {
            key,
            value,
            append,
            line,
            col,
            end_line: el,
        });
        if end == Tok::Eof {
            break;
        }
    }
    Ok(out)
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Atom(s) => format!("the value `{s}`"),
        Tok::Open => "`[`".into(),
        Tok::Close => "`]`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Eq => "`=`".into(),
        Tok::PlusEq => "`+=`".into(),
        Tok::Semi => "`;`".into(),
        Tok::Newline => "the end of the line".into(),
        Tok::Eof => "the end of the file".into(),
    }
}

/// Lists nest at most this deep (xl.cfg's own lists nest one level).
const MAX_LIST_DEPTH: usize = 64;

fn value(lx: &mut Lexer, t: Tok, line: usize, col: usize) -> Result<Value, TextError> {
    value_in(lx, t, line, col, 0)
}

fn value_in(
    lx: &mut Lexer,
    t: Tok,
    line: usize,
    col: usize,
    depth: usize,
) -> Result<Value, TextError> {
    match t {
        Tok::Atom(s) => Ok(Value::Atom(s)),
        Tok::Ident(s) => Err(TextError::new(
            line,
            col,
            format!("`{s}` is not a value: quote strings (\"{s}\")"),
        )),
        Tok::Open if depth >= MAX_LIST_DEPTH => Err(TextError::new(
            line,
            col,
            format!("lists nested deeper than {MAX_LIST_DEPTH} levels; refusing the file"),
        )),
        Tok::Open => {
            let mut items = Vec::new();
            let next = |lx: &mut Lexer| -> Result<(Tok, usize, usize), TextError> {
                loop {
                    let r = lx.next()?;
                    if r.0 != Tok::Newline {
                        return Ok(r);
                    }
                }
            };
            loop {
                let (t, l, c) = next(lx)?;
                match t {
                    Tok::Close => break,
                    Tok::Eof => return Err(TextError::new(line, col, "unterminated list: no `]`")),
                    t => items.push(value_in(lx, t, l, c, depth + 1)?),
                }
                let (t, l, c) = next(lx)?;
                match t {
                    Tok::Comma => continue,
                    Tok::Close => break,
                    Tok::Eof => return Err(TextError::new(line, col, "unterminated list: no `]`")),
                    other => {
                        return Err(TextError::new(
                            l,
                            c,
                            format!("expected `,` or `]` in the list, found {}", show(&other)),
                        ))
                    }
                }
            }
            Ok(Value::List(items))
        }
        other => Err(TextError::new(
            line,
            col,
            format!("expected a value, found {}", show(&other)),
        )),
    }
}

/// Reads xl.cfg text into the canonical XML form. `key += value` appends to
/// the value set before (strings are concatenated, lists joined); a key set
/// twice with different values is an error at the second setting.
pub fn read(text: &str) -> Result<String, TextError> {
    let settings = settings(text)?;
    let mut w = XmlOut::new();
    write_canonical(text, &settings, &mut w, None)?;
    w.finish().map_err(|e| unrepresentable(text, e))
}

/// [`read`] as the tree a mapping reads, built without writing the text
/// and parsing it again; each setting's element is at its line in `text`.
pub fn read_tree(text: &str) -> Result<crate::tree::Document, TextError> {
    let settings = settings(text)?;
    let lines = crate::diag::LineIndex::new(text);
    let at = |s: &Setting| Some(lines.offset(text, s.line, s.col));
    let mut w = XmlOut::building_from(text);
    write_canonical(text, &settings, &mut w, Some(&at))?;
    w.finish_tree().map_err(|e| unrepresentable(text, e))
}

/// The settings of xl.cfg text, `+=` applied and duplicates checked.
fn settings(text: &str) -> Result<Vec<Setting>, TextError> {
    let mut settings: Vec<Setting> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for s in parse(text)? {
        match index.get(&s.key) {
            Some(&i) if s.append => {
                let prev = &mut settings[i].value;
                match (prev, s.value) {
                    (Value::Atom(a), Value::Atom(b)) => a.push_str(&b),
                    (Value::List(a), Value::List(b)) => a.extend(b),
                    _ => {
                        return Err(TextError::new(
                            s.line,
                            s.col,
                            format!(
                                "`{} +=` adds a list to a string or a string to a list",
                                s.key
                            ),
                        ))
                    }
                }
            }
            Some(&i) => {
                if settings[i].value != s.value {
                    return Err(TextError::new(
                        s.line,
                        s.col,
                        format!(
                            "duplicate setting `{}` with a different value (first at line {})",
                            s.key, settings[i].line
                        ),
                    ));
                }
            }
            None => {
                index.insert(s.key.clone(), settings.len());
                settings.push(s);
            }
        }
    }
    Ok(settings)
}

/// Where a setting is in the text, for a writer that keeps positions.
type At<'f> = Option<&'f dyn Fn(&Setting) -> Option<usize>>;

/// Writes the canonical form of `settings`.
fn write_canonical(
    text: &str,
    settings: &[Setting],
    w: &mut XmlOut,
    at: At,
) -> Result<(), TextError> {
    let mut spec_errors = None;
    let r = (|| -> Result<(), WriteError> {
        // The root: the file itself, from its start.
        w.origin(at.map(|_| 0));
        w.start_ns("xl", Some(NS), None)?;
        for s in settings {
            let el = if is_ncname(&s.key) && s.key != "entry" {
                s.key.as_str()
            } else {
                "entry"
            };
            w.origin(at.and_then(|f| f(s)));
            w.start(el)?;
            if el == "entry" {
                w.attr("key", &s.key)?;
            }
            match &s.value {
                Value::Atom(a) => {
                    if !a.is_empty() {
                        w.text(a)?;
                    }
                }
                Value::List(items) => {
                    if items.is_empty() {
                        w.attr("list", "true")?;
                    }
                    for it in items {
                        if let Err(m) = list_item(w, &s.key, it)? {
                            spec_errors.get_or_insert((s.line, s.col, m));
                        }
                    }
                }
            }
            w.end();
        }
        w.end();
        Ok(())
    })();
    if let Some((l, c, m)) = spec_errors {
        return Err(TextError::new(l, c, m));
    }
    r.map_err(|e| unrepresentable(text, e))
}

type SpecResult = Result<(), String>;

fn list_item(w: &mut XmlOut, key: &str, v: &Value) -> Result<SpecResult, WriteError> {
    match v {
        Value::Atom(a) if SPEC_KEYS.contains(&key) => {
            let params = match xl_spec::parse(key, a) {
                Ok(p) => p,
                Err(m) => return Ok(Err(format!("{key} spec `{a}`: {m}"))),
            };
            w.start("spec")?;
            for p in params {
                let name = match p.name.as_deref() {
                    Some(n) if is_ncname(n) && n != "entry" && n != "arg" => n.to_string(),
                    Some(_) => "entry".into(),
                    None => "arg".into(),
                };
                w.start(&name)?;
                if name == "entry" {
                    w.attr("key", p.name.as_deref().unwrap_or(""))?;
                }
                if !p.value.is_empty() {
                    w.text(&p.value)?;
                }
                w.end();
            }
            w.end();
        }
        Value::Atom(a) => {
            w.start("item")?;
            if !a.is_empty() {
                w.text(a)?;
            }
            w.end();
        }
        Value::List(items) => {
            w.start("list")?;
            for it in items {
                if let Err(m) = list_item(w, "", it)? {
                    return Ok(Err(m));
                }
            }
            w.end();
        }
    }
    Ok(Ok(()))
}

/// Writes the canonical form back to xl.cfg text, one setting per line in
/// document order. Integers are written bare, everything else in double
/// quotes; lists on one line.
pub fn write(xml: &str) -> Result<String, String> {
    let doc = crate::tree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    write_tree(&doc)
}

/// [`write`] from the canonical form as a tree: what a mapping's last
/// stage builds, so its text is never written to be parsed again.
pub fn write_tree(doc: &crate::tree::Document) -> Result<String, String> {
    let root = doc
        .root_element()
        .ok_or("the document has no root element")?;
    if root.tag_name().name() != "xl" {
        return Err(format!(
            "the document is not the xl.cfg canonical form (root <{}>, expected <xl xmlns=\"{NS}\">)",
            root.tag_name().name()
        ));
    }
    let mut out = String::with_capacity(doc.input_text().len().max(1024));
    let mut seen: HashMap<String, String> = HashMap::new();
    for n in root.children() {
        if n.is_text() {
            if n.text().is_some_and(|t| !t.trim().is_empty()) {
                return Err("text directly inside <xl> is not a setting".into());
            }
            continue;
        }
        if !n.is_element() {
            continue;
        }
        let key = match n.attribute("key") {
            Some(k) => k.to_string(),
            None if n.tag_name().name() == "entry" => return Err("an <entry> needs a `key`".into()),
            None => n.tag_name().name().to_string(),
        };
        if key.is_empty()
            || !key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("`{key}` cannot be an xl.cfg setting name"));
        }
        let value = write_value(n, &key, true)?;
        if let Some(old) = seen.get(&key) {
            if *old != value {
                return Err(format!(
                    "the setting `{key}` is written twice, as {old} and {value}"
                ));
            }
            continue;
        }
        out.push_str(&key);
        out.push_str(" = ");
        out.push_str(&value);
        out.push('\n');
        seen.insert(key, value);
    }
    Ok(out)
}

fn write_value(n: crate::tree::Node, key: &str, top: bool) -> Result<String, String> {
    let list = n.attribute("list") == Some("true")
        || (!top && n.tag_name().name() == "list")
        || n.children().any(|c| c.is_element());
    if !list {
        let text: String = n
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect();
        return quote(&text);
    }
    if top
        && n.children()
            .any(|c| c.is_text() && c.text().is_some_and(|t| !t.trim().is_empty()))
    {
        return Err(format!("the setting `{key}` has both text and list items"));
    }
    let mut items = Vec::new();
    for c in n.children().filter(|c| c.is_element()) {
        items.push(match c.tag_name().name() {
            "item" => write_value(c, key, false)?,
            "list" => write_value(c, key, false)?,
            "spec" => {
                let mut params = Vec::new();
                for p in c.children().filter(|p| p.is_element()) {
                    let value: String = p
                        .children()
                        .filter(|t| t.is_text())
                        .filter_map(|t| t.text())
                        .collect();
                    let name = match p.tag_name().name() {
                        "arg" => None,
                        "entry" => Some(
                            p.attribute("key")
                                .ok_or("an <entry> in a spec needs a `key`")?
                                .to_string(),
                        ),
                        other => Some(other.to_string()),
                    };
                    params.push(Param { name, value });
                }
                quote(&xl_spec::format(key, &params)?)?
            }
            other => {
                return Err(format!(
                    "<{other}> in the list `{key}`: list items are <item>, <spec> or <list>"
                ))
            }
        });
    }
    if items.is_empty() {
        Ok("[]".into())
    } else {
        Ok(format!("[ {} ]", items.join(", ")))
    }
}

/// A value as xl writes it: integers bare, other text double-quoted.
pub(crate) fn quote(s: &str) -> Result<String, String> {
    let bare = (s == "0" || (s.starts_with(|c: char| ('1'..='9').contains(&c))))
        && s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 2 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if bare {
        return Ok(s.to_string());
    }
    // The bytes written as they are: all but ASCII controls, DEL, `"`, `\\`
    // and 0xC2, which leads U+0080-U+009F, the C1 controls (and others).
    static PLAIN: [bool; 256] = {
        let mut t = [true; 256];
        let mut b = 0;
        while b < 0x20 {
            t[b] = false;
            b += 1;
        }
        t[b'"' as usize] = false;
        t[b'\\' as usize] = false;
        t[0x7F] = false;
        t[0xC2] = false;
        t
    };
    let b = s.as_bytes();
    let run = |i: usize| plain_run_end(b, i, &PLAIN);
    let mut q = String::with_capacity(s.len() + s.len() / 16 + 2);
    q.push('"');
    // Runs of characters written as they are are copied whole; what needs
    // an escape is ASCII, or a C1 control (0xC2 and a byte below 0xA0).
    let mut start = 0;
    let mut i = run(0);
    while i < b.len() {
        let c = b[i];
        let (esc, len) = match c {
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'\n' => ("\\n", 1),
            b'\r' => ("\\r", 1),
            b'\t' => ("\\t", 1),
            0x07 => ("\\a", 1),
            0x08 => ("\\b", 1),
            0x0B => ("\\v", 1),
            0x0C => ("\\f", 1),
            0x00..=0x1F | 0x7F => ("", 1),
            0xC2 if matches!(b.get(i + 1), Some(0x80..=0x9F)) => ("", 2),
            _ => {
                i = run(i + 1);
                continue;
            }
        };
        q.push_str(&s[start..i]);
        if esc.is_empty() {
            // Other control characters as `\xHH`, which xl reads back.
            let code = if len == 2 { b[i + 1] } else { c };
            q.push_str(&format!("\\x{code:02x}"));
        } else {
            q.push_str(esc);
        }
        i += len;
        start = i;
        i = run(i);
    }
    q.push_str(&s[start..]);
    q.push('"');
    Ok(q)
}

/// Settings whose presence says a text is an xl.cfg file.
const KNOWN: &[&str] = &[
    "name",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "type",
    "builder",
    "kernel",
    "ramdisk",
    "bootloader",
    "disk",
    "vif",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "uuid",
    "cpus",
    "vnc",
    "sdl",
    "serial",
    "extra",
    "root",
    "boot",
];

/// Does this text look like an xl.cfg file? Returns how many settings only
/// xl.cfg files have, and the evidence.
pub fn sniff(text: &str) -> Option<(usize, String)> {
    let settings = parse(text).ok()?;
    let known: Vec<&str> = settings
        .iter()
        .filter(|s| KNOWN.contains(&s.key.as_str()))
        .map(|s| s.key.as_str())
        .collect();
    (!known.is_empty()).then(|| {
        let shown: Vec<&str> = known.iter().take(3).copied().collect();
        (
            known.len(),
            format!("content: xl.cfg settings {}", shown.join(", ")),
        )
    })
}

/// Whether two values of `key` say the same: a device spec string (a
/// disk's, a NIC's) is the same with its parameters positional or named,
/// in any order and with or without spaces (`'/dev/vg0/os,raw,xvda,rw'`,
/// as people write it, against `"format=raw,vdev=xvda,access=rw,
/// target=/dev/vg0/os"`, as hvxform does).
fn same_value(key: &str, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Atom(x), Value::Atom(y)) => {
            x == y || (SPEC_KEYS.contains(&key) && same_spec(key, x, y))
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(key, a, b))
        }
        _ => false,
    }
}

/// A list setting as it was written in the original (`block`, its lines),
/// with each item whose value changed replaced by the item as written
/// (`line`): its other items, quotes, spaces and line breaks as they were.
/// None when the lists are not of as many items or an item cannot be
/// found in the text.
fn relist(key: &str, block: &str, old: &Value, line: &str, new: &Value) -> Option<String> {
    let (Value::List(a), Value::List(b)) = (old, new) else {
        return None;
    };
    let (sa, sb) = (item_spans(block)?, item_spans(line)?);
    if a.len() != b.len() || sa.len() != a.len() || sb.len() != b.len() {
        return None;
    }
    let mut text = String::with_capacity(block.len());
    let mut at = 0;
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        if !matches!((x, y), (Value::Atom(_), Value::Atom(_))) {
            return None;
        }
        if !same_value(key, x, y) {
            text.push_str(&block[at..sa[k].0]);
            text.push_str(&line[sb[k].0..sb[k].1]);
            at = sa[k].1;
        }
    }
    text.push_str(&block[at..]);
    Some(text)
}

/// The byte spans of the items of the one flat list in `text` (`key = [
/// 'a', "b",\n c ]`): quoted strings with their quotes, or bare words.
/// None for nested lists or text the scan does not follow.
fn item_spans(text: &str) -> Option<Vec<(usize, usize)>> {
    let b = text.as_bytes();
    let mut i = text.find('=')? + 1;
    while i < b.len() && b[i] != b'[' {
        if !b[i].is_ascii_whitespace() {
            return None;
        }
        i += 1;
    }
    i += 1;
    let mut spans = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        match b.get(i)? {
            b']' => return Some(spans),
            b'#' => i += text[i..].find('\n')?,
            b'[' => return None,
            &q @ (b'\'' | b'"') => {
                let start = i;
                i += 1;
                while *b.get(i)? != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                spans.push((start, i));
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !(b[i].is_ascii_whitespace() || matches!(b[i], b',' | b']' | b'#'))
                {
                    i += 1;
                }
                spans.push((start, i));
            }
        }
    }
}

/// Whether two device specs of `key` have the same parameters.
fn same_spec(key: &str, x: &str, y: &str) -> bool {
    let sorted = |s: &str| {
        xl_spec::parse(key, s).ok().map(|mut p| {
            p.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
            p
        })
    };
    matches!((sorted(x), sorted(y)), (Some(p), Some(q)) if p == q)
}

/// An xl.cfg hvxform wrote (`written`) for a VM that came home changed,
/// laid out as its original (`original`, the file it left as): each
/// setting where the original has it, a setting whose value did not change
/// exactly as it was written there (its spacing, quotes and lines), the
/// original's comments and blank lines kept, settings the original does
/// not have after it in the order written, and settings no longer written
/// gone. So the file differs from the one the VM left as only where the VM
/// changed. Either text failing to parse, a setting given twice or
/// appended to (`+=`), or two on one line, leaves `written` as it is.
pub fn rebase(original: &str, written: &str) -> String {
    let (Ok(old), Ok(new)) = (parse(original), parse(written)) else {
        return written.to_string();
    };
    let simple = |s: &[Setting]| {
        let mut keys = std::collections::HashSet::new();
        s.iter().all(|x| !x.append && keys.insert(x.key.as_str()))
            && s.windows(2).all(|w| w[0].end_line < w[1].line)
    };
    if !simple(&old) || !simple(&new) {
        return written.to_string();
    }
    let by_key: HashMap<&str, usize> = new
        .iter()
        .enumerate()
        .map(|(i, x)| (x.key.as_str(), i))
        .collect();
    let lines: Vec<&str> = super::text::split_lf(original).collect();
    let written_lines: Vec<&str> = super::text::split_lf(written).collect();
    // The written lines of a setting.
    let written_of =
        |x: &Setting| written_lines[x.line - 1..x.end_line.min(written_lines.len())].join("\n");
    let crlf = original.contains("\r\n");
    let mut used = vec![false; new.len()];
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 4);
    let mut next = old.iter().peekable();
    let mut n = 1;
    while n <= lines.len() {
        match next.peek() {
            Some(x) if x.line == n => {
                let end = x.end_line.min(lines.len());
                if let Some(&i) = by_key.get(x.key.as_str()) {
                    used[i] = true;
                    if same_value(&x.key, &new[i].value, &x.value) {
                        out.extend(lines[n - 1..end].iter().map(|l| l.to_string()));
                    } else if let Some(block) = relist(
                        &x.key,
                        &lines[n - 1..end].join("\n"),
                        &x.value,
                        &written_of(&new[i]),
                        &new[i].value,
                    ) {
                        // A list of as many items: only the changed ones.
                        out.extend(block.split('\n').map(str::to_string));
                    } else {
                        let cr = if crlf { "\r" } else { "" };
                        out.extend(written_of(&new[i]).split('\n').map(|l| format!("{l}{cr}")));
                    }
                }
                n = end + 1;
                next.next();
            }
            _ => {
                // A comment, a blank line, or what ends one.
                out.push(lines[n - 1].to_string());
                n += 1;
            }
        }
    }
    let ends_open = out.last().is_some_and(|l| l.is_empty());
    if ends_open {
        out.pop();
    }
    for (i, x) in new.iter().enumerate() {
        if !used[i] {
            let cr = if crlf { "\r" } else { "" };
            out.extend(written_of(x).split('\n').map(|l| format!("{l}{cr}")));
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

    /// An xl.cfg written anew for a VM that came home changed keeps the
    /// layout of the file it left as: comments, order, a list over several
    /// lines whose items are the same but for spaces after commas; only a
    /// changed setting is written as hvxform writes it, a removed one goes
    /// and a new one comes last.
    #[test]
    fn a_rewritten_xl_cfg_keeps_the_layout_it_left_with() {
        let original = "# web\nname = 'web'\nmemory = 2048 # MiB\ndisk = [ 'format=raw, vdev=xvda',\n         'vdev=xvdb, target=/b' ]\n\n# gone\non_crash = 'restart'\n";
        let written = "name = \"web\"\ndisk = [ \"format=raw,vdev=xvda\", \"vdev=xvdb,target=/b\" ]\nmemory = 4096\nvcpus = 2\n";
        assert_eq!(
            rebase(original, written),
            "# web\nname = 'web'\nmemory = 4096\ndisk = [ 'format=raw, vdev=xvda',\n         'vdev=xvdb, target=/b' ]\n\n# gone\nvcpus = 2\n"
        );
        // A list of another length is written whole; of as many items,
        // only the changed item is the written one.
        assert_eq!(
            rebase("disk = [ 'a',\n  'b' ]\nx = 1", "disk = [ \"a\" ]\nx = 1\n"),
            "disk = [ \"a\" ]\nx = 1"
        );
        assert_eq!(
            rebase(
                "vif = [ 'mac=1, bridge=br0', # first\n        'mac=2,rate=9\\'x' ]\n",
                "vif = [ \"mac=1,bridge=br0\", \"mac=3,rate=9'x\" ]\n"
            ),
            "vif = [ 'mac=1, bridge=br0', # first\n        \"mac=3,rate=9'x\" ]\n"
        );
        // Appended to, two on a line, or not xl.cfg: as written.
        for original in ["a = 1\na += 2\n", "a = 1; b = 2\n", "a = [\n"] {
            assert_eq!(rebase(original, "a = 3\n"), "a = 3\n", "{original}");
        }
    }

    /// Found by fuzzing: a value with a control character xl writes no
    /// named escape for (DEL) was read, and the writer refused it. It is
    /// written as `\xHH`, which reads back to the same value.
    #[test]
    fn quoted_values_read_back_as_they_were() {
        // Every character below U+0100 and a few above, alone and inside a
        // plain value (the fast path takes only values without any).
        let mut cases: Vec<String> = (1u32..0x100)
            .filter_map(char::from_u32)
            // What the canonical form (XML) can hold.
            .filter(|c| *c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
            .map(|c| format!("plain {c} text"))
            .collect();
        cases.extend(["plain", "a\u{e9}b", "\u{2028}", "xvda,target=/x"].map(String::from));
        for v in &cases {
            let q = quote(v).unwrap();
            let xml = read(&format!("name = {q}\n")).unwrap();
            let doc = crate::tree::Document::parse(&xml).unwrap();
            let name = doc
                .root_element()
                .unwrap()
                .children()
                .find(|n| n.is_element())
                .unwrap();
            assert_eq!(name.text().unwrap_or(""), v, "{q}");
        }
    }

    #[test]
    fn control_characters_are_written_as_hex_escapes() {
        let xml = read("name = \"a\x7fb\\x85c\"\n").unwrap();
        let text = write(&xml).unwrap();
        assert!(text.contains(r#"name = "a\x7fb\x85c""#), "{text}");
        assert_eq!(read(&text).unwrap(), xml);
    }

    #[test]
    fn settings_lists_and_specs() {
        let xml = read(
            "# c\nname = \"web\"; memory = 512\nvif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0',\n  '' , ]\nserial = [ 'pty' ]\nvnuma = [ [ \"pnode=0\" ], [] ]\nx = []\n",
        )
        .unwrap();
        assert!(xml.contains("<name>web</name>"), "{xml}");
        assert!(xml.contains("<mac>00:16:3e:00:00:01</mac>"), "{xml}");
        assert!(xml.contains("<spec/>"), "{xml}");
        assert!(xml.contains("<item>pty</item>"), "{xml}");
        assert!(xml.contains(r#"<x list="true"/>"#), "{xml}");
        let back = write(&xml).unwrap();
        assert_eq!(
            back,
            "name = \"web\"\nmemory = 512\nvif = [ \"mac=00:16:3e:00:00:01,bridge=xenbr0\", \"\" ]\nserial = [ \"pty\" ]\nvnuma = [ [ \"pnode=0\" ], [] ]\nx = []\n"
        );
        assert_eq!(read(&back).unwrap(), xml);
    }

    #[test]
    fn a_control_character_is_refused_where_it_is() {
        let e = read("memory = 1\nname = \"we\u{1}b\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 11), "{}", e.message);
        assert!(e.message.contains("U+0001"), "{}", e.message);
        assert_eq!(
            read_tree("memory = 1\nname = \"we\u{1}b\"\n")
                .unwrap_err()
                .col,
            11
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = read("name = \"a\nmemory = 1\n").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (1, 8, "unterminated string")
        );
        let e = read("name = \"a\"\nname = \"b\"\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        let e = read("disk = [ 'a',\n 'b'\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 8));
        let e = read("memory = 1.5\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 11));
        let e = read("builder = hvm\n").unwrap_err();
        assert!(e.message.contains("quote"), "{}", e.message);
        // Deep nesting is refused at the list too deep, not by the stack.
        let deep = format!(
            "name = \"x\"\ndisk = {}{}\n",
            "[".repeat(25_000),
            "]".repeat(25_000)
        );
        let e = read(&deep).unwrap_err();
        assert_eq!((e.line, e.col), (2, 72), "{}", e.message);
        assert!(e.message.contains("nested deeper than 64"), "{}", e.message);
        let ok = format!(
            "name = \"x\"\ndisk = {}{}\n",
            "[".repeat(64),
            "]".repeat(64)
        );
        assert!(read(&ok).is_ok());
    }

    #[test]
    fn append_and_escapes() {
        let xml = read("extra = 'a'\nextra += \" b\\t\\x41\"\n").unwrap();
        assert!(xml.contains("<extra>a b\tA</extra>"), "{xml}");
        assert_eq!(write(&xml).unwrap(), "extra = \"a b\\tA\"\n");
    }
}
