//! Transform cost vs the floor, side by side in one run: a realistic libvirt
//! domain through the shipped kvm → vsphere route (the direct mapping), the
//! hub route kvm → hvx → vsphere and its first stage, each against parsing the
//! same input with roxmltree and writing the same number of nodes with
//! xmlwriter; kvm → hyperv (through the hub, then the CIM-XML writer); and
//! kvm → ec2 (through the hub; the instance type chosen from its table).
//! Then every source → target pair against its floor ([`matrix`]); under
//! `cargo bench` a route more than 3x slower, against its floor, than in
//! `benches/baseline.tsv` fails the run ([`guard`]; `--write-baseline`
//! rewrites the file). `--quick` runs a few iterations (CI's run: the
//! guard is its only verdict), as does `cargo test --all-targets` (no
//! `--bench`, no guard).
//!
//! `HVX_BENCH_MAPPINGS=DIR` times the direct route with the mappings of DIR
//! (as `transform --mappings DIR`), to measure what part of a mapping costs:
//! copy `mappings/`, remove or change a part, compare. `--profile CASE`
//! loops one case 20,000 times (`HVX_BENCH_LOOPS`) for a profiler; SRC may
//! be a file (`--profile out/web.hvx.xml:hyperv` times one stage).

use std::time::{Duration, Instant};

// The allocator the hvxform binary uses (src/main.rs), for the routes and
// the floors alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// One step of writing a document: what [`floor_exact`] replays.
enum Event {
    Start(String),
    Attr(String, String),
    Text(String),
    End,
}

/// The events that write `xml`'s elements, attributes and non-blank texts
/// (qualified names as written), outside any timing.
fn events(xml: &str) -> Vec<Event> {
    fn walk(n: roxmltree::Node, out: &mut Vec<Event>) {
        let q = |ns: Option<&str>, local: &str, scope: roxmltree::Node| match ns
            .and_then(|u| scope.lookup_prefix(u))
        {
            Some(p) if !p.is_empty() => format!("{p}:{local}"),
            _ => local.to_string(),
        };
        out.push(Event::Start(q(
            n.tag_name().namespace(),
            n.tag_name().name(),
            n,
        )));
        // Namespace declarations made on this element.
        let parent = n.parent_element();
        for ns in n.namespaces() {
            let inherited = parent.is_some_and(|p| p.namespaces().any(|o| o == ns));
            if !inherited && ns.name() != Some("xml") {
                let name = ns
                    .name()
                    .map_or("xmlns".to_string(), |p| format!("xmlns:{p}"));
                out.push(Event::Attr(name, ns.uri().to_string()));
            }
        }
        for a in n.attributes() {
            out.push(Event::Attr(
                q(a.namespace(), a.name(), n),
                a.value().to_string(),
            ));
        }
        for c in n.children() {
            if c.is_element() {
                walk(c, out);
            } else if let Some(t) = c.text().filter(|t| c.is_text() && !t.trim().is_empty()) {
                out.push(Event::Text(t.to_string()));
            }
        }
        out.push(Event::End);
    }
    let d = roxmltree::Document::parse(xml).unwrap();
    let mut out = Vec::new();
    walk(d.root_element(), &mut out);
    out
}

/// The exact floor: parse the input with roxmltree, then write exactly the
/// output's nodes (the declaration, the same names, namespace declarations,
/// attributes, texts and nesting) with xmlwriter, indented as the output is.
fn floor_exact(text: &str, ev: &[Event]) -> usize {
    let doc = roxmltree::Document::parse(text).unwrap();
    std::hint::black_box(doc.descendants().len());
    let opt = xmlwriter::Options {
        indent: xmlwriter::Indent::Spaces(2),
        ..xmlwriter::Options::default()
    };
    let mut w = xmlwriter::XmlWriter::new(opt);
    w.write_declaration();
    for e in ev {
        match e {
            Event::Start(n) => w.start_element(n),
            Event::Attr(n, v) => w.write_attribute(n, v),
            Event::Text(t) => w.write_text(t),
            Event::End => w.end_element(),
        }
    }
    w.end_document().len()
}

/// Elements + attributes + non-blank texts of a document.
/// The nodes of a JSON document, counted as its XML form would be: one per
/// member (its element) and one per scalar value (its text).
fn count_json_nodes(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m.values().map(|x| 1 + count_json_nodes(x)).sum(),
        serde_json::Value::Array(a) => a.iter().map(|x| 1 + count_json_nodes(x)).sum(),
        _ => 1,
    }
}

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

/// A route and its floor timed in alternation, `ROUNDS` batches of `iters`
/// each, so that a slow spell of the machine (this VM's speed drifts by 2x
/// within a minute) falls on both: each round gives one ratio, and the
/// median of the rounds' ratios is the route's ratio. Returns the best
/// time of each and that median.
fn paired<A: FnMut() -> usize, B: FnMut() -> usize>(
    iters: u32,
    mut route: A,
    mut floor: B,
) -> (Duration, Duration, f64) {
    const ROUNDS: usize = 9;
    let batch = |f: &mut dyn FnMut() -> usize| {
        let t = Instant::now();
        let mut sink = 0;
        for _ in 0..iters {
            sink += f();
        }
        std::hint::black_box(sink);
        t.elapsed() / iters
    };
    let (mut best_r, mut best_f) = (Duration::MAX, Duration::MAX);
    let mut ratios = Vec::with_capacity(ROUNDS);
    for k in 0..ROUNDS {
        // Alternate which goes first, so neither always runs warm.
        let (r, f) = if k % 2 == 0 {
            let r = batch(&mut route);
            (r, batch(&mut floor))
        } else {
            let f = batch(&mut floor);
            (batch(&mut route), f)
        };
        best_r = best_r.min(r);
        best_f = best_f.min(f);
        ratios.push(r.as_secs_f64() / f.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    (best_r, best_f, ratios[ROUNDS / 2])
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as
    // a smoke test (a debug build, no --bench): then a few iterations too.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    // `--profile floor|hub|route|via-hub|hyperv|ec2`: loop one case for a profiler, print nothing.
    let profile = std::env::args().skip_while(|a| a != "--profile").nth(1);
    let iters = if quick { 20 } else { 2000 };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/kvm/web.xml");
    let text = std::fs::read_to_string(path).unwrap();
    let mappings = Mappings::new(std::env::var_os("HVX_BENCH_MAPPINGS").map(Into::into));
    let hub_mappings = Mappings::new(None).via_hub(true);
    let store = MemoryStore::default();
    // The CLI's default: count unmapped nodes, list them only for -v/--report.
    let run = RunOptions {
        detail: false,
        ..RunOptions::default()
    };
    let conv = Convert {
        mappings: &mappings,
        params: vec![],
        sessions: &store,
        run: run.clone(),
    };
    let conv_hub = Convert {
        mappings: &hub_mappings,
        params: vec![],
        sessions: &store,
        run,
    };
    let vsphere = platform::by_name("vsphere").unwrap();
    let hyperv = platform::by_name("hyperv").unwrap();
    let ec2 = platform::by_name("ec2").unwrap();
    let hvx = platform::by_name("hvx").unwrap();
    let one = |c: &Convert, target| {
        c.convert("web.xml", &text, None, &[target])
            .unwrap()
            .0
            .swap_remove(0)
            .xml
    };
    // Compile once, outside the timing.
    let vs_out = one(&conv, vsphere);
    let overridden = std::env::var_os("HVX_BENCH_MAPPINGS").is_some();
    assert!(
        overridden || vs_out == one(&conv_hub, vsphere),
        "direct and hub routes differ"
    );
    if let Some(case) = profile {
        // `HVX_BENCH_LOOPS=N` changes the 20,000 (fewer for callgrind).
        let loops: usize = std::env::var("HVX_BENCH_LOOPS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(20000);
        if let Some((src, rel)) = case.rsplit_once(':') {
            // `--profile kvm:ovf`: one pair of the matrix, from its sample.
            let (path, from, target) = matrix_case(src, rel);
            let text = std::fs::read_to_string(&path).unwrap();
            let mut n = 0;
            for _ in 0..loops {
                n += conv.convert(&path, &text, from, &[target]).unwrap().0.len();
            }
            std::hint::black_box(n);
            return;
        }
        if case == "floor" {
            let nodes = count_nodes(&vs_out);
            let n: usize = (0..loops).map(|_| floor(&text, nodes)).sum();
            std::hint::black_box(n);
            return;
        }
        let (c, target) = match case.as_str() {
            "hub" => (&conv, hvx),
            "hyperv" => (&conv, hyperv),
            "ec2" => (&conv, ec2),
            "via-hub" => (&conv_hub, vsphere),
            _ => (&conv, vsphere),
        };
        let mut n = 0;
        for _ in 0..loops {
            n += one(c, target).len();
        }
        std::hint::black_box(n);
        return;
    }
    let hub_out = one(&conv, hvx);
    let n_hub = count_nodes(&hub_out);
    let n_vs = count_nodes(&vs_out);
    let ev_vs = events(&vs_out);
    let direct = paired(iters, || one(&conv, vsphere).len(), || floor(&text, n_vs));
    let exact = paired(
        iters,
        || one(&conv, vsphere).len(),
        || floor_exact(&text, &ev_vs),
    );
    let hub = paired(iters, || one(&conv, hvx).len(), || floor(&text, n_hub));
    let via_hub = paired(
        iters,
        || one(&conv_hub, vsphere).len(),
        || floor(&text, n_hub + n_vs),
    );
    // kvm -> hyperv: the hub, then the canonical Hyper-V form (counted as
    // the nodes written: its instances are text once packed into CIM-XML).
    let hv_out = one(&conv, hyperv);
    let n_hv = count_nodes(&platform::hyperv::read("out.xml", &hv_out).unwrap());
    let hyperv_t = paired(
        iters,
        || one(&conv, hyperv).len(),
        || floor(&text, n_hub + n_hv),
    );
    // kvm -> ec2: the hub, then the DescribeInstances response (the
    // instance type chosen from the 1,241-row table) and the requests
    // beside it (RunInstances, ImportImage per disk, as JSON): the floor
    // writes the nodes of all of them.
    let n_ec2: usize = conv
        .convert("web.xml", &text, None, &[ec2])
        .unwrap()
        .0
        .iter()
        .map(|d| {
            if d.json {
                count_json_nodes(&serde_json::from_str(&d.xml).unwrap())
            } else {
                count_nodes(&d.xml)
            }
        })
        .sum();
    let ec2_t = paired(
        iters,
        || one(&conv, ec2).len(),
        || floor(&text, n_hub + n_ec2),
    );
    let t_compile = time(if quick { 2 } else { 50 }, || {
        let m = Mappings::new(None);
        m.program("kvm-to-vsphere.hvx").unwrap().rules.len()
    });
    let t_compile_hub = time(if quick { 2 } else { 50 }, || {
        let m = Mappings::new(None);
        m.program("kvm-to-hvx.hvx").unwrap().rules.len()
            + m.program("hvx-to-vsphere.hvx").unwrap().rules.len()
    });
    println!(
        "input: {path} ({} bytes), {iters} iterations, each route timed beside its floor in 9 alternating rounds: best time, median ratio",
        text.len()
    );
    println!("{:<60} {:>10}", "case", "per doc");
    // Each route beside its floor, timed in alternation (see [`paired`]):
    // the ratio is the median of the rounds' ratios.
    let pair = |route: String, floor: String, (t, f, r): (Duration, Duration, f64)| {
        println!("{floor:<60} {f:>10.1?}");
        println!("{route:<60} {t:>10.1?}  {r:.2}x its floor");
    };
    pair(
        format!("kvm -> vsphere, shipped route: direct (writes {n_vs} nodes)"),
        format!("floor: parse input + write {n_vs} nodes"),
        direct,
    );
    pair(
        "kvm -> vsphere, direct, against the exact floor".to_string(),
        "exact floor: parse input + write the output's own nodes".to_string(),
        exact,
    );
    pair(
        format!("kvm -> hvx (writes {n_hub} nodes)"),
        format!("floor: parse input + write {n_hub} nodes"),
        hub,
    );
    pair(
        format!(
            "kvm -> hvx -> vsphere, --via-hub (writes {} nodes)",
            n_hub + n_vs
        ),
        format!("floor: parse input + write {} nodes", n_hub + n_vs),
        via_hub,
    );
    pair(
        format!(
            "kvm -> hvx -> hyperv (writes {} nodes, then packs CIM-XML)",
            n_hub + n_hv
        ),
        format!("floor: parse input + write {} nodes", n_hub + n_hv),
        hyperv_t,
    );
    pair(
        format!(
            "kvm -> hvx -> ec2 + requests (writes {} nodes)",
            n_hub + n_ec2
        ),
        format!("floor: parse input + write {} nodes", n_hub + n_ec2),
        ec2_t,
    );
    let ratios = matrix(&conv, if quick { 20 } else { 300 });
    // `cargo bench` (release): every route against the kept baseline. Not
    // under `cargo test --all-targets`, whose debug build has other ratios.
    if std::env::args().any(|a| a == "--bench") {
        guard(&ratios);
    }
    println!("{:<60} {t_compile:>10.1?}", "compile kvm-to-vsphere");
    println!(
        "{:<60} {t_compile_hub:>10.1?}",
        "compile kvm-to-hvx + hvx-to-vsphere"
    );
}

/// The sample of each platform in [`matrix`].
const SAMPLES: &[(&str, &str)] = &[
    ("kvm", "samples/kvm/web.xml"),
    ("vmware", "samples/vmware/web.vmx"),
    ("xen", "samples/xen/web.cfg"),
    ("vsphere", "samples/vsphere/web.xml"),
    ("ovf", "samples/ovf/web.ovf"),
    ("hyperv", "samples/hyperv/web-gen2.xml"),
    ("ec2", "samples/ec2/web.xml"),
];

/// The sample of `src` (or `src` itself, a file, read as detected) and
/// the platform `target` of a `--profile SRC:TARGET`.
fn matrix_case(
    src: &str,
    target: &str,
) -> (
    String,
    Option<&'static hvxform::platform::Platform>,
    &'static hvxform::platform::Platform,
) {
    let target = platform::by_name(target).expect("a target platform");
    match SAMPLES.iter().find(|(p, _)| *p == src) {
        Some((p, rel)) => (
            format!("{}/{rel}", env!("CARGO_MANIFEST_DIR")),
            platform::by_name(p).ok(),
            target,
        ),
        None => (src.to_string(), None, target),
    }
}

/// Every source → target pair: one bundled sample of each platform (its
/// `web` VM) converted to every other platform and to the hub, each against
/// its node-count floor: parsing the document the route's first mapping
/// reads (the input itself, or for `.vmx`, xl.cfg and Hyper-V's CIM-XML
/// their canonical XML form, which hvxform builds from them) and writing as
/// many nodes as the route writes (the hub, where the route goes through
/// it, and every output document in its canonical XML form; JSON members
/// and values counted as their XML would be).
fn matrix(conv: &Convert, iters: u32) -> Vec<(String, String, f64)> {
    let mut ratios = Vec::new();
    let targets: Vec<&str> = SAMPLES
        .iter()
        .map(|(p, _)| *p)
        .chain(std::iter::once("hvx"))
        .collect();
    let direct = |s: &str, t: &str| {
        hvxform::engine::EMBEDDED
            .iter()
            .any(|(n, _)| *n == format!("{s}-to-{t}.hvx"))
    };
    println!();
    println!(
        "every route: per document, and × its node-count floor ({iters} iterations; the median ratio of 9 rounds timed beside the floor)"
    );
    print!("{:<9}", "from \\ to");
    for t in &targets {
        print!(" {t:>16}");
    }
    println!();
    let mut worst: Vec<(f64, String)> = Vec::new();
    for (src, rel) in SAMPLES {
        let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let from = platform::by_name(src).unwrap();
        let read = platform::to_xml(&path, &text, Some(from))
            .unwrap()
            .into_owned();
        let docs = |target: &'static hvxform::platform::Platform| {
            conv.convert(&path, &text, Some(from), &[target])
                .unwrap_or_else(|e| panic!("{src} -> {}: {e}", target.name))
                .0
        };
        let hvx = platform::by_name("hvx").unwrap();
        let hub_nodes = count_nodes(&docs(hvx)[0].xml);
        print!("{src:<9}");
        for t in &targets {
            if t == src {
                print!(" {:>16}", "-");
                continue;
            }
            let target = platform::by_name(t).unwrap();
            let mut nodes = if *t == "hvx" || direct(src, t) {
                0
            } else {
                hub_nodes
            };
            for d in docs(target) {
                nodes += if d.json {
                    count_json_nodes(&serde_json::from_str(&d.xml).unwrap())
                } else {
                    count_nodes(&platform::to_xml("out", &d.xml, Some(target)).unwrap())
                };
            }
            let (t_route, _, r) = paired(iters, || docs(target).len(), || floor(&read, nodes));
            print!(" {:>8.1?} {r:>5.2}x", t_route);
            worst.push((r, format!("{src} -> {t}")));
            ratios.push((src.to_string(), t.to_string(), r));
        }
        println!();
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    let over = worst.iter().filter(|(r, _)| *r > 2.5).count();
    println!(
        "{over} of {} routes over 2.5x their floor; the worst: {}",
        worst.len(),
        worst
            .iter()
            .take(5)
            .map(|(r, n)| format!("{n} {r:.2}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    ratios
}

/// Where the kept ratios are: `benches/baseline.tsv`.
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/baseline.tsv");

/// A regression guard: fails (exit 1) when a route's ratio to its floor is
/// more than 3x its ratio in `benches/baseline.tsv`; ratios, taken in one
/// run, hold across machines better than times. `--write-baseline` writes
/// the file from this run instead (do it after a full run, not `--quick`,
/// when a route got faster or a new one came). A route the file lacks is
/// reported, not failed.
fn guard(ratios: &[(String, String, f64)]) {
    if std::env::args().any(|a| a == "--write-baseline") {
        let mut out = String::from(
            "# Each route's per-document time over its node-count floor, from\n\
             # `cargo bench --bench transform -- --write-baseline` (benches/transform.rs).\n\
             # The bench fails when a route's ratio is more than 3x the one here.\n",
        );
        for (s, t, r) in ratios {
            out.push_str(&format!("{s}\t{t}\t{r:.2}\n"));
        }
        std::fs::write(BASELINE, out).expect("write benches/baseline.tsv");
        println!("wrote {BASELINE}");
        return;
    }
    let text = std::fs::read_to_string(BASELINE).expect("read benches/baseline.tsv");
    let kept: Vec<(&str, &str, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let r = f.get(2).and_then(|r| r.parse().ok());
            match (f.as_slice(), r) {
                ([s, t, _], Some(r)) => (*s, *t, r),
                _ => panic!("benches/baseline.tsv: not `source<TAB>target<TAB>ratio`: {l:?}"),
            }
        })
        .collect();
    let mut failed = Vec::new();
    for (s, t, r) in ratios {
        match kept.iter().find(|(ks, kt, _)| ks == s && kt == t) {
            Some((_, _, base)) if *r > 3.0 * base => failed.push(format!(
                "{s} -> {t}: {r:.2}x its floor, more than 3x the baseline's {base:.2}x"
            )),
            Some(_) => {}
            None => println!("{s} -> {t}: not in benches/baseline.tsv"),
        }
    }
    if !failed.is_empty() {
        eprintln!(
            "regression against benches/baseline.tsv:\n  {}",
            failed.join("\n  ")
        );
        std::process::exit(1);
    }
    println!("every route within 3x of benches/baseline.tsv");
}
