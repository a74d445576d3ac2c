//! Watching a run, for mapping authors: coverage (which rules, statements,
//! branches, functions, templates, drops and table rows ran) and trace
//! (which statement and input node each output node came from, which rules
//! fired and which they beat). Off by default; a run that asks for neither
//! pays one test of an `Option` per statement.

use std::collections::HashMap;

use super::report::{self, InputPos};
use super::value::Item;
use super::Run;
use crate::program::*;

/// Something coverage counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A statement ran.
    Stmt(Loc),
    /// A rule fired.
    Rule(u32),
    /// A function was called.
    Fn(u32),
    /// A template was called.
    Template(u32),
    /// A branch was taken: an `if` (keyed by its first condition; the arm
    /// after the last is "no arm", the `else` or nothing), a `match` (the
    /// arm after the last is `_`) or a `choose` (0: then, 1: else).
    Arm(Loc, u32),
    /// A drop (a statement or a top-level pattern) dropped something.
    Drop(Loc),
    /// A table row was looked up (`None`: the table's default).
    Row(u32, Option<String>),
}

/// How many times each probe ran.
#[derive(Debug, Default, Clone)]
pub struct Hits(pub HashMap<Probe, u32>);

/// One thing that happened during a traced run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TraceEvent {
    /// How deep in the output it happened (0: outside the root element).
    pub depth: usize,
    /// `rule`, `element`, `attribute`, `text`, `copy`, `apply`, `drop`,
    /// `warn`.
    pub event: &'static str,
    /// The rule's pattern, the output node's name, the path applied.
    pub name: String,
    /// The value written (attributes, text, elements with a value),
    /// shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `file:line:col` of the statement or rule.
    pub mapping: String,
    /// The input node it happened at.
    pub input: Option<InputPos>,
    /// `selected nothing` for a path that found no node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a rule: the other rules that matched the node and lost on
    /// priority (`file:line:col`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub beat: Vec<String>,
}

/// What a run watches.
#[derive(Debug, Default)]
pub(super) struct Observer {
    pub hits: Option<Hits>,
    pub trace: Option<Vec<TraceEvent>>,
    pub profile: Option<Profile>,
    /// A timed statement is running its body: the next statement observed
    /// is that one again (see [`Run::observe_stmt`]).
    pub timed: bool,
}

/// Time spent in one statement, or in one function's calls, over a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    /// `file:line:col` of the statement, or of the function's name.
    pub mapping: String,
    /// The statement's text (its first line, shortened), or `fn NAME`.
    pub what: String,
    /// How many times it ran.
    pub runs: u64,
    /// Nanoseconds in it, not counting the statements and functions it ran.
    pub self_ns: u64,
    /// Nanoseconds in it, everything it ran included (a statement that runs
    /// again inside itself, through `apply` or recursion, counts once per
    /// level).
    pub incl_ns: u64,
}

/// Where a profiled run is: the statements and calls it is inside (when
/// each began, and the time spent in what it ran), and the totals.
#[derive(Debug, Default)]
pub(super) struct Profile {
    stack: Vec<(std::time::Instant, u64)>,
    /// Per statement (`false`) or function (`true`): runs, self, inclusive.
    rows: HashMap<(Loc, bool), (u64, u64, u64)>,
}

/// Values in a trace are cut to this many characters.
const TRACE_VALUE: usize = 80;

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    /// Counts a probe (coverage on).
    #[cold]
    pub(super) fn hit(&mut self, p: Probe) {
        if let Some(h) = self.obs.as_mut().and_then(|o| o.hits.as_mut()) {
            *h.0.entry(p).or_default() += 1;
        }
    }

    pub(super) fn profiling(&self) -> bool {
        self.obs.as_ref().is_some_and(|o| o.profile.is_some())
    }

    /// Counts a statement (coverage), and says whether it is to be timed
    /// (`--profile`): false for the statement being timed itself, which
    /// comes through here a second time.
    #[cold]
    pub(super) fn observe_stmt(&mut self, loc: Loc) -> bool {
        let Some(o) = self.obs.as_mut() else {
            return false;
        };
        if o.profile.is_some() {
            o.timed = !o.timed;
            if !o.timed {
                return false;
            }
        }
        self.hit(Probe::Stmt(loc));
        self.profiling()
    }

    /// A profiled statement or call begins.
    #[cold]
    pub(super) fn prof_enter(&mut self) {
        if let Some(p) = self.obs.as_mut().and_then(|o| o.profile.as_mut()) {
            p.stack.push((std::time::Instant::now(), 0));
        }
    }

    /// The statement (`func` false) or call of the function declared at
    /// `loc` that [`Self::prof_enter`] began has ended.
    #[cold]
    pub(super) fn prof_exit(&mut self, loc: Loc, func: bool) {
        if let Some(p) = self.obs.as_mut().and_then(|o| o.profile.as_mut()) {
            let Some((t0, inner)) = p.stack.pop() else {
                return;
            };
            let incl = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if let Some(parent) = p.stack.last_mut() {
                parent.1 = parent.1.saturating_add(incl);
            }
            let row = p.rows.entry((loc, func)).or_default();
            row.0 += 1;
            row.1 = row.1.saturating_add(incl.saturating_sub(inner));
            row.2 = row.2.saturating_add(incl);
        }
    }

    pub(super) fn tracing(&self) -> bool {
        self.obs.as_ref().is_some_and(|o| o.trace.is_some())
    }

    /// Records a trace event (trace on).
    #[cold]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn trace(
        &mut self,
        event: &'static str,
        name: String,
        value: Option<&str>,
        loc: Loc,
        item: Option<Item<'a, 'i>>,
        note: Option<String>,
        beat: Vec<String>,
    ) {
        if !self.tracing() {
            return;
        }
        let input = item.map(|i| report::pos(self.doc, self.lines(), i));
        let e = TraceEvent {
            depth: self.out.depth(),
            event,
            name,
            value: value.map(|v| crate::convert::short_to(v, TRACE_VALUE)),
            mapping: self.p.describe(loc),
            input,
            note,
            beat,
        };
        if let Some(t) = self.obs.as_mut().and_then(|o| o.trace.as_mut()) {
            t.push(e);
        }
    }

    /// A value written by `e`: traced, with a note when it is empty because
    /// a path selected nothing.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn trace_value(
        &mut self,
        event: &'static str,
        name: &str,
        value: &str,
        e: &'p Expr,
        loc: Loc,
        cx: &super::Cx<'a, 'i>,
        locals: &[super::value::Val<'a, 'i>],
    ) {
        let note = (value.is_empty() && is_path(e))
            .then(|| format!("`{}` selected nothing", self.source_text(e.loc)));
        // The input node the value came from: the node a path selected
        // (evaluated again: expressions have no effects a second run
        // would repeat), else the node the rule runs on.
        let from = if is_path(e) {
            self.eval(e, cx, locals).ok().and_then(|v| v.origin())
        } else {
            None
        };
        let item = from.unwrap_or(cx.item);
        self.trace(
            event,
            name.to_string(),
            Some(value),
            loc,
            Some(item),
            note,
            Vec::new(),
        );
    }

    /// The mapping text at a location (an expression's).
    pub(super) fn source_text(&self, loc: Loc) -> String {
        self.p
            .sources
            .get(loc.source as usize)
            .and_then(|s| s.text.get(loc.span.start as usize..loc.span.end as usize))
            .map(|t| crate::convert::short_to(t, TRACE_VALUE))
            .unwrap_or_default()
    }

    /// The rules after `chosen` among `cands` that match `item` too: those
    /// it beat on priority (trace on).
    #[cold]
    pub(super) fn beaten(
        &mut self,
        cands: &[RuleId],
        chosen: RuleId,
        item: Item<'a, 'i>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for &c in cands {
            if c == chosen {
                continue;
            }
            let r = &self.p.rules[c as usize];
            if self.pattern_matches(&r.pattern, item).unwrap_or(false) {
                out.push(format!(
                    "{} (priority {})",
                    self.p.describe(r.loc),
                    r.priority
                ));
            }
        }
        out
    }

    pub(super) fn take_observer(&mut self) -> (Option<Hits>, Vec<TraceEvent>, Vec<ProfileRow>) {
        let Some(o) = self.obs.take() else {
            return (None, Vec::new(), Vec::new());
        };
        // In no order: `run --profile` ranks the rows of all inputs.
        let rows: Vec<ProfileRow> = o
            .profile
            .map(|p| p.rows)
            .unwrap_or_default()
            .into_iter()
            .map(|((loc, func), (runs, self_ns, incl_ns))| ProfileRow {
                mapping: self.p.describe(loc),
                what: if func {
                    let f = self.p.fns.iter().find(|f| f.loc == loc);
                    format!("fn {}", f.map_or("?", |f| f.name.as_str()))
                } else {
                    let t = self.source_text(loc);
                    match t.lines().next().unwrap_or("").trim() {
                        // A document's own body (no statement text).
                        "" => "(the document's body)".to_string(),
                        line => line.to_string(),
                    }
                },
                runs,
                self_ns,
                incl_ns,
            })
            .collect();
        (o.hits, o.trace.unwrap_or_default(), rows)
    }
}

/// Is `e` a path (or a union of paths)?
fn is_path(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Path { .. } => true,
        ExprKind::Union(xs) => xs.iter().all(is_path),
        _ => false,
    }
}

/// One thing coverage can count, with where it is written.
#[derive(Debug, Clone)]
pub struct ProbeInfo {
    pub probe: Probe,
    /// `rule`, `statement`, `branch`, `function`, `template`, `drop`, `row`.
    pub kind: &'static str,
    pub loc: Loc,
    /// What it is: `rule domain`, `if arm 2`, `row "e1000"`.
    pub what: String,
}

/// Everything coverage can count in a program.
pub fn probes(p: &Program) -> Vec<ProbeInfo> {
    let mut out = Vec::new();
    let text = |loc: Loc| -> String {
        p.sources
            .get(loc.source as usize)
            .and_then(|s| s.text.get(loc.span.start as usize..loc.span.end as usize))
            .map(|t| crate::convert::short_to(t.lines().next().unwrap_or(""), 60))
            .unwrap_or_default()
    };
    for (k, r) in p.rules.iter().enumerate() {
        out.push(ProbeInfo {
            probe: Probe::Rule(k as u32),
            kind: "rule",
            loc: r.loc,
            what: format!("rule on {}", r.pattern.text),
        });
        stmts(&r.body, &mut out, &text);
    }
    for (k, t) in p.templates.iter().enumerate() {
        out.push(ProbeInfo {
            probe: Probe::Template(k as u32),
            kind: "template",
            loc: t.loc,
            what: format!("template {}", t.name),
        });
        stmts(&t.body, &mut out, &text);
    }
    for (k, f) in p.fns.iter().enumerate() {
        out.push(ProbeInfo {
            probe: Probe::Fn(k as u32),
            kind: "function",
            loc: f.loc,
            what: format!("function {}", f.name),
        });
        expr(&f.body, &mut out);
    }
    for d in &p.documents {
        stmts(&d.body, &mut out, &text);
        for e in d.each.iter().chain(&d.file_name) {
            expr(e, &mut out);
        }
    }
    for (pat, _) in &p.drops {
        out.push(ProbeInfo {
            probe: Probe::Drop(pat.loc),
            kind: "drop",
            loc: pat.loc,
            what: format!("drop {}", pat.text),
        });
    }
    for (k, t) in p.tables.iter().enumerate() {
        for (key, _) in &t.ordered {
            out.push(ProbeInfo {
                probe: Probe::Row(k as u32, Some(key.clone())),
                kind: "row",
                loc: t.loc,
                what: format!(
                    "table {} row \"{}\"",
                    t.name,
                    crate::convert::short_to(key, 40)
                ),
            });
        }
        if t.default.is_some() {
            out.push(ProbeInfo {
                probe: Probe::Row(k as u32, None),
                kind: "row",
                loc: t.loc,
                what: format!("table {} default", t.name),
            });
        }
    }
    out
}

fn stmts(body: &[Stmt], out: &mut Vec<ProbeInfo>, text: &dyn Fn(Loc) -> String) {
    for s in body {
        let loc = s.loc();
        // A statement the compiler made (the main document's `apply`) is
        // not the author's to cover.
        if loc == Loc::default() {
            continue;
        }
        out.push(ProbeInfo {
            probe: Probe::Stmt(loc),
            kind: "statement",
            loc,
            what: text(loc),
        });
        match s {
            Stmt::Elem { attrs, body: b, .. } => {
                for (_, e) in attrs {
                    expr(e, out);
                }
                match b {
                    ElemBody::Block(b) => stmts(b, out, text),
                    ElemBody::Value { expr: e, .. } => expr(e, out),
                    ElemBody::Empty => {}
                }
            }
            Stmt::If { arms, otherwise } => {
                for (k, (c, b)) in arms.iter().enumerate() {
                    out.push(ProbeInfo {
                        probe: Probe::Arm(loc, k as u32),
                        kind: "branch",
                        loc: c.loc,
                        what: format!("if arm {}", k + 1),
                    });
                    expr(c, out);
                    stmts(b, out, text);
                }
                out.push(ProbeInfo {
                    probe: Probe::Arm(loc, arms.len() as u32),
                    kind: "branch",
                    loc,
                    what: if otherwise.is_empty() {
                        "if: no arm taken".into()
                    } else {
                        "else".into()
                    },
                });
                stmts(otherwise, out, text);
            }
            Stmt::Match {
                value,
                arms,
                default,
                ..
            } => {
                expr(value, out);
                for (k, (vals, b)) in arms.iter().enumerate() {
                    let first = vals
                        .iter()
                        .map(|v| match v {
                            Value::Str(s) => format!("\"{}\"", crate::convert::short(s)),
                            Value::Int(i) => i.to_string(),
                            Value::Bool(b) => b.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    out.push(ProbeInfo {
                        probe: Probe::Arm(loc, k as u32),
                        kind: "branch",
                        loc: b.first().map(Stmt::loc).unwrap_or(loc),
                        what: format!("match arm {first}"),
                    });
                    stmts(b, out, text);
                }
                if let Some(d) = default {
                    out.push(ProbeInfo {
                        probe: Probe::Arm(loc, arms.len() as u32),
                        kind: "branch",
                        loc: d.first().map(Stmt::loc).unwrap_or(loc),
                        what: "match arm _".into(),
                    });
                    stmts(d, out, text);
                }
            }
            Stmt::For { seq, body: b, .. } => {
                expr(seq, out);
                stmts(b, out, text);
            }
            Stmt::Drop { loc, .. } => out.push(ProbeInfo {
                probe: Probe::Drop(*loc),
                kind: "drop",
                loc: *loc,
                what: text(*loc),
            }),
            Stmt::Attr { value: e, .. }
            | Stmt::Let { value: e, .. }
            | Stmt::Text { value: e, .. }
            | Stmt::Warn { message: e, .. }
            | Stmt::Error { message: e, .. }
            | Stmt::Copy { select: e, .. } => expr(e, out),
            Stmt::Apply { select, .. } => {
                if let Some(e) = select {
                    expr(e, out);
                }
            }
            Stmt::Call { args, .. } => {
                for e in args {
                    expr(e, out);
                }
            }
        }
    }
}

/// The `choose` calls in an expression: two branches each.
fn expr(e: &Expr, out: &mut Vec<ProbeInfo>) {
    match &e.kind {
        ExprKind::Builtin(b, args) => {
            if *b == Builtin::Choose {
                for (k, what) in ["choose: then", "choose: else"].into_iter().enumerate() {
                    out.push(ProbeInfo {
                        probe: Probe::Arm(e.loc, k as u32),
                        kind: "branch",
                        loc: e.loc,
                        what: what.into(),
                    });
                }
            }
            args.iter().for_each(|a| expr(a, out));
        }
        ExprKind::Concat(xs)
        | ExprKind::Union(xs)
        | ExprKind::Fn(_, xs)
        | ExprKind::TableFirst(_, _, xs)
        | ExprKind::TableFirstFrom(_, _, xs) => xs.iter().for_each(|a| expr(a, out)),
        ExprKind::Table(_, a) | ExprKind::Neg(a) | ExprKind::Session { arg: a, .. } => expr(a, out),
        ExprKind::Bin(_, a, b) => {
            expr(a, out);
            expr(b, out);
        }
        ExprKind::Path { steps, .. } => {
            for s in steps {
                s.preds.iter().for_each(|p| expr(p, out));
            }
        }
        ExprKind::Lit(_) | ExprKind::Local(_) | ExprKind::Global(_) => {}
    }
}

/// A trace as annotated text: one line per event, indented by output
/// depth.
pub fn trace_text(events: &[TraceEvent]) -> String {
    let mut s = String::new();
    for e in events {
        let pad = "  ".repeat(e.depth);
        let input = e
            .input
            .as_ref()
            .map(|i| format!(" <- input {}{}", report::at(i.line, i.col), i.path))
            .unwrap_or_default();
        let value = e
            .value
            .as_ref()
            .map(|v| format!(" = \"{v}\""))
            .unwrap_or_default();
        let line = match e.event {
            "rule" => format!("rule on {} ({}){input}", e.name, e.mapping),
            "element" => format!("<{}>{value} ({}){input}", e.name, e.mapping),
            "attribute" => format!("@{}{value} ({}){input}", e.name, e.mapping),
            "text" => format!("text{value} ({}){input}", e.mapping),
            "warn" => format!("warn{value} ({})", e.mapping),
            "drop" => format!("drop: {} ({}){input}", e.name, e.mapping),
            other => format!("{other} {} ({}){input}", e.name, e.mapping),
        };
        s.push_str(&pad);
        s.push_str(&line);
        if let Some(n) = &e.note {
            s.push_str(&format!("  [{n}]"));
        }
        s.push('\n');
        for b in &e.beat {
            s.push_str(&format!("{pad}  beat {b}\n"));
        }
    }
    s
}

/// A trace as JSON lines, one object per event.
pub fn trace_json(events: &[TraceEvent], extra: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for e in events {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for (k, x) in extra {
                o.insert(k.to_string(), serde_json::Value::from(*x));
            }
        }
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s
}
