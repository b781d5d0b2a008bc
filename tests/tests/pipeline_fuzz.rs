//! The whole pipeline under hostile input: every topic's real delivery
//! (the platform samples in `events/platform-week.jsonl` and the Shopify
//! fixtures in `../shared/fixtures/`), mutated — dates and numbers at their
//! limits, huge arrays, odd Unicode, missing and duplicated fields — and
//! signed as the platform signs it, goes through ingest → engine → policy →
//! render → outbox on the memory store, then the customer's timers run for
//! a week. Nothing may panic, and a valid sign-up delivered beside it still
//! gets its welcome email.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use storeflow_app::memory::Memory;
use storeflow_app::ports::Deliver;
use storeflow_app::App;
use storeflow_channels::OutboxDir;
use storeflow_core::{Engine, Kind};
use storeflow_ingest::{Accepted, DeliveryLine, MemoryStore, Source};
use storeflow_tests::*;

/// One delivery a platform sent: where it goes and what it says.
#[derive(Clone, Debug)]
struct Base {
    source: Source,
    topic: String,
    headers: Vec<(String, String)>,
    body: Value,
    arrival: Timestamp,
}

const FIXTURE_TOPICS: &[(&str, &str)] = &[
    ("customers/create", "customers_create.json"),
    ("customers/update", "customers_update.json"),
    (
        "customers_marketing_consent/update",
        "customers_marketing_consent_update.json",
    ),
    (
        "customers_email_marketing_consent/update",
        "customers_email_marketing_consent_update.json",
    ),
    ("checkouts/create", "checkouts_create.json"),
    ("checkouts/update", "checkouts_update.json"),
    ("carts/create", "carts_create.json"),
    ("carts/update", "carts_update.json"),
    ("orders/create", "orders_create.json"),
    ("orders/updated", "orders_updated.json"),
    ("orders/paid", "orders_paid.json"),
    ("orders/fulfilled", "orders_fulfilled.json"),
    (
        "orders/partially_fulfilled",
        "orders_partially_fulfilled.json",
    ),
    ("orders/cancelled", "orders_cancelled.json"),
    ("refunds/create", "refunds_create.json"),
    ("fulfillments/create", "fulfillments_create.json"),
    ("fulfillments/update", "fulfillments_update.json"),
    (
        "fulfillment_events/create",
        "fulfillment_events_create.json",
    ),
    ("inventory_levels/update", "inventory_levels_update.json"),
    ("products/update", "products_update.json"),
];

/// Every real delivery we have, once.
fn corpus() -> &'static [Base] {
    static C: OnceLock<Vec<Base>> = OnceLock::new();
    C.get_or_init(|| {
        let text = std::fs::read_to_string(repo_root().join("events/platform-week.jsonl")).unwrap();
        let mut out: Vec<Base> = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                let d: DeliveryLine = serde_json::from_str(l).unwrap();
                Base {
                    source: d.source,
                    topic: d.topic.unwrap_or_default(),
                    headers: d.headers.into_iter().collect(),
                    body: d.body,
                    arrival: d.at,
                }
            })
            .collect();
        for (topic, file) in FIXTURE_TOPICS {
            let Some(body) = fixture(&format!("shopify/{file}")) else {
                continue;
            };
            out.push(Base {
                source: Source::Shopify,
                topic: topic.to_string(),
                headers: vec![(
                    "X-Shopify-Shop-Domain".into(),
                    "northwind.myshopify.com".into(),
                )],
                body: serde_json::from_slice(&body).unwrap(),
                arrival: ts("2026-11-23T15:00:00Z"),
            });
        }
        for call in ["identify", "track", "page", "alias", "batch"] {
            let Some(body) = fixture(&format!("segment/{call}.json")) else {
                continue;
            };
            out.push(Base {
                source: Source::Segment,
                topic: call.into(),
                headers: vec![],
                body: serde_json::from_slice(&body).unwrap(),
                arrival: ts("2026-11-23T15:00:00Z"),
            });
        }
        out
    })
}

/// The request the platform would send with `body`, signed as it signs.
fn request(b: &Base, body: &[u8], webhook_id: &str) -> storeflow_ingest::Request {
    let mut headers: Vec<(String, String)> = b
        .headers
        .iter()
        .filter(|(k, _)| !k.to_ascii_lowercase().ends_with("webhook-id"))
        .cloned()
        .collect();
    headers.push(("Content-Type".into(), "application/json".into()));
    let (path, sig_header, secret) = match b.source {
        Source::Shopify => ("/webhooks/shopify".to_string(), "X-Shopify", SHOPIFY_SECRET),
        Source::Shopline => (
            "/webhooks/shopline".to_string(),
            "X-Shopline",
            SHOPLINE_SECRET,
        ),
        Source::Segment => {
            let mut r = tracking_request(&b.topic, &Value::Null, WRITE_KEY);
            r.body = body.to_vec();
            return r;
        }
    };
    headers.push((format!("{sig_header}-Topic"), b.topic.clone()));
    headers.push((format!("{sig_header}-Webhook-Id"), webhook_id.into()));
    headers.push((
        format!("{sig_header}-Hmac-Sha256"),
        storeflow_ingest::signature::sign_base64(secret.as_bytes(), body),
    ));
    storeflow_ingest::Request::post(&path, headers.into_iter().collect(), body.to_vec())
}

fn engine() -> Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(starter())).clone()
}

fn outbox() -> &'static OutboxDir {
    static O: OnceLock<(PathBuf, OutboxDir)> = OnceLock::new();
    &O.get_or_init(|| {
        let dir = temp_dir("pipeline-fuzz");
        (dir.clone(), OutboxDir::new(dir.join("outbox")))
    })
    .1
}

/// One store: ingest's memory store and the application on the memory
/// adapter, its outbox a folder of real files.
struct Pipe {
    ingest: MemoryStore,
    app: App<Memory>,
    router: storeflow_ingest::Router,
    /// Inputs applied and wake-ups run, for the closing count.
    applied: usize,
}

impl Pipe {
    fn new() -> Self {
        Pipe {
            ingest: MemoryStore::new(),
            app: App::new(engine(), Memory::new()),
            router: ingest_router(),
            applied: 0,
        }
    }

    /// Ingests one request and applies what was accepted; returns the
    /// status and the decisions.
    async fn deliver(
        &mut self,
        req: &storeflow_ingest::Request,
        at: Timestamp,
    ) -> (u16, Vec<storeflow_core::Decision>) {
        let h = self.router.handle(req, at, &mut self.ingest);
        let status = h.response.status;
        assert!(
            status == 200 || (400..500).contains(&status),
            "status {status} for {}",
            req.path
        );
        if status != 200 {
            let msg = h.response.body["error"].as_str().unwrap_or("");
            assert!(!msg.is_empty(), "a {status} without a message");
        }
        let mut decisions = Vec::new();
        for a in h.accepted {
            if let Accepted::Event(e) = a {
                let applied = self.app.event(e, at).await.expect("the memory store");
                self.send(&applied.messages).await;
                decisions.extend(applied.decisions);
                self.applied += 1;
            }
        }
        (status, decisions)
    }

    async fn send(&self, messages: &[storeflow_core::Message]) {
        for m in messages {
            outbox().deliver(m).await.expect("the outbox folder");
        }
    }

    /// Runs the wake-ups due up to `until`, earliest first, as a runtime's
    /// timer wheel does. A wake-up that keeps coming back at the same
    /// instant would be a runtime spinning: it fails the test.
    async fn run_timers(&mut self, until: Timestamp) {
        let mut last: Option<(Timestamp, usize)> = None;
        for _ in 0..2_000 {
            let customer = self.app.store.with(|i| {
                i.wakes
                    .iter()
                    .min_by_key(|(p, t)| (**t, (*p).clone()))
                    .map(|(p, t)| (*t, p.clone()))
            });
            let shop = self
                .app
                .store
                .with(|i| i.shop_wakes.iter().next().map(|(s, t)| (*t, s.clone())));
            let next = [customer.as_ref().map(|c| c.0), shop.as_ref().map(|s| s.0)]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|t| *t <= until) else {
                return;
            };
            last = match last {
                Some((t, n)) if t == next => {
                    assert!(n < 50, "a wake-up at {next} keeps coming back");
                    Some((t, n + 1))
                }
                _ => Some((next, 1)),
            };
            let applied = if customer.as_ref().is_some_and(|c| c.0 == next) {
                let (_, p) = customer.unwrap();
                self.app.store.with(|i| i.wakes.remove(&p));
                let shop = self
                    .app
                    .store
                    .with(|i| i.customers[&p].0.profile.shop.clone());
                self.app.wake(&shop, &p, next).await.expect("memory")
            } else {
                let (_, s) = shop.unwrap();
                self.app.store.with(|i| i.shop_wakes.remove(&s));
                self.app.shop_wake(&s, next).await.expect("memory")
            };
            self.send(&applied.messages).await;
            self.applied += 1;
        }
        panic!("timers did not settle within 2,000 wake-ups");
    }
}

/// A valid sign-up with email consent, at `at`: the customer must get the
/// welcome email whatever was delivered before.
async fn valid_signup_is_welcomed(p: &mut Pipe, at: Timestamp, who: &str) {
    let base = corpus()
        .iter()
        .find(|b| b.source == Source::Shopify && b.topic == "customers/create")
        .expect("a Shopify customers/create sample");
    // A customer of its own: no phone or address shared with the samples
    // (a shared one would merge the profiles).
    let when = at.to_string();
    let id = 900_000_000_000u64 + u64::from(storeflow_core::model::links::hash64(&[who]) as u32);
    let body = serde_json::json!({
        "id": id, "email": who, "first_name": "Val", "created_at": when, "updated_at": when,
        "state": "enabled", "verified_email": true,
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                    "consent_updated_at": when}});
    let bytes = serde_json::to_vec(&body).unwrap();
    let (status, decisions) = p
        .deliver(&request(base, &bytes, &format!("valid-{who}")), at)
        .await;
    assert_eq!(status, 200);
    let welcome = decisions
        .iter()
        .find(|d| {
            d.kind == Kind::Message && d.template() == Some("welcome_1") && &*d.profile == who
        })
        .unwrap_or_else(|| panic!("no welcome email for {who}: {decisions:#?}"));
    let m = welcome.message.as_ref().expect("the message");
    assert!(outbox().path_of(m).exists(), "not in the outbox");
}

// ---- mutations ----

const DATES: &[&str] = &[
    "9999-12-30T21:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "0001-01-01T00:00:00Z",
    "-009999-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2100-02-29T00:00:00+14:00",
    "2026-11-23T15:00:00-25:59",
    "2026-13-45T99:99:99Z",
    "",
];

fn extreme_number(i: usize, as_string: bool) -> Value {
    const N: &[&str] = &[
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "4294967296",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "5e-324",
        "-0",
        "0",
        "-1",
        "1e400",
        "123456789012345678901234567890",
    ];
    let s = N[i % N.len()];
    if as_string {
        Value::from(s)
    } else {
        // Numbers serde_json cannot hold as a number stay strings.
        serde_json::from_str(s).unwrap_or_else(|_| Value::from(s))
    }
}

fn odd_text(i: usize) -> Value {
    let long = "é".repeat(40_000);
    let list = [
        "\u{202E}gnp.exe",
        "🛒🛍️👩‍👩‍👧‍👦",
        "\u{0}\u{1}\u{7f}",
        "e\u{301}\u{301}\u{301}\u{301}\u{301}",
        "ﷺ﷽",
        "\u{FEFF}ann@example.com",
        "<script>alert(1)</script>",
        "{{ 7 * 7 }}{% for x in y %}",
        "\u{10FFFF}\u{E000}",
        long.as_str(),
        "   ",
        "Ω≈ç√∫˜µ≤≥÷",
    ];
    Value::from(list[i % list.len()])
}

/// Every (path, value) leaf and inner node of a document.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    out.push((at.clone(), v.clone()));
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            at.push(k.clone());
            paths(x, at, out);
            at.pop();
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
            at.push(i.to_string());
            paths(x, at, out);
            at.pop();
        }),
        _ => {}
    }
}

fn all_paths(v: &Value) -> Vec<(Vec<String>, Value)> {
    let mut out = Vec::new();
    paths(v, &mut Vec::new(), &mut out);
    out
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?),
        _ => None,
    })
}

fn looks_like_date(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() >= 10 && s.as_bytes()[4] == b'-' && s[..4].bytes().all(|b| b.is_ascii_digit())
    })
}

fn looks_like_number(v: &Value) -> bool {
    v.is_number()
        || v.as_str()
            .is_some_and(|s| !s.is_empty() && s.parse::<f64>().is_ok() && s.len() < 24)
}

/// One mutation of `doc`, chosen by `how`, at the `pick`-th fitting place.
/// Returns the document, and the key to write twice (a duplicated field:
/// a JSON text with one key twice, which `Value` cannot hold).
fn mutate(doc: &mut Value, how: u8, pick: usize, with: usize) -> Option<(Vec<String>, Value)> {
    let all = all_paths(doc);
    let choose = |f: &dyn Fn(&Value) -> bool| {
        let fits: Vec<&(Vec<String>, Value)> = all.iter().filter(|(_, v)| f(v)).collect();
        (!fits.is_empty()).then(|| fits[pick % fits.len()].clone())
    };
    match how % 7 {
        0 => {
            if let Some((p, _)) = choose(&looks_like_date) {
                *at_mut(doc, &p).unwrap() = Value::from(DATES[with % DATES.len()]);
            }
        }
        1 => {
            if let Some((p, v)) = choose(&looks_like_number) {
                *at_mut(doc, &p).unwrap() = extreme_number(with, v.is_string());
            }
        }
        2 => {
            // A huge array: its first element many times over.
            if let Some((p, v)) = choose(&|v| v.as_array().is_some_and(|a| !a.is_empty())) {
                let n = [200, 1_000, 5_000][with % 3];
                *at_mut(doc, &p).unwrap() = Value::Array(vec![v[0].clone(); n]);
            }
        }
        3 => {
            if let Some((p, _)) = choose(&Value::is_string) {
                *at_mut(doc, &p).unwrap() = odd_text(with);
            }
        }
        4 => {
            // A field missing.
            if let Some((p, _)) = choose(&|_| true) {
                if let Some((last, parent)) = p.split_last() {
                    match at_mut(doc, parent) {
                        Some(Value::Object(m)) => {
                            m.remove(last);
                        }
                        Some(Value::Array(a)) => {
                            a.remove(last.parse::<usize>().unwrap());
                        }
                        _ => {}
                    }
                }
            }
        }
        5 => {
            // A field of another type.
            if let Some((p, _)) = choose(&|_| true) {
                if !p.is_empty() {
                    *at_mut(doc, &p).unwrap() = match with % 6 {
                        0 => Value::Null,
                        1 => Value::from(true),
                        2 => serde_json::json!({}),
                        3 => serde_json::json!([]),
                        4 => Value::from(-1),
                        _ => Value::from("x"),
                    };
                }
            }
        }
        _ => {
            // A field twice, the second time with another value. The
            // objects' paths in a set: searching the list per path was
            // quadratic (minutes for a 5,000-line order in a debug build).
            let objects: std::collections::HashSet<&[String]> = all
                .iter()
                .filter(|(_, v)| v.is_object())
                .map(|(p, _)| p.as_slice())
                .collect();
            let in_object = |p: &Vec<String>| {
                p.split_last()
                    .is_some_and(|(_, parent)| objects.contains(parent))
            };
            let fits: Vec<_> = all.iter().filter(|(p, _)| in_object(p)).collect();
            if !fits.is_empty() {
                let (p, v) = fits[pick % fits.len()].clone();
                let other = match v {
                    Value::String(_) => odd_text(with),
                    Value::Number(_) => extreme_number(with, false),
                    _ => Value::Null,
                };
                return Some((p, other));
            }
        }
    }
    None
}

/// JSON text of `v`, with the object key at `dup` written a second time
/// with another value.
fn write_with_duplicate(
    v: &Value,
    at: &mut Vec<String>,
    dup: &(Vec<String>, Value),
    out: &mut String,
) {
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut first = true;
            for (k, x) in m {
                at.push(k.clone());
                let mut one = |x: &Value, at: &mut Vec<String>, out: &mut String| {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write_with_duplicate(x, at, dup, out);
                };
                one(x, at, out);
                if *at == dup.0 {
                    one(&dup.1, at, out);
                }
                at.pop();
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                at.push(i.to_string());
                write_with_duplicate(x, at, dup, out);
                at.pop();
            }
            out.push(']');
        }
        x => out.push_str(&serde_json::to_string(x).unwrap()),
    }
}

/// One hostile delivery after a valid history, then a valid sign-up, then
/// a week of timers.
async fn run_case(base: &Base, body: Vec<u8>, case: &str) {
    let mut p = Pipe::new();
    // The store's real week up to this delivery, so the hostile one meets
    // customers with history, live runs and timers.
    for (i, b) in corpus()
        .iter()
        .filter(|b| b.arrival < base.arrival && b.source != Source::Segment)
        .take(12)
        .enumerate()
    {
        let bytes = serde_json::to_vec(&b.body).unwrap();
        p.deliver(&request(b, &bytes, &format!("history-{i}")), b.arrival)
            .await;
    }
    p.deliver(
        &request(base, &body, &format!("hostile-{case}")),
        base.arrival,
    )
    .await;
    let after = base.arrival + SignedDuration::from_secs(1);
    p.run_timers(after).await;
    valid_signup_is_welcomed(&mut p, after, &format!("valid-{case}@example.com")).await;
    p.run_timers(after + SignedDuration::from_hours(24 * 8))
        .await;
    CASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    INPUTS.fetch_add(p.applied, std::sync::atomic::Ordering::Relaxed);
}

static CASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static INPUTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn every_date_and_number_at_its_limits_in_every_delivery() {
    // Systematic: each date-like and number-like field of each real
    // delivery, set to each extreme in turn (a stride through the extremes
    // keeps the count down while every extreme meets every topic).
    block_on(async {
        let mut n = 0;
        for (bi, base) in corpus().iter().enumerate() {
            let all = all_paths(&base.body);
            for (pi, (path, v)) in all.iter().enumerate() {
                let replacements: Vec<Value> = if looks_like_date(v) {
                    DATES.iter().map(|d| Value::from(*d)).collect()
                } else if looks_like_number(v) {
                    (0..12).map(|i| extreme_number(i, v.is_string())).collect()
                } else {
                    continue;
                };
                // Every extreme for occurred-at-like fields; a rotating one
                // (plus the far future) for the others.
                let chosen: Vec<&Value> = if path
                    .last()
                    .is_some_and(|k| k.ends_with("_at") || k == "timestamp")
                {
                    replacements.iter().collect()
                } else {
                    vec![
                        &replacements[0],
                        &replacements[(bi + pi) % replacements.len()],
                    ]
                };
                for (ri, r) in chosen.into_iter().enumerate() {
                    let mut doc = base.body.clone();
                    *at_mut(&mut doc, path).unwrap() = r.clone();
                    run_case(
                        base,
                        serde_json::to_vec(&doc).unwrap(),
                        &format!("s{bi}-{pi}-{ri}"),
                    )
                    .await;
                    n += 1;
                }
            }
        }
        assert!(n > 200, "only {n} cases: is the corpus there?");
        println!(
            "pipeline: {n} systematic cases, {} in all so far, {} inputs applied",
            CASES.load(std::sync::atomic::Ordering::Relaxed),
            INPUTS.load(std::sync::atomic::Ordering::Relaxed)
        );
    });
}

#[test]
fn the_far_future_order_stops_nothing() {
    // The report that opened this: a signed orders/create dated
    // 9999-12-30T21:00:00Z took `storeflow serve` down.
    let base = corpus()
        .iter()
        .find(|b| b.source == Source::Shopify && b.topic == "orders/create")
        .unwrap();
    let mut doc = base.body.clone();
    for k in ["processed_at", "created_at", "updated_at"] {
        doc[k] = "9999-12-30T21:00:00Z".into();
    }
    block_on(async {
        let mut p = Pipe::new();
        let (status, decisions) = p
            .deliver(
                &request(base, &serde_json::to_vec(&doc).unwrap(), "far-future"),
                base.arrival,
            )
            .await;
        assert_eq!(status, 200);
        let note = decisions
            .iter()
            .find(|d| d.kind == Kind::Adjusted)
            .expect("the adjustment is in the trace");
        let why = note.reason.as_ref().unwrap().to_string();
        assert!(
            why.contains("occurred_at 9999-12-30T21:00:00Z taken as")
                && why.contains(&base.arrival.to_string()),
            "{why}"
        );
        let after = base.arrival + SignedDuration::from_secs(1);
        valid_signup_is_welcomed(&mut p, after, "next@example.com").await;
        p.run_timers(after + SignedDuration::from_hours(24 * 30))
            .await;
    });
}

proptest! {
    // A fixed seed: the same cases on every run, so the test's time is
    // known (a random draw of several 5,000-line orders run through a week
    // of timers can take minutes in a debug build). PROPTEST_RNG_SEED
    // overrides it to explore other cases.
    #![proptest_config(ProptestConfig {
        cases: 100,
        rng_seed: std::env::var("PROPTEST_RNG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(proptest::test_runner::RngSeed::Fixed(20_261_207), proptest::test_runner::RngSeed::Fixed),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_real_deliveries_never_stop_the_pipeline(
        base in 0..64usize,
        muts in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..4),
    ) {
        let base = &corpus()[base % corpus().len()];
        let mut doc = base.body.clone();
        let mut dup = None;
        for (how, pick, with) in muts {
            dup = mutate(&mut doc, how, pick, with).or(dup);
        }
        let body = match dup {
            Some(d) => {
                let mut s = String::new();
                write_with_duplicate(&doc, &mut Vec::new(), &d, &mut s);
                s.into_bytes()
            }
            None => serde_json::to_vec(&doc).unwrap(),
        };
        let case = format!("p{}", CASES.load(std::sync::atomic::Ordering::Relaxed));
        block_on(run_case(base, body, &case));
    }
}
