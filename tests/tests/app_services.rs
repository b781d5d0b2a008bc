//! The application services (`storeflow-app`): over SQLite with the
//! embedded runtime's timer reads, the same decisions as the simulator
//! (`App` over the memory adapter); and no lost update when two inputs for
//! one customer race.

use jiff::Timestamp;
use serde_json::json;
use std::sync::Arc;
use storeflow_app::memory::Memory;
use storeflow_app::ports::{Commit, Customers, Loaded, Shops, StoreError};
use storeflow_app::simulate::SimLine;
use storeflow_app::App;
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::{Engine, Event, Kind};
use storeflow_tests::{repo_root, starter, ts};

fn starter_week() -> Vec<SimLine> {
    let text = std::fs::read_to_string(repo_root().join("events/starter-week.jsonl")).unwrap();
    let mut lines: Vec<SimLine> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|l| l.at);
    lines
}

fn record(ds: &[storeflow_core::Decision], out: &mut Vec<(Timestamp, String, String)>) {
    for d in ds.iter().filter(|d| d.kind == Kind::Message) {
        out.push((
            d.at,
            d.profile.to_string(),
            d.template().unwrap().to_string(),
        ));
    }
}

#[tokio::test]
async fn app_on_sqlite_sends_what_the_simulator_sends() {
    use storeflow_sqlite::timers::Due;
    let until = ts("2026-12-31T00:00:00Z");
    let lines = starter_week();
    let mut expected = Vec::new();
    record(
        &storeflow_app::simulate::run(Engine::new(starter()), lines.clone(), Some(until)),
        &mut expected,
    );
    let engine = Engine::new(starter());
    let mut campaigns: Vec<_> = engine
        .campaigns()
        .into_iter()
        .map(|(f, s, t)| (t, f, s))
        .collect();
    campaigns.sort();
    let dir = storeflow_tests::temp_dir("app-sqlite");
    let app = App::new(
        engine,
        storeflow_sqlite::Sqlite::open(&dir.join("db.sqlite")).unwrap(),
    );
    let mut got = Vec::new();
    // The embedded runtime's timer wheel, on a virtual clock.
    let fire = |app: &App<storeflow_sqlite::Sqlite>,
                campaigns: &mut Vec<(Timestamp, String, String)>,
                upto: Timestamp| {
        let mut out = Vec::new();
        let next_timer = app.store.due(upto, 1).unwrap().into_iter().next();
        let camp = campaigns.first().map(|c| c.0).filter(|t| *t <= upto);
        match (next_timer, camp) {
            (None, None) => return None,
            (t, Some(c)) if t.as_ref().is_none_or(|(tt, _)| c <= *tt) => {
                let (at, flow, segment) = campaigns.remove(0);
                out.push((at, None, Some((flow, segment))));
            }
            (Some((at, due)), _) => out.push((at, Some(due), None)),
            _ => unreachable!(),
        }
        Some(out)
    };
    let drive = async |upto: Timestamp,
                       campaigns: &mut Vec<(Timestamp, String, String)>,
                       got: &mut Vec<(Timestamp, String, String)>| {
        while let Some(work) = fire(&app, campaigns, upto) {
            for (at, due, camp) in work {
                let ds = match (due, camp) {
                    // No clearing first: the commit after the wake-up sets the
                    // next one, so a crash in between fires it again, not never.
                    (Some(d), _) => match d {
                        Due::Customer(s, p) => app.wake(&s, &p, at).await.unwrap().decisions,
                        Due::Shop(s) => app.shop_wake(&s, at).await.unwrap().decisions,
                    },
                    (None, Some((flow, segment))) => {
                        let mut all = Vec::new();
                        for (s, p) in app.store.members(&segment).unwrap() {
                            all.extend(app.campaign(&s, &p, &flow, at).await.unwrap().decisions);
                        }
                        all
                    }
                    _ => unreachable!(),
                };
                record(&ds, got);
            }
        }
    };
    for l in lines {
        drive(l.at, &mut campaigns, &mut got).await;
        let applied = app.event(l.event, l.at).await.unwrap();
        record(&applied.decisions, &mut got);
    }
    drive(until, &mut campaigns, &mut got).await;
    assert_eq!(got, expected);
    assert_eq!(
        app.store
            .pending(10_000, jiff::Timestamp::MAX)
            .unwrap()
            .len(),
        expected.len()
    );
}

/// Memory that yields between reading and writing, so concurrent inputs
/// for one customer interleave; and the first two reads of a profile wait
/// for each other, so at least two writers surely compute from the same
/// version.
struct Yielding(Memory, std::sync::atomic::AtomicUsize, tokio::sync::Barrier);

impl Customers for Yielding {
    async fn find(&self, keys: &[String]) -> Result<Vec<Option<ProfileId>>, StoreError> {
        let r = self.0.find(keys).await;
        tokio::task::yield_now().await;
        r
    }
    async fn load(&self, shop: &ShopId, id: &ProfileId) -> Result<Option<Loaded>, StoreError> {
        let r = self.0.load(shop, id).await;
        if self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            self.2.wait().await;
        }
        tokio::task::yield_now().await;
        r
    }
    async fn commit(&self, c: Commit<'_>) -> Result<(), StoreError> {
        self.0.commit(c).await
    }
}

impl Shops for Yielding {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<(ShopState, u64)>, StoreError> {
        self.0.load_shop(shop).await
    }
    async fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.0.commit_shop(shop, state, expected, wake).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_events_for_one_customer_lose_no_update() {
    let app = Arc::new(App::new(
        Engine::new(starter()),
        Yielding(
            Memory::new(),
            Default::default(),
            tokio::sync::Barrier::new(2),
        ),
    ));
    let t0 = ts("2026-11-02T15:00:00Z");
    let n = 40;
    // All tasks start together, so reads and commits interleave.
    let start = Arc::new(tokio::sync::Barrier::new(n as usize));
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = app.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let at = t0 + jiff::SignedDuration::from_secs(i);
            let e: Event = serde_json::from_value(json!({
                "id": format!("view-{i}"), "shop": "northwind.myshopify.com",
                "type": "product_viewed", "occurred_at": at,
                "customer": {"email": "ann@example.com"},
                "properties": {"product_id": format!("p{i}"), "title": "Tee"}
            }))
            .unwrap();
            app.event(e, at).await.unwrap().retries
        }));
    }
    let mut retries = 0;
    for t in tasks {
        retries += t.await.unwrap();
    }
    let (state, seen) = app.store.0.with(|i| {
        assert_eq!(i.customers.len(), 1, "one customer, however the race went");
        let (s, v) = i.customers.values().next().unwrap();
        (s.clone(), *v)
    });
    // Every event landed: none was overwritten by a writer that read before it.
    for i in 0..n {
        assert!(
            state.seen.contains_key(&format!("view-{i}")),
            "view-{i} lost"
        );
    }
    assert_eq!(seen, n as u64, "one committed version per event");
    assert!(retries > 0, "the test raced (retries: {retries})");
    // A wake-up for a profile that no longer exists does nothing.
    let gone = app
        .wake(
            &ShopId::parse("northwind.myshopify.com").unwrap(),
            &ProfileId::parse("p_nobody").unwrap(),
            t0,
        )
        .await
        .unwrap();
    assert!(gone.decisions.is_empty());
}

/// Two profiles merge; the absorbed one had an email the survivor does not
/// show. That email must lead to the survivor afterwards: left pointing at
/// the deleted profile, an event naming it with the survivor's customer id
/// was a merge that could never commit (100 conflicts, then an error).
#[tokio::test]
async fn every_key_of_a_merged_profile_leads_to_the_survivor() {
    let app = App::new(Engine::new(starter()), Memory::new());
    let event = |id: &str, at: &str, who: serde_json::Value| -> Event {
        serde_json::from_value(json!({
            "id": id, "shop": "northwind.myshopify.com", "type": "product_viewed",
            "occurred_at": at, "customer": who,
            "properties": {"product_id": "p1", "title": "Tee"}
        }))
        .unwrap()
    };
    let steps = [
        // A visitor on a browser, known by a second address.
        (
            "e1",
            "2026-11-02T10:00:00Z",
            json!({"anonymous_id": "t1", "email": "b@example.com"}),
        ),
        // The customer, later, by their account and main address.
        (
            "e2",
            "2026-11-02T11:00:00Z",
            json!({"id": "1", "email": "a@example.com"}),
        ),
        // Signs in on that browser: the two are one person.
        (
            "e3",
            "2026-11-02T12:00:00Z",
            json!({"id": "1", "anonymous_id": "t1"}),
        ),
        // The account with the second address.
        (
            "e4",
            "2026-11-02T13:00:00Z",
            json!({"id": "1", "email": "b@example.com"}),
        ),
    ];
    for (id, at, who) in steps {
        app.event(event(id, at, who), ts(at))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    app.store.with(|i| {
        assert_eq!(i.customers.len(), 1, "one person");
        for (k, p) in &i.keys {
            assert!(
                i.customers.contains_key(p),
                "{k} leads to {p}, which is gone"
            );
        }
    });
}
