//! Parses the shipped mappings (`mappings/**/*.hvx`) at build time with the
//! same parser the binary uses, and embeds their syntax trees in postcard's compact
//! serde format (`$OUT_DIR/prebuilt.rs`). At run time a mapping whose text is exactly a
//! shipped file's is loaded from its tree instead of being parsed again: pest
//! costs about 1 ms per mapping, which a one-document process would otherwise
//! pay on every start (see book/src/performance.md). Everything after parsing
//! (checking, compiling) still runs at run time, on the same tree.
//!
//! A shipped mapping with a syntax error is left out here, so the binary
//! parses it at run time and reports the error as it would for any file.

#[allow(dead_code, unused_imports)]
#[path = "src/diag.rs"]
mod diag;
#[allow(dead_code, unused_imports)]
#[path = "src/syntax/mod.rs"]
mod syntax;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn hvx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            hvx_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "hvx") {
            out.push(p);
        }
    }
}

fn main() {
    for watched in [
        "mappings",
        "grammar",
        "src/syntax",
        "src/diag.rs",
        "build.rs",
        "schema",
    ] {
        println!("cargo::rerun-if-changed={watched}");
    }
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    vocabularies(&root, &out);
    let mut files = Vec::new();
    hvx_files(&root.join("mappings"), &mut files);
    let mut table = String::from(
        "/// (source text, syntax tree in postcard) of every shipped mapping, made by build.rs.\n\
         pub(crate) static PREBUILT: &[(&str, &[u8])] = &[\n",
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let source = Arc::new(diag::Source {
            name: path.display().to_string(),
            path: None,
            text,
        });
        let file = match syntax::parse(&source) {
            Ok(f) => f,
            Err(d) => {
                println!(
                    "cargo::warning={}: {} (parsed at run time instead)",
                    path.display(),
                    d.message
                );
                continue;
            }
        };
        let rel = path.strip_prefix(&root).unwrap();
        let tree_path = out.join(rel).with_extension("hvx.postcard");
        std::fs::create_dir_all(tree_path.parent().unwrap()).unwrap();
        std::fs::write(&tree_path, postcard::to_allocvec(&file).unwrap()).unwrap();
        writeln!(
            table,
            "    (include_str!({:?}), include_bytes!({:?})),",
            path.display().to_string(),
            tree_path.display().to_string()
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out.join("prebuilt.rs"), table).unwrap();
}

/// The names lists of `schema/*-names.txt` as sorted static lists
/// (`$OUT_DIR/vocabularies.rs`): checking a name is a binary search, with
/// nothing to build when a mapping is compiled. Each list is one string and
/// the offsets where its names end ([`packed`]), not a slice of `&str`: the
/// 17,000 pointers of such slices were as many relocations the loader
/// applied, and 270 KB of pages it wrote, at every start of the program.
fn vocabularies(root: &Path, out: &Path) {
    let mut code = String::new();
    for (file, konst) in [
        ("libvirt-names.txt", "LIBVIRT"),
        ("vsphere-names.txt", "VSPHERE"),
        ("ec2-names.txt", "EC2"),
    ] {
        let text = std::fs::read_to_string(root.join("schema").join(file)).unwrap();
        for (kind, suffix) in [("element", "ELEMENTS"), ("attribute", "ATTRIBUTES")] {
            let mut names: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')))
                .collect();
            names.sort_unstable();
            names.dedup();
            code.push_str(&format!(
                "/// From schema/{file}.\npub(crate) static {konst}_{suffix}: Names = {};\n",
                packed(&names)
            ));
        }
    }
    // The hub format's names, from its RelaxNG schema: every
    // `<element name="…">` and `<attribute name="…">`.
    let rng = std::fs::read_to_string(root.join("schema/hvx.rng")).unwrap();
    for (tag, suffix) in [
        ("<element name=\"", "ELEMENTS"),
        ("<attribute name=\"", "ATTRIBUTES"),
    ] {
        let mut names: Vec<&str> = rng
            .split(tag)
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .collect();
        names.sort_unstable();
        names.dedup();
        code.push_str(&format!(
            "/// From schema/hvx.rng.\npub(crate) static HUB_{suffix}: Names = {};\n",
            packed(&names)
        ));
    }
    std::fs::write(out.join("vocabularies.rs"), code).unwrap();
}

/// `names` (sorted) as a `Names` expression: the names one after another
/// in one string literal, and where each ends.
fn packed(names: &[&str]) -> String {
    let mut ends = Vec::with_capacity(names.len());
    let mut len = 0;
    for n in names {
        len += n.len();
        ends.push(u32::try_from(len).expect("a names list under 4 GiB"));
    }
    format!("Names::new({:?}, &{ends:?})", names.concat())
}
