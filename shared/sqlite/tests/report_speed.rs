//! How fast `storeflow report --data` answers for a year of a
//! 100,000-customer store, and the console's overview for its last 30
//! days (BENCHMARKS.md). Ignored: it builds a database of
//! about two million facts first. Run it in release:
//!
//! ```sh
//! cargo test --release -p storeflow-sqlite --test report_speed -- --ignored --nocapture
//! ```

use std::time::Instant;
use storeflow_app::reports::{self, Which};
use storeflow_core::model::channel::Channel;
use storeflow_core::results::facts::{Fact, FactKind, Lifecycle};
use storeflow_core::results::report::{self, Period};
use storeflow_sqlite::results::{read_orders, read_rollups};
use storeflow_sqlite::Sqlite;

/// A deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FLOWS: [(&str, &[&str]); 6] = [
    ("welcome", &["welcome_1", "welcome_2", "welcome_offer"]),
    ("browse_abandonment", &["browse_email"]),
    ("cart_abandonment", &["cart_email", "cart_sms"]),
    (
        "checkout_abandonment",
        &["checkout_email", "checkout_sms", "checkout_offer"],
    ),
    ("post_purchase", &["thanks", "how_to", "review_request"]),
    ("winback", &["winback_1", "winback_2"]),
];

/// One customer's year: runs with their messages, engagement, orders
/// (some credited, some refunded) and segment changes.
fn customer_year(i: u64, rng: &mut Rng, out: &mut Vec<Fact>) {
    let start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let profile: std::sync::Arc<str> = format!("p_{i:016x}").into();
    let at = |secs: u64| start + jiff::SignedDuration::from_secs(secs as i64);
    let year = 365 * 86_400;
    let runs = 2 + rng.below(6);
    for r in 0..runs {
        let (flow, steps) = FLOWS[rng.below(FLOWS.len() as u64) as usize];
        let t0 = rng.below(year - 10 * 86_400);
        let mut f = Fact::new(at(t0), FactKind::FlowEnter, profile.clone());
        f.flow = Some(flow.into());
        f.version = Some(1);
        f.run = Some(format!("{i}-{r}").into());
        out.push(f);
        for (k, step) in steps.iter().enumerate() {
            let t = t0 + k as u64 * 86_400 * 2 + 3_600;
            let channel = if step.ends_with("sms") {
                Channel::Sms
            } else {
                Channel::Email
            };
            let id: std::sync::Arc<str> = format!("{i:x}{r:x}{k:x}").into();
            for (l, dt) in [(Lifecycle::Sent, 0), (Lifecycle::Delivered, 5)] {
                let mut m = Fact::new(at(t + dt), FactKind::Message, profile.clone());
                m.lifecycle = Some(l);
                m.first = k == 0 && l == Lifecycle::Sent;
                m.flow = Some(flow.into());
                m.version = Some(1);
                m.step = Some((*step).into());
                m.template = Some((*step).into());
                m.channel = Some(channel);
                m.message = Some(id.clone());
                out.push(m);
            }
            if rng.below(8) == 0 {
                let mut c = out.last().unwrap().clone();
                c.at = at(t + 600);
                c.lifecycle = Some(Lifecycle::Clicked);
                c.first = false;
                out.push(c);
            }
        }
        if rng.below(4) == 0 {
            let mut f = Fact::new(at(t0 + 86_400), FactKind::Converted, profile.clone());
            f.flow = Some(flow.into());
            f.version = Some(1);
            out.push(f);
        }
    }
    let orders = rng.below(4);
    for o in 0..orders {
        let t = rng.below(year);
        let amount = 20.0 + rng.below(200) as f64;
        let id = format!("{i}-{o}");
        let mut f = Fact::new(at(t), FactKind::Order, profile.clone());
        f.order = Some(id.clone());
        f.amount = amount;
        out.push(f);
        if rng.below(3) == 0 {
            let mut c = Fact::new(at(t), FactKind::Credit, profile.clone());
            c.order = Some(id.clone());
            c.amount = amount;
            c.flow = Some("cart_abandonment".into());
            c.version = Some(1);
            c.step = Some("cart_email".into());
            c.template = Some("cart_email".into());
            c.channel = Some(Channel::Email);
            c.settings = Some("email click 5d; sms click 5d; whatsapp click 5d".into());
            out.push(c);
        }
        if rng.below(10) == 0 {
            let mut r = Fact::new(at(t + 7 * 86_400), FactKind::Refund, profile.clone());
            r.order = Some(id);
            r.amount = amount / 2.0;
            out.push(r);
        }
    }
    for s in 0..rng.below(4) {
        let mut f = Fact::new(at(rng.below(year)), FactKind::SegmentEnter, profile.clone());
        f.segment = Some(format!("segment_{s}").into());
        out.push(f);
    }
}

#[test]
#[ignore]
fn reports_of_a_100k_customer_year_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("storeflow-report-speed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("storeflow.sqlite");
    let db = Sqlite::open(&path).unwrap();
    let mut rng = Rng(7);
    let built = Instant::now();
    let mut total = 0usize;
    let mut batch = Vec::new();
    for i in 0..100_000u64 {
        customer_year(i, &mut rng, &mut batch);
        if batch.len() > 50_000 {
            total += batch.len();
            db.record_facts(&batch).unwrap();
            batch.clear();
        }
    }
    total += batch.len();
    db.record_facts(&batch).unwrap();
    drop(db);
    println!(
        "{total} facts stored in {:.1} s",
        built.elapsed().as_secs_f64()
    );

    let year = Period {
        from: Some("2026-01-01T00:00:00Z".parse().unwrap()),
        to: Some("2027-01-01T00:00:00Z".parse().unwrap()),
    };
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    for run in 0..5 {
        // What `report flows --data` does: open, read the year's counters,
        // make the rows.
        let t = Instant::now();
        let conn = storeflow_sqlite::results::open_read_only(&path).unwrap();
        let (from, to) = reports::days_of(year);
        let (days, totals) = read_rollups(&conn, from, to).unwrap();
        let flows = reports::from_rollups(Which::Flows, &days, &totals, None, year).unwrap();
        let flows_s = t.elapsed().as_secs_f64();
        assert_eq!(flows["rows"].as_array().unwrap().len(), FLOWS.len());

        // `report cohorts --data`: the orders and refunds, then the table.
        let t = Instant::now();
        let conn = storeflow_sqlite::results::open_read_only(&path).unwrap();
        let orders = read_orders(&conn).unwrap();
        let cohorts = report::cohorts(&orders, year, &tz);
        let cohorts_s = t.elapsed().as_secs_f64();
        assert!(cohorts.len() >= 12, "{}", cohorts.len());
        // The console's overview and segments pages over the last 30 days
        // of the year: the figures behind each page (read and computed).
        let t = Instant::now();
        let conn = storeflow_sqlite::results::open_read_only(&path).unwrap();
        let (from, to) = (
            "2026-12-02".parse::<jiff::civil::Date>().unwrap(),
            "2026-12-31".parse::<jiff::civil::Date>().unwrap(),
        );
        let (month, month_totals) = read_rollups(&conn, from, to).unwrap();
        let o = storeflow_console::overview::Overview::of(&month, &month_totals, from, to);
        let overview_s = t.elapsed().as_secs_f64();
        assert_eq!(o.daily.len(), 30);
        println!("run {run}: console overview (30 days) {overview_s:.3} s");
        println!(
            "run {run}: report flows {:.3} s ({} counter rows); report cohorts {:.3} s ({} orders and refunds)",
            flows_s,
            days.len(),
            cohorts_s,
            orders.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
