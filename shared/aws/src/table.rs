//! `Table`: the DynamoDB single table (docs/DATA.md), the client that
//! reaches it, and a meter of the capacity units every call consumed.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use storeflow_app::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// The table a function works on.
#[derive(Clone)]
pub struct Table {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
    pub meter: Arc<Meter>,
}

impl Table {
    pub fn new(client: aws_sdk_dynamodb::Client, name: impl Into<String>) -> Self {
        Table {
            client,
            name: name.into(),
            meter: Arc::default(),
        }
    }
}

/// Capacity units consumed, as every call reported them
/// (`ReturnConsumedCapacity: TOTAL`): what BENCHMARKS.md's cost per event is
/// computed from. Kept in thousandths so it can be an atomic counter.
#[derive(Debug, Default)]
pub struct Meter {
    read_milli: AtomicU64,
    write_milli: AtomicU64,
    calls: AtomicU64,
}

impl Meter {
    /// A read call's consumed capacity.
    pub fn read(&self, c: Option<&ConsumedCapacity>) {
        self.count(&self.read_milli, c);
    }

    /// A write call's consumed capacity (a failed conditional write still
    /// consumes its units, but the SDK returns no figure for it).
    pub fn write(&self, c: Option<&ConsumedCapacity>) {
        self.count(&self.write_milli, c);
    }

    pub fn read_all(&self, cs: &[ConsumedCapacity]) {
        self.count_all(&self.read_milli, cs);
    }

    pub fn write_all(&self, cs: &[ConsumedCapacity]) {
        self.count_all(&self.write_milli, cs);
    }

    fn count(&self, to: &AtomicU64, c: Option<&ConsumedCapacity>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        // The total, which every implementation reports (DynamoDB Local
        // gives only that one).
        let units = c.and_then(|c| c.capacity_units).unwrap_or(0.0);
        to.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
    }

    fn count_all(&self, to: &AtomicU64, cs: &[ConsumedCapacity]) {
        if cs.is_empty() {
            self.count(to, None);
        }
        for c in cs {
            self.count(to, Some(c));
        }
    }

    /// (read units, write units, calls) so far.
    pub fn totals(&self) -> (f64, f64, u64) {
        (
            self.read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            self.write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            self.calls.load(Ordering::Relaxed),
        )
    }
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
