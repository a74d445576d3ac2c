//! Every bundled sample × every target the binary writes is a snapshot:
//! mapping authors review output changes with `cargo insta review`.

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
    for dir in dirs {
        let platform = dir.file_name().unwrap().to_string_lossy().into_owned();
        for sample in samples(&platform) {
            let stem = sample.file_stem().unwrap().to_string_lossy().into_owned();
            for t in &targets {
                let dir = temp_dir(&format!("samples-{platform}-{stem}-{t}"));
                let o = run(&[
                    "transform",
                    sample.to_str().unwrap(),
                    "--to",
                    t,
                    "-o",
                    dir.to_str().unwrap(),
                ]);
                assert_eq!(
                    o.status.code(),
                    Some(0),
                    "{} → {t}: {}",
                    sample.display(),
                    stderr(&o)
                );
                // The document, or (EC2's requests beside it) each file
                // after a line with its name.
                let files = file_names(&dir);
                let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
                let text = match files.as_slice() {
                    [one] => read(one),
                    many => many
                        .iter()
                        .map(|f| format!("=== {f}\n{}", read(f)))
                        .collect(),
                };
                insta::assert_snapshot!(format!("{platform}__{stem}__{t}"), text);
            }
        }
    }
}
