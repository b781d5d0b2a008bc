//! The evaluate function: each event through the application services
//! (profile, segments, flows, policy, templates), committed on the
//! customer's version (the commit hands its messages to the send queue);
//! then each wake-up that moved gets a timer.

use super::{Failures, Queued, Record};
use crate::queues::{DeadLetterQueue, EventsQueue};
use crate::table::Table;
use crate::timers::{TimerMessage, Timers};
use jiff::Timestamp;
use storeflow_app::{App, Applied};

/// What evaluate and the scheduler share: the application on the table
/// (which hands messages to the send queue as it commits), and where timers
/// go.
pub struct Pipeline {
    pub app: App<Table>,
    pub timers: Timers,
    /// The events queue, where the campaign calendar's enrolment puts its
    /// `campaign` inputs (the scheduler's; evaluate reads that queue).
    pub events: Option<EventsQueue>,
    /// The events queue's dead-letter queue (evaluate's): an input that
    /// panicked or cannot be read goes there at once, with its error.
    pub dead_letters: Option<DeadLetterQueue>,
    /// When each shop's prediction model was last read.
    pub models_read: storeflow_app::predictions::ModelsRead,
}

impl Pipeline {
    fn table(&self) -> &Table {
        &self.app.store
    }

    /// Gives the engine the shop's stored prediction model when it was
    /// not read in the last hour (the scheduler's refit writes it).
    pub async fn fresh_model(&self, shop: &storeflow_core::model::ids::ShopId, now: Timestamp) {
        if let Err(e) = self.app.fresh_model(shop, now, &self.models_read).await {
            // The engine keeps the model it has; the next input tries again.
            tracing::warn!(%shop, "the prediction model was not read: {e}");
        }
    }

    /// After a commit: timers for the wake-ups that moved — all of them on a
    /// redelivery, since the first attempt may have died before arming them.
    pub async fn hand_over(
        &self,
        applied: &Applied,
        now: Timestamp,
        redelivered: bool,
    ) -> anyhow::Result<()> {
        for t in &applied.timers {
            if t.moved() || redelivered {
                self.timers.arm(&TimerMessage::of(t), now).await?;
            }
        }
        Ok(())
    }
}

/// Why one record was not applied.
enum Failed {
    /// Worth another try (an outage, a lost race): reported as a batch
    /// item failure, so SQS delivers it again.
    Retry(String),
    /// Will fail the same way every time (it cannot be read, or applying
    /// it panicked): set aside at once, with its error.
    Dead(String),
}

/// Handles one batch from the events queue; returns the records to retry.
/// Each record stands alone: one that fails, or panics, holds back no
/// other.
pub async fn handle(p: &Pipeline, records: &[Record], now: Timestamp) -> Failures {
    use futures_util::FutureExt;
    let mut failures = Failures::default();
    for r in records {
        let run = std::panic::AssertUnwindSafe(one(p, r, now))
            .catch_unwind()
            .await;
        let error = match run {
            Ok(Ok(())) => continue,
            Ok(Err(Failed::Retry(e))) => {
                failures.fail(r, e);
                continue;
            }
            Ok(Err(Failed::Dead(e))) => e,
            Err(panic) => storeflow_app::panic_message(&*panic),
        };
        match &p.dead_letters {
            Some(dlq) => match dlq.put(&r.body, &error, &r.id).await {
                Ok(()) => tracing::error!(
                    message_id = %r.id,
                    "set aside on the dead-letter queue: {error}"
                ),
                Err(e) => failures.fail(r, format!("{error}; and not set aside: {e:#}")),
            },
            // No queue to put it on: the queue's redrive takes it there
            // after its receive limit.
            None => failures.fail(r, error),
        }
    }
    // The batch's result counters, once (the states are committed: a
    // failure here is logged, not retried, or the batch would commit twice).
    if let Err(e) = p.table().flush_rollups().await {
        tracing::error!("result counters not added: {e:#}");
    }
    failures
}

async fn one(p: &Pipeline, r: &Record, now: Timestamp) -> Result<(), Failed> {
    let queued: Queued =
        serde_json::from_str(&r.body).map_err(|e| Failed::Dead(format!("not an event: {e}")))?;
    // Events and campaign entries are evaluations, handed over alike.
    let applied = match queued {
        Queued::Event(event) => {
            p.fresh_model(&event.shop, now).await;
            p.app.event(event, now).await
        }
        Queued::Campaign {
            shop,
            profile,
            flow,
        } => {
            p.fresh_model(&shop, now).await;
            p.app.campaign(&shop, &profile, &flow, now).await
        }
        Queued::Privacy(req) => {
            let line = crate::privacy::carry_out(p.table(), &req, now)
                .await
                .map_err(|e| Failed::Retry(format!("{e:#}")))?;
            tracing::info!("privacy: {line}");
            return Ok(());
        }
    };
    let applied = match applied {
        Ok(a) => a,
        Err(e @ storeflow_app::StoreError::Corrupt(_)) => return Err(Failed::Dead(e.to_string())),
        Err(e) => return Err(Failed::Retry(e.to_string())),
    };
    p.hand_over(&applied, now, r.receive_count > 1)
        .await
        .map_err(|e| Failed::Retry(format!("{e:#}")))
}
