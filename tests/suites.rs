//! `hvxform test`: suites of mapping tests, as mapping authors run them.

mod common;
use common::*;
use std::path::Path;

const MAPPING: &str = r#"mapping "inventory" { from kvm to cmdb version "1" }

unmapped report;

# A comment the tests move around: lines shift, behaviour does not.
on domain {
  <host name={name} vcpus={vcpu}> {
    if vcpu > 4 {
      warn "{name}: a large VM";
    }
    apply devices/interface;
  }
}

on interface {
  <nic mac={mac/@address}/>
}
"#;

const INPUT: &str = r#"<domain type="kvm">
  <name>web</name>
  <vcpu>8</vcpu>
  <devices>
    <interface type="network"><mac address="52:54:00:00:00:01"/></interface>
    <disk type="file"/>
  </devices>
</domain>
"#;

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A suite with one mapping and two cases, blessed.
fn suite(name: &str) -> std::path::PathBuf {
    let d = temp_dir(name);
    write(&d.join("mapping.hvx"), MAPPING);
    write(&d.join("web/input.xml"), INPUT);
    write(&d.join("small/input.xml"), &INPUT.replace(">8<", ">2<"));
    let o = test(&d, &["--bless"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    d
}

fn test(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["test", dir.to_str().unwrap(), "--color", "never"];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn bless_keeps_every_output_and_the_report_then_the_suite_passes() {
    let d = suite("suite-bless");
    let exp = d.join("web/expected");
    let doc = std::fs::read_to_string(exp.join("input.cmdb.xml")).unwrap();
    assert!(
        doc.contains(r#"<host name="web" vcpus="8">"#) && doc.contains("52:54:00:00:00:01"),
        "{doc}"
    );
    let report = std::fs::read_to_string(exp.join("report.txt")).unwrap();
    // The warning and the unmapped disk, without mapping line numbers.
    assert!(
        report.contains("warning: web: a large VM (../mapping.hvx)"),
        "{report}"
    );
    assert!(
        report.contains("unmapped element /domain/devices/disk (6:5)"),
        "{report}"
    );
    assert!(!report.contains("mapping.hvx:"), "{report}");
    // The small VM has no warning: only the unmapped disk.
    let small = std::fs::read_to_string(d.join("small/expected/report.txt")).unwrap();
    assert!(!small.contains("large VM"), "{small}");
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ok      small") && out.contains("ok      web"),
        "{out}"
    );
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[test]
fn edits_that_keep_behaviour_keep_the_snapshots() {
    let d = suite("suite-stable");
    // Three more comment lines above every rule: every location moves.
    let moved = MAPPING.replace("# A comment", "# one\n# two\n# three\n# A comment");
    write(&d.join("mapping.hvx"), &moved);
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn a_changed_output_fails_with_a_unified_diff() {
    let d = suite("suite-diff");
    write(
        &d.join("mapping.hvx"),
        &MAPPING.replace("<nic mac={mac/@address}/>", "<nic address={mac/@address}/>"),
    );
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("FAILED  web"), "{out}");
    assert!(out.contains("--- expected/input.cmdb.xml"), "{out}");
    assert!(out.contains("-  <nic mac=\"52:54:00:00:00:01\"/>"), "{out}");
    assert!(
        out.contains("+  <nic address=\"52:54:00:00:00:01\"/>"),
        "{out}"
    );
    assert!(out.contains("0 passed, 2 failed"), "{out}");
    assert!(stderr(&o).contains("--bless"), "{}", stderr(&o));
    // The expected files are untouched without --bless.
    let kept = std::fs::read_to_string(d.join("web/expected/input.cmdb.xml")).unwrap();
    assert!(kept.contains("<nic mac="), "{kept}");
}

#[test]
fn expected_failures_keep_the_code_and_location() {
    let d = temp_dir("suite-error");
    write(
        &d.join("typo/mapping.hvx"),
        "mapping \"m\" { from kvm to cmdb version \"1\" }\nunmapped report;\non domain {\n  <host n={max(vcpu, \"one\")}/>\n}\n",
    );
    write(&d.join("typo/input.xml"), INPUT);
    let o = test(&d, &["--bless"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let err = std::fs::read_to_string(d.join("typo/expected/error.txt")).unwrap();
    assert!(err.starts_with("error[hvx::type-mismatch]: "), "{err}");
    assert!(err.contains("--> mapping.hvx:4:"), "{err}");
    assert!(!d.join("typo/expected/input.cmdb.xml").exists());
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // Fixing the mapping makes the case fail: the error is gone.
    write(
        &d.join("typo/mapping.hvx"),
        "mapping \"m\" { from kvm to cmdb version \"1\" }\nunmapped report;\non domain {\n  <host n={max(vcpu, 1)}/>\n}\n",
    );
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("gone: expected/error.txt was not produced"),
        "{out}"
    );
    assert!(out.contains("new: expected/input.cmdb.xml"), "{out}");
}

#[test]
fn broken_cases_are_failures_of_their_own_never_a_crash() {
    let d = suite("suite-broken");
    // No input.
    write(&d.join("no-input/case.yaml"), "mapping: ../mapping.hvx\n");
    // An expected file that is not XML.
    write(&d.join("bad-expected/input.xml"), INPUT);
    write(
        &d.join("bad-expected/expected/input.cmdb.xml"),
        "<host><unclosed>",
    );
    // A mapping that does not compile, with no expected error.
    write(&d.join("broken/input.xml"), INPUT);
    write(&d.join("broken/mapping.hvx"), "mapping \"m\" { from kvm to cmdb version \"1\" }\nunmapped report;\non domain { <x a={nmae(}/> }\n");
    // A case.yaml with a field that does not exist.
    write(&d.join("bad-yaml/input.xml"), INPUT);
    write(
        &d.join("bad-yaml/case.yaml"),
        "mapping: ../mapping.hvx\nparms: {a: 1}\n",
    );
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("2 passed, 4 failed"), "{out}");
    assert!(
        out.contains("no-input: no input (a file named input.xml"),
        "{out}"
    );
    assert!(
        out.contains(
            "bad-expected/expected/input.cmdb.xml: the expected file is not well-formed XML"
        ),
        "{out}"
    );
    assert!(out.contains("new: expected/error.txt"), "{out}");
    assert!(out.contains("+error[hvx::"), "{out}");
    assert!(
        out.contains("bad-yaml/case.yaml:2:1: unknown field `parms`"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn bless_never_writes_outside_the_suite() {
    let d = suite("suite-outside");
    let outside = temp_dir("suite-outside-target");
    std::fs::remove_dir_all(d.join("web/expected")).unwrap();
    std::os::unix::fs::symlink(&outside, d.join("web/expected")).unwrap();
    let o = test(&d, &["--bless"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("a symbolic link"), "{}", stderr(&o));
    // The case whose files could not be written still fails, in the summary
    // as in the exit code.
    assert!(stdout(&o).contains("FAILED  web"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 passed, 1 failed"), "{}", stdout(&o));
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn json_and_junit_reports_for_ci() {
    let d = suite("suite-formats");
    write(&d.join("web/expected/input.cmdb.xml"), "<host/>\n");
    let o = test(&d, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["passed"], 1);
    assert_eq!(v["failed"], 1);
    let web = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "web")
        .unwrap();
    assert_eq!(web["status"], "failed");
    assert_eq!(web["mismatches"][0]["kind"], "differs");
    assert!(web["mismatches"][0]["diff"]
        .as_str()
        .unwrap()
        .contains("-<host/>"));
    let o = test(&d, &["--format", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let x = stdout(&o);
    let doc = roxmltree::Document::parse(&x).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("tests"), Some("2"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.parent().unwrap().attribute("name"), Some("web"));
    assert!(failure.text().unwrap().contains("+<?xml"), "{x}");
}

/// A case named with a character XML cannot hold (an escape sequence in a
/// folder name): the JUnit report is still XML, with the character shown,
/// not an error and no report at all.
#[test]
fn junit_report_shows_what_xml_cannot_hold() {
    let d = suite("suite-junit-controls");
    write(&d.join("red\u{1b}[31m/input.xml"), INPUT);
    write(
        &d.join("red\u{1b}[31m/expected/input.cmdb.xml"),
        "<host/>\n",
    );
    let o = test(&d, &["--format", "junit"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let x = stdout(&o);
    let doc = roxmltree::Document::parse(&x).unwrap_or_else(|e| panic!("{e}: {x}"));
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.parent().unwrap().attribute("name"),
        Some("red\\u{001B}[31m"),
        "{x}"
    );
}

/// A case whose `mappings:` folder does not exist fails, saying so; it does
/// not pass on the shipped mappings.
#[test]
fn a_case_s_missing_mappings_folder_fails_it() {
    let d = temp_dir("suite-no-mappings");
    write(&d.join("c/input.xml"), INPUT);
    write(&d.join("c/case.yaml"), "to: hvx\nmappings: ../nope\n");
    let o = test(&d, &[]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("mappings `../nope` is not a folder"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    let o = run(&["test", "no/such/folder"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/folder: not a folder of test cases"));
    let empty = temp_dir("suite-empty");
    let o = test(&empty, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no test cases"), "{}", stderr(&o));
    // --review asks on a terminal; a pipe is not one.
    let d = suite("suite-review-pipe");
    let o = test(&d, &["--review"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--review asks on a terminal"));
}

/// `--review` on a terminal (util-linux `script` gives the run one):
/// accept the first case, reject the second.
#[test]
fn review_accepts_and_rejects_case_by_case() {
    let Some(script) = tool("script") else {
        eprintln!("skipping: no `script`");
        return;
    };
    let d = suite("suite-review");
    write(
        &d.join("mapping.hvx"),
        &MAPPING.replace("<nic mac=", "<nic hw="),
    );
    let cmd = format!(
        "{} test {} --review --color never",
        env!("CARGO_BIN_EXE_hvxform"),
        d.display()
    );
    let mut child = std::process::Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        i.write_all(b"a\nr\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("accepted"), "{out}");
    assert!(out.contains("rejected"), "{out}");
    // Cases run in name order: `small` accepted, `web` rejected.
    let small = std::fs::read_to_string(d.join("small/expected/input.cmdb.xml")).unwrap();
    assert!(small.contains("<nic hw="), "{small}");
    let web = std::fs::read_to_string(d.join("web/expected/input.cmdb.xml")).unwrap();
    assert!(web.contains("<nic mac="), "{web}");
    assert_eq!(o.status.code(), Some(1), "{out}");
}

#[test]
fn cases_give_the_same_results_on_one_thread() {
    let a = run(&["test", "tests/lang", "-j", "1", "--format", "json"]);
    let b = run(&["test", "tests/lang", "--format", "json"]);
    let strip = |o: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].to_string(), c["status"].to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(a.status.code(), Some(0), "{}", stdout(&a));
    assert_eq!(strip(&a), strip(&b));
}

/// The project's own suites: the language fixtures, every sample through
/// every target, and round trips.
#[test]
fn shipped_suites_pass() {
    for s in ["tests/lang", "tests/suites"] {
        let o = run(&["test", s, "--color", "never"]);
        assert_eq!(o.status.code(), Some(0), "{s}:\n{}", stdout(&o));
    }
}

/// `--coverage` counts what the suite ran: the `if` never taken by the
/// small VM is taken by the large one, the disk rule never fires.
#[test]
fn coverage_names_what_never_ran_and_lcov_reads_it() {
    let d = suite("suite-coverage");
    // Only the small VM: the warning's arm never runs.
    std::fs::remove_dir_all(d.join("web")).unwrap();
    let lcov_file = d.join("../suite-coverage.info");
    let o = test(&d, &["--coverage", "--lcov", lcov_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    let mapping = d.join("mapping.hvx").display().to_string();
    let row = out
        .lines()
        .find(|l| l.starts_with(&mapping))
        .unwrap_or_else(|| panic!("no row for {mapping}:\n{out}"));
    // 2 rules (both fired); 5 statements, the `warn` not run; the `if`'s
    // arm not taken, its "no arm" taken.
    assert!(row.contains("2/2 100%"), "{row}");
    assert!(row.contains("4/5 80%"), "{row}");
    assert!(row.contains("1/2 50%"), "{row}");
    assert!(
        out.contains(&format!("{mapping}:9:7: statement: warn")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{mapping}:8:8: branch: if arm 1")),
        "{out}"
    );
    let info = std::fs::read_to_string(&lcov_file).unwrap();
    assert!(info.contains(&format!("SF:{mapping}\n")), "{info}");
    assert!(info.contains("DA:9,0\n"), "{info}");
    assert!(info.contains("BRDA:8,0,0,-\n"), "{info}");
    assert!(info.contains("BRDA:8,0,1,1\n"), "{info}");
    // lcov itself reads the tracefile.
    if let Some(lcov) = tool("lcov") {
        let o = std::process::Command::new(lcov)
            .args(["--rc", "lcov_branch_coverage=1", "--summary"])
            .arg(&lcov_file)
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(o.status.success(), "{all}");
        assert!(all.contains("lines......: 80.0% (4 of 5 lines)"), "{all}");
        assert!(
            all.contains("functions..: 100.0% (2 of 2 functions)"),
            "{all}"
        );
        assert!(
            all.contains("branches...: 50.0% (1 of 2 branches)"),
            "{all}"
        );
    }
}

/// `run --profile` says where the time went: every statement and function
/// that ran, how often (exactly), and the costliest by its own time first.
#[test]
fn profile_counts_runs_and_ranks_the_costliest_first() {
    let d = temp_dir("profile");
    // 300 interfaces; `twin` compares one with every other: 90,000
    // comparisons in all, far more than anything else the mapping does.
    let mut input = String::from("<domain type=\"kvm\">\n  <name>web</name>\n  <devices>\n");
    for i in 0..300 {
        input.push_str(&format!(
            "    <interface type=\"network\"><mac address=\"52:54:00:00:{:02x}:{:02x}\"/></interface>\n",
            i / 256,
            i % 256
        ));
    }
    input.push_str("  </devices>\n</domain>\n");
    write(&d.join("in.xml"), &input);
    write(
        &d.join("m.hvx"),
        r#"mapping "t" { from kvm to cmdb version "1" }
unmapped report;
fn twin(i: nodes) -> bool =
  exists($i/../interface[mac/@address = $i/mac/@address and node_index() != node_index($i)]);
on domain {
  <host name={name}> {
    for $i in devices/interface {
      <nic mac={$i/mac/@address} twin={twin($i)}/>
    }
  }
}
"#,
    );
    let m = d.join("m.hvx").display().to_string();
    let i = d.join("in.xml").display().to_string();
    let plain = run(&["run", &m, &i]);
    let o = run(&["run", &m, &i, "--profile"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The outputs are unchanged on stdout.
    assert_eq!(stdout(&o), stdout(&plain));
    let err = stderr(&o);
    let table: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("profile: 1 input(s)"))
        .collect();
    assert!(table.len() > 4, "{err}");
    assert!(
        table[1].contains("self ms") && table[1].contains("runs"),
        "{err}"
    );
    // Each row: self ms, self %, incl ms, runs, where, what.
    let row = |what: &str| -> Vec<String> {
        let line = table
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no row for {what}: {err}"));
        line.split_whitespace().map(String::from).collect()
    };
    let twin = row("fn twin");
    assert_eq!(twin[3], "300", "{err}");
    assert_eq!(twin[4], format!("{m}:3:4"), "{err}");
    let nic = row("<nic mac=");
    assert_eq!(nic[3], "300", "{err}");
    assert_eq!(nic[4], format!("{m}:8:7"), "{err}");
    let host = row("<host name=");
    assert_eq!(host[3], "1", "{err}");
    // The host element's time includes everything inside it.
    let ms = |r: &[String], k: usize| r[k].parse::<f64>().unwrap();
    assert!(ms(&host, 2) >= ms(&twin, 2), "{err}");
    // The comparisons are the costliest by far: first.
    assert!(table[2].contains("fn twin"), "{err}");
    // Profiled as `transform` runs: the unmapped nodes (the interfaces'
    // `type`, 300 of them, and the domain's) counted, not each placed.
    let listed = stderr(&plain);
    assert_eq!(
        listed.matches(": unmapped attribute").count(),
        301,
        "{listed}"
    );
    assert!(!err.contains(": unmapped attribute"), "{err}");
    assert!(
        err.contains("301 input node(s) unmapped (listed without --profile)"),
        "{err}"
    );
}

/// `run --trace` says where each output node came from, which rules
/// fired and which they beat, and which paths selected nothing.
#[test]
fn trace_shows_sources_rules_and_empty_paths() {
    let d = temp_dir("trace");
    write(
        &d.join("m.hvx"),
        r#"mapping "t" { from kvm to cmdb version "1" }
unmapped report;
on domain {
  <host name={nmae}> {
    apply devices/interface;
  }
}
on interface priority 1 {
  <nic mac={mac/@address}/>
}
on interface {
  <never/>
}
"#,
    );
    write(&d.join("in.xml"), INPUT);
    let m = d.join("m.hvx").display().to_string();
    let i = d.join("in.xml").display().to_string();
    let o = run(&["run", &m, &i, "--trace"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("rule on domain ({m}:3:1) <- input 1:1 /domain")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "@name = \"\" ({m}:4:15) <- input 1:1 /domain  [`nmae` selected nothing]"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "rule on interface ({m}:8:1) <- input 5:5 /domain/devices/interface"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("beat {m}:11:1 (priority 0)")),
        "{err}"
    );
    // The value's input node is the attribute the path selected.
    assert!(err.contains(&format!("@mac = \"52:54:00:00:00:01\" ({m}:9:13) <- input 5:36 /domain/devices/interface/mac/@address")), "{err}");
    // The outputs are unchanged on stdout.
    assert!(stdout(&o).contains("<nic mac=\"52:54:00:00:00:01\"/>"));
    let o = run(&["run", &m, &i, "--trace", "json"]);
    let events: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 6, "{events:?}");
    let rule = events
        .iter()
        .find(|e| e["event"] == "rule" && e["name"] == "interface")
        .unwrap();
    assert_eq!(rule["beat"][0], format!("{m}:11:1 (priority 0)"));
    assert_eq!(rule["input"]["line"], 5);
    assert!(events.iter().all(|e| e["file"] == i.as_str()));
    // transform traces each mapping of the route.
    let out = temp_dir("trace-out");
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "xen",
        "-o",
        out.to_str().unwrap(),
        "--trace",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("trace of samples/kvm/web.xml through kvm-to-hvx.hvx:"),
        "{err}"
    );
    assert!(
        err.contains("trace of samples/kvm/web.xml through hvx-to-xen.hvx:"),
        "{err}"
    );
}
