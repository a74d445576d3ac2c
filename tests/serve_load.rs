//! The transform server under load: 4 `hvxform serve` instances sharing one
//! PostgreSQL database, 20,000 conversions (`HVX_LOAD_COUNT`) whose inputs
//! overlap in networks, datastores and VM ids, one instance killed with
//! SIGKILL a third of the way in, and PostgreSQL restarted (`HVX_PG_DIR`,
//! the cluster `.ci/run` started) two thirds of the way in.
//!
//! Afterwards every table is a bijection, no pair was minted twice, and
//! every answer's identifiers are the table's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{pg_database, Server, AUTH};

const VMS: usize = 500;
const NETWORKS: usize = 30;
const POOLS: usize = 20;

/// Input `i`: VM id, datastore directory, network, and the document.
fn input(template: &str, i: usize) -> (usize, String, String, String) {
    let (id, pool, net) = (1 + i % VMS, i % POOLS, (i / 7) % NETWORKS);
    let dir = format!("/pool-{pool}");
    let net = format!("net-{net}");
    let doc = template
        .replacen(
            "<domain type='kvm'>",
            &format!("<domain type='kvm' id='{id}'>"),
            1,
        )
        .replacen("<name>web</name>", &format!("<name>vm-{id}</name>"), 1)
        .replace(
            "/var/lib/libvirt/images/web.qcow2",
            &format!("{dir}/vm-{id}.qcow2"),
        )
        .replace(
            "<source network='default'/>",
            &format!("<source network='{net}'/>"),
        );
    (id, dir, net, doc)
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(&s[a..b])
}

#[derive(Default)]
struct Seen {
    /// What answers said: VM id → uuid, directory → datastore, network → port group.
    vm: BTreeMap<usize, BTreeSet<String>>,
    ds: BTreeMap<String, BTreeSet<String>>,
    net: BTreeMap<String, BTreeSet<String>>,
}

#[test]
fn four_instances_one_database_kill_and_restart() {
    let Some(url) = pg_database("load") else {
        return;
    };
    let pg_dir = std::env::var("HVX_PG_DIR").ok();
    if pg_dir.is_none() {
        assert!(
            std::env::var("HVX_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "HVX_PG_DIR (the PostgreSQL cluster to restart) is required"
        );
    }
    let count: usize = std::env::var("HVX_LOAD_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let template = std::fs::read_to_string(common::root().join("samples/kvm/web.xml")).unwrap();
    let mut servers: Vec<Server> = (0..4)
        .map(|_| Server::start(&["--session", &url, "--workers", "2"]))
        .collect();
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    // Phase 1: until the kill has happened and PostgreSQL is not yet
    // stopped. Errors that clients of live instances see in it.
    let pg_down = AtomicBool::new(false);
    // Set when the run cannot go on (the clients stop; the test fails).
    let abort = AtomicBool::new(false);
    let errors_of_live = AtomicUsize::new(0);
    let unavailable = AtomicUsize::new(0);
    let refused_after_kill = AtomicUsize::new(0);
    let seen = Mutex::new(Seen::default());
    let deadline = Instant::now() + Duration::from_secs(900);
    let start = Instant::now();
    std::thread::scope(|sc| {
        for t in 0..16 {
            let (addrs, next, done, killed) = (&addrs, &next, &done, &killed);
            let (pg_down, errors_of_live, unavailable, refused_after_kill) =
                (&pg_down, &errors_of_live, &unavailable, &refused_after_kill);
            let (seen, template, abort) = (&seen, &template, &abort);
            sc.spawn(move || {
                let mut home = t % 4;
                let mut client = common::http::Client::new(&addrs[home]);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count || abort.load(Ordering::SeqCst) {
                        return;
                    }
                    let (id, dir, net, doc) = input(template, i);
                    loop {
                        if abort.load(Ordering::SeqCst) {
                            return;
                        }
                        if Instant::now() > deadline {
                            abort.store(true, Ordering::SeqCst);
                            panic!("the load run took too long");
                        }
                        let r = client.send(
                            "POST",
                            &format!("/v1/convert?to=vsphere&name=vm-{i}.xml"),
                            &[AUTH, ("Accept", "application/xml")],
                            doc.as_bytes(),
                        );
                        match r {
                            Ok(r) if r.status == 200 => {
                                let uuid =
                                    between(&r.body, "<instanceUuid>", "<").unwrap().to_string();
                                let ds = between(&r.body, "<fileName>[", "]").unwrap().to_string();
                                let pg = between(&r.body, "<deviceName>", "<").unwrap().to_string();
                                let mut s = seen.lock().unwrap();
                                s.vm.entry(id).or_default().insert(uuid);
                                s.ds.entry(dir.clone()).or_default().insert(ds);
                                s.net.entry(net.clone()).or_default().insert(pg);
                                break;
                            }
                            Ok(r) if r.status == 503 => {
                                unavailable.fetch_add(1, Ordering::Relaxed);
                                if !pg_down.load(Ordering::SeqCst) {
                                    errors_of_live.fetch_add(1, Ordering::Relaxed);
                                    eprintln!("503 with the database up: {}", r.body);
                                }
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            Ok(r) => {
                                abort.store(true, Ordering::SeqCst);
                                panic!("input {i}: {} {}", r.status, r.body)
                            }
                            Err(e) => {
                                // Only the killed instance may refuse; its
                                // clients move to the next instance, as a
                                // load balancer would send them.
                                if !(killed.load(Ordering::SeqCst) && home == 0) {
                                    abort.store(true, Ordering::SeqCst);
                                    panic!("instance {home}: {e}");
                                }
                                refused_after_kill.fetch_add(1, Ordering::Relaxed);
                                home = 1 + t % 3;
                                client = common::http::Client::new(&addrs[home]);
                            }
                        }
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        // The disturbances, driven by progress. A client that fails stops
        // the others (abort), and this thread with them.
        let wait_for = |n: usize| {
            while done.load(Ordering::SeqCst) < n {
                if abort.load(Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            true
        };
        if !wait_for(count / 3) {
            return;
        }
        killed.store(true, Ordering::SeqCst);
        servers[0].kill();
        eprintln!(
            "killed instance 0 at {} conversions",
            done.load(Ordering::SeqCst)
        );
        if !wait_for(2 * count / 3) {
            return;
        }
        if let Some(dir) = &pg_dir {
            let ctl = |cmd: &str| {
                let o = std::process::Command::new("bash")
                    .arg(common::root().join(".ci/postgres.sh"))
                    .args([cmd, dir])
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "postgres.sh {cmd}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            };
            pg_down.store(true, Ordering::SeqCst);
            let at = done.load(Ordering::SeqCst);
            ctl("stop");
            std::thread::sleep(Duration::from_secs(2));
            let during = done.load(Ordering::SeqCst);
            ctl("start");
            eprintln!(
                "PostgreSQL stopped at {at} conversions, {} more while it was down, restarted",
                during - at
            );
            // Back to normal once every instance has reconnected.
            std::thread::sleep(Duration::from_secs(3));
            pg_down.store(false, Ordering::SeqCst);
        }
    });
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{count} conversions in {secs:.1} s ({:.0}/s); {} answers 503 (database down), {} requests refused by the killed instance",
        count as f64 / secs,
        unavailable.load(Ordering::Relaxed),
        refused_after_kill.load(Ordering::Relaxed)
    );
    assert_eq!(done.load(Ordering::SeqCst), count);
    assert_eq!(
        errors_of_live.load(Ordering::Relaxed),
        0,
        "clients of live instances saw errors with the database up"
    );
    if pg_dir.is_some() {
        assert!(
            unavailable.load(Ordering::Relaxed) > 0,
            "no request failed while PostgreSQL was down"
        );
    }

    // The tables, as the database has them.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut table: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in db
        .query("SELECT tbl, left_value, right_value FROM hvx_pairs", &[])
        .unwrap()
    {
        let (t, l, r): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert!(table.entry(t).or_default().insert(l, r).is_none());
    }
    for (name, pairs) in &table {
        let rights: BTreeSet<&String> = pairs.values().collect();
        assert_eq!(rights.len(), pairs.len(), "table {name} is not one to one");
    }
    let s = seen.into_inner().unwrap();
    // No pair minted twice: one pair per VM id, datastore directory and
    // network the inputs used, and the datastores numbered 1..=20 without gaps.
    assert_eq!(table["vm_ids"].len(), VMS.min(count));
    assert_eq!(table["datastores"].len(), POOLS.min(count));
    let numbers: BTreeSet<&str> = table["datastores"].values().map(|v| v.as_str()).collect();
    let expected: Vec<String> = (1..=POOLS.min(count))
        .map(|n| format!("datastore{n}"))
        .collect();
    assert_eq!(numbers, expected.iter().map(|s| s.as_str()).collect());
    assert_eq!(table["networks"].len(), NETWORKS.min(count));
    // Every answer agrees with the table.
    for (id, uuids) in &s.vm {
        assert_eq!(uuids.len(), 1, "VM {id} got {uuids:?}");
        assert_eq!(
            uuids.first(),
            table["vm_ids"].get(&id.to_string()),
            "VM {id}"
        );
    }
    for (dir, names) in &s.ds {
        assert_eq!(names.len(), 1, "{dir} got {names:?}");
        assert_eq!(names.first(), table["datastores"].get(dir), "{dir}");
    }
    for (net, names) in &s.net {
        assert_eq!(names.len(), 1, "{net} got {names:?}");
        assert_eq!(names.first(), table["networks"].get(net), "{net}");
    }
}
