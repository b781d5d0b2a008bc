//! The mandatory privacy topics: `customers/data_request`,
//! `customers/redact`, `shop/redact`. They become privacy requests that
//! the runtime carries out on its stores.

use super::Ctx;
use crate::fields::{parse, Id};
use crate::normalized::{nonblank, Accepted, Normalized};
use crate::refusal::Refusal;
use serde::Deserialize;
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::event::Identity;

#[derive(Deserialize)]
struct Body {
    customer: Option<Who>,
    #[serde(default)]
    orders_to_redact: Vec<Id>,
    data_request: Option<DataRequest>,
}

#[derive(Deserialize)]
struct Who {
    id: Option<Id>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
struct DataRequest {
    id: Option<Id>,
}

pub fn privacy(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let b: Body = parse(ctx.topic, body)?;
    let shop = ctx.shop.clone();
    let request = if ctx.topic == "shop/redact" {
        PrivacyRequest::EraseShop { shop }
    } else {
        let Some(c) = b.customer else {
            return Err(Refusal::Malformed(format!(
                "{}: missing field \"customer\"",
                ctx.topic
            )));
        };
        let customer = Identity {
            id: c.id.map(|i| i.0),
            email: nonblank(c.email.as_deref()),
            phone: nonblank(c.phone.as_deref()),
            anonymous_id: None,
        };
        if customer.is_empty() {
            return Err(Refusal::Malformed(format!(
                "{}: customer has no id, email or phone",
                ctx.topic
            )));
        }
        if ctx.topic == "customers/data_request" {
            PrivacyRequest::ExportCustomer {
                shop,
                customer,
                request_id: b.data_request.and_then(|d| d.id).map(|i| i.0),
            }
        } else {
            PrivacyRequest::EraseCustomer {
                shop,
                customer,
                orders: b.orders_to_redact.into_iter().map(|i| i.0).collect(),
            }
        }
    };
    Ok(Normalized {
        accepted: vec![Accepted::Privacy(request)],
        ..Default::default()
    })
}
