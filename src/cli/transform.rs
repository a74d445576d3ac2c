//! `hvxform transform`: convert inputs to one or more target platforms.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use serde_json::json;

use super::write::{atomic_write, probe_writable, real_file_path, write_all_or_nothing, Reaper};
use super::{exit, Ctx};
use crate::engine::{self, Convert, ConvertError, Findings, Mappings, Produced};
use crate::exec::RunOptions;
use crate::platform::{self, input, Platform};

/// Version of the `--report` JSON format.
pub const REPORT_VERSION: u32 = 1;

/// Convert VM metadata to other platforms.
///
/// Each input's platform is detected from its content (or given with --from).
/// With one input and one output document and no -o, the document goes to
/// stdout; otherwise -o DIR is required and files are named
/// <input-stem>.<target>.<ext> (web.vsphere.xml), or <input-stem>.<ext>
/// where the extension names the target (web.ovf, web.hvx.xml).
#[derive(Debug, Args)]
pub struct Transform {
    /// Input files or folders (every file inside; files that describe no
    /// VM, such as a README, are skipped with a note).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Also convert the files in folders inside the folders given; the
    /// outputs mirror the folders under -o.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// A file in a folder that describes no VM is an error, not skipped.
    #[arg(long)]
    pub strict: bool,
    /// Target platform(s): kvm, vsphere, ovf, hvx, ... (comma-separated or repeated).
    #[arg(long, short = 't', required = true, value_delimiter = ',')]
    pub to: Vec<String>,
    /// Source platform (skips detection).
    #[arg(long)]
    pub from: Option<String>,
    /// Output directory.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Directory of mappings that add to or override the shipped ones.
    #[arg(long, value_name = "DIR", value_parser = super::parse_mappings_dir)]
    pub mappings: Option<PathBuf>,
    /// Convert through the hvx hub even where a direct mapping
    /// (e.g. kvm-to-vsphere) exists.
    #[arg(long)]
    pub via_hub: bool,
    /// Mapping parameter (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = super::parse_param)]
    pub params: Vec<(String, String)>,
    /// Session store: a YAML file, or a PostgreSQL database
    /// (`postgres://USER@HOST[:PORT]/DB`; the password from PGPASSWORD).
    #[arg(long, value_name = "FILE|URL")]
    pub session: Option<PathBuf>,
    /// Write the full loss report as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Treat unmapped input as an error.
    #[arg(long)]
    pub deny_loss: bool,
    /// Print on stderr, for each input and each mapping of its route, where
    /// each output node came from and which rules fired (as `run --trace`).
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text")]
    pub trace: Option<super::run::TraceFormat>,
    /// Copy secret values (passwords, guestinfo.*) into outputs.
    #[arg(long)]
    pub keep_secrets: bool,
    /// Do not carry the original in outputs whose platform has a channel
    /// for it (vSphere: `extraConfig` `hvx.carry.*`), nor restore what an
    /// input carries (book: The hub, carried data).
    #[arg(long)]
    pub no_carry: bool,
    /// Flush every output file to disk before renaming it into place
    /// (writes are atomic either way; this makes them durable too).
    #[arg(long)]
    pub sync: bool,
}

struct Done {
    input: PathBuf,
    /// Its outputs' folder under `-o`.
    rel: PathBuf,
    /// Found in a folder (see [`super::InputFile`]).
    listed: bool,
    result: Result<(Vec<Produced>, Findings), String>,
    /// What a conversion refused by --deny-loss found (for -v and the
    /// report: what was lost).
    denied: Option<Box<Findings>>,
    /// Set when the findings were cut down after writing ([`compact`]):
    /// how many actions and other warnings there were.
    tally: Option<Tally>,
}

#[derive(Debug, Clone, Copy)]
struct Tally {
    actions: usize,
    warnings: usize,
}

impl Transform {
    pub fn run(self, ctx: &Ctx) -> u8 {
        // A name hvxform does not know is a platform of the user's own when
        // a mapping in --mappings DIR converts to or from it.
        let find = |name: &str| {
            platform::by_name(name).or_else(|m| {
                self.mappings
                    .as_deref()
                    .and_then(|d| platform::user_platform(name, d))
                    .ok_or_else(|| match &self.mappings {
                        // A typo of a known name: the suggestion says it all.
                        _ if m.contains("did you mean") => m.clone(),
                        Some(d) => format!(
                            "{m}; no mapping in {} converts to or from `{name}`",
                            d.display()
                        ),
                        None => format!(
                            "{m}; a platform of your own needs its mappings in --mappings DIR (`hvx-to-{name}.hvx`, `kvm-to-{name}.hvx`, ...)"
                        ),
                    })
            })
        };
        let mut targets = Vec::new();
        for t in &self.to {
            match find(t.trim()) {
                Ok(p) if !p.implemented => {
                    super::error(
                        ctx,
                        &format!(
                            "writing {} is not implemented yet; `hvxform platforms` lists what is",
                            p.name
                        ),
                    );
                    return exit::CANNOT_RUN;
                }
                Ok(p) => {
                    if !targets.contains(&p) {
                        targets.push(p);
                    }
                }
                Err(m) => {
                    super::error(ctx, &m);
                    return exit::CANNOT_RUN;
                }
            }
        }
        let from: Option<&'static Platform> = match self.from.as_deref().map(find) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(m)) => {
                super::error(ctx, &m);
                return exit::CANNOT_RUN;
            }
        };
        let inputs =
            match super::expand_inputs(&self.inputs, self.recursive, self.output.as_deref()) {
                Ok(v) => v,
                Err(m) => {
                    super::error(ctx, &m);
                    return exit::INVALID;
                }
            };
        if let Err(m) = super::no_input_twice(&inputs) {
            super::error(ctx, &m);
            return exit::CANNOT_RUN;
        }
        if let Some(dir) = &self.output {
            // `-o -` would make a folder named `-`: stdout is what -o's
            // absence means.
            if dir.as_os_str() == "-" {
                super::error(
                    ctx,
                    "-o -: without -o the outputs go to stdout; -o names a directory",
                );
                return exit::CANNOT_RUN;
            }
            if dir.exists() && !dir.is_dir() {
                super::error(
                    ctx,
                    &format!(
                        "{}: is a file, not a directory: -o names the directory the outputs are written to",
                        dir.display()
                    ),
                );
                return exit::CANNOT_RUN;
            }
            if let Err(e) = std::fs::create_dir_all(dir) {
                super::error(
                    ctx,
                    &format!("{}: cannot create output directory: {e}", dir.display()),
                );
                return exit::CANNOT_RUN;
            }
            if let Err(e) = probe_writable(dir) {
                super::error(
                    ctx,
                    &format!("{}: output directory is not writable: {e}", dir.display()),
                );
                return exit::CANNOT_RUN;
            }
        }
        // The report is written last: a report that cannot be written is
        // found before anything is converted or written.
        if let Some(r) = &self.report {
            if let Err(m) = report_writable(r) {
                super::error(
                    ctx,
                    &format!("{}: cannot write the report: {m}", r.display()),
                );
                return exit::CANNOT_RUN;
            }
            if real_file_path(r)
                .is_some_and(|r| Some(r) == super::write::store_file(self.session.as_deref()))
            {
                super::error(
                    ctx,
                    &format!(
                        "{}: the report would replace the session store; give the report another path",
                        r.display()
                    ),
                );
                return exit::CANNOT_RUN;
            }
            if let Some(i) = report_is_input(r, &inputs) {
                super::error(
                    ctx,
                    &format!(
                        "{}: the report would replace input {}; give the report another path",
                        r.display(),
                        i.display()
                    ),
                );
                return exit::CANNOT_RUN;
            }
        }
        // Kept until the process ends: freeing the compiled programs one node
        // at a time costs 6 % of a one-document run, and the system frees
        // them at once (`transform` runs once per process).
        let mappings: &Mappings = Box::leak(Box::new(
            Mappings::new(self.mappings.clone()).via_hub(self.via_hub),
        ));
        // With --session, the store is locked and loaded here and stays
        // locked until the run ends; it is saved before any output that
        // needs what was minted is written (book: Session tables).
        let persisted = match super::session::Store::open(ctx, self.session.as_deref()) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let store = persisted.access();
        let conv = Convert {
            mappings,
            params: self.params.clone(),
            sessions: store,
            run: RunOptions {
                keep_secrets: self.keep_secrets,
                carry: !self.no_carry,
                detail: ctx.verbose > 0 || self.report.is_some() || self.deny_loss,
                trace: self.trace.is_some(),
                ..Default::default()
            },
        };
        // Unknown --param names, and values of the wrong type or outside the
        // declared values, are usage errors.
        for (n, _) in &self.params {
            let declared = engine::EMBEDDED
                .iter()
                .filter(|(f, _)| !f.starts_with("lib/"))
                .filter_map(|(f, _)| mappings.program(f).ok())
                .any(|p| p.params.iter().any(|d| &d.name == n));
            if !declared {
                super::error(ctx, &format!("no mapping declares the parameter `{n}`"));
                return exit::CANNOT_RUN;
            }
        }
        // A parameter of another route (`--to kvm --param hardware_version=…`)
        // would be ignored: say so.
        if !self.params.is_empty() {
            let sources: Vec<&'static Platform> = match from {
                Some(p) => vec![p],
                None => platform::PLATFORMS
                    .iter()
                    .filter(|p| p.implemented)
                    .collect(),
            };
            let mut on_route: Vec<String> = Vec::new();
            for s in &sources {
                for t in &targets {
                    if let Ok(files) = mappings.route(s, t) {
                        on_route.extend(files.iter().cloned());
                    }
                }
            }
            for (n, v) in &self.params {
                let mut used = false;
                for p in on_route.iter().filter_map(|f| mappings.program(f).ok()) {
                    if !p.params.iter().any(|d| &d.name == n) {
                        continue;
                    }
                    used = true;
                    if let Err(m) = crate::exec::bind_params(&p, &[(n.clone(), v.clone())]) {
                        super::error(ctx, &format!("{m} (mapping {})", p.name));
                        return exit::CANNOT_RUN;
                    }
                }
                if !used {
                    let to: Vec<&str> = targets.iter().map(|t| t.name).collect();
                    super::warning(
                        ctx,
                        &format!(
                            "--param {n}: no mapping on the route to {} declares it; it is not used",
                            to.join(", ")
                        ),
                    );
                }
            }
        }

        let saver = persisted.saver();
        // The report and the outputs, as real paths: a report in the output
        // folder is checked against every output name before any is
        // written, so those outputs are not streamed.
        let report_at = self.report.as_deref().and_then(real_file_path);
        let real_out = self
            .output
            .as_deref()
            .and_then(|o| std::fs::canonicalize(o).ok());
        let report_among_outputs =
            matches!((&report_at, &real_out), (Some(r), Some(o)) if r.starts_with(o));
        let stream_to = self.output.as_deref().filter(|_| {
            !report_among_outputs && streams(&inputs, self.output.as_deref(), saver.is_none())
        });
        // A file found in a folder that describes no VM is skipped.
        let skip = |d: &Done| {
            d.listed
                && !self.strict
                && matches!(&d.result, Err(m) if crate::platform::is_not_a_vm(m))
        };
        let reaper = self
            .output
            .as_deref()
            .map(Reaper::for_dir)
            .unwrap_or_default();
        let progress = progress_bar(ctx, inputs.len());
        let (results, streamed) = convert_all(
            &conv,
            &inputs,
            from,
            &targets,
            self.deny_loss,
            stream_to.map(|dir| Stream {
                dir,
                sync: self.sync,
                reaper: &reaper,
                save_first: saver.as_ref().and_then(|s| s.as_deref()),
                // What the summary lists in full: every finding with -v,
                // --report or --trace; otherwise counts and actions.
                all_findings: ctx.verbose > 0 || self.report.is_some() || self.trace.is_some(),
            }),
            &progress,
        );
        progress.finish_and_clear();
        drop(saver);
        // Saved before any output is written (outputs written while
        // converting were each preceded by a save: see `Stream`). If no input
        // converted, no output will use what was minted, and the store is
        // left as it was.
        let mut store_failed = None;
        if results.iter().any(|d| d.result.is_ok()) {
            if let Err(code) = persisted.commit(ctx) {
                if streamed.is_none() {
                    return code;
                }
                // Outputs were written as the batch went (each after a save
                // that held what it uses): say which, then fail.
                store_failed = Some(code);
            }
        }

        // Name every output and find collisions before writing anything,
        // unless the outputs were written while converting (see `streams`).
        let mut failures = 0usize;
        let mut planned: Vec<(usize, Planned)> = Vec::new();
        let mut errors: Vec<Option<String>> = vec![None; results.len()];
        let mut written: HashMap<usize, Vec<String>> = HashMap::new();
        let mut stale: HashMap<usize, Vec<String>> = HashMap::new();
        if let Some(streamed) = streamed {
            for (k, r) in streamed.into_iter().enumerate() {
                match r {
                    Some(Ok((names, left))) => {
                        written.insert(k, names);
                        if !left.is_empty() {
                            stale.insert(k, left);
                        }
                    }
                    Some(Err(m)) => errors[k] = Some(m),
                    None => {}
                }
            }
        } else {
            let mut by_name: HashMap<PathBuf, usize> = HashMap::new();
            let out_dir = self.output.as_deref();
            // Every input by its real path, made when an output already exists.
            let mut real_inputs: Option<HashMap<PathBuf, usize>> = None;
            let store = super::write::store_file(self.session.as_deref());
            for (k, d) in results.iter().enumerate() {
                let Ok((docs, _)) = &d.result else {
                    continue;
                };
                let planned_files = match plan_files(&d.input, docs) {
                    Ok(f) => f,
                    Err(m) => {
                        errors[k] = Some(m);
                        continue;
                    }
                };
                for (n, _) in &planned_files.files {
                    let at = d.rel.join(n);
                    let real = out_dir.and_then(|o| std::fs::canonicalize(o.join(&at)).ok());
                    let replaced = real.as_ref().and_then(|t| {
                        real_inputs
                            .get_or_insert_with(|| real_input_paths(&results))
                            .get(t)
                            .copied()
                    });
                    if report_among_outputs && real_out.as_ref().map(|o| o.join(&at)) == report_at {
                        super::error(
                            ctx,
                            &format!(
                                "{}: the report would replace output `{}`; give the report another path",
                                self.report.as_deref().unwrap_or(Path::new("")).display(),
                                at.display()
                            ),
                        );
                        return exit::CANNOT_RUN;
                    }
                    if real.is_some() && real == store {
                        errors[k] = Some(format!(
                            "{}: output `{}` would replace the session store; give another output folder with -o",
                            d.input.display(),
                            at.display()
                        ));
                    } else if let Some(i) = replaced {
                        errors[k] = Some(overwrites_input(&d.input, &at, &results[i].input));
                    } else if let Some(&other) = by_name.get(&at) {
                        let n = at.display().to_string();
                        errors[k] = Some(clash(&d.input, &n, &results[other].input));
                        errors[other] = Some(clash(&results[other].input, &n, &d.input));
                    } else {
                        by_name.insert(at, k);
                    }
                }
                planned.push((k, planned_files));
            }
        }
        let total_docs: usize = planned.iter().map(|(_, f)| f.files.len()).sum();
        let to_stdout = self.output.is_none();
        if to_stdout && (results.len() != 1 || total_docs > 1) {
            super::error(
                ctx,
                &format!(
                    "{} output documents: give an output directory with -o DIR",
                    total_docs.max(2)
                ),
            );
            return exit::CANNOT_RUN;
        }
        let mut made: Option<PathBuf> = None;
        let mut earlier = Earlier::default();
        for (k, files) in planned {
            if errors[k].is_some() {
                continue;
            }
            if to_stdout {
                let mut out = std::io::stdout().lock();
                for (_, xml) in &files.files {
                    if let Err(e) = out.write_all(xml.as_bytes()).and_then(|()| out.flush()) {
                        super::stdout_failed(e);
                        return exit::CANNOT_RUN;
                    }
                }
                continue;
            }
            let rel = &results[k].rel;
            let dir = self.output.as_ref().expect("checked above").join(rel);
            match write_in_folder(&dir, &files, self.sync, &reaper, &mut made, &mut earlier) {
                Ok(left) => {
                    written.insert(k, files.files.iter().map(|(n, _)| shown(rel, n)).collect());
                    if !left.is_empty() {
                        stale.insert(k, left.iter().map(|n| shown(rel, n)).collect());
                    }
                }
                Err(m) => errors[k] = Some(format!("{}: {m}", results[k].input.display())),
            }
        }

        let mut unmapped_total = 0usize;
        let mut skipped = 0usize;
        let (mut actions, mut warnings) = (0usize, 0usize);
        let mut report_inputs = Vec::new();
        for (k, d) in results.iter().enumerate() {
            let name = d.input.display().to_string();
            if skip(d) {
                skipped += 1;
                super::note(
                    ctx,
                    &format!(
                        "skipped {name}: {} (--strict makes this an error)",
                        crate::platform::NOT_A_VM
                    ),
                );
                if self.report.is_some() {
                    report_inputs.push(json!({"input": name, "ok": true, "skipped": true, "error": null, "outputs": [], "unmapped": [], "dropped": [], "warnings": []}));
                }
                continue;
            }
            let err = match &d.result {
                Err(m) => Some(m.clone()),
                Ok(_) => errors[k].clone(),
            };
            if err.is_none() {
                for at in stale.get(&k).into_iter().flatten() {
                    super::warning(ctx, &stale_warning(at, &d.input));
                }
            }
            let findings = match &d.result {
                Ok((_, f)) => Some(f),
                Err(_) => d.denied.as_deref(),
            };
            if let (Some(f), Some(t)) = (findings, self.trace) {
                // One trace per mapping of the route, in the order they ran.
                let mut k = 0;
                while k < f.trace.len() {
                    let stage = &f.trace[k].0.mapping;
                    let n = f.trace[k..]
                        .iter()
                        .take_while(|(s, _)| &s.mapping == stage)
                        .count();
                    let events: Vec<_> = f.trace[k..k + n].iter().map(|(_, e)| e.clone()).collect();
                    super::run::print_trace(t, &name, Some(stage), &events);
                    k += n;
                }
            }
            if let Some(f) = findings {
                // Only what was written counts.
                if err.is_none() {
                    unmapped_total += f.unmapped_count;
                }
                if ctx.verbose > 0 {
                    for (s, u) in &f.unmapped {
                        super::warning(
                            ctx,
                            &format!(
                                "{name}: unmapped ({}, {}) {}{}: {}",
                                s.reads,
                                s.mapping,
                                crate::exec::at(u.line, u.col),
                                u.path,
                                u.reason
                            ),
                        );
                    }
                }
                if err.is_none() {
                    for (_, w) in &f.warnings {
                        if w.action {
                            actions += 1;
                            // Shown by default, up to a bound (all with -v).
                            if ctx.verbose > 0 || actions <= MAX_ACTIONS_SHOWN {
                                super::action(ctx, &format!("{name}: {}", w.message));
                            }
                        } else {
                            warnings += 1;
                            if ctx.verbose > 0 {
                                super::warning(ctx, &format!("{name}: {}", w.message));
                            }
                        }
                    }
                    // Cut down after writing ([`compact`]): only the actions
                    // that may be shown were kept; the rest is counted.
                    if let Some(t) = d.tally {
                        actions += t.actions - f.warnings.len();
                        warnings += t.warnings;
                    }
                }
            }
            if let Some(m) = &err {
                failures += 1;
                super::error(ctx, m);
            }
            if self.report.is_none() {
                continue;
            }
            report_inputs.push(json!({
                "input": name,
                "ok": err.is_none(),
                "error": err,
                "outputs": written.get(&k).cloned().unwrap_or_default(),
            }));
            if let (Some(left), Some(o)) = (
                stale.get(&k).filter(|_| err.is_none()),
                report_inputs.last_mut().and_then(|e| e.as_object_mut()),
            ) {
                o.insert("stale".into(), json!(left));
            }
            let f = findings
                .map(Findings::to_json)
                .unwrap_or_else(|| Findings::default().to_json());
            if let (Some(entry), serde_json::Value::Object(f)) = (report_inputs.last_mut(), f) {
                if let Some(o) = entry.as_object_mut() {
                    o.extend(f.into_iter().filter(|(k, _)| k != "unmapped_count"));
                }
            }
        }
        if let Some(r) = &self.report {
            let doc = json!({"version": REPORT_VERSION, "inputs": report_inputs});
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            if let Err(e) = atomic_write(r, text.as_bytes()) {
                super::error(
                    ctx,
                    &format!("{}: cannot write the report: {e}", r.display()),
                );
                return exit::CANNOT_RUN;
            }
        }
        if !ctx.quiet {
            let ok = results.len() - failures - skipped;
            let mut line = format!("{ok} of {} input(s) converted", results.len() - skipped);
            if skipped > 0 {
                line.push_str(&format!(
                    "; {skipped} file(s) skipped (not VM descriptions)"
                ));
            }
            if actions > 0 {
                line.push_str(&format!("; {actions} action(s) to take"));
                if actions > MAX_ACTIONS_SHOWN && ctx.verbose == 0 {
                    line.push_str(&format!(
                        " (the first {MAX_ACTIONS_SHOWN} above; -v or --report FILE lists all)"
                    ));
                } else {
                    line.push_str(" (above)");
                }
            }
            if warnings > 0 && ctx.verbose == 0 {
                line.push_str(&format!("; {warnings} warning(s) (-v shows them)"));
            } else if warnings > 0 {
                line.push_str(&format!("; {warnings} warning(s)"));
            }
            if unmapped_total > 0 {
                line.push_str(&format!(
                    "; {unmapped_total} input node(s) unmapped (see --report FILE, or -v)"
                ));
            }
            eprintln!("{line}");
        }
        // Folders whose every file was skipped: nothing was converted.
        let nothing = skipped > 0 && skipped == results.len();
        if nothing {
            super::error(
                ctx,
                &format!(
                    "nothing to convert: the {skipped} file(s) found describe no VM{}",
                    if self.recursive {
                        ""
                    } else {
                        " (-r converts the files in folders inside a folder)"
                    }
                ),
            );
        }
        if let Some(code) = store_failed {
            code
        } else if failures > 0 || nothing {
            exit::INVALID
        } else {
            exit::OK
        }
    }
}

/// Whether the report file can be written: not a folder, and its folder
/// exists and takes new files.
pub(super) fn report_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a folder".into());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!("no folder {}", dir.display()));
    }
    probe_writable(dir).map_err(|e| e.to_string())
}

/// The progress bar of a batch: drawn on stderr when it is a terminal, the
/// batch has at least [`PROGRESS_FROM`] inputs and -q is not given; hidden
/// (drawing nothing) otherwise.
fn progress_bar(ctx: &Ctx, inputs: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if ctx.quiet || inputs < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(inputs as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} input(s) converted, {per_sec}, {eta} left",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Batches of fewer inputs get no progress bar.
const PROGRESS_FROM: usize = 20;

/// How many actions a run prints without -v.
const MAX_ACTIONS_SHOWN: usize = 50;

/// Stack size of conversion workers.
const WORKER_STACK: usize = 64 << 20;

/// What writing one input's outputs gave: the names written and those left
/// from an earlier run ([`Earlier`]), or the error.
type Written = Result<(Vec<String>, Vec<String>), String>;

/// Converts every input on one worker per core. With `stream_to`, a writer
/// thread writes each input's outputs as soon as it is converted (one thread
/// only: files created in one directory from several threads at once cost
/// the file system far more), and the second result says, per input, what
/// writing gave (`None`: nothing to write).
/// Where and how [`convert_all`] writes outputs as it goes.
struct Stream<'s> {
    dir: &'s Path,
    sync: bool,
    reaper: &'s Reaper,
    /// Saves the session store: called before any output is written, so no
    /// output names an identifier the store does not hold. Outputs then wait
    /// in memory until [`held_limit`] bytes of them (or the last) are
    /// converted, and one save covers them all. Returns the bytes it wrote
    /// (0: nothing to save).
    save_first: Option<&'s (dyn Fn() -> Result<usize, String> + Sync)>,
    /// Keep each written input's findings whole (see [`compact`]).
    all_findings: bool,
}

/// What the summary after a batch needs of a written input's findings
/// when it lists neither every finding (-v) nor a report or trace: how many
/// nodes went unmapped, how many actions and warnings there were, and the
/// actions' messages while the summary may still show them (it shows the
/// first [`MAX_ACTIONS_SHOWN`], in input order: `before` actions are known
/// to come before this input's). Kept whole, the findings of a batch of
/// small documents were a third of its memory (2.4 KB each), and grew with
/// the number of inputs.
fn compact(f: &mut Findings, before: usize) -> Tally {
    let actions = f.warnings.iter().filter(|(_, w)| w.action).count();
    let tally = Tally {
        actions,
        warnings: f.warnings.len() - actions,
    };
    f.unmapped = Vec::new();
    f.dropped = Vec::new();
    f.hits = Vec::new();
    f.trace = Vec::new();
    if before >= MAX_ACTIONS_SHOWN {
        f.warnings = Vec::new();
    } else {
        f.warnings.retain(|(_, w)| w.action);
        f.warnings.shrink_to_fit();
    }
    tally
}

/// Sums over the inputs written so far, by input index (a Fenwick tree):
/// how many actions come before an input among those already written.
struct Counts(Vec<usize>);

impl Counts {
    fn add(&mut self, k: usize, n: usize) {
        let mut i = k + 1;
        while i < self.0.len() {
            self.0[i] += n;
            i += i & i.wrapping_neg();
        }
    }

    /// The sum over inputs `0..k`.
    fn before(&self, k: usize) -> usize {
        let (mut i, mut sum) = (k, 0);
        while i > 0 {
            sum += self.0[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }
}

/// Outputs held for one save of the session store (then saved and
/// written): [`HELD_BYTES`], or eight times what the last save wrote when
/// that is more, so that saving a large store costs at most an eighth of
/// writing the outputs; never more than [`HELD_MAX`], so a batch's memory
/// stays bounded however many inputs it has. Held outputs are memory the
/// allocator cannot reuse until they are written: on a batch of 5,000
/// small domains with a 1,000-pair store, 2 MiB rather than 16 MiB took 3 %
/// less CPU and half the peak memory (book: Performance).
fn held_limit(last_save: usize) -> usize {
    last_save.saturating_mul(8).clamp(HELD_BYTES, HELD_MAX)
}
const HELD_BYTES: usize = 2 << 20;
const HELD_MAX: usize = 32 << 20;
/// Converted inputs a worker has not handed to the writer yet: sent when
/// there are enough, and when the worker stops (or panics).
struct Ready<'a> {
    tx: &'a std::sync::mpsc::Sender<Vec<usize>>,
    ks: Vec<usize>,
}

impl Ready<'_> {
    fn send(&mut self) {
        if !self.ks.is_empty() {
            // The writer is gone only if it panicked: nothing to do then.
            let _ = self.tx.send(std::mem::take(&mut self.ks));
        }
    }
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.send();
    }
}

/// A worker hands converted inputs to the writer this many at a time, or
/// sooner when their outputs reach [`SEND_BYTES`].
const SEND_EVERY: usize = 32;
const SEND_BYTES: usize = 1 << 20;

fn convert_all(
    conv: &Convert,
    inputs: &[super::InputFile],
    from: Option<&'static Platform>,
    targets: &[&'static Platform],
    deny_loss: bool,
    stream_to: Option<Stream>,
    progress: &indicatif::ProgressBar,
) -> (Vec<Done>, Option<Vec<Option<Written>>>) {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Done>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());
    let written: Mutex<Vec<Option<Written>>> =
        Mutex::new((0..inputs.len()).map(|_| None).collect());
    let lock = |m| -> std::sync::MutexGuard<'_, Vec<Option<Done>>> {
        Mutex::lock(m).unwrap_or_else(|e| e.into_inner())
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len().max(1));
    std::thread::scope(|outer| {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<usize>>();
        if let Some(st) = &stream_to {
            let (results, written) = (&results, &written);
            let (dir, sync, reaper, save_first) = (st.dir, st.sync, st.reaper, st.save_first);
            let all_findings = st.all_findings;
            let mut counts = Counts(vec![0; inputs.len() + 1]);
            outer.spawn(move || {
                // Converted, not written yet (waiting for a save of the store).
                let mut held: Vec<(usize, Done)> = Vec::new();
                let mut held_bytes = 0;
                let mut limit = HELD_BYTES;
                let mut made: Option<PathBuf> = None;
                let mut earlier = Earlier::default();
                let mut flush = |held: &mut Vec<(usize, Done)>| {
                    let saved = match save_first {
                        Some(save) if held.iter().any(|(_, d)| d.result.is_ok()) => save(),
                        _ => Ok(0),
                    };
                    let wrote = *saved.as_ref().unwrap_or(&0);
                    for (k, mut done) in held.drain(..) {
                        let w = done.result.as_ref().ok().map(|(docs, _)| {
                            let input = done.input.display();
                            if let Err(m) = &saved {
                                return Err(format!(
                                    "{input}: not written: the session store could not be saved first: {m}"
                                ));
                            }
                            let planned = plan_files(&done.input, docs)?;
                            let at = dir.join(&done.rel);
                            let shown_all = |names: &mut dyn Iterator<Item = &String>| -> Vec<String> {
                                names.map(|n| shown(&done.rel, n)).collect()
                            };
                            write_in_folder(&at, &planned, sync, reaper, &mut made, &mut earlier)
                                .map(|stale| {
                                    (
                                        shown_all(&mut planned.files.iter().map(|(n, _)| n)),
                                        shown_all(&mut stale.iter()),
                                    )
                                })
                                .map_err(|m| format!("{input}: {m}"))
                        });
                        // Only written inputs' actions are listed (and counted).
                        let ok = matches!(w, Some(Ok(_)));
                        written.lock().unwrap_or_else(|e| e.into_inner())[k] = w;
                        // Written (or failed): the documents are not needed
                        // any more, so memory stays bounded.
                        if let Ok((docs, f)) = &mut done.result {
                            *docs = Vec::new();
                            if !all_findings {
                                let t = compact(f, counts.before(k));
                                if ok {
                                    counts.add(k, t.actions);
                                }
                                done.tally = Some(t);
                            }
                        }
                        lock(results)[k] = Some(done);
                    }
                    wrote
                };
                for ks in rx {
                    for k in ks {
                        let Some(done) = lock(results)[k].take() else {
                            continue;
                        };
                        if let Ok((docs, _)) = &done.result {
                            held_bytes += docs.iter().map(|d| d.xml.len()).sum::<usize>();
                        }
                        held.push((k, done));
                        if save_first.is_none() || held_bytes >= limit {
                            let wrote = flush(&mut held);
                            if wrote > 0 {
                                limit = held_limit(wrote);
                            }
                            held_bytes = 0;
                        }
                    }
                }
                flush(&mut held);
            });
        }
        let work = || {
            // Converted inputs go to the writer a few at a time: one wake-up
            // (a futex call and, on one core, two context switches) per
            // document cost 3 % of a batch of small ones. What a worker
            // holds is sent when it is dropped, even by a panic, so nothing
            // converted goes unwritten.
            let mut ready = Ready {
                tx: &tx,
                ks: Vec::new(),
            };
            let mut ready_bytes = 0;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= inputs.len() {
                    break;
                }
                let file = &inputs[k];
                let (result, denied) = match convert_one(conv, &file.path, from, targets, deny_loss)
                {
                    Ok(r) => (Ok(r), None),
                    Err((m, f)) => (Err(m), f),
                };
                if let Ok((docs, _)) = &result {
                    ready_bytes += docs.iter().map(|d| d.xml.len()).sum::<usize>();
                }
                lock(&results)[k] = Some(Done {
                    tally: None,
                    input: file.path.clone(),
                    rel: file.rel.clone(),
                    listed: file.listed,
                    result,
                    denied,
                });
                progress.inc(1);
                if stream_to.is_some() {
                    ready.ks.push(k);
                    if ready.ks.len() >= SEND_EVERY || ready_bytes >= SEND_BYTES {
                        ready.send();
                        ready_bytes = 0;
                    }
                }
            }
            // The writer only stops when every sender is gone; the rest of
            // `ready` goes as it is dropped.
        };
        std::thread::scope(|s| {
            // Generous stacks: compiling a mapping and converting a document
            // recurse over their nesting (bounded by MAX_NESTING and MAX_DEPTH).
            let started = (0..workers)
                .filter(|_| {
                    std::thread::Builder::new()
                        .stack_size(WORKER_STACK)
                        .spawn_scoped(s, work)
                        .is_ok()
                })
                .count();
            if started == 0 {
                work();
            }
        });
        drop(tx);
    });
    let results = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();
    let written = stream_to.map(|_| written.into_inner().unwrap_or_else(|e| e.into_inner()));
    (results, written)
}

/// The output files of one converted input: names (checked, and distinct
/// within the input) and contents.
fn plan_files<'d>(input: &Path, docs: &'d [Produced]) -> Result<Planned<'d>, String> {
    let stem = engine::stem(input);
    let names =
        engine::output_names(&stem, docs).map_err(|m| format!("{}: {m}", input.display()))?;
    let mut files: Vec<(String, &str)> = Vec::with_capacity(docs.len());
    for (name, p) in names.into_iter().zip(docs) {
        if files.iter().any(|(n, _)| *n == name) {
            return Err(clash(input, &name, input));
        }
        files.push((name, p.xml.as_str()));
    }
    let json = docs
        .iter()
        .find(|p| p.json)
        .map(|p| format!("{stem}.{}.", p.target));
    Ok(Planned { files, json })
}

/// One input's output files, and the prefix of its JSON documents' names
/// (`<stem>.<target>.`), when it has any.
struct Planned<'d> {
    files: Vec<(String, &'d str)>,
    json: Option<String>,
}

/// What output folders held before this run wrote into them, each listed
/// once, when an input with JSON documents is first written there. A JSON
/// document of an input (`<stem>.<target>.<name>.json`: EC2's ImportImage
/// request per disk) that is there and that this run did not write is left
/// from an earlier run, for a disk removed since, say, and `aws ec2
/// import-image` would still run it: each is named in a warning.
#[derive(Default)]
struct Earlier(HashMap<PathBuf, Vec<String>>);

impl Earlier {
    /// The files in `dir` left from an earlier run of this input's JSON
    /// documents (`prefix`), sorted. Listed before this input is written.
    fn stale(&mut self, dir: &Path, prefix: Option<&str>, files: &[(String, &str)]) -> Vec<String> {
        let Some(prefix) = prefix else {
            return Vec::new();
        };
        let names = self.0.entry(dir.to_path_buf()).or_insert_with(|| {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            v.sort_unstable();
            v
        });
        let from = names.partition_point(|n| n.as_str() < prefix);
        names[from..]
            .iter()
            .take_while(|n| n.starts_with(prefix))
            .filter(|n| n.ends_with(".json") && !files.iter().any(|(f, _)| f == *n))
            .cloned()
            .collect()
    }
}

/// The warning for an output left from an earlier run.
fn stale_warning(at: &str, input: &Path) -> String {
    format!(
        "{at}: left from an earlier run: this run wrote {}'s documents without it; remove it, or it may be taken for one of them",
        input.display()
    )
}

/// Creates an output folder (and the folders above it) if needed.
fn make_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Writes one input's outputs into `dir`, making the folder first unless it
/// is `made`, the folder made last (inputs of one folder come in a row: not
/// a `mkdir` and a `stat` per output), and again when it was removed since.
fn write_in_folder(
    dir: &Path,
    planned: &Planned,
    sync: bool,
    reaper: &Reaper,
    made: &mut Option<PathBuf>,
    earlier: &mut Earlier,
) -> Result<Vec<String>, String> {
    let files = &planned.files;
    if made.as_deref() != Some(dir) {
        make_dir(dir)?;
        *made = Some(dir.to_path_buf());
    }
    let stale = earlier.stale(dir, planned.json.as_deref(), files);
    match write_all_or_nothing(dir, files, sync, reaper) {
        Err(_) if !dir.is_dir() => {
            make_dir(dir)?;
            write_all_or_nothing(dir, files, sync, reaper)
        }
        wrote => wrote,
    }
    .map(|()| stale)
}

/// An output's path as reported: its folder under `-o`, then its name.
fn shown(rel: &Path, name: &str) -> String {
    if rel.as_os_str().is_empty() {
        name.to_string()
    } else {
        rel.join(name).display().to_string()
    }
}

/// The error of `input` whose output `at` would replace input `other` (its
/// own, or another of the run's).
fn overwrites_input(input: &Path, at: &Path, other: &Path) -> String {
    let whose = if input == other {
        "this input".to_string()
    } else {
        format!("input {}", other.display())
    };
    format!(
        "{}: output `{}` would replace {whose}; give another output folder with -o",
        input.display(),
        at.display()
    )
}

/// The real path of every input that exists, to the input's index.
fn real_input_paths(results: &[Done]) -> HashMap<PathBuf, usize> {
    results
        .iter()
        .enumerate()
        .filter_map(|(k, r)| Some((std::fs::canonicalize(&r.input).ok()?, k)))
        .collect()
}

/// The input the report file `r` is, if it is one.
fn report_is_input<'i>(r: &Path, inputs: &'i [super::InputFile]) -> Option<&'i Path> {
    let real = std::fs::canonicalize(r).ok()?;
    inputs
        .iter()
        .find(|i| std::fs::canonicalize(&i.path).ok().as_ref() == Some(&real))
        .map(|i| i.path.as_path())
}

/// The error of an input whose output `name` another input (or itself) also has.
fn clash(input: &Path, name: &str, other: &Path) -> String {
    let hint = if input.parent() != other.parent() {
        " (to convert several folders, give their parent folder with -r: the outputs mirror the folders)"
    } else {
        ""
    };
    format!(
        "{}: output `{name}` would also be written for {}{hint}",
        input.display(),
        other.display()
    )
}

/// Can each input's outputs be written as soon as it is converted? Only when
/// no two inputs can produce the same output name, which depends on their
/// file names alone: every name is `STEM.` followed by more, so two inputs
/// collide only if their stems are equal or one is the other plus `.` and
/// more. Then collisions can only be within one input, and those are found
/// before that input is written. With a session store, outputs wait until
/// the store is saved; to stdout, there is one output.
fn streams(inputs: &[super::InputFile], output: Option<&Path>, saved_last: bool) -> bool {
    if output.is_none() || saved_last || inputs.len() < 2 {
        return false;
    }
    // Outputs in the input's own folder could replace an input: those are
    // found when every name is known.
    if let Some(o) = output.and_then(|o| std::fs::canonicalize(o).ok()) {
        // Inputs mostly share folders: each folder resolved once.
        let mut resolved: std::collections::HashMap<&Path, Option<PathBuf>> =
            std::collections::HashMap::new();
        for f in inputs {
            let parent = f.path.parent().filter(|p| !p.as_os_str().is_empty());
            let parent = parent.unwrap_or(Path::new("."));
            let real = resolved
                .entry(parent)
                .or_insert_with(|| std::fs::canonicalize(parent).ok());
            if real.as_ref().is_some_and(|p| *p == o.join(&f.rel)) {
                return false;
            }
        }
    }
    // Stems with their folder under -o: only outputs in one folder can meet.
    let stems: Vec<String> = inputs
        .iter()
        .map(|f| shown(&f.rel, &engine::stem(&f.path)))
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(stems.len());
    if !stems.iter().all(|s| seen.insert(s.as_str())) {
        return false;
    }
    // No stem may be another one followed by `.` and more.
    stems
        .iter()
        .all(|t| t.match_indices('.').all(|(i, _)| !seen.contains(&t[..i])))
}

/// Why an input was not converted, and for one --deny-loss refused, what
/// its conversion found.
type Refused = (String, Option<Box<Findings>>);

fn convert_one(
    conv: &Convert,
    path: &Path,
    from: Option<&'static Platform>,
    targets: &[&'static Platform],
    deny_loss: bool,
) -> Result<(Vec<Produced>, Findings), Refused> {
    let name = path.display().to_string();
    let text = input::read_text(path).map_err(|e| (e.message, None))?;
    let (docs, findings) = conv
        .convert(&name, &text, from, targets)
        .map_err(|e| match e {
            ConvertError::Run { mapping, error } => {
                format!("{name}: conversion failed in {mapping}: {error}")
            }
            ConvertError::Mapping(m) => {
                let mut s = format!("mapping {} does not compile:", m.name);
                for d in &m.diagnostics.items {
                    let (f, l, c) = d.location();
                    s.push_str(&format!("\n  {f}:{l}:{c}: {}", d.message));
                }
                s
            }
            other => other.to_string(),
        })
        .map_err(|m| (m, None))?;
    if deny_loss && findings.unmapped_count > 0 {
        let (s, u) = &findings.unmapped[0];
        let m = format!(
            "{name}: {} input node(s) unmapped and --deny-loss is set; first: {}{} ({}, {})",
            findings.unmapped_count,
            crate::exec::at(u.line, u.col),
            u.path,
            s.reads,
            s.mapping
        );
        return Err((m, Some(Box::new(findings))));
    }
    Ok((docs, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<super::super::InputFile> {
        names
            .iter()
            .map(|n| super::super::InputFile {
                path: PathBuf::from(n),
                rel: PathBuf::new(),
                listed: false,
            })
            .collect()
    }

    #[test]
    fn counts_before_an_input_sum_the_inputs_written_before_it() {
        // Written out of order, as two workers hand them over.
        let mut c = Counts(vec![0; 11]);
        for (k, n) in [(3, 2), (0, 1), (9, 5), (4, 0), (1, 7)] {
            c.add(k, n);
        }
        let expect = |k: usize| {
            [(0, 1), (1, 7), (3, 2), (4, 0), (9, 5)]
                .iter()
                .filter(|(j, _)| *j < k)
                .map(|(_, n)| n)
                .sum::<usize>()
        };
        for k in 0..=10 {
            assert_eq!(c.before(k), expect(k), "before {k}");
        }
    }

    #[test]
    fn a_store_is_saved_before_any_output_and_outputs_are_not_all_held() {
        // 24 inputs of about 1 MB: their outputs pass HELD_BYTES, so the
        // writer saves and writes before the batch ends, and saves again
        // before writing the rest.
        let dir = std::env::temp_dir().join(format!("hvx-held-{}", std::process::id()));
        let (ins, out) = (dir.join("in"), dir.join("out"));
        std::fs::create_dir_all(&ins).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        let web = include_str!("../../samples/kvm/web.xml");
        let note = "x".repeat(1 << 20);
        let inputs: Vec<super::super::InputFile> = (0..24)
            .map(|i| {
                let p = ins.join(format!("vm{i:02}.xml"));
                let doc = web.replacen(
                    "<name>web</name>",
                    &format!("<name>vm{i}</name><description>{note}</description>"),
                    1,
                );
                std::fs::write(&p, doc).unwrap();
                super::super::InputFile {
                    path: p,
                    rel: PathBuf::new(),
                    listed: false,
                }
            })
            .collect();
        let mappings = Mappings::new(None);
        let store = crate::session::MemoryStore::default();
        let conv = Convert::new(&mappings, &store);
        // Each save records how many outputs were written before it.
        let seen: Mutex<Vec<usize>> = Mutex::default();
        let save = || {
            seen.lock()
                .unwrap()
                .push(std::fs::read_dir(&out).unwrap().count());
            Ok(0)
        };
        let reaper = Reaper::default();
        let vsphere = platform::by_name("vsphere").unwrap();
        let batch = |inputs: &[super::super::InputFile],
                     dir: &Path,
                     save_first: &(dyn Fn() -> Result<usize, String> + Sync)| {
            convert_all(
                &conv,
                inputs,
                None,
                &[vsphere],
                false,
                Some(Stream {
                    dir,
                    sync: false,
                    reaper: &reaper,
                    save_first: Some(save_first),
                    all_findings: true,
                }),
                &indicatif::ProgressBar::hidden(),
            )
        };
        let (done, written) = batch(&inputs, &out, &save);
        assert!(done.iter().all(|d| d.result.is_ok()));
        assert!(written.unwrap().iter().all(|w| matches!(w, Some(Ok(_)))));
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 24);
        let seen = seen.lock().unwrap().clone();
        assert!(seen.len() >= 2, "{seen:?}");
        // Nothing was written before the first save; some before the last.
        assert_eq!(seen[0], 0, "{seen:?}");
        assert!(
            seen[seen.len() - 1] > 0 && seen[seen.len() - 1] < 24,
            "{seen:?}"
        );
        // A store whose save writes 4 MiB: after the first save (at
        // HELD_BYTES) outputs are held up to 32 MiB (eight times that, at
        // most HELD_MAX), so the other 22 MB wait for one more save.
        let out3 = dir.join("out3");
        std::fs::create_dir_all(&out3).unwrap();
        let saves: Mutex<Vec<usize>> = Mutex::default();
        let big = || {
            saves
                .lock()
                .unwrap()
                .push(std::fs::read_dir(&out3).unwrap().count());
            Ok(4 << 20)
        };
        let (_, written) = batch(&inputs, &out3, &big);
        assert!(written.unwrap().iter().all(|w| matches!(w, Some(Ok(_)))));
        let saves = saves.lock().unwrap().clone();
        assert!(saves.len() == 2 && saves[0] == 0, "{saves:?}");
        assert_eq!(held_limit(0), HELD_BYTES);
        assert_eq!(held_limit(1 << 20), 8 << 20);
        assert_eq!(held_limit(usize::MAX), HELD_MAX);
        // A store that cannot be saved: nothing is written, each input says why.
        let out2 = dir.join("out2");
        std::fs::create_dir_all(&out2).unwrap();
        let fail = || Err("disk full".to_string());
        let (_, written) = batch(&inputs[..3], &out2, &fail);
        for w in written.unwrap() {
            let e = w.unwrap().unwrap_err();
            assert!(
                e.contains("vm0") && e.contains("not written") && e.contains("disk full"),
                "{e}"
            );
        }
        assert_eq!(std::fs::read_dir(&out2).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn outputs_stream_only_when_no_two_inputs_can_share_a_name() {
        let out = Some(Path::new("out"));
        assert!(streams(&paths(&["a/web.xml", "a/db.xml"]), out, false));
        // Same stem in two directories: web.vsphere.xml twice.
        assert!(!streams(&paths(&["a/web.xml", "b/web.xml"]), out, false));
        // `a` with a fan-out name `b` is `a.b.…`, as is the input `a.b`.
        assert!(!streams(&paths(&["x/a.xml", "x/a.b.xml"]), out, false));
        assert!(!streams(
            &paths(&["x/a.b.xml", "x/a-c.xml", "x/a.xml"]),
            out,
            false
        ));
        assert!(streams(
            &paths(&["x/a.xml", "x/ab.xml", "x/a-b.xml"]),
            out,
            false
        ));
        // A store saved only at the end (a database's one transaction) holds
        // every output back; stdout and a single input have nothing to
        // overlap.
        assert!(!streams(&paths(&["a/web.xml", "a/db.xml"]), out, true));
        assert!(!streams(&paths(&["a/web.xml", "a/db.xml"]), None, false));
        assert!(!streams(&paths(&["a/web.xml"]), out, false));
    }
}
