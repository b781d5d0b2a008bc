//! What normalizing one delivery yields.

use jiff::Timestamp;
use serde::Serialize;
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::event::{Event, EventKind, Identity};
use storeflow_core::model::ids::{EventId, ShopId};

/// Something accepted for the engine: an event, or a privacy request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
// Events are the common case: boxing them would cost every delivery an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Accepted {
    Event(Event),
    Privacy(PrivacyRequest),
}

impl Accepted {
    pub fn event(&self) -> Option<&Event> {
        match self {
            Accepted::Event(e) => Some(e),
            Accepted::Privacy(_) => None,
        }
    }
}

/// The normalized form of one delivery.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    pub accepted: Vec<Accepted>,
    /// Facts to remember once the delivery is recorded (`key`, `value`).
    pub remember: Vec<(String, String)>,
    /// Why nothing (or less than the payload suggests) came of it: an
    /// unhandled topic, a consent still pending, …
    pub note: Option<String>,
    /// An idempotency key derived from the payload, when the delivery
    /// carries none of its own.
    pub key: Option<String>,
}

impl Normalized {
    pub fn ignored(note: impl Into<String>) -> Self {
        Normalized {
            note: Some(note.into()),
            ..Default::default()
        }
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.accepted.iter().filter_map(Accepted::event)
    }
}

/// Builds events with deterministic ids: the same business fact delivered
/// twice (or through two routes) gets the same [`EventId`], so the engine
/// applies it once.
pub struct EventBuilder<'a> {
    pub shop: &'a ShopId,
    /// `shopify`, `shopline`, `segment`.
    pub prefix: &'static str,
}

impl EventBuilder<'_> {
    pub fn make(
        &self,
        id_parts: &[&str],
        occurred_at: Timestamp,
        customer: Identity,
        kind: EventKind,
    ) -> Accepted {
        let mut id = String::from(self.prefix);
        for p in id_parts {
            id.push(':');
            id.push_str(p);
        }
        Accepted::Event(Event {
            id: EventId::parse(id).expect("prefix is never empty"),
            shop: self.shop.clone(),
            occurred_at,
            customer,
            kind,
        })
    }
}

/// A string that is present and not blank.
pub fn nonblank(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The stamp used in ids: RFC 3339 in UTC.
pub fn stamp(t: Timestamp) -> String {
    t.to_string()
}
