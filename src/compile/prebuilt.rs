//! The shipped mappings' syntax trees, parsed at build time (see `build.rs`).
//!
//! [`parse`] is the compiler's way into the parser: a source whose text is
//! byte for byte a shipped mapping's gets its prebuilt tree, anything else
//! (a user's mapping, an edited copy, `--mappings DIR`) is parsed by pest.
//! The trees are the parser's own output, so both ways give the same result;
//! a test checks that for every shipped file.

use std::sync::Arc;

use crate::diag::{Diagnostic, Source};
use crate::syntax::ast::File;

include!(concat!(env!("OUT_DIR"), "/prebuilt.rs"));

/// Parses a mapping or library, from its prebuilt tree when it is a shipped file.
pub fn parse(source: &Arc<Source>) -> Result<File, Box<Diagnostic>> {
    if let Some(file) = prebuilt(&source.text) {
        return Ok(file);
    }
    crate::syntax::parse(source)
}

fn prebuilt(text: &str) -> Option<File> {
    let (_, tree) = PREBUILT.iter().find(|(t, _)| *t == text)?;
    // The tree was written by build.rs from the same types; failing to read
    // it back is a build bug, and parsing the text is still correct.
    let file = postcard::from_bytes(tree);
    debug_assert!(file.is_ok(), "prebuilt syntax tree: {:?}", file.err());
    file.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_mapping_has_a_prebuilt_tree_equal_to_a_fresh_parse() {
        for (name, text) in crate::engine::EMBEDDED {
            let tree = prebuilt(text).unwrap_or_else(|| panic!("{name}: no prebuilt tree"));
            let source = Arc::new(Source {
                name: name.to_string(),
                path: None,
                text: text.to_string(),
            });
            let fresh = crate::syntax::parse(&source).unwrap();
            assert_eq!(
                serde_json::to_string(&tree).unwrap(),
                serde_json::to_string(&fresh).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn other_text_is_parsed() {
        assert!(prebuilt("mapping \"x\" { from kvm to hvx }").is_none());
        let source = Arc::new(Source {
            name: "broken.hvx".into(),
            path: None,
            text: "mapping {".into(),
        });
        assert!(parse(&source).is_err());
    }
}
