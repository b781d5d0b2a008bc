//! The Lambda functions' handlers, one file each. A handler takes its
//! dependencies and `now` as arguments and plain records in (an SQS record
//! is its id, body and receive count), so tests call it directly and the
//! function's `main.rs` only adapts the Lambda event to it.

pub mod evaluate;
pub mod feedback;
pub mod ingest;
pub mod scheduler;
pub mod send;

use serde::{Deserialize, Serialize};
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::Event;

/// One SQS record, as a handler needs it.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub body: String,
    /// `ApproximateReceiveCount`: above 1 it is a redelivery.
    pub receive_count: u32,
}

/// A message on the events queue: what ingest accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Queued {
    Event(Event),
    Privacy(PrivacyRequest),
    /// Enter this customer into a scheduled campaign's flow (the campaign
    /// calendar's enrolment, `crate::campaigns`).
    Campaign {
        shop: ShopId,
        profile: ProfileId,
        flow: String,
    },
}

/// The ids of the records that failed, for SQS's partial batch response:
/// only those are retried, and after the queue's `maxReceiveCount` they
/// move to its dead-letter queue. Each failure is logged with its error.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Failures(pub Vec<String>);

impl Failures {
    pub fn fail(&mut self, r: &Record, why: impl std::fmt::Display) {
        tracing::error!(message_id = %r.id, receive_count = r.receive_count, "{why}");
        self.0.push(r.id.clone());
    }
}
