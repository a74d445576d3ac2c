//! Session store cost: lock + load, one lookup, and save of a store with
//! 100,000 entries (what a `transform --session` pays on top of converting),
//! and the cost of one lookup at 1,000 and at 100,000 entries (hash lookups:
//! the same). `--quick` uses 10,000 entries and fewer rounds (CI keeps it
//! working; it never fails on a time).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hvxform::program::{Loc, SessionDef};
use hvxform::session::{SessionAccess, StoreFile, Tables};
use hvxform::syntax::ast::{Miss, SessionType};

fn def() -> SessionDef {
    SessionDef {
        name: "vm_ids".into(),
        left: SessionType::String,
        right: SessionType::Uuid,
        miss: Miss::Mint(None),
        loc: Loc::default(),
    }
}

/// A store file with `n` entries in one `string <-> uuid` table.
fn make_store(path: &Path, n: usize) {
    let _ = std::fs::remove_file(path);
    let mut s = StoreFile::open(path, |_| {}).unwrap();
    fill(s.tables(), n);
    assert!(s.commit().unwrap());
}

fn fill(t: &mut Tables, n: usize) {
    let d = def();
    for i in 0..n {
        t.lookup(&d, false, &format!("vm-{i:06}")).unwrap();
    }
}

fn best<F: FnMut()>(rounds: u32, mut f: F) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Nanoseconds per lookup of existing keys in a table of `n` entries.
fn lookup_ns(n: usize, lookups: usize) -> f64 {
    let mut t = Tables::default();
    fill(&mut t, n);
    let d = def();
    let keys: Vec<String> = (0..1000)
        .map(|i| format!("vm-{:06}", i * n / 1000))
        .collect();
    let el = best(5, || {
        let mut sink = 0;
        for k in 0..lookups {
            sink += t.lookup(&d, false, &keys[k % keys.len()]).unwrap().0.len();
        }
        std::hint::black_box(sink);
    });
    el.as_nanos() as f64 / lookups as f64
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as
    // a smoke test (a debug build, no --bench): then a few iterations too.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let (n, rounds) = if quick { (10_000, 2) } else { (100_000, 5) };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("session-{n}.yaml"));
    let t0 = Instant::now();
    make_store(&path, n);
    let t_first = t0.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    let d = def();

    // What one `transform --session` does: lock and load, look up (here a
    // new key, so there is something to save), save, unlock.
    let (mut t_load, mut t_lookup, mut t_save, mut t_total) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for k in 0..rounds {
        let a = Instant::now();
        let s = StoreFile::open(&path, |_| {}).unwrap();
        let b = Instant::now();
        s.lookup(&d, false, &format!("new-{k}")).unwrap();
        let c = Instant::now();
        assert!(s.commit().unwrap());
        let e = Instant::now();
        t_load = t_load.min(b - a);
        t_lookup = t_lookup.min(c - b);
        t_save = t_save.min(e - c);
        t_total = t_total.min(e - a);
    }
    // A run that mints nothing does not save.
    let t_readonly = best(rounds, || {
        let s = StoreFile::open(&path, |_| {}).unwrap();
        s.lookup(&d, false, "vm-000001").unwrap();
        assert!(!s.commit().unwrap());
    });

    let lookups = if quick { 100_000 } else { 1_000_000 };
    let small = lookup_ns(1_000, lookups);
    let large = lookup_ns(n, lookups);

    println!(
        "store: {n} entries, {size} bytes ({:.1} MiB), best of {rounds}",
        size as f64 / (1 << 20) as f64
    );
    println!("{:<40} {:>12.1?}", "build + first save", t_first);
    println!("{:<40} {:>12.1?}", "lock + load + check", t_load);
    println!(
        "{:<40} {:>12.1?}",
        "one lookup (mints a new pair)", t_lookup
    );
    println!(
        "{:<40} {:>12.1?}",
        "save (write, fsync, rename, fsync dir)", t_save
    );
    println!("{:<40} {:>12.1?}", "load + lookup + save", t_total);
    println!(
        "{:<40} {:>12.1?}",
        "load + lookup, nothing to save", t_readonly
    );
    println!("{:<40} {:>10.0} ns", "lookup, 1,000 entries", small);
    println!(
        "{:<40} {:>10.0} ns  ({:.2}x the 1,000-entry lookup)",
        format!("lookup, {n} entries"),
        large,
        large / small
    );
    let _ = std::fs::remove_file(&path);
}
