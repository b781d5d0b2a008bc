//! What an input value outside the range a store can mean gets.
//!
//! A platform's clock can be wrong, a sender can be buggy, and a signed
//! payload is still only what somebody wrote. The engine adds durations to
//! event times, sums money and multiplies quantities; a value at the edge of
//! its type would overflow there. So every event is brought within these
//! limits before the engine looks at it, and every change is told back, so
//! the runtime records it in the trace (`adjusted`):
//!
//! | field | accepted | otherwise |
//! |---|---|---|
//! | `occurred_at` | 1970-01-01 up to a day after arrival | the arrival time |
//! | `checkout.updated_at` | the same | dropped |
//! | `estimated_delivery_at` | 1970-01-01 up to a year after arrival | dropped |
//! | money (`total`, `subtotal`, `price`, `amount`, `old_price`, `new_price`) | ±10¹² | clamped to ±10¹² |
//! | line item `quantity` | up to 1,000,000 | 1,000,000 |
//! | stock `available` | ±10¹² | clamped to ±10¹² |
//!
//! Anything else an event carries (custom properties, names, ids) is kept
//! as given: the engine only compares, stores and prints those.

use crate::model::event::{Event, EventKind, LineItem};
use jiff::{SignedDuration, Timestamp};

/// The largest money amount an event may carry, either sign.
pub const MAX_AMOUNT: f64 = 1e12;
/// The most units of one line.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// The largest stock level, either sign.
pub const MAX_STOCK: i64 = 1_000_000_000_000;
/// How far past its arrival an event may say it happened (platform clocks
/// drift; a day covers any time zone mistake).
pub const MAX_AHEAD: SignedDuration = SignedDuration::from_hours(24);
/// How far ahead a delivery estimate may be.
const MAX_ESTIMATE_AHEAD: SignedDuration = SignedDuration::from_hours(366 * 24);
/// Notes kept per event; the rest are counted.
const MAX_NOTES: usize = 8;

/// One value brought within limits: `field` as the wire names it, and what
/// it was and became.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    pub field: String,
    pub was: String,
    pub now: String,
}

impl std::fmt::Display for Adjusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} taken as {}", self.field, self.was, self.now)
    }
}

#[derive(Default)]
struct Notes {
    kept: Vec<Adjusted>,
    more: usize,
}

impl Notes {
    fn add(&mut self, field: impl Into<String>, was: impl ToString, now: impl Into<String>) {
        if self.kept.len() < MAX_NOTES {
            self.kept.push(Adjusted {
                field: field.into(),
                was: was.to_string(),
                now: now.into(),
            });
        } else {
            self.more += 1;
        }
    }

    fn amount(&mut self, field: impl FnOnce() -> String, x: &mut f64) {
        let ok = x.is_finite() && x.abs() <= MAX_AMOUNT;
        if !ok {
            let was = *x;
            *x = if x.is_nan() {
                0.0
            } else {
                MAX_AMOUNT.copysign(was)
            };
            self.add(field(), was, x.to_string());
        }
    }

    fn opt_amount(&mut self, field: &str, x: &mut Option<f64>) {
        if let Some(v) = x {
            self.amount(|| field.to_string(), v);
        }
    }

    fn lines(&mut self, items: &mut [LineItem]) {
        for (i, li) in items.iter_mut().enumerate() {
            self.amount(|| format!("line_items[{i}].price"), &mut li.price);
            if li.quantity > MAX_QUANTITY {
                let was = li.quantity;
                li.quantity = MAX_QUANTITY;
                self.add(
                    format!("line_items[{i}].quantity"),
                    was,
                    MAX_QUANTITY.to_string(),
                );
            }
        }
    }

    /// An optional instant outside `[1970, arrival + ahead]` is dropped.
    fn instant(
        &mut self,
        field: &str,
        t: &mut Option<Timestamp>,
        arrival: Timestamp,
        ahead: SignedDuration,
    ) {
        if let Some(v) = *t {
            if !believable(v, arrival, ahead) {
                *t = None;
                self.add(field, v, "absent");
            }
        }
    }
}

/// Whether `t` lies in `[1970-01-01, arrival + ahead]`.
fn believable(t: Timestamp, arrival: Timestamp, ahead: SignedDuration) -> bool {
    let latest = arrival.checked_add(ahead).unwrap_or(Timestamp::MAX);
    t >= Timestamp::UNIX_EPOCH && t <= latest
}

/// Brings `e` within the limits above, `arrival` being when it reached us;
/// returns what changed (empty for nearly every event), and how many more
/// changes there were than the notes list.
pub fn bring_within(e: &mut Event, arrival: Timestamp) -> (Vec<Adjusted>, usize) {
    let mut n = Notes::default();
    if !believable(e.occurred_at, arrival, MAX_AHEAD) {
        n.add("occurred_at", e.occurred_at, arrival.to_string());
        e.occurred_at = arrival;
    }
    match &mut e.kind {
        EventKind::ProductViewed(p) => n.opt_amount("price", &mut p.price),
        EventKind::AddedToCart(c) | EventKind::CartUpdated(c) => {
            n.opt_amount("total", &mut c.total);
            n.lines(&mut c.line_items);
        }
        EventKind::CheckoutStarted(c) | EventKind::CheckoutUpdated(c) => {
            n.amount(|| "total".into(), &mut c.total);
            n.opt_amount("subtotal", &mut c.subtotal);
            n.lines(&mut c.line_items);
            n.instant("updated_at", &mut c.updated_at, arrival, MAX_AHEAD);
        }
        EventKind::OrderPlaced(o) | EventKind::OrderPaid(o) => {
            n.amount(|| "total".into(), &mut o.total);
            n.opt_amount("subtotal", &mut o.subtotal);
            n.lines(&mut o.line_items);
        }
        EventKind::OrderFulfilled(f) => n.lines(&mut f.line_items),
        EventKind::ShipmentUpdated(s) => n.instant(
            "estimated_delivery_at",
            &mut s.estimated_delivery_at,
            arrival,
            MAX_ESTIMATE_AHEAD,
        ),
        EventKind::Refunded(r) => n.amount(|| "amount".into(), &mut r.amount),
        EventKind::InventoryChanged(i) => {
            if i.available.abs() > MAX_STOCK || i.available == i64::MIN {
                let was = i.available;
                i.available = i.available.clamp(-MAX_STOCK, MAX_STOCK);
                n.add("available", was, i.available.to_string());
            }
        }
        EventKind::PriceChanged(p) => {
            n.opt_amount("old_price", &mut p.old_price);
            n.amount(|| "new_price".into(), &mut p.new_price);
        }
        EventKind::CustomerCreated(_)
        | EventKind::CustomerUpdated(_)
        | EventKind::ConsentChanged(_)
        | EventKind::CollectionViewed(_)
        | EventKind::Searched(_)
        | EventKind::OrderCancelled(_)
        | EventKind::BackInStockRequested(_)
        | EventKind::BackInStock(_)
        | EventKind::ReplenishmentDue(_)
        | EventKind::Custom { .. } => {}
    }
    (n.kept, n.more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    const ARRIVAL: &str = "2026-11-23T15:00:00Z";

    #[test]
    fn a_time_far_ahead_or_before_1970_becomes_the_arrival_time() {
        let arrival: Timestamp = ARRIVAL.parse().unwrap();
        for (at, kept) in [
            ("9999-12-30T21:00:00Z", false),
            ("1969-12-31T23:59:59Z", false),
            ("2026-11-24T15:00:00Z", true),
            ("2026-11-24T15:00:01Z", false),
            ("1970-01-01T00:00:00Z", true),
        ] {
            let mut e = event(&format!(
                r#"{{"id":"e","shop":"s","type":"customer_created","occurred_at":"{at}"}}"#
            ));
            let (notes, _) = bring_within(&mut e, arrival);
            if kept {
                assert!(notes.is_empty(), "{at}: {notes:?}");
                assert_eq!(e.occurred_at, at.parse::<Timestamp>().unwrap());
            } else {
                assert_eq!(e.occurred_at, arrival, "{at}");
                assert_eq!(notes[0].field, "occurred_at");
                assert_eq!(
                    notes[0].to_string(),
                    format!(
                        "occurred_at {} taken as {ARRIVAL}",
                        at.parse::<Timestamp>().unwrap()
                    )
                );
            }
        }
    }

    #[test]
    fn money_and_quantities_at_their_limits_are_clamped_and_named() {
        let mut e = event(
            r#"{"id":"e","shop":"s","type":"order_placed","occurred_at":"2026-11-23T14:00:00Z",
                "properties":{"order_id":"1","total":1.5e308,"subtotal":-1e300,
                "line_items":[{"product_id":"p","quantity":4294967295,"price":-1.7e308},
                              {"product_id":"q","quantity":2,"price":3.5}]}}"#,
        );
        let (notes, more) = bring_within(&mut e, ARRIVAL.parse().unwrap());
        let EventKind::OrderPlaced(o) = &e.kind else {
            panic!()
        };
        assert_eq!(o.total, MAX_AMOUNT);
        assert_eq!(o.subtotal, Some(-MAX_AMOUNT));
        assert_eq!(o.line_items[0].quantity, MAX_QUANTITY);
        assert_eq!(o.line_items[0].price, -MAX_AMOUNT);
        assert_eq!(o.line_items[1].price, 3.5);
        let fields: Vec<_> = notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "total",
                "subtotal",
                "line_items[0].price",
                "line_items[0].quantity"
            ]
        );
        assert_eq!(more, 0);
    }

    #[test]
    fn many_changes_keep_a_few_notes_and_count_the_rest() {
        let items: Vec<String> = (0..20)
            .map(|i| format!(r#"{{"product_id":"p{i}","price":1e200}}"#))
            .collect();
        let mut e = event(&format!(
            r#"{{"id":"e","shop":"s","type":"cart_updated","occurred_at":"2026-11-23T14:00:00Z",
                "properties":{{"line_items":[{}]}}}}"#,
            items.join(",")
        ));
        let (notes, more) = bring_within(&mut e, ARRIVAL.parse().unwrap());
        assert_eq!((notes.len(), more), (MAX_NOTES, 20 - MAX_NOTES));
    }
}
