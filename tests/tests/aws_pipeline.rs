//! The AWS function set end to end on the emulators, on a virtual clock:
//! signed Shopify deliveries → the ingest handler → the events queue →
//! evaluate → the scheduler's one-time schedule (its request checked, its
//! target then invoked, as moto never fires schedules) → the send queue →
//! send → SES. Handlers are the ones the Lambda functions call, wired from
//! the environment the template gives each function.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use jiff::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use storeflow_app::ports::Customers;
use storeflow_aws::env::Env;
use storeflow_aws::handlers::evaluate::Pipeline;
use storeflow_aws::handlers::{evaluate, ingest, scheduler, send, Record};
use storeflow_aws::queues::EventsQueue;
use storeflow_aws::sending::Senders;
use storeflow_aws::timers::TimerMessage;
use storeflow_aws::Table;
use storeflow_ingest::signature::sign_base64;
use storeflow_ingest::{DeliveryLine, Headers, Request, Router};
use storeflow_tests::aws::{moto_sent_emails, sdk_config, SentEmail, Stack};
use storeflow_tests::{repo_root, temp_dir, SHOPIFY_SECRET};

/// One deployed stack on the emulators, with every function's handler
/// dependencies built by the functions' own wiring.
struct Deployed {
    stack: Stack,
    router: Router,
    table: Table,
    events: EventsQueue,
    pipeline: Pipeline,
    /// The scheduler function's: the same pipeline from its environment
    /// (which also names the events queue, for campaign enrolment).
    scheduling: Pipeline,
    senders: Senders,
    feedback: storeflow_aws::handlers::feedback::Feedback,
    sqs: aws_sdk_sqs::Client,
    scheduler: aws_sdk_scheduler::Client,
    /// Every schedule request seen, by name.
    schedules: BTreeMap<String, Value>,
    /// Every record the send function was given.
    send_records: std::sync::Mutex<Vec<Record>>,
    fired: HashSet<String>,
}

/// The function's environment from the template; the configuration
/// directory is the starter pack (deployed, the layer's).
fn env_of(stack: &Stack, function: &str, config: &std::path::Path) -> Env {
    let mut vars = stack.function_env(function);
    vars.insert("STOREFLOW_CONFIG_DIR".into(), config.display().to_string());
    Env(vars.into_iter().collect())
}

impl Deployed {
    async fn new() -> Self {
        Self::with_config(&repo_root().join("examples/starter")).await
    }

    async fn with_config(config: &std::path::Path) -> Self {
        let env_of = |stack: &Stack, function: &str| env_of(stack, function, config);
        let aws = sdk_config().await;
        let stack = Stack::create(&aws).await;
        stack.put_secrets(&aws).await;
        let (router, table, events) =
            storeflow_aws::wiring::ingest(&env_of(&stack, "IngestFunction"), &aws)
                .await
                .expect("ingest wiring");
        let mut pipeline =
            storeflow_aws::wiring::pipeline(&env_of(&stack, "EvaluateFunction"), &aws)
                .await
                .expect("evaluate wiring");
        // Every future wake-up becomes a schedule request to read and fire:
        // an SQS delay would be real time.
        pipeline.timers.max_delay_seconds = 0;
        // The send function runs after the commit here: no hand-over delay.
        if let Some(q) = pipeline.app.store.sends.as_mut() {
            q.delay_seconds = 0;
        }
        let mut scheduling =
            storeflow_aws::wiring::pipeline(&env_of(&stack, "SchedulerFunction"), &aws)
                .await
                .expect("scheduler wiring");
        scheduling.timers.max_delay_seconds = 0;
        // Evaluate's and the scheduler's units are reported together.
        scheduling.app.store.meter = pipeline.app.store.meter.clone();
        if let Some(q) = scheduling.app.store.sends.as_mut() {
            q.delay_seconds = 0;
        }
        let senders = storeflow_aws::wiring::senders(&env_of(&stack, "SendFunction"), &aws)
            .await
            .expect("send wiring");
        let feedback = storeflow_aws::wiring::feedback(&env_of(&stack, "FeedbackFunction"), &aws)
            .await
            .expect("feedback wiring");
        Deployed {
            stack,
            router,
            table,
            events,
            pipeline,
            scheduling,
            senders,
            feedback,
            sqs: aws_sdk_sqs::Client::new(&aws),
            scheduler: aws_sdk_scheduler::Client::new(&aws),
            schedules: BTreeMap::new(),
            send_records: Default::default(),
            fired: HashSet::new(),
        }
    }

    /// Posts one delivery line as Shopify would, signed.
    async fn deliver(&self, line: &DeliveryLine) {
        let d = line.delivery();
        let mut headers = Headers::new();
        for (k, v) in d.headers.iter() {
            headers.insert(k, v);
        }
        headers.insert("X-Shopify-Topic", line.topic.clone().unwrap());
        headers.insert(
            "X-Shopify-Hmac-Sha256",
            sign_base64(SHOPIFY_SECRET.as_bytes(), &d.body),
        );
        let req = Request::post("/webhooks/shopify", headers, d.body);
        let answer = ingest::handle(&self.router, &self.table, &self.events, &req, line.at).await;
        assert_eq!(
            answer.status,
            200,
            "{}: {}",
            line.topic.as_deref().unwrap(),
            answer.body
        );
    }

    /// Receives everything visible on a queue, as Lambda would hand it over.
    async fn receive(&self, logical_id: &str) -> Vec<(Record, String)> {
        let url = &self.stack.queue(logical_id).url;
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .expect("receive");
            let msgs = got.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                let count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                out.push((
                    Record {
                        id: m.message_id.clone().unwrap(),
                        body: m.body.clone().unwrap(),
                        receive_count: count,
                    },
                    m.receipt_handle.clone().unwrap(),
                ));
            }
        }
    }

    async fn delete(&self, logical_id: &str, handles: Vec<String>) {
        for h in handles {
            self.sqs
                .delete_message()
                .queue_url(&self.stack.queue(logical_id).url)
                .receipt_handle(h)
                .send()
                .await
                .expect("delete message");
        }
    }

    /// Runs every queue's consumer until all queues are empty, at `now`.
    async fn settle(&self, now: Timestamp) {
        loop {
            let mut any = false;
            for queue in ["EventsQueue", "TimersQueue", "SendQueue"] {
                let got = self.receive(queue).await;
                if got.is_empty() {
                    continue;
                }
                any = true;
                let records: Vec<Record> = got.iter().map(|(r, _)| r.clone()).collect();
                if queue == "SendQueue" {
                    self.send_records.lock().unwrap().extend(records.clone());
                }

                let failures = match queue {
                    "EventsQueue" => evaluate::handle(&self.pipeline, &records, now).await,
                    "TimersQueue" => scheduler::handle(&self.scheduling, &records, now).await,
                    _ => send::handle(&self.senders, &records, now).await,
                };
                assert!(failures.0.is_empty(), "{queue}: {failures:?}");
                self.delete(queue, got.into_iter().map(|(_, h)| h).collect())
                    .await;
            }
            if !any {
                return;
            }
        }
    }

    /// Reads the schedule group: every schedule request, by name.
    async fn read_schedules(&mut self) {
        let list = self
            .scheduler
            .list_schedules()
            .group_name(&self.stack.schedule_group)
            .send()
            .await
            .expect("list schedules");
        for s in list.schedules() {
            let name = s.name().unwrap().to_string();
            if self.schedules.contains_key(&name) {
                continue;
            }
            let got = self
                .scheduler
                .get_schedule()
                .group_name(&self.stack.schedule_group)
                .name(&name)
                .send()
                .await
                .expect("get schedule");
            let target = got.target().expect("target");
            let request = serde_json::json!({
                "expression": got.schedule_expression(),
                "timezone": got.schedule_expression_timezone(),
                "after": got.action_after_completion().map(|a| a.as_str().to_string()),
                "flexible": got.flexible_time_window().map(|f| f.mode().as_str().to_string()),
                "arn": target.arn(),
                "role": target.role_arn(),
                "dead_letter": target.dead_letter_config().and_then(|d| d.arn()),
                "input": serde_json::from_str::<Value>(target.input().unwrap()).unwrap(),
            });
            self.schedules.insert(name, request);
        }
    }

    /// Feeds the delivery lines at their times and fires every schedule at
    /// its time, in time order, until `until`.
    async fn run(&mut self, lines: &[DeliveryLine], until: Timestamp) {
        let mut next_line = 0;
        loop {
            self.read_schedules().await;
            let timer = self
                .schedules
                .iter()
                .filter(|(name, _)| !self.fired.contains(*name))
                .map(|(name, r)| {
                    let m: TimerMessage = serde_json::from_value(r["input"].clone()).unwrap();
                    (m.due().unwrap(), name.clone(), r["input"].to_string())
                })
                .min();
            let line_at = lines.get(next_line).map(|l| l.at);
            match (line_at, timer) {
                (Some(at), t) if t.as_ref().is_none_or(|t| at <= t.0) && at <= until => {
                    self.deliver(&lines[next_line]).await;
                    next_line += 1;
                    self.settle(at).await;
                }
                (_, Some((due, name, input))) if due <= until => {
                    // What Scheduler would do at `due`: put the input on the
                    // timers queue; the scheduler function takes it from there.
                    let record = Record {
                        id: format!("schedule-{name}"),
                        body: input,
                        receive_count: 1,
                    };
                    let f = scheduler::handle(&self.scheduling, &[record], due).await;
                    assert!(f.0.is_empty(), "{f:?}");
                    self.fired.insert(name);
                    self.settle(due).await;
                }
                _ => return,
            }
        }
    }

    /// The emails this stack sent, from its send ledger and SES's store.
    async fn sent(&self) -> Vec<SentEmail> {
        let db = &self.table.client;
        let items = db
            .scan()
            .table_name(&self.table.name)
            .filter_expression("begins_with(pk, :send)")
            .expression_attribute_values(
                ":send",
                aws_sdk_dynamodb::types::AttributeValue::S("send#".into()),
            )
            .send()
            .await
            .expect("scan ledger")
            .items
            .unwrap_or_default();
        let all = moto_sent_emails();
        items
            .iter()
            .filter_map(|i| i.get("provider_id")?.as_s().ok())
            .map(|id| all.get(id).cloned().expect("the ledger's id is in SES"))
            .collect()
    }
}

/// Every sample Shopify delivery in `events/`, in time order.
fn starter_sample() -> Vec<DeliveryLine> {
    let mut all: Vec<DeliveryLine> = [
        "platform-week.jsonl",
        "shopify-checkout-abandoned.jsonl",
        "shopify-checkout-ordered.jsonl",
    ]
    .iter()
    .flat_map(|f| lines(f))
    .filter(|l| l.source == storeflow_ingest::Source::Shopify)
    .collect();
    all.sort_by_key(|l| l.at);
    all
}

fn lines(file: &str) -> Vec<DeliveryLine> {
    std::fs::read_to_string(repo_root().join("events").join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn reminders_to<'a>(sent: &'a [SentEmail], to: &str) -> Vec<&'a SentEmail> {
    sent.iter()
        .filter(|e| e.destinations.iter().any(|d| d == to))
        .filter(|e| {
            e.header("Subject")
                .is_some_and(|s| s.starts_with("Complete your order"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_checkout_is_reminded_by_email_through_the_aws_functions() {
    let mut d = Deployed::new().await;
    let until: Timestamp = "2026-11-23T20:00:00Z".parse().unwrap();
    d.run(&lines("shopify-checkout-abandoned.jsonl"), until)
        .await;

    // The reminder's wake-up (16:00, one hour after the checkout) was
    // requested as a one-time schedule for 15:58 (Scheduler may fire up to
    // a minute late; the scheduler function delays the rest on the queue)
    // that sends its timer message to the timers queue through the
    // scheduler role and deletes itself.
    let timers = d.stack.queue("TimersQueue");
    let reminder = d
        .schedules
        .values()
        .find(|r| r["expression"] == "at(2026-11-23T15:58:00)")
        .unwrap_or_else(|| panic!("no schedule at 15:58 in {:#?}", d.schedules));
    assert_eq!(reminder["timezone"], "UTC");
    assert_eq!(reminder["after"], "DELETE");
    assert_eq!(reminder["flexible"], "OFF");
    assert_eq!(reminder["arn"], timers.arn.as_str());
    assert_eq!(
        reminder["dead_letter"],
        timers.dead_letter.as_ref().unwrap().arn.as_str()
    );
    assert!(reminder["role"].as_str().unwrap().ends_with("-scheduler"));
    assert_eq!(reminder["input"]["kind"], "wake");
    assert_eq!(reminder["input"]["due"], "2026-11-23T16:00:00Z");

    // One reminder, to Maya, in SES: her line items and one-click
    // unsubscribe headers.
    let sent = d.sent().await;
    let reminders = reminders_to(&sent, "maya@example.com");
    assert_eq!(reminders.len(), 1, "{sent:#?}");
    let email = reminders[0];
    let text = email.decoded_text();
    for item in ["Linen shirt", "Canvas tote"] {
        assert!(text.contains(item), "{item} missing from:\n{text}");
    }
    let unsubscribe = email.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(unsubscribe.starts_with("<https://"), "{unsubscribe}");
    assert_eq!(
        email.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        email.source.contains(&d.stack.sender_domain),
        "{}",
        email.source
    );

    // A redelivered send message finds the ledger entry: no second email.
    let id = email
        .header("X-Storeflow-Message")
        .expect("the message id header");
    // moto's SES store is shared by every test running at once: count
    // only the emails carrying this message's id.
    let copies = || {
        moto_sent_emails()
            .values()
            .filter(|e| e.header("X-Storeflow-Message").as_deref() == Some(id.as_str()))
            .count()
    };
    let before = copies();
    let sent_before = d.sent().await.len();
    let mut again = d
        .send_records
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.body.contains(&id))
        .cloned()
        .expect("the reminder went through the send queue");
    again.receive_count = 2;
    let f = send::handle(&d.senders, std::slice::from_ref(&again), until).await;
    assert!(f.0.is_empty());
    assert_eq!(copies(), before, "a redelivery sent again");
    assert_eq!(d.sent().await.len(), sent_before);

    // Maya opens the reminder. SES reports it with the tags the send
    // function set (moto does not emit events: this is SES's event as
    // EventBridge delivers its detail); feedback marks the ledger and queues
    // her `email_opened` event, which evaluate applies to her profile, once
    // however often SES repeats it.
    let h: storeflow_aws::queues::Handoff = serde_json::from_str(&again.body).unwrap();
    let open = serde_json::json!({
        "eventType": "Open",
        "mail": {
            "messageId": "0100019a-open-test",
            "destination": ["maya@example.com"],
            "tags": {
                "message": [id], "flow": [h.message.flow], "step": [h.message.step],
                "shop": [h.shop.as_str()], "profile": [h.profile.as_str()],
            },
        },
        "open": {"timestamp": "2026-11-23T16:30:00.000Z", "userAgent": "Mail", "ipAddress": "192.0.2.1"},
    });
    // SES says it was delivered: counted for the message, beside its send.
    let delivery = serde_json::json!({
        "eventType": "Delivery",
        "mail": {
            "messageId": "0100019a-open-test",
            "destination": ["maya@example.com"],
            "tags": {
                "message": [id], "flow": [h.message.flow], "step": [h.message.step],
                "template": [h.message.template], "version": [h.message.version.to_string()],
                "shop": [h.shop.as_str()], "profile": [h.profile.as_str()],
            },
        },
        "delivery": {"timestamp": "2026-11-23T16:00:05.000Z", "recipients": ["maya@example.com"]},
    });
    d.feedback.ses_event(&delivery, until).await.unwrap();
    let day = jiff::civil::date(2026, 11, 23);
    let (days, _) = d.feedback.table.read_rollups(day, day).await.unwrap();
    let counters = days
        .iter()
        .find(|((_, scope), _)| matches!(scope, storeflow_core::results::rollup::Scope::Message { step, .. } if *step == h.message.step))
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("the reminder's counters: {days:?}"));
    assert_eq!(counters.get("delivered"), Some(&1.0), "{counters:?}");
    assert_eq!(counters.get("sent"), Some(&1.0), "{counters:?}");

    let r = d.feedback.ses_event(&open, until).await.unwrap();
    assert_eq!(r.status, Some((id.clone(), "open".to_string())));
    let event = r.engagement.expect("an engagement event");
    assert_eq!(event.name(), "email_opened");
    assert_eq!(event.kind.properties_json()["message"], id.as_str());
    d.settle(until).await;
    let maya = || async {
        d.pipeline
            .app
            .store
            .load(&h.shop, &h.profile)
            .await
            .unwrap()
            .expect("Maya's profile")
    };
    let after_open = maya().await;
    assert!(
        after_open.state.seen.contains_key(event.id.as_str()),
        "the open was applied to her profile"
    );
    d.feedback.ses_event(&open, until).await.unwrap();
    d.settle(until).await;
    assert_eq!(
        maya().await.version,
        after_open.version,
        "a repeated SES event changes nothing"
    );

    // She follows the reminder's link: the function URL redirects her to
    // the checkout (a signed redirect of ours, as `serve` makes) and queues
    // her `email_clicked`; evaluate records the touch.
    let base = d.stack.function_env("EvaluateFunction")["STOREFLOW_LINKS_BASE_URL"].clone();
    let raw = email.raw.replace("=\r\n", "").replace("=3D", "=");
    let tail = raw
        .split(&format!("{}/c/", base.trim_end_matches('/')))
        .nth(1)
        .unwrap_or_else(|| panic!("a tracked link under {base} in {raw}"));
    let token: String = tail
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '~' | '-' | '_'))
        .collect();
    let clicked_at: Timestamp = "2026-11-23T16:40:00Z".parse().unwrap();
    let browser = Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)");
    let r = d
        .feedback
        .track("GET", &format!("/c/{token}"), browser, clicked_at)
        .await
        .expect("a tracking path");
    assert_eq!(r.status, 302);
    assert!(
        r.location
            .as_deref()
            .is_some_and(|l| l.starts_with("https://")),
        "{r:?}"
    );
    // A mail gateway's check is redirected, not counted.
    let scanner = Some("Mozilla/5.0 (compatible; Mimecast)");
    let r = d
        .feedback
        .track("GET", &format!("/c/{token}"), scanner, clicked_at)
        .await
        .unwrap();
    assert_eq!(r.status, 302);
    d.settle(clicked_at).await;
    let after_click = maya().await.state;
    let clicks: Vec<_> = after_click
        .results
        .touches
        .iter()
        .filter(|t| {
            &*t.message == id.as_str()
                && t.kind == storeflow_core::results::attribution::TouchKind::Click
        })
        .collect();
    assert_eq!(clicks.len(), 1, "{:?}", after_click.results);
}

/// A lost timer: the reminder's schedule never fires (deleted by hand, or
/// its delivery failed for a day). The daily reconciliation finds the
/// customer's wake-up past due in her state item and arms it again; the
/// reminder goes out then, once, however often reconciliation runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_re_arms_a_lost_wake_up_and_the_reminder_goes_out_once() {
    let mut d = Deployed::new().await;
    d.run(
        &lines("shopify-checkout-abandoned.jsonl"),
        "2026-11-23T15:30:00Z".parse().unwrap(),
    )
    .await;
    let lost: Vec<String> = d
        .schedules
        .iter()
        .filter(|(_, r)| r["expression"] == "at(2026-11-23T15:58:00)")
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(lost.len(), 1, "{:#?}", d.schedules);
    d.fired.extend(lost);
    d.run(&[], "2026-11-23T17:00:00Z".parse().unwrap()).await;
    let maya = |sent: &[SentEmail]| reminders_to(sent, "maya@example.com").len();
    assert_eq!(maya(&d.sent().await), 0, "the lost schedule fired");

    let reconcile = |at: &str| {
        let at: Timestamp = at.parse().unwrap();
        let d = &d;
        async move {
            let started = scheduler::fire(&d.scheduling, &TimerMessage::Reconcile, at, false)
                .await
                .unwrap();
            assert_eq!(
                started,
                scheduler::Fired::Reconciling(storeflow_aws::reconcile::PARTS)
            );
            // The pages, the timers they arm and what those run.
            d.settle(at).await;
            d.sent().await
        }
    };
    // Three minutes after it was due the wake-up may still be in flight:
    // not re-armed.
    assert_eq!(maya(&reconcile("2026-11-23T16:03:00Z").await), 0);
    // An hour later it is lost: re-armed, run, the reminder sent.
    let sent = reconcile("2026-11-23T17:00:00Z").await;
    assert_eq!(maya(&sent), 1, "{sent:#?}");
    let text = reminders_to(&sent, "maya@example.com")[0].decoded_text();
    assert!(text.contains("Linen shirt"), "{text}");
    // Her wake-up has moved on: reconciling again sends nothing more.
    assert_eq!(maya(&reconcile("2026-11-23T17:10:00Z").await), 1);
    let scans = d
        .scheduling
        .app
        .store
        .meter
        .by_call()
        .into_iter()
        .find(|(call, _)| call == "Scan reconcile")
        .expect("reconciliation scanned")
        .1;
    assert_eq!(scans.calls, 3 * u64::from(storeflow_aws::reconcile::PARTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_fired_early_is_delayed_to_its_second_and_runs_once_if_fired_twice() {
    let mut d = Deployed::new().await;
    d.run(
        &lines("shopify-checkout-abandoned.jsonl"),
        "2026-11-23T15:30:00Z".parse().unwrap(),
    )
    .await;
    let (name, input) = d
        .schedules
        .iter()
        .find(|(_, r)| r["expression"] == "at(2026-11-23T15:58:00)")
        .map(|(n, r)| (n.clone(), r["input"].clone()))
        .unwrap_or_else(|| panic!("no schedule at 15:58 in {:#?}", d.schedules));
    d.fired.insert(name);
    let m: TimerMessage = serde_json::from_value(input).unwrap();
    assert_eq!(m.due(), Some("2026-11-23T16:00:00Z".parse().unwrap()));

    // As deployed: the rest of a wait under 15 minutes is an SQS delay.
    d.scheduling.timers.max_delay_seconds = storeflow_aws::timers::MAX_DELAY_SECONDS;
    let timers = d.stack.queue("TimersQueue").url.clone();
    let delayed = |d: &Deployed| {
        let (sqs, url) = (d.sqs.clone(), timers.clone());
        async move {
            let got = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed,
                )
                .send()
                .await
                .expect("queue attributes");
            got.attributes()
                .and_then(|a| {
                    a.get(
                        &aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed,
                    )
                })
                .map(|n| n.parse::<u32>().unwrap())
                .unwrap_or(0)
        }
    };
    let before = delayed(&d).await;
    // Scheduler fires 40 s into its minute: the hand-over asks SQS for the
    // remaining 80 s.
    let early: Timestamp = "2026-11-23T15:58:40Z".parse().unwrap();
    let armed = d.scheduling.timers.arm(&m, early).await.unwrap();
    assert_eq!(armed, storeflow_aws::timers::Armed::Delayed(80));
    assert_eq!(
        scheduler::fire(&d.scheduling, &m, early, false)
            .await
            .unwrap(),
        scheduler::Fired::Early
    );
    assert_eq!(delayed(&d).await, before + 2, "two delayed hand-overs");
    // Those messages would arrive in 80 s of real time: taken off the queue
    // here and handed to the scheduler function at their second instead.
    d.sqs
        .purge_queue()
        .queue_url(&timers)
        .send()
        .await
        .expect("purge");
    let due = m.due().unwrap();
    for i in 0..2 {
        let record = Record {
            id: format!("handed-over-{i}"),
            body: serde_json::to_string(&m).unwrap(),
            receive_count: 1,
        };
        let f = scheduler::handle(&d.scheduling, &[record], due).await;
        assert!(f.0.is_empty(), "{f:?}");
        d.settle(due).await;
    }
    // The schedule fired twice (or late and again): one reminder.
    let sent = d.sent().await;
    assert_eq!(
        reminders_to(&sent, "maya@example.com").len(),
        1,
        "{sent:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_applied_goes_to_the_dead_letter_queue_alone_with_its_error() {
    let d = Deployed::new().await;
    assert!(
        d.pipeline.dead_letters.is_some(),
        "the template gives evaluate its dead-letter queue"
    );
    let now: Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let good: storeflow_aws::handlers::Queued = serde_json::from_value(serde_json::json!({
        "event": {"id": "dlq-good", "shop": "northwind.myshopify.com", "type": "consent_changed",
                  "occurred_at": now, "customer": {"email": "alone@example.com"},
                  "properties": {"channel": "email", "status": "subscribed"}}}))
    .unwrap();
    let bad = r#"{"event": {"id": 1}}"#;
    let records = [
        Record {
            id: "bad-1".into(),
            body: bad.into(),
            receive_count: 1,
        },
        Record {
            id: "good-1".into(),
            body: serde_json::to_string(&good).unwrap(),
            receive_count: 1,
        },
    ];
    let failures = evaluate::handle(&d.pipeline, &records, now).await;
    assert!(failures.0.is_empty(), "nothing to retry: {failures:?}");
    let dlq = d.stack.queue("EventsDeadLetterQueue").url.clone();
    let got = d
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive from the dead-letter queue");
    assert_eq!(got.messages().len(), 1, "{got:?}");
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some(bad));
    let error = m
        .message_attributes()
        .and_then(|a| a.get(storeflow_aws::queues::ERROR_ATTRIBUTE))
        .and_then(|v| v.string_value())
        .unwrap_or_default();
    assert!(error.starts_with("not an event"), "{error:?}");
    // The good record beside it was applied: the welcome email goes out.
    d.settle(now).await;
    let sent = d.sent().await;
    assert!(
        sent.iter()
            .any(|e| e.destinations.iter().any(|t| t == "alone@example.com")),
        "{sent:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_in_time_means_no_checkout_reminder_through_the_aws_functions() {
    let mut d = Deployed::new().await;
    let until: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
    d.run(&lines("shopify-checkout-ordered.jsonl"), until).await;
    let sent = d.sent().await;
    assert!(
        reminders_to(&sent, "noah@example.com").is_empty(),
        "{sent:#?}"
    );
    // The run's wake-up was armed, fired, and found the run ended.
    assert!(!d.fired.is_empty(), "no schedule fired: {:#?}", d.schedules);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_and_complaints_stop_email_through_the_aws_functions() {
    let mut d = Deployed::new().await;
    let lines = lines("shopify-checkout-abandoned.jsonl");
    // Up to the welcome email, before the reminder.
    d.run(&lines, "2026-11-23T15:30:00Z".parse().unwrap()).await;
    let sent = d.sent().await;
    let welcome = sent
        .iter()
        .find(|e| e.destinations.iter().any(|t| t == "maya@example.com"))
        .expect("a welcome email");
    let header = welcome.header("List-Unsubscribe").unwrap();
    let url = header.trim_start_matches('<').split('>').next().unwrap();
    // Links point at the feedback function's URL (STOREFLOW_LINKS_BASE_URL).
    let base = d.stack.function_env("EvaluateFunction")["STOREFLOW_LINKS_BASE_URL"].clone();
    let path = format!(
        "/{}",
        url.strip_prefix(base.as_str())
            .unwrap_or_else(|| panic!("{url} under {base}"))
            .trim_start_matches('/')
    );
    let now: Timestamp = "2026-11-23T15:31:00Z".parse().unwrap();

    // A forged token is refused; the page is shown for a good one.
    let forged = format!(
        "{}0",
        path.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(d.feedback.http("POST", &forged, b"", now).await.0, 404);
    let (status, _, page) = d.feedback.http("GET", &path, b"", now).await;
    assert_eq!(status, 200);
    assert!(page.contains("<form method=post>"), "{page}");
    // The page links to the preference centre: the same pages as serve's.
    let token = page
        .split("href=\"../preferences/")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("a preferences link on {page}"));
    let prefs = format!("/preferences/{token}");
    let (status, _, prefs_page) = d.feedback.http("GET", &prefs, b"", now).await;
    assert_eq!(status, 200, "{prefs_page}");
    assert!(
        prefs_page.contains("maya@example.com")
            && prefs_page.contains("name=email value=on checked"),
        "{prefs_page}"
    );
    // Nothing but the link pages answers on this public URL.
    assert_eq!(
        d.feedback
            .http("GET", "/profiles/maya@example.com", b"", now)
            .await
            .0,
        404
    );

    // One click: the consent change goes through evaluate like any event,
    // and the 16:00 reminder (marketing) is not sent.
    let (status, _, body) = d
        .feedback
        .http("POST", &path, b"List-Unsubscribe=One-Click", now)
        .await;
    assert_eq!(status, 200, "{body}");
    d.settle(now).await;
    d.run(&lines, "2026-11-23T20:00:00Z".parse().unwrap()).await;
    let sent = d.sent().await;
    assert!(
        reminders_to(&sent, "maya@example.com").is_empty(),
        "{sent:#?}"
    );

    // A complaint suppresses the address: even a transactional message to
    // it is not sent, and the ledger of the complained message says so.
    let message = welcome.header("X-Storeflow-Message").unwrap();
    let complaint = serde_json::json!({
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "Maya@Example.com"}]},
        "mail": {"destination": ["maya@example.com"], "tags": {"message": [message]}}
    });
    let r = d.feedback.ses_event(&complaint, now).await.unwrap();
    assert_eq!(r.suppressed, vec!["maya@example.com".to_string()]);
    let again = d.feedback.ses_event(&complaint, now).await.unwrap();
    assert!(again.suppressed.is_empty(), "the first reason is kept");
    let receipt = storeflow_core::model::decision::Message {
        id: "order-receipt-1".into(),
        marketing: false,
        ..serde_json::from_str::<storeflow_aws::queues::Handoff>(
            &d.send_records.lock().unwrap()[0].body,
        )
        .unwrap()
        .message
    };
    let result = d.senders.send(&receipt, None, now).await;
    assert!(
        matches!(&result, Err(storeflow_app::ports::DeliverError::Permanent(w)) if w.contains("suppressed")),
        "{result:?}"
    );
    assert!(!moto_sent_emails()
        .values()
        .any(|e| e.header("X-Storeflow-Message").as_deref() == Some("order-receipt-1")));
}

/// What the sample Shopify deliveries cost in DynamoDB capacity, per
/// function, as the table reported it (`ReturnConsumedCapacity`); the
/// figures in BENCHMARKS.md come from this test's output
/// (`cargo test -p storeflow-tests --test aws_pipeline write_units -- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_units_per_delivery_on_the_starter_pack() {
    let mut d = Deployed::new().await;
    let all = starter_sample();
    let until = all.last().unwrap().at + jiff::SignedDuration::from_hours(24 * 7);
    d.run(&all, until).await;

    let n = all.len() as f64;
    let (ir, iw, ic) = d.table.meter.totals();
    let (er, ew, ec) = d.pipeline.app.store.meter.totals();
    let (sr, sw, sc) = d.senders.table.meter.totals();
    let sent = d.sent().await.len();
    println!(
        "{} Shopify deliveries, {} schedules fired, {sent} emails",
        all.len(),
        d.fired.len()
    );
    println!("function   calls   RCU      WCU      WCU/delivery");
    for (name, r, w, c) in [
        ("ingest", ir, iw, ic),
        ("evaluate+scheduler", er, ew, ec),
        ("send", sr, sw, sc),
    ] {
        println!("{name:<19}{c:>6} {r:>8.1} {w:>8.1} {:>8.2}", w / n);
    }
    println!("\ncall (function)                        calls    RCU      WCU");
    for (f, m) in [
        ("ingest", &d.table.meter),
        ("evaluate", &d.pipeline.app.store.meter),
        ("send", &d.senders.table.meter),
    ] {
        for (call, t) in m.by_call() {
            println!(
                "{:<38}{:>6} {:>8.1} {:>8.1}",
                format!("{call} ({f})"),
                t.calls,
                t.read_units,
                t.write_units
            );
        }
    }
    // What the writes are made of: the stored size of each kind of item.
    let items = d
        .table
        .client
        .scan()
        .table_name(&d.table.name)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut sizes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in &items {
        let pk = i["pk"].as_s().unwrap();
        let kind = pk.split('#').next().unwrap().to_string();
        let size: usize = i
            .iter()
            .map(|(k, v)| {
                k.len()
                    + match v {
                        aws_sdk_dynamodb::types::AttributeValue::B(b) => b.as_ref().len(),
                        aws_sdk_dynamodb::types::AttributeValue::S(s) => s.len(),
                        aws_sdk_dynamodb::types::AttributeValue::N(n) => n.len(),
                        _ => 8,
                    }
            })
            .sum();
        sizes.entry(kind).or_default().push(size);
    }
    for (kind, mut v) in sizes {
        v.sort();
        println!(
            "{kind:<8} items {:>4}  median {:>6} B  max {:>6} B",
            v.len(),
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
    // The largest customer state, field by field (each packed alone).
    let largest = items
        .iter()
        .filter(|i| i["pk"].as_s().unwrap().starts_with("profile#"))
        .filter_map(|i| i.get("state").and_then(|v| v.as_b().ok()))
        .max_by_key(|b| b.as_ref().len());
    if let Some(bytes) = largest {
        let state: serde_json::Value = storeflow_aws::codec::unpack(bytes.as_ref()).unwrap();
        println!("largest state: {} B packed", bytes.as_ref().len());
        // For looking at it whole: STOREFLOW_DUMP_STATE=/tmp/state.json.
        if let Ok(path) = std::env::var("STOREFLOW_DUMP_STATE") {
            std::fs::write(path, state.to_string()).unwrap();
        }
        for (field, v) in state.as_object().unwrap() {
            let packed = storeflow_aws::codec::pack(v).unwrap().len();
            println!(
                "  {field:<16} {:>6} B JSON {packed:>6} B packed",
                v.to_string().len()
            );
        }
    }
    let per = (iw + ew + sw) / n;
    println!(
        "total WCU per delivery: {per:.2}; RCU per delivery: {:.2}",
        (ir + er + sr) / n
    );
    assert!(iw > 0.0 && ew > 0.0, "the meter saw the writes");
}

/// The promotion calendar on AWS: the calendar cron after the campaign's
/// start (Nov 24, 00:00 in the store's zone) claims the start once and
/// enrols the `subscribers` segment by scan pages on the timers queue; each
/// member's run waits until the warm-up (Nov 25, 10:00 local), which goes
/// out through SES once per subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_calendar_enrols_its_segment_and_sends_the_warm_up_through_the_aws_functions()
{
    use storeflow_aws::handlers::scheduler::Fired;
    let mut d = Deployed::new().await;
    let before: Timestamp = "2026-11-24T04:00:00Z".parse().unwrap();
    let week: Vec<DeliveryLine> = lines("platform-week.jsonl")
        .into_iter()
        .filter(|l| l.source == storeflow_ingest::Source::Shopify && l.at <= before)
        .collect();
    d.run(&week, before).await;

    // Before the start, a tick does nothing.
    let early = scheduler::fire(&d.scheduling, &TimerMessage::Calendar, before, false)
        .await
        .unwrap();
    assert_eq!(early, Fired::Calendar(Default::default()));
    // After it, one tick starts it; the next finds it started.
    let tick: Timestamp = "2026-11-24T05:05:00Z".parse().unwrap();
    let first = scheduler::fire(&d.scheduling, &TimerMessage::Calendar, tick, false)
        .await
        .unwrap();
    let Fired::Calendar(c) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        c.started,
        vec![(
            "black_friday_2026".to_string(),
            "2026-11-24T05:00:00Z".parse().unwrap()
        )]
    );
    let second = scheduler::fire(&d.scheduling, &TimerMessage::Calendar, tick, false)
        .await
        .unwrap();
    assert_eq!(second, Fired::Calendar(Default::default()));
    d.settle(tick).await;

    d.run(&[], "2026-11-26T00:00:00Z".parse().unwrap()).await;
    let warmups: Vec<String> = d
        .sent()
        .await
        .iter()
        .filter(|e| e.header("Subject").as_deref() == Some("Black Friday starts Friday"))
        .filter_map(|e| e.header("To"))
        .collect();
    assert!(!warmups.is_empty(), "no warm-up went out");
    let mut unique = warmups.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), warmups.len(), "one warm-up each: {warmups:?}");
}

/// The same deliveries through the AWS functions and through the
/// simulator give the same reports: the table's daily rollups (atomic
/// adds, read by day) count what the simulator's facts count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_from_the_tables_rollups_equal_the_simulators() {
    let mut d = Deployed::new().await;
    let files = [
        "platform-week.jsonl",
        "shopify-checkout-abandoned.jsonl",
        "shopify-checkout-ordered.jsonl",
    ];
    let text: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(repo_root().join("events").join(f))
                .unwrap()
                .lines()
                .filter(|l| l.contains("\"source\": \"shopify\""))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut all: Vec<DeliveryLine> = text
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all.sort_by_key(|l| l.at);
    let until: Timestamp = "2026-12-10T00:00:00Z".parse().unwrap();
    d.run(&all, until).await;

    let events = temp_dir("rollup-conformance").join("shopify.jsonl");
    std::fs::write(&events, text.join("\n")).unwrap();
    let config = repo_root().join("examples/starter");
    let period = [
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-12-10T00:00:00Z",
    ];
    for which in ["flows", "messages", "segments"] {
        let simulated = {
            let mut args = vec![
                "report",
                which,
                "--config",
                config.to_str().unwrap(),
                "--events",
                events.to_str().unwrap(),
                "--until",
                "2026-12-10T00:00:00Z",
                "--format",
                "json",
            ];
            args.extend(period);
            let (code, out, err) = storeflow_tests::storeflow(&args);
            assert_eq!(code, 0, "{err}");
            serde_json::from_str::<Value>(&out).unwrap()
        };
        let stored = {
            let mut args: Vec<String> = [
                "report",
                which,
                "--dynamodb-table",
                d.table.name.as_str(),
                "--format",
                "json",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(period.iter().map(|s| s.to_string()));
            // The command runs its own runtime: off this test's.
            let (code, out, err) = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                storeflow_tests::storeflow(&refs)
            })
            .await
            .unwrap();
            assert_eq!(code, 0, "{err}");
            serde_json::from_str::<Value>(&out).unwrap()
        };
        let rows = &stored["rows"];
        assert!(
            rows.as_array().is_some_and(|r| !r.is_empty()),
            "{which}: {stored:#}"
        );
        // Members now (the table's totals) equal members at the end here:
        // nothing happens after the period. The campaign (Black Friday) is
        // enrolled by the scheduler's calendar, which this run does not
        // fire (its own test above does).
        let expected: Vec<&Value> = simulated["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["flow"] != "black_friday_2026")
            .collect();
        let got: Vec<&Value> = rows.as_array().unwrap().iter().collect();
        assert_eq!(got, expected, "{which}");
    }
    let flows = storeflow_tests::storeflow(&["report", "cohorts", "--dynamodb-table", "x"]);
    assert_eq!(flows.0, 2);
    assert!(flows.2.contains("needs each order"), "{}", flows.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refit_cron_stores_each_shops_model_and_evaluate_reads_it_within_the_hour() {
    use storeflow_app::ports::Models;
    // The starter pack plus a segment that reads predictions: without one
    // the functions never read the model.
    let config = storeflow_tests::starter_copy("aws-refit");
    std::fs::write(
        config.join("segments/slipping.yaml"),
        "id: slipping\nname: Likely gone\ncondition:\n  metric: p_alive\n  lt: 0.5\n",
    )
    .unwrap();
    let mut d = Deployed::with_config(&config).await;
    let until: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
    d.run(&lines("shopify-checkout-ordered.jsonl"), until).await;
    let at: Timestamp = "2026-11-25T00:07:00Z".parse().unwrap();
    // The cron's input, as the template's schedule sends it.
    let refit: TimerMessage = serde_json::from_str(r#"{"kind":"refit"}"#).unwrap();
    let fired = scheduler::fire(&d.scheduling, &refit, at, false)
        .await
        .unwrap();
    assert_eq!(fired, scheduler::Fired::Refitted(1));
    let histories = d.table.order_histories().await.unwrap();
    assert_eq!(histories.len(), 1, "one customer ordered: {histories:?}");
    let shop = histories[0].0.clone();
    let stored = d.table.load_model(&shop).await.unwrap().expect("saved");
    assert_eq!(stored.customers, 1);
    assert_eq!(stored.as_of.to_string(), "2026-11-26");
    assert_eq!(
        d.scheduling.app.engine.model(&shop).as_deref(),
        Some(&stored)
    );
    // Evaluate (another function) reads it before its next input of the
    // shop, then trusts it for an hour.
    assert!(d.pipeline.app.engine.model(&shop).is_none());
    d.pipeline.fresh_model(&shop, at).await;
    assert_eq!(d.pipeline.app.engine.model(&shop).as_deref(), Some(&stored));
    let mut newer = stored.clone();
    newer.reason = "refitted again".into();
    d.table.save_model(&shop, &newer).await.unwrap();
    let later = at + jiff::SignedDuration::from_mins(59);
    d.pipeline.fresh_model(&shop, later).await;
    assert_eq!(d.pipeline.app.engine.model(&shop).as_deref(), Some(&stored));
    let hour = at + jiff::SignedDuration::from_mins(60);
    d.pipeline.fresh_model(&shop, hour).await;
    assert_eq!(d.pipeline.app.engine.model(&shop).as_deref(), Some(&newer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_delivery_event_counts_its_message_delivered_once() {
    let mut d = Deployed::new().await;
    // The starter sample: its checkout reminder goes by SMS too.
    let all = starter_sample();
    let until: Timestamp = "2026-11-26T00:00:00Z".parse().unwrap();
    d.run(&all, until).await;
    let h: storeflow_aws::queues::Handoff = d
        .send_records
        .lock()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str::<storeflow_aws::queues::Handoff>(&r.body).unwrap())
        .find(|h| h.message.channel == storeflow_core::model::channel::Channel::Sms)
        .expect("the checkout reminder's SMS went through the send queue");
    // End User Messaging SMS's event as its SNS destination delivers it:
    // the context is what the send function set on the message.
    let context: serde_json::Map<String, Value> =
        storeflow_aws::outgoing::attribution(&h.message, Some((&h.shop, &h.profile)))
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
    let at = h.at + jiff::SignedDuration::from_secs(4);
    let event = |kind: &str, last: bool| {
        serde_json::json!({
            "eventType": kind, "eventVersion": "1.0", "eventTimestamp": at.as_millisecond(),
            "isFinal": last, "originationPhoneNumber": "+12065550152",
            "destinationPhoneNumber": h.message.to, "messageId": "862a8790-60c0-4430-9b2b-658bdexample",
            "messageType": "TRANSACTIONAL", "messageStatus": "DELIVERED", "context": context,
        })
    };
    let sns = |events: &[Value]| {
        let records: Vec<Value> = events
            .iter()
            .map(|e| serde_json::json!({"EventSource": "aws:sns", "Sns": {"Message": e.to_string()}}))
            .collect();
        serde_json::json!({ "Records": records })
    };
    use storeflow_core::results::facts::Lifecycle;
    // Queued, then accepted by the carrier, then delivered: only the final
    // event counts. A message that is not an SMS event is skipped.
    let counted = d
        .feedback
        .sns(
            &sns(&[
                event("TEXT_QUEUED", false),
                event("TEXT_SUCCESSFUL", false),
                serde_json::json!({"hello": "world"}),
                event("TEXT_DELIVERED", true),
            ]),
            until,
        )
        .await
        .unwrap();
    assert_eq!(counted, vec![Lifecycle::Delivered]);
    let day = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    let (days, _) = d.feedback.table.read_rollups(day, day).await.unwrap();
    let counters = days
        .iter()
        .find(|((_, scope), _)| matches!(scope, storeflow_core::results::rollup::Scope::Message { step, channel, .. } if *step == h.message.step && channel == "sms"))
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("the SMS's counters: {days:?}"));
    assert_eq!(counters.get("delivered"), Some(&1.0), "{counters:?}");
    assert_eq!(counters.get("sent"), Some(&1.0), "{counters:?}");
    // A carrier's refusal of another SMS is a bounce.
    let counted = d
        .feedback
        .sns(&sns(&[event("TEXT_CARRIER_BLOCKED", true)]), until)
        .await
        .unwrap();
    assert_eq!(counted, vec![Lifecycle::Bounced]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_statuses_count_a_message_delivered_once_whether_delivered_or_read() {
    use storeflow_core::results::facts::Lifecycle;
    let d = Deployed::new().await;
    let shop = storeflow_core::model::ids::ShopId::parse("northwind.myshopify.com").unwrap();
    let profile = storeflow_core::model::ids::ProfileId::parse("p_wa").unwrap();
    let message = |id: &str| storeflow_core::Message {
        id: id.into(),
        channel: storeflow_core::model::channel::Channel::Whatsapp,
        to: "+33612345678".into(),
        template: "shipping_update".into(),
        marketing: false,
        priority: "transactional".into(),
        content: storeflow_core::template::Rendered {
            body: Some("On its way".into()),
            ..Default::default()
        },
        unsubscribe_url: None,
        from: None,
        flow: "shipping_updates".into(),
        version: 1,
        step: "shipping_whatsapp".into(),
        variant: None,
    };
    // The send function's ledger entries of two messages it sent; the
    // Cloud API message it sent carries the callback data WhatsApp returns.
    for id in ["wa1", "wa2"] {
        let mut item = storeflow_aws::table::key(storeflow_aws::keys::ledger_pk(id), "sent");
        item.insert("status".into(), storeflow_aws::table::s("sent"));
        d.table.put(item).await.unwrap();
    }
    let data = |id: &str| {
        storeflow_aws::whatsapp::cloud_api_message(&message(id), Some((&shop, &profile))).unwrap()
            ["biz_opaque_callback_data"]
            .clone()
    };
    let status = |id: &str, st: &str| {
        serde_json::json!({"id": format!("wamid.{id}"), "status": st, "timestamp": "1795446000",
            "recipient_id": "33612345678", "biz_opaque_callback_data": data(id)})
    };
    // As End User Messaging Social publishes Meta's webhook entry to SNS.
    let sns = |statuses: Vec<Value>| {
        let entry = serde_json::json!({"id": "1234567890", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "statuses": statuses}}]});
        let event = serde_json::json!({"context": {"MetaWabaIds": [], "MetaPhoneNumberIds": []},
            "whatsAppWebhookEntry": entry.to_string(), "aws_account_id": "123456789012",
            "message_timestamp": "2026-11-23T16:00:00Z", "messageId": "6d69f07a"});
        serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": event.to_string()}}]})
    };
    let now: Timestamp = "2026-11-23T16:00:10Z".parse().unwrap();
    let counted = d
        .feedback
        .sns(
            &sns(vec![status("wa1", "sent"), status("wa1", "delivered")]),
            now,
        )
        .await
        .unwrap();
    assert_eq!(counted, vec![Lifecycle::Delivered]);
    // Read after delivered, and SNS delivering the same entry twice: once.
    let again = d
        .feedback
        .sns(
            &sns(vec![status("wa1", "read"), status("wa1", "delivered")]),
            now,
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    // Another read at once (no `delivered` ever comes) still counts; a
    // failed one bounces; one the table never sent counts nothing.
    let more = d
        .feedback
        .sns(
            &sns(vec![
                status("wa2", "read"),
                status("wa3", "delivered"),
                status("wa2", "failed"),
            ]),
            now,
        )
        .await
        .unwrap();
    assert_eq!(more, vec![Lifecycle::Delivered, Lifecycle::Bounced]);
    let day = jiff::civil::date(2026, 11, 23);
    let (days, _) = d.feedback.table.read_rollups(day, day).await.unwrap();
    let counters = days
        .iter()
        .find(|((_, scope), _)| matches!(scope, storeflow_core::results::rollup::Scope::Message { channel, .. } if channel == "whatsapp"))
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("the WhatsApp counters: {days:?}"));
    assert_eq!(counters.get("delivered"), Some(&2.0), "{counters:?}");
    assert_eq!(counters.get("bounced"), Some(&1.0), "{counters:?}");
}
