//! Fills in who an event is about when its payload does not say: refunds,
//! fulfilment events and inventory-less order facts name an order, and the
//! order's earlier delivery named the customer.

use crate::normalized::{Accepted, Normalized};
use crate::store::{fact_key, Facts};
use storeflow_core::model::event::{EventKind, Identity};

fn order_id(kind: &EventKind) -> Option<&str> {
    match kind {
        EventKind::OrderPlaced(o) | EventKind::OrderPaid(o) => Some(&o.order_id),
        EventKind::OrderFulfilled(f) => Some(&f.order_id),
        EventKind::ShipmentUpdated(s) => Some(&s.order_id),
        EventKind::OrderCancelled(c) => Some(&c.order_id),
        EventKind::Refunded(r) => Some(&r.order_id),
        EventKind::Custom { properties, .. } => properties.get("order_id")?.as_str(),
        _ => None,
    }
}

/// Remembers the customer of every order an event names with a customer,
/// and gives the remembered customer to events that name none.
pub fn orders(n: &mut Normalized, facts: &dyn Facts) {
    for a in &mut n.accepted {
        let Accepted::Event(e) = a else { continue };
        let Some(order) = order_id(&e.kind) else {
            continue;
        };
        let key = fact_key("order", e.shop.as_str(), order);
        if e.customer.is_empty() {
            let known = n
                .remember
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| facts.recall(&key));
            if let Some(who) = known.and_then(|v| serde_json::from_str::<Identity>(&v).ok()) {
                e.customer = who;
            }
        } else if e.customer.email.is_some() || e.customer.id.is_some() {
            let who = Identity {
                anonymous_id: None,
                ..e.customer.clone()
            };
            n.remember
                .push((key, serde_json::to_string(&who).unwrap_or_default()));
        }
    }
}
