//! `orders/*` and `refunds/create`.

use super::shapes::{identity, items, CustomerRef, Line};
use super::Ctx;
use crate::fields::{first_time, parse, Id, Money, Time};
use crate::normalized::{nonblank, stamp, Normalized};
use crate::refusal::Refusal;
use serde::Deserialize;
use storeflow_core::model::event::{
    CancelProps, EventKind, FulfillmentProps, Identity, OrderProps, RefundProps,
};

#[derive(Deserialize)]
struct Order {
    id: Id,
    name: Option<String>,
    order_number: Option<Id>,
    email: Option<String>,
    contact_email: Option<String>,
    phone: Option<String>,
    customer: Option<CustomerRef>,
    checkout_token: Option<String>,
    cart_token: Option<String>,
    #[serde(default)]
    line_items: Vec<Line>,
    total_price: Option<Money>,
    subtotal_price: Option<Money>,
    currency: Option<String>,
    #[serde(default)]
    discount_codes: Vec<DiscountCode>,
    order_status_url: Option<String>,
    created_at: Option<Time>,
    updated_at: Option<Time>,
    processed_at: Option<Time>,
    cancelled_at: Option<Time>,
    cancel_reason: Option<String>,
    #[serde(default)]
    fulfillments: Vec<Shipped>,
}

#[derive(Deserialize)]
struct DiscountCode {
    code: Option<String>,
}

#[derive(Deserialize)]
struct Shipped {
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    tracking_company: Option<String>,
}

pub fn order(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let o: Order = parse(ctx.topic, body)?;
    let who = identity(
        o.customer.as_ref(),
        o.email.as_deref().or(o.contact_email.as_deref()),
        o.phone.as_deref(),
        o.cart_token.as_deref(),
    );
    let placed = ctx.time(first_time(&[o.processed_at, o.created_at, o.updated_at]));
    let updated = ctx.time(first_time(&[o.updated_at, o.processed_at, o.created_at]));
    let id = o.id.0.clone();
    let b = ctx.builder();
    let (parts, at, kind): (Vec<String>, _, _) = match ctx.topic {
        "orders/create" => (vec![], placed, EventKind::OrderPlaced(props(&o))),
        "orders/paid" => (vec![], updated, EventKind::OrderPaid(props(&o))),
        "orders/cancelled" => {
            let at = ctx.time(first_time(&[o.cancelled_at, o.updated_at]));
            let kind = EventKind::OrderCancelled(CancelProps {
                order_id: id.clone(),
                reason: nonblank(o.cancel_reason.as_deref()),
            });
            (vec![], at, kind)
        }
        "orders/fulfilled" | "orders/partially_fulfilled" => {
            let partial = ctx.topic == "orders/partially_fulfilled";
            let last = o.fulfillments.last();
            let kind = EventKind::OrderFulfilled(FulfillmentProps {
                order_id: id.clone(),
                partial,
                line_items: items(&o.line_items),
                tracking_number: last.and_then(|f| nonblank(f.tracking_number.as_deref())),
                tracking_url: last.and_then(|f| nonblank(f.tracking_url.as_deref())),
                carrier: last.and_then(|f| nonblank(f.tracking_company.as_deref())),
            });
            // A partial fulfilment can happen several times.
            let parts = if partial {
                vec![stamp(updated)]
            } else {
                vec![]
            };
            (parts, updated, kind)
        }
        // An edit of an order already placed: a custom event, so flows may
        // react without the order being counted twice.
        _ => {
            let mut p = serde_json::to_value(props(&o))
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            if let Some(t) = o.cancelled_at {
                p.insert("cancelled_at".into(), serde_json::json!(t.0));
            }
            let kind = EventKind::Custom {
                name: "order_updated".into(),
                properties: p,
            };
            (vec![stamp(updated)], updated, kind)
        }
    };
    let mut id_parts: Vec<&str> = vec![ctx.topic, &id];
    id_parts.extend(parts.iter().map(String::as_str));
    Ok(Normalized {
        accepted: vec![b.make(&id_parts, at, who, kind)],
        ..Default::default()
    })
}

fn props(o: &Order) -> OrderProps {
    OrderProps {
        order_id: o.id.0.clone(),
        order_number: nonblank(o.name.as_deref())
            .or_else(|| o.order_number.as_ref().map(|n| n.0.clone())),
        checkout_id: nonblank(o.checkout_token.as_deref()),
        line_items: items(&o.line_items),
        total: o.total_price.map(|m| m.0).unwrap_or(0.0),
        subtotal: o.subtotal_price.map(|m| m.0),
        currency: nonblank(o.currency.as_deref()),
        discount_codes: o
            .discount_codes
            .iter()
            .filter_map(|d| nonblank(d.code.as_deref()))
            .collect(),
        url: nonblank(o.order_status_url.as_deref()),
    }
}

#[derive(Deserialize)]
struct Refund {
    id: Option<Id>,
    order_id: Id,
    created_at: Option<Time>,
    processed_at: Option<Time>,
    #[serde(default)]
    transactions: Vec<Transaction>,
    #[serde(default)]
    refund_line_items: Vec<RefundLine>,
}

#[derive(Deserialize)]
struct Transaction {
    kind: Option<String>,
    status: Option<String>,
    amount: Option<Money>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct RefundLine {
    subtotal: Option<Money>,
    total_tax: Option<Money>,
}

/// A refund names its order, not its customer: the router finds the
/// customer from the order seen earlier.
pub fn refund(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let r: Refund = parse(ctx.topic, body)?;
    let at = ctx.time(first_time(&[r.processed_at, r.created_at]));
    // The money that went back: successful refund transactions, else the
    // refunded lines with their tax.
    let refunds: Vec<&Transaction> = r
        .transactions
        .iter()
        .filter(|t| t.kind.as_deref() == Some("refund") && t.status.as_deref() != Some("failure"))
        .filter(|t| !matches!(t.status.as_deref(), Some("error") | Some("pending")))
        .collect();
    let amount: f64 = if refunds.is_empty() {
        r.refund_line_items
            .iter()
            .map(|l| {
                l.subtotal.map(|m| m.0).unwrap_or(0.0) + l.total_tax.map(|m| m.0).unwrap_or(0.0)
            })
            .sum()
    } else {
        refunds.iter().filter_map(|t| t.amount).map(|m| m.0).sum()
    };
    let refund_id = r.id.as_ref().map(|i| i.0.clone());
    let key = refund_id.clone().unwrap_or_else(|| stamp(at));
    let kind = EventKind::Refunded(RefundProps {
        order_id: r.order_id.0.clone(),
        refund_id,
        amount: (amount * 100.0).round() / 100.0,
        currency: refunds.iter().find_map(|t| nonblank(t.currency.as_deref())),
    });
    Ok(Normalized {
        accepted: vec![ctx.builder().make(
            &[ctx.topic, &r.order_id.0, &key],
            at,
            Identity::default(),
            kind,
        )],
        ..Default::default()
    })
}
