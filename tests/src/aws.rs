//! AWS test support on emulators: DynamoDB Local and moto server, which
//! `scripts/test` starts (see `scripts/emulators`). Tables and queues are
//! created from `infra/template.yaml` under per-test unique names, so tests
//! run in parallel against one emulator each.
//!
//! Nothing here names an endpoint: the SDK reads `AWS_ENDPOINT_URL` (moto) and
//! `AWS_ENDPOINT_URL_DYNAMODB` (DynamoDB Local) like any deployed function
//! reads its environment. A test that needs the emulators fails, never skips,
//! when they are missing: CI always starts them, and a silent skip would hide
//! a broken start.

use crate::template::{get_att, Template};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

/// Loads the SDK configuration for the emulators. Panics with what to do when
/// they are not running, and refuses any endpoint off this machine so a test
/// can never create resources in a real AWS account.
pub async fn sdk_config() -> SdkConfig {
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
        endpoint(var);
    }
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The value of an endpoint variable, checked to be a loopback HTTP URL.
pub fn endpoint(var: &str) -> String {
    let url = std::env::var(var).unwrap_or_default();
    if url.is_empty() {
        panic!(
            "{var} is not set: this test needs the AWS emulators (moto server on \
             AWS_ENDPOINT_URL, DynamoDB Local on AWS_ENDPOINT_URL_DYNAMODB). Run it through \
             scripts/test, which starts both, or start them in your shell with \
             `source scripts/emulators` first."
        );
    }
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', ':']).next());
    if !matches!(host, Some("127.0.0.1" | "localhost")) {
        panic!("{var}={url}: emulator tests only run against http://127.0.0.1 or http://localhost");
    }
    url
}

/// A name no other test in this run uses: `prefix-<pid>-<n>`, within SQS's
/// 80-character limit for any prefix up to 60 characters.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Creates the DynamoDB table declared as `logical_id` in the template — its
/// attribute definitions, key schema, global secondary indexes, billing mode
/// and TTL attribute — under a unique name, and returns that name.
///
/// Point-in-time recovery and encryption settings are left out: DynamoDB
/// Local ignores them and no test observes them.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    template: &Template,
    logical_id: &str,
) -> String {
    let p = template.properties(logical_id);
    let name = unique_name(&format!("storeflow-{}", logical_id.to_lowercase()));
    let mut req = client.create_table().table_name(&name);
    for a in as_array(&p["AttributeDefinitions"], "AttributeDefinitions") {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(text(&a["AttributeType"])))
                .build()
                .expect("attribute definition"),
        );
    }
    req = req.set_key_schema(Some(key_schema(&p["KeySchema"])));
    for g in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        let projection = &g["Projection"];
        let mut proj = Projection::builder()
            .projection_type(ProjectionType::from(text(&projection["ProjectionType"])));
        for attr in projection["NonKeyAttributes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            proj = proj.non_key_attributes(text(attr));
        }
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(&g["IndexName"]))
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(proj.build())
                .build()
                .expect("global secondary index"),
        );
    }
    assert_eq!(
        p["BillingMode"], "PAY_PER_REQUEST",
        "{logical_id}: the helper only builds on-demand tables"
    );
    req.billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));

    let ttl = &p["TimeToLiveSpecification"];
    if ttl["Enabled"] == true {
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(&ttl["AttributeName"]))
                    .enabled(true)
                    .build()
                    .expect("ttl specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("enable TTL on {name}: {e:?}"));
    }
    name
}

fn key_schema(v: &Value) -> Vec<KeySchemaElement> {
    as_array(v, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"]))
                .key_type(KeyType::from(text(&k["KeyType"])))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// A queue created from the template, with its dead-letter queue if the
/// template gives it a redrive policy.
#[derive(Debug, Clone)]
pub struct Queue {
    pub logical_id: String,
    pub url: String,
    pub arn: String,
    pub dead_letter: Option<Box<Queue>>,
    /// Receives after which SQS moves a message to `dead_letter`.
    pub max_receive_count: Option<u32>,
}

/// The SQS queue properties that change how a queue behaves, as queue
/// attributes. Encryption settings are left out: moto does not encrypt.
const QUEUE_ATTRIBUTES: [&str; 6] = [
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
    "ContentBasedDeduplication",
];

/// Creates the SQS queue declared as `logical_id` — its timing attributes,
/// FIFO-ness, and its dead-letter queue (created first, from the template
/// too) with the template's `maxReceiveCount` — under unique names.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    template: &Template,
    logical_id: &str,
) -> Queue {
    let p = template.properties(logical_id);
    let fifo = p["FifoQueue"] == true;
    let mut attributes = HashMap::new();
    for name in QUEUE_ATTRIBUTES {
        if let Some(v) = scalar(&p[name]) {
            attributes.insert(QueueAttributeName::from(name), v);
        }
    }
    if fifo {
        attributes.insert(QueueAttributeName::FifoQueue, "true".to_string());
    }

    let mut dead_letter = None;
    let mut max_receive_count = None;
    let redrive = &p["RedrivePolicy"];
    if !redrive.is_null() {
        let (dlq_id, att) = get_att(&redrive["deadLetterTargetArn"]).unwrap_or_else(|| {
            panic!("{logical_id}: deadLetterTargetArn must be !GetAtt <queue>.Arn")
        });
        assert_eq!(att, "Arn", "{logical_id}: deadLetterTargetArn");
        let count = redrive["maxReceiveCount"]
            .as_u64()
            .unwrap_or_else(|| panic!("{logical_id}: maxReceiveCount must be a number"));
        let dlq = Box::pin(create_queue(client, template, dlq_id)).await;
        attributes.insert(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({ "deadLetterTargetArn": dlq.arn, "maxReceiveCount": count })
                .to_string(),
        );
        dead_letter = Some(Box::new(dlq));
        max_receive_count = Some(count as u32);
    }

    let mut name = unique_name(&format!("storeflow-{}", logical_id.to_lowercase()));
    if fifo {
        name.push_str(".fifo");
    }
    let url = client
        .create_queue()
        .queue_name(&name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"))
        .queue_url
        .expect("queue url");
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("queue arn of {name}: {e:?}"))
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("queue arn");
    Queue {
        logical_id: logical_id.to_string(),
        url,
        arn,
        dead_letter,
        max_receive_count,
    }
}

/// Every email moto's SES has accepted, as raw MIME text keyed by message id.
/// moto keeps them in its in-memory backend and shows them at
/// `/moto-api/data.json` (`ses.RawMessage`, one entry per send; SES v2
/// `SendEmail` with raw content lands there too).
pub fn moto_sent_emails() -> HashMap<String, SentEmail> {
    let data = moto_data();
    let mut sent = HashMap::new();
    for m in data["ses"]["RawMessage"].as_array().into_iter().flatten() {
        let id = text(&m["id"]).to_string();
        let destinations = m["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        sent.insert(
            id,
            SentEmail {
                source: m["source"].as_str().unwrap_or_default().to_string(),
                destinations,
                raw: m["raw_data"].as_str().unwrap_or_default().to_string(),
            },
        );
    }
    sent
}

/// One email as moto's SES recorded it.
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub source: String,
    pub destinations: Vec<String>,
    pub raw: String,
}

impl SentEmail {
    /// The text of every body part, decoded from base64 or
    /// quoted-printable as its `Content-Transfer-Encoding` says.
    pub fn decoded_text(&self) -> String {
        use base64::Engine as _;
        let mut out = String::new();
        let mut rest = self.raw.as_str();
        while let Some(i) = rest.find("Content-Transfer-Encoding:") {
            rest = &rest[i + "Content-Transfer-Encoding:".len()..];
            let encoding = rest
                .split("\r\n")
                .next()
                .unwrap_or_default()
                .trim()
                .to_lowercase();
            let Some(start) = rest.find("\r\n\r\n") else {
                break;
            };
            let body = &rest[start + 4..];
            let end = body.find("\r\n--").unwrap_or(body.len());
            let part = &body[..end];
            match encoding.as_str() {
                "base64" => {
                    let joined: String = part.split_whitespace().collect();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(joined)
                        .unwrap_or_default();
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                "quoted-printable" => out.push_str(&quoted_printable(part)),
                _ => out.push_str(part),
            }
            out.push('\n');
            rest = &body[end..];
        }
        out
    }

    /// The value of the first header with this name (case-insensitive),
    /// unfolded; `None` if the message has no such header.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self
            .raw
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .replace("\r\n ", " ")
            .replace("\r\n\t", " ");
        head.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// moto's whole in-memory state, from `GET {AWS_ENDPOINT_URL}/moto-api/data.json`.
/// A blocking HTTP/1.0 GET on a std socket is enough for one local call and
/// keeps an HTTP client crate out of the tests.
pub fn moto_data() -> Value {
    // moto builds this page by walking its live state, and answers 500 when
    // another test changes that state meanwhile ("dictionary changed size
    // during iteration"): ask again.
    for _ in 0..20 {
        if let Some(v) = moto_data_once() {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("moto-api/data.json kept answering 500");
}

/// One read of moto's state; `None` when moto answered 500.
fn moto_data_once() -> Option<Value> {
    let base = endpoint("AWS_ENDPOINT_URL");
    let authority = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = std::net::TcpStream::connect(&authority)
        .unwrap_or_else(|e| panic!("connect to moto at {authority}: {e}"));
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {authority}\r\n\r\n"
    )
    .expect("send request to moto");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read moto's answer");
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("moto answered without headers: {response}"));
    if head.split(' ').nth(1) == Some("500") {
        return None;
    }
    assert!(
        head.starts_with("HTTP/1.") && head.split(' ').nth(1) == Some("200"),
        "moto-api/data.json: {head}"
    );
    Some(
        serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("moto-api/data.json is not JSON: {e}")),
    )
}

fn as_array<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not a list in the template: {v}"))
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a literal string in the template, found {v}"))
}

/// A literal number, boolean or string as SQS attribute text; `None` if
/// absent. An intrinsic function here would be a template the helper cannot
/// reproduce, so it panics.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        other => panic!("expected a literal queue attribute in the template, found {other}"),
    }
}

/// The data plane of one deployed stack, built on the emulators from the
/// template under unique names: the table, every queue with its dead-letter
/// queue, a schedule group, an SES configuration set and a verified sender
/// domain. `function_env` gives each function the environment the template
/// declares for it, resolved against these names, so a handler under test
/// reads its configuration exactly as it would in Lambda.
pub struct Stack {
    pub template: Template,
    pub table: String,
    /// Queues by logical id, dead-letter queues included.
    pub queues: HashMap<String, Queue>,
    pub schedule_group: String,
    pub configuration_set: String,
    pub sender_domain: String,
    /// Prefixes the SSM parameter names, so parallel tests never share a secret.
    pub prefix: String,
}

/// moto's account: ARNs of things the emulators do not create (roles) use it.
pub const ACCOUNT: &str = "123456789012";

impl Stack {
    pub async fn create(config: &SdkConfig) -> Self {
        let template = Template::load();
        let prefix = unique_name("sf");
        let db = aws_sdk_dynamodb::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let table = create_table(&db, &template, "Table").await;

        // A queue that is another's redrive target is created with it.
        let queue_ids = template.ids_of_type("AWS::SQS::Queue");
        let redrive_targets: Vec<&str> = queue_ids
            .iter()
            .filter_map(|id| {
                get_att(&template.properties(id)["RedrivePolicy"]["deadLetterTargetArn"])
            })
            .map(|(dlq, _)| dlq)
            .collect();
        let mut queues = HashMap::new();
        for id in &queue_ids {
            if redrive_targets.contains(id) {
                continue;
            }
            let q = create_queue(&sqs, &template, id).await;
            if let Some(dlq) = &q.dead_letter {
                queues.insert(dlq.logical_id.clone(), (**dlq).clone());
            }
            queues.insert(id.to_string(), q);
        }

        let scheduler = aws_sdk_scheduler::Client::new(config);
        let schedule_group = format!("{prefix}-timers");
        scheduler
            .create_schedule_group()
            .name(&schedule_group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("schedule group {schedule_group}: {e:?}"));

        let ses = aws_sdk_sesv2::Client::new(config);
        let sender_domain = format!("{prefix}.example");
        ses.create_email_identity()
            .email_identity(&sender_domain)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SES identity {sender_domain}: {e:?}"));
        let configuration_set = format!("{prefix}-messages");
        ses.create_configuration_set()
            .configuration_set_name(&configuration_set)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SES configuration set {configuration_set}: {e:?}"));

        Self {
            template,
            table,
            queues,
            schedule_group,
            configuration_set,
            sender_domain,
            prefix,
        }
    }

    /// The secrets an operator puts in SSM before the first deploy
    /// (docs/AWS.md), under the parameter names the template gives the
    /// functions: the Shopify webhook secret and the link-signing key. The
    /// SHOPLINE and write-key parameters are left out, as a Shopify-only
    /// store would.
    pub async fn put_secrets(&self, config: &SdkConfig) {
        let ssm = aws_sdk_ssm::Client::new(config);
        let ingest = self.function_env("IngestFunction");
        let evaluate = self.function_env("EvaluateFunction");
        for (name, value) in [
            (
                &ingest["STOREFLOW_SHOPIFY_SECRETS_PARAM"],
                crate::SHOPIFY_SECRET,
            ),
            (
                &evaluate["STOREFLOW_LINK_SIGNING_KEY_PARAM"],
                "test-link-signing-key",
            ),
        ] {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap_or_else(|e| panic!("SSM {name}: {e:?}"));
        }
    }

    pub fn queue(&self, logical_id: &str) -> &Queue {
        self.queues
            .get(logical_id)
            .unwrap_or_else(|| panic!("the stack has no queue {logical_id}"))
    }

    /// The environment the template gives `function` (Globals merged with
    /// its own variables), every reference resolved against this stack.
    pub fn function_env(&self, function: &str) -> HashMap<String, String> {
        let global = &self.template.doc["Globals"]["Function"]["Environment"]["Variables"];
        let own = &self.template.properties(function)["Environment"]["Variables"];
        let mut env = HashMap::new();
        for vars in [global, own] {
            for (name, value) in vars.as_object().into_iter().flatten() {
                env.insert(name.clone(), self.resolve(value));
            }
        }
        env
    }

    /// A template value (literal, `Ref` or `GetAtt`) as the deployed stack
    /// would see it. Panics on anything else, naming it, so a template change
    /// that the tests cannot reproduce is caught here.
    pub fn resolve(&self, v: &Value) -> String {
        if let Some(s) = scalar_or_none(v) {
            return s;
        }
        if let Some(id) = crate::template::reference(v) {
            return self.resolve_ref(id);
        }
        // `!Sub "text ${Ref}"` with plain references (no `${X.Attr}`).
        if let Some(text) = v.get("Fn::Sub").and_then(Value::as_str) {
            let mut out = String::new();
            let mut rest = text;
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                let end = rest[i..].find('}').expect("closing brace in Fn::Sub") + i;
                out.push_str(&self.resolve_ref(&rest[i + 2..end]));
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            return out;
        }
        match get_att(v) {
            Some((q, "Arn")) if self.queues.contains_key(q) => self.queues[q].arn.clone(),
            Some((q, "QueueName")) if self.queues.contains_key(q) => self.queues[q]
                .url
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            Some(("SchedulerRole", "Arn")) => {
                format!("arn:aws:iam::{ACCOUNT}:role/{}-scheduler", self.prefix)
            }
            // The deployed URL is only known after a deploy; tests post to
            // the handler directly.
            Some(("FeedbackFunctionUrl", "FunctionUrl")) => {
                format!("https://unsubscribe.{}/", self.sender_domain)
            }
            _ => panic!("the test stack cannot resolve {v}"),
        }
    }

    fn resolve_ref(&self, id: &str) -> String {
        match id {
            "Table" => return self.table.clone(),
            "TimerScheduleGroup" => return self.schedule_group.clone(),
            "ConfigurationSet" => return self.configuration_set.clone(),
            "SenderIdentity" => return self.sender_domain.clone(),
            "FromAddress" => return format!("Northwind <hello@{}>", self.sender_domain),
            _ => {}
        }
        if let Some(q) = self.queues.get(id) {
            return q.url.clone();
        }
        let param = &self.template.doc["Parameters"][id];
        if param.is_null() {
            panic!("the test stack cannot resolve Ref {id}");
        }
        let default = scalar_or_none(&param["Default"]).unwrap_or_default();
        if id.ends_with("Parameter") && !default.is_empty() {
            // An SSM parameter name: unique per stack (an empty one means
            // the feature is off, as deployed).
            format!("/{}{default}", self.prefix)
        } else {
            default
        }
    }
}

fn scalar_or_none(v: &Value) -> Option<String> {
    match v {
        Value::Object(_) | Value::Array(_) => None,
        other => scalar(other),
    }
}
