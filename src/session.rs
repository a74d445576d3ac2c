//! Session tables: bidirectional identifier tables (one left value ↔ one right
//! value), with key normalisation by type and a declared policy for misses.
//! This module holds the in-memory store behind the [`SessionAccess`]
//! interface the executor uses.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::convert;
use crate::program::SessionDef;
use crate::syntax::ast::{Miss, SessionType};

/// What the executor needs from a session store.
pub trait SessionAccess: Sync {
    /// Forward (`reverse == false`: left → right) or reverse lookup, applying
    /// the table's miss policy.
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String>;
}

/// Normalises a value of a session type so equal identifiers are one key.
pub fn normalise(ty: SessionType, v: &str) -> Result<String, String> {
    match ty {
        SessionType::String => Ok(v.to_string()),
        SessionType::Int => convert::int(v).map(|i| i.to_string()),
        SessionType::Uint => convert::uint(v).map(|i| i.to_string()),
        SessionType::Uuid => convert::uuid(v),
        SessionType::Mac => convert::mac(v),
    }
}

/// The namespace for deterministic (UUIDv5) minting.
const MINT_NS: uuid::Uuid = uuid::Uuid::from_u128(0x6876_7866_6f72_4d00_8000_0000_5e55_1011);

/// One table's entries.
#[derive(Debug, Clone, Default)]
pub struct TableData {
    pub left: Option<SessionType>,
    pub right: Option<SessionType>,
    pub entries: Vec<(String, String)>,
    by_left: HashMap<String, usize>,
    by_right: HashMap<String, usize>,
}

impl TableData {
    pub fn new(left: SessionType, right: SessionType) -> Self {
        TableData {
            left: Some(left),
            right: Some(right),
            ..Default::default()
        }
    }
    pub fn get(&self, reverse: bool, key: &str) -> Option<&str> {
        if reverse {
            self.by_right.get(key).map(|&i| self.entries[i].0.as_str())
        } else {
            self.by_left.get(key).map(|&i| self.entries[i].1.as_str())
        }
    }
    /// Adds a normalised pair; errors if either side is already taken.
    pub fn insert(&mut self, left: String, right: String) -> Result<(), String> {
        if let Some(&i) = self.by_left.get(&left) {
            if self.entries[i].1 == right {
                return Ok(());
            }
            return Err(format!(
                "`{left}` is already paired with `{}`",
                self.entries[i].1
            ));
        }
        if let Some(&i) = self.by_right.get(&right) {
            return Err(format!(
                "`{right}` is already paired with `{}`",
                self.entries[i].0
            ));
        }
        self.by_left.insert(left.clone(), self.entries.len());
        self.by_right.insert(right.clone(), self.entries.len());
        self.entries.push((left, right));
        Ok(())
    }
    /// Removes the pair with this left value; returns whether it existed.
    pub fn remove(&mut self, left: &str) -> bool {
        let Some(i) = self.by_left.get(left).copied() else {
            return false;
        };
        self.entries.remove(i);
        self.reindex();
        true
    }
    fn reindex(&mut self) {
        self.by_left.clear();
        self.by_right.clear();
        for (i, (l, r)) in self.entries.iter().enumerate() {
            self.by_left.insert(l.clone(), i);
            self.by_right.insert(r.clone(), i);
        }
    }
}

/// Tables by name.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub tables: BTreeMap<String, TableData>,
}

impl Tables {
    /// Looks up, minting on a miss when the policy says so. Returns the value
    /// and whether a new entry was made.
    pub fn lookup(
        &mut self,
        def: &SessionDef,
        reverse: bool,
        key: &str,
    ) -> Result<(String, bool), String> {
        let (from_ty, to_ty) = if reverse {
            (def.right, def.left)
        } else {
            (def.left, def.right)
        };
        let key =
            normalise(from_ty, key).map_err(|e| format!("session table `{}`: {e}", def.name))?;
        let t = self
            .tables
            .entry(def.name.clone())
            .or_insert_with(|| TableData::new(def.left, def.right));
        if let Some(v) = t.get(reverse, &key) {
            return Ok((v.to_string(), false));
        }
        let minted = match &def.miss {
            Miss::Fail(hint) => {
                let (l, r) = if reverse {
                    ("LEFT", key.as_str())
                } else {
                    (key.as_str(), "RIGHT")
                };
                let mut msg = format!(
                    "session table `{}` has no entry for `{key}` ({} side); seed it with `hvxform session set STORE {} {l} {r}`",
                    def.name,
                    if reverse { "right" } else { "left" },
                    def.name
                );
                if let Some(h) = hint {
                    msg.push_str(&format!(" ({h})"));
                }
                return Err(msg);
            }
            Miss::Same => normalise(to_ty, &key).map_err(|e| {
                format!(
                    "session table `{}`: `{key}` cannot be used on the other side: {e}",
                    def.name
                )
            })?,
            Miss::Mint(None) if to_ty == SessionType::Uuid => {
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
                let mut n = t.entries.len() as u64 + 1;
                loop {
                    let cand = pattern.replace("{n}", &n.to_string());
                    let cand = normalise(to_ty, &cand)
                        .map_err(|e| format!("session table `{}`: minted value: {e}", def.name))?;
                    if t.get(!reverse, &cand).is_none() {
                        break cand;
                    }
                    n += 1;
                }
            }
        };
        let (l, r) = if reverse {
            (minted.clone(), key)
        } else {
            (key, minted.clone())
        };
        t.insert(l, r)
            .map_err(|e| format!("session table `{}`: {e}", def.name))?;
        Ok((minted, true))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Loc;

    fn def(miss: Miss, left: SessionType, right: SessionType) -> SessionDef {
        SessionDef {
            name: "t".into(),
            left,
            right,
            miss,
            loc: Loc::default(),
        }
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
        assert!(t.remove("a"));
        t.insert("b".into(), "1".into()).unwrap();
    }
}
