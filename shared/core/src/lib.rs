//! # storeflow-core
//!
//! The heart of storeflow: everything a store's automated operations
//! decide, as a deterministic function of `(state, input, now)` — no I/O,
//! no clock, no AWS types. The Lambda functions, the local server and the
//! simulator all run this same engine.
//!
//! How the modules fit:
//!
//! - [`event`] — the normalized event model (`order_placed`, …, custom).
//! - [`profile`] — identity, attributes, consent, orders → metrics,
//!   lifecycle stage, RFM, loyalty; order-independent and idempotent.
//!   [`identity`] decides which profile an event belongs to and when two
//!   profiles merge.
//! - [`history`] — a customer's recent events, kept as long as some
//!   condition can see them; each with a [`fingerprint`] of its properties
//!   and only the properties something tests later ([`kept_props`]).
//!   [`property_pick`] makes JSON of one property of an event when the
//!   configuration reads no other. The state's other per-customer records:
//!   [`seen_ids`] (de-duplication), [`ledger`] (runs started, messages
//!   made), [`flow_entries`] (entry rules); the engine asks for the parts
//!   it is about to read ahead of reading them (`prefetch`).
//! - [`condition`] — the condition language; every evaluation returns the
//!   next instant its value could change. [`segment`] compiles segments
//!   and evaluates only what an event can affect.
//! - [`flow`] — flow definitions; [`engine`] starts, advances and ends
//!   runs, and its `runner` executes steps; [`policy`] is the contact policy;
//!   [`template`] renders messages (over a [`template_context`] converted
//!   lazily); [`shop`] holds store-level state
//!   (waitlists).
//! - [`config`] — parses and checks a configuration directory's files.
//! - [`simulate`] — the engine on a virtual clock.
//! - [`limits`] — what an input value outside the range a store can mean
//!   gets (clamped, and the change recorded in the trace).
//! - [`privacy`] — data requests and erasures (what an export holds, what
//!   an erasure keeps).

// First, so its `reason!` macro is in scope in the modules below.
#[macro_use]
pub mod reason;
mod bitset;
pub mod compare;
pub mod condition;
pub mod config;
pub mod context;
pub mod decision;
pub mod duration;
pub mod engine;
pub mod event;
pub mod fingerprint;
pub mod flow;
pub mod flow_entries;
pub mod geo;
pub mod history;
pub mod identity;
pub mod ids;
pub mod kept_props;
pub mod ledger;
pub mod limits;
pub mod links;
pub mod localtime;
pub mod policy;
pub mod policy_config;
mod prefetch;
pub mod privacy;
pub mod profile;
pub mod property_pick;
pub mod samples;
pub mod seen_ids;
pub mod segment;
pub mod settings;
pub mod shop;
pub mod simulate;
pub mod state;
pub mod template;
pub mod template_context;

pub use config::{Config, ConfigError, ConfigErrors, Source};
pub use decision::{Decision, Kind, Message};
pub use engine::{Engine, Input, Outcome};
pub use event::{Event, EventKind};
pub use reason::Reason;
pub use state::CustomerState;
