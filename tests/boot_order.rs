//! Boot order through VMware's `.vmx`: `bios.bootOrder` (`hdd`, `cdrom`,
//! `floppy`, `ethernetN`) and `bios.hddOrder` (`scsi0:1,ide0:0`), VMware KB
//! 2011654. They were carried but not read, so a VM that boots from its
//! CD-ROM, then its second SCSI disk, booted from its first disk on every
//! other platform; and a libvirt boot order was dropped on the way to a
//! `.vmx` ("VMware keeps the boot order in its NVRAM").

mod common;
use common::*;

/// The boot orders of a libvirt domain, by image file or MAC, in order.
fn kvm_boot_orders(xml: &str) -> Vec<(String, String)> {
    let d = roxmltree::Document::parse(xml).unwrap();
    let mut v: Vec<(String, String)> = d
        .descendants()
        .filter(|n| n.has_tag_name("boot") && n.attribute("order").is_some())
        .map(|b| {
            let dev = b.parent().unwrap();
            let what = dev
                .descendants()
                .find(|n| n.has_tag_name("source") && n.attribute("file").is_some())
                .and_then(|s| s.attribute("file"))
                .or_else(|| {
                    dev.children()
                        .find(|n| n.has_tag_name("mac"))
                        .and_then(|m| m.attribute("address"))
                })
                // An empty CD-ROM drive by its kind.
                .or_else(|| dev.attribute("device"))
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            (b.attribute("order").unwrap().to_string(), what)
        })
        .collect();
    v.sort();
    v
}

fn vmx_key<'a>(vmx: &'a str, key: &str) -> Option<&'a str> {
    vmx.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{} = ", key.to_ascii_lowercase()))
        })
        .map(|l| l.split_once(" = ").unwrap().1.trim_matches('"'))
}

/// A `.vmx` that boots from its CD-ROM, then `scsi0:1`, then `ide0:0`:
/// libvirt gets those boot orders (accepted by `virsh define`), and the
/// `.vmx` comes back with both keys as written.
#[test]
fn a_vmx_boot_order_reaches_libvirt_and_comes_back() {
    let dir = temp_dir("boot-vmx");
    let vmx = dir.join("boot.vmx");
    std::fs::write(
        &vmx,
        ".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"14\"\n\
         displayName = \"boot\"\nguestOS = \"ubuntu-64\"\nmemsize = \"2048\"\nnumvcpus = \"2\"\n\
         bios.bootOrder = \"CDROM, hdd\"\nbios.hddOrder = \"scsi0:1,ide0:0\"\n\
         ide0:0.present = \"TRUE\"\nide0:0.fileName = \"ide.vmdk\"\n\
         scsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\n\
         scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"a.vmdk\"\n\
         scsi0:1.present = \"TRUE\"\nscsi0:1.fileName = \"b.vmdk\"\n\
         ide1:0.present = \"TRUE\"\nide1:0.deviceType = \"cdrom-image\"\nide1:0.fileName = \"/iso/x.iso\"\n\
         ethernet0.present = \"TRUE\"\nethernet0.virtualDev = \"vmxnet3\"\n",
    )
    .unwrap();
    let out = dir.join("kvm");
    let (code, err) = transform_into(&vmx, "kvm", &out, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(out.join("boot.kvm.xml")).unwrap();
    let want = vec![
        ("1".to_string(), "x.iso".to_string()),
        ("2".to_string(), "b.vmdk".to_string()),
        ("3".to_string(), "ide.vmdk".to_string()),
    ];
    assert_eq!(kvm_boot_orders(&kvm), want, "{kvm}");
    if tool("virsh").is_some() {
        let dumped = virsh_dump(&out.join("boot.kvm.xml"), "boot");
        assert_eq!(kvm_boot_orders(&dumped), want, "{dumped}");
    }
    let hub = dir.join("hub");
    let (code, err) = transform_into(&vmx, "hvx", &hub, &[]);
    assert_eq!(code, Some(0), "{err}");
    let back = dir.join("back");
    let (code, err) = transform_into(&hub.join("boot.hvx.xml"), "vmware", &back, &[]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(back.join("boot.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&text, "bios.bootOrder"),
        Some("CDROM, hdd"),
        "{text}"
    );
    assert_eq!(
        vmx_key(&text, "bios.hddOrder"),
        Some("scsi0:1,ide0:0"),
        "{text}"
    );

    // Changed in the hub (the SCSI disk now after the IDE one): written anew.
    let changed = std::fs::read_to_string(hub.join("boot.hvx.xml"))
        .unwrap()
        .replace("boot=\"2\"", "boot=\"5\"");
    let changed_path = dir.join("changed.xml");
    std::fs::write(&changed_path, changed).unwrap();
    let again = dir.join("again");
    let (code, err) = transform_into(&changed_path, "vmware", &again, &[]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(again.join("changed.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&text, "bios.bootOrder"),
        Some("cdrom,hdd"),
        "{text}"
    );
    assert_eq!(
        vmx_key(&text, "bios.hddOrder"),
        Some("ide0:0,scsi0:1"),
        "{text}"
    );
}

/// A real `.vmx` (virt-v2v's test-i-vmx-5, written by VMware) says
/// `bios.bootorder = "hdd,CDROM"` and has no CD-ROM: its disk is the first
/// to boot, and the line comes back as VMware wrote it.
#[test]
fn a_real_vmx_boot_order_is_read_and_kept() {
    let dir = temp_dir("boot-v2v");
    let vmx = root().join("tests/corpus/virt-v2v/test-i-vmx-5.vmx");
    let (code, err) = transform_into(&vmx, "hvx", &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    let hub = std::fs::read_to_string(dir.join("test-i-vmx-5.hvx.xml")).unwrap();
    let d = roxmltree::Document::parse(&hub).unwrap();
    let disks: Vec<_> = d
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("disk"))
        .collect();
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0].attribute("boot"), Some("1"));
    let back = dir.join("back");
    let (code, err) = transform_into(&dir.join("test-i-vmx-5.hvx.xml"), "vmware", &back, &[]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(back.join("test-i-vmx-5.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&text, "bios.bootorder"),
        Some("hdd,CDROM"),
        "{text}"
    );
    assert_eq!(vmx_key(&text, "bios.hddOrder"), None, "{text}");
}

/// A libvirt domain booting from its CD-ROM, its second disk, then its
/// second NIC: the `.vmx` says so, and reading it back gives libvirt the
/// same orders.
#[test]
fn a_libvirt_boot_order_reaches_a_vmx() {
    let dir = temp_dir("boot-kvm");
    let input = dir.join("kboot.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>kboot</name><uuid>0b7e4c1a-1111-4222-8333-944455556670</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/data.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/os.qcow2'/><target dev='vdb' bus='virtio'/><boot order='2'/></disk>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/iso/inst.iso'/><target dev='hdc' bus='ide'/><readonly/><boot order='1'/></disk>\
         <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/></interface>\
         <interface type='network'><mac address='52:54:00:00:00:02'/><source network='default'/><model type='virtio'/><boot order='3'/></interface>\
         </devices></domain>",
    )
    .unwrap();
    let out = dir.join("vmware");
    let (code, err) = transform_into(&input, "vmware", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(out.join("kboot.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&vmx, "bios.bootOrder"),
        Some("cdrom,hdd,ethernet1"),
        "{vmx}"
    );
    assert_eq!(vmx_key(&vmx, "bios.hddOrder"), Some("scsi0:1"), "{vmx}");
    assert_eq!(vmx_key(&vmx, "scsi0:1.fileName"), Some("os.vmdk"), "{vmx}");
    let back = dir.join("back");
    let (code, err) = transform_into(&out.join("kboot.vmware.vmx"), "kvm", &back, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(back.join("kboot.vmware.kvm.xml")).unwrap();
    assert_eq!(
        kvm_boot_orders(&kvm),
        vec![
            ("1".to_string(), "inst.iso".to_string()),
            ("2".to_string(), "os.vmdk".to_string()),
            ("3".to_string(), "52:54:00:00:00:02".to_string()),
        ],
        "{kvm}"
    );
}

/// Equal boot orders keep every device (the first of them only was
/// written), kinds interleaved in the hub's order are said with a warning,
/// and xl.cfg's `boot` names each kind once, in order (it gave `ddc` and
/// `dcd`, which QEMU refuses: "Boot device 'd' was given twice").
#[test]
fn boot_orders_by_kind_keep_every_kind_once() {
    let dir = temp_dir("boot-kinds");
    let disk = |dev: &str, file: &str, order: Option<u32>, kind: &str| {
        format!(
            "<disk type='file' device='{kind}'><source file='/images/{file}'/><target dev='{dev}' bus='{}'/>{}</disk>",
            if kind == "cdrom" { "sata" } else { "virtio" },
            order.map(|o| format!("<boot order='{o}'/>")).unwrap_or_default()
        )
    };
    let domain = |devices: String| {
        format!(
            "<domain type='kvm'><name>kinds</name><uuid>0b7e4c1a-1111-4222-8333-944455556673</uuid>\
             <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os>\
             <devices>{devices}<interface type='network'><mac address='52:54:00:00:00:09'/><source network='default'/>\
             <model type='virtio'/><boot order='1'/></interface></devices></domain>"
        )
    };
    // A disk, the CD-ROM and the NIC all first: none is lost.
    let tie = dir.join("tie.xml");
    std::fs::write(
        &tie,
        domain(
            disk("vda", "a.qcow2", Some(2), "disk")
                + &disk("vdb", "b.qcow2", Some(1), "disk")
                + &disk("sda", "x.iso", Some(1), "cdrom"),
        ),
    )
    .unwrap();
    let out = dir.join("tie-out");
    let (code, err) = transform_into(&tie, "vmware,xen", &out, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(out.join("tie.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&vmx, "bios.bootOrder"),
        Some("hdd,cdrom,ethernet0"),
        "{vmx}"
    );
    assert_eq!(
        vmx_key(&vmx, "bios.hddOrder"),
        Some("scsi0:1,scsi0:0"),
        "{vmx}"
    );
    let cfg = std::fs::read_to_string(out.join("tie.xen.cfg")).unwrap();
    assert!(cfg.contains("boot = \"cdn\""), "{cfg}");

    // CD-ROM, disk, CD-ROM, disk: VMware boots every CD-ROM first; said.
    let mixed = dir.join("mixed.xml");
    std::fs::write(
        &mixed,
        domain(
            disk("sda", "x.iso", Some(2), "cdrom")
                + &disk("vda", "a.qcow2", Some(3), "disk")
                + &disk("sdb", "y.iso", Some(4), "cdrom")
                + &disk("vdb", "b.qcow2", Some(5), "disk"),
        ),
    )
    .unwrap();
    let out = dir.join("mixed-out");
    let (code, err) = transform_into(&mixed, "vmware,xen", &out, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("boot order: VMware boots by kind, each kind once and every CD-ROM or floppy drive where its kind is listed, so the hub's order is not kept exactly: bios.bootOrder ethernet0,cdrom,hdd, bios.hddOrder scsi0:0,scsi0:1"),
        "{err}"
    );
    let cfg = std::fs::read_to_string(out.join("mixed.xen.cfg")).unwrap();
    assert!(cfg.contains("boot = \"ndc\""), "{cfg}");
    // Exactly by kind (the CD-ROM, both disks, then the NIC): no warning.
    let exact = dir.join("exact.xml");
    std::fs::write(
        &exact,
        domain(
            disk("sda", "x.iso", Some(1), "cdrom")
                + &disk("vda", "a.qcow2", Some(3), "disk")
                + &disk("vdb", "b.qcow2", Some(2), "disk"),
        )
        .replace(
            "<boot order='1'/></interface>",
            "<boot order='4'/></interface>",
        ),
    )
    .unwrap();
    let out = dir.join("exact-out");
    let (code, err) = transform_into(&exact, "vmware", &out, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("boot order: VMware boots by kind"), "{err}");
    let vmx = std::fs::read_to_string(out.join("exact.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&vmx, "bios.bootOrder"),
        Some("cdrom,hdd,ethernet0"),
        "{vmx}"
    );
    assert_eq!(
        vmx_key(&vmx, "bios.hddOrder"),
        Some("scsi0:1,scsi0:0"),
        "{vmx}"
    );
}

/// A libvirt domain in the form virt-install writes, with the BIOS boot list
/// `<os><boot dev='cdrom'/><boot dev='hd'/><boot dev='network'/></os>`
/// instead of devices' own orders: the first device of each kind boots in
/// the list's place. The list was kept in the domain's carried `<os>` only,
/// so on every other platform the VM booted from its first disk.
fn os_list_domain(dir: &std::path::Path) -> std::path::PathBuf {
    let input = dir.join("oslist.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>oslist</name><uuid>0b7e4c1a-1111-4222-8333-944455556671</uuid>\
         <memory unit='MiB'>1024</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type>\
         <boot dev='cdrom'/><boot dev='hd'/><boot dev='network'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/data.qcow2'/><target dev='vdb' bus='virtio'/></disk>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/iso/inst.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>\
         <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/></interface>\
         <interface type='network'><mac address='52:54:00:00:00:02'/><source network='default'/><model type='virtio'/></interface>\
         </devices></domain>",
    )
    .unwrap();
    input
}

#[test]
fn a_libvirt_boot_list_gives_the_hub_its_orders() {
    let dir = temp_dir("boot-oslist");
    let input = os_list_domain(&dir);
    let hub = dir.join("hub");
    let (code, err) = transform_into(&input, "hvx", &hub, &[]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(hub.join("oslist.hvx.xml")).unwrap();
    let d = roxmltree::Document::parse(&text).unwrap();
    let orders: Vec<(&str, Option<&str>)> = d
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("disk") || n.has_tag_name("nic"))
        .map(|n| {
            let what = n
                .children()
                .find(|c| c.has_tag_name("source"))
                .and_then(|s| s.attribute("path"))
                .or(n.attribute("mac"))
                .unwrap();
            (what, n.attribute("boot"))
        })
        .collect();
    assert_eq!(
        orders,
        vec![
            ("/images/os.qcow2", Some("2")),
            ("/images/data.qcow2", None),
            ("/iso/inst.iso", Some("1")),
            ("52:54:00:00:00:01", Some("3")),
            ("52:54:00:00:00:02", None),
        ],
        "{text}"
    );

    // To a .vmx: VMware's boot list says the same.
    let out = dir.join("vmware");
    let (code, err) = transform_into(&input, "vmware", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(out.join("oslist.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&vmx, "bios.bootOrder"),
        Some("cdrom,hdd,ethernet0"),
        "{vmx}"
    );

    // Back to libvirt through the hub: the list as it was, and no device
    // order beside it (libvirt refuses the two together).
    let back = dir.join("back");
    let (code, err) = transform_into(&hub.join("oslist.hvx.xml"), "kvm", &back, &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(back.join("oslist.kvm.xml")).unwrap();
    assert_eq!(kvm_boot_orders(&kvm), vec![], "{kvm}");
    assert_eq!(kvm.matches("<boot dev=").count(), 3, "{kvm}");
}

/// Through a `.vmx` whose boot order was changed there (the disk first):
/// libvirt gets the new order on the devices, and the carried list, which no
/// longer says it, goes with a warning; `virsh define` accepts the domain.
/// Only the order changed, so each device keeps its libvirt element (its
/// virtio bus and qcow2 image, not the `.vmx`'s SCSI disk), and what the
/// `.vmx` made for itself (its PVSCSI adapter, its SVGA) does not come along.
#[test]
fn a_libvirt_boot_list_changed_elsewhere_gives_way_to_device_orders() {
    let dir = temp_dir("boot-oslist-changed");
    let input = os_list_domain(&dir);
    let out = dir.join("vmware");
    let (code, err) = transform_into(&input, "vmware", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let vmx = std::fs::read_to_string(out.join("oslist.vmware.vmx")).unwrap();
    let changed = vmx.replace(
        "bios.bootOrder = \"cdrom,hdd,ethernet0\"",
        "bios.bootOrder = \"hdd,cdrom\"",
    );
    assert_ne!(changed, vmx);
    let edited = dir.join("edited.vmx");
    std::fs::write(&edited, changed).unwrap();
    let back = dir.join("back");
    let (code, err) = transform_into(&edited, "kvm", &back, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("boot list no longer gives"), "{err}");
    let kvm = std::fs::read_to_string(back.join("edited.kvm.xml")).unwrap();
    assert!(!kvm.contains("<boot dev="), "{kvm}");
    assert_eq!(
        kvm_boot_orders(&kvm),
        vec![
            ("1".to_string(), "os.qcow2".to_string()),
            ("2".to_string(), "inst.iso".to_string()),
        ],
        "{kvm}"
    );
    assert!(!err.contains("not restored"), "{err}");
    assert!(
        kvm.contains("<target dev=\"vda\" bus=\"virtio\"/>"),
        "{kvm}"
    );
    assert!(
        !kvm.contains("vmpvscsi") && !kvm.contains("<video>"),
        "{kvm}"
    );
    // Everything else is the original's: without the new orders, and with
    // the original's list, it is the domain that left (in KiB).
    let original = std::fs::read_to_string(&input).unwrap();
    let flat = |t: &str| t.split_whitespace().collect::<String>().replace('\'', "\"");
    let body = kvm.split_once("?>").unwrap().1;
    assert_eq!(
        flat(body)
            .replace("<bootorder=\"1\"/>", "")
            .replace("<bootorder=\"2\"/>", ""),
        flat(&original)
            .replace(
                "<bootdev=\"cdrom\"/><bootdev=\"hd\"/><bootdev=\"network\"/>",
                ""
            )
            .replace(
                "<memoryunit=\"MiB\">1024</memory>",
                "<memoryunit=\"KiB\">1048576</memory>"
            ),
    );
    if tool("virsh").is_some() {
        let dumped = virsh_dump(&back.join("edited.kvm.xml"), "oslist");
        assert_eq!(kvm_boot_orders(&dumped), kvm_boot_orders(&kvm), "{dumped}");
    }
}

/// The hub's boot orders of a document, by target name.
fn hub_orders(hub: &str) -> Vec<(String, String)> {
    let d = roxmltree::Document::parse(hub).unwrap();
    let mut v: Vec<(String, String)> = d
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("disk"))
        .filter_map(|n| {
            Some((
                n.attribute("target")?.to_string(),
                n.attribute("boot")?.to_string(),
            ))
        })
        .collect();
    v.sort();
    v
}

fn to_hub(dir: &std::path::Path, name: &str, text: &str) -> String {
    let input = dir.join(name);
    std::fs::write(&input, text).unwrap();
    let out = dir.join("hub");
    let (code, err) = transform_into(&input, "hvx", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let stem = name.split('.').next().unwrap();
    std::fs::read_to_string(out.join(format!("{stem}.hvx.xml"))).unwrap()
}

fn disk(dev: &str, bus: &str, device: &str, file: &str) -> String {
    format!(
        "<disk type='file' device='{device}'><driver name='qemu' type='raw'/>\
         <source file='/images/{file}'/><target dev='{dev}' bus='{bus}'/></disk>"
    )
}

fn domain(boots: &[&str], disks: &[String]) -> String {
    format!(
        "<domain type='kvm'><name>order</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type>{}</os><devices>{}</devices></domain>",
        boots
            .iter()
            .map(|b| format!("<boot dev='{b}'/>"))
            .collect::<String>(),
        disks.concat()
    )
}

/// libvirt's own example (formatdomain, "BIOS bootloader"): `hd` with disks
/// vdb, hda, vda, hdc boots vda, since libvirt keeps disks by bus, in the
/// order the buses first appear, and by target within a bus; of the list it
/// keeps four entries, and a kind listed twice takes its last place (its
/// QEMU driver's reading, checked with `virsh domxml-to-native`).
#[test]
fn a_libvirt_boot_list_takes_disks_in_libvirts_order() {
    let dir = temp_dir("boot-oslist-order");
    let disks = [
        disk("vdb", "virtio", "disk", "b.img"),
        disk("hda", "ide", "disk", "a.img"),
        disk("vda", "virtio", "disk", "root.img"),
        disk("hdc", "ide", "cdrom", "inst.iso"),
    ];
    let hub = to_hub(&dir, "example.xml", &domain(&["hd"], &disks));
    assert_eq!(hub_orders(&hub), vec![("vda".into(), "1".into())], "{hub}");

    let hub = to_hub(&dir, "twice.xml", &domain(&["hd", "cdrom", "hd"], &disks));
    assert_eq!(
        hub_orders(&hub),
        vec![("hdc".into(), "2".into()), ("vda".into(), "3".into())],
        "{hub}"
    );

    // The fifth entry is not read: the CD-ROM does not boot.
    let hub = to_hub(
        &dir,
        "five.xml",
        &domain(&["hd", "fd", "network", "hd", "cdrom"], &disks),
    );
    assert_eq!(hub_orders(&hub), vec![("vda".into(), "4".into())], "{hub}");

    // Back to libvirt through the hub, the domain keeps its own list.
    let back = dir.join("back");
    let (code, err) = transform_into(&dir.join("hub/example.hvx.xml"), "kvm", &back, &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(back.join("example.kvm.xml")).unwrap();
    assert_eq!(kvm_boot_orders(&kvm), vec![], "{kvm}");
    assert_eq!(kvm.matches("<boot dev=").count(), 1, "{kvm}");
}

/// xl's `boot = "c"` boots disk 0 (hda, xvda or sda), not the first disk
/// the `disk` list names; and a hub whose boot disk is not xl's first is
/// written with a warning, since xl.cfg cannot say which disk boots.
#[test]
fn xl_boots_its_first_disk_by_vdev() {
    let dir = temp_dir("boot-xl");
    let cfg = dir.join("x1.cfg");
    std::fs::write(
        &cfg,
        "name = \"x1\"\ntype = \"hvm\"\nmemory = 1024\nvcpus = 1\nboot = \"cd\"\n\
         disk = [ \"format=raw,vdev=hdb,access=rw,target=/images/data.img\", \
         \"format=raw,vdev=hda,access=rw,target=/images/root.img\", \
         \"format=raw,vdev=hdc,access=ro,devtype=cdrom,target=/iso/inst.iso\" ]\n",
    )
    .unwrap();
    let out = dir.join("hub");
    let (code, err) = transform_into(&cfg, "hvx", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let hub = std::fs::read_to_string(out.join("x1.hvx.xml")).unwrap();
    assert_eq!(
        hub_orders(&hub),
        vec![("hda".into(), "1".into()), ("hdc".into(), "2".into())],
        "{hub}"
    );

    // A libvirt domain booting its second disk: xl.cfg is written with a warning.
    let input = dir.join("second.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>second</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/data.img'/><target dev='vda' bus='virtio'/><boot order='2'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/root.img'/><target dev='vdb' bus='virtio'/><boot order='1'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let xen = dir.join("xen");
    let (code, err) = transform_into(&input, "xen", &xen, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("boot disk /images/root.img is xvdb, but xl boots its first disk, xvda (/images/data.img)"),
        "{err}"
    );
}

/// EC2's root volume is the disk that boots first, not the disk with boot
/// order 1 (here the CD-ROM's) or else the first one.
#[test]
fn the_ec2_root_volume_is_the_disk_that_boots_first() {
    let dir = temp_dir("boot-ec2");
    let input = dir.join("pd1.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>pd1</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/data.img'/><target dev='vda' bus='virtio'/><boot order='3'/></disk>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/root.img'/><target dev='vdb' bus='virtio'/><boot order='2'/></disk>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/iso/inst.iso'/><target dev='hdc' bus='ide'/><readonly/><boot order='1'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let out = dir.join("ec2");
    let (code, err) = transform_into(&input, "ec2", &out, &[]);
    assert_eq!(code, Some(0), "{err}");
    // One import of both disks, the root volume first (ImportImage makes
    // the AMI's block device mappings in the containers' order).
    let import: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("pd1.ec2.import-image.json")).unwrap(),
    )
    .unwrap();
    let disks: Vec<&str> = import["DiskContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Description"].as_str().unwrap())
        .collect();
    assert_eq!(
        disks,
        [
            "/dev/sda1 (/images/root.img)",
            "/dev/sdb (/images/data.img)"
        ],
        "{import}"
    );
}

/// A Gen 1 VM of Hyper-V's own boots device kinds in its `BootOrder` (0
/// floppy, 1 DVD, 2 IDE disk, 3 legacy adapter): here the legacy adapter,
/// then the DVD drive, then the IDE disk. It was not read, so the VM booted
/// from its disk everywhere else.
#[test]
fn a_hyperv_gen1_boot_order_is_read() {
    let dir = temp_dir("boot-hyperv");
    let sample = std::fs::read_to_string(root().join("samples/hyperv/db-gen1.xml")).unwrap();
    let old = "<VALUE>2</VALUE><VALUE>1</VALUE><VALUE>3</VALUE><VALUE>0</VALUE>";
    assert!(sample.contains(old));
    let input = dir.join("netfirst.xml");
    std::fs::write(
        &input,
        sample.replace(
            old,
            "<VALUE>3</VALUE><VALUE>1</VALUE><VALUE>2</VALUE><VALUE>0</VALUE>",
        ),
    )
    .unwrap();
    let out = dir.join("kvm");
    let (code, err) = transform_into(&input, "kvm", &out, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(out.join("netfirst.kvm.xml")).unwrap();
    assert_eq!(
        kvm_boot_orders(&kvm),
        vec![
            ("1".to_string(), "00:15:5d:01:07:0a".to_string()),
            ("2".to_string(), "cdrom".to_string()),
            ("3".to_string(), "db01-os.qcow2".to_string()),
        ],
        "{kvm}"
    );
    let vmx = dir.join("vmware");
    let (code, err) = transform_into(&input, "vmware", &vmx, &["--no-carry"]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(vmx.join("netfirst.vmware.vmx")).unwrap();
    assert_eq!(
        vmx_key(&text, "bios.bootOrder"),
        Some("ethernet0,cdrom,hdd"),
        "{text}"
    );
}

/// Gen 1's BIOS boots from the network only through a legacy adapter: a
/// hub that boots from a virtio NIC (which becomes synthetic) says so.
#[test]
fn a_gen1_network_boot_from_a_synthetic_adapter_is_a_warning() {
    let dir = temp_dir("boot-gen1-pxe");
    let input = dir.join("pxe.xml");
    std::fs::write(
        &input,
        "<domain type='kvm'><name>pxe</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/os.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <interface type='network'><mac address='52:54:00:00:00:0b'/><source network='default'/><model type='virtio'/></interface>\
         </devices></domain>",
    )
    .unwrap();
    let out = dir.join("hyperv");
    let (code, err) = transform_into(&input, "hyperv", &out, &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("nic 52:54:00:00:00:0b: a Gen 1 VM boots from the network only through a legacy (emulated) network adapter"),
        "{err}"
    );
    // An e1000 becomes a legacy adapter, which boots: no warning.
    std::fs::write(
        &input,
        std::fs::read_to_string(&input)
            .unwrap()
            .replace("<model type='virtio'/>", "<model type='e1000'/>"),
    )
    .unwrap();
    let (code, err) = transform_into(&input, "hyperv", &dir.join("legacy"), &["-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("boots from the network only"), "{err}");
}

/// With `--no-carry`, hvxform's own channel in an OVF it wrote is not the
/// VM's: it is dropped with a reason, not left unmapped, so `--deny-loss`
/// holds where the rest of the VM converts.
#[test]
fn an_ovf_carry_section_is_not_a_loss_without_carry() {
    let dir = temp_dir("ovf-no-carry");
    let (code, err) = transform_into(&root().join("samples/kvm/web.xml"), "ovf", &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    let ovf = dir.join("web.ovf");
    assert!(std::fs::read_to_string(&ovf)
        .unwrap()
        .contains("CarrySection"));
    let back = dir.join("back");
    let (code, err) = transform_into(&ovf, "kvm", &back, &["--no-carry", "--deny-loss"]);
    assert_eq!(code, Some(0), "{err}");
}

/// The boot-order action of a vSphere conversion, if any (both routes).
fn vsphere_boot_action(dir: &std::path::Path, name: &str, text: &str) -> Option<String> {
    let input = dir.join(name);
    std::fs::write(&input, text).unwrap();
    let mut actions = Vec::new();
    for via in [&[][..], &["--via-hub"][..]] {
        let (code, err) = transform_into(&input, "vsphere", &dir.join("vs"), via);
        assert_eq!(code, Some(0), "{err}");
        actions.push(
            err.lines()
                .find(|l| l.contains("boot order:"))
                .map(|l| l.split_once("boot order: ").unwrap().1.to_string()),
        );
    }
    assert_eq!(actions[0], actions[1], "the direct and hub routes differ");
    actions.swap_remove(0)
}

/// vSphere's bootOptions.bootOrder names disks and NICs by device keys,
/// which vCenter gives a new VM's devices itself, so a ConfigSpec cannot set
/// it: a boot order that vSphere's default (floppy, first hard disk,
/// CD-ROMs, NICs) would not follow is an action naming the devices in order,
/// and one it follows is no noise.
#[test]
fn a_vsphere_boot_order_the_default_misses_is_an_action() {
    let dir = temp_dir("boot-vsphere");
    let disks = [
        disk("vda", "virtio", "disk", "root.img"),
        disk("vdb", "virtio", "disk", "data.img"),
        disk("hdc", "ide", "cdrom", "inst.iso"),
    ];
    // The first disk, then the CD-ROM: vSphere's own order.
    assert_eq!(
        vsphere_boot_action(&dir, "plain.xml", &domain(&["hd", "cdrom"], &disks)),
        None
    );
    // The installer first.
    let action = vsphere_boot_action(&dir, "cd.xml", &domain(&["cdrom", "hd"], &disks)).unwrap();
    assert!(
        action.starts_with("CD-ROM [datastore1] inst.iso, disk [datastore1] root/root.vmdk;"),
        "{action}"
    );
    // The second disk boots: vSphere would boot the first.
    let second = format!(
        "<domain type='kvm'><name>second</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>{}{}\
         <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/>\
         <boot order='1'/></interface></devices></domain>",
        disk("vda", "virtio", "disk", "root.img"),
        disk("vdb", "virtio", "disk", "data.img").replace("</disk>", "<boot order='2'/></disk>"),
    );
    let action = vsphere_boot_action(&dir, "second.xml", &second).unwrap();
    assert!(
        action.starts_with("NIC 52:54:00:00:00:01, disk [datastore1] data/data.vmdk;"),
        "{action}"
    );
}

/// A Gen 1 VM hvxform defined, whose BootOrder was then changed on Hyper-V
/// (`Set-VMBios -StartupOrder`): the change wins on the way back, as every
/// change made on the platform does, and the devices keep their native
/// detail. Unchanged, the VM comes back with its own boot orders.
#[test]
fn a_gen1_boot_order_changed_on_hyperv_wins() {
    let dir = temp_dir("boot-hyperv-changed");
    let (code, err) = transform_into(&root().join("samples/kvm/db.xml"), "hyperv", &dir, &[]);
    assert_eq!(code, Some(0), "{err}");
    let written = std::fs::read_to_string(dir.join("db.hyperv.xml")).unwrap();
    let v = |n: &str| format!("&lt;VALUE&gt;{n}&lt;/VALUE&gt;");
    let disk_first = ["2", "1", "3", "0"].map(v).concat();
    assert!(written.contains(&disk_first), "{written}");
    let changed = dir.join("cdfirst.xml");
    std::fs::write(
        &changed,
        written.replace(&disk_first, &["1", "2", "3", "0"].map(v).concat()),
    )
    .unwrap();
    let (code, err) = transform_into(&changed, "kvm", &dir.join("back"), &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(dir.join("back/cdfirst.kvm.xml")).unwrap();
    assert_eq!(
        kvm_boot_orders(&kvm),
        vec![
            ("1".to_string(), "cdrom".to_string()),
            ("2".to_string(), "db-os.qcow2".to_string()),
            ("3".to_string(), "52:54:00:5d:e0:02".to_string()),
        ],
        "{kvm}"
    );
    // The boot disk keeps its libvirt detail (a qcow2 on virtio-scsi).
    assert!(
        kvm.contains(
            "<driver name=\"qemu\" type=\"qcow2\" cache=\"none\" io=\"native\" discard=\"unmap\"/>"
        ),
        "{kvm}"
    );
    let (code, err) = transform_into(&dir.join("db.hyperv.xml"), "kvm", &dir.join("same"), &[]);
    assert_eq!(code, Some(0), "{err}");
    let kvm = std::fs::read_to_string(dir.join("same/db.hyperv.kvm.xml")).unwrap();
    assert_eq!(
        kvm_boot_orders(&kvm),
        vec![("1".to_string(), "db-os.qcow2".to_string())],
        "{kvm}"
    );
}
