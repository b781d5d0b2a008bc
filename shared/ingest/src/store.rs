//! The delivery store port: which deliveries were seen (idempotency), the
//! raw deliveries kept for replay, and the few facts normalization needs
//! from earlier deliveries (which customer an order belongs to, which
//! variant an inventory item is, a variant's last price). The DynamoDB and
//! SQLite adapters implement the same trait; [`MemoryStore`] is the
//! in-memory one (tests, the simulator).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Where a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Shopify,
    Shopline,
    Segment,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Shopify => "shopify",
            Source::Shopline => "shopline",
            Source::Segment => "segment",
        }
    }
}

/// One accepted delivery, as received: enough to replay it after a bug fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawDelivery {
    /// The idempotency key (`shopify:webhook:<id>`, `segment:<messageId>`, …).
    pub key: String,
    pub source: Source,
    pub topic: String,
    pub shop: String,
    pub headers: Vec<(String, String)>,
    /// The raw body (empty once erased).
    #[serde(with = "body_text")]
    pub body: Vec<u8>,
    pub received_at: Timestamp,
    /// Identity lookup keys of the customers it concerns (for erasure).
    pub subjects: Vec<String>,
    /// Set when a privacy request erased the headers and body.
    #[serde(default)]
    pub erased_at: Option<Timestamp>,
}

mod body_text {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// What recording a delivery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The key was seen before: nothing changed.
    Duplicate {
        first_seen: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Facts remembered from earlier deliveries, read during normalization.
pub trait Facts {
    fn recall(&self, key: &str) -> Option<String>;
}

/// No facts: for normalizing a payload on its own.
pub struct NoFacts;

impl Facts for NoFacts {
    fn recall(&self, _: &str) -> Option<String> {
        None
    }
}

pub trait DeliveryStore: Facts {
    /// When the key was first seen, if it was.
    fn seen(&self, key: &str) -> Result<Option<Timestamp>, StoreError>;
    /// Keeps the delivery and the facts it teaches, unless its key was seen
    /// before (then nothing changes). Adapters make this one conditional
    /// write, so two concurrent deliveries of the same key record once.
    fn record(
        &mut self,
        delivery: RawDelivery,
        facts: Vec<(String, String)>,
    ) -> Result<Recorded, StoreError>;
    /// Erases the headers and bodies of the shop's deliveries that concern
    /// any of `subjects`, and forgets the facts under `fact_keys`. Keeps the
    /// keys (so a redelivery is still a duplicate) and when they were erased.
    fn erase_customer(
        &mut self,
        shop: &str,
        subjects: &[String],
        fact_keys: &[String],
        at: Timestamp,
    ) -> Result<usize, StoreError>;
    /// Erases every delivery and fact of the shop.
    fn erase_shop(&mut self, shop: &str, at: Timestamp) -> Result<usize, StoreError>;
    /// A kept delivery, for replay.
    fn delivery(&self, key: &str) -> Result<Option<RawDelivery>, StoreError>;
}

/// The in-memory store.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    deliveries: BTreeMap<String, RawDelivery>,
    facts: HashMap<String, String>,
    /// Keep each delivery's key, shop and subjects only, not its headers
    /// and body (a replay of a large export that nobody will replay again).
    keys_only: bool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that remembers which deliveries it saw (duplicates are still
    /// found) and what they taught, but not their headers and bodies:
    /// memory grows with the number of deliveries, not their size.
    pub fn keys_only() -> Self {
        MemoryStore {
            keys_only: true,
            ..Self::default()
        }
    }
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }
    pub fn deliveries(&self) -> impl Iterator<Item = &RawDelivery> {
        self.deliveries.values()
    }
    pub fn facts_len(&self) -> usize {
        self.facts.len()
    }
}

impl Facts for MemoryStore {
    fn recall(&self, key: &str) -> Option<String> {
        self.facts.get(key).cloned()
    }
}

fn erase(d: &mut RawDelivery, at: Timestamp) {
    d.headers.clear();
    d.body.clear();
    d.subjects.clear();
    d.erased_at = Some(at);
}

/// Fact keys are `kind|shop|…`, so a shop's facts share a prefix.
pub fn fact_key(kind: &str, shop: &str, id: &str) -> String {
    format!("{kind}|{shop}|{id}")
}

impl DeliveryStore for MemoryStore {
    fn seen(&self, key: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.deliveries.get(key).map(|d| d.received_at))
    }

    fn record(
        &mut self,
        delivery: RawDelivery,
        facts: Vec<(String, String)>,
    ) -> Result<Recorded, StoreError> {
        if let Some(d) = self.deliveries.get(&delivery.key) {
            return Ok(Recorded::Duplicate {
                first_seen: d.received_at,
            });
        }
        let mut delivery = delivery;
        if self.keys_only {
            delivery.headers = Vec::new();
            delivery.body = Vec::new();
        }
        self.deliveries.insert(delivery.key.clone(), delivery);
        self.facts.extend(facts);
        Ok(Recorded::New)
    }

    fn erase_customer(
        &mut self,
        shop: &str,
        subjects: &[String],
        fact_keys: &[String],
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        for d in self.deliveries.values_mut() {
            if d.shop == shop && d.subjects.iter().any(|s| subjects.contains(s)) {
                erase(d, at);
                n += 1;
            }
        }
        for k in fact_keys {
            self.facts.remove(k);
        }
        Ok(n)
    }

    fn erase_shop(&mut self, shop: &str, at: Timestamp) -> Result<usize, StoreError> {
        let mut n = 0;
        for d in self.deliveries.values_mut() {
            if d.shop == shop && d.erased_at.is_none() {
                erase(d, at);
                n += 1;
            }
        }
        let prefix = format!("|{shop}|");
        self.facts.retain(|k, _| !k.contains(&prefix));
        Ok(n)
    }

    fn delivery(&self, key: &str) -> Result<Option<RawDelivery>, StoreError> {
        Ok(self.deliveries.get(key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(key: &str) -> RawDelivery {
        RawDelivery {
            key: key.into(),
            source: Source::Shopify,
            topic: "orders/create".into(),
            shop: "s.myshopify.com".into(),
            headers: vec![("X-Shopify-Topic".into(), "orders/create".into())],
            body: br#"{"id": 1, "email": "ann@example.com"}"#.to_vec(),
            received_at: "2026-11-23T15:00:00Z".parse().unwrap(),
            subjects: vec!["s|email|ann@example.com".into()],
            erased_at: None,
        }
    }

    #[test]
    fn a_keys_only_store_finds_duplicates_and_keeps_no_body() {
        let mut s = MemoryStore::keys_only();
        let facts = vec![("k".to_string(), "v".to_string())];
        assert!(matches!(
            s.record(delivery("d1"), facts).unwrap(),
            Recorded::New
        ));
        assert!(matches!(
            s.record(delivery("d1"), vec![]).unwrap(),
            Recorded::Duplicate { .. }
        ));
        assert!(s.seen("d1").unwrap().is_some());
        let kept = s.delivery("d1").unwrap().expect("the key is kept");
        assert!(kept.body.is_empty() && kept.headers.is_empty());
        assert_eq!(kept.subjects, ["s|email|ann@example.com"]);
        // The ordinary store keeps the body, for replay.
        let mut full = MemoryStore::new();
        full.record(delivery("d1"), vec![]).unwrap();
        assert!(!full.delivery("d1").unwrap().unwrap().body.is_empty());
    }
}
