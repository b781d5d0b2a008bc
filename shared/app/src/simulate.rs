//! The simulator: the application services themselves ([`App`]) over the
//! in-memory store, on a virtual clock. `storeflow simulate` and the
//! scenario tests drive it, so a simulation takes the same path as
//! production (identity resolution, merges, commits, store-level state)
//! and cannot disagree with it.
//!
//! Like every runtime it keeps one timer per customer (the engine's
//! wake-up), one per store (back-in-stock batches) and the campaign
//! calendar, and never scans customers to keep segments current. What the
//! store would keep for the runtime's readers (the trace, the outbox) is
//! handed out and dropped as it comes, so memory grows with the number of
//! customers, not with the length of the input.

use crate::memory::Memory;
use crate::{App, Applied};
use jiff::Timestamp;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use storeflow_core::customer::privacy::Erasure;
use storeflow_core::model::event::Identity;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::{CustomerState, Decision, Engine, Event};

/// One line of a simulation input file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimLine {
    /// When the event reaches storeflow (may differ from `occurred_at`).
    pub at: Timestamp,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Target {
    /// Profile first: timers due at one instant fire in profile order.
    Customer(ProfileId, ShopId),
    Shop(ShopId),
}

pub struct Simulator {
    app: App<Memory>,
    now: Timestamp,
    /// The timer wheel: (instant, what), and each target's instant.
    timers: BTreeSet<(Timestamp, Target)>,
    timer_of: HashMap<Target, Timestamp>,
    campaigns: Vec<(Timestamp, String, String)>,
    /// The next daily refit of the prediction models (each UTC midnight
    /// once events began), when the configuration reads predictions.
    refit_at: Option<Timestamp>,
    refits: bool,
}

impl Simulator {
    pub fn new(engine: Engine) -> Self {
        // A state is handed out on load, not copied; decisions and
        // messages are handed out by `took`, not kept.
        Self::over(engine, Memory::lending().without_trace())
    }

    /// The simulator over another memory store (tests compare the lending
    /// store with the reference one).
    fn over(engine: Engine, store: Memory) -> Self {
        let mut campaigns: Vec<(Timestamp, String, String)> = engine
            .campaigns()
            .into_iter()
            .map(|(f, s, t)| (t, f, s))
            .collect();
        campaigns.sort();
        let refits = engine.config.uses_predictions();
        Simulator {
            refit_at: None,
            refits,
            app: App::new(engine, store),
            now: Timestamp::MIN,
            timers: BTreeSet::new(),
            timer_of: HashMap::new(),
            campaigns,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The engine the simulation runs (its models as last refitted).
    pub fn engine(&self) -> &Engine {
        &self.app.engine
    }

    /// The customer known by this email, if any (a copy).
    pub fn customer_by_email(&self, email: &str) -> Option<CustomerState> {
        let e = storeflow_core::model::ids::Email::parse(email).ok()?;
        let suffix = format!("|email|{e}");
        self.app.store.with(|i| {
            let id = i
                .keys
                .iter()
                .find(|(k, _)| k.ends_with(&suffix))
                .map(|(_, v)| v)?;
            i.customers.get(id).map(|(s, _)| s.clone())
        })
    }

    /// Every customer (copies, in profile id order).
    pub fn customers(&self) -> Vec<CustomerState> {
        let mut all: Vec<CustomerState> = self
            .app
            .store
            .with(|i| i.customers.values().map(|(s, _)| s.clone()).collect());
        all.sort_by(|a, b| a.profile.id.cmp(&b.profile.id));
        all
    }

    /// Runs the clock to `at` (timers, campaigns), then applies the event.
    pub fn feed(&mut self, at: Timestamp, event: Event) -> Vec<Decision> {
        let mut out = self.run_until(at);
        self.now = self.now.max(at);
        if self.refits && self.refit_at.is_none() {
            self.refit_at = Some(next_midnight(self.now));
        }
        let applied = crate::ready(self.app.event(event, self.now)).expect("the memory store");
        self.took(applied, &mut out);
        out
    }

    /// Fires every timer and campaign due up to and including `until`.
    pub fn run_until(&mut self, until: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        loop {
            let t_timer = self.timers.iter().next().map(|(t, _)| *t);
            let t_camp = self.campaigns.first().map(|c| c.0);
            let Some(next) = [t_timer, t_camp, self.refit_at].into_iter().flatten().min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if self.refit_at == Some(next) {
                // Before the timers of the same instant, as a runtime's
                // first tick of the day refits before it fires wake-ups.
                crate::ready(self.app.refit(self.now)).expect("the memory store");
                self.refit_at = Some(next_midnight(self.now));
                continue;
            }
            if t_camp == Some(next) {
                let (_, flow, segment) = self.campaigns.remove(0);
                let mut members: Vec<(ShopId, ProfileId)> = self.app.store.with(|i| {
                    i.customers
                        .values()
                        .filter(|(c, _)| c.segments.is_member(&segment))
                        .map(|(c, _)| (c.profile.shop.clone(), c.profile.id.clone()))
                        .collect()
                });
                members.sort_by(|a, b| a.1.cmp(&b.1));
                for (shop, p) in members {
                    let applied = crate::ready(self.app.campaign(&shop, &p, &flow, self.now))
                        .expect("the memory store");
                    self.took(applied, &mut out);
                }
                continue;
            }
            let (_, target) = self.timers.pop_first().expect("peeked");
            self.timer_of.remove(&target);
            let applied = match &target {
                Target::Customer(p, shop) => crate::ready(self.app.wake(shop, p, self.now)),
                Target::Shop(shop) => crate::ready(self.app.shop_wake(shop, self.now)),
            }
            .expect("the memory store");
            self.took(applied, &mut out);
        }
        self.now = self.now.max(until);
        out
    }

    /// Hands out what one call decided and sets the timers its commits
    /// stored (read back from the store: the wake-up each target has now).
    fn took(&mut self, applied: Applied, out: &mut Vec<Decision>) {
        // Every customer the call evaluated: the one it was about, those a
        // store-level event notified, and any that made a decision.
        let mut profiles: BTreeSet<&ProfileId> =
            applied.decisions.iter().map(|d| &d.profile_id).collect();
        profiles.extend(applied.profile.iter());
        let mut targets: Vec<Target> = self.app.store.with(|i| {
            profiles
                .into_iter()
                .filter_map(|p| {
                    let (s, _) = i.customers.get(p)?;
                    Some(Target::Customer(p.clone(), s.profile.shop.clone()))
                })
                .collect()
        });
        for t in &applied.timers {
            targets.push(match &t.profile {
                Some(p) => Target::Customer(p.clone(), t.shop.clone()),
                None => Target::Shop(t.shop.clone()),
            });
        }
        // The customer a call was about usually comes twice (its profile
        // and its timer): once is enough.
        targets.sort();
        targets.dedup();
        let timed: Vec<(Target, Option<Timestamp>)> = self.app.store.with(|i| {
            targets
                .into_iter()
                .map(|target| {
                    let at = match &target {
                        Target::Customer(p, _) => i.wakes.get(p).copied(),
                        Target::Shop(s) => i.shop_wakes.get(s).copied(),
                    };
                    (target, at)
                })
                .collect()
        });
        for (target, at) in timed {
            self.schedule(target, at);
        }
        // The decisions are the caller's (the store keeps no trace).
        out.extend(applied.decisions);
    }

    fn schedule(&mut self, target: Target, at: Option<Timestamp>) {
        // A timer never fires in the past: due no earlier than now.
        let due = at.map(|t| t.max(self.now));
        if self.timer_of.get(&target) == due.as_ref() {
            // Most commits leave the wake-up where it was.
            return;
        }
        if let Some(old) = self.timer_of.remove(&target) {
            self.timers.remove(&(old, target.clone()));
        }
        if let Some(t) = due {
            self.timers.insert((t, target.clone()));
            self.timer_of.insert(target, t);
        }
    }

    /// The profiles this identity names (every key that is known).
    fn profiles_of(&self, shop: &ShopId, who: &Identity) -> BTreeSet<ProfileId> {
        let keys = storeflow_core::customer::identity::keys(shop, who);
        self.app
            .store
            .with(|i| keys.iter().filter_map(|k| i.keys.get(k).cloned()).collect())
    }

    /// Everything stored about the customer this identity names: one JSON
    /// document per profile found (none if the customer is unknown).
    pub fn export_customer(&self, shop: &ShopId, who: &Identity) -> Vec<serde_json::Value> {
        let ids = self.profiles_of(shop, who);
        self.app.store.with(|i| {
            ids.iter()
                .filter_map(|p| i.customers.get(p))
                .map(|(s, _)| s.export())
                .collect()
        })
    }

    /// Erases the customer: their state, every lookup key that leads to
    /// them and their timer. Returns what proves each erasure.
    pub fn erase_customer(&mut self, shop: &ShopId, who: &Identity, at: Timestamp) -> Vec<Erasure> {
        let ids = self.profiles_of(shop, who);
        self.erase_profiles(&ids, at)
    }

    /// Erases every customer of the shop.
    pub fn erase_shop(&mut self, shop: &ShopId, at: Timestamp) -> Vec<Erasure> {
        let ids: BTreeSet<ProfileId> = self.app.store.with(|i| {
            i.customers
                .values()
                .filter(|(c, _)| &c.profile.shop == shop)
                .map(|(c, _)| c.profile.id.clone())
                .collect()
        });
        self.app.store.with(|i| {
            i.shops.remove(shop);
            i.shop_wakes.remove(shop);
        });
        self.schedule(Target::Shop(shop.clone()), None);
        self.erase_profiles(&ids, at)
    }

    fn erase_profiles(&mut self, ids: &BTreeSet<ProfileId>, at: Timestamp) -> Vec<Erasure> {
        let mut out = Vec::new();
        for id in ids {
            let gone = self.app.store.with(|i| {
                i.wakes.remove(id);
                i.customers.remove(id)
            });
            if let Some((st, _)) = gone {
                self.schedule(Target::Customer(id.clone(), st.profile.shop.clone()), None);
                out.push(st.erasure(at));
            }
        }
        self.app
            .store
            .with(|i| i.keys.retain(|_, p| !ids.contains(p)));
        out
    }
}

/// Replays input lines (sorted by arrival, stable) and runs on to `until`.
/// The first UTC midnight after `t`.
fn next_midnight(t: Timestamp) -> Timestamp {
    let day = t.to_zoned(jiff::tz::TimeZone::UTC).date();
    day.tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(Timestamp::MAX, |z| z.timestamp())
}

pub fn run(engine: Engine, lines: Vec<SimLine>, until: Option<Timestamp>) -> Vec<Decision> {
    let mut out = Vec::new();
    run_into(engine, lines, until, &mut |d| out.push(d));
    out
}

/// As [`run`], handing each decision to `sink` as it is made (so a long
/// simulation never holds them all).
pub fn run_into(
    engine: Engine,
    mut lines: Vec<SimLine>,
    until: Option<Timestamp>,
    sink: &mut dyn FnMut(Decision),
) {
    lines.sort_by_key(|l| l.at);
    let mut sim = Simulator::new(engine);
    for l in lines {
        sim.feed(l.at, l.event).into_iter().for_each(&mut *sink);
    }
    if let Some(u) = until {
        sim.run_until(u).into_iter().for_each(&mut *sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/starter");
        let sources = crate::config_dir::read_config_dir(&dir).unwrap();
        Engine::new(storeflow_core::Config::from_sources(sources, b"test".to_vec()).unwrap())
    }

    fn line(at: &str, id: &str, kind: &str, props: serde_json::Value) -> SimLine {
        serde_json::from_value(serde_json::json!({
            "at": at,
            "event": {"id": id, "shop": "s", "type": kind, "occurred_at": at,
                      "customer": {"email": "ann@example.com"}, "properties": props},
        }))
        .unwrap()
    }

    /// Events redelivered (a duplicate is the one input the App does not
    /// commit) soon, days and months later, among orders and deliveries
    /// that start runs and set timers.
    fn with_redeliveries() -> Vec<SimLine> {
        let items = serde_json::json!([{"product_id": "linen-shirt", "title": "Linen shirt", "quantity": 1, "price": 65.0}]);
        let order =
            |o: &str| serde_json::json!({"order_id": o, "line_items": items, "total": 65.0});
        let shipped = |o: &str| serde_json::json!({"order_id": o, "status": "delivered"});
        let consent = serde_json::json!({"channel": "email", "status": "subscribed"});
        let cart = serde_json::json!({"line_items": items});
        let name = serde_json::json!({"first_name": "Ann"});
        #[rustfmt::skip]
        let lines = [
            ("2026-03-01T10:00:00Z", "c", "customer_created", name),
            ("2026-03-01T10:00:00Z", "k", "consent_changed", consent.clone()),
            ("2026-03-01T10:05:00Z", "k", "consent_changed", consent.clone()),
            ("2026-03-02T09:00:00Z", "cart", "added_to_cart", cart.clone()),
            ("2026-03-02T12:00:00Z", "cart", "added_to_cart", cart),
            ("2026-03-03T07:25:00Z", "o1", "order_placed", order("o1")),
            ("2026-03-06T07:25:00Z", "ship", "shipment_updated", shipped("o1")),
            ("2026-03-09T10:00:00Z", "o1", "order_placed", order("o1")),
            ("2026-04-01T06:25:00Z", "o2", "order_placed", order("o2")),
            // The same id again within the de-duplication window, then
            // just past it: the third is new again only if what the
            // engine did to the state on the duplicate was not kept (it
            // was, through a lent state given back as evaluated, in a
            // 10,000-customer year).
            ("2026-04-04T06:25:00Z", "ship", "shipment_updated", shipped("o2")),
            ("2026-04-05T12:25:00Z", "o3", "order_placed", order("o3")),
            ("2026-04-08T12:25:00Z", "ship", "shipment_updated", shipped("o3")),
            ("2026-07-01T10:00:00Z", "k", "consent_changed", consent),
            ("2026-09-04T10:00:00Z", "ship", "shipment_updated", shipped("o3")),
            ("2026-09-05T10:00:00Z", "o2", "order_placed", order("o2")),
        ];
        lines
            .into_iter()
            .map(|(at, id, kind, props)| line(at, id, kind, props))
            .collect()
    }

    fn run_over(store: Memory, lines: &[SimLine]) -> (Vec<Decision>, Vec<CustomerState>) {
        let mut sim = Simulator::over(starter(), store);
        let mut out = Vec::new();
        for l in lines {
            out.extend(sim.feed(l.at, l.event.clone()));
        }
        out.extend(sim.run_until("2027-01-01T00:00:00Z".parse().unwrap()));
        (out, sim.customers())
    }

    #[test]
    fn the_lending_store_decides_what_the_reference_store_decides() {
        let lines = with_redeliveries();
        let (want, want_states) = run_over(Memory::new(), &lines);
        assert!(
            want.iter()
                .filter(|d| d.kind == storeflow_core::Kind::Skipped)
                .count()
                > 0
                && want.len() > 20,
            "{want:#?}"
        );
        let (got, got_states) = run_over(Memory::lending().without_trace(), &lines);
        let text = |d: &[Decision]| serde_json::to_string(d).unwrap();
        assert_eq!(text(&got), text(&want));
        assert_eq!(
            serde_json::to_string(&got_states).unwrap(),
            serde_json::to_string(&want_states).unwrap()
        );
    }

    #[tokio::test]
    async fn a_lent_state_is_the_borrowers_until_committed_or_released() {
        use crate::ports::Customers;
        let shop = ShopId::parse("s").unwrap();
        let id = ProfileId::parse("p_1").unwrap();
        let store = Memory::lending();
        let engine = starter();
        let state = engine.new_state(
            id.clone(),
            shop.clone(),
            "2026-03-01T10:00:00Z".parse().unwrap(),
        );
        store
            .commit(crate::Commit {
                now: "2026-03-01T10:00:00Z".parse().unwrap(),
                state,
                expected: None,
                keys: &[],
                absorbed: &[],
                wake: None,
                messages: &[],
                decisions: &[],
            })
            .await
            .unwrap();
        let lent = store.load(&shop, &id).await.unwrap().expect("stored");
        assert_eq!(lent.version, 1);
        assert!(store.with(|i| i.customers.is_empty()), "lent, not copied");
        assert!(store.load(&shop, &id).await.is_err(), "on loan");
        store.release(lent.state).await;
        let again = store.load(&shop, &id).await.unwrap().expect("given back");
        assert_eq!(again.version, 1);
        store
            .commit(crate::Commit {
                now: "2026-03-02T10:00:00Z".parse().unwrap(),
                state: again.state,
                expected: Some(1),
                keys: &[],
                absorbed: &[],
                wake: None,
                messages: &[],
                decisions: &[],
            })
            .await
            .unwrap();
        assert_eq!(store.load(&shop, &id).await.unwrap().unwrap().version, 2);
    }
}
