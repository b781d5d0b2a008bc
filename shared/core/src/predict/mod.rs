//! Predictions of what a customer will do: how likely they still buy, how
//! many orders they will place and what those are worth. Pure numbers from
//! a store's order history; a runtime refits them and stores the
//! parameters with the shop.
//!
//! - [`bgnbd`]: BG/NBD (Fader, Hardie & Lee 2005) for repeat purchases.
//! - [`gamma_gamma`]: Gamma-Gamma for what those purchases are worth.
//! - [`clv`]: the two together, discounted over a horizon.
//! - [`forecast`]: all of it for a store in one call, from its orders:
//!   which model serves, its parameters, and per customer `p_alive`,
//!   expected orders, value and next order date.
//! - [`intervals`]: for stores too small for a fit, per-product repurchase
//!   intervals and order rates shrunk toward the store's.
//! - [`special`] and [`optimize`]: the log-gamma function and a
//!   Nelder–Mead minimizer the fits use.

pub mod bgnbd;
pub mod clv;
pub mod forecast;
pub mod gamma_gamma;
pub mod intervals;
pub mod optimize;
pub mod special;
