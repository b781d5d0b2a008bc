//! The evaluate function: each event through the application services
//! (profile, segments, flows, policy, templates), committed on the
//! customer's version (the commit hands its messages to the send queue);
//! then each wake-up that moved gets a timer.

use super::{Failures, Queued, Record};
use crate::queues::EventsQueue;
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
}

impl Pipeline {
    fn table(&self) -> &Table {
        &self.app.store
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

/// Handles one batch from the events queue; returns the records to retry.
pub async fn handle(p: &Pipeline, records: &[Record], now: Timestamp) -> Failures {
    let mut failures = Failures::default();
    for r in records {
        let queued: Queued = match serde_json::from_str(&r.body) {
            Ok(q) => q,
            Err(e) => {
                // A poison message: it fails alone, and after the queue's
                // receive limit it waits in the dead-letter queue.
                failures.fail(r, format!("not an event: {e}"));
                continue;
            }
        };
        // Events and campaign entries are evaluations, handed over alike.
        let applied = match queued {
            Queued::Event(event) => p.app.event(event, now).await,
            Queued::Campaign {
                shop,
                profile,
                flow,
            } => p.app.campaign(&shop, &profile, &flow, now).await,
            Queued::Privacy(req) => {
                let done = crate::privacy::carry_out(p.table(), &req, now)
                    .await
                    .map(|line| tracing::info!("privacy: {line}"));
                if let Err(e) = done {
                    failures.fail(r, format!("{e:#}"));
                }
                continue;
            }
        };
        let result = match applied {
            Ok(applied) => p.hand_over(&applied, now, r.receive_count > 1).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            failures.fail(r, format!("{e:#}"));
        }
    }
    failures
}
