//! The timer wheel on SQLite: due wake-ups (customers' and shops'), the
//! next one, and campaign starts claimed once.

use crate::store::*;
use jiff::Timestamp;
use rusqlite::params;
use storeflow_app::ports::StoreError;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// A due wake-up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    Customer(ShopId, ProfileId),
    Shop(ShopId),
}

impl Sqlite {
    /// Wake-ups due at or before `now`, earliest first.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<(Timestamp, Due)>, StoreError> {
        self.with(|c| {
            let mut out = Vec::new();
            let mut q = c
                .prepare_cached(
                    // `IS NOT NULL` says the partial index applies without
                    // looking at the bound instant, and the limit is part of
                    // the statement: a bound value either of them depends on
                    // makes SQLite prepare the statement again on every call.
                    &format!("SELECT wake_us, shop, profile FROM customers WHERE wake_us IS NOT NULL AND wake_us <= ?1 ORDER BY wake_us, profile LIMIT {limit}"),
                )
                .map_err(unavailable)?;
            let rows = q
                .query_map(params![us(now)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .map_err(unavailable)?;
            for r in rows {
                let (t, s, p) = r.map_err(unavailable)?;
                out.push((
                    ts(t)?,
                    Due::Customer(
                        ShopId::parse(s).map_err(|e| corrupt("shop", e))?,
                        ProfileId::parse(p).map_err(|e| corrupt("profile", e))?,
                    ),
                ));
            }
            let mut q = c
                .prepare_cached(
                    &format!("SELECT wake_us, shop FROM shops WHERE wake_us <= ?1 ORDER BY wake_us LIMIT {limit}"),
                )
                .map_err(unavailable)?;
            let rows = q
                .query_map(params![us(now)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(unavailable)?;
            for r in rows {
                let (t, s) = r.map_err(unavailable)?;
                out.push((
                    ts(t)?,
                    Due::Shop(ShopId::parse(s).map_err(|e| corrupt("shop", e))?),
                ));
            }
            out.sort();
            out.truncate(limit);
            Ok(out)
        })
    }

    /// The earliest pending wake-up, if any (the wheel sleeps until then).
    pub fn next_wake(&self) -> Result<Option<Timestamp>, StoreError> {
        self.with(|c| {
            let t: Option<i64> = c
                .prepare_cached(
                    // `wake_us IS NOT NULL` lets SQLite use the partial
                    // index (one probe); without it, min() reads every
                    // customer's row, state and all.
                    "SELECT min(t) FROM (SELECT min(wake_us) AS t FROM customers WHERE wake_us IS NOT NULL
                     UNION ALL SELECT min(wake_us) FROM shops WHERE wake_us IS NOT NULL)",
                )
                .and_then(|mut q| q.query_row([], |r| r.get(0)))
                .map_err(unavailable)?;
            t.map(ts).transpose()
        })
    }

    /// Whether a campaign start was enrolled already.
    pub fn campaign_done(&self, flow: &str, start: Timestamp) -> Result<bool, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM campaigns_done WHERE flow = ?1 AND start_us = ?2",
                params![flow, us(start)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(unavailable)
        })
    }

    /// Marks a campaign start as enrolled (after enrolling: a crash in
    /// between enrols again, which the engine's ledger makes harmless);
    /// false when it already was.
    pub fn claim_campaign(
        &self,
        flow: &str,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO campaigns_done (flow, start_us, done_us) VALUES (?1, ?2, ?3)",
                    params![flow, us(start), us(now)],
                )
                .map_err(unavailable)?;
            Ok(n == 1)
        })
    }
}
