//! Replays the stored fuzz corpora (fuzz/corpus/TARGET/, the inputs a
//! campaign kept for new coverage) and every input a campaign found a
//! failure with (fuzz/regressions/TARGET/) through the same entry points
//! the fuzz targets call, on stable Rust: what fuzzing fixed stays fixed.
//! book: Limits and robustness.

mod common;
use common::*;

/// A fuzz target: its name and its entry point.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("mapping", hvxform::fuzz::mapping),
    ("input", hvxform::fuzz::input),
    ("scan", hvxform::fuzz::scan),
    ("vmx", hvxform::fuzz::vmx),
    ("xl", hvxform::fuzz::xl),
    ("hyperv", hvxform::fuzz::hyperv),
    ("session", hvxform::fuzz::session),
    ("escape", hvxform::fuzz::escape),
];

/// Runs every file of `fuzz/KIND/TARGET/` through its target; returns how
/// many ran.
fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (target, run) in TARGETS {
        let dir = root().join("fuzz").join(kind).join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{target}: {} fails", f.display());
            n += 1;
        }
    }
    n
}

#[test]
fn regressions_found_by_fuzzing_stay_fixed() {
    let n = replay("regressions");
    assert!(n >= 1, "no regression inputs found under fuzz/regressions");
}

#[test]
fn the_stored_corpora_run_cleanly() {
    let n = replay("corpus");
    assert!(n >= 7, "only {n} corpus inputs under fuzz/corpus");
}

/// The escaping target on hostile strings, on stable: every one reads back.
#[test]
fn hostile_strings_read_back_through_the_writer() {
    for s in [
        "a & b < c > d \"e\" 'f'",
        "x\r\ny\tz\n\r",
        " \t lead and trail \n ",
        "]]> &amp; &#10; &lt;",
        "\u{85}\u{2028}",
        "caf\u{e9} \u{1F600}",
        "",
    ] {
        hvxform::fuzz::escape(s.as_bytes());
    }
}
