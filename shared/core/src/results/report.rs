//! The reports: flows, messages, segments, holdouts and cohorts, each a
//! table computed from the facts of a period. Every runtime reads its
//! stored facts and calls these, so `storeflow report` and the console show
//! the same numbers. Column names are the serialized field names, and the
//! README documents each.
//!
//! A period is `[from, to)`. A fact counts in the period it happened in:
//! a refund of a credited order lowers the net revenue of the period of the
//! refund, not of the order.

use crate::results::cohorts::{self, Month, OrderFact};
use crate::results::facts::{Fact, FactKind, Lifecycle};
use crate::results::lift::{self, Interval, Sums, Verdict};
use crate::results::rollup::{self, Counters, Rollups, Scope};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The instants a report covers: `[from, to)`, either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Period {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Period {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Gross revenue and refunds, rounded to cents, and net between them.
fn revenue(gross: f64, refunds: f64) -> (f64, f64, f64) {
    let (gross, refunds) = (round2(gross), round2(refunds));
    (gross, refunds, round2(gross - refunds))
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// One flow version's row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowRow {
    pub flow: String,
    pub version: u32,
    pub entered: u64,
    pub sent: u64,
    pub recipients: u64,
    pub delivered: u64,
    pub clicked: u64,
    pub unsubscribed: u64,
    pub converted: u64,
    pub orders: u64,
    pub revenue_gross: f64,
    pub refunds: f64,
    pub revenue_net: f64,
    pub revenue_per_recipient: f64,
}

/// One message's row: a step's template on a channel, per variant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MessageRow {
    pub flow: String,
    pub version: u32,
    pub step: String,
    pub template: String,
    pub variant: String,
    pub channel: String,
    pub sent: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub opened: u64,
    pub clicked: u64,
    pub unsubscribed: u64,
    pub complained: u64,
    pub click_rate: f64,
    pub orders: u64,
    pub revenue_gross: f64,
    pub refunds: f64,
    pub revenue_net: f64,
}

/// One segment's row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SegmentRow {
    pub segment: String,
    pub entered: u64,
    pub exited: u64,
    /// Members at the end of the period.
    pub members: u64,
}

/// One split arm's row, against the split's baseline arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmRow {
    pub flow: String,
    pub version: u32,
    pub step: String,
    pub arm: String,
    /// The arm this one is compared with (`holdout` when there is one).
    pub baseline: String,
    pub entered: u64,
    pub converted: u64,
    pub conversion_rate: f64,
    pub revenue: f64,
    pub revenue_per_recipient: f64,
    /// Conversion rate minus the baseline's, with its 95% interval
    /// (Newcombe's hybrid score method).
    pub rate_difference: Option<Interval>,
    /// Revenue per recipient minus the baseline's, with its 95% interval
    /// (normal, Welch's standard error).
    pub revenue_difference: Option<Interval>,
    /// `higher`, `lower`, `not_yet` or `baseline`.
    pub verdict: &'static str,
    /// When `not_yet`: how many more entries (both arms) would show a
    /// difference of the size seen; none when no difference is seen.
    pub more_entries_needed: Option<u64>,
}

/// Which attribution settings decided the credits of a stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsPeriod {
    pub settings: String,
    pub first_credit: Timestamp,
    pub last_credit: Timestamp,
    pub credits: u64,
}

/// One cohort's row (see [`crate::results::cohorts`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortRow {
    pub cohort: String,
    pub customers: u64,
    pub ordered_again: Vec<f64>,
    pub repurchase_rate: f64,
    pub revenue_per_customer: Vec<f64>,
}

/// The rollups of the facts of a period: each fact in the period (an
/// arm's order: when its run entered the arm in the period).
pub fn period_rollups(facts: &[Fact], p: Period) -> Rollups {
    let mut r = Rollups::new();
    for f in facts {
        let at = match f.kind {
            FactKind::ArmOrder => f.since.unwrap_or(f.at),
            _ => f.at,
        };
        if p.contains(at) {
            rollup::add(&mut r, f);
        }
    }
    r
}

/// Segment rollups of every fact before the end of the period (for
/// members at its end).
pub fn segment_totals(facts: &[Fact], p: Period) -> Rollups {
    let mut r = Rollups::new();
    for f in facts.iter().filter(|f| {
        matches!(f.kind, FactKind::SegmentEnter | FactKind::SegmentExit)
            && p.to.is_none_or(|t| f.at < t)
    }) {
        rollup::add(&mut r, f);
    }
    r
}

/// Per flow version: entries, messages, conversions and revenue.
pub fn flows(facts: &[Fact], p: Period) -> Vec<FlowRow> {
    flows_of(&period_rollups(facts, p))
}

/// Per message (flow version, step, template, variant, channel): its
/// life and what it earned.
pub fn messages(facts: &[Fact], p: Period) -> Vec<MessageRow> {
    messages_of(&period_rollups(facts, p))
}

/// Per segment: entries and exits in the period, members at its end.
pub fn segments(facts: &[Fact], p: Period) -> Vec<SegmentRow> {
    segments_of(&period_rollups(facts, p), &segment_totals(facts, p))
}

/// Per split (flow version and step), per arm: entries in the period,
/// conversions (an order within the conversion window of entering) and
/// revenue per recipient, each against the baseline arm: the holdout when
/// the split has one, else its first variant by name.
pub fn holdouts(facts: &[Fact], p: Period) -> Vec<ArmRow> {
    holdouts_of(&period_rollups(facts, p))
}

fn get(c: &Counters, name: &str) -> f64 {
    c.get(name).copied().unwrap_or(0.0)
}

fn count(c: &Counters, name: &str) -> u64 {
    get(c, name).round().max(0.0) as u64
}

/// [`flows`] from rollups.
pub fn flows_of(r: &Rollups) -> Vec<FlowRow> {
    use rollup::names::*;
    let mut rows: BTreeMap<(String, u32), FlowRow> = BTreeMap::new();
    for ((_, scope), c) in r {
        let (flow, version) = match scope {
            Scope::Flow { flow, version } | Scope::Message { flow, version, .. } => (flow, version),
            _ => continue,
        };
        let row = rows
            .entry((flow.clone(), *version))
            .or_insert_with(|| FlowRow {
                flow: flow.clone(),
                version: *version,
                ..Default::default()
            });
        match scope {
            Scope::Flow { .. } => {
                row.entered += count(c, ENTERED);
                row.converted += count(c, CONVERTED);
            }
            _ => {
                row.sent += count(c, "sent");
                row.recipients += count(c, RECIPIENTS);
                row.delivered += count(c, "delivered");
                row.clicked += count(c, "clicked");
                row.unsubscribed += count(c, "unsubscribed");
                row.orders += count(c, ORDERS);
                row.revenue_gross += get(c, REVENUE_GROSS);
                row.refunds += get(c, REFUNDS);
            }
        }
    }
    rows.into_values()
        .map(|mut r| {
            (r.revenue_gross, r.refunds, r.revenue_net) = revenue(r.revenue_gross, r.refunds);
            r.revenue_per_recipient = round2(ratio(r.revenue_net, r.recipients as f64));
            r
        })
        .collect()
}

/// [`messages`] from rollups.
pub fn messages_of(r: &Rollups) -> Vec<MessageRow> {
    use rollup::names::*;
    let mut rows: BTreeMap<&Scope, MessageRow> = BTreeMap::new();
    for ((_, scope), c) in r {
        let Scope::Message {
            flow,
            version,
            step,
            template,
            variant,
            channel,
        } = scope
        else {
            continue;
        };
        let row = rows.entry(scope).or_insert_with(|| MessageRow {
            flow: flow.clone(),
            version: *version,
            step: step.clone(),
            template: template.clone(),
            variant: variant.clone(),
            channel: channel.clone(),
            ..Default::default()
        });
        for l in Lifecycle::ALL {
            let n = count(c, l.as_str());
            match l {
                Lifecycle::Sent => row.sent += n,
                Lifecycle::Delivered => row.delivered += n,
                Lifecycle::Bounced => row.bounced += n,
                Lifecycle::Opened => row.opened += n,
                Lifecycle::Clicked => row.clicked += n,
                Lifecycle::Unsubscribed => row.unsubscribed += n,
                Lifecycle::Complained => row.complained += n,
            }
        }
        row.orders += count(c, ORDERS);
        row.revenue_gross += get(c, REVENUE_GROSS);
        row.refunds += get(c, REFUNDS);
    }
    rows.into_values()
        .map(|mut r| {
            (r.revenue_gross, r.refunds, r.revenue_net) = revenue(r.revenue_gross, r.refunds);
            r.click_rate = round4(ratio(r.clicked as f64, r.sent as f64));
            r
        })
        .collect()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// [`segments`] from the period's rollups and the segment totals up to
/// its end.
pub fn segments_of(period: &Rollups, totals: &Rollups) -> Vec<SegmentRow> {
    use rollup::names::*;
    let mut rows: BTreeMap<String, SegmentRow> = BTreeMap::new();
    for ((_, scope), c) in period {
        if let Scope::Segment { segment } = scope {
            let r = rows_entry(&mut rows, segment);
            r.entered += count(c, ENTERED);
            r.exited += count(c, EXITED);
        }
    }
    let mut members: BTreeMap<&String, f64> = BTreeMap::new();
    for ((_, scope), c) in totals {
        if let Scope::Segment { segment } = scope {
            *members.entry(segment).or_default() += get(c, ENTERED) - get(c, EXITED);
        }
    }
    for (segment, m) in members {
        rows_entry(&mut rows, segment).members = m.round().max(0.0) as u64;
    }
    rows.into_values().collect()
}

fn rows_entry<'a>(rows: &'a mut BTreeMap<String, SegmentRow>, segment: &str) -> &'a mut SegmentRow {
    rows.entry(segment.to_string())
        .or_insert_with(|| SegmentRow {
            segment: segment.to_string(),
            ..Default::default()
        })
}

/// [`holdouts`] from rollups.
pub fn holdouts_of(r: &Rollups) -> Vec<ArmRow> {
    use rollup::names::*;
    type Split = (String, u32, String);
    let mut splits: BTreeMap<Split, BTreeMap<String, (u64, u64, Sums)>> = BTreeMap::new();
    for ((_, scope), c) in r {
        let Scope::Arm {
            flow,
            version,
            step,
            arm,
        } = scope
        else {
            continue;
        };
        let e = splits
            .entry((flow.clone(), *version, step.clone()))
            .or_default()
            .entry(arm.clone())
            .or_default();
        e.0 += count(c, ENTERED);
        e.1 += count(c, CONVERTED);
        e.2.sum += get(c, REVENUE);
        e.2.sum_sq += get(c, REVENUE_SQ);
    }
    let mut out = Vec::new();
    for ((flow, version, step), mut stats) in splits {
        for s in stats.values_mut() {
            s.2.n = s.0;
        }
        let baseline = stats
            .keys()
            .find(|a| a.as_str() == crate::flow::steps::split::HOLDOUT)
            .or_else(|| stats.keys().next())
            .cloned()
            .expect("a split with rollups has an arm");
        let (bn, bx, bsums) = stats[&baseline];
        for (arm, (n, x, sums)) in &stats {
            let is_base = *arm == baseline;
            let (rate_difference, verdict, more) = if is_base {
                (None, "baseline", None)
            } else {
                match lift::conversion_verdict(*x, *n, bx, bn) {
                    Some((i, v)) => {
                        let (name, more) = match v {
                            Verdict::Higher => ("higher", None),
                            Verdict::Lower => ("lower", None),
                            Verdict::NotYet { more } => ("not_yet", more),
                        };
                        (Some(round_interval(i, 4)), name, more)
                    }
                    None => (None, "not_yet", None),
                }
            };
            let revenue_difference = (!is_base)
                .then(|| lift::mean_difference(sums, &bsums))
                .flatten()
                .map(|i| round_interval(i, 2));
            out.push(ArmRow {
                flow: flow.clone(),
                version,
                step: step.clone(),
                arm: arm.clone(),
                baseline: baseline.clone(),
                entered: *n,
                converted: *x,
                conversion_rate: round4(ratio(*x as f64, *n as f64)),
                revenue: round2(sums.sum),
                revenue_per_recipient: round2(ratio(sums.sum, *n as f64)),
                rate_difference,
                revenue_difference,
                verdict,
                more_entries_needed: more,
            });
        }
    }
    out
}

fn round_interval(i: Interval, places: i32) -> Interval {
    let m = 10f64.powi(places);
    let r = |x: f64| (x * m).round() / m;
    Interval {
        estimate: r(i.estimate),
        low: r(i.low),
        high: r(i.high),
    }
}

/// The attribution settings behind the period's credits, oldest first.
pub fn settings_periods(facts: &[Fact], p: Period) -> Vec<SettingsPeriod> {
    let mut out: Vec<SettingsPeriod> = Vec::new();
    let mut credits: Vec<&Fact> = facts
        .iter()
        .filter(|f| f.kind == FactKind::Credit && p.contains(f.at))
        .collect();
    credits.sort_by_key(|f| f.at);
    for f in credits {
        let s = f.settings.as_deref().unwrap_or("");
        match out.last_mut() {
            Some(last) if last.settings == s => {
                last.last_credit = f.at;
                last.credits += 1;
            }
            _ => out.push(SettingsPeriod {
                settings: s.to_string(),
                first_credit: f.at,
                last_credit: f.at,
                credits: 1,
            }),
        }
    }
    out
}

/// The cohort table of the orders before `p.to` (all of them when open),
/// by the store's time zone. Refunds count against their order's month.
pub fn cohorts(facts: &[Fact], p: Period, tz: &TimeZone) -> Vec<CohortRow> {
    let mut orders: BTreeMap<(&str, &str), OrderFact> = BTreeMap::new();
    let mut refunds: Vec<&Fact> = Vec::new();
    let mut last: Option<Timestamp> = None;
    for f in facts {
        if p.to.is_some_and(|t| f.at >= t) {
            continue;
        }
        match f.kind {
            FactKind::Order => {
                let id = f.order.as_deref().unwrap_or("");
                orders.entry((&f.profile, id)).or_insert(OrderFact {
                    customer: f.profile.to_string(),
                    at: f.at,
                    amount: f.amount,
                    refunded: 0.0,
                });
                last = Some(last.map_or(f.at, |l| l.max(f.at)));
            }
            FactKind::Refund => refunds.push(f),
            _ => {}
        }
    }
    for r in refunds {
        let id = r.order.as_deref().unwrap_or("");
        if let Some(o) = orders.get_mut(&(&*r.profile, id)) {
            o.refunded += r.amount;
        }
    }
    let Some(end) =
        p.to.map(|t| t - jiff::SignedDuration::from_secs(1))
            .or(last)
    else {
        return Vec::new();
    };
    let list: Vec<OrderFact> = orders.into_values().collect();
    cohorts::cohorts(&list, tz, Month::of(end, tz))
        .into_iter()
        .map(|c| CohortRow {
            cohort: c.month.to_string(),
            customers: c.size,
            ordered_again: c.ordered_again.iter().map(|x| round4(*x)).collect(),
            repurchase_rate: round4(c.repurchase_rate),
            revenue_per_customer: c.revenue_per_customer.iter().map(|x| round2(*x)).collect(),
        })
        .collect()
}

/// A store's predictions as of `as_of` (orders before it, net of the
/// refunds before it), over `horizon_days` (see
/// [`crate::predict::forecast`]).
pub fn predictions(
    facts: &[Fact],
    as_of: Timestamp,
    horizon_days: u32,
    annual_discount_rate: f64,
) -> crate::predict::forecast::Forecast {
    use crate::predict::forecast::{forecast, Options, Order};
    let mut refunded: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for f in facts
        .iter()
        .filter(|f| f.kind == FactKind::Refund && f.at < as_of)
    {
        *refunded
            .entry((&f.profile, f.order.as_deref().unwrap_or("")))
            .or_default() += f.amount;
    }
    let mut seen = BTreeSet::new();
    let orders: Vec<Order> = facts
        .iter()
        .filter(|f| f.kind == FactKind::Order && f.at < as_of)
        .filter(|f| seen.insert((&*f.profile, f.order.as_deref().unwrap_or(""))))
        .map(|f| {
            let back = refunded
                .get(&(&*f.profile, f.order.as_deref().unwrap_or("")))
                .copied()
                .unwrap_or(0.0);
            Order {
                customer: &f.profile,
                at: f.at.into(),
                amount: (f.amount - back).max(0.0),
            }
        })
        .collect();
    let day = as_of.to_zoned(TimeZone::UTC).date();
    forecast(
        &orders,
        &Options::new(day, horizon_days, annual_discount_rate),
    )
}

/// The columns of each report, in the order tables and CSV print them
/// (the JSON rows have the same names).
pub const FLOW_COLUMNS: &[&str] = &[
    "flow",
    "version",
    "entered",
    "sent",
    "recipients",
    "delivered",
    "clicked",
    "unsubscribed",
    "converted",
    "orders",
    "revenue_gross",
    "refunds",
    "revenue_net",
    "revenue_per_recipient",
];
pub const MESSAGE_COLUMNS: &[&str] = &[
    "flow",
    "version",
    "step",
    "template",
    "variant",
    "channel",
    "sent",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "click_rate",
    "orders",
    "revenue_gross",
    "refunds",
    "revenue_net",
];
pub const SEGMENT_COLUMNS: &[&str] = &["segment", "entered", "exited", "members"];
pub const HOLDOUT_COLUMNS: &[&str] = &[
    "flow",
    "version",
    "step",
    "arm",
    "baseline",
    "entered",
    "converted",
    "conversion_rate",
    "revenue",
    "revenue_per_recipient",
    "rate_difference",
    "revenue_difference",
    "verdict",
    "more_entries_needed",
];
pub const PREDICTION_COLUMNS: &[&str] = &[
    "customer",
    "p_alive",
    "expected_orders",
    "predicted_clv",
    "expected_next_order_at",
];
pub const COHORT_COLUMNS: &[&str] = &[
    "cohort",
    "customers",
    "repurchase_rate",
    "ordered_again",
    "revenue_per_customer",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<T: Serialize>(row: &T) -> BTreeSet<String> {
        match serde_json::to_value(row).unwrap() {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        }
    }

    fn set(cols: &[&str]) -> BTreeSet<String> {
        cols.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn every_row_has_exactly_its_reports_columns() {
        assert_eq!(keys(&FlowRow::default()), set(FLOW_COLUMNS));
        assert_eq!(keys(&MessageRow::default()), set(MESSAGE_COLUMNS));
        assert_eq!(keys(&SegmentRow::default()), set(SEGMENT_COLUMNS));
        let arm = ArmRow {
            flow: String::new(),
            version: 1,
            step: String::new(),
            arm: String::new(),
            baseline: String::new(),
            entered: 0,
            converted: 0,
            conversion_rate: 0.0,
            revenue: 0.0,
            revenue_per_recipient: 0.0,
            rate_difference: None,
            revenue_difference: None,
            verdict: "baseline",
            more_entries_needed: None,
        };
        assert_eq!(keys(&arm), set(HOLDOUT_COLUMNS));
        let cohort = CohortRow {
            cohort: String::new(),
            customers: 0,
            ordered_again: vec![],
            repurchase_rate: 0.0,
            revenue_per_customer: vec![],
        };
        assert_eq!(keys(&cohort), set(COHORT_COLUMNS));
        let customer = crate::predict::forecast::CustomerForecast {
            customer: String::new(),
            p_alive: 0.0,
            expected_orders: 0.0,
            predicted_clv: 0.0,
            expected_next_order_at: None,
        };
        assert_eq!(keys(&customer), set(PREDICTION_COLUMNS));
    }
}
