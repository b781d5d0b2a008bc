//! The scheduler function: timers from the timers queue (a customer's or a
//! shop's wake-up) and the two cron schedules (campaign calendar,
//! reconciliation, the predictions' refit). A timer for a wake-up that moved does nothing; one that
//! arrives early is put back for the rest of its wait.

use super::evaluate::Pipeline;
use super::{Failures, Record};
use crate::timers::TimerMessage;
use jiff::Timestamp;

/// What one timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// The wake-up ran: this many decisions.
    Ran(usize),
    /// The stored wake-up is another one now: nothing to do.
    Stale,
    /// Early: armed again for the rest of the wait.
    Early,
    /// The reconciliation cron queued this many scan pages.
    Reconciling(u32),
    /// A reconciliation page re-armed this many lost wake-ups.
    Reconciled { timers: usize },
    /// The calendar's tick: campaign starts begun (and missed).
    Calendar(crate::campaigns::Calendar),
    /// A campaign page put this many members on the events queue.
    Enrolled(usize),
    /// The refit cron refitted this many shops' prediction models.
    Refitted(usize),
}

pub async fn handle(p: &Pipeline, records: &[Record], now: Timestamp) -> Failures {
    let mut failures = Failures::default();
    for r in records {
        let m: TimerMessage = match serde_json::from_str(&r.body) {
            Ok(m) => m,
            Err(e) => {
                failures.fail(r, format!("not a timer: {e}"));
                continue;
            }
        };
        // A panic fails this record alone (its queue's redrive then sets
        // it aside); the batch's other timers still run.
        let run = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fire(
            p,
            &m,
            now,
            r.receive_count > 1,
        )))
        .await;
        match run {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.fail(r, format!("{e:#}")),
            Err(_) => failures.fail(r, "panicked (see the log line before this one)"),
        }
    }
    if let Err(e) = p.app.store.flush_rollups().await {
        tracing::error!("result counters not added: {e:#}");
    }
    failures
}

/// Runs one timer or cron input.
pub async fn fire(
    p: &Pipeline,
    m: &TimerMessage,
    now: Timestamp,
    redelivered: bool,
) -> anyhow::Result<Fired> {
    if let Some(due) = m.due() {
        if due > now {
            p.timers.arm(m, now).await?;
            return Ok(Fired::Early);
        }
    }
    if let TimerMessage::Wake { shop, .. } | TimerMessage::ShopWake { shop, .. } = m {
        p.fresh_model(shop, now).await;
    }
    match m {
        TimerMessage::Wake { shop, profile, due } => {
            match p.app.wake_due(shop, profile, *due, now).await? {
                Some(applied) => {
                    p.hand_over(&applied, now, redelivered).await?;
                    Ok(Fired::Ran(applied.decisions.len()))
                }
                None => Ok(Fired::Stale),
            }
        }
        TimerMessage::ShopWake { shop, .. } => {
            let applied = p.app.shop_wake(shop, now).await?;
            p.hand_over(&applied, now, redelivered).await?;
            Ok(Fired::Ran(applied.decisions.len()))
        }
        TimerMessage::Reconcile => Ok(Fired::Reconciling(
            crate::reconcile::start(&p.timers, now).await?,
        )),
        TimerMessage::ReconcilePage(page) => {
            let timers = crate::reconcile::page(&p.app.store, &p.timers, page, now).await?;
            Ok(Fired::Reconciled { timers })
        }
        TimerMessage::Calendar => {
            let c = crate::campaigns::tick(&p.app.store, &p.timers, p.app.engine.campaigns(), now)
                .await?;
            Ok(Fired::Calendar(c))
        }
        TimerMessage::Refit => {
            let started = std::time::Instant::now();
            let done = p.app.refit(now).await?;
            for r in &done {
                tracing::info!(
                    shop = %r.shop,
                    model = %serde_json::to_string(&r.model.model).unwrap_or_default(),
                    customers = r.model.customers,
                    "predictions refitted: {}",
                    r.model.reason
                );
            }
            tracing::info!(
                shops = done.len(),
                seconds = started.elapsed().as_secs_f64(),
                "refit done"
            );
            Ok(Fired::Refitted(done.len()))
        }
        TimerMessage::CampaignPage(page) => {
            let events = p.events.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "a campaign page needs the events queue: STOREFLOW_EVENTS_QUEUE_URL is not set"
                )
            })?;
            let members = crate::campaigns::page(&p.app.store, &p.timers, events, page).await?;
            Ok(Fired::Enrolled(members))
        }
    }
}
