//! Sizes a platform states its own way.
//!
//! A VM that starts with fewer vCPUs than it may have (libvirt's
//! `<vcpu current='2'>8</vcpu>`, xl's `vcpus = 2` + `maxvcpus = 8`): the hub
//! holds both (`cpu/@count` the most, `cpu/@current` those online at start),
//! KVM and Xen write both, and a platform with one count gives the VM those
//! it starts with, with a warning. (All of them got 8 without a word, and
//! xl's maxvcpus was lost on the way to libvirt.) Memory a platform states
//! in MiB is rounded up with a warning.

mod common;
use common::*;

fn convert(input: &std::path::Path, target: &str, dir: &std::path::Path) -> String {
    let (code, err) = transform_into(input, target, dir, &["-v", "--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    err
}

fn only_file(dir: &std::path::Path, ext: &str) -> String {
    let names: Vec<String> = file_names(dir)
        .into_iter()
        .filter(|n| n.ends_with(ext))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    std::fs::read_to_string(dir.join(&names[0])).unwrap()
}

#[test]
fn vcpus_online_at_start_and_the_most() {
    let dir = temp_dir("vcpus");
    let input = dir.join("grow.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>grow</name><uuid>0b7e4c1a-1111-4222-8333-944455556668</uuid>\
         <memory unit='MiB'>4096</memory><vcpu placement='static' current='2'>8</vcpu>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os>\
         <cpu><topology sockets='1' dies='1' cores='8' threads='1'/></cpu><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    // Xen holds both, and gives both back.
    let xen = dir.join("xen");
    convert(&input, "xen", &xen);
    let cfg = only_file(&xen, ".cfg");
    assert!(
        cfg.contains("vcpus = 2\n") && cfg.contains("maxvcpus = 8\n"),
        "{cfg}"
    );
    let back = dir.join("xen-back");
    convert(&xen.join("grow.xen.cfg"), "kvm", &back);
    let kvm = only_file(&back, ".xml");
    assert!(kvm.contains("<vcpu current=\"2\">8</vcpu>"), "{kvm}");
    // One count: the two the VM starts with; the topology (for 8) left out.
    let said = "vCPUs: 2 online at start of at most 8";
    for (target, ext, count, topology) in [
        ("vmware", ".vmx", "numvcpus = \"2\"", "coresPerSocket"),
        (
            "vsphere",
            ".xml",
            "<numCPUs>2</numCPUs>",
            "numCoresPerSocket",
        ),
        (
            "ovf",
            ".ovf",
            "<rasd:VirtualQuantity>2</rasd:VirtualQuantity>",
            "CoresPerSocket",
        ),
        (
            "hyperv",
            ".xml",
            "VirtualQuantity\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;2&lt;",
            "",
        ),
        (
            "ec2",
            ".ec2.xml",
            "<instanceType>c7i.large</instanceType>",
            "coreCount",
        ),
    ] {
        let out = dir.join(target);
        let err = convert(&input, target, &out);
        assert!(err.contains(said), "{target}: {err}");
        assert!(
            err.contains("the topology, for 8, is left out"),
            "{target}: {err}"
        );
        let text = only_file(&out, ext);
        assert!(text.contains(count), "{target}: {text}");
        if !topology.is_empty() {
            assert!(!text.contains(topology), "{target}: {text}");
        }
    }
    // The direct route says and writes what the hub route does.
    let direct = dir.join("direct");
    let via = dir.join("via");
    convert(&input, "vsphere", &direct);
    let (code, err) = transform_into(&input, "vsphere", &via, &["--no-carry", "--via-hub"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(only_file(&direct, ".xml"), only_file(&via, ".xml"));
}

/// libvirt's own xl.cfg test file (`maxvcpus = 8`, `vcpus = 4`) reads as a
/// VM of at most 8 vCPUs that starts with 4.
#[test]
fn xl_maxvcpus_reaches_libvirt() {
    let dir = temp_dir("vcpus-xl");
    let input = root().join("tests/corpus/libvirt-xlconfig/test-paravirt-maxvcpus.cfg");
    convert(&input, "kvm", &dir);
    let kvm = only_file(&dir, ".xml");
    assert!(kvm.contains("<vcpu current=\"4\">8</vcpu>"), "{kvm}");
}

/// Memory that is not a whole number of MiB is rounded up with a warning on
/// every platform that states it in MiB; Xen and OVF rounded it silently.
#[test]
fn memory_rounded_to_mib_is_said() {
    let dir = temp_dir("vcpus-memory");
    let input = dir.join("memb.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>memb</name><memory unit='b'>1000000000</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><source file='/images/os.img'/><target dev='hda' bus='ide'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    for (target, ext, said, written) in [
        (
            "xen",
            ".cfg",
            "xl.cfg takes memory in MiB",
            "memory = 954\n",
        ),
        (
            "ovf",
            ".ovf",
            "the OVF states memory in MiB",
            "<rasd:VirtualQuantity>954</rasd:VirtualQuantity>",
        ),
    ] {
        let out = dir.join(target);
        let err = convert(&input, target, &out);
        assert!(
            err.contains(&format!(
                "memory 1000000000 bytes rounded up to 954 MiB: {said}"
            )),
            "{target}: {err}"
        );
        assert!(only_file(&out, ext).contains(written), "{target}");
    }
}
