//! The console's HTML: templates compiled into the binary and rendered
//! with minijinja, which escapes every value it prints (autoescape for
//! `.html`); only the page body and server-drawn SVG, made here, are
//! inserted as they are.

use crate::auth::{Auth, Session};
use crate::overview::Overview;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Environment, Value};
use serde::Serialize;
use std::sync::OnceLock;
use storeflow_core::Config;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut e = Environment::new();
        e.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, text) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("login.html", include_str!("templates/login.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("flows.html", include_str!("templates/flows.html")),
            ("period.html", include_str!("templates/period.html")),
            ("segments.html", include_str!("templates/segments.html")),
            ("customers.html", include_str!("templates/customers.html")),
            ("reports.html", include_str!("templates/reports.html")),
            ("operations.html", include_str!("templates/operations.html")),
            ("messages.html", include_str!("templates/messages.html")),
        ] {
            e.add_template(name, text)
                .expect("a console template parses");
        }
        e
    })
}

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

/// The console's pages, in the order the navigation lists them.
const PAGES: &[(&str, &str)] = &[
    ("/admin/", "Overview"),
    ("/admin/flows", "Flows"),
    ("/admin/segments", "Segments"),
    ("/admin/customers", "Customers"),
    ("/admin/messages", "Messages"),
    ("/admin/reports", "Reports"),
    ("/admin/operations", "Operations"),
];

fn nav(current: &str) -> Vec<NavItem> {
    PAGES
        .iter()
        .map(|(href, label)| NavItem {
            href,
            label,
            current: *href == current,
        })
        .collect()
}

fn html(status: StatusCode, text: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        text,
    )
        .into_response()
}

/// A page: `body` (rendered from its template) in the layout.
fn page(
    auth: &Auth,
    session: Option<&Session>,
    current: &str,
    title: &str,
    template: &str,
    ctx: Value,
) -> Response {
    let render = || -> Result<String, minijinja::Error> {
        let body = env().get_template(template)?.render(ctx)?;
        env().get_template("layout.html")?.render(context! {
            title => title,
            signed_in => session.is_some(),
            bearer => session.is_some_and(|s| s.is_bearer()),
            csrf => session.map(|s| auth.csrf(s)).unwrap_or_default(),
            nav => nav(current),
            body => Value::from_safe_string(body),
        })
    };
    match render() {
        Ok(text) => html(StatusCode::OK, text),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page {template} failed to render: {e}"),
        ),
    }
}

pub fn login(auth: &Auth, error: Option<&str>) -> Response {
    page(
        auth,
        None,
        "",
        "Sign in",
        "login.html",
        context! { error => error, off => !auth.password_is_set() },
    )
}

fn plain(status: StatusCode, text: &str) -> Response {
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><title>storeflow</title><main><p>{}</p><p><a href=\"/admin/\">Back to the console</a></p></main></html>",
            text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
        ),
    )
}

pub fn forbidden() -> Response {
    plain(
        StatusCode::FORBIDDEN,
        "This form is out of date or did not come from the console: open the page again and retry.",
    )
}

pub fn bad_request(why: &str) -> Response {
    plain(StatusCode::BAD_REQUEST, why)
}

pub fn unavailable(why: &str) -> Response {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("The data could not be read: {why}"),
    )
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

/// A count as a whole number (counters are sums of floats).
fn whole(v: f64) -> String {
    format!("{}", v.round() as i64)
}

pub fn overview(auth: &Auth, s: &Session, o: &Overview) -> Response {
    let chart = crate::svg::daily_bars("Attributed net revenue by UTC day", &o.daily);
    let flows: Vec<Value> = o
        .flows
        .iter()
        .map(|f| {
            Value::from_serialize(serde_json::json!({
                "flow": f["flow"], "version": f["version"], "entered": f["entered"],
                "recipients": f["recipients"], "converted": f["converted"],
                "revenue_net": money(f["revenue_net"].as_f64().unwrap_or(0.0)),
                "revenue_per_recipient": money(f["revenue_per_recipient"].as_f64().unwrap_or(0.0)),
            }))
        })
        .collect();
    page(
        auth,
        Some(s),
        "/admin/",
        "Overview",
        "overview.html",
        context! {
            from => o.from.to_string(),
            to => o.to.to_string(),
            days => o.daily.len(),
            revenue_net => money(o.revenue_net),
            orders => whole(o.orders),
            converted => whole(o.converted),
            unsubscribed => whole(o.unsubscribed),
            channels => o.channels.iter().map(|c| Value::from_serialize(serde_json::json!({
                "channel": c.channel, "sent": whole(c.sent), "delivered": whole(c.delivered),
                "clicked": whole(c.clicked),
            }))).collect::<Vec<_>>(),
            chart => Value::from_safe_string(chart),
            flows => flows,
        },
    )
}

pub fn flows(auth: &Auth, s: &Session, config: &Config, o: &Overview) -> Response {
    let counts = |id: &str, k: &str| -> f64 {
        o.flows
            .iter()
            .filter(|f| f["flow"] == id)
            .map(|f| f[k].as_f64().unwrap_or(0.0))
            .sum()
    };
    let rows: Vec<Value> = config
        .by_priority
        .iter()
        .map(|f| {
            let t = &f.trigger;
            let trigger = if let Some(e) = &t.event {
                format!("event {e}")
            } else if let Some(s) = &t.segment_enter {
                format!("entering segment {s}")
            } else if let Some(s) = &t.segment_exit {
                format!("leaving segment {s}")
            } else if let Some(d) = &t.date {
                format!("date {d}")
            } else if let Some(c) = &t.campaign {
                format!("campaign to {} at {}", c.segment, c.start)
            } else {
                "—".into()
            };
            Value::from_serialize(serde_json::json!({
                "id": f.id.as_ref(),
                "name": f.name.clone().unwrap_or_else(|| f.id.to_string()),
                "trigger": trigger,
                "status": "live",
                "version": f.version,
                "entered": whole(counts(&f.id, "entered")),
                "converted": whole(counts(&f.id, "converted")),
                "revenue_net": money(counts(&f.id, "revenue_net")),
            }))
        })
        .collect();
    page(
        auth,
        Some(s),
        "/admin/flows",
        "Flows",
        "flows.html",
        context! { from => o.from.to_string(), to => o.to.to_string(), flows => rows },
    )
}

pub fn segments(
    auth: &Auth,
    s: &Session,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    views: &[crate::segments::SegmentView],
) -> Response {
    let rows: Vec<Value> = views
        .iter()
        .map(|v| {
            let title = format!("Members of {} at the end of each UTC day", v.name);
            let mut row: std::collections::BTreeMap<String, Value> = [
                ("id", Value::from(v.id.as_str())),
                ("name", Value::from(v.name.as_str())),
                ("description", Value::from(v.description.as_str())),
                ("words", Value::from(v.words.as_str())),
                ("yaml", Value::from(v.yaml.as_str())),
                ("members", Value::from(v.members)),
                ("entered", Value::from(v.entered)),
                ("exited", Value::from(v.exited)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            // Drawn here, escaping what it prints.
            row.insert(
                "chart".to_string(),
                Value::from_safe_string(crate::svg::daily_bars(&title, &v.daily)),
            );
            Value::from(row)
        })
        .collect();
    page(
        auth,
        Some(s),
        "/admin/segments",
        "Segments",
        "segments.html",
        context! { from => from.to_string(), to => to.to_string(), segments => rows },
    )
}

pub fn customers(
    auth: &Auth,
    s: &Session,
    q: &str,
    customer: Option<serde_json::Value>,
) -> Response {
    page(
        auth,
        Some(s),
        "/admin/customers",
        "Customers",
        "customers.html",
        context! { q => q, customer => customer.map(|c| Value::from_serialize(&c)) },
    )
}

pub fn reports(
    auth: &Auth,
    s: &Session,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    cohorts: &[storeflow_core::results::report::CohortRow],
    arms: &[storeflow_core::results::report::ArmRow],
) -> Response {
    let months = cohorts
        .iter()
        .map(|c| c.ordered_again.len())
        .max()
        .unwrap_or(0);
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let rows: Vec<Value> = cohorts
        .iter()
        .map(|c| {
            let cells: Vec<serde_json::Value> = c
                .ordered_again
                .iter()
                .enumerate()
                .map(|(i, share)| {
                    serde_json::json!({
                        "share": pct(*share),
                        // The heat: the share itself, readable on white at 0.
                        "alpha": format!("{:.2}", (share * 0.85).clamp(0.0, 0.85)),
                        "revenue": money(c.revenue_per_customer.get(i).copied().unwrap_or(0.0)),
                    })
                })
                .collect();
            Value::from_serialize(serde_json::json!({
                "cohort": c.cohort, "customers": c.customers,
                "repurchase_rate": pct(c.repurchase_rate), "cells": cells,
            }))
        })
        .collect();
    let arms: Vec<Value> = arms.iter().map(Value::from_serialize).collect();
    page(
        auth,
        Some(s),
        "/admin/reports",
        "Reports",
        "reports.html",
        context! {
            from => from.to_string(), to => to.to_string(),
            months => (0..months).collect::<Vec<_>>(), cohorts => rows, arms => arms,
        },
    )
}

pub fn operations(
    auth: &Auth,
    s: &Session,
    config: &Config,
    letters: &[crate::DeadLetter],
    notice: Option<(String, &str)>,
) -> Response {
    let letters: Vec<Value> = letters
        .iter()
        .map(|d| {
            Value::from_serialize(serde_json::json!({
                "id": d.id, "kind": d.kind, "error": d.error, "at": d.at.to_string(),
                "replayed": d.replayed.map(|t| t.to_string()),
            }))
        })
        .collect();
    page(
        auth,
        Some(s),
        "/admin/operations",
        "Operations",
        "operations.html",
        context! {
            store => config.settings.store.name.clone(),
            timezone => config.settings.store.timezone.clone(),
            flows => config.by_priority.len(),
            segments => config.segments.iter().count(),
            templates => config.templates.ids().count(),
            letters => letters,
            csrf => auth.csrf(s),
            notice => notice.as_ref().map(|n| n.0.clone()),
            notice_class => notice.as_ref().map(|n| n.1).unwrap_or(""),
        },
    )
}

pub fn messages(
    auth: &Auth,
    s: &Session,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    filter: &crate::MessageFilter,
    all: &[crate::SentMessage],
    config: &Config,
) -> Response {
    let shown: Vec<Value> = all
        .iter()
        .take(crate::MESSAGES_SHOWN)
        .map(|m| {
            let c = &m.message.content;
            let text = c
                .text
                .clone()
                .or_else(|| c.body.clone())
                .unwrap_or_default();
            let mut status = vec![if m.settled.is_some() {
                "sent"
            } else {
                "queued"
            }
            .to_string()];
            status.extend(m.lifecycle.iter().filter(|l| *l != "sent").cloned());
            status.dedup();
            Value::from_serialize(serde_json::json!({
                "id": m.message.id, "queued": m.queued.to_string(), "to": m.message.to,
                "flow": m.message.flow, "step": m.message.step, "template": m.message.template,
                "channel": m.message.channel.as_str(), "status": status.join(", "),
                "subject": c.subject, "first_line": text.lines().next().unwrap_or_default(),
                "text": text, "html": c.html,
            }))
        })
        .collect();
    let flows: Vec<String> = config.flows.keys().cloned().collect();
    let channels: Vec<&str> = storeflow_core::model::channel::Channel::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    let statuses = [
        "sent",
        "delivered",
        "bounced",
        "opened",
        "clicked",
        "unsubscribed",
        "complained",
    ];
    page(
        auth,
        Some(s),
        "/admin/messages",
        "Messages",
        "messages.html",
        context! {
            from => from.to_string(), to => to.to_string(),
            filter => context! {
                flow => filter.flow.clone().unwrap_or_default(),
                channel => filter.channel.clone().unwrap_or_default(),
                status => filter.status.clone().unwrap_or_default(),
                customer => filter.customer.clone().unwrap_or_default(),
            },
            flows => flows, channels => channels, statuses => statuses,
            matching => all.len(), shown => shown,
        },
    )
}
