//! Finding a customer and what the customer page shows of them: profile,
//! consent, tier and points, segments, orders, predictions, live runs and
//! the trace of every decision with its reason.

use serde_json::{json, Value};
use storeflow_core::customer::identity;
use storeflow_core::model::channel::Channel;
use storeflow_core::model::event::Identity;
use storeflow_core::model::ids::ShopId;
use storeflow_core::predict::forecast::StoreModel;
use storeflow_core::{Config, CustomerState, Decision};

/// A customer as the console shows them.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub state: CustomerState,
    /// Their decision trace, oldest first (empty where the runtime keeps
    /// none: on AWS it is in CloudWatch).
    pub decisions: Vec<Decision>,
}

/// The identity keys a search for `q` may name in `shop`: an email, a
/// phone number (E.164) or the platform's customer id.
pub fn search_keys(shop: &ShopId, q: &str) -> Vec<String> {
    let q = q.trim();
    if q.is_empty() {
        return Vec::new();
    }
    identity::keys(
        shop,
        &Identity {
            id: Some(q.to_string()),
            email: Some(q.to_string()),
            phone: Some(q.to_string()),
            anonymous_id: None,
        },
    )
}

/// The page's data, every value plain text for the template to escape.
pub fn page_data(
    v: &CustomerView,
    config: &Config,
    model: Option<&StoreModel>,
    now: jiff::Timestamp,
) -> Value {
    let p = &v.state.profile;
    let s = &config.settings;
    let consent: Vec<Value> = Channel::ALL
        .iter()
        .filter(|c| c.spec().consent)
        .map(|c| {
            json!({"channel": c.as_str(), "status": p.consent(*c).map(|st| format!("{st:?}").to_lowercase()).unwrap_or_else(|| "none".into())})
        })
        .collect();
    let mut orders: Vec<Value> = p
        .orders
        .iter()
        .map(|(id, o)| {
            let refunded: f64 = o.refunded.values().map(|r| r.value).sum();
            json!({"id": id, "placed_at": o.placed_at.map(|t| t.to_string()).unwrap_or_default(),
                   "total": format!("{:.2}", o.total), "refunded": format!("{refunded:.2}"),
                   "cancelled": o.cancelled})
        })
        .collect();
    orders.sort_by(|a, b| b["placed_at"].as_str().cmp(&a["placed_at"].as_str()));
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let predictions = model.and_then(|m| {
        let x = m.metrics(&p.order_history(), today)?;
        Some(json!({"model": m.model, "p_alive": format!("{:.2}", x.p_alive),
            "expected_orders": format!("{:.2}", x.expected_orders),
            "predicted_clv": format!("{:.2}", x.predicted_clv),
            "expected_next_order_at": x.expected_next_order_at.map(|d| d.to_string()).unwrap_or_default()}))
    });
    let runs: Vec<Value> = v
        .state
        .runs
        .iter()
        .map(|r| {
            use storeflow_core::customer::state::Wait;
            let waits = match r.wait {
                Wait::Ready => "ready to run its next step".to_string(),
                Wait::Until(t) => format!("waiting until {t}"),
                Wait::ForEvent(t) => format!("waiting for an event, until {t}"),
                Wait::Deferred(t) => format!("deferred by the contact policy to {t}"),
            };
            json!({"flow": r.flow.as_ref(), "version": r.version, "step": r.step + 1,
                   "started_at": r.started_at.to_string(), "waits": waits})
        })
        .collect();
    let trace: Vec<Value> = v
        .decisions
        .iter()
        .rev()
        .map(|d| {
            let j = serde_json::to_value(d).unwrap_or_default();
            let what = [
                j["flow"].as_str().map(|f| format!("flow {f}")),
                j["step"].as_str().map(|f| format!("step {f}")),
                j["template"].as_str().map(|f| format!("template {f}")),
                j["segment"].as_str().map(|f| format!("segment {f}")),
                j["channel"].as_str().map(|f| format!("by {f}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            json!({"at": j["at"], "kind": j["kind"], "what": what,
                   "reason": j["reason"].as_str().unwrap_or_default()})
        })
        .collect();
    json!({
        "id": p.id.as_str(),
        "shop": p.shop.as_str(),
        "email": p.email().map(|e| e.to_string()).unwrap_or_default(),
        "phone": p.phone().map(|e| e.to_string()).unwrap_or_default(),
        "customer_id": p.customer_id.clone().unwrap_or_default(),
        "locale": p.locale(s),
        "tags": p.tag_list().join(", "),
        "tier": p.tier(s).unwrap_or("—"),
        "points": p.total_points(),
        "orders_count": p.metrics.orders_count,
        "total_spent": format!("{:.2}", p.metrics.total_spent),
        "consent": consent,
        "segments": v.state.segments.all().filter(|(_, m)| *m).map(|(s, _)| s).collect::<Vec<_>>(),
        "orders": orders,
        "predictions": predictions,
        "runs": runs,
        "trace": trace,
    })
}
