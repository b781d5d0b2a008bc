//! The variables a template sees: `profile`, `event` (the run's trigger:
//! its properties plus `type` and `occurred_at`), `store`, `links`
//! (`unsubscribe`, `preferences`) and `flow`.

use crate::config::settings::Settings;
use serde_json::{json, Value};

pub fn event_json(kind: &str, occurred_at: &str, props: Value) -> Value {
    let mut e = match props {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    e["type"] = json!(kind);
    e["occurred_at"] = json!(occurred_at);
    e
}

pub fn build(
    settings: &Settings,
    profile: Value,
    event: Value,
    links: Value,
    flow_id: &str,
    flow_name: Option<&str>,
) -> Value {
    let s = &settings.store;
    let mut store =
        json!({"name": s.name, "url": s.url, "currency": s.currency, "locale": s.locale});
    for (k, v) in [
        ("support_email", &s.support_email),
        ("address", &s.address),
        ("from_email", &s.from_email),
    ] {
        if let Some(v) = v {
            store[k] = json!(v);
        }
    }
    // Built by moving the parts in: `json!` would serialize (deep-copy) them.
    let mut root = serde_json::Map::new();
    root.insert("profile".into(), profile);
    root.insert("event".into(), event);
    root.insert("store".into(), store);
    root.insert("links".into(), links);
    root.insert(
        "flow".into(),
        json!({"id": flow_id, "name": flow_name.unwrap_or(flow_id)}),
    );
    Value::Object(root)
}
