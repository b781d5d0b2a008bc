//! The ports: what the application services need from storage and the
//! outside world. Each is small on purpose, so an adapter is easy to write
//! and one conformance suite can check them all.

use jiff::Timestamp;
use std::future::Future;
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::predict::forecast::{History, StoreModel};
use storeflow_core::{CustomerState, Decision};

/// Why a storage call failed. Callers branch on `Conflict` (retry from a
/// fresh read); anything else is an outage to report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer committed first: the stored version is not the one
    /// this commit was computed from.
    #[error("conflict: {0} changed since it was read")]
    Conflict(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A customer state as read, with the version to commit against.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: CustomerState,
    pub version: u64,
    /// The wake-up the last commit set: a runtime compares it with the one
    /// a timer fired for (a timer for a wake-up that moved does nothing).
    pub wake: Option<Timestamp>,
}

/// Everything one evaluation of one customer changes, written atomically.
#[derive(Debug)]
pub struct Commit<'a> {
    /// When the evaluation ran.
    pub now: Timestamp,
    /// Handed over, not lent: the evaluation is done with it, and an
    /// adapter may keep it (the embedded store keeps recent states in
    /// memory, so the next event of the customer skips parsing it).
    pub state: CustomerState,
    /// The version the state was read at; `None` when it is new (the
    /// commit must fail if the profile exists by then).
    pub expected: Option<u64>,
    /// Identity keys (`shop|email|…`) to point at this profile from now on:
    /// the ones it gained in this evaluation (every key, after a merge).
    /// A key may only be claimed when it is new, already this profile's, or
    /// an absorbed profile's; one owned by another profile is a `Conflict`
    /// (two first events for one email raced, and the other won).
    pub keys: &'a [String],
    /// Profiles merged into this one, at the versions read: removed.
    pub absorbed: &'a [(ProfileId, u64)],
    /// The next instant the engine asks to be called with no new event.
    pub wake: Option<Timestamp>,
    /// Messages to deliver (the outbox), each under its own id.
    pub messages: &'a [Message],
    /// The decision trace of this evaluation.
    pub decisions: &'a [Decision],
}

/// Customer states and the identity index.
pub trait Customers: Send + Sync {
    /// The profile each identity key points at.
    fn find(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<ProfileId>>, StoreError>> + Send;

    fn load(
        &self,
        shop: &ShopId,
        id: &ProfileId,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send;

    /// Writes all of `c` or nothing; `Conflict` when a version moved.
    fn commit(&self, c: Commit<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Hands back a state `load` gave out that no commit follows (the input
    /// changed nothing, or the wake-up it came for had moved). A store that
    /// keeps its own copy has nothing to do; one that lent its only copy
    /// ([`crate::memory::Memory::lending`]) keeps it again.
    fn release(&self, state: CustomerState) -> impl Future<Output = ()> + Send {
        drop(state);
        std::future::ready(())
    }
}

/// Store-level state (back-in-stock waitlists).
pub trait Shops: Send + Sync {
    fn load_shop(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<(ShopState, u64)>, StoreError>> + Send;

    fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Each shop's prediction model (`storeflow_core::predict`), and the
/// order histories a refit reads: the customers' own orders, as the engine
/// reads them (`Profile::order_history`), so the fit and the numbers it
/// gives see the same histories.
pub trait Models: Send + Sync {
    /// Every customer with an order, by shop: their order history.
    fn order_histories(
        &self,
    ) -> impl Future<Output = Result<Vec<(ShopId, ProfileId, History)>, StoreError>> + Send;

    fn load_model(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<StoreModel>, StoreError>> + Send;

    /// Replaces the shop's model (a refit is whole: no versions to check).
    fn save_model(
        &self,
        shop: &ShopId,
        model: &StoreModel,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<T: Models> Models for std::sync::Arc<T> {
    fn order_histories(
        &self,
    ) -> impl Future<Output = Result<Vec<(ShopId, ProfileId, History)>, StoreError>> + Send {
        T::order_histories(self)
    }
    fn load_model(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<StoreModel>, StoreError>> + Send {
        T::load_model(self, shop)
    }
    fn save_model(
        &self,
        shop: &ShopId,
        model: &StoreModel,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::save_model(self, shop, model)
    }
}

/// Why a delivery failed. `Permanent` failures are not retried (a bad
/// address); `Transient` ones are (the provider is down).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
    #[error("transient delivery failure: {0}")]
    Transient(String),
}

/// What a channel did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Handed over; the provider's id or the file written.
    Sent(String),
    /// It had been delivered before (a redelivery): nothing was sent.
    Already(String),
}

/// A channel adapter: email, SMS, WhatsApp, webhook.
pub trait Deliver: Send + Sync {
    fn deliver(&self, m: &Message) -> impl Future<Output = Result<Delivered, DeliverError>> + Send;
}

// Shared adapters: a runtime hands one store to many tasks.
impl<T: Customers> Customers for std::sync::Arc<T> {
    fn find(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<ProfileId>>, StoreError>> + Send {
        T::find(self, keys)
    }
    fn load(
        &self,
        shop: &ShopId,
        id: &ProfileId,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send {
        T::load(self, shop, id)
    }
    fn commit(&self, c: Commit<'_>) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::commit(self, c)
    }
    fn release(&self, state: CustomerState) -> impl Future<Output = ()> + Send {
        T::release(self, state)
    }
}

impl<T: Shops> Shops for std::sync::Arc<T> {
    fn load_shop(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<(ShopState, u64)>, StoreError>> + Send {
        T::load_shop(self, shop)
    }
    fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::commit_shop(self, shop, state, expected, wake)
    }
}

// Borrowed adapters: a store scoped to one transaction lends itself to
// the services for that transaction only.
impl<T: Customers> Customers for &T {
    fn find(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<ProfileId>>, StoreError>> + Send {
        T::find(self, keys)
    }
    fn load(
        &self,
        shop: &ShopId,
        id: &ProfileId,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send {
        T::load(self, shop, id)
    }
    fn commit(&self, c: Commit<'_>) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::commit(self, c)
    }
    fn release(&self, state: CustomerState) -> impl Future<Output = ()> + Send {
        T::release(self, state)
    }
}

impl<T: Shops> Shops for &T {
    fn load_shop(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<(ShopState, u64)>, StoreError>> + Send {
        T::load_shop(self, shop)
    }
    fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::commit_shop(self, shop, state, expected, wake)
    }
}
