//! Amazon EC2: every output through botocore's parser and moto's serializer
//! (AWS's service model), round trips through the hub, KVM → EC2 → KVM
//! through libvirt, the instance-type choice, and bad input.

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn ec2_python() -> Option<PathBuf> {
    venv_python(
        "HVX_EC2_PYTHON",
        "/opt/hvx-ec2-venv",
        "venv with botocore and moto",
    )
}

/// `hvxform -v transform INPUT --to TO -o DIR [ARGS]` that must succeed:
/// the output file and stderr.
fn transform(input: &Path, to: &str, dir: &Path, args: &[&str]) -> (PathBuf, String) {
    let store = dir.join("session.yaml");
    let mut a = vec![
        "-v",
        "transform",
        input.to_str().unwrap(),
        "--to",
        to,
        "-o",
        dir.to_str().unwrap(),
        "--session",
        store.to_str().unwrap(),
    ];
    a.extend_from_slice(args);
    let o = run(&a);
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
    let ext = if to == "hvx" { "hvx.xml" } else { "xml" };
    let name = if to == "hvx" {
        format!("{stem}.{ext}")
    } else {
        format!("{stem}.{to}.{ext}")
    };
    (dir.join(name), stderr(&o))
}

/// Whether a libvirt domain has a disk (not only CD-ROMs and floppies): an
/// EC2 instance boots from an EBS volume, so one without is refused.
fn has_disk(domain: &Path) -> bool {
    let text = std::fs::read_to_string(domain).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .any(|n| n.has_tag_name("disk") && n.attribute("device").unwrap_or("disk") == "disk")
}

/// The two instances of the vendored libcloud response.
const LIBCLOUD: [&str; 2] = ["i-4382922a", "i-8474834a"];

fn libcloud() -> PathBuf {
    root().join("tests/corpus/libcloud-ec2/describe_instances.xml")
}

/// An element and everything in it as one line per node (names with their
/// namespace, attributes, non-blank text): what "identical" compares.
fn tree(n: roxmltree::Node, depth: usize, out: &mut String) {
    if n.is_element() {
        let t = n.tag_name();
        out.push_str(&format!(
            "{}{{{}}}{}\n",
            "  ".repeat(depth),
            t.namespace().unwrap_or(""),
            t.name()
        ));
        for a in n.attributes() {
            out.push_str(&format!(
                "{}@{}={}\n",
                "  ".repeat(depth + 1),
                a.name(),
                a.value()
            ));
        }
        for c in n.children() {
            tree(c, depth + 1, out);
        }
    } else if let Some(t) = n.text().filter(|t| !t.trim().is_empty()) {
        out.push_str(&format!("{}{t:?}\n", "  ".repeat(depth)));
    }
}

/// The response with only the reservation of `instance` (all when `None`).
fn response(text: &str, instance: Option<&str>) -> String {
    let doc = roxmltree::Document::parse(text).unwrap();
    let mut out = String::new();
    let root = doc.root_element();
    out.push_str(&format!("{:?}\n", root.tag_name().name()));
    for c in root.children().filter(|c| c.is_element()) {
        if c.tag_name().name() != "reservationSet" {
            tree(c, 1, &mut out);
            continue;
        }
        for r in c.children().filter(|c| c.is_element()) {
            let ids: Vec<&str> = r
                .descendants()
                .filter(|d| d.has_tag_name((hvxform::platform::ec2::NS, "instanceId")))
                .filter_map(|d| d.text())
                .collect();
            if instance.is_none_or(|i| ids.contains(&i)) {
                tree(r, 1, &mut out);
            }
        }
    }
    out
}

/// ec2 → hvx → ec2 gives the response back as it was: the samples, and each
/// instance of the libcloud response (with only its own reservation).
#[test]
fn ec2_through_the_hub_and_back_is_identical() {
    let dir = temp_dir("ec2-identity");
    let mut cases: Vec<(PathBuf, Option<&str>)> =
        samples("ec2").into_iter().map(|s| (s, None)).collect();
    for i in LIBCLOUD {
        cases.push((libcloud(), Some(i)));
    }
    for (input, instance) in &cases {
        let param = instance.map(|i| format!("ec2_instance={i}"));
        let args: Vec<&str> = match &param {
            Some(p) => vec!["--param", p],
            None => vec![],
        };
        let sub = dir.join(instance.unwrap_or("all"));
        let (hub, _) = transform(input, "hvx", &sub, &args);
        let (back, _) = transform(&hub, "ec2", &sub.join("back"), &[]);
        let text = std::fs::read_to_string(input).unwrap();
        let want = hvxform::platform::ec2::normalise(&text).unwrap_or(text);
        let got = std::fs::read_to_string(&back).unwrap();
        assert_eq!(
            response(&want, *instance),
            response(&got, None),
            "{} ({instance:?}) → hvx → ec2",
            input.display()
        );
    }
    assert_eq!(cases.len(), 4);
}

/// Every EC2 output, from every sample of every platform and from the
/// vendored corpora, read by botocore's parser and written back by moto's
/// serializer without a difference; enum values are the service model's.
#[test]
fn every_ec2_output_passes_botocore_and_moto() {
    let Some(py) = ec2_python() else {
        return;
    };
    let dir = temp_dir("ec2-check");
    let mut outputs = Vec::new();
    for p in ["kvm", "vsphere", "ovf", "vmware", "xen", "hyperv", "ec2"] {
        for s in samples(p) {
            outputs.push(transform(&s, "ec2", &dir.join(p), &[]).0);
        }
    }
    let corpus = root().join("tests/corpus/libvirt-qemu-domainxml");
    let accepted = std::fs::read_to_string(corpus.join("ACCEPTED.tsv")).unwrap();
    for line in accepted.lines().skip(1).filter(|l| l.contains("\tyes")) {
        let f = corpus.join(line.split('\t').next().unwrap());
        if has_disk(&f) {
            outputs.push(transform(&f, "ec2", &dir.join("libvirt"), &[]).0);
        }
    }
    for i in LIBCLOUD {
        let p = format!("ec2_instance={i}");
        outputs.push(transform(&libcloud(), "ec2", &dir.join(i), &["--param", &p]).0);
    }
    // Large VMs (tests/large_vms.rs): 15 disks on three buses and 8 NICs,
    // which choose the type (8 network interfaces); 26 disks, the most
    // hvxform names (/dev/sda1, /dev/sdb to /dev/sdz), 4 vCPUs, on a t3 (27 EBS
    // volumes beside one interface).
    let large = dir.join("large.xml");
    std::fs::write(
        &large,
        large_domain(6, &["sda", "sdb", "sdc", "sdd", "sde", "sdf"], 3, 8),
    )
    .unwrap();
    outputs.push(transform(&large, "ec2", &dir.join("large"), &[]).0);
    let disks26 = dir.join("disks26.xml");
    std::fs::write(&disks26, large_domain(26, &[], 0, 1)).unwrap();
    let (out, _) = transform(
        &disks26,
        "ec2",
        &dir.join("disks26"),
        &["--param", "ec2_families=t3"],
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("<instanceType>t3.xlarge</instanceType>"),
        "{text}"
    );
    assert!(text.contains("<deviceName>/dev/sdz</deviceName>"), "{text}");
    outputs.push(out);
    let check = |args: &[&str], files: &[PathBuf]| {
        let o = std::process::Command::new(&py)
            .arg(root().join("tests/validators/ec2_check.py"))
            .args(args)
            .args(files)
            .output()
            .unwrap();
        let out = stdout(&o);
        assert!(o.status.success(), "{out}{}", stderr(&o));
        assert_eq!(out.matches(": OK").count(), files.len(), "{out}");
    };
    check(&[], &outputs);
    assert!(outputs.len() >= 50, "{}", outputs.len());
    // Beside each response, the requests a user runs: RunInstances and one
    // ImportImage of all its disks, as `aws ec2 … --cli-input-json` reads them.
    let json = |suffix: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = walk(&dir)
            .into_iter()
            .filter(|f| f.to_string_lossy().contains(suffix))
            .collect();
        v.sort();
        v
    };
    let (runs, imports) = (
        json(".ec2.run-instances.json"),
        json(".ec2.import-image.json"),
    );
    assert_eq!(runs.len(), outputs.len(), "{runs:#?}");
    // (Disks that are EBS volumes already, from EC2, need no import.)
    assert!(imports.len() >= outputs.len() - 4, "{}", imports.len());
    check(&["--request", "RunInstances"], &runs);
    check(&["--request", "ImportImage"], &imports);
}

/// KVM → EC2 → KVM keeps name, UUID, vCPUs, memory, firmware and Secure
/// Boot, the disks (order, bus, source) and the NICs (MAC, connection), as
/// libvirt reads them back: EC2's own fields round what the tags restore.
#[test]
fn kvm_through_ec2_and_back_keeps_the_vm() {
    if tool("virsh").is_none() {
        return;
    }
    let dir = temp_dir("ec2-kvm");
    let mut inputs = samples("kvm");
    let corpus = root().join("tests/corpus/libvirt-qemu-domainxml");
    let accepted = std::fs::read_to_string(corpus.join("ACCEPTED.tsv")).unwrap();
    for line in accepted.lines().skip(1).filter(|l| l.contains("\tyes")) {
        inputs.push(corpus.join(line.split('\t').next().unwrap()));
    }
    let mut checked = 0;
    for input in &inputs {
        if !has_disk(input) {
            // An EC2 instance boots from an EBS volume: no disk, no instance.
            let o = run(&[
                "transform",
                input.to_str().unwrap(),
                "--to",
                "ec2",
                "-o",
                dir.join("none").to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(1), "{}", input.display());
            assert!(
                stderr(&o)
                    .contains("the VM has no disk: an EC2 instance boots from an EBS root volume"),
                "{}",
                stderr(&o)
            );
            continue;
        }
        let (ec2, _) = transform(input, "ec2", &dir, &[]);
        let (back, _) = transform(&ec2, "kvm", &dir.join("back"), &[]);
        let name = roxmltree::Document::parse(&std::fs::read_to_string(input).unwrap())
            .unwrap()
            .root_element()
            .children()
            .find(|c| c.has_tag_name("name"))
            .and_then(|n| n.text())
            .unwrap()
            .to_string();
        let (a, b) = (
            kept(&virsh_dump(input, &name)),
            kept(&virsh_dump(&back, &name)),
        );
        // EC2 has block devices only, but the original travels in the
        // instance's tags: CD-ROMs, floppies and connections the hub does
        // not model come back with the rest.
        assert_eq!(a, b, "{} → ec2 → kvm", input.display());
        checked += 1;
    }
    // 32 have a disk; the others (CD-ROM-only test domains) are refused.
    assert!(checked >= 32, "{checked} of {}", inputs.len());
}

/// A hub VM of `vcpus`, `mib`, firmware and TPM, on `arch`.
fn hub(vcpus: u32, mib: u64, uefi: bool, tpm: bool, arch: &str) -> String {
    format!(
        r#"<vm xmlns="urn:hvxform:hvx:1"><name>t</name><uuid>0b6f1f4e-1d2c-4e8a-9b3f-5a7c8d9e0f11</uuid><os family="linux" arch="{arch}"/><firmware type="{}"/>{}<cpu count="{vcpus}"/><memory bytes="{}"/><disk device="disk" bus="nvme"><source type="file" path="vol-0a1b2c3d4e5f60718"/></disk></vm>"#,
        if uefi { "uefi" } else { "bios" },
        if tpm { "<tpm version=\"2.0\"/>" } else { "" },
        mib * 1048576
    )
}

/// The type chosen for a hub VM, or the error.
fn choose(vm: &str, families: Option<&str>) -> Result<(String, String), String> {
    let dir = temp_dir("ec2-types");
    let f = dir.join("vm.hvx.xml");
    std::fs::write(&f, vm).unwrap();
    let p = families.map(|f| format!("ec2_families={f}"));
    let mut a = vec![
        "-v",
        "transform",
        f.to_str().unwrap(),
        "--to",
        "ec2",
        "-o",
        dir.to_str().unwrap(),
    ];
    if let Some(p) = &p {
        a.extend(["--param", p]);
    }
    let o = run(&a);
    if o.status.code() != Some(0) {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(!dir.join("vm.ec2.xml").exists(), "partial output");
        return Err(stderr(&o));
    }
    let out = std::fs::read_to_string(dir.join("vm.ec2.xml")).unwrap();
    let t = out
        .split("<instanceType>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    Ok((t.to_string(), stderr(&o)))
}

/// The smallest type that fits vCPUs, memory, boot mode, TPM and network
/// interfaces, in the families asked for; what was rounded up is reported;
/// a VM that fits nothing is an error naming what does not fit.
#[test]
fn instance_types_are_chosen_from_the_table() {
    // Exact fits: m7i.large is 2 vCPUs and 8 GiB; t3.micro 2 vCPUs, 1 GiB.
    let (t, warned) = choose(&hub(2, 8192, false, false, "x86_64"), None).unwrap();
    assert_eq!(t, "m7i.large");
    assert!(!warned.contains("rounded up"), "{warned}");
    assert_eq!(
        choose(&hub(2, 1024, false, false, "x86_64"), Some("t3"))
            .unwrap()
            .0,
        "t3.micro"
    );
    // Rounding up: 3 vCPUs take a 4-vCPU type, 5 GiB an 8 GiB one, and the
    // report says so.
    let (t, warned) = choose(&hub(3, 5000, false, false, "x86_64"), Some("m7i")).unwrap();
    assert_eq!(t, "m7i.xlarge");
    assert!(warned.contains("instance type m7i.xlarge (4 vCPUs, 16384 MiB) for 3 vCPUs and 5000 MiB, vCPUs rounded up, memory rounded up"), "{warned}");
    // The families' order does not outrank size: t3 has a 2-vCPU, 2 GiB type.
    assert_eq!(
        choose(&hub(2, 2048, false, false, "x86_64"), Some("m7i,t3"))
            .unwrap()
            .0,
        "t3.small"
    );
    // UEFI-only types (Graviton) take an arm64 VM with UEFI, not with BIOS.
    assert_eq!(
        choose(&hub(2, 4096, true, false, "aarch64"), None)
            .unwrap()
            .0,
        "c7g.large"
    );
    let e = choose(&hub(2, 4096, false, false, "aarch64"), None).unwrap_err();
    assert!(e.contains("fits this VM: legacy-bios boot"), "{e}");
    // A TPM needs NitroTPM: t2 has none, t3 has.
    let e = choose(&hub(2, 4096, true, true, "x86_64"), Some("t2")).unwrap_err();
    assert!(
        e.contains("t2 (x86_64) fits this VM: uefi boot NitroTPM"),
        "{e}"
    );
    assert_eq!(
        choose(&hub(2, 4096, true, true, "x86_64"), Some("t3"))
            .unwrap()
            .0,
        "t3.medium"
    );
    // Network interfaces: t3.micro attaches 2, t3.small 3, t3.xlarge 4;
    // the type is the smallest that attaches them all.
    let nics = |vm: String, n: usize| {
        let nic = (0..n)
            .map(|i| format!(r#"<nic mac="52:54:00:00:02:{i:02x}" model="virtio"><connection type="network" name="default"/></nic>"#))
            .collect::<String>();
        vm.replace("</vm>", &format!("{nic}</vm>"))
    };
    assert_eq!(
        choose(&nics(hub(1, 1024, false, false, "x86_64"), 2), Some("t3"))
            .unwrap()
            .0,
        "t3.micro"
    );
    let (t, warned) = choose(&nics(hub(1, 1024, false, false, "x86_64"), 3), Some("t3")).unwrap();
    assert_eq!(t, "t3.small");
    assert!(
        warned.contains("memory rounded up, 3 network interfaces (the type attaches up to 3)"),
        "{warned}"
    );
    assert_eq!(
        choose(&nics(hub(1, 1024, false, false, "x86_64"), 4), Some("t3"))
            .unwrap()
            .0,
        "t3.xlarge"
    );
    let e = choose(&nics(hub(1, 1024, false, false, "x86_64"), 5), Some("t3")).unwrap_err();
    assert!(
        e.contains("t3 (x86_64) fits this VM: 5 network interfaces"),
        "{e}"
    );
    // EBS volumes: a t3 attaches 27 beside one network interface, one fewer
    // for each interface past the first (a shared limit); a c7i 32 whatever
    // the interfaces (a dedicated one).
    let disks = |vm: String, n: usize| {
        let disk = (1..n)
            .map(|i| format!(r#"<disk device="disk" bus="nvme"><source type="file" path="vol-{i:017x}"/></disk>"#))
            .collect::<String>();
        vm.replace("</vm>", &format!("{disk}</vm>"))
    };
    let (t, warned) = choose(&disks(hub(1, 1024, false, false, "x86_64"), 26), Some("t3")).unwrap();
    assert_eq!(t, "t3.micro");
    assert!(
        warned.contains("26 EBS volumes (the type attaches up to 27 beside 0 network interfaces)"),
        "{warned}"
    );
    let e = choose(
        &nics(disks(hub(1, 1024, false, false, "x86_64"), 26), 3),
        Some("t3"),
    )
    .unwrap_err();
    assert!(
        e.contains("t3 (x86_64) fits this VM: its vCPUs, memory, boot mode, TPM, network interfaces and EBS volumes together"),
        "{e}"
    );
    let (t, warned) = choose(
        &nics(disks(hub(1, 1024, false, false, "x86_64"), 26), 3),
        Some("t3,c7i"),
    )
    .unwrap();
    assert_eq!(t, "c7i.large");
    assert!(
        warned.contains("26 EBS volumes (the type attaches up to 32 beside 3 network interfaces)"),
        "{warned}"
    );
    let e = choose(&disks(hub(1, 1024, false, false, "x86_64"), 27), Some("t3")).unwrap_err();
    assert!(
        e.contains(
            "disk 27: hvxform names EBS devices /dev/sda1 and /dev/sdb to /dev/sdz (26 at most)"
        ),
        "{e}"
    );
    // Too big for any type.
    let e = choose(&hub(1000, 1024, false, false, "x86_64"), Some("*")).unwrap_err();
    assert!(e.contains("fits this VM: 1000 vCPUs"), "{e}");
    let e = choose(&hub(2, 64 * 1024 * 1024, false, false, "x86_64"), None).unwrap_err();
    assert!(e.contains("67108864 MiB of memory"), "{e}");
}

/// hvx-to-ec2 starts its walk of the type table at the first type with
/// enough vCPUs (`ec2_from`, `first_where_from`): for every kind of VM it
/// chooses what walking the whole table (`first_where`) chooses, fits or
/// not, whatever the families.
#[test]
fn starting_the_walk_at_enough_vcpus_chooses_the_same_type() {
    let dir = temp_dir("ec2-from");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    for f in ["ec2-types.hvx", "ec2.hvx"] {
        std::fs::copy(root().join("mappings/lib").join(f), dir.join("lib").join(f)).unwrap();
    }
    std::fs::write(
        dir.join("m.hvx"),
        r#"mapping "from" { from kvm to hvx version "1" }
use "lib/ec2-types.hvx";
use "lib/ec2.hvx";
unmapped report;
on domain {
  <cases> {
    for $c in c {
      let $v = int($c/@v);
      let $m = int($c/@m);
      let $whole = ec2_type.first_where(fits, $v, $m, $c/@boot, $c/@tpm = "1", $c/@arch, $c/@fam, int($c/@n), int($c/@d));
      let $from = ec2_type.first_where_from(ec2_from($v), fits, $v, $m, $c/@boot, $c/@tpm = "1", $c/@arch, $c/@fam, int($c/@n), int($c/@d));
      <case whole={$whole} from={$from}/>
    }
  }
}
"#,
    )
    .unwrap();
    let mut input = String::from("<domain>");
    let mut n = 0;
    for v in [1, 2, 3, 5, 8, 12, 16, 32, 129, 448, 897] {
        for m in [512, 30000, 1_000_000] {
            for (boot, tpm) in [("legacy-bios", 0), ("uefi", 1)] {
                for arch in ["x86_64", "arm64"] {
                    for fam in [",m7i,c7g,t3,", ",*,"] {
                        for (nics, disks) in [(1, 1), (3, 1), (9, 1), (1, 26), (3, 26)] {
                            input.push_str(&format!(
                                r#"<c v="{v}" m="{m}" boot="{boot}" tpm="{tpm}" arch="{arch}" fam="{fam}" n="{nics}" d="{disks}"/>"#
                            ));
                            n += 1;
                        }
                    }
                }
            }
        }
    }
    input.push_str("</domain>");
    std::fs::write(dir.join("in.xml"), input).unwrap();
    let o = run(&[
        "run",
        "-q",
        dir.join("m.hvx").to_str().unwrap(),
        dir.join("in.xml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let doc = roxmltree::Document::parse(&out).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|c| c.has_tag_name("case"))
        .collect();
    assert_eq!(cases.len(), n, "{out}");
    let mut chosen = 0;
    for c in &cases {
        assert_eq!(c.attribute("whole"), c.attribute("from"), "{out}");
        chosen += usize::from(c.attribute("whole") != Some(""));
    }
    // Both kinds are there: VMs some type fits and VMs none does.
    assert!(chosen > n / 4 && chosen < n, "{chosen} of {n}");
}

/// Responses EC2 would not send, or hvxform cannot read as one VM: a located
/// error naming the file, exit 1, nothing written.
#[test]
fn bad_ec2_input_is_a_located_error_and_writes_nothing() {
    let dir = temp_dir("ec2-bad");
    let sample = std::fs::read_to_string(root().join("samples/ec2/web.xml")).unwrap();
    let edit = |old: &str, new: &str| {
        assert!(sample.contains(old), "{old}");
        sample.replacen(old, new, 1)
    };
    let many_tags = (0..51)
        .map(|i| format!("<item><key>k{i}</key><value>v</value></item>"))
        .collect::<String>();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "two.xml",
            std::fs::read_to_string(libcloud()).unwrap(),
            "the response describes 2 instances (i-4382922a, i-8474834a); say which with --param ec2_instance=ID",
        ),
        (
            "unknown-type.xml",
            edit("<instanceType>t3.medium</instanceType>", "<instanceType>t3.colossal</instanceType>"),
            "unknown instance type t3.colossal",
        ),
        (
            "tags.xml",
            edit("<tagSet>", &format!("<tagSet>{many_tags}")),
            "53 tags: EC2 allows 50 per instance",
        ),
        (
            "no-root.xml",
            edit("<rootDeviceName>/dev/sda1</rootDeviceName>", ""),
            "the instance has no root device (rootDeviceName missing is not among its block devices)",
        ),
        (
            "bad-uuid-tag.xml",
            edit("<tagSet>", "<tagSet><item><key>hvxform:uuid</key><value>not-a-uuid</value></item>"),
            "`not-a-uuid` is not a UUID",
        ),
    ];
    for (name, text, want) in cases {
        let err = refused_input(&dir, name, text.as_bytes());
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            err.contains(&dir.join(name).display().to_string()),
            "{name}: {err}"
        );
        assert!(err.contains("at input "), "{name}: no location: {err}");
    }
}

/// A disk that is a host block device or a network image is no file to
/// upload: its ImportImage names a raw image (`blk-root.raw`), and an action
/// says how to make it (the key was the device's name, `blk-root`, with no
/// action, so the import failed on a key nobody had uploaded).
#[test]
fn block_and_network_disks_are_copied_into_images_to_import() {
    let dir = temp_dir("ec2-block");
    let input = dir.join("blk.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>blk</name><uuid>0b7e4c1a-1111-4222-8333-944455556672</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg0/blk-root'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='pool/data'/><target dev='vdb' bus='virtio'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/logs.img'/><target dev='vdc' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let (_, err) = transform(&input, "ec2", &dir, &[]);
    assert!(
        err.contains("/dev/vg0/blk-root is a host block device, not a file; copy it into an image first (qemu-img convert -O raw /dev/vg0/blk-root blk-root.raw)"),
        "{err}"
    );
    assert!(err.contains("is a network image, not a file"), "{err}");
    let text = std::fs::read_to_string(dir.join("blk.ec2.import-image.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = |n: usize| {
        v["DiskContainers"][n - 1]["UserBucket"]["S3Key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(key(1), "blk-root.raw");
    assert_eq!(key(2), "data.raw");
    // A raw file is uploaded as it is.
    assert_eq!(key(3), "logs.img");
    assert_eq!(
        err.matches("copy it into an image first").count(),
        2,
        "{err}"
    );
}

/// A NIC without a MAC (libvirt gives one when the domain is defined):
/// the response has no `macAddress` for it (an empty one is no MAC, and
/// ec2-to-hvx refused it), and the way back gives a NIC without a MAC.
#[test]
fn a_nic_without_a_mac_goes_to_ec2_and_back() {
    let dir = temp_dir("ec2-no-mac");
    let domain = dir.join("nomac.xml");
    std::fs::write(
        &domain,
        "<domain type='kvm'><name>nomac</name><memory unit='KiB'>1048576</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/srv/a.img'/><target dev='vda' bus='virtio'/></disk>\
         <interface type='network'><source network='default'/><model type='virtio'/></interface>\
         </devices></domain>",
    )
    .unwrap();
    let (out, _) = transform(&domain, "ec2", &dir.join("there"), &[]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("macAddress"), "{text}");
    assert!(text.contains("<deviceIndex>0</deviceIndex>"), "{text}");
    for extra in [&[][..], &["--no-carry"][..]] {
        let (back, _) = transform(
            &out,
            "kvm",
            &dir.join(format!("back{}", extra.len())),
            extra,
        );
        let xml = std::fs::read_to_string(&back).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let nics: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("interface"))
            .collect();
        assert_eq!(nics.len(), 1, "{xml}");
        assert!(!nics[0].children().any(|c| c.has_tag_name("mac")), "{xml}");
    }
}

/// A disk whose file name starts with `vol-` (as a volume id does) is a file
/// to import, not an EBS volume: only `vol-` and 8 or 17 hex digits is one.
#[test]
fn a_file_named_like_a_volume_is_imported() {
    let dir = temp_dir("ec2-vol-file");
    let input = dir.join("volfile.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>volfile</name><uuid>0b7e4c1a-1111-4222-8333-944455556673</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/vol-0123456789abcdef0.img'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='vol-0123456789abcdef0.vmdk'/><target dev='vdb' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let (out, _) = transform(&input, "ec2", &dir, &[]);
    let response = std::fs::read_to_string(out).unwrap();
    assert!(
        !response.contains("<volumeId>vol-0123456789abcdef0"),
        "{response}"
    );
    let text = std::fs::read_to_string(dir.join("volfile.ec2.import-image.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let containers = v["DiskContainers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{text}");
    assert!(text.contains("vol-0123456789abcdef0"), "{text}");
}

/// A network disk through EC2 and back (no carried original): libvirt gets
/// the whole image name (`pool/data`, not `pool`: another image) and host.
#[test]
fn a_network_disk_keeps_its_image_name() {
    let dir = temp_dir("ec2-rbd");
    let input = dir.join("rbd.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>rbd</name><uuid>0b7e4c1a-1111-4222-8333-944455556674</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='pool/data'><host name='mon1' port='6789'/></source><target dev='vda' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let (ec2, _) = transform(&input, "ec2", &dir, &["--no-carry"]);
    let back = dir.join("back");
    let (kvm, _) = transform(&ec2, "kvm", &back, &["--no-carry"]);
    let text = std::fs::read_to_string(kvm).unwrap();
    let d = roxmltree::Document::parse(&text).unwrap();
    let source = d
        .descendants()
        .find(|n| n.has_tag_name("source") && n.attribute("protocol").is_some())
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(source.attribute("name"), Some("pool/data"), "{text}");
    let host = source.first_element_child().expect("a host");
    assert_eq!(
        (host.attribute("name"), host.attribute("port")),
        (Some("mon1"), Some("6789"))
    );
}

/// EC2's ImportImage request is written only while the VM has a disk to
/// import. Run again once its disk is an EBS volume, the request of the
/// earlier run is still in the output folder, where `aws ec2 import-image`
/// would run it a second time: a warning names it, for one input as for a
/// folder of them (written as they are converted). Other inputs' files and
/// files of other kinds are not named.
#[test]
fn an_import_request_left_from_an_earlier_run_is_named() {
    let dir = temp_dir("ec2-stale");
    let (inputs, out) = (dir.join("in"), dir.join("out"));
    std::fs::create_dir_all(&inputs).unwrap();
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let input = inputs.join("web.xml");
    std::fs::write(&input, &web).unwrap();
    let go = |what: &Path| {
        let o = run(&[
            "transform",
            what.to_str().unwrap(),
            "--to",
            "ec2",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stderr(&o)
    };
    let e = go(&input);
    assert!(out.join("web.ec2.import-image.json").is_file());
    assert!(!e.contains("earlier run"), "{e}");
    std::fs::write(out.join("other.ec2.import-image.json"), "{}").unwrap();
    std::fs::write(out.join("web.ec2.notes.txt"), "mine").unwrap();

    let imported = web.replace("/var/lib/libvirt/images/web.qcow2", "vol-0123456789abcdef0");
    assert_ne!(imported, web);
    std::fs::write(&input, &imported).unwrap();
    std::fs::copy(root().join("samples/kvm/db.xml"), inputs.join("db.xml")).unwrap();
    for what in [input.clone(), inputs.clone()] {
        let e = go(&what);
        assert!(
            e.contains("web.ec2.import-image.json: left from an earlier run")
                && e.contains("web.xml's documents"),
            "{what:?}: {e}"
        );
        assert!(
            !e.contains("other.ec2") && !e.contains("notes.txt"),
            "{what:?}: {e}"
        );
        assert!(!e.contains("db.ec2"), "{what:?}: {e}");
    }
    // The report names it too, on the input it belongs to.
    let report = dir.join("report.json");
    let o = run(&[
        "transform",
        inputs.to_str().unwrap(),
        "--to",
        "ec2",
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let stale: Vec<(String, serde_json::Value)> = r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("stale").is_some())
        .map(|i| (i["input"].as_str().unwrap().to_string(), i["stale"].clone()))
        .collect();
    assert_eq!(stale.len(), 1, "{r}");
    assert!(stale[0].0.ends_with("web.xml"), "{stale:?}");
    assert_eq!(stale[0].1, serde_json::json!(["web.ec2.import-image.json"]));
}

/// A paravirtual (Xen PV) instance, as libcloud's response has two, boots
/// its image's kernel through the AKI EC2 gives it: anywhere else it boots
/// as a full guest, so the user is told the image needs a bootloader. An
/// HVM instance needs nothing of the kind.
#[test]
fn a_paravirtual_instance_is_an_action_to_take() {
    let dir = temp_dir("ec2-paravirtual");
    for i in LIBCLOUD {
        let (_, err) = transform(
            &libcloud(),
            "kvm",
            &dir.join(i),
            &["--param", &format!("ec2_instance={i}")],
        );
        assert!(
            err.contains(&format!(
                "action: {}: instance {i} is paravirtual (Xen PV, kernel aki-88aa75e1)",
                libcloud().display()
            )),
            "{err}"
        );
    }
    let (_, err) = transform(
        &root().join("samples/ec2/web.xml"),
        "kvm",
        &dir.join("hvm"),
        &[],
    );
    assert!(!err.contains("paravirtual"), "{err}");
}
