//! The condition language of segments, flow filters and branches.
//!
//! ```yaml
//! all:
//!   - event: added_to_cart          # did it at least twice in 7 days …
//!     at_least: 2
//!     within: 7d
//!   - not: { event: order_placed, within: 7d }   # … and no order
//!   - metric: days_since_last_order # local calendar days
//!     gte: 60
//!   - consent: email
//! ```
//!
//! Evaluating a condition gives its value **and the next instant at which
//! the value could change with no new event** (a window edge, a "days since"
//! threshold at local midnight). Composites take the earliest of their
//! parts, so the instant is never late: nothing changes strictly before it.

use crate::config::settings::Settings;
use crate::customer::history::History;
use crate::customer::profile::{days_edge_in, LocalDates, Profile, Stage};
use crate::model::duration::Dur;
use crate::model::event::Channel;
use crate::predict::forecast::{Prediction, StoreModel};
use crate::segment::compare::Compare;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A test on one property of an event (`line_items.product_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawMatch")]
pub struct PropertyMatch {
    pub path: String,
    #[serde(flatten)]
    pub cmp: Compare,
    /// `path` split at the dots, once.
    #[serde(skip)]
    parts: Vec<String>,
    /// The fingerprint bits a passing event must have (equality tests only).
    #[serde(skip)]
    mask: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    path: String,
    eq: Option<Value>,
    ne: Option<Value>,
    gt: Option<Value>,
    gte: Option<Value>,
    lt: Option<Value>,
    lte: Option<Value>,
    #[serde(rename = "in")]
    is_in: Option<Vec<Value>>,
    not_in: Option<Vec<Value>>,
    contains: Option<Value>,
    starts_with: Option<String>,
    exists: Option<bool>,
}

impl TryFrom<RawMatch> for PropertyMatch {
    type Error = String;
    fn try_from(r: RawMatch) -> Result<Self, String> {
        let cmp = Compare {
            eq: r.eq,
            ne: r.ne,
            gt: r.gt,
            gte: r.gte,
            lt: r.lt,
            lte: r.lte,
            is_in: r.is_in,
            not_in: r.not_in,
            contains: r.contains,
            starts_with: r.starts_with,
            exists: r.exists,
        };
        if cmp.is_empty() {
            return Err(format!("the match on {:?} needs a comparison: eq, ne, gt, gte, lt, lte, in, not_in, contains, starts_with or exists", r.path));
        }
        let parts: Vec<String> = r
            .path
            .split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        Ok(PropertyMatch {
            mask: crate::speed::fingerprint::mask(&parts, &cmp),
            path: r.path,
            cmp,
            parts,
        })
    }
}

impl PropertyMatch {
    /// True when some value at the path passes (arrays fan out).
    pub fn test(&self, props: &Value) -> bool {
        self.test_in(crate::speed::kept_props::PropsRef::Json(props))
    }

    /// As [`PropertyMatch::test`], on properties however kept.
    #[inline(never)]
    pub fn test_in(&self, props: crate::speed::kept_props::PropsRef) -> bool {
        let mut seen = false;
        let hit = props.any_at(&self.parts, &mut |v| {
            seen = true;
            self.cmp.test(Some(v))
        });
        hit || (!seen && self.cmp.test(None))
    }

    /// As [`PropertyMatch::test_in`], for kept properties whose
    /// `speed::fingerprint::of` is `bits`: most events that cannot pass
    /// are ruled out by one AND (inlined: it runs for every kept event a
    /// filtered condition walks; the full test does not).
    #[inline]
    pub fn test_fp(&self, props: &crate::speed::kept_props::Kept, bits: u64) -> bool {
        !self.ruled_out(bits) && self.test_in(props.view())
    }

    /// As [`PropertyMatch::test_fp`], for an event's properties as JSON.
    pub fn test_fp_json(&self, props: &Value, bits: u64) -> bool {
        !self.ruled_out(bits) && self.test(props)
    }

    /// Whether properties with fingerprint `bits` cannot pass.
    #[inline]
    fn ruled_out(&self, bits: u64) -> bool {
        self.mask.is_some_and(|m| bits & m == 0)
    }

    /// See `speed::fingerprint::mask`.
    pub fn mask(&self) -> Option<u64> {
        self.mask
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    OrdersCount,
    TotalSpent,
    AverageOrderValue,
    AverageDaysBetweenOrders,
    DaysSinceLastOrder,
    DaysSinceFirstOrder,
    DaysSinceLastActivity,
    DaysSinceCreated,
    Points,
    RfmRecency,
    RfmFrequency,
    RfmMonetary,
    /// The store's prediction model's numbers (`crate::predict`), by UTC
    /// day: none before the first refit or the customer's first order.
    PAlive,
    ExpectedOrders,
    PredictedClv,
    /// Days from today (UTC) to `expected_next_order_at`; below zero when
    /// the order is overdue.
    DaysToNextOrder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCondition {
    pub event: String,
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filter: Vec<PropertyMatch>,
    /// How many matching events there must be (default: at least one).
    pub count: Compare,
    /// Only events in the last `within` count (a sliding window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Dur>,
    /// Where counting can stop, further events changing no answer: `n` for
    /// `at_least: n` (the usual `at_least: 1` stops at the first match),
    /// else one past the largest number `count` compares with. Never below
    /// one: the first match gives the window's next edge.
    #[serde(skip)]
    pub count_cap: u64,
    /// `count` as the range of counts that pass (`at_least`, `at_most` and
    /// `exactly` are ranges), tested without going through JSON numbers.
    #[serde(skip)]
    pub count_range: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCondition")]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// A profile property: a standard field, `email`, `phone`, or a custom
    /// attribute (`attributes.shoe_size` or just `shoe_size`).
    Property {
        path: String,
        cmp: Compare,
    },
    Event(EventCondition),
    Metric {
        metric: Metric,
        cmp: Compare,
        /// `cmp.integer_edges()`, once: the day counts where a "days since"
        /// test can change.
        #[serde(skip)]
        edges: Vec<i64>,
        /// `cmp.num_test()`, once.
        #[serde(skip)]
        num: Option<crate::segment::compare::NumTest>,
    },
    Lifecycle(Vec<Stage>),
    Tier(Vec<String>),
    Consent(Channel),
    Tag(String),
    Segment(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum List<T> {
    One(T),
    Many(Vec<T>),
}
impl<T> List<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            List::One(t) => vec![t],
            List::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    all: Option<Vec<Condition>>,
    any: Option<Vec<Condition>>,
    not: Option<Box<Condition>>,
    property: Option<String>,
    event: Option<String>,
    metric: Option<Metric>,
    lifecycle: Option<List<Stage>>,
    tier: Option<List<String>>,
    consent: Option<Channel>,
    tag: Option<String>,
    segment: Option<String>,
    #[serde(rename = "where")]
    filter: Option<Vec<PropertyMatch>>,
    at_least: Option<u32>,
    at_most: Option<u32>,
    exactly: Option<u32>,
    within: Option<Dur>,
    eq: Option<Value>,
    ne: Option<Value>,
    gt: Option<Value>,
    gte: Option<Value>,
    lt: Option<Value>,
    lte: Option<Value>,
    #[serde(rename = "in")]
    is_in: Option<Vec<Value>>,
    not_in: Option<Vec<Value>>,
    contains: Option<Value>,
    starts_with: Option<String>,
    exists: Option<bool>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;
    fn try_from(r: RawCondition) -> Result<Self, String> {
        let cmp = Compare {
            eq: r.eq,
            ne: r.ne,
            gt: r.gt,
            gte: r.gte,
            lt: r.lt,
            lte: r.lte,
            is_in: r.is_in,
            not_in: r.not_in,
            contains: r.contains,
            starts_with: r.starts_with,
            exists: r.exists,
        };
        let kinds: Vec<&str> = [
            ("all", r.all.is_some()),
            ("any", r.any.is_some()),
            ("not", r.not.is_some()),
            ("property", r.property.is_some()),
            ("event", r.event.is_some()),
            ("metric", r.metric.is_some()),
            ("lifecycle", r.lifecycle.is_some()),
            ("tier", r.tier.is_some()),
            ("consent", r.consent.is_some()),
            ("tag", r.tag.is_some()),
            ("segment", r.segment.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect();
        const ONE_OF: &str =
            "all, any, not, property, event, metric, lifecycle, tier, consent, tag, segment";
        if kinds.len() != 1 {
            return Err(if kinds.is_empty() {
                format!("a condition needs one of: {ONE_OF}")
            } else {
                format!(
                    "a condition takes only one of {ONE_OF}; found {}",
                    kinds.join(" and ")
                )
            });
        }
        let kind = kinds[0];
        let event_only = r.filter.is_some()
            || r.at_least.is_some()
            || r.at_most.is_some()
            || r.exactly.is_some()
            || r.within.is_some();
        if kind != "event" && event_only {
            return Err(format!("where / at_least / at_most / exactly / within belong to an event condition, not to {kind}"));
        }
        let takes_cmp = matches!(kind, "property" | "metric");
        if !takes_cmp && !cmp.is_empty() {
            return Err(format!(
                "{} cannot be used with {kind}",
                cmp.given().join(", ")
            ));
        }
        if takes_cmp && cmp.is_empty() {
            return Err(format!("{kind} needs a comparison: eq, ne, gt, gte, lt, lte, in, not_in, contains, starts_with or exists"));
        }
        Ok(match kind {
            "all" => Condition::All(r.all.unwrap()),
            "any" => Condition::Any(r.any.unwrap()),
            "not" => Condition::Not(r.not.unwrap()),
            "property" => Condition::Property {
                path: r.property.unwrap(),
                cmp,
            },
            "metric" => Condition::Metric {
                metric: r.metric.unwrap(),
                edges: cmp.integer_edges(),
                num: cmp.num_test(),
                cmp,
            },
            "lifecycle" => Condition::Lifecycle(r.lifecycle.unwrap().into_vec()),
            "tier" => Condition::Tier(r.tier.unwrap().into_vec()),
            "consent" => Condition::Consent(r.consent.unwrap()),
            "tag" => Condition::Tag(r.tag.unwrap()),
            "segment" => Condition::Segment(r.segment.unwrap()),
            _ => {
                let counts = [
                    r.at_least.is_some(),
                    r.at_most.is_some(),
                    r.exactly.is_some(),
                ];
                if counts.iter().filter(|c| **c).count() > 1 {
                    return Err("an event condition takes one of at_least, at_most, exactly".into());
                }
                let count_range = Some(match (r.at_least, r.at_most, r.exactly) {
                    (_, Some(n), _) => (0, n as u64),
                    (_, _, Some(n)) => (n as u64, n as u64),
                    (n, _, _) => (n.unwrap_or(1) as u64, u64::MAX),
                });
                let count = if let Some(n) = r.at_most {
                    Compare {
                        lte: Some(json!(n)),
                        ..Default::default()
                    }
                } else if let Some(n) = r.exactly {
                    Compare {
                        eq: Some(json!(n)),
                        ..Default::default()
                    }
                } else {
                    Compare {
                        gte: Some(json!(r.at_least.unwrap_or(1))),
                        ..Default::default()
                    }
                };
                if let Some(w) = r.within {
                    if w.is_negative() || w == Dur::ZERO {
                        return Err("within must be a positive duration".into());
                    }
                }
                let count_cap = match count_range {
                    Some((lo, u64::MAX)) => lo.max(1),
                    _ => count.integer_edges().last().copied().unwrap_or(0).max(0) as u64 + 1,
                };
                Condition::Event(EventCondition {
                    event: r.event.unwrap(),
                    filter: r.filter.unwrap_or_default(),
                    count,
                    within: r.within,
                    count_cap,
                    count_range,
                })
            }
        })
    }
}

/// A value and the next instant it could change with no new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eval {
    pub value: bool,
    pub next: Option<Timestamp>,
}

pub fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What a condition is evaluated against.
pub struct Ctx<'a> {
    pub profile: &'a Profile,
    pub history: &'a History,
    pub settings: &'a Settings,
    pub tz: &'a TimeZone,
    pub now: Timestamp,
    /// Membership of another segment (already evaluated at `now`).
    pub segment: &'a dyn Fn(&str) -> Eval,
    /// Local dates in `tz`, shared by the conditions of one pass.
    pub dates: &'a LocalDates,
    /// The store's prediction model, once fitted.
    pub model: Option<&'a StoreModel>,
}

impl Condition {
    pub fn eval(&self, c: &Ctx) -> Eval {
        match self {
            Condition::All(parts) => {
                let mut out = Eval {
                    value: true,
                    next: None,
                };
                for p in parts {
                    let e = p.eval(c);
                    out.value &= e.value;
                    out.next = earliest(out.next, e.next);
                }
                out
            }
            Condition::Any(parts) => {
                let mut out = Eval {
                    value: false,
                    next: None,
                };
                for p in parts {
                    let e = p.eval(c);
                    out.value |= e.value;
                    out.next = earliest(out.next, e.next);
                }
                out
            }
            Condition::Not(p) => {
                let e = p.eval(c);
                Eval {
                    value: !e.value,
                    next: e.next,
                }
            }
            Condition::Property { path, cmp } => Eval {
                value: cmp.test(profile_property(c.profile, path, c).as_ref()),
                next: None,
            },
            Condition::Event(ec) => eval_event(ec, c),
            Condition::Metric {
                metric,
                cmp,
                edges,
                num,
            } => eval_metric(*metric, cmp, num.as_ref(), edges, c),
            Condition::Lifecycle(stages) => {
                let (stage, next) = c.profile.stage(c.now, c.tz, c.settings);
                Eval {
                    value: stages.contains(&stage),
                    next,
                }
            }
            Condition::Tier(tiers) => {
                let t = c.profile.tier(c.settings);
                Eval {
                    value: t.map(|t| tiers.iter().any(|x| x == t)).unwrap_or(false),
                    next: None,
                }
            }
            Condition::Consent(ch) => Eval {
                value: c.profile.subscribed(*ch),
                next: None,
            },
            Condition::Tag(t) => Eval {
                value: c.profile.has_tag(t),
                next: None,
            },
            Condition::Segment(id) => (c.segment)(id),
        }
    }

    /// Calls `f` on this condition and every condition inside it.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Condition)) {
        f(self);
        match self {
            Condition::All(ps) | Condition::Any(ps) => ps.iter().for_each(|p| p.walk(f)),
            Condition::Not(p) => p.walk(f),
            _ => {}
        }
    }
}

fn profile_property(p: &Profile, path: &str, c: &Ctx) -> Option<Value> {
    let path = path.strip_prefix("profile.").unwrap_or(path);
    match path {
        "email" => p.email().map(|e| json!(e)),
        "phone" => p.phone().map(|e| json!(e)),
        "customer_id" => p.customer_id.as_ref().map(|e| json!(e)),
        "tier" => p.tier(c.settings).map(|t| json!(t)),
        "locale" => Some(json!(p.locale(c.settings))),
        "timezone" => Some(json!(c.tz.iana_name().unwrap_or("UTC"))),
        _ => {
            let key = path.strip_prefix("attributes.").unwrap_or(path);
            p.field(key).cloned()
        }
    }
}

fn eval_event(ec: &EventCondition, c: &Ctx) -> Eval {
    let Some((lo, hi)) = ec.count_range else {
        return eval_event_any_count(ec, c);
    };
    let all = c.history.named(&ec.event);
    let matches = |r: &crate::customer::history::Recorded| passes(&ec.filter, r);
    // Recorded ahead of now (clock skew), at the end of the list: such
    // events count from their own time, so the first to come is an edge.
    let mut next: Option<Timestamp> = None;
    let mut end = all.len();
    while end > 0 && all[end - 1].at > c.now {
        end -= 1;
        if matches(&all[end]) {
            next = Some(all[end].at);
        }
    }
    // With no new event the count only falls, one match at a time, as the
    // oldest leaves the window. The value can change only when the count
    // leaves the range: when the `lo`-th newest match leaves (a member
    // drops below `lo`), or the `hi + 1`-th (a count above `hi` comes back
    // into range). So matches are counted newest first, and counting stops
    // at `hi + 1` (or at `lo` when there is no upper bound): older ones
    // change nothing. A customer short of `lo` matches has no edge at all.
    let stop = if hi == u64::MAX {
        lo
    } else {
        hi.saturating_add(1)
    };
    // The window is (now - within, now]. Its start is compared as (second,
    // nanosecond) against each event's instant instead of being made a
    // `Timestamp`: jiff checks the range and sign of every one it makes.
    let (now_s, now_ns) = (c.now.as_second(), c.now.subsec_nanosecond());
    let start = ec
        .within
        .map(|w| (now_s.saturating_sub(w.days * 86_400 + w.seconds), now_ns));
    let mut count = 0u64;
    let mut at_lo: Option<Timestamp> = None;
    if stop > 0 {
        for r in all[..end].iter().rev() {
            if start.is_some_and(|f| (r.at.as_second(), r.at.subsec_nanosecond()) <= f) {
                break;
            }
            if !matches(r) {
                continue;
            }
            count += 1;
            if count == lo {
                at_lo = Some(r.at);
            }
            if count == stop {
                if count > hi {
                    // Above the range until this match leaves.
                    at_lo = Some(r.at);
                }
                break;
            }
        }
    }
    let value = (lo..=hi).contains(&count);
    if let (Some(w), Some(at)) = (ec.within, at_lo) {
        if value || count > hi {
            next = earliest(next, Some(w.add_exact(at)));
        }
    }
    Eval { value, next }
}

/// Whether a kept event passes every filter of a condition: run for every
/// event a condition walks, so kept inline (most fail on the fingerprint).
#[inline(always)]
fn passes(filter: &[PropertyMatch], r: &crate::customer::history::Recorded) -> bool {
    for m in filter {
        if !m.test_fp(&r.props, r.bits) {
            return false;
        }
    }
    true
}

/// [`eval_event`] for a count compared other than by a range: every match
/// in the window is counted, and the first to leave it is the next edge.
fn eval_event_any_count(ec: &EventCondition, c: &Ctx) -> Eval {
    let start = ec.within.map(|w| w.sub_exact(c.now));
    let mut count = 0u64;
    let mut next: Option<Timestamp> = None;
    for r in c.history.named(&ec.event) {
        if start.is_some_and(|f| r.at <= f) || !passes(&ec.filter, r) {
            continue;
        }
        if r.at > c.now {
            next = earliest(next, Some(r.at));
            continue;
        }
        if let Some(w) = ec.within.filter(|_| count == 0) {
            next = Some(w.add_exact(r.at));
        }
        count += 1;
    }
    Eval {
        value: ec.count.test_num(Some(count as f64)),
        next,
    }
}

fn eval_metric(
    m: Metric,
    cmp: &Compare,
    num: Option<&crate::segment::compare::NumTest>,
    edges: &[i64],
    c: &Ctx,
) -> Eval {
    let p = c.profile;
    let mt = &p.metrics;
    // `cmp.test_num`, straight on the numbers when it compares only numbers.
    let test = |v: Option<f64>| match (v, num) {
        (Some(n), Some(t)) => t.test(n),
        _ => cmp.test_num(v),
    };
    let plain = |v: Option<f64>| Eval {
        value: test(v),
        next: None,
    };
    let days = |base: Option<Timestamp>| match base {
        None => plain(None),
        Some(b) => {
            let (d, next) = days_edge_in(c.dates, b, c.now, c.tz, edges, |d| test(Some(d as f64)));
            Eval {
                value: test(Some(d as f64)),
                next,
            }
        }
    };
    match m {
        Metric::OrdersCount => plain(Some(mt.orders_count as f64)),
        Metric::TotalSpent => plain(Some(mt.total_spent)),
        Metric::AverageOrderValue => plain((mt.orders_count > 0).then_some(mt.average_order_value)),
        Metric::AverageDaysBetweenOrders => plain(mt.average_days_between_orders),
        Metric::Points => plain(Some(p.total_points() as f64)),
        Metric::DaysSinceLastOrder => days(mt.last_order_at),
        Metric::DaysSinceFirstOrder => days(mt.first_order_at),
        Metric::DaysSinceLastActivity => days(Some(p.last_activity_at)),
        Metric::DaysSinceCreated => days(Some(p.created_at)),
        Metric::RfmRecency => {
            let Some(last) = mt.last_order_at else {
                return plain(None);
            };
            // Recency changes only at its day bounds; keep the exact edge of
            // this comparison among them.
            let test = |d: i64| {
                test(Some(
                    crate::customer::profile::recency_score(d, c.settings) as f64
                ))
            };
            let (d, edge) = days_edge_in(
                c.dates,
                last,
                c.now,
                c.tz,
                &c.settings.rfm.recency_days,
                test,
            );
            Eval {
                value: test(d),
                next: edge,
            }
        }
        Metric::RfmFrequency => plain(Some(p.rfm(c.now, c.tz, c.settings).0[1] as f64)),
        Metric::RfmMonetary => plain(Some(p.rfm(c.now, c.tz, c.settings).0[2] as f64)),
        Metric::PAlive => predicted(Prediction::PAlive, cmp, &test, c),
        Metric::ExpectedOrders => predicted(Prediction::ExpectedOrders, cmp, &test, c),
        Metric::PredictedClv => predicted(Prediction::PredictedClv, cmp, &test, c),
        Metric::DaysToNextOrder => predicted(Prediction::DaysToNextOrder, cmp, &test, c),
    }
}

/// Days ahead within which a predicted number's crossing is looked for.
/// One further off is found when an event or a refit looks again.
const PREDICTION_DAYS: i64 = 3660;

/// A predicted number, and the UTC midnight where its test next changes.
///
/// With orders unchanged, each number only falls as days pass: the chance
/// of being alive, the orders and value expected, the days to the next
/// order (`tests::predictions_only_fall_as_silent_days_pass` checks this
/// over many histories). So the test can change only where the number
/// falls through one of the values it is compared with: for the nearest
/// such value at or below today's number, the first day it is passed is
/// found by bisection; a pass that leaves the answer as it was moves on to
/// the next value.
fn predicted(what: Prediction, cmp: &Compare, test: &dyn Fn(Option<f64>) -> bool, c: &Ctx) -> Eval {
    let Some(model) = c.model else {
        return Eval {
            value: test(None),
            next: None,
        };
    };
    let history = c.profile.order_history();
    let today = c.now.to_zoned(TimeZone::UTC).date();
    let on = |d: i64| {
        today
            .checked_add(jiff::Span::new().days(d))
            .ok()
            .and_then(|day| model.value(&history, day, what))
    };
    let v0 = on(0);
    let value = test(v0);
    let Some(mut cur) = v0 else {
        return Eval { value, next: None };
    };
    let mut thresholds = cmp.numbers();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut from = 0i64;
    let mut next = None;
    while let Some(&t) = thresholds.iter().find(|&&t| t <= cur) {
        // Past `t`: below it when today's number is on it, else at or below.
        let past = |d: i64| match on(d) {
            Some(v) if t == cur => v < t,
            Some(v) => v <= t,
            None => true,
        };
        if !past(PREDICTION_DAYS) {
            break;
        }
        let (mut lo, mut hi) = (from, PREDICTION_DAYS);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if past(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let v = on(hi);
        if test(v) != value || v.is_none() {
            next = Some(hi);
            break;
        }
        // Each pass leaves the number below `t`, or on it (then the next
        // pass goes below it): the loop moves down the values and ends.
        (from, cur) = (hi, v.expect("checked"));
    }
    let next = next.and_then(|d| {
        let day = today.checked_add(jiff::Span::new().days(d)).ok()?;
        day.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
    });
    Eval { value, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::history::KeepAll;
    use crate::model::ids::{ProfileId, ShopId};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Views at the given instants, and the condition evaluated at `now`.
    fn eval_views(condition: &str, views: &[&str], now: &str) -> Eval {
        let cfg = crate::Config::from_sources(
            vec![crate::config::Source {
                path: "store.yaml".into(),
                text: "store: { name: S, url: https://s.example.com, timezone: UTC }\n".into(),
            }],
            b"k".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut history = History::default();
        for (i, t) in views.iter().enumerate() {
            let e: crate::Event =
                serde_json::from_value(json!({"id": format!("e{i}"), "shop": "s",
                "type": "product_viewed", "occurred_at": t, "customer": {"email": "a@example.com"},
                "properties": {"product_id": "p1"}}))
                .unwrap();
            assert!(history.record(&e, at(t), &KeepAll));
        }
        let c: Condition = serde_norway::from_str(condition).unwrap();
        let profile = Profile::new(
            ProfileId::parse("p").unwrap(),
            ShopId::parse("s").unwrap(),
            at(views[0]),
        );
        let dates = crate::customer::profile::LocalDates::default();
        let none = |_: &str| Eval {
            value: false,
            next: None,
        };
        c.eval(&Ctx {
            profile: &profile,
            history: &history,
            settings: &cfg.settings,
            tz: &TimeZone::UTC,
            now: at(now),
            segment: &none,
            dates: &dates,
            model: None,
        })
    }

    const VIEWS: [&str; 3] = [
        "2026-03-01T10:00:00Z",
        "2026-03-02T10:00:00Z",
        "2026-03-03T10:00:00Z",
    ];

    #[test]
    fn a_member_leaves_when_the_lo_th_newest_match_leaves_the_window() {
        // Three views, at least two within 3 days: still a member after the
        // first leaves (03-04 10:00), out when the second does (03-05 10:00).
        let e = eval_views(
            "{ event: product_viewed, at_least: 2, within: 3d }",
            &VIEWS,
            "2026-03-03T12:00:00Z",
        );
        assert!(e.value);
        assert_eq!(e.next, Some(at("2026-03-05T10:00:00Z")));
    }

    #[test]
    fn a_count_short_of_at_least_has_no_edge() {
        // One view of two needed: time alone cannot make a member.
        let e = eval_views(
            "{ event: product_viewed, at_least: 2, within: 3d }",
            &VIEWS[..1],
            "2026-03-01T12:00:00Z",
        );
        assert!(!e.value);
        assert_eq!(e.next, None);
    }

    #[test]
    fn a_count_above_at_most_comes_back_into_range_as_matches_leave() {
        // Three views, at most one within 3 days: in range once two have
        // left, when the second newest does (03-05 10:00).
        let e = eval_views(
            "{ event: product_viewed, at_most: 1, within: 3d }",
            &VIEWS,
            "2026-03-03T12:00:00Z",
        );
        assert!(!e.value);
        assert_eq!(e.next, Some(at("2026-03-05T10:00:00Z")));
        // Then in range until the last one leaves: nothing more can change.
        let e = eval_views(
            "{ event: product_viewed, at_most: 1, within: 3d }",
            &VIEWS,
            "2026-03-05T12:00:00Z",
        );
        assert!(e.value);
        assert_eq!(e.next, None);
    }

    #[test]
    fn exactly_changes_when_the_count_enters_and_leaves_it() {
        // exactly 2 with three views: false until the oldest leaves (03-04),
        let e = eval_views(
            "{ event: product_viewed, exactly: 2, within: 3d }",
            &VIEWS,
            "2026-03-03T12:00:00Z",
        );
        assert!(!e.value);
        assert_eq!(e.next, Some(at("2026-03-04T10:00:00Z")));
        // then true until the next one leaves (03-05).
        let e = eval_views(
            "{ event: product_viewed, exactly: 2, within: 3d }",
            &VIEWS,
            "2026-03-04T12:00:00Z",
        );
        assert!(e.value);
        assert_eq!(e.next, Some(at("2026-03-05T10:00:00Z")));
    }

    fn bg_model() -> StoreModel {
        // The CDNOW fit (FHL 2005) with α in days.
        StoreModel {
            model: crate::predict::forecast::Model::BgNbdGammaGamma,
            reason: "test".into(),
            as_of: jiff::civil::date(2026, 1, 1),
            horizon_days: 90,
            annual_discount_rate: 0.1,
            customers: 2357,
            time_unit: "days".into(),
            bg_nbd: Some(crate::predict::bgnbd::Params {
                r: 0.243,
                alpha: 4.414 * 7.0,
                a: 0.793,
                b: 2.426,
            }),
            gamma_gamma: Some(crate::predict::gamma_gamma::Params {
                p: 6.25,
                q: 3.74,
                gamma: 15.44,
            }),
            intervals: None,
        }
    }

    fn interval_model() -> StoreModel {
        StoreModel {
            model: crate::predict::forecast::Model::Intervals,
            bg_nbd: None,
            gamma_gamma: None,
            intervals: Some(crate::predict::forecast::IntervalParams {
                store_rate: 1.0 / 45.0,
                median_interval_days: Some(40.0),
                mean_order_value: 35.0,
                shrink_orders: 2.0,
            }),
            ..bg_model()
        }
    }

    const PREDICTIONS: [Prediction; 4] = [
        Prediction::PAlive,
        Prediction::ExpectedOrders,
        Prediction::PredictedClv,
        Prediction::DaysToNextOrder,
    ];

    /// What `predicted` relies on to find its edges by bisection.
    #[test]
    fn predictions_only_fall_as_silent_days_pass() {
        let first = jiff::civil::date(2025, 1, 1);
        let day = |n: i64| first.checked_add(jiff::Span::new().days(n)).unwrap();
        for model in [bg_model(), interval_model()] {
            for repeats in [0i64, 1, 2, 5, 20] {
                for gap in [3i64, 14, 45, 120] {
                    let h = crate::predict::forecast::History::of(
                        (0..=repeats).map(|k| (day(k * gap), 20.0 + k as f64)),
                    );
                    let last = repeats * gap;
                    for what in PREDICTIONS {
                        let mut before = model.value(&h, day(last), what).unwrap();
                        for silent in 1..800 {
                            let v = model.value(&h, day(last + silent), what).unwrap();
                            assert!(
                                v <= before + 1e-9 * before.abs().max(1.0),
                                "{:?} {what:?} x={repeats} gap={gap} day {silent}: {before} then {v}",
                                model.model
                            );
                            before = v;
                        }
                    }
                }
            }
        }
    }

    /// A customer's profile with orders on these days of 2026.
    fn buyer(days: &[&str]) -> Profile {
        let mut p = Profile::new(
            ProfileId::parse("p").unwrap(),
            ShopId::parse("s").unwrap(),
            at("2026-01-01T00:00:00Z"),
        );
        for (i, d) in days.iter().enumerate() {
            let rec = p.orders.entry(format!("o{i}")).or_default();
            rec.placed_at = Some(at(&format!("{d}T15:00:00Z")));
            rec.total = 40.0;
        }
        p
    }

    fn eval_predicted(condition: &str, p: &Profile, model: &StoreModel, now: &str) -> Eval {
        let cfg = crate::Config::from_sources(
            vec![crate::config::Source {
                path: "store.yaml".into(),
                text: "store: { name: S, url: https://s.example.com, timezone: UTC }\n".into(),
            }],
            b"k".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c: Condition = serde_norway::from_str(condition).unwrap();
        let none = |_: &str| Eval {
            value: false,
            next: None,
        };
        c.eval(&Ctx {
            profile: p,
            history: &History::default(),
            settings: &cfg.settings,
            tz: &TimeZone::UTC,
            now: at(now),
            segment: &none,
            dates: &Default::default(),
            model: Some(model),
        })
    }

    #[test]
    fn a_prediction_test_changes_at_the_utc_midnight_it_says() {
        let p = buyer(&["2026-01-05", "2026-02-01", "2026-03-01"]);
        for model in [bg_model(), interval_model()] {
            for (condition, what) in [
                ("{ metric: p_alive, lt: 0.5 }", Prediction::PAlive),
                (
                    "{ metric: expected_orders, lte: 0.8 }",
                    Prediction::ExpectedOrders,
                ),
                (
                    "{ metric: predicted_clv, lt: 20 }",
                    Prediction::PredictedClv,
                ),
                (
                    "{ metric: days_to_next_order, lt: -10 }",
                    Prediction::DaysToNextOrder,
                ),
            ] {
                let e = eval_predicted(condition, &p, &model, "2026-03-02T08:00:00Z");
                assert!(!e.value, "{condition} {:?}", model.model);
                let next = e
                    .next
                    .unwrap_or_else(|| panic!("{condition} {:?}", model.model));
                assert_eq!(next.to_string().get(10..), Some("T00:00:00Z"), "{next}");
                // Not yet a second before; so from that midnight on.
                let before = next - jiff::SignedDuration::from_secs(1);
                let e1 = eval_predicted(condition, &p, &model, &before.to_string());
                assert!(!e1.value && e1.next == Some(next), "{condition}");
                let e2 = eval_predicted(condition, &p, &model, &next.to_string());
                assert!(e2.value, "{condition} at {next}");
                // And the number agrees: on the day before, not yet past.
                let h = p.order_history();
                let day = next.to_zoned(TimeZone::UTC).date();
                let v = |d: jiff::civil::Date| model.value(&h, d, what).unwrap();
                assert!(
                    !e1.value && v(day) < v(day.yesterday().unwrap()),
                    "{condition}"
                );
            }
        }
    }

    #[test]
    fn no_model_or_no_order_matches_nothing_and_sets_no_edge() {
        let model = bg_model();
        let nobody = buyer(&[]);
        let e = eval_predicted(
            "{ metric: p_alive, lt: 0.5 }",
            &nobody,
            &model,
            "2026-03-02T08:00:00Z",
        );
        assert_eq!((e.value, e.next), (false, None));
        // A range: in it from one crossing, out of it at the next.
        let p = buyer(&["2026-01-05", "2026-02-01", "2026-03-01"]);
        let range = "{ metric: p_alive, lt: 0.6, gte: 0.3 }";
        let e = eval_predicted(range, &p, &model, "2026-03-02T08:00:00Z");
        let enter = e.next.unwrap();
        let inside = eval_predicted(range, &p, &model, &enter.to_string());
        assert!(inside.value);
        let leave = inside.next.unwrap();
        assert!(leave > enter);
        assert!(!eval_predicted(range, &p, &model, &leave.to_string()).value);
    }
}
