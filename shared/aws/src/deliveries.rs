//! The ingestion `DeliveryStore` port on the table (docs/DATA.md, patterns
//! 2–4): one item per accepted delivery, under its own key — the raw
//! delivery for replay and the idempotency record in one write — and facts
//! by shop.
//!
//! A delivery's item is written only after its events are on the events
//! queue ([`Deliveries::keep`]): a crash before that leaves no trace, so the
//! platform's retry goes through; a crash after the enqueue and before the
//! write makes the retry enqueue the events again, and the engine drops the
//! duplicate event ids. Keeping the body and the record in one item saves
//! the separate idempotency write on every delivery.
//!
//! The router is synchronous (it is the same pure router as in `storeflow
//! serve`), so this adapter blocks on the SDK's futures inside
//! `tokio::task::block_in_place`: the Lambda runtime is a multi-threaded
//! Tokio runtime, and an ingest call makes at most a handful of requests.

use crate::codec::{deflate_with, inflate, unpack, Dict};
use crate::keys;
use crate::table::{b, get_b, get_s, key, n, s, Item, Table};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;
use storeflow_ingest::store::{DeliveryStore, Facts, RawDelivery, Recorded, StoreError};

/// Deliveries are kept 21 days: DynamoDB's TTL deletes them within days
/// after, so a body is gone within the 30 days Shopify allows a
/// `customers/redact` to take, with no scan of old deliveries. The same
/// item is the idempotency record, which so outlives every platform's retry
/// schedule (Shopify retries for 48 hours).
pub const RAW_DAYS: i64 = 21;

pub struct Deliveries<'a> {
    pub table: &'a Table,
    /// Delivery items recorded by this request: written once enqueued.
    pub pending: Vec<Item>,
    /// Facts read by this request (normalization reads a fact, then
    /// recording compares against it): each is read once.
    recalled: Mutex<HashMap<String, Option<String>>>,
}

impl<'a> Deliveries<'a> {
    pub fn new(table: &'a Table) -> Self {
        Deliveries {
            table,
            pending: Vec::new(),
            recalled: Mutex::default(),
        }
    }

    fn recalled(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.recalled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the items of what this request recorded: call after its events
    /// are on the queue. An error means the raw delivery is not kept: answer
    /// so that the platform retries.
    pub async fn keep(&mut self) -> Result<(), StoreError> {
        for item in std::mem::take(&mut self.pending) {
            self.table.put(item).await.map_err(fail)?;
        }
        Ok(())
    }

    fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        block(self.table.get(key(pk, sk), false)).map_err(fail)
    }

    fn put(&self, item: Item) -> Result<(), StoreError> {
        block(self.table.put(item)).map_err(fail)
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

fn fail(e: storeflow_app::ports::StoreError) -> StoreError {
    StoreError(e.to_string())
}

/// Facts are kept per shop; a fact key (`order|{shop}|{id}`, from
/// `storeflow_ingest::store::fact_key`) names its shop second.
fn fact_shop(key: &str) -> &str {
    key.split('|').nth(1).unwrap_or("-")
}

impl Facts for Deliveries<'_> {
    fn recall(&self, k: &str) -> Option<String> {
        if let Some(v) = self.recalled().get(k) {
            return v.clone();
        }
        // A failed read is not remembered: it is not an absent fact.
        let item = self.get(keys::fact_pk(fact_shop(k)), k).ok()?;
        let v = item.and_then(|i| get_s(&i, "value").map(str::to_string));
        self.recalled().insert(k.to_string(), v.clone());
        v
    }
}

impl DeliveryStore for Deliveries<'_> {
    fn seen(&self, k: &str) -> Result<Option<Timestamp>, StoreError> {
        let item = self.get(keys::delivery_pk(k), keys::DELIVERY)?;
        Ok(item
            .as_ref()
            .and_then(|i| get_s(i, "received_at"))
            .and_then(|t| t.parse().ok()))
    }

    fn record(
        &mut self,
        mut d: RawDelivery,
        facts: Vec<(String, String)>,
    ) -> Result<Recorded, StoreError> {
        let mut item = key(keys::delivery_pk(&d.key), keys::DELIVERY);
        item.insert("shop".into(), s(&d.shop));
        item.insert("topic".into(), s(&d.topic));
        item.insert("received_at".into(), s(d.received_at.to_string()));
        let body = std::mem::take(&mut d.body);
        item.insert(
            "delivery".into(),
            b(pack_delivery(&d, &body).map_err(|e| StoreError(format!("raw delivery: {e}")))?),
        );
        item.insert(
            "expires_at".into(),
            n(d.received_at.as_second() + RAW_DAYS * 86_400),
        );
        // Facts are needed by the next delivery's normalization, whatever
        // becomes of this one: written now (each write is idempotent). Most
        // deliveries of an order repeat what its first one taught: a read
        // (half a read unit) that spares an unchanged write (a whole write
        // unit, five times the price).
        for (k, v) in facts {
            if self.recall(&k).as_deref() == Some(v.as_str()) {
                continue;
            }
            let mut f = key(keys::fact_pk(fact_shop(&k)), &k);
            f.insert("value".into(), s(&v));
            self.put(f)?;
            self.recalled().insert(k, Some(v));
        }
        self.pending.push(item);
        Ok(Recorded::New)
    }

    fn erase_customer(
        &mut self,
        shop: &str,
        _subjects: &[String],
        fact_keys: &[String],
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        // Raw bodies expire on their own within the 30 days (RAW_DAYS);
        // the facts naming the customer go now.
        let keys: Vec<Item> = fact_keys
            .iter()
            .map(|k| key(keys::fact_pk(fact_shop(k)), k))
            .collect();
        let n = block(self.table.delete_all(keys)).map_err(fail)?;
        let mut receipt = key(format!("erasure#{shop}"), format!("{at}#deliveries"));
        receipt.insert("facts_deleted".into(), crate::table::n(n));
        self.put(receipt)?;
        Ok(n)
    }

    fn erase_shop(&mut self, shop: &str, at: Timestamp) -> Result<usize, StoreError> {
        let t = self.table;
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let req = t
                .client
                .query()
                .table_name(&t.name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(keys::fact_pk(shop)))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            let out =
                block(req.send()).map_err(|e| fail(crate::table::unavailable("Query facts", e)))?;
            t.meter.read("Query fact", out.consumed_capacity());
            found.extend(out.items().iter().cloned());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let n = block(self.table.delete_all(found)).map_err(fail)?;
        let mut receipt = key(format!("erasure#{shop}"), format!("{at}#shop"));
        receipt.insert("facts_deleted".into(), crate::table::n(n));
        self.put(receipt)?;
        Ok(n)
    }

    fn delivery(&self, k: &str) -> Result<Option<RawDelivery>, StoreError> {
        let Some(item) = self.get(keys::delivery_pk(k), keys::DELIVERY)? else {
            return Ok(None);
        };
        get_b(&item, "delivery")
            .map(|bytes| {
                unpack_delivery(bytes).map_err(|e| StoreError(format!("raw delivery {k}: {e}")))
            })
            .transpose()
    }
}

/// A raw delivery as its item keeps it: its JSON without the body, a
/// newline, and the body's own bytes (not escaped into a JSON string),
/// deflated after the deliveries dictionary (`codec::Dict`).
fn pack_delivery(d: &RawDelivery, body: &[u8]) -> Result<Vec<u8>, String> {
    let mut bytes = serde_json::to_vec(d).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    Ok(deflate_with(Dict::Deliveries, &bytes))
}

/// The delivery [`pack_delivery`] kept, or one kept before as a whole
/// deflated JSON (compact JSON has no raw newline).
fn unpack_delivery(bytes: &[u8]) -> Result<RawDelivery, String> {
    let plain = inflate(bytes)?;
    let Some(nl) = plain.iter().position(|c| *c == b'\n') else {
        return unpack(bytes);
    };
    let mut d: RawDelivery = serde_json::from_slice(&plain[..nl]).map_err(|e| e.to_string())?;
    d.body = plain[nl + 1..].to_vec();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_keeps_its_body_bytes_and_old_items_still_read() {
        let d = RawDelivery {
            key: "shopify:webhook:w1".into(),
            source: storeflow_ingest::Source::Shopify,
            topic: "orders/create".into(),
            shop: "a.myshopify.com".into(),
            headers: vec![("X-Shopify-Topic".into(), "orders/create".into())],
            body: b"{\"id\":1,\"note\":\"two\\nlines\"}\n".to_vec(),
            received_at: "2026-03-01T10:00:00Z".parse().unwrap(),
            subjects: vec!["a|email|ann@example.com".into()],
            erased_at: None,
        };
        let mut meta = d.clone();
        let body = std::mem::take(&mut meta.body);
        let packed = pack_delivery(&meta, &body).unwrap();
        assert_eq!(unpack_delivery(&packed).unwrap(), d);
        let old = crate::codec::pack(&d).unwrap();
        assert_eq!(unpack_delivery(&old).unwrap(), d);
    }
}
