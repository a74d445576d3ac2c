//! `hvxform session`: show, seed, edit and check session stores (the YAML
//! files `--session FILE` reads and writes).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::{exit, Ctx};
use crate::session::{self, format, store, StoreError, StoreFile, Tables};
use crate::syntax::ast::SessionType;

/// Show, seed, edit and check session stores.
///
/// A session store keeps the identifier pairs that conversions mint or that
/// you seed (a libvirt network ↔ a vSphere port group, ...), so converting
/// back restores the original identifiers. See the book chapter "Session
/// tables" for the file format.
#[derive(Debug, Args)]
pub struct Session {
    #[command(subcommand)]
    pub command: SessionCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    Show(Show),
    Set(Set),
    Rm(Rm),
    Check(CheckStore),
    Export(Export),
    Import(Import),
}

impl Session {
    pub fn run(self, ctx: &Ctx) -> u8 {
        match self.command {
            SessionCommand::Show(c) => c.run(ctx),
            SessionCommand::Set(c) => c.run(ctx),
            SessionCommand::Rm(c) => c.run(ctx),
            SessionCommand::Check(c) => c.run(ctx),
            SessionCommand::Export(c) => c.run(ctx),
            SessionCommand::Import(c) => c.run(ctx),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Human,
    Json,
}

/// List the tables and entries of a store.
#[derive(Debug, Args)]
pub struct Show {
    /// The session store: a YAML file, or a PostgreSQL URL.
    pub file: PathBuf,
    /// Only this table.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Output format (json: {"version": 1, "tables": {NAME: {"left", "right", "entries": [[L, R], ...]}}}).
    #[arg(long, value_enum, default_value_t = ShowFormat::Human)]
    pub format: ShowFormat,
}

/// Pair LEFT with RIGHT in TABLE (values are normalised by the table's types).
///
/// A value already paired with something else is an error: a session table
/// is one to one (remove the old pair with `hvxform session rm` first).
#[derive(Debug, Args)]
pub struct Set {
    /// The session store (created if it does not exist).
    pub file: PathBuf,
    /// The table (as mappings name it).
    pub table: String,
    /// The left value (the source side of `TABLE.right(x)`).
    pub left: String,
    /// The right value.
    pub right: String,
    /// Side types, needed to create a new table: string, int, uint, uuid, mac.
    #[arg(long, value_name = "LEFT_TYPE:RIGHT_TYPE", value_parser = parse_types)]
    pub types: Option<(SessionType, SessionType)>,
}

/// Remove the pair with the left value LEFT from TABLE.
#[derive(Debug, Args)]
pub struct Rm {
    /// The session store.
    pub file: PathBuf,
    /// The table.
    pub table: String,
    /// The left value of the pair to remove.
    pub left: String,
}

/// Check a store (exit 0 when valid, 1 when not), e.g. in CI.
#[derive(Debug, Args)]
pub struct CheckStore {
    /// The session store.
    pub file: PathBuf,
}

/// Write the tables of a PostgreSQL store as a YAML store file.
///
/// One consistent snapshot, pairs in the order they were made; the file is
/// replaced atomically. `hvxform session import` takes it back.
#[derive(Debug, Args)]
pub struct Export {
    /// The database (`postgres://USER@HOST[:PORT]/DB`; password from PGPASSWORD).
    pub url: String,
    /// The YAML store file to write (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Add the pairs of a YAML store file to a PostgreSQL store.
///
/// All or nothing, in one transaction: a table with other side types, or
/// a value already paired with something else in the database, is an
/// error and nothing is added. Pairs already there are kept.
#[derive(Debug, Args)]
pub struct Import {
    /// The YAML store file.
    pub file: PathBuf,
    /// The database (`postgres://USER@HOST[:PORT]/DB`; password from PGPASSWORD).
    pub url: String,
}

fn parse_types(s: &str) -> Result<(SessionType, SessionType), String> {
    let ty = |t: &str| {
        session::type_by_name(t.trim()).ok_or_else(|| {
            format!("unknown session type `{t}` (expected string, int, uint, uuid or mac)")
        })
    };
    match s.split_once(':') {
        Some((l, r)) => Ok((ty(l)?, ty(r)?)),
        None => Err(format!("expected LEFT_TYPE:RIGHT_TYPE, found `{s}`")),
    }
}

/// Reports a store error, one line per problem; returns the exit code.
pub(super) fn store_error(ctx: &Ctx, e: &StoreError) -> u8 {
    for line in e.to_string().lines() {
        super::error(ctx, line);
    }
    e.exit_code()
}

/// Locks a store for a read-modify-write, telling the user when another
/// process holds it.
pub(super) fn open(ctx: &Ctx, path: &Path) -> Result<StoreFile, u8> {
    StoreFile::open(path, |lock| {
        super::note(
            ctx,
            &format!("waiting for {} (another hvxform holds it)", lock.display()),
        )
    })
    .map_err(|e| store_error(ctx, &e))
}

/// The store a conversion uses: the `--session` file, locked until
/// [`Store::commit`]; a PostgreSQL database (`postgres://...`), in one
/// transaction until then; or a fresh in-memory one.
pub(super) enum Store {
    Memory(crate::session::MemoryStore),
    File(StoreFile),
    Postgres(Box<session::pg::PgSession>),
}

impl Store {
    /// Opens `--session FILE` (locking it) or `--session postgres://...`
    /// (connecting and starting a transaction), or makes an in-memory store.
    pub(super) fn open(ctx: &Ctx, path: Option<&Path>) -> Result<Store, u8> {
        match path {
            Some(p) => match p.to_str().filter(|s| session::pg::is_url(s)) {
                Some(url) => {
                    let client = session::pg::connect(url).map_err(|m| {
                        super::error(ctx, &m);
                        exit::CANNOT_RUN
                    })?;
                    session::pg::PgSession::begin(client)
                        .map(|s| Store::Postgres(Box::new(s)))
                        .map_err(|m| {
                            super::error(ctx, &format!("{}: {m}", session::pg::redact(url)));
                            exit::CANNOT_RUN
                        })
                }
                None => open(ctx, p).map(Store::File),
            },
            None => Ok(Store::Memory(Default::default())),
        }
    }

    pub(super) fn access(&self) -> &dyn crate::session::SessionAccess {
        match self {
            Store::Memory(m) => m,
            Store::File(f) => f,
            Store::Postgres(s) => s.as_ref(),
        }
    }

    /// How a batch that writes outputs while it converts saves what was
    /// minted before writing any of them: `Some(None)` when nothing needs
    /// saving (no store), `Some(Some(save))` for a store file (saved while
    /// lookups go on), `None` when the store is saved only once, at the end
    /// (a database: one transaction), so outputs wait for it.
    #[allow(clippy::type_complexity)]
    pub(super) fn saver(
        &self,
    ) -> Option<Option<Box<dyn Fn() -> Result<usize, String> + Sync + '_>>> {
        match self {
            Store::Memory(_) => Some(None),
            Store::File(f) => Some(Some(Box::new(|| f.save_sized().map_err(|e| e.to_string())))),
            Store::Postgres(_) => None,
        }
    }

    /// Saves what was minted (file and database stores), keeping the lock
    /// or connection; exit code on failure.
    pub(super) fn save(&mut self, ctx: &Ctx) -> Result<(), u8> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::File(f) => f.save().map(drop).map_err(|e| store_error(ctx, &e)),
            Store::Postgres(s) => s.save().map(drop).map_err(|m| {
                super::error(ctx, &format!("session store: cannot commit: {m}"));
                exit::CANNOT_RUN
            }),
        }
    }

    /// Saves what was minted (file and database stores) and unlocks; exit
    /// code on failure.
    pub(super) fn commit(self, ctx: &Ctx) -> Result<(), u8> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::File(f) => f.commit().map(drop).map_err(|e| store_error(ctx, &e)),
            Store::Postgres(s) => s.commit().map(drop).map_err(|m| {
                super::error(ctx, &format!("session store: cannot commit: {m}"));
                exit::CANNOT_RUN
            }),
        }
    }
}

/// A value for a human listing: as is, unless that would be ambiguous.
fn shown(v: &str) -> String {
    if v.is_empty() || v.trim() != v || v.chars().any(char::is_control) {
        format!("{v:?}")
    } else {
        v.to_string()
    }
}

impl Show {
    fn run(self, ctx: &Ctx) -> u8 {
        let tables = match self.file.to_str().filter(|s| session::pg::is_url(s)) {
            Some(url) => {
                let mut client = match connect(ctx, url) {
                    Ok(c) => c,
                    Err(code) => return code,
                };
                match session::pg::export(&mut client) {
                    Ok(t) => t,
                    Err(m) => {
                        super::error(ctx, &format!("{}: {m}", session::pg::redact(url)));
                        return exit::CANNOT_RUN;
                    }
                }
            }
            None => match store::read(&self.file) {
                Ok(t) => t,
                Err(e) => return store_error(ctx, &e),
            },
        };
        if let Some(name) = &self.table {
            if tables.get(name).is_none() {
                let shown = PathBuf::from(session::pg::redact(&self.file.to_string_lossy()));
                super::error(ctx, &no_table(&shown, &tables, name));
                return exit::INVALID;
            }
        }
        let selected = tables
            .iter()
            .filter(|(n, _)| self.table.as_deref().is_none_or(|t| t == *n));
        match self.format {
            ShowFormat::Json => {
                let doc = format::to_json(selected);
                super::outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            ShowFormat::Human => {
                let mut out = String::new();
                for (name, t) in selected {
                    let n = t.entries().len();
                    out.push_str(&format!(
                        "{name}: {}, {}\n",
                        t.signature(),
                        match n {
                            0 => "no entries".to_string(),
                            1 => "1 entry".to_string(),
                            n => format!("{n} entries"),
                        }
                    ));
                    let rows: Vec<(String, String)> = t
                        .entries()
                        .iter()
                        .map(|(l, r)| (shown(l), shown(r)))
                        .collect();
                    let w = rows
                        .iter()
                        .map(|(l, _)| l.chars().count())
                        .max()
                        .unwrap_or(0);
                    for (l, r) in rows {
                        let pad = w - l.chars().count();
                        out.push_str(&format!("  {l}{:pad$}  <->  {r}\n", ""));
                    }
                }
                if tables.is_empty() && !ctx.quiet {
                    eprintln!(
                        "{}: no tables",
                        session::pg::redact(&self.file.to_string_lossy())
                    );
                }
                super::out!("{out}");
            }
        }
        exit::OK
    }
}

fn no_table(file: &Path, tables: &Tables, name: &str) -> String {
    let names: Vec<&str> = tables.iter().map(|(n, _)| n).collect();
    format!(
        "{}: no session table `{name}` (tables: {})",
        file.display(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

impl Set {
    fn run(self, ctx: &Ctx) -> u8 {
        if !session::is_table_name(&self.table) {
            super::error(
                ctx,
                &format!(
                    "`{}` is not a session table name (letters, digits and `_`, not starting with a digit, and not a keyword: true, false, and, or, div, mod)",
                    self.table
                ),
            );
            return exit::INVALID;
        }
        let mut store = match open(ctx, &self.file) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let tables = store.tables();
        match (
            tables.get(&self.table).map(|t| (t.left, t.right)),
            self.types,
        ) {
            (None, None) => {
                super::error(
                    ctx,
                    &format!(
                        "{}: no session table `{}` yet; give its types to create it, e.g. `--types string:string` (types: string, int, uint, uuid, mac)",
                        self.file.display(),
                        self.table
                    ),
                );
                return exit::CANNOT_RUN;
            }
            (Some(have), Some(want)) if have != want => {
                super::error(
                    ctx,
                    &format!(
                        "{}: session table `{}` is `{} <-> {}`, not `{} <-> {}`",
                        self.file.display(),
                        self.table,
                        have.0.name(),
                        have.1.name(),
                        want.0.name(),
                        want.1.name()
                    ),
                );
                return exit::INVALID;
            }
            (None, Some((l, r))) => {
                tables
                    .table_mut(&self.table, l, r)
                    .expect("the table does not exist yet");
            }
            (Some(_), _) => {}
        }
        let added = match tables.set(&self.table, &self.left, &self.right) {
            Ok(a) => a,
            Err(m) => {
                super::error(ctx, &format!("{}: {m}", self.file.display()));
                if let Some(old) = taken_by(tables, &self.table, &self.left, &self.right) {
                    super::note(
                        ctx,
                        &format!(
                            "a session table is one to one; to re-pair, remove the old pair first: `hvxform session rm {} {} {}`",
                            session::shell_word(&self.file.display().to_string()),
                            self.table,
                            session::shell_word(&old)
                        ),
                    );
                }
                return exit::INVALID;
            }
        };
        match store.commit() {
            Ok(_) if !added => {
                super::note(
                    ctx,
                    &format!(
                        "{}: the pair is already there; nothing changed",
                        self.file.display()
                    ),
                );
                exit::OK
            }
            Ok(_) => exit::OK,
            Err(e) => store_error(ctx, &e),
        }
    }
}

/// The left value of the pair that stands in the way of pairing `left` with
/// `right`, if any.
fn taken_by(tables: &Tables, table: &str, left: &str, right: &str) -> Option<String> {
    let t = tables.get(table)?;
    let l = session::normalise(t.left, left).ok()?;
    let r = session::normalise(t.right, right).ok()?;
    if t.get(false, &l).is_some() {
        return Some(l);
    }
    t.get(true, &r).map(str::to_string)
}

impl Rm {
    fn run(self, ctx: &Ctx) -> u8 {
        if !self.file.exists() {
            return store_error(ctx, &StoreError::Missing { path: self.file });
        }
        let mut store = match open(ctx, &self.file) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let tables = store.tables();
        if tables.get(&self.table).is_none() {
            super::error(ctx, &no_table(&self.file, tables, &self.table));
            return exit::INVALID;
        }
        match tables.remove(&self.table, &self.left) {
            Ok(_) => match store.commit() {
                Ok(_) => exit::OK,
                Err(e) => store_error(ctx, &e),
            },
            Err(m) => {
                super::error(ctx, &format!("{}: {m}", self.file.display()));
                exit::INVALID
            }
        }
    }
}

/// Connects to a `postgres://` URL given where a store is expected.
fn connect(ctx: &Ctx, url: &str) -> Result<postgres::Client, u8> {
    if !session::pg::is_url(url) {
        super::error(
            ctx,
            &format!("{url}: not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DB)"),
        );
        return Err(exit::CANNOT_RUN);
    }
    session::pg::connect(url).map_err(|m| {
        super::error(ctx, &m);
        exit::CANNOT_RUN
    })
}

impl Export {
    fn run(self, ctx: &Ctx) -> u8 {
        let mut client = match connect(ctx, &self.url) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let tables = match session::pg::export(&mut client) {
            Ok(t) => t,
            Err(m) => {
                super::error(ctx, &format!("{}: {m}", session::pg::redact(&self.url)));
                return exit::CANNOT_RUN;
            }
        };
        let text = format::write(&tables);
        match &self.output {
            Some(f) => {
                if let Err(e) = super::atomic_write(f, text.as_bytes()) {
                    super::error(ctx, &format!("{}: cannot write: {e}", f.display()));
                    return exit::CANNOT_RUN;
                }
                if !ctx.quiet {
                    eprintln!(
                        "{}: {} table(s), {} entries",
                        f.display(),
                        tables.len(),
                        tables.entry_count()
                    );
                }
            }
            None => super::out!("{text}"),
        }
        exit::OK
    }
}

impl Import {
    fn run(self, ctx: &Ctx) -> u8 {
        let tables = match store::read(&self.file) {
            Ok(t) => t,
            Err(e) => return store_error(ctx, &e),
        };
        let mut client = match connect(ctx, &self.url) {
            Ok(c) => c,
            Err(code) => return code,
        };
        match session::pg::import(&mut client, &tables) {
            Ok(d) => {
                if !ctx.quiet {
                    eprintln!(
                        "{}: {} table(s); {} new pair(s), {} already there",
                        session::pg::redact(&self.url),
                        d.tables,
                        d.new_pairs,
                        d.existing_pairs
                    );
                }
                exit::OK
            }
            Err(m) => {
                super::error(
                    ctx,
                    &format!(
                        "{} → {}: {m}; nothing was imported",
                        self.file.display(),
                        session::pg::redact(&self.url)
                    ),
                );
                exit::INVALID
            }
        }
    }
}

impl CheckStore {
    fn run(self, ctx: &Ctx) -> u8 {
        match store::read(&self.file) {
            Ok(t) => {
                if !ctx.quiet {
                    eprintln!(
                        "{}: valid session store ({} table(s), {} entries)",
                        self.file.display(),
                        t.len(),
                        t.entry_count()
                    );
                }
                exit::OK
            }
            Err(e) => store_error(ctx, &e),
        }
    }
}
