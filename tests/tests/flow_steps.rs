//! Every kind of flow step, on a small store configured for the purpose:
//! splits and holdouts, webhooks, merchant alerts, profile updates, waits on
//! a date property and for an event, and entry rules.

use serde_json::json;
use std::path::Path;
use storeflow_core::Kind;
use storeflow_tests::*;

const STORE: &str = r#"
store:
  name: Steps
  url: https://steps.example.com
  timezone: Europe/Berlin
  alert_email: ops@steps.example.com
profile_attributes: [renewal_date]
policy:
  caps: []
"#;

fn write(dir: &Path, file: &str, text: &str) {
    let p = dir.join(file);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn store(name: &str, flows: &[(&str, &str)]) -> storeflow_core::Config {
    let dir = temp_dir(name);
    write(&dir, "store.yaml", STORE);
    write(&dir, "templates/note.yaml", "id: note\nchannel: email\nlocales:\n  en:\n    subject: \"Note for {{ profile.first_name | default('you') }}\"\n    html: \"<p>{{ flow.id }}</p>\"\n    text: \"{{ flow.id }}\"\n");
    write(&dir, "templates/hook.yaml", "id: hook\nchannel: webhook\nlocales:\n  en:\n    body: '{\"email\": \"{{ profile.email }}\", \"total\": {{ event.total }}}'\n");
    write(&dir, "templates/ops.yaml", "id: ops\nchannel: alert\nlocales:\n  en:\n    subject: \"Big order {{ event.order_id }}\"\n    text: \"{{ profile.email }} spent {{ event.total | money('EUR') }}\"\n");
    for (f, text) in flows {
        write(&dir, &format!("flows/{f}.yaml"), text);
    }
    config_at(&dir)
}

fn subscribe(t: &mut Timeline, at: &str, who: &str) {
    t.at(
        at,
        "customer_created",
        email(who),
        json!({"first_name": "Kim", "country": "DE"}),
    );
    t.at(
        at,
        "consent_changed",
        email(who),
        json!({"channel": "email", "status": "subscribed"}),
    );
}

#[test]
fn split_holdout_and_variants_are_deterministic_and_recorded() {
    let cfg = || {
        store(
            "split",
            &[(
                "ab",
                "id: ab\nversion: 1\npriority: promotion\ntrigger: { event: quiz_completed }\nsteps:\n  - split:\n      holdout: 20\n      variants: [ { weight: 50, goto: a }, { weight: 50, goto: b } ]\n  - id: a\n    send: { channel: email, template: note }\n    next: exit\n  - id: b\n    send: { channel: email, template: note }\n",
            )],
        )
    };
    let mut t = Timeline::new();
    let people: Vec<String> = (0..200).map(|i| format!("p{i}@example.com")).collect();
    for p in &people {
        subscribe(&mut t, "2026-05-01T08:00:00Z", p);
        t.at(
            "2026-05-01T09:00:00Z",
            "quiz_completed",
            email(p),
            json!({"skin": "dry"}),
        );
    }
    let first = t.run_with(cfg(), "2026-05-02T00:00:00Z");
    let holdout = first
        .decisions
        .iter()
        .filter(|d| {
            d.kind == Kind::FlowExit
                && d.reason
                    .as_ref()
                    .is_some_and(|r| r.to_string().starts_with("holdout"))
        })
        .count();
    let a = first
        .decisions
        .iter()
        .filter(|d| d.kind == Kind::Message && d.step.as_deref() == Some("a"))
        .count();
    let b = first
        .decisions
        .iter()
        .filter(|d| d.kind == Kind::Message && d.step.as_deref() == Some("b"))
        .count();
    assert_eq!(holdout + a + b, 200);
    assert!(
        (20..=60).contains(&holdout),
        "about 20% held out: {holdout}"
    );
    assert!(a > 50 && b > 50, "both variants used: {a} / {b}");
    // The same inputs take the same paths.
    let again = t.run_with(cfg(), "2026-05-02T00:00:00Z");
    let paths = |tr: &Trace| -> Vec<(String, String)> {
        tr.decisions
            .iter()
            .filter(|d| d.kind == Kind::Message)
            .map(|d| {
                (
                    d.profile.to_string(),
                    d.step.as_deref().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(paths(&first), paths(&again));
}

#[test]
fn webhook_alert_tags_and_points_steps() {
    let cfg = store(
        "ops",
        &[(
            "big_order",
            "id: big_order\nversion: 1\npriority: transactional\ntrigger:\n  event: order_placed\n  where: [ { path: total, gte: 500 } ]\n  key: order_id\nsteps:\n  - update_profile: { add_tags: [big_spender], add_points: 100, set: { renewal_date: \"2027-01-15\" } }\n  - webhook: { url: \"https://hooks.example.com/crm\", template: hook }\n  - alert: { template: ops }\n  - wait_for: { event: refunded, same: [order_id], timeout: 14d, on_event: refund_note, on_timeout: exit }\n  - id: refund_note\n    send: { channel: email, template: note, transactional: true }\n",
        )],
    );
    let mut t = Timeline::new();
    subscribe(&mut t, "2026-05-01T08:00:00Z", "kim@example.com");
    t.at(
        "2026-05-02T10:00:00Z",
        "order_placed",
        email("kim@example.com"),
        json!({"order_id": "o-9", "total": 640.0, "line_items": []}),
    );
    t.at(
        "2026-05-02T11:00:00Z",
        "order_placed",
        email("kim@example.com"),
        json!({"order_id": "o-10", "total": 20.0, "line_items": []}),
    );
    t.at(
        "2026-05-05T10:00:00Z",
        "refunded",
        email("kim@example.com"),
        json!({"order_id": "o-9", "refund_id": "r1", "amount": 40.0}),
    );
    let tr = t.run_with(cfg, "2026-06-01T00:00:00Z");
    let hook = tr
        .for_profile("kim@example.com")
        .find(|d| d.channel() == Some("webhook"))
        .expect("webhook");
    assert_eq!(hook.to(), Some("https://hooks.example.com/crm"));
    let body: serde_json::Value = serde_json::from_str(
        hook.message
            .as_ref()
            .unwrap()
            .content
            .body
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body, json!({"email": "kim@example.com", "total": 640.0}));
    let alert = tr
        .for_profile("kim@example.com")
        .find(|d| d.channel() == Some("alert"))
        .expect("alert");
    assert_eq!(alert.to(), Some("ops@steps.example.com"));
    assert_eq!(alert.subject(), Some("Big order o-9"));
    assert!(alert
        .message
        .as_ref()
        .unwrap()
        .content
        .text
        .as_deref()
        .unwrap()
        .contains("€640.00"));
    // Only the big order entered; the refund of that order resumed its wait.
    assert_eq!(
        tr.for_profile("kim@example.com")
            .filter(|d| d.kind == Kind::FlowEnter)
            .count(),
        1
    );
    assert_eq!(
        tr.sent_once("kim@example.com", "note"),
        ts("2026-05-05T10:00:00Z")
    );
    let st = tr.sim.customer_by_email("kim@example.com").unwrap();
    assert!(st.profile.has_tag("big_spender"));
    assert_eq!(
        st.profile
            .points
            .get(&format!("run:{}:step-1", hook.run.as_deref().unwrap())),
        Some(&100)
    );
    assert_eq!(st.profile.field_str("renewal_date"), Some("2027-01-15"));
}

#[test]
fn wait_until_a_date_property_and_once_ever_entry() {
    let cfg = store(
        "dates",
        &[(
            "renewal",
            "id: renewal\nversion: 1\npriority: promotion\ntrigger: { event: subscription_started }\nentry: once_ever\nsteps:\n  - wait: { date: renewal_date, offset: -3d, at: \"09:30\" }\n  - send: { channel: email, template: note }\n",
        )],
    );
    let mut t = Timeline::new();
    subscribe(&mut t, "2026-05-01T08:00:00Z", "kim@example.com");
    t.at(
        "2026-05-01T08:00:00Z",
        "customer_updated",
        email("kim@example.com"),
        json!({"attributes": {"renewal_date": "2026-06-10"}}),
    );
    t.at(
        "2026-05-02T08:00:00Z",
        "subscription_started",
        email("kim@example.com"),
        json!({"plan": "monthly"}),
    );
    t.at(
        "2026-05-03T08:00:00Z",
        "subscription_started",
        email("kim@example.com"),
        json!({"plan": "yearly"}),
    );
    let tr = t.run_with(cfg, "2026-07-01T00:00:00Z");
    // Three days before June 10, 09:30 in Berlin (CEST, UTC+2).
    assert_eq!(
        tr.sent_once("kim@example.com", "note"),
        ts("2026-06-07T07:30:00Z")
    );
    assert_eq!(
        tr.with_reason("kim@example.com", Kind::Skipped, "once_ever")
            .len(),
        1
    );
}
