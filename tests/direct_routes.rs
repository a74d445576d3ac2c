//! A direct mapping (`kvm-to-vsphere.hvx`) must write what the hub route
//! (`kvm-to-hvx.hvx` then `hvx-to-vsphere.hvx`) writes: the router prefers the
//! direct one for speed, and the two must never drift apart. Compared on every
//! bundled libvirt domain: the same spec, byte for byte, the same exit code
//! and the same warnings (all but the unmapped-input list, which names input
//! nodes on one route and hub nodes on the other).

mod common;
use common::*;

fn kvm_inputs() -> Vec<std::path::PathBuf> {
    let mut inputs = samples("kvm");
    let corpus = root().join("tests/corpus/libvirt-qemu-domainxml");
    let mut more: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    more.sort();
    inputs.extend(more);
    inputs
}

/// The warnings of a run, without the unmapped-input list and the summary;
/// an error's mapping, rule and input path are the route's own (a libvirt
/// node on one, a hub node on the other): its message and input line and
/// column are compared.
fn warnings(stderr: &str) -> Vec<String> {
    let mut w: Vec<String> = stderr
        .lines()
        .filter(|l| !l.contains(": unmapped (") && !l.contains("input(s) converted"))
        .filter(|l| !l.starts_with("  in mapping ") && !l.starts_with("  in the rule "))
        .map(|l| {
            let l = l
                .replace("failed in kvm-to-vsphere.hvx", "failed in the route")
                .replace("failed in hvx-to-vsphere.hvx", "failed in the route");
            match l.split_once(" (/") {
                Some((at, _)) if l.starts_with("  at input ") => at.to_string(),
                _ => l,
            }
        })
        .collect();
    w.sort();
    w
}

#[test]
fn kvm_to_vsphere_direct_equals_the_hub_route() {
    let inputs = kvm_inputs();
    assert!(inputs.len() >= 40, "{} inputs", inputs.len());
    for input in &inputs {
        let path = input.to_str().unwrap();
        let direct = run(&["transform", path, "--to", "vsphere", "-v"]);
        let hub = run(&["transform", path, "--to", "vsphere", "-v", "--via-hub"]);
        assert_eq!(direct.status.code(), hub.status.code(), "{path}");
        assert_eq!(stdout(&direct), stdout(&hub), "{path}: the specs differ");
        assert_eq!(
            warnings(&stderr(&direct)),
            warnings(&stderr(&hub)),
            "{path}: the warnings differ"
        );
        if direct.status.success() {
            // Which route ran shows in the unmapped list's mapping name.
            let (d, h) = (stderr(&direct), stderr(&hub));
            assert!(!d.contains("hvx-to-vsphere.hvx"), "{path}: {d}");
            assert!(!h.contains("kvm-to-vsphere.hvx"), "{path}: {h}");
        }
    }
}

/// Both routes fill one session store the same way: converting with the
/// direct mapping and then back (vsphere → hvx → kvm) finds the pairs.
#[test]
fn direct_route_shares_the_session_tables() {
    let dir = temp_dir("direct-session");
    let store = dir.join("store.yaml");
    let web = root().join("samples/kvm/web.xml");
    transform_with_store(&web, "vsphere", &dir, &store);
    let spec = dir.join("web.vsphere.xml");
    let back = run(&[
        "transform",
        spec.to_str().unwrap(),
        "--to",
        "kvm",
        "--session",
        store.to_str().unwrap(),
    ]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    let orig = std::fs::read_to_string(&web).unwrap();
    let disk = "/var/lib/libvirt/images/web.qcow2";
    assert!(orig.contains(disk));
    assert!(stdout(&back).contains(disk), "{}", stdout(&back));
    // The pairs are those hvx-to-vsphere declares (same names and types).
    let yaml = std::fs::read_to_string(&store).unwrap();
    assert!(
        yaml.contains("datastores:") && yaml.contains("- [/var/lib/libvirt/images, datastore1]"),
        "{yaml}"
    );
    assert!(yaml.contains("networks:"), "{yaml}");
}
