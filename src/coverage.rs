//! Coverage of mapping files over a test suite (`hvxform test --coverage`):
//! which rules, statements, branches, functions, templates, drops and
//! table rows ran, per mapping file, as a text summary and as lcov.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::exec::{probes, Hits, Probe};
use crate::program::{Loc, Program};

/// The kinds counted, in the order the summary shows them.
pub const KINDS: [&str; 7] = [
    "rule",
    "statement",
    "branch",
    "function",
    "template",
    "drop",
    "row",
];

/// One countable item of a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    line: usize,
    col: usize,
    kind: &'static str,
    what: String,
    /// For a branch: the line and column of its `if`, `match` or `choose`.
    point: Option<(usize, usize)>,
    arm: u32,
}

/// Coverage collected over many runs.
#[derive(Debug, Default)]
pub struct Report {
    /// File name → item → times it ran.
    files: BTreeMap<String, BTreeMap<Key, u64>>,
    /// Each program's items by probe, made once (by the program's address).
    items: HashMap<usize, HashMap<Probe, (String, Key)>>,
    /// Programs kept alive so that their addresses stay theirs.
    kept: Vec<Arc<Program>>,
}

fn line_col(p: &Program, loc: Loc) -> (usize, usize) {
    p.line_col(loc).unwrap_or((0, 0))
}

impl Report {
    /// Adds what one run of `p` ran (and, the first time `p` is seen,
    /// everything it could have run, at zero).
    pub fn add(&mut self, p: &Arc<Program>, hits: &Hits) {
        let addr = Arc::as_ptr(p) as usize;
        if !self.items.contains_key(&addr) {
            self.kept.push(p.clone());
            let items = Self::items_of(p);
            for (file, key) in items.values() {
                self.files
                    .entry(file.clone())
                    .or_default()
                    .entry(key.clone())
                    .or_default();
            }
            self.items.insert(addr, items);
        }
        let items = &self.items[&addr];
        for (probe, &n) in &hits.0 {
            if let Some((file, key)) = items.get(probe) {
                if let Some(c) = self.files.get_mut(file).and_then(|f| f.get_mut(key)) {
                    *c += n as u64;
                }
            }
        }
    }

    /// Everything `p` could run, by probe: its file and item.
    fn items_of(p: &Program) -> HashMap<Probe, (String, Key)> {
        probes(p)
            .into_iter()
            .map(|info| {
                let file = p
                    .sources
                    .get(info.loc.source as usize)
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                let (line, col) = line_col(p, info.loc);
                let (point, arm) = match &info.probe {
                    Probe::Arm(at, k) => (Some(line_col(p, *at)), *k),
                    _ => (None, 0),
                };
                let key = Key {
                    line,
                    col,
                    kind: info.kind,
                    what: info.what,
                    point,
                    arm,
                };
                (info.probe, (file, key))
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// (ran, total) of a kind in a file.
    fn count(items: &BTreeMap<Key, u64>, kind: &str) -> (usize, usize) {
        let of: Vec<_> = items.iter().filter(|(k, _)| k.kind == kind).collect();
        (of.iter().filter(|(_, &n)| n > 0).count(), of.len())
    }

    /// Totals by kind over every file: (ran, total).
    pub fn totals(&self) -> BTreeMap<&'static str, (usize, usize)> {
        let mut t = BTreeMap::new();
        for items in self.files.values() {
            for kind in KINDS {
                let (a, b) = Self::count(items, kind);
                let e = t.entry(kind).or_insert((0, 0));
                e.0 += a;
                e.1 += b;
            }
        }
        t
    }

    /// A table of each file's coverage by kind, then what never ran
    /// (at most `list` items per file).
    pub fn text(&self, list: usize) -> String {
        let pct = |(a, b): (usize, usize)| {
            if b == 0 {
                "-".to_string()
            } else {
                format!("{a}/{b} {:.0}%", 100.0 * a as f64 / b as f64)
            }
        };
        let width = self.files.keys().map(|f| f.len()).max().unwrap_or(4).max(5);
        let mut s = format!("{:<width$}", "file");
        for k in KINDS {
            let plural = if k == "branch" {
                "branches".to_string()
            } else {
                format!("{k}s")
            };
            s.push_str(&format!("  {plural:>13}"));
        }
        s.push('\n');
        let mut row = |name: &str, counts: &dyn Fn(&str) -> (usize, usize)| {
            s.push_str(&format!("{name:<width$}"));
            for k in KINDS {
                s.push_str(&format!("  {:>13}", pct(counts(k))));
            }
            s.push('\n');
        };
        for (f, items) in &self.files {
            row(f, &|k| Self::count(items, k));
        }
        if self.files.len() > 1 {
            let t = self.totals();
            row("total", &|k| t.get(k).copied().unwrap_or((0, 0)));
        }
        let mut never = String::new();
        for (f, items) in &self.files {
            let missed: Vec<_> = items.iter().filter(|(_, &n)| n == 0).collect();
            if missed.is_empty() {
                continue;
            }
            never.push_str(&format!("{f}: {} never ran\n", missed.len()));
            for (k, _) in missed.iter().take(list) {
                never.push_str(&format!(
                    "  {f}:{}:{}: {}: {}\n",
                    k.line, k.col, k.kind, k.what
                ));
            }
            if missed.len() > list {
                never.push_str(&format!(
                    "  … and {} more (--lcov FILE lists them all)\n",
                    missed.len() - list
                ));
            }
        }
        if !never.is_empty() {
            s.push('\n');
            s.push_str(&never);
        }
        s
    }

    /// The report in lcov's tracefile format (genhtml, Codecov, IDEs):
    /// rules, templates and functions as functions, branches as BRDA,
    /// statements and drops as lines. Embedded mappings are named by their
    /// path in the project (`mappings/…`).
    pub fn lcov(&self) -> String {
        let mut s = String::new();
        for (f, items) in &self.files {
            s.push_str("TN:hvxform\n");
            let path = f
                .strip_prefix("<builtin>/")
                .map(|n| format!("mappings/{n}"))
                .unwrap_or_else(|| f.clone());
            s.push_str(&format!("SF:{path}\n"));
            let fns: Vec<_> = items
                .iter()
                .filter(|(k, _)| matches!(k.kind, "rule" | "function" | "template"))
                .collect();
            for (k, _) in &fns {
                s.push_str(&format!("FN:{},{}\n", k.line, fn_name(k)));
            }
            for (k, n) in &fns {
                s.push_str(&format!("FNDA:{n},{}\n", fn_name(k)));
            }
            s.push_str(&format!("FNF:{}\n", fns.len()));
            s.push_str(&format!(
                "FNH:{}\n",
                fns.iter().filter(|(_, &n)| n > 0).count()
            ));
            let mut blocks: BTreeMap<(usize, usize), usize> = BTreeMap::new();
            let branches: Vec<_> = items.iter().filter(|(k, _)| k.kind == "branch").collect();
            for (k, _) in &branches {
                let next = blocks.len();
                blocks
                    .entry(k.point.unwrap_or((k.line, k.col)))
                    .or_insert(next);
            }
            for (k, n) in &branches {
                let p = k.point.unwrap_or((k.line, k.col));
                let taken = if **n == 0 {
                    "-".to_string()
                } else {
                    n.to_string()
                };
                s.push_str(&format!("BRDA:{},{},{},{taken}\n", p.0, blocks[&p], k.arm));
            }
            s.push_str(&format!("BRF:{}\n", branches.len()));
            s.push_str(&format!(
                "BRH:{}\n",
                branches.iter().filter(|(_, &n)| n > 0).count()
            ));
            let mut lines: BTreeMap<usize, u64> = BTreeMap::new();
            for (k, n) in items
                .iter()
                .filter(|(k, _)| matches!(k.kind, "statement" | "drop"))
            {
                let e = lines.entry(k.line).or_default();
                *e = (*e).max(*n);
            }
            for (l, n) in &lines {
                s.push_str(&format!("DA:{l},{n}\n"));
            }
            s.push_str(&format!("LF:{}\n", lines.len()));
            s.push_str(&format!(
                "LH:{}\n",
                lines.values().filter(|&&n| n > 0).count()
            ));
            s.push_str("end_of_record\n");
        }
        s
    }
}

/// A unique lcov function name: what it is and where.
fn fn_name(k: &Key) -> String {
    format!("{}@{}:{}", k.what.replace([',', '\n'], " "), k.line, k.col)
}
