//! Flow definitions: what starts a run, who may enter, what ends it, and
//! the steps it takes.
//!
//! Steps are a list; each runs after the one before unless it names
//! another (`next`, or the targets of `branch`, `split`, `wait_for`).
//! A flow file carries a `version`; a run stays on the version it started
//! on, so older versions are kept (in `flows/`) while runs are live on them.

pub mod steps;

use crate::model::duration::Dur;
use crate::model::localtime::LocalTime;
use crate::segment::condition::{Condition, PropertyMatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use steps::RawStep;
pub use steps::{Action, MatchRef};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDef {
    pub id: std::sync::Arc<str>,
    pub version: u32,
    #[serde(default)]
    pub name: Option<String>,
    /// Priority class (from the policy's list) of this flow's messages.
    pub priority: String,
    /// Level on the intent ladder, if this flow takes part in it.
    #[serde(default)]
    pub intent: Option<String>,
    pub trigger: Trigger,
    #[serde(default)]
    pub entry: Entry,
    /// Checked at entry and before every step; a run whose customer no
    /// longer matches ends.
    #[serde(default)]
    pub filter: Option<Condition>,
    /// Events that end a run as a conversion.
    #[serde(default)]
    pub goals: Vec<EventMatch>,
    pub steps: Vec<Step>,
    /// Set to false to stop new entries while live runs finish.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// [`id_hash`] of `id`, computed on first use.
    #[serde(skip)]
    id_hash: std::sync::OnceLock<u64>,
    /// The reason of an entry skipped by `once_per`, made on first use: most
    /// events a browse flow is offered are skipped so.
    #[serde(skip)]
    once_per_reason: std::sync::OnceLock<crate::model::reason::Reason>,
}

impl FlowDef {
    /// [`id_hash`] of this flow's id.
    pub fn id_hash(&self) -> u64 {
        *self.id_hash.get_or_init(|| id_hash(&self.id))
    }

    /// "entry rule once_per <d>", shared by every decision that gives it.
    pub(crate) fn once_per_reason(&self, d: Dur) -> crate::model::reason::Reason {
        self.once_per_reason
            .get_or_init(|| {
                crate::model::reason::Reason::shared(vec!["entry rule once_per ".into(), d.into()])
            })
            .clone()
    }
}

/// A 64-bit hash of a flow id (FNV-1a): flows whose hashes differ are
/// different flows, so most comparisons of ids need no string compare.
pub fn id_hash(id: &str) -> u64 {
    let mut h = crate::model::links::Fnv::default();
    std::hash::Hasher::write(&mut h, id.as_bytes());
    std::hash::Hasher::finish(&h)
}

fn yes() -> bool {
    true
}

/// An event, tested against its properties and, with `same`, against the
/// properties of the event that started the run (an order for *this*
/// checkout).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    pub event: String,
    #[serde(default, rename = "where")]
    pub filter: Vec<PropertyMatch>,
    /// Properties that must equal the trigger event's property of the same name.
    #[serde(default)]
    pub same: Vec<String>,
}

impl EventMatch {
    pub fn view(&self) -> MatchRef<'_> {
        MatchRef {
            event: &self.event,
            filter: &self.filter,
            same: &self.same,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default, rename = "where")]
    pub filter: Vec<PropertyMatch>,
    #[serde(default)]
    pub segment_enter: Option<String>,
    #[serde(default)]
    pub segment_exit: Option<String>,
    /// A date property of the profile (`birthday`): runs start on that day
    /// every year, at `at` local time, shifted by `offset`.
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub offset: Option<Dur>,
    #[serde(default)]
    pub at: Option<LocalTime>,
    /// A scheduled campaign to the members of a segment.
    #[serde(default)]
    pub campaign: Option<Campaign>,
    /// At most one live run per value of this property of the trigger
    /// event (e.g. `checkout_id`); without it, one live run per customer.
    #[serde(default)]
    pub key: Option<String>,
    /// Events older than this when they arrive start no run (a replayed
    /// export must not send last month's abandoned-cart emails).
    #[serde(default)]
    pub max_age: Option<Dur>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub segment: String,
    /// When members are enrolled: a local date-time in the store's zone.
    pub start: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Event,
    SegmentEnter,
    SegmentExit,
    Date,
    Campaign,
}

impl Trigger {
    pub fn kinds(&self) -> Vec<TriggerKind> {
        let mut v = Vec::new();
        if self.event.is_some() {
            v.push(TriggerKind::Event)
        }
        if self.segment_enter.is_some() {
            v.push(TriggerKind::SegmentEnter)
        }
        if self.segment_exit.is_some() {
            v.push(TriggerKind::SegmentExit)
        }
        if self.date.is_some() {
            v.push(TriggerKind::Date)
        }
        if self.campaign.is_some() {
            v.push(TriggerKind::Campaign)
        }
        v
    }
}

/// `every_time` (default), `once_ever`, or `{ once_per: 7d }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "Value")]
pub enum Entry {
    #[default]
    EveryTime,
    OnceEver,
    OncePer(Dur),
}

impl TryFrom<Value> for Entry {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        const HELP: &str = "entry is every_time, once_ever, or { once_per: <duration> }";
        match &v {
            Value::String(s) if s == "every_time" => Ok(Entry::EveryTime),
            Value::String(s) if s == "once_ever" => Ok(Entry::OnceEver),
            Value::Object(m) if m.len() == 1 => match m.get("once_per") {
                Some(Value::String(d)) => {
                    let d = Dur::parse(d)?;
                    if d.is_negative() || d == Dur::ZERO {
                        return Err("once_per must be a positive duration".into());
                    }
                    Ok(Entry::OncePer(d))
                }
                _ => Err(HELP.into()),
            },
            _ => Err(format!("{HELP}; found {v}")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    pub id: std::sync::Arc<str>,
    /// The step to go to after this one (default: the next in the list).
    pub next: Option<String>,
    pub action: Action,
}

impl TryFrom<RawStep> for Step {
    type Error = String;
    fn try_from(r: RawStep) -> Result<Self, String> {
        let (id, next) = (r.id.clone(), r.next.clone());
        Ok(Step {
            id: id.unwrap_or_default().into(),
            next,
            action: r.action()?,
        })
    }
}

/// Targets a step may name besides step ids.
pub const EXIT: &str = "exit";
