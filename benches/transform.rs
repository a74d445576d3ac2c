//! Transform cost vs the floor, side by side in one run: a realistic libvirt
//! domain through the shipped kvm → hvx → vsphere route, against parsing the
//! same input with roxmltree and writing the same number of nodes with
//! xmlwriter. `--quick` runs a few iterations (CI keeps it working; it never
//! fails on a time).

use std::time::{Duration, Instant};

use hvxform::engine::{Convert, Mappings};
use hvxform::exec::RunOptions;
use hvxform::platform;
use hvxform::session::MemoryStore;

/// The floor: parse the input with roxmltree, then write `nodes` nodes
/// (elements, attributes, texts, cycling through the input's) with xmlwriter.
fn floor(text: &str, nodes: usize) -> usize {
    let doc = roxmltree::Document::parse(text).unwrap();
    let mut w = xmlwriter::XmlWriter::new(xmlwriter::Options::default());
    w.start_element("root");
    let mut written = 1;
    while written < nodes {
        for c in doc.descendants() {
            if written >= nodes {
                break;
            }
            if c.is_element() {
                w.start_element(c.tag_name().name());
                written += 1;
                for a in c.attributes() {
                    if written < nodes {
                        w.write_attribute(a.name(), a.value());
                        written += 1;
                    }
                }
                if let Some(t) = c.text().filter(|t| !t.trim().is_empty()) {
                    w.write_text(t);
                    written += 1;
                }
                w.end_element();
            }
        }
    }
    w.end_document().len()
}

/// Elements + attributes + non-blank texts of a document.
fn count_nodes(xml: &str) -> usize {
    let d = roxmltree::Document::parse(xml).unwrap();
    d.descendants()
        .map(|n| {
            if n.is_element() {
                1 + n.attributes().len()
            } else if n.is_text() && n.text().is_some_and(|t| !t.trim().is_empty()) {
                1
            } else {
                0
            }
        })
        .sum()
}

fn time<F: FnMut() -> usize>(iters: u32, mut f: F) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut sink = 0;
        for _ in 0..iters {
            sink += f();
        }
        std::hint::black_box(sink);
        best = best.min(t.elapsed() / iters);
    }
    best
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--profile hub|route`: loop one case for a profiler, print nothing.
    let profile = std::env::args().skip_while(|a| a != "--profile").nth(1);
    let iters = if quick { 20 } else { 2000 };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/kvm/web.xml");
    let text = std::fs::read_to_string(path).unwrap();
    let mappings = Mappings::new(None);
    let store = MemoryStore::default();
    let conv = Convert {
        mappings: &mappings,
        params: vec![],
        sessions: &store,
        // The CLI's default: count unmapped nodes, list them only for -v/--report.
        run: RunOptions {
            detail: false,
            ..RunOptions::default()
        },
    };
    let vsphere = platform::by_name("vsphere").unwrap();
    let hvx = platform::by_name("hvx").unwrap();
    // Compile once, outside the timing.
    conv.convert("web.xml", &text, None, &[vsphere]).unwrap();
    if let Some(case) = profile {
        let target = if case == "hub" { hvx } else { vsphere };
        let mut n = 0;
        for _ in 0..20000 {
            n += conv.convert("web.xml", &text, None, &[target]).unwrap().0[0]
                .xml
                .len();
        }
        std::hint::black_box(n);
        return;
    }
    let hub_out = conv.convert("web.xml", &text, None, &[hvx]).unwrap().0[0]
        .xml
        .clone();
    let vs_out = conv.convert("web.xml", &text, None, &[vsphere]).unwrap().0[0]
        .xml
        .clone();
    let n_hub = count_nodes(&hub_out);
    let n_route = n_hub + count_nodes(&vs_out);
    let t_floor_hub = time(iters, || floor(&text, n_hub));
    let t_floor_route = time(iters, || floor(&text, n_route));
    let t_hub = time(iters, || {
        conv.convert("web.xml", &text, None, &[hvx]).unwrap().0[0]
            .xml
            .len()
    });
    let t_route = time(iters, || {
        conv.convert("web.xml", &text, None, &[vsphere]).unwrap().0[0]
            .xml
            .len()
    });
    let t_compile = time(if quick { 2 } else { 50 }, || {
        let m = Mappings::new(None);
        m.program("kvm-to-hvx.hvx").unwrap().rules.len()
            + m.program("hvx-to-vsphere.hvx").unwrap().rules.len()
    });
    // What chaining through the hub costs: the route writes the hub compactly
    // and parses it again (see book/src/performance.md).
    let program = mappings.program("kvm-to-hvx.hvx").unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let compact = RunOptions {
        detail: false,
        compact: true,
        ..RunOptions::default()
    };
    let hub_compact = hvxform::exec::run(&program, &doc, &[], &store, &compact)
        .unwrap()
        .documents[0]
        .xml
        .clone();
    let t_reparse = time(iters, || {
        roxmltree::Document::parse(&hub_compact)
            .unwrap()
            .descendants()
            .len()
    });
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "input: {path} ({} bytes), {iters} iterations, best of 5",
        text.len()
    );
    println!("{:<52} {:>10}", "case", "per doc");
    println!(
        "{:<52} {:>10.1?}",
        format!("floor: parse input + write {n_hub} nodes"),
        t_floor_hub
    );
    println!(
        "{:<52} {:>10.1?}  {:.2}x its floor",
        format!("kvm -> hvx (writes {n_hub} nodes)"),
        t_hub,
        ratio(t_hub, t_floor_hub)
    );
    println!(
        "{:<52} {:>10.1?}",
        format!("floor: parse input + write {n_route} nodes"),
        t_floor_route
    );
    println!(
        "{:<52} {:>10.1?}  {:.2}x its floor",
        format!("kvm -> hvx -> vsphere (writes {n_route} nodes)"),
        t_route,
        ratio(t_route, t_floor_route)
    );
    println!(
        "{:<52} {:>10.1?}  {:.0}% of the route",
        format!(
            "  of which: reparse of the hub ({} bytes, compact)",
            hub_compact.len()
        ),
        t_reparse,
        100.0 * ratio(t_reparse, t_route)
    );
    println!("{:<52} {:>10.1?}", "compile both mappings", t_compile);
}
