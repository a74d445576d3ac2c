//! `hvxform check`: parse and compile mapping files, print every diagnostic.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{exit, Ctx};
use crate::compile::{self, FsResolver};
use crate::diag::{Diagnostic, Severity};
use crate::engine::{Mappings, EMBEDDED};

/// Check mapping files: syntax, names, types, unused definitions.
///
/// Without PATHs, checks every shipped mapping (and those in --mappings).
/// Exit 0 when clean, 1 when there are diagnostics that fail the check,
/// 2 when a file cannot be read.
#[derive(Debug, Args)]
pub struct Check {
    /// Mapping files or directories (every *.hvx inside, libraries under lib/ excluded).
    pub paths: Vec<PathBuf>,
    /// Also check the mappings in this directory.
    #[arg(long, value_name = "DIR", value_parser = super::parse_mappings_dir)]
    pub mappings: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also the pedantic lints: warnings that hold for many correct
    /// mappings (hvx::maybe-empty: an attribute always written from a path,
    /// `a=""` when the path selects nothing).
    #[arg(long)]
    pub pedantic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Sarif,
}

/// The `.hvx` files under `dir` and the folders inside it (as `fmt` finds
/// them: sorted, hidden entries skipped).
fn hvx_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            hvx_files(&p, out)?;
        } else if p.is_file() && p.extension().is_some_and(|x| x == "hvx") {
            out.push(p);
        }
    }
    Ok(())
}

impl Check {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let mut sources = Vec::new();
        let mut files = Vec::new();
        // Files found in a folder (not named): a library among them is
        // checked through the mappings that use it, in their context.
        let mut walked = std::collections::HashSet::new();
        for p in self.paths.iter().chain(self.mappings.iter()) {
            if p.is_dir() {
                let before = files.len();
                if let Err(e) = hvx_files(p, &mut files) {
                    super::error(ctx, &format!("{}: cannot read directory: {e}", p.display()));
                    return exit::CANNOT_RUN;
                }
                walked.extend(files[before..].iter().cloned());
                // A CI gate that checked nothing must not pass.
                if files.len() == before {
                    super::error(
                        ctx,
                        &format!(
                            "{}: no .hvx files in this folder or the folders inside it",
                            p.display()
                        ),
                    );
                    return exit::CANNOT_RUN;
                }
            } else {
                files.push(p.clone());
            }
        }
        // A file that is not UTF-8 is a diagnostic like any other, and the
        // other files are still checked.
        let mut unreadable = Vec::new();
        for f in &files {
            match compile::read_source_checked(f) {
                Ok(s) if walked.contains(f) && compile::is_library(&s) => {}
                Ok(s) => sources.push(s),
                Err(compile::SourceError::Invalid(d)) => {
                    unreadable.push((f.display().to_string(), d))
                }
                Err(compile::SourceError::Unreadable(m)) => {
                    super::error(ctx, &m);
                    return exit::CANNOT_RUN;
                }
            }
        }
        if self.paths.is_empty() {
            let m = Mappings::new(None);
            for (name, _) in EMBEDDED.iter().filter(|(n, _)| !n.starts_with("lib/")) {
                if let Some(s) = m.source(name) {
                    sources.push(s);
                }
            }
        }
        let resolver = FsResolver { embedded: EMBEDDED };
        let mut diags: Vec<Diagnostic> = Vec::new();
        let mut names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        for (name, d) in unreadable {
            names.push(name);
            diags.push(*d);
        }
        for s in sources {
            let d = if compile::is_library(&s) {
                compile::check_library_with(s, &resolver, self.pedantic)
            } else {
                compile::compile_with(s, &resolver, self.pedantic).1
            };
            diags.extend(d.items);
        }
        let errors = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = diags.len() - errors;
        match self.format {
            Format::Human => {
                for d in &diags {
                    eprint!("{}", crate::render::human(d, ctx.color));
                }
                if !ctx.quiet {
                    eprintln!(
                        "checked {} mapping(s): {errors} error(s), {warnings} warning(s)",
                        names.len()
                    );
                }
            }
            Format::Json => super::outln!(
                "{}",
                serde_json::to_string_pretty(&crate::render::json_report(&names, &diags))
                    .unwrap_or_default()
            ),
            Format::Github => {
                for d in &diags {
                    super::outln!("{}", crate::render::github(d));
                }
            }
            Format::Sarif => super::outln!(
                "{}",
                serde_json::to_string_pretty(&crate::render::sarif(&diags)).unwrap_or_default()
            ),
        }
        if errors > 0 || (self.deny_warnings && warnings > 0) {
            exit::INVALID
        } else {
            exit::OK
        }
    }
}
