//! Declarations: tables, session tables, rename rules, rule dispatch tables,
//! and the checks that go with them.

use std::collections::HashMap;

use super::{find, lit_type, lit_value, norm, Compiler, Scope};
use crate::diag::{suggest, Diagnostic};
use crate::program::*;
use crate::syntax::ast::{self, Span, Type};

impl Compiler {
    /// Tables and functions share one namespace with the built-ins; a
    /// duplicate of the same kind is reported by `declare`.
    pub(super) fn check_callable_name(&mut self, id: &ast::Ident, is_table: bool) {
        if builtin_by_name(&id.name).is_some() {
            self.error(
                "hvx::duplicate-definition",
                id.span,
                format!("`{}` is a built-in function", id.name),
                "this name is taken by a built-in",
            )
            .help = Some("choose another name".into());
        }
        let clash = if is_table {
            find(&self.fns, &id.name).map(|i| self.fns[i].loc)
        } else {
            find(&self.tables, &id.name).map(|i| self.tables[i].loc)
        };
        if let Some(l) = clash {
            let lbl = self.label(l, "first defined here");
            self.error(
                "hvx::duplicate-definition",
                id.span,
                format!(
                    "`{}` is already {}",
                    id.name,
                    if is_table { "a function" } else { "a table" }
                ),
                "defined again here",
            )
            .secondary
            .push(lbl);
        }
    }

    pub(super) fn check_session(&mut self, s: &ast::SessionDecl) {
        use ast::SessionType::Uuid;
        match &s.miss {
            ast::Miss::Mint(None) if s.left != Uuid && s.right != Uuid => {
                self.error(
                    "hvx::session-mint",
                    s.name.span,
                    format!(
                        "session table `{}` cannot mint values without a pattern",
                        s.name.name
                    ),
                    "no uuid side to mint into",
                )
                .help =
                    Some("give a pattern such as `miss mint \"vm-{n}\"`, or `miss fail`".into());
            }
            ast::Miss::Mint(Some(p)) if !p.contains("{n}") => {
                self.error(
                    "hvx::session-mint",
                    s.name.span,
                    format!("mint pattern `{p}` of `{}` has no `{{n}}`", s.name.name),
                    "patterns need `{n}`, the sequence number",
                );
            }
            ast::Miss::Mint(Some(p)) => {
                // A pattern mints on the side a lookup asks for: what it
                // gives must be of that side's type (a uuid side mints
                // UUIDs when it gives none, see session::mint).
                let value = p.replace("{n}", "1");
                let wrong = |ty: ast::SessionType| {
                    (ty != ast::SessionType::Uuid)
                        .then(|| crate::session::normalise(ty, &value).err())
                        .flatten()
                };
                let name = &s.name.name;
                let (left, right) = (wrong(s.left), wrong(s.right));
                let wrong_left = left.is_some();
                match (left, right) {
                    (Some(e), Some(_)) => {
                        self.error(
                            "hvx::session-mint",
                            s.name.span,
                            format!(
                                "mint pattern `{p}` of `{name}` gives values of neither side's type ({} <-> {}): {e}",
                                s.left.name(),
                                s.right.name()
                            ),
                            "every lookup that misses would fail",
                        );
                    }
                    (Some(e), None) | (None, Some(e)) => {
                        let (side, ty) = if wrong_left {
                            ("left", s.left)
                        } else {
                            ("right", s.right)
                        };
                        self.warn(
                            "hvx::session-mint-type",
                            s.name.span,
                            format!(
                                "mint pattern `{p}` of `{name}` gives no {} value ({e}): a `{name}.{side}(...)` that misses fails at run time",
                                ty.name()
                            ),
                            "the pattern fits one side only",
                        );
                    }
                    (None, None) => {}
                }
            }
            _ => {}
        }
    }

    pub(super) fn table(&mut self, t: &ast::Table) -> TableDef {
        let mut ordered = Vec::new();
        let mut index: HashMap<String, u32, FxBuild> = HashMap::default();
        // Where each row's key is written (by its place in `ordered`).
        let mut spans: Vec<Span> = Vec::new();
        for row in &t.rows {
            for (k, sp) in &row.keys {
                self.check_lit(t.key_ty, k, *sp);
                let key = lit_value(k).as_string();
                if let Some(&prev) = index.get(&key) {
                    let l = self.label(self.loc(spans[prev as usize]), "first here");
                    self.error(
                        "hvx::duplicate-key",
                        *sp,
                        format!("table `{}` has the key `{key}` twice", t.name.name),
                        "duplicate key",
                    )
                    .secondary
                    .push(l);
                    continue;
                }
                spans.push(*sp);
                index.insert(key.clone(), ordered.len() as u32);
                ordered.push((key, lit_value(&row.value)));
            }
            self.check_lit(t.val_ty, &row.value, row.span);
        }
        let default = t
            .default
            .as_ref()
            .and_then(|(v, _)| v.as_ref().map(lit_value));
        if t.default.is_none() {
            self.error(
                "hvx::table-default",
                t.name.span,
                format!("table `{}` does not say what a miss does", t.name.name),
                "no `_ => ...` row",
            )
            .help = Some(
                "add `_ => error` to fail on a miss, or `_ => \"value\"` for a default".into(),
            );
        }
        TableDef {
            name: t.name.name.clone(),
            key_ty: t.key_ty,
            val_ty: t.val_ty,
            ordered,
            index,
            default,
            loc: self.loc(t.name.span),
        }
    }

    pub(super) fn check_lit(&mut self, want: Type, lit: &ast::Lit, sp: Span) {
        let ok = matches!(
            (want, lit),
            (Type::Any, _)
                | (Type::String, ast::Lit::Str(_))
                | (Type::Int | Type::Uint, ast::Lit::Int(_))
                | (Type::Bool, ast::Lit::Bool(_))
        ) || matches!((want, lit), (Type::String, _));
        if !ok {
            self.error(
                "hvx::type-mismatch",
                sp,
                format!("expected a {} value", want.name()),
                format!("this is a {}", lit_type(lit).name()),
            );
        }
    }

    pub(super) fn rename(&mut self, rn: &ast::Rename) -> Option<RenameDef> {
        self.scope = Scope::default();
        let from = self.name_test(
            &ast::QName {
                prefix: None,
                local: String::new(),
                span: rn.from.name.span,
            },
            &rn.from.name.name,
            rn.from.attr,
        )?;
        let to = self.out_name(&rn.to.name, rn.to.attr)?;
        let via = match &rn.via {
            None => None,
            Some((id, reverse)) => {
                if let Some(i) = find(&self.sessions, &id.name) {
                    self.sessions[i].used = true;
                    Some(Via::Session {
                        id: i as u32,
                        reverse: *reverse,
                    })
                } else if let Some(i) = find(&self.tables, &id.name) {
                    self.tables[i].used = true;
                    if *reverse {
                        self.error(
                            "hvx::reverse-table",
                            id.span,
                            "static tables have no reverse lookup",
                            "only session tables are bidirectional",
                        );
                    }
                    Some(Via::Table(i as u32))
                } else {
                    let names: Vec<&str> = self
                        .sessions
                        .iter()
                        .chain(self.tables.iter())
                        .map(|s| s.name.as_str())
                        .collect();
                    let help = suggest(&id.name, names);
                    let d = self.error(
                        "hvx::undefined-table",
                        id.span,
                        format!("no table or session table named `{}`", id.name),
                        "not defined",
                    );
                    d.help = help;
                    None
                }
            }
        };
        Some(RenameDef {
            attr: rn.from.attr,
            from,
            from_ty: rn.from_ty,
            to,
            to_ty: rn.to_ty,
            via,
            loc: self.loc(rn.span),
        })
    }

    /// Sorts rules into per-mode dispatch tables and reports duplicates and
    /// shadowed rules.
    pub(super) fn dispatch(
        &mut self,
        rules: &[RuleDef],
        rule_modes: &[(u32, Span, u16)],
    ) -> Vec<ModeDef> {
        let mut modes: Vec<ModeDef> = self
            .modes
            .iter()
            .map(|m| ModeDef {
                name: m.name.clone(),
                ..Default::default()
            })
            .collect();
        // Duplicate and shadowed rules: rules of one mode with one pattern
        // form a group; the first rule of the highest priority is the one
        // that fires. Every other rule of the group gets one diagnostic
        // against it (so n copies of a rule give n - 1, not n² / 2).
        let mut groups: std::collections::HashMap<(u32, String), Vec<usize>> =
            std::collections::HashMap::new();
        for (i, a) in rules.iter().enumerate() {
            groups
                .entry((rule_modes[i].0, norm(&a.pattern.text)))
                .or_default()
                .push(i);
        }
        let mut found: Vec<(usize, usize)> = Vec::new();
        for g in groups.values().filter(|g| g.len() > 1) {
            let winner = g.iter().copied().fold(g[0], |w, k| {
                if rules[k].priority > rules[w].priority {
                    k
                } else {
                    w
                }
            });
            found.extend(g.iter().filter(|&&k| k != winner).map(|&k| (k, winner)));
        }
        found.sort_unstable();
        for (i, w) in found {
            let (a, b) = (&rules[i], &rules[w]);
            self.cur_src = rule_modes[i].2;
            let other = self.label(
                b.loc,
                if a.priority == b.priority {
                    "the other rule"
                } else {
                    "the rule that fires"
                },
            );
            if a.priority == b.priority {
                let msg = format!(
                    "two rules match `{}` in the same mode with the same priority",
                    a.pattern.text
                );
                self.error(
                    "hvx::conflicting-rules",
                    rule_modes[i].1,
                    msg,
                    "same pattern, same priority",
                )
                .secondary
                .push(other);
            } else {
                let msg = format!("rule for `{}` can never fire: another rule with the same pattern has a higher priority", a.pattern.text);
                self.warn("hvx::shadowed-rule", rule_modes[i].1, msg, "shadowed")
                    .secondary
                    .push(other);
            }
        }
        for (id, r) in rules.iter().enumerate() {
            let m = &mut modes[rule_modes[id].0 as usize];
            let id = id as RuleId;
            if m.by_name.is_empty() {
                m.by_name = vec![Vec::new(); self.names.len()];
            }
            match r.pattern.steps.last().map(|s| &s.test) {
                None => m.root.push(id),
                Some(Test::Elem(nt)) if nt.id != NO_NAME => m.by_name[nt.id as usize].push(id),
                Some(Test::Elem(_)) => m.any_elem.push(id),
                Some(Test::Attr(_)) => m.attr.push(id),
                Some(Test::Text) => m.text.push(id),
                Some(Test::SelfNode | Test::Parent | Test::Filter) => m.any_elem.push(id),
            }
        }
        let by_prio = |v: &mut Vec<RuleId>| {
            v.sort_by(|a, b| {
                rules[*b as usize]
                    .priority
                    .total_cmp(&rules[*a as usize].priority)
            })
        };
        for m in &mut modes {
            let any = m.any_elem.clone();
            for v in m.by_name.iter_mut().filter(|v| !v.is_empty()) {
                v.extend(any.iter().copied());
                by_prio(v);
            }
            by_prio(&mut m.any_elem);
            by_prio(&mut m.text);
            by_prio(&mut m.root);
            by_prio(&mut m.attr);
        }
        modes
    }

    pub(super) fn unused_warnings(&mut self) {
        if self.library_mode {
            return;
        }
        let mut warns = Vec::new();
        for (kind, syms) in [
            ("parameter", &self.globals),
            ("table", &self.tables),
            ("session table", &self.sessions),
            ("function", &self.fns),
            ("template", &self.templates),
        ] {
            for s in syms.iter().filter(|s| !s.used && !s.name.starts_with('_')) {
                // Library definitions are shared; only the mapping's own are warned about.
                if s.loc.source == 0 && kind != "parameter" {
                    warns.push((s.loc, format!("{kind} `{}` is never used", s.name)));
                }
            }
        }
        for (loc, msg) in warns {
            let l = self.label(loc, "never used");
            self.diags.push(
                Diagnostic::warning("hvx::unused", msg, l)
                    .with_help("remove it, or prefix its name with `_`"),
            );
        }
        // A mode no `apply` names: its rules never run (a typo in
        // `on x mode NAME`, most often).
        let applied: Vec<String> = self
            .modes
            .iter()
            .filter(|m| m.used && m.name != "default")
            .map(|m| m.name.clone())
            .collect();
        let idle: Vec<(Loc, String)> = self
            .modes
            .iter()
            .filter(|m| !m.used && m.loc.source == 0 && !m.name.starts_with('_'))
            .map(|m| (m.loc, m.name.clone()))
            .collect();
        for (loc, name) in idle {
            let l = self.label(loc, "no `apply` uses this mode");
            let help = crate::diag::suggest(&name, applied.iter().map(String::as_str))
                .unwrap_or_else(|| format!("apply them with `apply PATH mode {name};`"));
            self.diags.push(
                Diagnostic::warning(
                    "hvx::unused",
                    format!("the rules in mode `{name}` never run: no `apply` uses the mode"),
                    l,
                )
                .with_help(help),
            );
        }
    }
}
