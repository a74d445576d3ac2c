//! The command line, run as a user would: exit codes, stdout vs -o, naming,
//! atomic writes, and the main error messages.

mod common;
use common::*;

#[test]
fn transform_sample_to_stdout() {
    let o = run(&["transform", "samples/kvm/web.xml", "--to", "vsphere"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let doc = roxmltree::Document::parse(&out).unwrap();
    assert_eq!(
        doc.root_element().tag_name().name(),
        "VirtualMachineConfigSpec"
    );
    assert_eq!(doc.root_element().tag_name().namespace(), Some("urn:vim25"));
    assert!(stderr(&o).contains("1 of 1 input(s) converted"));
}

#[test]
fn several_targets_need_an_output_dir_and_get_deterministic_names() {
    let o = run(&["transform", "samples/kvm/web.xml", "--to", "vsphere,hvx"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("-o DIR"));
    let dir = temp_dir("names");
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "--to",
        "hvx",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = file_names(&dir);
    assert_eq!(names, ["web.hvx.xml", "web.vsphere.xml"]);
}

#[test]
fn malformed_xml_names_file_line_and_column() {
    let dir = temp_dir("malformed");
    let f = dir.join("bad.xml");
    std::fs::write(&f, "<domain>\n  <name>x</nme>\n</domain>\n").unwrap();
    let o = run(&["transform", f.to_str().unwrap(), "--to", "vsphere"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("bad.xml:2:"), "{e}");
    assert!(e.contains("malformed XML"), "{e}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn unknown_platform_is_a_usage_error_with_a_suggestion() {
    let o = run(&["transform", "samples/kvm/web.xml", "--to", "vspere"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("did you mean `vsphere`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn undetectable_input_says_what_was_seen_and_tried() {
    let dir = temp_dir("undetectable");
    let f = dir.join("x.xml");
    std::fs::write(&f, "<inventory/>").unwrap();
    let o = run(&["transform", f.to_str().unwrap(), "--to", "kvm"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("<inventory>") && e.contains("tried kvm"), "{e}");
}

#[test]
fn unreadable_input_fails_with_its_name() {
    let o = run(&["transform", "no/such/file.xml", "--to", "kvm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no/such/file.xml"));
}

#[test]
fn unwritable_output_dir_exits_2_and_writes_nothing() {
    let dir = temp_dir("unwritable");
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let into = |out: &std::path::Path| {
        run(&[
            "transform",
            "samples/kvm/web.xml",
            "--to",
            "vsphere",
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let o = into(&file.join("sub"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    // -o naming a file says so.
    let o = into(&file);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a file, not a directory: -o names the directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn a_bad_file_among_good_ones_fails_alone() {
    let dir = temp_dir("mixed");
    let inp = dir.join("in");
    std::fs::create_dir(&inp).unwrap();
    std::fs::copy(root().join("samples/kvm/web.xml"), inp.join("web.xml")).unwrap();
    std::fs::copy(root().join("samples/kvm/db.xml"), inp.join("db.xml")).unwrap();
    std::fs::write(inp.join("broken.xml"), "<domain>").unwrap();
    let out = dir.join("out");
    let o = run(&[
        "transform",
        inp.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("broken.xml") && e.contains("2 of 3 input(s) converted"),
        "{e}"
    );
    let names = file_names(&out);
    assert_eq!(names, ["db.vsphere.xml", "web.vsphere.xml"]);
}

#[test]
fn names_from_data_cannot_escape_the_output_dir() {
    let dir = temp_dir("escape");
    let maps = dir.join("maps");
    std::fs::create_dir(&maps).unwrap();
    std::fs::write(
        maps.join("kvm-to-hvx.hvx"),
        "mapping \"evil\" { from kvm to hvx version \"1\" }\nunmapped copy;\ndocument main name /domain/name { <vm> = /domain/name; }\n",
    )
    .unwrap();
    let f = dir.join("evil.xml");
    std::fs::write(&f, "<domain><name>../../etc/passwd</name></domain>").unwrap();
    let out = dir.join("out");
    let o = run(&[
        "transform",
        f.to_str().unwrap(),
        "--to",
        "hvx",
        "--mappings",
        maps.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not allowed in a file name")
            || stderr(&o).contains("leave the output directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn report_is_versioned_json_with_unmapped_nodes_and_disk_mappings() {
    let dir = temp_dir("report");
    let rep = dir.join("r.json");
    let o = run(&[
        "transform",
        "samples/kvm/db.xml",
        "--to",
        "vsphere",
        "-o",
        dir.to_str().unwrap(),
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    let input = &v["inputs"][0];
    assert_eq!(input["ok"], true);
    let warnings = input["warnings"].as_array().unwrap();
    assert!(warnings
        .iter()
        .any(|w| w["message"].as_str().unwrap().contains("qemu-img")));
    assert!(input["unmapped"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["line"].as_u64().unwrap() > 0));
}

#[test]
fn deny_loss_turns_unmapped_input_into_an_error() {
    let dir = temp_dir("denyloss");
    let o = run(&[
        "transform",
        "samples/kvm/db.xml",
        "--to",
        "vsphere",
        "-o",
        dir.to_str().unwrap(),
        "--deny-loss",
        "--no-carry",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--deny-loss"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // With the original carried in the spec, nothing is lost.
    let o = run(&[
        "transform",
        "samples/kvm/db.xml",
        "--to",
        "vsphere",
        "-o",
        dir.to_str().unwrap(),
        "--deny-loss",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn unknown_param_is_a_usage_error() {
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "--param",
        "nope=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "transform",
        "samples/kvm/win-uefi.xml",
        "--to",
        "vsphere",
        "--param",
        "hardware_version=vmx-13",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("<version>vmx-14</version>"),
        "a TPM raises the hardware version"
    );
}

#[test]
fn check_shipped_mappings_is_clean_and_formats_are_versioned() {
    let o = run(&["check", "--deny-warnings"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Each shipped library alone, as a user checks the one they copied:
    // it uses what it needs and declares the prefixes it writes.
    let libs: Vec<_> = walk(&root().join("mappings/lib"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "hvx"))
        .collect();
    assert!(libs.len() >= 8, "{libs:?}");
    for lib in &libs {
        let o = run(&["check", "--deny-warnings", lib.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            lib.display(),
            stderr(&o)
        );
    }
    let dir = temp_dir("check");
    let bad = dir.join("bad.hvx");
    std::fs::write(
        &bad,
        "mapping \"x\" { from kvm to hvx }\nunmapped report;\non domain { <vm> = $nope; }\n",
    )
    .unwrap();
    let o = run(&["check", bad.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["diagnostics"][0]["code"], "hvx::undefined-variable");
    assert_eq!(v["diagnostics"][0]["primary"]["line"], 3);
    let o = run(&["check", bad.to_str().unwrap(), "--format", "github"]);
    assert!(stdout(&o).starts_with("::error file="), "{}", stdout(&o));
    assert!(stdout(&o).contains(",line=3,col=20,"), "{}", stdout(&o));
    let o = run(&["check", bad.to_str().unwrap(), "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(
        v["runs"][0]["results"][0]["ruleId"],
        "hvx::undefined-variable"
    );
    let o = run(&["check", "no-such.hvx"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn platforms_detect_completions_and_man() {
    let o = run(&["platforms"]);
    assert_eq!(o.status.code(), Some(0));
    let routes = stdout(&o);
    let kvm = routes
        .lines()
        .find(|l| l.starts_with("  kvm      -> "))
        .unwrap_or("");
    assert!(
        kvm.contains("kvm,") && kvm.contains("vsphere") && kvm.ends_with("hvx"),
        "{routes}"
    );
    let o = run(&[
        "detect",
        "samples/kvm/web.xml",
        "tests/corpus/vsphere-vim25",
    ]);
    assert!(
        stdout(&o).contains("samples/kvm/web.xml: kvm (root element <domain> without a namespace)")
    );
    assert_eq!(o.status.code(), Some(1), "a directory is not a file");
    let o = run(&["completions", "bash"]);
    assert!(stdout(&o).contains("hvxform"));
    let o = run(&["man"]);
    assert!(stdout(&o).contains(".TH hvxform"));
}

#[test]
fn help_is_stable() {
    let o = run(&["--help"]);
    insta::assert_snapshot!("help", stdout(&o));
    let o = run(&["transform", "--help"]);
    insta::assert_snapshot!("transform_help", stdout(&o));
}

#[test]
fn utf16_input_with_bom_converts() {
    let dir = temp_dir("utf16");
    let text = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let f = dir.join("web16.xml");
    std::fs::write(&f, bytes).unwrap();
    let o = run(&["transform", f.to_str().unwrap(), "--to", "vsphere"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("<name>web</name>"));
}

#[test]
fn main_error_messages_are_stable() {
    let cases: &[(&str, &[&str])] = &[
        (
            "unknown_platform",
            &["transform", "samples/kvm/web.xml", "--to", "vspere"],
        ),
        (
            "undetectable",
            &["transform", "schema/hvx.rng", "--to", "kvm"],
        ),
        (
            "malformed_and_unparsable",
            &[
                "transform",
                "tests/cli-inputs/mixed",
                "--to",
                "vsphere",
                "-o",
                "target/test-tmp/snap-out",
            ],
        ),
        ("missing_file", &["transform", "no/such.xml", "--to", "kvm"]),
        (
            "several_outputs_no_dir",
            &["transform", "samples/kvm/web.xml", "--to", "kvm,vsphere"],
        ),
        (
            "unknown_param",
            &[
                "transform",
                "samples/kvm/web.xml",
                "--to",
                "vsphere",
                "--param",
                "hw=1",
            ],
        ),
        (
            "bad_param_syntax",
            &[
                "transform",
                "samples/kvm/web.xml",
                "--to",
                "vsphere",
                "--param",
                "oops",
            ],
        ),
        (
            "not_implemented_target",
            &["transform", "samples/kvm/web.xml", "--to", "hyperv"],
        ),
        (
            "check_broken_mapping",
            &[
                "check",
                "tests/diagnostics/undefined-variable.hvx",
                "--color",
                "never",
            ],
        ),
    ];
    for (name, args) in cases {
        let o = bin()
            .args(*args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!("exit: {:?}\n{}", o.status.code(), stderr(&o));
        insta::assert_snapshot!(format!("error_{name}"), text);
    }
}

#[test]
fn an_input_with_several_vms_yields_one_named_document_per_vm() {
    let dir = temp_dir("fanout");
    let f = root().join("tests/corpus/govmomi-ovf/virtualsystemcollection.ovf");
    let o = run(&[
        "transform",
        f.to_str().unwrap(),
        "--to",
        "kvm",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = file_names(&dir);
    assert_eq!(
        names,
        [
            "virtualsystemcollection.storage_server.kvm.xml",
            "virtualsystemcollection.web-server.kvm.xml"
        ]
    );
}

/// Several inputs with distinct names are written as they are converted; an
/// input with several documents still gets all of them, named.
#[test]
fn a_batch_with_fan_out_writes_every_document() {
    let dir = temp_dir("fanout-batch");
    let out = dir.join("out");
    let o = run(&[
        "transform",
        "tests/corpus/govmomi-ovf/virtualsystemcollection.ovf",
        "samples/kvm/web.xml",
        "samples/kvm/db.xml",
        "--to",
        "kvm",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names = file_names(&out);
    assert_eq!(
        names,
        [
            "db.kvm.xml",
            "virtualsystemcollection.storage_server.kvm.xml",
            "virtualsystemcollection.web-server.kvm.xml",
            "web.kvm.xml"
        ]
    );
    for n in &names {
        let text = std::fs::read_to_string(out.join(n)).unwrap();
        assert!(text.trim_end().ends_with("</domain>"), "{n}: {text}");
    }
}

#[test]
fn two_outputs_with_one_name_are_an_error_before_anything_is_written() {
    let dir = temp_dir("collision");
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(root().join("samples/kvm/web.xml"), other.join("web.xml")).unwrap();
    let out = dir.join("out");
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        other.join("web.xml").to_str().unwrap(),
        "samples/kvm/db.xml",
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("output `web.vsphere.xml` would also be written"),
        "{e}"
    );
    let names = file_names(&out);
    assert_eq!(
        names,
        ["db.vsphere.xml"],
        "only the input without a clash is written"
    );
}

/// VM identity through a session store: libvirt's domain id becomes vSphere's
/// instance UUID (minted deterministically) and comes back on the way home.
#[test]
fn vm_identity_survives_kvm_vsphere_kvm_with_a_store() {
    let dir = temp_dir("vmid");
    let text = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let f = dir.join("web.xml");
    std::fs::write(
        &f,
        text.replacen("<domain type='kvm'>", "<domain type='kvm' id='42'>", 1),
    )
    .unwrap();
    let store = dir.join("store.yaml");
    transform_with_store(&f, "vsphere", &dir, &store);
    let spec = std::fs::read_to_string(dir.join("web.vsphere.xml")).unwrap();
    let d = roxmltree::Document::parse(&spec).unwrap();
    let iu = d
        .descendants()
        .find(|n| n.has_tag_name("instanceUuid"))
        .and_then(|n| n.text())
        .unwrap()
        .to_string();
    assert_eq!(uuid_version(&iu), 5, "minted deterministically: {iu}");
    transform_with_store(&dir.join("web.vsphere.xml"), "kvm", &dir, &store);
    let back = std::fs::read_to_string(dir.join("web.vsphere.kvm.xml")).unwrap();
    let d = roxmltree::Document::parse(&back).unwrap();
    assert_eq!(d.root_element().attribute("id"), Some("42"));
}

fn uuid_version(u: &str) -> u32 {
    u.chars().nth(14).and_then(|c| c.to_digit(16)).unwrap_or(0)
}

/// Hostile nesting, in a mapping or in an input, is refused with a located
/// error, never a stack overflow.
#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let dir = temp_dir("nesting");
    let m = dir.join("deep.hvx");
    let depth = 100_000;
    std::fs::write(&m, format!("mapping \"d\" {{ from kvm to hvx version \"1\" }}\nunmapped report;\nfn f() -> int = {}1{};\n", "(".repeat(depth), ")".repeat(depth))).unwrap();
    let o = run(&["check", m.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("nested deeper than 100 levels"));
    // A flat chain of operators is as deep a tree: refused at its place;
    // the longest allowed, nested as deep as allowed, runs.
    for (op, n, code) in [
        (" + 1", 10_000, 1),
        (" and true", 1_001, 1),
        (" * 1", 1_000, 0),
    ] {
        std::fs::write(
            &m,
            format!(
                "mapping \"d\" {{ from kvm to hvx version \"1\" }}\nunmapped report;\nfn f() -> int = 1;\non domain {{ <vm> = {}1{}{}; }}\n",
                "(".repeat(99),
                op.repeat(n),
                ")".repeat(99)
            ),
        )
        .unwrap();
        let o = run(&["check", m.to_str().unwrap(), "--color", "never"]);
        assert_eq!(o.status.code(), Some(code), "{op}: {}", stderr(&o));
        if code == 1 {
            assert!(
                stderr(&o).contains("operators; at most 1000")
                    && stderr(&o).contains("deep.hvx:4:"),
                "{}",
                stderr(&o)
            );
        } else {
            let o = run(&["run", m.to_str().unwrap(), "samples/kvm/web.xml", "-q"]);
            assert!(stdout(&o).contains("<vm>1</vm>"), "{}", stderr(&o));
        }
    }
    let f = dir.join("deep.xml");
    std::fs::write(
        &f,
        format!(
            "<domain><name>x</name><memory>1</memory><metadata>{}{}</metadata></domain>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        ),
    )
    .unwrap();
    let o = run(&["transform", f.to_str().unwrap(), "--to", "vsphere"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nested deeper than 1024 levels"),
        "{}",
        stderr(&o)
    );
}

/// A device given where a file belongs is refused, not read until memory
/// runs out. Inputs and session stores go through the same reader with a
/// 1 GiB limit (unit-tested with a small limit in src/platform/input.rs);
/// mappings have 16 MiB, cheap enough to run here.
#[test]
fn endless_files_are_refused() {
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    // Binary: refused from its first block, before the rest is read.
    for (args, code) in [
        (&["check", "/dev/zero"][..], 2),
        (&["detect", "/dev/zero"], 1),
        (
            &["transform", "/dev/zero", "--to", "kvm", "-o", "/tmp/never"],
            1,
        ),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("/dev/zero: not a text file (a NUL byte at byte 0)"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // Text that never ends, from a pipe: cut off at the limit.
    let dir = temp_dir("endless-fifo");
    let fifo = dir.join("endless.hvx");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return;
    }
    let mut writer = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("yes '# a comment' > '{}'", fifo.display()))
        .spawn()
        .unwrap();
    let o = run(&["check", fifo.to_str().unwrap()]);
    let _ = writer.kill();
    let _ = writer.wait();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("endless.hvx: file is larger than 16 MiB"),
        "{}",
        stderr(&o)
    );
}

/// Diagnostics stay readable and bounded whatever the mapping: a label past
/// column 65,535 (miette cannot draw it) is named by position, and a
/// thousand copies of one rule give one diagnostic each, drawn without the
/// lines between far-apart labels.
#[test]
fn diagnostics_on_huge_mappings_are_bounded() {
    let dir = temp_dir("huge-diags");
    let long = dir.join("long.hvx");
    std::fs::write(
        &long,
        format!(
            "mapping \"t\" {{ from kvm to hvx version \"1\" }}\nunmapped report;\non domain {{ <vm> = {}$undefined; }}\n",
            " ".repeat(70_000)
        ),
    )
    .unwrap();
    let o = run(&["check", long.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "at {}:3:70020: not defined here (the line is too long to show)",
            long.display()
        )),
        "{}",
        stderr(&o)
    );
    let dup = dir.join("dup.hvx");
    let mut text =
        String::from("mapping \"d\" { from kvm to hvx version \"1\" }\nunmapped report;\n");
    for _ in 0..1000 {
        text.push_str("on disk { <disk/> }\n");
    }
    std::fs::write(&dup, text).unwrap();
    let o = run(&["check", dup.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.matches("hvx::conflicting-rules").count(), 999);
    assert!(err.len() < 1_000_000, "{} bytes of diagnostics", err.len());
    // The rule that fires (line 3) is far from line 1002: named in a note.
    let last = err.rsplit("hvx::conflicting-rules").next().unwrap();
    assert!(
        last.contains(&format!("note: the other rule ({}:3:1)", dup.display())),
        "{last}"
    );
    assert!(!last.contains(" 500 │"), "{last}");
}

/// `hvxform platforms | head -1`: when the reader goes away, hvxform stops
/// quietly as a Unix tool does (SIGPIPE), without a panic message.
#[test]
fn a_closed_pipe_stops_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    for args in [&["platforms"][..], &["completions", "bash"], &["man"]] {
        // Tests run in parallel: a child another test forks at that moment
        // may hold the pipe open a little longer, and the write succeed. So
        // a few tries; none may panic, and one at least must meet the
        // closed pipe.
        let mut stopped = 0;
        for _ in 0..5 {
            let mut child = common::bin()
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // The reader closes before anything is written.
            drop(child.stdout.take());
            let o = child.wait_with_output().unwrap();
            assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
            match o.status.signal() {
                Some(13) => stopped += 1,
                _ => assert!(o.status.success(), "{args:?}: {:?}", o.status),
            }
        }
        assert!(stopped > 0, "{args:?} never met the closed pipe");
    }
}

/// A route through the hub hands the hub over as a tree whose nodes know
/// the input node they were written from: what the second mapping reports
/// points into the file the user gave, not into a hub nobody sees.
#[test]
fn hub_stage_findings_point_into_the_input_file() {
    let dir = temp_dir("hub-positions");
    let report = dir.join("r.json");
    let input = root().join("samples/kvm/web.xml");
    let o = run(&[
        "transform",
        input.to_str().unwrap(),
        "--to",
        "xen",
        "-o",
        dir.join("out").to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let text = std::fs::read_to_string(&input).unwrap();
    let line = |n: u64| {
        text.lines()
            .nth(n as usize - 1)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let warnings = r["inputs"][0]["warnings"].as_array().unwrap();
    let at = |path: &str| {
        let w = warnings
            .iter()
            .find(|w| w["stage"] == "hub" && w["input"]["path"] == path)
            .unwrap_or_else(|| panic!("no hub warning at {path}: {warnings:?}"));
        line(w["input"]["line"].as_u64().unwrap())
    };
    assert!(
        at("/vm/nic").starts_with("<interface "),
        "{}",
        at("/vm/nic")
    );
    assert!(at("/vm/video").starts_with("<video"), "{}", at("/vm/video"));
    // Dropped hub nodes carry a position in the input too.
    let dropped = r["inputs"][0]["dropped"].as_array().unwrap();
    assert!(!dropped.is_empty());
    assert!(dropped
        .iter()
        .all(|d| d["stage"] == "hub" && d["line"].as_u64().unwrap() >= 1));
}

/// `detect DIR` inspects each file of the directory, as `transform DIR`
/// converts each; platform names are matched without case.
#[test]
fn detect_takes_a_directory_and_platform_names_ignore_case() {
    let dir = root().join("samples/kvm");
    let o = run(&["detect", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), samples("kvm").len(), "{lines:?}");
    assert!(lines.iter().all(|l| l.contains(": kvm (")), "{lines:?}");
    let web = root().join("samples/kvm/web.xml");
    let o = run(&[
        "transform",
        web.to_str().unwrap(),
        "--from",
        "KVM",
        "--to",
        "VSphere",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("<VirtualMachineConfigSpec"));
}

/// `-` is standard input, for transform and detect; with -o its outputs
/// are named `stdin.*`.
/// An input given twice is a usage error naming it, before anything is
/// read or written: the same path twice, the same file by two paths, a file
/// and its folder, standard input twice. Before, each copy failed with
/// "output would also be written for" itself, and a second `-` read an
/// empty standard input as "not a VM description".
#[test]
fn an_input_given_twice_is_a_usage_error() {
    let dir = temp_dir("twice");
    let inputs = dir.join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::copy(root().join("samples/kvm/web.xml"), inputs.join("web.xml")).unwrap();
    let web = inputs.join("web.xml");
    let web = web.to_str().unwrap();
    let other_path = format!("{}/../in/./web.xml", inputs.display());
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (vec![web, web], "web.xml: given twice"),
        (vec![web, &other_path], "the same file as"),
        (vec![web, inputs.to_str().unwrap()], "web.xml: given twice"),
        (vec!["-", "-"], "standard input (`-`) is given 2 times"),
    ] {
        let mut a = vec!["transform"];
        a.extend(&args);
        a.extend(["--to", "vsphere", "-o", out]);
        let o = run(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(
            std::fs::read_dir(out).map_or(true, |mut d| d.next().is_none()),
            "{args:?}: outputs written"
        );
    }
    // detect and run read their inputs once each too.
    for args in [
        vec!["detect", "-", "-"],
        vec!["run", "mappings/kvm-to-hvx.hvx", "-", "-"],
    ] {
        let o = bin()
            .args(&args)
            .current_dir(root())
            .stdin(std::fs::File::open(root().join("samples/kvm/web.xml")).unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("standard input (`-`) is given 2 times") && o.stdout.is_empty(),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn dash_reads_standard_input() {
    use std::io::Write;
    let text = std::fs::read(root().join("samples/kvm/web.xml")).unwrap();
    let feed = |args: &[&str]| {
        let mut child = common::bin()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&text).unwrap();
        child.wait_with_output().unwrap()
    };
    // `-o -` is not a folder named `-`.
    let o = run(&["transform", "samples/kvm/web.xml", "--to", "hvx", "-o", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("without -o the outputs go to stdout"),
        "{}",
        stderr(&o)
    );
    assert!(!root().join("-").exists());
    let o = feed(&["detect", "-"]);
    assert_eq!(
        stdout(&o),
        "-: kvm (root element <domain> without a namespace)\n"
    );
    let o = feed(&["transform", "-", "--to", "vsphere"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("<name>web</name>"), "{}", stdout(&o));
    let dir = temp_dir("stdin-out");
    let o = feed(&["transform", "-", "--to", "kvm", "-o", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(file_names(&dir), ["stdin.kvm.xml"]);
}

/// A parameter that only another route declares is not silently ignored.
#[test]
fn a_parameter_of_another_route_is_warned_about() {
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "kvm",
        "--param",
        "hardware_version=vmx-19",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "warning: --param hardware_version: no mapping on the route to kvm declares it; it is not used"
        ),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "--param",
        "hardware_version=vmx-19",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not used"), "{}", stderr(&o));
}

// ---- a newcomer's batches and messages (issue 21) -------------------------

/// `-r` converts the folders inside a folder, and the outputs mirror them:
/// two platform folders with the same stems do not collide. Files that are
/// no VM description are skipped with a note (an error with --strict), and a
/// folder of folders without -r says to use it.
#[test]
fn recursive_batches_mirror_folders_and_skip_other_files() {
    let src = temp_dir("rec-src");
    for (dir, file) in [
        ("kvm", "samples/kvm/web.xml"),
        ("ovf", "samples/ovf/web.ovf"),
    ] {
        let d = src.join("fleet").join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let name = std::path::Path::new(file).file_name().unwrap();
        std::fs::copy(root().join(file), d.join(name)).unwrap();
        std::fs::write(d.join("README.txt"), "exported on Monday\n").unwrap();
    }
    std::fs::write(src.join("fleet/.hidden.xml"), "<garbage").unwrap();
    let fleet = src.join("fleet");
    let out = temp_dir("rec-out");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "transform",
            fleet.to_str().unwrap(),
            "--to",
            "ovf,hvx",
            "-o",
        ];
        a.push(out.to_str().unwrap());
        a.extend_from_slice(extra);
        run(&a)
    };
    // Without -r: a folder of folders is refused with the hint.
    let o = args(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("-r converts"), "{}", stderr(&o));
    assert!(walk(&out).is_empty());

    let o = args(&["-r"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("2 of 2 input(s) converted"), "{e}");
    assert!(e.contains("2 file(s) skipped"), "{e}");
    assert!(
        e.contains("note: skipped") && e.contains("README.txt"),
        "{e}"
    );
    let mut got: Vec<String> = walk(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "kvm/web.hvx.xml",
            "kvm/web.ovf",
            "ovf/web.hvx.xml",
            "ovf/web.ovf"
        ]
    );

    // --strict: the README is an error, and its folder's VM is still converted.
    let out2 = temp_dir("rec-out-strict");
    let o = run(&[
        "transform",
        "-r",
        "--strict",
        fleet.to_str().unwrap(),
        "--to",
        "hvx",
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error:") && stderr(&o).contains("README.txt: not a VM description")
    );
}

/// An output may not replace its own input (`-o` the input's folder, and a
/// target whose file name is the input's).
#[test]
fn an_output_never_replaces_its_input() {
    let dir = temp_dir("replace-input");
    let f = dir.join("web.ovf");
    std::fs::copy(root().join("samples/ovf/web.ovf"), &f).unwrap();
    let before = std::fs::read(&f).unwrap();
    let o = run(&[
        "transform",
        f.to_str().unwrap(),
        "--to",
        "ovf",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("would replace this input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert_eq!(file_names(&dir), ["web.ovf"]);
}

/// Usage errors exit 2 before anything is converted: a parameter value of
/// the wrong type or outside its declared values, a report that cannot be
/// written. A parameter is checked against the route's own mapping (the
/// vmware `hardware_version` is an int, vSphere's a string).
#[test]
fn parameters_and_reports_are_checked_before_converting() {
    let out = temp_dir("param-domain");
    let o_ = out.to_str().unwrap();
    for (to, param, want) in [
        (
            "vsphere",
            "hardware_version=vmx-99",
            "is not one of `vmx-04`",
        ),
        ("vsphere", "disk_capacity_gib=lots", "expected an integer"),
        (
            "vsphere",
            "disk_capacity_gib=0",
            "is not an integer from 1 to 63488",
        ),
        ("vmware", "hardware_version=vmx-19", "expected an integer"),
        ("hyperv", "vhd_format=qcow2", "is not one of `vhd`, `vhdx`"),
    ] {
        let o = run(&[
            "transform",
            "samples/kvm/web.xml",
            "--to",
            to,
            "-o",
            o_,
            "--param",
            param,
        ]);
        assert_eq!(o.status.code(), Some(2), "{param}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{param}: {}", stderr(&o));
        assert!(walk(&out).is_empty(), "{param}: wrote {:?}", walk(&out));
    }
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "-o",
        o_,
        "--param",
        "hardware_version=vmx-21",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spec = std::fs::read_to_string(out.join("web.vsphere.xml")).unwrap();
    assert!(spec.contains("<version>vmx-21</version>"), "{spec}");

    let out = temp_dir("report-unwritable");
    let report = out.join("no-such-folder/report.json");
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot write the report"),
        "{}",
        stderr(&o)
    );
    assert!(
        walk(&out).is_empty(),
        "outputs written before the report failed"
    );
}

/// Messages for the wrong kind of file: located and naming what was
/// expected, never "the document has no root element".
#[test]
fn wrong_files_say_what_they_are() {
    let dir = temp_dir("wrong-files");
    let pom = dir.join("pom.xml");
    std::fs::write(&pom, r#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion></project>"#).unwrap();
    let o = run(&[
        "transform",
        pom.to_str().unwrap(),
        "--from",
        "kvm",
        "--to",
        "vsphere",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("pom.xml: not a VM description of --from kvm: saw root element <project>"),
        "{e}"
    );
    assert!(e.contains("a kvm document is <domain>"), "{e}");

    let o = run(&[
        "transform",
        "samples/ovf/web.ovf",
        "--from",
        "kvm",
        "--to",
        "vsphere",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--from kvm names the wrong platform: this document is ovf"),
        "{}",
        stderr(&o)
    );

    let ini = dir.join("settings.ini");
    std::fs::write(&ini, "[server]\nport = 80\n").unwrap();
    let o = run(&["transform", ini.to_str().unwrap(), "--to", "kvm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("settings.ini: not a VM description: it is not XML"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "transform",
        ini.to_str().unwrap(),
        "--from",
        "xen",
        "--to",
        "kvm",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("settings.ini:1:1:")
            && stderr(&o).contains("(read as xl.cfg: --from xen)"),
        "{}",
        stderr(&o)
    );

    let text = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let no_mem: String = text
        .lines()
        .filter(|l| !l.contains("<memory"))
        .map(|l| format!("{l}\n"))
        .collect();
    let f = dir.join("nomem.xml");
    std::fs::write(&f, no_mem).unwrap();
    for to in ["vsphere", "kvm"] {
        let o = run(&["transform", f.to_str().unwrap(), "--to", to]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("a libvirt domain needs <memory>"),
            "{to}: {}",
            stderr(&o)
        );
    }
}

/// A batch written as it goes keeps, of each written input's findings,
/// only what the summary shows: the first 50 actions, in input order, and
/// the counts; the summary is the one the whole findings give.
#[test]
fn a_batch_lists_its_first_actions_in_input_order_and_counts_all() {
    let d = temp_dir("actions");
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    std::fs::create_dir_all(d.join("in")).unwrap();
    for i in 0..40 {
        std::fs::write(d.join(format!("in/vm{i:02}.xml")), &web).unwrap();
    }
    let input = d.join("in").display().to_string();
    let out = |name: &str| d.join(name).display().to_string();
    let o = run(&["transform", &input, "--to", "hyperv", "-o", &out("a")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    let shown: Vec<&str> = e.lines().filter(|l| l.starts_with("action: ")).collect();
    assert!(
        e.contains("80 action(s) to take (the first 50 above; -v or --report FILE lists all); 80 warning(s) (-v shows them)"),
        "{e}"
    );
    // With -v every finding is kept: its first 50 actions are the ones shown.
    let v = run(&["-v", "transform", &input, "--to", "hyperv", "-o", &out("b")]);
    let ve = stderr(&v);
    let all: Vec<&str> = ve.lines().filter(|l| l.starts_with("action: ")).collect();
    assert_eq!(all.len(), 80, "{ve}");
    assert_eq!(shown, all[..50].to_vec());
    // In input order: two per input, vm00 to vm24.
    assert!(
        shown[0].contains("vm00.xml") && shown[49].contains("vm24.xml"),
        "{e}"
    );
}

/// What the user must do (convert images, install drivers) is printed by
/// default and counted; other warnings are counted and shown with -v.
#[test]
fn actions_are_shown_and_counted_by_default() {
    let o = run(&["transform", "samples/kvm/web.xml", "--to", "hyperv"]);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    let actions: Vec<&str> = e.lines().filter(|l| l.starts_with("action: ")).collect();
    assert_eq!(actions.len(), 2, "{e}");
    assert!(actions[0].contains("qemu-img convert -O vhdx"), "{e}");
    assert!(
        e.contains("2 action(s) to take (above); 2 warning(s) (-v shows them)"),
        "{e}"
    );
    let o = run(&["-q", "transform", "samples/kvm/web.xml", "--to", "hyperv"]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // -v shows the two warnings (besides what went unmapped).
    let o = run(&["-v", "transform", "samples/kvm/web.xml", "--to", "hyperv"]);
    let shown = stderr(&o)
        .lines()
        .filter(|l| l.starts_with("warning: ") && !l.contains(": unmapped ("))
        .count();
    assert_eq!(shown, 2, "{}", stderr(&o));
}

/// A batch whose stderr is not a terminal draws no progress bar.
#[test]
fn no_progress_bar_when_not_a_terminal() {
    let src = temp_dir("progress-src");
    for i in 0..25 {
        std::fs::copy(
            root().join("samples/kvm/db.xml"),
            src.join(format!("vm{i:02}.xml")),
        )
        .unwrap();
    }
    let out = temp_dir("progress-out");
    let o = run(&[
        "transform",
        src.to_str().unwrap(),
        "--to",
        "kvm",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        !e.contains('\u{1b}') && !e.contains('\r') && !e.contains('█'),
        "{e:?}"
    );
    assert!(e.contains("25 of 25 input(s) converted"), "{e}");
}

/// kvm → kvm through the hub reports nothing unmapped: the devices it
/// carries verbatim account for the hub's fields.
#[test]
fn kvm_to_kvm_reports_nothing_unmapped() {
    for f in samples("kvm") {
        let o = run(&["transform", f.to_str().unwrap(), "--to", "kvm"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            !stderr(&o).contains("unmapped"),
            "{}: {}",
            f.display(),
            stderr(&o)
        );
    }
}

/// `platforms` marks direct routes; every subcommand has a man page with
/// its options and the exit status; SARIF names no made-up address.
#[test]
fn platforms_man_pages_and_sarif() {
    let o = run(&["platforms"]);
    let out = stdout(&o);
    assert!(
        out.contains("vsphere*")
            && out.contains("direct mappings")
            && out.contains("kvm-to-vsphere.hvx"),
        "{out}"
    );
    let o = run(&["man", "transform"]);
    assert_eq!(o.status.code(), Some(0));
    let page = stdout(&o);
    assert!(page.contains(".TH hvxform-transform 1"), "{page}");
    assert!(
        page.contains("\\-\\-recursive") && page.contains("EXIT STATUS"),
        "{page}"
    );
    let o = run(&["man", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    let dir = temp_dir("man-pages");
    let o = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let pages = file_names(&dir);
    for p in [
        "hvxform.1",
        "hvxform-transform.1",
        "hvxform-check.1",
        "hvxform-session-show.1",
    ] {
        assert!(pages.iter().any(|n| n == p), "{pages:?}");
    }
    // Every page the main page lists in SEE ALSO / SUBCOMMANDS exists.
    let main = std::fs::read_to_string(dir.join("hvxform.1")).unwrap();
    for line in main
        .lines()
        .filter(|l| l.starts_with("hvxform\\-") && l.ends_with("(1)"))
    {
        let name = line.trim_end_matches("(1)").replace("\\-", "-");
        assert!(
            pages.contains(&format!("{name}.1")),
            "{name} listed, no page"
        );
    }
    let bad = root().join("tests/diagnostics/conflicting-rules.hvx");
    let o = run(&["check", bad.to_str().unwrap(), "--format", "sarif"]);
    assert!(!stdout(&o).contains("example.invalid"));
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "hvxform");
}

/// The limits that keep a 1 MB hostile file under a few seconds are
/// refusals with a located message (book: Limits and robustness).
#[test]
fn limits_refuse_inputs_that_would_take_too_long() {
    let dir = temp_dir("limits");
    let attrs: String = (0..2000).map(|i| format!(" a{i}=\"v\"")).collect();
    let crowded = dir.join("crowded.xml");
    std::fs::write(
        &crowded,
        format!("<domain type='kvm'>\n  <name{attrs}>x</name>\n</domain>\n"),
    )
    .unwrap();
    let keys: String = (0..10_001).map(|i| format!("k{i}.x = \"v\"\n")).collect();
    let vmx = dir.join("keys.vmx");
    std::fs::write(&vmx, format!("displayName = \"x\"\n{keys}")).unwrap();
    let disks: String = (0..300)
        .map(|i| format!("<disk type='file' device='disk'><source file='/a/{i}.img'/><target dev='sd{i}' bus='scsi'/></disk>"))
        .collect();
    let many = dir.join("many.xml");
    std::fs::write(&many, format!("<domain type='kvm'><name>m</name><memory unit='KiB'>1048576</memory><devices>{disks}</devices></domain>")).unwrap();
    for (f, to, want) in [
        (&crowded, "kvm", "crowded.xml:2:3: an element with 1025 attributes or more; hvxform reads at most 1024 per element"),
        (&vmx, "kvm", "keys.vmx:10001:1: more than 10000 settings"),
        (&many, "xen", "300 drives: hvxform converts VMs of at most 256 drives"),
        (&many, "vsphere", "300 drives: hvxform converts VMs of at most 256 drives"),
    ] {
        let out = dir.join(format!("out-{to}"));
        let o = run(&["transform", f.to_str().unwrap(), "--to", to, "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(walk(&out).is_empty());
    }
}

/// `run` refuses a document of another platform than the mapping's `from`
/// (a kvm mapping on a vSphere document), naming both, unless `--force`.
#[test]
fn run_refuses_a_document_of_another_platform() {
    let o = run(&[
        "run",
        "mappings/kvm-to-hvx.hvx",
        "samples/vsphere/web.xml",
        "--color",
        "never",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("samples/vsphere/web.xml: this document is vsphere")
            && err.contains("the mapping reads kvm")
            && err.contains("--force"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    // Forced, the mapping runs (and finds no <domain> in it).
    let o = run(&[
        "run",
        "--force",
        "mappings/kvm-to-hvx.hvx",
        "samples/vsphere/web.xml",
    ]);
    assert!(
        !stderr(&o).contains("this document is vsphere"),
        "{}",
        stderr(&o)
    );
    // The right platform runs as before.
    let o = run(&["run", "mappings/kvm-to-hvx.hvx", "samples/kvm/web.xml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The language reference's fan-out example, used as a user's mapping with
/// `transform --mappings DIR -o DIR`, writes the names the book gives
/// (`<stem>.<name>.<target>.<ext>`).
#[test]
fn fan_out_example_names_its_files_as_the_book_says() {
    let maps = temp_dir("fan-out-maps");
    std::fs::copy(
        root().join("tests/lang/fan-out/mapping.hvx"),
        maps.join("ovf-to-hvx.hvx"),
    )
    .unwrap();
    let out = temp_dir("fan-out-out");
    let o = run(&[
        "transform",
        "tests/lang/fan-out/input.xml",
        "--to",
        "hvx",
        "--mappings",
        maps.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        file_names(&out),
        [
            "input.inventory.hvx.xml",
            "input.shop-db.hvx.xml",
            "input.shop-web.hvx.xml"
        ]
    );
}

/// A mapping `to cmdb` in --mappings DIR makes `cmdb` a target (and a
/// source with --from), its documents named `<stem>.cmdb.xml`; without the
/// directory the name is refused with what it needs.
#[test]
fn a_platform_of_ones_own_is_a_target_with_its_mappings() {
    let maps = temp_dir("user-platform-maps");
    std::fs::write(
        maps.join("kvm-to-cmdb.hvx"),
        r#"mapping "kvm-to-cmdb" { from kvm to cmdb version "1" }
unmapped report;
on domain { <asset name={name} cpus={vcpu}/> }
"#,
    )
    .unwrap();
    std::fs::write(
        maps.join("cmdb-to-hvx.hvx"),
        r#"mapping "cmdb-to-hvx" { from cmdb to hvx version "1" }
unmapped report;
output namespace "urn:hvxform:hvx:1";
on asset { <vm> { <name> = @name; } }
"#,
    )
    .unwrap();
    let out = temp_dir("user-platform-out");
    let m = maps.to_str().unwrap();
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "cmdb",
        "--mappings",
        m,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(file_names(&out), ["web.cmdb.xml"]);
    let asset = std::fs::read_to_string(out.join("web.cmdb.xml")).unwrap();
    assert!(asset.contains(r#"<asset name="web" cpus="2"/>"#), "{asset}");
    // ... and back, as a source named with --from.
    let o = run(&[
        "transform",
        out.join("web.cmdb.xml").to_str().unwrap(),
        "--from",
        "cmdb",
        "--to",
        "hvx",
        "--mappings",
        m,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("<name>web</name>"), "{}", stdout(&o));
    // Without the mappings, the name is unknown, and the error says why.
    let o = run(&["transform", "samples/kvm/web.xml", "--to", "cmdb"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("needs its mappings in --mappings DIR"),
        "{}",
        stderr(&o)
    );
}

/// `run` takes several inputs: printed one after the other, or written
/// with -o as transform names them (the mapping's `to` as the target), with
/// a JSON report; --deny-loss fails an input with unmapped nodes and writes
/// none of its documents.
#[test]
fn run_takes_several_inputs_with_output_report_and_deny_loss() {
    let o = run(&[
        "run",
        "mappings/kvm-to-hvx.hvx",
        "samples/kvm/web.xml",
        "samples/kvm/db.xml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("<!-- input samples/kvm/web.xml -->")
            && out.contains("<!-- input samples/kvm/db.xml -->")
            && out.contains("<name>db</name>"),
        "{out}"
    );
    let dir = temp_dir("run-several");
    let report = dir.join("report.json");
    let outd = dir.join("out");
    let o = run(&[
        "run",
        "mappings/kvm-to-hvx.hvx",
        "samples/kvm/web.xml",
        "samples/kvm/db.xml",
        "-o",
        outd.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert_eq!(file_names(&outd), ["db.hvx.xml", "web.hvx.xml"]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let inputs = r["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert!(inputs.iter().all(|i| i["ok"] == true), "{r}");
    // kvm-to-vsphere leaves nodes of web.xml unmapped: --deny-loss fails it.
    let denied = dir.join("denied");
    let o = run(&[
        "run",
        "mappings/kvm-to-vsphere.hvx",
        "samples/kvm/web.xml",
        "-o",
        denied.to_str().unwrap(),
        "--deny-loss",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("input node(s) unmapped and --deny-loss is set; first: 1:9 /domain/@type"),
        "{}",
        stderr(&o)
    );
    assert!(file_names(&denied).is_empty());
}

/// `run --report` into a folder that does not exist is refused before
/// anything is written.
#[test]
fn run_checks_the_report_before_writing() {
    let dir = temp_dir("run-report-first");
    let outd = dir.join("out");
    let o = run(&[
        "run",
        "mappings/kvm-to-hvx.hvx",
        "samples/kvm/web.xml",
        "-o",
        outd.to_str().unwrap(),
        "--report",
        dir.join("missing/report.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the report"),
        "{}",
        stderr(&o)
    );
    assert!(!outd.exists());
}

/// A folder with nothing to convert is exit 1, as the book's table says:
/// an empty folder (nothing written, no output folder made), and a folder
/// whose files all describe no VM (its VMs in a folder inside it, without
/// -r: the message says -r).
#[test]
fn a_folder_with_nothing_to_convert_is_an_error() {
    let src = temp_dir("nothing-src");
    let empty = src.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = src.join("out");
    let o = run(&[
        "transform",
        empty.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no files in this folder: nothing to convert"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());

    let fleet = src.join("fleet");
    std::fs::create_dir_all(fleet.join("vms")).unwrap();
    std::fs::copy(
        root().join("samples/kvm/web.xml"),
        fleet.join("vms/web.xml"),
    )
    .unwrap();
    std::fs::write(fleet.join("README.md"), "the VMs are in vms/\n").unwrap();
    let o = run(&[
        "transform",
        fleet.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("nothing to convert: the 1 file(s) found describe no VM"),
        "{e}"
    );
    assert!(e.contains("-r converts"), "{e}");
    assert!(walk(&out).is_empty());
    let o = run(&[
        "transform",
        "-r",
        fleet.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// A failed run keeps the last run's outputs, and an output never replaces
/// another input of the run, nor the report an input or an output.
#[test]
fn a_failed_run_keeps_what_was_there() {
    let dir = temp_dir("keeps");
    let web = root().join("samples/kvm/web.xml");
    let out = dir.join("out");
    let args = |o: &std::path::Path| {
        run(&[
            "-q",
            "transform",
            web.to_str().unwrap(),
            "--to",
            "kvm,vsphere,hvx",
            "-o",
            o.to_str().unwrap(),
        ])
    };
    assert_eq!(args(&out).status.code(), Some(0));
    let before = std::fs::read_to_string(out.join("web.vsphere.xml")).unwrap();
    std::fs::write(out.join("web.vsphere.xml"), "last run's").unwrap();
    // The hub's output cannot be written: a folder is in its place.
    std::fs::remove_file(out.join("web.hvx.xml")).unwrap();
    std::fs::create_dir_all(out.join("web.hvx.xml").join("x")).unwrap();
    let o = args(&out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("web.hvx.xml"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("web.vsphere.xml")).unwrap(),
        "last run's"
    );
    assert!(out.join("web.kvm.xml").is_file());
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["web.hvx.xml", "web.kvm.xml", "web.vsphere.xml"]);
    assert!(before.contains("VirtualMachineConfigSpec"));

    // web.xml → web.ec2.xml would replace the EC2 input beside it.
    let vms = dir.join("vms");
    std::fs::create_dir_all(&vms).unwrap();
    std::fs::copy(&web, vms.join("web.xml")).unwrap();
    let ec2 = std::fs::read(root().join("samples/ec2/web.xml")).unwrap();
    std::fs::write(vms.join("web.ec2.xml"), &ec2).unwrap();
    let o = run(&[
        "transform",
        vms.to_str().unwrap(),
        "--to",
        "ec2",
        "-o",
        vms.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("would replace input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(vms.join("web.ec2.xml")).unwrap(), ec2);

    // The report may be neither an input nor an output.
    let input = dir.join("in.xml");
    std::fs::copy(&web, &input).unwrap();
    let o = run(&[
        "transform",
        input.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        dir.join("o3").to_str().unwrap(),
        "--report",
        input.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("would replace input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&input).unwrap(), std::fs::read(&web).unwrap());
    let o4 = dir.join("o4");
    let o = run(&[
        "transform",
        web.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        o4.to_str().unwrap(),
        "--report",
        o4.join("web.vsphere.xml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("would replace output"),
        "{}",
        stderr(&o)
    );
    assert!(!o4.join("web.vsphere.xml").exists());
    // Two inputs, whose outputs would otherwise be written as they come.
    let db = root().join("samples/kvm/db.xml");
    let o = run(&[
        "transform",
        web.to_str().unwrap(),
        db.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        o4.to_str().unwrap(),
        "--report",
        o4.join("db.vsphere.xml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!o4.join("db.vsphere.xml").exists());
}

/// `-r` follows links to folders (a host's export mounted by a link), says
/// when a link points at nothing, and does not convert its own outputs
/// again when -o is inside the input folder.
#[test]
fn recursive_batches_follow_links_and_skip_their_outputs() {
    let dir = temp_dir("links");
    let fleet = dir.join("fleet");
    std::fs::create_dir_all(fleet.join("hostA")).unwrap();
    std::fs::create_dir_all(dir.join("nfs/hostB")).unwrap();
    std::fs::copy(
        root().join("samples/kvm/web.xml"),
        fleet.join("hostA/web.xml"),
    )
    .unwrap();
    std::fs::copy(
        root().join("samples/kvm/db.xml"),
        dir.join("nfs/hostB/db.xml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.join("nfs/hostB"), fleet.join("hostB")).unwrap();
    let out = dir.join("out");
    let o = run(&[
        "-q",
        "transform",
        "-r",
        fleet.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("hostB/db.vsphere.xml").is_file());
    std::os::unix::fs::symlink(dir.join("gone.xml"), fleet.join("hostA/gone.xml")).unwrap();
    let o = run(&[
        "-q",
        "transform",
        "-r",
        fleet.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("gone.xml"), "{}", stderr(&o));
    std::fs::remove_file(fleet.join("hostA/gone.xml")).unwrap();

    let inside = fleet.join("converted");
    for _ in 0..3 {
        let o = run(&[
            "-q",
            "transform",
            "-r",
            fleet.to_str().unwrap(),
            "--to",
            "vsphere",
            "-o",
            inside.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert!(!inside.join("converted").exists());
}

/// --deny-loss refuses the input, and still lists what was lost (-v and
/// the report).
#[test]
fn deny_loss_reports_what_it_refused() {
    let dir = temp_dir("deny-report");
    let report = dir.join("r.json");
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "--no-carry",
        "--deny-loss",
        "-o",
        dir.join("out").to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let entry = &r["inputs"][0];
    assert_eq!(entry["ok"], false);
    assert_eq!(entry["outputs"].as_array().unwrap().len(), 0);
    let unmapped = entry["unmapped"].as_array().unwrap();
    let said: usize = stderr(&o)
        .split(" input node(s) unmapped")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(said > 0);
    assert_eq!(unmapped.len(), said, "{}", stderr(&o));
}

/// Text in a charset other than UTF-8: read where it is declared, and
/// otherwise an error at the line and column of the first byte that is not
/// UTF-8, saying what was declared.
#[test]
fn inputs_in_other_charsets() {
    let dir = temp_dir("charsets");
    let web = std::fs::read(root().join("samples/kvm/web.xml")).unwrap();
    let text = String::from_utf8(web)
        .unwrap()
        .replace("<name>web<", "<name>caf\u{e9}<");
    let latin1: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    let mut declared = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n".to_vec();
    declared.extend_from_slice(&latin1);
    std::fs::write(dir.join("l1.xml"), &declared).unwrap();
    let o = run(&[
        "transform",
        dir.join("l1.xml").to_str().unwrap(),
        "--to",
        "kvm",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("<name>caf\u{e9}</name>"));
    std::fs::write(dir.join("bare.xml"), &latin1).unwrap();
    let o = run(&[
        "transform",
        dir.join("bare.xml").to_str().unwrap(),
        "--to",
        "kvm",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bare.xml:2:12: byte 0xE9"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        dir.join("sj.vmx"),
        b".encoding = \"Shift_JIS\"\ndisplayName = \"\x93\xfa\"\nmemSize = \"1024\"\n",
    )
    .unwrap();
    let o = run(&[
        "transform",
        dir.join("sj.vmx").to_str().unwrap(),
        "--to",
        "kvm",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("sj.vmx:2:16:") && stderr(&o).contains("Shift_JIS"),
        "{}",
        stderr(&o)
    );
}

/// `check DIR` checks the mappings in the folders inside it too (libraries
/// through the mappings that use them), and a folder without a mapping is
/// an error: a CI gate that checked nothing must not pass. A library named
/// twice under two spellings is loaded once.
#[test]
fn check_of_a_folder_checks_every_mapping_or_fails() {
    let o = run(&["check", "mappings"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let n: usize = stderr(&o)
        .split("checked ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    // The route mappings and the command mappings (mappings/commands/).
    let commands = std::fs::read_dir(root().join("mappings/commands"))
        .unwrap()
        .count();
    assert!(n >= 15 + commands, "{}", stderr(&o));
    let dir = temp_dir("check-dirs");
    std::fs::create_dir_all(dir.join("empty/sub")).unwrap();
    let o = run(&["check", dir.join("empty").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no .hvx files"), "{}", stderr(&o));
    std::fs::create_dir_all(dir.join("nested/sub/lib")).unwrap();
    std::fs::write(dir.join("nested/sub/broken.hvx"), "this is not a mapping\n").unwrap();
    let o = run(&["check", dir.join("nested").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    std::fs::write(dir.join("nested/sub/lib/x.hvx"), "fn seven() -> int = 7;\n").unwrap();
    std::fs::write(
        dir.join("nested/sub/broken.hvx"),
        "mapping \"t\" { from kvm to hvx version \"1\" }\nunmapped report;\nuse \"lib/x.hvx\";\nuse \"./lib/x.hvx\";\nuse \"lib//x.hvx\";\non domain { <vm> = seven(); }\n",
    )
    .unwrap();
    let o = run(&["check", dir.join("nested").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// A file name with terminal escapes (or an input value with C1 controls)
/// reaches the terminal as `\u{1b}` text: it cannot recolour the output,
/// move the cursor or reorder what the user reads.
#[test]
fn control_characters_never_reach_the_terminal() {
    let dir = temp_dir("terminal-escapes");
    let bad = dir.join("\u{1b}[31mred\u{9b}2J.xml");
    std::fs::write(&bad, "<domain><name>x</name>").unwrap();
    let good = dir.join("\u{1b}]0;title\u{7}ok.xml");
    std::fs::copy(root().join("samples/kvm/web.xml"), &good).unwrap();
    let o = run(&[
        "transform",
        bad.to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("\\u{1b}[31mred\\u{9b}2J.xml:1:23: malformed XML"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{9b}'),
        "{err:?}"
    );
    let o = run(&["detect", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("\\u{1b}]0;title\\u{7}ok.xml: kvm"), "{out:?}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
}

/// A mapping that is not UTF-8 is a located diagnostic among the others,
/// in every format, and the files after it are still checked (check
/// stopped at it, exit 2, and checked nothing else).
#[test]
fn check_reports_a_file_that_is_not_utf8_and_goes_on() {
    let dir = temp_dir("check-not-utf8");
    std::fs::write(
        dir.join("a.hvx"),
        b"mapping \"a\" { from kvm to hvx version \"1\" }\n# caf\xe9\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.hvx"),
        "mapping \"b\" { from kvm to hvx version \"1\" }\nunmapped report;\non domain { <vm> = $nope; }\n",
    )
    .unwrap();
    let o = run(&["check", dir.to_str().unwrap(), "--format", "github"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("a.hvx,line=2,col=6,") && out.contains("not valid UTF-8: the byte 0xE9"),
        "{out}"
    );
    assert!(out.contains("b.hvx,line=3,col=20,"), "{out}");
    // Running it names the place too.
    let o = run(&[
        "run",
        dir.join("a.hvx").to_str().unwrap(),
        "samples/kvm/web.xml",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a.hvx:2:6: not valid UTF-8: the byte 0xE9"),
        "{}",
        stderr(&o)
    );
}

/// A file given as `--session` that is not a store says so, without
/// printing the file: another VM's XML, several YAML documents.
#[test]
fn a_session_file_that_is_no_store_is_named_as_such() {
    let dir = temp_dir("not-a-store");
    let xml = dir.join("w.xml");
    std::fs::copy(root().join("samples/kvm/web.xml"), &xml).unwrap();
    let before = std::fs::read(&xml).unwrap();
    let multi = dir.join("multi.yaml");
    std::fs::write(&multi, "version: 1\ntables: {}\n---\nversion: 1\n").unwrap();
    for (store, says) in [
        (
            &xml,
            "w.xml:1:1: not a session store: the file is a YAML string",
        ),
        (
            &multi,
            "multi.yaml:1:1: not a session store: the file holds several YAML documents",
        ),
    ] {
        let o = run(&[
            "transform",
            "samples/kvm/web.xml",
            "--to",
            "vsphere",
            "-o",
            dir.join("out").to_str().unwrap(),
            "--session",
            store.to_str().unwrap(),
        ]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(!stderr(&o).contains("<domain"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("RawStore"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&xml).unwrap(), before);
}

/// `pad` wider than it can write is an error, not a silent 64 characters;
/// a size too large says its unit once; two rules whose patterns differ in
/// a string's spaces are two rules.
#[test]
fn small_language_edges_say_what_they_do() {
    let dir = temp_dir("lang-edges");
    let m = dir.join("m.hvx");
    let head = "mapping \"t\" { from kvm to hvx version \"1\" }\nunmapped report;\n";
    std::fs::write(
        &m,
        format!("{head}on domain {{ <vm> {{ <a> = length(pad(7, 100)); }} }}\n"),
    )
    .unwrap();
    let o = run(&["run", m.to_str().unwrap(), "samples/kvm/web.xml", "-q"]);
    assert!(stdout(&o).contains("<a>100</a>"), "{}", stderr(&o));
    std::fs::write(&m, format!("{head}on domain {{ <vm> = pad(7, 2000); }}\n")).unwrap();
    let o = run(&["run", m.to_str().unwrap(), "samples/kvm/web.xml", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("pad(7, 2000): the width must be 0 to 1024"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &m,
        format!("{head}on domain {{ <vm> = size(\"16 EiB\", \"KiB\"); }}\n"),
    )
    .unwrap();
    let o = run(&["run", m.to_str().unwrap(), "samples/kvm/web.xml", "-q"]);
    assert!(
        stderr(&o).contains("size `16 EiB` is too large"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &m,
        format!("{head}on domain {{ <vm> {{ apply devices/disk; }} }}\non disk[@device = \"cd rom\"] {{ <spaced/> }}\non disk[@device = \"cdrom\"] {{ <cdrom/> }}\n"),
    )
    .unwrap();
    let o = run(&["check", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `--mappings` names a folder that exists: a typo, or a mapping file named
/// instead of its folder, is a usage error, not a run of the shipped
/// mappings in place of the user's.
#[test]
fn mappings_that_are_not_a_folder_are_a_usage_error() {
    for (dir, says) in [
        ("tests/no-such-mappings", "No such file"),
        ("mappings/kvm-to-hvx.hvx", "is a file"),
    ] {
        for cmd in [
            vec![
                "transform",
                "samples/kvm/web.xml",
                "--to",
                "vsphere",
                "--mappings",
                dir,
            ],
            vec!["check", "mappings/kvm-to-hvx.hvx", "--mappings", dir],
        ] {
            let o = run(&cmd);
            assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
            assert!(stderr(&o).contains(says), "{cmd:?}: {}", stderr(&o));
            assert!(stdout(&o).is_empty(), "{cmd:?}");
        }
    }
}

/// `--report` never replaces the session store (it did, with exit 0).
#[test]
fn the_report_replaces_no_session_store() {
    let dir = temp_dir("report-store");
    let store = dir.join("s.yaml");
    let o = run(&[
        "session",
        "set",
        store.to_str().unwrap(),
        "networks",
        "default",
        "VM Network",
        "--types",
        "string:string",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = std::fs::read(&store).unwrap();
    let same = dir.join(".").join("s.yaml");
    let o = run(&[
        "transform",
        root().join("samples/kvm/web.xml").to_str().unwrap(),
        "--to",
        "vsphere",
        "-o",
        dir.join("out").to_str().unwrap(),
        "--session",
        store.to_str().unwrap(),
        "--report",
        same.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the report would replace the session store"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&store).unwrap(), before);
    assert!(walk(&dir.join("out")).is_empty());
}

/// Standard output that cannot be written (a full disk) is an error that
/// says so, exit 2: `detect`, `platforms`, `session show` and `command`
/// panicked, and `transform` exited 2 saying nothing.
#[test]
fn a_stdout_that_cannot_be_written_is_an_error_not_a_panic() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    for args in [
        &["detect", "samples/kvm/web.xml"][..],
        &["platforms"],
        &["transform", "samples/kvm/web.xml", "--to", "vsphere"],
        &[
            "command",
            "samples/commands/remove-nic.xml",
            "--to",
            "kvm",
            "--context",
            "samples/commands/proof.context.xml",
        ],
        &["session", "show", "tests/session/store.yaml"],
    ] {
        let o = bin()
            .args(args)
            .current_dir(root())
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output: No space left on device"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A line feed in a file name does not start a line of its own on the
/// terminal (`b\nerror: fake.xml` read as a second message).
#[test]
fn a_file_name_cannot_print_a_line_of_its_own() {
    let dir = temp_dir("lf-name");
    let f = dir.join("b\nerror: fake.xml");
    std::fs::copy(root().join("samples/kvm/web.xml"), &f).unwrap();
    let o = run(&["detect", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("b\\u{a}error: fake.xml: kvm"), "{out}");
}

/// `run` over several inputs names, for each warning, the input it was
/// raised on (line and column of the node) and the `warn` in the mapping;
/// under `--profile`, which runs without places, it still names the input.
#[test]
fn run_warnings_name_their_input() {
    let dir = temp_dir("run-warning-input");
    let hub = dir.join("web.hvx.xml");
    let o = run(&[
        "transform",
        "samples/xen/web.cfg",
        "--to",
        "hvx",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(hub.is_file());
    let out = dir.join("out");
    for extra in [&[][..], &["--profile"][..]] {
        let mut args = vec![
            "run",
            "mappings/hvx-to-kvm.hvx",
            hub.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--color",
            "never",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let err = stderr(&o);
        let line = err
            .lines()
            .find(|l| l.contains("xen-vif → virtio"))
            .unwrap_or_else(|| panic!("{err}"));
        let name = hub.display().to_string();
        assert!(line.starts_with(&format!("warning: {name}")), "{line}");
        assert!(!line.contains("()"), "{line}");
        if extra.is_empty() {
            assert!(line.contains("mappings/hvx-to-kvm.hvx:"), "{line}");
            assert!(line.starts_with(&format!("warning: {name}:")), "{line}");
        }
    }
}
