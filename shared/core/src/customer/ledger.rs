//! The runs a customer's state has started and the messages it has sent,
//! by 64-bit id, with when: a replayed input starts nothing and sends
//! nothing twice.
//!
//! Kept in a hash map, not a B-tree: an event makes about one and a half
//! new runs and looks up as many, against a month of entries (hundreds for
//! a busy customer), and a B-tree insert there cost about 300 instructions
//! where a hash insert costs a few dozen. The keys are hashes already
//! ([`crate::model::links::hash64`] of a run's parts, or a message id's hex value),
//! so the map does not hash them again.
//!
//! Stored as before, a map from the key (decimal text) to an instant, in key
//! order: a state written by an earlier version reads the same, and the
//! stored text does not depend on the map's internal order.

use crate::customer::seen_ids::Unmixed;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Ledger keys are the 64-bit value of a run or message id (its hex text).
pub(crate) fn key_of(id: &str) -> u64 {
    u64::from_str_radix(id, 16).unwrap_or_else(|_| {
        let mut h = crate::model::links::Fnv::default();
        std::hash::Hasher::write(&mut h, id.as_bytes());
        std::hash::Hasher::finish(&h)
    })
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger(HashMap<u64, Timestamp, BuildHasherDefault<Unmixed>>);

impl Ledger {
    pub fn contains_key(&self, key: &u64) -> bool {
        self.0.contains_key(key)
    }

    /// Records `key` at `at`; returns the previous instant, if any.
    pub fn insert(&mut self, key: u64, at: Timestamp) -> Option<Timestamp> {
        self.0.insert(key, at)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&u64, &Timestamp) -> bool) {
        self.0.retain(|k, v| keep(k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &Timestamp> {
        self.0.values()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Extend<(u64, Timestamp)> for Ledger {
    fn extend<I: IntoIterator<Item = (u64, Timestamp)>>(&mut self, it: I) {
        self.0.extend(it)
    }
}

impl IntoIterator for Ledger {
    type Item = (u64, Timestamp);
    type IntoIter = std::collections::hash_map::IntoIter<u64, Timestamp>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for Ledger {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<(&u64, &Timestamp)> = self.0.iter().collect();
        v.sort_unstable_by_key(|(k, _)| **k);
        s.collect_map(v)
    }
}

impl<'de> Deserialize<'de> for Ledger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = HashMap::<u64, Timestamp, BuildHasherDefault<Unmixed>>::deserialize(d)?;
        Ok(Ledger(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn stored_as_the_former_ordered_map_and_read_back() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut l = Ledger::default();
        let mut before = BTreeMap::new();
        for k in [u64::MAX, 7, 1 << 40, 3] {
            assert!(l.insert(k, at).is_none());
            before.insert(k, at);
        }
        assert_eq!(l.insert(7, at), Some(at));
        let text = serde_json::to_string(&l).unwrap();
        assert_eq!(text, serde_json::to_string(&before).unwrap());
        let back: Ledger = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l);
        assert!(back.contains_key(&(1 << 40)) && !back.contains_key(&8));
    }
}
