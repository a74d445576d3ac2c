//! `hvxform run`: run one mapping file over one input, for mapping authors.

use std::path::PathBuf;

use clap::Args;

use super::{exit, Ctx};
use crate::compile::{self, FsResolver};
use crate::engine::EMBEDDED;
use crate::exec::{self, RunOptions};
use crate::platform::input;

/// Run a single mapping file over an input document and print its outputs
/// and what went unmapped (for mapping authors).
#[derive(Debug, Args)]
pub struct Run {
    /// The mapping (.hvx).
    pub mapping: PathBuf,
    /// The input document (XML, or .vmx / xl.cfg text, read in its canonical XML form).
    pub input: PathBuf,
    /// Mapping parameters.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = super::parse_param)]
    pub params: Vec<(String, String)>,
    /// Copy secret values into outputs.
    #[arg(long)]
    pub keep_secrets: bool,
    /// Session store (YAML) to look up and record session-table pairs in.
    #[arg(long, value_name = "FILE")]
    pub session: Option<PathBuf>,
    /// Run the mapping on a document of another platform than its `from`.
    #[arg(long)]
    pub force: bool,
}

impl Run {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let src = match compile::read_source(&self.mapping) {
            Ok(s) => s,
            Err(m) => {
                super::error(ctx, &m);
                return exit::INVALID;
            }
        };
        let (program, diags) = compile::compile(src, &FsResolver { embedded: EMBEDDED });
        for d in &diags.items {
            eprint!("{}", crate::render::human(d, ctx.color));
        }
        let Some(program) = program else {
            return exit::INVALID;
        };
        let name = self.input.display().to_string();
        let text = match input::read_text(&self.input) {
            Ok(t) => t,
            Err(e) => {
                super::error(ctx, &e.message);
                return exit::INVALID;
            }
        };
        // .vmx and xl.cfg inputs are read in their canonical XML form.
        let text = match crate::platform::to_xml(&name, &text, None) {
            Ok(t) => t,
            Err(m) => {
                super::error(ctx, &m);
                return exit::INVALID;
            }
        };
        let doc = match input::parse_xml(&name, &text)
            .map_err(|e| e.message)
            .and_then(|d| {
                if !self.force {
                    wrong_platform(&d, &program.from).map_err(|m| {
                        format!("{name}: {m}; `--force` runs the mapping on it anyway")
                    })?;
                }
                crate::tree::Document::from_roxml(&d).map_err(|m| format!("{name}: {m}"))
            }) {
            Ok(d) => d,
            Err(m) => {
                super::error(ctx, &m);
                return exit::INVALID;
            }
        };
        // A parameter value of the wrong type or outside its declared values
        // is a usage error, as for transform.
        let params = match exec::bind_params(&program, &self.params) {
            Ok(p) => p,
            Err(m) => {
                super::error(ctx, &m);
                return exit::CANNOT_RUN;
            }
        };
        let persisted = match super::session::Store::open(ctx, self.session.as_deref()) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let store = persisted.access();
        let opts = RunOptions {
            keep_secrets: self.keep_secrets,
            ..Default::default()
        };
        let result = exec::run(&program, &doc, &params, store, &opts);
        // Pairs minted by the run are saved before its output is printed.
        if result.is_ok() {
            if let Err(code) = persisted.commit(ctx) {
                return code;
            }
        }
        match result {
            Ok(o) => {
                for d in &o.documents {
                    if o.documents.len() > 1 || d.name.is_some() {
                        println!(
                            "<!-- document {} {} -->",
                            d.document,
                            d.name.as_deref().unwrap_or("")
                        );
                    }
                    print!("{}", d.xml);
                }
                for d in &o.dropped {
                    super::note(
                        ctx,
                        &format!(
                            "{name}:{}:{}: dropped {}: {} ({})",
                            d.line, d.col, d.path, d.reason, d.mapping
                        ),
                    );
                }
                for w in &o.warnings {
                    let m = format!("{} ({})", w.message, w.mapping);
                    if w.action {
                        super::action(ctx, &m);
                    } else {
                        super::warning(ctx, &m);
                    }
                }
                for u in &o.unmapped {
                    super::warning(
                        ctx,
                        &format!(
                            "{name}:{}:{}: unmapped {} {}: {}",
                            u.line, u.col, u.kind, u.path, u.reason
                        ),
                    );
                }
                exit::OK
            }
            Err(e) => {
                super::error(ctx, &format!("{name}: {e}"));
                exit::INVALID
            }
        }
    }
}

/// A document of a known platform other than the mapping's `from` (a
/// mapping of a platform hvxform does not know reads anything).
fn wrong_platform(doc: &roxmltree::Document, from: &str) -> Result<(), String> {
    let Ok(wanted) = crate::platform::by_name(from) else {
        return Ok(());
    };
    match crate::platform::platform_of_xml(doc) {
        Ok(p) if p.name != wanted.name => Err(format!(
            "this document is {} ({}), and the mapping reads {from} ({})",
            p.name, p.signature, wanted.signature
        )),
        _ => Ok(()),
    }
}
