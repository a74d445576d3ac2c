//! Session tables in PostgreSQL (`--session postgres://...`), for many
//! processes and machines sharing one set of tables.
//!
//! Two tables hold every session table: `hvx_tables` (a name and its side
//! types) and `hvx_pairs` (the pairs, unique on each side of each table, so
//! the database itself keeps every table one to one). Versioned migrations
//! create and upgrade them ([`MIGRATIONS`], applied under an advisory lock
//! when a process connects).
//!
//! A conversion runs in one transaction ([`PgSession`]): lookups read the
//! committed pairs; a miss that mints takes one advisory lock for the rest
//! of the transaction, looks again, mints and inserts, so two processes
//! never mint different values for one key or one value for two keys (no
//! read-then-write window: the second waits, then finds the first one's
//! pair). One lock for all tables means no lock-order deadlocks. The new
//! pairs commit before the outputs are returned, as the file store saves
//! before outputs are written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, NoTls};

use super::{mint, normalise, type_by_name, TableData, Tables};
use crate::program::SessionDef;
use crate::syntax::ast::{Miss, SessionType};

/// Schema versions, in order: each is applied once, in a transaction.
pub const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE hvx_tables (
        name text PRIMARY KEY,
        left_type text NOT NULL CHECK (left_type IN ('string', 'int', 'uint', 'uuid', 'mac')),
        right_type text NOT NULL CHECK (right_type IN ('string', 'int', 'uint', 'uuid', 'mac'))
    );
    CREATE TABLE hvx_pairs (
        tbl text NOT NULL REFERENCES hvx_tables (name) ON DELETE CASCADE,
        seq bigserial NOT NULL,
        left_value text NOT NULL,
        right_value text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tbl, left_value),
        UNIQUE (tbl, right_value)
    );",
)];

/// Advisory lock keys ("hvx" in the high bytes): migrations, minting.
const SCHEMA_LOCK: i64 = 0x6876_7800_0000_0001;
const MINT_LOCK: i64 = 0x6876_7800_0000_0002;

/// Is this `--session` value a PostgreSQL URL rather than a file?
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The URL with its password (user info or `password=` parameter)
/// replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let url = redact_userinfo(url);
    match url.find("password=") {
        Some(i) if url[..i].contains('?') => {
            let end = url[i..].find('&').map_or(url.len(), |e| i + e);
            format!("{}password=***{}", &url[..i], &url[end..])
        }
        _ => url,
    }
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &authority[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A database error as one line (the server's message, not the driver's
/// "db error" wrapper).
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.severity(), d.message()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(c) = src {
                s.push_str(": ");
                s.push_str(&c.to_string());
                src = c.source();
            }
            s
        }
    }
}

/// Connects (the password from `PGPASSWORD` when the URL has none, so it
/// need not be on a command line) and brings the schema up to date.
pub fn connect(url: &str) -> Result<Client, String> {
    let shown = redact(url);
    let mut cfg: postgres::Config = url
        .parse()
        .map_err(|e| format!("{shown}: not a PostgreSQL URL: {e}"))?;
    if cfg.get_password().is_none() {
        if let Ok(p) = std::env::var("PGPASSWORD") {
            cfg.password(p);
        }
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("hvxform");
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(5));
    }
    let mut client = cfg
        .connect(NoTls)
        .map_err(|e| format!("{shown}: cannot connect: {}", describe(&e)))?;
    migrate(&mut client).map_err(|m| format!("{shown}: {m}"))?;
    Ok(client)
}

/// Applies the migrations this database lacks; refuses a database made by
/// a newer hvxform.
pub fn migrate(client: &mut Client) -> Result<i32, String> {
    let db = |e: postgres::Error| format!("cannot set up the session schema: {}", describe(&e));
    client
        .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])
        .map_err(db)?;
    let result = (|| {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS hvx_schema (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .map_err(db)?;
        let row = client
            .query_one("SELECT coalesce(max(version), 0) FROM hvx_schema", &[])
            .map_err(db)?;
        let mut have: i32 = row.get(0);
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if have > newest {
            return Err(format!(
                "the session schema is version {have}, newer than this hvxform knows ({newest}); upgrade hvxform"
            ));
        }
        let from = have;
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > from) {
            let mut tx = client.transaction().map_err(db)?;
            tx.batch_execute(sql).map_err(db)?;
            tx.execute("INSERT INTO hvx_schema (version) VALUES ($1)", &[version])
                .map_err(db)?;
            tx.commit().map_err(db)?;
            have = *version;
        }
        Ok(have)
    })();
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK]);
    let v = result?;
    unlock.map_err(db)?;
    Ok(v)
}

fn ty(name: &str) -> Result<SessionType, String> {
    type_by_name(name).ok_or_else(|| format!("unknown session type `{name}` in the database"))
}

/// The tables of the database, pairs in the order they were made (one
/// consistent snapshot): `hvxform session export`, `session show`.
pub fn export(client: &mut Client) -> Result<Tables, String> {
    let db = |e: postgres::Error| describe(&e);
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(db)?;
    let mut tables = Tables::default();
    let mut by_name: HashMap<String, TableData> = HashMap::new();
    for row in tx
        .query("SELECT name, left_type, right_type FROM hvx_tables", &[])
        .map_err(db)?
    {
        let (l, r): (&str, &str) = (row.get(1), row.get(2));
        by_name.insert(row.get(0), TableData::new(ty(l)?, ty(r)?));
    }
    for row in tx
        .query(
            "SELECT tbl, left_value, right_value FROM hvx_pairs ORDER BY tbl, seq",
            &[],
        )
        .map_err(db)?
    {
        let name: &str = row.get(0);
        let t = by_name
            .get_mut(name)
            .ok_or_else(|| format!("pairs of an unknown table `{name}`"))?;
        t.insert(row.get(1), row.get(2))
            .map_err(|e| format!("table `{name}`: {e}"))?;
    }
    tx.commit().map_err(db)?;
    for (n, t) in by_name {
        tables.insert_loaded(n, t);
    }
    Ok(tables)
}

/// What [`import`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub tables: usize,
    pub new_pairs: usize,
    pub existing_pairs: usize,
}

/// Adds every pair of `tables` to the database in one transaction: all or
/// nothing. A table with other side types, or a value already paired with
/// something else, is an error naming it.
pub fn import(client: &mut Client, tables: &Tables) -> Result<Imported, String> {
    let db = |e: postgres::Error| describe(&e);
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MINT_LOCK])
        .map_err(db)?;
    let mut done = Imported::default();
    for (name, t) in tables.iter() {
        tx.execute(
            "INSERT INTO hvx_tables (name, left_type, right_type) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &t.left.name(), &t.right.name()],
        )
        .map_err(db)?;
        let row = tx
            .query_one(
                "SELECT left_type, right_type FROM hvx_tables WHERE name = $1",
                &[&name],
            )
            .map_err(db)?;
        let (l, r): (&str, &str) = (row.get(0), row.get(1));
        if (l, r) != (t.left.name(), t.right.name()) {
            return Err(format!(
                "session table `{name}` is `{l} <-> {r}` in the database, `{}` in the file",
                t.signature()
            ));
        }
        done.tables += 1;
        let insert = tx
            .prepare(
                "INSERT INTO hvx_pairs (tbl, left_value, right_value) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .map_err(db)?;
        let check = tx
            .prepare(
                "SELECT left_value, right_value FROM hvx_pairs
                 WHERE tbl = $1 AND (left_value = $2 OR right_value = $3)",
            )
            .map_err(db)?;
        for (left, right) in t.entries() {
            if tx.execute(&insert, &[&name, left, right]).map_err(db)? == 1 {
                done.new_pairs += 1;
                continue;
            }
            for row in tx.query(&check, &[&name, left, right]).map_err(db)? {
                let (l, r): (&str, &str) = (row.get(0), row.get(1));
                if (l, r) == (left.as_str(), right.as_str()) {
                    done.existing_pairs += 1;
                } else if l == left {
                    return Err(format!(
                        "table `{name}`: the left value `{l}` is already paired with `{r}` in the database, with `{right}` in the file"
                    ));
                } else {
                    return Err(format!(
                        "table `{name}`: the right value `{r}` is already paired with `{l}` in the database, with `{left}` in the file"
                    ));
                }
            }
        }
    }
    tx.commit().map_err(db)?;
    Ok(done)
}

/// A table's left and right types.
type Sides = (SessionType, SessionType);

/// Statements sent to PostgreSQL by every [`PgSession`] of this process
/// (the server's `/metrics`).
pub static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// One transaction's view of the tables: what a conversion (or a batch)
/// looks up and mints, committed with [`PgSession::commit`].
pub struct PgSession {
    inner: Mutex<Inner>,
}

struct Inner {
    client: Client,
    /// (table, reverse, normalised key) → value, for this transaction.
    cache: HashMap<(String, bool, String), String>,
    /// Side types of the tables seen in this transaction.
    sigs: HashMap<String, (SessionType, SessionType)>,
    locked: bool,
    minted: u64,
    /// The first database error: the conversion failed because of the
    /// store, not its input (the server answers 503).
    failed: Option<String>,
}

impl PgSession {
    /// Starts a transaction on `client` (a connection that cannot is
    /// dropped: it is broken).
    pub fn begin(mut client: Client) -> Result<PgSession, String> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = client.batch_execute("BEGIN") {
            return Err(describe(&e));
        }
        Ok(PgSession {
            inner: Mutex::new(Inner {
                client,
                cache: HashMap::new(),
                sigs: HashMap::new(),
                locked: false,
                minted: 0,
                failed: None,
            }),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The database error that failed a lookup, if any.
    pub fn failure(&self) -> Option<String> {
        self.inner().failed.clone()
    }

    /// Pairs minted in this transaction.
    pub fn minted(&self) -> u64 {
        self.inner().minted
    }

    /// Commits what was minted and starts a new transaction (a batch that
    /// saves after each input). Returns the number of pairs committed.
    pub fn save(&self) -> Result<u64, String> {
        let mut g = self.inner();
        let n = g.finish("COMMIT")?;
        g.exec_batch("BEGIN")?;
        Ok(n)
    }

    /// Commits and gives the connection back (dropped if the commit
    /// failed: nothing was committed).
    pub fn commit(self) -> Result<(u64, Client), String> {
        let mut g = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        let n = g.finish("COMMIT")?;
        Ok((n, g.client))
    }

    /// Rolls back and gives the connection back.
    pub fn rollback(self) -> Client {
        let mut g = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        let _ = g.finish("ROLLBACK");
        g.client
    }
}

impl Inner {
    fn db(&mut self, e: postgres::Error) -> String {
        let m = format!("session database: {}", describe(&e));
        self.failed.get_or_insert_with(|| m.clone());
        m
    }

    fn exec_batch(&mut self, sql: &str) -> Result<(), String> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        let r = self.client.batch_execute(sql);
        r.map_err(|e| self.db(e))
    }

    fn finish(&mut self, sql: &str) -> Result<u64, String> {
        if let Some(m) = &self.failed {
            let m = m.clone();
            let _ = self.client.batch_execute("ROLLBACK");
            return Err(m);
        }
        self.exec_batch(sql)?;
        let n = std::mem::take(&mut self.minted);
        self.cache.clear();
        self.sigs.clear();
        self.locked = false;
        Ok(n)
    }

    /// One statement, one round trip: the parameters are typed here (all
    /// text), so the server is not asked to prepare it first.
    fn query_opt(&mut self, sql: &str, params: &[&str]) -> Result<Option<postgres::Row>, String> {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        let typed: Vec<(&(dyn postgres::types::ToSql + Sync), postgres::types::Type)> = params
            .iter()
            .map(|p| {
                (
                    p as &(dyn postgres::types::ToSql + Sync),
                    postgres::types::Type::TEXT,
                )
            })
            .collect();
        let r = self.client.query_typed(sql, &typed);
        r.map(|rows| rows.into_iter().next())
            .map_err(|e| self.db(e))
    }

    /// A table's side types (`None`: no such table yet) and the value paired
    /// with `key` (the right value of a left key, or with `reverse` the
    /// left value of a right key), in one round trip.
    fn probe(
        &mut self,
        table: &str,
        reverse: bool,
        key: &str,
    ) -> Result<(Option<Sides>, Option<String>), String> {
        let sql = if reverse {
            "SELECT t.left_type, t.right_type, p.left_value FROM hvx_tables t
             LEFT JOIN hvx_pairs p ON p.tbl = t.name AND p.right_value = $2 WHERE t.name = $1"
        } else {
            "SELECT t.left_type, t.right_type, p.right_value FROM hvx_tables t
             LEFT JOIN hvx_pairs p ON p.tbl = t.name AND p.left_value = $2 WHERE t.name = $1"
        };
        let Some(row) = self.query_opt(sql, &[table, key])? else {
            return Ok((None, None));
        };
        let sig = (ty(row.get(0))?, ty(row.get(1))?);
        self.sigs.insert(table.to_string(), sig);
        Ok((Some(sig), row.get(2)))
    }

    /// The value paired with `key`.
    fn get(&mut self, table: &str, reverse: bool, key: &str) -> Result<Option<String>, String> {
        let sql = if reverse {
            "SELECT left_value FROM hvx_pairs WHERE tbl = $1 AND right_value = $2"
        } else {
            "SELECT right_value FROM hvx_pairs WHERE tbl = $1 AND left_value = $2"
        };
        Ok(self.query_opt(sql, &[table, key])?.map(|r| r.get(0)))
    }

    fn check_signature(
        def: &SessionDef,
        sig: Option<(SessionType, SessionType)>,
    ) -> Result<bool, String> {
        match sig {
            Some(sig) if sig != (def.left, def.right) => Err(format!(
                "session table `{}` is declared `{} <-> {}` by the mapping but is `{} <-> {}` in the session store",
                def.name,
                def.left.name(),
                def.right.name(),
                sig.0.name(),
                sig.1.name()
            )),
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    fn lookup(&mut self, def: &SessionDef, reverse: bool, key: String) -> Result<String, String> {
        let (sig, found) = match self.sigs.get(&def.name).copied() {
            // The table is known in this transaction: only the pair to read.
            Some(sig) => (Some(sig), self.get(&def.name, reverse, &key)?),
            None => self.probe(&def.name, reverse, &key)?,
        };
        Self::check_signature(def, sig)?;
        if let Some(v) = found {
            return Ok(v);
        }
        if let Miss::Fail(_) = def.miss {
            return mint(def, reverse, &key, 0, &mut |_| Ok(false));
        }
        // Mint under the lock, after looking again: a pair another process
        // committed while this one waited is found, not minted twice.
        if !self.locked {
            ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
            let r = self.client.query_typed(
                "SELECT pg_advisory_xact_lock($1)",
                &[(&MINT_LOCK, postgres::types::Type::INT8)],
            );
            r.map_err(|e| self.db(e))?;
            self.locked = true;
            self.sigs.clear();
        }
        let (sig, found) = self.probe(&def.name, reverse, &key)?;
        if !Self::check_signature(def, sig)? {
            self.query_opt(
                "INSERT INTO hvx_tables (name, left_type, right_type) VALUES ($1, $2, $3)",
                &[def.name.as_str(), def.left.name(), def.right.name()],
            )?;
            self.sigs.insert(def.name.clone(), (def.left, def.right));
        } else if let Some(v) = found {
            return Ok(v);
        }
        let len = match &def.miss {
            Miss::Mint(Some(_)) => {
                let row = self.query_opt(
                    "SELECT count(*) FROM hvx_pairs WHERE tbl = $1",
                    &[def.name.as_str()],
                )?;
                row.map_or(0, |r| r.get::<_, i64>(0)) as u64
            }
            _ => 0,
        };
        let minted = mint(def, reverse, &key, len, &mut |cand| {
            Ok(self.get(&def.name, !reverse, cand)?.is_some())
        })?;
        if let Some(other) = self.get(&def.name, !reverse, &minted)? {
            let side = if reverse { "left" } else { "right" };
            return Err(format!(
                "session table `{}`: the {side} value `{minted}` is already paired with `{other}`",
                def.name
            ));
        }
        let (l, r) = if reverse {
            (&minted, &key)
        } else {
            (&key, &minted)
        };
        self.query_opt(
            "INSERT INTO hvx_pairs (tbl, left_value, right_value) VALUES ($1, $2, $3)",
            &[def.name.as_str(), l.as_str(), r.as_str()],
        )?;
        self.minted += 1;
        Ok(minted)
    }
}

impl PgSession {
    /// A lookup through this transaction's cache: `miss` asks the database
    /// (with the normalised key) when the cache does not know the key.
    fn cached(
        &self,
        def: &SessionDef,
        reverse: bool,
        key: &str,
        miss: impl FnOnce(&mut Inner, &str) -> Result<Option<String>, String>,
    ) -> Result<Option<String>, String> {
        let from_ty = if reverse { def.right } else { def.left };
        let key =
            normalise(from_ty, key).map_err(|e| format!("session table `{}`: {e}", def.name))?;
        let mut g = self.inner();
        if let Some(m) = &g.failed {
            return Err(m.clone());
        }
        let ck = (def.name.clone(), reverse, key);
        if let Some(v) = g.cache.get(&ck) {
            return Ok(Some(v.clone()));
        }
        let v = miss(&mut g, &ck.2)?;
        if let Some(v) = &v {
            g.cache.insert(ck, v.clone());
        }
        Ok(v)
    }
}

impl super::SessionAccess for PgSession {
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String> {
        self.cached(def, reverse, key, |g, k| {
            g.lookup(def, reverse, k.to_string()).map(Some)
        })
        .map(Option::unwrap_or_default)
    }

    fn find(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<Option<String>, String> {
        self.cached(def, reverse, key, |g, k| g.get(&def.name, reverse, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://hvx:s3cret@db.example:5432/hvx"),
            "postgres://hvx:***@db.example:5432/hvx"
        );
        assert_eq!(
            redact("postgresql://hvx@localhost/hvx?password=x"),
            "postgresql://hvx@localhost/hvx?password=***"
        );
        assert_eq!(redact("postgres://localhost/db"), "postgres://localhost/db");
        assert_eq!(
            redact("postgres://u:p@ss@h/db"),
            "postgres://u:***@h/db",
            "the last @ ends the user info"
        );
        assert!(is_url("postgresql://x") && is_url("postgres://x") && !is_url("store.yaml"));
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }
}
