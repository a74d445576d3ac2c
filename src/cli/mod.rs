//! The command line: one file per subcommand, each with `run(self, &Ctx)`
//! returning an exit code.

mod check;
mod command;
mod completions;
mod detect;
mod fmt;
mod platforms;
mod run;
mod serve;
mod session;
mod test;
mod transform;
mod write;

pub(crate) use run::{file_names as run_file_names, read_input};
pub(crate) use write::atomic_write;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Convert virtual-machine metadata between hypervisor platforms.
///
/// hvxform converts metadata, not disk images: convert images with qemu-img.
#[derive(Debug, Parser)]
#[command(
    name = "hvxform",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// When to use colour (NO_COLOR is respected with `auto`).
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Transform(transform::Transform),
    Check(check::Check),
    Run(run::Run),
    Test(test::Test),
    Fmt(fmt::Fmt),
    Command(command::Command),
    Session(session::Session),
    Serve(serve::Serve),
    Platforms(platforms::Platforms),
    Detect(detect::Detect),
    Completions(completions::Completions),
    Man(completions::Man),
}

/// What every subcommand gets: output settings.
pub struct Ctx {
    pub color: bool,
    pub quiet: bool,
    pub verbose: u8,
}

/// Exit codes, the same for every subcommand.
pub mod exit {
    /// Success (warnings alone are success).
    pub const OK: u8 = 0;
    /// Something the user gave was invalid or could not be converted.
    pub const INVALID: u8 = 1;
    /// The run itself could not proceed (flags, output directory).
    pub const CANNOT_RUN: u8 = 2;
}

impl Cli {
    pub fn run(self) -> ExitCode {
        let color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        let ctx = Ctx {
            color,
            quiet: self.quiet,
            verbose: self.verbose,
        };
        let mut code = match self.command {
            Command::Transform(c) => c.run(&ctx),
            Command::Check(c) => c.run(&ctx),
            Command::Run(c) => c.run(&ctx),
            Command::Test(c) => c.run(&ctx),
            Command::Fmt(c) => c.run(&ctx),
            Command::Command(c) => c.run(&ctx),
            Command::Session(c) => c.run(&ctx),
            Command::Serve(c) => c.run(&ctx),
            Command::Platforms(c) => c.run(&ctx),
            Command::Detect(c) => c.run(&ctx),
            Command::Completions(c) => c.run(&ctx),
            Command::Man(c) => c.run(&ctx),
        };
        // What was printed must have reached standard output: a full disk
        // or a closed pipe is an error, not a panic or a silent success.
        let flushed = std::io::Write::flush(&mut std::io::stdout());
        if let Some(e) = STDOUT_FAILED
            .get()
            .map(|e| e.to_string())
            .or(flushed.err().map(|e| e.to_string()))
        {
            error(&ctx, &format!("cannot write to standard output: {e}"));
            if code == exit::OK {
                code = exit::CANNOT_RUN;
            }
        }
        ExitCode::from(code)
    }
}

/// The first error writing to standard output (see [`write_out`]).
static STDOUT_FAILED: std::sync::OnceLock<std::io::Error> = std::sync::OnceLock::new();

/// Writes to standard output, as `print!` does, but an error (a full
/// disk, a closed pipe) is kept for [`Cli::run`] to report instead of a
/// panic; later writes are skipped.
pub fn write_out(args: std::fmt::Arguments) {
    if STDOUT_FAILED.get().is_some() {
        return;
    }
    if let Err(e) = std::io::Write::write_fmt(&mut std::io::stdout().lock(), args) {
        let _ = STDOUT_FAILED.set(e);
    }
}

/// Records an error writing to standard output (for [`Cli::run`]).
pub fn stdout_failed(e: std::io::Error) {
    let _ = STDOUT_FAILED.set(e);
}

/// `print!` that reports a failed write instead of panicking.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*)) };
}
/// `println!` that reports a failed write instead of panicking.
macro_rules! outln {
    () => { $crate::cli::write_out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($t)*))) };
}
pub(crate) use {out, outln};

/// `name=value` for `--param`.
pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, found `{s}`")),
    }
}

/// `--mappings DIR`: a folder that exists. A typo or a file named instead
/// would otherwise run the shipped mappings silently, not the user's.
pub fn parse_mappings_dir(s: &str) -> Result<std::path::PathBuf, String> {
    let p = std::path::PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(_) => Err(format!(
            "`{s}` is a file; --mappings names the folder of your mappings (the shipped ones are used where it has none)"
        )),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// A message as it may reach a terminal: control characters (C0 but tab,
/// DEL, C1) and bidirectional overrides, which can come from file names and
/// input values, written as `\u{1b}` escapes, so that no input moves the
/// cursor, recolours or reorders what the user reads. A line feed is kept
/// only where a message goes on in an indented line (`  at input 3:5`):
/// one from a file name (`b\nerror: fake.xml`) would start a line that
/// reads as another message.
pub fn terminal_safe(msg: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char, next: Option<char>) -> bool {
        (c.is_control() && c != '\t' && !(c == '\n' && matches!(next, None | Some(' '))))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    let mut chars = msg.chars().peekable();
    let mut clean = true;
    while let Some(c) = chars.next() {
        if unsafe_char(c, chars.peek().copied()) {
            clean = false;
            break;
        }
    }
    if clean {
        return std::borrow::Cow::Borrowed(msg);
    }
    let mut out = String::with_capacity(msg.len() + 8);
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        if unsafe_char(c, chars.peek().copied()) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Prints an error line to stderr.
pub fn error(ctx: &Ctx, msg: &str) {
    let msg = terminal_safe(msg);
    if ctx.color {
        eprintln!("\x1b[1;31merror\x1b[0m: {msg}");
    } else {
        eprintln!("error: {msg}");
    }
}

/// Prints an informational line to stderr unless quiet.
pub fn note(ctx: &Ctx, msg: &str) {
    if !ctx.quiet {
        eprintln!("note: {}", terminal_safe(msg));
    }
}

/// Prints a warning line to stderr unless quiet.
pub fn warning(ctx: &Ctx, msg: &str) {
    labelled(ctx, "warning", "1;33", msg);
}

/// Prints an action line (something the user must do, such as converting a
/// disk image) to stderr unless quiet.
pub fn action(ctx: &Ctx, msg: &str) {
    labelled(ctx, "action", "1;36", msg);
}

/// `label: msg` on stderr unless quiet, the label in `sgr` colour.
fn labelled(ctx: &Ctx, label: &str, sgr: &str, msg: &str) {
    if ctx.quiet {
        return;
    }
    let msg = terminal_safe(msg);
    if ctx.color {
        eprintln!("\x1b[{sgr}m{label}\x1b[0m: {msg}");
    } else {
        eprintln!("{label}: {msg}");
    }
}

/// One input file of a batch.
#[derive(Debug, Clone)]
pub(crate) struct InputFile {
    pub path: std::path::PathBuf,
    /// The folder its outputs go to, under `-o`: its folder relative to
    /// the folder given on the command line (`-r`), else empty.
    pub rel: std::path::PathBuf,
    /// Found in a folder rather than named on the command line: a file
    /// that describes no VM is skipped, not an error (unless `--strict`).
    pub listed: bool,
}

/// The files of `paths`: each file as given, and each folder's files
/// (sorted by name; hidden files left out). With `recursive`, the files of
/// its folders too (links to folders followed, each real folder listed
/// once), each with its folder relative to the one given; without, a
/// folder that has only folders inside is an error with a hint. A link to
/// nothing is listed, so that reading it fails instead of leaving it out
/// without a word. `skip`, the output folder, is not listed: outputs
/// written inside the input folder are not converted again next time.
pub(crate) fn expand_inputs(
    paths: &[std::path::PathBuf],
    recursive: bool,
    skip: Option<&std::path::Path>,
) -> Result<Vec<InputFile>, String> {
    use std::path::PathBuf;
    let skip = skip.and_then(|s| std::fs::canonicalize(s).ok());
    let mut inputs = Vec::new();
    for i in paths {
        if !i.is_dir() {
            inputs.push(InputFile {
                path: i.clone(),
                rel: PathBuf::new(),
                listed: false,
            });
            continue;
        }
        // Folders still to list, each with its path under `i`.
        let mut todo: Vec<(PathBuf, PathBuf)> = vec![(i.clone(), PathBuf::new())];
        // Real paths of the folders listed: a link back up is not a loop.
        let mut listed: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        let mut skipped_dirs = 0usize;
        let before = inputs.len();
        while let Some((dir, rel)) = todo.pop() {
            if recursive {
                let real = std::fs::canonicalize(&dir)
                    .map_err(|e| format!("{}: cannot read directory: {e}", dir.display()))?;
                if skip.as_ref() == Some(&real) && !rel.as_os_str().is_empty() {
                    continue;
                }
                if !listed.insert(real) {
                    continue;
                }
            }
            let rd = std::fs::read_dir(&dir)
                .map_err(|e| format!("{}: cannot read directory: {e}", dir.display()))?;
            let mut files = Vec::new();
            let mut dirs = Vec::new();
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name();
                if name.as_encoded_bytes().first() == Some(&b'.') {
                    continue;
                }
                let path = e.path();
                // The entry's type needs no `stat` unless it is a link.
                let t = e.file_type().ok();
                if t.is_some_and(|t| t.is_dir()) {
                    dirs.push((path, rel.join(&name)));
                } else if t.is_some_and(|t| t.is_file()) {
                    files.push((name, path));
                } else if t.is_some_and(|t| t.is_symlink()) {
                    match std::fs::metadata(&path) {
                        Ok(m) if m.is_dir() => dirs.push((path, rel.join(&name))),
                        Ok(m) if !m.is_file() => {}
                        // A file, or nothing: reading it says which.
                        _ => files.push((name, path)),
                    }
                }
            }
            // By name: the order of their paths (one folder), without
            // comparing the folder's components again at each step (a
            // tenth of the time a batch of 5,000 small files spent outside
            // converting).
            files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            inputs.extend(files.into_iter().map(|(_, path)| InputFile {
                path,
                rel: rel.clone(),
                listed: true,
            }));
            if recursive {
                // Popped in name order.
                dirs.sort();
                todo.extend(dirs.into_iter().rev());
            } else {
                skipped_dirs += dirs.len();
            }
        }
        if inputs.len() == before && skipped_dirs > 0 {
            return Err(format!(
                "{}: no files in this folder, only {skipped_dirs} folder(s); -r converts the files in folders inside it (the outputs mirror them)",
                i.display()
            ));
        }
        if inputs.len() == before {
            return Err(format!(
                "{}: no files in this folder{}: nothing to convert",
                i.display(),
                if recursive {
                    " or the folders inside it"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(inputs)
}

/// Standard input (`-`) named more than once is a usage error: it can be
/// read once, and the second reading would find it empty.
pub(crate) fn stdin_once<'a>(
    paths: impl Iterator<Item = &'a std::path::Path>,
) -> Result<(), String> {
    let stdin = paths.filter(|p| p.as_os_str() == "-").count();
    if stdin > 1 {
        return Err(format!(
            "standard input (`-`) is given {stdin} times: it can be read once"
        ));
    }
    Ok(())
}

/// An input given twice (the same file named twice, by any path, or a
/// folder and a file in it, or standard input twice) is a usage error: its
/// outputs would be written twice, and standard input can be read once.
pub(crate) fn no_input_twice(inputs: &[InputFile]) -> Result<(), String> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    stdin_once(inputs.iter().map(|i| i.path.as_path()))?;
    let mut seen: HashMap<PathBuf, &std::path::Path> = HashMap::with_capacity(inputs.len());
    // A folder's files come together: its real path is found once.
    let mut folder: Option<(&std::path::Path, PathBuf)> = None;
    for i in inputs.iter().filter(|i| i.path.as_os_str() != "-") {
        // Named files by their real path (they are few); a folder's files
        // by their folder's.
        let key = if i.listed {
            let parent = i.path.parent().unwrap_or(&i.path);
            let real = match &folder {
                Some((p, r)) if *p == parent => r.clone(),
                _ => {
                    let r = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
                    folder = Some((parent, r.clone()));
                    r
                }
            };
            real.join(i.path.file_name().unwrap_or_default())
        } else {
            std::fs::canonicalize(&i.path).unwrap_or_else(|_| i.path.clone())
        };
        if let Some(first) = seen.insert(key, &i.path) {
            return Err(if first == i.path {
                format!(
                    "{}: given twice; each input is converted once",
                    i.path.display()
                )
            } else {
                format!(
                    "{}: the same file as {}; each input is converted once",
                    i.path.display(),
                    first.display()
                )
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_terminal_without_control_characters() {
        assert!(matches!(
            terminal_safe("plain é\n  at input\tline\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        // A line feed that would start a line of its own (a file name's).
        assert_eq!(
            terminal_safe("b\nerror: fake.xml: kvm\n  at input 1:1"),
            "b\\u{a}error: fake.xml: kvm\n  at input 1:1"
        );
        assert_eq!(
            terminal_safe("/tmp/\u{1b}[31mred\u{7}.xml: \u{9b}2J \u{202e}gpj.exe \u{7f}"),
            "/tmp/\\u{1b}[31mred\\u{7}.xml: \\u{9b}2J \\u{202e}gpj.exe \\u{7f}"
        );
    }

    #[test]
    fn a_folder_lists_its_files_by_name_and_links_to_nothing_too() {
        let dir = std::env::temp_dir().join(format!("hvx-expand-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (fleet, other) = (dir.join("fleet"), dir.join("other"));
        std::fs::create_dir_all(fleet.join("sub")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        for n in [
            "b.xml",
            "a.xml",
            "a-b.xml",
            "B.xml",
            ".hidden.xml",
            "sub/c.xml",
        ] {
            std::fs::write(fleet.join(n), "<domain/>").unwrap();
        }
        std::fs::write(other.join("t.xml"), "<domain/>").unwrap();
        std::os::unix::fs::symlink(other.join("t.xml"), fleet.join("link.xml")).unwrap();
        std::os::unix::fs::symlink(&other, fleet.join("linkdir")).unwrap();
        std::os::unix::fs::symlink(dir.join("gone"), fleet.join("dangling.xml")).unwrap();
        let names = |v: Vec<InputFile>| -> Vec<String> {
            v.iter()
                .map(|f| f.path.strip_prefix(&fleet).unwrap().display().to_string())
                .collect()
        };
        // A link back up: listed once.
        std::os::unix::fs::symlink(&fleet, fleet.join("sub").join("up")).unwrap();
        let flat = expand_inputs(std::slice::from_ref(&fleet), false, None).unwrap();
        // Byte order of the names, as the paths sort; the hidden file and
        // the folders left out, the link to nothing kept (reading it fails).
        assert_eq!(
            names(flat),
            [
                "B.xml",
                "a-b.xml",
                "a.xml",
                "b.xml",
                "dangling.xml",
                "link.xml"
            ]
        );
        let deep = expand_inputs(std::slice::from_ref(&fleet), true, None).unwrap();
        assert_eq!(
            names(deep),
            [
                "B.xml",
                "a-b.xml",
                "a.xml",
                "b.xml",
                "dangling.xml",
                "link.xml",
                "linkdir/t.xml",
                "sub/c.xml"
            ]
        );
        // The output folder inside is not listed.
        let out =
            expand_inputs(std::slice::from_ref(&fleet), true, Some(&fleet.join("sub"))).unwrap();
        assert!(!names(out).iter().any(|n| n.starts_with("sub/")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
