//! Deep copies of input nodes (with secrets left out and rename rules
//! applied), rename rules, and static table lookups.

use std::borrow::Cow;

use super::value::{Item, Val};
use super::{report, Cx, Run, Warning, R};
use crate::program::*;

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    /// Whether a secret pattern matches `item` (never with --keep-secrets).
    /// A node no pattern can name is passed by here, without a call.
    #[inline]
    pub(super) fn is_secret(&mut self, item: Item<'a, 'i>) -> R<bool> {
        if self.opts.keep_secrets || self.p.secrets.is_empty() {
            return Ok(false);
        }
        let kinds = &self.p.secret_kinds;
        let may = match item {
            Item::Attr(n, i) => n
                .attributes()
                .nth(i as usize)
                .is_some_and(|a| kinds.attr(a.name())),
            Item::Node(n) if n.is_element() => kinds.elements,
            Item::Node(n) if n.is_text() => kinds.texts,
            Item::Node(_) => true,
        };
        if !may {
            return Ok(false);
        }
        self.secret_matches(item)
    }

    #[inline(never)]
    fn secret_matches(&mut self, item: Item<'a, 'i>) -> R<bool> {
        for k in 0..self.p.secrets.len() {
            if self.pattern_matches(&self.p.secrets[k], item)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(super) fn redact(&mut self, item: Item<'a, 'i>, loc: Loc) {
        self.touch_subtree(item);
        let pos = report::pos(self.doc, self.lines(), item);
        self.warnings.push(Warning {
            message: format!(
                "secret {} not copied (use --keep-secrets to copy it)",
                pos.path
            ),
            action: false,
            mapping: self.p.describe(loc),
            input: Some(pos),
        });
    }

    /// Deep copy of an input node into the output, honouring secrets and
    /// rename rules.
    pub(super) fn copy(&mut self, item: Item<'a, 'i>, loc: Loc) -> R<()> {
        if self.is_secret(item)? {
            self.redact(item, loc);
            return Ok(());
        }
        if let Some(ri) = self.rename_for(item) {
            return self.emit_renamed(item, ri);
        }
        self.mark_origin(item);
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
                // Attributes copied here rather than through `copy` (a call,
                // and the rename and secret checks, for each of them): the
                // general path only for one a rule may rename or hide.
                let plain = self.p.renames.is_empty();
                for (i, a) in n.attributes().enumerate() {
                    let it = Item::Attr(n, i as u32);
                    if !plain || self.is_secret(it)? {
                        self.copy(it, loc)?;
                        continue;
                    }
                    self.mark_origin(it);
                    self.touch(it);
                    let ns = a.namespace();
                    let prefix = ns.and_then(|u| n.lookup_prefix(u));
                    let r = self.out.attr_ns(a.name(), ns, prefix, a.value());
                    self.write(loc, it, r)?;
                }
                // Whitespace between child elements is the input's indentation,
                // not data: the writer indents the copy itself.
                let has_elements = n.children().any(|c| c.is_element());
                for c in n.children() {
                    let blank = c.is_text() && c.text().is_some_and(is_blank);
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

    pub(super) fn rename_for(&self, item: Item<'a, 'i>) -> Option<usize> {
        if self.p.renames.is_empty() {
            return None;
        }
        self.p.renames.iter().position(|r| match item {
            Item::Node(n) if n.is_element() && !r.attr => r.from.matches(
                n.tag_name().name(),
                self.p.canon_ns(n.tag_name().namespace()),
            ),
            Item::Attr(n, i) if r.attr => n
                .attributes()
                .nth(i as usize)
                .is_some_and(|a| r.from.matches(a.name(), self.p.canon_ns(a.namespace()))),
            _ => false,
        })
    }

    pub(super) fn emit_renamed(&mut self, item: Item<'a, 'i>, ri: usize) -> R<()> {
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
            let r = self.attr_named(&rn.to, &out);
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

    pub(super) fn table_lookup(
        &self,
        t: TableId,
        key: &str,
        loc: Loc,
        at: Option<Item<'a, 'i>>,
    ) -> R<String> {
        self.table_value(t, key, loc, at).map(Value::as_string)
    }

    /// The row of table `t` for `key`, or its default; an error without one.
    pub(super) fn table_value(
        &self,
        t: TableId,
        key: &str,
        loc: Loc,
        at: Option<Item<'a, 'i>>,
    ) -> R<&'p Value> {
        let table = &self.p.tables[t as usize];
        match table.row(key).or(table.default.as_ref()) {
            Some(v) => Ok(v),
            None => Err(self.err(
                loc,
                at,
                format!(
                    "table `{}` has no entry for `{}` (known: {})",
                    table.name,
                    crate::convert::short(key),
                    {
                        let mut k: Vec<&str> =
                            table.ordered.iter().map(|(k, _)| k.as_str()).collect();
                        k.sort_unstable();
                        k.join(", ")
                    }
                ),
            )),
        }
    }
}

/// Whether `t` is whitespace only (`str::trim`'s whitespace): ASCII looked
/// at byte by byte, the rest by `trim`.
fn is_blank(t: &str) -> bool {
    let b = t.as_bytes();
    match b.iter().position(|c| !matches!(c, b' ' | b'\t'..=b'\r')) {
        None => true,
        Some(i) if b[i] >= 0x80 => t[i..].trim().is_empty(),
        Some(_) => false,
    }
}
