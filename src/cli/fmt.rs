//! `hvxform fmt`: lay mapping files out canonically (see `crate::fmt`).

use std::path::PathBuf;

use clap::Args;

use super::{exit, Ctx};

/// Lay out mapping files (.hvx) canonically: indentation by structure,
/// no trailing spaces, single blank lines; comments and strings kept.
#[derive(Debug, Args)]
pub struct Fmt {
    /// Mapping files, or folders of them (searched at any depth).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Change nothing: list the files that are not laid out canonically,
    /// with a diff, and exit 1 if there are any (for CI).
    #[arg(long)]
    pub check: bool,
}

impl Fmt {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let mut files = Vec::new();
        for p in &self.paths {
            if let Err(m) = collect(p, &mut files) {
                super::error(ctx, &m);
                return exit::CANNOT_RUN;
            }
        }
        if files.is_empty() {
            super::error(ctx, "no .hvx files found");
            return exit::CANNOT_RUN;
        }
        let (mut changed, mut failed) = (0, 0);
        for f in &files {
            let name = f.display().to_string();
            let src = match crate::compile::read_source(f) {
                Ok(s) => s,
                Err(m) => {
                    super::error(ctx, &m);
                    failed += 1;
                    continue;
                }
            };
            // A file that does not parse is not laid out: its errors first.
            if let Err(d) = crate::syntax::parse(&src) {
                let (f, l, c) = d.location();
                super::error(
                    ctx,
                    &format!("{f}:{l}:{c}: {}; the file is left as it is", d.message),
                );
                failed += 1;
                continue;
            }
            let out = match crate::fmt::format(&src.text) {
                Ok(o) => o,
                Err(m) => {
                    super::error(ctx, &format!("{name}: {m}"));
                    failed += 1;
                    continue;
                }
            };
            if out == src.text {
                continue;
            }
            changed += 1;
            if self.check {
                super::outln!("{name}: not formatted");
                super::out!("{}", crate::suite::diff(&name, &src.text, &out));
            } else if let Err(e) = super::write::atomic_write(f, out.as_bytes()) {
                super::error(ctx, &format!("{name}: cannot write: {e}"));
                failed += 1;
            } else if !ctx.quiet {
                eprintln!("formatted {name}");
            }
        }
        if !ctx.quiet {
            let verb = if self.check { "to format" } else { "formatted" };
            eprintln!(
                "{} file(s): {changed} {verb}, {} already formatted{}",
                files.len(),
                files.len() - changed - failed.min(files.len() - changed),
                if failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                }
            );
        }
        if failed > 0 || (self.check && changed > 0) {
            exit::INVALID
        } else {
            exit::OK
        }
    }
}

/// `.hvx` files under `p` (or `p` itself), sorted; hidden folders skipped.
fn collect(p: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let rd = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if e.is_dir() {
            collect(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "hvx") {
            out.push(e);
        }
    }
    Ok(())
}
