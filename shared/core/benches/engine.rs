//! Engine throughput: apply an event and evaluate 100 segments and 30 flows
//! for its customer, with 1,000 and with 100,000 customers stored.
//!
//! `cargo bench -p storeflow-core --bench engine`
//!
//! The per-event cost must not grow with the number of stored customers:
//! the engine touches one customer's state per event, and segments that
//! the event cannot affect are not evaluated.

// The same allocator as the storeflow binaries.
#[global_allocator]
static GLOBAL: storeflow_alloc::MiMalloc = storeflow_alloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::{Config, CustomerState, Engine, Event, Input, Source};

fn bench_config() -> Config {
    let mut src = vec![Source {
        path: "store.yaml".into(),
        text: "store: { name: Bench, url: https://b.example.com, timezone: Europe/Paris }\nprofile_attributes: [plan]\n".into(),
    }];
    let nseg: usize = std::env::var("NSEG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for i in 0..nseg {
        let cond = match i % 5 {
            0 => format!("{{ event: product_viewed, at_least: {}, within: {}d, where: [{{ path: product_id, eq: p{} }}] }}", i % 3 + 1, i % 7 + 1, i % 20),
            1 => format!("{{ metric: total_spent, gte: {} }}", i * 10),
            2 => format!("{{ all: [ {{ consent: email }}, {{ metric: days_since_last_order, gte: {} }} ] }}", i % 90 + 1),
            3 => "{ all: [ { event: added_to_cart, within: 3d }, { not: { event: order_placed, within: 3d } } ] }".to_string(),
            _ => format!("{{ any: [ {{ property: country, eq: {} }}, {{ tag: t{} }} ] }}", ["US", "FR", "DE"][i % 3], i % 10),
        };
        src.push(Source {
            path: format!("segments/s{i}.yaml"),
            text: format!("id: s{i}\ncondition: {cond}\n"),
        });
    }
    let triggers = [
        "product_viewed",
        "added_to_cart",
        "checkout_started",
        "order_placed",
        "quiz_completed",
    ];
    // The default policy's classes below "transactional", in turn.
    let classes = storeflow_core::policy::PolicyConfig::default().priorities;
    let prios = &classes[1..];
    let nflow: usize = std::env::var("NFLOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    // Entry rules as a store sets them (see examples/starter): browse-type
    // flows once a week, cart flows one live run per customer, checkout and
    // order flows one run per checkout / order, custom-event flows once.
    // STRESS=1 makes every flow enter every time (no key): a worst case.
    let stress = std::env::var("STRESS").is_ok();
    for j in 0..nflow {
        let trig = triggers[j % triggers.len()];
        let (key, entry) = if stress {
            ("", "")
        } else {
            match trig {
                "product_viewed" => ("", "entry: { once_per: 7d }\n"),
                "added_to_cart" => ("", ""),
                "checkout_started" => ("\n  key: checkout_id", ""),
                "order_placed" => ("\n  key: order_id", ""),
                _ => ("", "entry: once_ever\n"),
            }
        };
        let text = format!(
            "id: f{j}\nversion: 1\npriority: {}\ntrigger:\n  event: {trig}{key}\n{entry}goals:\n  - event: order_placed\nsteps:\n  - wait: {}h\n  - send: {{ channel: email, template: bench }}\n",
            prios[j % prios.len()],
            j % 3 + 1
        );
        src.push(Source {
            path: format!("flows/f{j}.yaml"),
            text,
        });
    }
    src.push(Source {
        path: "templates/bench.yaml".into(),
        text: r#"id: bench
channel: email
locales:
  en:
    subject: "Hi {{ profile.first_name | default('there') }}"
    html: "<p>{{ event.type }} at {{ store.name }}</p>"
    text: "{{ store.name }}"
"#
        .into(),
    });
    Config::from_sources(src, b"bench".to_vec()).unwrap_or_else(|e| panic!("{e}"))
}

/// A deterministic stream of store events over `profiles` customers.
struct Stream {
    n: u64,
    profiles: u64,
    now: Timestamp,
    x: u64,
}

impl Stream {
    fn next(&mut self) -> (usize, Event) {
        self.n += 1;
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        // Every customer sees about 20 events a day, whatever their number:
        // the two sizes differ only in how many customers are stored.
        self.now += SignedDuration::from_micros((86_400_000_000 / (20 * self.profiles)) as i64);
        let who = (self.x % self.profiles) as usize;
        let r = (self.x >> 20) % 100;
        let (kind, props) = match r {
            0..=49 => (
                "product_viewed",
                json!({"product_id": format!("p{}", r % 20), "title": "P"}),
            ),
            50..=69 => (
                "added_to_cart",
                json!({"line_items": [{"product_id": "p1", "title": "Shirt", "price": 20.0}]}),
            ),
            70..=79 => (
                "checkout_started",
                json!({"checkout_id": format!("c{}", self.n % 50), "total": 40.0, "line_items": [{"product_id": "p1", "title": "Shirt", "price": 20.0}]}),
            ),
            80..=84 => (
                "order_placed",
                json!({"order_id": format!("o{}", self.n), "total": 40.0, "line_items": [{"product_id": "p1", "title": "Shirt", "price": 20.0}]}),
            ),
            85..=89 => (
                "consent_changed",
                json!({"channel": "email", "status": "subscribed"}),
            ),
            _ => ("quiz_completed", json!({"skin": "dry"})),
        };
        let e: Event = serde_json::from_value(json!({"id": format!("e{}", self.n), "shop": "s", "type": kind,
            "occurred_at": self.now, "customer": {"email": format!("c{who}@example.com")}, "properties": props}))
        .unwrap();
        (who, e)
    }
}

fn populated(engine: &Engine, profiles: u64) -> (Vec<CustomerState>, Stream) {
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut states: Vec<CustomerState> = (0..profiles)
        .map(|i| {
            engine.new_state(
                ProfileId::parse(format!("p{i}")).unwrap(),
                ShopId::parse("s").unwrap(),
                start,
            )
        })
        .collect();
    let mut stream = Stream {
        n: 0,
        profiles,
        now: start,
        x: 0x9E37_79B9_7F4A_7C15,
    };
    // A day of activity first (20 events per customer, for every size), so
    // that both sizes are measured on customers with the same kind of state:
    // history, live runs, memberships, contact log.
    // `WARM_DAYS=N` ages the customers further (criterion's 1,000-customer
    // case runs weeks of events per customer over its samples).
    let days: u64 = std::env::var("WARM_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for _ in 0..profiles * 20 * days {
        let (who, e) = stream.next();
        let now = e.occurred_at;
        engine.handle(&mut states[who], Input::Event(e), now);
    }
    (states, stream)
}

/// `LOAD_EVENTS=N`: run N events over 1,000 customers (after the usual
/// warm-up) and exit — for instruction counts under callgrind, which this
/// noisy machine cannot disturb (see BENCHMARKS.md).
fn load_mode(engine: &Engine) -> bool {
    let Some(n) = std::env::var("LOAD_EVENTS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return false;
    };
    let profiles = std::env::var("LOAD_PROFILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let (mut states, mut stream) = populated(engine, profiles);
    let events: Vec<(usize, Event)> = (0..n).map(|_| stream.next()).collect();
    if std::env::var("STATS").is_ok() {
        // What the measured events decide, by kind (not measured itself).
        let mut kinds = std::collections::BTreeMap::new();
        for (who, e) in events {
            let now = e.occurred_at;
            for d in engine
                .handle(&mut states[who], Input::Event(e), now)
                .decisions
            {
                *kinds.entry(format!("{:?}", d.kind)).or_insert(0u64) += 1;
            }
        }
        for (k, c) in kinds {
            println!("{k}: {:.2} per event", c as f64 / n as f64);
        }
        return true;
    }
    measured(engine, &mut states, events);
    true
}

/// The measured part of the load mode: callgrind counts only this
/// (`--toggle-collect=engine::measured`).
#[inline(never)]
fn measured(engine: &Engine, states: &mut [CustomerState], events: Vec<(usize, Event)>) {
    for (who, e) in events {
        let now = e.occurred_at;
        black_box(engine.handle(&mut states[who], Input::Event(e), now));
    }
}

fn engine_throughput(c: &mut Criterion) {
    storeflow_alloc::tune();
    let engine = Engine::new(bench_config());
    if load_mode(&engine) {
        return;
    }
    let mut g = c.benchmark_group("apply_event_100_segments_30_flows");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for profiles in [1_000u64, 100_000] {
        // Built on first use, so filtering one size does not build the other.
        let mut world: Option<(Vec<CustomerState>, Stream)> = None;
        g.bench_with_input(BenchmarkId::from_parameter(profiles), &profiles, |b, &n| {
            let (states, stream) = world.get_or_insert_with(|| populated(&engine, n));
            b.iter_custom(|iters| {
                // Events are made outside the timed loop: the bench measures the engine.
                let events: Vec<(usize, Event)> = (0..iters).map(|_| stream.next()).collect();
                let t = Instant::now();
                for (who, e) in events {
                    let now = e.occurred_at;
                    black_box(engine.handle(&mut states[who], Input::Event(e), now));
                }
                t.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
