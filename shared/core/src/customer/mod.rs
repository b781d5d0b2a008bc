//! One customer, as the engine keeps them: the [`state`] record (one per
//! customer, written whole with a version), its [`profile`] (identity,
//! attributes, consent, orders and the metrics made of them), recent
//! [`history`], the run and message [`ledger`], applied event ids
//! ([`seen_ids`]) and [`flow_entries`]; which profile an event belongs to
//! ([`identity`]); and what a data request exports or an erasure keeps
//! ([`privacy`]).

pub mod flow_entries;
pub mod history;
pub mod identity;
pub mod ledger;
pub mod privacy;
pub mod profile;
pub mod results;
pub mod seen_ids;
pub mod state;
