//! # storeflow-app
//!
//! The application services of storeflow: what happens around one call of
//! the pure engine. They are the same in every runtime — the AWS Lambda
//! functions and the embedded `storeflow serve` — and speak to the world
//! only through the narrow ports in [`ports`].
//!
//! - [`ports`] — the storage and delivery contracts an adapter implements
//!   (DynamoDB, SQLite, memory). A customer's evaluation is committed as
//!   one atomic [`ports::Commit`]: new state, identity keys, the next wake,
//!   the messages to deliver and the decision trace, conditional on the
//!   version it was read at. Two writers never both win.
//! - [`evaluate`] — `App`: an event, a wake-up or a campaign enrolment in,
//!   resolved to a customer (merging anonymous profiles), run through the
//!   engine, committed; a lost race is retried from a fresh read.
//! - [`memory`] — an in-memory adapter, for tests and the simulator.
//! - [`predictions`] — refitting each shop's prediction model from its
//!   customers' orders, stored with the shop and handed to the engine.
//! - [`preferences`] — one-click unsubscribe and the preference centre
//!   behind the signed links every message carries.
//! - [`simulate`] — the application itself over the memory store on a
//!   virtual clock (`storeflow simulate`, the scenario tests).
//! - [`privacy`] — finding a request's profiles and the export document,
//!   the same in every runtime.
//! - [`admin`] — the bearer tokens every non-public endpoint asks for.
//! - [`config_dir`] — reads a store's configuration directory (the CLI, the
//!   embedded runtime and the Lambda functions load it the same way).
//!
//! Nothing here reads a clock: `now` is always an argument.

pub mod admin;
pub mod config_dir;
pub mod dispatch;
pub mod evaluate;
pub mod memory;
pub mod ports;
pub mod predictions;
pub mod preferences;
pub mod privacy;
pub mod reports;
pub mod simulate;
pub mod tracking;

pub use evaluate::{App, Applied, Timer};
pub use ports::{Commit, Deliver, DeliverError, Delivered, StoreError};

/// A caught panic's message, for a dead letter's error (`panicked: …`):
/// one input's bug is recorded where its input is set aside.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let text = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("panicked: {text}")
}

/// The value of a future over ports that are synchronous underneath (the
/// memory store, a SQLite batch), without an async runtime.
///
/// # Panics
/// When the future does wait: a port that is not synchronous underneath.
pub fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a future over synchronous ports waited"),
    }
}
