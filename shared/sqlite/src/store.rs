//! `Sqlite`: the customer and shop ports in one SQLite database.

use crate::schema::{INGEST_SCHEMA, INGEST_TABLES, SCHEMA};
use crate::state_cache::StateCache;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use storeflow_app::ports::{Commit, Customers, Loaded, Shops, StoreError};
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::CustomerState;

/// Two database files, a connection behind a mutex for each: SQLite has
/// one writer at a time per file, and each call is a short local
/// transaction. The ingest file takes what accepting deliveries writes,
/// the main file everything else, so an acknowledgement never waits for
/// the engine's transaction (`schema.rs`).
pub struct Sqlite {
    conn: Mutex<Connection>,
    ingest: Mutex<Connection>,
    /// The engine's own connection for reading the inbox (file databases):
    /// a WAL reader, so the engine never holds the mutex the acknowledging
    /// writer needs. (It runs at a lower CPU priority: holding that mutex,
    /// it would make every acknowledgement wait for it to get a core.)
    inbox_reader: Option<Mutex<Connection>>,
    /// The highest applied seq the engine has seen committed, and how far
    /// the inbox was pruned: the accepting writer deletes applied items in
    /// its own transactions, the ingest file's only writer.
    pub(crate) applied_hint: AtomicI64,
    pub(crate) inbox_pruned: AtomicI64,
    /// Recently committed customer states (`state_cache`).
    states: Mutex<StateCache>,
    /// Dropped with the store: stops the checkpointer thread (file
    /// databases only).
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// The ingest file beside the main one: `storeflow.sqlite` →
/// `storeflow-ingest.sqlite`.
pub fn ingest_path(path: &Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "storeflow".into());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-ingest{ext}"))
}

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The commit that fills the WAL past this many pages checkpoints itself
/// (SQLite's automatic checkpoint): only a backstop, for when the
/// checkpointer thread cannot keep the WAL under [`RESTART_AT_PAGES`].
///
/// It was what bounded the WAL before the checkpointer restarted it: under
/// sustained load the WAL can start over only when a checkpoint copied
/// every frame, and commits land while the checkpointer copies, so the WAL
/// grew to this size and the commit that crossed it copied the rest and
/// synced both files while every delivery waited (at 3,000 webhooks/s,
/// once every 4-5 s, 16-77 ms and growing with the database).
const CHECKPOINT_BACKSTOP_PAGES: i64 = 100_000;

/// A WAL this long is started over by the checkpointer
/// (`wal_checkpoint(RESTART)`): it holds the writer lock while it copies
/// the frames since its last passive round and syncs, 7-19 ms on this
/// machine's disk for the ingest file, and the next commit writes the WAL
/// from its start. The same pause as the backstop's but shorter, at a size
/// the checkpointer chose (about 130 MB of WAL), and off the writer's
/// thread. 300,000 webhooks at a fixed 3,000/s: p99 16.9 and 12.8 ms with
/// it, 23.3 and 32.3 ms without (interleaved, BENCHMARKS.md).
const RESTART_AT_PAGES: i64 = 32_768;

// No `journal_size_limit`: with one, the writer that starts the WAL over
// syncs it and cuts the file back, 110-140 ms on this machine's disk while
// every acknowledgement waits (at a fixed 3,000 webhooks/s: p99 167-189 ms
// with it, 5-9 ms without). The WAL file keeps its largest size instead,
// about [`RESTART_AT_PAGES`] under sustained load.

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] from a
/// connection of its own (a passive checkpoint runs beside the writer), so
/// no commit pays for a checkpoint and its fsync while every other writer
/// waits for the connection; and starts a long WAL over
/// ([`RESTART_AT_PAGES`]). Stops when `stop`'s sender is dropped.
fn checkpointer(paths: &[std::path::PathBuf], stop: std::sync::mpsc::Receiver<()>) {
    let conns: Vec<Connection> = paths
        .iter()
        .filter_map(|p| Connection::open(p).ok())
        .collect();
    for c in &conns {
        let _ = c.busy_handler(Some(short_waits));
    }
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                for c in &conns {
                    // Busy or failed: the next round (or the backstop) does
                    // it. The second column is the WAL's length in frames.
                    let frames = c
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
                        .unwrap_or(0);
                    if frames >= RESTART_AT_PAGES {
                        let _ = c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
                    }
                }
            }
            _ => return,
        }
    }
}

/// The busy handler of every connection: waits in 200 µs steps, up to
/// about 5 s. (SQLite's own, behind `busy_timeout`, sleeps 1, 2, 5, 10 ...
/// up to 100 ms at a time, so a writer that met the checkpointer's 10 ms
/// restart could sleep on for 8 ms more.)
fn short_waits(attempt: i32) -> bool {
    if attempt >= 25_000 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(200));
    true
}

/// WAL, sync, the schema, and the statement cache, for either file.
fn configure(conn: &Connection, schema: &str) -> Result<(), StoreError> {
    // WAL: readers never block the writer; NORMAL sync is durable
    // across process crashes (kill -9), which is what we promise.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(unavailable)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(unavailable)?;
    conn.busy_handler(Some(short_waits)).map_err(unavailable)?;
    conn.execute_batch(schema).map_err(unavailable)?;
    // Every statement of the hot paths stays prepared: rusqlite keeps
    // 16 by default, fewer than the accept and commit paths use, so
    // they evicted each other and were parsed again all the time.
    conn.set_prepared_statement_cache_capacity(128);
    // Savepoints (an accepted group run again, one per delivery, after one
    // failed) journal the pages they change: in memory, not in a file.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(unavailable)?;
    Ok(())
}

/// How far the engine applied the inbox (0: nothing yet).
pub(crate) fn applied_seq(c: &Connection) -> Result<i64, StoreError> {
    c.query_row("SELECT seq FROM applied WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map(|s| s.unwrap_or(0))
        .map_err(unavailable)
}

/// Records that the inbox is applied up to `seq`.
pub(crate) fn mark_applied(c: &Connection, seq: i64) -> Result<(), StoreError> {
    crate::exec(
        c,
        "INSERT INTO applied (id, seq) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq)",
        params![seq],
    )
    .map(|_| ())
    .map_err(unavailable)
}

/// A database written before the split holds the ingest tables in its
/// main file: copied to the ingest file, then dropped, `inbox` last, so a
/// crash in between copies again on the next start (the copies ignore
/// rows already there; the engine skips events it applied).
fn move_ingest_tables(main: &Connection, ingest_file: &Path) -> Result<(), StoreError> {
    let old: i64 = main
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inbox'",
            [],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    if old == 0 {
        return Ok(());
    }
    let path = ingest_file.to_string_lossy();
    crate::exec(main, "ATTACH DATABASE ?1 AS ingest", params![path]).map_err(unavailable)?;
    let moved = (|| {
        for t in INGEST_TABLES {
            main.execute_batch(&format!(
                "INSERT OR IGNORE INTO ingest.{t} SELECT * FROM main.{t}"
            ))?;
        }
        for t in INGEST_TABLES {
            main.execute_batch(&format!("DROP TABLE main.{t}"))?;
        }
        Ok::<_, rusqlite::Error>(())
    })();
    let detached = main.execute_batch("DETACH DATABASE ingest");
    moved.map_err(unavailable)?;
    detached.map_err(unavailable)
}

/// A due wake-up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    Customer(ShopId, ProfileId),
    Shop(ShopId),
}

pub(crate) fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`, and its ingest
    /// file beside it ([`ingest_path`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        let ingest_file = ingest_path(path);
        let ingest = Connection::open(&ingest_file).map_err(unavailable)?;
        let mut store = Self::init(conn, ingest)?;
        store.with(|c| move_ingest_tables(c, &ingest_file))?;
        store.prune_applied()?;
        let reader = Connection::open(&ingest_file).map_err(unavailable)?;
        reader
            .busy_handler(Some(short_waits))
            .map_err(unavailable)?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(unavailable)?;
        store.inbox_reader = Some(Mutex::new(reader));
        for c in [&store.conn, &store.ingest] {
            locked(c)?
                .pragma_update(None, "wal_autocheckpoint", CHECKPOINT_BACKSTOP_PAGES)
                .map_err(unavailable)?;
        }
        // One checkpointer for both files: a passive checkpoint of each in
        // turn.
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = [path.to_path_buf(), ingest_file];
        std::thread::Builder::new()
            .name("storeflow-checkpoint".into())
            .spawn(move || checkpointer(&paths, rx))
            .map_err(|e| StoreError::Unavailable(format!("checkpointer: {e}")))?;
        store._checkpointer = Some(tx);
        Ok(store)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory().map_err(unavailable)?,
            Connection::open_in_memory().map_err(unavailable)?,
        )
    }

    fn init(conn: Connection, ingest: Connection) -> Result<Self, StoreError> {
        configure(&conn, SCHEMA)?;
        configure(&ingest, INGEST_SCHEMA)?;
        // The inbox's seqs must stay above what the main file says was
        // applied, even for an ingest file that was lost or is new.
        let applied = applied_seq(&conn)?;
        // (`sqlite_sequence` holds the last seq AUTOINCREMENT gave out.)
        for raise in [
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'inbox', ?1 \
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbox')",
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'inbox'",
        ] {
            crate::exec(&ingest, raise, params![applied]).map_err(unavailable)?;
        }
        Ok(Sqlite {
            conn: Mutex::new(conn),
            ingest: Mutex::new(ingest),
            inbox_reader: None,
            applied_hint: AtomicI64::new(applied),
            inbox_pruned: AtomicI64::new(0),
            states: Mutex::default(),
            _checkpointer: None,
        })
    }

    /// Deletes the inbox items the main file says were applied (at open,
    /// after an old layout's inbox was moved; afterwards the accepting
    /// writer does it as it goes).
    fn prune_applied(&self) -> Result<(), StoreError> {
        let applied = self.with(|c| applied_seq(c))?;
        self.with_ingest(|c| {
            crate::exec(c, "DELETE FROM inbox WHERE seq <= ?1", params![applied])
                .map_err(unavailable)
        })?;
        self.applied_hint.fetch_max(applied, Ordering::SeqCst);
        self.inbox_pruned.fetch_max(applied, Ordering::SeqCst);
        Ok(())
    }

    fn states(&self) -> std::sync::MutexGuard<'_, StateCache> {
        lock(&self.states)
    }

    /// Keeps at most `n` recently committed customer states parsed in
    /// memory (`state_cache`; 0 keeps none).
    pub fn set_state_cache(&self, n: usize) {
        self.states().set_capacity(n);
    }

    /// The connection the engine reads the inbox with: its own, or the
    /// ingest file's (an in-memory store, which another connection cannot
    /// open).
    pub(crate) fn with_inbox_reader<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &self.inbox_reader {
            Some(r) => f(&mut *locked(r)?),
            None => self.with_ingest(f),
        }
    }

    /// The ingest file's connection (accepting deliveries, the inbox).
    pub(crate) fn with_ingest<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(&mut *locked(&self.ingest)?)
    }

    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(&mut *locked(&self.conn)?)
    }

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

    /// Erases a customer: state, identity keys, decision trace and the
    /// personal content of their messages (ids and send times stay, as
    /// the proof the erasure keeps).
    pub fn erase_profile(&self, id: &ProfileId) -> Result<(), StoreError> {
        // Parsed personal data must not outlive the erasure in memory.
        self.states().forget(id.as_str());
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let p = id.as_str();
            for sql in [
                "DELETE FROM customers WHERE profile = ?1",
                "DELETE FROM identity_keys WHERE profile = ?1",
                "DELETE FROM decisions WHERE profile = ?1",
                "UPDATE outbox SET message = '{\"erased\":true}', sent_us = coalesce(sent_us, 0) WHERE profile = ?1",
            ] {
                crate::exec(&tx, sql, params![p]).map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
    }

    /// Every profile of a shop (shop/redact).
    pub fn profiles_of_shop(&self, shop: &ShopId) -> Result<Vec<ProfileId>, StoreError> {
        self.with(|c| {
            texts(
                c,
                "SELECT profile FROM customers WHERE shop = ?1",
                params![shop.as_str()],
            )
        })?
        .into_iter()
        .map(|p| ProfileId::parse(p).map_err(|e| corrupt("profile", e)))
        .collect()
    }

    /// The profile an identity key points at (the synchronous lookup of
    /// `storeflow trace`).
    pub fn profile_for_key(&self, key: &str) -> Result<Option<ProfileId>, StoreError> {
        self.with(|c| {
            let p: Option<String> = c
                .query_row(
                    "SELECT profile FROM identity_keys WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            p.map(|p| ProfileId::parse(p).map_err(|e| corrupt("identity key", e)))
                .transpose()
        })
    }

    /// The shop a profile belongs to.
    pub fn shop_of(&self, profile: &ProfileId) -> Result<Option<ShopId>, StoreError> {
        let sql = "SELECT shop FROM customers WHERE profile = ?1";
        self.with(|c| texts(c, sql, params![profile.as_str()]))?
            .into_iter()
            .next()
            .map(|s| ShopId::parse(s).map_err(|e| corrupt("shop", e)))
            .transpose()
    }

    /// Shops with customers (the profile view and `trace` look in each).
    pub fn shops(&self) -> Result<Vec<ShopId>, StoreError> {
        self.with(|c| texts(c, "SELECT DISTINCT shop FROM customers", []))?
            .into_iter()
            .map(|s| ShopId::parse(s).map_err(|e| corrupt("shop", e)))
            .collect()
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

    /// Customers in a segment now (a campaign's audience). A scan of every
    /// state: fine for the store sizes the embedded runtime is for.
    pub fn members(&self, segment: &str) -> Result<Vec<(ShopId, ProfileId)>, StoreError> {
        let mut out = Vec::new();
        let sql = "SELECT profile, state FROM customers ORDER BY profile";
        self.with(|c| {
            each_row(c, sql, [], |r| {
                let what = format!(
                    "customer {}",
                    r.get_ref(0).map_err(unavailable)?.as_str().unwrap_or("?")
                );
                let st: CustomerState = stored_json(r.get_ref(1).map_err(unavailable)?, &what)?;
                if st.segments.is_member(segment) {
                    out.push((st.profile.shop.clone(), st.profile.id.clone()));
                }
                Ok(())
            })
        })?;
        out.sort();
        Ok(out)
    }

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

    /// A customer's decisions, oldest first (`storeflow trace`).
    pub fn decisions(
        &self,
        profile: &ProfileId,
    ) -> Result<Vec<storeflow_core::Decision>, StoreError> {
        let sql = "SELECT decision FROM decisions WHERE profile = ?1 ORDER BY seq";
        let what = format!("trace of {profile}");
        let mut out = Vec::new();
        self.with(|c| {
            each_row(c, sql, params![profile.as_str()], |row| {
                let stored = row.get_ref(0).map_err(unavailable)?;
                let t = crate::state_codec::decode(stored, &what)?;
                // A row is one evaluation's decisions (an array), or one
                // decision in a database written before that.
                if t.starts_with('[') {
                    out.extend(json::<Vec<storeflow_core::Decision>>(&t, &what)?);
                } else {
                    out.push(json(&t, &what)?);
                }
                Ok(())
            })
        })?;
        Ok(out)
    }
}

pub(crate) fn ts(t: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(t).map_err(|e| corrupt("instant", e))
}

/// One text column of every row a query returns.
fn texts<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
) -> Result<Vec<String>, StoreError> {
    let mut q = c.prepare_cached(sql).map_err(unavailable)?;
    let rows = q
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    rows.collect::<Result<_, _>>().map_err(unavailable)
}

/// Calls `f` on every row a query returns, in order (rows whose stored
/// values are read in place, without copying them out first).
fn each_row<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut q = c.prepare_cached(sql).map_err(unavailable)?;
    let mut rows = q.query(params).map_err(unavailable)?;
    while let Some(r) = rows.next().map_err(unavailable)? {
        f(r)?;
    }
    Ok(())
}

/// A stored JSON document; `what` names it in the error.
fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// A stored state (`state_codec`: compressed, or JSON text) parsed;
/// `what` names the record in the error.
fn stored_json<T: serde::de::DeserializeOwned>(
    stored: rusqlite::types::ValueRef<'_>,
    what: &str,
) -> Result<T, StoreError> {
    json(&crate::state_codec::decode(stored, what)?, what)
}

/// A versioned record's state (`state` made from its stored value,
/// borrowed from the row), version and wake-up.
fn versioned<T>(
    c: &Connection,
    table: &str,
    key_col: &str,
    key: &str,
    state: impl FnOnce(rusqlite::types::ValueRef<'_>) -> Result<T, StoreError>,
) -> Result<Option<(T, u64, Option<Timestamp>)>, StoreError> {
    let row = c
        .prepare_cached(&format!(
            "SELECT state, version, wake_us FROM {table} WHERE {key_col} = ?1"
        ))
        .and_then(|mut q| {
            q.query_row(params![key], |r| {
                let wake = r
                    .get::<_, Option<i64>>(2)?
                    .and_then(|us| Timestamp::from_microsecond(us).ok());
                Ok((state(r.get_ref(0)?), r.get::<_, i64>(1)? as u64, wake))
            })
            .optional()
        })
        .map_err(unavailable)?;
    row.map(|(s, version, wake)| s.map(|s| (s, version, wake)))
        .transpose()
}

fn version_of(
    c: &Connection,
    table: &str,
    key_col: &str,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    c.prepare_cached(&format!("SELECT version FROM {table} WHERE {key_col} = ?1"))
        .and_then(|mut q| q.query_row(params![key], |r| r.get::<_, i64>(0)).optional())
        .map_err(unavailable)
        .map(|v| v.map(|v| v as u64))
}

/// What one customer commit writes, serialized before any lock is taken:
/// the lock is held only for the writes.
struct Serialized<'a> {
    /// The state as stored (`state_codec`).
    state: Vec<u8>,
    messages: Vec<(&'a str, String)>,
    /// The evaluation's decisions, as one row (stored like a state,
    /// `state_codec`).
    decisions: Option<(i64, Vec<u8>)>,
}

fn serialize<'a>(cm: &Commit<'a>) -> Result<Serialized<'a>, StoreError> {
    let state = crate::state_codec::encode(
        &serde_json::to_string(&cm.state).map_err(|e| corrupt("state", e))?,
    );
    let messages = cm
        .messages
        .iter()
        .map(|m| Ok((m.id.as_str(), serde_json::to_string(m)?)))
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| corrupt("message", e))?;
    // The trace of one evaluation is one row (a JSON array of its
    // decisions, about ten): one insert and one index entry per commit
    // instead of one per decision.
    //
    // Without the messages' bodies: each is in the outbox row committed
    // with it, and a trace with them would write every body twice (it was
    // about half of the main file's bytes under load).
    let decisions = match cm.decisions.first() {
        Some(first) => {
            let lean: Vec<std::borrow::Cow<'_, storeflow_core::Decision>> = cm
                .decisions
                .iter()
                .map(|d| match d.message {
                    Some(_) => std::borrow::Cow::Owned(storeflow_core::Decision {
                        message: None,
                        ..d.clone()
                    }),
                    None => std::borrow::Cow::Borrowed(d),
                })
                .collect();
            Some((
                us(first.at),
                crate::state_codec::encode(
                    &serde_json::to_string(&lean).map_err(|e| corrupt("decision", e))?,
                ),
            ))
        }
        None => None,
    };
    Ok(Serialized {
        state,
        messages,
        decisions,
    })
}

fn find_keys(c: &Connection, keys: &[String]) -> Result<Vec<Option<ProfileId>>, StoreError> {
    let mut q = c
        .prepare_cached("SELECT profile FROM identity_keys WHERE key = ?1")
        .map_err(unavailable)?;
    keys.iter()
        .map(|k| {
            let p: Option<String> = q
                .query_row(params![k], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            p.map(|p| ProfileId::parse(p).map_err(|e| corrupt("identity key", e)))
                .transpose()
        })
        .collect()
}

/// A customer's row, its state taken from `cache` when the row still holds
/// what it was kept for, decoded and parsed otherwise.
fn load_customer(
    c: &Connection,
    cache: &Mutex<StateCache>,
    id: &ProfileId,
) -> Result<Option<Loaded>, StoreError> {
    let row = versioned(c, "customers", "profile", id.as_str(), |stored| {
        match lock(cache).take(id.as_str(), crate::state_codec::stored_bytes(stored)) {
            Some(mut s) => {
                // Looked up again, as for a parsed state: the configuration
                // may have been reloaded since this one was kept.
                for r in &mut s.runs {
                    r.def = Default::default();
                }
                Ok(s)
            }
            None => stored_json(stored, &format!("customer {id}")),
        }
    })?;
    Ok(row.map(|(state, version, wake)| Loaded {
        state,
        version,
        wake,
    }))
}

/// A connection's lock: a poisoned one (a panic while it was held, maybe
/// mid-transaction) is refused rather than used.
fn locked<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Unavailable("connection poisoned".into()))
}

fn lock(cache: &Mutex<StateCache>) -> std::sync::MutexGuard<'_, StateCache> {
    // The cache holds no invariant a panic could break halfway.
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writes of one customer commit, inside a transaction the caller
/// opened and closes.
fn write_customer(c: &Connection, cm: &Commit<'_>, w: &Serialized<'_>) -> Result<(), StoreError> {
    check_customer(c, cm)?;
    write_customer_rows(c, cm, w)
}

/// Every condition of a customer commit, before anything is written: a
/// conflict leaves nothing behind, without a savepoint to roll back.
fn check_customer(c: &Connection, cm: &Commit<'_>) -> Result<(), StoreError> {
    let id = cm.state.profile.id.as_str();
    if version_of(c, "customers", "profile", id)? != cm.expected {
        return Err(StoreError::Conflict(format!("profile {id}")));
    }
    for (a, v) in cm.absorbed {
        if version_of(c, "customers", "profile", a.as_str())? != Some(*v) {
            return Err(StoreError::Conflict(format!("merged profile {a}")));
        }
    }
    for k in cm.keys {
        let owner: Option<String> = c
            .prepare_cached("SELECT profile FROM identity_keys WHERE key = ?1")
            .and_then(|mut q| q.query_row(params![k], |r| r.get(0)).optional())
            .map_err(unavailable)?;
        if let Some(owner) = owner {
            if owner != id && !cm.absorbed.iter().any(|(a, _)| a.as_str() == owner) {
                return Err(StoreError::Conflict(format!(
                    "identity key {k} is {owner}'s"
                )));
            }
        }
    }
    Ok(())
}

/// The rows of a customer commit whose conditions [`check_customer`]
/// found met. An error here (the disk) may leave some written: the caller
/// rolls back its transaction.
fn write_customer_rows(
    c: &Connection,
    cm: &Commit<'_>,
    w: &Serialized<'_>,
) -> Result<(), StoreError> {
    let id = cm.state.profile.id.as_str();
    for (a, _) in cm.absorbed {
        crate::exec(
            c,
            "DELETE FROM customers WHERE profile = ?1",
            params![a.as_str()],
        )
        .map_err(unavailable)?;
    }
    let next = cm.expected.map_or(1, |v| v + 1) as i64;
    crate::exec(
        c,
        "INSERT INTO customers (profile, shop, version, state, wake_us) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (profile) DO UPDATE SET version = ?3, state = ?4, wake_us = ?5",
        params![
            id,
            cm.state.profile.shop.as_str(),
            next,
            w.state,
            cm.wake.map(us)
        ],
    )
    .map_err(unavailable)?;
    for k in cm.keys {
        crate::exec(
            c,
            "INSERT INTO identity_keys (key, profile) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET profile = ?2",
            params![k, id],
        )
        .map_err(unavailable)?;
    }
    for (mid, text) in &w.messages {
        // A message id is decided once; committing it again is a no-op.
        crate::exec(
            c,
            "INSERT INTO outbox (id, profile, message, queued_us) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO NOTHING",
            params![mid, id, text, us(cm.now)],
        )
        .map_err(unavailable)?;
    }
    if let Some((at, text)) = &w.decisions {
        crate::exec(
            c,
            "INSERT INTO decisions (profile, at_us, decision) VALUES (?1, ?2, ?3)",
            params![id, at, text],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

fn load_shop_row(c: &Connection, shop: &ShopId) -> Result<Option<(ShopState, u64)>, StoreError> {
    let row = versioned(c, "shops", "shop", shop.as_str(), |stored| {
        stored_json(stored, &format!("shop {shop}"))
    })?;
    Ok(row.map(|(state, v, _)| (state, v)))
}

/// A shop commit's condition, before it writes (as [`check_customer`]).
fn check_shop(c: &Connection, shop: &ShopId, expected: Option<u64>) -> Result<(), StoreError> {
    if version_of(c, "shops", "shop", shop.as_str())? != expected {
        return Err(StoreError::Conflict(format!("shop {shop}")));
    }
    Ok(())
}

/// The shop's row, once [`check_shop`] found its condition met.
fn write_shop(
    c: &Connection,
    shop: &ShopId,
    text: &str,
    expected: Option<u64>,
    wake: Option<Timestamp>,
) -> Result<(), StoreError> {
    crate::exec(
        c,
        "INSERT INTO shops (shop, version, state, wake_us) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (shop) DO UPDATE SET version = ?2, state = ?3, wake_us = ?4",
        params![
            shop.as_str(),
            expected.map_or(1, |v| v + 1) as i64,
            text,
            wake.map(us)
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

/// Runs `f` in a transaction of its own: committed when it returns `Ok`,
/// rolled back otherwise.
fn in_transaction<R>(
    c: &mut Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let r = f(&tx)?;
    tx.commit().map_err(unavailable)?;
    Ok(r)
}

impl Customers for Sqlite {
    async fn find(&self, keys: &[String]) -> Result<Vec<Option<ProfileId>>, StoreError> {
        self.with(|c| find_keys(c, keys))
    }

    async fn load(&self, _shop: &ShopId, id: &ProfileId) -> Result<Option<Loaded>, StoreError> {
        self.with(|c| load_customer(c, &self.states, id))
    }

    async fn commit(&self, cm: Commit<'_>) -> Result<(), StoreError> {
        let w = serialize(&cm)?;
        self.with(|c| in_transaction(c, |tx| write_customer(tx, &cm, &w)))?;
        self.states().keep(&w.state, cm.state);
        Ok(())
    }
}

impl Shops for Sqlite {
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
        self.with(|c| {
            in_transaction(c, |tx| {
                check_shop(tx, shop, expected)?;
                write_shop(tx, shop, &text, expected, wake)
            })
        })
    }
}

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
/// caller may run them with [`ready`].
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

/// The value of a future that never waits (the application services over
/// a [`Batch`]).
///
/// # Panics
/// When the future does wait: a port that is not synchronous underneath.
pub fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a future over a SQLite batch waited"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CustomerState {
        CustomerState::new(
            ProfileId::parse("p_cache").unwrap(),
            ShopId::parse("north.myshopify.com").unwrap(),
            "2026-11-01T00:00:00Z".parse().unwrap(),
        )
    }

    fn tag(at: &str) -> storeflow_core::customer::profile::Stamped<bool> {
        storeflow_core::customer::profile::Stamped {
            value: true,
            at: at.parse().unwrap(),
        }
    }

    fn commit(s: &Sqlite, st: CustomerState, expected: Option<u64>) {
        ready(s.commit(Commit {
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            state: st,
            expected,
            keys: &[],
            absorbed: &[],
            wake: None,
            messages: &[],
            decisions: &[],
        }))
        .unwrap();
    }

    fn load(s: &Sqlite) -> Loaded {
        let (shop, id) = (
            ShopId::parse("north.myshopify.com").unwrap(),
            state().profile.id,
        );
        ready(s.load(&shop, &id)).unwrap().expect("stored")
    }

    #[test]
    fn a_trace_row_is_stored_compressed_and_read_back_beside_older_text_rows() {
        let s = Sqlite::in_memory().unwrap();
        let st = state();
        let at: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let mut d = storeflow_core::Decision::new(
            at,
            storeflow_core::model::decision::Kind::SegmentEnter,
            "ada@example.com".into(),
            st.profile.id.clone(),
        );
        d.segment = Some("vip".into());
        // A row written before compression (a JSON text) comes first.
        let older = serde_json::to_string(&vec![d.clone()]).unwrap();
        s.with(|c| {
            c.execute(
                "INSERT INTO decisions (profile, at_us, decision) VALUES (?1, 0, ?2)",
                params![st.profile.id.as_str(), older],
            )
            .map_err(unavailable)
        })
        .unwrap();
        d.kind = storeflow_core::model::decision::Kind::SegmentExit;
        ready(s.commit(Commit {
            now: at,
            state: st.clone(),
            expected: None,
            keys: &[],
            absorbed: &[],
            wake: None,
            messages: &[],
            decisions: std::slice::from_ref(&d),
        }))
        .unwrap();
        let kinds: Vec<String> = s
            .with(|c| {
                let mut q = c
                    .prepare("SELECT typeof(decision) FROM decisions ORDER BY seq")
                    .map_err(unavailable)?;
                let rows = q.query_map([], |r| r.get(0)).map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)
            })
            .unwrap();
        assert_eq!(kinds, ["text", "blob"]);
        let trace = s.decisions(&st.profile.id).unwrap();
        let got: Vec<_> = trace.iter().map(|d| (d.kind, d.segment.clone())).collect();
        assert_eq!(
            got,
            [
                (
                    storeflow_core::model::decision::Kind::SegmentEnter,
                    Some("vip".into())
                ),
                (
                    storeflow_core::model::decision::Kind::SegmentExit,
                    Some("vip".into())
                ),
            ]
        );
    }

    #[test]
    fn a_kept_state_is_never_handed_out_for_a_row_changed_behind_its_back() {
        let s = Sqlite::in_memory().unwrap();
        let mut st = state();
        st.profile
            .tags
            .insert("kept".into(), tag("2026-11-01T00:00:00Z"));
        commit(&s, st, None);
        assert_eq!(s.states().len(), 1);
        let l = load(&s);
        assert!(l.state.profile.tags.contains_key("kept"));
        assert_eq!(s.states().len(), 0, "taken out for the next commit");
        commit(&s, l.state, Some(1));
        // Stored compressed (`state_codec`).
        let kind: String = s
            .with(|c| {
                c.query_row("SELECT typeof(state) FROM customers", [], |r| r.get(0))
                    .map_err(unavailable)
            })
            .unwrap();
        assert_eq!(kind, "blob");

        // Another writer (here, by hand) changes the row: the kept state
        // no longer matches its text, and the row is parsed (a JSON text,
        // as rows written before compression are).
        let mut other = state();
        other
            .profile
            .tags
            .insert("written".into(), tag("2026-11-02T00:00:00Z"));
        let text = serde_json::to_string(&other).unwrap();
        s.with(|c| {
            c.execute(
                "UPDATE customers SET state = ?1, version = 3",
                params![text],
            )
            .map_err(unavailable)
        })
        .unwrap();
        let l = load(&s);
        assert_eq!(l.version, 3);
        assert!(l.state.profile.tags.contains_key("written"));
        assert!(!l.state.profile.tags.contains_key("kept"));

        // An erasure forgets the kept state with the row.
        commit(&s, l.state, Some(3));
        s.erase_profile(&state().profile.id).unwrap();
        assert_eq!(s.states().len(), 0);
    }
}
