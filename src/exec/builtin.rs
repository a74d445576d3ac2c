//! Built-in functions: strings, conversions, node functions.

use std::borrow::Cow;

use super::value::{Item, Val};
use super::{Cx, Run, R};
use crate::convert;
use crate::program::*;

/// The widest `pad` (a zero-padded number wider than this is no identifier
/// or file name anyone writes; wider is an error, not cut).
const MAX_PAD: i64 = 1024;

impl<'p: 'a, 'a, 'i> Run<'p, 'a, 'i> {
    pub(super) fn builtin(
        &mut self,
        b: Builtin,
        args: &'p [Expr],
        loc: Loc,
        cx: &Cx<'a, 'i>,
        locals: &[Val<'a, 'i>],
    ) -> R<Val<'a, 'i>> {
        use Builtin as B;
        let s = |x: String| Val::Str(Cow::Owned(x));
        // Conversions report failures at the node the value came from.
        macro_rules! convert_at {
            ($f:expr) => {{
                let v = self.eval(&args[0], cx, locals)?;
                if v.is_empty() {
                    // A missing or empty value converts to nothing;
                    // `<x>? = int(y)` then skips it.
                    return Ok(Val::empty_str());
                }
                let at = v.origin().or(Some(cx.item));
                let text = self.string_into(v);
                let r = $f(&text).map_err(|m: String| self.err(loc, at, m))?;
                self.give_str(text);
                r
            }};
        }
        Ok(match b {
            B::Concat => {
                let mut out = String::new();
                for a in args {
                    out.push_str(&self.str_arg(a, cx, locals)?);
                }
                s(out)
            }
            // Text that is already in the wanted form is passed on, not copied.
            B::Upper => {
                let text = self.str_arg(&args[0], cx, locals)?;
                if text.chars().any(char::is_lowercase) {
                    s(text.to_uppercase())
                } else {
                    Val::Str(text)
                }
            }
            B::Lower => {
                let text = self.str_arg(&args[0], cx, locals)?;
                if text.chars().any(char::is_uppercase) {
                    s(text.to_lowercase())
                } else {
                    Val::Str(text)
                }
            }
            B::Trim => Val::Str(match self.str_arg(&args[0], cx, locals)? {
                Cow::Borrowed(t) => Cow::Borrowed(t.trim()),
                Cow::Owned(t) => Cow::Owned(t.trim().to_string()),
            }),
            B::Length => Val::Int(self.str_arg(&args[0], cx, locals)?.chars().count() as i64),
            B::Substring => {
                let text = self.str_arg(&args[0], cx, locals)?;
                let start = self.int_arg(&args[1], cx, locals)?.max(0) as usize;
                // Character positions to byte offsets.
                let at = |t: &str, n: usize| t.char_indices().nth(n).map_or(t.len(), |(i, _)| i);
                let from = at(&text, start);
                let to = match args.get(2) {
                    Some(l) => {
                        let len = self.int_arg(l, cx, locals)?.max(0) as usize;
                        from + at(&text[from..], len)
                    }
                    None => text.len(),
                };
                Val::Str(part(text, from..to))
            }
            B::Replace => {
                let text = self.str_arg(&args[0], cx, locals)?;
                let from = self.str_arg(&args[1], cx, locals)?;
                let to = self.str_arg(&args[2], cx, locals)?;
                if from.is_empty() {
                    return Err(self.err(
                        loc,
                        Some(cx.item),
                        "replace: the text to replace is empty",
                    ));
                }
                match replace_str(&text, &from, &to) {
                    Some(r) => s(r),
                    None => Val::Str(text),
                }
            }
            B::Split => {
                let text = self.str_arg(&args[0], cx, locals)?;
                let sep = self.str_arg(&args[1], cx, locals)?;
                let i = self.int_arg(&args[2], cx, locals)?;
                if sep.is_empty() {
                    return Err(self.err(loc, Some(cx.item), "split: the separator is empty"));
                }
                Val::Str(match text {
                    Cow::Borrowed(t) => Cow::Borrowed(nth_part(t, &sep, i)),
                    Cow::Owned(t) => Cow::Owned(nth_part(&t, &sep, i).to_string()),
                })
            }
            B::Format => {
                let tmpl = self.str_arg(&args[0], cx, locals)?.into_owned();
                let mut out = String::new();
                let mut rest = tmpl.as_str();
                let mut k = 1;
                while let Some(i) = rest.find("{}") {
                    out.push_str(&rest[..i]);
                    let Some(a) = args.get(k) else {
                        return Err(self.err(
                            loc,
                            Some(cx.item),
                            format!(
                                "format: more `{{}}` than arguments ({} given)",
                                args.len() - 1
                            ),
                        ));
                    };
                    out.push_str(&self.str_arg(a, cx, locals)?);
                    k += 1;
                    rest = &rest[i + 2..];
                }
                out.push_str(rest);
                if k != args.len() {
                    return Err(self.err(
                        loc,
                        Some(cx.item),
                        format!(
                            "format: {} argument(s) but {} `{{}}`",
                            args.len() - 1,
                            k - 1
                        ),
                    ));
                }
                s(out)
            }
            B::Contains | B::StartsWith | B::EndsWith => {
                let a = self.str_arg(&args[0], cx, locals)?;
                let c = self.str_arg(&args[1], cx, locals)?;
                Val::Bool(match b {
                    B::Contains => find_str(&a, &c).is_some(),
                    B::StartsWith => a.starts_with(c.as_ref()),
                    _ => a.ends_with(c.as_ref()),
                })
            }
            B::Count => match self.eval(&args[0], cx, locals)? {
                Val::Nodes(n) => Val::Int(n.len() as i64),
                _ => return Err(self.err(loc, Some(cx.item), "count needs a node list")),
            },
            B::Position => Val::Int(cx.pos as i64),
            B::Last => Val::Int(cx.size as i64),
            B::Exists => Val::Bool(!self.eval_is_empty(&args[0], cx, locals)?),
            B::Empty => Val::Bool(self.eval_is_empty(&args[0], cx, locals)?),
            B::Not => Val::Bool(!self.eval_truthy(&args[0], cx, locals)?),
            // The node's text borrowed from the document, as paths give it.
            B::String => Val::Str(self.str_arg(&args[0], cx, locals)?),
            B::Int => Val::Int(convert_at!(convert::int)),
            B::Uint => Val::Int(convert_at!(convert::uint)),
            B::Bool => Val::Bool(convert_at!(convert::bool)),
            B::Hex => Val::Int(convert_at!(convert::hex)),
            B::Mac => s(convert_at!(convert::mac)),
            B::Uuid => s(convert_at!(convert::uuid)),
            B::UuidVmware => s(convert_at!(convert::uuid_vmware)),
            B::UuidHyperv => s(convert_at!(convert::uuid_hyperv)),
            B::Size => {
                let unit = match args.get(1) {
                    Some(u) => self.str_arg(u, cx, locals)?.into_owned(),
                    None => String::new(),
                };
                Val::Int(convert_at!(|t: &str| convert::size(t, &unit)))
            }
            B::InUnit | B::InUnitCeil => {
                let bytes = self.int_arg(&args[0], cx, locals)?;
                let unit = self.str_arg(&args[1], cx, locals)?;
                Val::Int(
                    convert::in_unit(bytes, &unit, b == B::InUnitCeil)
                        .map_err(|m| self.err(loc, Some(cx.item), m))?,
                )
            }
            B::ToHex => {
                let i = self.int_arg(&args[0], cx, locals)?;
                s(format!("{i:#x}"))
            }
            B::Pad => {
                let i = self.int_arg(&args[0], cx, locals)?;
                let w = self.int_arg(&args[1], cx, locals)?;
                if !(0..=MAX_PAD).contains(&w) {
                    return Err(self.err(
                        loc,
                        Some(cx.item),
                        format!("pad({i}, {w}): the width must be 0 to {MAX_PAD}"),
                    ));
                }
                let w = w as usize;
                s(format!("{i:0w$}"))
            }
            B::Min | B::Max => {
                let x = self.int_arg(&args[0], cx, locals)?;
                let y = self.int_arg(&args[1], cx, locals)?;
                Val::Int(if b == B::Min { x.min(y) } else { x.max(y) })
            }
            B::Name | B::LocalName => {
                let it = match args.first() {
                    Some(a) => match self.eval(a, cx, locals)? {
                        Val::Nodes(n) => n.first().copied(),
                        _ => None,
                    },
                    None => Some(cx.item),
                };
                // Borrowed from the document; a prefix (`name()` only) is
                // looked up through the ancestors' declarations.
                let name: Cow<'a, str> = match it {
                    Some(Item::Node(n)) if n.is_element() => {
                        let tn = n.tag_name();
                        let prefix = match b {
                            B::Name => tn.namespace().and_then(|u| n.lookup_prefix(u)),
                            _ => None,
                        };
                        match prefix {
                            Some(p) if !p.is_empty() => Cow::Owned(format!("{p}:{}", tn.name())),
                            _ => Cow::Borrowed(tn.name()),
                        }
                    }
                    Some(Item::Attr(n, i)) => n
                        .attributes()
                        .nth(i as usize)
                        .map_or(Cow::Borrowed(""), |a| Cow::Borrowed(a.name())),
                    _ => Cow::Borrowed(""),
                };
                Val::Str(name)
            }
            B::Basename | B::Dirname | B::Stem => {
                let path = self.str_arg(&args[0], cx, locals)?;
                let cut = path.rfind(['/', '\\']);
                let base = cut.map_or(0, |i| i + 1);
                let range = match b {
                    B::Basename => base..path.len(),
                    B::Dirname => 0..cut.unwrap_or(0),
                    _ => match path[base..].rfind('.') {
                        Some(i) if i > 0 => base..base + i,
                        _ => base..path.len(),
                    },
                };
                Val::Str(part(path, range))
            }
            B::ShellQuote => {
                let s = self.str_arg(&args[0], cx, locals)?;
                Val::Str(shell_quote(s))
            }
            B::DocOrder => {
                let it = match args.first() {
                    Some(a) => self.nodes(a, cx, locals)?.first().copied(),
                    None => Some(cx.item),
                };
                Val::Int(
                    it.map(|i| i.key().0 as i64 * 65536 + i.key().1 as i64)
                        .unwrap_or(-1),
                )
            }
            B::NodeIndex => {
                let it = match args.first() {
                    Some(a) => self.nodes(a, cx, locals)?.first().copied(),
                    None => Some(cx.item),
                };
                Val::Int(match it {
                    Some(Item::Node(n)) => {
                        n.prev_siblings().filter(|s| s.is_element()).count() as i64
                    }
                    _ => 0,
                })
            }
            B::Choose => {
                let then = self.eval_truthy(&args[0], cx, locals)?;
                if self.obs.is_some() {
                    self.hit(super::Probe::Arm(loc, u32::from(!then)));
                }
                if then {
                    self.eval(&args[1], cx, locals)?
                } else {
                    self.eval(&args[2], cx, locals)?
                }
            }
            B::Default => {
                let v = self.eval(&args[0], cx, locals)?;
                if v.is_empty() {
                    self.eval(&args[1], cx, locals)?
                } else {
                    v
                }
            }
            B::Require => {
                let v = self.eval(&args[0], cx, locals)?;
                if v.is_empty() {
                    let msg = match args.get(1) {
                        Some(m) => self.str_arg(m, cx, locals)?.into_owned(),
                        None => "a required value is missing".to_string(),
                    };
                    return Err(self.err(loc, Some(cx.item), msg));
                }
                v
            }
            B::Join => {
                let v = self.eval(&args[0], cx, locals)?;
                let sep = self.str_arg(&args[1], cx, locals)?;
                let parts: Vec<String> = match &v {
                    Val::Nodes(items) => {
                        for i in items.iter() {
                            self.touch_read(*i);
                        }
                        items.iter().map(|i| i.string().into_owned()).collect()
                    }
                    other => vec![other.string().into_owned()],
                };
                s(parts.join(&sep))
            }
        })
    }
}

/// Where `needle` first occurs in `hay`. In a short text (what mappings
/// mostly search: names, paths, ids) each place the needle's first byte
/// occurs is compared, which takes less than setting up std's two-way
/// search (a few hundred instructions for a 70-byte needle); longer texts
/// take std's search, linear in every case. (A match starts at a byte equal
/// to the needle's first, a character's first byte: a char boundary.)
pub(super) fn find_str(hay: &str, needle: &str) -> Option<usize> {
    /// At most this many bytes compared at each candidate place, times as
    /// many places: bounded work on any input.
    const SHORT: usize = 256;
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return Some(0);
    };
    if n.len() > h.len() {
        return None;
    }
    if h.len() > SHORT {
        return hay.find(needle);
    }
    let last = h.len() - n.len();
    let mut i = 0;
    while i <= last {
        i += h[i..=last].iter().position(|&b| b == first)?;
        if &h[i + 1..i + n.len()] == rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `text` with every `from` (not empty) replaced by `to`, left to right as
/// `str::replace` does; `None` when there is none.
fn replace_str(text: &str, from: &str, to: &str) -> Option<String> {
    let mut at = find_str(text, from)?;
    let mut out = String::with_capacity(text.len() + to.len());
    let mut rest = text;
    loop {
        out.push_str(&rest[..at]);
        out.push_str(to);
        rest = &rest[at + from.len()..];
        match find_str(rest, from) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Part of a string: borrowed when the string is.
fn part(text: Cow<'_, str>, r: std::ops::Range<usize>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(&t[r]),
        Cow::Owned(t) => Cow::Owned(t[r].to_string()),
    }
}

/// The `i`th part of `text` split at `sep` (empty when there is none).
fn nth_part<'s>(text: &'s str, sep: &str, i: i64) -> &'s str {
    let Ok(i) = usize::try_from(i) else {
        return "";
    };
    // A one-byte separator (the common case) splits without a substring search.
    match sep.as_bytes() {
        [b] if b.is_ascii() => text.split(*b as char).nth(i),
        _ => text.split(sep).nth(i),
    }
    .unwrap_or("")
}

#[cfg(test)]
mod search_tests {
    use super::{find_str, replace_str};

    #[test]
    fn find_and_replace_agree_with_std_on_every_cut() {
        // Short and long texts, repeats, overlaps, multi-byte characters.
        let texts = [
            String::new(),
            "a".into(),
            "aaaa".into(),
            "abcabcabd".into(),
            "\\\\.\\root:X.InstanceID=\"Microsoft:1\\\\2\"".into(),
            "caf\u{e9} \u{e9}t\u{e9} \u{1F600}x\u{1F600}".into(),
            "ab".repeat(300),
            format!("{}needle{}", "x".repeat(400), "y".repeat(10)),
        ];
        let needles = [
            "a",
            "aa",
            "abd",
            "ab",
            "\\\\",
            "\"",
            "\u{e9}",
            "\u{1F600}x",
            "needle",
            "zz",
            "x",
            "",
        ];
        for t in &texts {
            for n in needles {
                assert_eq!(find_str(t, n), t.find(n), "{t:?} {n:?}");
                if !n.is_empty() {
                    let std = t.contains(n).then(|| t.replace(n, "<>"));
                    assert_eq!(replace_str(t, n, "<>"), std, "{t:?} {n:?}");
                }
            }
            for k in 0..t.len() {
                if let Some(n) = t.get(k..(k + 3).min(t.len())) {
                    assert_eq!(find_str(t, n), t.find(n), "{t:?} {n:?}");
                }
            }
        }
    }
}

/// `s` as one POSIX shell word: unchanged when every character is one no
/// shell treats specially (and `s` is not empty), else in single quotes,
/// each `'` written `'\''`.
fn shell_quote(s: Cow<'_, str>) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s;
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    Cow::Owned(q)
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    /// Each quoted word, given to `sh -c 'printf %s WORD'`, prints the
    /// string back: nothing in it is expanded, split or run.
    #[test]
    fn shell_quote_gives_one_word_back() {
        let hostile = [
            "/images/web.qcow2",
            "",
            "My VM/My VM.vmdk",
            "it's",
            "'",
            "a'b'c",
            "$(touch /tmp/hvx-pwned) `id` $HOME ${X}",
            "x; rm -rf /tmp/nothing && echo | cat > y",
            "*?[a]{b,c}~#!",
            "line\nbreak\ttab",
            "back\\slash \"dq\"",
            "ünïcödé ☃",
        ];
        for s in hostile {
            let q = shell_quote(s.into());
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {q}"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{s:?} → {q}");
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s, "{q}");
        }
        // Plain words stay as they are.
        assert_eq!(shell_quote("/a/b-c_d.raw".into()), "/a/b-c_d.raw");
        assert_eq!(shell_quote("[ds] x".into()), "'[ds] x'");
    }
}
