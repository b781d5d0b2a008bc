//! `storeflow serve` and `storeflow trace`: wiring only — configuration,
//! environment, signals — around the embedded runtime
//! (`storeflow-embedded`).

use crate::{env_overrides, load_config};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use storeflow_core::{Decision, Kind};
use storeflow_embedded::runtime::{Loader, Options, Report};
use storeflow_embedded::{Clock, Runtime, SmtpSettings, SystemClock};

/// The configuration loader: every error names file and field.
pub fn loader(dir: PathBuf) -> Loader {
    Arc::new(move || match load_config(&dir) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(errors)) => Err(errors
            .0
            .iter()
            .map(|e| format!("{}: {e}", dir.display()))
            .collect::<Vec<_>>()
            .join("\n")),
        Err(e) => Err(format!("{e:#}")),
    })
}

/// SMTP from `STOREFLOW_SMTP_URL` (+ `STOREFLOW_SMTP_USERNAME` /
/// `STOREFLOW_SMTP_PASSWORD`, and `STOREFLOW_SMTP_CA_FILE`: a PEM file of a
/// private certificate authority to trust); none: email goes to the outbox
/// folder.
pub fn smtp_from_env() -> Result<Option<SmtpSettings>> {
    let Ok(url) = std::env::var("STOREFLOW_SMTP_URL") else {
        return Ok(None);
    };
    let credentials = match (
        std::env::var("STOREFLOW_SMTP_USERNAME"),
        std::env::var("STOREFLOW_SMTP_PASSWORD"),
    ) {
        (Ok(u), Ok(p)) => Some((u, p)),
        _ => None,
    };
    let ca_pem = match std::env::var_os("STOREFLOW_SMTP_CA_FILE") {
        Some(path) => Some(std::fs::read(&path).with_context(|| {
            format!(
                "STOREFLOW_SMTP_CA_FILE={}",
                std::path::Path::new(&path).display()
            )
        })?),
        None => None,
    };
    Ok(Some(SmtpSettings {
        url,
        credentials,
        ca_pem,
    }))
}

/// One line per decision worth seeing live: messages, deferrals, skips of
/// a send.
pub fn describe(d: &Decision) -> Option<String> {
    let what = match d.kind {
        Kind::Message => format!(
            "sent {} {} to {}",
            d.channel().unwrap_or("?"),
            d.template().unwrap_or("?"),
            d.profile
        ),
        Kind::Deferred => format!(
            "deferred {} for {} until {}",
            d.template().unwrap_or("?"),
            d.profile,
            d.until().map(|t| t.to_string()).unwrap_or_default()
        ),
        Kind::Skipped if d.template().is_some() => {
            format!("skipped {} for {}", d.template().unwrap_or("?"), d.profile)
        }
        _ => return None,
    };
    let why = d
        .reason
        .as_ref()
        .map(|r| format!(" — {r}"))
        .unwrap_or_default();
    Some(format!("{} {what}{why}", d.at))
}

fn printer() -> Report {
    Arc::new(|d: &Decision| {
        if let Some(line) = describe(d) {
            println!("{line}");
        }
    })
}

pub fn serve(config: PathBuf, listen: String, data: PathBuf, err: &mut dyn Write) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let smtp = match smtp_from_env() {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "{e:#}")?;
            return Ok(1);
        }
    };
    let admin = match storeflow_app::admin::AdminTokens::parse(
        std::env::var("STOREFLOW_ADMIN_TOKENS").ok().as_deref(),
    ) {
        Ok(a) => a,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(1);
        }
    };
    let admin_password_hash = std::env::var("STOREFLOW_ADMIN_PASSWORD_HASH")
        .ok()
        .filter(|s| !s.trim().is_empty());
    if admin.is_off() {
        writeln!(
            err,
            "storeflow serve: admin endpoints (/profiles/…) are off: set STOREFLOW_ADMIN_TOKENS to open them"
        )?;
    }
    if admin_password_hash.is_none() {
        writeln!(
            err,
            "storeflow serve: console sign-in (/admin/) is off: set STOREFLOW_ADMIN_PASSWORD_HASH (storeflow hash-password makes one)"
        )?;
    }
    let opts = Options {
        admin,
        admin_password_hash,
        before_apply: None,
        data_dir: data.clone(),
        smtp,
        webhook_secret: std::env::var("STOREFLOW_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        env: env_overrides(),
    };
    let runtime = match Runtime::open(opts, loader(config.clone()), clock, Some(printer())) {
        Ok(r) => r,
        Err(e) => {
            writeln!(err, "{e:#}")?;
            return Ok(1);
        }
    };
    if let Ok(v) = std::env::var("STOREFLOW_STATE_CACHE") {
        match v.trim().parse::<usize>() {
            Ok(n) => runtime.store.set_state_cache(n),
            Err(_) => {
                writeln!(
                    err,
                    "STOREFLOW_STATE_CACHE: {v:?} is not a number of customer states to keep in memory (0 keeps none; default {})",
                    storeflow_sqlite::state_cache::CAPACITY
                )?;
                return Ok(1);
            }
        }
    }
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "storeflow serve: http://{addr} — config {}, data {} (outbox {})",
            config.display(),
            data.display(),
            runtime.outbox.root().display()
        );
        run(runtime, listener).await
    })?;
    Ok(0)
}

/// Serves until SIGTERM / SIGINT; SIGHUP reloads the configuration.
pub async fn run(runtime: Arc<Runtime>, listener: tokio::net::TcpListener) -> Result<()> {
    // What was accepted before a crash or stop is applied first, once.
    let n = runtime.drain_inbox().await?;
    if n > 0 {
        eprintln!("storeflow serve: applied {n} item(s) accepted before the last stop");
    }
    let workers = runtime.start_workers().context("starting the workers")?;
    let stop = {
        let r = runtime.clone();
        async move {
            tokio::select! {
                _ = signals(&r) => {
                    eprintln!("storeflow serve: stopping (finishing in-flight work)");
                    r.shutdown();
                }
                // Asked in-process (the demo, tests).
                _ = r.stopped() => {}
            }
        }
    };
    axum::serve(listener, storeflow_embedded::http::router(runtime.clone()))
        .with_graceful_shutdown(stop)
        .await
        .context("serving HTTP")?;
    workers.await;
    if runtime.worker_died() {
        anyhow::bail!("stopped because a worker died (see above); nothing accepted is lost: it is applied on the next start");
    }
    eprintln!("storeflow serve: stopped");
    Ok(())
}

#[cfg(unix)]
async fn signals(rt: &Runtime) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => match rt.reload() {
                Ok(()) => eprintln!("storeflow serve: configuration reloaded"),
                Err(e) => eprintln!("storeflow serve: configuration NOT reloaded, the previous one keeps running:\n{e}"),
            },
        }
    }
}

#[cfg(not(unix))]
async fn signals(_rt: &Runtime) {
    let _ = tokio::signal::ctrl_c().await;
}

/// `storeflow trace EMAIL`: every decision about that customer, with its
/// reason.
/// The database `serve` keeps under `data`, or `None` after saying there
/// is none (the commands that read it exit 1 then).
pub fn open_data(data: &Path, err: &mut dyn Write) -> Result<Option<storeflow_sqlite::Sqlite>> {
    let db = data.join("storeflow.sqlite");
    if !db.exists() {
        writeln!(
            err,
            "no storeflow data at {} (run `storeflow serve` first)",
            db.display()
        )?;
        return Ok(None);
    }
    Ok(Some(storeflow_sqlite::Sqlite::open(&db)?))
}

pub fn trace(email: &str, data: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    let Some(store) = open_data(data, err)? else {
        return Ok(1);
    };
    let Ok(e) = storeflow_core::model::ids::Email::parse(email) else {
        writeln!(err, "{email:?} is not an email address")?;
        return Ok(2);
    };
    let mut found = false;
    for shop in store.shops()? {
        let Some(pid) = store.profile_for_key(&format!("{shop}|email|{e}"))? else {
            continue;
        };
        found = true;
        writeln!(out, "{e} ({pid}, {shop})")?;
        for d in store.decisions(&pid)? {
            writeln!(out, "  {}", trace_line(&d))?;
        }
    }
    if !found {
        writeln!(err, "no customer with email {e}")?;
        return Ok(1);
    }
    Ok(0)
}

fn trace_line(d: &Decision) -> String {
    let kind = serde_json::to_value(d.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!("{} {kind}", d.at);
    for (name, v) in [
        ("segment", d.segment.as_deref()),
        ("flow", d.flow.as_deref()),
        ("step", d.step.as_deref()),
        ("template", d.template()),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {name}={v}"));
        }
    }
    if let Some(u) = d.until() {
        s.push_str(&format!(" until={u}"));
    }
    if let Some(r) = &d.reason {
        s.push_str(&format!(": {r}"));
    }
    s
}
