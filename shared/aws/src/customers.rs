//! The `Customers` and `Shops` ports on the table (docs/DATA.md, patterns
//! 5–10): one state item per customer and per shop, written on a version
//! condition; identity keys as items of their own.
//!
//! The common commit is a single conditional `PutItem` of the state (with
//! its wake-up as `due_*` attributes). A commit that claims identity keys or
//! absorbs merged profiles is one `TransactWriteItems`, so a lost race
//! writes none of it. Messages are handed to the send queue just before the
//! state is written (`queues::Handoff`): the send function sends one only
//! once the committed state holds its id, so a lost commit sends nothing and
//! no outbox item is written.

use crate::codec::{pack, pack_with, unpack, Dict};
use crate::keys::{self, STATE};
use crate::queues::{Handoff, HANDOFF_GRACE};
use crate::table::{b, corrupt, get_b, get_n, get_s, key, n, s, unavailable, Item, Table};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnConsumedCapacity, TransactWriteItem,
};
use jiff::Timestamp;
use std::collections::HashMap;
use storeflow_app::ports::{Commit, Customers, Loaded, Shops, StoreError};
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::channel::Address;
use storeflow_core::model::event::Identity;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::CustomerState;

/// A DynamoDB transaction holds at most 100 items.
const MAX_TRANSACTION: usize = 100;

impl Table {
    /// A state item: `version`, packed `state`, and the wake-up.
    fn state_item(
        &self,
        pk: String,
        version: u64,
        packed: Vec<u8>,
        now: Option<Timestamp>,
        wake: Option<Timestamp>,
        extra: &[(&str, AttributeValue)],
    ) -> Item {
        let mut item = key(pk, STATE);
        item.insert("version".into(), n(version));
        item.insert("state".into(), b(packed));
        if let Some(now) = now {
            item.insert("updated_at".into(), s(now.to_string()));
        }
        if let Some(t) = wake {
            item.insert("wake_us".into(), n(t.as_microsecond()));
        }
        for (k, v) in extra {
            item.insert(k.to_string(), v.clone());
        }
        item
    }

    /// The version condition of a state write.
    fn version_condition(expected: Option<u64>) -> (String, Option<(String, AttributeValue)>) {
        match expected {
            None => ("attribute_not_exists(pk)".into(), None),
            Some(v) => (
                "version = :expected".into(),
                Some((":expected".into(), n(v))),
            ),
        }
    }

    /// Reads a state item, strongly consistent, with its version.
    async fn read_state(&self, pk: String) -> Result<Option<(Item, u64)>, StoreError> {
        let Some(item) = self.get(key(pk.clone(), STATE), true).await? else {
            return Ok(None);
        };
        let version = get_n(&item, "version").ok_or_else(|| corrupt(&pk, "no version"))?;
        Ok(Some((item, version as u64)))
    }

    /// Writes one state item on its version condition.
    async fn put_state(
        &self,
        item: Item,
        expected: Option<u64>,
        what: &str,
    ) -> Result<(), StoreError> {
        let (cond, value) = Self::version_condition(expected);
        let name = crate::table::call("PutItem", &item);
        let out = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(cond)
            .set_expression_attribute_values(value.map(|(k, v)| HashMap::from([(k, v)])))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(o) => {
                self.meter.write(&name, o.consumed_capacity());
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                // A failed condition still consumes its write units.
                Err(StoreError::Conflict(what.to_string()))
            }
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>, what: &str) -> Result<(), StoreError> {
        if items.len() > MAX_TRANSACTION {
            return Err(StoreError::Unavailable(format!(
                "{what}: {} items exceed DynamoDB's {MAX_TRANSACTION} per transaction",
                items.len()
            )));
        }
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(o) => {
                self.meter
                    .write_all("TransactWriteItems", o.consumed_capacity());
                Ok(())
            }
            Err(SdkError::ServiceError(se)) => match se.into_err() {
                // A failed condition, or another transaction on the same
                // items at the same moment: either way another writer won.
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let reasons: Vec<String> = c
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code().map(str::to_string))
                        .filter(|c| c != "None")
                        .collect();
                    if reasons
                        .iter()
                        .all(|r| r == "ConditionalCheckFailed" || r == "TransactionConflict")
                    {
                        Err(StoreError::Conflict(format!(
                            "{what} ({})",
                            reasons.join(", ")
                        )))
                    } else {
                        Err(StoreError::Unavailable(format!(
                            "DynamoDB TransactWriteItems {what}: {}",
                            reasons.join(", ")
                        )))
                    }
                }
                other => Err(StoreError::Unavailable(format!(
                    "DynamoDB TransactWriteItems {what}: {other}"
                ))),
            },
            Err(e) => Err(unavailable("TransactWriteItems", e)),
        }
    }

    /// A `Put` of a transaction, with its condition.
    fn tx_put(
        &self,
        item: Item,
        cond: Option<(&str, HashMap<String, AttributeValue>)>,
    ) -> TransactWriteItem {
        let mut p = Put::builder().table_name(&self.name).set_item(Some(item));
        if let Some((c, values)) = cond {
            p = p.condition_expression(c);
            if !values.is_empty() {
                p = p.set_expression_attribute_values(Some(values));
            }
        }
        TransactWriteItem::builder()
            .put(p.build().expect("table, item set"))
            .build()
    }

    /// Hands the commit's messages to the send queue, ahead of the state
    /// write (see [`Handoff`]).
    async fn hand_over(&self, c: &Commit<'_>, version: u64) -> Result<(), StoreError> {
        if c.messages.is_empty() {
            return Ok(());
        }
        let Some(sends) = &self.sends else {
            return Err(StoreError::Unavailable(
                "a commit with messages on a table with no send queue".into(),
            ));
        };
        for m in c.messages {
            let h = Handoff {
                shop: c.state.profile.shop.clone(),
                profile: c.state.profile.id.clone(),
                version,
                at: c.now,
                message: m.clone(),
            };
            sends
                .push(&h)
                .await
                .map_err(|e| StoreError::Unavailable(format!("{e:#}")))?;
        }
        Ok(())
    }

    /// A handed-over message's fate, from the customer's committed state
    /// (one strongly consistent read).
    pub async fn handoff_verdict(
        &self,
        h: &Handoff,
        now: Timestamp,
    ) -> Result<Verdict, StoreError> {
        let committed = match self.load(&h.shop, &h.profile).await? {
            Some(l) if l.version >= h.version => Some(l),
            Some(_) => None,
            // Merged into another profile since (which took its ledger), or
            // erased, or not landed yet.
            None => self.survivor(h).await?,
        };
        Ok(match committed {
            Some(l) if l.state.in_ledger(&h.message.id) => Verdict::Send,
            Some(_) => Verdict::Drop("its evaluation lost a race and was done again without it"),
            None if now.duration_since(h.at) < HANDOFF_GRACE => Verdict::NotYet,
            None => Verdict::Drop("its evaluation was never committed"),
        })
    }

    /// The profile the message's address belongs to now, when it is not the
    /// one the message was made for (that one was merged into it).
    async fn survivor(&self, h: &Handoff) -> Result<Option<Loaded>, StoreError> {
        let m = &h.message;
        let who = match m.channel.spec().address {
            Address::Email => Identity {
                email: Some(m.to.clone()),
                ..Default::default()
            },
            Address::Phone => Identity {
                phone: Some(m.to.clone()),
                ..Default::default()
            },
            Address::Url | Address::Merchant => return Ok(None),
        };
        let keys = storeflow_core::customer::identity::keys(&h.shop, &who);
        let Some(Some(now_of)) = self.find(&keys).await?.into_iter().next() else {
            return Ok(None);
        };
        if now_of == h.profile {
            return Ok(None);
        }
        self.load(&h.shop, &now_of).await
    }
}

/// What the send function does with a handed-over message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its commit landed: send it (once, by the send ledger).
    Send,
    /// Its commit has not landed yet: try again later.
    NotYet,
    /// Never to be sent, and why.
    Drop(&'static str),
}

impl Customers for Table {
    async fn find(&self, ids: &[String]) -> Result<Vec<Option<ProfileId>>, StoreError> {
        let mut found: HashMap<String, ProfileId> = HashMap::new();
        let mut wanted: Vec<Item> = Vec::new();
        for k in ids {
            let item = key(keys::identity_pk(k), "profile");
            if !wanted.contains(&item) {
                wanted.push(item);
            }
        }
        // BatchGetItem may leave keys unprocessed under load: ask again.
        while !wanted.is_empty() {
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut wanted)))
                .consistent_read(true)
                .build()
                .expect("keys set");
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.name, ka)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| unavailable("BatchGetItem identities", e))?;
            self.meter
                .read_all("BatchGetItem id", out.consumed_capacity());
            for item in out
                .responses
                .unwrap_or_default()
                .remove(&self.name)
                .unwrap_or_default()
            {
                let (Some(pk), Some(p)) = (get_s(&item, "pk"), get_s(&item, "profile")) else {
                    return Err(corrupt("identity item", "no pk or profile"));
                };
                let id = ProfileId::parse(p).map_err(|e| corrupt(pk, e))?;
                found.insert(pk.to_string(), id);
            }
            if let Some(mut rest) = out.unprocessed_keys {
                if let Some(again) = rest.remove(&self.name) {
                    wanted = again.keys;
                }
            }
        }
        Ok(ids
            .iter()
            .map(|k| found.get(&keys::identity_pk(k)).cloned())
            .collect())
    }

    async fn load(&self, _shop: &ShopId, id: &ProfileId) -> Result<Option<Loaded>, StoreError> {
        let Some((item, version)) = self.read_state(keys::profile_pk(id)).await? else {
            return Ok(None);
        };
        let what = format!("customer {id}");
        let bytes = get_b(&item, "state").ok_or_else(|| corrupt(&what, "no state"))?;
        let state: CustomerState = unpack(bytes).map_err(|e| corrupt(&what, e))?;
        let wake = get_n(&item, "wake_us").and_then(|us| Timestamp::from_microsecond(us).ok());
        Ok(Some(Loaded {
            state,
            version,
            wake,
        }))
    }

    async fn commit(&self, c: Commit<'_>) -> Result<(), StoreError> {
        let id = &c.state.profile.id;
        let pk = keys::profile_pk(id);
        let what = format!("profile {id}");
        let packed = pack_with(Dict::State2, &c.state).map_err(|e| corrupt(&what, e))?;
        let next = c.expected.map_or(1, |v| v + 1);
        let shop = s(c.state.profile.shop.as_str());
        let item = self.state_item(
            pk.clone(),
            next,
            packed,
            Some(c.now),
            c.wake,
            &[("shop", shop)],
        );
        log_decisions(&c);
        self.hand_over(&c, next).await?;
        if c.keys.is_empty() && c.absorbed.is_empty() {
            self.put_state(item, c.expected, &what).await?;
            self.note_facts(&c.state.profile.shop, c.decisions);
            return Ok(());
        }

        let (cond, value) = Self::version_condition(c.expected);
        let mut tx = vec![self.tx_put(item, Some((&cond, value.into_iter().collect())))];
        // A key may be claimed when it is new, already ours, or an absorbed
        // profile's (ports::Commit::keys).
        let mut owners = HashMap::from([(":self".to_string(), s(id.as_str()))]);
        for (i, (a, _)) in c.absorbed.iter().enumerate() {
            owners.insert(format!(":a{i}"), s(a.as_str()));
        }
        let allowed: Vec<&String> = owners.keys().collect();
        let key_cond = format!(
            "attribute_not_exists(pk) OR profile IN ({})",
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for k in c.keys {
            let mut it = key(keys::identity_pk(k), "profile");
            it.insert("profile".into(), s(id.as_str()));
            it.insert("created_at".into(), s(c.now.to_string()));
            tx.push(self.tx_put(it, Some((&key_cond, owners.clone()))));
        }
        for (a, v) in c.absorbed {
            let d = Delete::builder()
                .table_name(&self.name)
                .set_key(Some(key(keys::profile_pk(a), STATE)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v))
                .build()
                .expect("table, key set");
            tx.push(TransactWriteItem::builder().delete(d).build());
        }
        self.transact(tx, &what).await?;
        self.note_facts(&c.state.profile.shop, c.decisions);
        Ok(())
    }
}

/// The decision trace goes to the function's log (docs/DATA.md): what was
/// sent or deferred at info, the rest at debug.
fn log_decisions(c: &Commit<'_>) {
    // Serialized only for the lines the log level keeps: this runs on
    // every event.
    let debug = tracing::enabled!(target: "storeflow::decision", tracing::Level::DEBUG);
    for d in c.decisions {
        let shown = d.message.is_some()
            || matches!(d.kind, storeflow_core::model::decision::Kind::Deferred);
        if shown {
            let json = serde_json::to_string(d).unwrap_or_default();
            tracing::info!(target: "storeflow::decision", "{json}");
        } else if debug {
            let json = serde_json::to_string(d).unwrap_or_default();
            tracing::debug!(target: "storeflow::decision", "{json}");
        }
    }
}

impl Shops for Table {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<(ShopState, u64)>, StoreError> {
        let Some((item, version)) = self.read_state(keys::shop_pk(shop)).await? else {
            return Ok(None);
        };
        let what = format!("shop {shop}");
        let bytes = get_b(&item, "state").ok_or_else(|| corrupt(&what, "no state"))?;
        Ok(Some((
            unpack(bytes).map_err(|e| corrupt(&what, e))?,
            version,
        )))
    }

    async fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let what = format!("shop {shop}");
        let packed = pack(state).map_err(|e| corrupt(&what, e))?;
        let next = expected.map_or(1, |v| v + 1);
        let item = self.state_item(
            keys::shop_pk(shop),
            next,
            packed,
            None,
            wake,
            &[("shop", s(shop.as_str()))],
        );
        self.put_state(item, expected, &what).await
    }
}
