//! How long a refit of the prediction models takes on SQLite for a
//! 100,000-customer store (BENCHMARKS.md): reading every customer's orders
//! out of the stored states, then the fit. Ignored: it stores the states
//! first. Run it in release:
//!
//! ```sh
//! cargo test --release -p storeflow-sqlite --test refit_speed -- --ignored --nocapture
//! ```

use std::time::Instant;
use storeflow_app::ports::{Commit, Customers, Models};
use storeflow_app::ready;
use storeflow_core::customer::history::{Keep, Retention};
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::predict::forecast::{fit, History, Options};
use storeflow_core::{CustomerState, Event};
use storeflow_sqlite::Sqlite;

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

struct KeepAll;

impl Retention for KeepAll {
    fn keep_for(&self, _: &str) -> Option<Keep> {
        Some(Keep::Forever)
    }
}

/// A customer with a year of orders (one to eight) and twenty product
/// views in their history, as the engine keeps them.
fn customer(i: u64, rng: &mut Rng) -> CustomerState {
    let start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let at = |secs: u64| start + jiff::SignedDuration::from_secs(secs as i64);
    let shop = ShopId::parse("northwind.myshopify.com").unwrap();
    let mut st = CustomerState::new(
        ProfileId::parse(format!("p_{i:016x}")).unwrap(),
        shop,
        start,
    );
    let year = 365 * 86_400;
    let first = rng.below(year - 86_400);
    for k in 0..1 + rng.below(8) {
        let t = first + k * rng.below(60 * 86_400).max(86_400);
        if t >= year {
            break;
        }
        let rec = st.profile.orders.entry(format!("{i}-{k}")).or_default();
        rec.placed_at = Some(at(t));
        rec.total = 20.0 + rng.below(8000) as f64 / 100.0;
        rec.products = vec![format!("prod-{}", rng.below(500))];
    }
    for v in 0..20 {
        let t = rng.below(year);
        let e: Event = serde_json::from_value(serde_json::json!({
            "id": format!("v{i}-{v}"), "shop": "northwind.myshopify.com", "type": "product_viewed",
            "occurred_at": at(t).to_string(), "customer": {"email": format!("c{i}@example.com")},
            "properties": {"product_id": format!("prod-{}", rng.below(500)), "title": "Linen Shirt",
                "url": "https://northwind.example.com/products/linen-shirt", "price": 64.0}}))
        .unwrap();
        st.history.record(&e, at(t), &KeepAll);
    }
    st
}

#[test]
#[ignore]
fn a_refit_of_a_100k_customer_store_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("storeflow-refit-speed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = Sqlite::open(&dir.join("storeflow.sqlite")).unwrap();
    let mut rng = Rng(11);
    let built = Instant::now();
    let n: u64 = std::env::var("CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for i in 0..n {
        let st = customer(i, &mut rng);
        let c = Commit {
            now: "2027-01-01T00:00:00Z".parse().unwrap(),
            state: st,
            expected: None,
            keys: &[],
            absorbed: &[],
            wake: None,
            messages: &[],
            decisions: &[],
        };
        ready(db.commit(c)).unwrap();
    }
    let size = std::fs::metadata(dir.join("storeflow.sqlite"))
        .unwrap()
        .len();
    println!(
        "100,000 states stored in {:.1} s ({:.0} MB)",
        built.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let options = Options::new("2027-01-01".parse().unwrap(), 365, 0.1);
    for run in 0..std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
    {
        let t = Instant::now();
        let all = ready(db.order_histories()).unwrap();
        let read_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let named: Vec<(&str, History)> = all
            .iter()
            .map(|(_, id, h)| (id.as_str(), h.clone()))
            .collect();
        let model = fit(&named, &options);
        let fit_s = t.elapsed().as_secs_f64();
        assert_eq!(model.customers, n as usize);
        println!(
            "run {run}: read {} histories in {read_s:.2} s, fitted ({:?}) in {fit_s:.2} s: {:?} {:?}",
            all.len(),
            model.model,
            model.bg_nbd,
            model.gamma_gamma
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
