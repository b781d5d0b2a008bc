//! The ingest function: verify, dedupe and keep a delivery (the same
//! router as `storeflow serve`), put what it accepted on the events queue,
//! then remember the delivery as seen. Answers well within Shopify's 5 s:
//! a handful of single-item reads and writes and one queue call.

use super::Queued;
use crate::deliveries::Deliveries;
use crate::queues::EventsQueue;
use crate::table::Table;
use jiff::Timestamp;
use storeflow_ingest::{Accepted, Request, Response, Router};

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
