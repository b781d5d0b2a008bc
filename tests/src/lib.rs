//! Shared helpers for storeflow's integration tests: build event timelines,
//! run them through the simulator on the starter pack (or any config), and
//! ask what each customer received and why. `aws` and `template` hold the
//! support for tests on the AWS emulators, built from `infra/template.yaml`.

pub mod aws;
pub mod template;
pub mod webdriver;

use jiff::Timestamp;
use serde_json::{json, Value};
use std::path::PathBuf;
use storeflow_app::simulate::{SimLine, Simulator};
use storeflow_core::{Config, Decision, Engine, Kind};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The starter pack, loaded the way `storeflow` loads it.
pub fn starter() -> Config {
    config_at(&repo_root().join("examples/starter"))
}

pub fn config_at(dir: &std::path::Path) -> Config {
    match storeflow::load_config(dir).expect("readable config") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

pub fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {s:?}: {e}"))
}

/// A timeline of events for one simulation.
#[derive(Default, Clone)]
pub struct Timeline {
    lines: Vec<SimLine>,
    seq: usize,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// An event that occurs and arrives at `at`.
    pub fn at(&mut self, at: &str, kind: &str, customer: Value, props: Value) -> &mut Self {
        self.push(at, at, kind, customer, props, None)
    }

    /// An event with an explicit idempotency key (to send duplicates).
    pub fn with_id(
        &mut self,
        at: &str,
        id: &str,
        kind: &str,
        customer: Value,
        props: Value,
    ) -> &mut Self {
        self.push(at, at, kind, customer, props, Some(id))
    }

    /// An event that occurred at `occurred` but arrives at `arrives`.
    pub fn late(
        &mut self,
        arrives: &str,
        occurred: &str,
        kind: &str,
        customer: Value,
        props: Value,
    ) -> &mut Self {
        self.push(arrives, occurred, kind, customer, props, None)
    }

    fn push(
        &mut self,
        arrives: &str,
        occurred: &str,
        kind: &str,
        customer: Value,
        props: Value,
        id: Option<&str>,
    ) -> &mut Self {
        self.seq += 1;
        let id = id
            .map(str::to_string)
            .unwrap_or_else(|| format!("evt-{}", self.seq));
        let line = json!({"at": arrives, "event": {"id": id, "shop": "northwind.myshopify.com", "type": kind,
            "occurred_at": occurred, "customer": customer, "properties": props}});
        self.lines
            .push(serde_json::from_value(line).unwrap_or_else(|e| panic!("bad test event: {e}")));
        self
    }

    pub fn lines(&self) -> Vec<SimLine> {
        self.lines.clone()
    }

    /// Runs on the starter pack until `until`.
    pub fn run(&self, until: &str) -> Trace {
        self.run_with(starter(), until)
    }

    pub fn run_with(&self, cfg: Config, until: &str) -> Trace {
        let mut lines = self.lines.clone();
        lines.sort_by_key(|l| l.at);
        let mut sim = Simulator::new(Engine::new(cfg));
        let mut decisions = Vec::new();
        for l in lines {
            decisions.extend(sim.feed(l.at, l.event));
        }
        decisions.extend(sim.run_until(ts(until)));
        Trace { decisions, sim }
    }
}

pub fn email(e: &str) -> Value {
    json!({"email": e})
}

/// A customer with an email, in New York unless set otherwise with `in_zone`.
pub fn anon(id: &str) -> Value {
    json!({"anonymous_id": id})
}

/// Everything decided in a simulation.
pub struct Trace {
    pub decisions: Vec<Decision>,
    pub sim: Simulator,
}

impl Trace {
    pub fn for_profile(&self, who: &str) -> impl Iterator<Item = &Decision> + '_ {
        let who = who.to_string();
        self.decisions.iter().filter(move |d| *d.profile == *who)
    }

    /// (instant, template) of every message sent to `who`, in order.
    pub fn messages(&self, who: &str) -> Vec<(Timestamp, String)> {
        self.for_profile(who)
            .filter(|d| d.kind == Kind::Message)
            .map(|d| (d.at, d.template().unwrap_or_default().to_string()))
            .collect()
    }

    pub fn templates(&self, who: &str) -> Vec<String> {
        self.messages(who).into_iter().map(|(_, t)| t).collect()
    }

    /// When `template` was sent to `who` (panics if never or more than once).
    pub fn sent_once(&self, who: &str, template: &str) -> Timestamp {
        let hits: Vec<Timestamp> = self
            .messages(who)
            .into_iter()
            .filter(|(_, t)| t == template)
            .map(|(at, _)| at)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{template} to {who}: {hits:?}\n{}",
            self.dump(who)
        );
        hits[0]
    }

    pub fn never_sent(&self, who: &str, template: &str) {
        assert!(
            !self.messages(who).iter().any(|(_, t)| t == template),
            "{template} must not be sent to {who}\n{}",
            self.dump(who)
        );
    }

    /// The message decision itself (for its rendered content).
    pub fn message(&self, who: &str, template: &str) -> &storeflow_core::Message {
        self.for_profile(who)
            .find(|d| d.kind == Kind::Message && d.template() == Some(template))
            .and_then(|d| d.message.as_deref())
            .unwrap_or_else(|| panic!("no {template} to {who}\n{}", self.dump(who)))
    }

    /// Decisions of a kind whose reason contains `needle`.
    pub fn with_reason(&self, who: &str, kind: Kind, needle: &str) -> Vec<&Decision> {
        self.for_profile(who)
            .filter(|d| d.kind == kind && d.reason.as_ref().is_some_and(|r| r.contains(needle)))
            .collect()
    }

    /// A readable trace for assertion messages.
    pub fn dump(&self, who: &str) -> String {
        self.for_profile(who)
            .map(|d| {
                format!(
                    "  {} {:?} flow={} step={} tpl={} seg={} until={} reason={}",
                    d.at,
                    d.kind,
                    d.flow.as_deref().unwrap_or("-"),
                    d.step.as_deref().unwrap_or("-"),
                    d.template().unwrap_or("-"),
                    d.segment.as_deref().unwrap_or("-"),
                    d.until().map(|t| t.to_string()).unwrap_or_default(),
                    d.reason
                        .as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into())
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A subscriber: created (New York) and opted in to email at `at`.
pub fn subscriber(t: &mut Timeline, at: &str, who: &str) {
    t.at(
        at,
        "customer_created",
        email(who),
        json!({"first_name": "Ann", "country": "US", "province": "NY"}),
    );
    t.at(
        at,
        "consent_changed",
        email(who),
        json!({"channel": "email", "status": "subscribed"}),
    );
}

/// A subscriber (see [`subscriber`]) who also gave a phone number and
/// consented to SMS.
pub fn sms_subscriber(t: &mut Timeline, at: &str, who: &str, phone: &str) {
    subscriber(t, at, who);
    t.at(
        at,
        "customer_updated",
        json!({"email": who, "phone": phone}),
        json!({}),
    );
    t.at(
        at,
        "consent_changed",
        email(who),
        json!({"channel": "sms", "status": "subscribed"}),
    );
}

/// The targets of a message's tracked links (`/c/{token}` redirects of the
/// starter store), in order; each token's signature is checked.
pub fn link_targets(text: &str) -> Vec<String> {
    let signer = storeflow_core::model::links::Signer::new(&storeflow::link_secret());
    text.split("/c/")
        .skip(1)
        .filter_map(|rest| {
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '~' | '-' | '_'))
                .collect();
            signer
                .verify_tracked("northwind.myshopify.com", &token)
                .and_then(|t| t.url)
        })
        .collect()
}

pub fn line_items() -> Value {
    json!([
        {"product_id": "linen-shirt", "variant_id": "linen-shirt-m", "title": "Linen shirt", "variant_title": "M",
         "quantity": 1, "price": 65.0, "image_url": "https://cdn.northwind.example.com/linen-shirt.jpg"},
        {"product_id": "canvas-tote", "title": "Canvas tote", "quantity": 2, "price": 18.5}
    ])
}

/// The project's Python virtualenv under the cache (`scripts/test` makes
/// it), with `module` importable: installed there with pip from `spec` when
/// it is not. Tests that drive a real third-party client or server from
/// PyPI use it; they fail (never pass) when PyPI cannot be reached.
pub fn python_with(module: &str, spec: &str) -> PathBuf {
    use std::process::Command;
    let dir = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("storeflow-venv");
    let py = dir.join("bin/python");
    let imports = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !imports(&py) {
        let made = py.exists()
            || Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
        let installed = made
            && Command::new(&py)
                .args(["-m", "pip", "install", "--quiet", spec])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            installed && imports(&py),
            "could not install {spec} into {}: is PyPI reachable?",
            dir.display()
        );
    }
    py
}

/// A TCP port free on this machine now (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory under the system temp dir, unique to this test.
///
/// Kept after the test, so a failure's data can be looked at; the first
/// call in a later test process removes those of processes that have ended.
pub fn temp_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(remove_temp_dirs_of_ended_processes);
    let d = std::env::temp_dir().join(format!(
        "storeflow-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Removes `storeflow-test-<pid>-…` directories whose process is gone
/// (a CI machine ran hundreds of test processes, each leaving a few).
fn remove_temp_dirs_of_ended_processes() {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return; // No way to tell a live process here: keep everything.
    }
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("storeflow-test-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A copy of the starter pack in a temp dir, for tests that change it.
pub fn starter_copy(name: &str) -> PathBuf {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let t = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy(&p, &t);
            } else {
                std::fs::copy(&p, &t).unwrap();
            }
        }
    }
    let d = temp_dir(name);
    copy(&repo_root().join("examples/starter"), &d);
    d
}

/// Replaces text in a file of a config copy (panics if absent).
pub fn edit(dir: &std::path::Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "{file} has no {from:?}");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
}

/// Runs the `storeflow` command in-process: (exit code, stdout, stderr).
pub fn storeflow(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("storeflow".to_string()).chain(args.iter().map(|s| s.to_string()));
    let code = storeflow::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

// ---- ingestion ---------------------------------------------------------

/// The documented test secrets of `events/` (scripts/gen-platform-events.py).
pub const SHOPIFY_SECRET: &str = "storeflow-test-shopify-secret";
pub const SHOPLINE_SECRET: &str = "storeflow-test-shopline-secret";
pub const WRITE_KEY: &str = "storeflow-test-write-key";
/// The admin bearer token the tests configure (`STOREFLOW_ADMIN_TOKENS`).
pub const ADMIN_TOKEN: &str = "storeflow-test-admin-token";

/// A real platform payload from `../shared/fixtures/` (beside the
/// repository), or `None` with a note when that folder is absent.
pub fn fixture(rel: &str) -> Option<Vec<u8>> {
    let p = repo_root().join("../shared/fixtures").join(rel);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) => {
            println!("note: fixture {} is absent; skipped", p.display());
            None
        }
    }
}

/// A router with the test secrets (a rotated-out old secret too) and write key.
pub fn ingest_router() -> storeflow_ingest::Router {
    let mut c = storeflow_ingest::IngestConfig::new(
        storeflow_core::model::ids::ShopId::parse("northwind.myshopify.com").unwrap(),
    );
    c.shopify_secrets = storeflow_ingest::Secrets::new([SHOPIFY_SECRET, "old-shopify-secret"]);
    c.shopline_secrets = storeflow_ingest::Secrets::new([SHOPLINE_SECRET]);
    c.write_keys = vec![WRITE_KEY.to_string()];
    storeflow_ingest::Router::new(c)
}

/// A Shopify webhook request as Shopify sends it, signed with `secret`.
pub fn shopify_request(
    topic: &str,
    webhook_id: &str,
    body: &[u8],
    secret: &str,
) -> storeflow_ingest::Request {
    let sig = storeflow_ingest::signature::sign_base64(secret.as_bytes(), body);
    let headers: storeflow_ingest::Headers = [
        ("Content-Type", "application/json"),
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Hmac-Sha256", sig.as_str()),
        ("X-Shopify-Shop-Domain", "northwind.myshopify.com"),
        ("X-Shopify-API-Version", "2026-07"),
        ("X-Shopify-Webhook-Id", webhook_id),
        ("X-Shopify-Triggered-At", "2026-11-23T15:00:00.000000Z"),
    ]
    .into_iter()
    .collect();
    storeflow_ingest::Request::post("/webhooks/shopify", headers, body)
}

/// A tracking call with the write key as Segment sends it (HTTP Basic).
pub fn tracking_request(call: &str, body: &Value, key: &str) -> storeflow_ingest::Request {
    let auth = format!("Basic {}", base64_encode(format!("{key}:").as_bytes()));
    let headers: storeflow_ingest::Headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ]
    .into_iter()
    .collect();
    storeflow_ingest::Request::post(
        &format!("/v1/{call}"),
        headers,
        serde_json::to_vec(body).unwrap(),
    )
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The events of the accepted items.
pub fn events_of(h: &storeflow_ingest::Handled) -> Vec<storeflow_core::Event> {
    h.accepted
        .iter()
        .filter_map(|a| a.event().cloned())
        .collect()
}

/// Runs `storeflow simulate` on a file under `events/` with the starter
/// pack; the decisions as JSON.
pub fn simulate_events_file(file: &str, until: &str) -> Vec<Value> {
    let path = repo_root().join("events").join(file);
    let cfg = repo_root().join("examples/starter");
    let (code, out, err) = storeflow(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap(),
        "--events",
        path.to_str().unwrap(),
        "--until",
        until,
    ]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `storeflow serve`'s options for tests: the test secrets and admin token,
/// no SMTP, no webhook secret, no console password.
pub fn serve_options(data: &std::path::Path) -> storeflow_embedded::runtime::Options {
    storeflow_embedded::runtime::Options {
        data_dir: data.to_path_buf(),
        smtp: None,
        webhook_secret: None,
        env: storeflow_ingest::EnvOverrides {
            shopify_secrets: Some(SHOPIFY_SECRET.into()),
            shopline_secrets: None,
            write_keys: Some(WRITE_KEY.into()),
        },
        admin: storeflow_app::admin::AdminTokens::parse(Some(ADMIN_TOKEN)).unwrap(),
        admin_password_hash: None,
        before_apply: None,
    }
}

/// The headers Shopify sends with a webhook to the test store
/// (`northwind.myshopify.com`), signed with the test secret.
pub fn shopify_webhook_headers(topic: &str, id: &str, body: &[u8]) -> Vec<(String, String)> {
    [
        ("Content-Type", "application/json".to_string()),
        ("X-Shopify-Topic", topic.to_string()),
        (
            "X-Shopify-Hmac-Sha256",
            storeflow_ingest::signature::sign_base64(SHOPIFY_SECRET.as_bytes(), body),
        ),
        (
            "X-Shopify-Shop-Domain",
            "northwind.myshopify.com".to_string(),
        ),
        ("X-Shopify-Webhook-Id", id.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
