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
}

impl Simulator {
    pub fn new(engine: Engine) -> Self {
        let mut campaigns: Vec<(Timestamp, String, String)> = engine
            .campaigns()
            .into_iter()
            .map(|(f, s, t)| (t, f, s))
            .collect();
        campaigns.sort();
        Simulator {
            // A state is handed out on load, not copied; decisions and
            // messages are handed out by `took`, not kept.
            app: App::new(engine, Memory::lending().without_trace()),
            now: Timestamp::MIN,
            timers: BTreeSet::new(),
            timer_of: HashMap::new(),
            campaigns,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
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
            let next = match (t_timer, t_camp) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
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
        let mut targets: Vec<Target> = Vec::new();
        for p in profiles {
            let shop = self
                .app
                .store
                .with(|i| i.customers.get(p).map(|(s, _)| s.profile.shop.clone()));
            if let Some(shop) = shop {
                targets.push(Target::Customer(p.clone(), shop));
            }
        }
        for t in &applied.timers {
            targets.push(match &t.profile {
                Some(p) => Target::Customer(p.clone(), t.shop.clone()),
                None => Target::Shop(t.shop.clone()),
            });
        }
        for target in targets {
            let at = self.app.store.with(|i| match &target {
                Target::Customer(p, _) => i.wakes.get(p).copied(),
                Target::Shop(s) => i.shop_wakes.get(s).copied(),
            });
            self.schedule(target, at);
        }
        // The decisions are the caller's (the store keeps no trace).
        out.extend(applied.decisions);
    }

    fn schedule(&mut self, target: Target, at: Option<Timestamp>) {
        if let Some(old) = self.timer_of.remove(&target) {
            self.timers.remove(&(old, target.clone()));
        }
        if let Some(t) = at {
            // A timer never fires in the past: due no earlier than now.
            let t = t.max(self.now);
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
