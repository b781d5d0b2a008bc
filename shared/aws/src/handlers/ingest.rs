//! The ingest function: verify, dedupe and keep a delivery (the same
//! router as `storeflow serve`), put what it accepted on the events queue,
//! then keep the delivery (raw body and idempotency record in one item). Answers well within Shopify's 5 s:
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
    let mut store = Deliveries::new(table);
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
        // Nothing kept: the platform's retry goes through again.
        tracing::error!("ingest: {e:#}");
        return Response::error(503, "storeflow could not queue the events; retry later");
    }
    if let Err(e) = store.keep().await {
        // The events are queued but the raw delivery is not kept: the
        // platform's retry keeps it, and its events, queued again, are
        // applied once (the engine drops duplicate event ids).
        tracing::error!("ingest: keeping the delivery: {e}");
        return Response::error(503, "storeflow could not keep the delivery; retry later");
    }
    handled.response
}
