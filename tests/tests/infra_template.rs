//! The deployment rules that `infra/template.yaml` must keep, checked on the
//! template itself (cfn-lint and `sam validate --lint` check its syntax and
//! types; these check what storeflow promises): nothing is dropped silently,
//! retries never overlap a running invocation, every failure raises an
//! alarm, and secrets never pass through CloudFormation.

use serde_json::Value;
use storeflow_tests::template::{get_att, reference, Template};

const FUNCTIONS: [&str; 5] = [
    "IngestFunction",
    "EvaluateFunction",
    "SchedulerFunction",
    "SendFunction",
    "FeedbackFunction",
];

fn number(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} must be a literal number, found {v}"))
}

/// Logical ids of the queues that serve as some other thing's dead-letter
/// queue: a queue's redrive target or an event rule's DeadLetterConfig.
fn dead_letter_queues(t: &Template) -> Vec<String> {
    let mut dlqs = Vec::new();
    for id in t.ids_of_type("AWS::SQS::Queue") {
        if let Some((dlq, _)) = get_att(&t.properties(id)["RedrivePolicy"]["deadLetterTargetArn"]) {
            dlqs.push(dlq.to_string());
        }
    }
    for f in t.ids_of_type("AWS::Serverless::Function") {
        for event in t.properties(f)["Events"].as_object().into_iter().flatten() {
            let (_, e) = event;
            if let Some((dlq, _)) = get_att(&e["Properties"]["DeadLetterConfig"]["Arn"]) {
                dlqs.push(dlq.to_string());
            }
        }
    }
    dlqs
}

/// The QueueName / FunctionName dimension values of every alarm on `metric`.
fn alarmed(t: &Template, metric: &str) -> Vec<Value> {
    t.ids_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|id| t.properties(id))
        .filter(|p| p["MetricName"] == metric && p["Threshold"] == 0)
        .filter(|p| p["ComparisonOperator"] == "GreaterThanThreshold")
        .flat_map(|p| p["Dimensions"].as_array().cloned().unwrap_or_default())
        .map(|d| d["Value"].clone())
        .collect()
}

#[test]
fn every_function_is_a_rust_arm64_lambda_of_its_own_crate() {
    let t = Template::load();
    let mut functions = t.ids_of_type("AWS::Serverless::Function");
    functions.sort_unstable();
    let mut expected = FUNCTIONS;
    expected.sort_unstable();
    assert_eq!(functions, expected);
    for f in FUNCTIONS {
        let prop = |name| t.function_property(f, name).cloned().unwrap_or_default();
        assert_eq!(prop("Runtime"), "provided.al2023", "{f}");
        assert_eq!(prop("Architectures"), serde_json::json!(["arm64"]), "{f}");
        assert_eq!(prop("Handler"), "bootstrap", "{f}");
        assert_eq!(
            t.resources()[f]["Metadata"]["BuildMethod"],
            "rust-cargolambda",
            "{f}"
        );
        let crate_dir = f.trim_end_matches("Function").to_lowercase();
        assert_eq!(
            prop("CodeUri"),
            format!("../functions/{crate_dir}"),
            "{f} builds from its own crate"
        );
    }
}

#[test]
fn every_queue_either_has_a_dead_letter_queue_or_is_one() {
    let t = Template::load();
    let dlqs = dead_letter_queues(&t);
    for q in t.ids_of_type("AWS::SQS::Queue") {
        let redrive = &t.properties(q)["RedrivePolicy"];
        if dlqs.iter().any(|d| d == q) {
            assert!(redrive.is_null(), "{q} is a DLQ and must keep what it gets");
            continue;
        }
        let (dlq, _) = get_att(&redrive["deadLetterTargetArn"])
            .unwrap_or_else(|| panic!("{q} has no redrive policy to a dead-letter queue"));
        let tries = number(&redrive["maxReceiveCount"], "maxReceiveCount");
        assert!((3..=10).contains(&tries), "{q}: maxReceiveCount {tries}");
        // A DLQ must outlive the queue it serves, or messages expire there
        // before anyone looks.
        let keep = |id: &str| number(&t.properties(id)["MessageRetentionPeriod"], id);
        assert!(keep(dlq) > keep(q), "{dlq} keeps messages longer than {q}");
    }
}

#[test]
fn every_queue_consumer_reports_partial_failures_within_the_visibility_timeout() {
    let t = Template::load();
    let mut consumed = 0;
    for f in FUNCTIONS {
        let timeout = number(t.function_property(f, "Timeout").unwrap(), "Timeout");
        for (name, e) in t.properties(f)["Events"].as_object().into_iter().flatten() {
            if e["Type"] != "SQS" {
                continue;
            }
            consumed += 1;
            let p = &e["Properties"];
            assert_eq!(
                p["FunctionResponseTypes"],
                serde_json::json!(["ReportBatchItemFailures"]),
                "{f}.{name}: one poison message must not fail its batch"
            );
            let (queue, _) = get_att(&p["Queue"]).expect("Queue: !GetAtt <queue>.Arn");
            let visibility = number(&t.properties(queue)["VisibilityTimeout"], queue);
            assert!(
                visibility >= 6 * timeout,
                "{queue}: visibility {visibility} s < 6 x {f}'s {timeout} s timeout"
            );
        }
    }
    assert_eq!(consumed, 3, "events, timers and send queues are consumed");
}

#[test]
fn every_dead_letter_queue_and_function_raises_an_alarm() {
    let t = Template::load();
    let queues = alarmed(&t, "ApproximateNumberOfMessagesVisible");
    for dlq in dead_letter_queues(&t) {
        assert!(
            queues
                .iter()
                .any(|v| get_att(v) == Some((dlq.as_str(), "QueueName"))),
            "no alarm on the depth of {dlq}"
        );
    }
    let functions = alarmed(&t, "Errors");
    for f in FUNCTIONS {
        assert!(
            functions.iter().any(|v| reference(v) == Some(f)),
            "no alarm on {f}'s errors"
        );
    }
}

#[test]
fn secrets_are_parameter_names_read_at_run_time_never_values() {
    let t = Template::load();
    let params = t.doc["Parameters"].as_object().expect("Parameters");
    let secret_params: Vec<_> = params
        .keys()
        .filter(|k| k.contains("Secret") || k.contains("Key"))
        .collect();
    assert!(!secret_params.is_empty());
    let text = std::fs::read_to_string(Template::path()).unwrap();
    for p in secret_params {
        assert!(
            p.ends_with("Parameter"),
            "{p}: a secret is passed as the name of an SSM parameter"
        );
        // An empty default turns an optional feature off (webhook steps).
        let default = params[p]["Default"].as_str().unwrap_or_default();
        assert!(
            default.is_empty() || default.starts_with('/'),
            "{p}: an SSM name, not a value"
        );
        // Some function may read it: a GetParameter grant on exactly that name.
        assert!(
            text.contains(&format!(":parameter${{{p}}}")),
            "no function is allowed to read {p}"
        );
    }
}
