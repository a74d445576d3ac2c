//! Every bundled sample converted to KVM is defined on a real libvirtd with
//! the QEMU driver (`HVX_LIBVIRT_URI`, started by `.ci/run`), which refuses
//! what QEMU cannot run and the test driver lets through (`<min_guarantee>`,
//! a shared disk in a format other than raw).

mod common;
use common::*;

/// `virsh -c URI ARGS…`: (success, stdout + stderr).
fn virsh(uri: &str, args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .expect("virsh");
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

#[test]
fn every_sample_to_kvm_is_defined_by_libvirtd_with_qemu() {
    let Some(uri) = std::env::var("HVX_LIBVIRT_URI").ok() else {
        assert!(
            std::env::var("HVX_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "HVX_LIBVIRT_URI (libvirtd with the QEMU driver) is required"
        );
        eprintln!("skipped: HVX_LIBVIRT_URI is not set");
        return;
    };
    let mut platforms: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|p| p != "commands")
        .collect();
    platforms.sort();
    let mut refused = Vec::new();
    let mut defined = 0;
    for platform in platforms {
        for sample in samples(&platform) {
            let out = temp_dir(&format!(
                "kvm-define-{platform}-{}",
                sample.file_stem().unwrap().to_string_lossy()
            ));
            let o = run(&[
                "transform",
                sample.to_str().unwrap(),
                "--to",
                "kvm",
                "-o",
                out.to_str().unwrap(),
            ]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}: {}",
                sample.display(),
                stderr(&o)
            );
            for f in file_names(&out) {
                let text = std::fs::read_to_string(out.join(&f)).unwrap();
                let doc = roxmltree::Document::parse(&text).unwrap();
                let root_el = doc.root_element();
                // A name and UUID of the test's own, so that nothing collides
                // with the domains other tests define on the same libvirtd.
                let name = format!("hvxt-{platform}-{}", f.split('.').next().unwrap());
                let old_name = root_el
                    .children()
                    .find(|n| n.has_tag_name("name"))
                    .and_then(|n| n.text())
                    .unwrap_or_default()
                    .to_string();
                let mut text = text.clone();
                if let Some(u) = root_el.children().find(|n| n.has_tag_name("uuid")) {
                    text.replace_range(u.range(), "");
                }
                let text = text.replacen(
                    &format!("<name>{old_name}</name>"),
                    &format!("<name>{name}</name>"),
                    1,
                );
                let file = out.join(format!("{name}.xml"));
                std::fs::write(&file, &text).unwrap();
                let _ = virsh(&uri, &["undefine", "--nvram", &name]);
                let (ok, msg) = virsh(&uri, &["define", file.to_str().unwrap()]);
                if ok {
                    defined += 1;
                    let (gone, m) = virsh(&uri, &["undefine", "--nvram", &name]);
                    assert!(gone, "undefine {name}: {m}");
                } else {
                    refused.push(format!("{} ({f}): {}", sample.display(), msg.trim()));
                }
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
    assert!(defined >= 20, "only {defined} outputs defined");
}
