//! The send function: each message once, through its channel's provider
//! (see `crate::sending`), and only once the commit that made it has landed (see
//! `queues::Handoff`). A message that can never be sent (suppressed, bad
//! address, no provider for its channel, its commit lost) is logged and
//! dropped; one a provider refused for now, or whose commit has not landed yet, is
//! retried by the queue.

use super::{Failures, Record};
use crate::customers::Verdict;
use crate::queues::Handoff;
use crate::sending::Senders;
use jiff::Timestamp;
use storeflow_app::ports::{DeliverError, Delivered};

pub async fn handle(senders: &Senders, records: &[Record], now: Timestamp) -> Failures {
    let mut failures = Failures::default();
    for r in records {
        let h: Handoff = match serde_json::from_str(&r.body) {
            Ok(h) => h,
            Err(e) => {
                failures.fail(r, format!("not a message: {e}"));
                continue;
            }
        };
        let m = &h.message;
        match senders.table.handoff_verdict(&h, now).await {
            Ok(Verdict::Send) => {}
            Ok(Verdict::NotYet) => {
                failures.fail(
                    r,
                    format!("message {}: its commit has not landed yet", m.id),
                );
                continue;
            }
            Ok(Verdict::Drop(why)) => {
                tracing::warn!(message = %m.id, profile = %h.profile, "not sent: {why}");
                continue;
            }
            Err(e) => {
                failures.fail(r, format!("message {}: {e}", m.id));
                continue;
            }
        }
        match senders.send(m, Some((&h.shop, &h.profile)), now).await {
            Ok(Delivered::Sent(id)) => {
                tracing::info!(message = %m.id, channel = m.channel.as_str(), to = %m.to, provider_id = %id, "sent")
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
