//! Diagnostics as plain data: severity, code, message and labelled spans in
//! mapping files. Rendering (miette, JSON, GitHub annotations, SARIF) happens at
//! the edge, in `crate::render`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::syntax::ast::Span;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One loaded source file (a mapping or a library), shared by the diagnostics
/// that point into it.
#[derive(Debug)]
pub struct Source {
    /// The name shown to users: a path, or `<builtin>/kvm-to-hvx.hvx` for
    /// mappings embedded in the binary.
    pub name: String,
    pub path: Option<PathBuf>,
    pub text: String,
}

impl Source {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte offsets of line starts, for fast offset → line:col.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        // memchr's iterator: `match_indices('\n')` runs a char searcher
        // per line, more than a short line costs to scan.
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0u32);
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i as u32 + 1));
        LineIndex { starts }
    }
    /// 1-based line and column (in characters) of a byte offset in `text`.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char(text, offset.min(text.len()));
        let line = self.starts.partition_point(|&s| s as usize <= offset);
        let start = self.starts[line - 1] as usize;
        (line, text[start..offset].chars().count() + 1)
    }
    /// The byte offset of a 1-based line and column (in characters) of
    /// `text`: [`Self::line_col`] backwards (past the end: the end).
    pub fn offset(&self, text: &str, line: usize, col: usize) -> usize {
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else {
            return text.len();
        };
        let start = start as usize;
        text[start..]
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(text.len(), |(i, _)| start + i)
    }
}

/// A label: a span in a source with a short text.
#[derive(Debug, Clone)]
pub struct Label {
    pub source: Arc<Source>,
    pub span: Span,
    pub text: String,
}

/// One diagnostic about a mapping file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable code such as `hvx::undefined-variable`.
    pub code: &'static str,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, primary: Label) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary,
            secondary: Vec::new(),
            help: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>, primary: Label) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, primary)
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn with_secondary(mut self, label: Label) -> Self {
        self.secondary.push(label);
        self
    }
    /// `file:line:col` of the primary label.
    pub fn location(&self) -> (String, usize, usize) {
        let (l, c) = self
            .primary
            .source
            .line_col(self.primary.span.start as usize);
        (self.primary.source.name.clone(), l, c)
    }
}

/// Every diagnostic from loading and compiling one mapping.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn errors(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.items.len() - self.errors()
    }
}

/// Edit distance counting a swap of two neighbouring characters as one
/// edit (`nmae` → `name`), for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    distance_within(&a, &b, usize::MAX).unwrap_or(usize::MAX)
}

/// The distance of [`edit_distance`] if it is at most `limit`: `None` as
/// soon as every cell of a row exceeds it (the distance only grows from
/// there), and at once when the lengths alone differ by more.
fn distance_within(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Three rows: two back (for swaps), one back, this one.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            let mut d = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = d;
            row_min = row_min.min(d);
        }
        // A swap reaches back two rows: stop only when both exceed the limit.
        let prev_min = prev.iter().copied().min().unwrap_or(0);
        if row_min > limit && prev_min > limit {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|d| *d <= limit)
}

/// The closest candidate to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let name: Vec<char> = name.chars().collect();
    let limit = (name.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    let mut buf = Vec::new();
    for c in candidates {
        // Cheap first: a length that differs by more than the limit.
        let len = if c.is_ascii() {
            c.len()
        } else {
            c.chars().count()
        };
        if len.abs_diff(name.len()) > limit {
            continue;
        }
        buf.clear();
        buf.extend(c.chars());
        let bound = best.map_or(limit, |(d, _)| d.saturating_sub(1)).min(limit);
        if let Some(d) = distance_within(&name, &buf, bound) {
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, c));
            }
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_distances_agree_with_the_full_one() {
        // Pseudo-random strings over a small alphabet (many near misses).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut word = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 9) as usize;
            (0..n)
                .map(|i| ['a', 'b', 'c', 'é'][((x >> (i * 2)) % 4) as usize])
                .collect::<Vec<char>>()
        };
        for _ in 0..3000 {
            let (a, b) = (word(), word());
            let full = distance_within(&a, &b, usize::MAX).unwrap();
            for limit in 0..6 {
                let want = (full <= limit).then_some(full);
                assert_eq!(distance_within(&a, &b, limit), want, "{a:?} {b:?} {limit}");
            }
        }
        let names = ["name", "nmae", "memory", "memoryMB", "numCPUs"];
        assert_eq!(
            suggest("nmae", names).as_deref(),
            Some("did you mean `nmae`?")
        );
        assert_eq!(
            suggest("memroy", names).as_deref(),
            Some("did you mean `memory`?")
        );
        assert_eq!(suggest("zzzzzz", names), None);
    }

    #[test]
    fn suggestions_pick_the_nearest_name() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            suggest("nmae", ["name", "uuid"]).as_deref(),
            Some("did you mean `name`?")
        );
        assert_eq!(
            suggest("nic_modle", ["nic_model", "disk_bus"]).as_deref(),
            Some("did you mean `nic_model`?")
        );
        assert_eq!(suggest("zzz", ["nic_model"]), None);
    }

    #[test]
    fn line_col_counts_characters() {
        let s = Source {
            name: "m.hvx".into(),
            path: None,
            text: "ab\nçd x".into(),
        };
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(7), (2, 4));
    }
}
