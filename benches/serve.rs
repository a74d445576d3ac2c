//! What a conversion costs the transform server with session tables in
//! PostgreSQL, against the same conversion with tables in memory: one
//! thread, the same document (`samples/kvm/web.xml` → vSphere, the shipped
//! route, which looks up its network and datastore and the VM id), one
//! transaction per conversion as `hvxform serve` runs it.
//!
//! Cases: tables in memory; PostgreSQL with every pair already there (the
//! steady state of a migration); PostgreSQL minting a new VM id in every
//! conversion (under the mint lock). Needs `HVX_PG_URL` (a database this
//! bench may fill); without it, only the memory case runs.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hvxform::engine::{Convert, Mappings};
use hvxform::exec::RunOptions;
use hvxform::platform;
use hvxform::session::{pg, MemoryStore, SessionAccess};

fn best<F: FnMut(usize)>(rounds: u32, n: usize, mut f: F) -> Duration {
    (0..rounds)
        .map(|r| {
            let t = Instant::now();
            for i in 0..n {
                f(r as usize * n + i);
            }
            t.elapsed() / n as u32
        })
        .min()
        .unwrap()
}

fn main() {
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let (n, rounds) = if quick { (20, 2) } else { (2000, 5) };
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/kvm/web.xml"))
        .unwrap();
    let mappings = Mappings::new(None);
    let vsphere = platform::by_name("vsphere").unwrap();
    let convert = |store: &dyn SessionAccess, doc: &str| {
        Convert {
            mappings: &mappings,
            params: vec![],
            sessions: store,
            run: RunOptions {
                detail: true,
                ..Default::default()
            },
        }
        .convert("web.xml", doc, None, &[vsphere])
        .unwrap()
        .0
        .len()
    };
    let with_id = |i: usize| {
        text.replacen(
            "<domain type='kvm'>",
            &format!("<domain type='kvm' id='{i}'>"),
            1,
        )
    };
    let fixed = with_id(1);
    convert(&MemoryStore::default(), &fixed);
    let mem = best(rounds, n, |_| {
        std::hint::black_box(convert(&MemoryStore::default(), &fixed));
    });
    println!(
        "{:<64} {:>9.1?}",
        "tables in memory (a fresh store per conversion)", mem
    );
    let Ok(url) = std::env::var("HVX_PG_URL") else {
        println!("PostgreSQL cases skipped: HVX_PG_URL is not set");
        return;
    };
    let mut client = Some(pg::connect(&url).unwrap());
    let mut run_pg = |doc: &str| {
        let s = pg::PgSession::begin(client.take().unwrap()).unwrap();
        let k = convert(&s, doc);
        let (_, c) = s.commit().unwrap();
        client = Some(c);
        k
    };
    run_pg(&fixed);
    let trips = pg::ROUND_TRIPS.load(Ordering::Relaxed);
    let found = best(rounds, n, |_| {
        std::hint::black_box(run_pg(&fixed));
    });
    let per =
        (pg::ROUND_TRIPS.load(Ordering::Relaxed) - trips) as f64 / (rounds as usize * n) as f64;
    println!(
        "{:<64} {:>9.1?}  {:.1}x memory, {per:.0} statements",
        "PostgreSQL, every pair there (BEGIN, lookups, COMMIT)",
        found,
        found.as_secs_f64() / mem.as_secs_f64()
    );
    // New VM ids from a base no earlier run used.
    let base = 1_000_000
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as usize
            % 1_000_000)
            * 1000;
    let docs: Vec<String> = (0..rounds as usize * n)
        .map(|i| with_id(base + i))
        .collect();
    let trips = pg::ROUND_TRIPS.load(Ordering::Relaxed);
    let minting = best(rounds, n, |i| {
        std::hint::black_box(run_pg(&docs[i]));
    });
    let per =
        (pg::ROUND_TRIPS.load(Ordering::Relaxed) - trips) as f64 / (rounds as usize * n) as f64;
    println!(
        "{:<64} {:>9.1?}  {:.1}x memory, {per:.0} statements",
        "PostgreSQL, a new VM id minted in each (mint lock, INSERT)",
        minting,
        minting.as_secs_f64() / mem.as_secs_f64()
    );
}
