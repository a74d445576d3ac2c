//! Command translation, in one process as a management tool's batch would
//! run it (one thread, mappings compiled once): a direct command
//! (`PowerOnVM_Task`) and a data-dependent one (`ReconfigVM_Task` removing a
//! NIC, resolved through an 8 KB VirtualMachineConfigInfo context). Each
//! translation parses the command (and the context), builds the request and
//! runs both mappings (vSphere → hub → libvirt). `--quick` runs fewer rounds
//! (CI keeps it working; it never fails on a time).

use std::time::{Duration, Instant};

use hvxform::command;
use hvxform::engine::Mappings;
use hvxform::platform;
use hvxform::session::MemoryStore;

fn best<F: FnMut() -> usize>(rounds: u32, n: u32, mut f: F) -> Duration {
    let mut sink = 0;
    let d = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                sink += f();
            }
            t.elapsed() / n
        })
        .min()
        .unwrap();
    assert!(sink > 0);
    d
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, n) = if quick { (2, 200) } else { (5, 5000) };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/commands");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    let (power, nic, ctx) = (
        read("power-on.xml"),
        read("remove-nic.xml"),
        read("proof.context.xml"),
    );
    let mappings = Mappings::new(None);
    let kvm = platform::by_name("kvm").unwrap();
    let params = vec![("domain".to_string(), "web".to_string())];
    let one = |text: &str, context: Option<&str>, params: &[(String, String)]| -> usize {
        let doc = roxmltree::Document::parse(text).unwrap();
        let cmd = command::command_element(&doc).unwrap();
        let source = command::source_of(cmd).unwrap();
        let c = context.map(|t| roxmltree::Document::parse(t).unwrap());
        let roots: Vec<_> = c.iter().map(|d| d.root_element()).collect();
        let req = command::request(cmd, &roots).unwrap();
        let store = MemoryStore::default();
        let t = command::translate(
            &mappings,
            "cmd.xml",
            &req,
            c.is_some(),
            source,
            kvm,
            params,
            &store,
        )
        .unwrap();
        t.output.len()
    };
    // Compile once, outside the timing.
    one(&power, None, &params);
    one(&nic, Some(&ctx), &[]);
    let direct = best(rounds, n, || one(&power, None, &params));
    let dependent = best(rounds, n, || one(&nic, Some(&ctx), &[]));
    // The floor: only parsing the command and its context.
    let floor = best(rounds, n, || {
        let a = roxmltree::Document::parse(&nic).unwrap();
        let b = roxmltree::Document::parse(&ctx).unwrap();
        a.descendants().len() + b.descendants().len()
    });
    // Parsing and building the request the mappings read (the context
    // copied into it), without running them.
    let request = best(rounds, n, || {
        let a = roxmltree::Document::parse(&nic).unwrap();
        let b = roxmltree::Document::parse(&ctx).unwrap();
        let cmd = command::command_element(&a).unwrap();
        command::request(cmd, &[b.root_element()])
            .unwrap()
            .descendants()
            .count()
    });
    let per_s = |d: Duration| 1.0 / d.as_secs_f64();
    println!("command translation, one thread, best of {rounds} × {n}");
    println!(
        "{:<62} {:>9.1?} {:>10.0}/s",
        "direct: PowerOnVM_Task → virsh start",
        direct,
        per_s(direct)
    );
    println!(
        "{:<62} {:>9.1?} {:>10.0}/s",
        format!("data-dependent: remove NIC by key, {} B context", ctx.len()),
        dependent,
        per_s(dependent)
    );
    println!(
        "{:<62} {:>9.1?} {:>10.0}/s",
        "  of which parsing and building the request",
        request,
        per_s(request)
    );
    println!(
        "{:<62} {:>9.1?} {:>10.0}/s  (the data-dependent command: {:.1}x this)",
        "floor: parse that command and its context (roxmltree)",
        floor,
        per_s(floor),
        dependent.as_secs_f64() / floor.as_secs_f64()
    );
}
