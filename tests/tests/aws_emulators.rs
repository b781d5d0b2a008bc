//! The AWS foundation on emulators: the table and queues built from
//! `infra/template.yaml` behave as the functions will rely on (optimistic
//! concurrency on a profile's version, redrive of a poison message to its
//! dead-letter queue), SES v2 keeps one-click unsubscribe headers intact, and
//! EventBridge Scheduler holds one schedule per deterministic name.
//!
//! These tests need DynamoDB Local and moto server, which `scripts/test`
//! starts; run alone, they fail saying so.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use storeflow_tests::aws::{create_queue, create_table, moto_sent_emails, sdk_config, unique_name};
use storeflow_tests::template::Template;

/// A conditional put of a profile's state at `version`, expecting the stored
/// item to be at `expected` (or absent, for `None`): the write evaluate makes.
async fn put_state(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    profile: &str,
    state: &str,
    version: u64,
    expected: Option<u64>,
) -> Result<
    (),
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
> {
    let mut req = db
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(format!("profile#{profile}")))
        .item("sk", AttributeValue::S("state".into()))
        .item("state", AttributeValue::S(state.into()))
        .item("version", AttributeValue::N(version.to_string()));
    req = match expected {
        None => req.condition_expression("attribute_not_exists(pk)"),
        Some(v) => req
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
    };
    req.send().await.map(|_| ())
}

#[tokio::test]
async fn a_stale_profile_write_is_rejected_and_the_newer_state_kept() {
    let config = sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&db, &Template::load(), "Table").await;

    put_state(&db, &table, "p1", "first event", 1, None)
        .await
        .expect("create at version 1");
    let again = put_state(&db, &table, "p1", "first event again", 1, None).await;
    assert!(
        again.is_err_and(|e| e
            .into_service_error()
            .is_conditional_check_failed_exception()),
        "a second create of the same profile must fail"
    );

    // Two evaluations read version 1 and race to write version 2: exactly
    // one wins, the other learns it must re-read and re-apply.
    let (a, b) = tokio::join!(
        put_state(&db, &table, "p1", "cart added", 2, Some(1)),
        put_state(&db, &table, "p1", "checkout started", 2, Some(1)),
    );
    let winner = match (a, b) {
        (Ok(()), Err(e)) => {
            assert!(e
                .into_service_error()
                .is_conditional_check_failed_exception());
            "cart added"
        }
        (Err(e), Ok(())) => {
            assert!(e
                .into_service_error()
                .is_conditional_check_failed_exception());
            "checkout started"
        }
        (a, b) => panic!("exactly one racing write must win, got {a:?} and {b:?}"),
    };

    let item = db
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("profile#p1".into()))
        .key("sk", AttributeValue::S("state".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get state")
        .item
        .expect("the profile exists");
    assert_eq!(item["version"], AttributeValue::N("2".into()));
    assert_eq!(item["state"], AttributeValue::S(winner.into()));
}

#[tokio::test]
async fn the_table_has_the_templates_keys_and_ttl_and_no_index() {
    let config = sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let template = Template::load();
    let table = create_table(&db, &template, "Table").await;

    let described = db
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("table description");
    let keys: Vec<_> = described
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    // No index: each would add write units to the commits that touch its
    // attributes, which BENCHMARKS.md's figures do not include.
    assert!(
        described.global_secondary_indexes().is_empty(),
        "{:?}",
        described.global_secondary_indexes()
    );

    let ttl = db
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("describe TTL")
        .time_to_live_description
        .expect("TTL description");
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
}

#[tokio::test]
async fn a_poison_message_moves_to_the_dead_letter_queue_after_max_receives() {
    let config = sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = create_queue(&sqs, &Template::load(), "EventsQueue").await;
    let dlq = events
        .dead_letter
        .as_deref()
        .expect("the events queue has a dead-letter queue");
    let max = events.max_receive_count.expect("maxReceiveCount");

    sqs.send_message()
        .queue_url(&events.url)
        .message_body(r#"{"poison":true}"#)
        .send()
        .await
        .expect("send");
    // Each receive without a delete is one failed attempt; visibility 0 makes
    // the message available again at once instead of after 180 s.
    for attempt in 1..=max {
        let got = sqs
            .receive_message()
            .queue_url(&events.url)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        assert_eq!(got.messages().len(), 1, "attempt {attempt} of {max}");
    }
    let after = sqs
        .receive_message()
        .queue_url(&events.url)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive after the last attempt");
    assert!(after.messages().is_empty(), "the message left the queue");

    let dead = sqs
        .receive_message()
        .queue_url(&dlq.url)
        .send()
        .await
        .expect("receive from the DLQ");
    let bodies: Vec<_> = dead.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, [r#"{"poison":true}"#]);
}

#[tokio::test]
async fn an_email_keeps_its_one_click_unsubscribe_headers_through_ses() {
    let config = sdk_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let domain = format!("{}.example", unique_name("shop"));
    let configuration_set = unique_name("storeflow-messages");
    ses.create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .expect("verify the sender domain");
    ses.create_configuration_set()
        .configuration_set_name(&configuration_set)
        .send()
        .await
        .expect("configuration set");

    let from = format!("hello@{domain}");
    let unsubscribe = format!("<https://u.{domain}/unsubscribe?t=abc>, <mailto:unsub@{domain}>");
    let raw = format!(
        "From: Northwind <{from}>\r\nTo: ann@example.com\r\nSubject: You left something behind\r\n\
         List-Unsubscribe: {unsubscribe}\r\n\
         List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Your Linen shirt is waiting.\r\n"
    );
    let sent = ses
        .send_email()
        .from_email_address(&from)
        .destination(
            Destination::builder()
                .to_addresses("ann@example.com")
                .build(),
        )
        .content(
            EmailContent::builder()
                .raw(
                    RawMessage::builder()
                        .data(Blob::new(raw.into_bytes()))
                        .build()
                        .expect("raw message"),
                )
                .build(),
        )
        .configuration_set_name(&configuration_set)
        .email_tags(
            MessageTag::builder()
                .name("flow")
                .value("checkout_abandonment")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("send email");
    let id = sent.message_id().expect("message id");

    let emails = moto_sent_emails();
    let email = emails.get(id).expect("moto recorded the email");
    assert!(email.destinations.iter().any(|d| d == "ann@example.com"));
    assert_eq!(
        email.header("List-Unsubscribe").as_deref(),
        Some(unsubscribe.as_str())
    );
    assert_eq!(
        email.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("You left something behind")
    );

    // SES refuses a sender it has not verified: a misconfigured From fails
    // loudly instead of vanishing.
    let refused = ses
        .send_email()
        .from_email_address("hello@unverified.example")
        .destination(Destination::builder().to_addresses("ann@example.com").build())
        .content(
            EmailContent::builder()
                .raw(
                    RawMessage::builder()
                        .data(Blob::new(
                            b"From: hello@unverified.example\r\nTo: ann@example.com\r\nSubject: x\r\n\r\nx\r\n"
                                .to_vec(),
                        ))
                        .build()
                        .expect("raw message"),
                )
                .build(),
        )
        .send()
        .await;
    assert!(refused.is_err_and(|e| e.into_service_error().is_message_rejected()));
}

#[tokio::test]
async fn a_timer_schedule_is_one_per_name_and_gone_once_deleted() {
    let config = sdk_config().await;
    let scheduler = aws_sdk_scheduler::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let timers = create_queue(&sqs, &Template::load(), "TimersQueue").await;
    let group = unique_name("storeflow-timers");
    scheduler
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .expect("schedule group");

    // The name is derived from what the timer is for, so a retried
    // evaluation finds the schedule it already made instead of adding one.
    let name = "wake-p1-checkout_abandonment-v1-checkout_email";
    let create = || {
        scheduler
            .create_schedule()
            .name(name)
            .group_name(&group)
            .schedule_expression("at(2026-11-26T02:00:00)")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .expect("window"),
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(
                aws_sdk_scheduler::types::Target::builder()
                    .arn(&timers.arn)
                    .role_arn("arn:aws:iam::123456789012:role/storeflow-scheduler")
                    .input(r#"{"profile":"p1","timer":"checkout_email"}"#)
                    .build()
                    .expect("target"),
            )
            .send()
    };
    create().await.expect("create the schedule");
    let twice = create().await;
    assert!(
        twice.is_err_and(|e| e.into_service_error().is_conflict_exception()),
        "a second schedule with the same name must conflict"
    );

    let got = scheduler
        .get_schedule()
        .name(name)
        .group_name(&group)
        .send()
        .await
        .expect("get schedule");
    assert_eq!(got.schedule_expression(), Some("at(2026-11-26T02:00:00)"));
    let target = got.target().expect("target");
    assert_eq!(target.arn(), timers.arn);
    assert_eq!(
        target.input(),
        Some(r#"{"profile":"p1","timer":"checkout_email"}"#)
    );

    scheduler
        .delete_schedule()
        .name(name)
        .group_name(&group)
        .send()
        .await
        .expect("delete schedule");
    let gone = scheduler
        .get_schedule()
        .name(name)
        .group_name(&group)
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.into_service_error().is_resource_not_found_exception()));
}

#[tokio::test]
async fn each_function_sends_to_the_queue_its_consumer_reads() {
    let config = sdk_config().await;
    let stack = storeflow_tests::aws::Stack::create(&config).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // Which function consumes each queue a producer is told about.
    let consumers = [
        ("STOREFLOW_EVENTS_QUEUE_URL", "EvaluateFunction"),
        ("STOREFLOW_TIMERS_QUEUE_URL", "SchedulerFunction"),
        ("STOREFLOW_SEND_QUEUE_URL", "SendFunction"),
    ];
    let mut checked = 0;
    for producer in [
        "IngestFunction",
        "EvaluateFunction",
        "SchedulerFunction",
        "SendFunction",
        "FeedbackFunction",
    ] {
        let env = stack.function_env(producer);
        assert_eq!(env["STOREFLOW_TABLE"], stack.table, "{producer}");
        for (var, consumer) in consumers {
            let Some(url) = env.get(var) else { continue };
            let events = stack.template.properties(consumer)["Events"]
                .as_object()
                .expect("consumer events");
            let source = events
                .values()
                .find(|e| e["Type"] == "SQS")
                .unwrap_or_else(|| panic!("{consumer} reads no queue"));
            let consumer_queue = stack.resolve(&source["Properties"]["Queue"]);
            let body = format!("{producer} -> {consumer}");
            sqs.send_message()
                .queue_url(url)
                .message_body(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{producer} sends to {var}: {e:?}"));
            let read_url = stack
                .queues
                .values()
                .find(|q| q.arn == consumer_queue)
                .map(|q| q.url.clone())
                .expect("the consumer's queue exists");
            let got = sqs
                .receive_message()
                .queue_url(&read_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            for m in got.messages() {
                sqs.delete_message()
                    .queue_url(&read_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
            let bodies: Vec<_> = got.messages().iter().filter_map(|m| m.body()).collect();
            assert_eq!(bodies, [body.as_str()], "{producer}'s {var}");
            checked += 1;
        }
    }
    // ingest, feedback, scheduler (campaign enrolment) -> events;
    // evaluate, scheduler, send -> timers; evaluate, scheduler -> send.
    assert_eq!(checked, 8);
}
