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
        println!(
            "{:<8} {:<5} {:<5} {:<8} description",
            "name", "read", "write", "ext"
        );
        for p in PLATFORMS {
            let reads = p.name == "hvx" || m.exists(&format!("{}-to-hvx.hvx", p.name));
            let writes = p.name == "hvx" || m.exists(&format!("hvx-to-{}.hvx", p.name));
            let yn = |b| if b { "yes" } else { "no" };
            println!(
                "{:<8} {:<5} {:<5} {:<8} {}",
                p.name,
                yn(reads),
                yn(writes),
                p.ext,
                p.title
            );
        }
        println!();
        println!("routes (source -> target, through the hvx hub):");
        for a in PLATFORMS {
            let targets: Vec<&str> = PLATFORMS
                .iter()
                .filter(|b| m.route(a, b).is_ok())
                .map(|b| b.name)
                .collect();
            if !targets.is_empty() {
                println!("  {:<8} -> {}", a.name, targets.join(", "));
            }
        }
        super::exit::OK
    }
}
