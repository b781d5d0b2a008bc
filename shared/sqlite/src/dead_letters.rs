//! Dead letters: inputs whose application failed for a reason that trying
//! again will not fix (a panic, a stored item that no longer parses), set
//! aside with their error so that one bad input stops only itself.
//! `storeflow deadletters list` reads them; `replay` hands one back to the
//! engine after a fix, once.

use crate::batch::Batch;
use crate::store::{ts, unavailable, us, Sqlite};
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use storeflow_app::ports::StoreError;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// What was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    /// An inbox item: a normalized event, as JSON.
    Event,
    /// An inbox item: a data request or erasure, as JSON.
    Privacy,
    /// A wake-up: `{"shop", "profile"}` (no profile: the shop's own).
    Wake,
}

impl LetterKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LetterKind::Event => "event",
            LetterKind::Privacy => "privacy",
            LetterKind::Wake => "wake",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "event" => Ok(LetterKind::Event),
            "privacy" => Ok(LetterKind::Privacy),
            "wake" => Ok(LetterKind::Wake),
            other => Err(StoreError::Corrupt(format!(
                "dead letter of unknown kind {other:?}"
            ))),
        }
    }
}

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: LetterKind,
    /// The raw delivery it came from (empty for a wake-up).
    pub delivery: String,
    /// The item as the engine was to apply it.
    pub item: String,
    pub error: String,
    pub at: Timestamp,
    pub replayed: Option<Timestamp>,
}

/// Whose wake-up a `wake` dead letter holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WakeOf {
    pub shop: ShopId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileId>,
}

/// Why a replay was not done.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no dead letter {0}")]
    NotFound(i64),
    #[error("dead letter {0} was replayed at {1}")]
    AlreadyReplayed(i64, Timestamp),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn insert(
    c: &Connection,
    kind: LetterKind,
    delivery: &str,
    item: &str,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    crate::exec(
        c,
        "INSERT INTO dead_letters (kind, delivery, item, error, at_us) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind.as_str(), delivery, item, error, us(now)],
    )
    .map(|_| ())
    .map_err(unavailable)
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

type Row = (i64, String, String, String, String, i64, Option<i64>);

fn letter(row: Row) -> Result<DeadLetter, StoreError> {
    let (id, kind, delivery, item, error, at, replayed) = row;
    Ok(DeadLetter {
        id,
        kind: LetterKind::parse(&kind)?,
        delivery,
        item,
        error,
        at: ts(at)?,
        replayed: replayed.map(ts).transpose()?,
    })
}

const COLUMNS: &str = "id, kind, delivery, item, error, at_us, replayed_us";

impl Batch<'_> {
    /// Sets an inbox item aside inside the engine's batch, committed with
    /// the mark that it was dealt with.
    pub fn dead_letter(
        &self,
        kind: LetterKind,
        delivery: &str,
        item: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(|c| insert(c, kind, delivery, item, error, now))
    }

    /// Rolls the whole batch back when it ends (an item panicked, maybe
    /// halfway through its writes): nothing of it is kept.
    pub fn abort(&self) {
        self.failed.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Sqlite {
    /// Sets an input aside outside a batch (a wake-up, a privacy request).
    pub fn dead_letter(
        &self,
        kind: LetterKind,
        delivery: &str,
        item: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.with(|c| insert(c, kind, delivery, item, error, now))
    }

    /// A wake-up that failed: set aside, and taken off the wheel (it would
    /// fail again at every tick and hold up the ones behind it).
    pub fn dead_wake(&self, of: &WakeOf, error: &str, now: Timestamp) -> Result<(), StoreError> {
        let item = serde_json::to_string(of).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.with(|c| {
            let tx = c.transaction().map_err(unavailable)?;
            set_wake(&tx, of, None)?;
            insert(&tx, LetterKind::Wake, "", &item, error, now)?;
            tx.commit().map_err(unavailable)
        })
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.with(|c| {
            let mut q = c
                .prepare(&format!("SELECT {COLUMNS} FROM dead_letters ORDER BY id"))
                .map_err(unavailable)?;
            let rows = q.query_map([], read).map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(letter))
                .collect()
        })
    }

    /// Hands a dead letter back to the engine: an inbox item goes back in
    /// the inbox (the engine applies it once, as any accepted item, and an
    /// event it had applied after all is recognised by its id); a wake-up
    /// goes back on the wheel, due now. Stamped, so it is replayed once.
    pub fn replay_dead_letter(&self, id: i64, now: Timestamp) -> Result<DeadLetter, ReplayError> {
        let found = self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM dead_letters WHERE id = ?1"),
                params![id],
                read,
            )
            .optional()
            .map_err(unavailable)
        })?;
        let d = letter(found.ok_or(ReplayError::NotFound(id))?)?;
        if let Some(at) = d.replayed {
            return Err(ReplayError::AlreadyReplayed(id, at));
        }
        match d.kind {
            LetterKind::Event | LetterKind::Privacy => {
                // Into the inbox first, then stamped: a crash in between
                // leaves it to replay again, and the engine's id check keeps
                // a second copy of an event from doing anything.
                self.with_ingest(|c| {
                    crate::exec(
                        c,
                        "INSERT INTO inbox (delivery, kind, item, received_us) VALUES (?1, ?2, ?3, ?4)",
                        params![d.delivery, d.kind.as_str(), d.item, us(now)],
                    )
                    .map(|_| ())
                    .map_err(unavailable)
                })?;
                self.with(|c| stamp(c, id, now))?;
            }
            LetterKind::Wake => {
                let of: WakeOf = serde_json::from_str(&d.item)
                    .map_err(|e| StoreError::Corrupt(format!("dead letter {id}: {e}")))?;
                self.with(|c| {
                    let tx = c.transaction().map_err(unavailable)?;
                    set_wake(&tx, &of, Some(now))?;
                    stamp(&tx, id, now)?;
                    tx.commit().map_err(unavailable)
                })?;
            }
        }
        Ok(DeadLetter {
            replayed: Some(now),
            ..d
        })
    }
}

fn stamp(c: &Connection, id: i64, now: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE dead_letters SET replayed_us = ?2 WHERE id = ?1",
        params![id, us(now)],
    )
    .map(|_| ())
    .map_err(unavailable)
}

fn set_wake(c: &Connection, of: &WakeOf, at: Option<Timestamp>) -> Result<(), StoreError> {
    let at = at.map(us);
    match &of.profile {
        Some(p) => c.execute(
            "UPDATE customers SET wake_us = ?2 WHERE profile = ?1",
            params![p.as_str(), at],
        ),
        None => c.execute(
            "UPDATE shops SET wake_us = ?2 WHERE shop = ?1",
            params![of.shop.as_str(), at],
        ),
    }
    .map(|_| ())
    .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_event_is_listed_and_replayed_into_the_inbox_once() {
        let db = Sqlite::in_memory().unwrap();
        let t: Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
        db.dead_letter(
            LetterKind::Event,
            "d1",
            r#"{"id":"e1"}"#,
            "panicked: boom",
            t,
        )
        .unwrap();
        let all = db.dead_letters().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].kind, all[0].error.as_str()),
            (LetterKind::Event, "panicked: boom")
        );
        let before = db.inbox(10).unwrap().len();
        let later = t + jiff::SignedDuration::from_hours(1);
        let r = db.replay_dead_letter(all[0].id, later).unwrap();
        assert_eq!(r.replayed, Some(later));
        let items = db.inbox(10).unwrap();
        assert_eq!(items.len(), before + 1);
        assert!(matches!(
            db.replay_dead_letter(all[0].id, later),
            Err(ReplayError::AlreadyReplayed(_, _))
        ));
        assert_eq!(db.inbox(10).unwrap().len(), before + 1, "replayed twice");
        assert!(matches!(
            db.replay_dead_letter(99, later),
            Err(ReplayError::NotFound(99))
        ));
    }
}
