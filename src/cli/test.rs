//! `hvxform test`: run mapping test suites (see `crate::suite`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{exit, Ctx};
use crate::suite::{self, CaseResult, Mismatch};

/// Run mapping test suites: each case's outputs, report and errors are
/// compared with the files in its `expected/` folder.
#[derive(Debug, Args)]
pub struct Test {
    /// Suite folders (a case, or folders of cases at any depth).
    #[arg(default_value = ".")]
    pub dirs: Vec<PathBuf>,
    /// Write what each failing case produced as its expected files (only
    /// inside the case's `expected/` folder).
    #[arg(long, conflicts_with = "review")]
    pub bless: bool,
    /// Walk the pending changes case by case on a terminal: accept, reject
    /// or skip each.
    #[arg(long)]
    pub review: bool,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Cases run at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Report which rules, statements, branches, functions, templates,
    /// drops and table rows of each mapping the suite ran.
    #[arg(long)]
    pub coverage: bool,
    /// Write the coverage as an lcov tracefile (implies --coverage).
    #[arg(long, value_name = "FILE")]
    pub lcov: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

impl Test {
    pub fn run(self, ctx: &Ctx) -> u8 {
        if self.review && !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            super::error(
                ctx,
                "--review asks on a terminal; in scripts, use --bless (or look at the diffs without it)",
            );
            return exit::CANNOT_RUN;
        }
        let mut cases = Vec::new();
        for d in &self.dirs {
            match suite::discover(d) {
                Ok(c) => cases.extend(c),
                Err(m) => {
                    super::error(ctx, &m);
                    return exit::CANNOT_RUN;
                }
            }
        }
        if let Some(f) = &self.filter {
            cases.retain(|c| c.name.contains(f.as_str()));
        }
        if cases.is_empty() {
            super::error(
                ctx,
                &format!(
                    "no test cases in {} (a case is a folder with an input.* file or case.yaml)",
                    self.dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return exit::CANNOT_RUN;
        }
        let jobs = self.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let started = std::time::Instant::now();
        if let Some(l) = &self.lcov {
            if let Err(m) = super::transform::report_writable(l) {
                super::error(
                    ctx,
                    &format!("{}: cannot write the lcov file: {m}", l.display()),
                );
                return exit::CANNOT_RUN;
            }
        }
        let coverage = self.coverage || self.lcov.is_some();
        let results = suite::run_all(&cases, jobs, coverage);
        let secs = started.elapsed().as_secs_f64();
        let several = self.dirs.len() > 1;
        let label = |r: &CaseResult| {
            if several {
                format!("{}/{}", r.case.suite.display(), r.case.name)
            } else {
                r.case.name.clone()
            }
        };
        let mut blessed = 0;
        let mut bless_failed = false;
        // The cases whose expected files could not be written: still failing.
        let mut unblessed = vec![false; results.len()];
        if self.bless {
            for (i, r) in results.iter().enumerate().filter(|(_, r)| !r.passed()) {
                match suite::bless(r) {
                    Ok(w) => {
                        if !w.is_empty() {
                            blessed += 1;
                        }
                        if self.format == Format::Text && !ctx.quiet {
                            for f in w {
                                eprintln!("blessed {f}");
                            }
                        }
                    }
                    Err(m) => {
                        bless_failed = true;
                        unblessed[i] = true;
                        super::error(ctx, &format!("{}: {m}", label(r)));
                    }
                }
            }
        }
        // A case passes when it matched, or when --bless settled every
        // difference it had.
        let settled = |(i, r): (usize, &CaseResult)| {
            r.passed()
                || (self.bless && !unblessed[i] && r.mismatches.iter().all(Mismatch::pending))
        };
        let failed = results.iter().enumerate().filter(|&c| !settled(c)).count();
        let passed = results.len() - failed;
        match self.format {
            Format::Text => print_text(ctx, &results, &label, self.bless, &unblessed),
            Format::Json => print_json(&results, &label, secs),
            Format::Junit => print_junit(&results, &label, secs),
        }
        if coverage {
            let mut report = crate::coverage::Report::default();
            for r in &results {
                for (p, h) in &r.observed.coverage {
                    report.add(p, h);
                }
            }
            if self.coverage && self.format == Format::Text {
                super::outln!(
                    "\ncoverage:\n{}",
                    report.text(if ctx.verbose > 0 { usize::MAX } else { 10 })
                );
            }
            if let Some(l) = &self.lcov {
                if let Err(e) = super::write::atomic_write(l, report.lcov().as_bytes()) {
                    super::error(
                        ctx,
                        &format!("{}: cannot write the lcov file: {e}", l.display()),
                    );
                    return exit::CANNOT_RUN;
                }
            }
        }
        let mut failed = failed;
        if self.review {
            failed = review(&results, &label, failed);
        }
        if self.format == Format::Text {
            let mut line = format!("{passed} passed, {failed} failed");
            if self.bless {
                line.push_str(&format!(", {blessed} blessed"));
            }
            super::outln!("{line} ({secs:.2} s)");
            let pending = results
                .iter()
                .filter(|r| !r.passed() && r.mismatches.iter().any(Mismatch::pending))
                .count();
            if !self.bless && !self.review && pending > 0 && !ctx.quiet {
                eprintln!(
                    "note: `--bless` keeps what {pending} case(s) produced as expected; `--review` asks case by case"
                );
            }
        }
        if bless_failed || failed > 0 {
            exit::INVALID
        } else {
            exit::OK
        }
    }
}

/// The differences of a failing case, as text.
fn explain(r: &CaseResult) -> String {
    let mut s = String::new();
    let path = |f: &str| {
        if r.legacy {
            f.to_string()
        } else {
            format!("{}/{f}", suite::EXPECTED)
        }
    };
    for m in &r.mismatches {
        match m {
            Mismatch::Differs {
                file,
                expected,
                got,
            } => s.push_str(&suite::diff(&path(file), expected, got)),
            Mismatch::New { file, got } => {
                s.push_str(&format!("new: {} (no expected file yet)\n", path(file)));
                s.push_str(&suite::diff(&path(file), "", got));
            }
            Mismatch::Gone { file, expected } => {
                s.push_str(&format!("gone: {} was not produced\n", path(file)));
                s.push_str(&suite::diff(&path(file), expected, ""));
            }
            Mismatch::Problem(p) => {
                s.push_str(p);
                if !p.ends_with('\n') {
                    s.push('\n');
                }
            }
        }
    }
    s
}

fn print_text(
    ctx: &Ctx,
    results: &[CaseResult],
    label: &dyn Fn(&CaseResult) -> String,
    bless: bool,
    unblessed: &[bool],
) {
    let mut out = std::io::stdout().lock();
    for (i, r) in results.iter().enumerate() {
        let status = if r.passed() {
            "ok"
        } else if bless && !unblessed[i] && r.mismatches.iter().all(Mismatch::pending) {
            "blessed"
        } else {
            "FAILED"
        };
        if r.passed() && ctx.quiet {
            continue;
        }
        let _ = writeln!(out, "{status:<7} {} ({:.1} ms)", label(r), r.millis);
    }
    let failing: Vec<&CaseResult> = results.iter().filter(|r| !r.passed()).collect();
    if failing.is_empty() || bless {
        return;
    }
    let _ = writeln!(out);
    for r in failing {
        let _ = writeln!(out, "== {} ({})", label(r), r.case.dir.display());
        let _ = write!(out, "{}", explain(r));
        let _ = writeln!(out);
    }
}

fn status(r: &CaseResult) -> &'static str {
    if r.passed() {
        "passed"
    } else {
        "failed"
    }
}

fn print_json(results: &[CaseResult], label: &dyn Fn(&CaseResult) -> String, secs: f64) {
    let cases: Vec<_> = results
        .iter()
        .map(|r| {
            json!({
                "name": label(r),
                "dir": r.case.dir.display().to_string(),
                "status": status(r),
                "millis": r.millis,
                "mismatches": r.mismatches.iter().map(|m| match m {
                    Mismatch::Differs { file, expected, got } => json!({"kind": "differs", "file": file, "diff": suite::diff(file, expected, got)}),
                    Mismatch::New { file, got } => json!({"kind": "new", "file": file, "got": got}),
                    Mismatch::Gone { file, .. } => json!({"kind": "gone", "file": file}),
                    Mismatch::Problem(p) => json!({"kind": "problem", "message": p}),
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed = results.iter().filter(|r| !r.passed()).count();
    let doc = json!({
        "version": 1,
        "passed": results.len() - failed,
        "failed": failed,
        "seconds": secs,
        "cases": cases,
    });
    super::outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

fn print_junit(results: &[CaseResult], label: &dyn Fn(&CaseResult) -> String, secs: f64) {
    let failed = results.iter().filter(|r| !r.passed()).count();
    let mut w = crate::xmlout::XmlOut::new();
    let r = (|| -> Result<(), crate::xmlout::WriteError> {
        w.start("testsuites")?;
        w.attr("tests", &results.len().to_string())?;
        w.attr("failures", &failed.to_string())?;
        w.attr("time", &format!("{secs:.3}"))?;
        w.start("testsuite")?;
        w.attr("name", "hvxform test")?;
        w.attr("tests", &results.len().to_string())?;
        w.attr("failures", &failed.to_string())?;
        w.attr("errors", "0")?;
        w.attr("time", &format!("{secs:.3}"))?;
        for r in results {
            w.start("testcase")?;
            // Names and outputs are data: what XML cannot hold is shown
            // as `\u{XXXX}` rather than losing the whole report.
            let safe = |s: &str| crate::xmlout::printable(s).into_owned();
            w.attr("classname", &safe(&r.case.suite.display().to_string()))?;
            w.attr("name", &safe(&label(r)))?;
            w.attr("time", &format!("{:.3}", r.millis / 1000.0))?;
            if !r.passed() {
                w.start("failure")?;
                let first = match &r.mismatches[0] {
                    Mismatch::Differs { file, .. } => format!("expected/{file} differs"),
                    Mismatch::New { file, .. } => format!("expected/{file} is new"),
                    Mismatch::Gone { file, .. } => format!("expected/{file} was not produced"),
                    Mismatch::Problem(p) => p.lines().next().unwrap_or("").to_string(),
                };
                w.attr("message", &safe(&first))?;
                w.text(&safe(&explain(r)))?;
                w.end();
            }
            w.end();
        }
        w.end();
        w.end();
        Ok(())
    })();
    match r.and_then(|_| w.finish()) {
        Ok(x) => super::out!("{x}"),
        Err(e) => eprintln!("error: writing the JUnit report: {e}"),
    }
}

/// Asks, case by case, whether to keep what a failing case produced.
/// Returns how many cases still fail.
fn review(
    results: &[CaseResult],
    label: &dyn Fn(&CaseResult) -> String,
    mut failed: usize,
) -> usize {
    let pending: Vec<&CaseResult> = results
        .iter()
        .filter(|r| !r.passed() && r.mismatches.iter().all(Mismatch::pending))
        .collect();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut accept_all = false;
    for (k, r) in pending.iter().enumerate() {
        super::outln!("\n== {} ({} of {})", label(r), k + 1, pending.len());
        super::out!("{}", explain(r));
        let choice = if accept_all {
            "a".to_string()
        } else {
            super::out!(
                "keep what it produced? [a]ccept, [r]eject, [s]kip, accept [A]ll, [q]uit: "
            );
            let _ = std::io::stdout().flush();
            match lines.next() {
                Some(Ok(l)) => l.trim().to_string(),
                _ => "q".to_string(),
            }
        };
        match choice.as_str() {
            "a" | "A" | "y" => {
                if choice == "A" {
                    accept_all = true;
                }
                match suite::bless(r) {
                    Ok(w) => {
                        failed -= 1;
                        for f in w {
                            super::outln!("accepted {f}");
                        }
                    }
                    Err(m) => super::outln!("error: {m}"),
                }
            }
            "q" => break,
            "r" => super::outln!("rejected: the expected files stay as they are"),
            _ => super::outln!("skipped"),
        }
    }
    failed
}
