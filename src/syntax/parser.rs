//! pest pairs → [`ast`](super::ast) nodes, and pest errors → diagnostics.

use std::sync::Arc;

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use super::error::syntax_error;
use super::expr::{expr, lit, plain_string, raw_string, string_expr, var_ident};
use crate::diag::{Diagnostic, Source};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/hvx.pest"]
pub(super) struct HvxParser;

type P<'i> = Pair<'i, Rule>;

/// Deepest nesting of `(`, `[` and `{` a mapping may use. The parser and the
/// compiler recurse over nested constructs; a file nested deeper is refused
/// with a diagnostic rather than overflowing the stack.
pub const MAX_NESTING: usize = 100;

fn check_nesting(source: &Arc<Source>) -> Result<(), Box<Diagnostic>> {
    let (mut depth, mut in_str, mut in_comment, mut escaped) = (0usize, false, false, false);
    for (i, c) in source.text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                // Interpolations nest too.
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        } else {
            match c {
                '#' => in_comment = true,
                '"' => in_str = true,
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if depth > MAX_NESTING {
            return Err(Box::new(Diagnostic::error(
                "hvx::syntax",
                format!("syntax error: nested deeper than {MAX_NESTING} levels"),
                crate::diag::Label {
                    source: source.clone(),
                    span: Span::new(i..i + 1),
                    text: "too deep".into(),
                },
            )));
        }
    }
    Ok(())
}

/// Most binary operators one expression may have, the expressions nested
/// in it included. Operators chain left to right (`1 + 1 + …` is a tree as
/// deep as the chain is long), and the compiler and the evaluator recurse
/// over that depth: a hostile chain of thousands is refused like a file
/// nested too deep, rather than overflowing the stack.
pub const MAX_OPERATORS: usize = 1000;

/// Refuses an expression of more than [`MAX_OPERATORS`], and an integer
/// literal out of the 64-bit range (not saturated: a wrong number written
/// without a word).
fn check_operators(source: &Arc<Source>, file: &P) -> Result<(), Box<Diagnostic>> {
    let is_op = |q: &P| {
        matches!(
            q.as_rule(),
            Rule::kw_or | Rule::kw_and | Rule::cmp_op | Rule::add_op | Rule::mul_op
        )
    };
    // Only outermost expressions: an inner one has fewer operators.
    let mut end = 0;
    for p in file.clone().into_inner().flatten() {
        if p.as_rule() == Rule::number {
            let t = p.as_str();
            let ok = match t.strip_prefix("0x") {
                Some(h) => i64::from_str_radix(h, 16).is_ok(),
                None => t.parse::<i64>().is_ok(),
            };
            if !ok {
                return Err(Box::new(Diagnostic::error(
                    "hvx::syntax",
                    format!(
                        "syntax error: the integer {t} is out of range (64-bit: at most {})",
                        i64::MAX
                    ),
                    crate::diag::Label {
                        source: source.clone(),
                        span: span(&p),
                        text: "too large".into(),
                    },
                )));
            }
            continue;
        }
        if p.as_rule() != Rule::expr || p.as_span().start() < end {
            continue;
        }
        end = p.as_span().end();
        let n = p.clone().into_inner().flatten().filter(is_op).count();
        if n > MAX_OPERATORS {
            return Err(Box::new(Diagnostic::error(
                "hvx::syntax",
                format!(
                    "syntax error: an expression of {n} operators; at most {MAX_OPERATORS} (split it with `let` or functions)"
                ),
                crate::diag::Label {
                    source: source.clone(),
                    span: span(&p),
                    text: "too long".into(),
                },
            )));
        }
    }
    Ok(())
}

/// Parse one mapping or library file. A syntax error is returned as a
/// diagnostic saying what was expected where.
pub fn parse(source: &Arc<Source>) -> Result<File, Box<Diagnostic>> {
    check_nesting(source)?;
    let mut pairs = HvxParser::parse(Rule::file, &source.text)
        .map_err(|e| Box::new(syntax_error(source, e)))?;
    let file_pair = pairs.next().expect("pest returns the file rule");
    check_operators(source, &file_pair)?;
    let mut file = File::default();
    for item in file_pair.into_inner() {
        match item.as_rule() {
            Rule::header => file.header = Some(header(item)),
            Rule::use_decl => {
                let sp = span(&item);
                let s = item.into_inner().next().unwrap();
                file.uses.push((plain_string(&s), sp));
            }
            Rule::ns_decl => {
                let mut it = item.into_inner().peekable();
                let mut side = "";
                if it.peek().map(|p| p.as_rule()) == Some(Rule::ns_side) {
                    side = it.next().unwrap().as_str();
                }
                let id = ident(it.next().unwrap());
                if side == "input" {
                    file.input_only.push(id.name.clone());
                }
                let uri = plain_string(&it.next().unwrap());
                ns_alternatives(&mut file, &uri, it, side == "output");
                file.namespaces.push((id, uri));
            }
            Rule::default_ns => {
                let sp = span(&item);
                let mut it = item.into_inner();
                let side = it.next().unwrap().as_str();
                let uri = plain_string(&it.next().unwrap());
                ns_alternatives(&mut file, &uri, it, side == "output");
                if side == "input" {
                    file.input_ns = Some((uri, sp));
                } else {
                    file.output_ns = Some((uri, sp));
                }
            }
            Rule::unmapped_decl => {
                let sp = span(&item);
                let p = match item.into_inner().next().unwrap().as_str() {
                    "fail" => Policy::Fail,
                    "copy" => Policy::Copy,
                    _ => Policy::Report,
                };
                file.unmapped = Some((p, sp));
            }
            Rule::param_decl => {
                let mut it = item.into_inner();
                let name = ident(it.next().unwrap());
                let ty = ty(it.next().unwrap());
                let mut it = it.peekable();
                let domain = it
                    .next_if(|p| p.as_rule() == Rule::param_domain)
                    .map(param_domain);
                let default = it.next().map(expr);
                file.params.push(Param {
                    name,
                    ty,
                    domain,
                    default,
                });
            }
            Rule::table_decl => file.tables.push(table(item)),
            Rule::session_decl => file.sessions.push(session(item)),
            Rule::fn_decl => {
                let mut it = item.into_inner().peekable();
                let name = ident(it.next().unwrap());
                let mut params = Vec::new();
                while it.peek().map(|p| p.as_rule()) == Some(Rule::fn_param) {
                    params.push(fn_param(it.next().unwrap()));
                }
                let ret = ty(it.next().unwrap());
                let body = expr(it.next().unwrap());
                file.fns.push(FnDecl {
                    name,
                    params,
                    ret,
                    body,
                });
            }
            Rule::rename_decl => {
                let sp = span(&item);
                let mut it = item.into_inner();
                let from = field(it.next().unwrap());
                let from_ty = ty(it.next().unwrap());
                let to = field(it.next().unwrap());
                let to_ty = ty(it.next().unwrap());
                let via = it.next().map(|v| {
                    let mut vi = v.into_inner();
                    let id = ident(vi.next().unwrap());
                    (id, vi.next().is_some())
                });
                file.renames.push(Rename {
                    from,
                    from_ty,
                    to,
                    to_ty,
                    via,
                    span: sp,
                });
            }
            Rule::secret_decl => {
                file.secrets
                    .push(pattern(item.into_inner().next().unwrap()));
            }
            Rule::drop_rule => {
                let mut it = item.into_inner();
                let p = pattern(it.next().unwrap());
                let reason = plain_string(&it.next().unwrap());
                file.drops.push((p, reason));
            }
            Rule::document_decl => {
                let mut it = item.into_inner();
                let name = ident(it.next().unwrap());
                let mut each = None;
                let mut file_name = None;
                let mut body = Vec::new();
                let mut json = false;
                // `for` and `name` clauses are both plain exprs; tell them
                // apart by the keyword text before them.
                for p in it {
                    match p.as_rule() {
                        Rule::expr => {
                            let preceding = keyword_before(&p);
                            if preceding == "for" {
                                each = Some(expr(p));
                            } else {
                                file_name = Some(expr(p));
                            }
                        }
                        Rule::block => body = block(p),
                        Rule::json_kw => json = true,
                        _ => {}
                    }
                }
                file.documents.push(Document {
                    name,
                    json,
                    each,
                    file_name,
                    body,
                });
            }
            Rule::on_decl => {
                let sp = span(&item);
                let mut rule = Rule_ {
                    pattern: None,
                    mode: None,
                    priority: None,
                    needs: None,
                    body: Vec::new(),
                };
                for p in item.into_inner() {
                    match p.as_rule() {
                        Rule::pattern => rule.pattern = Some(pattern(p)),
                        Rule::mode_clause => {
                            rule.mode = Some(ident(p.into_inner().next().unwrap()))
                        }
                        Rule::priority => {
                            let s = p.into_inner().next().unwrap();
                            let sp = span(&s);
                            let n = s.as_str().parse::<i32>().unwrap_or(i32::MAX);
                            rule.priority = Some((n, sp));
                        }
                        Rule::needs_clause => {
                            let q = p.into_inner().next().unwrap();
                            rule.needs = Some(match q.as_rule() {
                                Rule::needs_nothing => Needs::Nothing,
                                _ => Needs::Context(plain_string(&q)),
                            });
                        }
                        Rule::block => rule.body = block(p),
                        _ => {}
                    }
                }
                file.rules.push(super::ast::Rule {
                    pattern: rule.pattern.unwrap(),
                    mode: rule.mode,
                    priority: rule.priority,
                    needs: rule.needs,
                    body: rule.body,
                    span: sp,
                });
            }
            Rule::template_decl => {
                let mut it = item.into_inner().peekable();
                let name = ident(it.next().unwrap());
                let mut params = Vec::new();
                while it.peek().map(|p| p.as_rule()) == Some(Rule::fn_param) {
                    params.push(fn_param(it.next().unwrap()));
                }
                let body = block(it.next().unwrap());
                file.templates.push(NamedTemplate { name, params, body });
            }
            Rule::EOI => {}
            r => unreachable!("unexpected item {r:?}"),
        }
    }
    Ok(file)
}

struct Rule_ {
    pattern: Option<Pattern>,
    mode: Option<Ident>,
    priority: Option<(i32, Span)>,
    needs: Option<Needs>,
    body: Block,
}

/// The word just before a pair in the source (used for `document` clauses).
fn keyword_before(p: &P) -> String {
    let start = p.as_span().start();
    let src = p.as_span().get_input();
    src[..start]
        .trim_end()
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_string()
}

/// `| "URI"` after a namespace's first URI: alternatives it also matches.
fn ns_alternatives<'i>(
    file: &mut File,
    primary: &str,
    rest: impl Iterator<Item = P<'i>>,
    output: bool,
) {
    for q in rest {
        file.ns_aliases.push(NsAlias {
            primary: primary.to_string(),
            alias: plain_string(&q),
            span: span(&q),
            output,
        });
    }
}

pub(super) fn span(p: &P) -> Span {
    let s = p.as_span();
    Span::new(s.start()..s.end())
}

pub(super) fn ident(p: P) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span(&p),
    }
}

fn ty(p: P) -> Type {
    match p.as_str() {
        "string" => Type::String,
        "int" => Type::Int,
        "uint" => Type::Uint,
        "bool" => Type::Bool,
        "nodes" => Type::Nodes,
        _ => Type::Any,
    }
}

fn sty(p: P) -> SessionType {
    match p.as_str() {
        "int" => SessionType::Int,
        "uint" => SessionType::Uint,
        "uuid" => SessionType::Uuid,
        "mac" => SessionType::Mac,
        _ => SessionType::String,
    }
}

fn fn_param(p: P) -> (Ident, Type) {
    let mut it = p.into_inner();
    (ident(it.next().unwrap()), ty(it.next().unwrap()))
}

fn field(p: P) -> Field {
    let mut attr = false;
    let mut name = None;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::attr_mark => attr = true,
            _ => name = Some(ident(q)),
        }
    }
    Field {
        attr,
        name: name.unwrap(),
    }
}

fn header(p: P) -> Header {
    let sp = span(&p);
    let mut it = p.into_inner();
    let name = plain_string(&it.next().unwrap());
    let mut h = Header {
        name,
        span: sp,
        from: None,
        to: None,
        version: None,
        description: None,
    };
    for f in it {
        let mut fi = f.into_inner();
        let key = fi.next().unwrap().as_str().to_string();
        let v = fi.next().unwrap();
        let text = if v.as_rule() == Rule::string {
            plain_string(&v)
        } else {
            v.as_str().to_string()
        };
        let id = Ident {
            name: text.clone(),
            span: span(&v),
        };
        match key.as_str() {
            "from" => h.from = Some(id),
            "to" => h.to = Some(id),
            "version" => h.version = Some(text),
            _ => h.description = Some(text),
        }
    }
    h
}

fn table(p: P) -> Table {
    let mut it = p.into_inner();
    let name = ident(it.next().unwrap());
    let key_ty = ty(it.next().unwrap());
    let val_ty = ty(it.next().unwrap());
    let mut rows = Vec::new();
    let mut default = None;
    for row in it {
        let sp = span(&row);
        let mut keys = Vec::new();
        let mut wildcard = false;
        let mut value = None;
        for q in row.into_inner() {
            match q.as_rule() {
                Rule::table_key => {
                    let l = q.into_inner().next().unwrap();
                    let lsp = span(&l);
                    keys.push((lit(l), lsp));
                }
                Rule::wildcard => wildcard = true,
                Rule::kw_error => value = Some(None),
                _ => value = Some(Some(lit(q))),
            }
        }
        let value = value.unwrap();
        if wildcard {
            default = Some((value, sp));
        } else {
            rows.push(TableRow {
                keys,
                value: value.unwrap_or(Lit::Str(String::new())),
                span: sp,
            });
        }
    }
    Table {
        name,
        key_ty,
        val_ty,
        rows,
        default,
    }
}

fn session(p: P) -> SessionDecl {
    let mut it = p.into_inner();
    let name = ident(it.next().unwrap());
    let left = sty(it.next().unwrap());
    let right = sty(it.next().unwrap());
    let miss = match it.next() {
        None => Miss::Fail(None),
        Some(m) => {
            let inner = m.into_inner().next().unwrap();
            if inner.as_rule() == Rule::miss_same {
                return SessionDecl {
                    name,
                    left,
                    right,
                    miss: Miss::Same,
                };
            }
            let is_mint = inner.as_rule() == Rule::miss_mint;
            let arg = inner.into_inner().next().map(|s| raw_string(&s));
            if is_mint {
                Miss::Mint(arg)
            } else {
                Miss::Fail(arg)
            }
        }
    };
    SessionDecl {
        name,
        left,
        right,
        miss,
    }
}

fn pattern(p: P) -> Pattern {
    let text = p.as_str().trim_end().to_string();
    let sp = Span::new(p.as_span().start()..p.as_span().start() + text.len());
    let mut pat = Pattern {
        absolute: false,
        any_depth: false,
        steps: Vec::new(),
        span: sp,
        text,
    };
    let mut next_desc = false;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::pat_root => pat.absolute = true,
            Rule::pat_dslash => pat.any_depth = true,
            Rule::pat_sep => next_desc = q.as_str() == "//",
            Rule::pat_step => {
                let (test, preds) = step_parts(q);
                pat.steps.push(PatStep {
                    test,
                    preds,
                    descendant: next_desc,
                });
                next_desc = false;
            }
            _ => {}
        }
    }
    pat
}

pub(super) fn step_parts(p: P) -> (NodeTest, Vec<Expr>) {
    let mut attr = false;
    let mut test = NodeTest::SelfNode;
    let mut preds = Vec::new();
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::attr_mark => attr = true,
            Rule::dot => test = NodeTest::SelfNode,
            Rule::dotdot => test = NodeTest::Parent,
            Rule::text_test => test = NodeTest::Text,
            Rule::name_test => {
                let inner = q.into_inner().next().unwrap();
                let qn = match inner.as_rule() {
                    Rule::star => None,
                    Rule::ns_star => {
                        let sp = span(&inner);
                        Some(QName {
                            prefix: Some(inner.as_str().trim_end_matches(":*").to_string()),
                            local: "*".to_string(),
                            span: sp,
                        })
                    }
                    _ => Some(qname(inner)),
                };
                test = if attr {
                    NodeTest::Attr(qn)
                } else {
                    NodeTest::Elem(qn)
                };
            }
            Rule::predicate => preds.push(expr(q.into_inner().next().unwrap())),
            _ => {}
        }
    }
    (test, preds)
}

fn qname(p: P) -> QName {
    let sp = span(&p);
    let s = p.as_str();
    match s.split_once(':') {
        Some((pre, local)) => QName {
            prefix: Some(pre.to_string()),
            local: local.to_string(),
            span: sp,
        },
        None => QName {
            prefix: None,
            local: s.to_string(),
            span: sp,
        },
    }
}

fn block(p: P) -> Block {
    p.into_inner().map(stmt).collect()
}

fn stmt(p: P) -> Stmt {
    let sp = span(&p);
    let rule = p.as_rule();
    let mut it = p.into_inner();
    match rule {
        Rule::elem_stmt => {
            let name = ident(it.next().unwrap());
            let mut attrs = Vec::new();
            let mut body = ElemBody::Empty;
            for q in it {
                match q.as_rule() {
                    Rule::attr_init => {
                        let mut ai = q.into_inner();
                        let an = ident(ai.next().unwrap());
                        let v = ai.next().unwrap();
                        let e = if v.as_rule() == Rule::string {
                            string_expr(v)
                        } else {
                            expr(v)
                        };
                        attrs.push((an, e));
                    }
                    Rule::empty_close => body = ElemBody::Empty,
                    Rule::opt_value | Rule::value_close => {
                        let optional = q.as_rule() == Rule::opt_value;
                        body = ElemBody::Value {
                            expr: expr(q.into_inner().next().unwrap()),
                            optional,
                        };
                    }
                    Rule::block_close => {
                        body = ElemBody::Block(block(q.into_inner().next().unwrap()))
                    }
                    _ => {}
                }
            }
            Stmt::Elem {
                name,
                attrs,
                body,
                span: sp,
            }
        }
        Rule::attr_stmt => {
            let name = ident(it.next().unwrap());
            let mut optional = false;
            let mut value = None;
            for q in it {
                if q.as_rule() == Rule::opt_mark {
                    optional = true;
                } else {
                    value = Some(expr(q));
                }
            }
            Stmt::Attr {
                name,
                optional,
                value: value.unwrap(),
                span: sp,
            }
        }
        Rule::let_stmt => {
            let var = var_ident(it.next().unwrap());
            let mut ty_ = None;
            let mut value = None;
            for q in it {
                if q.as_rule() == Rule::ty {
                    ty_ = Some(ty(q));
                } else {
                    value = Some(expr(q));
                }
            }
            Stmt::Let {
                var,
                ty: ty_,
                value: value.unwrap(),
                span: sp,
            }
        }
        Rule::if_stmt => {
            let mut arms = Vec::new();
            let mut otherwise = None;
            let mut cond = None;
            for q in it {
                match q.as_rule() {
                    Rule::expr => cond = Some(expr(q)),
                    Rule::block => arms.push((cond.take().unwrap(), block(q))),
                    Rule::else_block => otherwise = Some(block(q.into_inner().next().unwrap())),
                    _ => {}
                }
            }
            Stmt::If {
                arms,
                otherwise,
                span: sp,
            }
        }
        Rule::for_stmt => {
            let var = var_ident(it.next().unwrap());
            let seq = expr(it.next().unwrap());
            let mut sort = Vec::new();
            let mut body = Vec::new();
            for q in it {
                match q.as_rule() {
                    Rule::sort_by => {
                        let mut si = q.into_inner();
                        let key = expr(si.next().unwrap());
                        let desc = si.next().map(|d| d.as_str() == "desc").unwrap_or(false);
                        sort.push((key, desc));
                    }
                    Rule::block => body = block(q),
                    _ => {}
                }
            }
            Stmt::For {
                var,
                seq,
                sort,
                body,
                span: sp,
            }
        }
        Rule::match_stmt => {
            let value = expr(it.next().unwrap());
            let mut arms = Vec::new();
            let mut default = None;
            for arm in it {
                let mut lits = Vec::new();
                let mut wild = false;
                let mut body = Vec::new();
                for q in arm.into_inner() {
                    match q.as_rule() {
                        Rule::wildcard => wild = true,
                        Rule::block => body = block(q),
                        _ => {
                            let lsp = span(&q);
                            lits.push((lit(q), lsp));
                        }
                    }
                }
                if wild {
                    default = Some(body);
                } else {
                    arms.push((lits, body));
                }
            }
            Stmt::Match {
                value,
                arms,
                default,
                span: sp,
            }
        }
        Rule::apply_stmt => {
            let mut select = None;
            let mut mode = None;
            for q in it {
                match q.as_rule() {
                    Rule::expr => select = Some(expr(q)),
                    Rule::mode_clause => mode = Some(ident(q.into_inner().next().unwrap())),
                    _ => {}
                }
            }
            Stmt::Apply {
                select,
                mode,
                span: sp,
            }
        }
        Rule::copy_stmt => Stmt::Copy {
            select: expr(it.next().unwrap()),
            span: sp,
        },
        Rule::drop_stmt => Stmt::Drop {
            select: expr(it.next().unwrap()),
            reason: plain_string(&it.next().unwrap()),
            span: sp,
        },
        Rule::call_stmt => {
            let name = ident(it.next().unwrap());
            let args = it
                .next()
                .map(|a| a.into_inner().map(expr).collect())
                .unwrap_or_default();
            Stmt::Call {
                name,
                args,
                span: sp,
            }
        }
        Rule::error_stmt => Stmt::Error {
            message: expr(it.next().unwrap()),
            span: sp,
        },
        Rule::warn_stmt | Rule::action_stmt => Stmt::Warn {
            action: rule == Rule::action_stmt,
            message: expr(it.next().unwrap()),
            span: sp,
        },
        Rule::text_stmt => Stmt::Text {
            value: expr(it.next().unwrap()),
            span: sp,
        },
        r => unreachable!("unexpected statement {r:?}"),
    }
}

/// `in 1..64` or `in ("a", "b")`.
fn param_domain(p: P) -> crate::syntax::ast::Domain {
    use crate::syntax::ast::Domain;
    let q = p.into_inner().next().unwrap();
    match q.as_rule() {
        Rule::param_range => {
            let mut it = q.into_inner();
            let mut n = || {
                let t = it.next().unwrap().as_str();
                match t.strip_prefix("0x") {
                    Some(h) => i64::from_str_radix(h, 16).unwrap_or(i64::MAX),
                    None => t.parse().unwrap_or(i64::MAX),
                }
            };
            let a = n();
            Domain::Range(a, n())
        }
        _ => Domain::OneOf(q.into_inner().map(|s| plain_string(&s)).collect()),
    }
}
