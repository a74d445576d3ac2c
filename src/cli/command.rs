//! `hvxform command`: translate a command for a VM (power, CPUs, memory,
//! devices) into another platform's commands. See book: Commands.

use std::path::PathBuf;

use clap::Args;

use super::{exit, Ctx};
use crate::command as cmd;
use crate::engine::Mappings;
use crate::platform::{self, input};

/// Translate a command for a VM into another platform's commands.
///
/// Commands that mean the same on every VM (power on, set memory) are
/// translated directly; commands that name devices need the VM's current
/// configuration (--context), in the source platform's format.
#[derive(Debug, Args)]
pub struct Command {
    /// The command document: a vSphere method (ReconfigVM_Task, PowerOnVM_Task, …)
    /// as a SOAP envelope or its body element.
    pub input: PathBuf,
    /// Target platform (kvm, or hvx for the hub's command vocabulary).
    #[arg(long, value_name = "PLATFORM")]
    pub to: String,
    /// The VM's current configuration, in the command's platform's format
    /// (vSphere: a VirtualMachineConfigInfo, with its device keys).
    #[arg(long, value_name = "VM-FILE")]
    /// Repeat it for both sides of a route whose two platforms name devices
    /// their own way (vSphere → Hyper-V: each VM's configuration).
    pub context: Vec<PathBuf>,
    /// After translating, apply the command to the --context file too
    /// (atomically), so the next command is translated against the changed
    /// VM.
    #[arg(long, requires = "context")]
    pub update_context: bool,
    /// Say on stderr which path each command took (direct, or through the
    /// VM's configuration) and which rule translated it.
    #[arg(long)]
    pub explain: bool,
    /// Print the translated commands as a shell script (kvm: virsh calls).
    #[arg(long)]
    pub script: bool,
    /// The libvirt connection URI the script's virsh calls use.
    #[arg(long, value_name = "URI", default_value = "qemu:///system")]
    pub connect: String,
    /// Write the translation to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Mapping parameters (hvx-to-kvm: domain=NAME).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = super::parse_param)]
    pub params: Vec<(String, String)>,
    /// Session store: a YAML file, or a PostgreSQL database
    /// (`postgres://USER@HOST[:PORT]/DB`; the password from PGPASSWORD).
    #[arg(long, value_name = "FILE|URL")]
    pub session: Option<PathBuf>,
    /// Directory of mappings that override the built-in ones
    /// (`commands/vsphere-to-hvx.hvx`, `commands/hvx-to-kvm.hvx`).
    #[arg(long, value_name = "DIR", value_parser = super::parse_mappings_dir)]
    pub mappings: Option<PathBuf>,
}

impl Command {
    pub fn run(self, ctx: &Ctx) -> u8 {
        match self.translate(ctx) {
            Ok(()) => exit::OK,
            Err(code) => code,
        }
    }

    fn translate(&self, ctx: &Ctx) -> Result<(), u8> {
        let fail = |m: &str, code: u8| {
            super::error(ctx, m);
            code
        };
        let target = platform::by_name(&self.to).map_err(|m| fail(&m, exit::CANNOT_RUN))?;
        if self.script && target.name != "kvm" {
            return Err(fail(
                "--script prints virsh calls: use it with --to kvm",
                exit::CANNOT_RUN,
            ));
        }
        // The translation must not replace a file the run reads or keeps.
        if let Some(o) = self
            .output
            .as_deref()
            .and_then(super::write::real_file_path)
        {
            // (A store that is a file; a PostgreSQL URL is none.)
            let store = super::write::store_file(self.session.as_deref())
                .and(self.session.as_deref())
                .map(|s| (s, "the session store"));
            let read = std::iter::once((self.input.as_path(), "the command"))
                .chain(self.context.iter().map(|c| (c.as_path(), "the context")))
                .chain(store);
            for (p, what) in read {
                if super::write::real_file_path(p).as_ref() == Some(&o) {
                    return Err(fail(
                        &format!(
                            "{}: the translation would replace {what} {}; give -o another path",
                            self.output.as_deref().unwrap_or(p).display(),
                            p.display()
                        ),
                        exit::CANNOT_RUN,
                    ));
                }
            }
        }
        let name = self.input.display().to_string();
        let text = input::read_text(&self.input).map_err(|e| fail(&e.message, exit::INVALID))?;
        let mut ctx_texts = Vec::new();
        for p in &self.context {
            let t = input::read_text(p).map_err(|e| fail(&e.message, exit::INVALID))?;
            ctx_texts.push((p.display().to_string(), t));
        }
        let mappings = Mappings::new(self.mappings.clone());
        let persisted = super::session::Store::open(ctx, self.session.as_deref())?;
        let done = cmd::translate_text(
            &mappings,
            &name,
            &text,
            &ctx_texts,
            target,
            &self.params,
            persisted.access(),
        )
        .map_err(|e| match e {
            cmd::TranslateError::Mapping(e) => {
                for d in &e.diagnostics.items {
                    eprint!("{}", crate::render::human(d, ctx.color));
                }
                fail(
                    &format!("mapping {} does not compile", e.name),
                    exit::INVALID,
                )
            }
            cmd::TranslateError::Usage(m) => fail(&m, exit::CANNOT_RUN),
            cmd::TranslateError::Invalid(m) => fail(&m, exit::INVALID),
        })?;
        let (source, t) = (done.source, done.translation);
        for w in &t.warnings {
            let m = if w.mapping.is_empty() {
                w.message.clone()
            } else {
                format!("{} ({})", w.message, w.mapping)
            };
            if w.action {
                super::action(ctx, &m);
            } else {
                super::warning(ctx, &m);
            }
        }
        let (paths, mut out) = (t.paths, t.output);
        // The context as the command leaves it: changed by whichever side
        // of the route is its platform.
        let mut updated = Vec::new();
        if self.update_context {
            for ((path, (n, _)), (p, ctext)) in
                self.context.iter().zip(&ctx_texts).zip(&done.contexts)
            {
                let commands = if p.name == source.name {
                    done.command.as_str()
                } else {
                    out.as_str()
                };
                let new = cmd::update_context(p.name, ctext, commands).map_err(|m| {
                    fail(
                        &format!("{n}: cannot update the context: {m}"),
                        exit::INVALID,
                    )
                })?;
                updated.push((path.clone(), new));
            }
        }
        if self.explain {
            for (file, p) in &paths {
                let how = match &p.needs {
                    None => "direct".to_string(),
                    Some(why) => format!("uses the VM's configuration: {why}"),
                };
                // The request wrapper is hvxform's, not the user's.
                let path = p
                    .input
                    .path
                    .strip_prefix("/hvx:request")
                    .unwrap_or(&p.input.path);
                eprintln!(
                    "{name}:{}:{}: {path} → {how} (rule {}; mapping {file})",
                    p.input.line, p.input.col, p.mapping
                );
            }
        }
        if self.script {
            out = cmd::virsh_script(&out, &self.connect)
                .map_err(|m| fail(&format!("internal: {m}"), exit::INVALID))?;
        }
        persisted.commit(ctx)?;
        match &self.output {
            Some(p) => super::write::atomic_write(p, out.as_bytes()).map_err(|e| {
                fail(
                    &format!("{}: cannot write: {e}", p.display()),
                    exit::CANNOT_RUN,
                )
            })?,
            None => super::out!("{out}"),
        }
        for (p, new) in updated {
            super::write::atomic_write(&p, new.as_bytes()).map_err(|e| {
                fail(
                    &format!(
                        "{}: cannot update the context: {e} (the translation was written)",
                        p.display()
                    ),
                    exit::CANNOT_RUN,
                )
            })?;
        }
        Ok(())
    }
}
