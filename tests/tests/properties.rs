//! Properties that must hold for every history, not just the examples:
//!
//! - incremental segment evaluation (per event, per wake-up) equals
//!   evaluation from scratch over the full history;
//! - no membership changes strictly between now and the reported next
//!   instant;
//! - the profile does not depend on the order or repetition of events;
//! - replaying deliveries never sends a message twice.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use storeflow_app::simulate::Simulator;
use storeflow_core::{Config, CustomerState, Engine, Event, Input, Kind, Source};
use storeflow_tests::*;

const STORE: &str = r#"
store: { name: Test, url: https://t.example.com, timezone: America/New_York }
lifecycle: { vip_spent: 300, at_risk_days: 20, dormant_days: 45 }
rfm: { recency_days: [7, 14, 30, 60] }
"#;

/// Segments that exercise every kind of time edge: sliding windows of each
/// count form, local-day thresholds, lifecycle and RFM edges, references.
const SEGMENTS: &[(&str, &str)] = &[
    ("viewed_twice_3d", "condition: { event: product_viewed, at_least: 2, within: 3d }"),
    ("viewed_a_at_most_1_2d", "condition: { event: product_viewed, at_most: 1, within: 2d, where: [{ path: product_id, eq: a }] }"),
    ("carted_exactly_2_5d", "condition: { event: added_to_cart, exactly: 2, within: 5d }"),
    ("cart_no_order_4d", "condition: { all: [ { event: added_to_cart, within: 4d }, { not: { event: order_placed, within: 4d } } ] }"),
    ("lapsed_10", "condition: { metric: days_since_last_order, gte: 10 }"),
    ("days_since_order_5_to_8", "condition: { all: [ { metric: days_since_last_order, gt: 4 }, { metric: days_since_last_order, lte: 8 } ] }"),
    ("days_since_order_is_3", "condition: { metric: days_since_last_order, eq: 3 }"),
    ("quiet_week", "condition: { metric: days_since_last_activity, gte: 7 }"),
    ("new_profile", "condition: { metric: days_since_created, lt: 2 }"),
    ("big_spender", "condition: { metric: total_spent, gte: 300 }"),
    ("at_risk", "condition: { lifecycle: [at_risk, dormant] }"),
    ("recent_buyer", "condition: { metric: rfm_recency, gte: 4 }"),
    ("subscribed", "condition: { consent: email }"),
    ("engaged_subscriber", "condition: { all: [ { segment: subscribed }, { any: [ { segment: viewed_twice_3d }, { segment: carted_exactly_2_5d } ] } ] }"),
    ("not_lapsed_buyer", "condition: { all: [ { metric: orders_count, gte: 1 }, { not: { segment: lapsed_10 } } ] }"),
];

fn property_config() -> Config {
    let mut sources = vec![Source {
        path: "store.yaml".into(),
        text: STORE.into(),
    }];
    for (id, body) in SEGMENTS {
        sources.push(Source {
            path: format!("segments/{id}.yaml"),
            text: format!("id: {id}\n{body}\n"),
        });
    }
    Config::from_sources(sources, b"k".to_vec()).unwrap_or_else(|e| panic!("{e}"))
}

const COUNTRIES: [&str; 5] = ["US", "FR", "JP", "AU", "BR"];
const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

#[derive(Debug, Clone)]
struct Gen {
    kind: u8,
    occurred_min: i64,
    delay_min: i64,
    pick: u8,
    amount: u16,
    dup: bool,
}

fn gen_event() -> impl Strategy<Value = Gen> {
    // Minutes over ~120 days; arrival up to 3 days late.
    (
        0u8..8,
        0i64..(120 * 1440),
        prop_oneof![Just(0i64), 0i64..(3 * 1440)],
        any::<u8>(),
        1u16..400,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(kind, occurred_min, delay_min, pick, amount, dup)| Gen {
            kind,
            occurred_min,
            delay_min,
            pick,
            amount,
            dup,
        })
}

fn at_min(m: i64) -> Timestamp {
    Timestamp::from_second(T0 + m * 60).unwrap()
}

fn to_event(i: usize, g: &Gen) -> (Timestamp, Event) {
    let (kind, props): (&str, Value) = match g.kind {
        0 | 1 => (
            "product_viewed",
            json!({"product_id": if g.pick % 2 == 0 { "a" } else { "b" }, "title": "P"}),
        ),
        2 => (
            "added_to_cart",
            json!({"line_items": [{"product_id": "a", "price": 10.0}]}),
        ),
        3 => (
            "order_placed",
            json!({"order_id": format!("o{}", g.pick % 6), "total": g.amount as f64, "line_items": []}),
        ),
        4 => (
            "order_cancelled",
            json!({"order_id": format!("o{}", g.pick % 6)}),
        ),
        5 => (
            "consent_changed",
            json!({"channel": "email", "status": if g.pick % 3 == 0 { "unsubscribed" } else { "subscribed" }}),
        ),
        6 => (
            "customer_updated",
            json!({"country": COUNTRIES[g.pick as usize % 5]}),
        ),
        _ => (
            "refunded",
            json!({"order_id": format!("o{}", g.pick % 6), "refund_id": format!("r{}", g.pick % 3), "amount": (g.amount % 50) as f64}),
        ),
    };
    let occurred = at_min(g.occurred_min);
    let e: Event = serde_json::from_value(json!({"id": format!("e{i}"), "shop": "s", "type": kind,
        "occurred_at": occurred, "customer": {"email": "p@example.com"}, "properties": props}))
    .unwrap();
    (occurred + SignedDuration::from_mins(g.delay_min), e)
}

/// Inputs in arrival order: events (with duplicates re-delivered later) and
/// wake-ups at random instants.
fn arrivals(gens: &[Gen], wakes: &[i64]) -> Vec<(Timestamp, Option<Event>)> {
    let mut v: Vec<(Timestamp, Option<Event>)> = Vec::new();
    for (i, g) in gens.iter().enumerate() {
        let (arrive, e) = to_event(i, g);
        if g.dup {
            v.push((arrive + SignedDuration::from_hours(5), Some(e.clone())));
        }
        v.push((arrive, Some(e)));
    }
    for w in wakes {
        v.push((at_min(*w), None));
    }
    v.sort_by_key(|(t, e)| (*t, e.is_none()));
    v
}

/// The state rebuilt from scratch: every distinct event so far, applied in
/// time order to a new profile.
fn from_scratch(
    engine: &Engine,
    applied: &BTreeMap<String, Event>,
    now: Timestamp,
) -> CustomerState {
    let cfg = &engine.config;
    let mut events: Vec<&Event> = applied.values().collect();
    events.sort_by_key(|e| (e.occurred_at, e.id.to_string()));
    let first = events.first().map(|e| e.occurred_at).unwrap_or(now);
    let mut st = engine.new_state("p".parse_profile(), "s".parse_shop(), first);
    for e in events {
        st.profile.apply(e, &cfg.settings);
        st.history.record(e, now, &**cfg);
    }
    st
}

trait ParseIds {
    fn parse_profile(&self) -> storeflow_core::model::ids::ProfileId;
    fn parse_shop(&self) -> storeflow_core::model::ids::ShopId;
}
impl ParseIds for &str {
    fn parse_profile(&self) -> storeflow_core::model::ids::ProfileId {
        storeflow_core::model::ids::ProfileId::parse(*self).unwrap()
    }
    fn parse_shop(&self) -> storeflow_core::model::ids::ShopId {
        storeflow_core::model::ids::ShopId::parse(*self).unwrap()
    }
}

fn memberships(cfg: &Config, st: &CustomerState, now: Timestamp) -> BTreeMap<String, bool> {
    let tz = st.profile.time_zone(&cfg.settings);
    cfg.segments
        .evaluate_all(&st.profile, &st.history, &cfg.settings, &tz, now, None)
        .into_iter()
        .map(|(k, e)| (k, e.value))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn incremental_segments_equal_from_scratch_and_next_instant_is_sound(
        gens in prop::collection::vec(gen_event(), 1..40),
        wakes in prop::collection::vec(0i64..(130 * 1440), 0..25),
        probes in prop::collection::vec(0.0f64..1.0, 3),
    ) {
        let engine = Engine::new(property_config());
        let cfg = engine.config.clone();
        // A profile exists from its first event on.
        let inputs: Vec<_> = arrivals(&gens, &wakes).into_iter().skip_while(|(_, e)| e.is_none()).collect();
        let first = inputs[0].1.as_ref().unwrap().occurred_at.min(inputs[0].0);
        let mut st = engine.new_state("p".parse_profile(), "s".parse_shop(), first);
        let mut applied: BTreeMap<String, Event> = BTreeMap::new();
        let mut now = inputs[0].0;
        for (t, e) in inputs {
            now = now.max(t);
            // The runtime always honours the wake-up it was given: fire it
            // first if it falls before this input.
            while let Some(w) = st.wake.filter(|w| *w < now) {
                engine.handle(&mut st, Input::Wake, w);
            }
            match e {
                Some(e) => {
                    applied.insert(e.id.to_string(), e.clone());
                    engine.handle(&mut st, Input::Event(e), now);
                }
                None => {
                    engine.handle(&mut st, Input::Wake, now);
                }
            }
            let incremental: BTreeMap<String, bool> = st.segments.all().map(|(k, m)| (k.to_string(), m)).collect();
            let scratch_state = from_scratch(&engine, &applied, now);
            prop_assert_eq!(&scratch_state.profile.metrics, &st.profile.metrics);
            prop_assert_eq!(&scratch_state.profile.consent, &st.profile.consent);
            let scratch = memberships(&cfg, &scratch_state, now);
            prop_assert_eq!(&incremental, &scratch, "at {}", now);

            // Nothing changes strictly before the reported next instant.
            let horizon = st.segments.next.unwrap_or(now + SignedDuration::from_hours(24 * 200));
            let span = horizon.duration_since(now);
            for p in &probes {
                let probe = now + SignedDuration::from_secs_f64(span.as_secs_f64() * p);
                if probe >= horizon { continue; }
                let later = memberships(&cfg, &st, probe);
                prop_assert_eq!(&later, &incremental, "changed at {} before next {}", probe, horizon);
            }
            // And at the reported instant something may change; just after
            // an edge, the incremental state catches up through its wake.
        }
    }

    #[test]
    fn profiles_do_not_depend_on_event_order_or_repetition(
        gens in prop::collection::vec(gen_event(), 1..30),
        seed in any::<u64>(),
    ) {
        let cfg = property_config();
        let events: Vec<Event> = gens.iter().enumerate().map(|(i, g)| to_event(i, g).1).collect();
        let build = |order: &[Event]| {
            let first = order.iter().map(|e| e.occurred_at).min().unwrap();
            let mut p = storeflow_core::customer::profile::Profile::new("p".parse_profile(), "s".parse_shop(), first);
            for e in order {
                p.apply(e, &cfg.settings);
            }
            p
        };
        let a = build(&events);
        // A shuffled order with every event applied twice.
        let mut shuffled: Vec<Event> = events.iter().chain(events.iter()).cloned().collect();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let b = build(&shuffled);
        prop_assert_eq!(a, b);
    }
}

/// A random week of store activity for three customers on the starter pack.
fn starter_timeline(gens: &[(u8, u8, i64)]) -> Vec<(Timestamp, Event)> {
    let who = ["ann@example.com", "bob@example.com", "cy@example.com"];
    let mut out = Vec::new();
    let base = ts("2026-03-01T12:00:00Z");
    for (i, w) in who.iter().enumerate() {
        for (k, (kind, props)) in [
            (
                "customer_created",
                json!({"first_name": "X", "country": "US", "birthday": "03-03"}),
            ),
            (
                "consent_changed",
                json!({"channel": "email", "status": "subscribed"}),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let e: Event = serde_json::from_value(json!({"id": format!("setup-{i}-{k}"), "shop": "s", "type": kind,
                "occurred_at": base, "customer": {"email": w, "phone": "+12125550100"}, "properties": props})).unwrap();
            out.push((base, e));
        }
    }
    for (n, (kind, pick, minute)) in gens.iter().enumerate() {
        let t = base + SignedDuration::from_mins(*minute);
        let w = who[*pick as usize % 3];
        let ck = format!("ck-{}", pick % 4);
        let (kind, props) = match kind % 7 {
            0 => (
                "product_viewed",
                json!({"product_id": "p1", "title": "Shirt"}),
            ),
            1 => ("added_to_cart", json!({"line_items": line_items()})),
            2 => (
                "checkout_started",
                json!({"checkout_id": ck, "line_items": line_items(), "total": 102.0}),
            ),
            3 => (
                "order_placed",
                json!({"order_id": format!("o-{n}"), "checkout_id": ck, "line_items": [{"product_id": "coffee-beans-1kg", "title": "Beans", "price": 24.0}], "total": 240.0}),
            ),
            4 => (
                "shipment_updated",
                json!({"order_id": format!("o-{}", n.saturating_sub(1)), "status": "delivered"}),
            ),
            5 => (
                "consent_changed",
                json!({"channel": "sms", "status": "subscribed"}),
            ),
            _ => (
                "product_viewed",
                json!({"product_id": "p2", "title": "Tote"}),
            ),
        };
        let e: Event =
            serde_json::from_value(json!({"id": format!("r-{n}"), "shop": "s", "type": kind,
            "occurred_at": t, "customer": {"email": w}, "properties": props}))
            .unwrap();
        out.push((t, e));
    }
    out
}

fn simulate(inputs: &[(Timestamp, Event)], until: Timestamp) -> Vec<storeflow_core::Decision> {
    let mut v = inputs.to_vec();
    v.sort_by_key(|(t, e)| (*t, e.id.to_string()));
    let mut sim = Simulator::new(Engine::new(starter()));
    let mut out = Vec::new();
    for (t, e) in v {
        out.extend(sim.feed(t, e));
    }
    out.extend(sim.run_until(until));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn replaying_deliveries_never_sends_twice(
        gens in prop::collection::vec((0u8..7, any::<u8>(), 0i64..(7 * 1440)), 1..30),
        replay_delay in prop::collection::vec(0i64..(10 * 1440), 30),
    ) {
        let until = ts("2026-05-01T00:00:00Z");
        let once = starter_timeline(&gens);
        let first = simulate(&once, until);
        // Every delivery again, some minutes to ten days later.
        let mut twice = once.clone();
        for (i, (t, e)) in once.iter().enumerate() {
            twice.push((*t + SignedDuration::from_mins(replay_delay[i % replay_delay.len()] + 1), e.clone()));
        }
        let second = simulate(&twice, until);
        let msgs = |ds: &[storeflow_core::Decision]| -> Vec<(String, String, Timestamp)> {
            let mut v: Vec<_> = ds.iter().filter(|d| d.kind == Kind::Message)
                .map(|d| (d.message.as_ref().unwrap().id.clone(), d.profile.to_string(), d.at)).collect();
            v.sort();
            v
        };
        let (a, b) = (msgs(&first), msgs(&second));
        let mut ids: Vec<&String> = b.iter().map(|m| &m.0).collect();
        ids.dedup();
        prop_assert_eq!(ids.len(), b.len(), "a message id was sent twice");
        prop_assert_eq!(a, b);
    }
}
