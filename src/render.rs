//! Rendering diagnostics at the edge: miette (human), JSON, GitHub workflow
//! annotations and SARIF 2.1.0.

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde_json::json;

use crate::diag::{Diagnostic, Severity};

/// Version of the JSON formats written by `check --format json`.
pub const CHECK_JSON_VERSION: u32 = 1;

struct Miette<'d> {
    d: &'d Diagnostic,
    /// None when a label's line is too long to draw: the locations are
    /// then written as `file:line:col` lines instead.
    src: Option<Windowed<'d>>,
}

thread_local! {
    /// The line index of the last text diagnostics were drawn from, with
    /// that text: a file's many diagnostics share one (comparing the text
    /// is a memcmp, far cheaper than indexing it again).
    static LINES: std::cell::RefCell<Option<(String, crate::diag::LineIndex)>> =
        const { std::cell::RefCell::new(None) };
}

/// The 1-based line of byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    LINES.with(|cell| {
        let mut c = cell.borrow_mut();
        if c.as_ref().is_none_or(|(t, _)| t != text) {
            *c = Some((text.to_string(), crate::diag::LineIndex::new(text)));
        }
        c.as_ref().map_or(1, |(_, idx)| idx.line_col(text, at).0)
    })
}

/// A mapping's text as miette reads it: only the lines around a span are
/// looked at (miette's own reader scans the file from its start for every
/// span, which makes thousands of diagnostics cost the square of the size).
struct Windowed<'s> {
    name: &'s str,
    text: &'s str,
}

impl SourceCode for Windowed<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let b = self.text.as_bytes();
        let start = span.offset();
        let end = start + span.len();
        if end > b.len() {
            return Err(MietteError::OutOfBounds);
        }
        let line_start = |at: usize| {
            b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1)
        };
        let line_end = |at: usize| {
            b[at..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |i| at + i)
        };
        // Without context (the header's `file:line:col`), the contents
        // start at the span, with its column (in bytes, as miette counts).
        let mut from = if before == 0 {
            start
        } else {
            line_start(start)
        };
        let column = start - line_start(start);
        for _ in 0..before {
            if from == 0 {
                break;
            }
            from = line_start(from - 1);
        }
        let mut to = line_end(end.saturating_sub(1).max(start));
        for _ in 0..after {
            if to >= b.len() {
                break;
            }
            to = line_end(to + 1);
        }
        let line = line_of(self.text, from) - 1;
        // The last line's newline too, as miette's own reader takes it (an
        // empty last context line is then drawn).
        if before > 0 && to < b.len() {
            to += 1;
        }
        // As miette's own reader counts: the lines from the file's start
        // through the window (miette joins the snippets of two labels when
        // the first's count reaches the second's line).
        let lines = line + b[from..to].iter().filter(|&&c| c == b'\n').count();
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            &b[from..to],
            SourceSpan::new(from.into(), to - from),
            line,
            if before == 0 { column } else { 0 },
            lines,
        )))
    }
}

/// Lines longer than this (in bytes) are not drawn: miette cannot draw a
/// label past column 65,535, and such a snippet is unreadable anyway.
const MAX_DRAWN_LINE: usize = 1000;

/// A secondary label in the primary's file is drawn with it when it is at
/// most this many lines away; farther ones are named in notes (miette draws
/// every line between two labels).
const MAX_DRAWN_GAP: usize = 8;

/// The length of the line holding byte `at` of `text`.
fn line_len(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    let start = text.as_bytes()[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = text.as_bytes()[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| at + i);
    end - start
}

impl std::fmt::Debug for Miette<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}
impl std::fmt::Display for Miette<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}
impl std::error::Error for Miette<'_> {}

impl miette::Diagnostic for Miette<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.d.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.src.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.src.as_ref()?;
        let p = &self.d.primary;
        let mut v = vec![LabeledSpan::new_primary_with_span(
            Some(p.text.clone()),
            p.span.range(),
        )];
        // Secondary labels near the primary are drawn; others are named in notes.
        for s in &self.d.secondary {
            if drawn_with_primary(self.d, s) {
                v.push(LabeledSpan::new_with_span(
                    Some(s.text.clone()),
                    s.span.range(),
                ));
            }
        }
        Some(Box::new(v.into_iter()))
    }
}

/// Whether secondary label `s` is drawn in the primary's snippet: same
/// file, a few lines away.
fn drawn_with_primary(d: &Diagnostic, s: &crate::diag::Label) -> bool {
    if !std::sync::Arc::ptr_eq(&s.source, &d.primary.source) {
        return false;
    }
    let (a, b) = (d.primary.span.start as usize, s.span.start as usize);
    let (lo, hi) = (a.min(b), a.max(b));
    let text = s.source.text.as_bytes();
    let lines_between = text[lo.min(text.len())..hi.min(text.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .take(MAX_DRAWN_GAP + 1)
        .count();
    lines_between <= MAX_DRAWN_GAP
}

/// miette's rendering of one diagnostic.
pub fn human(d: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let same_file = |s: &&crate::diag::Label| drawn_with_primary(d, s);
    let drawable = std::iter::once(&d.primary)
        .chain(d.secondary.iter().filter(same_file))
        .all(|l| line_len(&l.source.text, l.span.start as usize) <= MAX_DRAWN_LINE);
    let m = Miette {
        d,
        src: drawable.then(|| Windowed {
            name: &d.primary.source.name,
            text: &d.primary.source.text,
        }),
    };
    let mut out = String::new();
    let _ = handler.render_report(&mut out, &m);
    if !drawable {
        for l in std::iter::once(&d.primary).chain(d.secondary.iter().filter(same_file)) {
            let (line, col) = l.source.line_col(l.span.start as usize);
            out.push_str(&format!(
                "  at {}:{line}:{col}: {} (the line is too long to show)\n",
                l.source.name, l.text
            ));
        }
    }
    for s in d.secondary.iter().filter(|s| !drawn_with_primary(d, s)) {
        let (l, c) = s.source.line_col(s.span.start as usize);
        out.push_str(&format!("  note: {} ({}:{l}:{c})\n", s.text, s.source.name));
    }
    out
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn label_json(l: &crate::diag::Label) -> serde_json::Value {
    let (line, col) = l.source.line_col(l.span.start as usize);
    let (end_line, end_col) = l.source.line_col(l.span.end as usize);
    json!({"file": l.source.name, "line": line, "column": col, "end_line": end_line, "end_column": end_col, "label": l.text})
}

/// The stable JSON document for `check --format json`.
pub fn json_report(files: &[String], diags: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<_> = diags
        .iter()
        .map(|d| {
            json!({
                "severity": sev(d.severity),
                "code": d.code,
                "message": d.message,
                "primary": label_json(&d.primary),
                "secondary": d.secondary.iter().map(label_json).collect::<Vec<_>>(),
                "help": d.help,
            })
        })
        .collect();
    json!({
        "version": CHECK_JSON_VERSION,
        "files": files,
        "errors": diags.iter().filter(|d| d.severity == Severity::Error).count(),
        "warnings": diags.iter().filter(|d| d.severity == Severity::Warning).count(),
        "diagnostics": items,
    })
}

fn gh_escape(s: &str, prop: bool) -> String {
    let mut o = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if prop {
        o = o.replace(':', "%3A").replace(',', "%2C");
    }
    o
}

/// GitHub workflow command annotations, one line per diagnostic.
pub fn github(d: &Diagnostic) -> String {
    let (file, line, col) = d.location();
    let (end_line, end_col) = d.primary.source.line_col(d.primary.span.end as usize);
    let mut msg = format!("{} [{}]", d.message, d.code);
    if let Some(h) = &d.help {
        msg.push_str(&format!(" help: {h}"));
    }
    format!(
        "::{} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}",
        sev(d.severity),
        gh_escape(&file, true),
        gh_escape(d.code, true),
        gh_escape(&msg, false)
    )
}

/// A SARIF 2.1.0 log.
pub fn sarif(diags: &[Diagnostic]) -> serde_json::Value {
    let mut rules: Vec<&str> = diags.iter().map(|d| d.code).collect();
    rules.sort_unstable();
    rules.dedup();
    let results: Vec<_> = diags
        .iter()
        .map(|d| {
            let (file, line, col) = d.location();
            let (end_line, end_col) = d.primary.source.line_col(d.primary.span.end as usize);
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!(" ({h})"));
            }
            json!({
                "ruleId": d.code,
                "level": sev(d.severity),
                "message": {"text": text},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": file},
                    "region": {"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col}
                }}]
            })
        })
        .collect();
    let mut driver = json!({
        "name": "hvxform",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules.iter().map(|r| json!({"id": r})).collect::<Vec<_>>()
    });
    // Where the tool is documented: the package's repository when it has
    // one. SARIF makes the property optional; a made-up address is worse
    // than none.
    if let Some(uri) = information_uri() {
        driver["informationUri"] = json!(uri);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "results": results
        }]
    })
}

/// The SARIF `informationUri`: `repository` (else `homepage`) of Cargo.toml,
/// when it is an absolute http(s) address.
fn information_uri() -> Option<&'static str> {
    [env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE")]
        .into_iter()
        .find(|u| u.starts_with("https://") || u.starts_with("http://"))
}
