//! Commands across platforms: finding the command in a command document,
//! the request a command mapping reads (the command and, when given, the
//! VM's current configuration), and the `virsh` script of a libvirt command
//! document. See book: Commands.

use std::fmt::Write as _;

use crate::engine::{MappingError, Mappings};
use crate::exec::{self, CommandPath, RunOptions, Warning};
use crate::platform::{self, Platform, HVX_NS, VIM25_NS};
use crate::session::SessionAccess;
use crate::tree::{Builder, Document};

/// The namespace of hvxform's XML form of `virsh` operations.
pub const VIRSH_NS: &str = "urn:hvxform:virsh:1";
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The vSphere methods hvxform translates.
pub const VSPHERE_METHODS: &[&str] = &[
    "PowerOnVM_Task",
    "PowerOffVM_Task",
    "ShutdownGuest",
    "RebootGuest",
    "ResetVM_Task",
    "ReconfigVM_Task",
];

/// A Hyper-V command request (CIM-XML method calls, their instances
/// embedded as escaped text) in the canonical form of calls that command
/// mappings read (`<hyperv form="calls">`); `None` for any other document.
/// Positions in what the mapping reports are then the canonical form's.
pub fn canonical(name: &str, text: &str) -> Result<Option<String>, String> {
    if !platform::hyperv::looks_like_cim(text) {
        return Ok(None);
    }
    let doc = match roxmltree::Document::parse(text) {
        Ok(d) => d,
        Err(_) => return Ok(None),
    };
    if platform::hyperv::command_method(doc.root_element()).is_none() {
        return Ok(None);
    }
    platform::hyperv::read_calls(name, text).map(Some)
}

/// The command element of a command document: a SOAP envelope's body
/// element, or the root.
pub fn command_element<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
) -> Result<roxmltree::Node<'a, 'i>, String> {
    let root = doc.root_element();
    if !root.has_tag_name((SOAP_NS, "Envelope")) {
        return Ok(root);
    }
    let (line, col) = line_col(root);
    let body = root
        .children()
        .find(|c| c.has_tag_name((SOAP_NS, "Body")))
        .ok_or_else(|| format!("{line}:{col}: a SOAP envelope without a <Body>"))?;
    let (line, col) = line_col(body);
    body.children()
        .find(|c| c.is_element())
        .ok_or_else(|| format!("{line}:{col}: the SOAP <Body> holds no command"))
}

/// The platform a command element belongs to, checked against what
/// hvxform knows of that platform's commands.
pub fn source_of(cmd: roxmltree::Node) -> Result<&'static Platform, String> {
    let tn = cmd.tag_name();
    let (local, ns) = (tn.name(), tn.namespace());
    let (line, col) = line_col(cmd);
    match ns {
        Some(VIM25_NS) => {
            if VSPHERE_METHODS.contains(&local) {
                return Ok(platform::by_name("vsphere").expect("registered"));
            }
            let hint = crate::diag::suggest(local, VSPHERE_METHODS.iter().copied())
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            Err(format!(
                "{line}:{col}: vSphere method `{local}` is not a command hvxform translates (known: {}){hint}",
                VSPHERE_METHODS.join(", ")
            ))
        }
        Some(VIRSH_NS) if local == "virsh" => Ok(platform::by_name("kvm").expect("registered")),
        Some(platform::hyperv::NS)
            if local == "hyperv" && cmd.attribute("form") == Some("calls") =>
        {
            Ok(platform::by_name("hyperv").expect("registered"))
        }
        _ => {
            let seen = match ns {
                Some(u) => format!("<{local}> in namespace {u}"),
                None => format!("<{local}> without a namespace"),
            };
            Err(format!(
                "{line}:{col}: not a command hvxform knows: saw {seen}; expected a vSphere method in urn:vim25 (bare or in a SOAP envelope: {}) or <virsh> in {VIRSH_NS}",
                VSPHERE_METHODS.join(", ")
            ))
        }
    }
}

fn line_col(n: roxmltree::Node) -> (u32, u32) {
    let p = n.document().text_pos_at(n.range().start);
    (p.row, p.col)
}

/// The document a command mapping reads: `<hvx:request>` holding the VM's
/// current configuration in one `<hvx:context>` per document given (each its
/// own platform's document, as it is), then the command element. The command's nodes keep
/// their positions in the command file, so what the mapping reports points
/// there.
pub fn request(cmd: roxmltree::Node, contexts: &[roxmltree::Node]) -> Result<Document, String> {
    let mut b = Builder::with_source(cmd.document().input_text());
    b.origin(Some(cmd.range().start));
    b.start("hvx:request");
    b.attr("xmlns:hvx", HVX_NS);
    for c in contexts {
        let c = *c;
        b.origin(None);
        b.start("hvx:context");
        copy(&mut b, c, false, &mut Vec::new());
        b.end();
    }
    copy(&mut b, cmd, true, &mut Vec::new());
    b.end();
    b.finish()
}

/// Copies an element subtree, declaring on each element the namespaces
/// its parent (in the copy) does not have in scope. A context is copied
/// into every request, so this is on the hot path of data-dependent
/// commands: names are built in one reused buffer, and an element that
/// declares no namespace of its own skips the namespace work.
fn copy(
    b: &mut Builder,
    n: roxmltree::Node,
    origins: bool,
    scope: &mut Vec<(Option<String>, String)>,
) {
    copy_in(b, n, origins, scope, true, &mut String::new());
}

/// Whether `n` has exactly its parent's namespaces in scope (it declares
/// none): roxmltree then shares the parent's entries, so comparing their
/// addresses is enough.
fn same_namespaces_as_parent(n: roxmltree::Node) -> bool {
    let Some(p) = n.parent_element() else {
        return false;
    };
    let (a, b) = (n.namespaces(), p.namespaces());
    a.len() == b.len()
        && a.zip(b).all(|(x, y)| {
            std::ptr::eq(x.uri(), y.uri()) && x.name().map(str::as_ptr) == y.name().map(str::as_ptr)
        })
}

/// `prefix:local` (or `local`) into `buf`.
fn qname<'b>(buf: &'b mut String, prefix: Option<&str>, local: &str) -> &'b str {
    buf.clear();
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        buf.push_str(p);
        buf.push(':');
    }
    buf.push_str(local);
    buf
}

fn copy_in(
    b: &mut Builder,
    n: roxmltree::Node,
    origins: bool,
    scope: &mut Vec<(Option<String>, String)>,
    top: bool,
    buf: &mut String,
) {
    if origins {
        b.origin(Some(n.range().start));
    }
    let tn = n.tag_name();
    let prefix = tn.namespace().and_then(|u| n.lookup_prefix(u));
    b.start(qname(buf, prefix, tn.name()));
    let mark = scope.len();
    if top || !same_namespaces_as_parent(n) {
        // The default namespace of the copy starts empty under hvx:request
        // (which binds only `hvx`).
        for ns in n.namespaces() {
            let (p, u) = (ns.name(), ns.uri());
            let bound = scope
                .iter()
                .rev()
                .find(|(q, _)| q.as_deref() == p)
                .map(|(_, v)| v.as_str());
            let inherited = match p {
                None => bound.unwrap_or(""),
                Some("hvx") => bound.unwrap_or(HVX_NS),
                Some(_) => bound.unwrap_or("\u{0}"),
            };
            if inherited != u {
                match p {
                    Some(p) => b.attr(qname(buf, Some("xmlns"), p), u),
                    None => b.attr("xmlns", u),
                }
                scope.push((p.map(str::to_string), u.to_string()));
            }
        }
        if tn.namespace().is_none()
            && scope
                .iter()
                .rev()
                .find(|(q, _)| q.is_none())
                .is_some_and(|(_, u)| !u.is_empty())
        {
            b.attr("xmlns", "");
            scope.push((None, String::new()));
        }
    }
    for a in n.attributes() {
        match a.namespace().and_then(|u| n.lookup_prefix(u)) {
            Some(p) if !p.is_empty() => b.attr(qname(buf, Some(p), a.name()), a.value()),
            _ => b.attr(a.name(), a.value()),
        }
    }
    for c in n.children() {
        if c.is_element() {
            copy_in(b, c, origins, scope, false, buf);
        } else if let Some(t) = c.text().filter(|_| c.is_text()) {
            if origins {
                b.origin(Some(c.range().start));
            }
            b.text(t);
        }
    }
    scope.truncate(mark);
    b.end();
}

/// A translated command.
#[derive(Debug)]
pub struct Translation {
    /// The target's command document (XML).
    pub output: String,
    /// Which rule translated each command, by mapping file.
    pub paths: Vec<(String, CommandPath)>,
    pub warnings: Vec<Warning>,
}

/// Why a command could not be translated.
#[derive(Debug)]
pub enum TranslateError {
    /// A mapping of the route does not compile.
    Mapping(MappingError),
    /// A parameter no mapping of the route declares, or of the wrong type.
    Usage(String),
    /// No route, or the command cannot be translated (the message says why).
    Invalid(String),
}

/// A command translated from its text: the [`Translation`], the command's
/// platform, and each context's platform (in the order given).
pub struct TextTranslation {
    pub translation: Translation,
    pub source: &'static Platform,
    /// The command document in canonical XML (Hyper-V's calls rewritten).
    pub command: String,
    /// Each context's platform and its text in canonical XML.
    pub contexts: Vec<(&'static Platform, String)>,
}

/// Translates a command document given as text (`name` in messages), with
/// the VM's configurations `contexts` (name, text; each in the command's
/// or the target's format): what `hvxform command` and the server's
/// `/v1/command` do.
#[allow(clippy::too_many_arguments)]
pub fn translate_text(
    mappings: &Mappings,
    name: &str,
    text: &str,
    contexts: &[(String, String)],
    target: &'static Platform,
    params: &[(String, String)],
    sessions: &dyn SessionAccess,
) -> Result<TextTranslation, TranslateError> {
    use crate::platform::input;
    if !matches!(target.name, "kvm" | "vsphere" | "hyperv" | "ec2" | "hvx") {
        return Err(TranslateError::Invalid(format!(
            "translating commands to {} is not implemented yet (targets: kvm, vsphere, hyperv, ec2, hvx)",
            target.name
        )));
    }
    let bad = TranslateError::Invalid;
    // Hyper-V's calls are read in their canonical form.
    let canon = canonical(name, text).map_err(bad)?;
    let text = canon.as_deref().unwrap_or(text);
    let doc = input::parse_xml(name, text).map_err(|e| {
        // A body cut out of its SOAP envelope loses the envelope's
        // declaration of xsi, which vim25 bodies use.
        let hint = if e.message.contains("unknown namespace prefix 'xsi'") {
            "\n  hint: this body uses the xsi prefix its SOAP envelope declared: give the whole envelope, or add xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" to the method element"
        } else {
            ""
        };
        bad(format!("{}{hint}", e.message))
    })?;
    let (command, source) = command_element(&doc)
        .and_then(|c| source_of(c).map(|p| (c, p)))
        .map_err(|m| bad(format!("{name}:{m}")))?;
    let mut xml = Vec::new();
    for (n, t) in contexts {
        xml.push(platform::to_xml(n, t, None).map_err(bad)?);
    }
    let mut docs = Vec::new();
    for ((n, _), t) in contexts.iter().zip(&xml) {
        let d = input::parse_xml(n, t).map_err(|e| bad(e.message))?;
        let p = platform::platform_of_xml(&d).map_err(|m| bad(format!("{n}: {m}")))?;
        if p.name != source.name && p.name != target.name {
            return Err(bad(format!(
                "{n}: the context is a {} document; a {} command translated to {} needs the VM's configuration as {} or {} reports it",
                p.name, source.name, target.name, source.name, target.name
            )));
        }
        docs.push((d, p));
    }
    let roots: Vec<_> = docs.iter().map(|(d, _)| d.root_element()).collect();
    let request = request(command, &roots).map_err(|m| bad(format!("{name}: {m}")))?;
    let translation = translate(
        mappings,
        name,
        &request,
        !docs.is_empty(),
        source,
        target,
        params,
        sessions,
    )?;
    let contexts = docs
        .iter()
        .zip(&xml)
        .map(|((_, p), t)| (*p, t.to_string()))
        .collect();
    Ok(TextTranslation {
        translation,
        source,
        command: text.to_string(),
        contexts,
    })
}

/// Translates a [`request`] (named `name` in messages) from `source`'s
/// commands to `target`'s, through the hub's: `commands/<source>-to-hvx.hvx`,
/// then `commands/hvx-to-<target>.hvx` (none for `--to hvx`).
#[allow(clippy::too_many_arguments)]
pub fn translate(
    mappings: &Mappings,
    name: &str,
    request: &Document,
    has_context: bool,
    source: &Platform,
    target: &Platform,
    params: &[(String, String)],
    sessions: &dyn SessionAccess,
) -> Result<Translation, TranslateError> {
    let mut files = vec![format!("commands/{}-to-hvx.hvx", source.name)];
    if target.name != "hvx" {
        files.push(format!("commands/hvx-to-{}.hvx", target.name));
    }
    if let Some(f) = files.iter().find(|f| !mappings.exists(f)) {
        return Err(TranslateError::Invalid(format!(
            "no command route from {} to {}: no mapping `{f}`",
            source.name, target.name
        )));
    }
    let mut known = vec![false; params.len()];
    let mut t = Translation {
        output: String::new(),
        paths: Vec::new(),
        warnings: Vec::new(),
    };
    let mut hub: Option<Document> = None;
    for (k, file) in files.iter().enumerate() {
        let last = k + 1 == files.len();
        let program = mappings.program(file).map_err(TranslateError::Mapping)?;
        let mine: Vec<(String, String)> = params
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| program.params.iter().any(|d| &d.name == n))
            .map(|(i, p)| {
                known[i] = true;
                p.clone()
            })
            .collect();
        let bound = exec::bind_params(&program, &mine).map_err(TranslateError::Usage)?;
        let opts = RunOptions {
            // A first mapping may pass the context on with the hub commands.
            context: has_context,
            tree: !last,
            compact: !last,
            // Unmapped nodes fail a command mapping; what it drops (the
            // context, mostly) is not reported.
            detail: false,
            ..Default::default()
        };
        let input = match &hub {
            Some(h) if k > 0 => h,
            _ => request,
        };
        // Positions in the hub commands point into the command file too.
        let o = exec::run(&program, input, &bound, sessions, &opts)
            .map_err(|e| TranslateError::Invalid(format!("{name}: {e}")))?;
        t.paths
            .extend(o.paths.into_iter().map(|p| (file.clone(), p)));
        t.warnings.extend(o.warnings);
        let Some(d) = o.documents.into_iter().next() else {
            return Err(TranslateError::Invalid(format!("{file} wrote no document")));
        };
        if last {
            t.output = d.xml;
        } else {
            hub = d.tree;
        }
    }
    if let Some(i) = known.iter().position(|k| !k) {
        return Err(TranslateError::Usage(format!(
            "no mapping of this route declares parameter `{}`",
            params[i].0
        )));
    }
    // Hyper-V's calls go out as the CIM-XML request a WMI client sends.
    if target.name == "hyperv" {
        t.output = platform::hyperv::write_calls(&t.output)
            .map_err(|m| TranslateError::Invalid(format!("{name}: the Hyper-V calls: {m}")))?;
    }
    Ok(t)
}

/// The `virsh` script of a libvirt command document (`<virsh>` in
/// [`VIRSH_NS`]): one `virsh` call per operation, device XML in
/// here-documents. `uri` is the connection (`-c`).
pub fn virsh_script(xml: &str, uri: &str) -> Result<String, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if !root.has_tag_name((VIRSH_NS, "virsh")) {
        return Err(format!("not a <virsh> document in {VIRSH_NS}"));
    }
    let domain = root
        .attribute("domain")
        .ok_or("<virsh> has no domain attribute")?;
    let q = crate::session::shell_word;
    let mut s = String::from("#!/bin/sh\n# Written by hvxform from a command document; run it where virsh reaches the host.\nset -e\n");
    let mut n = 0;
    for op in root.children().filter(|c| c.is_element()) {
        let name = op.tag_name().name();
        let config = if op.attribute("config") == Some("yes") {
            " --config"
        } else {
            ""
        };
        let base = format!("virsh -c {} ", q(uri));
        match name {
            "start" | "destroy" | "shutdown" | "reboot" | "reset" => {
                writeln!(s, "{base}{name} {}", q(domain)).unwrap();
            }
            "setvcpus" => {
                let count = op.attribute("count").ok_or("<setvcpus> has no count")?;
                let max = if op.attribute("maximum") == Some("yes") {
                    " --maximum"
                } else {
                    ""
                };
                writeln!(s, "{base}setvcpus {} {}{config}{max}", q(domain), q(count)).unwrap();
            }
            "setmaxmem" | "setmem" => {
                let kib = op.attribute("kib").ok_or("<setmem> has no kib")?;
                writeln!(s, "{base}{name} {} {}KiB{config}", q(domain), q(kib)).unwrap();
            }
            "attach-device" | "update-device" | "detach-device" => {
                let dev = op
                    .children()
                    .find(|c| c.is_element())
                    .ok_or_else(|| format!("<{name}> holds no device"))?;
                n += 1;
                let file = format!("\"$tmp/device-{n}.xml\"");
                if n == 1 {
                    s.push_str("tmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\n");
                }
                writeln!(s, "cat > {file} <<'HVXFORM_DEVICE'").unwrap();
                s.push_str(&doc.input_text()[dev.range()]);
                s.push_str("\nHVXFORM_DEVICE\n");
                writeln!(s, "{base}{name} {} {file}{config}", q(domain)).unwrap();
            }
            "define" => {
                // The whole domain, defined again (Secure Boot lives in its
                // firmware definition, which no other virsh command edits).
                let dom = op
                    .children()
                    .find(|c| c.is_element())
                    .ok_or("<define> holds no domain")?;
                n += 1;
                let file = format!("\"$tmp/domain-{n}.xml\"");
                if n == 1 {
                    s.push_str("tmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\n");
                }
                writeln!(s, "cat > {file} <<'HVXFORM_DOMAIN'").unwrap();
                s.push_str(&doc.input_text()[dom.range()]);
                s.push_str("\nHVXFORM_DOMAIN\n");
                writeln!(s, "{base}define {file}").unwrap();
            }
            other => return Err(format!("unknown virsh operation <{other}>")),
        }
    }
    Ok(s)
}

/// The VM's configuration `context` (its platform's document text) after
/// the commands of `commands`, a command document of the same platform (the
/// source command, or the translation): what `--update-context` writes, so
/// a sequence of commands can be translated one after another.
///
/// vSphere (a VirtualMachineConfigInfo): `numCPUs`, `memoryMB` and
/// `deviceChange` (remove, edit: the device's backing) of each
/// `ReconfigVM_Task`. libvirt (a domain): `setvcpus`, `setmaxmem`, `setmem`,
/// `detach-device` (an interface by MAC, a disk by target) and
/// `update-device` (a disk by target). Hyper-V: see `hyperv_update`. Power
/// changes leave a configuration as it is.
pub fn update_context(platform: &str, context: &str, commands: &str) -> Result<String, String> {
    if platform == "hyperv" {
        return hyperv_update(context, commands);
    }
    let ctx = roxmltree::Document::parse(context).map_err(|e| e.to_string())?;
    let cmd = roxmltree::Document::parse(commands).map_err(|e| e.to_string())?;
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    match platform {
        "vsphere" => vsphere_edits(&ctx, &cmd, &mut edits)?,
        "kvm" => virsh_edits(&ctx, &cmd, &mut edits)?,
        p => return Err(format!("updating a {p} context is not implemented")),
    }
    apply_edits(context, edits)
}

/// Replaces each range of `text` (none overlapping) with its new text.
fn apply_edits(
    context: &str,
    mut edits: Vec<(std::ops::Range<usize>, String)>,
) -> Result<String, String> {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = context.to_string();
    let mut floor = usize::MAX;
    for (r, text) in edits {
        if r.end > floor {
            return Err("two commands change the same part of the context".into());
        }
        floor = r.start;
        out.replace_range(r, &text);
    }
    Ok(out)
}

/// Hyper-V: `context` is the VM's settings as the Hyper-V reader gives them
/// (the canonical form of a DefineSystem request or of instances);
/// `commands` the Hyper-V request (CIM-XML) or its canonical calls. The
/// settings a `ModifyResourceSettings` or `ModifySystemSettings` names take
/// its properties, a `RemoveResourceSettings` takes its settings away with
/// what hangs from them (an adapter's connection, a drive's media), and the
/// result is written back in the context's own form. A setting is found by
/// its InstanceID; the VM's own settings, processor and memory, of which
/// there is one each, by their class when the context has no InstanceID
/// for them (a DefineSystem request leaves InstanceIDs to Hyper-V). `AddResourceSettings` is refused: Hyper-V gives
/// the new setting its InstanceID, which only the VM read back can tell.
fn hyperv_update(context: &str, commands: &str) -> Result<String, String> {
    use platform::hyperv;
    let calls = if hyperv::looks_like_cim(commands) {
        hyperv::read_calls("the command", commands)?
    } else {
        commands.to_string()
    };
    let ctx = roxmltree::Document::parse(context).map_err(|e| e.to_string())?;
    let cmd = roxmltree::Document::parse(&calls).map_err(|e| e.to_string())?;
    let root = ctx.root_element();
    let form = root.attribute("form").unwrap_or("");
    if !root.has_tag_name((hyperv::NS, "hyperv")) || !matches!(form, "DefineSystem" | "instances") {
        return Err("the context is not a Hyper-V VM's settings".into());
    }
    let instances: Vec<roxmltree::Node> = root
        .children()
        .filter(|c| c.has_tag_name((hyperv::NS, "instance")))
        .collect();
    let prop = |i: roxmltree::Node, name: &str| -> String {
        child(i, Some(hyperv::NS), name)
            .and_then(|p| p.text())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let single = [
        "Msvm_VirtualSystemSettingData",
        "Msvm_ProcessorSettingData",
        "Msvm_MemorySettingData",
    ];
    let find = |class: &str, id: &str| -> Option<roxmltree::Node> {
        instances
            .iter()
            .copied()
            .find(|i| !id.is_empty() && prop(*i, "InstanceID") == id)
            .or_else(|| {
                // Only a setting the context has no InstanceID for.
                single
                    .contains(&class)
                    .then(|| {
                        instances.iter().copied().filter(|i| {
                            i.attribute("class") == Some(class) && prop(*i, "InstanceID").is_empty()
                        })
                    })
                    .and_then(|mut it| it.next().filter(|_| it.next().is_none()))
            })
    };
    // A WMI path names an instance by its InstanceID, backslashes doubled.
    let names = |path: &str, id: &str| -> bool {
        !id.is_empty() && path.replace("\\\\", "\\").contains(&format!("\"{id}\""))
    };
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut removed: Vec<roxmltree::NodeId> = Vec::new();
    for call in cmd.root_element().children().filter(|c| c.is_element()) {
        let method = call.attribute("method").unwrap_or("");
        let params = call.children().filter(|c| c.is_element());
        match method {
            "RequestStateChange" => {}
            "ModifyResourceSettings" | "ModifySystemSettings" => {
                for given in params.flat_map(|p| p.children().filter(|c| c.is_element())) {
                    let class = given.attribute("class").unwrap_or("");
                    let id = prop(given, "InstanceID");
                    let cur = find(class, &id).ok_or_else(|| {
                        format!("{method}: the context has no {class} {id}")
                    })?;
                    for p in given.children().filter(|c| c.is_element()) {
                        let name = p.tag_name().name();
                        if name == "InstanceID" {
                            continue;
                        }
                        // Both documents have the canonical namespace as
                        // default, so the element's text fits as it is.
                        let new = calls[p.range()].to_string();
                        match child(cur, Some(hyperv::NS), name) {
                            Some(old) => edits.push((old.range(), new)),
                            None => {
                                // Before the instance's end tag.
                                let end = cur.range().end;
                                let at = context[..end].rfind("</").unwrap_or(end);
                                edits.push((at..at, new));
                            }
                        }
                    }
                }
            }
            "RemoveResourceSettings" => {
                for r in params.flat_map(|p| p.children().filter(|c| c.is_element())) {
                    let id = r.attribute("InstanceID").unwrap_or("");
                    let cur = find("", id)
                        .ok_or_else(|| format!("{method}: the context has no setting {id}"))?;
                    let hanging = instances
                        .iter()
                        .copied()
                        .filter(|i| names(&prop(*i, "Parent"), id));
                    for i in std::iter::once(cur).chain(hanging) {
                        if !removed.contains(&i.id()) {
                            removed.push(i.id());
                            edits.push((removal(context, i.range()), String::new()));
                        }
                    }
                }
            }
            "AddResourceSettings" => {
                return Err("AddResourceSettings: Hyper-V gives the new setting its InstanceID, which only the VM's settings read back can tell; read them again (a GetText or enumeration of its instances)".into())
            }
            other => return Err(format!("{other} is not a method the context can take")),
        }
    }
    let canonical = apply_edits(context, edits)?;
    if form == "DefineSystem" {
        hyperv::write(&canonical)
    } else {
        hyperv::write_instances(&canonical)
    }
}

fn child<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    ns: Option<&str>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    // `xmlns=""` (device XML inside a <virsh> document) is no namespace.
    n.children().find(|c| {
        c.is_element()
            && c.tag_name().name() == name
            && c.tag_name().namespace().filter(|u| !u.is_empty()) == ns
    })
}

/// The range of an element's text content (empty at its end tag when it
/// has none).
fn text_range(n: roxmltree::Node) -> std::ops::Range<usize> {
    match n.children().find(|c| c.is_text()) {
        Some(t) => t.range(),
        None => {
            let r = n.range();
            let src = &n.document().input_text()[r.clone()];
            match src.rfind("</") {
                Some(i) => r.start + i..r.start + i,
                None => r.end - 2..r.end - 2,
            }
        }
    }
}

/// The range that removes an element with the indentation before it and the
/// line break after it, when it has a line of its own.
fn removal(text: &str, r: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let line_start = text[..r.start].rfind('\n').map_or(0, |i| i + 1);
    let own_line = text[line_start..r.start].trim().is_empty()
        && text[r.end..]
            .split('\n')
            .next()
            .is_some_and(|rest| rest.trim().is_empty());
    if !own_line {
        return r;
    }
    let end = text[r.end..]
        .find('\n')
        .map_or(text.len(), |i| r.end + i + 1);
    line_start..end
}

fn vsphere_edits(
    ctx: &roxmltree::Document,
    cmd: &roxmltree::Document,
    edits: &mut Vec<(std::ops::Range<usize>, String)>,
) -> Result<(), String> {
    let v = Some(VIM25_NS);
    let info = ctx
        .descendants()
        .find(|n| n.is_element() && child(*n, v, "hardware").is_some())
        .ok_or("the context holds no VM configuration (a VirtualMachineConfigInfo)")?;
    let hw = child(info, v, "hardware").expect("found above");
    // The source command (a SOAP envelope or body), or a <calls> document.
    let methods: Vec<roxmltree::Node> = cmd
        .descendants()
        .filter(|n| {
            n.is_element()
                && n.tag_name().namespace() == v
                && VSPHERE_METHODS.contains(&n.tag_name().name())
        })
        .collect();
    let set_text = |edits: &mut Vec<_>, name: &str, value: &str| -> Result<(), String> {
        let n =
            child(hw, v, name).ok_or_else(|| format!("the context's hardware has no {name}"))?;
        edits.push((text_range(n), value.to_string()));
        Ok(())
    };
    for m in methods
        .iter()
        .filter(|m| m.tag_name().name() == "ReconfigVM_Task")
    {
        let Some(spec) = child(*m, v, "spec") else {
            continue;
        };
        if let Some(n) = child(spec, v, "numCPUs") {
            set_text(edits, "numCPU", n.text().unwrap_or("").trim())?;
        }
        if let Some(n) = child(spec, v, "memoryMB") {
            set_text(edits, "memoryMB", n.text().unwrap_or("").trim())?;
        }
        for dc in spec
            .children()
            .filter(|c| c.has_tag_name((VIM25_NS, "deviceChange")))
        {
            let op = child(dc, v, "operation")
                .and_then(|o| o.text())
                .unwrap_or("");
            let dev = child(dc, v, "device").ok_or("a deviceChange without a device")?;
            let key = child(dev, v, "key")
                .and_then(|k| k.text())
                .unwrap_or("")
                .trim();
            let cur = hw
                .children()
                .filter(|d| d.has_tag_name((VIM25_NS, "device")))
                .find(|d| child(*d, v, "key").and_then(|k| k.text()).map(str::trim) == Some(key))
                .ok_or_else(|| format!("device key {key} is not in the context"))?;
            match op {
                "remove" => edits.push((removal(ctx.input_text(), cur.range()), String::new())),
                "edit" => {
                    let Some(b) = child(dev, v, "backing") else {
                        continue;
                    };
                    let old =
                        child(cur, v, "backing").ok_or("the context's device has no backing")?;
                    // The new backing as the command wrote it; its prefixes
                    // must mean the same in the context.
                    for a in b.descendants().flat_map(|d| d.attributes()) {
                        if let Some(u) = a.namespace() {
                            if cur.lookup_prefix(u) != b.lookup_prefix(u) {
                                return Err(format!(
                                    "the command and the context spell namespace {u} differently"
                                ));
                            }
                        }
                    }
                    let text = &cmd.input_text()[b.range()];
                    edits.push((old.range(), text.replace(" xmlns=\"urn:vim25\"", "")));
                }
                _ => return Err(format!("deviceChange {op} cannot update the context")),
            }
        }
    }
    Ok(())
}

fn virsh_edits(
    ctx: &roxmltree::Document,
    cmd: &roxmltree::Document,
    edits: &mut Vec<(std::ops::Range<usize>, String)>,
) -> Result<(), String> {
    let dom = ctx.root_element();
    if !dom.has_tag_name("domain") {
        return Err("the context is not a libvirt domain".into());
    }
    let root = cmd.root_element();
    if !root.has_tag_name((VIRSH_NS, "virsh")) {
        return Err(format!("not a <virsh> document in {VIRSH_NS}"));
    }
    let devices = child(dom, None, "devices").ok_or("the domain has no <devices>")?;
    let element =
        |name: &str| child(dom, None, name).ok_or_else(|| format!("the domain has no <{name}>"));
    for op in root.children().filter(|c| c.is_element()) {
        match op.tag_name().name() {
            "setvcpus" if op.attribute("maximum") == Some("yes") => {}
            "setvcpus" => edits.push((
                text_range(element("vcpu")?),
                op.attribute("count").unwrap_or("").into(),
            )),
            "setmaxmem" | "setmem" => {
                let name = if op.tag_name().name() == "setmem" {
                    "currentMemory"
                } else {
                    "memory"
                };
                let kib = op.attribute("kib").unwrap_or("");
                let r = match child(dom, None, name) {
                    Some(n) => n.range(),
                    None if name == "currentMemory" => {
                        let m = element("memory")?.range();
                        m.end..m.end
                    }
                    None => return Err("the domain has no <memory>".into()),
                };
                edits.push((r, format!("<{name} unit='KiB'>{kib}</{name}>")));
            }
            "detach-device" | "update-device" => {
                let d = op
                    .children()
                    .find(|c| c.is_element())
                    .ok_or("an operation without a device")?;
                let same = |c: &roxmltree::Node| -> bool {
                    if !c.has_tag_name(d.tag_name().name()) {
                        return false;
                    }
                    match d.tag_name().name() {
                        "interface" => {
                            let mac = |n: &roxmltree::Node| {
                                child(*n, None, "mac")
                                    .and_then(|m| m.attribute("address"))
                                    .map(str::to_ascii_lowercase)
                            };
                            mac(c).is_some() && mac(c) == mac(&d)
                        }
                        "disk" => {
                            let dev = |n: &roxmltree::Node| {
                                child(*n, None, "target")
                                    .and_then(|t| t.attribute("dev"))
                                    .map(str::to_string)
                            };
                            dev(c).is_some() && dev(c) == dev(&d)
                        }
                        _ => false,
                    }
                };
                let cur = devices
                    .children()
                    .find(same)
                    .ok_or_else(|| format!("the domain has no such <{}>", d.tag_name().name()))?;
                if op.tag_name().name() == "detach-device" {
                    edits.push((removal(ctx.input_text(), cur.range()), String::new()));
                } else {
                    let text = cmd.input_text()[d.range()].replacen(" xmlns=\"\"", "", 1);
                    edits.push((cur.range(), text));
                }
            }
            "start" | "destroy" | "shutdown" | "reboot" | "reset" => {}
            other => return Err(format!("<{other}> cannot update the context")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keeps_the_command_and_its_positions() {
        let text = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-42</_this><spec><deviceChange><device xsi:type="VirtualDisk"><key>2000</key></device></deviceChange></spec></ReconfigVM_Task></soapenv:Body></soapenv:Envelope>"#;
        let doc = roxmltree::Document::parse(text).unwrap();
        let cmd = command_element(&doc).unwrap();
        assert_eq!(source_of(cmd).unwrap().name, "vsphere");
        let ctx = roxmltree::Document::parse("<domain><name>web</name></domain>").unwrap();
        let r = request(cmd, &[ctx.root_element()]).unwrap();
        let root = r.root_element().unwrap();
        assert_eq!(root.tag_name().name(), "request");
        assert_eq!(root.tag_name().namespace(), Some(HVX_NS));
        let kids: Vec<_> = root.children().filter(|c| c.is_element()).collect();
        assert_eq!(kids[0].tag_name().name(), "context");
        let dom = kids[0].children().find(|c| c.is_element()).unwrap();
        assert_eq!(dom.tag_name().namespace(), None);
        assert_eq!(kids[1].tag_name().name(), "ReconfigVM_Task");
        assert_eq!(kids[1].tag_name().namespace(), Some(VIM25_NS));
        // The xsi prefix declared on the envelope is in scope in the copy.
        let dev = kids[1]
            .descendants()
            .find(|d| d.tag_name().name() == "device")
            .unwrap();
        let a = dev.attributes().next().unwrap();
        assert_eq!(
            a.namespace(),
            Some("http://www.w3.org/2001/XMLSchema-instance")
        );
        // Positions point into the command file.
        assert_eq!(
            kids[1].position(),
            Some(text.find("<ReconfigVM_Task").unwrap())
        );
    }

    #[test]
    fn unknown_methods_are_named_with_a_hint() {
        let doc = roxmltree::Document::parse(r#"<PowerOnVM xmlns="urn:vim25"/>"#).unwrap();
        let e = source_of(doc.root_element()).unwrap_err();
        assert!(
            e.contains("`PowerOnVM`") && e.contains("PowerOnVM_Task"),
            "{e}"
        );
    }

    #[test]
    fn a_hyperv_context_follows_changes_but_not_new_settings() {
        let ctx = r#"<hyperv xmlns="urn:hvxform:hyperv:1" form="instances">
  <instance class="Msvm_VirtualSystemSettingData"><InstanceID type="string">Microsoft:A</InstanceID><ElementName type="string">web</ElementName></instance>
  <instance class="Msvm_ProcessorSettingData"><InstanceID type="string">Microsoft:A\P</InstanceID><ResourceType type="uint16">3</ResourceType><VirtualQuantity type="uint64">2</VirtualQuantity></instance>
  <instance class="Msvm_SyntheticEthernetPortSettingData"><InstanceID type="string">Microsoft:A\N</InstanceID><ResourceType type="uint16">10</ResourceType><Address type="string">525400C00001</Address></instance>
  <instance class="Msvm_EthernetPortAllocationSettingData"><InstanceID type="string">Microsoft:A\N\C</InstanceID><ResourceType type="uint16">33</ResourceType><Parent type="string">\\\\.\\root\\virtualization\\v2:Msvm_SyntheticEthernetPortSettingData.InstanceID="Microsoft:A\\N"</Parent></instance>
</hyperv>"#;
        let calls = r#"<hyperv xmlns="urn:hvxform:hyperv:1" form="calls">
  <call method="ModifyResourceSettings"><param name="ResourceSettings"><instance class="Msvm_ProcessorSettingData"><InstanceID type="string">Microsoft:A\P</InstanceID><VirtualQuantity type="uint64">4</VirtualQuantity></instance></param></call>
  <call method="RemoveResourceSettings"><param name="ResourceSettings"><ref class="Msvm_SyntheticEthernetPortSettingData" InstanceID="Microsoft:A\N"/></param></call>
</hyperv>"#;
        let out = update_context("hyperv", ctx, calls).unwrap();
        assert!(out.contains("<VALUE>4</VALUE>"), "{out}");
        assert!(!out.contains("<VALUE>2</VALUE>"), "{out}");
        // The adapter and the connection that hangs from it are gone.
        assert!(!out.contains("EthernetPort"), "{out}");
        assert_eq!(out.matches("<INSTANCE ").count(), 2, "{out}");
        let add = calls.replace("RemoveResourceSettings", "AddResourceSettings");
        let e = update_context("hyperv", ctx, &add).unwrap_err();
        assert!(
            e.contains("Hyper-V gives the new setting its InstanceID"),
            "{e}"
        );
        let unknown = calls.replace("Microsoft:A\\P", "Microsoft:B\\P");
        let e = update_context("hyperv", ctx, &unknown).unwrap_err();
        assert!(
            e.contains("the context has no Msvm_ProcessorSettingData"),
            "{e}"
        );
    }

    #[test]
    fn virsh_script_quotes_and_uses_here_documents() {
        let xml = format!(
            r#"<virsh xmlns="{VIRSH_NS}" domain="web 1"><setvcpus count="4" config="yes" maximum="yes"/><detach-device config="yes"><interface type="network"><mac address="52:54:00:00:00:01"/></interface></detach-device><start/></virsh>"#
        );
        let s = virsh_script(&xml, "qemu:///system").unwrap();
        assert!(
            s.contains("virsh -c qemu:///system setvcpus 'web 1' 4 --config --maximum\n"),
            "{s}"
        );
        assert!(s.contains("<mac address=\"52:54:00:00:00:01\"/>"), "{s}");
        assert!(
            s.contains("detach-device 'web 1' \"$tmp/device-1.xml\" --config\n"),
            "{s}"
        );
        assert!(
            s.ends_with("virsh -c qemu:///system start 'web 1'\n"),
            "{s}"
        );
    }
}
