//! Reconciliation: the daily cron that re-arms wake-ups whose timer was
//! lost (docs/DATA.md, pattern 12; docs/AWS.md, "Timers").
//!
//! A wake-up's timer is an SQS message or a one-time schedule, and every
//! path that arms one is retried by its queue until it succeeds, so a timer
//! is lost only past those retries: a message left in a dead-letter queue,
//! a schedule whose delivery failed for a day, an operator's mistake. The
//! state item's `wake_us` is the truth, so reconciliation looks for state
//! items whose wake-up is past and re-arms them. It finds them with a
//! filtered parallel scan, split into [`PARTS`] segments and pages, each
//! page one message on the timers queue, as a campaign's enrolment does.
//!
//! Why a scan and not an index: a `due` index on the wake-up changed an
//! index entry (a delete and a put, 2 write units) on every commit that
//! moved a customer's wake-up, which most commits do: 1.1 of the 4.8 write
//! units of an ingested event. A daily scan reads the table once, half a
//! read unit per 4 KB whatever the traffic: about 200,000 read units
//! ($0.03 on demand) a day for a million customers of 1.5 KB, the price of
//! 20,000 moved wake-ups under the index.

use crate::table::{get_n, get_s, n, s, scan_cursor, unavailable, Table};
use crate::timers::{TimerMessage, Timers};
use jiff::{SignedDuration, Timestamp};
use storeflow_core::model::ids::{ProfileId, ShopId};

/// Parallel scan segments per reconciliation.
pub const PARTS: u32 = 4;
/// Items one page reads at most (DynamoDB also stops a page at 1 MB):
/// few enough that re-arming all of them fits one invocation.
pub const PAGE_ITEMS: i32 = 500;
/// Wake-ups due this recently are probably in flight, not lost.
pub const IN_FLIGHT: SignedDuration = SignedDuration::from_secs(5 * 60);

/// One page of a reconciliation.
pub use crate::pages::ReconcilePage as Page;

/// The cron's part: queues the first page of each scan segment. Returns
/// how many.
pub async fn start(timers: &Timers, now: Timestamp) -> anyhow::Result<u32> {
    let cutoff = now - IN_FLIGHT;
    for part in 0..PARTS {
        let page = Page {
            cutoff,
            part,
            parts: PARTS,
            cursor: None,
        };
        // A failure fails the cron's invocation, which Scheduler retries;
        // pages queued twice re-arm a wake-up twice, and the second timer
        // finds it moved on.
        timers.enqueue(&TimerMessage::ReconcilePage(page)).await?;
    }
    Ok(PARTS)
}

/// Runs one page: arms a timer for every state item it reads whose stored
/// wake-up is at or before the cutoff, then queues the page after it.
/// Returns how many timers were armed.
pub async fn page(
    table: &Table,
    timers: &Timers,
    p: &Page,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let got = table
        .scan_page(p.part, p.parts, PAGE_ITEMS, p.cursor.as_ref())
        .filter_expression("sk = :state AND #wake <= :cutoff")
        .projection_expression("pk, #shop, #wake")
        .expression_attribute_names("#wake", "wake_us")
        .expression_attribute_names("#shop", "shop")
        .expression_attribute_values(":state", s(crate::keys::STATE))
        .expression_attribute_values(":cutoff", n(p.cutoff.as_microsecond()))
        .send()
        .await
        .map_err(|e| unavailable("Scan reconcile", e))?;
    table.meter.read("Scan reconcile", got.consumed_capacity());
    let mut armed = 0;
    for item in got.items() {
        let (Some(pk), Some(shop), Some(due)) = (
            get_s(item, "pk"),
            get_s(item, "shop").and_then(|v| ShopId::parse(v).ok()),
            get_n(item, "wake_us").and_then(|us| Timestamp::from_microsecond(us).ok()),
        ) else {
            tracing::error!(?item, "reconcile: a state item without shop or wake-up");
            continue;
        };
        let m = match pk.strip_prefix("profile#") {
            Some(id) => match ProfileId::parse(id) {
                Ok(profile) => TimerMessage::Wake { shop, profile, due },
                Err(e) => {
                    tracing::error!(%pk, "reconcile: {e}");
                    continue;
                }
            },
            None => TimerMessage::ShopWake { shop, due },
        };
        // The scan reads eventually: a wake-up that moved a moment ago is
        // armed at its old instant, and that timer finds it moved.
        timers.arm(&m, now).await?;
        armed += 1;
    }
    if armed > 0 {
        tracing::warn!(part = p.part, "reconcile: re-armed {armed} lost wake-up(s)");
    }
    if let Some(last) = got.last_evaluated_key() {
        let next = Page {
            cursor: Some(scan_cursor(last)),
            ..p.clone()
        };
        timers.enqueue(&TimerMessage::ReconcilePage(next)).await?;
    }
    Ok(armed)
}
