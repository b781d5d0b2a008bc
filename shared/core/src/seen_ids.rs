//! Event ids a customer's state has applied recently, with when, for
//! de-duplication.
//!
//! Every event looks its id up (twice) and records it, against a month of
//! ids (hundreds for a busy customer): a hash lookup by the shared id text
//! costs less than a tree of string compares, and recording shares the
//! event's id instead of copying it. Stored as before: a map by id, in id
//! order.

use crate::links::Fnv;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenIds(HashMap<Arc<str>, Timestamp, BuildHasherDefault<Fnv>>);

impl SeenIds {
    pub fn contains_key(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&Timestamp> {
        self.0.get(id)
    }

    /// Marks `id` as applied at `at`; returns the previous mark, if any.
    pub fn insert(&mut self, id: Arc<str>, at: Timestamp) -> Option<Timestamp> {
        self.0.insert(id, at)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Timestamp) -> bool) {
        self.0.retain(|k, v| keep(k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &Timestamp> {
        self.0.values()
    }

    pub fn extend(&mut self, other: SeenIds) {
        self.0.extend(other.0)
    }

    /// Every id with its mark, in id order.
    pub fn sorted(&self) -> Vec<(&str, &Timestamp)> {
        let mut v: Vec<(&str, &Timestamp)> = self.0.iter().map(|(k, t)| (&**k, t)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for SeenIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.sorted())
    }
}

impl<'de> Deserialize<'de> for SeenIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, Timestamp>::deserialize(d)?;
        Ok(SeenIds(
            m.into_iter().map(|(k, t)| (Arc::from(k), t)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_in_id_order_and_read_back() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut s = SeenIds::default();
        for id in ["e3", "e1", "e2"] {
            assert!(s.insert(Arc::from(id), at).is_none());
        }
        assert!(s.insert(Arc::from("e1"), at).is_some());
        assert!(s.contains_key("e2") && !s.contains_key("e4"));
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.starts_with("{\"e1\":"), "{text}");
        let back: SeenIds = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
