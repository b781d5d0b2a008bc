//! What every runtime does the same for a privacy request: find the
//! profiles a request's identity names, and build a data request's export
//! document. Where the export goes and how a profile is erased are the
//! runtime's (a file and SQLite rows; an item and DynamoDB deletes).

use crate::ports::{Customers, StoreError};
use jiff::Timestamp;
use serde_json::{json, Value};
use storeflow_core::customer::identity;
use storeflow_core::model::event::Identity;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// The profiles any of the customer's identity keys point at, each once.
pub async fn profiles_of<C: Customers>(
    store: &C,
    shop: &ShopId,
    customer: &Identity,
) -> Result<Vec<ProfileId>, StoreError> {
    let keys = identity::keys(shop, customer);
    let mut found: Vec<ProfileId> = store.find(&keys).await?.into_iter().flatten().collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// A data request's answer: every stored profile of the customer, exported;
/// with how many profiles it holds.
pub async fn export<C: Customers>(
    store: &C,
    shop: &ShopId,
    customer: &Identity,
    now: Timestamp,
) -> Result<(Value, usize), StoreError> {
    let mut docs = Vec::new();
    for p in profiles_of(store, shop, customer).await? {
        if let Some(l) = store.load(shop, &p).await? {
            docs.push(l.state.export());
        }
    }
    let n = docs.len();
    Ok((
        json!({"shop": shop, "requested": customer, "at": now, "profiles": docs}),
        n,
    ))
}
