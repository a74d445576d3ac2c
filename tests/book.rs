//! The book's command-line examples are run as written: a line starting with
//! `$ hvxform` in a ```console block is a command; the lines after it must
//! appear in its output; `(exit N)` is its exit status. `OUT` is a fresh
//! temporary directory per command.

mod common;
use common::*;

struct Example {
    line: usize,
    args: Vec<String>,
    expect: Vec<String>,
    exit: i32,
}

fn examples(md: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    for (i, line) in md.lines().enumerate() {
        if line.starts_with("```") {
            in_console = line.trim() == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ hvxform ") {
            out.push(Example {
                line: i + 1,
                args: cmd.split_whitespace().map(str::to_string).collect(),
                expect: Vec::new(),
                exit: 0,
            });
        } else if let Some(ex) = out.last_mut() {
            if let Some(code) = line
                .trim()
                .strip_prefix("(exit ")
                .and_then(|s| s.strip_suffix(')'))
            {
                ex.exit = code.parse().unwrap();
            } else if !line.trim().is_empty() {
                ex.expect.push(line.trim().to_string());
            }
        }
    }
    out
}

/// Runs a chapter's `$ hvxform …` examples; `OUT` (cli.md, one folder per
/// example) or `out/` (one folder for the whole chapter, so that examples
/// can build on each other) stands for a temporary folder.
fn run_chapter(chapter: &str, min: usize) {
    let md = std::fs::read_to_string(root().join("book/src").join(chapter)).unwrap();
    let exs = examples(&md);
    assert!(exs.len() >= min, "only {} examples found", exs.len());
    let shared = temp_dir(&format!("book-{}", chapter.replace('/', "-")));
    let mut failures = Vec::new();
    for (k, ex) in exs.iter().enumerate() {
        // One folder per chapter and example: chapters run in parallel.
        let out = temp_dir(&format!("book-{}-{k}", chapter.replace('/', "-")));
        let args: Vec<String> = ex
            .args
            .iter()
            .map(|a| {
                a.replace("OUT", out.to_str().unwrap())
                    .replace("out/", &format!("{}/", shared.display()))
            })
            .collect();
        let o = bin()
            .args(&args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&o), stderr(&o));
        if o.status.code() != Some(ex.exit) {
            failures.push(format!(
                "{chapter}:{}: exit {:?}, expected {}\n{text}",
                ex.line,
                o.status.code(),
                ex.exit
            ));
            continue;
        }
        for want in &ex.expect {
            if !text.contains(want.as_str()) {
                failures.push(format!(
                    "{chapter}:{}: output lacks `{want}`\n{text}",
                    ex.line
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn cli_chapter_examples_run_as_written() {
    run_chapter("cli.md", 15);
}

#[test]
fn ec2_chapter_examples_run_as_written() {
    run_chapter("platforms/ec2.md", 5);
}

#[test]
fn hyperv_chapter_examples_run_as_written() {
    run_chapter("platforms/hyperv.md", 6);
}

#[test]
fn language_reference_lists_every_builtin() {
    let md = std::fs::read_to_string(root().join("book/src/language.md")).unwrap();
    let missing: Vec<&str> = hvxform::program::BUILTINS
        .iter()
        .map(|(_, i)| i.name)
        .filter(|n| !md.contains(&format!("| `{n}` |")))
        .collect();
    assert!(missing.is_empty(), "book/src/language.md lacks {missing:?}");
}

/// Every diagnostic code the compiler can emit has a fixture and a row in the
/// language reference.
#[test]
fn every_diagnostic_code_is_documented_and_has_a_fixture() {
    let md = std::fs::read_to_string(root().join("book/src/language.md")).unwrap();
    let mut codes = Vec::new();
    for dir in ["src/compile", "src/syntax"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for part in text.split("\"hvx::").skip(1) {
                let code: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                    .collect();
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
        }
    }
    assert!(codes.len() >= 25, "{codes:?}");
    for c in &codes {
        assert!(
            md.contains(&format!("`hvx::{c}`")),
            "language.md does not document hvx::{c}"
        );
        assert!(
            root().join(format!("tests/diagnostics/{c}.hvx")).exists(),
            "no tests/diagnostics/{c}.hvx"
        );
    }
}
