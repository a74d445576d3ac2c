//! Mapping test suites (`hvxform test`): finding cases, running them, and
//! comparing what they produce with the expected files kept beside them.
//!
//! A case is a folder with an input (`input.xml`, `input.vmx`, `input.cfg`,
//! … or the file `case.yaml` names) and, optionally, `case.yaml`:
//!
//! ```yaml
//! mapping: ../../mappings/kvm-to-hvx.hvx  # run this mapping (default: mapping.hvx here or in a parent up to the suite)
//! to: [vsphere, kvm]                      # or convert as `transform` does, a list being a chain (round trip)
//! from: kvm                               # with `to`: the input's platform, when not detected
//! mappings: ../my-mappings                # with `to`: `transform --mappings DIR`
//! params: {firmware: efi}
//! session: session.yaml                   # seed store (default: session.yaml here), never written
//! force: false                            # run on a document of another platform than `from`
//! keep_secrets: false
//! locations: false                        # keep mapping line numbers in report.txt and error.txt
//! ```
//!
//! What a case produces is a set of files compared with `expected/`: every
//! output document under the name `run -o` / `transform -o` gives it,
//! `report.txt` (warnings, drops, unmapped nodes), `error.txt` (an expected
//! failure: diagnostic code, message and location) and `session.yaml` (the
//! session tables after the run). The language fixtures' older layout
//! (`expected.xml` as `run` prints, `expected-error.txt` and
//! `expected-stderr.txt` as substrings of what it prints on stderr,
//! `params.txt`, `exit.txt`) is read too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::compile::{self, FsResolver};
use crate::diag::Severity;
use crate::engine::{self, Convert, Mappings, Produced, EMBEDDED};
use crate::exec::{self, Outcome, RunOptions};
use crate::platform::{self, input, Platform};
use crate::program::Program;
use crate::session::{store, MemoryStore};

/// The folder of expected files in a case.
pub const EXPECTED: &str = "expected";

/// `case.yaml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseConfig {
    pub mapping: Option<String>,
    pub input: Option<String>,
    pub to: Option<OneOrMany>,
    pub from: Option<String>,
    pub mappings: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, serde_yaml::Value>,
    pub session: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub keep_secrets: bool,
    #[serde(default)]
    pub locations: bool,
}

/// `to: vsphere` or `to: [vsphere, kvm]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// One case of a suite.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's folder.
    pub dir: PathBuf,
    /// Its path relative to the folder given on the command line, with `/`.
    pub name: String,
    /// The folder given on the command line: nothing is written outside it.
    pub suite: PathBuf,
}

/// Finds the cases under `root` (itself a case, or folders of cases at any
/// depth), sorted by name. Hidden folders and `expected/` are skipped.
pub fn discover(root: &Path) -> Result<Vec<Case>, String> {
    if !root.is_dir() {
        return Err(format!("{}: not a folder of test cases", root.display()));
    }
    let mut cases = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        if is_case(&dir) {
            let name = dir
                .strip_prefix(root)
                .ok()
                .filter(|r| !r.as_os_str().is_empty())
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|| {
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| ".".into())
                });
            cases.push(Case {
                dir,
                name,
                suite: root.to_path_buf(),
            });
            continue;
        }
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: cannot read folder: {e}", dir.display()))?;
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') || n == EXPECTED {
                continue;
            }
            // Symbolic links are not followed: a suite stays in its folder.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(e.path());
            }
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

fn is_case(dir: &Path) -> bool {
    dir.join("case.yaml").is_file() || find_input(dir).is_some()
}

/// `input` or `input.*` in `dir` (the first by name).
fn find_input(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            (n == "input" || n.starts_with("input.")) && e.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// What a case produced.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// `expected/` file name → content.
    pub files: BTreeMap<String, String>,
    /// The documents as `hvxform run` prints them (the older layout's
    /// `expected.xml`).
    pub printed: String,
    /// What `hvxform run` prints on stderr, colour off.
    pub stderr: String,
    /// The exit status `hvxform run` would give.
    pub exit: u8,
    /// What each mapping that ran ran (with coverage on).
    pub coverage: Vec<(Arc<Program>, exec::Hits)>,
}

/// One difference between a case's expected files and what it produced.
#[derive(Debug, Clone)]
pub enum Mismatch {
    /// Both exist and differ.
    Differs {
        file: String,
        expected: String,
        got: String,
    },
    /// Produced, but no expected file: a new snapshot.
    New { file: String, got: String },
    /// Expected, but not produced.
    Gone { file: String, expected: String },
    /// Something about the case itself (no input, an expected file that is
    /// not well-formed, a substring not found).
    Problem(String),
}

impl Mismatch {
    /// Would `--bless` resolve it?
    pub fn pending(&self) -> bool {
        !matches!(self, Mismatch::Problem(_))
    }
}

/// A case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case: Case,
    pub mismatches: Vec<Mismatch>,
    pub observed: Observed,
    pub legacy: bool,
    pub millis: f64,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The stack of a worker thread (as `transform`'s).
const WORKER_STACK: usize = 64 << 20;

/// Runs every case, `jobs` at a time, results in the cases' order.
pub fn run_all(cases: &[Case], jobs: usize, coverage: bool) -> Vec<CaseResult> {
    let shared = Shared::default();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, cases.len().max(1)) {
            // Deep mappings and inputs need the stack `transform`'s
            // workers have.
            let worker = std::thread::Builder::new().stack_size(WORKER_STACK);
            let spawned = worker.spawn_scoped(s, || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let r = run_case(case, &shared, coverage);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
            if spawned.is_err() {
                break;
            }
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// What cases share: compiled mappings (each file compiled once per run)
/// and the route engines of `to:` cases, by `mappings` folder.
#[derive(Default)]
struct Shared {
    programs: Mutex<HashMap<PathBuf, Arc<std::sync::OnceLock<Compiled>>>>,
    engines: Mutex<HashMap<Option<PathBuf>, Arc<Mappings>>>,
}

/// A compiled mapping with its diagnostics rendered, or why not.
struct Compiled {
    program: Option<Arc<Program>>,
    /// (is an error, code, message, `file:line:col`, rendered for humans)
    diags: Vec<(bool, &'static str, String, String, String)>,
    read_error: Option<String>,
}

impl Shared {
    fn compiled(&self, path: &Path) -> Arc<std::sync::OnceLock<Compiled>> {
        let mut m = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(path.to_path_buf()).or_default().clone()
    }
    fn engine(&self, dir: Option<PathBuf>) -> Arc<Mappings> {
        let mut m = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(dir.clone())
            .or_insert_with(|| Arc::new(Mappings::new(dir)))
            .clone()
    }
}

fn compile_file(path: &Path) -> Compiled {
    let src = match compile::read_source(path) {
        Ok(s) => s,
        Err(m) => {
            return Compiled {
                program: None,
                diags: Vec::new(),
                read_error: Some(m),
            }
        }
    };
    let (program, diags) = compile::compile(src, &FsResolver { embedded: EMBEDDED });
    let diags = diags
        .items
        .iter()
        .map(|d| {
            let (f, l, c) = d.location();
            (
                d.severity == Severity::Error,
                d.code,
                d.message.clone(),
                format!("{f}:{l}:{c}"),
                crate::render::human(d, false),
            )
        })
        .collect();
    Compiled {
        program: program.map(Arc::new),
        diags,
        read_error: None,
    }
}

fn run_case(case: &Case, shared: &Shared, coverage: bool) -> CaseResult {
    let start = std::time::Instant::now();
    let legacy = !case.dir.join(EXPECTED).exists()
        && (case.dir.join("expected.xml").exists() || case.dir.join("expected-error.txt").exists());
    let observed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        produce(case, shared, coverage)
    }));
    let (observed, mismatches) = match observed {
        Ok(Ok(o)) => {
            let m = if legacy {
                compare_legacy(case, &o)
            } else {
                compare(case, &o)
            };
            (o, m)
        }
        Ok(Err(problem)) => (Observed::default(), vec![Mismatch::Problem(problem)]),
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (
                Observed::default(),
                vec![Mismatch::Problem(format!(
                    "hvxform panicked running this case ({what}); this is a bug, please report it"
                ))],
            )
        }
    };
    CaseResult {
        case: case.clone(),
        mismatches,
        observed,
        legacy,
        millis: start.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Reads `case.yaml` (or the defaults).
fn config(case: &Case) -> Result<CaseConfig, String> {
    let p = case.dir.join("case.yaml");
    if !p.exists() {
        return Ok(CaseConfig::default());
    }
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    if text.trim().is_empty() {
        return Ok(CaseConfig::default());
    }
    serde_yaml::from_str(&text).map_err(|e| match e.location() {
        Some(l) => format!(
            "{}:{}:{}: {}",
            p.display(),
            l.line(),
            l.column(),
            strip_yaml_location(&e.to_string())
        ),
        None => format!("{}: {e}", p.display()),
    })
}

fn strip_yaml_location(m: &str) -> &str {
    m.split(" at line ").next().unwrap_or(m)
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `to` as a path from the folder `from` (both relative to the same
/// place), without touching the file system: `../mapping.hvx`.
fn relative(from: &Path, to: &Path) -> String {
    let (from, to) = (normalise(from), normalise(to));
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out.to_string_lossy().replace('\\', "/")
}

/// The case's parameters: case.yaml's, then params.txt's lines.
fn params(case: &Case, cfg: &CaseConfig) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in &cfg.params {
        let v = match v {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::Number(n) => n.to_string(),
            _ => {
                return Err(format!(
                    "{}: parameter `{k}` must be a string, number or boolean",
                    case.dir.join("case.yaml").display()
                ))
            }
        };
        out.push((k.clone(), v));
    }
    if let Ok(p) = std::fs::read_to_string(case.dir.join("params.txt")) {
        for l in p.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push(
                crate::cli::parse_param(l)
                    .map_err(|m| format!("{}: {m}", case.dir.join("params.txt").display()))?,
            );
        }
    }
    Ok(out)
}

/// The mapping a `mapping:`-less case runs: mapping.hvx in its folder or the
/// nearest parent up to the suite's folder.
fn default_mapping(case: &Case) -> Option<PathBuf> {
    let mut d = case.dir.clone();
    loop {
        let m = d.join("mapping.hvx");
        if m.is_file() {
            return Some(m);
        }
        if d == case.suite || !d.pop() {
            return None;
        }
    }
}

/// Runs a case and collects what it produced. `Err` is a problem with the
/// case itself (no input, a bad case.yaml).
fn produce(case: &Case, shared: &Shared, coverage: bool) -> Result<Observed, String> {
    let cfg = config(case)?;
    let input = match &cfg.input {
        Some(i) => normalise(&case.dir.join(i)),
        None => find_input(&case.dir).ok_or_else(|| {
            format!(
                "{}: no input (a file named input.xml, input.vmx, … or `input:` in case.yaml)",
                case.dir.display()
            )
        })?,
    };
    if !input.is_file() {
        return Err(format!("{}: input not found", input.display()));
    }
    let params = params(case, &cfg)?;
    // The language fixtures' marker file.
    let mut cfg = cfg;
    cfg.keep_secrets |= case.dir.join("keep-secrets").exists();
    let seed = match &cfg.session {
        Some(s) => Some(normalise(&case.dir.join(s))),
        None => Some(case.dir.join("session.yaml")).filter(|p| p.is_file()),
    };
    let store = MemoryStore::default();
    if let Some(s) = &seed {
        let t = store::read(s).map_err(|e| format!("{}: {e}", s.display()))?;
        *store.tables.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
    // Names in what is kept: relative to the case folder.
    let mut names: Vec<(String, String)> = Vec::new();
    let mut o = Observed::default();
    let run = CaseRun {
        cfg: &cfg,
        input: &input,
        params: &params,
        store: &store,
        shared,
        coverage,
    };
    if let Some(to) = &cfg.to {
        if cfg.mapping.is_some() {
            return Err(format!(
                "{}: a case has `mapping:` or `to:`, not both",
                case.dir.join("case.yaml").display()
            ));
        }
        route(case, &run, &to.list(), &mut o)?;
    } else {
        let mapping = match &cfg.mapping {
            Some(m) => {
                let p = normalise(&case.dir.join(m));
                names.push((p.display().to_string(), m.clone()));
                p
            }
            None => {
                let p = default_mapping(case).ok_or_else(|| {
                    format!(
                        "{}: no mapping (mapping.hvx here or in a parent folder of the suite, `mapping:` or `to:` in case.yaml)",
                        case.dir.display()
                    )
                })?;
                names.push((p.display().to_string(), relative(&case.dir, &p)));
                p
            }
        };
        single(&run, &mapping, &mut o);
    }
    let tables = store.tables.into_inner().unwrap_or_else(|e| e.into_inner());
    if !tables.is_empty() {
        o.files.insert(
            "session.yaml".into(),
            crate::session::format::write(&tables),
        );
    }
    // Paths in kept notes are relative to the case folder.
    let prefix = format!("{}/", case.dir.display());
    for f in ["report.txt", "error.txt"] {
        if let Some(t) = o.files.get_mut(f) {
            let mut s = t.replace(&prefix, "");
            for (full, rel) in &names {
                s = s.replace(full.as_str(), rel);
            }
            *t = s;
        }
    }
    Ok(o)
}

/// The case's mapping files' names, whose `:line:col` report.txt and
/// error.txt leave out.
fn strip_locations(text: &str, files: &[&str]) -> String {
    let mut out = text.to_string();
    for f in files {
        let pat = format!("{f}:");
        let mut res = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&pat) {
            res.push_str(&rest[..i + f.len()]);
            let after = &rest[i + pat.len()..];
            let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
            let l = digits(after);
            if l > 0 && after[l..].starts_with(':') && digits(&after[l + 1..]) > 0 {
                let c = digits(&after[l + 1..]);
                rest = &after[l + 1 + c..];
            } else {
                res.push(':');
                rest = after;
            }
        }
        res.push_str(rest);
        out = res;
    }
    out
}

/// What running a case needs, whichever way it runs.
struct CaseRun<'a> {
    cfg: &'a CaseConfig,
    input: &'a Path,
    params: &'a [(String, String)],
    store: &'a MemoryStore,
    shared: &'a Shared,
    coverage: bool,
}

/// Runs one mapping file on the case's input (`run`).
fn single(r: &CaseRun, mapping: &Path, o: &mut Observed) {
    let (cfg, input_path, store, shared) = (r.cfg, r.input, r.store, r.shared);
    let slot = shared.compiled(mapping);
    let c = slot.get_or_init(|| compile_file(mapping));
    let mapping_name = mapping.display().to_string();
    let keep = |s: &str| {
        if cfg.locations {
            s.to_string()
        } else {
            strip_locations(s, &[mapping_name.as_str()])
        }
    };
    let mut report = String::new();
    let mut errors = String::new();
    if let Some(m) = &c.read_error {
        o.stderr.push_str(&format!("error: {m}\n"));
        o.files.insert("error.txt".into(), format!("error: {m}\n"));
        o.exit = 1;
        return;
    }
    for (is_error, code, message, loc, human) in &c.diags {
        o.stderr.push_str(human);
        if *is_error {
            // An expected failure keeps its location: it is what is tested.
            errors.push_str(&format!("error[{code}]: {message}\n  --> {loc}\n"));
        } else {
            report.push_str(&keep(&format!("warning[{code}]: {message} ({loc})\n")));
        }
    }
    let Some(program) = &c.program else {
        o.files.insert("error.txt".into(), errors);
        o.exit = 1;
        if !report.is_empty() {
            o.files.insert("report.txt".into(), report);
        }
        return;
    };
    let fail = |o: &mut Observed, report: String, m: String, exit: u8| {
        o.stderr.push_str(&format!("error: {m}\n"));
        o.files
            .insert("error.txt".into(), format!("error: {}\n", keep(&m)));
        if !report.is_empty() {
            o.files.insert("report.txt".into(), report);
        }
        o.exit = exit;
    };
    let bound = match exec::bind_params(program, r.params) {
        Ok(p) => p,
        Err(m) => return fail(o, report, m, 2),
    };
    let name = input_path.display().to_string();
    let doc = crate::cli::read_input(
        input_path,
        &program.from,
        cfg.force,
        "`force: true` in case.yaml",
    );
    let doc = match doc {
        Ok(d) => d,
        Err(m) => return fail(o, report, m, 1),
    };
    let opts = RunOptions {
        keep_secrets: cfg.keep_secrets,
        coverage: r.coverage,
        ..Default::default()
    };
    let outcome: Outcome = match exec::run(program, &doc, &bound, store, &opts) {
        Ok(x) => x,
        Err(e) => return fail(o, report, format!("{name}: {e}"), 1),
    };
    if let Some(h) = &outcome.hits {
        o.coverage.push((program.clone(), h.clone()));
    }
    // What `run` prints.
    for d in &outcome.documents {
        if outcome.documents.len() > 1 || d.name.is_some() {
            o.printed.push_str(&format!(
                "<!-- document {} {} -->\n",
                d.document,
                d.name.as_deref().unwrap_or("")
            ));
        }
        o.printed.push_str(&d.xml);
    }
    match crate::cli::run_file_names(program, Path::new("input"), &outcome) {
        Ok(files) => {
            for (f, text) in files {
                o.files.insert(f, text.to_string());
            }
        }
        Err(m) => return fail(o, report, m, 1),
    }
    for d in &outcome.dropped {
        let line = format!("dropped {} ({}:{}): {}", d.path, d.line, d.col, d.reason);
        o.stderr.push_str(&format!(
            "note: {name}:{}:{}: dropped {}: {} ({})\n",
            d.line, d.col, d.path, d.reason, d.mapping
        ));
        report.push_str(&keep(&format!("{line} ({})\n", d.mapping)));
    }
    for w in &outcome.warnings {
        let label = if w.action { "action" } else { "warning" };
        o.stderr
            .push_str(&format!("{label}: {} ({})\n", w.message, w.mapping));
        report.push_str(&keep(&format!("{label}: {} ({})\n", w.message, w.mapping)));
    }
    for u in &outcome.unmapped {
        let line = format!(
            "unmapped {} {} ({}:{}): {}",
            u.kind, u.path, u.line, u.col, u.reason
        );
        o.stderr.push_str(&format!(
            "warning: {name}:{}:{}: unmapped {} {}: {}\n",
            u.line, u.col, u.kind, u.path, u.reason
        ));
        report.push_str(&line);
        report.push('\n');
    }
    let report = report.replace(" ()\n", "\n");
    if !report.is_empty() {
        o.files.insert("report.txt".into(), report);
    }
}

/// Converts the case's input along `chain` (`transform`, a round trip
/// when the chain has several targets).
fn route(case: &Case, r: &CaseRun, chain: &[String], o: &mut Observed) -> Result<(), String> {
    let (cfg, input_path, store, shared) = (r.cfg, r.input, r.store, r.shared);
    let dir = cfg.mappings.as_ref().map(|d| normalise(&case.dir.join(d)));
    if let (Some(d), Some(given)) = (&dir, &cfg.mappings) {
        if !d.is_dir() {
            return Err(format!(
                "case.yaml: mappings `{given}` is not a folder ({})",
                d.display()
            ));
        }
    }
    let find = |n: &str| -> Result<&'static Platform, String> {
        platform::by_name(n).or_else(|m| {
            dir.as_deref()
                .and_then(|d| platform::user_platform(n, d))
                .ok_or(m)
        })
    };
    let yaml = case.dir.join("case.yaml").display().to_string();
    let mut targets = Vec::new();
    for t in chain {
        targets.push(find(t).map_err(|m| format!("{yaml}: `to`: {m}"))?);
    }
    if targets.is_empty() {
        return Err(format!("{yaml}: `to` names no platform"));
    }
    let mut from = match &cfg.from {
        Some(f) => Some(find(f).map_err(|m| format!("{yaml}: `from`: {m}"))?),
        None => None,
    };
    let engine = shared.engine(dir);
    let conv = Convert {
        mappings: &engine,
        params: r.params.to_vec(),
        sessions: store,
        run: RunOptions {
            keep_secrets: cfg.keep_secrets,
            coverage: r.coverage,
            ..Default::default()
        },
    };
    let mut name = input_path.display().to_string();
    let mut text = input::read_text(input_path).map_err(|e| e.message);
    let mut report = String::new();
    let mut last: Vec<Produced> = Vec::new();
    for (k, target) in targets.iter().enumerate() {
        let t = match &text {
            Ok(t) => t.clone(),
            Err(m) => {
                o.stderr.push_str(&format!("error: {m}\n"));
                o.files.insert("error.txt".into(), format!("error: {m}\n"));
                o.exit = 1;
                return Ok(());
            }
        };
        match conv.convert(&name, &t, from, &[target]) {
            Ok((docs, findings)) => {
                o.coverage.extend(findings.hits.iter().cloned());
                let step = if targets.len() > 1 {
                    format!("[{}] ", k + 1)
                } else {
                    String::new()
                };
                for (_, d) in &findings.dropped {
                    report.push_str(&format!(
                        "{step}dropped {} ({}:{}): {} ({})\n",
                        d.path, d.line, d.col, d.reason, d.mapping
                    ));
                }
                for (_, w) in &findings.warnings {
                    let label = if w.action { "action" } else { "warning" };
                    report.push_str(&format!("{step}{label}: {} ({})\n", w.message, w.mapping));
                }
                for (s, u) in &findings.unmapped {
                    report.push_str(&format!(
                        "{step}unmapped {} {} ({}:{}) by {}: {}\n",
                        u.kind, u.path, u.line, u.col, s.mapping, u.reason
                    ));
                }
                if k + 1 < targets.len() {
                    // The chain goes on from the VM's document; JSON
                    // documents beside it (EC2's requests) stay behind.
                    let vm: Vec<&Produced> = docs.iter().filter(|d| !d.json).collect();
                    let [next] = vm.as_slice() else {
                        return Err(format!(
                            "{yaml}: step {} ({}) of the chain gave {} documents; a chain goes on from one",
                            k + 1,
                            target.name,
                            vm.len()
                        ));
                    };
                    name = format!("input.{}", next.ext);
                    text = Ok(next.xml.clone());
                    from = Some(target);
                } else {
                    last = docs;
                }
            }
            Err(e) => {
                let m = e.to_string();
                o.stderr.push_str(&format!("error: {m}\n"));
                let mut kept = format!("error: {m}\n");
                if let engine::ConvertError::Mapping(me) = &e {
                    for d in &me.diagnostics.items {
                        if d.severity == Severity::Error {
                            let (f, l, c) = d.location();
                            kept.push_str(&format!(
                                "error[{}]: {}\n  --> {f}:{l}:{c}\n",
                                d.code, d.message
                            ));
                        }
                    }
                }
                if !cfg.locations {
                    kept = strip_builtin_locations(&kept);
                }
                o.files.insert("error.txt".into(), kept);
                o.exit = 1;
                return Ok(());
            }
        }
    }
    for p in &last {
        let f = engine::output_file_name("input", p)?;
        o.printed.push_str(&p.xml);
        o.files.insert(f, p.xml.clone());
    }
    let mut report = if cfg.locations {
        report
    } else {
        strip_builtin_locations(&report)
    };
    if let Some(d) = cfg.mappings.as_ref() {
        let full = normalise(&case.dir.join(d)).display().to_string();
        report = report.replace(&full, d);
    }
    if !report.is_empty() {
        o.files.insert("report.txt".into(), report);
    }
    Ok(())
}

/// Strips `:line:col` after every `….hvx` name (a route's mappings).
fn strip_builtin_locations(text: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for w in text.split([' ', '(', ')', '\n', '`', ',']) {
        if let Some(i) = w.find(".hvx:") {
            names.push(&w[..i + 4]);
        }
    }
    names.sort_unstable();
    names.dedup();
    strip_locations(text, &names)
}

/// Compares a case's `expected/` folder with what it produced.
fn compare(case: &Case, o: &Observed) -> Vec<Mismatch> {
    let dir = case.dir.join(EXPECTED);
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match std::fs::read(e.path()) {
                Ok(b) => match String::from_utf8(b) {
                    Ok(s) => {
                        expected.insert(n, s);
                    }
                    Err(_) => out.push(Mismatch::Problem(format!(
                        "{}: not UTF-8",
                        e.path().display()
                    ))),
                },
                Err(err) => out.push(Mismatch::Problem(format!(
                    "{}: cannot read: {err}",
                    e.path().display()
                ))),
            }
        }
    }
    for (n, want) in &expected {
        if n.ends_with(".xml") || n.ends_with(".ovf") {
            if let Err(e) = roxmltree::Document::parse(want) {
                out.push(Mismatch::Problem(format!(
                    "{}: the expected file is not well-formed XML: {e}",
                    dir.join(n).display()
                )));
                continue;
            }
        }
        match o.files.get(n) {
            Some(got) if got == want => {}
            Some(got) => out.push(Mismatch::Differs {
                file: n.clone(),
                expected: want.clone(),
                got: got.clone(),
            }),
            None => out.push(Mismatch::Gone {
                file: n.clone(),
                expected: want.clone(),
            }),
        }
    }
    for (n, got) in &o.files {
        if !expected.contains_key(n) {
            out.push(Mismatch::New {
                file: n.clone(),
                got: got.clone(),
            });
        }
    }
    out
}

/// The language fixtures' layout: `expected.xml` exactly, or
/// `expected-error.txt` as a substring of stderr with the exit status of
/// `exit.txt` (1 by default); `expected-stderr.txt` lines as substrings.
fn compare_legacy(case: &Case, o: &Observed) -> Vec<Mismatch> {
    let d = &case.dir;
    let mut out = Vec::new();
    if let Ok(want) = std::fs::read_to_string(d.join("expected-error.txt")) {
        let code: u8 = std::fs::read_to_string(d.join("exit.txt"))
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(1);
        if o.exit != code {
            out.push(Mismatch::Problem(format!(
                "expected exit {code}, got {}\n{}",
                o.exit, o.stderr
            )));
        } else if !o.stderr.contains(want.trim()) {
            out.push(Mismatch::Problem(format!(
                "stderr lacks `{}`:\n{}",
                want.trim(),
                o.stderr
            )));
        }
    } else if let Ok(want) = std::fs::read_to_string(d.join("expected.xml")) {
        if o.exit != 0 {
            out.push(Mismatch::Problem(format!("exit {}\n{}", o.exit, o.stderr)));
        } else if o.printed != want {
            out.push(Mismatch::Differs {
                file: "expected.xml".into(),
                expected: want,
                got: o.printed.clone(),
            });
        }
    }
    if let Ok(want) = std::fs::read_to_string(d.join("expected-stderr.txt")) {
        for l in want.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !o.stderr.contains(l) {
                out.push(Mismatch::Problem(format!(
                    "stderr lacks `{l}` (expected-stderr.txt):\n{}",
                    o.stderr
                )));
            }
        }
    }
    out
}

/// Writes what a case produced as its expected files (`--bless`). Only
/// inside the case's own `expected/` folder (or, in the older layout, its
/// `expected.xml`), which must lie inside the suite's folder.
pub fn bless(r: &CaseResult) -> Result<Vec<String>, String> {
    let suite = r
        .case
        .suite
        .canonicalize()
        .map_err(|e| format!("{}: {e}", r.case.suite.display()))?;
    let inside = |p: &Path| -> Result<(), String> {
        let parent = p.parent().unwrap_or(Path::new("."));
        let c = parent
            .canonicalize()
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        if c.starts_with(&suite) {
            Ok(())
        } else {
            Err(format!(
                "{}: outside the suite's folder {}; not written",
                p.display(),
                suite.display()
            ))
        }
    };
    let mut written = Vec::new();
    if r.legacy {
        for m in &r.mismatches {
            if let Mismatch::Differs { file, got, .. } = m {
                let p = r.case.dir.join("expected.xml");
                if file == "expected.xml" {
                    inside(&p)?;
                    crate::cli::atomic_write(&p, got.as_bytes())
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                    written.push(p.display().to_string());
                }
            }
        }
        return Ok(written);
    }
    let dir = r.case.dir.join(EXPECTED);
    let meta = std::fs::symlink_metadata(&dir);
    if meta.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!(
            "{}: a symbolic link; --bless writes only into real folders",
            dir.display()
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for m in &r.mismatches {
        match m {
            Mismatch::Differs { file, got, .. } | Mismatch::New { file, got } => {
                let p = dir.join(file);
                inside(&p)?;
                crate::cli::atomic_write(&p, got.as_bytes())
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                written.push(p.display().to_string());
            }
            Mismatch::Gone { file, .. } => {
                let p = dir.join(file);
                inside(&p)?;
                std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                written.push(format!("{} (removed)", p.display()));
            }
            Mismatch::Problem(_) => {}
        }
    }
    Ok(written)
}

/// A unified diff of `expected` → `got`, with 3 lines of context; `file`
/// is the expected file's path in the case.
pub fn diff(file: &str, expected: &str, got: &str) -> String {
    similar::TextDiff::from_lines(expected, got)
        .unified_diff()
        .context_radius(3)
        .header(file, &format!("{file} (produced)"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_stripped_only_after_mapping_names() {
        let t = "warning: x (m.hvx:12:3)\nat m.hvx:4 and other.hvx:1:2 m.hvx:";
        assert_eq!(
            strip_locations(t, &["m.hvx"]),
            "warning: x (m.hvx)\nat m.hvx:4 and other.hvx:1:2 m.hvx:"
        );
    }

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(
            relative(Path::new("s/a/b"), Path::new("s/mapping.hvx")),
            "../../mapping.hvx"
        );
        assert_eq!(relative(Path::new("s/a"), Path::new("s/a/m.hvx")), "m.hvx");
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(
            normalise(Path::new("a/b/../../c/./d")),
            PathBuf::from("c/d")
        );
        assert_eq!(normalise(Path::new("../x")), PathBuf::from("../x"));
    }
}
