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
    #[arg(long, value_name = "DIR")]
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
        if !matches!(target.name, "kvm" | "vsphere" | "hyperv" | "ec2" | "hvx") {
            return Err(fail(
                &format!(
                    "translating commands to {} is not implemented yet (targets: kvm, vsphere, hyperv, ec2, hvx)",
                    target.name
                ),
                exit::INVALID,
            ));
        }
        if self.script && target.name != "kvm" {
            return Err(fail(
                "--script prints virsh calls: use it with --to kvm",
                exit::CANNOT_RUN,
            ));
        }
        let name = self.input.display().to_string();
        let text = input::read_text(&self.input).map_err(|e| fail(&e.message, exit::INVALID))?;
        // Hyper-V's calls are read in their canonical form.
        let text = match cmd::canonical(&name, &text).map_err(|m| fail(&m, exit::INVALID))? {
            Some(t) => t,
            None => text,
        };
        let doc = input::parse_xml(&name, &text).map_err(|e| {
            // A body cut out of its SOAP envelope loses the envelope's
            // declaration of xsi, which vim25 bodies use.
            let hint = if e.message.contains("unknown namespace prefix 'xsi'") {
                "\n  hint: this body uses the xsi prefix its SOAP envelope declared: give the whole envelope, or add xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" to the method element"
            } else {
                ""
            };
            fail(&format!("{}{hint}", e.message), exit::INVALID)
        })?;
        let (command, source) = cmd::command_element(&doc)
            .and_then(|c| cmd::source_of(c).map(|p| (c, p)))
            .map_err(|m| fail(&format!("{name}:{m}"), exit::INVALID))?;
        // The contexts: the VM's documents, each in the source's or the
        // target's format.
        let mut ctx_texts = Vec::new();
        for p in &self.context {
            let n = p.display().to_string();
            let t = input::read_text(p).map_err(|e| fail(&e.message, exit::INVALID))?;
            let t = platform::to_xml(&n, &t, None)
                .map_err(|m| fail(&m, exit::INVALID))?
                .into_owned();
            ctx_texts.push((p.clone(), n, t));
        }
        let mut ctx_docs = Vec::new();
        for (_, n, t) in &ctx_texts {
            let d = input::parse_xml(n, t).map_err(|e| fail(&e.message, exit::INVALID))?;
            let p = platform::platform_of_xml(&d)
                .map_err(|m| fail(&format!("{n}: {m}"), exit::INVALID))?;
            if p.name != source.name && p.name != target.name {
                return Err(fail(
                    &format!(
                        "{n}: the context is a {} document; a {} command translated to {} needs the VM's configuration as {} or {} reports it",
                        p.name, source.name, target.name, source.name, target.name
                    ),
                    exit::INVALID,
                ));
            }
            ctx_docs.push((d, p));
        }
        let roots: Vec<_> = ctx_docs.iter().map(|(d, _)| d.root_element()).collect();
        let request = cmd::request(command, &roots)
            .map_err(|m| fail(&format!("{name}: {m}"), exit::INVALID))?;

        let mappings = Mappings::new(self.mappings.clone());
        let persisted = super::session::Store::open(ctx, self.session.as_deref())?;
        let t = cmd::translate(
            &mappings,
            &name,
            &request,
            !ctx_docs.is_empty(),
            source,
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
            for ((path, n, ctext), (_, p)) in ctx_texts.iter().zip(&ctx_docs) {
                let commands = if p.name == source.name {
                    text.as_str()
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
            None => print!("{out}"),
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
