//! The HTTP endpoints of `storeflow serve`: everything ingestion serves
//! (webhooks, tracking, `/health`), one-click unsubscribe and the
//! preference centre (public: the signed link is the credential), and the
//! profile view (admin: a bearer token from `STOREFLOW_ADMIN_TOKENS`).

use crate::runtime::Runtime;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;
use storeflow_app::ports::Customers;
use storeflow_core::model::event::Event;

pub fn router(rt: Arc<Runtime>) -> axum::Router {
    let clock = rt.clock.clone();
    let console = Arc::new(storeflow_console::Console {
        data: Served(rt.clone()),
        auth: rt.console_auth.clone(),
        clock: Arc::new(move || clock.now()),
    });
    axum::Router::new()
        .route("/u/{token}", get(links).post(links))
        .route("/preferences/{token}", get(links).post(links))
        .route("/c/{token}", get(track))
        .route("/o/{token}", get(track))
        .route("/profiles/{email}", get(profile))
        .route("/admin/refit", post(refit))
        .fallback(ingest)
        .with_state(rt)
        .merge(storeflow_console::router(console))
}

/// The console's data on the embedded store: the configuration running
/// now, and the report counters read from the database file.
struct Served(Arc<Runtime>);

impl storeflow_console::Data for Served {
    fn config(&self) -> Arc<storeflow_core::Config> {
        self.0.live().engine.config.clone()
    }

    async fn customer(
        &self,
        query: &str,
    ) -> anyhow::Result<Option<storeflow_console::customers::CustomerView>> {
        let store = &self.0.store;
        for shop in store.shops()? {
            let keys = storeflow_console::customers::search_keys(&shop, query);
            let found = store.find(&keys).await?;
            let Some(pid) = found.into_iter().flatten().next() else {
                continue;
            };
            if let Some(l) = store.load(&shop, &pid).await? {
                return Ok(Some(storeflow_console::customers::CustomerView {
                    decisions: store.decisions(&pid)?,
                    state: l.state,
                }));
            }
        }
        Ok(None)
    }

    async fn orders(&self) -> anyhow::Result<Vec<storeflow_core::results::facts::Fact>> {
        let path = self.0.data_dir.join("storeflow.sqlite");
        let conn = storeflow_sqlite::results::open_read_only(&path)?;
        Ok(storeflow_sqlite::results::read_orders(&conn)?)
    }

    async fn messages(
        &self,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> anyhow::Result<Vec<storeflow_console::SentMessage>> {
        let utc = |d: jiff::civil::Date| -> anyhow::Result<jiff::Timestamp> {
            Ok(d.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp())
        };
        let (start, end) = (utc(from)?, utc(to.tomorrow()?)?);
        let sent = self
            .0
            .store
            .recent_messages(start, end, storeflow_console::MESSAGES_READ)?;
        // Its life may go on after the period: read its facts up to now.
        let path = self.0.data_dir.join("storeflow.sqlite");
        let conn = storeflow_sqlite::results::open_read_only(&path)?;
        let facts =
            storeflow_sqlite::results::read_message_facts(&conn, start, jiff::Timestamp::MAX)?;
        let mut life: std::collections::HashMap<&str, Vec<String>> = Default::default();
        for f in &facts {
            if let (Some(m), Some(l)) = (f.message.as_deref(), f.lifecycle) {
                life.entry(m).or_default().push(l.as_str().to_string());
            }
        }
        Ok(sent
            .into_iter()
            .map(
                |(message, queued, settled)| storeflow_console::SentMessage {
                    lifecycle: life.get(message.id.as_str()).cloned().unwrap_or_default(),
                    message,
                    queued,
                    settled,
                },
            )
            .collect())
    }

    async fn dead_letters(&self) -> anyhow::Result<Vec<storeflow_console::DeadLetter>> {
        let mut all: Vec<storeflow_console::DeadLetter> = self
            .0
            .store
            .dead_letters()?
            .into_iter()
            .map(|d| storeflow_console::DeadLetter {
                id: d.id,
                kind: d.kind.as_str().to_string(),
                error: d.error,
                at: d.at,
                replayed: d.replayed,
            })
            .collect();
        all.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(all)
    }

    async fn replay_dead_letter(&self, id: i64, now: jiff::Timestamp) -> Result<(), String> {
        self.0
            .store
            .replay_dead_letter(id, now)
            .map_err(|e| e.to_string())?;
        // Applied now, not at the workers' next look.
        self.0.poke_workers();
        Ok(())
    }

    fn model(
        &self,
        shop: &storeflow_core::model::ids::ShopId,
    ) -> Option<Arc<storeflow_core::predict::forecast::StoreModel>> {
        self.0.live().engine.model(shop)
    }

    async fn rollups(
        &self,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> anyhow::Result<(
        storeflow_core::results::rollup::Rollups,
        storeflow_core::results::rollup::Rollups,
    )> {
        let path = self.0.data_dir.join("storeflow.sqlite");
        let conn = storeflow_sqlite::results::open_read_only(&path)?;
        Ok(storeflow_sqlite::results::read_rollups(&conn, from, to)?)
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn ingest(
    State(rt): State<Arc<Runtime>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = storeflow_server::request(&method, &uri, &headers, &body);
    let now = rt.clock.now();
    let live = rt.live();
    match rt.acceptor.accept(live, req, now).await {
        Ok(h) => {
            if !h.accepted.is_empty() {
                rt.poke_inbox.notify_one();
            }
            let status = StatusCode::from_u16(h.response.status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, h.response.body)
        }
        // Nothing was committed: the platform will retry.
        Err(e) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": format!("storage unavailable, retry later: {e}")}),
        ),
    }
}

/// The link pages' ports on this runtime: the store, and consent changes
/// applied through the engine at once.
struct Links<'a>(&'a Runtime);

impl storeflow_app::preferences::LinkPorts for Links<'_> {
    async fn shop_of(
        &self,
        profile: &storeflow_core::model::ids::ProfileId,
    ) -> Result<Option<storeflow_core::model::ids::ShopId>, storeflow_app::ports::StoreError> {
        self.0.store.shop_of(profile)
    }

    async fn customer(
        &self,
        shop: &storeflow_core::model::ids::ShopId,
        profile: &storeflow_core::model::ids::ProfileId,
    ) -> Result<Option<storeflow_core::CustomerState>, storeflow_app::ports::StoreError> {
        Ok(self.0.store.load(shop, profile).await?.map(|l| l.state))
    }

    async fn apply(&self, events: Vec<Event>, now: jiff::Timestamp) -> anyhow::Result<()> {
        let app = storeflow_app::App::new(self.0.live().engine.clone(), self.0.store.clone());
        for e in events {
            app.event(e, now).await?;
        }
        self.0.poke_outbox();
        Ok(())
    }
}

/// One-click unsubscribe and the preference centre
/// (`storeflow_app::preferences`, the same pages as on AWS).
async fn links(State(rt): State<Arc<Runtime>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let now = rt.clock.now();
    let cfg = rt.live().engine.config.clone();
    let reply = storeflow_app::preferences::handle(
        &Links(&rt),
        &cfg,
        method.as_str(),
        uri.path(),
        &body,
        now,
    )
    .await;
    match reply {
        Some(r) => respond(r),
        None => (StatusCode::NOT_FOUND, "Not found.").into_response(),
    }
}

fn respond(r: storeflow_app::preferences::Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = match r.bytes {
        Some(b) => (status, [("content-type", r.content_type)], b).into_response(),
        None => (status, [("content-type", r.content_type)], r.body).into_response(),
    };
    if let Some(to) = r
        .location
        .and_then(|l| axum::http::HeaderValue::from_str(&l).ok())
    {
        res.headers_mut().insert(axum::http::header::LOCATION, to);
    }
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// Click and open tracking (`storeflow_app::tracking`, the same as on
/// AWS): the click or open is applied through the engine at once.
async fn track(
    State(rt): State<Arc<Runtime>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let now = rt.clock.now();
    let cfg = rt.live().engine.config.clone();
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match storeflow_app::tracking::handle(&Links(&rt), &cfg, method.as_str(), uri.path(), ua, now)
        .await
    {
        Some(r) => respond(r),
        None => (StatusCode::NOT_FOUND, "Not found.").into_response(),
    }
}

/// The admin credential every non-public endpoint asks for: `None` lets
/// the request through, `Some` is the 401 to answer.
fn refused(rt: &Runtime, headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let e = rt.admin.check(auth).err()?;
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [
                ("content-type", "application/json"),
                ("www-authenticate", "Bearer realm=\"storeflow admin\""),
            ],
            json!({ "error": e.to_string() }).to_string(),
        )
            .into_response(),
    )
}

/// Refits every shop's prediction model now; answers with the models.
async fn refit(State(rt): State<Arc<Runtime>>, headers: HeaderMap) -> Response {
    if let Some(no) = refused(&rt, &headers) {
        return no;
    }
    match rt.refit().await {
        Ok(done) => json_response(
            StatusCode::OK,
            json!({"refitted": done.iter().map(|r| json!({"shop": r.shop, "model": r.model})).collect::<Vec<_>>()}),
        ),
        Err(e) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": format!("the refit failed: {e:#}")}),
        ),
    }
}

/// A profile's view: attributes, segments, runs, messages and decisions.
async fn profile(
    State(rt): State<Arc<Runtime>>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Response {
    if let Some(no) = refused(&rt, &headers) {
        return no;
    }
    let Ok(e) = storeflow_core::model::ids::Email::parse(&email) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("{email:?} is not an email address")}),
        );
    };
    let shops = rt.store.shops().unwrap_or_default();
    for shop in shops {
        let key = format!("{shop}|email|{e}");
        let Ok(found) = rt.store.find(std::slice::from_ref(&key)).await else {
            continue;
        };
        let Some(Some(pid)) = found.into_iter().next() else {
            continue;
        };
        let Ok(Some(l)) = rt.store.load(&shop, &pid).await else {
            continue;
        };
        let decisions = rt.store.decisions(&pid).unwrap_or_default();
        let messages: Vec<_> = decisions
            .iter()
            .filter(|d| d.kind == storeflow_core::Kind::Message)
            .map(|d| json!({"at": d.at, "channel": d.channel(), "template": d.template(), "subject": d.subject(), "flow": d.flow}))
            .collect();
        return json_response(
            StatusCode::OK,
            json!({
                "profile": l.state.profile,
                "segments": l.state.segments.all().filter(|(_, m)| *m).map(|(s, _)| s).collect::<Vec<_>>(),
                "runs": l.state.runs,
                "predictions": rt.live().engine.model(&shop).and_then(|m| {
                    let today = rt.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
                    m.customer_json(&l.state.profile.order_history(), today)
                }),
                "messages": messages,
                "decisions": decisions,
            }),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({"error": format!("no profile with email {e}")}),
    )
}
