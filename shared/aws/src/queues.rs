//! The two queues handlers put work on: the events queue (ingest's and
//! feedback's output, evaluate's input) and the send queue (evaluate's and
//! the scheduler's output, send's input). The timers queue is `timers`'.

use crate::handlers::Queued;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use storeflow_core::decision::Message;

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

/// The queue of messages to send.
#[derive(Clone)]
pub struct SendQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl SendQueue {
    pub async fn push(&self, m: &Message) -> anyhow::Result<()> {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(m)?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SQS SendMessage to the send queue: {e:?}"))?;
        Ok(())
    }
}
