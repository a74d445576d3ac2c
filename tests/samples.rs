//! Every bundled sample × every target the binary writes is a case of the
//! suite `tests/suites/samples` (`hvxform test`): mapping authors review
//! output changes with `hvxform test tests/suites --review`.

mod common;
use common::*;
/// Targets `hvxform platforms` says can be written.
fn writable_targets() -> Vec<String> {
    let o = run(&["platforms"]);
    stdout(&o)
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(2) == Some(&"yes")).then(|| cols[0].to_string())
        })
        .collect()
}

#[test]
fn every_sample_to_every_target() {
    let targets = writable_targets();
    assert!(targets.contains(&"vsphere".to_string()) && targets.contains(&"kvm".to_string()));
    // Every platform's samples (samples/commands holds commands: tests/commands.rs).
    let mut dirs: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("commands"))
        .collect();
    dirs.sort();
    let mut missing = Vec::new();
    let mut cases = 0;
    for dir in dirs {
        let platform = dir.file_name().unwrap().to_string_lossy().into_owned();
        for sample in samples(&platform) {
            let file = sample.file_name().unwrap().to_string_lossy().into_owned();
            let stem = file.split('.').next().unwrap().to_string();
            for t in &targets {
                let case = root().join(format!("tests/suites/samples/{platform}/{stem}-to-{t}"));
                let yaml = std::fs::read_to_string(case.join("case.yaml")).unwrap_or_default();
                let input = format!("input: ../../../../../samples/{platform}/{file}\n");
                if !yaml.contains(&input) || !yaml.contains(&format!("to: {t}\n")) {
                    missing.push(case.display().to_string());
                }
                cases += 1;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cases missing or wrong:\n{}",
        missing.join("\n")
    );
    let o = run(&["test", "tests/suites/samples", "--color", "never"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("{cases} passed, 0 failed")),
        "{}",
        stdout(&o)
    );
}
