//! The outbox on SQLite: messages committed with the state that decided
//! them, delivered once.

use crate::store::*;
use jiff::Timestamp;
use rusqlite::params;
use storeflow_app::ports::StoreError;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::ProfileId;
use storeflow_core::results::facts::{Fact, Lifecycle};

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

    /// The messages committed from `from` until `to`, newest first, at most
    /// `limit`: each with when it was committed and when it was settled.
    pub fn recent_messages(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Message, Timestamp, Option<Timestamp>)>, StoreError> {
        let sql = format!(
            "SELECT message, queued_us, sent_us FROM outbox WHERE queued_us >= ?1 AND queued_us < ?2 \
             ORDER BY queued_us DESC, id LIMIT {limit}"
        );
        let rows: Vec<(String, i64, Option<i64>)> = self.with(|c| {
            let mut q = c.prepare(&sql).map_err(unavailable)?;
            let rows = q
                .query_map(params![us(from), us(to)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })?;
        rows.into_iter()
            .map(|(text, queued, sent)| {
                let at = |v: i64| Timestamp::from_microsecond(v).unwrap_or(Timestamp::UNIX_EPOCH);
                Ok((json(&text, "outbox message")?, at(queued), sent.map(at)))
            })
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

    /// Marks a message settled: handed over (`Delivered`) or refused for
    /// good (`Bounced`), recorded as a fact of its life in the same
    /// transaction; false when it already was settled.
    pub fn mark_sent(
        &self,
        m: &Message,
        at: Timestamp,
        how: Lifecycle,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            in_transaction(c, |tx| {
                let n = crate::exec(
                    tx,
                    "UPDATE outbox SET sent_us = ?2 WHERE id = ?1 AND sent_us IS NULL",
                    params![m.id, us(at)],
                )
                .map_err(unavailable)?;
                if n == 1 {
                    let profile: String = tx
                        .query_row(
                            "SELECT profile FROM outbox WHERE id = ?1",
                            params![m.id],
                            |r| r.get(0),
                        )
                        .map_err(unavailable)?;
                    let profile =
                        ProfileId::parse(profile).map_err(|e| corrupt("outbox profile", e))?;
                    let f = [Fact::lifecycle(m, &profile, how, at)];
                    crate::results::write(tx, &crate::results::prepare(&f)?, &f)?;
                }
                Ok(n == 1)
            })
        })
    }
}
