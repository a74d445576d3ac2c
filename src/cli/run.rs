//! `hvxform run`: run one mapping file over inputs, for mapping authors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::{exit, Ctx};
use crate::compile::{self, FsResolver};
use crate::engine::{output_file_name, stem, Produced, EMBEDDED};
use crate::exec::{self, Outcome, RunOptions};
use crate::platform::input;
use crate::program::Program;

/// Run a single mapping file over input documents and print (or, with -o,
/// write) its outputs and what went unmapped (for mapping authors).
#[derive(Debug, Args)]
pub struct Run {
    /// The mapping (.hvx).
    pub mapping: PathBuf,
    /// The input documents (XML, or .vmx / xl.cfg text, read in their canonical XML form).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write each input's documents into this directory
    /// (`<stem>[.<name>].<to>.<ext>`, `to` being the mapping's) instead of
    /// printing them.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Write a JSON report of every input (outputs, unmapped, dropped,
    /// warnings), as `transform --report` does.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Fail an input (exit 1, none of its documents written) when any of
    /// its nodes is unmapped.
    #[arg(long)]
    pub deny_loss: bool,
    /// Mapping parameters.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = super::parse_param)]
    pub params: Vec<(String, String)>,
    /// Copy secret values into outputs.
    #[arg(long)]
    pub keep_secrets: bool,
    /// Session store: a YAML file, or a PostgreSQL database
    /// (`postgres://USER@HOST[:PORT]/DB`; the password from PGPASSWORD).
    #[arg(long, value_name = "FILE|URL")]
    pub session: Option<PathBuf>,
    /// Run the mapping on a document of another platform than its `from`.
    #[arg(long)]
    pub force: bool,
    /// Print on stderr where each output node came from (the statement and
    /// the input node), which rules fired and which they beat, and each
    /// path that selected nothing: as annotated text, or JSON lines.
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text")]
    pub trace: Option<TraceFormat>,
    /// Print on stderr, after the outputs, where the time went over all
    /// inputs: the statements and functions that took most of it, with
    /// their own time, their time with what they ran, and how often they ran.
    #[arg(long)]
    pub profile: bool,
}

/// Rows `--profile` prints.
const PROFILE_ROWS: usize = 25;

/// Adds a run's profile to the rows kept so far (the same statement or
/// function over several inputs adds up).
fn add_profile(total: &mut Vec<exec::ProfileRow>, rows: &[exec::ProfileRow]) {
    for r in rows {
        match total
            .iter_mut()
            .find(|t| t.mapping == r.mapping && t.what == r.what)
        {
            Some(t) => {
                t.runs += r.runs;
                t.self_ns += r.self_ns;
                t.incl_ns += r.incl_ns;
            }
            None => total.push(r.clone()),
        }
    }
}

/// The `--profile` table: the costliest rows by their own time.
pub(crate) fn profile_text(inputs: usize, rows: &[exec::ProfileRow]) -> String {
    let mut rows: Vec<&exec::ProfileRow> = rows.iter().collect();
    rows.sort_by(|a, b| {
        b.self_ns
            .cmp(&a.self_ns)
            .then_with(|| a.mapping.cmp(&b.mapping))
    });
    let total: u64 = rows.iter().map(|r| r.self_ns).sum();
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut out = format!(
        "profile: {inputs} input(s), {:.3} ms in statements and functions; the {} costliest by their own time:\n",
        ms(total),
        rows.len().min(PROFILE_ROWS)
    );
    out.push_str("   self ms  self %    incl ms      runs  where\n");
    for r in rows.iter().take(PROFILE_ROWS) {
        let pct = if total == 0 {
            0.0
        } else {
            r.self_ns as f64 * 100.0 / total as f64
        };
        out.push_str(&format!(
            "{:>10.3} {:>6.1}% {:>10.3} {:>9}  {}  {}\n",
            ms(r.self_ns),
            pct,
            ms(r.incl_ns),
            r.runs,
            r.mapping,
            crate::convert::short_to(&r.what, 60)
        ));
    }
    out
}

/// How `--trace` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
}

/// Prints a run's trace on stderr.
pub(crate) fn print_trace(
    f: TraceFormat,
    input: &str,
    stage: Option<&str>,
    events: &[exec::TraceEvent],
) {
    match f {
        TraceFormat::Text => {
            match stage {
                Some(m) => eprintln!("trace of {input} through {m}:"),
                None => eprintln!("trace of {input}:"),
            }
            eprint!("{}", exec::trace_text(events));
        }
        TraceFormat::Json => {
            let mut extra = vec![("file", input)];
            if let Some(m) = stage {
                extra.push(("stage", m));
            }
            eprint!("{}", exec::trace_json(events, &extra));
        }
    }
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
        if let Err(m) = super::stdin_once(self.inputs.iter().map(|p| p.as_path())) {
            super::error(ctx, &m);
            return exit::CANNOT_RUN;
        }
        // A parameter value of the wrong type or outside its declared values
        // is a usage error, as for transform.
        let params = match exec::bind_params(&program, &self.params) {
            Ok(p) => p,
            Err(m) => {
                super::error(ctx, &m);
                return exit::CANNOT_RUN;
            }
        };
        // The report is checked before anything is written, as transform's.
        if let Some(r) = &self.report {
            if let Err(m) = super::transform::report_writable(r) {
                super::error(
                    ctx,
                    &format!("{}: cannot write the report: {m}", r.display()),
                );
                return exit::CANNOT_RUN;
            }
        }
        if let Some(dir) = &self.output {
            if let Err(m) = std::fs::create_dir_all(dir)
                .map_err(|e| e.to_string())
                .and_then(|_| super::write::probe_writable(dir).map_err(|e| e.to_string()))
            {
                super::error(ctx, &format!("{}: cannot write there: {m}", dir.display()));
                return exit::CANNOT_RUN;
            }
        }
        let mut persisted = match super::session::Store::open(ctx, self.session.as_deref()) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let reaper = self.output.as_deref().map(super::write::Reaper::for_dir);
        let mut written_by: HashMap<String, PathBuf> = HashMap::new();
        let mut report = Vec::new();
        let mut failures = 0;
        let mut profile = Vec::new();
        for path in &self.inputs {
            let name = path.display().to_string();
            let outcome = self.one(&program, &params, path, &persisted);
            // Pairs minted by the run are saved before its output is written.
            let outcome = outcome.and_then(|o| {
                persisted
                    .save(ctx)
                    .map_err(|_| format!("{name}: the session store was not saved"))?;
                Ok(o)
            });
            let mut outputs = Vec::new();
            let result = outcome.and_then(|o| {
                if self.deny_loss && o.unmapped_count > 0 {
                    let first = o
                        .unmapped
                        .first()
                        .map(|u| format!("; first: {}{}", exec::at(u.line, u.col), u.path))
                        .unwrap_or_default();
                    return Err(format!(
                        "{name}: {} input node(s) unmapped and --deny-loss is set{first}",
                        o.unmapped_count
                    ));
                }
                match (&self.output, &reaper) {
                    (Some(dir), Some(reaper)) => {
                        let files = file_names(&program, path, &o)?;
                        for (f, _) in &files {
                            if let Some(other) = written_by.get(f) {
                                return Err(format!(
                                    "{name}: {f} was written for {} already; give the inputs different names",
                                    other.display()
                                ));
                            }
                        }
                        super::write::write_all_or_nothing(dir, &files, false, reaper)?;
                        for (f, _) in &files {
                            written_by.insert(f.clone(), path.clone());
                            outputs.push(dir.join(f).display().to_string());
                        }
                    }
                    _ => {
                        if self.inputs.len() > 1 {
                            super::outln!("<!-- input {name} -->");
                        }
                        for d in &o.documents {
                            if o.documents.len() > 1 || d.name.is_some() {
                                super::outln!(
                                    "<!-- document {} {} -->",
                                    d.document,
                                    d.name.as_deref().unwrap_or("")
                                );
                            }
                            super::out!("{}", d.xml);
                        }
                    }
                }
                Ok(o)
            });
            match &result {
                Ok(o) => {
                    add_profile(&mut profile, &o.profile);
                    print_findings(ctx, &name, o)
                }
                Err(m) => {
                    failures += 1;
                    super::error(ctx, m);
                }
            }
            if self.report.is_some() {
                let o = result.as_ref().ok();
                report.push(json!({
                    "input": name,
                    "ok": o.is_some(),
                    "error": result.as_ref().err(),
                    "outputs": outputs,
                    "unmapped": o.map(|o| o.unmapped.iter().map(|u| json!({"mapping": program.name, "line": u.line, "column": u.col, "path": u.path, "kind": u.kind, "reason": u.reason})).collect::<Vec<_>>()).unwrap_or_default(),
                    "dropped": o.map(|o| o.dropped.iter().map(|x| json!({"mapping": x.mapping, "line": x.line, "column": x.col, "path": x.path, "reason": x.reason})).collect::<Vec<_>>()).unwrap_or_default(),
                    "warnings": o.map(|o| o.warnings.iter().map(|w| json!({"mapping": w.mapping, "action": w.action, "message": w.message, "input": w.input})).collect::<Vec<_>>()).unwrap_or_default(),
                }));
            }
        }
        if self.profile {
            eprint!("{}", profile_text(self.inputs.len(), &profile));
        }
        if let Some(r) = &self.report {
            let doc = json!({"version": super::transform::REPORT_VERSION, "inputs": report});
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            if let Err(e) = super::write::atomic_write(r, text.as_bytes()) {
                super::error(
                    ctx,
                    &format!("{}: cannot write the report: {e}", r.display()),
                );
                return exit::CANNOT_RUN;
            }
        }
        if failures > 0 {
            exit::INVALID
        } else {
            exit::OK
        }
    }

    /// Reads, checks and runs one input.
    fn one(
        &self,
        program: &Program,
        params: &[Option<crate::program::Value>],
        path: &Path,
        persisted: &super::session::Store,
    ) -> Result<Outcome, String> {
        let name = path.display().to_string();
        let doc = read_input(path, &program.from, self.force, "`--force`")?;
        let opts = RunOptions {
            keep_secrets: self.keep_secrets,
            trace: self.trace.is_some(),
            profile: self.profile,
            // Profiled as `transform` runs: unmapped and dropped nodes
            // counted, not each placed and described (which would time
            // the report, not the mapping), unless a report asks for them.
            detail: !self.profile || self.report.is_some() || self.deny_loss,
            ..Default::default()
        };
        let o = exec::run(program, &doc, params, persisted.access(), &opts)
            .map_err(|e| format!("{name}: {e}"))?;
        if let Some(f) = self.trace {
            print_trace(f, &name, None, &o.trace);
        }
        Ok(o)
    }
}

/// Reads an input for a mapping that reads `from`: .vmx and xl.cfg in their
/// canonical XML form; a document of another known platform is refused
/// unless `force` (`how` names the option that forces, in the message).
pub(crate) fn read_input(
    path: &Path,
    from: &str,
    force: bool,
    how: &str,
) -> Result<crate::tree::Document, String> {
    let name = path.display().to_string();
    let text = input::read_text(path).map_err(|e| e.message)?;
    let text = crate::platform::to_xml(&name, &text, None)?;
    let d = input::parse_xml(&name, &text).map_err(|e| e.message)?;
    if !force {
        wrong_platform(&d, from)
            .map_err(|m| format!("{name}: {m}; {how} runs the mapping on it anyway"))?;
    }
    crate::tree::Document::from_roxml(&d).map_err(|m| format!("{name}: {m}"))
}

/// The files an input's documents are written to, as `transform` names
/// them, with the mapping's `to` as the target.
pub(crate) fn file_names<'o>(
    program: &Program,
    input: &Path,
    o: &'o Outcome,
) -> Result<Vec<(String, &'o str)>, String> {
    let to = crate::platform::by_name(&program.to).ok();
    let target: &'static str = match to {
        Some(p) => p.name,
        None if program.to.is_empty() => "out",
        None => Box::leak(program.to.clone().into_boxed_str()),
    };
    let mut files = Vec::new();
    for d in &o.documents {
        let p = Produced {
            target,
            names: d.name.clone().into_iter().collect(),
            ext: if d.json {
                "json"
            } else {
                to.map_or(
                    "xml",
                    |p| if p.ext.ends_with("xml") { p.ext } else { "xml" },
                )
            },
            json: d.json,
            xml: String::new(),
        };
        let f = output_file_name(&stem(input), &p)
            .map_err(|m| format!("{}: document `{}`: {m}", input.display(), d.document))?;
        if files.iter().any(|(g, _)| *g == f) {
            return Err(format!(
                "{}: two documents named {f}; give them different names",
                input.display()
            ));
        }
        files.push((f, d.xml.as_str()));
    }
    Ok(files)
}

fn print_findings(ctx: &Ctx, name: &str, o: &Outcome) {
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
        // The input it was raised on, and where in the mapping (without
        // --profile's speed setting, which leaves the place out).
        let m = match (&w.input, w.mapping.is_empty()) {
            (Some(i), false) if i.line > 0 => {
                format!("{name}:{}:{}: {} ({})", i.line, i.col, w.message, w.mapping)
            }
            (_, false) => format!("{name}: {} ({})", w.message, w.mapping),
            (_, true) => format!("{name}: {}", w.message),
        };
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
    if o.unmapped.is_empty() && o.unmapped_count > 0 {
        super::warning(
            ctx,
            &format!(
                "{name}: {} input node(s) unmapped (listed without --profile)",
                o.unmapped_count
            ),
        );
    }
}

/// A document of a known platform other than the mapping's `from` (a
/// mapping of a platform hvxform does not know reads anything).
pub(crate) fn wrong_platform(doc: &roxmltree::Document, from: &str) -> Result<(), String> {
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
