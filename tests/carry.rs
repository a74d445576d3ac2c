//! Carried data (book: The hub, "Carried data"): what vSphere cannot model
//! travels in `extraConfig` `hvx.carry.*` and comes back, exact where the VM
//! was not changed in vSphere, with vSphere's changes winning where it was.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn transform(input: &Path, target: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "transform",
        input.to_str().unwrap(),
        "--to",
        target,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// `transform INPUT --to TARGET -o DIR`, which must succeed: its main
/// (not JSON) document.
fn converted(input: &Path, target: &str, dir: &Path) -> PathBuf {
    let o = transform(input, target, dir, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: {}",
        input.display(),
        stderr(&o)
    );
    main_document(dir)
}

/// The document of an output directory (EC2's requests beside it are JSON).
fn main_document(dir: &Path) -> PathBuf {
    let name = file_names(dir)
        .into_iter()
        .find(|n| !n.ends_with(".json"))
        .unwrap();
    dir.join(name)
}

/// A Hyper-V document (one embedded instance a line) with one property
/// value of the instances of `class` changed, as Hyper-V's tools change it.
fn edit_instances(text: &str, class: &str, from: &str, to: &str) -> String {
    let line = format!("CLASSNAME=\"{class}\"");
    text.lines()
        .map(|l| {
            if l.contains(&line) {
                assert!(l.contains(from), "{l}");
                l.replace(from, to)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of the `element` (`disk`, `interface`) of a domain that holds
/// `needle` (its image, its MAC), up to its end tag.
fn element_with<'a>(xml: &'a str, element: &str, needle: &str) -> &'a str {
    let start = format!("<{element} ");
    xml.split(&format!("</{element}>"))
        .filter_map(|d| d.rfind(&start).map(|at| &d[at..]))
        .find(|d| d.contains(needle))
        .unwrap_or_else(|| panic!("no {element} with {needle} in {xml}"))
}

fn only_file(dir: &Path) -> PathBuf {
    let names = file_names(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(&names[0])
}

/// Every attribute and text of a document, as `path/@name=value` and
/// `path=text` (paths with element positions), for the leaf-fact share.
fn facts(xml: &str) -> Vec<String> {
    fn walk(n: roxmltree::Node, path: &str, out: &mut Vec<String>) {
        let mut seen = std::collections::HashMap::<&str, usize>::new();
        for c in n.children().filter(|c| c.is_element()) {
            let k = seen.entry(c.tag_name().name()).or_default();
            *k += 1;
            let here = format!("{path}/{}[{k}]", c.tag_name().name());
            for a in c.attributes() {
                out.push(format!("{here}/@{}={}", a.name(), a.value()));
            }
            if let Some(t) = c.text().filter(|t| !t.trim().is_empty()) {
                out.push(format!("{here}={}", t.trim()));
            }
            walk(c, &here, out);
        }
    }
    let d = roxmltree::Document::parse(xml).unwrap();
    let mut out = Vec::new();
    walk(d.root(), "", &mut out);
    out
}

/// The platforms whose documents carry the original: all of them.
const CHANNELS: &[&str] = &["vsphere", "vmware", "xen", "ovf", "ec2", "hyperv"];

/// Why a platform refuses a domain, where it rightly does: a documented
/// exception to the 95 % (EC2 boots from an EBS root volume, so a VM
/// without a disk is no EC2 instance).
fn refusal_is_documented(p: &str, err: &str) -> bool {
    p == "ec2" && err.contains("the VM has no disk: an EC2 instance boots from an EBS root volume")
}

/// kvm → P → kvm with a session store, for every platform P with a channel,
/// over the samples and the libvirt corpus: after libvirt's normalisation
/// (`virsh define` + `dumpxml`) identical to the original. A domain P
/// refuses (exit 1, with its reason) is counted against the 95 %.
#[test]
fn kvm_through_every_platform_and_back_is_identical_after_libvirt_normalisation() {
    if tool("virsh").is_none() {
        return;
    }
    let inputs = kvm_inputs();
    assert!(inputs.len() >= 50, "{} inputs", inputs.len());
    for p in CHANNELS {
        let (mut identical, mut facts_kept, mut facts_all) = (0, 0, 0);
        let (mut differ, mut refused, mut exceptions) = (Vec::new(), Vec::new(), Vec::new());
        for (k, s) in inputs.iter().enumerate() {
            let dir = temp_dir(&format!("carry-rt-{p}-{k}"));
            let store = dir.join("store.yaml");
            let st = ["--session", store.to_str().unwrap()];
            let o = transform(s, p, &dir.join("there"), &st);
            if o.status.code() == Some(1) {
                let why = format!("{}: {}", s.display(), stderr(&o).trim());
                if refusal_is_documented(p, &why) {
                    exceptions.push(why);
                } else {
                    refused.push(why);
                }
                continue;
            }
            assert_eq!(o.status.code(), Some(0), "{}: {}", s.display(), stderr(&o));
            let there = main_document(&dir.join("there"));
            let o = transform(
                &there,
                "kvm",
                &dir.join("back"),
                &[&st[..], &["-v"]].concat(),
            );
            assert_eq!(o.status.code(), Some(0), "{}: {}", s.display(), stderr(&o));
            assert!(
                !stderr(&o).contains("carried data not restored"),
                "{}: {}",
                s.display(),
                stderr(&o)
            );
            let back = only_file(&dir.join("back"));
            let name = domain_name(&std::fs::read_to_string(s).unwrap());
            let (a, b) = (virsh_dump(s, &name), virsh_dump(&back, &name));
            let (fa, fb) = (facts(&a), facts(&b));
            facts_all += fa.len();
            facts_kept += fa.iter().filter(|f| fb.contains(f)).count();
            if a == b {
                identical += 1;
            } else {
                differ.push(s.display().to_string());
            }
        }
        let share = 100.0 * facts_kept as f64 / facts_all.max(1) as f64;
        // The share of the domains the platform can hold.
        let held = inputs.len() - exceptions.len();
        eprintln!(
            "kvm → {p} → kvm: {identical} of {held} identical ({} refused by {p} with a documented reason, {} without), {share:.1} % of leaf facts kept",
            exceptions.len(),
            refused.len()
        );
        for r in &refused {
            eprintln!("  refused: {r}");
        }
        assert!(
            differ.is_empty(),
            "{p}: {} differ after libvirt's normalisation: {differ:?}",
            differ.len()
        );
        assert!(
            identical * 100 >= held * 95 && held * 100 >= inputs.len() * 50,
            "{p}: {identical} of {held} identical: {refused:?}",
        );
    }
}

/// Every bundled sample of every platform through each platform with a
/// channel and back is the sample again, byte for byte (`.vmx` comments,
/// a hand-written DefineSystem and all): what converting it to its own
/// platform gives, which is the sample itself when it is in the form the
/// platform writes, and that form for one it is only read in (WMI's
/// instances of a Hyper-V VM come home as a DefineSystem request).
#[test]
fn every_sample_through_every_platform_with_a_channel_and_back_is_byte_identical() {
    let mut count = 0;
    let mut as_read = 0;
    for (platform, sample) in vm_samples() {
        let own_dir = temp_dir(&format!("carry-home-{platform}-own-{count}"));
        let own = std::fs::read(converted(&sample, &platform, &own_dir)).unwrap();
        let original = std::fs::read(&sample).unwrap();
        // A form vSphere or Hyper-V is read in, not written, comes home in
        // the written form; any other sample comes home as itself (EC2's
        // own conversion rewrites the response, its way home does not).
        let read_form = matches!(platform.as_str(), "vsphere" | "hyperv") && own != original;
        let want = if read_form { own } else { original };
        if !read_form {
            as_read += 1;
        }
        for q in ["kvm", "vsphere", "vmware", "xen", "ovf", "ec2", "hyperv"] {
            if q == platform {
                continue;
            }
            let dir = temp_dir(&format!("carry-home-{platform}-{q}-{count}"));
            let there = converted(&sample, q, &dir.join("there"));
            let back = converted(&there, &platform, &dir.join("back"));
            assert!(
                std::fs::read(&back).unwrap() == want,
                "{} → {q} → {platform} is not the sample in {platform}'s form",
                sample.display()
            );
            count += 1;
        }
    }
    assert!(count >= 120, "{count} round trips");
    // All but the Hyper-V samples recorded as WMI instances are in the
    // form their platform writes.
    assert!(
        as_read + 2 >= vm_samples().len(),
        "{as_read} samples as read"
    );
}

/// Memory and CPU count changed on the intermediate platform: the changes
/// win, the rest comes back, and the report names what no longer applied.
#[test]
fn changes_on_each_platform_win_over_what_was_carried() {
    let web = root().join("samples/kvm/web.xml");
    for (p, from, to) in [
        (
            "vmware",
            "memsize = \"2048\"\nnumvcpus = \"2\"",
            "memsize = \"4096\"\nnumvcpus = \"4\"",
        ),
        (
            "xen",
            "memory = 2048\nvcpus = 2",
            "memory = 4096\nvcpus = 4",
        ),
        (
            "vsphere",
            "<memoryMB>2048</memoryMB>",
            "<memoryMB>4096</memoryMB>",
        ),
        (
            "ovf",
            "<rasd:VirtualQuantity>2048</rasd:VirtualQuantity>",
            "<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>",
        ),
        (
            // The memory instance, escaped inside DefineSystem's CIM-XML.
            "hyperv",
            "Memory&lt;/VALUE&gt;&lt;/PROPERTY&gt;&lt;PROPERTY NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;2048&lt;",
            "Memory&lt;/VALUE&gt;&lt;/PROPERTY&gt;&lt;PROPERTY NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;4096&lt;",
        ),
    ] {
        let dir = temp_dir(&format!("carry-change-{p}"));
        let o = transform(&web, p, &dir.join("there"), &[]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stderr(&o));
        let there = only_file(&dir.join("there"));
        let text = std::fs::read_to_string(&there).unwrap();
        assert!(text.contains(from), "{p}: {text}");
        let edited = dir.join(there.file_name().unwrap());
        std::fs::write(&edited, text.replacen(from, to, 1)).unwrap();
        let o = transform(&edited, "kvm", &dir.join("back"), &["-v"]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stderr(&o));
        let err = stderr(&o);
        let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
        assert!(
            back.contains("<memory unit=\"KiB\">4194304</memory>"),
            "{p}: {back}"
        );
        // What the package held of the memory and the platform did not is
        // dropped with a warning (Hyper-V's Notes hold all of it: nothing
        // to drop).
        assert!(
            p == "hyperv" || err.contains("carried memory not restored"),
            "{p}: {err}"
        );
        if p == "vmware" || p == "xen" {
            assert!(back.contains(">4</vcpu>"), "{p}: {back}");
        }
        // What the platform cannot hold came back.
        assert!(
            back.contains("<memballoon model=\"virtio\">"),
            "{p}: {back}"
        );
        assert!(
            back.contains("<timer name=\"rtc\" tickpolicy=\"catchup\"/>"),
            "{p}: {back}"
        );
    }
}

/// A bigger instance type chosen in EC2 (t3.small → t3.xlarge): its vCPUs
/// and memory win, the rest of the domain comes back from the tags.
#[test]
fn an_instance_type_changed_in_ec2_wins_over_what_was_carried() {
    let web = root().join("samples/kvm/web.xml");
    let dir = temp_dir("carry-change-ec2");
    let there = converted(&web, "ec2", &dir.join("there"));
    let text = std::fs::read_to_string(&there).unwrap();
    let (from, to) = (
        "<instanceType>t3.small</instanceType>",
        "<instanceType>t3.xlarge</instanceType>",
    );
    assert!(text.contains(from), "{text}");
    assert!(text.contains("<key>hvxform:carry:0</key>"), "{text}");
    let edited = dir.join("web.ec2.xml");
    std::fs::write(&edited, text.replacen(from, to, 1)).unwrap();
    let o = transform(&edited, "kvm", &dir.join("back"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("carried memory not restored: it was changed or removed in ec2"),
        "{}",
        stderr(&o)
    );
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(
        back.contains("<memory unit=\"KiB\">16777216</memory>"),
        "{back}"
    );
    assert!(back.contains(">4</vcpu>"), "{back}");
    // What EC2 cannot hold came back, the tags' blob not with it.
    assert!(back.contains("<memballoon model=\"virtio\">"), "{back}");
    assert!(
        back.contains("<timer name=\"rtc\" tickpolicy=\"catchup\"/>"),
        "{back}"
    );
    assert!(!back.contains("hvxform:carry"), "{back}");
}

/// The carried tags are in the RunInstances request too (the instance it
/// creates carries them), within EC2's 50 tags of 256 characters; a
/// package that does not fit is a warning, and the conversion still runs.
#[test]
fn ec2_tags_carry_the_original_within_ec2_limits() {
    let web = root().join("samples/kvm/web.xml");
    let dir = temp_dir("carry-ec2-tags");
    let o = transform(&web, "ec2", &dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("web.ec2.run-instances.json")).unwrap(),
    )
    .unwrap();
    let tags = run["TagSpecifications"][0]["Tags"].as_array().unwrap();
    let carried: Vec<&str> = tags
        .iter()
        .filter(|t| t["Key"].as_str().unwrap().starts_with("hvxform:carry:"))
        .map(|t| t["Value"].as_str().unwrap())
        .collect();
    assert!(!carried.is_empty() && tags.len() <= 50, "{tags:?}");
    assert!(carried.iter().all(|v| v.len() <= 256), "{carried:?}");
    // Every character is one every AWS service takes in a tag value.
    assert!(carried.iter().all(|v| v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))));
    // The same values as the response's tags.
    let xml = std::fs::read_to_string(dir.join("web.ec2.xml")).unwrap();
    for v in &carried {
        assert!(xml.contains(&format!("<value>{v}</value>")), "{v}");
    }

    // A domain whose package needs more tags than EC2 allows: not carried,
    // with the reason; converted all the same.
    let big = dir.join("big.xml");
    let text = std::fs::read_to_string(&web).unwrap();
    let noise: String = (0..4000u32)
        .map(|i| format!("{:08x}", i.wrapping_mul(2654435761)))
        .collect();
    std::fs::write(
        &big,
        text.replacen("<description>", &format!("<description>{noise} "), 1),
    )
    .unwrap();
    let o = transform(&big, "ec2", &dir.join("big"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the original is not carried: it needs")
            && stderr(&o).contains("EC2 allows 50"),
        "{}",
        stderr(&o)
    );
    let xml = std::fs::read_to_string(dir.join("big/big.ec2.xml")).unwrap();
    assert!(!xml.contains("hvxform:carry"));
}

/// The ConfigSpec of `samples/kvm/win-uefi.xml` as hvxform writes it, with
/// the changes an administrator makes in vSphere: memory 8 → 16 GiB, 4 → 8
/// vCPUs, the NIC removed, a data disk added.
fn changed_in_vsphere(dir: &Path) -> PathBuf {
    let o = transform(
        &root().join("samples/kvm/win-uefi.xml"),
        "vsphere",
        dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = std::fs::read_to_string(dir.join("win-uefi.vsphere.xml")).unwrap();
    let mut s = spec
        .replace("<memoryMB>8192</memoryMB>", "<memoryMB>16384</memoryMB>")
        .replace("<numCPUs>4</numCPUs>", "<numCPUs>8</numCPUs>");
    let nic = s.find("VirtualE1000e").expect("the sample's NIC");
    let start = s[..nic].rfind("  <deviceChange>").unwrap();
    let end = nic + s[nic..].find("</deviceChange>\n").unwrap() + "</deviceChange>\n".len();
    s.replace_range(start..end, "");
    let disk = r#"  <deviceChange>
    <operation>add</operation>
    <device xsi:type="VirtualDisk">
      <key>-2209</key>
      <backing xsi:type="VirtualDiskFlatVer2BackingInfo">
        <fileName>[datastore1] win-uefi/data.vmdk</fileName>
        <diskMode>persistent</diskMode>
      </backing>
      <controllerKey>-150</controllerKey>
      <unitNumber>2</unitNumber>
      <capacityInKB>1048576</capacityInKB>
    </device>
  </deviceChange>
"#;
    let at = s.find("  <extraConfig>").unwrap();
    s.insert_str(at, disk);
    let p = dir.join("changed.xml");
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn changes_made_in_vsphere_win_and_the_report_says_what_was_dropped() {
    let dir = temp_dir("carry-changed");
    let changed = changed_in_vsphere(&dir.join("there"));
    let o = transform(&changed, "kvm", &dir.join("back"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    for what in [
        "carried memory",
        "carried cpu",
        "carried nic 52:54:00:c8:21:9f",
    ] {
        assert!(
            err.contains(&format!("{what} not restored")),
            "{what}: {err}"
        );
    }
    // The two disks vSphere kept come back as libvirt had them.
    assert!(!err.contains("carried disk"), "{err}");
    let xml = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    let d = roxmltree::Document::parse(&xml).unwrap();
    let text = |name: &str| {
        d.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_string)
    };
    assert_eq!(text("memory").as_deref(), Some("16777216"));
    assert_eq!(text("vcpu").as_deref(), Some("8"));
    assert!(
        !d.descendants().any(|n| n.has_tag_name("interface")),
        "{xml}"
    );
    let disks: Vec<_> = d.descendants().filter(|n| n.has_tag_name("disk")).collect();
    assert_eq!(disks.len(), 3, "{xml}");
    // Restored from the original: the cache mode and boot order vSphere
    // cannot hold; the new disk is vSphere's.
    let cache = |n: roxmltree::Node| {
        n.children()
            .find(|c| c.has_tag_name("driver"))
            .and_then(|d| d.attribute("cache"))
            .map(str::to_string)
    };
    assert_eq!(cache(disks[0]).as_deref(), Some("writeback"), "{xml}");
    assert!(disks[0].children().any(|c| c.has_tag_name("boot")), "{xml}");
    let source = |n: roxmltree::Node| {
        n.children()
            .find(|c| c.has_tag_name("source"))
            .and_then(|s| s.attribute("file"))
            .unwrap()
            .to_string()
    };
    assert!(source(disks[2]).ends_with("win-uefi/data.vmdk"), "{xml}");
    // What vSphere cannot model at all comes back too (the TPM's emulator).
    assert!(d.descendants().any(|n| n.has_tag_name("tpm")), "{xml}");
}

#[test]
fn no_carry_writes_nothing_extra_and_restores_nothing() {
    let dir = temp_dir("carry-none");
    let web = root().join("samples/kvm/web.xml");
    let o = transform(&web, "vsphere", &dir.join("plain"), &["--no-carry"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plain = std::fs::read_to_string(only_file(&dir.join("plain"))).unwrap();
    assert!(!plain.contains("hvx.carry."), "{plain}");
    let o = transform(&web, "vsphere", &dir.join("carried"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = only_file(&dir.join("carried"));
    let carried = std::fs::read_to_string(&spec).unwrap();
    assert!(carried.contains("<key>hvx.carry.0</key>"), "{carried}");
    // Without it, the way back is vSphere's alone: no memballoon.
    let o = transform(&spec, "kvm", &dir.join("back"), &["--no-carry"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(!back.contains("memballoon"), "{back}");
    let o = transform(&spec, "kvm", &dir.join("restored"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let restored = std::fs::read_to_string(only_file(&dir.join("restored"))).unwrap();
    assert!(restored.contains("memballoon"), "{restored}");
}

#[test]
fn secrets_are_not_carried_unless_kept() {
    let dir = temp_dir("carry-secret");
    let input = web_with(
        &dir.join("vnc.xml"),
        "<graphics type='vnc'",
        "<graphics type='vnc' passwd='s3cr3t-vnc'",
    );
    let o = transform(&input, "vsphere", &dir.join("a"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = only_file(&dir.join("a"));
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("hvx.carry.0"), "{text}");
    assert!(!text.contains("s3cr3t-vnc"), "{text}");
    // What was carried is still the rest of the domain.
    let o = transform(&spec, "kvm", &dir.join("back"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(back.contains("<graphics type=\"vnc\""), "{back}");
    assert!(!back.contains("s3cr3t-vnc"), "{back}");
    let o = transform(&input, "vsphere", &dir.join("kept"), &["--keep-secrets"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kept = std::fs::read_to_string(only_file(&dir.join("kept"))).unwrap();
    assert!(kept.contains("s3cr3t-vnc"), "{kept}");
}

#[test]
fn a_secret_text_node_is_not_carried() {
    // A mapping author's `secret title/text();` (the shipped mappings
    // name attributes and elements): the text is left out of what is
    // carried as it is left out of copies.
    let dir = temp_dir("carry-secret-text");
    let maps = dir.join("mappings");
    copy_dir(&root().join("mappings"), &maps);
    let m = maps.join("kvm-to-vsphere.hvx");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace(
            "secret devices/graphics/@passwd;",
            "secret devices/graphics/@passwd;\nsecret title/text();",
        ),
    )
    .unwrap();
    let input = web_with(
        &dir.join("titled.xml"),
        "<description>",
        "<title>s3cr3t-title</title>\n  <description>",
    );
    let maps_arg = maps.to_str().unwrap();
    let o = transform(&input, "vsphere", &dir.join("a"), &["--mappings", maps_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = std::fs::read_to_string(only_file(&dir.join("a"))).unwrap();
    assert!(spec.contains("hvx.carry.0"), "{spec}");
    assert!(!spec.contains("s3cr3t-title"), "{spec}");
    // The element itself is carried (only its text is secret).
    assert!(
        spec.contains("<title/>") || spec.contains("<title></title>"),
        "{spec}"
    );
    let o = transform(
        &input,
        "vsphere",
        &dir.join("kept"),
        &["--mappings", maps_arg, "--keep-secrets"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kept = std::fs::read_to_string(only_file(&dir.join("kept"))).unwrap();
    assert!(kept.contains("s3cr3t-title"), "{kept}");
}

/// `samples/kvm/web.xml` with `from` replaced by `to`, written at `path`.
fn web_with(path: &Path, from: &str, to: &str) -> PathBuf {
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    assert!(web.contains(from), "{from}");
    std::fs::write(path, web.replace(from, to)).unwrap();
    path.to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn a_broken_package_is_a_warning_and_the_document_still_converts() {
    let dir = temp_dir("carry-broken");
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("a"),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(only_file(&dir.join("a"))).unwrap();
    assert!(
        text.contains("<key>hvx.carry.1</key>"),
        "a package of several parts"
    );
    // Part 1 lost (an administrator edited extraConfig).
    let at = text.find("<key>hvx.carry.1</key>").unwrap();
    let start = text[..at].rfind("  <extraConfig>").unwrap();
    let end = at + text[at..].find("</extraConfig>\n").unwrap() + "</extraConfig>\n".len();
    let mut broken = text.clone();
    broken.replace_range(start..end, "");
    let p = dir.join("broken.xml");
    std::fs::write(&p, &broken).unwrap();
    let o = transform(&p, "kvm", &dir.join("back"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("carried data not restored: extraConfig hvx.carry.1 is missing"),
        "{}",
        stderr(&o)
    );
    // A package edited by hand (the original's domain type changed): its
    // checksum no longer holds, and it is refused, not restored as if
    // hvxform had written it.
    let edited = text.replacen("<domain type='kvm'>", "<domain type='qemu'>", 1);
    assert_ne!(edited, text, "the carried domain is in the first part");
    let p = dir.join("edited.xml");
    std::fs::write(&p, &edited).unwrap();
    let o = transform(&p, "kvm", &dir.join("edited"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "carried data not restored: the carried data was changed after hvxform wrote it"
        ),
        "{}",
        stderr(&o)
    );
    let back = std::fs::read_to_string(only_file(&dir.join("edited"))).unwrap();
    // The domain vSphere's fields give (the edited original, carried on
    // in the metadata for the way back to vSphere, is not restored).
    assert_eq!(back.lines().nth(1), Some("<domain type=\"kvm\">"), "{back}");
    // A package of another format version: said, not guessed at.
    let p = dir.join("future.xml");
    std::fs::write(&p, text.replace("hvx-carry/1 kvm", "hvx-carry/9 kvm")).unwrap();
    let o = transform(&p, "kvm", &dir.join("future"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not in a format this hvxform reads"),
        "{}",
        stderr(&o)
    );
}

/// Read into the hub (a route of one mapping, whose hub is built as a tree
/// to restore into): a package that cannot be restored leaves the hub as
/// read, written in full, with a warning.
#[test]
fn a_broken_package_read_into_the_hub_leaves_the_hub_as_read() {
    let dir = temp_dir("carry-broken-hub");
    let plain = std::fs::read_to_string(root().join("samples/vmware/web.vmx")).unwrap();
    let p = dir.join("web.vmx");
    std::fs::write(
        &p,
        format!("{plain}hvx.carry.0 = \"hvx-carry/1 garbage\"\n"),
    )
    .unwrap();
    let o = transform(&p, "hvx", &dir.join("a"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("carried data not restored"),
        "{}",
        stderr(&o)
    );
    let got = std::fs::read_to_string(only_file(&dir.join("a"))).unwrap();
    let want = converted(
        &root().join("samples/vmware/web.vmx"),
        "hvx",
        &dir.join("b"),
    );
    assert_eq!(got, std::fs::read_to_string(want).unwrap());
}

/// What was carried goes on through another platform: kvm → vsphere →
/// vsphere (the package kept) → kvm is still the original.
#[test]
fn the_package_survives_a_conversion_back_to_its_own_platform() {
    let dir = temp_dir("carry-same");
    let web = root().join("samples/kvm/web.xml");
    let store = dir.join("store.yaml");
    let st = ["--session", store.to_str().unwrap()];
    assert_eq!(
        transform(&web, "vsphere", &dir.join("a"), &st)
            .status
            .code(),
        Some(0)
    );
    let a = only_file(&dir.join("a"));
    let o = transform(&a, "vsphere", &dir.join("b"), &st);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = only_file(&dir.join("b"));
    let o = transform(&b, "kvm", &dir.join("c"), &st);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Home, unchanged: the original itself.
    assert_eq!(
        std::fs::read_to_string(only_file(&dir.join("c"))).unwrap(),
        std::fs::read_to_string(&web).unwrap()
    );
}

/// A document converted to its own platform, in the form that platform's
/// writer writes, is itself (issue #17, point 5: vsphere → vsphere used to
/// move disks to datastores that do not exist).
#[test]
fn every_sample_converted_to_its_own_platform_is_itself() {
    let mut count = 0;
    for (platform, sample) in vm_samples() {
        let text = std::fs::read_to_string(&sample).unwrap();
        // WMI's instances are a read form: they become a DefineSystem. EC2
        // responses go through the hub, to write the requests beside them,
        // and come back as they were written (not re-indented).
        if platform == "hyperv" && !text.contains("DefineSystem") {
            continue;
        }
        let dir = temp_dir(&format!("carry-same-{platform}-{count}"));
        let out = converted(&sample, &platform, &dir);
        assert!(
            std::fs::read_to_string(&out).unwrap() == text,
            "{} → {platform} is not the sample",
            sample.display()
        );
        count += 1;
    }
    assert!(count >= 19, "{count} samples");
    // An EC2 response the route changes (one instance of two chosen) is
    // written from the hub.
    let dir = temp_dir("carry-same-ec2-chosen");
    let two = root().join("tests/corpus/libcloud-ec2/describe_instances.xml");
    let o = transform(&two, "ec2", &dir, &["--param", "ec2_instance=i-4382922a"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let one = std::fs::read_to_string(main_document(&dir)).unwrap();
    assert!(
        one.contains("i-4382922a") && !one.contains("i-8474834a"),
        "{one}"
    );
    // --via-hub runs the mappings, as before: its report has what they
    // dropped (the sample comes back as it was all the same).
    let dir = temp_dir("carry-same-via-hub");
    let db = root().join("samples/vsphere/db.xml");
    let report = dir.join("report.json");
    let o = transform(
        &db,
        "vsphere",
        &dir.join("out"),
        &["--via-hub", "--report", report.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(
        report.contains("\"mapping\": \"hvx-to-vsphere.hvx\""),
        "{report}"
    );
    assert_eq!(
        std::fs::read(only_file(&dir.join("out"))).unwrap(),
        std::fs::read(&db).unwrap()
    );
    // A ConfigInfo (a read form) becomes a ConfigSpec.
    let dir = temp_dir("carry-same-config-info");
    let info =
        root().join("tests/corpus/vsphere-vim25/test_json_vm_explode_default__20_response.xml");
    let o = transform(&info, "vsphere", &dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = std::fs::read_to_string(only_file(&dir)).unwrap();
    assert!(spec.contains("<VirtualMachineConfigSpec"), "{spec}");
}

/// Everything is mapped, carried or dropped with a reason: every bundled
/// sample converts to every target with `--deny-loss`.
#[test]
fn every_sample_converts_to_every_target_with_deny_loss() {
    let mut count = 0;
    for (platform, sample) in vm_samples() {
        for target in [
            "kvm", "vsphere", "vmware", "xen", "ovf", "hyperv", "ec2", "hvx",
        ] {
            let dir = temp_dir(&format!("carry-deny-{platform}-{target}-{count}"));
            let o = transform(&sample, target, &dir, &["--deny-loss"]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{} → {target}: {}",
                sample.display(),
                stderr(&o)
            );
            count += 1;
        }
    }
    assert!(count >= 160, "{count} conversions");
}

/// Every sample of a platform with a channel, sent to KVM, given 4 GiB of
/// memory there (6 GiB when it had 4) and sent home, converts with --deny-loss: what the VM held
/// on KVM that its platform has no form for (libvirt's own `<os>`, `<cpu>`
/// and `<features>`, a boot order written from the hub) is dropped with a
/// reason, not left unmapped.
#[test]
fn every_sample_changed_on_kvm_goes_home_with_deny_loss() {
    let mut count = 0;
    for (platform, sample) in vm_samples() {
        if !["vsphere", "vmware", "xen", "ovf", "hyperv", "ec2"].contains(&platform.as_str()) {
            continue;
        }
        let dir = temp_dir(&format!("carry-deny-changed-{platform}-{count}"));
        let o = transform(&sample, "kvm", &dir.join("kvm"), &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let domain = only_file(&dir.join("kvm"));
        let text = std::fs::read_to_string(&domain).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let memory = doc
            .descendants()
            .find(|n| n.has_tag_name("memory"))
            .unwrap();
        let kib = if memory.text() == Some("4194304") {
            6291456
        } else {
            4194304
        };
        let changed = text.replacen(
            &text[memory.range()],
            &format!("<memory unit=\"KiB\">{kib}</memory>"),
            1,
        );
        assert_ne!(changed, text, "{}", sample.display());
        std::fs::write(&domain, changed).unwrap();
        let o = transform(&domain, &platform, &dir.join("back"), &["--deny-loss"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{} → kvm → {platform}: {}",
            sample.display(),
            stderr(&o)
        );
        count += 1;
    }
    assert!(count >= 15, "{count} conversions");
}

/// A disk added, the NIC removed, memory and CPUs changed in a `.vmx` and
/// an xl.cfg: each change is there on the way back, the disk the platform
/// kept comes back with its libvirt detail, and the report names the
/// carried NIC that no longer applies.
#[test]
fn disks_added_and_nics_removed_on_vmware_and_xen_win_too() {
    let web = root().join("samples/kvm/web.xml");
    for p in ["vmware", "xen"] {
        let dir = temp_dir(&format!("carry-devices-{p}"));
        let o = transform(&web, p, &dir.join("there"), &[]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stderr(&o));
        let there = only_file(&dir.join("there"));
        let text = std::fs::read_to_string(&there).unwrap();
        let edited: String = if p == "vmware" {
            let mut t: String = text
                .lines()
                .filter(|l| !l.starts_with("ethernet0."))
                .map(|l| match l {
                    "memsize = \"2048\"" => "memsize = \"4096\"".to_string(),
                    "numvcpus = \"2\"" => "numvcpus = \"4\"".to_string(),
                    l => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            t.push_str("\nscsi0:1.present = \"TRUE\"\nscsi0:1.deviceType = \"scsi-hardDisk\"\nscsi0:1.fileName = \"/vmfs/volumes/datastore1/web/data.vmdk\"\n");
            t
        } else {
            text.lines()
                .map(|l| {
                    if l.starts_with("vif = ") {
                        "vif = [ ]".to_string()
                    } else if l == "memory = 2048" {
                        "memory = 4096".to_string()
                    } else if l == "vcpus = 2" {
                        "vcpus = 4".to_string()
                    } else if let Some(d) = l.strip_prefix("disk = [ ").and_then(|r| r.strip_suffix(" ]")) {
                        format!("disk = [ {d}, \"format=raw,vdev=xvdb,access=rw,target=/var/lib/xen/images/data.img\" ]")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        };
        assert_ne!(edited, text, "{p}: the edit applies");
        let changed = dir.join(there.file_name().unwrap());
        std::fs::write(&changed, edited).unwrap();
        let o = transform(&changed, "kvm", &dir.join("back"), &["-v"]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("carried nic 52:54:00:3a:7c:11 not restored"),
            "{p}: {err}"
        );
        assert!(err.contains("carried memory not restored"), "{p}: {err}");
        let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
        let d = roxmltree::Document::parse(&back).unwrap();
        assert!(
            !d.descendants().any(|n| n.has_tag_name("interface")),
            "{p}: {back}"
        );
        assert!(
            back.contains("<memory unit=\"KiB\">4194304</memory>"),
            "{p}: {back}"
        );
        assert!(back.contains(">4</vcpu>"), "{p}: {back}");
        let disks: Vec<_> = d.descendants().filter(|n| n.has_tag_name("disk")).collect();
        assert_eq!(disks.len(), 2, "{p}: {back}");
        // The disk the platform kept, as libvirt had it; the new one its own.
        let driver = |n: roxmltree::Node| {
            n.children().find(|c| c.has_tag_name("driver")).map(|c| {
                (
                    c.attribute("cache").map(str::to_string),
                    c.attribute("type").map(str::to_string),
                )
            })
        };
        assert_eq!(
            driver(disks[0]),
            Some((Some("none".into()), Some("qcow2".into()))),
            "{p}: {back}"
        );
        assert_eq!(driver(disks[1]).and_then(|d| d.0), None, "{p}: {back}");
        assert!(
            back.contains("<memballoon model=\"virtio\">"),
            "{p}: {back}"
        );
    }
}

/// Firmware and CPU topology changed on the way (in a `.vmx`): libvirt's
/// carried `<os>` and `<cpu>` give way to the hub's firmware and topology,
/// with a warning, instead of coming back as they were (UEFI with Secure
/// Boot on a VM switched to BIOS; 2 × 4 cores on a VM cut to 4 vCPUs).
#[test]
fn firmware_and_topology_changed_elsewhere_win_over_libvirts_own() {
    let dir = temp_dir("carry-firmware-cpu");
    let cases = [
        (
            "win-uefi.xml",
            "firmware = \"efi\"\n",
            "firmware = \"bios\"\n",
        ),
        ("db.xml", "numvcpus = \"8\"\n", "numvcpus = \"4\"\n"),
        ("db.xml", "memsize = ", "firmware = \"efi\"\nmemsize = "),
    ];
    for (k, (sample, from, to)) in cases.into_iter().enumerate() {
        let there = dir.join(format!("there{k}"));
        let o = transform(
            &root().join("samples/kvm").join(sample),
            "vmware",
            &there,
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let vmx = only_file(&there);
        let text = std::fs::read_to_string(&vmx).unwrap();
        assert!(text.contains(from), "{text}");
        let text = text
            .replacen(from, to, 1)
            .replace("uefi.secureBoot.enabled = \"TRUE\"\n", "");
        std::fs::write(&vmx, text).unwrap();
        let o = transform(&vmx, "kvm", &dir.join(format!("back{k}")), &["-v"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let err = stderr(&o);
        let back = only_file(&dir.join(format!("back{k}")));
        let name = sample.trim_end_matches(".xml");
        let dumped = virsh_dump(&back, name);
        match k {
            0 => {
                assert!(!dumped.contains("firmware='efi'"), "{dumped}");
                assert!(!dumped.contains("<loader"), "{dumped}");
                assert!(!dumped.contains("<nvram"), "{dumped}");
                // The exact machine type stays.
                assert!(dumped.contains("machine='pc-q35-7.2'"), "{dumped}");
                assert!(err.contains("firmware: changed to bios"), "{err}");
            }
            1 => {
                assert!(dumped.contains(">4</vcpu>"), "{dumped}");
                assert!(
                    dumped.contains("<topology sockets='1' dies='1' cores='4' threads='1'/>"),
                    "{dumped}"
                );
                assert!(err.contains("CPU topology: changed to 4 vCPUs"), "{err}");
            }
            _ => {
                assert!(dumped.contains("<os firmware='efi'>"), "{dumped}");
                assert!(err.contains("firmware: changed to uefi"), "{err}");
            }
        }
        assert!(!err.contains("unmapped"), "{err}");
    }
}

/// A NIC moved to another port group in vSphere comes back on it (the
/// connection hvx-to-vsphere carried was for the old one); and a VM from
/// vSphere changed on KVM goes back with its disks where they are
/// (`[datastore1] db-os/db-os.vmdk`), not on datastores minted for the
/// folders of `/vmfs/volumes/...` paths.
#[test]
fn a_port_group_changed_in_vsphere_wins_and_datastores_stay() {
    let dir = temp_dir("carry-vsphere-network");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("there"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = only_file(&dir.join("there"));
    let text = std::fs::read_to_string(&spec).unwrap();
    let from = "<deviceName>backup</deviceName>";
    assert!(text.contains(from), "{text}");
    std::fs::write(&spec, text.replace(from, "<deviceName>prod</deviceName>")).unwrap();
    let o = transform(&spec, "kvm", &dir.join("back"), &["--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(back.contains("<source network=\"prod\"/>"), "{back}");
    assert!(!back.contains("backup"), "{back}");

    let vs = root().join("samples/vsphere/db.xml");
    let original = std::fs::read_to_string(&vs).unwrap();
    let o = transform(&vs, "kvm", &dir.join("kvm"), &["--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let domain = only_file(&dir.join("kvm"));
    let text = std::fs::read_to_string(&domain).unwrap();
    let from = "<memory unit=\"KiB\">33554432</memory>";
    assert!(text.contains(from), "{text}");
    std::fs::write(
        &domain,
        text.replace(from, "<memory unit=\"KiB\">16777216</memory>"),
    )
    .unwrap();
    let o = transform(&domain, "vsphere", &dir.join("vs"), &["--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = std::fs::read_to_string(only_file(&dir.join("vs"))).unwrap();
    assert!(spec.contains("<memoryMB>16384</memoryMB>"), "{spec}");
    let files = |x: &str| -> Vec<String> {
        x.lines()
            .filter(|l| l.contains("<fileName>["))
            .map(|l| l.trim().to_string())
            .collect()
    };
    assert_eq!(files(&spec), files(&original), "{spec}");
    assert!(!stderr(&o).contains("convert the image"), "{}", stderr(&o));
}

/// Changes made on Hyper-V to a VM hvxform defined there: a drive given
/// another image (`Set-VMHardDiskDrive -Path`), an adapter given another
/// MAC, another moved to another switch. Each comes back as Hyper-V has it,
/// and what was carried for them (libvirt's qcow2 disk, the old MAC's
/// `<interface>`, the old network) is dropped, not applied to them.
#[test]
fn devices_changed_on_hyperv_win_over_what_their_notes_carried() {
    let dir = temp_dir("carry-hyperv-devices");
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "hyperv",
        &dir.join("there"),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = only_file(&dir.join("there"));
    let text = std::fs::read_to_string(&doc).unwrap();
    // One line per embedded instance: the Notes (in the VSSD's line) are
    // left as hvx-to-hyperv wrote them, as Hyper-V leaves them.
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            // (A connection's line names its adapter's class too.)
            if l.contains("Msvm_StorageAllocationSettingData") {
                l.replace("db-os.vhdx", "db-os-rebuilt.vhdx")
            } else if l.contains("Msvm_EthernetPortAllocationSettingData") {
                l.replace("Name=\"backup\"", "Name=\"prod\"")
            } else if l.contains("Msvm_SyntheticEthernetPortSettingData")
                || l.contains("Msvm_EmulatedEthernetPortSettingData")
            {
                l.replace("5254005DE001", "00155D0A0B01")
            } else {
                l.to_string()
            }
        })
        .collect();
    let edited = edited.join("\n");
    assert_ne!(edited, text);
    assert!(
        edited.contains("db-os-rebuilt.vhdx"),
        "the image was not replaced"
    );
    assert!(
        edited.contains("prod"),
        "the switch was not changed: {edited}"
    );
    std::fs::write(&doc, edited).unwrap();
    let o = transform(&doc, "kvm", &dir.join("back"), &["-v", "--deny-loss"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(!back.contains("db-os.qcow2"), "{back}");
    assert!(back.contains("db-os-rebuilt"), "{back}");
    assert!(err.contains("its image was changed on Hyper-V"), "{err}");
    // The image was replaced (restored from a backup, say), not the disk:
    // it keeps the boot disk's slot, name and boot order on KVM, and its
    // place first among the devices.
    let dom = roxmltree::Document::parse(&back).unwrap();
    let first = dom
        .descendants()
        .find(|n| n.has_tag_name("devices"))
        .and_then(|d| {
            d.children()
                .find(|n| n.is_element() && !n.has_tag_name("emulator"))
        })
        .unwrap();
    let child = |name: &str, attr: &str| {
        first
            .children()
            .find(|c| c.has_tag_name(name))
            .and_then(|c| c.attribute(attr))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        child("source", "file").ends_with("db-os-rebuilt.qcow2"),
        "{back}"
    );
    assert_eq!(child("target", "dev"), "sda", "{back}");
    assert_eq!(child("target", "bus"), "scsi", "{back}");
    assert_eq!(child("boot", "order"), "1", "{back}");
    assert_eq!(child("address", "unit"), "0", "{back}");
    assert!(back.matches("<boot ").count() == 1, "{back}");
    assert!(!back.contains("52:54:00:5d:e0:01"), "{back}");
    assert!(back.contains("00:15:5d:0a:0b:01"), "{back}");
    // Only the MAC of that adapter changed: it is still the virtio NIC on
    // the host bridge br0 (not a libvirt network `br0`, which does not
    // exist), found by its place.
    let nic = element_with(&back, "interface", "00:15:5d:0a:0b:01");
    assert!(nic.contains("<interface type=\"bridge\">"), "{nic}");
    assert!(nic.contains("<source bridge=\"br0\"/>"), "{nic}");
    assert!(nic.contains("<model type=\"virtio\"/>"), "{nic}");
    assert!(!back.contains("backup"), "{back}");
    assert!(back.contains("prod"), "{back}");
    // What was not changed comes back as it was.
    assert!(
        back.contains("/var/lib/libvirt/images/db-archive.qcow2"),
        "{back}"
    );
}

/// A disk added on Hyper-V to a VM that came from KVM: the KVM VM's own
/// devices come back in their recorded order, and the new disk joins the
/// disks (after the last of them), not the end of `<devices>` after the
/// controllers, NICs and consoles.
#[test]
fn a_disk_added_on_hyperv_comes_back_among_the_disks() {
    let dir = temp_dir("carry-hyperv-added-disk");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "hyperv",
        &dir.join("there"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = only_file(&dir.join("there"));
    let text = std::fs::read_to_string(&doc).unwrap();
    // The data disk on SCSI LUN 1 (a drive and its virtual hard disk, one
    // embedded instance a line) copied to LUN 2 with a new image, as
    // Hyper-V Manager adds a disk.
    let lines: Vec<&str> = text.lines().collect();
    let lun1 = |class: &str, tail: &str| -> (usize, String) {
        let i = lines
            .iter()
            .position(|l| {
                l.contains(&format!("CLASSNAME=\"{class}\""))
                    && l.contains("ResourceType")
                    && l.contains(&format!("\\0\\1\\{tail}&lt;"))
            })
            .unwrap_or_else(|| panic!("no {class} at LUN 1 in {text}"));
        (i, lines[i].to_string())
    };
    let (_, drive) = lun1("Msvm_ResourceAllocationSettingData", "D");
    let (at, disk) = lun1("Msvm_StorageAllocationSettingData", "L");
    let controller = drive.split("\\0\\1\\D").next().unwrap();
    let controller = &controller[controller.rfind('\\').unwrap() + 1..];
    let drive = drive.replace("\\0\\1\\D", "\\0\\2\\D").replace(
        "AddressOnParent\" TYPE=\"string\"&gt;&lt;VALUE&gt;1&lt;",
        "AddressOnParent\" TYPE=\"string\"&gt;&lt;VALUE&gt;2&lt;",
    );
    assert!(drive.contains("VALUE&gt;2&lt;"), "{drive}");
    let disk = disk
        .replace("\\0\\1\\", "\\0\\2\\")
        .replace("\\\\0\\\\1\\\\", "\\\\0\\\\2\\\\")
        .replace("db-archive.vhdx", "db-added.vhdx");
    assert!(
        disk.contains("db-added.vhdx") && !disk.contains("\\0\\1\\"),
        "{disk}"
    );
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited.insert(at + 1, disk);
    edited.insert(at + 1, drive);
    std::fs::write(&doc, edited.join("\n")).unwrap();
    let o = transform(&doc, "kvm", &dir.join("back"), &["--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    let dom = roxmltree::Document::parse(&back).unwrap();
    let devices = dom
        .descendants()
        .find(|n| n.has_tag_name("devices"))
        .unwrap();
    // Each device as its element name and, for disks, its image.
    let order: Vec<String> = devices
        .children()
        .filter(|n| n.is_element())
        .map(|n| {
            let file = n
                .children()
                .find(|c| c.has_tag_name("source"))
                .and_then(|c| c.attribute("file").or(c.attribute("dev")))
                .unwrap_or("");
            format!("{} {file}", n.tag_name().name())
        })
        .collect();
    let disks: Vec<usize> = (0..order.len())
        .filter(|&i| order[i].starts_with("disk "))
        .collect();
    assert_eq!(disks.len(), 5, "{order:#?}");
    assert_eq!(
        disks.last().unwrap() - disks[0],
        4,
        "the disks are not together: {order:#?}"
    );
    assert!(
        order[disks[4]].ends_with("/var/lib/libvirt/images/db-added.qcow2"),
        "the added disk is not after the VM's own: {order:#?} ({controller})"
    );
    // The VM's own devices, in the order they had on KVM.
    let source = std::fs::read_to_string(root().join("samples/kvm/db.xml")).unwrap();
    let src = roxmltree::Document::parse(&source).unwrap();
    let kinds = |d: roxmltree::Node| -> Vec<String> {
        d.children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name().to_string())
            .collect()
    };
    let mut expected = kinds(
        src.descendants()
            .find(|n| n.has_tag_name("devices"))
            .unwrap(),
    );
    let mut got = kinds(devices);
    got.remove(disks[4]);
    expected.retain(|k| k != "emulator");
    got.retain(|k| k != "emulator");
    assert_eq!(got, expected);
    // libvirt takes it.
    virsh_dump(&only_file(&dir.join("back")), "db");
}

/// The boot order set in vSphere (a ConfigSpec cannot set one, so the
/// carried orders are all KVM had): the VM boots as vSphere's list says,
/// and a device the list leaves out has no order of its own any more. Two
/// devices with order 1 would be refused by libvirt.
#[test]
fn a_boot_order_set_in_vsphere_is_the_vm_s_whole_boot_order() {
    let dir = temp_dir("carry-vsphere-boot-order");
    let there = converted(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("there"),
    );
    let text = std::fs::read_to_string(&there).unwrap();
    // The key of the data disk sdb (not the boot disk sda).
    let dom = roxmltree::Document::parse(&text).unwrap();
    let key = dom
        .descendants()
        .find(|n| {
            n.has_tag_name("device")
                && n.descendants().any(|f| {
                    f.has_tag_name("fileName") && f.text().unwrap_or("").contains("mpath-pgdata")
                })
        })
        .and_then(|d| d.children().find(|k| k.has_tag_name("key")))
        .and_then(|k| k.text())
        .unwrap()
        .to_string();
    assert!(!text.contains("<bootOptions>"), "{text}");
    let at = text.find("  <extraConfig>").unwrap();
    let edited = format!(
        "{}  <bootOptions>\n    <bootOrder xsi:type=\"VirtualMachineBootOptionsBootableDiskDevice\">\n      <deviceKey>{key}</deviceKey>\n    </bootOrder>\n  </bootOptions>\n{}",
        &text[..at],
        &text[at..]
    );
    std::fs::write(&there, edited).unwrap();
    let back = converted(&there, "kvm", &dir.join("back"));
    let xml = std::fs::read_to_string(&back).unwrap();
    let boots: Vec<String> = xml
        .split("</disk>")
        .filter(|d| d.contains("<boot "))
        .map(|d| d.to_string())
        .collect();
    assert_eq!(xml.matches("<boot ").count(), 1, "{xml}");
    assert_eq!(boots.len(), 1, "{xml}");
    assert!(boots[0].contains("/dev/mapper/mpath-pgdata"), "{xml}");
    assert!(boots[0].contains("<boot order=\"1\"/>"), "{xml}");
    // Everything else comes back as it was: the boot disk is still sda.
    assert!(xml.contains("/var/lib/libvirt/images/db-os.qcow2"), "{xml}");
    virsh_dump(&back, "db");
}

/// Disks changed in vSphere as its own tools change them: sdc's file
/// replaced (restored from a backup), and a new disk added before the
/// CD-ROM in the ConfigSpec. The replaced disk keeps its name with the new
/// image's format (a `.vmdk` is no qcow2: QEMU would refuse to open it);
/// the new disk is writable and takes no other drive's name; the empty
/// CD-ROM, which has no file to be found by, is still sdd and read-only,
/// and nothing unchanged is reported as changed.
#[test]
fn disks_replaced_or_added_in_vsphere_keep_the_other_drives_theirs() {
    let dir = temp_dir("carry-vsphere-disks");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("there"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = dir.join("there/db.vsphere.xml");
    let text = std::fs::read_to_string(&doc).unwrap();
    let old_file = "<fileName>[datastore1] db-archive/db-archive.vmdk</fileName>";
    assert_eq!(text.matches(old_file).count(), 1, "{text}");
    let added = r#"  <deviceChange>
    <operation>add</operation>
    <fileOperation>create</fileOperation>
    <device xsi:type="VirtualDisk">
      <key>-2104</key>
      <backing xsi:type="VirtualDiskFlatVer2BackingInfo">
        <fileName>[datastore1] db-wal/db-wal.vmdk</fileName>
        <diskMode>persistent</diskMode>
        <thinProvisioned>true</thinProvisioned>
      </backing>
      <controllerKey>-100</controllerKey>
      <unitNumber>3</unitNumber>
      <capacityInKB>52428800</capacityInKB>
    </device>
  </deviceChange>
"#;
    let cdrom = text.find("<device xsi:type=\"VirtualCdrom\">").unwrap();
    let at = text[..cdrom].rfind("  <deviceChange>").unwrap();
    let edited = format!("{}{added}{}", &text[..at], &text[at..]).replace(
        old_file,
        "<fileName>[datastore1] db-archive2/db-archive2.vmdk</fileName>",
    );
    std::fs::write(&doc, edited).unwrap();
    let o = transform(&doc, "kvm", &dir.join("back"), &["-v", "--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    let disk = |needle: &str| element_with(&back, "disk", needle).to_string();
    let replaced = disk("db-archive2.vmdk");
    assert!(
        replaced.contains("<target dev=\"sdc\" bus=\"scsi\"/>"),
        "{replaced}"
    );
    assert!(replaced.contains("type=\"vmdk\""), "{replaced}");
    let wal = disk("db-wal.vmdk");
    assert!(!wal.contains("<readonly/>"), "{wal}");
    assert!(!wal.contains("dev=\"sdd\""), "{wal}");
    let cd = disk("device=\"cdrom\"");
    assert!(cd.contains("<target dev=\"sdd\" bus=\"sata\"/>"), "{cd}");
    assert!(cd.contains("<readonly/>"), "{cd}");
    assert!(!err.contains("carried disk sdd"), "{err}");
    // The disks nobody touched come back as they were.
    for d in ["db-os.qcow2", "mpath-pgdata"] {
        assert!(disk(d).contains("io=\"native\""), "{back}");
    }
    virsh_dump(&only_file(&dir.join("back")), "db");
}

/// A disk's image replaced in a `.vmx` or an OVF: its format is the new
/// image's, not the carried qcow2 of the old one.
#[test]
fn a_disk_image_replaced_in_vmware_or_ovf_has_the_new_image_s_format() {
    for (target, from, to) in [
        (
            "vmware",
            "scsi0:2.fileName = \"db-archive.vmdk\"",
            "scsi0:2.fileName = \"db-archive-2.vmdk\"",
        ),
        (
            "ovf",
            "ovf:href=\"db-archive.vmdk\"",
            "ovf:href=\"db-archive-2.vmdk\"",
        ),
    ] {
        let dir = temp_dir(&format!("carry-{target}-image"));
        let there = converted(
            &root().join("samples/kvm/db.xml"),
            target,
            &dir.join("there"),
        );
        let text = std::fs::read_to_string(&there).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{target}: {text}");
        std::fs::write(&there, text.replace(from, to)).unwrap();
        let back = std::fs::read_to_string(converted(&there, "kvm", &dir.join("back"))).unwrap();
        let disk = element_with(&back, "disk", "db-archive-2.vmdk");
        assert!(disk.contains("type=\"vmdk\""), "{target}: {disk}");
        assert!(disk.contains("<target dev=\"sdc\""), "{target}: {disk}");
    }
}

/// A NIC's MAC changed in vSphere: the NIC is found by its place, so it
/// keeps its model and its connection (a host bridge, which vSphere shows
/// as a port group), and only the MAC is vSphere's.
#[test]
fn a_mac_changed_in_vsphere_keeps_the_nic_s_model_and_connection() {
    let dir = temp_dir("carry-vsphere-mac");
    let there = converted(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("there"),
    );
    let text = std::fs::read_to_string(&there).unwrap();
    let old = "<macAddress>52:54:00:5d:e0:01</macAddress>";
    assert_eq!(text.matches(old).count(), 1, "{text}");
    std::fs::write(
        &there,
        text.replace(old, "<macAddress>00:50:56:aa:bb:cc</macAddress>"),
    )
    .unwrap();
    let back = std::fs::read_to_string(converted(&there, "kvm", &dir.join("back"))).unwrap();
    let nic = element_with(&back, "interface", "00:50:56:aa:bb:cc");
    assert!(nic.contains("<interface type=\"bridge\">"), "{nic}");
    assert!(nic.contains("<source bridge=\"br0\"/>"), "{nic}");
    assert!(nic.contains("<model type=\"virtio\"/>"), "{nic}");
    assert!(!back.contains("52:54:00:5d:e0:01"), "{back}");
    // The other NIC is as it was.
    assert!(back.contains("<source network=\"backup\"/>"), "{back}");
    virsh_dump(&only_file(&dir.join("back")), "db");
}

/// vCPUs changed on Hyper-V (which has no topology): libvirt's carried
/// topology is scaled to the new count, keeping its sockets and threads (a
/// guest licensed per socket would lose CPUs as 8 one-core sockets), and
/// the report says what was written; the carried hub topology for the old
/// count is dropped with a reason, not left unmapped.
#[test]
fn vcpus_changed_on_hyperv_scale_the_carried_topology() {
    let dir = temp_dir("carry-hyperv-vcpus");
    let there = converted(
        &root().join("samples/kvm/win-uefi.xml"),
        "hyperv",
        &dir.join("there"),
    );
    let text = std::fs::read_to_string(&there).unwrap();
    let source = std::fs::read_to_string(root().join("samples/kvm/win-uefi.xml")).unwrap();
    assert!(source.contains("<topology sockets='1' dies='1' cores='2' threads='2'/>"));
    let edited = edit_instances(
        &text,
        "Msvm_ProcessorSettingData",
        "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;4&lt;",
        "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;8&lt;",
    );
    std::fs::write(&there, edited).unwrap();
    let o = transform(&there, "kvm", &dir.join("back"), &["-v", "--deny-loss"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(
        back.contains("<vcpu placement=\"static\">8</vcpu>"),
        "{back}"
    );
    assert!(
        back.contains("<topology sockets=\"1\" dies=\"1\" cores=\"4\" threads=\"2\"/>"),
        "{back}"
    );
    assert!(err.contains("is written as 1 × 4 × 2"), "{err}");
    assert!(!err.contains("unmapped"), "{err}");
    virsh_dump(&only_file(&dir.join("back")), "win-uefi");
}

/// A vSphere VM whose disk is on its fourth SCSI controller (a PVSCSI
/// controller, key -103 in a ConfigSpec hvxform writes) sent to Hyper-V,
/// changed there, and back to vSphere: the spec hvxform writes is marked as
/// its own, and key -103 is also its stand-in for KVM's virtio bus. Read on
/// to KVM, the disk is still a SCSI disk on controller 3, not a virtio one.
#[test]
fn a_fourth_scsi_controller_is_not_taken_for_the_virtio_stand_in() {
    let dir = temp_dir("carry-vsphere-pvscsi3");
    let there = converted(
        &root().join("samples/vsphere/web.xml"),
        "hyperv",
        &dir.join("there"),
    );
    let text = std::fs::read_to_string(&there).unwrap();
    let edited = edit_instances(
        &text,
        "Msvm_MemorySettingData",
        "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;2048&lt;",
        "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;4096&lt;",
    );
    std::fs::write(&there, edited).unwrap();
    let spec = converted(&there, "vsphere", &dir.join("vsphere"));
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("<key>-103</key>"), "{text}");
    assert!(text.contains("<memoryMB>4096</memoryMB>"), "{text}");
    let kvm = std::fs::read_to_string(converted(&spec, "kvm", &dir.join("kvm"))).unwrap();
    let disk = element_with(&kvm, "disk", "web.vmdk");
    assert!(disk.contains("bus=\"scsi\""), "{disk}");
    assert!(disk.contains("controller=\"3\""), "{disk}");
    assert!(
        kvm.contains("<controller type=\"scsi\" index=\"3\""),
        "{kvm}"
    );
}

/// A disk added to an xl.cfg's disk list (`vdev=sde`, a unit with no
/// controller named): it comes back as a SCSI disk libvirt places at unit 4
/// from its name, with nothing unmapped (`--deny-loss` holds).
#[test]
fn a_disk_added_in_xl_cfg_comes_back_with_nothing_unmapped() {
    let dir = temp_dir("carry-xen-added-disk");
    let there = converted(
        &root().join("samples/kvm/db.xml"),
        "xen",
        &dir.join("there"),
    );
    let text = std::fs::read_to_string(&there).unwrap();
    let last = "\"format=raw,vdev=sdd,access=ro,devtype=cdrom\" ]";
    assert!(text.contains(last), "{text}");
    let edited = text.replace(
        last,
        "\"format=raw,vdev=sdd,access=ro,devtype=cdrom\", \"format=qcow2,vdev=sde,access=rw,target=/var/lib/libvirt/images/db-wal.qcow2\" ]",
    );
    std::fs::write(&there, edited).unwrap();
    let o = transform(&there, "kvm", &dir.join("back"), &["-v", "--deny-loss"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("unmapped"), "{}", stderr(&o));
    let back = only_file(&dir.join("back"));
    let dump = virsh_dump(&back, "db");
    let disk = element_with(&dump, "disk", "db-wal.qcow2");
    assert!(disk.contains("<target dev='sde' bus='scsi'/>"), "{disk}");
    assert!(disk.contains("unit='4'"), "{disk}");
}

/// Changes made on EC2 to a VM hvxform wrote there: a NIC's MAC and another
/// NIC's subnet changed, the root volume replaced. The `hvxform:nic:N` and
/// `hvxform:disk:<device>` tags no longer override them: a NIC's tag is
/// found by its MAC and its connection kept only in its own subnet, a
/// disk's tag by the volume it names.
#[test]
fn devices_changed_on_ec2_win_over_their_tags() {
    let dir = temp_dir("carry-ec2-devices");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "ec2",
        &dir.join("there"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = dir.join("there/db.ec2.xml");
    let text = std::fs::read_to_string(&doc).unwrap();
    let mut edited = text.clone();
    for (from, to) in [
        (
            "<macAddress>52:54:00:5d:e0:01<",
            "<macAddress>0a:1b:2c:3d:4e:5f<",
        ),
        ("<subnetId>backup<", "<subnetId>subnet-0prod<"),
        ("<volumeId>vol-hvx1<", "<volumeId>vol-0abc<"),
    ] {
        assert!(text.contains(from), "{from}: {text}");
        edited = edited.replace(from, to);
    }
    std::fs::write(&doc, edited).unwrap();
    let o = transform(&doc, "kvm", &dir.join("back"), &["-v", "--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(!back.contains("52:54:00:5d:e0:01"), "{back}");
    assert!(back.contains("0a:1b:2c:3d:4e:5f"), "{back}");
    assert!(
        back.contains("<source network=\"subnet-0prod\"/>"),
        "{back}"
    );
    assert!(!back.contains("backup"), "{back}");
    assert!(!back.contains("db-os.qcow2"), "{back}");
    assert!(back.contains("vol-0abc"), "{back}");
    assert!(
        err.contains("volume vol-0abc is not the one hvxform attached there (vol-hvx1)"),
        "{err}"
    );
    // The new root volume is another image in the root disk's place: it
    // keeps that disk's bus, name and boot order on KVM.
    let root_disk = element_with(&back, "disk", "vol-0abc");
    assert!(
        root_disk.contains("<target dev=\"sda\" bus=\"scsi\"/>"),
        "{root_disk}"
    );
    assert!(root_disk.contains("<boot order=\"1\"/>"), "{root_disk}");
    assert!(err.contains("the disk keeps its bus and name"), "{err}");
    // The data disk nobody touched comes back as it was.
    assert!(
        back.contains("/var/lib/libvirt/images/db-archive.qcow2"),
        "{back}"
    );
}

/// A disk added in a `.vmx` (scsi0:3) is given a libvirt target no carried
/// disk holds (the SATA CD-ROM keeps sdd; the new disk gets sde), so the
/// domain is one libvirt defines; and a disk removed on KVM from a VM of
/// Xen leaves the others their vdevs (xvdd stays xvdd: the guest's fstab
/// names it).
#[test]
fn added_and_removed_disks_leave_the_others_their_names() {
    let dir = temp_dir("carry-disk-names");
    let s = dir.join("s.yaml");
    let s = s.to_str().unwrap();
    let o = transform(
        &root().join("samples/kvm/db.xml"),
        "vmware",
        &dir.join("vmx"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let vmx = only_file(&dir.join("vmx"));
    let text = std::fs::read_to_string(&vmx).unwrap();
    assert!(text.contains("\nsata0:0.present"), "{text}");
    let added = text.replacen(
        "\nsata0:0.present",
        "\nscsi0:3.present = \"TRUE\"\nscsi0:3.deviceType = \"scsi-hardDisk\"\nscsi0:3.fileName = \"db-new.vmdk\"\nsata0:0.present",
        1,
    );
    std::fs::write(&vmx, added).unwrap();
    let o = transform(&vmx, "kvm", &dir.join("kvm"), &["--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dumped = virsh_dump(&only_file(&dir.join("kvm")), "db");
    assert!(
        dumped.contains("<target dev='sdd' bus='sata'/>"),
        "{dumped}"
    );
    assert!(
        dumped.contains("<target dev='sde' bus='scsi'/>"),
        "{dumped}"
    );

    let o = transform(
        &root().join("samples/xen/db.cfg"),
        "kvm",
        &dir.join("x"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let domain = only_file(&dir.join("x"));
    remove_disk(&domain, "/dev/vg-ssd/db01-wal");
    let o = transform(&domain, "xen", &dir.join("xen"), &["--session", s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cfg = std::fs::read_to_string(only_file(&dir.join("xen"))).unwrap();
    assert!(!cfg.contains("db01-wal"), "{cfg}");
    assert!(
        cfg.contains("vdev=xvdd,access=ro,target=/var/lib/xen/images/pg-archive.qcow2"),
        "{cfg}"
    );
}

/// A `.vmx` through KVM with one disk removed there: only that disk's
/// carried detail goes (with a warning); the disks, NICs, video card and
/// serial port after it keep theirs (before, every device after the removed
/// one was taken as changed: the quorum disk lost its datastore path and a
/// NIC its startConnected).
#[test]
fn a_disk_removed_on_kvm_leaves_the_other_devices_their_carried_detail() {
    let dir = temp_dir("carry-vmx-removed-disk");
    let s = dir.join("s.yaml");
    let s = s.to_str().unwrap();
    let o = transform(
        &root().join("samples/vmware/db.vmx"),
        "kvm",
        &dir.join("kvm"),
        &["--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let domain = only_file(&dir.join("kvm"));
    remove_disk(&domain, "db01_wal");
    let o = transform(
        &domain,
        "vmware",
        &dir.join("back"),
        &["-v", "--session", s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let vmx = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(!vmx.contains("db01_wal"), "{vmx}");
    assert!(
        vmx.contains("scsi1:2.fileName = \"/vmfs/volumes/shared-01/quorum.vmdk\""),
        "{vmx}"
    );
    assert!(vmx.contains("ethernet1.startConnected = \"TRUE\""), "{vmx}");
    // The removed drive's slot setting goes with it; the others' stay.
    assert!(!vmx.contains("sched.scsi1:1.shares"), "{vmx}");
    assert!(vmx.contains("sched.scsi1:0.shares = \"high\""), "{vmx}");
    let restored: Vec<&str> = err.lines().filter(|l| l.contains("not restored")).collect();
    assert_eq!(restored.len(), 1, "{err}");
}

/// Removes from a libvirt domain file the `<disk>` whose image (file or
/// block device) contains `image`, as a user editing it would.
fn remove_disk(domain: &Path, image: &str) {
    let text = std::fs::read_to_string(domain).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let disk = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("disk")
                && n.descendants().any(|s| {
                    s.has_tag_name("source")
                        && (s.attribute("file").or(s.attribute("dev")))
                            .is_some_and(|f| f.contains(image))
                })
        })
        .unwrap_or_else(|| panic!("no disk {image} in {}", domain.display()));
    let removed = format!(
        "{}{}",
        &text[..disk.range().start],
        &text[disk.range().end..]
    );
    std::fs::write(domain, removed).unwrap();
}

/// A VM from vCenter (govmomi's simulator's ConfigInfo, not hvxform's
/// output) goes to KVM, gets more memory there, and comes back: the new
/// memory wins, and what vSphere held that the hub does not model comes
/// back as vSphere held it, on the VM (hardware version, exact guest id,
/// files, power-op and latency settings, extraConfig, instance UUID) and on
/// each device KVM did not change (the disk's backing flags, the CD-ROM's
/// ATAPI backing, the NIC's distributed port and slot, the video card's 3D
/// settings): nothing left unmapped, and pyVmomi reads the spec.
#[test]
fn a_vm_from_vcenter_changed_on_kvm_comes_back_with_what_vsphere_held() {
    let info = root().join("tests/corpus/vcsim-vim25/DC0_H0_VM0.xml");
    let (spec_file, err) = there_changed_and_back("carry-vcenter-back", &info, "vsphere", |t| {
        t.replace(
            "<memory unit=\"KiB\">32768</memory>",
            "<memory unit=\"KiB\">65536</memory>",
        )
    });
    assert!(!err.contains("unmapped ("), "{err}");
    let spec = std::fs::read_to_string(&spec_file).unwrap();
    let d = roxmltree::Document::parse(&spec).unwrap();
    let top = |name: &str| {
        d.root_element()
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_string)
    };
    assert_eq!(top("memoryMB").as_deref(), Some("64"), "{spec}");
    assert_eq!(top("version").as_deref(), Some("vmx-13"), "{spec}");
    assert_eq!(top("guestId").as_deref(), Some("otherGuest"), "{spec}");
    assert_eq!(
        top("instanceUuid").as_deref(),
        Some("b4689bed-97f0-5bcd-8a4c-07477cc8f06f"),
        "{spec}"
    );
    let has = |path: &[&str], value: &str| {
        d.descendants().any(|n| {
            n.text() == Some(value)
                && path
                    .iter()
                    .rev()
                    .zip(n.ancestors())
                    .all(|(p, a)| a.has_tag_name(*p))
        })
    };
    for (path, value) in [
        (
            &["files", "vmPathName"][..],
            "[LocalDS_0] DC0_H0_VM0/DC0_H0_VM0.vmx",
        ),
        (&["latencySensitivity", "level"][..], "normal"),
        (&["extraConfig", "key"][..], "govcsim"),
        (&["backing", "eagerlyScrub"][..], "false"),
        (&["backing", "deviceName"][..], "cdrom--201-824638741264"),
        (
            &["port", "switchUuid"][..],
            "fea97929-4b2d-5972-b146-930c6d0b4014",
        ),
        (&["port", "portgroupKey"][..], "dvportgroup-13"),
        (&["slotInfo", "pciSlotNumber"][..], "32"),
        (&["device", "use3dRenderer"][..], "automatic"),
    ] {
        assert!(has(path, value), "{path:?} = {value}: {spec}");
    }
    assert!(spec.contains("<powerOpInfo"), "{spec}");
    // The keys are this spec's own, and vCenter's implicit devices and
    // ConfigInfo-only properties are not written.
    assert!(!spec.contains("<key>202</key>"), "{spec}");
    assert!(!spec.contains("VirtualMachineVMCIDevice"), "{spec}");
    assert!(!spec.contains("<template>"), "{spec}");
    vsphere_accepts(&[spec_file]);
}

/// An appliance exported by VMware's ovftool (govmomi's photon5.ovf) goes
/// to KVM, gets more memory there, and comes back as OVF: the new memory
/// wins; its VirtualSystem id, hardware family, device names, file and
/// populated sizes and its VMCI Item come back as the OVF had them, nothing
/// is left unmapped, and COT reads the envelope with the new memory.
#[test]
fn an_appliance_from_ovf_changed_on_kvm_comes_back_with_what_the_ovf_held() {
    let ovf = root().join("tests/corpus/govmomi-ovf/photon5.ovf");
    let (back, err) = there_changed_and_back("carry-ovf-back", &ovf, "ovf", |t| {
        t.replace(
            "<memory unit=\"KiB\">2097152</memory>",
            "<memory unit=\"KiB\">4194304</memory>",
        )
    });
    assert!(!err.contains("unmapped ("), "{err}");
    let xml = std::fs::read_to_string(&back).unwrap();
    for want in [
        r#"<VirtualSystem ovf:id="vm">"#,
        "<vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>",
        r#"ovf:size="322319360""#,
        r#"ovf:populatedSize="858521600""#,
        "<rasd:ElementName>disk0</rasd:ElementName>",
        "<rasd:ElementName>ethernet0</rasd:ElementName>",
        "<rasd:ElementName>sataController0</rasd:ElementName>",
        "<rasd:ResourceSubType>vmware.vmci</rasd:ResourceSubType>",
        "<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>",
    ] {
        assert!(xml.contains(want), "{want}: {xml}");
    }
    // InstanceIDs stay unique (the VMCI Item gets one of its own).
    let d = roxmltree::Document::parse(&xml).unwrap();
    let mut ids: Vec<&str> = d
        .descendants()
        .filter(|n| {
            n.has_tag_name("InstanceID") && n.parent().is_some_and(|p| p.has_tag_name("Item"))
        })
        .filter_map(|n| n.text())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "{xml}");
    if let Some(v) = ovf_info(&back) {
        assert_eq!(v["memory_bytes"], 4u64 << 30, "{v}");
    }
}

/// `transform INPUT --to kvm` with a store, `edit` applied to the domain,
/// then back to `target` with the same store and `-v`: the output and the
/// run's stderr.
fn there_changed_and_back(
    name: &str,
    input: &Path,
    target: &str,
    edit: impl Fn(&str) -> String,
) -> (PathBuf, String) {
    let dir = temp_dir(name);
    let store = dir.join("store.yaml");
    let st = ["--session", store.to_str().unwrap()];
    let o = transform(input, "kvm", &dir.join("kvm"), &st);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let domain = only_file(&dir.join("kvm"));
    let text = std::fs::read_to_string(&domain).unwrap();
    let changed = edit(&text);
    assert_ne!(changed, text, "the edit changed nothing: {text}");
    std::fs::write(&domain, changed).unwrap();
    let o = transform(&domain, target, &dir.join("back"), &[st[0], st[1], "-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (only_file(&dir.join("back")), stderr(&o))
}

/// A ConfigSpec (pyVmomi's) whose vCPUs change on KVM: the libvirt detail
/// that changed with them (the CPU topology) is not taken for vSphere's
/// carried properties, which come back (its folder on san01).
#[test]
fn vcpus_changed_on_kvm_keep_what_a_configspec_carried() {
    let input = root().join("tests/corpus/pyvmomi-configspec/legacy-db.xml");
    let (spec, err) = there_changed_and_back("carry-vcpus-spec", &input, "vsphere", |t| {
        t.replace("<vcpu>4</vcpu>", "<vcpu>8</vcpu>")
            .replace("cores=\"2\"", "cores=\"4\"")
    });
    assert!(!err.contains("carried extension"), "{err}");
    let xml = std::fs::read_to_string(&spec).unwrap();
    assert!(xml.contains("<numCPUs>8</numCPUs>"), "{xml}");
    assert!(
        xml.contains("<vmPathName>[san01] legacy-db/legacy-db.vmx</vmPathName>"),
        "{xml}"
    );
    vsphere_accepts(&[spec]);
}

/// Memory changed on KVM keeps vSphere's reservation and limit (KVM
/// cannot hold them); a reservation larger than the VM now is not
/// restored, with a warning (a limit above it binds nothing and is kept). A NIC whose MAC changed on KVM keeps
/// its distributed switch (KVM cannot hold it).
#[test]
fn what_kvm_cannot_hold_comes_back_with_the_change_beside_it() {
    let info = std::fs::read_to_string(root().join("tests/corpus/vcsim-vim25/DC0_H0_VM0.xml"))
        .unwrap()
        .replace(
            "<memoryAllocation><reservation>0</reservation>",
            "<memoryAllocation><reservation>16</reservation>",
        )
        .replace(
            "<memoryAllocation><reservation>16</reservation><expandableReservation>true</expandableReservation><limit>-1</limit>",
            "<memoryAllocation><reservation>16</reservation><expandableReservation>true</expandableReservation><limit>48</limit>",
        );
    assert!(info.contains("<limit>48</limit>"));
    let dir = temp_dir("carry-beside");
    let input = dir.join("vm0.xml");
    std::fs::write(&input, info).unwrap();
    // 32 MiB → 12 MiB, and a new MAC: the reservation (16) no longer fits.
    let (spec, err) = there_changed_and_back("carry-beside-run", &input, "vsphere", |t| {
        t.replace(
            "<memory unit=\"KiB\">32768</memory>",
            "<memory unit=\"KiB\">12288</memory>",
        )
        .replace(
            "<currentMemory unit=\"KiB\">32768</currentMemory>",
            "<currentMemory unit=\"KiB\">12288</currentMemory>",
        )
        // (the domain's NIC, not the carried original: an edited package
        // is refused)
        .replace(
            "<mac address=\"00:0c:29:36:63:62\"/>",
            "<mac address=\"00:0c:29:36:63:99\"/>",
        )
    });
    let xml = std::fs::read_to_string(&spec).unwrap();
    let d = roxmltree::Document::parse(&xml).unwrap();
    let alloc = d
        .descendants()
        .find(|n| n.has_tag_name("memoryAllocation"))
        .unwrap_or_else(|| panic!("{xml}"));
    let member = |name: &str| {
        alloc
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
    };
    assert_eq!(member("reservation"), None, "{xml}");
    assert_eq!(member("limit"), Some("48"), "{xml}");
    assert!(xml.contains("<memoryMB>12</memoryMB>"), "{xml}");
    assert!(
        err.contains("carried memory reservation of 16777216 bytes not restored"),
        "{err}"
    );
    assert!(
        xml.contains("<macAddress>00:0c:29:36:63:99</macAddress>"),
        "{xml}"
    );
    assert!(
        xml.contains("VirtualEthernetCardDistributedVirtualPortBackingInfo")
            && xml.contains("<switchUuid>fea97929-4b2d-5972-b146-930c6d0b4014</switchUuid>"),
        "{xml}"
    );
    vsphere_accepts(&[spec]);
}

/// A vCenter ConfigInfo that comes home unchanged is written as the
/// ConfigSpec vSphere's writer writes (not as the SOAP response it was
/// read from), with everything it held.
#[test]
fn a_configinfo_home_unchanged_is_a_configspec() {
    let input = root().join("tests/corpus/vcsim-vim25/DC0_H0_VM0.xml");
    let dir = temp_dir("carry-info-home");
    let store = dir.join("store.yaml");
    let st = ["--session", store.to_str().unwrap()];
    let o = transform(&input, "kvm", &dir.join("kvm"), &st);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = transform(
        &only_file(&dir.join("kvm")),
        "vsphere",
        &dir.join("back"),
        &st,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = only_file(&dir.join("back"));
    let xml = std::fs::read_to_string(&spec).unwrap();
    let d = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        d.root_element().tag_name().name(),
        "VirtualMachineConfigSpec"
    );
    assert!(xml.contains("<memoryMB>32</memoryMB>"), "{xml}");
    assert!(xml.contains("<version>vmx-13</version>"), "{xml}");
    vsphere_accepts(&[spec]);
}

/// vCenter's simulator reports a CD-ROM and a disk on one slot (SCSI 0:0):
/// on KVM the later drive is left for libvirt to place, with a warning, and
/// libvirt defines the domain with the two on distinct units.
#[test]
fn two_drives_on_one_vsphere_slot_get_distinct_units_on_kvm() {
    let input = root().join("tests/corpus/vcsim-vim25/DC0_H0_VM0.xml");
    let dir = temp_dir("carry-slot-kvm");
    let o = transform(&input, "kvm", &dir, &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SCSI 0:0 is another drive's too; libvirt gives it a free unit"),
        "{}",
        stderr(&o)
    );
    let dumped = virsh_dump(&only_file(&dir), "DC0_H0_VM0");
    let d = roxmltree::Document::parse(&dumped).unwrap();
    let mut units: Vec<&str> = d
        .descendants()
        .filter(|n| n.has_tag_name("address") && n.attribute("type") == Some("drive"))
        .filter_map(|n| n.attribute("unit"))
        .collect();
    assert_eq!(units.len(), 2, "{dumped}");
    units.dedup();
    assert_eq!(units.len(), 2, "{dumped}");
}

/// The edit of a domain that makes its guest Windows Server 2022 (the
/// libosinfo id in its metadata): the carried one is no longer the VM's.
fn to_win2k22(t: &str) -> String {
    t.replacen(
        "<metadata>",
        "<metadata><libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\"><libosinfo:os id=\"http://microsoft.com/win/2k22\"/></libosinfo:libosinfo>",
        1,
    )
}

/// A guest OS changed on KVM wins on the way back to .vmx and OVF: the
/// carried guestOS and OperatingSystemSection name the old one, and are
/// written back only while they name the VM's (as vSphere's guestId is).
#[test]
fn a_guest_os_changed_on_kvm_wins_over_the_carried_one() {
    let vmx = root().join("samples/vmware/web.vmx");
    let (back, err) = there_changed_and_back("carry-guest-vmx", &vmx, "vmware", to_win2k22);
    let text = std::fs::read_to_string(&back).unwrap();
    assert!(
        text.contains("guestOS = \"windows2019srvnext-64\""),
        "{text}"
    );
    assert!(
        err.contains("guestOS rhel9-64 (the .vmx's) not written back"),
        "{err}"
    );

    let ovf = root().join("samples/ovf/db.ovf");
    let (back, err) = there_changed_and_back("carry-guest-ovf", &ovf, "ovf", to_win2k22);
    let text = std::fs::read_to_string(&back).unwrap();
    assert!(
        text.contains("vmw:osType=\"windows2019srvNext_64Guest\""),
        "{text}"
    );
    assert!(!text.contains("debian12"), "{text}");
    assert!(
        err.contains("debian12_64Guest (the OVF's) not written back"),
        "{err}"
    );
    // COT reads it (when it is installed: CI requires it).
    if let Some(info) = ovf_info(&back) {
        assert_eq!(info["cpus"], 8, "{info}");
    }

    // Unchanged, both come back as they were.
    let (back, _) = there_changed_and_back("carry-guest-vmx-same", &vmx, "vmware", |t| {
        t.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>")
    });
    let text = std::fs::read_to_string(&back).unwrap();
    assert!(text.contains("guestOS = \"rhel9-64\""), "{text}");
}

/// A .vmx that says `firmware = "bios"`, switched to EFI on KVM: the
/// carried key gives way to the hub's firmware (it was written beside it,
/// and the .vmx writer refused the key twice). Unchanged, it comes back.
#[test]
fn bios_to_efi_on_kvm_comes_back_to_a_vmx_as_efi() {
    let vmx = root().join("samples/vmware/web.vmx");
    let (back, err) = there_changed_and_back("carry-efi-vmx", &vmx, "vmware", |t| {
        t.replacen("<os>", "<os firmware=\"efi\">", 1)
    });
    let text = std::fs::read_to_string(&back).unwrap();
    let firmware: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("firmware "))
        .collect();
    assert_eq!(firmware, ["firmware = \"efi\""], "{text}");
    assert!(!err.contains("unmapped"), "{err}");
    let (back, _) = there_changed_and_back("carry-bios-vmx", &vmx, "vmware", |t| {
        t.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>")
    });
    let text = std::fs::read_to_string(&back).unwrap();
    let firmware: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("firmware "))
        .collect();
    assert_eq!(firmware, ["firmware = \"bios\""], "{text}");
}

/// `input` converted to `platform`, its main document edited line by line
/// with `edit`, and converted back to KVM (with `extra`): the domain and
/// what was said.
fn changed_there(
    name: &str,
    input: &Path,
    platform: &str,
    edit: impl Fn(&str) -> String,
    extra: &[&str],
) -> (String, String) {
    let dir = temp_dir(name);
    let o = transform(input, platform, &dir.join("there"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = main_document(&dir.join("there"));
    let text = std::fs::read_to_string(&doc).unwrap();
    let edited: Vec<String> = text.lines().map(&edit).collect();
    let edited = edited.join("\n");
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&doc, edited).unwrap();
    let mut args = vec!["-v"];
    args.extend_from_slice(extra);
    let o = transform(&doc, "kvm", &dir.join("back"), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    (back, stderr(&o))
}

/// libvirt's memory guarantees reach the hub (locked memory as a
/// reservation of all of it, `<hard_limit>` as its limit), so vSphere gets
/// them (they were only carried, for the way back); a limit changed in
/// vSphere replaces the carried `<hard_limit>` on the way back.
#[test]
fn memory_limits_reach_vsphere_and_a_changed_one_comes_back() {
    let db = root().join("samples/kvm/db.xml");
    let dir = temp_dir("memtune-vsphere");
    let spec = std::fs::read_to_string(converted(&db, "vsphere", &dir)).unwrap();
    assert!(
        spec.contains(
            "<memoryAllocation>\n    <reservation>32768</reservation>\n    <limit>34816</limit>"
        ),
        "{spec}"
    );
    let (back, err) = changed_there(
        "memtune-changed-vsphere",
        &db,
        "vsphere",
        |l| l.replace("<limit>34816</limit>", "<limit>40960</limit>"),
        &[],
    );
    assert!(
        back.contains("<hard_limit unit=\"KiB\">41943040</hard_limit>"),
        "{back}"
    );
    assert!(
        back.contains("<soft_limit unit=\"KiB\">33554432</soft_limit>"),
        "{back}"
    );
    assert!(back.contains("<locked/>"), "{back}");
    assert!(
        err.contains("memory limit: 42949672960 bytes now; the carried <hard_limit> is replaced"),
        "{err}"
    );
}

/// A guest OS changed in vSphere (its guestId) comes back to KVM without
/// the carried libosinfo
/// metadata naming the old one (RHEL 9.2 came back for a Windows guest);
/// the rest of the domain's carried detail stays.
#[test]
fn a_guest_os_changed_elsewhere_drops_the_stale_libosinfo() {
    let web = root().join("samples/kvm/web.xml");
    let (back, err) = changed_there(
        "guest-changed-vsphere",
        &web,
        "vsphere",
        |l| {
            if l.contains("<guestId>") {
                "  <guestId>windows2019srv_64Guest</guestId>".to_string()
            } else {
                l.to_string()
            }
        },
        &[],
    );
    assert!(!back.contains("rhel"), "{back}");
    assert!(
        err.contains("guest OS: win2k19 now; the carried libosinfo guest OS (http://redhat.com/rhel/9.2) is left out"),
        "{err}"
    );
    // What else libvirt held still comes back (its PCI addresses, its rng).
    assert!(back.contains("<rng model=\"virtio\">"), "{back}");
}

/// A disk grown on OVF or vSphere (its capacity alone changed) comes back
/// to KVM with what the platform gave back as it wrote it restored from the
/// carried data: its image, format, bus and name (it came back as
/// `/var/lib/libvirt/images/web.vmdk` on SCSI, the platform's rendering).
/// libvirt's own settings of the device are not restored, and the report
/// says so.
#[test]
fn a_disk_grown_elsewhere_keeps_its_image_and_bus() {
    let web = root().join("samples/kvm/web.xml");
    for (platform, from, to) in [
        ("ovf", "ovf:capacity=\"16384\"", "ovf:capacity=\"32768\""),
        (
            "vsphere",
            "<capacityInKB>16777216<",
            "<capacityInKB>33554432<",
        ),
    ] {
        let (back, err) = changed_there(
            &format!("grown-{platform}"),
            &web,
            platform,
            |l| l.replace(from, to),
            &[],
        );
        let disk = back
            .split("<disk ")
            .nth(1)
            .and_then(|d| d.split("</disk>").next())
            .unwrap_or_default();
        for want in [
            "type=\"qcow2\"",
            "file=\"/var/lib/libvirt/images/web.qcow2\"",
            "<target dev=\"vda\" bus=\"virtio\"/>",
        ] {
            assert!(
                disk.contains(want),
                "{platform}: no {want} in {disk}\n{err}"
            );
        }
        assert!(
            err.contains(&format!(
                "carried disk vda restored in part: it was changed in {platform}"
            )),
            "{platform}: {err}"
        );
    }
    // A value changed there wins: the image renamed in the OVF.
    let (back, _) = changed_there(
        "grown-renamed-ovf",
        &web,
        "ovf",
        |l| {
            l.replace("ovf:capacity=\"16384\"", "ovf:capacity=\"32768\"")
                .replace("ovf:href=\"web.vmdk\"", "ovf:href=\"web-big.vmdk\"")
        },
        &[],
    );
    assert!(back.contains("web-big.vmdk"), "{back}");
    assert!(!back.contains("web.qcow2"), "{back}");
}

/// A TPM turned off on Hyper-V or removed on EC2 stays off on KVM: the
/// libvirt `<tpm>` carried for the way back comes back only with a TPM.
#[test]
fn a_tpm_removed_on_hyperv_or_ec2_stays_removed() {
    let win = root().join("samples/kvm/win-uefi.xml");
    let off = |l: &str| {
        l.replace(
            "\"TpmEnabled\" TYPE=\"boolean\"&gt;&lt;VALUE&gt;TRUE",
            "\"TpmEnabled\" TYPE=\"boolean\"&gt;&lt;VALUE&gt;FALSE",
        )
    };
    for extra in [&[][..], &["--no-carry"][..]] {
        let (back, err) = changed_there("carry-tpm-hyperv", &win, "hyperv", off, extra);
        assert!(!back.contains("<tpm"), "{extra:?}: {back}");
        assert!(!err.contains("unmapped"), "{extra:?}: {err}");
    }
    let none = |l: &str| l.replace("<tpmSupport>v2.0</tpmSupport>", "");
    let (back, err) = changed_there("carry-tpm-ec2", &win, "ec2", none, &[]);
    assert!(!back.contains("<tpm"), "{back}");
    assert!(err.contains("carried tpm not restored"), "{err}");
}

/// Memory changed on Hyper-V: the memory at start carried with the old
/// size is left out (it would be more than the VM has), with a warning.
#[test]
fn memory_changed_on_hyperv_leaves_no_stale_current_memory() {
    let web = root().join("samples/kvm/web.xml");
    let less = |l: &str| {
        if l.contains("Msvm_MemorySettingData") {
            l.replace(
                "\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;2048&lt;",
                "\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;1024&lt;",
            )
        } else {
            l.to_string()
        }
    };
    for extra in [&[][..], &["--no-carry"][..]] {
        let (back, err) = changed_there("carry-memory-hyperv", &web, "hyperv", less, extra);
        assert!(
            back.contains("<memory unit=\"KiB\">1048576</memory>"),
            "{back}"
        );
        assert!(!back.contains("currentMemory"), "{extra:?}: {back}");
        assert!(
            err.contains("memory: 1024 MiB on Hyper-V, changed from 2048 MiB"),
            "{err}"
        );
    }
}

/// EC2's own fields win over the tags hvx-to-ec2 wrote: a boot mode
/// changed to legacy-bios over `hvxform:firmware`, and a bigger instance
/// type over `hvxform:vcpus` and `hvxform:memory` (tags that name the type
/// they were written for).
#[test]
fn a_boot_mode_or_instance_type_changed_in_ec2_wins_over_the_tags() {
    let win = root().join("samples/kvm/win-uefi.xml");
    let bios = |l: &str| {
        l.replace(
            "<bootMode>uefi</bootMode>",
            "<bootMode>legacy-bios</bootMode>",
        )
    };
    for extra in [&[][..], &["--no-carry"][..]] {
        let (back, err) = changed_there("carry-bootmode-ec2", &win, "ec2", bios, extra);
        let doc = roxmltree::Document::parse(&back).unwrap();
        let os = doc.descendants().find(|n| n.has_tag_name("os")).unwrap();
        assert_eq!(os.attribute("firmware"), None, "{extra:?}: {back}");
        assert!(
            !os.descendants()
                .any(|n| n.has_tag_name("loader") || n.has_tag_name("nvram")),
            "{extra:?}: {back}"
        );
        assert!(
            err.contains("bootMode legacy-bios: changed in EC2"),
            "{err}"
        );
    }

    // 3 vCPUs and 3 GiB: c7i.xlarge, with the exact values in tags.
    let dir = temp_dir("carry-type-tags");
    let odd = dir.join("odd.xml");
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    std::fs::write(
        &odd,
        web.replace("<vcpu placement='static'>2</vcpu>", "<vcpu>3</vcpu>")
            .replace(">2097152<", ">3145728<"),
    )
    .unwrap();
    let (back, _) = changed_there("carry-type-same", &odd, "ec2", |l| l.to_string() + " ", &[]);
    assert!(back.contains("<vcpu>3</vcpu>"), "{back}");
    let bigger = |l: &str| l.replace("<instanceType>c7i.xlarge", "<instanceType>m7i.4xlarge");
    for extra in [&[][..], &["--no-carry"][..]] {
        let (back, err) = changed_there("carry-type-ec2", &odd, "ec2", bigger, extra);
        assert!(back.contains("<vcpu>16</vcpu>"), "{extra:?}: {back}");
        assert!(back.contains(">67108864</memory>"), "{extra:?}: {back}");
        assert!(
            err.contains("instance type m7i.4xlarge: changed in EC2 (hvxform chose c7i.xlarge)"),
            "{err}"
        );
    }
}

/// Secure Boot said to be off (a .vmx's `uefi.secureBoot.enabled =
/// "FALSE"`) is said to libvirt too, whose firmware autoselection could
/// otherwise pick a Secure Boot build.
#[test]
fn secure_boot_off_is_written_for_libvirt() {
    let dir = temp_dir("secure-boot-off");
    let vmx = dir.join("nosb.vmx");
    let text = std::fs::read_to_string(root().join("samples/vmware/win-uefi.vmx")).unwrap();
    let off = text.replace(
        "uefi.secureBoot.enabled = \"TRUE\"",
        "uefi.secureBoot.enabled = \"FALSE\"",
    );
    assert_ne!(off, text);
    std::fs::write(&vmx, off).unwrap();
    let domain = converted(&vmx, "kvm", &dir.join("out"));
    let xml = std::fs::read_to_string(&domain).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let feature = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("feature") && n.parent().is_some_and(|p| p.has_tag_name("firmware"))
        })
        .expect("a firmware feature");
    assert_eq!(feature.attribute("name"), Some("secure-boot"));
    assert_eq!(feature.attribute("enabled"), Some("no"));
    assert!(!xml.contains("secure=\"yes\""), "{xml}");
    if let Some(uri) = endpoint("HVX_LIBVIRT_URI", "libvirtd") {
        let (ok, msg) = virsh(&uri, &["define", domain.to_str().unwrap()]);
        assert!(ok, "{msg}");
        let _ = virsh(&uri, &["undefine", "--nvram", &domain_name(&xml)]);
    }
}

/// A UUID changed on KVM wins on the way home to Hyper-V: the BIOSGUID the
/// VM had there (carried with the VSSD's other settings) is written only
/// while it is still the VM's UUID.
#[test]
fn a_uuid_changed_on_kvm_is_the_biosguid_back_on_hyperv() {
    let gen1 = root().join("samples/hyperv/db-gen1.xml");
    let (back, _) = there_changed_and_back("carry-uuid-hyperv", &gen1, "hyperv", |t| {
        t.replace(
            "<uuid>4c1e9a52-7d3b-4f08-a6c1-2b9e5d7f3a81</uuid>",
            "<uuid>11111111-2222-3333-4444-555555555555</uuid>",
        )
    });
    let text = std::fs::read_to_string(&back).unwrap();
    assert!(
        text.contains("&lt;VALUE&gt;{11111111-2222-3333-4444-555555555555}"),
        "{text}"
    );
    assert!(
        !text
            .to_lowercase()
            .contains("{4c1e9a52-7d3b-4f08-a6c1-2b9e5d7f3a81}"),
        "{text}"
    );
}

/// A generated MAC changed on KVM goes back to VMware as the new, static
/// MAC: the carried `addressType = "generated"` described the old one, and
/// VMware would replace a generated MAC outside its range with its own.
#[test]
fn a_mac_changed_on_kvm_goes_back_to_vmware_static() {
    let dir = temp_dir("carry-mac-vmware");
    let vmx = std::fs::read_to_string(root().join("samples/vmware/web.vmx"))
        .unwrap()
        .replace(
            "ethernet0.addressType = \"static\"\nethernet0.address = \"00:50:56:3a:7c:11\"",
            "ethernet0.addressType = \"generated\"\nethernet0.generatedAddress = \"00:0c:29:3a:7c:11\"\nethernet0.generatedAddressOffset = \"0\"",
        );
    assert!(vmx.contains("00:0c:29:3a:7c:11"));
    let input = dir.join("gen.vmx");
    std::fs::write(&input, &vmx).unwrap();
    let o = transform(&input, "kvm", &dir.join("there"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kvm = dir.join("there/gen.kvm.xml");
    let text = std::fs::read_to_string(&kvm).unwrap();
    // Unchanged, it comes home as it was.
    let o = transform(&kvm, "vmware", &dir.join("home"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("home/gen.kvm.vmware.vmx")).unwrap(),
        vmx
    );
    // The MAC changed in libvirt's <interface> (not in the carried original).
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains("<mac address=") {
                l.replace("00:0c:29:3a:7c:11", "52:54:00:11:22:33")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&kvm, edited.join("\n")).unwrap();
    let o = transform(&kvm, "vmware", &dir.join("back"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(dir.join("back/gen.kvm.vmware.vmx")).unwrap();
    assert!(
        back.contains("ethernet0.addressType = \"static\""),
        "{back}"
    );
    assert!(
        back.contains("ethernet0.address = \"52:54:00:11:22:33\""),
        "{back}"
    );
    assert!(
        back.contains("ethernet0.checkMACAddress = \"false\""),
        "{back}"
    );
    assert!(!back.contains("generatedAddress"), "{back}");
}

/// The disks of a VM sent to vSphere, one removed there (or the drives only
/// reordered): each remaining disk keeps its own carried path, format and
/// target, found by its vSphere file name, not by its place among the
/// drives (which gave the archive disk the removed one's details, and
/// pointed unchanged disks at the datastore's `.vmdk` files).
#[test]
fn vsphere_drives_removed_or_reordered_keep_their_own_details() {
    let dir = temp_dir("carry-vsphere-drives");
    for no_carry in [false, true] {
        let extra: &[&str] = if no_carry { &["--no-carry"] } else { &[] };
        let vs_dir = dir.join(format!("vs-{no_carry}"));
        let o = transform(
            &root().join("samples/kvm/db.xml"),
            "vsphere",
            &vs_dir,
            extra,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let vs = std::fs::read_to_string(only_file(&vs_dir)).unwrap();
        // The deviceChange blocks of the virtual disks, in order.
        let blocks: Vec<&str> = vs
            .split_inclusive("</deviceChange>\n")
            .filter(|b| b.contains("\"VirtualDisk\""))
            .map(|b| &b[b.find("  <deviceChange>").unwrap()..])
            .collect();
        assert_eq!(blocks.len(), 3, "{vs}");
        let removed = vs.replace(blocks[1], "");
        let reordered = vs
            .replace(blocks[0], "@@first@@")
            .replace(blocks[2], blocks[0])
            .replace("@@first@@", blocks[2]);
        for (name, text) in [("removed", removed), ("reordered", reordered)] {
            let input = dir.join(format!("{name}-{no_carry}.xml"));
            std::fs::write(&input, text).unwrap();
            let out = dir.join(format!("kvm-{name}-{no_carry}"));
            let o = transform(&input, "kvm", &out, extra);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let kvm = std::fs::read_to_string(only_file(&out)).unwrap();
            let d = roxmltree::Document::parse(&kvm).unwrap();
            let disks: Vec<(String, String, String)> = d
                .descendants()
                .filter(|n| n.has_tag_name("disk") && n.attribute("device") == Some("disk"))
                .map(|n| {
                    let child = |t: &str| n.children().find(|c| c.has_tag_name(t));
                    let source = child("source")
                        .and_then(|s| s.attribute("file").or(s.attribute("dev")))
                        .unwrap_or_default();
                    let format = child("driver")
                        .and_then(|s| s.attribute("type"))
                        .unwrap_or_default();
                    let target = child("target")
                        .and_then(|s| s.attribute("dev"))
                        .unwrap_or_default();
                    (source.to_string(), format.to_string(), target.to_string())
                })
                .collect();
            let archive = (
                "/var/lib/libvirt/images/db-archive.qcow2".to_string(),
                "qcow2".to_string(),
                "sdc".to_string(),
            );
            let os = (
                "/var/lib/libvirt/images/db-os.qcow2".to_string(),
                "qcow2".to_string(),
                "sda".to_string(),
            );
            assert!(
                disks.contains(&archive),
                "{name}, no carry {no_carry}: {disks:?}"
            );
            assert!(
                disks.contains(&os),
                "{name}, no carry {no_carry}: {disks:?}"
            );
            assert_eq!(disks.len(), if name == "removed" { 2 } else { 3 });
        }
    }
}

/// `.vmx` keys are case-insensitive: `HVX.CARRY.N` carries as `hvx.carry.N`
/// does. A part given twice is named as such. A package pasted from another
/// VM's file (neither its name nor its UUID this VM's) is not restored onto
/// this VM, with a warning saying whose it is.
#[test]
fn vmx_packages_in_any_case_twice_or_from_another_vm() {
    let dir = temp_dir("carry-vmx-packages");
    let to_vmx = |name: &str| {
        let out = dir.join(format!("vmx-{name}"));
        converted(
            &root().join(format!("samples/kvm/{name}.xml")),
            "vmware",
            &out,
        )
    };
    let (web, db) = (
        std::fs::read_to_string(to_vmx("web")).unwrap(),
        std::fs::read_to_string(to_vmx("db")).unwrap(),
    );
    let back = |name: &str, text: String| {
        let input = dir.join(format!("{name}.vmx"));
        std::fs::write(&input, text).unwrap();
        let out = dir.join(format!("kvm-{name}"));
        let o = transform(&input, "kvm", &out, &["-v"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        (
            std::fs::read_to_string(only_file(&out)).unwrap(),
            stderr(&o),
        )
    };
    let upper: String = web
        .lines()
        .map(|l| match l.strip_prefix("hvx.carry.") {
            Some(rest) => format!("HVX.CARRY.{rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    let (kvm, _) = back("upper", upper);
    assert_eq!(
        kvm,
        std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap()
    );
    // Twice in vSphere's extraConfig (a .vmx keeps a key's last value).
    let vs_dir = dir.join("vs");
    let vs = std::fs::read_to_string(converted(
        &root().join("samples/kvm/web.xml"),
        "vsphere",
        &vs_dir,
    ))
    .unwrap();
    let at = vs.find("<key>hvx.carry.1</key>").unwrap();
    let start = vs[..at].rfind("  <extraConfig>").unwrap();
    let end = at + vs[at..].find("</extraConfig>\n").unwrap() + "</extraConfig>\n".len();
    let twice = format!("{}{}{}", &vs[..end], &vs[start..end], &vs[end..]);
    let input = dir.join("twice.xml");
    std::fs::write(&input, twice).unwrap();
    let o = transform(&input, "kvm", &dir.join("kvm-twice"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("extraConfig hvx.carry.1 is given twice"),
        "{}",
        stderr(&o)
    );
    let pasted: String = db
        .lines()
        .filter(|l| !l.starts_with("hvx.carry."))
        .chain(web.lines().filter(|l| l.starts_with("hvx.carry.")))
        .map(|l| format!("{l}\n"))
        .collect();
    let (kvm, err) = back("pasted", pasted);
    assert!(
        err.contains("carried data not restored: it is another VM's (`web`"),
        "{err}"
    );
    assert!(kvm.contains("<name>db</name>"), "{kvm}");
    assert!(
        !kvm.contains("i440fx"),
        "web's machine grafted onto db: {kvm}"
    );
}

/// Memory raised on the way (in vSphere, in a `.vmx`): libvirt's carried
/// `<memtune>` limits below the new size and NUMA cells that no longer add
/// up to it are left out, with a warning, not written back to cap the VM
/// (or, for cells, to undo the change: libvirt sizes the VM from them).
#[test]
fn memory_raised_on_the_way_leaves_out_limits_and_cells_below_it() {
    let dir = temp_dir("carry-memory-raised");
    // db: 32 GiB, hard_limit 34 GiB; vSphere's memory raised to 64 GiB.
    let vs = std::fs::read_to_string(converted(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("vs"),
    ))
    .unwrap();
    assert!(vs.contains("<memoryMB>32768</memoryMB>"));
    let input = dir.join("db-64g.xml");
    std::fs::write(
        &input,
        vs.replace("<memoryMB>32768</memoryMB>", "<memoryMB>65536</memoryMB>"),
    )
    .unwrap();
    let out = dir.join("kvm-64g");
    let o = transform(&input, "kvm", &out, &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kvm = std::fs::read_to_string(only_file(&out)).unwrap();
    assert!(
        kvm.contains("<memory unit=\"KiB\">67108864</memory>"),
        "{kvm}"
    );
    assert!(!kvm.contains("35651584"), "the old hard limit: {kvm}");
    assert!(
        stderr(&o).contains("<memtune> limits below that"),
        "{}",
        stderr(&o)
    );
    // NUMA cells of 2 × 109550 KiB, the memory raised to 1 GiB in a .vmx.
    let numa = root().join("tests/corpus/libvirt-qemu-domainxml/cpu-numa1.xml");
    let vmx = std::fs::read_to_string(converted(&numa, "vmware", &dir.join("vmx"))).unwrap();
    let line = vmx.lines().find(|l| l.starts_with("memsize = ")).unwrap();
    let input = dir.join("numa.vmx");
    std::fs::write(&input, vmx.replace(line, "memsize = \"1024\"")).unwrap();
    let out = dir.join("kvm-numa");
    let o = transform(&input, "kvm", &out, &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kvm = std::fs::read_to_string(only_file(&out)).unwrap();
    assert!(!kvm.contains("<numa"), "stale cells: {kvm}");
    assert!(kvm.contains("<topology"), "the topology is kept: {kvm}");
    assert!(
        stderr(&o).contains("NUMA cells: the carried cells hold"),
        "{}",
        stderr(&o)
    );
}

/// Secure Boot turned on in a `.vmx` that carries an i440fx (`pc`) domain:
/// QEMU has Secure Boot only on Q35, whose PCI layout the carried devices do
/// not have, so it stays off with a warning (the output was a secure loader
/// on `pc` without SMM, which libvirt refuses). Without the carried domain
/// the VM is laid out for Q35, with SMM.
#[test]
fn secure_boot_turned_on_for_an_i440fx_domain() {
    let dir = temp_dir("carry-secure-boot-pc");
    let vmx = std::fs::read_to_string(converted(
        &root().join("samples/kvm/web.xml"),
        "vmware",
        &dir.join("vmx"),
    ))
    .unwrap();
    let guest = vmx.lines().find(|l| l.starts_with("guestOS = ")).unwrap();
    let input = dir.join("sb.vmx");
    std::fs::write(
        &input,
        vmx.replace(
            guest,
            &format!("{guest}\nfirmware = \"efi\"\nuefi.secureBoot.enabled = \"TRUE\""),
        ),
    )
    .unwrap();
    let out = dir.join("kvm");
    let o = transform(&input, "kvm", &out, &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kvm = std::fs::read_to_string(only_file(&out)).unwrap();
    assert!(kvm.contains("machine=\"pc-i440fx-7.2\""), "{kvm}");
    assert!(!kvm.contains("secure=\"yes\""), "{kvm}");
    assert!(
        kvm.contains("<feature enabled=\"no\" name=\"secure-boot\"/>"),
        "{kvm}"
    );
    assert!(
        stderr(&o).contains("Secure Boot: QEMU has it only on the Q35 machine"),
        "{}",
        stderr(&o)
    );
    let out = dir.join("kvm-no-carry");
    let o = transform(&input, "kvm", &out, &["--no-carry"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kvm = std::fs::read_to_string(only_file(&out)).unwrap();
    assert!(kvm.contains("machine=\"q35\""), "{kvm}");
    assert!(
        kvm.contains("<loader secure=\"yes\"/>") && kvm.contains("<smm state=\"on\"/>"),
        "{kvm}"
    );
}

/// A KVM VM taken to a platform P, on to Hyper-V, changed there (its
/// memory), and back through P to KVM: P's document, written anew since
/// the VM changed, carries the hub the change was merged into, so the
/// domain comes home with everything but the change as it was: machine
/// type, clock, controllers, consoles, memballoon, RNG. Before, P's
/// document carried nothing (going to the platform of the package Hyper-V
/// carried was taken for going home), and the domain came back as P could
/// describe it.
#[test]
fn a_change_two_platforms_away_keeps_what_only_kvm_held() {
    if tool("virsh").is_none() {
        return;
    }
    let source = root().join("samples/kvm/web.xml");
    let original = virsh_dump(&source, "web");
    assert!(original.contains("<memory unit='KiB'>2097152</memory>"));
    for p in ["vsphere", "vmware", "xen", "ovf", "ec2"] {
        let dir = temp_dir(&format!("carry-two-away-{p}"));
        let on_p = converted(&source, p, &dir.join("p"));
        let on_hyperv = converted(&on_p, "hyperv", &dir.join("hyperv"));
        let text = std::fs::read_to_string(&on_hyperv).unwrap();
        let edited = edit_instances(
            &text,
            "Msvm_MemorySettingData",
            "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;2048&lt;",
            "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;4096&lt;",
        );
        std::fs::write(&on_hyperv, edited).unwrap();
        let back_on_p = converted(&on_hyperv, p, &dir.join("p-again"));
        let o = transform(&back_on_p, "kvm", &dir.join("kvm"), &["-v"]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("not restored: it is"),
            "{p}: {}",
            stderr(&o)
        );
        let back = virsh_dump(&main_document(&dir.join("kvm")), "web");
        assert_eq!(
            back,
            original.replace("2097152", "4194304"),
            "{p}: the domain back from {p} differs from the original beyond its memory"
        );
    }
}

/// A vSphere VM of its own (not one hvxform wrote) sent to Hyper-V,
/// changed there, and back to vSphere: the spec is vSphere's again, with
/// the change and without hvxform's bookkeeping keys (`hvx.source`,
/// `hvx.drive.*`, `hvx.nic.*`), which it never had. Only the temporary
/// keys of its new devices may differ (vCenter gives the real ones).
#[test]
fn a_vsphere_vm_changed_elsewhere_comes_home_without_hvxform_s_keys() {
    let sample = root().join("samples/vsphere/web.xml");
    let text = std::fs::read_to_string(&sample).unwrap();
    assert!(!text.contains("hvx."));
    let dir = temp_dir("carry-vsphere-own-home");
    let there = converted(&sample, "hyperv", &dir.join("hyperv"));
    let edited = edit_instances(
        &std::fs::read_to_string(&there).unwrap(),
        "Msvm_MemorySettingData",
        "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;2048&lt;",
        "NAME=\"VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;4096&lt;",
    );
    std::fs::write(&there, edited).unwrap();
    let back = std::fs::read_to_string(converted(&there, "vsphere", &dir.join("back"))).unwrap();
    assert!(!back.contains("hvx."), "{back}");
    assert_eq!(
        without_keys(&back),
        without_keys(&text.replace("<memoryMB>2048<", "<memoryMB>4096<"))
    );
}

/// A VM through two platforms and back, unchanged, comes home byte for
/// byte: Hyper-V passes on the libvirt domain it carries (not itself
/// around it, a package in a package), so EC2's 50 tags hold it as they
/// hold it from KVM. Before, the nested package needed 43 tags more than
/// EC2 has, was not carried, and the domain lost its read-only and
/// shareable disks, memtune, cputune and controllers on the way back.
#[test]
fn kvm_through_hyperv_and_ec2_and_back_is_the_domain_again() {
    let source = root().join("samples/kvm/db.xml");
    let dir = temp_dir("carry-hyperv-ec2");
    let hyperv = converted(&source, "hyperv", &dir.join("1"));
    let o = transform(&hyperv, "ec2", &dir.join("2"), &["-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not carried"), "{}", stderr(&o));
    let ec2 = main_document(&dir.join("2"));
    let hyperv = converted(&ec2, "hyperv", &dir.join("3"));
    let kvm = converted(&hyperv, "kvm", &dir.join("4"));
    assert_eq!(
        std::fs::read_to_string(kvm).unwrap(),
        std::fs::read_to_string(&source).unwrap()
    );
}

/// A change made on a platform the VM then leaves for one that cannot
/// hold it still comes home: a description written in vSphere for a VM
/// from KVM that went there through Xen is carried by the xl.cfg (xl has
/// no description), and the domain has it; everything else is as it was.
/// Before, the Xen document carried the domain as it was before the edit,
/// and the old description came back.
#[test]
fn an_edit_the_next_platform_cannot_hold_still_comes_home() {
    if tool("virsh").is_none() {
        return;
    }
    let source = root().join("samples/kvm/web.xml");
    let dir = temp_dir("carry-edit-through-xen");
    let xen = converted(&source, "xen", &dir.join("1"));
    let spec = converted(&xen, "vsphere", &dir.join("2"));
    let text = std::fs::read_to_string(&spec).unwrap();
    let (start, end) = (
        text.find("<annotation>").unwrap(),
        text.find("</annotation>").unwrap(),
    );
    let old = &text[start + "<annotation>".len()..end];
    // The spec's own annotation (the carried original has the old text
    // too, which is not the user's to edit).
    std::fs::write(
        &spec,
        text.replacen(
            &format!("<annotation>{old}</annotation>"),
            "<annotation>Web server, moved to cluster B</annotation>",
            1,
        ),
    )
    .unwrap();
    let xen = converted(&spec, "xen", &dir.join("3"));
    let kvm = converted(&xen, "kvm", &dir.join("4"));
    let original = virsh_dump(&source, "web");
    assert!(original.contains(&format!("<description>{old}</description>")));
    assert_eq!(
        virsh_dump(&kvm, "web"),
        original.replace(old, "Web server, moved to cluster B")
    );
}

/// `text` with the last occurrence of `from` (the document's own element,
/// after the carried data at its start) replaced by `to`.
fn replace_last(text: &str, from: &str, to: &str) -> String {
    let at = text
        .rfind(from)
        .unwrap_or_else(|| panic!("no {from} in {text}"));
    format!("{}{to}{}", &text[..at], &text[at + from.len()..])
}

/// A ConfigSpec without its devices' temporary keys (`<key>-2001</key>`),
/// which a spec written anew may number otherwise (vCenter gives the real
/// ones).
fn without_keys(spec: &str) -> String {
    spec.lines()
        .filter(|l| !l.trim_start().starts_with("<key>-"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The file `converted` wrote, with its own `from` (the last one: the
/// carried data comes first) made `to`, as the platform's tools edit it.
fn edit_last(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, replace_last(&text, from, to)).unwrap();
}

/// The line of a Hyper-V document (one embedded instance a line) holding
/// the instance of `class`.
fn instance_line<'a>(doc: &'a str, class: &str) -> &'a str {
    let name = format!("CLASSNAME=\"{class}\"");
    doc.lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("no {class} in {doc}"))
}

/// A Hyper-V VM with static memory (Reservation = Limit = VirtualQuantity,
/// as WMI reports it) whose memory is raised on KVM comes back with all
/// three at the new size. Before, Reservation and Limit were written as
/// carried: a Limit below the VM's memory.
#[test]
fn static_memory_changed_elsewhere_moves_hyper_v_s_reservation_and_limit() {
    let dir = temp_dir("carry-hyperv-static-memory");
    let sample = root().join("samples/hyperv/db-gen1.xml");
    let kvm = converted(&sample, "kvm", &dir.join("kvm"));
    edit_last(
        &kvm,
        "<memory unit=\"KiB\">16777216</memory>",
        "<memory unit=\"KiB\">33554432</memory>",
    );
    let back = std::fs::read_to_string(converted(&kvm, "hyperv", &dir.join("back"))).unwrap();
    let memory = instance_line(&back, "Msvm_MemorySettingData");
    for p in ["VirtualQuantity", "Reservation", "Limit"] {
        assert!(
            memory.contains(&format!(
                "NAME=\"{p}\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;32768&lt;"
            )),
            "{p}: {memory}"
        );
    }
    assert!(!memory.contains("16384"), "{memory}");
}

/// A disk added on vSphere to a VM that came from KVM through Xen: going
/// back to Xen, it takes a vdev no other disk has. Before, it was named by
/// its SCSI place (sdd), the name of the CD-ROM whose target came back with
/// the carried data: two disks on one vdev, which xl refuses.
#[test]
fn a_disk_added_on_the_way_to_xen_takes_a_free_vdev() {
    let dir = temp_dir("carry-xen-free-vdev");
    let xen = converted(&root().join("samples/kvm/db.xml"), "xen", &dir.join("xen"));
    let spec = converted(&xen, "vsphere", &dir.join("vsphere"));
    let text = std::fs::read_to_string(&spec).unwrap();
    let at = text.find("  <extraConfig>").unwrap();
    let added = "  <deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type=\"VirtualDisk\"><key>-3000</key><backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>[datastore1] db/db_3.vmdk</fileName><diskMode>persistent</diskMode></backing><controllerKey>-100</controllerKey><unitNumber>3</unitNumber><capacityInKB>20971520</capacityInKB></device></deviceChange>\n";
    std::fs::write(&spec, format!("{}{added}{}", &text[..at], &text[at..])).unwrap();
    let back = std::fs::read_to_string(converted(&spec, "xen", &dir.join("back"))).unwrap();
    let disks = back.lines().find(|l| l.starts_with("disk = ")).unwrap();
    let vdevs: Vec<&str> = disks
        .split("vdev=")
        .skip(1)
        .map(|s| s.split([',', '"']).next().unwrap())
        .collect();
    assert_eq!(vdevs.len(), 5, "{disks}");
    let mut unique = vdevs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), vdevs.len(), "{disks}");
    assert!(
        disks.contains("vdev=sde") && disks.contains("db_3"),
        "{disks}"
    );
}

/// A vSphere VM of its own with a MAC changed on KVM, then sent to
/// Hyper-V and back to vSphere: the spec is the original but for the MAC
/// (and temporary device keys), with none of hvxform's bookkeeping keys
/// and nothing unmapped.
#[test]
fn a_vsphere_vm_changed_on_kvm_comes_home_as_vsphere_s() {
    let dir = temp_dir("carry-vsphere-own-kvm-edit");
    let sample = root().join("samples/vsphere/db.xml");
    let kvm = converted(&sample, "kvm", &dir.join("kvm"));
    edit_last(
        &kvm,
        "<mac address=\"52:54:00:5d:e0:02\"/>",
        "<mac address=\"52:54:00:5d:e0:99\"/>",
    );
    let hyperv = converted(&kvm, "hyperv", &dir.join("hyperv"));
    let o = transform(
        &hyperv,
        "vsphere",
        &dir.join("back"),
        &["-v", "--deny-loss"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("unmapped"), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(!back.contains("hvx."), "{back}");
    let original = std::fs::read_to_string(&sample).unwrap();
    assert_eq!(
        without_keys(&back),
        without_keys(&original.replace("52:54:00:5d:e0:02", "52:54:00:5d:e0:99"))
    );
}

/// One disk's image replaced on Xen, for a VM that went there from KVM
/// through vSphere: back on vSphere (no session store), the disks nobody
/// touched are on the datastores they had, from the identifiers the VM
/// carried; only the new image's directory gets a datastore of its own.
/// Before, the datastores were minted anew in disk order and the archive
/// disk moved from datastore1 to datastore3, a file vCenter has not got.
#[test]
fn a_disk_changed_on_the_way_leaves_the_others_their_datastores() {
    let dir = temp_dir("carry-datastores-kept");
    let spec = converted(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("1"),
    );
    let first = std::fs::read_to_string(&spec).unwrap();
    for f in [
        "[datastore1] db-os/db-os.vmdk",
        "[datastore2] mpath-pgdata/mpath-pgdata.vmdk",
        "[datastore1] db-archive/db-archive.vmdk",
    ] {
        assert!(first.contains(f), "{f}: {first}");
    }
    let xen = converted(&spec, "xen", &dir.join("2"));
    let text = std::fs::read_to_string(&xen).unwrap();
    let disks = text.lines().find(|l| l.starts_with("disk = ")).unwrap();
    let edited = text.replacen(
        disks,
        &disks.replace(
            "target=/var/lib/libvirt/images/db-os.qcow2",
            "target=/srv/xen/db-os-new.qcow2",
        ),
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&xen, edited).unwrap();
    let back = std::fs::read_to_string(converted(&xen, "vsphere", &dir.join("3"))).unwrap();
    assert!(
        back.contains("<fileName>[datastore2] mpath-pgdata/mpath-pgdata.vmdk</fileName>"),
        "{back}"
    );
    assert!(
        back.contains("<fileName>[datastore1] db-archive/db-archive.vmdk</fileName>"),
        "{back}"
    );
    assert!(
        back.contains("<fileName>[datastore3] db-os-new/db-os-new.vmdk</fileName>"),
        "{back}"
    );
}

/// A VM from KVM changed on a platform P (its vCPUs), sent on to Xen, and
/// back to P and to KVM: going to P again is not going home (the hub merged
/// on the way holds P's detail, but the package says the VM is from KVM),
/// so P's document carries the package on, and the domain comes back as it
/// was but for the change. Before, P's document carried nothing, and the
/// domain came back as P could describe it (machine type, PCI addresses,
/// channels and RNG gone), with no warning.
#[test]
fn a_platform_the_vm_was_changed_on_is_not_its_home() {
    if tool("virsh").is_none() {
        return;
    }
    let cases = [
        (
            "ovf",
            "web",
            "<rasd:VirtualQuantity>2<",
            "<rasd:VirtualQuantity>6<",
            2,
            6,
        ),
        (
            "vmware",
            "db",
            "\nnumvcpus = \"8\"\n",
            "\nnumvcpus = \"12\"\n",
            8,
            12,
        ),
    ];
    for (p, vm, from, to, before, after) in cases {
        let dir = temp_dir(&format!("carry-not-home-{p}"));
        let source = root().join(format!("samples/kvm/{vm}.xml"));
        let there = converted(&source, p, &dir.join("1"));
        let text = std::fs::read_to_string(&there).unwrap();
        assert!(text.contains(from), "{p}: {text}");
        std::fs::write(&there, text.replacen(from, to, 1)).unwrap();
        let xen = converted(&there, "xen", &dir.join("2"));
        let again = converted(&xen, p, &dir.join("3"));
        let o = transform(&again, "kvm", &dir.join("4"), &["-v"]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stderr(&o));
        let back = virsh_dump(&main_document(&dir.join("4")), vm);
        let original = virsh_dump(&source, vm);
        let vcpu = |n: i32| format!("<vcpu placement='static'>{n}</vcpu>");
        assert!(original.contains(&vcpu(before)), "{original}");
        // The topology follows the new count (a warning says how).
        let strip = |d: &str| {
            d.lines()
                .filter(|l| !l.contains("<topology"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(&back),
            strip(&original.replace(&vcpu(before), &vcpu(after))),
            "{p}"
        );
    }
}

/// An xl.cfg with `maxmem` equal to `memory` (a VM that does not balloon)
/// whose memory is raised on KVM: back on Xen, maxmem is the new memory.
/// Before, the carried maxmem came back as it was, a ceiling below the
/// VM's memory.
#[test]
fn xen_s_maxmem_follows_memory_changed_elsewhere() {
    let dir = temp_dir("carry-xen-maxmem");
    let sample = root().join("samples/xen/win-uefi.cfg");
    let cfg = std::fs::read_to_string(&sample).unwrap();
    assert!(cfg.contains("\nmemory = 8192\n") && cfg.contains("\nmaxmem = 8192\n"));
    let kvm = converted(&sample, "kvm", &dir.join("kvm"));
    edit_last(
        &kvm,
        "<memory unit=\"KiB\">8388608</memory>",
        "<memory unit=\"KiB\">16777216</memory>",
    );
    let o = transform(&kvm, "xen", &dir.join("back"), &["-v", "--deny-loss"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = std::fs::read_to_string(only_file(&dir.join("back"))).unwrap();
    assert!(back.contains("\nmemory = 16384\n"), "{back}");
    assert!(back.contains("\nmaxmem = 16384\n"), "{back}");
}

/// A Hyper-V VM with dynamic memory (startup 4096 MiB, 2048 to 8192) whose
/// memory is set to 6144 MiB in a `.vmx` (VMware holds one size, the
/// maximum): back on Hyper-V, memory is still dynamic, 2048 to 6144 from a
/// startup of 4096. Before, the startup memory VMware cannot hold was taken
/// for removed, and the VM came back static, with a Reservation of 2048
/// beside 6144.
#[test]
fn dynamic_memory_resized_where_it_cannot_be_held_stays_dynamic() {
    let dir = temp_dir("carry-hyperv-dynamic-memory");
    let sample = root().join("samples/hyperv/web-gen2.xml");
    let vmx = converted(&sample, "vmware", &dir.join("vmware"));
    let text = std::fs::read_to_string(&vmx).unwrap();
    assert!(text.contains("\nmemsize = \"8192\"\n"), "{text}");
    std::fs::write(
        &vmx,
        text.replacen("\nmemsize = \"8192\"\n", "\nmemsize = \"6144\"\n", 1),
    )
    .unwrap();
    let back = std::fs::read_to_string(converted(&vmx, "hyperv", &dir.join("back"))).unwrap();
    let memory = instance_line(&back, "Msvm_MemorySettingData");
    for (p, ty, v) in [
        ("VirtualQuantity", "uint64", "4096"),
        ("DynamicMemoryEnabled", "boolean", "TRUE"),
        ("Reservation", "uint64", "2048"),
        ("Limit", "uint64", "6144"),
    ] {
        assert!(
            memory.contains(&format!(
                "NAME=\"{p}\" TYPE=\"{ty}\"&gt;&lt;VALUE&gt;{v}&lt;"
            )),
            "{p}: {memory}"
        );
    }
}

/// A disk resized and a NIC given another MAC in vSphere come back to KVM
/// with libvirt's own detail of them that still applies: the disk's driver
/// options (`io`, `discard`), the NIC's PCI address (the guest names its
/// interface after it: `enp1s0`) and its multiqueue backend. A NIC whose
/// model changed too keeps its address but not the backend options of the
/// old model; a virtio disk grown in an OVF keeps its PCI slot.
#[test]
fn a_device_changed_elsewhere_keeps_libvirt_s_detail_that_still_applies() {
    let db = root().join("samples/kvm/db.xml");
    let mac = "<macAddress>52:54:00:5d:e0:01</macAddress>";
    let new_mac = "<macAddress>00:50:56:aa:bb:cc</macAddress>";
    let grown = |l: &str| {
        l.replace(mac, new_mac)
            .replace("<capacityInKB>16777216<", "<capacityInKB>33554432<")
    };
    let (back, err) = changed_there("former-vsphere", &db, "vsphere", grown, &[]);
    let os_disk = element_with(&back, "disk", "db-os.qcow2");
    assert!(
        os_disk.contains("io=\"native\"") && os_disk.contains("discard=\"unmap\""),
        "{os_disk}\n{err}"
    );
    let nic = element_with(&back, "interface", "00:50:56:aa:bb:cc");
    assert!(
        nic.contains("<driver name=\"vhost\" queues=\"8\"/>"),
        "{nic}"
    );
    assert!(nic.contains("bus=\"0x01\" slot=\"0x00\""), "{nic}");
    for what in ["disk sda", "nic 52:54:00:5d:e0:01"] {
        assert!(
            err.contains(&format!("carried {what} restored in part")),
            "{what}: {err}"
        );
    }
    defined_by_libvirt(&back, "former-vsphere");

    // The model changed as well: vhost's queues were the virtio NIC's.
    let (back, _) = changed_there(
        "former-vsphere-model",
        &db,
        "vsphere",
        |l| {
            l.replace(mac, new_mac)
                .replace("VirtualVmxnet3", "VirtualE1000")
        },
        &[],
    );
    let nic = element_with(&back, "interface", "00:50:56:aa:bb:cc");
    assert!(nic.contains("<model type=\"e1000\"/>"), "{nic}");
    assert!(!nic.contains("queues"), "{nic}");
    assert!(nic.contains("bus=\"0x01\" slot=\"0x00\""), "{nic}");
    defined_by_libvirt(&back, "former-vsphere-model");

    // web's virtio disk grown in an OVF: its PCI slot and discard.
    let (back, _) = changed_there(
        "former-ovf",
        &root().join("samples/kvm/web.xml"),
        "ovf",
        |l| l.replace("ovf:capacity=\"16384\"", "ovf:capacity=\"32768\""),
        &[],
    );
    let disk = element_with(&back, "disk", "web.qcow2");
    assert!(disk.contains("discard=\"unmap\""), "{disk}");
    assert!(disk.contains("slot=\"0x04\""), "{disk}");
    defined_by_libvirt(&back, "former-ovf");
}

/// `domain` defined by libvirt's test driver, and by libvirtd with the QEMU
/// driver when `HVX_LIBVIRT_URI` names one.
fn defined_by_libvirt(domain: &str, name: &str) {
    let file = temp_dir(name).join("domain.xml");
    std::fs::write(&file, domain).unwrap();
    virsh_dump(&file, &domain_name(domain));
    if let Some(uri) = endpoint("HVX_LIBVIRT_URI", "libvirtd") {
        let (ok, msg) = virsh(&uri, &["define", file.to_str().unwrap()]);
        assert!(ok, "{name}: {msg}");
        let _ = virsh(&uri, &["undefine", "--nvram", &domain_name(domain)]);
    }
}

/// A VM from a `.vmx` or an xl.cfg whose memory was changed on KVM goes
/// home as the file it left as but for that one value: the file's order,
/// key spelling, comments and list layout are kept (it was written anew
/// from the hub: keys re-cased, comments gone, an extra floppy key), so an
/// administrator's diff shows the change and nothing else.
#[test]
fn a_vm_changed_on_kvm_goes_home_differing_only_where_it_changed() {
    // (xen/db has a balloon range: its `memory` is libvirt's currentMemory.)
    for (sample, from, to, element) in [
        (
            "vmware/web.vmx",
            "memSize = \"2048\"",
            "memSize = \"4096\"",
            "memory",
        ),
        (
            "vmware/db.vmx",
            "memSize = \"32768\"",
            "memSize = \"65536\"",
            "memory",
        ),
        (
            "vmware/win-uefi.vmx",
            "memSize = \"8192\"",
            "memSize = \"16384\"",
            "memory",
        ),
        ("xen/web.cfg", "memory = 2048", "memory = 4096", "memory"),
        (
            "xen/db.cfg",
            "memory = 16384",
            "memory = 8192",
            "currentMemory",
        ),
        (
            "xen/win-uefi.cfg",
            "memory = 8192",
            "memory = 16384",
            "memory",
        ),
    ] {
        let input = root().join("samples").join(sample);
        let original = std::fs::read_to_string(&input).unwrap();
        assert_eq!(original.matches(from).count(), 1, "{sample}");
        let kib = |l: &str| {
            let mib: u64 = l
                .rsplit(['=', '"', ' '])
                .find(|p| !p.is_empty())
                .unwrap()
                .parse()
                .unwrap();
            format!("<{element} unit=\"KiB\">{}</{element}>", mib * 1024)
        };
        let platform = sample.split('/').next().unwrap();
        let (back, err) = there_changed_and_back(
            &format!("home-layout-{}", sample.replace('/', "-")),
            &input,
            platform,
            |t| replace_last(t, &kib(from), &kib(to)),
        );
        let back = std::fs::read_to_string(back).unwrap();
        // (xen/win-uefi's maxmem equal to its memory follows it.)
        let want = if sample == "xen/win-uefi.cfg" {
            original
                .replace(from, to)
                .replace("maxmem = 8192", "maxmem = 16384")
        } else {
            original.replace(from, to)
        };
        assert_eq!(back, want, "{sample}\n{err}");
    }
}

/// A NIC added in vSphere before the NIC whose MAC was changed there takes
/// nothing of that NIC: the changed one is known by its place in the spec
/// (its temporary key, -4001 for the first NIC hvxform wrote), so it keeps
/// its model, bridge, multiqueue backend and PCI address, and the new one
/// is a new NIC. And a NIC moved to another network in an OVF is on that
/// network, not on a bridge of its name, still at its PCI address.
#[test]
fn a_nic_added_before_a_changed_one_takes_nothing_of_it() {
    let dir = temp_dir("former-nic-added");
    let there = converted(
        &root().join("samples/kvm/db.xml"),
        "vsphere",
        &dir.join("there"),
    );
    let spec = std::fs::read_to_string(&there).unwrap();
    let first = spec
        .find("<deviceChange>\n    <operation>add</operation>\n    <device xsi:type=\"VirtualVmxnet3\">")
        .expect("the first NIC");
    let end = first + spec[first..].find("</deviceChange>").unwrap() + "</deviceChange>\n  ".len();
    let added = spec[first..end]
        .replace("<key>-4001</key>", "<key>-4009</key>")
        .replace("<unitNumber>7</unitNumber>", "<unitNumber>9</unitNumber>")
        .replace("52:54:00:5d:e0:01", "00:50:56:00:00:99");
    assert_ne!(added, spec[first..end]);
    let changed = spec.replacen(
        "<macAddress>52:54:00:5d:e0:01</macAddress>",
        "<macAddress>00:50:56:00:00:01</macAddress>",
        1,
    );
    std::fs::write(
        &there,
        format!("{}{added}{}", &changed[..first], &changed[first..]),
    )
    .unwrap();
    let back = std::fs::read_to_string(converted(&there, "kvm", &dir.join("back"))).unwrap();
    let kept = element_with(&back, "interface", "00:50:56:00:00:01");
    for want in [
        "<interface type=\"bridge\">",
        "<model type=\"virtio\"/>",
        "queues=\"8\"",
        "bus=\"0x01\" slot=\"0x00\"",
    ] {
        assert!(kept.contains(want), "no {want} in {kept}");
    }
    let new = element_with(&back, "interface", "00:50:56:00:00:99");
    assert!(
        !new.contains("queues") && !new.contains("<address"),
        "{new}"
    );
    defined_by_libvirt(&back, "former-nic-added-domain");

    let (back, _) = changed_there(
        "former-nic-ovf-network",
        &root().join("samples/kvm/db.xml"),
        "ovf",
        |l| {
            l.replace(
                "<rasd:Connection>br0</rasd:Connection>",
                "<rasd:Connection>lab</rasd:Connection>",
            )
        },
        &[],
    );
    let nic = element_with(&back, "interface", "52:54:00:5d:e0:01");
    assert!(nic.contains("<interface type=\"network\">"), "{nic}");
    assert!(nic.contains("<source network=\"lab\"/>"), "{nic}");
    assert!(nic.contains("bus=\"0x01\" slot=\"0x00\""), "{nic}");
    defined_by_libvirt(&back, "former-nic-ovf-network");
}

/// A `.vmx` lists a domain's disks in another order than libvirt (a virtio
/// disk goes on a second SCSI adapter, listed after the first adapter's
/// disk, which libvirt listed after it). An image replaced in VMware lands
/// on the disk it was replaced on: each disk read back is paired with the
/// one it was written from by what they share, not by place.
#[test]
fn an_image_replaced_in_vmware_lands_on_its_own_disk() {
    let dir = temp_dir("vmx-disk-order");
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let data = "    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/libvirt/images/web-data.qcow2'/>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <controller type='usb'";
    let domain = dir.join("web.xml");
    std::fs::write(&domain, web.replacen("    <controller type='usb'", data, 1)).unwrap();
    let vmx = converted(&domain, "vmware", &dir.join("there"));
    let text = std::fs::read_to_string(&vmx).unwrap();
    let old = "scsi1:0.fileName = \"web.vmdk\"";
    assert!(
        text.contains("scsi0:0.fileName = \"web-data.vmdk\""),
        "{text}"
    );
    assert!(text.contains(old), "{text}");
    std::fs::write(
        &vmx,
        text.replace(old, "scsi1:0.fileName = \"web-v2.vmdk\""),
    )
    .unwrap();
    let back = std::fs::read_to_string(converted(&vmx, "kvm", &dir.join("back"))).unwrap();
    let vda = element_with(&back, "disk", "dev=\"vda\"");
    assert!(
        vda.contains("web-v2.vmdk") && vda.contains("<boot order=\"1\"/>"),
        "{vda}"
    );
    let sda = element_with(&back, "disk", "dev=\"sda\"");
    assert!(
        sda.contains("/var/lib/libvirt/images/web-data.qcow2"),
        "{sda}"
    );
    assert!(!sda.contains("<boot"), "{sda}");
    assert_eq!(back.matches("<boot order=").count(), 1, "{back}");
    defined_by_libvirt(&back, "vmx-disk-order-domain");
}

/// A device changed on KVM goes home to a `.vmx` or an xl.cfg with the
/// platform's own keys of it that still apply: a WAL disk moved to another
/// datastore stays `independent-persistent` (out of snapshots), a NIC given
/// another MAC keeps its rate limit; keys that described the changed field
/// do not come back (a MAC's `addressType` follows the new MAC).
#[test]
fn a_device_changed_on_kvm_keeps_its_vmx_and_xl_keys() {
    let vmx = root().join("samples/vmware/db.vmx");
    let original = std::fs::read_to_string(&vmx).unwrap();
    for (name, from, to, old, new) in [
        (
            "wal",
            "<source file=\"/vmfs/volumes/ssd-01/db01/db01_wal.vmdk\"/>",
            "<source file=\"/vmfs/volumes/ssd-02/db01/db01_wal.vmdk\"/>",
            "scsi1:1.fileName = \"/vmfs/volumes/ssd-01/db01/db01_wal.vmdk\"",
            "scsi1:1.fileName = \"/vmfs/volumes/ssd-02/db01/db01_wal.vmdk\"",
        ),
        (
            "mac",
            "<mac address=\"00:50:56:12:34:01\"/>",
            "<mac address=\"00:50:56:12:34:55\"/>",
            "ethernet0.address = \"00:50:56:12:34:01\"",
            "ethernet0.address = \"00:50:56:12:34:55\"",
        ),
    ] {
        let (back, err) =
            there_changed_and_back(&format!("vmx-keys-{name}"), &vmx, "vmware", |t| {
                replace_last(t, from, to)
            });
        let back = std::fs::read_to_string(back).unwrap();
        assert_eq!(back, original.replace(old, new), "{name}\n{err}");
    }
    let (back, err) = there_changed_and_back(
        "xl-keys-mac",
        &root().join("samples/xen/db.cfg"),
        "xen",
        |t| {
            replace_last(
                t,
                "<mac address=\"00:16:3e:5d:e0:01\"/>",
                "<mac address=\"00:16:3e:5d:e0:55\"/>",
            )
        },
    );
    // The changed item only: the list's other item, its quotes and its
    // line break are the file's.
    let back = std::fs::read_to_string(back).unwrap();
    let original = std::fs::read_to_string(root().join("samples/xen/db.cfg")).unwrap();
    let item = "'mac=00:16:3e:5d:e0:01,bridge=br0,model=e1000,rate=1000Mb/s'";
    assert_eq!(original.matches(item).count(), 1);
    assert_eq!(
        back,
        original.replace(
            item,
            "\"mac=00:16:3e:5d:e0:55,bridge=br0,model=e1000,rate=1000Mb/s\""
        ),
        "{err}"
    );
}
