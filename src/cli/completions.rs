//! `hvxform completions SHELL` and `hvxform man`, generated from the same clap
//! definitions as the parser.

use clap::{Args, CommandFactory};

use super::{exit, Cli, Ctx};

/// Print a shell completion script.
#[derive(Debug, Args)]
pub struct Completions {
    /// The shell.
    pub shell: clap_complete::Shell,
}

impl Completions {
    pub fn run(self, _ctx: &Ctx) -> u8 {
        let mut cmd = Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "hvxform", &mut std::io::stdout());
        exit::OK
    }
}

/// Print the man page (roff).
#[derive(Debug, Args)]
pub struct Man {}

impl Man {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let man = clap_mangen::Man::new(Cli::command());
        if let Err(e) = man.render(&mut std::io::stdout()) {
            super::error(ctx, &format!("cannot write the man page: {e}"));
            return exit::CANNOT_RUN;
        }
        exit::OK
    }
}
