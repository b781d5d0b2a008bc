//! The send function's other channels on AWS: SMS through End User Messaging
//! SMS, WhatsApp through End User Messaging Social, and signed webhook POSTs,
//! each behind the same send ledger as SES email.
//!
//! moto implements neither End User Messaging API, so a recording HTTP
//! server on this machine answers them the way the services do (the
//! `awsJson1_0` protocol of `pinpoint-sms-voice-v2`, the REST-JSON of
//! `socialmessaging`). The SDK is pointed at it exactly as a user would
//! point it at any endpoint: `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2` and
//! `AWS_ENDPOINT_URL_SOCIALMESSAGING`. The send ledger is on DynamoDB Local,
//! the table built from `infra/template.yaml`, and the send function's
//! environment is the template's, with the stack parameters a merchant sets
//! to turn the channels on.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};
use storeflow_app::ports::{DeliverError, Delivered};
use storeflow_aws::env::Env;
use storeflow_aws::sending::Senders;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::model::{channel::Channel, decision::Message};
use storeflow_core::template::Rendered;
use storeflow_tests::aws::{sdk_config, Stack};
use storeflow_tests::ts;

const WEBHOOK_SECRET: &str = "whsec_c3RvcmVmbG93LXRlc3Qtd2ViaG9vay1zZWNyZXQ=";

/// One request the recording server received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

impl Recorder {
    /// The requests whose body or path contains `needle` (tests use their
    /// own phone numbers and paths, so they never see each other's).
    fn matching(&self, needle: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.body.contains(needle) || s.path.contains(needle))
            .cloned()
            .collect()
    }
}

/// Answers like the services (and like a merchant's webhook receiver): the
/// destination decides the outcome, so each test picks its own.
async fn answer(
    State(rec): State<Arc<Recorder>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let earlier = rec.matching(&seen.path).len();
    let n = {
        let mut all = rec.seen.lock().unwrap();
        all.push(seen.clone());
        all.len()
    };
    let aws_json = |status: StatusCode, v: Value| {
        (
            status,
            [("content-type", "application/x-amz-json-1.0")],
            v.to_string(),
        )
            .into_response()
    };
    if seen.header("x-amz-target") == "PinpointSMSVoiceV2.SendTextMessage" {
        let to = seen.json()["DestinationPhoneNumber"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let tries = rec.matching(&to).len();
        return if to.ends_with("666") {
            aws_json(
                StatusCode::BAD_REQUEST,
                json!({"__type": "ConflictException", "Message": "The destination phone number is opted out.",
                       "Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "ResourceType": "opt-out-list", "ResourceId": "Default"}),
            )
        } else if to.ends_with("500") && tries == 1 {
            aws_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"__type": "InternalServerException", "Message": "try again"}),
            )
        } else {
            aws_json(StatusCode::OK, json!({"MessageId": format!("sms-{n}")}))
        };
    }
    if seen.path == "/v1/whatsapp/send" {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            json!({"messageId": format!("wa-{n}")}).to_string(),
        )
            .into_response();
    }
    if let Some(rest) = seen.path.strip_prefix("/hooks/") {
        let verified = storeflow_channels::webhook::verify(
            WEBHOOK_SECRET,
            seen.header("webhook-id"),
            seen.header("webhook-timestamp"),
            seen.header("webhook-signature"),
            &seen.body,
            Timestamp::now(),
            std::time::Duration::from_secs(300),
        );
        if let Err(e) = verified {
            return (StatusCode::UNAUTHORIZED, e).into_response();
        }
        return match rest.split('/').next() {
            Some("flaky") if earlier == 0 => {
                (StatusCode::SERVICE_UNAVAILABLE, "down for a moment").into_response()
            }
            Some("gone") => (StatusCode::GONE, "this hook was removed").into_response(),
            _ => (StatusCode::NO_CONTENT, "").into_response(),
        };
    }
    (StatusCode::NOT_FOUND, format!("no route {}", seen.path)).into_response()
}

/// The recording server, started once per test binary on its own thread,
/// and the endpoint variables set before any test loads the SDK
/// configuration (every test calls this first).
fn recorder() -> &'static (Arc<Recorder>, String) {
    static REC: OnceLock<(Arc<Recorder>, String)> = OnceLock::new();
    REC.get_or_init(|| {
        let rec = Arc::new(Recorder::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(answer).with_state(rec.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let l = tokio::net::TcpListener::from_std(listener).unwrap();
                    axum::serve(l, app).await.unwrap();
                })
        });
        // Set once, while every other test waits on this OnceLock and
        // before any of them reads the environment.
        std::env::set_var("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", &url);
        std::env::set_var("AWS_ENDPOINT_URL_SOCIALMESSAGING", &url);
        (rec, url)
    })
}

/// The send function's dependencies from the template's environment plus
/// `extra` (the stack parameters a merchant sets), on a fresh stack.
async fn senders(extra: &[(&str, &str)]) -> (Senders, Stack) {
    recorder();
    let aws = sdk_config().await;
    // One attempt per call: the test sees each refusal, not the SDK's retries.
    let aws = aws
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let stack = Stack::create(&aws).await;
    let mut vars = stack.function_env("SendFunction");
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let senders = storeflow_aws::wiring::senders(&Env(vars.into_iter().collect()), &aws)
        .await
        .expect("send wiring");
    (senders, stack)
}

fn message(id: &str, channel: Channel, to: &str, body: &str, marketing: bool) -> Message {
    Message {
        id: id.into(),
        channel,
        to: to.into(),
        template: "checkout_sms".into(),
        marketing,
        priority: "checkout".into(),
        content: Rendered {
            locale: "en".into(),
            body: Some(body.into()),
            ..Default::default()
        },
        unsubscribe_url: None,
        from: None,
        flow: "checkout_abandonment".into(),
        version: 3,
        step: "sms".into(),
        variant: None,
    }
}

fn customer() -> (ShopId, ProfileId) {
    (
        ShopId::parse("northwind.myshopify.com").unwrap(),
        ProfileId::parse("p-maya").unwrap(),
    )
}

#[tokio::test]
async fn an_sms_goes_out_once_through_end_user_messaging_with_its_kind_and_attribution() {
    let (s, _stack) = senders(&[
        ("STOREFLOW_SMS_ORIGINATION_IDENTITY", "+18005550100"),
        ("STOREFLOW_SMS_CONFIGURATION_SET", "storeflow-sms"),
    ])
    .await;
    let (shop, profile) = customer();
    let now = ts("2026-11-22T15:00:00Z");
    let m = message(
        "sms-m1",
        Channel::Sms,
        "+15550101001",
        "Your cart is waiting: https://northwind.example/cart",
        true,
    );
    let first = s
        .send(&m, Some((&shop, &profile)), now)
        .await
        .expect("sent");
    assert!(
        matches!(first, Delivered::Sent(ref id) if id.starts_with("sms-")),
        "{first:?}"
    );
    let again = s
        .send(&m, Some((&shop, &profile)), now)
        .await
        .expect("ledger");
    assert!(matches!(again, Delivered::Already(_)), "{again:?}");

    let seen = recorder().0.matching("+15550101001");
    assert_eq!(
        seen.len(),
        1,
        "a redelivered message is not sent again: {seen:?}"
    );
    let req = seen[0].json();
    assert_eq!(req["DestinationPhoneNumber"], "+15550101001");
    assert_eq!(req["OriginationIdentity"], "+18005550100");
    assert_eq!(req["MessageType"], "PROMOTIONAL");
    assert_eq!(req["ConfigurationSetName"], "storeflow-sms");
    assert_eq!(
        req["MessageBody"],
        "Your cart is waiting: https://northwind.example/cart"
    );
    assert_eq!(req["Context"]["flow"], "checkout_abandonment");
    assert_eq!(req["Context"]["message"], "sms-m1");
    assert_eq!(req["Context"]["profile"], "p-maya");
    assert!(
        seen[0]
            .header("authorization")
            .starts_with("AWS4-HMAC-SHA256"),
        "the request is signed like any AWS call"
    );

    // A transactional message (a shipping update) is sent as one.
    let t = message(
        "sms-m2",
        Channel::Sms,
        "+15550101002",
        "Your order is out for delivery",
        false,
    );
    s.send(&t, None, now).await.expect("sent");
    assert_eq!(
        recorder().0.matching("+15550101002")[0].json()["MessageType"],
        "TRANSACTIONAL"
    );
}

#[tokio::test]
async fn an_opted_out_number_is_final_and_a_provider_error_is_retried_once_it_recovers() {
    let (s, _stack) = senders(&[("STOREFLOW_SMS_ORIGINATION_IDENTITY", "+18005550100")]).await;
    let now = ts("2026-11-22T15:00:00Z");

    let stop = message("sms-stop", Channel::Sms, "+15550102666", "Hi", true);
    let e = s.send(&stop, None, now).await.unwrap_err();
    assert!(
        matches!(&e, DeliverError::Permanent(why) if why.contains("ConflictException")),
        "{e:?}"
    );
    // Settled as failed: a redelivery does not call the service again.
    s.send(&stop, None, now).await.expect("ledger");
    assert_eq!(recorder().0.matching("+15550102666").len(), 1);

    // The service fails once (500): the claim is withdrawn, so the queue's
    // redelivery sends it — once.
    let m = message("sms-retry", Channel::Sms, "+15550102500", "Hi", false);
    let e = s.send(&m, None, now).await.unwrap_err();
    assert!(matches!(e, DeliverError::Transient(_)), "{e:?}");
    let sent = s.send(&m, None, now).await.expect("second try");
    assert!(matches!(sent, Delivered::Sent(_)), "{sent:?}");
    let again = s.send(&m, None, now).await.expect("third");
    assert!(matches!(again, Delivered::Already(_)), "{again:?}");
    assert_eq!(recorder().0.matching("+15550102500").len(), 2);
}

#[tokio::test]
async fn whatsapp_sends_text_or_a_rendered_template_through_end_user_messaging_social() {
    let (s, _stack) = senders(&[(
        "STOREFLOW_WHATSAPP_PHONE_NUMBER_ID",
        "phone-number-id-0123456789abcdef0123456789abcdef",
    )])
    .await;
    let now = ts("2026-11-22T15:00:00Z");
    let text = message(
        "wa-1",
        Channel::Whatsapp,
        "+33612340001",
        "Your parcel is on its way",
        false,
    );
    assert!(matches!(
        s.send(&text, None, now).await.expect("sent"),
        Delivered::Sent(_)
    ));
    let tpl = message(
        "wa-2",
        Channel::Whatsapp,
        "+33612340002",
        r#"{"type":"template","template":{"name":"cart_reminder","language":{"code":"fr"}}}"#,
        true,
    );
    s.send(&tpl, None, now).await.expect("sent");
    s.send(&tpl, None, now).await.expect("ledger");

    let sent: Vec<Value> = recorder()
        .0
        .matching("/v1/whatsapp/send")
        .iter()
        .map(|r| {
            let req = r.json();
            assert_eq!(
                req["originationPhoneNumberId"],
                "phone-number-id-0123456789abcdef0123456789abcdef"
            );
            assert_eq!(req["metaApiVersion"], "v20.0");
            let blob = base64::engine::general_purpose::STANDARD
                .decode(req["message"].as_str().expect("message blob"))
                .expect("base64");
            serde_json::from_slice(&blob).expect("a Cloud API message")
        })
        .filter(|m: &Value| {
            m["to"]
                .as_str()
                .is_some_and(|to| to.starts_with("3361234000"))
        })
        .collect();
    assert_eq!(sent.len(), 2, "one request per message: {sent:?}");
    let by_to = |to: &str| sent.iter().find(|m| m["to"] == to).expect(to).clone();
    let t = by_to("33612340001");
    assert_eq!(t["messaging_product"], "whatsapp");
    assert_eq!(t["type"], "text");
    assert_eq!(t["text"]["body"], "Your parcel is on its way");
    let m = by_to("33612340002");
    assert_eq!(m["type"], "template");
    assert_eq!(m["template"]["name"], "cart_reminder");
}

#[tokio::test]
async fn a_webhook_step_is_a_signed_post_retried_until_the_receiver_takes_it() {
    let (s, stack) = senders(&[]).await;
    assert!(
        !s.router
            .has(storeflow_core::model::channel::Channel::Webhook),
        "no secret, no webhooks"
    );
    // The operator puts the signing secret in SSM and names it (the
    // stack's WebhookSigningSecretParameter).
    let param = format!("/{}/webhooks/signing-secret", stack.prefix);
    aws_sdk_ssm::Client::new(&sdk_config().await)
        .put_parameter()
        .name(&param)
        .value(WEBHOOK_SECRET)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("SSM parameter");
    let (s, _stack) = senders(&[("STOREFLOW_WEBHOOK_SIGNING_SECRET_PARAM", &param)]).await;
    let base = &recorder().1;
    let now = Timestamp::now();
    let body = r#"{"profile":{"email":"maya@example.com"},"flow":"vip"}"#;

    let flaky = message(
        "hook-flaky",
        Channel::Webhook,
        &format!("{base}/hooks/flaky/{}", stack.prefix),
        body,
        false,
    );
    let e = s.send(&flaky, None, now).await.unwrap_err();
    assert!(
        matches!(&e, DeliverError::Transient(why) if why.contains("503")),
        "{e:?}"
    );
    let ok = s.send(&flaky, None, now).await.expect("the retry");
    assert_eq!(ok, Delivered::Sent("HTTP 204".into()));
    assert!(matches!(
        s.send(&flaky, None, now).await.expect("ledger"),
        Delivered::Already(_)
    ));
    let seen = recorder()
        .0
        .matching(&format!("/hooks/flaky/{}", stack.prefix));
    assert_eq!(seen.len(), 2, "the failed POST and its retry, no more");
    for r in &seen {
        // The receiver verified each signature (or it would have said 401),
        // and the retry carries the same id to deduplicate on.
        assert_eq!(r.header("webhook-id"), "hook-flaky");
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.body, body);
    }

    let gone = message(
        "hook-gone",
        Channel::Webhook,
        &format!("{base}/hooks/gone/{}", stack.prefix),
        body,
        false,
    );
    let e = s.send(&gone, None, now).await.unwrap_err();
    assert!(
        matches!(&e, DeliverError::Permanent(why) if why.contains("410") && why.contains("removed")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_channel_the_stack_does_not_configure_is_refused_before_anything_is_claimed() {
    let (s, _stack) = senders(&[]).await;
    let now = ts("2026-11-22T15:00:00Z");
    let m = message("sms-none", Channel::Sms, "+15550103001", "Hi", false);
    let e = s.send(&m, None, now).await.unwrap_err();
    assert!(
        matches!(&e, DeliverError::Permanent(why) if why.contains("SmsOriginationIdentity")),
        "{e:?}"
    );
    assert!(recorder().0.matching("+15550103001").is_empty());
    // Nothing was claimed: once the stack has SMS, the message goes out.
    let ledger = s
        .table
        .get(
            storeflow_aws::table::key(storeflow_aws::keys::ledger_pk("sms-none"), "sent"),
            true,
        )
        .await
        .expect("read");
    assert!(ledger.is_none());
}
