//! `fulfillments/create|update` and `fulfillment_events/create`: shipping
//! progress as `shipment_updated` (what the shipping-update flow reads).

use super::shapes::{items, Line};
use super::Ctx;
use crate::fields::{first_time, parse, Id, Time};
use crate::normalized::{nonblank, Accepted, Normalized};
use crate::refusal::Refusal;
use serde::Deserialize;
use storeflow_core::model::event::{
    EventKind, FulfillmentProps, Identity, ShipmentProps, ShipmentStatus,
};

/// Shopify's shipment and fulfillment-event statuses onto ours; the ones
/// before the parcel moves (label printed, confirmed, …) are no news.
fn status(s: &str) -> Option<ShipmentStatus> {
    match s {
        "in_transit" | "picked_up" | "carrier_picked_up" => Some(ShipmentStatus::InTransit),
        "out_for_delivery" => Some(ShipmentStatus::OutForDelivery),
        "delivered" => Some(ShipmentStatus::Delivered),
        "failure" | "attempted_delivery" => Some(ShipmentStatus::Failed),
        _ => None,
    }
}

/// One shipment status of one fulfilment is one fact, however it arrives
/// (a fulfilment update or a fulfilment event): one event id.
fn shipment(
    ctx: &Ctx,
    fulfillment: &str,
    who: Identity,
    p: ShipmentProps,
    at: jiff::Timestamp,
) -> Accepted {
    let name = serde_json::to_value(p.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    ctx.builder().make(
        &["shipment", fulfillment, &name],
        at,
        who,
        EventKind::ShipmentUpdated(p),
    )
}

#[derive(Deserialize)]
struct Fulfillment {
    id: Id,
    order_id: Id,
    email: Option<String>,
    shipment_status: Option<String>,
    tracking_company: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    #[serde(default)]
    line_items: Vec<Line>,
    created_at: Option<Time>,
    updated_at: Option<Time>,
}

pub fn fulfillment(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let f: Fulfillment = parse(ctx.topic, body)?;
    let who = Identity {
        email: nonblank(f.email.as_deref()),
        ..Default::default()
    };
    let mut out = Normalized::default();
    if ctx.topic == "fulfillments/create" {
        let at = ctx.time(first_time(&[f.created_at, f.updated_at]));
        out.accepted.push(ctx.builder().make(
            &[ctx.topic, &f.id.0],
            at,
            who.clone(),
            EventKind::OrderFulfilled(FulfillmentProps {
                order_id: f.order_id.0.clone(),
                partial: false,
                line_items: items(&f.line_items),
                tracking_number: nonblank(f.tracking_number.as_deref()),
                tracking_url: nonblank(f.tracking_url.as_deref()),
                carrier: nonblank(f.tracking_company.as_deref()),
            }),
        ));
    }
    match f.shipment_status.as_deref().and_then(status) {
        Some(s) => {
            let at = ctx.time(first_time(&[f.updated_at, f.created_at]));
            let p = ShipmentProps {
                order_id: f.order_id.0.clone(),
                status: s,
                fulfillment_id: Some(f.id.0.clone()),
                tracking_number: nonblank(f.tracking_number.as_deref()),
                tracking_url: nonblank(f.tracking_url.as_deref()),
                carrier: nonblank(f.tracking_company.as_deref()),
                estimated_delivery_at: None,
            };
            out.accepted.push(shipment(ctx, &f.id.0, who, p, at));
        }
        None if out.accepted.is_empty() => {
            out.note = Some(format!(
                "{}: shipment status {:?} is no news to the customer",
                ctx.topic,
                f.shipment_status.as_deref().unwrap_or("null")
            ));
        }
        None => {}
    }
    Ok(out)
}

#[derive(Deserialize)]
struct FulfillmentEvent {
    fulfillment_id: Id,
    order_id: Id,
    status: String,
    happened_at: Option<Time>,
    created_at: Option<Time>,
    estimated_delivery_at: Option<Time>,
}

/// A fulfilment event names its order, not its customer: the router finds
/// the customer from the order seen earlier.
pub fn fulfillment_event(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let e: FulfillmentEvent = parse(ctx.topic, body)?;
    let Some(s) = status(&e.status) else {
        return Ok(Normalized::ignored(format!(
            "{}: status {:?} is no news to the customer",
            ctx.topic, e.status
        )));
    };
    let at = ctx.time(first_time(&[e.happened_at, e.created_at]));
    let p = ShipmentProps {
        order_id: e.order_id.0.clone(),
        status: s,
        fulfillment_id: Some(e.fulfillment_id.0.clone()),
        tracking_number: None,
        tracking_url: None,
        carrier: None,
        estimated_delivery_at: e.estimated_delivery_at.map(|t| t.0),
    };
    Ok(Normalized {
        accepted: vec![shipment(
            ctx,
            &e.fulfillment_id.0,
            Identity::default(),
            p,
            at,
        )],
        ..Default::default()
    })
}
