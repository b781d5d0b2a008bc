//! What makes the engine fast and is no part of its meaning: fixed-size
//! bitsets, fingerprints of event properties, properties kept alone in the
//! history, JSON of one property, and prefetching a customer's state. Each
//! is an implementation detail of the modules that use it; nothing outside
//! this crate sees them.

pub(crate) mod bitset;
pub(crate) mod fingerprint;
pub(crate) mod kept_props;
pub(crate) mod prefetch;
pub(crate) mod property_pick;
