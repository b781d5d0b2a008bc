//! `storeflow report` and the console's figures: a report of the facts a
//! runtime stored (or a simulation made), as one JSON document whose rows
//! are named as the README's columns. Each runtime reads its facts; the
//! numbers come from `storeflow_core::results::report`, the same
//! everywhere.

use jiff::tz::TimeZone;
use serde_json::{json, Value};
use storeflow_core::results::facts::Fact;
use storeflow_core::results::report::{self as r, Period};

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Flows,
    Messages,
    Segments,
    Holdouts,
    Cohorts,
    Predictions,
}

impl Which {
    pub fn parse(s: &str) -> Option<Which> {
        Some(match s {
            "flows" => Which::Flows,
            "messages" => Which::Messages,
            "segments" => Which::Segments,
            "holdouts" => Which::Holdouts,
            "cohorts" => Which::Cohorts,
            "predictions" => Which::Predictions,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Which::Flows => "flows",
            Which::Messages => "messages",
            Which::Segments => "segments",
            Which::Holdouts => "holdouts",
            Which::Cohorts => "cohorts",
            Which::Predictions => "predictions",
        }
    }

    /// Whether the report is made from daily counters (which every runtime
    /// keeps), not from each order.
    pub fn counted(self) -> bool {
        !matches!(self, Which::Cohorts | Which::Predictions)
    }

    /// The report's columns, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Which::Flows => r::FLOW_COLUMNS,
            Which::Messages => r::MESSAGE_COLUMNS,
            Which::Segments => r::SEGMENT_COLUMNS,
            Which::Holdouts => r::HOLDOUT_COLUMNS,
            Which::Cohorts => r::COHORT_COLUMNS,
            Which::Predictions => r::PREDICTION_COLUMNS,
        }
    }
}

/// What a predictions report forecasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecasting {
    /// Orders before this instant are used (default: the end of the
    /// period, else the instant after the last fact).
    pub as_of: Option<jiff::Timestamp>,
    pub horizon_days: u32,
    pub annual_discount_rate: f64,
}

impl Default for Forecasting {
    fn default() -> Self {
        Forecasting {
            as_of: None,
            horizon_days: 365,
            annual_discount_rate: 0.1,
        }
    }
}

/// The predictions report: the forecast's fields (`model`, `reason`,
/// `as_of`, `horizon_days`, `time_unit`, the fitted parameters) with its
/// customers as `rows`.
pub fn predictions(facts: &[Fact], f: Forecasting) -> Value {
    let as_of = f.as_of.unwrap_or_else(|| {
        facts
            .iter()
            .map(|x| x.at)
            .max()
            .map(|t| t + jiff::SignedDuration::from_secs(1))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    });
    let fc = r::predictions(facts, as_of, f.horizon_days, f.annual_discount_rate);
    let mut doc = json!(fc);
    if let Some(o) = doc.as_object_mut() {
        let rows = o.remove("customers").unwrap_or(json!([]));
        o.insert("report".into(), json!("predictions"));
        o.insert("rows".into(), rows);
    }
    doc
}

/// The report as one document: `report`, `period` (`from`, `to`),
/// `attribution_settings` (which settings decided the period's credits,
/// for reports of revenue) and `rows`. (Predictions: [`predictions`].)
pub fn report(which: Which, facts: &[Fact], period: Period, tz: &TimeZone) -> Value {
    let rows = match which {
        Which::Predictions => {
            return predictions(
                facts,
                Forecasting {
                    as_of: period.to,
                    ..Default::default()
                },
            )
        }
        Which::Flows => json!(r::flows(facts, period)),
        Which::Messages => json!(r::messages(facts, period)),
        Which::Segments => json!(r::segments(facts, period)),
        Which::Holdouts => json!(r::holdouts(facts, period)),
        Which::Cohorts => json!(r::cohorts(facts, period, tz)),
    };
    document(which, rows, period, Some(facts))
}

/// A report from stored rollups (a runtime that keeps counters, not
/// facts): flows, messages, holdouts and segments; `totals` are the
/// segment counters from the first day to the end of the period (members
/// at its end); `credits`, when the runtime keeps them, name the
/// attribution settings of the period. `None` for the reports that need
/// each order (see [`Which::counted`]).
pub fn from_rollups(
    which: Which,
    days: &storeflow_core::results::rollup::Rollups,
    totals: &storeflow_core::results::rollup::Rollups,
    credits: Option<&[Fact]>,
    period: Period,
) -> Option<Value> {
    let rows = match which {
        Which::Flows => json!(r::flows_of(days)),
        Which::Messages => json!(r::messages_of(days)),
        Which::Segments => json!(r::segments_of(days, totals)),
        Which::Holdouts => json!(r::holdouts_of(days)),
        Which::Cohorts | Which::Predictions => return None,
    };
    Some(document(which, rows, period, credits))
}

/// The one document every report is: its rows, and what explains them.
fn document(which: Which, rows: Value, period: Period, credits: Option<&[Fact]>) -> Value {
    let mut doc = json!({
        "report": which.name(),
        "period": period,
        "rows": rows,
    });
    if let (Which::Flows | Which::Messages, Some(credits)) = (which, credits) {
        doc["attribution_settings"] = json!(r::settings_periods(credits, period));
    }
    if which == Which::Holdouts {
        doc["method"] = json!(
            "conversion: an order within the conversion window of entering the arm; \
             rate difference: Newcombe hybrid score 95% interval; \
             revenue per recipient difference: normal 95% interval, Welch standard error"
        );
    }
    doc
}

/// The days a period covers, by UTC day (`to` is exclusive): what a
/// runtime keeping daily counters reads.
pub fn days_of(period: Period) -> (jiff::civil::Date, jiff::civil::Date) {
    let day = |t: jiff::Timestamp| t.to_zoned(TimeZone::UTC).date();
    let from = period.from.map(day).unwrap_or(jiff::civil::Date::MIN);
    let to = period
        .to
        .map(|t| day(t - jiff::SignedDuration::from_nanos(1)))
        .unwrap_or(jiff::civil::Date::MAX);
    (from, to)
}

/// One cell as text: numbers as they are, intervals as `estimate [low,
/// high]`, lists space-separated, nothing as empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(" "),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            let t = format!("{x:.4}");
            let t = t.trim_end_matches('0').trim_end_matches('.');
            if t.is_empty() || t == "-" {
                "0".into()
            } else {
                t.to_string()
            }
        }
        Value::Object(o) if o.contains_key("estimate") => format!(
            "{} [{}, {}]",
            cell(&o["estimate"]),
            cell(&o["low"]),
            cell(&o["high"])
        ),
        other => other.to_string(),
    }
}

/// The rows as an aligned text table.
pub fn table(which: Which, doc: &Value) -> String {
    let cols = which.columns();
    let rows: Vec<Vec<String>> = doc["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| cols.iter().map(|c| cell(&row[*c])).collect())
                .collect()
        })
        .unwrap_or_default();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    if let Some(model) = doc["model"].as_str() {
        out.push_str(&format!(
            "model: {model} ({}), as of {}, {} days ahead\n",
            cell(&doc["reason"]),
            cell(&doc["as_of"]),
            cell(&doc["horizon_days"])
        ));
    }
    line(cols.iter().map(|c| c.to_string()).collect(), &mut out);
    for r in rows {
        line(r, &mut out);
    }
    if let Some(s) = doc["attribution_settings"].as_array() {
        for p in s {
            out.push_str(&format!(
                "attribution settings from {} to {} ({} credits): {}\n",
                cell(&p["first_credit"]),
                cell(&p["last_credit"]),
                cell(&p["credits"]),
                cell(&p["settings"])
            ));
        }
    }
    out
}

/// The rows as CSV (RFC 4180 quoting).
pub fn csv(which: Which, doc: &Value) -> String {
    let cols = which.columns();
    let quote = |s: String| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut out = cols.join(",");
    out.push('\n');
    for row in doc["rows"].as_array().into_iter().flatten() {
        let cells: Vec<String> = cols.iter().map(|c| quote(cell(&row[*c]))).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
