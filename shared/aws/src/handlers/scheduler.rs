//! The scheduler function: timers from the timers queue (a customer's or a
//! shop's wake-up) and the two cron schedules (campaign calendar,
//! reconciliation). A timer for a wake-up that moved does nothing; one that
//! arrives early is put back for the rest of its wait.

use super::evaluate::Pipeline;
use super::{Failures, Record};
use crate::keys;
use crate::table::{get_n, get_s, key, s, unavailable, Table};
use crate::timers::TimerMessage;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use jiff::{SignedDuration, Timestamp};
use storeflow_core::ids::{ProfileId, ShopId};

/// How far back reconciliation looks for wake-ups whose timer was lost.
pub const RECONCILE_HOURS: i64 = 48;
/// Wake-ups due this recently are probably in flight, not lost.
const IN_FLIGHT: SignedDuration = SignedDuration::from_secs(5 * 60);

/// What one timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// The wake-up ran: this many decisions.
    Ran(usize),
    /// The stored wake-up is another one now: nothing to do.
    Stale,
    /// Early: armed again for the rest of the wait.
    Early,
    /// Reconciliation re-armed this many wake-ups.
    Reconciled { timers: usize },
    /// The calendar's tick: campaign starts begun (and missed).
    Calendar(crate::campaigns::Calendar),
    /// A campaign page put this many members on the events queue.
    Enrolled(usize),
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
        if let Err(e) = fire(p, &m, now, r.receive_count > 1).await {
            failures.fail(r, format!("{e:#}"));
        }
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
        TimerMessage::Reconcile => reconcile(p, now).await,
        TimerMessage::Calendar => {
            let c = crate::campaigns::tick(&p.app.store, &p.timers, p.app.engine.campaigns(), now)
                .await?;
            Ok(Fired::Calendar(c))
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

/// Re-arms every wake-up of the last [`RECONCILE_HOURS`] that is past due
/// (its timer was lost), from the sparse `due` index: no scan.
async fn reconcile(p: &Pipeline, now: Timestamp) -> anyhow::Result<Fired> {
    let t: &Table = &p.app.store;
    let cutoff = now - IN_FLIGHT;
    let (_, upto) = keys::due(cutoff, "~");
    let mut timers = 0;
    for h in 0..=RECONCILE_HOURS {
        let hour = keys::hour(cutoff - SignedDuration::from_hours(h));
        let mut start = None;
        loop {
            let page = t
                .client
                .query()
                .table_name(&t.name)
                .index_name("due")
                .key_condition_expression("due_hour = :h AND due_at <= :upto")
                .expression_attribute_values(":h", s(&hour))
                .expression_attribute_values(":upto", s(&upto))
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| unavailable("Query due", e))?;
            t.meter.read("Query due", page.consumed_capacity());
            for k in page.items() {
                let (Some(pk), Some(sk)) = (get_s(k, "pk"), get_s(k, "sk")) else {
                    continue;
                };
                if rearm(p, t, pk, sk, now).await? {
                    timers += 1;
                }
            }
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
    }
    if timers > 0 {
        tracing::warn!("reconcile: re-armed {timers} wake-up(s)");
    }
    Ok(Fired::Reconciled { timers })
}

/// One index entry: whether its timer was re-armed (not when the item is
/// gone meanwhile).
async fn rearm(
    p: &Pipeline,
    t: &Table,
    pk: &str,
    sk: &str,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let Some(item) = t.get(key(pk, sk), true).await? else {
        return Ok(false);
    };
    let (Some(shop), Some(due)) = (
        get_s(&item, "shop").and_then(|s| ShopId::parse(s).ok()),
        get_n(&item, "wake_us").and_then(|us| Timestamp::from_microsecond(us).ok()),
    ) else {
        return Ok(false);
    };
    let m = match pk.strip_prefix("profile#") {
        Some(id) => TimerMessage::Wake {
            shop,
            profile: ProfileId::parse(id).map_err(|e| anyhow::anyhow!("{pk}: {e}"))?,
            due,
        },
        None => TimerMessage::ShopWake { shop, due },
    };
    p.timers.arm(&m, now).await?;
    Ok(true)
}
