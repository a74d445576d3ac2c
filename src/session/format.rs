//! The session store file, format version 1: YAML that people can read and
//! edit. [`parse`] checks everything a store must satisfy and reports every
//! problem with its line and column; [`write`](fn@write) lays a store out canonically.
//!
//! ```yaml
//! version: 1
//! tables:
//!   networks:            # a table, by the name mappings declare it under
//!     left: string       # side types: string, int, uint, uuid, mac
//!     right: string
//!     entries:           # [left, right] pairs, oldest first
//!       - [default, VM Network]
//! ```
//!
//! Values are normalised by their side's type when loaded (`52-54-00-AB-..`
//! and `52:54:00:ab:..` are one MAC) and written normalised. Each table is a
//! bijection: a left or right value that appears twice is an error naming
//! both entries.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

use super::locate::{locate, Seg};
use super::{is_table_name, normalised, type_by_name, TableData, Tables};
use crate::syntax::ast::SessionType;

/// The format version this build reads and writes.
pub const VERSION: u64 = 1;

/// At most this many problems are located and reported (each location costs
/// a parse of the file); the rest are counted.
const MAX_PROBLEMS: usize = 20;

/// Something wrong in a store's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((l, c)) => write!(f, "{l}:{c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    version: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore<'a> {
    version: serde_yaml::Value,
    tables: Option<RawTables<'a>>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawTable<'a> {
    left: String,
    right: String,
    /// Borrowed from the text when read line by line; the YAML parser's
    /// are owned.
    entries: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
}

/// Tables in file order, duplicates kept (so they can be reported).
#[derive(Default, Debug, PartialEq)]
struct RawTables<'a>(Vec<(String, RawTable<'a>)>);

/// The tables of a store laid out as [`write`](fn@write) lays it out, read
/// line by line: a thousand pairs in a fraction of what the YAML parser
/// takes (which is most of a one-document conversion's time). `None` for
/// anything else (quoted or unusual values, comments after values, other
/// layouts), which the YAML parser then reads. A test checks that
/// both read the same tables from every text this accepts.
fn canonical(text: &str) -> Option<RawTables<'_>> {
    // A carriage return alone ends a line for YAML but not for `lines()`:
    // the YAML parser reads such a file (`# note\r  t:` holds a table).
    let mut at = 0;
    while let Some(i) = text[at..].find('\r') {
        at += i + 1;
        if !text[at..].starts_with('\n') {
            return None;
        }
    }
    // A value that reads the same as a plain scalar to any YAML parser.
    fn value(v: &str) -> Option<Cow<'_, str>> {
        const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
        // The bytes of such a value: ASCII letters and digits, `_./+-`.
        static PLAIN: [bool; 256] = {
            let mut t = [false; 256];
            let mut c = 0;
            while c < 256 {
                let b = c as u8;
                t[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'+' | b'-');
                c += 1;
            }
            t
        };
        let first = *v.as_bytes().first()?;
        let ok = (first.is_ascii_alphanumeric() || first == b'/' || first == b'_')
            && v.bytes().all(|c| PLAIN[usize::from(c)])
            && (v.len() > 5 || !WORDS.iter().any(|w| w.eq_ignore_ascii_case(v)));
        ok.then_some(Cow::Borrowed(v))
    }
    // A store is a thousand short lines (`text::lines`: found with memchr).
    let mut lines = crate::platform::text::lines(text)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    if lines.next()? != "version: 1" {
        return None;
    }
    let mut tables = Vec::new();
    match lines.next()? {
        "tables: {}" => return lines.next().is_none().then_some(RawTables(tables)),
        "tables:" => {}
        _ => return None,
    }
    while let Some(l) = lines.next() {
        let name = l.strip_prefix("  ")?.strip_suffix(':')?;
        if !super::is_table_name(name) {
            return None;
        }
        let side = |l: Option<&str>, key: &str| -> Option<String> {
            let v = l?
                .strip_prefix("    ")?
                .strip_prefix(key)?
                .strip_prefix(": ")?;
            v.chars()
                .all(|c| c.is_ascii_lowercase())
                .then(|| v.to_string())
        };
        let left = side(lines.next(), "left")?;
        let right = side(lines.next(), "right")?;
        let entries = match lines.next()? {
            "    entries: []" => Some(Vec::new()),
            "    entries:" => {
                let mut v = Vec::new();
                while let Some(e) = lines.peek().and_then(|l| l.strip_prefix("      - [")) {
                    // No value holds a comma: the first one ends the left.
                    let e = e.strip_suffix(']')?;
                    let comma = e.bytes().position(|c| c == b',')?;
                    let (a, b) = (&e[..comma], e[comma + 1..].strip_prefix(' ')?);
                    v.push((value(a)?, value(b)?));
                    lines.next();
                }
                (!v.is_empty()).then_some(v)
            }
            _ => return None,
        };
        tables.push((
            name.to_string(),
            RawTable {
                left,
                right,
                entries,
            },
        ));
    }
    Some(RawTables(tables))
}

impl<'de, 'a> Deserialize<'de> for RawTables<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<RawTables<'a>>);
        impl<'de, 'a> Visitor<'de> for V<'a> {
            type Value = RawTables<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping from table names to tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawTables<'a>, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(RawTables(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The line of the second `key:` of the block mapping whose first key is at
/// `line`, `col` (1-based), if there is one.
fn second_key(text: &str, line: usize, col: usize, key: &str) -> Option<usize> {
    let mut seen = 0;
    for (n, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let indent = l.len() - l.trim_start_matches(' ').len();
        let body = l.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if indent + 1 < col && n + 1 > line {
            return None;
        }
        if indent + 1 == col
            && body
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            seen += 1;
            if seen == 2 {
                return Some(n + 1);
            }
        }
    }
    None
}

/// A serde_yaml error as a problem: its position, and its message without
/// the position serde_yaml appends.
fn yaml_problem(e: &serde_yaml::Error, text: &str) -> Problem {
    let mut message = e.to_string();
    let mut at = e.location().map(|l| (l.line(), l.column()));
    // serde_yaml places a duplicate field at its mapping: at the field
    // given again instead.
    if let (Some(field), Some((l, c))) = (
        message
            .split_once("duplicate field `")
            .and_then(|(_, r)| r.split_once('`'))
            .map(|(f, _)| f.to_string()),
        at,
    ) {
        at = Some(second_key(text, l, c, &field).map_or((l, c), |line| (line, c)));
    }
    // Not a mapping at all (another file given as the store): what it is,
    // not the file's text and a Rust type's name.
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if message.contains("expected struct") {
            let kind = rest.split([' ', ',']).next().unwrap_or("something else");
            return Problem {
                at: Some(at.unwrap_or((1, 1))),
                message: format!(
                    "not a session store: the file is a YAML {kind}, where a store is a mapping with `version: {VERSION}` and `tables` (is this the right file?)"
                ),
            };
        }
    }
    if message.contains("more than one document") {
        return Problem {
            at: Some(at.unwrap_or((1, 1))),
            message:
                "not a session store: the file holds several YAML documents (`---`); a store is one"
                    .into(),
        };
    }
    if let Some((l, c)) = e.location().map(|l| (l.line(), l.column())) {
        let suffix = format!(" at line {l} column {c}");
        if let Some(i) = message.find(&suffix) {
            message.replace_range(i..i + suffix.len(), "");
        }
    }
    // Other positions in the message (libyaml's context) as line:col too.
    while let Some(i) = message.find(" at line ") {
        let rest = &message[i + 9..];
        let Some((line, tail)) = rest.split_once(" column ") else {
            break;
        };
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        if line.parse::<usize>().is_err() || digits == 0 {
            break;
        }
        let (col, tail) = tail.split_at(digits);
        message = format!("{} at {line}:{col}{tail}", &message[..i]);
    }
    Problem { at, message }
}

/// Does the text hold no YAML document (only whitespace and comments)?
fn is_blank(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// Flow collections (`[`, `{`) nest at most this deep: serde_yaml refuses
/// deeper ones anyway, but only after libyaml's scanner, whose time grows
/// with the square of the depth (40,000 levels: 20 s).
const MAX_FLOW_DEPTH: usize = 128;

/// The position of the first flow collection nested deeper than
/// [`MAX_FLOW_DEPTH`], found in one pass (quoted scalars and comments are
/// skipped).
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            (line, col, comment) = (line + 1, 0, false);
            prev = c;
            continue;
        }
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
                col += 1;
            }
            Some(q) if c == q => {
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                    col += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None if comment => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((line, col));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// Parses and checks a store. A blank text is an empty store.
pub fn parse(text: &str) -> Result<Tables, Vec<Problem>> {
    // A byte-order mark (editors on Windows write one) is no content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if is_blank(text) {
        return Ok(Tables::default());
    }
    // The layout hvxform writes, without the YAML parser (its lines nest
    // three levels at most: no depth to check).
    if let Some(raw) = canonical(text) {
        return check(text, raw);
    }
    if let Some(at) = too_deep(text) {
        return Err(vec![Problem {
            at: Some(at),
            message: format!(
                "collections nested deeper than {MAX_FLOW_DEPTH} levels; refusing the file"
            ),
        }]);
    }
    // One parse when all is well. On failure, the version is looked at
    // first, so a store from a newer hvxform is reported as such and not as
    // a list of unknown fields.
    let raw: Result<RawStore, _> = serde_yaml::from_str(text);
    let header: Header = match &raw {
        Ok(r) => Header {
            version: Some(r.version.clone()),
        },
        Err(e) => serde_yaml::from_str(text).map_err(|_| vec![yaml_problem(e, text)])?,
    };
    match header.version {
        None => {
            return Err(vec![Problem {
                at: Some((1, 1)),
                message: format!("not a session store: no `version: {VERSION}`"),
            }])
        }
        Some(serde_yaml::Value::Number(n)) if n.as_u64() == Some(VERSION) => {}
        Some(v) => {
            let shown = match &v {
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::String(s) if s.trim() == VERSION.to_string() => {
                    format!("{s:?} (a string: write it without quotes, `version: {VERSION}`)")
                }
                serde_yaml::Value::String(s) => format!("{s:?}"),
                _ => "not a number".into(),
            };
            return Err(vec![Problem {
                at: locate(text, &[Seg::Key("version")]),
                message: format!(
                    "unsupported session store version {shown}: this hvxform reads version {VERSION}"
                ),
            }]);
        }
    }
    let raw = raw.map_err(|e| vec![yaml_problem(&e, text)])?;
    check(text, raw.tables.unwrap_or_default())
}

/// Builds the tables, collecting every problem.
fn check(text: &str, raw: RawTables<'_>) -> Result<Tables, Vec<Problem>> {
    let mut problems: Vec<(Vec<Seg>, String, Vec<Vec<Seg>>)> = Vec::new();
    let mut tables = Tables::default();
    let mut first_at: std::collections::HashMap<&str, usize> = Default::default();
    let entry = |ti: usize, k: usize| {
        vec![
            Seg::Key("tables"),
            Seg::NthValue(ti),
            Seg::Key("entries"),
            Seg::Index(k),
        ]
    };
    for (ti, (name, t)) in raw.0.iter().enumerate() {
        let table_path = vec![Seg::Key("tables"), Seg::NthKey(ti)];
        if let Some(&prev) = first_at.get(name.as_str()) {
            problems.push((
                table_path,
                format!("table `{name}` is defined twice (first at {{0}})"),
                vec![vec![Seg::Key("tables"), Seg::NthKey(prev)]],
            ));
            continue;
        }
        first_at.insert(name, ti);
        if !is_table_name(name) {
            problems.push((
                table_path.clone(),
                format!("table name `{name}` is not a name a mapping can declare (letters, digits and `_`, not starting with a digit, and not a keyword: true, false, and, or, div, mod)"),
                vec![],
            ));
        }
        let side = |key: &'static str, ty: &str, problems: &mut Vec<_>| {
            let t = type_by_name(ty);
            if t.is_none() {
                problems.push((
                    vec![Seg::Key("tables"), Seg::NthValue(ti), Seg::Key(key)],
                    format!("table `{name}`: unknown {key} type `{ty}` (expected string, int, uint, uuid or mac)"),
                    vec![],
                ));
            }
            t
        };
        let (Some(lt), Some(rt)) = (
            side("left", &t.left, &mut problems),
            side("right", &t.right, &mut problems),
        ) else {
            continue;
        };
        let entries = t.entries.as_deref().unwrap_or_default();
        // Room for what a run mints: the first new pair of a full list
        // would copy all of it (half a millisecond for 100,000 pairs).
        let mut data = TableData::with_capacity(lt, rt, entries.len() + entries.len() / 8 + 16);
        // The entry of each pair of `data`, by its place there.
        let mut from = Vec::with_capacity(entries.len());
        for (k, (l, r)) in entries.iter().enumerate() {
            let (nl, nr) = (normalised(lt, l), normalised(rt, r));
            for (i, what, n) in [(0, "left", &nl), (1, "right", &nr)] {
                if let Err(e) = n {
                    let mut p = entry(ti, k);
                    p.push(Seg::Index(i));
                    problems.push((p, format!("table `{name}`: {what} value: {e}"), vec![]));
                }
            }
            let (Ok(nl), Ok(nr)) = (nl, nr) else {
                continue;
            };
            // Both values free (every pair of a good store): no more to do.
            if let Ok(true) = data.insert(nl.to_string(), nr.to_string()) {
                from.push(k);
                continue;
            }
            // The entries that hold the values already taken (pairs before
            // that were refused hold no place in the table).
            let dl = data.position(false, &nl).map(|i| from[i]);
            let dr = data.position(true, &nr).map(|i| from[i]);
            let shown = |i: usize| {
                let (a, b) = &entries[i];
                format!("[{}, {}]", scalar(a, lt), scalar(b, rt))
            };
            match (dl, dr) {
                (None, None) => unreachable!("a pair of free values is inserted"),
                (Some(i), Some(j)) if i == j => problems.push((
                    entry(ti, k),
                    format!(
                        "table `{name}` lists the pair {} twice: at {{0}} and here",
                        shown(k)
                    ),
                    vec![entry(ti, i)],
                )),
                (Some(i), _) => problems.push((
                    entry(ti, k),
                    format!(
                        "table `{name}` pairs the left value `{nl}` twice: {} at {{0}} and {} here (a session table is one to one)",
                        shown(i),
                        shown(k)
                    ),
                    vec![entry(ti, i)],
                )),
                (None, Some(j)) => problems.push((
                    entry(ti, k),
                    format!(
                        "table `{name}` pairs the right value `{nr}` twice: {} at {{0}} and {} here (a session table is one to one)",
                        shown(j),
                        shown(k)
                    ),
                    vec![entry(ti, j)],
                )),
            }
        }
        tables.insert_loaded(name.clone(), data);
    }
    if problems.is_empty() {
        return Ok(tables);
    }
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    let mut out: Vec<Problem> = problems
        .into_iter()
        .take(MAX_PROBLEMS)
        .map(|(path, msg, others)| {
            let mut message = msg;
            for (i, o) in others.iter().enumerate() {
                let at = locate(text, o)
                    .map(|(l, c)| format!("{l}:{c}"))
                    .unwrap_or_else(|| "?".into());
                message = message.replace(&format!("{{{i}}}"), &at);
            }
            Problem {
                at: locate(text, &path),
                message,
            }
        })
        .collect();
    if more > 0 {
        out.push(Problem {
            at: None,
            message: format!("... and {more} more problem(s)"),
        });
    }
    Err(out)
}

/// The store as YAML, canonically laid out: tables by name, entries oldest
/// first, one `[left, right]` per line.
pub fn write(t: &Tables) -> String {
    let mut s = String::with_capacity(64 + t.entry_count() * 48);
    s.push_str(
        "# hvxform session store (see the book chapter \"Session tables\").\n\
         # Edit with `hvxform session set/rm` or by hand; hvxform rewrites this\n\
         # file without comments.\n",
    );
    s.push_str(&format!("version: {VERSION}\n"));
    if t.is_empty() {
        s.push_str("tables: {}\n");
        return s;
    }
    s.push_str("tables:\n");
    for (name, table) in t.iter() {
        s.push_str("  ");
        s.push_str(&scalar(name, SessionType::String));
        s.push_str(":\n    left: ");
        s.push_str(table.left.name());
        s.push_str("\n    right: ");
        s.push_str(table.right.name());
        if table.entries().is_empty() {
            s.push_str("\n    entries: []\n");
            continue;
        }
        s.push_str("\n    entries:\n");
        for (l, r) in table.entries() {
            s.push_str("      - [");
            scalar_into(&mut s, l, table.left);
            s.push_str(", ");
            scalar_into(&mut s, r, table.right);
            s.push_str("]\n");
        }
    }
    s
}

/// A value as a YAML scalar that is safe inside a flow sequence and reads
/// back as the same string with any YAML parser: plain when unambiguous,
/// else single-quoted, or double-quoted with escapes when it holds control
/// characters.
pub fn scalar(v: &str, ty: SessionType) -> String {
    if plain_ok(v, ty) {
        return v.to_string();
    }
    quoted(v)
}

/// [`scalar`] appended to `out` (a plain one without a copy of its own).
fn scalar_into(out: &mut String, v: &str, ty: SessionType) {
    if plain_ok(v, ty) {
        out.push_str(v);
    } else {
        out.push_str(&quoted(v));
    }
}

/// `v` quoted: single quotes, or double quotes with escapes when it holds
/// control characters.
fn quoted(v: &str) -> String {
    if v.chars().any(needs_escape) {
        let mut s = String::with_capacity(v.len() + 2);
        s.push('"');
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if needs_escape(c) => s.push_str(&format!("\\u{:04X}", c as u32)),
                c => s.push(c),
            }
        }
        s.push('"');
        return s;
    }
    format!("'{}'", v.replace('\'', "''"))
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn plain_ok(v: &str, ty: SessionType) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    // Normalised integers and UUIDs cannot be mistaken for anything else
    // that would change their text.
    match ty {
        SessionType::Int | SessionType::Uint => {
            return v
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit())
                && v.len() < 19
        }
        // The normalised form: 8-4-4-4-12 lower-case hex digits.
        SessionType::Uuid => return crate::convert::is_canonical_uuid(v),
        _ => {}
    }
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _./@+-".contains(c))
        && !v.ends_with(' ')
        && !WORDS.contains(&v.to_ascii_lowercase().as_str())
}

/// Tables as JSON: `{"version": 1, "tables": {NAME: {"left", "right",
/// "entries": [[L, R], ...]}}}` (`session show --format json`, the
/// server's `GET /v1/sessions`).
pub fn to_json<'a>(tables: impl Iterator<Item = (&'a str, &'a TableData)>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (name, t) in tables {
        out.insert(
            name.to_string(),
            serde_json::json!({
                "left": t.left.name(),
                "right": t.right.name(),
                "entries": t.entries(),
            }),
        );
    }
    serde_json::json!({"version": VERSION, "tables": out})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field given twice is reported where it is given again (serde_yaml
    /// places it at the start of its mapping), comments and other fields
    /// between them or not.
    #[test]
    fn a_duplicate_field_is_placed_at_its_second_occurrence() {
        for (text, line) in [
            ("version: 1\ntables:\n  vms:\n    left: string\n    left: uuid\n    right: uuid\n    entries: []\n", 5),
            ("version: 1\ntables:\n  vms:\n    left: string\n    right: uuid\n    # note\n    entries: []\n    right: uuid\n", 8),
        ] {
            let p = parse(text).unwrap_err();
            assert_eq!(p[0].at, Some((line, 5)), "{}", p[0].message);
            assert!(p[0].message.contains("duplicate field"), "{}", p[0].message);
            assert!(!p[0].message.contains(" at "), "{}", p[0].message);
        }
        assert_eq!(second_key("a:\n  x: 1\nb:\n  x: 2\n", 2, 3, "x"), None);
    }

    /// Every text the line reader accepts reads the same with the YAML
    /// parser; the texts it must leave to the YAML parser are left.
    #[test]
    fn the_line_reader_agrees_with_the_yaml_parser() {
        let values = [
            "default",
            "VM Network",
            "1",
            "0x10",
            "1e5",
            "1_000",
            "010",
            "a.b",
            "/var/lib",
            "_x",
            "x-y+z@w",
            "52:54:00:ab:cd:ef",
            "ab#c",
            "yes",
            "Null",
            "~",
            "-1",
            "a,b",
            "6f1c2a9e-3b7d-4c8e-9a51-2d4e8f0b7c13",
            "'q'",
            "[a]",
            "é",
        ];
        let mut accepted = 0;
        for a in values {
            for b in values {
                let text = format!(
                    "# c\nversion: 1\ntables:\n  t:\n    left: string\n    right: string\n    entries:\n      - [{a}, {b}]\n      - [z, {a}]\n  u:\n    left: int\n    right: uuid\n    entries: []\n  w:\n    left: mac\n    right: string\n    entries:\n"
                );
                let yaml: Result<RawStore, _> = serde_yaml::from_str(&text);
                match canonical(&text) {
                    Some(fast) => {
                        accepted += 1;
                        let slow = yaml.unwrap_or_else(|e| panic!("{text}: {e}"));
                        assert_eq!(Some(fast), slow.tables, "{text}");
                    }
                    None => assert!(
                        !a.chars()
                            .chain(b.chars())
                            .all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c))
                            || ["yes", "Null", "-1"].contains(&a)
                            || ["yes", "Null", "-1"].contains(&b),
                        "{a} {b}: left to the YAML parser"
                    ),
                }
            }
        }
        assert!(accepted >= 100, "{accepted}");
        // What hvxform writes is read by lines, and reads back the same.
        let mut t = Tables::default();
        let data = t
            .table_mut("vm_ids", SessionType::Int, SessionType::Uuid)
            .unwrap();
        for i in 0..50u32 {
            data.insert(i.to_string(), uuid::Uuid::from_u128(i as u128).to_string())
                .unwrap();
        }
        let text = write(&t);
        assert!(canonical(&text).is_some());
        assert_eq!(write(&parse(&text).unwrap()), text);
        assert!(canonical("version: 1\ntables: {}\n").is_some_and(|r| r.0.is_empty()));
        // Windows line ends read as YAML reads them.
        assert!(canonical("version: 1\r\ntables: {}\r\n").is_some());
        // A lone carriage return ends a line for YAML: such a file is the
        // YAML parser's, which sees the table after it.
        let cr = "# note\rversion: 1\ntables: {}\n";
        assert!(canonical(cr).is_none());
        let hidden = "version: 1\ntables:\n  t:\n    left: string\n    right: string\n    entries:\n      - [a, b]\n# c\r      - [c, d]\n";
        assert!(canonical(hidden).is_none());
        let tables = parse(hidden).unwrap();
        let (_, t) = tables.iter().next().unwrap();
        assert_eq!(t.entries().len(), 2, "the YAML parser sees [c, d]");
        for other in [
            "version: 2\ntables: {}\n",
            "version: 1\ntables:\n  t:\n    right: string\n    left: string\n",
            "version: 1\ntables:\n  t:\n    left: string\n    right: string\n    entries:\n      - [a, b]  # note\n",
            "version: 1\ntables:\n  t:\n    left: string\n    right: string\n    entries:\n      - ['a', b]\n",
        ] {
            assert!(canonical(other).is_none(), "{other}");
        }
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn deep_flow_collections_are_refused_before_yaml_parses_them() {
        let deep = format!(
            "version: 1\na: {}{}\n",
            "[".repeat(40_000),
            "]".repeat(40_000)
        );
        // Refused by the one-pass scan (its message, at the 129th `[`),
        // before libyaml's scanner, whose time grows with the depth squared.
        let p = problems(&deep);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("2:132: collections nested deeper than 128"),
            "{p:?}"
        );
        // Brackets in quoted scalars and comments are not nesting.
        let quoted = format!(
            "version: 1\n# {}\nx: '{}'\ny: \"{}\\\"\"\n",
            "[".repeat(200),
            "[".repeat(200),
            "{".repeat(200)
        );
        assert!(too_deep(&quoted).is_none());
        assert!(too_deep(&format!("a: {}{}", "[".repeat(128), "]".repeat(128))).is_none());
    }

    #[test]
    fn round_trip_of_awkward_values() {
        let values = [
            "default",
            "VM Network",
            "a, b",
            "[x]",
            "yes",
            "No",
            "null",
            "~",
            "",
            " lead",
            "trail ",
            "it's",
            "say \"hi\"",
            "line\nbreak",
            "tab\there",
            "back\\slash",
            "#hash",
            "a #b",
            "key: value",
            "a:b",
            "- dash",
            "&anchor",
            "*alias",
            "!tag",
            "%",
            "@at",
            "`tick",
            "12",
            "0x1F",
            "1e3",
            ".inf",
            "2001-12-14",
            "12:30:00",
            "/var/lib/libvirt/images",
            "datastore{n}",
            "ünïcödé",
            "\u{2028}",
            "{a: 1}",
        ];
        let mut t = Tables::default();
        t.table_mut("s", SessionType::String, SessionType::String)
            .unwrap();
        for (i, v) in values.iter().enumerate() {
            t.set("s", v, &format!("r{i}")).unwrap();
        }
        t.table_mut("m", SessionType::Mac, SessionType::Int)
            .unwrap();
        t.set("m", "52:54:00:AB:CD:EF", "-7").unwrap();
        t.table_mut("u", SessionType::Uuid, SessionType::Uint)
            .unwrap();
        t.set("u", "{1C038C3F-EDE1-5A64-B4A8-C73E4C7E5A87}", "007")
            .unwrap();
        let text = write(&t);
        let back = parse(&text).unwrap_or_else(|p| panic!("{p:?}\n{text}"));
        for (name, table) in t.iter() {
            assert_eq!(back.get(name).unwrap().entries(), table.entries(), "{text}");
        }
        assert!(
            text.contains("- [52:54:00:ab:cd:ef, -7]")
                || text.contains("- ['52:54:00:ab:cd:ef', -7]"),
            "{text}"
        );
        assert!(
            text.contains("- [1c038c3f-ede1-5a64-b4a8-c73e4c7e5a87, 7]"),
            "{text}"
        );
        assert!(text.contains("- [VM Network, r1]"), "{text}");
        assert_eq!(write(&back), text);
    }

    #[test]
    fn the_documented_example_parses() {
        let t = parse(
            "version: 1\ntables:\n  networks:\n    left: string\n    right: string\n    entries:\n      - [default, VM Network]\n",
        )
        .unwrap();
        assert_eq!(
            t.get("networks").unwrap().get(false, "default"),
            Some("VM Network")
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing yet\n\n").unwrap().is_empty());
        assert!(parse("version: 1\n").unwrap().is_empty());
        assert!(parse("version: 1\ntables:\n").unwrap().is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_not_content() {
        let text = "\u{feff}version: 1\ntables:\n  networks:\n    left: string\n    right: string\n    entries:\n      - [default, VM Network]\n";
        let t = parse(text).expect("a store with a BOM");
        let networks = t.get("networks").expect("its table");
        assert_eq!(networks.get(false, "default"), Some("VM Network"));
        assert_eq!(t.len(), parse(&text[3..]).unwrap().len());
    }

    #[test]
    fn a_quoted_version_says_so() {
        assert_eq!(
            problems("version: \"1\"\ntables: {}\n"),
            vec!["1:10: unsupported session store version \"1\" (a string: write it without quotes, `version: 1`): this hvxform reads version 1"]
        );
    }

    #[test]
    fn problems_have_positions() {
        assert_eq!(
            problems("version: 1\ntables:\n  t: [unclosed\n"),
            problems("version: 1\ntables:\n  t: [unclosed\n")
        );
        let p = problems("version: 1\ntables:\n  t: [unclosed\n");
        assert!(p[0].starts_with("4:1:") || p[0].starts_with("3:"), "{p:?}");
        assert_eq!(
            problems("version: 2\ntables: {}\n"),
            vec!["1:10: unsupported session store version 2: this hvxform reads version 1"]
        );
        assert_eq!(
            problems("tables: {}\n"),
            vec!["1:1: not a session store: no `version: 1`"]
        );
        let dup = "version: 1\ntables:\n  n:\n    left: mac\n    right: string\n    entries:\n      - [52:54:00:AB:CD:EF, a]\n      - [b, c]\n      - [52-54-00-ab-cd-ef, d]\n";
        let p = problems(dup);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("8:10: table `n`: left value:"), "{p:?}");
        assert_eq!(p[1], "9:9: table `n` pairs the left value `52:54:00:ab:cd:ef` twice: ['52:54:00:AB:CD:EF', a] at 7:9 and ['52-54-00-ab-cd-ef', d] here (a session table is one to one)");
        let dup_r = "version: 1\ntables:\n  n:\n    left: string\n    right: string\n    entries:\n      - [a, x]\n      - [b, x]\n      - [a, x]\n";
        let p = problems(dup_r);
        assert!(
            p[0].starts_with("8:9: table `n` pairs the right value `x` twice: [a, x] at 7:9"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("9:9: table `n` lists the pair [a, x] twice: at 7:9"),
            "{p:?}"
        );
        // A pair refused before takes no place: the value taken is named
        // at its own entry (line 8), not at the refused one (line 7).
        let after_refused = "version: 1\ntables:\n  n:\n    left: int\n    right: string\n    entries:\n      - [x, a]\n      - [1, b]\n      - [1, c]\n";
        let p = problems(after_refused);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("7:10: table `n`: left value:"), "{p:?}");
        assert_eq!(p[1], "9:9: table `n` pairs the left value `1` twice: [1, b] at 8:9 and [1, c] here (a session table is one to one)");
        let bad = "version: 1\ntables:\n  n:\n    left: uuid\n    right: strng\n  n:\n    left: int\n    right: int\n  9x:\n    left: int\n    right: int\n    entries: [[1, 2, 3]]\n";
        let p = problems(bad);
        assert!(
            p[0].starts_with("12:15: ") && p[0].contains("invalid length 3"),
            "{p:?}"
        );
        let bad = "version: 1\ntables:\n  n:\n    left: uuid\n    right: strng\n  n:\n    left: int\n    right: int\n  9x:\n    left: int\n    right: int\n";
        let p = problems(bad);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[0].starts_with("5:12: table `n`: unknown right type `strng`"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("6:3: table `n` is defined twice (first at 3:3)"),
            "{p:?}"
        );
        assert!(p[2].starts_with("9:3: table name `9x`"), "{p:?}");
        let p = problems("version: 1\nextra: 2\n");
        assert!(p[0].starts_with("2:1: unknown field `extra`"), "{p:?}");
    }
}
