//! Statements: output construction, variables, control flow, apply, copy,
//! drop, calls and messages.

use super::observe::Probe;
use super::value::{Item, Nodes, Val};
use super::{report, set, Cx, Dropped, Run, Warning, R};
use crate::program::*;

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    pub(super) fn block(
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

    /// [`Self::stmt`], timed (`--profile`): the statement runs again
    /// through `stmt`, which [`Self::observe_stmt`] lets through once.
    #[cold]
    #[inline(never)]
    fn stmt_timed(&mut self, s: &'p Stmt, cx: &Cx<'a, 'i>, locals: &mut Vec<Val<'a, 'i>>) -> R<()> {
        self.prof_enter();
        let r = self.stmt(s, cx, locals);
        self.prof_exit(s.loc(), false);
        r
    }

    pub(super) fn stmt(
        &mut self,
        s: &'p Stmt,
        cx: &Cx<'a, 'i>,
        locals: &mut Vec<Val<'a, 'i>>,
    ) -> R<()> {
        if self.obs.is_some() && self.observe_stmt(s.loc()) {
            return self.stmt_timed(s, cx, locals);
        }
        match s {
            Stmt::Elem {
                name,
                attrs,
                body,
                loc,
            } => {
                let mut typed = None;
                let value = match body {
                    ElemBody::Value { expr, optional } if self.json => {
                        // JSON documents keep integers and booleans typed.
                        let v = self.eval(expr, cx, locals)?;
                        typed = match v {
                            Val::Int(_) => Some("int"),
                            Val::Bool(_) => Some("bool"),
                            _ => None,
                        };
                        let empty = v.is_empty();
                        if *optional && empty {
                            return Ok(());
                        }
                        Some(self.string_into(v))
                    }
                    ElemBody::Value { expr, optional } => {
                        let (v, empty) = self.eval_str(expr, cx, locals)?;
                        if *optional && empty {
                            return Ok(());
                        }
                        Some(v)
                    }
                    _ => None,
                };
                self.start_elem(name, *loc, cx.item)?;
                if self.tracing() {
                    let v = match body {
                        ElemBody::Value { expr, .. } => {
                            Some((value.as_deref().unwrap_or(""), expr))
                        }
                        _ => None,
                    };
                    match v {
                        Some((v, e)) => {
                            let v = v.to_string();
                            self.trace_value("element", &name.qname, &v, e, *loc, cx, locals);
                        }
                        None => self.trace(
                            "element",
                            name.qname.to_string(),
                            None,
                            *loc,
                            Some(cx.item),
                            None,
                            Vec::new(),
                        ),
                    }
                }
                if let Some(t) = typed {
                    let r = self.out.attr_ns(
                        crate::jsonout::TYPE_ATTR,
                        Some(crate::jsonout::TYPE_NS),
                        Some(crate::jsonout::TYPE_PREFIX),
                        t,
                    );
                    self.write(*loc, cx.item, r)?;
                }
                for (an, e) in attrs {
                    let v = self.eval_str(e, cx, locals)?.0;
                    if self.tracing() {
                        self.trace_value("attribute", &an.qname, &v, e, e.loc, cx, locals);
                    }
                    let r = self.attr_named(an, &v);
                    self.write(*loc, cx.item, r)?;
                    self.give_str(v);
                }
                match body {
                    ElemBody::Empty => {}
                    ElemBody::Value { .. } => {
                        let r = self.out.text(value.as_deref().unwrap_or(""));
                        self.write(*loc, cx.item, r)?;
                        if let Some(v) = value {
                            self.give_str(v);
                        }
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
                let (text, empty) = self.eval_str(value, cx, locals)?;
                if *optional && empty {
                    return Ok(());
                }
                if self.tracing() {
                    self.trace_value("attribute", &name.qname, &text, value, *loc, cx, locals);
                }
                self.mark_origin(cx.item);
                let r = self.attr_named(name, &text);
                self.write(*loc, cx.item, r)?;
                self.give_str(text);
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
                for (k, (c, b)) in arms.iter().enumerate() {
                    if self.eval_truthy(c, cx, locals)? {
                        if self.obs.is_some() {
                            self.hit(Probe::Arm(s.loc(), k as u32));
                        }
                        return self.block(b, cx, locals);
                    }
                }
                if self.obs.is_some() {
                    self.hit(Probe::Arm(s.loc(), arms.len() as u32));
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
                    items = Nodes::Many(self.sort(items.into_vec(), sort, *slot, locals)?);
                }
                let size = items.len();
                if size == 0 && self.tracing() {
                    let what = self.source_text(seq.loc);
                    let note = Some(format!("`{what}` selected nothing"));
                    self.trace("for", what, None, *loc, Some(cx.item), note, Vec::new());
                }
                for (k, &it) in items.iter().enumerate() {
                    let icx = Cx {
                        item: it,
                        pos: k + 1,
                        size,
                    };
                    set(locals, *slot, Val::Nodes(Nodes::One(it)));
                    self.block(body, &icx, locals)?;
                }
                if let Nodes::Many(v) = items {
                    self.give_items(v);
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
                for (k, (vals, b)) in arms.iter().enumerate() {
                    if vals.iter().any(|x| match x {
                        Value::Str(t) => t == s.as_ref(),
                        Value::Int(i) => crate::convert::int(&s).ok() == Some(*i),
                        Value::Bool(b) => crate::convert::bool(&s).ok() == Some(*b),
                    }) {
                        if self.obs.is_some() {
                            self.hit(Probe::Arm(*loc, k as u32));
                        }
                        return self.block(b, cx, locals);
                    }
                }
                match default {
                    Some(b) => {
                        if self.obs.is_some() {
                            self.hit(Probe::Arm(*loc, arms.len() as u32));
                        }
                        self.block(b, cx, locals)?
                    }
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
                    Some(e) => self.nodes(e, cx, locals)?.into_vec(),
                };
                let size = items.len();
                if size == 0 && self.tracing() {
                    if let Some(e) = select {
                        let what = self.source_text(e.loc);
                        let note = Some(format!("`{what}` selected nothing"));
                        self.trace("apply", what, None, *loc, Some(cx.item), note, Vec::new());
                    }
                }
                for (k, &it) in items.iter().enumerate() {
                    let icx = Cx {
                        item: it,
                        pos: k + 1,
                        size,
                    };
                    self.apply_one(&icx, *mode, *loc)?;
                }
                self.give_items(items);
            }
            Stmt::Copy { select, loc } => {
                let v = self.eval(select, cx, locals)?;
                if self.tracing() {
                    let what = self.source_text(select.loc);
                    let note = v.is_empty().then(|| format!("`{what}` selected nothing"));
                    self.trace("copy", what, None, *loc, Some(cx.item), note, Vec::new());
                }
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
                if self.obs.is_some() {
                    self.hit(Probe::Template(*template));
                }
                let mut frame = self.take_frame(t.frame as usize);
                for (k, a) in args.iter().enumerate() {
                    let v = self.eval(a, cx, locals)?;
                    let v = self.coerce(v, t.params[k], *loc, cx)?;
                    set(&mut frame, k as u32, v);
                }
                self.enter(*loc, cx.item)?;
                self.block(&t.body, cx, &mut frame).map_err(|e| {
                    self.called(e, format!("template `{}` called", t.name), *loc, cx.item)
                })?;
                self.depth -= 1;
                self.give_frame(frame);
            }
            Stmt::Error { message, loc } => {
                let v = self.eval(message, cx, locals)?;
                let m = self.string_of(&v).into_owned();
                return Err(self.err(*loc, Some(cx.item), m));
            }
            Stmt::Warn {
                message,
                action,
                loc,
            } => {
                let v = self.eval(message, cx, locals)?;
                let m = self.string_into(v).into_owned();
                if self.tracing() {
                    self.trace(
                        "warn",
                        String::new(),
                        Some(&m),
                        *loc,
                        Some(cx.item),
                        None,
                        Vec::new(),
                    );
                }
                // Where it was raised is shown only with detail (-v, --report);
                // working it out costs more than the rest of the statement.
                let (mapping, input) = if self.opts.detail {
                    let at = report::pos(self.doc, self.lines(), cx.item);
                    (self.p.describe(*loc), Some(at))
                } else {
                    (String::new(), None)
                };
                self.warnings.push(Warning {
                    message: m,
                    action: *action,
                    mapping,
                    input,
                });
            }
            Stmt::Text { value, loc } => {
                let v = self.eval(value, cx, locals)?;
                let text = self.string_into(v);
                if self.tracing() {
                    self.trace_value("text", "", &text, value, *loc, cx, locals);
                }
                let r = self.out.text(&text);
                self.write(*loc, cx.item, r)?;
                self.give_str(text);
            }
        }
        Ok(())
    }

    pub(super) fn drop_item(&mut self, it: Item<'a, 'i>, reason: &str, loc: Loc) {
        self.touch_subtree(it);
        if self.obs.is_some() {
            self.hit(Probe::Drop(loc));
            self.trace(
                "drop",
                reason.to_string(),
                None,
                loc,
                Some(it),
                None,
                Vec::new(),
            );
        }
        // Drops are listed only with detail (-v, --report); without it, the
        // position and path of each would be computed for nothing.
        if !self.opts.detail {
            return;
        }
        let pos = report::pos(self.doc, self.lines(), it);
        self.dropped.push(Dropped {
            line: pos.line,
            col: pos.col,
            path: pos.path,
            reason: reason.to_string(),
            mapping: self.p.describe(loc),
        });
    }

    pub(super) fn sort(
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
            set(locals, slot, Val::Nodes(Nodes::One(it)));
            let mut ks = Vec::with_capacity(keys.len());
            for (e, _) in keys {
                ks.push(self.eval(e, &cx, locals)?.string().into_owned());
            }
            keyed.push((ks, it));
        }
        keyed.sort_by(|a, b| {
            for (i, (_, desc)) in keys.iter().enumerate() {
                let ord = sort_key_cmp(&a.0[i], &b.0[i]);
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        Ok(keyed.into_iter().map(|(_, it)| it).collect())
    }
}

/// The order of `sort by` keys: integers first, in numeric order, then the
/// other values in text order. A total order, whatever the mix (comparing
/// integers as numbers and the rest as text, pair by pair, is not: 9 < 10
/// as numbers, "10" < "1a" and "1a" < "9" as text).
fn sort_key_cmp(x: &str, y: &str) -> std::cmp::Ordering {
    match (x.trim().parse::<i64>(), y.trim().parse::<i64>()) {
        (Ok(p), Ok(q)) => p.cmp(&q),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => x.cmp(y),
    }
}

#[cfg(test)]
mod tests {
    use super::sort_key_cmp;

    #[test]
    fn sort_keys_have_a_total_order() {
        let mut v: Vec<String> = ["10", "9", "1a", "b", "-3", " 2", "a", "007", "", "1a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Many mixed keys: std's sort panics on an order that is not total.
        for i in 0..2000 {
            v.push(if i % 3 == 0 {
                format!("{}", i % 97)
            } else {
                format!("{}x", i % 89)
            });
        }
        v.sort_by(|a, b| sort_key_cmp(a, b));
        let head: Vec<&str> = v.iter().take(4).map(String::as_str).collect();
        assert_eq!(head, ["-3", "0", "0", "0"]);
        for w in v.windows(2) {
            assert_ne!(sort_key_cmp(&w[0], &w[1]), std::cmp::Ordering::Greater);
        }
        assert!(v.iter().position(|s| s == "1a") > v.iter().position(|s| s == "96"));
    }
}
