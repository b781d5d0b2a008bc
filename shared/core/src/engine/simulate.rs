//! The simulator: the whole engine on a virtual clock, with in-memory
//! stores. It replays a year of events in seconds; `storeflow simulate`
//! is a thin wrapper around it, and the scenario tests drive it directly.
//!
//! Like every runtime it keeps one timer per customer (the engine's
//! `wake`), one per store (back-in-stock batches) and the campaign
//! calendar — and it never scans customers to keep segments current.

use crate::customer::identity::{self, Resolution};
use crate::customer::state::CustomerState;
use crate::engine::shop::{ShopInput, ShopState};
use crate::engine::{Engine, Input};
use crate::model::decision::{Decision, Kind};
use crate::model::event::{Event, EventKind};
use crate::model::ids::{ProfileId, ShopId};
use jiff::Timestamp;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    Customer(ProfileId),
    Shop(ShopId),
}

pub struct Simulator {
    engine: Engine,
    now: Timestamp,
    customers: BTreeMap<ProfileId, CustomerState>,
    index: HashMap<String, ProfileId>,
    shops: BTreeMap<ShopId, ShopState>,
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
            engine,
            now: Timestamp::MIN,
            customers: BTreeMap::new(),
            index: HashMap::new(),
            shops: BTreeMap::new(),
            timers: BTreeSet::new(),
            timer_of: HashMap::new(),
            campaigns,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The customer known by this email, if any.
    pub fn customer_by_email(&self, email: &str) -> Option<&CustomerState> {
        let e = crate::model::ids::Email::parse(email).ok()?;
        let id = self
            .index
            .iter()
            .find(|(k, _)| k.ends_with(&format!("|email|{e}")))
            .map(|(_, v)| v)?;
        self.customers.get(id)
    }

    pub fn customers(&self) -> impl Iterator<Item = &CustomerState> {
        self.customers.values()
    }

    /// Runs the clock to `at` (timers, campaigns), then applies the event.
    pub fn feed(&mut self, at: Timestamp, event: Event) -> Vec<Decision> {
        let mut out = self.run_until(at);
        self.now = self.now.max(at);
        self.apply(event, &mut out);
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
                let members: Vec<ProfileId> = self
                    .customers
                    .iter()
                    .filter(|(_, c)| c.segments.is_member(&segment))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in members {
                    self.handle(&id, Input::Campaign { flow: flow.clone() }, &mut out);
                }
                continue;
            }
            let (t, target) = self.timers.pop_first().expect("peeked");
            self.timer_of.remove(&target);
            match target {
                Target::Customer(id) => self.handle(&id, Input::Wake, &mut out),
                Target::Shop(shop) => self.shop(&shop, None, &mut out),
            }
            let _ = t;
        }
        self.now = self.now.max(until);
        out
    }

    fn schedule(&mut self, target: Target, at: Option<Timestamp>) {
        if let Some(old) = self.timer_of.remove(&target) {
            self.timers.remove(&(old, target.clone()));
        }
        if let Some(t) = at {
            // A timer never fires in the past, nor twice at the same instant
            // for nothing: it is due no earlier than the next microsecond.
            let t = t.max(self.now);
            self.timers.insert((t, target.clone()));
            self.timer_of.insert(target, t);
        }
    }

    fn apply(&mut self, event: Event, out: &mut Vec<Decision>) {
        if matches!(
            event.kind,
            EventKind::InventoryChanged(_) | EventKind::PriceChanged(_)
        ) {
            let shop = event.shop.clone();
            self.shop(&shop, Some((&event, None)), out);
            return;
        }
        let keys = identity::keys(&event.shop, &event.customer);
        let found: Vec<Option<ProfileId>> =
            keys.iter().map(|k| self.index.get(k).cloned()).collect();
        let id = match identity::resolve(&keys, &found) {
            Resolution::Unattributed => {
                let mut d = Decision::new(
                    self.now,
                    Kind::Skipped,
                    "-".into(),
                    ProfileId::parse("-").expect("non-empty"),
                );
                d.reason =
                    Some(format!("event {} ({}) names no customer", event.id, event.name()).into());
                out.push(d);
                return;
            }
            Resolution::New(id) => {
                let st = self.engine.new_state(
                    id.clone(),
                    event.shop.clone(),
                    event.occurred_at.min(self.now),
                );
                self.customers.insert(id.clone(), st);
                id
            }
            Resolution::Existing(id) => id,
            Resolution::Merge { into, from } => {
                for f in from {
                    if let Some(other) = self.customers.remove(&f) {
                        self.schedule(Target::Customer(f.clone()), None);
                        for v in self.index.values_mut() {
                            if *v == f {
                                *v = into.clone();
                            }
                        }
                        let settings = &self.engine.config.settings;
                        self.customers
                            .get_mut(&into)
                            .expect("exists")
                            .absorb(other, settings);
                    }
                }
                into
            }
        };
        for k in keys {
            self.index.insert(k, id.clone());
        }
        let is_request = matches!(event.kind, EventKind::BackInStockRequested(_));
        let ev = event.clone();
        self.handle(&id, Input::Event(event), out);
        if is_request {
            let shop = ev.shop.clone();
            self.shop(&shop, Some((&ev, Some(&id))), out);
        }
    }

    fn handle(&mut self, id: &ProfileId, input: Input, out: &mut Vec<Decision>) {
        let Some(st) = self.customers.get_mut(id) else {
            return;
        };
        let o = self.engine.handle(st, input, self.now);
        out.extend(o.decisions);
        self.schedule(Target::Customer(id.clone()), o.wake);
    }

    fn shop(
        &mut self,
        shop: &ShopId,
        event: Option<(&Event, Option<&ProfileId>)>,
        out: &mut Vec<Decision>,
    ) {
        let state = self.shops.entry(shop.clone()).or_default();
        let input = match event {
            Some((e, p)) => ShopInput::Event(e, p),
            None => ShopInput::Wake,
        };
        let o = self.engine.handle_shop(state, input, self.now);
        self.schedule(Target::Shop(shop.clone()), o.wake);
        for (p, mut e) in o.notify {
            e.shop = shop.clone();
            self.handle(&p, Input::Event(e), out);
        }
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

/// Privacy requests on the simulator's in-memory stores.
impl Simulator {
    /// The profiles this identity names (every key that is known).
    fn profiles_of(
        &self,
        shop: &ShopId,
        who: &crate::model::event::Identity,
    ) -> BTreeSet<ProfileId> {
        identity::keys(shop, who)
            .iter()
            .filter_map(|k| self.index.get(k).cloned())
            .collect()
    }

    /// Everything stored about the customer this identity names: one JSON
    /// document per profile found (none if the customer is unknown).
    pub fn export_customer(
        &self,
        shop: &ShopId,
        who: &crate::model::event::Identity,
    ) -> Vec<serde_json::Value> {
        self.profiles_of(shop, who)
            .iter()
            .filter_map(|p| self.customers.get(p))
            .map(CustomerState::export)
            .collect()
    }

    /// Erases the customer: their state, every lookup key that leads to
    /// them and their timer. Returns what proves each erasure.
    pub fn erase_customer(
        &mut self,
        shop: &ShopId,
        who: &crate::model::event::Identity,
        at: Timestamp,
    ) -> Vec<crate::customer::privacy::Erasure> {
        let ids = self.profiles_of(shop, who);
        self.erase_profiles(&ids, at)
    }

    /// Erases every customer of the shop.
    pub fn erase_shop(
        &mut self,
        shop: &ShopId,
        at: Timestamp,
    ) -> Vec<crate::customer::privacy::Erasure> {
        let ids: BTreeSet<ProfileId> = self
            .customers
            .iter()
            .filter(|(_, c)| &c.profile.shop == shop)
            .map(|(id, _)| id.clone())
            .collect();
        self.shops.remove(shop);
        self.schedule(Target::Shop(shop.clone()), None);
        self.erase_profiles(&ids, at)
    }

    fn erase_profiles(
        &mut self,
        ids: &BTreeSet<ProfileId>,
        at: Timestamp,
    ) -> Vec<crate::customer::privacy::Erasure> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(st) = self.customers.remove(id) {
                out.push(st.erasure(at));
            }
            self.schedule(Target::Customer(id.clone()), None);
        }
        self.index.retain(|_, p| !ids.contains(p));
        out
    }
}
