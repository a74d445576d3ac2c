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
    let bytes = crate::platform::input::read_limited(path, crate::platform::input::MAX_MAPPING)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|e| format!("{}: not valid UTF-8 ({e})", path.display()))?;
    Ok(Arc::new(Source {
        name: path.display().to_string(),
        path: Some(PathBuf::from(path)),
        text,
    }))
}
