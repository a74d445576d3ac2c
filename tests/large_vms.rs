//! VMs larger than the samples: many disks on several buses, many NICs.
//! Every target either places each device where the platform can hold it
//! (distinct slots, on adapters that exist) or refuses the VM with a located
//! reason naming the device and writes nothing; kvm → P → kvm gives every
//! disk and NIC back, and libvirt (`virsh define`, when installed) accepts
//! what comes back.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hvxform::platform::vmx;

/// `transform INPUT --to TARGET -o DIR -q`: its exit code and stderr.
fn convert(input: &Path, target: &str, dir: &Path) -> (Option<i32>, String) {
    convert_with(input, target, dir, &[])
}

/// [`convert`] with more arguments (`--via-hub`).
fn convert_with(input: &Path, target: &str, dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    transform_into(input, target, dir, &[&["-q"], extra].concat())
}

/// The one output file of `dir` whose name ends with `ext`.
fn output(dir: &Path, ext: &str) -> std::path::PathBuf {
    let found: Vec<_> = file_names(dir)
        .into_iter()
        .filter(|n| n.ends_with(ext))
        .collect();
    assert_eq!(found.len(), 1, "{}: {found:?}", dir.display());
    dir.join(&found[0])
}

/// The disk images (source files) and MACs of a libvirt domain, sorted.
fn disks_and_macs(xml: &str) -> (Vec<String>, Vec<String>) {
    let d = roxmltree::Document::parse(xml).unwrap();
    let attr = |tag: &str, name: &str| {
        let mut v: Vec<String> = d
            .descendants()
            .filter(|n| n.has_tag_name(tag))
            .filter_map(|n| n.attribute(name).map(str::to_string))
            .collect();
        v.sort();
        v
    };
    (attr("source", "file"), attr("mac", "address"))
}

/// The .vmx drives: (adapter, unit) → file name, from `scsiA:U.fileName`
/// keys of drives that are present; and the adapters declared present.
fn vmx_scsi(text: &str) -> (BTreeMap<(u32, u32), String>, BTreeSet<u32>) {
    let keys: BTreeMap<String, String> = vmx::lex(text)
        .unwrap()
        .into_iter()
        .map(|e| (e.key.to_ascii_lowercase(), e.value))
        .collect();
    let mut drives = BTreeMap::new();
    let mut adapters = BTreeSet::new();
    for (k, v) in &keys {
        let Some(rest) = k.strip_prefix("scsi") else {
            continue;
        };
        if let Some(a) = rest.strip_suffix(".present") {
            if let Ok(a) = a.parse::<u32>() {
                if v.eq_ignore_ascii_case("true") {
                    adapters.insert(a);
                }
            }
        } else if let Some(slot) = rest.strip_suffix(".filename") {
            let (a, u) = slot.split_once(':').unwrap();
            let present = keys.get(&format!("scsi{slot}.present"));
            assert!(
                present.is_some_and(|p| p.eq_ignore_ascii_case("true")),
                "scsi{slot}: a file name without present = TRUE"
            );
            let old = drives.insert((a.parse().unwrap(), u.parse().unwrap()), v.clone());
            assert!(old.is_none(), "scsi{slot} written twice");
        }
    }
    (drives, adapters)
}

/// virtio disks after SCSI disks that spill onto a second adapter (`sdp`
/// is unit 15, past the first adapter's 15): each drive gets its own slot,
/// virtio ones on pvscsi adapters after those the SCSI disks use, 15 to an
/// adapter, unit 7 (the adapter's own) never used.
#[test]
fn many_disks_to_vmware_get_distinct_slots_on_adapters_that_exist() {
    let dir = temp_dir("large-vmware");
    let input = dir.join("large.xml");
    let scsi = ["sda", "sdb", "sdc", "sdp", "sdq"];
    std::fs::write(&input, large_domain(20, &scsi, 0, 1)).unwrap();
    let out = dir.join("out");
    let (code, err) = convert(&input, "vmware", &out);
    assert_eq!(code, Some(0), "{err}");
    let vmx_file = output(&out, ".vmx");
    let (drives, adapters) = vmx_scsi(&std::fs::read_to_string(&vmx_file).unwrap());
    assert_eq!(drives.len(), 25, "{drives:?}");
    for ((a, u), file) in &drives {
        assert!(*a <= 3, "{file}: adapter {a}: a .vmx has scsi0 to scsi3");
        assert!(*u <= 15 && *u != 7, "{file}: unit {u}");
        assert!(
            adapters.contains(a),
            "{file}: adapter scsi{a} is not present"
        );
    }
    // The SCSI disks keep their adapters (sdp, sdq: the second one); the
    // virtio disks come after them, 15 to an adapter.
    let on = |file: &str| {
        *drives
            .iter()
            .find(|(_, f)| f.as_str() == format!("{file}.vmdk"))
            .unwrap_or_else(|| panic!("{file} not written: {drives:?}"))
            .0
    };
    assert_eq!(on("scsi-sda"), (0, 0));
    assert_eq!(on("scsi-sdp"), (1, 0));
    assert_eq!(on("virtio0"), (2, 0));
    assert_eq!(on("virtio7"), (2, 8));
    assert_eq!(on("virtio14"), (2, 15));
    assert_eq!(on("virtio15"), (3, 0));
    assert_eq!(on("virtio19"), (3, 4));

    // And back: every disk, through libvirt.
    let back = dir.join("back");
    let (code, err) = convert(&vmx_file, "kvm", &back);
    assert_eq!(code, Some(0), "{err}");
    let kvm = output(&back, ".xml");
    let text = std::fs::read_to_string(&kvm).unwrap();
    assert_eq!(
        disks_and_macs(&text),
        disks_and_macs(&std::fs::read_to_string(&input).unwrap())
    );
    if tool("virsh").is_some() {
        virsh_dump(&kvm, "large");
    }
}

/// More drives than a .vmx's four SCSI adapters hold: refused, naming the
/// first drive that does not fit and where it is in the input; nothing
/// written.
#[test]
fn more_disks_than_vmware_adapters_hold_are_refused_with_the_disk_named() {
    let dir = temp_dir("large-vmware-refused");
    let input = dir.join("large.xml");
    std::fs::write(&input, large_domain(61, &[], 0, 1)).unwrap();
    let out = dir.join("out");
    let (code, err) = convert(&input, "vmware", &out);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("virtio60.qcow2: SCSI adapter 4: a .vmx has four SCSI adapters"),
        "{err}"
    );
    assert!(err.contains("large.xml"), "{err}");
    assert!(err.contains("at input "), "{err}");
    assert!(
        !out.exists() || file_names(&out).is_empty(),
        "{:?}",
        file_names(&out)
    );
    // A SCSI controller far past scsi3: the virtio disk has no adapter left.
    let far = large_domain(1, &[], 0, 1).replace(
        "<devices>\n",
        "<devices>\n    <controller type='scsi' index='100000'/>\n",
    );
    std::fs::write(&input, far).unwrap();
    let (code, err) = convert(&input, "vmware", &out);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("virtio0.qcow2: SCSI adapter 4: a .vmx has four SCSI adapters"),
        "{err}"
    );
}

/// A VM with 16 disks on three buses and 8 NICs goes to every platform and
/// back to KVM with every disk image and MAC.
#[test]
fn a_large_vm_goes_to_every_platform_and_back() {
    let dir = temp_dir("large-round-trips");
    let input = dir.join("large.xml");
    let scsi = ["sda", "sdb", "sdc", "sdd", "sde", "sdf"];
    let text = large_domain(6, &scsi, 4, 8);
    std::fs::write(&input, &text).unwrap();
    let want = disks_and_macs(&text);
    assert_eq!((want.0.len(), want.1.len()), (16, 8));
    for target in ["vmware", "xen", "vsphere", "ovf", "hyperv", "ec2"] {
        let out = dir.join(target);
        let (code, err) = convert(&input, target, &out);
        assert_eq!(code, Some(0), "kvm → {target}: {err}");
        // The VM's own document (EC2 and OVF write others beside it).
        let ext = match target {
            "vmware" => ".vmx",
            "xen" => ".cfg",
            "ovf" => ".ovf",
            _ => &format!(".{target}.xml"),
        };
        let doc = output(&out, ext);
        let back = dir.join(format!("{target}-back"));
        let (code, err) = convert(&doc, "kvm", &back);
        assert_eq!(code, Some(0), "{target} → kvm: {err}");
        let kvm = output(&back, ".xml");
        let got = std::fs::read_to_string(&kvm).unwrap();
        assert_eq!(disks_and_macs(&got), want, "kvm → {target} → kvm");
        if tool("virsh").is_some() {
            virsh_dump(&kvm, "large");
        }
    }
}

/// NICs past what a platform attaches: VMware and vSphere 10, Hyper-V 4
/// legacy (Generation 1, emulated models) and 64 synthetic. Refused at the
/// first one past the limit, named by its MAC; one NIC fewer converts.
#[test]
fn nics_past_a_platforms_limit_are_refused_at_the_first_one() {
    let dir = temp_dir("large-nics");
    let input = dir.join("large.xml");
    let e1000 = |xml: String| xml.replace("<model type='virtio'/>", "<model type='e1000'/>");
    let cases: [(&str, String, String, &str); 4] = [
        (
            "vmware",
            large_domain(1, &[], 0, 10),
            large_domain(1, &[], 0, 11),
            "nic 52:54:00:00:01:0a: network adapter 11: VMware (ethernet0 to ethernet9) attaches at most 10",
        ),
        (
            "vsphere",
            large_domain(1, &[], 0, 10),
            large_domain(1, &[], 0, 11),
            "nic 52:54:00:00:01:0a: network adapter 11: a vSphere VM attaches at most 10",
        ),
        (
            "hyperv",
            e1000(large_domain(1, &[], 0, 4)),
            e1000(large_domain(1, &[], 0, 5)),
            "nic 52:54:00:00:01:04: network adapter 5: Hyper-V (legacy adapters, Generation 1) attaches at most 4",
        ),
        (
            "hyperv",
            large_domain(1, &[], 0, 64),
            large_domain(1, &[], 0, 65),
            "nic 52:54:00:00:01:40: network adapter 65: Hyper-V (synthetic adapters, Windows Server 2019 and later) attaches at most 64",
        ),
    ];
    for (target, fits, over, said) in cases {
        let out = dir.join(format!("{target}-fits"));
        std::fs::write(&input, fits).unwrap();
        let (code, err) = convert(&input, target, &out);
        assert_eq!(code, Some(0), "{target}: {err}");
        let out = dir.join(format!("{target}-over"));
        std::fs::write(&input, over).unwrap();
        let (code, err) = convert(&input, target, &out);
        assert_eq!(code, Some(1), "{target}: {err}");
        assert!(err.contains(said), "{target}: {err}");
        assert!(err.contains("at input "), "{err}");
        assert!(!out.exists() || file_names(&out).is_empty(), "{target}");
    }
    // Through the hub (hvx-to-vsphere, not the direct kvm-to-vsphere),
    // vSphere says the same.
    std::fs::write(&input, large_domain(1, &[], 0, 11)).unwrap();
    let out = dir.join("via-hub");
    let (code, err) = convert_with(&input, "vsphere", &out, &["--via-hub"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("nic 52:54:00:00:01:0a: network adapter 11: a vSphere VM attaches at most 10"),
        "{err}"
    );
}

/// vSphere: SCSI disks of a domain that declares no SCSI controller get a
/// PVSCSI controller for each index they name (libvirt adds them when it
/// defines the domain; a ConfigSpec must); a drive past its controller's
/// last unit (PVSCSI 64, AHCI 29) is refused, by both routes.
#[test]
fn vsphere_declares_the_scsi_controllers_its_disks_use_and_refuses_units_past_the_last() {
    let dir = temp_dir("large-vsphere");
    let input = dir.join("large.xml");
    // sda on controller 0, sdb on controller 2 (an explicit address).
    let two = large_domain(0, &["sda", "sdb"], 0, 1).replace(
        "<target dev='sdb' bus='scsi'/>",
        "<target dev='sdb' bus='scsi'/>\n      <address type='drive' controller='2' bus='0' target='0' unit='0'/>",
    );
    std::fs::write(&input, two).unwrap();
    for via in [None, Some("--via-hub")] {
        let out = dir.join(format!("two{}", via.unwrap_or("")));
        let (code, err) = convert_with(&input, "vsphere", &out, via.as_slice());
        assert_eq!(code, Some(0), "{err}");
        let xml = std::fs::read_to_string(output(&out, ".xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let text = |n: roxmltree::Node, tag: &str| {
            n.children()
                .find(|c| c.has_tag_name(tag))
                .and_then(|c| c.text())
                .map(str::to_string)
        };
        let devices: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("device"))
            .collect();
        let controllers: BTreeSet<String> = devices
            .iter()
            .filter(|d| {
                d.attributes()
                    .any(|a| a.value() == "ParaVirtualSCSIController")
            })
            .filter_map(|d| text(*d, "key"))
            .collect();
        let disk_keys: BTreeSet<String> = devices
            .iter()
            .filter(|d| d.attributes().any(|a| a.value() == "VirtualDisk"))
            .filter_map(|d| text(*d, "controllerKey"))
            .collect();
        assert_eq!(
            controllers,
            BTreeSet::from(["-100".to_string(), "-102".to_string()]),
            "{via:?}"
        );
        assert_eq!(disk_keys, controllers, "{via:?}");
    }
    let cases = [
        (large_domain(64, &[], 0, 1), None),
        (
            large_domain(65, &[], 0, 1),
            Some("virtio64.qcow2: unit 65 on its PVSCSI controller: vSphere numbers that controller's drives 0 to 64"),
        ),
        (large_domain(0, &[], 30, 1), None),
        (
            large_domain(0, &[], 31, 1),
            Some("sata30.qcow2: unit 30 on its SATA controller: vSphere numbers that controller's drives 0 to 29"),
        ),
    ];
    for (i, (xml, refused)) in cases.into_iter().enumerate() {
        std::fs::write(&input, xml).unwrap();
        for via in [None, Some("--via-hub")] {
            let out = dir.join(format!("case{i}{}", via.unwrap_or("")));
            let (code, err) = convert_with(&input, "vsphere", &out, via.as_slice());
            match refused {
                None => assert_eq!(code, Some(0), "{err}"),
                Some(said) => {
                    assert_eq!(code, Some(1), "{err}");
                    assert!(err.contains(said), "{via:?}: {err}");
                    assert!(!out.exists() || file_names(&out).is_empty());
                }
            }
        }
    }
}

/// Without carried data (`--no-carry`), a VM comes back from each platform
/// with targets hvx-to-kvm names itself: past 26 disks on one prefix those
/// are two letters (sdaa, vdab), every one distinct, as libvirt requires.
#[test]
fn without_carried_data_a_large_vm_comes_back_with_distinct_targets() {
    let dir = temp_dir("large-no-carry");
    let input = dir.join("large.xml");
    let scsi = sd_names(30);
    let scsi: Vec<&str> = scsi.iter().map(String::as_str).collect();
    for (targets, xml) in [
        (
            // 64 disks: Hyper-V puts the first on IDE, 63 on SCSI.
            &["vmware", "xen", "ovf", "hyperv"][..],
            large_domain(28, &scsi, 6, 4),
        ),
        // vSphere numbers SATA units 0 to 29: six SATA disks after 20 SCSI.
        (&["vsphere"][..], large_domain(30, &scsi[..20], 6, 4)),
    ] {
        std::fs::write(&input, &xml).unwrap();
        let want = disks_and_macs(&xml);
        for target in targets {
            let out = dir.join(target);
            let (code, err) = convert_with(&input, target, &out, &["--no-carry"]);
            assert_eq!(code, Some(0), "kvm → {target}: {err}");
            let doc = dir.join(target).join(&file_names(&out)[0]);
            let back = dir.join(format!("{target}-back"));
            let (code, err) = convert_with(&doc, "kvm", &back, &["--no-carry"]);
            assert_eq!(code, Some(0), "{target} → kvm: {err}");
            let kvm = output(&back, ".xml");
            let got = std::fs::read_to_string(&kvm).unwrap();
            // Images come back as the platform names them (.vmdk, .vhdx):
            // count them; targets must be distinct.
            let (disks, macs) = disks_and_macs(&got);
            assert_eq!(
                (disks.len(), macs),
                (want.0.len(), want.1.clone()),
                "{target}"
            );
            let d = roxmltree::Document::parse(&got).unwrap();
            let names: Vec<&str> = d
                .descendants()
                .filter(|n| {
                    n.has_tag_name("target") && n.parent().is_some_and(|p| p.has_tag_name("disk"))
                })
                .filter_map(|n| n.attribute("dev"))
                .collect();
            let distinct: BTreeSet<&str> = names.iter().copied().collect();
            assert_eq!(distinct.len(), names.len(), "{target}: {names:?}");
            assert!(names.iter().any(|n| n.len() == 4), "{target}: {names:?}");
            if tool("virsh").is_some() {
                virsh_dump(&kvm, "large");
            }
        }
    }
}

/// (image, target, bus) of each disk of a domain, in order.
fn disk_list(xml: &str) -> Vec<(String, String, String)> {
    let d = roxmltree::Document::parse(xml).unwrap();
    d.descendants()
        .filter(|n| n.has_tag_name("disk"))
        .map(|n| {
            let get = |tag: &str, a: &str| {
                child(n, tag)
                    .and_then(|c| c.attribute(a))
                    .unwrap_or("")
                    .to_string()
            };
            (
                get("source", "file"),
                get("target", "dev"),
                get("target", "bus"),
            )
        })
        .collect()
}

/// The drives of a Hyper-V DefineSystem request: (ResourceType, InstanceID,
/// Parent's InstanceID, AddressOnParent) of each embedded instance.
fn hyperv_layout(request: &str) -> Vec<(u16, String, String, String)> {
    let doc = roxmltree::Document::parse(request).unwrap();
    let mut out = Vec::new();
    for v in doc.descendants().filter(|n| {
        n.has_tag_name("VALUE")
            && n.ancestors()
                .any(|a| a.attribute("NAME") == Some("ResourceSettings"))
    }) {
        let inst = roxmltree::Document::parse(v.text().unwrap_or("")).unwrap();
        let prop = |name: &str| {
            inst.descendants()
                .find(|p| p.attribute("NAME") == Some(name))
                .and_then(|p| p.descendants().find(|x| x.has_tag_name("VALUE")))
                .and_then(|x| x.text())
                .unwrap_or("")
                .to_string()
        };
        let parent = prop("Parent");
        let parent = parent
            .split_once("InstanceID=\"")
            .map(|(_, id)| id.trim_end_matches('"').replace("\\\\", "\\"))
            .unwrap_or_default();
        out.push((
            prop("ResourceType").parse().unwrap_or(0),
            prop("InstanceID"),
            parent,
            prop("AddressOnParent"),
        ));
    }
    out
}

/// Hyper-V attaches 4 SCSI controllers of 64 drives: 200 disks (Gen 1, the
/// boot disk on IDE) and 256 (Gen 2) fill them in order, each drive at a
/// location of its own, and pywbem takes the requests; the VM comes back to
/// KVM with every disk, in its order, with its name and bus, carried or not.
#[test]
fn hyperv_spreads_drives_over_four_scsi_controllers() {
    let dir = temp_dir("large-hyperv-scsi");
    let mut outputs = Vec::new();
    for (disks, uefi, scsi_drives) in [(200, false, 199usize), (256, true, 256), (65, false, 64)] {
        let mut xml = large_domain(disks, &[], 0, 1);
        if uefi {
            xml = xml.replace("<os>", "<os firmware='efi'>");
        }
        let input = dir.join(format!("d{disks}.xml"));
        std::fs::write(&input, &xml).unwrap();
        let out = dir.join(format!("d{disks}"));
        let (code, err) = convert(&input, "hyperv", &out);
        assert_eq!(code, Some(0), "{err}");
        let request = output(&out, ".hyperv.xml");
        let layout = hyperv_layout(&std::fs::read_to_string(&request).unwrap());
        outputs.push(request.clone());
        let controllers: Vec<&String> = layout
            .iter()
            .filter(|(t, ..)| *t == 6)
            .map(|(_, id, ..)| id)
            .collect();
        let want_ctl = scsi_drives.div_ceil(64);
        assert_eq!(controllers.len(), want_ctl, "{disks} disks");
        // (Processor and memory leave their InstanceIDs to Hyper-V.)
        let given: Vec<&String> = layout
            .iter()
            .map(|(_, id, ..)| id)
            .filter(|id| !id.is_empty())
            .collect();
        let ids: BTreeSet<&String> = given.iter().copied().collect();
        assert_eq!(ids.len(), given.len(), "{disks} disks: an InstanceID twice");
        assert!(given.len() > 2 * disks, "{disks} disks: {}", given.len());
        // Per controller: locations 0, 1, 2, ... in the drives' order.
        let mut on: BTreeMap<&String, Vec<u32>> = BTreeMap::new();
        for (t, _, parent, at) in &layout {
            if *t == 17 && controllers.contains(&parent) {
                on.entry(parent).or_default().push(at.parse().unwrap());
            }
        }
        let counts: Vec<usize> = controllers.iter().map(|c| on[c].len()).collect();
        let mut want = vec![64; scsi_drives / 64];
        if scsi_drives % 64 != 0 {
            want.push(scsi_drives % 64);
        }
        assert_eq!(counts, want, "{disks} disks");
        for locations in on.values() {
            assert_eq!(*locations, (0..locations.len() as u32).collect::<Vec<_>>());
        }
        for carry in [&[][..], &["--no-carry"][..]] {
            let back = dir.join(format!("d{disks}-back{}", carry.len()));
            let (code, err) = convert_with(&request, "kvm", &back, carry);
            assert_eq!(code, Some(0), "{err}");
            let got = std::fs::read_to_string(output(&back, ".xml")).unwrap();
            assert_eq!(disk_list(&got), disk_list(&xml), "{disks} disks {carry:?}");
        }
    }
    pywbem_accepts(&outputs);
}

/// A BIOS (Gen 1) domain of these devices, converted to Hyper-V with `-v`:
/// the domain, the output folder and what was said.
fn gen1_to_hyperv(dir: &Path, devices: &str) -> (String, std::path::PathBuf, String) {
    let xml = format!(
        "<domain type='kvm'><name>ide</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\n{devices}</devices></domain>"
    );
    let input = dir.join("ide.xml");
    std::fs::write(&input, &xml).unwrap();
    let out = dir.join("out");
    let (code, err) = transform_into(&input, "hyperv", &out, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    (xml, out, err)
}

/// A Gen 1 VM's IDE data disks go to SCSI (IDE holds the boot disk and the
/// DVD drives): each move is a warning naming the disk and its new place,
/// never silent (issue #14).
#[test]
fn hyperv_gen1_ide_data_disks_moved_to_scsi_are_warned() {
    let dir = temp_dir("hyperv-ide-data");
    let mut devices = String::new();
    for (i, dev) in ["hda", "hdb", "hdc"].iter().enumerate() {
        devices += &format!(
            "<disk type='file' device='disk'><source file='/images/d{i}.qcow2'/>\
             <target dev='{dev}' bus='ide'/></disk>\n"
        );
    }
    let (_, out, err) = gen1_to_hyperv(&dir, &devices);
    assert!(
        !err.contains("disk hda: IDE"),
        "the boot disk stays on IDE: {err}"
    );
    for (dev, at) in [("hdb", "SCSI 0:0"), ("hdc", "SCSI 0:1")] {
        assert!(
            err.contains(&format!("disk {dev}: IDE → {at}: a Gen 1 VM's IDE locations are for its boot disk and DVD drives")),
            "{dev}: {err}"
        );
    }
    pywbem_accepts(&[output(&out, ".hyperv.xml")]);
}

/// Gen 1 boots from IDE only: the boot disk takes IDE 0:0 even after four
/// DVD drives, which get the other three locations (the fourth is not
/// converted, with a warning), and the next disk SCSI 0:0. (The boot disk
/// went to SCSI 0:0 beside that disk before: two drives at one location.)
#[test]
fn hyperv_gen1_boots_from_ide_after_four_dvd_drives() {
    let dir = temp_dir("hyperv-ide-boot");
    let mut devices = String::new();
    for (i, dev) in ["hda", "hdb", "hdc", "hdd"].iter().enumerate() {
        devices += &format!(
            "<disk type='file' device='cdrom'><source file='/iso/{i}.iso'/>\
             <target dev='{dev}' bus='ide'/><readonly/></disk>\n"
        );
    }
    for (file, dev) in [("boot", "vda"), ("data", "vdb")] {
        devices += &format!(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
             <source file='/images/{file}.qcow2'/><target dev='{dev}' bus='virtio'/></disk>\n"
        );
    }
    let (xml, out, err) = gen1_to_hyperv(&dir, &devices);
    assert!(
        err.contains("cdrom hdd: a Gen 1 VM has DVD drives on IDE only, and its four IDE locations are taken; not converted"),
        "{err}"
    );
    let request = output(&out, ".hyperv.xml");
    let layout = hyperv_layout(&std::fs::read_to_string(&request).unwrap());
    // Each image's drive: (controller kind, location).
    let kind = |id: &str| {
        layout
            .iter()
            .find(|(_, i, ..)| i == id)
            .map(|(t, ..)| *t)
            .unwrap()
    };
    let mut places = Vec::new();
    for (t, _, parent, at) in &layout {
        if matches!(t, 16 | 17) {
            let ide = kind(parent) == 5;
            let ctl = parent.rsplit('\\').next().unwrap().to_string();
            places.push((
                if ide {
                    format!("IDE {ctl}")
                } else {
                    "SCSI".into()
                },
                at.clone(),
            ));
        }
    }
    let place = |p: &str, at: &str| (p.to_string(), at.to_string());
    assert_eq!(
        places,
        [
            place("IDE 0", "1"),
            place("IDE 1", "0"),
            place("IDE 1", "1"),
            place("IDE 0", "0"),
            place("SCSI", "0"),
        ],
        "hda, hdb, hdc, then vda (boot) and vdb"
    );
    pywbem_accepts(std::slice::from_ref(&request));
    let back = dir.join("back");
    let (code, err) = convert(&request, "kvm", &back);
    assert_eq!(code, Some(0), "{err}");
    let got = std::fs::read_to_string(output(&back, ".xml")).unwrap();
    assert_eq!(disk_list(&got), disk_list(&xml));
}

/// EC2 names 26 EBS devices (/dev/sda1, /dev/sdb to /dev/sdz): a VM of 26
/// disks goes there and comes back with each disk's image, target and bus,
/// carried or not; the 27th disk is refused, named, and nothing written.
#[test]
fn ec2_takes_26_disks_and_refuses_the_27th() {
    let dir = temp_dir("large-ec2-disks");
    let input = dir.join("d26.xml");
    let xml = large_domain(26, &[], 0, 1);
    std::fs::write(&input, &xml).unwrap();
    for carry in [&[][..], &["--no-carry"][..]] {
        let out = dir.join(format!("ec2{}", carry.len()));
        let (code, err) = convert_with(&input, "ec2", &out, carry);
        assert_eq!(code, Some(0), "{err}");
        let doc = output(&out, ".ec2.xml");
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(text.contains("<deviceName>/dev/sdz</deviceName>"), "{text}");
        let back = dir.join(format!("back{}", carry.len()));
        let (code, err) = convert_with(&doc, "kvm", &back, carry);
        assert_eq!(code, Some(0), "{err}");
        let got = std::fs::read_to_string(output(&back, ".xml")).unwrap();
        assert_eq!(disk_list(&got), disk_list(&xml), "{carry:?}");
    }
    std::fs::write(&input, large_domain(27, &[], 0, 1)).unwrap();
    let out = dir.join("refused");
    let (code, err) = convert(&input, "ec2", &out);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("virtio26.qcow2: disk 27: hvxform names EBS devices /dev/sda1 and /dev/sdb to /dev/sdz (26 at most)"),
        "{err}"
    );
    assert!(!out.exists() || file_names(&out).is_empty());
}

/// A hub of 250 SCSI disks that name no target (as a VM from vSphere,
/// OVF or Hyper-V has none), and one CD-ROM that keeps `sdd`: each disk gets
/// a distinct libvirt target after the kept one, and fast (the names are
/// counted, not searched for, so 250 disks are no deeper than one).
#[test]
fn targets_for_hundreds_of_disks_are_distinct_and_after_the_kept_ones() {
    let dir = temp_dir("large-targets");
    let disks: String = (0..250)
        .map(|i| {
            format!(
                "<disk device=\"disk\" bus=\"scsi\" controller=\"{}\" unit=\"{}\" format=\"raw\">\
                 <source type=\"file\" path=\"/images/d{i}.img\"/></disk>",
                i / 60,
                i % 60
            )
        })
        .collect();
    let hub = dir.join("many.hvx.xml");
    std::fs::write(
        &hub,
        format!(
            "<vm xmlns=\"urn:hvxform:hvx:1\"><name>many</name><cpu count=\"2\"/>\
             <memory bytes=\"2147483648\"/>{disks}\
             <disk device=\"cdrom\" bus=\"sata\" target=\"sdd\" readonly=\"true\"/></vm>"
        ),
    )
    .unwrap();
    let (code, err) = convert(&hub, "kvm", &dir.join("kvm"));
    assert_eq!(code, Some(0), "{err}");
    let xml = std::fs::read_to_string(output(&dir.join("kvm"), ".kvm.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let targets: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("target"))
        .filter_map(|n| n.attribute("dev"))
        .collect();
    assert_eq!(targets.len(), 251);
    let distinct: BTreeSet<&str> = targets.iter().copied().collect();
    assert_eq!(distinct.len(), 251, "{targets:?}");
    assert_eq!(targets[0], "sde", "{targets:?}");
    assert!(targets.contains(&"sdd"), "{targets:?}");
}
