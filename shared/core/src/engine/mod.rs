//! The engine: `(customer state, input, now) -> (new state, decisions,
//! next wake-up)`.
//!
//! An input is an event about the customer, a wake-up (the instant the
//! previous call asked to be called again), or a campaign enrolment. Per
//! input the engine applies the event to the profile, ends runs whose goal
//! was reached, resumes runs waiting for it, evaluates the segments that
//! may have changed, starts the runs the event or the segment transitions
//! trigger, and advances every run that is due — highest priority first,
//! so a checkout reminder takes the contact budget before a newsletter.
//! The returned `wake` is the single next instant anything can happen for
//! this customer with no new event; the runtime keeps one timer for it.

pub mod shop;

mod dates;
mod entry;
mod matching;
mod results;
mod runner;

pub use dates::{month_day, next_occurrence};
pub(crate) use matching::matches;
use matching::matches_recorded;

use crate::config::Config;
use crate::customer::profile::Changes;
use crate::customer::state::{CustomerState, Reminder, Run, Wait};
use crate::flow::{FlowDef, MatchRef};
use crate::model::decision::{Decision, Kind};
use crate::model::event::{Event, EventKind, ReplenishProps, VariantProps};
use crate::model::ids::{EventId, ProfileId, ShopId};
use crate::model::reason::{About, Part, Reason};
use crate::predict::forecast::StoreModel;
use crate::segment::condition::{earliest, Ctx, Eval};
use crate::segment::{Dirty, Transition};
use crate::speed::kept_props::{Kept, PropsRef};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long event ids are remembered for de-duplication.
pub const DEDUPE_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 30);
/// Default age past which an event starts no run.
pub const DEFAULT_MAX_AGE: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Input {
    Event(Event),
    /// The instant asked for by the last call has come (or any time: a
    /// wake-up with nothing due changes nothing).
    Wake,
    /// Enrol this customer in a campaign flow (the runtime lists the
    /// campaign segment's members at the campaign's start).
    Campaign {
        flow: String,
    },
}

/// What one call decided.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub decisions: Vec<Decision>,
    /// The next instant this customer needs the engine with no new event.
    pub wake: Option<Timestamp>,
    /// Back-in-stock requests for the store's waitlist.
    pub waitlist: Vec<VariantProps>,
    /// Whether the state changed (and must be written back).
    pub changed: bool,
}

/// The engine for one store configuration. Cheap to share.
#[derive(Debug, Clone)]
pub struct Engine {
    pub config: Arc<Config>,
    /// Each shop's prediction model, shared by every clone: a refit
    /// reaches all workers at once, and each customer at their next
    /// evaluation.
    models: Arc<std::sync::RwLock<BTreeMap<ShopId, Arc<StoreModel>>>>,
}

pub(crate) struct Cx<'a> {
    pub cfg: &'a Config,
    pub now: Timestamp,
    pub tz: TimeZone,
    pub out: Outcome,
    /// Profile parts changed by flow steps, for the next segment pass.
    pub pending: Changes,
    /// The profile's label (email or id) for decisions, made once per call.
    pub label: std::cell::RefCell<Option<Arc<str>>>,
    /// The customer's shop's prediction model, when fitted.
    pub model: Option<Arc<StoreModel>>,
}

impl<'a> Cx<'a> {
    #[inline]
    pub fn decision(&self, st: &CustomerState, kind: Kind) -> Decision {
        let label = self
            .label
            .borrow_mut()
            .get_or_insert_with(|| match st.profile.email() {
                Some(e) => Arc::from(e.as_str()),
                None => st.profile.id.shared().clone(),
            })
            .clone();
        Decision::new(self.now, kind, label, st.profile.id.clone())
    }

    /// The profile's identity may have changed: label it afresh.
    pub fn relabel(&self) {
        self.label.borrow_mut().take();
    }
}

impl Engine {
    pub fn new(config: Config) -> Self {
        Engine {
            config: Arc::new(config),
            models: Default::default(),
        }
    }

    /// Sets (or, with `None`, drops) a shop's prediction model.
    pub fn set_model(&self, shop: &ShopId, model: Option<StoreModel>) {
        let mut m = self.models.write().unwrap_or_else(|e| e.into_inner());
        match model {
            Some(model) => m.insert(shop.clone(), Arc::new(model)),
            None => m.remove(shop),
        };
    }

    /// A shop's prediction model, when it has one.
    pub fn model(&self, shop: &ShopId) -> Option<Arc<StoreModel>> {
        let m = self.models.read().unwrap_or_else(|e| e.into_inner());
        m.get(shop).cloned()
    }

    /// This engine with the models `other` holds, shared from now on (a
    /// reloaded configuration keeps the fitted models).
    pub fn with_models_of(mut self, other: &Engine) -> Self {
        self.models = other.models.clone();
        self
    }

    pub fn new_state(&self, id: ProfileId, shop: ShopId, now: Timestamp) -> CustomerState {
        CustomerState::new(id, shop, now)
    }

    /// Campaign flows and the instant (store time) they enrol their segment.
    pub fn campaigns(&self) -> Vec<(String, String, Timestamp)> {
        let tz = TimeZone::get(&self.config.settings.store.timezone).unwrap_or(TimeZone::UTC);
        self.config
            .by_priority
            .iter()
            .filter_map(|f| {
                let c = f.trigger.campaign.as_ref()?;
                let dt: jiff::civil::DateTime = c.start.parse().ok()?;
                let t = dt.to_zoned(tz.clone()).ok()?.timestamp();
                Some((f.id.to_string(), c.segment.clone(), t))
            })
            .collect()
    }

    pub fn handle(&self, st: &mut CustomerState, input: Input, now: Timestamp) -> Outcome {
        st.prefetch();
        // The event id hashed once: looked up here and below, then marked.
        let id_hash = match &input {
            Input::Event(e) => crate::customer::seen_ids::id_hash(e.id.as_str()),
            _ => 0,
        };
        let duplicate = matches!(&input, Input::Event(_) if st.seen.contains_hash(id_hash));
        let mut cx = Cx {
            cfg: &self.config,
            now,
            tz: st.profile.time_zone(&self.config.settings),
            out: Outcome {
                // An event makes about ten decisions, and some more than
                // twenty: one allocation, not growths that each copy the
                // decisions so far.
                decisions: Vec::with_capacity(32),
                ..Default::default()
            },
            pending: Changes::default(),
            label: Default::default(),
            model: self.model(&st.profile.shop),
        };
        match input {
            Input::Event(e) => self.on_event(st, e, id_hash, &mut cx),
            Input::Wake => {}
            Input::Campaign { flow } => self.on_campaign(st, &flow, &mut cx),
        }
        self.on_time(st, &mut cx);
        self.advance(st, &mut cx);
        self.housekeeping(st, &mut cx);
        st.wake = self.next_wake(st, &cx);
        let mut out = cx.out;
        out.wake = st.wake;
        // A duplicate changes nothing but the wake-up it recomputed.
        out.changed = !duplicate;
        if out.changed {
            st.version += 1;
        }
        out
    }

    fn on_event(&self, st: &mut CustomerState, mut e: Event, id_hash: u64, cx: &mut Cx) {
        if st.seen.contains_hash(id_hash) {
            let mut d = cx.decision(st, Kind::Skipped);
            d.reason = Some(reason![
                "duplicate event ",
                e.id.shared(),
                " (",
                crate::model::reason::Part::event_name(&e.kind),
                "): already applied"
            ]);
            cx.out.decisions.push(d);
            return;
        }
        remember(st, id_hash, cx.now);
        let (adjusted, more) = crate::model::limits::bring_within(&mut e, cx.now);
        if !adjusted.is_empty() {
            let mut d = cx.decision(st, Kind::Adjusted);
            let mut why = adjusted
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            if more > 0 {
                why.push_str(&format!("; and {more} more"));
            }
            d.reason = Some(
                format!(
                    "event {} ({}) out of range: {why}",
                    e.id.as_str(),
                    e.kind.name()
                )
                .into(),
            );
            cx.out.decisions.push(d);
        }
        match &e.kind {
            // Store-level facts: the store's own state handles them.
            EventKind::InventoryChanged(_) | EventKind::PriceChanged(_) => return,
            EventKind::BackInStockRequested(v) => cx.out.waitlist.push(v.clone()),
            _ => {}
        }
        self.ingest(st, &Arc::new(e), id_hash, cx);
    }

    /// Applies one event (real or made by the engine; `id_hash` is
    /// [`crate::customer::seen_ids::id_hash`] of its id) and reacts to it.
    fn ingest(&self, st: &mut CustomerState, e: &Arc<Event>, id_hash: u64, cx: &mut Cx) {
        let cfg = cx.cfg;
        let changes = st.profile.apply(e, &cfg.settings);
        let mut zone_moved = false;
        if changes.profile {
            cx.relabel();
            // Country or zone may have changed: every local-day edge moves.
            let tz = st.profile.time_zone(&cfg.settings);
            zone_moved = tz != cx.tz;
            cx.tz = tz;
        }
        // What the configuration does with this name, looked up once.
        let facts = cfg.facts(e.name());
        let triggers = &facts.triggers;
        let props = if facts.reads_props {
            Arc::new(match &facts.props_key {
                Some(k) => e.kind.property_json(k),
                None => e.kind.properties_json(),
            })
        } else {
            crate::speed::kept_props::no_props()
        };
        // Segment filters and the history read it: computed once here, and
        // only for events some segment filter can rule out with it.
        let bits = if facts.reads_fingerprint {
            crate::speed::fingerprint::of(&props)
        } else {
            crate::speed::fingerprint::UNKNOWN
        };
        if let Some(keep) = facts.keep {
            let kept_props = if facts.history_props {
                Kept::project(&props, facts.history_key.as_ref())
            } else {
                Kept::None
            };
            st.history
                .record_kept(e, id_hash, kept_props, bits, keep, cx.now);
        }
        results::on_event(st, e, cx);
        if let EventKind::OrderPlaced(o) = &e.kind {
            for li in &o.line_items {
                let Some(every) = cfg
                    .settings
                    .products
                    .get(&li.product_id)
                    .and_then(|p| p.replenish_after)
                else {
                    continue;
                };
                let due = every.add_local(e.occurred_at, &cx.tz);
                let newer = st
                    .reminders
                    .get(&li.product_id)
                    .map(|r| r.ordered_at < e.occurred_at)
                    .unwrap_or(true);
                if newer {
                    st.reminders.insert(
                        li.product_id.clone(),
                        Reminder {
                            due,
                            order_id: o.order_id.clone(),
                            ordered_at: e.occurred_at,
                            title: li.title.clone(),
                            url: li.url.clone(),
                            image_url: li.image_url.clone(),
                        },
                    );
                }
            }
        }

        // Goals end runs (a conversion); a wait_for resumes. An event no
        // flow names as a goal or `wait_for` can do neither.
        let mut i = 0;
        let ends_or_resumes = facts.ends_or_resumes_runs;
        while ends_or_resumes && i < st.runs.len() {
            // The definition is borrowed, not cloned: most runs neither end
            // nor resume here.
            if !st.runs[i].resolve_def(cfg) {
                i += 1;
                continue;
            }
            let run = &st.runs[i];
            let flow = run.def.0.as_ref().expect("resolved above");
            let reached = e.occurred_at >= run.started_at
                && flow.goals.iter().any(|g| {
                    matches(
                        g.view(),
                        e.name(),
                        PropsRef::Json(&props),
                        run.trigger.as_deref(),
                    )
                });
            if reached {
                let run = st.runs.remove(i);
                let mut d = cx.decision(st, Kind::FlowExit);
                d.flow = Some(run.flow.clone());
                d.version = Some(run.version);
                d.run = Some(run.id.clone());
                d.reason = Some(Reason::about(About::GoalReached, e));
                d.conversion = true;
                cx.out.decisions.push(d);
                continue;
            }
            if let Wait::ForEvent(_) = run.wait {
                if let Some(w) = flow.steps.get(run.step).and_then(|s| s.action.awaits()) {
                    if e.occurred_at >= run.cursor
                        && matches(
                            w.event,
                            e.name(),
                            PropsRef::Json(&props),
                            run.trigger.as_deref(),
                        )
                    {
                        let target = w.on_event.map(str::to_string);
                        let flow = flow.clone();
                        let run = &mut st.runs[i];
                        run.cursor = run.cursor.max(e.occurred_at.min(cx.now));
                        runner::goto(run, &flow, target.as_deref());
                    }
                }
            }
            i += 1;
        }

        let transitions = self.update_segments(
            st,
            cx,
            Dirty {
                events: &[(e.name(), &props, bits)],
                changes,
                all: zone_moved,
            },
        );
        self.trigger_event(st, e, triggers, &props, cx);
        self.trigger_segments(st, &transitions, cx);
    }

    pub(crate) fn update_segments(
        &self,
        st: &mut CustomerState,
        cx: &mut Cx,
        dirty: Dirty,
    ) -> Vec<Transition> {
        let cfg = cx.cfg;
        let ts = cfg.segments.update(
            &mut st.segments,
            &st.profile,
            &st.history,
            &cfg.settings,
            &cx.tz,
            cx.now,
            &dirty,
            cx.model.as_deref(),
        );
        for t in &ts {
            let mut d = cx.decision(
                st,
                if t.entered {
                    Kind::SegmentEnter
                } else {
                    Kind::SegmentExit
                },
            );
            d.segment = Some(t.segment.clone());
            cx.out.decisions.push(d);
        }
        ts
    }

    /// Wake-up work: due segment edges, replenishment reminders, date triggers.
    fn on_time(&self, st: &mut CustomerState, cx: &mut Cx) {
        let cfg = cx.cfg;
        let ts = self.update_segments(st, cx, Dirty::default());
        self.trigger_segments(st, &ts, cx);

        let due: Vec<(String, Reminder)> = st
            .reminders
            .iter()
            .filter(|(_, r)| r.due <= cx.now)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        for (product, r) in due {
            st.reminders.remove(&product);
            let e = Event {
                id: EventId::parse(format!("replenish:{}:{}", r.order_id, product))
                    .expect("non-empty"),
                shop: st.profile.shop.clone(),
                occurred_at: r.due,
                customer: Default::default(),
                kind: EventKind::ReplenishmentDue(ReplenishProps {
                    product_id: product,
                    title: r.title,
                    order_id: r.order_id,
                    url: r.url,
                    image_url: r.image_url,
                }),
            };
            let id_hash = crate::customer::seen_ids::id_hash(e.id.as_str());
            if remember(st, id_hash, cx.now).is_none() {
                self.ingest(st, &Arc::new(e), id_hash, cx);
            }
        }

        for flow in cfg.date_triggered() {
            let Some(prop) = &flow.trigger.date else {
                continue;
            };
            let Some((m, d)) = st.profile.field_str(prop).and_then(month_day) else {
                continue;
            };
            let cursor = *st.date_cursors.entry(flow.id.to_string()).or_insert(cx.now);
            let mut cur = cursor;
            while let Some(occ) =
                next_occurrence(m, d, flow.trigger.offset, flow.trigger.at, cur, &cx.tz)
            {
                if occ > cx.now {
                    break;
                }
                cur = occ;
                let id = format!("date:{}:{}:{}", flow.id, prop, occ);
                self.try_enter(st, flow, None, &id, String::new(), occ, cx);
            }
            st.date_cursors.insert(flow.id.to_string(), cur);
        }
    }

    pub(crate) fn eval(
        &self,
        st: &CustomerState,
        cx: &Cx,
        c: &crate::segment::condition::Condition,
    ) -> Eval {
        let ms = &st.segments;
        let lookup = |id: &str| match ms.get(id) {
            Some(m) => Eval {
                value: m.member,
                next: m.next,
            },
            None => Eval {
                value: false,
                next: None,
            },
        };
        let ctx = Ctx {
            profile: &st.profile,
            history: &st.history,
            settings: &cx.cfg.settings,
            tz: &cx.tz,
            now: cx.now,
            segment: &lookup,
            dates: &Default::default(),
            model: cx.model.as_deref(),
        };
        c.eval(&ctx)
    }

    /// Runs every due run, highest priority first; flow steps that change
    /// the profile feed back into segments and triggers.
    fn advance(&self, st: &mut CustomerState, cx: &mut Cx) {
        for _round in 0..64 {
            // Keys borrowed: the chosen run is named by its position.
            let next = st
                .runs
                .iter()
                .enumerate()
                .map(|(i, r)| (r, i))
                .filter(|(r, _)| r.wait.due(cx.now))
                .min_by(|(a, _), (b, _)| {
                    let key = |r: &'_ Run| {
                        (
                            r.rank,
                            r.wait.instant().unwrap_or(Timestamp::MIN),
                            r.started_at,
                        )
                    };
                    key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
                })
                .map(|(_, i)| i);
            let Some(pos) = next else { break };
            runner::run_steps(self, st, pos, cx);
            if cx.pending.any() {
                let changes = std::mem::take(&mut cx.pending);
                let ts = self.update_segments(
                    st,
                    cx,
                    Dirty {
                        events: &[],
                        changes,
                        all: false,
                    },
                );
                self.trigger_segments(st, &ts, cx);
            }
        }
    }

    fn housekeeping(&self, st: &mut CustomerState, cx: &mut Cx) {
        let now = cx.now;
        // Pruned once its oldest entry is a day past the window, so that
        // pruning runs about daily, not on every event of a busy customer.
        if st.seen_oldest.is_some_and(|t| {
            crate::model::duration::add_dur(t, DEDUPE_WINDOW + SignedDuration::from_hours(24))
                <= now
        }) {
            st.seen.retain(|at| *at + DEDUPE_WINDOW > now);
            st.seen_oldest = st.seen.values().min().copied();
        }
        if st.ledger_oldest.is_some_and(|t| {
            crate::model::duration::add_dur(t, DEDUPE_WINDOW + SignedDuration::from_hours(24))
                <= now
        }) {
            st.ledger.retain(|_, at| *at + DEDUPE_WINDOW > now);
            st.ledger_oldest = st.ledger.values().min().copied();
        }
        st.history.prune(now, cx.cfg);
        if !st.results.is_empty() {
            let a = &cx.cfg.settings.attribution;
            st.results.prune(now, a.longest_window(), a.arm_window());
        }
        crate::policy::prune_log(&mut st.contacts, &cx.cfg.settings.policy.caps, now);
    }

    fn next_wake(&self, st: &CustomerState, cx: &Cx) -> Option<Timestamp> {
        let mut w = st.segments.next;
        for r in &st.runs {
            w = earliest(w, r.wait.instant());
        }
        for r in st.reminders.values() {
            w = earliest(w, Some(r.due));
        }
        for flow in cx.cfg.date_triggered() {
            let Some(prop) = &flow.trigger.date else {
                continue;
            };
            let Some((m, d)) = st.profile.field_str(prop).and_then(month_day) else {
                continue;
            };
            let cur = st.date_cursors.get(&*flow.id).copied().unwrap_or(cx.now);
            w = earliest(
                w,
                next_occurrence(m, d, flow.trigger.offset, flow.trigger.at, cur, &cx.tz),
            );
        }
        // Never ask to be woken in the past: what is due was done now.
        w.map(|t| t.max(cx.now))
    }
}

/// `n` in decimal, written into `buf` (no allocation on the hot path).
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

/// Marks an event id (its [`crate::customer::seen_ids::id_hash`]) as applied;
/// returns the previous mark, if any.
fn remember(st: &mut CustomerState, id_hash: u64, now: Timestamp) -> Option<Timestamp> {
    st.seen_oldest = Some(st.seen_oldest.map_or(now, |t| t.min(now)));
    st.seen.insert_hash(id_hash, now)
}
