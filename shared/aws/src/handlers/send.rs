//! The send function: each message once, through SES (see
//! `crate::sending`). A message that can never be sent (suppressed, bad
//! address, no provider for its channel) is logged and dropped; one SES
//! refused for now is retried by the queue.

use super::{Failures, Record};
use crate::sending::SesEmail;
use jiff::Timestamp;
use storeflow_app::ports::{DeliverError, Delivered};
use storeflow_core::decision::Message;

pub async fn handle(email: &SesEmail, records: &[Record], now: Timestamp) -> Failures {
    let mut failures = Failures::default();
    for r in records {
        let m: Message = match serde_json::from_str(&r.body) {
            Ok(m) => m,
            Err(e) => {
                failures.fail(r, format!("not a message: {e}"));
                continue;
            }
        };
        match email.send(&m, now).await {
            Ok(Delivered::Sent(id)) => {
                tracing::info!(message = %m.id, to = %m.to, provider_id = %id, "sent")
            }
            Ok(Delivered::Already(id)) => {
                tracing::info!(message = %m.id, provider_id = %id, "sent before: not again")
            }
            Err(DeliverError::Permanent(why)) => {
                tracing::warn!(message = %m.id, "not sent: {why}")
            }
            Err(DeliverError::Transient(why)) => failures.fail(r, why),
        }
    }
    failures
}
