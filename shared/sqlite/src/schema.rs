//! The tables. Instants are stored as UTC microseconds since the epoch,
//! so the due-timer query is an index range scan.
//!
//! Small rows looked up by their key are `WITHOUT ROWID` tables: the row
//! lives in its key's b-tree, so an insert writes one page, not a table
//! page and an index page (fewer pages in every commit's WAL frames). A
//! database created before keeps its rowid tables; the statements are the
//! same for both.

/// The main file: customers, identities, shops, the outbox, the trace, and
/// how far the engine has applied the inbox.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS customers (
    profile  TEXT PRIMARY KEY,
    shop     TEXT NOT NULL,
    version  INTEGER NOT NULL,
    state    TEXT NOT NULL,
    -- the engine's next wake-up for this customer: the timer wheel
    wake_us  INTEGER
);
CREATE INDEX IF NOT EXISTS customers_wake ON customers (wake_us) WHERE wake_us IS NOT NULL;
-- shop/redact and the list of shops, without a scan of every state
CREATE INDEX IF NOT EXISTS customers_shop ON customers (shop);

CREATE TABLE IF NOT EXISTS identity_keys (
    key      TEXT PRIMARY KEY,
    profile  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS shops (
    shop     TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    state    TEXT NOT NULL,
    wake_us  INTEGER
);

-- Messages to deliver, by message id: committed with the state that
-- decided them, so a crash between the two cannot lose or repeat one.
CREATE TABLE IF NOT EXISTS outbox (
    id         TEXT PRIMARY KEY,
    profile    TEXT NOT NULL,
    message    TEXT NOT NULL,
    queued_us  INTEGER NOT NULL,
    sent_us    INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (queued_us) WHERE sent_us IS NULL;

-- Every decision with its reason, for `storeflow trace` and the profile view:
-- one row per evaluation, `decision` a JSON array of its decisions in order
-- and `at_us` the first one's instant (a database written before holds one
-- decision, a JSON object, per row; both are read).
CREATE TABLE IF NOT EXISTS decisions (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    profile   TEXT NOT NULL,
    at_us     INTEGER NOT NULL,
    decision  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_profile ON decisions (profile, seq);

-- The inbox (in the ingest file) is applied up to this seq: written in the
-- transaction of what applying it wrote, so an item is applied exactly once.
CREATE TABLE IF NOT EXISTS applied (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL
);

-- Inputs whose application failed (a bug, not an outage): set aside with
-- their error so everything else goes on. `kind` is `event` or `privacy`
-- (an inbox item's text) or `wake` (a customer's or shop's wake-up, as
-- JSON). A replay puts the item back in the inbox (or the wake-up back on
-- the wheel) and stamps `replayed_us`, so it is replayed once.
CREATE TABLE IF NOT EXISTS dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    delivery     TEXT NOT NULL,
    item         TEXT NOT NULL,
    error        TEXT NOT NULL,
    at_us        INTEGER NOT NULL,
    replayed_us  INTEGER
);

-- What reports count (storeflow_core::results::facts): one row per fact,
-- from the commit that decided it or the delivery that settled a message.
-- `key` keeps one of a fact seen twice (a redelivered order, say); `kind`
-- lets cohorts and predictions read the orders alone.
CREATE TABLE IF NOT EXISTS results (
    seq    INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE,
    at_us  INTEGER NOT NULL,
    kind   TEXT NOT NULL DEFAULT '',
    fact   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_at ON results (at_us);

-- The facts summed per UTC day, scope and counter
-- (storeflow_core::results::rollup), added to in the same transaction:
-- the reports of flows, messages, holdouts and segments read these.
CREATE TABLE IF NOT EXISTS rollups (
    day    TEXT NOT NULL,
    scope  TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (day, scope, name)
) WITHOUT ROWID;

-- Each shop's prediction model (storeflow_core::predict), as last refitted.
CREATE TABLE IF NOT EXISTS models (
    shop       TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    fitted_us  INTEGER NOT NULL
);

-- Campaign starts already enrolled (each fires once).
CREATE TABLE IF NOT EXISTS campaigns_done (
    flow     TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    done_us  INTEGER NOT NULL,
    PRIMARY KEY (flow, start_us)
);
"#;

/// The ingest file: what accepting a delivery writes (raw deliveries, what
/// they teach, the inbox). A file of its own, so that accepting and
/// applying are two SQLite writers that do not wait for each other.
pub const INGEST_SCHEMA: &str = r#"
-- Every accepted webhook / tracking call, raw, for replay; the key is its
-- idempotency key (a redelivery finds it and changes nothing).
CREATE TABLE IF NOT EXISTS deliveries (
    key          TEXT PRIMARY KEY,
    shop         TEXT NOT NULL,
    delivery     TEXT NOT NULL,
    received_us  INTEGER NOT NULL,
    erased_us    INTEGER
);
CREATE TABLE IF NOT EXISTS delivery_subjects (
    subject  TEXT NOT NULL,
    key      TEXT NOT NULL,
    PRIMARY KEY (subject, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS facts (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;

-- What ingestion accepted and the engine has not applied yet: written in
-- the same transaction as the raw delivery, before the 200 goes out.
CREATE TABLE IF NOT EXISTS inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    item         TEXT NOT NULL,
    received_us  INTEGER NOT NULL
);
"#;

/// The ingest tables, as a database written before the split holds them in
/// its main file (moved to the ingest file on open; `inbox` last).
pub const INGEST_TABLES: [&str; 4] = ["deliveries", "delivery_subjects", "facts", "inbox"];

/// Brings a `results` table made before facts had a `kind` up to date,
/// and indexes the kind.
pub(crate) fn migrate(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has_kind = c
        .prepare("SELECT 1 FROM pragma_table_info('results') WHERE name = 'kind'")?
        .exists([])?;
    if !has_kind {
        c.execute_batch("ALTER TABLE results ADD COLUMN kind TEXT NOT NULL DEFAULT ''")?;
    }
    c.execute_batch("CREATE INDEX IF NOT EXISTS results_kind ON results (kind, at_us)")
}
