//! Email through SES v2: the message's MIME bytes (the same the embedded
//! runtime writes to its outbox) as a raw email in the stack's
//! configuration set, tagged for attribution.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use storeflow_app::ports::DeliverError;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// Email through SES v2, in the stack's configuration set.
#[derive(Clone)]
pub struct SesEmail {
    pub ses: aws_sdk_sesv2::Client,
    pub configuration_set: String,
    /// The From header of every email (`STOREFLOW_FROM_ADDRESS`, the
    /// stack's `FromAddress`): SES sends only from the verified identity, so
    /// it replaces the sender store.yaml gives for local runs.
    pub from: String,
}

impl SesEmail {
    /// Sends `m`; `to` names the customer (shop and profile) for the SES
    /// events that come back (feedback's engagement events). Returns SES's
    /// message id.
    pub async fn send(
        &self,
        m: &Message,
        to: Option<(&ShopId, &ProfileId)>,
    ) -> Result<String, DeliverError> {
        let mut m = m.clone();
        m.from = Some(self.from.clone());
        let mime = storeflow_channels::mime::email(&m)
            .map_err(|e| DeliverError::Permanent(e.to_string()))?
            .formatted();
        let mut req = self
            .ses
            .send_email()
            .from_email_address(&self.from)
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
        for (name, value) in crate::outgoing::attribution(&m, to) {
            let tag = MessageTag::builder()
                .name(name)
                .value(tag_value(&value))
                .build()
                .map_err(|e| DeliverError::Permanent(e.to_string()))?;
            req = req.email_tags(tag);
        }
        match req.send().await {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_string()),
            Err(e) => {
                let refused = e.as_service_error().is_some_and(|se| {
                    se.is_message_rejected()
                        || se.is_mail_from_domain_not_verified_exception()
                        || se.is_bad_request_exception()
                        || se.is_account_suspended_exception()
                        || se.is_sending_paused_exception()
                });
                Err(crate::outgoing::refusal(
                    refused,
                    format!("SES SendEmail: {e:?}"),
                ))
            }
        }
    }
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

impl storeflow_app::dispatch::Carrier for SesEmail {
    fn carry<'a>(
        &'a self,
        m: &'a Message,
        to: storeflow_app::dispatch::Recipient<'a>,
        _now: jiff::Timestamp,
    ) -> storeflow_app::dispatch::Carried<'a> {
        Box::pin(async move {
            self.send(m, to)
                .await
                .map(storeflow_app::ports::Delivered::Sent)
        })
    }
}
