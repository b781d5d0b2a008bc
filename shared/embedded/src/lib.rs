//! # storeflow-embedded
//!
//! The whole of storeflow in one process on one machine — what
//! `storeflow serve` runs. The same ingest router as the ingest Lambda and
//! the same application services as the Lambda functions, on adapters for
//! one machine:
//!
//! - [`clock`] — the runtime's only clock reads: the system clock, or a
//!   scaled one (the demo and tests run hours in seconds).
//! - [`runtime`] — `Runtime`: the SQLite store, the current configuration
//!   (swapped whole on reload, after it validated), and three workers: the
//!   inbox (accepted events → engine), the timer wheel (wake-ups and
//!   campaign starts, fired within a second of due, from SQLite so they
//!   survive restarts) and the outbox (committed messages → channel).
//! - [`accept`] — group commit of accepted deliveries: one writer thread,
//!   one transaction for every request waiting, each answered after it.
//! - [`live`] — one validated configuration and the engine, router and
//!   campaign calendar made from it.
//! - [`http`] — the HTTP endpoints: ingestion, one-click unsubscribe and the
//!   preference centre, the profile view (admin).
//! - [`privacy`] — data requests and erasures on the embedded store.
//! - [`priority`] — the background workers yield the CPU to acknowledgements.

pub mod accept;
pub mod clock;
pub mod http;
pub mod live;
pub mod priority;
pub mod privacy;
pub mod runtime;

pub use clock::{Clock, ScaledClock, SystemClock};
pub use runtime::{Options, Runtime};
pub use storeflow_channels::SmtpSettings;
