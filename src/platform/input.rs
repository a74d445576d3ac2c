//! Reading input files: bytes → text (UTF-8 with or without BOM, UTF-16 with
//! BOM, a `.vmx` file's declared single-byte charset) → roxmltree document,
//! with errors that name file, line and column.

use std::path::Path;

/// Why an input could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Largest input accepted (1 GiB): larger files are refused rather than
/// exhausting memory. Session stores have the same limit.
pub const MAX_INPUT: u64 = 1 << 30;

/// Largest mapping or library file accepted (the shipped ones are under 32 KiB).
pub const MAX_MAPPING: u64 = 16 << 20;

/// Reads a file and decodes it to text.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    read_text_limited(path, MAX_INPUT)
}

/// [`read_text`] with a size limit.
fn read_text_limited(path: &Path, limit: u64) -> Result<String, InputError> {
    let bytes = read_limited(path, limit).map_err(|e| InputError {
        message: if matches!(
            e.kind(),
            std::io::ErrorKind::FileTooLarge | std::io::ErrorKind::InvalidData
        ) {
            format!("{}: {e}", path.display())
        } else {
            format!("{}: cannot read: {e}", path.display())
        },
    })?;
    decode_owned(bytes).map_err(|m| InputError {
        // A message that starts with `line:col:` is placed in the file.
        message: if m.starts_with(|c: char| c.is_ascii_digit()) {
            format!("{}:{m}", path.display())
        } else {
            format!("{}: {m}", path.display())
        },
    })
}

/// Reads a whole file, refusing one larger than `limit` bytes (an error of
/// kind `FileTooLarge`). The limit holds for what is read, not only for the
/// size the file system reports: a device (`/dev/zero`), a pipe or a file
/// that grows while it is read is cut off at `limit` and refused. Every
/// file hvxform reads from a user's path goes through here.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("file is larger than {}", size_text(limit)),
        )
    };
    if path == Path::new("-") {
        // Standard input, as `-` means to Unix tools (`xmllint -`).
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        return Ok(bytes);
    }
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(size.min(limit) as usize + 1);
    let mut file = file.take(limit + 1);
    // The first block decides whether this is text at all: a binary file
    // or a device (`/dev/zero`) is refused before the rest is read.
    (&mut file).take(PROBE as u64).read_to_end(&mut bytes)?;
    if let Some(at) = binary_at(&bytes) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a text file (a NUL byte at byte {at})"),
        ));
    }
    file.read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// How much of a file is looked at before the rest is read.
const PROBE: usize = 64 * 1024;

/// Where a NUL byte shows that the start of a file is not text: in UTF-8
/// text there is none; UTF-16 (with a byte-order mark, or without one,
/// which is refused later with its own message) has them by design.
fn binary_at(start: &[u8]) -> Option<usize> {
    if start.starts_with(b"\xFF\xFE") || start.starts_with(b"\xFE\xFF") || utf16_without_bom(start)
    {
        return None;
    }
    start.iter().position(|&b| b == 0)
}

/// `1 GiB`, `1 MiB`, or bytes.
fn size_text(n: u64) -> String {
    match n {
        _ if n >= 1 << 30 && n.is_multiple_of(1 << 30) => format!("{} GiB", n >> 30),
        _ if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        _ => format!("{n} bytes"),
    }
}

/// UTF-16 without a byte-order mark: ASCII text whose every other byte is
/// NUL, which is valid UTF-8 and would otherwise fail later as XML.
fn utf16_without_bom(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && ((bytes[0] != 0 && bytes[1] == 0 && bytes[3] == 0)
            || (bytes[0] == 0 && bytes[2] == 0 && bytes[1] != 0))
}

/// [`decode`], without copying plain UTF-8.
fn decode_owned(bytes: Vec<u8>) -> Result<String, String> {
    if utf16_without_bom(&bytes) {
        return Err("1:1: UTF-16 text without a byte-order mark (UTF-16 files need a byte-order mark; add one, or convert the file to UTF-8)".into());
    }
    let bom = [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"];
    if bom.iter().any(|b| bytes.starts_with(b)) {
        return decode(&bytes);
    }
    String::from_utf8(bytes).or_else(|e| decode(e.as_bytes()))
}

/// Decodes UTF-8 (BOM optional) or UTF-16 LE/BE with a BOM.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8(rest.to_vec()).map_err(|e| {
            format!(
                "not valid UTF-8 at byte {}",
                e.utf8_error().valid_up_to() + 3
            )
        });
    }
    let utf16 = |rest: &[u8], le: bool| -> Result<String, String> {
        if !rest.len().is_multiple_of(2) {
            return Err("UTF-16 text with an odd number of bytes".into());
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "invalid UTF-16 text".to_string())
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, true).map(|s| strip_decl_encoding(&s));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, false).map(|s| strip_decl_encoding(&s));
    }
    String::from_utf8(bytes.to_vec()).or_else(|e| {
        use super::text::Charset;
        // A .vmx file may be in the single-byte charset its `.encoding`
        // names, an XML file in the one its declaration names.
        let xml = xml_encoding_label(bytes);
        let vmx = if xml.is_none() {
            super::text::vmx_encoding_label(bytes)
        } else {
            None
        };
        let label = xml.as_ref().or(vmx.as_ref());
        let charset = label.and_then(|l| Charset::from_label(l));
        if let Some(text) = charset.and_then(|c| c.decode(bytes)) {
            return Ok(if xml.is_some() {
                strip_decl_encoding(&text)
            } else {
                text
            });
        }
        // Where the first byte that is not UTF-8 is, as line:col (columns
        // count characters).
        let ok = e.utf8_error().valid_up_to();
        let before = std::str::from_utf8(&bytes[..ok]).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let why = match (xml, vmx) {
            (Some(l), _) if charset.is_none() => format!(
                "the XML declaration says encoding=\"{}\": hvxform reads XML in UTF-8, UTF-16 (with a byte-order mark), ISO-8859-1 and windows-1252; convert the file to UTF-8 (iconv -t UTF-8)",
                l.escape_debug()
            ),
            (_, Some(l)) if charset.is_none() => format!(
                "`.encoding = \"{}\"`: hvxform reads UTF-8, ISO-8859-1 and windows-1252 .vmx files; convert the file to UTF-8 and say so in .encoding",
                l.escape_debug()
            ),
            (Some(l), _) | (_, Some(l)) => format!("not valid {l}"),
            _ => "not UTF-8, and no encoding is declared (UTF-16 files need a byte-order mark; a .vmx file says its charset in .encoding)".to_string(),
        };
        Err(format!("{line}:{col}: byte 0x{:02X} at offset {ok}: {why}", bytes[ok]))
    })
}

/// The encoding an XML declaration at the start of `bytes` names.
fn xml_encoding_label(bytes: &[u8]) -> Option<String> {
    let head = bytes.strip_prefix(b"<?xml")?;
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let i = decl.find("encoding")?;
    let rest = decl[i + 8..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_string())
}

/// The XML declaration of a decoded UTF-16 file still says UTF-16; the text
/// is now UTF-8, so the encoding pseudo-attribute is dropped.
fn strip_decl_encoding(s: &str) -> String {
    if let Some(end) = s.strip_prefix("<?xml").and_then(|r| r.find("?>")) {
        let decl = &s[..end + 7];
        if let Some(i) = decl.find("encoding") {
            let after = &decl[i..];
            if let Some(q1) = after.find(['"', '\'']) {
                let quote = after.as_bytes()[q1] as char;
                if let Some(q2) = after[q1 + 1..].find(quote) {
                    let cut_end = i + q1 + 1 + q2 + 1;
                    return format!("{}{}{}", &s[..i], &decl[cut_end..], &s[end + 7..]);
                }
            }
        }
    }
    s.to_string()
}

/// Deepest element nesting accepted. VM metadata nests a handful of levels;
/// a hostile document nested far deeper is refused instead of exhausting the
/// stack of the recursive parts of a conversion.
pub const MAX_DEPTH: usize = 1024;

/// Most attributes accepted on one element (libvirt's richest elements have
/// a dozen; a Hyper-V instance's properties are elements).
pub const MAX_ATTRIBUTES: usize = 1024;

/// Parses XML, turning roxmltree's error into `file:line:col: message`, and
/// refuses documents nested deeper than [`MAX_DEPTH`].
pub fn parse_xml<'i>(name: &str, text: &'i str) -> Result<roxmltree::Document<'i>, InputError> {
    let opt = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    // Before parsing: roxmltree checks an element's attributes for
    // duplicates pairwise, so thousands on one element take minutes.
    if text.len() > MAX_ATTRIBUTES * 5 {
        if let Some((at, n)) = crowded_tag(text) {
            let (l, c) = crate::diag::LineIndex::new(text).line_col(text, at);
            return Err(InputError {
                message: format!(
                    "{name}:{l}:{c}: an element with {n} attributes or more; hvxform reads at most {MAX_ATTRIBUTES} per element"
                ),
            });
        }
    }
    let doc = roxmltree::Document::parse_with_options(text, opt).map_err(|e| {
        let p = e.pos();
        // A document cut short: roxmltree places it at 1:1; where the text
        // ends is where something is missing.
        let (row, col) = match e {
            roxmltree::Error::UnclosedRootNode | roxmltree::Error::UnexpectedEndOfStream => {
                let lines = crate::diag::LineIndex::new(text);
                let (l, c) = lines.line_col(text, text.len());
                (l as u32, c as u32)
            }
            _ => (p.row, p.col),
        };
        let what = match e {
            roxmltree::Error::UnclosedRootNode => {
                "the document ends before its root element is closed (is the file cut short?)"
                    .to_string()
            }
            _ => e.to_string(),
        };
        InputError {
            message: format!("{name}:{row}:{col}: malformed XML: {what}"),
        }
    })?;
    // A document of fewer nodes than the limit cannot nest deeper.
    if doc.descendants().len() <= MAX_DEPTH {
        return Ok(doc);
    }
    // Depth of each node from its parent's, in document order (parents first).
    let mut depth = vec![0u32; doc.descendants().len()];
    for n in doc.descendants().skip(1) {
        let d = n.parent().map(|p| depth[p.id().get_usize()]).unwrap_or(0) + 1;
        depth[n.id().get_usize()] = d;
        if d as usize > MAX_DEPTH {
            let p = doc.text_pos_at(n.range().start);
            return Err(InputError {
                message: format!(
                    "{name}:{}:{}: elements nested deeper than {MAX_DEPTH} levels; refusing the document",
                    p.row, p.col
                ),
            });
        }
    }
    Ok(doc)
}

/// The byte offset of the first start tag with more than [`MAX_ATTRIBUTES`]
/// attributes, and how many it has counted by then (`=` signs outside
/// quoted values; comments, CDATA sections and processing instructions
/// skipped). One pass over the text.
fn crowded_tag(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(k) = b[i..].iter().position(|&c| c == b'<') {
        let start = i + k;
        let rest = &b[start..];
        let skip_to = |end: &[u8]| {
            rest.windows(end.len())
                .position(|w| w == end)
                .map(|p| start + p + end.len())
        };
        if rest.starts_with(b"<!--") {
            i = skip_to(b"-->")?;
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            i = skip_to(b"]]>")?;
            continue;
        }
        if rest.starts_with(b"<?") {
            i = skip_to(b"?>")?;
            continue;
        }
        // A tag: count `=` outside quotes up to its `>`.
        let (mut j, mut quote, mut n) = (start + 1, 0u8, 0usize);
        while j < b.len() {
            let c = b[j];
            if quote != 0 {
                if c == quote {
                    quote = 0;
                }
            } else if c == b'"' || c == b'\'' {
                quote = c;
            } else if c == b'=' {
                n += 1;
                if n > MAX_ATTRIBUTES {
                    return Some((start, n));
                }
            } else if c == b'>' {
                break;
            }
            j += 1;
        }
        i = j + 1;
        if i >= b.len() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_cut_short_is_placed_where_it_ends() {
        let e = parse_xml("f.xml", "<domain>\n  <name>web</name>\n  <vcpu>2").unwrap_err();
        assert_eq!(
            e.message,
            "f.xml:3:10: malformed XML: the document ends before its root element is closed (is the file cut short?)"
        );
        // Other errors keep roxmltree's position.
        let e = parse_xml("f.xml", "<a>\n<b></c></a>").unwrap_err();
        assert!(e.message.starts_with("f.xml:2:"), "{}", e.message);
    }

    #[test]
    fn utf16_with_bom_decodes() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>é</a>";
        let mut bytes = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let s = decode(&bytes).unwrap();
        let doc = parse_xml("x", &s).unwrap();
        assert_eq!(doc.root_element().text(), Some("é"));
    }

    #[test]
    fn reading_is_bounded_whatever_size_the_file_reports() {
        // A device reports size 0 and never ends.
        let zero = Path::new("/dev/zero");
        if zero.exists() {
            let e = read_text_limited(zero, 1 << 20).unwrap_err();
            assert_eq!(
                e.message,
                "/dev/zero: not a text file (a NUL byte at byte 0)"
            );
        }
        // A device of text that never ends.
        if Path::new("/proc/self/fd").exists() {
            let (r, w) = std::io::pipe().unwrap();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let mut w = w;
                let line = [b'x'; 4096];
                while w.write_all(&line).is_ok() {}
            });
            let fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&r));
            let e = read_text_limited(Path::new(&fd), 1 << 20).unwrap_err();
            assert!(
                e.message.ends_with("file is larger than 1 MiB"),
                "{}",
                e.message
            );
            drop(r);
            writer.join().unwrap();
        }
        let dir = std::env::temp_dir().join(format!("hvx-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big.xml");
        std::fs::write(&f, vec![b' '; (1 << 20) + 1]).unwrap();
        let e = read_text_limited(&f, 1 << 20).unwrap_err();
        assert!(
            e.message.ends_with("file is larger than 1 MiB"),
            "{}",
            e.message
        );
        std::fs::write(&f, "<a>é</a>").unwrap();
        assert_eq!(read_text_limited(&f, 1 << 20).unwrap(), "<a>é</a>");
        // A binary file is refused from its first block, wherever the NUL.
        let mut binary = vec![b'<'; 100];
        binary[70] = 0;
        std::fs::write(&f, &binary).unwrap();
        let e = read_text_limited(&f, 1 << 20).unwrap_err();
        assert!(
            e.message
                .ends_with("not a text file (a NUL byte at byte 70)"),
            "{}",
            e.message
        );
        // UTF-16 with a byte-order mark is text.
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "<a/>".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        std::fs::write(&f, &utf16).unwrap();
        assert_eq!(read_text_limited(&f, 1 << 20).unwrap(), "<a/>");
        // A byte-order mark is still honoured.
        std::fs::write(&f, b"\xEF\xBB\xBF<a/>").unwrap();
        assert_eq!(read_text_limited(&f, 1 << 20).unwrap(), "<a/>");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_xml_has_a_position() {
        let e = parse_xml("in.xml", "<a>\n  <b></a>").unwrap_err();
        assert!(e.message.starts_with("in.xml:2:"), "{}", e.message);
    }

    #[test]
    fn vmx_in_its_declared_charset_decodes() {
        let s = decode(b".encoding = \"windows-1252\"\ndisplayName = \"Caf\xe9\"\n").unwrap();
        assert!(s.contains("Café"));
    }

    #[test]
    fn hostile_nesting_is_refused_not_a_crash() {
        let n = MAX_DEPTH + 10;
        let text = format!("<r>{}{}</r>", "<a>".repeat(n), "</a>".repeat(n));
        let e = parse_xml("deep.xml", &text).unwrap_err();
        assert!(
            e.message.contains("nested deeper than 1024"),
            "{}",
            e.message
        );
        assert!(e.message.starts_with("deep.xml:1:"), "{}", e.message);
        let ok = format!("<r>{}{}</r>", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse_xml("ok.xml", &ok).is_ok());
    }

    #[test]
    fn invalid_utf8_is_reported() {
        assert!(decode(b"<a>\xff</a>").unwrap_err().contains("UTF-8"));
    }
}
