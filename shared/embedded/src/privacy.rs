//! Privacy requests on the embedded store: a data request writes the
//! customer's data to `<data>/privacy/`; an erasure removes the profile,
//! its identity keys, trace and message contents (ingestion already
//! blanked the raw deliveries that concern them).

use anyhow::Context;
use jiff::Timestamp;
use std::path::Path;
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_sqlite::Sqlite;

/// Carries out one request; returns a line for the log.
pub async fn carry_out(
    store: &Sqlite,
    data: &Path,
    req: &PrivacyRequest,
    now: Timestamp,
) -> anyhow::Result<String> {
    match req {
        PrivacyRequest::ExportCustomer {
            shop,
            customer,
            request_id,
        } => {
            let (doc, profiles) =
                storeflow_app::privacy::export(store, shop, customer, now).await?;
            let dir = data.join("privacy");
            std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
            let name = format!(
                "export-{}-{}.json",
                request_id.as_deref().unwrap_or("request"),
                now.as_second()
            );
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| path.display().to_string())?;
            Ok(format!(
                "data request: {profiles} profile(s) written to {}",
                path.display()
            ))
        }
        PrivacyRequest::EraseCustomer { shop, customer, .. } => {
            let found = storeflow_app::privacy::profiles_of(store, shop, customer).await?;
            for p in &found {
                store.erase_profile(p)?;
            }
            Ok(format!("erased {} profile(s) of {shop}", found.len()))
        }
        PrivacyRequest::EraseShop { shop } => {
            let all = store.profiles_of_shop(shop)?;
            for p in &all {
                store.erase_profile(p)?;
            }
            Ok(format!("erased shop {shop}: {} profile(s)", all.len()))
        }
    }
}
