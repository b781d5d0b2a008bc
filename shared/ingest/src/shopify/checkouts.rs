//! `checkouts/create|update` (the abandoned-checkout source) and
//! `carts/create|update`.

use super::shapes::{cart_anonymous_id, identity, items, CustomerRef, Line};
use super::Ctx;
use crate::fields::{first_time, parse, Id, Money, Time};
use crate::normalized::{nonblank, stamp, Normalized};
use crate::refusal::Refusal;
use serde::Deserialize;
use storeflow_core::model::event::{CartProps, CheckoutProps, EventKind, Identity};

#[derive(Deserialize)]
struct Checkout {
    /// The checkout token: orders name their checkout by it.
    token: Option<String>,
    id: Option<Id>,
    cart_token: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    customer: Option<CustomerRef>,
    #[serde(default)]
    line_items: Vec<Line>,
    total_price: Option<Money>,
    subtotal_price: Option<Money>,
    currency: Option<String>,
    presentment_currency: Option<String>,
    abandoned_checkout_url: Option<String>,
    created_at: Option<Time>,
    updated_at: Option<Time>,
}

pub fn checkout(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let c: Checkout = parse(ctx.topic, body)?;
    let Some(checkout_id) =
        nonblank(c.token.as_deref()).or_else(|| c.id.as_ref().map(|i| i.0.clone()))
    else {
        return Err(Refusal::Malformed(format!(
            "{}: missing field \"token\"",
            ctx.topic
        )));
    };
    let started = ctx.topic == "checkouts/create";
    let at = ctx.time(if started {
        first_time(&[c.created_at, c.updated_at])
    } else {
        first_time(&[c.updated_at, c.created_at])
    });
    let who = identity(
        c.customer.as_ref(),
        c.email.as_deref(),
        c.phone.as_deref(),
        c.cart_token.as_deref(),
    );
    let props = CheckoutProps {
        checkout_id: checkout_id.clone(),
        line_items: items(&c.line_items),
        total: c.total_price.map(|m| m.0).unwrap_or(0.0),
        subtotal: c.subtotal_price.map(|m| m.0),
        currency: nonblank(c.currency.as_deref())
            .or_else(|| nonblank(c.presentment_currency.as_deref())),
        url: nonblank(c.abandoned_checkout_url.as_deref()),
        updated_at: c.updated_at.map(|t| t.0),
    };
    // A checkout "starts" for storeflow when it first names a buyer: on
    // Shopify the email often arrives with a checkouts/update, and the
    // abandonment flow must not miss those. The id is the same for create
    // and update, so whichever comes first counts and the other is a
    // duplicate.
    let has_contact = who.email.is_some() || who.phone.is_some() || who.id.is_some();
    let b = ctx.builder();
    let mut accepted = Vec::new();
    if started || has_contact {
        let mut parts = vec!["checkout_started", checkout_id.as_str()];
        if !has_contact {
            parts.push("anonymous");
        }
        accepted.push(b.make(
            &parts,
            at,
            who.clone(),
            EventKind::CheckoutStarted(props.clone()),
        ));
    }
    if !started {
        accepted.push(b.make(
            &[ctx.topic, &checkout_id, &stamp(at)],
            at,
            who,
            EventKind::CheckoutUpdated(props),
        ));
    }
    Ok(Normalized {
        accepted,
        ..Default::default()
    })
}

#[derive(Deserialize)]
struct Cart {
    id: Option<Id>,
    token: Option<String>,
    #[serde(default)]
    line_items: Vec<CartLine>,
    created_at: Option<Time>,
    updated_at: Option<Time>,
}

#[derive(Deserialize)]
struct CartLine {
    #[serde(flatten)]
    line: Line,
    line_price: Option<Money>,
}

/// A cart names no customer: it is known by its token (an anonymous id)
/// until a checkout with the same cart token names the buyer.
pub fn cart(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let c: Cart = parse(ctx.topic, body)?;
    let Some(token) = nonblank(c.token.as_deref()).or_else(|| c.id.as_ref().map(|i| i.0.clone()))
    else {
        return Err(Refusal::Malformed(format!(
            "{}: missing field \"token\"",
            ctx.topic
        )));
    };
    let at = ctx.time(first_time(&[c.updated_at, c.created_at]));
    let lines: Vec<_> = c.line_items.iter().map(|l| l.line.to_item()).collect();
    let total: f64 = c
        .line_items
        .iter()
        .zip(&lines)
        .map(|(l, i)| {
            l.line_price
                .map(|m| m.0)
                .unwrap_or(i.price * i.quantity as f64)
        })
        .sum();
    let props = CartProps {
        cart_id: Some(token.clone()),
        line_items: lines,
        total: Some((total * 100.0).round() / 100.0),
        currency: None,
        url: None,
    };
    // A new cart holds what was just added; an update is the whole cart.
    let kind = if ctx.topic == "carts/create" {
        EventKind::AddedToCart(props)
    } else {
        EventKind::CartUpdated(props)
    };
    let who = Identity {
        anonymous_id: Some(cart_anonymous_id(token.clone())),
        ..Default::default()
    };
    Ok(Normalized {
        accepted: vec![ctx
            .builder()
            .make(&[ctx.topic, &token, &stamp(at)], at, who, kind)],
        ..Default::default()
    })
}
