//! Privacy requests on AWS (docs/DATA.md, patterns 22–23), carried out by
//! evaluate when ingest queued them: a data request is written as an export
//! item for the merchant to answer with; an erasure deletes the customer's
//! state and identity keys and keeps a receipt with nothing personal.

use crate::codec::pack;
use crate::keys::{self, STATE};
use crate::table::{b, get_s, key, n, s, unavailable, Table};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use jiff::Timestamp;
use storeflow_app::evaluate::profile_keys;
use storeflow_app::ports::Customers;
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// Exports wait 30 days for the merchant to fetch them, then expire.
const EXPORT_DAYS: i64 = 30;

pub async fn carry_out(t: &Table, req: &PrivacyRequest, now: Timestamp) -> anyhow::Result<String> {
    match req {
        PrivacyRequest::ExportCustomer {
            shop,
            customer,
            request_id,
        } => {
            let (doc, profiles) = storeflow_app::privacy::export(t, shop, customer, now).await?;
            let sk = format!("{now}#{}", request_id.as_deref().unwrap_or("request"));
            let mut item = key(format!("export#{shop}"), &sk);
            item.insert("export".into(), b(pack(&doc).map_err(anyhow::Error::msg)?));
            item.insert(
                "expires_at".into(),
                n(now.as_second() + EXPORT_DAYS * 86_400),
            );
            t.put(item).await?;
            Ok(format!(
                "data request: {profiles} profile(s) exported to pk=export#{shop}, sk={sk}"
            ))
        }
        PrivacyRequest::EraseCustomer { shop, customer, .. } => {
            let profiles = storeflow_app::privacy::profiles_of(t, shop, customer).await?;
            let mut deleted = 0;
            for p in &profiles {
                deleted += erase_profile(t, shop, p).await?;
            }
            receipt(t, shop, now, "customer", profiles.len(), deleted).await?;
            Ok(format!(
                "erasure: {} profile(s), {deleted} item(s) deleted",
                profiles.len()
            ))
        }
        PrivacyRequest::EraseShop { shop } => {
            // shop/redact comes once, 48 hours after an uninstall: the one
            // request that may read the whole table.
            let profiles = scan_profiles_of_shop(t, shop).await?;
            let mut deleted = 0;
            for p in &profiles {
                deleted += erase_profile(t, shop, p).await?;
            }
            receipt(t, shop, now, "shop", profiles.len(), deleted).await?;
            Ok(format!(
                "shop erasure: {} profile(s), {deleted} item(s) deleted",
                profiles.len()
            ))
        }
    }
}

/// Deletes a profile's state and every identity key pointing at it.
async fn erase_profile(t: &Table, shop: &ShopId, p: &ProfileId) -> anyhow::Result<usize> {
    let Some(l) = t.load(shop, p).await? else {
        return Ok(0);
    };
    let mut doomed = vec![key(keys::profile_pk(p), STATE)];
    for k in profile_keys(&l.state) {
        doomed.push(key(keys::identity_pk(&k), "profile"));
    }
    let n = doomed.len();
    t.delete_all(doomed).await?;
    Ok(n)
}

async fn receipt(
    t: &Table,
    shop: &ShopId,
    now: Timestamp,
    what: &str,
    profiles: usize,
    items: usize,
) -> anyhow::Result<()> {
    let mut item = key(format!("erasure#{shop}"), format!("{now}#{what}"));
    item.insert("profiles".into(), n(profiles));
    item.insert("items_deleted".into(), n(items));
    item.insert("done_at".into(), s(now.to_string()));
    Ok(t.put(item).await?)
}

async fn scan_profiles_of_shop(t: &Table, shop: &ShopId) -> anyhow::Result<Vec<ProfileId>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = t
            .client
            .scan()
            .table_name(&t.name)
            .filter_expression("sk = :state AND shop = :shop AND begins_with(pk, :profile)")
            .expression_attribute_values(":state", s(STATE))
            .expression_attribute_values(":shop", s(shop.as_str()))
            .expression_attribute_values(":profile", s("profile#"))
            .projection_expression("pk")
            .set_exclusive_start_key(start.take())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| unavailable("Scan", e))?;
        t.meter.read("Scan shop", page.consumed_capacity());
        for i in page.items() {
            if let Some(p) = get_s(i, "pk").and_then(|pk| pk.strip_prefix("profile#")) {
                out.push(ProfileId::parse(p).map_err(|e| anyhow::anyhow!("{p}: {e}"))?);
            }
        }
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return Ok(out),
        }
    }
}
