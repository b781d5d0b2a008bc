//! A platform delivery without its HTTP wrapping: what `storeflow simulate`
//! reads from its input lines and what an EventBridge event carries. Such
//! deliveries take the verification-free path through the router.

use crate::request::Headers;
use crate::store::Source;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub source: Source,
    /// The webhook topic (`orders/create`) or the tracking call (`track`,
    /// `batch`, …); for webhooks, the topic header is used when absent.
    pub topic: Option<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// One delivery line of a simulation file:
/// `{"at", "source", "topic", "headers", "body"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryLine {
    pub at: jiff::Timestamp,
    pub source: Source,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The payload, as JSON (or a string holding the raw body).
    pub body: Value,
}

impl DeliveryLine {
    pub fn delivery(&self) -> Delivery {
        let body = match &self.body {
            Value::String(s) => s.clone().into_bytes(),
            v => serde_json::to_vec(v).unwrap_or_default(),
        };
        Delivery {
            source: self.source,
            topic: self.topic.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body,
        }
    }
}
