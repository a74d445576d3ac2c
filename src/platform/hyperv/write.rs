//! The writer: the canonical form → a CIM-XML request, as a WMI client sends
//! it to `root\virtualization\v2`.
//!
//! - `Msvm_VirtualSystemManagementService.DefineSystem`: SystemSettings = the
//!   VSSD, ResourceSettings[] = every other instance except the security
//!   settings, each embedded (serialised, then escaped in a `<VALUE>`);
//! - when there is a `Msvm_SecuritySettingData` (the TPM), a second call in a
//!   `<MULTIREQ>`: `Msvm_SecurityService.ModifySecuritySettings` with it.

use roxmltree::{Document, Node};

use super::{check_value, copy_node, fast, CARRIED_NOTE, NS, SECURITY, TYPES, VSSD};
use crate::xmlout::{escape_into, WriteError, XmlOut};

/// Writes the canonical form as a CIM-XML request. Errors name the instance
/// and property; the canonical form comes from a mapping, so they are the
/// mapping's mistakes.
pub fn write(xml: &str) -> Result<String, String> {
    if let Some(p) = fast::pack(xml) {
        return request(&p.system, &p.resources, p.security.as_ref(), true)
            .map_err(|e| format!("cannot write the request: {e}"));
    }
    write_tree(xml)
}

/// The general path: the canonical form read into a tree, every part
/// checked, each mistake named with its instance and property.
pub(super) fn write_tree(xml: &str) -> Result<String, String> {
    let doc = Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !(root.has_tag_name((NS, "hyperv"))) {
        return Err(format!(
            "the document is not the Hyper-V canonical form (root <{}>, expected <hyperv xmlns=\"{NS}\">)",
            root.tag_name().name()
        ));
    }
    let mut system = Vec::new();
    let mut resources = Vec::new();
    let mut security = Vec::new();
    // What the hub has and Hyper-V cannot: one Notes value of the VSSD.
    let carried = carried_of(root)?;
    for (i, inst) in root
        .children()
        .filter(|c| c.is_element() && !c.has_tag_name((NS, "carried")))
        .enumerate()
    {
        if !inst.has_tag_name((NS, "instance")) {
            return Err(format!(
                "<{}> in the Hyper-V canonical form: only <instance> elements belong there",
                inst.tag_name().name()
            ));
        }
        let class = inst.attribute("class").unwrap_or("");
        let note = carried.as_deref().filter(|_| class == VSSD);
        let text =
            instance_text(inst, note).map_err(|m| format!("instance {} ({class}): {m}", i + 1))?;
        match class {
            VSSD => system.push(text),
            SECURITY => security.push(text),
            _ => {
                if !has_property(inst, "ResourceType") {
                    return Err(format!(
                        "instance {} ({class}) has no ResourceType: DefineSystem's ResourceSettings are resource allocations",
                        i + 1
                    ));
                }
                resources.push(text)
            }
        }
    }
    if system.len() != 1 {
        return Err(format!(
            "a Hyper-V VM has exactly one {VSSD} instance, the mapping wrote {}",
            system.len()
        ));
    }
    if security.len() > 1 {
        return Err(format!(
            "a Hyper-V VM has at most one {SECURITY} instance, the mapping wrote {}",
            security.len()
        ));
    }
    request(&system[0], &resources, security.first(), false)
        .map_err(|e| format!("cannot write the request: {e}"))
}

/// The canonical form of a VM's instances written back as WMI's `GetText(1)`
/// prints them: one `<INSTANCE>` per line, the carried hub content in the
/// VSSD's Notes as [`write`] puts it.
pub fn write_instances(xml: &str) -> Result<String, String> {
    let doc = Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !(root.has_tag_name((NS, "hyperv"))) {
        return Err("the document is not the Hyper-V canonical form".into());
    }
    let carried = carried_of(root)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    for (i, inst) in root
        .children()
        .filter(|c| c.has_tag_name((NS, "instance")))
        .enumerate()
    {
        let class = inst.attribute("class").unwrap_or("");
        let note = carried.as_deref().filter(|_| class == VSSD);
        let text =
            instance_text(inst, note).map_err(|m| format!("instance {} ({class}): {m}", i + 1))?;
        out.push_str(&text);
        out.push('\n');
    }
    Ok(out)
}

/// The Notes value of what `<carried>` holds, if it holds anything.
fn carried_of(root: Node) -> Result<Option<String>, String> {
    root.children()
        .find(|c| c.has_tag_name((NS, "carried")))
        .filter(|c| c.children().any(|n| n.is_element()))
        .map(|c| carried_note(c).map_err(|e| format!("the carried hub content: {e}")))
        .transpose()
}

fn has_property(inst: Node, name: &str) -> bool {
    inst.children()
        .any(|c| c.is_element() && c.tag_name().name() == name)
}

/// One instance as CIM-XML text (`<INSTANCE CLASSNAME>…`), what an embedded
/// `<VALUE>` holds.
fn instance_text(inst: Node, note: Option<&str>) -> Result<String, String> {
    let class = inst.attribute("class").unwrap_or("");
    if !crate::platform::text::is_ncname(class) {
        return Err(format!("`{class}` is not a CIM class name"));
    }
    let mut w = XmlOut::with_indent(false);
    let e = |e: WriteError| e.to_string();
    w.start("INSTANCE").map_err(e)?;
    w.attr("CLASSNAME", class).map_err(e)?;
    let mut seen: Vec<&str> = Vec::new();
    for p in inst.children().filter(|c| c.is_element()) {
        let pname = p.tag_name().name();
        if seen.contains(&pname) {
            return Err(format!("property `{pname}` is written twice"));
        }
        seen.push(pname);
        // WMI's system properties (`__PATH`, `__CLASS`, ...) say where an
        // instance was read; WMI computes them, a request never sends them.
        if pname.starts_with("__") {
            continue;
        }
        let ty = p
            .attribute("type")
            .ok_or_else(|| format!("property `{pname}` has no type"))?;
        if !TYPES.contains(&ty) {
            return Err(format!("property `{pname}`: unknown CIM type `{ty}`"));
        }
        let array = p.attribute("array") == Some("true");
        w.start(if array { "PROPERTY.ARRAY" } else { "PROPERTY" })
            .map_err(e)?;
        w.attr("NAME", pname).map_err(e)?;
        w.attr("TYPE", ty).map_err(e)?;
        if let Some(eo) = p.attribute("embedded") {
            w.attr("EmbeddedObject", eo).map_err(e)?;
        }
        let check = |v: &str| check_value(ty, v).map_err(|m| format!("property `{pname}`: {m}"));
        if array {
            w.start("VALUE.ARRAY").map_err(e)?;
            if pname == "Notes" {
                if let Some(n) = note {
                    w.start("VALUE").map_err(e)?;
                    w.text(n).map_err(e)?;
                    w.end();
                }
            }
            for v in p.children().filter(|c| c.is_element()) {
                if v.attribute("null") == Some("true") {
                    w.start("VALUE.NULL").map_err(e)?;
                } else {
                    let t = v.text().unwrap_or("");
                    check(t)?;
                    w.start("VALUE").map_err(e)?;
                    w.text(t).map_err(e)?;
                }
                w.end();
            }
            w.end();
        } else {
            if pname == "Notes" && note.is_some() {
                return Err(
                    "property `Notes` is single-valued here; the VSSD's Notes is a string array (array=\"true\") and holds the carried hub content".into(),
                );
            }
            let t: String = p.children().filter_map(|c| c.text()).collect();
            check(&t)?;
            w.start("VALUE").map_err(e)?;
            w.text(&t).map_err(e)?;
            w.end();
        }
        w.end();
    }
    let has_notes = inst
        .children()
        .any(|c| c.is_element() && c.tag_name().name() == "Notes");
    if let (Some(n), false) = (note, has_notes) {
        w.start("PROPERTY.ARRAY").map_err(e)?;
        w.attr("NAME", "Notes").map_err(e)?;
        w.attr("TYPE", "string").map_err(e)?;
        w.start("VALUE.ARRAY").map_err(e)?;
        w.start("VALUE").map_err(e)?;
        w.text(n).map_err(e)?;
        w.end();
        w.end();
        w.end();
    }
    w.end();
    // An embedded instance is an element, without an XML declaration.
    w.finish_fragment().map_err(e)
}

/// The Notes value holding `<carried>`'s content: `hvxform:hub=` and the
/// content in a `<hub>` element of the canonical namespace.
fn carried_note(c: Node) -> Result<String, WriteError> {
    let mut w = XmlOut::with_indent(false);
    w.start_ns("hub", Some(NS), None)?;
    // The hub's namespace once, not on every carried element.
    w.declare(Some("hvx"), crate::platform::HVX_NS)?;
    for ch in c.children().filter(|n| n.is_element()) {
        copy_node(&mut w, ch)?;
    }
    w.end();
    Ok(format!("{CARRIED_NOTE}{}", w.finish_fragment()?))
}

/// The request around the instances, indented as every other output. It is
/// written directly: its shape is fixed and its only values are the
/// instances, escaped once more as the text of a `<VALUE>` (`escaped`: they
/// are already).
fn request(
    system: &str,
    resources: &[String],
    security: Option<&String>,
    escaped: bool,
) -> Result<String, WriteError> {
    let size: usize = system.len() + resources.iter().map(String::len).sum::<usize>();
    let mut w = Pretty {
        out: String::with_capacity(2048 + size + size / 3),
        depth: 0,
        escaped,
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    w.open("CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"");
    w.open("MESSAGE ID=\"1\" PROTOCOLVERSION=\"1.0\"");
    let multi = security.is_some();
    if multi {
        w.open("MULTIREQ");
    }
    w.open("SIMPLEREQ");
    method_call(
        &mut w,
        "DefineSystem",
        "Msvm_VirtualSystemManagementService",
        &[("Name", "vmms")],
    )?;
    w.param("SystemSettings", std::slice::from_ref(&system), false)?;
    w.param("ResourceSettings", resources, true)?;
    w.close("METHODCALL");
    w.close("SIMPLEREQ");
    if let Some(sec) = security {
        w.open("SIMPLEREQ");
        // The host's one security service (the client puts in its own Name).
        method_call(
            &mut w,
            "ModifySecuritySettings",
            "Msvm_SecurityService",
            &[("Name", "securityservice")],
        )?;
        w.param("SecuritySettingData", std::slice::from_ref(sec), false)?;
        w.close("METHODCALL");
        w.close("SIMPLEREQ");
        w.close("MULTIREQ");
    }
    w.close("MESSAGE");
    w.close("CIM");
    Ok(w.out)
}

/// An indented document written line by line (two spaces a level).
struct Pretty {
    out: String,
    depth: usize,
    /// The parameters' values are escaped already.
    escaped: bool,
}

impl Pretty {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    /// `<tag_and_attrs>` on a line of its own; the caller's text is markup.
    fn open(&mut self, tag_and_attrs: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(tag_and_attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, tag_and_attrs: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(tag_and_attrs);
        self.out.push_str("/>\n");
    }

    /// `<tag_and_attrs>text</name>`, the text escaped.
    fn text(&mut self, tag_and_attrs: &str, name: &str, text: &str) -> Result<(), WriteError> {
        self.indent();
        self.out.push('<');
        self.out.push_str(tag_and_attrs);
        self.out.push('>');
        escape_into(&mut self.out, text, false)?;
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        Ok(())
    }

    /// A parameter of embedded instances (`values` are CIM-XML texts).
    fn param<S: AsRef<str>>(
        &mut self,
        name: &str,
        values: &[S],
        array: bool,
    ) -> Result<(), WriteError> {
        self.open(&format!(
            "PARAMVALUE NAME=\"{name}\" PARAMTYPE=\"string\" EmbeddedObject=\"instance\""
        ));
        match (array, values.is_empty()) {
            (true, true) => self.empty("VALUE.ARRAY"),
            (true, false) => self.open("VALUE.ARRAY"),
            (false, _) => {}
        }
        for v in values {
            if v.as_ref().is_empty() {
                self.empty("VALUE");
            } else if self.escaped {
                self.indent();
                self.out.push_str("<VALUE>");
                self.out.push_str(v.as_ref());
                self.out.push_str("</VALUE>\n");
            } else {
                self.text("VALUE", "VALUE", v.as_ref())?;
            }
        }
        if array && !values.is_empty() {
            self.close("VALUE.ARRAY");
        }
        self.close("PARAMVALUE");
        Ok(())
    }
}

/// `<METHODCALL NAME=method>` and the path of the object it calls, an
/// instance of `class` named by its `keys` (left open: the parameters
/// follow).
fn method_call(
    w: &mut Pretty,
    method: &str,
    class: &str,
    keys: &[(&str, &str)],
) -> Result<(), WriteError> {
    w.open(&format!("METHODCALL NAME=\"{method}\""));
    w.open("LOCALINSTANCEPATH");
    w.open("LOCALNAMESPACEPATH");
    for ns in ["root", "virtualization", "v2"] {
        w.empty(&format!("NAMESPACE NAME=\"{ns}\""));
    }
    w.close("LOCALNAMESPACEPATH");
    w.open(&format!("INSTANCENAME CLASSNAME=\"{class}\""));
    for (k, v) in keys {
        w.open(&format!("KEYBINDING NAME=\"{k}\""));
        w.text("KEYVALUE VALUETYPE=\"string\"", "KEYVALUE", v)?;
        w.close("KEYBINDING");
    }
    w.close("INSTANCENAME");
    w.close("LOCALINSTANCEPATH");
    Ok(())
}

/// The method parameters that take one value, not an array (Microsoft's
/// signatures: ModifySystemSettings' SystemSettings, AddResourceSettings'
/// AffectedConfiguration); every other instance or reference parameter of
/// the command methods is an array.
const SINGLE_PARAMS: &[&str] = &["SystemSettings", "AffectedConfiguration"];

/// Writes the canonical form of method calls (`<hyperv form="calls">`, what
/// `commands/hvx-to-hyperv.hvx` writes) as a CIM-XML request: one
/// `<SIMPLEREQ>` per `<call>`, in a `<MULTIREQ>` when there are several.
///
/// ```xml
/// <hyperv xmlns="urn:hvxform:hyperv:1" form="calls">
///   <call method="RequestStateChange" class="Msvm_ComputerSystem" name="GUID">
///     <param name="RequestedState" type="uint16">2</param>
///   </call>
///   <call method="ModifyResourceSettings">
///     <param name="ResourceSettings"><instance class="…">…</instance></param>
///   </call>
///   <call method="RemoveResourceSettings">
///     <param name="ResourceSettings"><ref class="…" InstanceID="…"/></param>
///   </call>
/// </hyperv>
/// ```
///
/// Calls without `class` go to `Msvm_VirtualSystemManagementService`.
pub fn write_calls(xml: &str) -> Result<String, String> {
    let doc = Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS, "hyperv")) || root.attribute("form") != Some("calls") {
        return Err(format!(
            "not the Hyper-V canonical form of calls (<hyperv form=\"calls\" xmlns=\"{NS}\">)"
        ));
    }
    let calls: Vec<Node> = root.children().filter(|c| c.is_element()).collect();
    if calls.is_empty() {
        return Err("no call to write".into());
    }
    let mut w = Pretty {
        out: String::with_capacity(4096),
        depth: 0,
        escaped: false,
    };
    let e = |e: WriteError| e.to_string();
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    w.open("CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"");
    w.open("MESSAGE ID=\"1\" PROTOCOLVERSION=\"1.0\"");
    if calls.len() > 1 {
        w.open("MULTIREQ");
    }
    for (i, c) in calls.iter().enumerate() {
        let at = |m: String| format!("call {}: {m}", i + 1);
        if !c.has_tag_name((NS, "call")) {
            return Err(at(format!("<{}>, expected <call>", c.tag_name().name())));
        }
        let method = c.attribute("method").unwrap_or("");
        if !crate::platform::text::is_ncname(method) {
            return Err(at(format!("`{method}` is not a method name")));
        }
        w.open("SIMPLEREQ");
        match c.attribute("class") {
            Some("Msvm_ComputerSystem") => {
                let name = c.attribute("name").unwrap_or("");
                if name.is_empty() {
                    return Err(at(
                        "a call on Msvm_ComputerSystem needs the VM's name (its GUID)".into(),
                    ));
                }
                method_call(
                    &mut w,
                    method,
                    "Msvm_ComputerSystem",
                    &[("CreationClassName", "Msvm_ComputerSystem"), ("Name", name)],
                )
                .map_err(e)?;
            }
            None => method_call(
                &mut w,
                method,
                "Msvm_VirtualSystemManagementService",
                &[("Name", "vmms")],
            )
            .map_err(e)?,
            Some(other) => return Err(at(format!("calls on {other} are not written"))),
        }
        for p in c.children().filter(|p| p.is_element()) {
            let pname = p.attribute("name").unwrap_or("");
            if !crate::platform::text::is_ncname(pname) {
                return Err(at(format!("`{pname}` is not a parameter name")));
            }
            let kids: Vec<Node> = p.children().filter(|k| k.is_element()).collect();
            if kids.is_empty() {
                // A plain value of a CIM type.
                let ty = p.attribute("type").unwrap_or("");
                if !TYPES.contains(&ty) {
                    return Err(at(format!("parameter `{pname}`: unknown CIM type `{ty}`")));
                }
                let t = p.text().unwrap_or("");
                check_value(ty, t).map_err(|m| at(format!("parameter `{pname}`: {m}")))?;
                w.open(&format!("PARAMVALUE NAME=\"{pname}\" PARAMTYPE=\"{ty}\""));
                w.text("VALUE", "VALUE", t).map_err(e)?;
                w.close("PARAMVALUE");
            } else if kids.len() > 1 && SINGLE_PARAMS.contains(&pname) {
                return Err(at(format!(
                    "parameter `{pname}` takes one value, given {}",
                    kids.len()
                )));
            } else if kids.iter().all(|k| k.has_tag_name((NS, "instance"))) {
                let texts = kids
                    .iter()
                    .map(|k| instance_text(*k, None))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| at(format!("parameter `{pname}`: {m}")))?;
                w.param(pname, &texts, !SINGLE_PARAMS.contains(&pname))
                    .map_err(e)?;
            } else if kids.iter().all(|k| k.has_tag_name((NS, "ref"))) {
                let single = SINGLE_PARAMS.contains(&pname);
                w.open(&format!(
                    "PARAMVALUE NAME=\"{pname}\" PARAMTYPE=\"reference\""
                ));
                if !single {
                    w.open("VALUE.REFARRAY");
                }
                for r in &kids {
                    let class = r.attribute("class").unwrap_or("");
                    let id = r.attribute("InstanceID").unwrap_or("");
                    if !crate::platform::text::is_ncname(class) || id.is_empty() {
                        return Err(at(format!(
                            "parameter `{pname}`: a reference needs a class and an InstanceID"
                        )));
                    }
                    w.open("VALUE.REFERENCE");
                    w.open(&format!("INSTANCENAME CLASSNAME=\"{class}\""));
                    w.open("KEYBINDING NAME=\"InstanceID\"");
                    w.text("KEYVALUE VALUETYPE=\"string\"", "KEYVALUE", id)
                        .map_err(e)?;
                    w.close("KEYBINDING");
                    w.close("INSTANCENAME");
                    w.close("VALUE.REFERENCE");
                }
                if !single {
                    w.close("VALUE.REFARRAY");
                }
                w.close("PARAMVALUE");
            } else {
                return Err(at(format!(
                    "parameter `{pname}` mixes instances and references"
                )));
            }
        }
        w.close("METHODCALL");
        w.close("SIMPLEREQ");
    }
    if calls.len() > 1 {
        w.close("MULTIREQ");
    }
    w.close("MESSAGE");
    w.close("CIM");
    Ok(w.out)
}
