//! AST → [`Program`]: loads libraries, resolves names, checks types and
//! collects every diagnostic instead of stopping at the first.

mod decls;
mod expr;
pub mod load;
pub mod prebuilt;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::diag::{suggest, Diagnostic, Diagnostics, Label, Source};
use crate::program::*;
use crate::syntax::ast::{self, Policy, Span, Type};

pub use load::{read_source, read_source_checked, FsResolver, Resolver, SourceError};

/// Checks a library file (no header, only shared definitions) on its own.
/// Definitions a library does not use itself are not warned about: other
/// mappings use them.
pub fn check_library(root: Arc<Source>, resolver: &dyn Resolver) -> Diagnostics {
    check_library_with(root, resolver, false)
}

/// [`check_library`], with the pedantic lints when `pedantic`.
pub fn check_library_with(
    root: Arc<Source>,
    resolver: &dyn Resolver,
    pedantic: bool,
) -> Diagnostics {
    let mut c = Compiler {
        library_mode: true,
        pedantic,
        ..Compiler::default()
    };
    c.load(root, resolver, false);
    if !c.diags.has_errors() {
        let _ = c.build();
    }
    c.diags
}

/// Is this source a library (no header, rules, documents or policy)?
pub fn is_library(source: &Arc<Source>) -> bool {
    match prebuilt::parse(source) {
        Ok(f) => {
            f.header.is_none()
                && f.rules.is_empty()
                && f.documents.is_empty()
                && f.unmapped.is_none()
        }
        Err(_) => false,
    }
}

/// Compiles the mapping in `root`, loading its libraries through `resolver`.
/// Returns the program when there are no errors, and every diagnostic.
pub fn compile(root: Arc<Source>, resolver: &dyn Resolver) -> (Option<Program>, Diagnostics) {
    compile_with(root, resolver, false)
}

/// [`compile`] for converting: errors only matter, so the warnings that
/// compare names with the formats' vocabularies are not computed (`hvxform
/// check` computes them).
pub fn compile_to_run(
    root: Arc<Source>,
    resolver: &dyn Resolver,
) -> (Option<Program>, Diagnostics) {
    Compiler {
        skip_name_lints: true,
        ..Compiler::default()
    }
    .compile(root, resolver)
}

/// [`compile`], with the pedantic lints (`hvxform check --pedantic`) when
/// `pedantic`: warnings that hold for many correct mappings, such as an
/// attribute written from a path the input's schema may require anyway.
pub fn compile_with(
    root: Arc<Source>,
    resolver: &dyn Resolver,
    pedantic: bool,
) -> (Option<Program>, Diagnostics) {
    Compiler {
        pedantic,
        ..Compiler::default()
    }
    .compile(root, resolver)
}

impl Compiler {
    /// Loads `root` (and what it uses) and builds its program: `None` with
    /// the diagnostics when any is an error.
    fn compile(
        mut self,
        root: Arc<Source>,
        resolver: &dyn Resolver,
    ) -> (Option<Program>, Diagnostics) {
        self.load(root, resolver, true);
        if self.diags.has_errors() {
            return (None, self.diags);
        }
        let program = self.build();
        if self.diags.has_errors() {
            (None, self.diags)
        } else {
            (program, self.diags)
        }
    }
}

#[derive(Default)]
pub(crate) struct Compiler {
    pub(crate) sources: Vec<Arc<Source>>,
    files: Vec<(u16, ast::File)>,
    pub(crate) diags: Diagnostics,
    loaded: HashSet<String>,
    // symbol tables
    pub(crate) namespaces: HashMap<String, String>,
    pub(crate) input_ns: Option<String>,
    pub(crate) output_ns: Option<String>,
    pub(crate) globals: Vec<Symbol>,
    pub(crate) tables: Vec<Symbol>,
    pub(crate) sessions: Vec<Symbol>,
    pub(crate) fns: Vec<Symbol>,
    pub(crate) templates: Vec<Symbol>,
    pub(crate) modes: Vec<Symbol>,
    pub(crate) fn_sigs: Vec<(Vec<Type>, Type)>,
    pub(crate) tpl_sigs: Vec<Vec<Type>>,
    pub(crate) table_tys: Vec<(Type, Type)>,
    pub(crate) param_tys: Vec<Type>,
    pub(crate) scope: Scope,
    library_mode: bool,
    pub(crate) names: NameTable,
    pub(crate) cur_src: u16,
    /// The mapping's `from` platform (paths read its documents).
    pub(crate) from: String,
    /// The mapping's `to` platform (its output elements are checked
    /// against the platform's names).
    pub(crate) to: String,
    /// For each output element open around the statement being compiled:
    /// are its name and attributes the target format's to check (`false`
    /// inside native content: extensions, entries, namespaced elements)?
    pub(crate) out_stack: Vec<bool>,
    /// Emit the pedantic lints (`hvx::maybe-empty`).
    pub(crate) pedantic: bool,
    /// Leave out the lints of names against the formats' vocabularies
    /// (warnings only, and costly: a suggestion compares a name with
    /// thousands): a mapping compiled to convert shows no warnings.
    pub(crate) skip_name_lints: bool,
}

/// A declared name: where it was declared and whether anything used it.
pub(crate) struct Symbol {
    pub name: String,
    pub loc: Loc,
    pub used: bool,
}

#[derive(Default)]
pub(crate) struct Scope {
    pub vars: Vec<Var>,
    pub next_slot: u32,
    pub max_slot: u32,
}

pub(crate) struct Var {
    pub name: String,
    pub slot: u32,
    pub loc: Loc,
    pub used: bool,
    pub ty: Type,
}

fn find(syms: &[Symbol], name: &str) -> Option<usize> {
    syms.iter().position(|s| s.name == name)
}

impl Compiler {
    pub(crate) fn label(&self, loc: Loc, text: impl Into<String>) -> Label {
        Label {
            source: self.sources[loc.source as usize].clone(),
            span: loc.span,
            text: text.into(),
        }
    }
    pub(crate) fn loc(&self, span: Span) -> Loc {
        Loc {
            source: self.cur_src,
            span,
        }
    }
    pub(crate) fn error(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        let l = self.label(self.loc(span), label);
        self.diags.push(Diagnostic::error(code, msg, l));
        self.diags.items.last_mut().expect("just pushed")
    }

    /// A drop reason is written as it stands: `{@type}` in it would reach
    /// the report as those characters (`hvx::drop-reason`); `{{x}}`, the
    /// escape for literal braces, is not reported. `span` is the drop
    /// statement's, or for a top-level drop its pattern's (the reason follows).
    pub(crate) fn check_drop_reason(&mut self, reason: &str, span: Span, top_level: bool) {
        // The parsed reason has `{{` unescaped already: the literal as
        // written tells `{{x}}` from `{x}`.
        let text = &self.sources[self.cur_src as usize].text;
        let raw = if top_level {
            text.get(span.end as usize..).and_then(first_string_literal)
        } else {
            text.get(span.start as usize..span.end as usize)
                .and_then(last_string_literal)
        }
        .unwrap_or(reason);
        let Some(braced) = single_braces(raw).map(str::to_string) else {
            return;
        };
        self.warn(
            "hvx::drop-reason",
            span,
            format!("a drop reason is not interpolated: `{braced}` reaches the report as written"),
            "reason with braces",
        )
        .help = Some(
            "say it without the value (the report names the dropped node), or use `warn`"
                .to_string(),
        );
    }

    pub(crate) fn warn(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        let d = self.error(code, span, msg, label);
        d.severity = crate::diag::Severity::Warning;
        d
    }

    fn load(&mut self, source: Arc<Source>, resolver: &dyn Resolver, is_root: bool) {
        if !self.loaded.insert(source.name.clone()) {
            return;
        }
        let idx = self.sources.len() as u16;
        self.sources.push(source.clone());
        let file = match prebuilt::parse(&source) {
            Ok(f) => f,
            Err(d) => {
                self.diags.push(*d);
                return;
            }
        };
        self.cur_src = idx;
        if is_root {
            if file.header.is_none() {
                let end = source.text.len().min(1);
                self.error(
                    "hvx::missing-header",
                    Span::new(0..end),
                    "a mapping needs a header",
                    "expected `mapping \"name\" { from P to Q version \"1\" }` first",
                )
                .help = Some(
                    "libraries (loaded with `use`) have no header; mappings must have one".into(),
                );
            }
            if file.unmapped.is_none() {
                let sp = file.header.as_ref().map(|h| h.span).unwrap_or_default();
                self.error(
                    "hvx::missing-unmapped-policy",
                    sp,
                    "the mapping does not say what happens to unmatched input",
                    "add `unmapped fail;`, `unmapped report;` or `unmapped copy;`",
                )
                .help = Some(
                    "input that no rule matches is never dropped by accident: choose a policy"
                        .into(),
                );
            }
        } else {
            let mut bad = Vec::new();
            if let Some(h) = &file.header {
                bad.push((h.span, "a header"));
            }
            if let Some((_, sp)) = file.unmapped {
                bad.push((sp, "an `unmapped` policy"));
            }
            for r in &file.rules {
                bad.push((r.span, "`on` rules"));
            }
            for d in &file.documents {
                bad.push((d.name.span, "`document` declarations"));
            }
            for (sp, what) in bad {
                self.error("hvx::library-content", sp, format!("a library cannot contain {what}"), "not allowed in a library")
                    .help = Some("libraries hold `fn`, `table`, `session`, `template` and `namespace` declarations".into());
            }
        }
        let uses = file.uses.clone();
        self.files.push((idx, file));
        for (rel, sp) in uses {
            match resolver.resolve(&source, &rel) {
                Ok(lib) => self.load(lib, resolver, false),
                Err(msg) => {
                    self.cur_src = idx;
                    self.error(
                        "hvx::library-not-found",
                        sp,
                        msg,
                        "cannot load this library",
                    );
                }
            }
        }
    }

    fn declare(
        &mut self,
        kind: &str,
        which: fn(&mut Compiler) -> &mut Vec<Symbol>,
        id: &ast::Ident,
    ) -> Option<u32> {
        let loc = self.loc(id.span);
        if let Some(prev) = find(which(self), &id.name) {
            let prev_loc = which(self)[prev].loc;
            let prev_label = self.label(prev_loc, "first defined here");
            self.error(
                "hvx::duplicate-definition",
                id.span,
                format!("{kind} `{}` is defined twice", id.name),
                "defined again here",
            )
            .secondary
            .push(prev_label);
            return None;
        }
        let v = which(self);
        v.push(Symbol {
            name: id.name.clone(),
            loc,
            used: false,
        });
        Some((v.len() - 1) as u32)
    }

    fn build(&mut self) -> Option<Program> {
        let files = std::mem::take(&mut self.files);
        let root = files.iter().find(|(i, _)| *i == 0).map(|(_, f)| f);
        let header = root.and_then(|f| f.header.clone());
        self.from = header
            .as_ref()
            .and_then(|h| h.from.as_ref())
            .map(|i| i.name.to_ascii_lowercase())
            .unwrap_or_default();
        self.to = header
            .as_ref()
            .and_then(|h| h.to.as_ref())
            .map(|i| i.name.to_ascii_lowercase())
            .unwrap_or_default();
        let unmapped = root
            .and_then(|f| f.unmapped)
            .map(|p| p.0)
            .unwrap_or(Policy::Report);
        let unmapped_loc = Loc {
            source: 0,
            span: root
                .and_then(|f| f.unmapped)
                .map(|p| p.1)
                .unwrap_or_default(),
        };
        // --- namespaces and defaults
        let mut output_ns_decls: Vec<(Option<String>, String)> = Vec::new();
        let mut ns_aliases: Vec<(String, String)> = Vec::new();
        for (src, f) in &files {
            self.cur_src = *src;
            for a in &f.ns_aliases {
                if a.output {
                    self.error(
                        "hvx::namespace-alternative",
                        a.span,
                        "an output namespace has one URI",
                        "alternatives only match input",
                    )
                    .help = Some(format!(
                        "declare it without `output`, or drop `| \"{}\"`; output names use the first URI",
                        a.alias
                    ));
                    continue;
                }
                let taken = f
                    .namespaces
                    .iter()
                    .map(|(_, u)| u)
                    .chain(f.input_ns.iter().map(|(u, _)| u))
                    .any(|u| *u == a.alias)
                    || ns_aliases
                        .iter()
                        .any(|(x, p)| *x == a.alias && *p != a.primary);
                if taken || a.alias == a.primary {
                    self.error(
                        "hvx::namespace-alternative",
                        a.span,
                        format!("`{}` is already a namespace of its own here", a.alias),
                        "an alternative must be a URI no other declaration names",
                    );
                    continue;
                }
                ns_aliases.push((a.alias.clone(), a.primary.clone()));
            }
            for (id, uri) in &f.namespaces {
                if let Some(prev) = self.namespaces.get(&id.name) {
                    if prev != uri {
                        self.error(
                            "hvx::duplicate-definition",
                            id.span,
                            format!("namespace prefix `{}` is bound twice", id.name),
                            format!("already bound to `{prev}`"),
                        );
                    }
                    continue;
                }
                if id.name == "xml" || id.name == "xmlns" {
                    self.error(
                        "hvx::reserved-prefix",
                        id.span,
                        format!("the prefix `{}` is reserved by XML", id.name),
                        "choose another prefix",
                    );
                    continue;
                }
                self.namespaces.insert(id.name.clone(), uri.clone());
            }
        }
        if let Some(f) = root {
            self.cur_src = 0;
            self.input_ns = f.input_ns.as_ref().map(|x| x.0.clone());
            self.output_ns = f.output_ns.as_ref().map(|x| x.0.clone());
            if let Some(o) = &self.output_ns {
                output_ns_decls.push((None, o.clone()));
            }
        }
        // Output root declarations: every non-input namespace, sorted for determinism.
        let input_only = root_input_only_prefixes(&files);
        let mut ns_sorted: Vec<_> = self
            .namespaces
            .iter()
            .filter(|(p, _)| !input_only.contains(*p))
            .map(|(p, u)| (Some(p.clone()), u.clone()))
            .collect();
        ns_sorted.sort();
        output_ns_decls.extend(ns_sorted);

        // --- declarations: ids first, bodies later
        for (src, f) in &files {
            self.cur_src = *src;
            for p in &f.params {
                if self
                    .declare("parameter", |c| &mut c.globals, &p.name)
                    .is_some()
                {
                    self.param_tys.push(p.ty);
                }
            }
            for t in &f.tables {
                self.check_callable_name(&t.name, true);
                if self.declare("table", |c| &mut c.tables, &t.name).is_some() {
                    self.table_tys.push((t.key_ty, t.val_ty));
                }
            }
            for s in &f.sessions {
                self.declare("session table", |c| &mut c.sessions, &s.name);
            }
            for fd in &f.fns {
                self.check_callable_name(&fd.name, false);
                if self.declare("function", |c| &mut c.fns, &fd.name).is_some() {
                    self.fn_sigs
                        .push((fd.params.iter().map(|p| p.1).collect(), fd.ret));
                }
            }
            for t in &f.templates {
                if self
                    .declare("template", |c| &mut c.templates, &t.name)
                    .is_some()
                {
                    self.tpl_sigs.push(t.params.iter().map(|p| p.1).collect());
                }
            }
        }
        self.modes.push(Symbol {
            name: "default".into(),
            loc: Loc::default(),
            used: true,
        });
        for (src, f) in &files {
            self.cur_src = *src;
            for r in &f.rules {
                if let Some(m) = &r.mode {
                    if find(&self.modes, &m.name).is_none() {
                        let loc = self.loc(m.span);
                        self.modes.push(Symbol {
                            name: m.name.clone(),
                            loc,
                            used: false,
                        });
                    }
                }
            }
        }

        // --- bodies
        let mut params = Vec::new();
        let mut tables = Vec::new();
        let mut sessions = Vec::new();
        let mut fns: Vec<Option<FnDef>> = Vec::new();
        let mut templates: Vec<Option<TemplateDef>> = Vec::new();
        let mut rules = Vec::new();
        let mut rule_modes = Vec::new();
        let mut renames = Vec::new();
        let mut secrets = Vec::new();
        let mut drops = Vec::new();
        let mut documents = Vec::new();
        let mut seen_params = HashSet::new();
        let mut seen_tables = HashSet::new();
        let mut seen_fns = HashSet::new();
        let mut seen_tpls = HashSet::new();
        let mut seen_sessions = HashSet::new();
        for (src, f) in &files {
            self.cur_src = *src;
            for p in &f.params {
                if !seen_params.insert(p.name.name.clone()) {
                    continue;
                }
                self.scope = Scope::default();
                let default = p.default.as_ref().map(|e| {
                    let (ce, t) = self.expr(e);
                    self.check_assign(p.ty, t, &ce, e.span);
                    ce
                });
                params.push(ParamDef {
                    name: p.name.name.clone(),
                    ty: p.ty,
                    domain: p.domain.clone(),
                    default,
                    loc: self.loc(p.name.span),
                });
            }
            for t in &f.tables {
                if !seen_tables.insert(t.name.name.clone()) {
                    continue;
                }
                tables.push(self.table(t));
            }
            for s in &f.sessions {
                if !seen_sessions.insert(s.name.name.clone()) {
                    continue;
                }
                self.check_session(s);
                sessions.push(SessionDef {
                    name: s.name.name.clone(),
                    left: s.left,
                    right: s.right,
                    miss: s.miss.clone(),
                    loc: self.loc(s.name.span),
                });
            }
            for fd in &f.fns {
                if !seen_fns.insert(fd.name.name.clone()) {
                    continue;
                }
                self.scope = Scope::default();
                for (id, t) in &fd.params {
                    self.bind(id, *t);
                }
                let (body, t) = self.expr(&fd.body);
                self.check_assign(fd.ret, t, &body, fd.body.span);
                self.pop_vars(0);
                fns.push(Some(FnDef {
                    name: fd.name.name.clone(),
                    params: fd.params.iter().map(|p| p.1).collect(),
                    ret: fd.ret,
                    body,
                    frame: self.scope.max_slot,
                    pure: false,
                    keep_first: false,
                    loc: self.loc(fd.name.span),
                }));
            }
            for t in &f.templates {
                if !seen_tpls.insert(t.name.name.clone()) {
                    continue;
                }
                self.scope = Scope::default();
                for (id, ty) in &t.params {
                    self.bind(id, *ty);
                }
                let body = self.block(&t.body);
                self.pop_vars(0);
                templates.push(Some(TemplateDef {
                    name: t.name.name.clone(),
                    params: t.params.iter().map(|p| p.1).collect(),
                    body,
                    frame: self.scope.max_slot,
                    loc: self.loc(t.name.span),
                }));
            }
            for r in &f.rules {
                self.scope = Scope::default();
                let pattern = self.pattern(&r.pattern);
                let mode = r
                    .mode
                    .as_ref()
                    .and_then(|m| find(&self.modes, &m.name))
                    .unwrap_or(0) as u32;
                let priority = match r.priority {
                    Some((p, _)) => p as f64,
                    None => default_priority(&pattern),
                };
                let body = self.block(&r.body);
                rules.push(RuleDef {
                    pattern,
                    priority,
                    needs: r.needs.clone(),
                    body,
                    frame: self.scope.max_slot,
                    loc: self.loc(r.span),
                });
                rule_modes.push((mode, r.pattern.span, *src));
            }
            for rn in &f.renames {
                if let Some(r) = self.rename(rn) {
                    renames.push(r);
                }
            }
            for s in &f.secrets {
                self.scope = Scope::default();
                secrets.push(self.pattern(s));
            }
            for (p, reason) in &f.drops {
                self.scope = Scope::default();
                self.check_drop_reason(reason, p.span, true);
                drops.push((self.pattern(p), reason.clone()));
            }
            for d in &f.documents {
                self.scope = Scope::default();
                let each = d.each.as_ref().map(|e| self.expr(e).0);
                let file_name = d.file_name.as_ref().map(|e| self.expr(e).0);
                // A JSON document's names are JSON members, not the target
                // format's elements.
                if d.json {
                    self.out_stack.push(false);
                }
                let body = self.block(&d.body);
                if d.json {
                    self.out_stack.pop();
                }
                if documents
                    .iter()
                    .any(|x: &DocumentDef| x.name == d.name.name)
                {
                    self.error(
                        "hvx::duplicate-definition",
                        d.name.span,
                        format!("document `{}` is declared twice", d.name.name),
                        "declared again here",
                    );
                }
                documents.push(DocumentDef {
                    name: d.name.name.clone(),
                    json: d.json,
                    each,
                    file_name,
                    body,
                    frame: self.scope.max_slot,
                    loc: self.loc(d.name.span),
                });
            }
        }
        if documents.is_empty() {
            documents.push(DocumentDef {
                name: "main".into(),
                json: false,
                each: None,
                file_name: None,
                body: vec![Stmt::Apply {
                    // The document node itself, so rules for `/` can fire.
                    select: Some(Expr {
                        kind: ExprKind::Path {
                            start: PathStart::Root,
                            steps: Box::default(),
                        },
                        loc: Loc::default(),
                    }),
                    mode: DEFAULT_MODE,
                    loc: Loc::default(),
                }],
                frame: 0,
                loc: Loc::default(),
            });
        }

        let modes = self.dispatch(&rules, &rule_modes);
        self.unused_warnings();

        let header = header?;
        let mut program = Program {
            name: header.name.clone(),
            from: header.from.map(|i| i.name).unwrap_or_default(),
            to: header.to.map(|i| i.name).unwrap_or_default(),
            version: header.version.unwrap_or_default(),
            unmapped,
            unmapped_loc,
            sources: self.sources.clone(),
            params,
            tables,
            sessions,
            fns: {
                let mut fns: Vec<FnDef> = fns.into_iter().flatten().collect();
                mark_pure_fns(&mut fns);
                fns
            },
            templates: templates.into_iter().flatten().collect(),
            rules,
            modes,
            renames,
            secret_kinds: crate::program::SecretKinds::of(&secrets),
            secrets,
            drops,
            documents,
            output_ns: output_ns_decls,
            ns_aliases,
            names: std::mem::take(&mut self.names),
            lines: self.sources.iter().map(|_| Default::default()).collect(),
        };
        mark_positional(&mut program);
        Some(program)
    }

    pub(crate) fn bind(&mut self, id: &ast::Ident, ty: Type) -> u32 {
        let slot = self.scope.next_slot;
        self.scope.next_slot += 1;
        self.scope.max_slot = self.scope.max_slot.max(self.scope.next_slot);
        let loc = self.loc(id.span);
        self.scope.vars.push(Var {
            name: id.name.clone(),
            slot,
            loc,
            used: false,
            ty,
        });
        slot
    }

    /// Ends the variables bound after `mark`, warning about unused ones.
    pub(crate) fn pop_vars(&mut self, mark: usize) {
        let gone: Vec<Var> = self.scope.vars.drain(mark..).collect();
        for v in gone {
            if !v.used && !v.name.starts_with('_') {
                let l = self.label(v.loc, "never used");
                self.diags.push(
                    Diagnostic::warning(
                        "hvx::unused",
                        format!("variable `${}` is never used", v.name),
                        l,
                    )
                    .with_help("remove it, or prefix its name with `_`"),
                );
            }
        }
    }

    /// The URI bound to a prefix, or an `undeclared-prefix` error.
    pub(crate) fn resolve_prefix(&mut self, p: &str, span: Span) -> Option<String> {
        if let Some(u) = self.namespaces.get(p) {
            return Some(u.clone());
        }
        let help = suggest(p, self.namespaces.keys().map(|s| s.as_str()));
        let d = self.error(
            "hvx::undeclared-prefix",
            span,
            format!("namespace prefix `{p}` is not declared"),
            "unknown prefix",
        );
        d.help = help.or(Some(format!("declare it: `namespace {p} = \"...\";`")));
        None
    }

    pub(crate) fn out_name(&mut self, id: &ast::Ident, attr: bool) -> Option<OutName> {
        let (prefix, local) = match id.name.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, id.name.as_str()),
        };
        let valid = is_ncname(local) && prefix.is_none_or(is_ncname);
        if !valid {
            self.error("hvx::invalid-xml-name", id.span, format!("`{}` is not a valid XML name", id.name), "invalid name")
                .help = Some("XML names start with a letter or `_` and contain letters, digits, `-`, `_` and `.`, with at most one `:`".into());
            return None;
        }
        let ns = match prefix {
            Some("xml") => Some("http://www.w3.org/XML/1998/namespace".to_string()),
            Some(p) => Some(self.resolve_prefix(p, id.span)?),
            None if attr => None,
            None => self.output_ns.clone(),
        };
        Some(OutName {
            qname: id.name.clone(),
            ns,
        })
    }
}

/// Prefixes declared `input namespace p = "..."` in any loaded file.
fn root_input_only_prefixes(files: &[(u16, ast::File)]) -> HashSet<String> {
    files
        .iter()
        .flat_map(|(_, f)| f.input_only.iter().cloned())
        .collect()
}

/// A pattern's text without the whitespace that does not change it: text in
/// strings is kept (`"cd rom"` is not `"cdrom"`), and a space that keeps two
/// words apart stays one space (`on - crash`, a subtraction, is not the
/// name `on-crash`).
pub(super) fn norm(s: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped, mut gap) = (false, false, false);
    for c in s.chars() {
        if in_str {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap && word(c) && out.chars().next_back().is_some_and(word) {
            out.push(' ');
        }
        gap = false;
        if c == '"' {
            in_str = true;
        }
        out.push(c);
    }
    out
}

fn default_priority(p: &Pattern) -> f64 {
    if p.steps.len() != 1 || p.absolute || p.any_depth {
        return if p.steps.is_empty() { -0.5 } else { 0.5 };
    }
    let s = &p.steps[0];
    if !s.preds.is_empty() {
        return 0.5;
    }
    match &s.test {
        Test::Elem(nt) | Test::Attr(nt) => {
            if nt.local.is_some() {
                0.0
            } else if !nt.any_ns {
                -0.25
            } else {
                -0.5
            }
        }
        _ => -0.5,
    }
}

pub(crate) fn lit_value(l: &ast::Lit) -> Value {
    match l {
        ast::Lit::Str(s) => Value::Str(s.clone()),
        ast::Lit::Int(i) => Value::Int(*i),
        ast::Lit::Bool(b) => Value::Bool(*b),
    }
}

pub(crate) fn lit_type(l: &ast::Lit) -> Type {
    match l {
        ast::Lit::Str(_) => Type::String,
        ast::Lit::Int(_) => Type::Int,
        ast::Lit::Bool(_) => Type::Bool,
    }
}

/// True for an XML NCName (no colon).
pub fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{B7}'))
}

/// Elements in the hub's namespace outside the VM format: the hub command
/// documents (book: Commands) and what the Hyper-V mapping carries in a
/// VM's Notes (`hvx:lost`, `hvx:no-firmware`).
pub(crate) const HUB_OTHER_ELEMENTS: &[&str] = &[
    "commands",
    "context",
    "request",
    "power",
    "cpus",
    "memory",
    "add-disk",
    "remove-disk",
    "resize-disk",
    "add-nic",
    "change-nic",
    "remove-nic",
    "change-media",
    "add-cdrom",
    "remove-cdrom",
    "secure-boot",
    "lost",
    "no-firmware",
];

mod vocab {
    use super::Names;
    include!(concat!(env!("OUT_DIR"), "/vocabularies.rs"));
}

/// A format's element or attribute names, sorted (build.rs): one string,
/// and the offset where each name ends in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names {
    text: &'static str,
    ends: &'static [u32],
}

impl Names {
    const fn new(text: &'static str, ends: &'static [u32]) -> Self {
        Names { text, ends }
    }

    /// The `i`th name.
    fn get(&self, i: usize) -> &'static str {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        &self.text[start..self.ends[i] as usize]
    }

    pub(crate) fn contains(&self, n: &str) -> bool {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(n) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static str> {
        let names = *self;
        (0..self.ends.len()).map(move |i| names.get(i))
    }
}

/// The element and attribute names of libvirt's domain XML, from libvirt's
/// RelaxNG schemas (`schema/libvirt-names.txt`, compiled in as sorted
/// lists): what `hvx::unknown-name` checks `from kvm` and `to kvm`
/// mappings against.
pub(crate) fn libvirt_vocabulary() -> (Names, Names) {
    (vocab::LIBVIRT_ELEMENTS, vocab::LIBVIRT_ATTRIBUTES)
}

/// vSphere's vim25 names, from pyVmomi (`schema/vsphere-names.txt`).
pub(crate) fn vsphere_vocabulary() -> (Names, Names) {
    (vocab::VSPHERE_ELEMENTS, vocab::VSPHERE_ATTRIBUTES)
}

/// EC2's response names, from botocore (`schema/ec2-names.txt`).
pub(crate) fn ec2_vocabulary() -> (Names, Names) {
    (vocab::EC2_ELEMENTS, vocab::EC2_ATTRIBUTES)
}

/// The element and attribute names of the hub format, from `schema/hvx.rng`
/// (compiled in as sorted lists): what `hvx::unknown-name` checks hub paths
/// and outputs against.
pub(crate) fn hub_vocabulary() -> (Names, Names) {
    (vocab::HUB_ELEMENTS, vocab::HUB_ATTRIBUTES)
}

/// The first `{…}` of `s` that is not written with doubled braces.
/// The text between the quotes of the last string literal in `s` (a drop
/// statement ends with its reason), escapes as written.
fn last_string_literal(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let close = s.rfind('"')?;
    let mut i = close;
    while i > 0 {
        i -= 1;
        if b[i] == b'"' {
            // A quote with an odd number of backslashes before it is escaped.
            let slashes = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
            if slashes % 2 == 0 {
                return Some(&s[i + 1..close]);
            }
        }
    }
    None
}

/// The text between the quotes of the string literal `s` starts with
/// (after blanks), escapes as written.
fn first_string_literal(s: &str) -> Option<&str> {
    let rest = s.trim_start().strip_prefix('"')?;
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(&rest[..i]),
            _ => i += 1,
        }
    }
    None
}

fn single_braces(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' && b.get(i + 1) == Some(&b'{') {
            i += 2;
            while i < b.len() && !(b[i] == b'}' && b.get(i + 1) == Some(&b'}')) {
                i += 1;
            }
            i += 2;
            continue;
        }
        if b[i] == b'{' {
            let close = s[i..].find('}')?;
            return Some(&s[i..=i + close]);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod vocabulary_tests {
    #[test]
    fn patterns_differ_where_their_whitespace_means_something() {
        use super::norm;
        assert_eq!(
            norm("disk[ @device = \"cdrom\" ]"),
            "disk[@device=\"cdrom\"]"
        );
        assert_ne!(
            norm("disk[@device = \"cd rom\"]"),
            norm("disk[@device = \"cdrom\"]")
        );
        assert_ne!(norm("disk[on - crash]"), norm("disk[on-crash]"));
        assert_eq!(norm("disk[a  and\n b]"), "disk[a and b]");
        assert_eq!(norm("x[@k = \"a\\\" b\"]"), "x[@k=\"a\\\" b\"]");
    }

    #[test]
    fn drop_reasons_with_single_braces_are_found() {
        assert_eq!(
            super::single_braces("a {@type} controller"),
            Some("{@type}")
        );
        assert_eq!(super::single_braces("literal {{x}} braces"), None);
        assert_eq!(super::single_braces("{{x}} then {y}"), Some("{y}"));
        assert_eq!(super::single_braces("no braces"), None);
        assert_eq!(super::single_braces("an open { only"), None);
    }

    #[test]
    fn a_drop_reason_is_read_as_written() {
        let last = super::last_string_literal;
        assert_eq!(last(r#"drop @a "it {{x}}";"#), Some("it {{x}}"));
        assert_eq!(last(r#"drop x[@k = "{"] "plain";"#), Some("plain"));
        assert_eq!(
            last(r#"drop @a "say \"{x}\" here""#),
            Some(r#"say \"{x}\" here"#)
        );
        assert_eq!(last("drop @a;"), None);
        let first = super::first_string_literal;
        assert_eq!(first(r#" "a {{b}} \" c"; x "#), Some(r#"a {{b}} \" c"#));
        assert_eq!(first("; "), None);
    }

    /// build.rs finds the hub's names by text; an XML parse of the schema
    /// finds the same.
    #[test]
    fn hub_names_are_the_schemas() {
        let rng = include_str!("../../schema/hvx.rng");
        let doc = roxmltree::Document::parse(rng).unwrap();
        for (tag, names) in [
            ("element", super::vocab::HUB_ELEMENTS),
            ("attribute", super::vocab::HUB_ATTRIBUTES),
        ] {
            let mut want: Vec<&str> = doc
                .descendants()
                .filter(|n| n.has_tag_name(tag))
                .filter_map(|n| n.attribute("name"))
                .collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(names.iter().collect::<Vec<_>>(), want, "{tag}s");
        }
    }

    /// Every name of every list is found, and what sorts next to a name
    /// (a prefix of it, it with a byte added) only when it is a name too.
    #[test]
    fn packed_lists_find_their_names_and_no_others() {
        let mut seen = 0;
        for (e, a) in [
            super::libvirt_vocabulary(),
            super::vsphere_vocabulary(),
            super::ec2_vocabulary(),
            super::hub_vocabulary(),
        ] {
            for names in [e, a] {
                let all: std::collections::HashSet<&str> = names.iter().collect();
                let list: Vec<&str> = names.iter().collect();
                assert!(
                    list.windows(2).all(|w| w[0] < w[1]),
                    "sorted, no duplicates"
                );
                for n in &list {
                    assert!(names.contains(n), "{n}");
                    for other in [&n[..n.len() - 1], &format!("{n}~"), &format!("{n}A")] {
                        assert_eq!(names.contains(other), all.contains(other), "{other}");
                    }
                }
                assert!(!names.contains(""));
                seen += list.len();
            }
        }
        assert!(seen > 15_000, "{seen} names");
    }
}
