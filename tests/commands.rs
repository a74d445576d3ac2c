//! `hvxform command`: vSphere commands (as pyVmomi serialized them) to virsh
//! operations, direct and through the VM's configuration (a
//! VirtualMachineConfigInfo as govmomi's vcsim reported it), bad input, and
//! the proof on real endpoints (vcsim and libvirtd) when they are available.

mod common;

use common::{run, stderr, stdout, temp_dir};

const CTX: &str = "samples/commands/proof.context.xml";

fn command(args: &[&str]) -> std::process::Output {
    let mut a = vec!["command"];
    a.extend_from_slice(args);
    run(&a)
}

/// Runs `hvxform command ARGS`, which must fail (exit 1) saying `reason`.
fn refused(args: &[&str], reason: &str) {
    let o = command(args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(reason), "{}", stderr(&o));
}

/// The proof VM converted to Hyper-V (a DefineSystem request) in `dir`;
/// its path.
fn proof_on_hyperv(dir: &std::path::Path) -> String {
    let o = run(&[
        "transform",
        "tests/commands/proof.xml",
        "--to",
        "hyperv",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    dir.join("proof.hyperv.xml").to_str().unwrap().to_string()
}

/// The operations of the `<virsh>` document `hvxform command ARGS` writes;
/// the command must succeed.
fn translated(args: &[&str]) -> Vec<String> {
    let o = command(args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    ops(&stdout(&o))
}

/// The operations of a `<virsh>` document: (name, attributes, device XML
/// element names with their attributes).
fn ops(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some("urn:hvxform:virsh:1"));
    root.children()
        .filter(|c| c.is_element())
        .map(|op| {
            let mut s = op.tag_name().name().to_string();
            for a in op.attributes() {
                s.push_str(&format!(" {}={}", a.name(), a.value()));
            }
            for d in op.descendants().skip(1).filter(|d| d.is_element()) {
                s.push_str(&format!(" <{}", d.tag_name().name()));
                for a in d.attributes() {
                    s.push_str(&format!(" {}={}", a.name(), a.value()));
                }
                s.push('>');
            }
            s
        })
        .collect()
}

#[test]
fn direct_commands_need_no_context() {
    let o = command(&[
        "samples/commands/power-on.xml",
        "--to",
        "kvm",
        "--param",
        "domain=web",
        "--explain",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ops(&stdout(&o)), ["start"]);
    assert!(
        stderr(&o)
            .contains("/PowerOnVM_Task → direct (rule <builtin>/commands/vsphere-to-hvx.hvx:"),
        "{}",
        stderr(&o)
    );

    assert_eq!(
        translated(&[
            "samples/commands/cpu-memory.xml",
            "--to",
            "kvm",
            "--param",
            "domain=web",
        ]),
        [
            "setvcpus count=4 config=yes maximum=yes",
            "setvcpus count=4 config=yes",
            "setmaxmem kib=2097152 config=yes",
            "setmem kib=2097152 config=yes"
        ]
    );
}

#[test]
fn a_direct_command_without_a_domain_name_says_how_to_give_one() {
    let o = command(&["samples/commands/power-on.xml", "--to", "kvm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("which libvirt domain?") && stderr(&o).contains("--param domain=NAME"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn device_commands_use_the_vms_configuration() {
    // Key 207 is the second NIC in the configuration vcsim reported.
    let o = command(&[
        "samples/commands/remove-nic.xml",
        "--to",
        "kvm",
        "--context",
        CTX,
        "--explain",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        ops(&stdout(&o)),
        ["detach-device config=yes <interface type=user> <mac address=52:54:00:c0:00:02>"]
    );
    assert!(
        stdout(&o).contains("domain=\"proof\""),
        "the VM's name comes from the context"
    );
    assert!(
        stderr(&o).contains(
            "/ReconfigVM_Task/spec/deviceChange → uses the VM's configuration: the VM's devices"
        ),
        "{}",
        stderr(&o)
    );
    // The CD-ROM (key 205) gets the new ISO, its datastore path mapped back
    // to a host path through the session table `datastores`.
    let dir = temp_dir("command-iso");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = run(&[
        "session",
        "set",
        s,
        "datastores",
        "/srv/iso",
        "LocalDS_0",
        "--types",
        "string:string",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        translated(&[
        "samples/commands/change-iso.xml",
        "--to",
        "kvm",
        "--context",
        CTX,
        "--session",
        s,
    ]),
        ["update-device config=yes <disk type=file device=cdrom> <source file=/srv/iso/other.iso> <target dev=hdc bus=ide> <readonly>"]
    );
}

#[test]
fn an_added_disk_gets_the_next_free_target_and_unit() {
    let dir = temp_dir("command-add-disk");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = run(&[
        "session",
        "set",
        s,
        "datastores",
        "/var/lib/libvirt/images",
        "LocalDS_0",
        "--types",
        "string:string",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // vSphere creates a 10 GiB disk on the SCSI controller (key 202), where
    // the VM (converted from KVM) has sda and sdb: libvirt's next is sdc.
    let o = command(&[
        "samples/commands/add-disk.xml",
        "--to",
        "kvm",
        "--context",
        CTX,
        "--session",
        s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        ops(&stdout(&o)),
        ["attach-device config=yes <disk type=file device=disk> <driver name=qemu type=qcow2> <source file=/var/lib/libvirt/images/proof-add/proof-add.qcow2> <target dev=sdc bus=scsi>"]
    );
    assert!(
        stderr(&o).contains("action: create the disk image: qemu-img create -f qcow2 /var/lib/libvirt/images/proof-add/proof-add.qcow2 10737418240"),
        "{}",
        stderr(&o)
    );
    // libvirt attaches an image; vSphere places it on the next free unit of
    // the SCSI controller (0 and 1 are taken).
    let doc = dir.join("attach.xml");
    std::fs::write(&doc, r#"<virsh xmlns="urn:hvxform:virsh:1" domain="proof"><attach-device config="yes"><disk xmlns="" type="file" device="disk"><source file="/var/lib/libvirt/images/proof-add.qcow2"/><target dev="sdc" bus="scsi"/></disk></attach-device></virsh>"#).unwrap();
    let o = command(&[
        doc.to_str().unwrap(),
        "--to",
        "vsphere",
        "--context",
        CTX,
        "--param",
        "vm=vm-42",
        "--session",
        s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        vsphere_calls(&stdout(&o)),
        ["ReconfigVM_Task vm-42 operation=add key=-1 fileName=[LocalDS_0] proof-add/proof-add.vmdk diskMode=persistent controllerKey=202 unitNumber=2"]
    );
    assert!(stderr(&o).contains("action: convert the disk image for vSphere: qemu-img convert -O vmdk /var/lib/libvirt/images/proof-add.qcow2"), "{}", stderr(&o));
}

#[test]
fn a_device_command_without_context_names_what_it_needs() {
    let dir = temp_dir("command-noctx");
    let out = dir.join("out.xml");
    let o = command(&[
        "samples/commands/remove-nic.xml",
        "--to",
        "kvm",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("<deviceChange> needs the VM's current configuration (the VM's devices, to know which device each key names); give it with --context VM-FILE"), "{e}");
    assert!(
        e.contains("at input 3:"),
        "located in the command file: {e}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn commands_the_target_cannot_express_are_refused_with_a_reason() {
    refused(&[
        "samples/commands/grow-disk.xml",
        "--to",
        "kvm",
        "--context",
        CTX,
    ], "growing disk sda (/var/lib/libvirt/images/proof-os.img) to 42949672960 bytes: libvirt keeps no disk size");
}

#[test]
fn script_is_virsh_calls_that_a_shell_parses() {
    let o = command(&[
        "samples/commands/remove-nic.xml",
        "--to",
        "kvm",
        "--context",
        CTX,
        "--script",
        "--connect",
        "qemu:///system",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(
        s.contains("virsh -c qemu:///system detach-device proof \"$tmp/device-1.xml\" --config\n"),
        "{s}"
    );
    let dir = temp_dir("command-script");
    let f = dir.join("s.sh");
    std::fs::write(&f, &s).unwrap();
    let n = std::process::Command::new("sh")
        .arg("-n")
        .arg(&f)
        .status()
        .unwrap();
    assert!(n.success(), "sh -n refuses the script:\n{s}");
}

#[test]
fn bad_commands_and_contexts_are_located_errors() {
    let dir = temp_dir("command-bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            write("unknown.xml", "<PowerOnVM xmlns=\"urn:vim25\"><_this>vm-1</_this></PowerOnVM>"),
            vec![],
            "unknown.xml:1:1: vSphere method `PowerOnVM` is not a command hvxform translates",
        ),
        (write("malformed.xml", "<PowerOnVM_Task xmlns=\"urn:vim25\">\n  <_this>vm-1</_this>\n"), vec![], "malformed.xml:3:1"),
        (
            write("bare.xml", "<ReconfigVM_Task xmlns=\"urn:vim25\"><spec><deviceChange><device xsi:type=\"VirtualDisk\"/></deviceChange></spec></ReconfigVM_Task>"),
            vec![],
            "hint: this body uses the xsi prefix its SOAP envelope declared",
        ),
        (
            write("nokey.xml", &std::fs::read_to_string(common::root().join("samples/commands/remove-nic.xml")).unwrap().replace("<key>207</key>", "<key>4000</key>")),
            vec!["--context", CTX],
            "device key 4000 is not in the VM's configuration (its keys: 200, 201, 300, 100, 400, 600, 700, 500, 12000, 202, 203, 204, 205, 206, 207)",
        ),
        (
            write("notnic.xml", &std::fs::read_to_string(common::root().join("samples/commands/remove-nic.xml")).unwrap().replace("<key>207</key>", "<key>203</key>")),
            vec!["--context", CTX],
            "device key 203 is a VirtualDisk in the VM's configuration, not a VirtualE1000",
        ),
        (
            write("attach.xml", "<virsh xmlns=\"urn:hvxform:virsh:1\" domain=\"web\"><attach-device config=\"yes\"><disk/></attach-device></virsh>"),
            vec![],
            "attach-device of a <disk> is not a command hvxform translates yet",
        ),
        (
            common::root().join("samples/commands/remove-nic.xml").to_str().unwrap().to_string(),
            vec!["--context", "samples/ovf/web.ovf"],
            "samples/ovf/web.ovf: the context is a ovf document; a vsphere command translated to kvm needs the VM's configuration as vsphere or kvm reports it",
        ),
        (
            // vSphere device keys are resolved in vSphere's configuration.
            common::root().join("samples/commands/remove-nic.xml").to_str().unwrap().to_string(),
            vec!["--context", "samples/kvm/web.xml"],
            "the context holds no VM configuration with devices (a VirtualMachineConfigInfo",
        ),
        (
            write("nobody.xml", "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Header/></e:Envelope>"),
            vec![],
            "nobody.xml:1:1: a SOAP envelope without a <Body>",
        ),
    ];
    for (file, extra, want) in cases {
        let out = dir.join("out.xml");
        let mut a = vec![file.as_str(), "--to", "kvm", "-o", out.to_str().unwrap()];
        a.extend(extra);
        let o = command(&a);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{file}: want `{want}` in:\n{}",
            stderr(&o)
        );
        assert!(!out.exists(), "{file}: nothing written");
    }
    // An unknown target is a usage error.
    let o = command(&["samples/commands/power-on.xml", "--to", "vmwre"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_hub_command_vocabulary_is_the_middle_of_every_route() {
    let o = command(&[
        "samples/commands/remove-nic.xml",
        "--to",
        "hvx",
        "--context",
        CTX,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name(("urn:hvxform:hvx:1", "commands")));
    assert_eq!(root.attribute("vm"), Some("vm-42"));
    assert_eq!(root.attribute("name"), Some("proof"));
    let nic = root.children().find(|c| c.is_element()).unwrap();
    assert_eq!(nic.tag_name().name(), "remove-nic");
    assert_eq!(nic.attribute("mac"), Some("52:54:00:c0:00:02"));
}

/// The `<calls>` of a vSphere translation: each call's method and what its
/// spec sets.
fn vsphere_calls(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let root = doc.root_element();
    assert!(
        root.has_tag_name(("urn:hvxform:vsphere-calls:1", "calls")),
        "{xml}"
    );
    root.children()
        .filter(|c| c.is_element())
        .map(|c| {
            assert_eq!(c.tag_name().namespace(), Some("urn:vim25"));
            let this = c
                .children()
                .find(|x| x.has_tag_name(("urn:vim25", "_this")))
                .unwrap();
            assert_eq!(this.attribute("type"), Some("VirtualMachine"));
            let mut s = format!("{} {}", c.tag_name().name(), this.text().unwrap());
            for d in c.descendants().filter(|d| {
                d.is_element() && !d.has_children()
                    || d.children().all(|x| x.is_text()) && d.is_element()
            }) {
                if d.tag_name().name() != "_this" {
                    s.push_str(&format!(
                        " {}={}",
                        d.tag_name().name(),
                        d.text().unwrap_or("")
                    ));
                }
            }
            s
        })
        .collect()
}

#[test]
fn virsh_operations_become_vsphere_calls_with_keys_from_the_vsphere_vm() {
    let dir = temp_dir("command-back");
    let store = dir.join("s.yaml");
    let s = store.to_str().unwrap();
    let o = run(&[
        "session",
        "set",
        s,
        "datastores",
        "/var/lib/libvirt/images",
        "LocalDS_0",
        "--types",
        "string:string",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = command(&[
        "samples/commands/virsh-reconfigure.xml",
        "--to",
        "vsphere",
        "--context",
        CTX,
        "--param",
        "vm=vm-42",
        "--session",
        s,
        "--explain",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        vsphere_calls(&stdout(&o)),
        [
            "ReconfigVM_Task vm-42 numCPUs=4",
            "ReconfigVM_Task vm-42 memoryMB=2048",
            "ReconfigVM_Task vm-42 operation=remove key=207",
            "ReconfigVM_Task vm-42 operation=edit key=205 label=cdrom hdc summary= fileName=[LocalDS_0] other.iso controllerKey=201 unitNumber=0",
        ]
    );
    let e = stderr(&o);
    assert!(e.contains("/virsh/detach-device → direct"), "{e}");
    assert!(
        e.contains("/commands/remove-nic → uses the VM's configuration: the vSphere VM's devices"),
        "{e}"
    );
    // Without the vSphere VM's configuration, the NIC has no key.
    refused(&[
        "samples/commands/virsh-reconfigure.xml",
        "--to",
        "vsphere",
        "--param",
        "vm=vm-42",
    ], "<remove-nic> needs the VM's current configuration (the vSphere VM's devices, to find the key of the NIC with this MAC)");
    // Which VM: vSphere's managed object id.
    refused(
        &[
            "samples/commands/virsh-reconfigure.xml",
            "--to",
            "vsphere",
            "--context",
            CTX,
        ],
        "give its managed object id with --param vm=MOREF",
    );
    // A MAC the vSphere VM does not have.
    let doc = dir.join("other-mac.xml");
    std::fs::write(
        &doc,
        std::fs::read_to_string(common::root().join("samples/commands/virsh-reconfigure.xml"))
            .unwrap()
            .replace("52:54:00:c0:00:02", "52:54:00:c0:00:99"),
    )
    .unwrap();
    refused(
        &[
            doc.to_str().unwrap(),
            "--to",
            "vsphere",
            "--context",
            CTX,
            "--param",
            "vm=vm-42",
            "--session",
            s,
        ],
        "the vSphere VM has no NIC with MAC 52:54:00:c0:00:99",
    );
}

#[test]
fn a_sequence_of_commands_is_translated_against_the_changing_vm() {
    let dir = temp_dir("command-sequence");
    let ctx = dir.join("vm.xml");
    std::fs::copy(common::root().join(CTX), &ctx).unwrap();
    let c = ctx.to_str().unwrap();
    let step = |cmd: &str| command(&[cmd, "--to", "kvm", "--context", c, "--update-context"]);
    let o = step("samples/commands/remove-nic.xml");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The NIC is gone from the VM: removing it again is an error, and the
    // context is left as it was.
    let before = std::fs::read(&ctx).unwrap();
    let o = step("samples/commands/remove-nic.xml");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("device key 207 is not in the VM's configuration"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(&ctx).unwrap(),
        before,
        "a failed translation leaves the context"
    );
    for cmd in [
        "samples/commands/cpu-memory.xml",
        "samples/commands/change-iso.xml",
    ] {
        let o = step(cmd);
        assert_eq!(o.status.code(), Some(0), "{cmd}: {}", stderr(&o));
    }
    let text = std::fs::read_to_string(&ctx).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let leaf = |name: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.tag_name().name() == name)
            .map(|n| n.text().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(leaf("numCPU"), ["4"]);
    assert_eq!(leaf("memoryMB"), ["2048"]);
    assert_eq!(leaf("macAddress"), ["52:54:00:c0:00:01"]);
    assert!(
        leaf("fileName").contains(&"[LocalDS_0] other.iso".to_string()),
        "{text}"
    );
    // The updated context is still a VM hvxform reads.
    let o = run(&[
        "transform",
        c,
        "--to",
        "kvm",
        "-o",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A libvirt domain as context, changed by virsh operations.
    let dom = dir.join("proof.xml");
    std::fs::copy(common::root().join("tests/commands/proof.xml"), &dom).unwrap();
    let o = command(&[
        "samples/commands/virsh-reconfigure.xml",
        "--to",
        "hvx",
        "--context",
        dom.to_str().unwrap(),
        "--update-context",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&dom).unwrap();
    let d = roxmltree::Document::parse(&text).unwrap();
    let r = d.root_element();
    assert_eq!(common::child(r, "vcpu").unwrap().text(), Some("4"));
    assert_eq!(
        common::child(r, "currentMemory").unwrap().text(),
        Some("2097152")
    );
    let macs: Vec<_> = d
        .descendants()
        .filter(|n| n.has_tag_name("mac"))
        .filter_map(|n| n.attribute("address"))
        .collect();
    assert_eq!(macs, ["52:54:00:c0:00:01"]);
    assert!(
        text.contains("<source file=\"/var/lib/libvirt/images/other.iso\"/>"),
        "{text}"
    );
    if common::tool("virsh").is_some() {
        let out = common::virsh_dump(&dom, "proof");
        assert!(out.contains("other.iso"), "{out}");
    }
}

#[test]
fn a_sequence_of_commands_updates_a_hyperv_context() {
    let dir = temp_dir("command-sequence-hyperv");
    let dir_s = dir.to_str().unwrap();
    let hv = std::path::PathBuf::from(proof_on_hyperv(&dir));
    let hv_s = hv.to_str().unwrap();
    // vSphere's own context is taken fresh for each command (only Hyper-V's
    // is followed here).
    let vs = dir.join("vs.xml");
    let vs_s = vs.to_str().unwrap();
    let step = |cmd: &str| {
        std::fs::copy(common::root().join(CTX), &vs).unwrap();
        command(&[
            cmd,
            "--to",
            "hyperv",
            "--context",
            vs_s,
            "--context",
            hv_s,
            "--update-context",
        ])
    };
    let o = step("samples/commands/cpu-memory.xml");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = step("samples/commands/remove-nic.xml");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = step("samples/commands/change-iso.xml");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The context is still a DefineSystem request that hvxform reads, now
    // with 4 CPUs, 2 GiB, one NIC and the other ISO.
    let o = run(&["transform", hv_s, "--to", "hvx", "-o", dir_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hub = std::fs::read_to_string(dir.join("proof.hyperv.hvx.xml")).unwrap();
    let doc = roxmltree::Document::parse(&hub).unwrap();
    let vm = doc.root_element();
    let one = |name: &str| vm.children().find(|c| c.has_tag_name(name)).unwrap();
    assert_eq!(one("cpu").attribute("count"), Some("4"), "{hub}");
    assert_eq!(
        one("memory").attribute("bytes"),
        Some("2147483648"),
        "{hub}"
    );
    let nics: Vec<_> = vm.descendants().filter(|n| n.has_tag_name("nic")).collect();
    assert_eq!(nics.len(), 1, "{hub}");
    assert!(hub.contains("other.iso"), "{hub}");
    // The adapter is gone: removing it again fails, and the context stays.
    let before = std::fs::read(&hv).unwrap();
    refused(
        &[
            "samples/commands/remove-nic.xml",
            "--to",
            "hyperv",
            "--context",
            vs_s,
            "--context",
            hv_s,
            "--update-context",
        ],
        "the Hyper-V VM has no network adapter with MAC 52:54:00:c0:00:02",
    );
    assert_eq!(std::fs::read(&hv).unwrap(), before);
}

/// The VM's configuration as a PropertyCollector response names it (`obj`).
fn response_context(moref: &str) -> String {
    let info = std::fs::read_to_string(common::root().join(CTX)).unwrap();
    let body = info
        .replacen("<config ", "<val ", 1)
        .trim_end()
        .strip_suffix("</config>")
        .unwrap()
        .to_string()
        + "</val>";
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">{moref}</obj><propSet><name>config</name>{body}</propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#
    )
}

#[test]
fn the_context_must_be_the_vm_the_command_is_for() {
    let dir = temp_dir("command-which-vm");
    let same = dir.join("same.xml");
    std::fs::write(&same, response_context("vm-42")).unwrap();
    let o = command(&[
        "samples/commands/remove-nic.xml",
        "--to",
        "kvm",
        "--context",
        same.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a PropertyCollector response is a context: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("52:54:00:c0:00:02"));
    let other = dir.join("other.xml");
    std::fs::write(&other, response_context("vm-7")).unwrap();
    refused(
        &[
            "samples/commands/remove-nic.xml",
            "--to",
            "kvm",
            "--context",
            other.to_str().unwrap(),
        ],
        "the context describes VM vm-7; the command is for VM vm-42",
    );
    refused(
        &[
            "samples/commands/virsh-reconfigure.xml",
            "--to",
            "vsphere",
            "--param",
            "vm=vm-42",
            "--context",
            other.to_str().unwrap(),
        ],
        "the context describes VM vm-7; the calls are for VM vm-42",
    );
    let dom = dir.join("dom.xml");
    std::fs::write(
        &dom,
        std::fs::read_to_string(common::root().join("tests/commands/proof.xml"))
            .unwrap()
            .replace("<name>proof</name>", "<name>db</name>"),
    )
    .unwrap();
    refused(
        &[
            "samples/commands/virsh-reconfigure.xml",
            "--to",
            "hvx",
            "--context",
            dom.to_str().unwrap(),
        ],
        "the context is domain db; the commands are for proof",
    );
}

#[test]
fn secure_boot_needs_uefi_and_libvirt_defines_the_domain_again() {
    let dir = temp_dir("command-secure-boot");
    let sb = reconfig(
        &dir,
        "sb.xml",
        "<spec><bootOptions><efiSecureBootEnabled>true</efiSecureBootEnabled></bootOptions></spec>",
    );
    let sb = sb.as_str();
    // The proof VM boots with BIOS.
    refused(
        &[sb, "--to", "kvm", "--context", CTX],
        "Secure Boot needs UEFI firmware; this VM boots with bios",
    );
    let efi = dir.join("efi.xml");
    std::fs::write(
        &efi,
        std::fs::read_to_string(common::root().join(CTX))
            .unwrap()
            .replace("<firmware>bios</firmware>", "<firmware>efi</firmware>"),
    )
    .unwrap();
    let o = command(&[sb, "--to", "hvx", "--context", efi.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("<secure-boot enabled=\"true\"/>"),
        "{}",
        stdout(&o)
    );
    // libvirt keeps Secure Boot in the domain's definition: without the
    // domain, the translation says it needs it; with it, the domain is
    // defined again with the firmware feature on.
    refused(
        &[sb, "--to", "kvm", "--context", efi.to_str().unwrap()],
        "the context holds no libvirt domain",
    );
    let dom = dir.join("efi-domain.xml");
    std::fs::write(
        &dom,
        std::fs::read_to_string(common::root().join("tests/commands/proof.xml"))
            .unwrap()
            .replace("<os>", "<os firmware='efi'>"),
    )
    .unwrap();
    let o = command(&[
        sb,
        "--to",
        "kvm",
        "--context",
        efi.to_str().unwrap(),
        "--context",
        dom.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let doc = roxmltree::Document::parse(&out).unwrap();
    let domain = doc
        .descendants()
        .find(|n| n.has_tag_name("domain"))
        .expect("a <define> of the domain");
    assert_eq!(domain.parent().unwrap().tag_name().name(), "define");
    let feature = domain
        .descendants()
        .find(|n| n.has_tag_name("feature") && n.attribute("name") == Some("secure-boot"))
        .unwrap();
    assert_eq!(feature.attribute("enabled"), Some("yes"));
    // Everything else of the domain is as the context has it.
    for dev in [
        "proof-os.img",
        "proof-data.img",
        "52:54:00:c0:00:02",
        "install.iso",
    ] {
        assert!(out.contains(dev), "{dev}: {out}");
    }
    // A BIOS domain cannot have it.
    let o = command(&[
        sb,
        "--to",
        "kvm",
        "--context",
        efi.to_str().unwrap(),
        "--context",
        "tests/commands/proof.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("Secure Boot needs UEFI firmware; libvirt domain proof boots with BIOS"),
        "{}",
        stderr(&o)
    );
    // Nor a generation 1 Hyper-V VM (the BIOS domain as hvxform converts
    // it), whatever the vSphere side boots with.
    let hv = proof_on_hyperv(&dir);
    refused(&[
        sb,
        "--to",
        "hyperv",
        "--context",
        efi.to_str().unwrap(),
        "--context",
        &hv,
    ], "Secure Boot needs a generation 2 (UEFI) VM; this Hyper-V VM is Microsoft:Hyper-V:SubType:1");
}

/// A vSphere ReconfigVM_Task of `spec` (the body of samples/commands/cpu-memory.xml
/// with another spec), written to `dir/name`.
fn reconfig(dir: &std::path::Path, name: &str, spec: &str) -> String {
    let text =
        std::fs::read_to_string(common::root().join("samples/commands/cpu-memory.xml")).unwrap();
    let start = text.find("<spec").unwrap();
    let end = text.find("</spec>").unwrap() + "</spec>".len();
    let p = dir.join(name);
    std::fs::write(&p, format!("{}{spec}{}", &text[..start], &text[end..])).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_new_nic_needs_nothing_and_cdroms_need_the_vm() {
    let dir = temp_dir("command-nic-cdrom");
    let nic = reconfig(
        &dir,
        "add-nic.xml",
        r#"<spec><deviceChange><operation>add</operation><device xsi:type="VirtualE1000"><key>-1</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><addressType>manual</addressType><macAddress>52:54:00:C0:00:03</macAddress></device></deviceChange></spec>"#,
    );
    // Direct: the NIC names its own MAC, model and network.
    let o = command(&[&nic, "--to", "kvm", "--param", "domain=proof", "--explain"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        ops(&stdout(&o)),
        ["attach-device config=yes <interface type=network> <mac address=52:54:00:c0:00:03> <source network=VM Network> <model type=e1000>"]
    );
    assert!(stderr(&o).contains("→ direct"), "{}", stderr(&o));
    // A MAC left to vSphere would differ on the other side.
    let generated = reconfig(
        &dir,
        "generated.xml",
        r#"<spec><deviceChange><operation>add</operation><device xsi:type="VirtualVmxnet3"><key>-1</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><addressType>generated</addressType></device></deviceChange></spec>"#,
    );
    refused(
        &[&generated, "--to", "kvm", "--param", "domain=proof"],
        "the new NIC's MAC is left to vSphere (addressType generated)",
    );
    // libvirt → vSphere: a new device with a temporary key, its MAC manual.
    let virsh = dir.join("attach-nic.xml");
    std::fs::write(&virsh, r#"<virsh xmlns="urn:hvxform:virsh:1" domain="proof"><attach-device config="yes"><interface xmlns="" type="network"><mac address="52:54:00:c0:00:03"/><source network="default"/><model type="virtio"/></interface></attach-device></virsh>"#).unwrap();
    let o = command(&[
        virsh.to_str().unwrap(),
        "--to",
        "vsphere",
        "--param",
        "vm=vm-42",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let calls = vsphere_calls(&stdout(&o));
    assert_eq!(
        calls,
        ["ReconfigVM_Task vm-42 operation=add key=-1 deviceName=default startConnected=true allowGuestControl=true connected=false addressType=manual macAddress=52:54:00:c0:00:03"]
    );
    assert!(
        stdout(&o).contains(r#"<device xsi:type="VirtualVmxnet3">"#),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("virtio → vmxnet3; the guest needs the vmxnet3 driver"),
        "{}",
        stderr(&o)
    );
    // Hyper-V would need two calls, the second naming what the first made.
    refused(
        &[
            virsh.to_str().unwrap(),
            "--to",
            "hyperv",
            "--param",
            "vm=3C1F6A2E-8B4D-4E7A-9C15-6D2E8F0A1B34",
        ],
        "adding a network adapter is not translated to Hyper-V",
    );
    // Moving NIC key 207 to another port group: libvirt's update-device of
    // the interface with that MAC; Hyper-V's ModifyResourceSettings of the
    // adapter's connection (the switch), which reads back as the same move.
    let moved = reconfig(
        &dir,
        "edit-nic.xml",
        r#"<spec><deviceChange><operation>edit</operation><device xsi:type="VirtualE1000"><key>207</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>Prod</deviceName></backing><addressType>manual</addressType><macAddress>52:54:00:c0:00:02</macAddress></device></deviceChange></spec>"#,
    );
    assert_eq!(
        translated(&[&moved, "--to", "kvm", "--context", CTX]),
        ["update-device config=yes <interface type=network> <mac address=52:54:00:c0:00:02> <source network=Prod>"]
    );
    let hv = proof_on_hyperv(&dir);
    let to_hv = dir.join("edit-nic.hyperv.xml");
    let o = command(&[
        &moved,
        "--to",
        "hyperv",
        "--context",
        CTX,
        "--context",
        &hv,
        "-o",
        to_hv.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let calls = cim_calls(&std::fs::read_to_string(&to_hv).unwrap());
    assert!(
        calls.len() == 1
            && calls[0].starts_with("ModifyResourceSettings")
            && calls[0].contains("Msvm_EthernetPortAllocationSettingData")
            && calls[0].contains(r#"Name="Prod""#),
        "{calls:?}"
    );
    assert_eq!(
        translated(&[
            to_hv.to_str().unwrap(),
            "--to",
            "kvm",
            "--context",
            &hv,
            "--param",
            "domain=proof"
        ]),
        ["update-device config=yes <interface type=network> <mac address=52:54:00:c0:00:02> <source network=Prod>"]
    );
    // A new MAC is not a move.
    let remac = reconfig(
        &dir,
        "remac.xml",
        r#"<spec><deviceChange><operation>edit</operation><device xsi:type="VirtualE1000"><key>207</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><addressType>manual</addressType><macAddress>52:54:00:c0:00:99</macAddress></device></deviceChange></spec>"#,
    );
    refused(
        &[&remac, "--to", "kvm", "--context", CTX],
        "changes its MAC (52:54:00:c0:00:02 to 52:54:00:c0:00:99)",
    );
    // Removing the CD-ROM: key 205 is the drive hdc in vSphere's
    // configuration; without it the key means nothing.
    let cd = reconfig(
        &dir,
        "remove-cdrom.xml",
        r#"<spec><deviceChange><operation>remove</operation><device xsi:type="VirtualCdrom"><key>205</key></device></deviceChange></spec>"#,
    );
    assert_eq!(
        translated(&[&cd, "--to", "kvm", "--context", CTX]),
        ["detach-device config=yes <disk type=file device=cdrom> <target dev=hdc bus=ide>"]
    );
    refused(
        &[&cd, "--to", "kvm", "--param", "domain=proof"],
        "needs the VM's current configuration",
    );
    // A new CD-ROM on IDE controller 200: libvirt's first free hd* target
    // (the VM has hdc), its ISO where ESXi keeps the datastore (not in the
    // datastores table here).
    let add = reconfig(
        &dir,
        "add-cdrom.xml",
        r#"<spec><deviceChange><operation>add</operation><device xsi:type="VirtualCdrom"><key>-1</key><backing xsi:type="VirtualCdromIsoBackingInfo"><fileName>[LocalDS_0] tools.iso</fileName></backing><controllerKey>200</controllerKey><unitNumber>0</unitNumber></device></deviceChange></spec>"#,
    );
    assert_eq!(
        translated(&[&add, "--to", "kvm", "--context", CTX]),
        ["attach-device config=yes <disk type=file device=cdrom> <driver name=qemu type=raw> <source file=/vmfs/volumes/LocalDS_0/tools.iso> <target dev=hda bus=ide> <readonly>"]
    );
    // Hyper-V adds a drive with media in two calls: refused; an empty
    // drive goes on the IDE controller's free location.
    let hv = hv.as_str();
    refused(
        &[&add, "--to", "hyperv", "--context", CTX, "--context", hv],
        "adding a DVD drive with media is not translated to Hyper-V",
    );
    let empty = reconfig(
        &dir,
        "add-empty-cdrom.xml",
        r#"<spec><deviceChange><operation>add</operation><device xsi:type="VirtualCdrom"><key>-1</key><backing xsi:type="VirtualCdromRemotePassthroughBackingInfo"><deviceName></deviceName><exclusive>false</exclusive></backing><controllerKey>200</controllerKey><unitNumber>0</unitNumber></device></deviceChange></spec>"#,
    );
    // The converted VM's one IDE controller is full (sda and hdc), and a
    // generation 1 VM takes DVD drives on IDE only.
    refused(
        &[&empty, "--to", "hyperv", "--context", CTX, "--context", hv],
        "generation 1 takes DVD drives on IDE only",
    );
    // With Hyper-V's second IDE controller (every generation 1 VM has
    // two), the drive goes there, at location 0.
    let text = std::fs::read_to_string(hv).unwrap();
    let ide1 = r#"<INSTANCE CLASSNAME="Msvm_ResourceAllocationSettingData"><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:3C1F6A2E-8B4D-4E7A-9C15-6D2E8F0A1B34\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\1</VALUE></PROPERTY><PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>5</VALUE></PROPERTY><PROPERTY NAME="ResourceSubType" TYPE="string"><VALUE>Microsoft:Hyper-V:Emulated IDE Controller</VALUE></PROPERTY><PROPERTY NAME="Address" TYPE="string"><VALUE>1</VALUE></PROPERTY></INSTANCE>"#
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    // The ResourceSettings array (the instances in it are escaped text).
    let at = text.find("<VALUE.ARRAY>").unwrap() + "<VALUE.ARRAY>".len();
    let two = dir.join("two-ide.xml");
    std::fs::write(
        &two,
        format!("{}<VALUE>{ide1}</VALUE>{}", &text[..at], &text[at..]),
    )
    .unwrap();
    let o = command(&[
        &empty,
        "--to",
        "hyperv",
        "--context",
        CTX,
        "--context",
        two.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let calls = cim_calls(&stdout(&o));
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("AddResourceSettings key=vmms key=Microsoft:3C1F6A2E-8B4D-4E7A-9C15-6D2E8F0A1B34 AffectedConfiguration: ResourceSettings:")
            && calls[0].contains("Synthetic DVD Drive")
            && calls[0].contains(r#"83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\1""#)
            && calls[0].contains(r#"<PROPERTY NAME="AddressOnParent" TYPE="string"><VALUE>0</VALUE>"#),
        "{calls:?}"
    );
}

/// Each METHODCALL of a CIM-XML request: its name and, for each parameter,
/// the values (an embedded instance unescaped) it carries.
fn cim_calls(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("METHODCALL"))
        .map(|m| {
            let mut s = m.attribute("NAME").unwrap().to_string();
            for k in m.descendants().filter(|k| k.has_tag_name("KEYVALUE")) {
                s.push_str(&format!(" key={}", k.text().unwrap()));
            }
            for p in m.children().filter(|p| p.has_tag_name("PARAMVALUE")) {
                s.push_str(&format!(" {}:", p.attribute("NAME").unwrap()));
                for v in p.descendants().filter(|v| v.has_tag_name("VALUE")) {
                    s.push_str(&format!(" {}", v.text().unwrap_or("")));
                }
            }
            s
        })
        .collect()
}

#[test]
fn commands_become_hyperv_method_calls_that_pywbem_accepts() {
    let dir = temp_dir("command-hyperv");
    // The proof VM on Hyper-V, as hvxform converts it (its adapters with
    // their InstanceIDs).
    let hv = proof_on_hyperv(&dir);
    let hv = hv.as_str();
    let guid = "3C1F6A2E-8B4D-4E7A-9C15-6D2E8F0A1B34";
    let mut outputs = Vec::new();
    let mut translate = |name: &str, args: &[&str]| -> String {
        let out = dir.join(name);
        let mut a = args.to_vec();
        a.extend(["--to", "hyperv", "-o", out.to_str().unwrap()]);
        let o = command(&a);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        outputs.push(out.clone());
        std::fs::read_to_string(out).unwrap()
    };
    let x = translate(
        "on.xml",
        &["samples/commands/power-on.xml", "--context", hv],
    );
    assert_eq!(
        cim_calls(&x),
        [format!(
            "RequestStateChange key=Msvm_ComputerSystem key={guid} RequestedState: 2"
        )]
    );
    let x = translate(
        "cpu-mem.xml",
        &[
            "samples/commands/cpu-memory.xml",
            "--param",
            &format!("vm={guid}"),
        ],
    );
    let calls = cim_calls(&x);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].contains(&format!(
            "Microsoft:{guid}\\b637f346-6a0e-4dec-af52-bd70cb80a21d\\0"
        )) && calls[0].contains("NAME=\"VirtualQuantity\" TYPE=\"uint64\"><VALUE>4<"),
        "{}",
        calls[0]
    );
    assert!(
        calls[1].contains("Msvm_MemorySettingData") && calls[1].contains("<VALUE>2048<"),
        "{}",
        calls[1]
    );
    // vSphere's key 207 is resolved in vSphere's configuration (its MAC),
    // the MAC in Hyper-V's (the adapter's InstanceID): two contexts.
    let x = translate(
        "nic.xml",
        &[
            "samples/commands/remove-nic.xml",
            "--context",
            CTX,
            "--context",
            hv,
        ],
    );
    let calls = cim_calls(&x);
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].starts_with("RemoveResourceSettings key=vmms key=Microsoft:3C1F6A2E")
            && calls[0].contains("ResourceSettings:"),
        "{calls:?}"
    );
    let hv_text = std::fs::read_to_string(hv).unwrap();
    let id = calls[0]
        .split("key=")
        .nth(2)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        hv_text.contains(id),
        "the adapter's InstanceID comes from the Hyper-V VM"
    );
    // libvirt → Hyper-V.
    let virsh = dir.join("virsh.xml");
    std::fs::write(&virsh, r#"<virsh xmlns="urn:hvxform:virsh:1" domain="proof"><start/><detach-device config="yes"><interface xmlns="" type="user"><mac address="52:54:00:C0:00:02"/></interface></detach-device></virsh>"#).unwrap();
    let x = translate("from-kvm.xml", &[virsh.to_str().unwrap(), "--context", hv]);
    let calls = cim_calls(&x);
    assert!(
        calls[0].starts_with("RequestStateChange")
            && calls[1].starts_with("RemoveResourceSettings"),
        "{calls:?}"
    );
    // A new ISO: the DVD drive's media, found in Hyper-V's settings (its
    // InstanceID) through vSphere's (which drive key 3002 was), changed.
    let x = translate(
        "iso.xml",
        &[
            "samples/commands/change-iso.xml",
            "--context",
            CTX,
            "--context",
            hv,
        ],
    );
    let calls = cim_calls(&x);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("ModifyResourceSettings key=vmms ResourceSettings:")
            && calls[0].contains(&format!(
                "Microsoft:{guid}\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\1\\L"
            ))
            && calls[0].contains("Virtual Hard Disks\\other.iso"),
        "{calls:?}"
    );
    // Adding a disk takes two calls on Hyper-V, the second naming what the
    // first made: refused, saying so.
    refused(&[
        "samples/commands/add-disk.xml",
        "--to",
        "hyperv",
        "--context",
        CTX,
        "--context",
        hv,
    ], "adding a disk is not translated to Hyper-V: Hyper-V adds the drive and its virtual hard disk in two calls");
    refused(
        &["samples/commands/power-on.xml", "--to", "hyperv"],
        "which Hyper-V VM? give its GUID with --param vm=GUID",
    );
    // And back: Hyper-V's requests read as commands. CPU and memory need
    // nothing; an adapter's InstanceID needs the Hyper-V VM's settings.
    let cpu = dir.join("cpu-mem.xml");
    let cpu = cpu.to_str().unwrap();
    assert_eq!(
        translated(&[cpu, "--to", "kvm", "--param", "domain=proof"]),
        [
            "setvcpus count=4 config=yes maximum=yes",
            "setvcpus count=4 config=yes",
            "setmaxmem kib=2097152 config=yes",
            "setmem kib=2097152 config=yes"
        ]
    );
    let nic = dir.join("nic.xml");
    let nic = nic.to_str().unwrap();
    refused(&[nic, "--to", "kvm", "--param", "domain=proof"], "needs the VM's current configuration (the Hyper-V VM's settings, to know which adapter or drive an InstanceID names)");
    let o = command(&[
        nic,
        "--to",
        "vsphere",
        "--context",
        hv,
        "--context",
        CTX,
        "--param",
        "vm=vm-42",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        vsphere_calls(&stdout(&o)),
        ["ReconfigVM_Task vm-42 operation=remove key=207"]
    );
    let on = dir.join("on.xml");
    let o = command(&[
        on.to_str().unwrap(),
        "--to",
        "vsphere",
        "--param",
        "vm=vm-42",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(vsphere_calls(&stdout(&o)), ["PowerOnVM_Task vm-42"]);
    // A processor change that changes more than the count is refused.
    let more = dir.join("more.xml");
    std::fs::write(&more, std::fs::read_to_string(cpu).unwrap().replacen("&lt;PROPERTY NAME=\"VirtualQuantity\"", "&lt;PROPERTY NAME=\"Reservation\" TYPE=\"uint64\"&gt;&lt;VALUE&gt;100&lt;/VALUE&gt;&lt;/PROPERTY&gt;&lt;PROPERTY NAME=\"VirtualQuantity\"", 1)).unwrap();
    let o = command(&[
        more.to_str().unwrap(),
        "--to",
        "kvm",
        "--param",
        "domain=proof",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("ModifyResourceSettings of Msvm_ProcessorSettingData changes Reservation, which hvxform does not translate"), "{}", stderr(&o));
    // pywbem's CIM-XML parser and pywbem_mock with the Msvm classes accept
    // every request.
    if let Some(py) = common::pywbem_python() {
        let mut c = std::process::Command::new(py);
        c.arg(common::root().join("tests/validators/hyperv_check.py"));
        c.args(&outputs);
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(stdout(&o).lines().count(), outputs.len(), "{}", stdout(&o));
    }
}

/// A Hyper-V request as a WMI client writes it: one METHODCALL on the
/// management service.
fn cim_request(method: &str, params: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1001" PROTOCOLVERSION="1.0"><SIMPLEREQ>
<METHODCALL NAME="{method}"><LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virtualization"/><NAMESPACE NAME="v2"/></LOCALNAMESPACEPATH>
<INSTANCENAME CLASSNAME="Msvm_VirtualSystemManagementService"><KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">vmms</KEYVALUE></KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH>
{params}
</METHODCALL></SIMPLEREQ></MESSAGE></CIM>"#
    )
}

#[test]
fn hyperv_drive_and_firmware_requests_read_as_commands() {
    let dir = temp_dir("command-hyperv-read");
    let hv = proof_on_hyperv(&dir);
    let hv = hv.as_str();
    let vm = "Microsoft:3C1F6A2E-8B4D-4E7A-9C15-6D2E8F0A1B34";
    let dvd = format!(r"{vm}\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\0\1\D");
    let write = |name: &str, text: String| -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    // New media on the VM's DVD drive (AddResourceSettings, its Parent the
    // drive's WMI path): libvirt's update-device of that drive (hdc, from
    // the drive's note), the ISO in the folder the drive's image came from.
    let parent = format!(
        r#"\\.\root\virtualization\v2:Msvm_ResourceAllocationSettingData.InstanceID="{}""#,
        dvd.replace('\\', r"\\")
    );
    let media = format!(
        r#"<INSTANCE CLASSNAME="Msvm_StorageAllocationSettingData"><PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>31</VALUE></PROPERTY><PROPERTY NAME="ResourceSubType" TYPE="string"><VALUE>Microsoft:Hyper-V:Virtual CD/DVD Disk</VALUE></PROPERTY><PROPERTY NAME="Parent" TYPE="string"><VALUE>{parent}</VALUE></PROPERTY><PROPERTY.ARRAY NAME="HostResource" TYPE="string"><VALUE.ARRAY><VALUE>D:\isos\other.iso</VALUE></VALUE.ARRAY></PROPERTY.ARRAY></INSTANCE>"#
    );
    let escaped = media
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let add = write(
        "add-media.xml",
        cim_request(
            "AddResourceSettings",
            &format!(
                r#"<PARAMVALUE NAME="AffectedConfiguration" PARAMTYPE="reference"><VALUE.REFERENCE><INSTANCENAME CLASSNAME="Msvm_VirtualSystemSettingData"><KEYBINDING NAME="InstanceID"><KEYVALUE VALUETYPE="string">{vm}</KEYVALUE></KEYBINDING></INSTANCENAME></VALUE.REFERENCE></PARAMVALUE>
<PARAMVALUE NAME="ResourceSettings" PARAMTYPE="string" EmbeddedObject="instance"><VALUE.ARRAY><VALUE>{escaped}</VALUE></VALUE.ARRAY></PARAMVALUE>"#
            ),
        ),
    );
    assert_eq!(
        translated(&[
        &add,
        "--to",
        "kvm",
        "--context",
        hv,
        "--param",
        "domain=proof",
    ]),
        ["update-device config=yes <disk type=file device=cdrom> <source file=/var/lib/libvirt/images/other.iso> <target dev=hdc bus=ide> <readonly>"]
    );
    // Without the VM's settings, the drive the Parent names is unknown.
    refused(
        &[&add, "--to", "kvm", "--param", "domain=proof"],
        "the Hyper-V VM's settings, to know which drive a new media's Parent names",
    );
    // A disk's image removed without its drive leaves an empty drive, which
    // no other platform has: refused.
    let vhd = format!(r"{vm}\E90CD2C6-AE54-55D2-A8CA-1D9FED32CF79\0\0\L");
    let remove = |ids: &[(&str, &str)]| -> String {
        let refs: String = ids
            .iter()
            .map(|(class, id)| format!(r#"<VALUE.REFERENCE><INSTANCENAME CLASSNAME="{class}"><KEYBINDING NAME="InstanceID"><KEYVALUE VALUETYPE="string">{id}</KEYVALUE></KEYBINDING></INSTANCENAME></VALUE.REFERENCE>"#))
            .collect();
        cim_request(
            "RemoveResourceSettings",
            &format!(
                r#"<PARAMVALUE NAME="ResourceSettings" PARAMTYPE="reference"><VALUE.REFARRAY>{refs}</VALUE.REFARRAY></PARAMVALUE>"#
            ),
        )
    };
    let only_vhd = write(
        "remove-vhd.xml",
        remove(&[("Msvm_StorageAllocationSettingData", &vhd)]),
    );
    refused(
        &[&only_vhd, "--to", "kvm", "--context", hv, "--param", "domain=proof"],
        "removing a Msvm_StorageAllocationSettingData (Microsoft:Hyper-V:Virtual Hard Disk) is not a command hvxform translates",
    );
    // With its drive, it is the disk's removal: libvirt's target sdb.
    let drive = format!(r"{vm}\E90CD2C6-AE54-55D2-A8CA-1D9FED32CF79\0\0\D");
    let both = write(
        "remove-disk.xml",
        remove(&[
            ("Msvm_StorageAllocationSettingData", &vhd),
            ("Msvm_ResourceAllocationSettingData", &drive),
        ]),
    );
    assert_eq!(
        translated(&[
        &both,
        "--to",
        "kvm",
        "--context",
        hv,
        "--param",
        "domain=proof",
    ]),
        ["detach-device config=yes <disk type=file device=disk> <source file=/var/lib/libvirt/images/proof-data.img> <target dev=sdb bus=scsi>"]
    );
    // ModifySystemSettings: Secure Boot, and nothing else of the VM.
    let system = |props: &str| -> String {
        let inst = format!(r#"<INSTANCE CLASSNAME="Msvm_VirtualSystemSettingData"><PROPERTY NAME="InstanceID" TYPE="string"><VALUE>{vm}</VALUE></PROPERTY>{props}</INSTANCE>"#)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        cim_request(
            "ModifySystemSettings",
            &format!(
                r#"<PARAMVALUE NAME="SystemSettings" PARAMTYPE="string" EmbeddedObject="instance"><VALUE>{inst}</VALUE></PARAMVALUE>"#
            ),
        )
    };
    let sb = write(
        "sb.xml",
        system(
            r#"<PROPERTY NAME="SecureBootEnabled" TYPE="boolean"><VALUE>TRUE</VALUE></PROPERTY>"#,
        ),
    );
    let o = command(&[&sb, "--to", "hvx", "--context", hv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(r#"<secure-boot enabled="true"/>"#),
        "{}",
        stdout(&o)
    );
    let renamed = write(
        "rename.xml",
        system(
            r#"<PROPERTY NAME="SecureBootEnabled" TYPE="boolean"><VALUE>TRUE</VALUE></PROPERTY><PROPERTY NAME="BIOSGUID" TYPE="string"><VALUE>{00000000-0000-0000-0000-000000000001}</VALUE></PROPERTY>"#,
        ),
    );
    refused(
        &[&renamed, "--to", "hvx", "--context", hv],
        "ModifySystemSettings changes BIOSGUID, which hvxform does not translate",
    );
}

#[test]
fn commands_become_ec2_requests_that_botocore_accepts() {
    let dir = temp_dir("command-ec2");
    let ec2 = "samples/ec2/web.xml";
    let mut outputs = Vec::new();
    let mut translate = |name: &str, args: &[&str]| -> serde_json::Value {
        let out = dir.join(name);
        let mut a = args.to_vec();
        a.extend(["--to", "ec2", "-o", out.to_str().unwrap()]);
        let o = command(&a);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        outputs.push(out.clone());
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
    };
    let v = translate(
        "on.json",
        &["samples/commands/power-on.xml", "--context", ec2],
    );
    assert_eq!(
        v,
        serde_json::json!({"Requests": [{"Operation": "StartInstances", "Parameters": {"InstanceIds": ["i-02c25b9e9a7765733"]}}]})
    );
    // 4 vCPUs and 2 GiB together: one type change, the smallest type of the
    // preferred families that fits (t3.medium has 2 vCPUs).
    let v = translate(
        "size.json",
        &["samples/commands/cpu-memory.xml", "--context", ec2],
    );
    assert_eq!(v["Requests"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["Requests"][0]["Operation"], "ModifyInstanceAttribute");
    assert_eq!(
        v["Requests"][0]["Parameters"]["InstanceType"]["Value"],
        "c7i.xlarge"
    );
    // A secondary interface is detached by its attachment; vSphere's key 207
    // is found in vSphere's configuration, its MAC in the instance.
    let text = std::fs::read_to_string(common::root().join(ec2)).unwrap();
    let (a, b) = (
        text.find("<networkInterfaceSet>").unwrap() + "<networkInterfaceSet>".len(),
        text.find("</networkInterfaceSet>").unwrap(),
    );
    let second = text[a..b]
        .replace("02:00:00:4e:b3:63", "52:54:00:c0:00:02")
        .replace(
            "<deviceIndex>0</deviceIndex>",
            "<deviceIndex>1</deviceIndex>",
        )
        .replace(
            "eni-attach-ae9575f469db8e227",
            "eni-attach-0000000000000002",
        );
    let two = dir.join("two-nics.xml");
    std::fs::write(&two, format!("{}{second}{}", &text[..b], &text[b..])).unwrap();
    let v = translate(
        "nic.json",
        &[
            "samples/commands/remove-nic.xml",
            "--context",
            CTX,
            "--context",
            two.to_str().unwrap(),
        ],
    );
    assert_eq!(
        v,
        serde_json::json!({"Requests": [{"Operation": "DetachNetworkInterface", "Parameters": {"AttachmentId": "eni-attach-0000000000000002"}}]})
    );
    let virsh = dir.join("virsh.xml");
    std::fs::write(&virsh, r#"<virsh xmlns="urn:hvxform:virsh:1" domain="web-01"><setvcpus count="4" config="yes"/><setmem kib="2097152" config="yes"/><detach-device config="yes"><interface xmlns="" type="network"><mac address="52:54:00:c0:00:02"/></interface></detach-device></virsh>"#).unwrap();
    let v = translate(
        "kvm.json",
        &[virsh.to_str().unwrap(), "--context", two.to_str().unwrap()],
    );
    let ops: Vec<_> = v["Requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Operation"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ops,
        ["ModifyInstanceAttribute", "DetachNetworkInterface"],
        "{v}"
    );
    // What EC2's API cannot do is refused with the reason.
    refused(
        &[
            "samples/commands/change-iso.xml",
            "--to",
            "ec2",
            "--context",
            CTX,
            "--context",
            ec2,
        ],
        "EC2 instances have no CD-ROM drive",
    );
    let primary = dir.join("primary.xml");
    std::fs::write(
        &primary,
        std::fs::read_to_string(common::root().join(CTX))
            .unwrap()
            .replace("52:54:00:c0:00:02", "02:00:00:4e:b3:63"),
    )
    .unwrap();
    refused(
        &[
            "samples/commands/remove-nic.xml",
            "--to",
            "ec2",
            "--context",
            primary.to_str().unwrap(),
            "--context",
            ec2,
        ],
        "is the instance's primary one (device index 0): EC2 cannot detach it",
    );
    // botocore's own check of each request against EC2's service model.
    if let Some(py) = common::venv_python(
        "HVX_EC2_PYTHON",
        "/opt/hvx-ec2-venv",
        "venv with botocore and moto",
    ) {
        let mut c = std::process::Command::new(py);
        c.arg(common::root().join("tests/validators/ec2_check.py"))
            .arg("--requests");
        c.args(&outputs);
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(
            stdout(&o).matches(": OK").count(),
            outputs.len(),
            "{}",
            stdout(&o)
        );
    }
}

#[test]
fn a_command_file_is_not_a_vm_to_transform() {
    let o = run(&[
        "transform",
        "samples/commands/power-on.xml",
        "--to",
        "kvm",
        "-o",
        temp_dir("command-tr").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("a command (PowerOnVM_Task), not a VM's configuration; translate it with `hvxform command`"), "{}", stderr(&o));
}

/// The proof, for every ordered pair of vSphere, KVM and Hyper-V: each
/// command executed on its own endpoint and its translations on the others
/// (vcsim; libvirtd with the QEMU driver; pywbem_mock with the Msvm classes
/// and hyperv_endpoint.py's providers), the VMs read back and compared.
/// Needs HVX_VCSIM (the vcsim binary `.ci/run` builds), HVX_PYWBEM_PYTHON
/// and a libvirtd answering on HVX_LIBVIRT_URI (default qemu:///system).
#[test]
fn commands_have_the_same_effect_on_every_endpoint() {
    let required = std::env::var("HVX_REQUIRE_TOOLS").as_deref() == Ok("1");
    let Some(vcsim) = std::env::var_os("HVX_VCSIM") else {
        assert!(!required, "HVX_VCSIM (the vcsim binary) is required");
        eprintln!("skipped: HVX_VCSIM is not set");
        return;
    };
    let Some(py) = common::python() else { return };
    let Some(pywbem) = common::pywbem_python() else {
        return;
    };
    let uri = std::env::var("HVX_LIBVIRT_URI").unwrap_or_else(|_| "qemu:///system".into());
    let work = temp_dir("command-proof");
    let o = std::process::Command::new(py)
        .arg(common::root().join("tests/validators/command_proof.py"))
        .arg(env!("CARGO_BIN_EXE_hvxform"))
        .arg(vcsim)
        .arg(&uri)
        .arg(&work)
        .arg(pywbem)
        .output()
        .unwrap();
    let out = stdout(&o);
    println!("{out}");
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // 37 cases: 14 from vSphere, 11 from KVM, 12 from Hyper-V, each
    // translated for the two other platforms; 6 of the 74 translations are
    // refusals, and 4 (shutdown and reboot, where an endpoint cannot carry
    // them out) are made but not executed.
    assert!(
        out.contains("37 of 37 cases passed (74 translations, 6 of them refusals, 4 not executed)"),
        "{out}"
    );
}

/// Commands whose translation would mean something else, or a value no VM
/// can have: refused, naming what, instead of translated into a different
/// change (found by a hostile review).
#[test]
fn commands_that_would_change_their_meaning_are_refused() {
    let dir = temp_dir("command-meaning");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let virsh =
        |ops: &str| format!("<virsh xmlns=\"urn:hvxform:virsh:1\" domain=\"proof\">{ops}</virsh>");
    let reconfig = |spec: &str| {
        format!("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">vm-42</_this><spec>{spec}</spec></ReconfigVM_Task></soapenv:Body></soapenv:Envelope>")
    };
    let nic_edit = |ty: &str, start: &str, net: &str| {
        reconfig(&format!("<deviceChange><operation>edit</operation><device xsi:type=\"{ty}\"><key>207</key><backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\"><deviceName>{net}</deviceName></backing><connectable><startConnected>{start}</startConnected><allowGuestControl>true</allowGuestControl><connected>false</connected></connectable><controllerKey>100</controllerKey><unitNumber>8</unitNumber><addressType>manual</addressType><macAddress>52:54:00:c0:00:02</macAddress></device></deviceChange>"))
    };
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            write("maxmem.xml", &virsh("<setmaxmem kib=\"4194304\" config=\"yes\"/><setmem kib=\"2097152\" config=\"yes\"/>")),
            vec!["--to", "vsphere", "--param", "vm=vm-42"],
            "setmaxmem 4194304 KiB with setmem 2097152 KiB",
        ),
        (
            write("maxmem-alone.xml", &virsh("<setmaxmem kib=\"4194304\" config=\"yes\"/>")),
            vec!["--to", "vsphere", "--param", "vm=vm-42"],
            "setmaxmem 4194304 KiB without setmem",
        ),
        (
            write("setmem-0.xml", &virsh("<setmem kib=\"0\" config=\"yes\"/>")),
            vec!["--to", "vsphere", "--param", "vm=vm-42"],
            "setmem 0 KiB: a VM needs at least 1 MiB",
        ),
        (
            write("memory-neg.xml", &reconfig("<memoryMB>-1</memoryMB>")),
            vec!["--to", "kvm", "--param", "domain=web"],
            "memoryMB -1: a VM needs at least 1 MiB",
        ),
        (
            write("cpus-0.xml", &reconfig("<numCPUs>0</numCPUs>")),
            vec!["--to", "kvm", "--param", "domain=web"],
            "numCPUs 0: a VM needs at least one vCPU",
        ),
        (
            write("nic-start.xml", &nic_edit("VirtualE1000", "false", "VM Network")),
            vec!["--to", "kvm", "--context", CTX],
            "changes more than its network (startConnected",
        ),
        (
            write("nic-model.xml", &nic_edit("VirtualVmxnet3", "true", "VM Network")),
            vec!["--to", "kvm", "--context", CTX],
            "changes its type (VirtualE1000 to VirtualVmxnet3)",
        ),
    ];
    for (file, args, says) in cases {
        let mut a = vec![file.as_str()];
        a.extend(args);
        refused(&a, says);
    }
    // Both sizes the same: one memory size, translated.
    let same = write(
        "maxmem-same.xml",
        &virsh(
            "<setmaxmem kib=\"4194304\" config=\"yes\"/><setmem kib=\"4194304\" config=\"yes\"/>",
        ),
    );
    let o = command(&[&same, "--to", "vsphere", "--param", "vm=vm-42"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("<memoryMB>4096</memoryMB>"),
        "{}",
        stdout(&o)
    );
    // A destroyed disk is detached on KVM, its image kept: said.
    let destroy = write("destroy.xml", &reconfig("<deviceChange><operation>remove</operation><fileOperation>destroy</fileOperation><device xsi:type=\"VirtualDisk\"><key>204</key></device></deviceChange>"));
    let o = command(&[&destroy, "--to", "kvm", "--context", CTX]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("keeps its image"), "{}", stderr(&o));
}

/// `-o` never replaces a file the run reads or keeps (the command, the
/// context, the session store): a usage error before anything is written.
/// `--update-context` writes through a symbolic link, keeping the file's
/// permissions (it replaced the link with a file, and 0600 with 0644).
#[test]
fn the_translation_replaces_no_input_and_the_context_stays_where_it_is() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("command-own-files");
    let ctx = dir.join("ctx.xml");
    let cmd = dir.join("cmd.xml");
    let store = dir.join("s.yaml");
    std::fs::copy(common::root().join(CTX), &ctx).unwrap();
    std::fs::copy(common::root().join("samples/commands/remove-nic.xml"), &cmd).unwrap();
    std::fs::write(&store, "").unwrap();
    let (c, m, s) = (
        ctx.to_str().unwrap(),
        cmd.to_str().unwrap(),
        store.to_str().unwrap(),
    );
    let same_cmd = dir.join(".").join("cmd.xml");
    for (out, what) in [
        (c, "the context"),
        (same_cmd.to_str().unwrap(), "the command"),
        (s, "the session store"),
    ] {
        let before = [
            std::fs::read(&ctx).unwrap(),
            std::fs::read(&cmd).unwrap(),
            std::fs::read(&store).unwrap(),
        ];
        let o = command(&[m, "--to", "kvm", "--context", c, "--session", s, "-o", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("the translation would replace {what}")),
            "{}",
            stderr(&o)
        );
        let after = [
            std::fs::read(&ctx).unwrap(),
            std::fs::read(&cmd).unwrap(),
            std::fs::read(&store).unwrap(),
        ];
        assert_eq!(before, after, "{out}");
    }
    // The context through a link, private to its owner.
    let real = dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::rename(&ctx, real.join("ctx.xml")).unwrap();
    std::fs::set_permissions(real.join("ctx.xml"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("real/ctx.xml", &ctx).unwrap();
    let before = std::fs::read(real.join("ctx.xml")).unwrap();
    let o = command(&[m, "--to", "kvm", "--context", c, "--update-context"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&ctx)
        .unwrap()
        .file_type()
        .is_symlink());
    let meta = std::fs::metadata(real.join("ctx.xml")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_ne!(
        std::fs::read(real.join("ctx.xml")).unwrap(),
        before,
        "the linked file is updated"
    );
}

/// The qemu-img command an action prints is one a shell runs as shown: a
/// path with a space or `$(…)` is quoted (it was printed bare).
#[test]
fn an_actions_command_is_shell_quoted() {
    let dir = temp_dir("command-quoted");
    let text =
        std::fs::read_to_string(common::root().join("samples/commands/add-disk.xml")).unwrap();
    assert!(text.contains("proof-add/proof-add.vmdk"));
    let cmd = dir.join("add.xml");
    std::fs::write(
        &cmd,
        text.replace("proof-add/proof-add.vmdk", "my vm/disk $(id).vmdk"),
    )
    .unwrap();
    let o = command(&[cmd.to_str().unwrap(), "--to", "kvm", "--context", CTX]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("qemu-img create -f qcow2 '/vmfs/volumes/LocalDS_0/my vm/disk $(id).qcow2' "),
        "{}",
        stderr(&o)
    );
}
