//! Runs a compiled [`Program`] over a roxmltree document and writes the output
//! documents. Never panics on bad input: every failure is a [`RuntimeError`]
//! naming the mapping location and the input node.

mod eval;
mod report;
pub mod value;

use std::borrow::Cow;

use roxmltree::Document;

use crate::program::*;
use crate::session::SessionAccess;
use crate::syntax::ast::Policy;
use crate::xmlout::XmlOut;
use value::{Item, Val};

pub use report::{Dropped, InputPos, Unmapped};

/// Options for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Copy secret values (passwords, `guestinfo.*`) into outputs.
    pub keep_secrets: bool,
    /// Maximum nesting of `apply`, `call` and function calls.
    pub max_depth: usize,
    /// List every unmapped node with its position (otherwise only count them).
    pub detail: bool,
    /// Write outputs without indentation (for intermediate documents).
    pub compact: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            keep_secrets: false,
            max_depth: 200,
            detail: true,
            compact: false,
        }
    }
}

/// One output document.
#[derive(Debug, Clone)]
pub struct OutDoc {
    /// The `document` declaration that produced it (`main` by default).
    pub document: String,
    /// The name computed by the declaration's `name` clause, if any.
    pub name: Option<String>,
    pub xml: String,
}

/// A warning raised by `warn`, or by the engine (e.g. a redacted secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub message: String,
    pub mapping: String,
    pub input: Option<InputPos>,
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub documents: Vec<OutDoc>,
    /// How many input nodes went unmapped.
    pub unmapped_count: usize,
    /// Each of them, when [`RunOptions::detail`] is set.
    pub unmapped: Vec<Unmapped>,
    pub dropped: Vec<Dropped>,
    pub warnings: Vec<Warning>,
}

/// A failure while running a mapping.
#[derive(Debug, Clone)]
pub struct RuntimeError {
    pub message: String,
    /// `file:line:col` in the mapping.
    pub mapping: String,
    pub input: Option<InputPos>,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(i) = &self.input {
            write!(f, "\n  at input {}:{} ({})", i.line, i.col, i.path)?;
        }
        write!(f, "\n  in mapping {}", self.mapping)
    }
}

impl std::error::Error for RuntimeError {}

/// Errors are boxed so that the hot `Result<Val, _>` stays small.
type R<T> = Result<T, Box<RuntimeError>>;

/// (name id, node id) of an element's element children.
type ChildIndex = Box<[(NameId, u32)]>;

/// Context of evaluation: the context item, its position and list size.
#[derive(Clone, Copy)]
struct Cx<'a, 'i> {
    item: Item<'a, 'i>,
    pos: usize,
    size: usize,
}

struct Run<'p, 'a, 'i> {
    p: &'p Program,
    doc: &'a Document<'i>,
    globals: Vec<Val<'a, 'i>>,
    sessions: &'p dyn SessionAccess,
    opts: &'p RunOptions,
    touched: Vec<bool>,
    attr_base: Vec<u32>,
    touched_attr: Vec<bool>,
    out: XmlOut,
    root_started: bool,
    depth: usize,
    dropped: Vec<Dropped>,
    warnings: Vec<Warning>,
    line_index: std::cell::OnceCell<crate::diag::LineIndex>,
    /// Interned name of each input node ([`NO_NAME`] for other nodes).
    name_ids: Vec<NameId>,
    /// Per element with many children: (name id, node id) of each element
    /// child, built the first time a path step reads its children by name.
    child_index: Vec<Option<ChildIndex>>,
    /// Released local-variable frames, reused by rules, templates and functions.
    frames: Vec<Vec<Val<'a, 'i>>>,
}

/// Turns `--param name=value` strings into typed values, checking names and
/// types against the program's declarations.
pub fn bind_params(p: &Program, given: &[(String, String)]) -> Result<Vec<Option<Value>>, String> {
    let mut out: Vec<Option<Value>> = vec![None; p.params.len()];
    for (name, raw) in given {
        let Some(i) = p.params.iter().position(|d| &d.name == name) else {
            let help = crate::diag::suggest(name, p.params.iter().map(|d| d.name.as_str()));
            let known = if p.params.is_empty() {
                "it declares none".to_string()
            } else {
                format!(
                    "it declares {}",
                    p.params
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(format!(
                "mapping `{}` has no parameter `{name}` ({known}){}",
                p.name,
                help.map(|h| format!("; {h}")).unwrap_or_default()
            ));
        };
        let d = &p.params[i];
        use crate::syntax::ast::Type;
        let v = match d.ty {
            Type::Int => {
                Value::Int(crate::convert::int(raw).map_err(|e| format!("--param {name}: {e}"))?)
            }
            Type::Uint => {
                Value::Int(crate::convert::uint(raw).map_err(|e| format!("--param {name}: {e}"))?)
            }
            Type::Bool => {
                Value::Bool(crate::convert::bool(raw).map_err(|e| format!("--param {name}: {e}"))?)
            }
            _ => Value::Str(raw.clone()),
        };
        out[i] = Some(v);
    }
    Ok(out)
}

/// Runs `p` over `doc`. `params` comes from [`bind_params`] (missing entries
/// take the declared default).
pub fn run<'a, 'i>(
    p: &'a Program,
    doc: &'a Document<'i>,
    params: &[Option<Value>],
    sessions: &dyn SessionAccess,
    opts: &RunOptions,
) -> Result<Outcome, RuntimeError> {
    run_inner(p, doc, params, sessions, opts).map_err(|e| *e)
}

fn run_inner<'a, 'i>(
    p: &'a Program,
    doc: &'a Document<'i>,
    params: &[Option<Value>],
    sessions: &dyn SessionAccess,
    opts: &RunOptions,
) -> R<Outcome> {
    let mut attr_base = Vec::with_capacity(doc.descendants().len());
    let mut name_ids = Vec::with_capacity(attr_base.capacity());
    let mut total = 0u32;
    for n in doc.descendants() {
        attr_base.push(total);
        total += n.attributes().len() as u32;
        name_ids.push(if n.is_element() {
            let tn = n.tag_name();
            p.names.lookup(tn.namespace(), tn.name())
        } else {
            NO_NAME
        });
    }
    let n_nodes = attr_base.len();
    let mut r = Run {
        p,
        doc,
        globals: Vec::with_capacity(p.params.len()),
        sessions,
        opts,
        touched: vec![false; n_nodes],
        attr_base,
        touched_attr: vec![false; total as usize],
        out: XmlOut::with_indent(!opts.compact),
        root_started: false,
        depth: 0,
        dropped: Vec::new(),
        warnings: Vec::new(),
        line_index: std::cell::OnceCell::new(),
        child_index: vec![None; n_nodes],
        frames: Vec::new(),
        name_ids,
    };
    let root_cx = Cx {
        item: Item::Node(doc.root()),
        pos: 1,
        size: 1,
    };
    r.touched[0] = true;
    for (i, d) in p.params.iter().enumerate() {
        let v = match params.get(i).cloned().flatten() {
            Some(v) => value_to_val(&v),
            None => match &d.default {
                Some(e) => r.eval(e, &root_cx, &[])?,
                None => {
                    return Err(Box::new(RuntimeError {
                        message: format!(
                            "parameter `{}` has no default; pass `--param {}=VALUE`",
                            d.name, d.name
                        ),
                        mapping: p.describe(d.loc),
                        input: None,
                    }))
                }
            },
        };
        r.globals.push(v);
    }
    let mut documents = Vec::new();
    for d in &p.documents {
        let items: Vec<Item> = match &d.each {
            None => vec![root_cx.item],
            Some(e) => r.nodes(e, &root_cx, &[])?,
        };
        let size = items.len();
        for (k, item) in items.into_iter().enumerate() {
            let cx = Cx {
                item,
                pos: k + 1,
                size,
            };
            let mut locals = vec![Val::empty_str(); d.frame as usize];
            let name = match &d.file_name {
                Some(e) => Some(r.eval(e, &cx, &locals)?.string().into_owned()),
                None => None,
            };
            r.out = XmlOut::with_indent(!opts.compact);
            r.root_started = false;
            r.block(&d.body, &cx, &mut locals)?;
            let out = std::mem::take(&mut r.out);
            let xml = out.finish().map_err(|e| {
                Box::new(RuntimeError {
                    message: format!("document `{}`: {e}", d.name),
                    mapping: p.describe(d.loc),
                    input: Some(report::pos(doc, r.lines(), item)),
                })
            })?;
            documents.push(OutDoc {
                document: d.name.clone(),
                name,
                xml,
            });
        }
    }
    let (unmapped_count, unmapped) = report::unmapped(&r, opts.detail);
    Ok(Outcome {
        documents,
        unmapped_count,
        unmapped,
        dropped: r.dropped,
        warnings: r.warnings,
    })
}

fn value_to_val<'a, 'i>(v: &Value) -> Val<'a, 'i> {
    match v {
        Value::Str(s) => Val::Str(Cow::Owned(s.clone())),
        Value::Int(i) => Val::Int(*i),
        Value::Bool(b) => Val::Bool(*b),
    }
}

impl<'p, 'a, 'i> Run<'p, 'a, 'i> {
    /// A frame of `n` empty local slots, reusing a released one.
    fn take_frame(&mut self, n: usize) -> Vec<Val<'a, 'i>> {
        let mut f = self.frames.pop().unwrap_or_default();
        f.resize(n, Val::empty_str());
        f
    }

    fn give_frame(&mut self, mut f: Vec<Val<'a, 'i>>) {
        f.clear();
        self.frames.push(f);
    }

    /// The input's line index, built the first time a position is needed.
    pub(super) fn lines(&self) -> &crate::diag::LineIndex {
        self.line_index
            .get_or_init(|| crate::diag::LineIndex::new(self.doc.input_text()))
    }
}

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    fn err(
        &self,
        loc: Loc,
        item: Option<Item<'a, 'i>>,
        message: impl Into<String>,
    ) -> Box<RuntimeError> {
        Box::new(RuntimeError {
            message: message.into(),
            mapping: self.p.describe(loc),
            input: item.map(|i| report::pos(self.doc, self.lines(), i)),
        })
    }

    fn touch(&mut self, item: Item<'a, 'i>) {
        match item {
            Item::Node(n) => self.touched[n.id().get_usize()] = true,
            Item::Attr(n, i) => {
                let k = self.attr_base[n.id().get_usize()] as usize + i as usize;
                self.touched_attr[k] = true;
            }
        }
    }

    /// Marks a node, its attributes and all its descendants as handled.
    fn touch_subtree(&mut self, item: Item<'a, 'i>) {
        match item {
            Item::Attr(..) => self.touch(item),
            Item::Node(n) => {
                for d in n.descendants() {
                    let id = d.id().get_usize();
                    self.touched[id] = true;
                    let base = self.attr_base[id] as usize;
                    for k in 0..d.attributes().len() {
                        self.touched_attr[base + k] = true;
                    }
                }
            }
        }
    }

    fn enter(&mut self, loc: Loc, item: Item<'a, 'i>) -> R<()> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(self.err(
                loc,
                Some(item),
                format!(
                    "recursion deeper than {} levels (a rule that applies itself?)",
                    self.opts.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn write<T>(
        &self,
        loc: Loc,
        item: Item<'a, 'i>,
        r: Result<T, crate::xmlout::WriteError>,
    ) -> R<T> {
        r.map_err(|e| self.err(loc, Some(item), e.to_string()))
    }

    fn start_elem(&mut self, name: &OutName, loc: Loc, item: Item<'a, 'i>) -> R<()> {
        let r = self.out.start(&name.qname);
        self.write(loc, item, r)?;
        if !self.root_started && self.out.depth() == 1 {
            self.root_started = true;
            for (prefix, uri) in &self.p.output_ns {
                let r = self.out.declare(prefix.as_deref(), uri);
                self.write(loc, item, r)?;
            }
        }
        Ok(())
    }

    fn block(
        &mut self,
        stmts: &'p [Stmt],
        cx: &Cx<'a, 'i>,
        locals: &mut Vec<Val<'a, 'i>>,
    ) -> R<()> {
        for s in stmts {
            self.stmt(s, cx, locals)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &'p Stmt, cx: &Cx<'a, 'i>, locals: &mut Vec<Val<'a, 'i>>) -> R<()> {
        match s {
            Stmt::Elem {
                name,
                attrs,
                body,
                loc,
            } => {
                let value = match body {
                    ElemBody::Value { expr, optional } => {
                        let v = self.eval(expr, cx, locals)?;
                        if *optional && v.is_empty() {
                            return Ok(());
                        }
                        Some(self.string_of(&v))
                    }
                    _ => None,
                };
                let mut avals = Vec::with_capacity(attrs.len());
                for (_, e) in attrs {
                    let v = self.eval(e, cx, locals)?;
                    avals.push(self.string_of(&v));
                }
                self.start_elem(name, *loc, cx.item)?;
                for ((an, _), v) in attrs.iter().zip(avals) {
                    let r = self.out.attr(&an.qname, &v);
                    self.write(*loc, cx.item, r)?;
                }
                match body {
                    ElemBody::Empty => {}
                    ElemBody::Value { .. } => {
                        let r = self.out.text(value.as_deref().unwrap_or(""));
                        self.write(*loc, cx.item, r)?;
                    }
                    ElemBody::Block(b) => self.block(b, cx, locals)?,
                }
                self.out.end();
            }
            Stmt::Attr {
                name,
                optional,
                value,
                loc,
            } => {
                let v = self.eval(value, cx, locals)?;
                if *optional && v.is_empty() {
                    return Ok(());
                }
                let text = self.string_of(&v);
                let r = self.out.attr(&name.qname, &text);
                self.write(*loc, cx.item, r)?;
            }
            Stmt::Let {
                slot,
                ty,
                value,
                loc,
            } => {
                let v = self.eval(value, cx, locals)?;
                let v = match ty {
                    Some(t) => self.coerce(v, *t, *loc, cx)?,
                    None => v,
                };
                set(locals, *slot, v);
            }
            Stmt::If { arms, otherwise } => {
                for (c, b) in arms {
                    if self.eval(c, cx, locals)?.truthy() {
                        return self.block(b, cx, locals);
                    }
                }
                self.block(otherwise, cx, locals)?;
            }
            Stmt::For {
                slot,
                seq,
                sort,
                body,
                loc,
            } => {
                let v = self.eval(seq, cx, locals)?;
                let mut items = match v {
                    Val::Nodes(n) => n,
                    other => {
                        return Err(self.err(
                            *loc,
                            Some(cx.item),
                            format!(
                                "`for` needs a node list, found the value `{}`",
                                other.string()
                            ),
                        ))
                    }
                };
                if !sort.is_empty() {
                    items = self.sort(items, sort, *slot, locals)?;
                }
                let size = items.len();
                for (k, it) in items.into_iter().enumerate() {
                    let icx = Cx {
                        item: it,
                        pos: k + 1,
                        size,
                    };
                    set(locals, *slot, Val::Nodes(vec![it]));
                    self.block(body, &icx, locals)?;
                }
            }
            Stmt::Match {
                value,
                arms,
                default,
                loc,
            } => {
                let v = self.eval(value, cx, locals)?;
                let s = self.string_of(&v);
                for (vals, b) in arms {
                    if vals.iter().any(|x| match x {
                        Value::Str(t) => t == s.as_ref(),
                        Value::Int(i) => crate::convert::int(&s).ok() == Some(*i),
                        Value::Bool(b) => crate::convert::bool(&s).ok() == Some(*b),
                    }) {
                        return self.block(b, cx, locals);
                    }
                }
                match default {
                    Some(b) => self.block(b, cx, locals)?,
                    None => {
                        let at = v.origin().or(Some(cx.item));
                        return Err(self.err(
                            *loc,
                            at,
                            format!(
                                "no `match` arm for the value `{}` (add a `_ => {{ ... }}` arm)",
                                crate::convert::short(&s)
                            ),
                        ));
                    }
                }
            }
            Stmt::Apply { select, mode, loc } => {
                let items: Vec<Item> = match select {
                    None => match cx.item {
                        Item::Node(n) => n
                            .children()
                            .filter(|c| c.is_element() || c.is_text())
                            .map(Item::Node)
                            .collect(),
                        Item::Attr(..) => Vec::new(),
                    },
                    Some(Expr {
                        kind: ExprKind::Path { start, steps },
                        loc,
                    }) => self.path(start, steps, *loc, cx, locals, false)?,
                    Some(Expr {
                        kind: ExprKind::Union(parts),
                        ..
                    }) => self.union(parts, cx, locals, false)?,
                    Some(e) => self.nodes(e, cx, locals)?,
                };
                let size = items.len();
                for (k, it) in items.into_iter().enumerate() {
                    let icx = Cx {
                        item: it,
                        pos: k + 1,
                        size,
                    };
                    self.apply_one(&icx, *mode, *loc)?;
                }
            }
            Stmt::Copy { select, loc } => {
                let v = self.eval(select, cx, locals)?;
                match v {
                    Val::Nodes(items) => {
                        for it in items {
                            self.copy(it, *loc)?;
                        }
                    }
                    other => {
                        let r = self.out.text(&other.string());
                        self.write(*loc, cx.item, r)?;
                    }
                }
            }
            Stmt::Drop {
                select,
                reason,
                loc,
            } => {
                let items = self.nodes(select, cx, locals)?;
                for it in items {
                    self.drop_item(it, reason, *loc);
                }
            }
            Stmt::Call {
                template,
                args,
                loc,
            } => {
                let t = &self.p.templates[*template as usize];
                let mut frame = self.take_frame(t.frame as usize);
                for (k, a) in args.iter().enumerate() {
                    let v = self.eval(a, cx, locals)?;
                    let v = self.coerce(v, t.params[k], *loc, cx)?;
                    set(&mut frame, k as u32, v);
                }
                self.enter(*loc, cx.item)?;
                self.block(&t.body, cx, &mut frame)?;
                self.depth -= 1;
                self.give_frame(frame);
            }
            Stmt::Error { message, loc } => {
                let v = self.eval(message, cx, locals)?;
                let m = self.string_of(&v).into_owned();
                return Err(self.err(*loc, Some(cx.item), m));
            }
            Stmt::Warn { message, loc } => {
                let v = self.eval(message, cx, locals)?;
                let m = self.string_of(&v).into_owned();
                self.warnings.push(Warning {
                    message: m,
                    mapping: self.p.describe(*loc),
                    input: Some(report::pos(self.doc, self.lines(), cx.item)),
                });
            }
            Stmt::Text { value, loc } => {
                let v = self.eval(value, cx, locals)?;
                let text = self.string_of(&v);
                let r = self.out.text(&text);
                self.write(*loc, cx.item, r)?;
            }
        }
        Ok(())
    }

    fn drop_item(&mut self, it: Item<'a, 'i>, reason: &str, loc: Loc) {
        self.touch_subtree(it);
        let pos = report::pos(self.doc, self.lines(), it);
        self.dropped.push(Dropped {
            line: pos.line,
            col: pos.col,
            path: pos.path,
            reason: reason.to_string(),
            mapping: self.p.describe(loc),
        });
    }

    fn sort(
        &mut self,
        items: Vec<Item<'a, 'i>>,
        keys: &'p [(Expr, bool)],
        slot: u32,
        locals: &mut Vec<Val<'a, 'i>>,
    ) -> R<Vec<Item<'a, 'i>>> {
        let size = items.len();
        let mut keyed = Vec::with_capacity(size);
        for (k, it) in items.into_iter().enumerate() {
            let cx = Cx {
                item: it,
                pos: k + 1,
                size,
            };
            // The loop variable is bound to the item while its keys are computed.
            set(locals, slot, Val::Nodes(vec![it]));
            let mut ks = Vec::with_capacity(keys.len());
            for (e, _) in keys {
                ks.push(self.eval(e, &cx, locals)?.string().into_owned());
            }
            keyed.push((ks, it));
        }
        keyed.sort_by(|a, b| {
            for (i, (_, desc)) in keys.iter().enumerate() {
                let (x, y) = (&a.0[i], &b.0[i]);
                let ord = match (x.trim().parse::<i64>(), y.trim().parse::<i64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    _ => x.cmp(y),
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        Ok(keyed.into_iter().map(|(_, it)| it).collect())
    }

    /// Finds the rule for one node in a mode and runs it, or applies the
    /// drop rules, rename rules and the unmapped policy.
    fn apply_one(&mut self, cx: &Cx<'a, 'i>, mode: ModeId, loc: Loc) -> R<()> {
        let m = &self.p.modes[mode as usize];
        let item = cx.item;
        let cands: &[RuleId] = match item {
            Item::Node(n) if n.is_element() => {
                match m.by_name.get(self.name_ids[n.id().get_usize()] as usize) {
                    Some(v) if !v.is_empty() => v.as_slice(),
                    _ => &m.any_elem,
                }
            }
            Item::Node(n) if n.is_text() => &m.text,
            Item::Node(n) if n.is_root() => &m.root,
            Item::Attr(..) => &m.attr,
            _ => &[],
        };
        let mut chosen: Option<RuleId> = None;
        for &rid in cands {
            let rule = &self.p.rules[rid as usize];
            if let Some(c) = chosen {
                if self.p.rules[c as usize].priority > rule.priority {
                    break;
                }
            }
            if self.pattern_matches(&rule.pattern, item)? {
                if let Some(c) = chosen {
                    let a = self.p.describe(self.p.rules[c as usize].loc);
                    let b = self.p.describe(rule.loc);
                    return Err(self.err(rule.loc, Some(item), format!("two rules with priority {} match this node: {a} and {b}; give one a higher `priority`", rule.priority)));
                }
                chosen = Some(rid);
                if !self.tie_possible(cands, rid) {
                    break;
                }
            }
        }
        if let Some(rid) = chosen {
            let rule = &self.p.rules[rid as usize];
            self.touch(item);
            self.enter(loc, item)?;
            let mut frame = self.take_frame(rule.frame as usize);
            self.block(&rule.body, cx, &mut frame)?;
            self.depth -= 1;
            self.give_frame(frame);
            return Ok(());
        }
        self.fallback(item, mode, loc)
    }

    fn tie_possible(&self, cands: &[RuleId], rid: RuleId) -> bool {
        let pr = self.p.rules[rid as usize].priority;
        cands
            .iter()
            .any(|&c| c != rid && self.p.rules[c as usize].priority == pr)
    }

    fn fallback(&mut self, item: Item<'a, 'i>, mode: ModeId, loc: Loc) -> R<()> {
        // Whitespace-only text is formatting, not data.
        if let Item::Node(n) = item {
            if n.is_text() && n.text().is_none_or(|t| t.trim().is_empty()) {
                self.touch(item);
                return Ok(());
            }
            if n.is_root() {
                self.touch(item);
                for c in n.children().filter(|c| c.is_element()) {
                    let cx = Cx {
                        item: Item::Node(c),
                        pos: 1,
                        size: 1,
                    };
                    self.apply_one(&cx, mode, loc)?;
                }
                return Ok(());
            }
        }
        for k in 0..self.p.drops.len() {
            if self.pattern_matches(&self.p.drops[k].0, item)? {
                let (pat, reason) = &self.p.drops[k];
                let reason = reason.clone();
                let ploc = pat.loc;
                self.drop_item(item, &reason, ploc);
                return Ok(());
            }
        }
        if let Some(ri) = self.rename_for(item) {
            return self.emit_renamed(item, ri);
        }
        match self.p.unmapped {
            Policy::Report => Ok(()),
            Policy::Copy => self.copy(item, loc),
            Policy::Fail => {
                let what = match item {
                    Item::Node(n) if n.is_element() => format!("element `{}`", n.tag_name().name()),
                    Item::Node(_) => "text".to_string(),
                    Item::Attr(n, i) => format!(
                        "attribute `{}`",
                        n.attributes()
                            .nth(i as usize)
                            .map(|a| a.name())
                            .unwrap_or("?")
                    ),
                };
                Err(self.err(
                    loc,
                    Some(item),
                    format!("no rule matches {what} (this mapping says `unmapped fail`)"),
                ))
            }
        }
    }

    fn is_secret(&mut self, item: Item<'a, 'i>) -> R<bool> {
        if self.opts.keep_secrets {
            return Ok(false);
        }
        for k in 0..self.p.secrets.len() {
            if self.pattern_matches(&self.p.secrets[k], item)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn redact(&mut self, item: Item<'a, 'i>, loc: Loc) {
        self.touch_subtree(item);
        let pos = report::pos(self.doc, self.lines(), item);
        self.warnings.push(Warning {
            message: format!(
                "secret {} not copied (use --keep-secrets to copy it)",
                pos.path
            ),
            mapping: self.p.describe(loc),
            input: Some(pos),
        });
    }

    /// Deep copy of an input node into the output, honouring secrets and
    /// rename rules.
    fn copy(&mut self, item: Item<'a, 'i>, loc: Loc) -> R<()> {
        if self.is_secret(item)? {
            self.redact(item, loc);
            return Ok(());
        }
        if let Some(ri) = self.rename_for(item) {
            return self.emit_renamed(item, ri);
        }
        match item {
            Item::Attr(n, i) => {
                self.touch(item);
                if let Some(a) = n.attributes().nth(i as usize) {
                    let prefix = a.namespace().and_then(|u| n.lookup_prefix(u));
                    let r = self.out.attr_ns(a.name(), a.namespace(), prefix, a.value());
                    self.write(loc, item, r)?;
                }
            }
            Item::Node(n) if n.is_text() => {
                self.touch(item);
                let r = self.out.text(n.text().unwrap_or(""));
                self.write(loc, item, r)?;
            }
            Item::Node(n) if n.is_element() => {
                self.touch(item);
                let tn = n.tag_name();
                let prefix = tn.namespace().and_then(|u| n.lookup_prefix(u));
                if self.out.depth() == 0 {
                    self.root_started = true;
                }
                let r = self.out.start_ns(tn.name(), tn.namespace(), prefix);
                self.write(loc, item, r)?;
                for i in 0..n.attributes().len() {
                    self.copy(Item::Attr(n, i as u16), loc)?;
                }
                // Whitespace between child elements is the input's indentation,
                // not data: the writer indents the copy itself.
                let has_elements = n.children().any(|c| c.is_element());
                for c in n.children() {
                    let blank = c.is_text() && c.text().is_some_and(|t| t.trim().is_empty());
                    if blank && has_elements {
                        self.touch(Item::Node(c));
                    } else if c.is_element() || c.is_text() {
                        self.copy(Item::Node(c), loc)?;
                    }
                }
                self.out.end();
            }
            Item::Node(n) => {
                self.touch(item);
                for c in n.children().filter(|c| c.is_element()) {
                    self.copy(Item::Node(c), loc)?;
                }
            }
        }
        Ok(())
    }

    fn rename_for(&self, item: Item<'a, 'i>) -> Option<usize> {
        if self.p.renames.is_empty() {
            return None;
        }
        self.p.renames.iter().position(|r| match item {
            Item::Node(n) if n.is_element() && !r.attr => r
                .from
                .matches(n.tag_name().name(), n.tag_name().namespace()),
            Item::Attr(n, i) if r.attr => n
                .attributes()
                .nth(i as usize)
                .is_some_and(|a| r.from.matches(a.name(), a.namespace())),
            _ => false,
        })
    }

    fn emit_renamed(&mut self, item: Item<'a, 'i>, ri: usize) -> R<()> {
        let p = self.p;
        let rn = &p.renames[ri];
        self.touch_subtree(item);
        let raw = item.string();
        let cx = Cx {
            item,
            pos: 1,
            size: 1,
        };
        let typed = self.coerce(Val::Str(raw.clone()), rn.from_ty, rn.loc, &cx)?;
        let key = typed.string();
        let mapped: String = match rn.via {
            None => key.into_owned(),
            Some(Via::Table(t)) => self.table_lookup(t, &key, rn.loc, Some(item))?,
            Some(Via::Session { id, reverse }) => {
                let def = &p.sessions[id as usize];
                self.sessions
                    .lookup(def, reverse, &key)
                    .map_err(|m| self.err(rn.loc, Some(item), m))?
            }
        };
        let out = self
            .coerce(Val::Str(Cow::Owned(mapped)), rn.to_ty, rn.loc, &cx)?
            .string()
            .into_owned();
        if rn.to.qname.is_empty() {
            return Ok(());
        }
        if matches!(item, Item::Attr(..)) {
            let r = self.out.attr(&rn.to.qname, &out);
            self.write(rn.loc, item, r)
        } else {
            let r = self.out.start(&rn.to.qname);
            self.write(rn.loc, item, r)?;
            let r = self.out.text(&out);
            self.write(rn.loc, item, r)?;
            self.out.end();
            Ok(())
        }
    }

    fn table_lookup(&self, t: TableId, key: &str, loc: Loc, at: Option<Item<'a, 'i>>) -> R<String> {
        let table = &self.p.tables[t as usize];
        match table.rows.get(key).or(table.default.as_ref()) {
            Some(v) => Ok(v.as_string()),
            None => Err(self.err(
                loc,
                at,
                format!(
                    "table `{}` has no entry for `{}` (known: {})",
                    table.name,
                    crate::convert::short(key),
                    {
                        let mut k: Vec<&str> = table.rows.keys().map(|s| s.as_str()).collect();
                        k.sort_unstable();
                        k.join(", ")
                    }
                ),
            )),
        }
    }
}

fn set<'a, 'i>(locals: &mut Vec<Val<'a, 'i>>, slot: u32, v: Val<'a, 'i>) {
    let s = slot as usize;
    if locals.len() <= s {
        locals.resize(s + 1, Val::empty_str());
    }
    locals[s] = v;
}
