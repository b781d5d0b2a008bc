//! `Table`: the DynamoDB single table (docs/DATA.md), the client that
//! reaches it, and a meter of the capacity units every call consumed.

use crate::queues::SendQueue;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, DeleteRequest, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, WriteRequest,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use storeflow_app::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// The table a function works on.
#[derive(Clone)]
pub struct Table {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
    pub meter: Arc<Meter>,
    /// Where a customer commit hands its messages over (evaluate and the
    /// scheduler); a commit with messages fails without it.
    pub sends: Option<SendQueue>,
    /// Result counters of the commits since the last flush, per shop
    /// (`crate::rollups`): a function adds them to the table once per
    /// invocation.
    pub pending: Arc<Mutex<BTreeMap<String, storeflow_core::results::rollup::Rollups>>>,
    /// Per shop, a day this process has made sure the table's first day of
    /// counters is not after (`crate::rollups`).
    pub first_day: Arc<Mutex<BTreeMap<String, jiff::civil::Date>>>,
    /// Counter items this process saw cost more than one write unit
    /// (`crate::rollups`): no other scope's counters are folded into them.
    pub full_items: Arc<Mutex<std::collections::HashSet<(String, String)>>>,
}

impl Table {
    pub fn new(client: aws_sdk_dynamodb::Client, name: impl Into<String>) -> Self {
        Table {
            client,
            name: name.into(),
            meter: Arc::default(),
            sends: None,
            pending: Arc::default(),
            first_day: Arc::default(),
            full_items: Arc::default(),
        }
    }

    /// This table, with commits handing their messages over to `sends`.
    pub fn handing_over_to(mut self, sends: SendQueue) -> Self {
        self.sends = Some(sends);
        self
    }
}

/// The single-item calls every adapter makes, each metered.
impl Table {
    /// The item under `key`; `consistent` for a strongly consistent read.
    pub async fn get(&self, key: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key.clone()))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        self.meter
            .read(&call("GetItem", &key), out.consumed_capacity());
        Ok(out.item)
    }

    /// Writes `item`, replacing any item with its key.
    pub async fn put(&self, item: Item) -> Result<(), StoreError> {
        let name = call("PutItem", &item);
        let out = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| unavailable("PutItem", e))?;
        self.meter.write(&name, out.consumed_capacity());
        Ok(())
    }

    /// Writes `item` only if no item has its key: `None` when it was
    /// written, the existing item when there was one (left unchanged).
    pub async fn create(&self, item: Item) -> Result<Option<Item>, StoreError> {
        let name = call("PutItem (new)", &item);
        let out = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(o) => {
                self.meter.write(&name, o.consumed_capacity());
                Ok(None)
            }
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                    Ok(Some(c.item.unwrap_or_default()))
                }
                other => Err(StoreError::Unavailable(format!("DynamoDB PutItem: {other}"))),
            },
        }
    }

    pub async fn delete(&self, key: Item) -> Result<(), StoreError> {
        let name = call("DeleteItem", &key);
        let out = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| unavailable("DeleteItem", e))?;
        self.meter.write(&name, out.consumed_capacity());
        Ok(())
    }

    /// Deletes every item of `keys` (25 per `BatchWriteItem`, retrying what
    /// DynamoDB leaves unprocessed); returns how many.
    pub async fn delete_all(&self, keys: Vec<Item>) -> Result<usize, StoreError> {
        let n = keys.len();
        for chunk in keys.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(k.clone()))
                                .build()
                                .expect("key set"),
                        )
                        .build()
                })
                .collect();
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, pending)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem", e))?;
                self.meter
                    .write_all("BatchWriteItem delete", out.consumed_capacity());
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.name))
                    .unwrap_or_default();
            }
        }
        Ok(n)
    }
}

/// Capacity units consumed, as every call reported them
/// (`ReturnConsumedCapacity: TOTAL`): what BENCHMARKS.md's cost per event is
/// computed from, in total and by call (`"PutItem raw"`: the operation and
/// the kind of item, the first part of its `pk`).
#[derive(Debug, Default)]
pub struct Meter {
    by_call: Mutex<BTreeMap<String, Tally>>,
}

/// Calls and units of one kind of call.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    pub calls: u64,
    pub read_units: f64,
    pub write_units: f64,
}

impl Meter {
    /// A read call's consumed capacity.
    pub fn read(&self, call: &str, c: Option<&ConsumedCapacity>) {
        self.count(call, false, units(c));
    }

    /// A write call's consumed capacity (a failed conditional write still
    /// consumes its units, but the SDK returns no figure for it).
    pub fn write(&self, call: &str, c: Option<&ConsumedCapacity>) {
        self.count(call, true, units(c));
    }

    pub fn read_all(&self, call: &str, cs: &[ConsumedCapacity]) {
        self.count(call, false, cs.iter().map(|c| units(Some(c))).sum());
    }

    pub fn write_all(&self, call: &str, cs: &[ConsumedCapacity]) {
        self.count(call, true, cs.iter().map(|c| units(Some(c))).sum());
    }

    fn count(&self, call: &str, write: bool, units: f64) {
        let mut by = self.by_call.lock().unwrap_or_else(|p| p.into_inner());
        let t = by.entry(call.to_string()).or_default();
        t.calls += 1;
        if write {
            t.write_units += units;
        } else {
            t.read_units += units;
        }
    }

    /// (read units, write units, calls) so far.
    pub fn totals(&self) -> (f64, f64, u64) {
        self.by_call()
            .iter()
            .fold((0.0, 0.0, 0), |(r, w, c), (_, t)| {
                (r + t.read_units, w + t.write_units, c + t.calls)
            })
    }

    /// The tallies by call, in name order.
    pub fn by_call(&self) -> Vec<(String, Tally)> {
        let by = self.by_call.lock().unwrap_or_else(|p| p.into_inner());
        by.iter().map(|(k, t)| (k.clone(), *t)).collect()
    }
}

/// The total a call reports (DynamoDB Local gives only that one).
fn units(c: Option<&ConsumedCapacity>) -> f64 {
    c.and_then(|c| c.capacity_units).unwrap_or(0.0)
}

/// `"PutItem raw"`: an operation on a kind of item, named by its key.
pub fn call(op: &str, key: &Item) -> String {
    let kind = get_s(key, "pk")
        .and_then(|pk| pk.split('#').next())
        .unwrap_or("?");
    format!("{op} {kind}")
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: Vec<u8>) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub fn get_b<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref())
}

/// A failed call as the ports see it: throttling and outages are
/// `Unavailable` (the queue retries the message later).
pub fn unavailable<E, R>(what: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = match e.as_service_error() {
        Some(se) => format!(
            "{}: {}",
            se.code().unwrap_or("error"),
            se.message().unwrap_or("")
        ),
        None => format!("{e}"),
    };
    StoreError::Unavailable(format!("DynamoDB {what}: {detail}"))
}

pub fn corrupt(what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {why}"))
}

/// A scan's `LastEvaluatedKey` as text, to travel in a queue message
/// (the table's keys are strings): where the next page starts.
pub fn scan_cursor(last: &Item) -> BTreeMap<String, String> {
    last.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
        .collect()
}

impl Table {
    /// One page of a parallel scan: segment `part` of `parts`, at most
    /// `limit` items read, from where [`scan_cursor`] left the previous
    /// page; the caller adds its filter and projection.
    pub fn scan_page(
        &self,
        part: u32,
        parts: u32,
        limit: i32,
        cursor: Option<&BTreeMap<String, String>>,
    ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder {
        let start = cursor.map(|c| {
            c.iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect()
        });
        self.client
            .scan()
            .table_name(&self.name)
            .segment(part as i32)
            .total_segments(parts as i32)
            .limit(limit)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
    }
}
