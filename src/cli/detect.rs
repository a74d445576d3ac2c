//! `hvxform detect`: the platform of each file, and why.

use std::path::PathBuf;

use clap::Args;

use super::{exit, Ctx};
use crate::platform::{self, input};

/// Print the platform of each file and the evidence for it.
#[derive(Debug, Args)]
pub struct Detect {
    /// Files to inspect (a directory: each file in it).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also the files in folders inside the folders given.
    #[arg(long, short = 'r')]
    pub recursive: bool,
}

impl Detect {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let mut code = exit::OK;
        let files = match super::expand_inputs(&self.files, self.recursive, None) {
            Ok(v) => v,
            Err(m) => {
                super::error(ctx, &m);
                return exit::INVALID;
            }
        };
        if let Err(m) = super::stdin_once(files.iter().map(|f| f.path.as_path())) {
            super::error(ctx, &m);
            return exit::CANNOT_RUN;
        }
        for f in files.iter().map(|f| &f.path) {
            let name = f.display().to_string();
            let r = input::read_text(f)
                .map_err(|e| e.message)
                .and_then(|t| platform::detect(&name, &t));
            match r {
                Ok((p, why)) => {
                    super::outln!("{}: {} ({why})", super::terminal_safe(&name), p.name)
                }
                Err(m) => {
                    super::error(ctx, &m);
                    code = exit::INVALID;
                }
            }
        }
        code
    }
}
