//! Payload pieces several topics share: the embedded customer, addresses,
//! line items, marketing consent.

use crate::fields::{Id, Money, Time};
use crate::normalized::nonblank;
use serde::Deserialize;
use storeflow_core::model::event::{ConsentStatus, Identity, LineItem};

#[derive(Debug, Deserialize)]
pub struct CustomerRef {
    pub id: Option<Id>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Address {
    pub country_code: Option<String>,
    pub province_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Line {
    pub product_id: Option<Id>,
    pub variant_id: Option<Id>,
    pub sku: Option<String>,
    pub title: Option<String>,
    pub name: Option<String>,
    pub variant_title: Option<String>,
    pub quantity: Option<Money>,
    pub price: Option<Money>,
}

impl Line {
    pub fn to_item(&self) -> LineItem {
        LineItem {
            product_id: self
                .product_id
                .as_ref()
                .map(|i| i.0.clone())
                .or_else(|| nonblank(self.sku.as_deref()))
                .unwrap_or_default(),
            variant_id: self.variant_id.as_ref().map(|i| i.0.clone()),
            sku: nonblank(self.sku.as_deref()),
            title: nonblank(self.title.as_deref())
                .or_else(|| nonblank(self.name.as_deref()))
                .unwrap_or_default(),
            variant_title: nonblank(self.variant_title.as_deref()),
            quantity: self.quantity.map(Money::count).unwrap_or(1),
            price: self.price.map(|m| m.0).unwrap_or(0.0),
            image_url: None,
            url: None,
        }
    }
}

pub fn items(lines: &[Line]) -> Vec<LineItem> {
    lines.iter().map(Line::to_item).collect()
}

/// A marketing consent object (`email_marketing_consent`, `sms_marketing_consent`).
#[derive(Debug, Deserialize)]
pub struct Consent {
    pub state: Option<String>,
    pub consent_updated_at: Option<Time>,
}

/// Shopify's consent states onto ours; `pending` (double opt-in not yet
/// confirmed) and unknown states change nothing.
pub fn consent_status(state: Option<&str>) -> Option<ConsentStatus> {
    match state? {
        "subscribed" => Some(ConsentStatus::Subscribed),
        "not_subscribed" | "unsubscribed" | "redacted" | "invalid" => {
            Some(ConsentStatus::Unsubscribed)
        }
        _ => None,
    }
}

/// Who a payload is about: its own contact fields first, then the embedded
/// customer's; a cart token joins the browser's cart to the buyer.
pub fn identity(
    customer: Option<&CustomerRef>,
    email: Option<&str>,
    phone: Option<&str>,
    cart_token: Option<&str>,
) -> Identity {
    Identity {
        id: customer.and_then(|c| c.id.as_ref()).map(|i| i.0.clone()),
        email: nonblank(email).or_else(|| customer.and_then(|c| nonblank(c.email.as_deref()))),
        phone: nonblank(phone).or_else(|| customer.and_then(|c| nonblank(c.phone.as_deref()))),
        anonymous_id: nonblank(cart_token).map(cart_anonymous_id),
    }
}

/// The anonymous id a Shopify cart stands for until its buyer is known.
pub fn cart_anonymous_id(token: String) -> String {
    format!("cart:{token}")
}
