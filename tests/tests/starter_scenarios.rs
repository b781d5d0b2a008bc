//! The starter pack's twelve behaviours, through the simulator: each sends
//! its message at the right minute, and not when it must not.

use serde_json::json;
use storeflow_core::Kind;
use storeflow_tests::*;

const ANN: &str = "ann@example.com";

#[test]
fn welcome_series_sends_now_plus_two_days_plus_four_more_then_stops() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-02T15:00:00Z", ANN);
    let tr = t.run("2026-03-20T00:00:00Z");
    assert_eq!(tr.sent_once(ANN, "welcome_1"), ts("2026-03-02T15:00:00Z"));
    assert_eq!(tr.sent_once(ANN, "welcome_2"), ts("2026-03-04T15:00:00Z"));
    // +4 more days, across the US DST change on Mar 8: calendar days keep 10:00 local.
    assert_eq!(
        tr.sent_once(ANN, "welcome_offer"),
        ts("2026-03-08T14:00:00Z")
    );
    let m = tr.message(ANN, "welcome_1");
    assert_eq!(
        m.content.subject.as_deref(),
        Some("Welcome to Northwind Goods")
    );
    assert!(m.content.text.as_deref().unwrap().starts_with("Hi Ann,"));
    assert!(m
        .unsubscribe_url
        .as_deref()
        .unwrap()
        .starts_with("http://localhost:8080/u/"));
}

#[test]
fn welcome_series_exits_on_order_and_is_a_conversion() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-02T15:00:00Z", ANN);
    t.at(
        "2026-03-03T12:00:00Z",
        "order_placed",
        email(ANN),
        json!({"order_id": "1001", "total": 40.0, "line_items": line_items()}),
    );
    let tr = t.run("2026-03-20T00:00:00Z");
    tr.sent_once(ANN, "welcome_1");
    tr.never_sent(ANN, "welcome_2");
    tr.never_sent(ANN, "welcome_offer");
    let exits = tr.with_reason(ANN, Kind::FlowExit, "goal reached: order_placed");
    assert!(
        exits
            .iter()
            .any(|d| d.flow.as_deref() == Some("welcome") && d.conversion),
        "{}",
        tr.dump(ANN)
    );
}

#[test]
fn welcome_needs_consent_and_a_duplicate_consent_event_changes_nothing() {
    let mut t = Timeline::new();
    t.at(
        "2026-03-02T15:00:00Z",
        "customer_created",
        email(ANN),
        json!({"first_name": "Ann"}),
    );
    t.with_id(
        "2026-03-02T15:01:00Z",
        "consent-1",
        "consent_changed",
        email(ANN),
        json!({"channel": "email", "status": "subscribed"}),
    );
    t.with_id(
        "2026-03-02T15:05:00Z",
        "consent-1",
        "consent_changed",
        email(ANN),
        json!({"channel": "email", "status": "subscribed"}),
    );
    // An opt-in to SMS only starts nothing.
    t.at(
        "2026-03-02T15:00:00Z",
        "consent_changed",
        email("bob@example.com"),
        json!({"channel": "sms", "status": "subscribed"}),
    );
    let tr = t.run("2026-03-03T00:00:00Z");
    tr.sent_once(ANN, "welcome_1");
    assert_eq!(
        tr.with_reason(ANN, Kind::Skipped, "duplicate event consent-1")
            .len(),
        1
    );
    assert!(tr.messages("bob@example.com").is_empty());
}

#[test]
fn browse_abandonment_one_email_after_two_hours_at_most_once_a_week() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    let view = json!({"product_id": "linen-shirt", "title": "Linen shirt", "url": "https://northwind.example.com/products/linen-shirt"});
    t.at(
        "2026-03-10T15:00:00Z",
        "product_viewed",
        email(ANN),
        view.clone(),
    );
    t.at(
        "2026-03-10T15:20:00Z",
        "product_viewed",
        email(ANN),
        view.clone(),
    );
    // Three days later: inside the 7-day entry window, so nothing.
    t.at(
        "2026-03-13T15:00:00Z",
        "product_viewed",
        email(ANN),
        view.clone(),
    );
    // Nine days later: a new entry.
    t.at("2026-03-19T15:00:00Z", "product_viewed", email(ANN), view);
    let tr = t.run("2026-03-25T00:00:00Z");
    let sent: Vec<_> = tr
        .messages(ANN)
        .into_iter()
        .filter(|(_, t)| t == "browse_reminder")
        .map(|(at, _)| at)
        .collect();
    assert_eq!(
        sent,
        vec![ts("2026-03-10T17:00:00Z"), ts("2026-03-19T17:00:00Z")],
        "{}",
        tr.dump(ANN)
    );
    assert_eq!(
        tr.message(ANN, "browse_reminder")
            .content
            .subject
            .as_deref(),
        Some("Still thinking about Linen shirt?")
    );
    assert!(!tr.with_reason(ANN, Kind::Skipped, "once_per 7d").is_empty());
}

#[test]
fn browse_abandonment_not_sent_after_add_to_cart_or_without_consent() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at(
        "2026-03-10T15:00:00Z",
        "product_viewed",
        email(ANN),
        json!({"product_id": "p1", "title": "Linen shirt"}),
    );
    t.at(
        "2026-03-10T16:00:00Z",
        "added_to_cart",
        email(ANN),
        json!({"line_items": line_items()}),
    );
    // Bob never consented to email marketing.
    t.at(
        "2026-03-10T15:00:00Z",
        "product_viewed",
        email("bob@example.com"),
        json!({"product_id": "p1", "title": "Linen shirt"}),
    );
    let tr = t.run("2026-03-12T00:00:00Z");
    tr.never_sent(ANN, "browse_reminder");
    tr.never_sent("bob@example.com", "browse_reminder");
    assert_eq!(
        tr.with_reason(
            "bob@example.com",
            Kind::Skipped,
            "no email marketing consent"
        )
        .len(),
        1,
        "{}",
        tr.dump("bob@example.com")
    );
}

#[test]
fn anonymous_browsing_joins_the_customer_who_identifies() {
    let mut t = Timeline::new();
    t.at(
        "2026-03-10T15:00:00Z",
        "product_viewed",
        anon("browser-1"),
        json!({"product_id": "p1", "title": "Linen shirt"}),
    );
    t.at(
        "2026-03-10T15:30:00Z",
        "customer_created",
        json!({"email": ANN, "anonymous_id": "browser-1"}),
        json!({"first_name": "Ann"}),
    );
    t.at(
        "2026-03-10T15:30:00Z",
        "consent_changed",
        email(ANN),
        json!({"channel": "email", "status": "subscribed"}),
    );
    let tr = t.run("2026-03-11T00:00:00Z");
    // The browse run that began anonymously emails the customer at +2 h.
    assert_eq!(
        tr.sent_once(ANN, "browse_reminder"),
        ts("2026-03-10T17:00:00Z")
    );
    let st = tr.sim.customer_by_email(ANN).unwrap();
    assert!(st.profile.anonymous_ids.contains("browser-1"));
    assert_eq!(
        st.history
            .iter()
            .filter(|e| &*e.name == "product_viewed")
            .count(),
        0,
        "product views are not kept by the starter's segments"
    );
}

#[test]
fn cart_abandonment_after_one_hour_unless_checkout_or_order() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    subscriber(&mut t, "2026-03-01T12:00:00Z", "cy@example.com");
    t.at(
        "2026-03-10T15:00:00Z",
        "added_to_cart",
        email(ANN),
        json!({"cart_id": "c1", "line_items": line_items(), "currency": "USD"}),
    );
    t.at(
        "2026-03-10T15:00:00Z",
        "added_to_cart",
        email("cy@example.com"),
        json!({"line_items": line_items()}),
    );
    t.at(
        "2026-03-10T15:40:00Z",
        "checkout_started",
        email("cy@example.com"),
        json!({"checkout_id": "k9", "line_items": line_items(), "total": 102.0}),
    );
    let tr = t.run("2026-03-12T00:00:00Z");
    assert_eq!(
        tr.sent_once(ANN, "cart_reminder"),
        ts("2026-03-10T16:00:00Z")
    );
    let text = tr
        .message(ANN, "cart_reminder")
        .content
        .text
        .clone()
        .unwrap();
    assert!(
        text.contains("Linen shirt × 1: $65.00") && text.contains("Canvas tote × 2: $37.00"),
        "{text}"
    );
    tr.never_sent("cy@example.com", "cart_reminder");
}

#[test]
fn checkout_abandonment_email_sms_offer_with_line_items() {
    let mut t = Timeline::new();
    sms_subscriber(&mut t, "2026-03-01T12:00:00Z", ANN, "+1 212 555 0101");
    let checkout = json!({"checkout_id": "ck-1", "line_items": line_items(), "total": 102.0, "currency": "USD",
        "url": "https://northwind.example.com/checkouts/ck-1/recover"});
    t.at(
        "2026-03-10T15:00:00Z",
        "checkout_started",
        email(ANN),
        checkout,
    );
    let tr = t.run("2026-03-15T00:00:00Z");
    assert_eq!(
        tr.sent_once(ANN, "checkout_reminder"),
        ts("2026-03-10T16:00:00Z")
    );
    assert_eq!(
        tr.sent_once(ANN, "checkout_sms"),
        ts("2026-03-11T15:00:00Z")
    );
    assert_eq!(
        tr.sent_once(ANN, "checkout_offer"),
        ts("2026-03-12T15:00:00Z")
    );
    let m = tr.message(ANN, "checkout_reminder");
    let html = m.content.html.as_deref().unwrap();
    assert!(
        html.contains("Linen shirt — M × 1")
            && html.contains("$65.00")
            && html.contains("linen-shirt.jpg"),
        "{html}"
    );
    // The recovery link is a tracked redirect to the checkout.
    assert!(
        link_targets(html).contains(&"https://northwind.example.com/checkouts/ck-1/recover".into()),
        "{html}"
    );
    let sms = tr.message(ANN, "checkout_sms");
    assert_eq!(sms.to, "+12125550101");
    assert!(sms.content.body.as_deref().unwrap().contains("Reply STOP"));
}

#[test]
fn checkout_abandonment_stops_when_that_checkout_becomes_an_order() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at(
        "2026-03-10T15:00:00Z",
        "checkout_started",
        email(ANN),
        json!({"checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}),
    );
    t.at("2026-03-10T15:40:00Z", "order_placed", email(ANN), json!({"order_id": "o-1", "checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}));
    let tr = t.run("2026-03-15T00:00:00Z");
    tr.never_sent(ANN, "checkout_reminder");
    tr.never_sent(ANN, "checkout_offer");
    let exit = tr.with_reason(ANN, Kind::FlowExit, "goal reached: order_placed");
    assert!(exit
        .iter()
        .any(|d| d.flow.as_deref() == Some("checkout_abandonment") && d.conversion));
}

#[test]
fn an_order_that_arrives_before_its_checkout_starts_no_abandonment_run() {
    // Webhooks out of order: the order is known before the checkout.
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at("2026-03-10T15:30:00Z", "order_placed", email(ANN), json!({"order_id": "o-1", "checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}));
    t.late(
        "2026-03-10T15:31:00Z",
        "2026-03-10T15:00:00Z",
        "checkout_started",
        email(ANN),
        json!({"checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}),
    );
    let tr = t.run("2026-03-15T00:00:00Z");
    tr.never_sent(ANN, "checkout_reminder");
    assert_eq!(
        tr.with_reason(ANN, Kind::Skipped, "goal already reached")
            .len(),
        1,
        "{}",
        tr.dump(ANN)
    );
}

#[test]
fn checkout_sms_waits_for_quiet_hours_to_end_in_the_customers_zone() {
    let mut t = Timeline::new();
    sms_subscriber(&mut t, "2026-03-01T12:00:00Z", ANN, "+12125550101");
    // 23:00 in New York (EDT): the SMS at +24 h would land at 23:00.
    t.at(
        "2026-03-11T03:00:00Z",
        "checkout_started",
        email(ANN),
        json!({"checkout_id": "ck-2", "line_items": line_items(), "total": 102.0}),
    );
    let tr = t.run("2026-03-15T00:00:00Z");
    let deferred = tr.with_reason(
        ANN,
        Kind::Deferred,
        "send window: sms only 08:00–21:00 local (America/New_York)",
    );
    assert_eq!(deferred.len(), 1, "{}", tr.dump(ANN));
    assert_eq!(deferred[0].at, ts("2026-03-12T03:00:00Z"));
    assert_eq!(deferred[0].until(), Some(ts("2026-03-12T12:00:00Z")));
    assert_eq!(
        tr.sent_once(ANN, "checkout_sms"),
        ts("2026-03-12T12:00:00Z")
    );
    // The +48 h email counts from the start, not from the late SMS.
    assert_eq!(
        tr.sent_once(ANN, "checkout_offer"),
        ts("2026-03-13T03:00:00Z")
    );
}

#[test]
fn checkout_without_contact_or_sms_consent() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at(
        "2026-03-10T15:00:00Z",
        "checkout_started",
        email(ANN),
        json!({"checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}),
    );
    t.at(
        "2026-03-10T15:00:00Z",
        "checkout_started",
        anon("browser-9"),
        json!({"checkout_id": "ck-9", "line_items": line_items(), "total": 102.0}),
    );
    let tr = t.run("2026-03-15T00:00:00Z");
    // No SMS consent: the run goes straight on to the offer.
    tr.never_sent(ANN, "checkout_sms");
    tr.sent_once(ANN, "checkout_offer");
    let anon_skips: Vec<_> = tr
        .decisions
        .iter()
        .filter(|d| {
            d.kind == Kind::Skipped
                && d.reason
                    .as_ref()
                    .is_some_and(|r| *r == "flow filter does not match")
        })
        .collect();
    assert_eq!(anon_skips.len(), 1);
}

#[test]
fn intent_ladder_a_live_checkout_run_holds_back_browse_and_cart_runs() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at(
        "2026-03-10T15:00:00Z",
        "checkout_started",
        email(ANN),
        json!({"checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}),
    );
    t.at(
        "2026-03-10T15:10:00Z",
        "product_viewed",
        email(ANN),
        json!({"product_id": "p1", "title": "Linen shirt"}),
    );
    t.at(
        "2026-03-10T15:15:00Z",
        "added_to_cart",
        email(ANN),
        json!({"line_items": line_items()}),
    );
    let tr = t.run("2026-03-11T00:00:00Z");
    tr.never_sent(ANN, "browse_reminder");
    tr.never_sent(ANN, "cart_reminder");
    tr.sent_once(ANN, "checkout_reminder");
    assert_eq!(
        tr.with_reason(
            ANN,
            Kind::Skipped,
            "higher-intent run live: checkout_abandonment"
        )
        .len(),
        2,
        "{}",
        tr.dump(ANN)
    );
}

#[test]
fn post_purchase_thank_you_then_how_to_and_review_after_delivery() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at("2026-04-01T14:00:00Z", "order_placed", email(ANN), json!({"order_id": "o-1", "order_number": "#1001", "line_items": line_items(), "total": 102.0}));
    t.at(
        "2026-04-03T14:00:00Z",
        "shipment_updated",
        email(ANN),
        json!({"order_id": "o-1", "status": "in_transit"}),
    );
    t.at(
        "2026-04-04T18:00:00Z",
        "shipment_updated",
        email(ANN),
        json!({"order_id": "o-1", "status": "delivered"}),
    );
    t.at(
        "2026-05-01T14:00:00Z",
        "order_placed",
        email(ANN),
        json!({"order_id": "o-2", "line_items": line_items(), "total": 50.0}),
    );
    let tr = t.run("2026-05-02T00:00:00Z");
    assert_eq!(
        tr.sent_once(ANN, "thank_you_first"),
        ts("2026-04-01T14:00:00Z")
    );
    assert_eq!(
        tr.message(ANN, "thank_you_first")
            .content
            .subject
            .as_deref(),
        Some("Thank you for your first order!")
    );
    assert_eq!(tr.sent_once(ANN, "how_to"), ts("2026-04-07T18:00:00Z"));
    assert_eq!(
        tr.sent_once(ANN, "review_request"),
        ts("2026-04-11T18:00:00Z")
    );
    // The second order is a repeat purchase: other words.
    assert_eq!(
        tr.sent_once(ANN, "thank_you_repeat"),
        ts("2026-05-01T14:00:00Z")
    );
    assert!(tr
        .message(ANN, "thank_you_repeat")
        .content
        .text
        .as_deref()
        .unwrap()
        .contains("order number 2"));
}

#[test]
fn replenishment_reminder_after_the_products_interval_moved_by_a_reorder() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    let beans = json!([{"product_id": "coffee-beans-1kg", "title": "Coffee beans 1 kg", "quantity": 1, "price": 24.0}]);
    t.at(
        "2026-04-01T18:00:00Z",
        "order_placed",
        email(ANN),
        json!({"order_id": "o-1", "line_items": beans, "total": 24.0}),
    );
    subscriber(&mut t, "2026-03-01T12:00:00Z", "dee@example.com");
    t.at(
        "2026-04-01T18:00:00Z",
        "order_placed",
        email("dee@example.com"),
        json!({"order_id": "o-7", "line_items": beans, "total": 24.0}),
    );
    t.at(
        "2026-04-20T18:00:00Z",
        "order_placed",
        email("dee@example.com"),
        json!({"order_id": "o-8", "line_items": beans, "total": 24.0}),
    );
    let tr = t.run("2026-06-01T00:00:00Z");
    // 30 days after Apr 1 14:00 EDT is May 1 14:00; the email waits for 10:00 the next morning.
    assert_eq!(
        tr.sent_once(ANN, "replenishment"),
        ts("2026-05-02T14:00:00Z")
    );
    assert_eq!(
        tr.message(ANN, "replenishment").content.subject.as_deref(),
        Some("Running low on Coffee beans 1 kg?")
    );
    assert_eq!(
        tr.sent_once("dee@example.com", "replenishment"),
        ts("2026-05-21T14:00:00Z")
    );
}

#[test]
fn winback_on_day_60_at_ten_local_and_day_75_unless_they_order() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2025-12-01T12:00:00Z", ANN);
    subscriber(&mut t, "2025-12-01T12:00:00Z", "eve@example.com");
    for who in [ANN, "eve@example.com"] {
        t.at(
            "2026-01-10T15:00:00Z",
            "order_placed",
            email(who),
            json!({"order_id": format!("o-{who}"), "line_items": line_items(), "total": 102.0}),
        );
    }
    t.at(
        "2026-03-20T15:00:00Z",
        "order_placed",
        email("eve@example.com"),
        json!({"order_id": "o-eve-2", "line_items": line_items(), "total": 30.0}),
    );
    let tr = t.run("2026-04-30T00:00:00Z");
    // Jan 10 + 60 local days = Mar 11; 10:00 in New York (EDT since Mar 8).
    let enter = tr
        .for_profile(ANN)
        .find(|d| d.kind == Kind::SegmentEnter && d.segment.as_deref() == Some("lapsed_60d"))
        .unwrap();
    assert_eq!(
        enter.at,
        ts("2026-03-11T04:00:00Z"),
        "local midnight of day 60"
    );
    assert_eq!(tr.sent_once(ANN, "winback_1"), ts("2026-03-11T14:00:00Z"));
    assert_eq!(
        tr.sent_once(ANN, "winback_offer"),
        ts("2026-03-26T14:00:00Z")
    );
    tr.sent_once("eve@example.com", "winback_1");
    tr.never_sent("eve@example.com", "winback_offer");
}

#[test]
fn vip_welcome_when_lifetime_spend_crosses_the_threshold() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at(
        "2026-04-01T14:00:00Z",
        "order_placed",
        email(ANN),
        json!({"order_id": "o-1", "line_items": line_items(), "total": 300.0}),
    );
    t.at(
        "2026-04-10T14:00:00Z",
        "order_placed",
        email(ANN),
        json!({"order_id": "o-2", "line_items": line_items(), "total": 250.0}),
    );
    t.at(
        "2026-04-20T14:00:00Z",
        "order_placed",
        email(ANN),
        json!({"order_id": "o-3", "line_items": line_items(), "total": 250.0}),
    );
    let tr = t.run("2026-05-01T00:00:00Z");
    assert_eq!(tr.sent_once(ANN, "vip_welcome"), ts("2026-04-10T14:00:00Z"));
    let st = tr.sim.customer_by_email(ANN).unwrap();
    assert!(st.profile.has_tag("vip"));
    assert_eq!(st.profile.metrics.total_spent, 800.0);
}

#[test]
fn birthday_at_nine_in_the_customers_own_zone_every_year() {
    let mut t = Timeline::new();
    t.at(
        "2026-04-01T12:00:00Z",
        "customer_created",
        email(ANN),
        json!({"first_name": "Ann", "country": "FR", "birthday": "1990-04-15"}),
    );
    t.at(
        "2026-04-01T12:00:00Z",
        "consent_changed",
        email(ANN),
        json!({"channel": "email", "status": "subscribed"}),
    );
    let tr = t.run("2027-05-01T00:00:00Z");
    let sent: Vec<_> = tr
        .messages(ANN)
        .into_iter()
        .filter(|(_, t)| t == "birthday")
        .map(|(at, _)| at)
        .collect();
    // 09:00 in Paris (CEST, UTC+2).
    assert_eq!(
        sent,
        vec![ts("2026-04-15T07:00:00Z"), ts("2027-04-15T07:00:00Z")],
        "{}",
        tr.dump(ANN)
    );
    assert_eq!(
        tr.message(ANN, "birthday").content.subject.as_deref(),
        Some("Happy birthday, Ann!")
    );
}

#[test]
fn a_capped_lower_priority_email_is_deferred_not_dropped() {
    let mut t = Timeline::new();
    // Welcome email at 00:00Z; the birthday email (promotion priority) is due
    // at 09:00 New York = 13:00Z, inside the 16 h marketing-email cap.
    t.at(
        "2026-04-15T00:00:00Z",
        "customer_created",
        email(ANN),
        json!({"first_name": "Ann", "country": "US", "province": "NY", "birthday": "04-15"}),
    );
    t.at(
        "2026-04-15T00:00:00Z",
        "consent_changed",
        email(ANN),
        json!({"channel": "email", "status": "subscribed"}),
    );
    let tr = t.run("2026-04-16T00:00:00Z");
    assert_eq!(tr.sent_once(ANN, "welcome_1"), ts("2026-04-15T00:00:00Z"));
    let d = tr.with_reason(ANN, Kind::Deferred, "cap: one marketing email per 16h");
    assert_eq!(d.len(), 1, "{}", tr.dump(ANN));
    assert_eq!(
        (d[0].at, d[0].until()),
        (ts("2026-04-15T13:00:00Z"), Some(ts("2026-04-15T16:00:00Z")))
    );
    assert_eq!(tr.sent_once(ANN, "birthday"), ts("2026-04-15T16:00:00Z"));
}

#[test]
fn promotion_calendar_in_local_time_and_buyers_get_no_more() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-11-01T12:00:00Z", ANN);
    subscriber(&mut t, "2026-11-01T12:00:00Z", "buyer@example.com");
    t.at(
        "2026-11-01T12:00:00Z",
        "customer_created",
        email("paris@example.com"),
        json!({"country": "FR"}),
    );
    t.at(
        "2026-11-01T12:00:00Z",
        "consent_changed",
        email("paris@example.com"),
        json!({"channel": "email", "status": "subscribed"}),
    );
    t.at(
        "2026-11-01T12:00:00Z",
        "customer_created",
        email("nosub@example.com"),
        json!({}),
    );
    t.at(
        "2026-11-27T20:00:00Z",
        "order_placed",
        email("buyer@example.com"),
        json!({"order_id": "bf-1", "line_items": line_items(), "total": 70.0}),
    );
    let tr = t.run("2026-12-02T00:00:00Z");
    assert_eq!(
        tr.sent_once(ANN, "promo_warmup"),
        ts("2026-11-25T15:00:00Z")
    );
    assert_eq!(
        tr.sent_once(ANN, "promo_launch"),
        ts("2026-11-27T13:00:00Z")
    );
    assert_eq!(
        tr.sent_once(ANN, "promo_last_call"),
        ts("2026-11-30T23:00:00Z")
    );
    assert_eq!(
        tr.sent_once("paris@example.com", "promo_warmup"),
        ts("2026-11-25T09:00:00Z")
    );
    tr.sent_once("buyer@example.com", "promo_launch");
    tr.never_sent("buyer@example.com", "promo_last_call");
    assert!(tr.messages("nosub@example.com").is_empty());
}

#[test]
fn shipping_updates_are_transactional_and_never_wait_for_caps() {
    let mut t = Timeline::new();
    // Consent to nothing: shipping updates are transactional.
    t.at(
        "2026-04-01T12:00:00Z",
        "order_placed",
        email("fay@example.com"),
        json!({"order_id": "o-5", "line_items": line_items(), "total": 102.0}),
    );
    t.at("2026-04-02T03:00:00Z", "shipment_updated", email("fay@example.com"), json!({"order_id": "o-5", "status": "in_transit", "tracking_url": "https://track.example.com/1Z", "carrier": "UPS"}));
    // A subscriber who just got a marketing email.
    subscriber(&mut t, "2026-04-02T10:00:00Z", ANN);
    t.at(
        "2026-04-02T11:00:00Z",
        "shipment_updated",
        email(ANN),
        json!({"order_id": "o-6", "status": "out_for_delivery"}),
    );
    let tr = t.run("2026-04-03T00:00:00Z");
    assert_eq!(
        tr.sent_once("fay@example.com", "shipping_update"),
        ts("2026-04-02T03:00:00Z")
    );
    let m = tr.message("fay@example.com", "shipping_update");
    assert_eq!(m.content.subject.as_deref(), Some("On its way: order o-5"));
    assert!(link_targets(m.content.html.as_deref().unwrap())
        .iter()
        .any(|t| t.starts_with("https://track.example.com/1Z")));
    assert!(!m.marketing && m.unsubscribe_url.is_none());
    assert_eq!(
        tr.sent_once(ANN, "shipping_update"),
        ts("2026-04-02T11:00:00Z")
    );
}

#[test]
fn back_in_stock_tells_the_waiting_customers_when_stock_returns() {
    let mut t = Timeline::new();
    let v = json!({"variant_id": "linen-shirt-m", "product_id": "linen-shirt", "title": "Linen shirt (M)"});
    t.at(
        "2026-04-01T12:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "linen-shirt-m", "available": 0}),
    );
    t.at(
        "2026-04-02T12:00:00Z",
        "back_in_stock_requested",
        email(ANN),
        v.clone(),
    );
    t.at(
        "2026-04-02T13:00:00Z",
        "back_in_stock_requested",
        email("gus@example.com"),
        v,
    );
    t.at(
        "2026-04-03T12:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "linen-shirt-m", "available": 0}),
    );
    t.at(
        "2026-04-05T09:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "linen-shirt-m", "available": 12}),
    );
    t.at(
        "2026-04-06T09:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "linen-shirt-m", "available": 20}),
    );
    let tr = t.run("2026-04-08T00:00:00Z");
    assert_eq!(
        tr.sent_once(ANN, "back_in_stock"),
        ts("2026-04-05T09:00:00Z")
    );
    assert_eq!(
        tr.sent_once("gus@example.com", "back_in_stock"),
        ts("2026-04-05T09:00:00Z")
    );
    assert_eq!(
        tr.message(ANN, "back_in_stock").content.subject.as_deref(),
        Some("Linen shirt (M) is back in stock")
    );
}

#[test]
fn back_in_stock_rechecks_stock_before_each_batch() {
    let dir = starter_copy("bis-batches");
    edit(&dir, "store.yaml", "batch_size: 50", "batch_size: 1");
    let mut t = Timeline::new();
    let v = json!({"variant_id": "v1", "title": "Linen shirt (M)"});
    t.at(
        "2026-04-01T12:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "v1", "available": 0}),
    );
    for who in [ANN, "gus@example.com", "hal@example.com"] {
        t.at(
            "2026-04-02T12:00:00Z",
            "back_in_stock_requested",
            email(who),
            v.clone(),
        );
    }
    // Two units come back, then sell out before the second batch.
    t.at(
        "2026-04-05T09:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "v1", "available": 2}),
    );
    t.at(
        "2026-04-05T09:05:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "v1", "available": 0}),
    );
    // Restocked for good: the rest are told, one batch every 10 minutes.
    t.at(
        "2026-04-07T09:00:00Z",
        "inventory_changed",
        json!({}),
        json!({"variant_id": "v1", "available": 40}),
    );
    let tr = t.run_with(config_at(&dir), "2026-04-08T00:00:00Z");
    assert_eq!(
        tr.sent_once(ANN, "back_in_stock"),
        ts("2026-04-05T09:00:00Z")
    );
    assert_eq!(
        tr.sent_once("gus@example.com", "back_in_stock"),
        ts("2026-04-07T09:00:00Z")
    );
    assert_eq!(
        tr.sent_once("hal@example.com", "back_in_stock"),
        ts("2026-04-07T09:10:00Z")
    );
}

#[test]
fn a_higher_intent_run_ends_the_lower_intent_run() {
    // Without the cart flow's own goal, the intent ladder alone ends it.
    let dir = starter_copy("ladder");
    edit(
        &dir,
        "flows/03_cart_abandonment.yaml",
        "  - event: checkout_started\n",
        "",
    );
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    t.at(
        "2026-03-10T15:00:00Z",
        "added_to_cart",
        email(ANN),
        json!({"line_items": line_items()}),
    );
    t.at(
        "2026-03-10T15:30:00Z",
        "checkout_started",
        email(ANN),
        json!({"checkout_id": "ck-1", "line_items": line_items(), "total": 102.0}),
    );
    let tr = t.run_with(config_at(&dir), "2026-03-11T00:00:00Z");
    tr.never_sent(ANN, "cart_reminder");
    let ended = tr.with_reason(
        ANN,
        Kind::FlowExit,
        "superseded by higher intent: checkout_abandonment",
    );
    assert_eq!(ended.len(), 1, "{}", tr.dump(ANN));
    assert_eq!(ended[0].flow.as_deref(), Some("cart_abandonment"));
    tr.sent_once(ANN, "checkout_reminder");
}

#[test]
fn runs_stay_on_the_flow_version_they_started_on() {
    let dir = starter_copy("versions");
    // Version 2 of the welcome flow sends a different second email; the
    // file for version 1 stays so that live runs can finish on it.
    let v1 = std::fs::read_to_string(dir.join("flows/01_welcome.yaml")).unwrap();
    let v2 = v1
        .replace("version: 1", "version: 2")
        .replace("template: welcome_2", "template: welcome_offer");
    std::fs::write(dir.join("flows/01_welcome.v2.yaml"), v2).unwrap();
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-02T15:00:00Z", ANN);
    let before = t.run_with(starter(), "2026-03-03T00:00:00Z");
    let run = before
        .for_profile(ANN)
        .find(|d| d.kind == Kind::FlowEnter)
        .unwrap();
    assert_eq!(run.version, Some(1));
    // A customer who subscribes under the new config starts on version 2.
    let after = t.run_with(config_at(&dir), "2026-03-10T00:00:00Z");
    let run = after
        .for_profile(ANN)
        .find(|d| d.kind == Kind::FlowEnter && d.flow.as_deref() == Some("welcome"))
        .unwrap();
    assert_eq!(run.version, Some(2));
    assert_eq!(
        after.templates(ANN),
        vec!["welcome_1", "welcome_offer", "welcome_offer"]
    );
}

#[test]
fn an_anonymous_profile_merges_into_the_known_customer_with_its_history() {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-01T12:00:00Z", ANN);
    // Ann browses on a new device before logging in: a separate profile.
    t.at(
        "2026-03-10T15:00:00Z",
        "added_to_cart",
        anon("tablet-7"),
        json!({"line_items": line_items()}),
    );
    t.at(
        "2026-03-10T15:05:00Z",
        "added_to_cart",
        anon("tablet-7"),
        json!({"line_items": line_items()}),
    );
    // She logs in: one event names both identities.
    t.at(
        "2026-03-10T15:10:00Z",
        "customer_updated",
        json!({"email": ANN, "anonymous_id": "tablet-7"}),
        json!({}),
    );
    let tr = t.run("2026-03-11T00:00:00Z");
    // The cart run that began anonymously emails Ann at +1 h.
    assert_eq!(
        tr.sent_once(ANN, "cart_reminder"),
        ts("2026-03-10T16:00:00Z")
    );
    let st = tr.sim.customer_by_email(ANN).unwrap();
    assert!(st.profile.anonymous_ids.contains("tablet-7"));
    // The anonymous carts count for Ann's segments.
    assert_eq!(st.history.named("added_to_cart").len(), 2);
    assert!(
        st.segments.is_member("cart_twice_no_order"),
        "{}",
        tr.dump(ANN)
    );
    assert_eq!(tr.sim.customers().len(), 1);
}

#[test]
fn messages_use_the_customers_locale_with_fallback() {
    let mut t = Timeline::new();
    t.at(
        "2026-03-01T12:00:00Z",
        "customer_created",
        email("zoe@example.com"),
        json!({"first_name": "Zoé", "locale": "fr-CA", "country": "CA", "province": "QC"}),
    );
    t.at(
        "2026-03-01T12:00:00Z",
        "consent_changed",
        email("zoe@example.com"),
        json!({"channel": "email", "status": "subscribed"}),
    );
    t.at(
        "2026-03-01T12:00:00Z",
        "customer_created",
        email("jan@example.com"),
        json!({"first_name": "Jan", "locale": "de"}),
    );
    t.at(
        "2026-03-01T12:00:00Z",
        "consent_changed",
        email("jan@example.com"),
        json!({"channel": "email", "status": "subscribed"}),
    );
    let tr = t.run("2026-03-02T00:00:00Z");
    let fr = tr.message("zoe@example.com", "welcome_1");
    assert_eq!(
        (fr.content.locale.as_str(), fr.content.subject.as_deref()),
        ("fr", Some("Bienvenue chez Northwind Goods"))
    );
    assert!(fr
        .content
        .text
        .as_deref()
        .unwrap()
        .starts_with("Bonjour Zoé,"));
    // No German variant: the store's locale.
    assert_eq!(
        tr.message("jan@example.com", "welcome_1").content.locale,
        "en"
    );
}
