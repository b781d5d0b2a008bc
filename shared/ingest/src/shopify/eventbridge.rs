//! Shopify webhooks delivered through Amazon EventBridge (Shopify's partner
//! event source): the envelope's `detail.payload` is the webhook body and
//! `detail.metadata` its headers. EventBridge deliveries are authenticated
//! by AWS, not by an HMAC, so they take the verification-free path.

use crate::delivery::Delivery;
use crate::fields::parse;
use crate::refusal::Refusal;
use crate::request::Headers;
use crate::store::Source;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    source: String,
    #[serde(rename = "detail-type", default)]
    detail_type: String,
    detail: Detail,
}

#[derive(Deserialize)]
struct Detail {
    payload: Value,
    #[serde(default)]
    metadata: Map<String, Value>,
}

/// The webhook inside an EventBridge event.
pub fn unwrap(event: &[u8]) -> Result<Delivery, Refusal> {
    let e: Envelope = parse("eventbridge", event)?;
    if !e.source.starts_with("aws.partner/shopify.com") {
        return Err(Refusal::Malformed(format!(
            "eventbridge: source {:?} is not a Shopify partner event source",
            e.source
        )));
    }
    if !e.detail_type.is_empty() && e.detail_type != "shopifyWebhook" {
        return Err(Refusal::Malformed(format!(
            "eventbridge: detail-type {:?} is not a Shopify webhook",
            e.detail_type
        )));
    }
    let headers: Headers = e
        .detail
        .metadata
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    let topic = headers.get("X-Shopify-Topic").map(str::to_string);
    Ok(Delivery {
        source: Source::Shopify,
        topic,
        headers,
        body: serde_json::to_vec(&e.detail.payload).unwrap_or_default(),
    })
}
