//! The segments page's figures: each configured segment's definition, its
//! members now and at the end of each day of the period, and its entries
//! and exits, from the report's segment counters (`report segments`).

use jiff::civil::Date;
use serde::Serialize;
use storeflow_core::results::report as r;
use storeflow_core::results::rollup::{names, Rollups, Scope};
use storeflow_core::segment::compare::Compare;
use storeflow_core::segment::condition::Condition;
use storeflow_core::Config;

/// One segment's row.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub words: String,
    pub yaml: String,
    pub members: u64,
    pub entered: u64,
    pub exited: u64,
    /// Members at the end of each day of the period.
    pub daily: Vec<(Date, f64)>,
}

/// Every configured segment, in the configuration's order.
pub fn views(
    config: &Config,
    days: &Rollups,
    totals: &Rollups,
    from: Date,
    to: Date,
) -> Vec<SegmentView> {
    let within: Rollups = days
        .iter()
        .filter(|((d, _), _)| *d >= from && *d <= to)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rows = r::segments_of(&within, totals);
    config
        .segments
        .iter()
        .map(|def| {
            let row = rows.iter().find(|r| r.segment == *def.id);
            let members = row.map_or(0, |r| r.members);
            // Walk back from the members at the end of the period.
            let mut daily = Vec::new();
            let mut at_end = members as f64;
            let mut d = to;
            loop {
                daily.push((d, at_end.max(0.0)));
                let c = within.get(&(
                    d,
                    Scope::Segment {
                        segment: def.id.to_string(),
                    },
                ));
                let get = |k: &str| c.and_then(|c| c.get(k)).copied().unwrap_or(0.0);
                at_end -= get(names::ENTERED) - get(names::EXITED);
                if d <= from {
                    break;
                }
                match d.yesterday() {
                    Ok(y) => d = y,
                    Err(_) => break,
                }
            }
            daily.reverse();
            SegmentView {
                id: def.id.to_string(),
                name: def.name.clone().unwrap_or_else(|| def.id.to_string()),
                description: def.description.clone().unwrap_or_default(),
                words: words(&def.condition),
                yaml: serde_norway::to_string(&def.condition).unwrap_or_default(),
                members,
                entered: row.map_or(0, |r| r.entered),
                exited: row.map_or(0, |r| r.exited),
                daily,
            }
        })
        .collect()
}

fn compare(c: &Compare) -> String {
    let v = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    for (op, x) in [
        ("=", &c.eq),
        ("≠", &c.ne),
        (">", &c.gt),
        ("≥", &c.gte),
        ("<", &c.lt),
        ("≤", &c.lte),
    ] {
        if let Some(x) = x {
            parts.push(format!("{op} {}", v(x)));
        }
    }
    if let Some(xs) = &c.is_in {
        parts.push(format!(
            "in [{}]",
            xs.iter().map(v).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(xs) = &c.not_in {
        parts.push(format!(
            "not in [{}]",
            xs.iter().map(v).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(x) = &c.contains {
        parts.push(format!("contains {}", v(x)));
    }
    if let Some(x) = &c.starts_with {
        parts.push(format!("starts with \"{x}\""));
    }
    match c.exists {
        Some(true) => parts.push("is set".into()),
        Some(false) => parts.push("is not set".into()),
        None => {}
    }
    parts.join(" and ")
}

/// A condition in words, as a merchant reads it.
pub fn words(c: &Condition) -> String {
    let list = |ps: &[Condition], join: &str| {
        ps.iter()
            .map(|p| match p {
                Condition::All(_) | Condition::Any(_) => format!("({})", words(p)),
                _ => words(p),
            })
            .collect::<Vec<_>>()
            .join(join)
    };
    match c {
        Condition::All(ps) => list(ps, " and "),
        Condition::Any(ps) => list(ps, " or "),
        Condition::Not(p) => format!("not ({})", words(p)),
        Condition::Property { path, cmp } => format!("{path} {}", compare(cmp)),
        Condition::Event(e) => {
            let count = compare(&e.count);
            let count = match count.strip_prefix("≥ ") {
                _ if count.is_empty() || count == "≥ 1" => "at least once".to_string(),
                Some(n) if n.parse::<u64>().is_ok() => format!("at least {n} times"),
                _ => format!("a number of times {count}"),
            };
            let within = e
                .within
                .map(|w| format!(" in the last {w}"))
                .unwrap_or_default();
            let filter = if e.filter.is_empty() {
                ""
            } else {
                " (matching its filter)"
            };
            format!("did {}{filter} {count}{within}", e.event)
        }
        Condition::Metric { metric, cmp, .. } => {
            let name = serde_json::to_value(metric)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_default();
            format!("{name} {}", compare(cmp))
        }
        Condition::Lifecycle(stages) => format!(
            "lifecycle stage is {}",
            stages
                .iter()
                .map(|s| serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Condition::Tier(t) => format!("tier is {}", t.join(" or ")),
        Condition::Consent(ch) => format!("consented to {}", ch.as_str()),
        Condition::Tag(t) => format!("tagged {t}"),
        Condition::Segment(s) => format!("in segment {s}"),
    }
}
