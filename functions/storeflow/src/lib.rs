//! # storeflow (the command)
//!
//! The entry point that runs storeflow on one machine. It only reads files,
//! parses arguments and prints; every decision is the core's
//! (`storeflow-core`).
//!
//! - `storeflow check --config DIR` — validates a configuration directory.
//! - `storeflow simulate --config DIR --events FILE [--until T]` — replays
//!   events on a virtual clock and prints one JSON line per decision.
//!   Input lines are normalized events or platform deliveries (Shopify,
//!   SHOPLINE, Segment), normalized as the ingest function does.
//! - `storeflow ingest --config DIR --listen ADDR` — serves the ingest
//!   endpoints locally and prints each accepted event as a JSON line.
//! - `storeflow serve --config DIR [--listen ADDR] [--data DIR]` — the
//!   whole system on one machine (the embedded runtime on SQLite).
//! - `storeflow trace EMAIL [--data DIR]` — every decision about a customer.
//! - `storeflow demo --config DIR` — the sample deliveries sent to a
//!   running server on a fast clock.
//! - `storeflow deadletters list|replay ID [--data DIR]` — the inputs
//!   `serve` set aside because applying them failed.

pub mod deadletters;
pub mod demo;
pub mod replay;
pub mod report;
pub mod serve;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use storeflow_core::{Config, Engine};
use storeflow_ingest::{EnvOverrides, IngestConfig, Router};

#[derive(Parser, Debug)]
#[command(
    name = "storeflow",
    version,
    about = "Automated operations for independent online stores"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a configuration directory (store.yaml, segments/, flows/, templates/).
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Replay a JSON Lines file of events on a virtual clock; print every decision.
    Simulate {
        #[arg(long)]
        config: PathBuf,
        /// Lines of {"at": RFC 3339, "event": <normalized event>} or
        /// {"at", "source": "shopify"|"shopline"|"segment", "topic", "headers", "body"}.
        #[arg(long)]
        events: PathBuf,
        /// Run the clock on to this instant after the last event.
        #[arg(long)]
        until: Option<jiff::Timestamp>,
        /// Include each message's rendered content.
        #[arg(long)]
        bodies: bool,
    },
    /// Run everything on this machine: webhooks in, real timers, email to the outbox folder or SMTP.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Database and outbox.
        #[arg(long, default_value = "storeflow-data")]
        data: PathBuf,
    },
    /// Read a password from standard input and print its argon2 hash, for
    /// STOREFLOW_ADMIN_PASSWORD_HASH (the console's sign-in).
    HashPassword,
    /// Every decision about one customer, with its reason (from `serve`'s data).
    Trace {
        email: String,
        #[arg(long, default_value = "storeflow-data")]
        data: PathBuf,
    },
    /// Send the sample platform deliveries to a fresh server on a fast clock and show what it decides.
    Demo {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "events/platform-week.jsonl")]
        events: PathBuf,
        #[arg(long, default_value = "storeflow-demo-data")]
        data: PathBuf,
        /// Scaled seconds per real second.
        #[arg(long, default_value_t = 20_000.0)]
        speed: f64,
        /// How long the clock runs on after the last delivery.
        #[arg(long, default_value = "10d")]
        after: String,
    },
    /// Results: flows, messages, segments, holdouts or cohorts, from serve's data or a replay.
    Report {
        /// flows, messages, segments, holdouts, cohorts or predictions.
        report: String,
        /// `serve`'s data folder.
        #[arg(long, conflicts_with_all = ["events", "dynamodb_table"])]
        data: Option<PathBuf>,
        /// A DynamoDB table of the AWS function set.
        #[arg(long, conflicts_with = "events")]
        dynamodb_table: Option<String>,
        /// The configuration (with --events; with --data, for the store's time zone).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Replay these events through the simulator (with --config).
        #[arg(long, requires = "config")]
        events: Option<PathBuf>,
        /// Run the replay's clock on to this instant.
        #[arg(long, requires = "events")]
        until: Option<jiff::Timestamp>,
        /// Start of the period (inclusive).
        #[arg(long)]
        from: Option<jiff::Timestamp>,
        /// End of the period (exclusive).
        #[arg(long)]
        to: Option<jiff::Timestamp>,
        /// table, json or csv.
        #[arg(long, default_value = "table")]
        format: String,
        /// Predictions: fit on the orders before this instant (default: after the last fact).
        #[arg(long)]
        as_of: Option<jiff::Timestamp>,
        /// Predictions: how far ahead (e.g. 90d, 365d).
        #[arg(long, default_value = "365d")]
        horizon: String,
    },
    /// Inputs `serve` set aside because applying them failed (list, replay after a fix).
    Deadletters {
        #[command(subcommand)]
        action: DeadLetters,
    },
    /// Serve the ingest endpoints (webhooks, tracking API); print accepted events.
    Ingest {
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeadLetters {
    /// Every dead letter with its error, oldest first.
    List {
        #[arg(long, default_value = "storeflow-data")]
        data: PathBuf,
    },
    /// Hand one back to the engine (applied once, by the running server or the next start).
    Replay {
        id: i64,
        #[arg(long, default_value = "storeflow-data")]
        data: PathBuf,
    },
}

/// Secrets and write keys given by environment replace the store settings'.
pub fn env_overrides() -> EnvOverrides {
    EnvOverrides {
        shopify_secrets: std::env::var("STOREFLOW_SHOPIFY_SECRETS").ok(),
        shopline_secrets: std::env::var("STOREFLOW_SHOPLINE_SECRETS").ok(),
        write_keys: std::env::var("STOREFLOW_WRITE_KEYS").ok(),
    }
}

/// The signing secret for unsubscribe links: `STOREFLOW_LINK_SECRET`, or a
/// development default (fine for check and simulate, not for production).
pub fn link_secret() -> Vec<u8> {
    std::env::var("STOREFLOW_LINK_SECRET")
        .unwrap_or_else(|_| "storeflow-development-secret".into())
        .into_bytes()
}

pub fn load_config(
    dir: &std::path::Path,
) -> Result<std::result::Result<Config, storeflow_core::ConfigErrors>> {
    let sources = storeflow_app::config_dir::read_config_dir(dir)?;
    Ok(Config::from_sources(sources, link_secret()))
}

/// Runs the command; returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = write!(err, "{e}");
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match execute(cli, out, err) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            2
        }
    }
}

/// `storeflow hash-password`: the first line of `input` (without its line
/// ending) as an argon2 hash. An empty password is refused.
pub fn hash_password(
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        writeln!(err, "hash-password: no password on standard input")?;
        return Ok(1);
    }
    match storeflow_console::auth::hash_password(password) {
        Ok(h) => {
            writeln!(out, "{h}")?;
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "hash-password: {e}")?;
            Ok(2)
        }
    }
}

fn execute(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            data,
        } => serve::serve(config, listen, data, err),
        Command::Trace { email, data } => serve::trace(&email, &data, out, err),
        Command::HashPassword => hash_password(&mut std::io::stdin().lock(), out, err),
        Command::Report {
            report: which,
            data,
            dynamodb_table,
            config,
            events,
            until,
            from,
            to,
            format,
            as_of,
            horizon,
        } => {
            let Some(which) = storeflow_app::reports::Which::parse(&which) else {
                writeln!(
                    err,
                    "unknown report {which:?}: flows, messages, segments, holdouts, cohorts or predictions"
                )?;
                return Ok(2);
            };
            let horizon_days = match storeflow_core::model::duration::Dur::parse(&horizon) {
                Ok(d) if d.days > 0 && d.seconds == 0 => d.days as u32,
                _ => {
                    writeln!(
                        err,
                        "--horizon {horizon:?}: a whole number of days, such as 90d or 365d"
                    )?;
                    return Ok(2);
                }
            };
            let Some(format) = report::Format::parse(&format) else {
                writeln!(err, "--format {format:?}: table, json or csv")?;
                return Ok(2);
            };
            let source = match (data, dynamodb_table, events) {
                (Some(d), None, None) => report::Source::Data(d),
                (None, None, Some(events)) => report::Source::Replay {
                    config: config.clone().expect("clap requires --config"),
                    events,
                    until,
                },
                (None, Some(t), None) => report::Source::Dynamo(t),
                _ => {
                    writeln!(
                        err,
                        "say where the facts are: --data DIR, or --config DIR --events FILE"
                    )?;
                    return Ok(2);
                }
            };
            report::run(
                report::Args {
                    which,
                    source,
                    period: storeflow_core::results::report::Period { from, to },
                    format,
                    config,
                    forecasting: storeflow_app::reports::Forecasting {
                        as_of: as_of.or(to),
                        horizon_days,
                        ..Default::default()
                    },
                },
                out,
                err,
            )
        }
        Command::Deadletters { action } => match action {
            DeadLetters::List { data } => deadletters::list(&data, out, err),
            DeadLetters::Replay { id, data } => {
                deadletters::replay(id, &data, jiff::Timestamp::now(), out, err)
            }
        },
        Command::Demo {
            config,
            events,
            data,
            speed,
            after,
        } => {
            let after = match storeflow_core::model::duration::Dur::parse(&after) {
                Ok(d) => d.exact(),
                Err(e) => {
                    writeln!(err, "--after {after:?}: {e}")?;
                    return Ok(2);
                }
            };
            demo::demo(
                demo::DemoArgs {
                    config,
                    events,
                    data,
                    speed,
                    after,
                },
                out,
                err,
            )
        }
        Command::Ingest { config, listen } => {
            let cfg = match load_config(&config)? {
                Ok(c) => c,
                Err(errors) => {
                    writeln!(
                        err,
                        "configuration has {} error(s); run `storeflow check`",
                        errors.0.len()
                    )?;
                    return Ok(1);
                }
            };
            let router = Router::new(IngestConfig::from_settings(&cfg.settings, &env_overrides()));
            let server = storeflow_server::spawn(
                &listen,
                router,
                Box::new(|accepted| {
                    let mut o = std::io::stdout().lock();
                    for a in accepted {
                        let _ = serde_json::to_writer(&mut o, &a).map(|_| writeln!(o));
                    }
                }),
            )
            .with_context(|| format!("listening on {listen}"))?;
            writeln!(err, "storeflow ingest listening on http://{}", server.addr)?;
            server.wait();
            Ok(0)
        }
        Command::Check { config } => match load_config(&config)? {
            Ok(cfg) => {
                let versions: usize = cfg.flows.values().map(|v| v.len()).sum();
                writeln!(
                    out,
                    "ok: {} — {} segments, {} flows ({} versions), {} templates",
                    config.display(),
                    cfg.segments.len(),
                    cfg.flows.len(),
                    versions,
                    cfg.templates.ids().count()
                )?;
                Ok(0)
            }
            Err(errors) => {
                for e in &errors.0 {
                    writeln!(err, "{}: {e}", config.display())?;
                }
                writeln!(err, "{} error(s)", errors.0.len())?;
                Ok(1)
            }
        },
        Command::Simulate {
            config,
            events,
            until,
            bodies,
        } => {
            let cfg = match load_config(&config)? {
                Ok(c) => c,
                Err(errors) => {
                    for e in &errors.0 {
                        writeln!(err, "{}: {e}", config.display())?;
                    }
                    writeln!(
                        err,
                        "configuration has {} error(s); run `storeflow check`",
                        errors.0.len()
                    )?;
                    return Ok(1);
                }
            };
            let mut out = std::io::BufWriter::new(out);
            let ok = replay_file(
                cfg,
                &events,
                until,
                &mut |w, o| {
                    match o {
                        replay::Output::Decision(mut d) => {
                            if !bodies {
                                d.message = None;
                            }
                            serde_json::to_writer(&mut *w, &d)
                        }
                        replay::Output::Privacy(v) => serde_json::to_writer(&mut *w, &v),
                    }?;
                    writeln!(w)
                },
                &mut out,
                err,
            )?;
            if !ok {
                return Ok(1);
            }
            out.flush()?;
            Ok(0)
        }
    }
}

/// Replays an events file through the simulator on `cfg` (deliveries as
/// captured: no signature check), handing every output to `print`.
/// `false`: the file has bad lines, each told on `err`.
pub fn replay_file(
    cfg: Config,
    events: &std::path::Path,
    until: Option<jiff::Timestamp>,
    print: &mut replay::Print<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    let file =
        std::fs::File::open(events).with_context(|| format!("reading {}", events.display()))?;
    let router = Router::new(IngestConfig::from_settings(
        &cfg.settings,
        &EnvOverrides::default(),
    ));
    match replay::simulate(file, &router, Engine::new(cfg), until, print, out) {
        Ok(Ok(())) => Ok(true),
        Ok(Err(msgs)) => {
            for m in msgs {
                writeln!(err, "{}:{m}", events.display())?;
            }
            Ok(false)
        }
        Err(replay::Error::Read(e)) => {
            Err(e).with_context(|| format!("reading {}", events.display()))
        }
        Err(replay::Error::Write(e)) => Err(e).context("writing decisions"),
    }
}

/// Parses JSON Lines (with their line numbers); blank lines and `//`
/// comments are skipped. Errors are `line: message`, all of them.
pub fn parse_lines(text: &str) -> std::result::Result<Vec<(usize, replay::Line)>, Vec<String>> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with("//") {
            continue;
        }
        match replay::Line::parse(l) {
            Ok(s) => ok.push((i + 1, s)),
            Err(e) => errs.push(format!("{}: {e}", i + 1)),
        }
    }
    if errs.is_empty() {
        Ok(ok)
    } else {
        Err(errs)
    }
}
