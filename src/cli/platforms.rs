//! `hvxform platforms`: what each platform reads and writes, and the routes.

use clap::Args;

use super::Ctx;
use crate::engine::Mappings;
use crate::platform::PLATFORMS;

/// List the platforms, what each reads and writes, and the available routes.
#[derive(Debug, Args)]
pub struct Platforms {}

impl Platforms {
    pub fn run(self, _ctx: &Ctx) -> u8 {
        let m = Mappings::new(None);
        super::outln!(
            "{:<8} {:<5} {:<5} {:<8} description",
            "name",
            "read",
            "write",
            "ext"
        );
        for p in PLATFORMS {
            let reads = p.name == "hvx" || m.exists(&format!("{}-to-hvx.hvx", p.name));
            let writes = p.name == "hvx" || m.exists(&format!("hvx-to-{}.hvx", p.name));
            let yn = |b| if b { "yes" } else { "no" };
            super::outln!(
                "{:<8} {:<5} {:<5} {:<8} {}",
                p.name,
                yn(reads),
                yn(writes),
                p.ext,
                p.title
            );
        }
        super::outln!();
        super::outln!(
            "routes (source -> target; * = one direct mapping, the others through the hvx hub):"
        );
        for a in PLATFORMS {
            let targets: Vec<String> = PLATFORMS
                .iter()
                .filter_map(|b| {
                    let files = m.route(a, b).ok()?;
                    let direct = files.len() == 1 && a.name != "hvx" && b.name != "hvx";
                    Some(format!("{}{}", b.name, if direct { "*" } else { "" }))
                })
                .collect();
            if !targets.is_empty() {
                super::outln!("  {:<8} -> {}", a.name, targets.join(", "));
            }
        }
        let direct: Vec<String> = PLATFORMS
            .iter()
            .flat_map(|a| PLATFORMS.iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.name != b.name && a.name != "hvx" && b.name != "hvx")
            .filter_map(|(a, b)| {
                let f = format!("{}-to-{}.hvx", a.name, b.name);
                m.exists(&f).then_some(f)
            })
            .collect();
        if !direct.is_empty() {
            super::outln!();
            super::outln!(
                "direct mappings (transform --via-hub takes the hub route instead): {}",
                direct.join(", ")
            );
        }
        super::exit::OK
    }
}
