//! The platform registry: names, file extensions, what is implemented, and
//! detection of an input's platform from its content.

use std::borrow::Cow;

pub mod ec2;
pub mod hyperv;
pub mod input;
pub mod text;
pub mod vmx;
pub mod xl;
pub mod xl_spec;

/// A hypervisor platform (or the hub).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub name: &'static str,
    pub title: &'static str,
    /// Extension of output files (`<stem>.<platform>.<ext>`).
    pub ext: &'static str,
    /// Root element (and namespace) or format that identifies the platform.
    pub signature: &'static str,
    pub implemented: bool,
}

pub const PLATFORMS: &[Platform] = &[
    Platform { name: "kvm", title: "KVM/QEMU (libvirt domain XML)", ext: "xml", signature: "<domain> without namespace", implemented: true },
    Platform { name: "xen", title: "Xen (xl.cfg)", ext: "cfg", signature: "xl.cfg text (.cfg or by its settings), or <xl> in urn:hvxform:xl:1", implemented: true },
    Platform { name: "vmware", title: "VMware Workstation/ESXi (.vmx)", ext: "vmx", signature: ".vmx text (.vmx or by its keys), or <vmx> in urn:hvxform:vmx:1", implemented: true },
    Platform { name: "vsphere", title: "VMware vSphere (vim25 ConfigSpec/ConfigInfo)", ext: "xml", signature: "<VirtualMachineConfigSpec>, <VirtualMachineConfigInfo>, <ConfigSpec> or <config> in urn:vim25 (or any element there of that xsi:type, as pyVmomi serialises them), or a SOAP response of them", implemented: true },
    Platform { name: "hyperv", title: "Microsoft Hyper-V (WMI CIM-XML; pre-2016 .xml read only)", ext: "xml", signature: "CIM-XML <CIM> (DefineSystem) or <INSTANCE>s of Msvm_ classes, a pre-2016 <configuration> file, or <hyperv> in urn:hvxform:hyperv:1", implemented: true },
    Platform { name: "ec2", title: "Amazon EC2 (DescribeInstances response)", ext: "xml", signature: "<DescribeInstancesResponse> in http://ec2.amazonaws.com/doc/2016-11-15/ (with or without the final /)", implemented: true },
    Platform { name: "ovf", title: "DMTF OVF envelope", ext: "ovf", signature: "<Envelope> in http://schemas.dmtf.org/ovf/envelope/1 or /2", implemented: true },
    Platform { name: "hvx", title: "hvxform hub model", ext: "hvx.xml", signature: "<vm> in urn:hvxform:hvx:1", implemented: true },
];

pub const HVX_NS: &str = "urn:hvxform:hvx:1";
pub const VIM25_NS: &str = "urn:vim25";
pub const OVF1_NS: &str = "http://schemas.dmtf.org/ovf/envelope/1";
pub const OVF2_NS: &str = "http://schemas.dmtf.org/ovf/envelope/2";
use ec2::{NS as EC2_NS, NS_BARE as EC2_NS_BARE};

/// A platform of the user's own: a name that a mapping in `dir` converts to
/// or from (`kvm-to-cmdb.hvx`, `hvx-to-cmdb.hvx`, `cmdb-to-hvx.hvx`), its
/// documents written as `<stem>.<name>.xml`. Made once per name and process.
pub fn user_platform(name: &str, dir: &std::path::Path) -> Option<&'static Platform> {
    use std::sync::Mutex;
    static MADE: Mutex<Vec<&'static Platform>> = Mutex::new(Vec::new());
    let name = name.to_ascii_lowercase();
    let word = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !word || PLATFORMS.iter().any(|p| p.name == name) {
        return None;
    }
    let (to, from) = (format!("-to-{name}.hvx"), format!("{name}-to-"));
    let found = std::fs::read_dir(dir).ok()?.flatten().any(|e| {
        let f = e.file_name().to_string_lossy().into_owned();
        f.ends_with(&to) || (f.starts_with(&from) && f.ends_with(".hvx"))
    });
    if !found {
        return None;
    }
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = made.iter().find(|p| p.name == name) {
        return Some(p);
    }
    let p: &'static Platform = Box::leak(Box::new(Platform {
        name: Box::leak(name.into_boxed_str()),
        title: "a platform of the user's own (its mappings in --mappings DIR)",
        ext: "xml",
        signature: "a document its mapping reads (give --from)",
        implemented: true,
    }));
    made.push(p);
    Some(p)
}

/// Looks a platform up by name.
pub fn by_name(name: &str) -> Result<&'static Platform, String> {
    // `--to VSphere` means vsphere: names are matched without case.
    PLATFORMS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let names: Vec<&str> = PLATFORMS.iter().map(|p| p.name).collect();
            let hint = crate::diag::suggest(name, names.iter().copied())
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            format!(
                "unknown platform `{name}` (platforms: {}){hint}",
                names.join(", ")
            )
        })
}

/// Detects the platform of an XML document from its root element.
pub fn detect_xml(doc: &roxmltree::Document) -> Result<(&'static Platform, String), String> {
    let p = platform_of_xml(doc)?;
    let tn = doc.root_element().tag_name();
    let (local, ns) = (tn.name(), tn.namespace());
    let why = match ns {
        Some(u) => format!("root element <{local}> in namespace {u}"),
        None => format!("root element <{local}> without a namespace"),
    };
    Ok((p, why))
}

/// An element whose `xsi:type` says it is a VM's configuration.
fn is_vim_config(n: roxmltree::Node) -> bool {
    const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    n.attribute((XSI, "type")).is_some_and(|t| {
        matches!(
            t.rsplit(':').next(),
            Some("VirtualMachineConfigSpec" | "VirtualMachineConfigInfo")
        )
    })
}

/// [`detect_xml`] without the reason (what a conversion needs).
pub fn platform_of_xml(doc: &roxmltree::Document) -> Result<&'static Platform, String> {
    let root = doc.root_element();
    if let Some(m) = command_method(root) {
        return Err(format!(
            "{NOT_A_VM}: a command ({m}), not a VM's configuration; translate it with `hvxform command`"
        ));
    }
    let tn = root.tag_name();
    let (local, ns) = (tn.name(), tn.namespace());
    if let Some(p) = platform_of_root(local, ns) {
        return Ok(p);
    }
    let p = match (local, ns) {
        // A data object as pyVmomi serialises it (`SoapAdapter.Serialize`):
        // any element, typed by xsi:type.
        (_, Some(VIM25_NS)) if is_vim_config(root) => "vsphere",
        // A vSphere API response as vCenter sends it (RetrievePropertiesResponse,
        // FetchResponse): a SOAP envelope whose body is in urn:vim25.
        ("Envelope", Some(SOAP_NS)) if soap_body_is_vim25(root) => "vsphere",
        ("hyperv", Some(hyperv::NS)) | ("CIM" | "INSTANCE", None) => "hyperv",
        ("configuration", None | Some(hyperv::NS)) if is_hyperv_config(root) => "hyperv",
        _ => {
            let seen = root_seen(doc);
            let tried: Vec<String> = PLATFORMS
                .iter()
                .filter(|p| p.implemented)
                .map(|p| format!("{} ({})", p.name, p.signature))
                .collect();
            return Err(format!(
                "{NOT_A_VM} hvxform knows: saw {seen}; tried {}; use --from to say which it is",
                tried.join("; ")
            ));
        }
    };
    Ok(by_name(p).expect("registered"))
}

/// The platform of a document whose root element's name alone says it
/// (`local` in namespace `ns`): a libvirt domain, a vSphere ConfigSpec or
/// ConfigInfo, an OVF envelope, an EC2 response, the hub, the canonical
/// forms of `.vmx` and xl.cfg. `None` where [`platform_of_xml`] looks
/// further (commands, SOAP envelopes, Hyper-V, typed vSphere objects,
/// unknown roots). Readers without a roxmltree tree detect with this alone.
pub fn platform_of_root(local: &str, ns: Option<&str>) -> Option<&'static Platform> {
    let p = match (local, ns) {
        ("domain", None) => "kvm",
        (
            "VirtualMachineConfigSpec"
            | "VirtualMachineConfigInfo"
            | "ConfigSpec"
            | "config"
            | "spec",
            Some(VIM25_NS),
        ) => "vsphere",
        ("Envelope", Some(OVF1_NS | OVF2_NS)) => "ovf",
        ("DescribeInstancesResponse", Some(EC2_NS | EC2_NS_BARE)) => "ec2",
        ("vm", Some(HVX_NS)) => "hvx",
        ("vmx", Some(vmx::NS)) => "vmware",
        ("xl", Some(xl::NS)) => "xen",
        _ => return None,
    };
    by_name(p).ok()
}

/// SOAP 1.1's envelope namespace.
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Whether a SOAP envelope's body holds a vSphere API element.
fn soap_body_is_vim25(root: roxmltree::Node) -> bool {
    root.children()
        .filter(|c| c.has_tag_name((SOAP_NS, "Body")))
        .flat_map(|b| b.children().filter(|c| c.is_element()))
        .any(|c| c.tag_name().namespace() == Some(VIM25_NS))
}

/// The method of a command document (a vSphere method, bare or in a SOAP
/// envelope; hvxform's `<virsh>`), which describes no VM.
fn command_method<'a>(root: roxmltree::Node<'a, '_>) -> Option<&'a str> {
    if let Some(m) = hyperv::command_method(root) {
        return Some(m);
    }
    let el = if root.has_tag_name((SOAP_NS, "Envelope")) {
        root.children()
            .filter(|c| c.has_tag_name((SOAP_NS, "Body")))
            .flat_map(|b| b.children().filter(|c| c.is_element()))
            .next()?
    } else {
        root
    };
    let tn = el.tag_name();
    match tn.namespace() {
        Some(VIM25_NS) if crate::command::VSPHERE_METHODS.contains(&tn.name()) => Some(tn.name()),
        Some(crate::command::VIRSH_NS) => Some("virsh"),
        _ => None,
    }
}

/// What a document's root is, for messages.
fn root_seen(doc: &roxmltree::Document) -> String {
    let tn = doc.root_element().tag_name();
    match tn.namespace() {
        Some(u) => format!("root element <{}> in namespace `{u}`", tn.name()),
        None => format!("root element <{}> without a namespace", tn.name()),
    }
}

/// The platform of an XML input: detected when `from` is `None`; `from`
/// unless the document is another platform's (an error saying which). A
/// document of no known platform is read as `from` says (a mapping of one's
/// own may read other roots): the second value is then the message to give
/// when the mappings find nothing in it (see [`not_of`]).
pub fn source_of_xml(
    doc: &roxmltree::Document,
    from: Option<&'static Platform>,
) -> Result<(&'static Platform, Option<String>), String> {
    let detected = platform_of_xml(doc);
    let Some(from) = from else {
        return detected.map(|p| (p, None));
    };
    match detected {
        Ok(p) if p.name == from.name => Ok((p, None)),
        Ok(p) => Err(format!(
            "--from {} names the wrong platform: this document is {} ({}); leave --from out to detect it",
            from.name,
            p.name,
            root_seen(doc)
        )),
        Err(_) => Ok((from, Some(not_of(doc, from)))),
    }
}

/// The error for a document of no known platform read as `from`, when the
/// mappings found nothing in it.
pub fn not_of(doc: &roxmltree::Document, from: &Platform) -> String {
    format!(
        "{NOT_A_VM} of --from {}: saw {}, and the mapping found nothing to convert in it; a {} document is {}",
        from.name,
        root_seen(doc),
        from.name,
        from.signature
    )
}

/// A pre-2016 Hyper-V `<GUID>.xml`: `<configuration>` with the VM's
/// `properties` and `settings` (other programs use `<configuration>` too).
fn is_hyperv_config(root: roxmltree::Node) -> bool {
    let has = |n: &str| root.children().any(|c| c.has_tag_name(n));
    has("properties") && (has("settings") || has("global_settings"))
}

// ---- Text formats (.vmx, xl.cfg) -------------------------------------------

/// How an input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Xml,
    Vmx,
    Xl,
    /// Neither XML nor a text format hvxform reads (a README, an INI file).
    Unknown,
}

/// Decides how to read an input, and why: XML when it starts with `<`; else
/// the text format `--from` names, then the file extension (`.vmx`, `.cfg`),
/// then the content (Xen's own examples, `xlexample.hvm`, have no `.cfg`).
pub fn syntax_of(name: &str, text: &str, from: Option<&Platform>) -> (Syntax, String) {
    if text
        .trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n'])
        .starts_with('<')
    {
        return (Syntax::Xml, String::new());
    }
    match from.map(|p| p.name) {
        Some("vmware") => return (Syntax::Vmx, "--from vmware".into()),
        Some("xen") => return (Syntax::Xl, "--from xen".into()),
        Some(_) => return (Syntax::Xml, String::new()),
        None => {}
    }
    let ext = std::path::Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("vmx") => return (Syntax::Vmx, "file extension .vmx".into()),
        Some("cfg") => return (Syntax::Xl, "file extension .cfg".into()),
        _ => {}
    }
    match (vmx::sniff(text), xl::sniff(text)) {
        (Some((n, why)), Some((m, _))) if n >= m => (Syntax::Vmx, why),
        (_, Some((_, why))) => (Syntax::Xl, why),
        (Some((_, why)), None) => (Syntax::Vmx, why),
        (None, None) => (Syntax::Unknown, String::new()),
    }
}

/// The error for an input that is neither XML nor a text format hvxform
/// reads. It starts with [`NOT_A_VM`], which batches use to skip it.
pub fn unknown_syntax(name: &str) -> String {
    format!(
        "{name}: {NOT_A_VM}: it is not XML (it does not start with `<`), and its lines are neither .vmx nor xl.cfg settings; --from vmware or --from xen reads it as one"
    )
}

/// How errors about inputs that describe no VM begin (see [`is_not_a_vm`]).
pub const NOT_A_VM: &str = "not a VM description";

/// Whether an input error says the input describes no VM at all (rather
/// than a VM described wrongly): a batch skips such files in folders.
pub fn is_not_a_vm(message: &str) -> bool {
    message.contains(NOT_A_VM)
}

/// The input as XML for the mappings: XML as given, `.vmx` and xl.cfg text
/// lexed into their canonical forms. Errors are `name:line:col: message`.
pub fn to_xml<'t>(
    name: &str,
    text: &'t str,
    from: Option<&'static Platform>,
) -> Result<Cow<'t, str>, String> {
    let (syntax, why) = syntax_of(name, text, from);
    match syntax {
        Syntax::Xml if reads_cim(text, from) => hyperv::read(name, text).map(Cow::Owned),
        Syntax::Xml => {
            // An EC2 response without the final `/` of its namespace.
            if from.is_none_or(|p| p.name == "ec2") {
                if let Some(t) = ec2::normalise(text) {
                    return Ok(Cow::Owned(t));
                }
            }
            // A pre-2016 Hyper-V file: into the canonical namespace.
            let config = from.is_none_or(|p| p.name == "hyperv");
            if let Some(t) = hyperv::read_config(text).filter(|_| config) {
                if let Ok(doc) = input::parse_xml(name, &t) {
                    if is_hyperv_config(doc.root_element()) {
                        return Ok(Cow::Owned(t));
                    }
                }
            }
            Ok(Cow::Borrowed(text))
        }
        Syntax::Vmx => vmx::read(text)
            .map(Cow::Owned)
            .map_err(|e| text_error(name, e, ".vmx", &why)),
        Syntax::Xl => xl::read(text)
            .map(Cow::Owned)
            .map_err(|e| text_error(name, e, "xl.cfg", &why)),
        Syntax::Unknown => Err(unknown_syntax(name)),
    }
}

/// A `.vmx`, xl.cfg or Hyper-V CIM-XML input read straight into the tree
/// its first mapping reads, with its platform: the canonical form is
/// built, not written as text and parsed again, and its elements point at
/// the places in `text` they come from. `None` for every other input, and
/// for one that may carry data from an earlier conversion (which is found
/// in, and cut out of, the canonical text): those take [`to_xml`]. Errors
/// are [`to_xml`]'s.
pub fn to_tree(
    name: &str,
    text: &str,
    from: Option<&'static Platform>,
) -> Option<Result<(crate::tree::Document, &'static Platform), String>> {
    let (syntax, why) = syntax_of(name, text, from);
    let platform = match syntax {
        Syntax::Xml if reads_cim(text, from) => "hyperv",
        Syntax::Vmx => "vmware",
        Syntax::Xl => "xen",
        _ => return None,
    };
    // `hvx.carry.N` (.vmx, in any case: VMware's keys are case-insensitive)
    // and `hvx_carry_N` (xl.cfg) keys, and Hyper-V's `hvxform:carry:N=`
    // Notes values.
    if may_carry(text) {
        return None;
    }
    let built = match syntax {
        Syntax::Vmx => vmx::read_tree(text).map_err(|e| text_error(name, e, ".vmx", &why)),
        Syntax::Xl => xl::read_tree(text).map_err(|e| text_error(name, e, "xl.cfg", &why)),
        _ => hyperv::read_tree(name, text),
    };
    let p = by_name(platform).expect("a platform hvxform knows");
    Some(built.map(|d| (d, p)))
}

/// Whether `text` has `carry` in it, in any case (a `y` or `Y` found with
/// memchr, then the four letters before it).
fn may_carry(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr2_iter(b'y', b'Y', b).any(|i| i >= 4 && b[i - 4..i].eq_ignore_ascii_case(b"carr"))
}

/// Whether an XML input is read as Hyper-V's CIM-XML (by [`to_xml`] and
/// [`to_tree`] alike).
fn reads_cim(text: &str, from: Option<&'static Platform>) -> bool {
    hyperv::looks_like_cim(text) && from.is_none_or(|p| p.name == "hyperv")
}

/// A text format reader's error: located in the file, with why the file
/// was read as `format`.
fn text_error(name: &str, e: text::TextError, format: &str, why: &str) -> String {
    format!("{} (read as {format}: {why})", e.render(name))
}

/// Detects the platform of an input, XML or text, and says why.
pub fn detect(name: &str, text: &str) -> Result<(&'static Platform, String), String> {
    let (syntax, why) = syntax_of(name, text, None);
    let p = match syntax {
        Syntax::Xml if hyperv::looks_like_cim(text) => {
            hyperv::read(name, text)?;
            return Ok((
                by_name("hyperv").expect("registered"),
                "CIM-XML of Hyper-V's WMI classes".into(),
            ));
        }
        Syntax::Xml => {
            let doc = input::parse_xml(name, text).map_err(|e| e.message)?;
            return detect_xml(&doc).map_err(|m| format!("{name}: {m}"));
        }
        Syntax::Vmx => vmx::read(text).map(|_| "vmware"),
        Syntax::Xl => xl::read(text).map(|_| "xen"),
        Syntax::Unknown => return Err(unknown_syntax(name)),
    };
    let p = p.map_err(|e| e.render(name))?;
    Ok((by_name(p).expect("registered"), why))
}

/// A native writer: the format's name (for errors), the function that
/// turns the canonical form into the platform's own document, and the one
/// that does it from the canonical form built as a tree, where there is one.
struct NativeWriter {
    format: &'static str,
    text: fn(&str) -> Result<String, String>,
    tree: Option<TreeWriter>,
}

type TreeWriter = fn(&crate::tree::Document) -> Result<String, String>;

/// The writer of a target whose document is not the last stage's XML itself:
/// `.vmx` and xl.cfg text, and Hyper-V's CIM-XML request.
fn native_writer(target: &Platform) -> Option<NativeWriter> {
    let (format, text, tree): (_, fn(&str) -> _, Option<TreeWriter>) = match target.name {
        "vmware" => (".vmx", vmx::write, Some(vmx::write_tree)),
        "xen" => ("xl.cfg", xl::write, Some(xl::write_tree)),
        "hyperv" => ("Hyper-V CIM-XML", hyperv::write, None),
        _ => return None,
    };
    Some(NativeWriter { format, text, tree })
}

/// Whether `target`'s writer reads the last stage's output as a tree: that
/// stage then builds its document as one and never writes its XML text.
pub fn writes_from_tree(target: &Platform) -> bool {
    native_writer(target).is_some_and(|w| w.tree.is_some())
}

/// [`to_native`] from the canonical form built as a tree (for a target
/// [`writes_from_tree`] says reads one).
pub fn to_native_tree(target: &Platform, doc: &crate::tree::Document) -> Result<String, String> {
    match native_writer(target) {
        Some(NativeWriter {
            format,
            tree: Some(write),
            ..
        }) => write(doc).map_err(|m| format!("writing {format}: {m}")),
        _ => Err(format!(
            "internal: {} has no writer from a tree",
            target.name
        )),
    }
}

/// Whether a target's document is written from the last stage's output by
/// [`to_native`] (so that output is only read by a program).
pub fn writes_native(target: &Platform) -> bool {
    native_writer(target).is_some()
}

/// Whether `raw` (a document read as `target`, `doc` its XML form) is
/// already in the form `target`'s writer writes: a libvirt domain, a
/// ConfigSpec, an OVF envelope, a `.vmx` file, an xl.cfg, a DefineSystem
/// request. (A vCenter ConfigInfo, WMI's
/// instances or a pre-2016 Hyper-V file are read forms: converting them to
/// their own platform writes the platform's form.)
pub fn in_written_form(target: &Platform, raw: &str, doc: &crate::tree::Document) -> bool {
    let Some(root) = doc.root_element() else {
        return false;
    };
    let name = root.tag_name().name();
    match target.name {
        "kvm" => name == "domain",
        "vsphere" => name == "VirtualMachineConfigSpec",
        "ovf" => name == "Envelope",
        "vmware" | "xen" => !raw.trim_start().starts_with('<'),
        // ec2 → ec2 writes the response back in place through the hub, and
        // the RunInstances and ImportImage requests beside it.
        "ec2" => false,
        "hyperv" => roxmltree::Document::parse(raw).is_ok_and(|d| {
            d.descendants().any(|n| {
                n.has_tag_name("METHODCALL") && n.attribute("NAME") == Some("DefineSystem")
            })
        }),
        _ => false,
    }
}

/// Whether two XML texts hold the same elements, attributes and text, in
/// the same order: comments, processing instructions, the declaration,
/// namespace prefixes and whitespace-only text aside.
pub fn same_tree(a: &str, b: &str) -> bool {
    fn kept(c: &roxmltree::Node) -> bool {
        c.is_element() || (c.is_text() && !c.text().unwrap_or("").trim().is_empty())
    }
    fn attrs<'a>(n: roxmltree::Node<'a, '_>) -> Vec<(Option<&'a str>, &'a str, &'a str)> {
        n.attributes()
            .map(|x| (x.namespace(), x.name(), x.value()))
            .collect()
    }
    fn same(a: roxmltree::Node, b: roxmltree::Node) -> bool {
        if a.is_text() || b.is_text() {
            return a.is_text() && b.is_text() && a.text() == b.text();
        }
        if a.tag_name() != b.tag_name() || attrs(a) != attrs(b) {
            return false;
        }
        let (mut x, mut y) = (a.children().filter(kept), b.children().filter(kept));
        loop {
            match (x.next(), y.next()) {
                (None, None) => return true,
                (Some(p), Some(q)) if same(p, q) => {}
                _ => return false,
            }
        }
    }
    match (roxmltree::Document::parse(a), roxmltree::Document::parse(b)) {
        (Ok(x), Ok(y)) => same(x.root_element(), y.root_element()),
        _ => false,
    }
}

/// A native document written back as it was read (a conversion to its own
/// platform, or home unchanged): its text as the file must be written
/// (a `.vmx` in its declared charset, see [`vmx::in_declared_charset`]).
pub fn native_as_read(target: &Platform, text: &str) -> String {
    match target.name {
        "vmware" => vmx::in_declared_charset(text).into_owned(),
        _ => text.to_string(),
    }
}

/// A text document (`.vmx`, xl.cfg) written for a VM that came home
/// changed, laid out as the file it left as ([`vmx::rebase`],
/// [`xl::rebase`]): it differs from that file only where the VM changed.
pub fn rebase(target: &Platform, left_as: &str, written: &str) -> Option<String> {
    match target.name {
        "vmware" => Some(vmx::rebase(left_as, written)),
        "xen" => Some(xl::rebase(left_as, written)),
        _ => None,
    }
}

/// The native document of a target from the last stage's output: `.vmx`,
/// xl.cfg or CIM-XML from their canonical forms, the XML itself otherwise.
pub fn to_native(target: &Platform, xml: String) -> Result<String, String> {
    match native_writer(target) {
        Some(w) => (w.text)(&xml).map_err(|m| format!("writing {}: {m}", w.format)),
        None => Ok(xml),
    }
}
