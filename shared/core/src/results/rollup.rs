//! Daily rollups: the facts of a day summed per flow, message, split arm
//! and segment. Reports of flows, messages, holdouts and segments are
//! computed from rollups only, so a runtime that keeps rollups instead of
//! facts (DynamoDB: counters updated with atomic adds, read by day without
//! a scan) reports exactly what one that keeps every fact does.
//!
//! A fact counts on its UTC day; an arm's order counts on the day its run
//! entered the arm, with that day's entries.

use crate::results::facts::{Fact, FactKind, Lifecycle};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a rollup counts for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope")]
pub enum Scope {
    Flow {
        flow: String,
        version: u32,
    },
    Message {
        flow: String,
        version: u32,
        step: String,
        template: String,
        variant: String,
        channel: String,
    },
    Arm {
        flow: String,
        version: u32,
        step: String,
        arm: String,
    },
    Segment {
        segment: String,
    },
}

/// Field separator of a scope's key: no identifier contains it.
const SEP: char = '\u{1f}';

impl Scope {
    /// The scope as one string (a sort key).
    pub fn key(&self) -> String {
        let parts: Vec<String> = match self {
            Scope::Flow { flow, version } => vec!["flow".into(), flow.clone(), version.to_string()],
            Scope::Message {
                flow,
                version,
                step,
                template,
                variant,
                channel,
            } => vec![
                "message".into(),
                flow.clone(),
                version.to_string(),
                step.clone(),
                template.clone(),
                variant.clone(),
                channel.clone(),
            ],
            Scope::Arm {
                flow,
                version,
                step,
                arm,
            } => vec![
                "arm".into(),
                flow.clone(),
                version.to_string(),
                step.clone(),
                arm.clone(),
            ],
            Scope::Segment { segment } => vec!["segment".into(), segment.clone()],
        };
        parts.join(&SEP.to_string())
    }

    /// A key made by [`Scope::key`].
    pub fn parse(key: &str) -> Option<Scope> {
        let p: Vec<&str> = key.split(SEP).collect();
        let s = |i: usize| p.get(i).map(|x| x.to_string());
        let v = |i: usize| p.get(i).and_then(|x| x.parse().ok());
        Some(match (p.first().copied()?, p.len()) {
            ("flow", 3) => Scope::Flow {
                flow: s(1)?,
                version: v(2)?,
            },
            ("message", 7) => Scope::Message {
                flow: s(1)?,
                version: v(2)?,
                step: s(3)?,
                template: s(4)?,
                variant: s(5)?,
                channel: s(6)?,
            },
            ("arm", 5) => Scope::Arm {
                flow: s(1)?,
                version: v(2)?,
                step: s(3)?,
                arm: s(4)?,
            },
            ("segment", 2) => Scope::Segment { segment: s(1)? },
            _ => return None,
        })
    }
}

/// Named sums. Counts are whole numbers; amounts are in the store's
/// currency.
pub type Counters = BTreeMap<String, f64>;

/// Rollups by day and scope.
pub type Rollups = BTreeMap<(Date, Scope), Counters>;

/// The counter names, as stored.
pub mod names {
    pub const ENTERED: &str = "entered";
    pub const CONVERTED: &str = "converted";
    pub const RECIPIENTS: &str = "recipients";
    pub const ORDERS: &str = "orders";
    pub const REVENUE_GROSS: &str = "revenue_gross";
    pub const REFUNDS: &str = "refunds";
    pub const REVENUE: &str = "revenue";
    /// Σ over runs of (each run's arm revenue)², kept by adding
    /// `2·before·amount + amount²` per order.
    pub const REVENUE_SQ: &str = "revenue_sq";
    pub const EXITED: &str = "exited";
}

fn day(t: jiff::Timestamp) -> Date {
    t.to_zoned(TimeZone::UTC).date()
}

fn flow_of(f: &Fact) -> Option<(String, u32)> {
    Some((f.flow.as_deref()?.to_string(), f.version.unwrap_or(0)))
}

fn customer_channel(f: &Fact) -> bool {
    f.channel.is_none_or(|c| c.spec().consent)
}

/// Adds one fact to `r`.
pub fn add(r: &mut Rollups, f: &Fact) {
    use names::*;
    let mut bump = |d: Date, scope: Scope, name: &str, by: f64| {
        *r.entry((d, scope))
            .or_default()
            .entry(name.to_string())
            .or_default() += by;
    };
    let message_scope = |f: &Fact| -> Option<Scope> {
        let (flow, version) = flow_of(f)?;
        Some(Scope::Message {
            flow,
            version,
            step: f.step.as_deref().unwrap_or("").into(),
            template: f.template.as_deref().unwrap_or("").into(),
            variant: f.variant.as_deref().unwrap_or("").into(),
            channel: f.channel.map(|c| c.as_str()).unwrap_or("").into(),
        })
    };
    let d = day(f.at);
    match f.kind {
        FactKind::FlowEnter | FactKind::Converted => {
            let Some((flow, version)) = flow_of(f) else {
                return;
            };
            let name = if f.kind == FactKind::FlowEnter {
                ENTERED
            } else {
                CONVERTED
            };
            bump(d, Scope::Flow { flow, version }, name, 1.0);
        }
        FactKind::Message if customer_channel(f) => {
            let (Some(scope), Some(l)) = (message_scope(f), f.lifecycle) else {
                return;
            };
            if l == Lifecycle::Sent && f.first {
                bump(d, scope.clone(), RECIPIENTS, 1.0);
            }
            bump(d, scope, l.as_str(), 1.0);
        }
        FactKind::Credit | FactKind::CreditRefund if customer_channel(f) => {
            let Some(scope) = message_scope(f) else {
                return;
            };
            if f.kind == FactKind::Credit {
                bump(d, scope.clone(), ORDERS, 1.0);
                bump(d, scope, REVENUE_GROSS, f.amount);
            } else {
                bump(d, scope, REFUNDS, f.amount);
            }
        }
        FactKind::Arm | FactKind::ArmOrder => {
            let (Some((flow, version)), Some(step), Some(arm)) =
                (flow_of(f), f.step.as_deref(), f.variant.as_deref())
            else {
                return;
            };
            let scope = Scope::Arm {
                flow,
                version,
                step: step.into(),
                arm: arm.into(),
            };
            if f.kind == FactKind::Arm {
                bump(d, scope, ENTERED, 1.0);
            } else {
                let d = day(f.since.unwrap_or(f.at));
                if f.first {
                    bump(d, scope.clone(), CONVERTED, 1.0);
                }
                bump(d, scope.clone(), REVENUE, f.amount);
                let before = f.before;
                bump(
                    d,
                    scope,
                    REVENUE_SQ,
                    2.0 * before * f.amount + f.amount * f.amount,
                );
            }
        }
        FactKind::SegmentEnter | FactKind::SegmentExit => {
            let Some(segment) = f.segment.as_deref() else {
                return;
            };
            let name = if f.kind == FactKind::SegmentEnter {
                ENTERED
            } else {
                EXITED
            };
            bump(
                d,
                Scope::Segment {
                    segment: segment.into(),
                },
                name,
                1.0,
            );
        }
        _ => {}
    }
}

/// The rollups of `facts`.
pub fn of(facts: &[Fact]) -> Rollups {
    let mut r = Rollups::new();
    for f in facts {
        add(&mut r, f);
    }
    r
}

/// Sums `from` into `into`.
pub fn merge(into: &mut Rollups, from: Rollups) {
    for (k, c) in from {
        sum_into(into.entry(k).or_default(), c);
    }
}

/// Adds each named sum of `from` to `into`'s.
pub fn sum_into(into: &mut Counters, from: impl IntoIterator<Item = (String, f64)>) {
    for (n, v) in from {
        *into.entry(n).or_default() += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_reads_back_from_its_key() {
        for s in [
            Scope::Flow {
                flow: "welcome".into(),
                version: 3,
            },
            Scope::Message {
                flow: "welcome".into(),
                version: 1,
                step: "welcome_1".into(),
                template: "welcome_1".into(),
                variant: String::new(),
                channel: "email".into(),
            },
            Scope::Arm {
                flow: "f".into(),
                version: 2,
                step: "split".into(),
                arm: "holdout".into(),
            },
            Scope::Segment {
                segment: "vip buyers".into(),
            },
        ] {
            assert_eq!(Scope::parse(&s.key()), Some(s));
        }
        assert_eq!(Scope::parse("flow\u{1f}x"), None);
        assert_eq!(Scope::parse("nonsense"), None);
    }

    #[test]
    fn rollups_of_parts_merge_into_the_rollups_of_the_whole() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let mut facts = Vec::new();
        for (i, t) in [
            "2026-03-01T10:00:00Z",
            "2026-03-01T23:00:00Z",
            "2026-03-02T01:00:00Z",
        ]
        .iter()
        .enumerate()
        {
            let mut f = Fact::new(at(t), FactKind::Message, format!("p{i}").into());
            f.lifecycle = Some(Lifecycle::Sent);
            f.first = i != 1;
            f.flow = Some("welcome".into());
            f.version = Some(1);
            f.channel = Some(crate::model::channel::Channel::Email);
            facts.push(f);
        }
        let whole = of(&facts);
        let mut parts = of(&facts[..1]);
        merge(&mut parts, of(&facts[1..]));
        assert_eq!(parts, whole);
        // Two days, by UTC day.
        assert_eq!(whole.len(), 2);
        let first_day = whole.values().next().unwrap();
        assert_eq!((first_day["sent"], first_day["recipients"]), (2.0, 1.0));
    }
}
