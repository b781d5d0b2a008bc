//! A customer's entry record per flow (how often and when last entered),
//! read by the entry rules of every flow an event triggers.
//!
//! About six flows are offered each event, and each looks up its record: a
//! scan comparing 64-bit hashes of flow ids (then the id itself, once)
//! costs less than a tree of string compares. Stored as before: a map by
//! flow id, in id order.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often, and when last, a customer entered one flow (entry rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryRecord {
    pub count: u32,
    pub last: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowEntries {
    /// The hash of each slot's flow id, apart: the scan for a flow reads
    /// 8 bytes per slot.
    hashes: Vec<u64>,
    slots: Vec<Slot>,
}

/// One flow's record; slots are kept in flow id order.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    flow: Arc<str>,
    record: EntryRecord,
}

impl FlowEntries {
    pub fn get(&self, flow: &str) -> Option<&EntryRecord> {
        self.get_hashed(flow, crate::flow::id_hash(flow))
    }

    /// As [`FlowEntries::get`], with the flow id's [`crate::flow::id_hash`].
    pub fn get_hashed(&self, flow: &str, hash: u64) -> Option<&EntryRecord> {
        self.position(flow, hash).map(|i| &self.slots[i].record)
    }

    /// The record of `flow` (with its hash), made with no entries and
    /// `last` at `at` when there is none.
    pub fn record_mut(
        &mut self,
        flow: &Arc<str>,
        hash: u64,
        at: jiff::Timestamp,
    ) -> &mut EntryRecord {
        let i = match self.position(flow, hash) {
            Some(i) => i,
            None => {
                let i = self.slots.partition_point(|s| *s.flow < **flow);
                self.hashes.insert(i, hash);
                self.slots.insert(
                    i,
                    Slot {
                        flow: flow.clone(),
                        record: EntryRecord { count: 0, last: at },
                    },
                );
                i
            }
        };
        &mut self.slots[i].record
    }

    /// Starts loading the hashes and the first records (see
    /// `speed::prefetch`): every event that triggers a flow reads them.
    pub(crate) fn prefetch(&self) {
        crate::speed::prefetch::head(&self.hashes, 2);
        crate::speed::prefetch::head(&self.slots, 2);
    }

    fn position(&self, flow: &str, hash: u64) -> Option<usize> {
        let mut from = 0;
        while let Some(k) = self.hashes[from..].iter().position(|&h| h == hash) {
            let i = from + k;
            if &*self.slots[i].flow == flow {
                return Some(i);
            }
            from = i + 1;
        }
        None
    }

    /// Every record, in flow id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &EntryRecord)> {
        self.slots.iter().map(|s| (&*s.flow, &s.record))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl Serialize for FlowEntries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for FlowEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, EntryRecord>::deserialize(d)?;
        let hashes = m.keys().map(|k| crate::flow::id_hash(k)).collect();
        let slots = m
            .into_iter()
            .map(|(flow, record)| Slot {
                flow: Arc::from(flow),
                record,
            })
            .collect();
        Ok(FlowEntries { hashes, slots })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_in_id_order_and_read_back() {
        let at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut e = FlowEntries::default();
        for id in ["welcome", "browse", "cart", "browse"] {
            let id: Arc<str> = Arc::from(id);
            e.record_mut(&id, crate::flow::id_hash(&id), at).count += 1;
        }
        let ids: Vec<(&str, u32)> = e.iter().map(|(k, r)| (k, r.count)).collect();
        assert_eq!(ids, [("browse", 2), ("cart", 1), ("welcome", 1)]);
        assert_eq!(e.get("cart").map(|r| r.count), Some(1));
        assert!(e.get("winback").is_none());
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.starts_with("{\"browse\":"), "{text}");
        let back: FlowEntries = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
    }
}
