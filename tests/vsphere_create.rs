//! Every bundled sample and every libvirt domain of the vendored corpus,
//! converted to vSphere, is created on govmomi's vCenter simulator (vcsim,
//! built by `.ci/run`): its CreateVM_Task refuses device layouts vCenter
//! refuses, which pyVmomi's Deserialize (format only) lets through.

mod common;
use common::*;

#[test]
fn every_vsphere_output_is_created_on_vcsim() {
    let Some(vcsim) = endpoint("HVX_VCSIM", "the vcsim binary") else {
        return;
    };
    let Some(py) = python() else { return };
    let mut inputs: Vec<_> = vm_samples().into_iter().map(|(_, s)| s).collect();
    let mut corpus: Vec<_> = std::fs::read_dir(root().join("tests/corpus/libvirt-qemu-domainxml"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    corpus.sort();
    inputs.extend(corpus);
    let work = temp_dir("vsphere-create");
    let o = std::process::Command::new(py)
        .arg(root().join("tests/validators/vsphere_create.py"))
        .arg(env!("CARGO_BIN_EXE_hvxform"))
        .arg(vcsim)
        .arg(&work)
        .args(&inputs)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let n = inputs.len();
    assert!(
        out.contains(&format!(
            "created {n} of {n} specs (0 inputs not converted)"
        )),
        "{out}"
    );
}
