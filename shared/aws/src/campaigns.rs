//! Scheduled campaigns on AWS: the calendar cron starts each campaign once,
//! and its enrolment runs as pages of a parallel scan of the customers'
//! state items, each page a message on the timers queue (docs/DATA.md,
//! patterns 22 and 23).
//!
//! A campaign goes to a segment, and nothing indexes customers by segment
//! (every membership change would cost a write), so its start reads every
//! state item once: a scan, split into [`PARTS`] parallel segments and
//! pages of [`PAGE_ITEMS`], each page one scheduler invocation that puts a
//! `campaign` input on the events queue for each member and the next page on
//! the timers queue. Evaluate then enters each member into the flow as
//! `storeflow serve` does; the engine checks membership again at that
//! instant and enters a customer at most once per campaign start, so a page
//! run twice (a redelivery) changes nothing.

use crate::codec::unpack;
use crate::handlers::Queued;
use crate::keys::{self, STATE};
use crate::queues::EventsQueue;
use crate::table::{get_b, get_s, key, n, s, scan_cursor, unavailable, Table};
use crate::timers::{TimerMessage, Timers};
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::CustomerState;

/// Parallel scan segments per campaign start: pages run side by side.
pub const PARTS: u32 = 4;
/// Items one page reads (about 2 KB each: under 1 MB, well within a
/// 30-second invocation).
pub const PAGE_ITEMS: i32 = 250;
/// A start older than this when the calendar first sees it (a campaign
/// added to the configuration after its date) is not run.
pub const LATE_LIMIT: SignedDuration = SignedDuration::from_hours(24);

/// One page of a campaign's enrolment.
pub use crate::pages::CampaignPage as Page;

/// What the calendar did at one tick.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Campaign starts begun now (their first pages queued).
    pub started: Vec<(String, Timestamp)>,
    /// Starts too old to run, skipped with a warning.
    pub missed: Vec<(String, Timestamp)>,
}

/// Starts every campaign whose start has come and that has not been started
/// yet: a conditional put claims the start (so two calendar ticks never
/// start it twice), then its first pages go on the timers queue.
pub async fn tick(
    table: &Table,
    timers: &Timers,
    campaigns: Vec<(String, String, Timestamp)>,
    now: Timestamp,
) -> anyhow::Result<Calendar> {
    let mut out = Calendar::default();
    for (flow, segment, start) in campaigns {
        if start > now {
            continue;
        }
        let (pk, sk) = keys::campaign_key(&flow, start);
        let mut claim = key(pk.clone(), sk.clone());
        claim.insert("claimed_at".into(), s(now.to_string()));
        claim.insert("segment".into(), s(&segment));
        // Clean-up only: a claim outlives any tick that could see its start.
        claim.insert("expires_at".into(), n(start.as_second() + 400 * 86_400));
        let late = now.duration_since(start) > LATE_LIMIT;
        if late {
            claim.insert("missed".into(), AttributeValue::Bool(true));
        }
        if table.create(claim).await?.is_some() {
            continue;
        }
        if late {
            tracing::warn!(
                flow,
                %start,
                "campaign start more than {} h ago when first seen: not run",
                LATE_LIMIT.as_hours()
            );
            out.missed.push((flow, start));
            continue;
        }
        for part in 0..PARTS {
            let page = Page {
                flow: flow.clone(),
                segment: segment.clone(),
                start,
                part,
                parts: PARTS,
                cursor: None,
            };
            if let Err(e) = timers.enqueue(&TimerMessage::CampaignPage(page)).await {
                // Nothing of it has run: let the next tick start it again.
                table.delete(key(pk, sk)).await?;
                return Err(e);
            }
        }
        tracing::info!(flow, %start, segment, "campaign started");
        out.started.push((flow, start));
    }
    Ok(out)
}

/// Runs one page: the members of the campaign's segment among the state
/// items it reads go to the events queue as `campaign` inputs, then the
/// page after it (if any) to the timers queue. Returns how many members.
pub async fn page(
    table: &Table,
    timers: &Timers,
    events: &EventsQueue,
    p: &Page,
) -> anyhow::Result<usize> {
    let got = table
        .scan_page(p.part, p.parts, PAGE_ITEMS, p.cursor.as_ref())
        .filter_expression("sk = :state AND begins_with(pk, :profile)")
        .expression_attribute_values(":state", s(STATE))
        .expression_attribute_values(":profile", s("profile#"))
        .send()
        .await
        .map_err(|e| unavailable("Scan campaign", e))?;
    table.meter.read("Scan campaign", got.consumed_capacity());
    let mut members = Vec::new();
    for item in got.items() {
        let (Some(pk), Some(shop), Some(bytes)) = (
            get_s(item, "pk"),
            get_s(item, "shop").and_then(|v| ShopId::parse(v).ok()),
            get_b(item, "state"),
        ) else {
            continue;
        };
        let Some(profile) = pk
            .strip_prefix("profile#")
            .and_then(|id| ProfileId::parse(id).ok())
        else {
            continue;
        };
        match unpack::<CustomerState>(bytes) {
            Ok(st) if st.segments.is_member(&p.segment) => members.push(Queued::Campaign {
                shop,
                profile,
                flow: p.flow.clone(),
            }),
            Ok(_) => {}
            // One unreadable state must not stop the campaign for the rest.
            Err(e) => tracing::error!(%pk, "campaign {}: state not readable: {e}", p.flow),
        }
    }
    let n = members.len();
    events.push(members).await?;
    if let Some(last) = got.last_evaluated_key() {
        let next = Page {
            cursor: Some(scan_cursor(last)),
            ..p.clone()
        };
        timers.enqueue(&TimerMessage::CampaignPage(next)).await?;
    }
    Ok(n)
}
