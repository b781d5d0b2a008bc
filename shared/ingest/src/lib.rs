//! # storeflow-ingest
//!
//! Everything platforms and storefronts send, verified, deduplicated and
//! normalized into storeflow events — or refused with a clear reason.
//! Pure: no I/O, no clock (`now` is an argument), no AWS types; the
//! Lambda function and the local server wrap the same [`Router`].
//!
//! - [`request`] — an HTTP request and response of no server library.
//! - [`signature`] — HMAC-SHA256 webhook signatures, several secrets at once.
//! - [`router`] — endpoints, status codes, the order of checks.
//! - [`shopify`] — Shopify (and SHOPLINE) topics → events; the EventBridge envelope.
//! - [`segment`] — Segment-spec tracking calls → events.
//! - [`store`] — the delivery store port (idempotency, raw deliveries,
//!   facts) and its in-memory implementation.
//! - [`enrich`] — the customer of an order, for payloads that name only the order.
//! - [`delivery`] — unwrapped deliveries (simulation lines, EventBridge).

pub mod delivery;
pub mod enrich;
pub mod fields;
pub mod normalized;
pub mod refusal;
pub mod request;
pub mod router;
pub mod segment;
pub mod shopify;
pub mod signature;
pub mod store;

pub use delivery::{Delivery, DeliveryLine};
pub use normalized::{Accepted, Normalized};
pub use refusal::Refusal;
pub use request::{Headers, Request, Response};
pub use router::{EnvOverrides, Handled, IngestConfig, Router};
pub use signature::Secrets;
pub use store::{DeliveryStore, MemoryStore, RawDelivery, Source};
