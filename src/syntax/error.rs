//! pest errors → diagnostics that say what was expected, in words.

use std::sync::Arc;

use super::ast::Span;
use super::parser::Rule;
use crate::diag::{Diagnostic, Label, Source};

fn rule_name(r: &Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::header => "`mapping \"name\" { ... }`",
        Rule::use_decl => "`use`",
        Rule::ns_decl | Rule::default_ns => "`namespace`",
        Rule::unmapped_decl => "`unmapped`",
        Rule::param_decl => "`param`",
        Rule::table_decl => "`table`",
        Rule::session_decl => "`session`",
        Rule::fn_decl => "`fn`",
        Rule::rename_decl => "`rename`",
        Rule::secret_decl => "`secret`",
        Rule::drop_rule | Rule::drop_stmt => "`drop`",
        Rule::document_decl => "`document`",
        Rule::on_decl => "`on`",
        Rule::template_decl => "`template`",
        Rule::header_field | Rule::hkey => "`from`, `to`, `version` or `description`",
        Rule::policy => "`fail`, `report` or `copy`",
        Rule::ty => "a type (string, int, uint, bool, nodes, any)",
        Rule::sty => "a session type (string, int, uint, uuid, mac)",
        Rule::table_row => "a table row (`\"key\" => \"value\"`)",
        Rule::elem_stmt => "an element (`<name> ...`)",
        Rule::attr_stmt => "an attribute (`@name = ...;`)",
        Rule::let_stmt => "`let`",
        Rule::if_stmt => "`if`",
        Rule::for_stmt => "`for`",
        Rule::match_stmt => "`match`",
        Rule::apply_stmt => "`apply`",
        Rule::copy_stmt => "`copy`",
        Rule::call_stmt => "`call`",
        Rule::error_stmt => "`error`",
        Rule::warn_stmt => "`warn`",
        Rule::action_stmt => "`action`",
        Rule::text_stmt => "`text`",
        Rule::block | Rule::block_close => "a block `{ ... }`",
        Rule::expr => "an expression",
        Rule::cmp_op => "a comparison",
        Rule::add_op | Rule::mul_op | Rule::union_op => "an operator",
        Rule::kw_or | Rule::kw_and => "`and`/`or`",
        Rule::string => "a string",
        Rule::number => "a number",
        Rule::ident => "a name",
        Rule::raw_name => "an XML name",
        Rule::pattern | Rule::pat_step => "a pattern",
        Rule::path | Rule::step => "a path",
        Rule::predicate => "a predicate `[...]`",
        Rule::mode_clause => "`mode NAME`",
        Rule::priority => "`priority N`",
        Rule::needs_clause => "`needs nothing` or `needs context \"why\"`",
        Rule::empty_close => "`/>`",
        Rule::value_close | Rule::opt_value => "`> = value;`",
        Rule::attr_init => "an attribute `name=\"value\"`",
        Rule::miss_clause => "`miss mint` or `miss fail`",
        Rule::via => "`via TABLE`",
        Rule::sort_by => "`sort by`",
        Rule::else_block => "`else`",
        Rule::arm => "a match arm (`\"value\" => { ... }`)",
        _ => "more input",
    }
}

pub(super) fn syntax_error(source: &Arc<Source>, e: pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match e.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((a, b)) => (a, b),
    };
    // Inside a string, where its text goes on, a `}` that closes nothing.
    let in_string = matches!(&e.variant, pest::error::ErrorVariant::ParsingError { positives, .. }
        if positives.iter().any(|r| matches!(r, Rule::esc | Rule::str_text | Rule::interp)));
    if in_string && source.text[start.min(source.text.len())..].starts_with('}') {
        let mut d = Diagnostic::error(
            "hvx::syntax",
            "syntax error: a `}` in a string that closes no `{`",
            Label {
                source: source.clone(),
                span: Span::new(start..start + 1),
                text: "this brace".into(),
            },
        );
        d.help = Some("a literal brace in a string is written twice: `}}` (and `{{`)".into());
        return d;
    }
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().map(rule_name).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let found = source.text[start.min(source.text.len())..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(20)
        .collect::<String>();
    let label = if expected.is_empty() {
        "unexpected input".to_string()
    } else {
        format!("expected {}", join_or(&expected))
    };
    let message = if found.is_empty() {
        format!("syntax error: {label}")
    } else {
        format!("syntax error: {label}, found `{found}`")
    };
    let end = if end == start {
        (start + found.len().max(1)).min(source.text.len())
    } else {
        end
    };
    Diagnostic::error(
        "hvx::syntax",
        message,
        Label {
            source: source.clone(),
            span: Span::new(start..end.max(start)),
            text: label,
        },
    )
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}
