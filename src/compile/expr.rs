//! Compiling expressions, paths, patterns and statements.

use std::sync::Arc;

use super::{find, lit_type, lit_value, Compiler};
use crate::convert;
use crate::diag::suggest;
use crate::program::*;
use crate::syntax::ast::{self, BinOp, Span, Type};

impl Compiler {
    pub(crate) fn expr(&mut self, e: &ast::Expr) -> (Expr, Type) {
        let loc = self.loc(e.span);
        let mk = |kind| Expr { kind, loc };
        match &e.kind {
            ast::ExprKind::Lit(l) => (mk(ExprKind::Lit(lit_value(l))), lit_type(l)),
            ast::ExprKind::Interp(parts) => {
                let items = parts
                    .iter()
                    .map(|p| match p {
                        ast::InterpPart::Text(t) => mk(ExprKind::Lit(Value::Str(t.clone()))),
                        ast::InterpPart::Expr(x) => self.expr(x).0,
                    })
                    .collect();
                (mk(ExprKind::Concat(items)), Type::String)
            }
            ast::ExprKind::Var(id) => match self.var(id) {
                Some((k, t)) => (mk(k), t),
                None => (mk(ExprKind::Lit(Value::Str(String::new()))), Type::Any),
            },
            ast::ExprKind::Path(p) => {
                let looks_like_var = self.lint_path_variable(p, e.span);
                let start = match &p.start {
                    ast::PathStart::Context => PathStart::Context,
                    ast::PathStart::Root => PathStart::Root,
                    ast::PathStart::RootDescendants => PathStart::RootDescendants,
                    ast::PathStart::Var(id) => match self.var(id) {
                        Some((ExprKind::Local(s), _)) => PathStart::Local(s),
                        Some((ExprKind::Global(s), _)) => PathStart::Global(s),
                        _ => PathStart::Context,
                    },
                };
                let steps: Vec<Step> = p
                    .steps
                    .iter()
                    .map(|s| Step {
                        descendant: s.descendant,
                        test: self.test(&s.test),
                        preds: s.preds.iter().map(|x| self.expr(x).0).collect(),
                    })
                    .collect();
                self.lint_hub_names(&steps, e.span);
                // One warning per path: a variable's name written without
                // `$` is that, not an unknown libvirt name.
                self.lint_format_names(&steps, e.span, looks_like_var);
                (
                    mk(ExprKind::Path {
                        start,
                        steps: steps.into(),
                    }),
                    Type::Nodes,
                )
            }
            ast::ExprKind::Union(parts) => {
                let mut items = Vec::with_capacity(parts.len());
                for x in parts {
                    let (c, t) = self.expr(x);
                    if !matches!(t, Type::Nodes | Type::Any) {
                        self.error(
                            "hvx::type-mismatch",
                            x.span,
                            "`|` joins node lists",
                            format!("this is {}", t.name()),
                        );
                    }
                    items.push(c);
                }
                (mk(ExprKind::Union(items.into())), Type::Nodes)
            }
            ast::ExprKind::Neg(x) => {
                let (cx, t) = self.expr(x);
                self.check_numeric(t, &cx, x.span);
                (mk(ExprKind::Neg(Box::new(cx))), Type::Int)
            }
            ast::ExprKind::Bin(op, a, b) => {
                let (ca, ta) = self.expr(a);
                let (cb, tb) = self.expr(b);
                let t = match op {
                    BinOp::Or | BinOp::And | BinOp::Eq | BinOp::Ne => Type::Bool,
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        for (t, sp) in [(ta, a.span), (tb, b.span)] {
                            if t == Type::Bool {
                                self.error(
                                    "hvx::type-mismatch",
                                    sp,
                                    "booleans cannot be ordered",
                                    "this is a bool",
                                );
                            }
                        }
                        Type::Bool
                    }
                    _ => {
                        self.check_numeric(ta, &ca, a.span);
                        self.check_numeric(tb, &cb, b.span);
                        Type::Int
                    }
                };
                (mk(ExprKind::Bin(*op, Box::new(ca), Box::new(cb))), t)
            }
            ast::ExprKind::Call { name, method, args } => self.call(e, name, method.as_ref(), args),
        }
    }

    /// `table.first_where(f, args…)` on a static table: `f` is a function
    /// of (key, value, args…) returning bool; `table.first_where_from(start,
    /// f, args…)` walks the rows from the one whose key is `start`.
    fn table_method(
        &mut self,
        e: &ast::Expr,
        t: usize,
        name: &ast::Ident,
        m: &ast::Ident,
        args: &[ast::Expr],
    ) -> (Expr, Type) {
        let loc = self.loc(e.span);
        let mk = |kind| Expr { kind, loc };
        let dummy = (mk(ExprKind::Lit(Value::Str(String::new()))), Type::Any);
        self.tables[t].used = true;
        let from = m.name == "first_where_from";
        if m.name != "first_where" && !from {
            let d = self.error(
                "hvx::undefined-function",
                m.span,
                format!(
                    "static tables have `.first_where(function, args…)` and `.first_where_from(key, function, args…)`, not `.{}`",
                    m.name
                ),
                "unknown table method",
            );
            d.help = suggest(&m.name, ["first_where", "first_where_from"]);
            return dummy;
        }
        // `first_where_from`: the key to start at, then as `first_where`.
        let (start, args) = match (from, args.split_first()) {
            (true, Some((s, rest))) => {
                let (c, got) = self.expr(s);
                let kt = self.table_tys[t].0;
                self.check_assign(kt, got, &c, s.span);
                (Some(c), rest)
            }
            (true, None) => {
                self.error(
                    "hvx::arity",
                    e.span,
                    format!(
                        "`{}.first_where_from` takes the key to start at, then a function's name: `{}.first_where_from(key, fits, args…)`",
                        name.name, name.name
                    ),
                    "no key to start at",
                );
                return dummy;
            }
            _ => (None, args),
        };
        // The first argument names a function: a bare name, parsed as a path.
        let fname = args.first().and_then(|a| match &a.kind {
            ast::ExprKind::Path(p)
                if matches!(p.start, ast::PathStart::Context) && p.steps.len() == 1 =>
            {
                match &p.steps[0] {
                    ast::PathStep {
                        descendant: false,
                        test: ast::NodeTest::Elem(Some(q)),
                        preds,
                    } if q.prefix.is_none() && preds.is_empty() => Some((q.local.clone(), a.span)),
                    _ => None,
                }
            }
            _ => None,
        });
        let Some((fname, fspan)) = fname else {
            self.error(
                "hvx::arity",
                e.span,
                format!(
                    "`{t}.{m}` takes a function's name {first}: `{t}.{m}({key}fits, args…)`",
                    t = name.name,
                    m = m.name,
                    first = if from { "after the key" } else { "first" },
                    key = if from { "key, " } else { "" },
                ),
                "no function named",
            );
            return dummy;
        };
        let Some(f) = find(&self.fns, &fname) else {
            let help = suggest(&fname, self.fns.iter().map(|s| s.name.as_str()));
            let d = self.error(
                "hvx::undefined-function",
                fspan,
                format!("no function named `{fname}`"),
                "not defined",
            );
            d.help = help;
            return dummy;
        };
        self.fns[f].used = true;
        let (params, ret) = self.fn_sigs[f].clone();
        let (kt, vt) = self.table_tys[t];
        let extra = &args[1..];
        if params.len() != 2 + extra.len() {
            self.error(
                "hvx::arity",
                e.span,
                format!(
                    "`{fname}` takes {} argument(s): the key, the value and {} more given here",
                    params.len(),
                    extra.len()
                ),
                "wrong number of arguments",
            );
            return dummy;
        }
        let fits = |want: Type, got: Type| {
            matches!(want, Type::Any) || want == got || (want == Type::String)
        };
        if !fits(params[0], kt) || !fits(params[1], vt) || !matches!(ret, Type::Bool | Type::Any) {
            self.error(
                "hvx::type-mismatch",
                fspan,
                format!(
                    "`{fname}` must take the table's key ({}) and value ({}) first and return bool",
                    kt.name(),
                    vt.name()
                ),
                "wrong signature",
            );
            return dummy;
        }
        let mut compiled = Vec::with_capacity(extra.len() + 1);
        compiled.extend(start);
        for (a, want) in extra.iter().zip(&params[2..]) {
            let (c, got) = self.expr(a);
            self.check_assign(*want, got, &c, a.span);
            compiled.push(c);
        }
        (
            mk(if from {
                ExprKind::TableFirstFrom(t as u32, f as u32, compiled.into())
            } else {
                ExprKind::TableFirst(t as u32, f as u32, compiled.into())
            }),
            self.table_tys[t].0,
        )
    }

    fn call(
        &mut self,
        e: &ast::Expr,
        name: &ast::Ident,
        method: Option<&ast::Ident>,
        args: &[ast::Expr],
    ) -> (Expr, Type) {
        let loc = self.loc(e.span);
        let mk = |kind| Expr { kind, loc };
        let dummy = (mk(ExprKind::Lit(Value::Str(String::new()))), Type::Any);
        if let Some(m) = method {
            if find(&self.sessions, &name.name).is_none() {
                if let Some(t) = find(&self.tables, &name.name) {
                    return self.table_method(e, t, name, m, args);
                }
            }
            // session lookups: table.right(x) / table.left(x)
            let Some(i) = find(&self.sessions, &name.name) else {
                let help = suggest(&name.name, self.sessions.iter().map(|s| s.name.as_str()));
                let d = self.error(
                    "hvx::undefined-session",
                    name.span,
                    format!("no session table named `{}`", name.name),
                    "not declared",
                );
                d.help = help.or(Some(format!(
                    "declare it: `session {}: string <-> string miss fail;`",
                    name.name
                )));
                return dummy;
            };
            self.sessions[i].used = true;
            let (reverse, probe) = match m.name.as_str() {
                "right" => (false, false),
                "left" => (true, false),
                "find_right" => (false, true),
                "find_left" => (true, true),
                other => {
                    let help = suggest(other, ["right", "left", "find_right", "find_left"]);
                    let d = self.error(
                        "hvx::undefined-function",
                        m.span,
                        format!("session tables have `.right(x)`, `.left(x)`, `.find_right(x)` and `.find_left(x)`, not `.{other}`"),
                        "unknown lookup",
                    );
                    d.help = help;
                    return dummy;
                }
            };
            if args.len() != 1 {
                self.error(
                    "hvx::arity",
                    e.span,
                    format!(
                        "`{}.{}` takes 1 argument, found {}",
                        name.name,
                        m.name,
                        args.len()
                    ),
                    "wrong number of arguments",
                );
                return dummy;
            }
            let (a, _) = self.expr(&args[0]);
            return (
                mk(ExprKind::Session {
                    id: i as u32,
                    reverse,
                    probe,
                    arg: Box::new(a),
                }),
                Type::String,
            );
        }
        let compiled: Vec<(Expr, Type)> = args.iter().map(|a| self.expr(a)).collect();
        if let Some(i) = find(&self.fns, &name.name) {
            self.fns[i].used = true;
            let (params, ret) = self.fn_sigs[i].clone();
            if params.len() != args.len() {
                self.error(
                    "hvx::arity",
                    e.span,
                    format!(
                        "`{}` takes {} argument(s), found {}",
                        name.name,
                        params.len(),
                        args.len()
                    ),
                    "wrong number of arguments",
                );
                return dummy;
            }
            for ((c, t), (want, a)) in compiled.iter().zip(params.iter().zip(args)) {
                self.check_assign(*want, *t, c, a.span);
            }
            return (
                mk(ExprKind::Fn(
                    i as u32,
                    compiled.into_iter().map(|c| c.0).collect(),
                )),
                ret,
            );
        }
        if let Some(i) = find(&self.tables, &name.name) {
            self.tables[i].used = true;
            let (kt, vt) = self.table_tys[i];
            if args.len() != 1 {
                self.error(
                    "hvx::arity",
                    e.span,
                    format!("table `{}` takes 1 key, found {}", name.name, args.len()),
                    "wrong number of arguments",
                );
                return dummy;
            }
            let (c, t) = compiled.into_iter().next().unwrap();
            self.check_assign(kt, t, &c, args[0].span);
            return (mk(ExprKind::Table(i as u32, Box::new(c))), vt);
        }
        let Some((b, info)) = builtin_by_name(&name.name) else {
            let cands: Vec<&str> = BUILTINS
                .iter()
                .map(|(_, i)| i.name)
                .chain(self.fns.iter().map(|s| s.name.as_str()))
                .chain(self.tables.iter().map(|s| s.name.as_str()))
                .collect();
            let help = suggest(&name.name, cands);
            let d = self.error(
                "hvx::undefined-function",
                name.span,
                format!("no function or table named `{}`", name.name),
                "not defined",
            );
            d.help = help;
            return dummy;
        };
        if args.len() < info.min || args.len() > info.max {
            let want = if info.min == info.max {
                format!("{}", info.min)
            } else if info.max == usize::MAX {
                format!("at least {}", info.min)
            } else {
                format!("{} to {}", info.min, info.max)
            };
            self.error(
                "hvx::arity",
                e.span,
                format!(
                    "`{}` takes {want} argument(s), found {}",
                    info.name,
                    args.len()
                ),
                "wrong number of arguments",
            )
            .help = Some(format!("{}: {}", info.name, info.doc));
            return dummy;
        }
        for (i, ((c, got), a)) in compiled.iter().zip(args).enumerate() {
            let before = self.diags.items.len();
            self.check_assign(b.param(i), *got, c, a.span);
            if let Some(d) = self.diags.items.get_mut(before) {
                d.help = Some(format!(
                    "argument {} of `{}`: {}",
                    i + 1,
                    info.name,
                    info.doc
                ));
            }
        }
        self.check_const_conversion(b, &compiled, args);
        let ret = match b {
            Builtin::Default | Builtin::Require => {
                compiled.first().map(|c| c.1).unwrap_or(Type::Any)
            }
            Builtin::Choose => compiled.get(1).map(|c| c.1).unwrap_or(Type::Any),
            _ => info.ret,
        };
        (
            mk(ExprKind::Builtin(
                b,
                compiled.into_iter().map(|c| c.0).collect(),
            )),
            ret,
        )
    }

    /// Conversions applied to literals are checked now rather than at run time.
    fn check_const_conversion(
        &mut self,
        b: Builtin,
        args: &[(Expr, Type)],
        ast_args: &[ast::Expr],
    ) {
        let lit = |k: usize| match args.get(k) {
            Some((
                Expr {
                    kind: ExprKind::Lit(Value::Str(s)),
                    ..
                },
                _,
            )) => Some(s.clone()),
            _ => None,
        };
        // A constant unit is checked whether or not the value is constant.
        if matches!(b, Builtin::Size | Builtin::InUnit | Builtin::InUnitCeil) {
            if let Some(u) = lit(1) {
                if let Err(msg) = convert::unit_factor(&u) {
                    self.error(
                        "hvx::invalid-constant",
                        ast_args[1].span,
                        msg,
                        "unknown unit",
                    );
                }
            }
        }
        let Some(s) = lit(0) else {
            return;
        };
        let r: Result<(), String> = match b {
            Builtin::Int => convert::int(&s).map(drop),
            Builtin::Uint => convert::uint(&s).map(drop),
            Builtin::Bool => convert::bool(&s).map(drop),
            Builtin::Mac => convert::mac(&s).map(drop),
            Builtin::Uuid | Builtin::UuidVmware | Builtin::UuidHyperv => {
                convert::uuid(&s).map(drop)
            }
            Builtin::Hex => convert::hex(&s).map(drop),
            _ => Ok(()),
        };
        if let Err(msg) = r {
            self.error(
                "hvx::invalid-constant",
                ast_args[0].span,
                msg,
                "this constant can never convert",
            );
        }
    }

    fn check_numeric(&mut self, t: Type, c: &Expr, sp: Span) {
        let bad = match (&c.kind, t) {
            (_, Type::Bool) => Some("a bool".to_string()),
            (ExprKind::Lit(Value::Str(s)), _) if convert::int(s).is_err() => {
                Some(format!("the string \"{}\"", convert::short(s)))
            }
            _ => None,
        };
        if let Some(what) = bad {
            self.error(
                "hvx::type-mismatch",
                sp,
                "arithmetic needs integers",
                format!("this is {what}"),
            );
        }
    }

    /// A path into hub documents (names in `urn:hvxform:hvx:1`) may only
    /// name the hub's elements and attributes (`schema/hvx.rng`): `nmae`
    /// or `mac/@adress` can never match, and would read nothing silently.
    /// The check stops where native content begins (`extension`, `entry`,
    /// `*`).
    fn lint_hub_names(&mut self, steps: &[Step], span: Span) {
        if self.skip_name_lints {
            return;
        }
        let (elements, attributes) = crate::compile::hub_vocabulary();
        // After an element of the VM format, attributes are checked too.
        let mut in_hub = false;
        for s in steps {
            let (name, kind, known) = match &s.test {
                Test::Elem(t) if t.any_ns || t.local.is_none() => return,
                Test::Elem(t) if t.ns.as_deref() == Some(crate::platform::HVX_NS) => {
                    let l = t.local.as_deref().unwrap_or_default();
                    if matches!(l, "extension" | "extensions" | "entry") {
                        return;
                    }
                    // The hub's command documents and carried markers share
                    // the namespace (book: Commands); their attributes are
                    // not checked.
                    if !elements.contains(l) && crate::compile::HUB_OTHER_ELEMENTS.contains(&l) {
                        in_hub = false;
                        continue;
                    }
                    in_hub = true;
                    (l, "element", elements)
                }
                Test::Elem(_) => return,
                Test::Attr(t) if in_hub && t.ns.is_none() => {
                    (t.local.as_deref().unwrap_or("*"), "attribute", attributes)
                }
                _ => continue,
            };
            if name == "*" || known.contains(name) {
                continue;
            }
            let help = crate::diag::suggest(
                name,
                known.iter().chain(
                    crate::compile::HUB_OTHER_ELEMENTS
                        .iter()
                        .copied()
                        .filter(|_| kind == "element"),
                ),
            );
            self.warn(
                "hvx::unknown-name",
                span,
                format!("no {kind} of the hub format is named `{name}` (schema/hvx.rng): this path selects nothing"),
                "never matches a hub document",
            )
            .help = help;
            return;
        }
    }

    /// A path step naming an element (or, after one of its elements, an
    /// attribute) that the format it reads does not have: vSphere's and
    /// EC2's by namespace, libvirt's (no namespace) in a mapping `from kvm`
    /// (`nmae`, `mac/@adress`). Other names, and names in no namespace when
    /// `plain_is_variable` (the path-looks-like-variable warning says it),
    /// are not checked; checking goes on after them
    /// (`hvx:context/domain/nmae`).
    fn lint_format_names(&mut self, steps: &[Step], span: Span, plain_is_variable: bool) {
        if self.skip_name_lints {
            return;
        }
        let mut current: Option<Vocabulary> = None;
        for s in steps {
            let (name, kind, v) = match &s.test {
                Test::Elem(t) if t.any_ns || t.local.is_none() => return,
                Test::Elem(t) => {
                    current = match t.ns.as_deref() {
                        Some(ns) => namespace_vocabulary(ns),
                        None if self.from == "kvm" && !plain_is_variable => Some(libvirt()),
                        None => None,
                    };
                    let Some(v) = &current else { continue };
                    (
                        t.local.as_deref().unwrap_or_default(),
                        "element",
                        v.elements,
                    )
                }
                Test::Attr(t) if t.ns.is_none() => match &current {
                    Some(v) => (t.local.as_deref().unwrap_or("*"), "attribute", v.attributes),
                    None => continue,
                },
                _ => continue,
            };
            if name == "*" || v.contains(name) {
                continue;
            }
            let Some(f) = &current else { return };
            let help = crate::diag::suggest(name, v.iter());
            self.warn(
                "hvx::unknown-name",
                span,
                format!(
                    "no {kind} of {} is named `{name}`{}: this path selects nothing{}",
                    f.what, f.source, f.tail
                ),
                f.label,
            )
            .help = help;
            return;
        }
    }

    /// The vocabulary output names are checked against, for a mapping `to
    /// hvx` or `to kvm` (vSphere's and EC2's go by namespace).
    fn target_vocabulary(&self) -> Option<Vocabulary> {
        match self.to.as_str() {
            "hvx" => {
                let (elements, attributes) = crate::compile::hub_vocabulary();
                Some(Vocabulary {
                    elements,
                    attributes,
                    ns: Some(crate::platform::HVX_NS),
                    native: &["extension", "extensions", "entry"],
                    what: "the hub format (schema/hvx.rng)",
                    source: "",
                    tail: "",
                    label: "never matches a hub document",
                })
            }
            "kvm" => Some(libvirt()),
            _ => None,
        }
    }

    /// An output element of a mapping `to hvx` or `to kvm` whose name the
    /// target format does not have: a document the target's readers refuse
    /// or ignore. Returns whether the element's attributes and content are
    /// the target format's to check.
    fn lint_output_element(&mut self, o: &OutName, span: Span) -> bool {
        if self.skip_name_lints {
            return false;
        }
        if self.out_stack.last() == Some(&false) {
            return false;
        }
        let by_ns = o.ns.as_deref().and_then(namespace_vocabulary);
        let Some(Vocabulary {
            elements,
            ns,
            native,
            what,
            ..
        }) = by_ns.or_else(|| self.target_vocabulary())
        else {
            return false;
        };
        if o.ns.as_deref() != ns {
            return false;
        }
        let local = o.qname.rsplit(':').next().unwrap_or(&o.qname);
        if native.contains(&local) {
            return false;
        }
        let other = self.to == "hvx" && crate::compile::HUB_OTHER_ELEMENTS.contains(&local);
        if elements.contains(local) || other {
            return !other;
        }
        let help = crate::diag::suggest(local, elements.iter());
        self.warn(
            "hvx::unknown-name",
            span,
            format!(
                "no element of {what} is named `{local}`: the output is not a {} document",
                self.to
            ),
            "not in the target's format",
        )
        .help = help;
        false
    }

    /// An attribute (no namespace) of a checked output element whose name
    /// the target format does not have.
    fn lint_output_attribute(&mut self, o: &OutName, span: Span) {
        if self.skip_name_lints {
            return;
        }
        let Some(Vocabulary {
            attributes, what, ..
        }) = self.target_vocabulary()
        else {
            return;
        };
        if o.ns.is_some() || attributes.contains(o.qname.as_str()) {
            return;
        }
        let help = crate::diag::suggest(&o.qname, attributes.iter());
        self.warn(
            "hvx::unknown-name",
            span,
            format!(
                "no attribute of {what} is named `{}`: the output is not a {} document",
                o.qname, self.to
            ),
            "not in the target's format",
        )
        .help = help;
    }

    /// An attribute that is always written, with a value that is a path:
    /// when the path selects nothing the output gets `a=""`, which no
    /// format means. Pedantic: where the input's schema requires what the
    /// path reads (libvirt's `<graphics type>`), the warning is noise.
    fn lint_maybe_empty(&mut self, name: &str, v: &Expr, span: Span) {
        if !self.pedantic || !matches!(v.kind, ExprKind::Path { .. }) {
            return;
        }
        self.warn(
            "hvx::maybe-empty",
            span,
            format!("attribute `{name}` is written as `{name}=\"\"` when this path selects nothing"),
            "may select nothing",
        )
        .help = Some(format!(
            "write `@{name}? = …;` in the element's body to leave it out then, or give a default: `default(…, \"…\")`"
        ));
    }

    /// Checks that a value of type `got` can be used where `want` is declared.
    pub(crate) fn check_assign(&mut self, want: Type, got: Type, c: &Expr, sp: Span) {
        let bad = match (want, got, &c.kind) {
            (Type::Any, _, _) | (_, Type::Any, _) => false,
            (Type::Int | Type::Uint, Type::Bool, _) => true,
            (Type::Int | Type::Uint, Type::String, ExprKind::Lit(Value::Str(s))) => {
                convert::int(s).is_err()
            }
            (Type::Uint, Type::Int, ExprKind::Lit(Value::Int(i))) => *i < 0,
            (Type::Bool, Type::Int, _) => true,
            (Type::Bool, Type::String, ExprKind::Lit(Value::Str(s))) => convert::bool(s).is_err(),
            (Type::Nodes, t, _) => t != Type::Nodes,
            _ => false,
        };
        if bad {
            self.error(
                "hvx::type-mismatch",
                sp,
                format!("expected {}, found {}", want.name(), got.name()),
                format!("this is {}", got.name()),
            );
        }
    }

    /// `fn f(n: int) -> int = n * 2;` reads the child element `n`, not the
    /// parameter: warn when a relative path starts with a variable's name.
    /// Returns whether it warned.
    fn lint_path_variable(&mut self, p: &ast::PathExpr, span: Span) -> bool {
        if !matches!(p.start, ast::PathStart::Context) {
            return false;
        }
        let Some(ast::PathStep {
            test: ast::NodeTest::Elem(Some(q)),
            ..
        }) = p.steps.first()
        else {
            return false;
        };
        if q.prefix.is_some() {
            return false;
        }
        let is_var = self.scope.vars.iter().any(|v| v.name == q.local)
            || self.globals.iter().any(|g| g.name == q.local);
        if is_var {
            self.warn(
                "hvx::path-looks-like-variable",
                span,
                format!(
                    "`{}` is a path to child elements named `{}`, not the variable",
                    q.local, q.local
                ),
                "a path, not a variable",
            )
            .help = Some(format!("write `${}` for the variable", q.local));
        }
        is_var
    }

    pub(crate) fn var(&mut self, id: &ast::Ident) -> Option<(ExprKind, Type)> {
        if let Some(v) = self.scope.vars.iter_mut().rev().find(|v| v.name == id.name) {
            v.used = true;
            return Some((ExprKind::Local(v.slot), v.ty));
        }
        if let Some(i) = find(&self.globals, &id.name) {
            self.globals[i].used = true;
            let t = self.param_tys.get(i).copied().unwrap_or(Type::Any);
            return Some((ExprKind::Global(i as u32), t));
        }
        let names: Vec<&str> = self
            .scope
            .vars
            .iter()
            .map(|v| v.name.as_str())
            .chain(self.globals.iter().map(|g| g.name.as_str()))
            .collect();
        let help = suggest(&id.name, names);
        let d = self.error(
            "hvx::undefined-variable",
            id.span,
            format!("no variable or parameter named `${}`", id.name),
            "not defined here",
        );
        d.help = help;
        None
    }

    fn test(&mut self, t: &ast::NodeTest) -> Test {
        match t {
            ast::NodeTest::Elem(q) => Test::Elem(self.qname_test(q.as_ref(), false)),
            ast::NodeTest::Attr(q) => Test::Attr(self.qname_test(q.as_ref(), true)),
            ast::NodeTest::Text => Test::Text,
            ast::NodeTest::SelfNode => Test::SelfNode,
            ast::NodeTest::Parent => Test::Parent,
            ast::NodeTest::Filter => Test::Filter,
        }
    }

    fn qname_test(&mut self, q: Option<&ast::QName>, attr: bool) -> NameTest {
        match q {
            None => NameTest {
                local: None,
                ns: None,
                any_ns: true,
                id: NO_NAME,
            },
            Some(q) => {
                let full = match &q.prefix {
                    Some(p) => format!("{p}:{}", q.local),
                    None => q.local.clone(),
                };
                self.name_test(q, &full, attr).unwrap_or(NameTest {
                    local: Some(q.local.clone()),
                    ns: None,
                    any_ns: false,
                    id: NO_NAME,
                })
            }
        }
    }

    /// Resolves `prefix:local` (or `local`) written in a path or pattern.
    pub(crate) fn name_test(&mut self, q: &ast::QName, full: &str, attr: bool) -> Option<NameTest> {
        let (prefix, local) = match full.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, full),
        };
        let ns = match prefix {
            Some(p) => Some(self.resolve_prefix(p, q.span)?),
            None if attr => None,
            None => self.input_ns.clone(),
        };
        let id = if local == "*" || attr {
            NO_NAME
        } else {
            self.names.intern(ns.as_deref(), local)
        };
        Some(NameTest {
            local: if local == "*" {
                None
            } else {
                Some(local.to_string())
            },
            ns,
            any_ns: false,
            id,
        })
    }

    pub(crate) fn pattern(&mut self, p: &ast::Pattern) -> Pattern {
        let steps = p
            .steps
            .iter()
            .map(|s| PatStep {
                test: self.test(&s.test),
                preds: s.preds.iter().map(|x| self.expr(x).0).collect(),
                descendant: s.descendant,
                // Until `mark_positional` knows better.
                positional: true,
            })
            .collect();
        Pattern {
            absolute: p.absolute,
            any_depth: p.any_depth,
            steps,
            text: p.text.clone(),
            loc: self.loc(p.span),
        }
    }

    pub(crate) fn block(&mut self, b: &[ast::Stmt]) -> Vec<Stmt> {
        let mark = self.scope.vars.len();
        let mut out = Vec::with_capacity(b.len());
        for s in b {
            if let Some(st) = self.stmt(s) {
                out.push(st);
            }
        }
        self.pop_vars(mark);
        out
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Option<Stmt> {
        Some(match s {
            ast::Stmt::Elem {
                name,
                attrs,
                body,
                span,
            } => {
                let out = self.out_name(name, false);
                let checked = match &out {
                    Some(o) => self.lint_output_element(o, name.span),
                    None => false,
                };
                let mut cattrs = Vec::new();
                let mut seen: Vec<&str> = Vec::new();
                for (an, av) in attrs {
                    if seen.contains(&an.name.as_str()) {
                        self.error(
                            "hvx::duplicate-attribute",
                            an.span,
                            format!("attribute `{}` is given twice", an.name),
                            "again here",
                        );
                    }
                    seen.push(&an.name);
                    let on = self.out_name(an, true);
                    if let (Some(o), true) = (&on, checked) {
                        self.lint_output_attribute(o, an.span);
                    }
                    let (v, _) = self.expr(av);
                    self.lint_maybe_empty(&an.name, &v, av.span);
                    if let Some(on) = on {
                        cattrs.push((on, v));
                    }
                }
                let body = match body {
                    ast::ElemBody::Empty => ElemBody::Empty,
                    ast::ElemBody::Value { expr, optional } => ElemBody::Value {
                        expr: self.expr(expr).0,
                        optional: *optional,
                    },
                    ast::ElemBody::Block(b) => {
                        self.out_stack.push(checked);
                        let b = self.block(b);
                        self.out_stack.pop();
                        ElemBody::Block(b)
                    }
                };
                Stmt::Elem {
                    name: out?,
                    attrs: cattrs,
                    body,
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Attr {
                name,
                optional,
                value,
                span,
            } => {
                let on = self.out_name(name, true);
                if let (Some(o), Some(true)) = (&on, self.out_stack.last()) {
                    self.lint_output_attribute(o, name.span);
                }
                let (v, _) = self.expr(value);
                if !*optional {
                    self.lint_maybe_empty(&name.name, &v, value.span);
                }
                Stmt::Attr {
                    name: on?,
                    optional: *optional,
                    value: v,
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Let {
                var,
                ty,
                value,
                span,
            } => {
                let (v, t) = self.expr(value);
                if let Some(want) = ty {
                    self.check_assign(*want, t, &v, value.span);
                }
                let slot = self.bind(var, ty.unwrap_or(t));
                Stmt::Let {
                    slot,
                    ty: *ty,
                    value: v,
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::If {
                arms, otherwise, ..
            } => Stmt::If {
                arms: arms
                    .iter()
                    .map(|(c, b)| (self.expr(c).0, self.block(b)))
                    .collect(),
                otherwise: otherwise
                    .as_ref()
                    .map(|b| self.block(b))
                    .unwrap_or_default(),
            },
            ast::Stmt::For {
                var,
                seq,
                sort,
                body,
                span,
            } => {
                let (sq, _) = self.expr(seq);
                let mark = self.scope.vars.len();
                let slot = self.bind(var, Type::Nodes);
                let sort = sort.iter().map(|(k, d)| (self.expr(k).0, *d)).collect();
                let body = self.block(body);
                self.pop_vars(mark);
                Stmt::For {
                    slot,
                    seq: sq,
                    sort,
                    body,
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Match {
                value,
                arms,
                default,
                span,
            } => {
                let (v, _) = self.expr(value);
                let mut seen: Vec<(Value, Span)> = Vec::new();
                let mut carms = Vec::new();
                for (lits, body) in arms {
                    let mut vals = Vec::new();
                    for (l, sp) in lits {
                        let val = lit_value(l);
                        if let Some((_, first)) =
                            seen.iter().find(|(x, _)| x.as_string() == val.as_string())
                        {
                            let lbl = self.label(self.loc(*first), "first arm with this value");
                            self.warn(
                                "hvx::unreachable-arm",
                                *sp,
                                format!("`{}` is matched by an earlier arm", val.as_string()),
                                "never reached",
                            )
                            .secondary
                            .push(lbl);
                        }
                        seen.push((val.clone(), *sp));
                        vals.push(val);
                    }
                    carms.push((vals, self.block(body)));
                }
                Stmt::Match {
                    value: v,
                    arms: carms,
                    default: default.as_ref().map(|b| self.block(b)),
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Apply { select, mode, span } => {
                let m = match mode {
                    None => DEFAULT_MODE,
                    Some(id) => match find(&self.modes, &id.name) {
                        Some(i) => {
                            self.modes[i].used = true;
                            i as u32
                        }
                        None => {
                            let help =
                                suggest(&id.name, self.modes.iter().map(|m| m.name.as_str()));
                            let d = self.error(
                                "hvx::undefined-mode",
                                id.span,
                                format!("no rule uses mode `{}`", id.name),
                                "unknown mode",
                            );
                            d.help = help.or(Some(
                                "modes are created by `on PATTERN mode NAME { ... }`".into(),
                            ));
                            DEFAULT_MODE
                        }
                    },
                };
                Stmt::Apply {
                    select: select.as_ref().map(|e| self.expr(e).0),
                    mode: m,
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Copy { select, span } => Stmt::Copy {
                select: self.expr(select).0,
                loc: self.loc(*span),
            },
            ast::Stmt::Drop {
                select,
                reason,
                span,
            } => {
                self.check_drop_reason(reason, *span, false);
                Stmt::Drop {
                    select: self.expr(select).0,
                    reason: Arc::from(reason.as_str()),
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Call { name, args, span } => {
                let Some(i) = find(&self.templates, &name.name) else {
                    let help = suggest(&name.name, self.templates.iter().map(|t| t.name.as_str()));
                    let d = self.error(
                        "hvx::undefined-template",
                        name.span,
                        format!("no template named `{}`", name.name),
                        "not defined",
                    );
                    d.help = help;
                    return None;
                };
                self.templates[i].used = true;
                let params = self.tpl_sigs[i].clone();
                let cargs: Vec<(Expr, Type)> = args.iter().map(|a| self.expr(a)).collect();
                if params.len() != args.len() {
                    self.error(
                        "hvx::arity",
                        *span,
                        format!(
                            "template `{}` takes {} argument(s), found {}",
                            name.name,
                            params.len(),
                            args.len()
                        ),
                        "wrong number of arguments",
                    );
                    return None;
                }
                for ((c, t), (want, a)) in cargs.iter().zip(params.iter().zip(args)) {
                    self.check_assign(*want, *t, c, a.span);
                }
                Stmt::Call {
                    template: i as u32,
                    args: cargs.into_iter().map(|c| c.0).collect(),
                    loc: self.loc(*span),
                }
            }
            ast::Stmt::Error { message, span } => Stmt::Error {
                message: self.expr(message).0,
                loc: self.loc(*span),
            },
            ast::Stmt::Warn {
                message,
                action,
                span,
            } => Stmt::Warn {
                message: self.expr(message).0,
                action: *action,
                loc: self.loc(*span),
            },
            ast::Stmt::Text { value, span } => Stmt::Text {
                value: self.expr(value).0,
                loc: self.loc(*span),
            },
        })
    }
}

/// The names of a target format, for checking a mapping's output.
struct Vocabulary {
    elements: crate::compile::Names,
    attributes: crate::compile::Names,
    /// The namespace the format's elements are in.
    ns: Option<&'static str>,
    /// Elements whose content is not the format's (carried native data).
    native: &'static [&'static str],
    /// The format, for messages.
    what: &'static str,
    /// Where its names come from, and what a path that misses selects
    /// nothing in, for messages about paths (` (its RelaxNG schemas)`,
    /// ` in a kvm document`); and the label.
    source: &'static str,
    tail: &'static str,
    label: &'static str,
}

/// libvirt's domain XML, in no namespace.
fn libvirt() -> Vocabulary {
    let (elements, attributes) = crate::compile::libvirt_vocabulary();
    Vocabulary {
        elements,
        attributes,
        ns: None,
        native: &["metadata"],
        what: "libvirt's domain XML",
        source: " (its RelaxNG schemas)",
        tail: " in a kvm document",
        label: "never matches a libvirt domain",
    }
}

/// The vocabulary of a namespace whose names hvxform knows in full:
/// vSphere's vim25 (pyVmomi's types) and EC2's responses (botocore's model).
fn namespace_vocabulary(ns: &str) -> Option<Vocabulary> {
    let (sets, ns, what): (_, &'static str, _) = match ns {
        crate::platform::VIM25_NS => (
            crate::compile::vsphere_vocabulary(),
            crate::platform::VIM25_NS,
            "vSphere's vim25 XML (pyVmomi's types)",
        ),
        crate::platform::ec2::NS => (
            crate::compile::ec2_vocabulary(),
            crate::platform::ec2::NS,
            "EC2's responses (botocore's model)",
        ),
        crate::platform::ec2::NS_BARE => (
            crate::compile::ec2_vocabulary(),
            crate::platform::ec2::NS_BARE,
            "EC2's responses (botocore's model)",
        ),
        _ => return None,
    };
    Some(Vocabulary {
        elements: sets.0,
        attributes: sets.1,
        ns: Some(ns),
        native: &[],
        what,
        source: "",
        tail: "",
        label: "never matches",
    })
}
