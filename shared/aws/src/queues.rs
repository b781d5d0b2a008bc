//! The two queues handlers put work on: the events queue (ingest's and
//! feedback's output, evaluate's input) and the send queue (evaluate's and
//! the scheduler's output, send's input). The timers queue is `timers`'.

use crate::handlers::Queued;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};

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

/// A dead-letter queue that a handler puts a message on itself, with its
/// error as a message attribute (`storeflow-error`): for an input whose
/// application panicked or that cannot be read. Trying such an input again
/// only fails again; the queue's own redrive would get it there after
/// `maxReceiveCount` tries, without saying why.
#[derive(Clone)]
pub struct DeadLetterQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

/// The attribute a dead letter's error travels in.
pub const ERROR_ATTRIBUTE: &str = "storeflow-error";

impl DeadLetterQueue {
    pub async fn put(&self, body: &str, error: &str, source_message: &str) -> anyhow::Result<()> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
        };
        // SQS attribute values are at most 256 KiB with the body; an error
        // is kept to its first 4,000 characters.
        let error: String = error.chars().take(4_000).collect();
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_attributes(ERROR_ATTRIBUTE, attr(&error)?)
            .message_attributes("storeflow-source-message-id", attr(source_message)?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SQS SendMessage to the dead-letter queue: {e:?}"))?;
        Ok(())
    }
}

/// A message on the send queue: handed over by the evaluation that made it
/// *before* that evaluation's commit (so no outbox item and no transaction
/// is written for it), with what the send function checks first — the
/// customer's state at `version` or later must hold the message's id in its
/// ledger. A message of a commit that lost its race, or never landed, so
/// never goes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub shop: ShopId,
    pub profile: ProfileId,
    /// The version the commit writes.
    pub version: u64,
    /// When it was handed over: past [`HANDOFF_GRACE`] a commit that has not
    /// landed never will.
    pub at: Timestamp,
    pub message: Message,
}

/// How long a handed-over message may wait for its commit to land before it
/// is dropped as never committed: the commit follows the hand-over in the
/// same invocation, which Lambda stops after 30 s. A crashed evaluation's
/// event comes back from the events queue and hands its messages over again
/// with their own commit. The send queue shows a message again after 180 s,
/// so one that finds no commit is dropped on its second receive, well before
/// the queue's 5 receives would move it to the dead-letter queue.
pub const HANDOFF_GRACE: SignedDuration = SignedDuration::from_secs(60);

/// The send queue's delay for a handed-over message: the commit that follows
/// the hand-over takes milliseconds, so the send function almost never finds
/// it missing (when it does, the message waits one visibility timeout).
pub const HANDOFF_DELAY_SECONDS: i32 = 1;

/// The queue of messages to send.
#[derive(Clone)]
pub struct SendQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    /// [`HANDOFF_DELAY_SECONDS`]; the emulator tests, which run the send
    /// function after the commit, set 0.
    pub delay_seconds: i32,
}

impl SendQueue {
    pub async fn push(&self, h: &Handoff) -> anyhow::Result<()> {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(h)?)
            .delay_seconds(self.delay_seconds)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SQS SendMessage to the send queue: {e:?}"))?;
        Ok(())
    }
}
