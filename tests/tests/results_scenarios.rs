//! What automation earns, through the simulator on the starter pack: clicks
//! credit orders within their window and not after, a refund lowers net
//! revenue on its own day, the last touch across channels wins within each
//! channel's window, a holdout arm is measured against the flow, and
//! customers are grouped into cohorts by their first order's month. Every
//! figure is the one a merchant reads in `storeflow report`.

use serde_json::{json, Value};
use storeflow_app::reports::{report, Which};
use storeflow_core::results::facts::{facts_of, Fact};
use storeflow_core::results::report::Period;
use storeflow_core::Kind;
use storeflow_tests::*;

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";
const CARA: &str = "cara@example.com";

fn facts(tr: &Trace) -> Vec<Fact> {
    let mut out = Vec::new();
    facts_of(&tr.decisions, &mut out);
    out
}

fn rows(tr: &Trace, which: Which, from: Option<&str>, to: Option<&str>) -> Vec<Value> {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let p = Period {
        from: from.map(ts),
        to: to.map(ts),
    };
    report(which, &facts(tr), p, &tz)["rows"]
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], pairs: &[(&str, Value)]) -> &'a Value {
    rows.iter()
        .find(|r| pairs.iter().all(|(k, v)| &r[*k] == v))
        .unwrap_or_else(|| panic!("no row with {pairs:?} in {rows:#?}"))
}

/// The id of the message `template` sent to `who`.
fn message_id(t: &Timeline, who: &str, template: &str, until: &str) -> String {
    t.run(until).message(who, template).id.clone()
}

fn order(t: &mut Timeline, at: &str, who: &str, id: &str, total: f64) {
    t.at(
        at,
        "order_placed",
        email(who),
        json!({"order_id": id, "total": total, "currency": "USD", "line_items": line_items()}),
    );
}

fn clicked(t: &mut Timeline, at: &str, who: &str, channel: &str, message: &str) {
    t.at(
        at,
        &format!("{channel}_clicked"),
        email(who),
        json!({"message": message, "link": "https://northwind.example.com/"}),
    );
}

#[test]
fn a_click_credits_an_order_within_five_days_and_not_one_after() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-02T15:00:00Z", ANN);
    subscriber(&mut t, "2026-03-02T15:00:00Z", BOB);
    let ann_msg = message_id(&t, ANN, "welcome_1", "2026-03-03T00:00:00Z");
    let bob_msg = message_id(&t, BOB, "welcome_1", "2026-03-03T00:00:00Z");
    clicked(&mut t, "2026-03-03T10:00:00Z", ANN, "email", &ann_msg);
    clicked(&mut t, "2026-03-03T10:00:00Z", BOB, "email", &bob_msg);
    // Ann orders 4 days after her click; Bob 5 days and 2 hours after his.
    order(&mut t, "2026-03-07T10:00:00Z", ANN, "1001", 120.0);
    order(&mut t, "2026-03-08T12:00:00Z", BOB, "1002", 80.0);
    let tr = t.run("2026-03-20T00:00:00Z");

    let credits: Vec<_> = tr
        .decisions
        .iter()
        .filter(|d| d.kind == Kind::Credit)
        .collect();
    assert_eq!(credits.len(), 1, "{}", tr.dump(BOB));
    assert_eq!(&*credits[0].profile, ANN);

    let m = rows(&tr, Which::Messages, None, None);
    let w1 = row(&m, &[("step", json!("welcome_1"))]);
    assert_eq!(w1["sent"], 2);
    assert_eq!(w1["clicked"], 2);
    assert_eq!(w1["click_rate"], 1.0);
    assert_eq!(w1["orders"], 1);
    assert_eq!(w1["revenue_gross"], 120.0);
    assert_eq!(w1["revenue_net"], 120.0);

    let f = rows(&tr, Which::Flows, None, None);
    let welcome = row(&f, &[("flow", json!("welcome"))]);
    assert_eq!(welcome["entered"], 2);
    // Both orders end the series (its goal); only Ann's earns revenue.
    assert_eq!(welcome["converted"], 2);
    assert_eq!(welcome["orders"], 1);
    assert_eq!(welcome["recipients"], 2);
    assert_eq!(welcome["revenue_per_recipient"], 60.0);
}

#[test]
fn a_partial_refund_lowers_net_revenue_on_the_day_of_the_refund() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-02T15:00:00Z", ANN);
    let msg = message_id(&t, ANN, "welcome_1", "2026-03-03T00:00:00Z");
    clicked(&mut t, "2026-03-03T10:00:00Z", ANN, "email", &msg);
    order(&mut t, "2026-03-05T10:00:00Z", ANN, "1001", 120.0);
    t.at(
        "2026-03-16T10:00:00Z",
        "refunded",
        email(ANN),
        json!({"order_id": "1001", "amount": 45.5, "currency": "USD"}),
    );
    let tr = t.run("2026-03-31T00:00:00Z");

    let all = rows(&tr, Which::Messages, None, None);
    let w1 = row(&all, &[("step", json!("welcome_1"))]);
    assert_eq!(
        (&w1["revenue_gross"], &w1["refunds"], &w1["revenue_net"]),
        (&json!(120.0), &json!(45.5), &json!(74.5))
    );
    // Before the refund, the order's period shows it whole …
    let march_first_half = rows(
        &tr,
        Which::Messages,
        Some("2026-03-01T00:00:00Z"),
        Some("2026-03-15T00:00:00Z"),
    );
    let w1 = row(&march_first_half, &[("step", json!("welcome_1"))]);
    assert_eq!(
        (&w1["revenue_gross"], &w1["revenue_net"]),
        (&json!(120.0), &json!(120.0))
    );
    // … and the refund lowers the period it happened in.
    let later = rows(&tr, Which::Flows, Some("2026-03-15T00:00:00Z"), None);
    let welcome = row(&later, &[("flow", json!("welcome"))]);
    assert_eq!(
        (
            &welcome["revenue_gross"],
            &welcome["refunds"],
            &welcome["revenue_net"]
        ),
        (&json!(0.0), &json!(45.5), &json!(-45.5))
    );
    // A refund of an order no message earned changes no message's revenue.
    let mut t2 = Timeline::new();
    subscriber(&mut t2, "2026-03-02T15:00:00Z", ANN);
    order(&mut t2, "2026-03-05T10:00:00Z", ANN, "1001", 120.0);
    t2.at(
        "2026-03-06T10:00:00Z",
        "refunded",
        email(ANN),
        json!({"order_id": "1001", "amount": 20.0}),
    );
    let tr2 = t2.run("2026-03-31T00:00:00Z");
    assert!(!tr2.decisions.iter().any(|d| d.kind == Kind::CreditRefund));
}

/// Cara gets the checkout email at +1 h and the SMS at +24 h, and clicks
/// both.
fn checkout_with_two_clicks(store_edit: Option<(&str, &str)>) -> Trace {
    let mut t = Timeline::new();
    sms_subscriber(&mut t, "2026-03-01T15:00:00Z", CARA, "+12125550100");
    t.at(
        "2026-03-02T14:00:00Z",
        "checkout_started",
        email(CARA),
        json!({"checkout_id": "ck1", "email": CARA, "line_items": line_items(), "total": 102.0}),
    );
    let cfg_dir = starter_copy(&format!("results-two-channels-{}", store_edit.is_some()));
    if let Some((from, to)) = store_edit {
        edit(&cfg_dir, "store.yaml", from, to);
    }
    let first = t.run_with(config_at(&cfg_dir), "2026-03-04T00:00:00Z");
    let email_msg = first.message(CARA, "checkout_reminder").id.clone();
    let sms_msg = first.message(CARA, "checkout_sms").id.clone();
    clicked(&mut t, "2026-03-02T16:00:00Z", CARA, "email", &email_msg);
    clicked(&mut t, "2026-03-03T15:00:00Z", CARA, "sms", &sms_msg);
    // Two and a half days after the SMS click; a different checkout, so
    // no goal ends the run first.
    order(&mut t, "2026-03-06T03:00:00Z", CARA, "2001", 102.0);
    t.run_with(config_at(&cfg_dir), "2026-03-20T00:00:00Z")
}

#[test]
fn the_last_touch_across_channels_wins_each_within_its_own_window() {
    // Defaults: a click earns for 5 days on both: the later SMS click wins.
    let tr = checkout_with_two_clicks(None);
    let m = rows(&tr, Which::Messages, None, None);
    let sms = row(&m, &[("channel", json!("sms"))]);
    let mail = row(&m, &[("step", json!("checkout_email"))]);
    assert_eq!(
        (&sms["orders"], &sms["revenue_gross"]),
        (&json!(1), &json!(102.0))
    );
    assert_eq!(
        (&mail["orders"], &mail["revenue_gross"]),
        (&json!(0), &json!(0.0))
    );

    // With SMS clicks earning for one day only, the SMS click has expired
    // when the order comes, and the email click (still in its 5 days) wins.
    let tr = checkout_with_two_clicks(Some((
        "lifecycle:",
        "attribution:\n  touches:\n    sms: { click: 1d }\nlifecycle:",
    )));
    let m = rows(&tr, Which::Messages, None, None);
    let sms = row(&m, &[("channel", json!("sms"))]);
    let mail = row(&m, &[("step", json!("checkout_email"))]);
    assert_eq!((&sms["orders"], &mail["orders"]), (&json!(0), &json!(1)));
    assert_eq!(mail["revenue_gross"], 102.0);
    // The report names the settings the credit was decided under.
    let tz = jiff::tz::TimeZone::UTC;
    let doc = report(Which::Flows, &facts(&tr), Period::default(), &tz);
    assert_eq!(
        doc["attribution_settings"][0]["settings"],
        "email click 5d; sms click 1d; whatsapp click 5d"
    );
}

#[test]
fn a_holdout_arm_is_measured_against_the_flow_and_a_small_test_has_no_winner() {
    // Welcome with a 50% holdout before its first email.
    let dir = starter_copy("results-holdout");
    edit(
        &dir,
        "flows/01_welcome.yaml",
        "steps:\n  - id: welcome_1",
        "steps:\n  - split: { holdout: 50 }\n  - id: welcome_1",
    );
    let people: Vec<String> = (0..40).map(|i| format!("p{i:02}@example.com")).collect();
    let mut t = Timeline::new();
    for p in &people {
        subscriber(&mut t, "2026-03-02T15:00:00Z", p);
    }
    let first = t.run_with(config_at(&dir), "2026-03-03T00:00:00Z");
    let arm_of = |who: &str| {
        first
            .for_profile(who)
            .find(|d| d.kind == Kind::Arm)
            .and_then(|d| d.variant().map(str::to_string))
            .expect("every entrant gets an arm")
    };
    let held: Vec<&String> = people.iter().filter(|p| arm_of(p) == "holdout").collect();
    let treated: Vec<&String> = people.iter().filter(|p| arm_of(p) == "treated").collect();
    assert_eq!(held.len() + treated.len(), 40);
    assert!(held.len() >= 10 && treated.len() >= 10, "{}", held.len());
    // Held-out customers get no welcome email.
    for p in &held {
        first.never_sent(p, "welcome_1");
    }
    // 6 treated and 3 held-out customers order within 5 days; one more
    // treated customer orders after the conversion window.
    for (i, p) in treated.iter().take(6).enumerate() {
        order(&mut t, "2026-03-05T12:00:00Z", p, &format!("t{i}"), 50.0);
    }
    for (i, p) in held.iter().take(3).enumerate() {
        order(&mut t, "2026-03-05T12:00:00Z", p, &format!("h{i}"), 50.0);
    }
    order(&mut t, "2026-03-09T12:00:00Z", treated[6], "late", 50.0);
    let tr = t.run_with(config_at(&dir), "2026-03-20T00:00:00Z");

    let h = rows(&tr, Which::Holdouts, None, None);
    let base = row(&h, &[("arm", json!("holdout"))]);
    let arm = row(&h, &[("arm", json!("treated"))]);
    assert_eq!(base["verdict"], "baseline");
    assert_eq!(base["entered"], held.len());
    assert_eq!(base["converted"], 3);
    assert_eq!(base["revenue"], 150.0);
    assert_eq!(arm["entered"], treated.len());
    assert_eq!(arm["converted"], 6);
    assert_eq!(arm["revenue"], 300.0);
    let rate = |x: f64, n: usize| ((x / n as f64) * 1e4).round() / 1e4;
    assert_eq!(arm["conversion_rate"], rate(6.0, treated.len()));
    assert_eq!(base["conversion_rate"], rate(3.0, held.len()));
    // Too few entries to tell: no winner, and how many more it needs.
    assert_eq!(arm["verdict"], "not_yet");
    let more = arm["more_entries_needed"].as_u64().expect("a number");
    assert!(more > 40, "{more}");
    let d = &arm["rate_difference"];
    assert!(d["low"].as_f64().unwrap() < 0.0 && d["high"].as_f64().unwrap() > 0.0);
    let expected = 6.0 / treated.len() as f64 - 3.0 / held.len() as f64;
    assert!((d["estimate"].as_f64().unwrap() - expected).abs() < 1e-4);
}

#[test]
fn customers_are_grouped_by_their_first_orders_month_and_refunds_count_against_it() {
    let mut t = Timeline::new();
    // New York time: Ann's first order is on Jan 31 locally (Feb 1 UTC).
    order(&mut t, "2026-02-01T03:00:00Z", ANN, "a1", 100.0);
    order(&mut t, "2026-03-10T12:00:00Z", ANN, "a2", 50.0);
    order(&mut t, "2026-01-15T12:00:00Z", BOB, "b1", 40.0);
    order(&mut t, "2026-02-20T12:00:00Z", CARA, "c1", 60.0);
    order(&mut t, "2026-02-25T12:00:00Z", CARA, "c2", 20.0);
    // Ann's January order is partly refunded in April: January's revenue.
    t.at(
        "2026-04-02T12:00:00Z",
        "refunded",
        email(ANN),
        json!({"order_id": "a1", "amount": 30.0}),
    );
    let tr = t.run("2026-04-30T00:00:00Z");
    let c = rows(&tr, Which::Cohorts, None, Some("2026-05-01T04:00:00Z"));
    assert_eq!(c.len(), 2, "{c:#?}");
    let jan = row(&c, &[("cohort", json!("2026-01"))]);
    assert_eq!(jan["customers"], 2);
    // Ann again in March (offset 2); Bob never.
    assert_eq!(jan["ordered_again"], json!([0.0, 0.0, 0.5, 0.0]));
    assert_eq!(jan["repurchase_rate"], 0.5);
    // (70 + 40) / 2 in January, + 50 / 2 in March.
    assert_eq!(jan["revenue_per_customer"], json!([55.0, 55.0, 80.0, 80.0]));
    let feb = row(&c, &[("cohort", json!("2026-02"))]);
    assert_eq!(feb["customers"], 1);
    assert_eq!(feb["ordered_again"], json!([1.0, 0.0, 0.0]));
    assert_eq!(feb["repurchase_rate"], 1.0);
    assert_eq!(feb["revenue_per_customer"], json!([80.0, 80.0, 80.0]));
}

#[test]
fn report_prints_a_table_json_and_csv_from_a_replay() {
    let root = repo_root();
    let config = root.join("examples/starter");
    let events = root.join("events/platform-week.jsonl");
    let args = |format: &str| {
        vec![
            "report".to_string(),
            "flows".into(),
            "--config".into(),
            config.display().to_string(),
            "--events".into(),
            events.display().to_string(),
            "--until".into(),
            "2026-12-31T00:00:00Z".into(),
            "--format".into(),
            format.into(),
        ]
    };
    let run = |format: &str| {
        let a = args(format);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        storeflow(&a)
    };
    let (code, json_out, err) = run("json");
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(doc["report"], "flows");
    let welcome = row(
        doc["rows"].as_array().unwrap(),
        &[("flow", json!("welcome"))],
    );
    assert!(welcome["sent"].as_u64().unwrap() > 0);
    let (code, csv, _) = run("csv");
    assert_eq!(code, 0);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("flow,version,entered,sent,"));
    assert_eq!(lines.count(), doc["rows"].as_array().unwrap().len());
    let (code, table, _) = run("table");
    assert_eq!(code, 0);
    assert!(table.lines().any(|l| l.starts_with("welcome ")), "{table}");

    let (code, _, err) = storeflow(&["report", "winners", "--data", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown report \"winners\""), "{err}");
    let (code, _, err) = storeflow(&["report", "flows", "--data", "/nonexistent/sf"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such database"), "{err}");
}

#[test]
fn a_small_store_is_predicted_by_repurchase_intervals_and_told_so() {
    let mut t = Timeline::new();
    // Ann orders every 30 days; Bob once, long ago.
    for (i, day) in ["2026-01-05", "2026-02-04", "2026-03-06", "2026-04-05"]
        .iter()
        .enumerate()
    {
        order(
            &mut t,
            &format!("{day}T12:00:00Z"),
            ANN,
            &format!("a{i}"),
            40.0,
        );
    }
    order(&mut t, "2025-06-01T12:00:00Z", BOB, "b0", 40.0);
    let tr = t.run("2026-04-30T00:00:00Z");
    let f = storeflow_app::reports::predictions(
        &facts(&tr),
        storeflow_app::reports::Forecasting {
            as_of: Some(ts("2026-04-20T00:00:00Z")),
            horizon_days: 90,
            annual_discount_rate: 0.1,
        },
    );
    assert_eq!(f["model"], "intervals", "{f:#}");
    assert!(f["reason"].as_str().unwrap().contains("400"), "{f:#}");
    assert_eq!(f["time_unit"], "days");
    assert_eq!(f["horizon_days"], 90);
    let rows = f["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let who = |email: &str| {
        let pid = tr
            .sim
            .customer_by_email(email)
            .unwrap()
            .profile
            .id
            .to_string();
        rows.iter()
            .find(|r| r["customer"] == pid.as_str())
            .unwrap()
            .clone()
    };
    let (ann, bob) = (who(ANN), who(BOB));
    // The regular, recent buyer is likelier alive, and worth more.
    assert!(
        ann["p_alive"].as_f64() > bob["p_alive"].as_f64(),
        "{ann} {bob}"
    );
    assert!(ann["expected_orders"].as_f64() > bob["expected_orders"].as_f64());
    assert!(ann["predicted_clv"].as_f64() > bob["predicted_clv"].as_f64());
    // Her next order is due after her last, later than her own 30 days:
    // with two customers, her rate is shrunk toward the store's.
    let next: jiff::civil::Date = ann["expected_next_order_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        next > jiff::civil::date(2026, 5, 5) && next < jiff::civil::date(2026, 9, 1),
        "{next}"
    );
    assert!(
        f["intervals"]["store_rate"].as_f64().unwrap() > 0.0,
        "{f:#}"
    );
}

#[test]
fn the_readme_documents_every_report_column() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme.find("### Reports").expect("a Reports section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |e| e + 4)];
    for which in [
        Which::Flows,
        Which::Messages,
        Which::Segments,
        Which::Holdouts,
        Which::Cohorts,
        Which::Predictions,
    ] {
        assert!(section.contains(&format!("**`{}`**", which.name())));
        for col in which.columns() {
            assert!(
                section.contains(&format!("`{col}`")),
                "README: report {} column {col} is not documented",
                which.name()
            );
        }
    }
}

/// The starter pack plus a segment of customers whose predicted next
/// order is due, a flow that writes to them when they enter it, and a
/// segment of customers the model thinks are slipping away.
fn predicting_config() -> storeflow_core::Config {
    let dir = starter_copy("predictions");
    std::fs::write(
        dir.join("segments/due_again.yaml"),
        "id: due_again\nname: Next order due\ncondition:\n  metric: days_to_next_order\n  lte: 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("segments/slipping.yaml"),
        "id: slipping\nname: Likely gone\ncondition:\n  all:\n    - segment: buyers\n    - metric: p_alive\n      lt: 0.6\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("flows/20_due_again.yaml"),
        "id: due_again\nversion: 1\npriority: winback\ntrigger:\n  segment_enter: due_again\n\
         goals:\n  - event: order_placed\nsteps:\n  - id: nudge\n    send: { channel: email, template: due_again }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/due_again.yaml"),
        r#"id: due_again
channel: email
locales:
  en:
    subject: "Time for a refill?"
    html: "<p>{% if profile.predictions is defined %}We expected you around {{ profile.predictions.expected_next_order_at }}.{% endif %}</p><a href='{{ links.unsubscribe }}'>Unsubscribe</a>"
    text: |
      {% if profile.predictions is defined %}We expected you around {{ profile.predictions.expected_next_order_at }} (model {{ profile.predictions.model }}).{% endif %}
      Unsubscribe: {{ links.unsubscribe }}
"#,
    )
    .unwrap();
    config_at(&dir)
}

#[test]
fn a_predicted_next_order_brings_a_message_on_its_day() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-01-02T15:00:00Z", ANN);
    subscriber(&mut t, "2026-01-02T15:00:00Z", BOB);
    // Ann buys every 30 days; Bob once.
    order(&mut t, "2026-01-05T10:00:00Z", ANN, "1001", 40.0);
    order(&mut t, "2026-02-04T10:00:00Z", ANN, "1002", 40.0);
    order(&mut t, "2026-03-06T10:00:00Z", ANN, "1003", 40.0);
    order(&mut t, "2026-01-10T10:00:00Z", BOB, "1004", 60.0);
    let tr = t.run_with(predicting_config(), "2026-06-30T00:00:00Z");
    let sent = tr.sent_once(ANN, "due_again");
    // At a UTC midnight: the day it fell due, not a batch's hour.
    assert_eq!(sent.to_string().get(10..), Some("T00:00:00Z"), "{sent}");
    // Not before her habit says (30 days after her last order); later as
    // the store's rate, shrunk toward in a two-customer store, falls with
    // Bob's silence.
    assert!(sent > ts("2026-04-05T00:00:00Z"), "{}", tr.dump(ANN));
    // Run again to that instant: the model refitted then (two customers:
    // the intervals model) dates her next order on or before that day,
    // and the message names that date.
    let at_send = t.run_with(predicting_config(), &sent.to_string());
    let shop = at_send
        .sim
        .customer_by_email(ANN)
        .unwrap()
        .profile
        .shop
        .clone();
    let model = at_send.sim.engine().model(&shop).expect("refitted daily");
    assert_eq!(
        model.model,
        storeflow_core::predict::forecast::Model::Intervals
    );
    let ann = at_send.sim.customer_by_email(ANN).unwrap();
    let day = sent.to_zoned(jiff::tz::TimeZone::UTC).date();
    let m = model.metrics(&ann.profile.order_history(), day).unwrap();
    let due = m.expected_next_order_at.unwrap();
    assert!(due <= day, "{due} {day}");
    let text = tr
        .message(ANN, "due_again")
        .content
        .text
        .clone()
        .unwrap_or_default();
    assert!(
        text.contains(&format!("We expected you around {due} (model intervals)")),
        "{text}"
    );
    // Bob, silent since January, slips below an even chance of buying
    // again, and is a member from the UTC midnight the model says.
    let end = tr.sim.customer_by_email(BOB).unwrap();
    assert!(end.segments.is_member("slipping"), "{}", tr.dump(BOB));
    let entered = tr
        .for_profile(BOB)
        .find(|d| d.kind == Kind::SegmentEnter && d.segment.as_deref() == Some("slipping"))
        .unwrap_or_else(|| panic!("{}", tr.dump(BOB)));
    assert_eq!(entered.at.to_string().get(10..), Some("T00:00:00Z"));
}
