//! Expressions, paths, patterns and built-in functions.

use std::borrow::Cow;

use crate::tree::Node;

use super::value::{self, Item, Nodes, Val};
use super::{Cx, Run, R};
use crate::convert;
use crate::program::*;
use crate::syntax::ast::{BinOp, Miss, Type};

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    pub(super) fn nodes(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Nodes<'a, 'i>> {
        match self.eval(e, cx, locals)? {
            Val::Nodes(n) => Ok(n),
            other => Err(self.err(
                e.loc,
                Some(cx.item),
                format!(
                    "expected nodes, found the value `{}`",
                    convert::short(&other.string())
                ),
            )),
        }
    }

    pub(super) fn string_of(&mut self, v: &Val<'a, 'i>) -> Cow<'a, str> {
        match v {
            Val::Nodes(items) => {
                if let Some(first) = items.first() {
                    self.touch_read(*first);
                }
                v.string()
            }
            Val::Int(i) => Cow::Owned(self.int_string(*i)),
            _ => v.string(),
        }
    }

    /// [`Self::string_of`], consuming the value: a string is moved, not
    /// copied. Inlined: a string just returned by a call is taken field by
    /// field where it lies (passing it on whole to a function stalled).
    #[inline(always)]
    pub(super) fn string_into(&mut self, v: Val<'a, 'i>) -> Cow<'a, str> {
        match v {
            Val::Str(s) => s,
            other => self.string_into_slow(other),
        }
    }

    #[inline(never)]
    fn string_into_slow(&mut self, v: Val<'a, 'i>) -> Cow<'a, str> {
        match v {
            Val::Str(s) => s,
            Val::Nodes(value::Nodes::Many(items)) => {
                let s = match items.first() {
                    Some(first) => {
                        self.touch_read(*first);
                        first.string()
                    }
                    None => Cow::Borrowed(""),
                };
                self.give_items(items);
                s
            }
            other => self.string_of(&other),
        }
    }

    /// An integer's decimal form, in a reused string.
    pub(super) fn int_string(&mut self, i: i64) -> String {
        let mut s = self.take_string();
        push_int(&mut s, i);
        s
    }

    /// Reading an element's string value reads everything inside it.
    pub(super) fn touch_read(&mut self, it: Item<'a, 'i>) {
        match it {
            Item::Node(n) if n.is_element() => self.touch_subtree(it),
            _ => self.touch(it),
        }
    }

    pub(super) fn str_arg(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Cow<'a, str>> {
        Ok(self.eval_str(e, cx, locals)?.0)
    }

    pub(super) fn int_arg(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<i64> {
        let v = self.eval(e, cx, locals)?;
        self.int_of(v, e.loc, cx)
    }

    pub(super) fn int_of(&mut self, v: Val<'a, 'i>, loc: Loc, cx: &Cx<'a, 'i>) -> R<i64> {
        match v {
            Val::Int(i) => Ok(i),
            Val::Bool(_) => {
                Err(self.err(loc, Some(cx.item), "expected an integer, found a boolean"))
            }
            other => {
                let s = self.string_of(&other);
                convert::int(&s).map_err(|m| self.err(loc, other.origin().or(Some(cx.item)), m))
            }
        }
    }

    /// Converts a value to a declared type, failing at the input node.
    #[inline(always)]
    pub(super) fn coerce(
        &mut self,
        v: Val<'a, 'i>,
        t: Type,
        loc: Loc,
        cx: &Cx<'a, 'i>,
    ) -> R<Val<'a, 'i>> {
        // Most values already have their declared type.
        if has_type(&v, t) {
            Ok(v)
        } else {
            self.convert_to(v, t, loc, cx)
        }
    }

    #[inline(never)]
    fn convert_to(&mut self, v: Val<'a, 'i>, t: Type, loc: Loc, cx: &Cx<'a, 'i>) -> R<Val<'a, 'i>> {
        let at = v.origin().or(Some(cx.item));
        Ok(match t {
            Type::Any | Type::Nodes => v,
            Type::String => Val::Str(self.string_into(v)),
            Type::Int => Val::Int(self.int_of(v, loc, cx)?),
            Type::Uint => {
                let i = self.int_of(v, loc, cx)?;
                if i < 0 {
                    return Err(self.err(
                        loc,
                        at,
                        format!("expected an unsigned integer, found {i}"),
                    ));
                }
                Val::Int(i)
            }
            Type::Bool => match v {
                Val::Bool(b) => Val::Bool(b),
                other => {
                    let s = self.string_of(&other);
                    Val::Bool(convert::bool(&s).map_err(|m| self.err(loc, at, m))?)
                }
            },
        })
    }

    /// The value of `e`. Literals, variables and `.` are handled where
    /// `eval` is called (it is inlined); everything else in
    /// [`Self::eval_slow`].
    #[inline(always)]
    pub(super) fn eval(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        match &e.kind {
            ExprKind::Lit(Value::Str(s)) => Ok(Val::Str(Cow::Borrowed(s.as_str()))),
            ExprKind::Lit(Value::Int(i)) => Ok(Val::Int(*i)),
            ExprKind::Local(slot) => Ok(locals
                .get(*slot as usize)
                .cloned()
                .unwrap_or_else(Val::empty_str)),
            // `.` (a path of one `self::node()` step): the context item,
            // touched as the path would touch it.
            ExprKind::Path {
                start: PathStart::Context,
                steps,
            } if is_dot(steps) => {
                self.touch(cx.item);
                Ok(Val::Nodes(Nodes::One(cx.item)))
            }
            _ => self.eval_slow(e, cx, locals),
        }
    }

    #[inline(never)]
    fn eval_slow(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        Ok(match &e.kind {
            ExprKind::Lit(v) => match v {
                Value::Str(s) => Val::Str(Cow::Borrowed(s.as_str())),
                Value::Int(i) => Val::Int(*i),
                Value::Bool(b) => Val::Bool(*b),
            },
            ExprKind::Concat(parts) => self.concat(parts, cx, locals)?,
            ExprKind::Local(slot) => locals
                .get(*slot as usize)
                .cloned()
                .unwrap_or_else(Val::empty_str),
            ExprKind::Global(slot) => self
                .globals
                .get(*slot as usize)
                .cloned()
                .unwrap_or_else(Val::empty_str),
            ExprKind::Path { start, steps } => {
                // A simple path selecting at most one node needs no list.
                if let Some((first, count)) = self.path_first_count(e, cx, locals) {
                    match (first, count) {
                        (None, _) => return Ok(Val::Nodes(Nodes::Many(Vec::new()))),
                        (Some(it), 1) => return Ok(Val::Nodes(Nodes::One(it))),
                        _ => {}
                    }
                }
                let v = self.path(start, steps, e.loc, cx, locals, true)?;
                Val::Nodes(self.nodes_of(v))
            }
            ExprKind::Builtin(b, args) => self.builtin(*b, args, e.loc, cx, locals)?,
            ExprKind::Fn(f, args) => self.call_fn(*f, args, e.loc, cx, locals)?,
            ExprKind::Table(t, arg) => self.table(*t, arg, e.loc, cx, locals)?,
            ExprKind::TableFirst(t, f, args) => {
                self.table_first(*t, *f, args, false, e.loc, cx, locals)?
            }
            ExprKind::TableFirstFrom(t, f, args) => {
                self.table_first(*t, *f, args, true, e.loc, cx, locals)?
            }
            ExprKind::Session {
                id,
                reverse,
                probe,
                arg,
            } => self.session(*id, *reverse, *probe, arg, e.loc, cx, locals)?,
            ExprKind::Union(parts) => Val::Nodes(self.union(parts, cx, locals, true)?.into()),
            ExprKind::Neg(x) => {
                let i = self.int_arg(x, cx, locals)?;
                Val::Int(i.checked_neg().ok_or_else(|| {
                    self.err(e.loc, Some(cx.item), "integer overflow in negation")
                })?)
            }
            ExprKind::Bin(op, a, b) => self.binary(*op, a, b, e.loc, cx, locals)?,
        })
    }

    // The larger kinds of expression live in their own functions, so that
    // `eval` itself (called for every literal, variable and path) keeps a
    // small stack frame.

    /// An interpolated string.
    #[inline(never)]
    fn concat(
        &mut self,
        parts: &'p [Expr],
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        let mut s = self.take_string();
        for x in parts {
            // A string variable is copied in, not cloned first.
            if let ExprKind::Local(slot) = x.kind {
                if let Some(Val::Str(v)) = locals.get(slot as usize) {
                    s.push_str(v);
                    continue;
                }
            }
            let (v, _) = self.eval_str(x, cx, locals)?;
            s.push_str(&v);
            self.give_str(v);
        }
        Ok(Val::Str(Cow::Owned(s)))
    }

    /// A call of a mapping's function.
    #[inline(never)]
    fn call_fn(
        &mut self,
        f: FnId,
        args: &'p [Expr],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        let fd = &self.p.fns[f as usize];
        let n = (fd.frame as usize).max(args.len());
        if self.obs.is_some() {
            self.hit(super::Probe::Fn(f));
            if self.profiling() {
                return self.call_timed(f, args, loc, cx, locals, n);
            }
        }
        // Most functions need a few slots: those live on the stack.
        if n <= 2 {
            return self.call_on_stack::<2>(f, args, loc, cx, locals, n);
        }
        if n <= INLINE_FRAME {
            return self.call_on_stack::<INLINE_FRAME>(f, args, loc, cx, locals, n);
        }
        self.call_on_heap(f, args, loc, cx, locals, n)
    }

    /// [`Self::call_fn`], timed (`--profile`).
    #[cold]
    #[inline(never)]
    fn call_timed(
        &mut self,
        f: FnId,
        args: &'p [Expr],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        n: usize,
    ) -> R<Val<'a, 'i>> {
        self.prof_enter();
        let v = self.call_on_heap(f, args, loc, cx, locals, n);
        self.prof_exit(self.p.fns[f as usize].loc, true);
        v
    }

    /// [`Self::fn_body`] with a frame of `n` slots taken from the pool.
    fn call_on_heap(
        &mut self,
        f: FnId,
        args: &'p [Expr],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        n: usize,
    ) -> R<Val<'a, 'i>> {
        let mut frame = self.take_frame(n);
        let v = self.fn_body(f, args, loc, cx, locals, &mut frame);
        self.give_frame(frame);
        v
    }

    /// [`Self::fn_body`] with a frame of `n <= N` slots on the stack.
    fn call_on_stack<const N: usize>(
        &mut self,
        f: FnId,
        args: &'p [Expr],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        n: usize,
    ) -> R<Val<'a, 'i>> {
        let mut frame: [Val<'a, 'i>; N] = std::array::from_fn(|_| Val::empty_str());
        let v = self.fn_body(f, args, loc, cx, locals, &mut frame[..n]);
        for slot in frame {
            self.give_val(slot);
        }
        v
    }

    /// Binds the arguments into `frame` and evaluates the body (or finds
    /// the result of an earlier call).
    fn fn_body(
        &mut self,
        f: FnId,
        args: &'p [Expr],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        frame: &mut [Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        let fd = &self.p.fns[f as usize];
        for (k, a) in args.iter().enumerate() {
            self.arg_into(a, fd.params[k], cx, locals, &mut frame[k])?;
        }
        if fd.pure {
            if let Some(v) = self.memo_get(f, &frame[..args.len()]) {
                return Ok(v);
            }
        }
        self.enter(loc, cx.item)?;
        let v = self
            .eval(&fd.body, cx, frame)
            .map_err(|e| self.called(e, format!("function `{}` called", fd.name), loc, cx.item))?;
        self.depth -= 1;
        let v = self.coerce(v, fd.ret, loc, cx)?;
        if fd.pure {
            self.memo_put(f, &frame[..args.len()], &v);
        }
        Ok(v)
    }

    /// Evaluates argument `a`, of declared type `t`, into its frame slot.
    /// Literals, variables, `.` and simple paths are written in place; a
    /// value returned from a call is copied into the slot just after being
    /// written, and reading a value that fresh stalls the processor.
    #[inline(always)]
    fn arg_into(
        &mut self,
        a: &'p Expr,
        t: Type,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        slot: &mut Val<'a, 'i>,
    ) -> R<()> {
        match &a.kind {
            ExprKind::Lit(Value::Str(s)) if matches!(t, Type::String | Type::Any) => {
                *slot = Val::Str(Cow::Borrowed(s.as_str()));
                return Ok(());
            }
            ExprKind::Local(i) => {
                if let Some(v) = locals.get(*i as usize) {
                    if has_type(v, t) {
                        *slot = v.clone();
                        return Ok(());
                    }
                }
            }
            ExprKind::Path {
                start: PathStart::Context,
                steps,
            } if is_dot(steps) && matches!(t, Type::Nodes | Type::Any) => {
                self.touch(cx.item);
                *slot = Val::Nodes(Nodes::One(cx.item));
                return Ok(());
            }
            ExprKind::Path { .. } if t == Type::String => {
                if let Some((s, _)) = self.path_first_string(a, cx, locals) {
                    *slot = Val::Str(s);
                    return Ok(());
                }
            }
            _ => {}
        }
        *slot = if t == Type::String {
            Val::Str(self.eval_str(a, cx, locals)?.0)
        } else {
            let v = self.eval(a, cx, locals)?;
            self.coerce(v, t, a.loc, cx)?
        };
        Ok(())
    }

    /// `table.first_where(f, args…)`: walks the rows in order and returns
    /// the first key for which `f(key, value, args…)` is true. With `from`
    /// (`first_where_from`), `args[0]` is the key of the row to start at
    /// (the first row when the table has no such key).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn table_first(
        &mut self,
        t: TableId,
        f: FnId,
        args: &'p [Expr],
        from: bool,
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        let p = self.p;
        let fd = &p.fns[f as usize];
        let table = &p.tables[t as usize];
        // `first_where_from`: the row to start at (a key the table lacks
        // starts at the first row).
        let (start, args) = match (from, args.split_first()) {
            (true, Some((s, rest))) => {
                let key = self.str_arg(s, cx, locals)?;
                let at = table.index.get(key.as_ref()).copied().unwrap_or(0);
                (at as usize, rest)
            }
            _ => (0, args),
        };
        let mut frame = self.take_frame((fd.frame as usize).max(2 + args.len()));
        for (k, a) in args.iter().enumerate() {
            let mut slot = Val::empty_str();
            self.arg_into(a, fd.params[2 + k], cx, locals, &mut slot)?;
            frame[2 + k] = slot;
        }
        self.enter(loc, cx.item)?;
        if self.obs.is_some() {
            self.hit(super::Probe::Fn(f));
        }
        let mut found = None;
        for (key, value) in &table.ordered[start.min(table.ordered.len())..] {
            frame[0] = match (table.key_ty, fd.params[0]) {
                (Type::Int | Type::Uint, Type::Int | Type::Uint | Type::Any) => {
                    Val::Int(key.parse().unwrap_or_default())
                }
                _ => Val::Str(Cow::Borrowed(key.as_str())),
            };
            frame[1] = row_value(value, fd.params[1]);
            let v = self.eval(&fd.body, cx, &frame)?;
            let v = self.coerce(v, Type::Bool, loc, cx)?;
            if matches!(v, Val::Bool(true)) {
                found = Some(key);
                break;
            }
        }
        self.depth -= 1;
        self.give_frame(frame);
        if let (Some(k), true) = (found, self.obs.is_some()) {
            self.hit(super::Probe::Row(t, Some(k.clone())));
        }
        Ok(match found {
            Some(k) => match table.key_ty {
                Type::Int | Type::Uint => Val::Int(k.parse().unwrap_or_default()),
                _ => Val::Str(Cow::Borrowed(k.as_str())),
            },
            None => Val::empty_str(),
        })
    }

    /// A lookup in a static table.
    #[inline(never)]
    fn table(
        &mut self,
        t: TableId,
        arg: &'p Expr,
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        let v = self.eval(arg, cx, locals)?;
        let at = v.origin().or(Some(cx.item));
        let key = self.string_into(v);
        let vt = self.p.tables[t as usize].val_ty;
        let row = self.table_value(t, &key, loc, at)?;
        if self.obs.is_some() {
            let known = self.p.tables[t as usize].index.contains_key(key.as_ref());
            self.hit(super::Probe::Row(t, known.then(|| key.to_string())));
        }
        self.give_str(key);
        Ok(row_value(row, vt))
    }

    /// A lookup in a session table.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn session(
        &mut self,
        id: SessionId,
        reverse: bool,
        probe: bool,
        arg: &'p Expr,
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        let v = self.eval(arg, cx, locals)?;
        let key = self.string_of(&v);
        let at = v.origin().or(Some(cx.item));
        let def = &self.p.sessions[id as usize];
        // A missing or empty key looks up nothing (`<x>? = t.right(y)`
        // then leaves `x` out), like the conversions; with `miss fail` it
        // is a miss like any other (book: Session tables). `mint` pairs
        // nothing with it: an empty key names nothing, and minting for it
        // would give every VM without the value one shared identifier.
        if key.is_empty() {
            if let (Miss::Fail(hint), false) = (&def.miss, probe) {
                let mut m = format!(
                    "session table `{}` looked up with an empty key ({} side): the value it identifies is missing or empty",
                    def.name,
                    if reverse { "right" } else { "left" }
                );
                if let Some(h) = hint {
                    m.push_str(&format!(" ({h})"));
                }
                return Err(self.err(loc, at, m));
            }
            return Ok(Val::empty_str());
        }
        if probe {
            let found = self
                .sessions
                .find(def, reverse, &key)
                .map_err(|m| self.err(loc, at, m))?;
            return Ok(Val::Str(Cow::Owned(found.unwrap_or_default())));
        }
        let out = self
            .sessions
            .lookup(def, reverse, &key)
            .map_err(|m| self.err(loc, at, m))?;
        Ok(Val::Str(Cow::Owned(out)))
    }

    /// Evaluates a path. `touch_last: false` leaves the final nodes unmarked
    /// (used by `apply`, where a node counts as mapped only if a rule takes it).
    pub(super) fn path(
        &mut self,
        start: &'p PathStart,
        steps: &'p [Step],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        touch_last: bool,
    ) -> R<Vec<Item<'a, 'i>>> {
        // The first step reads from a borrowed slice: no allocation for the
        // common paths that start at the context node or the root.
        let one;
        let first: &[Item<'a, 'i>] = match start {
            PathStart::Context => {
                one = [cx.item];
                &one
            }
            PathStart::Root | PathStart::RootDescendants => {
                one = [Item::Node(self.doc.root())];
                &one
            }
            PathStart::Local(s) => match locals.get(*s as usize) {
                Some(Val::Nodes(n)) => n,
                _ => {
                    return Err(self.err(
                        loc,
                        Some(cx.item),
                        "a path can only start from a variable holding nodes",
                    ))
                }
            },
            PathStart::Global(s) => match self.globals.get(*s as usize) {
                Some(Val::Nodes(n)) => &n.clone(),
                _ => {
                    return Err(self.err(
                        loc,
                        Some(cx.item),
                        "a path can only start from a variable holding nodes",
                    ))
                }
            },
        };
        let Some((st0, rest)) = steps.split_first() else {
            return Ok(first.to_vec());
        };
        let desc0 = st0.descendant || matches!(start, PathStart::RootDescendants);
        let mut cur = self.step(first, st0, desc0, locals, touch_last || !rest.is_empty())?;
        for (k, st) in rest.iter().enumerate() {
            let touch = touch_last || k + 1 < rest.len();
            let next = self.step(&cur, st, st.descendant, locals, touch)?;
            self.give_items(std::mem::replace(&mut cur, next));
        }
        Ok(cur)
    }

    /// `a | b`: each part's nodes, merged in document order without duplicates.
    pub(super) fn union(
        &mut self,
        parts: &'p [Expr],
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        touch_last: bool,
    ) -> R<Vec<Item<'a, 'i>>> {
        let mut all = Vec::new();
        for x in parts {
            let items = match &x.kind {
                ExprKind::Path { start, steps } => {
                    self.path(start, steps, x.loc, cx, locals, touch_last)?
                }
                _ => self.nodes(x, cx, locals)?.into_vec(),
            };
            all.extend(items);
        }
        all.sort_by_key(|i| i.key());
        all.dedup();
        Ok(all)
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: &'p Expr,
        b: &'p Expr,
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        match op {
            BinOp::Or => {
                let l = self.eval_truthy(a, cx, locals)?;
                return Ok(Val::Bool(l || self.eval_truthy(b, cx, locals)?));
            }
            BinOp::And => {
                let l = self.eval_truthy(a, cx, locals)?;
                return Ok(Val::Bool(l && self.eval_truthy(b, cx, locals)?));
            }
            BinOp::Eq | BinOp::Ne => {
                if let Some(v) = self.eq_literal(a, b, op == BinOp::Ne, cx, locals) {
                    return Ok(Val::Bool(v?));
                }
            }
            _ => {}
        }
        let l = self.eval(a, cx, locals)?;
        let r = self.eval(b, cx, locals)?;
        match op {
            BinOp::Eq => Ok(Val::Bool(self.equal(&l, &r, false))),
            // Existential, like `=`: some pair of values differs.
            BinOp::Ne => Ok(Val::Bool(self.equal(&l, &r, true))),
            // An empty node list has no value to order: the comparison is false.
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
                if l.is_empty_nodes() || r.is_empty_nodes() =>
            {
                Ok(Val::Bool(false))
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let x = self.int_of(l, a.loc, cx)?;
                let y = self.int_of(r, b.loc, cx)?;
                Ok(Val::Bool(match op {
                    BinOp::Lt => x < y,
                    BinOp::Le => x <= y,
                    BinOp::Gt => x > y,
                    _ => x >= y,
                }))
            }
            _ => {
                let x = self.int_of(l, a.loc, cx)?;
                let y = self.int_of(r, b.loc, cx)?;
                let (res, sym) = match op {
                    BinOp::Add => (x.checked_add(y), "+"),
                    BinOp::Sub => (x.checked_sub(y), "-"),
                    BinOp::Mul => (x.checked_mul(y), "*"),
                    BinOp::Div => {
                        if y == 0 {
                            return Err(self.err(
                                loc,
                                Some(cx.item),
                                format!("division by zero ({x} div 0)"),
                            ));
                        }
                        (x.checked_div(y), "div")
                    }
                    _ => {
                        if y == 0 {
                            return Err(self.err(
                                loc,
                                Some(cx.item),
                                format!("division by zero ({x} mod 0)"),
                            ));
                        }
                        (x.checked_rem(y), "mod")
                    }
                };
                res.map(Val::Int).ok_or_else(|| {
                    self.err(
                        loc,
                        Some(cx.item),
                        format!("integer overflow in {x} {sym} {y}"),
                    )
                })
            }
        }
    }

    /// `path = literal` (or `!=`) where the path is simple and selects at
    /// most one node: [`Self::equal`] without building the node list. `None`
    /// for anything else.
    fn eq_literal(
        &mut self,
        a: &'p Expr,
        b: &'p Expr,
        differ: bool,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> Option<R<bool>> {
        let (path, lit) = match (&a.kind, &b.kind) {
            (ExprKind::Path { .. }, ExprKind::Lit(v)) => (a, v),
            (ExprKind::Lit(v), ExprKind::Path { .. }) => (b, v),
            // A string-valued call against a string: one string each side
            // (no node lists, so `=` is plain string equality).
            (ExprKind::Fn(..) | ExprKind::Builtin(..), ExprKind::Lit(Value::Str(t)))
            | (ExprKind::Lit(Value::Str(t)), ExprKind::Fn(..) | ExprKind::Builtin(..)) => {
                let call = if matches!(a.kind, ExprKind::Lit(_)) {
                    b
                } else {
                    a
                };
                let ret = match &call.kind {
                    ExprKind::Fn(f, _) => self.p.fns[*f as usize].ret,
                    ExprKind::Builtin(b, _) => b.ret(),
                    _ => Type::Any,
                };
                if ret != Type::String {
                    return None;
                }
                let r = self.eval_str(call, cx, locals);
                return Some(r.map(|(s, _)| (s == t.as_str()) != differ));
            }
            // A string variable against a string: compared where it is.
            (ExprKind::Local(slot), ExprKind::Lit(Value::Str(t)))
            | (ExprKind::Lit(Value::Str(t)), ExprKind::Local(slot)) => {
                return match locals.get(*slot as usize) {
                    Some(Val::Str(s)) => Some(Ok((s.as_ref() == t.as_str()) != differ)),
                    _ => None,
                };
            }
            _ => return None,
        };
        let (first, count) = self.path_first_count(path, cx, locals)?;
        if count > 1 {
            return None;
        }
        if let Value::Bool(want) = lit {
            return Some(Ok((first.is_some() == *want) != differ));
        }
        // An empty node list equals nothing and differs from nothing.
        let Some(it) = first else {
            return Some(Ok(false));
        };
        self.touch_read(it);
        let s = it.string();
        let same = match lit {
            Value::Int(i) => convert::int(&s) == Ok(*i),
            Value::Str(t) => s == t.as_str(),
            Value::Bool(_) => unreachable!("handled above"),
        };
        Some(Ok(same != differ))
    }

    /// `=`: existential over node lists; numeric when one side is an integer.
    /// `=` (or `!=` with `differ`): existential over node lists — true when
    /// some pair of values is equal (differs); numeric when one side is an
    /// integer. An empty node list makes both false.
    pub(super) fn equal(&mut self, l: &Val<'a, 'i>, r: &Val<'a, 'i>, differ: bool) -> bool {
        if let (Val::Bool(_), _) | (_, Val::Bool(_)) = (l, r) {
            return (l.truthy() == r.truthy()) != differ;
        }
        let numeric = matches!(l, Val::Int(_)) || matches!(r, Val::Int(_));
        let same = |x: &str, y: &str| {
            if numeric {
                matches!((convert::int(x), convert::int(y)), (Ok(p), Ok(q)) if p == q)
            } else {
                x == y
            }
        };
        // Fast path: one value against one value, no allocation.
        let single = |run: &mut Self, v: &Val<'a, 'i>| -> Option<Cow<'a, str>> {
            match v {
                Val::Nodes(items) if items.len() == 1 => {
                    run.touch_read(items[0]);
                    Some(items[0].string())
                }
                Val::Nodes(_) => None,
                other => Some(other.string()),
            }
        };
        if !matches!(l, Val::Nodes(v) if v.len() != 1)
            && !matches!(r, Val::Nodes(v) if v.len() != 1)
        {
            if let (Some(x), Some(y)) = (single(self, l), single(self, r)) {
                return same(&x, &y) != differ;
            }
        }
        let strings = |run: &mut Self, v: &Val<'a, 'i>| -> Vec<Cow<'a, str>> {
            match v {
                Val::Nodes(items) => items
                    .iter()
                    .map(|i| {
                        run.touch_read(*i);
                        i.string()
                    })
                    .collect(),
                other => vec![other.string()],
            }
        };
        let ls = strings(self, l);
        let rs = strings(self, r);
        ls.iter().any(|x| rs.iter().any(|y| same(x, y) != differ))
    }

    pub(super) fn test_node(
        p: &Program,
        ids: &[std::cell::Cell<NameId>],
        test: &Test,
        n: Node,
    ) -> bool {
        match test {
            // Interned names compare as integers.
            Test::Elem(nt) if nt.id != NO_NAME => super::name_of(p, ids, n) == nt.id,
            // `*`, `p:*` and names no input has: the local name first (the
            // namespace, perhaps through the aliases, only when it matches).
            Test::Elem(nt) => {
                if !n.is_element() {
                    return false;
                }
                let tn = n.tag_name();
                if nt.local.as_deref().is_some_and(|l| l != tn.name()) {
                    return false;
                }
                nt.any_ns || nt.ns.as_deref() == p.canon_ns(tn.namespace())
            }
            Test::Text => n.is_text(),
            _ => false,
        }
    }

    pub(super) fn step(
        &mut self,
        input: &[Item<'a, 'i>],
        st: &'p Step,
        desc: bool,
        locals: &[Val<'a, 'i>],
        touch: bool,
    ) -> R<Vec<Item<'a, 'i>>> {
        if st.test == Test::Filter {
            // Positions count in the whole list, not per node.
            let out = self.filter(input.to_vec(), &st.preds, locals)?;
            if touch {
                for it in &out {
                    self.touch(*it);
                }
            }
            return Ok(out);
        }
        // The common step: children by name of one node (an element or the
        // document root).
        if let (Test::Elem(nt), [Item::Node(n)]) = (&st.test, input) {
            if !desc && nt.id != NO_NAME {
                let mut out = self.take_items();
                for j in self.named_children(*n, nt.id) {
                    let id = crate::tree::NodeId::new(self.child_arena[j].1);
                    if let Some(c) = self.doc.get_node(id) {
                        out.push(Item::Node(c));
                    }
                }
                if !st.preds.is_empty() && !out.is_empty() {
                    out = self.filter(out, &st.preds, locals)?;
                }
                if touch {
                    for it in &out {
                        self.touch(*it);
                    }
                }
                return Ok(out);
            }
        }
        // `*[local_name() = X]` with X the same for every candidate (the
        // idiom of namespace-agnostic mappings): X once, then names compared,
        // not a string made and compared per child.
        // Descendant steps too (`$env//*[local_name() = "Disk"]`): there a
        // predicate per descendant was most of an OVF route's time.
        let mut preds = &st.preds[..];
        let mut local: Option<Cow<'p, str>> = None;
        if let (Test::Elem(_), Some(x), Some(&first)) = (
            &st.test,
            st.preds.first().and_then(local_name_eq),
            input.first(),
        ) {
            if let ExprKind::Lit(Value::Str(v)) = &x.kind {
                // A literal reads nothing and cannot fail.
                local = Some(Cow::Borrowed(v.as_str()));
                preds = &st.preds[1..];
            } else {
                // Evaluated only where the predicate would be (a candidate
                // exists): what X reads counts as read, as it did.
                let (p, ids) = (self.p, &self.name_ids);
                let candidate = input.iter().any(|it| match it {
                    Item::Node(n) if desc => n
                        .descendants()
                        .skip(1)
                        .any(|c| Self::test_node(p, ids, &st.test, c)),
                    Item::Node(n) => n.children().any(|c| Self::test_node(p, ids, &st.test, c)),
                    Item::Attr(..) => false,
                });
                let cx = Cx {
                    item: first,
                    pos: 1,
                    size: 1,
                };
                if candidate {
                    if let Val::Str(v) = self.eval(x, &cx, locals)? {
                        local = Some(Cow::Owned(v.into_owned()));
                        preds = &st.preds[1..];
                    }
                }
            }
        }
        let mut out = self.take_items();
        // Without predicates, nodes go straight to the result.
        let direct = preds.is_empty();
        let mut group: Vec<Item<'a, 'i>> = if direct {
            Vec::new()
        } else {
            self.take_items()
        };
        for it in input {
            let Item::Node(n) = *it else {
                if matches!(st.test, Test::SelfNode) {
                    out.push(*it);
                } else if matches!(st.test, Test::Parent) {
                    out.push(Item::Node(it.node()));
                }
                continue;
            };
            group.clear();
            let buf = if direct { &mut out } else { &mut group };
            match &st.test {
                Test::SelfNode => buf.push(*it),
                Test::Parent => {
                    if let Some(p) = n.parent() {
                        buf.push(Item::Node(p));
                    }
                }
                Test::Attr(nt) => {
                    let push_attrs = |e: Node<'a, 'i>, g: &mut Vec<Item<'a, 'i>>| {
                        for (k, a) in e.attributes().enumerate() {
                            if nt.matches(a.name(), self.p.canon_ns(a.namespace())) {
                                g.push(Item::Attr(e, k as u32));
                            }
                        }
                    };
                    if desc {
                        for d in n.descendants().filter(|d| d.is_element()) {
                            push_attrs(d, buf);
                        }
                    } else if n.is_element() {
                        push_attrs(n, buf);
                    }
                }
                Test::Elem(nt) if !desc && nt.id != NO_NAME => {
                    // Children by interned name, from a compact per-element index.
                    for j in self.named_children(n, nt.id) {
                        let id = crate::tree::NodeId::new(self.child_arena[j].1);
                        if let Some(c) = self.doc.get_node(id) {
                            buf.push(Item::Node(c));
                        }
                    }
                }
                test => {
                    let (p, ids) = (self.p, &self.name_ids);
                    if let Some(l) = local.as_deref() {
                        let named = |c: &Node<'a, 'i>| c.is_element() && c.tag_name().name() == l;
                        if desc {
                            buf.extend(
                                n.descendants()
                                    .skip(1)
                                    .filter(named)
                                    .filter(|c| Self::test_node(p, ids, test, *c))
                                    .map(Item::Node),
                            );
                        } else {
                            buf.extend(
                                n.children()
                                    .filter(named)
                                    .filter(|c| Self::test_node(p, ids, test, *c))
                                    .map(Item::Node),
                            );
                        }
                    } else if desc {
                        buf.extend(
                            n.descendants()
                                .skip(1)
                                .filter(|c| Self::test_node(p, ids, test, *c))
                                .map(Item::Node),
                        );
                    } else {
                        buf.extend(
                            n.children()
                                .filter(|c| Self::test_node(p, ids, test, *c))
                                .map(Item::Node),
                        );
                    }
                }
            }
            if !direct {
                let taken = std::mem::replace(&mut group, self.take_items());
                let selected = self.filter(taken, preds, locals)?;
                out.extend_from_slice(&selected);
                self.give_items(selected);
            }
        }
        self.give_items(group);
        if input.len() > 1 || desc {
            out.sort_by_key(|i| i.key());
            out.dedup();
        }
        if touch {
            for it in &out {
                self.touch(*it);
            }
        }
        Ok(out)
    }

    /// The range of `child_arena` holding `n`'s element children named
    /// `name` (by [`Self::index_children`]; empty for a leaf).
    fn named_children(&mut self, n: Node<'a, 'i>, name: NameId) -> std::ops::Range<usize> {
        if !n.has_children() {
            return 0..0;
        }
        let span = self.index_children(n);
        let named = named_range(&self.child_arena[span.clone()], name);
        span.start + named.start..span.start + named.end
    }

    /// `n`'s child index: its element children by interned name, as a range
    /// of `child_arena`, built the first time it is asked for. The children
    /// named `name` are the [`named_range`] of that range.
    fn index_children(&mut self, n: Node<'a, 'i>) -> std::ops::Range<usize> {
        let k = n.id().get_usize();
        let (s, e) = self.child_span[k];
        if s != u32::MAX {
            return s as usize..e as usize;
        }
        let start = self.child_arena.len();
        for c in n.children().filter(|c| c.is_element()) {
            let id = c.id().get_usize();
            let name = super::name_of(self.p, &self.name_ids, c);
            self.child_arena.push((name, id as u32));
        }
        // By name, then in document order: the children with one name are
        // one run, found by binary search.
        self.child_arena[start..].sort_unstable();
        let end = self.child_arena.len();
        self.child_span[k] = (start as u32, end as u32);
        start..end
    }

    /// The first node of a path and how many it selects, without building
    /// its node list, for the many places that need only a path's string
    /// value, whether it is empty or whether it selects one node. `None`
    /// when the path is not simple: it starts at the context node, the root
    /// or a variable holding one node, and every step is a child element
    /// (by name), attribute or text step without predicates. Such a path's
    /// nodes come out of a depth-first walk in document order, so the first
    /// node found is the first of the list `path` would build, and every
    /// node it would touch is touched here too.
    #[inline(always)]
    fn path_first_count(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> Option<(Option<Item<'a, 'i>>, usize)> {
        let (first, count) = self.path_first_packed(e, cx, locals);
        match first {
            NOT_SIMPLE => None,
            NOT_FOUND => Some((None, count)),
            p => Some((Some(self.unpack(p)), count)),
        }
    }

    /// [`Self::path_first_count`] with the node [`pack`]ed, or
    /// [`NOT_FOUND`], or [`NOT_SIMPLE`]: two words, returned in registers.
    fn path_first_packed(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> (u64, usize) {
        const NO: (u64, usize) = (NOT_SIMPLE, 0);
        let ExprKind::Path { start, steps } = &e.kind else {
            return NO;
        };
        let simple = |st: &Step| {
            st.preds.is_empty()
                && !st.descendant
                && match &st.test {
                    Test::Elem(nt) => nt.id != NO_NAME,
                    Test::Attr(_) | Test::Text => true,
                    _ => false,
                }
        };
        if !steps.iter().all(simple) {
            return NO;
        }
        let from = match start {
            PathStart::Context => cx.item,
            PathStart::Root => Item::Node(self.doc.root()),
            PathStart::Local(s) => match locals.get(*s as usize) {
                Some(Val::Nodes(n)) if n.len() == 1 => n[0],
                Some(Val::Nodes(n)) if n.is_empty() => return (NOT_FOUND, 0),
                _ => return NO,
            },
            PathStart::Global(_) | PathStart::RootDescendants => return NO,
        };
        let n = match from {
            _ if steps.is_empty() => return (pack(from), 1),
            Item::Node(n) => n,
            // An attribute has no children: its steps select nothing.
            Item::Attr(..) => return (NOT_FOUND, 0),
        };
        let (mut first, mut count) = (NOT_FOUND, 0);
        self.visit_first(n, steps, &mut first, &mut count);
        (first, count)
    }

    /// The node or attribute [`pack`] packed (never [`NOT_FOUND`] or
    /// [`NOT_SIMPLE`]: callers check).
    fn unpack(&self, p: u64) -> Item<'a, 'i> {
        debug_assert!(p != NOT_FOUND && p != NOT_SIMPLE);
        let id = crate::tree::NodeId::from(p as u32);
        let found = self.doc.get_node(id);
        debug_assert!(found.is_some(), "packed a node of another document");
        let n = found.unwrap_or_else(|| self.doc.root());
        match (p >> 32) as u32 {
            0 => Item::Node(n),
            k => Item::Attr(n, k - 1),
        }
    }

    /// Walks `steps` (at least one) down from `n`, touching what each step
    /// selects, keeping the first node the last step selects ([`pack`]ed)
    /// and counting them. The last step's nodes are taken where they are
    /// found, not passed down a call, and kept as one word: copying a
    /// just-written `Item` (32 bytes, written in parts) stalled the
    /// processor at every read.
    fn visit_first(
        &mut self,
        n: Node<'a, 'i>,
        steps: &'p [Step],
        first: &mut u64,
        count: &mut usize,
    ) {
        debug_assert!(!steps.is_empty(), "the caller handles a path without steps");
        let Some((st, rest)) = steps.split_first() else {
            return;
        };
        let last = rest.is_empty();
        match &st.test {
            Test::Elem(nt) => {
                for j in self.named_children(n, nt.id) {
                    let id = crate::tree::NodeId::new(self.child_arena[j].1);
                    if let Some(c) = self.doc.get_node(id) {
                        self.touch_node(c);
                        if last {
                            if *first == NOT_FOUND {
                                *first = pack_node(c);
                            }
                            *count += 1;
                        } else {
                            self.visit_first(c, rest, first, count);
                        }
                    }
                }
            }
            Test::Attr(nt) => {
                if n.is_element() {
                    for (j, a) in n.attributes().enumerate() {
                        if nt.matches(a.name(), self.p.canon_ns(a.namespace())) {
                            let c = Item::Attr(n, j as u32);
                            self.touch(c);
                            if last {
                                if *first == NOT_FOUND {
                                    *first = pack(c);
                                }
                                *count += 1;
                            }
                        }
                    }
                }
            }
            _ => {
                // Text nodes have no children either.
                for c in n.children().filter(|c| c.is_text()) {
                    self.touch_node(c);
                    if last {
                        if *first == NOT_FOUND {
                            *first = pack_node(c);
                        }
                        *count += 1;
                    }
                }
            }
        }
    }

    /// The string value of `e` (of its first node, for nodes), and whether
    /// `e` is empty (no nodes, or the empty string).
    #[inline(always)]
    pub(super) fn eval_str(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<(Cow<'a, str>, bool)> {
        match &e.kind {
            // Literal text (a good part of every mapping's output).
            ExprKind::Lit(Value::Str(s)) => return Ok((Cow::Borrowed(s.as_str()), s.is_empty())),
            ExprKind::Local(slot) => {
                if let Some(Val::Str(s)) = locals.get(*slot as usize) {
                    return Ok((s.clone(), s.is_empty()));
                }
            }
            _ => {}
        }
        self.eval_str_slow(e, cx, locals)
    }

    /// [`Self::eval_str`] for paths and computed values.
    #[inline(never)]
    fn eval_str_slow(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<(Cow<'a, str>, bool)> {
        let v = match &e.kind {
            ExprKind::Path { .. } => {
                if let Some(r) = self.path_first_string(e, cx, locals) {
                    return Ok(r);
                }
                self.eval(e, cx, locals)?
            }
            // Calls go straight to their function.
            ExprKind::Fn(f, args) => self.call_fn(*f, args, e.loc, cx, locals)?,
            ExprKind::Builtin(b, args) => self.builtin(*b, args, e.loc, cx, locals)?,
            _ => self.eval(e, cx, locals)?,
        };
        let empty = v.is_empty();
        Ok((self.string_into(v), empty))
    }

    /// For a path [`Self::path_first_count`] walks: the string value of its
    /// first node (read, so touched with what it reads) and whether it
    /// selects none.
    #[inline(always)]
    fn path_first_string(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> Option<(Cow<'a, str>, bool)> {
        match self.path_first_packed(e, cx, locals).0 {
            NOT_SIMPLE => None,
            NOT_FOUND => Some((Cow::Borrowed(""), true)),
            p => {
                let it = self.unpack(p);
                self.touch_read(it);
                Some((it.string(), false))
            }
        }
    }

    /// Whether `e` is empty: no nodes, or the empty string.
    pub(super) fn eval_is_empty(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<bool> {
        Ok(!self.eval_holds(e, cx, locals, |v| !v.is_empty())?)
    }

    /// The effective boolean value of `e`.
    pub(super) fn eval_truthy(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<bool> {
        // Conditions are mostly logic, comparisons and variables: answered
        // without building a value.
        match &e.kind {
            ExprKind::Local(slot) => {
                return Ok(locals.get(*slot as usize).is_some_and(Val::truthy));
            }
            ExprKind::Bin(BinOp::Or, a, b) => {
                return Ok(self.eval_truthy(a, cx, locals)? || self.eval_truthy(b, cx, locals)?);
            }
            ExprKind::Bin(BinOp::And, a, b) => {
                return Ok(self.eval_truthy(a, cx, locals)? && self.eval_truthy(b, cx, locals)?);
            }
            ExprKind::Bin(op @ (BinOp::Eq | BinOp::Ne), a, b) => {
                let differ = *op == BinOp::Ne;
                if let Some(v) = self.eq_literal(a, b, differ, cx, locals) {
                    return v;
                }
                // What `binary` does after its own `eq_literal`.
                let l = self.eval(a, cx, locals)?;
                let r = self.eval(b, cx, locals)?;
                return Ok(self.equal(&l, &r, differ));
            }
            ExprKind::Builtin(Builtin::Not, args) => {
                return Ok(!self.eval_truthy(&args[0], cx, locals)?)
            }
            ExprKind::Builtin(Builtin::Exists, args) => {
                return Ok(!self.eval_is_empty(&args[0], cx, locals)?)
            }
            ExprKind::Builtin(Builtin::Empty, args) => {
                return self.eval_is_empty(&args[0], cx, locals)
            }
            _ => {}
        }
        self.eval_holds(e, cx, locals, Val::truthy)
    }

    /// `test` of `e`'s value; for a simple path (where `test` must hold
    /// exactly when there are nodes), whether it selects a node, found
    /// without building its node list.
    fn eval_holds(
        &mut self,
        e: &'p Expr,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
        test: fn(&Val<'a, 'i>) -> bool,
    ) -> R<bool> {
        match self.path_first_packed(e, cx, locals).0 {
            NOT_SIMPLE => Ok(test(&self.eval(e, cx, locals)?)),
            first => Ok(first != NOT_FOUND),
        }
    }

    pub(super) fn filter(
        &mut self,
        mut items: Vec<Item<'a, 'i>>,
        preds: &'p [Expr],
        locals: &[Val<'a, 'i>],
    ) -> R<Vec<Item<'a, 'i>>> {
        for pr in preds {
            let size = items.len();
            let mut kept = self.take_items();
            for (k, &it) in items.iter().enumerate() {
                let cx = Cx {
                    item: it,
                    pos: k + 1,
                    size,
                };
                let keep = match self.pred(pr, &cx, locals)? {
                    Pred::Holds(b) => b,
                    Pred::Position(n) => n == (k + 1) as i64,
                };
                if keep {
                    kept.push(it);
                }
            }
            self.give_items(std::mem::replace(&mut items, kept));
        }
        Ok(items)
    }

    /// Does `item` match `pat`? Steps are matched right to left.
    pub(super) fn pattern_matches(&mut self, pat: &'p Pattern, item: Item<'a, 'i>) -> R<bool> {
        if pat.steps.is_empty() {
            return Ok(matches!(item, Item::Node(n) if n.is_root()));
        }
        self.match_from(pat, pat.steps.len() - 1, item)
    }

    pub(super) fn match_from(&mut self, pat: &'p Pattern, k: usize, item: Item<'a, 'i>) -> R<bool> {
        let st = &pat.steps[k];
        let ok = match (&st.test, item) {
            (Test::Attr(nt), Item::Attr(n, i)) => n
                .attributes()
                .nth(i as usize)
                // The local name first: the namespace is looked up (and
                // its alias resolved) only for a node the name admits.
                .is_some_and(|a| {
                    nt.local.as_deref().is_none_or(|l| l == a.name())
                        && nt.matches(a.name(), self.p.canon_ns(a.namespace()))
                }),
            (Test::Attr(_), _) | (_, Item::Attr(..)) => false,
            (Test::SelfNode, _) => true,
            (t, Item::Node(n)) => Self::test_node(self.p, &self.name_ids, t, n),
        };
        if !ok {
            return Ok(false);
        }
        if !st.preds.is_empty() {
            match self.holds_alone(st, item)? {
                Some(true) => {}
                Some(false) => return Ok(false),
                None => {
                    if !self.holds_among_siblings(st, item)? {
                        return Ok(false);
                    }
                }
            }
        }
        let parent = match item {
            Item::Attr(n, _) => Some(n),
            Item::Node(n) => n.parent(),
        };
        if k == 0 {
            return Ok(if pat.absolute && !pat.any_depth {
                parent.is_some_and(|p| p.is_root())
            } else {
                true
            });
        }
        let Some(mut p) = parent else {
            return Ok(false);
        };
        if st.descendant {
            loop {
                if self.match_from(pat, k - 1, Item::Node(p))? {
                    return Ok(true);
                }
                match p.parent() {
                    Some(q) => p = q,
                    None => return Ok(false),
                }
            }
        }
        self.match_from(pat, k - 1, Item::Node(p))
    }

    /// Whether `item` passes the predicates of a pattern step that reads no
    /// position (`None`: the step's or a value's position matters, see
    /// [`Self::holds_among_siblings`]). Testing a node alone keeps a pattern
    /// with a predicate linear: `secret *[…]` is tested on every node.
    fn holds_alone(&mut self, st: &'p PatStep, item: Item<'a, 'i>) -> R<Option<bool>> {
        if st.positional {
            return Ok(None);
        }
        let cx = Cx {
            item,
            pos: 1,
            size: 1,
        };
        for pr in &st.preds {
            match self.pred(pr, &cx, &[])? {
                Pred::Holds(true) => {}
                Pred::Holds(false) => return Ok(Some(false)),
                // `[2]`: a position after all.
                Pred::Position(_) => return Ok(None),
            }
        }
        Ok(Some(true))
    }

    /// What predicate `pr` says of the context item: a number is a position
    /// to compare with the item's, anything else holds or not.
    #[inline]
    fn pred(&mut self, pr: &'p Expr, cx: &Cx<'a, 'i>, locals: &[Val<'a, 'i>]) -> R<Pred> {
        // What can never be a number (a path, logic, a comparison, a
        // test) is a condition: answered without building a value.
        if matches!(
            pr.kind,
            ExprKind::Path { .. }
                | ExprKind::Bin(
                    BinOp::Or
                        | BinOp::And
                        | BinOp::Eq
                        | BinOp::Ne
                        | BinOp::Lt
                        | BinOp::Le
                        | BinOp::Gt
                        | BinOp::Ge,
                    ..
                )
                | ExprKind::Builtin(Builtin::Not | Builtin::Exists | Builtin::Empty, _)
        ) {
            return Ok(Pred::Holds(self.eval_truthy(pr, cx, locals)?));
        }
        Ok(match self.eval(pr, cx, locals)? {
            Val::Int(n) => Pred::Position(n),
            v => Pred::Holds(v.truthy()),
        })
    }

    /// Whether `item` is among its siblings (those passing the step's test)
    /// that the step's predicates keep, as a path would select them.
    fn holds_among_siblings(&mut self, st: &'p PatStep, item: Item<'a, 'i>) -> R<bool> {
        let parent = item.node().parent();
        let sibs: Vec<Item<'a, 'i>> = match (item, parent) {
            (Item::Attr(..), _) => vec![item],
            (Item::Node(_), Some(p)) => p
                .children()
                .filter(|c| Self::test_node(self.p, &self.name_ids, &st.test, *c))
                .map(Item::Node)
                .collect(),
            (Item::Node(_), None) => vec![item],
        };
        let kept = self.filter(sibs, &st.preds, &[])?;
        Ok(kept.contains(&item))
    }
}

/// Function frames of at most this many slots are kept on the stack.
const INLINE_FRAME: usize = 4;

/// Whether `v` needs no conversion to type `t`.
#[inline(always)]
fn has_type(v: &Val, t: Type) -> bool {
    matches!(
        (t, v),
        (Type::Any | Type::Nodes, _)
            | (Type::String, Val::Str(_))
            | (Type::Int, Val::Int(_))
            | (Type::Bool, Val::Bool(_))
    )
}

/// No node found yet (see [`pack`]).
const NOT_FOUND: u64 = u64::MAX;

/// Not a path [`Run::path_first_count`] walks.
const NOT_SIMPLE: u64 = u64::MAX - 1;

/// A node or an attribute as one word: the node's index, and for an
/// attribute its index + 1 in the high half ([`Run::unpack`] reverses it).
fn pack(it: Item) -> u64 {
    match it {
        Item::Node(n) => pack_node(n),
        Item::Attr(n, k) => pack_node(n) | ((k as u64 + 1) << 32),
    }
}

/// [`pack`] for a node.
fn pack_node(n: Node) -> u64 {
    n.id().get_usize() as u64
}

/// Whether a context path's steps are just `.`.
#[inline(always)]
fn is_dot(steps: &[Step]) -> bool {
    matches!(steps, [st] if matches!(st.test, Test::SelfNode) && !st.descendant && st.preds.is_empty())
}

/// The run of children named `name` in a sorted child index.
fn named_range(idx: &[(NameId, u32)], name: NameId) -> std::ops::Range<usize> {
    // Most elements have a few children: a scan beats a binary search's
    // chain of dependent loads there. The run itself is short.
    let lo = if idx.len() <= 16 {
        idx.iter()
            .position(|&(n, _)| n >= name)
            .unwrap_or(idx.len())
    } else {
        idx.partition_point(|&(n, _)| n < name)
    };
    let hi = lo + idx[lo..].iter().take_while(|&&(n, _)| n == name).count();
    lo..hi
}

/// Appends the decimal form of `i` (what `i.to_string()` writes, without
/// the formatting machinery).
pub(super) fn push_int(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    let mut k = buf.len();
    let mut n = i.unsigned_abs();
    loop {
        k -= 1;
        buf[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[k..]).unwrap_or_default());
}

/// A static table's value as a run-time value of type `ty` (a string when
/// the table's values are read as strings).
fn row_value<'p: 'a, 'a, 'i>(v: &'p Value, ty: Type) -> Val<'a, 'i> {
    match v {
        Value::Int(i) if ty != Type::String => Val::Int(*i),
        Value::Bool(b) if ty != Type::String => Val::Bool(*b),
        Value::Str(s) => Val::Str(Cow::Borrowed(s.as_str())),
        other => Val::Str(Cow::Owned(other.as_string())),
    }
}

/// What a predicate says of one item (see `Run::pred`).
enum Pred {
    Holds(bool),
    Position(i64),
}

/// `X` of a predicate `local_name() = X` (or `X = local_name()`) whose `X`
/// reads nothing of the node being tested, so one value serves every
/// candidate.
fn local_name_eq(e: &Expr) -> Option<&Expr> {
    let ExprKind::Bin(BinOp::Eq, a, b) = &e.kind else {
        return None;
    };
    let is_local_name = |x: &Expr| matches!(&x.kind, ExprKind::Builtin(Builtin::LocalName, args) if args.is_empty());
    let other = if is_local_name(a) {
        b
    } else if is_local_name(b) {
        a
    } else {
        return None;
    };
    context_free(other).then_some(other)
}

/// Whether `e`'s value is the same whatever the context node, position and
/// size: literals, variables, paths from a variable or the root, and
/// built-ins of those (function calls are not looked into).
fn context_free(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Local(_) | ExprKind::Global(_) => true,
        ExprKind::Path { start, .. } => !matches!(start, PathStart::Context),
        ExprKind::Builtin(b, xs) => !b.reads_context(xs) && xs.iter().all(context_free),
        ExprKind::Concat(xs) => xs.iter().all(context_free),
        ExprKind::Table(_, x) | ExprKind::Neg(x) => context_free(x),
        ExprKind::Bin(_, a, b) => context_free(a) && context_free(b),
        _ => false,
    }
}
