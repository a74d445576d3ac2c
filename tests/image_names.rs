//! Writers that keep only an image's file name (an image converted beside
//! the VM, a Hyper-V virtual hard disk, an S3 key, a Windows path on a Linux
//! host) give two drives with the same file name in different folders two
//! names: otherwise converting both images, as the printed actions say,
//! writes one over the other. Drives with the same path keep one name.

mod common;

use common::*;
use std::path::Path;

/// Three drives: two `disk.qcow2` in different folders, and the first one
/// again (shared).
const DOMAIN: &str = r#"<domain type='kvm'><name>two</name><memory unit='KiB'>1048576</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/srv/vm-a/disk.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/srv/vm-b/disk.qcow2'/><target dev='vdb' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/srv/vm-a/disk.qcow2'/><target dev='vdc' bus='virtio'/><shareable/></disk>
</devices></domain>"#;

/// The values that follow `marker` in `text`, up to the first of `ends`.
fn after(text: &str, marker: &str, ends: &[char]) -> Vec<String> {
    text.match_indices(marker)
        .map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            rest[..rest.find(ends).unwrap_or(rest.len())].to_string()
        })
        .collect()
}

/// The first and third drive share a name, the second has another.
fn distinct_but_shared(names: &[String], what: &str) {
    assert_eq!(names.len(), 3, "{what}: {names:?}");
    assert_ne!(names[0], names[1], "{what}: {names:?}");
    assert_eq!(names[0], names[2], "{what}: {names:?}");
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn two_folders_images_of_one_name_get_two_names_on_every_writer() {
    let dir = temp_dir("image-names");
    let input = dir.join("two.xml");
    std::fs::write(&input, DOMAIN).unwrap();
    let out = dir.join("out");
    let (code, err) = transform_into(&input, "hyperv,ec2,vmware", &out, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    // The renamed drive is said once, where its name is made.
    assert!(
        err.contains("disk /srv/vm-b/disk.qcow2 → C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks\\disk-2.vhdx: named disk-2"),
        "{err}"
    );

    // Hyper-V: each drive's virtual hard disk (HostResource, in the
    // embedded instances).
    let hv = read(&out, "two.hyperv.xml");
    // (Each is named again in the VSSD's Notes, for the way back.)
    let vhds: Vec<String> = after(&hv, "Virtual Hard Disks\\", &['&', '<', '|'])
        .into_iter()
        .take(3)
        .collect();
    distinct_but_shared(&vhds, "Hyper-V");
    assert_eq!(vhds[1], "disk-2.vhdx");

    // EC2: the ImportImage request's S3 keys, one per disk.
    let j: serde_json::Value =
        serde_json::from_str(&read(&out, "two.ec2.import-image.json")).unwrap();
    let keys: Vec<String> = j["DiskContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["UserBucket"]["S3Key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3, "{j}");
    distinct_but_shared(&keys, "EC2");

    // VMware: each disk's converted vmdk.
    let vmx = read(&out, "two.vmware.vmx");
    let files: Vec<String> = vmx
        .lines()
        .filter(|l| l.contains(".fileName = "))
        .map(|l| l.split('"').nth(1).unwrap().to_string())
        .collect();
    distinct_but_shared(&files, "VMware");

    // The way back gives every drive its own path again.
    let back = dir.join("back");
    let (code, err) = transform_into(&out.join("two.hyperv.xml"), "kvm", &back, &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = read(&back, "two.hyperv.kvm.xml");
    let doc = roxmltree::Document::parse(&kvm).unwrap();
    let paths: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("source"))
        .filter_map(|n| n.attribute("file"))
        .collect();
    assert_eq!(
        paths,
        [
            "/srv/vm-a/disk.qcow2",
            "/srv/vm-b/disk.qcow2",
            "/srv/vm-a/disk.qcow2"
        ]
    );
}

#[test]
fn windows_paths_of_one_file_name_get_two_names_on_kvm_and_xen() {
    let dir = temp_dir("image-names-windows");
    let input = dir.join("win.xml");
    let domain = DOMAIN
        .replace("/srv/vm-a/disk.qcow2", r"C:\VMs\a\disk.vhdx")
        .replace("/srv/vm-b/disk.qcow2", r"D:\VMs\b\disk.vhdx")
        .replace("type='qcow2'", "type='vhdx'")
        // (KVM shares a disk only as a raw image: a name of its own.)
        .replace("<shareable/>", "");
    std::fs::write(&input, domain).unwrap();
    // A hub without libvirt's own elements (as Hyper-V's reader makes one).
    let hub = dir.join("hub");
    let (code, err) = transform_into(&input, "hvx", &hub, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let text = read(&hub, "win.hvx.xml");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut plain = text.clone();
    for n in doc.descendants().filter(|n| {
        (n.has_tag_name("extension") || n.has_tag_name("entry"))
            && n.attribute("platform") == Some("kvm")
    }) {
        plain = plain.replace(&text[n.range()], "");
    }
    std::fs::write(hub.join("plain.xml"), plain).unwrap();
    let out = dir.join("out");
    let (code, err) = transform_into(&hub.join("plain.xml"), "kvm,xen", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = read(&out, "plain.kvm.xml");
    let files = after(&kvm, "<source file=\"", &['"']);
    distinct_but_shared(&files, "KVM");
    assert_eq!(files[1], "/var/lib/libvirt/images/disk-2.qcow2");
    let cfg = read(&out, "plain.xen.cfg");
    let disks = cfg.lines().find(|l| l.starts_with("disk = ")).unwrap();
    let targets = after(disks, "target=", &['"', ',']);
    distinct_but_shared(&targets, "Xen");
}

/// A CD-ROM image at a URL (libvirt's network CD-ROM) becomes, in a .vmx,
/// the ISO file beside it with an action to download it: VMware reads
/// files, and took the URL for a file path.
const NETWORK_CDROM: &str = "<domain type='kvm'><name>netcd</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
     <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
     <disk type='file' device='disk'><source file='/img/a.vmdk'/><target dev='vda' bus='virtio'/></disk>\
     <disk type='network' device='cdrom'><driver name='qemu' type='raw'/>\
     <source protocol='ftp' name='/pub/install.iso'><host name='mirror.example.com' port='21'/></source>\
     <target dev='hdc' bus='ide'/><readonly/></disk></devices></domain>";

/// Xen and Hyper-V read images from files too: a CD-ROM at a URL becomes
/// a file named by its image, with an action to download it there (the
/// URL was written as the file's path).
#[test]
fn a_network_cdrom_becomes_an_iso_file_on_xen_and_hyperv() {
    let dir = temp_dir("image-names-url-iso-xen");
    let input = dir.join("netcd.xml");
    std::fs::write(&input, NETWORK_CDROM).unwrap();
    let out = dir.join("out");
    let url = "ftp://mirror.example.com:21//pub/install.iso";
    let (code, err) = transform_into(&input, "xen", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "cdrom {url} → /var/lib/xen/images/install.iso: download the image there"
        )),
        "{err}"
    );
    let cfg = read(&out, "netcd.xen.cfg");
    let disks = cfg.lines().find(|l| l.starts_with("disk =")).unwrap();
    assert!(
        disks.contains("devtype=cdrom,target=/var/lib/xen/images/install.iso"),
        "{cfg}"
    );
    assert!(!disks.contains("ftp:"), "{cfg}");
    let (code, err) = transform_into(&input, "hyperv", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "cdrom {url} → C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks\\install.iso: download the image there, on the Hyper-V host"
        )),
        "{err}"
    );
}

#[test]
fn a_network_cdrom_becomes_an_iso_file_beside_the_vmx() {
    let dir = temp_dir("image-names-url-iso");
    let input = dir.join("netcd.xml");
    std::fs::write(&input, NETWORK_CDROM).unwrap();
    let out = dir.join("out");
    let (code, err) = transform_into(&input, "vmware", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("cdrom ftp://mirror.example.com:21//pub/install.iso → install.iso: download the image beside the .vmx"),
        "{err}"
    );
    let vmx = read(&out, "netcd.vmware.vmx");
    assert!(vmx.contains("ide1:0.fileName = \"install.iso\""), "{vmx}");
    assert!(
        !vmx.lines()
            .any(|l| l.contains("fileName") && l.contains("ftp:")),
        "{vmx}"
    );
}

/// A libvirt storage-pool volume (`<source pool volume>`) is the disk's
/// image everywhere: named after the volume, with the warning where its
/// file is; it was no image at all, and every platform made a new, empty
/// boot disk. Through the hub back to KVM it is the volume again.
#[test]
fn a_storage_pool_volume_is_the_disks_image_everywhere() {
    let dir = temp_dir("image-names-volume");
    let input = dir.join("vol.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>vol</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>\
         <source pool='default' volume='vol-root.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let out = dir.join("out");
    for target in ["vsphere", "vmware", "xen", "ovf", "hyperv", "ec2", "hvx"] {
        let (code, err) = transform_into(&input, target, &out, &["-v"]);
        assert_eq!(code, Some(0), "{target}: {err}");
        assert!(!err.contains("no image was given"), "{target}: {err}");
        assert!(
            err.contains("volume vol-root.qcow2 of storage pool default")
                && err.contains("virsh vol-path --pool default vol-root.qcow2"),
            "{target}: {err}"
        );
    }
    assert!(read(&out, "vol.vsphere.xml")
        .contains("<fileName>[datastore1] vol-root/vol-root.vmdk</fileName>"));
    assert!(read(&out, "vol.vmware.vmx").contains("fileName = \"vol-root.vmdk\""));
    let import = read(&out, "vol.ec2.import-image.json");
    assert!(import.contains("\"S3Key\": \"vol-root.raw\""), "{import}");
    let (code, err) = transform_into(&out.join("vol.hvx.xml"), "kvm", &dir.join("back"), &[]);
    assert_eq!(code, Some(0), "{err}");
    let back = read(&dir.join("back"), "vol.kvm.xml");
    assert!(
        back.contains("<disk type=\"volume\" device=\"disk\">"),
        "{back}"
    );
    assert!(
        back.contains("<source pool=\"default\" volume=\"vol-root.qcow2\"/>"),
        "{back}"
    );
}
