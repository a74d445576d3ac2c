//! Devices a target has no exact place for: refused with the device named
//! when the platform could not create the VM, left out with a warning when
//! it has no such device, or mapped to the nearest model it has with a
//! warning; never written where the platform would reject or misread it.

mod common;
use common::*;

/// `transform INPUT --to TARGET -o DIR -v [extra]`: exit code and stderr.
fn convert(
    input: &std::path::Path,
    target: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> (Option<i32>, String) {
    transform_into(input, target, dir, &[&["-v"], extra].concat())
}

/// vSphere has SCSI buses 0 to 3 and puts virtio disks on a PVSCSI
/// controller of their own at bus 3: a fifth SCSI controller (libvirt's own
/// test domain has one), or a SCSI disk on bus 3 beside virtio disks, is
/// refused on both routes, named and located; nothing is written. (The
/// first gave a controller at bus 4, the second two controllers with key
/// -103 and two disks at its unit 0.) A disk past the last bus is named
/// before its controller; a SCSI controller 3 without disks beside virtio
/// disks is refused too (it gave two controllers with key -103).
#[test]
fn vsphere_has_four_scsi_buses() {
    let dir = temp_dir("places-vsphere");
    let both = dir.join("virtio-and-scsi3.xml");
    std::fs::write(
        &both,
        "<domain type='kvm'><name>v3</name><memory unit='MiB'>2048</memory><vcpu>2</vcpu>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>\
         <disk type='file' device='disk'><source file='/images/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'><source file='/images/s3.qcow2'/><target dev='sda' bus='scsi'/>\
         <address type='drive' controller='3' bus='0' target='0' unit='0'/></disk>\
         <controller type='scsi' index='3' model='lsilogic'/></devices></domain>",
    )
    .unwrap();
    let empty = dir.join("virtio-and-empty-scsi3.xml");
    std::fs::write(
        &empty,
        "<domain type='kvm'><name>v3</name><memory unit='MiB'>2048</memory><vcpu>2</vcpu>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>\
         <disk type='file' device='disk'><source file='/images/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <controller type='scsi' index='3' model='lsilogic'/></devices></domain>",
    )
    .unwrap();
    let five = root().join("tests/corpus/libvirt-qemu-domainxml/disk-scsi.xml");
    for (input, said) in [
        (
            five,
            "disk /tmp/scsidisk5.img: SCSI controller 4: a vSphere VM has four SCSI controllers, bus 0 to 3",
        ),
        (
            both,
            "s3.qcow2: SCSI controller 3: a vSphere VM has four SCSI controllers, bus 0 to 3, and its virtio disks take bus 3",
        ),
        (
            empty,
            "controller scsi 3: a vSphere VM has four SCSI controllers, bus 0 to 3, and its virtio disks take bus 3",
        ),
    ] {
        for via in [&[][..], &["--via-hub"][..]] {
            let out = dir.join(format!("out{}", via.len()));
            let (code, err) = convert(&input, "vsphere", &out, via);
            assert_eq!(code, Some(1), "{err}");
            assert!(err.contains(said), "{via:?}: {err}");
            assert!(err.contains("at input "), "{err}");
            assert!(!out.exists() || file_names(&out).is_empty());
        }
    }
}

/// xl.cfg has no floppy drives: a floppy is left out of the disk list with
/// a warning (it was written as a read-write disk `xvda` while the warning
/// said "not converted"), and the carried original brings it back.
#[test]
fn xen_leaves_floppies_out_and_they_come_back() {
    let dir = temp_dir("places-xen-floppy");
    let input = dir.join("floppy.xml");
    let xml = "<domain type='kvm'><name>fl</name><uuid>0b7e4c1a-1111-4222-8333-944455556667</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/os.img'/><target dev='hda' bus='ide'/></disk>\
         <disk type='file' device='floppy'><source file='/images/f.img'/><target dev='fda' bus='fdc'/></disk>\
         </devices></domain>";
    std::fs::write(&input, xml).unwrap();
    let out = dir.join("xen");
    let (code, err) = convert(&input, "xen", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("floppy /images/f.img: xl.cfg has no floppy drives; not converted"),
        "{err}"
    );
    let cfg = std::fs::read_to_string(out.join("floppy.xen.cfg")).unwrap();
    let disks = cfg.lines().find(|l| l.starts_with("disk = ")).unwrap();
    assert!(disks.contains("target=/images/os.img"), "{disks}");
    assert!(!disks.contains("f.img"), "{disks}");
    let back = dir.join("back");
    let (code, err) = convert(&out.join("floppy.xen.cfg"), "kvm", &back, &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(back.join("floppy.xen.kvm.xml")).unwrap();
    assert!(
        kvm.contains("<source file=\"/images/f.img\"/>")
            || kvm.contains("<source file='/images/f.img'/>"),
        "{kvm}"
    );
    assert!(
        kvm.contains("device=\"floppy\"") || kvm.contains("device='floppy'"),
        "{kvm}"
    );
}

/// QEMU has no ES1371 (VMware's Ensoniq card): a VM with one gets libvirt's
/// `es1370` with a warning (`es1371` is no libvirt model, and libvirt
/// refused the domain); libvirt defines it.
#[test]
fn an_es1371_sound_card_becomes_qemus_es1370() {
    let dir = temp_dir("places-sound");
    let vmx = std::fs::read_to_string(root().join("samples/vmware/win-uefi.vmx"))
        .unwrap()
        .replace(
            "sound.virtualDev = \"hdaudio\"",
            "sound.virtualDev = \"es1371\"",
        );
    assert!(vmx.contains("\"es1371\""));
    let input = dir.join("es.vmx");
    std::fs::write(&input, vmx).unwrap();
    let out = dir.join("kvm");
    let (code, err) = convert(&input, "kvm", &out, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("sound es1371 → es1370"), "{err}");
    let kvm = out.join("es.kvm.xml");
    let text = std::fs::read_to_string(&kvm).unwrap();
    assert!(text.contains("<sound model=\"es1370\"/>"), "{text}");
    if tool("virsh").is_some() {
        virsh_dump(&kvm, &domain_name(&text));
    }
}

/// xl.cfg names SCSI disks without an adapter (`sdq`): VMware places them
/// by libvirt's convention, 15 units an adapter and unit 7 the adapter's
/// own (`sdq` is scsi1:1); they went to scsi0:16, past the 15 units of
/// scsi0's default adapter, and `db.vmx`'s scsi1:0-2 came back from Xen as
/// scsi0:15-17.
#[test]
fn scsi_disks_from_xen_keep_their_vmware_places() {
    let dir = temp_dir("places-xen-scsi");
    let cfg = dir.join("xsd.cfg");
    std::fs::write(
        &cfg,
        "name = \"xsd\"\ntype = \"hvm\"\nmemory = 2048\nvcpus = 2\n\
         disk = [ \"format=raw,vdev=sda,access=rw,target=/images/os.img\", \
         \"format=raw,vdev=sdq,access=rw,target=/images/data.img\" ]\n",
    )
    .unwrap();
    let out = dir.join("vmware");
    let (code, err) = convert(&cfg, "vmware", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(out.join("xsd.vmware.vmx")).unwrap();
    assert!(vmx.contains("scsi0:0.fileName = \"os.vmdk\""), "{vmx}");
    assert!(vmx.contains("scsi1:1.fileName = \"data.vmdk\""), "{vmx}");
    assert!(vmx.contains("scsi1.present = \"TRUE\""), "{vmx}");
    let xen = dir.join("xen");
    let (code, err) = convert(
        &root().join("samples/vmware/db.vmx"),
        "xen",
        &xen,
        &["--no-carry"],
    );
    assert_eq!(code, Some(0), "{err}");
    let back = dir.join("back");
    let (code, err) = convert(&xen.join("db.xen.cfg"), "vmware", &back, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(back.join("db.xen.vmware.vmx")).unwrap();
    for (slot, file) in [
        ("scsi1:0", "db01_data.vmdk"),
        ("scsi1:1", "db01_wal.vmdk"),
        ("scsi1:2", "quorum.vmdk"),
    ] {
        let line = vmx
            .lines()
            .find(|l| l.starts_with(&format!("{slot}.fileName")))
            .unwrap_or_else(|| panic!("{slot}: {vmx}"));
        assert!(line.ends_with(&format!("{file}\"")), "{line}");
    }
}

/// Two floppy drives from vSphere (which numbers no unit) come back to a
/// .vmx as floppy0 and floppy1; the writer stopped on "the key
/// floppy1.present is written twice" (its default `FALSE` beside the drive).
#[test]
fn two_floppies_through_vsphere_come_back_to_vmware() {
    let dir = temp_dir("places-floppies");
    let vmx = root().join("tests/corpus/libvirt-vmx2xml/floppy-file.vmx");
    let vs = dir.join("vsphere");
    let (code, err) = convert(&vmx, "vsphere", &vs, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let spec = vs.join(&file_names(&vs)[0]);
    let back = dir.join("back");
    let (code, err) = convert(&spec, "vmware", &back, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(back.join(&file_names(&back)[0])).unwrap();
    for want in [
        "floppy0.present = \"TRUE\"",
        "floppy0.fileName = \"floppy.flp\"",
        "floppy1.present = \"TRUE\"",
        "floppy1.fileName = \"floppy\"",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

/// A SCSI unit is the drive's slot on its controller, on every platform:
/// a vSphere drive on unit 8 stays on unit 8 through the hub to a .vmx, an
/// OVF, libvirt and vSphere again. (The vSphere reader took unit 8 as the
/// eighth place, hub unit 7, and the .vmx and OVF writers put the drive on
/// unit 7, the adapter's own.) A libvirt drive that names unit 7, which
/// QEMU's virtio-scsi allows, moves up one on VMware's adapters, with the
/// drives after it and a warning; vSphere's checks take the result.
#[test]
fn scsi_units_are_slots_and_unit_7_is_the_adapters() {
    let dir = temp_dir("places-scsi-units");
    let domain = |units: &[u32]| {
        let disks: String = units
            .iter()
            .map(|u| {
                format!(
                    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
                     <source file='/images/u{u}.qcow2'/><target dev='sd{}' bus='scsi'/>\
                     <address type='drive' controller='0' bus='0' target='0' unit='{u}'/></disk>",
                    (b'a' + *u as u8) as char
                )
            })
            .collect();
        format!(
            "<domain type='kvm'><name>units</name><uuid>0b7e4c1a-1111-4222-8333-944455556668</uuid>\
             <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os>\
             <devices><controller type='scsi' index='0' model='virtio-scsi'/>{disks}</devices></domain>"
        )
    };
    let slots = |xml: &str| -> Vec<(String, String)> {
        let d = roxmltree::Document::parse(xml).unwrap();
        d.descendants()
            .filter(|n| n.has_tag_name("fileName") && n.text().is_some_and(|t| t.contains("/u")))
            .map(|f| {
                let dev = f.parent().unwrap().parent().unwrap();
                let unit = child(dev, "unitNumber").unwrap().text().unwrap();
                let file = f.text().unwrap().rsplit('/').next().unwrap();
                (file.to_string(), unit.to_string())
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };

    // Slots 0, 8, 9: the same on every platform.
    let input = dir.join("units.xml");
    std::fs::write(&input, domain(&[0, 8, 9])).unwrap();
    let vs = dir.join("vsphere");
    let (code, err) = convert(&input, "vsphere", &vs, &[]);
    assert_eq!(code, Some(0), "{err}");
    let spec = vs.join("units.vsphere.xml");
    let want = pairs(&[("u0.vmdk", "0"), ("u8.vmdk", "8"), ("u9.vmdk", "9")]);
    assert_eq!(slots(&std::fs::read_to_string(&spec).unwrap()), want);
    let back = dir.join("back");
    let (code, err) = convert(&spec, "vmware,ovf,kvm,vsphere", &back, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(back.join("units.vsphere.vmware.vmx")).unwrap();
    for (slot, file) in [("scsi0:0", "u0"), ("scsi0:8", "u8"), ("scsi0:9", "u9")] {
        assert!(
            vmx.contains(&format!("{slot}.fileName = \"{file}.vmdk\"")),
            "{slot}: {vmx}"
        );
    }
    let ovf = std::fs::read_to_string(back.join("units.vsphere.ovf")).unwrap();
    let d = roxmltree::Document::parse(&ovf).unwrap();
    let addresses: Vec<&str> = d
        .descendants()
        .filter(|n| n.has_tag_name("Item"))
        .filter(|i| {
            i.children().any(|c| {
                c.tag_name().name() == "HostResource"
                    && c.text().is_some_and(|t| t.contains("vmdisk"))
            })
        })
        .map(|i| {
            i.children()
                .find(|c| c.tag_name().name() == "AddressOnParent")
                .and_then(|c| c.text())
                .unwrap()
        })
        .collect();
    assert_eq!(addresses, ["0", "8", "9"], "{ovf}");
    let kvm = std::fs::read_to_string(back.join("units.vsphere.kvm.xml")).unwrap();
    let d = roxmltree::Document::parse(&kvm).unwrap();
    let units: Vec<&str> = d
        .descendants()
        .filter(|n| n.has_tag_name("address") && n.attribute("type") == Some("drive"))
        .map(|a| a.attribute("unit").unwrap())
        .collect();
    assert_eq!(units, ["0", "8", "9"], "{kvm}");
    let again = std::fs::read_to_string(back.join("units.vsphere.vsphere.xml")).unwrap();
    assert_eq!(slots(&again), want);

    // Unit 7 named: it and the drives after it move up one, on both
    // vSphere routes, in a .vmx and in an OVF, each with a warning.
    let seven = dir.join("seven.xml");
    std::fs::write(&seven, domain(&[0, 7, 8])).unwrap();
    let moved = pairs(&[("u0.vmdk", "0"), ("u7.vmdk", "8"), ("u8.vmdk", "9")]);
    let mut specs = Vec::new();
    for via in [&[][..], &["--via-hub"][..]] {
        let out = dir.join(format!("seven{}", via.len()));
        let (code, err) = convert(&seven, "vsphere", &out, via);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            err.contains("u7.qcow2: SCSI unit 7 is the controller's own on vSphere: the drives on units 7 and up of SCSI controller 0 move up one unit"),
            "{via:?}: {err}"
        );
        let spec = out.join("seven.vsphere.xml");
        assert_eq!(slots(&std::fs::read_to_string(&spec).unwrap()), moved);
        specs.push(spec);
    }
    let out = dir.join("seven-vmware");
    let (code, err) = convert(&seven, "vmware,ovf", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        err.matches("u7.qcow2: SCSI unit 7 is the adapter's own on VMware: the drives on units 7 and up of SCSI adapter 0 move up one unit").count(),
        2,
        "{err}"
    );
    let vmx = std::fs::read_to_string(out.join("seven.vmware.vmx")).unwrap();
    for (slot, file) in [("scsi0:0", "u0"), ("scsi0:8", "u7"), ("scsi0:9", "u8")] {
        assert!(
            vmx.contains(&format!("{slot}.fileName = \"{file}.vmdk\"")),
            "{slot}: {vmx}"
        );
    }
    assert!(!vmx.contains("scsi0:7."), "{vmx}");
    let ovf = std::fs::read_to_string(out.join("seven.ovf")).unwrap();
    assert!(!ovf.contains("AddressOnParent>7<"), "{ovf}");
    assert_eq!(ovf.matches("AddressOnParent>9<").count(), 1, "{ovf}");

    // vSphere's own rules (unit 7 reserved, one drive per unit) hold.
    let mut all = vec![spec, back.join("units.vsphere.vsphere.xml")];
    all.extend(specs);
    vsphere_accepts(&all);
}

/// A hard disk without an image (libvirt defines one): each platform gets a
/// new, empty disk or a file named for the user to create (as libvirt gets
/// for an OVF disk to be created), never a path made of nothing (vSphere had
/// `[datastore1] /.vmdk`, xl.cfg a disk with no target, EC2 an ImportImage
/// of the S3 key ""). vSphere's, EC2's and Hyper-V's own checks take the
/// results, and the disk comes back from EC2 and vSphere without an image.
#[test]
fn a_disk_without_an_image_is_a_new_empty_disk() {
    let dir = temp_dir("places-blank");
    let input = dir.join("blank.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>scratch</name><uuid>0b7e4c1a-1111-4222-8333-944455556672</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><target dev='vdb' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let out = dir.join("out");
    let (code, err) = convert(&input, "vsphere,vmware,xen,hyperv,ec2", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    for said in [
        "disk vdb: no image was given; vSphere creates a new, empty disk in the VM's folder",
        "disk vdb: no image was given; create scratch-scsi0-1.vmdk beside the .vmx, e.g. qemu-img create -f vmdk scratch-scsi0-1.vmdk SIZE",
        "disk xvdb: no image was given; create /var/lib/xen/images/scratch-xvdb.qcow2, e.g. qemu-img create -f qcow2 /var/lib/xen/images/scratch-xvdb.qcow2 SIZE",
        "disk vdb: no image was given; the drive has no virtual hard disk: create one (New-VHD) and attach it",
        "disk /dev/sdb: no image was given; RunInstances adds a new, empty 16 GiB gp3 volume",
    ] {
        assert!(err.contains(said), "{said}: {err}");
    }
    assert!(!err.contains("/.vmdk"), "{err}");
    // vSphere: a disk to create, named by vSphere.
    let spec = std::fs::read_to_string(out.join("blank.vsphere.xml")).unwrap();
    let d = roxmltree::Document::parse(&spec).unwrap();
    let changes: Vec<_> = d
        .descendants()
        .filter(|n| n.has_tag_name("deviceChange"))
        .filter(|c| c.descendants().any(|n| n.has_tag_name("capacityInKB")))
        .collect();
    assert_eq!(changes.len(), 2);
    let file_of = |c: &roxmltree::Node| {
        c.descendants()
            .find(|n| n.has_tag_name("fileName"))
            .and_then(|n| n.text())
            .unwrap_or("")
            .to_string()
    };
    let creates =
        |c: &roxmltree::Node| child(*c, "fileOperation").and_then(|n| n.text()) == Some("create");
    assert!(!creates(&changes[0]) && file_of(&changes[0]).ends_with("os.vmdk"));
    assert!(
        creates(&changes[1]) && file_of(&changes[1]).is_empty(),
        "{spec}"
    );
    // .vmx and xl.cfg: a file for the user to create.
    let vmx = std::fs::read_to_string(out.join("blank.vmware.vmx")).unwrap();
    assert!(
        vmx.contains("scsi0:1.fileName = \"scratch-scsi0-1.vmdk\""),
        "{vmx}"
    );
    let cfg = std::fs::read_to_string(out.join("blank.xen.cfg")).unwrap();
    assert!(
        cfg.contains(
            "\"format=qcow2,vdev=xvdb,access=rw,target=/var/lib/xen/images/scratch-xvdb.qcow2\""
        ),
        "{cfg}"
    );
    // EC2: one import (the disk with an image), and a new volume.
    let import: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("blank.ec2.import-image.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        import["DiskContainers"].as_array().unwrap().len(),
        1,
        "{import}"
    );
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("blank.ec2.run-instances.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        run["BlockDeviceMappings"],
        serde_json::json!([{"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 16, "VolumeType": "gp3"}}])
    );
    // Back through the hub: still without an image (libvirt then names a
    // file for the user to create, as for an OVF disk to be created).
    for (file, name) in [
        ("blank.ec2.xml", "blank.ec2.hvx.xml"),
        ("blank.vsphere.xml", "blank.vsphere.hvx.xml"),
    ] {
        let back = dir.join(format!("back-{file}"));
        let (code, err) = convert(&out.join(file), "hvx", &back, &["--no-carry"]);
        assert_eq!(code, Some(0), "{err}");
        let hub = std::fs::read_to_string(back.join(name)).unwrap();
        let d = roxmltree::Document::parse(&hub).unwrap();
        let disks: Vec<_> = d
            .root_element()
            .children()
            .filter(|n| n.has_tag_name("disk"))
            .collect();
        assert_eq!(disks.len(), 2, "{hub}");
        assert!(child(disks[0], "source").is_some(), "{hub}");
        assert!(child(disks[1], "source").is_none(), "{file}: {hub}");
    }
    pywbem_accepts(&[out.join("blank.hyperv.xml")]);
    vsphere_accepts(&[out.join("blank.vsphere.xml")]);
    if let Some(py) = venv_python(
        "HVX_EC2_PYTHON",
        "/opt/hvx-ec2-venv",
        "venv with botocore and moto",
    ) {
        for (args, file) in [
            (&[][..], "blank.ec2.xml"),
            (
                &["--request", "RunInstances"][..],
                "blank.ec2.run-instances.json",
            ),
        ] {
            let o = std::process::Command::new(&py)
                .arg(root().join("tests/validators/ec2_check.py"))
                .args(args)
                .arg(out.join(file))
                .output()
                .unwrap();
            assert!(o.status.success(), "{file}: {}{}", stdout(&o), stderr(&o));
        }
    }
}

/// Moving up from unit 7 cannot take a drive past its adapter's last unit:
/// LSI Logic's 15 in a .vmx and an OVF is refused, named (it gave
/// `scsi0:16` and `AddressOnParent` 16), as vSphere refuses it.
#[test]
fn no_drive_moves_past_its_adapters_last_unit() {
    let dir = temp_dir("places-unit-16");
    let input = dir.join("u16.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>u16</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <controller type='scsi' index='0' model='lsilogic'/>\
         <disk type='file' device='disk'><source file='/images/u7.img'/><target dev='sda' bus='scsi'/>\
         <address type='drive' controller='0' bus='0' target='0' unit='7'/></disk>\
         <disk type='file' device='disk'><source file='/images/u15.img'/><target dev='sdb' bus='scsi'/>\
         <address type='drive' controller='0' bus='0' target='0' unit='15'/></disk></devices></domain>",
    )
    .unwrap();
    for (target, said) in [
        ("vmware", "u15.img: unit 16 on SCSI adapter 0: a .vmx numbers a pvscsi adapter's drives 0 to 64 and other adapters' 0 to 15"),
        ("ovf", "u15.img: unit 16 on SCSI controller 0: VMware numbers a VirtualSCSI (PVSCSI) controller's drives 0 to 64 and other controllers' 0 to 15"),
        ("vsphere", "u15.img: unit 16 on its SCSI controller: vSphere numbers that controller's drives 0 to 15"),
    ] {
        let out = dir.join(target);
        let (code, err) = convert(&input, target, &out, &[]);
        assert_eq!(code, Some(1), "{target}: {err}");
        assert!(err.contains(said), "{target}: {err}");
        assert!(!out.exists() || file_names(&out).is_empty());
    }
}

/// A disk without `bus` is on the bus its target's name says, as libvirt
/// reads it: virt-v2v's floppies (`<target dev='fda'/>`) stay floppies on
/// the floppy controller, not IDE slots.
#[test]
fn a_disk_without_bus_is_on_the_bus_its_name_says() {
    let dir = temp_dir("bus-by-name");
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let floppy = "<disk type='file' device='floppy'><source file='/var/lib/libvirt/images/boot.img'/><target dev='fda'/></disk>\n    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/data.img'/><target dev='sdb'/></disk>\n    <interface";
    let input = dir.join("fd.xml");
    std::fs::write(&input, web.replacen("<interface", floppy, 1)).unwrap();
    let out = dir.join("out");
    let o = run(&[
        "transform",
        input.to_str().unwrap(),
        "--to",
        "vmware,vsphere,hvx",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hub = std::fs::read_to_string(out.join("fd.hvx.xml")).unwrap();
    assert!(hub.contains("<disk device=\"floppy\" bus=\"fdc\""), "{hub}");
    assert!(
        hub.contains("bus=\"scsi\"") && hub.contains("target=\"sdb\""),
        "{hub}"
    );
    let vmx = std::fs::read_to_string(out.join("fd.vmware.vmx")).unwrap();
    assert!(vmx.contains("floppy0.present = \"TRUE\""), "{vmx}");
    assert!(
        vmx.contains("floppy0.fileName = \"/var/lib/libvirt/images/boot.img\""),
        "{vmx}"
    );
    assert!(!vmx.contains("ide0:0.present"), "{vmx}");
    let spec = std::fs::read_to_string(out.join("fd.vsphere.xml")).unwrap();
    let d = roxmltree::Document::parse(&spec).unwrap();
    let floppy = d
        .descendants()
        .find(|n| {
            n.attribute(("http://www.w3.org/2001/XMLSchema-instance", "type"))
                == Some("VirtualFloppy")
        })
        .expect("a VirtualFloppy");
    let key = floppy
        .descendants()
        .find(|n| n.has_tag_name("controllerKey"))
        .and_then(|n| n.text());
    assert_eq!(key, Some("400"), "{spec}");
}
