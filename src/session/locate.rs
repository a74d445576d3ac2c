//! Finds the line and column of a node in a YAML text, for messages about
//! problems found after parsing (a duplicate entry, a bad value).
//!
//! serde_yaml does not expose positions of parsed values, but it attaches the
//! position of the node being deserialized to any error a visitor returns. So
//! to locate a node, the text is deserialized again with a seed that walks
//! down the [`Seg`] path and fails on the node itself; the error carries its
//! position. This costs one parse per located node, so callers locate only the
//! problems they report.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into a YAML document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    /// The value of the first mapping entry with this key.
    Key(&'a str),
    /// The key of the n-th (0-based) mapping entry.
    NthKey(usize),
    /// The value of the n-th (0-based) mapping entry.
    NthValue(usize),
    /// The n-th (0-based) element of a sequence.
    Index(usize),
}

/// The 1-based line and column where the node at `path` starts, if there is
/// such a node.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Walk { path }).deserialize(de) {
        Ok(()) => None,
        Err(e) => e.location().map(|l| (l.line(), l.column())),
    }
}

/// Walks to the node at `path` and fails there.
struct Walk<'p, 'a> {
    path: &'p [Seg<'a>],
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.first() {
            // Any visitor method not implemented is an error at this node.
            None => d.deserialize_any(Here),
            Some(Seg::Index(_)) => d.deserialize_seq(self),
            Some(_) => d.deserialize_map(self),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML mapping or sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (Some(Seg::Index(n)), rest) = (self.path.first(), &self.path[1..]) else {
            return Ok(());
        };
        for _ in 0..*n {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk { path: rest })?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let rest = &self.path[1..];
        let mut i = 0;
        loop {
            let hit = match self.path[0] {
                Seg::NthKey(n) if n == i => {
                    map.next_key_seed(Walk { path: &[] })?;
                    return Ok(());
                }
                Seg::NthValue(n) => {
                    if map.next_key::<IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                    n == i
                }
                Seg::Key(k) => match map.next_key::<KeyText>()? {
                    None => return Ok(()),
                    Some(KeyText(t)) => t == k,
                },
                _ => {
                    if map.next_key::<IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                    false
                }
            };
            if hit {
                map.next_value_seed(Walk { path: rest })?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
            i += 1;
        }
    }
}

/// A visitor that accepts nothing, so deserializing with it fails at the
/// current node.
struct Here;

impl Visitor<'_> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("nothing (locating a node)")
    }
}

/// A mapping key as text (scalars of any kind; others are not text).
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<KeyText, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeyText(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<KeyText, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(KeyText(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: 1\ntables:\n  a:\n    left: string\n    entries:\n      - [x, y]\n      - - p\n        - q\n  a:\n    left: int\n";

    #[test]
    fn finds_nodes() {
        assert_eq!(locate(TEXT, &[Seg::Key("version")]), Some((1, 10)));
        let e = [
            Seg::Key("tables"),
            Seg::NthValue(0),
            Seg::Key("entries"),
            Seg::Index(0),
        ];
        assert_eq!(locate(TEXT, &e), Some((6, 9)));
        let e1 = [
            Seg::Key("tables"),
            Seg::NthValue(0),
            Seg::Key("entries"),
            Seg::Index(1),
            Seg::Index(1),
        ];
        assert_eq!(locate(TEXT, &e1), Some((8, 11)));
        assert_eq!(
            locate(TEXT, &[Seg::Key("tables"), Seg::NthKey(1)]),
            Some((9, 3))
        );
        assert_eq!(
            locate(
                TEXT,
                &[Seg::Key("tables"), Seg::NthValue(1), Seg::Key("left")]
            ),
            Some((10, 11))
        );
        assert_eq!(locate(TEXT, &[Seg::Key("nothing")]), None);
        assert_eq!(locate(TEXT, &[Seg::Key("tables"), Seg::NthValue(5)]), None);
    }
}
