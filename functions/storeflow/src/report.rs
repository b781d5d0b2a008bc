//! `storeflow report`: a report of a store's results, from `serve`'s
//! database or a replay of an events file through the simulator.

use crate::replay;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use storeflow_app::reports::{self, Which};
use storeflow_core::results::facts::{facts_of, Fact};
use storeflow_core::results::report::Period;

/// Where the facts come from.
pub enum Source {
    /// `serve`'s data folder.
    Data(PathBuf),
    /// The DynamoDB table of the AWS function set (its rollups).
    Dynamo(String),
    /// A replay of an events file through the simulator.
    Replay {
        config: PathBuf,
        events: PathBuf,
        until: Option<jiff::Timestamp>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "table" => Format::Table,
            "json" => Format::Json,
            "csv" => Format::Csv,
            _ => return None,
        })
    }
}

pub struct Args {
    pub which: Which,
    pub source: Source,
    pub period: Period,
    pub format: Format,
    /// The configuration directory, for the store's time zone (cohorts).
    pub config: Option<PathBuf>,
    /// Predictions: as of when, and how far ahead.
    pub forecasting: reports::Forecasting,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    let config_dir = match &a.source {
        Source::Replay { config, .. } => Some(config.clone()),
        Source::Data(_) | Source::Dynamo(_) => a.config.clone(),
    };
    let cfg = match config_dir {
        Some(dir) => match crate::load_config(&dir)? {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in &errors.0 {
                    writeln!(err, "{}: {e}", dir.display())?;
                }
                return Ok(1);
            }
        },
        None => None,
    };
    let tz = cfg
        .as_ref()
        .and_then(|c| jiff::tz::TimeZone::get(&c.settings.store.timezone).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    if let Source::Dynamo(table) = &a.source {
        let Some(doc) = dynamo(a.which, table, a.period, err)? else {
            return Ok(2);
        };
        print(a.which, a.format, &doc, out)?;
        return Ok(0);
    }
    let facts = match a.source {
        Source::Dynamo(_) => unreachable!("answered above"),
        Source::Data(dir) => {
            let path = dir.join("storeflow.sqlite");
            let what = || format!("reading the results in {}", path.display());
            let conn = storeflow_sqlite::results::open_read_only(&path).with_context(what)?;
            if !a.which.counted() {
                storeflow_sqlite::results::read_orders(&conn).with_context(what)?
            } else {
                let (from, to) = reports::days_of(a.period);
                let (days, totals) =
                    storeflow_sqlite::results::read_rollups(&conn, from, to).with_context(what)?;
                // The credits name the attribution settings of revenue reports.
                let credits = match a.which {
                    Which::Flows | Which::Messages => {
                        storeflow_sqlite::results::read_credits(&conn).with_context(what)?
                    }
                    _ => Vec::new(),
                };
                let doc = reports::from_rollups(a.which, &days, &totals, Some(&credits), a.period)
                    .expect("a counted report");
                print(a.which, a.format, &doc, out)?;
                return Ok(0);
            }
        }
        Source::Replay { events, until, .. } => {
            let cfg = cfg.expect("a replay has a configuration");
            match replayed(cfg, &events, until, err)? {
                Some(f) => f,
                None => return Ok(1),
            }
        }
    };
    let doc = match a.which {
        Which::Predictions => reports::predictions(&facts, a.forecasting),
        w => reports::report(w, &facts, a.period, &tz),
    };
    print(a.which, a.format, &doc, out)?;
    Ok(0)
}

fn print(which: Which, format: Format, doc: &serde_json::Value, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, doc)?;
            writeln!(out)?;
        }
        Format::Table => write!(out, "{}", reports::table(which, doc))?,
        Format::Csv => write!(out, "{}", reports::csv(which, doc))?,
    }
    Ok(())
}

/// A report from the table's rollups: the days of the period (`--from`
/// default 30 days before `--to`, `--to` default now), by UTC day.
#[cfg(feature = "aws")]
fn dynamo(
    which: Which,
    table: &str,
    period: Period,
    err: &mut dyn Write,
) -> Result<Option<serde_json::Value>> {
    if !which.counted() {
        writeln!(
            err,
            "report {}: needs each order, which the DynamoDB table keeps as counters only; use --data or --events",
            which.name()
        )?;
        return Ok(None);
    }
    let to = period.to.unwrap_or_else(jiff::Timestamp::now);
    let period = Period {
        from: Some(
            period
                .from
                .unwrap_or_else(|| to - jiff::SignedDuration::from_hours(24 * 30)),
        ),
        to: Some(to),
    };
    let (first, last) = reports::days_of(period);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (days, totals) = rt.block_on(async {
        let cfg = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let t = storeflow_aws::table::Table::new(aws_sdk_dynamodb::Client::new(&cfg), table);
        t.read_rollups(first, last).await
    })?;
    Ok(reports::from_rollups(which, &days, &totals, None, period))
}

#[cfg(not(feature = "aws"))]
fn dynamo(_: Which, _: &str, _: Period, err: &mut dyn Write) -> Result<Option<serde_json::Value>> {
    writeln!(
        err,
        "--dynamodb-table: this storeflow was built without AWS support; build it with `--features aws`"
    )?;
    Ok(None)
}

/// The facts of a simulated replay (`None`: the file has bad lines, told).
fn replayed(
    cfg: storeflow_core::Config,
    events: &std::path::Path,
    until: Option<jiff::Timestamp>,
    err: &mut dyn Write,
) -> Result<Option<Vec<Fact>>> {
    let mut facts = Vec::new();
    let ok = crate::replay_file(
        cfg,
        events,
        until,
        &mut |_, o| {
            if let replay::Output::Decision(d) = o {
                facts_of(std::slice::from_ref(&d), &mut facts);
            }
            Ok(())
        },
        &mut std::io::sink(),
        err,
    )?;
    Ok(ok.then_some(facts))
}
