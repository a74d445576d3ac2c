//! Rendering diagnostics at the edge: miette (human), JSON, GitHub workflow
//! annotations and SARIF 2.1.0.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use serde_json::json;

use crate::diag::{Diagnostic, Severity};

/// Version of the JSON formats written by `check --format json`.
pub const CHECK_JSON_VERSION: u32 = 1;

struct Miette<'d> {
    d: &'d Diagnostic,
    src: NamedSource<String>,
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
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let p = &self.d.primary;
        let mut v = vec![LabeledSpan::new_primary_with_span(
            Some(p.text.clone()),
            p.span.range(),
        )];
        // Secondary labels in the same file are drawn; others are named in notes.
        for s in &self.d.secondary {
            if std::sync::Arc::ptr_eq(&s.source, &p.source) {
                v.push(LabeledSpan::new_with_span(
                    Some(s.text.clone()),
                    s.span.range(),
                ));
            }
        }
        Some(Box::new(v.into_iter()))
    }
}

/// miette's rendering of one diagnostic.
pub fn human(d: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let m = Miette {
        d,
        src: NamedSource::new(d.primary.source.name.clone(), d.primary.source.text.clone()),
    };
    let mut out = String::new();
    let _ = handler.render_report(&mut out, &m);
    for s in d
        .secondary
        .iter()
        .filter(|s| !std::sync::Arc::ptr_eq(&s.source, &d.primary.source))
    {
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
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hvxform",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/hvxform",
                "rules": rules.iter().map(|r| json!({"id": r})).collect::<Vec<_>>()
            }},
            "results": results
        }]
    })
}
