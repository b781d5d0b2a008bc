//! The HTTP endpoints of `storeflow serve`: everything ingestion serves
//! (webhooks, tracking, `/health`), one-click unsubscribe, and the profile
//! view.

use crate::runtime::Runtime;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;
use storeflow_app::ports::Customers;
use storeflow_core::event::Event;

pub fn router(rt: Arc<Runtime>) -> axum::Router {
    axum::Router::new()
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/profiles/{email}", get(profile))
        .fallback(ingest)
        .with_state(rt)
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

/// Which profile and channel a token names, if its signature holds. The
/// token names its profile; the signature is checked against that
/// profile's shop.
fn verify(rt: &Runtime, token: &str) -> Option<(storeflow_core::ids::ShopId, String, String)> {
    let named = token.rsplitn(3, '.').nth(2)?;
    let pid = storeflow_core::ids::ProfileId::parse(named).ok()?;
    let shop = rt.store.shop_of(&pid).ok()??;
    let (p, ch) = rt.live().engine.config.links.verify(shop.as_str(), token)?;
    Some((shop, p, ch))
}

async fn unsubscribe_page(State(rt): State<Arc<Runtime>>, Path(token): Path<String>) -> Response {
    if verify(&rt, &token).is_none() {
        return (
            StatusCode::NOT_FOUND,
            Html("<p>This link is not valid.</p>".to_string()),
        )
            .into_response();
    }
    let store = rt.live().engine.config.settings.store.name.clone();
    Html(format!(
        "<!doctype html><title>Unsubscribe</title><h1>{store}</h1>\
         <form method=post><p>Stop these messages?</p><button>Unsubscribe</button></form>"
    ))
    .into_response()
}

/// RFC 8058 one-click (a POST with `List-Unsubscribe=One-Click`) and the
/// page's button: the customer's consent for that channel becomes
/// "unsubscribed", through the engine like any other event.
async fn unsubscribe(State(rt): State<Arc<Runtime>>, Path(token): Path<String>) -> Response {
    let Some((shop, profile, channel)) = verify(&rt, &token) else {
        return (StatusCode::NOT_FOUND, "This link is not valid.").into_response();
    };
    let Ok(pid) = storeflow_core::ids::ProfileId::parse(profile) else {
        return (StatusCode::NOT_FOUND, "This link is not valid.").into_response();
    };
    let state = match rt.store.load(&shop, &pid).await {
        Ok(Some(l)) => l.state,
        Ok(None) => return (StatusCode::OK, "You are unsubscribed.").into_response(),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let now = rt.clock.now();
    let channels: Vec<&str> = if channel == "all" {
        vec!["email", "sms", "whatsapp"]
    } else {
        vec![channel.as_str()]
    };
    for ch in channels {
        let event: Result<Event, _> = serde_json::from_value(json!({
            "id": format!("unsubscribe:{}:{ch}:{}", state.profile.id, now.as_microsecond()),
            "shop": shop,
            "type": "consent_changed",
            "occurred_at": now,
            "customer": {
                "email": state.profile.email().map(|e| e.to_string()),
                "phone": state.profile.phone().map(|p| p.to_string()),
                "id": state.profile.customer_id,
            },
            "properties": {"channel": ch, "status": "unsubscribed"},
        }));
        let Ok(event) = event else { continue };
        let app = storeflow_app::App::new(rt.live().engine.clone(), rt.store.clone());
        if let Err(e) = app.event(event, now).await {
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
        }
    }
    (StatusCode::OK, "You are unsubscribed.").into_response()
}

/// A profile's view: attributes, segments, runs, messages and decisions.
async fn profile(State(rt): State<Arc<Runtime>>, Path(email): Path<String>) -> Response {
    let Ok(e) = storeflow_core::ids::Email::parse(&email) else {
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
