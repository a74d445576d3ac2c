//! Hyper-V: round trips through the hub, KVM → Hyper-V → KVM through libvirt,
//! every Hyper-V output through pywbem's CIM-XML parser and a mock CIM server
//! with the Msvm classes, and bad input.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hvxform::platform::hyperv;

/// An instance's properties: name → (type, array, values), without WMI's
/// system properties (`__PATH`, …), which describe where it was read.
type Props = BTreeMap<String, (String, bool, Vec<String>)>;

/// The instances of a Hyper-V document, keyed by class and InstanceID (or
/// the place among instances of the class without one).
fn instances(file: &Path) -> BTreeMap<(String, String), Props> {
    let text = hvxform::platform::input::read_text(file).unwrap();
    let canonical = hyperv::read(&file.display().to_string(), &text).unwrap();
    let doc = roxmltree::Document::parse(&canonical).unwrap();
    let mut out = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    // `<carried>` is hub content hvxform keeps in the VSSD's Notes (one
    // more Notes value): it counts as an instance of its own here.
    if let Some(c) = doc
        .root_element()
        .children()
        .find(|n| n.tag_name().name() == "carried")
    {
        let text = &canonical[c.range()];
        let props = Props::from([("content".into(), ("xml".into(), false, vec![text.into()]))]);
        out.insert(("<carried>".into(), String::new()), props);
    }
    for inst in doc
        .root_element()
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "instance")
    {
        let class = inst.attribute("class").unwrap().to_string();
        let mut props = Props::new();
        for p in inst.children().filter(|n| n.is_element()) {
            let name = p.tag_name().name();
            if name.starts_with("__") {
                continue;
            }
            let array = p.attribute("array") == Some("true");
            let values = if array {
                p.children()
                    .filter(|n| n.is_element())
                    .map(|v| v.text().unwrap_or("").to_string())
                    .collect()
            } else {
                vec![p.text().unwrap_or("").to_string()]
            };
            props.insert(
                name.to_string(),
                (p.attribute("type").unwrap().to_string(), array, values),
            );
        }
        let n = seen.entry(class.clone()).or_default();
        *n += 1;
        let key = props
            .get("InstanceID")
            .map(|(_, _, v)| v[0].clone())
            .unwrap_or_else(|| format!("#{n}"));
        assert!(
            out.insert((class, key.clone()), props).is_none(),
            "{}: two instances {key}",
            file.display()
        );
    }
    out
}

/// Hyper-V documents written by others or by hand: the samples and the
/// vendored `DefineSystem` and GetText examples.
fn hyperv_inputs() -> Vec<PathBuf> {
    let mut v = samples("hyperv");
    v.push(root().join("tests/validators/reference-definesystem.xml"));
    v
}

fn transform(input: &Path, to: &str, dir: &Path) -> PathBuf {
    transform_warned(input, to, dir).0
}

/// [`transform`], and what it printed on stderr (its warnings).
fn transform_warned(input: &Path, to: &str, dir: &Path) -> (PathBuf, String) {
    let o = run(&[
        "-v",
        "transform",
        input.to_str().unwrap(),
        "--to",
        to,
        "-o",
        dir.to_str().unwrap(),
        "--session",
        dir.join("session.yaml").to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{} → {to}: {}",
        input.display(),
        stderr(&o)
    );
    let stem = input.file_stem().unwrap().to_string_lossy();
    // `web.hvx.xml` is named as `web` (book: Command line).
    let stem = stem.strip_suffix(".hvx").unwrap_or(&stem);
    let ext = match to {
        "hvx" => "hvx.xml",
        "kvm" | "hyperv" => "xml",
        _ => unreachable!(),
    };
    let name = if to == "hvx" {
        format!("{stem}.{ext}")
    } else {
        format!("{stem}.{to}.{ext}")
    };
    (dir.join(name), stderr(&o))
}

#[test]
fn hyperv_through_the_hub_and_back_is_identical() {
    let dir = temp_dir("hyperv-roundtrip");
    let mut compared = 0;
    for input in hyperv_inputs() {
        let hub = transform(&input, "hvx", &dir);
        let back_dir = dir.join("back");
        let back = transform(&hub, "hyperv", &back_dir);
        let (a, b) = (instances(&input), instances(&back));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{}: instances differ",
            input.display()
        );
        for (k, pa) in &a {
            assert_eq!(pa, &b[k], "{}: instance {k:?}", input.display());
            compared += pa.len();
        }
    }
    assert!(compared > 100, "only {compared} properties compared");
}

/// KVM → Hyper-V → KVM keeps name, UUID, vCPUs, memory, firmware, Secure
/// Boot, disks and NICs — and, with what the Notes carry, the whole domain.
#[test]
fn kvm_through_hyperv_and_back_keeps_the_vm() {
    if tool("virsh").is_none() {
        return;
    }
    let dir = temp_dir("hyperv-kvm");
    // The samples and every libvirt test domain Debian's libvirt accepts.
    let mut inputs = samples("kvm");
    let corpus = root().join("tests/corpus/libvirt-qemu-domainxml");
    let accepted = std::fs::read_to_string(corpus.join("ACCEPTED.tsv")).unwrap();
    for line in accepted.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.get(1) == Some(&"yes") {
            inputs.push(corpus.join(cols[0]));
        }
    }
    let mut checked = 0;
    for input in &inputs {
        let (hv, warned) = transform_warned(input, "hyperv", &dir);
        let back = transform(&hv, "kvm", &dir.join("back"));
        let name = roxmltree::Document::parse(&std::fs::read_to_string(input).unwrap())
            .unwrap()
            .root_element()
            .children()
            .find(|c| c.has_tag_name("name"))
            .and_then(|n| n.text())
            .unwrap()
            .to_string();
        let (da, db) = (virsh_dump(input, &name), virsh_dump(&back, &name));
        let (a, b) = (kept(&da), kept(&db));
        // What Hyper-V cannot hold is converted with a warning, and comes
        // back from the Notes: a second floppy (Hyper-V has one, in Gen 1
        // VMs), a connection other than a network or bridge.
        let floppies = a.disks.iter().filter(|d| d.0 == "floppy").count();
        if floppies > 1 || (floppies > 0 && a.firmware_efi) {
            assert!(
                warned.contains("Hyper-V has one floppy drive, in Gen 1 VMs only; not converted"),
                "{}: no warning for the floppy Hyper-V cannot take:\n{warned}",
                input.display()
            );
        }
        if a.nics
            .iter()
            .any(|n| n.1.starts_with('(') && n.1 != "(user)")
        {
            assert!(
                warned.contains("has no Hyper-V counterpart; the adapter is left unconnected"),
                "{}: no warning for the connection Hyper-V cannot make:\n{warned}",
                input.display()
            );
        }
        // Memory comes back exactly too: Hyper-V rounds it up to 2 MiB, the
        // hub size travels in the Notes.
        let want = a;
        assert_eq!(want, b, "{} → hyperv → kvm", input.display());
        // Beyond those: libvirt reads back the very same domain, as
        // `virsh dumpxml` prints it.
        assert_eq!(
            da,
            db,
            "{} → hyperv → kvm: virsh dumpxml differs",
            input.display()
        );
        checked += 1;
    }
    assert!(checked >= 52, "{checked}");
}

/// Every Hyper-V output, from every sample of every platform and from the
/// vendored corpora, through pywbem's CIM-XML parser and a mock CIM server
/// compiled with the Msvm classes.
#[test]
fn every_hyperv_output_passes_pywbem() {
    let Some(py) = pywbem_python() else {
        return;
    };
    let dir = temp_dir("hyperv-pywbem");
    let mut inputs: Vec<PathBuf> = Vec::new();
    for p in ["kvm", "vsphere", "ovf", "vmware", "xen", "hyperv"] {
        inputs.extend(samples(p));
    }
    for sub in ["libvirt-qemu-domainxml", "govmomi-ovf", "libvirt-vmx2xml"] {
        for e in walk(&root().join("tests/corpus").join(sub)) {
            let ok = matches!(
                e.extension().and_then(|x| x.to_str()),
                Some("xml" | "ovf" | "vmx")
            );
            if ok {
                inputs.push(e);
            }
        }
    }
    // A large VM (tests/large_vms.rs): 60 disks (the first on IDE, the
    // rest on SCSI) and 64 synthetic NICs, Hyper-V's most.
    let large = dir.join("large.xml");
    std::fs::write(&large, large_domain(60, &[], 0, 64)).unwrap();
    inputs.push(large);
    let mut outputs = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let out = dir.join(format!("{i}"));
        let o = run(&[
            "transform",
            input.to_str().unwrap(),
            "--to",
            "hyperv",
            "-o",
            out.to_str().unwrap(),
        ]);
        // Some corpus files are not convertible at all (negative tests of
        // their projects); those must fail cleanly and write nothing.
        if o.status.code() == Some(0) {
            outputs.extend(walk(&out));
        } else {
            assert_eq!(
                o.status.code(),
                Some(1),
                "{}: {}",
                input.display(),
                stderr(&o)
            );
            assert!(walk(&out).is_empty(), "{}: partial output", input.display());
        }
    }
    assert!(outputs.len() > 80, "only {} outputs", outputs.len());
    let o = std::process::Command::new(py)
        .arg(root().join("tests/validators/hyperv_check.py"))
        .args(&outputs)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pywbem rejected outputs:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(lines, outputs.len());
}

#[test]
fn legacy_configuration_files_read_into_the_hub() {
    let dir = temp_dir("hyperv-legacy");
    for f in [
        "mwrock-packer-templates_vm.XML",
        "carrot-rcc_configuration-hyperv.xml",
    ] {
        let input = root().join("tests/corpus/hyperv-vm-config-xml").join(f);
        let o = run(&["transform", input.to_str().unwrap(), "--to", "hvx"]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
        let hub = stdout(&o);
        for want in [
            r#"<uuid>7ffee066-9755-4950-9a16-4c94ac67ad00</uuid>"#,
            r#"<firmware type="bios"/>"#,
            r#"<cpu count="1"/>"#,
            r#"<memory bytes="1073741824"/>"#,
            r#"<disk device="disk" bus="ide" controller="0" unit="0" format="vhd">"#,
            r#"<disk device="cdrom" bus="ide" controller="1" unit="0" format="raw"/>"#,
            r#"<nic mac="00:15:5d:01:07:dc" mac_type="generated" model="netvsc">"#,
            r#"<connection type="switch" name="Virtual External Switch"/>"#,
        ] {
            assert!(hub.contains(want), "{f}: {want} missing in\n{hub}");
        }
        // Written back as a DefineSystem: legacy files are read only.
        let hv = transform(&input, "hyperv", &dir);
        assert!(std::fs::read_to_string(hv)
            .unwrap()
            .contains("DefineSystem"));
    }
    let o = run(&["platforms"]);
    assert!(stdout(&o).contains("pre-2016 .xml read only"));
    // The same file with dynamic memory on (its limit is Hyper-V's default,
    // 1 TiB): the VM is its startup memory, 1 GiB; and a size that is not a
    // number of MiB is an error at its line, not 10^9 bytes.
    let text = std::fs::read_to_string(
        root().join("tests/corpus/hyperv-vm-config-xml/mwrock-packer-templates_vm.XML"),
    )
    .unwrap();
    let on = r#"<dynamic_memory_enabled type="bool">False</dynamic_memory_enabled>"#;
    let size = r#"<size type="integer">1024</size>"#;
    assert!(text.contains(on) && text.contains(size));
    let dynamic = dir.join("dynamic.xml");
    std::fs::write(&dynamic, text.replace(on, &on.replace("False", "True"))).unwrap();
    let o = run(&["-v", "transform", dynamic.to_str().unwrap(), "--to", "hvx"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(r#"<memory bytes="1073741824">"#)
            || stdout(&o).contains(r#"<memory bytes="1073741824"/>"#),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("dynamic memory without a maximum"),
        "{}",
        stderr(&o)
    );
    let units = dir.join("units.xml");
    std::fs::write(
        &units,
        text.replace(size, r#"<size type="integer">1GB</size>"#),
    )
    .unwrap();
    let o = run(&["transform", units.to_str().unwrap(), "--to", "hvx"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("expected an unsigned integer, found `1GB`")
            && stderr(&o).contains("at input 402:9"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_hyperv_input_is_a_located_error_and_writes_nothing() {
    let dir = temp_dir("hyperv-bad");
    let sample = std::fs::read_to_string(root().join("samples/hyperv/web-gen2.xml")).unwrap();
    let define = |old: &str, new: &str| {
        assert!(sample.contains(old), "{old}");
        sample.replacen(old, new, 1)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "other-method.xml",
            define(r#"METHODCALL NAME="DefineSystem""#, r#"METHODCALL NAME="RequestStateChange""#).into_bytes(),
            "other-method.xml:5:1: <METHODCALL NAME=\"RequestStateChange\"> is not a VM definition",
        ),
        (
            "unknown-class.xml",
            define("Msvm_SerialPortSettingData", "Msvm_SerialPortSettingDataX").into_bytes(),
            "unknown-class.xml:100:9: in the embedded instance of ResourceSettings: `Msvm_SerialPortSettingDataX` is not a class",
        ),
        (
            "no-resource-type.xml",
            define(r#"&lt;PROPERTY NAME="ResourceType" TYPE="uint16"&gt;&lt;VALUE&gt;3&lt;/VALUE&gt;&lt;/PROPERTY&gt;"#, "").into_bytes(),
            "Msvm_ProcessorSettingData without a ResourceType",
        ),
        (
            "short-mac.xml",
            define("00155D0A1B2C", "00155D0A1B").into_bytes(),
            "is not a MAC address as Hyper-V writes it",
        ),
        (
            "utf16-no-bom.xml",
            sample.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
            "utf16-no-bom.xml:1:1: UTF-16 text without a byte-order mark",
        ),
        (
            "lone-rasd.xml",
            std::fs::read(root().join("tests/corpus/hyperv-wmi-cim-nova/Msvm_ResourceAllocationSettingData-001.xml")).unwrap(),
            "no Msvm_VirtualSystemSettingData instance",
        ),
    ];
    // Places no Hyper-V host writes (WMI's instances of a Gen 1 VM, one
    // per line): an IDE location 2, an IDE controller 2, a SCSI location
    // 64, a drive whose Parent names no controller, two drives in one place.
    let gen1 = std::fs::read_to_string(root().join("samples/hyperv/db-gen1.xml")).unwrap();
    let at = |value: &str| format!(r#"AddressOnParent" TYPE="string"><VALUE>{value}</VALUE"#);
    let last_drive = |value: &str| {
        let i = gen1.rfind(&at("1")).expect("a drive at location 1");
        format!("{}{}{}", &gen1[..i], at(value), &gen1[i + at("1").len()..])
    };
    let scsi = "BDE5D4D6-E450-46D2-B925-976CA3E989B4\"";
    let orphan: Vec<String> = gen1
        .lines()
        .map(|l| {
            if l.contains("Synthetic Disk Drive") && l.contains(scsi) {
                l.replace(scsi, "00000000-0000-0000-0000-000000000000\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(gen1.contains(r#"NAME="Address" TYPE="string"><VALUE>1</VALUE>"#));
    let places = [
        (
            "ide-location.xml",
            gen1.replacen(&at("0"), &at("2"), 1),
            "83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\0\\D at location 2 of an IDE controller, which has locations 0 and 1",
        ),
        (
            "ide-controller.xml",
            gen1.replacen(
                r#"NAME="Address" TYPE="string"><VALUE>1</VALUE>"#,
                r#"NAME="Address" TYPE="string"><VALUE>2</VALUE>"#,
                1,
            ),
            "IDE controller at Address 2: a Hyper-V VM has IDE controllers 0 and 1",
        ),
        (
            "scsi-location.xml",
            last_drive("64"),
            "at location 64 of a SCSI controller, which has locations 0 to 63",
        ),
        (
            "orphan-drive.xml",
            orphan.join("\n"),
            "its Parent names no IDE or SCSI controller of this VM",
        ),
        (
            "same-place.xml",
            last_drive("0"),
            "at location 0 of its controller, where another drive already is",
        ),
    ];
    for (name, text, want) in places {
        assert_ne!(text, gen1, "{name}");
        let err = refused_input(&dir, name, text.as_bytes());
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}: ")) && err.contains("at input "),
            "{name}: {err}"
        );
    }
    // The VSSD written as XML in the call, not as escaped text.
    let open = "<VALUE>&lt;INSTANCE CLASSNAME=\"Msvm_VirtualSystemSettingData\"&gt;";
    let start = sample.find(open).expect("the VSSD's VALUE");
    let end = start + sample[start..].find("</VALUE>").unwrap() + "</VALUE>".len();
    let inner = &sample[start + "<VALUE>".len()..end - "</VALUE>".len()];
    let xml = inner
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let bare = format!("{}{xml}{}", &sample[..start], &sample[end..]);
    let mut cases = cases;
    cases.push((
        "bare-instance.xml",
        bare.into_bytes(),
        "SystemSettings: an instance written as XML; DefineSystem takes each instance embedded",
    ));
    for (name, bytes, want) in cases {
        let err = refused_input(&dir, name, &bytes);
        assert!(err.contains(want), "{name}: {err}");
    }
}

/// The instances WMI printed on a real host (nova's recorded stubs) all read.
#[test]
fn recorded_wmi_instances_read() {
    let dir = root().join("tests/corpus/hyperv-wmi-cim-nova");
    let mut n = 0;
    for f in walk(&dir) {
        if f.extension().is_some_and(|x| x == "xml") {
            let text = std::fs::read_to_string(&f).unwrap();
            let name = f.display().to_string();
            let class = f
                .file_name()
                .unwrap()
                .to_string_lossy()
                .split('-')
                .next()
                .unwrap()
                .to_string();
            match hyperv::read(&name, &text) {
                Ok(c) => {
                    assert!(c.contains(&format!("class=\"{class}\"")), "{name}");
                    n += 1;
                }
                // Not VM settings: refused by class, with the file named.
                Err(e) => assert!(
                    e.contains("is not a class of a Hyper-V VM's settings") && e.starts_with(&name),
                    "{e}"
                ),
            }
        }
    }
    assert!(n >= 15, "{n}");
}

/// A hub document as a comparable tree: names with namespaces, attributes
/// sorted, trimmed texts; without comments and without the Hyper-V detail a
/// conversion through Hyper-V adds (`extension platform="hyperv"`).
fn hub_tree(n: roxmltree::Node, out: &mut String, depth: usize) {
    if n.tag_name().name() == "extension" && n.attribute("platform") == Some("hyperv") {
        return;
    }
    let mut attrs: Vec<String> = n
        .attributes()
        .map(|a| {
            format!(
                "{{{}}}{}={:?}",
                a.namespace().unwrap_or(""),
                a.name(),
                a.value()
            )
        })
        .collect();
    attrs.sort();
    out.push_str(&format!(
        "{}{{{}}}{} {}\n",
        "  ".repeat(depth),
        n.tag_name().namespace().unwrap_or(""),
        n.tag_name().name(),
        attrs.join(" ")
    ));
    for c in n.children() {
        if c.is_element() {
            hub_tree(c, out, depth + 1);
        } else if let Some(t) = c.text().filter(|t| c.is_text() && !t.trim().is_empty()) {
            out.push_str(&format!("{}{:?}\n", "  ".repeat(depth + 1), t.trim()));
        }
    }
}

/// What Hyper-V cannot hold travels in the VSSD's Notes: hvx → hyperv → hvx
/// gives the hub back, for every hub example (every hub element and
/// attribute, other platforms' extensions included).
#[test]
fn the_hub_through_hyperv_and_back_is_identical() {
    let dir = temp_dir("hyperv-hub");
    let mut n = 0;
    for e in walk(&root().join("tests/hub-examples")) {
        if !e.to_string_lossy().ends_with(".hvx.xml") || e.parent().unwrap().ends_with("invalid") {
            continue;
        }
        let hv = transform(&e, "hyperv", &dir);
        let back = transform(&hv, "hvx", &dir.join("back"));
        let tree = |p: &Path| {
            let text = std::fs::read_to_string(p).unwrap();
            let doc = roxmltree::Document::parse(&text).unwrap();
            let mut s = String::new();
            hub_tree(doc.root_element(), &mut s, 0);
            s
        };
        let (a, b) = (tree(&e), tree(&back));
        if a != b {
            let first = a
                .lines()
                .zip(b.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(a.lines().count().min(b.lines().count()));
            let show = |s: &str| {
                s.lines()
                    .skip(first.saturating_sub(2))
                    .take(6)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "{}: differs at line {first}:\n--- sent\n{}\n--- back\n{}",
                e.display(),
                show(&a),
                show(&b)
            );
        }
        n += 1;
    }
    assert!(n >= 5, "{n}");
}

/// Session tables translate what changes kind between platforms: a libvirt
/// network ↔ a Hyper-V virtual switch, an image directory ↔ a Windows
/// folder, in both directions.
#[test]
fn session_tables_pair_switches_and_folders() {
    let dir = temp_dir("hyperv-session");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    for args in [
        ["switches", "default", "NAT Switch"],
        ["storage", "/var/lib/libvirt/images", "D:\\VMs"],
        ["switches", "backup", "Storage"],
        ["storage", "/srv/db01", "C:\\VMs\\db01"],
    ] {
        let o = run(&[
            "session",
            "set",
            s,
            args[0],
            args[1],
            args[2],
            "--types",
            "string:string",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    // kvm → hyperv: the switch and the folder of the table.
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "hyperv",
        "--session",
        s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let canonical = hyperv::read("web.hyperv.xml", &stdout(&o)).unwrap();
    assert!(
        canonical.contains(r#"Msvm_VirtualEthernetSwitch",Name="NAT Switch""#),
        "{canonical}"
    );
    assert!(
        canonical.contains(r"<value>D:\VMs\web.vhdx</value>"),
        "{canonical}"
    );
    // hyperv → hvx: back to the network and the directory.
    let o = run(&[
        "transform",
        "samples/hyperv/db-gen1.xml",
        "--to",
        "hvx",
        "--session",
        s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hub = stdout(&o);
    assert!(
        hub.contains(r#"<connection type="switch" name="backup"/>"#),
        "{hub}"
    );
    assert!(
        hub.contains(r#"<source type="file" path="/srv/db01/db01-os.vhdx"/>"#),
        "{hub}"
    );
}

/// The reader on CIM-XML that pywbem wrote: each request (the samples, and
/// what hvxform writes from every sample of every platform) is read by
/// pywbem and sent again through its own client (`InvokeMethod`, to an
/// address that refuses); hvxform reads pywbem's request to the same
/// instances, property by property.
#[test]
fn requests_pywbem_writes_read_the_same() {
    let Some(py) = pywbem_python() else {
        return;
    };
    let dir = temp_dir("hyperv-resend");
    let mut requests = samples("hyperv")
        .into_iter()
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("<CIM"))
        .collect::<Vec<_>>();
    for p in ["kvm", "vsphere", "ovf", "vmware", "xen", "hyperv"] {
        for s in samples(p) {
            let out = dir.join(p);
            requests.push(transform(&s, "hyperv", &out));
        }
    }
    for (i, req) in requests.iter().enumerate() {
        let resent = dir.join(format!("resent-{i}.xml"));
        let o = std::process::Command::new(&py)
            .arg(root().join("tests/validators/pywbem_resend.py"))
            .arg(req)
            .arg(&resent)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            req.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let written = std::fs::read_to_string(&resent).unwrap();
        assert!(
            written.contains("ID=\"1001\""),
            "not pywbem's request: {written}"
        );
        assert_eq!(instances(req), instances(&resent), "{}", req.display());
    }
    assert!(requests.len() >= 17, "{}", requests.len());
}

/// Values with the characters hvxform's Notes and WMI paths use themselves
/// (`|`, `%`, `"`, `\`) come back as they were.
#[test]
fn separators_in_values_survive_the_round_trip() {
    let dir = temp_dir("hyperv-separators");
    let hub = root().join("tests/hub-examples/web.hvx.xml");
    let text = std::fs::read_to_string(&hub)
        .unwrap()
        .replace("/var/lib/libvirt/images/web.qcow2", "/srv/a|b=c%7C.qcow2")
        .replace(
            r#"<connection type="network" name="default"/>"#,
            r#"<connection type="switch" name="sw\x&quot;y|z"/>"#,
        );
    let input = dir.join("odd.hvx.xml");
    std::fs::write(&input, &text).unwrap();
    let hv = transform(&input, "hyperv", &dir);
    let canonical = hyperv::read("odd", &std::fs::read_to_string(&hv).unwrap()).unwrap();
    // In the WMI path, `\` and `"` are escaped.
    assert!(
        canonical.contains(r#",Name="sw\\x\"y|z"</value>"#),
        "{canonical}"
    );
    let back = std::fs::read_to_string(transform(&hv, "hvx", &dir.join("back"))).unwrap();
    assert!(
        back.contains(r#"<source type="file" path="/srv/a|b=c%7C.qcow2"/>"#),
        "{back}"
    );
    assert!(
        back.contains(r#"<connection type="switch" name="sw\x&quot;y|z"/>"#),
        "{back}"
    );
}

/// A CIM-XML input is built straight into the tree its mapping reads: the
/// canonical form's tree (formatting aside), each instance at its place in
/// the file (an embedded one at the `<VALUE>` holding it).
#[test]
fn the_built_tree_is_the_canonical_form_at_the_places_of_the_file() {
    let mut files = hyperv_inputs();
    files.extend(
        std::fs::read_dir(root().join("tests/corpus/hyperv-wmi-cim-nova"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let mut n = 0;
    for f in &files {
        let text = hvxform::platform::input::read_text(f).unwrap();
        if !hyperv::looks_like_cim(&text) {
            continue;
        }
        let at = f.display().to_string();
        let (Ok(xml), Ok(built)) = (hyperv::read(&at, &text), hyperv::read_tree(&at, &text)) else {
            assert_eq!(
                hyperv::read(&at, &text).err(),
                hyperv::read_tree(&at, &text).err(),
                "{at}"
            );
            continue;
        };
        n += 1;
        let parsed = hvxform::tree::Document::parse(&xml).unwrap();
        same_tree(
            parsed.root_element().unwrap(),
            built.root_element().unwrap(),
            &at,
        );
        for inst in built
            .root_element()
            .unwrap()
            .children()
            .filter(|c| c.tag_name().name() == "instance")
        {
            let pos = inst
                .position()
                .unwrap_or_else(|| panic!("{at}: an instance without a position"));
            let here = &text[pos..];
            assert!(
                here.starts_with("<INSTANCE") || here.starts_with("<VALUE>"),
                "{at}: an instance at {:?}",
                &here[..here.len().min(40)]
            );
        }
    }
    assert!(n >= 10, "{n} documents read both ways");
}

/// Secure Boot checks the boot loader against a template's keys, and
/// Hyper-V's default template (MicrosoftWindows) boots Windows only: a Linux
/// VM with Secure Boot gets MicrosoftUEFICertificateAuthority, whose key
/// signs Linux shims, and a Windows VM MicrosoftWindows (before, no template
/// was written, and a Linux VM with Secure Boot would not boot). Read back
/// without hvxform's Notes, the template names the guest family.
#[test]
fn secure_boot_templates_follow_the_guest() {
    let dir = temp_dir("hyperv-templates");
    let windows = root().join("samples/kvm/win-uefi.xml");
    let linux = dir.join("linux-sb.xml");
    std::fs::write(
        &linux,
        std::fs::read_to_string(&windows)
            .unwrap()
            .replace(
                "http://microsoft.com/win/2k22",
                "http://debian.org/debian/12",
            )
            .replace("<name>win-uefi</name>", "<name>linux-sb</name>"),
    )
    .unwrap();
    assert!(std::fs::read_to_string(&linux)
        .unwrap()
        .contains("debian.org/debian/12"));
    let template = |file: &Path| -> String {
        let all = instances(file);
        let vssd = all
            .iter()
            .find(|((c, _), _)| c == "Msvm_VirtualSystemSettingData")
            .unwrap()
            .1;
        vssd.get("SecureBootTemplateId")
            .map(|(_, _, v)| v[0].clone())
            .unwrap_or_default()
    };
    let mut outputs = Vec::new();
    for (input, want, family) in [
        (
            &windows,
            "{1734c6e8-3154-4dda-ba5f-a874cc483422}",
            "windows",
        ),
        (&linux, "{272e7447-90a4-4563-a4b9-8e4ab00526ce}", "linux"),
    ] {
        let out = transform(input, "hyperv", &dir.join(family));
        assert_eq!(template(&out), want, "{}", input.display());
        // Without the Notes hvxform keeps the guest OS in, the template
        // says which family the guest is.
        let text = std::fs::read_to_string(&out).unwrap();
        let bare = without_notes(&text);
        let bare_file = dir.join(format!("{family}-bare.xml"));
        std::fs::write(&bare_file, bare).unwrap();
        let hub = transform(&bare_file, "hvx", &dir.join(format!("{family}-hub")));
        let hub = std::fs::read_to_string(hub).unwrap();
        let d = roxmltree::Document::parse(&hub).unwrap();
        let os = d.descendants().find(|n| n.has_tag_name("os")).unwrap();
        assert_eq!(os.attribute("family"), Some(family), "{hub}");
        outputs.push(out);
    }
    pywbem_accepts(&outputs);
}

/// The document with the VSSD's Notes property (where hvxform keeps what
/// Hyper-V cannot hold) taken out, as a VM defined by hand would be.
fn without_notes(text: &str) -> String {
    let start = text
        .find("&lt;PROPERTY.ARRAY NAME=\"Notes\"")
        .expect("a Notes property");
    let end = start
        + text[start..]
            .find("&lt;/PROPERTY.ARRAY&gt;")
            .expect("its end")
        + "&lt;/PROPERTY.ARRAY&gt;".len();
    format!("{}{}", &text[..start], &text[end..])
}

/// A guest whose OS the hub does not name (a libvirt domain without
/// libosinfo metadata: a Windows VM as often as not) keeps Hyper-V's
/// default template, with a warning: the UEFI CA's does not boot Windows.
#[test]
fn secure_boot_without_a_known_guest_keeps_hyperv_s_default() {
    let dir = temp_dir("hyperv-template-unknown");
    let input = dir.join("nameless.xml");
    let text = std::fs::read_to_string(root().join("samples/kvm/win-uefi.xml")).unwrap();
    let start = text.find("<metadata>").expect("metadata");
    let end = text.find("</metadata>").unwrap() + "</metadata>".len();
    std::fs::write(&input, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let (out, err) = transform_warned(&input, "hyperv", &dir);
    assert!(
        err.contains(
            "Secure Boot: the guest OS is not known, so Hyper-V's default template applies"
        ),
        "{err}"
    );
    let all = instances(&out);
    let vssd = all
        .iter()
        .find(|((c, _), _)| c == "Msvm_VirtualSystemSettingData")
        .unwrap()
        .1;
    assert!(!vssd.contains_key("SecureBootTemplateId"), "{vssd:?}");
    assert_eq!(vssd["SecureBootEnabled"].2, ["TRUE"]);
}

/// Dynamic memory with Hyper-V's default maximum (Limit 1048576 MiB, 1 TiB:
/// no maximum set) is the VM's startup memory elsewhere, with a warning,
/// not a 1 TiB VM; and Hyper-V gets the same instance back from the hub.
#[test]
fn dynamic_memory_without_a_maximum_is_the_startup_memory() {
    let dir = temp_dir("hyperv-unbounded");
    let text = std::fs::read_to_string(root().join("samples/hyperv/web-gen2.xml")).unwrap();
    let limit = "&quot;Limit&quot; TYPE=&quot;uint64&quot;&gt;&lt;VALUE&gt;8192";
    let raw = "\"Limit\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;8192";
    assert!(
        text.contains(raw) || text.contains(limit),
        "the sample's Limit"
    );
    let input = dir.join("unbounded.xml");
    std::fs::write(
        &input,
        text.replace(raw, "\"Limit\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;1048576"),
    )
    .unwrap();
    let o = run(&[
        "-v",
        "transform",
        input.to_str().unwrap(),
        "--to",
        "vsphere",
        "--no-carry",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("<memoryMB>4096</memoryMB>"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("dynamic memory without a maximum")
            && stderr(&o).contains("startup memory, 4096 MiB"),
        "{}",
        stderr(&o)
    );
    let hub = transform(&input, "hvx", &dir);
    let back = transform(&hub, "hyperv", &dir.join("back"));
    assert_eq!(instances(&input), instances(&back));
}

/// CIM arrays as WMI writes them: several Notes values (one description, a
/// line each), and `VALUE.NULL` before a value (NULL says nothing: the value
/// after it is the image, the switch, the note). Both come back to Hyper-V
/// as they were.
#[test]
fn several_notes_and_null_values_in_arrays() {
    let dir = temp_dir("hyperv-arrays");
    let text = std::fs::read_to_string(root().join("samples/hyperv/web-gen2.xml")).unwrap();
    let note = "&lt;VALUE&gt;Public web server (IIS)";
    let disk = "&lt;VALUE&gt;D:\\Hyper-V\\web01\\Virtual Hard Disks\\web01.vhdx";
    let switch = "&lt;VALUE&gt;\\\\HV01\\root";
    for s in [note, disk, switch] {
        assert!(text.contains(s), "{s}");
    }
    let cases = [
        (
            "notes",
            text.replace(
                note,
                &format!("&lt;VALUE.NULL/&gt;&lt;VALUE&gt;line one&lt;/VALUE&gt;{note}"),
            ),
        ),
        (
            "nulls",
            text.replace(disk, &format!("&lt;VALUE.NULL/&gt;{disk}"))
                .replace(switch, &format!("&lt;VALUE.NULL/&gt;{switch}")),
        ),
    ];
    for (name, doc) in cases {
        let input = dir.join(format!("{name}.xml"));
        std::fs::write(&input, doc).unwrap();
        let kvm = std::fs::read_to_string(transform(&input, "kvm", &dir)).unwrap();
        let d = roxmltree::Document::parse(&kvm).unwrap();
        let text_of = |tag: &str| {
            d.descendants()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        let description = text_of("description").unwrap_or_default();
        assert!(
            description.contains("Public web server (IIS)"),
            "{name}: {kvm}"
        );
        let sources: Vec<String> = d
            .descendants()
            .filter(|n| n.has_tag_name("source"))
            .flat_map(|n| n.attributes().map(|a| a.value().to_string()))
            .collect();
        assert!(
            sources.iter().any(|s| s.ends_with("web01.qcow2")),
            "{name}: the disk's image: {sources:?}"
        );
        assert!(
            sources.iter().any(|s| s == "DMZ"),
            "{name}: the switch: {sources:?}"
        );
        if name == "notes" {
            assert_eq!(
                description.lines().next(),
                Some("line one"),
                "{name}: {description}"
            );
        }
        let hub = transform(&input, "hvx", &dir);
        let back = transform(&hub, "hyperv", &dir.join("back"));
        assert_eq!(instances(&input), instances(&back), "{name}");
    }
}

/// A disk added on KVM to a VM that came from Hyper-V goes back to a free
/// location of the VM's own SCSI controller (its InstanceIDs kept), not
/// to a controller that is not there, at a location a carried drive holds:
/// for a Gen 1 and a Gen 2 VM, the output reads back with the new disk
/// and every drive at a place of its own, and pywbem takes it.
#[test]
fn a_disk_added_elsewhere_goes_to_a_free_place_of_the_vms_controllers() {
    const HVX: &str = "urn:hvxform:hvx:1";
    let only = |dir: &Path| {
        let files = walk(dir);
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    };
    let drives = |hub: &str| -> Vec<(String, String, String, String)> {
        let d = roxmltree::Document::parse(hub).unwrap();
        d.root_element()
            .children()
            .filter(|n| n.has_tag_name((HVX, "disk")))
            .map(|n| {
                let path = n
                    .children()
                    .find(|s| s.has_tag_name((HVX, "source")))
                    .and_then(|s| s.attribute("path"))
                    .unwrap_or("")
                    .to_string();
                let a = |k: &str| n.attribute(k).unwrap_or("").to_string();
                (a("bus"), a("controller"), a("unit"), path)
            })
            .collect()
    };
    for sample in ["db-gen1.xml", "web-gen2.xml"] {
        let dir = temp_dir(&format!("hyperv-added-disk-{sample}"));
        let store = dir.join("s.yaml");
        let input = root().join("samples/hyperv").join(sample);
        let (code, err) = transform_into(&input, "hvx", &dir.join("h"), &[]);
        assert_eq!(code, Some(0), "{err}");
        let before = drives(&std::fs::read_to_string(only(&dir.join("h"))).unwrap());
        transform_with_store(&input, "kvm", &dir.join("a"), &store);
        let text = std::fs::read_to_string(only(&dir.join("a"))).unwrap();
        let added = "<disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/>\
            <source file=\"/var/lib/libvirt/images/added.qcow2\"/><target dev=\"sdx\" bus=\"scsi\"/></disk>\n    ";
        let at = text.find("<interface").expect("a NIC");
        let edited = dir.join("edited.xml");
        std::fs::write(&edited, format!("{}{added}{}", &text[..at], &text[at..])).unwrap();
        transform_with_store(&edited, "hyperv", &dir.join("b"), &store);
        let back = only(&dir.join("b"));
        pywbem_accepts(std::slice::from_ref(&back));
        let (code, err) = transform_into(&back, "hvx", &dir.join("c"), &[]);
        assert_eq!(code, Some(0), "{sample}: {err}");
        let hub = std::fs::read_to_string(only(&dir.join("c"))).unwrap();
        let after = drives(&hub);
        assert_eq!(after.len(), before.len() + 1, "{sample}: {hub}");
        // The drives Hyper-V had, where it had them; the new one on SCSI.
        for d in &before {
            assert!(
                after
                    .iter()
                    .any(|a| (&a.0, &a.1, &a.2) == (&d.0, &d.1, &d.2)),
                "{sample}: {d:?} moved: {after:?}"
            );
        }
        let new = after
            .iter()
            .find(|a| a.3.ends_with("added.qcow2"))
            .unwrap_or_else(|| panic!("{sample}: no added disk: {after:?}"));
        assert_eq!(new.0, "scsi", "{sample}: {after:?}");
        let mut places: Vec<_> = after.iter().map(|a| (&a.0, &a.1, &a.2)).collect();
        places.sort();
        places.dedup();
        assert_eq!(
            places.len(),
            after.len(),
            "{sample}: two drives in one place: {after:?}"
        );
    }
}

/// A Gen 1 VM's IDE drives are named by their place, as libvirt names IDE
/// drives (hda 0:0, hdb 0:1, hdc 1:0, hdd 1:1): the DVD drive on the second
/// IDE controller is hdc, not the next free letter.
#[test]
fn gen1_ide_drives_are_named_by_their_place() {
    let dir = temp_dir("hyperv-ide-names");
    let o = run(&[
        "transform",
        root().join("samples/hyperv/db-gen1.xml").to_str().unwrap(),
        "--to",
        "kvm",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let xml = std::fs::read_to_string(dir.join("db-gen1.kvm.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let mut ide = 0;
    for d in doc.descendants().filter(|n| n.has_tag_name("disk")) {
        let child = |name: &str| d.children().find(|c| c.has_tag_name(name)).unwrap();
        let target = child("target");
        if target.attribute("bus") != Some("ide") {
            continue;
        }
        let a = child("address");
        let slot: u8 = a.attribute("bus").unwrap().parse::<u8>().unwrap() * 2
            + a.attribute("unit").unwrap().parse::<u8>().unwrap();
        let want = format!("hd{}", (b'a' + slot) as char);
        assert_eq!(target.attribute("dev"), Some(want.as_str()), "{xml}");
        ide += 1;
    }
    assert_eq!(ide, 2, "{xml}");
}
