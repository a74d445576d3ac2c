//! The book's command-line examples are run as written, on every page: a
//! line starting with `$ hvxform` in a ```console block is a command (words
//! split at spaces, `"…"` quoting); the lines after it must appear in its
//! output; `(exit N)` is its exit status. `OUT` is a fresh temporary
//! directory per command, `out/` one per page. Other commands go in ```sh
//! blocks, which are not run. A line `<!-- test: copy SRC out/DST -->`
//! (hidden in the rendered book) copies a file or folder of the project
//! into the page's `out/` before the examples after it run, for examples
//! that change files.

mod common;
use common::*;

struct Example {
    /// `Some((src, dst))`: a copy, not a command.
    copy: Option<(String, String)>,
    line: usize,
    args: Vec<String>,
    expect: Vec<String>,
    exit: i32,
}

/// The words of a command line: split at spaces, with `"…"` and `'…'`
/// quoting (no escapes, no variables: the book's commands need none).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The `$ hvxform` examples of a page. A `$` line in a ```console block
/// that runs anything else is an error: such commands go in ```sh blocks,
/// which are not run, so every console example is.
fn examples(md: &str) -> Result<Vec<Example>, String> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    for (i, line) in md.lines().enumerate() {
        if let Some(c) = line
            .strip_prefix("<!-- test: copy ")
            .and_then(|c| c.strip_suffix(" -->"))
        {
            let w = words(c);
            let [src, dst] = w.as_slice() else {
                return Err(format!("line {}: `copy SRC out/DST`", i + 1));
            };
            if !dst.starts_with("out/") {
                return Err(format!("line {}: copies go into out/", i + 1));
            }
            out.push(Example {
                copy: Some((src.clone(), dst.clone())),
                line: i + 1,
                args: Vec::new(),
                expect: Vec::new(),
                exit: 0,
            });
            continue;
        }
        if line.starts_with("```") {
            in_console = line.trim() == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ hvxform ") {
            out.push(Example {
                copy: None,
                line: i + 1,
                args: words(cmd),
                expect: Vec::new(),
                exit: 0,
            });
        } else if line.starts_with("$ ") {
            return Err(format!(
                "line {}: `{line}` in a console block is not run; put it in a ```sh block",
                i + 1
            ));
        } else if let Some(ex) = out.last_mut().filter(|e| e.copy.is_none()) {
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
    Ok(out)
}

/// Runs a chapter's `$ hvxform …` examples; `OUT` (cli.md, one folder per
/// example) or `out/` (one folder for the whole chapter, so that examples
/// can build on each other) stands for a temporary folder.
fn run_chapter(chapter: &str, min: usize) {
    let md = std::fs::read_to_string(root().join("book/src").join(chapter)).unwrap();
    let exs = examples(&md).unwrap_or_else(|e| panic!("{chapter}: {e}"));
    assert!(exs.len() >= min, "only {} examples found", exs.len());
    let shared = temp_dir(&format!("book-{}", chapter.replace('/', "-")));
    let mut failures = Vec::new();
    for (k, ex) in exs.iter().enumerate() {
        if let Some((src, dst)) = &ex.copy {
            let to = shared.join(dst.strip_prefix("out/").unwrap());
            copy_tree(&root().join(src), &to);
            continue;
        }
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

/// Copies a file, or a folder and everything in it.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

/// Every page of the book, with the least number of examples it has (a
/// page whose examples disappear fails too).
const CHAPTERS: &[(&str, usize)] = &[
    ("introduction.md", 1),
    ("getting-started.md", 12),
    ("migrating-a-fleet.md", 12),
    ("cli.md", 25),
    ("language.md", 0),
    ("authoring.md", 10),
    ("hub.md", 0),
    ("sessions.md", 0),
    ("commands.md", 6),
    ("serve.md", 0),
    ("json-formats.md", 0),
    ("performance.md", 0),
    ("robustness.md", 0),
    ("platforms/kvm.md", 3),
    ("platforms/vmware.md", 3),
    ("platforms/xen.md", 3),
    ("platforms/hyperv.md", 6),
    ("platforms/ec2.md", 5),
    ("platforms/vsphere.md", 3),
    ("platforms/ovf.md", 3),
];

#[test]
fn every_page_of_the_book_is_listed() {
    let summary = std::fs::read_to_string(root().join("book/src/SUMMARY.md")).unwrap();
    for part in summary.split("](").skip(1) {
        let page = &part[..part.find(')').unwrap()];
        if page.is_empty() {
            continue;
        }
        assert!(
            CHAPTERS.iter().any(|(c, _)| *c == page),
            "{page} is in SUMMARY.md but its examples are not run (CHAPTERS)"
        );
    }
}

#[test]
fn the_words_of_a_command_follow_its_quotes() {
    assert_eq!(words(r#"a "b c" 'd' e"#), ["a", "b c", "d", "e"]);
    assert_eq!(words(r#"x "" y"#), ["x", "", "y"]);
}

/// One test per page, so they run in parallel and fail separately.
macro_rules! chapter_tests {
    ($($name:ident => $page:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (page, min) = CHAPTERS.iter().find(|(c, _)| *c == $page).unwrap();
                run_chapter(page, *min);
            }
        )*
    };
}

chapter_tests! {
    introduction_examples_run => "introduction.md",
    getting_started_examples_run => "getting-started.md",
    fleet_tutorial_examples_run => "migrating-a-fleet.md",
    cli_chapter_examples_run_as_written => "cli.md",
    language_examples_run => "language.md",
    authoring_examples_run_as_written => "authoring.md",
    hub_examples_run => "hub.md",
    sessions_examples_run => "sessions.md",
    commands_examples_run_as_written => "commands.md",
    json_formats_examples_run => "json-formats.md",
    performance_examples_run => "performance.md",
    robustness_examples_run => "robustness.md",
    kvm_chapter_examples_run => "platforms/kvm.md",
    vmware_chapter_examples_run => "platforms/vmware.md",
    xen_chapter_examples_run => "platforms/xen.md",
    hyperv_chapter_examples_run_as_written => "platforms/hyperv.md",
    ec2_chapter_examples_run_as_written => "platforms/ec2.md",
    vsphere_chapter_examples_run => "platforms/vsphere.md",
    ovf_chapter_examples_run => "platforms/ovf.md",
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
