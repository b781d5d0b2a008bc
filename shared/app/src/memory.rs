//! An in-memory adapter of every port: the reference the SQLite and
//! DynamoDB adapters are checked against, and the store of tests.

use crate::ports::{Commit, Customers, Loaded, Models, Shops, StoreError};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::predict::forecast::{History, StoreModel};
use storeflow_core::{CustomerState, Decision};

#[derive(Debug, Default)]
pub struct Memory {
    inner: Mutex<Inner>,
    /// See [`Memory::lending`].
    lending: bool,
    /// See [`Memory::without_trace`].
    traceless: bool,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub customers: HashMap<ProfileId, (CustomerState, u64)>,
    pub keys: HashMap<String, ProfileId>,
    pub shops: HashMap<ShopId, (ShopState, u64)>,
    /// Each shop's prediction model.
    pub models: HashMap<ShopId, StoreModel>,
    /// Wake-ups by profile (the embedded runtime's timer wheel reads these).
    pub wakes: BTreeMap<ProfileId, Timestamp>,
    pub shop_wakes: BTreeMap<ShopId, Timestamp>,
    /// Messages by id: a message committed twice is one message.
    pub outbox: BTreeMap<String, Message>,
    pub trace: Vec<Decision>,
    /// A lending store's states out on loan: the version each was loaded at
    /// (the state itself is the borrower's until committed or released).
    pub lent: HashMap<ProfileId, u64>,
}

impl Inner {
    /// The stored version of a profile, lent or not.
    fn version(&self, id: &ProfileId) -> Option<u64> {
        self.customers
            .get(id)
            .map(|(_, v)| *v)
            .or_else(|| self.lent.get(id).copied())
    }
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that lends each state it loads instead of handing out a
    /// copy: the caller gets the only one, and gives it back by committing
    /// it or by [`Customers::release`]. Copying a customer's whole state on
    /// every load was the simulator's largest single cost. For one caller
    /// at a time (the simulator): a second load of a profile on loan is an
    /// error, and so is a commit that fails (the state it was computed from
    /// is gone; with one writer it can only be a bug, not a race to retry).
    pub fn lending() -> Self {
        Memory {
            lending: true,
            ..Self::default()
        }
    }

    /// The same store keeping neither the decision trace nor the outbox,
    /// for a caller that hands each commit's decisions and messages out
    /// itself (the simulator): copying them in only to clear them cost a
    /// copy of every decision.
    pub fn without_trace(self) -> Self {
        Memory {
            traceless: true,
            ..self
        }
    }

    /// A look inside, for tests.
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().expect("not poisoned"))
    }
}

impl Customers for Memory {
    async fn find(&self, keys: &[String]) -> Result<Vec<Option<ProfileId>>, StoreError> {
        Ok(self.with(|i| keys.iter().map(|k| i.keys.get(k).cloned()).collect()))
    }

    async fn load(&self, _shop: &ShopId, id: &ProfileId) -> Result<Option<Loaded>, StoreError> {
        self.with(|i| {
            let wake = i.wakes.get(id).copied();
            if !self.lending {
                return Ok(i.customers.get(id).map(|(s, v)| Loaded {
                    state: s.clone(),
                    version: *v,
                    wake,
                }));
            }
            if i.lent.contains_key(id) {
                return Err(StoreError::Unavailable(format!(
                    "profile {id} is on loan (loaded, neither committed nor released)"
                )));
            }
            Ok(i.customers.remove(id).map(|(state, version)| {
                i.lent.insert(id.clone(), version);
                Loaded {
                    state,
                    version,
                    wake,
                }
            }))
        })
    }

    async fn commit(&self, c: Commit<'_>) -> Result<(), StoreError> {
        let lost = |e: StoreError| match e {
            StoreError::Conflict(what) if self.lending => {
                StoreError::Corrupt(format!("conflict on a lending store (one writer): {what}"))
            }
            e => e,
        };
        self.with(|i| {
            // Owned: the state itself moves into the map below.
            let id = &c.state.profile.id.clone();
            // Check every condition before writing anything: all or nothing.
            if i.version(id) != c.expected {
                return Err(StoreError::Conflict(format!("profile {id}")));
            }
            for (a, v) in c.absorbed {
                if i.version(a) != Some(*v) {
                    return Err(StoreError::Conflict(format!("merged profile {a}")));
                }
            }
            for k in c.keys {
                match i.keys.get(k) {
                    Some(owner) if owner != id && !c.absorbed.iter().any(|(a, _)| a == owner) => {
                        return Err(StoreError::Conflict(format!(
                            "identity key {k} is {owner}'s"
                        )));
                    }
                    _ => {}
                }
            }
            for (a, _) in c.absorbed {
                i.customers.remove(a);
                i.lent.remove(a);
                i.wakes.remove(a);
            }
            i.lent.remove(id);
            let next = c.expected.map_or(1, |v| v + 1);
            i.customers.insert(id.clone(), (c.state, next));
            for k in c.keys {
                i.keys.insert(k.clone(), id.clone());
            }
            match c.wake {
                Some(t) => i.wakes.insert(id.clone(), t),
                None => i.wakes.remove(id),
            };
            if !self.traceless {
                for m in c.messages {
                    i.outbox.entry(m.id.clone()).or_insert_with(|| m.clone());
                }
                i.trace.extend(c.decisions.iter().cloned());
            }
            Ok(())
        })
        .map_err(lost)
    }

    async fn release(&self, state: CustomerState) {
        if !self.lending {
            return;
        }
        self.with(|i| {
            let id = &state.profile.id;
            if let Some(v) = i.lent.remove(id) {
                i.customers.insert(id.clone(), (state, v));
            }
        })
    }
}

impl Models for Memory {
    async fn order_histories(&self) -> Result<Vec<(ShopId, ProfileId, History)>, StoreError> {
        let mut out: Vec<_> = self.with(|i| {
            i.customers
                .values()
                .map(|(c, _)| {
                    (
                        c.profile.shop.clone(),
                        c.profile.id.clone(),
                        c.profile.order_history(),
                    )
                })
                .filter(|(_, _, h)| !h.days.is_empty())
                .collect()
        });
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(out)
    }

    async fn load_model(&self, shop: &ShopId) -> Result<Option<StoreModel>, StoreError> {
        Ok(self.with(|i| i.models.get(shop).cloned()))
    }

    async fn save_model(&self, shop: &ShopId, model: &StoreModel) -> Result<(), StoreError> {
        self.with(|i| i.models.insert(shop.clone(), model.clone()));
        Ok(())
    }
}

impl Shops for Memory {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<(ShopState, u64)>, StoreError> {
        Ok(self.with(|i| i.shops.get(shop).cloned()))
    }

    async fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.with(|i| {
            if i.shops.get(shop).map(|(_, v)| *v) != expected {
                return Err(StoreError::Conflict(format!("shop {shop}")));
            }
            i.shops
                .insert(shop.clone(), (state.clone(), expected.map_or(1, |v| v + 1)));
            match wake {
                Some(t) => i.shop_wakes.insert(shop.clone(), t),
                None => i.shop_wakes.remove(shop),
            };
            Ok(())
        })
    }
}
