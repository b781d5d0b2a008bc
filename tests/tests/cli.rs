//! The `storeflow` command: `check` and `simulate`, as a merchant runs them.

use serde_json::Value;
use storeflow_tests::*;

#[test]
fn check_accepts_the_starter_pack() {
    let dir = repo_root().join("examples/starter");
    let (code, out, err) = storeflow(&["check", "--config", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("12 flows") && out.contains("22 templates"),
        "{out}"
    );
}

#[test]
fn check_names_file_field_and_problem_for_every_error() {
    let dir = starter_copy("check-errors");
    edit(
        &dir,
        "flows/03_cart_abandonment.yaml",
        "template: cart_reminder",
        "template: cart_remindr",
    );
    edit(
        &dir,
        "flows/04_checkout_abandonment.yaml",
        "else: wait_48h",
        "else: wait_84h",
    );
    edit(
        &dir,
        "flows/02_browse_abandonment.yaml",
        "priority: browse",
        "priority: urgent",
    );
    edit(
        &dir,
        "templates/browse_reminder.yaml",
        "{{ event.title }}?",
        "{{ event.titel }}?",
    );
    edit(
        &dir,
        "segments/vip.yaml",
        "gte: 500",
        "gte: 500\n  within: 3d",
    );
    edit(
        &dir,
        "store.yaml",
        "timezone: America/New_York",
        "timezone: America/Nowhere",
    );
    let (code, _out, err) = storeflow(&["check", "--config", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    for want in [
        "flows/03_cart_abandonment.yaml: steps[1].send.template: unknown template \"cart_remindr\"",
        "flows/04_checkout_abandonment.yaml: steps[3].branch.else: no step with id \"wait_84h\"",
        "flows/02_browse_abandonment.yaml: priority: unknown priority class \"urgent\"",
        "not defined: event.titel",
        "segments/vip.yaml: condition: where / at_least / at_most / exactly / within belong to an event condition",
        "store.yaml: store.timezone: \"America/Nowhere\" is not an IANA time zone",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("6 error(s)"), "{err}");
}

#[test]
fn check_reports_a_missing_directory_and_a_missing_store_file() {
    let (code, _, err) = storeflow(&["check", "--config", "/nonexistent/storeflow"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    let empty = temp_dir("empty-config");
    let (code, _, err) = storeflow(&["check", "--config", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("store.yaml: missing"), "{err}");
}

#[test]
fn simulate_prints_one_json_decision_per_line() {
    let root = repo_root();
    let (code, out, err) = storeflow(&[
        "simulate",
        "--config",
        root.join("examples/starter").to_str().unwrap(),
        "--events",
        root.join("events/starter-week.jsonl").to_str().unwrap(),
        "--until",
        "2026-12-31T00:00:00Z",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 50);
    for l in &lines {
        assert!(l["at"].as_str().unwrap().ends_with('Z'), "{l}");
        let kind = l["kind"].as_str().unwrap();
        assert!(
            [
                "segment_enter",
                "segment_exit",
                "flow_enter",
                "flow_exit",
                "message",
                "deferred",
                "skipped",
                "adjusted",
                "order",
                "refund",
                "arm",
                "engaged",
                "credit",
                "credit_refund",
                "arm_order"
            ]
            .contains(&kind),
            "{l}"
        );
        assert!(l["profile"].is_string());
        assert!(l.get("message").is_none(), "bodies only with --bodies");
    }
    let find = |profile: &str, template: &str| {
        lines
            .iter()
            .find(|l| {
                l["kind"] == "message" && l["profile"] == profile && l["template"] == template
            })
            .cloned()
    };
    let ck = find("ann@example.com", "checkout_reminder").expect("checkout reminder to Ann");
    assert_eq!(ck["at"], "2026-11-25T03:00:00Z");
    assert_eq!(ck["subject"], "Complete your order at Northwind Goods");
    let sms_deferred = lines
        .iter()
        .find(|l| l["kind"] == "deferred" && l["template"] == "checkout_sms")
        .unwrap();
    assert_eq!(sms_deferred["until"], "2026-11-26T13:00:00Z");
    assert!(sms_deferred["reason"]
        .as_str()
        .unwrap()
        .contains("sms only 08:00–21:00"));
    assert!(find("frank@example.com", "winback_1").is_some());
    assert!(find("eli@example.com", "back_in_stock").is_some());
    // Chen's birthday, 09:00 in Tokyo.
    assert_eq!(
        find("chen@example.com", "birthday").unwrap()["at"],
        "2026-11-27T00:00:00Z"
    );
}

#[test]
fn simulate_refuses_bad_lines_naming_each() {
    let dir = temp_dir("bad-events");
    let f = dir.join("events.jsonl");
    std::fs::write(
        &f,
        "{\"at\": \"2026-01-01T00:00:00Z\", \"event\": {\"id\": \"a\", \"shop\": \"s\", \"type\": \"order_placed\", \"occurred_at\": \"2026-01-01T00:00:00Z\", \"properties\": {}}}\n\nnot json\n",
    )
    .unwrap();
    let cfg = repo_root().join("examples/starter");
    let (code, out, err) = storeflow(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap(),
        "--events",
        f.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("events.jsonl:1: ") && err.contains("order_id"),
        "{err}"
    );
    assert!(err.contains("events.jsonl:3: "), "{err}");
}

#[test]
fn no_amount_is_ever_minus_zero_in_what_simulate_prints() {
    // An empty float sum is -0.0; a profile export printed
    // "total_spent": -0.0 for a customer whose orders were all undone.
    let lines = simulate_events_file("platform-week.jsonl", "2026-12-31T00:00:00Z");
    let text: String = lines.iter().map(|l| l.to_string()).collect();
    assert!(text.contains("\"total_spent\":"), "an export is printed");
    assert!(!text.contains(":-0.0"), "a negative zero in the output");
}
