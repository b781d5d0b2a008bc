//! Customer profiles: identity, attributes, consent, orders and the metrics
//! derived from them, lifecycle stage, RFM scores and loyalty.
//!
//! Every field that an event sets is stamped with the event's time and only
//! a newer stamp replaces it, and orders are kept by order id: so applying
//! the same event twice changes nothing, and events applied in any order
//! give the same profile.

use crate::config::settings::Settings;
use crate::model::event::{Channel, ConsentStatus, Event, EventKind};
use crate::model::ids::{Email, Phone, ProfileId, ShopId};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A value with the time of the event that set it (last writer wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub value: T,
    pub at: Timestamp,
}

/// Sets `slot` to `value` if `at` is newer; on equal stamps the larger
/// value (as JSON text) wins, so the outcome never depends on arrival order.
fn lww<T: Serialize + PartialEq + Clone>(
    slot: &mut Option<Stamped<T>>,
    value: T,
    at: Timestamp,
) -> bool {
    let replace = match slot {
        None => true,
        Some(cur) if at > cur.at => true,
        Some(cur) if at == cur.at => {
            let a = serde_json::to_string(&value).unwrap_or_default();
            let b = serde_json::to_string(&cur.value).unwrap_or_default();
            a > b
        }
        Some(_) => false,
    };
    if replace {
        let changed = slot.as_ref().map(|c| c.value != value).unwrap_or(true);
        *slot = Some(Stamped { value, at });
        return changed;
    }
    false
}

fn lww_map<K: Ord, T: Serialize + PartialEq + Clone>(
    map: &mut BTreeMap<K, Stamped<T>>,
    key: K,
    value: T,
    at: Timestamp,
) -> bool {
    let mut slot = map.remove(&key);
    let changed = lww(&mut slot, value, at);
    if let Some(s) = slot {
        map.insert(key, s);
    }
    changed
}

/// What we know of one order. A refund or cancellation may arrive before
/// the order itself; until the order does, `placed_at` is unknown and the
/// order counts for nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(default)]
    pub placed_at: Option<Timestamp>,
    /// The time of the order report that gave `total`, `products`, `checkout_id`.
    #[serde(default)]
    pub reported_at: Option<Timestamp>,
    #[serde(default)]
    pub total: f64,
    /// Refund amounts by refund id (newest report wins).
    #[serde(default)]
    pub refunded: BTreeMap<String, Stamped<f64>>,
    #[serde(default)]
    pub cancelled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    #[serde(default)]
    pub products: Vec<String>,
}

/// A profile's orders as predictions read them (see
/// [`Profile::order_history`]).
pub fn order_history_of(
    orders: &BTreeMap<String, OrderRecord>,
) -> crate::predict::forecast::History {
    crate::predict::forecast::History::of(
        orders
            .values()
            .filter(|o| !o.cancelled && o.total > 0.0)
            .filter_map(|o| {
                let day = o.placed_at?.to_zoned(TimeZone::UTC).date();
                let refunded: f64 = o.refunded.values().map(|r| r.value).sum();
                Some((day, (o.total - refunded).max(0.0)))
            }),
    )
}

/// The parts of a stored customer state (its JSON) a refit reads, without
/// building the rest: (shop, profile id, order history).
pub fn order_history_of_state(
    json: &str,
) -> Result<(ShopId, ProfileId, crate::predict::forecast::History), serde_json::Error> {
    #[derive(Deserialize)]
    struct State {
        profile: Part,
    }
    #[derive(Deserialize)]
    struct Part {
        id: ProfileId,
        shop: ShopId,
        #[serde(default)]
        orders: BTreeMap<String, OrderRecord>,
    }
    let s: State = serde_json::from_str(json)?;
    Ok((
        s.profile.shop,
        s.profile.id,
        order_history_of(&s.profile.orders),
    ))
}

/// Metrics derived from the orders, kept current on every order event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub orders_count: u32,
    pub total_spent: f64,
    pub average_order_value: f64,
    pub first_order_at: Option<Timestamp>,
    pub last_order_at: Option<Timestamp>,
    /// Mean days between consecutive orders (none before the second order).
    pub average_days_between_orders: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Visitor,
    Subscriber,
    FirstTimeBuyer,
    RepeatBuyer,
    Vip,
    AtRisk,
    Dormant,
}

impl Stage {
    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::Visitor => "visitor",
            Stage::Subscriber => "subscriber",
            Stage::FirstTimeBuyer => "first_time_buyer",
            Stage::RepeatBuyer => "repeat_buyer",
            Stage::Vip => "vip",
            Stage::AtRisk => "at_risk",
            Stage::Dormant => "dormant",
        }
    }
}

/// What an applied event touched, so that only the segments that read those
/// parts are evaluated again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Identity, attributes, consent, tags, suppression or points.
    pub profile: bool,
    /// Orders and so the metrics.
    pub orders: bool,
    /// Last activity.
    pub activity: bool,
}

impl Changes {
    pub fn any(&self) -> bool {
        self.profile || self.orders || self.activity
    }
    pub fn merge(&mut self, o: Changes) {
        self.profile |= o.profile;
        self.orders |= o.orders;
        self.activity |= o.activity;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: ProfileId,
    pub shop: ShopId,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub email: Option<Stamped<Email>>,
    #[serde(default)]
    pub phone: Option<Stamped<Phone>>,
    #[serde(default)]
    pub anonymous_ids: BTreeSet<String>,
    /// Standard fields (`first_name`, `last_name`, `locale`, `timezone`,
    /// `country`, `province`, `birthday`) and custom attributes.
    #[serde(default)]
    pub fields: BTreeMap<String, Stamped<Value>>,
    #[serde(default)]
    pub consent: BTreeMap<Channel, Stamped<ConsentStatus>>,
    /// Channels where sending is refused for good (hard bounce, complaint).
    #[serde(default)]
    pub suppressed: BTreeMap<Channel, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, Stamped<bool>>,
    #[serde(default)]
    pub orders: BTreeMap<String, OrderRecord>,
    /// Point grants by key (an order, a flow step), so a grant counts once.
    #[serde(default)]
    pub points: BTreeMap<String, i64>,
    #[serde(default)]
    pub metrics: Metrics,
    pub created_at: Timestamp,
    pub last_activity_at: Timestamp,
}

pub const STANDARD_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "country",
    "province",
    "birthday",
];

impl Profile {
    pub fn new(id: ProfileId, shop: ShopId, at: Timestamp) -> Self {
        Profile {
            id,
            shop,
            customer_id: None,
            email: None,
            phone: None,
            anonymous_ids: BTreeSet::new(),
            fields: BTreeMap::new(),
            consent: BTreeMap::new(),
            suppressed: BTreeMap::new(),
            tags: BTreeMap::new(),
            orders: BTreeMap::new(),
            points: BTreeMap::new(),
            metrics: Metrics::default(),
            created_at: at,
            last_activity_at: at,
        }
    }

    /// Where a message on `ch` reaches this customer (none for channels
    /// that do not go to the customer).
    pub fn address(&self, ch: Channel) -> Option<String> {
        use crate::model::channel::Address;
        match ch.spec().address {
            Address::Email => self.email().map(|e| e.to_string()),
            Address::Phone => self.phone().map(|p| p.to_string()),
            Address::Url | Address::Merchant => None,
        }
    }

    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref().map(|s| &s.value)
    }
    pub fn phone(&self) -> Option<&Phone> {
        self.phone.as_ref().map(|s| &s.value)
    }
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .get(name)
            .map(|s| &s.value)
            .filter(|v| !v.is_null())
    }
    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(|v| v.as_str())
    }
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.get(tag).map(|s| s.value).unwrap_or(false)
    }
    pub fn tag_list(&self) -> Vec<&str> {
        self.tags
            .iter()
            .filter(|(_, s)| s.value)
            .map(|(k, _)| k.as_str())
            .collect()
    }
    pub fn consent(&self, ch: Channel) -> Option<ConsentStatus> {
        self.consent.get(&ch).map(|s| s.value)
    }
    pub fn subscribed(&self, ch: Channel) -> bool {
        self.consent(ch) == Some(ConsentStatus::Subscribed)
    }
    pub fn total_points(&self) -> i64 {
        self.points.values().sum()
    }
    /// The label shown in traces: the email when known, else the id.
    pub fn label(&self) -> String {
        self.email()
            .map(|e| e.to_string())
            .unwrap_or_else(|| self.id.to_string())
    }

    /// The customer's zone: their own, else their country's (and
    /// province's), else the store's.
    pub fn time_zone(&self, settings: &Settings) -> TimeZone {
        let own = self
            .field_str("timezone")
            .and_then(|z| TimeZone::get(z).ok());
        own.or_else(|| {
            let country = self.field_str("country")?;
            let zone = crate::model::geo::zone_for(country, self.field_str("province"))?;
            TimeZone::get(zone).ok()
        })
        .or_else(|| settings.store.zone().cloned())
        .unwrap_or(TimeZone::UTC)
    }

    pub fn locale<'a>(&'a self, settings: &'a Settings) -> &'a str {
        self.field_str("locale").unwrap_or(&settings.store.locale)
    }

    /// Applies what an event says about the customer (history and flows are
    /// handled elsewhere). Idempotent and order-independent.
    pub fn apply(&mut self, e: &Event, settings: &Settings) -> Changes {
        let at = e.occurred_at;
        let mut ch = Changes::default();
        if at > self.last_activity_at {
            self.last_activity_at = at;
            ch.activity = true;
        }
        if at < self.created_at {
            self.created_at = at;
            ch.activity = true;
        }
        ch.profile |= self.apply_identity(e);
        match &e.kind {
            EventKind::CustomerCreated(p) | EventKind::CustomerUpdated(p) => {
                let mut set = |k: &str, v: &Option<String>| {
                    if let Some(v) = v {
                        ch.profile |= lww_map(&mut self.fields, k.to_string(), json!(v), at);
                    }
                };
                set("first_name", &p.first_name);
                set("last_name", &p.last_name);
                set("locale", &p.locale);
                set("timezone", &p.timezone);
                set(
                    "country",
                    &p.country.as_ref().map(|c| c.to_ascii_uppercase()),
                );
                set("province", &p.province);
                set("birthday", &p.birthday);
                for (k, v) in &p.attributes {
                    ch.profile |= lww_map(&mut self.fields, k.clone(), v.clone(), at);
                }
                for t in &p.tags {
                    ch.profile |= lww_map(&mut self.tags, t.clone(), true, at);
                }
            }
            EventKind::ConsentChanged(c) => {
                ch.profile |= lww_map(&mut self.consent, c.channel, c.status, at);
            }
            EventKind::OrderPlaced(o) | EventKind::OrderPaid(o) => {
                let rec = self.orders.entry(o.order_id.clone()).or_default();
                let before = rec.clone();
                // Placed at the earliest report of the order; total, lines
                // and checkout from the newest report (ties: the larger
                // total), so the arrival order never matters.
                rec.placed_at = Some(rec.placed_at.map_or(at, |p| p.min(at)));
                let newer = match rec.reported_at {
                    None => true,
                    Some(r) if at > r => true,
                    Some(r) if at == r => o.total > rec.total,
                    _ => false,
                };
                if newer {
                    rec.reported_at = Some(at);
                    rec.total = o.total;
                    rec.checkout_id = o.checkout_id.clone();
                    let mut products: Vec<String> =
                        o.line_items.iter().map(|l| l.product_id.clone()).collect();
                    products.sort();
                    products.dedup();
                    rec.products = products;
                }
                ch.orders |= *rec != before;
            }
            EventKind::OrderCancelled(c) => {
                let rec = self.orders.entry(c.order_id.clone()).or_default();
                ch.orders |= !rec.cancelled;
                rec.cancelled = true;
            }
            EventKind::Refunded(r) => {
                let key = r.refund_id.clone().unwrap_or_else(|| e.id.to_string());
                let rec = self.orders.entry(r.order_id.clone()).or_default();
                ch.orders |= lww_map(&mut rec.refunded, key, r.amount, at);
            }
            _ => {}
        }
        if ch.orders {
            self.recompute_metrics(settings);
            ch.profile = true; // points and tier follow the orders
        }
        ch
    }

    fn apply_identity(&mut self, e: &Event) -> bool {
        let id = &e.customer;
        let at = e.occurred_at;
        let mut changed = false;
        if let Some(cid) = &id.id {
            if self.customer_id.as_ref() != Some(cid) && self.customer_id.is_none() {
                self.customer_id = Some(cid.clone());
                changed = true;
            }
        }
        // The address already kept (the usual case) is normalized: it needs
        // no parsing again.
        let em = match (id.email.as_deref(), self.email()) {
            (Some(s), Some(cur)) if s == cur.as_str() => Some(cur.clone()),
            (s, _) => s.and_then(|s| Email::parse(s).ok()),
        };
        if let Some(em) = em {
            changed |= lww(&mut self.email, em, at);
        }
        if let Some(ph) = id.phone.as_deref() {
            if let Ok(ph) = Phone::parse(ph, self.field_str("country")) {
                changed |= lww(&mut self.phone, ph, at);
            }
        }
        if let Some(a) = &id.anonymous_id {
            changed |= self.anonymous_ids.insert(a.clone());
        }
        changed
    }

    /// Recomputes metrics, order points and nothing else from the orders.
    /// The orders as predictions read them: each live order's UTC day and
    /// its amount net of refunds (as the results' order facts give them).
    pub fn order_history(&self) -> crate::predict::forecast::History {
        order_history_of(&self.orders)
    }

    pub fn recompute_metrics(&mut self, settings: &Settings) {
        let live: Vec<&OrderRecord> = self
            .orders
            .values()
            .filter(|o| !o.cancelled && o.total > 0.0)
            .collect();
        let n = live.len() as u32;
        let spent: f64 = live
            .iter()
            .map(|o| o.total - o.refunded.values().map(|r| r.value).sum::<f64>())
            .sum();
        // An empty float sum is -0.0, and max(-0.0, 0.0) may keep it: `+ 0.0`
        // makes it 0.0, so no profile or template ever shows "-0".
        let spent = (spent.max(0.0) * 100.0).round() / 100.0 + 0.0;
        let mut times: Vec<Timestamp> = live.iter().filter_map(|o| o.placed_at).collect();
        times.sort();
        let avg_gap = if times.len() >= 2 {
            let span = times[times.len() - 1]
                .duration_since(times[0])
                .as_secs_f64()
                / 86_400.0;
            Some((span / (times.len() - 1) as f64 * 100.0).round() / 100.0)
        } else {
            None
        };
        self.metrics = Metrics {
            orders_count: n,
            total_spent: spent,
            average_order_value: if n > 0 {
                ((spent / n as f64) * 100.0).round() / 100.0
            } else {
                0.0
            },
            first_order_at: times.first().copied(),
            last_order_at: times.last().copied(),
            average_days_between_orders: avg_gap,
        };
        if settings.loyalty.points_per_unit > 0.0 {
            let ppu = settings.loyalty.points_per_unit;
            for (id, o) in &self.orders {
                let key = format!("order:{id}");
                let pts = if o.cancelled || o.placed_at.is_none() {
                    0
                } else {
                    ((o.total - o.refunded.values().map(|r| r.value).sum::<f64>()).max(0.0) * ppu)
                        .floor() as i64
                };
                self.points.insert(key, pts);
            }
        }
    }

    /// Sets a tag or field from a flow step (stamped with the step's time).
    pub fn set_tag(&mut self, tag: &str, on: bool, at: Timestamp) -> bool {
        lww_map(&mut self.tags, tag.to_string(), on, at)
    }
    pub fn set_field(&mut self, k: &str, v: Value, at: Timestamp) -> bool {
        lww_map(&mut self.fields, k.to_string(), v, at)
    }
    pub fn grant_points(&mut self, key: String, points: i64) -> bool {
        self.points.insert(key, points) != Some(points)
    }

    /// The loyalty tier reached (the highest configured tier whose
    /// thresholds are met).
    pub fn tier<'a>(&self, settings: &'a Settings) -> Option<&'a str> {
        let pts = self.total_points();
        let mut best: Option<(&'a str, f64, i64)> = None;
        for t in &settings.loyalty.tiers {
            let spent_ok = t
                .min_spent
                .map(|m| self.metrics.total_spent >= m)
                .unwrap_or(true);
            let pts_ok = t.min_points.map(|m| pts >= m).unwrap_or(true);
            if spent_ok && pts_ok {
                let rank = (t.min_spent.unwrap_or(0.0), t.min_points.unwrap_or(0));
                if best.map(|b| (b.1, b.2) < rank).unwrap_or(true) {
                    best = Some((&t.name, rank.0, rank.1));
                }
            }
        }
        best.map(|b| b.0)
    }

    /// Merges another profile of the same person into this one (anonymous
    /// browsing that later identified). Stamped fields keep the newest value.
    pub fn absorb(&mut self, other: Profile, settings: &Settings) {
        if self.customer_id.is_none() {
            self.customer_id = other.customer_id;
        }
        if let Some(e) = other.email {
            lww(&mut self.email, e.value, e.at);
        }
        if let Some(p) = other.phone {
            lww(&mut self.phone, p.value, p.at);
        }
        self.anonymous_ids.extend(other.anonymous_ids);
        for (k, v) in other.fields {
            lww_map(&mut self.fields, k, v.value, v.at);
        }
        for (k, v) in other.consent {
            lww_map(&mut self.consent, k, v.value, v.at);
        }
        for (k, v) in other.tags {
            lww_map(&mut self.tags, k, v.value, v.at);
        }
        self.suppressed.extend(other.suppressed);
        for (k, o) in other.orders {
            let mine = self.orders.entry(k).or_default();
            mine.placed_at = match (mine.placed_at, o.placed_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if o.reported_at > mine.reported_at {
                mine.reported_at = o.reported_at;
                mine.total = o.total;
                mine.checkout_id = o.checkout_id;
                mine.products = o.products;
            }
            mine.cancelled |= o.cancelled;
            for (k, r) in o.refunded {
                lww_map(&mut mine.refunded, k, r.value, r.at);
            }
        }
        self.points.extend(other.points);
        self.created_at = self.created_at.min(other.created_at);
        self.last_activity_at = self.last_activity_at.max(other.last_activity_at);
        self.recompute_metrics(settings);
    }

    /// The lifecycle stage at `now`, and the next instant it can change
    /// with no new event (at-risk and dormant thresholds, local days).
    pub fn stage(&self, now: Timestamp, tz: &TimeZone, s: &Settings) -> (Stage, Option<Timestamp>) {
        let m = &self.metrics;
        let Some(last) = m.last_order_at else {
            let sub = Channel::customer_channels().any(|c| self.subscribed(c));
            return (
                if sub {
                    Stage::Subscriber
                } else {
                    Stage::Visitor
                },
                None,
            );
        };
        let l = &s.lifecycle;
        let stage_at = |d: i64| {
            if d >= l.dormant_days {
                Stage::Dormant
            } else if d >= l.at_risk_days {
                Stage::AtRisk
            } else if m.total_spent >= l.vip_spent {
                Stage::Vip
            } else if m.orders_count >= 2 {
                Stage::RepeatBuyer
            } else {
                Stage::FirstTimeBuyer
            }
        };
        let (d, next) = days_edge(last, now, tz, &[l.at_risk_days, l.dormant_days], |d| {
            stage_at(d)
        });
        (stage_at(d), next)
    }

    /// Recency, frequency and monetary scores (1–5; recency 0 with no order),
    /// and when recency next changes.
    pub fn rfm(&self, now: Timestamp, tz: &TimeZone, s: &Settings) -> ([u8; 3], Option<Timestamp>) {
        let score_up =
            |v: f64, bounds: &[f64]| 1 + bounds.iter().filter(|b| v >= **b).count().min(4) as u8;
        let f = score_up(self.metrics.orders_count as f64, &s.rfm.frequency_orders);
        let m = score_up(self.metrics.total_spent, &s.rfm.monetary_spent);
        let Some(last) = self.metrics.last_order_at else {
            return ([0, f, m], None);
        };
        let rec = |d: i64| recency_score(d, s);
        let (d, next) = days_edge(last, now, tz, &s.rfm.recency_days, rec);
        ([rec(d), f, m], next)
    }

    /// The profile as templates and property conditions see it.
    pub fn to_json(&self, now: Timestamp, settings: &Settings) -> Value {
        self.to_json_keys(now, settings, None)
    }

    /// As [`Profile::to_json`], with only the top-level `keys` when given:
    /// a template that reads `profile.first_name` needs neither the
    /// lifecycle stage nor RFM scores, each a few time zone conversions.
    pub fn to_json_keys(
        &self,
        now: Timestamp,
        settings: &Settings,
        keys: Option<&std::collections::BTreeSet<String>>,
    ) -> Value {
        let want = |k: &str| keys.is_none_or(|ks| ks.contains(k));
        let tz = || self.time_zone(settings);
        let mut o = Map::new();
        if want("id") {
            o.insert("id".into(), json!(self.id));
        }
        if let Some(e) = self.email().filter(|_| want("email")) {
            o.insert("email".into(), json!(e));
        }
        if let Some(p) = self.phone().filter(|_| want("phone")) {
            o.insert("phone".into(), json!(p));
        }
        if let Some(c) = self.customer_id.as_ref().filter(|_| want("customer_id")) {
            o.insert("customer_id".into(), json!(c));
        }
        let mut attrs = Map::new();
        for (k, v) in &self.fields {
            if v.value.is_null() {
                continue;
            }
            if STANDARD_FIELDS.contains(&k.as_str()) {
                if want(k) {
                    o.insert(k.clone(), v.value.clone());
                }
            } else if want("attributes") {
                attrs.insert(k.clone(), v.value.clone());
            }
        }
        if want("attributes") {
            o.insert("attributes".into(), Value::Object(attrs));
        }
        if want("timezone") {
            o.insert("timezone".into(), json!(tz().iana_name().unwrap_or("UTC")));
        }
        if want("locale") {
            o.insert("locale".into(), json!(self.locale(settings)));
        }
        if want("tags") {
            o.insert("tags".into(), json!(self.tag_list()));
        }
        if want("orders_count") {
            o.insert("orders_count".into(), json!(self.metrics.orders_count));
        }
        if want("total_spent") {
            o.insert("total_spent".into(), json!(self.metrics.total_spent));
        }
        if want("average_order_value") {
            o.insert(
                "average_order_value".into(),
                json!(self.metrics.average_order_value),
            );
        }
        if let Some(t) = self.metrics.last_order_at.filter(|_| want("last_order_at")) {
            o.insert("last_order_at".into(), json!(t));
        }
        if let Some(t) = self
            .metrics
            .first_order_at
            .filter(|_| want("first_order_at"))
        {
            o.insert("first_order_at".into(), json!(t));
        }
        if want("lifecycle_stage") {
            let (stage, _) = self.stage(now, &tz(), settings);
            o.insert("lifecycle_stage".into(), json!(stage.as_str()));
        }
        if want("rfm") {
            let (rfm, _) = self.rfm(now, &tz(), settings);
            o.insert(
                "rfm".into(),
                json!({"recency": rfm[0], "frequency": rfm[1], "monetary": rfm[2]}),
            );
        }
        if want("points") {
            o.insert("points".into(), json!(self.total_points()));
        }
        if let Some(t) = self.tier(settings).filter(|_| want("tier")) {
            o.insert("tier".into(), json!(t));
        }
        if want("consent") {
            let consent: Map<String, Value> = self
                .consent
                .iter()
                .map(|(c, s)| (c.as_str().to_string(), json!(s.value)))
                .collect();
            o.insert("consent".into(), Value::Object(consent));
        }
        Value::Object(o)
    }
}

/// The RFM recency score (5 best … 1) after `days` without an order.
pub fn recency_score(days: i64, s: &Settings) -> u8 {
    5u8.saturating_sub(
        s.rfm
            .recency_days
            .iter()
            .filter(|b| days >= **b)
            .count()
            .min(4) as u8,
    )
}

/// Local calendar days from `base` to `now` in `tz`.
pub fn days_between(base: Timestamp, now: Timestamp, tz: &TimeZone) -> i64 {
    let a = base.to_zoned(tz.clone()).date();
    let b = now.to_zoned(tz.clone()).date();
    date_diff_days(a, b)
}

pub fn date_diff_days(a: Date, b: Date) -> i64 {
    // Civil days are 24 hours: the exact duration, without a `Span`.
    b.duration_since(a).as_secs() / 86_400
}

/// The start (local midnight) of the day `k` days after `base`'s local date.
pub fn day_start(base: Timestamp, k: i64, tz: &TimeZone) -> Option<Timestamp> {
    let date = base
        .to_zoned(tz.clone())
        .date()
        .checked_add(jiff::Span::new().days(k))
        .ok()?;
    date.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// For a function of "local days since `base`" that can only change at the
/// given day counts, returns today's day count and the first instant after
/// `now` at which the function's value differs from today's.
pub fn days_edge<T: PartialEq>(
    base: Timestamp,
    now: Timestamp,
    tz: &TimeZone,
    edges: &[i64],
    f: impl Fn(i64) -> T,
) -> (i64, Option<Timestamp>) {
    days_edge_in(&LocalDates::default(), base, now, tz, edges, f)
}

/// As [`days_edge`], with local dates remembered in `dates` (one zone).
pub fn days_edge_in<T: PartialEq>(
    dates: &LocalDates,
    base: Timestamp,
    now: Timestamp,
    tz: &TimeZone,
    edges: &[i64],
    f: impl Fn(i64) -> T,
) -> (i64, Option<Timestamp>) {
    let start = dates.date(base, tz);
    let d = date_diff_days(start, dates.date(now, tz));
    let cur = f(d);
    // The first day count past today where the value differs: the least
    // such edge (edges come in any order), found without sorting a copy.
    let k = edges
        .iter()
        .copied()
        .filter(|&k| k > d && f(k) != cur)
        .min();
    let next = k.and_then(|k| dates.midnight_after(start, k, now, tz));
    (d, next)
}

/// Local dates of instants in one zone, remembered for one evaluation
/// pass: its segments test "days since" the same few instants (the last
/// order, now) against different thresholds, and converting an instant to
/// the customer's zone costs more than the test.
#[derive(Debug, Default)]
pub struct LocalDates {
    dates: std::cell::RefCell<Vec<(Timestamp, Date)>>,
    /// The zone's offset at the pass's `now` and the stretch it holds over
    /// (see [`LocalDates::midnight_after`]), found on first use.
    offset: std::cell::Cell<Option<OffsetSpan>>,
}

/// A zone's offset (seconds) and the instants (seconds) between which it
/// holds: from its last transition at or before a given instant to its next.
#[derive(Debug, Clone, Copy)]
struct OffsetSpan {
    from: i64,
    until: i64,
    offset: i64,
}

/// How far from a transition a local midnight must be for the zone's offset
/// at that instant to be the only one it can have. Offsets change by a few
/// hours at most between neighbouring rules; two days leaves room.
const TRANSITION_MARGIN: i64 = 2 * 86_400;

impl LocalDates {
    pub fn date(&self, t: Timestamp, tz: &TimeZone) -> Date {
        if let Some(&(_, d)) = self.dates.borrow().iter().find(|(x, _)| *x == t) {
            return d;
        }
        let d = tz.to_datetime(t).date();
        self.dates.borrow_mut().push((t, d));
        d
    }

    /// The instant local midnight starts the day `k` days after `start`, in
    /// `tz` (a pass's "days since" edges: one per segment, on dates near
    /// `now`). Most such midnights fall well inside the stretch of one
    /// offset, where the instant is plain arithmetic; one near a transition
    /// (a gap or a repeated hour) goes through the zone's rules.
    pub fn midnight_after(
        &self,
        start: Date,
        k: i64,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Option<Timestamp> {
        let span = match self.offset.get() {
            Some(s) => s,
            None => {
                let s = offset_span(now, tz);
                self.offset.set(Some(s));
                s
            }
        };
        const EPOCH: Date = Date::constant(1970, 1, 1);
        let civil = start
            .duration_since(EPOCH)
            .as_secs()
            .checked_add(k.checked_mul(86_400)?)?;
        let t = civil - span.offset;
        if span.from.saturating_add(TRANSITION_MARGIN) <= t
            && t.saturating_add(TRANSITION_MARGIN) < span.until
        {
            return Timestamp::from_second(t).ok();
        }
        let date = start.checked_add(jiff::Span::new().days(k)).ok()?;
        tz.to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok()
    }
}

fn offset_span(now: Timestamp, tz: &TimeZone) -> OffsetSpan {
    // `preceding` gives transitions strictly before its argument: one just
    // after `now` includes a transition at `now` itself.
    let after_now = now
        .checked_add(jiff::SignedDuration::from_nanos(1))
        .unwrap_or(now);
    OffsetSpan {
        from: tz
            .preceding(after_now)
            .next()
            .map_or(i64::MIN, |t| t.timestamp().as_second()),
        until: tz
            .following(now)
            .next()
            .map_or(i64::MAX, |t| t.timestamp().as_second()),
        offset: i64::from(tz.to_offset(now).seconds()),
    }
}

#[cfg(test)]
mod local_dates_tests {
    use super::*;

    /// Local midnights found by arithmetic are those the zone's rules give,
    /// across DST changes, half-hour rules, midnight transitions and a
    /// skipped day.
    #[test]
    fn midnights_match_the_zone_rules_near_and_far_from_transitions() {
        let zones = [
            "Europe/Paris",
            "America/New_York",
            "Australia/Lord_Howe",
            "America/Santiago",
            "America/Havana",
            "Pacific/Apia",
            "Asia/Kolkata",
            "UTC",
        ];
        let first: Timestamp = "2011-06-01T00:00:00Z".parse().unwrap();
        for name in zones {
            let tz = TimeZone::get(name).unwrap();
            // Every ninth day for fifteen years, each at another hour.
            for step in 0..610i64 {
                let now = first + jiff::SignedDuration::from_hours(step * (9 * 24 + 7));
                let dates = LocalDates::default();
                let start = dates.date(now, &tz);
                for k in [1, 2, 3, 7, 30, 61, 90, 200, 400] {
                    let want = start
                        .checked_add(jiff::Span::new().days(k))
                        .ok()
                        .and_then(|d| {
                            tz.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                                .ok()
                        });
                    assert_eq!(
                        dates.midnight_after(start, k, now, &tz),
                        want,
                        "{name}: {k} days after {start} (now {now})"
                    );
                }
            }
        }
    }
}
