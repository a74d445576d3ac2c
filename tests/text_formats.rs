//! The `.vmx` and xl.cfg readers and writers over the whole corpus: reading
//! then writing keeps every key and value; detection by extension and by
//! content; errors with file:line:col.

mod common;
use common::*;

use hvxform::platform::{input, vmx, xl};
use std::path::PathBuf;

fn files(dir: &str, ext: Option<&str>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/corpus").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            ext.is_none_or(|x| p.extension().is_some_and(|e| e == x))
                && p.file_name().unwrap() != "TESTS.list"
        })
        .collect();
    v.sort();
    v
}

pub fn vmx_files() -> Vec<PathBuf> {
    let mut v = files("libvirt-vmx2xml", Some("vmx"));
    v.extend(files("libvirt-xml2vmx", Some("vmx")));
    v.extend(
        files("virt-v2v", Some("vmx"))
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("test-i-vmx-")),
    );
    v
}

pub fn xl_files() -> Vec<PathBuf> {
    let mut v = files("libvirt-xlconfig", Some("cfg"));
    v.extend(files("xen-xl-examples", None));
    v
}

/// (lower-case key, value) of every entry, duplicates removed.
fn vmx_pairs(text: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vmx::lex(text)
        .unwrap()
        .into_iter()
        .map(|e| (e.key.to_ascii_lowercase(), e.value))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn vmx_read_then_write_keeps_every_key_and_value() {
    let files = vmx_files();
    assert!(files.len() >= 100, "{} vmx files", files.len());
    for f in &files {
        let text = input::read_text(f).unwrap();
        let xml = vmx::read(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let back = vmx::write(&xml).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(vmx_pairs(&text), vmx_pairs(&back), "{}", f.display());
        // Keys keep their spelling, except a device prefix's (written in lower case).
        assert_eq!(vmx::read(&back).unwrap(), xml, "{}", f.display());
    }
}

#[test]
fn xl_read_then_write_keeps_every_setting() {
    let files = xl_files();
    assert!(files.len() >= 35, "{} xl files", files.len());
    for f in &files {
        let text = input::read_text(f).unwrap();
        let settings = xl::parse(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let xml = xl::read(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let back = xl::write(&xml).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // The same settings with the same values, atoms compared as text.
        let again = xl::parse(&back).unwrap();
        let keys = |s: &[xl::Setting]| s.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&settings), keys(&again), "{}", f.display());
        for (a, b) in settings.iter().zip(&again) {
            if !xl_spec_list(&a.key) {
                assert_eq!(a.value, b.value, "{}: {}", f.display(), a.key);
            }
        }
        // Specs may be rewritten (positional → named), never changed.
        assert_eq!(xl::read(&back).unwrap(), xml, "{}", f.display());
    }
}

fn xl_spec_list(key: &str) -> bool {
    hvxform::platform::xl_spec::SPEC_KEYS.contains(&key)
}

#[test]
fn detection_by_extension_and_by_content() {
    let o = run(&[
        "detect",
        "tests/corpus/xen-xl-examples/xlexample.hvm",
        "tests/corpus/virt-v2v/test-i-vmx-1.vmx",
        "tests/corpus/libvirt-xlconfig/test-spice.cfg",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("xlexample.hvm: xen (content: xl.cfg settings type, name, memory)"),
        "{out}"
    );
    assert!(
        out.contains("test-i-vmx-1.vmx: vmware (file extension .vmx)"),
        "{out}"
    );
    assert!(
        out.contains("test-spice.cfg: xen (file extension .cfg)"),
        "{out}"
    );
    // A .vmx without its extension is recognised by its keys.
    let dir = temp_dir("detect-vmx");
    let f = dir.join("guest");
    std::fs::copy(root().join("tests/corpus/virt-v2v/test-i-vmx-3.vmx"), &f).unwrap();
    let o = run(&["detect", f.to_str().unwrap()]);
    assert!(
        stdout(&o)
            .contains(": vmware (content: .vmx keys .encoding, config.version, virtualHW.version)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn lexer_errors_name_file_line_and_column() {
    let dir = temp_dir("text-errors");
    let cases: &[(&str, &str, &str)] = &[
        (
            "a.vmx",
            "displayName = \"x\"\nmemsize = \"1024\n",
            ":2:11: unterminated string",
        ),
        (
            "b.vmx",
            "displayName = \"x\"\nDISPLAYNAME = \"y\"\n",
            ":2:1: duplicate key `DISPLAYNAME`",
        ),
        (
            "c.vmx",
            "displayName \"x\"\n",
            ":1:13: expected `=` after the key `displayName`",
        ),
        (
            "d.cfg",
            "name = 'x'\ndisk = [ 'a',\n",
            ":2:8: unterminated list",
        ),
        (
            "e.cfg",
            "name = 'x'\nmemory = 512\nmemory = 1024\n",
            ":3:1: duplicate setting `memory`",
        ),
        ("f.cfg", "name = 'x\n", ":1:8: unterminated string"),
        ("g.cfg", "builder = hvm\n", ":1:11: `hvm` is not a value"),
    ];
    for (name, text, want) in cases {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        let o = run(&["transform", f.to_str().unwrap(), "--to", "hvx"]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let e = stderr(&o);
        assert!(e.contains(&format!("{name}{want}")), "{name}: {e}");
    }
}
