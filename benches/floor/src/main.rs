//! The parse + write floor (see ../../book/src/performance.md): the least any
//! XML-to-XML converter built on roxmltree and xmlwriter must do. Parse each
//! input with roxmltree, write every node (elements with their namespace
//! declarations, attributes, non-blank text, comments) back with xmlwriter.
//! The output equals the input modulo insignificant whitespace
//! (`benches/peers/same_xml.py`).
//!
//! ```text
//! floor OUT_DIR INPUT...   one output file per input (a directory means its files), in order, one thread
//! floor - INPUT            one document to standard output
//! ```
//!
//! xmlwriter 0.1 escapes only `<` in text and only the quote in attribute
//! values, so the floor escapes `&`, `<`, `>` (and whitespace in attributes)
//! itself, borrowing the value when nothing needs escaping. It switches
//! `set_preserve_whitespaces(true)` on around elements with text, because
//! otherwise xmlwriter moves `<name>text</name>` onto three indented lines.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use roxmltree::{Document, Node, NodeType, ParsingOptions};
use xmlwriter::{Indent, Options, XmlWriter};

fn escape_text(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| matches!(b, b'&' | b'<' | b'>')) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

/// xmlwriter escapes the quote character itself.
fn escape_attr(s: &str) -> Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'\n' | b'\r' | b'\t'))
    {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            '\t' => o.push_str("&#9;"),
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

/// `prefix:local` of an element or attribute in namespace `ns`.
fn qname<'a>(node: Node, ns: Option<&str>, local: &'a str, attr: bool) -> Cow<'a, str> {
    match ns {
        None => Cow::Borrowed(local),
        Some(uri) => match node.lookup_prefix(uri) {
            Some(p) if !p.is_empty() => Cow::Owned(format!("{p}:{local}")),
            // A default namespace applies to elements only.
            _ if !attr => Cow::Borrowed(local),
            _ => Cow::Owned(format!("ns:{local}")),
        },
    }
}

fn write_element(w: &mut XmlWriter, node: Node) {
    let name = qname(
        node,
        node.tag_name().namespace(),
        node.tag_name().name(),
        false,
    );
    w.start_element(&name);
    // Namespace declarations made on this element (roxmltree lists every
    // namespace in scope; the parent's are inherited).
    let parent = node.parent_element();
    for ns in node.namespaces() {
        if ns.name() == Some("xml") {
            continue;
        }
        let inherited = parent.is_some_and(|p| {
            p.namespaces()
                .any(|q| q.name() == ns.name() && q.uri() == ns.uri())
        });
        if !inherited {
            match ns.name() {
                Some(p) => w.write_attribute(&format!("xmlns:{p}"), &escape_attr(ns.uri())),
                None => w.write_attribute("xmlns", &escape_attr(ns.uri())),
            }
        }
    }
    for a in node.attributes() {
        let an = qname(node, a.namespace(), a.name(), true);
        w.write_attribute(&an, &escape_attr(a.value()));
    }
    // Elements with text keep their content as is; the others are indented.
    let has_text = node
        .children()
        .any(|c| c.is_text() && !c.text().unwrap_or("").trim().is_empty());
    if has_text {
        w.set_preserve_whitespaces(true);
    }
    for c in node.children() {
        match c.node_type() {
            NodeType::Element => write_element(w, c),
            NodeType::Text => {
                let t = c.text().unwrap_or("");
                if has_text || !t.trim().is_empty() {
                    w.write_text(&escape_text(t));
                }
            }
            NodeType::Comment => w.write_comment(c.text().unwrap_or("")),
            _ => {}
        }
    }
    w.end_element();
    if has_text {
        w.set_preserve_whitespaces(false);
    }
}

/// Parse and write one document.
fn floor(text: &str) -> Result<String, roxmltree::Error> {
    let doc = Document::parse_with_options(
        text,
        ParsingOptions {
            allow_dtd: false,
            ..ParsingOptions::default()
        },
    )?;
    let mut w = XmlWriter::with_capacity(
        text.len() + text.len() / 8,
        Options {
            indent: Indent::Spaces(2),
            ..Options::default()
        },
    );
    w.write_declaration();
    for c in doc.root().children() {
        match c.node_type() {
            NodeType::Element => write_element(&mut w, c),
            NodeType::Comment => w.write_comment(c.text().unwrap_or("")),
            _ => {}
        }
    }
    Ok(w.end_document())
}

fn inputs(args: &[String]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            v.sort();
            files.extend(v.into_iter().filter(|f| f.is_file()));
        } else {
            files.push(p.to_path_buf());
        }
    }
    Ok(files)
}

fn run(args: &[String]) -> Result<(), String> {
    let (out, rest) = args
        .split_first()
        .filter(|(_, r)| !r.is_empty())
        .ok_or("usage: floor OUT_DIR INPUT... | floor - INPUT")?;
    let files = inputs(rest).map_err(|e| e.to_string())?;
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let xml = floor(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        if out == "-" {
            let mut o = std::io::stdout().lock();
            o.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
        } else {
            let name = f.file_name().ok_or("input without a file name")?;
            let dest = Path::new(out).join(name);
            std::fs::write(&dest, xml).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}
