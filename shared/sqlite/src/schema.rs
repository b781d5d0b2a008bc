//! The tables. Instants are stored as UTC microseconds since the epoch,
//! so the due-timer query is an index range scan.

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

CREATE TABLE IF NOT EXISTS identity_keys (
    key      TEXT PRIMARY KEY,
    profile  TEXT NOT NULL
);

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

-- Every decision with its reason, for `storeflow trace` and the profile view.
CREATE TABLE IF NOT EXISTS decisions (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    profile   TEXT NOT NULL,
    at_us     INTEGER NOT NULL,
    decision  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_profile ON decisions (profile, seq);
"#;
