//! What automation earns: which message an order is credited to
//! ([`attribution`]). Pure functions of recorded facts (touches, orders,
//! refunds) and the store's settings; the runtimes' reports call them.

pub mod attribution;
