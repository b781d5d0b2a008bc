//! The table's keys, in one place (docs/DATA.md, "Keys"). Every key starts
//! with its entity, so one table holds them all and a stray key says what
//! it is.

use jiff::Timestamp;
use storeflow_core::ids::{ProfileId, ShopId};

pub const STATE: &str = "state";

pub fn profile_pk(p: &ProfileId) -> String {
    format!("profile#{p}")
}

pub fn shop_pk(s: &ShopId) -> String {
    format!("shop#{s}")
}

/// An identity key (`shop|email|ann@example.com`) as its item's `pk`.
pub fn identity_pk(key: &str) -> String {
    format!("id#{key}")
}

/// The claim of one campaign start (`crate::campaigns`).
pub fn campaign_key(flow: &str, start: Timestamp) -> (String, String) {
    (format!("campaign#{flow}"), format!("start#{start}"))
}

pub fn ledger_pk(message_id: &str) -> String {
    format!("send#{message_id}")
}

/// An accepted delivery (raw body and idempotency record), under its
/// idempotency key (`shopify:webhook:<id>`).
pub fn delivery_pk(delivery_key: &str) -> String {
    format!("raw#{delivery_key}")
}

pub const DELIVERY: &str = "raw";

/// Facts normalization remembers (which customer an order belongs to), in
/// one partition per shop so a shop's erasure finds them all.
pub fn fact_pk(shop: &str) -> String {
    format!("fact#{shop}")
}

pub fn suppression_pk(address: &str) -> String {
    format!("supp#{}", address.trim().to_lowercase())
}

/// The `due` index attributes of an item that wants to be woken at `t`:
/// (`due_hour`, `due_at`). Whole seconds, rounded up, so a timer built from
/// them never fires before the instant.
pub fn due(t: Timestamp, pk: &str) -> (String, String) {
    let t = ceil_second(t);
    (
        hour(t),
        format!("{}#{pk}", t.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
}

/// The hour partition of the `due` index.
pub fn hour(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H").to_string()
}

pub fn ceil_second(t: Timestamp) -> Timestamp {
    let s = t.as_second() + i64::from(t.subsec_nanosecond() > 0);
    Timestamp::from_second(s).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_rounds_up_and_sorts_by_time() {
        let t: Timestamp = "2026-03-01T10:00:00.2Z".parse().unwrap();
        let (h, at) = due(t, "profile#p1");
        assert_eq!(h, "2026-03-01T10");
        assert_eq!(at, "2026-03-01T10:00:01Z#profile#p1");
        let later = due("2026-03-01T10:00:02Z".parse().unwrap(), "profile#p0").1;
        assert!(at < later);
    }
}
