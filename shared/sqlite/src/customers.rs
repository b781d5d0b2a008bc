//! Customers on SQLite: the `Customers` port (states committed on their
//! version, identity keys, merges), and the reads beside it (a profile by
//! key, a shop's profiles, a segment's members, erasure).

use crate::state_cache::StateCache;
use crate::store::*;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::Mutex;
use storeflow_app::ports::{Commit, Customers, Loaded, StoreError};
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::CustomerState;

/// What one customer commit writes, serialized before any lock is taken:
/// the lock is held only for the writes.
pub(crate) struct Serialized<'a> {
    /// The state as stored (`state_codec`).
    pub(crate) state: Vec<u8>,
    pub(crate) messages: Vec<(&'a str, String)>,
    /// The evaluation's decisions, as one row (stored like a state,
    /// `state_codec`).
    pub(crate) decisions: Option<(i64, Vec<u8>)>,
    /// The facts among the decisions, and as stored.
    pub(crate) facts: Vec<storeflow_core::results::facts::Fact>,
    pub(crate) facts_stored: crate::results::Prepared,
}

pub(crate) fn serialize<'a>(cm: &Commit<'a>) -> Result<Serialized<'a>, StoreError> {
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
    let mut facts = Vec::new();
    storeflow_core::results::facts::facts_of(cm.decisions, &mut facts);
    let facts_stored = crate::results::prepare(&facts)?;
    Ok(Serialized {
        state,
        messages,
        decisions,
        facts,
        facts_stored,
    })
}

pub(crate) fn find_keys(
    c: &Connection,
    keys: &[String],
) -> Result<Vec<Option<ProfileId>>, StoreError> {
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
pub(crate) fn load_customer(
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

/// The writes of one customer commit, inside a transaction the caller
/// opened and closes.
pub(crate) fn write_customer(
    c: &Connection,
    cm: &Commit<'_>,
    w: &Serialized<'_>,
) -> Result<(), StoreError> {
    check_customer(c, cm)?;
    write_customer_rows(c, cm, w)
}

/// Every condition of a customer commit, before anything is written: a
/// conflict leaves nothing behind, without a savepoint to roll back.
pub(crate) fn check_customer(c: &Connection, cm: &Commit<'_>) -> Result<(), StoreError> {
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
pub(crate) fn write_customer_rows(
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
    crate::results::write(c, &w.facts_stored, &w.facts)?;
    Ok(())
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

impl Sqlite {
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
            // The customer's result facts go too (the daily counters, which
            // name nobody, stay). Rare: a scan of the facts is fine.
            let pattern = format!(
                "%\"profile\":\"{}\"%",
                p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
            );
            crate::exec(
                &tx,
                "DELETE FROM results WHERE fact LIKE ?1 ESCAPE '\\'",
                params![pattern],
            )
            .map_err(unavailable)?;
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
}
