//! The ingest function: verify, dedupe and keep a delivery (the same
//! router as `storeflow serve`), put what it accepted on the events queue,
//! then remember the delivery as seen. Answers well within Shopify's 5 s:
//! a handful of single-item reads and writes and one queue call.

use super::Queued;
use crate::deliveries::Deliveries;
use crate::table::Table;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jiff::Timestamp;
use storeflow_ingest::{Accepted, Request, Response, Router};

/// The events queue.
#[derive(Clone)]
pub struct EventsQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl EventsQueue {
    /// Puts every item on the queue (SQS batches hold 10), or fails naming
    /// what was not accepted.
    pub async fn push(&self, items: Vec<Queued>) -> anyhow::Result<()> {
        for chunk in items.chunks(10) {
            let mut entries = Vec::new();
            for (i, q) in chunk.iter().enumerate() {
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(q)?)
                        .build()?,
                );
            }
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("SQS SendMessageBatch to the events queue: {e:?}"))?;
            if let Some(f) = out.failed().first() {
                anyhow::bail!(
                    "SQS refused {} of {} events: {} {}",
                    out.failed().len(),
                    chunk.len(),
                    f.code(),
                    f.message().unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

/// Answers one HTTP request.
pub async fn handle(
    router: &Router,
    table: &Table,
    events: &EventsQueue,
    req: &Request,
    now: Timestamp,
) -> Response {
    let mut store = Deliveries::new(table, now);
    let handled = router.handle(req, now, &mut store);
    if !handled.response.is_success() {
        return handled.response;
    }
    let items: Vec<Queued> = handled
        .accepted
        .into_iter()
        .map(|a| match a {
            Accepted::Event(e) => Queued::Event(e),
            Accepted::Privacy(p) => Queued::Privacy(p),
        })
        .collect();
    if let Err(e) = events.push(items).await {
        // Not remembered as seen: the platform's retry goes through again.
        tracing::error!("ingest: {e:#}");
        return Response::error(503, "storeflow could not queue the events; retry later");
    }
    if let Err(e) = store.mark_seen().await {
        // The events are queued; a redelivery would be applied once anyway
        // (the engine drops duplicate event ids).
        tracing::warn!("ingest: marking the delivery seen: {e}");
    }
    handled.response
}
