//! Event ids a customer's state has applied recently, with when, for
//! de-duplication.
//!
//! Every event looks its id up (twice) and records it, against a month of
//! ids (hundreds for a busy customer). An id is kept as a 64-bit FNV-1a hash
//! of its text, not as the text: the state is stored on every event and
//! billed per KB (an id of a Shopify delivery is 40-odd characters, its hash
//! 8 bytes), and a lookup hashes once and compares integers.
//!
//! Exact in practice: the ids of one state are one shop's ids of one
//! customer's events over the de-duplication window (hundreds, a few
//! thousand at most), and two of n ids share a 64-bit hash with probability
//! about n² / 2⁶⁵ (10⁻¹¹ for ten thousand ids). A collision could only make
//! the engine take a new event for one already applied.
//!
//! The mark of an id (when it was applied) only decides when it is pruned, a
//! month later: it is kept to the second.
//!
//! Stored as `[[hash, epoch second], …]` in hash order; a state stored
//! before (a map from id text to an RFC 3339 instant) is read as well.

use crate::model::links::Fnv;
use jiff::Timestamp;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenIds(HashMap<u64, Timestamp, BuildHasherDefault<Unmixed>>);

/// The hash under which an event id is kept.
pub fn id_hash(id: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(id.as_bytes());
    h.finish()
}

/// A mark as kept: whole seconds (rounded down).
fn mark(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

impl SeenIds {
    pub fn contains_key(&self, id: &str) -> bool {
        self.0.contains_key(&id_hash(id))
    }

    /// [`SeenIds::contains_key`] for an id already hashed ([`id_hash`]).
    pub fn contains_hash(&self, h: u64) -> bool {
        self.0.contains_key(&h)
    }

    /// [`SeenIds::insert`] for an id already hashed ([`id_hash`]).
    pub fn insert_hash(&mut self, h: u64, at: Timestamp) -> Option<Timestamp> {
        self.0.insert(h, mark(at))
    }

    pub fn get(&self, id: &str) -> Option<&Timestamp> {
        self.0.get(&id_hash(id))
    }

    /// Marks `id` as applied at `at` (to the second); returns the previous
    /// mark, if any.
    pub fn insert(&mut self, id: &str, at: Timestamp) -> Option<Timestamp> {
        self.0.insert(id_hash(id), mark(at))
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Timestamp) -> bool) {
        self.0.retain(|_, v| keep(v))
    }

    pub fn values(&self) -> impl Iterator<Item = &Timestamp> {
        self.0.values()
    }

    pub fn extend(&mut self, other: SeenIds) {
        self.0.extend(other.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The keys are FNV hashes already: a map of them needs no second hash.
#[derive(Default)]
pub struct Unmixed(u64);

impl Hasher for Unmixed {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Serialize for SeenIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<(u64, i64)> = self.0.iter().map(|(h, t)| (*h, t.as_second())).collect();
        v.sort_unstable();
        s.collect_seq(v)
    }
}

impl<'de> Deserialize<'de> for SeenIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeenIds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[[hash, epoch second], …] or a map of event id to instant")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<SeenIds, A::Error> {
                let mut m = SeenIds::default();
                while let Some((h, secs)) = a.next_element::<(u64, i64)>()? {
                    let t = Timestamp::from_second(secs).map_err(serde::de::Error::custom)?;
                    m.0.insert(h, t);
                }
                Ok(m)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<SeenIds, A::Error> {
                let mut m = SeenIds::default();
                while let Some((id, t)) = a.next_entry::<String, Timestamp>()? {
                    m.insert(&id, t);
                }
                Ok(m)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_by_hash_to_the_second_and_read_back() {
        let at: Timestamp = "2026-01-01T00:00:00.75Z".parse().unwrap();
        let mut s = SeenIds::default();
        for id in ["e3", "e1", "e2"] {
            assert!(s.insert(id, at).is_none());
        }
        assert_eq!(
            s.insert("e1", at),
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );
        assert!(s.contains_key("e2") && !s.contains_key("e4"));
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            !text.contains("e1") && text.contains(",1767225600]"),
            "{text}"
        );
        let back: SeenIds = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn reads_the_former_map_of_id_text() {
        let old = r#"{"e1":"2026-01-01T00:00:00Z","e2":"2026-01-02T00:00:00.5Z"}"#;
        let s: SeenIds = serde_json::from_str(old).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.contains_key("e1") && s.contains_key("e2") && !s.contains_key("e3"));
        assert_eq!(s.get("e2"), Some(&"2026-01-02T00:00:00Z".parse().unwrap()));
    }
}
