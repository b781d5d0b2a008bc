//! The outbox on SQLite: messages committed with the state that decided
//! them, delivered once.

use crate::store::*;
use jiff::Timestamp;
use rusqlite::params;
use storeflow_app::ports::StoreError;
use storeflow_core::model::decision::Message;

impl Sqlite {
    /// Messages committed and not yet delivered, oldest first.
    /// Messages not yet delivered that are due at `now` (`queued_us` is when
    /// a message may next be tried: its commit, or a retry's instant), oldest
    /// first.
    pub fn pending(&self, limit: usize, now: Timestamp) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT message FROM outbox WHERE sent_us IS NULL AND queued_us <= ?1 \
             ORDER BY queued_us, id LIMIT {limit}"
        );
        self.with(|c| texts(c, &sql, params![us(now)]))?
            .iter()
            .map(|t| json(t, "outbox message"))
            .collect()
    }

    /// Puts off a message's next attempt until `at` (a provider refused it
    /// for now).
    pub fn defer(&self, id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.with(|c| {
            crate::exec(
                c,
                "UPDATE outbox SET queued_us = ?2 WHERE id = ?1 AND sent_us IS NULL",
                params![id, us(at)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
    }

    /// Marks a message delivered; false when it already was.
    pub fn mark_sent(&self, id: &str, at: Timestamp) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = crate::exec(
                c,
                "UPDATE outbox SET sent_us = ?2 WHERE id = ?1 AND sent_us IS NULL",
                params![id, us(at)],
            )
            .map_err(unavailable)?;
            Ok(n == 1)
        })
    }
}
