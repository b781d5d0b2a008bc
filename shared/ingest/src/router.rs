//! The one HTTP router of ingestion: the ingest Lambda function, the local
//! server and the tests all call [`Router::handle`] with a request and get
//! a response plus what was accepted for the engine.
//!
//! | endpoint | auth | body |
//! |---|---|---|
//! | `POST /webhooks/shopify` | `X-Shopify-Hmac-Sha256` | a Shopify webhook |
//! | `POST /webhooks/shopline` | `X-Shopline-Hmac-Sha256` | a SHOPLINE webhook |
//! | `POST /v1/identify`, `/v1/track`, `/v1/page`, `/v1/alias`, `/v1/batch` | write key (HTTP Basic user, or `writeKey`) | Segment spec calls |
//! | `GET /health` | none | — |
//!
//! Order of checks: endpoint (404/405), size (413), authentication (401),
//! then content (400). Nothing refused is stored. An accepted delivery is
//! recorded (raw) before the answer, and a redelivery changes nothing.

use crate::delivery::Delivery;
use crate::enrich;
use crate::fields::parse_time;
use crate::normalized::{Accepted, Normalized};
use crate::refusal::Refusal;
use crate::request::{Request, Response};
use crate::segment;
use crate::shopify::{self, Ctx, Platform};
use crate::signature::Secrets;
use crate::store::{fact_key, DeliveryStore, RawDelivery, Recorded, Source};
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{json, Value};
use storeflow_core::config::settings::Settings;
use storeflow_core::customer::identity;
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::ids::ShopId;

/// The default body limit: 2 MiB (a Shopify order of a few hundred lines
/// stays well under it).
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;

/// What the router needs to know: secrets, write keys, the shop tracking
/// events belong to, the body limit.
/// `Debug` counts the write keys and never shows them.
#[derive(Clone)]
pub struct IngestConfig {
    pub shopify_secrets: Secrets,
    pub shopline_secrets: Secrets,
    pub write_keys: Vec<String>,
    pub tracking_shop: ShopId,
    pub max_body: usize,
}

impl std::fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestConfig")
            .field("shopify_secrets", &self.shopify_secrets)
            .field("shopline_secrets", &self.shopline_secrets)
            .field(
                "write_keys",
                &format!("<{} redacted>", self.write_keys.len()),
            )
            .field("tracking_shop", &self.tracking_shop)
            .field("max_body", &self.max_body)
            .finish()
    }
}

/// Values from the environment that replace the store settings' (the edge
/// reads the environment; this crate never does). `Debug` says which are
/// set, never their values.
#[derive(Clone, Default)]
pub struct EnvOverrides {
    /// `STOREFLOW_SHOPIFY_SECRETS`
    pub shopify_secrets: Option<String>,
    /// `STOREFLOW_SHOPLINE_SECRETS`
    pub shopline_secrets: Option<String>,
    /// `STOREFLOW_WRITE_KEYS`
    pub write_keys: Option<String>,
}

impl std::fmt::Debug for EnvOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("EnvOverrides")
            .field("shopify_secrets", &set(&self.shopify_secrets))
            .field("shopline_secrets", &set(&self.shopline_secrets))
            .field("write_keys", &set(&self.write_keys))
            .finish()
    }
}

impl IngestConfig {
    pub fn new(tracking_shop: ShopId) -> Self {
        IngestConfig {
            shopify_secrets: Secrets::default(),
            shopline_secrets: Secrets::default(),
            write_keys: Vec::new(),
            tracking_shop,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// From `store.yaml`'s `ingest` section, with the environment's values
    /// in place of the file's where given.
    pub fn from_settings(s: &Settings, env: &EnvOverrides) -> Self {
        let i = &s.ingest;
        let shop = i
            .shop
            .clone()
            .or_else(|| host(&s.store.url))
            .and_then(|h| ShopId::parse(h).ok())
            .unwrap_or_else(|| ShopId::parse("default").expect("non-empty"));
        let list = |env: &Option<String>, file: &[String]| -> Vec<String> {
            match env {
                Some(v) => v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                None => file.to_vec(),
            }
        };
        IngestConfig {
            shopify_secrets: Secrets::new(list(&env.shopify_secrets, &i.shopify_secrets)),
            shopline_secrets: Secrets::new(list(&env.shopline_secrets, &i.shopline_secrets)),
            write_keys: list(&env.write_keys, &i.write_keys),
            tracking_shop: shop,
            max_body: i.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
        }
    }
}

fn host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let h = rest.split(['/', ':', '?']).next()?.trim();
    (!h.is_empty()).then(|| h.to_string())
}

/// The result of one request.
#[derive(Debug, Clone)]
pub struct Handled {
    pub response: Response,
    /// Events and privacy requests for the engine, in payload order.
    pub accepted: Vec<Accepted>,
}

impl Handled {
    fn refused(r: Refusal) -> Self {
        Handled {
            response: Response::error(r.status(), r.to_string()),
            accepted: Vec::new(),
        }
    }
}

pub struct Router {
    pub config: IngestConfig,
}

const TRACKING_CALLS: &[&str] = &["identify", "track", "page", "alias", "batch"];

impl Router {
    pub fn new(config: IngestConfig) -> Self {
        Router { config }
    }

    /// Answers one HTTP request.
    pub fn handle(&self, req: &Request, now: Timestamp, store: &mut dyn DeliveryStore) -> Handled {
        match self.route(req, now, store) {
            Ok(h) => h,
            Err(r) => Handled::refused(r),
        }
    }

    fn route(
        &self,
        req: &Request,
        now: Timestamp,
        store: &mut dyn DeliveryStore,
    ) -> Result<Handled, Refusal> {
        let path = req.path.trim_end_matches('/');
        let source = match path {
            "/health" if req.method.eq_ignore_ascii_case("GET") => {
                return Ok(Handled {
                    response: Response::json(200, json!({"status": "ok"})),
                    accepted: Vec::new(),
                })
            }
            "/health" => return Err(Refusal::MethodNotAllowed(path.into())),
            "/webhooks/shopify" => Source::Shopify,
            "/webhooks/shopline" => Source::Shopline,
            p if p
                .strip_prefix("/v1/")
                .is_some_and(|c| TRACKING_CALLS.contains(&c)) =>
            {
                Source::Segment
            }
            _ => return Err(Refusal::NotFound(req.path.clone())),
        };
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(Refusal::MethodNotAllowed(path.into()));
        }
        if req.body.len() > self.config.max_body {
            return Err(Refusal::TooLarge {
                size: req.body.len(),
                limit: self.config.max_body,
            });
        }
        let delivery = Delivery {
            source,
            topic: path.strip_prefix("/v1/").map(str::to_string),
            headers: req.headers.clone(),
            body: req.body.clone(),
        };
        match source {
            Source::Shopify | Source::Shopline => {
                self.verify_webhook(&delivery)?;
                self.accept(&delivery, now, store)
            }
            Source::Segment => self.accept_tracking(&delivery, now, store, true),
        }
    }

    fn verify_webhook(&self, d: &Delivery) -> Result<(), Refusal> {
        let (name, header, secrets) = match d.source {
            Source::Shopline => (
                "SHOPLINE",
                "X-Shopline-Hmac-Sha256",
                &self.config.shopline_secrets,
            ),
            _ => (
                "Shopify",
                "X-Shopify-Hmac-Sha256",
                &self.config.shopify_secrets,
            ),
        };
        if secrets.is_empty() {
            return Err(Refusal::Unauthorized(format!(
                "no {name} signing secret is configured"
            )));
        }
        let Some(sig) = d.headers.get(header) else {
            return Err(Refusal::Unauthorized(format!("missing header {header}")));
        };
        if !secrets.verify(&d.body, sig) {
            return Err(Refusal::Unauthorized(format!(
                "{header} does not match the body under any configured secret"
            )));
        }
        Ok(())
    }

    /// Accepts a delivery without verifying it: the path of `storeflow
    /// simulate` and of EventBridge (authenticated by AWS). Signed HTTP
    /// deliveries reach it after [`Router::handle`] verified them.
    pub fn accept(
        &self,
        d: &Delivery,
        now: Timestamp,
        store: &mut dyn DeliveryStore,
    ) -> Result<Handled, Refusal> {
        let platform = match d.source {
            Source::Shopify => Platform::Shopify,
            Source::Shopline => Platform::Shopline,
            Source::Segment => return self.accept_tracking(d, now, store, false),
        };
        let p = platform.prefix();
        let h = |name: &str| d.headers.get(&format!("X-{p}-{name}"));
        let title = if platform == Platform::Shopify {
            "X-Shopify"
        } else {
            "X-Shopline"
        };
        let topic = match d.topic.as_deref().or_else(|| h("Topic")) {
            Some(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => return Err(Refusal::Malformed(format!("missing header {title}-Topic"))),
        };
        let shop = h("Shop-Domain")
            .and_then(|s| ShopId::parse(s).ok())
            .ok_or_else(|| Refusal::Malformed(format!("missing header {title}-Shop-Domain")))?;
        let webhook_key = h("Webhook-Id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|id| format!("{p}:webhook:{id}"));
        if let Some(k) = &webhook_key {
            if let Some(first) = store.seen(k).map_err(|e| Refusal::Unavailable(e.0))? {
                return Ok(duplicate(first));
            }
        }
        let ctx = Ctx {
            platform,
            topic: &topic,
            shop: shop.clone(),
            triggered_at: h("Triggered-At").and_then(parse_time),
            now,
            facts: &*store,
        };
        let mut n = shopify::normalize(&ctx, &d.body)?;
        enrich::orders(&mut n, &*store);
        let key = webhook_key
            .or_else(|| n.key.clone())
            .or_else(|| n.events().next().map(|e| e.id.to_string()))
            .unwrap_or_else(|| {
                format!(
                    "{p}:{topic}:sha256:{}",
                    crate::signature::sign_hex(b"", &d.body)
                )
            });
        let raw = RawDelivery {
            key,
            source: d.source,
            topic,
            shop: shop.to_string(),
            headers: d
                .headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: d.body.clone(),
            received_at: now,
            subjects: subjects(&n),
            erased_at: None,
        };
        self.record(raw, n, now, store)
    }

    fn record(
        &self,
        raw: RawDelivery,
        mut n: Normalized,
        now: Timestamp,
        store: &mut dyn DeliveryStore,
    ) -> Result<Handled, Refusal> {
        match store
            .record(raw, std::mem::take(&mut n.remember))
            .map_err(|e| Refusal::Unavailable(e.0))?
        {
            Recorded::Duplicate { first_seen } => return Ok(duplicate(first_seen)),
            Recorded::New => {}
        }
        // Privacy: the raw deliveries are ours to erase here; profiles are
        // the engine's (the caller applies the accepted request).
        let mut erased = 0;
        for a in &n.accepted {
            let r = match a {
                Accepted::Privacy(PrivacyRequest::EraseCustomer {
                    shop: s,
                    customer,
                    orders,
                }) => {
                    let keys = identity::keys(s, customer);
                    let facts: Vec<String> = orders
                        .iter()
                        .map(|o| fact_key("order", s.as_str(), o))
                        .collect();
                    store.erase_customer(s.as_str(), &keys, &facts, now)
                }
                Accepted::Privacy(PrivacyRequest::EraseShop { shop: s }) => {
                    store.erase_shop(s.as_str(), now)
                }
                _ => continue,
            };
            erased += r.map_err(|e| Refusal::Unavailable(e.0))?;
        }
        let mut body = json!({
            "status": if n.accepted.is_empty() { "ignored" } else { "accepted" },
            "events": n.events().count(),
        });
        if let Some(note) = &n.note {
            body["note"] = json!(note);
        }
        if erased > 0 {
            body["erased_deliveries"] = json!(erased);
        }
        Ok(Handled {
            response: Response::json(200, body),
            accepted: n.accepted,
        })
    }

    /// Tracking calls: one message, or a batch taken whole (a batch with one
    /// bad message is refused entire, naming it, and nothing is stored).
    fn accept_tracking(
        &self,
        d: &Delivery,
        now: Timestamp,
        store: &mut dyn DeliveryStore,
        authenticate: bool,
    ) -> Result<Handled, Refusal> {
        let call = d.topic.as_deref().unwrap_or("batch");
        let call = call.trim_start_matches("/v1/");
        if !TRACKING_CALLS.contains(&call) {
            return Err(Refusal::NotFound(format!("/v1/{call}")));
        }
        let body: Value = serde_json::from_slice(&d.body)
            .map_err(|e| Refusal::Malformed(format!("{call}: body is not valid JSON: {e}")))?;
        if authenticate {
            self.check_write_key(d, &body)?;
        }
        self.record_tracking(call, &body, now, store)
    }

    /// [`Router::accept`] for a tracking call (`source` Segment) whose JSON
    /// body is parsed already, as a simulation line's is: the same checks
    /// and records, without writing the body out to parse it again.
    pub fn accept_tracking_parsed(
        &self,
        topic: Option<&str>,
        body: &Value,
        now: Timestamp,
        store: &mut dyn DeliveryStore,
    ) -> Result<Handled, Refusal> {
        let call = topic.unwrap_or("batch").trim_start_matches("/v1/");
        if !TRACKING_CALLS.contains(&call) {
            return Err(Refusal::NotFound(format!("/v1/{call}")));
        }
        self.record_tracking(call, body, now, store)
    }

    /// A tracking call's messages, normalized and recorded (duplicates
    /// skipped).
    fn record_tracking(
        &self,
        call: &str,
        body: &Value,
        now: Timestamp,
        store: &mut dyn DeliveryStore,
    ) -> Result<Handled, Refusal> {
        let sent_at = body
            .get("sentAt")
            .and_then(Value::as_str)
            .and_then(parse_time);
        let shop = &self.config.tracking_shop;
        let mut done = Vec::new();
        for m in segment::messages(call, body)? {
            let n = segment::normalize(shop, &m, now, sent_at)?;
            done.push((m.value, n));
        }
        let (mut accepted, mut duplicates, mut events) = (Vec::new(), 0, 0);
        for (value, mut n) in done {
            let key = n.key.clone().unwrap_or_default();
            if store
                .seen(&key)
                .map_err(|e| Refusal::Unavailable(e.0))?
                .is_some()
            {
                duplicates += 1;
                continue;
            }
            enrich::orders(&mut n, &*store);
            let raw = RawDelivery {
                key,
                source: Source::Segment,
                topic: value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or(call)
                    .to_string(),
                shop: shop.to_string(),
                headers: Vec::new(),
                body: serde_json::to_vec(value).unwrap_or_default(),
                received_at: now,
                subjects: subjects(&n),
                erased_at: None,
            };
            match store
                .record(raw, std::mem::take(&mut n.remember))
                .map_err(|e| Refusal::Unavailable(e.0))?
            {
                Recorded::Duplicate { .. } => duplicates += 1,
                Recorded::New => {
                    events += n.events().count();
                    accepted.extend(n.accepted);
                }
            }
        }
        Ok(Handled {
            response: Response::json(
                200,
                json!({"success": true, "events": events, "duplicates": duplicates}),
            ),
            accepted,
        })
    }

    /// Segment sends the write key as the HTTP Basic user name (empty
    /// password); some clients put it in the body as `writeKey`.
    fn check_write_key(&self, d: &Delivery, body: &Value) -> Result<(), Refusal> {
        if self.config.write_keys.is_empty() {
            return Err(Refusal::Unauthorized(
                "no tracking write key is configured".into(),
            ));
        }
        let from_basic = d
            .headers
            .get("Authorization")
            .and_then(|a| a.trim().strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.split_once(':').map(|(u, _)| u.to_string()).unwrap_or(s));
        let key = from_basic.or_else(|| {
            body.get("writeKey")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let Some(key) = key else {
            return Err(Refusal::Unauthorized(
                "missing write key (HTTP Basic user name or \"writeKey\")".into(),
            ));
        };
        // Constant-time over each configured key.
        let mut ok = false;
        for k in &self.config.write_keys {
            ok |= constant_eq(k.as_bytes(), key.as_bytes());
        }
        if ok {
            Ok(())
        } else {
            Err(Refusal::Unauthorized("unknown write key".into()))
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn duplicate(first_seen: Timestamp) -> Handled {
    Handled {
        response: Response::json(
            200,
            json!({"status": "duplicate", "first_seen": first_seen}),
        ),
        accepted: Vec::new(),
    }
}

/// The identity keys of everyone a delivery concerns (for erasure).
fn subjects(n: &Normalized) -> Vec<String> {
    let mut out: Vec<String> = n
        .events()
        .flat_map(|e| identity::keys(&e.shop, &e.customer))
        .collect();
    out.sort();
    out.dedup();
    out
}
