//! Dynamic segments: customers enter and leave on their own.
//!
//! A [`SegmentSet`] is compiled once from configuration: segments in
//! dependency order, and for each one what it reads (event names, profile
//! fields, orders, activity, time). Per event only the segments that read
//! something the event changed are evaluated again, plus those whose stored
//! "next change" instant has come — so the cost of an event does not grow
//! with the number of segments that cannot be affected, nor with the number
//! of customers, and no scan ever runs to keep time-based segments current.

pub mod compare;
pub mod condition;

use crate::config::settings::Settings;
use crate::customer::history::History;
use crate::customer::profile::{Changes, Profile};
use crate::model::links::NameMap;
use crate::predict::forecast::StoreModel;
use crate::segment::condition::{Condition, Ctx, Eval, Metric, PropertyMatch};
use crate::speed::bitset::BitSet;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    pub id: std::sync::Arc<str>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub condition: Condition,
}

/// What a segment's value depends on.
#[derive(Debug, Clone, Default)]
pub struct Deps {
    pub events: BTreeSet<String>,
    pub profile: bool,
    pub orders: bool,
    pub activity: bool,
    pub segments: BTreeSet<String>,
    /// Positions (in dependency order) of the segments referred to.
    pub segment_idx: Vec<usize>,
}

impl Deps {
    pub fn of(c: &Condition) -> Deps {
        let mut d = Deps::default();
        c.walk(&mut |c| match c {
            Condition::Property { .. } | Condition::Consent(_) | Condition::Tag(_) => {
                d.profile = true
            }
            Condition::Event(e) => {
                d.events.insert(e.event.clone());
            }
            Condition::Metric { metric, .. } => match metric {
                Metric::DaysSinceLastActivity | Metric::DaysSinceCreated => d.activity = true,
                Metric::Points => {
                    d.profile = true;
                    d.orders = true
                }
                _ => d.orders = true,
            },
            Condition::Lifecycle(_) | Condition::Tier(_) => {
                d.profile = true;
                d.orders = true
            }
            Condition::Segment(s) => {
                d.segments.insert(s.clone());
            }
            Condition::All(_) | Condition::Any(_) | Condition::Not(_) => {}
        });
        d
    }
}

/// A customer's membership of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub member: bool,
    /// When the current value began.
    pub since: Timestamp,
    /// The next instant the value could change with no new event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Timestamp>,
}

/// Memberships of every segment, as kept in a customer's state: one slot
/// per segment, in the compiled set's order (`layout` names that order), so
/// evaluation reaches a segment's membership by position, not by name.
///
/// Every slot is evaluated once its layout is set, so a pass evaluates only
/// the segments something touched. A stored state with a slot never
/// evaluated is read with no layout: its first pass evaluates everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredMemberships")]
pub struct Memberships {
    pub slots: Vec<Slot>,
    /// Fingerprint of the segment order the slots follow.
    #[serde(default)]
    pub layout: u64,
    /// The earliest `next` of all, so a wake-up finds due segments without
    /// looking at each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Timestamp>,
}

/// [`Memberships`] as stored.
#[derive(Deserialize)]
struct StoredMemberships {
    slots: Vec<Slot>,
    #[serde(default)]
    layout: u64,
    #[serde(default)]
    next: Option<Timestamp>,
}

impl From<StoredMemberships> for Memberships {
    fn from(s: StoredMemberships) -> Self {
        let complete = s.slots.iter().all(|x| x.membership.is_some());
        Memberships {
            slots: s.slots,
            layout: if complete { s.layout } else { NO_LAYOUT },
            next: s.next,
        }
    }
}

/// The layout of memberships to be evaluated again in full.
const NO_LAYOUT: u64 = 0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub segment: String,
    /// None until first evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
}

impl Memberships {
    pub fn get(&self, id: &str) -> Option<&Membership> {
        self.slots
            .iter()
            .find(|s| s.segment == id)
            .and_then(|s| s.membership.as_ref())
    }
    pub fn is_member(&self, id: &str) -> bool {
        self.get(id).map(|m| m.member).unwrap_or(false)
    }
    /// Every segment with its membership (false when not yet evaluated).
    pub fn all(&self) -> impl Iterator<Item = (&str, bool)> {
        self.slots
            .iter()
            .map(|s| (s.segment.as_str(), s.membership.is_some_and(|m| m.member)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub segment: std::sync::Arc<str>,
    pub entered: bool,
}

/// Alternative `where` lists (any may pass); empty: every event passes.
type Filters = Vec<Vec<PropertyMatch>>;

/// The segments that count events of one name.
#[derive(Debug, Clone, Default)]
struct EventReaders {
    /// Each segment with the `where` filters of its conditions on the name.
    segments: Vec<(usize, Filters)>,
    /// Whether some filter has a fingerprint mask: only then is an event's
    /// `speed::fingerprint::of` worth computing.
    masked: bool,
}

/// What changed since the last evaluation.
#[derive(Debug, Clone, Default)]
pub struct Dirty<'a> {
    /// Events applied: name, properties (`Null` when not needed) and their
    /// `speed::fingerprint::of`.
    pub events: &'a [(&'a str, &'a serde_json::Value, u64)],
    pub changes: Changes,
    /// Evaluate every segment (a new profile, a merge, a configuration change).
    pub all: bool,
}

#[derive(Debug, Clone)]
pub struct SegmentSet {
    /// In dependency order: a segment comes after those it refers to.
    defs: Vec<SegmentDef>,
    deps: Vec<Deps>,
    index: NameMap<usize>,
    /// Segments to evaluate again, by what changed.
    /// Per event name, the segments that count such events, with the
    /// `where` filters of their conditions on it: an event that passes none
    /// cannot change the segment. An empty filter list passes every event.
    by_event: NameMap<EventReaders>,
    on_profile: Vec<usize>,
    on_orders: Vec<usize>,
    on_activity: Vec<usize>,
    /// For each segment, the segments that refer to it.
    referrers: Vec<Vec<usize>>,
    layout: u64,
}

impl SegmentSet {
    /// Orders segments by their references. Errors name the segment that
    /// refers to an unknown one or closes a cycle.
    pub fn new(defs: Vec<SegmentDef>) -> Result<Self, (String, String)> {
        let by_id: HashMap<String, &SegmentDef> =
            defs.iter().map(|d| (d.id.to_string(), d)).collect();
        let mut order: Vec<String> = Vec::new();
        let mut state: HashMap<String, u8> = HashMap::new(); // 1 visiting, 2 done
        fn visit(
            id: &str,
            by_id: &HashMap<String, &SegmentDef>,
            state: &mut HashMap<String, u8>,
            order: &mut Vec<String>,
            path: &mut Vec<String>,
        ) -> Result<(), (String, String)> {
            match state.get(id) {
                Some(2) => return Ok(()),
                Some(1) => {
                    path.push(id.to_string());
                    return Err((
                        id.to_string(),
                        format!(
                            "segments refer to each other in a cycle: {}",
                            path.join(" -> ")
                        ),
                    ));
                }
                _ => {}
            }
            state.insert(id.to_string(), 1);
            path.push(id.to_string());
            let d = by_id[id];
            for r in Deps::of(&d.condition).segments {
                if !by_id.contains_key(&r) {
                    return Err((id.to_string(), format!("refers to unknown segment {r:?}")));
                }
                visit(&r, by_id, state, order, path)?;
            }
            path.pop();
            state.insert(id.to_string(), 2);
            order.push(id.to_string());
            Ok(())
        }
        let mut ids: Vec<&String> = by_id.keys().collect();
        ids.sort();
        for id in ids {
            visit(id, &by_id, &mut state, &mut order, &mut Vec::new())?;
        }
        let mut sorted = Vec::new();
        let mut deps: Vec<Deps> = Vec::new();
        let mut index = NameMap::default();
        for id in order {
            let d = by_id[&id].clone();
            let mut dep = Deps::of(&d.condition);
            dep.segment_idx = dep.segments.iter().map(|r| index[r]).collect();
            // A reference carries what the referred segment reads.
            for r in dep.segments.clone() {
                let rd: &Deps = &deps[index[&r]];
                dep.events.extend(rd.events.iter().cloned());
                dep.profile |= rd.profile;
                dep.orders |= rd.orders;
                dep.activity |= rd.activity;
            }
            index.insert(id, sorted.len());
            sorted.push(d);
            deps.push(dep);
        }
        let mut by_event: NameMap<EventReaders> = NameMap::default();
        let (mut on_profile, mut on_orders, mut on_activity) = (Vec::new(), Vec::new(), Vec::new());
        let mut referrers = vec![Vec::new(); sorted.len()];
        for (i, d) in deps.iter().enumerate() {
            let mut filters: BTreeMap<String, Vec<Vec<PropertyMatch>>> = BTreeMap::new();
            let mut all_filters = vec![&sorted[i].condition];
            // Referred segments' event conditions count too.
            let mut stack: Vec<usize> = deps[i].segment_idx.clone();
            while let Some(j) = stack.pop() {
                all_filters.push(&sorted[j].condition);
                stack.extend(deps[j].segment_idx.iter().copied());
            }
            for c in all_filters {
                c.walk(&mut |c| {
                    if let Condition::Event(ec) = c {
                        filters
                            .entry(ec.event.clone())
                            .or_default()
                            .push(ec.filter.clone());
                    }
                });
            }
            for (name, fs) in filters {
                // Any unfiltered condition makes every such event relevant.
                let fs = if fs.iter().any(|f| f.is_empty()) {
                    Vec::new()
                } else {
                    fs
                };
                let readers = by_event.entry(name).or_default();
                readers.masked |= fs.iter().flatten().any(|m| m.mask().is_some());
                readers.segments.push((i, fs));
            }
            if d.profile {
                on_profile.push(i);
            }
            if d.orders {
                on_orders.push(i);
            }
            if d.activity {
                on_activity.push(i);
            }
            for &r in &d.segment_idx {
                referrers[r].push(i);
            }
        }
        let ids: Vec<&str> = sorted.iter().map(|d| &*d.id).collect();
        let layout =
            u64::from_str_radix(&crate::model::links::short_hash(&ids)[..16], 16).unwrap_or(0);
        let layout = if layout == NO_LAYOUT { 1 } else { layout };
        Ok(SegmentSet {
            defs: sorted,
            deps,
            index,
            by_event,
            on_profile,
            on_orders,
            on_activity,
            referrers,
            layout,
        })
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
    pub fn get(&self, id: &str) -> Option<&SegmentDef> {
        self.index.get(id).map(|i| &self.defs[*i])
    }
    pub fn iter(&self) -> impl Iterator<Item = &SegmentDef> {
        self.defs.iter()
    }
    /// Event names that some segment counts.
    pub fn event_names(&self) -> BTreeSet<&str> {
        self.deps
            .iter()
            .flat_map(|d| d.events.iter().map(|s| s.as_str()))
            .collect()
    }

    /// Whether a segment filter on events of this name can use their
    /// fingerprint (otherwise `speed::fingerprint::UNKNOWN` serves).
    pub fn reads_fingerprint(&self, event: &str) -> bool {
        self.by_event.get(event).is_some_and(|r| r.masked)
    }

    /// Evaluates again what may have changed and returns the enter / exit
    /// transitions, updating `ms`.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        ms: &mut Memberships,
        profile: &Profile,
        history: &History,
        settings: &Settings,
        tz: &TimeZone,
        now: Timestamp,
        dirty: &Dirty,
        model: Option<&StoreModel>,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let n = self.defs.len();
        let realigned = ms.layout != self.layout || ms.slots.len() != n;
        if realigned {
            // A new configuration: keep what is known of segments still
            // configured, in the new order; drop the rest.
            let mut old: HashMap<String, Membership> = ms
                .slots
                .drain(..)
                .filter_map(|s| s.membership.map(|m| (s.segment, m)))
                .collect();
            ms.slots = self
                .defs
                .iter()
                .map(|d| Slot {
                    segment: d.id.to_string(),
                    membership: old.remove(&*d.id),
                })
                .collect();
            ms.layout = self.layout;
        }
        let all = dirty.all || realigned;
        let due = ms.next.is_some_and(|t| t <= now);
        if !all && !due && dirty.events.is_empty() && !dirty.changes.any() {
            // Nothing changed and no window edge has come: every membership
            // stands (each slot was evaluated when the layout was set).
            return out;
        }
        // Segments to evaluate (all of them when `all`).
        let mut touched = BitSet::new(n);
        if !all {
            for (name, props, bits) in dirty.events {
                if let Some(readers) = self.by_event.get(*name) {
                    for (i, filters) in &readers.segments {
                        if filters.is_empty()
                            || props.is_null()
                            || filters
                                .iter()
                                .any(|f| f.iter().all(|m| m.test_fp_json(props, *bits)))
                        {
                            touched.insert(*i);
                        }
                    }
                }
            }
            let mut mark = |list: &[usize]| list.iter().for_each(|&i| touched.insert(i));
            if dirty.changes.profile {
                mark(&self.on_profile);
            }
            if dirty.changes.orders {
                mark(&self.on_orders);
            }
            if dirty.changes.activity {
                mark(&self.on_activity);
            }
            if due {
                for (i, s) in ms.slots.iter().enumerate() {
                    if s.membership.and_then(|m| m.next).is_some_and(|t| t <= now) {
                        touched.insert(i);
                    }
                }
            }
        }
        // The slots to read are known now, and each is likely a cache miss
        // (a slot is 72 bytes, and those of one event are far apart): ask
        // for all of them before reading the first.
        if !all {
            let mut from = 0;
            while let Some(i) = touched.next_from(from) {
                crate::speed::prefetch::line(&ms.slots[i]);
                from = i + 1;
            }
        }
        // `ms.next` (the earliest slot `next`) is kept up to date as slots
        // change; scanning every slot again is needed only when the slot
        // that held the earliest instant moves it later.
        let mut rescan = realigned;
        let dates = crate::customer::profile::LocalDates::default();
        let mut from = 0;
        while let Some(i) = if all {
            (from < n).then_some(from)
        } else {
            touched.next_from(from)
        } {
            from = i + 1;
            let def = &self.defs[i];
            let cur = ms.slots[i].membership;
            let e = {
                let slots = &ms.slots;
                let lookup = |id: &str| -> Eval {
                    match self.index.get(id).and_then(|&j| slots[j].membership) {
                        Some(m) => Eval {
                            value: m.member,
                            next: m.next,
                        },
                        None => Eval {
                            value: false,
                            next: None,
                        },
                    }
                };
                let ctx = Ctx {
                    profile,
                    history,
                    settings,
                    tz,
                    now,
                    segment: &lookup,
                    dates: &dates,
                    model,
                };
                def.condition.eval(&ctx)
            };
            let was = cur.map(|m| m.member).unwrap_or(false);
            let since = match cur {
                Some(m) if m.member == e.value => m.since,
                _ => now,
            };
            let new = Membership {
                member: e.value,
                since,
                next: e.next,
            };
            if cur != Some(new) {
                let old_next = cur.and_then(|m| m.next);
                if old_next.is_some() && old_next == ms.next && new.next != old_next {
                    rescan = true;
                } else {
                    ms.next = crate::segment::condition::earliest(ms.next, new.next);
                }
                ms.slots[i].membership = Some(new);
                // Its value or next instant moved: segments that refer to it
                // follow (they come later in dependency order).
                for &j in &self.referrers[i] {
                    touched.insert(j);
                }
            }
            if was != e.value {
                out.push(Transition {
                    segment: def.id.clone(),
                    entered: e.value,
                });
            }
        }
        if rescan {
            ms.next = ms
                .slots
                .iter()
                .filter_map(|s| s.membership.and_then(|m| m.next))
                .min();
        }
        out
    }

    /// Whether some segment compares a predicted number (`p_alive`, …).
    pub fn reads_predictions(&self) -> bool {
        let mut found = false;
        for d in &self.defs {
            d.condition.walk(&mut |c| {
                found |= matches!(
                    c,
                    Condition::Metric {
                        metric: Metric::PAlive
                            | Metric::ExpectedOrders
                            | Metric::PredictedClv
                            | Metric::DaysToNextOrder,
                        ..
                    }
                )
            });
        }
        found
    }

    /// Every segment evaluated from scratch (for tests, reports and the
    /// first look at a profile).
    pub fn evaluate_all(
        &self,
        profile: &Profile,
        history: &History,
        settings: &Settings,
        tz: &TimeZone,
        now: Timestamp,
        model: Option<&StoreModel>,
    ) -> BTreeMap<String, Eval> {
        let mut out: BTreeMap<String, Eval> = BTreeMap::new();
        let dates = crate::customer::profile::LocalDates::default();
        for def in &self.defs {
            let e = {
                let lookup = |id: &str| {
                    out.get(id).copied().unwrap_or(Eval {
                        value: false,
                        next: None,
                    })
                };
                let ctx = Ctx {
                    profile,
                    history,
                    settings,
                    tz,
                    now,
                    segment: &lookup,
                    dates: &dates,
                    model,
                };
                def.condition.eval(&ctx)
            };
            out.insert(def.id.to_string(), e);
        }
        out
    }
}
