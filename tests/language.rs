//! Language fixtures: one folder per feature under tests/lang/, each with
//! mapping.hvx + input.xml and either expected.xml (exact output) or
//! expected-error.txt (a substring of the error), optional params.txt
//! (NAME=VALUE lines), expected-stderr.txt (substrings, one per line) and
//! exit.txt (the exit status with expected-error.txt, when not 1).

mod common;
use common::*;
use std::path::Path;

fn run_fixture(dir: &Path) -> Result<(), String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        dir.join("mapping.hvx").display().to_string(),
        dir.join("input.xml").display().to_string(),
        "--color".into(),
        "never".into(),
    ];
    if let Ok(p) = std::fs::read_to_string(dir.join("params.txt")) {
        for l in p.lines().filter(|l| !l.trim().is_empty()) {
            args.push("--param".into());
            args.push(l.trim().to_string());
        }
    }
    if dir.join("keep-secrets").exists() {
        args.push("--keep-secrets".into());
    }
    let o = bin()
        .args(&args)
        .current_dir(root())
        .output()
        .map_err(|e| e.to_string())?;
    let (out, err) = (stdout(&o), stderr(&o));
    if let Ok(want) = std::fs::read_to_string(dir.join("expected-error.txt")) {
        // 1 (bad input) unless exit.txt says otherwise (2: a usage error).
        let code = std::fs::read_to_string(dir.join("exit.txt"))
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(1);
        if o.status.code() != Some(code) {
            return Err(format!("expected exit 1, got {:?}\n{err}", o.status.code()));
        }
        if !err.contains(want.trim()) {
            return Err(format!("stderr lacks `{}`:\n{err}", want.trim()));
        }
    } else {
        let want = std::fs::read_to_string(dir.join("expected.xml"))
            .map_err(|e| format!("expected.xml: {e}"))?;
        if o.status.code() != Some(0) {
            return Err(format!("exit {:?}\n{err}", o.status.code()));
        }
        if out != want {
            return Err(format!(
                "output differs\n--- expected\n{want}\n--- got\n{out}\n--- stderr\n{err}"
            ));
        }
    }
    if let Ok(want) = std::fs::read_to_string(dir.join("expected-stderr.txt")) {
        for l in want.lines().filter(|l| !l.trim().is_empty()) {
            if !err.contains(l.trim()) {
                return Err(format!("stderr lacks `{}`:\n{err}", l.trim()));
            }
        }
    }
    Ok(())
}

#[test]
fn language_fixtures() {
    let base = root().join("tests/lang");
    let mut dirs: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("mapping.hvx").exists())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected at least 20 fixtures, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for d in &dirs {
        if !d.join("expected.xml").exists() && !d.join("expected-error.txt").exists() {
            // A fixture whose expected output would record a known bug
            // (tests/lang/BUGS.md) has no expected file yet.
            eprintln!(
                "skipping {} (known bug, see tests/lang/BUGS.md)",
                d.display()
            );
            continue;
        }
        if let Err(m) = run_fixture(d) {
            failures.push(format!(
                "== {}\n{m}",
                d.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
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
        let o = run(&["check", &rel, "--color", "never"]);
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
