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
        .filter(|p| p.extension().is_some_and(|e| e == "xml") && !vsphere_refuses(p))
        .collect();
    corpus.sort();
    inputs.extend(corpus);
    let work = temp_dir("vsphere-create");
    // Larger VMs than those (tests/large_vms.rs): each bus to its last
    // unit, SCSI disks on a controller the domain does not declare, many
    // NICs.
    let sd64 = sd_names(64);
    let sd64: Vec<&str> = sd64.iter().map(String::as_str).collect();
    let large = [
        ("large-virtio-64", large_domain(64, &[], 0, 1)),
        ("large-sata-30", large_domain(0, &[], 30, 1)),
        ("large-scsi-64", large_domain(0, &sd64, 0, 1)),
        (
            "large-mixed",
            large_domain(6, &["sda", "sdb", "sdp"], 4, 10),
        ),
    ];
    // Disks without an image: new, empty disks (fileOperation create).
    let blank = "<domain type='kvm'><name>blank-disks</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
        <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
        <disk type='file' device='disk'><source file='/images/os.qcow2'/><target dev='sda' bus='scsi'/></disk>\
        <disk type='file' device='disk'><target dev='sdb' bus='scsi'/></disk>\
        <disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk></devices></domain>"
        .to_string();
    // Serial ports: a pty (vSphere has none: not written), a file, a telnet
    // server and a unix socket client.
    let serial = "<domain type='kvm'><name>serial-ports</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
        <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
        <disk type='file' device='disk'><source file='/images/os.qcow2'/><target dev='sda' bus='scsi'/></disk>\
        <serial type='pty'><target port='0'/></serial>\
        <serial type='file'><source path='/var/log/vm/com2.log'/><target port='1'/></serial>\
        <serial type='tcp'><source mode='bind' host='0.0.0.0' service='2445'/><protocol type='telnet'/><target port='2'/></serial>\
        <serial type='unix'><source mode='connect' path='/tmp/vm.sock'/><target port='3'/></serial></devices></domain>"
        .to_string();
    for (name, xml) in large
        .into_iter()
        .chain([("blank-disks", blank), ("serial-ports", serial)])
    {
        let f = work.join(format!("{name}.xml"));
        std::fs::write(
            &f,
            xml.replace("<name>large</name>", &format!("<name>{name}</name>")),
        )
        .unwrap();
        inputs.push(f);
    }
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
    // The three of serial-ports and those of libvirt's serial-file-* domains.
    let serials: usize = out
        .rsplit(", ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    assert!(serials >= 5, "{serials} serial ports created: {out}");
}
