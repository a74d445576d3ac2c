//! Entry points for fuzzing and for replaying fuzz corpora in tests.
//!
//! Each function takes arbitrary bytes and must return without panicking,
//! hanging or exhausting memory, whatever the bytes are: errors are values.
//! `fuzz/fuzz_targets/*.rs` (cargo-fuzz, libFuzzer) call them, and
//! `tests/fuzz_corpus.rs` replays every stored input through them on stable
//! Rust, so what a campaign found stays fixed (book: Limits and robustness).

use std::sync::{Arc, OnceLock};

use crate::compile::{self, FsResolver};
use crate::diag::Source;
use crate::engine::{Convert, Mappings, EMBEDDED};
use crate::exec::RunOptions;
use crate::platform::{self, input, PLATFORMS};
use crate::session::MemoryStore;

/// The bytes as text, as hvxform reads a file (BOM, UTF-16, ...), if they
/// decode.
fn text(data: &[u8]) -> Option<String> {
    input::decode(data).ok()
}

/// A mapping file: parse, check and compile (libraries resolve to the
/// shipped ones). Diagnostics are rendered, as `check` would.
pub fn mapping(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Arc::new(Source {
        name: "fuzz.hvx".into(),
        path: None,
        text: text.to_string(),
    });
    let resolver = FsResolver { embedded: EMBEDDED };
    let diags = if compile::is_library(&source) {
        compile::check_library(source, &resolver)
    } else {
        compile::compile(source, &resolver).1
    };
    for d in &diags.items {
        let _ = crate::render::human(d, false);
    }
    let _ = crate::render::sarif(&diags.items);
}

/// The shipped mappings, compiled once per process.
fn mappings() -> &'static Mappings {
    static M: OnceLock<Mappings> = OnceLock::new();
    M.get_or_init(|| Mappings::new(None))
}

/// An input file of any platform: detected, then converted to every
/// platform through the shipped mappings (as `transform --to` all).
pub fn input(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let _ = platform::detect("fuzz", &text);
    let store = MemoryStore::default();
    let conv = Convert {
        mappings: mappings(),
        params: Vec::new(),
        sessions: &store,
        run: RunOptions {
            detail: true,
            ..Default::default()
        },
    };
    let targets: Vec<_> = PLATFORMS.iter().filter(|p| p.implemented).collect();
    let _ = conv.convert("fuzz.xml", &text, None, &targets);
}

/// Any text, read by the one-pass scan ([`crate::tree::Document::scan`])
/// and by roxmltree: what the scan reads must be the tree roxmltree's
/// parse gives, copied, field by field, and nothing roxmltree refuses may
/// be scanned.
pub fn scan(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let scanned = crate::tree::Document::scan(&text);
    let parsed = roxmltree::Document::parse(&text);
    match (scanned, parsed) {
        (Some(d), Ok(p)) => {
            let copied = crate::tree::Document::from_roxml(&p).expect("a parsed document copies");
            assert!(d == copied, "the scan and the parser read different trees");
        }
        (Some(_), Err(e)) => panic!("the scan read what the parser refuses: {e}"),
        (None, _) => {}
    }
}

/// A `.vmx` file: read into the canonical form, and written back.
pub fn vmx(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    if let Ok(xml) = platform::vmx::read(&text) {
        // What the reader gives, the writer takes.
        platform::vmx::write(&xml).expect("the .vmx reader's output is writable");
    }
}

/// An xl.cfg file: read into the canonical form, and written back.
pub fn xl(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    if let Ok(xml) = platform::xl::read(&text) {
        platform::xl::write(&xml).expect("the xl.cfg reader's output is writable");
    }
}

/// Hyper-V CIM-XML and pre-2016 configuration files.
pub fn hyperv(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let _ = platform::hyperv::read("fuzz", &text);
    let _ = platform::hyperv::read_config(&text);
}

/// A session store: parsed; a store that parses is written and parses
/// again to the same tables.
pub fn session(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tables) = crate::session::format::parse(text) {
        let written = crate::session::format::write(&tables);
        let again = crate::session::format::parse(&written)
            .unwrap_or_else(|e| panic!("a written store does not parse: {e:?}\n{written}"));
        assert_eq!(
            crate::session::format::write(&again),
            written,
            "a store written twice differs"
        );
    }
}

/// The writer's escaping: any string as an element's text and as an
/// attribute value gives well-formed XML that reads back to the same
/// string, or a clear refusal (characters XML cannot carry).
pub fn escape(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut w = crate::xmlout::XmlOut::new();
    let r = (|| {
        w.start("e")?;
        w.attr("a", s)?;
        w.text(s)?;
        w.end();
        Ok::<(), crate::xmlout::WriteError>(())
    })();
    if r.is_err() {
        // Refused: only for characters XML 1.0 cannot carry.
        assert!(
            s.chars().any(|c| !is_xml_char(c)),
            "refused a string XML can carry: {s:?}"
        );
        return;
    }
    let xml = w.finish().expect("a finished document");
    let doc = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("not well-formed ({e}): {xml:?}"));
    let e = doc.root_element();
    assert_eq!(e.attribute("a"), Some(s), "attribute changed: {xml:?}");
    let t: String = e.children().filter_map(|c| c.text()).collect();
    assert_eq!(t, s, "text changed: {xml:?}");
}

/// A character of XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
