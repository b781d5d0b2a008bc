//! The table's keys, in one place (docs/DATA.md, "Keys"). Every key starts
//! with its entity, so one table holds them all and a stray key says what
//! it is.

use jiff::Timestamp;
use storeflow_core::model::ids::{ProfileId, ShopId};

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

/// One UTC day's result counters (`crate::rollups`), or `total` (segment
/// counters of all time).
pub fn rollup_pk(day: &str) -> String {
    format!("rollup#{day}")
}

pub fn suppression_pk(address: &str) -> String {
    format!("supp#{}", address.trim().to_lowercase())
}

/// `t` rounded up to a whole second, so a timer armed for it (schedules
/// and delays count whole seconds) never fires before the instant.
pub fn ceil_second(t: Timestamp) -> Timestamp {
    let s = t.as_second() + i64::from(t.subsec_nanosecond() > 0);
    Timestamp::from_second(s).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_second_rounds_up_only_a_fraction() {
        let t: Timestamp = "2026-03-01T10:00:00.2Z".parse().unwrap();
        assert_eq!(ceil_second(t).to_string(), "2026-03-01T10:00:01Z");
        let whole: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        assert_eq!(ceil_second(whole), whole);
    }
}
