//! The sample Lambda events in `events/aws/` (for `cargo lambda invoke
//! --data-file`) are what each function's entry point reads: an SQS batch
//! whose bodies its handler accepts, a cron input, an SES event.

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;
use storeflow_aws::handlers::Queued;
use storeflow_aws::lambda::records;
use storeflow_aws::timers::TimerMessage;
use storeflow_tests::repo_root;

fn sample(name: &str) -> Value {
    let path = repo_root().join("events/aws").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn batch(name: &str) -> Vec<storeflow_aws::handlers::Record> {
    let e: SqsEvent = serde_json::from_value(sample(name)).unwrap();
    let r = records(e);
    assert!(!r.is_empty(), "{name} has no records");
    assert!(r.iter().all(|r| !r.id.is_empty() && r.receive_count == 1));
    r
}

#[test]
fn every_sample_is_what_its_function_reads() {
    for r in batch("evaluate.sqs.json") {
        let q: Queued = serde_json::from_str(&r.body).unwrap();
        assert!(matches!(q, Queued::Event(_)));
    }
    for r in batch("scheduler.sqs.json") {
        let t: TimerMessage = serde_json::from_str(&r.body).unwrap();
        assert!(t.due().is_some());
    }
    let cron: TimerMessage = serde_json::from_value(sample("scheduler.reconcile.json")).unwrap();
    assert_eq!(cron, TimerMessage::Reconcile);
    for r in batch("send.sqs.json") {
        let h: storeflow_aws::queues::Handoff = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            h.message.channel,
            storeflow_core::model::channel::Channel::Email
        );
    }
    let ses = sample("feedback.ses-complaint.json");
    assert!(
        ses.get("detail-type").is_some(),
        "the feedback function routes on detail-type"
    );
    assert_eq!(ses["detail"]["eventType"], "Complaint");
}

#[test]
fn a_failed_record_is_reported_by_its_id_alone() {
    let failures = storeflow_aws::handlers::Failures(vec!["m-2".into()]);
    let out = serde_json::to_value(storeflow_aws::lambda::response(failures)).unwrap();
    assert_eq!(
        out,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );
}
