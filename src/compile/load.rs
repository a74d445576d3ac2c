//! Finding mapping and library sources: on disk, or embedded in the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::Source;

/// Resolves `use "lib/x.hvx"` in a source to the library's source.
pub trait Resolver: Sync {
    fn resolve(&self, from: &Source, rel: &str) -> Result<Arc<Source>, String>;
}

/// Resolves relative to the importing file's directory; embedded sources
/// (no path) resolve against the embedded set.
pub struct FsResolver<'a> {
    pub embedded: &'a [(&'a str, &'a str)],
}

impl Resolver for FsResolver<'_> {
    fn resolve(&self, from: &Source, rel: &str) -> Result<Arc<Source>, String> {
        if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
            return Err(format!(
                "`use \"{rel}\"`: library paths are relative to the mapping and may not contain `..` or start with `/`"
            ));
        }
        // One spelling per file (`./lib/x.hvx`, `lib//x.hvx` are
        // `lib/x.hvx`), so that each file is loaded once.
        let normal: Vec<&str> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let rel = normal.join("/");
        let rel = rel.as_str();
        if let Some(path) = &from.path {
            let dir = path.parent().unwrap_or(Path::new("."));
            let p = dir.join(rel);
            if p.exists() {
                return read_source(&p);
            }
        }
        // Embedded names are `<builtin>/name.hvx`.
        let base = from.name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let want = if base.is_empty() {
            rel.to_string()
        } else {
            format!("{base}/{rel}")
        };
        for (name, text) in self.embedded {
            if format!("<builtin>/{name}") == want || *name == rel {
                return Ok(Arc::new(Source {
                    name: format!("<builtin>/{name}"),
                    path: None,
                    text: text.to_string(),
                }));
            }
        }
        Err(format!("library `{rel}` not found next to {}", from.name))
    }
}

/// Reads a file into a [`Source`], decoding UTF-8 (with or without BOM).
pub fn read_source(path: &Path) -> Result<Arc<Source>, String> {
    read_source_checked(path).map_err(|e| match e {
        SourceError::Unreadable(m) => m,
        SourceError::Invalid(d) => {
            let (line, col) = d.primary.source.line_col(d.primary.span.start as usize);
            format!("{}:{line}:{col}: {}", path.display(), d.message)
        }
    })
}

/// Why a mapping file could not be read.
pub enum SourceError {
    /// Not read at all (missing, a folder, too large, binary): the message.
    Unreadable(String),
    /// Read but not UTF-8: a diagnostic at the first byte that is not, on
    /// the text decoded with replacement characters (for `check`, which
    /// reports it among the other files' diagnostics).
    Invalid(Box<crate::diag::Diagnostic>),
}

/// [`read_source`], with a file that is not UTF-8 as a located diagnostic.
pub fn read_source_checked(path: &Path) -> Result<Arc<Source>, SourceError> {
    let bytes = crate::platform::input::read_limited(path, crate::platform::input::MAX_MAPPING)
        .map_err(|e| SourceError::Unreadable(format!("{}: {e}", path.display())))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let source = |text: String| {
        Arc::new(Source {
            name: path.display().to_string(),
            path: Some(PathBuf::from(path)),
            text,
        })
    };
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(source(text.to_string())),
        Err(e) => {
            let at = e.valid_up_to();
            let bad = &bytes[at..at + e.error_len().unwrap_or(bytes.len() - at)];
            let hex: Vec<String> = bad.iter().map(|b| format!("0x{b:02X}")).collect();
            // Up to `at`, the lossy text is the file itself.
            let src = source(String::from_utf8_lossy(bytes).into_owned());
            let span = (
                at as u32,
                (at + char::REPLACEMENT_CHARACTER.len_utf8()) as u32,
            )
                .into();
            let mut d = crate::diag::Diagnostic::error(
                "hvx::encoding",
                format!(
                    "not valid UTF-8: the byte{} {}",
                    if bad.len() == 1 { "" } else { "s" },
                    hex.join(" ")
                ),
                crate::diag::Label {
                    source: src,
                    span,
                    text: "this byte is not UTF-8".into(),
                },
            );
            d.help = Some(
                "mappings are UTF-8: convert the file (iconv -f windows-1252 -t utf-8, for example)"
                    .into(),
            );
            Err(SourceError::Invalid(Box::new(d)))
        }
    }
}
