//! Flow step types. Each lives in one file: its shape in a flow file, its
//! checks, what it reads of a customer's history, and how it runs. This
//! module lists them once ([`step_types!`] below) and defines the seams they
//! use, so that no step depends on the engine or on the configuration:
//!
//! - [`Checks`]: what `storeflow check` offers a step (errors at a field,
//!   step targets, conditions, templates, profile properties);
//! - [`Reads`]: where a step declares the conditions and events it reads,
//!   from which the history's retention and kept properties are built;
//! - [`Host`]: what the engine offers a running step (the clock, the run,
//!   the customer, the policy, rendering, decisions); the step answers with
//!   [`Next`].
//!
//! Every step type implements [`StepKind`], whose methods have no defaults
//! where forgetting one would be silent: a step that reads the history
//! cannot compile without saying what it reads.

use crate::customer::profile::Profile;
use crate::model::decision::{Decision, Kind};
use crate::model::event::Channel;
use crate::model::reason::Reason;
use crate::policy::Verdict;
use crate::segment::condition::{Condition, PropertyMatch};
use crate::template::Rendered;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The step types: the key that names each in a flow file, its variant of
/// [`Action`], and its file and type. A new step is a file here and a line
/// in this table.
macro_rules! step_types {
    ($($key:literal => $variant:ident($module:ident::$ty:ident),)+) => {
        $(pub mod $module;)+

        /// What a step does.
        #[derive(Debug, Clone, Serialize)]
        #[allow(clippy::large_enum_variant)] // definitions are few and long-lived
        pub enum Action {
            $($variant($module::$ty),)+
        }

        /// Every step key, in the order errors list them.
        pub const KEYS: &[&str] = &[$($key),+];

        impl Action {
            /// The key naming this step type in a flow file.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => $key,)+
                }
            }

            /// Checks the step's own fields (see [`StepKind::check`]).
            pub fn check(&self, c: &mut dyn Checks) {
                match self {
                    $(Action::$variant(s) => s.check(c),)+
                }
            }

            /// Declares what the step reads (see [`StepKind::reads`]).
            pub fn reads<'a>(&'a self, r: &mut Reads<'a>) {
                match self {
                    $(Action::$variant(s) => s.reads(r),)+
                }
            }

            /// Runs the step (see [`StepKind::run`]).
            #[inline]
            pub fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
                match self {
                    $(Action::$variant(s) => s.run(h),)+
                }
            }

            /// The event a run waiting at this step listens for.
            #[inline]
            pub fn awaits(&self) -> Option<Await<'_>> {
                match self {
                    $(Action::$variant(s) => s.awaits(),)+
                }
            }
        }

        /// A step as written: one key of [`KEYS`] besides `id` and `next`.
        #[doc(hidden)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawStep {
            pub id: Option<String>,
            pub next: Option<String>,
            $(#[serde(default)] $module: Option<$module::$ty>,)+
        }

        impl RawStep {
            /// The one action the step names, or why it names none or several.
            pub fn action(self) -> Result<Action, String> {
                let mut given: Vec<(&'static str, Action)> = Vec::new();
                $(if let Some(s) = self.$module {
                    given.push(($key, Action::$variant(s)));
                })+
                if given.len() != 1 {
                    return Err(if given.is_empty() {
                        format!("a step needs one of: {}", KEYS.join(", "))
                    } else {
                        let keys: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
                        format!("a step does one thing; found {}", keys.join(" and "))
                    });
                }
                Ok(given.pop().expect("one").1)
            }
        }
    };
}

step_types! {
    "wait" => Wait(wait::WaitSpec),
    "wait_for" => WaitFor(wait_for::WaitFor),
    "branch" => Branch(branch::Branch),
    "split" => Split(split::Split),
    "send" => Send(send::SendSpec),
    "update_profile" => UpdateProfile(update_profile::UpdateProfile),
    "webhook" => Webhook(webhook::WebhookSpec),
    "alert" => Alert(alert::AlertSpec),
    "exit" => Exit(exit::ExitSpec),
}

/// One step type.
pub trait StepKind {
    /// Checks the step's fields; paths given to [`Checks`] are relative to
    /// the step's key (`timeout` for `steps[2].wait_for.timeout`).
    fn check(&self, c: &mut dyn Checks);
    /// Declares every condition the step evaluates and every event it
    /// looks for in the history.
    fn reads<'a>(&'a self, r: &mut Reads<'a>);
    /// Runs the step once for the run the host is about.
    fn run<H: Host>(&self, h: &mut H) -> Next<'_>;
    /// For a step that waits for an event: which, and where a run goes
    /// when it comes or does not.
    fn awaits(&self) -> Option<Await<'_>> {
        None
    }
}

/// An event test borrowed from a goal or a `wait_for` step.
#[derive(Clone, Copy)]
pub struct MatchRef<'a> {
    pub event: &'a str,
    pub filter: &'a [PropertyMatch],
    pub same: &'a [String],
}

/// What a run waiting at a step listens for.
#[derive(Clone, Copy)]
pub struct Await<'a> {
    pub event: MatchRef<'a>,
    pub on_event: Option<&'a str>,
    pub on_timeout: Option<&'a str>,
}

/// How far back the history keeps, at the least, the events that flows
/// look for (goals, `wait_for`).
pub const LOOKBACK_DAYS: i64 = 35;

/// What a step reads: the conditions it evaluates and the events it looks
/// for in the history, each with how far back.
#[derive(Default)]
pub struct Reads<'a> {
    pub conditions: Vec<&'a Condition>,
    pub events: Vec<(MatchRef<'a>, SignedDuration)>,
}

impl<'a> Reads<'a> {
    pub fn condition(&mut self, c: &'a Condition) {
        self.conditions.push(c);
    }

    /// An event looked for in the history, up to `back` before the run's
    /// cursor.
    pub fn event(&mut self, m: MatchRef<'a>, back: SignedDuration) {
        self.events.push((m, back));
    }
}

/// How a template is used, for [`Checks::template`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateUse {
    /// Sent to the customer on this channel.
    Message(Channel),
    /// A merchant alert or a webhook body.
    Only(Channel),
}

/// What checking a flow offers a step. Paths are relative to the step's
/// key; the checker prefixes `steps[i].<key>.`.
pub trait Checks {
    fn err(&mut self, path: &str, msg: String);
    /// A step id this step may go to (checked once all steps are known).
    fn target(&mut self, path: &str, target: &str);
    /// A condition: profile properties, tiers, segments.
    fn condition(&mut self, path: &str, c: &Condition);
    /// A template: it exists, fits the use, and renders for this flow.
    fn template(&mut self, path: &str, id: &str, used: TemplateUse);
    /// Whether the flow starts on an event (`same` compares with it).
    fn has_trigger_event(&self) -> bool;
    /// Whether a profile property is standard or declared.
    fn known_property(&self, path: &str) -> bool;
    /// Whether a profile property holds a date (`birthday` or declared).
    fn date_property(&self, name: &str) -> bool;
}

/// What the engine offers a running step: the clock, the run it steps, the
/// customer, and the means to decide, render and record.
pub trait Host {
    fn now(&self) -> Timestamp;
    fn tz(&self) -> &TimeZone;

    // The run.
    /// When the previous step finished (waits count from here).
    fn cursor(&self) -> Timestamp;
    fn started_at(&self) -> Timestamp;
    fn run_id(&self) -> &str;
    fn step_id(&self) -> &Arc<str>;
    /// The instant this step was deferred to, if it was.
    fn deferred_until(&self) -> Option<Timestamp>;
    fn flow_id(&self) -> &Arc<str>;
    fn flow_version(&self) -> u32;
    /// The priority class of the flow's messages.
    fn flow_priority(&self) -> &str;

    // The customer.
    fn profile(&self) -> &Profile;
    fn profile_mut(&mut self) -> &mut Profile;
    /// Notes that the profile changed (segments are brought up to date).
    fn profile_changed(&mut self);
    fn eval(&mut self, c: &Condition) -> bool;
    /// The first event in the history since `since` (and not after now)
    /// that `m` matches, compared with the run's trigger for `same`.
    fn event_since(&self, m: MatchRef<'_>, since: Timestamp) -> Option<Timestamp>;
    /// The profile and the trigger event as JSON (a webhook's default body).
    fn profile_and_trigger_json(&self) -> serde_json::Value;

    // Messages.
    /// The ledger key of the message this step sends.
    fn message_key(&mut self) -> u64;
    fn sent(&self, key: u64) -> bool;
    /// Records a message id in the ledger; false if it was there already.
    fn note_sent(&mut self, id: &str) -> bool;
    /// The policy's verdict on a message now.
    fn decide(&self, channel: Channel, marketing: bool, expires_at: Timestamp) -> Verdict;
    /// Records a marketing or transactional contact (caps count them).
    fn note_contact(&mut self, channel: Channel, marketing: bool);
    /// Renders a template for the customer, with the unsubscribe URL.
    fn render(&self, template: &str, channel: Channel) -> Result<(Rendered, String), String>;
    /// Makes a customer message's links signed redirects (and adds an
    /// email's open pixel) as the store and the template allow.
    fn track(&self, content: &mut Rendered, template: &str, channel: Channel, message: &str);
    fn settings(&self) -> &crate::config::settings::Settings;

    // Decisions.
    /// A decision about this run at this step.
    fn decision(&self, kind: Kind) -> Decision;
    /// Records a decision. A message decision is remembered for results
    /// (and tagged with the run's arm).
    fn push(&mut self, d: Decision);
    /// The run enters a split's arm (`holdout` or a variant's target):
    /// its messages carry the arm from here on, and orders within the
    /// conversion window count toward it.
    fn enter_arm(&mut self, arm: &str);
}

/// What a run does after a step.
#[derive(Debug, PartialEq)]
pub enum Next<'a> {
    /// Goes on to `to` (a step id or `exit`; without it, the step's `next`
    /// or the step after), the cursor moved to at least `at`.
    Go {
        to: Option<&'a str>,
        at: Option<Timestamp>,
    },
    /// Waits until an instant, then goes on.
    Sleep(Timestamp),
    /// Waits for the step's event until a deadline.
    Listen(Timestamp),
    /// Deferred by the policy: the step is tried again then.
    Defer(Timestamp),
    /// The run ends.
    End(Reason),
}

impl<'a> Next<'a> {
    /// Goes on to the next step.
    pub fn on() -> Self {
        Next::Go { to: None, at: None }
    }

    pub fn to(target: Option<&'a str>) -> Self {
        Next::Go {
            to: target,
            at: None,
        }
    }
}

/// A stable number in 0..100 for a run and step (splits and holdouts must
/// give the same answer on every replay).
pub fn bucket(run: &str, step: &str, salt: &str) -> u64 {
    let h = crate::model::links::short_hash(&[run, step, salt]);
    u64::from_str_radix(&h[..8], 16).unwrap_or(0) % 100
}

/// The decision of a webhook or alert step: the message as rendered, or
/// skipped with the template's error.
fn outbound<H: Host>(
    h: &mut H,
    msg_id: String,
    channel: crate::model::channel::Channel,
    to: String,
    template: String,
    content: Result<Rendered, String>,
) {
    use crate::model::decision::{Message, SendDetails};
    match content {
        Ok(content) => {
            let mut d = h.decision(Kind::Message);
            d.send = Some(Box::new(SendDetails {
                channel: Some(channel),
                template: (!template.is_empty()).then(|| Arc::from(template.as_str())),
                subject: content.subject.clone(),
                to: Some(to.clone()),
                ..Default::default()
            }));
            d.reason = Some(format!("{} step", channel.as_str()).into());
            d.message = Some(Box::new(Message {
                id: msg_id,
                channel,
                to,
                template,
                marketing: false,
                priority: "transactional".into(),
                content,
                unsubscribe_url: None,
                from: h.settings().store.from_email.clone(),
                flow: h.flow_id().to_string(),
                version: h.flow_version(),
                step: h.step_id().to_string(),
                variant: None,
            }));
            h.push(d);
        }
        Err(e) => {
            let mut d = h.decision(Kind::Skipped);
            d.send_mut().channel = Some(channel);
            d.reason = Some(format!("template error: {e}").into());
            h.push(d);
        }
    }
}
