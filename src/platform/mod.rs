//! The platform registry: names, file extensions, what is implemented, and
//! detection of an input's platform from its content.

pub mod input;

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
    Platform { name: "xen", title: "Xen (xl.cfg)", ext: "cfg", signature: "xl.cfg text (.cfg)", implemented: false },
    Platform { name: "vmware", title: "VMware Workstation/ESXi (.vmx)", ext: "vmx", signature: ".vmx text", implemented: false },
    Platform { name: "vsphere", title: "VMware vSphere (vim25 ConfigSpec/ConfigInfo)", ext: "xml", signature: "<VirtualMachineConfigSpec>, <VirtualMachineConfigInfo>, <ConfigSpec> or <config> in urn:vim25", implemented: true },
    Platform { name: "hyperv", title: "Microsoft Hyper-V", ext: "xml", signature: "Hyper-V configuration XML", implemented: false },
    Platform { name: "ec2", title: "Amazon EC2", ext: "xml", signature: "DescribeInstances item", implemented: false },
    Platform { name: "ovf", title: "DMTF OVF envelope", ext: "ovf", signature: "<Envelope> in http://schemas.dmtf.org/ovf/envelope/1 or /2", implemented: true },
    Platform { name: "hvx", title: "hvxform hub model", ext: "hvx.xml", signature: "<vm> in urn:hvxform:hvx:1", implemented: true },
];

pub const HVX_NS: &str = "urn:hvxform:hvx:1";
pub const VIM25_NS: &str = "urn:vim25";
pub const OVF1_NS: &str = "http://schemas.dmtf.org/ovf/envelope/1";
pub const OVF2_NS: &str = "http://schemas.dmtf.org/ovf/envelope/2";

/// Looks a platform up by name.
pub fn by_name(name: &str) -> Result<&'static Platform, String> {
    PLATFORMS.iter().find(|p| p.name == name).ok_or_else(|| {
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
    let root = doc.root_element();
    let tn = root.tag_name();
    let (local, ns) = (tn.name(), tn.namespace());
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
        ("vm", Some(HVX_NS)) => "hvx",
        _ => {
            let seen = match ns {
                Some(u) => format!("root element <{local}> in namespace `{u}`"),
                None => format!("root element <{local}> without a namespace"),
            };
            let tried: Vec<String> = PLATFORMS
                .iter()
                .filter(|p| p.implemented)
                .map(|p| format!("{} ({})", p.name, p.signature))
                .collect();
            return Err(format!(
                "cannot tell the platform: saw {seen}; tried {}; use --from to say which it is",
                tried.join("; ")
            ));
        }
    };
    let why = match ns {
        Some(u) => format!("root element <{local}> in namespace {u}"),
        None => format!("root element <{local}> without a namespace"),
    };
    Ok((by_name(p).expect("registered"), why))
}
