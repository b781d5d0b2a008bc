//! The group commit of the engine's work: the ports inside one open
//! transaction ([`Sqlite::batch`]).

use crate::customers::{check_customer, find_keys, load_customer, serialize, write_customer_rows};
use crate::shops::{check_shop, load_shop_row, write_shop};
use crate::state_cache::StateCache;
use crate::store::*;
use jiff::Timestamp;
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use storeflow_app::ports::{Commit, Customers, Loaded, Shops, StoreError};
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// The customer and shop ports inside one open transaction (group commit
/// of the engine's work): nothing is durable, or visible to another
/// connection, before [`Sqlite::batch`] commits the whole. A commit checks
/// its conditions before it writes, so a conflict leaves nothing behind;
/// a write that fails (the disk) fails the whole batch, which is then
/// rolled back. (A savepoint per commit did the same at about a tenth of
/// the engine thread's CPU: SQLite copies every page a savepoint changes.)
/// The connection is held for the batch, so no other writer runs
/// meanwhile: a version condition can only fail for a real reason, never
/// for a race.
///
/// Its futures never wait (every call is synchronous underneath), so a
/// caller may run them with [`storeflow_app::ready`].
pub struct Batch<'c> {
    conn: Mutex<&'c mut Connection>,
    states: &'c Mutex<StateCache>,
    /// A write failed: the batch is rolled back, and every later call
    /// fails.
    pub(crate) failed: std::sync::atomic::AtomicBool,
}

impl Batch<'_> {
    fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "an earlier write of this batch failed".into(),
            ));
        }
        f(&**locked(&self.conn)?)
    }

    /// Writes that must all land or none: a failure fails the batch.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let r = self.with(f);
        if r.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        r
    }

    /// Marks the inbox applied up to `seq`, committed with what applying
    /// it wrote: an item is applied exactly once.
    pub fn done(&self, seq: i64) -> Result<(), StoreError> {
        self.write(|c| mark_applied(c, seq))
    }
}

impl Customers for Batch<'_> {
    async fn find(&self, keys: &[String]) -> Result<Vec<Option<ProfileId>>, StoreError> {
        self.with(|c| find_keys(c, keys))
    }

    async fn load(&self, _shop: &ShopId, id: &ProfileId) -> Result<Option<Loaded>, StoreError> {
        self.with(|c| load_customer(c, self.states, id))
    }

    async fn commit(&self, cm: Commit<'_>) -> Result<(), StoreError> {
        let w = serialize(&cm)?;
        self.with(|c| check_customer(c, &cm))?;
        self.write(|c| write_customer_rows(c, &cm, &w))?;
        // Kept before the batch commits: should the batch roll back, the
        // row keeps its old text and this state is never handed out.
        lock(self.states).keep(&w.state, cm.state);
        Ok(())
    }
}

impl Shops for Batch<'_> {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<(ShopState, u64)>, StoreError> {
        self.with(|c| load_shop_row(c, shop))
    }

    async fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(state).map_err(|e| corrupt("shop state", e))?;
        self.with(|c| check_shop(c, shop, expected))?;
        self.write(|c| write_shop(c, shop, &text, expected, wake))
    }
}

impl Sqlite {
    /// Group commit of the engine's work: `f` gets the ports inside one
    /// transaction, which is committed when `f` returns — whatever `f`
    /// returns, unless a write failed: work it finished before a conflict
    /// is kept (a conflicting commit wrote nothing), and the error is
    /// returned after the commit. Returns `f`'s result and whether the
    /// batch was committed (not when a write or the commit failed: then
    /// nothing of it was). Other users of the main file wait for the
    /// batch, so keep it short.
    pub fn batch<R>(
        &self,
        f: impl FnOnce(&Batch<'_>) -> Result<R, StoreError>,
    ) -> (Result<R, StoreError>, bool) {
        let run = self.with(|c| {
            c.execute_batch("BEGIN IMMEDIATE").map_err(unavailable)?;
            let b = Batch {
                conn: Mutex::new(&mut *c),
                states: &self.states,
                failed: std::sync::atomic::AtomicBool::new(false),
            };
            let r = f(&b);
            if b.failed.load(Ordering::SeqCst) {
                let _ = c.execute_batch("ROLLBACK");
                let r = r.and_then(|_| {
                    Err(StoreError::Unavailable(
                        "a write of the batch failed; nothing of it was kept".into(),
                    ))
                });
                return Ok((r, false));
            }
            if let Err(e) = c.execute_batch("COMMIT") {
                let _ = c.execute_batch("ROLLBACK");
                return Ok((Err(unavailable(e)), false));
            }
            Ok((r, true))
        });
        run.unwrap_or_else(|e| (Err(e), false))
    }
}
