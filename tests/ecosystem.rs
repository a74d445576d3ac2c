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
    // The test driver preloads a domain named `test`: remove it first.
    let pre = if name == "test" {
        "destroy test; undefine test; "
    } else {
        ""
    };
    let o = Command::new("virsh")
        .args([
            "-c",
            "test:///default",
            &format!("{pre}define {}; dumpxml {name}", file.display()),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "virsh define {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    // Drop virsh's own messages ("Domain 'x' defined from ...").
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("Domain "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The KVM samples and every libvirt test domain Debian's libvirt accepts.
fn kvm_inputs() -> Vec<std::path::PathBuf> {
    let corpus = root().join("tests/corpus/libvirt-qemu-domainxml");
    let accepted = std::fs::read_to_string(corpus.join("ACCEPTED.tsv")).unwrap();
    let mut inputs = samples("kvm");
    for line in accepted.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.get(1) == Some(&"yes") {
            inputs.push(corpus.join(cols[0]));
        }
    }
    inputs
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
    let rng_ok = |f: &std::path::Path| {
        Command::new("xmllint")
            .args([
                "--noout",
                "--relaxng",
                "/usr/share/libvirt/schemas/domain.rng",
                f.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    for s in kvm_inputs() {
        let out = convert(&s, "kvm");
        let f = write_tmp(&dir, "out.xml", &out);
        // Inputs the schema itself rejects (ACCEPTED.tsv says which) are
        // checked by virsh only.
        if rng_ok(&s).status.success() {
            let o = rng_ok(&f);
            assert!(
                o.status.success(),
                "{}: {}",
                s.display(),
                String::from_utf8_lossy(&o.stderr)
            );
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
    for s in kvm_inputs() {
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
    for s in kvm_inputs() {
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
