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

fn virsh_dump(file: &std::path::Path, name: &str) -> String {
    let o = Command::new("virsh")
        .args([
            "-c",
            "test:///default",
            &format!("define {}; dumpxml {name}", file.display()),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "virsh define {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    // The first line names the file it was defined from.
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
}

fn domain_name(text: &str) -> String {
    let d = roxmltree::Document::parse(text).unwrap();
    d.root_element()
        .children()
        .find(|c| c.has_tag_name("name"))
        .and_then(|n| n.text())
        .unwrap()
        .to_string()
}

#[test]
fn kvm_outputs_are_accepted_by_libvirt_and_its_schema() {
    if tool("virsh").is_none() || tool("xmllint").is_none() {
        return;
    }
    let dir = temp_dir("eco-kvm");
    for s in samples("kvm") {
        let out = convert(&s, "kvm");
        let f = write_tmp(&dir, "out.xml", &out);
        let o = Command::new("xmllint")
            .args([
                "--noout",
                "--relaxng",
                "/usr/share/libvirt/schemas/domain.rng",
                f.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            s.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        virsh_dump(&f, &domain_name(&out));
    }
}

#[test]
fn kvm_round_trip_through_the_hub_keeps_every_device() {
    if tool("virsh").is_none() {
        return;
    }
    let dir = temp_dir("eco-rt");
    for s in samples("kvm") {
        let orig = std::fs::read_to_string(&s).unwrap();
        let name = domain_name(&orig);
        let out = convert(&s, "kvm");
        let f = write_tmp(&dir, "rt.xml", &out);
        let mut a: Vec<String> = virsh_dump(&s, &name)
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        let mut b: Vec<String> = virsh_dump(&f, &name)
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        if s.ends_with("db.xml") {
            assert_eq!(a, b, "db.xml round trip must be identical");
        }
        // Other samples: the same lines, device order aside (see book: kvm).
        a.sort();
        b.sort();
        assert_eq!(a, b, "{}", s.display());
    }
}

#[test]
fn hub_outputs_validate_against_the_hub_schema() {
    if tool("xmllint").is_none() {
        return;
    }
    let dir = temp_dir("eco-hvx");
    for s in samples("kvm") {
        let out = convert(&s, "hvx");
        let f = write_tmp(&dir, "out.hvx.xml", &out);
        let o = Command::new("xmllint")
            .args([
                "--noout",
                "--relaxng",
                "schema/hvx.rng",
                f.to_str().unwrap(),
            ])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            s.display(),
            String::from_utf8_lossy(&o.stderr)
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
    for s in samples("kvm") {
        let out = convert(&s, "vsphere");
        files.push(write_tmp(
            &dir,
            &format!("{}.vsphere.xml", s.file_stem().unwrap().to_string_lossy()),
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
        .find(|l| l.contains("db.vsphere.xml"))
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
