//! Privacy requests (GDPR / CCPA, Shopify's mandatory privacy topics):
//! export everything stored about a customer, erase a customer, erase a
//! whole shop. Each runtime carries them out on its own stores; this module
//! says what an export contains and what an erasure keeps.

use crate::customer::state::CustomerState;
use crate::model::event::Identity;
use crate::model::ids::{ProfileId, ShopId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a platform asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum PrivacyRequest {
    /// Produce the customer's stored data (Shopify `customers/data_request`).
    ExportCustomer {
        shop: ShopId,
        customer: Identity,
        /// The platform's request id, to answer it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// Erase the customer (Shopify `customers/redact`).
    EraseCustomer {
        shop: ShopId,
        customer: Identity,
        /// Orders the platform asked to redact (their ids).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        orders: Vec<String>,
    },
    /// Erase everything about the shop (Shopify `shop/redact`).
    EraseShop { shop: ShopId },
}

/// What an erasure keeps: proof that it happened, and nothing personal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    pub shop: ShopId,
    pub profile: ProfileId,
    pub at: Timestamp,
    /// How much was erased (events kept in history, runs, messages counted
    /// by the contact policy, orders).
    pub events: usize,
    pub runs: usize,
    pub messages: usize,
    pub orders: usize,
}

impl CustomerState {
    /// Everything stored about this customer, as one JSON document: the
    /// answer to a data request.
    pub fn export(&self) -> Value {
        json!({
            "profile": self.profile,
            "events": self.history.iter().collect::<Vec<_>>(),
            "runs": self.runs,
            "messages": self.contacts,
            "segments": self.segments,
        })
    }

    /// The record an erasure of this state leaves behind.
    pub fn erasure(&self, at: Timestamp) -> Erasure {
        Erasure {
            shop: self.profile.shop.clone(),
            profile: self.profile.id.clone(),
            at,
            events: self.history.len(),
            runs: self.runs.len(),
            messages: self.contacts.len(),
            orders: self.profile.orders.len(),
        }
    }
}
