//! `storeflow demo`: the first minute with storeflow. Starts the embedded
//! runtime on a scaled clock (a week and a half in about a minute), then
//! sends the sample platform deliveries in `events/` to it over HTTP —
//! signed as the platforms sign them — at their (scaled) times, and shows
//! which messages go to whom and why as they are decided.

use crate::replay::Line;
use crate::serve::{describe, loader};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use storeflow_embedded::runtime::{Options, Report};
use storeflow_embedded::{Clock, Runtime, ScaledClock};
use storeflow_ingest::store::Source;
use storeflow_ingest::{signature, EnvOverrides};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SHOPIFY_SECRET: &str = "storeflow-demo-shopify-secret";
const SHOPLINE_SECRET: &str = "storeflow-demo-shopline-secret";
const WRITE_KEY: &str = "storeflow-demo-write-key";
/// Marks a data directory the demo made, so it only ever clears its own.
const MARKER: &str = ".storeflow-demo";

pub struct DemoArgs {
    pub config: PathBuf,
    pub events: PathBuf,
    pub data: PathBuf,
    /// Scaled seconds per real second.
    pub speed: f64,
    /// How long the clock runs on after the last delivery.
    pub after: SignedDuration,
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `storeflow demo`; choose another --data",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    std::fs::write(dir.join(MARKER), "made by storeflow demo\n")?;
    Ok(())
}

pub fn demo(args: DemoArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    let text = std::fs::read_to_string(&args.events)
        .with_context(|| format!("reading {}", args.events.display()))?;
    let lines = match crate::parse_lines(&text) {
        Ok(l) => l,
        Err(msgs) => {
            for m in msgs {
                writeln!(err, "{}:{m}", args.events.display())?;
            }
            return Ok(1);
        }
    };
    let mut deliveries: Vec<_> = lines
        .into_iter()
        .filter_map(|(_, l)| match l {
            Line::Delivery(d) => Some(d),
            Line::Event(_) => None,
        })
        .collect();
    deliveries.sort_by_key(|d| d.at);
    let Some(first) = deliveries.first().map(|d| d.at) else {
        writeln!(
            err,
            "{}: no platform deliveries to send",
            args.events.display()
        )?;
        return Ok(1);
    };
    let last = deliveries.last().map(|d| d.at).unwrap_or(first);
    let until = last + args.after;
    fresh_dir(&args.data)?;

    let clock = Arc::new(ScaledClock::new(
        first - SignedDuration::from_secs(60),
        args.speed,
    ));
    let report: Report = Arc::new(|d| {
        if let Some(line) = describe(d) {
            println!("  {line}");
        }
    });
    let opts = Options {
        data_dir: args.data.clone(),
        smtp: None,
        webhook_secret: None,
        env: EnvOverrides {
            shopify_secrets: Some(SHOPIFY_SECRET.into()),
            shopline_secrets: Some(SHOPLINE_SECRET.into()),
            write_keys: Some(WRITE_KEY.into()),
        },
        admin: Default::default(),
        before_apply: None,
        admin_password_hash: None,
    };
    let runtime = match Runtime::open(
        opts,
        loader(args.config.clone()),
        clock.clone(),
        Some(report),
    ) {
        Ok(r) => r,
        Err(e) => {
            writeln!(err, "{e:#}")?;
            return Ok(1);
        }
    };
    writeln!(
        out,
        "storeflow demo: {} deliveries from {}, {first} → {until}, {}× real time",
        deliveries.len(),
        args.events.display(),
        args.speed
    )?;
    out.flush()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outbox = runtime.outbox.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = {
            let r = runtime.clone();
            tokio::spawn(async move { crate::serve::run(r, listener).await })
        };
        for d in &deliveries {
            sleep_until(clock.as_ref(), d.at).await;
            let del = d.delivery();
            let (path, headers) = signed(&del);
            let status = post(addr, &path, &headers, &del.body).await?;
            println!(
                "{} → POST {path} {}: {status}",
                d.at,
                del.topic.as_deref().unwrap_or("")
            );
        }
        sleep_until(clock.as_ref(), until).await;
        runtime.shutdown();
        // Ends the HTTP server too: its graceful shutdown follows the runtime.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        anyhow::Ok(())
    })?;
    let count = outbox.files().len();
    writeln!(
        out,
        "storeflow demo: done — {count} message(s) in {} (open the .eml files under email/ in a mail client); \
         `storeflow trace EMAIL --data {}` explains every decision",
        outbox.root().display(),
        args.data.display()
    )?;
    Ok(0)
}

async fn sleep_until(clock: &dyn Clock, t: Timestamp) {
    loop {
        let now = clock.now();
        if now >= t {
            return;
        }
        tokio::time::sleep(
            clock
                .real(t.duration_since(now))
                .min(std::time::Duration::from_millis(200)),
        )
        .await;
    }
}

/// The path and headers a platform would send, signed with the demo secrets.
fn signed(d: &storeflow_ingest::Delivery) -> (String, Vec<(String, String)>) {
    let mut headers: Vec<(String, String)> = d
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    headers.push(("Content-Type".into(), "application/json".into()));
    let topic = d.topic.clone().unwrap_or_default();
    match d.source {
        Source::Shopify => {
            headers.push(("X-Shopify-Topic".into(), topic));
            headers.push((
                "X-Shopify-Hmac-Sha256".into(),
                signature::sign_base64(SHOPIFY_SECRET.as_bytes(), &d.body),
            ));
            ("/webhooks/shopify".into(), headers)
        }
        Source::Shopline => {
            headers.push(("X-Shopline-Topic".into(), topic));
            headers.push((
                "X-Shopline-Hmac-Sha256".into(),
                signature::sign_base64(SHOPLINE_SECRET.as_bytes(), &d.body),
            ));
            ("/webhooks/shopline".into(), headers)
        }
        Source::Segment => {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{WRITE_KEY}:"));
            headers.push(("Authorization".into(), format!("Basic {auth}")));
            (format!("/v1/{topic}"), headers)
        }
    }
}

/// A plain HTTP/1.1 POST; returns the status code.
pub async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("host") {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await?;
    s.write_all(body).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let head = String::from_utf8_lossy(&resp);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad HTTP response from {addr}: {head:.80}"))
}
