//! Session tables: bidirectional identifier tables (one left value ↔ one right
//! value), with key normalisation by type and a declared policy for misses.
//! This module holds the in-memory tables and the [`SessionAccess`]
//! interface the executor uses; [`format`](mod@format) reads and writes the YAML store
//! file and [`store`] persists it safely (lock, atomic replace).

pub mod format;
mod locate;
pub mod pg;
pub mod store;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use hashbrown::HashTable;

use crate::convert;
use crate::program::SessionDef;
use crate::syntax::ast::{Miss, SessionType};

pub use store::{StoreError, StoreFile};

/// What the executor needs from a session store.
pub trait SessionAccess: Sync {
    /// Forward (`reverse == false`: left → right) or reverse lookup, applying
    /// the table's miss policy.
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String>;

    /// The same lookup without the miss policy: `None` when there is no entry.
    fn find(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<Option<String>, String>;

    /// Takes `left` ↔ `right`, a pair a VM's carried data holds (the
    /// identifiers it had when it left), when neither value is paired yet;
    /// whether it did. Only the store of a run without `--session` takes
    /// them: a user's store is theirs to fill (its misses follow its
    /// mapping's policy, as always).
    fn adopt(&self, _def: &SessionDef, _left: &str, _right: &str) -> Result<bool, String> {
        Ok(false)
    }
}

/// Normalises a value of a session type so equal identifiers are one key.
pub fn normalise(ty: SessionType, v: &str) -> Result<String, String> {
    normalised(ty, v).map(Cow::into_owned)
}

/// [`normalise`], borrowing `v` when it is already in its normal form (as
/// every value of a store hvxform wrote is).
pub fn normalised(ty: SessionType, v: &str) -> Result<Cow<'_, str>, String> {
    // A decimal already in its normal form (what stores hold) as it is:
    // no sign but `-`, no leading zero, short enough not to overflow.
    let digits = v
        .strip_prefix('-')
        .filter(|_| ty == SessionType::Int)
        .unwrap_or(v);
    if matches!(ty, SessionType::Int | SessionType::Uint)
        && (v == "0"
            || (digits.len() <= 18
                && digits
                    .bytes()
                    .next()
                    .is_some_and(|c| matches!(c, b'1'..=b'9'))
                && digits.bytes().all(|c| c.is_ascii_digit())))
    {
        return Ok(Cow::Borrowed(v));
    }
    Ok(match ty {
        SessionType::String => Cow::Borrowed(v),
        SessionType::Uuid if convert::is_canonical_uuid(v) => Cow::Borrowed(v),
        SessionType::Int => Cow::Owned(convert::int(v)?.to_string()),
        SessionType::Uint => Cow::Owned(convert::uint(v)?.to_string()),
        SessionType::Uuid => Cow::Owned(convert::uuid(v)?),
        SessionType::Mac => match convert::mac(v)? {
            m if m == v => Cow::Borrowed(v),
            m => Cow::Owned(m),
        },
    })
}

/// A session type by its name in mappings and stores (`string`, `int`,
/// `uint`, `uuid`, `mac`).
pub fn type_by_name(name: &str) -> Option<SessionType> {
    Some(match name {
        "string" => SessionType::String,
        "int" => SessionType::Int,
        "uint" => SessionType::Uint,
        "uuid" => SessionType::Uuid,
        "mac" => SessionType::Mac,
        _ => return None,
    })
}

/// Is this a name a mapping can declare a session table under?
/// (The grammar's `ident`: not one of its keywords.)
pub fn is_table_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !matches!(name, "true" | "false" | "and" | "or" | "div" | "mod")
}

/// The namespace for deterministic (UUIDv5) minting.
const MINT_NS: uuid::Uuid = uuid::Uuid::from_u128(0x6876_7866_6f72_4d00_8000_0000_5e55_1011);

/// One table: its side types and its pairs, in the order they were made,
/// indexed both ways (lookups are O(1)). Each value is kept once, in
/// `entries`: the indexes hold positions, found by the value's hash (a
/// store of 1,000 pairs is loaded on every start, and a copy of every value
/// in a map beside the list cost as much as reading the file).
#[derive(Debug, Clone)]
pub struct TableData {
    pub left: SessionType,
    pub right: SessionType,
    entries: Vec<(String, String)>,
    by_left: HashTable<usize>,
    by_right: HashTable<usize>,
    /// SipHash with random keys, as std's maps: the values come from
    /// documents and stores, and must not be able to make lookups quadratic.
    hasher: RandomState,
}

impl TableData {
    pub fn new(left: SessionType, right: SessionType) -> Self {
        Self::with_capacity(left, right, 0)
    }
    /// A table with room for `n` pairs (a store's, as it is loaded).
    pub fn with_capacity(left: SessionType, right: SessionType, n: usize) -> Self {
        TableData {
            left,
            right,
            entries: Vec::with_capacity(n),
            by_left: HashTable::with_capacity(n),
            by_right: HashTable::with_capacity(n),
            hasher: RandomState::new(),
        }
    }
    /// The pairs (normalised), oldest first.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
    /// `string <-> uuid`.
    pub fn signature(&self) -> String {
        format!("{} <-> {}", self.left.name(), self.right.name())
    }
    /// The value paired with a normalised key: the right value of a left key,
    /// or with `reverse` the left value of a right key.
    pub fn get(&self, reverse: bool, key: &str) -> Option<&str> {
        let (l, r) = &self.entries[self.position(reverse, key)?];
        Some(if reverse { l } else { r })
    }
    /// The index of the pair holding a normalised value on one side.
    pub fn position(&self, right_side: bool, value: &str) -> Option<usize> {
        let e = &self.entries;
        let h = self.hasher.hash_one(value);
        if right_side {
            self.by_right.find(h, |&i| e[i].1 == value)
        } else {
            self.by_left.find(h, |&i| e[i].0 == value)
        }
        .copied()
    }
    /// Adds a normalised pair; errors if either side is already taken.
    /// Returns whether the pair is new.
    pub fn insert(&mut self, left: String, right: String) -> Result<bool, String> {
        use hashbrown::hash_table::Entry;
        // Each side hashed once: its slot is looked up and, when the pair
        // is new, filled in place.
        let new = self.entries.len();
        let (hl, hr) = (
            self.hasher.hash_one(left.as_str()),
            self.hasher.hash_one(right.as_str()),
        );
        let (e, h) = (&self.entries, &self.hasher);
        let free_left =
            match self
                .by_left
                .entry(hl, |&i| e[i].0 == left, |&i| h.hash_one(e[i].0.as_str()))
            {
                Entry::Occupied(o) => {
                    let (l, r) = &e[*o.get()];
                    if *r == right {
                        return Ok(false);
                    }
                    return Err(format!("the left value `{l}` is already paired with `{r}`"));
                }
                Entry::Vacant(v) => v,
            };
        let free_right =
            match self
                .by_right
                .entry(hr, |&i| e[i].1 == right, |&i| h.hash_one(e[i].1.as_str()))
            {
                Entry::Occupied(o) => {
                    return Err(format!(
                        "the right value `{right}` is already paired with `{}`",
                        e[*o.get()].0
                    ));
                }
                Entry::Vacant(v) => v,
            };
        free_left.insert(new);
        free_right.insert(new);
        self.entries.push((left, right));
        Ok(true)
    }
    /// Removes the pair with this (normalised) left value; returns it.
    pub fn remove(&mut self, left: &str) -> Option<(String, String)> {
        let i = self.position(false, left)?;
        let pair = self.entries.remove(i);
        self.reindex();
        Some(pair)
    }
    fn reindex(&mut self) {
        self.by_left.clear();
        self.by_right.clear();
        let (e, h) = (&self.entries, &self.hasher);
        for (i, (l, r)) in e.iter().enumerate() {
            self.by_left
                .insert_unique(h.hash_one(l.as_str()), i, |&j| h.hash_one(e[j].0.as_str()));
            self.by_right
                .insert_unique(h.hash_one(r.as_str()), i, |&j| h.hash_one(e[j].1.as_str()));
        }
    }
}

/// Tables by name, and whether anything changed since they were loaded.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    tables: BTreeMap<String, TableData>,
    changed: bool,
}

impl Tables {
    /// Has any table or pair been added or removed since creation (or since
    /// [`Tables::mark_saved`])?
    pub fn changed(&self) -> bool {
        self.changed
    }
    pub fn mark_saved(&mut self) {
        self.changed = false;
    }
    pub fn get(&self, name: &str) -> Option<&TableData> {
        self.tables.get(name)
    }
    /// Tables in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TableData)> {
        self.tables.iter().map(|(n, t)| (n.as_str(), t))
    }
    pub fn len(&self) -> usize {
        self.tables.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
    /// Total number of pairs in all tables.
    pub fn entry_count(&self) -> usize {
        self.tables.values().map(|t| t.entries.len()).sum()
    }
    /// Adds a table as loaded from a store (not a change).
    pub(crate) fn insert_loaded(&mut self, name: String, t: TableData) {
        self.tables.insert(name, t);
    }

    /// The table with this name, created with these types if it does not
    /// exist; an error if it exists with other types.
    pub fn table_mut(
        &mut self,
        name: &str,
        left: SessionType,
        right: SessionType,
    ) -> Result<&mut TableData, String> {
        if !self.tables.contains_key(name) {
            self.tables
                .insert(name.to_string(), TableData::new(left, right));
            self.changed = true;
        }
        let t = self.tables.get_mut(name).expect("inserted above");
        if (t.left, t.right) != (left, right) {
            return Err(format!(
                "session table `{name}` is `{}` in the store, not `{} <-> {}`",
                t.signature(),
                left.name(),
                right.name()
            ));
        }
        Ok(t)
    }

    /// Pairs two values (normalised by the table's types) in an existing
    /// table. Returns whether the pair is new; an error if either value is
    /// invalid for its type or already paired with another value.
    pub fn set(&mut self, name: &str, left: &str, right: &str) -> Result<bool, String> {
        let t = self
            .tables
            .get_mut(name)
            .ok_or_else(|| format!("no session table `{name}`"))?;
        let l = normalise(t.left, left).map_err(|e| format!("left value: {e}"))?;
        let r = normalise(t.right, right).map_err(|e| format!("right value: {e}"))?;
        let new = t.insert(l, r).map_err(|e| format!("table `{name}`: {e}"))?;
        self.changed |= new;
        Ok(new)
    }

    /// Removes the pair with this left value (normalised first) and returns it.
    pub fn remove(&mut self, name: &str, left: &str) -> Result<(String, String), String> {
        let t = self
            .tables
            .get_mut(name)
            .ok_or_else(|| format!("no session table `{name}`"))?;
        let l = normalise(t.left, left).map_err(|e| format!("left value: {e}"))?;
        let pair = t
            .remove(&l)
            .ok_or_else(|| format!("table `{name}` has no entry with the left value `{l}`"))?;
        self.changed = true;
        Ok(pair)
    }

    /// Looks up, minting on a miss when the policy says so. Returns the value
    /// and whether a new entry was made.
    /// Looks up without minting or failing on a miss.
    pub fn find(
        &self,
        def: &SessionDef,
        reverse: bool,
        key: &str,
    ) -> Result<Option<String>, String> {
        let from_ty = if reverse { def.right } else { def.left };
        let key =
            normalise(from_ty, key).map_err(|e| format!("session table `{}`: {e}", def.name))?;
        Ok(self
            .tables
            .get(&def.name)
            .and_then(|t| t.get(reverse, &key))
            .map(str::to_string))
    }

    pub fn lookup(
        &mut self,
        def: &SessionDef,
        reverse: bool,
        key: &str,
    ) -> Result<(String, bool), String> {
        let from_ty = if reverse { def.right } else { def.left };
        let key =
            normalise(from_ty, key).map_err(|e| format!("session table `{}`: {e}", def.name))?;
        let empty;
        let t = match self.tables.get(&def.name) {
            Some(t) => {
                if (t.left, t.right) != (def.left, def.right) {
                    return Err(format!(
                        "session table `{}` is declared `{} <-> {}` by the mapping but is `{}` in the session store",
                        def.name,
                        def.left.name(),
                        def.right.name(),
                        t.signature()
                    ));
                }
                if let Some(v) = t.get(reverse, &key) {
                    return Ok((v.to_string(), false));
                }
                t
            }
            None => {
                empty = TableData::new(def.left, def.right);
                &empty
            }
        };
        let minted = mint(def, reverse, &key, t.entries.len() as u64, &mut |cand| {
            Ok(t.get(!reverse, cand).is_some())
        })?;
        let (l, r) = if reverse {
            (minted.clone(), key)
        } else {
            (key, minted.clone())
        };
        self.table_mut(&def.name, def.left, def.right)?
            .insert(l, r)
            .map_err(|e| format!("session table `{}`: {e}", def.name))?;
        self.changed = true;
        Ok((minted, true))
    }

    /// Pairs `left` ↔ `right` in `def`'s table (made when missing) when
    /// neither value is paired yet, and says whether it did. Values that
    /// are not of the table's types are left out.
    pub fn adopt(&mut self, def: &SessionDef, left: &str, right: &str) -> Result<bool, String> {
        let (Ok(l), Ok(r)) = (normalise(def.left, left), normalise(def.right, right)) else {
            return Ok(false);
        };
        if let Some(t) = self.tables.get(&def.name) {
            if (t.left, t.right) != (def.left, def.right)
                || t.get(false, &l).is_some()
                || t.get(true, &r).is_some()
            {
                return Ok(false);
            }
        }
        let new = self
            .table_mut(&def.name, def.left, def.right)?
            .insert(l, r)
            .map_err(|e| format!("session table `{}`: {e}", def.name))?;
        self.changed |= new;
        Ok(new)
    }
}

/// The value a miss of `key` (normalised) gets under the table's policy:
/// an error for `fail`, the key itself for `same`, a minted value for
/// `mint`. `len` is the number of pairs in the table and `taken` says
/// whether a value on the other side is already paired (pattern minting
/// takes the first free `{n}` from `len + 1`). One rule for every store.
pub(crate) fn mint(
    def: &SessionDef,
    reverse: bool,
    key: &str,
    len: u64,
    taken: &mut dyn FnMut(&str) -> Result<bool, String>,
) -> Result<String, String> {
    let to_ty = if reverse { def.left } else { def.right };
    Ok(match &def.miss {
        Miss::Fail(hint) => {
            let (l, r) = if reverse {
                ("LEFT", key)
            } else {
                (key, "RIGHT")
            };
            let mut msg = format!(
                "session table `{}` has no entry for `{key}` ({} side); seed it with `hvxform session set STORE {} {} {} --types {}:{}`",
                def.name,
                if reverse { "right" } else { "left" },
                def.name,
                shell_word(l),
                shell_word(r),
                def.left.name(),
                def.right.name()
            );
            if let Some(h) = hint {
                msg.push_str(&format!(" ({h})"));
            }
            return Err(msg);
        }
        Miss::Same => normalise(to_ty, key).map_err(|e| {
            format!(
                "session table `{}`: `{key}` cannot be used on the other side: {e}",
                def.name
            )
        })?,
        // A uuid side gets a UUIDv5 when there is no pattern, or one that
        // gives no UUID (`uuid <-> string miss mint "asset-{n}"` mints
        // asset tags on the right and UUIDs on the left).
        Miss::Mint(p)
            if to_ty == SessionType::Uuid
                && p.as_ref()
                    .is_none_or(|p| !pattern_gives(p, SessionType::Uuid)) =>
        {
            let name = format!(
                "{}\u{0}{}\u{0}{key}",
                def.name,
                if reverse { "left" } else { "right" }
            );
            uuid::Uuid::new_v5(&MINT_NS, name.as_bytes()).to_string()
        }
        Miss::Mint(None) => {
            return Err(format!(
                "session table `{}` cannot mint a {} value for `{key}` without a pattern",
                def.name,
                to_ty.name()
            ))
        }
        Miss::Mint(Some(pattern)) => {
            let mut n = len + 1;
            loop {
                let cand = pattern.replace("{n}", &n.to_string());
                let cand = normalise(to_ty, &cand)
                    .map_err(|e| format!("session table `{}`: minted value: {e}", def.name))?;
                if !taken(&cand)? {
                    break cand;
                }
                n += 1;
            }
        }
    })
}

/// Whether a mint pattern's values are of type `ty` (tried with `{n}` = 1).
pub fn pattern_gives(pattern: &str, ty: SessionType) -> bool {
    normalise(ty, &pattern.replace("{n}", "1")).is_ok()
}

/// A value as one POSIX shell word (commands suggested in messages, virsh
/// scripts).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A store that lives only in memory for one process (no `--session`).
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub tables: Mutex<Tables>,
}

impl SessionAccess for MemoryStore {
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String> {
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        t.lookup(def, reverse, key).map(|(v, _)| v)
    }

    fn find(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<Option<String>, String> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .find(def, reverse, key)
    }

    fn adopt(&self, def: &SessionDef, left: &str, right: &str) -> Result<bool, String> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .adopt(def, left, right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Loc;

    /// The names a mapping can declare a table under: the grammar's
    /// identifiers, keywords not among them.
    #[test]
    fn table_names_are_the_grammar_s_identifiers() {
        for ok in ["networks", "_x", "t9", "divs", "order"] {
            assert!(is_table_name(ok), "{ok}");
        }
        for bad in [
            "", "9bad", "a-b", "true", "false", "and", "or", "div", "mod",
        ] {
            assert!(!is_table_name(bad), "{bad}");
        }
    }

    #[test]
    fn integers_in_normal_form_are_kept_and_others_parsed() {
        // The shortcut for stored values must agree with parsing and
        // formatting every value, normal or not.
        let mut values: Vec<String> = [
            "0",
            "-0",
            "00",
            "007",
            "+5",
            " 5",
            "5 ",
            "-",
            "",
            "1_000",
            "1e3",
            "0x10",
            "١٢",
            "-12",
            "--1",
            "12-",
            "999999999999999999",
            "-999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "99999999999999999999",
            "1234567890123456789",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        values.extend((0..200).map(|i| (i * 7919 - 700).to_string()));
        for v in &values {
            for ty in [SessionType::Int, SessionType::Uint] {
                let parsed = match ty {
                    SessionType::Int => convert::int(v),
                    _ => convert::uint(v),
                }
                .map(|i| i.to_string());
                assert_eq!(normalise(ty, v), parsed, "{ty:?} {v:?}");
            }
        }
    }

    fn def(miss: Miss, left: SessionType, right: SessionType) -> SessionDef {
        SessionDef {
            name: "t".into(),
            left,
            right,
            miss,
            loc: Loc::default(),
        }
    }

    /// The store of a run without `--session` takes a carried pair when
    /// neither value is paired, and what it mints afterwards steers clear
    /// of it; a value paired already keeps its pair.
    #[test]
    fn adopted_pairs_are_found_and_minting_steers_clear_of_them() {
        let d = def(
            Miss::Mint(Some("datastore{n}".into())),
            SessionType::String,
            SessionType::String,
        );
        let s = MemoryStore::default();
        assert!(s
            .adopt(&d, "/var/lib/libvirt/images", "datastore1")
            .unwrap());
        assert_eq!(
            s.lookup(&d, false, "/var/lib/libvirt/images").unwrap(),
            "datastore1"
        );
        assert_eq!(s.lookup(&d, false, "/srv/xen").unwrap(), "datastore2");
        assert!(!s.adopt(&d, "/srv/xen", "datastore9").unwrap());
        assert!(!s.adopt(&d, "/other", "datastore1").unwrap());
        assert_eq!(s.find(&d, true, "datastore9").unwrap(), None);
    }

    #[test]
    fn mac_keys_are_normalised() {
        let d = def(Miss::Mint(None), SessionType::Mac, SessionType::Uuid);
        let s = MemoryStore::default();
        let a = s.lookup(&d, false, "52:54:00:AB:CD:EF").unwrap();
        let b = s.lookup(&d, false, "52-54-00-ab-cd-ef").unwrap();
        assert_eq!(a, b);
        assert_eq!(s.lookup(&d, true, &a).unwrap(), "52:54:00:ab:cd:ef");
    }

    #[test]
    fn minting_is_deterministic_across_stores() {
        let d = def(Miss::Mint(None), SessionType::Int, SessionType::Uuid);
        let a = MemoryStore::default().lookup(&d, false, "12").unwrap();
        let b = MemoryStore::default().lookup(&d, false, "012").unwrap();
        assert_eq!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 5);
    }

    /// A pattern that gives no UUID mints asset tags on its string side
    /// and UUIDv5s on its uuid side (it failed there: `asset-1` is not a
    /// UUID); one that gives UUIDs is used on both.
    #[test]
    fn a_uuid_side_mints_uuids_whatever_the_pattern() {
        let d = def(
            Miss::Mint(Some("asset-{n}".into())),
            SessionType::Uuid,
            SessionType::String,
        );
        let s = MemoryStore::default();
        let vm = "6f1c2a9e-3b7d-4c8e-9a51-2d4e8f0b7c13";
        assert_eq!(s.lookup(&d, false, vm).unwrap(), "asset-1");
        let back = s.lookup(&d, true, "rack-7").unwrap();
        assert_eq!(uuid::Uuid::parse_str(&back).unwrap().get_version_num(), 5);
        assert_eq!(s.lookup(&d, false, &back).unwrap(), "rack-7");
        let d = def(
            Miss::Mint(Some("00000000-0000-4000-8000-{n}00000000000".into())),
            SessionType::String,
            SessionType::Uuid,
        );
        assert_eq!(
            MemoryStore::default().lookup(&d, false, "a").unwrap(),
            "00000000-0000-4000-8000-100000000000"
        );
        assert!(pattern_gives("vm-{n}", SessionType::String));
        assert!(!pattern_gives("vm-{n}", SessionType::Int));
    }

    #[test]
    fn patterns_and_failures() {
        let d = def(
            Miss::Mint(Some("vm-{n}".into())),
            SessionType::String,
            SessionType::String,
        );
        let s = MemoryStore::default();
        assert_eq!(s.lookup(&d, false, "a").unwrap(), "vm-1");
        assert_eq!(s.lookup(&d, false, "b").unwrap(), "vm-2");
        assert_eq!(s.lookup(&d, false, "a").unwrap(), "vm-1");
        let f = def(
            Miss::Fail(Some("networks are mapped by hand".into())),
            SessionType::String,
            SessionType::String,
        );
        let e = s.lookup(&f, false, "default").unwrap_err();
        assert!(e.contains("hvxform session set"), "{e}");
        assert!(e.contains("by hand"), "{e}");
    }

    #[test]
    fn bijection_is_kept() {
        let mut t = TableData::new(SessionType::String, SessionType::String);
        t.insert("a".into(), "1".into()).unwrap();
        assert!(t.insert("b".into(), "1".into()).is_err());
        assert!(t.insert("a".into(), "2".into()).is_err());
        assert!(t.remove("a").is_some());
        t.insert("b".into(), "1".into()).unwrap();
    }
}
