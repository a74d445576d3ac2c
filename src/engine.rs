//! Mappings, routes and whole conversions: finds the mappings a route needs
//! (shipped ones embedded in the binary, overridable from a directory),
//! compiles each once, and chains them source → hub → target.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::carry;
use crate::compile::{self, FsResolver};
use crate::diag::{Diagnostics, Source};
use crate::exec::{self, Dropped, RunOptions, Unmapped, Warning};
use crate::platform::{self, input, Platform};
use crate::program::Program;
use crate::session::SessionAccess;

/// The shipped mappings and libraries, by file name.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("kvm-to-hvx.hvx", include_str!("../mappings/kvm-to-hvx.hvx")),
    // Direct: preferred to kvm → hvx → vsphere, with the same output.
    (
        "kvm-to-vsphere.hvx",
        include_str!("../mappings/kvm-to-vsphere.hvx"),
    ),
    ("hvx-to-kvm.hvx", include_str!("../mappings/hvx-to-kvm.hvx")),
    (
        "hvx-to-vsphere.hvx",
        include_str!("../mappings/hvx-to-vsphere.hvx"),
    ),
    (
        "vsphere-to-hvx.hvx",
        include_str!("../mappings/vsphere-to-hvx.hvx"),
    ),
    ("ovf-to-hvx.hvx", include_str!("../mappings/ovf-to-hvx.hvx")),
    ("hvx-to-ovf.hvx", include_str!("../mappings/hvx-to-ovf.hvx")),
    // Commands (hvxform command).
    (
        "commands/vsphere-to-hvx.hvx",
        include_str!("../mappings/commands/vsphere-to-hvx.hvx"),
    ),
    (
        "commands/hvx-to-kvm.hvx",
        include_str!("../mappings/commands/hvx-to-kvm.hvx"),
    ),
    (
        "commands/kvm-to-hvx.hvx",
        include_str!("../mappings/commands/kvm-to-hvx.hvx"),
    ),
    (
        "commands/hvx-to-vsphere.hvx",
        include_str!("../mappings/commands/hvx-to-vsphere.hvx"),
    ),
    (
        "commands/hvx-to-hyperv.hvx",
        include_str!("../mappings/commands/hvx-to-hyperv.hvx"),
    ),
    (
        "commands/hyperv-to-hvx.hvx",
        include_str!("../mappings/commands/hyperv-to-hvx.hvx"),
    ),
    (
        "commands/hvx-to-ec2.hvx",
        include_str!("../mappings/commands/hvx-to-ec2.hvx"),
    ),
    ("lib/units.hvx", include_str!("../mappings/lib/units.hvx")),
    ("lib/limits.hvx", include_str!("../mappings/lib/limits.hvx")),
    ("lib/vmware.hvx", include_str!("../mappings/lib/vmware.hvx")),
    (
        "lib/libvirt.hvx",
        include_str!("../mappings/lib/libvirt.hvx"),
    ),
    (
        "lib/vsphere.hvx",
        include_str!("../mappings/lib/vsphere.hvx"),
    ),
    (
        "lib/vsphere-types.hvx",
        include_str!("../mappings/lib/vsphere-types.hvx"),
    ),
    // Text platforms (.vmx, xl.cfg).
    (
        "vmware-to-hvx.hvx",
        include_str!("../mappings/vmware-to-hvx.hvx"),
    ),
    (
        "hvx-to-vmware.hvx",
        include_str!("../mappings/hvx-to-vmware.hvx"),
    ),
    ("lib/vmx.hvx", include_str!("../mappings/lib/vmx.hvx")),
    ("lib/genid.hvx", include_str!("../mappings/lib/genid.hvx")),
    (
        "lib/virtualbox.hvx",
        include_str!("../mappings/lib/virtualbox.hvx"),
    ),
    (
        "lib/netdisk.hvx",
        include_str!("../mappings/lib/netdisk.hvx"),
    ),
    ("xen-to-hvx.hvx", include_str!("../mappings/xen-to-hvx.hvx")),
    ("hvx-to-xen.hvx", include_str!("../mappings/hvx-to-xen.hvx")),
    // Hyper-V (CIM-XML through its canonical form).
    ("lib/hyperv.hvx", include_str!("../mappings/lib/hyperv.hvx")),
    (
        "hyperv-to-hvx.hvx",
        include_str!("../mappings/hyperv-to-hvx.hvx"),
    ),
    (
        "hvx-to-hyperv.hvx",
        include_str!("../mappings/hvx-to-hyperv.hvx"),
    ),
    // Amazon EC2 (the instance-type table is generated: mappings/data/).
    ("lib/ec2.hvx", include_str!("../mappings/lib/ec2.hvx")),
    (
        "lib/ec2-types.hvx",
        include_str!("../mappings/lib/ec2-types.hvx"),
    ),
    ("ec2-to-hvx.hvx", include_str!("../mappings/ec2-to-hvx.hvx")),
    ("hvx-to-ec2.hvx", include_str!("../mappings/hvx-to-ec2.hvx")),
];

/// A mapping failed to compile.
#[derive(Debug, Clone)]
pub struct MappingError {
    pub name: String,
    pub diagnostics: Diagnostics,
}

/// The mapping files of a route, or why there is none.
type RouteResult = Result<Arc<[String]>, String>;

/// One compiled (or failed) mapping, computed once.
type Slot = OnceLock<Result<Arc<Program>, MappingError>>;

/// Where mappings come from, with a compile-once cache.
pub struct Mappings {
    overrides: Option<PathBuf>,
    /// Route through the hub even where a direct mapping exists.
    via_hub: bool,
    cache: Mutex<HashMap<String, Arc<Slot>>>,
    /// Routes found, by (from, to) platform name.
    routes: Mutex<HashMap<(&'static str, &'static str), RouteResult>>,
}

impl Mappings {
    pub fn new(overrides: Option<PathBuf>) -> Self {
        Mappings {
            overrides,
            via_hub: false,
            cache: Mutex::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
        }
    }

    /// Routes through the hub even where a direct mapping exists (to compare
    /// the two: `transform --via-hub`).
    pub fn via_hub(mut self, yes: bool) -> Self {
        self.via_hub = yes;
        self
    }

    /// Whether a mapping of this name comes from the override directory.
    pub fn overridden(&self, file: &str) -> bool {
        self.overrides
            .as_ref()
            .is_some_and(|d| d.join(file).exists())
    }

    /// The source of a mapping by file name: the override directory first,
    /// then the embedded set.
    pub fn source(&self, file: &str) -> Option<Arc<Source>> {
        if let Some(dir) = &self.overrides {
            let p = dir.join(file);
            if p.is_file() {
                return compile::read_source(&p).ok();
            }
        }
        EMBEDDED.iter().find(|(n, _)| *n == file).map(|(n, t)| {
            Arc::new(Source {
                name: format!("<builtin>/{n}"),
                path: None,
                text: t.to_string(),
            })
        })
    }

    pub fn exists(&self, file: &str) -> bool {
        self.overrides
            .as_ref()
            .is_some_and(|d| d.join(file).is_file())
            || EMBEDDED.iter().any(|(n, _)| *n == file)
    }

    /// Compiles (once) and returns the mapping with this file name.
    pub fn program(&self, file: &str) -> Result<Arc<Program>, MappingError> {
        let cell = {
            let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match c.get(file) {
                Some(cell) => cell.clone(),
                None => c.entry(file.to_string()).or_default().clone(),
            }
        };
        cell.get_or_init(|| {
            let Some(src) = self.source(file) else {
                return Err(MappingError {
                    name: file.to_string(),
                    diagnostics: Diagnostics::default(),
                });
            };
            let resolver = FsResolver { embedded: EMBEDDED };
            let (p, diags) = compile::compile_to_run(src, &resolver);
            p.map(Arc::new).ok_or(MappingError {
                name: file.to_string(),
                diagnostics: diags,
            })
        })
        .clone()
    }

    /// The mapping files that convert `from` to `to`: a direct mapping when
    /// one exists (unless [`Mappings::via_hub`]), else through the hub.
    pub fn route(&self, from: &Platform, to: &Platform) -> Result<Arc<[String]>, String> {
        let key = (from.name, to.name);
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = routes.get(&key) {
            return r.clone();
        }
        let r = self.find_route(from, to, !self.via_hub).map(Arc::from);
        routes.insert(key, r.clone());
        r
    }

    /// The route through the hub, even where a direct mapping exists (a
    /// document whose carried data is restored in the hub).
    pub fn hub_route(&self, from: &Platform, to: &Platform) -> Result<Arc<[String]>, String> {
        self.find_route(from, to, false).map(Arc::from)
    }

    fn find_route(
        &self,
        from: &Platform,
        to: &Platform,
        direct_ok: bool,
    ) -> Result<Vec<String>, String> {
        let direct = format!("{}-to-{}.hvx", from.name, to.name);
        if from.name != to.name && direct_ok && self.exists(&direct) {
            return Ok(vec![direct]);
        }
        let mut files = Vec::new();
        if from.name != "hvx" {
            files.push(format!("{}-to-hvx.hvx", from.name));
        }
        if to.name != "hvx" {
            files.push(format!("hvx-to-{}.hvx", to.name));
        }
        if files.is_empty() {
            return Err("converting hvx to hvx does nothing".into());
        }
        for f in &files {
            if !self.exists(f) {
                let side = if f.starts_with("hvx-to-") {
                    format!("writing {}", to.name)
                } else {
                    format!("reading {}", from.name)
                };
                return Err(format!(
                    "no route from {} to {}: {side} is not implemented yet (no mapping `{f}`)",
                    from.name, to.name
                ));
            }
        }
        Ok(files)
    }
}

/// Which stage of a route something happened in.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stage {
    pub mapping: String,
    /// `input` for the first stage, `hub` for later ones.
    pub reads: &'static str,
}

/// One output document of a conversion.
#[derive(Debug, Clone)]
pub struct Produced {
    pub target: &'static str,
    /// Names computed by mappings, outermost first (empty for the main document).
    pub names: Vec<String>,
    pub ext: &'static str,
    /// A JSON document (named `<stem>.<target>.<names>.json`).
    pub json: bool,
    pub xml: String,
}

/// Loss and warnings from a conversion, per stage.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Findings {
    pub unmapped_count: usize,
    pub unmapped: Vec<(Stage, Unmapped)>,
    pub dropped: Vec<(Stage, Dropped)>,
    pub warnings: Vec<(Stage, Warning)>,
    /// What each stage's mapping ran, with [`RunOptions::coverage`].
    #[serde(skip)]
    pub hits: Vec<(Arc<Program>, exec::Hits)>,
    /// What happened in each stage, with [`RunOptions::trace`].
    pub trace: Vec<(Stage, exec::TraceEvent)>,
}

impl Findings {
    /// What went unmapped, was dropped or warned about, as the report of
    /// `transform --report` and the server's envelope list them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        json!({
            "unmapped_count": self.unmapped_count,
            "unmapped": self.unmapped.iter().map(|(s, u)| json!({"stage": s.reads, "mapping": s.mapping, "line": u.line, "column": u.col, "path": u.path, "kind": u.kind, "reason": u.reason})).collect::<Vec<_>>(),
            "dropped": self.dropped.iter().map(|(s, x)| json!({"stage": s.reads, "mapping": s.mapping, "line": x.line, "column": x.col, "path": x.path, "reason": x.reason})).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(|(s, w)| json!({"stage": s.reads, "mapping": w.mapping, "action": w.action, "message": w.message, "input": w.input})).collect::<Vec<_>>(),
        })
    }
}

/// A failed conversion.
#[derive(Debug, Clone)]
pub enum ConvertError {
    Input(String),
    Mapping(MappingError),
    Route(String),
    Run {
        mapping: String,
        error: Box<exec::RuntimeError>,
    },
    /// The target's writer refused the last stage's output (`.vmx`, xl.cfg).
    Output(String),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::Input(m) | ConvertError::Route(m) | ConvertError::Output(m) => {
                f.write_str(m)
            }
            ConvertError::Mapping(m) => write!(
                f,
                "mapping {} has {} error(s); run `hvxform check` for details",
                m.name,
                m.diagnostics.errors().max(1)
            ),
            ConvertError::Run { error, .. } => write!(f, "{error}"),
        }
    }
}

/// Options for conversions.
pub struct Convert<'m> {
    pub mappings: &'m Mappings,
    pub params: Vec<(String, String)>,
    pub sessions: &'m dyn SessionAccess,
    pub run: RunOptions,
}

/// An input as its first mapping reads it: the tree, its platform, why a
/// document of no known platform was read as `--from` says it is, and what
/// it carries from an earlier conversion.
type ReadInput = (
    crate::tree::Document,
    &'static Platform,
    Option<String>,
    Option<carry::Found>,
);

impl<'m> Convert<'m> {
    /// A conversion with no parameters and the default run options.
    pub fn new(mappings: &'m Mappings, sessions: &'m dyn SessionAccess) -> Self {
        Convert {
            mappings,
            params: Vec::new(),
            sessions,
            run: RunOptions::default(),
        }
    }

    /// Converts one input text to every target.
    pub fn convert(
        &self,
        name: &str,
        text: &str,
        from: Option<&'static Platform>,
        targets: &[&'static Platform],
    ) -> Result<(Vec<Produced>, Findings), ConvertError> {
        self.convert_at(name, text, from, targets, 0, self.sessions)
    }

    /// [`Self::convert`] of a document `depth` packages deep (0: the
    /// user's; more: an original replayed to restore carried data, which is
    /// neither carried again nor, past [`carry::MAX_NESTING`], restored).
    fn convert_at(
        &self,
        name: &str,
        text: &str,
        from: Option<&'static Platform>,
        targets: &[&'static Platform],
        depth: usize,
        store: &dyn SessionAccess,
    ) -> Result<(Vec<Produced>, Findings), ConvertError> {
        // Text formats (.vmx, xl.cfg) are read in their canonical XML form:
        // built straight into the tree the first mapping reads, unless the
        // input may carry data (found in the canonical text).
        let raw = text;
        let (doc, source, unknown_root, found) = match platform::to_tree(name, text, from) {
            Some(built) => {
                let (doc, source) = built.map_err(ConvertError::Input)?;
                (doc, source, None, None)
            }
            None => self.read_as_text(name, text, from, depth)?,
        };
        let carried = found.map(|f| f.package);
        let mut out = Vec::new();
        let mut findings = Findings::default();
        // Only a target with a channel carries anything: for the others no
        // pair is recorded and no secret looked for.
        let carrying =
            self.run.carry && depth == 0 && targets.iter().any(|t| carry::has_channel(t.name));
        // The pairs this conversion uses go with what it carries.
        let recorder = carry::Recorder::new(store);
        let sessions: &dyn SessionAccess = if carrying { &recorder } else { store };
        let decoded = match &carried {
            Some(Ok(p)) => carry::decode(p).ok(),
            _ => None,
        };
        let package_home = decoded.as_ref().map(|p| p.home);
        let carried_pairs = decoded.as_ref().filter(|_| depth == 0).map(|p| &p.pairs);
        for target in targets {
            // Where this target's findings start.
            let mark = (findings.unmapped.len(), findings.unmapped_count);
            let (dropped_mark, warnings_mark) = (findings.dropped.len(), findings.warnings.len());
            // A document converted to its own platform, already in the form
            // that platform's writer writes, is itself once its mapping has
            // read it without an error (book: cli, Routes).
            let own = source.name == target.name
                && depth == 0
                && !self.mappings.via_hub
                && !self.mappings.overridden(&hub_stage(source))
                && !self
                    .mappings
                    .overridden(&format!("hvx-to-{}.hvx", target.name));
            let identity = own && platform::in_written_form(target, raw, &doc);
            let mut files = self
                .mappings
                .route(source, target)
                .map_err(ConvertError::Route)?;
            // Carried data is restored in the hub.
            if carried.is_some() && files.first() != Some(&hub_stage(source)) {
                files = self
                    .mappings
                    .hub_route(source, target)
                    .map_err(ConvertError::Route)?;
            }
            // Each document of the last stage run: its names, and its tree
            // (for the next stage) or its text (XML or JSON).
            let mut docs: Vec<(Vec<String>, exec::OutDoc)> = Vec::new();
            // The input's secret nodes, as the first stage found them.
            let mut secrets = Vec::new();
            let mut home: Option<Original> = None;
            // The input was a carried original written to its platform and
            // nothing more: the package it carries goes on as it is.
            let mut passed_through = false;
            // Changed on the way and home: the layout of the file the VM
            // left as (a `.vmx`, an xl.cfg), which the new file keeps.
            let mut left_as: Option<String> = None;
            // The input was changed on its platform: the hub its carried
            // data was restored into, which goes on instead of the input.
            let mut merged: Option<String> = None;
            // Where the findings of the stages that read the hub start.
            let mut hub_mark = mark;
            // Going back to the platform a package came from: nothing new
            // is carried (the original is restored instead).
            // The package says where the VM is from; without one, a hub
            // that holds the target's own native detail is on its way home.
            // (A hub merged from a VM changed on a platform holds that
            // platform's detail too: going there again is not going home.)
            let mut homebound = match package_home {
                Some(home) => source.name != target.name && home == target.name,
                None => source.name == "hvx" && carrying && knows(&doc, target),
            };
            // The first stage reads the parsed input; later stages read the
            // tree the stage before built (see book: performance).
            for (k, file) in files.iter().enumerate() {
                let program = self.mappings.program(file).map_err(ConvertError::Mapping)?;
                // The identifiers the VM had when it left (a directory's
                // datastore), where the run's store has none for them: a
                // disk changed on the way does not move the others to
                // datastores minted anew.
                if let Some(pairs) = &carried_pairs {
                    for def in &program.sessions {
                        for (_, l, r) in pairs.iter().filter(|(t, _, _)| *t == def.name) {
                            sessions.adopt(def, l, r).map_err(ConvertError::Route)?;
                        }
                    }
                }
                let params = exec::bind_params(&program, &self.relevant_params(&program))
                    .map_err(ConvertError::Route)?;
                let stage = Stage {
                    mapping: file.clone(),
                    reads: if k == 0 { "input" } else { "hub" },
                };
                // Documents only a program reads (the next stage, or the
                // writer of a native format) are written without indentation.
                let restoring =
                    k == 0 && !identity && carried.is_some() && file == &hub_stage(source);
                let last = k + 1 == files.len();
                let opts = RunOptions {
                    compact: !last || platform::writes_native(target),
                    // The next stage, the restore and a writer of native
                    // text read the document as a tree, never as text.
                    tree: !last || restoring || platform::writes_from_tree(target),
                    carry: carrying && k == 0,
                    ..self.run.clone()
                };
                let mut next = Vec::new();
                let mut run_stage = |doc: &crate::tree::Document,
                                     names: &[String]|
                 -> Result<(), ConvertError> {
                    let o =
                        exec::run(&program, doc, &params, sessions, &opts).map_err(|error| {
                            match &unknown_root {
                                // A document of no known platform read as --from
                                // says, in which the mapping found nothing.
                                Some(m)
                                    if k == 0 && error.message.ends_with("has no root element") =>
                                {
                                    ConvertError::Input(format!("{name}: {m}"))
                                }
                                _ => ConvertError::Run {
                                    mapping: file.clone(),
                                    error: Box::new(error),
                                },
                            }
                        })?;
                    findings.unmapped_count += o.unmapped_count;
                    collect(&mut findings, &stage, o.unmapped, o.dropped, o.warnings);
                    if let Some(h) = o.hits {
                        findings.hits.push((program.clone(), h));
                    }
                    findings
                        .trace
                        .extend(o.trace.into_iter().map(|e| (stage.clone(), e)));
                    if k == 0 {
                        secrets = o.secrets;
                    }
                    for d in o.documents {
                        if d.json && k + 1 < files.len() {
                            return Err(ConvertError::Route(format!(
                                    "{file}: JSON document `{}` comes from a mapping whose output the next mapping of the route reads; only a route's last mapping writes JSON",
                                    d.document
                                )));
                        }
                        let mut n = names.to_vec();
                        n.extend(d.name.clone());
                        next.push((n, d));
                    }
                    Ok(())
                };
                if k == 0 {
                    run_stage(&doc, &[])?;
                    hub_mark = (findings.unmapped.len(), findings.unmapped_count);
                    if identity {
                        break;
                    }
                    if restoring {
                        // One VM (a response of several carries nothing here).
                        if let [(_, main)] = next.as_mut_slice() {
                            let pkg = carried.as_ref().expect("restoring");
                            let restored = self.restore(
                                name,
                                pkg,
                                source,
                                main,
                                k + 1 < files.len(),
                                depth,
                                &mut findings,
                            );
                            match restored {
                                // Unchanged, and home: the original as it
                                // was, when it is in the form the platform's
                                // writer writes (a vCenter ConfigInfo comes
                                // home as the ConfigSpec the hub gives).
                                Restored::Unchanged(o) => {
                                    passed_through = true;
                                    home = Some(o).filter(|o| {
                                        o.platform.name == target.name
                                            && written_form(target, &o.text)
                                    });
                                }
                                // Changed on the way: what goes on is the
                                // merged hub (read back before the next
                                // stage takes it), for a target that carries.
                                Restored::Changed
                                    if homebound
                                        && matches!(target.name, "vmware" | "xen")
                                        && decoded
                                            .as_ref()
                                            .is_some_and(|p| p.platform == target.name) =>
                                {
                                    left_as = decoded.as_ref().and_then(|p| {
                                        original_as_native(name, target, p.text).ok()
                                    });
                                }
                                Restored::Changed
                                    if carrying
                                        && secrets.is_empty()
                                        && carry::has_channel(target.name) =>
                                {
                                    merged = match &main.tree {
                                        Some(t) => carry::written(t).ok(),
                                        None => Some(main.xml.clone()),
                                    };
                                }
                                _ => {}
                            }
                        }
                    }
                    if home.is_some() {
                        break;
                    }
                } else {
                    for (names, d) in &docs {
                        let hub = d.tree.as_ref().ok_or_else(|| {
                            ConvertError::Route(format!("internal: {file} read no tree"))
                        })?;
                        // The VM's own native detail for the target is in the
                        // hub already (carried by a mapping: Hyper-V's Notes,
                        // EC2's tags): it is on its way home.
                        if k + 1 == files.len()
                            && carrying
                            && !homebound
                            && package_home.is_none()
                            && carry::has_channel(target.name)
                        {
                            homebound = knows(hub, target);
                        }
                        run_stage(hub, names)?;
                    }
                }
                docs = next;
            }
            if identity {
                out.push(Produced {
                    target: target.name,
                    names: Vec::new(),
                    ext: target.ext,
                    json: false,
                    xml: platform::native_as_read(target, raw),
                });
                // Nothing converted, so nothing dropped, lost or to do.
                findings.unmapped.truncate(mark.0);
                findings.unmapped_count = mark.1;
                findings.dropped.truncate(dropped_mark);
                findings.warnings.truncate(warnings_mark);
                continue;
            }
            if let Some(o) = home {
                let xml = original_as_native(name, target, &o.text)
                    .map_err(|m| ConvertError::Output(format!("{name}: {m}")))?;
                out.push(Produced {
                    target: target.name,
                    names: Vec::new(),
                    ext: target.ext,
                    json: false,
                    xml,
                });
                carried_away(&mut findings, mark, target);
                continue;
            }
            let documents = docs.iter().filter(|(_, d)| !d.json).count();
            // The package, for the one document of a target with a channel
            // (and EC2's RunInstances request beside it).
            let writes_pkg = carrying && documents == 1 && carry::has_channel(target.name);
            // A package is never nested: a document that carries one
            // passes on the original it carries when it is that original
            // as its platform wrote it, and the merged hub (a package of
            // the hub) when it was changed there. A package holding a
            // package grew with every platform, past what EC2's tags hold,
            // and left out the changes of a platform the VM went home from.
            let pkg = if !writes_pkg {
                None
            } else if homebound {
                // Home: nothing new is carried (but what a package of an
                // earlier hvxform nested).
                decoded.as_ref().and_then(|p| inner_package(p, target))
            } else if let Some(hub) = &merged {
                let mut pairs = recorder.pairs();
                pairs.extend(decoded.iter().flat_map(|p| p.pairs.iter().cloned()));
                let home = package_home.unwrap_or(source.name);
                Some(carry::encode(&carry::hub_platform_line(home), &pairs, hub))
            } else if passed_through {
                carried.as_ref().and_then(|c| c.as_ref().ok()).cloned()
            } else {
                self.package(
                    raw,
                    &doc,
                    source,
                    target,
                    &carried,
                    &recorder.pairs(),
                    &secrets,
                    &mut findings,
                )
            };
            // What the package holds of what the mappings left unmapped:
            // all of it in the input's own original; in a package passed
            // on, or the hub, what the hub held (the input's own is not
            // in them).
            let held = if pkg.is_none() || homebound {
                None
            } else if merged.is_some() || passed_through {
                Some(hub_mark)
            } else {
                Some(mark)
            };
            let pkg = pkg.map(|p| carry::channel_form(target.name, &p));
            for (names, d) in docs {
                let json = d.json;
                // `.vmx` and xl.cfg are written before the package is
                // attached (as lines of their own); the others after.
                // A hub the first stage built as a tree to restore into, and
                // nothing replaced (the restore failed, or the stage wrote
                // several documents), is written as the stage would have.
                let native_first = !json && carry::attaches_to_native(target.name);
                let (xml, native) = match &d.tree {
                    Some(t) if platform::writes_from_tree(target) => {
                        (platform::to_native_tree(target, t), true)
                    }
                    Some(t) => (carry::written(t), false),
                    None if native_first => (platform::to_native(target, d.xml), true),
                    None => (Ok(d.xml), false),
                };
                let mut xml = xml.map_err(|m| ConvertError::Output(format!("{name}: {m}")))?;
                if let (Some(base), true) = (&left_as, native && names.is_empty()) {
                    if let Some(laid_out) = platform::rebase(target, base, &xml) {
                        xml = laid_out;
                    }
                }
                if let Some(pkg) = &pkg {
                    match carry::attach_to(target.name, &xml, json, pkg) {
                        Some(Ok(with)) => {
                            xml = with;
                            // Nothing the mappings left unmapped is lost:
                            // the original holds it, and it comes back.
                            if let Some(from) = held.filter(|_| !json) {
                                carried_away(&mut findings, from, target);
                            }
                        }
                        Some(Err(e)) => carry_warning(
                            &mut findings,
                            if json {
                                format!("the original is not carried in the request: {e}")
                            } else {
                                format!("the original is not carried: {e}")
                            },
                        ),
                        None => {}
                    }
                }
                // Text targets (.vmx, xl.cfg) are written from their canonical
                // form; JSON documents as they are.
                let xml = if json || native {
                    xml
                } else if own && names.is_empty() && platform::same_tree(raw, &xml) {
                    // Converted to its own platform through the hub (EC2,
                    // for its requests) and nothing changed: the input as
                    // it was written, not re-indented.
                    platform::native_as_read(target, raw)
                } else {
                    platform::to_native(target, xml)
                        .map_err(|m| ConvertError::Output(format!("{name}: {m}")))?
                };
                out.push(Produced {
                    target: target.name,
                    names,
                    ext: if json { "json" } else { target.ext },
                    json,
                    xml,
                });
            }
        }
        Ok((out, findings))
    }

    /// An input read through its canonical XML text (XML inputs, and text
    /// formats that may carry data): parsed, its platform found, and what
    /// it carries from an earlier conversion found and cut out.
    fn read_as_text(
        &self,
        name: &str,
        text: &str,
        from: Option<&'static Platform>,
        depth: usize,
    ) -> Result<ReadInput, ConvertError> {
        let text = platform::to_xml(name, text, from).map_err(ConvertError::Input)?;
        if let Some(read) = self.read_plain(&text, from) {
            return Ok(read);
        }
        let doc = input::parse_xml(name, &text).map_err(|e| ConvertError::Input(e.message))?;
        let (source, unknown_root) = platform::source_of_xml(&doc, from)
            .map_err(|m| ConvertError::Input(format!("{name}: {m}")))?;
        if !source.implemented {
            return Err(ConvertError::Route(format!(
                "{name}: reading {} is not implemented yet",
                source.name
            )));
        }
        // What the input carries from an earlier conversion (restored by
        // the caller), and the input as its mapping reads it: without a
        // channel that is not the mapping's to see.
        let found = if self.run.carry && depth <= carry::MAX_NESTING {
            carry::find(source.name, &doc)
        } else {
            None
        };
        let doc = match found.as_ref().map(|f| &f.strip).filter(|s| !s.is_empty()) {
            Some(ranges) => {
                let mut t = String::with_capacity(text.len());
                let mut at = 0;
                for r in ranges {
                    t.push_str(&text[at..r.start]);
                    at = r.end;
                }
                t.push_str(&text[at..]);
                let d = input::parse_xml(name, &t).map_err(|e| ConvertError::Input(e.message))?;
                crate::tree::Document::from_roxml(&d)
            }
            None => crate::tree::Document::from_roxml(&doc),
        };
        let doc = doc.map_err(|m| ConvertError::Input(format!("{name}: {m}")))?;
        Ok((doc, source, unknown_root, found))
    }

    /// [`Convert::read_as_text`]'s common case in one pass: plain XML read
    /// straight into the program's tree ([`crate::tree::Document::scan`]),
    /// of a platform its root element names. `None` sends the input the
    /// parser's way: XML outside that subset (and every malformed input,
    /// whose error the parser places), a root that needs a closer look,
    /// `--from` naming another platform (said there), and any input with
    /// the word `carry` in it, which may hold data from an earlier
    /// conversion ([`carry::find`] finds it in the parser's tree; no
    /// channel's name is written without that word, and the scan refuses
    /// the character references that could spell it otherwise).
    fn read_plain(&self, text: &str, from: Option<&'static Platform>) -> Option<ReadInput> {
        if self.run.carry && memchr::memmem::find(text.as_bytes(), b"carry").is_some() {
            return None;
        }
        let doc = crate::tree::Document::scan(text)?;
        let root = doc.root_element()?;
        let tn = root.tag_name();
        let source = platform::platform_of_root(tn.name(), tn.namespace())?;
        if from.is_some_and(|f| f.name != source.name) || !source.implemented {
            return None;
        }
        Some((doc, source, None, None))
    }

    /// The package of carried data for a document of `target`: the input,
    /// without its secrets, or, for a document going back to its own
    /// platform, the package it already carries. `None` (with a warning
    /// saying why, where there is one) when nothing is carried.
    #[allow(clippy::too_many_arguments)]
    fn package(
        &self,
        text: &str,
        doc: &crate::tree::Document,
        source: &'static Platform,
        target: &'static Platform,
        carried: &Option<Result<String, String>>,
        pairs: &[(String, String, String)],
        secrets: &[(crate::tree::NodeId, Option<u32>)],
        findings: &mut Findings,
    ) -> Option<String> {
        // Too large to carry: said before a copy of it is made.
        let limit = carry::CHUNK * carry::MAX_CHUNKS;
        if source.name != target.name && text.len() > limit {
            carry_warning(
                findings,
                format!(
                    "the original is not carried: it is too large ({} bytes; at most {limit})",
                    text.len()
                ),
            );
            return None;
        }
        if source.name == target.name {
            match carried {
                Some(Ok(p)) => Some(p.clone()),
                _ => None,
            }
        } else if secrets.is_empty() {
            Some(carry::encode(source.name, pairs, text))
        } else {
            match carry::without(doc, secrets) {
                Ok(t) => Some(carry::encode(source.name, pairs, &t)),
                Err(e) => {
                    carry_warning(findings, format!("the original is not carried: {e}"));
                    None
                }
            }
        }
    }

    /// Restores the carried data of a document read by its platform's
    /// `*-to-hvx` mapping into `main`, that mapping's hub (see [`carry`]).
    /// What cannot be replayed is a warning; the hub then stays as read.
    #[allow(clippy::too_many_arguments)]
    fn restore(
        &self,
        name: &str,
        pkg: &Result<String, String>,
        via: &'static Platform,
        main: &mut exec::OutDoc,
        as_tree: bool,
        depth: usize,
        findings: &mut Findings,
    ) -> Restored {
        let hub = platform::by_name("hvx").expect("the hub platform");
        let replay = |pkg: &str| -> Result<(String, String, Original), String> {
            let package = carry::decode(pkg)?;
            let from = platform::by_name(package.platform)?;
            let label = format!("{name} (carried {})", from.name);
            // The original's identifiers, whatever the user's store holds now.
            let store = carry::Replay::new(package.pairs);
            let one =
                |text: &str, from: &'static Platform, to: &'static Platform, restore: bool| {
                    let d = if restore {
                        depth + 1
                    } else {
                        carry::MAX_NESTING + 1
                    };
                    self.convert_at(&label, text, Some(from), &[to], d, &store)
                        .map_err(|e| e.to_string())?
                        .0
                        .into_iter()
                        .find(|p| !p.json)
                        .map(|p| p.xml)
                        .ok_or_else(|| format!("{label}: no document"))
                };
            // A: the original's hub; B: A through the platform and back.
            let a = if from.name == "hvx" {
                package.text.to_string()
            } else {
                one(package.text, from, hub, true)?
            };
            let there = one(&a, hub, via, false)?;
            let b = one(&there, via, hub, false)?;
            let original = Original {
                platform: from,
                text: package.text.to_string(),
            };
            Ok((a, b, original))
        };
        let mut unchanged = None;
        let result = pkg.clone().and_then(|p| {
            let (a, b, original) = replay(&p)?;
            let a = crate::tree::Document::parse(&a)?;
            let b = crate::tree::Document::parse(&b)?;
            let c = main.tree.as_ref().ok_or("the hub was not built")?;
            if let (Some(ra), Some(rc)) = (a.root_element(), c.root_element()) {
                another_vm(ra, rc)?;
            }
            if let (Some(rb), Some(rc)) = (b.root_element(), c.root_element()) {
                if carry::same(rb, rc) {
                    unchanged = Some(original);
                }
            }
            let mut out = if as_tree {
                crate::xmlout::XmlOut::building()
            } else {
                crate::xmlout::XmlOut::new()
            };
            let warnings = carry::merge(&a, &b, c, via.name, &mut out)?;
            if as_tree {
                main.tree = Some(out.finish_tree().map_err(|e| e.to_string())?);
            } else {
                main.xml = out.finish().map_err(|e| e.to_string())?;
                main.tree = None;
            }
            Ok(warnings)
        });
        match result {
            Ok(warnings) => {
                for w in warnings {
                    carry_warning(findings, w);
                }
                match unchanged {
                    Some(o) => Restored::Unchanged(o),
                    None => Restored::Changed,
                }
            }
            Err(e) => {
                carry_warning(findings, format!("carried data not restored: {e}"));
                Restored::Failed
            }
        }
    }

    /// `--param` values go to every mapping that declares them; a name no
    /// mapping on the route declares is an error reported by the CLI.
    fn relevant_params(&self, p: &Program) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter(|(n, _)| p.params.iter().any(|d| &d.name == n))
            .cloned()
            .collect()
    }
}

/// A carried original of `target` as the platform's own text: native
/// text as it was read, a canonical form (what is carried of an input with
/// secrets) written out as the platform's.
fn original_as_native(name: &str, target: &'static Platform, text: &str) -> Result<String, String> {
    match platform::to_xml(name, text, Some(target)) {
        Ok(std::borrow::Cow::Borrowed(_)) => platform::to_native(target, text.to_string()),
        _ => Ok(platform::native_as_read(target, text)),
    }
}

/// The package that the original in `package` holds itself, when that
/// original is `target`'s: an earlier hvxform nested packages (a VM taken
/// kvm → vsphere → hyperv carried the ConfigSpec, which carried the libvirt
/// domain). Going home to vSphere changed (unchanged, the original itself
/// comes home), the ConfigSpec is written anew, and carries the domain on:
/// else what only libvirt held would be lost on the way.
fn inner_package(package: &carry::Package, target: &'static Platform) -> Option<String> {
    if package.platform != target.name {
        return None;
    }
    let xml = platform::to_xml("carried", package.text, Some(target)).ok()?;
    let doc = input::parse_xml("carried", &xml).ok()?;
    carry::find(target.name, &doc)?.package.ok()
}

/// A package is another VM's when neither the name nor the UUID of the VM
/// it carries is this VM's: pasted from another VM's file, it would graft
/// that VM's machine type, guest OS and devices onto this one. (One of them
/// changed is a change made on the platform, which wins as any other: a
/// clone has a new UUID, a renamed VM a new name.)
fn another_vm(carried: crate::tree::Node, this: crate::tree::Node) -> Result<(), String> {
    let field = |vm: crate::tree::Node, name: &str| {
        vm.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_ascii_lowercase())
    };
    let (n0, u0) = (field(carried, "name"), field(carried, "uuid"));
    let (n1, u1) = (field(this, "name"), field(this, "uuid"));
    match (n0, u0, n1, u1) {
        (Some(n0), Some(u0), Some(n1), Some(u1)) if n0 != n1 && u0 != u1 => Err(format!(
            "it is another VM's (`{n0}`, UUID {u0}), not this one's (`{n1}`, UUID {u1})"
        )),
        _ => Ok(()),
    }
}

/// What restoring a document's carried data found.
enum Restored {
    /// The package could not be replayed: the hub stays as read.
    Failed,
    /// The VM was changed on the platform: the hub is the merge.
    Changed,
    /// The document is the carried original written to its platform.
    Unchanged(Original),
}

/// The document a package carries, when the document that carried it came
/// back unchanged: going home to its own platform, it is the output.
struct Original {
    platform: &'static Platform,
    text: String,
}

/// Whether `text`, a carried original of `target`, comes home as it is: not
/// when it is a form vSphere or Hyper-V is read in but not written (a
/// vCenter ConfigInfo, WMI's instances, a pre-2016 Hyper-V file), whose
/// platform's writer writes its own form ([`platform::in_written_form`]).
fn written_form(target: &'static Platform, text: &str) -> bool {
    if !matches!(target.name, "vsphere" | "hyperv") {
        return true;
    }
    platform::to_xml("carried", text, Some(target))
        .ok()
        .and_then(|x| crate::tree::Document::parse(&x).ok())
        .is_some_and(|d| platform::in_written_form(target, text, &d))
}

/// What went unmapped for `target` since `mark` was carried in its output
/// (or is the original it gives back): listed as carried, not as lost.
fn carried_away(findings: &mut Findings, mark: (usize, usize), target: &Platform) {
    let moved: Vec<_> = findings.unmapped.drain(mark.0..).collect();
    findings.unmapped_count = mark.1;
    for (stage, u) in moved {
        let mapping = stage.mapping.clone();
        findings.dropped.push((
            stage,
            Dropped {
                line: u.line,
                col: u.col,
                path: u.path,
                reason: format!(
                    "{} has no place for it; carried in the output for the way back",
                    target.name
                ),
                mapping,
            },
        ));
    }
}

/// Whether a hub holds native detail of `target` (its `extension` or
/// `entry` elements): the VM has been there.
fn knows(hub: &crate::tree::Document, target: &Platform) -> bool {
    // Where the hub keeps them: in `extensions` and as the last children of
    // each device (not inside the native content they hold).
    let Some(vm) = hub.root_element() else {
        return false;
    };
    vm.children().filter(|c| c.is_element()).any(|c| {
        c.children().any(|n| {
            matches!(n.tag_name().name(), "extension" | "entry")
                && n.attribute("platform") == Some(target.name)
        })
    })
}

/// The mapping that reads `source` into the hub.
fn hub_stage(source: &Platform) -> String {
    format!("{}-to-hvx.hvx", source.name)
}

/// A warning about carried data, in the findings of the conversion.
fn carry_warning(findings: &mut Findings, message: String) {
    let stage = Stage {
        mapping: "carried data".into(),
        reads: "hub",
    };
    findings.warnings.push((
        stage,
        Warning {
            message,
            action: false,
            mapping: String::new(),
            input: None,
        },
    ));
}

fn collect(f: &mut Findings, stage: &Stage, u: Vec<Unmapped>, d: Vec<Dropped>, w: Vec<Warning>) {
    f.unmapped.extend(u.into_iter().map(|x| (stage.clone(), x)));
    f.dropped.extend(d.into_iter().map(|x| (stage.clone(), x)));
    f.warnings.extend(w.into_iter().map(|x| (stage.clone(), x)));
}

/// Checks that a name computed from input data is safe as a file-name part.
pub fn safe_name_part(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an output name computed from the input is empty".into());
    }
    if s.len() > 200 {
        return Err(format!(
            "output name `{}` is longer than 200 bytes",
            crate::convert::short(s)
        ));
    }
    if s == "." || s == ".." || s.starts_with('.') {
        return Err(format!(
            "output name `{s}` would be hidden or leave the output directory"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| {
            matches!(c, '/' | '\\' | ':')
                || c.is_control()
                // Bidirectional controls: `\u{202e}gpj.exe` reads as `exe.jpg`.
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
    {
        return Err(format!(
            "output name `{}` contains {:?}, which is not allowed in a file name",
            crate::convert::short(s),
            c
        ));
    }
    Ok(())
}

/// `<stem>.<names...>.<target>.<ext>`.
/// The file name of each of one input's documents (`stem` the input's):
/// names computed by a mapping tell documents of one target apart, so a
/// target with a single document needs none; JSON documents are companions
/// of the target's document and keep their own name. Names from data are
/// checked even when they are not used. The CLI and the server name files
/// alike through this.
pub fn output_names(stem: &str, docs: &[Produced]) -> Result<Vec<String>, String> {
    let mut names = Vec::with_capacity(docs.len());
    for p in docs {
        if let Some(m) = p.names.iter().find_map(|n| safe_name_part(n).err()) {
            return Err(m);
        }
        let single = docs
            .iter()
            .filter(|q| q.target == p.target && !q.json)
            .count()
            == 1;
        let alone = !p.json && single;
        let name = if p.json && single && p.names.len() > 1 {
            let own = Produced {
                target: p.target,
                names: p.names[p.names.len() - 1..].to_vec(),
                ext: p.ext,
                json: true,
                xml: String::new(),
            };
            output_file_name(stem, &own)
        } else if alone && !p.names.is_empty() {
            // Only the name is computed from it.
            let unnamed = Produced {
                target: p.target,
                names: Vec::new(),
                ext: p.ext,
                json: p.json,
                xml: String::new(),
            };
            output_file_name(stem, &unnamed)
        } else {
            output_file_name(stem, p)
        }?;
        names.push(name);
    }
    Ok(names)
}

pub fn output_file_name(stem: &str, p: &Produced) -> Result<String, String> {
    let mut parts = vec![stem.to_string()];
    for n in &p.names {
        safe_name_part(n)?;
    }
    // A JSON document is a companion of the target's document:
    // `web.ec2.run-instances.json` beside `web.ec2.xml`.
    if p.json {
        parts.push(p.target.to_string());
        parts.extend(p.names.iter().cloned());
    } else {
        parts.extend(p.names.iter().cloned());
        // `web.ovf`, `web.hvx.xml`: an extension that names the target
        // already says it once.
        let says_target = p
            .ext
            .strip_prefix(p.target)
            .is_some_and(|r| r.is_empty() || r.starts_with('.'));
        if !says_target {
            parts.push(p.target.to_string());
        }
    }
    parts.push(p.ext.to_string());
    Ok(parts.join("."))
}

/// The stem of an input path (file name without its last extension).
pub fn stem(path: &Path) -> String {
    if path == Path::new("-") {
        return "stdin".into();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    // A hub document's name has two extensions: `web.hvx.xml` is `web`.
    let is_xml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
    match stem.strip_suffix(".hvx") {
        Some(s) if is_xml && !s.is_empty() => s.to_string(),
        _ => stem,
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name_part;

    #[test]
    fn names_from_data_are_plain_file_names() {
        assert!(safe_name_part("web-01").is_ok());
        assert!(safe_name_part("données").is_ok());
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "c:d",
            "a\nb",
            "\u{202e}gpj.exe",
            "a\u{2067}b",
            "x\u{200f}",
        ] {
            assert!(safe_name_part(bad).is_err(), "{bad:?}");
        }
        assert!(safe_name_part(&"x".repeat(201)).is_err());
    }
}
