//! The names lists `hvxform check` compiles in (`schema/*-names.txt`) are
//! what their generators make from the real software today: libvirt's
//! RelaxNG schemas, pyVmomi's types and botocore's EC2 model.

mod common;
use common::*;

fn same_as_generated(python: &std::path::Path, script: &str, list: &str) {
    let o = std::process::Command::new(python)
        .arg(root().join("schema").join(script))
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}: {}", stderr(&o));
    let want = std::fs::read_to_string(root().join("schema").join(list)).unwrap();
    assert!(
        stdout(&o) == want,
        "schema/{list} is not what schema/{script} makes now: run `python3 schema/{script} > schema/{list}`"
    );
}

#[test]
fn libvirt_names_are_libvirts() {
    if !std::path::Path::new("/usr/share/libvirt/schemas/domain.rng").exists() {
        assert!(
            std::env::var("HVX_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "libvirt's schemas are required"
        );
        return;
    }
    same_as_generated(
        std::path::Path::new("python3"),
        "libvirt-names.py",
        "libvirt-names.txt",
    );
}

#[test]
fn vsphere_names_are_pyvmomis() {
    if let Some(py) = python() {
        same_as_generated(&py, "vsphere-names.py", "vsphere-names.txt");
    }
}

#[test]
fn ec2_names_are_botocores() {
    if let Some(py) = venv_python("HVX_EC2_PYTHON", "/opt/hvx-ec2-venv", "venv with botocore") {
        same_as_generated(&py, "ec2-names.py", "ec2-names.txt");
    }
}
