//! Language fixtures: one folder per feature under tests/lang/, each with
//! mapping.hvx + input.xml and either expected.xml (exact output) or
//! expected-error.txt (a substring of the error), optional params.txt
//! (NAME=VALUE lines), expected-stderr.txt (substrings, one per line) and
//! exit.txt (the exit status with expected-error.txt, when not 1): run by
//! `hvxform test tests/lang`.

mod common;
use common::*;

/// The fixtures are a suite of `hvxform test` (the older layout it reads:
/// `expected.xml`, `expected-error.txt`, `expected-stderr.txt`).
#[test]
fn language_fixtures() {
    let base = root().join("tests/lang");
    let count = std::fs::read_dir(&base)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("mapping.hvx").exists())
        .count();
    assert!(count >= 20, "expected at least 20 fixtures, found {count}");
    let o = run(&["test", "tests/lang", "--color", "never"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("{count} passed, 0 failed")),
        "{}",
        stdout(&o)
    );
}

/// Every diagnostic kind has a fixture under tests/diagnostics/, and its
/// rendering (colour off, paths relative) is a snapshot.
#[test]
fn diagnostic_snapshots() {
    let base = root().join("tests/diagnostics");
    if !base.exists() {
        eprintln!("tests/diagnostics/ not written yet");
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hvx"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected a fixture per diagnostic kind, found {}",
        files.len()
    );
    for f in files {
        let rel = f.strip_prefix(root()).unwrap().display().to_string();
        // A fixture of a pedantic lint says so in a comment (encoding.hvx
        // is not UTF-8, on purpose).
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        let mut args = vec!["check", &rel, "--color", "never"];
        if text.contains("check --pedantic") {
            args.push("--pedantic");
        }
        let o = run(&args);
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let code = name
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('-');
        let err = stderr(&o);
        if code != "many-errors" {
            assert!(
                err.contains(&format!("hvx::{code}")),
                "{rel} does not trigger hvx::{code}:\n{err}"
            );
        }
        insta::assert_snapshot!(format!("diag_{name}"), err);
    }
}

/// Past an element's 64th attribute too, exactly the attributes nothing read
/// are reported: the two read by paths and all of an element whose whole
/// value was read are not.
#[test]
fn unmapped_report_tracks_every_attribute() {
    let dir = root().join("tests/lang/unmapped-many-attributes");
    let o = bin()
        .args(["run", "--color", "never"])
        .arg(dir.join("mapping.hvx"))
        .arg(dir.join("input.xml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let unmapped: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("unmapped attribute"))
        .collect();
    assert_eq!(unmapped.len(), 68, "{err}");
    for read in ["/domain/wide/@a1:", "/domain/wide/@a66:", "/domain/whole/"] {
        assert!(
            !err.contains(read),
            "{read} was read but is reported:\n{err}"
        );
    }
}
