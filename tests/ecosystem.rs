//! Outputs proven by the real programs of each ecosystem: libvirt's parser
//! (virsh, test driver) and RelaxNG schema, pyvmomi's deserializer, and the
//! hub schema with xmllint.

mod common;
use common::*;
use std::process::Command;

fn convert(sample: &std::path::Path, target: &str) -> String {
    let o = run(&["transform", sample.to_str().unwrap(), "--to", target]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: {}",
        sample.display(),
        stderr(&o)
    );
    stdout(&o)
}

fn write_tmp(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The bundled samples of kvm, vsphere, ovf, hyperv and ec2, the accepted libvirt
/// corpus, and Hyper-V documents others wrote (pre-2016 configuration files,
/// a DefineSystem without InstanceIDs).
fn all_inputs() -> Vec<std::path::PathBuf> {
    let mut v = kvm_inputs();
    for p in ["vsphere", "ovf", "hyperv", "ec2"] {
        v.extend(samples(p));
    }
    let legacy = root().join("tests/corpus/hyperv-vm-config-xml");
    v.push(legacy.join("mwrock-packer-templates_vm.XML"));
    v.push(legacy.join("carrot-rcc_configuration-hyperv.xml"));
    v.push(root().join("tests/validators/reference-definesystem.xml"));
    v
}

#[test]
fn kvm_outputs_are_accepted_by_libvirt_and_its_schema() {
    if tool("virsh").is_none() || tool("xmllint").is_none() {
        return;
    }
    let dir = temp_dir("eco-kvm");
    for s in all_inputs() {
        let out = convert(&s, "kvm");
        let f = write_tmp(&dir, "out.xml", &out);
        // libvirt inputs the schema itself rejects (ACCEPTED.tsv says which)
        // are checked by virsh only.
        let from_kvm = s
            .components()
            .any(|c| c.as_os_str() == "libvirt-qemu-domainxml" || c.as_os_str() == "kvm");
        let schema = std::path::Path::new(LIBVIRT_DOMAIN_RNG);
        if !from_kvm || relaxng(schema, &s).is_ok() {
            if let Err(e) = relaxng(schema, &f) {
                panic!("{}: {e}", s.display());
            }
        }
        virsh_dump(&f, &domain_name(&out));
    }
}

/// kvm → hvx → kvm over the samples and every libvirt test domain that
/// Debian's libvirt accepts (tests/corpus/libvirt-qemu-domainxml/ACCEPTED.tsv):
/// after `virsh define` + `dumpxml` of both, identical.
#[test]
fn kvm_round_trip_through_the_hub_is_identical() {
    if tool("virsh").is_none() {
        return;
    }
    let dir = temp_dir("eco-rt");
    let inputs = kvm_inputs();
    assert!(inputs.len() >= 50, "{} inputs", inputs.len());
    let mut failures = Vec::new();
    for s in &inputs {
        let orig = std::fs::read_to_string(s).unwrap();
        let name = domain_name(&orig);
        let out = convert(s, "kvm");
        let f = write_tmp(&dir, "rt.xml", &out);
        let a = virsh_dump(s, &name);
        let b = virsh_dump(&f, &name);
        if a != b {
            failures.push(s.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ after the round trip: {failures:?}",
        failures.len(),
        inputs.len()
    );
}

#[test]
fn hub_outputs_validate_against_the_hub_schema() {
    if tool("xmllint").is_none() {
        return;
    }
    let dir = temp_dir("eco-hvx");
    for s in all_inputs() {
        let out = convert(&s, "hvx");
        let f = write_tmp(&dir, "out.hvx.xml", &out);
        if let Err(e) = relaxng(&hub_rng(), &f) {
            panic!("{}: {e}", s.display());
        }
    }
}

/// The hub schema is the contract both ways: the hand-made examples pass,
/// and each file of `tests/hub-examples/invalid/` (one deliberate fault
/// each, named in its first comment) is well-formed XML the schema refuses,
/// so a schema loosened by mistake fails here.
#[test]
fn hub_schema_accepts_the_examples_and_rejects_the_invalid_ones() {
    if tool("xmllint").is_none() {
        return;
    }
    let dir = root().join("tests/hub-examples");
    let files = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".hvx.xml"))
            .collect();
        v.sort();
        v
    };
    let valid = files(&dir);
    assert!(valid.len() >= 5, "{valid:?}");
    for f in &valid {
        if let Err(e) = relaxng(&hub_rng(), f) {
            panic!("{}: {e}", f.display());
        }
    }
    let invalid = files(&dir.join("invalid"));
    assert!(invalid.len() >= 5, "{invalid:?}");
    for f in &invalid {
        let text = std::fs::read_to_string(f).unwrap();
        roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{}: not well-formed: {e}", f.display()));
        assert!(text.contains("INVALID on purpose"), "{}", f.display());
        assert!(
            relaxng(&hub_rng(), f).is_err(),
            "{} is accepted by schema/hvx.rng",
            f.display()
        );
    }
}

#[test]
fn vsphere_outputs_deserialize_with_pyvmomi() {
    let Some(py) = python() else {
        return;
    };
    let dir = temp_dir("eco-vsphere");
    let mut files = Vec::new();
    for s in all_inputs() {
        if vsphere_refuses(&s) {
            let o = run(&["transform", s.to_str().unwrap(), "--to", "vsphere"]);
            assert_eq!(o.status.code(), Some(1), "{}", s.display());
            assert!(stderr(&o).contains("a vSphere VM has four SCSI controllers"));
            continue;
        }
        let out = convert(&s, "vsphere");
        files.push(write_tmp(
            &dir,
            &format!(
                "{}-{}.vsphere.xml",
                s.parent().unwrap().file_name().unwrap().to_string_lossy(),
                s.file_stem().unwrap().to_string_lossy()
            ),
            &out,
        ));
    }
    let mut cmd = Command::new(py);
    cmd.arg(root().join("tests/validators/vsphere_check.py"))
        .args(["--api", "7.0.2.0"]);
    cmd.args(&files);
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The summary agrees with the source: the db sample's 8 vCPUs, 32 GiB, 2 NICs with exact MACs.
    let summary = String::from_utf8_lossy(&o.stdout);
    let db = summary
        .lines()
        .find(|l| l.contains("/kvm-db.vsphere.xml"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(db).unwrap();
    assert_eq!(v["numCPUs"], 8);
    assert_eq!(v["memoryMB"], 32768);
    let macs: Vec<&str> = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["macAddress"].as_str())
        .collect();
    assert_eq!(macs, ["52:54:00:5d:e0:01", "52:54:00:5d:e0:02"]);
}

fn hub_of(path: &std::path::Path) -> String {
    convert(path, "hvx")
}

fn count_in(xml: &str, pred: impl Fn(roxmltree::Node) -> bool) -> usize {
    let d = roxmltree::Document::parse(xml).unwrap();
    d.descendants()
        .filter(|n| n.is_element() && pred(*n))
        .count()
}

/// Every OVF output is read by the Common OVF Tool and reports the CPUs,
/// memory, NICs and disks the source had.
#[test]
fn ovf_outputs_are_read_by_cot_with_the_sources_values() {
    if python().is_none() {
        return;
    }
    let dir = temp_dir("eco-ovf");
    for s in samples("kvm")
        .into_iter()
        .chain(samples("vsphere"))
        .chain(samples("ovf"))
    {
        let hub = hub_of(&s);
        let hd = roxmltree::Document::parse(&hub).unwrap();
        let vm = hd.root_element();
        let child = |name: &str| vm.children().find(|c| c.has_tag_name(name)).unwrap();
        let cpus: u64 = child("cpu").attribute("count").unwrap().parse().unwrap();
        let bytes: u64 = child("memory").attribute("bytes").unwrap().parse().unwrap();
        let nics = count_in(&hub, |n| {
            n.has_tag_name("nic") && n.parent().is_some_and(|p| p.has_tag_name("vm"))
        });
        let disks = count_in(&hub, |n| {
            n.has_tag_name("disk")
                && n.attribute("device") == Some("disk")
                && n.parent().is_some_and(|p| p.has_tag_name("vm"))
        });
        let out = convert(&s, "ovf");
        let f = write_tmp(&dir, "out.ovf", &out);
        let v = ovf_info(&f).expect("the venv (checked above)");
        assert_eq!(v["cpus"], cpus, "{}", s.display());
        assert_eq!(v["memory_bytes"], bytes, "{}", s.display());
        assert_eq!(v["nics"], nics as u64, "{}", s.display());
        assert_eq!(v["disks"], disks as u64, "{}", s.display());
    }
}

/// The OVF descriptors of govmomi's and virt-v2v's test suites, sorted.
fn corpus_ovfs() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![
        root().join("tests/corpus/govmomi-ovf"),
        root().join("tests/corpus/virt-v2v"),
        root().join("tests/corpus/virtualbox-ovf"),
    ];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ovf") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The OVF files of govmomi's and virt-v2v's test suites: valid ones convert
/// (one hub document per VirtualSystem, each valid against the hub schema);
/// invalid ones fail with a message naming the file, never a crash.
#[test]
fn ovf_corpus_converts_or_fails_clearly() {
    let files = corpus_ovfs();
    assert!(files.len() >= 60, "{} OVF files", files.len());
    let mut converted = 0;
    for (k, f) in files.iter().enumerate() {
        let out = temp_dir(&format!("eco-ovfc-{k}"));
        let o = run(&[
            "transform",
            f.to_str().unwrap(),
            "--to",
            "hvx",
            "-o",
            out.to_str().unwrap(),
        ]);
        match o.status.code() {
            Some(0) => {
                converted += 1;
                if tool("xmllint").is_some() {
                    for e in std::fs::read_dir(&out).unwrap() {
                        if let Err(m) = relaxng(&hub_rng(), &e.unwrap().path()) {
                            panic!("{}: {m}", f.display());
                        }
                    }
                }
            }
            Some(1) => {
                let e = stderr(&o);
                let name = f.file_name().unwrap().to_string_lossy();
                assert!(
                    e.contains(name.as_ref()),
                    "{}: the error does not name the file:\n{e}",
                    f.display()
                );
                assert_eq!(
                    std::fs::read_dir(&out).unwrap().count(),
                    0,
                    "{}: partial output",
                    f.display()
                );
            }
            other => panic!("{}: exit {other:?}\n{}", f.display(), stderr(&o)),
        }
    }
    assert!(
        converted >= 55,
        "only {converted} of {} converted",
        files.len()
    );
}

/// What hvxform reads from virt-v2v's OVA test descriptors agrees with
/// virt-v2v's own `--print-source` summaries (name, memory, vCPUs,
/// firmware, disk buses, NIC models). Deliberate differences (CD-ROM slot,
/// network vs bridge) are in tests/corpus/virt-v2v/AGREEMENT.md.
#[test]
fn ovf_agrees_with_virt_v2v() {
    let dir = root().join("tests/corpus/virt-v2v");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "expected")
            || !p.to_string_lossy().contains("test-i-ova")
        {
            continue;
        }
        let ovf = p.with_extension("ovf");
        let expected = std::fs::read_to_string(&p).unwrap();
        let field = |k: &str| {
            expected
                .lines()
                .find_map(|l| {
                    l.trim_start()
                        .strip_prefix(k)
                        .map(|v| v.trim_start_matches(':').trim().to_string())
                })
                .unwrap_or_default()
        };
        let hub = hub_of(&ovf);
        let hd = roxmltree::Document::parse(&hub).unwrap();
        let vm = hd.root_element();
        let child = |name: &str| vm.children().find(|c| c.has_tag_name(name));
        assert_eq!(
            child("name").and_then(|n| n.text()).unwrap(),
            field("source name"),
            "{}",
            ovf.display()
        );
        assert_eq!(
            child("memory").unwrap().attribute("bytes").unwrap(),
            field("memory").trim_end_matches(" (bytes)"),
            "{}",
            ovf.display()
        );
        assert_eq!(
            child("cpu").unwrap().attribute("count").unwrap(),
            field("nr vCPUs"),
            "{}",
            ovf.display()
        );
        let fw = child("firmware")
            .and_then(|f| f.attribute("type"))
            .unwrap_or("bios");
        assert_eq!(fw, field("firmware"), "{}", ovf.display());
        let buses: Vec<String> = vm
            .children()
            .filter(|c| c.has_tag_name("disk") && c.attribute("device") == Some("disk"))
            .map(|d| d.attribute("bus").unwrap().to_string())
            .collect();
        let want_buses: Vec<String> = expected
            .lines()
            .skip_while(|l| !l.starts_with("disks:"))
            .skip(1)
            .take_while(|l| l.starts_with('\t'))
            .filter_map(|l| {
                l.split('[')
                    .nth(1)
                    .map(|b| b.trim_end_matches(']').to_string())
            })
            .collect();
        assert_eq!(buses, want_buses, "{}", ovf.display());
        let models: Vec<String> = vm
            .children()
            .filter(|c| c.has_tag_name("nic"))
            .map(|n| n.attribute("model").unwrap().to_string())
            .collect();
        let want_models: Vec<String> = expected
            .lines()
            .skip_while(|l| !l.starts_with("NICs:"))
            .skip(1)
            .take_while(|l| l.starts_with('\t'))
            .filter_map(|l| {
                l.rsplit('[')
                    .next()
                    .map(|m| m.trim_end_matches(']').to_string())
            })
            .collect();
        assert_eq!(models, want_models, "{}", ovf.display());
        checked += 1;
    }
    assert!(checked >= 6, "{checked} descriptors checked");
}

/// vCenter's own ConfigInfo responses (SOAP, read with --from vsphere) give
/// valid hub documents.
#[test]
fn vsphere_config_info_is_read() {
    let dir = temp_dir("eco-vsread");
    for f in [
        "test_json_vm_explode_default__20_response.xml",
        "test_json_vm_explode_type__53_response.xml",
    ] {
        let p = root().join("tests/corpus/vsphere-vim25").join(f);
        let o = run(&[
            "transform",
            "--from",
            "vsphere",
            p.to_str().unwrap(),
            "--to",
            "hvx",
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
    }
    if tool("xmllint").is_some() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if let Err(m) = relaxng(&hub_rng(), &p) {
                panic!("{}: {m}", p.display());
            }
        }
    }
}

/// kvm → vsphere → kvm with one session store: identity, CPU, memory,
/// firmware, disks and NICs (MACs exact) come back as libvirt had them.
#[test]
fn kvm_vsphere_kvm_keeps_identity_cpu_memory_firmware_disks_and_nics() {
    if tool("virsh").is_none() {
        return;
    }
    let dir = temp_dir("eco-vsrt");
    let store = dir.join("store.yaml");
    for s in samples("kvm") {
        let stem = s.file_stem().unwrap().to_string_lossy().into_owned();
        transform_with_store(&s, "vsphere", &dir, &store);
        let spec = dir.join(format!("{stem}.vsphere.xml"));
        transform_with_store(&spec, "kvm", &dir, &store);
        let back = dir.join(format!("{stem}.vsphere.kvm.xml"));
        let name = domain_name(&std::fs::read_to_string(&s).unwrap());
        let a = virsh_dump(&s, &name);
        let b = virsh_dump(&back, &name);
        assert_eq!(essentials(&a), essentials(&b), "{}", s.display());
    }
}

/// The parts of a libvirt domain the vSphere round trip must keep.
fn essentials(xml: &str) -> Vec<String> {
    let d = roxmltree::Document::parse(xml).unwrap();
    let mut out = Vec::new();
    for n in d.descendants().filter(|n| n.is_element()) {
        let p = n
            .parent()
            .filter(|p| p.is_element())
            .map(|p| p.tag_name().name())
            .unwrap_or("");
        let attrs = |names: &[&str]| {
            names
                .iter()
                .map(|a| format!("{a}={}", n.attribute(*a).unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match (p, n.tag_name().name()) {
            ("domain", "name" | "uuid" | "genid" | "vcpu" | "memory") => out.push(format!(
                "{} {}",
                n.tag_name().name(),
                n.text().unwrap_or("")
            )),
            // UEFI is `firmware="efi"` or an explicit pflash loader: the same firmware.
            ("domain", "os") => {
                let pflash = n
                    .children()
                    .any(|c| c.has_tag_name("loader") && c.attribute("type") == Some("pflash"));
                let fw = n
                    .attribute("firmware")
                    .unwrap_or(if pflash { "efi" } else { "bios" });
                out.push(format!("os firmware={fw}"));
            }
            ("devices", "disk") => out.push(format!("disk {}", attrs(&["type", "device"]))),
            ("disk", "source") => out.push(format!("  source {}", attrs(&["file", "dev"]))),
            ("disk", "target") => out.push(format!("  target {}", attrs(&["dev", "bus"]))),
            ("devices", "interface") => out.push(format!("interface {}", attrs(&["type"]))),
            ("interface", "mac") => out.push(format!("  mac {}", attrs(&["address"]))),
            ("interface", "source") => {
                out.push(format!("  source {}", attrs(&["network", "bridge"])))
            }
            _ => {}
        }
    }
    out
}

/// The facts of a hub document that the readers' checks compare: name,
/// UUID, vCPUs, memory (bytes), firmware, the drives (kind, bus, source)
/// in order, the NICs and their MACs in order.
struct HubFacts {
    name: String,
    uuid: Option<String>,
    cpus: u64,
    memory: u64,
    firmware: Option<String>,
    drives: Vec<(String, String, Option<String>)>,
    nics: usize,
    macs: Vec<String>,
}

fn hub_facts(hub: &str) -> HubFacts {
    let d = roxmltree::Document::parse(hub).unwrap();
    let vm = d.root_element();
    let child = |name: &str| vm.children().find(|c| c.has_tag_name(name));
    let text = |name: &str| child(name).and_then(|n| n.text()).map(str::to_string);
    HubFacts {
        name: text("name").unwrap_or_default(),
        uuid: text("uuid"),
        cpus: child("cpu").map_or(0, |c| c.attribute("count").unwrap().parse().unwrap()),
        memory: child("memory").map_or(0, |m| m.attribute("bytes").unwrap().parse().unwrap()),
        firmware: child("firmware").and_then(|f| f.attribute("type").map(str::to_string)),
        drives: vm
            .children()
            .filter(|c| c.has_tag_name("disk"))
            .map(|d| {
                let source = d
                    .children()
                    .find(|s| s.has_tag_name("source"))
                    .and_then(|s| s.attribute("path"))
                    .map(str::to_string);
                (
                    d.attribute("device").unwrap().to_string(),
                    d.attribute("bus").unwrap_or("").to_string(),
                    source,
                )
            })
            .collect(),
        nics: vm.children().filter(|c| c.has_tag_name("nic")).count(),
        macs: vm
            .children()
            .filter(|c| c.has_tag_name("nic"))
            .filter_map(|n| n.attribute("mac").map(str::to_string))
            .collect(),
    }
}

/// vSphere documents others wrote, read by hvxform and by pyVmomi: vCenter
/// 8.0.2's ConfigInfo responses (pyVmomi's test cassettes), govmomi's
/// simulator's RetrievePropertiesEx answers (its own `xsi` prefix), and
/// ConfigSpecs pyVmomi serialises itself (`<obj xsi:type=...>`) — plus the
/// bundled samples. Name, UUID, vCPUs, memory, firmware, every drive (kind,
/// bus, backing file) and every MAC agree with pyVmomi's objects.
#[test]
fn vsphere_readers_agree_with_pyvmomi_on_documents_others_wrote() {
    let Some(py) = python() else {
        return;
    };
    let mut files: Vec<std::path::PathBuf> = ["vsphere-vim25", "vcsim-vim25", "pyvmomi-configspec"]
        .iter()
        .flat_map(|d| {
            let mut v: Vec<_> = std::fs::read_dir(root().join("tests/corpus").join(d))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                .collect();
            v.sort();
            v
        })
        .collect();
    files.extend(samples("vsphere"));
    let o = Command::new(&py)
        .arg(root().join("tests/validators/vsphere_facts.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), files.len());
    // vSphere's datastore paths as the hub writes them (session `datastores`
    // missing: the datastore's own name under /vmfs/volumes).
    let path = |p: &str| match p.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((ds, rest)) => format!("/vmfs/volumes/{ds}/{rest}"),
        None => p.to_string(),
    };
    for (f, v) in files.iter().zip(&lines) {
        let h = hub_facts(&convert(f, "hvx"));
        let at = f.display();
        assert_eq!(h.name, v["name"].as_str().unwrap(), "{at}");
        assert_eq!(h.uuid.as_deref(), v["uuid"].as_str(), "{at}");
        assert_eq!(h.cpus, v["cpus"].as_u64().unwrap(), "{at}");
        assert_eq!(h.memory, v["memory_mib"].as_u64().unwrap() << 20, "{at}");
        let fw = match v["firmware"].as_str() {
            Some("efi") => Some("uefi"),
            Some("bios") => Some("bios"),
            _ => None,
        };
        assert_eq!(h.firmware.as_deref(), fw, "{at}");
        let want: Vec<(String, String, Option<String>)> = v["drives"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&h.drives)
            .map(|(d, hd)| {
                (
                    d[0].as_str().unwrap().to_string(),
                    // A controller the spec does not add (key 200/201, the
                    // IDE channels every VM has) is not in pyVmomi's list.
                    d[1].as_str()
                        .unwrap_or(if hd.1 == "ide" { "ide" } else { "?" })
                        .to_string(),
                    d[2].as_str().map(path),
                )
            })
            .collect();
        assert_eq!(
            h.drives.len(),
            v["drives"].as_array().unwrap().len(),
            "{at}"
        );
        assert_eq!(h.drives, want, "{at}");
        let macs: Vec<String> = v["macs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect();
        assert_eq!(h.macs, macs, "{at}");
    }
}

/// OVF descriptors others wrote (VMware's appliances and OVF Tool's test
/// files, VirtualBox exports, virt-v2v's and govmomi's fixtures), read by
/// hvxform and by the Common OVF Tool's model: vCPUs, memory, NICs, disks
/// and CD-ROMs agree for every descriptor of one VirtualSystem COT reads.
/// COT refuses several ProductSections in one VirtualSystem (VMware's
/// appliances have them), so it is given the descriptor without them (no
/// hardware comes from one). One documented difference: a descriptor
/// that declares no CPU or memory is 0 to COT, and hvxform assumes 1 vCPU
/// and 1 GiB with a warning saying so.
#[test]
fn ovf_readers_agree_with_cot_on_descriptors_others_wrote() {
    let Some(py) = python() else {
        return;
    };
    let files = corpus_ovfs();
    // COT exits 1 for the descriptors it cannot read (listed on stderr);
    // the others are on stdout, one JSON object each.
    let o = Command::new(&py)
        .arg(root().join("tests/validators/ovf_check.py"))
        .arg("--without-product-sections")
        .args(&files)
        .output()
        .unwrap();
    let dir = temp_dir("eco-ovf-cot");
    let mut compared = 0;
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let f = std::path::PathBuf::from(v["file"].as_str().unwrap());
        let out = dir.join(format!("{compared}"));
        let r = run(&[
            "transform",
            f.to_str().unwrap(),
            "--to",
            "hvx",
            "-o",
            out.to_str().unwrap(),
            "-v",
        ]);
        assert_eq!(r.status.code(), Some(0), "{}: {}", f.display(), stderr(&r));
        let docs = file_names(&out);
        if docs.len() != 1 {
            continue;
        }
        let h = hub_facts(&std::fs::read_to_string(out.join(&docs[0])).unwrap());
        let at = f.display();
        // COT's 0 for what the descriptor does not declare; hvxform's
        // assumption, with a warning naming it.
        let agree = |hub: u64, key: &str, assumed: u64, what: &str| {
            if v[key] == 0 {
                assert_eq!(hub, assumed, "{at}");
                assert!(stderr(&r).contains(what), "{at}: {}", stderr(&r));
            } else {
                assert_eq!(hub, v[key].as_u64().unwrap(), "{at}");
            }
        };
        agree(h.cpus, "cpus", 1, "declares no CPU");
        agree(h.memory, "memory_bytes", 1 << 30, "declares no memory");
        assert_eq!(h.nics as u64, v["nics"].as_u64().unwrap(), "{at}");
        let kind = |k: &str| h.drives.iter().filter(|d| d.0 == k).count() as u64;
        assert_eq!(kind("disk"), v["disks"].as_u64().unwrap(), "{at}");
        assert_eq!(kind("cdrom"), v["cdroms"].as_u64().unwrap(), "{at}");
        compared += 1;
    }
    assert!(compared >= 35, "{compared} descriptors compared");
}

/// What VirtualBox's own OVF export says of the VM in `vbox:Machine`, read
/// here with roxmltree: its UUID (braces off), the MACs of its enabled
/// adapters (as libvirt writes them) and its RTC.
fn vbox_machine(text: &str) -> (String, Vec<String>, String) {
    let d = roxmltree::Document::parse(text).unwrap();
    let m = d
        .descendants()
        .find(|n| n.has_tag_name(("http://www.virtualbox.org/ovf/machine", "Machine")))
        .unwrap();
    let uuid = m
        .attribute("uuid")
        .unwrap()
        .trim_matches(['{', '}'])
        .to_string();
    let macs = m
        .descendants()
        .filter(|n| n.tag_name().name() == "Adapter" && n.attribute("enabled") == Some("true"))
        .map(|n| {
            let h = n.attribute("MACAddress").unwrap().to_ascii_lowercase();
            (0..6)
                .map(|i| &h[2 * i..2 * i + 2])
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect();
    let rtc = m
        .descendants()
        .find(|n| n.tag_name().name() == "RTC")
        .and_then(|n| n.attribute("localOrUTC"))
        .unwrap_or("")
        .to_string();
    (uuid, macs, rtc)
}

/// The UUID as a guest reads it from SMBIOS when its first three fields'
/// bytes are in network order (what VirtualBox writes without
/// SmbiosUuidLittleEndian).
fn byte_swapped(u: &str) -> String {
    let f: Vec<&str> = u.split('-').collect();
    let rev = |s: &str| {
        (0..s.len() / 2)
            .rev()
            .map(|i| &s[2 * i..2 * i + 2])
            .collect::<String>()
    };
    format!(
        "{}-{}-{}-{}-{}",
        rev(f[0]),
        rev(f[1]),
        rev(f[2]),
        f[3],
        f[4]
    )
}

/// OVFs VirtualBox exported (its own test suite's): the VM's UUID, its
/// MACs and its clock come from `vbox:Machine`, VirtualBox's configuration
/// of the VM, where the OVF proper has none, and libvirt accepts the
/// domain with them. The guest of such an old VM read its UUID
/// byte-swapped: a warning says so and `--param vbox_guest_uuid=true`
/// gives the target that UUID. Firmware and TPM (VirtualBox 7) are read
/// from a variant of the same export.
#[test]
fn virtualbox_exports_keep_uuid_macs_clock_and_firmware() {
    let dir = temp_dir("eco-vbox");
    for name in ["winxp-sharedfolders.ovf", "WinXP-audio-nodisks.ovf"] {
        let f = root().join("tests/corpus/virtualbox-ovf").join(name);
        let text = std::fs::read_to_string(&f).unwrap();
        let (uuid, macs, rtc) = vbox_machine(&text);
        assert!(!macs.is_empty() && rtc == "local", "{name}");
        let o = run(&["transform", f.to_str().unwrap(), "--to", "kvm", "-v"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(&byte_swapped(&uuid)) && e.contains("vbox_guest_uuid"),
            "{name}: {e}"
        );
        // Its NIC is on VirtualBox's NAT, which names no network elsewhere.
        assert!(
            e.contains(&format!("nic {}: on VirtualBox's NAT attachment", macs[0])),
            "{name}: {e}"
        );
        let mut kvm = stdout(&o);
        if tool("virsh").is_some() {
            kvm = virsh_dump(&write_tmp(&dir, "vbox.xml", &kvm), &domain_name(&kvm));
        }
        let d = roxmltree::Document::parse(&kvm).unwrap();
        let text_of = |t: &str| {
            d.descendants()
                .find(|n| n.has_tag_name(t))
                .and_then(|n| n.text())
        };
        assert_eq!(text_of("uuid"), Some(uuid.as_str()), "{name}");
        let got: Vec<&str> = d
            .descendants()
            .filter(|n| n.has_tag_name("mac"))
            .filter_map(|n| n.attribute("address"))
            .collect();
        assert_eq!(got, macs, "{name}");
        let clock = d.descendants().find(|n| n.has_tag_name("clock")).unwrap();
        assert_eq!(clock.attribute("offset"), Some("localtime"), "{name}");

        let o = run(&[
            "transform",
            f.to_str().unwrap(),
            "--to",
            "kvm",
            "--param",
            "vbox_guest_uuid=true",
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("<uuid>{}</uuid>", byte_swapped(&uuid))),
            "{name}"
        );
    }

    // VirtualBox 7: EFI, a TPM 2.0, and a guest that reads its UUID as
    // written (SmbiosUuidLittleEndian).
    let text =
        std::fs::read_to_string(root().join("tests/corpus/virtualbox-ovf/winxp-sharedfolders.ovf"))
            .unwrap();
    let v7 = text.replacen(
        "<BIOS>",
        "<Firmware type=\"EFI\"/>\n        <TrustedPlatformModule type=\"v2_0\"/>\n        <BIOS>\n          <SmbiosUuidLittleEndian enabled=\"true\"/>",
        1,
    );
    let f = write_tmp(&dir, "v7.ovf", &v7);
    let o = run(&["transform", f.to_str().unwrap(), "--to", "hvx", "-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hub = stdout(&o);
    assert!(
        hub.contains(r#"<firmware type="uefi"/>"#) && hub.contains(r#"<tpm version="2.0"/>"#),
        "{hub}"
    );
    assert!(!stderr(&o).contains("byte-swapped"), "{}", stderr(&o));
    let o = run(&["transform", f.to_str().unwrap(), "--to", "kvm", "-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kvm = stdout(&o);
    assert!(
        kvm.contains(r#"firmware="efi""#) && kvm.contains("<tpm"),
        "{kvm}"
    );
    if tool("virsh").is_some() {
        virsh_dump(&write_tmp(&dir, "v7.xml", &kvm), &domain_name(&kvm));
    }
}

/// VirtualBox's importer prefers `vbox:Machine` to the OVF's items, so a
/// VM changed on the way (memory on KVM here, a MAC in the hub) must not
/// go back with its old Machine section: it is left out with a warning
/// naming the change. Unchanged, it goes back as it was, through the hub
/// alone as through KVM.
#[test]
fn a_stale_virtualbox_machine_section_is_not_written_back() {
    let dir = temp_dir("eco-vbox-stale");
    let f = root().join("tests/corpus/virtualbox-ovf/winxp-sharedfolders.ovf");
    let original = std::fs::read_to_string(&f).unwrap();
    let kvm = stdout(&run(&[
        "transform",
        f.to_str().unwrap(),
        "--to",
        "kvm",
        "-v",
    ]));
    let back = |input: &std::path::Path| {
        let o = run(&["transform", input.to_str().unwrap(), "--to", "ovf", "-v"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        (stdout(&o), stderr(&o))
    };
    let (same, _) = back(&write_tmp(&dir, "same.xml", &kvm));
    assert_eq!(same, original);
    let changed = kvm.replace(
        "<memory unit=\"KiB\">916480</memory>",
        "<memory unit=\"KiB\">2097152</memory>",
    );
    assert_ne!(changed, kvm);
    let (ovf, e) = back(&write_tmp(&dir, "changed.xml", &changed));
    assert!(!ovf.contains("Machine"), "{ovf}");
    assert!(
        e.contains("vbox:Machine") && e.contains("memory (895 MiB → 2048 MiB)"),
        "{e}"
    );

    let hub = stdout(&run(&[
        "transform",
        f.to_str().unwrap(),
        "--to",
        "hvx",
        "-v",
    ]));
    let (ovf, e) = back(&write_tmp(&dir, "hub.hvx.xml", &hub));
    assert!(
        ovf.contains("<vbox:Machine") && ovf.contains("MACAddress=\"080027F1086C\""),
        "{ovf}"
    );
    assert!(!e.contains("vbox:Machine"), "{e}");
    let moved = hub.replace("08:00:27:f1:08:6c", "52:54:00:12:34:56");
    assert_ne!(moved, hub);
    let (ovf, e) = back(&write_tmp(&dir, "moved.hvx.xml", &moved));
    assert!(!ovf.contains("Machine"), "{ovf}");
    assert!(e.contains("a NIC's MAC address changed"), "{e}");
    // A carried section's values are compared, never parsed: a hostile one
    // is a change, not an error.
    let hostile = hub.replace(
        r#"CPU count="1" hotplug="false""#,
        r#"CPU count="lots" hotplug="false""#,
    );
    assert_ne!(hostile, hub);
    let (ovf, e) = back(&write_tmp(&dir, "hostile.hvx.xml", &hostile));
    assert!(!ovf.contains("Machine"), "{ovf}");
    assert!(e.contains("vCPUs (lots → 1) changed"), "{e}");
}

/// Sound cards VMware emulates are OVF items (ResourceType 35) that the OVF
/// reader, COT and VirtualBox's importer read, not a loss: Intel HDA as
/// `vmware.soundcard.hdaudio`, QEMU's ES1370 as the ES1371 with a warning;
/// AC97, which VMware lacks, is not written, with a warning.
#[test]
fn ovf_keeps_the_sound_cards_vmware_emulates() {
    let dir = temp_dir("eco-ovf-sound");
    let hub = stdout(&run(&[
        "transform",
        "samples/kvm/win-uefi.xml",
        "--to",
        "hvx",
    ]));
    assert!(hub.contains(r#"<sound model="ich9">"#), "{hub}");
    for (model, subtype, back, warned) in [
        ("ich9", "vmware.soundcard.hdaudio", Some("ich6"), false),
        (
            "es1370",
            "vmware.soundcard.ensoniq1371",
            Some("es1371"),
            true,
        ),
        ("ac97", "", None, false),
    ] {
        let h = write_tmp(
            &dir,
            &format!("{model}.hvx.xml"),
            &hub.replace(
                r#"<sound model="ich9">"#,
                &format!(r#"<sound model="{model}">"#),
            ),
        );
        let o = run(&["transform", h.to_str().unwrap(), "--to", "ovf", "-v"]);
        assert_eq!(o.status.code(), Some(0), "{model}: {}", stderr(&o));
        let ovf = stdout(&o);
        let d = roxmltree::Document::parse(&ovf).unwrap();
        let sound: Vec<&str> = d
            .descendants()
            .filter(|n| n.tag_name().name() == "ResourceType" && n.text() == Some("35"))
            .filter_map(|n| {
                n.parent()?
                    .children()
                    .find(|c| c.tag_name().name() == "ResourceSubType")?
                    .text()
            })
            .collect();
        let e = stderr(&o);
        assert_eq!(
            e.contains("the nearest card VMware emulates"),
            warned,
            "{model}: {e}"
        );
        match back {
            Some(back) => {
                assert_eq!(sound, [subtype], "{model}");
                let f = write_tmp(&dir, &format!("{model}.ovf"), &ovf);
                let r = stdout(&run(&[
                    "transform",
                    f.to_str().unwrap(),
                    "--to",
                    "hvx",
                    "--no-carry",
                ]));
                assert!(
                    r.contains(&format!(r#"<sound model="{back}">"#)),
                    "{model}: {r}"
                );
            }
            None => {
                assert!(sound.is_empty(), "{model}");
                assert!(e.contains("sound card ac97 not written"), "{model}: {e}");
            }
        }
    }
}
