//! What automation earns: which message an order is credited to
//! ([`attribution`]), whether a flow does better than holding customers
//! out ([`lift`]), and whether customers come back ([`cohorts`]). Pure functions of recorded facts (touches, orders,
//! refunds, arms) and the store's settings; the runtimes' reports call them.

pub mod attribution;
pub mod cohorts;
pub mod facts;
pub mod lift;
pub mod report;
pub mod rollup;
