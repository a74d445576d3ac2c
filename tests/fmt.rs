//! `hvxform fmt`: the canonical layout of mapping files.

mod common;
use common::*;

const MESSY: &str = "mapping \"m\" { from kvm to cmdb version \"1\" }\n\n\n\nunmapped report;   \n# the host\non domain {\n        <host name={name}\n   vcpus={vcpu}> {\n  # its disks\n\t\t\tfor $d in devices/disk {\n<disk path={choose(exists($d/source/@file),\n$d/source/@file,\n\"none\")}/>\n    }\n    warn \"two {name}\n   lines kept   \n as they are\";\n  }\n}\n";

#[test]
fn fmt_lays_out_keeps_meaning_and_comments() {
    let d = temp_dir("fmt");
    let m = d.join("m.hvx");
    std::fs::write(&m, MESSY).unwrap();
    let p = m.to_str().unwrap();
    let before = run(&["run", p, "samples/kvm/db.xml"]);
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    // --check changes nothing and fails with a diff.
    let o = run(&["fmt", "--check", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("not formatted"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("+  <host name={name}"),
        "{}",
        stdout(&o)
    );
    assert_eq!(std::fs::read_to_string(&m).unwrap(), MESSY);
    // fmt writes the layout ...
    let o = run(&["fmt", p]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = std::fs::read_to_string(&m).unwrap();
    assert_eq!(
        out,
        "mapping \"m\" { from kvm to cmdb version \"1\" }\n\nunmapped report;\n# the host\non domain {\n  <host name={name}\n    vcpus={vcpu}> {\n    # its disks\n    for $d in devices/disk {\n      <disk path={choose(exists($d/source/@file),\n          $d/source/@file,\n          \"none\")}/>\n    }\n    warn \"two {name}\n   lines kept   \n as they are\";\n  }\n}\n"
    );
    // ... which is stable, and means the same.
    let o = run(&["fmt", "--check", p]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let after = run(&["run", p, "samples/kvm/db.xml"]);
    assert_eq!(stdout(&after), stdout(&before));
}

#[test]
fn fmt_refuses_what_does_not_parse_and_leaves_it() {
    let d = temp_dir("fmt-broken");
    let m = d.join("bad.hvx");
    let text = "mapping \"m\" { from kvm to cmdb version \"1\" }\non domain {\n  <a x={name>\n";
    std::fs::write(&m, text).unwrap();
    let o = run(&["fmt", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.hvx:4:1"), "{}", stderr(&o));
    assert!(stderr(&o).contains("left as it is"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&m).unwrap(), text);
    let o = run(&["fmt", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The shipped mappings, the CMDB example and the book's examples are laid
/// out by `hvxform fmt` (CI checks it too).
#[test]
fn shipped_mappings_are_formatted() {
    let o = run(&[
        "fmt",
        "--check",
        "mappings",
        "tests/suites/cmdb/mappings",
        "book/examples",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}
