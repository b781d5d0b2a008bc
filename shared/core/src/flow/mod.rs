//! Flow definitions: what starts a run, who may enter, what ends it, and
//! the steps it takes.
//!
//! Steps are a list; each runs after the one before unless it names
//! another (`next`, or the targets of `branch`, `split`, `wait_for`).
//! A flow file carries a `version`; a run stays on the version it started
//! on, so older versions are kept (in `flows/`) while runs are live on them.

use crate::model::duration::Dur;
use crate::model::event::Channel;
use crate::model::localtime::{Day, LocalTime};
use crate::segment::condition::{Condition, PropertyMatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // definitions are few and long-lived
pub enum Action {
    Wait(WaitSpec),
    WaitFor(WaitFor),
    Branch(Branch),
    Split(Split),
    Send(SendSpec),
    UpdateProfile(UpdateProfile),
    Webhook(WebhookSpec),
    Alert(AlertSpec),
    Exit,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Wait(_) => "wait",
            Action::WaitFor(_) => "wait_for",
            Action::Branch(_) => "branch",
            Action::Split(_) => "split",
            Action::Send(_) => "send",
            Action::UpdateProfile(_) => "update_profile",
            Action::Webhook(_) => "webhook",
            Action::Alert(_) => "alert",
            Action::Exit => "exit",
        }
    }
}

/// Where a wait ends. Without fields it ends at once. The base instant is,
/// in order of precedence: `until` (a local date-time), `date` (a date
/// property ± offset), `after_start` (from the run's start), `for` (from
/// the end of the previous step); `at` and `weekdays` then move it to the
/// first such local time at or after the base.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    #[serde(default, rename = "for")]
    pub duration: Option<Dur>,
    #[serde(default)]
    pub after_start: Option<Dur>,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub offset: Option<Dur>,
    #[serde(default)]
    pub at: Option<LocalTime>,
    #[serde(default)]
    pub weekdays: Vec<Day>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    pub event: String,
    #[serde(default, rename = "where")]
    pub filter: Vec<PropertyMatch>,
    #[serde(default)]
    pub same: Vec<String>,
    pub timeout: Dur,
    /// Where to go when the event comes (default: the next step).
    #[serde(default)]
    pub on_event: Option<String>,
    /// Where to go when it does not come in time (default: the next step).
    #[serde(default)]
    pub on_timeout: Option<String>,
}

/// An event test borrowed from a goal or a `wait_for` step.
#[derive(Clone, Copy)]
pub struct MatchRef<'a> {
    pub event: &'a str,
    pub filter: &'a [PropertyMatch],
    pub same: &'a [String],
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

impl WaitFor {
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
pub struct Branch {
    #[serde(rename = "if")]
    pub condition: Condition,
    #[serde(default)]
    pub then: Option<String>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Percent of entrants held out (they get nothing from here on, and
    /// measure the flow's real lift).
    #[serde(default)]
    pub holdout: u32,
    #[serde(default)]
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub weight: u32,
    #[serde(rename = "goto")]
    pub target: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendSpec {
    pub channel: Channel,
    pub template: std::sync::Arc<str>,
    /// Transactional messages skip marketing caps and windows, never
    /// consent or suppression.
    #[serde(default)]
    pub transactional: bool,
    /// How long the message may be deferred before it is skipped.
    #[serde(default)]
    pub expires_after: Option<Dur>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    #[serde(default)]
    pub set: serde_json::Map<String, Value>,
    #[serde(default)]
    pub add_points: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    /// A template whose `body` is posted; without it, the profile and the
    /// trigger event as JSON.
    #[serde(default)]
    pub template: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    pub template: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<String>,
    next: Option<String>,
    wait: Option<Value>,
    wait_for: Option<WaitFor>,
    branch: Option<Branch>,
    split: Option<Split>,
    send: Option<SendSpec>,
    update_profile: Option<UpdateProfile>,
    webhook: Option<WebhookSpec>,
    alert: Option<AlertSpec>,
    exit: Option<Value>,
}

impl TryFrom<RawStep> for Step {
    type Error = String;
    fn try_from(r: RawStep) -> Result<Self, String> {
        let given: Vec<&str> = [
            ("wait", r.wait.is_some()),
            ("wait_for", r.wait_for.is_some()),
            ("branch", r.branch.is_some()),
            ("split", r.split.is_some()),
            ("send", r.send.is_some()),
            ("update_profile", r.update_profile.is_some()),
            ("webhook", r.webhook.is_some()),
            ("alert", r.alert.is_some()),
            ("exit", r.exit.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect();
        const ONE_OF: &str =
            "wait, wait_for, branch, split, send, update_profile, webhook, alert, exit";
        if given.len() != 1 {
            return Err(if given.is_empty() {
                format!("a step needs one of: {ONE_OF}")
            } else {
                format!("a step does one thing; found {}", given.join(" and "))
            });
        }
        let action = match given[0] {
            "wait" => Action::Wait(match r.wait.unwrap() {
                Value::String(s) => WaitSpec {
                    duration: Some(Dur::parse(&s)?),
                    ..Default::default()
                },
                v @ Value::Object(_) => {
                    serde_json::from_value(v).map_err(|e| format!("wait: {e}"))?
                }
                other => return Err(format!("wait takes a duration (2h) or a map, not {other}")),
            }),
            "wait_for" => Action::WaitFor(r.wait_for.unwrap()),
            "branch" => Action::Branch(r.branch.unwrap()),
            "split" => Action::Split(r.split.unwrap()),
            "send" => Action::Send(r.send.unwrap()),
            "update_profile" => Action::UpdateProfile(r.update_profile.unwrap()),
            "webhook" => Action::Webhook(r.webhook.unwrap()),
            "alert" => Action::Alert(r.alert.unwrap()),
            _ => Action::Exit,
        };
        Ok(Step {
            id: r.id.unwrap_or_default().into(),
            next: r.next,
            action,
        })
    }
}

/// Targets a step may name besides step ids.
pub const EXIT: &str = "exit";
