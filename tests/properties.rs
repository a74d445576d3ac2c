//! Generated round-trip properties (proptest), over thousands of generated
//! VMs when run with HVX_PROP_CASES=N (CI runs a bounded number):
//!
//! - libvirt → hvx → libvirt gives the same domain (every element and
//!   attribute, children in any order);
//! - for every platform P hvxform writes, hvx → P → hvx keeps the VM's
//!   identity, CPUs, memory, disks and NICs where P can hold them, and when
//!   a fact does not come back, the first conversion's report (warnings,
//!   drops, unmapped nodes) names it.
//!
//! Shrunk counterexamples become fixtures under tests/properties/.
//! book: Limits and robustness.

use hvxform::engine::{Convert, Findings, Mappings};
use hvxform::exec::RunOptions;
use hvxform::platform;
use hvxform::session::MemoryStore;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn mappings() -> &'static Mappings {
    static M: OnceLock<Mappings> = OnceLock::new();
    M.get_or_init(|| Mappings::new(None))
}

fn cases() -> u32 {
    std::env::var("HVX_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 48 } else { 256 })
}

/// Converts `text` to `to` with `store`; the main document and the findings.
fn convert(
    store: &MemoryStore,
    text: &str,
    from: &str,
    to: &str,
) -> Result<(String, Findings), String> {
    let conv = Convert {
        mappings: mappings(),
        params: Vec::new(),
        sessions: store,
        run: RunOptions {
            detail: true,
            ..Default::default()
        },
    };
    let from = platform::by_name(from).unwrap();
    let to = platform::by_name(to).unwrap();
    let (docs, f) = conv
        .convert("generated", text, Some(from), &[to])
        .map_err(|e| e.to_string())?;
    // The target's document (a VM's readers name it after the VM).
    let main = docs.into_iter().find(|d| !d.json).map(|d| d.xml);
    main.map(|m| (m, f)).ok_or_else(|| "no document".into())
}

// ---- generated libvirt domains ---------------------------------------------

#[derive(Debug, Clone)]
struct Disk {
    cdrom: bool,
    bus: &'static str,
    format: &'static str,
}

#[derive(Debug, Clone)]
struct Nic {
    model: &'static str,
    bridge: bool,
}

#[derive(Debug, Clone)]
struct Vm {
    name: String,
    uuid: [u8; 16],
    vcpus: u32,
    mib: u64,
    uefi: bool,
    q35: bool,
    /// Secure Boot and a TPM (UEFI guests only).
    secure: bool,
    tpm: bool,
    /// Sockets and threads per core; cores follow from the vCPU count.
    topology: Option<(u32, u32)>,
    disks: Vec<Disk>,
    nics: Vec<Nic>,
}

fn disk() -> impl Strategy<Value = Disk> {
    (
        any::<bool>(),
        prop::sample::select(vec!["virtio", "sata", "scsi", "ide"]),
        prop::sample::select(vec!["qcow2", "raw"]),
    )
        .prop_map(|(cdrom, bus, format)| Disk {
            // CD-ROMs are on SATA or IDE, as libvirt has them.
            cdrom: cdrom && (bus == "sata" || bus == "ide"),
            bus,
            format,
        })
}

fn vm() -> impl Strategy<Value = Vm> {
    (
        "[a-z][a-z0-9-]{0,14}",
        any::<[u8; 16]>(),
        1u32..=32,
        prop::sample::select(vec![
            512u64, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 16384,
        ]),
        any::<bool>(),
        any::<bool>(),
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::of((1u32..=2, 1u32..=2)),
        ),
        prop::collection::vec(disk(), 1..4),
        prop::collection::vec(
            (
                prop::sample::select(vec!["virtio", "e1000", "e1000e", "rtl8139"]),
                any::<bool>(),
            )
                .prop_map(|(model, bridge)| Nic { model, bridge }),
            0..3,
        ),
    )
        .prop_map(
            |(name, uuid, vcpus, mib, uefi, q35, (secure, tpm, topo), disks, nics)| {
                // A topology must multiply to the vCPU count.
                let topology = topo.filter(|(s, t)| vcpus % (s * t) == 0);
                Vm {
                    name,
                    uuid,
                    vcpus,
                    mib,
                    uefi,
                    q35: q35 || uefi,
                    secure: secure && uefi,
                    tpm: tpm && uefi,
                    topology,
                    disks,
                    nics,
                }
            },
        )
}

fn uuid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The VM as libvirt writes a domain.
fn libvirt(vm: &Vm) -> String {
    let mut x = String::new();
    x.push_str("<domain type=\"kvm\">\n");
    x.push_str(&format!(
        "  <name>{}</name>\n  <uuid>{}</uuid>\n",
        vm.name,
        uuid(&vm.uuid)
    ));
    x.push_str(&format!(
        "  <memory unit=\"KiB\">{}</memory>\n  <vcpu placement=\"static\">{}</vcpu>\n",
        vm.mib * 1024,
        vm.vcpus
    ));
    let machine = if vm.q35 {
        "pc-q35-7.2"
    } else {
        "pc-i440fx-7.2"
    };
    if vm.uefi && vm.secure {
        x.push_str(&format!("  <os firmware=\"efi\">\n    <type arch=\"x86_64\" machine=\"{machine}\">hvm</type>\n    <loader secure=\"yes\"/>\n  </os>\n  <features>\n    <acpi/>\n    <apic/>\n    <smm state=\"on\"/>\n  </features>\n"));
    } else if vm.uefi {
        x.push_str(&format!("  <os firmware=\"efi\">\n    <type arch=\"x86_64\" machine=\"{machine}\">hvm</type>\n  </os>\n"));
    } else {
        x.push_str(&format!(
            "  <os>\n    <type arch=\"x86_64\" machine=\"{machine}\">hvm</type>\n  </os>\n"
        ));
    }
    if let Some((sockets, threads)) = vm.topology {
        let cores = vm.vcpus / (sockets * threads);
        x.push_str(&format!("  <cpu mode=\"host-model\">\n    <topology sockets=\"{sockets}\" dies=\"1\" cores=\"{cores}\" threads=\"{threads}\"/>\n  </cpu>\n"));
    }
    x.push_str("  <devices>\n");
    let mut used: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, d) in vm.disks.iter().enumerate() {
        let prefix = match d.bus {
            "virtio" => "vd",
            "ide" => "hd",
            _ => "sd",
        };
        let n = used.entry(prefix).or_insert(0);
        let dev = format!("{prefix}{}", (b'a' + *n as u8) as char);
        *n += 1;
        let (device, ext, fmt) = if d.cdrom {
            ("cdrom", "iso", "raw")
        } else {
            ("disk", d.format, d.format)
        };
        x.push_str(&format!(
            "    <disk type=\"file\" device=\"{device}\">\n      <driver name=\"qemu\" type=\"{fmt}\"/>\n      <source file=\"/var/lib/libvirt/images/{}-{i}.{ext}\"/>\n      <target dev=\"{dev}\" bus=\"{}\"/>\n    </disk>\n",
            vm.name, d.bus
        ));
    }
    for (i, n) in vm.nics.iter().enumerate() {
        let source = if n.bridge {
            "<source bridge=\"br0\"/>".to_string()
        } else {
            format!("<source network=\"net{i}\"/>")
        };
        let kind = if n.bridge { "bridge" } else { "network" };
        x.push_str(&format!(
            "    <interface type=\"{kind}\">\n      <mac address=\"52:54:00:{:02x}:{:02x}:{:02x}\"/>\n      {source}\n      <model type=\"{}\"/>\n    </interface>\n",
            vm.uuid[0], vm.uuid[1], i, n.model
        ));
    }
    if vm.tpm {
        x.push_str("    <tpm model=\"tpm-crb\">\n      <backend type=\"emulator\" version=\"2.0\"/>\n    </tpm>\n");
    }
    x.push_str("  </devices>\n</domain>\n");
    x
}

// ---- comparing documents -----------------------------------------------------

/// An element as a sorted tree: its name, attributes, text and children,
/// children in any order (what libvirt itself does not care about either).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Norm(String, Vec<(String, String)>, String, Vec<Norm>);

fn norm(n: roxmltree::Node) -> Norm {
    let mut attrs: Vec<(String, String)> = n
        .attributes()
        .map(|a| (a.name().to_string(), a.value().to_string()))
        .collect();
    attrs.sort();
    let text: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_string();
    let mut kids: Vec<Norm> = n.children().filter(|c| c.is_element()).map(norm).collect();
    kids.sort();
    Norm(n.tag_name().name().to_string(), attrs, text, kids)
}

fn same_document(a: &str, b: &str) -> bool {
    let (a, b) = (
        roxmltree::Document::parse(a).unwrap(),
        roxmltree::Document::parse(b).unwrap(),
    );
    norm(a.root_element()) == norm(b.root_element())
}

// ---- facts of a hub document -------------------------------------------------

/// The facts every platform is asked to keep, by name: the VM's name and
/// UUID, its CPU count and topology, memory, firmware and Secure Boot, TPM,
/// each disk's device and source path, each NIC's MAC.
fn facts(hub: &str) -> BTreeMap<String, String> {
    let doc = roxmltree::Document::parse(hub).unwrap();
    let vm = doc.root_element();
    let mut f = BTreeMap::new();
    for t in ["name", "uuid"] {
        if let Some(c) = child(vm, t) {
            f.insert(t.to_string(), c.text().unwrap_or("").to_string());
        }
    }
    if let Some(c) = child(vm, "cpu") {
        f.insert("cpu".into(), c.attribute("count").unwrap_or("").into());
    }
    if let Some(c) = child(vm, "firmware") {
        f.insert(
            "firmware".into(),
            format!(
                "{} {}",
                c.attribute("type").unwrap_or(""),
                c.attribute("secure_boot").unwrap_or("")
            ),
        );
    }
    f.insert("tpm".into(), child(vm, "tpm").is_some().to_string());
    if let Some(t) = child(vm, "cpu").and_then(|c| child(c, "topology")) {
        f.insert(
            "cpu topology".into(),
            format!(
                "{:?}",
                t.attributes()
                    .map(|a| a.value().to_string())
                    .collect::<Vec<_>>()
            ),
        );
    }
    if let Some(c) = child(vm, "memory") {
        f.insert("memory".into(), c.attribute("bytes").unwrap_or("").into());
    }
    // Disks and NICs are known by their source path and MAC (a platform
    // may reorder them).
    for d in vm
        .children()
        .filter(|c| c.has_tag_name(("urn:hvxform:hvx:1", "disk")))
    {
        let src = child(d, "source")
            .and_then(|s| s.attribute("path"))
            .unwrap_or("");
        f.insert(
            format!("disk {src}"),
            d.attribute("device").unwrap_or("").to_string(),
        );
    }
    for n in vm
        .children()
        .filter(|c| c.has_tag_name(("urn:hvxform:hvx:1", "nic")))
    {
        f.insert(
            format!("nic {}", n.attribute("mac").unwrap_or("")),
            "present".into(),
        );
    }
    f
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, t: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.has_tag_name(("urn:hvxform:hvx:1", t)))
}

/// Whether a conversion's report speaks of a fact: a warning, drop or
/// unmapped node that names it. A disk is named by its source path, a NIC
/// by its MAC; the VM-wide facts by their subject (`memory`, `TPM`, ...).
fn reported(f: &Findings, fact: &str) -> bool {
    let words: Vec<&str> = match fact {
        "memory" => vec!["memory"],
        "cpu" | "cpu topology" => vec!["cpu", "CPU", "topology"],
        "firmware" => vec!["firmware", "UEFI", "BIOS", "Secure Boot"],
        "tpm" => vec!["tpm", "TPM"],
        // `disk PATH`, `nic MAC`: the path or the MAC.
        other => match other.split_once(' ') {
            Some(("disk" | "nic", id)) => vec![id],
            _ => vec![other],
        },
    };
    let says = |s: &str| words.iter().any(|w| !w.is_empty() && s.contains(w));
    f.warnings.iter().any(|(_, w)| says(&w.message))
        || f.dropped
            .iter()
            .any(|(_, d)| says(&d.path) || says(&d.reason))
        || f.unmapped.iter().any(|(_, u)| says(&u.path))
}

/// Whether the second value is the first rounded up to the platform's step
/// (memory on vSphere is in 4 MiB, on Hyper-V in 2 MiB; EC2 gives the
/// instance type's memory).
fn rounded_up(a: &str, b: &str) -> bool {
    matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if b >= a)
}

fn check_through(vm: &Vm, p: &str) -> Result<(), TestCaseError> {
    // EC2 refuses, with an error that says so, a VM without a disk to boot
    // from (an instance boots from an EBS root volume).
    if p == "ec2" {
        prop_assume!(vm.disks.iter().any(|d| !d.cdrom));
    }
    let store = MemoryStore::default();
    let (hub, _) = convert(&store, &libvirt(vm), "kvm", "hvx").map_err(TestCaseError::fail)?;
    let (native, there) = convert(&store, &hub, "hvx", p)
        .map_err(|e| TestCaseError::fail(format!("hvx → {p}: {e}\n{hub}")))?;
    let (back, _) = convert(&store, &native, p, "hvx")
        .map_err(|e| TestCaseError::fail(format!("{p} → hvx: {e}\n{native}")))?;
    let (want, got) = (facts(&hub), facts(&back));
    for (k, v) in &want {
        let g = got.get(k).map(String::as_str).unwrap_or("(missing)");
        if g == v {
            continue;
        }
        if k == "memory" && rounded_up(v, g) && reported(&there, k) {
            continue;
        }
        prop_assert!(
            reported(&there, k),
            "hvx → {p} → hvx: {k} was `{v}`, came back `{g}`, and the report does not say so\n--- hub\n{hub}\n--- {p}\n{native}\n--- back\n{back}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/properties/regressions.txt"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn libvirt_through_the_hub_is_identical(vm in vm()) {
        let store = MemoryStore::default();
        let x = libvirt(&vm);
        let (hub, _) = convert(&store, &x, "kvm", "hvx").map_err(TestCaseError::fail)?;
        let (back, f) = convert(&store, &hub, "hvx", "kvm").map_err(TestCaseError::fail)?;
        prop_assert!(same_document(&x, &back), "--- domain\n{x}\n--- back\n{back}");
        prop_assert_eq!(f.unmapped_count, 0, "kvm → hvx → kvm left hub nodes unmapped");
    }

    #[test]
    fn through_xen_and_back(vm in vm()) { check_through(&vm, "xen")?; }
    #[test]
    fn through_vmware_and_back(vm in vm()) { check_through(&vm, "vmware")?; }
    #[test]
    fn through_vsphere_and_back(vm in vm()) { check_through(&vm, "vsphere")?; }
    #[test]
    fn through_hyperv_and_back(vm in vm()) { check_through(&vm, "hyperv")?; }
    #[test]
    fn through_ec2_and_back(vm in vm()) { check_through(&vm, "ec2")?; }
    #[test]
    fn through_ovf_and_back(vm in vm()) { check_through(&vm, "ovf")?; }
}
