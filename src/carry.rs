//! Carried data: what a target platform cannot model travels with the VM in
//! the target's own extension channel, and comes back on the way home.
//!
//! **Carrying.** A conversion to a platform with a channel ([`has_channel`])
//! writes, beside what the mappings wrote, a *package*: the input document
//! as it was read (its secrets left out unless `--keep-secrets`) and the
//! platform it came from. In vSphere it is a run of `extraConfig` values
//! `hvx.carry.0`, `hvx.carry.1`, … of at most [`CHUNK`] bytes each.
//!
//! **Restoring** is one rule for every platform, a three-way merge of hub
//! documents (the book's hub chapter, "Carried data"):
//!
//! - `A`, the hub of the carried original (read from the package);
//! - `B`, `A` written to the platform and read back: what the platform
//!   held when the VM left;
//! - `C`, the hub of the document as it comes back.
//!
//! An element of `C` equal to its counterpart in `B` was not changed on the
//! platform: `A`'s original comes back in its place, exact (memory the
//! platform rounded, the native element a device carried). An element that
//! differs, or is new, is the platform's and wins. An element of `B` that
//! `C` no longer has was removed there: its carried original is dropped with
//! a warning. An element of `A` with no counterpart in `B` is one the
//! platform cannot hold at all: it comes back. `vm` and `extensions` are
//! merged member by member; everything else is taken whole.

use std::sync::Mutex;

use memchr::memmem;

use crate::program::SessionDef;
use crate::session::{MemoryStore, SessionAccess};
use crate::tree::{Document, Node};
use crate::xmlout::{WriteError, XmlOut};

/// What starts a package: the format's version, then the platform.
pub const HEADER: &str = "hvx-carry/1 ";
/// Bytes per value in a channel (vSphere's `extraConfig` values are kept
/// well under any limit of the platform).
pub const CHUNK: usize = 1000;
/// At most this many values: a package over 512 KB is not carried (the
/// report says so).
pub const MAX_CHUNKS: usize = 512;
/// The package's second line: the Adler-32 of everything after it, in
/// eight hex digits. Carried data lives in fields a user can edit (a
/// `.vmx` key, a vSphere `extraConfig` value): an edited or truncated
/// package is refused rather than restored as if hvxform had written it.
/// (A check against accidents, not an attacker, who can recompute it.)
/// Packages written before it have no such line and are read as they are.
pub const SUM: &str = "# adler32 ";
/// Packages inside packages (a VM through several platforms) are replayed
/// this deep at most.
pub const MAX_NESTING: usize = 4;

/// The platforms whose documents carry a package.
pub fn has_channel(platform: &str) -> bool {
    matches!(
        platform,
        "vsphere" | "kvm" | "vmware" | "xen" | "ovf" | "ec2" | "hyperv"
    )
}

/// Hyper-V carries a package in the VSSD's `Notes`, values
/// `hvxform:carry:0=…`, `hvxform:carry:1=…`, … ([`pack`]ed: Notes values
/// are escaped twice in CIM-XML, base64 needs no escaping), after the
/// mapping's own.
pub const NOTES_PREFIX: &str = "hvxform:carry:";

/// EC2 carries a package in tags `hvxform:carry:0`, `hvxform:carry:1`, …:
/// compressed ([`pack`]), base64-encoded (characters every AWS service accepts in a tag
/// value) and cut into values of at most [`EC2_VALUE`] characters, within
/// EC2's [`EC2_TAGS`] tags per resource.
pub const EC2_PREFIX: &str = "hvxform:carry:";
/// Characters of an EC2 tag value.
pub const EC2_VALUE: usize = 256;
/// Tags of an EC2 resource.
pub const EC2_TAGS: usize = 50;

/// `pkg` compressed and base64-encoded: what EC2's tags and Hyper-V's Notes
/// hold. LZ4 ([`LZ4_MARK`], then the block with its size): 5x faster than
/// deflate; [`pack_dense`] is for where size matters more than time.
pub fn pack(pkg: &str) -> String {
    use base64::Engine as _;
    let mut z = Vec::with_capacity(pkg.len() / 2 + 16);
    z.push(LZ4_MARK);
    z.extend_from_slice(&lz4_flex::block::compress_prepend_size(pkg.as_bytes()));
    base64::engine::general_purpose::STANDARD.encode(z)
}

/// `pkg` deflated and base64-encoded: about 30 % smaller than [`pack`]'s
/// form, in five times its time; what EC2 carries when LZ4's does not fit
/// its tags. Every package written before LZ4 has this form.
pub fn pack_dense(pkg: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(deflate(pkg.as_bytes()))
}

/// The first byte of an LZ4 package. A raw deflate stream never starts
/// with it (its block type bits, 1-2, would be 11, which deflate reserves),
/// so a package of either form says which it is.
const LZ4_MARK: u8 = 0xff;

/// Raw deflate of `input` at level 1: a 3 KB domain packs into 7 tags in
/// a quarter of level 6's time (measured: the kvm -> ec2 route 245 µs
/// against 300 µs); fixed Huffman codes would save little more and take 9.
/// The compressor (some 300 KB of tables) is kept per thread and reset, not
/// allocated, zeroed and returned to the system for every document.
fn deflate(mut input: &[u8]) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
    };
    use std::cell::RefCell;
    thread_local! {
        static COMPRESSOR: RefCell<Option<Box<CompressorOxide>>> = const { RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let c = cell.get_or_insert_with(|| {
            Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
                1, 0, 0,
            )))
        });
        c.reset();
        let mut out = vec![0; input.len() / 2 + 64];
        let mut at = 0;
        loop {
            let (status, read, wrote) = compress(c, input, &mut out[at..], TDEFLFlush::Finish);
            at += wrote;
            match status {
                TDEFLStatus::Done => {
                    out.truncate(at);
                    return out;
                }
                TDEFLStatus::Okay => {
                    input = &input[read..];
                    if out.len() - at < 64 {
                        out.resize(out.len() * 2, 0);
                    }
                }
                // A bad parameter or buffer: neither can happen here.
                s => unreachable!("deflate: {s:?}"),
            }
        }
    })
}

/// The package of [`pack`]ed text; at most the size any channel carries
/// (so a hostile value cannot inflate without bound).
pub fn unpack(packed: &str) -> Result<String, String> {
    use base64::Engine as _;
    let z = base64::engine::general_purpose::STANDARD
        .decode(packed.trim())
        .map_err(|e| format!("the carried tags are not base64: {e}"))?;
    let limit = CHUNK * MAX_CHUNKS;
    if let Some(block) = z.strip_prefix(&[LZ4_MARK]) {
        let (size, block) = match block.split_first_chunk::<4>() {
            Some((n, rest)) => (u32::from_le_bytes(*n) as usize, rest),
            None => return Err("the carried data is cut short".into()),
        };
        if size > limit {
            return Err(format!(
                "the carried data inflates to more than {limit} bytes"
            ));
        }
        let raw = lz4_flex::block::decompress(block, size)
            .map_err(|e| format!("the carried data does not decompress ({e})"))?;
        return String::from_utf8(raw).map_err(|_| "the carried data is not UTF-8".to_string());
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(&z, limit).map_err(|e| {
        if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
            format!("the carried data inflates to more than {limit} bytes")
        } else {
            format!("the carried tags do not inflate ({:?})", e.status)
        }
    })?;
    String::from_utf8(raw).map_err(|_| "the carried data is not UTF-8".to_string())
}

/// A package in the form its channel holds it: [`pack`]ed for EC2's tags,
/// as it is for the others. [`attach`] and [`attach_json`] take this form
/// (so a package written twice, as EC2's are, is packed once).
pub fn channel_form(platform: &str, pkg: &str) -> String {
    if matches!(platform, "ec2" | "hyperv") {
        pack(pkg)
    } else {
        pkg.to_string()
    }
}

/// A [`pack`]ed package in EC2 tag values, or why it does not fit beside
/// the `used` tags the resource has.
fn ec2_parts(packed: &str, used: usize) -> Result<Vec<String>, String> {
    let fits = |p: &str| used + p.len().div_ceil(EC2_VALUE) <= EC2_TAGS;
    // LZ4 is fast but not dense: deflated, the package may still fit.
    let dense = (!fits(packed))
        .then(|| unpack(packed).ok().map(|pkg| pack_dense(&pkg)))
        .flatten();
    let packed = match &dense {
        Some(d) if d.len() < packed.len() => d.as_str(),
        _ => packed,
    };
    // Base64 is ASCII: cut anywhere, every part is text as it is.
    debug_assert!(packed.is_ascii());
    let parts: Vec<String> = packed
        .as_bytes()
        .chunks(EC2_VALUE)
        .map(|c| {
            std::str::from_utf8(c)
                .map_or_else(|_| String::from_utf8_lossy(c).into_owned(), str::to_string)
        })
        .collect();
    if used + parts.len() > EC2_TAGS {
        return Err(format!(
            "it needs {} tags ({} bytes compressed) beside the {used} the instance has, and EC2 allows {EC2_TAGS}",
            parts.len(),
            packed.len()
        ));
    }
    Ok(parts)
}

/// The `tagSet` of the one instance of a DescribeInstancesResponse.
fn ec2_tag_set<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> Option<roxmltree::Node<'a, 'i>> {
    let child = |n: roxmltree::Node<'a, 'i>, name: &str| {
        n.children()
            .filter(|c| c.is_element() && c.tag_name().name() == name)
            .collect::<Vec<_>>()
    };
    let root = doc.root_element();
    let [res] = child(root, "reservationSet")[..] else {
        return None;
    };
    let [r] = child(res, "item")[..] else {
        return None;
    };
    let [set] = child(r, "instancesSet")[..] else {
        return None;
    };
    let [inst] = child(set, "item")[..] else {
        return None;
    };
    child(inst, "tagSet").into_iter().next()
}

/// Where the one instance's `tagSet` is in a response written as
/// hvxform's writer writes it (names without a prefix, no comments), and
/// how many tags it has, found without parsing the response again; `None`
/// when the text is not that plain (it is parsed then).
fn plain_tag_set(xml: &str) -> Option<(std::ops::Range<usize>, usize)> {
    if has_comment_or_cdata(xml) {
        return None;
    }
    // Start tags of `name` (not of a longer name it begins).
    let starts = |name: &'static str| {
        memmem::find_iter(xml.as_bytes(), name).filter(move |i| {
            matches!(
                xml.as_bytes().get(i + name.len()),
                Some(b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r')
            )
        })
    };
    if starts("<instanceId").take(2).count() != 1 || starts("<tagSet").take(2).count() != 1 {
        return None;
    }
    let at = starts("<tagSet").next()?;
    let rest = &xml[at..];
    if rest.starts_with("<tagSet/>") {
        return Some((at..at + "<tagSet/>".len(), 0));
    }
    if !rest.starts_with("<tagSet>") {
        return None;
    }
    let end = at + rest.find("</tagSet>")? + "</tagSet>".len();
    Some((
        at..end,
        memmem::find_iter(&xml.as_bytes()[at..end], "<item>").count(),
    ))
}

/// Whether a written document holds a comment or a CDATA section (where
/// markup-like text is not markup): searched, not parsed.
fn has_comment_or_cdata(xml: &str) -> bool {
    memmem::find(xml.as_bytes(), b"<!--").is_some()
        || memmem::find(xml.as_bytes(), b"<![CDATA[").is_some()
}

/// The key of an item of a `tagSet`.
fn ec2_key<'a>(item: roxmltree::Node<'a, '_>) -> Option<&'a str> {
    item.children()
        .find(|c| c.is_element() && c.tag_name().name() == "key")
        .and_then(|k| k.text())
}

/// The line indentation of the byte at `at`.
fn indent_at(text: &str, at: usize) -> &str {
    let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let n = text[line..].bytes().take_while(|b| *b == b' ').count();
    &text[line..line + n]
}

/// `text` (a document of `platform`, JSON when `json`) with `pkg` (in its
/// [`channel_form`]) in its channel; `None` for a document that has none
/// (JSON requests other than EC2's RunInstances).
pub fn attach_to(
    platform: &str,
    text: &str,
    json: bool,
    pkg: &str,
) -> Option<Result<String, String>> {
    if !json {
        return Some(attach(platform, text, pkg));
    }
    (platform == "ec2" && text.contains("\"TagSpecifications\"")).then(|| attach_json(text, pkg))
}

/// `json` (a RunInstances request, as the JSON writer writes it) with the
/// [`pack`]ed package `packed` in the tags of its instance
/// `TagSpecifications`, so that the instance it creates carries it.
pub fn attach_json(json: &str, packed: &str) -> Result<String, String> {
    // Walked as text, not parsed into values: the request is the JSON
    // writer's, and only where the instance's tags end matters.
    let specs_at =
        json::member(json, 0, "TagSpecifications").ok_or("the request has no TagSpecifications")?;
    let specs = json::count(json, specs_at).ok_or("the TagSpecifications are not a list")?;
    let item = (0..specs)
        .filter_map(|k| json::item(json, specs_at, k))
        .find(|&at| {
            json::member(json, at, "ResourceType").and_then(|v| Some(&json[v..json::end(json, v)?]))
                == Some("\"instance\"")
        })
        .ok_or("the request tags no instance")?;
    let tags = json::member(json, item, "Tags").ok_or("the instance tags have no Tags")?;
    let used = json::count(json, tags).ok_or("the instance's Tags are not a list")?;
    let parts = ec2_parts(packed, used)?;
    // Where the instance's `Tags` array ends.
    let end = json::end(json, tags).ok_or("the Tags do not end")? - 1;
    let pad = indent_at(json, end);
    let empty = used == 0;
    let mut add = String::with_capacity(parts.len() * (EC2_VALUE + 64 + 4 * pad.len()));
    for (i, part) in parts.iter().enumerate() {
        if i > 0 || !empty {
            add.push(',');
        }
        for piece in ["\n", pad, "  {\n", pad, "    \"Key\": \"", EC2_PREFIX] {
            add.push_str(piece);
        }
        add.push_str(&i.to_string());
        for piece in ["\",\n", pad, "    \"Value\": \"", part, "\"\n", pad, "  }"] {
            add.push_str(piece);
        }
    }
    // After the last tag, or inside `[]`.
    let at = if empty {
        json[..end].rfind('[').map_or(end, |i| i + 1)
    } else {
        json[..end].trim_end().len()
    };
    let close = if empty {
        format!("\n{pad}")
    } else {
        json[at..end].to_string()
    };
    let mut out = String::with_capacity(json.len() + add.len() + close.len());
    for piece in [&json[..at], &add, &close, &json[end..]] {
        out.push_str(piece);
    }
    Ok(out)
}

/// Finding values in JSON text by walking it (strings, with their escapes,
/// skipped whole): offsets of values in the text.
mod json {
    fn ws(t: &[u8], mut i: usize) -> usize {
        while i < t.len() && t[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }

    /// The end of the string that starts at `i` (its quote and escapes
    /// found with memchr: the carried tags are long strings).
    fn string_end(t: &[u8], mut i: usize) -> Option<usize> {
        i += 1;
        loop {
            i += memchr::memchr2(b'"', b'\\', t.get(i..)?)?;
            if t[i] == b'"' {
                return Some(i + 1);
            }
            i += 2;
        }
    }

    /// The end of the value that starts at (or after whitespace at) `i`.
    pub fn end(text: &str, i: usize) -> Option<usize> {
        let t = text.as_bytes();
        let mut i = ws(t, i);
        match *t.get(i)? {
            b'"' => string_end(t, i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while i < t.len() {
                    match t[i] {
                        b'"' => {
                            i = string_end(t, i)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                None
            }
            _ => {
                while i < t.len() && !matches!(t[i], b',' | b'}' | b']') {
                    i += 1;
                }
                Some(i)
            }
        }
    }

    /// Where the value of member `name` of the object at `i` starts.
    pub fn member(text: &str, i: usize, name: &str) -> Option<usize> {
        let t = text.as_bytes();
        let mut i = ws(t, i);
        if t.get(i) != Some(&b'{') {
            return None;
        }
        i += 1;
        loop {
            i = ws(t, i);
            if t.get(i)? != &b'"' {
                return None;
            }
            let k_end = string_end(t, i)?;
            let raw = &text[i + 1..k_end - 1];
            let is_name = if raw.contains('\\') {
                serde_json::from_str::<String>(&text[i..k_end]).ok()? == name
            } else {
                raw == name
            };
            i = ws(t, k_end);
            if t.get(i)? != &b':' {
                return None;
            }
            let v = ws(t, i + 1);
            if is_name {
                return Some(v);
            }
            i = ws(t, end(text, v)?);
            match t.get(i)? {
                b',' => i += 1,
                _ => return None,
            }
        }
    }

    /// How many items the array at `i` has; `None` for no array.
    pub fn count(text: &str, i: usize) -> Option<usize> {
        let t = text.as_bytes();
        let mut i = ws(t, i);
        if t.get(i) != Some(&b'[') {
            return None;
        }
        i = ws(t, i + 1);
        if t.get(i)? == &b']' {
            return Some(0);
        }
        let mut n = 0;
        loop {
            n += 1;
            i = ws(t, end(text, i)?);
            match t.get(i)? {
                b',' => i += 1,
                b']' => return Some(n),
                _ => return None,
            }
        }
    }

    /// Where item `k` of the array at `i` starts.
    pub fn item(text: &str, i: usize, k: usize) -> Option<usize> {
        let t = text.as_bytes();
        let mut i = ws(t, i);
        if t.get(i) != Some(&b'[') {
            return None;
        }
        i += 1;
        for _ in 0..k {
            i = ws(t, end(text, i)?);
            if t.get(i)? != &b',' {
                return None;
            }
            i += 1;
        }
        Some(ws(t, i))
    }
}

/// The package for `text`, read as `platform`, with the session pairs its
/// conversion used (`(table, left, right)`), so that the way back replays
/// it with the same identifiers.
pub fn encode(platform: &str, pairs: &[(String, String, String)], text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 96);
    out.push_str(HEADER);
    out.push_str(platform);
    out.push('\n');
    out.push_str(SUM);
    let digits = out.len();
    out.push_str("00000000\n");
    let body = out.len();
    for (t, l, r) in pairs {
        out.push_str("= ");
        for (i, f) in [t, l, r].into_iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            for ch in f.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
        }
        out.push('\n');
    }
    out.push_str(text);
    let sum = format!("{:08x}", adler2::adler32_slice(&out.as_bytes()[body..]));
    out.replace_range(digits..digits + 8, &sum);
    out
}

/// A package read back.
#[derive(Debug, PartialEq)]
pub struct Package<'p> {
    pub platform: &'p str,
    /// The platform the VM is from: `platform`, but for a package of the
    /// hub (written for a VM changed on the way, [`hub_platform_line`]),
    /// which names it after the hub's.
    pub home: &'p str,
    pub pairs: Vec<(String, String, String)>,
    pub text: &'p str,
}

/// The platform line of a package of the hub for a VM from `home`
/// (`hvx kvm`), for [`encode`].
pub fn hub_platform_line(home: &str) -> String {
    if home == "hvx" {
        home.to_string()
    } else {
        format!("hvx {home}")
    }
}

/// The parts of a package.
pub fn decode(pkg: &str) -> Result<Package<'_>, String> {
    let rest = pkg
        .strip_prefix(HEADER)
        .ok_or_else(|| "the carried data is not in a format this hvxform reads".to_string())?;
    let (line, mut rest) = rest
        .split_once('\n')
        .ok_or_else(|| "the carried data has no platform line".to_string())?;
    // `PLATFORM`, or `hvx HOME` for a package of the hub.
    let (platform, home) = match line.split_once(' ') {
        Some(("hvx", home)) => ("hvx", home),
        _ => (line, line),
    };
    for p in [platform, home] {
        if crate::platform::by_name(p).is_err() {
            return Err(format!("the carried data is of unknown platform `{p}`"));
        }
    }
    if let Some(line) = rest.strip_prefix(SUM) {
        let (digits, body) = line
            .split_once('\n')
            .ok_or("the carried data ends in its checksum")?;
        let sum = adler2::adler32_slice(body.as_bytes());
        if u32::from_str_radix(digits, 16).ok() != Some(sum) || digits.len() != 8 {
            return Err(format!(
                "the carried data was changed after hvxform wrote it: its checksum is `{}`, \
                 its content's {sum:08x} (a value of the channel edited, truncated or lost)",
                crate::convert::short(digits)
            ));
        }
        rest = body;
    }
    let mut pairs = Vec::new();
    while let Some(line) = rest.strip_prefix("= ") {
        let (line, after) = line
            .split_once('\n')
            .ok_or("the carried data ends in a session pair")?;
        let mut fields = line.split('\t').map(unescape);
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(t), Some(l), Some(r), None) => pairs.push((t?, l?, r?)),
            _ => {
                return Err(format!(
                    "the carried session pair `{line}` has not three fields"
                ))
            }
        }
        rest = after;
    }
    Ok(Package {
        platform,
        home,
        pairs,
        text: rest,
    })
}

fn unescape(f: &str) -> Result<String, String> {
    let mut out = String::with_capacity(f.len());
    let mut it = f.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            _ => return Err(format!("a bad escape in the carried session pair `{f}`")),
        }
    }
    Ok(out)
}

/// The session store of a conversion whose input is carried: it answers as
/// its base does and keeps every pair it answered with.
pub struct Recorder<'s> {
    base: &'s dyn SessionAccess,
    pairs: Mutex<Vec<(String, String, String)>>,
}

impl<'s> Recorder<'s> {
    pub fn new(base: &'s dyn SessionAccess) -> Self {
        Recorder {
            base,
            pairs: Mutex::new(Vec::new()),
        }
    }

    /// The pairs answered with, each once, in the order first used.
    pub fn pairs(&self) -> Vec<(String, String, String)> {
        self.pairs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn keep(&self, def: &SessionDef, reverse: bool, key: &str, value: &str) {
        let side = |ty, v: &str| crate::session::normalise(ty, v).unwrap_or_else(|_| v.to_string());
        let (l, r) = if reverse {
            (side(def.left, value), side(def.right, key))
        } else {
            (side(def.left, key), side(def.right, value))
        };
        let pair = (def.name.clone(), l, r);
        let mut p = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        if !p.contains(&pair) {
            p.push(pair);
        }
    }
}

impl SessionAccess for Recorder<'_> {
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String> {
        let v = self.base.lookup(def, reverse, key)?;
        self.keep(def, reverse, key, &v);
        Ok(v)
    }

    fn find(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<Option<String>, String> {
        let v = self.base.find(def, reverse, key)?;
        if let Some(v) = &v {
            self.keep(def, reverse, key, v);
        }
        Ok(v)
    }

    fn adopt(&self, def: &SessionDef, left: &str, right: &str) -> Result<bool, String> {
        self.base.adopt(def, left, right)
    }
}

/// The session store a carried original is replayed with: the pairs its
/// conversion used, then tables of its own (what it mints is thrown away;
/// the user's store is never read nor changed by a replay).
pub struct Replay {
    pairs: Vec<(String, String, String)>,
    own: MemoryStore,
}

impl Replay {
    pub fn new(pairs: Vec<(String, String, String)>) -> Self {
        Replay {
            pairs,
            own: MemoryStore::default(),
        }
    }
}

impl SessionAccess for Replay {
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String> {
        match self.find(def, reverse, key)? {
            Some(v) => Ok(v),
            None => self.own.lookup(def, reverse, key),
        }
    }

    fn find(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<Option<String>, String> {
        let ty = if reverse { def.right } else { def.left };
        let k = crate::session::normalise(ty, key).unwrap_or_else(|_| key.to_string());
        let hit = self
            .pairs
            .iter()
            .find(|(t, l, r)| t == &def.name && if reverse { r == &k } else { l == &k });
        match hit {
            Some((_, l, r)) => Ok(Some(if reverse { l.clone() } else { r.clone() })),
            None => self.own.find(def, reverse, key),
        }
    }
}

/// `pkg` cut into values of at most [`CHUNK`] bytes, at character
/// boundaries; `None` when it needs more than [`MAX_CHUNKS`].
pub fn chunks(pkg: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = pkg;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
        if out.len() > MAX_CHUNKS {
            return None;
        }
    }
    Some(out)
}

/// Where a domain's first `<metadata>` child is (its whole element, and
/// whether it has content) and where its first `<name>` child ends: what
/// [`attach`] needs of a libvirt domain.
#[derive(Debug, PartialEq, Eq)]
struct DomainPlaces {
    metadata: Option<Span>,
    name_end: Option<usize>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    has_children: bool,
}

/// [`DomainPlaces`] found by parsing `xml`: any well-formed document.
fn domain_places_parsed(xml: &str) -> Result<DomainPlaces, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    let metadata = root
        .children()
        .find(|n| n.has_tag_name("metadata"))
        .map(|m| Span {
            start: m.range().start,
            end: m.range().end,
            has_children: m.has_children(),
        });
    let name_end = root
        .children()
        .find(|n| n.has_tag_name("name"))
        .map(|n| n.range().end);
    Ok(DomainPlaces { metadata, name_end })
}

/// [`DomainPlaces`] found by walking the tags of `xml` as
/// [`XmlOut`](crate::xmlout::XmlOut) writes them (an optional declaration,
/// then elements, attributes in quotes and escaped text, nothing else), which
/// is what the mapping's output is: a twentieth of a parse. `None` for
/// anything else (a comment, CDATA, a processing instruction, a tag that
/// does not end), which [`domain_places_parsed`] then takes.
fn domain_places(xml: &str) -> Option<DomainPlaces> {
    let b = xml.as_bytes();
    let mut i = 0;
    if xml.starts_with("<?xml") {
        i = xml.find("?>")? + 2;
    }
    let mut depth = 0usize;
    let mut places = DomainPlaces {
        metadata: None,
        name_end: None,
    };
    // The open `<metadata>` child of the root: its start, its content's.
    let mut open_metadata: Option<(usize, usize)> = None;
    let mut open_name = false;
    let mut seen_root = false;
    while i < b.len() {
        let lt = i + memchr::memchr(b'<', &b[i..])?;
        if lt == b.len() - 1 {
            return None;
        }
        match b[lt + 1] {
            b'/' => {
                let gt = lt + memchr::memchr(b'>', &b[lt..])?;
                depth = depth.checked_sub(1)?;
                if depth == 1 {
                    if let Some((start, content)) = open_metadata.take() {
                        places.metadata.get_or_insert(Span {
                            start,
                            end: gt + 1,
                            has_children: lt > content,
                        });
                    }
                    if std::mem::take(&mut open_name) {
                        places.name_end.get_or_insert(gt + 1);
                    }
                }
                i = gt + 1;
                if depth == 0 {
                    return (b[i..].iter().all(u8::is_ascii_whitespace)).then_some(places);
                }
            }
            b'!' | b'?' => return None,
            _ => {
                if depth == 0 && std::mem::replace(&mut seen_root, true) {
                    return None;
                }
                // The tag's end: the first `>` outside a quoted value.
                let mut j = lt + 1;
                loop {
                    j += memchr::memchr3(b'>', b'"', b'\'', &b[j..])?;
                    let q = b[j];
                    if q == b'>' {
                        break;
                    }
                    j += 2 + memchr::memchr(q, &b[j + 1..])?;
                }
                let empty = b[j - 1] == b'/';
                let name_end = b[lt + 1..j]
                    .iter()
                    .position(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')
                    .map_or(j, |k| lt + 1 + k);
                let name = &b[lt + 1..name_end];
                if depth == 1 {
                    if name == b"metadata" && places.metadata.is_none() {
                        if empty {
                            places.metadata = Some(Span {
                                start: lt,
                                end: j + 1,
                                has_children: false,
                            });
                        } else {
                            open_metadata = Some((lt, j + 1));
                        }
                    } else if name == b"name" && places.name_end.is_none() {
                        if empty {
                            places.name_end = Some(j + 1);
                        } else {
                            open_name = true;
                        }
                    }
                }
                i = j + 1;
                if !empty {
                    depth += 1;
                } else if depth == 0 {
                    return (b[i..].iter().all(u8::is_ascii_whitespace)).then_some(places);
                }
            }
        }
    }
    None
}

/// Whether [`attach`] takes `platform`'s document as the platform's own
/// text (`.vmx`, xl.cfg: their writer has run) rather than as its
/// mapping wrote it.
pub fn attaches_to_native(platform: &str) -> bool {
    matches!(platform, "vmware" | "xen")
}

/// `xml` (a document of `platform` as its mapping wrote it, or its native
/// text where [`attaches_to_native`]) with `pkg` (in its [`channel_form`])
/// in the platform's channel.
pub fn attach(platform: &str, xml: &str, pkg: &str) -> Result<String, String> {
    let parts = chunks(pkg).ok_or_else(|| {
        format!(
            "the original document is too large to carry ({} bytes; at most {})",
            pkg.len(),
            CHUNK * MAX_CHUNKS
        )
    })?;
    match platform {
        "vsphere" => {
            // After the last `extraConfig` the mapping wrote (hvx-to-vsphere
            // always writes its `hvx.source` marker): the ConfigSpec's
            // member order stays as vim25 declares it.
            const END: &str = "</extraConfig>";
            let at = xml
                .rfind(END)
                .map(|i| i + END.len())
                .ok_or("the ConfigSpec has no extraConfig to carry the original beside")?;
            let mut add = String::with_capacity(pkg.len() + parts.len() * 120);
            for (i, part) in parts.iter().enumerate() {
                add.push_str("\n  <extraConfig>\n    <key>hvx.carry.");
                add.push_str(&i.to_string());
                add.push_str("</key>\n    <value xsi:type=\"xsd:string\">");
                crate::xmlout::text_block_into(&mut add, part).map_err(|e| e.to_string())?;
                add.push_str("</value>\n  </extraConfig>");
            }
            let mut out = String::with_capacity(xml.len() + add.len());
            out.push_str(&xml[..at]);
            out.push_str(&add);
            out.push_str(&xml[at..]);
            Ok(out)
        }
        "kvm" => {
            // In libvirt's <metadata>, which it keeps as it is: the mapping's
            // own, or a new one after the domain's <name>.
            let mut el = String::with_capacity(pkg.len() + 80);
            el.push_str("<hvxc:carry xmlns:hvxc=\"");
            el.push_str(NS);
            el.push_str("\">");
            crate::xmlout::text_block_into(&mut el, pkg).map_err(|e| e.to_string())?;
            el.push_str("</hvxc:carry>");
            let places = match domain_places(xml) {
                Some(p) => p,
                None => domain_places_parsed(xml)?,
            };
            let (at, add) = match places.metadata {
                Some(m) if m.has_children => (m.end - "</metadata>".len(), format!("  {el}\n  ")),
                Some(m) => {
                    return Ok(format!(
                        "{}<metadata>\n    {el}\n  </metadata>{}",
                        &xml[..m.start],
                        &xml[m.end..]
                    ))
                }
                None => {
                    let name = places
                        .name_end
                        .ok_or("the domain has no <name> to put <metadata> after")?;
                    (name, format!("\n  <metadata>\n    {el}\n  </metadata>"))
                }
            };
            let mut out = String::with_capacity(xml.len() + add.len());
            out.push_str(&xml[..at]);
            out.push_str(&add);
            out.push_str(&xml[at..]);
            Ok(out)
        }
        "vmware" | "xen" => {
            // Lines of the native text (see [`attaches_to_native`]), after
            // the mapping's own: keys of their own, which no mapping writes.
            let (prefix, sep) = if platform == "vmware" {
                ("hvx.carry.", " = \"")
            } else {
                ("hvx_carry_", " = ")
            };
            if crate::platform::text::lines(xml).any(|l| {
                l.get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
            }) {
                return Err(format!(
                    "the document already has {prefix}* settings of its own"
                ));
            }
            // A .vmx file in another encoding says so on its first line.
            let label = xml
                .strip_prefix(".encoding = \"")
                .and_then(|r| r.split('"').next());
            let charset = label.map_or(
                Some(crate::platform::text::Charset::Utf8),
                crate::platform::text::Charset::from_label,
            );
            // The reader puts these values into the canonical XML form: a
            // character XML cannot hold would make the file unreadable.
            for part in &parts {
                crate::xmlout::check_chars(part).map_err(|e| e.to_string())?;
            }
            let mut out = String::with_capacity(xml.len() + pkg.len() + parts.len() * 40);
            out.push_str(xml);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            for (i, part) in parts.iter().enumerate() {
                out.push_str(prefix);
                out.push_str(&i.to_string());
                out.push_str(sep);
                if platform == "vmware" {
                    out.push_str(&crate::platform::vmx::escape(
                        part,
                        charset,
                        label.unwrap_or("UTF-8"),
                    )?);
                    out.push('"');
                } else {
                    out.push_str(&crate::platform::xl::quote(part)?);
                }
                out.push('\n');
            }
            Ok(out)
        }
        "ovf" => {
            // A section of its own in the VirtualSystem, which an OVF
            // reader may skip (ovf:required="false").
            const END: &str = "</VirtualSystem>";
            let at = xml.rfind(END).ok_or("the envelope has no VirtualSystem")?;
            let mut add = String::with_capacity(pkg.len() + 300);
            add.push_str("  <hvxc:CarrySection xmlns:hvxc=\"");
            add.push_str(NS);
            add.push_str("\" ovf:required=\"false\">\n      <Info>What hvxform carries for the way back: the original this VM was converted from</Info>\n      <hvxc:Package>");
            crate::xmlout::text_block_into(&mut add, pkg).map_err(|e| e.to_string())?;
            add.push_str("</hvxc:Package>\n    </hvxc:CarrySection>\n  ");
            Ok(format!("{}{add}{}", &xml[..at], &xml[at..]))
        }
        "ec2" => {
            // Tags of the instance, after the mapping's own.
            let (r, used) = match plain_tag_set(xml) {
                Some(found) => found,
                None => {
                    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
                    let set =
                        ec2_tag_set(&doc).ok_or("the response has not exactly one instance")?;
                    (
                        set.range(),
                        set.children().filter(|c| c.is_element()).count(),
                    )
                }
            };
            let parts = ec2_parts(pkg, used)?;
            let pad = indent_at(xml, r.start);
            let mut add = String::with_capacity(parts.len() * (EC2_VALUE + 120));
            for (i, part) in parts.iter().enumerate() {
                for piece in ["\n", pad, "  <item>\n", pad, "    <key>", EC2_PREFIX] {
                    add.push_str(piece);
                }
                add.push_str(&i.to_string());
                for piece in [
                    "</key>\n",
                    pad,
                    "    <value>",
                    part,
                    "</value>\n",
                    pad,
                    "  </item>",
                ] {
                    add.push_str(piece);
                }
            }
            if used == 0 {
                let name = &xml[r.start + 1..]
                    .split(|c: char| c == '>' || c == '/' || c.is_whitespace())
                    .next()
                    .unwrap_or("tagSet");
                Ok(format!(
                    "{}<{name}>{add}\n{pad}</{name}>{}",
                    &xml[..r.start],
                    &xml[r.end..]
                ))
            } else {
                let close = xml[..r.end]
                    .rfind("</")
                    .ok_or("the tagSet does not close")?;
                let at = xml[..close].trim_end().len();
                Ok(format!("{}{add}{}", &xml[..at], &xml[at..]))
            }
        }
        "hyperv" => {
            // Values of the VSSD's Notes, after the mapping's own (the
            // canonical form, which the CIM-XML writer packs).
            let (at, end) = vssd_range(xml)?;
            let (notes, empty) = vssd_notes(xml, at, end)?;
            let mut add = String::with_capacity(pkg.len() + 64);
            for (i, part) in parts.iter().enumerate() {
                add.push_str("<value>");
                add.push_str(NOTES_PREFIX);
                add.push_str(&i.to_string());
                add.push('=');
                add.push_str(part);
                add.push_str("</value>");
            }
            const NOTES: &str = "<Notes type=\"string\" array=\"true\">";
            Ok(match (notes, empty) {
                // No Notes yet: one, at the end of the VSSD.
                (None, _) => {
                    format!("{}{NOTES}{add}</Notes>{}", &xml[..end], &xml[end..])
                }
                (Some(r), true) => {
                    format!("{}{NOTES}{add}</Notes>{}", &xml[..r.start], &xml[r.end..])
                }
                (Some(r), false) => {
                    let at = r.end - "</Notes>".len();
                    format!("{}{add}{}", &xml[..at], &xml[at..])
                }
            })
        }
        _ => Err(format!("{platform} has no channel for carried data")),
    }
}

/// The VSSD instance of a canonical Hyper-V document as the writer writes
/// it: its start and where its end tag starts.
fn vssd_range(xml: &str) -> Result<(usize, usize), String> {
    const START: &str = "<instance class=\"Msvm_VirtualSystemSettingData\">";
    let not_plain = || "the document has not one VSSD as hvxform writes it".to_string();
    let mut vssds = memmem::find_iter(xml.as_bytes(), START);
    let (Some(at), None) = (vssds.next(), vssds.next()) else {
        return Err(not_plain());
    };
    if has_comment_or_cdata(xml) {
        return Err(not_plain());
    }
    let end = at + memmem::find(&xml.as_bytes()[at..], b"</instance>").ok_or_else(not_plain)?;
    Ok((at, end))
}

/// The VSSD's `Notes` element (its range, and whether it is empty), if it
/// has one; the VSSD is `xml[at..end]` ([`vssd_range`]).
type NotesAt = (Option<std::ops::Range<usize>>, bool);
fn vssd_notes(xml: &str, at: usize, end: usize) -> Result<NotesAt, String> {
    const EMPTY: &str = "<Notes type=\"string\" array=\"true\"/>";
    const START: &str = "<Notes type=\"string\" array=\"true\">";
    let inside = &xml[at..end];
    if let Some(i) = inside.find(EMPTY) {
        return Ok((Some(at + i..at + i + EMPTY.len()), true));
    }
    match inside.find(START) {
        Some(i) => {
            let close = inside[i..]
                .find("</Notes>")
                .ok_or("the VSSD's Notes do not end")?;
            Ok((Some(at + i..at + i + close + "</Notes>".len()), false))
        }
        None if inside.contains("<Notes") => {
            Err("the VSSD's Notes are not an array as hvxform writes it".into())
        }
        None => Ok((None, false)),
    }
}

/// The namespace of the element that holds a package in libvirt's
/// `<metadata>` (libvirt keeps elements of other namespaces there as they
/// are) and of the OVF section that does.
pub const NS: &str = "urn:hvxform:carry:1";

/// What a document carries: the package, or why its values do not make
/// one, and the byte ranges of input text the engine removes before the
/// mapping reads it (a channel no mapping should see), in order.
pub struct Found {
    pub package: Result<String, String>,
    pub strip: Vec<std::ops::Range<usize>>,
}

/// The package put together from numbered parts (`what` names a part:
/// `extraConfig hvx.carry.{}`).
fn assemble(mut parts: Vec<(usize, &str)>, what: &str) -> Result<String, String> {
    parts.sort_by_key(|p| p.0);
    if let Some(w) = parts.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "{} is given twice",
            what.replace("{}", &w[0].0.to_string())
        ));
    }
    let mut pkg = String::new();
    for (want, (i, v)) in parts.iter().enumerate() {
        if *i != want {
            return Err(format!(
                "{} is missing ({} parts found)",
                what.replace("{}", &want.to_string()),
                parts.len()
            ));
        }
        pkg.push_str(v);
    }
    Ok(pkg)
}

/// The part number after `prefix` in `key`, if `key` is a part's (with
/// `any_case`, the prefix in any case: `.vmx` keys are case-insensitive,
/// VMware reads `HVX.CARRY.0` as `hvx.carry.0`).
fn part_of(key: &str, prefix: &str, any_case: bool) -> Option<Result<usize, String>> {
    let k = match key.get(..prefix.len()) {
        Some(p) if p == prefix || (any_case && p.eq_ignore_ascii_case(prefix)) => {
            &key[prefix.len()..]
        }
        _ => return None,
    };
    Some(
        k.parse::<usize>()
            .ok()
            .filter(|i| *i < MAX_CHUNKS)
            .ok_or_else(|| format!("{key} is not a part of carried data")),
    )
}

/// The package a document of `platform` carries (its canonical XML form
/// for `.vmx` and xl.cfg), if any.
pub fn find(platform: &str, doc: &roxmltree::Document) -> Option<Found> {
    let root = doc.root_element();
    let mut parts: Vec<(usize, &str)> = Vec::new();
    let mut strip = Vec::new();
    let what;
    match platform {
        "vsphere" => {
            what = "extraConfig hvx.carry.{}";
            for ec in root.children().filter(|n| n.has_tag_name("extraConfig")) {
                let child = |name: &str| {
                    ec.children()
                        .find(|n| n.tag_name().name() == name)
                        .map(|n| n.text().unwrap_or(""))
                };
                let Some(key) = child("key") else { continue };
                match part_of(key, "hvx.carry.", false) {
                    None => continue,
                    Some(Ok(i)) => parts.push((i, child("value").unwrap_or(""))),
                    Some(Err(e)) => {
                        return Some(Found {
                            package: Err(e),
                            strip,
                        })
                    }
                }
            }
        }
        "vmware" | "xen" => {
            let (attr, prefix) = if platform == "vmware" {
                (true, "hvx.carry.")
            } else {
                (false, "hvx_carry_")
            };
            what = if attr { "hvx.carry.{}" } else { "hvx_carry_{}" };
            for n in root.children().filter(|n| n.is_element()) {
                let key = if attr {
                    n.attribute("key")
                } else {
                    Some(n.tag_name().name())
                };
                // xl.cfg's keys are case-sensitive, `.vmx` ones are not.
                match key.and_then(|k| part_of(k, prefix, attr)) {
                    None => continue,
                    Some(Ok(i)) => {
                        parts.push((i, n.text().unwrap_or("")));
                        strip.push(n.range());
                    }
                    Some(Err(e)) => {
                        return Some(Found {
                            package: Err(e),
                            strip: Vec::new(),
                        })
                    }
                }
            }
        }
        "kvm" => {
            let meta = root.children().find(|n| n.has_tag_name("metadata"))?;
            let el = meta
                .children()
                .find(|n| n.is_element() && n.tag_name().namespace() == Some(NS))?;
            // The whole <metadata> when the package is all it holds.
            let alone = meta.children().filter(|n| n.is_element()).count() == 1;
            return Some(Found {
                package: Ok(el.text().unwrap_or("").to_string()),
                strip: vec![if alone { meta.range() } else { el.range() }],
            });
        }
        "ovf" => {
            let vs = root
                .descendants()
                .find(|n| n.tag_name().name() == "VirtualSystem")?;
            let sec = vs
                .children()
                .find(|n| n.is_element() && n.tag_name().namespace() == Some(NS))?;
            let pkg = sec
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "Package")
                .map(|n| n.text().unwrap_or("").to_string())
                .ok_or_else(|| "the carried-data section has no Package".to_string());
            return Some(Found {
                package: pkg,
                strip: vec![sec.range()],
            });
        }
        "hyperv" => {
            what = "Notes value hvxform:carry:{}";
            let vssds: Vec<_> = root
                .children()
                .filter(|n| {
                    n.has_tag_name("instance")
                        && n.attribute("class") == Some("Msvm_VirtualSystemSettingData")
                })
                .collect();
            let [vssd] = vssds[..] else { return None };
            let notes = vssd.children().find(|n| n.has_tag_name("Notes"))?;
            let values = notes.children().filter(|c| c.is_element()).filter_map(|v| {
                let (key, part) = v.text()?.split_once('=')?;
                Some((v.range(), key, part))
            });
            return packed_parts(values, NOTES_PREFIX, what);
        }
        "ec2" => {
            what = "tag hvxform:carry:{}";
            let set = ec2_tag_set(doc)?;
            let tags = set
                .children()
                .filter(|c| c.is_element())
                .filter_map(|item| {
                    let value = item
                        .children()
                        .find(|c| c.is_element() && c.tag_name().name() == "value")
                        .and_then(|v| v.text())
                        .unwrap_or("");
                    Some((item.range(), ec2_key(item)?, value))
                });
            return packed_parts(tags, EC2_PREFIX, what);
        }
        _ => return None,
    }
    if parts.is_empty() {
        return None;
    }
    Some(Found {
        package: assemble(parts, what),
        strip,
    })
}

/// The package in [`pack`]ed parts: of `candidates` (each a range of the
/// input, a key and a value), those whose key is `prefix` and a part
/// number; `None` when there are none.
fn packed_parts<'a>(
    candidates: impl Iterator<Item = (std::ops::Range<usize>, &'a str, &'a str)>,
    prefix: &str,
    what: &str,
) -> Option<Found> {
    let (mut values, mut strip) = (Vec::new(), Vec::new());
    for (range, key, value) in candidates {
        match part_of(key, prefix, false) {
            None => continue,
            Some(Ok(i)) => {
                values.push((i, value));
                strip.push(range);
            }
            Some(Err(e)) => {
                return Some(Found {
                    package: Err(e),
                    strip: Vec::new(),
                })
            }
        }
    }
    if values.is_empty() {
        return None;
    }
    Some(Found {
        package: assemble(values, what).and_then(|p| unpack(&p)),
        strip,
    })
}

/// `doc` written again without its secret nodes (elements, or attributes
/// by index): what is carried of an input with secrets.
pub fn without(
    doc: &Document,
    secrets: &[(crate::tree::NodeId, Option<u32>)],
) -> Result<String, String> {
    write_without(doc, secrets, false)
}

fn write_without(
    doc: &Document,
    secrets: &[(crate::tree::NodeId, Option<u32>)],
    indent: bool,
) -> Result<String, String> {
    fn walk(
        n: Node,
        secrets: &[(crate::tree::NodeId, Option<u32>)],
        out: &mut XmlOut,
    ) -> Result<(), WriteError> {
        let id = n.id();
        if secrets.contains(&(id, None)) {
            return Ok(());
        }
        let tn = n.tag_name();
        let prefix = tn.namespace().and_then(|u| n.lookup_prefix(u));
        out.start_ns(tn.name(), tn.namespace(), prefix)?;
        for (i, a) in n.attributes().enumerate() {
            if secrets.contains(&(id, Some(i as u32))) {
                continue;
            }
            let p = a.namespace().and_then(|u| n.lookup_prefix(u));
            out.attr_ns(a.name(), a.namespace(), p, a.value())?;
        }
        for c in n.children() {
            if c.is_element() {
                walk(c, secrets, out)?;
            } else if c.is_text() && !secrets.contains(&(c.id(), None)) {
                out.text(c.text().unwrap_or(""))?;
            }
        }
        out.end();
        Ok(())
    }
    let root = doc.root_element().ok_or("no root element")?;
    let mut out = XmlOut::with_indent(indent);
    walk(root, secrets, &mut out).map_err(|e| e.to_string())?;
    out.finish().map_err(|e| e.to_string())
}

/// `doc` written as a final output is (indented, with its declaration): a
/// document a stage built as a tree that no writer reads as one.
pub fn written(doc: &Document) -> Result<String, String> {
    write_without(doc, &[], true)
}

/// Whether two elements are the same: name, attributes (in any order),
/// text and child elements (in order).
pub fn same(x: Node, y: Node) -> bool {
    qname(x) == qname(y) && same_attributes(x, y, false) && same_content(x, y)
}

/// [`same`], but a hub device (`disk`, `nic`) whose boot order alone
/// differs is the same device: it was reordered, not changed.
fn same_but_boot(x: Node, y: Node) -> bool {
    let device = matches!(x.tag_name().name(), "disk" | "nic");
    qname(x) == qname(y) && same_attributes(x, y, device) && same_content(x, y)
}

/// Whether two elements have the same attributes, in any order (without
/// their `boot` when `but_boot`).
fn same_attributes(x: Node, y: Node, but_boot: bool) -> bool {
    let counted =
        |a: &crate::tree::Attribute| !(but_boot && a.name() == "boot" && a.namespace().is_none());
    x.attributes().filter(counted).count() == y.attributes().filter(counted).count()
        && x.attributes().filter(counted).all(|a| {
            y.attributes().any(|b| {
                b.name() == a.name()
                    && ns(b.namespace()) == ns(a.namespace())
                    && b.value() == a.value()
            })
        })
}

/// Whether two elements' child elements and texts are the same, in order.
/// A device's place among libvirt's devices (`entry platform="kvm"
/// key="position"`, which restores libvirt's order) is not compared: a disk
/// removed on KVM moves every later device up one place, and they are the
/// same devices.
fn same_content(x: Node, y: Node) -> bool {
    let mut xs = content(x).filter(|c| !is_position(*c));
    let mut ys = content(y).filter(|c| !is_position(*c));
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) => {
                let equal = match (p.is_element(), q.is_element()) {
                    (true, true) => same(p, q),
                    (false, false) => p.text() == q.text(),
                    _ => false,
                };
                if !equal {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A hub device's `entry platform="kvm" key="position"`.
fn is_position(n: Node) -> bool {
    n.is_element()
        && n.tag_name().name() == "entry"
        && n.attribute("platform") == Some("kvm")
        && n.attribute("key") == Some("position")
}

/// No namespace and the empty one are the same (a tree built with
/// `xmlns=""` says the latter, a parsed one the former).
fn ns(n: Option<&str>) -> Option<&str> {
    n.filter(|u| !u.is_empty())
}

/// An element's (namespace, local name).
fn qname<'a>(n: Node<'a, '_>) -> (Option<&'a str>, &'a str) {
    let t = n.tag_name();
    (ns(t.namespace()), t.name())
}

/// Child elements and non-blank texts.
fn content<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| {
        c.is_element() || (c.is_text() && c.text().is_some_and(|t| !t.trim().is_empty()))
    })
}

fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// The order of the hub's `vm` members (schema/hvx.rng).
const VM_ORDER: &[&str] = &[
    "name",
    "uuid",
    "genid",
    "description",
    "os",
    "firmware",
    "tpm",
    "kernel",
    "cpu",
    "memory",
    "features",
    "clock",
    "lifecycle",
    "controller",
    "disk",
    "nic",
    "graphics",
    "video",
    "serial",
    "parallel",
    "console",
    "input",
    "sound",
    "usb",
    "watchdog",
    "rng",
    "extensions",
];

/// Elements merged member by member; all others are taken whole.
fn is_container(n: Node) -> bool {
    matches!(n.tag_name().name(), "vm" | "extensions" | "cpu" | "memory")
}

/// The merge's result: the hub, written into `out`, and what was dropped.
pub fn merge(
    a: &Document,
    b: &Document,
    c: &Document,
    via: &str,
    out: &mut XmlOut,
) -> Result<Vec<String>, String> {
    let (Some(ra), Some(rb), Some(rc)) = (a.root_element(), b.root_element(), c.root_element())
    else {
        return Err("a hub without a root element".into());
    };
    if qname(ra) != qname(rc) || qname(rb) != qname(rc) {
        return Err("the carried hub and the returning one differ at the root".into());
    }
    let mut m = Merger {
        out,
        via,
        warnings: Vec::new(),
        boot_from_c: false,
    };
    m.container(ra, rb, rc).map_err(|e| e.to_string())?;
    Ok(m.warnings)
}

/// Attributes of a hub element that say something of another attribute of
/// it: (element, attribute, the attribute it depends on). Where the
/// platform changed the one depended on, the carried value of the other
/// describes what is gone: the platform's value is kept instead (a MAC
/// changed on KVM is not `generated` by VMware because the old one was).
/// `on` is an attribute of the element, or `child/attribute` (a disk's
/// format is its image's: another image, the format the platform gives it).
/// A NIC's connection moved to another network is of the kind, and on the
/// switch, the platform says (a Linux bridge renamed to an OVF network is
/// no bridge).
const DEPENDS: &[(&str, &str, &str)] = &[
    ("nic", "mac_type", "mac"),
    ("disk", "format", "source/path"),
    ("connection", "type", "name"),
    ("connection", "switch", "name"),
];

/// A device's native keys that describe one of its modelled fields:
/// (platform, key in lower case, the field, as in [`DEPENDS`]). Where the
/// platform changed that field, the carried key is stale and does not come
/// back with the device (a `.vmx` NIC's `addressType = "generated"` for a
/// MAC changed on KVM; an xl.cfg disk's `access=rw` for a disk made
/// read-only, its `backendtype=phy` for another image).
const ENTRY_DEPENDS: &[(&str, &str, &str)] = &[
    ("vmware", "addresstype", "mac"),
    ("vmware", "generatedaddress", "mac"),
    ("vmware", "generatedaddressoffset", "mac"),
    ("vmware", "checkmacaddress", "mac"),
    ("vmware", "address", "mac"),
    ("vmware", "filename", "source/path"),
    ("vmware", "devicetype", "device"),
    ("xen", "access", "readonly"),
    ("xen", "backendtype", "source/path"),
    ("xen", "format", "source/path"),
    ("xen", "target", "source/path"),
    ("xen", "devtype", "device"),
    ("xen", "mac", "mac"),
];

/// Whether a device's carried native key `e` describes a field the
/// platform changed (B's value is not C's): see [`ENTRY_DEPENDS`].
fn entry_stale(e: Node, b: Option<Node>, c: Node) -> bool {
    let (Some(platform), Some(key)) = (e.attribute("platform"), e.attribute("key")) else {
        return true;
    };
    let key = key.to_ascii_lowercase();
    ENTRY_DEPENDS
        .iter()
        .filter(|(p, k, _)| *p == platform && *k == key)
        .any(|(_, _, on)| b.and_then(|b| depended(b, on)) != depended(c, on))
}

/// The value [`DEPENDS`] compares: an attribute, or a child's.
fn depended<'a>(n: Node<'a, '_>, on: &str) -> Option<&'a str> {
    match on.split_once('/') {
        Some((child, at)) => n
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == child)?
            .attribute(at),
        None => n.attribute(on),
    }
}

/// Whether `name` of `element` is one whose value follows another that
/// changed between B and C (the platform's value of it is the one).
fn follows_change(element: &str, name: &str, b: Option<Node>, c: Node) -> bool {
    DEPENDS
        .iter()
        .find(|(e, at, _)| *e == element && *at == name)
        .is_some_and(|(_, _, on)| b.and_then(|b| depended(b, on)) != depended(c, on))
}

/// What goes out, for one member.
enum Pick<'a, 'i> {
    /// Taken whole.
    Whole(Node<'a, 'i>),
    /// A's device with C's boot order (or none): only the order changed.
    Reordered(Node<'a, 'i>, Option<&'a str>),
    /// Merged member by member (A, B, C).
    Merge(Node<'a, 'i>, Node<'a, 'i>, Node<'a, 'i>),
    /// C's member, changed on the platform, with the attributes of its
    /// original (A, through B) that the platform cannot hold.
    Patched(Node<'a, 'i>, Node<'a, 'i>, Node<'a, 'i>),
}

struct Merger<'o> {
    out: &'o mut XmlOut,
    via: &'o str,
    warnings: Vec<String>,
    /// The VM's boot order was changed on the platform: it is one setting
    /// spread over the devices, so every device's comes from C (a device
    /// the new order leaves out has none), not only the changed ones'.
    boot_from_c: bool,
}

/// The boot orders of a VM's devices, in order: what the platform says
/// of the VM's boot order as a whole.
fn boot_orders<'a>(vm: Node<'a, '_>) -> Vec<(&'a str, &'a str)> {
    vm.children()
        .filter(|n| n.is_element())
        .filter_map(|n| n.attribute("boot").map(|b| (n.tag_name().name(), b)))
        .collect()
}

impl Merger<'_> {
    fn container<'a, 'i>(
        &mut self,
        a: Node<'a, 'i>,
        b: Node<'a, 'i>,
        c: Node<'a, 'i>,
    ) -> Result<(), WriteError> {
        let tn = c.tag_name();
        if tn.name() == "vm" && boot_orders(b) != boot_orders(c) {
            self.boot_from_c = true;
        }
        self.start(c)?;
        // Attributes: the platform's value where it changed, else the original.
        let mut names: Vec<(Option<&str>, &str)> = Vec::new();
        for n in [a, b, c] {
            for at in n.attributes() {
                if !names.contains(&(ns(at.namespace()), at.name())) {
                    names.push((ns(at.namespace()), at.name()));
                }
            }
        }
        let get = |n: Node<'_, '_>, uri: Option<&str>, name: &str| {
            n.attributes()
                .find(|x| ns(x.namespace()) == uri && x.name() == name)
                .map(|x| x.value().to_string())
        };
        for (uri, name) in names {
            let (va, vb, vc) = (get(a, uri, name), get(b, uri, name), get(c, uri, name));
            // An attribute that says something of another one (a MAC's
            // origin) is the platform's when that one changed there.
            let follows = uri.is_none() && follows_change(tn.name(), name, Some(b), c);
            if let Some(v) = if vc == vb && !follows { va } else { vc } {
                let p = uri.and_then(|u| c.lookup_prefix(u));
                self.out.attr_ns(name, uri, p, &v)?;
            }
        }
        // Members, grouped by name, in the hub's order.
        let mut groups: Vec<(Option<&str>, &str)> = Vec::new();
        for n in elements(a).chain(elements(c)) {
            let k = qname(n);
            if !groups.contains(&k) {
                groups.push(k);
            }
        }
        if tn.name() == "vm" {
            let rank = |name: &str| {
                VM_ORDER
                    .iter()
                    .position(|x| *x == name)
                    .unwrap_or(VM_ORDER.len())
            };
            groups.sort_by_key(|(_, name)| rank(name));
        }
        // In a CPU or memory the platform changed, what goes with the amount
        // (a topology, a balloon target) is the platform's; the settings
        // beside it (reservation, limit, shares) merge.
        let amount = matches!(tn.name(), "cpu" | "memory");
        for (ns, name) in groups {
            if amount && !matches!(name, "reservation" | "limit" | "shares") {
                // A balloon target the platform cannot hold at all (Hyper-V's
                // startup memory through VMware) comes back while the VM
                // still has that much memory: the dynamic range keeps its
                // floor, the platform's new size its ceiling.
                let (lb, lc) = (members(b, ns, name), members(c, ns, name));
                if tn.name() == "memory" && name == "current" && lb.is_empty() && lc.is_empty() {
                    for n in members(a, ns, name) {
                        if exceeds(n, c) {
                            self.warnings.push(format!(
                                "carried memory current of {} bytes not restored: the VM has {} bytes now (changed in {})",
                                n.attribute("bytes").unwrap_or("?"),
                                c.attribute("bytes").unwrap_or("?"),
                                self.via
                            ));
                        } else {
                            self.copy(n)?;
                        }
                    }
                    continue;
                }
                for n in lc {
                    self.copy(n)?;
                }
                continue;
            }
            let (la, lb, lc) = (
                members(a, ns, name),
                members(b, ns, name),
                members(c, ns, name),
            );
            for p in self.group(&la, &lb, &lc) {
                match p {
                    // A reservation the platform could not hold, for more
                    // memory than the VM has now (a limit above it binds
                    // nothing and is kept).
                    Pick::Whole(n)
                        if tn.name() == "memory"
                            && n.tag_name().name() == "reservation"
                            && !std::ptr::eq(n.document(), c.document())
                            && exceeds(n, c) =>
                    {
                        self.warnings.push(format!(
                            "carried memory {} of {} bytes not restored: the VM has {} bytes now (changed in {})",
                            n.tag_name().name(),
                            n.attribute("bytes").unwrap_or("?"),
                            c.attribute("bytes").unwrap_or("?"),
                            self.via
                        ));
                    }
                    Pick::Whole(n) => self.copy(n)?,
                    Pick::Reordered(n, boot) => self.copy_with(n, Some(boot), None)?,
                    Pick::Merge(x, y, z) => self.container(x, y, z)?,
                    Pick::Patched(nc, na, nb) => self.copy_patched(nc, Some(na), Some(nb), true)?,
                }
            }
        }
        self.out.end();
        Ok(())
    }

    /// One group of same-named members.
    fn group<'a, 'i>(
        &mut self,
        la: &[Node<'a, 'i>],
        lb: &[Node<'a, 'i>],
        lc: &[Node<'a, 'i>],
    ) -> Vec<Pick<'a, 'i>> {
        // B comes from A: see [`pair_by_facts`].
        let b_to_a = pair_by_facts(la, lb);
        let mut a_has_b = vec![false; la.len()];
        for i in b_to_a.iter().flatten() {
            a_has_b[*i] = true;
        }
        // Each C with the B it equals (the same place first).
        let mut b_used = vec![false; lb.len()];
        let c_to_b: Vec<Option<usize>> = lc
            .iter()
            .enumerate()
            .map(|(k, nc)| {
                let hit = std::iter::once(k)
                    .chain(0..lb.len())
                    .find(|&j| j < lb.len() && !b_used[j] && same_but_boot(lb[j], *nc));
                if let Some(j) = hit {
                    b_used[j] = true;
                }
                hit
            })
            .collect();
        // Singletons merged member by member when they changed.
        if la.len() == 1
            && lb.len() == 1
            && lc.len() == 1
            && is_container(lc[0])
            && c_to_b[0].is_none()
        {
            // The original's value is lost where it held more than the
            // platform did (memory vSphere rounded).
            if !matches!(la[0].tag_name().name(), "vm" | "extensions") && !same(la[0], lb[0]) {
                self.warnings.push(format!(
                    "carried {} not restored: it was changed or removed in {}, whose value is kept",
                    describe(la[0]),
                    self.via
                ));
            }
            return vec![Pick::Merge(la[0], lb[0], lc[0])];
        }
        // Each changed C with the B it shares most with (another B than an
        // unchanged C took), for the attributes only its original holds:
        // the pairs that share most first, whatever their order (a disk
        // added in vSphere before the disk that was grown there takes
        // nothing of that disk's).
        let mut b_taken = b_used.clone();
        let mut c_changed_b: Vec<Option<usize>> = vec![None; lc.len()];
        let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
        for (k, nc) in lc.iter().enumerate() {
            if c_to_b[k].is_some() || lb.is_empty() {
                continue;
            }
            let fc = facts(*nc);
            for j in 0..lb.len() {
                if !b_taken[j] && b_to_a[j].is_some() && ident(lb[j]) == ident(*nc) {
                    let score = facts(lb[j]).iter().filter(|f| fc.contains(f)).count();
                    if score > 0 {
                        candidates.push((score, k, j));
                    }
                }
            }
        }
        candidates.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        for (_, k, j) in candidates {
            if c_changed_b[k].is_none() && !b_taken[j] {
                c_changed_b[k] = Some(j);
                b_taken[j] = true;
            }
        }
        let mut picks: Vec<(f64, Pick)> = Vec::new();
        let mut last = -1.0;
        for (k, nc) in lc.iter().enumerate() {
            match c_to_b[k].map(|j| (j, b_to_a[j])) {
                // What the platform made itself (a .vmx's SCSI adapter for
                // virtio disks, its SVGA), back unchanged: not the VM's.
                Some((_, None)) => {}
                Some((j, Some(i))) => {
                    // A device whose boot order alone changed keeps its
                    // carried detail, in the platform's new order.
                    let boot = |n: Node<'a, 'i>| n.attribute("boot");
                    let pick = if boot(lb[j]) == boot(*nc)
                        && !(self.boot_from_c && boot(la[i]) != boot(*nc))
                    {
                        Pick::Whole(la[i])
                    } else {
                        Pick::Reordered(la[i], boot(*nc))
                    };
                    picks.push((i as f64, pick));
                    last = i as f64;
                }
                None => {
                    last += 1e-3;
                    let pick = match c_changed_b[k].and_then(|j| b_to_a[j].map(|i| (i, j))) {
                        Some((i, j)) => Pick::Patched(*nc, la[i], lb[j]),
                        None => Pick::Whole(*nc),
                    };
                    picks.push((last, pick));
                }
            }
        }
        for (i, na) in la.iter().enumerate() {
            if !a_has_b[i] {
                picks.push((i as f64, Pick::Whole(*na)));
            }
        }
        for (j, nb) in lb.iter().enumerate() {
            if b_used[j] {
                continue;
            }
            if let Some(i) = b_to_a[j] {
                if b_taken[j] && !b_used[j] {
                    // Changed there and patched: its values that the
                    // platform gave back as it wrote them are the
                    // original's, but its native detail describes the
                    // device as it was.
                    if la[i]
                        .children()
                        .any(|x| matches!(x.tag_name().name(), "extension" | "entry"))
                    {
                        self.warnings.push(format!(
                            "carried {} restored in part: it was changed in {}, whose changes are kept; its native detail (the original platform's own settings of it) comes back as former detail, of which its platform writes what still applies",
                            describe(la[i]),
                            self.via
                        ));
                    }
                } else if !same(la[i], *nb) {
                    self.warnings.push(format!(
                        "carried {} not restored: it was changed or removed in {}, whose value is kept",
                        describe(la[i]),
                        self.via
                    ));
                }
            }
        }
        picks.sort_by(|x, y| x.0.total_cmp(&y.0));
        picks.into_iter().map(|(_, p)| p).collect()
    }

    /// A deep copy of `c` (a member changed on the platform), with each
    /// attribute its original `a` has where neither `b` (the original
    /// through the platform) nor `c` has it: what the platform cannot hold
    /// (a NIC's distributed switch, through KVM) comes back with the
    /// change. Elements are matched by name and place; native detail
    /// (`extension`, `entry`) is C's, since A's describes the device as it
    /// was. With `former` (a member of `vm`: a device), each of A's native
    /// elements (`extension`) of a platform C has none of comes back
    /// marked `former="true"`: that platform's writer takes from it what
    /// still applies to the device as it is now (libvirt's driver options
    /// and PCI address of a disk resized elsewhere).
    fn copy_patched(
        &mut self,
        c: Node,
        a: Option<Node>,
        b: Option<Node>,
        former: bool,
    ) -> Result<(), WriteError> {
        let tn = c.tag_name();
        let native = matches!(tn.name(), "extension" | "entry");
        // A's value of an attribute, where the platform gave it back as it
        // wrote it (B's value): the user changed something else.
        self.start(c)?;
        for at in c.attributes() {
            let p = at.namespace().and_then(|u| c.lookup_prefix(u));
            let uri = ns(at.namespace());
            let follows = uri.is_none() && follows_change(tn.name(), at.name(), b, c);
            let value = match attr_value(b, uri, at.name()) {
                Some(vb) if !native && !follows && vb == at.value() => {
                    attr_value(a, uri, at.name()).unwrap_or(at.value())
                }
                _ => at.value(),
            };
            self.out.attr_ns(at.name(), at.namespace(), p, value)?;
        }
        let has =
            |n: Option<Node>, uri: Option<&str>, name: &str| attr_value(n, uri, name).is_some();
        if let (Some(a), false) = (a, native) {
            for at in a.attributes() {
                let uri = ns(at.namespace());
                // (Not a boot order the platform's new one left out.)
                let dropped_boot = self.boot_from_c && at.name() == "boot" && uri.is_none();
                let follows = uri.is_none() && follows_change(tn.name(), at.name(), b, c);
                if !(has(Some(c), uri, at.name())
                    || has(b, uri, at.name())
                    || dropped_boot
                    || follows)
                {
                    let p = at.namespace().and_then(|u| c.lookup_prefix(u));
                    self.out.attr_ns(at.name(), at.namespace(), p, at.value())?;
                }
            }
        }
        let has_elements = c.children().any(|x| x.is_element());
        let mut seen: Vec<((Option<&str>, &str), usize)> = Vec::new();
        for ch in c.children() {
            if ch.is_element() {
                let q = qname(ch);
                let k = match seen.iter_mut().find(|(x, _)| *x == q) {
                    Some((_, k)) => {
                        *k += 1;
                        *k
                    }
                    None => {
                        seen.push((q, 0));
                        0
                    }
                };
                if native {
                    self.copy(ch)?;
                } else {
                    self.copy_patched(ch, nth_named(a, q, k), nth_named(b, q, k), false)?;
                }
            } else if !has_elements && !native && ch.is_text() {
                // A value the platform gave back as it wrote it: A's.
                fn leaf_text<'a>(n: Option<Node<'a, '_>>) -> Option<&'a str> {
                    n.filter(|n| !n.children().any(|x| x.is_element()))
                        .and_then(|n| n.text())
                }
                match (leaf_text(Some(c)), leaf_text(b), leaf_text(a)) {
                    (Some(vc), Some(vb), Some(va)) if vc == vb => self.out.text(va)?,
                    _ => self.text_child(ch, has_elements)?,
                }
            } else {
                self.text_child(ch, has_elements)?;
            }
        }
        if let (Some(a), true) = (a, former) {
            // Whether `n` has a native child `tag` of `platform`.
            let has = |n: Node, tag: &str, platform: Option<&str>| {
                elements(n)
                    .any(|x| x.tag_name().name() == tag && x.attribute("platform") == platform)
            };
            for e in elements(a).filter(|e| e.tag_name().name() == "extension") {
                if !has(c, "extension", e.attribute("platform")) {
                    self.copy_former(e)?;
                }
            }
            // A text platform's own keys of the device (a `.vmx` disk's
            // `mode`, an xl.cfg NIC's `rate` and `vifname`), where C has
            // none of that platform's: they still apply, but those that
            // describe a field the platform changed ([`ENTRY_DEPENDS`]).
            for e in elements(a).filter(|e| e.tag_name().name() == "entry") {
                if !has(c, "entry", e.attribute("platform")) && !entry_stale(e, b, c) {
                    self.copy(e)?;
                }
            }
        }
        self.out.end();
        Ok(())
    }

    /// A deep copy of a native element (`extension`) marked
    /// `former="true"`: it describes a device as it was before it was
    /// changed on a platform.
    fn copy_former(&mut self, e: Node) -> Result<(), WriteError> {
        self.copy_with(e, None, Some(("former", "true")))
    }

    /// Starts an element named as `n` is, with its namespace's prefix.
    fn start(&mut self, n: Node) -> Result<(), WriteError> {
        let tn = n.tag_name();
        let prefix = tn.namespace().and_then(|u| n.lookup_prefix(u));
        self.out.start_ns(tn.name(), tn.namespace(), prefix)
    }

    /// A text child, but the indentation between child elements.
    fn text_child(&mut self, t: Node, has_elements: bool) -> Result<(), WriteError> {
        if let Some(t) = t.text().filter(|_| t.is_text()) {
            if !(has_elements && t.trim().is_empty()) {
                self.out.text(t)?;
            }
        }
        Ok(())
    }

    /// A deep copy.
    fn copy(&mut self, n: Node) -> Result<(), WriteError> {
        self.copy_with(n, None, None)
    }

    /// A deep copy; `boot`, when given, replaces the element's own `boot`;
    /// `add`, an attribute (without a namespace) the element gets unless it
    /// has one of that name.
    fn copy_with(
        &mut self,
        n: Node,
        boot: Option<Option<&str>>,
        add: Option<(&str, &str)>,
    ) -> Result<(), WriteError> {
        self.start(n)?;
        for a in n.attributes() {
            if boot.is_some() && a.name() == "boot" && a.namespace().is_none() {
                continue;
            }
            let p = a.namespace().and_then(|u| n.lookup_prefix(u));
            self.out.attr_ns(a.name(), a.namespace(), p, a.value())?;
        }
        if let Some(Some(order)) = boot {
            self.out.attr_ns("boot", None, None, order)?;
        }
        if let Some((name, value)) = add.filter(|(name, _)| n.attribute(name).is_none()) {
            self.out.attr_ns(name, None, None, value)?;
        }
        let has_elements = n.children().any(|c| c.is_element());
        for c in n.children() {
            if c.is_element() {
                self.copy(c)?;
            } else {
                self.text_child(c, has_elements)?;
            }
        }
        self.out.end();
        Ok(())
    }
}

/// The `k`th child element of `n` named `q`.
fn nth_named<'a, 'i>(
    n: Option<Node<'a, 'i>>,
    q: (Option<&str>, &str),
    k: usize,
) -> Option<Node<'a, 'i>> {
    n.and_then(|n| elements(n).filter(|e| qname(*e) == q).nth(k))
}

/// Whether a memory member's `bytes` is more than the memory's own.
fn exceeds(n: Node, memory: Node) -> bool {
    let bytes = |x: Node| x.attribute("bytes").and_then(|v| v.parse::<u64>().ok());
    matches!((bytes(n), bytes(memory)), (Some(x), Some(m)) if x > m)
}

/// What a member says it holds: an `extension`'s platform and path, an
/// `entry`'s platform and key (nothing for a device).
fn ident<'a>(n: Node<'a, '_>) -> [Option<&'a str>; 3] {
    [
        n.attribute("platform"),
        n.attribute("path"),
        n.attribute("key"),
    ]
}

/// The child elements of `n` named `ns:name`.
fn members<'a, 'i>(n: Node<'a, 'i>, uri: Option<&str>, name: &str) -> Vec<Node<'a, 'i>> {
    elements(n).filter(|e| qname(*e) == (uri, name)).collect()
}

/// Pairs each B with the A it came from. By place when the platform kept
/// them all and no other pairing shares more; else the pairs that share
/// most first (a `.vmx` lists a disk on its second SCSI adapter, a virtio
/// disk's stand-in, after one on the first, which libvirt listed after
/// it), the nearer in place on a tie. Members that say which detail they
/// hold (an `extension`'s platform and path, an `entry`'s key) pair only
/// with the same. (Past 64 members kept in place, by place: the scores are
/// quadratic.)
fn pair_by_facts<'a, 'i>(la: &[Node<'a, 'i>], lb: &[Node<'a, 'i>]) -> Vec<Option<usize>> {
    let in_place = la.len() == lb.len() && la.iter().zip(lb).all(|(x, y)| ident(*x) == ident(*y));
    if in_place && (lb.len() > 64 || lb.len() < 2) {
        return (0..lb.len()).map(Some).collect();
    }
    let fa: Vec<std::collections::HashSet<String>> =
        la.iter().map(|n| facts(*n).into_iter().collect()).collect();
    let mut scores: Vec<(usize, usize, usize)> = Vec::new();
    let mut in_place_total = 0;
    for (j, nb) in lb.iter().enumerate() {
        let fb = facts(*nb);
        for (i, na) in la.iter().enumerate() {
            if ident(*na) != ident(*nb) {
                continue;
            }
            let score = fb.iter().filter(|f| fa[i].contains(*f)).count();
            if i == j {
                in_place_total += score;
            }
            if score > 0 {
                scores.push((score, i, j));
            }
        }
    }
    scores.sort_by(|x, y| {
        y.0.cmp(&x.0)
            .then(x.1.abs_diff(x.2).cmp(&y.1.abs_diff(y.2)))
            .then(x.2.cmp(&y.2))
    });
    let mut b_to_a = vec![None; lb.len()];
    let mut used = vec![false; la.len()];
    let mut total = 0;
    for (score, i, j) in scores {
        if b_to_a[j].is_none() && !used[i] {
            b_to_a[j] = Some(i);
            used[i] = true;
            total += score;
        }
    }
    if in_place && in_place_total >= total {
        return (0..lb.len()).map(Some).collect();
    }
    b_to_a
}

/// Every attribute and text of an element's subtree as `path=value`.
fn facts(n: Node) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(n: Node, path: &str, out: &mut Vec<String>) {
        let here = format!("{path}/{}", n.tag_name().name());
        for a in n.attributes() {
            out.push(format!("{here}/@{}={}", a.name(), a.value()));
        }
        for c in n.children() {
            if c.is_element() {
                walk(c, &here, out);
            } else if let Some(t) = c.text().filter(|t| !t.trim().is_empty()) {
                out.push(format!("{here}={t}"));
            }
        }
    }
    walk(n, "", &mut out);
    out
}

/// `disk /var/lib/libvirt/images/web.qcow2`, `nic 52:54:00:…`, `memory`.
/// The value of `n`'s attribute `name` in namespace `uri` (`ns`'s form).
fn attr_value<'a>(n: Option<Node<'a, '_>>, uri: Option<&str>, name: &str) -> Option<&'a str> {
    n?.attributes()
        .find(|x| ns(x.namespace()) == uri && x.name() == name)
        .map(|x| x.value())
}

fn describe(n: Node) -> String {
    let name = n.tag_name().name();
    let key = ["path", "mac", "target", "index", "type"]
        .iter()
        .find_map(|k| n.attribute(k))
        .or_else(|| {
            n.children()
                .find(|c| c.is_element() && c.tag_name().name() == "source")
                .and_then(|s| s.attribute("path"))
        });
    match key {
        Some(k) => format!("{name} {k}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_places_found_by_tags_are_those_a_parse_finds() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/corpus/libvirt-qemu-domainxml"
        );
        let mut docs: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(docs.len() > 20, "{dir}");
        for f in ["web.xml", "db.xml", "win-uefi.xml"] {
            docs.push(
                std::fs::read_to_string(format!("{}/samples/kvm/{f}", env!("CARGO_MANIFEST_DIR")))
                    .unwrap(),
            );
        }
        let made = [
            "<domain><name>a</name><metadata/></domain>",
            "<domain><name>a</name><metadata></metadata></domain>",
            "<domain><name>a</name><metadata>\n</metadata></domain>",
            "<domain>\n  <name>a</name>\n  <metadata><x:y xmlns:x=\"u\"><name>n</name></x:y></metadata>\n</domain>\n",
            "<?xml version=\"1.0\"?>\n<domain a='>' b=\"/>\"><devices><metadata/><name>in</name></devices><name/></domain>",
            "<domain><devices><name>deep</name></devices></domain>",
            "<domain><name>a</name><metadata><a/></metadata><metadata/></domain>",
        ];
        docs.extend(made.iter().map(|s| s.to_string()));
        for d in &docs {
            let parsed = domain_places_parsed(d).unwrap();
            match domain_places(d) {
                Some(found) => assert_eq!(found, parsed, "{d}"),
                // A comment: not what a mapping writes.
                None => assert!(d.contains("<!--"), "{d}"),
            }
        }
        // What the tag walk does not take is left to the parse.
        for d in [
            "<domain><!-- c --><name>a</name></domain>",
            "<domain><name><![CDATA[a]]></name></domain>",
            "<domain><name>a</name>",
            "<domain/><other/>",
            "<domain><name>a</name></domain>x",
            "<domain><name",
        ] {
            assert_eq!(domain_places(d), None, "{d}");
        }
        assert_eq!(
            domain_places("<domain/>"),
            Some(DomainPlaces {
                metadata: None,
                name_end: None
            })
        );
    }

    #[test]
    fn chunks_keep_characters_whole_and_join_back() {
        let pkg = encode("kvm", &[], &"é".repeat(1500));
        let parts = chunks(&pkg).unwrap();
        assert!(parts.len() > 2 && parts.iter().all(|p| p.len() <= CHUNK));
        assert_eq!(parts.concat(), pkg);
        assert!(chunks(&"x".repeat(CHUNK * MAX_CHUNKS + 1)).is_none());
    }

    #[test]
    fn decode_refuses_what_it_cannot_read() {
        let pairs = vec![(
            "datastore".to_string(),
            "/a\tb\\c\n".to_string(),
            "datastore1".to_string(),
        )];
        let pkg = encode("kvm", &pairs, "<domain/>");
        assert_eq!(
            decode(&pkg).unwrap(),
            Package {
                platform: "kvm",
                home: "kvm",
                pairs,
                text: "<domain/>"
            }
        );
        // A package of the hub names the platform the VM is from.
        let hub = encode(&hub_platform_line("kvm"), &[], "<vm/>");
        assert!(hub.starts_with("hvx-carry/1 hvx kvm\n"), "{hub}");
        let read = decode(&hub).unwrap();
        assert_eq!(
            (read.platform, read.home, read.text),
            ("hvx", "kvm", "<vm/>")
        );
        assert_eq!(
            decode(&encode(&hub_platform_line("hvx"), &[], "<vm/>"))
                .unwrap()
                .home,
            "hvx"
        );
        assert!(decode("hvx-carry/1 hvx plan9\n<vm/>")
            .unwrap_err()
            .contains("unknown platform `plan9`"));
        assert!(decode("hvx-carry/1 kvm xen\n<vm/>").is_err());
        // A package written before the checksum reads as it is.
        assert_eq!(
            decode("hvx-carry/1 kvm\n<domain/>").unwrap().text,
            "<domain/>"
        );
        // One byte changed, a part lost, the sum itself edited: refused.
        let edited = pkg.replace("<domain/>", "<domain />");
        assert!(decode(&edited)
            .unwrap_err()
            .contains("changed after hvxform wrote it"));
        assert!(decode(&pkg[..pkg.len() - 3]).is_err());
        let sum_at = pkg.find(SUM).unwrap() + SUM.len();
        let mut bad_sum = pkg.clone();
        bad_sum.replace_range(sum_at..sum_at + 1, "g");
        assert!(decode(&bad_sum).is_err());
        assert!(decode(&pkg[..sum_at + 4]).is_err());
        assert!(decode("hvx-carry/1 kvm\n= a\tb\n<domain/>").is_err());
        assert!(decode("hvx-carry/1 kvm\n= a\tb\tc\\x\n<domain/>").is_err());
        assert!(decode("hvx-carry/2 kvm\n<domain/>").is_err());
        assert!(decode("hvx-carry/1 nowhere\n<domain/>").is_err());
        assert!(decode("hvx-carry/1 kvm").is_err());
    }

    fn merged(a: &str, b: &str, c: &str) -> (String, Vec<String>) {
        let (a, b, c) = (
            Document::parse(a).unwrap(),
            Document::parse(b).unwrap(),
            Document::parse(c).unwrap(),
        );
        let mut out = XmlOut::with_indent(false);
        let w = merge(&a, &b, &c, "P", &mut out).unwrap();
        (out.finish_fragment().unwrap(), w)
    }

    #[test]
    fn unchanged_members_come_back_exact_and_changes_win() {
        let a = r#"<vm><name>x</name><memory bytes="2000000"/><disk n="1"><extension>k1</extension></disk><disk n="2"><extension>k2</extension></disk><input type="tablet"/></vm>"#;
        let b = r#"<vm><name>x</name><memory bytes="4194304"/><disk n="1"/><disk n="2"/></vm>"#;
        // Nothing changed: A back.
        let (out, w) = merged(a, b, b);
        assert_eq!(out, a);
        assert!(w.is_empty());
        // Memory changed, disk 2 removed, a disk added.
        let c = r#"<vm><name>x</name><memory bytes="8388608"/><disk n="1"/><disk n="3"/></vm>"#;
        let (out, w) = merged(a, b, c);
        assert_eq!(
            out,
            r#"<vm><name>x</name><memory bytes="8388608"/><disk n="1"><extension>k1</extension></disk><disk n="3"/><input type="tablet"/></vm>"#
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("carried memory"), "{w:?}");
        assert!(w[1].starts_with("carried disk"), "{w:?}");
    }

    /// A disk removed on KVM moves the devices after it up one place in
    /// libvirt's order: their `position` entries differ, and they are still
    /// the same devices, which keep what was carried for them.
    #[test]
    fn libvirt_positions_do_not_make_devices_differ() {
        let pos = |n: u32| format!(r#"<entry platform="kvm" key="position">{n}</entry>"#);
        let a = r#"<vm><disk n="1"><extension>v1</extension></disk><disk n="2"><extension>v2</extension></disk><nic mac="m"><extension>vn</extension></nic></vm>"#;
        let b = format!(
            r#"<vm><disk n="1">{}</disk><disk n="2">{}</disk><nic mac="m">{}</nic></vm>"#,
            pos(1),
            pos(2),
            pos(3)
        );
        let c = format!(
            r#"<vm><disk n="1">{}</disk><nic mac="m">{}</nic></vm>"#,
            pos(1),
            pos(2)
        );
        let (out, w) = merged(a, &b, &c);
        assert_eq!(
            out,
            r#"<vm><disk n="1"><extension>v1</extension></disk><nic mac="m"><extension>vn</extension></nic></vm>"#
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("carried disk"), "{w:?}");
    }

    #[test]
    fn extensions_merge_member_by_member() {
        let a = r#"<vm><extensions><entry k="1">a</entry><extension p="kvm">x</extension></extensions></vm>"#;
        let b = r#"<vm><extensions><entry k="1">a</entry></extensions></vm>"#;
        let c = r#"<vm><extensions><entry k="1">changed</entry></extensions></vm>"#;
        let (out, w) = merged(a, b, c);
        assert_eq!(
            out,
            r#"<vm><extensions><entry k="1">changed</entry><extension p="kvm">x</extension></extensions></vm>"#
        );
        // The entry's original was what the platform held: nothing lost.
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn packed_packages_unpack_and_hostile_tags_are_refused() {
        let pkg = encode("kvm", &[], "<domain>é &amp; \u{1F600}</domain>");
        let p = pack(&pkg);
        assert!(p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
        assert_eq!(unpack(&p).unwrap(), pkg);
        assert!(unpack("not base64!").unwrap_err().contains("not base64"));
        use base64::Engine as _;
        let b64 = |z: &[u8]| base64::engine::general_purpose::STANDARD.encode(z);
        assert!(unpack(&b64(b"\x05\x00garbage"))
            .unwrap_err()
            .contains("do not inflate"));
        // LZ4: cut short, a block that does not decompress, a size past the
        // limit (refused before anything is allocated), not UTF-8.
        assert!(unpack(&b64(b"\xff\x00")).unwrap_err().contains("cut short"));
        assert!(unpack(&b64(b"\xff\x10\x00\x00\x00\xf0garbage"))
            .unwrap_err()
            .contains("does not decompress"));
        assert!(unpack(&b64(b"\xff\xff\xff\xff\x7f\x00"))
            .unwrap_err()
            .contains("inflates to more than"));
        let mut bad = vec![LZ4_MARK];
        bad.extend(lz4_flex::block::compress_prepend_size(&[0xff, 0xfe]));
        assert!(unpack(&b64(&bad)).unwrap_err().contains("not UTF-8"));
        // Both forms read back; the dense one is smaller (and every
        // package written before LZ4 is dense).
        let big = pkg.repeat(40);
        assert_eq!(unpack(&pack_dense(&big)).unwrap(), big);
        assert_eq!(unpack(&pack(&big)).unwrap(), big);
        let real = include_str!("../samples/kvm/web.xml");
        assert!(pack_dense(real).len() < pack(real).len());
        assert_eq!(unpack(&pack(real)).unwrap(), real);
        // A bomb: 64 MB of zeros in 64 KB of deflate stops at the limit.
        // The kept compressor writes what a fresh one writes, call after call.
        for text in [&pkg[..], "", "x", &pkg.repeat(40)] {
            assert_eq!(
                deflate(text.as_bytes()),
                miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 1)
            );
        }
        let bomb = deflate(&vec![0u8; 64 << 20]);
        assert!(unpack(&b64(&bomb))
            .unwrap_err()
            .contains("inflates to more than"));
        let bad = deflate(&[0xff, 0xfe]);
        assert!(unpack(&b64(&bad)).unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn ec2_takes_the_dense_form_when_only_it_fits() {
        let pkg = encode("kvm", &[], include_str!("../samples/kvm/db.xml"));
        let (fast, dense) = (pack(&pkg), pack_dense(&pkg));
        let tags = |p: &str| p.len().div_ceil(EC2_VALUE);
        assert!(
            tags(&dense) < tags(&fast),
            "{} {}",
            tags(&dense),
            tags(&fast)
        );
        // Room for the LZ4 form: it is taken as it is.
        let parts = ec2_parts(&fast, EC2_TAGS - tags(&fast)).unwrap();
        assert_eq!(parts.concat(), fast);
        // Room only for the deflated form: that is what the tags hold.
        let parts = ec2_parts(&fast, EC2_TAGS - tags(&dense)).unwrap();
        assert_eq!(parts.concat(), dense);
        assert_eq!(unpack(&parts.concat()).unwrap(), pkg);
        // Room for neither: why, in numbers.
        let e = ec2_parts(&fast, EC2_TAGS - tags(&dense) + 1).unwrap_err();
        assert!(e.contains(&format!("needs {} tags", tags(&dense))), "{e}");
    }

    #[test]
    fn text_platforms_carry_in_lines_of_their_own_that_read_back() {
        use crate::platform::{by_name, to_xml};
        // Quotes, bars, newlines and a character outside ASCII: each
        // format's escapes, and .vmx's in the file's own encoding.
        let pkg = encode(
            "kvm",
            &[],
            "<domain>\n  <description>caf\u{e9} \"q\" | \\ x</description>\n</domain>",
        );
        for (platform, native, file) in [
            ("vmware", "name = \"web\"\n", "web.vmx"),
            (
                "vmware",
                ".encoding = \"windows-1252\"\nname = \"web\"\n",
                "web.vmx",
            ),
            ("xen", "name = \"web\"\nmemory = 1024\n", "web.cfg"),
        ] {
            let with = attach(platform, native, &channel_form(platform, &pkg)).unwrap();
            assert!(with.starts_with(native), "{with}");
            let carried = &with[native.len()..];
            assert!(carried.starts_with("hvx"), "{with}");
            if native.contains("1252") {
                assert!(carried.contains("caf|E9"), "{carried}");
            }
            let xml = to_xml(file, &with, Some(by_name(platform).unwrap())).unwrap();
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let found = find(platform, &doc).unwrap();
            assert_eq!(found.package.unwrap(), pkg, "{with}");
            // A document that has the channel's keys already is not
            // given a second set.
            let e = attach(platform, &with, &channel_form(platform, &pkg)).unwrap_err();
            assert!(e.contains("already has"), "{e}");
            // Nor is an original with a character XML cannot hold (the
            // reader puts these values into XML): refused, as before.
            let odd = encode("xen", &[], "name = \"web\"\n# odd \u{1} comment\n");
            let e = attach(platform, native, &channel_form(platform, &odd)).unwrap_err();
            assert!(e.contains("U+0001") || e.contains("0x1"), "{e}");
        }
    }

    #[test]
    fn ec2_tags_are_added_to_the_response_and_the_request() {
        let pkg = encode("kvm", &[], "<domain/>");
        let xml = "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n  <reservationSet>\n    <item>\n      <instancesSet>\n        <item>\n          <instanceId>i-1</instanceId>\n          <tagSet/>\n        </item>\n      </instancesSet>\n    </item>\n  </reservationSet>\n</DescribeInstancesResponse>";
        let with = attach("ec2", xml, &channel_form("ec2", &pkg)).unwrap();
        let doc = roxmltree::Document::parse(&with).unwrap();
        let found = find("ec2", &doc).unwrap();
        assert_eq!(found.package.unwrap(), pkg);
        assert!(
            with.contains(
                "          <tagSet>\n            <item>\n              <key>hvxform:carry:0</key>"
            ),
            "{with}"
        );
        // Found without parsing, as the parser finds it; a comment makes
        // the text not plain, and the parser is used.
        let (r, n) = plain_tag_set(&with).unwrap();
        let set = ec2_tag_set(&doc).unwrap();
        assert_eq!((r, n), (set.range(), 1));
        assert!(plain_tag_set(&format!("<!-- <tagSet> -->{xml}")).is_none());
        let again = attach(
            "ec2",
            &format!("{xml}<!-- x -->"),
            &channel_form("ec2", &pkg),
        )
        .unwrap();
        assert_eq!(again, format!("{with}<!-- x -->"));
        // Stripped, the response is the mapping's again (blanks aside).
        let mut t = with.clone();
        for r in found.strip.iter().rev() {
            t.replace_range(r.clone(), "");
        }
        assert!(!t.contains("hvxform"), "{t}");

        // A request with tags, one with none, and a string that looks like JSON.
        let json = "{\n  \"Odd\": \"]}\\\" [\",\n  \"TagSpecifications\": [\n    {\n      \"ResourceType\": \"volume\",\n      \"Tags\": []\n    },\n    {\n      \"ResourceType\": \"instance\",\n      \"Tags\": [\n        {\n          \"Key\": \"Name\",\n          \"Value\": \"web\"\n        }\n      ]\n    }\n  ]\n}";
        let packed = channel_form("ec2", &pkg);
        let with = attach_json(json, &packed).unwrap();
        let v: serde_json::Value = serde_json::from_str(&with).unwrap();
        let tags = v["TagSpecifications"][1]["Tags"].as_array().unwrap();
        assert_eq!(tags.len(), 2, "{with}");
        assert_eq!(tags[1]["Key"], "hvxform:carry:0");
        assert_eq!(unpack(tags[1]["Value"].as_str().unwrap()).unwrap(), pkg);
        assert_eq!(v["Odd"], "]}\" [");
        // A member name written with an escape is still that name.
        let escaped = json.replace(
            "\"ResourceType\": \"instance\"",
            "\"Resource\\u0054ype\": \"instance\"",
        );
        assert_ne!(escaped, json);
        let with = attach_json(&escaped, &packed).unwrap();
        let v: serde_json::Value = serde_json::from_str(&with).unwrap();
        assert_eq!(
            v["TagSpecifications"][1]["Tags"][1]["Key"],
            "hvxform:carry:0"
        );
        assert!(v["TagSpecifications"][0]["Tags"]
            .as_array()
            .unwrap()
            .is_empty());
        let empty = json.replace(
            "{\n          \"Key\": \"Name\",\n          \"Value\": \"web\"\n        }",
            "",
        );
        let with = attach_json(&empty, &packed).unwrap();
        let v: serde_json::Value = serde_json::from_str(&with).unwrap();
        assert_eq!(
            v["TagSpecifications"][1]["Tags"][0]["Key"], "hvxform:carry:0",
            "{with}"
        );
        // No instance to tag: an error, not a guess.
        let none = json.replace("\"instance\"", "\"image\"");
        assert!(attach_json(&none, &pkg)
            .unwrap_err()
            .contains("tags no instance"));
    }
}
