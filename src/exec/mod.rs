//! Runs a compiled [`Program`] over a roxmltree document and writes the output
//! documents. Never panics on bad input: every failure is a [`RuntimeError`]
//! naming the mapping location and the input node.

mod builtin;
mod copy;
mod eval;
mod observe;
mod report;
mod stmt;
pub mod value;

use std::borrow::Cow;

use crate::tree::Document;

use crate::program::*;
use crate::session::SessionAccess;
use crate::syntax::ast::Policy;
use crate::xmlout::XmlOut;
use value::{Item, Val};

use observe::Observer;
pub use observe::{probes, trace_json, trace_text, Hits, Probe, ProbeInfo, ProfileRow, TraceEvent};
pub use report::{at, Dropped, InputPos, Unmapped};

/// Options for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Copy secret values (passwords, `guestinfo.*`) into outputs.
    pub keep_secrets: bool,
    /// Maximum nesting of `apply`, `call` and function calls.
    pub max_depth: usize,
    /// List every unmapped node with its position, and say where each warning
    /// was raised (otherwise only count unmapped nodes; warnings keep their
    /// message).
    pub detail: bool,
    /// Write outputs without indentation (for intermediate documents).
    pub compact: bool,
    /// Build each XML document as a tree ([`OutDoc::tree`]) instead of
    /// writing its text: the next stage of a route reads it as it is.
    pub tree: bool,
    /// The input is a command request that holds the VM's current
    /// configuration (`hvx:context`): rules that declare `needs context`
    /// may run.
    pub context: bool,
    /// Count what ran ([`Outcome::hits`], `hvxform test --coverage`).
    pub coverage: bool,
    /// Record where each output node came from ([`Outcome::trace`],
    /// `--trace`).
    pub trace: bool,
    /// Time every statement and function call ([`Outcome::profile`],
    /// `hvxform run --profile`).
    pub profile: bool,
    /// Carry the input in the output for the way back (book: hub, carried
    /// data): the run lists the input's secret nodes
    /// ([`Outcome::secrets`]) so that what is carried leaves them out.
    pub carry: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            keep_secrets: false,
            max_depth: 200,
            detail: true,
            compact: false,
            tree: false,
            context: false,
            coverage: false,
            trace: false,
            profile: false,
            carry: true,
        }
    }
}

/// Which rule translated a command, and whether it needed the VM's
/// configuration: recorded for every rule with a `needs` clause that ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandPath {
    /// The command's element in the input.
    pub input: InputPos,
    /// `file:line:col` of the rule.
    pub mapping: String,
    /// `None` for a direct translation (`needs nothing`), else the reason
    /// the rule gave for needing the VM's configuration.
    pub needs: Option<String>,
}

/// One output document.
#[derive(Debug, Clone)]
pub struct OutDoc {
    /// The `document` declaration that produced it (`main` by default).
    pub document: String,
    /// The name computed by the declaration's `name` clause, if any.
    pub name: Option<String>,
    /// A JSON document: `xml` holds JSON text.
    pub json: bool,
    /// The document's text (empty when it was built as a tree).
    pub xml: String,
    /// The document, when [`RunOptions::tree`] asked for it built.
    pub tree: Option<crate::tree::Document>,
}

/// A warning raised by `warn`, or by the engine (e.g. a redacted secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub message: String,
    /// Raised by `action`: something the user must do (convert a disk
    /// image), shown by default.
    pub action: bool,
    /// `file:line:col` of the `warn` statement, and the input node it was
    /// raised at; both empty unless [`RunOptions::detail`] is set.
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
    /// What the mapping dropped on purpose, when [`RunOptions::detail`] is set.
    pub dropped: Vec<Dropped>,
    pub warnings: Vec<Warning>,
    /// The rules with a `needs` clause that ran (command mappings).
    pub paths: Vec<CommandPath>,
    /// What ran, with [`RunOptions::coverage`].
    pub hits: Option<Hits>,
    /// What happened, with [`RunOptions::trace`].
    pub trace: Vec<TraceEvent>,
    /// Where the time went, with [`RunOptions::profile`] (in no order).
    pub profile: Vec<ProfileRow>,
    /// The input's secret nodes (element, or attribute index), with
    /// [`RunOptions::carry`] unless secrets are kept.
    pub secrets: Vec<(crate::tree::NodeId, Option<u32>)>,
}

/// A failure while running a mapping.
#[derive(Debug, Clone)]
pub struct RuntimeError {
    pub message: String,
    /// `file:line:col` in the mapping.
    pub mapping: String,
    pub input: Option<InputPos>,
    /// The calls the error happened in, innermost first: `function `f`
    /// called at FILE:LINE:COL`, `the rule at FILE:LINE:COL` (each with its
    /// input node), and how many times over (a recursion repeats one call);
    /// at most [`STACK_KEPT`], `stack_more` counting the others.
    pub stack: Vec<(String, usize)>,
    pub stack_more: usize,
}

/// Frames of a call stack kept in an error (a runaway recursion has 200).
const STACK_KEPT: usize = 12;

fn input_pos(i: &InputPos) -> String {
    if i.line == 0 {
        i.path.clone()
    } else {
        format!("{}:{} ({})", i.line, i.col, i.path)
    }
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(i) = &self.input {
            write!(f, "\n  at input {}", input_pos(i))?;
        }
        write!(f, "\n  in mapping {}", self.mapping)?;
        for (s, n) in &self.stack {
            write!(f, "\n  in {s}")?;
            if *n > 1 {
                write!(f, " ({n} times)")?;
            }
        }
        if self.stack_more > 0 {
            write!(f, "\n  ... and {} more call(s) out", self.stack_more)?;
        }
        Ok(())
    }
}

impl std::error::Error for RuntimeError {}

/// Errors are boxed so that the hot `Result<Val, _>` stays small.
type R<T> = Result<T, Box<RuntimeError>>;

/// Per-node tables and pools a run needs, kept by each thread between runs
/// so that a batch does not allocate them again for every document.
#[derive(Default)]
struct Scratch {
    touched: Vec<bool>,
    touched_attr: Vec<u64>,
    name_ids: Vec<std::cell::Cell<NameId>>,
    child_span: Vec<(u32, u32)>,
    child_arena: Vec<(NameId, u32)>,
    strings: Vec<String>,
    /// Released node lists and frames (empty; see [`recycle`]).
    items: Vec<Vec<Item<'static, 'static>>>,
    frames: Vec<Vec<Val<'static, 'static>>>,
    /// Pure-function results, emptied ([`Memo`]).
    memo: Memo<'static, 'static>,
}

/// An empty vector of another lifetime of the same type, in the same
/// allocation: kept pools carry their capacity from one document (whose
/// lifetime their elements have) to the next. Collecting a consumed vector
/// into one of the same layout reuses its buffer (std's in-place collect;
/// `recycle_keeps_the_allocation` checks it); nothing is read from it.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

/// [`recycle`] for each of a pool's vectors.
fn recycle_all<T, U>(pool: Vec<Vec<T>>) -> Vec<Vec<U>> {
    pool.into_iter().map(recycle).collect()
}

/// Results of pure function calls in a run, in one list: each function's
/// entries are a chain through their first field, from `head[f]`.
#[derive(Default)]
pub(super) struct Memo<'a, 'i> {
    /// Per function: calls computed so far in the run.
    calls: Vec<u32>,
    /// Per function: its newest entry + 1 (0: none), and how many it has.
    head: Vec<(u32, u32)>,
    entries: Vec<MemoEntry<'a, 'i>>,
    /// Functions with more than [`MEMO_SCAN`] results are looked up by a
    /// hash of their arguments: (function, hash) → newest entry + 1, and
    /// per entry the previous one with the same key (0: none). A scan of a
    /// long chain would cost each miss the whole chain: a document of
    /// thousands of VMs (one `<domains>` wrapper) made every call of a kept
    /// function scan 1,024 results.
    index: std::collections::HashMap<(u32, u64), u32, crate::program::FxBuild>,
    same_hash: Vec<u32>,
}

impl<'a, 'i> Memo<'a, 'i> {
    /// Emptied, for a program of `fns` functions, of another lifetime.
    fn reset<'b, 'j>(self, fns: usize) -> Memo<'b, 'j> {
        let (mut calls, mut head) = (self.calls, self.head);
        calls.clear();
        calls.resize(fns, 0);
        head.clear();
        head.resize(fns, (0, 0));
        let (mut index, mut same_hash) = (self.index, self.same_hash);
        index.clear();
        same_hash.clear();
        Memo {
            calls,
            head,
            entries: recycle(self.entries),
            index,
            same_hash,
        }
    }
}

/// Results scanned in order before a function's results are indexed by hash.
/// Small: a function asked about each device of a VM (a dozen or two) kept
/// under 16 results and scanned them all, one comparison each, at every
/// call (vmware -> hvx 5 % of its instructions); 2 saves no more than 4.
const MEMO_SCAN: u32 = 4;

/// A hash of arguments consistent with [`Val::same`] (FNV-1a over their
/// identity: string bytes, numbers, node positions).
fn memo_hash(args: &[Val]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |x: u64| h = (h ^ x).wrapping_mul(0x0000_0100_0000_01b3);
    for a in args {
        match a {
            Val::Str(s) => {
                mix(1);
                for b in s.as_bytes() {
                    mix(*b as u64);
                }
            }
            Val::Int(i) => {
                mix(2);
                mix(*i as u64);
            }
            Val::Bool(b) => {
                mix(3);
                mix(*b as u64);
            }
            Val::Nodes(ns) => {
                mix(4);
                for it in ns.iter() {
                    match it {
                        Item::Node(n) => mix(n.id().get_usize() as u64),
                        Item::Attr(n, i) => {
                            mix(n.id().get_usize() as u64 | 1 << 40);
                            mix(*i as u64);
                        }
                    }
                }
            }
        }
    }
    h
}

/// The mask of an element's first (at most 64) attributes.
fn all_attrs(len: usize) -> u64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1 << len) - 1
    }
}

/// Not looked up yet (a name id no program has).
const UNKNOWN_NAME: NameId = NO_NAME - 1;

/// The interned name of an input node, looked up the first time.
fn name_of(p: &Program, ids: &[std::cell::Cell<NameId>], n: crate::tree::Node) -> NameId {
    let cell = &ids[n.id().get_usize()];
    let id = cell.get();
    if id != UNKNOWN_NAME {
        return id;
    }
    let id = if n.is_element() {
        let tn = n.tag_name();
        p.names.lookup(p.canon_ns(tn.namespace()), tn.name())
    } else {
        NO_NAME
    };
    cell.set(id);
    id
}

/// The capacity of a new pooled string.
const STRING_ROOM: usize = 128;

/// Tables larger than this (in nodes) are not kept after a run.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// Context of evaluation: the context item, its position and list size.
#[derive(Clone, Copy)]
struct Cx<'a, 'i> {
    item: Item<'a, 'i>,
    pos: usize,
    size: usize,
}

struct Run<'p, 'a, 'i> {
    p: &'p Program,
    doc: &'a Document,
    globals: Vec<Val<'a, 'i>>,
    sessions: &'p dyn SessionAccess,
    opts: &'p RunOptions,
    touched: Vec<bool>,
    /// Per element, which of its first 64 attributes were touched (bit i:
    /// attribute i); the rest, in the rare element with more, in
    /// `touched_attr_more`.
    touched_attr: Vec<u64>,
    touched_attr_more: std::collections::HashSet<(u32, u32)>,
    out: XmlOut,
    /// The document being written is a JSON one: typed values are marked.
    json: bool,
    root_started: bool,
    depth: usize,
    dropped: Vec<Dropped>,
    warnings: Vec<Warning>,
    paths: Vec<CommandPath>,
    line_index: std::cell::OnceCell<crate::diag::LineIndex>,
    /// Interned name of each input node ([`NO_NAME`] for other nodes), or
    /// [`UNKNOWN_NAME`] until it is first needed (see [`name_of`]).
    name_ids: Vec<std::cell::Cell<NameId>>,
    /// Coverage and trace, when asked for (see [`observe`]).
    obs: Option<Box<Observer>>,
    /// Per element: its range of `child_arena`, or `(u32::MAX, _)` until a
    /// path step first reads its children by name.
    child_span: Vec<(u32, u32)>,
    /// Each indexed element's element children as (name id, node id), by
    /// name then in document order.
    child_arena: Vec<(NameId, u32)>,
    /// Released local-variable frames, reused by rules, templates and functions.
    frames: Vec<Vec<Val<'a, 'i>>>,
    /// Released node lists (a path's intermediate steps), reused by steps.
    items: Vec<Vec<Item<'a, 'i>>>,
    /// Pure function calls: how many computed, and the kept (arguments,
    /// result) pairs.
    memo: Memo<'a, 'i>,
    /// Released strings (interpolations, numbers written as text), reused.
    strings: Vec<String>,
}

/// A kept result of a pure function: the index + 1 of the previous entry
/// for the same function (0: none), the arguments (at most [`MEMO_ARGS`])
/// and the result.
type MemoEntry<'a, 'i> = (u32, [Val<'a, 'i>; MEMO_ARGS], Val<'a, 'i>);

/// Functions with more arguments are not memoised (none of the shipped
/// mappings' repeated calls has more).
const MEMO_ARGS: usize = 2;

/// Results kept per function and run: enough for the distinct calls a
/// mapping makes on one node's worth of data; a function called with more
/// distinct arguments computes the rest each time.
const MEMO_PER_FN: usize = 16;

/// The same for functions kept from their first call ([`FnDef::keep_first`]:
/// heavy ones, and functions of nodes). A function of nodes that ranks a
/// device among its siblings is called once per device, and each call may
/// call it again for the siblings before: recomputing past the cap would
/// make a VM of a few hundred devices cost the cube of their number.
const MEMO_PER_HEAVY_FN: usize = 1024;

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
        use crate::syntax::ast::Domain;
        let fits = match (&d.domain, &v) {
            (Some(Domain::Range(a, b)), Value::Int(n)) => a <= n && n <= b,
            (Some(Domain::OneOf(set)), Value::Str(s)) => set.iter().any(|x| x == s),
            _ => true,
        };
        if !fits {
            let dom = d.domain.as_ref().expect("checked");
            return Err(format!("--param {name}: `{raw}` is not {dom}"));
        }
        out[i] = Some(v);
    }
    Ok(out)
}

/// Runs `p` over `doc`. `params` comes from [`bind_params`] (missing entries
/// take the declared default).
pub fn run<'a>(
    p: &'a Program,
    doc: &'a Document,
    params: &[Option<Value>],
    sessions: &dyn SessionAccess,
    opts: &RunOptions,
) -> Result<Outcome, RuntimeError> {
    let scratch = SCRATCH.take();
    let (out, s) = run_inner(p, doc, params, sessions, opts, scratch);
    if s.touched.capacity() <= SCRATCH_KEEP && s.touched_attr.capacity() <= SCRATCH_KEEP {
        SCRATCH.set(s);
    }
    out.map_err(|e| *e)
}

fn run_inner<'a>(
    p: &'a Program,
    doc: &'a Document,
    params: &[Option<Value>],
    sessions: &dyn SessionAccess,
    opts: &RunOptions,
    scratch: Scratch,
) -> (R<Outcome>, Scratch) {
    let Scratch {
        mut touched,
        mut touched_attr,
        mut name_ids,
        mut child_span,
        mut child_arena,
        strings,
        items,
        frames,
        memo,
    } = scratch;
    let n_nodes = doc.descendants().len();
    name_ids.clear();
    // Names are looked up when first needed (most leaves never are).
    name_ids.resize(n_nodes, std::cell::Cell::new(UNKNOWN_NAME));
    touched.clear();
    touched.resize(n_nodes, false);
    touched_attr.clear();
    touched_attr.resize(n_nodes, 0);
    child_span.clear();
    child_span.resize(n_nodes, (u32::MAX, 0));
    child_arena.clear();
    let mut r = Run {
        p,
        doc,
        globals: Vec::with_capacity(p.params.len()),
        sessions,
        opts,
        touched,
        touched_attr,
        touched_attr_more: Default::default(),
        // Replaced by each document's own writer.
        out: XmlOut::with_capacity(!opts.compact, 0),
        json: false,
        root_started: false,
        depth: 0,
        dropped: Vec::new(),
        warnings: Vec::new(),
        paths: Vec::new(),
        line_index: std::cell::OnceCell::new(),
        child_span,
        child_arena,
        frames: recycle_all(frames),
        items: recycle_all(items),
        memo: memo.reset(p.fns.len()),
        strings,
        name_ids,
        obs: (opts.coverage || opts.trace || opts.profile).then(|| {
            Box::new(Observer {
                hits: opts.coverage.then(Hits::default),
                trace: opts.trace.then(Vec::new),
                profile: opts.profile.then(observe::Profile::default),
                timed: false,
            })
        }),
    };
    let result = execute(&mut r, params).and_then(|documents| {
        drop_unreached(&mut r)?;
        let (unmapped_count, unmapped) = report::unmapped(&r, opts.detail);
        // `unmapped fail` holds for what no `apply` reached too (a document
        // body, a rule that reads some children and not the others).
        if p.unmapped == Policy::Fail && unmapped_count > 0 {
            if let Some(item) = report::first_unmapped(&r) {
                let e = r.err(
                    p.unmapped_loc,
                    Some(item),
                    format!(
                        "{} is not mapped{} (this mapping says `unmapped fail`)",
                        report::describe(item),
                        match unmapped_count - 1 {
                            0 => String::new(),
                            n => format!(", nor are {n} more input node(s)"),
                        }
                    ),
                );
                return Err(e);
            }
        }
        let (hits, trace, profile) = r.take_observer();
        let secrets = secret_nodes(&mut r)?;
        Ok(Outcome {
            documents,
            unmapped_count,
            unmapped,
            dropped: std::mem::take(&mut r.dropped),
            warnings: std::mem::take(&mut r.warnings),
            paths: std::mem::take(&mut r.paths),
            hits,
            trace,
            profile,
            secrets,
        })
    });
    let scratch = Scratch {
        touched: r.touched,
        touched_attr: r.touched_attr,
        name_ids: r.name_ids,
        child_span: r.child_span,
        child_arena: r.child_arena,
        strings: r.strings,
        items: recycle_all(r.items),
        frames: recycle_all(r.frames),
        memo: r.memo.reset(0),
    };
    (result, scratch)
}

/// Every secret node of the input (an element is listed without its
/// descendants; attributes and text nodes of elements that are not), when
/// the run's input is to be carried.
fn secret_nodes<'a, 'i>(r: &mut Run<'a, 'a, 'i>) -> R<Vec<(crate::tree::NodeId, Option<u32>)>> {
    let mut found = Vec::new();
    if !r.opts.carry || r.opts.keep_secrets || r.p.secrets.is_empty() {
        return Ok(found);
    }
    let p = r.p;
    let kinds = &p.secret_kinds;
    let mut skip_below: Option<crate::tree::Node<'a, 'i>> = None;
    for n in r.doc.descendants().filter(|n| n.is_element()) {
        if let Some(s) = skip_below {
            if n.ancestors().any(|a| a == s) {
                continue;
            }
        }
        // Only what a pattern can name is matched: checked here too, where
        // it saves a call per node (is_secret checks it for copy).
        if kinds.elements && r.is_secret(Item::Node(n))? {
            found.push((n.id(), None));
            skip_below = Some(n);
            continue;
        }
        for (i, a) in n.attributes().enumerate() {
            if kinds.attr(a.name()) && r.is_secret(Item::Attr(n, i as u32))? {
                found.push((n.id(), Some(i as u32)));
            }
        }
        if kinds.texts {
            for c in n.children().filter(|c| c.is_text()) {
                if r.is_secret(Item::Node(c))? {
                    found.push((c.id(), None));
                }
            }
        }
    }
    Ok(found)
}

/// Input no `apply` reached (a document body's, attributes of an element a
/// rule took) that a top-level `drop` pattern matches is dropped with its
/// reason, as it would have been had `apply` reached it: a mapping that
/// declares `drop @versionId "..."` means it wherever the attribute is.
fn drop_unreached<'a, 'i>(r: &mut Run<'a, 'a, 'i>) -> R<()> {
    if r.p.drops.is_empty() || report::unmapped(r, false).0 == 0 {
        return Ok(());
    }
    for item in report::all_unmapped(r) {
        // A node already dropped with an ancestor below.
        let done = match item {
            Item::Node(n) => r.touched[n.id().get_usize()],
            Item::Attr(n, k) => r.attr_touched(n.id().get_usize(), k as usize),
        };
        if done {
            continue;
        }
        // The node itself, else the nearest element holding it: a drop of
        // `context` drops what is inside it that nothing read, once.
        let (holder, skip) = match item {
            Item::Node(n) => (n, 1),
            Item::Attr(n, _) => (n, 0),
        };
        let holders = holder.ancestors().skip(skip);
        let candidates =
            std::iter::once(item).chain(holders.filter(|a| a.is_element()).map(Item::Node));
        'found: for it in candidates {
            for k in 0..r.p.drops.len() {
                if r.pattern_matches(&r.p.drops[k].0, it)? {
                    let (pat, reason) = &r.p.drops[k];
                    r.drop_item(it, reason, pat.loc);
                    break 'found;
                }
            }
        }
    }
    Ok(())
}

/// Binds the parameters and writes every output document.
fn execute<'a, 'i>(r: &mut Run<'a, 'a, 'i>, params: &[Option<Value>]) -> R<Vec<OutDoc>> {
    let (p, doc, opts) = (r.p, r.doc, r.opts);
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
                        stack: Vec::new(),
                        stack_more: 0,
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
            Some(e) => r.nodes(e, &root_cx, &[])?.into_vec(),
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
            // Room for the output and its declaration, so that neither grows
            // the buffer (outputs are about as large as their inputs); large
            // documents grow it as they go.
            // JSON documents, and documents the next stage reads, are built
            // as trees: nothing writes their XML text to parse it again.
            let build = opts.tree || d.json;
            let room = (doc.input_text().len() * 2).clamp(4096, 1 << 20);
            r.out = if d.json {
                XmlOut::building()
            } else if build {
                // The next stage's nodes point at the input nodes they came
                // from: its reports name places in the file the user gave.
                XmlOut::building_from(doc.input_text())
            } else {
                XmlOut::with_capacity(!opts.compact, room)
            };
            r.root_started = false;
            r.json = d.json;
            r.block(&d.body, &cx, &mut locals)?;
            let out = std::mem::replace(&mut r.out, XmlOut::with_capacity(!opts.compact, 0));
            let fail = |r: &Run, message: String| {
                Box::new(RuntimeError {
                    message,
                    mapping: p.describe(d.loc),
                    input: Some(report::pos(doc, r.lines(), item)),
                    stack: Vec::new(),
                    stack_more: 0,
                })
            };
            let (xml, tree) = if build {
                let t = out
                    .finish_tree()
                    .map_err(|e| fail(r, format!("document `{}`: {e}", d.name)))?;
                if d.json {
                    let j = crate::jsonout::from_tree(&t)
                        .map_err(|e| fail(r, format!("JSON document `{}`: {e}", d.name)))?;
                    (j, None)
                } else {
                    (String::new(), Some(t))
                }
            } else {
                let xml = out
                    .finish()
                    .map_err(|e| fail(r, format!("document `{}`: {e}", d.name)))?;
                (xml, None)
            };
            documents.push(OutDoc {
                document: d.name.clone(),
                name,
                json: d.json,
                xml,
                tree,
            });
        }
    }
    Ok(documents)
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
    pub(super) fn take_frame(&mut self, n: usize) -> Vec<Val<'a, 'i>> {
        let mut f = self.frames.pop().unwrap_or_default();
        f.resize(n, Val::empty_str());
        f
    }

    /// Keeps a frame for reuse: up to 64 frames of at most 256 slots (the
    /// pool is kept by the thread from one document to the next).
    pub(super) fn give_frame(&mut self, mut f: Vec<Val<'a, 'i>>) {
        for v in f.drain(..) {
            self.give_val(v);
        }
        if f.capacity() <= 256 && self.frames.len() < 64 {
            self.frames.push(f);
        }
    }

    /// Keeps the string or node list a value owns for reuse.
    pub(super) fn give_val(&mut self, v: Val<'a, 'i>) {
        match v {
            Val::Str(s) => self.give_str(s),
            Val::Nodes(value::Nodes::Many(items)) => self.give_items(items),
            _ => {}
        }
    }

    /// An empty string, reusing a released one.
    pub(super) fn take_string(&mut self) -> String {
        // New strings start with room for a typical value (an interpolated
        // key or path), so that building one rarely grows it.
        self.strings
            .pop()
            .unwrap_or_else(|| String::with_capacity(STRING_ROOM))
    }

    /// Keeps an owned string for reuse: up to 64 strings of
    /// [`STRING_ROOM`] bytes to 4 KiB (smaller ones would have to grow).
    pub(super) fn give_str(&mut self, s: Cow<'a, str>) {
        if let Cow::Owned(mut s) = s {
            if (STRING_ROOM..=4096).contains(&s.capacity()) && self.strings.len() < 64 {
                s.clear();
                self.strings.push(s);
            }
        }
    }

    /// An empty node list, reusing a released one.
    pub(super) fn take_items(&mut self) -> Vec<Item<'a, 'i>> {
        self.items.pop().unwrap_or_else(|| Vec::with_capacity(8))
    }

    /// A path's result as a value's node list: one node inline (its list
    /// goes back for reuse), other counts as they are.
    pub(super) fn nodes_of(&mut self, v: Vec<Item<'a, 'i>>) -> value::Nodes<'a, 'i> {
        if v.len() == 1 {
            let it = v[0];
            self.give_items(v);
            value::Nodes::One(it)
        } else {
            value::Nodes::Many(v)
        }
    }

    /// Keeps `v` for reuse: up to 64 lists of at most 1,024 nodes, so the
    /// pool stays small whatever a run selects.
    pub(super) fn give_items(&mut self, mut v: Vec<Item<'a, 'i>>) {
        if v.capacity() > 0 && v.capacity() <= 1024 && self.items.len() < 64 {
            v.clear();
            self.items.push(v);
        }
    }

    /// The result of an earlier call of pure function `f` with equal arguments.
    pub(super) fn memo_get(&self, f: FnId, args: &[Val<'a, 'i>]) -> Option<Val<'a, 'i>> {
        if args.len() > MEMO_ARGS {
            return None;
        }
        let m = &self.memo;
        let (mut at, kept) = *m.head.get(f as usize)?;
        if kept > MEMO_SCAN {
            let mut at = m.index.get(&(f, memo_hash(args))).copied().unwrap_or(0);
            while at != 0 {
                let (_, k, v) = &m.entries[at as usize - 1];
                if k.iter().zip(args).all(|(a, b)| a.same(b)) {
                    return Some(v.clone());
                }
                at = m.same_hash[at as usize - 1];
            }
            return None;
        }
        while at != 0 {
            let (next, k, v) = &m.entries[at as usize - 1];
            if k.iter().zip(args).all(|(a, b)| a.same(b)) {
                return Some(v.clone());
            }
            at = *next;
        }
        None
    }

    /// Keeps a result from the second call of `f` on (from the first when
    /// [`FnDef::keep_first`]): most functions are called once per run, and keeping
    /// their results would cost more than it saves.
    pub(super) fn memo_put(&mut self, f: FnId, args: &[Val<'a, 'i>], v: &Val<'a, 'i>) {
        let m = &mut self.memo;
        if args.len() > MEMO_ARGS || m.calls.len() <= f as usize {
            return;
        }
        m.calls[f as usize] += 1;
        let keep_first = self.p.fns[f as usize].keep_first;
        let (head, kept) = m.head[f as usize];
        let cap = if keep_first {
            MEMO_PER_HEAVY_FN
        } else {
            MEMO_PER_FN
        };
        if (keep_first || m.calls[f as usize] >= 2) && (kept as usize) < cap {
            let mut key = [Val::empty_str(), Val::empty_str()];
            for (k, a) in key.iter_mut().zip(args) {
                *k = a.clone();
            }
            if m.entries.capacity() == 0 {
                m.entries.reserve(32);
            }
            m.entries.push((head, key, v.clone()));
            m.same_hash.push(0);
            let new = m.entries.len() as u32;
            m.head[f as usize] = (new, kept + 1);
            if kept + 1 > MEMO_SCAN {
                if kept == MEMO_SCAN {
                    // Past the scan limit: index this function's results so far.
                    let mut at = head;
                    while at != 0 {
                        let k = memo_hash(&m.entries[at as usize - 1].1[..args.len()]);
                        let prev = m.index.insert((f, k), at).unwrap_or(0);
                        m.same_hash[at as usize - 1] = prev;
                        at = m.entries[at as usize - 1].0;
                    }
                }
                let prev = m.index.insert((f, memo_hash(args)), new).unwrap_or(0);
                m.same_hash[new as usize - 1] = prev;
            }
        }
    }

    /// The input's line index, built the first time a position is needed.
    pub(super) fn lines(&self) -> &crate::diag::LineIndex {
        self.line_index
            .get_or_init(|| crate::diag::LineIndex::new(self.doc.input_text()))
    }
}

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    pub(super) fn err(
        &self,
        loc: Loc,
        item: Option<Item<'a, 'i>>,
        message: impl Into<String>,
    ) -> Box<RuntimeError> {
        Box::new(RuntimeError {
            message: message.into(),
            mapping: self.p.describe(loc),
            input: item.map(|i| report::pos(self.doc, self.lines(), i)),
            stack: Vec::new(),
            stack_more: 0,
        })
    }

    /// Adds the call an error came out of to its stack (on the error path
    /// only: a run that succeeds pays nothing for it).
    #[cold]
    pub(super) fn called(
        &self,
        mut e: Box<RuntimeError>,
        what: String,
        loc: Loc,
        item: Item<'a, 'i>,
    ) -> Box<RuntimeError> {
        let at = input_pos(&report::pos(self.doc, self.lines(), item));
        let frame = format!("{what} at {}, on input {at}", self.p.describe(loc));
        let kept = e.stack.len();
        match e.stack.last_mut() {
            Some((last, n)) if *last == frame => *n += 1,
            _ if kept < STACK_KEPT => e.stack.push((frame, 1)),
            _ => e.stack_more += 1,
        }
        e
    }

    pub(super) fn touch(&mut self, item: Item<'a, 'i>) {
        match item {
            Item::Node(n) => self.touch_node(n),
            Item::Attr(n, i) => {
                let id = n.id().get_usize();
                if i < 64 {
                    self.touched_attr[id] |= 1 << i;
                } else {
                    self.touched_attr_more.insert((id as u32, i));
                }
            }
        }
    }

    /// [`Self::touch`] for a node.
    #[inline]
    pub(super) fn touch_node(&mut self, n: crate::tree::Node<'a, 'i>) {
        self.touched[n.id().get_usize()] = true;
    }

    /// Marks a node, its attributes and all its descendants as handled.
    pub(super) fn touch_subtree(&mut self, item: Item<'a, 'i>) {
        match item {
            Item::Attr(..) => self.touch(item),
            Item::Node(n) => {
                for d in n.descendants() {
                    let id = d.id().get_usize();
                    self.touched[id] = true;
                    let len = d.attributes().len();
                    self.touched_attr[id] = all_attrs(len);
                    for k in 64..len {
                        self.touched_attr_more.insert((id as u32, k as u32));
                    }
                }
            }
        }
    }

    /// Whether attribute `k` of node `id` was touched.
    pub(super) fn attr_touched(&self, id: usize, k: usize) -> bool {
        if k < 64 {
            self.touched_attr[id] & (1 << k) != 0
        } else {
            self.touched_attr_more.contains(&(id as u32, k as u32))
        }
    }

    pub(super) fn enter(&mut self, loc: Loc, item: Item<'a, 'i>) -> R<()> {
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

    #[inline]
    fn write<T>(
        &self,
        loc: Loc,
        item: Item<'a, 'i>,
        r: Result<T, crate::xmlout::WriteError>,
    ) -> R<T> {
        r.map_err(|e| self.err(loc, Some(item), e.to_string()))
    }

    /// Gives what is written next the position of `item`, when the output
    /// is a tree for the next stage (text outputs carry no positions).
    #[inline]
    pub(super) fn mark_origin(&mut self, item: Item<'a, 'i>) {
        if self.out.is_building() {
            self.out.origin(item.position());
        }
    }

    #[inline]
    pub(super) fn start_elem(&mut self, name: &OutName, loc: Loc, item: Item<'a, 'i>) -> R<()> {
        self.mark_origin(item);
        let r = self.out.start(&name.qname);
        self.write(loc, item, r)?;
        if !self.root_started && self.out.depth() == 1 {
            self.root_started = true;
            for (prefix, uri) in &self.p.output_ns {
                // JSON's type annotations are not declared in an XML
                // document: one that writes one declares it there
                // (`attr_named`).
                if !self.json && uri == crate::jsonout::TYPE_NS {
                    continue;
                }
                let r = self.out.declare(prefix.as_deref(), uri);
                self.write(loc, item, r)?;
            }
        }
        Ok(())
    }

    /// Writes an attribute of a compiled name: as written, but one in
    /// JSON's type namespace, not declared in an XML document's root,
    /// declares it where it is written.
    #[inline]
    pub(super) fn attr_named(
        &mut self,
        name: &OutName,
        value: &str,
    ) -> Result<(), crate::xmlout::WriteError> {
        match name.ns.as_deref() {
            Some(crate::jsonout::TYPE_NS) if !self.json => {
                let (prefix, local) = name.qname.split_once(':').unwrap_or(("", &name.qname));
                self.out
                    .attr_ns(local, name.ns.as_deref(), Some(prefix), value)
            }
            _ => self.out.attr(&name.qname, value),
        }
    }

    /// Finds the rule for one node in a mode and runs it, or applies the
    /// drop rules, rename rules and the unmapped policy.
    pub(super) fn apply_one(&mut self, cx: &Cx<'a, 'i>, mode: ModeId, loc: Loc) -> R<()> {
        let m = &self.p.modes[mode as usize];
        let item = cx.item;
        let cands: &[RuleId] = match item {
            Item::Node(n) if n.is_element() => {
                match m.by_name.get(name_of(self.p, &self.name_ids, n) as usize) {
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
            if self.obs.is_some() {
                self.hit(Probe::Rule(rid));
                if self.tracing() {
                    let beat = self.beaten(cands, rid, item);
                    let name = rule.pattern.text.clone();
                    self.trace("rule", name, None, rule.loc, Some(item), None, beat);
                }
            }
            if let Some(needs) = &rule.needs {
                self.command_path(rule, needs, item)?;
            }
            self.touch(item);
            self.enter(loc, item)?;
            let mut frame = self.take_frame(rule.frame as usize);
            self.block(&rule.body, cx, &mut frame)
                .map_err(|e| self.called(e, "the rule".into(), rule.loc, item))?;
            self.depth -= 1;
            self.give_frame(frame);
            return Ok(());
        }
        self.fallback(item, mode, loc)
    }

    /// Records which path a command took; a rule that needs the VM's
    /// configuration, run on a request without it, is an error naming what
    /// it needs.
    #[cold]
    fn command_path(
        &mut self,
        rule: &'p RuleDef,
        needs: &'p crate::syntax::ast::Needs,
        item: Item<'a, 'i>,
    ) -> R<()> {
        use crate::syntax::ast::Needs;
        let why = match needs {
            Needs::Nothing => None,
            Needs::Context(why) => Some(why.clone()),
        };
        if let (Some(why), false) = (&why, self.opts.context) {
            let what = match item {
                Item::Node(n) if n.is_element() => format!("<{}>", n.tag_name().name()),
                _ => "this command".to_string(),
            };
            return Err(self.err(
                rule.loc,
                Some(item),
                format!("{what} needs the VM's current configuration ({why}); give it with --context VM-FILE"),
            ));
        }
        let input = report::pos(self.doc, self.lines(), item);
        self.paths.push(CommandPath {
            input,
            mapping: self.p.describe(rule.loc),
            needs: why,
        });
        Ok(())
    }

    pub(super) fn tie_possible(&self, cands: &[RuleId], rid: RuleId) -> bool {
        let pr = self.p.rules[rid as usize].priority;
        cands
            .iter()
            .any(|&c| c != rid && self.p.rules[c as usize].priority == pr)
    }

    pub(super) fn fallback(&mut self, item: Item<'a, 'i>, mode: ModeId, loc: Loc) -> R<()> {
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
                let what = report::describe(item);
                Err(self.err(
                    loc,
                    Some(item),
                    format!("no rule matches {what} (this mapping says `unmapped fail`)"),
                ))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycle_keeps_the_allocation() {
        let mut v: Vec<Val<'static, 'static>> = Vec::with_capacity(40);
        v.push(Val::Int(1));
        v.push(Val::Str(Cow::Owned("dropped".to_string())));
        let ptr = v.as_ptr() as usize;
        let w: Vec<Val<'_, '_>> = recycle(v);
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 40);
        assert_eq!(w.as_ptr() as usize, ptr);

        let pool: Vec<Vec<Item<'static, 'static>>> =
            (0..3).map(|_| Vec::with_capacity(8)).collect();
        let back: Vec<Vec<Item<'_, '_>>> = recycle_all(pool);
        assert_eq!(back.len(), 3);
        assert!(back.iter().all(|v| v.is_empty() && v.capacity() == 8));
    }
}
