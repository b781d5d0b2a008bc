//! Sending on AWS: the send queue that evaluate hands messages to, and the
//! SES v2 email channel with its send ledger (docs/DATA.md, patterns 15 and
//! 17): suppressed addresses are refused, a redelivered message is never
//! sent twice, and a message SES refuses for now goes back to the queue.

use crate::keys;
use crate::table::{get_s, key, s, unavailable, Table};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use jiff::Timestamp;
use storeflow_app::ports::{DeliverError, Delivered};
use storeflow_core::decision::{Message, MessageChannel};
use storeflow_core::ids::{ProfileId, ShopId};

/// Ledger entries outlive any redelivery of their message by far.
const LEDGER_DAYS: i64 = 60;

/// Email through SES v2, in the stack's configuration set.
#[derive(Clone)]
pub struct SesEmail {
    pub ses: aws_sdk_sesv2::Client,
    pub table: Table,
    pub configuration_set: String,
    /// The From header of every email (`STOREFLOW_FROM_ADDRESS`, the
    /// stack's `FromAddress`): SES sends only from the verified identity, so
    /// it replaces the sender store.yaml gives for local runs.
    pub from: String,
}

impl SesEmail {
    /// Sends `m` once, at `now`; `to` names the customer (shop and profile)
    /// for the SES events that come back (feedback's engagement events).
    pub async fn send(
        &self,
        m: &Message,
        to: Option<(&ShopId, &ProfileId)>,
        now: Timestamp,
    ) -> Result<Delivered, DeliverError> {
        if !matches!(m.channel, MessageChannel::Email | MessageChannel::Alert) {
            return Err(DeliverError::Permanent(format!(
                "message {}: no {:?} provider is configured in this stack (email only)",
                m.id, m.channel
            )));
        }
        if let Some(reason) = self.suppressed(&m.to).await? {
            return Err(DeliverError::Permanent(format!(
                "{} is suppressed ({reason})",
                m.to
            )));
        }
        if let Some(previous) = self.claim(m, now).await? {
            return Ok(Delivered::Already(previous));
        }
        let mut m = m.clone();
        m.from = Some(self.from.clone());
        let mime = match storeflow_channels::mime::email(&m) {
            Ok(mime) => mime.formatted(),
            Err(e) => {
                self.settle(&m.id, "failed", &e.to_string()).await?;
                return Err(DeliverError::Permanent(e.to_string()));
            }
        };
        let mut req = self
            .ses
            .send_email()
            .from_email_address(m.from.as_deref().unwrap_or_default())
            .destination(Destination::builder().to_addresses(&m.to).build())
            .content(
                EmailContent::builder()
                    .raw(
                        RawMessage::builder()
                            .data(Blob::new(mime))
                            .build()
                            .map_err(|e| DeliverError::Permanent(e.to_string()))?,
                    )
                    .build(),
            )
            .configuration_set_name(&self.configuration_set);
        // Tags come back on every SES event (delivery, open, click): they
        // are how feedback attributes engagement to a flow, a message and a
        // customer.
        let mut tags = vec![
            ("flow", m.flow.as_str()),
            ("step", m.step.as_str()),
            ("message", m.id.as_str()),
        ];
        if let Some((shop, profile)) = to {
            tags.push(("shop", shop.as_str()));
            tags.push(("profile", profile.as_str()));
        }
        for (name, value) in tags {
            let tag = MessageTag::builder()
                .name(name)
                .value(tag_value(value))
                .build()
                .map_err(|e| DeliverError::Permanent(e.to_string()))?;
            req = req.email_tags(tag);
        }
        match req.send().await {
            Ok(out) => {
                let id = out.message_id().unwrap_or_default().to_string();
                self.settle(&m.id, "sent", &id).await?;
                Ok(Delivered::Sent(id))
            }
            Err(e) => {
                let refused = e.as_service_error().is_some_and(|se| {
                    se.is_message_rejected()
                        || se.is_mail_from_domain_not_verified_exception()
                        || se.is_bad_request_exception()
                        || se.is_account_suspended_exception()
                        || se.is_sending_paused_exception()
                });
                let why = format!("SES SendEmail: {e:?}");
                if refused {
                    self.settle(&m.id, "failed", &why).await?;
                    Err(DeliverError::Permanent(why))
                } else {
                    // Throttled or down: withdraw the claim so the queue's
                    // redelivery can send it.
                    self.withdraw(&m.id).await?;
                    Err(DeliverError::Transient(why))
                }
            }
        }
    }

    async fn suppressed(&self, to: &str) -> Result<Option<String>, DeliverError> {
        let item = self
            .table
            .get(key(keys::suppression_pk(to), "suppressed"), false)
            .await
            .map_err(transient)?;
        Ok(item.map(|i| get_s(&i, "reason").unwrap_or("suppressed").to_string()))
    }

    /// Creates the ledger entry; `Some(provider id)` when it existed (the
    /// message was sent, or is being sent, by an earlier delivery).
    async fn claim(&self, m: &Message, now: Timestamp) -> Result<Option<String>, DeliverError> {
        let mut item = key(keys::ledger_pk(&m.id), "sent");
        item.insert("at".into(), s(now.to_string()));
        item.insert("to".into(), s(&m.to));
        item.insert(
            "flow".into(),
            s(format!("{} v{} {}", m.flow, m.version, m.step)),
        );
        item.insert("status".into(), s("sending"));
        let expires = now.as_second() + LEDGER_DAYS * 86_400;
        item.insert("expires_at".into(), crate::table::n(expires));
        let before = self.table.create(item).await.map_err(transient)?;
        Ok(before.map(|i| {
            get_s(&i, "provider_id")
                .unwrap_or("unconfirmed")
                .to_string()
        }))
    }

    async fn settle(&self, id: &str, status: &str, detail: &str) -> Result<(), DeliverError> {
        let field = if status == "sent" {
            "provider_id"
        } else {
            "error"
        };
        let out = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(key(keys::ledger_pk(id), "sent")))
            .update_expression("SET #st = :st, #f = :d")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":d", s(detail))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| transient(unavailable("UpdateItem ledger", e)))?;
        self.table
            .meter
            .write("UpdateItem send", out.consumed_capacity());
        Ok(())
    }

    async fn withdraw(&self, id: &str) -> Result<(), DeliverError> {
        self.table
            .delete(key(keys::ledger_pk(id), "sent"))
            .await
            .map_err(transient)
    }
}

fn transient(e: storeflow_app::ports::StoreError) -> DeliverError {
    DeliverError::Transient(e.to_string())
}

/// SES tag values allow ASCII letters, digits, `_`, `-`, `.` and `@`, up
/// to 256 characters; anything else becomes `_`.
fn tag_value(v: &str) -> String {
    let out: String = v
        .chars()
        .take(256)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "_".into()
    } else {
        out
    }
}
