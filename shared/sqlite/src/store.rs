//! `Sqlite`: the customer and shop ports in one SQLite database.

use crate::schema::{INGEST_SCHEMA, INGEST_TABLES, SCHEMA};
use crate::state_cache::StateCache;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use storeflow_app::ports::StoreError;

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
    pub(crate) states: Mutex<StateCache>,
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
pub(crate) const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

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
pub(crate) const CHECKPOINT_BACKSTOP_PAGES: i64 = 100_000;

/// A WAL this long is started over by the checkpointer
/// (`wal_checkpoint(RESTART)`): it holds the writer lock while it copies
/// the frames since its last passive round and syncs, 7-19 ms on this
/// machine's disk for the ingest file, and the next commit writes the WAL
/// from its start. The same pause as the backstop's but shorter, at a size
/// the checkpointer chose (about 130 MB of WAL), and off the writer's
/// thread. 300,000 webhooks at a fixed 3,000/s: p99 16.9 and 12.8 ms with
/// it, 23.3 and 32.3 ms without (interleaved, BENCHMARKS.md).
pub(crate) const RESTART_AT_PAGES: i64 = 32_768;

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
pub(crate) fn checkpointer(paths: &[std::path::PathBuf], stop: std::sync::mpsc::Receiver<()>) {
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
pub(crate) fn short_waits(attempt: i32) -> bool {
    if attempt >= 25_000 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(200));
    true
}

/// WAL, sync, the schema, and the statement cache, for either file.
pub(crate) fn configure(conn: &Connection, schema: &str) -> Result<(), StoreError> {
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
pub(crate) fn move_ingest_tables(main: &Connection, ingest_file: &Path) -> Result<(), StoreError> {
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

pub(crate) fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
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

    pub(crate) fn init(conn: Connection, ingest: Connection) -> Result<Self, StoreError> {
        configure(&conn, SCHEMA)?;
        crate::schema::migrate(&conn).map_err(unavailable)?;
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
    pub(crate) fn prune_applied(&self) -> Result<(), StoreError> {
        let applied = self.with(|c| applied_seq(c))?;
        self.with_ingest(|c| {
            crate::exec(c, "DELETE FROM inbox WHERE seq <= ?1", params![applied])
                .map_err(unavailable)
        })?;
        self.applied_hint.fetch_max(applied, Ordering::SeqCst);
        self.inbox_pruned.fetch_max(applied, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn states(&self) -> std::sync::MutexGuard<'_, StateCache> {
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
}

pub(crate) fn ts(t: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(t).map_err(|e| corrupt("instant", e))
}

/// One text column of every row a query returns.
pub(crate) fn texts<P: rusqlite::Params>(
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
pub(crate) fn each_row<P: rusqlite::Params>(
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
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// A stored state (`state_codec`: compressed, or JSON text) parsed;
/// `what` names the record in the error.
pub(crate) fn stored_json<T: serde::de::DeserializeOwned>(
    stored: rusqlite::types::ValueRef<'_>,
    what: &str,
) -> Result<T, StoreError> {
    json(&crate::state_codec::decode(stored, what)?, what)
}

/// A connection's lock: a poisoned one (a panic while it was held, maybe
/// mid-transaction) is refused rather than used.
pub(crate) fn locked<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Unavailable("connection poisoned".into()))
}

pub(crate) fn lock(cache: &Mutex<StateCache>) -> std::sync::MutexGuard<'_, StateCache> {
    // The cache holds no invariant a panic could break halfway.
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in a transaction of its own: committed when it returns `Ok`,
/// rolled back otherwise.
pub(crate) fn in_transaction<R>(
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

/// A versioned record's state (`state` made from its stored value,
/// borrowed from the row), version and wake-up.
pub(crate) fn versioned<T>(
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

pub(crate) fn version_of(
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

#[cfg(test)]
mod tests {
    use super::*;
    use storeflow_app::ports::{Commit, Customers, Loaded};
    use storeflow_app::ready;
    use storeflow_core::model::ids::{ProfileId, ShopId};
    use storeflow_core::CustomerState;

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
