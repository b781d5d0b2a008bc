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
}

impl Which {
    pub fn parse(s: &str) -> Option<Which> {
        Some(match s {
            "flows" => Which::Flows,
            "messages" => Which::Messages,
            "segments" => Which::Segments,
            "holdouts" => Which::Holdouts,
            "cohorts" => Which::Cohorts,
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
        }
    }

    /// The report's columns, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Which::Flows => r::FLOW_COLUMNS,
            Which::Messages => r::MESSAGE_COLUMNS,
            Which::Segments => r::SEGMENT_COLUMNS,
            Which::Holdouts => r::HOLDOUT_COLUMNS,
            Which::Cohorts => r::COHORT_COLUMNS,
        }
    }
}

/// The report as one document: `report`, `period` (`from`, `to`),
/// `attribution_settings` (which settings decided the period's credits,
/// for reports of revenue) and `rows`.
pub fn report(which: Which, facts: &[Fact], period: Period, tz: &TimeZone) -> Value {
    let rows = match which {
        Which::Flows => json!(r::flows(facts, period)),
        Which::Messages => json!(r::messages(facts, period)),
        Which::Segments => json!(r::segments(facts, period)),
        Which::Holdouts => json!(r::holdouts(facts, period)),
        Which::Cohorts => json!(r::cohorts(facts, period, tz)),
    };
    let mut doc = json!({
        "report": which.name(),
        "period": period,
        "rows": rows,
    });
    if matches!(which, Which::Flows | Which::Messages) {
        doc["attribution_settings"] = json!(r::settings_periods(facts, period));
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

/// One cell as text: numbers as they are, intervals as `estimate [low,
/// high]`, lists space-separated, nothing as empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(" "),
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
