//! The vocabulary every part of the engine speaks: the normalized
//! [`event`], the [`ids`] of shops, profiles and events, the engine's
//! [`decision`]s and their [`reason`]s, [`duration`]s and local times of
//! day ([`localtime`]), countries' zones ([`geo`]), signed [`links`], and
//! the [`limits`] an input value is brought within.

// First, so its `reason!` macro is in scope in the modules below.
#[macro_use]
pub mod reason;
pub mod channel;
pub mod decision;
pub mod duration;
pub mod event;
pub mod geo;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod links;
pub mod localtime;
