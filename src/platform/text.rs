//! What the text-format readers and writers (`.vmx`, `xl.cfg`) share: lexer
//! errors with a line and column, XML-name checks, the single-byte
//! character sets `.vmx` files may declare in `.encoding`, and the run of
//! bytes a writer copies as they are.

/// `s.split('\n')`, each `\n` found with memchr: `split` and `lines` run
/// a char searcher for each line, which costs more than the line on a file
/// of many short ones (a session store, a `.vmx`).
pub fn split_lf(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let t = rest?;
        Some(match memchr::memchr(b'\n', t.as_bytes()) {
            Some(i) => {
                rest = Some(&t[i + 1..]);
                &t[..i]
            }
            None => rest.take()?,
        })
    })
}

/// The lines of `s` as [`str::lines`] gives them: [`split_lf`]'s pieces
/// but the empty one after a final `\n`, each followed by `\n` without the
/// `\r` before it.
pub fn lines(s: &str) -> impl Iterator<Item = &str> {
    let (body, ended) = match s.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (s, false),
    };
    let mut pieces = split_lf(body).peekable();
    let empty = s.is_empty();
    std::iter::from_fn(move || {
        let piece = pieces.next().filter(|_| !empty)?;
        let followed = ended || pieces.peek().is_some();
        Some(match piece.strip_suffix('\r') {
            Some(p) if followed => p,
            _ => piece,
        })
    })
}

/// Where the run of bytes from `from` that `plain` lets through ends (the
/// next byte to escape, or the end): one table look a byte, for the
/// writers' values (a carried original is kilobytes of them).
pub fn plain_run_end(bytes: &[u8], from: usize, plain: &[bool; 256]) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| !plain[usize::from(b)])
        .map_or(bytes.len(), |n| from + n)
}

/// Most settings read from a `.vmx` or xl.cfg file (real ones have a few
/// hundred at most; mappings look settings up by key, so tens of thousands
/// would cost time with the square of their number).
pub const MAX_SETTINGS: usize = 10_000;

/// A lexer or parser error in a text file: 1-based line and column
/// (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl TextError {
    pub fn new(line: usize, col: usize, message: impl Into<String>) -> Self {
        TextError {
            line,
            col,
            message: message.into(),
        }
    }

    /// `name:line:col: message`, the form every input error takes.
    pub fn render(&self, name: &str) -> String {
        format!("{name}:{}:{}: {}", self.line, self.col, self.message)
    }
}

/// A text format's file that its canonical XML form cannot hold (a control
/// character in a value): the error at the character's place in `text`, or
/// at 1:1 when it came from an escape (`|01` in a `.vmx`) and is not there.
pub fn unrepresentable(text: &str, e: crate::xmlout::WriteError) -> TextError {
    let at = match e {
        crate::xmlout::WriteError::InvalidChar(c) => char::from_u32(c)
            .and_then(|c| text.find(c))
            .map(|i| crate::diag::LineIndex::new(text).line_col(text, i)),
        _ => None,
    };
    let (line, col) = at.unwrap_or((1, 1));
    TextError::new(line, col, format!("cannot represent the file as XML: {e}"))
}

/// Is `s` an XML name without a colon (usable as an element name in the
/// canonical forms)? Only ASCII names are used: keys in both formats are ASCII.
pub fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    !s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("xml"))
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The character sets `.encoding` may name that hvxform reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Latin1,
    Windows1252,
}

impl Charset {
    /// The charset a `.encoding` label names, `None` when hvxform has no
    /// table for it. Labels compare case-insensitively, ignoring `-` and `_`.
    pub fn from_label(label: &str) -> Option<Charset> {
        let l: String = label
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        match l.as_str() {
            "utf8" | "usascii" | "ascii" => Some(Charset::Utf8),
            "iso88591" | "latin1" | "l1" | "iso885915" => Some(Charset::Latin1),
            "windows1252" | "cp1252" | "win1252" => Some(Charset::Windows1252),
            _ => None,
        }
    }

    /// Decodes bytes; `None` when they are not valid in the charset.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Charset::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
            Charset::Latin1 => Some(bytes.iter().map(|&b| b as char).collect()),
            Charset::Windows1252 => bytes.iter().map(|&b| cp1252_char(b)).collect(),
        }
    }

    /// Appends the bytes of `c` in the charset; `false` when it has none.
    pub fn encode_char(self, c: char, out: &mut Vec<u8>) -> bool {
        match self {
            Charset::Utf8 => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                true
            }
            Charset::Latin1 => match u8::try_from(c as u32) {
                Ok(b) => {
                    out.push(b);
                    true
                }
                Err(_) => false,
            },
            Charset::Windows1252 => match (0u8..=255).find(|&b| cp1252_char(b) == Some(c)) {
                Some(b) => {
                    out.push(b);
                    true
                }
                None => false,
            },
        }
    }
}

/// windows-1252: Latin-1 except 0x80..0x9F (five of which are unassigned).
fn cp1252_char(b: u8) -> Option<char> {
    const HIGH: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    if (0x80..0xA0).contains(&b) {
        match HIGH[(b - 0x80) as usize] {
            0 => None,
            u => char::from_u32(u as u32),
        }
    } else {
        Some(b as char)
    }
}

/// The `.encoding` label of a `.vmx` file, read from its raw bytes (the line
/// is ASCII whatever the charset): what [`crate::platform::input::decode`]
/// uses when a file is not UTF-8.
pub fn vmx_encoding_label(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|&b| b == b'\n').take(50) {
        let line = String::from_utf8_lossy(line);
        let t = line.trim();
        let Some(rest) = t
            .strip_prefix(".encoding")
            .or_else(|| t.strip_prefix(".ENCODING"))
        else {
            continue;
        };
        let rest = rest.trim_start().strip_prefix('=')?.trim();
        return Some(rest.trim_matches('"').to_string());
    }
    None
}

/// The name of the first element of an XML text, skipping a byte-order mark,
/// the declaration, comments, processing instructions and a DOCTYPE.
pub fn first_element(text: &str) -> Option<&str> {
    let mut s = text.trim_start_matches('\u{feff}');
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("<?") {
            s = &r[end_of(r, b"?>")?..];
        } else if let Some(r) = s.strip_prefix("<!--") {
            s = &r[end_of(r, b"-->")?..];
        } else if let Some(r) = s.strip_prefix("<!") {
            s = &r[end_of(r, b">")?..];
        } else if let Some(r) = s.strip_prefix('<') {
            let end = r
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(r.len());
            return Some(&r[..end]);
        } else {
            return None;
        }
    }
}

/// Where the first `end` in `s` ends: its last byte found with memchr
/// (the platforms' detectors ask this of every input, and a `str` searcher
/// for `?>` costs more to set up than the declaration is long).
fn end_of(s: &str, end: &[u8]) -> Option<usize> {
    let (&last, head) = end.split_last()?;
    let b = s.as_bytes();
    let mut from = head.len();
    loop {
        let at = from + memchr::memchr(last, b.get(from..)?)?;
        if b[..at].ends_with(head) {
            return Some(at + 1);
        }
        from = at + 1;
    }
}

/// The byte offset of the first element's `<`, skipping what
/// [`first_element`] skips.
pub fn first_element_offset(text: &str) -> Option<usize> {
    let name = first_element(text)?;
    let base = text.as_ptr() as usize;
    // `first_element` returns a slice of `text` just after the `<`.
    Some(name.as_ptr() as usize - base - 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_element_skips_what_comes_before_it() {
        for (t, want) in [
            ("<?xml version=\"1.0\"?>\n<a/>", Some("a")),
            (
                "\u{feff}<?xml ?><!-- c -- > -->\n<!DOCTYPE x><b x=\"1\">",
                Some("b"),
            ),
            ("<?pi a?b>c ?><c>", Some("c")),
            ("<!-- a -- b->c -->\n<d>", Some("d")),
            ("<!---->-><d>", None),
            ("<?xml", None),
            ("<!-- never ends", None),
            ("text", None),
            ("?><e/>", None),
        ] {
            assert_eq!(super::first_element(t), want, "{t:?}");
        }
    }

    #[test]
    fn split_lf_is_split() {
        for t in ["", "a", "a\n", "\n\n", "a\r\n", "a\nb\r\nc\r"] {
            assert_eq!(
                super::split_lf(t).collect::<Vec<_>>(),
                t.split('\n').collect::<Vec<_>>(),
                "{t:?}"
            );
        }
    }

    #[test]
    fn lines_are_str_lines() {
        for t in [
            "",
            "a",
            "a\n",
            "a\r\n",
            "\r",
            "a\rb",
            "\n\n",
            "a\r\r\n",
            "x\r",
            "\r\n\r\n",
            "é\n\u{85}\r\n",
            "a\nb\r\nc",
        ] {
            assert_eq!(
                super::lines(t).collect::<Vec<_>>(),
                t.lines().collect::<Vec<_>>(),
                "{t:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn ncnames() {
        assert!(is_ncname("virtualdev"));
        assert!(is_ncname("uuid.bios"));
        assert!(is_ncname("pipe.endpoint"));
        assert!(!is_ncname("sched.scsi0:0.shares"));
        assert!(!is_ncname(".encoding"));
        assert!(!is_ncname("0"));
        assert!(!is_ncname("xmlthing"));
    }

    #[test]
    fn charsets_round_trip() {
        let cs = Charset::from_label("windows-1252").unwrap();
        let mut b = Vec::new();
        assert!(cs.encode_char('€', &mut b));
        assert_eq!(b, [0x80]);
        assert_eq!(cs.decode(&[0x80, b'a']).unwrap(), "€a");
        assert!(cs.decode(&[0x81]).is_none());
        assert_eq!(Charset::from_label("ISO-8859-1"), Some(Charset::Latin1));
        assert_eq!(Charset::from_label("Shift_JIS"), None);
    }

    #[test]
    fn encoding_label_from_bytes() {
        let b = b".encoding = \"windows-1252\"\ndisplayName = \"Caf\xe9\"\n";
        assert_eq!(vmx_encoding_label(b).as_deref(), Some("windows-1252"));
    }
}
