//! pest pairs → expression nodes: operators, paths, calls, literals.

use pest::iterators::Pair;

use super::ast::*;
use super::parser::{ident, span, step_parts, Rule};

type P<'i> = Pair<'i, Rule>;

/// An `expr` pair (a flat list of operands and operators) → an expression
/// tree. Precedence, loosest first: `or`, `and`, comparisons, `+ -`,
/// `* div mod`, a leading `-`, `|`. Binary operators are left-associative;
/// the grammar allows at most one comparison per operand of `and`/`or`.
pub(super) fn expr(p: P) -> Expr {
    debug_assert_eq!(p.as_rule(), Rule::expr);
    let items: Vec<P> = p.into_inner().collect();
    let mut pos = 0;
    let e = binary(&items, &mut pos, 0);
    debug_assert_eq!(pos, items.len());
    e
}

/// The binary operator a pair stands for, with its precedence.
fn bin_op(p: &P) -> Option<(u8, BinOp)> {
    let op = match p.as_rule() {
        Rule::kw_or => (1, BinOp::Or),
        Rule::kw_and => (2, BinOp::And),
        Rule::cmp_op => match p.as_str() {
            "=" => (3, BinOp::Eq),
            "!=" => (3, BinOp::Ne),
            "<" => (3, BinOp::Lt),
            "<=" => (3, BinOp::Le),
            ">" => (3, BinOp::Gt),
            _ => (3, BinOp::Ge),
        },
        Rule::add_op if p.as_str() == "+" => (4, BinOp::Add),
        Rule::add_op => (4, BinOp::Sub),
        Rule::mul_op => match p.as_str() {
            "*" => (5, BinOp::Mul),
            "div" => (5, BinOp::Div),
            _ => (5, BinOp::Mod),
        },
        _ => return None,
    };
    Some(op)
}

/// Precedence climbing over `items[*pos..]`: operators binding at least as
/// tightly as `min`.
fn binary(items: &[P], pos: &mut usize, min: u8) -> Expr {
    let mut lhs = signed(items, pos);
    while let Some((prec, op)) = items.get(*pos).and_then(bin_op) {
        if prec < min {
            break;
        }
        *pos += 1;
        let rhs = binary(items, pos, prec + 1);
        let span = Span {
            start: lhs.span.start,
            end: rhs.span.end,
        };
        lhs = Expr {
            kind: ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)),
            span,
        };
    }
    lhs
}

/// `-`* operand (`|` operand)*: each sign negates what follows it.
fn signed(items: &[P], pos: &mut usize) -> Expr {
    let mut starts = Vec::new();
    while items[*pos].as_rule() == Rule::neg {
        starts.push(span(&items[*pos]).start);
        *pos += 1;
    }
    let mut e = union(items, pos);
    for start in starts.into_iter().rev() {
        let span = Span {
            start,
            end: e.span.end,
        };
        e = Expr {
            kind: ExprKind::Neg(Box::new(e)),
            span,
        };
    }
    e
}

fn union(items: &[P], pos: &mut usize) -> Expr {
    let first = operand(items[*pos].clone());
    *pos += 1;
    if items.get(*pos).map(P::as_rule) != Some(Rule::union_op) {
        return first;
    }
    let mut parts = vec![first];
    while items.get(*pos).map(P::as_rule) == Some(Rule::union_op) {
        parts.push(operand(items[*pos + 1].clone()));
        *pos += 2;
    }
    let span = Span {
        start: parts[0].span.start,
        end: parts[parts.len() - 1].span.end,
    };
    Expr {
        kind: ExprKind::Union(parts),
        span,
    }
}

/// One operand: a literal, variable path, call, parenthesised expression or
/// path.
fn operand(p: P) -> Expr {
    let sp = span(&p);
    match p.as_rule() {
        Rule::paren => {
            // The parentheses belong to the operand's span.
            let mut e = expr(p.into_inner().next().unwrap());
            e.span = sp;
            e
        }
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
            // Out of range: refused before the tree is built (parser::check_operators).
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diag::Source;

    /// The expression of `let $x = EXPR;` as an S-expression.
    fn tree(src: &str) -> String {
        fn show(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Bin(op, a, b) => format!("({op:?} {} {})", show(a), show(b)),
                ExprKind::Neg(a) => format!("(Neg {})", show(a)),
                ExprKind::Union(v) => {
                    let parts: Vec<String> = v.iter().map(show).collect();
                    format!("(Union {})", parts.join(" "))
                }
                ExprKind::Lit(Lit::Int(n)) => n.to_string(),
                ExprKind::Var(v) => format!("${}", v.name),
                ExprKind::Path(_) => "path".into(),
                _ => "?".into(),
            }
        }
        let text = format!("fn f() -> any = {src};");
        let source = Arc::new(Source {
            name: "t.hvx".into(),
            path: None,
            text,
        });
        let file = crate::syntax::parse(&source).unwrap();
        let body = &file.fns[0].body;
        // Every span covers exactly its operands.
        assert_eq!(&source.text[body.span.range()], src);
        show(body)
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(tree("1 + 2 * 3"), "(Add 1 (Mul 2 3))");
        assert_eq!(tree("1 - 2 - 3"), "(Sub (Sub 1 2) 3)");
        assert_eq!(tree("8 div 2 mod 3"), "(Mod (Div 8 2) 3)");
        assert_eq!(
            tree("$a or $b and $c = 1 + 2"),
            "(Or $a (And $b (Eq $c (Add 1 2))))"
        );
        assert_eq!(tree("$a and $b or $c"), "(Or (And $a $b) $c)");
        assert_eq!(tree("-$a | $b * 2"), "(Mul (Neg (Union $a $b)) 2)");
        assert_eq!(tree("1 - -2"), "(Sub 1 (Neg 2))");
        assert_eq!(tree("(1 + 2) * 3"), "(Mul (Add 1 2) 3)");
        assert_eq!(tree("a | b | c"), "(Union path path path)");
    }

    #[test]
    fn comparisons_do_not_chain() {
        let source = Arc::new(Source {
            name: "t.hvx".into(),
            path: None,
            text: "fn f() -> any = 1 < 2 = true;".into(),
        });
        let err = crate::syntax::parse(&source).unwrap_err();
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }
}
