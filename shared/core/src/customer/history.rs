//! A customer's recent events, in time order, as far back as some segment
//! window or flow goal can look. Late events are inserted where they
//! belong; the same event id is kept once.

use crate::model::event::Event;
use crate::model::ids::EventId;
use crate::speed::kept_props::Kept;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Recorded {
    pub id: EventId,
    /// Shared with the list it is in (one allocation per name, not per event).
    pub name: std::sync::Arc<str>,
    pub at: Timestamp,
    /// The properties something tests later, as kept (see
    /// `speed::kept_props`; `Kept::None` for events whose properties
    /// nothing tests later, see
    /// [`crate::config::EventFacts::history_props`]), and then not stored.
    #[serde(skip_serializing_if = "Kept::is_none")]
    pub props: Kept,
    /// `speed::fingerprint::of` the properties: derived, so not stored
    /// but computed again when a state is read. The engine records
    /// `speed::fingerprint::UNKNOWN` for events no segment filter can
    /// rule out by fingerprint.
    #[serde(skip)]
    pub bits: u64,
    /// [`crate::customer::seen_ids::id_hash`] of `id`, derived like `bits`: the
    /// duplicate check compares these, kept in the list, instead of
    /// following every kept id to its text.
    #[serde(skip)]
    pub id_hash: u64,
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
    name: std::sync::Arc<str>,
    at: Timestamp,
    #[serde(default)]
    props: std::sync::Arc<Value>,
}

impl From<Stored> for Recorded {
    fn from(s: Stored) -> Self {
        Recorded {
            bits: crate::speed::fingerprint::of(&s.props),
            id_hash: crate::customer::seen_ids::id_hash(s.id.as_str()),
            id: s.id,
            name: s.name,
            at: s.at,
            props: Kept::from_json(s.props),
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
struct ByName(Vec<(std::sync::Arc<str>, Vec<Recorded>)>);

impl ByName {
    fn get(&self, name: &str) -> Option<&Vec<Recorded>> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }

    /// The list of a name (made if new), with the name as kept.
    fn entry(&mut self, name: &str) -> (&std::sync::Arc<str>, &mut Vec<Recorded>) {
        let i = match self.0.iter().position(|(k, _)| &**k == name) {
            Some(i) => i,
            None => {
                let i = self.0.partition_point(|(k, _)| &**k < name);
                self.0.insert(i, (std::sync::Arc::from(name), Vec::new()));
                i
            }
        };
        let (k, v) = &mut self.0[i];
        (k, v)
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
        Ok(ByName(
            m.into_iter()
                .map(|(k, mut v)| {
                    // Each event read its own copy of the name: share the list's.
                    let k: std::sync::Arc<str> = std::sync::Arc::from(k);
                    v.iter_mut().for_each(|r| r.name = k.clone());
                    (k, v)
                })
                .collect(),
        ))
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

/// When an event kept for `d` is pruned: some slack past the end of its
/// retention (an eighth of it, at least an hour), so that a busy customer's
/// history is pruned now and then, a batch at a time, not on every event:
/// each pruning reads every list, and for a customer who has been around a
/// while those are cold in the cache. Events past their retention are
/// invisible to conditions, so only memory waits.
fn prune_after(at: Timestamp, d: SignedDuration) -> Timestamp {
    let slack = (d / 8).max(SignedDuration::from_hours(1));
    crate::model::duration::add_dur(crate::model::duration::add_dur(at, d), slack)
}

fn insert_sorted(list: &mut Vec<Recorded>, r: Recorded) {
    let pos = list.partition_point(|x| (x.at, &x.id) < (r.at, &r.id));
    list.insert(pos, r);
}

impl History {
    /// Records the event if its name is kept and it is still inside its
    /// retention at `now`. Returns whether it was added.
    pub fn record(&mut self, e: &Event, now: Timestamp, r: &dyn Retention) -> bool {
        let Some(keep) = r.keep_for(e.name()) else {
            return false;
        };
        let props = std::sync::Arc::new(e.kind.properties_json());
        let bits = crate::speed::fingerprint::of(&props);
        let id_hash = crate::customer::seen_ids::id_hash(e.id.as_str());
        self.record_kept(e, id_hash, Kept::project(&props, None), bits, keep, now)
    }

    /// As [`History::record`], with the event id's
    /// [`crate::customer::seen_ids::id_hash`] and the retention of its name already
    /// found, and its properties as kept (with their
    /// `speed::fingerprint::of`).
    pub fn record_kept(
        &mut self,
        e: &Event,
        id_hash: u64,
        props: Kept,
        bits: u64,
        keep: Keep,
        now: Timestamp,
    ) -> bool {
        if let Keep::For(d) = keep {
            if crate::model::duration::add_dur(e.occurred_at, d) <= now {
                return false;
            }
        }
        let (name, list) = self.by_name.entry(e.name());
        let name = name.clone();
        // The same id (at any time) is the same event.
        if list
            .iter()
            .any(|x| x.id_hash == id_hash && x.id.as_str() == e.id.as_str())
        {
            return false;
        }
        if let Keep::For(d) = keep {
            self.prune_at = earlier(self.prune_at, prune_after(e.occurred_at, d));
        }
        insert_sorted(
            list,
            Recorded {
                id: e.id.clone(),
                name,
                at: e.occurred_at,
                props,
                bits,
                id_hash,
            },
        );
        true
    }

    /// Drops what no condition can see any more, once the first event to
    /// have left its retention has been out for a while (see
    /// `prune_after`).
    pub fn prune(&mut self, now: Timestamp, r: &dyn Retention) {
        if self.prune_at.is_none_or(|t| t > now) {
            return;
        }
        let mut next: Option<Timestamp> = None;
        self.by_name.0.retain_mut(|(name, list)| {
            match r.keep_for(name) {
                None => list.clear(),
                Some(Keep::Forever) => {}
                Some(Keep::For(d)) => {
                    // In time order: what has left is a prefix, found by
                    // binary search against one edge (not `at + d` per event).
                    if let Ok(edge) = now.checked_sub(d) {
                        list.drain(..list.partition_point(|x| x.at <= edge));
                    }
                    if let Some(first) = list.first() {
                        next = earlier(next, prune_after(first.at, d));
                    }
                }
            }
            !list.is_empty()
        });
        self.prune_at = next;
    }

    /// Starts loading the list of names and the newest events of each
    /// list (see `speed::prefetch`): conditions read from the newest.
    pub(crate) fn prefetch(&self) {
        crate::speed::prefetch::head(&self.by_name.0, 4);
        for (_, list) in &self.by_name.0 {
            crate::speed::prefetch::head(&list[list.len().saturating_sub(1)..], 1);
        }
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
            let (name, mine) = self.by_name.entry(&name);
            let name = name.clone();
            for mut x in list {
                x.name = name.clone();
                if !mine.iter().any(|y| y.id == x.id) {
                    insert_sorted(mine, x);
                }
            }
        }
    }
}

/// A retention that keeps every event for good (tests of what reads the
/// history).
#[cfg(test)]
pub(crate) struct KeepAll;

#[cfg(test)]
impl Retention for KeepAll {
    fn keep_for(&self, _: &str) -> Option<Keep> {
        Some(Keep::Forever)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct KeepHour;
    impl Retention for KeepHour {
        fn keep_for(&self, _: &str) -> Option<Keep> {
            Some(Keep::For(SignedDuration::from_hours(1)))
        }
    }

    fn viewed(id: &str, at: &str) -> Event {
        serde_json::from_value(serde_json::json!({"id": id, "shop": "s",
            "type": "product_viewed", "occurred_at": at,
            "customer": {"email": "a@example.com"}, "properties": {"product_id": "p1"}}))
        .unwrap()
    }

    #[test]
    fn an_id_seen_before_is_not_recorded_again_whatever_its_time() {
        let mut h = History::default();
        let now: Timestamp = "2026-01-01T00:30:00Z".parse().unwrap();
        let long = "shopify:products/view:0000000000000000001";
        assert!(h.record(&viewed(long, "2026-01-01T00:00:00Z"), now, &KeepAll));
        assert!(h.record(&viewed("e1", "2026-01-01T00:00:00Z"), now, &KeepAll));
        assert!(!h.record(&viewed(long, "2026-01-01T00:10:00Z"), now, &KeepAll));
        assert!(!h.record(&viewed("e1", "2026-01-01T00:20:00Z"), now, &KeepAll));
        // Same length and last eight bytes, another id.
        let twin = "shopify:products/VIEW:0000000000000000001";
        assert!(h.record(&viewed(twin, "2026-01-01T00:20:00Z"), now, &KeepAll));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn pruning_drops_exactly_the_events_whose_retention_has_ended() {
        let mut h = History::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        for (i, m) in [0, 10, 65, 66].iter().enumerate() {
            let at = t0 + SignedDuration::from_mins(*m);
            assert!(h.record(&viewed(&format!("e{i}"), &at.to_string()), at, &KeepHour));
        }
        // Pruning waits an hour past the first end (01:00). At 02:05 the
        // event of 01:05 has just left (its hour ends at 02:05 exactly);
        // the one of 01:06 stays.
        h.prune(t0 + SignedDuration::from_mins(125), &KeepHour);
        let left: Vec<&str> = h.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(left, ["e3"]);
        // Next prune once that one has ended, plus the hour of slack.
        h.prune(t0 + SignedDuration::from_mins(185), &KeepHour);
        assert_eq!(h.len(), 1);
        h.prune(t0 + SignedDuration::from_mins(186), &KeepHour);
        assert!(h.is_empty());
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
        assert_eq!(r.bits, crate::speed::fingerprint::of(&r.props.to_json()));
        let back: History = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
