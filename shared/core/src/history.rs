//! A customer's recent events, in time order, as far back as some segment
//! window or flow goal can look. Late events are inserted where they
//! belong; the same event id is kept once.

use crate::event::Event;
use crate::ids::EventId;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub id: EventId,
    pub name: String,
    pub at: Timestamp,
    pub props: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    events: Vec<Recorded>,
    /// The earliest instant at which some kept event leaves its retention:
    /// pruning before then would find nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prune_at: Option<Timestamp>,
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

impl History {
    /// Records the event if its name is kept and it is still inside its
    /// retention at `now`. Returns whether it was added.
    pub fn record(&mut self, e: &Event, now: Timestamp, r: &dyn Retention) -> bool {
        self.record_with(e, None, now, r)
    }

    /// As [`History::record`], with the event's properties already as JSON.
    pub fn record_with(
        &mut self,
        e: &Event,
        props: Option<&Value>,
        now: Timestamp,
        r: &dyn Retention,
    ) -> bool {
        let Some(keep) = r.keep_for(e.name()) else {
            return false;
        };
        if let Keep::For(d) = keep {
            if e.occurred_at + d <= now {
                return false;
            }
        }
        // The same id (at any time) is the same event.
        if self.events.iter().any(|x| x.id == e.id) {
            return false;
        }
        let key = (e.occurred_at, &e.id);
        let pos = self.events.partition_point(|x| (x.at, &x.id) < key);
        if let Keep::For(d) = keep {
            self.prune_at = earlier(self.prune_at, e.occurred_at + d);
        }
        let props = props.cloned().unwrap_or_else(|| e.kind.properties_json());
        self.events.insert(
            pos,
            Recorded {
                id: e.id.clone(),
                name: e.name().to_string(),
                at: e.occurred_at,
                props,
            },
        );
        true
    }

    /// Drops what no condition can see any more.
    pub fn prune(&mut self, now: Timestamp, r: &dyn Retention) {
        if self.prune_at.is_none_or(|t| t > now) {
            return;
        }
        let mut next: Option<Timestamp> = None;
        self.events.retain(|x| match r.keep_for(&x.name) {
            None => false,
            Some(Keep::Forever) => true,
            Some(Keep::For(d)) => {
                let out = x.at + d;
                if out > now {
                    next = earlier(next, out);
                    true
                } else {
                    false
                }
            }
        });
        self.prune_at = next;
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Recorded> {
        self.events.iter()
    }

    /// Events at or after `from`.
    pub fn since(&self, from: Timestamp) -> &[Recorded] {
        let pos = self.events.partition_point(|x| x.at < from);
        &self.events[pos..]
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn absorb(&mut self, other: History) {
        if let Some(t) = other.prune_at {
            self.prune_at = earlier(self.prune_at, t);
        }
        for x in other.events {
            if self.events.iter().any(|y| y.id == x.id) {
                continue;
            }
            let pos = self
                .events
                .partition_point(|y| (y.at, &y.id) < (x.at, &x.id));
            self.events.insert(pos, x);
        }
    }
}
