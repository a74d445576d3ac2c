//! Microsoft Hyper-V: its CIM-XML documents (DMTF DSP0201, WMI namespace
//! `root\virtualization\v2`) and the canonical XML form the mappings read
//! and write (book: Platforms › Hyper-V).
//!
//! A Hyper-V VM lives as WMI instances: one `Msvm_VirtualSystemSettingData`
//! (VSSD) and one resource allocation setting (RASD) per device. CIM-XML
//! passes them to `DefineSystem` as *embedded instances*: each `<INSTANCE>`
//! serialised to text and escaped inside a `<VALUE>`. Mappings cannot look
//! into escaped text, so the reader unpacks every form into one tree:
//!
//! ```text
//! <METHODCALL NAME="DefineSystem">                <hyperv xmlns="urn:hvxform:hyperv:1" form="DefineSystem">
//!   <PARAMVALUE NAME="SystemSettings" …>    →       <instance class="Msvm_VirtualSystemSettingData">
//!     <VALUE>&lt;INSTANCE CLASSNAME=…                 <ElementName type="string">vm1</ElementName>
//!                                                     <Notes type="string" array="true"><value>…</value></Notes>
//!                                                   </instance>
//! ```
//!
//! and the writer packs the canonical form back into a `DefineSystem`
//! METHODCALL (plus `ModifySecuritySettings` for a TPM).

use crate::xmlout::XmlOut;

mod fast;
mod mini;
mod read;
mod write;

pub use read::{
    command_method, looks_like_cim, read, read_calls, read_config, read_tree, COMMAND_METHODS,
};
pub use write::{write, write_calls, write_instances};

/// Namespace of the canonical form.
pub const NS: &str = "urn:hvxform:hyperv:1";

/// The WMI class of the VM's own settings.
pub const VSSD: &str = "Msvm_VirtualSystemSettingData";
/// The WMI class of the VM's security settings (TPM), set by
/// `Msvm_SecurityService.ModifySecuritySettings` rather than `DefineSystem`.
pub const SECURITY: &str = "Msvm_SecuritySettingData";

/// The WMI classes of a VM's settings that hvxform reads and writes (the
/// classes of `tests/validators/msvm.mof`, from Microsoft's class reference).
/// An instance of another class is refused: it is not VM configuration (an
/// `Msvm_Error`, a disk's `Msvm_VirtualHardDiskInfo`) or a class hvxform
/// cannot check.
pub const CLASSES: &[&str] = &[
    VSSD,
    "Msvm_VirtualSystemGlobalSettingData",
    "Msvm_ProcessorSettingData",
    "Msvm_MemorySettingData",
    "Msvm_ResourceAllocationSettingData",
    "Msvm_StorageAllocationSettingData",
    "Msvm_SyntheticEthernetPortSettingData",
    "Msvm_EmulatedEthernetPortSettingData",
    "Msvm_EthernetPortAllocationSettingData",
    "Msvm_SerialPortSettingData",
    SECURITY,
];

/// Classes whose instances are resource allocations (they need a ResourceType).
fn is_rasd(class: &str) -> bool {
    !matches!(
        class,
        VSSD | SECURITY | "Msvm_VirtualSystemGlobalSettingData"
    )
}

/// The prefix of the VSSD `Notes` value that holds what the hub has and
/// Hyper-V cannot (the canonical form's `<carried>`).
pub const CARRIED_NOTE: &str = "hvxform:hub=";

/// Writes a copy of `n` (an element, with its namespaces, attributes, text
/// and children) into `w`. Comments and processing instructions are left
/// out.
fn copy_node(w: &mut XmlOut, n: roxmltree::Node) -> Result<(), crate::xmlout::WriteError> {
    let tn = n.tag_name();
    let prefix = tn.namespace().and_then(|u| n.lookup_prefix(u));
    w.start_ns(tn.name(), tn.namespace(), prefix)?;
    for a in n.attributes() {
        let p = a.namespace().and_then(|u| n.lookup_prefix(u));
        w.attr_ns(a.name(), a.namespace(), p, a.value())?;
    }
    for c in n.children() {
        if c.is_element() {
            copy_node(w, c)?;
        } else if c.is_text() {
            w.text(c.text().unwrap_or(""))?;
        }
    }
    w.end();
    Ok(())
}

/// CIM property types (DSP0201 `CIMType`), without `reference`.
const TYPES: &[&str] = &[
    "boolean", "string", "char16", "uint8", "sint8", "uint16", "sint16", "uint32", "sint32",
    "uint64", "sint64", "datetime", "real32", "real64",
];

/// Checks a property value against its CIM type: integers in range,
/// booleans as CIM spells them, one character for `char16`. `Err` says why.
fn check_value(ty: &str, v: &str) -> Result<(), String> {
    let int = |min: i128, max: i128| -> Result<(), String> {
        match v.trim().parse::<i128>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            Ok(_) => Err(format!("`{v}` is out of range for {ty}")),
            Err(_) => Err(format!("`{v}` is not a {ty} integer")),
        }
    };
    match ty {
        "uint8" => int(0, u8::MAX as i128),
        "uint16" => int(0, u16::MAX as i128),
        "uint32" => int(0, u32::MAX as i128),
        "uint64" => int(0, u64::MAX as i128),
        "sint8" => int(i8::MIN as i128, i8::MAX as i128),
        "sint16" => int(i16::MIN as i128, i16::MAX as i128),
        "sint32" => int(i32::MIN as i128, i32::MAX as i128),
        "sint64" => int(i64::MIN as i128, i64::MAX as i128),
        "boolean" => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("`{v}` is not a boolean (TRUE or FALSE)")),
        },
        "real32" | "real64" => v
            .trim()
            .parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("`{v}` is not a {ty} number")),
        "char16" if v.chars().count() != 1 => Err(format!("`{v}` is not one character")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
