//! # storeflow-console
//!
//! The console: what a merchant sees of storeflow in a browser, server-
//! rendered from the same binary. One router ([`router`]) over one data port
//! ([`Data`]): `storeflow serve` mounts it at `/admin/` on SQLite, and the
//! AWS console function serves it on DynamoDB.
//!
//! - [`auth`] — sign-in with the argon2 hash of a password, a signed session
//!   cookie, CSRF tokens on every form, rate-limited attempts; bearer tokens
//!   for scripts.
//! - [`overview`] — the period's attributed revenue, orders, messages,
//!   conversions and unsubscribes, from the report counters.
//! - [`svg`] — charts drawn on the server: a test reads their numbers.
//! - [`pages`] — the HTML: templates compiled into the binary (minijinja,
//!   escaping everything it prints), no JavaScript.

pub mod auth;
pub mod customers;
pub mod overview;
pub mod pages;
pub mod segments;
pub mod svg;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use jiff::civil::Date;
use jiff::Timestamp;
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use storeflow_core::results::rollup::Rollups;
use storeflow_core::Config;

/// What the console reads: the same counters as `storeflow report`, and the
/// running configuration.
pub trait Data: Send + Sync + 'static {
    /// The configuration the runtime runs now.
    fn config(&self) -> Arc<Config>;

    /// The customer an email, phone number or platform customer id names
    /// (see [`customers::search_keys`]), with their decision trace.
    fn customer(
        &self,
        query: &str,
    ) -> impl Future<Output = anyhow::Result<Option<customers::CustomerView>>> + Send;

    /// Every order and refund fact (what cohorts are made of).
    fn orders(
        &self,
    ) -> impl Future<Output = anyhow::Result<Vec<storeflow_core::results::facts::Fact>>> + Send;

    /// The messages of `from..=to` (UTC days), newest first, at most
    /// [`MESSAGES_READ`], each with the steps of its life so far.
    fn messages(
        &self,
        from: Date,
        to: Date,
    ) -> impl Future<Output = anyhow::Result<Vec<SentMessage>>> + Send;

    /// The inputs set aside as dead letters, newest first.
    fn dead_letters(&self) -> impl Future<Output = anyhow::Result<Vec<DeadLetter>>> + Send;

    /// Hands dead letter `id` back to the engine (once); `Err` says why not
    /// in words.
    fn replay_dead_letter(
        &self,
        id: i64,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// A shop's prediction model, once fitted.
    fn model(
        &self,
        shop: &storeflow_core::model::ids::ShopId,
    ) -> Option<Arc<storeflow_core::predict::forecast::StoreModel>>;

    /// The counters of the UTC days `from..=to`, and every segment's
    /// counters from the first day to `to` (members at the end).
    fn rollups(
        &self,
        from: Date,
        to: Date,
    ) -> impl Future<Output = anyhow::Result<(Rollups, Rollups)>> + Send;
}

/// The most messages the log reads for one page (the newest of the period:
/// the filters choose among them), and the most it lists.
pub const MESSAGES_READ: usize = 5_000;
pub const MESSAGES_SHOWN: usize = 200;

/// A message as the log shows it: what the customer received, and what
/// became of it.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub message: storeflow_core::Message,
    pub queued: Timestamp,
    pub settled: Option<Timestamp>,
    /// `delivered`, `bounced`, `opened`, `clicked`, … in order.
    pub lifecycle: Vec<String>,
}

/// A dead letter as the console shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: String,
    pub error: String,
    pub at: Timestamp,
    pub replayed: Option<Timestamp>,
}

/// The console's state: its data, its credentials and its clock.
pub struct Console<D> {
    pub data: D,
    pub auth: Arc<auth::Auth>,
    /// The runtime's clock (a scaled one in the demo and tests).
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl<D> Console<D> {
    fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

/// Every page and endpoint of the console, under `/admin`.
pub fn router<D: Data>(console: Arc<Console<D>>) -> Router {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/login", get(login_page::<D>).post(login::<D>))
        .route("/admin/logout", post(logout::<D>))
        .route("/admin/", get(overview_page::<D>))
        .route("/admin/flows", get(flows_page::<D>))
        .route("/admin/segments", get(segments_page::<D>))
        .route("/admin/customers", get(customers_page::<D>))
        .route("/admin/reports", get(reports_page::<D>))
        .route("/admin/messages", get(messages_page::<D>))
        .route("/admin/operations", get(operations_page::<D>))
        .route(
            "/admin/operations/dead-letters/{id}/replay",
            post(replay::<D>),
        )
        .route("/admin/api/overview", get(overview_json::<D>))
        .with_state(console)
}

/// The request's session, or the answer to give instead: a page asks the
/// browser to sign in, a JSON endpoint answers 401.
fn session<D>(
    c: &Console<D>,
    headers: &HeaderMap,
    json: bool,
) -> Result<auth::Session, Box<Response>> {
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(s) = c
        .auth
        .session(get(header::AUTHORIZATION), get(header::COOKIE), c.now())
    {
        return Ok(s);
    }
    if json || headers.contains_key(header::AUTHORIZATION) {
        return Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::WWW_AUTHENTICATE, "Bearer realm=\"storeflow console\""),
            ],
            serde_json::json!({"error": "the console needs a session (sign in at /admin/login) or an admin bearer token"}).to_string(),
            )
                .into_response(),
        ));
    }
    Err(Box::new(Redirect::to("/admin/login").into_response()))
}

/// A page's session, checked before its handler runs: without one the
/// browser is sent to sign in (a bearer token that is not one: 401).
struct Signed(auth::Session);

impl<D: Data> axum::extract::FromRequestParts<Arc<Console<D>>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        c: &Arc<Console<D>>,
    ) -> Result<Self, Response> {
        session(c, &parts.headers, false)
            .map(Signed)
            .map_err(|r| *r)
    }
}

/// A JSON endpoint's session: without one, 401.
struct SignedApi;

impl<D: Data> axum::extract::FromRequestParts<Arc<Console<D>>> for SignedApi {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        c: &Arc<Console<D>>,
    ) -> Result<Self, Response> {
        session(c, &parts.headers, true)
            .map(|_| SignedApi)
            .map_err(|r| *r)
    }
}

/// Who a sign-in attempt comes from, for its rate limit.
fn client(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "direct".into())
}

async fn login_page<D: Data>(State(c): State<Arc<Console<D>>>) -> Response {
    pages::login(&c.auth, None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    password: String,
}

async fn login<D: Data>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    match c.auth.sign_in(&client(&headers), &f.password, c.now()) {
        Ok(cookie) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/admin/".to_string()),
                (header::SET_COOKIE, c.auth.cookie(Some(&cookie))),
            ],
        )
            .into_response(),
        Err(auth::SignIn::Wrong) => {
            let mut r = pages::login(&c.auth, Some("That password is not the console's."));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Err(auth::SignIn::Locked(until)) => {
            let mut r = pages::login(
                &c.auth,
                Some(&format!(
                    "Too many failed attempts: try again after {} UTC.",
                    until.strftime("%H:%M")
                )),
            );
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r
        }
        Err(auth::SignIn::Off) => {
            let mut r = pages::login(&c.auth, None);
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

async fn logout<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !c.auth.csrf_ok(&s, f.csrf.as_deref()) {
        return pages::forbidden();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/admin/login".to_string()),
            (header::SET_COOKIE, c.auth.cookie(None)),
        ],
    )
        .into_response()
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`: UTC days, both included.
#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// The period a query names: by default the 30 days up to today (UTC).
pub fn period(q: &PeriodQuery, now: Timestamp) -> Result<(Date, Date), String> {
    let day = |s: &Option<String>, name: &str| -> Result<Option<Date>, String> {
        s.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<Date>()
                    .map_err(|_| format!("{name}: {v:?} is not a day (YYYY-MM-DD)"))
            })
            .transpose()
    };
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let to = day(&q.to, "to")?.unwrap_or(today);
    let from = match day(&q.from, "from")? {
        Some(f) => f,
        None => to
            .checked_sub(jiff::Span::new().days(29))
            .map_err(|e| e.to_string())?,
    };
    if from > to {
        return Err(format!("from ({from}) is after to ({to})"));
    }
    Ok((from, to))
}

/// A period's counters for a page: the days `from..=to` and the totals.
pub struct Counted {
    pub days: Rollups,
    pub totals: Rollups,
    pub from: Date,
    pub to: Date,
}

impl Counted {
    fn overview(&self) -> overview::Overview {
        overview::Overview::of(&self.days, &self.totals, self.from, self.to)
    }
}

/// A page over a period's counters: the session, the period and its
/// counters, then `page` makes the answer.
async fn period_page<D: Data>(
    c: &Console<D>,
    s: &auth::Session,
    q: &PeriodQuery,
    page: impl FnOnce(&auth::Session, Counted) -> Response,
) -> Response {
    let (from, to) = match period(q, c.now()) {
        Ok(p) => p,
        Err(e) => return pages::bad_request(&e),
    };
    match c.data.rollups(from, to).await {
        Ok((days, totals)) => page(
            s,
            Counted {
                days,
                totals,
                from,
                to,
            },
        ),
        Err(e) => pages::unavailable(&format!("{e:#}")),
    }
}

async fn overview_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Query(q): Query<PeriodQuery>,
) -> Response {
    period_page(&c, &s, &q, |s, k| {
        pages::overview(&c.auth, s, &k.overview())
    })
    .await
}

async fn overview_json<D: Data>(
    State(c): State<Arc<Console<D>>>,
    _: SignedApi,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let (from, to) = match period(&q, c.now()) {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "error": e })),
            )
                .into_response()
        }
    };
    match c.data.rollups(from, to).await {
        Ok((days, totals)) => {
            axum::Json(overview::Overview::of(&days, &totals, from, to)).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "error": format!("{e:#}") })),
        )
            .into_response(),
    }
}

async fn flows_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Query(q): Query<PeriodQuery>,
) -> Response {
    period_page(&c, &s, &q, |s, k| {
        pages::flows(&c.auth, s, &c.data.config(), &k.overview())
    })
    .await
}

async fn segments_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Query(q): Query<PeriodQuery>,
) -> Response {
    period_page(&c, &s, &q, |s, k| {
        let views = segments::views(&c.data.config(), &k.days, &k.totals, k.from, k.to);
        pages::segments(&c.auth, s, k.from, k.to, &views)
    })
    .await
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn customers_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Query(q): Query<SearchQuery>,
) -> Response {
    let found = if q.q.trim().is_empty() {
        None
    } else {
        match c.data.customer(&q.q).await {
            Ok(v) => v,
            Err(e) => return pages::unavailable(&format!("{e:#}")),
        }
    };
    let data = found.map(|v| {
        let model = c.data.model(&v.state.profile.shop);
        customers::page_data(&v, &c.data.config(), model.as_deref(), c.now())
    });
    pages::customers(&c.auth, &s, &q.q, data)
}

async fn reports_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    // Nothing is read for a request without a session.
    Signed(s): Signed,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let orders = match c.data.orders().await {
        Ok(o) => o,
        Err(e) => return pages::unavailable(&format!("{e:#}")),
    };
    period_page(&c, &s, &q, |s, k| {
        let period = storeflow_core::results::report::Period {
            from: k
                .from
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()
                .map(|z| z.timestamp()),
            to: k
                .to
                .tomorrow()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp()),
        };
        let tz = jiff::tz::TimeZone::get(&c.data.config().settings.store.timezone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let cohorts = storeflow_core::results::report::cohorts(&orders, period, &tz);
        let within: Rollups = k
            .days
            .iter()
            .filter(|((d, _), _)| *d >= k.from && *d <= k.to)
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let arms = storeflow_core::results::report::holdouts_of(&within);
        pages::reports(&c.auth, s, k.from, k.to, &cohorts, &arms)
    })
    .await
}

#[derive(Deserialize, Default)]
struct Notice {
    #[serde(default)]
    replayed: Option<i64>,
    #[serde(default)]
    refused: Option<String>,
}

async fn operations_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Query(n): Query<Notice>,
) -> Response {
    let letters = match c.data.dead_letters().await {
        Ok(l) => l,
        Err(e) => return pages::unavailable(&format!("{e:#}")),
    };
    let notice = match (n.replayed, n.refused) {
        (Some(id), _) => Some((format!("Dead letter {id} is back with the engine."), "")),
        (_, Some(why)) => Some((format!("Not replayed: {why}"), "error")),
        _ => None,
    };
    pages::operations(&c.auth, &s, &c.data.config(), &letters, notice)
}

#[derive(Deserialize)]
struct ReplayForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

async fn replay<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Form(f): Form<ReplayForm>,
) -> Response {
    if !c.auth.csrf_ok(&s, f.csrf.as_deref()) {
        return pages::forbidden();
    }
    let to = if f.confirm.as_deref() != Some("yes") {
        "/admin/operations?refused=confirm+that+its+cause+is+fixed".to_string()
    } else {
        match c.data.replay_dead_letter(id, c.now()).await {
            Ok(()) => format!("/admin/operations?replayed={id}"),
            Err(why) => format!(
                "/admin/operations?refused={}",
                why.replace(|ch: char| !ch.is_ascii_alphanumeric(), "+")
            ),
        }
    };
    Redirect::to(&to).into_response()
}

/// The message log's filters (all optional).
#[derive(Deserialize, Default)]
pub struct MessageFilter {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub customer: Option<String>,
}

impl MessageFilter {
    fn keeps(&self, m: &SentMessage) -> bool {
        fn set(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        set(&self.flow).is_none_or(|f| m.message.flow == f)
            && set(&self.channel).is_none_or(|c| m.message.channel.as_str() == c)
            && set(&self.status).is_none_or(|s| m.lifecycle.iter().any(|l| l == s))
            && set(&self.customer)
                .is_none_or(|c| m.message.to.to_lowercase().contains(&c.to_lowercase()))
    }
}

async fn messages_page<D: Data>(
    State(c): State<Arc<Console<D>>>,
    Signed(s): Signed,
    Query(f): Query<MessageFilter>,
) -> Response {
    let q = PeriodQuery {
        from: f.from.clone(),
        to: f.to.clone(),
    };
    let (from, to) = match period(&q, c.now()) {
        Ok(p) => p,
        Err(e) => return pages::bad_request(&e),
    };
    match c.data.messages(from, to).await {
        Ok(all) => {
            let shown: Vec<SentMessage> = all.into_iter().filter(|m| f.keeps(m)).collect();
            pages::messages(&c.auth, &s, from, to, &f, &shown, &c.data.config())
        }
        Err(e) => pages::unavailable(&format!("{e:#}")),
    }
}
