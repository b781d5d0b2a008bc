//! `storeflow report`: a report of a store's results, from `serve`'s
//! database or a replay of an events file through the simulator.

use crate::replay;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use storeflow_app::reports::{self, Which};
use storeflow_core::results::facts::{facts_of, Fact};
use storeflow_core::results::report::Period;
use storeflow_core::Engine;
use storeflow_ingest::{EnvOverrides, IngestConfig, Router};

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
            match a.which {
                Which::Cohorts | Which::Predictions => {
                    storeflow_sqlite::results::read_orders(&conn).with_context(what)?
                }
                which => {
                    // Counters by UTC day; the settings from the credits.
                    let (from, to) = reports::days_of(a.period);
                    let (days, totals) = storeflow_sqlite::results::read_rollups(&conn, from, to)
                        .with_context(what)?;
                    let mut doc = reports::from_rollups(which, &days, &totals, a.period)
                        .expect("a report of counters");
                    if matches!(which, Which::Flows | Which::Messages) {
                        let credits =
                            storeflow_sqlite::results::read_credits(&conn).with_context(what)?;
                        doc["attribution_settings"] = serde_json::json!(
                            storeflow_core::results::report::settings_periods(&credits, a.period)
                        );
                    }
                    print(which, a.format, &doc, out)?;
                    return Ok(0);
                }
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
    use jiff::tz::TimeZone;
    if matches!(which, Which::Cohorts | Which::Predictions) {
        writeln!(
            err,
            "report {}: needs each order, which the DynamoDB table keeps as counters only; use --data or --events",
            which.name()
        )?;
        return Ok(None);
    }
    let to = period.to.unwrap_or_else(jiff::Timestamp::now);
    let from = period
        .from
        .unwrap_or_else(|| to - jiff::SignedDuration::from_hours(24 * 30));
    let day = |t: jiff::Timestamp| t.to_zoned(TimeZone::UTC).date();
    // `to` is exclusive: its day counts only when the period ends after
    // its midnight.
    let last = day(to - jiff::SignedDuration::from_nanos(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (days, totals) = rt.block_on(async {
        let cfg = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let t = storeflow_aws::table::Table::new(aws_sdk_dynamodb::Client::new(&cfg), table);
        t.read_rollups(day(from), last).await
    })?;
    let doc = reports::from_rollups(
        which,
        &days,
        &totals,
        Period {
            from: Some(from),
            to: Some(to),
        },
    );
    if doc.is_none() {
        writeln!(
            err,
            "report {}: needs each order, which the DynamoDB table keeps as counters only; use --data or --events",
            which.name()
        )?;
    }
    Ok(doc)
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
    let file =
        std::fs::File::open(events).with_context(|| format!("reading {}", events.display()))?;
    let router = Router::new(IngestConfig::from_settings(
        &cfg.settings,
        &EnvOverrides::default(),
    ));
    let mut facts = Vec::new();
    let ran = replay::simulate(
        file,
        &router,
        Engine::new(cfg),
        until,
        &mut |_, o| {
            if let replay::Output::Decision(d) = o {
                facts_of(std::slice::from_ref(&d), &mut facts);
            }
            Ok(())
        },
        &mut std::io::sink(),
    );
    match ran {
        Ok(Ok(())) => Ok(Some(facts)),
        Ok(Err(msgs)) => {
            for m in msgs {
                writeln!(err, "{}:{m}", events.display())?;
            }
            Ok(None)
        }
        Err(replay::Error::Read(e)) => {
            Err(e).with_context(|| format!("reading {}", events.display()))
        }
        Err(replay::Error::Write(e)) => Err(e).context("collecting facts"),
    }
}
