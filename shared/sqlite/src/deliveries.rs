//! Ingestion's delivery store on SQLite, and the atomic "accept" step:
//! the raw delivery, what it teaches (facts) and the accepted items for
//! the engine (the inbox) are written in one transaction before the
//! platform gets its 200 — so a crash either loses nothing or never said
//! yes (and the platform retries).

use crate::store::Sqlite;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::atomic::Ordering;
use storeflow_app::StoreError;
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::event::Event;
use storeflow_ingest::store::{Facts, RawDelivery, Recorded, StoreError as IngestError};
use storeflow_ingest::{Accepted, DeliveryStore, Handled, Request, Router};

/// How many applied inbox items the accepting writer lets gather before
/// it deletes them: one larger delete now and then, not a few pages more
/// in every acknowledgement's commit.
const PRUNE_AT: i64 = 1024;

/// The delivery store over one connection (or open transaction).
pub struct Deliveries<'c> {
    conn: &'c Connection,
}

fn fail(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn err(e: impl std::fmt::Display) -> IngestError {
    IngestError(e.to_string())
}

impl<'c> Deliveries<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Deliveries { conn }
    }
}

impl Facts for Deliveries<'_> {
    fn recall(&self, key: &str) -> Option<String> {
        self.conn
            .prepare_cached("SELECT value FROM facts WHERE key = ?1")
            .and_then(|mut q| q.query_row(params![key], |r| r.get(0)).optional())
            .ok()
            .flatten()
    }
}

impl DeliveryStore for Deliveries<'_> {
    fn seen(&self, key: &str) -> Result<Option<Timestamp>, IngestError> {
        let t: Option<i64> = self
            .conn
            .prepare_cached("SELECT received_us FROM deliveries WHERE key = ?1")
            .and_then(|mut q| q.query_row(params![key], |r| r.get(0)).optional())
            .map_err(err)?;
        t.map(|t| Timestamp::from_microsecond(t).map_err(err))
            .transpose()
    }

    fn record(
        &mut self,
        d: RawDelivery,
        facts: Vec<(String, String)>,
    ) -> Result<Recorded, IngestError> {
        if let Some(first_seen) = self.seen(&d.key)? {
            return Ok(Recorded::Duplicate { first_seen });
        }
        let text = serde_json::to_string(&d).map_err(err)?;
        crate::exec(
            self.conn,
            "INSERT INTO deliveries (key, shop, delivery, received_us) VALUES (?1, ?2, ?3, ?4)",
            params![d.key, d.shop, text, d.received_at.as_microsecond()],
        )
        .map_err(err)?;
        for s in &d.subjects {
            crate::exec(
                self.conn,
                "INSERT OR IGNORE INTO delivery_subjects (subject, key) VALUES (?1, ?2)",
                params![s, d.key],
            )
            .map_err(err)?;
        }
        for (k, v) in facts {
            crate::exec(self.conn,
                    "INSERT INTO facts (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                    params![k, v],
                )
                .map_err(err)?;
        }
        Ok(Recorded::New)
    }

    fn erase_customer(
        &mut self,
        shop: &str,
        subjects: &[String],
        fact_keys: &[String],
        at: Timestamp,
    ) -> Result<usize, IngestError> {
        let mut keys: Vec<String> = Vec::new();
        for s in subjects {
            let mut q = self
                .conn
                .prepare_cached("SELECT key FROM delivery_subjects WHERE subject = ?1")
                .map_err(err)?;
            for k in q
                .query_map(params![s], |r| r.get::<_, String>(0))
                .map_err(err)?
            {
                let k = k.map_err(err)?;
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut n = 0;
        for k in keys {
            n += erase(self.conn, &k, Some(shop), at)?;
        }
        for k in fact_keys {
            crate::exec(self.conn, "DELETE FROM facts WHERE key = ?1", params![k]).map_err(err)?;
        }
        Ok(n)
    }

    fn erase_shop(&mut self, shop: &str, at: Timestamp) -> Result<usize, IngestError> {
        let keys: Vec<String> = {
            let mut q = self
                .conn
                .prepare("SELECT key FROM deliveries WHERE shop = ?1 AND erased_us IS NULL")
                .map_err(err)?;
            let rows = q
                .query_map(params![shop], |r| r.get::<_, String>(0))
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let mut n = 0;
        for k in keys {
            n += erase(self.conn, &k, Some(shop), at)?;
        }
        crate::exec(
            self.conn,
            "DELETE FROM facts WHERE instr(key, ?1) > 0",
            params![format!("|{shop}|")],
        )
        .map_err(err)?;
        Ok(n)
    }

    fn delivery(&self, key: &str) -> Result<Option<RawDelivery>, IngestError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT delivery FROM deliveries WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        text.map(|t| serde_json::from_str(&t).map_err(err))
            .transpose()
    }
}

/// Blanks a delivery's headers and body, keeping its key and when it was
/// erased (the proof, and so a redelivery stays a duplicate).
fn erase(
    conn: &Connection,
    key: &str,
    shop: Option<&str>,
    at: Timestamp,
) -> Result<usize, IngestError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT delivery FROM deliveries WHERE key = ?1 AND erased_us IS NULL",
            params![key],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    let Some(text) = text else { return Ok(0) };
    let mut d: RawDelivery = serde_json::from_str(&text).map_err(err)?;
    if shop.is_some_and(|s| s != d.shop) {
        return Ok(0);
    }
    d.headers.clear();
    d.body.clear();
    d.erased_at = Some(at);
    conn.execute(
        "UPDATE deliveries SET delivery = ?2, erased_us = ?3 WHERE key = ?1",
        params![
            key,
            serde_json::to_string(&d).map_err(err)?,
            at.as_microsecond()
        ],
    )
    .map_err(err)?;
    Ok(1)
}

fn insert_inbox(
    tx: &rusqlite::Transaction<'_>,
    req: &Request,
    h: &Handled,
    now: Timestamp,
) -> Result<(), StoreError> {
    let key = format!("{}#{}", req.path, now.as_microsecond());
    for a in &h.accepted {
        let (kind, text) = match a {
            Accepted::Event(e) => ("event", serde_json::to_string(e)),
            Accepted::Privacy(p) => ("privacy", serde_json::to_string(p)),
        };
        crate::exec(
            tx,
            "INSERT INTO inbox (delivery, kind, item, received_us) VALUES (?1, ?2, ?3, ?4)",
            params![key, kind, text.map_err(fail)?, now.as_microsecond()],
        )
        .map_err(fail)?;
    }
    Ok(())
}

/// One item of the inbox.
#[derive(Debug, Clone)]
pub struct InboxItem {
    pub seq: i64,
    pub delivery: String,
    pub received_at: Timestamp,
    pub item: Inboxed,
    /// The item as stored (what a dead letter keeps).
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Inboxed {
    Event(Box<Event>),
    Privacy(PrivacyRequest),
    /// A stored item that no longer parses (written by another version, or
    /// a bug): set aside as a dead letter, never retried in a loop.
    Unreadable {
        kind: crate::dead_letters::LetterKind,
        error: String,
    },
}

impl Sqlite {
    /// Runs one HTTP delivery through the router with the raw delivery,
    /// facts and accepted items committed together. Refusals (4xx) write
    /// nothing.
    pub fn accept(
        &self,
        router: &Router,
        req: &Request,
        now: Timestamp,
    ) -> Result<Handled, StoreError> {
        self.accept_batch(&[(router, req, now)])
            .and_then(|mut v| v.pop().expect("one answer per request"))
    }

    /// Group commit: runs several HTTP deliveries through their routers in
    /// one transaction and commits once. Nothing is answered before that
    /// commit, so a 200 still means durable; one commit (and one write of
    /// each page touched) for the batch instead of one per delivery is what
    /// lets the server keep up with many connections.
    ///
    /// A delivery whose storage failed (a 5xx answer or an inbox write that
    /// failed) is rolled back alone. The group first runs without
    /// savepoints, since each savepoint journals every page its delivery
    /// touches. If one delivery fails, the whole transaction is rolled back
    /// and the group runs again with each delivery in a savepoint of its
    /// own. The router reads nothing but the store, so the second run sees
    /// what the first saw. A failed commit fails them all (the outer
    /// `Err`), and nothing was written. (Verifying outside the lock against
    /// a buffering store was measured: no gain on 2 cores, where the
    /// engine's work is the limit; see BENCHMARKS.md.)
    #[allow(clippy::type_complexity)]
    pub fn accept_batch(
        &self,
        batch: &[(&Router, &Request, Timestamp)],
    ) -> Result<Vec<Result<Handled, StoreError>>, StoreError> {
        match self.accept_group(batch, false)? {
            Some(out) => Ok(out),
            None => Ok(self
                .accept_group(batch, true)?
                .expect("with savepoints every delivery has its answer")),
        }
    }

    /// One run of [`Sqlite::accept_batch`]: `None` when a delivery failed
    /// without `savepoints` (everything rolled back).
    #[allow(clippy::type_complexity)]
    fn accept_group(
        &self,
        batch: &[(&Router, &Request, Timestamp)],
        savepoints: bool,
    ) -> Result<Option<Vec<Result<Handled, StoreError>>>, StoreError> {
        self.with_ingest(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(fail)?;
            // Applied items go in batches of at least PRUNE_AT, in the
            // transaction of an acceptance: the ingest file has one writer.
            let applied = self.applied_hint.load(Ordering::SeqCst);
            let prune = applied >= self.inbox_pruned.load(Ordering::SeqCst) + PRUNE_AT;
            if prune {
                crate::exec(&tx, "DELETE FROM inbox WHERE seq <= ?1", params![applied])
                    .map_err(fail)?;
            }
            let mut out = Vec::with_capacity(batch.len());
            for (router, req, now) in batch {
                if savepoints {
                    crate::exec(&tx, "SAVEPOINT accept", []).map_err(fail)?;
                }
                let h = {
                    let mut store = Deliveries::new(&tx);
                    router.handle(req, *now, &mut store)
                };
                let r = if h.response.status >= 500 {
                    Ok(h)
                } else {
                    insert_inbox(&tx, req, &h, *now).map(|()| h)
                };
                let keep = matches!(&r, Ok(h) if h.response.status < 500);
                if savepoints {
                    if !keep {
                        crate::exec(&tx, "ROLLBACK TO accept", []).map_err(fail)?;
                    }
                    crate::exec(&tx, "RELEASE accept", []).map_err(fail)?;
                } else if !keep {
                    // Dropping the transaction rolls it back.
                    return Ok(None);
                }
                out.push(r);
            }
            tx.commit().map_err(fail)?;
            if prune {
                self.inbox_pruned.fetch_max(applied, Ordering::SeqCst);
            }
            Ok(Some(out))
        })
    }

    /// Accepted items not yet applied, oldest first (those at or below the
    /// main file's applied mark are skipped, and deleted later by the
    /// accepting writer).
    pub fn inbox(&self, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        let applied = self.with(|c| crate::store::applied_seq(c))?;
        // Committed: the accepting writer may delete up to here.
        self.applied_hint.fetch_max(applied, Ordering::SeqCst);
        // The rows are read as text and parsed after the statement ends:
        // a read of the ingest file holds its WAL, and the checkpointer's
        // restart of that WAL (which holds every acknowledgement meanwhile)
        // waits for it. Parsing a batch inside the read made that wait
        // 5-25 ms, every 2 s under load.
        let rows = self.with_inbox_reader(|c| {
            let mut q = c
                // The limit written into the statement: a bound LIMIT
                // makes SQLite prepare the statement again on every call.
                .prepare_cached(&format!(
                    "SELECT seq, delivery, kind, item, received_us FROM inbox WHERE seq > ?1 ORDER BY seq LIMIT {limit}"
                ))
                .map_err(fail)?;
            let rows = q
                .query_map(params![applied], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(fail)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(fail)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, delivery, kind, text, t) in rows {
            use crate::dead_letters::LetterKind;
            let unreadable = |kind, e: serde_json::Error| Inboxed::Unreadable {
                kind,
                error: format!("unreadable {} item: {e}", kind.as_str()),
            };
            let item = match kind.as_str() {
                "event" => match serde_json::from_str(&text) {
                    Ok(e) => Inboxed::Event(Box::new(e)),
                    Err(e) => unreadable(LetterKind::Event, e),
                },
                _ => match serde_json::from_str(&text) {
                    Ok(p) => Inboxed::Privacy(p),
                    Err(e) => unreadable(LetterKind::Privacy, e),
                },
            };
            out.push(InboxItem {
                seq,
                delivery,
                // A stored instant out of range is the row's own problem:
                // it is read as the epoch, not a reason to stop the inbox.
                received_at: Timestamp::from_microsecond(t).unwrap_or(Timestamp::UNIX_EPOCH),
                item,
                text,
            });
        }
        Ok(out)
    }

    /// Marks the inbox applied up to `seq` (an item applied outside a
    /// batch: a privacy request).
    pub fn done(&self, seq: i64) -> Result<(), StoreError> {
        self.with(|c| crate::store::mark_applied(c, seq))
    }

    /// How many deliveries are kept (raw).
    pub fn deliveries_kept(&self) -> Result<u64, StoreError> {
        self.with_ingest(|c| {
            c.query_row("SELECT count(*) FROM deliveries", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(fail)
        })
    }
}
