//! # storeflow-sqlite
//!
//! The application ports ([`storeflow_app::ports`]) on one SQLite file, for
//! `storeflow serve` on a laptop or a small store's one box. SQLite is
//! bundled (no system library needed) and runs in WAL mode, so readers
//! (the profile view, `storeflow trace`) never block the writer.
//!
//! - [`schema`] — the tables, mirroring the DynamoDB design's entities.
//! - [`store`] — `Sqlite`: every commit is one transaction, with the same
//!   version conditions as the DynamoDB adapter, so the same conflicts are
//!   detected.

pub mod schema;
pub mod store;

pub use store::Sqlite;
