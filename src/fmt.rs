//! `hvxform fmt`: the canonical layout of a mapping file.
//!
//! The layout is the structure's: each line is indented by two spaces per
//! delimiter (`{`, `(`, `[`) open at its start, less those it starts by
//! closing; trailing spaces go; runs of blank lines become one; the file
//! ends with one newline. Comments stay where they are, re-indented with
//! their line; strings (which may span lines) are never touched. Only
//! whitespace outside strings changes, which [`format`] checks before it
//! returns, so formatting cannot change what a mapping means.

/// What the scanner is inside.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// A string literal.
    Str,
    /// An interpolation `{…}` inside a string, with its own open braces.
    Interp(u32),
}

/// An open `{`: a block of statements or rows, or a value (`a={…}`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Brace {
    Block,
    /// A block of rows or fields that end at the end of their line (a
    /// table, the mapping's header).
    List,
    Value,
}

/// The scanner's state between lines.
#[derive(Debug, Default)]
struct State {
    /// Braces open in code (outside strings).
    braces: Vec<Brace>,
    /// Parentheses and brackets open in code.
    parens: usize,
    /// Strings and interpolations open, innermost last.
    stack: Vec<Mode>,
    /// Did the last code line end its statement (`;`, a block's `{` or
    /// `}`, an element's `>`)?
    ended: bool,
}

impl State {
    fn depth(&self) -> usize {
        self.braces.len() + self.parens
    }

    fn in_list(&self) -> bool {
        self.braces.last() == Some(&Brace::List)
    }

    /// Scans one line (without its newline), updating the state.
    fn scan(&mut self, line: &str) {
        let code_line = self.stack.is_empty();
        let list_head = {
            let t = line.trim_start();
            t.starts_with("table ") || t.starts_with("mapping ")
        };
        // The last significant character in code, and whether a `}` that
        // ended the line closed a value.
        let mut last: Option<char> = None;
        let mut closed_value = false;
        let mut it = line.chars().peekable();
        while let Some(c) = it.next() {
            match self.stack.last().copied() {
                Some(_) => {
                    if in_string(&mut self.stack, c, it.peek().copied()) {
                        it.next();
                    }
                    // A string that closed: its quote ends the code so far.
                    if self.stack.is_empty() {
                        last = Some('"');
                    }
                }
                None => {
                    match c {
                        '#' => break,
                        '"' => self.stack.push(Mode::Str),
                        '{' => self.braces.push(if last == Some('=') {
                            Brace::Value
                        } else if list_head {
                            Brace::List
                        } else {
                            Brace::Block
                        }),
                        '}' => closed_value = self.braces.pop() == Some(Brace::Value),
                        '(' | '[' => self.parens += 1,
                        ')' | ']' => self.parens = self.parens.saturating_sub(1),
                        _ => {}
                    }
                    if !c.is_whitespace() {
                        last = Some(c);
                    }
                }
            }
        }
        if code_line && self.stack.is_empty() {
            if let Some(c) = last {
                self.ended = match c {
                    ';' | '{' | '>' => true,
                    '}' => !closed_value,
                    _ => self.in_list(),
                };
            }
        }
    }
}

/// One character inside a string or an interpolation (`stack` not empty),
/// the mode stack updated: returns whether the next character belongs to
/// this one (`\x`, `{{`, `}}`, `{}`).
fn in_string(stack: &mut Vec<Mode>, c: char, next: Option<char>) -> bool {
    match stack.last().copied() {
        Some(Mode::Str) => match c {
            '\\' => true,
            '{' if matches!(next, Some('{' | '}')) => true,
            '}' if next == Some('}') => true,
            '"' => {
                stack.pop();
                false
            }
            '{' => {
                stack.push(Mode::Interp(0));
                false
            }
            _ => false,
        },
        Some(Mode::Interp(n)) => {
            match c {
                '"' => stack.push(Mode::Str),
                '{' => *stack.last_mut().unwrap() = Mode::Interp(n + 1),
                '}' if n == 0 => {
                    stack.pop();
                }
                '}' => *stack.last_mut().unwrap() = Mode::Interp(n - 1),
                _ => {}
            }
            false
        }
        None => false,
    }
}

/// The canonical layout of `src`. `Err` when the result would differ from
/// `src` in more than whitespace outside strings (a bug; nothing is
/// written then).
pub fn format(src: &str) -> Result<String, String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut out = String::with_capacity(src.len());
    let mut st = State {
        ended: true,
        ..State::default()
    };
    let mut blank = false;
    for full in src.split('\n') {
        let raw = full.strip_suffix('\r').unwrap_or(full);
        if !st.stack.is_empty() {
            // Inside a string that spans lines: its text, as it is (a
            // carriage return too: it is the string's).
            st.scan(raw);
            // Where the string ends on this line, what follows is code.
            out.push_str(if st.stack.is_empty() {
                raw.trim_end()
            } else {
                full
            });
            out.push('\n');
            continue;
        }
        let line = raw.trim_start();
        if line.trim_end().is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        let closers = line
            .chars()
            .take_while(|c| matches!(c, '}' | ')' | ']'))
            .count();
        // A statement that goes on from the line before is indented one
        // more (inside parentheses, they indent it); in a table, a row
        // goes on with `|`.
        let goes_on = if st.in_list() {
            line.starts_with('|')
        } else {
            !st.ended && st.parens == 0 && closers == 0 && !line.starts_with('#')
        };
        let level = st.depth().saturating_sub(closers) + usize::from(goes_on);
        st.scan(line);
        // A line that ends inside a string keeps its trailing spaces (and
        // carriage return): they are the string's.
        let line = if st.stack.is_empty() {
            line.trim_end()
        } else {
            full.trim_start()
        };
        for _ in 0..level {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    if significant(src) != significant(&out) {
        return Err("formatting would change more than layout; the file is left as it is (please report this)".into());
    }
    Ok(out)
}

/// `src` without the whitespace outside strings (in code and comments):
/// what formatting must keep. Strings are kept whole, line ends and all.
fn significant(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut stack: Vec<Mode> = Vec::new();
    let mut comment = false;
    let mut it = src.chars().peekable();
    while let Some(c) = it.next() {
        match stack.last().copied() {
            Some(mode) => {
                // Strings whole; in an interpolation, what is not whitespace.
                if mode == Mode::Str || !c.is_whitespace() {
                    out.push(c);
                }
                if in_string(&mut stack, c, it.peek().copied()) {
                    out.extend(it.next());
                }
            }
            None if comment => {
                if c == '\n' {
                    comment = false;
                } else if !c.is_whitespace() {
                    out.push(c);
                }
            }
            None => {
                if !c.is_whitespace() {
                    out.push(c);
                }
                match c {
                    '#' => comment = true,
                    '"' => stack.push(Mode::Str),
                    _ => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_by_structure_and_keeps_comments() {
        let src = "on domain {\n<vm>    \n      {   # open\n\n\n\n  <a/>\n}\n      }\n\n";
        assert_eq!(
            format(src).unwrap(),
            "on domain {\n  <vm>\n  {   # open\n\n    <a/>\n  }\n}\n"
        );
    }

    #[test]
    fn strings_are_left_alone() {
        // Braces in strings (escaped, in interpolations with nested
        // strings) do not count, and a string spanning lines keeps its text.
        let src = "x {\n  warn \"{{ {choose(a, \"}}\", \"{{\")} }} \\\"\";\n  warn \"two\n   lines  \n\";\n}\n";
        let f = format(src).unwrap();
        assert_eq!(f, src);
        // Line ends inside a string are the string's, CRLF or not.
        let crlf = "x {\r\n  warn \"a\r\nb\";\r\n}\r\n";
        assert_eq!(format(crlf).unwrap(), "x {\n  warn \"a\r\nb\";\n}\n");
    }

    #[test]
    fn the_meaning_check_sees_string_changes() {
        assert_ne!(significant("warn \"a  b\";"), significant("warn \"a b\";"));
        assert_eq!(
            significant("a  {\n  b # c  d\n}"),
            significant("a{\nb #c d\n   }")
        );
    }

    #[test]
    fn continuation_lines_indent_one_more() {
        let src = "f {\n@m = choose(a,\nb,\nc);\nlet $x =\nfoo;\n<a b={x}\nc={y}/>\n<d/>\n}\n";
        assert_eq!(
            format(src).unwrap(),
            "f {\n  @m = choose(a,\n    b,\n    c);\n  let $x =\n    foo;\n  <a b={x}\n    c={y}/>\n  <d/>\n}\n"
        );
        let table = "table t: string -> string {\n\"a\"\n| \"b\" => \"x\"\n\"c\" => \"y\"\n}\n";
        assert_eq!(
            format(table).unwrap(),
            "table t: string -> string {\n  \"a\"\n    | \"b\" => \"x\"\n  \"c\" => \"y\"\n}\n"
        );
    }

    #[test]
    fn formatting_is_idempotent() {
        for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings")).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "hvx") {
                let s = std::fs::read_to_string(&p).unwrap();
                let once = format(&s).unwrap();
                assert_eq!(format(&once).unwrap(), once, "{}", p.display());
            }
        }
    }
}
