//! Every bundled sample, and every document of the vendored corpus that
//! other software wrote (.vmx and xl.cfg files of libvirt's tests, OVFs of
//! govmomi, virt-v2v and VirtualBox, vSphere responses, Hyper-V configurations, Xen's
//! examples), converted to KVM is defined on a real libvirtd with the QEMU
//! driver (`HVX_LIBVIRT_URI`, started by `.ci/run`), which refuses what QEMU
//! cannot run and the test driver lets through (`<min_guarantee>`, a shared
//! disk in a format other than raw, IDE on q35, BusLogic, `preserve`, a disk
//! with no image).

mod common;
use common::*;
use std::path::PathBuf;

/// (label, input, must convert): the samples must; a corpus file hvxform
/// refuses (an OVF with no virtual system) has nothing to define.
fn inputs() -> Vec<(String, PathBuf, bool)> {
    let mut inputs: Vec<_> = vm_samples()
        .into_iter()
        .map(|(p, s)| (p, s, true))
        .collect();
    for (dir, ext) in [
        ("libvirt-vmx2xml", Some("vmx")),
        ("libvirt-xlconfig", Some("cfg")),
        ("govmomi-ovf", Some("ovf")),
        ("virt-v2v", Some("ovf")),
        ("virtualbox-ovf", Some("ovf")),
        ("vsphere-vim25", Some("xml")),
        ("hyperv-vm-config-xml", None),
        ("xen-xl-examples", None),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root().join("tests/corpus").join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
            .collect();
        files.sort();
        inputs.extend(files.into_iter().map(|f| (dir.to_string(), f, false)));
    }
    inputs
}

/// The domain with a name of the test's own and no UUID, so that nothing
/// collides with the domains other tests define on the same libvirtd.
fn renamed(text: &str, name: &str) -> String {
    let doc = roxmltree::Document::parse(text).unwrap();
    let root_el = doc.root_element();
    let mut out = text.to_string();
    if let Some(u) = root_el.children().find(|n| n.has_tag_name("uuid")) {
        out.replace_range(u.range(), "");
    }
    let old = root_el
        .children()
        .find(|n| n.has_tag_name("name"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    out.replacen(
        &format!("<name>{old}</name>"),
        &format!("<name>{name}</name>"),
        1,
    )
}

#[test]
fn every_sample_and_corpus_document_to_kvm_is_defined_by_libvirtd_with_qemu() {
    let Some(uri) = endpoint("HVX_LIBVIRT_URI", "libvirtd with the QEMU driver") else {
        return;
    };
    let (mut refused, mut defined, mut skipped) = (Vec::new(), 0, 0);
    for (k, (label, input, must)) in inputs().iter().enumerate() {
        let out = temp_dir(&format!("kvm-define-{label}-{k}"));
        let o = run(&[
            "transform",
            input.to_str().unwrap(),
            "--to",
            "kvm",
            "-o",
            out.to_str().unwrap(),
        ]);
        if !must && o.status.code() == Some(1) {
            skipped += 1;
            continue;
        }
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            input.display(),
            stderr(&o)
        );
        for (j, f) in file_names(&out).iter().enumerate() {
            let name = format!("hvxt-{k}-{j}");
            let text = std::fs::read_to_string(out.join(f)).unwrap();
            let file = out.join(format!("{name}.define.xml"));
            std::fs::write(&file, renamed(&text, &name)).unwrap();
            let _ = virsh(&uri, &["undefine", "--nvram", &name]);
            let (ok, msg) = virsh(&uri, &["define", file.to_str().unwrap()]);
            if ok {
                defined += 1;
                let (gone, m) = virsh(&uri, &["undefine", "--nvram", &name]);
                assert!(gone, "undefine {name}: {m}");
            } else {
                refused.push(format!("{} ({f}): {}", input.display(), msg.trim()));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "libvirtd refused {} of {} outputs:\n{}",
        refused.len(),
        defined + refused.len(),
        refused.join("\n")
    );
    // 20 samples and 125 corpus documents (one corpus OVF has no VM).
    assert!(defined >= 145, "only {defined} outputs defined");
    assert!(skipped <= 1, "{skipped} corpus documents did not convert");
}
