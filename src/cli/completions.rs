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

/// Print the man page (roff): hvxform(1), or one subcommand's page.
#[derive(Debug, Args)]
pub struct Man {
    /// The subcommand whose page to print (`transform`, `session`, ...).
    pub command: Option<String>,
    /// Write every page (hvxform.1, hvxform-transform.1, ...) into this folder.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<std::path::PathBuf>,
}

/// The EXIT STATUS section every page has (book: Command line).
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
0
Success. Warnings, actions and unmapped input alone are success (unless \fB\-\-deny\-loss\fR).
.TP
1
Bad input: an input, mapping or session file is invalid or could not be converted.
.TP
2
The run could not proceed: a usage error (unknown option, platform or parameter, a parameter value of the wrong type or outside its declared values) or an output folder or report that cannot be written.
"#;

/// The commands with a page of their own: the top command, then every
/// subcommand (named `hvxform-transform`, `hvxform-session-show`, ...).
fn pages() -> Vec<clap::Command> {
    fn walk(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
        out.push(cmd.clone());
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out);
    out
}

/// One page in roff: clap's sections, and the exit status before the version.
fn render(cmd: clap::Command, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let has_subs = cmd.get_subcommands().next().is_some();
    let man = clap_mangen::Man::new(cmd);
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    if has_subs {
        man.render_subcommands_section(w)?;
    }
    w.write_all(EXIT_STATUS.as_bytes())?;
    man.render_version_section(w)
}

impl Man {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let pages = pages();
        if let Some(dir) = &self.dir {
            if let Err(e) = std::fs::create_dir_all(dir) {
                super::error(
                    ctx,
                    &format!("{}: cannot create the folder: {e}", dir.display()),
                );
                return exit::CANNOT_RUN;
            }
            for cmd in pages {
                let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
                let mut text = Vec::new();
                let r = render(cmd, &mut text)
                    .and_then(|()| super::write::atomic_write(&dir.join(&name), &text));
                if let Err(e) = r {
                    super::error(ctx, &format!("{}: cannot write {name}: {e}", dir.display()));
                    return exit::CANNOT_RUN;
                }
            }
            return exit::OK;
        }
        let wanted = match &self.command {
            None => "hvxform".to_string(),
            Some(c) => format!("hvxform-{}", c.replace(' ', "-")),
        };
        let Some(cmd) = pages
            .into_iter()
            .find(|c| c.get_display_name().unwrap_or(c.get_name()) == wanted)
        else {
            super::error(
                ctx,
                &format!(
                    "no subcommand `{}`; `hvxform --help` lists them",
                    self.command.unwrap_or_default()
                ),
            );
            return exit::CANNOT_RUN;
        };
        if let Err(e) = render(cmd, &mut std::io::stdout().lock()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return exit::OK;
            }
            super::error(ctx, &format!("cannot write the man page: {e}"));
            return exit::CANNOT_RUN;
        }
        exit::OK
    }
}
