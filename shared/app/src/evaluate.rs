//! `App`: one input for one customer, from lookup to commit.
//!
//! Per input: find the profile by the event's identity keys (creating it,
//! or merging profiles that turn out to be one person), run the engine,
//! and commit state, keys, wake-up, outbox and trace in one conditional
//! write. When another writer got there first the whole evaluation is done
//! again from a fresh read: the engine is deterministic and de-duplicates
//! by event id, so a retry decides exactly what the winner left to decide.

use crate::ports::{Commit, Customers, Loaded, Shops, StoreError};
use jiff::Timestamp;
use std::collections::BTreeSet;
use storeflow_core::customer::identity::{self, Resolution};
use storeflow_core::customer::profile::Profile;
use storeflow_core::engine::shop::ShopInput;
use storeflow_core::model::decision::{Kind, Message};
use storeflow_core::model::event::{Event, EventKind, Identity};
use storeflow_core::model::ids::{Email, Phone, ProfileId, ShopId};
use storeflow_core::{CustomerState, Decision, Engine, Input};

/// How many times a lost race is retried before giving up (the caller's
/// queue redelivers the input later). Every lost race means another
/// writer committed, so with k writers at once a writer waits at most
/// about k rounds; this bound is far above what one customer produces.
const ATTEMPTS: usize = 100;

/// What one input decided, once committed.
#[derive(Debug, Default)]
pub struct Applied {
    pub decisions: Vec<Decision>,
    /// Messages committed to the outbox, to deliver.
    pub messages: Vec<Message>,
    /// The customer it was applied to (none for store-level events and
    /// events that name nobody).
    pub profile: Option<ProfileId>,
    /// The customer's next wake-up.
    pub wake: Option<Timestamp>,
    /// Lost races before this result was committed.
    pub retries: usize,
    /// Every wake-up committed by this input (the customer's, the shop's,
    /// and those of customers a store-level event notified), for runtimes
    /// that arm a timer per wake-up.
    pub timers: Vec<Timer>,
}

/// A wake-up one commit stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub shop: ShopId,
    /// `None` for the shop's own wake-up.
    pub profile: Option<ProfileId>,
    pub at: Timestamp,
    /// The wake-up stored before (unknown for shops): when it equals `at`,
    /// the timer armed for it is still good.
    pub previous: Option<Timestamp>,
}

impl Timer {
    /// Whether the wake-up moved since the last commit (a new timer is due).
    pub fn moved(&self) -> bool {
        self.previous != Some(self.at)
    }
}

impl Applied {
    fn absorb(&mut self, other: Applied) {
        self.decisions.extend(other.decisions);
        self.messages.extend(other.messages);
        self.retries += other.retries;
        self.timers.extend(other.timers);
    }
}

pub struct App<B> {
    pub engine: Engine,
    pub store: B,
}

impl<B: Customers + Shops> App<B> {
    pub fn new(engine: Engine, store: B) -> Self {
        App { engine, store }
    }

    /// Applies one normalized event at `now` (when it reached storeflow).
    pub async fn event(&self, event: Event, now: Timestamp) -> Result<Applied, StoreError> {
        if matches!(
            event.kind,
            EventKind::InventoryChanged(_) | EventKind::PriceChanged(_)
        ) {
            // Store-level facts have no customer's trace to note the change
            // in; a customer's event is brought within limits by the engine.
            let mut event = event;
            storeflow_core::model::limits::bring_within(&mut event, now);
            let shop = event.shop.clone();
            return self.shop(&shop, Some((&event, None)), now).await;
        }
        let keys = identity::keys(&event.shop, &event.customer);
        if keys.is_empty() {
            let mut d = Decision::new(
                now,
                Kind::Skipped,
                "-".into(),
                ProfileId::parse("-").expect("non-empty"),
            );
            d.reason =
                Some(format!("event {} ({}) names no customer", event.id, event.name()).into());
            return Ok(Applied {
                decisions: vec![d],
                ..Default::default()
            });
        }
        let request = matches!(event.kind, EventKind::BackInStockRequested(_));
        let ev = request.then(|| event.clone());
        let mut applied = self.customer(&keys, Input::Event(event), now).await?;
        if let (Some(ev), Some(p)) = (ev, applied.profile.clone()) {
            let more = self.shop(&ev.shop, Some((&ev, Some(&p))), now).await?;
            applied.absorb(more);
        }
        Ok(applied)
    }

    /// The customer's wake-up came (from the timer the last commit set).
    pub async fn wake(
        &self,
        shop: &ShopId,
        profile: &ProfileId,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let applied = self.existing(shop, profile, Input::Wake, None, now).await?;
        Ok(applied.unwrap_or_default())
    }

    /// A timer armed for the wake-up `due` fired. The stored wake-up is the
    /// truth: when it is no longer `due` (an event moved it since, or a
    /// duplicate timer already ran it) nothing happens and `None` says so.
    pub async fn wake_due(
        &self,
        shop: &ShopId,
        profile: &ProfileId,
        due: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Applied>, StoreError> {
        self.existing(shop, profile, Input::Wake, Some(due), now)
            .await
    }

    /// Enrols a customer in a campaign flow.
    pub async fn campaign(
        &self,
        shop: &ShopId,
        profile: &ProfileId,
        flow: &str,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let input = Input::Campaign {
            flow: flow.to_string(),
        };
        let applied = self.existing(shop, profile, input, None, now).await?;
        Ok(applied.unwrap_or_default())
    }

    /// The store's own wake-up (back-in-stock batches).
    pub async fn shop_wake(&self, shop: &ShopId, now: Timestamp) -> Result<Applied, StoreError> {
        self.shop(shop, None, now).await
    }

    /// An input for a known profile; a profile that is gone (merged into
    /// another meanwhile) has nothing left to do. With `due`, only when the
    /// stored wake-up is still that instant (`None` when it is not).
    async fn existing(
        &self,
        shop: &ShopId,
        profile: &ProfileId,
        input: Input,
        due: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Applied>, StoreError> {
        for retries in 0..ATTEMPTS {
            let Some(Loaded {
                mut state,
                version,
                wake,
            }) = self.store.load(shop, profile).await?
            else {
                return Ok(Some(Applied::default()));
            };
            if due.is_some() && wake != due {
                self.store.release(state).await;
                return Ok(None);
            }
            let before = Parts::of(&state.profile);
            let original = as_loaded(&state, &input);
            let out = self.engine.handle(&mut state, input.clone(), now);
            // Keys only a changed identity can claim.
            let claim = if before.same(&state.profile) {
                Vec::new()
            } else {
                to_claim(profile, &[], &[], &before.keys(), profile_keys(&state))
            };
            let state = (state, original);
            match self
                .commit(state, Some(version), wake, &claim, &[], out, retries, now)
                .await
            {
                Err(StoreError::Conflict(_)) => continue,
                other => return other.map(Some),
            }
        }
        Err(StoreError::Conflict(format!(
            "profile {profile}: {ATTEMPTS} attempts"
        )))
    }

    /// Resolves the keys to one profile (new, existing or merged), applies
    /// the input and commits.
    async fn customer(
        &self,
        keys: &[String],
        input: Input,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let Input::Event(event) = &input else {
            unreachable!("only events resolve identities");
        };
        let shop = event.shop.clone();
        for retries in 0..ATTEMPTS {
            let found = self.store.find(keys).await?;
            let (into, from) = match identity::resolve(keys, &found) {
                Resolution::Unattributed => unreachable!("keys are not empty"),
                Resolution::New(id) | Resolution::Existing(id) => (id, vec![]),
                Resolution::Merge { into, from } => (into, from),
            };
            let (mut state, expected, previous_wake) = match self.store.load(&shop, &into).await? {
                Some(l) => (l.state, Some(l.version), l.wake),
                None => (
                    self.engine
                        .new_state(into.clone(), shop.clone(), event.occurred_at.min(now)),
                    None,
                    None,
                ),
            };
            let before = expected.is_some().then(|| Parts::of(&state.profile));
            let mut absorbed = Vec::new();
            // Every key that led to an absorbed profile leads to the
            // survivor from now on, including those the merged profile no
            // longer shows (a second email): a key left pointing at the
            // deleted profile would make every later event naming it with
            // another key a merge that can never commit.
            let mut absorbed_keys: Vec<String> = Vec::new();
            for f in from {
                if let Some(other) = self.store.load(&shop, &f).await? {
                    absorbed_keys.extend(profile_keys(&other.state));
                    state.absorb(other.state, &self.engine.config.settings);
                    absorbed.push((f, other.version));
                }
            }
            let original = as_loaded(&state, &input);
            let out = self.engine.handle(&mut state, input.clone(), now);
            let claim = match &before {
                // The profile's keys are as they were: only the event's
                // keys can need claiming.
                Some(b) if b.same(&state.profile) => to_claim(&into, keys, &found, &[], Vec::new()),
                Some(b) => to_claim(&into, keys, &found, &b.keys(), profile_keys(&state)),
                None => to_claim(&into, keys, &found, &[], profile_keys(&state)),
            };
            let mut claim = claim;
            if !absorbed_keys.is_empty() {
                // Only those that lead to an absorbed profile: a key that
                // leads elsewhere is that profile's.
                let owners = self.store.find(&absorbed_keys).await?;
                for (k, owner) in absorbed_keys.into_iter().zip(owners) {
                    let theirs = owner.is_some_and(|o| absorbed.iter().any(|(a, _)| *a == o));
                    if theirs && !claim.contains(&k) {
                        claim.push(k);
                    }
                }
            }
            match self
                .commit(
                    (state, original),
                    expected,
                    previous_wake,
                    &claim,
                    &absorbed,
                    out,
                    retries,
                    now,
                )
                .await
            {
                Err(StoreError::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!(
            "identity {keys:?}: {ATTEMPTS} attempts"
        )))
    }

    /// Commits `state` (the evaluated state, and the state as loaded when
    /// [`as_loaded`] kept it).
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        (state, original): (CustomerState, Option<CustomerState>),
        expected: Option<u64>,
        previous_wake: Option<Timestamp>,
        keys: &[String],
        absorbed: &[(ProfileId, u64)],
        out: storeflow_core::Outcome,
        retries: usize,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let messages: Vec<Message> = out
            .decisions
            .iter()
            .filter_map(|d| d.message.as_deref().cloned())
            .collect();
        // A duplicate event (a platform's or a queue's redelivery) changes
        // nothing: no write, and no write units on DynamoDB. Its decisions
        // (the "duplicate event" skip) are still returned.
        let unchanged = !out.changed
            && expected.is_some()
            && keys.is_empty()
            && absorbed.is_empty()
            && messages.is_empty()
            && out.wake == previous_wake;
        // Its timer is still reported (unmoved): a redelivery re-arms it, as
        // the first attempt may have died before arming it.
        let timers: Vec<Timer> = out
            .wake
            .map(|at| Timer {
                shop: state.profile.shop.clone(),
                profile: Some(state.profile.id.clone()),
                at,
                previous: previous_wake,
            })
            .into_iter()
            .collect();
        let profile = Some(state.profile.id.clone());
        if unchanged {
            // What the evaluation did to the state is dropped, as it would
            // be if the store kept its own copy: the state goes back as it
            // was loaded.
            debug_assert!(original.is_some(), "only a duplicate event is unchanged");
            self.store.release(original.unwrap_or(state)).await;
        } else {
            self.store
                .commit(Commit {
                    now,
                    state,
                    expected,
                    keys,
                    absorbed,
                    wake: out.wake,
                    messages: &messages,
                    decisions: &out.decisions,
                })
                .await?;
        }
        Ok(Applied {
            decisions: out.decisions,
            messages,
            profile,
            wake: out.wake,
            retries,
            timers,
        })
    }

    /// Store-level input; engine-made customer events (back in stock) are
    /// applied to their customers after the store's state is committed.
    async fn shop(
        &self,
        shop: &ShopId,
        event: Option<(&Event, Option<&ProfileId>)>,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let mut notify = Vec::new();
        let mut shop_wake = None;
        let mut done = false;
        for _ in 0..ATTEMPTS {
            let (mut state, expected) = match self.store.load_shop(shop).await? {
                Some((s, v)) => (s, Some(v)),
                None => (Default::default(), None),
            };
            let input = match event {
                Some((e, p)) => ShopInput::Event(e, p),
                None => ShopInput::Wake,
            };
            let o = self.engine.handle_shop(&mut state, input, now);
            match self.store.commit_shop(shop, &state, expected, o.wake).await {
                Ok(()) => {
                    notify = o.notify;
                    shop_wake = o.wake;
                    done = true;
                    break;
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if !done {
            return Err(StoreError::Conflict(format!(
                "shop {shop}: {ATTEMPTS} attempts"
            )));
        }
        let mut applied = Applied {
            timers: shop_wake
                .map(|at| Timer {
                    shop: shop.clone(),
                    profile: None,
                    at,
                    previous: None,
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        for (p, mut e) in notify {
            e.shop = shop.clone();
            if let Some(more) = self.existing(shop, &p, Input::Event(e), None, now).await? {
                applied.absorb(more);
            }
        }
        Ok(applied)
    }
}

/// A copy of the state as loaded, for an input that may leave it unchanged:
/// an event already applied (the engine reports a duplicate as no change).
/// Its commit is skipped, and a store that lent its only copy of the state
/// ([`Customers::release`]) must get it back as it was, not as the
/// evaluation left it (the engine's clock work on a duplicate is dropped).
/// Any other input is committed, so needs no copy.
fn as_loaded(state: &CustomerState, input: &Input) -> Option<CustomerState> {
    match input {
        Input::Event(e) if state.seen.contains_key(e.id.as_str()) => Some(state.clone()),
        _ => None,
    }
}

/// The identity keys a commit must write: the event's `keys` and the
/// profile's keys `after` the evaluation, less those known to point at
/// `into` already — an event key by what `find` said of it (`found`), any
/// other by the profile's keys `before`. So the common event writes none
/// (one conditional write of the state alone), while new keys, keys the
/// profile gained and an absorbed profile's keys are claimed.
fn to_claim(
    into: &ProfileId,
    keys: &[String],
    found: &[Option<ProfileId>],
    before: &[String],
    after: Vec<String>,
) -> Vec<String> {
    let points_here = |k: &String| match keys.iter().position(|e| e == k) {
        Some(i) => found.get(i).is_some_and(|f| f.as_ref() == Some(into)),
        None => before.contains(k),
    };
    let mut claim: Vec<String> = Vec::new();
    for k in keys.iter().cloned().chain(after) {
        if !points_here(&k) && !claim.contains(&k) {
            claim.push(k);
        }
    }
    claim
}

/// Every identity key of a profile: after a merge, the absorbed profile's
/// keys must point at the survivor too.
pub fn profile_keys(st: &CustomerState) -> Vec<String> {
    let p = &st.profile;
    keys_of(
        &p.shop,
        p.customer_id.as_deref(),
        p.email(),
        p.phone(),
        &p.anonymous_ids,
    )
}

fn keys_of(
    shop: &ShopId,
    customer_id: Option<&str>,
    email: Option<&Email>,
    phone: Option<&Phone>,
    anonymous_ids: &BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |id: Identity| {
        for k in identity::keys(shop, &id) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    };
    add(Identity {
        id: customer_id.map(str::to_string),
        email: email.map(|e| e.to_string()),
        phone: phone.map(|e| e.to_string()),
        anonymous_id: None,
    });
    for a in anonymous_ids {
        add(Identity {
            anonymous_id: Some(a.clone()),
            ..Default::default()
        });
    }
    out
}

/// What a profile's identity keys are made of, as it was before an
/// evaluation: the keys are made (formatted, the email and phone parsed
/// again) only when an evaluation changed one of these, which few do.
#[derive(Debug, PartialEq)]
struct Parts {
    shop: ShopId,
    customer_id: Option<String>,
    email: Option<Email>,
    phone: Option<Phone>,
    anonymous_ids: BTreeSet<String>,
}

impl Parts {
    fn of(p: &Profile) -> Parts {
        Parts {
            shop: p.shop.clone(),
            customer_id: p.customer_id.clone(),
            email: p.email().cloned(),
            phone: p.phone().cloned(),
            anonymous_ids: p.anonymous_ids.clone(),
        }
    }

    /// Whether `p` has the same identity keys (the same parts).
    fn same(&self, p: &Profile) -> bool {
        self.shop == p.shop
            && self.customer_id == p.customer_id
            && self.email.as_ref() == p.email()
            && self.phone.as_ref() == p.phone()
            && self.anonymous_ids == p.anonymous_ids
    }

    /// The keys [`profile_keys`] gave for the profile then.
    fn keys(&self) -> Vec<String> {
        keys_of(
            &self.shop,
            self.customer_id.as_deref(),
            self.email.as_ref(),
            self.phone.as_ref(),
            &self.anonymous_ids,
        )
    }
}
