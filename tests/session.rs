//! Session stores, run as a user would: round trips that restore
//! identifiers, deterministic minting, concurrent writers, a writer killed
//! mid-save, corrupt stores, and the `session` commands. Fixtures are in
//! tests/session/ (see its README).

mod common;
use common::*;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const MAPPINGS: &str = "tests/session/mappings";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `transform tests/session/domain.xml --to vsphere` with the test mappings
/// and a session store, plus `extra` arguments.
fn domain_to_vsphere(store: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "transform",
        "tests/session/domain.xml",
        "--to",
        "vsphere",
        "--mappings",
        MAPPINGS,
        "--session",
        s(store),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr:\n{}\nstdout:\n{}",
        stderr(o),
        stdout(o)
    );
}

/// `session show --format json`: table → (left, right) pairs.
fn pairs(store: &Path) -> HashMap<String, Vec<(String, String)>> {
    let o = run(&["session", "show", s(store), "--format", "json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], 1);
    v["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, t)| {
            let entries = t["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e[0].as_str().unwrap().to_string(),
                        e[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (name.clone(), entries)
        })
        .collect()
}

fn seed_networks(store: &Path) {
    ok(&run(&[
        "session",
        "set",
        s(store),
        "networks",
        "default",
        "VM Network",
        "--types",
        "string:string",
    ]));
    ok(&run(&[
        "session",
        "set",
        s(store),
        "networks",
        "dmz",
        "DMZ",
    ]));
}

/// Identifiers of a libvirt domain: name, uuid, (mac, network) per interface.
fn kvm_ids(xml: &str) -> (String, String, Vec<(String, String)>) {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let text = |n: &str| {
        doc.descendants()
            .find(|x| x.has_tag_name(n))
            .and_then(|x| x.text())
            .unwrap_or_default()
            .to_string()
    };
    let nics = doc
        .descendants()
        .filter(|x| x.has_tag_name("interface"))
        .map(|i| {
            let attr = |el: &str, a: &str| {
                i.children()
                    .find(|c| c.has_tag_name(el))
                    .and_then(|c| c.attribute(a))
                    .unwrap_or_default()
                    .to_string()
            };
            (attr("mac", "address"), attr("source", "network"))
        })
        .collect();
    (text("name"), text("uuid"), nics)
}

#[test]
fn round_trip_with_one_store_restores_every_identifier() {
    let dir = temp_dir("session-roundtrip");
    let store = dir.join("store.yaml");
    seed_networks(&store);
    let there = dir.join("there");
    let back = dir.join("back");
    ok(&domain_to_vsphere(&store, &["-o", s(&there)]));
    // The book shows these files (book/src/sessions.md).
    let vs = std::fs::read_to_string(there.join("domain.vsphere.xml")).unwrap();
    let want = std::fs::read_to_string(root().join("tests/session/domain.vsphere.xml")).unwrap();
    assert_eq!(vs, want);
    // These mappings write no extraConfig for carried data to go in, so
    // the way back would carry the spec in the domain's metadata: this test
    // is about the identifiers alone.
    ok(&run(&[
        "transform",
        s(&there.join("domain.vsphere.xml")),
        "--to",
        "kvm",
        "--mappings",
        MAPPINGS,
        "--session",
        s(&store),
        "--no-carry",
        "-o",
        s(&back),
    ]));
    let original = std::fs::read_to_string(root().join("tests/session/domain.xml")).unwrap();
    let restored = std::fs::read_to_string(back.join("domain.vsphere.kvm.xml")).unwrap();
    assert_eq!(kvm_ids(&restored), kvm_ids(&original), "{restored}");
    assert_eq!(restored, original);
    // The minted pairs are in the store, readable without a mapping.
    let p = pairs(&store);
    assert_eq!(p["nic_keys"].len(), 2);
    assert_eq!(p["vm_uuids"][0].0, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    assert_eq!(
        std::fs::read_to_string(&store).unwrap(),
        std::fs::read_to_string(root().join("tests/session/store.yaml")).unwrap()
    );
    ok(&run(&["session", "check", "tests/session/store.yaml"]));

    // Without the store, the way back cannot know the original values.
    let o = run(&[
        "transform",
        s(&there.join("domain.vsphere.xml")),
        "--to",
        "kvm",
        "--mappings",
        MAPPINGS,
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn an_unseeded_fail_table_says_how_to_seed_it() {
    let dir = temp_dir("session-unseeded");
    let store = dir.join("store.yaml");
    let o = domain_to_vsphere(&store, &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let hint = format!(
        "seed it with `hvxform session set {} networks default RIGHT --types string:string` (each libvirt network is mapped to a vSphere port group by hand)",
        store.display()
    );
    assert!(e.contains(&hint), "{e}");
    // Nothing was minted or written.
    assert!(!store.exists());
    assert!(stdout(&o).is_empty());
    // The suggested command works as given.
    ok(&run(&[
        "session",
        "set",
        s(&store),
        "networks",
        "default",
        "VM Network",
        "--types",
        "string:string",
    ]));
}

#[test]
fn deterministic_minting_gives_identical_outputs_without_a_store() {
    // UUIDv5 minting: the same in every run, every store, every machine.
    let m = "tests/lang/session-lookups/mapping.hvx";
    let i = "tests/lang/session-lookups/input.xml";
    let a = run(&["run", m, i]);
    let b = run(&["run", m, i]);
    ok(&a);
    ok(&b);
    assert_eq!(stdout(&a), stdout(&b));
    assert!(
        stdout(&a).contains("instanceUuid=\"1c038c3f-ede1-5a64-b4a8-c73e4c7e5a87\""),
        "{}",
        stdout(&a)
    );
    // A fresh store mints the same values and records them.
    let dir = temp_dir("session-deterministic");
    let store = dir.join("s.yaml");
    let c = run(&["run", m, i, "--session", s(&store)]);
    ok(&c);
    assert_eq!(stdout(&c), stdout(&a));
    assert_eq!(
        pairs(&store)["instance_ids"],
        [(
            "edge01".to_string(),
            "1c038c3f-ede1-5a64-b4a8-c73e4c7e5a87".to_string()
        )]
    );
    // Whole conversions with the shipped mappings, twice, without a store.
    let (d1, d2) = (dir.join("one"), dir.join("two"));
    for d in [&d1, &d2] {
        ok(&run(&[
            "transform",
            "samples/kvm",
            "--to",
            "vsphere,hvx",
            "-o",
            s(d),
        ]));
    }
    let mut names: Vec<_> = std::fs::read_dir(&d1)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(names.len() >= 8);
    for n in names {
        assert_eq!(
            std::fs::read(d1.join(&n)).unwrap(),
            std::fs::read(d2.join(&n)).unwrap(),
            "{n:?} differs between runs"
        );
    }
}

#[test]
fn nothing_is_written_when_nothing_changed() {
    let dir = temp_dir("session-unchanged");
    let store = dir.join("store.yaml");
    seed_networks(&store);
    let args = |out: &Path| {
        vec![
            "transform".to_string(),
            "tests/session/domain.xml".into(),
            "--to".into(),
            "vsphere".into(),
            "--mappings".into(),
            MAPPINGS.into(),
            "--session".into(),
            s(&store).into(),
            "-o".into(),
            s(out).into(),
        ]
    };
    let a: Vec<String> = args(&dir.join("a"));
    ok(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let before = std::fs::metadata(&store).unwrap();
    let bytes = std::fs::read(&store).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let b: Vec<String> = args(&dir.join("b"));
    ok(&run(&b.iter().map(String::as_str).collect::<Vec<_>>()));
    let after = std::fs::metadata(&store).unwrap();
    assert_eq!(before.ino(), after.ino(), "the store was replaced");
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    assert_eq!(std::fs::read(&store).unwrap(), bytes);
    assert_eq!(
        std::fs::read(dir.join("a/domain.vsphere.xml")).unwrap(),
        std::fs::read(dir.join("b/domain.vsphere.xml")).unwrap()
    );
    // Setting a pair that is already there does not write either.
    ok(&run(&[
        "session",
        "set",
        s(&store),
        "networks",
        "dmz",
        "DMZ",
    ]));
    assert_eq!(std::fs::metadata(&store).unwrap().ino(), before.ino());
}

/// A domain with `n` interfaces whose MACs are unique to `p`.
fn big_domain(p: usize, n: usize) -> String {
    let mut x = format!(
        "<domain type=\"kvm\">\n  <name>vm{p}</name>\n  <uuid>00000000-0000-4000-8000-{p:012}</uuid>\n  <devices>\n"
    );
    for i in 0..n {
        x.push_str(&format!(
            "    <interface type=\"network\"><mac address=\"52:54:00:{p:02x}:{:02x}:{:02x}\"/><source network=\"default\"/></interface>\n",
            i / 256,
            i % 256
        ));
    }
    x.push_str("  </devices>\n</domain>\n");
    x
}

#[test]
fn eight_concurrent_writers_lose_nothing_and_keep_the_bijection() {
    const PROCS: usize = 8;
    const IDS: usize = 100;
    let dir = temp_dir("session-concurrent");
    let store = dir.join("store.yaml");
    seed_networks(&store);
    let mut children = Vec::new();
    for p in 0..PROCS {
        let input = dir.join(format!("vm{p}.xml"));
        std::fs::write(&input, big_domain(p, IDS)).unwrap();
        let child = bin()
            .args([
                "transform",
                s(&input),
                "--to",
                "vsphere",
                "--mappings",
                MAPPINGS,
                "--session",
                s(&store),
                "-q",
                "-o",
                s(&dir.join(format!("out{p}"))),
            ])
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    ok(&run(&["session", "check", s(&store)]));
    let p = pairs(&store);
    let keys = &p["nic_keys"];
    assert_eq!(keys.len(), PROCS * IDS, "entries were lost");
    let lefts: HashSet<_> = keys.iter().map(|(l, _)| l).collect();
    let rights: HashSet<_> = keys.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(lefts.len(), PROCS * IDS);
    assert_eq!(
        rights,
        (1..=PROCS * IDS)
            .map(|n| n.to_string())
            .collect::<HashSet<_>>()
    );
    assert_eq!(p["vm_uuids"].len(), PROCS);
    // Every output agrees with the store.
    let by_mac: HashMap<_, _> = keys.iter().cloned().collect();
    for q in 0..PROCS {
        let out = std::fs::read_to_string(dir.join(format!("out{q}/vm{q}.vsphere.xml"))).unwrap();
        let doc = roxmltree::Document::parse(&out).unwrap();
        let got: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("key"))
            .map(|n| n.text().unwrap())
            .collect();
        assert_eq!(got.len(), IDS);
        for (i, key) in got.iter().enumerate() {
            let mac = format!("52:54:00:{q:02x}:{:02x}:{:02x}", i / 256, i % 256);
            assert_eq!(
                by_mac[&mac], *key,
                "output of process {q} disagrees with the store"
            );
        }
    }
}

#[test]
fn a_writer_killed_mid_save_leaves_the_previous_store_intact() {
    let dir = temp_dir("session-killed");
    let store = dir.join("store.yaml");
    seed_networks(&store);
    let before = std::fs::read(&store).unwrap();
    let mut child = bin()
        .args(["session", "set", s(&store), "networks", "extra", "Extra"])
        .env("HVXFORM_TEST_SLOW_SAVE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let temp = dir.join(format!(".store.yaml.{}.session-tmp", child.id()));
    let t0 = Instant::now();
    while !temp.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the writer never wrote its temp file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The new content is complete in the temp file; the store is not yet
    // replaced. Kill the writer now.
    assert!(std::fs::read_to_string(&temp).unwrap().contains("Extra"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(&store).unwrap(), before);
    ok(&run(&["session", "check", s(&store)]));
    assert!(!pairs(&store)["networks"].iter().any(|(l, _)| l == "extra"));
    // The lock died with the writer; the next writer cleans up its temp file.
    ok(&run(&[
        "session",
        "set",
        s(&store),
        "networks",
        "other",
        "Other",
    ]));
    assert!(!temp.exists(), "the stale temp file was not removed");
    assert_eq!(pairs(&store)["networks"].len(), 3);
}

fn corrupt_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("tests/session/corrupt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn corrupt_stores_are_rejected_with_line_and_column_and_left_untouched() {
    let fixtures = corrupt_fixtures();
    assert!(fixtures.len() >= 10);
    let dir = temp_dir("session-corrupt");
    for f in fixtures {
        let bytes = std::fs::read(&f).unwrap();
        let first =
            String::from_utf8_lossy(bytes.split(|&b| b == b'\n').next().unwrap()).into_owned();
        let want = first.strip_prefix("# expect: ").expect("an expect line");
        let name = f.file_name().unwrap().to_str().unwrap();
        let store = dir.join(name);
        std::fs::write(&store, &bytes).unwrap();
        let out = dir.join(format!("{name}.out"));
        let runs: Vec<Vec<&str>> = vec![
            vec!["session", "check", s(&store)],
            vec!["session", "show", s(&store)],
            vec!["session", "set", s(&store), "networks", "a", "b"],
            vec!["session", "rm", s(&store), "networks", "default"],
            vec![
                "transform",
                "tests/session/domain.xml",
                "--to",
                "vsphere",
                "--mappings",
                MAPPINGS,
                "--session",
                s(&store),
                "-o",
                s(&out),
            ],
        ];
        for args in runs {
            let o = run(&args);
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{name} {args:?}: {e}");
            let expected = format!("error: {}:{want}", store.display());
            assert!(
                e.contains(&expected),
                "{name} {args:?}:\n{e}\nwanted:\n{expected}"
            );
            assert_eq!(std::fs::read(&store).unwrap(), bytes, "{name} was changed");
        }
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{name}: output written despite a corrupt store"
        );
    }
}

#[test]
fn session_commands_seed_edit_show_and_check() {
    let dir = temp_dir("session-commands");
    let store = dir.join("store.yaml");
    let st = s(&store);
    // A new table needs its types.
    let o = run(&["session", "set", st, "nics", "52-54-00-AB-CD-EF", "7"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--types"), "{}", stderr(&o));
    assert!(!store.exists());
    let o = run(&[
        "session",
        "set",
        st,
        "nics",
        "x",
        "7",
        "--types",
        "mac:integer",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown session type `integer`"));
    // Values are normalised by type.
    ok(&run(&[
        "session",
        "set",
        st,
        "nics",
        "52-54-00-AB-CD-EF",
        "007",
        "--types",
        "mac:int",
    ]));
    assert_eq!(
        pairs(&store)["nics"],
        [("52:54:00:ab:cd:ef".to_string(), "7".to_string())]
    );
    let o = run(&["session", "set", st, "nics", "not-a-mac", "8"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a MAC address"), "{}", stderr(&o));
    // The bijection is checked on set, both ways.
    let o = run(&["session", "set", st, "nics", "52:54:00:ab:cd:ef", "8"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the left value `52:54:00:ab:cd:ef` is already paired with `7`"),
        "{}",
        stderr(&o)
    );
    let o = run(&["session", "set", st, "nics", "52:54:00:00:00:01", "7"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("the right value `7` is already paired"), "{e}");
    assert!(e.contains("hvxform session rm"), "{e}");
    assert!(e.contains("nics 52:54:00:ab:cd:ef"), "{e}");
    // Types must match an existing table.
    let o = run(&[
        "session",
        "set",
        st,
        "nics",
        "a",
        "b",
        "--types",
        "string:string",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is `mac <-> int`"), "{}", stderr(&o));
    ok(&run(&[
        "session",
        "set",
        st,
        "networks",
        "default",
        "VM Network",
        "--types",
        "string:string",
    ]));
    // show: human and json, one table or all.
    let o = run(&["session", "show", st]);
    ok(&o);
    assert_eq!(
        stdout(&o),
        "networks: string <-> string, 1 entry\n  default  <->  VM Network\nnics: mac <-> int, 1 entry\n  52:54:00:ab:cd:ef  <->  7\n"
    );
    let o = run(&[
        "session", "show", st, "--table", "networks", "--format", "json",
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"version": 1, "tables": {"networks": {"left": "string", "right": "string", "entries": [["default", "VM Network"]]}}})
    );
    let o = run(&["session", "show", st, "--table", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("tables: networks, nics"),
        "{}",
        stderr(&o)
    );
    // rm, by a left value in any spelling.
    ok(&run(&["session", "rm", st, "nics", "52:54:00:AB:CD:EF"]));
    let o = run(&["session", "rm", st, "nics", "52:54:00:AB:CD:EF"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no entry"), "{}", stderr(&o));
    assert!(pairs(&store)["nics"].is_empty());
    // check
    let o = run(&["session", "check", st]);
    ok(&o);
    assert!(stderr(&o).contains("valid session store (2 table(s), 1 entries)"));
    let o = run(&["session", "check", s(&dir.join("missing.yaml"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such session store"));
    // The file is the documented format.
    let text = std::fs::read_to_string(&store).unwrap();
    assert!(text.contains("version: 1\ntables:\n  networks:\n    left: string\n    right: string\n    entries:\n      - [default, VM Network]\n  nics:\n    left: mac\n    right: int\n    entries: []\n"), "{text}");
}

#[test]
fn a_table_declared_with_other_types_than_the_store_has_is_an_error() {
    let dir = temp_dir("session-types");
    let store = dir.join("store.yaml");
    ok(&run(&[
        "session",
        "set",
        s(&store),
        "networks",
        "1",
        "2",
        "--types",
        "int:int",
    ]));
    let bytes = std::fs::read(&store).unwrap();
    let o = domain_to_vsphere(&store, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("session table `networks` is declared `string <-> string` by the mapping but is `int <-> int` in the session store"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&store).unwrap(), bytes);
}

#[test]
fn the_book_chapter_includes_files_that_exist() {
    let book = std::fs::read_to_string(root().join("book/src/sessions.md")).unwrap();
    let mut n = 0;
    for part in book.split("{{#include ../../").skip(1) {
        let file = part.split("}}").next().unwrap();
        assert!(
            root().join(file).is_file(),
            "book/src/sessions.md includes {file}"
        );
        n += 1;
    }
    assert!(n >= 5);
}

#[test]
fn a_batch_with_a_store_writes_as_it_goes_after_saving_the_store() {
    // Inputs whose outputs pass the 16 MB held for one save: the batch saves
    // the store, writes what it holds, and goes on (outputs are not all kept
    // until the end). What it writes is what converting the inputs one at a
    // time with the same store writes, and the store holds every pair.
    let dir = temp_dir("session-streamed");
    let (inputs, one_by_one) = (dir.join("in"), dir.join("one"));
    std::fs::create_dir_all(&inputs).unwrap();
    let web = std::fs::read_to_string(root().join("samples/kvm/web.xml")).unwrap();
    let note = "x".repeat(1 << 20);
    let n = 20;
    for i in 0..n {
        let uuid = format!("<uuid>4dea22b3-1d52-d8f3-2516-{i:012}</uuid>");
        let doc = regex_free_replace(&web, "<uuid>", "</uuid>", &uuid).replacen(
            "<name>web</name>",
            &format!("<name>vm{i}</name><description>{note}</description>"),
            1,
        );
        assert!(doc.contains(&uuid) && doc.contains("<description>"));
        std::fs::write(inputs.join(format!("vm{i:02}.xml")), doc).unwrap();
    }
    let (store, store1) = (dir.join("store.yaml"), dir.join("store1.yaml"));
    let batch = |out: &Path| {
        run(&[
            "transform",
            s(&inputs),
            "--to",
            "vsphere",
            "-o",
            s(out),
            "--session",
            s(&store),
        ])
    };
    ok(&batch(&dir.join("out")));
    for i in 0..n {
        ok(&run(&[
            "transform",
            s(&inputs.join(format!("vm{i:02}.xml"))),
            "--to",
            "vsphere",
            "-o",
            s(&one_by_one),
            "--session",
            s(&store1),
        ]));
    }
    for i in 0..n {
        let name = format!("vm{i:02}.vsphere.xml");
        let a = std::fs::read(dir.join("out").join(&name)).unwrap();
        let b = std::fs::read(one_by_one.join(&name)).unwrap();
        assert!(a == b, "{name} differs");
    }
    let sorted = |p: &Path| {
        let mut t: Vec<(String, Vec<(String, String)>)> = pairs(p).into_iter().collect();
        for (_, v) in &mut t {
            v.sort();
        }
        t.sort();
        t
    };
    assert_eq!(sorted(&store), sorted(&store1));
    let p = pairs(&store);
    assert!(
        !p["networks"].is_empty() && !p["datastores"].is_empty(),
        "{p:?}"
    );
    // Nothing left behind: no temp files of the writer or the store.
    for d in [dir.join("out"), dir.clone()] {
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// `text` with what lies between the first `open` and the next `close`
/// (both included) replaced by `with`.
fn regex_free_replace(text: &str, open: &str, close: &str, with: &str) -> String {
    let a = text.find(open).unwrap();
    let b = a + text[a..].find(close).unwrap() + close.len();
    format!("{}{with}{}", &text[..a], &text[b..])
}

/// A store is a YAML file: a device (`--session /dev/null`, meant as "no
/// store") or a folder is refused before anything is converted, and left as
/// it is; a link to a store not created yet creates it where the link
/// points; a save keeps the file's mode; a read-only store is refused, not
/// replaced.
#[test]
fn a_store_is_a_file_saved_where_it_is_and_as_it_was() {
    let dir = temp_dir("session-what-a-store-is");
    let out = dir.join("out");
    // A character device (a FIFO where mknod needs root).
    let dev = dir.join("device");
    let made = std::process::Command::new("mknod")
        .args([s(&dev), "c", "1", "3"])
        .status()
        .is_ok_and(|st| st.success())
        || std::process::Command::new("mkfifo")
            .arg(s(&dev))
            .status()
            .unwrap()
            .success();
    assert!(made);
    for store in [dev.clone(), dir.clone()] {
        let o = domain_to_vsphere(&store, &["-o", s(&out)]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("not a regular file") || stderr(&o).contains("a folder"),
            "{}",
            stderr(&o)
        );
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "output written with an unusable store"
        );
    }
    assert!(
        !std::fs::metadata(&dev).unwrap().is_file(),
        "device replaced"
    );
    // A link to a store that does not exist yet.
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let link = dir.join("mine.yaml");
    std::os::unix::fs::symlink("shared/store.yaml", &link).unwrap();
    seed_networks(&link);
    ok(&domain_to_vsphere(&link, &["-o", s(&out)]));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!pairs(&shared.join("store.yaml")).is_empty());
    // The mode is kept.
    let private = dir.join("private.yaml");
    std::fs::copy(shared.join("store.yaml"), &private).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let o = run(&[
        "session",
        "set",
        s(&private),
        "networks",
        "extra",
        "pg-extra",
    ]);
    ok(&o);
    assert_eq!(mode(&private), 0o600);
    // A read-only store is refused and left as it was.
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o444),
    )
    .unwrap();
    let before = std::fs::read(&private).unwrap();
    let o = run(&["session", "set", s(&private), "networks", "more", "pg-more"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&private).unwrap(), before);
    assert_eq!(mode(&private), 0o444);
}

/// The lock file of a store takes the store's permissions (a store shared
/// through its group stays shared), and a FIFO where the lock file goes is
/// an error, not a wait for ever.
#[test]
fn the_lock_file_is_the_stores_kind_and_a_fifo_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("session-lock-mode");
    let store = dir.join("s.yaml");
    std::fs::write(&store, "").unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o664)).unwrap();
    let s = store.to_str().unwrap();
    let o = run(&[
        "session",
        "set",
        s,
        "networks",
        "a",
        "b",
        "--types",
        "string:string",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lock = dir.join("s.yaml.lock");
    let mode = std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o664);
    let fifo_store = dir.join("f.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("f.yaml.lock"))
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped the FIFO: no mkfifo");
        return;
    }
    let mut child = bin()
        .args([
            "session",
            "set",
            fifo_store.to_str().unwrap(),
            "t",
            "a",
            "b",
            "--types",
            "string:string",
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("hvxform waited on a FIFO lock file");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("is not a regular file"), "{err}");
}
