//! Everything the engine keeps about one customer: one record, so one
//! customer's updates never race when the record is written with a version
//! check (the design's "partition per profile").

use crate::customer::history::History;
use crate::customer::profile::Profile;
use crate::model::event::Event;
use crate::model::ids::{ProfileId, ShopId};
use crate::policy::Contact;
use crate::segment::Memberships;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerState {
    pub profile: Profile,
    #[serde(default)]
    pub history: History,
    #[serde(default)]
    pub segments: Memberships,
    #[serde(default)]
    pub runs: Vec<Run>,
    /// Per flow: how often and when last entered (entry rules).
    #[serde(default)]
    pub entries: crate::customer::flow_entries::FlowEntries,
    /// Runs started and messages sent, by id, with when: a replayed input
    /// starts nothing and sends nothing twice. Entries are kept for the
    /// de-duplication window (past it, a trigger is too old to start a run).
    #[serde(default)]
    pub ledger: crate::customer::ledger::Ledger,
    /// The oldest ledger entry: the ledger is pruned once that one expires.
    #[serde(default)]
    pub ledger_oldest: Option<Timestamp>,
    /// Per date-triggered flow: the last occurrence already handled.
    #[serde(default)]
    pub date_cursors: BTreeMap<String, Timestamp>,
    /// Messages sent, as the contact policy counts them.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Event ids applied recently, for de-duplication.
    #[serde(default)]
    pub seen: crate::customer::seen_ids::SeenIds,
    /// The oldest entry of `seen`: it is pruned only once that one expires.
    #[serde(default)]
    pub seen_oldest: Option<Timestamp>,
    /// Replenishment reminders by product.
    #[serde(default)]
    pub reminders: BTreeMap<String, Reminder>,
    /// What results are decided from as they happen: recent messages,
    /// touches, split arms and credited orders.
    #[serde(
        default,
        skip_serializing_if = "crate::customer::results::Results::is_empty"
    )]
    pub results: crate::customer::results::Results,
    /// The one instant this customer next needs the engine with no new event.
    #[serde(default)]
    pub wake: Option<Timestamp>,
    /// Bumped on every change: storage writes are conditional on it.
    #[serde(default)]
    pub version: u64,
}

impl CustomerState {
    pub fn new(id: ProfileId, shop: ShopId, now: Timestamp) -> Self {
        CustomerState {
            profile: Profile::new(id, shop, now),
            history: History::default(),
            segments: Memberships::default(),
            runs: Vec::new(),
            entries: Default::default(),
            ledger: Default::default(),
            ledger_oldest: None,
            date_cursors: BTreeMap::new(),
            contacts: Vec::new(),
            seen: Default::default(),
            seen_oldest: None,
            reminders: BTreeMap::new(),
            results: Default::default(),
            wake: None,
            version: 0,
        }
    }
}

pub use crate::customer::flow_entries::EntryRecord;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    pub due: Timestamp,
    pub order_id: String,
    pub ordered_at: Timestamp,
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
}

/// A customer's journey through one flow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: std::sync::Arc<str>,
    pub flow: std::sync::Arc<str>,
    pub version: u32,
    /// The trigger key (e.g. a checkout id); empty for one run per customer.
    pub key: String,
    /// The event that started the run, for templates and `same` matches.
    #[serde(default)]
    pub trigger: Option<std::sync::Arc<Event>>,
    pub started_at: Timestamp,
    /// Logical time of the run: when the previous step finished. Waits
    /// count from here, not from when a timer happened to fire.
    pub cursor: Timestamp,
    pub step: usize,
    pub wait: Wait,
    /// The split arm the run entered (a holdout or a variant), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<std::sync::Arc<str>>,
    /// Whether the run has sent the customer a message yet (its first
    /// makes the customer one of the flow's recipients).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub messaged: bool,
    /// Intent ladder level index, if the flow takes part.
    #[serde(default)]
    pub intent: Option<usize>,
    pub rank: usize,
    /// The flow definition, looked up once per load (not stored).
    #[serde(skip)]
    pub def: FlowRef,
    /// [`crate::model::links::hash64`] of `id`, the start of its message keys
    /// (see [`Run::message_key`]); derived, made on first use.
    #[serde(skip)]
    pub(crate) id_hash: IdHash,
}

/// A run id's [`crate::model::links::hash64`], once known (0: not yet). A deferred
/// send step is tried again at every instant its customer's caps allow, and
/// each try looks its message key up in the ledger: kept, the key costs
/// neither a read of the id's text (cold by then) nor hashing it again.
#[derive(Clone, Copy, Default)]
pub struct IdHash(u64);

/// Derived from the id: never makes two runs differ.
impl PartialEq for IdHash {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for IdHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdHash")
    }
}

/// A run's cached flow definition. Never compared or stored: it is the
/// configured definition of the run's (flow, version).
#[derive(Clone, Default)]
pub struct FlowRef(pub Option<std::sync::Arc<crate::flow::FlowDef>>);

impl PartialEq for FlowRef {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for FlowRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "FlowRef(cached)"
        } else {
            "FlowRef(none)"
        })
    }
}

impl Run {
    /// The ledger key of the message this run sends at `step`:
    /// `hash64([run id, step id])`, as it always was.
    pub(crate) fn message_key(&mut self, step: &str) -> u64 {
        if self.id_hash.0 == 0 {
            self.id_hash.0 = crate::model::links::hash64(&[&self.id]);
        }
        crate::model::links::hash64_after(self.id_hash.0, &[step])
    }

    /// The run's flow definition (cached after the first lookup).
    pub fn flow_def(
        &mut self,
        cfg: &crate::config::Config,
    ) -> Option<std::sync::Arc<crate::flow::FlowDef>> {
        self.resolve_def(cfg);
        self.def.0.clone()
    }

    /// Looks the flow definition up into `def` (once); whether it is
    /// configured. Then `def` can be borrowed instead of cloned.
    #[inline]
    pub(crate) fn resolve_def(&mut self, cfg: &crate::config::Config) -> bool {
        if self.def.0.is_none() {
            self.lookup_def(cfg);
        }
        self.def.0.is_some()
    }

    #[cold]
    fn lookup_def(&mut self, cfg: &crate::config::Config) {
        self.def.0 = cfg.flow(&self.flow, self.version).cloned();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "until")]
pub enum Wait {
    /// The current step is to be executed.
    Ready,
    /// A wait step ends at this instant.
    Until(Timestamp),
    /// A wait_for step times out at this instant.
    ForEvent(Timestamp),
    /// A send step was deferred by the contact policy to this instant.
    Deferred(Timestamp),
}

impl Wait {
    pub fn due(&self, now: Timestamp) -> bool {
        match self {
            Wait::Ready => true,
            Wait::Until(t) | Wait::ForEvent(t) | Wait::Deferred(t) => *t <= now,
        }
    }
    pub fn instant(&self) -> Option<Timestamp> {
        match self {
            Wait::Ready => None,
            Wait::Until(t) | Wait::ForEvent(t) | Wait::Deferred(t) => Some(*t),
        }
    }
}

impl CustomerState {
    /// Starts loading what every event reads of this state (see
    /// `speed::prefetch`): the flow entry records, the history's newest
    /// events, the runs and the contact log.
    pub(crate) fn prefetch(&self) {
        self.entries.prefetch();
        self.history.prefetch();
        crate::speed::prefetch::head(&self.runs, 4);
        crate::speed::prefetch::head(&self.contacts, 2);
    }

    /// Whether a run or message id is in the ledger: a message is in the
    /// committed state of the evaluation that made it (the AWS send function
    /// checks this before sending a message handed over ahead of its commit).
    pub fn in_ledger(&self, id: &str) -> bool {
        self.ledger
            .contains_key(&crate::customer::ledger::key_of(id))
    }

    /// Puts an id in the ledger at `at`, as the engine does when it starts a
    /// run or makes a message.
    pub fn note_in_ledger(&mut self, id: &str, at: Timestamp) {
        self.note_ledger(id, at);
    }

    /// Puts a run or message id in the ledger; whether it was new.
    pub(crate) fn note_ledger(&mut self, id: &str, now: Timestamp) -> bool {
        self.note_ledger_key(crate::customer::ledger::key_of(id), now)
    }

    /// [`CustomerState::note_ledger`] with the id's key already made.
    pub(crate) fn note_ledger_key(&mut self, key: u64, now: Timestamp) -> bool {
        self.ledger_oldest = Some(self.ledger_oldest.map_or(now, |t| t.min(now)));
        self.ledger.insert(key, now).is_none()
    }
}

impl CustomerState {
    /// Takes in another state of the same person (see `identity`). The
    /// caller evaluates segments afresh afterwards (the engine does so on
    /// the next input, as memberships are cleared here).
    pub fn absorb(&mut self, other: CustomerState, settings: &crate::config::settings::Settings) {
        self.profile.absorb(other.profile, settings);
        self.history.absorb(other.history);
        for r in other.runs {
            if !self.runs.iter().any(|x| x.flow == r.flow && x.key == r.key) {
                self.runs.push(r);
            }
        }
        for (k, e) in other.entries.iter() {
            let k: std::sync::Arc<str> = std::sync::Arc::from(k);
            let mine = self
                .entries
                .record_mut(&k, crate::flow::id_hash(&k), e.last);
            mine.count += e.count;
            mine.last = mine.last.max(e.last);
        }
        self.ledger.extend(other.ledger);
        self.ledger_oldest = self.ledger.values().min().copied();
        for (k, t) in other.date_cursors {
            self.date_cursors.entry(k).or_insert(t);
        }
        self.contacts.extend(other.contacts);
        self.contacts.sort_by_key(|c| c.at);
        self.seen.extend(other.seen);
        self.seen_oldest = self.seen.values().min().copied();
        for (k, r) in other.reminders {
            let keep = self
                .reminders
                .get(&k)
                .map(|m| m.ordered_at < r.ordered_at)
                .unwrap_or(true);
            if keep {
                self.reminders.insert(k, r);
            }
        }
        self.results.absorb(other.results);
        // Every membership is evaluated again on the next input.
        self.segments = Default::default();
        self.version += 1;
    }
}
