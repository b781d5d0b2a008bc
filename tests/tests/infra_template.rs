//! The deployment rules that `infra/template.yaml` must keep, checked on the
//! template itself (cfn-lint and `sam validate --lint` check its syntax and
//! types, checkov its security posture; these check what storeflow
//! promises): nothing is dropped silently, retries never overlap a running
//! invocation, every failure raises an alarm, every queue is encrypted, a
//! burst cannot take the account's Lambda slots, and secrets never pass
//! through CloudFormation.

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
/// queue: a queue's redrive target, an event rule's or schedule's
/// DeadLetterConfig, or a function's failure destination.
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
        if let Some(dlq) = failure_destination(t, f) {
            dlqs.push(dlq.to_string());
        }
    }
    dlqs.sort_unstable();
    dlqs.dedup();
    dlqs
}

/// Event source types whose invocations are synchronous (Lambda polls the
/// source, or a caller waits for the answer). Any other kind (schedules,
/// EventBridge rules, SNS, S3…) invokes the function asynchronously: Lambda
/// queues the event, retries it twice, then drops it unless the function
/// has somewhere to put it.
const SYNCHRONOUS_SOURCES: [&str; 9] = [
    "SQS",
    "Kinesis",
    "DynamoDB",
    "MSK",
    "MQ",
    "SelfManagedKafka",
    "DocumentDB",
    "Api",
    "HttpApi",
];

/// The queue a function's failed asynchronous invocations go to: its
/// `DeadLetterQueue` or its `EventInvokeConfig` on-failure destination.
fn failure_destination<'t>(t: &'t Template, f: &str) -> Option<&'t str> {
    let p = t.properties(f);
    let dlq = &p["DeadLetterQueue"];
    if !dlq.is_null() {
        assert_eq!(dlq["Type"], "SQS", "{f}: DeadLetterQueue.Type");
        return get_att(&dlq["TargetArn"]).map(|(q, _)| q);
    }
    let on_failure = &p["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    get_att(&on_failure["Destination"]).map(|(q, _)| q)
}

/// A function's `Ref` to one of the template's parameters, with that
/// parameter.
fn parameter_ref<'t>(t: &'t Template, v: &Value, what: &str) -> (&'t str, &'t Value) {
    let name = reference(v).unwrap_or_else(|| panic!("{what} must be !Ref <parameter>, found {v}"));
    let (name, param) = t.doc["Parameters"]
        .as_object()
        .and_then(|params| params.get_key_value(name))
        .unwrap_or_else(|| panic!("{what}: {name} is not a stack parameter"));
    (name.as_str(), param)
}

/// The checkov checks a resource skips, with the reason given beside each.
fn checkov_skips(t: &Template, id: &str) -> Vec<(String, String)> {
    t.resources()[id]["Metadata"]["checkov"]["skip"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let check = s["id"].as_str().unwrap_or_default().to_string();
            let comment = s["comment"].as_str().unwrap_or_default().to_string();
            (check, comment)
        })
        .collect()
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

#[test]
fn every_queue_is_encrypted_at_rest() {
    let t = Template::load();
    let queues = t.ids_of_type("AWS::SQS::Queue");
    assert!(!queues.is_empty());
    for q in queues {
        let p = t.properties(q);
        assert!(
            p["SqsManagedSseEnabled"] == true || !p["KmsMasterKeyId"].is_null(),
            "{q}: server-side encryption must be explicit (SqsManagedSseEnabled: true or KmsMasterKeyId)"
        );
    }
}

#[test]
fn queue_consumers_have_reserved_concurrency_from_a_stack_parameter() {
    let t = Template::load();
    let mut reserved_defaults = 0;
    let mut capped = Vec::new();
    for f in FUNCTIONS {
        let Some(reserved) = t.function_property(f, "ReservedConcurrentExecutions") else {
            continue;
        };
        let what = format!("{f}.ReservedConcurrentExecutions");
        let (name, param) = parameter_ref(&t, reserved, &what);
        assert_eq!(param["Type"], "Number", "{name}");
        let description = param["Description"].as_str().unwrap_or_default();
        assert!(
            description.contains("every Lambda slot in the account"),
            "{name}: the description says what the cap protects"
        );
        let default = number(&param["Default"], name);
        let min = number(&param["MinValue"], name);
        let max = number(&param["MaxValue"], name);
        assert!((min..=max).contains(&default), "{name}: default {default}");
        reserved_defaults += default;
        // An SQS consumer's poller stops at the reservation: beyond it a
        // batch would be throttled and counted as a failed receive, on its
        // way to the dead-letter queue for no fault of its own.
        for (event, e) in t.properties(f)["Events"].as_object().into_iter().flatten() {
            if e["Type"] != "SQS" {
                continue;
            }
            let max_concurrency = &e["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            let what = format!("{f}.{event}.ScalingConfig.MaximumConcurrency");
            assert_eq!(parameter_ref(&t, max_concurrency, &what).0, name, "{what}");
            assert!(min >= 2, "{name}: an SQS poller needs MinValue 2 or more");
        }
        capped.push(f);
    }
    for f in ["EvaluateFunction", "SendFunction"] {
        assert!(capped.contains(&f), "{f} has no reserved concurrency");
    }
    // Lambda keeps 100 slots of the account unreserved; the defaults must
    // deploy in an account with the default limit of 1,000.
    assert!(
        reserved_defaults + 100 <= 1000,
        "the defaults reserve {reserved_defaults} slots"
    );
}

#[test]
fn every_asynchronously_invoked_function_has_a_failure_destination() {
    let t = Template::load();
    let mut asynchronous = Vec::new();
    for f in FUNCTIONS {
        for (event, e) in t.properties(f)["Events"].as_object().into_iter().flatten() {
            let kind = e["Type"].as_str().unwrap_or_default();
            if SYNCHRONOUS_SOURCES.contains(&kind) {
                continue;
            }
            if !asynchronous.contains(&f) {
                asynchronous.push(f);
            }
            // Schedules and rules keep what they could not deliver, too.
            if matches!(kind, "ScheduleV2" | "EventBridgeRule" | "CloudWatchEvent") {
                let (dlq, _) = get_att(&e["Properties"]["DeadLetterConfig"]["Arn"])
                    .unwrap_or_else(|| panic!("{f}.{event}: no DeadLetterConfig"));
                assert_eq!(t.resources()[dlq]["Type"], "AWS::SQS::Queue", "{f}.{event}");
            }
        }
    }
    // Cron ticks (Scheduler) and SES events (an EventBridge rule).
    assert_eq!(asynchronous, ["SchedulerFunction", "FeedbackFunction"]);
    for f in asynchronous {
        let dlq = failure_destination(&t, f)
            .unwrap_or_else(|| panic!("{f} is invoked asynchronously and drops what it fails"));
        assert_eq!(t.resources()[dlq]["Type"], "AWS::SQS::Queue", "{f}: {dlq}");
    }
}

#[test]
fn every_checkov_skip_gives_its_reason_and_hides_nothing_fixed_elsewhere() {
    let t = Template::load();
    let mut skips = 0;
    for (id, r) in t.resources() {
        for (check, comment) in checkov_skips(&t, id) {
            skips += 1;
            assert!(check.starts_with("CKV_"), "{id}: skip of {check:?}");
            assert!(
                comment.split_whitespace().count() >= 10,
                "{id}: the skip of {check} says why it does not apply"
            );
            match check.as_str() {
                // Only a queue that SSE-SQS encrypts may skip the KMS check.
                "CKV_AWS_27" => assert_eq!(
                    t.properties(id)["SqsManagedSseEnabled"],
                    true,
                    "{id} skips CKV_AWS_27 without SSE-SQS"
                ),
                // Reserved concurrency and failure destinations are fixed
                // where they apply, not skipped.
                "CKV_AWS_115" => assert!(
                    !["EvaluateFunction", "SendFunction"].contains(&id.as_str()),
                    "{id} skips reserved concurrency"
                ),
                "CKV_AWS_116" => assert!(
                    r["Properties"]["Events"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .all(|(_, e)| SYNCHRONOUS_SOURCES
                            .contains(&e["Type"].as_str().unwrap_or_default())),
                    "{id} is invoked asynchronously and skips its dead-letter queue"
                ),
                _ => {}
            }
        }
    }
    assert!(skips > 0);
}

#[test]
fn the_lambda_packages_unwind_so_one_record_panicking_fails_alone() {
    // cargo lambda builds release with panic = "abort" unless the workspace
    // profile says otherwise; with abort a panic in one record would end
    // the process and SQS would retry the whole batch.
    let manifest =
        std::fs::read_to_string(storeflow_tests::repo_root().join("Cargo.toml")).unwrap();
    let release = manifest
        .split("\n[")
        .find(|s| s.starts_with("profile.release]"))
        .expect("a [profile.release] section");
    assert!(
        release.lines().any(|l| l.trim() == r#"panic = "unwind""#),
        "[profile.release] must set panic = \"unwind\":\n{release}"
    );
}
