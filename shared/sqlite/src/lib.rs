//! # storeflow-sqlite
//!
//! The application ports ([`storeflow_app::ports`]) on one SQLite file, for
//! `storeflow serve` on a laptop or a small store's one box. SQLite is
//! bundled (no system library needed) and runs in WAL mode, so readers
//! (the profile view, `storeflow trace`) never block the writer.
//!
//! - [`schema`] — the tables, mirroring the DynamoDB design's entities.
//! - [`dead_letters`] — inputs whose application failed, set aside with
//!   their error, listed and replayed once.
//! - [`deliveries`] — ingestion's delivery store, and `Sqlite::accept`:
//!   raw delivery, facts and the accepted items (the inbox) committed
//!   together before the platform hears 200.
//! - [`store`] — `Sqlite`: the two files, their connections and the WAL
//!   checkpointer, and the helpers the aggregates share. One file per
//!   aggregate beside it: [`customers`] (the `Customers` port: every commit
//!   one transaction, with the same version conditions as the DynamoDB
//!   adapter, so the same conflicts are detected; [`state_cache`] keeps
//!   recently committed states parsed, handed back only for the exact text
//!   their row still holds), [`shops`], [`timers`] (due wake-ups, campaign
//!   starts), [`outbox`], [`trace`], and [`batch`] (the engine's group
//!   commit: the ports inside one open transaction).

pub mod batch;
pub mod customers;
pub mod dead_letters;
pub mod deliveries;
pub mod outbox;
pub mod results;
pub mod schema;
pub mod shops;
pub mod state_cache;
mod state_codec;
pub mod store;
pub mod timers;
pub mod trace;

pub use store::Sqlite;

/// Executes a statement prepared once per connection: the hot inserts run
/// inside the write lock, where parsing SQL every time would be paid by
/// every waiting writer.
pub(crate) fn exec<P: rusqlite::Params>(
    c: &rusqlite::Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// Fixtures for benchmarks (a million pending timers without a million
/// evaluations).
pub mod bench_support {
    use jiff::Timestamp;
    use rusqlite::params;
    use std::path::Path;
    use storeflow_core::model::ids::{ProfileId, ShopId};
    use storeflow_core::CustomerState;

    /// Writes `n` customers, each with a wake-up in the coming year.
    pub fn pending_timers(path: &Path, n: usize) -> Result<(), String> {
        drop(crate::Sqlite::open(path).map_err(|e| e.to_string())?);
        let mut c = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
        let tx = c.transaction().map_err(|e| e.to_string())?;
        let t0: Timestamp = "2027-01-01T00:00:00Z".parse().expect("valid");
        {
            let mut q = tx
                .prepare("INSERT INTO customers (profile, shop, version, state, wake_us) VALUES (?1, ?2, 1, ?3, ?4)")
                .map_err(|e| e.to_string())?;
            for i in 0..n {
                let id = format!("p_bench_{i}");
                let st = CustomerState::new(
                    ProfileId::parse(id.clone()).expect("non-empty"),
                    ShopId::parse("bench.myshopify.com").expect("non-empty"),
                    t0,
                );
                let json = serde_json::to_string(&st).map_err(|e| e.to_string())?;
                let wake = t0.as_microsecond() + (i as i64 % 31_536_000) * 1_000_000;
                q.execute(params![id, "bench.myshopify.com", json, wake])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())
    }
}
