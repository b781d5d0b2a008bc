//! # storeflow-core
//!
//! The heart of storeflow: everything a store's automated operations
//! decide, as a deterministic function of `(state, input, now)` — no I/O,
//! no clock, no AWS types. The Lambda functions, the local server and the
//! simulator all run this same engine (the
//! simulator through the same application services as production).
//!
//! Where things live (one folder per concept; no module imports one that
//! imports it back, `tests/tests/import_cycles.rs` checks):
//!
//! - [`model`] — the vocabulary: the normalized event (`order_placed`, …,
//!   custom), ids, the channels and what each needs (`channel`), decisions
//!   and their reasons, durations, local times, countries' zones, signed
//!   links, and the limits an input value is brought within.
//! - [`config`] — a configuration directory's files parsed, checked and
//!   compiled into one `Config`; `settings` is `store.yaml`.
//! - [`customer`] — one customer's state: the profile (identity,
//!   attributes, consent, orders → metrics, lifecycle, RFM, loyalty;
//!   order-independent and idempotent), recent history, the run and message
//!   ledger, applied event ids, flow entry records; identity resolution
//!   and merges; what a data request exports and an erasure keeps.
//! - [`segment`] — the condition language (every evaluation returns the
//!   next instant its value could change) and segments compiled to
//!   evaluate only what an event can affect.
//! - [`flow`] — flow definitions: triggers, entry rules, goals; `flow::steps`
//!   holds one file per step type (its shape, checks, reads and run).
//! - [`policy`] — the one contact policy over every flow and channel, and
//!   its configuration.
//! - [`predict`] — predictions from a store's order history: BG/NBD for
//!   repeat purchases, Gamma-Gamma for their value, and the special
//!   functions and minimizer they need.
//! - [`results`] — what automation earns: attribution of orders to
//!   messages.
//! - [`template`] — rendering messages, over a context converted lazily.
//! - [`engine`] — `Engine::handle(state, input, now)`: starts, advances and
//!   ends runs (its `runner` executes steps), and store-level state
//!   (`shop`: waitlists). The simulator is `storeflow_app::simulate`: the
//!   application services over the memory store, on a virtual clock.
//! - `speed` (private) — what makes it fast and is no part of its meaning:
//!   bitsets, property fingerprints, properties kept alone, JSON of one
//!   property, prefetching.

// First, so its `reason!` macro is in scope in the modules below.
#[macro_use]
pub mod model;
pub mod config;
pub mod customer;
pub mod engine;
pub mod flow;
pub mod policy;
pub mod predict;
pub mod results;
pub mod segment;
mod speed;
pub mod template;

pub use config::{Config, ConfigError, ConfigErrors, Source};
pub use customer::state::CustomerState;
pub use engine::{Engine, Input, Outcome};
pub use model::decision::{Decision, Kind, Message};
pub use model::event::{Event, EventKind};
pub use model::reason::Reason;
