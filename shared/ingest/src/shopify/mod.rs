//! Shopify webhooks (and SHOPLINE's, which share their shapes): one
//! normalizer per topic family, chosen by the topic header.
//!
//! Every event's `occurred_at` comes from the payload's own timestamps
//! (`updated_at`, `created_at`, `processed_at`, …), never from when the
//! delivery arrived, so the engine's last-writer-wins profile never lets an
//! older update overwrite a newer one that arrived first.

mod catalog;
mod checkouts;
mod customers;
pub mod eventbridge;
mod fulfillments;
mod orders;
mod privacy;
mod shapes;

use crate::normalized::{EventBuilder, Normalized};
use crate::refusal::Refusal;
use crate::store::Facts;
use jiff::Timestamp;
use storeflow_core::model::ids::ShopId;

/// Which of the two Shopify-shaped platforms sent the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Shopify,
    Shopline,
}

impl Platform {
    pub fn prefix(&self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Shopline => "shopline",
        }
    }
}

/// What a normalizer knows besides the body.
pub struct Ctx<'a> {
    pub platform: Platform,
    pub topic: &'a str,
    pub shop: ShopId,
    /// When the platform triggered the delivery (a header), the last resort
    /// for payloads that carry no time of their own.
    pub triggered_at: Option<Timestamp>,
    /// When the delivery arrived: used only when nothing else tells the time.
    pub now: Timestamp,
    pub facts: &'a dyn Facts,
}

impl Ctx<'_> {
    pub fn builder(&self) -> EventBuilder<'_> {
        EventBuilder {
            shop: &self.shop,
            prefix: self.platform.prefix(),
        }
    }

    /// The payload's time, else the trigger time, else arrival.
    pub fn time(&self, payload: Option<Timestamp>) -> Timestamp {
        payload.or(self.triggered_at).unwrap_or(self.now)
    }
}

/// The Shopify topics storeflow understands.
pub const SHOPIFY_TOPICS: &[&str] = &[
    "customers/create",
    "customers/update",
    "customers_marketing_consent/update",
    "customers_email_marketing_consent/update",
    "checkouts/create",
    "checkouts/update",
    "carts/create",
    "carts/update",
    "orders/create",
    "orders/paid",
    "orders/updated",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/cancelled",
    "refunds/create",
    "fulfillments/create",
    "fulfillments/update",
    "fulfillment_events/create",
    "inventory_levels/update",
    "products/update",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
];

/// The SHOPLINE topics storeflow understands (same payload shapes).
pub const SHOPLINE_TOPICS: &[&str] = &[
    "customers/create",
    "customers/update",
    "checkouts/create",
    "checkouts/update",
    "carts/create",
    "carts/update",
    "orders/create",
    "orders/paid",
    "orders/updated",
    "orders/fulfilled",
    "orders/cancelled",
    "refunds/create",
];

/// Normalizes one delivery of `ctx.topic`. An unknown topic is not an
/// error: it is recorded and ignored (the merchant may subscribe to more
/// than storeflow reads).
pub fn normalize(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let known = match ctx.platform {
        Platform::Shopify => SHOPIFY_TOPICS,
        Platform::Shopline => SHOPLINE_TOPICS,
    };
    if !known.contains(&ctx.topic) {
        return Ok(Normalized::ignored(format!(
            "topic {:?} is not one storeflow reads; recorded and ignored",
            ctx.topic
        )));
    }
    match ctx.topic {
        "customers/create" | "customers/update" => customers::customer(ctx, body),
        "customers_marketing_consent/update" => customers::sms_consent(ctx, body),
        "customers_email_marketing_consent/update" => customers::email_consent(ctx, body),
        "checkouts/create" | "checkouts/update" => checkouts::checkout(ctx, body),
        "carts/create" | "carts/update" => checkouts::cart(ctx, body),
        "refunds/create" => orders::refund(ctx, body),
        t if t.starts_with("orders/") => orders::order(ctx, body),
        "fulfillments/create" | "fulfillments/update" => fulfillments::fulfillment(ctx, body),
        "fulfillment_events/create" => fulfillments::fulfillment_event(ctx, body),
        "inventory_levels/update" => catalog::inventory_level(ctx, body),
        "products/update" => catalog::product(ctx, body),
        "customers/data_request" | "customers/redact" | "shop/redact" => {
            privacy::privacy(ctx, body)
        }
        _ => Ok(Normalized::ignored("unreachable topic")),
    }
}
