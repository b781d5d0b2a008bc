//! A customer's recent events, in time order, as far back as some segment
//! window or flow goal can look. Late events are inserted where they
//! belong; the same event id is kept once.

use crate::event::Event;
use crate::ids::EventId;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Recorded {
    pub id: EventId,
    pub name: String,
    pub at: Timestamp,
    /// Shared with the engine's view of the event: recorded without a copy.
    pub props: std::sync::Arc<Value>,
    /// [`crate::fingerprint::of`] the properties: derived, so not stored
    /// but computed again when a state is read. The engine records
    /// [`crate::fingerprint::UNKNOWN`] for events no segment filter can
    /// rule out by fingerprint.
    #[serde(skip)]
    pub bits: u64,
}

/// Derived `bits` aside, the same recorded event.
impl PartialEq for Recorded {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.at == other.at
            && self.props == other.props
    }
}

/// A [`Recorded`] as stored.
#[derive(Deserialize)]
struct Stored {
    id: EventId,
    name: String,
    at: Timestamp,
    props: std::sync::Arc<Value>,
}

impl From<Stored> for Recorded {
    fn from(s: Stored) -> Self {
        Recorded {
            bits: crate::fingerprint::of(&s.props),
            id: s.id,
            name: s.name,
            at: s.at,
            props: s.props,
        }
    }
}

/// Events kept per name, each list in time order: a condition on one
/// event name reads only that name's events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    by_name: ByName,
    /// The earliest instant at which some kept event leaves its retention:
    /// pruning before then would find nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prune_at: Option<Timestamp>,
}

/// The lists by event name, sorted by name and stored as a map. A store
/// keeps a handful of names, so a scan that mostly compares lengths finds
/// one faster than a tree of string compares (conditions look up a list
/// several times per event).
#[derive(Debug, Clone, Default, PartialEq)]
struct ByName(Vec<(String, Vec<Recorded>)>);

impl ByName {
    fn get(&self, name: &str) -> Option<&Vec<Recorded>> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn entry(&mut self, name: &str) -> &mut Vec<Recorded> {
        let i = match self.0.iter().position(|(k, _)| k == name) {
            Some(i) => i,
            None => {
                let i = self.0.partition_point(|(k, _)| k.as_str() < name);
                self.0.insert(i, (name.to_string(), Vec::new()));
                i
            }
        };
        &mut self.0[i].1
    }

    fn values(&self) -> impl Iterator<Item = &Vec<Recorded>> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl Serialize for ByName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ByName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, Vec<Recorded>>::deserialize(d)?;
        Ok(ByName(m.into_iter().collect()))
    }
}

/// How long events of each name are kept: `None` for not at all.
pub trait Retention {
    fn keep_for(&self, name: &str) -> Option<Keep>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Forever,
    For(SignedDuration),
}

fn earlier(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn insert_sorted(list: &mut Vec<Recorded>, r: Recorded) {
    let pos = list.partition_point(|x| (x.at, &x.id) < (r.at, &r.id));
    list.insert(pos, r);
}

impl History {
    /// Records the event if its name is kept and it is still inside its
    /// retention at `now`. Returns whether it was added.
    pub fn record(&mut self, e: &Event, now: Timestamp, r: &dyn Retention) -> bool {
        self.record_with(e, None, now, r)
    }

    /// As [`History::record`], with the event's properties already as JSON
    /// and their [`crate::fingerprint::of`].
    pub fn record_with(
        &mut self,
        e: &Event,
        props: Option<(&std::sync::Arc<Value>, u64)>,
        now: Timestamp,
        r: &dyn Retention,
    ) -> bool {
        let Some(keep) = r.keep_for(e.name()) else {
            return false;
        };
        if let Keep::For(d) = keep {
            if crate::duration::add_dur(e.occurred_at, d) <= now {
                return false;
            }
        }
        let list = self.by_name.entry(e.name());
        // The same id (at any time) is the same event.
        if list.iter().any(|x| x.id == e.id) {
            return false;
        }
        if let Keep::For(d) = keep {
            self.prune_at = earlier(self.prune_at, crate::duration::add_dur(e.occurred_at, d));
        }
        let (props, bits) = match props {
            Some((p, bits)) => (p.clone(), bits),
            None => {
                let p = e.kind.properties_json();
                let bits = crate::fingerprint::of(&p);
                (std::sync::Arc::new(p), bits)
            }
        };
        insert_sorted(
            list,
            Recorded {
                id: e.id.clone(),
                name: e.name().to_string(),
                at: e.occurred_at,
                props,
                bits,
            },
        );
        true
    }

    /// Drops what no condition can see any more.
    pub fn prune(&mut self, now: Timestamp, r: &dyn Retention) {
        // An hour of slack: a busy history is pruned hourly, not per event.
        // Extra events past their retention are invisible to conditions.
        if self
            .prune_at
            .is_none_or(|t| crate::duration::add_secs(t, 3600) > now)
        {
            return;
        }
        let mut next: Option<Timestamp> = None;
        self.by_name.0.retain_mut(|(name, list)| {
            match r.keep_for(name) {
                None => list.clear(),
                Some(Keep::Forever) => {}
                Some(Keep::For(d)) => {
                    list.retain(|x| x.at + d > now);
                    if let Some(first) = list.first() {
                        next = earlier(next, first.at + d);
                    }
                }
            }
            !list.is_empty()
        });
        self.prune_at = next;
    }

    /// Every event kept, by name then time.
    pub fn iter(&self) -> impl Iterator<Item = &Recorded> {
        self.by_name.values().flatten()
    }

    /// Events of one name, in time order.
    pub fn named(&self, name: &str) -> &[Recorded] {
        self.by_name.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Events of one name at or after `from`.
    pub fn named_since(&self, name: &str, from: Timestamp) -> &[Recorded] {
        let list = self.named(name);
        &list[list.partition_point(|x| x.at < from)..]
    }

    pub fn len(&self) -> usize {
        self.by_name.values().map(|v| v.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.by_name.0.is_empty()
    }

    pub fn absorb(&mut self, other: History) {
        if let Some(t) = other.prune_at {
            self.prune_at = earlier(self.prune_at, t);
        }
        for (name, list) in other.by_name.0 {
            let mine = self.by_name.entry(&name);
            for x in list {
                if !mine.iter().any(|y| y.id == x.id) {
                    insert_sorted(mine, x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct KeepAll;
    impl Retention for KeepAll {
        fn keep_for(&self, _: &str) -> Option<Keep> {
            Some(Keep::Forever)
        }
    }

    #[test]
    fn fingerprints_are_computed_again_when_read_back() {
        let e: Event = serde_json::from_value(serde_json::json!({"id": "e1", "shop": "s",
            "type": "product_viewed", "occurred_at": "2026-01-01T00:00:00Z",
            "customer": {"email": "a@example.com"}, "properties": {"product_id": "p1"}}))
        .unwrap();
        let mut h = History::default();
        assert!(h.record(&e, e.occurred_at, &KeepAll));
        let r = &h.named("product_viewed")[0];
        assert_ne!(r.bits, 0);
        assert_eq!(r.bits, crate::fingerprint::of(&r.props));
        let back: History = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
