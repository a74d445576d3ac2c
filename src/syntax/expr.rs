//! pest pairs → expression nodes: operators, paths, calls, literals.

use pest::iterators::Pair;

use super::ast::*;
use super::parser::{ident, span, step_parts, Rule};

type P<'i> = Pair<'i, Rule>;

pub(super) fn expr(p: P) -> Expr {
    let sp = span(&p);
    match p.as_rule() {
        Rule::expr => expr(p.into_inner().next().unwrap()),
        Rule::or_expr | Rule::and_expr | Rule::add_expr | Rule::mul_expr | Rule::cmp_expr => {
            let mut it = p.into_inner();
            let mut lhs = expr(it.next().unwrap());
            while let Some(op) = it.next() {
                let rhs = expr(it.next().unwrap());
                let op = match op.as_str() {
                    "or" => BinOp::Or,
                    "and" => BinOp::And,
                    "=" => BinOp::Eq,
                    "!=" => BinOp::Ne,
                    "<" => BinOp::Lt,
                    "<=" => BinOp::Le,
                    ">" => BinOp::Gt,
                    ">=" => BinOp::Ge,
                    "+" => BinOp::Add,
                    "-" => BinOp::Sub,
                    "*" => BinOp::Mul,
                    "div" => BinOp::Div,
                    _ => BinOp::Mod,
                };
                let s = Span {
                    start: lhs.span.start,
                    end: rhs.span.end,
                };
                lhs = Expr {
                    kind: ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)),
                    span: s,
                };
            }
            lhs
        }
        Rule::unary => {
            let mut it = p.into_inner();
            let first = it.next().unwrap();
            if first.as_rule() == Rule::neg {
                let inner = expr(it.next().unwrap());
                Expr {
                    kind: ExprKind::Neg(Box::new(inner)),
                    span: sp,
                }
            } else {
                expr(first)
            }
        }
        Rule::union => {
            let mut parts: Vec<Expr> = p.into_inner().map(expr).collect();
            if parts.len() == 1 {
                parts.pop().unwrap()
            } else {
                Expr {
                    kind: ExprKind::Union(parts),
                    span: sp,
                }
            }
        }
        Rule::paren => expr(p.into_inner().next().unwrap()),
        Rule::string => string_expr(p),
        Rule::number | Rule::boolean => Expr {
            kind: ExprKind::Lit(lit(p)),
            span: sp,
        },
        Rule::call => {
            let mut it = p.into_inner();
            let name = ident(it.next().unwrap());
            let mut method = None;
            let mut args = Vec::new();
            for q in it {
                match q.as_rule() {
                    Rule::ident => method = Some(ident(q)),
                    Rule::call_args => {
                        if let Some(a) = q.into_inner().next() {
                            args = a.into_inner().map(expr).collect();
                        }
                    }
                    _ => {}
                }
            }
            if name.name == "text" && method.is_none() && args.is_empty() {
                return Expr {
                    kind: ExprKind::Path(PathExpr {
                        start: PathStart::Context,
                        steps: vec![PathStep {
                            descendant: false,
                            test: NodeTest::Text,
                            preds: vec![],
                        }],
                    }),
                    span: sp,
                };
            }
            Expr {
                kind: ExprKind::Call { name, method, args },
                span: sp,
            }
        }
        Rule::var_path => {
            let mut it = p.into_inner();
            let v = var_ident(it.next().unwrap());
            let mut steps = Vec::new();
            let mut desc = false;
            for q in it {
                match q.as_rule() {
                    // `$v[p]`: predicates over the variable's whole node list.
                    Rule::predicate => {
                        let e = expr(q.into_inner().next().unwrap());
                        match steps.last_mut() {
                            Some(PathStep {
                                test: NodeTest::Filter,
                                preds,
                                ..
                            }) => preds.push(e),
                            _ => steps.push(PathStep {
                                descendant: false,
                                test: NodeTest::Filter,
                                preds: vec![e],
                            }),
                        }
                    }
                    Rule::path_sep => desc = q.as_str() == "//",
                    Rule::rel_path => {
                        let mut first = true;
                        for s in rel_steps(q) {
                            let mut s = s;
                            if first {
                                s.descendant = desc;
                                first = false;
                            }
                            steps.push(s);
                        }
                    }
                    _ => {}
                }
            }
            if steps.is_empty() {
                Expr {
                    kind: ExprKind::Var(v),
                    span: sp,
                }
            } else {
                Expr {
                    kind: ExprKind::Path(PathExpr {
                        start: PathStart::Var(v),
                        steps,
                    }),
                    span: sp,
                }
            }
        }
        Rule::path => {
            let inner = p.into_inner().next().unwrap();
            let pe = if inner.as_rule() == Rule::abs_path {
                let mut start = PathStart::Root;
                let mut steps = Vec::new();
                for q in inner.into_inner() {
                    match q.as_rule() {
                        Rule::root => start = PathStart::Root,
                        Rule::dslash => start = PathStart::RootDescendants,
                        Rule::rel_path => steps = rel_steps(q),
                        _ => {}
                    }
                }
                PathExpr { start, steps }
            } else {
                PathExpr {
                    start: PathStart::Context,
                    steps: rel_steps(inner),
                }
            };
            Expr {
                kind: ExprKind::Path(pe),
                span: sp,
            }
        }
        r => unreachable!("unexpected expression rule {r:?}"),
    }
}

pub(super) fn rel_steps(p: P) -> Vec<PathStep> {
    let mut steps = Vec::new();
    let mut desc = false;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::path_sep => desc = q.as_str() == "//",
            Rule::step => {
                let (test, preds) = step_parts(q);
                steps.push(PathStep {
                    descendant: desc,
                    test,
                    preds,
                });
                desc = false;
            }
            _ => {}
        }
    }
    steps
}

pub(super) fn lit(p: P) -> Lit {
    match p.as_rule() {
        Rule::string => Lit::Str(plain_string(&p)),
        Rule::boolean => Lit::Bool(p.as_str() == "true"),
        Rule::number => {
            let s = p.as_str();
            let n = if let Some(h) = s.strip_prefix("0x") {
                i64::from_str_radix(h, 16)
            } else {
                s.parse::<i64>()
            };
            // Out-of-range literals are caught by the checker (it re-reads the text).
            Lit::Int(n.unwrap_or(i64::MAX))
        }
        _ => Lit::Str(p.as_str().to_string()),
    }
}

pub(super) fn unescape(s: &str) -> String {
    if s == "{}" {
        // An empty pair of braces is literal text (`format("{}", x)`).
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            },
            '{' | '}' => {
                // `{{` and `}}` stand for one brace.
                chars.next();
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A string literal's text with escapes resolved; interpolations are kept as
/// their source text (used where a plain string is required).
pub(super) fn plain_string(p: &P) -> String {
    let mut out = String::new();
    for q in p.clone().into_inner() {
        match q.as_rule() {
            Rule::str_text => out.push_str(q.as_str()),
            Rule::esc => out.push_str(&unescape(q.as_str())),
            _ => out.push_str(q.as_str()),
        }
    }
    out
}

/// The raw text between the quotes (for mint patterns such as `"vm-{n}"`).
pub(super) fn raw_string(p: &P) -> String {
    let s = p.as_str();
    s[1..s.len() - 1].to_string()
}

pub(super) fn string_expr(p: P) -> Expr {
    let sp = span(&p);
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut has_interp = false;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::str_text => text.push_str(q.as_str()),
            Rule::esc => text.push_str(&unescape(q.as_str())),
            Rule::interp => {
                has_interp = true;
                if !text.is_empty() {
                    parts.push(InterpPart::Text(std::mem::take(&mut text)));
                }
                parts.push(InterpPart::Expr(expr(q.into_inner().next().unwrap())));
            }
            _ => {}
        }
    }
    if !has_interp {
        return Expr {
            kind: ExprKind::Lit(Lit::Str(text)),
            span: sp,
        };
    }
    if !text.is_empty() {
        parts.push(InterpPart::Text(text));
    }
    Expr {
        kind: ExprKind::Interp(parts),
        span: sp,
    }
}

pub(super) fn var_ident(p: P) -> Ident {
    // var = "$" ident
    let sp = span(&p);
    Ident {
        name: p.as_str().trim_start_matches('$').to_string(),
        span: sp,
    }
}
