//! The feedback function: SES events of the stack's configuration set
//! (through EventBridge), SMS events of End User Messaging SMS (through
//! the stack's SNS topic) and the links of every message (its Function
//! URL).
//!
//! - A final SMS event counts its message delivered or bounced
//!   ([`Feedback::sms_event`]); so does a WhatsApp status, once per
//!   message ([`Feedback::whatsapp_entry`]).
//!
//! - A permanent bounce or a complaint suppresses the address (the first
//!   reason is kept); the send function refuses suppressed addresses.
//! - Delivery, open, click, bounce and complaint mark the message's ledger
//!   entry, keyed by the `message` tag the send function set: the inputs of
//!   attribution.
//! - An open or a click is also an engagement event of the customer
//!   (`email_opened`, `email_clicked`, with the flow, step, message and the
//!   link clicked) on the events queue, for segments and flows like any
//!   other event. Deliveries are not: one more evaluation and state write
//!   per email would buy nothing a segment asks for.
//! - `/c/{token}` and `/o/{token}` (click redirects and the open pixel of
//!   `storeflow_app::tracking`) queue `{channel}_clicked` and
//!   `email_opened` events, the same events SES click and open tracking
//!   maps to.
//! - `/u/{token}` (one-click unsubscribe, RFC 8058) and
//!   `/preferences/{token}` (the preference centre) are the pages of
//!   `storeflow_app::preferences`, the same as `storeflow serve`'s; a
//!   change queues a `consent_changed` event for evaluate, like any other.

use super::Queued;
use crate::keys;
use crate::queues::EventsQueue;
use crate::table::{get_s, key, s, unavailable, Table};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use jiff::Timestamp;
use serde_json::{json, Value};
use storeflow_app::ports::Customers;
use storeflow_app::ports::StoreError;
use storeflow_core::model::channel::Channel;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::results::facts::{Fact, FactKind, Lifecycle};
use storeflow_core::{Config, CustomerState, Event};

pub struct Feedback {
    pub table: Table,
    pub events: EventsQueue,
    /// The store's configuration: the link signer, the store's name and
    /// locale for the pages.
    pub config: Config,
}

/// What an SES event changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Addresses newly suppressed.
    pub suppressed: Vec<String>,
    /// The ledger entry updated (message id, status).
    pub status: Option<(String, String)>,
    /// The engagement event queued for evaluation, if any.
    pub engagement: Option<Event>,
}

impl Feedback {
    /// One SES event (the `detail` of the EventBridge event).
    pub async fn ses_event(&self, detail: &Value, now: Timestamp) -> anyhow::Result<Recorded> {
        let kind = detail["eventType"]
            .as_str()
            .or_else(|| detail["notificationType"].as_str())
            .ok_or_else(|| anyhow::anyhow!("not an SES event: no eventType"))?;
        let mut out = Recorded {
            suppressed: Vec::new(),
            status: None,
            engagement: None,
        };
        let reason = match kind {
            "Bounce" if detail["bounce"]["bounceType"] == "Permanent" => Some(("bounce", "bounce")),
            "Complaint" => Some(("complaint", "complaint")),
            _ => None,
        };
        if let Some((reason, field)) = reason {
            let list = if field == "bounce" {
                &detail["bounce"]["bouncedRecipients"]
            } else {
                &detail["complaint"]["complainedRecipients"]
            };
            for r in list.as_array().into_iter().flatten() {
                if let Some(addr) = r["emailAddress"].as_str() {
                    if self.suppress(addr, reason, now).await? {
                        out.suppressed.push(addr.to_lowercase());
                    }
                }
            }
        }
        if let Some(id) = detail["mail"]["tags"]["message"][0].as_str() {
            let status = kind.to_lowercase();
            self.mark(id, &status, now).await?;
            out.status = Some((id.to_string(), status));
            // Delivered, bounced and complained are counted here; opens and
            // clicks as the customer's events, by evaluate.
            let life = match kind {
                "Delivery" => Some(Lifecycle::Delivered),
                "Bounce" if detail["bounce"]["bounceType"] == "Permanent" => {
                    Some(Lifecycle::Bounced)
                }
                "Complaint" => Some(Lifecycle::Complained),
                _ => None,
            };
            if let Some(l) = life {
                self.count(detail, id, l, now).await;
            }
        }
        if let Some(event) = engagement(kind, detail, now)? {
            self.events.push(vec![Queued::Event(event.clone())]).await?;
            out.engagement = Some(event);
        }
        Ok(out)
    }

    /// An SNS notification's records, each an SMS event
    /// ([`Feedback::sms_event`]); a message that is not one is logged and
    /// skipped (another try would not change it).
    pub async fn sns(&self, payload: &Value, now: Timestamp) -> anyhow::Result<Vec<Lifecycle>> {
        let mut counted = Vec::new();
        for r in payload["Records"].as_array().into_iter().flatten() {
            let text = r["Sns"]["Message"].as_str().unwrap_or_default();
            match serde_json::from_str::<Value>(text) {
                Ok(event) if event["eventType"].is_string() => {
                    counted.extend(self.sms_event(&event, now).await?);
                }
                Ok(event) if event["whatsAppWebhookEntry"].is_string() => {
                    let entry = event["whatsAppWebhookEntry"].as_str().unwrap_or_default();
                    match serde_json::from_str::<Value>(entry) {
                        Ok(entry) => counted.extend(self.whatsapp_entry(&entry, now).await?),
                        Err(e) => tracing::warn!("a WhatsApp entry that is not JSON: {e}"),
                    }
                }
                _ => tracing::warn!(
                    "an SNS message that is neither an SMS nor a WhatsApp event: {text:.200}"
                ),
            }
        }
        Ok(counted)
    }

    /// The message statuses in a WhatsApp webhook entry, as End User
    /// Messaging Social publishes them (`whatsAppWebhookEntry`; Meta's
    /// status webhook). `delivered` or `read` counts the message delivered
    /// and `failed` bounced, each once per message: WhatsApp sends no
    /// `delivered` for a message read at once, and a `read` may follow a
    /// `delivered`. The message is named by `biz_opaque_callback_data`,
    /// the attribution the send function set.
    pub async fn whatsapp_entry(
        &self,
        entry: &Value,
        now: Timestamp,
    ) -> anyhow::Result<Vec<Lifecycle>> {
        // One entry, or a whole webhook body of them.
        let entries: Vec<&Value> = match entry["entry"].as_array() {
            Some(all) => all.iter().collect(),
            None => vec![entry],
        };
        let mut counted = Vec::new();
        for e in entries {
            for change in e["changes"].as_array().into_iter().flatten() {
                for st in change["value"]["statuses"].as_array().into_iter().flatten() {
                    let life = match st["status"].as_str() {
                        Some("delivered" | "read") => Lifecycle::Delivered,
                        Some("failed") => Lifecycle::Bounced,
                        _ => continue,
                    };
                    let Some(data) = st["biz_opaque_callback_data"]
                        .as_str()
                        .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    else {
                        continue;
                    };
                    let Some(id) = data["message"].as_str() else {
                        continue;
                    };
                    if !self.mark_once(id, life, now).await? {
                        continue;
                    }
                    let at = st["timestamp"]
                        .as_str()
                        .and_then(|t| t.parse::<i64>().ok())
                        .and_then(|secs| Timestamp::from_second(secs).ok())
                        .unwrap_or(now);
                    self.count_message(&|t| data[t].as_str(), id, Channel::Whatsapp, life, at)
                        .await;
                    counted.push(life);
                }
            }
        }
        Ok(counted)
    }

    /// Marks the message's ledger entry delivered or failed unless it
    /// already is: true when this call marked it (the first report of that
    /// end), false for a repeat or a message this table does not know.
    async fn mark_once(&self, message: &str, l: Lifecycle, now: Timestamp) -> anyhow::Result<bool> {
        let field = match l {
            Lifecycle::Delivered => "delivered_at",
            _ => "failed_at",
        };
        self.update_ledger(message, l.as_str(), now, Some(field))
            .await
    }

    /// One SMS event of AWS End User Messaging SMS (the configuration set's
    /// event destination, through SNS). Only a final event counts: a
    /// message gets one, `TEXT_DELIVERED` or `TEXT_SUCCESSFUL` when the
    /// carrier took it (some countries report only the latter) and a
    /// failure otherwise, so a message is delivered or bounced once.
    /// `context` carries the attribution the send function set. Returns
    /// the lifecycle counted, if any.
    pub async fn sms_event(&self, e: &Value, now: Timestamp) -> anyhow::Result<Option<Lifecycle>> {
        let Some(kind) = e["eventType"].as_str() else {
            anyhow::bail!("an SMS event without eventType: {e}");
        };
        if e["isFinal"].as_bool() != Some(true) {
            return Ok(None);
        }
        let life = match kind {
            "TEXT_DELIVERED" | "TEXT_SUCCESSFUL" => Lifecycle::Delivered,
            "TEXT_BLOCKED"
            | "TEXT_TTL_EXPIRED"
            | "TEXT_CARRIER_UNREACHABLE"
            | "TEXT_INVALID"
            | "TEXT_INVALID_MESSAGE"
            | "TEXT_CARRIER_BLOCKED"
            | "TEXT_UNREACHABLE"
            | "TEXT_SPAM"
            | "TEXT_UNKNOWN"
            | "TEXT_PROTECT_BLOCKED" => Lifecycle::Bounced,
            // Queued, pending, voice and MMS events: not an SMS's end.
            _ => return Ok(None),
        };
        let c = &e["context"];
        let Some(id) = c["message"].as_str() else {
            // Sent before messages carried their attribution: nothing to count.
            return Ok(None);
        };
        self.mark(id, &kind.to_lowercase(), now).await?;
        let at = e["eventTimestamp"]
            .as_i64()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .unwrap_or(now);
        self.count_message(&|t| c[t].as_str(), id, Channel::Sms, life, at)
            .await;
        Ok(Some(life))
    }

    /// Adds a step of an email's life to the result counters, named by the
    /// tags the send function set.
    async fn count(&self, detail: &Value, id: &str, l: Lifecycle, now: Timestamp) {
        let at = detail["delivery"]["timestamp"]
            .as_str()
            .or_else(|| detail["bounce"]["timestamp"].as_str())
            .or_else(|| detail["complaint"]["timestamp"].as_str())
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or(now);
        let tags = &detail["mail"]["tags"];
        self.count_message(&|t| tags[t][0].as_str(), id, Channel::Email, l, at)
            .await;
    }

    /// Adds a step of a message's life to the result counters, the message
    /// named by the attribution the send function set (`tag` reads it; a
    /// message sent before it existed counts nothing).
    async fn count_message<'a>(
        &self,
        tag: &(dyn Fn(&str) -> Option<&'a str> + Sync),
        id: &str,
        channel: Channel,
        l: Lifecycle,
        at: Timestamp,
    ) {
        let (Some(shop), Some(profile), Some(flow), Some(step), Some(template)) = (
            tag("shop").and_then(|s| ShopId::parse(s).ok()),
            tag("profile"),
            tag("flow"),
            tag("step"),
            tag("template"),
        ) else {
            return;
        };
        let mut f = Fact::new(at, FactKind::Message, profile.into());
        f.lifecycle = Some(l);
        f.flow = Some(flow.into());
        f.version = tag("version").and_then(|v| v.parse().ok());
        f.step = Some(step.into());
        f.template = Some(template.into());
        f.variant = tag("variant").map(Into::into);
        f.channel = Some(channel);
        f.message = Some(id.into());
        self.table.note_fact_rows(&shop, &[f]);
        if let Err(e) = self.table.flush_rollups().await {
            tracing::error!("result counters not added: {e:#}");
        }
    }

    /// Suppresses an address unless it already is; true when new.
    async fn suppress(&self, addr: &str, reason: &str, now: Timestamp) -> anyhow::Result<bool> {
        let mut item = key(keys::suppression_pk(addr), "suppressed");
        item.insert("reason".into(), s(reason));
        item.insert("at".into(), s(now.to_string()));
        item.insert("source".into(), s("ses"));
        Ok(self.table.create(item).await?.is_none())
    }

    async fn mark(&self, message: &str, status: &str, now: Timestamp) -> anyhow::Result<()> {
        self.update_ledger(message, status, now, None)
            .await
            .map(drop)
    }

    /// Sets the ledger entry's last event (and `once`, when given, unless
    /// it is already set). Only an entry the send function made: an event
    /// for a message this table does not know creates nothing. True when
    /// the entry was written.
    async fn update_ledger(
        &self,
        message: &str,
        status: &str,
        now: Timestamp,
        once: Option<&str>,
    ) -> anyhow::Result<bool> {
        let t = &self.table;
        let mut call = t
            .client
            .update_item()
            .table_name(&t.name)
            .set_key(Some(key(keys::ledger_pk(message), "sent")))
            .expression_attribute_names("#last", "last_event")
            .expression_attribute_names("#at", "last_event_at")
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":at", s(now.to_string()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        call = match once {
            Some(field) => call
                .update_expression("SET #last = :st, #at = :at, #once = :at")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#once)")
                .expression_attribute_names("#once", field),
            None => call
                .update_expression("SET #last = :st, #at = :at")
                .condition_expression("attribute_exists(pk)"),
        };
        match call.send().await {
            Ok(o) => {
                t.meter.write("UpdateItem send", o.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("UpdateItem ledger", e).into()),
        }
    }

    /// The link pages (one-click unsubscribe, the preference centre) of
    /// the function URL: (status, content type, body). The same pages as
    /// `storeflow serve`'s, from `storeflow_app::preferences`; a consent
    /// change is queued for evaluate like any other event.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        now: Timestamp,
    ) -> (u16, &'static str, String) {
        match storeflow_app::preferences::handle(self, &self.config, method, path, body, now).await
        {
            Some(r) => (r.status, r.content_type, r.body),
            None => (404, "text/plain; charset=utf-8", "Not found.".into()),
        }
    }
}

impl Feedback {
    /// A tracking link of the function URL (`/c/{token}` click redirect,
    /// `/o/{token}` open pixel), the same as `storeflow serve`'s
    /// (`storeflow_app::tracking`): the click or open is queued for
    /// evaluate as the customer's event. `None`: not a tracking path.
    pub async fn track(
        &self,
        method: &str,
        path: &str,
        user_agent: Option<&str>,
        now: Timestamp,
    ) -> Option<storeflow_app::preferences::Reply> {
        storeflow_app::tracking::handle(self, &self.config, method, path, user_agent, now).await
    }
}

impl storeflow_app::preferences::LinkPorts for Feedback {
    async fn shop_of(&self, profile: &ProfileId) -> Result<Option<ShopId>, StoreError> {
        let item = self
            .table
            .get(key(keys::profile_pk(profile), keys::STATE), false)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{e:#}")))?;
        Ok(item
            .as_ref()
            .and_then(|i| get_s(i, "shop"))
            .and_then(|s| ShopId::parse(s).ok()))
    }

    async fn customer(
        &self,
        shop: &ShopId,
        profile: &ProfileId,
    ) -> Result<Option<CustomerState>, StoreError> {
        Ok(self.table.load(shop, profile).await?.map(|l| l.state))
    }

    async fn apply(&self, events: Vec<Event>, _now: Timestamp) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.events
            .push(events.into_iter().map(Queued::Event).collect())
            .await
    }
}

/// An open or a click as the customer's event: named by the `shop` tag and
/// the recipient's address, with an id that is the same for a redelivered
/// SES event (the engine applies it once).
fn engagement(kind: &str, detail: &Value, now: Timestamp) -> anyhow::Result<Option<Event>> {
    let (name, part) = match kind {
        "Open" => ("email_opened", "open"),
        "Click" => ("email_clicked", "click"),
        _ => return Ok(None),
    };
    let tag = |t: &str| detail["mail"]["tags"][t][0].as_str();
    let (Some(shop), Some(to)) = (tag("shop"), detail["mail"]["destination"][0].as_str()) else {
        // Sent before these tags existed, or by something else.
        return Ok(None);
    };
    let at = detail[part]["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(now);
    let mail_id = detail["mail"]["messageId"].as_str().unwrap_or("-");
    let mut properties = json!({
        "message": tag("message"),
        "flow": tag("flow"),
        "step": tag("step"),
    });
    if let Some(link) = detail["click"]["link"].as_str() {
        properties["link"] = json!(link);
    }
    let event: Event = serde_json::from_value(json!({
        "id": format!("ses:{mail_id}:{part}:{}", at.as_millisecond()),
        "shop": shop,
        "type": name,
        "occurred_at": at,
        "customer": {"email": to},
        "properties": properties,
    }))?;
    Ok(Some(event))
}
