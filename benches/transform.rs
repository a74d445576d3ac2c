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

fn floor(text: &str) -> usize {
    let doc = roxmltree::Document::parse(text).unwrap();
    let mut w = xmlwriter::XmlWriter::new(xmlwriter::Options::default());
    fn walk(n: roxmltree::Node, w: &mut xmlwriter::XmlWriter) {
        for c in n.children() {
            if c.is_element() {
                w.start_element(c.tag_name().name());
                for a in c.attributes() {
                    w.write_attribute(a.name(), a.value());
                }
                walk(c, w);
                w.end_element();
            } else if let Some(t) = c.text().filter(|t| !t.trim().is_empty()) {
                w.write_text(t);
            }
        }
    }
    walk(doc.root(), &mut w);
    w.end_document().len()
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
    let iters = if quick { 20 } else { 2000 };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/kvm/web.xml");
    let text = std::fs::read_to_string(path).unwrap();
    let mappings = Mappings::new(None);
    let store = MemoryStore::default();
    let conv = Convert {
        mappings: &mappings,
        params: vec![],
        sessions: &store,
        run: RunOptions::default(),
    };
    let vsphere = platform::by_name("vsphere").unwrap();
    let hvx = platform::by_name("hvx").unwrap();
    // Compile once, outside the timing.
    conv.convert("web.xml", &text, None, &[vsphere]).unwrap();
    let t_floor = time(iters, || floor(&text));
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
    println!(
        "input: {path} ({} bytes), {iters} iterations, best of 5",
        text.len()
    );
    println!("{:<44} {:>12}", "case", "per doc");
    println!(
        "{:<44} {:>10.1?}",
        "floor (roxmltree parse + xmlwriter write)", t_floor
    );
    println!(
        "{:<44} {:>10.1?}  ({:.2}x floor)",
        "kvm -> hvx (one program)",
        t_hub,
        t_hub.as_secs_f64() / t_floor.as_secs_f64()
    );
    println!(
        "{:<44} {:>10.1?}  ({:.2}x floor)",
        "kvm -> hvx -> vsphere (shipped route)",
        t_route,
        t_route.as_secs_f64() / t_floor.as_secs_f64()
    );
    println!("{:<44} {:>10.1?}", "compile both mappings", t_compile);
}
